"""Forgetting on schedule: the purge itself on a real state database, and the bot running it
every PURGE_INTERVAL seconds (the real PTB Application against the fake Bot API)."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Callable
from contextlib import closing
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from bot.core.housekeeping import purge_expired_data
from bot.core.state import migrate_state, open_state
from bot.settings import Settings
from tests.fakes.telegram_server import FakeTelegram
from tests.test_telegram_bot import TOKEN, RunningBot, state_rows


def days_ago(days: float) -> str:
    moment = datetime.now(UTC) - timedelta(days=days)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def seed_state(path: Path, conversation: str, age_days: float) -> None:
    """A conversation, its transcript and a usage row with SQL, all ``age_days`` old."""
    migrate_state(path)
    when = days_ago(age_days)
    with closing(sqlite3.connect(path)) as conn, conn:
        conn.executemany(
            "INSERT INTO messages (conversation, role, content, created_at) VALUES (?, ?, ?, ?)",
            [(conversation, "user", "dame laptops", when),
             (conversation, "assistant", "Laptop A", when)])
        conn.execute("INSERT INTO transcripts (conversation, source_name, content, created_at)"
                     " VALUES (?, 'reunion.mp3', 'hablamos de laptops', ?)", (conversation, when))
        conn.execute("INSERT INTO usage (conversation, engine, outcome, sql, prompt_tokens,"
                     " created_at) VALUES (?, 'model', 'ok', '[\"SELECT 1\"]', 90, ?)",
                     (conversation, when))


def conversations(path: Path) -> list[str]:
    with closing(sqlite3.connect(path)) as conn:
        return [row[0] for row in conn.execute(
            "SELECT DISTINCT conversation FROM messages ORDER BY 1")]


async def test_purge_drops_what_expired_and_keeps_the_rest(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    seed_state(path, "u:1", age_days=45)
    seed_state(path, "u:2", age_days=2)
    conn = await open_state(path)
    try:
        purged = await purge_expired_data(conn, ttl_days=30)
        again = await purge_expired_data(conn, ttl_days=30)
    finally:
        await conn.close()

    assert (purged.messages, purged.transcripts, purged.usage_detail) == (2, 1, 1)
    assert (again.messages, again.transcripts, again.usage_detail) == (0, 0, 0)
    assert conversations(path) == ["u:2"]
    with closing(sqlite3.connect(path)) as conn:
        assert conn.execute("SELECT conversation FROM transcripts").fetchall() == [("u:2",)]
        # Usage keeps its counts (for /stats) and loses only the old SQL.
        assert conn.execute("SELECT conversation, sql IS NULL, prompt_tokens FROM usage"
                            " ORDER BY conversation").fetchall() == [("u:1", 1, 90),
                                                                     ("u:2", 0, 90)]


async def test_the_running_bot_purges_on_schedule(
    make_settings: Callable[..., Settings], catalog_db: Path, telegram: FakeTelegram,
    running_bots: list[RunningBot], tmp_path: Path, caplog: pytest.LogCaptureFixture,
) -> None:
    settings = make_settings(TELEGRAM_BOT_TOKEN=TOKEN, TELEGRAM_API_BASE_URL=telegram.root,
                             PURGE_INTERVAL="0.2", CONVERSATION_TTL_DAYS="30")
    seed_state(settings.state_db, "u:31", age_days=31)
    seed_state(settings.state_db, "u:32", age_days=29)

    async def gone(conversation: str) -> None:
        async with asyncio.timeout(10):
            while conversation in conversations(settings.state_db):
                await asyncio.sleep(0.05)

    with caplog.at_level("INFO", logger="bot.core.housekeeping"):
        bot = await RunningBot.launch(settings)
        running_bots.append(bot)
        await gone("u:31")  # at start-up, though user 31 never wrote again
        # Written while the bot runs: the next round takes it, with no message from the user.
        seed_state(settings.state_db, "u:33", age_days=40)
        await gone("u:33")
        # The round that removed u:33's messages may still be deleting the rest and logging.
        async with asyncio.timeout(10):
            while sum("purged data older than 30 days" in r.getMessage()
                      for r in caplog.records) < 2:
                await asyncio.sleep(0.05)

    assert conversations(settings.state_db) == ["u:32"]
    assert state_rows(settings, "SELECT count(*) FROM transcripts") == [(1,)]
    assert sum("purged data older than 30 days" in r.getMessage() for r in caplog.records) == 2
    await bot.stop()
    assert bot.application.bot_data.purge_task is None  # stopped with the bot
