"""Three more stores, built here, asked the way customers in Peru write to a shop.

A pet shop's CSV (";" separated, comma decimals, the species in a column of its own), a clothing
store's XLSX (size, colour and gender columns, Sí/No availability) and a corner shop's JSON Lines
(presentations such as "1 kg", "500 ml", "pack x6"). Each is loaded with the real importer and
asked in basic mode, through ``BasicEngine.answer`` as the bot does; every expected answer is
computed here with plain SQL on the imported file. The questions carry what chats carry: "pa",
"q", "x", "lucas", plurals, missing accents, one-letter typos of the store's own words, and
follow-ups ("¿y el más caro?").
"""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any

import openpyxl
import pytest

from bot.catalog.importer import import_catalog
from bot.core.basic import BasicEngine
from bot.core.reply import Reply, Turn


def query(path: Path, sql: str) -> list[tuple[Any, ...]]:
    with sqlite3.connect(path) as conn:
        return conn.execute(sql).fetchall()


def soles(price: float) -> str:
    """How an answer writes a price (the test's own formatting)."""
    return f"S/ {price:,.2f}"


async def ask(engine: BasicEngine, *questions: str) -> Reply:
    """Ask questions in one conversation; return the last reply."""
    history: list[Turn] = []
    reply = None
    for question in questions:
        reply = await engine.answer(question, history)
        history += [Turn("user", question), Turn("assistant", reply.text, reply.meta)]
    assert reply is not None
    return reply


def shown(reply: Reply) -> list[tuple[str, float]]:
    names, prices = reply.columns.index("name"), reply.columns.index("price")
    return [(row[names], row[prices]) for row in reply.rows]


def check_list(reply: Reply, expected: list[tuple[str, float]]) -> None:
    """The answer lists the first of ``expected`` (in the order given), names and prices in its
    text, and counts all of them; every word of the question was understood."""
    assert not reply.refused and "No reconocí" not in reply.text, reply.text
    assert expected, "the test's own SQL found nothing"
    rows = shown(reply)
    assert rows == expected[:len(rows)] and len(rows) == min(len(expected), 5), reply.text
    assert reply.meta["total"] == len(expected), reply.text
    for name, price in rows:
        assert name in reply.text and soles(price) in reply.text


def check_one(reply: Reply, expected: list[tuple[str, float]]) -> None:
    """The answer shows exactly the one product ``expected`` holds, every word understood."""
    assert not reply.refused and "No reconocí" not in reply.text, reply.text
    assert len(expected) == 1 and shown(reply) == expected, reply.text
    assert expected[0][0] in reply.text and soles(expected[0][1]) in reply.text


def imported(tmp_path: Path, name: str, write: Any, **options: Any) -> Path:
    source = tmp_path / name
    write(source)
    output = tmp_path / f"{source.stem}.db"
    import_catalog(source, output, tmp_path / f"{source.stem}.toml", show_progress=False,
                   **options)
    return output


# --- A pet shop: CSV with ";" and comma decimals; the species in its own column ----------------

PET_SHOP = """\
Producto;Precio;Categoría;Especie;Marca;Stock
Ricocan Adulto Cordero 15 kg;129,90;Alimento;Perro;Ricocan;8
Ricocan Cachorro Carne 4 kg;42,50;Alimento;Perro;Ricocan;0
Mimaskot Adulto Carne 8 kg;69,90;Alimento;Perro;Mimaskot;5
Pro Plan Adulto Pollo 3 kg;118,00;Alimento;Gato;Purina;3
Whiskas Pescado 1,5 kg;32,90;Alimento;Gato;Whiskas;12
Arena sanitaria aglomerante 10 kg;24,90;Higiene;Gato;Michi;20
Shampoo antipulgas 250 ml;18,50;Higiene;Perro;Canamor;6
Shampoo neutro 200 ml;16,90;Higiene;Gato;Canamor;0
Collar antipulgas Seresto;189,00;Salud;Perro;Bayer;2
Pipeta Frontline Plus;45,00;Salud;Gato;Frontline;4
Pelota de goma con sonido;9,90;Juguetes;Perro;;15
Ratón de juguete con catnip;7,50;Juguetes;Gato;;10
Correa retráctil 5 m;39,90;Accesorios;Perro;Flexi;3
Comedero de acero inoxidable;14,90;Accesorios;Perro;;9
Alpiste premium 1 kg;8,90;Alimento;Ave;Vitakraft;7
"""

