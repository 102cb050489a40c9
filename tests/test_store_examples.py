"""The example questions of /start and /help come from each store's own columns and values,
and each is a question KRATOS answers (basic mode, no model), whatever the store."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.catalog.reader import CatalogReader
from bot.catalog.roles import find_roles
from bot.core.basic import BasicEngine
from bot.core.capabilities import catalog_examples
from tests.test_stores import bookstore_db, hardware_db, pharmacy_db, query  # noqa: F401


async def examples_and_answers(path: Path) -> tuple[list[str], list[str]]:
    roles = find_roles(path, path.with_suffix(".toml"))
    reader = await CatalogReader.open(path)
    try:
        examples = await catalog_examples(reader, "es", roles)
        engine = await BasicEngine.load(reader, roles)
        failed = []
        for example in examples:
            reply = await engine.answer(example, [])
            if reply.refused or reply.failed or not reply.rows:
                failed.append(f"{example} -> {reply.text}")
        return examples, failed
    finally:
        await reader.close()


async def test_demo_store_examples_are_answered(catalog_db: Path) -> None:
    examples, failed = await examples_and_answers(catalog_db)
    assert len(examples) == 3 and failed == []
    assert any(f"¿Tienen algo de {brand}?" in examples
               for brand in most_common(catalog_db, "products", "brand"))


def most_common(path: Path, table: str, column: str) -> list[str]:
    """The values of ``column`` found most often (all of them when several tie)."""
    counts = query(path, f"SELECT {column}, count(*) FROM {table} WHERE {column} IS NOT NULL"
                         f" GROUP BY {column}")
    top = max(n for _, n in counts)
    return [value for value, n in counts if n == top]


@pytest.mark.parametrize(("store", "table", "maker"), [
    ("pharmacy_db", "products", "laboratorio"),
    ("bookstore_db", "libros", "autor"),
    ("hardware_db", "products", "marca"),
])
async def test_a_stores_examples_use_its_own_columns_and_are_answered(
        store: str, table: str, maker: str, request: pytest.FixtureRequest) -> None:
    path = request.getfixturevalue(store)
    examples, failed = await examples_and_answers(path)
    assert failed == []
    assert len(examples) == 3, examples
    assert any(f"¿Tienen algo de {value}?" in examples
               for value in most_common(path, table, maker)), examples
