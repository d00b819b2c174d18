"""SqlJournal: the JournalPort implementation. Rows stay here; dataclasses of app.sync.state leave.

Open with `open_journal(path)`. Every `write(batch)` is one transaction, so cursors commit together
with the staged changes (or links) they cover.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from collections import OrderedDict
from itertools import islice
import sys
import uuid
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator, Mapping, Sequence

from sqlalchemy import delete, func, text, update
from sqlmodel import Session, select

from app.domain.codec import crm_from_dict, crm_to_dict, outlook_from_dict, outlook_to_dict
from app.domain.records import Kind, Side
from app.errors import JournalError, UsageError
from app.journal import bulk, json_text, models as m
from app.journal.db import Database, open_database
from app.sync.state import (
    CANCELLED,
    DONE,
    FAILED,
    HELD,
    IN_FLIGHT,
    PENDING,
    Batch,
    Conflict,
    HistoryEntry,
    Hold,
    ItemErrorRec,
    KindState,
    Link,
    OutboxOp,
    SharingRec,
    Staged,
    evolve,
)


SEGMENT = 500
# Rows up to which a batch is applied whole: a settled chunk of 100 items is about 600 rows (done
# marks, links, history, sharing, cleared errors, the next chunk's in-flight marks); in segments it
# took some eight passes of _apply_rows, each with its own session work.
WHOLE_BATCH_ROWS = 4 * SEGMENT
FINISHED = (DONE, CANCELLED, FAILED)
TEXTS_KEPT = 2 * SEGMENT  # snapshot texts one write keeps for its payloads and history (see _Texts)
READ_TEXTS_KEPT = 1000  # links whose read snapshot texts are kept for their write-back (a few chunks)
# An outbox op's state change: the columns besides those _same_but_state finds unchanged (the
# indexed seq and link_id among them, whose indexes an UPDATE naming them would rewrite).
OUTBOX_STATE_SQL = ("UPDATE outbox SET state = ?, attempts = ?, last_error = ?, run_id = ?, hold_id = ?, "
                    "expected_version = ? WHERE id = ?")
HISTORY_DAYS = 30  # history rows are kept this long (design.md section 4)
UNDO_DAYS = 7  # ... and their before_json this long: how far "Undo last sync" reaches
# Batch sections in the order _apply_rows writes them.
SECTIONS = ("stage", "unstage", "unstage_if_version", "holds", "drop_links", "links", "gone_seen", "outbox", "conflicts",
            "clear_errors", "errors", "sharing", "history")


def _same_but_state(stored: OutboxOp | None, op: OutboxOp) -> bool:
    """`op` differs from the stored row it was read as (or last written as) in OUTBOX_STATE_SQL's
    columns at most: the same payload object (its text is unchanged), the same target and order."""
    return (stored is not None and stored.payload is op.payload and stored.link_id == op.link_id
            and stored.kind is op.kind and stored.side is op.side and stored.op == op.op
            and op.seq in (0, stored.seq))


def _segments(b: Batch) -> Iterable[Batch]:
    """The batch in parts of SEGMENT rows, section by section in SECTIONS' order, except that
    the links and the outbox ops go a segment of each in turn: a plan's ops follow its links
    (by at most a few hundred), so an op's payload finds the text of its link's snapshots
    among the latest ones made (_Texts). The outbox table does not refer to the links, and
    the ops keep their order (their seqs are given in it)."""
    yield Batch(meta=dict(b.meta), cursors=list(b.cursors))
    for name in SECTIONS:
        if name == "outbox":
            continue  # with the links
        rows = getattr(b, name)
        for i in range(0, max(len(rows), len(b.outbox) if name == "links" else 0), SEGMENT):
            if rows[i:i + SEGMENT]:
                yield Batch(**{name: list(rows[i:i + SEGMENT])})
            if name == "links" and b.outbox[i:i + SEGMENT]:
                yield Batch(outbox=list(b.outbox[i:i + SEGMENT]))


def _rows_by_id(s: Session, table: Any, ids: Sequence[str], chunk: int = bulk.IN_CHUNK) -> list[Any]:
    """Plain rows of `table` with these ids (absent ids are left out), one query per chunk."""
    want = list(dict.fromkeys(ids))
    out: list[Any] = []
    conn = s.connection()
    for i in range(0, len(want), chunk):
        part = want[i:i + chunk]
        out.extend(bulk.select_rows(conn, table, f"id IN {bulk.in_list(len(part))}", part))
    return out


_encode = json_text.encode  # json.dumps(value, sort_keys=True, default=str)
_encode_unsorted = json_text.encode_unsorted  # staged records' (see _staged_values)


def _dumps(value: Any) -> str | None:
    return None if value is None else _encode(value)


SHARED_TEXT = 32  # values up to this long are shared too (countries, states, types, empty-ish values)


def _interned(obj: dict[str, Any]) -> dict[str, Any]:
    return {sys.intern(k): (sys.intern(v) if v.__class__ is str and len(v) <= SHARED_TEXT else v)
            for k, v in obj.items()}


def _loads(text_: str | None) -> Any:
    """JSON of a row. Object keys and short values are interned: json makes fresh strings for every
    document, and tens of thousands of records with the same few dozen field names (and many
    repeated short values) loaded at once (a first sync's staged records, every link's field
    snapshots) spent much of their memory on copies of them."""
    return None if text_ is None else json.loads(text_, object_hook=_interned)


_UNSET = object()  # a row's JSON not decoded yet
_KINDS = {k.value: k for k in Kind}
_SIDES = {sd.value: sd for sd in Side}


def _kind(value: str) -> Kind:
    """Kind(value), by a dict lookup first: calling an Enum costs about a microsecond, and a big
    read makes one per row (an unknown value still raises Kind's own error)."""
    return _KINDS.get(value) or Kind(value)


def _side(value: str) -> Side:
    return _SIDES.get(value) or Side(value)


def _loads_many(texts: Sequence[str | None]) -> list[Any]:
    """The values of many rows' JSON texts (None stays None), decoded as one document: json makes
    each object key once per document, so the values share their field names as _loads's
    interning would, at C speed (about a third of _loads's CPU for outbox payloads; the
    repeated short values are not shared, about 8 % more memory there). A damaged text is
    decoded alone, so its error is the one a single read gives."""
    present = [t for t in texts if t is not None]
    values: Any = []
    if present:
        try:
            values = json.loads("[" + ",".join(present) + "]")
        except ValueError:
            pass
        if values.__class__ is not list or len(values) != len(present):
            values = [json.loads(t) for t in present]
    it = iter(values)
    return [None if t is None else next(it) for t in texts]


def _interned_values(value: Any) -> Any:
    """`value` (decoded JSON) with its short text values interned, as _loads does: _loads_many
    shares the keys already, and a plan's ten thousand staged records (or a cycle's links)
    repeat the same countries, states and types many times."""
    todo = [value]
    intern = sys.intern
    while todo:
        v = todo.pop()
        if v.__class__ is dict:
            for k, item in v.items():
                if item.__class__ is str:
                    if len(item) <= SHARED_TEXT:
                        v[k] = intern(item)
                elif item.__class__ is dict or item.__class__ is list:
                    todo.append(item)
        elif v.__class__ is list:
            for i, item in enumerate(v):
                if item.__class__ is str:
                    if len(item) <= SHARED_TEXT:
                        v[i] = intern(item)
                elif item.__class__ is dict or item.__class__ is list:
                    todo.append(item)
    return value


def _chunks(rows: Iterable[Any], n: int) -> Iterator[list[Any]]:
    it = iter(rows)
    while chunk := list(islice(it, n)):
        yield chunk


DECODE_ROWS = 200  # rows whose JSON texts are decoded as one document (_loads_many)


def _utc(value: datetime | None) -> datetime | None:
    if value is None:
        return None
    return value.replace(tzinfo=timezone.utc) if value.tzinfo is None else value


def _naive(value: datetime | None) -> datetime | None:
    """Aware UTC for storage (SQLModel refuses naive datetimes)."""
    if value is None:
        return None
    return value.astimezone(timezone.utc) if value.tzinfo else value.replace(tzinfo=timezone.utc)


# --- row <-> value conversions -------------------------------------------------------------------

def _snapshots_from_json(ews: str | None, crm: str | None, base: str | None,
                         decode: Callable[[str], Any]) -> tuple[Any, Any, Any]:
    """A link's field snapshots. After a sync the three texts are usually equal: an equal text is
    decoded once and its snapshots share the one dict (nothing mutates snapshots; the planner
    shares them the same way), which also makes writing them back cheap (_same_json)."""
    ews_fields = None if ews is None else decode(ews)
    crm_fields = None if crm is None else ews_fields if crm == ews else decode(crm)
    if base is None:
        return ews_fields, crm_fields, None
    return ews_fields, crm_fields, crm_fields if base == crm else ews_fields if base == ews else decode(base)


def link_from_row(r: m.ItemLink, decode: Callable[[str], Any] | None = None) -> Link:
    """The link of a row; `decode` (JSON text -> value) defaults to the interning one."""
    ews_fields, crm_fields, base = _snapshots_from_json(r.ews_json, r.crm_json, r.base_json, decode or _loads)
    return Link(
        id=r.id, kind=_kind(r.kind), state=r.state, ews_item_id=r.ews_item_id, ews_change_key=r.ews_change_key,
        ews_hash=r.ews_hash, ews_fields=ews_fields, crm_id=r.crm_id, crm_lock_version=r.crm_lock_version,
        crm_hash=r.crm_hash, crm_fields=crm_fields, crm_updated_at=_utc(r.crm_updated_at),
        base=base, base_hash=r.base_hash, mapping_version=r.mapping_version, in_scope=r.in_scope,
        origin=r.origin, last_synced_at=_utc(r.last_synced_at), crm_gone_seen_at=_utc(r.crm_gone_seen_at),
        ews_global_id=r.ews_global_id,
    )


_PLAIN_VALUES = frozenset({str, int, bool, type(None)})
_STR = frozenset({str})
_JSON_SCALARS = frozenset({str, int, bool, float, type(None)})
_JSON_CONTAINERS = frozenset({dict, list})
_JSON_TYPES = _JSON_SCALARS | _JSON_CONTAINERS


def _same_json(a: Any, b: Any) -> bool:
    """True when two field snapshots surely encode to the same JSON text: the same object, or
    equal dicts with text keys and values of the same plain types (1 == 1.0 == True, yet each
    encodes differently; a float or nested value is encoded again rather than reasoned about)."""
    if a is b:
        return True
    if type(a) is not dict or type(b) is not dict or a != b:
        return False
    types = list(map(type, a.values()))
    return (types == list(map(type, map(b.__getitem__, a)))  # b's values in a's key order
            and _PLAIN_VALUES.issuperset(types) and _STR.issuperset(map(type, a)))


def _seq(op: OutboxOp) -> int:
    return op.seq


def _decodes_as_itself(value: Any, seen: set[int] | None = None) -> bool:
    """True when decoding `value`'s JSON gives an equal value of the very same types: only dicts
    with text keys, lists and plain scalars (a tuple comes back a list, a date a string). Shared
    snapshots inside one payload are looked at once; a flat one is judged by its set of types."""
    kind = type(value)
    if kind is dict:
        if not _STR.issuperset(map(type, value)):
            return False
        values: Any = value.values()
    elif kind is list:
        values = value
    else:
        return kind in _JSON_SCALARS
    types = set(map(type, values))
    if types <= _JSON_SCALARS:
        return True
    if not types <= _JSON_TYPES:
        return False
    seen = set() if seen is None else seen
    for v in values:
        if type(v) in _JSON_CONTAINERS and id(v) not in seen:
            seen.add(id(v))
            if not _decodes_as_itself(v, seen):
                return False
    return True


class _Texts:
    """JSON texts of the field snapshots one write encodes (or the executor's chunk was read
    from), by object: the planner and the executor put the same snapshot dict in a link, its
    outbox payload (a create's there twice, as its fields and its base) and its history entry,
    and the text is made once for all of them."""

    def __init__(self, seeds: Iterable[tuple[Any, str]] = ()):
        self._by_id: OrderedDict[int, tuple[Any, str]] = OrderedDict(
            (id(obj), (obj, t)) for obj, t in seeds if type(obj) is dict)

    def remember(self, obj: Any, text_: str) -> None:
        # held here, so its id is not reused while the write lasts; a first sync's plan writes
        # tens of thousands of links in one transaction, and all their texts at once would raise
        # the sync's peak memory: the latest TEXTS_KEPT are kept (a plan's links and their
        # outbox ops are written a segment each in turn, see _segments)
        if type(obj) is dict:
            by_id = self._by_id
            by_id[id(obj)] = (obj, text_)
            if len(by_id) > TEXTS_KEPT:
                by_id.popitem(last=False)

    def known(self, obj: Any) -> str | None:
        hit = self._by_id.get(id(obj))
        return hit[1] if hit is not None and hit[0] is obj else None

    def dumps(self, value: Mapping[str, Any]) -> str:
        """_encode(value), its top-level snapshot values encoded once each: a known text is
        reused, and a snapshot there under several keys (a create's fields and base) is
        encoded for the first. Each stands in the encoding as a mark: with sorted keys the marks
        come in the order of their keys, and the texts replace them in turn (should the mark be
        in the text elsewhere as well, the value is simply encoded)."""
        if type(value) is not dict:
            value = dict(value)
        swaps: dict[Any, str] = {}
        first: dict[int, Any] = {}  # id of a snapshot not known -> the key it is under first
        for k, v in [kv for kv in value.items() if type(kv[1]) is dict and kv[1]]:
            t = self.known(v)
            if t is None:
                k0 = first.setdefault(id(v), k)
                if k0 == k:
                    continue  # once so far: encoded in place unless seen again
                t = _encode(v)
                self.remember(v, t)
                swaps[k0] = t
            swaps[k] = t
        if not swaps:
            return _encode(value)
        parts = _encode({**value, **dict.fromkeys(swaps, _MARK)}).split(_MARK_JSON)
        if len(parts) != len(swaps) + 1:
            return _encode(value)
        out = [parts[0]]
        for k, part in zip(sorted(swaps), parts[1:]):
            out += (swaps[k], part)
        return "".join(out)


_MARK = "\x00"  # stands in for a spliced text (_Texts.dumps)
_MARK_JSON = json.dumps(_MARK)


def _snapshots_json(snapshots: Sequence[Mapping[str, Any] | None], known: Sequence[tuple[Any, str]] = (),
                    texts_: _Texts | None = None) -> list[str | None]:
    """JSON of a link's field snapshots. After a sync they are mostly equal (the content written
    is the content last synced and the new base), and equal to what the link held before: an
    equal one reuses the text already made, or the stored text `known` was decoded from."""
    texts: list[str | None] = []
    made: list[tuple[Any, str]] = list(known)
    if texts_ is not None:
        for obj, t in known:
            texts_.remember(obj, t)  # the link's history entry may hold one of these
    for snap in snapshots:
        if snap is None:
            texts.append(None)
            continue
        # the same object first (the executor keeps one dict for equal snapshots), then equal ones
        for prev, text_ in made:
            if prev is snap:
                break
        else:
            for prev, text_ in made:
                if _same_json(prev, snap):
                    break
            else:
                text_ = _encode(snap if type(snap) is dict else dict(snap))
            made.append((snap, text_))
        if texts_ is not None:
            texts_.remember(snap, text_)
        texts.append(text_)
    return texts


def _link_values(v: Link, known: Sequence[tuple[Any, str]] = (), texts: _Texts | None = None) -> dict[str, Any]:
    ews_json, crm_json, base_json = _snapshots_json((v.ews_fields, v.crm_fields, v.base), known, texts)
    return {
        "id": v.id, "kind": v.kind.value, "state": v.state,
        "ews_item_id": v.ews_item_id, "ews_change_key": v.ews_change_key, "ews_hash": v.ews_hash,
        "ews_json": ews_json,
        "crm_type": v.kind.value, "crm_id": v.crm_id, "crm_lock_version": v.crm_lock_version,
        "crm_updated_at": _naive(v.crm_updated_at), "crm_hash": v.crm_hash,
        "crm_json": crm_json,
        "base_json": base_json, "base_hash": v.base_hash,
        "mapping_version": v.mapping_version, "in_scope": v.in_scope, "origin": v.origin,
        "last_synced_at": _naive(v.last_synced_at),
        # learnt once per item; a link value without it (an older snapshot) keeps the stored one
        # (upsert's keep_if_null). crm_gone_seen_at is not here: its one writer is Batch.gone_seen.
        "ews_global_id": v.ews_global_id or None,
    }


def _staged_values(st: Staged, now: datetime) -> dict[str, Any]:
    payload = outlook_to_dict(st.outlook) if st.outlook else crm_to_dict(st.crm) if st.crm else None
    # in the record's own key order: sorting the keys of ten thousand staged records was about
    # half of their encoding, and nothing compares or splices a staged text (readers decode it)
    text_ = None if payload is None else _encode_unsorted(payload)
    return {"side": st.side.value, "kind": st.kind.value, "remote_id": st.remote_id, "change": st.change,
            "version": st.version, "in_scope": st.in_scope, "payload_json": text_, "cursor_id": None,
            "staged_at": now}


def _error_values(e: ItemErrorRec) -> dict[str, Any]:
    return {"key": e.key, "link_id": e.link_id, "side": e.side, "remote_id": e.remote_id, "kind": e.kind.value,
            "op": e.op, "error_class": e.error_class, "title": e.title, "message": e.message, "attempts": e.attempts,
            "last_try_at": _naive(e.last_try_at), "retry_after": _naive(e.retry_after),
            "last_try_version": e.last_try_version, "muted": e.muted}


def _sharing_values(sh: SharingRec, now: datetime) -> dict[str, Any]:
    return {"key": sh.key, "kind": sh.kind.value, "link_id": sh.link_id, "ews_item_id": sh.ews_item_id,
            "crm_id": sh.crm_id, "state": sh.state, "reason": sh.reason, "recreate_blocked": sh.recreate_blocked,
            "changed_at": _naive(sh.changed_at) or now, "label": sh.label or ""}


def _history_values(h: HistoryEntry, now: datetime, texts: _Texts | None = None) -> dict[str, Any]:
    before = None if h.before is None else texts.dumps(h.before) if texts else _dumps(dict(h.before))
    return {"run_id": h.run_id, "at": _naive(h.at) or now, "link_id": h.link_id, "kind": h.kind,
            "direction": h.direction, "action": h.action, "reason": h.reason,
            "summary": _dumps(dict(h.summary)) if h.summary is not None else None,
            "before_json": before, "result": h.result}


def staged_from_row(r: m.StagedChange, payload: Any = _UNSET) -> Staged:
    """The staged change of a row; `payload` is its decoded payload_json, when already decoded."""
    if payload is _UNSET:
        payload = _loads(r.payload_json)
    side = _side(r.side)
    return Staged(
        side=side, kind=_kind(r.kind), remote_id=r.remote_id, change=r.change, version=r.version,
        outlook=outlook_from_dict(payload) if payload and side is Side.OUTLOOK else None,
        crm=crm_from_dict(payload) if payload and side is Side.CRM else None, in_scope=r.in_scope,
    )


def op_from_row(r: m.Outbox, payload: Any = _UNSET) -> OutboxOp:
    """The op of a row; `payload` is its decoded payload_json, when already decoded."""
    if payload is _UNSET:
        payload = _loads(r.payload_json)
    return OutboxOp(
        id=r.id, link_id=r.link_id, kind=_kind(r.kind), side=_side(r.side), op=r.op, payload=payload or {},
        expected_version=r.expected_version, state=r.state, hold_id=r.hold_id, attempts=r.attempts,
        last_error=r.last_error, seq=r.seq, run_id=r.run_id,
    )


def links_from_rows(rows: Iterable[Any], *, intern: bool = True) -> Iterator[Link]:
    """link_from_row of each row, the snapshots of DECODE_ROWS rows decoded at once (their short
    values interned unless `intern` is False: a few links that are written back soon)."""
    for chunk in _chunks(rows, DECODE_ROWS):
        texts = list(dict.fromkeys(t for r in chunk for t in (r.ews_json, r.crm_json, r.base_json) if t is not None))
        values = _loads_many(texts)
        decoded = dict(zip(texts, map(_interned_values, values) if intern else values))
        for r in chunk:
            yield link_from_row(r, decoded.__getitem__)


def staged_from_rows(rows: Iterable[Any]) -> Iterator[Staged]:
    for chunk in _chunks(rows, DECODE_ROWS):
        yield from map(staged_from_row, chunk, map(_interned_values, _loads_many([r.payload_json for r in chunk])))


def _shared_snapshots(payload: Any) -> Any:
    """A decoded payload whose equal field snapshots (its fields, base and source copies, equal
    after most plans) are one dict again, as the planner made them: a first sync's executor
    holds ten thousand payloads, and the copies were most of their memory. Only snapshots that
    surely encode alike are merged (_same_json), so no value changes type."""
    if payload.__class__ is not dict:
        return payload
    seen: list[dict[str, Any]] = []

    def one(snap: Any) -> Any:
        if snap.__class__ is not dict:
            return snap
        for prev in seen:
            if _same_json(prev, snap):
                return prev
        seen.append(snap)
        return snap

    for key in ("fields", "base"):
        if key in payload:
            payload[key] = one(payload[key])
    source = payload.get("source")
    if source.__class__ is dict:
        for side in source.values():
            if side.__class__ is dict and "fields" in side:
                side["fields"] = one(side["fields"])
    return payload


def conflict_from_row(r: m.Conflict) -> Conflict:
    return Conflict(
        id=r.id, link_id=r.link_id, kind=_kind(r.kind), conflict_kind=r.conflict_kind, outlook=_loads(r.ews_json),
        crm=_loads(r.crm_json), base=_loads(r.base_json), fields=tuple(_loads(r.fields_json) or ()), status=r.status,
        resolution=r.resolution, resolved=_loads(r.resolved_json), ews_item_id=r.ews_item_id, crm_id=r.crm_id,
        candidates=tuple(_loads(r.candidates_json) or ()), label=r.label, created_at=_utc(r.created_at),
        resolved_at=_utc(r.resolved_at),
    )


def error_from_row(r: m.ItemErrorRow) -> ItemErrorRec:
    return ItemErrorRec(
        key=r.key, kind=_kind(r.kind), op=r.op, error_class=r.error_class, title=r.title, message=r.message,
        attempts=r.attempts, last_try_at=_utc(r.last_try_at), retry_after=_utc(r.retry_after),
        last_try_version=r.last_try_version, link_id=r.link_id, side=r.side, remote_id=r.remote_id, muted=r.muted,
    )


def sharing_from_row(r: m.SharingRow) -> SharingRec:
    return SharingRec(
        kind=_kind(r.kind), state=r.state, reason=r.reason, crm_id=r.crm_id, ews_item_id=r.ews_item_id,
        link_id=r.link_id, recreate_blocked=r.recreate_blocked, changed_at=_utc(r.changed_at), label=r.label or "",
    )


def hold_from_row(r: m.SafetyHold) -> Hold:
    return Hold(
        id=r.id, kind=_kind(r.kind), side=_side(r.side), reason=r.reason, planned=r.planned, linked=r.linked,
        status=r.status, created_at=_utc(r.created_at), decided_at=_utc(r.decided_at),
    )


@dataclass
class PreparedBatch:
    """A batch with its link, sharing and history rows already made (SqlJournal.prepare): made on
    the engine thread, which decided the batch and then waits for the mailbox, so the committer
    thread, the one a first sync's settling waits for, only runs the statements."""
    batch: Batch
    now: datetime
    texts: _Texts
    links: list[dict[str, Any]]
    sharing: list[dict[str, Any]]
    history: list[dict[str, Any]]

    def __bool__(self) -> bool:
        return bool(self.batch)


class SqlJournal:
    """JournalPort over SQLite. One instance per engine (the single writer)."""

    def __init__(self, db: Database):
        self.db = db
        self.engine = db.engine
        # Outbox ops as this journal read or wrote them, or last changed their state, by id. A
        # write of the same op with the very same payload object (the executor's in_flight, done,
        # failed and cancelled marks) then updates only the state columns instead of re-encoding
        # and rewriting the payload (see _write_outbox), and `outbox()` hands out that payload
        # instead of decoding its text again (a first sync's plan writes ten thousand ops that
        # the executor reads straight back). Only ops the caller holds anyway; an op leaves once
        # it is finished, and all of them when a write fails (its rows may not be what is here).
        self._stored_ops: dict[str, OutboxOp] = {}
        self._payload_hashes: dict[str, int] = {}  # hash of the payload text written, for ops written whole here
        # link id -> (snapshot, the stored text it was decoded from) of the links links_by_id read
        # (the executor's chunks in hand), so writing them back reuses equal texts; an entry
        # leaves when its link is written, and the oldest beyond READ_TEXTS_KEPT
        self._snapshot_texts: dict[str, list[tuple[Any, str]]] = {}
        self._texts = _Texts()  # the current write's (see _Texts)

    @property
    def recovered_from(self) -> Path | None:
        return self.db.recovered_from

    def close(self) -> None:
        self.db.dispose()

    def _session(self) -> Session:
        return Session(self.engine, expire_on_commit=False)

    # --- reads ------------------------------------------------------------------------------------

    def get_meta(self, key: str) -> str | None:
        with self._session() as s:
            row = s.get(m.Meta, key)
            return row.value if row else None

    def cursor(self, side: str, name: str) -> str | None:
        with self._session() as s:
            row = s.get(m.Cursor, (side, name))
            return row.token if row else None

    def links(self, kind: Kind | None = None) -> list[Link]:
        with self._session() as s:
            t = m.ItemLink.__table__
            q = select(t)
            if kind is not None:
                q = q.where(t.c.kind == kind.value)
            return list(links_from_rows(s.execute(q)))

    def crm_stamps(self, kind: Kind) -> list[Link]:
        """The kind's links with only their id, CRM id, lock version, scope and pending-deletion
        sighting filled in: what CRM ingest compares a listing against, without decoding every
        link's field snapshots."""
        t = m.ItemLink.__table__
        with self._session() as s:
            rows = s.execute(select(t.c.id, t.c.crm_id, t.c.crm_lock_version, t.c.in_scope, t.c.crm_gone_seen_at)
                             .where(t.c.kind == kind.value))
            return [Link(id=i, kind=kind, crm_id=c, crm_lock_version=v, in_scope=bool(sc), crm_gone_seen_at=_utc(g))
                    for i, c, v, sc, g in rows]

    def ews_versions(self, kind: Kind) -> dict[str, str]:
        """Outlook item id -> the ChangeKey its link holds (echo suppression without loading links)."""
        with self._session() as s:
            rows = s.exec(select(m.ItemLink.ews_item_id, m.ItemLink.ews_change_key).where(  # type: ignore[call-overload]
                m.ItemLink.kind == kind.value, m.ItemLink.ews_item_id.is_not(None)))  # type: ignore[union-attr]
            return {str(i): str(ck or "") for i, ck in rows}

    def sharing_rows(self, kind: Kind, state: str) -> list[SharingRec]:
        """The kind's sharing rows in one state (without loading the rest of the kind's state)."""
        with self._session() as s:
            rows = s.exec(select(m.SharingRow).where(m.SharingRow.kind == kind.value, m.SharingRow.state == state))
            return [sharing_from_row(r) for r in rows]

    def links_by_id(self, link_ids: Sequence[str]) -> dict[str, Link]:
        """Links by id in one query per 400 ids (absent ids are left out)."""
        with self._session() as s:
            rows = _rows_by_id(s, m.ItemLink.__table__, link_ids)
        links, texts = {}, self._snapshot_texts
        for r, link in zip(rows, links_from_rows(rows, intern=False)):
            links[r.id] = link
            texts.pop(r.id, None)  # re-read: newest last
            texts[r.id] = [(snap, t) for snap, t in ((link.ews_fields, r.ews_json), (link.crm_fields, r.crm_json),
                                                     (link.base, r.base_json)) if t is not None]
        for stale in list(texts)[:max(0, len(texts) - READ_TEXTS_KEPT)]:
            texts.pop(stale, None)  # a write committing meanwhile may have used it up (commit_behind)
        return links

    def link(self, link_id: str) -> Link | None:
        with self._session() as s:
            r = s.get(m.ItemLink, link_id)
            return link_from_row(r, json.loads) if r else None

    def load(self, kind: Kind) -> KindState:
        k = kind.value
        # plain rows (no ORM objects): the big tables are read straight into the state values
        lt, st_ = m.ItemLink.__table__, m.StagedChange.__table__
        open_ops = (PENDING, HELD, IN_FLIGHT)
        with self._session() as s:
            conn = s.connection()
            links = tuple(links_from_rows(bulk.select_rows(conn, lt, "kind = ?", (k,))))
            staged = tuple(staged_from_rows(bulk.select_rows(conn, st_, "kind = ?", (k,))))
            outbox = tuple(self._outbox_rows(conn, f"kind = ? AND state IN {bulk.in_list(len(open_ops))}",
                                             (k, *open_ops)))
            conflicts = tuple(
                conflict_from_row(r) for r in s.exec(
                    select(m.Conflict).where(m.Conflict.kind == k, m.Conflict.status.in_(("open", "resolved")))
                )
            )
            errors = tuple(error_from_row(r) for r in s.exec(select(m.ItemErrorRow).where(m.ItemErrorRow.kind == k)))
            sharing = tuple(sharing_from_row(r) for r in s.exec(select(m.SharingRow).where(m.SharingRow.kind == k)))
        return KindState(links, staged, outbox, conflicts, errors, sharing)

    def outbox(self, states: Sequence[str]) -> list[OutboxOp]:
        with self._session() as s:
            conn = s.connection()
            ops = self._outbox_rows(conn, f"state IN {bulk.in_list(len(states))}", tuple(states))
        self._stored_ops.update({op.id: op for op in ops if op.state not in FINISHED})
        return ops

    def _outbox_rows(self, conn: Any, where: str, params: tuple[Any, ...]) -> list[OutboxOp]:
        """The rows as stored, in seq order, each payload this journal wrote itself taken as the
        object it wrote (_stored_ops) while the row still holds that very text (compared by
        hash: another writer may have changed it); only the other payloads are decoded.

        Sorted here, not by SQLite: ORDER BY seq made SQLite sort every row with its payload text
        in memory first (a first sync's ten thousand: the sync's peak memory), while unsorted
        rows stream through a few hundred at a time."""
        known, hashes = self._stored_ops, self._payload_hashes
        ops: list[OutboxOp] = []
        for rows in _chunks(bulk.select_rows(conn, m.Outbox.__table__, where, params), DECODE_ROWS):
            got: list[OutboxOp | None] = [None] * len(rows)
            for i, r in enumerate(rows):
                op = known.get(r.id)
                if (op is not None and hashes.get(r.id) == hash(r.payload_json)
                        and (op.link_id, op.kind.value, op.side.value, op.op) == (r.link_id, r.kind, r.side, r.op)):
                    # unchanged since: the very op (a first sync's ten thousand are not made twice)
                    same = (op.seq, op.expected_version, op.state, op.hold_id, op.attempts, op.last_error,
                            op.run_id) == (r.seq, r.expected_version, r.state, r.hold_id, r.attempts, r.last_error,
                                           r.run_id)
                    got[i] = op if same else op_from_row(r, op.payload)
            todo = [i for i, op in enumerate(got) if op is None]
            for i, payload in zip(todo, _loads_many([rows[i].payload_json for i in todo])):
                got[i] = op_from_row(rows[i], _shared_snapshots(payload))
            ops.extend(got)  # type: ignore[arg-type]
        ops.sort(key=_seq)
        return ops

    def holds(self, status: str = "open") -> list[Hold]:
        with self._session() as s:
            return [hold_from_row(r) for r in s.exec(select(m.SafetyHold).where(m.SafetyHold.status == status))]

    def conflicts(self, status: Iterable[str] = ("open",)) -> list[Conflict]:
        with self._session() as s:
            rows = s.exec(select(m.Conflict).where(m.Conflict.status.in_(tuple(status))))
            return [conflict_from_row(r) for r in rows]

    def last_change_run(self, actions: Sequence[str]) -> tuple[str, datetime] | None:
        """The run that most recently applied a change (one of `actions`), with its time."""
        with self._session() as s:
            row = s.exec(select(m.History.run_id, func.max(m.History.at)).where(  # type: ignore[call-overload]
                m.History.action.in_(tuple(actions)), m.History.result == "ok"  # type: ignore[attr-defined]
            ).group_by(m.History.run_id).order_by(func.max(m.History.at).desc(), func.max(m.History.id).desc())
                .limit(1)).first()
        return (str(row[0]), _utc(row[1])) if row else None  # type: ignore[return-value]

    def run_history(self, run_id: str) -> list[HistoryEntry]:
        """One run's history rows in the order they were written."""
        with self._session() as s:
            rows = s.exec(select(m.History).where(m.History.run_id == run_id).order_by(m.History.id))
            return [HistoryEntry(r.run_id, _utc(r.at), r.action, r.kind, r.link_id, r.direction, r.reason,  # type: ignore[arg-type]
                                 _loads(r.summary), _loads(r.before_json), r.result) for r in rows]

    # --- writes -----------------------------------------------------------------------------------

    def write(self, batch: Batch | PreparedBatch) -> None:
        self.write_together([batch])

    def write_together(self, batches: Sequence[Batch | PreparedBatch]) -> None:
        """The batches in order, in one transaction: each is applied as `write` applies it, and
        they are committed, or rolled back, together."""
        batches = [b for b in batches if b]
        if not batches:
            return
        try:
            with self._session() as s:
                try:
                    for batch in batches:
                        if isinstance(batch, PreparedBatch):
                            self._texts = batch.texts
                            with s.no_autoflush:
                                self._apply_rows(s, batch.batch, batch)
                        else:
                            self._texts = _Texts()
                            self._apply(s, batch)
                    s.commit()
                except Exception:
                    s.rollback()
                    self._stored_ops.clear()
                    self._payload_hashes.clear()
                    raise
        finally:
            self._texts = _Texts()

    def _apply(self, s: Session, b: Batch) -> None:
        # No autoflush: a lookup must not flush the whole session each time (quadratic for a batch
        # of hundreds of rows). Rows already in the database are fetched in bulk per table. A big
        # batch (a first sync's plan) is applied in segments, section by section in the usual
        # order, flushing and releasing the rows after each: one transaction, bounded memory.
        with s.no_autoflush:
            if sum(len(getattr(b, name)) for name in SECTIONS) <= WHOLE_BATCH_ROWS:
                self._apply_rows(s, b)
                return
            for part in _segments(b):
                self._apply_rows(s, part)
                s.flush()
                s.expunge_all()

    def prepare(self, batch: Batch) -> Batch | PreparedBatch:
        """`batch` with its link, sharing and history rows made now, on the calling thread, for a
        write on another (app/sync/commit_behind.py). A batch big enough to be written in
        segments is returned as it is: its rows are made a segment at a time, in bounded memory."""
        if sum(len(getattr(batch, name)) for name in SECTIONS) > WHOLE_BATCH_ROWS:
            return batch
        now, texts, read = datetime.now(timezone.utc), _Texts(), self._snapshot_texts
        return PreparedBatch(
            batch, now, texts,
            links=[_link_values(link, read.pop(link.id, ()), texts) for link in batch.links],
            sharing=[_sharing_values(sh, now) for sh in batch.sharing],
            history=[_history_values(h, now, texts) for h in batch.history])

    def _apply_rows(self, s: Session, b: Batch, ready: PreparedBatch | None = None) -> None:
        now = ready.now if ready is not None else datetime.now(timezone.utc)
        for key, value in b.meta.items():
            s.merge(m.Meta(key=key, value=value))
        for side, name, token in b.cursors:
            row = s.get(m.Cursor, (side, name)) or m.Cursor(side=side, name=name)
            row.token, row.committed_at, row.full_scan_done = token, now, token is not None
            s.add(row)
        s.flush()  # the ORM rows above first: everything below is set-based, in this transaction
        conn = s.connection()
        bulk.upsert(conn, m.StagedChange.__table__, [_staged_values(st, now) for st in b.stage], keep=("cursor_id",))
        # an unstage may name a row staged above: the statements run in this order
        if (b.unstage or b.unstage_if_version) and bulk.has_rows(conn, m.StagedChange.__table__):
            bulk.delete_keys(conn, m.StagedChange.__table__, [tuple(k) for k in b.unstage])
            bulk.delete_keys(conn, m.StagedChange.__table__, [tuple(k) for k, _v in b.unstage_if_version],
                             version=[v for _k, v in b.unstage_if_version])
        for hold in b.holds:
            s.merge(m.SafetyHold(id=hold.id, kind=hold.kind.value, side=hold.side.value, reason=hold.reason,
                                 planned=hold.planned, linked=hold.linked, status=hold.status,
                                 created_at=_naive(hold.created_at) or now, decided_at=_naive(hold.decided_at)))
        s.flush()  # outbox rows below may name a hold
        bulk.delete_keys(conn, m.ItemLink.__table__, list(b.drop_links))
        read, made = self._snapshot_texts, self._texts
        bulk.upsert(conn, m.ItemLink.__table__,
                    ready.links if ready is not None else [_link_values(link, read.pop(link.id, ()), made) for link in b.links],
                    keep_if_null=("ews_global_id",))
        # the pending-deletion mark has one writer (CRM ingest), so a link written from an older
        # snapshot never resurrects or clears it by accident: _link_values leaves the column out
        bulk.set_column(conn, m.ItemLink.__table__, "crm_gone_seen_at", [(lid, _naive(at)) for lid, at in b.gone_seen])
        self._write_outbox(conn, b.outbox)
        for c in b.conflicts:
            s.merge(m.Conflict(
                id=c.id, link_id=c.link_id, kind=c.kind.value, conflict_kind=c.conflict_kind, ews_item_id=c.ews_item_id,
                crm_id=c.crm_id, ews_json=_dumps(c.outlook), crm_json=_dumps(c.crm), base_json=_dumps(c.base),
                fields_json=_dumps(list(c.fields)) or "[]", candidates_json=_dumps(list(c.candidates)) or "[]",
                label=c.label, status=c.status, resolution=c.resolution, resolved_json=_dumps(c.resolved),
                created_at=_naive(c.created_at) or now, resolved_at=_naive(c.resolved_at)))
        s.flush()
        # a cleared error may be recorded again below
        if b.clear_errors and bulk.has_rows(conn, m.ItemErrorRow.__table__):
            bulk.delete_keys(conn, m.ItemErrorRow.__table__, list(b.clear_errors))
        bulk.upsert(conn, m.ItemErrorRow.__table__, [_error_values(e) for e in b.errors])
        if ready is not None:
            bulk.upsert(conn, m.SharingRow.__table__, ready.sharing)
            bulk.insert_rows(conn, m.History.__table__, ready.history)
            return
        bulk.upsert(conn, m.SharingRow.__table__, [_sharing_values(sh, now) for sh in b.sharing])
        bulk.insert_rows(conn, m.History.__table__, [_history_values(h, now, self._texts) for h in b.history])

    def _write_outbox(self, conn: Any, ops: Sequence[OutboxOp]) -> None:
        """Outbox rows. An op whose payload is the object the stored row was read with (or last
        state-changed with) only changes state: its row is updated without the payload, which
        would be re-encoded to the same text. If such a row is gone (a reset or prune since), the
        ops are written whole after all."""
        if not ops:
            return
        known = self._stored_ops
        narrow: list[tuple[Any, ...]] = []
        whole: list[OutboxOp] = []
        if len({op.id for op in ops}) < len(ops):  # the same op twice: keep it simple, write in order
            whole = list(ops)
        else:
            for op in ops:
                if _same_but_state(known.get(op.id), op):
                    narrow.append((op.state, op.attempts, op.last_error, op.run_id, op.hold_id, op.expected_version,
                                   op.id))
                else:
                    whole.append(op)
        if narrow and conn.exec_driver_sql(OUTBOX_STATE_SQL, narrow).rowcount != len(narrow):
            whole = list(ops)
        rows = self._outbox_values(conn, whole)
        bulk.upsert(conn, m.Outbox.__table__, rows)
        for op, row in zip(whole, rows):  # stored as it is now: known with the seq it was given
            if op.state in FINISHED:
                continue
            known[op.id] = op if op.seq == row["seq"] else evolve(op, seq=row["seq"])
            if _decodes_as_itself(op.payload):  # else read back from its text, as it will be by others
                self._payload_hashes[op.id] = hash(row["payload_json"])
            else:
                self._payload_hashes.pop(op.id, None)
        written = {op.id for op in whole}
        for op in ops:
            if op.state in FINISHED:
                known.pop(op.id, None)
                self._payload_hashes.pop(op.id, None)
            elif op.id in known and op.id not in written:
                seq = known[op.id].seq
                known[op.id] = op if op.seq == seq else evolve(op, seq=seq)

    def _outbox_values(self, conn: Any, ops: Sequence[OutboxOp]) -> list[dict[str, Any]]:
        """Outbox rows; an op without a seq keeps its stored one, or takes the next free one."""
        if not ops:
            return []
        seqs = bulk.column_by_key(conn, m.Outbox.__table__, "seq", [op.id for op in ops])
        next_seq: int | None = None
        rows = []
        for op in ops:
            seq = op.seq or seqs.get(op.id)
            if not seq:
                if next_seq is None:
                    next_seq = int(conn.execute(text("SELECT COALESCE(MAX(seq), 0) FROM outbox")).scalar_one()) + 1
                seq, next_seq = next_seq, next_seq + 1
            seqs[op.id] = seq
            rows.append({
                "id": op.id, "seq": seq, "link_id": op.link_id, "kind": op.kind.value, "side": op.side.value,
                "op": op.op, "payload_json": self._texts.dumps(op.payload), "expected_version": op.expected_version,
                "idempotency_key": op.id, "state": op.state, "hold_id": op.hold_id, "attempts": op.attempts,
                "last_error": op.last_error, "run_id": op.run_id,
            })
        return rows

    def reset_lost_state(self, kinds: Sequence[Kind] | None = None) -> None:
        with self._session() as s:
            for model in (m.Outbox, m.StagedChange, m.Conflict, m.ItemErrorRow, m.ItemLink):
                q = delete(model)
                if kinds is not None:
                    q = q.where(model.kind.in_([k.value for k in kinds]))  # type: ignore[attr-defined]
                s.exec(q)  # type: ignore[call-overload]
            s.exec(delete(m.Cursor))  # type: ignore[call-overload]
            s.commit()
        self._stored_ops.clear()
        self._payload_hashes.clear()

    def prune_history(self, before: datetime, *, before_json_until: datetime | None = None) -> int:
        """Drop history older than `before` (the 30-day cutoff) and the prior states (before_json)
        older than `before_json_until`, by default seven days (UNDO_DAYS) of the 30 kept: undo
        only reaches that far back, and old item content should not linger in the journal."""
        if before_json_until is None:
            before_json_until = before + timedelta(days=HISTORY_DAYS - UNDO_DAYS)
        with self._session() as s:
            s.exec(update(m.History).where(  # type: ignore[call-overload]
                m.History.at < _naive(before_json_until), m.History.before_json.is_not(None)  # type: ignore[union-attr]
            ).values(before_json=None))
            res = s.exec(delete(m.History).where(m.History.at < _naive(before)))  # type: ignore[call-overload]
            s.exec(delete(m.Outbox).where(m.Outbox.state.in_((DONE, CANCELLED, FAILED))))  # type: ignore[call-overload]
            s.commit()
            return res.rowcount or 0

    def bind_identity(self, mailbox: str, crm_database: str) -> None:
        """Preflight (design 5.1 step 1): remember which mailbox and database this journal belongs
        to; a different one stops the sync with a ConfigError instead of mixing two pairs' state."""
        from app.errors import ConfigError

        want = {"identity:mailbox": mailbox.strip().lower(), "identity:crm_database": str(crm_database)}
        have = {k: self.get_meta(k) for k in want}
        for key, value in want.items():
            if have[key] is not None and have[key] != value:
                raise ConfigError(
                    f"This profile's journal belongs to {have[key]!r}, but the connection reached {value!r}. "
                    "Check the account settings, or rebuild the journal from Settings › Advanced.",
                    title="A different mailbox or database")
        if any(v is None for v in have.values()):
            self.write(Batch(meta=want))

    # --- user decisions (CLI `resolve`, hold dialog, share/unshare): applied at the next cycle -------

    def resolve_conflict(self, conflict_id: str, keep: str, fields: dict[str, Any] | None = None) -> Conflict:
        """keep: crm | outlook | both | merged (with `fields`). Prefix ids are accepted."""
        if keep not in ("crm", "outlook", "both", "merged"):
            raise UsageError("--keep is crm, outlook or both")
        with self._session() as s:
            row = s.get(m.Conflict, conflict_id)
            if row is None:
                rows = list(s.exec(select(m.Conflict).where(m.Conflict.id.startswith(conflict_id), m.Conflict.status == "open")))
                if len(rows) != 1:
                    raise UsageError(f"no open conflict {conflict_id!r}; see `conflicts`")
                row = rows[0]
            if row.status != "open":
                raise UsageError(f"conflict {row.id} is already {row.status}")
            if keep == "both" and row.conflict_kind not in ("first_sync_mismatch", "ambiguous_match"):
                raise UsageError("--keep both only applies to first-sync conflicts")
            row.status, row.resolution = "resolved", keep
            row.resolved_json = _dumps(fields) if fields else None
            row.resolved_at = datetime.now(timezone.utc)
            s.add(row)
            s.commit()
            return conflict_from_row(row)

    def decide_hold(self, hold_id: str, decision: str) -> None:
        """decision: apply (run the held operations at the next cycle) | restore (cancel them and
        re-create each vanished item from the other side) | later (leave it open)."""
        if decision not in ("apply", "restore", "later"):
            raise UsageError("decision is apply, restore or later")
        if decision == "later":
            return
        with self._session() as s:
            hold = s.get(m.SafetyHold, hold_id)
            if hold is None:
                raise UsageError(f"no held deletion {hold_id!r}")
            hold.status = "approved" if decision == "apply" else "restored"
            hold.decided_at = datetime.now(timezone.utc)
            for row in s.exec(select(m.Outbox).where(m.Outbox.hold_id == hold_id, m.Outbox.state == HELD)):
                row.state = PENDING if decision == "apply" else CANCELLED
                s.add(row)
                if decision == "restore":
                    self._restore_link(s, row)
            s.add(hold)
            s.commit()

    def _restore_link(self, s: Session, op: m.Outbox) -> None:
        """Forget the vanished side of a held pair so the next cycle re-creates it from the other."""
        link = s.get(m.ItemLink, op.link_id)
        if link is None:
            return
        ews = s.get(m.StagedChange, ("outlook", link.kind, link.ews_item_id or ""))
        crm = s.get(m.StagedChange, ("crm", link.kind, link.crm_id or ""))
        if ews is not None and ews.change == "delete":
            s.delete(ews)
            link.ews_item_id = link.ews_change_key = link.ews_hash = link.ews_json = None
            link.state = "creating"
        elif crm is not None and crm.change == "delete":
            s.delete(crm)
            link.crm_id = link.crm_lock_version = link.crm_hash = link.crm_json = None
            link.state = "creating"
        elif ews is not None:
            s.delete(ews)  # an unshare that was not wanted: forget the change that asked for it
        s.add(link)

    def _removed_from_outlook(self, kind: Kind, crm_id: str | None) -> m.SharingRow | None:
        """The sharing row of a CRM record whose Outlook copy the user deleted (re-creation blocked)."""
        if not crm_id:
            return None
        with self._session() as s:
            row = s.get(m.SharingRow, f"{kind.value}:crm:{crm_id}")
            return row if row is not None and row.state == "unshared" and row.reason == "outlook_delete" else None

    def request_sharing(self, link_id: str | None, *, kind: Kind, state: str, ews_item_id: str | None = None,
                        crm_id: str | None = None) -> None:
        """`unshare` of a linked item (state 'unshare_requested') or `share` of an Unshared/Native
        Outlook item (state 'share_requested'); the next cycle carries it out."""
        if state not in ("share_requested", "unshare_requested"):
            raise UsageError("state is share_requested or unshare_requested")
        if link_id is not None:
            link = self.link(link_id)
            if link is None:
                raise UsageError(f"no linked item {link_id!r}")
            crm_id = crm_id or link.crm_id
            ews_item_id = ews_item_id or link.ews_item_id
        elif ews_item_id is None and not (state == "share_requested" and crm_id):
            raise UsageError("share needs the Outlook item (see `explain`)")
        label = ""
        if state == "share_requested":
            removed = self._removed_from_outlook(kind, crm_id) if link_id is None else None
            if removed is not None:
                # its Outlook copy is gone: ask for a new one from the CRM record, under the same key
                ews_item_id, label = None, removed.label
            else:
                crm_id = None  # keyed by the Outlook item; the Person keeps its own record
        rec = SharingRec(kind=kind, state=state, reason="user", crm_id=crm_id, ews_item_id=ews_item_id, link_id=link_id,
                         recreate_blocked=False, changed_at=datetime.now(timezone.utc), label=label)
        self.write(Batch(sharing=[rec]))


def open_journal(path: Path | str | None) -> SqlJournal:
    """Open the profile's journal (creating, migrating or rebuilding it as needed)."""
    try:
        return SqlJournal(open_database(path))
    except JournalError:
        raise
    except Exception as exc:  # noqa: BLE001
        raise JournalError(f"The sync journal could not be opened: {exc}") from None


def new_id() -> str:
    return str(uuid.uuid4())
