"""Fill a sandbox database from `app.sandbox.seed.Dataset` (deterministic for a given seed)."""
from __future__ import annotations

from datetime import timedelta
from typing import Any

from app.sandbox import seed as S
from app.sandbox.crm import formats as F
from app.sandbox.crm.metadata import TYPES
from app.sandbox.crm.store import Db

QUEUE_KEYS = ("person_queues", "organisation_queues", "sales_lead_queues", "opportunity_queues", "case_queues",
              "activity_queues")


def make_queues(db: Db, users: list[S.SeedUser]) -> None:
    """An Unassigned queue and one personal queue per user, for every queue type."""
    for key in QUEUE_KEYS:
        t = TYPES[key]
        table = db.tables[key]
        rid = db.next_id(t)
        table[rid] = {"id": rid, "lock_version": 0, "name": "Unassigned", "queue_type": "Unassigned",
                      "owner_id": None, "type": t.class_name, "is_deleted": False}
        for u in users:
            if db.id not in u.databases:
                continue
            rid = db.next_id(t)
            table[rid] = {"id": rid, "lock_version": 0, "name": u.name, "queue_type": "user", "owner_id": u.user_id,
                          "type": t.class_name, "is_deleted": False}


def queue_of(db: Db, key: str, user_id: int | None) -> int:
    for row in db.tables[key].values():
        if (user_id is None and row["queue_type"] == "Unassigned") or (row["owner_id"] == user_id and user_id is not None):
            return row["id"]
    raise KeyError((key, user_id))


