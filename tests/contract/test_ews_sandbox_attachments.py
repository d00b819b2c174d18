"""File attachments in the EWS sandbox through real exchangelib (B35): CreateItem with
t:Attachments, HasAttachments and Size, MimeContent as multipart/mixed, GetAttachment, and a
message created from MIME keeping its attachments."""
from __future__ import annotations

import email
import email.policy

import pytest
from exchangelib import FileAttachment, Message
from exchangelib.properties import Mailbox

from tests.fixtures.ews_sandbox_fixtures import *  # noqa: F401,F403

PDF = b"%PDF-1.4 " + bytes(range(256)) * 40  # binary, not UTF-8


def _sent(account, subject: str) -> Message:
    return account.sent.get(subject=subject)


def test_sent_message_keeps_file_attachments_in_size_mime_and_get_attachment(account, ews):
    _server, sandbox = ews
    msg = Message(account=account, folder=account.sent, subject="Quote attached", body="See the quote.",
                  to_recipients=[Mailbox(email_address="buyer@client.example")])
    msg.attach(FileAttachment(name="quote.pdf", content=PDF, content_type="application/pdf"))
    msg.send_and_save()

    got = _sent(account, "Quote attached")
    assert got.has_attachments is True
    assert got.size > len(PDF)
    [att] = got.attachments
    assert (att.name, att.content_type, att.size) == ("quote.pdf", "application/pdf", len(PDF))
    assert att.content == PDF  # exchangelib's GetAttachment, streamed

    [full] = account.fetch(ids=[got], only_fields=["mime_content"])
    parsed = email.message_from_bytes(full.mime_content, policy=email.policy.default)
    assert parsed.get_content_type() == "multipart/mixed"
    [part] = list(parsed.iter_attachments())
    assert part.get_filename() == "quote.pdf" and part.get_payload(decode=True) == PDF
    assert parsed["Subject"] == "Quote attached"


def test_message_without_attachments_says_so(account, ews):
    Message(account=account, folder=account.sent, subject="Plain", body="No files",
            to_recipients=[Mailbox(email_address="buyer@client.example")]).send_and_save()
    got = _sent(account, "Plain")
    assert got.has_attachments is False and not got.attachments
    [full] = account.fetch(ids=[got], only_fields=["mime_content"])
    assert email.message_from_bytes(full.mime_content).get_content_type() == "text/plain"


def test_message_created_from_mime_keeps_its_attachments_and_moves_with_them(account, ews):
    _server, sandbox = ews
    source = email.message.EmailMessage()
    source["From"], source["To"], source["Subject"] = "sam@example.com", "x@client.example", "Imported"
    source["Message-ID"] = "<imported-1@example.com>"
    source.set_content("body")
    source.add_attachment(b"a,b\n1,2\n", maintype="text", subtype="csv", filename="sheet.csv")
    Message(account=account, folder=account.sent, mime_content=source.as_bytes()).save()
    got = _sent(account, "Imported")
    assert [(a.name, a.size) for a in got.attachments] == [("sheet.csv", 8)]
    got.move(account.trash)
    again = account.trash.get(subject="Imported")
    assert again.attachments[0].content == b"a,b\n1,2\n"


def test_unknown_attachment_id_is_refused(account, ews):
    from exchangelib.attachments import AttachmentId
    from exchangelib.errors import ErrorInvalidAttachmentId
    from exchangelib.services import GetAttachment

    with pytest.raises(ErrorInvalidAttachmentId):
        list(GetAttachment(account=account).call(items=[AttachmentId(id="nope")], include_mime_content=False,
                                                 body_type=None, filter_html_content=None, additional_fields=None))
