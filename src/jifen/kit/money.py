"""Rounding of amounts computed from rates: the one place where a Decimal becomes whole units."""

from __future__ import annotations

from decimal import ROUND_CEILING, ROUND_FLOOR, ROUND_HALF_EVEN, ROUND_HALF_UP, Decimal
from typing import Literal

Rounding = Literal["down", "up", "half_up", "half_even"]

_MODES = {
    "down": ROUND_FLOOR,
    "up": ROUND_CEILING,
    "half_up": ROUND_HALF_UP,
    "half_even": ROUND_HALF_EVEN,
}


def to_units(value: Decimal, rounding: Rounding) -> int:
    """Round a non-negative decimal amount to whole minor units by the stated policy."""
    return int(value.to_integral_value(rounding=_MODES[rounding]))
