from app.domain import normalise as n
from app.domain.records import Kind

P, T, M = Kind.PERSON, Kind.TASK, Kind.MEETING


def test_strings_trimmed_whitespace_collapsed_empty_is_absent():
    assert n.content_hash(P, {"job_title": "  Head   of  Sales "}) == n.content_hash(P, {"job_title": "Head of Sales"})
    assert n.content_hash(P, {"job_title": ""}) == n.content_hash(P, {})


def test_email_lower_cased():
    assert n.content_hash(P, {"email1": "Ann@Example.COM "}) == n.content_hash(P, {"email1": "ann@example.com"})


def test_phone_digits_with_optional_plus():
    assert n.comparable("mobile_phone", "+44 (0)7700 900-123") == "+4407700900123"
    assert n.same_value("business_phone", "01234 567", "01234-567")


def test_html_reduced_to_text_and_managed_block_excluded():
    body = f"<p>Hello&nbsp;there</p>\n{n.MANAGED_BEGIN}\nCASE-1 Thing\n{n.MANAGED_END}"
    assert n.comparable("notes", body) == n.comparable("notes", "Hello\u00a0there")


def test_instants_utc_to_the_minute():
    assert n.comparable("start", "2026-03-29T10:00:30+01:00") == "2026-03-29T09:00Z"
    assert n.content_hash(M, {"start": "2026-03-29T09:00Z"}) == n.content_hash(M, {"start": "2026-03-29T10:00+01:00"})


def test_dates_as_dates():
    assert n.comparable("due_date", "2026-03-10T00:00:00") == "2026-03-10"


def test_meta_fields_not_hashed():
    assert n.content_hash(M, {"subject": "x", "timezone": "Europe/London"}) == n.content_hash(M, {"subject": "x"})


def test_hash_includes_mapping_version(monkeypatch):
    h1 = n.content_hash(P, {"first_name": "A"})
    monkeypatch.setattr(n, "MAPPING_VERSION", n.MAPPING_VERSION + 1)
    assert n.content_hash(P, {"first_name": "A"}) != h1


def test_hash_is_sha256_hex_and_kind_specific():
    h = n.content_hash(T, {"subject": "x"})
    assert len(h) == 64 and h != n.content_hash(M, {"subject": "x"})


def test_canonical_has_every_field_and_keeps_line_breaks():
    c = n.canonical(P, {"notes": " line1\nline2 "})
    assert c["notes"] == "line1\nline2" and c["first_name"] is None and len(c) >= 27


# --- the fast paths against the plain definitions they inline ------------------------------------

import hashlib  # noqa: E402
import json  # noqa: E402
from datetime import date, datetime, timezone  # noqa: E402

from hypothesis import given, settings, strategies as st  # noqa: E402

from app.domain.fields import META_FIELDS, content_fields  # noqa: E402

# whitespace of every sort, case, accents, markup, quotes and escapes: what the fast paths must treat
# exactly like `clean_value` / `comparable`
_TEXT = st.text(alphabet=st.sampled_from(list(" \t\n\r\u00a0\u2003\u3000aBçÉ\u0130ß<>/p&;\"\\\x00\x1f+-:0129TZ@.")),
                max_size=12)
_VALUE = st.one_of(st.none(), _TEXT, st.booleans(), st.integers(-3, 10**12),
                   st.sampled_from([date(2026, 3, 1), datetime(2026, 3, 1, 9, 30, tzinfo=timezone.utc), 1.5]))


def _records(kind):
    names = content_fields(kind) + META_FIELDS[kind] + ("unknown",)
    return st.dictionaries(st.sampled_from(names), _VALUE, max_size=len(names))


def _reference_hash(kind, fields):
    """content_hash as first defined: journals store hashes made this way."""
    comparable = {f: n.comparable(f, fields.get(f)) for f in content_fields(kind)}
    data = json.dumps({"v": n.MAPPING_VERSION, "k": kind.value, "f": comparable}, sort_keys=True,
                      separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(data.encode("utf-8")).hexdigest()


@settings(max_examples=80, deadline=None)
@given(st.sampled_from(list(Kind)).flatmap(lambda k: st.tuples(st.just(k), _records(k))))
def test_fast_paths_equal_the_plain_definitions(kind_fields):
    kind, fields = kind_fields
    assert n.canonical(kind, fields) == {
        **{f: n.clean_value(f, fields.get(f)) for f in content_fields(kind)},
        **{f: fields[f] for f in META_FIELDS[kind] if fields.get(f) is not None}}
    assert n.comparable_record(kind, fields) == {f: n.comparable(f, fields.get(f)) for f in content_fields(kind)}
    assert n.content_hash(kind, fields) == _reference_hash(kind, fields)
    assert n.content_hash(kind, n.canonical(kind, fields)) == n.content_hash(kind, fields)


PINNED_PERSON = "6cdbfa9342616b1c7178d96dd43dd6c0ae42648e7c8856ab7488d03eddb58154"
PINNED_MEETING = "d3f961e9431821b1ccac12042a52aec0b7190fd0cb0b845cd278b5ceefd674ef"


_TRICKY = ["", "  ", "a", "-", "+", "+ 1", " A  b ", "\u00a0x\u3000y", "\u0130", "ß", "<p>x</p>", "\\\"",
           "2026-03-01T10:00+01:00", "2026-03-01", None, True, False, 0, 7, 1.5, date(2026, 3, 1),
           datetime(2026, 3, 1, 9, 30), "x < y", "x > y", f"a {n.MANAGED_BEGIN}\nCASE-1\n{n.MANAGED_END} b",
           f" {n.MANAGED_BEGIN} unterminated"]


def test_fast_paths_on_every_field_with_tricky_values():
    for kind in Kind:
        for f in content_fields(kind):
            for v in _TRICKY:
                fields = {f: v}
                assert n.comparable_record(kind, fields)[f] == n.comparable(f, v), (f, v)
                assert n.canonical(kind, fields)[f] == n.clean_value(f, v), (f, v)
                assert n.content_hash(kind, fields) == _reference_hash(kind, fields), (f, v)


def test_hash_values_are_those_stored_by_earlier_versions():
    # computed with the json.dumps definition before the fast path: existing journals hold these
    assert n.content_hash(P, {"first_name": " Ann ", "email1": "A@X.test", "notes": "a\n b"}) == PINNED_PERSON
    assert n.content_hash(M, {"subject": "Réunion", "all_day": False, "reminder_minutes": 15,
                              "start": "2026-03-29T10:00+01:00"}) == PINNED_MEETING


def test_snapshots_work_each_record_out_once(monkeypatch):
    record = {"first_name": " Ann ", "email1": "A@X.test"}
    snap = n.Snapshots(P)
    calls = []
    real_canonical, real_hash = n.canonical, n.content_hash
    monkeypatch.setattr(n, "canonical", lambda k, f: calls.append("canonical") or real_canonical(k, f))
    monkeypatch.setattr(n, "content_hash", lambda k, f: calls.append("hash") or real_hash(k, f))
    c = snap.canonical(record)
    assert c == real_canonical(P, record) and snap.canonical(record) is c
    assert snap.canonical(c) is c  # the canonical form of a canonical record is itself
    assert snap.hash(c) == snap.hash(record) == real_hash(P, record)
    assert calls == ["canonical", "hash"]
    equal_copy = dict(record)  # another object: worked out on its own, never mixed up by equality
    assert snap.canonical(equal_copy) == c and snap.canonical(equal_copy) is not c
