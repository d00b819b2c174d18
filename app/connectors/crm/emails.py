"""The one adapter for email records in the CRM (interfaces.md section 3, design.md 6.4).

The shape is an inference until confirmed on a real database, so it lives only here:
`email/emails` rows with `subject`, `from_address`, `to_addresses`, `cc_addresses`,
`bcc_addresses`, `sent_at`, `message_id`, `status`; links in `email/email_links` with `email_id`,
`resource_id`, `resource_type` (a class name). Both use the standard read and batch protocol.

The connector records mail that has already been sent: the status written is always `SENT`,
never `SEND` (which would make Workbooks send the message).

With attachments kept (B35) the create also carries `rfc822`, the full MIME source
(workbooks-api.md 5.5, writable on create). The sandbox then shows what it parsed from it in two
read-only columns, `attachment_count` and `attachments` (a JSON list of name, size and
content_type) [INVENTED, pinned by tests/contract/test_crm_email_attachments.py].
"""
from __future__ import annotations

from typing import Any, Iterator, Mapping, Sequence

from app.connectors.crm import batch
from app.connectors.crm.query import PAGE_SIZE, all_of, eq_list, scan
from app.domain.filters import Condition, Filter
from app.domain.records import CrmEmailLink, EmailRecord, LinkTarget
from app.errors import AppError, ItemRejected

EMAILS_PATH = "email/emails.api"
LINKS_PATH = "email/email_links.api"
STATUS_RECORDED = "SENT"
RESOURCE_CLASSES = {
    "person": "Private::Crm::Person",
    "sales_lead": "Private::Crm::SalesLead",
    "organisation": "Private::Crm::Organisation",
    "case": "Private::Crm::Case",
    "opportunity": "Private::Crm::Opportunity",
}
EMAIL_COLUMNS = ("id", "lock_version", "message_id", "subject", "status", "sent_at")
LINK_COLUMNS = ("id", "lock_version", "email_id", "resource_id", "resource_type")
TYPE_OF_CLASS = {cls: kind for kind, cls in RESOURCE_CLASSES.items()}


def mime_text(raw: bytes) -> str:
    """`rfc822` travels as text in the form-encoded batch. Exchange's MIME is 7-bit (attachments
    base64, non-ASCII text quoted-printable or base64), so this is lossless for it; stray 8-bit
    bytes that are not UTF-8 become U+FFFD rather than failing the record."""
    return raw.decode("utf-8", errors="replace")


class EmailAdapter:
    def __init__(self, client: Any, *, page_size: int = PAGE_SIZE, include_body: bool = False):
        self.client = client
        self.page_size = page_size
        self.include_body = include_body
        self.include_rfc822 = True  # workbooks-api.md 5.5 [BIND]: writable on create

    def _rows(self, path: str, columns: Sequence[str], flt: Filter) -> Iterator[list[dict[str, Any]]]:
        def page_filter(last: Mapping[str, Any] | None) -> Filter:
            if last is None:
                return flt
            return all_of(flt, Filter((Condition("id", "gt", str(last.get("id"))),)))

        for rows, _done in scan(self.client.read, path, columns=columns, page_filter=page_filter,
                                sort=[("id", "ASC")], page_size=self.page_size):
            yield rows

    def find(self, message_ids: Sequence[str]) -> dict[str, str]:
        """Message-ID -> email id of messages already recorded (by anyone)."""
        wanted = [m.strip() for m in dict.fromkeys(message_ids) if m and m.strip()]
        found: dict[str, str] = {}
        for i in range(0, len(wanted), 100):
            flt = Filter((Condition("message_id", "eq", eq_list(wanted[i:i + 100])),))
            for rows in self._rows(EMAILS_PATH, EMAIL_COLUMNS, flt):
                for r in rows:
                    mid = str(r.get("message_id") or "").strip()
                    if mid and mid not in found:
                        found[mid] = str(r.get("id"))
        return found

    def fields_of(self, email: EmailRecord) -> dict[str, Any]:
        fields: dict[str, Any] = {
            "message_id": email.message_id,
            "subject": email.subject,
            "from_address": email.from_address,
            "to_addresses": ", ".join(email.to),
            "cc_addresses": ", ".join(email.cc),
            "status": STATUS_RECORDED,
        }
        if email.bcc:
            fields["bcc_addresses"] = ", ".join(email.bcc)
        if email.sent_at is not None:
            fields["sent_at"] = email.sent_at
        if self.include_body and email.body:
            fields["body"] = email.body
        if email.rfc822 and self.include_rfc822:
            fields["rfc822"] = mime_text(email.rfc822)
        return fields

    def record(self, emails: Sequence[EmailRecord]) -> list[str | AppError]:
        ops = []
        for e in emails:
            fields = self.fields_of(e)
            assert fields["status"] == STATUS_RECORDED  # never SEND
            ops.append(batch.Op("POST", 0, 0, fields, ref=f"email {e.message_id}"))
        return [r if isinstance(r, AppError) else str(r["id"]) for r in batch.run(self.client, EMAILS_PATH, ops)]

    def link(self, links: Sequence[tuple[str, LinkTarget]]) -> list[str | AppError]:
        ops: list[batch.Op] = []
        slots: list[int | AppError] = []
        for email_id, target in links:
            cls = RESOURCE_CLASSES.get(target.crm_type)
            if cls is None:
                slots.append(ItemRejected(f"Emails cannot be linked to a {target.crm_type!r} record."))
                continue
            slots.append(len(ops))
            ops.append(batch.Op("POST", 0, 0, {"email_id": email_id, "resource_id": target.crm_id,
                                               "resource_type": cls}, ref=f"email link {email_id}"))
        results = batch.run(self.client, LINKS_PATH, ops) if ops else []
        out: list[str | AppError] = []
        for slot in slots:
            if isinstance(slot, AppError):
                out.append(slot)
            else:
                r = results[slot]
                out.append(r if isinstance(r, AppError) else str(r["id"]))
        return out

    # --- links changed by the user (B36) ----------------------------------------------------------
    def links_of(self, email_ids: Sequence[str]) -> list[CrmEmailLink]:
        """The live email_links rows of these emails (deleted rows are hidden by the API), so a
        retried add finds the row it made before a crash and a removal knows the lock_version."""
        wanted = [str(i) for i in dict.fromkeys(email_ids) if str(i or "").strip()]
        out: list[CrmEmailLink] = []
        for i in range(0, len(wanted), 100):
            flt = Filter((Condition("email_id", "eq", eq_list(wanted[i:i + 100])),))
            for rows in self._rows(LINKS_PATH, LINK_COLUMNS, flt):
                for r in rows:
                    cls = str(r.get("resource_type") or "")
                    out.append(CrmEmailLink(str(r.get("id")), int(r.get("lock_version") or 0), str(r.get("email_id")),
                                            LinkTarget(TYPE_OF_CLASS.get(cls, cls), str(r.get("resource_id")))))
        return out

    def unlink(self, links: Sequence[CrmEmailLink]) -> list[str | AppError]:
        """Delete email_links rows (a soft delete in Workbooks); the email record itself stays."""
        ops = [batch.Op("DELETE", ln.id, ln.lock_version, ref=f"email link {ln.id}") for ln in links]
        results = batch.run(self.client, LINKS_PATH, ops) if ops else []
        return [r if isinstance(r, AppError) else str(r["id"]) for r in results]
