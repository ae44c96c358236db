"""Rule conditions in CEL: compiled once per rule version, validated on save, never ``eval``."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any

import cel

# Top-level names a condition may use, and the fields each offers.
EVENT_FIELDS = {"type", "client_id", "occurred_at", "local_date", "weekday", "hour", "attributes"}
MEMBER_FIELDS = {
    "id", "tier", "tags", "region", "joined_at", "days_since_joined", "attributes", "name",
    "birthday", "locale", "consent",
}  # fmt: skip
COUNT_FIELDS = {"today", "week", "month", "total", "subject"}
VARIABLES = {"event", "member", "counts", "hits", "streak"}

_POSITION = re.compile(r"<input>:(\d+):(\d+)")
_FIELD_USE = re.compile(r"(?<![\w.])(event|member|counts|hits)\.([A-Za-z_][A-Za-z0-9_]*)")
# The variable a macro binds: ``items.exists(i, i.sku == 'tea')``.
_MACRO_VARIABLE = re.compile(r"\.(?:all|exists|exists_one|map|filter)\(\s*([A-Za-z_]\w*)\s*,")
_UNDEFINED = re.compile(r"Undefined variable or function: '([^']+)'")
_STRING = re.compile(r"'(?:\\.|[^'\\])*'|\"(?:\\.|[^\"\\])*\"")


def _mask_strings(source: str) -> str:
    """The source with every string literal's contents blanked (same length, same offsets)."""
    return _STRING.sub(
        lambda m: m.group(0)[0] + " " * (len(m.group(0)) - 2) + m.group(0)[-1], source
    )


def _offset(source: str, line: int, column: int) -> int:
    """0-based offset into ``source`` of a 1-based (line, column) position."""
    lines = source.split("\n")
    return sum(len(x) + 1 for x in lines[: line - 1]) + column - 1


