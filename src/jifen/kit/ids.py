"""Time-ordered UUIDs (version 7 layout) so that new rows land at the end of their indexes."""

from __future__ import annotations

import os
import time
import uuid


def uuid7() -> uuid.UUID:
    """A UUID whose first 48 bits are the Unix time in milliseconds (RFC 9562 version 7)."""
    return uuid.UUID(int=uuid7_int())


def uuid7_int() -> int:
    """``uuid7()`` as its 128-bit integer, for callers that adjust it before making the UUID."""
    ms = time.time_ns() // 1_000_000
    rand = int.from_bytes(os.urandom(10), "big")
    value = (ms & ((1 << 48) - 1)) << 80
    value |= 0x7 << 76  # version
    value |= (rand >> 68 & 0xFFF) << 64  # rand_a, 12 bits
    value |= 0b10 << 62  # variant
    value |= rand & ((1 << 62) - 1)  # rand_b, 62 bits
    return value
