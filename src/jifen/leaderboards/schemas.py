"""Leaderboard definitions and what the API returns about ranks and payouts."""

from __future__ import annotations

import itertools
from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from jifen.rules.schemas import AssetCode, EventType
from jifen.tasks.schemas import Reward, RewardPaid, Slug

BoardPeriod = Literal["day", "week", "month"]
Metric = Literal["points_earned", "event_count"]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)


class RankReward(_Strict):
    """Pay ``reward`` to ranks ``from`` to ``to`` (inclusive) when a period closes."""

    from_rank: Annotated[int, Field(alias="from", ge=1, le=1000)] = 1
    to_rank: Annotated[int, Field(alias="to", ge=1, le=1000)]
    reward: Reward

    @model_validator(mode="after")
    def _order(self) -> RankReward:
        if self.to_rank < self.from_rank:
            raise ValueError("to must not be before from")
        return self


class LeaderboardDefinition(_Strict):
    """A board ranks members per ``period`` (local day, ISO week or month in the program's time
    zone) by ``metric``: ``points_earned`` sums what events credited in ``asset`` (only from
    ``event_types`` when given); ``event_count`` counts events of ``event_type``."""

    id: Slug
    name: Annotated[str, Field(min_length=1, max_length=200)]
    metric: Metric
    period: BoardPeriod
    asset: AssetCode = "points"
    event_type: EventType | None = None
    event_types: list[EventType] = Field(default_factory=list, max_length=50)
    rewards: list[RankReward] = Field(default_factory=list, max_length=50)
    enabled: bool = True

    @model_validator(mode="after")
    def _consistent(self) -> LeaderboardDefinition:
        if self.metric == "event_count" and self.event_type is None:
            raise ValueError("an event_count board needs event_type")
        if self.metric == "points_earned" and self.event_type is not None:
            raise ValueError("a points_earned board filters by event_types, not event_type")
        spans = sorted((r.from_rank, r.to_rank) for r in self.rewards)
        for (_, a_to), (b_from, b_to) in itertools.pairwise(spans):
            if b_from <= a_to:
                raise ValueError(f"reward ranks overlap at {b_from}-{b_to}")
        return self

    def reward_for(self, rank: int) -> Reward | None:
        for r in self.rewards:
            if r.from_rank <= rank <= r.to_rank:
                return r.reward
        return None

    @property
    def paid_ranks(self) -> int:
        return max((r.to_rank for r in self.rewards), default=0)


class Entry(BaseModel):
    rank: int
    member: str
    score: int
    reached_at: datetime


class BoardOut(BaseModel):
    board: str
    name: str
    period: str = Field(description="2026-03-05, 2026-W10 or 2026-03")
    starts_at: datetime
    ends_at: datetime
    settled: bool
    source: Literal["redis", "database"]
    entries: list[Entry]


class MemberRankOut(BaseModel):
    board: str
    period: str
    member: str
    rank: int | None = Field(description="1-based; null when the member has no score yet")
    score: int
    reached_at: datetime | None = None


class PayoutOut(BaseModel):
    period: str
    rank: int
    member: str
    score: int
    paid: RewardPaid
    created_at: datetime
