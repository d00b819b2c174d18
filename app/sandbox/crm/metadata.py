"""Record types the sandbox serves: controllers, class names, fields and datatypes, and the
`metadata/types.api` rows derived from them (workbooks-api.md §3.6, §5, §7.21-23).

Invented names (the API docs do not attest them) are marked INVENTED; clients must read them from
metadata rather than hard-code them.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

LOCATION_PARTS = (
    "email", "alternate_email", "telephone", "alternate_telephone", "mobile", "fax", "street_address",
    "town", "county_province_state", "postcode", "country",
)
ACTIONS = ("index", "create", "update", "destroy")


@dataclass(frozen=True)
class Field:
    name: str
    datatype: str = "string"
    createable: bool = True
    updateable: bool = True
    filterable: bool = True
    nullable: bool = True
    required: bool = False

    @property
    def writable(self) -> bool:
        return self.createable or self.updateable


def ro(name: str, datatype: str = "string") -> Field:
    return Field(name, datatype, createable=False, updateable=False)


@dataclass
class TypeDef:
    key: str  # short key used by the store, e.g. "people"
    controller: str  # e.g. "crm/people"
    class_name: str
    ref_prefix: str | None
    id_start: int
    queue_class: str | None = None  # class of the queue that assigned_to points into
    fields: dict[str, Field] = field(default_factory=dict)
    read_only: bool = False  # queues: listing only
    id_space: str | None = None  # tasks and meetings share the activity id space
    invented: tuple[str, ...] = ()

    def add(self, *fields: Field) -> None:
        for f in fields:
            self.fields[f.name] = f


COMMON = (
    ro("id", "integer"), ro("lock_version", "integer"), ro("type"), Field("name"), ro("descriptor"),
    ro("object_ref"), ro("object_url", "uri"), ro("created_at", "datetime"), ro("created_by", "integer"),
    ro("updated_at", "datetime"), ro("updated_by", "integer"), ro("created_by_user[person_name]"),
    ro("updated_by_user[person_name]"), ro("created_through"), Field("created_through_reference"),
    ro("is_deleted", "boolean"), Field("owner_id", "has_one"), ro("owner[person_name]"),
    ro("_can_read", "boolean"), ro("_can_modify", "boolean"), ro("_can_delete", "boolean"),
    ro("_can_chown", "boolean"), ro("_can_chaccess", "boolean"),
)
QUEUED = (
    Field("assigned_to", "has_one"), ro("assigned_to_name"), ro("queue_entry[queue_id]", "integer"),
    # [UNKNOWN] whether `watched` can be filtered or written; the sandbox allows both, per user.
    Field("watched", "boolean"),
)


def _location(prefix: str, main: bool) -> list[Field]:
    out = [Field(f"{prefix}[{p}]") for p in LOCATION_PARTS]
    if main:
        out.append(Field(f"{prefix}[email_address_undeliverable]", "boolean"))
    return out


def _vdt(name: str) -> list[Field]:
    return [Field(name, "var_date_time"), Field(f"{name}_date", "date"), Field(f"{name}_datetime", "datetime")]


def _build() -> dict[str, TypeDef]:
    types: dict[str, TypeDef] = {}

    def new(key: str, controller: str, class_name: str, prefix: str | None, id_start: int, queue: str | None,
            *fields: Field, **kw: Any) -> TypeDef:
        t = TypeDef(key, controller, class_name, prefix, id_start, queue, **kw)
        t.add(*COMMON)
        if queue:
            t.add(*QUEUED)
        t.add(*fields)
        types[key] = t
        return t

    new("people", "crm/people", "Private::Crm::Person", "PERS-", 100001, "Private::Crm::PersonQueue",
        Field("person_first_name"), Field("person_middle_name"), Field("person_last_name"),
        Field("person_personal_title"), Field("person_salutation"), Field("person_suffix"),
        Field("person_job_title"), Field("person_job_role"), Field("employer_link", "has_one"),
        Field("employer_name"), ro("employer[name]"), ro("main_location_id", "integer"),
        *_location("main_location", True), *_location("home_location", False),
        Field("website", "uri"), Field("linkedin_url", "uri"), Field("party_notes", "text"),
        Field("no_email_soliciting", "boolean"), Field("email_opt_in", "boolean"), Field("refcode"),
        Field("spouse_name"), Field("cf_person_favourite_drink"))
    new("organisations", "crm/organisations", "Private::Crm::Organisation", "ORG-", 200001,
        "Private::Crm::OrganisationQueue",
        Field("industry"), Field("website", "uri"), Field("organisation_category"),
        Field("organisation_company_number"), Field("organisation_num_employees", "integer"),
        Field("organisation_annual_revenue", "currency"), ro("main_location_id", "integer"),
        *_location("main_location", True), Field("refcode"), Field("party_notes", "text"),
        invented=("object_ref prefix ORG-",))
    new("party_locations", "crm/party_locations", "Private::Crm::PartyLocation", "LOC-", 300001, None,
        Field("party_id", "has_one", required=True), ro("party_type"), Field("location_name"),
        *[Field(p) for p in LOCATION_PARTS], Field("preferred_billing", "boolean"),
        Field("preferred_delivery", "boolean"),
        invented=("class name Private::Crm::PartyLocation", "object_ref prefix LOC-"))
    new("sales_leads", "crm/sales_leads", "Private::Crm::SalesLead", "LEAD-", 400001, "Private::Crm::SalesLeadQueue",
        Field("person_lead_party[name]"), Field("person_lead_party[person_first_name]"),
        Field("person_lead_party[person_last_name]"), Field("person_lead_party[main_location[email]]"),
        Field("person_lead_party[main_location[telephone]]"), ro("person_lead_party_id", "integer"),
        Field("org_lead_party[name]"), Field("org_lead_party[main_location[email]]"),
        ro("org_lead_party_id", "integer"), Field("sales_lead_status_type"), Field("record_state"),
        Field("description", "text"))
    new("cases", "crm/cases", "Private::Crm::Case", "CASE-", 500001, "Private::Crm::CaseQueue",
        Field("problem", "text"), Field("contact_person_id", "has_one"), Field("contact_email"),
        Field("case_status_id", "integer"), Field("case_priority_id", "integer"),
        Field("case_type_id", "integer"), Field("case_source_id", "integer"))
    new("opportunities", "crm/opportunities", "Private::Crm::Opportunity", "OPP-", 600001,
        "Private::Crm::OpportunityQueue",
        Field("description", "text"), Field("document_date", "date"), Field("opportunity_contact_ids", "array"),
        Field("opportunity_contact_roles", "array"), Field("opportunity_stage"), Field("party_id", "has_one"),
        Field("amount", "currency"), invented=("object_ref prefix OPP-",))
    activity = (
        Field("description", "text"), Field("activity_type"), Field("activity_priority"), Field("activity_status"),
        Field("primary_contact_id", "has_one"), Field("primary_contact_type"),
        Field("reminder_enabled", "boolean"), Field("reminder_datetime", "datetime"),
        Field("reminder_minutes", "integer"), *_vdt("start"), *_vdt("finish"), *_vdt("due"), *_vdt("started"),
        *_vdt("completed"), Field("due_date", "date"), Field("completed_date", "date"), Field("all_day", "boolean"),
        ro("scheduled_start", "datetime"), ro("scheduled_finish", "datetime"), Field("duration", "integer"),
        Field("location"),
    )
    new("tasks", "activity/tasks", "Private::Activity::Task", "TASK-", 700001, "Private::Activity::ActivityQueue",
        *activity, id_space="activities", invented=("object_ref prefix TASK-",))
    new("meetings", "activity/meetings", "Private::Activity::Meeting", "MTG-", 700001,
        "Private::Activity::ActivityQueue", *activity, id_space="activities", invented=("object_ref prefix MTG-",))
    new("activity_links", "activity/activity_links", "Private::Activity::ActivityLink", None, 800001, None,
        Field("activity_id", "has_one", required=True), Field("activity_type", required=True),
        Field("resource_id", "has_one", required=True), Field("resource_type", required=True))
    new("emails", "email/emails", "Private::Email::Email", "EMAIL-", 900001, None,
        Field("subject"), Field("from_address"), Field("to_addresses", "text"), Field("cc_addresses", "text"),
        Field("bcc_addresses", "text"), Field("sent_at", "datetime"), Field("message_id"),
        Field("status"), Field("rfc822", "text", filterable=False), Field("body", "text", filterable=False),
        ro("attachment_count", "integer"), Field("attachments", "text", createable=False, updateable=False,
                                                 filterable=False),
        invented=("class name Private::Email::Email", "object_ref prefix EMAIL-", "columns subject, sent_at, message_id, body",
                  "read-only columns attachment_count, attachments (JSON list of name, size, content_type parsed "
                  "from rfc822)"))
    new("email_links", "email/email_links", "Private::Email::EmailLink", None, 1000001, None,
        Field("email_id", "has_one", required=True), Field("resource_id", "has_one", required=True),
        Field("resource_type", required=True),
        invented=("controller email/email_links", "class name Private::Email::EmailLink"))
    for i, (key, ctrl, cls) in enumerate((
        ("person_queues", "crm/person_queues", "Private::Crm::PersonQueue"),
        ("organisation_queues", "crm/organisation_queues", "Private::Crm::OrganisationQueue"),
        ("sales_lead_queues", "crm/sales_lead_queues", "Private::Crm::SalesLeadQueue"),
        ("opportunity_queues", "crm/opportunity_queues", "Private::Crm::OpportunityQueue"),
        ("case_queues", "crm/case_queues", "Private::Crm::CaseQueue"),
        ("activity_queues", "activity/activity_queues", "Private::Activity::ActivityQueue"),
    )):
        t = TypeDef(key, ctrl, cls, None, 6 + 10 * i, None, read_only=True)
        t.add(ro("id", "integer"), ro("lock_version", "integer"), ro("name"), ro("queue_type"),
              ro("owner_id", "integer"), ro("type"), ro("is_deleted", "boolean"))
        if key in ("sales_lead_queues", "opportunity_queues"):
            t.invented = (f"controller {ctrl}",)
        types[key] = t
    return types


TYPES: dict[str, TypeDef] = _build()
BY_CONTROLLER: dict[str, TypeDef] = {t.controller: t for t in TYPES.values()}
BY_CLASS: dict[str, TypeDef] = {t.class_name: t for t in TYPES.values()}
QUEUE_TYPE_FOR_CLASS: dict[str, str] = {t.class_name: t.key for t in TYPES.values() if t.read_only}
READ_ONLY_FORMATS = {"datetime", "date", "var_date_time"}


def canonical_field(name: str) -> str:
    """`a[b][c]` (the write spelling) and `a[b[c]]` (the read spelling) both become `a[b[c]]`."""
    if "[" not in name:
        return name
    head, _, rest = name.partition("[")
    parts = [p for p in rest.replace("]", "[").split("[") if p != ""]
    if not parts:
        return head
    inner = parts[-1]
    for p in reversed(parts[:-1]):
        inner = f"{p}[{inner}]"
    return f"{head}[{inner}]"


def types_rows(permissions: dict[str, dict[str, bool]], class_names: list[str] | None) -> list[dict[str, Any]]:
    """Rows of metadata/types.api for one user. Types the user may not index are still listed
    (licensed) but their actions say so."""
    rows = []
    wanted = set(class_names or [])
    for t in TYPES.values():
        if wanted and t.class_name not in wanted:
            continue
        perms = permissions.get(t.key, {})
        actions = [{"name": a, "permitted": bool(perms.get(a, True)) and not (t.read_only and a != "index")}
                   for a in ACTIONS]
        rows.append({
            "id": len(rows) + 1,
            "lock_version": 0,
            "class_name": t.class_name,
            "controller_path": t.controller,
            "name": t.class_name.split("::")[-1],
            "fields": [
                {"name": f.name, "datatype": f.datatype, "is_createable": f.createable and not t.read_only,
                 "is_updateable": f.updateable and not t.read_only, "is_filterable": f.filterable,
                 "is_nullable": f.nullable, "required": f.required}
                for f in t.fields.values()
            ],
            "associations": _associations(t),
            "actions": actions,
            "_can_read": bool(perms.get("index", True)),
            "_can_modify": bool(perms.get("update", True)) and not t.read_only,
            "_can_delete": bool(perms.get("destroy", True)) and not t.read_only,
            "_can_chown": False,
            "_can_chaccess": False,
        })
    return rows


def _associations(t: TypeDef) -> list[dict[str, Any]]:
    out = []
    links = {"employer_link": ("employer", "Private::Crm::Organisation"),
             "contact_person_id": ("contact_person", "Private::Crm::Person"),
             "primary_contact_id": ("primary_contact", "Private::Crm::Person"),
             "party_id": ("party", "Private::Crm::Party"),
             "email_id": ("email", "Private::Email::Email"),
             "activity_id": ("activity", "Private::Activity::Activity")}
    for fk, (name, cls) in links.items():
        if fk in t.fields:
            out.append({"name": name, "class_names": [cls], "datatype": "has_one", "foreign_key_name": fk})
    if t.queue_class:
        out.append({"name": "assigned_to", "class_names": [t.queue_class], "datatype": "has_one",
                    "foreign_key_name": "assigned_to"})
    return out
