"""A Lima corner shop and a phone shop, asked what their customers really ask.

The corner shop's CSV is what a point of sale exports (";" separated, Windows encoding, comma
decimals, a "Presentación" column: "Lata 400 g", "Six pack 6x400 g", "Docena", "1.5 L"); the
phone shop's XLSX has a colour column and Sí/No availability. Each is imported with the real
importer and asked in basic mode; every expected answer is computed here with plain SQL on the
imported file. The questions are the shapes that used to get the opposite of what was asked:
exclusions ("que no sea Gloria", "¿y de otra marca?"), what is out of stock, a sold-out product
asked for by name, quantities said in words ("la docena", "litro y medio", "six pack"),
superlatives with "lo" ("lo más caro que venden"), complaints, and SQL-looking messages.
"""

from __future__ import annotations

from pathlib import Path

import openpyxl
import pytest

from bot.core.reply import Reply
from tests.test_store_chat import ask, imported, query

BODEGA = """\
Cod;Producto;Marca;Categoría;Presentación;P. Venta;Stock
B001;Leche Evaporada Gloria Azul;Gloria;Lácteos;Lata 400 g;S/ 4,20;120
B002;Leche Evaporada Gloria Azul;Gloria;Lácteos;Six pack 6x400 g;S/ 24,50;30
B003;Leche Evaporada Light;Gloria;Lácteos;Lata 400 g;S/ 4,40;45
B004;Leche Evaporada Ideal Amanecer;Nestlé;Lácteos;Lata 400 g;S/ 3,80;60
B005;Leche Evaporada Pura Vida;Pura Vida;Lácteos;Lata 400 g;3,50;0
B006;Yogurt Gloria Fresa;Gloria;Lácteos;Botella 1 L;S/ 6,90;25
B007;Yogurt Laive Durazno;Laive;Lácteos;Botella 1 L;S/ 6,50;18
B008;Queso Fresco;;Lácteos;Kg;S/ 18,00;8
B009;Mantequilla Laive con Sal;Laive;Lácteos;Barra 200 g;S/ 8,90;14
B010;Arroz Costeño Extra;Costeño;Abarrotes;Bolsa 750 g;S/ 4,30;80
B011;Arroz Costeño Extra;Costeño;Abarrotes;Saco 5 kg;S/ 24,90;12
B012;Arroz a granel;;Abarrotes;Kg;S/ 3,90;200
B013;Azúcar Rubia;Cartavio;Abarrotes;Bolsa 1 kg;S/ 3,60;70
B014;Azúcar Blanca;Cartavio;Abarrotes;Bolsa 1 kg;S/ 4,10;40
B015;Aceite Primor Premium;Primor;Abarrotes;Botella 900 ml;S/ 9,50;35
B016;Aceite Primor Premium;Primor;Abarrotes;Botella 1 L;S/ 10,90;20
B017;Aceite Cocinero;Cocinero;Abarrotes;Botella 1 L;S/ 8,70;22
B018;Fideos Spaghetti Don Vittorio;Don Vittorio;Abarrotes;Paquete 500 g;S/ 3,20;90
B019;Fideos Tallarín Molitalia;Molitalia;Abarrotes;Paquete 500 g;S/ 2,90;65
B020;Atún Florida en Aceite;Florida;Abarrotes;Lata 170 g;S/ 5,80;50
B021;Atún Campomar Trozos;Campomar;Abarrotes;Lata 170 g;S/ 4,90;0
B022;Sal de Mesa Emsal;Emsal;Abarrotes;Bolsa 1 kg;S/ 1,50;60
B023;Huevos Rosados;;Abarrotes;Docena;S/ 7,50;30
B024;Huevos Rosados;;Abarrotes;Unidad;S/ 0,60;300
B025;Pan Francés;;Panadería;Unidad;S/ 0,20;400
B026;Pan Bimbo Blanco;Bimbo;Panadería;Bolsa 600 g;S/ 8,50;10
B027;Inca Kola;Inca Kola;Bebidas;Botella 500 ml;S/ 2,50;100
B028;Inca Kola;Inca Kola;Bebidas;Botella 1.5 L;S/ 6,50;48
B029;Inca Kola;Inca Kola;Bebidas;Botella 3 L;S/ 11,00;24
B030;Coca Cola;Coca-Cola;Bebidas;Botella 500 ml;S/ 2,50;90
B031;Coca Cola;Coca-Cola;Bebidas;Botella 3 L;S/ 11,50;20
B032;Agua San Luis sin Gas;San Luis;Bebidas;Botella 625 ml;S/ 1,50;150
B033;Agua Cielo;Cielo;Bebidas;Botella 2.5 L;S/ 3,00;40
B034;Cerveza Pilsen Callao;Pilsen;Bebidas;Botella 630 ml;S/ 7,00;72
B035;Cerveza Cusqueña Dorada;Cusqueña;Bebidas;Lata 355 ml;S/ 5,50;48
B036;Cerveza Cristal;Cristal;Bebidas;Six pack lata 355 ml;S/ 24,00;0
B037;Gaseosa Guaraná;Backus;Bebidas;Botella 1 L;S/ 3,50;20
B038;Galletas Soda Field;Field;Golosinas;Paquete x6;S/ 3,00;40
B039;Galletas Casino Menta;Field;Golosinas;Paquete x6;S/ 4,50;35
B040;Chocolate Sublime;Nestlé;Golosinas;Unidad 30 g;S/ 1,80;100
B041;Papas Lay's Clásicas;Lay's;Golosinas;Bolsa 42 g;S/ 2,00;60
B042;Chifles Piuranos;;Golosinas;Bolsa 100 g;S/ 3,50;15
B043;Detergente Bolívar;Bolívar;Limpieza;Bolsa 750 g;S/ 9,90;30
B044;Detergente Ariel;Ariel;Limpieza;Bolsa 750 g;S/ 11,50;25
B045;Lejía Clorox;Clorox;Limpieza;Botella 1 L;S/ 3,80;40
B046;Papel Higiénico Suave;Suave;Limpieza;Paquete 4 rollos;S/ 5,90;50
B047;Jabón Bolívar;Bolívar;Limpieza;Barra 190 g;S/ 3,20;60
B048;Shampoo Head & Shoulders;Head & Shoulders;Cuidado personal;Frasco 375 ml;S/ 18,90;12
B049;Pasta Dental Colgate Triple Acción;Colgate;Cuidado personal;Tubo 75 ml;S/ 4,50;45
B050;Cigarros Hamilton;Hamilton;Otros;Cajetilla x20;S/ 12,00;10
B051;Recarga Claro;Claro;Otros;Virtual;S/ 5,00;999
B052;Ají Amarillo Molido;Sibarita;Abarrotes;Sobre 85 g;S/ 1,20;55
B053;Café Altomayo Instantáneo;Altomayo;Abarrotes;Frasco 50 g;S/ 9,80;16
B054;Filtrante Manzanilla Herbi;Herbi;Abarrotes;Caja x25;S/ 3,30;25
B055;Avena Quaker;Quaker;Abarrotes;Bolsa 900 g;S/ 8,20;20
B056;Mayonesa Alacena;Alacena;Abarrotes;Doypack 190 g;S/ 5,40;30
B057;Ketchup Alacena;Alacena;Abarrotes;Doypack 100 g;S/ 2,60;0
B058;Pollo entero;;Carnes;Kg;S/ 10,50;15
B059;Hot Dog Otto Kunz;Otto Kunz;Embutidos;Paquete 250 g;S/ 7,20;12
B060;Jamonada Laive;Laive;Embutidos;250 g;;5
"""

