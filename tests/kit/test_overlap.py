"""``overlap.beside``: work started before the body, finished (or failed) before leaving."""

from __future__ import annotations

import asyncio

import pytest

from jifen.kit import overlap


async def test_work_reaches_its_first_wait_before_the_body_runs_and_ends_before_leaving() -> None:
    steps: list[str] = []
    reply = asyncio.Event()

    async def work() -> None:
        steps.append("sent")  # a statement on its way to the server
        await reply.wait()  # the server's answer
        steps.append("answered")

    async with overlap.beside(work()):
        steps.append("body")
        reply.set()
    steps.append("after")
    assert steps == ["sent", "body", "answered", "after"]


async def test_the_works_error_is_raised_on_leaving() -> None:
    async def work() -> None:
        await asyncio.sleep(0)
        raise ValueError("duplicate key")

    with pytest.raises(ValueError, match="duplicate key"):
        async with overlap.beside(work()):
            pass


async def test_a_failing_body_waits_for_the_work_and_raises_its_own_error() -> None:
    finished: list[bool] = []

    async def work() -> None:
        await asyncio.sleep(0.01)
        finished.append(True)

    with pytest.raises(KeyError):
        async with overlap.beside(work()):
            raise KeyError("body")
    assert finished == [True]  # nothing left running on the connection
