"""Definitions stored as JSON, parsed once per content rather than once per batch.

Rule versions, campaigns and tier schemes are read by every event batch and validated into
Pydantic models (tens of microseconds each, a millisecond for a program's rule set). The cache
is keyed by the stored content itself, so it can never serve anything but what the row holds:
a changed definition is a different key. The models it returns are shared: never mutate them.
"""

from __future__ import annotations

from collections import OrderedDict
from threading import Lock
from typing import Any, TypeVar

import orjson
from pydantic import BaseModel

M = TypeVar("M", bound=BaseModel)

_SIZE = 4096
_cache: OrderedDict[tuple[type[BaseModel], bytes], BaseModel] = OrderedDict()
_lock = Lock()


def parse(model: type[M], data: Any) -> M:
    """``model.model_validate(data)``, from the cache when the same content was parsed before."""
    try:
        key = (model, orjson.dumps(data, option=orjson.OPT_SORT_KEYS))
    except TypeError:
        return model.model_validate(data)
    with _lock:
        hit = _cache.get(key)
        if hit is not None:
            _cache.move_to_end(key)
            return hit  # type: ignore[return-value]
    value = model.model_validate(data)
    with _lock:
        _cache[key] = value
        if len(_cache) > _SIZE:
            _cache.popitem(last=False)
    return value
