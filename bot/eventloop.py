"""The event loop ``kratos run`` serves on, and the garbage collector's pace while it serves.

uvloop runs the same asyncio code with its loop and sockets in C; for this bot (many small HTTP
requests and thread hand-offs per answer) it cut the CPU per answered question by about a tenth
(BENCHMARKS.md). It does not build on Windows, where the standard loop is used.

CPython's cyclic garbage collector runs a young collection every 700 new container objects,
and each collection also walks every object still alive. While 200 answers are in flight (each
holding its update, HTTP requests, model reply and rows) those young collections, and the
middle and full ones they lead to, took about a quarter of a second per burst of 200 questions
(``make bench``, figure 2). Once serving, ``settle_heap`` moves what start-up built (modules,
the SQL parser's tables, the catalog's profile) out of the collector's sight (``gc.freeze``)
and collects young objects every ``GC_YOUNG_THRESHOLD`` instead; ``unsettle_heap`` gives them
back when the bot stops. Objects still die at once when their last reference goes: only
garbage in reference cycles waits for a collection.
"""

from __future__ import annotations

import asyncio
import gc
import logging
from collections import deque
from collections.abc import Awaitable, Coroutine
from typing import Any, TypeVar

logger = logging.getLogger(__name__)

T = TypeVar("T")

#: New container objects between two young collections while serving (CPython: 700).
GC_YOUNG_THRESHOLD = 50_000
#: Young collections between two middle ones, and middle between full ones (CPython: 10, 10).
GC_OLDER_THRESHOLDS = (20, 100)
_settled: list[tuple[int, int, int]] = []  # the thresholds before settle_heap, while settled


def settle_heap() -> None:
    """Once start-up is done: collect, freeze what is alive, collect less often (see above)."""
    if _settled:
        return
    _settled.append(gc.get_threshold())
    gc.collect()
    gc.freeze()
    gc.set_threshold(GC_YOUNG_THRESHOLD, *GC_OLDER_THRESHOLDS)


def unsettle_heap() -> None:
    """When the bot stops: the frozen objects and the thresholds back as they were."""
    if not _settled:
        return
    gc.set_threshold(*_settled.pop())
    gc.unfreeze()


class PerPass:
    """Starts at most ``size`` pieces of work per pass of the event loop, in arrival order.

    asyncio runs ready tasks first in, first out. When a burst of updates arrives at once
    (100 in one ``getUpdates`` answer), every update's task is ready together, and a request
    one of them makes (an HTTP body is written by a task of its own) only goes out after all
    the others have done their first stretch of work: the first model request of a burst
    left about 0.1 s after it, behind 99 other questions' preparation. Started ``size`` at a
    time, the first requests leave after ``size`` preparations, and the rest follow pass by
    pass; the work itself is not held back once started.
    """

    def __init__(self, size: int) -> None:
        self._size = size
        self._started = 0
        self._waiting: deque[asyncio.Future[None]] = deque()
        self._pass_ends: asyncio.Handle | None = None

    async def run(self, work: Awaitable[T]) -> T:
        """Wait for a place in this pass (or a later one), then return what ``work`` does."""
        if self._started >= self._size or self._waiting:
            place: asyncio.Future[None] = asyncio.get_running_loop().create_future()
            self._waiting.append(place)
            self._next_pass()
            try:
                await place
            except asyncio.CancelledError:
                if isinstance(work, Coroutine):
                    work.close()  # never started: closed, or Python warns it was never awaited
                raise
        else:
            self._started += 1
            self._next_pass()
        return await work

    def _next_pass(self) -> None:
        if self._pass_ends is None:
            self._pass_ends = asyncio.get_running_loop().call_soon(self._new_pass)

    def _new_pass(self) -> None:
        self._pass_ends = None
        self._started = 0
        while self._waiting and self._started < self._size:
            place = self._waiting.popleft()
            if not place.done():
                place.set_result(None)
                self._started += 1
        if self._waiting or self._started:
            self._next_pass()


def new_event_loop() -> asyncio.AbstractEventLoop:
    try:
        import uvloop
    except ImportError:
        return asyncio.new_event_loop()
    return uvloop.new_event_loop()


def run(main: Coroutine[Any, Any, T]) -> T:
    """``asyncio.run(main)`` on the loop ``new_event_loop`` makes."""
    with asyncio.Runner(loop_factory=new_event_loop) as runner:
        loop = runner.get_loop()
        logger.info("event loop: %s.%s", type(loop).__module__, type(loop).__name__)
        return runner.run(main)
