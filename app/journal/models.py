"""SQLModel tables of design.md section 4. Rows never leave app/journal (repo.py converts them)."""
from __future__ import annotations

from datetime import datetime
from typing import Optional

from sqlalchemy import UniqueConstraint
from sqlmodel import Field, SQLModel

SCHEMA_VERSION = 3


class Meta(SQLModel, table=True):
    __tablename__ = "meta"
    key: str = Field(primary_key=True)
    value: str = ""


class Scope(SQLModel, table=True):
    __tablename__ = "scope"
    kind: str = Field(primary_key=True)
    enabled: bool = True
    direction: str = "both"
    filter_json: str = ""
    conflict_policy: str = "ask"
    delete_policy: str = "trash"
    leave_filter_policy: str = "keep"
    paused_reason: Optional[str] = None


class Cursor(SQLModel, table=True):
    __tablename__ = "cursor"
    side: str = Field(primary_key=True)
    name: str = Field(primary_key=True)
    token: Optional[str] = None
    high_water_at: Optional[datetime] = None
    high_water_id: Optional[int] = None
    full_scan_done: bool = False
    progress_done: int = 0
    progress_total: Optional[int] = None
    committed_at: Optional[datetime] = None


class ItemLink(SQLModel, table=True):
    __tablename__ = "item_link"
    __table_args__ = (
        UniqueConstraint("kind", "ews_item_id", name="uq_link_ews"),
        UniqueConstraint("crm_type", "crm_id", name="uq_link_crm"),
    )
    id: str = Field(primary_key=True)
    kind: str = Field(index=True)
    state: str = "shared"
    ews_item_id: Optional[str] = None
    ews_change_key: Optional[str] = None
    ews_hash: Optional[str] = None
    ews_json: Optional[str] = None
    crm_type: str = ""
    crm_id: Optional[str] = None
    crm_lock_version: Optional[str] = None
    crm_updated_at: Optional[datetime] = None
    crm_hash: Optional[str] = None
    crm_json: Optional[str] = None
    base_json: Optional[str] = None
    base_hash: Optional[str] = None
    mapping_version: int = 1
    in_scope: bool = True
    origin: str = ""
    last_synced_at: Optional[datetime] = None
    crm_gone_seen_at: Optional[datetime] = None  # schema 2: pending CRM deletion (B7)
    ews_global_id: Optional[str] = Field(default=None, index=True)  # schema 2: meetings' global meeting id (B3)


class StagedChange(SQLModel, table=True):
    __tablename__ = "staged_change"
    side: str = Field(primary_key=True)
    kind: str = Field(primary_key=True)
    remote_id: str = Field(primary_key=True)
    change: str = "upsert"
    version: str = ""
    in_scope: Optional[bool] = None
    payload_json: Optional[str] = None
    cursor_id: Optional[str] = None
    staged_at: Optional[datetime] = None


class Outbox(SQLModel, table=True):
    __tablename__ = "outbox"
    id: str = Field(primary_key=True)
    seq: int = Field(default=0, index=True)
    link_id: str = Field(index=True)
    kind: str = ""
    side: str = ""
    op: str = ""
    payload_json: str = "{}"
    expected_version: Optional[str] = None
    idempotency_key: str = ""
    state: str = Field(default="pending", index=True)
    hold_id: Optional[str] = Field(default=None, foreign_key="safety_hold.id")
    attempts: int = 0
    last_error: Optional[str] = None
    run_id: Optional[str] = None


class Conflict(SQLModel, table=True):
    __tablename__ = "conflict"
    id: str = Field(primary_key=True)
    link_id: str = Field(index=True)
    kind: str = ""
    conflict_kind: str = ""
    ews_item_id: Optional[str] = None
    crm_id: Optional[str] = None
    ews_json: Optional[str] = None
    crm_json: Optional[str] = None
    base_json: Optional[str] = None
    fields_json: str = "[]"
    candidates_json: str = "[]"
    label: str = ""
    status: str = Field(default="open", index=True)
    resolution: Optional[str] = None
    resolved_json: Optional[str] = None
    created_at: Optional[datetime] = None
    resolved_at: Optional[datetime] = None


