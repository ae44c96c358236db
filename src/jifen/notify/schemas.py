"""Inputs and outputs of the notifications API."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

EventTypeName = Annotated[str, Field(pattern=r"^(\*|[a-z0-9_]+(\.[a-z0-9_]+)+)$", max_length=60)]
LocaleName = Annotated[str, Field(pattern=r"^[a-z]{2,3}(-[A-Za-z0-9]{2,8})?$", max_length=16)]


class TemplateIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    # Jinja2 (sandboxed) over the message's payload, e.g. "您获得{{ abs_amount }}积分".
    text: str = Field(min_length=1, max_length=1000)


class TemplateOut(BaseModel):
    type: str
    locale: str
    text: str
    source: Literal["default", "program"]
    updated_at: datetime | None = None


class NotificationSettingsIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reminders_enabled: bool = True
    # Remind members of points expiring within this many days.
    reminder_days: int = Field(default=30, ge=1, le=366)
    # Points given on the member's birthday / joining anniversary (0: none).
    birthday_points: int = Field(default=0, ge=0, le=10**9, strict=True)
    anniversary_points: int = Field(default=0, ge=0, le=10**9, strict=True)


class NotificationSettingsOut(NotificationSettingsIn):
    updated_at: datetime | None = None


class NotificationOut(BaseModel):
    id: uuid.UUID
    type: str
    topic: str
    locale: str
    text: str
    data: dict[str, Any]
    created_at: datetime


class NotificationPage(BaseModel):
    items: list[NotificationOut]
    next_cursor: str | None = None
