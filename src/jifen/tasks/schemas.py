"""Task definitions, groups, submissions and a member's task list, as the API reads and writes
them."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from jifen.rules.schemas import EventType

Slug = Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9_.-]{0,79}$")]
Reviewer = Annotated[str, Field(min_length=1, max_length=200)]
TaskKind = Literal["newbie", "daily", "growth", "challenge"]
# How often a task can be completed: once, or once per local day / ISO week / month.
Repeat = Literal["once", "day", "week", "month"]
SubmissionStatus = Literal["pending", "approved", "rejected"]
RewardAmount = Annotated[int, Field(ge=0, le=10**12, strict=True)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Reward(_Strict):
    """What completing something pays: points, growth value, cash (in fen) and/or a coupon."""

    points: RewardAmount = 0
    growth: RewardAmount = 0
    cash: RewardAmount = Field(default=0, description="Reward cash in fen (200 = 2 yuan)")
    coupon_template: Slug | None = None

    def amounts(self) -> list[tuple[str, int]]:
        """The ledger credits this reward makes, asset by asset."""
        return [(a, n) for a, n in (("points", self.points), ("growth", self.growth),
                                    ("cash", self.cash)) if n > 0]  # fmt: skip


class EventCompletion(_Strict):
    """Completed when the member has sent ``count`` events of ``trigger`` (in the task's period)
    for which ``condition`` holds. The condition is CEL over ``event`` and ``member``."""

    by: Literal["event"]
    trigger: EventType
    condition: Annotated[str, Field(min_length=1, max_length=4000)] = "true"
    count: Annotated[int, Field(ge=1, le=1_000_000)] = 1


class SubmissionCompletion(_Strict):
    """Completed when a reviewer approves the member's submission (a screenshot URL, a text)."""

    by: Literal["submission"]
    require_url: bool = False
    require_text: bool = False
    instructions: Annotated[str, Field(max_length=2000)] = ""


Completion = Annotated[EventCompletion | SubmissionCompletion, Field(discriminator="by")]


class Deadline(_Strict):
    """The task must be done within this many days (24-hour periods) of the member joining."""

    within_days_of_joining: Annotated[int, Field(ge=1, le=3650)]


class TaskDefinition(_Strict):
    """A task. ``newbie`` and ``growth`` tasks are done once, ``daily`` tasks once per local day
    (in the program's time zone), ``challenge`` tasks once per ``repeat`` period (``once`` by
    default) with ``completion.count`` qualifying events inside it."""

    id: Slug
    name: Annotated[str, Field(min_length=1, max_length=200)]
    description: Annotated[str, Field(max_length=2000)] = ""
    kind: TaskKind
    completion: Completion
    reward: Reward = Field(default_factory=Reward)
    # Tasks sharing a group pay the group's bonus once all of them are completed.
    group: Slug | None = None
    repeat: Repeat | None = None
    starts_at: datetime | None = None
    ends_at: datetime | None = None
    deadline: Deadline | None = None
    enabled: bool = True
    position: Annotated[int, Field(ge=0, le=100_000)] = 100

    @field_validator("starts_at", "ends_at")
    @classmethod
    def _aware(cls, value: datetime | None) -> datetime | None:
        if value is not None and value.tzinfo is None:
            raise ValueError("must include a time zone offset")
        return value

    @model_validator(mode="after")
    def _consistent(self) -> TaskDefinition:
        natural: dict[str, Repeat] = {"newbie": "once", "growth": "once", "daily": "day"}
        if self.kind in natural:
            if self.repeat is not None and self.repeat != natural[self.kind]:
                raise ValueError(f"a {self.kind} task repeats {natural[self.kind]!r}")
            self.repeat = natural[self.kind]
        else:
            self.repeat = self.repeat or "once"
            if self.completion.by != "event":
                raise ValueError("a challenge task is completed by events (completion.by=event)")
        if self.starts_at and self.ends_at and self.ends_at <= self.starts_at:
            raise ValueError("ends_at must be after starts_at")
        return self

    @property
    def period_window(self) -> Repeat:
        return self.repeat or "once"


class TaskGroupDefinition(_Strict):
    id: Slug
    name: Annotated[str, Field(min_length=1, max_length=200)]
    bonus: Reward = Field(default_factory=Reward)
    enabled: bool = True


class SubmissionIn(_Strict):
    proof_url: Annotated[str, Field(max_length=2000, pattern=r"^https?://\S+$")] | None = None
    proof_text: Annotated[str, Field(min_length=1, max_length=2000)] | None = None
    idempotency_key: Annotated[str, Field(min_length=1, max_length=200)] | None = None


class ClaimIn(_Strict):
    reviewer: Reviewer
    idempotency_key: Annotated[str, Field(min_length=1, max_length=200)] | None = None


class ApproveIn(_Strict):
    reviewer: Reviewer
    reason: Annotated[str, Field(max_length=500)] | None = None
    idempotency_key: Annotated[str, Field(min_length=1, max_length=200)] | None = None


class RejectIn(_Strict):
    reviewer: Reviewer
    reason: Annotated[str, Field(min_length=1, max_length=500)]
    idempotency_key: Annotated[str, Field(min_length=1, max_length=200)] | None = None


class PaidOut(BaseModel):
    asset: str
    amount: int
    transaction_id: str


class RewardPaid(BaseModel):
    transactions: list[PaidOut] = Field(default_factory=list)
    coupon: dict[str, object] | None = None
    # Why the coupon could not be issued ({"code", "detail"}), when it could not.
    coupon_error: dict[str, str] | None = None


class CompletionOut(BaseModel):
    id: int
    task_id: str
    period: str
    source: str
    completed_at: datetime
    paid: RewardPaid


class SubmissionOut(BaseModel):
    id: int
    task_id: str
    member: str
    period: str
    proof_url: str | None
    proof_text: str | None
    status: SubmissionStatus
    claimed_by: str | None
    claimed_at: datetime | None
    decided_by: str | None
    decided_at: datetime | None
    decision_reason: str | None
    completion: CompletionOut | None = None
    created_at: datetime


class SubmissionPage(BaseModel):
    items: list[SubmissionOut]
    next_cursor: str | None


MemberTaskStatus = Literal[
    "upcoming", "available", "in_progress", "pending_review", "rejected", "completed", "expired",
    "ended",
]  # fmt: skip


class MemberTaskOut(BaseModel):
    task_id: str
    name: str
    description: str
    kind: TaskKind
    group: str | None
    by: Literal["event", "submission"]
    period: str = Field(description="all, 2026-03-01, 2026-W10 or 2026-03")
    status: MemberTaskStatus
    progress: int
    required: int
    reward: Reward
    deadline_at: datetime | None = None
    completed_at: datetime | None = None
    submission_id: int | None = None
    rejection_reason: str | None = None


class MemberGroupOut(BaseModel):
    group_id: str
    name: str
    completed: int
    total: int
    bonus: Reward
    bonus_paid: bool


class MemberTasksOut(BaseModel):
    member: str
    tasks: list[MemberTaskOut]
    groups: list[MemberGroupOut]
