"""JSON for storage: orjson where it can (several times faster than ``json``), else ``json``.

Stored JSON is read back as data, never compared as text, so the two may differ in spacing
and float spelling. Hashes that must stay byte-stable do not use this (see
``jifen.ledger.hashing`` and ``jifen.kit.idempotency``).
"""

from __future__ import annotations

import json
from typing import Any

import orjson


def dumps(value: Any) -> str:
    try:
        return orjson.dumps(value).decode()
    except TypeError:
        # Integers beyond 64 bits, keys that are not strings: the standard library takes them.
        return json.dumps(value, ensure_ascii=False)


def loads(text: str | bytes) -> Any:
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError:
        # What ``json`` once wrote and orjson refuses (NaN, Infinity), read as it was written.
        return json.loads(text)
