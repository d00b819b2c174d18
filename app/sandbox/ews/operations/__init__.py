"""EWS operations: each takes (ctx, request element, response messages element)."""
from __future__ import annotations

from . import folders, hierarchy, items, misc, sync, write

OPERATIONS = {}
for _mod in (folders, hierarchy, items, sync, write, misc):
    OPERATIONS.update(_mod.OPERATIONS)
