"""The catalog, read through a fence: model-written SQL can read catalog tables and nothing else.

Layers, each enough to stop the obvious attacks on its own (see tests/test_catalog.py):

1. ``bot.catalog.sqlguard.validate``: one SELECT over catalog tables with allow-listed functions,
else
   ``SqlRefused``. What runs is the SQL the guard regenerated.
2. The connection: opened ``mode=ro``, ``PRAGMA query_only=ON``, an authorizer that denies every
   action but reads of catalog tables and allow-listed functions (so no ATTACH, VACUUM INTO,
   temp views, PRAGMA writes or transactions), and lowered ``setlimit`` limits so that no single
   value, statement or expression can grow large.
3. Time: a progress handler aborts a statement past its deadline; ``interrupt()`` backs it up.
   Either way the caller gets ``QueryTooSlow`` and the connection is idle again at once. One C
   call cannot be stopped mid-way, so the string functions whose work is the product of two
   lengths are linear rewrites (``bot.catalog.sqlfunctions``) and LIKE/GLOB patterns are short;
   should a call still outlive the limit, its connection is abandoned and replaced, so no statement
   holds a pool connection longer than the time limit plus ``INTERRUPT_GRACE``. On a small
   catalog a statement whose every step is short (``QUICK_FUNCTIONS``) first runs on the event
   loop itself, fenced the same way, for at most ``QUICK_BUDGET``: most questions end there,
   without the two thread wake-ups a pool connection costs; the rest go to the pool.
5. Space: temporary tables and sorts stay in memory (``temp_store=MEMORY``: nothing reaches
   disk), under SQLite's heap limit; past it the caller gets ``QueryTooBig``.
4. Caps: at most ``max_rows`` rows (LIMIT in the SQL is not trusted), long cells cut, a byte cap
   on the whole result.
"""

from __future__ import annotations

import asyncio
import logging
import math
import os
import re
import sqlite3
import sys
import time
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import aiosqlite
import sqlglot
from sqlglot import exp
from sqlglot.errors import SqlglotError

from bot.catalog.sqlfunctions import register as register_linear_functions
from bot.catalog.sqlguard import ALLOWED_FUNCTIONS, DIALECT, QueryError, SqlRefused, validate
from bot.catalog.textfold import FOLD_FUNCTION, TextColumns, inspect_text_columns, sql_fold
from bot.errors import CatalogError, sqlite_reason
from bot.migrations import RECORD_TABLE
from bot.settings import Settings

logger = logging.getLogger(__name__)

__all__ = [
    "CatalogReader", "ColumnInfo", "QueryError", "QueryFailed", "QueryResult", "QueryTooBig",
    "QueryTooSlow",
    "SqlRefused", "TableInfo", "format_table", "sql_command",
]

#: Per-connection limits. LENGTH bounds any one value (a string grown by nested replace() or
#: group_concat() stops at 1 MB with "string or blob too big"); ATTACHED 0 also stops VACUUM,
#: which attaches its target.
SQLITE_LIMITS: dict[int, int] = {
    sqlite3.SQLITE_LIMIT_LENGTH: 1_000_000,
    sqlite3.SQLITE_LIMIT_SQL_LENGTH: 100_000,
    sqlite3.SQLITE_LIMIT_ATTACHED: 0,
    sqlite3.SQLITE_LIMIT_EXPR_DEPTH: 100,
    sqlite3.SQLITE_LIMIT_COMPOUND_SELECT: 10,
    sqlite3.SQLITE_LIMIT_FUNCTION_ARG: 16,
    sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER: 100,
    # LIKE and GLOB cost the value's length times the pattern's, in one uninterruptible call:
    # a 1,000-byte pattern on a 1 MB value took 1.4-3.7 s, 100 bytes 0.4-0.6 s, 50 bytes 0.2-0.4 s.
    sqlite3.SQLITE_LIMIT_LIKE_PATTERN_LENGTH: 50,
}
#: SQLite's heap limit when none is configured (bytes); it is process-wide, see ``open``.
DEFAULT_HEAP_BYTES = 64 * 1024 * 1024
#: VM instructions between two deadline checks (about 0.1 ms of work).
PROGRESS_STEPS = 10_000
#: How long a statement may run on the event loop itself before it is stopped and run again on
#: a connection's thread (seconds). Most catalog questions take SQLite a fraction of a
#: millisecond, about what handing them to a thread and back costs (two wake-ups and the GIL
#: changing hands); a longer one loses at most this much before it goes where it can take its
#: full time limit, on the other core if there is one, without holding up anyone.
QUICK_BUDGET = 0.001
#: VM instructions between two checks of ``QUICK_BUDGET`` (about 10 microseconds of work).
QUICK_PROGRESS_STEPS = 1_000
#: Statements remembered as too long for the event loop (they go straight to a thread).
SLOW_STATEMENTS = 256
#: The event loop runs statements only on a catalog this small (every table and view at most
#: ``QUICK_MAX_ROWS`` rows, no value longer than ``QUICK_MAX_TEXT`` characters) and only
#: statements whose functions cannot grow a value: then no single step SQLite takes between
#: two looks at the budget can be long (a sort of 20,000 rows took 1.3 ms in one step, a LIKE
#: over 4,096 characters well under that), while on a bigger catalog or over a grown value
#: (``group_concat``, ``replace``, ``||``) one step (a sort, one LIKE) can take seconds.
QUICK_MAX_ROWS = 20_000
QUICK_MAX_TEXT = 4_096
#: Functions (and SQL words written like calls) that keep every value within the lengths of
#: the values they read.
QUICK_FUNCTIONS = frozenset({
    "abs", "avg", "ceil", "ceiling", "coalesce", "count", "date", "datetime", "dense_rank",
    "floor", "glob", "ifnull", "iif", "julianday", "length", "like", "lower", "ltrim", "max",
    "min", "nullif", "random", "rank", "round", "row_number", "rtrim", "strftime", "substr",
    "substring", "sum", "time", "total", "trim", "typeof", "unixepoch", "upper", FOLD_FUNCTION,
    "match", "bm25", "highlight", "snippet",
    "and", "as", "by", "cast", "else", "exists", "filter", "from", "in", "is", "join", "not",
    "on", "or", "over", "then", "using", "values", "when", "where",
})
_CALL = re.compile(r"\b(\w+)\s*\(")
#: Longer statements are not looked at for the event loop: they go to a thread.
QUICK_MAX_SQL = 2_000
#: How long past the deadline the event loop waits before it interrupts the statement itself;
#: with ``INTERRUPT_WAIT`` no statement holds a connection 0.5 s past its time limit.
INTERRUPT_GRACE = 0.4
#: How long an interrupted statement may take to stop before its connection is abandoned.
INTERRUPT_WAIT = 0.05
#: Queries up to this long are checked by the SQL guard on the event loop: a typical one takes
#: it under 1 ms, the slowest 500-character ones tried (nested subqueries, 70 ORs) under 5 ms.
INLINE_CHECK_CHARS = 500
#: Statements whose check is remembered (accepted ones, up to INLINE_CHECK_CHARS each: at most
#: about 0.2 MB). A model asked the same question writes the same SQL; checking it again would
#: parse it twice more (about 0.9 ms of CPU for a typical query).
CHECKED_STATEMENTS = 256
#: Shadow tables each virtual-table module keeps beside its table ``<name>_<suffix>``.
SHADOW_SUFFIXES: dict[str, tuple[str, ...]] = {
    "fts5": ("data", "idx", "content", "docsize", "config"),
    "fts4": ("content", "segments", "segdir", "docsize", "stat"),
    "fts3": ("content", "segments", "segdir", "docsize", "stat"),
    "rtree": ("node", "parent", "rowid"),
}
#: SQLite's own schema tables, under every name SQL may use for them.
SQLITE_SCHEMA_TABLES = (
    "sqlite_master", "sqlite_schema", "sqlite_temp_master", "sqlite_temp_schema",
)
_VIRTUAL = re.compile(r"^\s*CREATE\s+VIRTUAL\s+TABLE\b.*?\bUSING\s+(\w+)", re.I | re.S)
_ELLIPSIS = "…"
_BUSY_CODES = frozenset({sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED})