class ConditionError(ValueError):
    def __init__(self, message: str, position: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.position = position


@lru_cache(maxsize=4096)
def compile_condition(source: str) -> Any:
    """The compiled program for ``source`` (cached: rules are evaluated far more than saved)."""
    return cel.compile(source)


@lru_cache(maxsize=4096)
def variables(source: str) -> frozenset[str]:
    """The top-level names a condition reads (``event``, ``member``, ``counts``…)."""
    return frozenset(compile_condition(source).variables())


@lru_cache(maxsize=4096)
def fields_read(source: str) -> dict[str, frozenset[str] | None]:
    """For each top-level name the condition reads, the fields it reads of it (``None``: it
    may read any, e.g. ``event['type']`` or ``'x' in event.attributes``); for ``event``'s
    attributes, under the key ``"event.attributes"``, the attribute names read.

    CEL converts every value it is given into its own types on each run, so a context holding
    only what is read costs a fraction of a whole one. When a use is not plainly
    ``name.field``, the whole value is given.
    """
    masked = _mask_strings(source)
    out: dict[str, frozenset[str] | None] = {}
    for name in variables(source):
        out[name] = _fields_after(masked, rf"(?<![\w.]){re.escape(name)}")
    if "event" in out:
        out["event.attributes"] = _fields_after(masked, r"(?<![\w.])event\.attributes\b")
    return out


def _fields_after(masked: str, prefix: str) -> frozenset[str] | None:
    found: set[str] = set()
    for match in re.finditer(prefix + r"(\.([A-Za-z_][A-Za-z0-9_]*))?", masked):
        if match.group(2) is None:
            return None  # used whole, indexed or with a space before the dot
        found.add(match.group(2))
    return frozenset(found)


def validate(source: str) -> None:
    """Refuse a condition that cannot compile, uses unknown names, or is not a boolean."""
    try:
        program = cel.compile(source)
    except ValueError as exc:
        text = str(exc)
        match = _POSITION.search(text)
        position = _offset(source, int(match.group(1)), int(match.group(2))) if match else None
        first = text.split("\n", 1)[0]
        detail = (
            text.split("Syntax error:", 1)[-1].split("\n", 1)[0].strip()
            if "Syntax error" in text
            else first
        )
        raise ConditionError(f"syntax error: {detail}", position) from exc
    masked = _mask_strings(source)
    unknown = set(program.variables()) - VARIABLES - set(_MACRO_VARIABLE.findall(masked))
    if unknown:
        name = sorted(unknown)[0]
        raise ConditionError(
            f"unknown name {name!r}; use event, member, counts, hits or streak",
            _name_position(source, name),
        )
    allowed = {
        "event": EVENT_FIELDS,
        "member": MEMBER_FIELDS,
        "counts": COUNT_FIELDS,
        "hits": COUNT_FIELDS,
    }
    for match in _FIELD_USE.finditer(masked):
        var, field = match.group(1), match.group(2)
        if field not in allowed[var]:
            raise ConditionError(
                f"unknown field {var}.{field}; {var} has {', '.join(sorted(allowed[var]))}",
                match.start(2),
            )
    try:
        value = program.execute(sample_context())
    except RuntimeError as exc:
        undefined = _UNDEFINED.search(str(exc))
        if undefined is None:
            return  # depends on event attributes that the sample does not have
        # A name no context defines: a misspelt function, or a macro's variable used outside it.
        name = undefined.group(1)
        raise ConditionError(
            f"unknown name {name!r}: not a variable here, nor a function",
            _name_position(source, name, last=True),
        ) from exc
    except KeyError:
        return  # depends on event attributes that the sample does not have
    except TypeError as exc:
        raise ConditionError(f"type error: {str(exc).split('.', 1)[0]}") from exc
    if not isinstance(value, bool):
        raise ConditionError(f"a condition must be true or false, not {type(value).__name__}")


def validate_member_condition(source: str) -> None:
    """A condition over the member alone (a segment): ``validate`` and no other variable."""
    validate(source)
    others = variables(source) - {"member"}
    if others:
        name = sorted(others)[0]
        raise ConditionError(
            f"a segment condition may only use member, not {name!r}", _name_position(source, name)
        )


def _name_position(source: str, name: str, *, last: bool = False) -> int | None:
    """Where a name first (or last) stands in the source, outside string literals; a method
    name (``.name(``) counts too."""
    found = list(re.finditer(rf"(?<!\w){re.escape(name)}\b", _mask_strings(source)))
    if not last:
        found = [m for m in found if m.start() == 0 or source[m.start() - 1] != "."][:1]
    return (found[-1] if last else found[0]).start() if found else None


def sample_context() -> dict[str, Any]:
    now = datetime(2026, 1, 1, tzinfo=UTC)
    counts = {"today": 1, "week": 1, "month": 1, "total": 1, "subject": 1}
    return {
        "event": {
            "type": "sample",
            "client_id": "sample",
            "occurred_at": now,
            "local_date": "2026-01-01",
            "weekday": 4,
            "hour": 8,
            "attributes": {},
        },
        "member": {
            "id": "sample",
            "tier": "",
            "tags": [],
            "region": "",
            "joined_at": now,
            "days_since_joined": 0,
            "attributes": {},
            "name": "",
            "birthday": "",
            "locale": "zh-CN",
            "consent": {},
        },
        "counts": counts,
        "hits": {"today": 0, "week": 0, "month": 0, "total": 0},
        "streak": 1,
    }


def context_key(value: Any) -> Any:
    """A hashable key that two contexts share only when CEL sees the same values in them.

    Each value goes with its type (``1``, ``1.0`` and ``True`` are one key to a Python dict
    but three values to CEL), floats by their spelling (``0.0`` and ``-0.0``), time stamps with
    their offset. A value of any other type raises ``TypeError``: the caller evaluates instead.
    """
    kind = type(value)
    if kind is dict:
        return tuple([(k, context_key(v)) for k, v in value.items()])
    if kind is list:
        return (list, tuple([context_key(v) for v in value]))
    if kind is str or kind is int or kind is bool or value is None:
        return (kind, value)
    if kind is float:
        return (float, repr(value))
    if kind is datetime:
        return (datetime, value, value.utcoffset())
    raise TypeError(f"no key for a {kind.__name__}")


def evaluate(source: str, context: dict[str, Any]) -> bool:
    """True when the condition holds; a missing attribute or a type error is an error."""
    value = compile_condition(source).execute(context)
    if not isinstance(value, bool):
        raise TypeError(f"condition gave {type(value).__name__}, not a boolean")
    return value
