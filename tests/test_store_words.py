"""A customer's word is read as written when it is Spanish or the store's own.

Basic mode corrects one-letter typos; it must never turn a plain Spanish word into a shop word
("medicinas para el dolor" is not about colours, "¿tienen pollos?" in a clothing store is not
about polos), nor correct anything into a word that asks about a column the store lacks ("marcos
de fotos" where nothing has a brand). Expected rows come from the test's own SQL.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import openpyxl
import pytest

from bot.catalog.importer import import_catalog
from bot.core.basic_parse import Vocabulary
from tests.test_stores import PHARMACY


def query(path: Path, sql: str) -> list[tuple[Any, ...]]:
    with sqlite3.connect(path) as conn:
        return conn.execute(sql).fetchall()


def names(reply: Any) -> list[str]:
    index = reply.columns.index("name")
    return [row[index] for row in reply.rows]


def import_csv(tmp_path: Path, name: str, text: str) -> Path:
    source = tmp_path / f"{name}.csv"
    source.write_text(text, encoding="utf-8")
    output = tmp_path / f"{name}.db"
    import_catalog(source, output, tmp_path / f"{name}.toml", show_progress=False)
    return output


@pytest.fixture
def pharmacy_db(tmp_path: Path) -> Path:
    book = openpyxl.Workbook()
    for row in PHARMACY:
        book.active.append(row)
    book.save(tmp_path / "farmacia.xlsx")
    output = tmp_path / "farmacia.db"
    import_catalog(tmp_path / "farmacia.xlsx", output, tmp_path / "farmacia.toml",
                   show_progress=False)
    return output


# A clothing store that records neither colours nor sizes.
PLAIN_CLOTHES = """\
Producto;Tipo;Precio
Polo básico algodón;Polos;29,90
Polo estampado;Polos;35,00
Casaca de cuero;Casacas;249,00
Chompa de alpaca;Chompas;159,00
"""

# A stationery store without brands, selling no picture frames.
STATIONERY = """\
Producto;Categoría;Precio
Cuaderno cuadriculado A4;Cuadernos;6,50
Lapicero azul;Escritura;1,20
Plumones de colores x12;Arte;14,90
Papel bond A4 x500;Papel;22,00
"""


@pytest.mark.parametrize("question, word", [
    ("medicinas para el dolor", "dolor"),
    ("¿tienen algo para el dolor?", "dolor"),
])
async def test_a_pharmacy_reads_dolor_as_dolor(pharmacy_db, open_engine, question, word):
    engine = await open_engine(pharmacy_db)
    reply = await engine.answer(question, [])
    assert reply.meta.get("intent") != "no_data" and "color" not in reply.text, reply.text
    assert f"«{word}»" in reply.text


async def test_heat_is_not_a_colour_where_no_colour_is_recorded(tmp_path, open_engine):
    path = import_csv(tmp_path, "ropa", PLAIN_CLOTHES)
    engine = await open_engine(path)
    reply = await engine.answer("polos para el calor", [])
    assert reply.meta.get("intent") != "no_data" and "colores" not in reply.text, reply.text
    assert sorted(names(reply)) == sorted(n for (n,) in query(
        path, "SELECT producto FROM products WHERE tipo = 'Polos'"))
    assert "«calor»" in reply.text


@pytest.mark.parametrize("question", ["¿tienen pollos?", "pollos baratos"])
async def test_a_spanish_word_is_not_corrected_into_a_store_value(tmp_path, open_engine,
                                                                  question):
    path = import_csv(tmp_path, "ropa", PLAIN_CLOTHES)
    assert query(path, "SELECT count(*) FROM products WHERE producto LIKE '%pollo%'") == [(0,)]
    engine = await open_engine(path)
    reply = await engine.answer(question, [])
    assert reply.rows == [] or "name" not in reply.columns, reply.text
    assert "«pollos»" in reply.text


@pytest.mark.parametrize("question", ["¿tienen marcos?", "marcos de fotos"])
async def test_frames_are_not_brands_where_no_brand_is_recorded(tmp_path, open_engine, question):
    path = import_csv(tmp_path, "libreria", STATIONERY)
    engine = await open_engine(path)
    reply = await engine.answer(question, [])
    assert reply.meta.get("intent") != "no_data" and "marcas" not in reply.text, reply.text
    assert "marcos" in reply.text


def test_no_typo_is_corrected_into_a_column_the_store_lacks():
    values = {"families": [], "categories": ["Analgésicos"], "brands": ["Genfar"], "colors": [],
              "availability": []}
    everything = Vocabulary.build(**values)
    assert everything.correct("colr") == "color"
    pharmacy = Vocabulary.build(**values, roles=("id", "name", "price", "category", "brand"))
    assert pharmacy.correct("colr") is None
    assert pharmacy.correct("marcs") == "marca"  # the pharmacy has brands (laboratories)
    shelf = Vocabulary.build(**values, roles=("id", "name", "price", "category"))
    assert shelf.correct("marcs") is None


async def test_typos_of_the_stores_own_words_are_still_corrected(pharmacy_db, open_engine):
    engine = await open_engine(pharmacy_db)
    reply = await engine.answer("paracetmol", [])
    assert sorted(names(reply)) == sorted(n for (n,) in query(
        pharmacy_db, "SELECT medicamento FROM products WHERE medicamento LIKE 'Paracetamol%'"))


async def test_a_doctor_is_not_a_medicine_in_a_pharmacy(pharmacy_db, open_engine):
    # "médico" looks like "medicamento" (the pharmacy's word for its products) but is no
    # product: it stays off-topic, while "medicina" means the pharmacy's products.
    engine = await open_engine(pharmacy_db)
    reply = await engine.answer("¿me recomiendas un médico?", [])
    assert reply.refused and reply.meta.get("intent") == "offtopic", reply.text
    reply = await engine.answer("medicinas baratas", [])
    ((count,),) = query(pharmacy_db, "SELECT count(*) FROM products")
    assert reply.meta["total"] == count


async def test_sizes_where_no_size_is_recorded(tmp_path, open_engine):
    # "tallas" is the plural of "talla", not "talla S"; this store records no sizes.
    path = import_csv(tmp_path, "ropa", PLAIN_CLOTHES)
    engine = await open_engine(path)
    reply = await engine.answer("¿qué tallas tienen?", [])
    assert reply.refused and reply.text == ("No tengo ese dato: el catálogo de la tienda no "
                                            "registra tallas ni presentaciones.")
