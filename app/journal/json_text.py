"""The journal's JSON texts: json.dumps(value, sort_keys=True, default=str), made cheaper.

json.dumps with options builds a JSONEncoder, and JSONEncoder.encode builds a C encoder, per
call; a first sync encodes some fifty thousand small values (snapshots, payloads, history). Here
the C encoder is built once. It is built without json's circular-reference bookkeeping (a shared
dict of the containers being encoded, which one encoder used by two threads could not share), so
a value that holds itself runs out of recursion instead, and is then encoded by json.dumps for
its own error. It is used only when it encodes a set of probe values exactly as json does;
otherwise (another Python, a json without its C part) json's own encoder is.
"""
from __future__ import annotations

import json
from datetime import datetime, timezone
from json import encoder as _encoder
from typing import Any, Callable


def _probes() -> list[Any]:
    return ["Å\x00\"\n", 1, -0.0, 1e16, float("nan"), float("inf"), True, None, [1, [2, {}]], (1, 2),
            {"b": 1, "a": {"d": [None, 1.5], "c": "é"}, "e": datetime(2026, 1, 1, tzinfo=timezone.utc)},
            {2: "x", 10: "y"}, {"x": b"bytes"}]


def _made_once(sort_keys: bool) -> Callable[[Any], str]:
    plain = json.JSONEncoder(sort_keys=sort_keys, default=str).encode
    make = getattr(_encoder, "c_make_encoder", None)
    if make is None:
        return plain
    try:
        c_encode = make(None, str, _encoder.encode_basestring_ascii, None, ": ", ", ", sort_keys, False, True)
    except Exception:  # noqa: BLE001 - a C encoder of another signature: json's own then
        return plain

    def encode(value: Any) -> str:
        try:
            return "".join(c_encode(value, 0))
        except RecursionError:
            return plain(value)  # "Circular reference detected", as json says it

    try:
        same = all(encode(p) == plain(p) for p in _probes())
    except Exception:  # noqa: BLE001
        same = False
    return encode if same else plain


encode = _made_once(sort_keys=True)  # the journal's text of a value (snapshots, payloads, history)
encode_unsorted = _made_once(sort_keys=False)  # in the value's own key order (staged records)