class ItemErrorRow(SQLModel, table=True):
    __tablename__ = "item_error"
    key: str = Field(primary_key=True)
    link_id: Optional[str] = None
    side: Optional[str] = None
    remote_id: Optional[str] = None
    kind: str = ""
    op: str = ""
    error_class: str = ""
    title: str = ""
    message: str = ""
    attempts: int = 0
    last_try_at: Optional[datetime] = None
    retry_after: Optional[datetime] = None
    last_try_version: str = ""
    muted: bool = False


class SharingRow(SQLModel, table=True):
    __tablename__ = "sharing"
    key: str = Field(primary_key=True)
    kind: str = ""
    link_id: Optional[str] = None
    ews_item_id: Optional[str] = None
    crm_id: Optional[str] = None
    state: str = "native"
    reason: str = ""
    recreate_blocked: bool = False
    changed_at: Optional[datetime] = None
    label: str = ""


class SafetyHold(SQLModel, table=True):
    __tablename__ = "safety_hold"
    id: str = Field(primary_key=True)
    kind: str = ""
    side: str = ""
    reason: str = ""
    planned: int = 0
    linked: int = 0
    status: str = Field(default="open", index=True)
    created_at: Optional[datetime] = None
    decided_at: Optional[datetime] = None


class SentEmail(SQLModel, table=True):
    __tablename__ = "sent_email"
    id: Optional[int] = Field(default=None, primary_key=True)
    internet_message_id: str = Field(unique=True)
    ews_item_id: Optional[str] = None
    sent_at: Optional[datetime] = None
    subject: str = ""
    state: str = "pending_match"
    crm_email_id: Optional[str] = None


class EmailLink(SQLModel, table=True):
    __tablename__ = "email_link"
    id: Optional[int] = Field(default=None, primary_key=True)
    sent_email_id: int = Field(foreign_key="sent_email.id", index=True)
    target_type: str = ""
    target_id: str = ""
    matched_address: Optional[str] = None
    reason: str = ""
    retroactive: bool = False
    crm_link_id: Optional[str] = None
    # linked | unlinking (the user removed it; the CRM row is still to be deleted) | removed (kept so
    # automatic and late linking never add it again)
    state: str = Field(default="linked", sa_column_kwargs={"server_default": "linked"})
    changed_at: Optional[datetime] = None  # when the user last added or removed it


class UnmatchedAddress(SQLModel, table=True):
    __tablename__ = "unmatched_address"
    id: Optional[int] = Field(default=None, primary_key=True)
    address: str = Field(index=True)
    sent_email_id: Optional[int] = Field(default=None, foreign_key="sent_email.id")
    expires_at: Optional[datetime] = None
    last_probe_at: Optional[datetime] = None


class CrmReference(SQLModel, table=True):
    __tablename__ = "crm_reference"
    crm_type: str = Field(primary_key=True)
    crm_id: str = Field(primary_key=True)
    object_ref: str = Field(default="", index=True)
    name: str = ""
    status: Optional[str] = None
    person_ids_json: str = "[]"
    organisation_id: Optional[str] = None
    emails_json: str = "[]"
    lock_version: Optional[int] = None
    in_scope: bool = True


class LeaseRow(SQLModel, table=True):
    __tablename__ = "lease"
    id: int = Field(default=1, primary_key=True)
    holder_machine_id: str = ""
    holder_host: str = ""
    heartbeat_at: Optional[datetime] = None
    expires_at: Optional[datetime] = None
    remote_version: str = ""


class History(SQLModel, table=True):
    __tablename__ = "history"
    id: Optional[int] = Field(default=None, primary_key=True)
    run_id: str = Field(index=True)
    at: datetime
    link_id: Optional[str] = Field(default=None, index=True)
    kind: str = ""
    direction: str = ""
    action: str = ""
    reason: str = ""
    summary: Optional[str] = None
    before_json: Optional[str] = None
    result: str = "ok"