PET_ORDER = " ORDER BY precio, rowid"
PET_ROWS = "SELECT producto, precio FROM products WHERE "

PET_QUESTIONS = [
    (("¿tienen comida pa perro?",),
     PET_ROWS + "categoria = 'Alimento' AND especie = 'Perro'" + PET_ORDER, check_list),
    (("el shampoo más barato",),
     PET_ROWS + "producto LIKE 'Shampoo%'" + PET_ORDER + " LIMIT 1", check_one),
    (("cuanto cuesta el whiskas",), PET_ROWS + "marca = 'Whiskas'", check_one),
    (("algo de menos de 10 soles",), PET_ROWS + "precio < 10" + PET_ORDER, check_list),
    (("algo de menos de 10 soles", "¿y el más caro?"),
     PET_ROWS + "precio < 10 ORDER BY precio DESC LIMIT 1", check_one),
    (("juguetes pa gato",),
     PET_ROWS + "categoria = 'Juguetes' AND especie = 'Gato'" + PET_ORDER, check_list),
    (("productos ricocan",), PET_ROWS + "marca = 'Ricocan'" + PET_ORDER, check_list),
    (("collares",), PET_ROWS + "producto LIKE 'Collar%'" + PET_ORDER, check_list),
    (("shampo pa perro",),
     PET_ROWS + "producto LIKE 'Shampoo%' AND especie = 'Perro'" + PET_ORDER, check_list),
    (("q tienen pa gatos x menos de 20 lucas",),
     PET_ROWS + "especie = 'Gato' AND precio < 20" + PET_ORDER, check_list),
    (("comederos",), PET_ROWS + "producto LIKE 'Comedero%'" + PET_ORDER, check_list),
    (("raton de juguete",), PET_ROWS + "producto LIKE 'Ratón%'" + PET_ORDER, check_list),
    (("¿tienen algo pa aves?",), PET_ROWS + "especie = 'Ave'" + PET_ORDER, check_list),
    (("¿hay pipetas?",), PET_ROWS + "producto LIKE 'Pipeta%'" + PET_ORDER, check_list),
    (("el alimento de gato mas barato",),
     PET_ROWS + "categoria = 'Alimento' AND especie = 'Gato'" + PET_ORDER + " LIMIT 1",
     check_one),
    (("articulos de higiene",), PET_ROWS + "categoria = 'Higiene'" + PET_ORDER, check_list),
    (("kiero comida pa mi perrito",),
     PET_ROWS + "categoria = 'Alimento' AND especie = 'Perro'" + PET_ORDER, check_list),
    (("juguetes pa gatitos",),
     PET_ROWS + "categoria = 'Juguetes' AND especie = 'Gato'" + PET_ORDER, check_list),
]


@pytest.fixture
def pet_shop_db(tmp_path: Path) -> Path:
    return imported(tmp_path, "mascotas.csv",
                    lambda path: path.write_text(PET_SHOP, encoding="utf-8"))


@pytest.mark.parametrize(("questions", "sql", "check"), PET_QUESTIONS,
                         ids=[q[0][-1] for q in PET_QUESTIONS])
async def test_pet_shop(pet_shop_db, open_engine, questions, sql, check):
    engine = await open_engine(pet_shop_db)
    check(await ask(engine, *questions), query(pet_shop_db, sql))


async def test_pet_shop_counts_its_brands(pet_shop_db, open_engine):
    engine = await open_engine(pet_shop_db)
    reply = await ask(engine, "cuantas marcas tienen")
    ((count,),) = query(pet_shop_db, "SELECT count(DISTINCT marca) FROM products")
    assert f"Hay {count} marcas distintas" in reply.text


