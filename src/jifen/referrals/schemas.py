"""API shapes of referrals: settings, invite codes, attribution, an inviter's list."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

from jifen.ledger.schemas import IdempotencyKey
from jifen.members.schemas import ExternalId

InviteCode = Annotated[str, Field(min_length=4, max_length=16, pattern=r"^[A-Za-z0-9]+$")]


class ReferralSettingsIn(BaseModel):
    """How a program runs referrals. Rewards themselves are earning rules on ``invite_accepted``."""

    model_config = ConfigDict(extra="forbid")

    # The invite link: ``{code}`` in it is replaced by the code, else ``invite_code=<code>`` is
    # appended as a query parameter. Empty: no link, codes only.
    link_base_url: str = Field(default="", max_length=500)
    # When an invite counts (and the inviter is paid): at once, at the invitee's first purchase,
    # or after the invitee has stayed ``qualify_days`` days without leaving.
    qualify_on: Literal["registered", "first_purchase", "days_stayed"] = "registered"
    qualify_days: int = Field(default=7, ge=1, le=365)
    refuse_shared_device: bool = True
    refuse_shared_ip: bool = False
    # A refund by the invitee within this many days of qualification takes the invite's rewards
    # back; 0: refunds never revoke an invite.
    refund_window_days: int = Field(default=0, ge=0, le=365)


class ReferralCodeOut(BaseModel):
    member: str
    code: str
    link: str | None


class AttributeIn(BaseModel):
    """Attribute a new member to the inviter whose code they used."""

    model_config = ConfigDict(extra="forbid")

    code: InviteCode
    invitee: ExternalId
    # The invitee's device and IP at registration; when left out, the invitee's member
    # attributes ``device_id`` and ``ip`` are used.
    device_id: str | None = Field(default=None, max_length=200)
    ip: str | None = Field(default=None, max_length=64)
    idempotency_key: IdempotencyKey | None = None


class RevokeIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    # ``left``: the invitee left (sent to the earning engine as ``member_left``); anything else
    # (refund, fraud...) reverses the invite's payouts directly.
    reason: Literal["left", "refund", "fraud", "other"]
    note: str | None = Field(default=None, max_length=200)
    operator: str = Field(default="api", min_length=1, max_length=200)
    idempotency_key: IdempotencyKey | None = None


Status = Literal["pending", "qualified", "revoked", "refused"]


class ReferralOut(BaseModel):
    id: int
    inviter: str
    invitee: str
    code: str
    status: Status
    source: str
    refused_code: str | None = None
    # What the invite paid the inviter, what revocation took back, and what is left, per asset.
    rewards: dict[str, int]
    reversed: dict[str, int]
    net: dict[str, int]
    revoke_reason: str | None = None
    created_at: datetime
    qualified_at: datetime | None = None
    revoked_at: datetime | None = None


class ReferralCounts(BaseModel):
    pending: int = 0
    qualified: int = 0
    revoked: int = 0


class ReferralList(BaseModel):
    member: str
    code: str | None
    counts: ReferralCounts
    # Net rewards over all of the inviter's referrals, per asset.
    earned: dict[str, int]
    items: list[ReferralOut]
    next_cursor: str | None
