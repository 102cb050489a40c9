"""How ``kratos import`` builds a catalog: rows written by a second thread, the full-text index
built beside the role indexes and copied in, prices of a usual batch read at once; and what a
failure in either thread leaves behind (nothing)."""

from __future__ import annotations

import os
import random
import shutil
import sqlite3
import sys
import threading
from pathlib import Path
from typing import Any

import pytest

from bot.__main__ import main
from bot.catalog import importer
from bot.catalog import progress as progress_module
from bot.catalog.importer import ImportRefused, import_catalog
from bot.catalog.roles import price_reader

_FAMILIES = ("Eléctricos", "Ferretería", "Gasfitería", "Pinturas")
_BRANDS = ("Stanley", "", "Truper", "Bosch", "Pavco")


def _soles(amount: float) -> str:
    whole, cents = f"{amount:,.2f}".split(".")
    return f"S/ {whole.replace(',', '.')},{cents}"


def _store_csv(path: Path, count: int) -> list[tuple[str, str, str, float]]:
    """A hardware store's export of ``count`` rows; the (name, brand, family, price) written."""
    rand = random.Random(18)
    written = []
    lines = ["Código;Descripción;Marca;Familia;Precio Venta;Stock"]
    for n in range(count):
        name = f"Tubería de {rand.choice(('cobre', 'PVC', 'acero'))} n.º {n}"
        brand, family = _BRANDS[n % 5], _FAMILIES[n % 4]
        cents = rand.randint(0, 400_000)
        lines.append(f"F-{n:06d};{name};{brand};{family};{_soles(cents / 100)};{n % 7}")
        written.append((name, brand, family, cents / 100))
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return written


def _rows(path: Path, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    conn = sqlite3.connect(path)
    try:
        return conn.execute(sql, params).fetchall()
    finally:
        conn.close()


def _leftovers(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir()
                  if p.name.startswith(".") or p.name.endswith(("-wal", "-shm", "-journal")))


# --- the catalog built ------------------------------------------------------------------------

def test_many_batches_load_in_file_order_with_an_index_equal_to_one_built_in_place(tmp_path):
    count = 3 * importer.BATCH_ROWS + 123  # several batches through the writer's queue
    written = _store_csv(tmp_path / "store.csv", count)
    interval = sys.getswitchinterval()
    report = import_catalog(tmp_path / "store.csv", tmp_path / "catalog.db",
                            tmp_path / "catalog.toml", show_progress=False)
    db = tmp_path / "catalog.db"
    assert report.loaded == count and sys.getswitchinterval() == interval
    stored = _rows(db, "SELECT id, descripcion, marca, familia, precio_venta FROM products "
                       "ORDER BY id")
    assert stored == [(n + 1, name, brand or None, family, price)
                      for n, (name, brand, family, price) in enumerate(written)]
    # One file, back in rollback-journal mode, nothing left beside it.
    assert _rows(db, "PRAGMA journal_mode") == [("delete",)]
    assert _leftovers(tmp_path) == []
    # FTS5's own check (rank 1: against the content table) compares the index with the rows;
    # it fails when they differ.
    check = "INSERT INTO products_fts (products_fts, rank) VALUES ('integrity-check', 1)"
    _rows(db, check)
    damaged = tmp_path / "damaged.db"
    shutil.copy(db, damaged)
    conn = sqlite3.connect(damaged)
    with conn:
        conn.execute("UPDATE products SET descripcion = 'otra cosa' WHERE id = 2")
    with pytest.raises(sqlite3.DatabaseError):
        conn.execute(check)
    conn.close()
    # The same index built in place by FTS5's 'rebuild' finds the same rows for every word.
    rebuilt = tmp_path / "rebuilt.db"
    shutil.copy(db, rebuilt)
    conn = sqlite3.connect(rebuilt)
    with conn:
        conn.execute("INSERT INTO products_fts (products_fts) VALUES ('rebuild')")
    conn.close()
    for words in ("tuberia", "TUBERÍA cobre", "ferreteria", "electricos", "stanley pvc",
                  "gasfiteria acero", '"n.º 7"', '"de acero"'):
        query = "SELECT rowid FROM products_fts WHERE products_fts MATCH ? ORDER BY rowid"
        found = _rows(db, query, (words,))
        assert found and found == _rows(rebuilt, query, (words,)), words


def test_rows_of_a_batch_split_across_statements_keep_their_order(tmp_path):
    conn = sqlite3.connect(tmp_path / "rows.db", isolation_level=None,
                           check_same_thread=False)
    conn.execute("CREATE TABLE products (id INTEGER PRIMARY KEY, a, b, c)")
    conn.setlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER, 20)  # 6 rows of 3 per statement
    writer = importer._RowWriter(conn, ["a", "b", "c"])
    assert writer.per_statement == 6
    batch = [[f"a{n}", "" if n % 3 == 0 else f"b{n}", n * 1.5] for n in range(14)]
    writer.start()
    writer.put(batch)
    writer.put(batch[:2])
    writer.put(None)
    writer.join()
    assert writer.error is None
    stored = conn.execute("SELECT id, a, b, c FROM products ORDER BY id").fetchall()
    conn.close()
    expected = [(a, b or None, c) for a, b, c in batch + batch[:2]]
    assert stored == [(n + 1, *row) for n, row in enumerate(expected)]