# --- A clothing store: XLSX with size, colour and gender columns, Sí/No availability -------------

CLOTHES = [
    ("Código", "Producto", "Tipo", "Talla", "Color", "Género", "Precio", "Disponible"),
    ("P01", "Polo básico algodón", "Polos", "M", "Blanco", "Hombre", 29.9, "Sí"),
    ("P02", "Polo básico algodón", "Polos", "L", "Blanco", "Hombre", 29.9, "Sí"),
    ("P03", "Polo básico algodón", "Polos", "M", "Negro", "Hombre", 29.9, "No"),
    ("P04", "Polo estampado", "Polos", "S", "Rojo", "Mujer", 35.0, "Sí"),
    ("P05", "Polo estampado", "Polos", "M", "Azul", "Mujer", 35.0, "Sí"),
    ("P06", "Jean clásico", "Jeans", "30", "Azul", "Hombre", 89.9, "Sí"),
    ("P07", "Jean skinny", "Jeans", "28", "Negro", "Mujer", 99.0, "No"),
    ("P08", "Casaca de cuero", "Casacas", "L", "Negro", "Hombre", 249.0, "Sí"),
    ("P09", "Vestido floral", "Vestidos", "S", "Rojo", "Mujer", 119.0, "Sí"),
    ("P10", "Chompa de alpaca", "Chompas", "M", "Gris", "Unisex", 159.0, "Sí"),
    ("P11", "Short deportivo", "Shorts", "M", "Negro", "Hombre", 39.9, "Sí"),
    ("P12", "Blusa de seda", "Blusas", "M", "Blanco", "Mujer", 79.0, "No"),
]

CLOTHES_ORDER = " ORDER BY precio, rowid"
CLOTHES_ROWS = "SELECT producto, precio FROM products WHERE "

CLOTHES_QUESTIONS = [
    (("polos talla M",), CLOTHES_ROWS + "tipo = 'Polos' AND talla = 'M'" + CLOTHES_ORDER,
     check_list),
    (("¿tienen polos blancos?",),
     CLOTHES_ROWS + "tipo = 'Polos' AND color = 'Blanco'" + CLOTHES_ORDER, check_list),
    (("jeans de mujer",), CLOTHES_ROWS + "tipo = 'Jeans' AND genero = 'Mujer'" + CLOTHES_ORDER,
     check_list),
    (("la casaca mas barata",),
     CLOTHES_ROWS + "tipo = 'Casacas'" + CLOTHES_ORDER + " LIMIT 1", check_one),
    (("cuanto cuesta el vestido floral",),
     CLOTHES_ROWS + "producto = 'Vestido floral'", check_one),
    (("algo de menos de 40 soles",), CLOTHES_ROWS + "precio < 40" + CLOTHES_ORDER, check_list),
    (("algo de menos de 40 soles", "¿y el más caro?"),
     CLOTHES_ROWS + "precio < 40 ORDER BY precio DESC, rowid LIMIT 1", check_one),
    (("chompas disponibles",),
     CLOTHES_ROWS + "tipo = 'Chompas' AND disponible = 'Sí'" + CLOTHES_ORDER, check_list),
    (("polos negros talla m",),
     CLOTHES_ROWS + "tipo = 'Polos' AND color = 'Negro' AND talla = 'M'" + CLOTHES_ORDER,
     check_list),
    (("jeans talla 28",), CLOTHES_ROWS + "tipo = 'Jeans' AND talla = '28'" + CLOTHES_ORDER,
     check_list),
    (("blusas",), CLOTHES_ROWS + "tipo = 'Blusas'" + CLOTHES_ORDER, check_list),
    (("vestidos rojos",), CLOTHES_ROWS + "tipo = 'Vestidos' AND color = 'Rojo'" + CLOTHES_ORDER,
     check_list),
    (("chompa de alpaca",), CLOTHES_ROWS + "producto LIKE 'Chompa de alpaca%'" + CLOTHES_ORDER,
     check_list),
    (("shorts pa hombre",),
     CLOTHES_ROWS + "tipo = 'Shorts' AND genero = 'Hombre'" + CLOTHES_ORDER, check_list),
    (("casacs",), CLOTHES_ROWS + "tipo = 'Casacas'" + CLOTHES_ORDER, check_list),
    (("polos de dama",),
     CLOTHES_ROWS + "tipo = 'Polos' AND genero = 'Mujer'" + CLOTHES_ORDER, check_list),
    (("lo mas caro q tienen",),
     CLOTHES_ROWS + "1 ORDER BY precio DESC, rowid LIMIT 1", check_one),
]