PHONES = """\
CEL-001;Celular Samsung Galaxy A15 128GB;Samsung;Galaxy A15;Negro;649.0;Sí
CEL-002;Celular Samsung Galaxy A15 128GB;Samsung;Galaxy A15;Azul;649.0;Sí
CEL-003;Celular Samsung Galaxy A25 5G 256GB;Samsung;Galaxy A25;Negro;999.0;Sí
CEL-004;Celular Samsung Galaxy A55 5G 256GB;Samsung;Galaxy A55;Azul;1699.0;No
CEL-005;Celular Samsung Galaxy S24 256GB;Samsung;Galaxy S24;Violeta;3799.0;Sí
CEL-006;Celular Samsung Galaxy S24 Ultra 512GB;Samsung;Galaxy S24 Ultra;Gris;5499.0;Sí
CEL-007;Celular Xiaomi Redmi 13C 128GB;Xiaomi;Redmi 13C;Azul;499.0;Sí
CEL-008;Celular Xiaomi Redmi Note 13 256GB;Xiaomi;Redmi Note 13;Negro;899.0;Sí
CEL-009;Celular Xiaomi Redmi Note 13 Pro 256GB;Xiaomi;Redmi Note 13 Pro;Morado;1299.0;No
CEL-010;Celular Xiaomi Poco X6 Pro 512GB;Xiaomi;Poco X6 Pro;Amarillo;1599.0;Sí
CEL-011;Celular Motorola Moto G24 128GB;Motorola;Moto G24;Celeste;549.0;Sí
CEL-012;Celular Motorola Moto G84 256GB;Motorola;Moto G84;Azul;1099.0;Sí
CEL-013;Celular Motorola Edge 40 Neo 256GB;Motorola;Edge 40 Neo;Negro;1499.0;No
CEL-014;Celular iPhone 13 128GB;Apple;iPhone 13;Blanco;2799.0;Sí
CEL-015;Celular iPhone 15 128GB;Apple;iPhone 15;Negro;3899.0;Sí
CEL-016;Celular iPhone 15 Pro Max 256GB;Apple;iPhone 15 Pro Max;Titanio;6299.0;Sí
CEL-017;Celular Honor X8b 256GB;Honor;X8b;Plateado;899.0;Sí
CEL-018;Celular ZTE Blade A54 64GB;ZTE;Blade A54;Gris;329.0;Sí
AUD-001;Audífonos Bluetooth JBL Tune 520BT;JBL;Tune 520BT;Negro;199.0;Sí
AUD-002;Audífonos Bluetooth JBL Tune 520BT;JBL;Tune 520BT;Azul;199.0;No
AUD-003;Audífonos Samsung Galaxy Buds FE;Samsung;Buds FE;Blanco;349.0;Sí
AUD-004;Audífonos Apple AirPods Pro 2;Apple;AirPods Pro 2;Blanco;1099.0;Sí
AUD-005;Audífonos Xiaomi Redmi Buds 5;Xiaomi;Redmi Buds 5;Negro;149.0;Sí
AUD-006;Audífonos Sony WH-1000XM5;Sony;WH-1000XM5;Negro;1499.0;No
CAR-001;Cargador Samsung 25W USB-C;Samsung;EP-TA800;Blanco;79.0;Sí
CAR-002;Cargador Apple 20W USB-C;Apple;MHJA3;Blanco;119.0;Sí
CAR-003;Cargador Xiaomi 33W;Xiaomi;MDY-11-EZ;Blanco;59.0;Sí
CAB-001;Cable USB-C a USB-C 1m;Genérico;;Negro;15.0;Sí
CAB-002;Cable Lightning 1m;Apple;MUQW3;Blanco;89.0;Sí
ACC-001;Case Silicona iPhone 15;Genérico;;Rojo;25.0;Sí
ACC-002;Case Silicona Galaxy A15;Genérico;;Azul;20.0;Sí
ACC-003;Mica Vidrio Templado Galaxy A15;Genérico;;Transparente;10.0;Sí
ACC-004;Power Bank Xiaomi 10000mAh;Xiaomi;PB100;Negro;89.0;Sí
ACC-005;Smartwatch Xiaomi Redmi Watch 4;Xiaomi;Redmi Watch 4;Negro;399.0;Sí
ACC-006;Smartwatch Samsung Galaxy Watch6 40mm;Samsung;Galaxy Watch6;Rosado;1199.0;No
TAB-001;Tablet Samsung Galaxy Tab A9 64GB;Samsung;Galaxy Tab A9;Gris;599.0;Sí
TAB-002;Tablet iPad 10ma Gen 64GB;Apple;iPad 10;Azul;1999.0;Sí
TAB-003;Tablet Lenovo Tab M10 64GB;Lenovo;Tab M10;Gris;549.0;Sí
PAR-001;Parlante JBL Flip 6;JBL;Flip 6;Azul;499.0;Sí
PAR-002;Parlante JBL Go 3;JBL;Go 3;Rojo;149.0;Sí
"""
PHONE_HEADER = ["SKU", "Descripción", "Marca", "Modelo", "Color", "Precio (S/)",
                "Disponible (Sí/No)"]