def test_progress_lines_follow_the_rows_read(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(progress_module, "QUIET_SECONDS", 0.0)
    _store_csv(tmp_path / "store.csv", 2 * importer.BATCH_ROWS + 10)
    code = main(["--env-file", os.devnull, "import", str(tmp_path / "store.csv"),
                 "--output", str(tmp_path / "store.db")])
    assert code == 0
    lines = [line for line in capsys.readouterr().err.splitlines() if line]
    assert lines[-1] == "Importando store.csv: 100%"
    assert all(line.startswith("Importando store.csv: ") for line in lines)


# --- a failure in either thread ---------------------------------------------------------------

def _working_catalog(tmp_path: Path) -> bytes:
    (tmp_path / "good.csv").write_bytes(b"Nombre,Precio\nMesa,100\n")
    assert main(["--env-file", os.devnull, "import", str(tmp_path / "good.csv"),
                 "--output", str(tmp_path / "catalog.db")]) == 0
    return (tmp_path / "catalog.db").read_bytes()


def _import_fails(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> str:
    _store_csv(tmp_path / "store.csv", 2 * importer.BATCH_ROWS)
    capsys.readouterr()
    code = main(["--env-file", os.devnull, "import", str(tmp_path / "store.csv"),
                 "--output", str(tmp_path / "catalog.db")])
    err = capsys.readouterr().err
    assert code == 1 and err.count("\n") == 1 and "Traceback" not in err
    return err


def test_a_failure_writing_rows_leaves_the_working_catalog_and_says_one_sentence(
        tmp_path, monkeypatch, capsys):
    before = _working_catalog(tmp_path)
    # A real SQLite failure inside the row writer: the scratch file may not grow past 8 pages.
    monkeypatch.setattr(importer, "_SCRATCH_PRAGMAS",
                        (*importer._SCRATCH_PRAGMAS, "max_page_count=8"))
    interval = sys.getswitchinterval()
    err = _import_fails(tmp_path, capsys)
    assert err == "kratos: store.csv no se pudo importar (el disco está lleno).\n"
    assert sys.getswitchinterval() == interval  # the interpreter's setting is given back
    assert (tmp_path / "catalog.db").read_bytes() == before
    assert _leftovers(tmp_path) == []


def test_a_failure_building_the_full_text_index_leaves_the_working_catalog(
        tmp_path, monkeypatch, capsys):
    before = _working_catalog(tmp_path)
    # The full-text builder's side file cannot be created: its thread fails, after the rows.
    monkeypatch.setattr(importer, "_side_file", lambda tmp: tmp_path / "missing" / "side.db")
    err = _import_fails(tmp_path, capsys)
    assert err == ("kratos: store.csv no se pudo importar (no puedo escribir el catálogo en esa "
                   "carpeta).\n")
    assert (tmp_path / "catalog.db").read_bytes() == before
    assert _leftovers(tmp_path) == []


def test_a_refused_file_stops_the_row_writer(tmp_path):
    # A CSV error after the first batches (a cell past the csv module's field limit): the
    # writer thread is stopped and joined, nothing is written, no import thread is left.
    lines = ["Nombre,Precio"] + [f"P{n},{n}" for n in range(importer.BATCH_ROWS * 2)]
    lines.append("x" * 200_000 + ",1")
    (tmp_path / "bad.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    with pytest.raises(ImportRefused, match=r"no se pudo importar \(una celda tiene más de"):
        import_catalog(tmp_path / "bad.csv", tmp_path / "catalog.db", tmp_path / "catalog.toml",
                       show_progress=False)
    assert not (tmp_path / "catalog.db").exists() and _leftovers(tmp_path) == []
    assert not [t for t in threading.enumerate() if t.name.startswith("kratos-import")]


# --- prices of a batch read at once -----------------------------------------------------------

_PRICE_CHARACTERS = "0123456789.,  S/s\u00a0-"


@pytest.mark.parametrize("decimal_comma", [True, False])
def test_a_usual_batch_reads_every_price_as_the_column_reader_does(decimal_comma):
    rand = random.Random(7)
    read = price_reader(decimal_comma)
    samples = [_soles(rand.random() * 5000) for _ in range(300)]
    samples += ["S/.25", "s/ 12", "12,50", "1.299", "1,299.90", "7", "0,5", "S/ 1.299,90"]
    samples += ["".join(rand.choice(_PRICE_CHARACTERS) for _ in range(rand.randint(1, 9)))
                for _ in range(20_000)]
    plan = importer._Plan(names=["nombre", "precio"], price=1, name=0, stock=None,
                          decimal_comma=decimal_comma, read_price=read)
    usual = 0
    for value in samples:
        prices = importer._usual_prices(plan, [(2, ["A", value])])
        if prices is not None:
            usual += 1
            assert prices == [read(value)], value
    assert usual > 300  # the shop's own shape and many random ones took the batch path


def _plan(decimal_comma: bool) -> importer._Plan:
    return importer._Plan(names=["nombre", "precio", "marca"], price=1, name=0, stock=None,
                          decimal_comma=decimal_comma, read_price=price_reader(decimal_comma))


@pytest.mark.parametrize("odd", [
    [" S/ 3,50 ", "Marca"],  # spaces around: read row by row
    ["gratis", ""],  # skipped, with its reason
    [12, "Marca"],  # a number cell, as XLSX gives
    ["3,50"],  # a short row
    ["", ""],  # no price
])
def test_a_batch_with_an_unusual_row_gives_what_row_by_row_gives(odd):
    for decimal_comma in (True, False):
        plan = _plan(decimal_comma)
        price = _soles if decimal_comma else "S/ {:.2f}".format
        usual = [(n + 2, [f"Producto {n}", price(n * 1.25), "Marca"]) for n in range(50)]
        chunk = [*usual[:20], (22, ["Raro", *odd]), *usual[20:]]
        skipped_batch: list[tuple[int, str]] = []
        skipped_rows: list[tuple[int, str]] = []
        batch = importer._convert_batch(plan, [(n, list(c)) for n, c in chunk], skipped_batch)
        rows = importer._convert_rows(plan, [(n, list(c)) for n, c in chunk], skipped_rows)
        assert list(batch) == list(rows) and batch.blank == rows.blank
        assert skipped_batch == skipped_rows
        usual_batch = importer._convert_batch(plan, [(n, list(c)) for n, c in usual], [])
        assert importer._usual_prices(plan, usual) is not None
        assert list(usual_batch) == list(importer._convert_rows(
            plan, [(n, list(c)) for n, c in usual], []))
