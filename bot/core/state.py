"""KRATOS's own database (memory, users, usage): opening it and keeping its schema current."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import aiosqlite

from bot.errors import ConfigError
from bot.migrations import (
    CATALOG_MIGRATIONS,
    STATE_MIGRATIONS,
    apply_migrations,
    is_demo_catalog,
)
from bot.settings import Settings

BUSY_TIMEOUT_MS = 5000


def migrate_state(path: Path) -> list[str]:
    """Bring the state database up to date (creating it if needed)."""
    return apply_migrations(path, STATE_MIGRATIONS)


async def open_state(path: Path) -> aiosqlite.Connection:
    """Open the (migrated) state database for concurrent tasks: WAL and a busy timeout."""
    migrate_state(path)
    try:
        conn = await aiosqlite.connect(path, isolation_level=None)
    except sqlite3.Error as error:
        raise ConfigError(f"Cannot open STATE_DB {path}: {error}.") from None
    conn.row_factory = aiosqlite.Row
    await conn.execute("PRAGMA journal_mode=WAL")
    await conn.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
    await conn.execute("PRAGMA synchronous=NORMAL")
    await conn.execute("PRAGMA foreign_keys=ON")
    return conn


def migrate_command(settings: Settings) -> int:
    """`kratos migrate`: state migrations, and the demo catalog's when CATALOG_DB is one."""
    applied = migrate_state(settings.state_db)
    print(f"State database {settings.state_db}: "
          + (f"applied {', '.join(applied)}." if applied else "up to date."))
    if is_demo_catalog(settings.catalog_db):
        applied = apply_migrations(settings.catalog_db, CATALOG_MIGRATIONS)
        print(f"Demo catalog {settings.catalog_db}: "
              + (f"applied {', '.join(applied)}." if applied else "up to date."))
    elif settings.catalog_db.exists():
        print(f"Catalog {settings.catalog_db} is the store's own file: left untouched.")
    else:
        print(f"No catalog at {settings.catalog_db} yet: `kratos seed` creates the demo one.")
    return 0
