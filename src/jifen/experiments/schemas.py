"""Experiment definitions, assignments and the comparison report."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

ExperimentId = Annotated[
    str, Field(pattern=r"^[a-z0-9][a-z0-9_.-]{0,79}$", examples=["checkin-x2-pilot"])
]
Group = Literal["control", "treatment"]
Metric = Literal["active_rate", "events_per_member", "retention", "points_cost_per_member"]


class ExperimentIn(BaseModel):
    """An experiment: ``treatment_percent`` of members (by a stable hash of experiment id and
    member id) form the treatment group, the rest the control group. Rules name the experiment
    and a group (``"experiment": {"id": ..., "group": "treatment"}``) to apply to that group
    only. A member's group is stored the first time it matters and never changes afterwards,
    even if ``treatment_percent`` does (then only members not yet assigned follow the new share).
    """

    model_config = ConfigDict(extra="forbid")

    # Taken from the path on PUT; when sent it must agree.
    id: ExperimentId | None = None
    name: Annotated[str, Field(min_length=1, max_length=200)]
    description: Annotated[str, Field(max_length=2000)] = ""
    # Share of members in the treatment group, 0-100 in steps of 0.01 (10 = a 10% pilot).
    treatment_percent: Annotated[
        Decimal, Field(ge=0, le=100, max_digits=5, decimal_places=2, examples=["10"])
    ]
    starts_at: datetime
    # Open-ended when omitted.
    ends_at: datetime | None = None

    @field_validator("starts_at", "ends_at")
    @classmethod
    def _aware(cls, value: datetime | None) -> datetime | None:
        if value is not None and value.tzinfo is None:
            raise ValueError("must include a time zone offset")
        return value

    @model_validator(mode="after")
    def _window(self) -> ExperimentIn:
        if self.ends_at is not None and self.ends_at <= self.starts_at:
            raise ValueError("ends_at must be after starts_at")
        return self

    @property
    def treatment_bp(self) -> int:
        """The share in basis points (10% = 1000), as stored and used for bucketing."""
        return int(self.treatment_percent * 100)


class GroupCounts(BaseModel):
    control: int = 0
    treatment: int = 0


class ExperimentOut(BaseModel):
    id: str
    name: str
    description: str
    treatment_percent: Decimal
    starts_at: datetime
    ends_at: datetime | None
    # scheduled (before starts_at), running, ended (at or after ends_at).
    status: Literal["scheduled", "running", "ended"]
    # Members with a stored assignment, per group.
    assigned: GroupCounts
    created_at: datetime


class AssignmentOut(BaseModel):
    experiment_id: str
    member: str
    # The stored group, or else the group the member's hash gives at the current share.
    group: Group
    stored: bool
    assigned_at: datetime | None
    # The member's bucket in [0, 10000): treatment when below treatment_percent × 100.
    bucket: int
    # What experiment rules would apply to an event ingested now: the stored group; else,
    # inside the window, ``group`` (it would be stored then); else control.
    effective_group: Group


class EnrollOut(BaseModel):
    experiment_id: str
    # Members newly assigned by this call (members already assigned keep their group).
    newly_assigned: GroupCounts
    assigned: GroupCounts


class GroupStats(BaseModel):
    group: Group
    # Members with a stored assignment to this group.
    members: int
    # Members with at least one event in the window, and their share of ``members``.
    active: int
    active_rate: float
    # Events in the window per assigned member (members without events count as 0).
    events: int
    events_per_member: float
    events_per_member_variance: float
    # Credits of ``asset`` to the group's members that occurred in the window, less what has
    # been reversed of them since; per member over all assigned members.
    points_credited: int
    points_reversed: int
    points_cost: int
    points_cost_per_member: Decimal
    points_cost_per_member_variance: float
    # Of the members active in the first half of the window, how many were active in the second.
    retention_base: int
    retained: int
    retention: float | None


class Comparison(BaseModel):
    metric: Metric
    test: Literal["two_proportion_z", "welch_t"]
    control: float | None
    treatment: float | None
    # treatment − control, and relative to control (None when control is 0).
    difference: float | None
    relative_difference: float | None
    statistic: float | None
    df: float | None
    p_value: float | None
    significant: bool
    note: str | None = None


class ReportWindow(BaseModel):
    starts_at: datetime
    # min(ends_at, now): the report never looks past the experiment's end or the present.
    ends_at: datetime
    # The two halves for retention: [starts_at, midpoint) and [midpoint, ends_at).
    midpoint: datetime
    complete: bool


class ReportOut(BaseModel):
    experiment_id: str
    name: str
    treatment_percent: Decimal
    window: ReportWindow
    asset: str
    alpha: float
    control: GroupStats
    treatment: GroupStats
    comparisons: list[Comparison]
    # The metrics whose difference is significant at ``alpha``.
    significant: list[Metric]
    generated_at: datetime
