"""A bodega owner's own catalog in basic mode: unknown words beside a clear question, stock
nobody wrote down, the wording of an order carried from before, /help, and "el segundo" after
"más".

The catalog is the owner's CSV as exported (";" separated, "S/ 4,20" prices, 12 Stock cells
left empty, two at 0, a price "consultar" and a row with only a name), imported with the real
importer into a temporary SQLite file and asked through ``BasicEngine.answer`` as the bot does.
Every expected answer is computed here with plain SQL on the imported file.
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
B005;Yogurt Gloria fresa 1 kg;Gloria;Lácteos;1 kg;S/ 7,80;0
B006;Mantequilla Laive con sal;Laive;Lácteos;200 g;S/ 9,90;6
B007;Arroz Costeño extra 5 kg;Costeño;Abarrotes;5 kg;S/ 24,90;15
B008;Arroz Paisana 1 kg;Paisana;Abarrotes;1 kg;S/ 4,80;30
B009;Arroz Costeño 750 g;Costeño;Abarrotes;750 g;S/ 3,90;
B010;Azúcar rubia Cartavio 1 kg;Cartavio;Abarrotes;1 kg;S/ 4,30;25
B011;Azúcar blanca Casa Grande 1 kg;Casa Grande;Abarrotes;1 kg;S/ 4,90;10
B012;Aceite Primor 1 L;Primor;Abarrotes;1 L;S/ 11,50;18
B013;Aceite Cocinero 900 ml;Cocinero;Abarrotes;900 ml;S/ 9,80;
B014;Aceite Primor 500 ml;Primor;Abarrotes;500 ml;S/ 6,40;9
B015;Fideos spaghetti Don Vittorio 1 kg;Don Vittorio;Abarrotes;1 kg;S/ 6,20;22
B016;Fideos tallarín Molitalia 500 g;Molitalia;Abarrotes;500 g;S/ 3,10;40
B017;Atún Florida trozos 140 g;Florida;Conservas;140 g;S/ 6,50;35
B018;Atún A1 en aceite 170 g;A1;Conservas;170 g;S/ 5,20;
B019;Sardinas Fanny en salsa de tomate;Fanny;Conservas;425 g;S/ 5,90;14
B020;Gaseosa Inca Kola 500 ml;Inca Kola;Bebidas;500 ml;S/ 2,50;60
B021;Gaseosa Inca Kola 1,5 L;Inca Kola;Bebidas;1,5 L;S/ 6,50;24
B022;Gaseosa Coca-Cola 3 L;Coca-Cola;Bebidas;3 L;S/ 12,90;8
B023;Gaseosa Coca-Cola 500 ml;Coca-Cola;Bebidas;500 ml;S/ 2,80;50
B024;Agua San Luis sin gas 625 ml;San Luis;Bebidas;625 ml;S/ 1,50;80
B025;Agua Cielo 2,5 L;Cielo;Bebidas;2,5 L;S/ 3,00;
B026;Cerveza Pilsen Callao six pack;Pilsen;Bebidas;6 x 355 ml;S/ 27,00;10
B027;Cerveza Cusqueña dorada 620 ml;Cusqueña;Bebidas;620 ml;S/ 7,50;24
B028;"Jugo Frugos ""Durazno"" 1 L";Frugos;Bebidas;1 L;S/ 4,90;16
B029;Galletas Soda Field x 6 unid.;Field;Snacks;6 unid.;S/ 3,20;45
B030;Galletas Casino menta x 6 unid.;Casino;Snacks;6 unid.;S/ 3,60;
B031;Papas Lay's clásicas 150 g;Lay's;Snacks;150 g;S/ 8,50;11
B032;Chocolate Sublime clásico;Nestlé;Snacks;30 g;S/ 1,80;100
B033;Caramelos Halls menta x 12 unid.;Halls;Snacks;12 unid.;S/ 2,00;33
B034;Detergente Bolívar 2,6 kg;Bolívar;Limpieza;2,6 kg;S/ 29,90;5
B035;Detergente Ariel 800 g;Ariel;Limpieza;800 g;S/ 12,40;
B036;Lejía Clorox 1 L;Clorox;Limpieza;1 L;S/ 4,60;20
B037;Papel higiénico Elite doble hoja x 12 unid.;Elite;Limpieza;12 unid.;S/ 19,90;7
B038;Jabón Bolívar barra;Bolívar;Limpieza;190 g;S/ 3,30;
B039;Lavavajilla Ayudín limón/toronja 900 g;Ayudín;Limpieza;900 g;S/ 7,90;9
B040;Shampoo H&S 375 ml;Head & Shoulders;Cuidado personal;375 ml;S/ 18,50;4
B041;Pasta dental Colgate triple acción 75 ml;Colgate;Cuidado personal;75 ml;S/ 4,90;
B042;Jabón Protex avena x 3 unid.;Protex;Cuidado personal;3 unid.;S/ 8,90;12
B043;Pañales Huggies etapa 3 x 50 unid.;Huggies;Cuidado personal;50 unid.;1.299,00;2
B044;Huevos pardos x 15 unid.;La Calera;Frescos;15 unid.;S/ 9,50;20
B045;Pan de molde Bimbo blanco;Bimbo;Panadería;560 g;S/ 8,20;
B046;Café Altomayo instantáneo 190 g;Altomayo;Abarrotes;190 g;S/ 16,90;8
B047;Café Nescafé Kirma 50 g;Nestlé;Abarrotes;50 g;S/ 6,80;15
B048;Avena Quaker 900 g;Quaker;Abarrotes;900 g;S/ 9,50;0
B049;Mayonesa Alacena 400 g;Alacena;Abarrotes;400 g;S/ 9,20;10
B050;Ketchup Alacena 100 g;Alacena;Abarrotes;100 g;S/ 2,70;
B051;Sal de mesa Emsal 1 kg;Emsal;Abarrotes;1 kg;S/ 1,80;30
B052;"Vela ""misionera"" x 6";Misionera;Hogar;6 unid.;S/ 3,00;25
B053;Pilas Duracell AA x 2 unid.;Duracell;Hogar;2 unid.;S/ 7,50;
B054;Fósforos Inti x 10 cajitas;Inti;Hogar;10 unid.;consultar;
B055;Cigarros;;;;;
"""


