"""Webhook signatures: HMAC-SHA256 over ``f"{timestamp}.{body}"`` under the endpoint's secret.

Each delivery carries ``Jifen-Signature: t=<unix seconds>,v1=<hex digest>``. A receiver checks
the digest with its copy of the secret (``verify``) and refuses stale timestamps, so a captured
request cannot be replayed later. ``Jifen-Message-Id`` is the outbox message's id: the same on
every retry, so the receiver can de-duplicate.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time

SIGNATURE_HEADER = "Jifen-Signature"
MESSAGE_ID_HEADER = "Jifen-Message-Id"
DEFAULT_TOLERANCE_S = 300


def new_secret() -> str:
    return "whsec_" + secrets.token_urlsafe(32)


def digest(secret: str, timestamp: int, body: bytes) -> str:
    return hmac.new(
        secret.encode(), str(timestamp).encode() + b"." + body, hashlib.sha256
    ).hexdigest()


def sign(secret: str, timestamp: int, body: bytes) -> str:
    """The ``Jifen-Signature`` header value for ``body`` sent at ``timestamp``."""
    return f"t={timestamp},v1={digest(secret, timestamp, body)}"


def verify(
    secret: str,
    body: bytes | str,
    header: str,
    *,
    now: float | None = None,
    tolerance: int = DEFAULT_TOLERANCE_S,
) -> bool:
    """True when ``header`` signs ``body`` under ``secret`` within ``tolerance`` seconds of
    ``now`` (the current time by default). Any ``v1`` value may match (during secret rotation
    a sender may send several)."""
    raw = body.encode() if isinstance(body, str) else body
    timestamp: int | None = None
    candidates: list[str] = []
    for part in header.split(","):
        name, _, value = part.strip().partition("=")
        if name == "t":
            try:
                timestamp = int(value)
            except ValueError:
                return False
        elif name == "v1":
            candidates.append(value)
    if timestamp is None or not candidates:
        return False
    current = time.time() if now is None else now
    if abs(current - timestamp) > tolerance:
        return False
    expected = digest(secret, timestamp, raw)
    return any(hmac.compare_digest(expected, c) for c in candidates)
