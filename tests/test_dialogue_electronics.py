"""An electronics shop in Lima, asked follow-ups the way its customers chat.

The shop's XLSX has no size column: televisions say their inches in the name, either way
('55"', "75 pulgadas"), phones their RAM and storage ("4GB 128GB", "12GB 1TB"), laptops their
screen and disk. It is imported with the real importer and asked in basic mode; every expected
answer comes from this file's own SQL and its own reading of the names. The conversations are
size superlatives by what they measure ("la tele de más pulgadas", "el celu con más memoria")
and follow-ups about other products ("otra marca", "¿tienes otro?", "¿uno más baratito?").
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import openpyxl
import pytest

from tests.test_dialogue_minimarket import price_of, selected, shows_first
from tests.test_store_bodega import ids, understood
from tests.test_store_chat import ask, imported, query

SHOP = """\
Televisor Samsung 32" HD Smart TV;Samsung;Televisores;899;6
Televisor LG 43" Full HD Smart TV;LG;Televisores;1199;4
Televisor Hisense 50 pulgadas 4K UHD;Hisense;Televisores;1399;5
Smart TV Samsung 55" Crystal 4K;Samsung;Televisores;1899;3
Smart TV LG 55" NanoCell 4K;LG;Televisores;2099;2
Smart TV LG 65" OLED 4K;LG;Televisores;5999;1
Televisor TCL 75 pulgadas QLED 4K;TCL;Televisores;4299;2
Samsung Galaxy A15 4GB 128GB;Samsung;Celulares;649;10
Samsung Galaxy A55 8GB 256GB;Samsung;Celulares;1699;4
Samsung Galaxy S24 Ultra 12GB 1TB;Samsung;Celulares;6499;1
Xiaomi Redmi 13C 4GB 64GB;Xiaomi;Celulares;449;12
Xiaomi Redmi Note 13 8GB 256GB;Xiaomi;Celulares;899;7
Motorola Moto G84 8GB RAM 256GB;Motorola;Celulares;1099;0
iPhone 13 128GB;Apple;Celulares;2799;3
iPhone 15 128GB;Apple;Celulares;3899;2
iPhone 15 Pro 512GB;Apple;Celulares;5799;1
Honor X6b 128GB;Honor;Celulares;599;8
Laptop Lenovo IdeaPad 3 15.6" 8GB 512GB SSD;Lenovo;Laptops;2199;3
Laptop HP 14" 8GB 256GB SSD;HP;Laptops;1799;5
Laptop Asus Vivobook 16" 16GB 1TB SSD;Asus;Laptops;3299;2
Audífonos JBL Tune 520BT;JBL;Audio;199;9
Audífonos Sony WH-CH520;Sony;Audio;229;0
Audífonos Xiaomi Redmi Buds 5;Xiaomi;Audio;149;15
Parlante JBL Flip 6;JBL;Audio;499;4
Memoria USB Kingston 64GB;Kingston;Accesorios;29;30
Memoria microSD SanDisk 128GB;SanDisk;Accesorios;45;25
Cargador Samsung 25W;Samsung;Accesorios;79;12
Cargador Xiaomi 33W;Xiaomi;Accesorios;59;14
Cargador Apple 20W USB-C;Apple;Accesorios;119;6
"""

TVS = "categoria = 'Televisores'"
PHONES = "categoria = 'Celulares'"


def write_shop(path: Path) -> None:
    book = openpyxl.Workbook()
    sheet = book.active
    sheet.append(["Producto", "Marca", "Categoría", "Precio", "Stock"])
    for line in SHOP.splitlines():
        name, brand, category, price, stock = line.split(";")
        sheet.append([name, brand, category, float(price), int(stock)])
    book.save(path)


@pytest.fixture
def shop_db(tmp_path: Path) -> Path:
    return imported(tmp_path, "tecnologia.xlsx", write_shop)


def inches(name: str) -> float:
    match = re.search(r'(\d+(?:\.\d+)?)(?:"| pulgadas)', name)
    assert match, name
    return float(match.group(1))


def gigabytes(name: str) -> float:
    """Storage, read here: the largest amount in GB or TB (RAM is the smaller one)."""
    amounts = [int(n) * (1000 if unit == "TB" else 1)
               for n, unit in re.findall(r"(\d+)\s?(GB|TB)\b", name)]
    assert amounts, name
    return max(amounts)


def ranked(db: Path, where: str, size: Callable[[str], float], biggest: bool) -> list[int]:
    """The products ``where`` selects, biggest (or smallest) first by ``size`` of the name, the
    cheaper first among equals."""
    rows = query(db, f"SELECT id, producto FROM products WHERE {where} ORDER BY precio, id")
    assert rows, "the test's own SQL found nothing"
    order = sorted(range(len(rows)),
                   key=lambda i: -size(rows[i][1]) if biggest else size(rows[i][1]))
    return [rows[i][0] for i in order]


# --- Size superlatives by what they measure ------------------------------------------------

@pytest.mark.parametrize(("questions", "where", "size", "biggest"), [
    (("la tele de mas pulgadas",), TVS, inches, True),
    (("cual es la tv con menos pulgadas",), TVS, inches, False),
    (("el celu con mas memoria",), PHONES, gigabytes, True),
    (("el celular con menos memoria",), PHONES, gigabytes, False),
    (("la laptop con mas almacenamiento",), "categoria = 'Laptops'", gigabytes, True),
    (("la memoria de mas capacidad",), "producto LIKE 'Memoria%'", gigabytes, True),
    (("celus xiaomi", "y con mas memoria?"), f"{PHONES} AND marca = 'Xiaomi'", gigabytes, True),
    (("laptops", "la de mas pulgadas"), "categoria = 'Laptops'", inches, True),
    (("hola causa, q celus tienes?", "el de mas memoria?"), PHONES, gigabytes, True),
    # Answered before too: "grande" and "chico" read in inches when that is all a name says.
    (("la tele mas grande",), TVS, inches, True),
    (("el televisor mas chico",), TVS, inches, False),
], ids=lambda value: " / ".join(value) if isinstance(value, tuple) else "")
async def test_the_biggest_by_what_the_question_measures(shop_db, open_engine, questions, where,
                                                         size, biggest):
    engine = await open_engine(shop_db)
    reply = await ask(engine, *questions)
    understood(reply)
    assert ids(reply) == ranked(shop_db, where, size, biggest)[:1], reply.text


async def test_a_list_by_storage(shop_db, open_engine):
    engine = await open_engine(shop_db)
    reply = await ask(engine, "celus con mas gigas")
    understood(reply)
    want = ranked(shop_db, PHONES, gigabytes, True)
    got = ids(reply)
    assert len(got) == 5 and [gigabytes(n) for n in _names(shop_db, got)] == [
        gigabytes(n) for n in _names(shop_db, want[:5])], reply.text


def _names(db: Path, products: list[int]) -> list[str]:
    return [query(db, f"SELECT producto FROM products WHERE id = {i}")[0][0] for i in products]


async def test_a_memory_stick_is_still_a_product_as_before(shop_db, open_engine):
    engine = await open_engine(shop_db)
    reply = await ask(engine, "una memoria usb")
    shows_first(reply, selected(shop_db, "producto LIKE 'Memoria USB%'"))


# --- Other products after an answer ---------------------------------------------------------

@pytest.mark.parametrize(("questions", "where"), [
    (("celus samsung", "tienes otro?"), f"{PHONES} AND marca <> 'Samsung'"),
    # Answered before too: a brand left out of a kind named.
    (("teles samsung", "otra marca?"), f"{TVS} AND marca <> 'Samsung'"),
    (("audifonos jbl", "de otra marca habra?"),
     "producto LIKE 'Aud%' AND marca <> 'JBL'"),
], ids=lambda value: " / ".join(value) if isinstance(value, tuple) else "")
async def test_other_products_of_the_kind(shop_db, open_engine, questions, where):
    engine = await open_engine(shop_db)
    shows_first(await ask(engine, *questions), selected(shop_db, where))


async def test_otro_modelo_is_the_next_page_as_before(shop_db, open_engine):
    engine = await open_engine(shop_db)
    reply = await ask(engine, "el celu mas barato", "otro modelo")
    understood(reply)
    assert ids(reply) == selected(shop_db, PHONES)[1:6], reply.text


async def test_tendras_otro_after_the_cheapest_as_before(shop_db, open_engine):
    engine = await open_engine(shop_db)
    reply = await ask(engine, "audifonos", "el mas barato", "tendras otro?")
    understood(reply)
    assert ids(reply) == selected(shop_db, "producto LIKE 'Aud%'")[1:6], reply.text


async def test_other_brand_after_a_brand_alone_keeps_the_kind_shown(shop_db, open_engine):
    engine = await open_engine(shop_db)
    reply = await ask(engine, "el samsung mas barato", "otra marca")
    (cheapest, *_) = selected(shop_db, "marca = 'Samsung'")
    assert _names(shop_db, [cheapest])[0].startswith("Cargador")
    understood(reply)
    assert ids(reply) == selected(shop_db, "producto LIKE 'Cargador%' AND marca <> 'Samsung'")[:1]


async def test_other_brand_keeps_the_size_asked_as_before(shop_db, open_engine):
    engine = await open_engine(shop_db)
    reply = await ask(engine, "teles de 55 pulgadas", "la mas barata", "otra marca")
    (cheapest, *_) = selected(shop_db, f"{TVS} AND producto LIKE '%55\"%'")
    want = selected(shop_db, f"{TVS} AND producto LIKE '%55\"%' AND marca <> (SELECT marca FROM"
                             f" products WHERE id = {cheapest})")
    understood(reply)
    assert ids(reply) == want[:1], reply.text


async def test_other_brand_after_the_biggest_as_before(shop_db, open_engine):
    engine = await open_engine(shop_db)
    reply = await ask(engine, "la tele mas grande", "y de otra marca?")
    biggest = ranked(shop_db, TVS, inches, True)[0]
    understood(reply)
    assert ids(reply) == ranked(shop_db, f"{TVS} AND marca <> (SELECT marca FROM products"
                                         f" WHERE id = {biggest})", inches, True)[:1]


@pytest.mark.parametrize(("questions", "where"), [
    # The same words, cheaper: another iPhone.
    (("iphone 15", "algo parecido pero mas barato"), "producto LIKE 'iPhone%'"),
    # Nothing cheaper has all the words asked ("pro"): another iPhone.
    (("cuanto esta el iphone 15 pro", "uy caro, tendras uno mas baratito?"),
     "producto LIKE 'iPhone%'"),
    (("la tele mas grande", "tendras una mas baratita?"), TVS),
], ids=lambda value: " / ".join(value) if isinstance(value, tuple) else "")
async def test_a_cheaper_one_like_the_ones_shown(shop_db, open_engine, questions, where):
    engine = await open_engine(shop_db)
    first = await ask(engine, *questions[:1])
    shown = ids(first)
    assert shown, first.text
    reply = await ask(engine, *questions)
    cheapest = min(price_of(shop_db, i) for i in shown)
    want = selected(shop_db, f"{where} AND precio < {cheapest} AND id NOT IN"
                             f" ({', '.join(map(str, shown))})", "precio DESC, id")
    shows_first(reply, want)


async def test_a_dearer_one_like_the_one_shown(shop_db, open_engine):
    engine = await open_engine(shop_db)
    reply = await ask(engine, "iphone 13", "tendras otro mas caro?")
    (shown,) = selected(shop_db, "producto LIKE 'iPhone 13%'")
    shows_first(reply, selected(shop_db, "producto LIKE 'iPhone%' AND precio >"
                                         f" {price_of(shop_db, shown)}"))


@pytest.mark.parametrize(("questions", "where", "size"), [
    (("tele lg de 43", "tienes una mas grande?"), f"{TVS} AND marca = 'LG'", inches),
    (("samsung galaxy a15", "uno con mas memoria?"), f"{PHONES} AND marca = 'Samsung'",
     gigabytes),
], ids=lambda value: " / ".join(value) if isinstance(value, tuple) else "")
async def test_a_bigger_one_than_the_one_shown(shop_db, open_engine, questions, where, size):
    engine = await open_engine(shop_db)
    first = await ask(engine, *questions[:1])
    (shown,) = ids(first)
    reply = await ask(engine, *questions)
    least = size(_names(shop_db, [shown])[0])
    want = [i for i in ranked(shop_db, where, size, False) if size(_names(shop_db, [i])[0]) > least]
    shows_first(reply, want)


async def test_a_better_one_than_the_one_shown(shop_db, open_engine):
    engine = await open_engine(shop_db)
    reply = await ask(engine, "el celu mas barato", "uno mejor?")
    (cheapest, *_) = selected(shop_db, PHONES)
    shows_first(reply, selected(shop_db, f"{PHONES} AND precio > {price_of(shop_db, cheapest)}"))


async def test_another_of_a_kind_named_leaves_out_the_ones_shown(shop_db, open_engine):
    engine = await open_engine(shop_db)
    first = await ask(engine, "iphone 15")
    reply = await ask(engine, "iphone 15", "tienes otro celular?")
    shown = ", ".join(map(str, ids(first)))
    shows_first(reply, selected(shop_db, f"{PHONES} AND id NOT IN ({shown})"))


async def test_why_so_dear_then_a_cheaper_one(shop_db, open_engine):
    engine = await open_engine(shop_db)
    reply = await ask(engine, "audifonos jbl", "xq tan caros? uno mas barato habra?")
    (jbl,) = selected(shop_db, "producto LIKE 'Aud%' AND marca = 'JBL'")
    shows_first(reply, selected(shop_db, "producto LIKE 'Aud%' AND precio <"
                                         f" {price_of(shop_db, jbl)}", "precio DESC, id"))


# --- Sizes as bounds: "más de 50 pulgadas", "256 gigas a más", "hasta 128 gb" ---------------

@pytest.mark.parametrize(("questions", "where", "size", "keep"), [
    (("teles de mas de 50 pulgadas",), TVS, inches, lambda n: n > 50),
    (("tendras teles de 55 pulgadas pa arriba?",), TVS, inches, lambda n: n >= 55),
    (("celus de 256 gigas a mas",), PHONES, gigabytes, lambda n: n >= 256),
    (("celus hasta 128 gb",), PHONES, gigabytes, lambda n: n <= 128),
    (("teles de 55 pulgadas a mas", "solo lg"), f"{TVS} AND marca = 'LG'", inches,
     lambda n: n >= 55),
], ids=lambda value: " / ".join(value) if isinstance(value, tuple) else "")
async def test_sizes_as_bounds(shop_db, open_engine, questions, where, size, keep):
    engine = await open_engine(shop_db)
    reply = await ask(engine, *questions)
    rows = query(shop_db, f"SELECT id, producto FROM products WHERE {where} ORDER BY precio, id")
    shows_first(reply, [i for i, name in rows if keep(size(name))])


async def test_a_size_bound_then_the_cheapest(shop_db, open_engine):
    engine = await open_engine(shop_db)
    reply = await ask(engine, "celus hasta 128 gb", "el mas barato")
    rows = query(shop_db, f"SELECT id, producto FROM products WHERE {PHONES}"
                          " ORDER BY precio, id")
    understood(reply)
    assert ids(reply) == [next(i for i, name in rows if gigabytes(name) <= 128)], reply.text


async def test_counting_with_a_size_bound(shop_db, open_engine):
    engine = await open_engine(shop_db)
    reply = await ask(engine, "cuantas teles de mas de 50 pulgadas hay?")
    names = [n for (n,) in query(shop_db, f"SELECT producto FROM products WHERE {TVS}")]
    assert reply.text.startswith(f"Hay {sum(inches(n) > 50 for n in names)} productos"), \
        reply.text


async def test_english_follow_ups_compare_too(shop_db, open_engine):
    engine = await open_engine(shop_db)
    biggest = ranked(shop_db, TVS, inches, True)[0]
    reply = await ask(engine, "the biggest tv", "anything cheaper?")
    shows_first(reply, selected(shop_db, f"{TVS} AND precio < {price_of(shop_db, biggest)}",
                                "precio DESC, id"))
    reply = await ask(engine, "the cheapest phone", "something similar but more expensive?")
    (cheapest, *_) = selected(shop_db, PHONES)
    shows_first(reply, selected(shop_db, f"{PHONES} AND precio > {price_of(shop_db, cheapest)}"))