@pytest.fixture
def bodega_db(tmp_path: Path) -> Path:
    return imported(tmp_path, "bodega.csv",
                    lambda path: path.write_text(BODEGA, encoding="utf-8"))


def ids(reply: Reply) -> list[int]:
    return [row[reply.columns.index("id")] for row in reply.rows] if reply.rows else []


def ids_of(path: Path, sql: str) -> list[int]:
    return [row[0] for row in query(path, sql)]


def count(path: Path, where: str) -> int:
    return int(query(path, f"SELECT count(*) FROM products WHERE {where}")[0][0])


def first_line(reply: Reply) -> str:
    return reply.text.splitlines()[0]


# --- 1. One unknown word beside a clear question ---------------------------------------------

#: The sold products, cheapest first, as basic mode orders them (a price "consultar" is no row).
BY_PRICE = "SELECT id FROM products WHERE precio IS NOT NULL ORDER BY precio, id"
BY_PRICE_DESC = "SELECT id FROM products WHERE precio IS NOT NULL ORDER BY precio DESC, id"


@pytest.mark.parametrize(("question", "sql", "shown", "word", "unclear"), [
    ("5 productos baratos pa la lonchera", BY_PRICE, 5, "lonchera", "productos pa la lonchera"),
    ("el más barato pa la lonchera", BY_PRICE, 1, "lonchera", "tienen quinua?"),
    ("el más caro pa mi suegra", BY_PRICE_DESC, 1, "suegra", "quinua barata"),
    ("3 productos caros pa mi suegra", BY_PRICE_DESC, 3, "suegra", "algo pa la lonchera"),
    ("algo de menos de 5 soles pa la lonchera",
     "SELECT id FROM products WHERE precio < 5 ORDER BY precio, id", 5, "lonchera",
     "me prestas 50 soles?"),
])
async def test_a_clear_question_is_answered_and_its_unknown_word_noted(
        bodega_db, open_engine, question, sql, shown, word, unclear):
    """An order, or any product with a count or a price, is a question whole without the word
    basic mode does not know: answered (exit 0 in `kratos ask`), the word quoted after. A
    message with nothing of the catalog but that word is still refused, with no products."""
    engine = await open_engine(bodega_db)
    reply = await ask(engine, question)
    expected = ids_of(bodega_db, sql)
    assert not reply.refused, reply.text
    assert ids(reply) == expected[:shown] and reply.meta["total"] == len(expected), reply.text
    assert f"No reconocí: «{word}»." in reply.text, reply.text
    refused = await ask(engine, unclear)
    assert refused.refused and not refused.rows, refused.text
    assert refused.text.startswith("No entendí"), refused.text


