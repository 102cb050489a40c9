"""Values the state database cannot store (an id past 64 bits, a lone surrogate): the write
that carries one fails alone, every other user's writes commit, and the bot keeps answering.

Once, one such value left the batched transaction open: that customer got no answer and every
later answer, of every user, failed until a restart.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Awaitable, Callable
from contextlib import closing
from pathlib import Path
from typing import Any

import pytest

from bot.core.state import StateConnection, open_state
from tests.fakes.telegram_server import FakeTelegram
from tests.test_telegram_bot import RunningBot, state_rows

#: Values Python's sqlite3 cannot bind, each failing its own way.
UNSTORABLE: dict[str, Any] = {
    "int past 64 bits": 10 ** 30,  # OverflowError
    "lone surrogate": "laptop \ud800 barata",  # UnicodeEncodeError
}
INSERT = "INSERT INTO scratch (value) VALUES (?)"


@pytest.fixture
async def state(tmp_path: Path) -> StateConnection:
    conn = await open_state(tmp_path / "state.db")
    await conn.execute("CREATE TABLE scratch (value)")
    yield conn
    await conn.close()


def scratch_values(path: Path) -> list[Any]:
    with closing(sqlite3.connect(path)) as conn:
        return [row[0] for row in conn.execute("SELECT value FROM scratch ORDER BY rowid")]


@pytest.mark.parametrize("bad", UNSTORABLE.values(), ids=list(UNSTORABLE))
async def test_an_unstorable_value_fails_its_own_write_only(
    state: StateConnection, tmp_path: Path, bad: Any,
) -> None:
    # Three writers in the same turn of the loop: one batch, one transaction.
    results = await asyncio.wait_for(asyncio.gather(
        state.quick_execute(INSERT, ("before",)),
        state.quick_execute(INSERT, (bad,)),
        state.quick_execute(INSERT, ("after",)),
        return_exceptions=True,
    ), timeout=5)

    assert results[0] == 1 and results[2] == 1
    assert isinstance(results[1], Exception)
    # The batch was committed, and the next one starts cleanly.
    assert await asyncio.wait_for(state.quick_execute(INSERT, ("later",)), timeout=5) == 1
    assert scratch_values(tmp_path / "state.db") == ["before", "after", "later"]


async def test_on_a_locked_database_an_unstorable_value_fails_alone_too(
    state: StateConnection, tmp_path: Path,
) -> None:
    # Another process holds the write lock: the batch goes to the thread connection, which
    # waits for the lock and then runs the writes one by one.
    other = sqlite3.connect(tmp_path / "state.db", isolation_level=None)
    other.execute("BEGIN IMMEDIATE")
    writes = asyncio.gather(
        state.quick_execute(INSERT, (10 ** 30,)),
        state.quick_execute(INSERT, ("after",)),
        return_exceptions=True,
    )
    await asyncio.sleep(0.3)
    other.execute("ROLLBACK")
    other.close()

    overflow, after = await asyncio.wait_for(writes, timeout=5)

    assert isinstance(overflow, OverflowError)
    assert after == 1
    assert scratch_values(tmp_path / "state.db") == ["after"]


async def test_a_message_with_a_lone_surrogate_is_answered_and_others_still_are(
    start_bot: Callable[..., Awaitable[RunningBot]], telegram: FakeTelegram,
) -> None:
    bot = await start_bot()
    # Valid JSON ("\ud800" escape) that decodes to a string no UTF-8 encoder accepts.
    telegram.push_text(9101, 9101, "laptops \ud800 baratas\x00")
    [odd] = await telegram.wait_for_messages(1, chat_id=9101)
    telegram.push_text(9102, 9102, "laptops baratas")
    [other] = await telegram.wait_for_messages(1, chat_id=9102)

    assert odd.plain.startswith("Encontré") and "Laptop" in odd.plain
    assert other.plain.startswith("Encontré") and "Laptop" in other.plain
    stored = state_rows(bot.settings, "SELECT conversation, content FROM messages "
                        "WHERE role = 'user' ORDER BY id")
    assert stored == [("u:9101", "laptops   baratas"), ("u:9102", "laptops baratas")]
