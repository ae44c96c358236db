"""API shapes for members."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

ExternalId = Annotated[
    str, Field(min_length=1, max_length=128, pattern=r"^[A-Za-z0-9_.:@\-]+$", examples=["u-10086"])
]


class MemberUpsert(BaseModel):
    """Profile fields; on update only the fields sent are changed."""

    model_config = ConfigDict(extra="forbid")

    name: str | None = Field(default=None, max_length=200)
    phone: str | None = Field(default=None, max_length=40)
    email: str | None = Field(default=None, max_length=200)
    birthday: date | None = None
    region: str | None = Field(default=None, max_length=100)
    locale: Literal["zh-CN", "en"] | None = None
    tags: list[Annotated[str, Field(min_length=1, max_length=64)]] | None = Field(
        default=None, max_length=100
    )
    consent: dict[Annotated[str, Field(max_length=64)], bool] | None = None
    attributes: dict[str, Any] | None = None
    joined_at: datetime | None = None


class MemberOut(BaseModel):
    id: str
    name: str | None
    phone: str | None
    email: str | None
    birthday: date | None
    region: str | None
    locale: str
    tags: list[str]
    consent: dict[str, bool]
    attributes: dict[str, Any]
    status: str
    joined_at: datetime
    created_at: datetime
    updated_at: datetime


class MemberPage(BaseModel):
    items: list[MemberOut]
    next_cursor: str | None
