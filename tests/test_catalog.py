"""The fenced catalog reader: each fence alone, all of them together, caps, errors, `kratos sql`."""

from __future__ import annotations

import asyncio
import hashlib
import logging
import os
import sqlite3
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from contextlib import closing, suppress
from pathlib import Path
from typing import Any

import pytest

from bot.__main__ import main
from bot.catalog.reader import (
    CatalogReader,
    QueryFailed,
    QueryResult,
    QueryTooBig,
    QueryTooSlow,
    format_table,
)
from bot.catalog.sqlguard import ALLOWED_FUNCTIONS, QueryError, SqlRefused
from bot.core.context import build_context
from bot.errors import CatalogError
from tests.hostile_sql import AMPLIFICATION, Amplifier, corpus

TIMEOUT = 0.5
# Generous: the point is "stopped near the limit", not a benchmark.
SLACK = 1.5
RECURSIVE = "WITH RECURSIVE r(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM r) "
RECURSIVE_FOREVER = RECURSIVE + "SELECT n FROM r"
RECURSIVE_COUNT = RECURSIVE + "SELECT count(*) FROM r"
CROSS_JOIN = "SELECT count(*) FROM products a, products b, products c, products d"
COUNT = "SELECT count(*) FROM products"

# Statements the brief singles out: each must fail at the connection even without the guard.
FENCE_MUST_STOP = {
    "insert", "update", "delete", "replace-into", "upsert", "drop-table", "alter-add-column",
    "create-table", "create-index", "create-view", "create-trigger", "create-temp-view-shadow",
    "fts-delete-all", "attach", "vacuum-into", "pragma-query-only-off", "printf-bomb",
    "randomblob-bomb", "zeroblob-bomb", "hex-zeroblob-bomb", "schema-migrations",
    "sqlite-master", "recursive-cte-forever", "cross-join-4",
}


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def listing(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


def direct(path: Path, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """The same query on a plain read-only connection, for comparison."""
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        return conn.execute(sql, params).fetchall()
    finally:
        conn.close()


async def all_idle(reader: CatalogReader, within: float = 2.0) -> bool:
    """Whether every pooled connection is back in the pool within ``within`` seconds."""
    deadline = time.monotonic() + within
    while reader._idle.qsize() < len(reader._slots):
        if time.monotonic() > deadline:
            return False
        await asyncio.sleep(0.01)
    return True


@pytest.fixture
async def reader(catalog_db: Path) -> AsyncIterator[CatalogReader]:
    """A reader on the demo catalog copy with a short time limit."""
    opened = await CatalogReader.open(catalog_db, timeout=TIMEOUT)
    yield opened
    await opened.close()


# --- All fences together -------------------------------------------------------------------


async def test_hostile_corpus_is_refused_or_aborted_and_changes_nothing(
    catalog_db: Path, tmp_path: Path
) -> None:
    folder = catalog_db.parent
    before, files = sha256(catalog_db), listing(folder)
    reader = await CatalogReader.open(catalog_db, timeout=TIMEOUT)
    try:
        for entry in corpus(folder):
            with pytest.raises(QueryError) as caught:
                await reader.run(entry.sql)
            error = caught.value
            expected = QueryTooSlow if entry.slow else SqlRefused
            assert isinstance(error, expected), entry.label
            assert error.reason and "\n" not in error.reason, entry.label
            assert entry.sql.strip()[:20] not in error.en or not entry.sql.strip(), entry.label
        result = await reader.run(COUNT)
        assert result.rows == [(500,)]
    finally:
        await reader.close()
    assert sha256(catalog_db) == before
    assert listing(folder) == files
    for name in ("x.db", "copy.db", "evil.so"):
        assert not (folder / name).exists()


# --- The connection fence alone (guard bypassed) ----------------------------------------------


async def test_connection_fence_alone_stops_what_the_guard_stops(
    catalog_db: Path, tmp_path: Path
) -> None:
    folder = catalog_db.parent
    before, files = sha256(catalog_db), listing(folder)
    entries = corpus(folder)
    assert {entry.label for entry in entries if entry.fence} >= FENCE_MUST_STOP
    reader = await CatalogReader.open(catalog_db, timeout=TIMEOUT)
    try:
        for entry in entries:
            if not entry.fence:
                await reader._execute(entry.sql, (), 10)
                continue
            started = time.monotonic()
            with pytest.raises(QueryError) as caught:
                await reader._execute(entry.sql, (), 10)
            expected = QueryTooSlow if entry.slow else QueryFailed
            assert isinstance(caught.value, expected), (entry.label, caught.value.reason)
            if not entry.slow:
                # Bombs and writes are refused when the statement is prepared, not timed out.
                assert time.monotonic() - started < TIMEOUT, entry.label
        # The temp view and PRAGMA attempts left nothing behind on the connection.
        for _ in range(2):  # both pooled connections
            _, rows = await reader._execute(COUNT, (), 1)
            assert rows == [(500,)]
        with pytest.raises(QueryFailed):
            await reader._execute("DELETE FROM products", (), 1)
    finally:
        await reader.close()
    assert sha256(catalog_db) == before
    assert listing(folder) == files


async def test_fence_reports_why(reader: CatalogReader) -> None:
    cases = {
        "SELECT printf('%.*c', 900000000, 'x')": "not authorized to use function: printf",
        "SELECT * FROM schema_migrations": "prohibited",
        "PRAGMA query_only=0": "not authorized",
        "SELECT char(" + ", ".join(["65"] * 40) + ")": "too many arguments",
    }
    for sql, text in cases.items():
        with pytest.raises(QueryFailed) as caught:
            await reader._execute(sql, (), 1)
        assert text in caught.value.reason


async def test_sqlite_master_is_unreadable_though_fts5_reads_it(reader: CatalogReader) -> None:
    # Connecting FTS5 reads sqlite_master's rowid, so that one read is IGNOREd (NULL) rather
    # than denied; SQL that names sqlite_master also triggers a column-less read, which is denied.
    assert (await reader.run(
        "SELECT count(*) FROM products_fts WHERE products_fts MATCH 'celular'"
    )).rows[0][0] > 0
    for sql in ("SELECT rowid FROM sqlite_master", "SELECT name FROM sqlite_master",
                "SELECT count(*) FROM sqlite_schema"):
        with pytest.raises(QueryFailed):
            await reader._execute(sql, (), 1)


async def test_every_allowed_function_runs_through_both_fences(reader: CatalogReader) -> None:
    fts = "FROM products_fts WHERE products_fts MATCH 'celular' LIMIT 1"
    calls = {
        "abs": "SELECT abs(-price) FROM products LIMIT 1",
        "avg": "SELECT avg(price) FROM products",
        "ceil": "SELECT ceil(price) FROM products LIMIT 1",
        "ceiling": "SELECT ceiling(price) FROM products LIMIT 1",
        "coalesce": "SELECT coalesce(color, '-') FROM products LIMIT 1",
        "count": "SELECT count(*) FROM products",
        "current_date": "SELECT current_date",
        "current_time": "SELECT current_time",
        "current_timestamp": "SELECT current_timestamp",
        "date": "SELECT date('now', '-1 day')",
        "datetime": "SELECT datetime('now')",
        "dense_rank": "SELECT dense_rank() OVER (ORDER BY price) FROM products LIMIT 1",
        "floor": "SELECT floor(price) FROM products LIMIT 1",
        "glob": "SELECT count(*) FROM products WHERE name GLOB '*Pro*'",
        "group_concat": "SELECT group_concat(brand, ', ') FROM products WHERE id < 4",
        "ifnull": "SELECT ifnull(color, '-') FROM products LIMIT 1",
        "iif": "SELECT iif(stock > 0, 'sí', 'no') FROM products LIMIT 1",
        "instr": "SELECT instr(name, 'a') FROM products LIMIT 1",
        "julianday": "SELECT julianday('now')",
        "length": "SELECT length(name) FROM products LIMIT 1",
        "like": "SELECT count(*) FROM products WHERE name LIKE '%pro%'",
        "lower": "SELECT lower(name) FROM products LIMIT 1",
        "ltrim": "SELECT ltrim(name, 'A') FROM products LIMIT 1",
        "max": "SELECT max(price), max(price, 1000) FROM products",
        "min": "SELECT min(price), min(price, 10) FROM products",
        "nullif": "SELECT nullif(stock, 0) FROM products LIMIT 1",
        "random": "SELECT name FROM products ORDER BY random() LIMIT 1",
        "rank": "SELECT rank() OVER (ORDER BY price) FROM products LIMIT 1",
        "replace": "SELECT replace(name, ' ', '_') FROM products LIMIT 1",
        "round": "SELECT round(price, 1) FROM products LIMIT 1",
        "row_number": "SELECT row_number() OVER (ORDER BY price) FROM products LIMIT 1",
        "rtrim": "SELECT rtrim(name) FROM products LIMIT 1",
        "strftime": "SELECT strftime('%Y-%m', 'now')",
        "substr": "SELECT substr(name, 1, 5) FROM products LIMIT 1",
        "substring": "SELECT substring(name, 1, 5) FROM products LIMIT 1",
        "sum": "SELECT sum(stock) FROM products",
        "time": "SELECT time('now')",
        "total": "SELECT total(stock) FROM products",
        "trim": "SELECT trim(name) FROM products LIMIT 1",
        "typeof": "SELECT typeof(price) FROM products LIMIT 1",
        "unixepoch": "SELECT unixepoch('now')",
        "upper": "SELECT upper(name) FROM products LIMIT 1",
        "fold": "SELECT fold(name) FROM products LIMIT 1",
        "match": f"SELECT rowid {fts}",
        "bm25": f"SELECT bm25(products_fts) {fts}",
        "highlight": f"SELECT highlight(products_fts, 0, '[', ']') {fts}",
        "snippet": f"SELECT snippet(products_fts, 4, '[', ']', '…', 6) {fts}",
    }
    assert set(calls) == ALLOWED_FUNCTIONS
    for name, sql in calls.items():
        result = await reader.run(sql)
        assert result.rows, name


async def test_limits_stop_values_and_expressions_from_growing(reader: CatalogReader) -> None:
    doubling = (
        "WITH RECURSIVE r(s, n) AS (SELECT 'xxxxxxxxxx', 0 UNION ALL "
        "SELECT s || s, n + 1 FROM r WHERE n < 30) SELECT length(s) FROM r"
    )
    with pytest.raises(QueryFailed) as caught:
        await reader.run(doubling, max_rows=100)
    assert "too big" in caught.value.reason
    # Flat to the guard (sqlglot builds chains without recursing), deep to SQLite.
    deep = "SELECT " + " + ".join(["price"] * 150) + " FROM products"
    with pytest.raises(QueryFailed) as caught:
        await reader.run(deep)
    assert "too large" in caught.value.reason


# --- The time limit alone ---------------------------------------------------------------------


@pytest.mark.parametrize("sql", [RECURSIVE_COUNT, CROSS_JOIN])
async def test_progress_handler_stops_runaway_queries(reader: CatalogReader, sql: str) -> None:
    started = time.monotonic()
    with pytest.raises(QueryTooSlow) as caught:
        await reader.run(sql)
    assert time.monotonic() - started < TIMEOUT + SLACK
    assert "too slow" in caught.value.reason
    assert (await reader.run(COUNT)).rows == [(500,)]


async def test_interrupt_stops_a_query_when_the_progress_handler_does_not(
    reader: CatalogReader,
) -> None:
    for slot in reader._slots:
        await slot.conn.set_progress_handler(None, 0)
    started = time.monotonic()
    with pytest.raises(QueryTooSlow):
        await reader.run(CROSS_JOIN)
    assert time.monotonic() - started < TIMEOUT + SLACK
    assert await all_idle(reader)
    results = await asyncio.gather(reader.run(COUNT), reader.run(COUNT))
    assert [r.rows for r in results] == [[(500,)], [(500,)]]


async def test_a_cancelled_caller_frees_its_connection(reader: CatalogReader) -> None:
    for slot in reader._slots:
        await slot.conn.set_progress_handler(None, 0)
    slow = asyncio.create_task(reader.run(CROSS_JOIN))
    await asyncio.sleep(0.1)
    slow.cancel()
    with pytest.raises(asyncio.CancelledError):
        await slow
    # Without its progress handler the cross join would run for hours: the interrupt ended it.
    assert await all_idle(reader)
    results = await asyncio.gather(*(reader.run(COUNT) for _ in range(4)))
    assert all(r.rows == [(500,)] for r in results)


async def test_a_fast_query_passes_a_slow_one(reader: CatalogReader) -> None:
    slow = asyncio.create_task(reader.run(CROSS_JOIN))
    await asyncio.sleep(0.05)
    fast = await reader.run(COUNT)
    assert fast.rows == [(500,)]
    assert not slow.done()
    with pytest.raises(QueryTooSlow):
        await slow


async def test_many_concurrent_queries(reader: CatalogReader, catalog_db: Path) -> None:
    sql = "SELECT count(*) FROM products WHERE price > ?"
    thresholds = [i * 200 for i in range(20)]
    results = await asyncio.gather(*(reader.run(sql, (t,)) for t in thresholds))
    assert [r.rows for r in results] == [direct(catalog_db, sql, (t,)) for t in thresholds]


# --- Amplification: no statement holds a connection past the limit ----------------------------

#: The promise: nobody waits longer than the time limit plus half a second behind a statement.
HOLD = TIMEOUT + 0.5
#: Scheduling noise on a shared, busy machine, on top of HOLD.
NOISE = 0.5
ORDINARY = "SELECT name, price FROM products WHERE category = 'Laptops' ORDER BY price LIMIT 5"


@pytest.mark.parametrize("entry", AMPLIFICATION, ids=lambda entry: entry.label)
async def test_each_amplifier_ends_in_time(reader: CatalogReader, entry: Amplifier) -> None:
    started = time.monotonic()
    with suppress(QueryTooSlow, QueryTooBig, QueryFailed):
        await reader.run(entry.sql)
    assert time.monotonic() - started < HOLD + NOISE
    assert await all_idle(reader, within=0.1)
    assert (await reader.run(COUNT)).rows == [(500,)]


async def test_ordinary_questions_do_not_wait_behind_two_runaways(reader: CatalogReader) -> None:
    """Two users whose SQL is the worst of the corpus, over and over; a third asks normally."""
    worst = {entry.label: entry.sql for entry in AMPLIFICATION}

    async def runaway(sql: str, until: float) -> int:
        runs = 0
        while time.monotonic() < until:
            with suppress(QueryError):
                await reader.run(sql)
            runs += 1
        return runs

    until = time.monotonic() + 2.0
    runaways = [asyncio.create_task(runaway(worst[label], until))
                for label in ("ltrim-grown", "instr-grown-x8")]
    waits = []
    while time.monotonic() < until:
        started = time.monotonic()
        assert len((await reader.run(ORDINARY)).rows) == 5
        waits.append(time.monotonic() - started)
        await asyncio.sleep(0.05)
    assert all(runs > 1 for runs in await asyncio.gather(*runaways))
    assert max(waits) < HOLD + NOISE


async def test_two_runaway_users_leave_a_connection_free(make_settings, catalog_db) -> None:
    context = await build_context(make_settings(SQL_TIMEOUT="1"))
    try:
        runaways = [asyncio.create_task(context.catalog.run(CROSS_JOIN)) for _ in range(2)]
        await asyncio.sleep(0.1)
        started = time.monotonic()
        assert (await context.catalog.run(COUNT)).rows == [(500,)]
        assert time.monotonic() - started < NOISE
        assert not any(task.done() for task in runaways)
        for task in runaways:
            with pytest.raises(QueryTooSlow):
                await task
    finally:
        await context.close()


async def test_a_stuck_call_never_makes_others_wait(catalog_db: Path) -> None:
    # A Python function under an allowed name stands in for any C call nothing can stop.
    reader = await CatalogReader.open(catalog_db, timeout=0.3, connections=1)
    try:
        # (replace() is a function no statement runs with on the event loop, see
        # QUICK_FUNCTIONS: a statement using it always goes to the pool's thread.)
        def stuck_replace(value: str, old: str, new: str) -> str:
            time.sleep(2.5)
            return value.replace(old, new)

        await reader._slots[0].conn.create_function("replace", 3, stuck_replace)
        started = time.monotonic()
        stuck = asyncio.create_task(reader.run("SELECT replace('x', 'x', 'y')"))
        await asyncio.sleep(0.1)
        assert (await reader.run(COUNT)).rows == [(500,)]
        assert time.monotonic() - started < 0.3 + 0.5 + NOISE
        with pytest.raises(QueryTooSlow) as caught:
            await stuck
        # The time reported is the time the statement held the connection, not the limit.
        assert 0.3 + 0.4 <= caught.value.seconds < 0.3 + 0.5 + NOISE
        assert f"stopped after {caught.value.seconds:.1f} s" in caught.value.reason
    finally:
        await reader.close()


async def test_failures_are_logged_with_the_time_they_took(
    reader: CatalogReader, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="bot.catalog.reader")
    with pytest.raises(QueryTooSlow):
        await reader.run(CROSS_JOIN)
    failed = [r.getMessage() for r in caplog.records if "failed" in r.getMessage()]
    assert len(failed) == 1
    milliseconds = float(failed[0].split("after ")[1].split(" ms")[0])
    assert TIMEOUT * 1000 <= milliseconds < (HOLD + NOISE) * 1000


def test_kratos_sql_ends_the_grown_ltrim_at_once(
    catalog_db: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("CATALOG_DB", str(catalog_db))
    (ltrim,) = [entry.sql for entry in AMPLIFICATION if entry.label == "ltrim-grown"]
    started = time.monotonic()
    assert run_cli(tmp_path, ltrim) == 0
    assert time.monotonic() - started < 2.0 + 0.5 + NOISE
    assert capsys.readouterr().out.splitlines()[2].strip() == "0"


# --- Temporary storage and memory -----------------------------------------------------------------


def unlinked_bytes() -> int:
    """Bytes in files this process holds open but that no directory lists any more."""
    total = 0
    for fd in Path("/proc/self/fd").iterdir():
        try:
            if Path(fd).readlink().name.endswith("(deleted)"):
                total += os.fstat(int(fd.name)).st_size
        except OSError:
            continue
    return total


#: 250,000 rows of two descriptions each, sorted whole before the first row comes out.
WIDE_SORT = "SELECT a.description || b.description AS d FROM products a, products b ORDER BY d"


async def test_a_big_sort_writes_nothing_to_disk_and_is_too_big(catalog_db: Path) -> None:
    reader = await CatalogReader.open(catalog_db, timeout=2.0)
    peak = 0
    try:
        query = asyncio.create_task(reader.run(WIDE_SORT))
        while not query.done():
            peak = max(peak, unlinked_bytes())
            await asyncio.sleep(0.01)
        with pytest.raises(QueryTooBig) as caught:
            await query
    finally:
        await reader.close()
    assert peak == 0
    assert "too big" in caught.value.reason and "MB" in caught.value.reason
    assert "demasiado grande" in caught.value.es


def test_sql_memory_mb_bounds_what_one_statement_may_use(catalog_db: Path) -> None:
    """SQLite's heap limit is process-wide: checked in a process of its own."""
    def kratos_sql(memory_mb: str) -> subprocess.CompletedProcess[str]:
        env = {**os.environ, "CATALOG_DB": str(catalog_db), "SQL_MEMORY_MB": memory_mb,
               "SQL_TIMEOUT": "10"}
        return subprocess.run(
            [sys.executable, "-m", "bot", "--env-file", os.devnull, "sql",
             WIDE_SORT], env=env, capture_output=True, text=True, timeout=60, check=False,
        )

    small, large = kratos_sql("16"), kratos_sql("1024")
    assert small.returncode == 1 and "necesitó más de" in small.stderr and "16 MB" in small.stderr
    assert "Traceback" not in small.stderr
    assert large.returncode == 0 and "(se muestran 50 de 250000 filas)" in large.stdout


# --- Caps ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("sql", ["SELECT id FROM products", "SELECT id FROM products LIMIT -1",
                                 "SELECT id FROM products LIMIT 100000"])
async def test_rows_are_capped_whatever_the_limit_says(catalog_db: Path, sql: str) -> None:
    reader = await CatalogReader.open(catalog_db, max_rows=10)
    try:
        result = await reader.run(sql)
        assert len(result.rows) == 10
        assert result.truncated and result.total == 500
        smaller = await reader.run(sql, max_rows=3)
        assert len(smaller.rows) == 3 and smaller.total == 500
        exact = await reader.run("SELECT id FROM products LIMIT 5")
        assert len(exact.rows) == 5 and not exact.truncated and exact.total == 5
    finally:
        await reader.close()


async def test_long_cells_are_cut(catalog_db: Path) -> None:
    reader = await CatalogReader.open(catalog_db, max_cell_chars=40)
    try:
        result = await reader.run(
            "SELECT sku, description FROM products WHERE length(description) > 100 LIMIT 5"
        )
        assert len(result.rows) == 5
        for sku, description in result.rows:
            assert len(description) == 40 and description.endswith("…")
            assert len(sku) < 40 and not sku.endswith("…")
        grown = await reader.run(
            "SELECT replace(replace(description, 'a', description), 'e', description) "
            "FROM products LIMIT 3"
        )
        assert all(len(row[0]) == 40 for row in grown.rows)
    finally:
        await reader.close()


async def test_the_whole_result_has_a_byte_cap(catalog_db: Path) -> None:
    reader = await CatalogReader.open(catalog_db, max_bytes=2_000)
    try:
        result = await reader.run("SELECT description FROM products")
        assert 0 < len(result.rows) < 50
        assert sum(len(row[0].encode()) for row in result.rows) <= 2_000
        assert result.truncated and result.total == 500
    finally:
        await reader.close()


async def test_total_is_unknown_when_counting_is_too_slow(catalog_db: Path) -> None:
    reader = await CatalogReader.open(catalog_db, timeout=0.3, max_rows=20)
    try:
        result = await reader.run(RECURSIVE_FOREVER)
        assert [row[0] for row in result.rows] == list(range(1, 21))
        assert result.truncated and result.total is None
        assert "hay más" in format_table(result).splitlines()[-1]
    finally:
        await reader.close()


# --- Legit queries --------------------------------------------------------------------------

LEGIT: list[tuple[str, tuple[Any, ...]]] = [
    ("SELECT name, price FROM products ORDER BY price DESC LIMIT 1", ()),
    ("SELECT family, count(*), round(avg(price), 2) FROM products GROUP BY family "
     "ORDER BY family", ()),
    ("SELECT a.name, b.name FROM products a JOIN products b "
     "ON a.brand = b.brand AND a.id < b.id ORDER BY a.id, b.id LIMIT 20", ()),
    ("WITH cheap AS (SELECT * FROM products WHERE price < 100) SELECT count(*) FROM cheap", ()),
    ("WITH per_family AS (SELECT family, max(price) AS top FROM products GROUP BY family) "
     "SELECT p.family, p.name FROM products p JOIN per_family f "
     "ON p.family = f.family AND p.price = f.top ORDER BY p.family, p.name", ()),
    ("SELECT name FROM products WHERE family = ? AND price > ? ORDER BY price LIMIT 10",
     ("Electrónica", 1000)),
    ("SELECT p.name FROM products_fts JOIN products p ON p.id = products_fts.rowid "
     "WHERE products_fts MATCH 'electronica' ORDER BY rank LIMIT 10", ()),
    ("SELECT brand, count(*) FROM products WHERE stock = 0 GROUP BY brand "
     "HAVING count(*) > 1 ORDER BY 2 DESC, 1", ()),
    ("SELECT name, CASE WHEN stock > 0 THEN 'sí' ELSE 'no' END FROM products "
     "WHERE color IS NULL ORDER BY id LIMIT 5", ()),
    # Forms that sqlglot rewrites when it normalizes; the rows must not change.
    ("SELECT id FROM products ORDER BY id LIMIT 20, 10", ()),
    ("SELECT color, id FROM products ORDER BY color DESC NULLS FIRST, id LIMIT 3", ()),
    ("SELECT count(*) FROM products WHERE sku LIKE '%\\_0%' ESCAPE '\\'", ()),
    ("SELECT substr(name, -3), ifnull(color, '-'), max(1, stock, 3), iif(stock > 0, 1, 0) "
     "FROM products ORDER BY id LIMIT 5", ()),
    ("SELECT strftime('%Y-%m-%d', '2024-03-05 10:00'), date('2024-03-05', '+1 month'), "
     "5 / 2, 'A' = 'a' COLLATE NOCASE", ()),
]


@pytest.mark.parametrize(("sql", "params"), LEGIT)
async def test_legit_queries_return_what_sqlite_returns(
    reader: CatalogReader, catalog_db: Path, sql: str, params: tuple[Any, ...]
) -> None:
    result = await reader.run(sql, params, max_rows=1000)
    assert result.rows == direct(catalog_db, sql, params)
    assert result.rows and not result.truncated and result.total == len(result.rows)
    assert result.elapsed_ms >= 0


async def test_fts_search_folds_accents(reader: CatalogReader) -> None:
    result = await reader.run(
        "SELECT DISTINCT p.family FROM products_fts JOIN products p ON p.id = products_fts.rowid "
        "WHERE products_fts MATCH ?", ("electronica",), max_rows=100,
    )
    assert ("Electrónica",) in result.rows
    # Plain LIKE folds accents too, by construction (bot/catalog/textfold.py).
    plain = await reader.run(
        "SELECT count(*) FROM products WHERE family LIKE '%electronica%'"
    )
    exact = await reader.run("SELECT count(*) FROM products WHERE family = 'Electrónica'")
    assert plain.rows == exact.rows and exact.rows[0][0] > 0


async def test_column_names_follow_the_query(reader: CatalogReader) -> None:
    result = await reader.run("SELECT count(*), max(price) AS top FROM products")
    assert result.columns == ["count(*)", "top"]
    assert result.sql == "SELECT count(*), max(price) AS top FROM products"


async def test_fts_keeps_working_after_the_store_changes_the_file(
    reader: CatalogReader, catalog_db: Path
) -> None:
    search = "SELECT rowid FROM products_fts WHERE products_fts MATCH ?"
    assert (await reader.run(search, ("zanahoria",))).rows == []
    writer = sqlite3.connect(catalog_db, timeout=0)
    try:
        writer.execute("UPDATE products SET name = 'Zanahoria eléctrica' WHERE id = 7")
        writer.execute("CREATE TABLE store_notes (note TEXT)")
        writer.commit()
    finally:
        writer.close()
    # The schema changed, so SQLite reconnects FTS5 under the authorizer.
    assert (await reader.run(search, ("zanahoria",))).rows == [(7,)]


@pytest.mark.parametrize(("query", "truncated"), [
    ("SELECT id FROM products", True),  # cut: the cursor is closed half-read
    ("SELECT id FROM products WHERE id <= 5", False),  # exactly the cap: SQLite reached the end
    ("SELECT id FROM products WHERE id <= 6", True),  # one over the cap
    ("SELECT id FROM products WHERE id <= 2", False),
])
async def test_a_query_leaves_no_lock_on_the_file(
    catalog_db: Path, query: str, truncated: bool,
) -> None:
    reader = await CatalogReader.open(catalog_db, max_rows=5)
    try:
        result = await reader.run(query)
        assert result.truncated is truncated
        writer = sqlite3.connect(catalog_db, timeout=0)
        try:
            writer.execute("UPDATE products SET stock = stock + 1 WHERE id = 1")
            writer.commit()
        finally:
            writer.close()
    finally:
        await reader.close()


async def test_sql_errors_are_reported_for_the_model_not_the_user(reader: CatalogReader) -> None:
    with pytest.raises(QueryFailed) as caught:
        await reader.run("SELECT nope FROM products")
    error = caught.value
    assert error.reason == "no such column: nope"
    assert "nope" not in error.es and "nope" not in error.en


async def test_queries_are_logged_briefly(
    reader: CatalogReader, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="bot.catalog.reader")
    await reader.run(COUNT)
    with pytest.raises(SqlRefused):
        await reader.run("SELECT name FROM products WHERE name = '" + "a" * 50_000 + "'")
    messages = [r.getMessage() for r in caplog.records if r.name == "bot.catalog.reader"]
    assert any("ms" in m and "count(*)" in m for m in messages)
    assert all(len(m) < 1_000 for m in messages)


# --- Introspection and other catalogs ---------------------------------------------------------


async def test_tables_describe_the_catalog_without_internals(reader: CatalogReader) -> None:
    tables = {t.name: t for t in await reader.tables()}
    assert set(tables) == {"products", "product_summary", "products_fts"}
    assert set(reader.allowed_tables) == set(tables)
    products = tables["products"]
    assert products.row_count == 500 and not products.is_fts
    types = {c.name: c.type for c in products.columns}
    assert types["price"] == "REAL" and types["name"] == "TEXT"
    assert tables["products_fts"].is_fts


async def test_a_store_catalog_with_a_view(tmp_path: Path) -> None:
    path = tmp_path / "store.db"
    conn = sqlite3.connect(path)
    conn.executescript(
        "CREATE TABLE items (id INTEGER PRIMARY KEY, name TEXT);"
        "INSERT INTO items (name) VALUES ('uno'), ('dos'), ('tres');"
        "CREATE VIEW item_codes AS SELECT id, printf('IT-%04d', id) AS code FROM items;"
    )
    conn.close()
    reader = await CatalogReader.open(path)
    try:
        assert reader.allowed_tables == {"items", "item_codes"}
        # The store's own view may use any function; the model's SQL may not.
        result = await reader.run("SELECT code FROM item_codes ORDER BY id")
        assert result.rows == [("IT-0001",), ("IT-0002",), ("IT-0003",)]
        with pytest.raises(SqlRefused):
            await reader.run("SELECT printf('IT-%04d', id) FROM items")
        assert {t.name: t.row_count for t in await reader.tables()} == {
            "items": 3, "item_codes": 3,
        }
    finally:
        await reader.close()


async def test_a_catalog_another_process_is_writing_is_readable(catalog_db: Path) -> None:
    writer = sqlite3.connect(catalog_db, isolation_level=None)
    try:
        writer.execute("BEGIN IMMEDIATE")
        writer.execute("UPDATE products SET stock = 0 WHERE id = 1")
        reader = await CatalogReader.open(catalog_db)
        try:
            assert (await reader.run(COUNT)).rows == [(500,)]
        finally:
            await reader.close()
        writer.execute("ROLLBACK")
    finally:
        writer.close()


# --- Open errors --------------------------------------------------------------------------------


async def test_missing_catalog(tmp_path: Path) -> None:
    path = tmp_path / "x.db"
    with pytest.raises(CatalogError) as caught:
        await CatalogReader.open(path)
    assert str(caught.value) == (
        f"CATALOG_DB {path} no existe: `kratos seed` crea el catálogo de demostración y "
        "`kratos import ARCHIVO` carga el de tu tienda desde su planilla; o apunta CATALOG_DB al "
        "archivo SQLite de tu tienda."
    )
    assert caught.value.exit_code == 2
    assert not path.exists()


@pytest.mark.parametrize(("content", "message"), [
    (b"this is not a database, just some bytes " * 100, "no es una base de datos SQLite"),
    (b"", "no tiene tablas"),
])
async def test_unusable_catalog_files(tmp_path: Path, content: bytes, message: str) -> None:
    path = tmp_path / "catalog.db"
    path.write_bytes(content)
    with pytest.raises(CatalogError) as caught:
        await CatalogReader.open(path)
    assert message in str(caught.value)
    assert str(path) in str(caught.value)
    assert path.read_bytes() == content


async def test_a_catalog_with_only_kratos_tables_has_no_tables(tmp_path: Path) -> None:
    path = tmp_path / "catalog.db"
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE schema_migrations (name TEXT PRIMARY KEY)")
    conn.close()
    with pytest.raises(CatalogError, match="no tiene tablas"):
        await CatalogReader.open(path)


async def test_a_directory_is_not_a_catalog(tmp_path: Path) -> None:
    with pytest.raises(CatalogError, match="es una carpeta"):
        await CatalogReader.open(tmp_path)


# --- `kratos sql` -------------------------------------------------------------------------------


def run_cli(tmp_path: Path, statement: str) -> int:
    return main(["--env-file", os.devnull, "sql", statement])


def test_kratos_sql_prints_a_table(
    catalog_db: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("CATALOG_DB", str(catalog_db))
    code = run_cli(tmp_path, "SELECT name, price FROM products ORDER BY price DESC LIMIT 3")
    out = capsys.readouterr().out.splitlines()
    assert code == 0
    assert out[0].split(" | ")[0].strip() == "name" and out[0].rstrip().endswith("price")
    assert set(out[1]) <= {"-", "+"}
    top = direct(catalog_db, "SELECT name, price FROM products ORDER BY price DESC LIMIT 3")
    for line, (name, price) in zip(out[2:5], top, strict=True):
        assert line.startswith(name) and line.endswith(str(price))
    assert out[5] == "(3 filas)"


def test_kratos_sql_says_when_rows_are_left_out(
    catalog_db: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("CATALOG_DB", str(catalog_db))
    monkeypatch.setenv("SQL_MAX_ROWS", "5")
    assert run_cli(tmp_path, "SELECT id, name FROM products") == 0
    out = capsys.readouterr().out.splitlines()
    assert len(out) == 2 + 5 + 1
    assert out[-1] == "(se muestran 5 de 500 filas)"


def test_kratos_sql_refuses_a_delete_without_a_traceback(
    catalog_db: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("CATALOG_DB", str(catalog_db))
    before = sha256(catalog_db)
    assert run_cli(tmp_path, "DELETE FROM products") == 1
    captured = capsys.readouterr()
    assert captured.out == ""
    assert "kratos: Solo se permiten consultas SELECT, no DELETE." in captured.err
    assert "Traceback" not in captured.err
    assert sha256(catalog_db) == before


def test_kratos_sql_reports_sqlite_errors_in_one_line(
    catalog_db: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("CATALOG_DB", str(catalog_db))
    assert run_cli(tmp_path, "SELECT nope FROM products") == 1
    err = capsys.readouterr().err
    assert "kratos: No hay ninguna columna nope en las tablas de la consulta." in err
    assert "Traceback" not in err


def test_kratos_sql_without_a_catalog_exits_2(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("CATALOG_DB", str(tmp_path / "none.db"))
    assert run_cli(tmp_path, "SELECT 1") == 2
    assert "no existe: `kratos seed` crea" in capsys.readouterr().err


def test_format_table_aligns_columns() -> None:
    result = QueryResult("SELECT", ["name", "n"], [("a", 1), ("bbbb", None), ("c\nd", 22)],
                         truncated=False, total=3, elapsed_ms=1.0)
    assert format_table(result).splitlines() == [
        "name |    n",
        "-----+-----",
        "a    |    1",
        "bbbb | NULL",
        "c d  |   22",
        "(3 filas)",
    ]


async def test_a_call_stuck_outside_sqlite_gives_up_and_keeps_the_connection(
    catalog_db: Path,
) -> None:
    # A Python function under an allowed name stands in for one long C call: neither the
    # progress handler nor interrupt() can stop it, so the caller must not wait for it.
    reader = await CatalogReader.open(catalog_db, timeout=0.3, connections=1)
    try:
        # (replace() never runs on the event loop, see QUICK_FUNCTIONS: always on the thread.)
        def slow_replace(value: str, old: str, new: str) -> str:
            time.sleep(1.5)
            return value.replace(old, new)

        await reader._slots[0].conn.create_function("replace", 3, slow_replace)
        started = time.monotonic()
        with pytest.raises(QueryTooSlow):
            await reader.run("SELECT replace('x', 'x', 'y')")
        assert time.monotonic() - started < 1.5
        # The one connection comes back once the call ends, and works.
        assert (await reader.run(COUNT)).rows == [(500,)]
    finally:
        await reader.close()


COUNTED = [
    ("SELECT name, price FROM products ORDER BY price DESC", ()),
    ("SELECT p.name FROM products p WHERE p.category = ? ORDER BY p.price", ("Laptops",)),
    ("SELECT name AS n FROM products WHERE n LIKE ? ORDER BY price", ("%a%",)),
    ("SELECT name FROM products ORDER BY abs(price - ?)", (500,)),
    ("SELECT DISTINCT brand FROM products ORDER BY brand", ()),
    ("SELECT family, count(*) FROM products GROUP BY family", ()),
    ("SELECT p.name FROM products_fts f JOIN products p ON p.id = f.rowid"
     " WHERE products_fts MATCH ? ORDER BY rank", ('"laptop"*',)),
    ("SELECT name FROM products WHERE price > ? ORDER BY price LIMIT 100 OFFSET 3", (50,)),
    ("SELECT (SELECT count(*) FROM products WHERE price < ?) AS cheaper, name FROM products",
     (100,)),
]


@pytest.mark.parametrize(("statement", "params"), COUNTED)
async def test_counting_a_cut_result_gives_the_true_total(catalog_db, statement, params):
    """The cheap count (columns and ORDER BY dropped) counts what the statement returns."""
    reader = await CatalogReader.open(catalog_db, max_rows=3)
    try:
        result = await reader.run(statement, params)
    finally:
        await reader.close()
    with closing(sqlite3.connect(catalog_db)) as conn:
        expected = len(conn.execute(statement, params).fetchall())
    assert expected > 3
    assert result.truncated and result.total == expected
