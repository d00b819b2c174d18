"""state.evolve: dataclasses.replace for the journal's plain values, at a fraction of the cost."""
from __future__ import annotations

from dataclasses import FrozenInstanceError, replace

import pytest

from app.domain.records import Kind, Side
from app.sync.state import Link, OutboxOp, evolve


def test_evolve_gives_what_replace_gives_and_leaves_the_original():
    link = Link("l1", Kind.PERSON, ews_item_id="A", crm_fields={"first_name": "Ada"})
    new = evolve(link, ews_item_id="B", state="creating")
    assert new == replace(link, ews_item_id="B", state="creating")
    assert link.ews_item_id == "A" and new is not link
    op = OutboxOp("o1", "l1", Kind.PERSON, Side.OUTLOOK, "create", {"fields": {}})
    assert evolve(op, state="done", attempts=2) == replace(op, state="done", attempts=2)


def test_evolve_refuses_unknown_fields_and_keeps_values_frozen():
    link = Link("l1", Kind.PERSON)
    with pytest.raises(TypeError, match="no_such"):
        evolve(link, no_such=1)
    with pytest.raises(FrozenInstanceError):
        evolve(link, state="x").state = "y"
