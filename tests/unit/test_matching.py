from app.domain import matching as mt
from app.domain.records import CrmRecord, Kind, OutlookItem

P, T = Kind.PERSON, Kind.TASK


def crm(i, **f):
    return CrmRecord(P, str(i), 1, f)


def item(i, kind=P, crm_id=None, **f):
    return OutlookItem(kind, f"AAM{i}", "ck", f, crm_id=crm_id)


def test_address_normalisation():
    assert mt.normalise_address(' "Ann Lee" <Ann.Lee@Example.com> ') == "ann.lee@example.com"
    assert mt.normalise_address("mailto:X@Y.Z") == "x@y.z"
    assert mt.normalise_address("not an address") is None


def test_marker_wins_over_email():
    r = mt.match_outlook_item(item(1, crm_id="2", email1="a@x"), [crm(1, email1="a@x"), crm(2)])
    assert r.rule == "marker" and r.unique == "2"


def test_email_matches_any_slot_and_contact_details():
    recs = [crm(1, email2="ann@x.test"), CrmRecord(P, "2", 1, {}, emails=("other@x.test",))]
    assert mt.match_outlook_item(item(1, email1="ANN@x.test"), recs).unique == "1"
    assert mt.match_outlook_item(item(1, email3="other@x.test"), recs).unique == "2"


def test_name_and_company_when_no_address():
    recs = [crm(1, first_name="José", last_name="Núñez", company="Acme Ltd"), crm(2, first_name="José", last_name="Núñez", company="Other")]
    r = mt.match_outlook_item(item(1, first_name="jose", last_name="nunez", company="ACME LTD"), recs)
    assert r.rule == "name" and r.unique == "1"


def test_several_candidates_are_ambiguous():
    recs = [crm(1, email1="a@x.test"), crm(2, email1="a@x.test")]
    r = mt.match_outlook_item(item(1, email1="a@x.test"), recs)
    assert r.ambiguous and r.unique is None


def test_deleted_records_never_match():
    assert mt.match_outlook_item(item(1, email1="a@x"), [CrmRecord(P, "1", 2, {"email1": "a@x"}, deleted=True)]).rule == "none"


def test_activity_subject_and_date():
    recs = [CrmRecord(T, "1", 1, {"subject": "Call Bob", "due_date": "2026-03-10"})]
    assert mt.match_outlook_item(item(1, T, subject="call bob", due_date="2026-03-10"), recs).unique == "1"
    assert mt.match_outlook_item(item(1, T, subject="call bob", due_date="2026-03-11"), recs).rule == "none"


def test_crm_side_matching_skips_items_marked_for_another_record():
    items = [item(1, crm_id="9", email1="a@x"), item(2, email1="a@x")]
    assert mt.match_crm_record(crm(1, email1="a@x"), items).unique == "AAM2"


def test_object_refs():
    assert mt.object_refs("Re: CASE-1234 and OPP-9 again CASE-1234") == ("CASE-1234", "OPP-9")


def test_indexes_agree_with_the_plain_rules():
    recs = [crm(1, email1="a@x.test"), crm(2, email1="a@x.test"), crm(3, first_name="Jo", last_name="Po", company="Z"),
            crm(4, email2="d@x.test"), CrmRecord(P, "5", 1, {"email1": "gone@x.test"}, deleted=True)]
    items = [item(1, email1="a@x.test"), item(2, first_name="jo", last_name="po", company="z"), item(3, crm_id="4"),
             item(4, email3="d@x.test"), item(5, email1="gone@x.test"), item(6, crm_id="9", email1="d@x.test")]
    ci, oi = mt.CrmIndex(recs), mt.OutlookIndex(items)
    for it in items:
        assert ci.match(it) == mt.match_outlook_item(it, recs), it
    for r in recs:
        assert oi.match(r) == mt.match_crm_record(r, items), r


def test_names_and_addresses_normalise_as_their_plain_definitions():
    import re
    import unicodedata

    def name(text):
        text = unicodedata.normalize("NFKD", text)
        text = "".join(ch for ch in text if not unicodedata.combining(ch))
        return re.sub(r"\s+", " ", re.sub(r"[^\w\s]", " ", text.lower())).strip()

    for text in ("José  Núñez", "Ann O'Neil-Smith", " ACME\tLtd. ", "Ça Va", "\uff21nn", "x\u00a0y", "a_b", "İ", "ß", "!!"):
        assert mt.normalise_name(text) == name(text), text
    assert mt.normalise_address("Ann <a@x.test> <b@x.test>") == "a@x.test"
    assert mt.normalise_address("<>a@x.test") == "<>a@x.test"


def test_indexes_share_match_keys_and_match_as_without_them():
    recs = [crm(1, first_name="Ann", last_name="Lee", email1="ann@x.test"), crm(2, first_name="Bo", last_name="Ng"),
            CrmRecord(P, "3", 1, {}, emails=("other@x.test",))]
    items = [item(1, email1="ANN@x.test"), item(2, first_name="bo", last_name="ng"), item(3, email2="other@x.test"),
             item(4, crm_id="3")]
    by_crm, by_outlook = mt.CrmIndex(recs), mt.OutlookIndex(items)
    assert by_crm.keys["3"] == (["other@x.test"], None) and "AAM4" not in by_outlook.keys
    for i in items:
        assert by_crm.match(i, by_outlook.keys.get(i.item_id)) == by_crm.match(i) == mt.match_outlook_item(i, recs)
    for r in recs:
        assert by_outlook.match(r, by_crm.keys.get(r.id)) == by_outlook.match(r) == mt.match_crm_record(r, items)
