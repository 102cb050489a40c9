"""``kratos import``: formats, encodings, prices, the report, unusable files, atomic writes."""

from __future__ import annotations

import codecs
import json
import os
import sqlite3
import struct
from pathlib import Path
from typing import Any

import openpyxl
import pytest

from bot.__main__ import main
from bot.catalog.importer import ImportRefused, import_catalog, is_imported_catalog
from bot.catalog.roles import find_roles


def rows(path: Path, sql: str) -> list[tuple[Any, ...]]:
    with sqlite3.connect(path) as conn:
        return conn.execute(sql).fetchall()


def load(tmp_path: Path, name: str, content: bytes, **kwargs: Any):
    source = tmp_path / name
    source.write_bytes(content)
    return import_catalog(source, tmp_path / "catalog.db", tmp_path / "catalog.toml",
                          show_progress=False, **kwargs)


# --- formats and encodings ---------------------------------------------------------------------

@pytest.mark.parametrize(("delimiter", "encoding", "bom"), [
    (",", "utf-8", b""), (";", "utf-8", codecs.BOM_UTF8), ("\t", "cp1252", b""),
    ("|", "latin-1", b""),
])
def test_csv_delimiters_and_encodings(tmp_path, delimiter, encoding, bom):
    lines = [["Nombre", "Precio", "Categoría"], ["Jabón de tocador", "3.50", "Higiene"],
             ["Champú, 400 ml", "12.90", "Higiene"], ["Café molido", "18", "Abarrotes"]]
    text = "\n".join(delimiter.join(f'"{c}"' if delimiter in c or "," in c else c
                                    for c in line) for line in lines) + "\n"
    report = load(tmp_path, "file.csv", bom + text.encode(encoding))
    assert report.loaded == 3
    assert rows(tmp_path / "catalog.db", "SELECT nombre, precio, categoria FROM products") == [
        ("Jabón de tocador", 3.5, "Higiene"), ("Champú, 400 ml", 12.9, "Higiene"),
        ("Café molido", 18.0, "Abarrotes")]


def test_utf16_tab_separated_text_as_excel_saves_it(tmp_path):
    text = "Producto\tPrecio\r\nAzúcar rubia 1 kg\t4,20\r\n"
    report = load(tmp_path, "unicode.txt", codecs.BOM_UTF16_LE + text.encode("utf-16-le"))
    assert report.loaded == 1
    assert rows(tmp_path / "catalog.db", "SELECT producto, precio FROM products") == [
        ("Azúcar rubia 1 kg", 4.2)]


@pytest.mark.parametrize(("written", "value"), [
    ("S/ 1.299,90", 1299.9), ("1,299.90", 1299.9), ("12,50", 12.5), ("S/.25", 25.0),
    ("S/ 45", 45.0), ("PEN 7.5", 7.5), ("1299.9 soles", 1299.9), ("1.299", 1299.0),
])
def test_prices_as_shops_write_them(tmp_path, written, value):
    # Comma decimals elsewhere in the column make "1.299" a thousands mark.
    content = f'Nombre;Precio\nA;"{written}"\nB;"3,50"\nC;"4,10"\n'.encode()
    load(tmp_path, "prices.csv", content)
    assert rows(tmp_path / "catalog.db", "SELECT precio FROM products WHERE nombre = 'A'") == [
        (value,)]


def test_blank_and_bad_prices_are_skipped_with_their_line(tmp_path):
    content = b"Nombre,Precio\nA,10\nB,\nC,gratis\n,5\nD,-3\nE,7.5\n"
    report = load(tmp_path, "skip.csv", content)
    assert report.loaded == 2
    assert report.skipped == [(3, "«B»: sin precio"), (4, "«C»: precio «gratis» no es un monto"),
                              (5, "sin nombre de producto"), (6, "«D»: precio negativo (-3)")]
    text = report.text()
    assert "Omití 4 filas" in text and "línea 4: «C»: precio «gratis» no es un monto" in text


def test_skips_past_the_listed_ones_are_counted_and_blank_rows_are_not_skips(tmp_path):
    good = [f"Producto {n},{n}.5" for n in range(200)]
    bad = [f"Malo {n},gratis" for n in range(25)]
    lines = [line for pair in zip(good, bad, strict=False) for line in pair] + good[25:]
    lines[10:10] = [",", "", " , "]  # two blank rows (not skips), one without a name
    lines.append("Corto")  # a short row: no price
    report = load(tmp_path, "many.csv", ("Nombre,Precio\n" + "\n".join(lines) + "\n").encode())
    assert report.loaded == 200
    assert report.skipped_count == 27 and len(report.skipped) == 20
    assert report.skipped[0] == (3, "«Malo 0»: precio «gratis» no es un monto")
    assert rows(tmp_path / "catalog.db", "SELECT count(*), sum(precio) FROM products") == [
        (200, sum(n + 0.5 for n in range(200)))]


