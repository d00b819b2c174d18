"""Sent mail -> CRM email records and links; late (retroactive) linking; related items.

design.md 5.1 step 11 and 6.4, product.md R11-R18, B33, B35. Pure: every effect goes through the
ports (`MailboxPort.sent_changes/message_body`, `CrmPort.owners_of_addresses/find_emails/
record_emails/link_emails/references_since/fetch`) and the small `EmailJournal` below.

One cycle (`run_email_phase`):

1. References: the read-side copy of Organisations, Cases, Opportunities and Sales Leads is brought
   up to date from the CRM delta feed, each page committed with its high-water mark.
2. Ingest: Sent Items page by page; each page's new messages are staged (headers only, never the
   body) together with the page's sync token in one journal transaction. Messages before the
   capture start, Private ones (unless allowed), all-internal mail and mail whose recipients are all
   on the never-record list are staged as `excluded` (so they are examined once); the rest are
   `pending_match` with their candidate addresses in `unmatched_address`.
3. Match: every watched address (pending messages and the unmatched recipients of recorded ones)
   is looked up in the journal's address index; addresses the index does not know are asked of the
   CRM in one batched `owners_of_addresses` call per cycle (chunked only for very long lists), which
   is also the late-linking probe (R13). Subject object refs (CASE-12) resolve against the copy. A
   matched Person brings in its Organisation (one batched `fetch` of newly seen People per cycle).
4. Record: one `find_emails` call for the matched Message-IDs (dedup across machines and lost
   journals), then one `record_emails` batch (body read from the mailbox only now), then one
   `link_emails` batch for every planned link. Failures are per item, with the engine's back-off.
   With attachments kept (B35, email_mime.py) each message also carries its MIME source, read per
   batch and never stored; batches are then bounded by bytes as well.

Nothing here logs or reports subjects, bodies or addresses: items are named by a short hash.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta, timezone
from typing import Any, Callable, Iterable, Mapping, Protocol, Sequence

from app.domain.matching import normalise_address, subject_refs
from app.domain.records import EmailRecord, HighWater, Kind, LinkTarget, Reference, RefKind, SentMessage
from app.errors import AppError, AuthError, NotFound, PrerequisiteError
from app.sync import retry
from app.sync.email_mime import (
    byte_bounded, expected_mime_bytes, mime_too_big, over_cap, per_item, read_mimes, with_note,
)
from app.sync.events import ItemIssue, Phase, Progress
from app.sync.ports import InvalidSyncToken

# sent_email.state values (design.md 4)
PENDING = "pending_match"
RECORDING = "recording"  # record_emails called, result not committed yet (crash window)
RECORDED = "recorded"
EXCLUDED = "excluded"
TOO_LARGE = "too_large"  # recorded without attachments, over the size cap (B35); a recorded state

SENT_CURSOR = ("outlook", "sentitems")
REF_TYPES = {RefKind.ORGANISATION: "organisation", RefKind.CASE: "case", RefKind.OPPORTUNITY: "opportunity",
             RefKind.SALES_LEAD: "sales_lead"}
CLOSED_WORDS = ("closed", "won", "lost", "complete", "resolved", "disqualified", "converted", "cancelled")


# --- options and values ---------------------------------------------------------------------------

@dataclass(frozen=True)
class EmailOptions:
    """The user's email settings (config.toml `[email]`), as the phase needs them."""

    enabled: bool = True
    record_bcc: bool = False
    never_record: tuple[str, ...] = ()  # addresses ("a@b.com") or domains ("b.com" / "@b.com")
    capture_since: datetime | None = None
    allow_private: bool = False
    link_organisation_by_domain: bool = False
    own_domains: tuple[str, ...] = ()  # the mailbox's own domain(s); empty = the mailbox identity's
    never_record_own_domain: bool = True  # the user's own domain is on the never-record list by default
    attachments: bool = False  # B35: record the full MIME (attachments) up to max_attachment_mb
    max_attachment_mb: int = 16
    mime_batch_bytes: int = 8 * 1024 * 1024  # MIME held per record batch (one larger message goes alone)
    sync_references: bool = True  # keep the Organisation/Case/Opportunity/Sales Lead copy current
    watch_days: int | None = None  # unmatched addresses watched without time limit unless set
    probe_chunk: int = 500  # addresses per owners_of_addresses call (one call below this)
    record_chunk: int = 100  # emails per record_emails / link_emails call


@dataclass(frozen=True)
class SentRow:
    """A `sent_email` row with the headers the journal keeps for messages not recorded yet."""

    id: int
    message_id: str
    item_id: str | None
    sent_at: datetime | None
    subject: str
    state: str
    crm_email_id: str | None = None
    sender: str = ""
    to: tuple[str, ...] = ()
    cc: tuple[str, ...] = ()
    bcc: tuple[str, ...] = ()
    size: int = 0