class QueryTooSlow(QueryError):
    """The statement ran past the time limit and was stopped ``seconds`` after it started."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        super().__init__(
            f"The query was stopped after {seconds:.1f} s; it is too slow. Avoid cross joins and "
            "unbounded recursive CTEs, filter earlier, or use products_fts MATCH for text search.",
            es="La consulta al catálogo tardó demasiado y la detuve.",
            en="The catalog query took too long, so I stopped it.",
            reason_es=f"La consulta tardó demasiado y la detuve a los {seconds:.1f} s: evita "
                      "los cruces de tablas sin condición y las CTE recursivas sin fin, filtra "
                      "antes, o busca texto con products_fts MATCH.",
        )


class QueryTooBig(QueryError):
    """The statement needed more memory (sorts, DISTINCT, temporary tables) than allowed."""

    def __init__(self, limit_bytes: int) -> None:
        super().__init__(
            f"The query is too big: it needed more than {limit_bytes // 2**20} MB of memory for "
            "sorting, grouping or DISTINCT. Avoid cross joins, filter earlier, select fewer "
            "columns, or add LIMIT.",
            es="La consulta al catálogo era demasiado grande y la detuve.",
            en="The catalog query was too big, so I stopped it.",
            reason_es=f"La consulta necesitó más de {limit_bytes // 2**20} MB de memoria para "
                      "ordenar, agrupar o DISTINCT y la detuve: evita los cruces de tablas sin "
                      "condición, filtra antes, elige menos columnas o agrega LIMIT.",
        )


class QueryFailed(QueryError):
    """SQLite rejected or failed the statement; ``reason`` is SQLite's own error text and
    ``reason_es`` says it in Spanish (``sqlite_failure_es``)."""

    def __init__(self, sqlite_message: str) -> None:
        super().__init__(
            sqlite_message,
            es="La consulta al catálogo falló.",
            en="The catalog query failed.",
            reason_es=sqlite_failure_es(sqlite_message),
        )


#: SQLite's messages for a statement it rejects or stops (sqlite3.c, 3.40) and ours for the
#: values it cannot take -> the same in Spanish; {0} is what the message names.
_SQLITE_FAILURES = (
    (re.compile(r"no such table: (.+)"), "El catálogo no tiene la tabla {0}."),
    (re.compile(r"no such column: (.+)"), "No hay ninguna columna {0} en las tablas de la "
                                           "consulta."),
    (re.compile(r"ambiguous column name: (.+)"), "La columna {0} está en más de una tabla de la "
                                                  "consulta: escribe tabla.{0}."),
    (re.compile(r"no such function: (.+)"), "SQLite no tiene la función {0}()."),
    (re.compile(r"wrong number of arguments to function (\w+)\(\)"),
     "La función {0}() no acepta esa cantidad de argumentos."),
    (re.compile(r"too many arguments on function (\w+)"), "La función {0}() recibió demasiados "
                                                          "argumentos."),
    (re.compile(r"misuse of (?:aggregate:?|aggregate function|window function) (\w+)\(\)"),
     "La función {0}() no puede usarse ahí: las funciones de grupo (count, sum, max…) y de "
     "ventana no van en WHERE ni dentro de otra de grupo."),
    (re.compile(r'near "(.+)": syntax error'), "Hay un error de sintaxis cerca de «{0}»."),
    (re.compile(r"(?:incomplete input|unrecognized token: .*)"), "La consulta está incompleta: "
                                                                  "revisa comillas y paréntesis."),
    (re.compile(r"not authorized"), "La consulta intenta algo que no está permitido: solo se "
                                    "pueden leer las tablas del catálogo."),
    (re.compile(r"string or blob too big"), "Un valor de la consulta pasó el tamaño máximo "
                                            "(1 MB)."),
    (re.compile(r"too many terms in compound SELECT"), "La consulta une demasiados SELECT "
                                                       "(como máximo 10)."),
    (re.compile(r"LIKE or GLOB pattern too complex"), "El patrón de LIKE o GLOB es demasiado "
                                                      "largo (como máximo 50 caracteres)."),
    (re.compile(r"Expression tree is too large.*"), "La consulta tiene demasiados niveles "
                                                    "anidados: escríbela más simple."),
    (re.compile(r"integer overflow"), "Un cálculo pasó el número entero más grande de SQLite."),
    (re.compile(r"database is locked|database table is locked.*"),
     "Otro programa tiene bloqueado el catálogo: inténtalo de nuevo en un momento."),
    (re.compile(r"the query holds characters that are not valid text"),
     "La consulta tiene caracteres que no son texto válido."),
    (re.compile(r"a number in the query is too large for SQLite"),
     "Un número de la consulta es demasiado grande para SQLite."),
)


def sqlite_failure_es(message: str) -> str:
    """SQLite's English message for a failed statement, said in Spanish with the table, column
    or word it names; a message not listed is quoted as SQLite's own words."""
    for pattern, spanish in _SQLITE_FAILURES:
        match = pattern.fullmatch(message)
        if match:
            return spanish.format(*match.groups())
    return f"SQLite no pudo ejecutar la consulta (SQLite: {message})."


