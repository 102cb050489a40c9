"""Text comparisons in catalog SQL ignore case and accents, by construction, and keep their
indexes: run on a real demo catalog through every fence, and planned with EXPLAIN QUERY PLAN."""

from __future__ import annotations

import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bot.catalog.reader import CatalogReader
from bot.catalog.sqlguard import validate
from bot.catalog.textfold import FOLD_FUNCTION, fold, inspect_text_columns, sql_fold

AUDIFONOS = "SELECT count(*) FROM products WHERE category = 'Audífonos'"


@pytest.fixture
async def reader(catalog_db: Path) -> AsyncIterator[CatalogReader]:
    opened = await CatalogReader.open(catalog_db)
    yield opened
    await opened.close()


async def count(reader: CatalogReader, sql: str) -> int:
    return (await reader.run(sql)).rows[0][0]


@pytest.mark.parametrize(("text", "folded"), [
    ("Audífonos", "audifonos"), ("AUDÍFONOS", "audifonos"), ("Ñandú", "nandu"),
    ("Electrónica", "electronica"), ("PLAIN ascii", "plain ascii"), ("Straße", "strasse"),
])
def test_fold(text: str, folded: str) -> None:
    assert fold(text) == folded
    assert sql_fold(None) is None and sql_fold(12) == 12


@pytest.mark.parametrize("where", [
    "category LIKE '%AUDÍFONOS%'",
    "category LIKE '%audifonos%'",
    "category LIKE 'audífono%'",
    "category = 'AUDIFONOS'",
    "category = 'audífonos'",
    "lower(category) = 'audífonos'",
    "upper(category) LIKE '%AUDÍFONOS%'",
    "'AUDÍFONOS' = category",
    "category IN ('audifonos', 'NO EXISTE')",
    "p.category LIKE '%AudiFonos%'",
])
async def test_category_matches_whatever_its_case_and_accents(reader: CatalogReader,
                                                              where: str) -> None:
    exact = await count(reader, AUDIFONOS)
    assert exact > 0
    assert await count(reader, f"SELECT count(*) FROM products p WHERE {where}") == exact


async def test_names_match_whatever_their_case_and_accents(reader: CatalogReader) -> None:
    exact = await count(reader, "SELECT count(*) FROM products WHERE name LIKE '%Audífonos%'")
    assert exact > 0
    for where in ("name LIKE '%AUDIFONOS%'", "instr(name, 'AUDÍFONOS') > 0",
                  "instr(lower(name), 'audifonos') > 0"):
        assert await count(reader, f"SELECT count(*) FROM products WHERE {where}") == exact


async def test_negations_exclude_what_the_positive_finds(reader: CatalogReader) -> None:
    total = await count(reader, "SELECT count(*) FROM products")
    exact = await count(reader, AUDIFONOS)
    for where in ("category != 'AUDIFONOS'", "category NOT LIKE '%audifonos%'",
                  "NOT category LIKE '%AUDÍFONOS%'", "category NOT IN ('audifonos')"):
        sql = f"SELECT count(*) FROM products WHERE {where}"
        assert await count(reader, sql) == total - exact, where


async def test_codes_match_in_any_case(reader: CatalogReader, catalog_db: Path) -> None:
    with sqlite3.connect(catalog_db) as conn:
        (sku,) = conn.execute("SELECT sku FROM products LIMIT 1").fetchone()
    sql = f"SELECT count(*) FROM products WHERE sku = '{sku.lower()}'"
    assert await count(reader, sql) == 1


async def test_values_that_match_nothing_still_match_nothing(reader: CatalogReader) -> None:
    assert await count(reader, "SELECT count(*) FROM products WHERE category = 'Tractores'") == 0
    assert await count(
        reader, "SELECT count(*) FROM products WHERE category LIKE '%tractor%'") == 0


async def test_placeholders_and_columns_of_other_kinds_are_left_alone(
        reader: CatalogReader) -> None:
    result = await reader.run("SELECT count(*) FROM products WHERE category = ?", ("Audífonos",))
    assert result.rows[0][0] == await count(reader, AUDIFONOS)
    assert "fold" not in (await reader.run(
        "SELECT name FROM products WHERE price > 100 AND stock = 3 LIMIT 1")).sql


def plan(catalog_db: Path, sql: str) -> str:
    """The query plan of the statement the guard lets run, on the catalog's own indexes."""
    conn = sqlite3.connect(catalog_db)
    try:
        conn.create_function(FOLD_FUNCTION, 1, sql_fold, deterministic=True)
        columns = inspect_text_columns(conn, {"products": [
            (row[1], row[2]) for row in conn.execute("PRAGMA table_info(products)")]})
        checked = validate(sql, {"products"}, columns)
        return " / ".join(row[3] for row in conn.execute(f"EXPLAIN QUERY PLAN {checked}"))
    finally:
        conn.close()


@pytest.mark.parametrize(("where", "index"), [
    ("category = 'AUDIFONOS'", "INDEX products_category"),
    ("category LIKE '%audifono%'", "INDEX products_category"),
    ("brand = 'sony'", "INDEX products_brand"),
    ("brand = 'SONY' AND availability = 'DISPONIBLE'", "INDEX products_brand"),
    ("sku = 'ele-lap-1'", "INDEX sqlite_autoindex_products"),
    ("category IN ('audífonos', 'LAPTOPS')", "INDEX products_category"),
])
def test_folded_filters_on_indexed_columns_keep_their_index(catalog_db: Path, where: str,
                                                            index: str) -> None:
    shown = plan(catalog_db, f"SELECT name, price FROM products WHERE {where} ORDER BY price")
    assert index in shown and "SCAN products" not in shown, shown


def test_text_without_an_index_is_folded_in_place(catalog_db: Path) -> None:
    conn = sqlite3.connect(catalog_db)
    try:
        columns = inspect_text_columns(conn, {"products": [
            (row[1], row[2]) for row in conn.execute("PRAGMA table_info(products)")]})
    finally:
        conn.close()
    checked = validate("SELECT name FROM products WHERE name LIKE '%AUDÍFONOS%'", {"products"},
                       columns)
    assert checked == "SELECT name FROM products WHERE fold(name) LIKE '%audifonos%'"


def test_an_indexed_column_too_large_to_list_keeps_its_index_with_case_variants(
        catalog_db: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("bot.catalog.textfold.MAX_LISTED_VALUES", 10)
    with sqlite3.connect(catalog_db) as conn:
        (sku,) = conn.execute("SELECT sku FROM products LIMIT 1").fetchone()
    sql = f"SELECT name FROM products WHERE sku = '{sku.lower()}'"
    shown = plan(catalog_db, sql)
    assert "INDEX sqlite_autoindex_products" in shown and "SCAN products" not in shown, shown
    conn = sqlite3.connect(catalog_db)
    try:
        columns = inspect_text_columns(conn, {"products": [
            (row[1], row[2]) for row in conn.execute("PRAGMA table_info(products)")]})
        conn.create_function(FOLD_FUNCTION, 1, sql_fold, deterministic=True)
        found = conn.execute(validate(sql, {"products"}, columns)).fetchall()
    finally:
        conn.close()
    assert len(found) == 1


def test_a_folded_category_filter_is_read_in_price_order_without_a_sort(catalog_db: Path
                                                                        ) -> None:
    shown = plan(catalog_db, "SELECT name, price FROM products WHERE category = 'LAPTOPS' "
                             "ORDER BY price LIMIT 5")
    assert "INDEX products_category" in shown and "TEMP B-TREE" not in shown, shown