@dataclass(frozen=True)
class StagedMessage:
    """A message new to the journal: its row (id assigned by the journal) and watched addresses."""

    message: SentMessage
    state: str  # PENDING | EXCLUDED
    addresses: tuple[str, ...]  # normalised candidate recipients (never-record ones left out)
    reason: str = ""  # why excluded


@dataclass(frozen=True)
class PlannedLink:
    sent_email_id: int
    target: LinkTarget
    matched_address: str | None
    reason: str  # "address" | "subject_ref" | "employer" | "domain"
    retroactive: bool = False


@dataclass(frozen=True)
class PendingLink:
    """An `email_link` row not yet created in the CRM."""

    id: int
    sent_email_id: int
    crm_email_id: str
    target: LinkTarget


@dataclass(frozen=True)
class PersonInfo:
    id: str
    name: str = ""
    object_ref: str = ""
    organisation_id: str | None = None


@dataclass(frozen=True)
class EmailError:
    key: str
    attempts: int
    retry_after: datetime | None


@dataclass(frozen=True)
class Recorded:
    """Outcome of recording one message (or finding it already recorded)."""

    sent_email_id: int
    crm_email_id: str
    state: str  # RECORDED | TOO_LARGE
    links: tuple[PlannedLink, ...]
    matched_addresses: tuple[str, ...]


@dataclass
class EmailResult:
    emails_created: int = 0  # -> created.crm.emails
    email_links: int = 0  # -> email_links
    adopted: int = 0  # already in the CRM (another machine, lost journal): not recorded again
    staged: int = 0
    excluded: int = 0
    pending: int = 0  # still waiting for a matching record
    retroactive_links: int = 0
    references: int = 0
    issues: list[ItemIssue] = field(default_factory=list)
    crm_calls: dict[str, int] = field(default_factory=dict)


class BodyBatch(Protocol):
    """Optional MailboxPort extension: bodies of many sent messages in one round trip, one result
    per id in order (a str, or an AppError for that message). Used when the mailbox has it."""

    def message_bodies(self, item_ids: Sequence[str]) -> list[str | AppError]: ...


class EmailJournal(Protocol):
    """The journal tables of design.md 4 that the email phase uses (app/journal/email_store.py).
    Every write method is one transaction."""

    # Sent Items feed
    def sent_token(self) -> str | None: ...

    def known_message_ids(self, message_ids: Sequence[str]) -> set[str]: ...

    def stage_page(self, token: str, staged: Sequence[StagedMessage], gone_item_ids: Sequence[str],
                   now: datetime, expires_at: datetime | None) -> None:
        """New messages (headers + watched addresses) and the page token, atomically; messages
        deleted from Sent Items while still unmatched stop being watched."""

    # state for matching
    def unrecorded(self) -> list[SentRow]:
        """Rows in PENDING or RECORDING state, with headers."""

    def watched(self, now: datetime) -> dict[str, list[int]]:
        """Unexpired unmatched addresses -> sent_email ids."""

    def rows(self, ids: Sequence[int]) -> dict[int, SentRow]: ...

    def linked_targets(self, ids: Sequence[int]) -> dict[int, set[tuple[str, str]]]: ...

    # address index and reference copy
    def address_owners(self, addresses: Sequence[str]) -> dict[str, list[LinkTarget]]:
        """Known owners per address from the index (addresses the index has no owner for are left out)."""

    def save_owners(self, owners: Mapping[str, Sequence[LinkTarget]]) -> None: ...

    def people(self, ids: Sequence[str]) -> dict[str, PersonInfo]:
        """People whose details (employer) have been read."""

    def save_people(self, people: Sequence[PersonInfo]) -> None: ...

    def people_by_ref(self, object_refs: Sequence[str]) -> dict[str, str]:
        """Upper-cased object ref (PERS-9) -> person id, for People already read."""

    def references(self) -> list[Reference]: ...

    def ref_mark(self, kind: RefKind) -> HighWater | None: ...

    def save_references(self, kind: RefKind, refs: Sequence[Reference], mark: HighWater | None) -> None: ...

    # recording
    def mark_state(self, ids: Sequence[int], state: str) -> None: ...

    def save_recorded(self, outcomes: Sequence[Recorded]) -> None:
        """State, CRM id, planned link rows; matched addresses stop being watched; headers dropped."""

    def add_links(self, links: Sequence[PlannedLink], matched: Sequence[tuple[int, str]]) -> None: ...

    def pending_links(self) -> list[PendingLink]: ...

    def confirm_links(self, done: Sequence[tuple[int, str]]) -> None: ...

    def retroactive_link_ids(self, ids: Sequence[int]) -> list[int]:
        """Those of the given email_link ids that were made late (R13), for the result's count."""

    def touch_probe(self, addresses: Sequence[str], now: datetime) -> None: ...

    def prune_watch(self, now: datetime) -> int:
        """Drops expired unmatched addresses; a pending message left with none is excluded (its
        headers dropped). Returns the number of messages no longer watched."""

    # per-item back-off (item_error rows, kind "email")
    def email_errors(self) -> dict[str, EmailError]: ...

    def save_error(self, key: str, label: str, err: AppError, attempts: int, now: datetime,
                   retry_at: datetime) -> None: ...

    def clear_errors(self, keys: Sequence[str]) -> None: ...


