"""Figure 5's queries: each runs through the guard, and the ones the prompt now asks for answer
the question as the ones it asked for before did."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from benchmarks.catalog_scale import PREVIOUS, QUERIES
from bot.catalog.reader import CatalogReader

BY_LABEL = {label: sql for _, label, sql in QUERIES}


@pytest.fixture
async def reader(catalog_db: Path) -> AsyncIterator[CatalogReader]:
    catalog = await CatalogReader.open(catalog_db)
    yield catalog
    await catalog.close()


def test_every_replaced_query_is_in_the_mix() -> None:
    assert set(PREVIOUS) <= set(BY_LABEL)
    assert len(QUERIES) == len(BY_LABEL) == 14
    assert sum(kind == "keyword (FTS)" for kind, _, _ in QUERIES) == 2


async def test_every_query_runs_through_the_guard(reader: CatalogReader) -> None:
    statements = [*BY_LABEL.values(), *PREVIOUS.values()]
    for sql in statements:
        result = await reader.run(sql)
        assert result.rows, sql


@pytest.mark.parametrize("label", [
    "how many products", "how many phones in stock", "products and average price per family",
])
async def test_summary_answers_as_the_products_table_did(
    reader: CatalogReader, label: str
) -> None:
    now = await reader.run(BY_LABEL[label])
    before = await reader.run(PREVIOUS[label])
    assert now.rows == before.rows


@pytest.mark.parametrize("label", ["zapatillas", "laptop lenovo", "licuadora oster, cheapest"])
async def test_type_and_brand_filters_find_what_the_keyword_search_found(
    reader: CatalogReader, label: str
) -> None:
    """The cheapest of the type and brand, each among the products the old search matched."""
    now = await reader.run(BY_LABEL[label])
    match = PREVIOUS[label].split("MATCH ")[1].split(" ORDER BY")[0]
    found = await reader.run(
        f"SELECT p.name, p.price FROM products_fts f JOIN products p ON p.rowid = f.rowid "
        f"WHERE products_fts MATCH {match} ORDER BY p.price", max_rows=1_000)
    assert not found.truncated
    names = [row[0] for row in now.rows]
    assert names and set(names) <= {row[0] for row in found.rows}
    prices = [row[1] for row in now.rows]
    assert prices == sorted(prices) == [row[1] for row in found.rows][:len(prices)]
