"""Catalog SQL that asks for a huge string: refused at once, without building it first.

The model writes the SQL, and a customer's message can steer it; three connections each
building a gigabyte would exhaust the machine.
"""

from __future__ import annotations

import tracemalloc
from collections.abc import Iterator
from pathlib import Path

import pytest

from bot.catalog.reader import CatalogReader, QueryError

#: Each asks replace() for a result of about 490 MB (70 KB of descriptions, ~7,000 'a's) or
#: more; SQLITE_LIMIT_LENGTH on catalog connections is 1 MB.
HUGE = [
    "SELECT length(replace(g, 'a', g)) FROM (SELECT group_concat(description) g FROM products)",
    "SELECT replace(g, ' ', g) FROM (SELECT group_concat(name) g FROM products)",
    "SELECT length(replace(replace(group_concat(description), 'e', 'eeee'), 'e', "
    "group_concat(description))) FROM products",
]


@pytest.fixture
def traced() -> Iterator[None]:
    """Python's allocations traced (every thread's: the query runs in aiosqlite's)."""
    tracemalloc.start()
    yield
    tracemalloc.stop()


@pytest.mark.parametrize("sql", HUGE)
async def test_a_huge_replace_is_refused_before_it_is_built(sql: str, catalog_db: Path,
                                                            traced: None) -> None:
    reader = await CatalogReader.open(catalog_db)
    try:
        tracemalloc.reset_peak()
        with pytest.raises(QueryError) as refused:
            await reader.run(sql)
        grown = tracemalloc.get_traced_memory()[1] / 2 ** 20
    finally:
        await reader.close()

    assert refused.value.reason == "string or blob too big"
    assert grown < 20, f"the refused query took {grown:.0f} MB"

