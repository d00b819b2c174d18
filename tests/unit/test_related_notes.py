"""app/sync/related_notes.py: which contacts get their "Related in Workbooks" block (re)written,
and how a run settles the results (ChangeKey stamped on the link, digest remembered, stale skipped)."""
from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timezone

from app.domain.records import Kind, Reference, RefKind, Stamp
from app.errors import StaleVersion, TransientError
from app.sync.related_notes import block_digest, plan_blocks, refresh_related_notes
from app.sync.state import SHARED, Link

NOW = datetime(2026, 11, 25, 12, tzinfo=timezone.utc)
REFS = [
    Reference(RefKind.ORGANISATION, "1", "ORG-1", "Acme Ltd"),
    Reference(RefKind.OPPORTUNITY, "2", "OPP-2", "Big deal", status="Proposal", person_ids=("9",)),
]


def link(crm_id: str, item: str = "", company: str | None = None, state: str = SHARED) -> Link:
    return Link(id=f"link-{crm_id}", kind=Kind.PERSON, state=state, ews_item_id=item or f"item-{crm_id}",
                ews_change_key="ck1", crm_id=crm_id, crm_fields={"company": company} if company else {})


def test_new_blocks_are_written_and_unchanged_ones_skipped():
    links = [link("9"), link("8", company="Acme Ltd"), link("7")]
    todo = plan_blocks(links, REFS, {}, {})
    assert [(ln.crm_id, "Big deal" in block, "Acme Ltd" in block) for ln, block, _ in todo] == [
        ("9", True, False), ("8", False, True)]  # 7 has nothing related: no write
    written = {ln.crm_id: (ln.ews_item_id, digest) for ln, _b, digest in todo}
    assert plan_blocks(links, REFS, {}, written) == []


def test_the_organisation_comes_from_the_employer_link_before_the_name():
    (only,) = plan_blocks([link("9", company="Someone Else")], REFS, {"9": "1"}, {})
    assert "Organisation: Acme Ltd (ORG-1)" in only[1]


def test_a_block_that_empties_is_removed_once_and_a_recreated_item_without_one_is_left_alone():
    digest = block_digest("old text")
    (gone,) = plan_blocks([link("7")], REFS, {}, {"7": ("item-7", digest)})
    assert gone[1] == ""  # the connectors drop the markers
    assert plan_blocks([link("7", item="new-item")], REFS, {}, {"7": ("item-7", digest)}) == []
    assert plan_blocks([link("9", state="unshared")], REFS, {}, {}) == []


class Mailbox:
    def __init__(self, results):
        self.results, self.calls = results, []

    def update_many(self, kind, updates):
        self.calls.append(list(updates))
        return [self.results[u.id](u) for u in updates]


class Journal:
    def __init__(self, links):
        self._links, self.written = links, []

    def links_by_id(self, ids):
        return {ln.id: ln for ln in self._links if ln.id in ids}

    def write(self, batch):
        self.written.extend(batch.links)


class Store:
    def __init__(self, links=()):
        self.saved, self.links = [], list(links)

    def shared_contacts(self):
        return self.links

    def people(self, ids):
        return {}

    def references(self):
        return REFS

    def related_written(self, ids):
        return {}

    def save_related_written(self, rows):
        self.saved.extend(rows)


def test_one_batch_call_stamps_the_new_change_key_and_skips_stale_and_failed_items():
    links = [link("9"), link("8", company="Acme Ltd"), Link(id="link-6", kind=Kind.PERSON, ews_item_id="item-6",
                                                             ews_change_key="ck1", crm_id="6",
                                                             crm_fields={"company": "Acme Ltd"})]
    mailbox = Mailbox({
        "item-9": lambda u: Stamp(u.id, "ck2"),
        "item-8": lambda u: StaleVersion("changed meanwhile", ref=u.id),
        "item-6": lambda u: TransientError("busy", ref=u.id),
    })
    full = [replace(ln, crm_fields={**ln.crm_fields, "job_title": "kept"}, base={"job_title": "kept"}) for ln in links]
    journal, store = Journal(full), Store(links)
    res = refresh_related_notes(mailbox, journal, store, NOW)
    assert len(mailbox.calls) == 1 and all(u.changed == frozenset() and u.related for u in mailbox.calls[0])
    assert (res.written, res.stale, len(res.issues)) == (1, 1, 1)
    assert [(ln.crm_id, ln.ews_change_key) for ln in journal.written] == [("9", "ck2")]
    assert journal.written[0].base == {"job_title": "kept"}  # the full link is written back, not the light row
    assert [row[:2] for row in store.saved] == [("9", "item-9")]


def test_shared_contacts_reads_the_light_rows_from_the_journal(tmp_path):
    from app.journal.email_store import EmailStore
    from app.journal.repo import open_journal
    from app.sync.state import Batch

    journal = open_journal(tmp_path / "journal.sqlite3")
    try:
        journal.write(Batch(links=[
            link("9", company="Acme Ltd"),
            Link(id="link-8", kind=Kind.PERSON, ews_item_id="item-8", ews_change_key="ck", crm_id="8",
                 crm_fields={}, base={"company": "Base Co"}),
            link("7", state="unshared"),
            Link(id="task-1", kind=Kind.TASK, ews_item_id="t1", crm_id="1"),
        ]))
        got = {ln.id: (ln.ews_item_id, ln.ews_change_key, ln.crm_id, dict(ln.crm_fields or {}))
               for ln in EmailStore(journal.db).shared_contacts()}
        assert got == {"link-9": ("item-9", "ck1", "9", {"company": "Acme Ltd"}),
                       "link-8": ("item-8", "ck", "8", {"company": "Base Co"})}
    finally:
        journal.close()
