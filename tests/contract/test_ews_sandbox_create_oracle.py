"""The EWS sandbox's faster CreateItem is the same CreateItem: random requests (every contact field,
indexed entries given twice, extended properties in every spelling, aliases and invalid ones,
unicode, empty and odd values, comments and foreign tags, tasks, meetings, messages with every
disposition and attachments, wrong folders and unknown item types) are answered with the same
bytes and leave the same mailbox (its persisted JSON) as the code they replaced, kept as the oracle
in tests/fixtures/ews_create_before.py. Ids, change keys and the clock are made repeatable. No HTTP."""
from __future__ import annotations

import datetime as dt
import json
import os
import random
from types import SimpleNamespace
from zoneinfo import ZoneInfo

import pytest

from app.sandbox.ews import persistence, properties, schema, soap, store
from app.sandbox.ews.operations import write
from app.sandbox.ews.operations.common import Context
from app.sandbox.ews.properties import REQUEST_TZ
from app.sandbox.ews.store import Mailbox
from tests.fixtures import ews_create_before as before

NS = (f'xmlns:s="{soap.SOAP}" xmlns:m="{soap.M}" xmlns:t="{soap.T}"')
TEXTS = ["Ann", "Zoë Łukasz 東京 😀", "", "  padded  ", "a &amp; b &lt;c&gt;", "None", "0", "line\nbreak"]
DATES = ["2020-02-29T10:30:00Z", "2021-06-01T09:00:00", "2021-10-31T01:30:00+01:00", "not a date", "",
         "2024-03-31T01:30:00.123"]
BOOLS = ["1", "0", "true", "false", " True ", "yes", ""]
EXT_URIS = [
    'PropertySetId="8f3c2a61-5d1e-4b7a-9c0e-3f6b2d1a7e54" PropertyName="WorkbooksLinkId" PropertyType="String"',
    'PropertySetId="8F3C2A61-5D1E-4B7A-9C0E-3F6B2D1A7E54" PropertyName="WorkbooksCrmId" PropertyType="String"',
    'DistinguishedPropertySetId="PublicStrings" PropertyName="Tags" PropertyType="StringArray"',
    'DistinguishedPropertySetId="Address" PropertyId="0x8005" PropertyType="String"',
    'DistinguishedPropertySetId="Meeting" PropertyId="35" PropertyType="Binary"',  # aliases UID
    'PropertyTag="0x3001" PropertyType="String"',  # aliases DisplayName on contacts
    'PropertyTag="0x0037" PropertyType="String"',  # aliases Subject everywhere
    'PropertyTag="14854" PropertyType="Integer"',  # PR_MESSAGE_FLAGS, decimal
    'PropertyTag="0x0039" PropertyType="SystemTime"',
    'PropertyTag="0x0E23" PropertyType="Integer"',  # read-only
    'PropertyTag="0x6701" PropertyType="IntegerArray"',
    'PropertyType="String"',  # no name at all: ErrorInvalidExtendedProperty
]
PHONES = ["BusinessPhone", "MobilePhone", "HomePhone", "Pager", "BusinessFax"]
EMAILS = ["EmailAddress1", "EmailAddress2", "EmailAddress3"]
ADDRESSES = ["Business", "Home", "Other"]


def _text(rng) -> str:
    return rng.choice(TEXTS)


def _el(name: str, text: str | None) -> str:
    return f"<t:{name}/>" if text is None else f"<t:{name}>{text}</t:{name}>"


def _entries(rng, name: str, keys) -> str:
    if name == "PhysicalAddresses":
        body = "".join(f'<t:Entry Key="{k}">' + "".join(_el(p, _text(rng)) for p in
                                                       rng.sample(schema.ADDRESS_PARTS, rng.randrange(0, 4)))
                       + "</t:Entry>" for k in keys)
    else:
        body = "".join(f'<t:Entry Key="{k}">{_text(rng)}</t:Entry>' for k in keys)
    return f"<t:{name}>{body}</t:{name}>"


