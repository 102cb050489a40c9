"""Forgetting on schedule: expired conversations, transcripts and usage detail are purged.

``load_history`` forgets an idle conversation only when its user writes again; someone who never
returns would stay in the state database forever. ``purge_forever`` runs ``purge_expired_data``
at start-up and then every PURGE_INTERVAL seconds until cancelled (the Telegram bot runs it as a
task beside polling). Channel-agnostic.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass

import aiosqlite

from bot.core import memory

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Purged:
    """What one purge removed: messages, transcripts, and usage rows stripped of their SQL."""

    messages: int
    transcripts: int
    usage_detail: int


async def purge_expired_data(conn: aiosqlite.Connection, ttl_days: int) -> Purged:
    """Delete what is older than ``ttl_days``; keep the numbers /stats and budgets count.

    Conversations idle that long go with their transcripts; a transcript is dropped once its
    conversation is gone. Usage rows keep their counts and tokens but lose the SQL they ran.
    """
    before = await _transcripts(conn)
    messages = await memory.purge_expired(conn, ttl_days)
    transcripts = before - await _transcripts(conn)
    detail = await memory.purge_usage_detail(conn, ttl_days)
    return Purged(messages=messages, transcripts=transcripts, usage_detail=detail)


async def _transcripts(conn: aiosqlite.Connection) -> int:
    rows = await conn.execute_fetchall("SELECT count(*) FROM transcripts")
    return int(next(iter(rows))[0])


async def purge_forever(conn: aiosqlite.Connection, ttl_days: int, interval: float) -> None:
    """Purge now and then every ``interval`` seconds until cancelled; a failure is logged."""
    while True:
        started = time.perf_counter()
        try:
            purged = await purge_expired_data(conn, ttl_days)
        except Exception:
            # A locked or damaged database must not stop the bot; the next round tries again.
            logger.exception("purging expired data failed; trying again in %.0f s", interval)
        else:
            if purged.messages or purged.transcripts or purged.usage_detail:
                logger.info("purged data older than %d days: %d message(s), %d transcript(s), "
                            "SQL of %d usage row(s) in %.2f s", ttl_days, purged.messages,
                            purged.transcripts, purged.usage_detail,
                            time.perf_counter() - started)
        await asyncio.sleep(interval)
