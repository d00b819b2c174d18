"""The MailboxPort contract cases of tests/contract/test_mailbox_contract.py, run unchanged
against GraphMailbox over the Graph sandbox. Every `test_*` of that module is collected here too
(so new cases apply to Graph without edits); only the `harness` fixture is ours."""
from __future__ import annotations

import pytest

from app.domain.records import Kind
import tests.contract.test_mailbox_contract as _contract
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

    def add_sent(self, message_id, to, sent_at, body):
        stamp = sent_at.strftime("%Y-%m-%dT%H:%M:%SZ")
        return self.env.sandbox.add_item("message", {
            "subject": "Hello", "body": {"contentType": "text", "content": body}, "internetMessageId": message_id,
            "toRecipients": [{"emailAddress": {"address": to}}], "sentDateTime": stamp, "isDraft": False,
            "from": {"emailAddress": {"name": "Me", "address": "user@example.com"}}}, created=sent_at)

    def user_delete_sent(self, item_id):
        self.env.sandbox.delete_item(item_id)


# Every case of the shared suite, present and future, collected here with our harness.
globals().update({name: case for name, case in vars(_contract).items() if name.startswith("test_") and callable(case)})
PAGE = _contract.PAGE


@pytest.fixture
def harness():
    with graph_sandbox() as env:
        yield GraphHarness(env)
