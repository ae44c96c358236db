"""Deterministic assignment of members to experiment groups."""

from __future__ import annotations

import hashlib


def bucket(experiment_id: str, member_external_id: str) -> int:
    """A stable number in [0, 10000) for the pair: the same member always lands the same way."""
    digest = hashlib.sha256(f"{experiment_id}:{member_external_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big") % 10000


def group_for(experiment_id: str, member_external_id: str, treatment_bp: int) -> str:
    """``treatment`` for the first ``treatment_bp`` basis points of buckets, else ``control``."""
    return "treatment" if bucket(experiment_id, member_external_id) < treatment_bp else "control"
