"""Wording shared by the tray, the status window and notifications (no Qt here)."""
from __future__ import annotations

from datetime import datetime, timezone

KIND_PLURAL = {"person": "contacts", "task": "tasks", "meeting": "meetings", "email": "sent emails",
               "organisation": "organisations", "case": "cases", "opportunity": "opportunities",
               "sales_lead": "sales leads"}
KIND_SINGULAR = {"person": "contact", "task": "task", "meeting": "meeting", "email": "sent email"}
PHASE_TEXT = {
    "preflight": "Checking sign-in and mailbox",
    "resume": "Finishing the last run",
    "ingest_outlook": "Reading Outlook changes",
    "ingest_crm": "Reading Workbooks changes",
    "plan": "Planning changes",
    "execute": "Syncing",
    "email": "Recording sent emails",
    "finish": "Finishing",
}
READING = {"ingest_outlook": "Reading Outlook", "ingest_crm": "Reading Workbooks"}


def plural(n: int, one: str, many: str | None = None) -> str:
    return f"{n} {one if n == 1 else (many or one + 's')}"


def when(moment: datetime | None, now: datetime | None = None) -> str:
    """"09:12" today, "yesterday 17:40", "Mon 23 Nov 08:00" otherwise (local time)."""
    if moment is None:
        return "never"
    local = moment.astimezone() if moment.tzinfo else moment.replace(tzinfo=timezone.utc).astimezone()
    now_local = (now or datetime.now(timezone.utc)).astimezone()
    days = (now_local.date() - local.date()).days
    clock = local.strftime("%H:%M")
    if days == 0:
        return clock
    if days == 1:
        return f"yesterday {clock}"
    if days == -1:
        return f"tomorrow {clock}"
    return local.strftime("%a %d %b ") + clock


def progress_text(phase: str, kind: str, done: int, total: int | None, message: str = "") -> str:
    if kind:
        what = KIND_PLURAL.get(kind, kind)
        prefix = "Syncing" if phase in ("execute", "plan") else PHASE_TEXT.get(phase, "Syncing")
        if phase == "email":
            prefix, what = "Recording", "sent emails"
        elif phase in READING:  # "Reading Outlook meetings", not "Reading Outlook changes meetings"
            prefix = READING[phase]
        count = f" {done}/{total}" if total else (f" {done}" if done else "")
        return f"{prefix} {what}{count}"
    return message or PHASE_TEXT.get(phase, "Syncing")

CONFLICT_POLICY_LABELS = {
    "ask": "Ask me (the conflict waits in the Conflicts window)",
    "crm_wins": "Workbooks wins",
    "outlook_wins": "Outlook wins",
    "newest_wins": "The newest edit wins",
}

UNSHARED_REASONS = {
    "user": "unshared by you",
    "filter": "left the filter",
    "outlook_delete": "removed from Outlook",
    "crm_delete": "deleted in Workbooks after you edited it",
    "wizard": "kept private at setup",
}

DIRECTION_LABELS = {
    "both": "Both ways",
    "to_outlook": "Workbooks → Outlook only",
    "to_workbooks": "Outlook → Workbooks only",
    "off": "Off",
}

KIND_PLURALS = {"person": "Contacts", "task": "Tasks", "meeting": "Meetings"}

LEAVE_FILTER_LABELS = {
    "keep": "Keep the Outlook copy, no longer synced",
    "trash_unchanged": "Move it to Deleted Items if the connector created it and it is unchanged",
}

CRM_DELETE_LABELS = {
    "trash": "Move the Outlook copy to Deleted Items",
    "keep": "Keep the Outlook copy, no longer synced",
}

SCHEDULE_LABELS = {
    "manual": "Only when I click Sync now",
    "15min": "Every 15 minutes",
    "30min": "Every 30 minutes",
    "hourly": "Every hour (recommended)",
    "twice-daily": "Twice a day",
    "daily": "Once a day",
    "weekly": "Once a week",
}
