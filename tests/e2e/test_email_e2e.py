"""Sent email recording and linking against both sandboxes with the real connectors in-process
(CrmStore over WorkbooksClient; EwsMailbox over exchangelib or GraphMailbox over httpx, issue 10),
driving run_email_phase directly with EmailStore on a temporary journal file (issue 6)."""
from __future__ import annotations

import json
import urllib.request
from datetime import datetime, timedelta, timezone

import exchangelib
import pytest

from app.connectors.crm import CrmStore, WorkbooksClient
from app.journal.email_store import open_email_store
from app.sandbox import seed
from app.sandbox.run import start_both
from app.sync.emails import EmailOptions, run_email_phase
from tests.fixtures.email_ews import BatchedBodies
from tests.fixtures.graph_sandbox import GraphEnv
from tests.fixtures.mailbox_sandbox import EwsEnv

SEED, PEOPLE = 3, 60


class Clock:
    def now(self) -> datetime:
        return datetime.now(timezone.utc)


@pytest.fixture(params=["ews", "graph"])
def env(tmp_path, request):
    data = seed.build(PEOPLE, SEED)
    boxes = start_both(people=PEOPLE, seed_value=SEED, dataset=data, mailbox_api=request.param)
    crm = CrmStore(WorkbooksClient(boxes.workbooks_url, api_key=boxes.crm.api_key, backoff=0.01, timeout=10.0))
    if request.param == "graph":
        mailbox = GraphEnv(boxes.graph_server, boxes.graph).mailbox(ca_bundle=str(boxes.graph.tls.cert))
    else:
        mailbox = EwsEnv(boxes.ews_server, boxes.ews).mailbox()
    store = open_email_store(tmp_path / "journal.sqlite3")
    try:
        yield boxes, data, crm, mailbox, store
    finally:
        store.close()
        crm.client.close()
        if request.param == "graph":
            mailbox.close()
        exchangelib.close_connections()
        boxes.stop()


def run(env, **opts):
    _boxes, _data, crm, mailbox, store = env
    return run_email_phase(crm, mailbox, store, EmailOptions(**opts), Clock())


def person_id(boxes, index: int) -> int:
    return next(r["id"] for r in boxes.crm.rows("people") if r.get("refcode") == f"REF-{index:06d}")


def crm_email(boxes, message_id: str):
    return next((r for r in boxes.crm.rows("emails") if r.get("message_id") == message_id), None)


def linked(boxes, email_id) -> set[tuple[str, int]]:
    return {(r["resource_type"], int(r["resource_id"])) for r in boxes.crm.rows("email_links")
            if int(r["email_id"]) == int(email_id)}


def crm_requests(boxes) -> int:
    with urllib.request.urlopen(boxes.workbooks_url + "/_sandbox/stats", timeout=5) as resp:
        return int(json.loads(resp.read())["requests"]["total"])


def reset_crm_stats(boxes) -> None:
    req = urllib.request.Request(boxes.workbooks_url + "/_sandbox/stats/reset", data=b"", method="POST")
    urllib.request.urlopen(req, timeout=5).read()


def add_sent(boxes, subject: str, to: str, cc: list[str] | None, message_id: str, sent: datetime) -> None:
    """A message the user sent from another client, in Sent Items of either mailbox sandbox."""
    if boxes.mailbox_api == "graph":
        def addresses(values):
            return [{"emailAddress": {"address": a, "name": a}} for a in values or []]

        me = {"emailAddress": {"name": "Sam Sandbox", "address": boxes.graph.mailbox}}
        stamp = sent.strftime("%Y-%m-%dT%H:%M:%SZ")
        boxes.graph.add_item("message", {
            "subject": subject, "body": {"contentType": "text", "content": f"Body of {subject}"},
            "toRecipients": addresses([to]), "ccRecipients": addresses(cc), "sender": me, "from": me,
            "internetMessageId": message_id, "isDraft": False, "isRead": True,
            "sentDateTime": stamp, "receivedDateTime": stamp}, created=sent)
        return
    boxes.ews.add_item("sentitems", "Message", {
        "Subject": subject, "Body": f"Body of {subject}", "ToRecipients": [to], "CcRecipients": cc,
        "From": ("Sam Sandbox", boxes.ews.mailbox), "InternetMessageId": message_id,
    }, sent=sent, flags=0x1)


def as_utc(value) -> datetime:
    if isinstance(value, str):
        value = datetime.fromisoformat(value.replace("Z", "+00:00"))
    return value if value.tzinfo else value.replace(tzinfo=timezone.utc)


