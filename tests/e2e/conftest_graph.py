"""End-to-end helpers for the Microsoft Graph backend (imported by tests/e2e/test_graph_e2e.py).

* `graph_sandboxes`: the Workbooks sandbox plus the Graph sandbox (HTTPS, device codes approved
  automatically), seeded like the EWS suite's `sandboxes`.
* `graph_cli`: the command line as a subprocess with no keyring and a minted Graph token in
  $WBC_TEST_GRAPH_TOKEN (the --graph-token-env route for scripts and CI).
* `Mailbox`: one face over both mailbox sandboxes, so a scenario can run on EWS and on Graph.
* `backend` (params "ews", "graph") and `backend_synced`: a scenario written once against the
  `Backend` face (cli, sandboxes, mailbox, configure) runs on each mailbox backend.
* `FileKeyring`: a keyring backend in a JSON file ($WBC_TEST_KEYRING_FILE), so a device-code
  sign-in made by one `configure` process is found by the next `sync` process.
"""
from __future__ import annotations

import json
import os
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from keyring.backend import KeyringBackend

from tests.e2e.conftest import Cli, configure_args

ROOT = Path(__file__).resolve().parents[2]
SHARE_CATEGORY = "Workbooks"


class FileKeyring(KeyringBackend):
    """Secrets in a JSON file named by $WBC_TEST_KEYRING_FILE (tests only: plain text)."""

    priority = 1  # type: ignore[assignment]

    def _path(self) -> Path:
        return Path(os.environ["WBC_TEST_KEYRING_FILE"])

    def _load(self) -> dict[str, str]:
        try:
            return json.loads(self._path().read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return {}

    def get_password(self, service: str, username: str) -> str | None:
        return self._load().get(f"{service}\n{username}")

    def set_password(self, service: str, username: str, password: str) -> None:
        data = self._load()
        data[f"{service}\n{username}"] = password
        self._path().write_text(json.dumps(data), encoding="utf-8")

    def delete_password(self, service: str, username: str) -> None:
        data = self._load()
        data.pop(f"{service}\n{username}", None)
        self._path().write_text(json.dumps(data), encoding="utf-8")


def base_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("WBC_TEST_")}
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT), env.get("PYTHONPATH", "")) if p)
    env.update(extra)
    return env


def graph_configure_args(boxes: Any, *extra: str, token_env: str | None = "WBC_TEST_GRAPH_TOKEN",
                         client_id: bool = False) -> list[str]:
    """configure for the Workbooks sandbox (API key) and the Graph sandbox (its CA bundle)."""
    facts = boxes.connection_facts()
    args = [
        "configure",
        "--workbooks-url", boxes.workbooks_url, "--workbooks-api-key-env", "WBC_TEST_KEY",
        "--mailbox", facts["mailbox"], "--mailbox-api", "graph",
        "--graph-tenant", facts["graph_tenant"], "--graph-authority-host", facts["graph_authority_host"],
        "--graph-url", facts["graph_url"], "--ca-bundle", facts["ca_bundle"],
    ]
    if token_env:
        args += ["--graph-token-env", token_env]
    if client_id:
        args += ["--graph-client-id", facts["graph_client_id"]]
    return [*args, *extra]


@pytest.fixture
def graph_sandboxes():
    from app.sandbox.run import start_both

    boxes = start_both(people=60, seed_value=3, mailbox_api="graph")
    try:
        yield boxes
    finally:
        boxes.stop()


@pytest.fixture
def graph_cli(tmp_path, graph_sandboxes):
    env = base_env(
        WBC_TEST_KEY=graph_sandboxes.crm.api_key,
        WBC_TEST_GRAPH_TOKEN=graph_sandboxes.graph.mint_token(),
        PYTHON_KEYRING_BACKEND="keyring.backends.fail.Keyring",  # CI has no keyring: the token route
    )
    return Cli(tmp_path / "profile", env)