def write_phones(path: Path) -> None:
    book = openpyxl.Workbook()
    sheet = book.active
    sheet.append(PHONE_HEADER)
    for line in PHONES.splitlines():
        sku, name, brand, model, color, price, available = line.split(";")
        sheet.append([sku, name, brand, model, color, float(price), available])
    book.save(path)


@pytest.fixture
def bodega_db(tmp_path: Path) -> Path:
    return imported(tmp_path, "bodega.csv",
                    lambda path: path.write_text(BODEGA, encoding="cp1252", newline="\r\n"))


@pytest.fixture
def phones_db(tmp_path: Path) -> Path:
    return imported(tmp_path, "celulares.xlsx", write_phones)


def ids(reply: Reply) -> list[int]:
    index = reply.columns.index("id") if "id" in reply.columns else None
    return [row[index] for row in reply.rows] if index is not None else []


def expected_ids(db: Path, where: str, order: str = "precio, id") -> list[int]:
    price = "precio_s" if "celulares" in db.name else "precio"
    found = [row[0] for row in query(db, f"SELECT id FROM products WHERE {where}"
                                         f" ORDER BY {order.replace('precio', price)}")]
    assert found, "the test's own SQL found nothing"
    return found


def understood(reply: Reply) -> None:
    assert not reply.refused and "No reconocí" not in reply.text, reply.text


