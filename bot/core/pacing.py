"""Pacing of incoming messages: a per-user rate limit and per-conversation answer order.

Both are transport-agnostic: the Telegram adapter uses them, and any other transport can.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import deque
from collections.abc import AsyncIterator, Callable
from enum import Enum

RATE_LIMIT_PRUNE_ABOVE = 4096  # users tracked before idle ones are swept out


class Verdict(Enum):
    """What the rate limit says about one message."""

    ALLOW = "allow"
    WARN = "warn"  # the first message over the limit: tell the user once
    SILENT = "silent"  # later ones in the same burst


class RateLimit:
    """At most ``limit`` messages per user in any ``window`` seconds (a sliding window).

    Only the first message over the limit is answered with a warning, so a flood of messages
    is not answered with a flood of warnings.
    """

    def __init__(self, limit: int, window: float,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.limit = limit
        self.window = window
        self._clock = clock
        self._hits: dict[int, deque[float]] = {}
        self._warned: set[int] = set()

    def check(self, user_id: int) -> Verdict:
        now = self._clock()
        if len(self._hits) > RATE_LIMIT_PRUNE_ABOVE:
            self._forget_idle(now)
        hits = self._hits.setdefault(user_id, deque())
        while hits and now - hits[0] >= self.window:
            hits.popleft()
        if len(hits) < self.limit:
            hits.append(now)
            self._warned.discard(user_id)
            return Verdict.ALLOW
        if user_id in self._warned:
            return Verdict.SILENT
        self._warned.add(user_id)
        return Verdict.WARN

    def _forget_idle(self, now: float) -> None:
        for user_id, hits in list(self._hits.items()):
            if not hits or now - hits[-1] >= self.window:
                del self._hits[user_id]
                self._warned.discard(user_id)


class _Slot:
    __slots__ = ("lock", "users")

    def __init__(self) -> None:
        self.lock = asyncio.Lock()
        self.users = 0


class ConversationLocks:
    """One lock per conversation, dropped once nobody holds or awaits it.

    ``asyncio.Lock`` wakes its waiters first come, first served, and a newcomer cannot jump
    the queue; so if every handler reaches ``hold`` in update order, answers go out in the
    order the messages were sent.
    """

    def __init__(self) -> None:
        self._slots: dict[str, _Slot] = {}

    @contextlib.asynccontextmanager
    async def hold(self, key: str) -> AsyncIterator[None]:
        slot = self._slots.setdefault(key, _Slot())
        slot.users += 1
        try:
            async with slot.lock:
                yield
        finally:
            slot.users -= 1
            if slot.users == 0:
                del self._slots[key]

    def __len__(self) -> int:
        return len(self._slots)
