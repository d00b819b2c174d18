"""Unit tests of CrmStore's wire usage with a scripted MockTransport."""
from __future__ import annotations

from datetime import datetime, timezone

from app.connectors.crm import CrmStore, WorkbooksClient
from app.domain import filters as F
from app.domain.records import HighWater, Kind, NewItem
from tests.fixtures.crmclient_fake import Scripted, js, login_ok, page, values


def make(fake):
    return CrmStore(WorkbooksClient("https://wb.example", username="u@example.com", password="pw-secret",
                                    transport=fake.transport(), sleep=lambda s: None), page_size=2)


def row(i, minute):
    return {"id": i, "lock_version": 1, "updated_at": f"Mon Jan 05 09:{minute:02d}:00 UTC 2026", "is_deleted": False,
            "person_first_name": f"P{i}"}


def test_delta_uses_documented_filters_then_keyset_pages():
    fake = Scripted().add(login_ok(), page([row(1, 0), row(2, 0)], total=3), page([row(3, 1)]))
    st = make(fake)
    pages = list(st.changes_since(Kind.PERSON, HighWater(datetime(2026, 1, 5, 9, 0, tzinfo=timezone.utc))))
    assert [r.id for p in pages for r in p.records] == ["1", "2", "3"]
    assert [p.done for p in pages] == [False, True]
    assert pages[0].high_water == HighWater(datetime(2026, 1, 5, 9, 0, tzinfo=timezone.utc), 2)
    first, second = fake.requests[1][1], fake.requests[2][1]
    assert values(first, "_ff[]") == ["updated_at", "is_deleted", "is_deleted"]
    assert values(first, "_ft[]") == ["ge", "true", "false"]
    assert values(first, "_fc[]") == ["Mon Jan 05 09:00:00 UTC 2026", "", ""]
    assert values(first, "_fm") == ["1 AND (2 OR 3)"]
    assert values(first, "_sort[]") == ["updated_at", "id"] and values(first, "_dir[]") == ["ASC", "ASC"]
    assert "person_first_name" in values(first, "_select_columns[]")
    assert not values(first, "_skip_total_rows")
    assert values(second, "_ff[]") == ["updated_at", "updated_at", "id", "is_deleted", "is_deleted"]
    assert values(second, "_ft[]")[:3] == ["gt", "ge", "gt"] and values(second, "_fc[]")[2] == "2"
    assert values(second, "_fm") == ["(1 OR (2 AND 3)) AND (4 OR 5)"]
    assert values(second, "_skip_total_rows") == ["true"] and values(second, "__skip_total_rows") == ["true"]


def test_delta_skips_rows_already_seen_in_the_marks_second():
    fake = Scripted().add(login_ok(), page([row(1, 0), row(2, 0), row(3, 0)], total=3))
    st = CrmStore(WorkbooksClient("https://wb.example", api_key="K", transport=fake.transport()))
    fake.queue.pop(0)
    pages = list(st.changes_since(Kind.PERSON, HighWater(datetime(2026, 1, 5, 9, 0, tzinfo=timezone.utc), 2)))
    assert [r.id for p in pages for r in p.records] == ["3"]


def test_my_people_resolves_my_queue_and_create_assigns_it():
    fake = Scripted().add(login_ok(), page([]))
    st = make(fake)
    list(st.list_scope(Kind.PERSON, F.my_people()))
    params = fake.requests[1][1]
    assert values(params, "_ff[]") == ["assigned_to", "watched"] and values(params, "_fc[]") == ["6", ""]
    assert values(params, "_fm") == ["or"]
    fake.add(js({"success": True, "data": [{"controller_path": "crm/people", "fields": [
        {"name": "person_first_name", "is_createable": True}, {"name": "assigned_to", "is_createable": True},
        {"name": "created_through_reference", "is_createable": True}]}]}),
        js({"success": True, "affected_objects": [{"id": 9, "lock_version": 0, "person_first_name": "Ann",
                                                     "assigned_to": 6}],
            "affected_object_information": [{"success": True, "errors": [], "warnings": []}]}))
    (rec,) = st.create(Kind.PERSON, [NewItem({"first_name": "Ann", "spouse_name": "Bob"}, "L1")])
    write = fake.requests[-1][1]
    assert values(write, "assigned_to[]") == ["6"] and values(write, "created_through_reference[]") == ["L1"]
    assert not values(write, "spouse_name[]")  # not in this database's metadata: never sent
    assert values(write, "_authenticity_token") == ["tok123456"]
    assert rec.id == "9" and rec.link_id == "L1" and rec.fields["first_name"] == "Ann"


def test_missing_prerequisites_from_metadata():
    types = [{"controller_path": p, "actions": [{"name": a, "permitted": True} for a in ("index", "create", "update", "destroy")]}
             for p in ("crm/people", "crm/party_locations", "activity/tasks", "activity/meetings", "email/emails",
                       "email/email_links", "crm/organisations", "crm/opportunities", "crm/sales_leads")]
    types[2]["actions"][3]["permitted"] = False
    fake = Scripted().add(js({"success": True, "data": types}))
    st = CrmStore(WorkbooksClient("https://wb.example", api_key="K", transport=fake.transport()))
    missing = st.missing_prerequisites()
    assert len(missing) == 2
    assert "Modify Activities" in missing[0] and "Users & Security" in missing[0]
    assert "CRM Cases" in missing[1] and "not available" in missing[1]


def test_unfilterable_watched_degrades_my_people_to_assigned_only():
    fake = Scripted().add(js({"success": True, "data": [{"controller_path": "crm/people", "fields": [
        {"name": "watched", "is_filterable": False}, {"name": "assigned_to", "is_filterable": True}]}]}), page([]))
    st = CrmStore(WorkbooksClient("https://wb.example", api_key="K", transport=fake.transport()))
    st._queues = {"Private::Crm::PersonQueue": 6}
    st.metadata()
    list(st.list_scope(Kind.PERSON, F.my_people()))
    params = fake.requests[-1][1]
    assert values(params, "_ff[]") == ["assigned_to", "id"] and values(params, "_ft[]") == ["eq", "blank"]


def test_queues_by_owner_when_login_has_no_my_queues():
    fake = Scripted().add(login_ok(queues={}), page([{"id": 16, "owner_id": 7, "queue_type": "user"}]))
    st = make(fake)
    assert st.my_queues() == {"Private::Crm::PersonQueue": 16}
    params = fake.requests[1][1]
    assert fake.requests[1][0].url.path == "/crm/person_queues.api"
    assert values(params, "_ff[]") == ["owner_id", "queue_type"] and values(params, "_fc[]") == ["7", "user"]


def test_at_most_five_requests_in_flight():
    import threading
    import time

    lock = threading.Lock()
    state = {"now": 0, "peak": 0}

    def slow(request, params):
        with lock:
            state["now"] += 1
            state["peak"] = max(state["peak"], state["now"])
        time.sleep(0.05)
        with lock:
            state["now"] -= 1
        return page([])

    fake = Scripted()
    fake.default = slow
    client = WorkbooksClient("https://wb.example", api_key="K", transport=fake.transport(), max_in_flight=50)
    threads = [threading.Thread(target=client.read, args=("crm/people.api", [])) for _ in range(12)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(fake.requests) == 12 and state["peak"] == 5
