"""B36 through the public command line against both sandboxes: the links of a recorded email are
listed, one is added and one removed with `link-email` / `unlink-email`, the next sync carries both
to Workbooks' email_links (the email record stays), and a later sync never links the removed one
again. Then, with sent-mail recording switched off, the "Related in Workbooks" block still follows
the related records (issue 6 item 6) and no email request is sent."""
from __future__ import annotations

import json
import urllib.request
from dataclasses import replace

from app import settings as st
from app.domain.notes import split_block
from tests.e2e.conftest import configure_args
from tests.e2e.conftest_graph import Mailbox
from tests.e2e.test_related_e2e import notes

CLASSES = {"person": "Private::Crm::Person", "case": "Private::Crm::Case"}


def live_links(boxes, email_id) -> set[tuple[str, str]]:
    return {(r["resource_type"], str(r["resource_id"])) for r in boxes.crm.rows("email_links")
            if str(r["email_id"]) == str(email_id)}


def crm_operations(boxes) -> dict:
    with urllib.request.urlopen(boxes.workbooks_url + "/_sandbox/stats", timeout=5) as resp:
        return json.loads(resp.read())["requests"]["by_operation"]


def reset_stats(boxes) -> None:
    req = urllib.request.Request(boxes.workbooks_url + "/_sandbox/stats/reset", data=b"", method="POST")
    urllib.request.urlopen(req, timeout=5).read()


def test_links_added_and_removed_by_hand_reach_workbooks_and_stay_removed(cli, sandboxes):
    assert cli(*configure_args(sandboxes, "--email-capture-days", "30")).returncode == 0
    code, first = cli.json("sync", "--json")
    assert code == 0 and first["created"]["crm"]["emails"] > 0, first

    code, listed = cli.json("emails", "--json")
    assert code == 0, listed
    email = next(e for e in listed["emails"] if any(ln["type"] == "person" and ln["state"] == "linked"
                                                    and ln["in_workbooks"] for ln in e["links"]))
    person = next(ln for ln in email["links"] if ln["type"] == "person")
    assert person["reason"] == "address" and person["why"].startswith("matched the address")
    wb_id = email["workbooks_email_id"]
    assert (CLASSES["person"], person["id"]) in live_links(sandboxes, wb_id)
    case = sandboxes.crm.get_record("cases", sandboxes.crm.rows("cases")[0]["id"])

    # add by the case's reference, remove by TYPE:ID; each is only a decision until the next sync
    code, added = cli.json("link-email", "email " + email["ref"], case["object_ref"], "--json")
    assert code == 0 and added["result"] == "added" and added["target"]["id"] == str(case["id"]), added
    code, removed = cli.json("unlink-email", email["message_id"], f"person:{person['id']}", "--json")
    assert code == 0 and removed["result"] == "removing", removed
    assert (CLASSES["person"], person["id"]) in live_links(sandboxes, wb_id)

    code, applied = cli.json("sync", "--json")
    assert code == 0 and applied["errors"] == [] and applied["email_links"] >= 1, applied
    links = live_links(sandboxes, wb_id)
    assert (CLASSES["case"], str(case["id"])) in links and (CLASSES["person"], person["id"]) not in links
    assert any(str(r["id"]) == str(wb_id) for r in sandboxes.crm.rows("emails"))  # the email itself stays

    # the removed link is remembered: automatic and late linking never add it again
    code, again = cli.json("sync", "--json")
    assert code == 0 and again["email_links"] == 0, again
    assert live_links(sandboxes, wb_id) == links
    code, after = cli.json("emails", "--json")
    shown = {(ln["type"], ln["id"]): ln for e in after["emails"] if e["ref"] == email["ref"] for ln in e["links"]}
    assert shown[("case", str(case["id"]))]["why"] == "linked by you" and shown[("case", str(case["id"]))]["in_workbooks"]
    assert shown[("person", person["id"])]["state"] == "removed"
    assert shown[("person", person["id"])]["why"].startswith("removed by you (was: matched the address")
    history = cli("history", "--limit", "3")
    assert f"email {email['ref']}: link to person {person['id']} removed by you" in history.stdout, history.stdout
    assert f"email {email['ref']}: linked to case {case['id']} by you" in history.stdout

    # sent-mail recording off: the related block still follows the CRM, and no email request goes out
    paths_config = cli.home / "config.toml"
    settings = st.load(paths_config)
    st.save(replace(settings, email=replace(settings.email, enabled=False)), paths_config)
    mailbox = Mailbox(sandboxes)
    by_address = {a: c for c in mailbox.shared() for a in mailbox.addresses(c)}
    people = (sandboxes.crm.get_record("people", r["id"]) for r in sandboxes.crm.rows("people"))
    person_row, contact = next((p, by_address[p["main_location[email]"].lower()]) for p in people
                               if (p.get("main_location[email]") or "").lower() in by_address)
    opp = sandboxes.crm.rows("opportunities")[0]
    sandboxes.crm.bump_version("opportunities", opp["id"], name="Renamed with email off",
                               opportunity_contact_ids=f"[{person_row['id']}]", opportunity_stage="Prospecting")
    reset_stats(sandboxes)
    code, off = cli.json("sync", "--json")
    assert code == 0 and off["errors"] == [] and off["created"]["crm"]["emails"] == 0, off
    _user, block = split_block(notes(sandboxes, contact["id"]))
    assert "Opportunity: Renamed with email off" in (block or ""), block
    assert not [op for op in crm_operations(sandboxes) if "email" in op], crm_operations(sandboxes)