@dataclass(frozen=True)
class QueryResult:
    """One query's answer, capped; ``sql`` is the statement that actually ran."""

    sql: str
    columns: list[str]
    rows: list[tuple[Any, ...]]
    truncated: bool  # more rows existed than were returned
    total: int | None  # total row count when truncated (None if unknown); len(rows) otherwise
    elapsed_ms: float


@dataclass(frozen=True)
class ColumnInfo:
    name: str
    type: str


@dataclass(frozen=True)
class TableInfo:
    name: str
    columns: list[ColumnInfo]
    is_fts: bool
    row_count: int


@dataclass(frozen=True)
class _Schema:
    """What introspection found: tables to show the model, and what the fence may read."""

    tables: list[TableInfo]
    readable: frozenset[str]  # lower-case; adds FTS shadow tables, which FTS5 reads internally
    views: frozenset[str]
    hidden: frozenset[str]  # every other table or view the file has, and SQLite's own
    #: Text columns, for accent- and case-blind comparisons (bot/catalog/textfold.py).
    text: TextColumns = field(default_factory=TextColumns)
    #: The longest value in the catalog (characters or bytes), read only when every table is
    #: at most ``QUICK_MAX_ROWS`` rows; None otherwise.
    longest_value: int | None = None


class _Clock:
    """The running statement's deadline, shared by the event loop and the connection's thread.

    ``steps`` is how many VM instructions SQLite runs between two looks at it.
    """

    def __init__(self, steps: int = PROGRESS_STEPS) -> None:
        self.deadline = math.inf
        self.steps = steps


