"""The MailboxPort contract cases of tests/contract/test_mailbox_contract.py, run unchanged
against GraphMailbox over the Graph sandbox. The cases are imported from that module (so they
stay in step with it); only the `harness` fixture is ours."""
from __future__ import annotations

import pytest

from app.domain.records import Kind
from tests.contract.test_mailbox_contract import (  # noqa: F401 - collected here with our harness
    PAGE,
    test_create_then_read_carries_markers_and_category,
    test_foreign_or_tampered_token_is_refused,
    test_markers_are_searchable,
    test_stale_after_a_user_edit_only_for_that_item,
    test_tokens_resume_and_replay_harmlessly,
    test_trash_is_recoverable_and_missing_is_not_an_error,
    test_unshare_keeps_ids_and_share_again_restores_category,
    test_versions_change_on_every_write_and_stale_writes_change_nothing,
)
from tests.fixtures.graph_sandbox import graph_sandbox


class GraphHarness:
    name = "graph"
    PROP = {Kind.PERSON: "jobTitle", Kind.TASK: "title", Kind.MEETING: "location"}

    def __init__(self, env):
        self.env = env
        self.port = env.mailbox(page_size=PAGE)

    def user_edit(self, kind, item_id):
        value = "edited elsewhere"
        if kind is Kind.MEETING:
            value = {"displayName": value}
        return self.env.sandbox.edit_item(item_id, **{self.PROP[kind]: value})

    def trashed_count(self, kind):
        return len(self.env.sandbox.items("deleteditems"))


@pytest.fixture
def harness():
    with graph_sandbox() as env:
        yield GraphHarness(env)
