"""Numbered SQL migrations, applied in order, each once, each atomically with its record.

``migrations/state/`` builds KRATOS's own database; ``migrations/catalog/`` builds the demo
catalog. A fix-up is a new file, never an edit of one that has shipped.
"""

from __future__ import annotations

import logging
import os
import re
import sqlite3
from pathlib import Path

from bot.errors import MigrationError, os_reason

logger = logging.getLogger(__name__)

MIGRATIONS_ROOT = Path(__file__).resolve().parent.parent / "migrations"
STATE_MIGRATIONS = MIGRATIONS_ROOT / "state"
CATALOG_MIGRATIONS = MIGRATIONS_ROOT / "catalog"
RECORD_TABLE = "schema_migrations"
_NAME = re.compile(r"^(\d{4})_[a-z0-9_]+\.sql$")


def migration_files(folder: Path) -> list[Path]:
    """The folder's migrations in the order they apply; a malformed name is an error."""
    files = sorted(p for p in folder.iterdir() if p.suffix == ".sql")
    for path in files:
        if not _NAME.match(path.name):
            raise MigrationError(f"La migración {path} debe llamarse como "
                                 "0001_lo_que_hace.sql.")
    numbers = [p.name[:4] for p in files]
    if len(set(numbers)) != len(numbers):
        raise MigrationError(f"Dos migraciones de {folder} tienen el mismo número.")
    return files


def applied_migrations(conn: sqlite3.Connection) -> list[str]:
    """Names of the migrations already recorded in this database, oldest first."""
    conn.execute(
        f"CREATE TABLE IF NOT EXISTS {RECORD_TABLE} ("
        " name TEXT PRIMARY KEY,"
        " applied_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')))"
    )
    return [row[0] for row in conn.execute(f"SELECT name FROM {RECORD_TABLE} ORDER BY name")]


def apply_migrations(db_path: Path, folder: Path, *, upto: str | None = None) -> list[str]:
    """Apply the folder's pending migrations to ``db_path`` (created if missing).

    Returns the names applied. ``upto`` stops after the named file (used to test upgrades from
    an older schema). A failing migration is rolled back whole and reported by file name.
    """
    try:
        db_path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise MigrationError(
            f"No puedo crear la carpeta {db_path.parent} para {db_path} ({os_reason(error)}): "
            "apunta STATE_DB o CATALOG_DB a una carpeta donde este usuario pueda escribir."
        ) from None
    if not db_path.exists() and not os.access(db_path.parent, os.W_OK):
        # SQLite would only say "unable to open database file".
        raise MigrationError(
            f"No puedo crear {db_path}: este usuario no puede escribir en {db_path.parent}; "
            "apunta STATE_DB o CATALOG_DB a una carpeta donde pueda (en Docker, el volumen "
            "/data)."
        )
    try:
        conn = sqlite3.connect(db_path, isolation_level=None)
    except sqlite3.Error as error:
        raise MigrationError(f"No puedo abrir la base de datos {db_path} (SQLite: {error})."
                             ) from None
    applied_now: list[str] = []
    try:
        try:
            done = set(applied_migrations(conn))
        except sqlite3.DatabaseError as error:
            raise MigrationError(f"{db_path} no es una base de datos SQLite que pueda usar "
                                 f"(SQLite: {error}).") from None
        for path in migration_files(folder):
            if path.name in done:
                continue
            script = path.read_text(encoding="utf-8")
            try:
                conn.executescript(
                    f"BEGIN IMMEDIATE;\n{script}\n;"
                    f"INSERT INTO {RECORD_TABLE} (name) VALUES ('{path.name}');\nCOMMIT;"
                )
            except sqlite3.Error as error:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                raise MigrationError(
                    f"La migración {path.name} falló y se deshizo (SQLite: {error})."
                ) from None
            logger.info("applied migration %s to %s", path.name, db_path)
            applied_now.append(path.name)
            if upto and path.name == upto:
                break
    finally:
        conn.close()
    return applied_now


def is_demo_catalog(db_path: Path) -> bool:
    """True when the file was built by KRATOS as a demo catalog.

    It must record one of the catalog migrations: the state database has a migration record
    too, and must never be mistaken for a catalog that `seed --force` may rebuild.
    """
    if not db_path.is_file():
        return False
    names = [p.name for p in migration_files(CATALOG_MIGRATIONS)]
    try:
        conn = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True)
        try:
            row = conn.execute(
                f"SELECT 1 FROM {RECORD_TABLE} WHERE name IN ({','.join('?' * len(names))})",
                names,
            ).fetchone()
        finally:
            conn.close()
    except sqlite3.Error:
        return False
    return row is not None
