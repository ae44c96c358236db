"""Ranks from Redis sorted sets, mirrored from the database's committed scores.

The events listener writes scores to the database only, inside the batch's transaction, so a
rolled-back batch never reaches Redis. A read first copies the period's scores that changed
since the last copy (``mirrored`` is false) into the sorted set, then marks them copied unless
they moved on meanwhile; a missing set (a new or flushed Redis) is rebuilt from the database.

One sorted set per board and period, ``jifen:lb:<program>:<board>:<period>`` (the program id
keeps tenants, and tests, apart). Members are zero-padded internal ids; the Redis score packs
the ranking rule into one exact integer, negated so that ``ZRANGE`` ascending is rank order::

    -(score * 2**22 + (2**22 - 1 - seconds from period start to reached_at))

Higher score first; at equal scores the earlier ``reached_at`` has the larger packed value;
at equal packed values Redis orders members by their (padded, so numeric) id: exactly the
database's ``ORDER BY score DESC, reached_at, member_id``. A month has fewer than 2**22
seconds and scores up to 2**31 - 1 keep the packed value below 2**53, exact in a double.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from redis.asyncio import Redis

from jifen.api.deps import Db
from jifen.leaderboards import service

SHIFT = 1 << 22
MAX_SCORE = (1 << 31) - 1
CHUNK = 5000
# How long a closed period's set stays in Redis; later reads rebuild it from the database.
KEEP = timedelta(days=7)
# The least time a set is kept, so that reading an old period still answers from Redis.
MIN_TTL = timedelta(hours=1)


def board_key(program_id: str, board_id: str, period: str) -> str:
    return f"jifen:lb:{program_id}:{board_id}:{period}"


def encode(score: int, reached_at: datetime, starts_at: datetime) -> int:
    offset = min(max(int((reached_at - starts_at).total_seconds()), 0), SHIFT - 1)
    return -(min(score, MAX_SCORE) * SHIFT + (SHIFT - 1 - offset))


def decode(value: float, starts_at: datetime) -> tuple[int, datetime]:
    score, rest = divmod(-int(value), SHIFT)
    return score, starts_at + timedelta(seconds=SHIFT - 1 - rest)


def _member(member_id: int) -> str:
    return f"{member_id:020d}"


@dataclass
class RedisBoard:
    """One board period in Redis, refreshed from the database before it answers."""

    redis: Redis
    db: Db
    program_id: str
    board_id: str
    period: str
    starts_at: datetime
    ends_at: datetime

    @property
    def key(self) -> str:
        return board_key(self.program_id, self.board_id, self.period)

    def _ttl(self, extra: timedelta = timedelta(0)) -> int:
        # Relative to the application's clock (an injected one in tests), not Redis's.
        keep = max(self.ends_at + KEEP - self.db.now(), MIN_TTL) + extra
        return int(keep.total_seconds())

    async def _put(self, rows: list[tuple[int, int, int, datetime]]) -> None:
        if not rows:
            return
        mapping: dict[Any, float] = {
            _member(m): encode(score, reached, self.starts_at) for _, m, score, reached in rows
        }
        # LT: a member's packed value only ever decreases as the score grows, so a slower
        # reader copying an older score can never overwrite a newer one.
        await self.redis.zadd(self.key, mapping, lt=True)
        await self.redis.expire(self.key, self._ttl(timedelta(hours=1)))

    async def _copy(self, *, unmirrored_only: bool) -> None:
        after = 0
        while True:
            start = after

            async def read(s: Any, start: int = start) -> list[tuple[int, int, int, datetime]]:
                return await service.scores_after(
                    s,
                    self.program_id,
                    self.board_id,
                    self.period,
                    after_id=start,
                    limit=CHUNK,
                    unmirrored_only=unmirrored_only,
                )

            rows = await self.db.read(read)
            await self._put(rows)
            if unmirrored_only and rows:
                copied = [(i, score) for i, _, score, _ in rows]

                async def mark(s: Any, copied: list[tuple[int, int]] = copied) -> None:
                    await service.mark_mirrored(s, self.program_id, copied)

                await self.db.write(mark)
            if len(rows) < CHUNK:
                return
            after = rows[-1][0]

    async def refresh(self) -> None:
        loaded = f"{self.key}:loaded"
        if not await self.redis.exists(loaded):
            await self._copy(unmirrored_only=False)
            # The marker expires before the set: a set without a marker is rebuilt.
            await self.redis.set(loaded, "1", ex=self._ttl())
        await self._copy(unmirrored_only=True)

    async def top(self, limit: int) -> list[tuple[int, int, datetime]]:
        """``(member_id, score, reached_at)`` of ranks 1..limit."""
        items = await self.redis.zrange(self.key, 0, limit - 1, withscores=True)
        out = []
        for member, value in items:
            score, reached = decode(value, self.starts_at)
            out.append((int(member), score, reached))
        return out

    async def rank(self, member_id: int) -> tuple[int, int, datetime] | None:
        """``(rank, score, reached_at)`` of one member, or None without a score."""
        name = _member(member_id)
        position = await self.redis.zrank(self.key, name)
        value = await self.redis.zscore(self.key, name)
        if position is None or value is None:
            return None
        score, reached = decode(value, self.starts_at)
        return int(position) + 1, score, reached