def lists(db: Path, reply: Reply, where: str, order: str = "precio, id") -> None:
    """The reply lists the products ``where`` selects (first ones, in price order), counts all
    of them, and never opens with a "no"."""
    understood(reply)
    want = expected_ids(db, where, order)
    got = ids(reply)
    assert got and got == want[:len(got)] and len(got) == min(len(want), 5), reply.text
    assert reply.meta["total"] == len(want), reply.text
    assert not reply.text.startswith("No"), reply.text


# --- 1. Exclusions: "que no sea X", "menos X", "aparte de X", "¿y de otra marca?" ------------

NOT_GLORIA = "producto LIKE '%Leche%' AND marca <> 'Gloria'"


@pytest.mark.parametrize("questions", [
    ("leche que no sea gloria",),
    ("leches que no sean gloria",),
    ("hay leche gloria?", "y de otra marca?"),
    ("hay leche gloria?", "y otras marcas de leche?"),
    ("todas las leches menos gloria",),
    ("aparte de gloria q leche tienes",),
], ids=lambda q: " / ".join(q))
async def test_bodega_leaves_out_the_brand_excluded(bodega_db, open_engine, questions):
    engine = await open_engine(bodega_db)
    lists(bodega_db, await ask(engine, *questions), NOT_GLORIA)


async def test_bodega_leaves_out_a_category_and_keeps_price_bounds(bodega_db, open_engine):
    engine = await open_engine(bodega_db)
    lists(bodega_db, await ask(engine, "bebidas que no sean inca kola"),
          "categoria = 'Bebidas' AND marca <> 'Inca Kola'")
    # "menos de" is still a price bound, "sin gas" still words of a name.
    lists(bodega_db, await ask(engine, "bebidas de menos de 3 soles"),
          "categoria = 'Bebidas' AND precio < 3")
    lists(bodega_db, await ask(engine, "agua sin gas"), "producto LIKE '%sin Gas%'")
    # A word of the names is left out too: "que no sea light", "menos el de fresa".
    lists(bodega_db, await ask(engine, "leche que no sea light"),
          "producto LIKE '%Leche%' AND producto NOT LIKE '%Light%'")
    lists(bodega_db, await ask(engine, "yogurt menos el de fresa"),
          "producto LIKE 'Yogurt%' AND producto NOT LIKE '%Fresa%'")