def _ext(rng) -> str:
    uri = rng.choice(EXT_URIS)
    if "Array" in uri and rng.random() < 0.7:
        values = "".join(f"<t:Value>{v}</t:Value>" for v in rng.sample(["1", "22", "x", ""], rng.randrange(0, 4)))
        value = f"<t:Values>{values}</t:Values>"
    else:
        value = rng.choice(["<t:Value>{}</t:Value>".format(rng.choice(["7", "AQID", "2021-06-01T09:00:00Z", "Zoë"])),
                            "<t:Value/>", ""])
    return f"<t:ExtendedProperty><t:ExtendedFieldURI {uri}/>{value}</t:ExtendedProperty>"


def _value(rng, name: str) -> str:
    if name in properties.DATETIME_ELEMENTS:
        return _el(name, rng.choice(DATES))
    if name in properties.BOOLEAN_ELEMENTS:
        return _el(name, rng.choice(BOOLS))
    if name == "EmailAddresses":
        return _entries(rng, name, rng.sample(EMAILS, rng.randrange(1, 3)))
    if name == "PhoneNumbers":
        keys = rng.sample(PHONES, rng.randrange(1, 4))
        return _entries(rng, name, keys + rng.sample(keys, 1))  # a Key twice
    if name == "PhysicalAddresses":
        return _entries(rng, name, rng.sample(ADDRESSES, rng.randrange(1, 3)))
    if name == "ImAddresses":
        return _entries(rng, name, ["ImAddress1"])
    if name in ("Categories", "Children", "Companies"):
        return f"<t:{name}>" + "".join(f"<t:String>{_text(rng)}</t:String>" for _ in range(rng.randrange(0, 3))) + f"</t:{name}>"
    if name == "Body":
        return f'<t:Body BodyType="{rng.choice(["Text", "HTML"])}">{_text(rng)}</t:Body>'
    if name in ("ToRecipients", "CcRecipients", "RequiredAttendees"):
        inner = "<t:Mailbox><t:EmailAddress>ann@example.com</t:EmailAddress></t:Mailbox>"
        if name == "RequiredAttendees":
            inner = f"<t:Attendee>{inner}</t:Attendee>"
        return f"<t:{name}>{inner}</t:{name}>"
    if name == "PercentComplete":
        return _el(name, rng.choice(["0", "50", "100", "x", ""]))
    if name == "Status":
        return _el(name, rng.choice(["NotStarted", "InProgress", "Completed", "Waiting"]))
    if name == "Attachments":
        return ("<t:Attachments><t:FileAttachment><t:Name>a.txt</t:Name><t:Content>aGVsbG8=</t:Content>"
                "</t:FileAttachment></t:Attachments>")
    return _el(name, rng.choice(TEXTS + [None]))


def _item(rng, kind: str) -> str:
    names = [n for n in schema.ORDER[kind] if n not in ("ItemId", "ParentFolderId", "MimeContent")]
    chosen = rng.sample(names, rng.randrange(0, min(len(names), 30)))
    if kind == "Contact" and rng.random() < 0.8:
        chosen += ["GivenName", "Surname", "EmailAddresses", "PhoneNumbers", "PhysicalAddresses"]
    parts = [_value(rng, n) for n in chosen]
    parts += [_ext(rng) for _ in range(rng.randrange(0, 4))]
    if rng.random() < 0.3:
        parts.append(_value(rng, rng.choice(["PhoneNumbers", "EmailAddresses", "PhysicalAddresses"])))  # merged
    if rng.random() < 0.2:
        parts.append(rng.choice(["<!-- a comment -->", "<t:Bogus>x</t:Bogus>", '<x:Foo xmlns:x="urn:x">y</x:Foo>',
                                 "<m:Subject>wrong namespace</m:Subject>", "<?pi here?>"]))
    rng.shuffle(parts)
    return f"<t:{kind}>{''.join(parts)}</t:{kind}>"