def test_mixed_encodings_load_and_the_report_names_the_lines(tmp_path):
    content = (b"Nombre;Precio\nAceite de oliva;25\n" + "Leche evaporada;3,9\n"
               .encode("cp1252") + "Azúcar;4\n".encode("cp1252") + "Té verde;6\n".encode())
    report = load(tmp_path, "mixed.csv", content)
    assert report.loaded == 4
    names = [n for (n,) in rows(tmp_path / "catalog.db", "SELECT nombre FROM products")]
    assert names == ["Aceite de oliva", "Leche evaporada", "Azúcar", "Té verde"]
    assert any("líneas 4" in note and "Windows-1252" in note for note in report.ambiguities)


def test_lines_across_decoding_blocks_keep_their_numbers_and_text(tmp_path, monkeypatch):
    # Blocks of 64 bytes: every kind of line below falls across or at a block's edge.
    monkeypatch.setattr("bot.catalog.importer.DECODE_BYTES", 64)
    expected = [(f"Artículo número {n} con descripción", float(n)) for n in range(1, 40)]
    lines = [f"{name};{price:g}\n".encode() for name, price in expected]
    lines[20] = f"{expected[20][0]};{expected[20][1]:g}\n".encode("cp1252")
    expected[5] = ("Bolsa\nde dos líneas", 6.0)
    lines[5] = '"Bolsa\nde dos líneas";6\n'.encode()
    expected[9] = ("Caja\rretorno", 10.0)
    lines[9] = b'"Caja\rretorno";10\n'
    report = load(tmp_path, "blocks.csv", codecs.BOM_UTF8 + b"Nombre;Precio\n" + b"".join(lines))
    assert rows(tmp_path / "catalog.db", "SELECT nombre, precio FROM products ORDER BY id") \
        == expected
    # Header is line 1; the recoded row is the 21st product, one line further for the
    # two-line cell.
    assert any("líneas 23" in note and "Windows-1252" in note for note in report.ambiguities)


def test_json_and_json_lines(tmp_path):
    items = [{"name": "Mouse", "price": 39.9, "brand": "Logitech", "tags": ["usb"]},
             {"name": "Teclado", "price": "S/ 89,90", "brand": "Genius"}]
    report = load(tmp_path, "items.json", json.dumps({"products": items}).encode())
    assert report.loaded == 2 and report.roles["brand"] == "brand"
    assert rows(tmp_path / "catalog.db", "SELECT name, price, tags FROM products") == [
        ("Mouse", 39.9, '["usb"]'), ("Teclado", 89.9, None)]
    lines = "\n".join(json.dumps(item) for item in items) + "\n\nnot json\n"
    report = load(tmp_path, "items.jsonl", lines.encode())
    assert report.loaded == 2


def test_xlsx_first_sheet_or_the_named_one(tmp_path):
    book = openpyxl.Workbook()
    book.active.title = "Precios"
    for row in (["SKU", "Artículo", "P. Venta", "Foto"],
                ["A1", "Silla plegable", 59.9, "https://tienda.pe/silla.jpg"]):
        book.active.append(row)
    other = book.create_sheet("Ofertas")
    for row in (["Nombre", "Precio"], ["Mesa", 120], ["Banco", 35]):
        other.append(row)
    book.save(tmp_path / "book.xlsx")
    report = import_catalog(tmp_path / "book.xlsx", tmp_path / "catalog.db",
                            tmp_path / "catalog.toml", show_progress=False)
    assert report.loaded == 1
    assert report.roles == {"name": "Artículo", "price": "P. Venta", "sku": "SKU",
                            "image": "Foto"}
    # The price column's name says it is money, so rows are shown in soles.
    assert report.columns["P. Venta"] == "precio"
    report = import_catalog(tmp_path / "book.xlsx", tmp_path / "catalog.db",
                            tmp_path / "catalog.toml", sheet="Ofertas", show_progress=False)
    assert report.loaded == 2
    with pytest.raises(ImportRefused, match="no tiene la hoja «Stock»; tiene: Precios, Ofertas"):
        import_catalog(tmp_path / "book.xlsx", tmp_path / "catalog.db", tmp_path / "catalog.toml",
                       sheet="Stock", show_progress=False)


# --- what the catalog gets ---------------------------------------------------------------------

def test_catalog_has_accent_folding_search_indexes_and_notes(tmp_path):
    content = "Descripción;Marca;Categoría;Precio\nCámara réflex;Canon;Fotografía;2.499,00\n"
    load(tmp_path, "shop.csv", content.encode())
    db = tmp_path / "catalog.db"
    assert rows(db, "SELECT rowid FROM products_fts WHERE products_fts MATCH 'camara reflex'") \
        == [(1,)]
    indexes = {name for (name,) in rows(db, "SELECT name FROM sqlite_master WHERE type='index'")}
    assert {"products_precio", "products_categoria_precio", "products_marca_precio"} <= indexes
    assert is_imported_catalog(db)
    roles = find_roles(db, tmp_path / "catalog.toml")
    assert roles is not None and roles.columns["name"] == "descripcion"
    notes = (tmp_path / "catalog.toml").read_text(encoding="utf-8")
    assert '[roles]\ntable = "products"\nname = "descripcion"' in notes


