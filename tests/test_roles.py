"""Column roles from headers (Spanish and English) and values; the notes file corrects them."""

from __future__ import annotations

import sqlite3

import pytest

from bot.catalog.roles import (
    availability_state,
    detect,
    find_roles,
    layout_for,
    parse_price,
    plural,
    role_label,
)


@pytest.mark.parametrize(("headers", "expected"), [
    (["Código", "Descripción", "Marca", "Precio Venta", "Stock"],
     {"sku": "Código", "name": "Descripción", "brand": "Marca", "price": "Precio Venta",
      "stock": "Stock"}),
    (["SKU", "Product Name", "Brand", "Category", "Unit Price", "Qty", "Image URL"],
     {"sku": "SKU", "name": "Product Name", "brand": "Brand", "category": "Category",
      "price": "Unit Price", "stock": "Qty", "image": "Image URL"}),
    (["Medicamento", "Laboratorio", "Presentación", "PVP", "Disponible"],
     {"name": "Medicamento", "brand": "Laboratorio", "size": "Presentación", "price": "PVP",
      "availability": "Disponible"}),
    (["titulo", "autor", "genero", "precio", "unidades"],
     {"name": "titulo", "brand": "autor", "category": "genero", "price": "precio",
      "stock": "unidades"}),
    (["Nombre", "Familia", "Línea", "Talla", "Color", "Precio"],
     {"name": "Nombre", "family": "Familia", "size": "Talla", "color": "Color",
      "price": "Precio"}),
])
def test_headers_in_spanish_and_english(headers, expected):
    sample = {
        "Precio Venta": "S/ 25,90", "Unit Price": "12.50", "PVP": "8.50", "precio": 45.5,
        "Precio": "10", "Stock": "4", "Qty": "7", "unidades": 3, "Disponible": "Sí",
        "Image URL": "https://shop.example/a.jpg",
    }
    row = [sample.get(h, f"texto {h}") for h in headers]
    found = detect(headers, [row, row])
    assert {role: found.columns[role] for role in expected} == expected


def test_values_decide_when_headers_say_nothing():
    headers = ["A", "B", "C"]
    rows = [["Taladro percutor", "S/ 189,90", "https://x.example/1.png"],
            ["Martillo", "S/ 25,00", "https://x.example/2.png"]]
    assert detect(headers, rows).columns == {"name": "A", "price": "B", "image": "C"}


def test_a_header_whose_values_contradict_it_is_not_taken():
    found = detect(["Nombre", "Precio", "Stock"], [["Mesa", "consultar", "2"]] * 3)
    assert "price" not in found.columns
    assert any("«Precio» parece price" in note for note in found.ambiguities)


def test_a_second_candidate_is_reported_as_ambiguous():
    found = detect(["Título", "Autor", "Editorial", "Precio"], [["Rayuela", "Cortázar",
                                                                 "Alfaguara", "39.9"]])
    assert found.columns["brand"] == "Autor"
    assert found.ambiguities == ("«Editorial» también parece brand; uso «Autor».",)


def test_cost_price_is_not_the_sale_price():
    found = detect(["Nombre", "Precio Costo", "Precio Venta"], [["Mesa", "50", "80"]])
    assert found.columns["price"] == "Precio Venta"


@pytest.mark.parametrize(("value", "state"), [
    ("Sí", "disponible"), ("si", "disponible"), ("1", "disponible"), ("En stock", "disponible"),
    ("No", "agotado"), ("AGOTADO", "agotado"), ("0", "agotado"), ("sin stock", "agotado"),
    ("Por llegar", "por llegar"), ("Próximamente", "por llegar"), ("quizás", None),
])
def test_availability_as_shops_write_it(value, state):
    assert availability_state(value) == state


def test_prices_reject_words():
    with pytest.raises(ValueError):
        parse_price("consultar")
    assert parse_price("  ") is None


def test_store_words_for_answers():
    assert [role_label(c) for c in ("genero", "precio_venta", "laboratorio")] == [
        "género", "precio venta", "laboratorio"]
    assert [plural(w) for w in ("autor", "género", "marca", "editorial", "presentación",
                                "luz")] == ["autores", "géneros", "marcas", "editoriales",
                                            "presentaciones", "luces"]


@pytest.fixture
def bookstore(tmp_path):
    path = tmp_path / "libreria.db"
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE empleados (nombre TEXT, cargo TEXT, sueldo REAL)")
        conn.execute("INSERT INTO empleados VALUES ('Ana', 'Cajera', 1500)")
        conn.execute("CREATE TABLE libros (titulo TEXT, autor TEXT, editorial TEXT, "
                     "genero TEXT, precio REAL, unidades INTEGER)")
        conn.execute("INSERT INTO libros VALUES ('Rayuela', 'Julio Cortázar', 'Alfaguara', "
                     "'Novela', 39.9, 2)")
    return path


def test_an_existing_sqlite_catalog_with_its_own_schema(bookstore):
    roles = find_roles(bookstore)
    assert roles is not None and roles.table == "libros"
    assert roles.columns == {"name": "titulo", "price": "precio", "category": "genero",
                             "brand": "autor", "stock": "unidades"}
    layout = layout_for(roles, {})
    assert layout.columns == ("id", "name", "category", "brand", "price", "stock",
                              "availability")
    assert layout.labels["brand"] == "autor" and layout.labels["category"] == "género"
    with sqlite3.connect(bookstore) as conn:
        assert conn.execute(f"SELECT name, brand, availability FROM {layout.source}"
                            ).fetchall() == [("Rayuela", "Julio Cortázar", "disponible")]


def test_the_notes_file_sets_table_and_roles(bookstore, tmp_path):
    notes = tmp_path / "libreria.toml"
    notes.write_text('[roles]\ntable = "libros"\nbrand = "editorial"\nstock = ""\n',
                     encoding="utf-8")
    roles = find_roles(bookstore, notes)
    assert roles is not None and roles.source == "notes"
    assert roles.columns["brand"] == "editorial" and "stock" not in roles.columns
    notes.write_text('[roles]\ntable = "empleados"\n', encoding="utf-8")
    assert find_roles(bookstore, notes) is None


def test_the_demo_catalog_reads_as_itself(demo_catalog_template):
    roles = find_roles(demo_catalog_template)
    assert roles is not None and roles.table == "products"
    layout = layout_for(roles, {"products_fts": ["name", "brand", "category", "family",
                                                 "description"]})
    assert layout.source == "products" and layout.labels == {}
    assert layout.fts_name_columns == ("name", "brand", "category", "family")
