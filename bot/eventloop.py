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
from collections.abc import Coroutine
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