def test_contact_details_address_links_person_and_unknown_address_links_later(env):
    boxes, data, _crm, _mailbox, _store = env
    res = run(env)
    assert not res.issues, res.issues
    # an email sent to a known person's Contact Details address is linked to that person
    who = next(p for p in data.people if p.contact_details_emails)
    msg = next(m for m in data.sent_messages if m.to == (who.contact_details_emails[0],))
    rec = crm_email(boxes, msg.message_id)
    assert rec is not None and rec["status"] == "SENT"
    assert ("Private::Crm::Person", person_id(boxes, who.index)) in linked(boxes, rec["id"])
    # mail to the CRM main addresses is recorded once each, with the employer linked too
    first = data.people[0]
    rec0 = crm_email(boxes, data.sent_messages[0].message_id)
    links0 = linked(boxes, rec0["id"])
    assert ("Private::Crm::Person", person_id(boxes, first.index)) in links0
    assert any(t == "Private::Crm::Organisation" for t, _ in links0)
    known = len(data.sent_messages) - len(data.unknown_addresses)
    assert res.emails_created == known and len(boxes.crm.rows("emails")) == known
    # an email to an unknown address is not recorded ...
    unknown = data.unknown_addresses[0]
    late = next(m for m in data.sent_messages if m.to == (unknown,))
    assert crm_email(boxes, late.message_id) is None
    # ... until the address is added to a person (one outside the user's filters) and the next run
    outsider = next(p for p in data.people if not p.in_my_people)
    boxes.crm.add_contact_email(person_id(boxes, outsider.index), unknown)
    res = run(env)
    assert res.emails_created == 1 and res.retroactive_links >= 1 and not res.issues
    rec = crm_email(boxes, late.message_id)
    assert rec is not None
    assert as_utc(rec["sent_at"]) == late.sent_at  # its original date
    assert ("Private::Crm::Person", person_id(boxes, outsider.index)) in linked(boxes, rec["id"])
    # a second run records nothing new
    before = (len(boxes.crm.rows("emails")), len(boxes.crm.rows("email_links")))
    res = run(env)
    assert res.emails_created == 0 and res.email_links == 0
    assert (len(boxes.crm.rows("emails")), len(boxes.crm.rows("email_links"))) == before


def test_lost_journal_records_nothing_twice(env, tmp_path):
    boxes, data, crm, mailbox, _store = env
    first = run(env)
    assert first.emails_created > 0
    count = len(boxes.crm.rows("emails"))
    fresh = open_email_store(tmp_path / "reinstalled.sqlite3")
    try:
        res = run_email_phase(crm, mailbox, fresh, EmailOptions(), Clock())
    finally:
        fresh.close()
    assert res.emails_created == 0 and res.adopted == first.emails_created
    assert len(boxes.crm.rows("emails")) == count


def test_thousand_sent_emails_matched_with_a_bounded_number_of_crm_requests(env):
    boxes, data, crm, mailbox, store = env
    # EWS bodies read in GetItem batches (the optional `message_bodies`, which Graph has): one
    # GetItem per message costs about 60 ms against the sandbox, which the CRM request bound below
    # does not depend on
    if boxes.mailbox_api == "ews":
        env = (boxes, data, crm, BatchedBodies(mailbox), store)
    run(env)  # the seeded mail first
    start = seed.EPOCH + timedelta(days=40)
    people = data.people[:40]
    for k in range(1000):
        p = people[k % len(people)]
        cc = [f"someone{k % 25}@unknown{k % 5}.example"] if k % 4 == 0 else None
        add_sent(boxes, f"Bulk {k}", p.email, cc, f"<bulk-{k}@example.com>", start + timedelta(minutes=k))
    reset_crm_stats(boxes)
    res = run(env)
    assert not res.issues, res.issues[:3]
    assert res.emails_created == 1000
    requests = crm_requests(boxes)
    print(f"1,000 sent emails: {requests} CRM requests, calls by port method {res.crm_calls}")
    # 10 record batches + ~20 link batches + dedup + owners (3 queries) + references + people: no request per email
    assert requests <= 60, requests
    rec = crm_email(boxes, "<bulk-7@example.com>")
    assert ("Private::Crm::Person", person_id(boxes, people[7].index)) in linked(boxes, rec["id"])
    reset_crm_stats(boxes)
    assert run(env).emails_created == 0
    print(f"second run: {crm_requests(boxes)} CRM requests")
    assert crm_requests(boxes) <= 12  # references deltas + one probe of the watched addresses
