"""A corner shop's customer who asks "¿tienen X?" after another question, and "el X más barato"
where some names only mention X ("Atún A1 en aceite").

The catalog is a bodega's CSV as its owner exported it (";" separated, "S/ 4,20" prices, some
Stock cells left empty), with three rows added that mention "leche" or "chocolate" only as
what they come with.
It is imported with the real importer and asked in basic mode, as the bot does. A "¿tienen X?"
naming a brand or product of its own is a new question: the pack size, litres, order and count
asked of the products before are not carried into it, and the answer does not open with "No"
for products the shop has. A superlative about a word is about the products it names, not the
ones it only describes ("en aceite", "con leche"); a list shows those last.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.core.reply import Reply
from tests.test_store_chat import ask, imported, query

BODEGA = """\
Código;Producto;Marca;Categoría;Presentación;Precio;Stock
B001;Leche evaporada Gloria azul;Gloria;Lácteos;400 g;S/ 4,20;48
B002;Leche evaporada Gloria light;Gloria;Lácteos;400 g;S/ 4,50;20
B003;Leche evaporada Ideal Amanecer;Ideal;Lácteos;400 g;S/ 3,50;
B004;Leche fresca Laive entera 1 L;Laive;Lácteos;1 L;S/ 5,90;12
B007;Arroz Costeño extra 5 kg;Costeño;Abarrotes;5 kg;S/ 24,90;15
B008;Arroz Paisana 1 kg;Paisana;Abarrotes;1 kg;S/ 4,80;30
B009;Arroz Costeño 750 g;Costeño;Abarrotes;750 g;S/ 3,90;
B012;Aceite Primor 1 L;Primor;Abarrotes;1 L;S/ 11,50;18
B013;Aceite Cocinero 900 ml;Cocinero;Abarrotes;900 ml;S/ 9,80;
B014;Aceite Primor 500 ml;Primor;Abarrotes;500 ml;S/ 6,40;9
B017;Atún Florida trozos 140 g;Florida;Conservas;140 g;S/ 6,50;35
B018;Atún A1 en aceite 170 g;A1;Conservas;170 g;S/ 5,20;
B020;Gaseosa Inca Kola 500 ml;Inca Kola;Bebidas;500 ml;S/ 2,50;60
B021;Gaseosa Inca Kola 1,5 L;Inca Kola;Bebidas;1,5 L;S/ 6,50;24
B022;Gaseosa Coca-Cola 3 L;Coca-Cola;Bebidas;3 L;S/ 12,90;8
B023;Gaseosa Coca-Cola 500 ml;Coca-Cola;Bebidas;500 ml;S/ 2,80;50
B024;Agua San Luis sin gas 625 ml;San Luis;Bebidas;625 ml;S/ 1,50;80
B025;Agua Cielo 2,5 L;Cielo;Bebidas;2,5 L;S/ 3,00;
B026;Cerveza Pilsen Callao six pack;Pilsen;Bebidas;6 x 355 ml;S/ 27,00;10
B027;Cerveza Cusqueña dorada 620 ml;Cusqueña;Bebidas;620 ml;S/ 7,50;24
B029;Galletas Soda Field x 6 unid.;Field;Snacks;6 unid.;S/ 3,20;45
B030;Galletas Casino menta x 6 unid.;Casino;Snacks;6 unid.;S/ 3,60;
B032;Chocolate Sublime clásico;Nestlé;Snacks;30 g;S/ 1,80;100
B060;Galletas Field con leche x 6 unid.;Field;Snacks;6 unid.;S/ 1,20;30
B061;Chocolate Sublime con leche;Nestlé;Snacks;30 g;S/ 2,10;40
B062;Galletas Field con chocolate x 6 unid.;Field;Snacks;6 unid.;S/ 1,00;20
"""


@pytest.fixture
def bodega_db(tmp_path: Path) -> Path:
    return imported(tmp_path, "bodega.csv",
                    lambda path: path.write_text(BODEGA, encoding="utf-8"))


def names(reply: Reply) -> list[str]:
    return [row[reply.columns.index("name")] for row in reply.rows]


def ids_of(path: Path, where: str) -> set[int]:
    return {row[0] for row in query(path, f"SELECT id FROM products WHERE {where}")}


def shown_ids(reply: Reply) -> set[int]:
    return {row[reply.columns.index("id")] for row in reply.rows}


# --- "¿tienen X?" after another question: a new question, answered "Sí" ------------------------

@pytest.mark.parametrize(("questions", "where"), [
    # The six pack of Pilsen does not make every Inca Kola a six pack.
    (("tienen six pack de pilsen", "tienen inka kola?"), "marca = 'Inca Kola'"),
    # Litre and a half was asked of Coca-Cola; the six pack is asked of Pilsen.
    (("tienen coca cola de 3 litros?", "y de litro y medio?", "tienen six pack de pilsen"),
     "marca = 'Pilsen'"),
    # ...also when gaseosas were talked about before: a Pilsen six pack is no gaseosa.
    (("la gaseosa más barata y la más cara", "tienen coca cola de 3 litros?",
      "y de litro y medio?", "tienen six pack de pilsen"), "marca = 'Pilsen'"),
    # A weight asked of one brand of rice, then another brand.
    (("tienen arroz costeño de 5 kilos?", "tienen paisana?"), "marca = 'Paisana'"),
])
async def test_a_new_brand_asked_for_is_answered_yes(bodega_db, open_engine, questions, where):
    engine = await open_engine(bodega_db)
    reply = await ask(engine, *questions)
    expected = ids_of(bodega_db, where)
    assert reply.text.startswith("Sí"), reply.text
    assert "No, no tenemos" not in reply.text, reply.text
    assert shown_ids(reply) == expected and reply.meta["total"] == len(expected), reply.text


@pytest.mark.parametrize(("questions", "where"), [
    (("la gaseosa más barata y la más cara", "tienen inka kola?"), "marca = 'Inca Kola'"),
    (("cual es la gaseosa más cara", "tienen inka kola?"), "marca = 'Inca Kola'"),
    (("el arroz más barato", "tienen costeño?"), "marca = 'Costeño'"),
    (("la leche más cara", "¿tienen gloria?"), "marca = 'Gloria'"),
])
async def test_a_new_question_shows_all_it_found_not_the_order_of_before(
        bodega_db, open_engine, questions, where):
    engine = await open_engine(bodega_db)
    reply = await ask(engine, *questions)
    expected = ids_of(bodega_db, where)
    assert not reply.text.startswith("No"), reply.text
    assert shown_ids(reply) == expected and reply.meta["total"] == len(expected), reply.text
    assert "mayor precio es" not in reply.text and "menor precio es" not in reply.text


# --- "el aceite más barato": the products the word names, not the ones it describes ---------

@pytest.mark.parametrize(("question", "sql"), [
    ("cuál es el aceite más barato?",
     "SELECT producto FROM products WHERE producto LIKE 'Aceite%' ORDER BY precio LIMIT 1"),
    ("cuál es la leche más barata?",
     "SELECT producto FROM products WHERE producto LIKE 'Leche%' ORDER BY precio LIMIT 1"),
    ("el chocolate más barato", "SELECT producto FROM products WHERE producto LIKE 'Chocolate%'"
                                " ORDER BY precio LIMIT 1"),
])
async def test_a_superlative_is_about_the_products_the_word_names(bodega_db, open_engine,
                                                                  question, sql):
    engine = await open_engine(bodega_db)
    reply = await ask(engine, question)
    assert names(reply) == [query(bodega_db, sql)[0][0]], reply.text
    assert " en aceite" not in reply.text and " con leche" not in reply.text, reply.text


async def test_the_cheapest_oil_counts_only_oils(bodega_db, open_engine):
    engine = await open_engine(bodega_db)
    reply = await ask(engine, "cuál es el aceite más barato?")
    assert reply.meta["total"] == query(
        bodega_db, "SELECT count(*) FROM products WHERE producto LIKE 'Aceite%'")[0][0], reply.text
    more = await ask(engine, "cuál es el aceite más barato?", "más")
    assert all(name.startswith("Aceite") for name in names(more)), more.text


@pytest.mark.parametrize(("question", "word", "described"), [
    ("tienen aceite?", "Aceite", "Atún A1 en aceite 170 g"),
    ("tienen leche?", "Leche", "Galletas Field con leche x 6 unid."),
])
async def test_a_list_shows_the_products_named_before_the_ones_described(
        bodega_db, open_engine, question, word, described):
    engine = await open_engine(bodega_db)
    reply = await ask(engine, question)
    listed = names(reply)
    named = [n for n in listed if n.startswith(word)]
    assert named and listed[:len(named)] == named, reply.text
    assert not reply.text.startswith("No"), reply.text
    if described in listed:
        assert listed.index(described) >= len(named), reply.text