@pytest.mark.parametrize(("questions", "where"), [
    (("celulares samsung", "y de otra marca?"),
     "descripcion LIKE 'Celular%' AND marca <> 'Samsung'"),
    (("audifonos que no sean jbl",), "descripcion LIKE 'Aud%' AND marca <> 'JBL'"),
    (("celulares que no sean samsung ni xiaomi",),
     "descripcion LIKE 'Celular%' AND marca NOT IN ('Samsung', 'Xiaomi')"),
    (("celulares samsung negros", "y en otro color?"),
     "descripcion LIKE 'Celular%' AND marca = 'Samsung' AND color <> 'Negro'"),

], ids=lambda q: " / ".join(q) if isinstance(q, tuple) else "")
async def test_phones_leave_out_what_is_excluded(phones_db, open_engine, questions, where):
    engine = await open_engine(phones_db)
    lists(phones_db, await ask(engine, *questions), where)


async def test_phones_other_colour_than_the_one_shown(phones_db, open_engine):
    engine = await open_engine(phones_db)
    reply = await ask(engine, "el celular mas barato", "hay de otro color?")
    understood(reply)
    want = expected_ids(phones_db, "descripcion LIKE 'Celular%' AND color <> (SELECT color FROM"
                                   " products WHERE descripcion LIKE 'Celular%'"
                                   " ORDER BY precio_s LIMIT 1)")
    assert ids(reply) == want[:1], reply.text


# --- 2. What is out of stock -------------------------------------------------------------------

@pytest.mark.parametrize(("question", "where"), [
    ("q productos no tienen stock", "stock = 0"),
    ("cuales no hay", "stock = 0"),
    ("q productos no hay", "stock = 0"),
    ("que productos estan agotados", "stock = 0"),
    ("que bebidas no tienen stock", "categoria = 'Bebidas' AND stock = 0"),
])
async def test_bodega_lists_what_is_out_of_stock(bodega_db, open_engine, question, where):
    engine = await open_engine(bodega_db)
    reply = await ask(engine, question)
    lists(bodega_db, reply, where)
    assert "hay stock" not in reply.text, reply.text


async def test_phones_list_what_is_not_available(phones_db, open_engine):
    engine = await open_engine(phones_db)
    lists(phones_db, await ask(engine, "que celulares no estan disponibles"),
          "descripcion LIKE 'Celular%' AND disponible_si_no = 'No'")


# --- 6. "¿Hay X?" when X is sold out ---------------------------------------------------------

@pytest.mark.parametrize("question", ["hay ketchup?", "tienen cerveza cristal?"])
async def test_bodega_says_a_sold_out_product_is_sold_out(bodega_db, open_engine, question):
    engine = await open_engine(bodega_db)
    reply = await ask(engine, question)
    understood(reply)
    head = reply.text.splitlines()[0]
    assert not head.startswith("Sí") and "agotad" in head, reply.text
    assert ids(reply) and all(
        query(bodega_db, f"SELECT stock FROM products WHERE id = {i}")[0][0] == 0
        for i in ids(reply)), reply.text


async def test_bodega_says_which_are_available_when_some_are(bodega_db, open_engine):
    engine = await open_engine(bodega_db)
    reply = await ask(engine, "hay atun?")
    understood(reply)
    counts = query(bodega_db, "SELECT sum(stock > 0), sum(stock = 0) FROM products"
                              " WHERE producto LIKE 'At%'")[0]
    head = reply.text.splitlines()[0]
    assert head.startswith(f"Sí, hay {counts[0]} disponible"), reply.text
    assert f"{counts[1]} está agotado" in head, reply.text


async def test_phones_say_a_sold_out_brand_is_sold_out(phones_db, open_engine):
    engine = await open_engine(phones_db)
    reply = await ask(engine, "tienen sony?")
    head = reply.text.splitlines()[0]
    assert not head.startswith("Sí") and "agotad" in head, reply.text


# --- 4. Quantities said in words match the store's presentations --------------------------