def write_clothes(path: Path) -> None:
    book = openpyxl.Workbook()
    for row in CLOTHES:
        book.active.append(row)
    book.save(path)


@pytest.fixture
def clothing_db(tmp_path: Path) -> Path:
    return imported(tmp_path, "ropa.xlsx", write_clothes)


@pytest.mark.parametrize(("questions", "sql", "check"), CLOTHES_QUESTIONS,
                         ids=[q[0][-1] for q in CLOTHES_QUESTIONS])
async def test_clothing_store(clothing_db, open_engine, questions, sql, check):
    engine = await open_engine(clothing_db)
    check(await ask(engine, *questions), query(clothing_db, sql))


async def test_clothing_store_lists_its_colours(clothing_db, open_engine):
    engine = await open_engine(clothing_db)
    reply = await ask(engine, "¿q colores tienen?")
    colours = query(clothing_db, "SELECT color, count(*) FROM products GROUP BY color")
    assert sorted(reply.rows) == sorted(colours)
    assert all(f"• {colour} ({n})" in reply.text for colour, n in colours)


async def test_clothing_store_lists_its_sizes(clothing_db, open_engine):
    engine = await open_engine(clothing_db)
    reply = await ask(engine, "q tallas hay")
    sizes = query(clothing_db, "SELECT talla, count(*) FROM products GROUP BY talla")
    assert sorted(reply.rows) == sorted(sizes)
    assert reply.text.startswith(f"Tenemos {len(sizes)} tallas")


async def test_clothing_store_names_each_size_shown(clothing_db, open_engine):
    # "Polo básico algodón" holds the letter "l" but does not say the size "L".
    engine = await open_engine(clothing_db)
    reply = await ask(engine, "polos blancos")
    expected = query(clothing_db, "SELECT producto, talla FROM products WHERE tipo = 'Polos' "
                                  "AND color = 'Blanco' ORDER BY precio, rowid")
    lines = reply.text.splitlines()[1:]
    assert len(lines) == len(expected)
    for line, (name, size) in zip(lines, expected, strict=True):
        assert f"{name} ({size})" in line


# --- A corner shop: JSON Lines with presentations ---------------------------------------------

