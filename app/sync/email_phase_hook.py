"""Glue for the engine's EMAIL phase (design.md 5.1 step 11) and the "Related in Workbooks" block.

Nothing here edits or imports the engine; the integrator calls these from `SyncEngine`:

    # SyncEngine.__init__ (or wiring): an EmailStore over the same journal file, and the options
    #   self.email_journal = EmailStore(journal.db)                      # app.journal.email_store
    #   self.email_options = options_from_settings(settings.email, capture_start=email_journal.capture_start(now))
    # SyncEngine.record_sent_email(c, crm, mailbox, journal)  (crm/mailbox: the counted ports)
    #   if c.dry_run: return
    #   c.email_links += record_sent_email(c.tally, crm, mailbox, self.email_journal, self.email_options,
    #                                      self.clock, observer=c.observer, cancel=c.cancel)
    # run_cycle: CycleSummary(..., email_links=c.email_links, ...)

Pure: standard library and app.sync / app.domain only.
"""
from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any, Callable, Iterable, Mapping

from app.domain.records import Reference, RefKind
from app.sync.emails import EmailOptions, EmailResult, EmailSync, related_block, run_email_phase

MAX_DAYS_BACK = 90  # product.md R15: setup day, or up to 90 days earlier


def options_from_settings(email: Any, *, capture_start: datetime | None, own_domains: tuple[str, ...] = (),
                          allow_private: bool = False) -> EmailOptions:
    """app.settings.EmailOptions (config.toml [email]) -> the phase's options. `capture_start` is
    the setup day (EmailStore.capture_start keeps the first run's date in the journal)."""
    days = max(0, min(MAX_DAYS_BACK, int(getattr(email, "capture_days_back", 0) or 0)))
    since = capture_start - timedelta(days=days) if capture_start is not None else None
    return EmailOptions(
        enabled=bool(getattr(email, "enabled", True)),
        record_bcc=bool(getattr(email, "record_bcc", False)),
        never_record=tuple(getattr(email, "never_record", ()) or ()),
        capture_since=since,
        allow_private=bool(getattr(email, "allow_private", allow_private)),
        link_organisation_by_domain=bool(getattr(email, "link_organisation_by_domain", False)),
        own_domains=tuple(own_domains),
        attachments=bool(getattr(email, "attachments", False)),
        max_attachment_mb=int(getattr(email, "max_attachment_mb", 16) or 16),
        watch_days=int(getattr(email, "watch_days", 0) or 0) or None,  # 0: watched without time limit
    )


def apply_to_tally(tally: Any, result: EmailResult) -> int:
    """Adds the phase's counts to the engine's Tally (created.crm.emails, errors); returns the
    number of email_links created, for CycleSummary.email_links."""
    tally.created["crm"]["emails"] = tally.created["crm"].get("emails", 0) + result.emails_created
    tally.issues.extend((i.item, i.message, i.retry_at) for i in result.issues)
    return result.email_links


def record_sent_email(tally: Any, crm: Any, mailbox: Any, email_journal: Any, options: EmailOptions, clock: Any,
                      *, observer: Any = None, cancel: Any = None) -> int:
    """Runs the email phase and folds its counts into `tally`; returns email_links. With recording
    off only the copy of related records is refreshed (the contacts' "Related in Workbooks"
    block needs it, issue 6 item 6): no mail is read and no email request is sent."""
    if not options.enabled:
        if not options.sync_references:
            return 0
        sync = EmailSync(crm, mailbox, email_journal, options, clock, observer, cancel)
        sync.refresh_references()
        return apply_to_tally(tally, sync.result)
    result = run_email_phase(crm, mailbox, email_journal, options, clock, observer, cancel)
    return apply_to_tally(tally, result)


def related_blocks(
    references: Iterable[Reference],
    people: Mapping[str, str | None],
    *,
    organisations: Mapping[str, str | None] | None = None,
    url_for: Callable[[Reference], str | None] | None = None,
) -> dict[str, str | None]:
    """The "Related in Workbooks" block per CRM person id (R18), for NewItem.related/Update.related
    of Outlook contacts. `people` maps person id -> company name (CrmRecord.fields["company"]);
    `organisations` (person id -> organisation id, e.g. EmailStore.people()) wins over the name."""
    refs = [r for r in references if not r.deleted]
    by_name: dict[str, list[str]] = {}
    orgs: dict[str, Reference] = {}
    by_person: dict[str, list[Reference]] = {}  # indexed once: 10,000 people x thousands of refs
    for r in refs:
        if r.kind is RefKind.ORGANISATION:
            orgs[r.id] = r
            if r.name:
                by_name.setdefault(r.name.strip().lower(), []).append(r.id)
        else:
            for pid in r.person_ids:
                by_person.setdefault(str(pid), []).append(r)
    out: dict[str, str | None] = {}
    for pid, company in people.items():
        org = (organisations or {}).get(pid)
        if org is None and company:
            hits = by_name.get(company.strip().lower(), [])
            org = hits[0] if len(hits) == 1 else None
        mine = by_person.get(str(pid), [])
        if org in orgs:
            mine = [orgs[org], *mine]  # type: ignore[index]
        out[pid] = related_block(pid, mine, organisation_id=org, url_for=url_for) if mine else None
    return out


__all__ = ["apply_to_tally", "options_from_settings", "record_sent_email", "related_blocks"]