@pytest.mark.parametrize(("question", "where"), [
    ("pa lavar ropa q tienen", "producto LIKE 'Detergente%'"),
    ("algo pa lavar platos", "producto LIKE 'Lavavajilla%'"),
])
async def test_a_use_finds_what_the_bodega_sells_for_it(bodega_db, open_engine, question, where):
    engine = await open_engine(bodega_db)
    reply = await ask(engine, question)
    assert not reply.refused and "No reconocí" not in reply.text, reply.text
    assert sorted(ids(reply)) == sorted(ids_of(bodega_db, f"SELECT id FROM products WHERE"
                                                          f" {where}")), reply.text


# --- 2. Stock nobody wrote down is unknown, never available nor sold out -----------------------

@pytest.mark.parametrize(("question", "where"), [
    ("tienen leche?", "producto LIKE 'Leche%'"),
    ("tienen lácteos?", "categoria = 'Lácteos'"),
    ("tienen arroz?", "producto LIKE 'Arroz%'"),
])
async def test_a_yes_counts_apart_the_products_of_unknown_stock(bodega_db, open_engine,
                                                                 question, where):
    engine = await open_engine(bodega_db)
    head = first_line(await ask(engine, question))
    available = count(bodega_db, f"{where} AND stock > 0")
    sold_out = count(bodega_db, f"{where} AND stock = 0")
    unknown = count(bodega_db, f"{where} AND stock IS NULL")
    assert unknown and head.startswith(f"Sí, hay {available} disponible"), head
    assert f"de {unknown} no tengo el stock anotado" in head, head
    assert (f"{sold_out} está agotado" in head) == (sold_out == 1), head


@pytest.mark.parametrize(("question", "where"), [
    ("tienen pan?", "producto LIKE 'Pan %'"),
    ("hay pilas?", "producto LIKE 'Pilas%'"),
])
async def test_a_product_of_unknown_stock_is_said_unknown(bodega_db, open_engine, question,
                                                          where):
    engine = await open_engine(bodega_db)
    reply = await ask(engine, question)
    assert ids(reply) == ids_of(bodega_db, f"SELECT id FROM products WHERE {where}"), reply.text
    assert first_line(reply).startswith("Sí, lo tenemos, pero no tengo anotado su stock")
    line = reply.text.splitlines()[1]
    assert line.endswith("· consultar disponibilidad") and "agotado" not in line, reply.text
    picked = await ask(engine, question, "el primero")
    assert "no tengo anotado su stock" in picked.text and " y está " not in picked.text, \
        picked.text


@pytest.mark.parametrize(("question", "state"), [
    ("¿Cuántos productos hay disponibles?", "stock > 0"),
    ("cuántos productos están agotados?", "stock = 0"),
])
async def test_a_count_of_a_state_says_how_many_are_not_recorded(bodega_db, open_engine,
                                                                 question, state):
    engine = await open_engine(bodega_db)
    reply = await ask(engine, question)
    n = count(bodega_db, f"precio IS NOT NULL AND {state}")
    unknown = count(bodega_db, "precio IS NOT NULL AND stock IS NULL")
    assert reply.text.startswith(f"Hay {n} productos"), reply.text
    assert f"De {unknown} productos más no tengo el stock anotado" in reply.text, reply.text


@pytest.mark.parametrize("question", ["hay stock de pan bimbo?", "hay stock de ketchup?"])
async def test_stock_asked_of_a_product_of_unknown_stock_is_no_no(bodega_db, open_engine,
                                                                  question):
    engine = await open_engine(bodega_db)
    reply = await ask(engine, question)
    assert not reply.text.startswith("No hay stock"), reply.text
    assert first_line(reply).startswith("No tengo stock anotado de productos"), reply.text
    assert len(reply.rows) == 1 and "consultar disponibilidad" in reply.text, reply.text


async def test_a_catalog_without_stock_says_only_the_price(tmp_path, open_engine):
    """No stock column at all: no availability is claimed or promised ("y está ." was left)."""
    db = imported(tmp_path, "precios.csv", lambda path: path.write_text(
        "Producto;Precio\nArroz Costeño 750 g;3,90\nArroz Paisana 1 kg;4,80\n", encoding="utf-8"))
    engine = await open_engine(db)
    reply = await ask(engine, "arroz", "el primero")
    assert reply.text == "Arroz Costeño 750 g cuesta S/ 3.90.", reply.text
    listed = await ask(engine, "arroz")
    assert "disponib" not in listed.text and "agotado" not in listed.text, listed.text


# --- 3. The opening sentence describes the question asked now --------------------------------

