"""A new contact's create bytes (app/connectors/ews/contact_xml.py) make the CreateItem request byte
for byte what the library's path (mapping.new_item + apply_markers + clean + item_element) sends, for
the seeded sandbox people and for random sparse, blank, untrimmed and unusual values; a value the
library's clean refuses fails the same way. No sockets."""
from __future__ import annotations

import random

import pytest
from lxml import etree

from app.connectors.crm.mapping import person_fields
from app.connectors.ews import mapping
from app.connectors.ews.contact_xml import contact_xml
from app.connectors.ews.create_xml import PrebuiltCreateItem, item_element
from app.domain.fields import PERSON_FIELDS
from app.domain.records import Kind, Sharing
from app.sandbox.crm import CrmSandbox
from tests.unit.test_ews_mapping import FULL_PERSON, account  # noqa: F401 - the module's account fixture

RELATED = "Opportunity OPP-1\nCase CASE-2"


def _library_element(acct, fields, related, sharing, crm_id, link_id):
    item = mapping.new_item(Kind.PERSON, fields, related=related, default_zone=acct.default_timezone, account=acct)
    mapping.apply_markers(item, sharing=sharing, crm_id=crm_id, link_id=link_id)
    item.clean(version=acct.version)
    return item_element(item, acct.version)


def _library(acct, fields, related, sharing, crm_id, link_id):
    return etree.tostring(_library_element(acct, fields, related, sharing, crm_id, link_id))


def _ours(acct, fields, related, sharing, crm_id, link_id):
    return contact_xml(fields, related, sharing=sharing, crm_id=crm_id, link_id=link_id, version=acct.version)


def _request(acct, items):
    """The CreateItem request body as sent: items as elements (the library's path) or as bytes."""
    service = PrebuiltCreateItem(account=acct, chunk_size=len(items))
    payload = service.get_payload(items, folder=None, message_disposition="SaveOnly",
                                  send_meeting_invitations="SendToNone")
    return service.wrap(payload, api_version="Exchange2016")


def _same(acct, fields, related=None, sharing=Sharing.SHARED, crm_id="42", link_id="link-1"):
    """Our bytes in the request are the library's element as serialised in it."""
    ours = _ours(acct, fields, related, sharing, crm_id, link_id)
    assert _request(acct, [ours]) == _request(acct, [_library_element(acct, fields, related, sharing, crm_id, link_id)]), fields
    return ours


@pytest.mark.parametrize("sharing", [Sharing.SHARED, Sharing.UNSHARED, None])
@pytest.mark.parametrize("related", [None, RELATED])
def test_full_person_every_marker_combination(account, sharing, related):  # noqa: F811
    _same(account, FULL_PERSON, related, sharing)
    _same(account, FULL_PERSON, related, sharing, crm_id=None, link_id=None)
    _same(account, FULL_PERSON, related, sharing, crm_id="", link_id="")  # empty markers are still sent


def test_empty_and_name_fallbacks(account):  # noqa: F811
    _same(account, {})
    _same(account, {name: None for name in PERSON_FIELDS})
    _same(account, {"company": "  Globex  "})  # display name falls back to the company
    _same(account, {"email1": " Ann@Globex.EXAMPLE "})  # ... then to the first e-mail
    assert b"<t:DisplayName>(no name)</t:DisplayName>" in _same(account, {"first_name": "   ", "notes": " "})


def test_unusual_text(account):  # noqa: F811
    fields = dict(FULL_PERSON, first_name="Zoë \x01", notes="a < b & c\r\nd", business_city="Köln\x0b",
                  website="https://x.example/?a=1&b=2")
    assert b"?" in _same(account, fields, RELATED)  # illegal XML characters replaced, as the library does


def test_random_people(account):  # noqa: F811
    rnd = random.Random(8)
    values = ["", " ", "x", " Mixed Case@Example.COM ", "O'Brien & Sons", "ünï", "line\nbreak", "a" * 255]
    for _ in range(150):
        fields = {name: rnd.choice(values + [None, None, f"v-{name}"]) for name in rnd.sample(PERSON_FIELDS, 12)}
        _same(account, fields, rnd.choice([None, RELATED]), rnd.choice([Sharing.SHARED, Sharing.UNSHARED, None]),
              crm_id=rnd.choice([None, "7"]), link_id=rnd.choice([None, "L"]))


def test_seeded_sandbox_people(account):  # noqa: F811
    box = CrmSandbox(None, people=120, seed=7)
    rows = list(box.rows("people"))
    assert len(rows) > 100
    for row in rows:
        _same(account, person_fields(row), RELATED if int(row["id"]) % 3 == 0 else None)


