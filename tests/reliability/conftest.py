"""Reliability tests (issue 8 part 3). `soak` variants only run when asked for with `-m soak`."""
from __future__ import annotations

from pathlib import Path

import pytest


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if config.getoption("markexpr", default=""):
        return  # an explicit -m decides
    here = Path(__file__).parent
    keep, drop = [], []
    for item in items:
        mine = here in Path(str(item.path)).parents
        (drop if mine and item.get_closest_marker("soak") else keep).append(item)
    if drop:
        config.hook.pytest_deselected(items=drop)
        items[:] = keep
