"""B35 through the public command line (issue 6): sent mail with attachments is recorded without
them while the setting is off, with its MIME source once `configure --email-attachments yes`, and
a message over the size cap is recorded without attachments and with a note. The real connectors
talk to both sandboxes over their wire protocols; the journal never holds a message's MIME."""
from __future__ import annotations

import json
from datetime import datetime, timezone

from tests.e2e.conftest import configure_args

SMALL = b"%PDF-1.4 small quote " + bytes(range(256)) * 8  # ~2 KB, binary
LARGE = b"L" * (1536 * 1024)  # 1.5 MB: over a 1 MB cap
MARKER = b"ATTACHMENT-CONTENT-MARKER"


def send(sandboxes, to: str, mid: str, files: list[tuple[str, bytes, str]]) -> None:
    sandboxes.ews.add_item("sentitems", "Message", {
        "Subject": f"Files {mid}", "Body": "Please find attached.", "ToRecipients": [to],
        "From": ("Sam Sandbox", sandboxes.ews.mailbox), "InternetMessageId": mid,
    }, sent=datetime.now(timezone.utc), flags=0x1, attachments=files)


def recorded(sandboxes, mid: str) -> dict:
    [row] = [r for r in sandboxes.crm.rows("emails") if r.get("message_id") == mid]
    return row


def test_attachments_only_when_enabled_and_only_under_the_cap(cli, sandboxes):
    person = sandboxes.crm.rows("people")[0]
    to = sandboxes.crm.get_record("people", person["id"])["main_location[email]"]
    pdf = ("quote.pdf", SMALL + MARKER, "application/pdf")

    # off (the default): recorded with the text only, nothing parsed from a MIME source
    out = cli(*configure_args(sandboxes))
    assert out.returncode == 0, out.stderr
    send(sandboxes, to, "<off@example.com>", [pdf])
    code, first = cli.json("sync", "--json")
    assert code == 0 and not first["errors"], first
    off = recorded(sandboxes, "<off@example.com>")
    assert not off.get("rfc822") and not off.get("attachment_count")
    assert "not recorded" not in (off.get("body") or "")

    # on, with a 1 MB cap: the small attachment travels in the MIME, the 1.5 MB one is left out
    out = cli(*configure_args(sandboxes, "--email-attachments", "yes", "--email-max-attachment-mb", "1"))
    assert out.returncode == 0, out.stderr
    send(sandboxes, to, "<on@example.com>", [pdf])
    send(sandboxes, to, "<big@example.com>", [("scan.tif", LARGE, "image/tiff")])
    code, second = cli.json("sync", "--json")
    assert code == 0 and not second["errors"], second
    assert second["created"]["crm"]["emails"] == 2, second
    on = recorded(sandboxes, "<on@example.com>")
    assert on["status"] == "SENT" and "quote.pdf" in on["rfc822"]
    assert json.loads(on["attachments"]) == [{"name": "quote.pdf", "size": len(SMALL + MARKER),
                                             "content_type": "application/pdf"}]
    big = recorded(sandboxes, "<big@example.com>")
    assert not big.get("rfc822") and not big.get("attachment_count")
    assert "attachments not recorded; the message is larger than 1 MB" in big["body"]
    assert "Please find attached." in big["body"]
    assert any(str(link["email_id"]) == str(big["id"]) for link in sandboxes.crm.rows("email_links"))

    # the journal kept states, never a message's MIME or body
    journal = b"".join(p.read_bytes() for p in cli.home.glob("journal.sqlite3*"))
    assert MARKER not in journal and b"Please find attached." not in journal
