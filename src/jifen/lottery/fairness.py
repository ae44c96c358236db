"""Provable fairness: committed seeds, the draw's random number, and a recompute anyone can run.

For each pool and draw period (a local day in the program's time zone) the server makes a
random 32-byte seed and publishes ``sha256(seed)`` before the period starts. After the period
ends it reveals the seed. Draw number ``sequence`` (1, 2, ... within the period) takes its
random number from ``HMAC-SHA256(seed, f"{pool}:{period}:{sequence}")`` read as a 256-bit
big-endian integer, turned into a uniform integer in ``[0, total weight)`` by rejection sampling
(no modulo bias): a value at or above the largest multiple of the total below 2**256 is rejected
and the next one is taken from ``HMAC-SHA256(seed, f"{pool}:{period}:{sequence}:{attempt}")``,
attempt 1, 2, ...

The number picks a prize from the weights table stored with the draw (``[[prize_id, weight,
available, kind], ...]`` in the pool's order): the first prize whose running weight total
exceeds the number. Then, with no redraw ever:

1. the selected prize is the outcome when it was available (in stock, within the pool's points
   budget, its coupon issuable), unless it is a ``nothing`` prize and the pool has a consolation
   prize;
2. otherwise the consolation prize, when the pool has one and it was available;
3. otherwise nothing (``None``).

``recompute`` replays every draw of a period from the revealed seed with these rules.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

_SPACE = 1 << 256


def commitment(seed: str) -> str:
    """The published commitment to a hex seed: sha256 of its bytes, in hex."""
    return hashlib.sha256(bytes.fromhex(seed)).hexdigest()


def _hmac_int(seed: str, message: str) -> int:
    digest = hmac.new(bytes.fromhex(seed), message.encode(), hashlib.sha256).digest()
    return int.from_bytes(digest, "big")


def random_below(seed: str, pool_id: str, period: str, sequence: int, total: int) -> int:
    """The draw's uniform integer in ``[0, total)``, by rejection sampling."""
    if total <= 0:
        raise ValueError("total weight must be positive")
    limit = _SPACE - _SPACE % total
    base = f"{pool_id}:{period}:{sequence}"
    attempt = 0
    while True:
        value = _hmac_int(seed, base if attempt == 0 else f"{base}:{attempt}")
        if value < limit:
            return value % total
        attempt += 1


def select(weights: Sequence[int], number: int) -> int:
    """The index of the entry that ``number`` (in ``[0, sum(weights))``) falls in."""
    running = 0
    for index, weight in enumerate(weights):
        running += weight
        if number < running:
            return index
    raise ValueError("number is not below the total weight")


def resolve(
    table: Sequence[Sequence[Any]], selected: int, consolation: str | None
) -> tuple[str | None, str | None]:
    """``(prize won or None, why the selected prize was not it or None)`` under the rules above."""
    prize_id, _, available, kind = table[selected]
    if available and not (kind == "nothing" and consolation is not None):
        return str(prize_id), None
    why = "nothing" if available else "unavailable"
    if consolation is not None:
        for entry in table:
            if entry[0] == consolation and entry[2]:
                return consolation, why
    return None, why


def outcome(
    seed: str,
    pool_id: str,
    period: str,
    sequence: int,
    table: Sequence[Sequence[Any]],
    consolation: str | None,
) -> tuple[int, str, str | None]:
    """``(number, selected prize, prize won)`` for one draw."""
    number = random_below(seed, pool_id, period, sequence, sum(int(e[1]) for e in table))
    index = select([int(e[1]) for e in table], number)
    won, _ = resolve(table, index, consolation)
    return number, str(table[index][0]), won


def recompute(
    seed: str, pool_id: str, period: str, draws: Iterable[Mapping[str, Any]]
) -> list[str | None]:
    """The prize each draw should have won, from the revealed seed and the draws as listed by
    ``GET /v1/lottery/{pool}/periods/{period}/draws`` (``sequence``, ``weights``,
    ``consolation_prize``). Compare with each draw's ``prize_id``."""
    return [
        outcome(seed, pool_id, period, int(d["sequence"]), d["weights"], d["consolation_prize"])[2]
        for d in draws
    ]


def verify(listing: Mapping[str, Any]) -> bool:
    """Check a whole period listing: the seed matches the commitment and every draw's number,
    selected prize and prize won are what the seed gives."""
    seed = listing["seed"]
    if seed is None or commitment(seed) != listing["commitment"]:
        return False
    for d in listing["draws"]:
        number, selected, won = outcome(
            seed, listing["pool"], listing["period"], int(d["sequence"]), d["weights"],
            d["consolation_prize"],
        )  # fmt: skip
        if (str(number), selected, won) != (d["number"], d["selected_prize_id"], d["prize_id"]):
            return False
    return True
