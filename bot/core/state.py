"""KRATOS's own database (memory, users, usage): opening it and keeping its schema current."""

from __future__ import annotations

import asyncio
import logging
import sqlite3
from collections.abc import Callable, Sequence
from functools import partial
from pathlib import Path
from typing import Any

import aiosqlite

from bot.errors import ConfigError, sqlite_reason
from bot.migrations import (
    CATALOG_MIGRATIONS,
    STATE_MIGRATIONS,
    apply_migrations,
    is_demo_catalog,
)
from bot.settings import Settings

logger = logging.getLogger(__name__)

BUSY_TIMEOUT_MS = 5000
#: Quick writes between two checkpoints of the WAL (made on the thread connection, never on the
#: event loop). SQLite's own automatic checkpoint comes after 1,000 pages, a few hundred writes.
QUICK_CHECKPOINT_WRITES = 200
_BUSY_CODES = frozenset({sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED})


class StateConnection(aiosqlite.Connection):
    """The state database: aiosqlite's connection, plus a quick one for the short statements.

    Every aiosqlite call hands its statement to the connection's thread and waits for the
    thread to hand the result back. For the few indexed statements of every answer (the
    conversation's last turns, the new exchange, the usage row, the user's last-seen time)
    that round trip costs more than SQLite's own work: on one core, 200 customers at once
    spent about a third of a second in those hand-offs alone (``make bench``, figure 2).
    ``quick_fetchall`` and ``quick_execute`` run such a statement on the event loop through a
    second, synchronous connection that can never make the loop wait:

    - it never waits for a lock (``busy_timeout`` 0): a statement that finds the database
      locked (another process writing, a purge running) is run on the thread connection
      instead, which waits up to ``BUSY_TIMEOUT_MS`` as every other statement does;
    - it never checkpoints (``wal_autocheckpoint`` 0), so no fsync happens on the loop: the
      thread connection checkpoints the WAL after every ``QUICK_CHECKPOINT_WRITES`` quick
      writes. With ``synchronous=NORMAL`` a WAL commit is a write to the page cache;
    - writes are committed together: those queued while the loop runs other tasks go into one
      transaction at the loop's next turn (a burst's answers write their rows in a few commits
      instead of three each). A statement that fails fails alone, as it would on its own.
      ``quick_execute`` returns once its write is committed; ``quick_write`` returns at once,
      so an answer's own rows never hold its reply back (under a burst each wait for a commit
      was two more passes of a busy event loop, tens of milliseconds);
    - a queued write is never overtaken: any later statement through this connection commits
      the queue first and, while writes handed to the thread wait for a lock, goes to the
      thread behind them, so what was written is what is read, in order.

    Everything else (purges, stats, migrations of chats) keeps using the aiosqlite methods.
    Only the event loop's thread may call the quick methods.
    """

    def __init__(self, path: Path) -> None:
        super().__init__(partial(sqlite3.connect, str(path), isolation_level=None), 64)
        self._path = path
        self._quick: sqlite3.Connection | None = None
        self._writes_since_checkpoint = 0
        self._checkpoints: set[asyncio.Task[None]] = set()
        self._queued: list[tuple[str, Sequence[Any], asyncio.Future[int]]] = []
        self._fallbacks: set[asyncio.Task[None]] = set()

    def open_quick(self) -> None:
        """Open the quick connection (once the database is migrated and in WAL mode)."""
        quick = sqlite3.connect(str(self._path), isolation_level=None)
        quick.row_factory = sqlite3.Row
        quick.execute("PRAGMA busy_timeout=0")
        quick.execute("PRAGMA synchronous=NORMAL")
        quick.execute("PRAGMA wal_autocheckpoint=0")
        quick.execute("PRAGMA foreign_keys=ON")
        self._quick = quick

    async def quick_fetchall(self, sql: str, parameters: Sequence[Any] = ()) -> list[sqlite3.Row]:
        """The rows of one short read, read on the event loop (or on the thread if locked),
        after every write queued before it.

        While writes handed to the thread (the database was locked when their turn came) are
        still waiting for the lock, the read goes to the thread too, behind them: an answer
        never reads a conversation, or a day's tokens, without its own last rows.
        """
        self._commit_now()
        if self._quick is not None and not self._handed_over():
            try:
                return self._quick.execute(sql, parameters).fetchall()
            except sqlite3.OperationalError as error:
                if error.sqlite_errorcode not in _BUSY_CODES:
                    raise
        return list(await self.execute_fetchall(sql, parameters))

    async def quick_execute(self, sql: str, parameters: Sequence[Any] = ()) -> int:
        """Run one short write, committed with the others queued this turn; rows changed.

        Raises what the statement raises on its own (``sqlite3.Error``).
        """
        return await self._enqueue(sql, parameters)

    def quick_write(self, sql: str, parameters: Sequence[Any] = ()) -> None:
        """Queue one short write for the commit at the loop's next turn, and return at once.

        Nothing waits for it: a failure is logged (the statement's first words and SQLite's
        reason, never the values). Must be called from the event loop's thread.
        """
        done = self._enqueue(sql, parameters)
        done.add_done_callback(partial(_log_failed_write, " ".join(sql.split()[:3])))

    def _enqueue(self, sql: str, parameters: Sequence[Any]) -> asyncio.Future[int]:
        loop = asyncio.get_running_loop()
        done: asyncio.Future[int] = loop.create_future()
        if not self._queued:
            loop.call_soon(self._commit_queued)
        self._queued.append((sql, parameters, done))
        return done

    async def _execute(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        """aiosqlite's hand-off of one call to the connection's thread (every aiosqlite method
        and cursor goes through it), after the quick writes queued before it."""
        self._commit_now()
        pending = self._handed_over()
        if pending:
            await asyncio.wait(pending)
        return await super()._execute(fn, *args, **kwargs)

    def _handed_over(self) -> set[asyncio.Task[None]]:
        """Queued writes still running on the thread (the database was locked)."""
        return {task for task in self._fallbacks if not task.done()}

    def _commit_now(self) -> None:
        """Commit the queued writes now rather than at the loop's next turn."""
        if self._queued:
            self._commit_queued()

    def _commit_queued(self) -> None:
        """Run the queued writes in one transaction on the loop; on a locked database, hand
        them to the thread connection in order."""
        queued, self._queued = self._queued, []
        if not queued:
            return
        quick = self._quick
        if quick is None:
            self._hand_over(queued)
            return
        try:
            quick.execute("BEGIN IMMEDIATE")
        except sqlite3.OperationalError as error:
            if error.sqlite_errorcode not in _BUSY_CODES:
                _settle([(done, error) for _, _, done in queued])
                return
            self._hand_over(queued)
            return
        outcomes: list[tuple[asyncio.Future[int], int | BaseException]] = []
        for sql, parameters, done in queued:
            try:
                outcomes.append((done, quick.execute(sql, parameters).rowcount))
            except Exception as error:
                # SQLite undid that statement alone; a value it cannot store (an int past 64
                # bits, a str with a lone surrogate) fails in the binding, before SQLite runs
                # anything. Either way the others go on: one caller's bad value must never
                # leave the batch uncommitted and every later writer waiting.
                outcomes.append((done, error))
        try:
            quick.execute("COMMIT")
        except sqlite3.Error as error:
            if quick.in_transaction:
                quick.execute("ROLLBACK")
            outcomes = [(done, error) for done, _ in outcomes]
        else:
            for _ in queued:
                self._count_write()
        _settle(outcomes)

    def _hand_over(self, queued: list[tuple[str, Sequence[Any], asyncio.Future[int]]]) -> None:
        task = asyncio.get_running_loop().create_task(self._write_on_thread(queued))
        self._fallbacks.add(task)
        task.add_done_callback(self._fallbacks.discard)

    async def _write_on_thread(self, queued: list[tuple[str, Sequence[Any],
                                                        asyncio.Future[int]]]) -> None:
        # aiosqlite's own hand-off, not this class's: that one waits for this very task.
        thread_call = super()._execute
        for sql, parameters, done in queued:
            try:
                cursor = await thread_call(self._conn.execute, sql, parameters)
            except Exception as error:  # as in _commit_queued: it fails alone
                _settle([(done, error)])
            else:
                _settle([(done, cursor.rowcount)])

    def _count_write(self) -> None:
        self._writes_since_checkpoint += 1
        if self._writes_since_checkpoint < QUICK_CHECKPOINT_WRITES or self._checkpoints:
            return
        self._writes_since_checkpoint = 0
        task = asyncio.get_running_loop().create_task(self._checkpoint())
        self._checkpoints.add(task)
        task.add_done_callback(self._checkpoints.discard)

    async def _checkpoint(self) -> None:
        try:
            await self.execute_fetchall("PRAGMA wal_checkpoint(PASSIVE)")
        except (sqlite3.Error, ValueError) as error:
            # A closed connection or a busy database: the next round checkpoints instead.
            logger.debug("state database checkpoint skipped: %s", error)

    async def close(self) -> None:
        """Close both connections (queued writes and pending checkpoints first)."""
        if self._queued:
            self._commit_queued()
        for task in [*self._fallbacks, *self._checkpoints]:
            await asyncio.gather(task, return_exceptions=True)
        if self._quick is not None:
            self._quick.close()
            self._quick = None
        await super().close()


def _log_failed_write(statement: str, done: asyncio.Future[int]) -> None:
    """Log the error of a write nobody waits for (``quick_write``), so it is never silent."""
    if not done.cancelled() and done.exception() is not None:
        logger.error("a write to the state database failed (%s ...): %s", statement,
                     done.exception())


def _settle(outcomes: Sequence[tuple[asyncio.Future[int], int | BaseException]]) -> None:
    """Give each waiting writer its row count or its error (unless it stopped waiting)."""
    for done, outcome in outcomes:
        if done.done():
            continue
        if isinstance(outcome, BaseException):
            done.set_exception(outcome)
        else:
            done.set_result(outcome)


def migrate_state(path: Path) -> list[str]:
    """Bring the state database up to date (creating it if needed)."""
    return apply_migrations(path, STATE_MIGRATIONS)


async def open_state(path: Path) -> StateConnection:
    """Open the (migrated) state database for concurrent tasks: WAL and a busy timeout.

    Raises ``ConfigError`` when the file cannot be opened.
    """
    migrate_state(path)
    conn = StateConnection(path)
    try:
        await conn
    except sqlite3.Error as error:
        raise ConfigError(_cannot_open(path, error)) from None
    try:
        conn.row_factory = aiosqlite.Row
        await conn.execute("PRAGMA journal_mode=WAL")
        await conn.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
        await conn.execute("PRAGMA synchronous=NORMAL")
        await conn.execute("PRAGMA foreign_keys=ON")
        conn.open_quick()
    except sqlite3.Error as error:
        await conn.close()
        raise ConfigError(_cannot_open(path, error)) from None
    return conn


def _cannot_open(path: Path, error: sqlite3.Error) -> str:
    """The owner's sentence for a state database SQLite refused (its English text is logged)."""
    logger.warning("STATE_DB %s cannot be opened: %s", path, error)
    return f"No puedo abrir STATE_DB {path}: {sqlite_reason(error)}."


def _applied(applied: list[str]) -> str:
    """What ``kratos migrate`` did to one database, for its line of output."""
    return f"apliqué {', '.join(applied)}." if applied else "ya estaba al día."


def migrate_command(settings: Settings) -> int:
    """`kratos migrate`: state migrations, and the demo catalog's when CATALOG_DB is one."""
    applied = migrate_state(settings.state_db)
    print(f"STATE_DB {settings.state_db}: {_applied(applied)}")
    if is_demo_catalog(settings.catalog_db):
        applied = apply_migrations(settings.catalog_db, CATALOG_MIGRATIONS)
        print(f"Catálogo de demostración {settings.catalog_db}: {_applied(applied)}")
    elif settings.catalog_db.exists():
        print(f"El catálogo {settings.catalog_db} es el de la tienda: no lo toqué.")
    else:
        print(f"Todavía no hay catálogo en {settings.catalog_db}: `kratos seed` crea el de "
              "demostración y `kratos import ARCHIVO` carga el de tu tienda.")
    return 0
