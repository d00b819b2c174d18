"""GetItem answers read field by field for the requested fields only (app/connectors/ews/folders.py
`_Reading`) give exactly the items exchangelib's own parsing gives, for the seeded sandbox's
contacts, tasks and meetings as the adapter asks for them, and for an answer carrying elements
nobody asked for (read by the library then). Real sockets, the sandbox's real answers."""
from __future__ import annotations

import copy

from exchangelib.services import GetItem

from app.connectors.ews import folders as folders_module
from app.connectors.ews import mapping
from app.domain.records import Kind, NewItem, Sharing
from tests.unit.test_ews_create_xml import TASK
from tests.unit.test_ews_mapping import FULL_PERSON
from tests.fixtures.mailbox_sandbox import ews_sandbox


def _values(item):
    return {f.name: getattr(item, f.name) for f in type(item).FIELDS}


def test_items_read_as_the_library_reads_them(monkeypatch):
    seen: list[tuple[object, object]] = []
    fast: list[bool] = []
    narrow: list[bool] = []
    ours = folders_module._GetItem._elem_to_obj

    def both(self, elem):
        if narrow:  # as if the server answered with more than was asked for
            self.wanted = frozenset({"_id", "display_name"})
        theirs = GetItem._elem_to_obj(self, copy.deepcopy(elem))  # the library's parsing of the same answer
        reading = folders_module._reading(type(theirs), self.wanted)
        fast.append(reading is not None and reading.covers(elem))
        mine = ours(self, elem)
        seen.append((mine, theirs))
        return mine

    monkeypatch.setattr(folders_module._GetItem, "_elem_to_obj", both)
    with ews_sandbox(dataset=None, people=30, seed=4) as env:
        mailbox = env.mailbox()
        tasks = [dict(TASK, subject=f"Task {n}", status=status) for n, status in enumerate(["not_started", "completed"] * 3)]
        mailbox.create(Kind.TASK, [NewItem(fields=f, link_id=f"T{n}", crm_id=str(n), sharing=Sharing.SHARED)
                                   for n, f in enumerate(tasks)])
        mailbox.create(Kind.PERSON, [NewItem(fields=FULL_PERSON, link_id="P1", crm_id="1", sharing=Sharing.SHARED)])
        for kind in (Kind.PERSON, Kind.TASK):
            folder = mailbox.folders.get(kind)
            ids = [(i, ck) for i, ck in folder.all().values_list("id", "changekey")]
            assert ids
            results = folders_module.fetch_items(folder, ids, mapping.ONLY_FIELDS[kind])
            assert not [r for r in results if isinstance(r, Exception)]
        # an answer with more than was asked for: the items still read as the library reads them
        folder = mailbox.folders.get(Kind.PERSON)
        ids = [(i, ck) for i, ck in folder.all().values_list("id", "changekey")][:5]
        folders_module.fetch_items(folder, ids, ["display_name", "department", "nickname", "birthday"])
        narrow.append(True)
        folders_module.fetch_items(folder, mailbox_ids := [(i, ck) for i, ck in folder.all().values_list("id", "changekey")],
                                   mapping.ONLY_FIELDS[Kind.PERSON])
        assert mailbox_ids
    assert fast.count(True) > 15 and fast.count(False) >= 5  # both readings were taken
    for mine, theirs in seen:
        assert type(mine) is type(theirs)
        assert _values(mine) == _values(theirs)
        assert mine.account is theirs.account


def test_an_answer_with_unasked_elements_is_read_by_the_library():
    from exchangelib import Contact
    from exchangelib.util import create_element

    reading = folders_module._reading(Contact, frozenset({"_id", "display_name"}))
    answer = create_element("t:Contact")
    answer.append(create_element("t:DisplayName"))
    assert reading.covers(answer)
    answer.append(create_element("t:Department"))  # not asked for: the fast reading steps aside
    assert not reading.covers(answer)