@pytest.mark.parametrize(("question", "where"), [
    ("tienes leche gloria en six pack?", "presentacion LIKE 'Six pack%' AND marca = 'Gloria'"),
    ("a cuanto el six pack de cristal", "presentacion LIKE 'Six pack%' AND marca = 'Cristal'"),
    ("tienen huevos? a cuanto la docena", "producto LIKE 'Huevos%' AND presentacion = 'Docena'"),
    ("inca kola de 1 litro y medio", "marca = 'Inca Kola' AND presentacion LIKE '%1.5 L'"),
    ("fideos de medio kilo", "producto LIKE 'Fideos%' AND presentacion LIKE '%500 g'"),
])
async def test_bodega_reads_quantities_in_words(bodega_db, open_engine, question, where):
    engine = await open_engine(bodega_db)
    lists(bodega_db, await ask(engine, question), where)


# --- 3. Superlatives with "lo": "lo más caro que venden" -------------------------------------

@pytest.mark.parametrize(("question", "order"), [
    ("lo mas caro que venden", "precio DESC, id"),
    ("cual es lo mas caro q venden", "precio DESC, id"),
    ("lo más barato que tienen", "precio, id"),
    ("lo mas caro que hay", "precio DESC, id"),
])
async def test_bodega_reads_superlatives_with_lo(bodega_db, open_engine, question, order):
    engine = await open_engine(bodega_db)
    reply = await ask(engine, question)
    understood(reply)
    assert ids(reply) == expected_ids(bodega_db, "1", order)[:1], reply.text


# --- 7. Everyday words for what the store has ------------------------------------------------

async def test_bodega_knows_everyday_words(bodega_db, open_engine):
    engine = await open_engine(bodega_db)
    beers = "producto LIKE 'Cerveza%'"
    lists(bodega_db, await ask(engine, "chela"), beers)
    lists(bodega_db, await ask(engine, "tienen chelas?"), beers)
    lists(bodega_db, await ask(engine, "cerveza helada hay?"), beers)
    # A cola is a "gaseosa" whatever its name says; biscuits called "Soda" are not.
    colas = "categoria = 'Bebidas' AND (producto LIKE '%kola%' OR producto LIKE '%cola%'" \
            " OR producto LIKE '%Gaseosa%')"
    lists(bodega_db, await ask(engine, "q gaseosas tienes"), colas)
    lists(bodega_db, await ask(engine, "tienes gaseosa de 3 litros"),
          colas + " AND presentacion LIKE '%3 L'")


async def test_phones_find_a_product_line_by_its_maker(phones_db, open_engine):
    engine = await open_engine(phones_db)
    lists(phones_db, await ask(engine, "cargador pa iphone"),
          "descripcion LIKE 'Cargador%' AND marca = 'Apple'")
    # The product line itself is still what "iphone" finds.
    lists(phones_db, await ask(engine, "iphones"), "descripcion LIKE '%iPhone%'")


async def test_phones_say_no_to_a_brand_they_lack(phones_db, open_engine):
    engine = await open_engine(phones_db)
    for question in ("tienes huawei?", "venden oppo?"):
        reply = await ask(engine, question)
        brand = question.split()[1].rstrip("?")
        assert reply.text.startswith("No") and brand in reply.text.lower(), reply.text
        assert "No reconocí" not in reply.text, reply.text


# --- 5. Lines that would look alike show what tells them apart -----------------------------

@pytest.mark.parametrize("question", ["celus hasta 1000 lucas", "audis jbl"])
async def test_phones_tell_alike_lines_apart(phones_db, open_engine, question):
    engine = await open_engine(phones_db)
    reply = await ask(engine, question)
    understood(reply)
    lines = [line for line in reply.text.splitlines() if line[:1].isdigit()]
    texts = [line.split(". ", 1)[1].split(" — ")[0] for line in lines]
    assert len(lines) == len(reply.rows) and len(set(texts)) == len(texts), reply.text