# --- pure helpers ----------------------------------------------------------------------------------

def short_ref(message_id: str) -> str:
    """How a message is named in issues and logs: never subject, body or address."""
    return "email " + hashlib.sha256(message_id.encode("utf-8", "replace")).hexdigest()[:10]


def domain_of(address: str) -> str:
    return address.rsplit("@", 1)[-1] if "@" in address else ""


@dataclass(frozen=True)
class NeverRecord:
    addresses: frozenset[str]
    domains: frozenset[str]

    @classmethod
    def build(cls, entries: Iterable[str]) -> "NeverRecord":
        addrs, doms = set(), set()
        for e in entries:
            text = (e or "").strip().lower()
            if not text:
                continue
            if text.startswith("@"):
                doms.add(text[1:])
            elif "@" in text:
                a = normalise_address(text)
                if a:
                    addrs.add(a)
            else:
                doms.add(text.lstrip("."))
        return cls(frozenset(addrs), frozenset(doms))

    def __contains__(self, address: str) -> bool:
        if address in self.addresses:
            return True
        dom = domain_of(address)
        return any(dom == d or dom.endswith("." + d) for d in self.domains)


def recipients(msg: SentMessage, *, record_bcc: bool) -> tuple[str, ...]:
    found = [normalise_address(a) for a in (*msg.to, *msg.cc, *(msg.bcc if record_bcc else ()))]
    return tuple(dict.fromkeys(a for a in found if a))


def classify(msg: SentMessage, options: EmailOptions, own: Sequence[str], never: NeverRecord) -> StagedMessage:
    """PENDING with its candidate addresses, or EXCLUDED with a reason (R11, R15, B33)."""
    if options.capture_since is not None and msg.sent_at is not None and msg.sent_at < _aware(options.capture_since):
        return StagedMessage(msg, EXCLUDED, (), "before the capture start")
    if msg.private and not options.allow_private:
        return StagedMessage(msg, EXCLUDED, (), "private")
    rcpts = recipients(msg, record_bcc=options.record_bcc)
    if not rcpts:
        return StagedMessage(msg, EXCLUDED, (), "no recipients")
    own_set = {d.lower().lstrip("@") for d in own}
    if own_set and all(domain_of(a) in own_set for a in rcpts):
        return StagedMessage(msg, EXCLUDED, (), "internal")
    candidates = tuple(a for a in rcpts if a not in never and domain_of(a) not in own_set)
    if not candidates:
        return StagedMessage(msg, EXCLUDED, (), "never-record list")
    return StagedMessage(msg, PENDING, candidates)


def targets_for(
    row: SentRow,
    addresses: Sequence[str],
    owners: Mapping[str, Sequence[LinkTarget]],
    by_ref: Mapping[str, LinkTarget],
    employer: Mapping[str, str | None],
    org_by_domain: Mapping[str, LinkTarget] | None = None,
    *,
    retroactive: bool = False,
) -> tuple[list[PlannedLink], list[str]]:
    """Links for one message and the addresses that matched (R12, R17; design.md 6.4)."""
    out: dict[tuple[str, str], PlannedLink] = {}

    def add(target: LinkTarget, addr: str | None, reason: str) -> None:
        key = (target.crm_type, target.crm_id)
        if key not in out:
            out[key] = PlannedLink(row.id, target, addr, reason, retroactive)

    matched: list[str] = []
    for addr in addresses:
        found = owners.get(addr) or ()
        if found:
            matched.append(addr)
        for t in found:
            add(t, addr, "address")
    for ref in subject_refs(row.subject):
        t = by_ref.get(ref)
        if t is not None:
            add(t, None, "subject_ref")
    for (ttype, tid), link in list(out.items()):
        if ttype == "person":
            org = employer.get(tid)
            if org:
                add(LinkTarget("organisation", org), link.matched_address, "employer")
    if not out and org_by_domain:
        for addr in addresses:
            t = org_by_domain.get(domain_of(addr))
            if t is not None:
                matched.append(addr)
                add(t, addr, "domain")
    return list(out.values()), matched


