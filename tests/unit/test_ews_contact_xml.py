"""A new contact's create element (app/connectors/ews/contact_xml.py) is byte for byte the XML of
the library's path (mapping.new_item + apply_markers + clean + item_element), for the seeded
sandbox people and for random sparse, blank, untrimmed and unusual values; a value the library's
clean refuses fails the same way. No sockets."""
from __future__ import annotations

import random

import pytest
from lxml import etree

from app.connectors.crm.mapping import person_fields
from app.connectors.ews import mapping
from app.connectors.ews.contact_xml import contact_element
from app.connectors.ews.create_xml import item_element
from app.domain.fields import PERSON_FIELDS
from app.domain.records import Kind, Sharing
from app.sandbox.crm import CrmSandbox
from tests.unit.test_ews_mapping import FULL_PERSON, account  # noqa: F401 - the module's account fixture

RELATED = "Opportunity OPP-1\nCase CASE-2"


def _library(acct, fields, related, sharing, crm_id, link_id):
    item = mapping.new_item(Kind.PERSON, fields, related=related, default_zone=acct.default_timezone, account=acct)
    mapping.apply_markers(item, sharing=sharing, crm_id=crm_id, link_id=link_id)
    item.clean(version=acct.version)
    return etree.tostring(item_element(item, acct.version))


def _ours(acct, fields, related, sharing, crm_id, link_id):
    return etree.tostring(contact_element(fields, related, sharing=sharing, crm_id=crm_id, link_id=link_id,
                                          version=acct.version))


def _same(acct, fields, related=None, sharing=Sharing.SHARED, crm_id="42", link_id="link-1"):
    ours = _ours(acct, fields, related, sharing, crm_id, link_id)
    assert ours == _library(acct, fields, related, sharing, crm_id, link_id), fields
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