async def test_phones_answer_the_colour_asked(phones_db, open_engine):
    engine = await open_engine(phones_db)
    first = await ask(engine, "celus hasta 1000 lucas")
    second = ids(first)[1]
    colour = query(phones_db, f"SELECT color FROM products WHERE id = {second}")[0][0]
    reply = await ask(engine, "celus hasta 1000 lucas", "el segundo de que color es?")
    assert colour.lower() in reply.text.lower(), reply.text


async def test_bodega_says_which_size_was_picked(bodega_db, open_engine):
    engine = await open_engine(bodega_db)
    first = await ask(engine, "inca kola")
    third = ids(first)[2]
    size = query(bodega_db, f"SELECT presentacion FROM products WHERE id = {third}")[0][0]
    reply = await ask(engine, "inca kola", "el tercero cuanto cuesta")
    assert size in reply.text, reply.text


# --- 11. Complaints and service questions --------------------------------------------------

@pytest.mark.parametrize("question", [
    "son unos estafadores, el celular q me vendieron vino malogrado",
    "quiero hacer un reclamo, los audifonos vinieron fallados",
])
async def test_phones_answer_a_complaint_courteously(phones_db, open_engine, question):
    engine = await open_engine(phones_db)
    reply = await ask(engine, question)
    assert "No reconocí" not in reply.text and "comunícate" in reply.text, reply.text
    assert not reply.rows and "Por ejemplo" not in reply.text, reply.text


async def test_bodega_does_not_quote_ordinary_words(bodega_db, open_engine, phones_db):
    engine = await open_engine(bodega_db)
    for question in ("buenas noches, atienden hoy?", "a q hora abren?"):
        reply = await ask(engine, question)
        assert "No reconocí" not in reply.text and not reply.rows, reply.text
    phones = await open_engine(phones_db)
    reply = await ask(phones, "q celular me alcanza con 600 soles")
    lists(phones_db, reply, "descripcion LIKE 'Celular%' AND precio_s <= 600")


# --- 10. SQL-looking messages are answered in Spanish ----------------------------------------

@pytest.mark.parametrize("question", ["DROP TABLE products; --", "select * from products",
                                      "DELETE FROM products"])
async def test_sql_looking_messages_get_spanish(bodega_db, open_engine, question):
    engine = await open_engine(bodega_db)
    reply = await ask(engine, question)
    assert reply.refused and reply.text.startswith("No puedo"), reply.text


async def test_english_prose_still_gets_english(bodega_db, open_engine):
    engine = await open_engine(bodega_db)
    reply = await ask(engine, "please delete all the products from your store")
    assert reply.refused and reply.text.startswith("I can't"), reply.text


# --- 9. Two questions in one message ---------------------------------------------------------

async def test_phones_answer_both_questions(phones_db, open_engine):
    engine = await open_engine(phones_db)
    reply = await ask(engine, "cual es el celular mas caro y cual el mas barato")
    high = query(phones_db, "SELECT descripcion FROM products WHERE descripcion LIKE"
                            " 'Celular%' ORDER BY precio_s DESC LIMIT 1")[0][0]
    low = query(phones_db, "SELECT descripcion FROM products WHERE descripcion LIKE"
                           " 'Celular%' ORDER BY precio_s LIMIT 1")[0][0]
    assert high in reply.text and low in reply.text, reply.text
    reply = await ask(engine, "el samsung mas barato y el mas caro")
    for order in ("", " DESC"):
        name = query(phones_db, "SELECT descripcion FROM products WHERE marca = 'Samsung'"
                                f" ORDER BY precio_s{order} LIMIT 1")[0][0]
        assert name in reply.text, reply.text


# --- 8. Follow-ups keep their subject ------------------------------------------------------

@pytest.mark.parametrize(("questions", "where"), [
    (("leche", "solo las de lata"), "producto LIKE '%Leche%' AND presentacion LIKE 'Lata%'"),
    (("cuanto esta el arroz", "y el saco?"),
     "producto LIKE 'Arroz%' AND presentacion LIKE 'Saco%'"),
    (("arroz en saco",), "producto LIKE 'Arroz%' AND presentacion LIKE 'Saco%'"),
    (("cuanto cuesta el kilo de arroz",), "producto LIKE 'Arroz%' AND presentacion = 'Kg'"),
], ids=lambda q: " / ".join(q) if isinstance(q, tuple) else "")
async def test_bodega_follow_ups_keep_their_subject(bodega_db, open_engine, questions, where):
    engine = await open_engine(bodega_db)
    lists(bodega_db, await ask(engine, *questions), where)