@pytest.mark.parametrize(("questions", "where", "stale"), [
    (("q gaseosas tienen", "y la mas grande?", "cuanto cuesta la inca kola de 500?"),
     "marca = 'Inca Kola' AND producto LIKE '%500 ml'", "tamaño"),
    (("q gaseosas tienen", "y la mas grande?", "cuanto cuesta la inca kola de 500?",
      "otra marca"), "marca <> 'Inca Kola' AND producto LIKE 'Gaseosa%500 ml'", "tamaño"),
    (("q gaseosas tienen", "y la mas grande?", "cuanto cuesta la coca cola?"),
     "marca = 'Coca-Cola'", "tamaño"),
    (("la gaseosa más cara", "precio de la inca kola"), "marca = 'Inca Kola'", "precio es"),
])
async def test_a_plain_lookup_after_an_order_is_not_worded_as_that_order(
        bodega_db, open_engine, questions, where, stale):
    engine = await open_engine(bodega_db)
    reply = await ask(engine, *questions)
    expected = ids_of(bodega_db, f"SELECT id FROM products WHERE {where} ORDER BY precio, id")
    assert ids(reply) == expected and reply.meta["total"] == len(expected), reply.text
    assert "El de mayor" not in reply.text and stale not in first_line(reply).split(")")[-1], \
        reply.text
    assert first_line(reply).endswith(":"), reply.text


async def test_an_order_kept_is_said_when_it_chose(bodega_db, open_engine):
    """"otra marca" after "la más grande" keeps the order: said when it left products out,
    not when the one found is all there is."""
    engine = await open_engine(bodega_db)
    kept = await ask(engine, "q gaseosas tienen", "y la mas grande?", "otra marca")
    assert "El de mayor tamaño es:" in first_line(kept) and kept.meta["total"] == 2, kept.text
    alone = await ask(engine, "q gaseosas tienen", "y la mas grande?",
                      "cuanto cuesta la inca kola de 500?", "otra marca")
    assert "El de mayor tamaño" not in alone.text and alone.meta["total"] == 1, alone.text


# --- 4. /help says what this catalog really has -----------------------------------------------

async def test_help_lists_only_the_roles_of_this_catalog(bodega_db, tmp_path, open_engine):
    engine = await open_engine(bodega_db)
    for question in ("/help", "cuál es el más vendido?"):
        reply = await ask(engine, question)
        assert "tipo, marca, presentación, precio y stock" in reply.text, reply.text
        assert "color" not in reply.text, reply.text
    bare = imported(tmp_path / "bare", "precios.csv", lambda path: (
        path.parent.mkdir(), path.write_text("Producto;Precio\nArroz;3,90\n", encoding="utf-8")))
    help_text = (await ask(await open_engine(bare), "/help")).text
    assert "por tipo y precio, contarlos" in help_text, help_text


# --- 5. "el segundo" after "más": the numbers the customer saw --------------------------------

ABARROTES = "SELECT id FROM products WHERE categoria = 'Abarrotes' ORDER BY precio, id"


@pytest.mark.parametrize(("question", "number"), [
    ("el segundo cuánto cuesta?", 2),
    ("el 2", 2),
    ("el 7", 7),
    ("cuánto cuesta el número 9?", 9),
    ("el séptimo", 7),
])
async def test_a_number_picks_the_product_shown_with_it(bodega_db, open_engine, question, number):
    engine = await open_engine(bodega_db)
    reply = await ask(engine, "abarrotes baratos", "más", question)
    assert reply.meta["intent"] == "pick", reply.text
    assert ids(reply) == [ids_of(bodega_db, ABARROTES)[number - 1]], reply.text
    assert "No reconocí" not in reply.text and not reply.text.startswith("Sí:"), reply.text


async def test_the_first_the_last_and_a_number_not_shown(bodega_db, open_engine):
    """After "más", "el primero" is the one shown as "1." and "el último" the last of the page
    shown; a number no list showed stays a size ("la de 500")."""
    engine = await open_engine(bodega_db)
    first = await ask(engine, "abarrotes baratos", "más", "el primero")
    assert ids(first) == [ids_of(bodega_db, ABARROTES)[0]], first.text
    last = await ask(engine, "abarrotes baratos", "más", "el último")
    assert ids(last) == [ids_of(bodega_db, ABARROTES)[9]], last.text
    sized = await ask(engine, "gaseosas", "cuanto cuesta la de 500?")
    assert sorted(ids(sized)) == sorted(ids_of(
        bodega_db, "SELECT id FROM products WHERE producto LIKE 'Gaseosa%500 ml'")), sized.text
