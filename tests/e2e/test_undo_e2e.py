"""Issue 5 / B9 end to end: `configure` + `sync` + edits on both sides + `undo --json`, all as
subprocesses against both sandboxes (real exchangelib and httpx underneath)."""
from __future__ import annotations

from tests.e2e.conftest_graph import Mailbox, backend, backend_synced, graph_cli, graph_sandboxes  # noqa: F401
from tests.e2e.test_sync_e2e import contact_for, my_people, writes


def _title(boxes, contact_id):
    return Mailbox(boxes).get(contact_id, "job_title") or ""


def test_undo_restores_each_side_and_skips_an_item_edited_after_the_run(backend, backend_synced):
    cli, sandboxes, mailbox = backend.cli, backend.boxes, backend.mailbox
    crm_edit, outlook_edit, later = my_people(sandboxes)[:3]
    c_crm = contact_for(sandboxes, crm_edit["main_location[email]"].lower())
    c_out = contact_for(sandboxes, outlook_edit["main_location[email]"].lower())
    c_later = contact_for(sandboxes, later["main_location[email]"].lower())
    old_outlook_title = _title(sandboxes, c_crm["id"])
    old_crm_title = sandboxes.crm.get_record("people", outlook_edit["id"]).get("person_job_title") or ""

    sandboxes.crm.bump_version("people", crm_edit["id"], person_job_title="Chief Tea Officer")
    sandboxes.crm.bump_version("people", later["id"], person_job_title="Keeper of Keys")
    mailbox.edit(c_out["id"], job_title="Head of Biscuits")
    code, summary = cli.json("sync", "--json")
    assert code == 0, summary
    assert summary["updated"]["outlook"]["contacts"] == 2 and summary["updated"]["crm"]["people"] == 1, summary
    assert _title(sandboxes, c_crm["id"]) == "Chief Tea Officer"
    mailbox.edit(c_later["id"], job_title="Keeper of Spare Keys")  # edited after the run

    code, preview = cli.json("undo", "--json", "--dry-run")
    assert code == 0 and preview["dry_run"], preview
    assert len(preview["restored"]) == 2 and len(preview["skipped"]) == 1, preview
    assert _title(sandboxes, c_crm["id"]) == "Chief Tea Officer"  # a dry run changes nothing

    code, result = cli.json("undo", "--json")
    assert code == 0 and result["ok"], result
    assert {(r["side"], r["action"]) for r in result["restored"]} == {("outlook", "restore"), ("crm", "restore")}
    # each side is back as it was before the run
    assert _title(sandboxes, c_crm["id"]) == old_outlook_title
    assert (sandboxes.crm.get_record("people", outlook_edit["id"]).get("person_job_title") or "") == old_crm_title
    # the user's own edits stay where they made them
    assert sandboxes.crm.get_record("people", crm_edit["id"])["person_job_title"] == "Chief Tea Officer"
    assert _title(sandboxes, c_out["id"]) == "Head of Biscuits"
    # the item edited after the run is skipped, listed, and untouched
    (skipped,) = result["skipped"]
    assert skipped["action"] == "changed" and "changed in Outlook since that sync" in skipped["message"], skipped
    assert skipped["item"] == (later.get("object_ref") or skipped["item"])
    assert _title(sandboxes, c_later["id"]) == "Keeper of Spare Keys"
    assert result["conflicts"] == 2  # the restored pairs differ now: they wait for the user

    code, again = cli.json("undo", "--json")
    assert code == 0 and again["nothing_to_undo"] and not again["restored"], again
    code, after = cli.json("sync", "--json")
    # only the edit made after the run travels; the restored pairs are neither re-applied nor reverted
    assert code == 0 and writes(after) == 1 and after["updated"]["crm"]["people"] == 1, after
    assert sandboxes.crm.get_record("people", later["id"])["person_job_title"] == "Keeper of Spare Keys"
    assert _title(sandboxes, c_crm["id"]) == old_outlook_title
    assert sandboxes.crm.get_record("people", crm_edit["id"])["person_job_title"] == "Chief Tea Officer"
    code, history = cli.json("history", "--json")
    assert code == 0
    assert any((run.get("summary") or {}).get("undo_of") for run in history["runs"]), history


def test_undo_before_any_sync_has_nothing_to_undo(backend):
    out = backend.configure()
    assert out.returncode == 0, out.stderr
    out = backend.cli("undo")
    assert out.returncode == 0, out.stderr
    assert "Nothing to undo" in out.stdout


def test_undo_of_creates_on_both_sides_deletes_nothing_for_good(backend, backend_synced):
    """A contact the sync created in Outlook goes to Deleted Items and is not copied again; a
    Person the sync created in Workbooks is kept and its Outlook contact becomes Unshared."""
    cli, sandboxes, mailbox = backend.cli, backend.boxes, backend.mailbox
    queue = sandboxes.crm.my_queues["Private::Crm::PersonQueue"]
    mine = {p["id"] for p in my_people(sandboxes)}
    newcomer = next(sandboxes.crm.get_record("people", r["id"]) for r in sandboxes.crm.rows("people")
                    if r["id"] not in mine and sandboxes.crm.get_record("people", r["id"]).get("main_location[email]"))
    sandboxes.crm.reassign("people", newcomer["id"], queue)
    own = mailbox.add_contact("Undine", "Undo", "undine.undo@example.test")
    code, summary = cli.json("sync", "--json")
    assert code == 0, summary
    assert summary["created"]["outlook"]["contacts"] == 1 and summary["created"]["crm"]["people"] == 1, summary
    email = newcomer["main_location[email]"].lower()
    created = contact_for(sandboxes, email)
    people_before = len(sandboxes.crm.rows("people"))

    code, result = cli.json("undo", "--json")

    assert code == 0 and result["ok"] and not result["skipped"], result
    assert sorted((r["side"], r["action"]) for r in result["restored"]) == [("outlook", "trash"), ("outlook", "unshare")]
    assert created["id"] not in mailbox.item_ids("contacts")
    assert mailbox.trashed_with(email)
    assert len(sandboxes.crm.rows("people")) == people_before  # the Person made from Undine stays
    assert "Workbooks" not in mailbox.categories_of(own)

    code, after = cli.json("sync", "--json")
    assert code == 0 and writes(after) == 0, after  # neither copied again nor re-shared