GROCERY = [
    ("Arroz Extra Costeño", "1 kg", "Costeño", "Abarrotes", 5.2, 40),
    ("Arroz Extra Costeño", "5 kg", "Costeño", "Abarrotes", 24.9, 12),
    ("Arroz Extra Paisana", "5 kg", "Paisana", "Abarrotes", 22.5, 9),
    ("Leche evaporada Gloria", "400 g", "Gloria", "Lácteos", 4.2, 60),
    ("Leche evaporada Gloria", "pack x6", "Gloria", "Lácteos", 24.0, 10),
    ("Leche evaporada Ideal", "400 g", "Nestlé", "Lácteos", 3.9, 25),
    ("Yogurt Gloria fresa", "1 L", "Gloria", "Lácteos", 7.5, 8),
    ("Aceite vegetal Primor", "900 ml", "Primor", "Abarrotes", 11.9, 15),
    ("Aceite vegetal Cil", "1 L", "Cil", "Abarrotes", 10.5, 0),
    ("Gaseosa Inca Kola", "500 ml", "Inca Kola", "Bebidas", 2.5, 48),
    ("Gaseosa Inca Kola", "3 L", "Inca Kola", "Bebidas", 12.9, 6),
    ("Gaseosa Coca-Cola", "pack x6", "Coca-Cola", "Bebidas", 14.0, 4),
    ("Agua San Luis sin gas", "625 ml", "San Luis", "Bebidas", 1.8, 30),
    ("Azúcar rubia Cartavio", "1 kg", "Cartavio", "Abarrotes", 4.5, 22),
    ("Fideos spaghetti Don Vittorio", "500 g", "Don Vittorio", "Abarrotes", 3.8, 18),
    ("Atún en trozos Florida", "170 g", "Florida", "Conservas", 6.5, 14),
    ("Papel higiénico Elite", "pack x4", "Elite", "Limpieza", 6.9, 11),
    ("Detergente Bolívar", "750 g", "Bolívar", "Limpieza", 9.9, 7),
    ("Pan de molde Bimbo", "600 g", "Bimbo", "Panadería", 8.5, 0),
]

SHOP_ORDER = " ORDER BY precio, rowid"
SHOP_ROWS = "SELECT producto, precio FROM products WHERE "

GROCERY_QUESTIONS = [
    (("¿cuánto cuesta el arroz costeño?",),
     SHOP_ROWS + "producto LIKE 'Arroz%' AND marca = 'Costeño'" + SHOP_ORDER, check_list),
    (("¿hay leche gloria?",),
     SHOP_ROWS + "producto LIKE 'Leche%' AND marca = 'Gloria'" + SHOP_ORDER, check_list),
    (("la leche mas barata",),
     SHOP_ROWS + "producto LIKE 'Leche%'" + SHOP_ORDER + " LIMIT 1", check_one),
    (("gaseosa de 3 litros",),
     SHOP_ROWS + "producto LIKE 'Gaseosa%' AND presentacion = '3 L'" + SHOP_ORDER, check_list),
    (("leche gloria pack x6",),
     SHOP_ROWS + "producto LIKE 'Leche%' AND marca = 'Gloria' AND presentacion = 'pack x6'",
     check_one),
    (("aceite de 1 litro",),
     SHOP_ROWS + "producto LIKE 'Aceite%' AND presentacion = '1 L'", check_one),
    (("algo de menos de 5 soles",), SHOP_ROWS + "precio < 5" + SHOP_ORDER, check_list),
    (("algo de menos de 5 soles", "¿y el más caro?"),
     SHOP_ROWS + "precio < 5 ORDER BY precio DESC, rowid LIMIT 1", check_one),
    (("atun",), SHOP_ROWS + "producto LIKE 'Atún%'" + SHOP_ORDER, check_list),
    (("azucar rubia",), SHOP_ROWS + "producto LIKE 'Azúcar rubia%'" + SHOP_ORDER, check_list),
    (("inca kola",), SHOP_ROWS + "marca = 'Inca Kola'" + SHOP_ORDER, check_list),
    (("fideos don vitorio",), SHOP_ROWS + "marca = 'Don Vittorio'" + SHOP_ORDER, check_list),
    (("arros costeño",),
     SHOP_ROWS + "producto LIKE 'Arroz%' AND marca = 'Costeño'" + SHOP_ORDER, check_list),
    (("¿tienen agua sin gas?",), SHOP_ROWS + "producto LIKE 'Agua%'" + SHOP_ORDER, check_list),
    (("pan de molde",), SHOP_ROWS + "producto LIKE 'Pan de molde%'" + SHOP_ORDER, check_list),
    (("bebidas baratas",), SHOP_ROWS + "categoria = 'Bebidas'" + SHOP_ORDER, check_list),
    (("arroz de 5 kilos",),
     SHOP_ROWS + "producto LIKE 'Arroz%' AND presentacion = '5 kg'" + SHOP_ORDER, check_list),
    (("leches",), SHOP_ROWS + "producto LIKE 'Leche%'" + SHOP_ORDER, check_list),
    (("yogur",), SHOP_ROWS + "producto LIKE 'Yogurt%'" + SHOP_ORDER, check_list),
    (("inca cola",), SHOP_ROWS + "marca = 'Inca Kola'" + SHOP_ORDER, check_list),
    (("ay gaseosas?",), SHOP_ROWS + "producto LIKE 'Gaseosa%'" + SHOP_ORDER, check_list),
    (("m das el precio del azucar",), SHOP_ROWS + "producto LIKE 'Azúcar%'", check_one),
    (("agua de 625 ml",), SHOP_ROWS + "presentacion = '625 ml'", check_one),
    (("atun de 170 gr",), SHOP_ROWS + "producto LIKE 'Atún%' AND presentacion = '170 g'",
     check_one),
    (("aceite de litro",),
     SHOP_ROWS + "producto LIKE 'Aceite%' AND presentacion = '1 L'", check_one),
    (("leche gloria de 400",),
     SHOP_ROWS + "producto LIKE 'Leche%' AND marca = 'Gloria' AND presentacion = '400 g'",
     check_one),
]


