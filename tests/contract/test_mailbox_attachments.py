"""B35 mailbox side, through the real connectors against their sandboxes: a sent message's size
counts its attachments, `message_mimes` returns the full MIME with them (EWS GetItem MimeContent,
Graph `$value` inside $batch), a message gone from Sent Items is a per-message NotFound; and the
Graph sandbox's attachment listing keeps Graph v1.0's fileAttachment shape."""
from __future__ import annotations

import base64
import email
import email.policy
import json
import urllib.request
from datetime import datetime, timezone

import pytest

from app.errors import NotFound
from tests.fixtures.graph_sandbox import graph_sandbox
from tests.fixtures.mailbox_sandbox import ews_sandbox

T0 = datetime(2025, 5, 1, 12, 0, tzinfo=timezone.utc)
PDF = b"%PDF-1.4\n" + bytes(range(256)) * 200  # 51 KB, binary


class Ews:
    def __init__(self, env):
        self.env, self.port = env, env.mailbox()

    def add_sent(self, mid, attachments=()):
        return self.env.sandbox.add_item("sentitems", "Message", {
            "Subject": "Quote", "Body": "See attached.", "InternetMessageId": mid, "ToRecipients": ["b@client.example"],
            "From": ("Me", "user@example.com")}, sent=T0, attachments=attachments)

    def delete(self, item_id):
        self.env.sandbox.delete_item(item_id, "HardDelete")


class Graph:
    def __init__(self, env):
        self.env, self.port = env, env.mailbox()

    def add_sent(self, mid, attachments=()):
        return self.env.sandbox.add_item("message", {
            "subject": "Quote", "body": {"contentType": "text", "content": "See attached."},
            "toRecipients": [{"emailAddress": {"address": "b@client.example"}}], "internetMessageId": mid,
            "isDraft": False, "sentDateTime": "2025-05-01T12:00:00Z"}, attachments=attachments)

    def delete(self, item_id):
        self.env.sandbox.delete_item(item_id, hard=True)


@pytest.fixture(params=["ews", "graph"])
def box(request):
    if request.param == "ews":
        with ews_sandbox() as env:
            yield Ews(env)
    else:
        with graph_sandbox() as env:
            yield Graph(env)
            env.mailbox().close()


def test_message_mimes_carry_the_attachments_and_sizes_count_them(box):
    with_file = box.add_sent("<a@x>", [("quote.pdf", PDF, "application/pdf")])
    plain = box.add_sent("<b@x>")
    sizes = {m.message_id: m.size for p in box.port.sent_changes(None, None) for m in p.messages}
    assert sizes["<a@x>"] > len(PDF) > sizes["<b@x>"] > 0
    got = box.port.message_mimes([with_file, plain])
    parsed = email.message_from_bytes(got[0], policy=email.policy.default)
    assert parsed["Message-ID"] == "<a@x>" and parsed.get_content_type() == "multipart/mixed"
    [part] = list(parsed.iter_attachments())
    assert (part.get_filename(), part.get_content_type(), part.get_payload(decode=True)) == (
        "quote.pdf", "application/pdf", PDF)
    assert email.message_from_bytes(got[1]).get_content_type() == "text/plain"
    box.delete(plain)
    again = box.port.message_mimes([with_file, plain])
    assert isinstance(again[0], bytes) and b"quote.pdf" in again[0] and isinstance(again[1], NotFound)


def test_graph_lists_file_attachments_in_the_v1_shape():
    with graph_sandbox() as env:
        mid = env.sandbox.add_item("message", {"subject": "Quote", "isDraft": False},
                                   attachments=[("quote.pdf", PDF, "application/pdf")])
        token = env.sandbox.mint_token()

        def get(path):
            req = urllib.request.Request(f"{env.sandbox.graph_url}/{path}", headers={"Authorization": f"Bearer {token}"})
            with urllib.request.urlopen(req, timeout=10) as resp:
                return resp.headers.get("Content-Type"), resp.read()

        _ct, raw = get(f"me/messages/{mid}/attachments")
        [att] = json.loads(raw)["value"]
        assert att["@odata.type"] == "#microsoft.graph.fileAttachment"
        assert (att["name"], att["contentType"], att["size"], att["isInline"]) == ("quote.pdf", "application/pdf",
                                                                                   len(PDF), False)
        assert base64.b64decode(att["contentBytes"]) == PDF
        _ct, one = get(f"me/messages/{mid}/attachments/{att['id']}")
        assert json.loads(one)["id"] == att["id"]
        assert json.loads(get(f"me/messages/{mid}?$select=hasAttachments")[1])["hasAttachments"] is True
        ctype, mime = get(f"me/messages/{mid}/$value")
        assert ctype.startswith("text/plain") and b"quote.pdf" in mime
