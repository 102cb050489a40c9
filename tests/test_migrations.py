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
    assert apply_migrations(db, STATE_MIGRATIONS)[0] == "0002_usage_and_context.sql"
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
    with pytest.raises(MigrationError, match=r"0001_lo_que_hace\.sql"):
        migration_files(tmp_path)


def test_corrupt_database_is_a_clear_error(tmp_path):
    db = tmp_path / "state.db"
    db.write_bytes(b"this is not a database" * 100)
    with pytest.raises(MigrationError, match="no es una base de datos SQLite que pueda usar"):
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


def query_plan(conn: sqlite3.Connection, sql: str) -> str:
    return " ".join(row[-1] for row in conn.execute(f"EXPLAIN QUERY PLAN {sql}"))


def test_demo_catalog_upgrade_keeps_products_and_adds_indexes(tmp_path):
    db = first_version_demo_catalog(tmp_path / "catalog.db")
    assert apply_migrations(db, CATALOG_MIGRATIONS) == [
        "0002_availability_indexes.sql", "0003_category_brand_index.sql",
        "0004_product_summary.sql",
    ]
    with sqlite3.connect(db) as conn:
        in_stock = query_plan(conn, "SELECT count(*) FROM products"
                                    " WHERE category = 'Laptops' AND availability = 'disponible'")
        by_brand = query_plan(conn, "SELECT name FROM products WHERE category = 'Laptops'"
                                    " AND brand = 'Lenovo' ORDER BY price LIMIT 5")
        rows = conn.execute("SELECT name FROM products_fts WHERE products_fts MATCH 'lenovo'")
        assert [r[0] for r in rows] == ["Laptop Lenovo IdeaPad 3"]
        summary = conn.execute("SELECT * FROM product_summary").fetchall()
    assert "COVERING INDEX products_category_availability_price" in in_stock
    assert "INDEX products_category_brand_price" in by_brand and "TEMP B-TREE" not in by_brand
    assert summary == [("Electrónica", "Laptops", "Lenovo", "disponible", 1, 4, 2499.9)]


SUMMARY_FROM_PRODUCTS = (
    "SELECT family, category, brand, availability, count(*), sum(stock), round(sum(price), 6)"
    " FROM products GROUP BY family, category, brand, availability ORDER BY 1, 2, 3, 4"
)
SUMMARY = (
    "SELECT family, category, brand, availability, products, stock, round(price_sum, 6)"
    " FROM product_summary ORDER BY 1, 2, 3, 4"
)


def test_product_summary_follows_every_change_to_products(tmp_path):
    db = first_version_demo_catalog(tmp_path / "catalog.db")
    apply_migrations(db, CATALOG_MIGRATIONS)
    changes = [
        "INSERT INTO products (sku, name, family, category, brand, model, description, price,"
        " stock, availability) VALUES ('ELE-LAP-2', 'Laptop Lenovo Yoga 7', 'Electrónica',"
        " 'Laptops', 'Lenovo', 'Yoga 7', 'Convertible.', 3799.9, 2, 'disponible'),"
        " ('HOG-LIC-1', 'Licuadora Oster Clásica', 'Hogar', 'Licuadoras', 'Oster', 'Clásica',"
        " 'Vaso de vidrio.', 189.9, 0, 'agotado')",
        "UPDATE products SET price = price - 100.1 WHERE sku = 'ELE-LAP-2'",
        "UPDATE products SET availability = 'agotado', stock = 0 WHERE sku = 'ELE-LAP-1'",
        "UPDATE products SET brand = 'Imaco' WHERE sku = 'HOG-LIC-1'",
        "UPDATE products SET name = 'Laptop Lenovo Yoga 7 2-en-1' WHERE sku = 'ELE-LAP-2'",
        "DELETE FROM products WHERE sku = 'ELE-LAP-1'",
    ]
    with sqlite3.connect(db) as conn:
        for change in changes:
            conn.execute(change)
            expected = conn.execute(SUMMARY_FROM_PRODUCTS).fetchall()
            assert conn.execute(SUMMARY).fetchall() == expected, change
        assert conn.execute("SELECT count(*) FROM product_summary").fetchone() == (2,)
        conn.execute("DELETE FROM products")
        assert conn.execute("SELECT count(*) FROM product_summary").fetchone() == (0,)


def test_chat_migrations_table_arrives_on_a_database_with_conversations(tmp_path):
    db = tmp_path / "state.db"
    apply_migrations(db, STATE_MIGRATIONS, upto="0002_usage_and_context.sql")
    with sqlite3.connect(db) as conn:
        conn.execute("INSERT INTO messages (conversation, role, content) VALUES"
                     " ('g:-4001:7', 'user', 'dame laptops')")
    assert "0003_chat_migrations.sql" in apply_migrations(db, STATE_MIGRATIONS)
    with sqlite3.connect(db) as conn:
        conn.execute("INSERT INTO chat_migrations (old_chat_id, new_chat_id) VALUES"
                     " (-4001, -1004001)")
        assert conn.execute("SELECT conversation FROM messages").fetchall() == [("g:-4001:7",)]
        assert conn.execute("SELECT new_chat_id FROM chat_migrations").fetchall() == [
            (-1004001,)]


def test_usage_rows_from_before_cached_tokens_count_none(tmp_path):
    db = tmp_path / "state.db"
    apply_migrations(db, STATE_MIGRATIONS, upto="0002_usage_and_context.sql")
    with sqlite3.connect(db) as conn:
        conn.execute("INSERT INTO usage (conversation, engine, outcome, prompt_tokens)"
                     " VALUES ('u:1', 'model', 'ok', 1200)")
    assert "0004_usage_cached_tokens.sql" in apply_migrations(db, STATE_MIGRATIONS)
    with sqlite3.connect(db) as conn:
        row = conn.execute("SELECT prompt_tokens, cached_tokens FROM usage").fetchone()
    assert row == (1200, 0)
