"""The CRM row reader (mapping.RecordReader, which the listing and every other read use) gives the
records the previous reader gave (tests/fixtures/crm_rows_before.py, kept as it was): over varied
rows (unicode, missing/None/empty/blank values, values of other types, dates in every form the
reader knows and odd ones, custom fields, Contact Details addresses), for each kind, handed over
or copied, and the same stored JSON. No sockets."""
from __future__ import annotations

import dataclasses
import json
import random
from datetime import datetime, timedelta, timezone

import pytest

from app.connectors.crm import mapping as M
from app.domain.codec import crm_to_dict
from app.domain.records import CrmRecord, Kind
from app.sandbox.crm import CrmSandbox
from app.sandbox.crm.formats import fmt_datetime
from tests.fixtures import crm_rows_before as before

TEXTS = ["", " ", "  Åsa  ", "Zoë", "ünï", "李小龍", "O'Brien & Sons", "a < b", "line\nbreak", "tab\there", "\u2028",
         "Mixed Case@Example.COM ", " ann@x.example", "10:30", "Meeting at 10:30", "https://x.example/?a=1&b=2",
         "a" * 300, "None", "0", "true"]
OTHER = [None, None, None, 0, 1, 7, -3, 2.5, True, False, {"a": 1}, [1, 2], []]
DATES = ["Thu Nov 26 07:48:55 UTC 2026", " Thu Nov 26 07:48:55 UTC 2026 ", "Fri Feb 31 10:00:00 UTC 2026",
         "Thu Nov 26 25:61:00 UTC 2026", "Mon Jan 05 09:00:00 Europe/London 2026", "Mon Jul 06 09:00:00 GMT 2026",
         "Thursday November 26 07:48:55 UTC 2026", "Thu Nov 26 07:48:55 UTC 0999", "Thu Nov \u0662\u0666 07:48:55 UTC 2026",
         "Thu Xyz 26 07:48:55 UTC 2026", "2026-11-26T07:48:55Z", "2026-11-26T07:48:55+02:00", "2026-11-26",
         "1700000000", "not a date", "", None, 1700000000, datetime(2026, 1, 2, 3, 4, 5),
         datetime(2026, 1, 2, 3, 4, 5, tzinfo=timezone.utc)]
CUSTOM = ["cf_person_renewal", "cf_person_notes", "main_location[web_site]", "party_locations[email]",
          "contact_details_email", "due", "reminder_datetime"]


def _value(rng: random.Random, dates: bool = False):
    roll = rng.random()
    if dates and roll < 0.6:
        return rng.choice(DATES)
    if roll < 0.55:
        return rng.choice(TEXTS)
    if roll < 0.7:
        return fmt_datetime(datetime(2000, 1, 1, tzinfo=timezone.utc) + timedelta(seconds=rng.randrange(10 ** 9)))
    return rng.choice(OTHER)


def _row(rng: random.Random, kind: Kind) -> dict:
    columns = list(M.TYPES[kind].columns) + CUSTOM
    row = {}
    for col in columns:
        if rng.random() < 0.1:
            continue  # a column missing from the row
        row[col] = _value(rng, dates=col in ("updated_at", "start", "due", "finish", "completed", "reminder_datetime"))
    for col in ("id", "lock_version", "owner_id", "assigned_to"):
        if col in row and rng.random() < 0.6:
            row[col] = rng.choice([1, 7, 29198, "7", " 7 ", "x", None])
    if "is_deleted" in row and rng.random() < 0.6:
        row["is_deleted"] = rng.choice([True, False, "true", "false", "1", 0, None])
    if kind is not Kind.PERSON and rng.random() < 0.5:
        for col in ("start", "due", "finish"):
            row[col] = rng.choice(["2026-02-03T00:00:00.000Z,0,UTC", "2026-02-03T09:30:00.000Z,1,Europe/London",
                                   "2026-02-03", "2026-02-03T23:00:00.000Z,0,Europe/Paris", "bad,1,Nowhere/Zone"])
    return row


def _strict(rec: CrmRecord) -> tuple[str, str]:
    """What must agree: every value with its type (repr), and the JSON the journal stores."""
    return repr(rec), json.dumps(crm_to_dict(rec), sort_keys=False, ensure_ascii=False)