def populate(db: Db, data: S.Dataset) -> None:
    me, other = data.users[0].user_id, data.users[1].user_id
    q = {key: (queue_of(db, key, me), queue_of(db, key, other), queue_of(db, key, None)) for key in QUEUE_KEYS}
    tz = F.DEFAULT_ZONE

    def assign(key: str, mine: bool, index: int) -> int:
        mine_q, other_q, unassigned = q[key]
        return mine_q if mine else (other_q if index % 2 else unassigned)

    orgs, locs, people = TYPES["organisations"], TYPES["party_locations"], TYPES["people"]
    org_ids: dict[str, int] = {}
    now0 = S.EPOCH - timedelta(days=30)
    for o in data.organisations:
        rec = db.insert(orgs, {"name": o.name, "industry": o.industry, "website": o.website,
                               "organisation_num_employees": 10 + 7 * o.index,
                               "organisation_annual_revenue": f"{(o.index + 1) * 125000:.2f} GBP 0",
                               "assigned_to": assign("organisation_queues", o.assigned_to_me, o.index)}, me, now0)
        loc = db.insert(locs, {"party_id": rec["id"], "party_type": orgs.class_name, "location_name": "Work",
                               "name": "Work", "email": o.email, "town": o.town, "country": "United Kingdom"}, me, now0)
        rec["main_location_id"] = loc["id"]
        org_ids[o.name] = rec["id"]
    person_ids: dict[int, int] = {}
    for p in list(data.people) + list(data.deleted_people):
        deleted = p.index >= len(data.people)
        rid = db.next_id(people)
        loc = db.insert(locs, {"party_id": rid, "party_type": people.class_name, "location_name": "Work",
                               "name": "Work", "email": p.email, "alternate_email": p.alternate_email,
                               "telephone": p.phone, "mobile": p.mobile, "town": p.town,
                               "country": "United Kingdom"}, me, p.updated_at)
        values: dict[str, Any] = {
            "name": p.name, "person_first_name": p.first_name, "person_last_name": p.last_name,
            "person_job_title": p.job_title, "employer_link": org_ids.get(p.company), "employer_name": p.company,
            "main_location_id": loc["id"], "refcode": f"REF-{p.index:06d}",
            "assigned_to": assign("person_queues", p.assigned_to_me, p.index),
            "cf_person_favourite_drink": ("tea ☕", "coffee", "water 💧", None)[p.index % 4],
            "no_email_soliciting": p.index % 9 == 0, "email_opt_in": p.index % 3 == 0,
        }
        if deleted:
            values["is_deleted"] = True
            values["lock_version"] = 1
        db.insert(people, values, me, p.updated_at, rid=rid)
        person_ids[p.index] = rid
        if p.watched:
            db.watched["people"].add((me, rid))
        for k, extra in enumerate(p.contact_details_emails):
            db.insert(locs, {"party_id": rid, "party_type": people.class_name, "location_name": "Other",
                             "name": "Other", "email": extra}, me, p.updated_at)
    for lead in data.sales_leads:
        rec = db.insert(TYPES["sales_leads"], {
            "name": f"{lead.first_name} {lead.last_name} ({lead.company})",
            "person_lead_party[name]": f"{lead.first_name} {lead.last_name}",
            "person_lead_party[person_first_name]": lead.first_name,
            "person_lead_party[person_last_name]": lead.last_name,
            "person_lead_party[main_location[email]]": lead.email,
            "org_lead_party[name]": lead.company, "sales_lead_status_type": lead.status,
            "record_state": "open" if lead.status != "Disqualified" else "closed",
            "assigned_to": assign("sales_lead_queues", lead.assigned_to_me, lead.index),
        }, me, S.EPOCH + timedelta(hours=lead.index))
        if lead.watched:
            db.watched["sales_leads"].add((me, rec["id"]))
    for c in data.cases:
        contact = person_ids.get(c.contact_person) if c.contact_person is not None else None
        email = data.people[c.contact_person].email if c.contact_person is not None else None
        db.insert(TYPES["cases"], {"name": c.name, "problem": c.problem, "contact_person_id": contact,
                                   "contact_email": email, "case_status_id": c.status_id,
                                   "assigned_to": assign("case_queues", c.assigned_to_me, c.index)},
                  me, S.EPOCH + timedelta(hours=c.index))
    for o in data.opportunities:
        ids = [person_ids[i] for i in o.contact_people if i in person_ids]
        org = (data.organisations[o.organisation].name
               if o.organisation is not None and o.organisation < len(data.organisations) else None)
        db.insert(TYPES["opportunities"], {
            "name": o.name, "description": o.description, "document_date": (S.EPOCH + timedelta(days=o.index % 60)).date(),
            "opportunity_contact_ids": "[" + ",".join(map(str, ids)) + "]",
            "opportunity_contact_roles": "[" + ",".join("Decision maker" if i == 0 else "Influencer" for i, _ in enumerate(ids)) + "]",
            "opportunity_stage": o.stage, "party_id": org_ids.get(org) if org else None, "amount": o.amount,
            "assigned_to": assign("opportunity_queues", o.assigned_to_me, o.index),
        }, me, S.EPOCH + timedelta(hours=o.index))
    for a in data.activities:
        t = TYPES["tasks" if a.kind == "task" else "meetings"]
        contact = person_ids.get(a.primary_contact) if a.primary_contact is not None else None
        values = {
            "name": a.name, "description": a.description, "activity_type": "To-do" if a.kind == "task" else "Meeting",
            "activity_status": a.status, "activity_priority": a.priority, "all_day": a.all_day,
            "primary_contact_id": contact, "primary_contact_type": people.class_name if contact else None,
            "assigned_to": assign("activity_queues", a.assigned_to_me, a.index), "reminder_enabled": False,
            "start": F.make_vdt(a.start, not a.all_day, tz) if a.start else None,
            "finish": F.make_vdt(a.finish, not a.all_day, tz) if a.finish else None,
            "due": F.make_vdt(a.due, False, tz) if a.due else None,
            "completed": F.make_vdt(S.EPOCH + timedelta(days=a.index % 20), True, tz) if not a.is_open else None,
        }
        rec = db.insert(t, values, me, S.EPOCH + timedelta(minutes=a.index))
        if a.watched:
            db.watched[t.key].add((me, rec["id"]))
        if contact is not None:
            db.insert(TYPES["activity_links"], {"activity_id": rec["id"], "activity_type": t.class_name,
                                                "resource_id": contact, "resource_type": people.class_name,
                                                "name": None}, me, S.EPOCH + timedelta(minutes=a.index))
