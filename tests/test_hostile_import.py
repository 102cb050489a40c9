"""`kratos import` with files a store might really send: one sentence in Spanish, exit 1,
never a traceback nor the csv module's or SQLite's English."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from bot.__main__ import main

HEADER = "nombre,precio,descripcion\n"


def rows(count: int) -> str:
    return "".join(f"Producto {n},{10 + n},Bueno\n" for n in range(count))


#: name -> (file contents, what the one sentence must say)
FILES: dict[str, tuple[str, str]] = {
    "a 5 MB cell on the first row": (
        HEADER + "Foo,10," + "y" * 5_000_000 + "\n", "una celda tiene más de 131,072 caracteres"),
    "a 200 KB cell after thousands of rows": (
        HEADER + rows(3000) + "Foo,10," + "y" * 200_000 + "\n" + rows(10),
        "una celda tiene más de 131,072 caracteres"),
    "a quote never closed": (
        HEADER + 'Foo "grande,10,Bueno\n"Bar,20,' + rows(20_000),
        "revisa que ninguna comilla haya quedado sin cerrar"),
    "10,000 columns": (
        "nombre,precio," + ",".join(f"c{n}" for n in range(10_000)) + "\nFoo,10,"
        + ",".join("x" for _ in range(10_000)) + "\n",
        "tiene más columnas de las 2,000 que admite un catálogo SQLite"),
}


@pytest.mark.parametrize("name", list(FILES))
def test_a_file_past_what_can_be_read_gets_one_spanish_sentence(
    name: str, tmp_path: Path, capsys: pytest.CaptureFixture[str],
) -> None:
    contents, expected = FILES[name]
    source = tmp_path / "productos.csv"
    source.write_text(contents, encoding="utf-8")
    output = tmp_path / "catalog.db"

    code = main(["--env-file", os.devnull, "import", str(source), "--output", str(output)])

    err = capsys.readouterr().err
    assert code == 1
    assert err.startswith("kratos: productos.csv no se") and err.count("\n") == 1
    assert expected in err
    assert "field limit" not in err and "too many" not in err
    assert not output.exists()


def test_a_folder_is_named_as_a_folder(tmp_path: Path, capsys: pytest.CaptureFixture[str]
                                       ) -> None:
    folder = tmp_path / "productos.csv"
    folder.mkdir()

    code = main(["--env-file", os.devnull, "import", str(folder),
                 "--output", str(tmp_path / "catalog.db")])

    assert code == 1
    assert capsys.readouterr().err == (f"kratos: {folder} es una carpeta: indica el archivo de "
                                       "productos que tiene dentro.\n")
