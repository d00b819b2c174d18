"""B35 on the CRM side, through CrmStore/WorkbooksClient against the Workbooks sandbox: an email
recorded with its MIME source (`rfc822`) keeps it, and the sandbox shows the attachments it parsed
in the read-only columns `attachment_count` and `attachments` (JSON list of name, size,
content_type); an email without it has none. This pins the inferred shape (connectors/crm/emails.py)."""
from __future__ import annotations

import email
import email.message
import email.policy
import json
import uuid
from datetime import datetime, timezone

import pytest

from app.domain.records import EmailRecord
from tests.fixtures.crmclient_sandbox import password_client, sandbox, store

pytestmark = pytest.mark.timeout(120)
PDF = b"%PDF-1.4\n" + bytes(range(256)) * 100


@pytest.fixture(scope="module")
def env():
    with sandbox(people=5) as (server, sb):
        sb.strict_protocol = True
        sb.strict_attributes_default = True
        client = password_client(server, sb)
        yield client, store(client)
        client.close()


def _mime(mid: str) -> bytes:
    msg = email.message.EmailMessage()
    msg["From"], msg["To"], msg["Subject"], msg["Message-ID"] = "me@ourco.example", "b@client.example", "Quote", mid
    msg.set_content("Prices inside — £10", cte="quoted-printable")  # non-ASCII text, 7-bit as Exchange sends it
    msg.add_attachment(PDF, maintype="application", subtype="pdf", filename="quote.pdf")
    msg.add_attachment(b"a,b\n", maintype="text", subtype="csv", filename="lines.csv")
    return msg.as_bytes()


def _row(client, email_id: str) -> dict:
    cols = ("status", "rfc822", "attachment_count", "attachments", "subject")
    got = client.read("email/emails.api", [("_ff[]", "id"), ("_ft[]", "eq"), ("_fc[]", email_id),
                                           *(("_select_columns[]", c) for c in cols)])
    return got["data"][0]


def test_rfc822_is_stored_and_its_attachments_listed(env):
    client, st = env
    mid, plain_mid = f"<{uuid.uuid4()}@example.com>", f"<{uuid.uuid4()}@example.com>"
    sent = datetime(2026, 2, 1, 10, 0, tzinfo=timezone.utc)
    with_mime = EmailRecord(mid, "Quote", "me@ourco.example", ("b@client.example",), sent_at=sent, rfc822=_mime(mid))
    plain = EmailRecord(plain_mid, "Hello", "me@ourco.example", ("b@client.example",), sent_at=sent)
    ids = st.record_emails([with_mime, plain])  # one batch: a ragged field set must still be square
    assert all(isinstance(i, str) for i in ids), ids
    row = _row(client, ids[0])
    assert row["status"] == "SENT" and row["subject"] == "Quote"
    stored = email.message_from_string(row["rfc822"], policy=email.policy.default)
    assert [p.get_payload(decode=True) for p in stored.iter_attachments()] == [PDF, b"a,b\n"]
    assert stored.get_body().get_content().strip() == "Prices inside — £10"
    assert row["attachment_count"] == 2
    assert json.loads(row["attachments"]) == [
        {"name": "quote.pdf", "size": len(PDF), "content_type": "application/pdf"},
        {"name": "lines.csv", "size": 4, "content_type": "text/csv"},
    ]
    other = _row(client, ids[1])
    assert not other.get("rfc822") and other["attachment_count"] in (0, None)