@dataclass
class Mailbox:
    """The mailbox sandbox of either backend, in the terms the scenarios need."""

    boxes: Any

    @property
    def api(self) -> str:
        return "graph" if getattr(self.boxes, "graph", None) is not None else "ews"

    def _items(self, folder: str) -> list[dict[str, Any]]:
        if self.api == "graph":
            name = {"tasks": "defaultList", "calendar": "calendar"}.get(folder, folder)
            return self.boxes.graph.items(name)
        return self.boxes.ews.items(folder)

    def categories(self, item: dict[str, Any]) -> list[str]:
        if self.api == "graph":
            return list(item["data"].get("categories") or [])
        return list(item["props"].get("Categories") or [])

    def shared(self, folder: str = "contacts") -> list[dict[str, Any]]:
        return [i for i in self._items(folder) if SHARE_CATEGORY in self.categories(i)]

    def addresses(self, item: dict[str, Any]) -> list[str]:
        if self.api == "graph":
            return [str(a.get("address", "")).lower() for a in item["data"].get("emailAddresses") or []]
        addrs = item["props"].get("EmailAddresses") or {}
        return [str(v).lower() for v in (addrs.values() if isinstance(addrs, dict) else addrs)]

    def contact_for(self, email: str) -> dict[str, Any]:
        for c in self._items("contacts"):
            if email.lower() in self.addresses(c):
                return c
        raise AssertionError(f"no contact with {email}")

    def item_ids(self, folder: str = "contacts") -> list[str]:
        return [i["id"] for i in self._items(folder)]

    def describe(self, item_id: str) -> dict[str, Any]:
        return (self.boxes.graph if self.api == "graph" else self.boxes.ews).describe(item_id)

    def categories_of(self, item_id: str) -> list[str]:
        return self.categories(self.describe(item_id))

    def trash(self, item_id: str) -> None:
        """The user deletes the item in Outlook: it moves to Deleted Items."""
        if self.api == "graph":
            self.boxes.graph.delete_item(item_id)
        else:
            self.boxes.ews.delete_item(item_id, how="MoveToDeletedItems")

    def hard_delete(self, item_id: str) -> None:
        if self.api == "graph":
            self.boxes.graph.delete_item(item_id, hard=True)
        else:
            self.boxes.ews.delete_item(item_id, how="HardDelete")

    def trashed_with(self, email: str) -> list[dict[str, Any]]:
        """Items in Deleted Items that carry `email`."""
        return [i for i in self._items("deleteditems") if email.lower() in self.addresses(i)]

    def add_contact(self, given: str, surname: str, email: str, *, shared: bool = True) -> str:
        """A contact another client made; returns its id."""
        cats = [SHARE_CATEGORY] if shared else []
        if self.api == "graph":
            return self.boxes.graph.add_item("contact", {
                "givenName": given, "surname": surname, "displayName": f"{given} {surname}", "categories": cats,
                "emailAddresses": [{"name": f"{given} {surname}", "address": email}]})
        return self.boxes.ews.add_item("contacts", "Contact", {
            "GivenName": given, "Surname": surname, "DisplayName": f"{given} {surname}", "Categories": cats,
            "EmailAddresses": {"EmailAddress1": email}})

    def add_meeting(self, subject: str, location: str, start: str, end: str, uid: str, *,
                    shared: bool = True) -> str:
        """A calendar item another client made (times as ISO UTC 'Z'); returns its id."""
        cats = [SHARE_CATEGORY] if shared else []
        if self.api == "graph":
            return self.boxes.graph.add_item("event", {
                "subject": subject, "location": {"displayName": location}, "iCalUId": uid, "categories": cats,
                "start": {"dateTime": start.rstrip("Z"), "timeZone": "UTC"},
                "end": {"dateTime": end.rstrip("Z"), "timeZone": "UTC"}})
        return self.boxes.ews.add_item("calendar", "CalendarItem", {
            "Subject": subject, "Location": location, "UID": uid, "Categories": cats, "Start": start, "End": end})

    def sent(self) -> list[dict[str, Any]]:
        return self._items("sentitems")

    # Contact fields by their canonical names
    _FIELDS = {"job_title": ("JobTitle", "jobTitle"), "company": ("CompanyName", "companyName")}

    def edit(self, item_id: str, **fields: str) -> None:
        index = 1 if self.api == "graph" else 0
        props = {self._FIELDS[k][index]: v for k, v in fields.items()}
        (self.boxes.graph if self.api == "graph" else self.boxes.ews).edit_item(item_id, **props)

    def get(self, item_id: str, name: str) -> Any:
        if self.api == "graph":
            return self.boxes.graph.describe(item_id)["data"].get(self._FIELDS[name][1])
        return self.boxes.ews.describe(item_id)["props"].get(self._FIELDS[name][0])


@dataclass
class Backend:
    """One mailbox backend with the Workbooks sandbox: the scenarios' single face over both."""

    cli: Cli
    boxes: Any

    @property
    def api(self) -> str:
        return self.boxes.mailbox_api

    @property
    def mailbox(self) -> Mailbox:
        return Mailbox(self.boxes)

    @property
    def crm(self) -> Any:
        return self.boxes.crm

    def configure_args(self, *extra: str) -> list[str]:
        return graph_configure_args(self.boxes, *extra) if self.api == "graph" else configure_args(self.boxes, *extra)

    def configure(self, *extra: str) -> subprocess.CompletedProcess:
        return self.cli(*self.configure_args(*extra))


@pytest.fixture(params=["ews", "graph"])
def backend(request) -> Backend:
    if request.param == "graph":
        return Backend(request.getfixturevalue("graph_cli"), request.getfixturevalue("graph_sandboxes"))
    return Backend(request.getfixturevalue("cli"), request.getfixturevalue("sandboxes"))


@pytest.fixture
def backend_synced(backend) -> dict:
    """`backend` configured, after one clean sync; its summary."""
    out = backend.configure()
    assert out.returncode == 0, out.stderr
    code, first = backend.cli.json("sync", "--json")
    assert code == 0, first
    return first