@pytest.mark.parametrize(("questions", "where", "biggest"), [
    (("inca kola", "la mas grande?"), "marca = 'Inca Kola'", True),
    (("la coca cola mas chica",), "marca = 'Coca-Cola'", False),
    (("el arroz mas grande",), "producto LIKE 'Arroz%' AND presentacion <> 'Kg'", True),
], ids=lambda q: " / ".join(q) if isinstance(q, tuple) else "")
async def test_bodega_reads_size_superlatives(bodega_db, open_engine, questions, where, biggest):
    engine = await open_engine(bodega_db)
    reply = await ask(engine, *questions)
    understood(reply)
    litres = {"ml": 0.001, "L": 1.0, "g": 0.001, "kg": 1.0}
    sizes = {i: float(size.split()[-2]) * litres[size.split()[-1]] for i, size in query(
        bodega_db, f"SELECT id, presentacion FROM products WHERE {where}")}
    want = (max if biggest else min)(sizes, key=sizes.__getitem__)
    assert ids(reply) == [want], reply.text


# --- Follow-ups about other products drop the brand or availability talked about -------------

@pytest.mark.parametrize(("questions", "where"), [
    (("hay leche gloria?", "y el arroz?"), "producto LIKE '%Arroz%'"),
    (("q productos no tienen stock", "tienes huevos?"), "producto LIKE '%Huevo%'"),
], ids=lambda value: " / ".join(value) if isinstance(value, tuple) else "")
async def test_bodega_a_follow_up_about_other_products_starts_over(
        bodega_db, open_engine, questions, where):
    engine = await open_engine(bodega_db)
    reply = await ask(engine, *questions)
    lists(bodega_db, reply, where)
    assert "Gloria" not in reply.text.splitlines()[0]


async def test_bodega_the_cheapest_of_another_product_after_a_brand(bodega_db, open_engine):
    engine = await open_engine(bodega_db)
    reply = await ask(engine, "hay leche gloria?", "cual es el arroz mas barato")
    understood(reply)
    want = expected_ids(bodega_db, "producto LIKE '%Arroz%'")
    assert ids(reply) == want[:1] and reply.meta["total"] == len(want), reply.text
    assert not reply.text.startswith("No"), reply.text


async def test_bodega_a_sold_out_list_then_a_product_asked_for_by_its_presentation(
        bodega_db, open_engine):
    engine = await open_engine(bodega_db)
    reply = await ask(engine, "q productos no tienen stock", "tienes leche gloria en six pack?")
    lists(bodega_db, reply, "producto LIKE '%Leche%' AND marca = 'Gloria'"
                            " AND presentacion LIKE 'Six pack%'")
    assert reply.text.startswith("Sí.")


async def test_bodega_a_price_bound_carried_over_still_gets_its_no(bodega_db, open_engine):
    engine = await open_engine(bodega_db)
    reply = await ask(engine, "cosas de menos de 2 soles", "y cerveza?")
    assert reply.text.startswith("No encontré"), reply.text
    assert "de menos de S/ 2.00" in reply.text.splitlines()[0]


async def test_the_price_example_fits_what_the_store_sells(bodega_db, open_engine):
    engine = await open_engine(bodega_db)
    reply = await engine.answer("hola", [])
    category = engine.vocab.categories[0]
    ((average,),) = query(bodega_db, "SELECT avg(precio) FROM products WHERE categoria = "
                                     f"'{category}'")
    bound = engine.example_bound
    # The next round amount (1, 2, 3 or 5 times a power of ten) at or above the average.
    assert average <= bound and bound in (1, 2, 3, 5, 10, 20, 30, 50, 100)
    assert f"«{category.lower()} de menos de {bound:,} soles»" in reply.text
    assert "1,000 soles" not in reply.text