def test_notes_corrections_survive_the_next_import(tmp_path):
    content = b"Nombre,Autor,Editorial,Precio\nRayuela,Cortazar,Alfaguara,39.9\n"
    report = load(tmp_path, "books.csv", content)
    assert report.roles["brand"] == "Autor"
    notes = tmp_path / "catalog.toml"
    notes.write_text(notes.read_text(encoding="utf-8").replace('brand = "autor"',
                                                               'brand = "editorial"'))
    report = load(tmp_path, "books.csv", content)
    assert report.roles["brand"] == "Editorial"
    assert 'brand = "editorial"' in notes.read_text(encoding="utf-8")


# --- unusable files: one sentence, exit 1, nothing written -------------------------------------

def _xlsx_declaring(tmp_path: Path, size: int) -> bytes:
    book = openpyxl.Workbook()
    book.active.append(["Nombre", "Precio"])
    book.active.append(["Mesa", 10])
    book.save(tmp_path / "real.xlsx")
    data = bytearray((tmp_path / "real.xlsx").read_bytes())
    central = data.find(b"PK\x01\x02")
    data[central + 24:central + 28] = struct.pack("<I", size)  # uncompressed size
    return bytes(data)


BAD_FILES = [
    ("empty.csv", b"", "está vacío"),
    ("blank.csv", b"\n  \n\n", "no tiene filas"),
    ("noprice.csv", b"Nombre,Marca\nMesa,Ikea\n", "No encontré qué columna tiene el precio"),
    ("junk.bin", bytes(range(256)) * 64, "parece un archivo binario"),
    ("old.xls", b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 512, "Excel antiguo"),
    ("allblank.csv", b"Nombre,Precio\nMesa,\nSilla,\n", "ninguna fila con nombre y precio"),
    ("broken.json", b'[{"name": "Mesa", "price": 1', "no es un JSON válido"),
    ("zip.xlsx", b"PK\x03\x04" + b"\x00" * 64, "dañado"),
]


@pytest.mark.parametrize(("name", "content", "message"), BAD_FILES,
                         ids=[b[0] for b in BAD_FILES])
def test_unusable_files_get_one_sentence_and_exit_1(tmp_path, capsys, name, content, message):
    source = tmp_path / name
    source.write_bytes(content)
    output = tmp_path / "out.db"
    code = main(["--env-file", os.devnull, "import", str(source),
                 "--output", str(output)])
    err = capsys.readouterr().err
    assert code == 1 and message in err
    assert err.count("\n") == 1 and "Traceback" not in err
    assert not output.exists() and not (tmp_path / "out.toml").exists()
    assert list(tmp_path.glob(".*.tmp")) == []


def test_an_xlsx_declaring_2_gb_is_refused_before_reading(tmp_path, capsys):
    source = tmp_path / "bomb.xlsx"
    source.write_bytes(_xlsx_declaring(tmp_path, 2_000_000_000))
    code = main(["--env-file", os.devnull, "import", str(source),
                 "--output", str(tmp_path / "out.db")])
    assert code == 1 and "dice descomprimirse en 1.9 GB" in capsys.readouterr().err
    assert not (tmp_path / "out.db").exists()


def test_a_failed_import_leaves_the_working_catalog_alone(tmp_path):
    load(tmp_path, "good.csv", b"Nombre,Precio\nMesa,100\n")
    before = (tmp_path / "catalog.db").read_bytes()
    with pytest.raises(ImportRefused):
        load(tmp_path, "bad.csv", b"Nombre,Marca\nMesa,Ikea\n")
    assert (tmp_path / "catalog.db").read_bytes() == before


def test_a_stores_own_sqlite_file_is_never_overwritten(tmp_path):
    own = tmp_path / "catalog.db"
    with sqlite3.connect(own) as conn:
        conn.execute("CREATE TABLE libros (titulo TEXT, precio REAL)")
    before = own.read_bytes()
    with pytest.raises(ImportRefused, match="No reemplazo"):
        load(tmp_path, "books.csv", b"Nombre,Precio\nRayuela,39.9\n")
    assert own.read_bytes() == before


def test_cli_prints_the_report(tmp_path, capsys):
    source = tmp_path / "shop.csv"
    source.write_bytes(b"Nombre;Marca;Precio;Stock\nMesa;Ikea;100;2\nSilla;;;1\n")
    code = main(["--env-file", os.devnull, "import", str(source),
                 "--output", str(tmp_path / "shop.db")])
    out = capsys.readouterr().out
    assert code == 0
    assert "Importé 1 fila en" in out and "Omití 1 fila:" in out
    assert "línea 3: «Silla»: sin precio" in out
    assert "«Precio» → precio (precio en soles; price)" in out
    assert "«Marca» → marca (marca; brand)" in out