def write_grocery(path: Path) -> None:
    keys = ("producto", "presentacion", "marca", "categoria", "precio", "stock")
    path.write_text("".join(json.dumps(dict(zip(keys, row, strict=True)), ensure_ascii=False)
                            + "\n" for row in GROCERY), encoding="utf-8")


@pytest.fixture
def grocery_db(tmp_path: Path) -> Path:
    return imported(tmp_path, "bodega.jsonl", write_grocery)


@pytest.mark.parametrize(("questions", "sql", "check"), GROCERY_QUESTIONS,
                         ids=[q[0][-1] for q in GROCERY_QUESTIONS])
async def test_corner_shop(grocery_db, open_engine, questions, sql, check):
    engine = await open_engine(grocery_db)
    check(await ask(engine, *questions), query(grocery_db, sql))


async def test_corner_shop_counts_a_category(grocery_db, open_engine):
    engine = await open_engine(grocery_db)
    reply = await ask(engine, "cuantos productos de limpieza hay")
    ((count,),) = query(grocery_db, "SELECT count(*) FROM products WHERE categoria = 'Limpieza'")
    assert reply.meta["total"] == count and f"Hay {count} productos" in reply.text


# --- The hardware store of tests/test_stores.py, asked in chat ----------------------------------

@pytest.fixture
def hardware_db(tmp_path: Path) -> Path:
    from tests.test_stores import HARDWARE

    return imported(tmp_path, "ferreteria.csv",
                    lambda path: path.write_bytes(HARDWARE.encode("cp1252")))


HARDWARE_ROWS = "SELECT descripcion, precio_venta FROM products WHERE "

HARDWARE_QUESTIONS = [
    # The name says "blanco": the other gender of a word of the store is that word.
    (("pintura blanca",), HARDWARE_ROWS + "descripcion LIKE 'Pintura%blanco%'", check_one),
    (("cinta metrica de 5 metros",), HARDWARE_ROWS + "descripcion LIKE 'Cinta métrica 5 m'",
     check_one),
    # "ll" and "y" sound alike in Peru: "martiyo" is "martillo".
    (("martiyo",), HARDWARE_ROWS + "descripcion LIKE 'Martillo%' ORDER BY precio_venta",
     check_list),
    (("tienen martillos stanley?",),
     HARDWARE_ROWS + "descripcion LIKE 'Martillo%' AND marca = 'Stanley'", check_one),
]


@pytest.mark.parametrize(("questions", "sql", "check"), HARDWARE_QUESTIONS,
                         ids=[q[0][-1] for q in HARDWARE_QUESTIONS])
async def test_hardware_store_in_chat(hardware_db, open_engine, questions, sql, check):
    engine = await open_engine(hardware_db)
    check(await ask(engine, *questions), query(hardware_db, sql))