def _request(rng) -> bytes:
    kinds = ["Contact", "Contact", "Contact", "Task", "CalendarItem", "Message", "PostItem", "DistributionList"]
    items = "".join(_item(rng, rng.choice(kinds)) if rng.random() > 0.03 else "<t:Widget/>"
                    for _ in range(rng.randrange(1, 9)))
    folder = rng.choice([None, "contacts", "tasks", "calendar", "drafts", "nosuchfolder"])
    saved = (f'<m:SavedItemFolderId><t:DistinguishedFolderId Id="{folder}"/></m:SavedItemFolderId>' if folder else "")
    if rng.random() < 0.05:
        saved = '<m:SavedItemFolderId><t:FolderId Id="AAMkAGbogus"/></m:SavedItemFolderId>'
    disposition = rng.choice(["SaveOnly", "SaveOnly", "SendOnly", "SendAndSaveCopy", None])
    attr = f' MessageDisposition="{disposition}"' if disposition else ""
    return (f'<?xml version="1.0" encoding="utf-8"?><s:Envelope {NS}><s:Body><m:CreateItem{attr}>{saved}'
            f"<m:Items>{items}</m:Items></m:CreateItem></s:Body></s:Envelope>").encode("utf-8")


def _run(create, body: bytes, rng_seed: int, monkeypatch) -> tuple[bytes, str]:
    """One CreateItem on a fresh mailbox: (answer bytes, persisted mailbox)."""
    rng = random.Random(rng_seed)
    monkeypatch.setattr(os, "urandom", rng.randbytes)
    clock = dt.datetime(2026, 11, 26, 15, 0, 0, tzinfo=dt.timezone.utc)
    for module in (store, properties, write, before):
        monkeypatch.setattr(module, "utcnow", lambda: clock)
    mb = Mailbox("user@example.com", "Sam Sandbox", guid="5c2c3f30-0d0e-4c43-9a0c-6f1d2f7c9a11", secret=b"s" * 32)
    mb.ensure_distinguished()
    op, header = soap.parse_request(body)
    env, env_body = soap.envelope(soap.ServerVersion())
    _resp, msgs = soap.operation_response(env_body, "CreateItem")
    token = REQUEST_TZ.set(ZoneInfo("America/New_York"))
    try:
        create(Context(mb, SimpleNamespace(knobs={}), "CreateItem", header), op, msgs)
    finally:
        REQUEST_TZ.reset(token)
    return soap.serialize(env), json.dumps(persistence.dump(mb), sort_keys=True)


@pytest.mark.parametrize("seed", range(40))
def test_create_item_answers_and_stores_what_the_oracle_did(seed, monkeypatch):
    body = _request(random.Random(seed))
    old_answer, old_state = _run(before.create_item, body, seed, monkeypatch)
    new_answer, new_state = _run(write.create_item, body, seed, monkeypatch)
    assert new_answer == old_answer
    assert new_state == old_state


def test_the_requests_cover_what_they_claim(monkeypatch):
    """The generator reaches the paths the comparison is for (else the test above proves little)."""
    answers, states = b"", ""
    for seed in range(40):
        answer, state = _run(write.create_item, _request(random.Random(seed)), seed, monkeypatch)
        answers, states = answers + answer, states + state
    for code in (b"NoError", b"ErrorInvalidExtendedProperty", b"ErrorCannotCreateContactInNonContactFolder",
                 b"ErrorInvalidItemForOperationCreateItem", b"ErrorFolderNotFound"):
        assert code in answers
    for stored in ("PhoneNumbers", "PhysicalAddresses", "WorkbooksLinkId", "PercentComplete", "IsAllDayEvent",
                   "Birthday", "a.txt", "\\u00eb", "InternetMessageId"):
        assert stored in states, stored
