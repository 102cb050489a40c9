"""A burst of updates is started a few per pass of the event loop (``bot.eventloop.PerPass``).

Started all at once, every update's first stretch of work ran before any of their HTTP
requests (written by tasks of their own) could leave; started a few per pass, the first
requests leave after a few preparations.
"""

from __future__ import annotations

import asyncio
import inspect

import pytest

from bot import eventloop
from bot.channels.telegram.app import (
    UPDATES_PER_PASS,
    PerPassUpdateProcessor,
    build_application,
)
from bot.channels.telegram.bot import CONCURRENT_UPDATES
from tests.conftest import TELEGRAM_TOKEN


async def _work(number: int, order: list[tuple[str, int]]) -> int:
    order.append(("start", number))
    # What an HTTP client does: the request's body is written by a task scheduled now.
    asyncio.get_running_loop().call_soon(order.append, ("sent", number))
    await asyncio.sleep(0.01)
    return number


async def test_the_first_requests_leave_after_a_few_starts_not_after_all() -> None:
    order: list[tuple[str, int]] = []
    per_pass = eventloop.PerPass(4)
    results = await asyncio.gather(*(per_pass.run(_work(n, order)) for n in range(12)))
    assert results == list(range(12))
    starts = [n for kind, n in order if kind == "start"]
    assert starts == list(range(12))  # in arrival order
    # Each pass starts four; what they scheduled runs before the next four start.
    assert order.index(("sent", 0)) < order.index(("start", 4))
    assert order.index(("sent", 4)) < order.index(("start", 8))
    assert order.index(("start", 3)) < order.index(("sent", 0))


async def test_started_all_at_once_no_request_leaves_before_every_start() -> None:
    # What PerPass changes: PTB's default starts every update of a burst in one pass.
    order: list[tuple[str, int]] = []
    await asyncio.gather(*(_work(n, order) for n in range(12)))
    assert order.index(("sent", 0)) > order.index(("start", 11))


async def test_a_waiting_update_cancelled_is_never_started_and_others_go_on() -> None:
    order: list[tuple[str, int]] = []
    per_pass = eventloop.PerPass(1)
    works = [_work(n, order) for n in range(4)]
    tasks = [asyncio.create_task(per_pass.run(work)) for work in works]
    await asyncio.sleep(0)
    tasks[2].cancel()
    assert await tasks[0] == 0 and await tasks[1] == 1 and await tasks[3] == 3
    with pytest.raises(asyncio.CancelledError):
        await tasks[2]
    assert ("start", 2) not in order
    assert inspect.getcoroutinestate(works[2]) == inspect.CORO_CLOSED


async def test_a_failure_reaches_the_caller() -> None:
    async def failing() -> None:
        raise ValueError("boom")

    per_pass = eventloop.PerPass(2)
    with pytest.raises(ValueError, match="boom"):
        await per_pass.run(failing())
    assert await per_pass.run(asyncio.sleep(0, "again")) == "again"


def test_the_bot_processes_updates_through_it(make_settings, catalog_db) -> None:
    application = build_application(make_settings(TELEGRAM_BOT_TOKEN=TELEGRAM_TOKEN))
    processor = application.update_processor
    assert isinstance(processor, PerPassUpdateProcessor)
    assert processor.max_concurrent_updates == CONCURRENT_UPDATES
    assert UPDATES_PER_PASS < CONCURRENT_UPDATES