class _FencedConnection(sqlite3.Connection):
    """A catalog connection that can only read catalog tables.

    Passed to ``aiosqlite.connect`` as ``factory=``, so everything here runs in aiosqlite's own
    thread before any query can.
    """

    def __init__(
        self, *args: Any, schema: _Schema, clock: _Clock, max_cell_chars: int, heap_bytes: int,
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        self._schema = schema
        self._clock = clock
        self._max_cell_chars = max_cell_chars
        # A second lock besides mode=ro; the authorizer below stops SQL switching it off.
        self.execute("PRAGMA query_only=ON")
        # Sorts, DISTINCT and temporary b-trees stay in memory, under the heap limit: on disk
        # they wrote up to 1.8 GB of unlinked files (no listing shows them) within the time limit.
        self.execute("PRAGMA temp_store=MEMORY")
        # Process-wide, and SQLite only ever lowers it: a smaller limit set earlier stays.
        self.execute(f"PRAGMA hard_heap_limit={int(heap_bytes)}")
        register_linear_functions(self)
        for limit, value in SQLITE_LIMITS.items():
            self.setlimit(limit, value)
        self.set_authorizer(self._authorize)
        self.set_progress_handler(self._past_deadline, clock.steps)
        self.create_function(FOLD_FUNCTION, 1, sql_fold, deterministic=True)
        # Shape rows as they are fetched, so a huge cell is dropped inside this thread.
        self.row_factory = self._shape_row
        self.text_factory = catalog_text

    def _past_deadline(self) -> bool:
        return time.monotonic() > self._clock.deadline

    def _authorize(
        self, action: int, arg1: str | None, arg2: str | None, db: str | None, inner: str | None
    ) -> int:
        """Allow SELECT, reads of catalog tables and allow-listed functions; deny the rest."""
        in_view = inner is not None and inner.lower() in self._schema.views
        if action == sqlite3.SQLITE_SELECT:
            return sqlite3.SQLITE_OK
        if action == sqlite3.SQLITE_READ:
            # db is None and the column "" for count(*): allow by table, not by exact tuple.
            table = (arg1 or "").lower()
            if (table in self._schema.readable and db in (None, "main")) or in_view:
                return sqlite3.SQLITE_OK
            if arg2 == "" and table not in self._schema.hidden:
                # A FROM item none of whose columns is read (count(*) over a CTE) is reported
                # under the CTE's name, which no schema knows; it reveals nothing but a count.
                return sqlite3.SQLITE_OK
            if table == "sqlite_master" and arg2 == "ROWID":
                # Connecting a virtual table (FTS5 on first use, again after a schema change)
                # reads sqlite_master's rowid; IGNORE lets that work and yields NULL to SQL.
                return sqlite3.SQLITE_IGNORE
            return sqlite3.SQLITE_DENY
        if action == sqlite3.SQLITE_FUNCTION:
            if (arg2 or "").lower() in ALLOWED_FUNCTIONS or in_view:
                return sqlite3.SQLITE_OK
            return sqlite3.SQLITE_DENY
        if action == sqlite3.SQLITE_RECURSIVE:
            # Recursive CTEs are allowed; the time limit stops one that never ends.
            return sqlite3.SQLITE_OK
        if action == sqlite3.SQLITE_UPDATE and arg1 == "sqlite_master":
            # The same virtual-table connect is authorized as an UPDATE of sqlite_master's
            # columns; IGNORE turns that into a no-op, and a real UPDATE of it fails anyway.
            return sqlite3.SQLITE_IGNORE
        if action == sqlite3.SQLITE_PRAGMA and arg1 == "data_version" and arg2 is None:
            # FTS5 reads PRAGMA data_version on every query to notice index changes.
            return sqlite3.SQLITE_OK
        return sqlite3.SQLITE_DENY

    def _shape_row(self, cursor: sqlite3.Cursor, row: tuple[Any, ...]) -> tuple[Any, ...]:
        return tuple(_shape_cell(value, self._max_cell_chars) for value in row)


def _shape_cell(value: Any, max_chars: int) -> Any:
    if isinstance(value, str) and len(value) > max_chars:
        return value[: max_chars - 1] + _ELLIPSIS
    if isinstance(value, bytes):
        return f"<{len(value)} bytes>"
    return value


@dataclass(eq=False)
class _Slot:
    """One pooled connection and the clock its progress handler reads."""

    conn: _CatalogConnection
    clock: _Clock
    running: asyncio.Future[Any] | None = None  # the statement in flight, if any


class CatalogReader:
    """Runs model-written SQL against the catalog through every fence.

    ``run`` is safe to call from many tasks at once: a small pool of fenced connections (two by
    default) lets a fast query pass a slow one, and each query's time limit starts only once it
    holds a connection, so waiting in line never counts against it.
    """

    def __init__(
        self, path: Path, schema: _Schema, *, timeout: float, max_rows: int,
        max_cell_chars: int, max_bytes: int, heap_bytes: int = DEFAULT_HEAP_BYTES,
    ) -> None:
        self.path = path
        self.allowed_tables: frozenset[str] = frozenset(t.name for t in schema.tables)
        self._schema = schema
        self._timeout = timeout
        self._max_rows = max_rows
        self._max_cell_chars = max_cell_chars
        self._max_bytes = max_bytes
        self._heap_bytes = heap_bytes
        self._slots: list[_Slot] = []
        self._idle: asyncio.Queue[_Slot] = asyncio.Queue()
        # Connections given up on while stuck in one C call; each closes once its call ends.
        self._abandoned: set[_Slot] = set()
        self._closing: set[asyncio.Future[Any]] = set()
        self._checked: OrderedDict[str, str] = OrderedDict()
        # The connection for statements run on the event loop itself (see ``_quick_fetch``).
        self._quick: _FencedConnection | None = None
        self._quick_clock = _Clock(QUICK_PROGRESS_STEPS)
        self._slow: OrderedDict[str, None] = OrderedDict()

    @classmethod
    async def open(
        cls, path: Path, *, timeout: float = 2.0, max_rows: int = 50, max_cell_chars: int = 300,
        max_bytes: int = 64_000, connections: int = 2, heap_bytes: int = DEFAULT_HEAP_BYTES,
    ) -> CatalogReader:
        """Open the catalog read-only; ``CatalogError`` says in one sentence what is wrong.

        ``heap_bytes`` becomes SQLite's hard heap limit, which is process-wide (SQLite's
        ``sqlite3_hard_heap_limit64``): it bounds every SQLite allocation in the process, the
        state database's too, and a statement that reaches it fails with ``QueryTooBig``.
        """
        path = Path(path)
        _check_file(path)
        schema = await asyncio.to_thread(_inspect, path)
        reader = cls(
            path, schema, timeout=timeout, max_rows=max_rows, max_cell_chars=max_cell_chars,
            max_bytes=max_bytes, heap_bytes=heap_bytes,
        )
        try:
            for _ in range(max(1, connections)):
                slot = await reader._connect()
                reader._slots.append(slot)
                reader._idle.put_nowait(slot)
            if schema.longest_value is not None and schema.longest_value <= QUICK_MAX_TEXT:
                reader._quick = await asyncio.to_thread(reader._open_quick)
        except sqlite3.Error as error:
            await reader.close()
            raise CatalogError(_cannot_open(path, error)) from None
        logger.debug("catalog %s open: %d tables, %d connections",
                    path, len(schema.tables), len(reader._slots))
        return reader

    def _connector(self, clock: _Clock, **options: Any) -> Callable[[], _FencedConnection]:
        factory = partial(
            _FencedConnection, schema=self._schema, clock=clock,
            max_cell_chars=self._max_cell_chars, heap_bytes=self._heap_bytes,
        )
        options.setdefault("timeout", self._timeout)
        return partial(sqlite3.connect, _read_only_uri(self.path), uri=True,
                       isolation_level=None, factory=factory, **options)

    async def _connect(self) -> _Slot:
        clock = _Clock()
        conn = _CatalogConnection(self._connector(clock))
        await conn
        return _Slot(conn, clock)

    def _open_quick(self) -> _FencedConnection:
        # Opened on a worker thread, used only on the event loop's; never waits for a lock.
        return self._connector(self._quick_clock, check_same_thread=False, timeout=0)()

    async def run(
        self, sql: str, params: Sequence[Any] = (), *, max_rows: int | None = None
    ) -> QueryResult:
        """Check and run one SELECT; raise ``SqlRefused``, ``QueryFailed`` or ``QueryTooSlow``."""
        started = time.perf_counter()
        cap = max_rows or self._max_rows
        try:
            # Short queries are checked on the loop (a thread hand-off would cost more than the
            # check); a long one can take sqlglot tens of milliseconds: off the loop.
            statement = await self._check(sql)
        except SqlRefused as error:
            logger.debug("catalog query refused (%s): %s", error.reason, _preview(sql))
            raise
        try:
            columns, fetched = await self._execute(statement, params, cap + 1)
        except QueryError as error:
            logger.debug("catalog query failed after %.1f ms (%s): %s",
                         (time.perf_counter() - started) * 1000, error.reason,
                         _preview(statement))
            raise
        rows = self._within_bytes(fetched[:cap])
        truncated = len(fetched) > len(rows)
        total: int | None = len(rows)
        if len(fetched) > cap:
            total = await self._count(statement, params)
        elif truncated:
            total = len(fetched)
        elapsed = (time.perf_counter() - started) * 1000
        logger.debug("catalog query %.1f ms, %d rows%s: %s", elapsed, len(rows),
                     f" of {total}" if truncated else "", _preview(statement))
        return QueryResult(statement, columns, rows, truncated, total, elapsed)

    async def _check(self, sql: str) -> str:
        """``validate`` for this catalog, remembering the statements it accepted.

        The check depends only on the statement and this catalog's schema, which a reader
        never changes (a new catalog file gets a new reader). Short statements are checked on
        the loop (a thread hand-off would cost more than the check); a long one can take
        sqlglot tens of milliseconds: off the loop.
        """
        known = self._checked.get(sql)
        if known is not None:
            self._checked.move_to_end(sql)
            return known
        text = self._schema.text
        if len(sql) > INLINE_CHECK_CHARS:
            return await asyncio.to_thread(validate, sql, self.allowed_tables, text)
        statement = validate(sql, self.allowed_tables, text)
        self._checked[sql] = statement
        if len(self._checked) > CHECKED_STATEMENTS:
            self._checked.popitem(last=False)
        return statement

    async def tables(self) -> list[TableInfo]:
        """The catalog tables the model may query, with columns and row counts (read at open)."""
        return list(self._schema.tables)

    async def close(self) -> None:
        """Stop any running statement and close every connection, abandoned ones included."""
        if self._quick is not None:
            self._quick.close()
            self._quick = None
        for slot in self._slots:
            await slot.conn.interrupt()
            await slot.conn.close()
        self._slots.clear()
        stuck = [slot.running for slot in self._abandoned if slot.running is not None]
        for slot in self._abandoned:
            await slot.conn.interrupt()
        if stuck:
            await asyncio.wait(stuck)
        if self._closing:
            await asyncio.wait(self._closing)

    async def _execute(
        self, sql: str, params: Sequence[Any], fetch: int
    ) -> tuple[list[str], list[tuple[Any, ...]]]:
        quick = self._quick_fetch(sql, params, fetch)
        if quick is not None:
            return quick
        slot = await self._idle.get()
        started = time.monotonic()
        slot.clock.deadline = started + self._timeout
        # The statement runs as its own task, never cancelled: cancelling an aiosqlite call leaves
        # SQLite working in its thread, and the cursor cleanup would then wait for it.
        task = slot.running = asyncio.ensure_future(slot.conn.fetch(sql, params, fetch))
        task.add_done_callback(partial(self._release, slot))
        try:
            done, _ = await asyncio.wait({task}, timeout=self._timeout + INTERRUPT_GRACE)
            if not done:
                await slot.conn.interrupt()
                done, _ = await asyncio.wait({task}, timeout=INTERRUPT_WAIT)
        except asyncio.CancelledError:
            # The caller gave up: stop the work; the slot returns to the pool once it is idle.
            if not task.done():
                await slot.conn.interrupt()
            raise
        if not done:
            # Stuck in one long C call that nothing can stop: others must not wait for it.
            await self._abandon(slot)
            raise QueryTooSlow(time.monotonic() - started)
        return self._outcome(task, time.monotonic() - started)

    def _quick_fetch(
        self, sql: str, params: Sequence[Any], fetch: int
    ) -> tuple[list[str], list[tuple[Any, ...]]] | None:
        """Run ``sql`` on the event loop if it ends within ``QUICK_BUDGET``; else None.

        A statement stopped at the budget, or that found the file locked, is left to the
        pool's threads, and one that used the budget's CPU before it stopped is remembered
        there. Any other outcome
        is final: rows, or the ``QueryError`` the thread would have raised.
        """
        conn = self._quick
        if conn is None or sql in self._slow or not _quick_enough(sql):
            return None
        started = time.monotonic()
        cpu_started = time.thread_time()
        self._quick_clock.deadline = started + QUICK_BUDGET
        try:
            return _fetch(conn, sql, tuple(params), fetch)
        except sqlite3.OperationalError as error:
            if str(error) == "interrupted":
                # Remembered only if it used the budget's CPU: a process descheduled midway
                # (a busy machine) passes the budget in wall time alone, and one such moment
                # must not send a quick statement to a thread for as long as it is remembered.
                if time.thread_time() - cpu_started >= QUICK_BUDGET:
                    self._slow[sql] = None
                    if len(self._slow) > SLOW_STATEMENTS:
                        self._slow.popitem(last=False)
                return None
            if error.sqlite_errorcode in _BUSY_CODES:
                return None
            raise self._failure(error, time.monotonic() - started) from None
        except (sqlite3.Error, MemoryError, UnicodeEncodeError, OverflowError) as error:
            raise self._failure(error, time.monotonic() - started) from None
        finally:
            self._quick_clock.deadline = math.inf

    def _outcome(
        self, task: asyncio.Future[Any], seconds: float
    ) -> tuple[list[str], list[tuple[Any, ...]]]:
        """The finished statement's rows, or its failure as a ``QueryError``."""
        error = task.exception()
        if error is None:
            return task.result()
        raise self._failure(error, seconds) from None

    def _failure(self, error: BaseException, seconds: float) -> BaseException:
        """The ``QueryError`` for a statement that raised ``error`` (others as they are)."""
        if isinstance(error, sqlite3.OperationalError) and str(error) == "interrupted":
            return QueryTooSlow(seconds)
        if isinstance(error, MemoryError):
            # SQLite reports reaching its heap limit as SQLITE_NOMEM.
            return QueryTooBig(self._heap_bytes)
        if isinstance(error, sqlite3.Error):
            return QueryFailed(str(error))
        if isinstance(error, UnicodeEncodeError):
            # A lone surrogate ("\ud800", valid in JSON) has no UTF-8 form SQLite could read.
            return QueryFailed("the query holds characters that are not valid text")
        if isinstance(error, OverflowError):
            return QueryFailed("a number in the query is too large for SQLite")
        return error

    async def _abandon(self, slot: _Slot) -> None:
        """Take ``slot`` out of the pool and put a fresh connection in its place.

        The old connection closes once its call ends (``_release``). Replacements stop at one
        per pooled connection, so a flood of stuck calls cannot pile up threads; past that the
        pool simply waits for them.
        """
        if len(self._abandoned) >= len(self._slots) or slot not in self._slots:
            logger.warning("catalog statement stuck past its time limit; waiting for it")
            return
        self._slots.remove(slot)
        self._abandoned.add(slot)
        logger.warning("catalog statement stuck past its time limit; connection replaced")
        try:
            fresh = await self._connect()
        except sqlite3.Error as error:
            logger.warning("catalog connection could not be replaced: %s", error)
            return
        self._slots.append(fresh)
        self._idle.put_nowait(fresh)

    def _release(self, slot: _Slot, task: asyncio.Future[Any]) -> None:
        slot.clock.deadline = math.inf
        slot.running = None
        if not task.cancelled():
            task.exception()  # retrieved here so a caller that gave up leaves no warning
        if slot in self._slots:
            self._idle.put_nowait(slot)
        elif slot in self._abandoned:
            self._abandoned.discard(slot)
            closing = asyncio.ensure_future(slot.conn.close())
            self._closing.add(closing)
            closing.add_done_callback(self._closing.discard)

    async def _count(self, statement: str, params: Sequence[Any]) -> int | None:
        """Total rows of an already-checked statement, or None when that is too slow to know."""
        counting = await asyncio.to_thread(counting_sql, statement) if not params else \
            f"SELECT count(*) FROM ({statement})"
        try:
            _, rows = await self._execute(counting, params, 1)
        except QueryError as error:
            logger.debug("catalog row count unknown: %s", error.reason)
            return None
        return int(rows[0][0])

    def _within_bytes(self, rows: list[tuple[Any, ...]]) -> list[tuple[Any, ...]]:
        kept: list[tuple[Any, ...]] = []
        size = 0
        for row in rows:
            size += sum(len(str(value).encode("utf-8", "replace")) for value in row)
            if kept and size > self._max_bytes:
                break
            kept.append(row)
        return kept


def counting_sql(statement: str) -> str:
    """A statement that counts the rows ``statement`` returns, cheaply when it safely can.

    In a plain SELECT (no DISTINCT, grouping, aggregate, window, LIMIT or OFFSET) neither the
    columns nor the ORDER BY change how many rows come back, so they are dropped: SQLite can then
    count from an index alone instead of reading and sorting every row (a million products,
    "laptops" without LIMIT: 107 ms before, 1.5 ms after). Any doubt keeps the plain wrapper.
    """
    plain = f"SELECT count(*) FROM ({statement})"
    try:
        tree = sqlglot.parse_one(statement, dialect=DIALECT)
    except SqlglotError:
        return plain
    if not isinstance(tree, exp.Select) or any(
        tree.args.get(arg) for arg in ("distinct", "group", "having", "limit", "offset")
    ):
        return plain
    if any(column.find(exp.AggFunc, exp.Window, exp.Placeholder) for column in tree.expressions):
        return plain
    # SQLite lets WHERE and JOIN use a column alias; dropping the column would break those.
    aliases = {column.alias.lower() for column in tree.expressions if column.alias}
    kept = [tree.args.get(arg) for arg in ("from", "joins", "where")]
    for part in kept:
        for node in part if isinstance(part, list) else [part]:
            if node is not None and any(col.name.lower() in aliases and not col.table
                                        for col in node.find_all(exp.Column)):
                return plain
    tree.set("expressions", [exp.Literal.number(1)])
    tree.set("order", None)
    return f"SELECT count(*) FROM ({tree.sql(dialect=DIALECT)})"


class _CatalogConnection(aiosqlite.Connection):
    """An aiosqlite connection that runs a whole query (execute, fetch, reset) in one trip.

    aiosqlite hands each call to the connection's thread and back; a query done as
    ``execute`` then ``fetchmany`` (then ``close``) took two or three such trips, each a
    wake-up of another thread that must take the GIL back. ``fetch`` queues the whole
    query as one call (through ``aiosqlite.Connection._execute``, the method aiosqlite's own
    cursors use).
    """

    def __init__(self, connector: Callable[[], sqlite3.Connection]) -> None:
        super().__init__(connector, 64)

    async def fetch(self, sql: str, params: Sequence[Any], fetch: int
                    ) -> tuple[list[str], list[tuple[Any, ...]]]:
        """Run ``sql``; its column names and at most ``fetch`` rows (tuples)."""
        return await self._execute(_fetch, self._conn, sql, tuple(params), fetch)


def _quick_enough(sql: str) -> bool:
    """Whether ``sql`` (as the SQL guard wrote it) may run on the event loop: no ``||`` and
    every call one of ``QUICK_FUNCTIONS``. A literal that looks like a call only sends the
    statement to a thread."""
    if len(sql) > QUICK_MAX_SQL or "||" in sql:
        return False
    return all(name.lower() in QUICK_FUNCTIONS for name in _CALL.findall(sql))


def _fetch(conn: sqlite3.Connection, sql: str, params: tuple[Any, ...], fetch: int
           ) -> tuple[list[str], list[tuple[Any, ...]]]:
    cursor = conn.execute(sql, params)
    try:
        rows = cursor.fetchmany(fetch)
        columns = [column[0] for column in cursor.description or ()]
    finally:
        # Closing resets the statement, which ends its read transaction: a half-read cursor
        # would keep the catalog file locked against the store's own writes. (With fewer rows
        # than asked for, SQLite reached the end and the statement was reset already.)
        cursor.close()
    return columns, [tuple(row) for row in rows]


def _read_only_uri(path: Path) -> str:
    return f"{path.resolve().as_uri()}?mode=ro"


def catalog_text(value: bytes) -> str:
    """A TEXT value as Python reads it from a catalog: UTF-8, any invalid byte shown as "�".

    SQLite stores whatever bytes a store's own program wrote as TEXT; Python's default reading
    raises on the first invalid one, which failed every query touching that row.
    """
    return value.decode("utf-8", "replace")


def open_read_only(path: Path) -> sqlite3.Connection:
    """A plain read-only connection to a catalog file, reading text as ``catalog_text`` does.

    Raises ``sqlite3.Error`` when the file cannot be opened.
    """
    conn = sqlite3.connect(_read_only_uri(Path(path)), uri=True)
    conn.text_factory = catalog_text
    return conn


#: What a store owner without a catalog can do, said after what is wrong with CATALOG_DB.
_NO_CATALOG_YET = ("`kratos seed` crea el catálogo de demostración y `kratos import ARCHIVO` "
                   "carga el de tu tienda desde su planilla; o apunta CATALOG_DB al archivo "
                   "SQLite de tu tienda.")


def _check_file(path: Path) -> None:
    if not path.exists():
        raise CatalogError(f"CATALOG_DB {path} no existe: {_NO_CATALOG_YET}")
    if path.is_dir():
        raise CatalogError(
            f"CATALOG_DB {path} es una carpeta: apunta CATALOG_DB al archivo del catálogo, por "
            f"ejemplo {path / 'catalog.db'}."
        )
    if not os.access(path, os.R_OK):
        raise CatalogError(f"No puedo leer CATALOG_DB {path}: este usuario no tiene permiso; "
                           "revisa los permisos del archivo.")


def _cannot_open(path: Path, error: sqlite3.Error) -> str:
    """The owner's sentence for a catalog file SQLite refused (its English text is logged)."""
    logger.warning("catalog %s cannot be opened: %s", path, error)
    return f"No puedo abrir CATALOG_DB {path}: {sqlite_reason(error)}."


def _inspect(path: Path) -> _Schema:
    """Read the catalog's schema on a plain read-only connection (introspection needs PRAGMA)."""
    try:
        conn = open_read_only(path)
        try:
            return _inspect_connection(conn, path)
        finally:
            conn.close()
    except sqlite3.OperationalError as error:
        raise CatalogError(_cannot_open(path, error)) from None
    except sqlite3.DatabaseError as error:
        logger.warning("catalog %s is not a SQLite database: %s", path, error)
        raise CatalogError(
            f"CATALOG_DB {path} no es una base de datos SQLite, o está dañado: apunta "
            "CATALOG_DB al archivo del catálogo; una planilla (CSV, Excel, JSON) se carga con "
            "`kratos import ARCHIVO`."
        ) from None


def _inspect_connection(conn: sqlite3.Connection, path: Path) -> _Schema:
    entries = conn.execute(
        "SELECT type, name, sql FROM sqlite_master WHERE type IN ('table', 'view') ORDER BY name"
    ).fetchall()
    modules: dict[str, str] = {}
    for kind, name, sql in entries:
        match = _VIRTUAL.match(sql or "") if kind == "table" else None
        if match:
            modules[name.lower()] = match.group(1).lower()
    shadows = {
        f"{name}_{suffix}"
        for name, module in modules.items()
        for suffix in SHADOW_SUFFIXES.get(module, ())
    }
    tables: list[TableInfo] = []
    views: set[str] = set()
    for kind, name, _sql in entries:
        lowered = name.lower()
        if lowered.startswith("sqlite_") or lowered == RECORD_TABLE or lowered in shadows:
            continue
        quoted = '"' + name.replace('"', '""') + '"'
        try:
            columns = [
                ColumnInfo(row[1], row[2] or "")
                for row in conn.execute(f"PRAGMA table_info({quoted})")
            ]
            (count,) = conn.execute(f"SELECT count(*) FROM {quoted}").fetchone()
        except sqlite3.OperationalError as error:
            # A virtual table whose module this SQLite lacks, or a broken view: leave it out.
            logger.warning("catalog %s: table %s is not readable (%s); skipping it",
                           path, name, error)
            continue
        if kind == "view":
            views.add(lowered)
        tables.append(TableInfo(name, columns, modules.get(lowered, "").startswith("fts"), count))
    if not tables:
        raise CatalogError(f"CATALOG_DB {path} no tiene tablas: {_NO_CATALOG_YET}")
    readable = frozenset({t.name.lower() for t in tables} | shadows)
    hidden = {name.lower() for _kind, name, _sql in entries} | set(SQLITE_SCHEMA_TABLES)
    text = inspect_text_columns(conn, {t.name: [(c.name, c.type) for c in t.columns]
                                       for t in tables if not t.is_fts})
    return _Schema(tables, readable, frozenset(views), frozenset(hidden - readable), text,
                   _longest_value(conn, tables))


def _longest_value(conn: sqlite3.Connection, tables: list[TableInfo]) -> int | None:
    """The longest value of any column of ``tables``, if all are small enough to read whole."""
    if any(t.row_count > QUICK_MAX_ROWS for t in tables):
        return None
    longest = 0
    for table in tables:
        if not table.columns:
            continue
        quoted = '"' + table.name.replace('"', '""') + '"'
        lengths = ", ".join('max(length("' + c.name.replace('"', '""') + '"))'
                            for c in table.columns)
        try:
            row = conn.execute(f"SELECT {lengths} FROM {quoted}").fetchone()
        except sqlite3.Error:
            return None
        longest = max(longest, *(value or 0 for value in row))
    return longest


def _preview(sql: str, limit: int = 200) -> str:
    flat = " ".join(sql.split())
    return flat if len(flat) <= limit else flat[: limit - 1] + _ELLIPSIS


def format_table(result: QueryResult) -> str:
    """An aligned text table of the result, then "(N filas)" or "(se muestran N de M filas)"."""
    header = list(result.columns)
    body = [[_cell_text(value) for value in row] for row in result.rows]
    widths = [len(name) for name in header]
    for row in body:
        widths = [max(width, len(text)) for width, text in zip(widths, row, strict=True)]
    numeric = [
        bool(result.rows) and all(
            isinstance(row[i], int | float) or row[i] is None for row in result.rows
        )
        for i in range(len(header))
    ]

    def line(cells: list[str]) -> str:
        parts = [
            text.rjust(width) if right else text.ljust(width)
            for text, width, right in zip(cells, widths, numeric, strict=True)
        ]
        return " | ".join(parts).rstrip()

    lines = [line(header), "-+-".join("-" * width for width in widths)]
    lines += [line(row) for row in body]
    shown = len(result.rows)
    if not result.truncated:
        lines.append(f"({shown} fila{'' if shown == 1 else 's'})")
    elif result.total is None:
        lines.append(f"(se muestran las primeras {shown} filas; hay más)")
    else:
        lines.append(f"(se muestran {shown} de {result.total} filas)")
    return "\n".join(lines)


def _cell_text(value: Any) -> str:
    if value is None:
        return "NULL"
    # Keep one row per line, whatever the cell holds.
    return " ".join(str(value).splitlines())


def sql_command(settings: Settings, statement: str) -> int:
    """`kratos sql`: run one statement through the guard and print a table; 1 if refused."""
    return asyncio.run(_sql_command(settings, statement))


async def _sql_command(settings: Settings, statement: str) -> int:
    reader = await CatalogReader.open(
        settings.catalog_db, timeout=settings.sql_timeout, max_rows=settings.sql_max_rows,
        heap_bytes=settings.sql_memory_mb * 2**20,
    )
    try:
        result = await reader.run(statement)
    except QueryError as error:
        # ``reason`` is the model's English; the person who typed the SQL gets it in Spanish.
        print(f"kratos: {error.reason_es}", file=sys.stderr)
        return 1
    finally:
        await reader.close()
    print(format_table(result))
    return 0
