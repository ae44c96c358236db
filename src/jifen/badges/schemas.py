"""Badge definitions with their criteria, awards and the badge wall."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

from jifen.rules.schemas import EventType

Slug = Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9_.-]{0,79}$")]
Count = Annotated[int, Field(ge=1, le=1_000_000_000)]


class _Criterion(BaseModel):
    model_config = ConfigDict(extra="forbid")


class CheckInStreak(_Criterion):
    """Checked in ``n`` days in a row (make-ups count), at any time."""

    kind: Literal["checkin_streak"]
    n: Count


class CheckInDays(_Criterion):
    """Checked in on ``n`` days in all (make-ups count)."""

    kind: Literal["checkin_days"]
    n: Count


class EventCount(_Criterion):
    """At least ``n`` stored events of ``event_type``."""

    kind: Literal["event_count"]
    event_type: EventType
    n: Count


class TierReached(_Criterion):
    """The member is in tier ``tier`` or in a tier ranked above it."""

    kind: Literal["tier"]
    tier: Annotated[str, Field(min_length=1, max_length=40)]


class Manual(_Criterion):
    """Only awarded by hand."""

    kind: Literal["manual"]


Criterion = Annotated[
    CheckInStreak | CheckInDays | EventCount | TierReached | Manual,
    Field(discriminator="kind"),
]


class BadgeIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: Annotated[str, Field(min_length=1, max_length=100)]
    description: Annotated[str, Field(max_length=500)] = ""
    # Shown on the badge wall and the public page: an emoji or a short mark, and a colour.
    icon: Annotated[str, Field(min_length=1, max_length=8)] = "🏅"
    color: Annotated[str, Field(pattern=r"^#[0-9a-fA-F]{6}$")] = "#d4a017"
    criterion: Criterion
    enabled: bool = True
    sort_order: Annotated[int, Field(ge=0, le=1_000_000)] = 0


class BadgeOut(BadgeIn):
    id: str
    created_at: datetime
    updated_at: datetime


class AwardIn(BaseModel):
    """A badge awarded by hand (audited)."""

    model_config = ConfigDict(extra="forbid")

    badge_id: Slug
    reason: Annotated[str | None, Field(max_length=500)] = None
    idempotency_key: Annotated[str | None, Field(min_length=1, max_length=200)] = None


class EarnedBadge(BaseModel):
    badge_id: str
    name: str
    description: str
    icon: str
    color: str
    awarded_at: datetime
    source: str
    share_token: str
    share_url: str


class Progress(BaseModel):
    current: int
    target: int


class UnearnedBadge(BaseModel):
    badge_id: str
    name: str
    description: str
    icon: str
    color: str
    criterion: Criterion
    # How far the member is (none for manual and tier badges).
    progress: Progress | None


class BadgeWall(BaseModel):
    member: str
    earned: list[EarnedBadge]
    unearned: list[UnearnedBadge]


class AwardOut(BaseModel):
    awarded: bool
    member: str
    badge: EarnedBadge


class SharedBadge(BaseModel):
    """What the public page shows: the badge, when it was earned, and in which program."""

    program: str
    badge_id: str
    name: str
    description: str
    icon: str
    color: str
    awarded_on: date
    # The member's name, masked ("张*"), or null.
    member_name: str | None
