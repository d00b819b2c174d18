"""The layering of design.md section 2: the engine stays pure, only adapters import their library."""
from __future__ import annotations

import ast
import pathlib

import pytest

APP = pathlib.Path(__file__).resolve().parents[2] / "app"

RULES = {  # top-level package -> folders allowed to import it
    "PySide6": ("ui/", "runner/"),
    "exchangelib": ("connectors/ews/",),
    "httpx": ("connectors/crm/", "connectors/graph/"),
    "sqlmodel": ("journal/",),
    "sqlalchemy": ("journal/",),
}
PURE = ("sync/", "domain/")
PURE_ALLOWED_APP = ("app.sync", "app.domain", "app.errors")


def _imports(path: pathlib.Path):
    tree = ast.parse(path.read_text(encoding="utf-8"))
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node, alias.name
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            yield node, node.module


def _modules():
    return sorted(p for p in APP.rglob("*.py"))


@pytest.mark.parametrize("path", _modules(), ids=lambda p: p.relative_to(APP).as_posix())
def test_module_respects_import_rules(path):
    rel = path.relative_to(APP).as_posix()
    problems = []
    for node, name in _imports(path):
        root = name.split(".")[0]
        if root in RULES and not rel.startswith(RULES[root]):
            if rel == "cli.py" and node.col_offset > 0:
                continue  # lazy import inside a function
            problems.append(f"line {node.lineno}: {name}")
        if rel.startswith(PURE):
            if root == "app" and not name.startswith(PURE_ALLOWED_APP):
                problems.append(f"line {node.lineno}: pure module imports {name}")
            if rel.startswith("sandbox/") and root in ("httpx", "exchangelib"):
                problems.append(f"line {node.lineno}: sandbox imports client library {name}")
    assert not problems, f"{rel} breaks design.md import rules: {problems}"


def test_sandbox_never_imports_client_libraries():
    for path in (APP / "sandbox").rglob("*.py"):
        for _node, name in _imports(path):
            assert name.split(".")[0] not in ("httpx", "exchangelib", "requests"), (path, name)
