"""``jifen demo``: a demo program with members and a few months of history."""

from __future__ import annotations

import random
import uuid
from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from jifen.clock import Clock
from jifen.config import Settings
from jifen.ledger import chain
from jifen.ledger import service as ledger
from jifen.ledger.schemas import AdjustIn, CreditIn, DebitIn, HoldIn, ReverseIn
from jifen.members import service as members
from jifen.members.schemas import MemberUpsert
from jifen.programs import service as programs
from jifen.programs.context import ProgramContext, to_context
from jifen.programs.models import Program
from jifen.programs.schemas import ExpiryPolicy, ProgramCreate, ProgramSettings

DEMO_ID = "demo"
NAMES = [
    "王芳", "李娜", "张伟", "刘洋", "陈静", "杨磊", "赵敏", "黄强", "周杰", "吴婷",
    "徐磊", "孙丽", "马超", "朱琳", "胡军", "郭蕾", "何平", "高远", "林峰", "罗佳",
]  # fmt: skip
REGIONS = ["上海", "北京", "深圳", "杭州", "成都", "广州"]


async def load_demo(
    sessionmaker: async_sessionmaker[AsyncSession],
    clock: Clock,
    settings: Settings | None = None,
) -> str | None:
    """Create the demo program; returns its API key, or None if it already exists.

    With ``settings`` (the server's), it also configures every capability and plays three weeks
    of member activity through the API (``jifen.demo_activity``)."""
    now = clock.now()
    rng = random.Random(20261124)
    async with sessionmaker() as s, s.begin():
        if await s.get(Program, DEMO_ID) is not None:
            return None
        program_settings = ProgramSettings(expiry=ExpiryPolicy(kind="rolling", months=24))
        program = await programs.create_program(
            s,
            ProgramCreate(id=DEMO_ID, name="积分示例商城 Demo Store", settings=program_settings),
            now=now,
            actor="demo",
        )
        ctx = to_context(program)
        _, key = await programs.create_api_key(s, DEMO_ID, "demo", now=now, actor="demo")
        for i, name in enumerate(NAMES):
            await members.upsert(
                s,
                DEMO_ID,
                f"m{i + 1:03d}",
                MemberUpsert(
                    name=name,
                    phone=f"1380000{i + 1:04d}",
                    region=rng.choice(REGIONS),
                    tags=rng.sample(["new", "vip", "course", "community", "retail"], 2),
                    consent={"marketing": rng.random() < 0.7},
                    joined_at=now - timedelta(days=200 - i * 5),
                ),
                now=now,
            )
    if settings is not None:
        from jifen.demo_activity import run as play

        await play(settings, key, [f"m{i + 1:03d}" for i in range(len(NAMES))], now)
    async with sessionmaker() as s, s.begin():
        await _history(s, ctx, now, rng)
    async with sessionmaker() as s, s.begin():
        await chain.seal(s, DEMO_ID, now=now)
    async with sessionmaker() as s, s.begin():
        # The console's demo owner: sign in at /console/login (see docs/concepts/console.md).
        from jifen.users.service import ensure_user

        await ensure_user(
            s, email="owner@demo.jifen", password="jifen-demo",  # noqa: S106 - published demo
            program_id=DEMO_ID, role="owner", name="Demo owner", now=now, actor="demo",
        )  # fmt: skip
    return key


async def _history(s: AsyncSession, ctx: ProgramContext, now: datetime, rng: random.Random) -> None:
    credits: list[CreditIn] = []
    for i in range(len(NAMES)):
        member = f"m{i + 1:03d}"
        for j in range(rng.randint(4, 12)):
            when = now - timedelta(days=rng.randint(1, 180), hours=rng.randint(0, 23))
            yuan = rng.choice([39, 99, 128, 199, 299, 520])
            credits.append(
                CreditIn(
                    idempotency_key=f"demo-order-{member}-{j}",
                    member=member,
                    amount=yuan,
                    reason=f"消费 {yuan} 元 purchase",
                    reference=f"order-{member}-{j}",
                    occurred_at=when,
                )
            )
        credits.append(
            CreditIn(
                idempotency_key=f"demo-growth-{member}",
                member=member,
                asset="growth",
                amount=rng.randint(50, 3000),
                reason="成长值",
            )
        )
    credits.sort(key=lambda c: c.occurred_at or now)
    results = await ledger.credit(s, ctx, credits, now=now)
    await ledger.debit(
        s,
        ctx,
        [
            DebitIn(
                idempotency_key=f"demo-redeem-{i}",
                member=f"m{i + 1:03d}",
                amount=100,
                reason="兑换 50 元无门槛券 coupon",
            )
            for i in range(0, len(NAMES), 3)
        ],
        now=now,
    )
    await ledger.hold(
        s,
        ctx,
        [
            HoldIn(
                idempotency_key="demo-hold-1",
                member="m002",
                amount=50,
                reason="积分抵扣 checkout",
                timeout_seconds=3600,
            )
        ],
        now=now,
    )
    first = uuid.UUID(results[0].body["id"])
    await ledger.reverse(
        s, ctx, first, ReverseIn(idempotency_key="demo-refund-1", reason="退款 refund"), now=now
    )
    await ledger.adjust(
        s,
        ctx,
        AdjustIn(
            idempotency_key="demo-adjust-1",
            member="m005",
            amount=200,
            reason="客服补偿 goodwill",
            operator="demo-operator",
        ),
        now=now,
    )
