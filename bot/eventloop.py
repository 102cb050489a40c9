"""The event loop ``kratos run`` serves on: uvloop where it is installed, asyncio's otherwise.

uvloop runs the same asyncio code with its loop and sockets in C; for this bot (many small HTTP
requests and thread hand-offs per answer) it cut the CPU per answered question by about a tenth
(BENCHMARKS.md). It does not build on Windows, where the standard loop is used.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Coroutine
from typing import Any, TypeVar

logger = logging.getLogger(__name__)

T = TypeVar("T")


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
