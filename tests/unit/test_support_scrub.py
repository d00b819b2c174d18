"""What leaves the machine in a support bundle: no secrets, addresses, server addresses or names."""
from __future__ import annotations

import json
import zipfile

from app.paths import ProfilePaths
from app.support.bundle import collect, write_zip
from app.support.scrub import safe_id, scrub


def test_scrub_removes_secrets_addresses_and_urls():
    text = ("POST https://acme.workbooks.com/crm/people.api?api_key=abc123 failed for jane.doe@acme.test; "
            "Authorization: Bearer eyJhbGciOi.xyz password=hunter22")
    out = scrub(text)
    for gone in ("acme.workbooks.com", "abc123", "jane.doe", "acme.test", "eyJhbGciOi", "hunter22"):
        assert gone not in out
    assert "<email address>" in out and "<address of a server>" in out


def test_safe_id_keeps_ids_and_hides_names():
    assert safe_id("PER-1042") == "PER-1042"
    assert safe_id("5b0e5c1e-3f1a-4c3e-9a57-0d4d3f7a9b10") == "5b0e5c1e-3f1a-4c3e-9a57-0d4d3f7a9b10"
    assert safe_id(12345) == "12345"
    assert safe_id("Jane Doe") == "<item>" and safe_id(None) == ""


def test_an_empty_or_broken_profile_still_gives_a_readable_bundle(tmp_path):
    paths = ProfilePaths(tmp_path)
    paths.config.write_text("[sync\nbroken", encoding="utf-8")
    (tmp_path / "logs").mkdir()
    (tmp_path / "logs" / "connector.log").write_text("sync failed for bob@example.org\n", encoding="utf-8")
    files = collect(paths)
    assert json.loads(files["settings.json"])["configured"] is False
    assert json.loads(files["journal.json"]) == {"exists": False}
    assert "bob" not in files["log.txt"] and "<email address>" in files["log.txt"]
    dest = write_zip(files, tmp_path / "out" / "bundle.zip")
    with zipfile.ZipFile(dest) as zf:
        assert sorted(n.split("/")[-1] for n in zf.namelist()) == sorted(files)
