"""What one answer costs in hand-offs to SQLite's threads, and what keeps that cheap safe.

Every aiosqlite call wakes another thread that must take the GIL back; 200 customers at once
spent more in those wake-ups than in SQLite (``make bench``, figure 2). An answer's own
statements in the state database run on the event loop through a quick connection that never
waits for a lock; on a small catalog, a catalog query whose every step is short runs on the
event loop too, for at most ``QUICK_BUDGET``, and anything else is one trip to a thread; a
statement already checked is not parsed again. The tests count the trips by wrapping each
connection's ``_execute``, the one method through which aiosqlite hands work to its thread.
"""

from __future__ import annotations

import asyncio
import sqlite3
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import aiosqlite
import pytest

from bot.catalog import reader as reader_module
from bot.catalog.reader import CHECKED_STATEMENTS, CatalogReader, QueryFailed
from bot.catalog.sqlguard import SqlRefused
from bot.core import memory
from bot.core.assistant import answer
from bot.core.context import build_context
from bot.core.reply import Conversation
from bot.core.state import QUICK_CHECKPOINT_WRITES, StateConnection, open_state
from tests.fakes.openai_server import FakeOpenAI

CHEAPEST = "SELECT name, price FROM products ORDER BY price ASC LIMIT 3"


def count_trips(conn: aiosqlite.Connection) -> list[str]:
    """Record every call ``conn`` hands to its thread (by the function's name)."""
    trips: list[str] = []
    handed = conn._execute

    async def counting(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        trips.append(getattr(fn, "__name__", repr(fn)))
        return await handed(fn, *args, **kwargs)

    conn._execute = counting  # type: ignore[method-assign]
    return trips


@pytest.fixture
async def state(tmp_path: Path) -> AsyncIterator[StateConnection]:
    conn = await open_state(tmp_path / "state.db")
    yield conn
    await conn.close()


@pytest.fixture
async def reader(catalog_db: Path) -> AsyncIterator[CatalogReader]:
    opened = await CatalogReader.open(catalog_db, timeout=2.0)
    yield opened
    await opened.close()


# --- One answer ---------------------------------------------------------------------------


async def test_a_one_call_answer_makes_no_trip_to_a_thread(make_settings, catalog_db,
                                                           tmp_path,
                                                           monkeypatch: pytest.MonkeyPatch
                                                           ) -> None:
    # A loaded machine may take the query past the loop's budget; that is not the point here.
    monkeypatch.setattr(reader_module, "QUICK_BUDGET", 1.0)
    async with FakeOpenAI() as model:
        settings = make_settings(OPENAI_API_KEY=model.api_key, OPENAI_BASE_URL=model.base_url,
                                 OPENAI_MAX_RETRIES="0")
        app = await build_context(settings)
        try:
            state_trips = count_trips(app.state)
            catalog_trips = [count_trips(slot.conn) for slot in app.catalog._slots]
            for number in range(3):
                model.tool_call("run_sql", {"query": CHEAPEST, "intro": "Lo más barato:"})
                reply = await answer(app, Conversation.private(700 + number), "lo más barato")
                assert reply.engine == "model" and not reply.failed and reply.rows
            history = await memory.load_history(app.state, "u:700", token_budget=1000,
                                                ttl_days=30)
            state_trips, catalog_trips = list(state_trips), [list(t) for t in catalog_trips]
        finally:
            await app.close()
    # History, transcript, exchange and usage: all on the loop; the query too (small catalog).
    assert state_trips == []
    assert [name for trips in catalog_trips for name in trips] == []
    assert history[0].content == "lo más barato"
    with sqlite3.connect(tmp_path / "state.db") as conn:
        assert conn.execute("SELECT count(*) FROM usage").fetchone()[0] == 3


# --- The quick connection ------------------------------------------------------------------


async def test_quick_statements_do_not_wait_for_a_lock_nor_block_the_loop(
        state: StateConnection, tmp_path: Path) -> None:
    # Another process holds the write lock (a `kratos` command, an operator's sqlite3 shell).
    other = sqlite3.connect(tmp_path / "state.db", isolation_level=None)
    other.execute("BEGIN IMMEDIATE")
    ticks = 0

    async def ticker() -> None:
        nonlocal ticks
        while True:
            await asyncio.sleep(0.01)
            ticks += 1

    ticking = asyncio.create_task(ticker())
    try:
        # Reads are not blocked by a writer in WAL mode, so they stay on the loop.
        assert await asyncio.wait_for(
            memory.load_history(state, "tg:2", token_budget=100, ttl_days=30), 0.1) == []
        writing = asyncio.create_task(state.quick_execute(
            "INSERT INTO messages (conversation, role, content) VALUES ('tg:1', 'user', ?)",
            ("¿tienen laptops?",)))
        started = time.monotonic()
        await asyncio.sleep(0.3)
        # The write waits on the thread connection (busy timeout), not on the loop.
        assert not writing.done()
        assert ticks >= 10, ticks
        other.execute("COMMIT")
        assert await asyncio.wait_for(writing, 5) == 1
        assert time.monotonic() - started < 5
    finally:
        ticking.cancel()
        other.close()
    rows = await state.quick_fetchall("SELECT content FROM messages WHERE conversation = 'tg:1'")
    assert [row[0] for row in rows] == ["¿tienen laptops?"]


async def test_an_answers_own_rows_never_make_it_wait(state: StateConnection,
                                                     tmp_path: Path) -> None:
    """remember_exchange, record_usage and touch_user return at once, even on a locked
    database; once the lock is released they are all there, in order."""
    other = sqlite3.connect(tmp_path / "state.db", isolation_level=None)
    other.execute("BEGIN IMMEDIATE")
    try:
        for number in range(3):
            await asyncio.wait_for(memory.remember_exchange(
                state, "tg:1", f"pregunta {number}", f"respuesta {number}"), 0.05)
        await asyncio.wait_for(memory.record_usage(state, memory.UsageRecord(
            conversation="tg:1", user_id=1, chat_id=1, engine="model", outcome="ok")), 0.05)
        await asyncio.wait_for(memory.touch_user(state, 1, "ana", "es"), 0.05)
        await asyncio.sleep(0.2)
    finally:
        other.execute("COMMIT")
        other.close()
    # A read waits for the writes handed to the thread while the lock was held.
    turns = await asyncio.wait_for(
        memory.load_history(state, "tg:1", token_budget=10_000, ttl_days=30), 5)
    assert (await state.quick_fetchall("SELECT count(*) FROM users"))[0][0] == 1
    assert [turn.content for turn in turns] == [
        text for number in range(3) for text in (f"pregunta {number}", f"respuesta {number}")]
    assert (await state.execute_fetchall("SELECT count(*) FROM usage"))[0][0] == 1


async def test_a_queued_write_is_read_by_the_next_statement_on_either_connection(
        state: StateConnection) -> None:
    await memory.remember_exchange(state, "tg:1", "¿hay laptops?", "Sí.")
    # No turn of the loop in between: the read commits the queue first.
    assert len(await state.quick_fetchall("SELECT id FROM messages")) == 2
    await memory.touch_user(state, 7, "ana", "es")
    assert (await state.execute_fetchall("SELECT count(*) FROM users"))[0][0] == 1
    await memory.remember_exchange(state, "tg:1", "¿y tablets?", "No.")
    await memory.forget(state, "tg:1")  # a /reset right after an answer forgets it too
    assert await state.quick_fetchall("SELECT id FROM messages") == []


async def test_a_failed_write_nobody_waits_for_is_logged(
        state: StateConnection, caplog: pytest.LogCaptureFixture) -> None:
    await memory.remember_exchange(state, "tg:1", "¿hay laptops?", "Sí.")
    state.quick_write("INSERT INTO nowhere VALUES (?)", ("dato del cliente",))
    await memory.touch_user(state, 7, "ana", "es")
    await asyncio.sleep(0)
    await asyncio.sleep(0)
    failures = [r.getMessage() for r in caplog.records if r.levelname == "ERROR"]
    assert failures == ["a write to the state database failed (INSERT INTO nowhere ...): "
                        "no such table: nowhere"]
    assert "dato del cliente" not in caplog.text
    assert len(await state.quick_fetchall("SELECT id FROM messages")) == 2
    assert len(await state.quick_fetchall("SELECT user_id FROM users")) == 1


async def test_quick_statement_errors_are_raised_as_before(state: StateConnection) -> None:
    with pytest.raises(sqlite3.OperationalError, match="no such table"):
        await state.quick_execute("INSERT INTO nowhere VALUES (1)")
    with pytest.raises(sqlite3.IntegrityError):
        await state.quick_execute(
            "INSERT INTO messages (conversation, role, content) VALUES ('x', 'nobody', 'y')")


async def test_quick_writes_keep_the_wal_from_growing(state: StateConnection,
                                                      tmp_path: Path) -> None:
    wal = tmp_path / "state.db-wal"
    sizes = []
    for number in range(8 * QUICK_CHECKPOINT_WRITES):
        await memory.record_usage(state, memory.UsageRecord(
            conversation=f"tg:{number}", user_id=number, chat_id=number, engine="model",
            outcome="ok", sql=("SELECT name FROM products " + "x" * 500,), latency_ms=1.0))
        if number % QUICK_CHECKPOINT_WRITES == QUICK_CHECKPOINT_WRITES - 1:
            await asyncio.sleep(0.05)  # the checkpoint runs on the thread connection
            sizes.append(wal.stat().st_size)
    # Checkpointed, the WAL is written again from its start: its size stops growing.
    assert sizes[-1] <= 2 * sizes[1], sizes
    with sqlite3.connect(tmp_path / "state.db") as conn:
        assert conn.execute("SELECT count(*) FROM usage").fetchone()[0] \
            == 8 * QUICK_CHECKPOINT_WRITES


# --- The catalog --------------------------------------------------------------------------


async def test_a_catalog_query_on_a_thread_is_one_trip(reader: CatalogReader,
                                                      catalog_db: Path) -> None:
    trips = [count_trips(slot.conn) for slot in reader._slots]
    # replace() can grow a value, so these never run on the event loop (QUICK_FUNCTIONS).
    few = await reader.run("SELECT replace(name, '', '') AS name, price FROM products "
                           "ORDER BY price ASC LIMIT 3")
    many = await reader.run("SELECT replace(name, '', '') FROM products ORDER BY id",
                            max_rows=5)
    with sqlite3.connect(catalog_db) as conn:
        assert few.rows == conn.execute(CHEAPEST).fetchall()
        total = conn.execute("SELECT count(*) FROM products").fetchone()[0]
    assert few.columns == ["name", "price"]
    assert len(many.rows) == 5 and many.truncated and many.total == total
    # Fetched and reset in one trip each; the cut list's count is one more query (on the loop:
    # the count reads no value it could grow).
    assert [name for slot_trips in trips for name in slot_trips] == ["_fetch"] * 2


async def test_a_short_catalog_query_runs_on_the_loop(reader: CatalogReader,
                                                      catalog_db: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    # Which statements may run there is the point here, not how fast this machine is today.
    monkeypatch.setattr(reader_module, "QUICK_BUDGET", 1.0)
    trips = [count_trips(slot.conn) for slot in reader._slots]
    statements = [CHEAPEST, "SELECT category, count(*), avg(price) FROM products "
                  "GROUP BY category ORDER BY 2 DESC",
                  "SELECT name FROM products WHERE lower(name) LIKE '%a%' ORDER BY price"]
    with sqlite3.connect(catalog_db) as conn:
        for sql in statements:
            assert (await reader.run(sql)).rows == conn.execute(sql).fetchall()[:50]
    assert [name for slot_trips in trips for name in slot_trips] == []


@pytest.mark.parametrize("sql", [
    "SELECT group_concat(name) FROM products",
    "SELECT name || ' ' || brand FROM products LIMIT 3",
    "SELECT replace(name, 'a', 'aa') FROM products LIMIT 3",
    "SELECT instr(name, 'a') FROM products LIMIT 3",
])
async def test_statements_that_can_grow_a_value_go_to_a_thread(reader: CatalogReader,
                                                               sql: str) -> None:
    # One LIKE over a value grown to 1 MB is one step of SQLite that can take 0.3 s.
    trips = [count_trips(slot.conn) for slot in reader._slots]
    await reader.run(sql)
    assert [name for slot_trips in trips for name in slot_trips] == ["_fetch"]


async def test_a_query_past_the_loop_budget_finishes_on_a_thread(reader: CatalogReader,
                                                                 catalog_db: Path) -> None:
    # About 20 million rows joined: a few hundred milliseconds, on any machine far past 1 ms.
    sql = ("SELECT count(*) FROM products AS a, products AS b, products AS c "
           "WHERE c.id <= 80 AND a.price < b.price")
    trips = [count_trips(slot.conn) for slot in reader._slots]
    lags: list[float] = []

    async def probe() -> None:
        while True:
            expected = time.monotonic() + 0.001
            await asyncio.sleep(0.001)
            lags.append(time.monotonic() - expected)

    ticking = asyncio.create_task(probe())
    await asyncio.sleep(0.01)
    try:
        first = await reader.run(sql)
        again = await reader.run(sql)
    finally:
        ticking.cancel()
    with sqlite3.connect(catalog_db) as conn:
        assert first.rows == again.rows == conn.execute(sql).fetchall()
    # Stopped on the loop at the budget, then run on a thread; the second time straight there.
    assert [name for slot_trips in trips for name in slot_trips] == ["_fetch"] * 2
    assert first.sql in reader._slow
    # The loop kept running meanwhile: never held for anything near the statement's time.
    assert first.elapsed_ms > 150
    assert max(lags) < first.elapsed_ms / 1000 / 2


async def test_a_big_catalog_runs_every_query_on_a_thread(tmp_path: Path) -> None:
    for name, rows, text in (("many", reader_module.QUICK_MAX_ROWS + 1, "x"),
                             ("long", 10, "x" * (reader_module.QUICK_MAX_TEXT + 1))):
        path = tmp_path / f"{name}.db"
        with sqlite3.connect(path) as conn:
            conn.execute("CREATE TABLE products (id INTEGER PRIMARY KEY, name TEXT, price REAL)")
            conn.executemany("INSERT INTO products (name, price) VALUES (?, ?)",
                             [(text, float(n)) for n in range(rows)])
        opened = await CatalogReader.open(path, timeout=2.0)
        try:
            trips = [count_trips(slot.conn) for slot in opened._slots]
            assert (await opened.run("SELECT max(price) FROM products")).rows == [
                (float(rows - 1),)]
            assert [n for slot_trips in trips for n in slot_trips] == ["_fetch"], name
        finally:
            await opened.close()


async def test_a_half_read_query_leaves_no_read_transaction(reader: CatalogReader,
                                                            catalog_db: Path) -> None:
    await reader.run("SELECT name FROM products ORDER BY id", max_rows=2)
    # A cursor left open would hold a read transaction: a writer could not checkpoint past it.
    with sqlite3.connect(catalog_db, isolation_level=None) as conn:
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("UPDATE products SET price = price WHERE id = 1")
        busy, _, _ = conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
    assert busy == 0


async def test_a_checked_statement_is_not_parsed_again(reader: CatalogReader,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    checked: list[str] = []
    real = reader_module.validate

    def counting(sql: str, *args: Any) -> str:
        checked.append(sql)
        return real(sql, *args)

    monkeypatch.setattr(reader_module, "validate", counting)
    first = await reader.run(CHEAPEST)
    again = await reader.run(CHEAPEST)
    assert first.rows == again.rows and first.sql == again.sql
    assert checked == [CHEAPEST]
    # A refusal is not remembered as accepted: it is checked, and refused, every time.
    for _ in range(2):
        with pytest.raises(SqlRefused):
            await reader.run("DELETE FROM products")
    assert checked.count("DELETE FROM products") == 2


async def test_remembered_checks_are_bounded_and_belong_to_one_catalog(
        reader: CatalogReader, catalog_db: Path) -> None:
    for limit in range(CHECKED_STATEMENTS + 10):
        await reader.run(f"SELECT name FROM products LIMIT {limit + 1}")
    assert len(reader._checked) == CHECKED_STATEMENTS
    assert "SELECT name FROM products LIMIT 1" not in reader._checked  # the oldest went first
    other = await CatalogReader.open(catalog_db, timeout=2.0)
    try:
        assert other._checked == {}
    finally:
        await other.close()


async def test_writes_queued_together_are_committed_together(state: StateConnection,
                                                             tmp_path: Path) -> None:
    statements: list[str] = []
    assert state._quick is not None
    state._quick.set_trace_callback(statements.append)
    await asyncio.gather(*(memory.remember_exchange(state, f"tg:{n}", "¿hay laptops?", "Sí.")
                           for n in range(100)))
    await asyncio.sleep(0)  # the loop's next turn
    commits = statements.count("COMMIT")
    assert 1 <= commits <= 3, commits
    with sqlite3.connect(tmp_path / "state.db") as conn:
        assert conn.execute("SELECT count(*) FROM messages").fetchone()[0] == 200


async def test_a_failing_write_fails_alone_in_its_batch(state: StateConnection,
                                                        tmp_path: Path) -> None:
    good = memory.remember_exchange(state, "tg:1", "¿hay laptops?", "Sí.")
    bad = state.quick_execute(
        "INSERT INTO messages (conversation, role, content) VALUES ('x', 'nobody', 'y')")
    also_good = memory.record_usage(state, memory.UsageRecord(
        conversation="tg:1", user_id=1, chat_id=1, engine="basic", outcome="ok"))
    outcomes = await asyncio.gather(good, bad, also_good, return_exceptions=True)
    assert outcomes[0] is None and outcomes[2] is None
    assert isinstance(outcomes[1], sqlite3.IntegrityError)
    await asyncio.sleep(0)
    with sqlite3.connect(tmp_path / "state.db") as conn:
        assert conn.execute("SELECT count(*) FROM messages").fetchone()[0] == 2
        assert conn.execute("SELECT count(*) FROM usage").fetchone()[0] == 1


async def test_writes_handed_to_the_thread_keep_their_order(state: StateConnection,
                                                            tmp_path: Path) -> None:
    other = sqlite3.connect(tmp_path / "state.db", isolation_level=None)
    other.execute("BEGIN IMMEDIATE")
    writes = [asyncio.create_task(memory.remember_exchange(state, "tg:1", f"pregunta {n}",
                                                           f"respuesta {n}"))
              for n in range(5)]
    await asyncio.wait_for(asyncio.gather(*writes), 0.1)  # queued: nobody waits for them
    await asyncio.sleep(0.2)
    other.execute("COMMIT")
    other.close()
    rows = await asyncio.wait_for(state.execute_fetchall(  # on the thread: after them
        "SELECT content FROM messages WHERE role = 'user' ORDER BY id"), 5)
    assert [row[0] for row in rows] == [f"pregunta {n}" for n in range(5)]


@pytest.mark.parametrize(("sql", "params"), [
    ("SELECT name FROM products WHERE name = 'a\ud800b'", ()),  # on the event loop
    ("SELECT replace(name, 'a', 'b\ud800') FROM products", ()),  # on a thread
    ("SELECT name FROM products WHERE name = ?", ("x\udcff",)),
    ("SELECT name FROM products WHERE price > ?", (10**30,)),
])
async def test_what_sqlite_cannot_take_is_a_failed_query(reader: CatalogReader, sql: str,
                                                         params: tuple[object, ...]) -> None:
    # A lone surrogate is valid in JSON (a model's tool call can carry one), not in UTF-8.
    with pytest.raises(QueryFailed):
        await reader.run(sql, params)
    assert (await reader.run(CHEAPEST)).rows  # and the reader goes on


async def test_a_quick_statement_stopped_by_a_pause_is_not_remembered_as_slow(
        reader: CatalogReader, monkeypatch: pytest.MonkeyPatch) -> None:
    # The process descheduled for a second in the middle of a quick statement: its wall-clock
    # budget passes with next to no CPU used. It finishes on a thread this time, and the next
    # time it is tried on the loop again.
    # Every product read: many more VM steps than between two looks at the clock, and far
    # less CPU than the budget (about 0.1 ms).
    sql = "SELECT count(*) FROM products WHERE stock >= 0"
    warm = await reader.run(sql)
    statement = warm.sql
    clock = time.monotonic
    looks: list[float] = []

    def monotonic() -> float:
        looks.append(0.0)
        return clock() + (1.0 if len(looks) > 1 else 0.0)  # a second passes after the start

    trips = [count_trips(slot.conn) for slot in reader._slots]
    monkeypatch.setattr(reader_module.time, "monotonic", monotonic)
    first = reader._quick_fetch(statement, (), 4)
    monkeypatch.undo()
    assert first is None and len(looks) > 1  # stopped at the budget, left to a thread
    assert statement not in reader._slow
    again = await reader.run(sql)
    assert again.rows == warm.rows
    assert [name for slot_trips in trips for name in slot_trips] == []  # on the loop this time
