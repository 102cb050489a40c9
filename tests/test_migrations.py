"""Migrations: from a blank database, from the previous version with data, and failures."""

import sqlite3
from pathlib import Path

import pytest

from bot.errors import MigrationError
from bot.migrations import (
    CATALOG_MIGRATIONS,
    STATE_MIGRATIONS,
    apply_migrations,
    is_demo_catalog,
    migration_files,
)
from tests.conftest import first_version_demo_catalog


def tables(db: Path) -> set[str]:
    with sqlite3.connect(db) as conn:
        return {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}


def test_blank_state_database_gets_every_migration(tmp_path):
    db = tmp_path / "state.db"
    applied = apply_migrations(db, STATE_MIGRATIONS)
    assert applied == [p.name for p in migration_files(STATE_MIGRATIONS)]
    assert {"users", "messages", "usage", "transcripts", "schema_migrations"} <= tables(db)


def test_each_migration_applies_once(tmp_path):
    db = tmp_path / "state.db"
    apply_migrations(db, STATE_MIGRATIONS)
    assert apply_migrations(db, STATE_MIGRATIONS) == []
    with sqlite3.connect(db) as conn:
        names = [r[0] for r in conn.execute("SELECT name FROM schema_migrations")]
    assert len(names) == len(set(names)) == len(migration_files(STATE_MIGRATIONS))


def test_upgrade_from_previous_version_keeps_data(tmp_path):
    db = tmp_path / "state.db"
    assert apply_migrations(db, STATE_MIGRATIONS, upto="0001_conversations.sql") == [
        "0001_conversations.sql"
    ]
    with sqlite3.connect(db) as conn:
        conn.execute("INSERT INTO messages (conversation, role, content) VALUES"
                     " ('u:1', 'user', '¿cuál es el más caro?')")
    assert apply_migrations(db, STATE_MIGRATIONS) == ["0002_usage_and_context.sql"]
    with sqlite3.connect(db) as conn:
        row = conn.execute("SELECT conversation, content, meta FROM messages").fetchone()
    assert row == ("u:1", "¿cuál es el más caro?", None)


def test_failing_migration_rolls_back_and_names_the_file(tmp_path):
    folder = tmp_path / "migrations"
    folder.mkdir()
    (folder / "0001_good.sql").write_text("CREATE TABLE a (x INTEGER);")
    (folder / "0002_bad.sql").write_text(
        "CREATE TABLE b (y INTEGER);\nINSERT INTO a VALUES (1);\nTHIS IS NOT SQL;"
    )
    db = tmp_path / "x.db"
    with pytest.raises(MigrationError, match=r"0002_bad\.sql"):
        apply_migrations(db, folder)
    assert "b" not in tables(db)
    with sqlite3.connect(db) as conn:
        assert conn.execute("SELECT count(*) FROM a").fetchone() == (0,)
        assert [r[0] for r in conn.execute("SELECT name FROM schema_migrations")] == [
            "0001_good.sql"
        ]


def test_malformed_migration_name_is_refused(tmp_path):
    (tmp_path / "1_oops.sql").write_text("SELECT 1;")
    with pytest.raises(MigrationError, match=r"0001_what_it_does\.sql"):
        migration_files(tmp_path)


def test_corrupt_database_is_a_clear_error(tmp_path):
    db = tmp_path / "state.db"
    db.write_bytes(b"this is not a database" * 100)
    with pytest.raises(MigrationError, match="not a usable SQLite database"):
        apply_migrations(db, STATE_MIGRATIONS)


def test_demo_catalog_is_recognised(tmp_path):
    demo = tmp_path / "catalog.db"
    apply_migrations(demo, CATALOG_MIGRATIONS)
    assert is_demo_catalog(demo)
    own = tmp_path / "store.db"
    with sqlite3.connect(own) as conn:
        conn.execute("CREATE TABLE items (id INTEGER)")
    assert not is_demo_catalog(own)
    assert not is_demo_catalog(tmp_path / "missing.db")
    state = tmp_path / "state.db"
    apply_migrations(state, STATE_MIGRATIONS)
    assert not is_demo_catalog(state)


def test_demo_catalog_upgrade_keeps_products_and_adds_indexes(tmp_path):
    db = first_version_demo_catalog(tmp_path / "catalog.db")
    assert apply_migrations(db, CATALOG_MIGRATIONS) == ["0002_availability_indexes.sql"]
    with sqlite3.connect(db) as conn:
        plan = " ".join(row[-1] for row in conn.execute(
            "EXPLAIN QUERY PLAN SELECT count(*) FROM products"
            " WHERE category = 'Laptops' AND availability = 'disponible'"))
        rows = conn.execute("SELECT name FROM products_fts WHERE products_fts MATCH 'lenovo'")
        assert [r[0] for r in rows] == ["Laptop Lenovo IdeaPad 3"]
    assert "COVERING INDEX products_category_availability_price" in plan
