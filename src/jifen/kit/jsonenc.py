"""JSON by orjson where it can (several times faster than ``json``), else by ``json``.

``dumps``/``loads`` are for storage: stored JSON is read back as data, never compared as text,
so the two encoders may differ in spacing and float spelling. ``canonical`` is for hashes
(``jifen.ledger.hashing``, ``jifen.kit.idempotency``), which must keep one spelling forever:
it is ``json.dumps``'s, and orjson writes it only when it is sure to write the same bytes.
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


# Types orjson would spell differently from ``json.dumps(default=str)``: handed to ``_refuse``.
_CANONICAL = (
    orjson.OPT_SORT_KEYS
    | orjson.OPT_PASSTHROUGH_DATETIME
    | orjson.OPT_PASSTHROUGH_DATACLASS
    | orjson.OPT_PASSTHROUGH_SUBCLASS
)


def _refuse(value: Any) -> Any:
    raise TypeError


def _has_float(value: Any) -> bool:
    kind = type(value)
    if kind is dict:
        value = value.values()
    elif kind is not list and kind is not tuple:
        return kind is float
    for item in value:
        kind = type(item)
        if kind is float:
            return True
        if (kind is dict or kind is list or kind is tuple) and _has_float(item):
            return True
    return False


_WHOLE: Any = object()


def canonical_bytes(value: Any, *, ensure_ascii: bool, floats_in: Any = _WHOLE) -> bytes:
    """``json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=...,
    default=str)``, byte for byte, in UTF-8.

    orjson writes strings, integers, booleans, None, lists and string-keyed dicts exactly so.
    Everything else goes to ``json``: floats (spelt differently: ``1e+16`` against ``1e16``),
    text beyond ASCII when it must be escaped, and what orjson refuses or would spell its own
    way (datetimes, dataclasses, subclasses of the basic types, integers beyond 64 bits).
    ``floats_in`` is the part of ``value`` that can hold a float, when the caller knows that
    the rest cannot (its other fields are typed); by default the whole is searched. Tests hold
    the two encoders equal.
    """
    if not _has_float(value if floats_in is _WHOLE else floats_in):
        try:
            blob = orjson.dumps(value, default=_refuse, option=_CANONICAL)
        except TypeError:
            pass
        else:
            if not ensure_ascii or blob.isascii():
                return blob
    return json.dumps(
        value, sort_keys=True, separators=(",", ":"), ensure_ascii=ensure_ascii, default=str
    ).encode()


def canonical(value: Any, *, ensure_ascii: bool) -> str:
    """``canonical_bytes`` as text."""
    return canonical_bytes(value, ensure_ascii=ensure_ascii).decode()
