"""Three differently shaped stores, built here, answered in basic mode.

A hardware store's CSV (";" separated, comma decimals, blank brands, Windows-1252), a pharmacy's
XLSX (Sí/No availability, the same generic name from several laboratories) and a bookstore's
own SQLite file (its own table and column names, beside an unrelated table). Each question's
expected answer is computed here with plain SQL on the store's data.
"""

from __future__ import annotations

import hashlib
import sqlite3
import unicodedata
from pathlib import Path
from typing import Any

import openpyxl
import pytest

from bot.catalog.importer import import_catalog
from bot.catalog.reader import CatalogReader
from bot.core.assistant import answer
from bot.core.context import build_context
from bot.core.reply import Conversation, Reply


def column(reply: Reply, name: str) -> list[Any]:
    index = reply.columns.index(name)
    return [row[index] for row in reply.rows]


def query(path: Path, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    with sqlite3.connect(path) as conn:
        return conn.execute(sql, params).fetchall()


# --- A hardware store: CSV with ";" and comma decimals ----------------------------------------

HARDWARE = """\
Código;Descripción;Marca;Familia;Precio Venta;Stock
F-001;Martillo de uña 16 oz;Stanley;Herramientas;S/ 25,90;12
F-002;Martillo de bola 24 oz;Truper;Herramientas;31,50;0
F-003;Taladro percutor 650 W;Bosch;Eléctricos;"S/ 1.299,90";3
F-004;Clavos de 2 pulgadas x 1 kg;;Ferretería;4,50;40
F-005;Cinta métrica 5 m;Truper;Herramientas;12,00;7
F-006;Llave inglesa 10";Stanley;Herramientas;45,00;2
F-007;Tornillos autorroscantes x 100;;Ferretería;8,90;0
F-008;Amoladora angular 4 1/2";Bosch;Eléctricos;289,00;5
F-009;Pintura látex blanco galón;Vencedor;Pinturas;52,90;9
F-010;Sin precio;Truper;Herramientas;;4
"""


@pytest.fixture
def hardware_db(tmp_path: Path) -> Path:
    source = tmp_path / "ferreteria.csv"
    source.write_bytes(HARDWARE.encode("cp1252"))
    output = tmp_path / "ferreteria.db"
    report = import_catalog(source, output, tmp_path / "ferreteria.toml", show_progress=False)
    assert report.loaded == 9 and report.skipped == [(11, "«Sin precio»: sin precio")]
    return output


async def test_hardware_store_prices_are_parsed_from_comma_decimals(hardware_db):
    rows = dict(query(hardware_db, "SELECT codigo, precio_venta FROM products"))
    assert rows["F-003"] == 1299.90 and rows["F-001"] == 25.90 and rows["F-004"] == 4.50
    assert query(hardware_db, "SELECT count(*) FROM products WHERE marca IS NULL") == [(2,)]


async def test_hardware_store_answers(hardware_db, open_engine):
    engine = await open_engine(hardware_db)
    reply = await engine.answer("el producto más caro", [])
    assert column(reply, "name") == [name for (name,) in query(
        hardware_db, "SELECT descripcion FROM products ORDER BY precio_venta DESC LIMIT 1")]
    assert "S/ 1,299.90" in reply.text

    reply = await engine.answer("¿tienen Stanley?", [])
    assert column(reply, "name") == [name for (name,) in query(
        hardware_db, "SELECT descripcion FROM products WHERE marca = 'Stanley' "
                     "ORDER BY precio_venta")]
    assert reply.text.startswith("Sí.")

    reply = await engine.answer("martillos", [])
    assert sorted(column(reply, "name")) == sorted(name for (name,) in query(
        hardware_db, "SELECT descripcion FROM products WHERE descripcion LIKE 'Martillo%'"))

    reply = await engine.answer("¿cuántos productos hay disponibles?", [])
    (expected,) = query(hardware_db, "SELECT count(*) FROM products WHERE stock > 0")[0]
    assert reply.meta["total"] == expected and f"Hay {expected} productos" in reply.text

    reply = await engine.answer("productos de menos de 30 soles", [])
    (expected,) = query(hardware_db, "SELECT count(*) FROM products WHERE precio_venta < 30")[0]
    assert reply.meta["total"] == expected

    reply = await engine.answer("¿qué marcas tienen?", [])
    brands = [b for (b,) in query(hardware_db, "SELECT DISTINCT marca FROM products "
                                                "WHERE marca IS NOT NULL")]
    assert sorted(column(reply, "brand")) == sorted(brands)


async def test_hardware_store_family_words_match_without_accents(hardware_db, open_engine):
    engine = await open_engine(hardware_db)
    reply = await engine.answer("productos electricos", [])
    assert sorted(column(reply, "name")) == sorted(name for (name,) in query(
        hardware_db, "SELECT descripcion FROM products WHERE familia = 'Eléctricos'"))


# --- A pharmacy: XLSX with Sí/No availability --------------------------------------------------

PHARMACY = [
    ("Código", "Medicamento", "Laboratorio", "Presentación", "Categoría", "Precio (S/)",
     "Disponible"),
    ("M001", "Paracetamol 500 mg", "Genfar", "Caja x 100 tabletas", "Analgésicos", 8.5, "Sí"),
    ("M002", "Paracetamol 500 mg", "Portugal", "Caja x 100 tabletas", "Analgésicos", 6.9, "Sí"),
    ("M003", "Paracetamol 500 mg", "Bayer", "Caja x 20 tabletas", "Analgésicos", 12.0, "No"),
    ("M004", "Ibuprofeno 400 mg", "Genfar", "Caja x 50 tabletas", "Analgésicos", 9.9, "Sí"),
    ("M005", "Ibuprofeno 400 mg", "Medifarma", "Caja x 10 tabletas", "Analgésicos", 4.5, "No"),
    ("M006", "Amoxicilina 500 mg", "Portugal", "Caja x 21 cápsulas", "Antibióticos", 15.0,
     "Sí"),
    ("M007", "Loratadina 10 mg", "Medifarma", "Caja x 10 tabletas", "Antialérgicos", 3.5,
     "Sí"),
    ("M008", "Omeprazol 20 mg", "Genfar", "Caja x 30 cápsulas", "Digestivos", 11.0, "No"),
]


@pytest.fixture
def pharmacy_db(tmp_path: Path) -> Path:
    book = openpyxl.Workbook()
    book.active.title = "Notas"
    book.active.append(["Inventario exportado del sistema"])
    sheet = book.create_sheet("Productos")
    for row in PHARMACY:
        sheet.append(row)
    source = tmp_path / "farmacia.xlsx"
    book.save(source)
    output = tmp_path / "farmacia.db"
    report = import_catalog(source, output, tmp_path / "farmacia.toml", sheet="Productos",
                            show_progress=False)
    assert report.loaded == len(PHARMACY) - 1
    assert report.roles["brand"] == "Laboratorio" and report.roles["availability"] == "Disponible"
    return output


async def test_pharmacy_same_generic_across_laboratories(pharmacy_db, open_engine):
    engine = await open_engine(pharmacy_db)
    reply = await engine.answer("el paracetamol más barato", [])
    expected = query(pharmacy_db, "SELECT laboratorio, precio_s FROM products WHERE medicamento "
                                  "LIKE 'Paracetamol%' ORDER BY precio_s LIMIT 1")
    assert list(zip(column(reply, "brand"), column(reply, "price"), strict=True)) == expected
    # The answer tells the laboratories apart, since the names are the same.
    assert "Portugal" in reply.text

    reply = await engine.answer("¿cuántos laboratorios hay?", [])
    ((count,),) = query(pharmacy_db, "SELECT count(DISTINCT laboratorio) FROM products")
    assert f"Hay {count} laboratorios distintos" in reply.text

    reply = await engine.answer("analgésicos disponibles", [])
    assert sorted(column(reply, "sku")) == sorted(code for (code,) in query(
        pharmacy_db, "SELECT codigo FROM products WHERE categoria = 'Analgésicos' "
                     "AND disponible = 'Sí'"))

    reply = await engine.answer("¿tienen Genfar?", [])
    assert sorted(column(reply, "sku")) == sorted(code for (code,) in query(
        pharmacy_db, "SELECT codigo FROM products WHERE laboratorio = 'Genfar'"))
    assert "laboratorio Genfar" in reply.text


async def test_pharmacy_without_units_says_it_has_no_such_data(pharmacy_db, open_engine):
    engine = await open_engine(pharmacy_db)
    reply = await engine.answer("¿cuántas unidades en stock hay?", [])
    assert reply.refused and reply.text.startswith("No tengo ese dato")
    assert reply.rows == []


# --- A bookstore: its own SQLite schema --------------------------------------------------------

BOOKS = [
    ("Cien años de soledad", "Gabriel García Márquez", "Sudamericana", "Novela", 45.5, 3),
    ("El amor en los tiempos del cólera", "Gabriel García Márquez", "Diana", "Novela", 52.0, 0),
    ("Rayuela", "Julio Cortázar", "Alfaguara", "Novela", 39.9, 1),
    ("El principito", "Antoine de Saint-Exupéry", "Salamandra", "Infantil", 25.0, 10),
    ("Ficciones", "Jorge Luis Borges", "Emecé", "Cuento", 33.0, 2),
    ("La ciudad y los perros", "Mario Vargas Llosa", "Alfaguara", "Novela", 49.9, 4),
    ("Los ríos profundos", "José María Arguedas", "Losada", "Novela", 35.0, 0),
]


@pytest.fixture
def bookstore_db(tmp_path: Path) -> Path:
    path = tmp_path / "libreria.db"
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE empleados (nombre TEXT, cargo TEXT, sueldo REAL)")
        conn.execute("INSERT INTO empleados VALUES ('Ana', 'Cajera', 1500)")
        conn.execute("CREATE TABLE libros (titulo TEXT, autor TEXT, editorial TEXT, genero TEXT,"
                     " precio REAL, unidades INTEGER)")
        conn.executemany("INSERT INTO libros VALUES (?, ?, ?, ?, ?, ?)", BOOKS)
    return path


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


async def test_bookstore_answers_from_its_own_schema(bookstore_db, open_engine):
    before = sha256(bookstore_db)
    engine = await open_engine(bookstore_db)

    reply = await engine.answer("el libro más barato", [])
    assert column(reply, "name") == [t for (t,) in query(
        bookstore_db, "SELECT titulo FROM libros ORDER BY precio LIMIT 1")]

    reply = await engine.answer("libros de García Márquez", [])
    assert sorted(column(reply, "name")) == sorted(t for (t,) in query(
        bookstore_db, "SELECT titulo FROM libros WHERE autor = 'Gabriel García Márquez'"))
    assert "autor Gabriel García Márquez" in reply.text

    reply = await engine.answer("¿qué autores tienen?", [])
    assert sorted(column(reply, "brand")) == sorted(a for (a,) in query(
        bookstore_db, "SELECT DISTINCT autor FROM libros"))
    assert reply.text.startswith("Tenemos")
    assert "autores" in reply.text

    reply = await engine.answer("novelas de menos de 50 soles", [])
    ((count,),) = query(bookstore_db, "SELECT count(*) FROM libros WHERE genero = 'Novela' "
                                      "AND precio < 50")
    assert reply.meta["total"] == count

    reply = await engine.answer("¿cuánto stock hay?", [])
    ((units,),) = query(bookstore_db, "SELECT sum(unidades) FROM libros")
    assert f"Hay {units} unidades" in reply.text

    reply = await engine.answer("¿cuántos géneros hay?", [])
    ((genres,),) = query(bookstore_db, "SELECT count(DISTINCT genero) FROM libros")
    assert f"Hay {genres} géneros distintos" in reply.text

    assert sha256(bookstore_db) == before


async def test_bookstore_lacks_colours_and_says_so(bookstore_db, open_engine):
    engine = await open_engine(bookstore_db)
    reply = await engine.answer("libros rojos", [])
    assert reply.refused and reply.text == ("No tengo ese dato: el catálogo de la tienda no "
                                            "registra colores.")


async def test_bookstore_roles_corrected_in_the_notes_file(bookstore_db, open_engine):
    (bookstore_db.with_suffix(".toml")).write_text(
        '[roles]\ntable = "libros"\nbrand = "editorial"\n', encoding="utf-8")
    engine = await open_engine(bookstore_db)
    reply = await engine.answer("¿tienen Alfaguara?", [])
    assert sorted(column(reply, "name")) == sorted(t for (t,) in query(
        bookstore_db, "SELECT titulo FROM libros WHERE editorial = 'Alfaguara'"))
    reply = await engine.answer("¿qué editoriales tienen?", [])
    assert sorted(column(reply, "brand")) == sorted(e for (e,) in query(
        bookstore_db, "SELECT DISTINCT editorial FROM libros"))


# --- Model mode: the prompt presents the store's roles ----------------------------------------

async def test_the_prompt_presents_a_stores_roles_values_and_what_it_lacks(pharmacy_db,
                                                                             bookstore_db):
    from bot.core.prompt import profile_catalog, system_prompt

    reader = await CatalogReader.open(pharmacy_db)
    try:
        profile = await profile_catalog(reader, pharmacy_db.with_suffix(".toml"))
    finally:
        await reader.close()
    prompt = system_prompt(profile)
    assert 'products."laboratorio" = brand (or laboratory, author...)' in prompt
    assert "products.\"disponible\" = availability ('Sí' = disponible, 'No' = agotado)" in prompt
    assert "no column for: units in stock" in prompt and "no tengo ese dato" in prompt
    assert "'Genfar'" in prompt  # the store's own values are listed

    reader = await CatalogReader.open(bookstore_db)
    try:
        profile = await profile_catalog(reader, bookstore_db.with_suffix(".toml"))
    finally:
        await reader.close()
    assert 'libros."autor" = brand' in profile.schema_text
    assert 'libros."unidades" = units in stock' in profile.schema_text


async def test_the_demo_prompt_has_no_roles_block(catalog_db):
    from bot.core.prompt import profile_catalog

    reader = await CatalogReader.open(catalog_db)
    try:
        profile = await profile_catalog(reader, catalog_db.with_suffix(".toml"))
    finally:
        await reader.close()
    assert profile.roles is not None and "Column roles" not in profile.schema_text


async def test_store_values_get_spanish_plurals_accents_and_typos(bookstore_db, open_engine):
    engine = await open_engine(bookstore_db)
    expected = sorted(t for (t,) in query(bookstore_db,
                                          "SELECT titulo FROM libros WHERE genero = 'Novela'"))
    for question in ("novelas", "NOVELA", "nóvelas", "novelsa"):
        reply = await engine.answer(question, [])
        assert reply.meta.get("total") == len(expected), question
    reply = await engine.answer("libros de Cortazr", [])
    assert column(reply, "name") == ["Rayuela"]


# --- Words in a store's own names, whatever their accents and case ------------------------------

SHELF = [
    ("Crónica de una muerte anunciada", "Gabriel García Márquez", "Novela", 38.0),
    ("CRÓNICA DEL PERÚ ANTIGUO", "Pedro Cieza de León", "Historia", 64.0),
    ("ÁRBOL DE LA CIENCIA", "Pío Baroja", "Novela", 29.9),
    ("Cuentos del árbol viejo", "Ana Ruiz", "Infantil", 19.5),
    ("El túnel", "Ernesto Sábato", "Novela", 27.0),
    ("Analgésico natural: guía de plantas", "Rosa Díaz", "Salud", 42.0),
    ("Manual del carpintero", "Luis Soto", "Oficios", 55.0),
]


def folded(text: str) -> str:
    """The test's own folding: no accents, no case."""
    return "".join(c for c in unicodedata.normalize("NFD", text)
                   if not unicodedata.combining(c)).casefold()


@pytest.fixture
def shelf_db(tmp_path: Path) -> Path:
    path = tmp_path / "estante.db"
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE libros (titulo TEXT, autor TEXT, genero TEXT, precio REAL)")
        conn.executemany("INSERT INTO libros VALUES (?, ?, ?, ?)", SHELF)
    return path


@pytest.mark.parametrize("question, word", [
    ("libros de cronica", "cronica"), ("¿tienen algo de CRONICA?", "cronica"),
    ("arbol", "arbol"), ("libros de ÁRBOL", "arbol"), ("tunel", "tunel"),
    ("TÚNEL", "tunel"), ("analgesico", "analgesico"), ("ANALGÉSICO", "analgesico"),
])
async def test_own_sqlite_names_match_without_accents_or_case(shelf_db, open_engine, question,
                                                              word):
    before = sha256(shelf_db)
    engine = await open_engine(shelf_db)
    assert engine.layout.fts_table is None  # a store's own file: no index of KRATOS's
    reply = await engine.answer(question, [])
    expected = sorted(t for (t,) in query(shelf_db, "SELECT titulo FROM libros")
                      if word in folded(t))
    assert expected and sorted(column(reply, "name")) == expected
    assert sha256(shelf_db) == before


# --- Topics a store sells are not off-topic there -----------------------------------------------

async def test_a_pharmacy_answers_about_medicines(pharmacy_db, open_engine):
    # "medicina" is an off-topic subject elsewhere; here it is what the store sells.
    engine = await open_engine(pharmacy_db)
    checks = [
        ("medicina barata", "SELECT codigo FROM products ORDER BY precio_s LIMIT 1"),
        ("¿tienen medicina disponible?",
         "SELECT codigo FROM products WHERE disponible = 'Sí' ORDER BY precio_s LIMIT 5"),
        ("medicina Genfar", "SELECT codigo FROM products WHERE laboratorio = 'Genfar'"),
        ("¿qué medicina tienen?", "SELECT codigo FROM products ORDER BY precio_s LIMIT 5"),
    ]
    for question, sql in checks:
        reply = await engine.answer(question, [])
        assert not reply.refused, question
        assert sorted(column(reply, "sku")) == sorted(c for (c,) in query(pharmacy_db, sql))
    reply = await engine.answer("¿cuántas medicinas tienen?", [])
    ((count,),) = query(pharmacy_db, "SELECT count(*) FROM products")
    assert reply.meta["total"] == count and f"Hay {count} productos" in reply.text


async def test_the_demo_store_still_refuses_doctors_and_medicine(catalog_db, open_engine):
    engine = await open_engine(catalog_db)
    for question in ("¿me recomiendas un médico?", "medicina para el dolor",
                     "¿qué libro me recomiendas?", "¿quién es el mejor doctor?"):
        reply = await engine.answer(question, [])
        assert reply.refused and reply.meta.get("intent") == "offtopic", question


async def test_a_catalog_that_says_nothing_of_stock_lists_no_empty_status(
        tmp_path: Path, make_settings) -> None:
    """Name and price only: each line ends at the price, with no " · " left hanging."""
    settings = make_settings()
    source = tmp_path / "lista.csv"
    source.write_text("Producto;Precio\nCuaderno A4;10,00\nLápiz 2B;1,50\nBorrador;2,00\n",
                      encoding="utf-8")
    import_catalog(source, settings.catalog_db, settings.notes_path, show_progress=False)
    app = await build_context(settings)
    try:
        reply = await answer(app, Conversation.private(1), "productos baratos")
    finally:
        await app.close()
    lines = [line for line in reply.text.splitlines() if "S/" in line]
    assert len(lines) == 3, reply.text
    assert all(line.rstrip().endswith(("S/ 1.50", "S/ 2.00", "S/ 10.00")) for line in lines), \
        reply.text


async def test_a_blank_stock_cell_is_unknown_never_sold_out(tmp_path: Path, make_settings
                                                            ) -> None:
    """A bodega leaves Stock blank for what it does not count: those products are not "agotado"
    (not in a count of sold-out products, not in a "¿tienen…?" answer), only a 0 is."""
    settings = make_settings()
    source = tmp_path / "bodega.csv"
    source.write_text("Producto;Precio;Stock\n"
                      "Pan de molde Bimbo;8,20;\n"
                      "Arroz Costeño 750 g;3,90;\n"
                      "Arroz Paisana 1 kg;4,50;0\n"
                      "Leche Gloria tarro;4,20;30\n"
                      "Leche Ideal Amanecer;3,80;\n", encoding="utf-8")
    report = import_catalog(source, settings.catalog_db, settings.notes_path,
                            show_progress=False)
    assert ("Ojo: 3 productos sin stock anotado (celda vacía en «Stock»): los muestro sin "
            "disponibilidad, ni disponibles ni agotados; escribe 0 en los agotados."
            ) in report.text().splitlines()
    app = await build_context(settings)

    async def ask(user: int, question: str) -> str:
        return (await answer(app, Conversation.private(user), question)).text

    try:
        sold_out = await ask(1, "cuántos productos están agotados?")
        bread = await ask(2, "tienen pan bimbo?")
        rice = await ask(3, "tienen arroz costeño?")
        milk = await ask(4, "tienen leche?")
    finally:
        await app.close()
    assert "Hay 1 producto" in sold_out, sold_out
    for reply in (bread, rice):
        assert "agotado" not in reply and reply.startswith("Sí"), reply
    assert "agotado" not in milk, milk
