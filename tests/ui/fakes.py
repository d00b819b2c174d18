"""In-memory stand-ins for the engine, the journal reader and the wizard backend."""
from __future__ import annotations

import threading
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any, Mapping

from app.sync.events import ConflictRaised, CycleSummary, HoldRaised, ItemIssue, Phase, Progress
from app.ui.ports import (
    ActionView,
    ConflictView,
    DatabaseChoice,
    FieldRow,
    HoldView,
    IssueView,
    MailboxCheck,
    RunView,
    SharingCounts,
    StatusSnapshot,
    UnsharedView,
    WorkbooksSignIn,
)
from app.errors import AuthError, PrerequisiteError
from app.journal.email_link_store import EmailLinkView, EmailView, TargetView

NOW = datetime(2026, 11, 25, 9, 0, tzinfo=timezone.utc)


class FakeEngine:
    """run_cycle blocks on `gate` (when given) so tests can act mid-cycle; thread-safe counters."""

    def __init__(self, *, gate: threading.Event | None = None, raises: BaseException | None = None,
                 steps: int = 5, events: tuple[object, ...] = ()) -> None:
        self.gate = gate
        self.raises = raises
        self.steps = steps
        self.events = events
        self.calls: list[dict[str, Any]] = []
        self.entered = threading.Event()
        self.threads: set[str] = set()
        self.cancelled_at: int | None = None
        self.commands: list[tuple[str, tuple[Any, ...]]] = []
        self.closed = False

    def run_cycle(self, *, dry_run=False, allow_mass_delete=False, observer=None, cancel=None) -> CycleSummary:
        self.threads.add(threading.current_thread().name)
        self.calls.append({"dry_run": dry_run, "allow_mass_delete": allow_mass_delete})
        self.entered.set()
        if self.raises is not None:
            raise self.raises
        for event in self.events:
            observer.issue(event)
        for i in range(self.steps):
            if cancel is not None and cancel.cancelled():
                self.cancelled_at = i
                break
            if observer is not None:
                observer.progress(Progress(Phase.EXECUTE, "person", i + 1, self.steps))
            if i == 0 and self.gate is not None:
                assert self.gate.wait(10), "test never opened the gate"
        return CycleSummary(ok=True, dry_run=dry_run, seconds=0.01, finished_at=datetime.now(timezone.utc))

    def resolve_conflict(self, conflict_id, resolution) -> None:
        self.commands.append(("resolve_conflict", (conflict_id, resolution)))

    def decide_hold(self, hold_id, decision) -> None:
        self.commands.append(("decide_hold", (hold_id, decision)))

    def change_email_link(self, change) -> None:
        self.commands.append(("change_email_link", (change,)))

    def close(self) -> None:
        self.closed = True


PERSON_ROWS = (
    FieldRow("mobile_phone", "Mobile phone", "+44 7700 900123", "+44 7700 900000", "+44 7700 900456"),
    FieldRow("job_title", "Job title", "Head of Sales", "Sales Manager", "Sales Manager"),
    FieldRow("business_city", "City", "London", "London", "Manchester"),
)