def test_a_value_the_library_refuses_fails_alike(account):  # noqa: F811
    fields = dict(FULL_PERSON, first_name="a" * 256)  # GivenName is a CharField of at most 255
    with pytest.raises(ValueError) as theirs:
        _library(account, fields, None, Sharing.SHARED, "1", "L")
    with pytest.raises(ValueError) as ours:
        _ours(account, fields, None, Sharing.SHARED, "1", "L")
    assert str(ours.value) == str(theirs.value)


def test_a_marker_of_another_type_fails_alike(account):  # noqa: F811
    with pytest.raises(TypeError) as theirs:
        _library(account, FULL_PERSON, None, Sharing.SHARED, 42, "L")
    with pytest.raises(TypeError) as ours:
        _ours(account, FULL_PERSON, None, Sharing.SHARED, 42, "L")
    assert str(ours.value) == str(theirs.value)


def test_awkward_text_and_the_request_bytes(account):  # noqa: F811
    """Text that needs escaping as libxml2 escapes it (empty values, \\r, markup-like and
    private-use text), in every kind of part, alone and in a request of many."""
    awkward = ["", "\r", "a\r\nb\rc", "<!--empty-->", "x]]>y", '\t"q" \'a\'', "\ue000slot\ue000", "&amp;", "\x85", "\u2028"]
    for text in awkward:
        fields = dict(FULL_PERSON, first_name=text, business_street=text, home_city=text, notes=text, email2=text,
                      mobile_phone=text)
        for crm_id, link_id in ((text, text), ("1", "")):
            _same(account, fields, RELATED if text else None, crm_id=crm_id, link_id=link_id)

    # a request of many: the bytes of each, in order
    rnd = random.Random(3)
    people = [dict(FULL_PERSON, first_name=rnd.choice(awkward), email1=f"p{n}@x.example") for n in range(30)]
    ours = [contact_xml(p, None, sharing=Sharing.SHARED, crm_id=str(n), link_id=f"L{n}", version=account.version)
            for n, p in enumerate(people)]
    theirs = [_library_element(account, p, None, Sharing.SHARED, str(n), f"L{n}") for n, p in enumerate(people)]
    assert _request(account, ours) == _request(account, theirs)
    with pytest.raises(TypeError):
        _request(account, [ours[0], theirs[1]])


def test_text_the_library_cannot_encode_fails_alike(account):  # noqa: F811
    fields = dict(FULL_PERSON, first_name="a\ud800b")
    with pytest.raises(ValueError) as theirs:
        _library(account, fields, None, Sharing.SHARED, "1", "L")
    with pytest.raises(ValueError) as ours:
        _ours(account, fields, None, Sharing.SHARED, "1", "L")
    assert type(ours.value) is type(theirs.value) is UnicodeEncodeError


def test_each_field_alone_blank_long_and_over_long(account):  # noqa: F811
    """Every canonical field on its own, in each form the writer treats apart (absent, blank, text
    at and over the 255 characters of the CharFields, non-text): the library's bytes or its error."""
    for name in PERSON_FIELDS:
        for value in (None, "", "  ", " x ", "é" * 255, "b" * 256, "c" * 1000, 42):
            fields = {name: value}
            try:
                theirs = _request(account, [_library_element(account, fields, None, Sharing.UNSHARED, None, "L")])
            except (ValueError, TypeError) as exc:
                with pytest.raises(type(exc)) as ours:
                    _ours(account, fields, None, Sharing.UNSHARED, None, "L")
                assert str(ours.value) == str(exc), (name, value)
                continue
            assert _request(account, [_ours(account, fields, None, Sharing.UNSHARED, None, "L")]) == theirs, (name, value)
    # the display name is made from the names (or the company, the e-mail): over-long there too
    _same(account, {"company": "d" * 300})
    with pytest.raises(ValueError):
        _ours(account, {"first_name": "e" * 256}, None, Sharing.SHARED, "1", "L")


def test_partial_addresses_and_entries(account):  # noqa: F811
    rnd = random.Random(21)
    names = [n for n in PERSON_FIELDS if n.startswith(("business_", "home_", "email", "mobile"))]
    for _ in range(200):
        fields = {n: rnd.choice([None, "", " ", "v", " Ab@C.example ", "Straße 1\r\n"]) for n in rnd.sample(names, 6)}
        _same(account, fields, None, rnd.choice([Sharing.SHARED, None]), crm_id=None, link_id=rnd.choice([None, ""]))
