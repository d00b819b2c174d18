"""B24: after real syncs the support bundle holds ids, counts and error texts, and no secret,
address, name or server address; --print shows exactly what the zip holds."""
from __future__ import annotations

import json
import zipfile

from tests.e2e.conftest import configure_args
from tests.e2e.test_sync_e2e import my_people


def test_bundle_after_a_sync_has_counts_and_nothing_identifying(cli, sandboxes, tmp_path):
    assert cli(*configure_args(sandboxes)).returncode == 0
    code, summary = cli.json("sync", "--json")
    assert code == 0
    shown = cli("support-bundle", "--print")
    assert shown.returncode == 0, shown.stderr
    dest = tmp_path / "bundle.zip"
    out = cli("support-bundle", "--output", str(dest))
    assert out.returncode == 0 and str(dest) in out.stdout, out.stderr

    with zipfile.ZipFile(dest) as zf:
        files = {n.split("/")[-1]: zf.read(n).decode() for n in zf.namelist()}
    assert set(files) == {"about.txt", "settings.json", "journal.json", "history.json", "log.txt"}
    for name, text in files.items():
        assert f"===== {name} =====" in shown.stdout and text.strip()[:200] in shown.stdout
    journal = json.loads(files["journal.json"])
    assert journal["quick_check"] == ["ok"]
    assert journal["links"]["person/shared"] == len(my_people(sandboxes))
    history = json.loads(files["history.json"])
    assert history[0]["counts"]["created"] == summary["created"]

    everything = "\n".join(files.values())
    forbidden = [sandboxes.crm.api_key, sandboxes.ews.password, sandboxes.ews.mailbox,
                 sandboxes.workbooks_url, sandboxes.ews_url]
    for person in my_people(sandboxes):
        forbidden += [person["main_location[email]"], person["name"]]
    leaked = [f for f in forbidden if f and f.lower() in everything.lower()]
    assert leaked == []
    assert "@" not in everything.replace("<email address>", "")


def test_bundle_without_a_profile_is_a_clear_error(cli):
    out = cli("support-bundle", "--print")
    assert out.returncode == 2 and "no connector profile" in out.stderr and "Traceback" not in out.stderr