class FakeJournal:
    def __init__(self) -> None:
        self.open_conflicts = [
            ConflictView("c1", "person", "Jane Smith (PER-1042)", PERSON_ROWS, NOW - timedelta(hours=2)),
            ConflictView("c2", "task", "Call back about renewal (TASK-88)", (
                FieldRow("due_date", "Due date", "2026-11-28", "2026-11-26", "2026-11-30"),), NOW - timedelta(hours=1),
                first_sync=False),
        ]
        self.open_holds = [HoldView("h1", "person", "outlook", "mass_delete", 280, 350,
                                    ("Jane Smith", "John Doe", "Ann Lee"))]
        self.open_issues = [IssueView("PER-2001", "Workbooks refused the record: email address is not valid", 3,
                                      NOW + timedelta(minutes=30), NOW - timedelta(hours=5))]

    def status(self) -> StatusSnapshot:
        return StatusSnapshot(last_sync=NOW - timedelta(minutes=12), last_ok=True,
                              linked={"person": 350, "task": 55, "meeting": 41},
                              conflicts=len(self.open_conflicts), issues=len(self.open_issues),
                              holds=len(self.open_holds), lease_holder="PRIYA-LAPTOP")

    def conflicts(self):
        return list(self.open_conflicts)

    def holds(self):
        return list(self.open_holds)

    def issues(self):
        return list(self.open_issues)

    def history(self, limit: int = 50):
        runs = []
        for i in range(min(limit, 6)):
            started = NOW - timedelta(hours=i)
            runs.append(RunView(f"r{i}", started, 4.2 + i, ok=i != 3, dry_run=False, trigger="schedule" if i else "manual",
                                counts={"created": 2 if i == 0 else 0, "updated": 5 - (i % 3), "linked": i % 2,
                                        "removed": 0, "failed": 1 if i == 3 else 0},
                                actions=(ActionView("person", "Jane Doe (PER-1001)", "updated in Outlook",
                                                    "job title changed in Workbooks"),
                                         ActionView("email", "Proposal (message 3f2a…)", "linked",
                                                    "Jane Doe — address matched her alternate email"))))
        return runs

    def explain(self, query: str) -> str:
        return f"{query}: shared, linked to PER-1042, in the People filter (assigned to you). Last synced 12 minutes ago."

    def emails(self, limit: int = 100):
        jane = TargetView("person", "1001", "Jane Doe", "PER-1001")
        acme = TargetView("organisation", "2001", "Acme Ltd", "ORG-2001")
        return [EmailView(1, "3f2a9c01bd", "<proposal@ourco.test>", "Proposal", NOW - timedelta(hours=3), "recorded",
                          "900001", (EmailLinkView(jane, "address", "matched the address jane.alt@acme.test", "linked",
                                                   True),
                                     EmailLinkView(acme, "employer", "employer of a person the mail went to",
                                                   "linked", True)))][:limit]

    def linkable(self, query: str = "", limit: int = 50):
        records = [TargetView("person", "1001", "Jane Doe", "PER-1001"),
                   TargetView("organisation", "2001", "Acme Ltd", "ORG-2001"),
                   TargetView("case", "5001", "Broken widget", "CASE-12")]
        return [r for r in records if query.lower() in r.label.lower()][:limit]

    def unshared(self):
        return [UnsharedView("person", "Tom Jones tom@jones.test", "outlook_delete", True, NOW - timedelta(days=1),
                             crm_id="PER-7", ews_item_id="AAMk-gone"),
                UnsharedView("task", "Send the quote", "user", False, NOW - timedelta(days=2), ews_item_id="AAMk-task")]


@dataclass
class FakeWizardBackend:
    """Answers instantly; records calls. `missing` lists prerequisites still missing."""

    missing: list[str] = field(default_factory=list)
    refuse_password: bool = False
    lease_holder: str = ""
    calls: list[str] = field(default_factory=list)

    def sign_in_workbooks(self, creds) -> WorkbooksSignIn:
        self.calls.append("sign_in")
        if self.refuse_password and creds.password == "wrong":
            raise AuthError("Workbooks did not accept that user name and password.")
        return WorkbooksSignIn("Priya Patel", (DatabaseChoice("42", "Acme Live"), DatabaseChoice("43", "Acme Test")))

    def check_prerequisites(self, creds) -> tuple[str, ...]:
        self.calls.append("prereq")
        if self.missing:
            raise PrerequisiteError("Workbooks needs changes", missing=tuple(self.missing))
        return ()

    def test_mailbox(self, creds) -> MailboxCheck:
        self.calls.append("mailbox")
        return MailboxCheck(creds.address, "Exchange 2019 (15.2)", self.lease_holder or None,
                            NOW - timedelta(minutes=3) if self.lease_holder else None)

    def preview_counts(self, account, filters: Mapping[str, Any]) -> dict[str, int]:
        self.calls.append("preview")
        base = {"person": 412, "task": 37, "meeting": 12}
        return {k: (350 if (k == "person" and filters[k].name == "custom") else base[k]) for k in filters}

    def sharing_counts(self, account, mailbox) -> SharingCounts:
        self.calls.append("sharing_counts")
        return SharingCounts(existing=83, matching=60)

    def dry_run(self, result) -> CycleSummary:
        self.calls.append("dry_run")
        created = {"crm": {"people": 0, "tasks": 0, "meetings": 0, "emails": 0},
                   "outlook": {"contacts": 290, "tasks": 55, "meetings": 41}}
        return CycleSummary(ok=True, dry_run=True, seconds=1.2, created=created, conflicts=4,
                            plan=({"op": "link", "kind": "person", "count": 60},))


def issue_events():
    return (ItemIssue("PER-9", "refused"), ConflictRaised("c9", "person", "PER-9", ("mobile_phone",)),
            HoldRaised("h9", "person", "outlook", "mass_delete", 280, 350))
