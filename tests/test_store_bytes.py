"""A store's own SQLite file whose TEXT holds bytes that are not UTF-8.

SQLite keeps whatever bytes a store's program wrote as TEXT (a Latin-1 "Ñ", a cut multi-byte
character). Read the default way, the first such value raised, and every question touching
that row failed; basic mode could not even find the catalog's columns. The value now reads
with "�" in place of the bad bytes, and everything else as stored. (A search through the
accent-blind ``fold()`` still fails on such a row: Python hands SQL functions their text
arguments decoded strictly, before any of KRATOS's code runs.)
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

from bot.catalog.reader import CatalogReader
from bot.catalog.roles import find_roles
from bot.core.assistant import answer
from bot.core.context import build_context
from bot.core.evaluation import catalog_facts
from bot.core.reply import Conversation

LATIN1_NAME = "Pañal Talla G".encode("latin-1")  # b"Pa\xf1al Talla G": not UTF-8


def _store(path: Path) -> Path:
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE productos (id INTEGER PRIMARY KEY, nombre TEXT, "
                     "marca TEXT, precio REAL, stock INTEGER)")
        conn.executemany("INSERT INTO productos (nombre, marca, precio, stock) "
                         "VALUES (?, ?, ?, ?)",
                         [("Jarabe para la tos", "Vick", 18.5, 10),
                          ("Paracetamol 500 mg", "Genfar", 4.2, 50),
                          ("Alcohol 96° 250 ml", "Portugal", 6.9, 0)])
        conn.execute("INSERT INTO productos (nombre, marca, precio, stock) "
                     "VALUES (CAST(? AS TEXT), 'Huggies', 49.9, 3)", (LATIN1_NAME,))
    return path


async def test_the_reader_reads_the_row_with_a_replacement_character(tmp_path: Path) -> None:
    reader = await CatalogReader.open(_store(tmp_path / "botica.db"))
    try:
        result = await reader.run("SELECT nombre, precio FROM productos ORDER BY precio DESC")
    finally:
        await reader.close()
    assert result.rows[0] == ("Pa\ufffdal Talla G", 49.9)
    assert [row[0] for row in result.rows[1:]] == ["Jarabe para la tos", "Alcohol 96° 250 ml",
                                                   "Paracetamol 500 mg"]


def test_roles_and_facts_are_found_despite_the_row(tmp_path: Path) -> None:
    path = _store(tmp_path / "botica.db")
    roles = find_roles(path)
    assert roles is not None
    assert (roles.column("name"), roles.column("price")) == ("nombre", "precio")
    assert "pa\ufffdal talla g" in catalog_facts(path, roles).names


async def test_basic_mode_answers_on_such_a_catalog(make_settings, tmp_path: Path) -> None:
    path = _store(tmp_path / "botica.db")
    app = await build_context(make_settings(CATALOG_DB=str(path)))
    try:
        dearest = await answer(app, Conversation.private(31), "cual es el producto mas caro")
        cheapest = await answer(app, Conversation.private(32), "lo mas barato q tengas")
    finally:
        await app.close()
    assert not dearest.failed and "Pa\ufffdal Talla G" in dearest.text
    assert "49.90" in dearest.text
    assert not cheapest.failed and "Paracetamol 500 mg" in cheapest.text
    assert "4.20" in cheapest.text
