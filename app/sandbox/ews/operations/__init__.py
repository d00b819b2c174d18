"""EWS operations: each takes (ctx, request element, response messages element)."""
from __future__ import annotations

from .. import attachments
from . import folders, hierarchy, items, misc, sync, write

OPERATIONS = {}
for _mod in (folders, hierarchy, items, sync, write, misc, attachments):
    OPERATIONS.update(_mod.OPERATIONS)