def is_open(ref: Reference) -> bool:
    status = (ref.status or "").strip().lower()
    return not ref.deleted and not any(w in status for w in CLOSED_WORDS)


KIND_LABEL = {RefKind.ORGANISATION: "Organisation", RefKind.OPPORTUNITY: "Opportunity", RefKind.CASE: "Case",
              RefKind.SALES_LEAD: "Sales Lead"}
RELATED_TITLE = "Related in Workbooks"


def related_block(
    person_id: str,
    references: Iterable[Reference],
    *,
    organisation_id: str | None = None,
    url_for: Callable[[Reference], str | None] | None = None,
) -> str | None:
    """The read-only "Related in Workbooks" block ending a contact's notes (R18), or None when
    nothing relates to the person. Lists the person's Organisation (`organisation_id`, or any
    Organisation a related Sales Lead names), open Opportunities, open Cases and Sales Leads naming
    the person; one line each: kind, name, reference and, when `url_for` gives one, the link."""
    pid = str(person_id)
    refs = [r for r in references if not r.deleted]
    lines: list[tuple[int, str, str]] = []
    order = {RefKind.ORGANISATION: 0, RefKind.OPPORTUNITY: 1, RefKind.CASE: 2, RefKind.SALES_LEAD: 3}
    orgs = {r.id: r for r in refs if r.kind is RefKind.ORGANISATION}
    chosen: list[Reference] = []
    if organisation_id and organisation_id in orgs:
        chosen.append(orgs[organisation_id])
    for r in refs:
        if r.kind is RefKind.ORGANISATION or pid not in r.person_ids:
            continue
        if r.kind in (RefKind.OPPORTUNITY, RefKind.CASE) and not is_open(r):
            continue
        chosen.append(r)
    seen: set[tuple[RefKind, str]] = set()
    for r in chosen:
        if (r.kind, r.id) in seen:
            continue
        seen.add((r.kind, r.id))
        text = f"- {KIND_LABEL[r.kind]}: {r.name or r.object_ref}"
        if r.object_ref:
            text += f" ({r.object_ref})"
        url = url_for(r) if url_for is not None else None
        if url:
            text += f" {url}"
        lines.append((order[r.kind], r.name.lower(), text))
    if not lines:
        return None
    return "\n".join([RELATED_TITLE, *(t for _o, _n, t in sorted(lines))])


def _aware(value: datetime) -> datetime:
    return value if value.tzinfo else value.replace(tzinfo=timezone.utc)


def _chunks(seq: Sequence[Any], n: int) -> Iterable[Sequence[Any]]:
    n = max(1, n)
    for i in range(0, len(seq), n):
        yield seq[i:i + n]


# --- the phase -------------------------------------------------------------------------------------

