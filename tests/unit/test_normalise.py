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