@pytest.mark.parametrize("kind", list(Kind))
def test_varied_rows_read_as_before(kind):
    rng = random.Random(hash(kind.value) & 0xFFFF)
    for _ in range(250):
        row = _row(rng, kind)
        user_id, my_queue = rng.choice([(None, None), (29198, 7), ("7", None), (None, "7"), (1, 1)])
        old = before.row_to_record(kind, dict(row), user_id=user_id, my_queue=my_queue)
        reader = M.RecordReader(kind, user_id=user_id, my_queue=my_queue)
        kept = dict(row)
        assert _strict(reader.record(row)) == _strict(old), row
        assert row == kept  # not handed over: the row is left as it was
        assert _strict(M.row_to_record(kind, dict(row), user_id=user_id, my_queue=my_queue)) == _strict(old)
        # handed over, the row becomes raw (converted in place before link_id and object_ref are read)
        old_owned = before.row_to_record(kind, dict(row), user_id=user_id, my_queue=my_queue, own_row=True)
        [owned] = reader.records([row])
        assert _strict(owned) == _strict(old_owned) and owned.raw is row


def test_seeded_listing_pages_read_as_before():
    """The sandbox's own rendering of people (what a first sync lists), a page at a time."""
    box = CrmSandbox(None, people=300, seed=7)
    rows = [json.loads(json.dumps(box.get_record("people", r["id"]))) for r in box.rows("people")]
    assert len(rows) > 200 and all(isinstance(r["updated_at"], str) for r in rows)
    reader = M.RecordReader(Kind.PERSON, user_id=29198, my_queue=7)
    for start in range(0, len(rows), 100):
        page = rows[start:start + 100]
        old = [before.row_to_record(Kind.PERSON, dict(r), user_id=29198, my_queue=7, own_row=True) for r in page]
        assert [_strict(r) for r in reader.records([dict(r) for r in page])] == [_strict(r) for r in old]


def test_the_apis_datetime_form_parses_as_before():
    """`_api_utc` (regular expression + the C ISO parser) against the previous by-position reader,
    on valid stamps and on every kind of one-, two- or three-character damage."""
    rng = random.Random(5)
    texts = [fmt_datetime(datetime(1000, 1, 1, tzinfo=timezone.utc) + timedelta(seconds=rng.randrange(4 * 10 ** 10)))
             for _ in range(2000)]
    chars = "0123456789 :-+TUCZadeFJMNOSnuvbcl\u0662\u212a\u0130"
    for _ in range(8000):
        text = list(rng.choice(texts))
        for _ in range(rng.randint(1, 3)):
            text[rng.randrange(28)] = rng.choice(chars)
        texts.append("".join(text))
    texts += [f"Mon {mon} {day} {time} UTC {year}" for mon in ("Jan", "feb", "DEC") for day in ("00", "29", "31", "32")
              for time in ("00:00:00", "23:59:59", "24:00:00", "12:60:00", "12:00:60") for year in ("0000", "0999", "2024", "2026")]
    for text in texts:
        old = before.parse_datetime(text)
        assert M.parse_datetime(text) == old, text
        read = M._api_utc(text)
        if read is not None:
            assert read[0] == old and read[0].tzinfo is timezone.utc and read[1] == before.raw_for_filters({"x": text})["x"]
        elif len(text) == 28 and text[19:24] == " UTC ":
            assert before._default_utc(text) is None, text


def test_records_are_made_like_the_dataclass_makes_them():
    rec = M.row_to_record(Kind.PERSON, {"id": 3, "updated_at": "Thu Nov 26 07:48:55 UTC 2026"})
    made = CrmRecord(**{f.name: getattr(rec, f.name) for f in dataclasses.fields(CrmRecord)})
    assert type(rec) is CrmRecord and rec == made and repr(rec) == repr(made) and vars(rec) == vars(made)
    assert dataclasses.replace(rec) == rec and dataclasses.asdict(rec)["id"] == "3"
    with pytest.raises(dataclasses.FrozenInstanceError):
        rec.id = "4"  # type: ignore[misc]