class EmailSync:
    """One run of the email phase over the given ports. Fatal errors (auth, prerequisites) are
    raised; everything per item is reported in `result.issues` and retried with back-off."""

    def __init__(self, crm: Any, mailbox: Any, journal: EmailJournal, options: EmailOptions, clock: Any,
                 observer: Any = None, cancel: Any = None):
        self.crm, self.mailbox, self.journal, self.options, self.clock = crm, mailbox, journal, options, clock
        self.observer, self.cancel = observer, cancel
        self.result = EmailResult()
        self.now = clock.now()
        self._fresh: set[int] = set()  # rows staged in this run (not retroactive)

    # plumbing
    def _cancelled(self) -> bool:
        return bool(self.cancel is not None and self.cancel.cancelled())

    def _progress(self, done: int, total: int | None, message: str) -> None:
        if self.observer is not None:
            self.observer.progress(Progress(Phase.EMAIL, "email", done, total, message))

    def _call(self, name: str, *args: Any) -> Any:
        self.result.crm_calls[name] = self.result.crm_calls.get(name, 0) + 1
        return getattr(self.crm, name)(*args)

    def _issue(self, key: str, label: str, err: AppError, errors: Mapping[str, EmailError]) -> None:
        if isinstance(err, (AuthError, PrerequisiteError)):
            raise err
        prev = errors.get(key)
        attempts = (prev.attempts if prev else 0) + 1
        at = retry.retry_after(self.now, attempts)
        self.journal.save_error(key, label, err, attempts, self.now, at)
        self.result.issues.append(ItemIssue(label, f"{err.title}: {err.message}", at))

    def own_domains(self) -> tuple[str, ...]:
        if self.options.own_domains:
            return tuple(d.lower().lstrip("@") for d in self.options.own_domains)
        try:
            me = normalise_address(self.mailbox.identity())
        except AppError:
            me = None
        return (domain_of(me),) if me else ()

    # 1. references ------------------------------------------------------------------------------
    def refresh_references(self) -> None:
        for kind in RefKind:
            if self._cancelled():
                return
            mark = self.journal.ref_mark(kind)
            try:
                self.result.crm_calls["references_since"] = self.result.crm_calls.get("references_since", 0) + 1
                for refs, hw in self.crm.references_since(kind, mark):
                    self.journal.save_references(kind, refs, hw)
                    self.result.references += len(refs)
            except (AuthError, PrerequisiteError):
                raise
            except AppError as exc:  # the copy is a help, never a blocker
                self.result.issues.append(ItemIssue(f"{kind.value} references", f"{exc.title}: {exc.message}",
                                                    retry.retry_after(self.now, 1)))

    # 2. ingest ----------------------------------------------------------------------------------
    def ingest(self) -> None:
        own = self.own_domains()
        entries = tuple(self.options.never_record) + (own if self.options.never_record_own_domain else ())
        never = NeverRecord.build(entries)
        expires = self.now + timedelta(days=self.options.watch_days) if self.options.watch_days else None
        token = self.journal.sent_token()
        try:
            self._ingest_from(token, own, never, expires)
        except InvalidSyncToken:
            # the server refused the stored SyncState: re-read Sent Items from scratch; the journal
            # and find_emails keep that from recording anything twice
            self._ingest_from(None, own, never, expires)
        except (AuthError, PrerequisiteError):
            raise
        except AppError as exc:  # mailbox unreachable mid-feed: match what is staged, resume next run
            self.result.issues.append(ItemIssue("sent items", f"{exc.title}: {exc.message}",
                                                retry.retry_after(self.now, 1)))

    def _ingest_from(self, token: str | None, own: tuple[str, ...], never: NeverRecord,
                     expires: datetime | None) -> None:
        since = _aware(self.options.capture_since) if self.options.capture_since else None
        seen = 0
        for page in self.mailbox.sent_changes(token, since):
            ids = [m.message_id.strip() for m in page.messages if m.message_id and m.message_id.strip()]
            known = self.journal.known_message_ids(ids) if ids else set()
            staged: dict[str, StagedMessage] = {}
            for msg in page.messages:
                mid = (msg.message_id or "").strip()
                if not mid or mid in known or mid in staged:
                    continue
                st = classify(replace(msg, message_id=mid), self.options, own, never)
                staged[mid] = st
                if st.state == EXCLUDED:
                    self.result.excluded += 1
            self.journal.stage_page(page.token, list(staged.values()), list(page.deleted_ids), self.now, expires)
            self.result.staged += len(staged)
            seen += len(page.messages)
            self._progress(seen, None, "reading sent items")
            if self._cancelled():
                return

    # 3. match -----------------------------------------------------------------------------------
    def match_and_record(self) -> None:
        unrecorded = self.journal.unrecorded()
        watched = self.journal.watched(self.now)
        unrec_ids = {r.id for r in unrecorded}
        # which recorded messages have watched addresses (extra links later)
        recorded_ids = sorted({i for ids in watched.values() for i in ids} - unrec_ids)
        addresses = sorted(watched)
        owners = self.journal.address_owners(addresses)
        unknown = [a for a in addresses if not owners.get(a)]
        if unknown:
            found: dict[str, list[LinkTarget]] = {}
            for chunk in _chunks(unknown, self.options.probe_chunk):
                try:
                    got = self._call("owners_of_addresses", list(chunk))
                except (AuthError, PrerequisiteError):
                    raise
                except AppError as exc:
                    self.result.issues.append(ItemIssue("email address lookup", f"{exc.title}: {exc.message}",
                                                        retry.retry_after(self.now, 1)))
                    continue
                for addr, targets in (got or {}).items():
                    key = normalise_address(addr)
                    if key and targets:
                        found.setdefault(key, [])
                        for t in targets:
                            if t not in found[key]:
                                found[key].append(t)
            if found:
                self.journal.save_owners(found)
                for a, ts in found.items():
                    owners[a] = list(ts)
            self.journal.touch_probe(unknown, self.now)
        refs = self.journal.references()
        by_ref: dict[str, LinkTarget] = {}
        for r in refs:
            if r.object_ref and not r.deleted:
                by_ref[r.object_ref.upper()] = LinkTarget(REF_TYPES[r.kind], r.id)
        wanted_refs = sorted({ref for row in unrecorded for ref in subject_refs(row.subject)} - set(by_ref))
        if wanted_refs:
            for ref, pid in self.journal.people_by_ref(wanted_refs).items():
                by_ref[ref] = LinkTarget("person", pid)
        person_ids = sorted({t.crm_id for ts in owners.values() for t in ts if t.crm_type == "person"}
                            | {t.crm_id for t in by_ref.values() if t.crm_type == "person"})
        employer = self._employers(person_ids, refs)
        org_by_domain = self._org_domains(refs) if self.options.link_organisation_by_domain else None

        # addresses per message
        per_row: dict[int, list[str]] = {}
        for addr, ids in watched.items():
            for i in ids:
                per_row.setdefault(i, []).append(addr)

        errors = self.journal.email_errors()
        to_record: list[tuple[SentRow, list[PlannedLink], list[str]]] = []
        for row in unrecorded:
            key = "email:" + row.message_id
            prev = errors.get(key)
            if prev is not None and prev.retry_after is not None and self.now < prev.retry_after:
                continue
            links, matched = targets_for(row, sorted(per_row.get(row.id, ())), owners, by_ref, employer,
                                         org_by_domain, retroactive=row.id not in self._fresh)
            if links:
                to_record.append((row, links, matched))
        self.result.pending = len(unrecorded) - len(to_record)
        self._record(to_record, errors)

        # recorded messages gaining a matching record: extra links (retroactive)
        if recorded_ids:
            rows = self.journal.rows(recorded_ids)
            have = self.journal.linked_targets(recorded_ids)
            extra: list[PlannedLink] = []
            matched_pairs: list[tuple[int, str]] = []
            for rid in recorded_ids:
                row = rows.get(rid)
                if row is None or row.state not in (RECORDED, TOO_LARGE):
                    continue
                links, matched = targets_for(replace(row, subject=""), sorted(per_row.get(rid, ())), owners, {},
                                             employer, None, retroactive=True)
                new = [ln for ln in links if (ln.target.crm_type, ln.target.crm_id) not in have.get(rid, set())]
                extra += new
                matched_pairs += [(rid, a) for a in matched]
            if extra or matched_pairs:
                self.journal.add_links(extra, matched_pairs)

    def _employers(self, person_ids: Sequence[str], refs: Sequence[Reference]) -> dict[str, str | None]:
        known = self.journal.people(person_ids)
        missing = [p for p in person_ids if p not in known]
        if missing:
            orgs_by_name: dict[str, list[str]] = {}
            for r in refs:
                if r.kind is RefKind.ORGANISATION and not r.deleted and r.name:
                    orgs_by_name.setdefault(r.name.strip().lower(), []).append(r.id)
            fresh: list[PersonInfo] = []
            for chunk in _chunks(missing, 500):
                try:
                    recs = self._call("fetch", Kind.PERSON, list(chunk))
                except (AuthError, PrerequisiteError):
                    raise
                except AppError as exc:
                    self.result.issues.append(ItemIssue("people details", f"{exc.title}: {exc.message}",
                                                        retry.retry_after(self.now, 1)))
                    continue
                for rec in recs:
                    raw = rec.raw or {}
                    org = raw.get("employer_link")
                    org_id = str(org) if org not in (None, "", 0, "0") else None
                    if org_id is None:
                        company = str(rec.fields.get("company") or "").strip().lower()
                        hits = orgs_by_name.get(company, []) if company else []
                        org_id = hits[0] if len(hits) == 1 else None
                    name = str(raw.get("name") or " ".join(
                        str(rec.fields.get(f) or "") for f in ("first_name", "last_name")).strip())
                    fresh.append(PersonInfo(rec.id, name, rec.object_ref or "", org_id))
                got = {rec.id for rec in recs}
                fresh += [PersonInfo(pid) for pid in chunk if pid not in got]  # unknown: do not ask again
            if fresh:
                self.journal.save_people(fresh)
                known.update({p.id: p for p in fresh})
        return {pid: (known[pid].organisation_id if pid in known else None) for pid in person_ids}

    @staticmethod
    def _org_domains(refs: Sequence[Reference]) -> dict[str, LinkTarget]:
        by_dom: dict[str, set[str]] = {}
        for r in refs:
            if r.kind is RefKind.ORGANISATION and not r.deleted:
                for e in r.emails:
                    d = domain_of(e)
                    if d:
                        by_dom.setdefault(d, set()).add(r.id)
        return {d: LinkTarget("organisation", next(iter(ids))) for d, ids in by_dom.items() if len(ids) == 1}

    # 4. record ----------------------------------------------------------------------------------
    def _record(self, planned: list[tuple[SentRow, list[PlannedLink], list[str]]],
                errors: Mapping[str, EmailError]) -> None:
        if not planned:
            return
        mids = [row.message_id for row, _l, _m in planned]
        try:
            existing = dict(self._call("find_emails", mids)) if mids else {}
        except (AuthError, PrerequisiteError):
            raise
        except AppError as exc:  # without the dedup check nothing is recorded this time
            self.result.issues.append(ItemIssue("email dedup", f"{exc.title}: {exc.message}",
                                                retry.retry_after(self.now, 1)))
            return
        outcomes: list[Recorded] = []
        create: list[tuple[SentRow, list[PlannedLink], list[str]]] = []
        for row, links, matched in planned:
            crm_id = existing.get(row.message_id)
            if crm_id is not None:
                # Ours if we were in the middle of recording it (crash); otherwise someone else's:
                # adopt it without adding links (they were made with it).
                keep = tuple(links) if row.state == RECORDING else ()
                outcomes.append(Recorded(row.id, str(crm_id), RECORDED, keep, tuple(matched)))
                self.result.adopted += 1
            else:
                create.append((row, links, matched))
        if outcomes:
            self.journal.save_recorded(outcomes)
        done = 0
        for chunk in self._record_batches(create):
            if self._cancelled():
                return
            emails: list[EmailRecord] = []
            ready: list[tuple[SentRow, list[PlannedLink], list[str], str]] = []
            bodies = self._bodies([row.item_id for row, _l, _m in chunk if row.item_id])
            mimes = self._mimes([row for row, _l, _m in chunk])
            for row, links, matched in chunk:
                key = "email:" + row.message_id
                body = bodies.get(row.item_id, "") if row.item_id else ""
                if isinstance(body, NotFound):
                    body = ""  # gone from Sent Items meanwhile: record the headers we have
                elif isinstance(body, (AuthError, PrerequisiteError)):
                    raise body
                elif isinstance(body, AppError):
                    self._issue(key, short_ref(row.message_id), body, errors)
                    continue
                state, body, rfc822 = self._attachments(row, body, mimes)
                if isinstance(rfc822, AppError):
                    self._issue(key, short_ref(row.message_id), rfc822, errors)
                    continue
                emails.append(EmailRecord(
                    message_id=row.message_id, subject=row.subject, from_address=row.sender, to=row.to,
                    cc=row.cc, bcc=row.bcc if self.options.record_bcc else (), sent_at=row.sent_at, body=body,
                    rfc822=rfc822))
                ready.append((row, links, matched, state))
            mimes.clear()  # the records hold what is sent; nothing else keeps a message's MIME
            if not emails:
                continue
            self.journal.mark_state([r.id for r, *_ in ready], RECORDING)
            try:
                results = self._call("record_emails", emails)
            except (AuthError, PrerequisiteError):
                raise
            except AppError as exc:  # whole batch failed (transport): each item backs off
                self.journal.mark_state([r.id for r, *_ in ready], PENDING)
                for row, *_ in ready:
                    self._issue("email:" + row.message_id, short_ref(row.message_id), exc, errors)
                continue
            outs: list[Recorded] = []
            failed: list[int] = []
            ok_keys: list[str] = []
            for (row, links, matched, state), res in zip(ready, results):
                if isinstance(res, AppError):
                    failed.append(row.id)
                    self._issue("email:" + row.message_id, short_ref(row.message_id), res, errors)
                    continue
                outs.append(Recorded(row.id, str(res), state, tuple(links), tuple(matched)))
                ok_keys.append("email:" + row.message_id)
            if failed:
                self.journal.mark_state(failed, PENDING)
            if outs:
                self.journal.save_recorded(outs)
                self.result.emails_created += len(outs)
            if ok_keys:
                self.journal.clear_errors([k for k in ok_keys if k in errors])
            done += len(ready)
            self._progress(done, len(create), "recording sent email")

    # attachments (B35) --------------------------------------------------------------------------
    def _record_batches(self, create: Sequence[Any]) -> Iterable[Sequence[Any]]:
        """Batches of `record_chunk` messages; with attachments kept, also bounded by the MIME
        they will carry (`mime_batch_bytes`), so a batch of large mail never sits in memory at once."""
        if not self.options.attachments:
            return _chunks(create, self.options.record_chunk)
        cap = self.options.max_attachment_mb
        return byte_bounded(create, count=self.options.record_chunk, budget=self.options.mime_batch_bytes,
                            weight=lambda p: 0 if over_cap(p[0].size, cap) else expected_mime_bytes(p[0].size))

    def _mimes(self, rows: Sequence[SentRow]) -> dict[str, bytes | AppError]:
        if not self.options.attachments:
            return {}
        cap = self.options.max_attachment_mb
        return read_mimes(self.mailbox, [r.item_id for r in rows if r.item_id and not over_cap(r.size, cap)])

    def _attachments(self, row: SentRow, body: str,
                     mimes: Mapping[str, bytes | AppError]) -> tuple[str, str, bytes | AppError | None]:
        """(state, body, MIME to send). Without the setting: text only. Over the cap: the
        `too_large` state and a note in the body. An AppError in the third place: the MIME could
        not be read, so the message waits (back-off) rather than being recorded without it."""
        cap = self.options.max_attachment_mb
        if not self.options.attachments:
            return RECORDED, body, None
        if over_cap(row.size, cap):
            return TOO_LARGE, with_note(body, cap), None
        mime = mimes.get(row.item_id) if row.item_id else None
        if mime is None or isinstance(mime, NotFound):
            return RECORDED, body, None  # gone from Sent Items meanwhile: the headers we have
        if isinstance(mime, AppError):
            return RECORDED, body, mime
        if mime_too_big(mime, cap):
            return TOO_LARGE, with_note(body, cap), None
        return RECORDED, body, mime

    def _bodies(self, item_ids: Sequence[str]) -> dict[str, str | AppError]:
        """Bodies read only now, at record time; batched when the mailbox offers `message_bodies`
        (one GetItem per chunk), else one `message_body` call per message."""
        batch = getattr(self.mailbox, "message_bodies", None)
        if batch is not None and item_ids:
            return per_item(batch, item_ids)
        out: dict[str, str | AppError] = {}
        for i in item_ids:
            try:
                out[i] = self.mailbox.message_body(i)
            except (AuthError, PrerequisiteError):
                raise
            except AppError as exc:
                out[i] = exc
        return out

    # 5. links -----------------------------------------------------------------------------------
    def create_links(self) -> None:
        pending = self.journal.pending_links()
        errors = self.journal.email_errors()
        todo = []
        for p in pending:
            prev = errors.get(f"email_link:{p.id}")
            if prev is not None and prev.retry_after is not None and self.now < prev.retry_after:
                continue
            todo.append(p)
        retro = self._retro_ids(todo)
        for chunk in _chunks(todo, self.options.record_chunk):
            if self._cancelled():
                return
            try:
                results = self._call("link_emails", [(p.crm_email_id, p.target) for p in chunk])
            except (AuthError, PrerequisiteError):
                raise
            except AppError as exc:
                for p in chunk:
                    self._issue(f"email_link:{p.id}", f"email link {p.id}", exc, errors)
                continue
            done: list[tuple[int, str]] = []
            for p, res in zip(chunk, results):
                if isinstance(res, AppError):
                    self._issue(f"email_link:{p.id}", f"email link {p.id}", res, errors)
                else:
                    done.append((p.id, str(res)))
                    if p.id in retro:
                        self.result.retroactive_links += 1
            if done:
                self.journal.confirm_links(done)
                self.journal.clear_errors([f"email_link:{i}" for i, _ in done if f"email_link:{i}" in errors])
                self.result.email_links += len(done)

    def _retro_ids(self, todo: Sequence[PendingLink]) -> set[int]:
        return set(self.journal.retroactive_link_ids([p.id for p in todo])) if todo else set()

    def run(self) -> EmailResult:
        if not self.options.enabled:
            return self.result
        if self.options.sync_references:
            self.refresh_references()
        if self._cancelled():
            return self.result
        self.journal.prune_watch(self.now)  # a watch cap (watch_days) ends late linking for old mail
        before = {r.id for r in self.journal.unrecorded()}
        self.ingest()
        self._fresh = {r.id for r in self.journal.unrecorded()} - before
        if self._cancelled():
            return self.result
        self.match_and_record()
        if self._cancelled():
            return self.result
        self.create_links()
        return self.result


def run_email_phase(crm: Any, mailbox: Any, email_journal: EmailJournal, options: EmailOptions, clock: Any,
                    observer: Any = None, cancel: Any = None) -> EmailResult:
    """Design.md 5.1 step 11. Call after the outbox has run (contacts and activities first).

    Counts map onto the cycle summary as `created.crm.emails += result.emails_created` and
    `email_links += result.email_links`; `result.issues` join the summary's errors. Raises only
    fatal errors (AuthError, PrerequisiteError, JournalError); do not call it in dry runs."""
    return EmailSync(crm, mailbox, email_journal, options, clock, observer, cancel).run()


__all__ = [
    "EmailJournal", "EmailOptions", "EmailResult", "EmailSync", "NeverRecord", "PendingLink", "PersonInfo",
    "PlannedLink", "Recorded", "SentRow", "StagedMessage", "classify", "related_block", "run_email_phase",
    "short_ref", "targets_for",
]
