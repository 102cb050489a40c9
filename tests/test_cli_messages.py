"""What the command line says when a store owner gets something wrong: one Spanish sentence on
stderr, the exit code the README gives (0 ok, 1 refused or failed, 2 configuration), and advice
that fits what the owner did. The commands run as the owner runs them: ``python -m bot``."""

from __future__ import annotations

import asyncio
import json
import os
import socket
import sqlite3
import subprocess
import sys
import zipfile
from pathlib import Path

import openpyxl
import pytest

from bot.__main__ import main
from bot.audio.conversion import ffmpeg_executable
from bot.migrations import STATE_MIGRATIONS, migration_files
from tests.conftest import TELEGRAM_TOKEN
from tests.fakes.openai_server import FakeOpenAI
from tests.fakes.telegram_server import FakeTelegram

ROOT = Path(__file__).resolve().parent.parent
CSV = ("nombre;precio;marca;unidad\nMartillo Truper;45.90;Truper;unidad\n"
       "Cemento Sol;32.50;Sol;bolsa\n")


def kratos(*args: str, env: dict[str, str], timeout: float = 60) -> subprocess.CompletedProcess:
    """``python -m bot ARGS`` in a clean environment (no .env, no inherited settings)."""
    base = {"PATH": os.environ.get("PATH", ""), "PYTHONPATH": str(ROOT), "HOME": env["HOME"],
            "LOG_LEVEL": "INFO"}
    return subprocess.run([sys.executable, "-m", "bot", "--env-file", os.devnull, *args],
                          env={**base, **env}, capture_output=True, text=True, timeout=timeout,
                          cwd=env["HOME"])


@pytest.fixture
def home(tmp_path: Path) -> dict[str, str]:
    """Settings pointing every file under ``tmp_path``."""
    return {"HOME": str(tmp_path), "CATALOG_DB": str(tmp_path / "data" / "catalog.db"),
            "STATE_DB": str(tmp_path / "data" / "state.db")}


def one_sentence(err: str) -> str:
    """The single ``kratos: ...`` line of stderr (any log lines aside)."""
    lines = [line for line in err.splitlines() if line.startswith("kratos: ")]
    assert len(lines) == 1, err
    assert "Traceback" not in err
    return lines[0]


def free_port() -> int:
    """A loopback port nothing listens on (bound, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


# --- import ---------------------------------------------------------------------------------


def xlsx(path: Path) -> Path:
    book = openpyxl.Workbook()
    sheet = book.active
    for row in CSV.strip().split("\n"):
        sheet.append([float(c) if c.replace(".", "").isdigit() else c for c in row.split(";")])
    book.save(path)
    return path


def test_an_xlsx_saved_with_an_xls_name_imports(tmp_path: Path, home: dict[str, str]) -> None:
    """openpyxl refuses the name (".xls: use xlrd"); the content is an .xlsx and is read."""
    source = xlsx(tmp_path / "old.xls")
    done = kratos("import", str(source), env=home)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("Importé 2 filas")
    assert "xlrd" not in done.stdout + done.stderr


@pytest.mark.parametrize(("name", "contents"), [
    ("broken.xlsx", {"hola.txt": "no soy una hoja"}),
    ("viejo.xls", {"[Content_Types].xml": "<Types/>", "xl/workbook.xml": "<roto"}),
])
def test_a_zip_that_is_no_workbook_gets_advice_not_library_text(
        name: str, contents: dict[str, str], tmp_path: Path,
        capsys: pytest.CaptureFixture[str]) -> None:
    source = tmp_path / name
    with zipfile.ZipFile(source, "w") as archive:
        for member, text in contents.items():
            archive.writestr(member, text)
    code = main(["--env-file", os.devnull, "import", str(source),
                 "--output", str(tmp_path / "c.db")])
    err = capsys.readouterr().err
    assert code == 1
    assert one_sentence(err) == (f"kratos: {name} no se puede abrir como Excel: ábrelo en tu "
                                 "hoja de cálculo, guárdalo como .xlsx o CSV y vuelve a "
                                 "importarlo.")


def test_broken_json_says_where_in_spanish(tmp_path: Path,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    source = tmp_path / "productos.json"
    source.write_text('[{"nombre": "Martillo", "precio": 45.9},\n {"nombre": }]',
                      encoding="utf-8")
    code = main(["--env-file", os.devnull, "import", str(source),
                 "--output", str(tmp_path / "c.db")])
    line = one_sentence(capsys.readouterr().err)
    assert code == 1
    assert line == ("kratos: productos.json no es un JSON válido: el error está en la línea 2, "
                    "columna 13.")


def foreign_catalog(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE ventas (id INTEGER PRIMARY KEY, total REAL)")
        conn.execute("INSERT INTO ventas (total) VALUES (10)")
    conn.close()
    return path


def test_a_foreign_output_named_with_output_is_not_told_to_use_output(
        tmp_path: Path, home: dict[str, str]) -> None:
    source = tmp_path / "productos.csv"
    source.write_text(CSV, encoding="utf-8")
    other = foreign_catalog(tmp_path / "other.db")
    done = kratos("import", str(source), "--output", str(other), env=home)
    line = one_sentence(done.stderr)
    assert done.returncode == 1
    assert line.startswith(f"kratos: No reemplazo {other}: no es un catálogo que KRATOS haya")
    assert "usa --output" not in line and line.endswith("elige otro nombre de archivo con "
                                                        "--output.")


def test_a_foreign_catalog_db_is_told_about_output(tmp_path: Path, home: dict[str, str],
                                                   capsys: pytest.CaptureFixture[str],
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    source = tmp_path / "productos.csv"
    source.write_text(CSV, encoding="utf-8")
    monkeypatch.setenv("CATALOG_DB", str(foreign_catalog(Path(home["CATALOG_DB"]))))
    code = main(["--env-file", os.devnull, "import", str(source)])
    line = one_sentence(capsys.readouterr().err)
    assert code == 1
    assert "indica otro archivo con --output" in line


def test_an_output_folder_is_named_as_a_folder(tmp_path: Path,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    source = tmp_path / "productos.csv"
    source.write_text(CSV, encoding="utf-8")
    folder = tmp_path / "catalogos"
    folder.mkdir()
    code = main(["--env-file", os.devnull, "import", str(source), "--output", str(folder)])
    line = one_sentence(capsys.readouterr().err)
    assert code == 1
    assert line == (f"kratos: --output {folder} es una carpeta: indica el archivo del catálogo, "
                    f"por ejemplo {folder / 'catalogo.db'}.")


# --- catalog notes (catalog.toml) -----------------------------------------------------------


def imported(tmp_path: Path) -> tuple[Path, Path, Path]:
    """(the product file, the catalog, its notes) after a first import."""
    source = tmp_path / "productos.csv"
    source.write_text(CSV, encoding="utf-8")
    catalog = tmp_path / "shop.db"
    assert main(["--env-file", os.devnull, "import", str(source), "--output", str(catalog)]) == 0
    notes = tmp_path / "shop.toml"
    assert notes.is_file()  # named after the catalog file
    return source, catalog, notes


def set_note(notes: Path, role: str, column: str) -> None:
    lines = notes.read_text(encoding="utf-8").splitlines()
    lines = [f'{role} = "{column}"' if line.startswith(f"{role} = ") else line for line in lines]
    notes.write_text("\n".join(lines) + "\n", encoding="utf-8")


def test_import_reports_a_correction_naming_a_missing_column(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    source, catalog, notes = imported(tmp_path)
    set_note(notes, "name", "nonexistent")
    capsys.readouterr()
    assert main(["--env-file", os.devnull, "import", str(source), "--output", str(catalog)]) == 0
    out = capsys.readouterr().out
    assert ("Ojo: shop.toml decía name = «nonexistent», pero el archivo no tiene esa columna; "
            "usé «nombre» (columnas: nombre, precio, marca, unidad).") in out
    # Dropped on purpose: the notes now hold the role the catalog really uses.
    assert 'name = "nombre"' in notes.read_text(encoding="utf-8")


def test_an_empty_correction_drops_an_optional_role_and_is_kept(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    source, catalog, notes = imported(tmp_path)
    assert 'brand = "marca"' in notes.read_text(encoding="utf-8")
    set_note(notes, "brand", "")
    assert main(["--env-file", os.devnull, "import", str(source), "--output", str(catalog)]) == 0
    out = capsys.readouterr().out
    assert "«marca» → marca\n" in out  # no role any more
    assert '\nbrand = ""\n' in notes.read_text(encoding="utf-8")
    # and stays dropped at the next import
    assert main(["--env-file", os.devnull, "import", str(source), "--output", str(catalog)]) == 0
    assert "«marca» → marca\n" in capsys.readouterr().out


def test_an_empty_name_correction_is_reported(tmp_path: Path,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    source, catalog, notes = imported(tmp_path)
    set_note(notes, "name", "")
    assert main(["--env-file", os.devnull, "import", str(source), "--output", str(catalog)]) == 0
    assert ("Ojo: shop.toml dejaba vacío el rol name (nombre del producto), pero el catálogo lo "
            "necesita; usé «nombre».") in capsys.readouterr().out


def test_ask_says_on_stderr_that_a_correction_names_a_missing_column(
        tmp_path: Path, home: dict[str, str]) -> None:
    _, catalog, notes = imported(tmp_path)
    set_note(notes, "brand", "marcas")
    done = kratos("ask", "martillo", env={**home, "CATALOG_DB": str(catalog)})
    assert done.returncode == 0, done.stderr
    assert one_sentence(done.stderr) == (
        "kratos: shop.toml dice brand = «marcas», pero shop.db no tiene esa columna: uso la que "
        "detecto; corrígelo allí.")
    assert "Martillo Truper" in done.stdout


# --- seed ------------------------------------------------------------------------------------


def test_seed_offers_force_only_for_a_demo_catalog(tmp_path: Path, home: dict[str, str]) -> None:
    demo = kratos("seed", "--count", "30", env=home)
    assert demo.returncode == 0, demo.stderr
    assert demo.stdout.startswith("Creé el catálogo de demostración: 30 productos en ")
    again = kratos("seed", env=home)
    assert again.returncode == 0
    assert "--force reconstruye el catálogo de demostración" in again.stdout

    _, catalog, _ = imported(tmp_path)
    store = {**home, "CATALOG_DB": str(catalog)}
    kept = kratos("seed", env=store)
    assert kept.returncode == 0
    assert kept.stdout == (f"El catálogo {catalog} ya existe; lo dejé como estaba: no es el de "
                           "demostración y puede tener los datos de la tienda.\n")
    assert "--force" not in kept.stdout
    forced = kratos("seed", "--force", env=store)
    assert forced.returncode == 1
    assert one_sentence(forced.stderr).startswith(f"kratos: No reemplazo {catalog}: no es un "
                                                  "catálogo de demostración")


# --- transcribe ------------------------------------------------------------------------------


def sound(path: Path, source: str) -> Path:
    subprocess.run([ffmpeg_executable(), "-hide_banner", "-nostdin", "-loglevel", "error", "-y",
                    "-f", "lavfi", "-i", source, "-t", "3", "-ar", "16000", "-ac", "1",
                    str(path)], check=True, capture_output=True, timeout=60)
    return path


def test_transcribe_says_a_refused_connection_is_refused(tmp_path: Path,
                                                         home: dict[str, str]) -> None:
    tone = sound(tmp_path / "tono.wav", "sine=frequency=440:duration=3")
    url = f"http://127.0.0.1:{free_port()}/v1"
    done = kratos("transcribe", str(tone), env={
        **home, "OPENAI_API_KEY": "sk-fake", "OPENAI_BASE_URL": url, "OPENAI_MAX_RETRIES": "0"})
    assert done.returncode == 1
    assert one_sentence(done.stderr) == (
        f"kratos: No pude transcribir el audio: la conexión a {url} fue rechazada: nada escucha "
        "ahí (¿está en marcha el servidor?).")
    assert "APITimeoutError" not in done.stderr and "timeout" not in done.stderr.lower()
    assert f"connection refused at {url}" in done.stderr  # the warning logged


def test_transcribe_of_silence_says_nothing_was_heard(tmp_path: Path,
                                                      home: dict[str, str]) -> None:
    silence = sound(tmp_path / "silence.wav", "anullsrc=r=16000:cl=mono")
    done = kratos("transcribe", str(silence), env={
        **home, "OPENAI_API_KEY": "sk-fake", "OPENAI_BASE_URL": f"http://127.0.0.1:{free_port()}"})
    assert done.returncode == 1
    assert done.stdout == ""
    assert one_sentence(done.stderr) == ("kratos: No escuché a nadie hablar en el audio: solo "
                                         "hay silencio, ruido o sonidos sin palabras.")


async def test_transcribe_of_a_tone_the_server_hears_no_speech_in(
        tmp_path: Path, openai: FakeOpenAI, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    """Loud enough to be uploaded; Whisper invents its usual line and marks it as no speech."""
    tone = sound(tmp_path / "tono.wav", "sine=frequency=440:duration=3")
    openai.transcription("Subtítulos realizados por la comunidad de Amara.org",
                         segments=[("Subtítulos realizados por la comunidad de Amara.org",
                                    0.92, -1.4)])
    for name, value in {"OPENAI_API_KEY": openai.api_key, "OPENAI_BASE_URL": openai.base_url,
                        "CATALOG_DB": str(tmp_path / "none.db")}.items():
        monkeypatch.setenv(name, value)
    code = await asyncio.to_thread(main, ["--env-file", os.devnull, "transcribe", str(tone)])
    out, err = capsys.readouterr()
    assert len(openai.transcription_requests) == 1
    assert code == 1 and out == ""
    assert one_sentence(err).startswith("kratos: No escuché a nadie hablar en el audio")


def test_transcribe_of_a_folder_says_it_is_a_folder(tmp_path: Path,
                                                    capsys: pytest.CaptureFixture[str],
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-fake")
    code = main(["--env-file", os.devnull, "transcribe", str(tmp_path)])
    assert code == 1
    assert one_sentence(capsys.readouterr().err) == (
        f"kratos: {tmp_path} es una carpeta: indica el archivo de audio o video que tiene "
        "dentro.")


def test_transcribe_of_a_missing_file_says_so_before_asking_for_a_key(
        home: dict[str, str]) -> None:
    """No OPENAI_API_KEY and a mistyped file name: the file is what to fix first."""
    done = kratos("transcribe", "nota_de_voz.ogg", env=home)
    assert done.returncode == 1, done.stderr
    assert "nota_de_voz.ogg" in one_sentence(done.stderr)
    assert "OPENAI_API_KEY" not in done.stderr


# --- ask, run, eval --------------------------------------------------------------------------


def test_a_question_too_long_is_refused_with_exit_1(home: dict[str, str]) -> None:
    assert kratos("seed", "--count", "30", env=home).returncode == 0
    done = kratos("ask", "a" * 5000, env=home)
    assert done.returncode == 1
    assert done.stdout == ("Tu mensaje es muy largo: escríbeme la pregunta en menos de 2000 "
                           "caracteres.\n")


def test_run_without_a_channel_names_every_way_out(home: dict[str, str]) -> None:
    done = kratos("run", env=home)
    assert done.returncode == 2
    line = one_sentence(done.stderr)
    for way in ("TELEGRAM_BOT_TOKEN", "WHATSAPP_ACCESS_TOKEN", "WHATSAPP_PHONE_NUMBER_ID",
                "--console-fallback"):
        assert way in line


def test_eval_with_gold_sql_that_fails_is_a_mistake_in_the_file(
        tmp_path: Path, home: dict[str, str]) -> None:
    questions = tmp_path / "preguntas.jsonl"
    lines = [{"catalog": "demo", "count": 60, "seed": 42},
             {"id": "f01", "kind": "simple", "question": "laptops",
              "gold_sql": "SELECT name FROM products WHERE category = 'Laptops'", "sample": True},
             {"id": "f03", "kind": "simple", "question": "tubo pvc",
              "gold_sql": "SELECT name FROM productos"}]
    questions.write_text("\n".join(json.dumps(line) for line in lines) + "\n", encoding="utf-8")
    done = kratos("eval", str(questions), env=home)
    assert done.returncode == 1
    assert done.stdout == ""
    assert one_sentence(done.stderr) == (
        "kratos: el gold_sql de 1 pregunta falla en el catálogo, según SQLite: f03 (no such "
        "table: productos); corrige el archivo de preguntas.")


# --- one language ----------------------------------------------------------------------------

#: Words of the English sentences these commands used to print; none belongs in Spanish.
ENGLISH = (" must ", " is not ", " cannot ", " got ", " the ", "Refusing", " please", " no such ",
           " needs ", "does not", "Cannot", " set:")


def english_in(line: str) -> list[str]:
    return [word for word in ENGLISH if word in line]


@pytest.mark.parametrize(("args", "env", "code"), [
    (["ask", "hola"], {"SQL_TIMEOUT": "abc"}, 2),
    (["ask", "hola"], {"WEBHOOK_PORT": "99999"}, 2),
    (["ask", "hola"], {"TELEGRAM_BOT_TOKEN": "abc"}, 2),
    (["ask", "hola"], {"OPENAI_BASE_URL": "http://exa mple.com"}, 2),
    (["ask", "hola"], {"ALLOWED_USER_IDS": "ana"}, 2),
    (["ask", "hola"], {"LOG_LEVEL": "LOUD"}, 2),
    (["ask"], {}, 2),
    (["seed", "--count", "0"], {}, 2),
    (["seed", "--count", "10000000000000"], {}, 2),
    (["run"], {}, 2),
    (["run"], {"WHATSAPP_ACCESS_TOKEN": "EAAx"}, 2),
    (["run"], {"TELEGRAM_BOT_TOKEN": "1:x", "WEBHOOK_URL": "https://bot.example/hook"}, 2),
    (["transcribe", "nada.ogg"], {"OPENAI_API_KEY": ""}, 1),
    (["transcribe", "nada.ogg"], {"OPENAI_API_KEY": "sk-fake"}, 1),
    (["eval", "nada.jsonl"], {}, 1),
    (["eval", "--engine", "model"], {"OPENAI_API_KEY": ""}, 2),
    (["import", "nada.csv"], {}, 1),
    (["migrate"], {"STATE_DB": "{tmp}/archivo/state.db"}, 2),
])
def test_every_message_is_one_spanish_sentence(
        args: list[str], env: dict[str, str], code: int, tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "archivo").write_text("no soy una carpeta\n", encoding="utf-8")
    for name in ("OPENAI_API_KEY", "TELEGRAM_BOT_TOKEN", "WHATSAPP_ACCESS_TOKEN", "WEBHOOK_URL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("CATALOG_DB", str(tmp_path / "catalog.db"))
    monkeypatch.setenv("STATE_DB", str(tmp_path / "state.db"))
    for name, value in env.items():
        monkeypatch.setenv(name, value.format(tmp=tmp_path))
    assert main(["--env-file", os.devnull, *args]) == code
    line = one_sentence(capsys.readouterr().err).replace(str(tmp_path), "")
    assert not english_in(line), line


def test_a_bad_settings_file_is_one_spanish_sentence(tmp_path: Path, home: dict[str, str]
                                                     ) -> None:
    settings = tmp_path / "ajustes.env"
    settings.write_bytes("TIENDA=Ñaña\n".encode("latin-1"))
    done = kratos("--env-file", str(settings), "ask", "hola", env=home)
    assert done.returncode == 2
    assert one_sentence(done.stderr) == (f"kratos: No puedo leer el archivo de ajustes {settings}: "
                                         "no es texto UTF-8.")


@pytest.mark.parametrize(("args", "sentence"), [
    (["import"], "kratos: falta el argumento file (`kratos import --help` explica cada opción)."),
    (["seed", "--count", "x"], "kratos: --count debe ser un número entero; recibí 'x' "
                               "(`kratos seed --help` explica cada opción)."),
    (["eval", "--engine", "foo"], "kratos: --engine debe ser uno de: 'model', 'basic'; recibí "
                                  "'foo' (`kratos eval --help` explica cada opción)."),
    (["ask", "hola", "--bogus"], "kratos: no conozco estos argumentos: --bogus (`kratos --help` "
                                 "explica cada opción)."),
    (["seed", "--count"], "kratos: --count necesita un valor (`kratos seed --help` explica cada "
                          "opción)."),
])
def test_a_mistyped_command_line_is_one_spanish_sentence(
        args: list[str], sentence: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as stopped:
        main(["--env-file", os.devnull, *args])
    assert stopped.value.code == 2
    assert capsys.readouterr().err == sentence + "\n"


def test_seed_into_a_folder_says_it_is_a_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("CATALOG_DB", str(tmp_path))
    assert main(["--env-file", os.devnull, "seed"]) == 2
    assert one_sentence(capsys.readouterr().err) == (
        f"kratos: CATALOG_DB {tmp_path} es una carpeta: apunta CATALOG_DB al archivo del "
        f"catálogo, por ejemplo {tmp_path / 'catalog.db'}.")


def test_eval_json_into_a_folder_names_the_option(tmp_path: Path, home: dict[str, str],
                                                  monkeypatch: pytest.MonkeyPatch,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    questions = tmp_path / "preguntas.jsonl"
    questions.write_text(json.dumps({"catalog": "demo", "count": 30, "seed": 1}) + "\n"
                         + json.dumps({"id": "o1", "kind": "offtopic", "question": "¿y el clima?"})
                         + "\n", encoding="utf-8")
    monkeypatch.setenv("STATE_DB", home["STATE_DB"])
    assert main(["--env-file", os.devnull, "eval", str(questions), "--json", str(tmp_path)]) == 1
    assert one_sentence(capsys.readouterr().err) == (
        f"kratos: no pude escribir --json {tmp_path} (es una carpeta).")


# --- CATALOG_DB that cannot be used ----------------------------------------------------------

#: What a store owner without a catalog is told they can do.
NO_CATALOG_YET = ("`kratos seed` crea el catálogo de demostración y `kratos import ARCHIVO` carga "
                  "el de tu tienda desde su planilla; o apunta CATALOG_DB al archivo SQLite de tu "
                  "tienda.")


@pytest.mark.parametrize("command", [["ask", "¿tienen martillos?"], ["sql", "SELECT 1"]])
def test_a_first_run_without_a_catalog_says_how_to_make_one(
        command: list[str], home: dict[str, str]) -> None:
    done = kratos(*command, env=home)
    assert done.returncode == 2
    assert done.stdout == ""
    assert one_sentence(done.stderr) == (f"kratos: CATALOG_DB {home['CATALOG_DB']} no existe: "
                                         + NO_CATALOG_YET)


def test_a_catalog_db_folder_is_named_as_a_folder(tmp_path: Path, home: dict[str, str]) -> None:
    folder = tmp_path / "tienda"
    folder.mkdir()
    done = kratos("ask", "hola", env={**home, "CATALOG_DB": str(folder)})
    assert done.returncode == 2
    assert one_sentence(done.stderr) == (
        f"kratos: CATALOG_DB {folder} es una carpeta: apunta CATALOG_DB al archivo del catálogo, "
        f"por ejemplo {folder / 'catalog.db'}.")


def test_a_product_file_as_catalog_db_is_told_about_import(tmp_path: Path,
                                                           home: dict[str, str]) -> None:
    """The usual first-run slip: CATALOG_DB pointed at the store's CSV, not at a catalog."""
    source = tmp_path / "productos.csv"
    source.write_text(CSV * 40, encoding="utf-8")
    done = kratos("sql", "SELECT 1", env={**home, "CATALOG_DB": str(source)})
    assert done.returncode == 2
    assert one_sentence(done.stderr) == (
        f"kratos: CATALOG_DB {source} no es una base de datos SQLite, o está dañado: apunta "
        "CATALOG_DB al archivo del catálogo; una planilla (CSV, Excel, JSON) se carga con "
        "`kratos import ARCHIVO`.")


def test_an_empty_catalog_file_has_no_tables(tmp_path: Path, home: dict[str, str]) -> None:
    empty = tmp_path / "catalog.db"
    empty.write_bytes(b"")
    done = kratos("ask", "hola", env={**home, "CATALOG_DB": str(empty)})
    assert done.returncode == 2
    assert one_sentence(done.stderr) == f"kratos: CATALOG_DB {empty} no tiene tablas: " \
                                        + NO_CATALOG_YET


def test_a_catalog_sqlite_cannot_open_says_why_in_spanish(tmp_path: Path,
                                                          home: dict[str, str]) -> None:
    """A socket (what a mistyped path to a running service may name) is no file SQLite opens."""
    path = tmp_path / "catalog.sock"
    with socket.socket(socket.AF_UNIX) as listening:
        listening.bind(str(path))
        done = kratos("ask", "hola", env={**home, "CATALOG_DB": str(path)})
    assert done.returncode == 2
    assert one_sentence(done.stderr) == (f"kratos: No puedo abrir CATALOG_DB {path}: no es un "
                                         "archivo que SQLite pueda abrir.")


def unprivileged(command: list[str]) -> list[str]:
    """``command`` run without the power to read every file: root keeps its user id but loses
    its capabilities in a new user namespace, so a file's permission bits apply to it."""
    return ["unshare", "--user", *command] if os.geteuid() == 0 else command


def _can_drop_root() -> bool:
    """Whether ``unprivileged`` works here: not root, or user namespaces allowed."""
    if os.geteuid() != 0:
        return True
    try:
        return subprocess.run(["unshare", "--user", "true"], capture_output=True,
                              timeout=10).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


@pytest.mark.skipif(not _can_drop_root(), reason="run as root where user namespaces are not "
                    "allowed: no way to make a file unreadable to this user")
def test_a_catalog_this_user_cannot_read_is_said_in_spanish(
        catalog_db: Path, home: dict[str, str]) -> None:
    catalog_db.chmod(0)
    try:
        done = subprocess.run(
            unprivileged([sys.executable, "-m", "bot", "--env-file", os.devnull, "ask", "hola"]),
            env={"PATH": os.environ.get("PATH", ""), "PYTHONPATH": str(ROOT), **home,
                 "CATALOG_DB": str(catalog_db)},
            capture_output=True, text=True, timeout=60, cwd=home["HOME"])
    finally:
        catalog_db.chmod(0o644)
    assert done.returncode == 2, done.stderr
    assert one_sentence(done.stderr) == (
        f"kratos: No puedo leer CATALOG_DB {catalog_db}: este usuario no tiene permiso; revisa "
        "los permisos del archivo.")


# --- kratos sql ------------------------------------------------------------------------------


@pytest.fixture
def demo(catalog_db: Path, home: dict[str, str]) -> dict[str, str]:
    """Settings with the demo catalog (500 products) as CATALOG_DB."""
    return {**home, "CATALOG_DB": str(catalog_db)}


@pytest.mark.parametrize(("statement", "sentence"), [
    ("DELETE FROM products", "Solo se permiten consultas SELECT, no DELETE."),
    ("SELECT * FROM productos", "El catálogo no tiene la tabla productos; sus tablas son: "
                                "product_summary, products, products_fts."),
    ("SELECT name FROM products; DROP TABLE products",
     "Solo se permite una sentencia: escribe un único SELECT, sin otra después del «;»."),
    ("SELECT printf('%d', price) FROM products",
     "La función printf() no está permitida; usa funciones comunes como lower, length, substr, "
     "round, coalesce, count, sum, avg, min, max o strftime."),
    ("SELECT name FROM products WHERE price >",
     "No es SQL válido de SQLite: hay un error de sintaxis en la línea 1, columna 39, cerca de "
     "«>»."),
    ("SELECT name FROM products WHERE name = 'martillo", "No es SQL válido de SQLite: revisa las "
                                                        "comillas y los paréntesis que quedaron "
                                                        "sin cerrar."),
    ("SELEC name FROM products", "No es SQL válido de SQLite: «SELEC» (línea 1, columna 1) "
                                 "parece SELECT mal escrito."),
    ("SELECT name FROM products\nORDR BY price", "No es SQL válido de SQLite: «ORDR» (línea 2, "
                                                "columna 1) parece ORDER mal escrito."),
    ("   ", "La consulta está vacía: escribe una consulta SELECT."),
    ("martillos", "Eso no es una consulta SQL: escribe una consulta SELECT."),
    ("SELECT * FROM main.sqlite_master", "El catálogo no tiene la tabla sqlite_master; sus tablas "
                                         "son: product_summary, products, products_fts."),
    ("PRAGMA query_only=0", "Solo se permiten consultas SELECT, no PRAGMA."),
])
def test_kratos_sql_refusals_are_said_in_spanish(statement: str, sentence: str,
                                                 demo: dict[str, str]) -> None:
    done = kratos("sql", statement, env=demo)
    assert done.returncode == 1
    assert done.stdout == ""
    line = one_sentence(done.stderr)
    assert line == f"kratos: {sentence}"
    assert not english_in(line), line


@pytest.mark.parametrize(("statement", "sentence"), [
    ("SELECT nombre FROM products", "No hay ninguna columna nombre en las tablas de la consulta."),
    ("SELECT p.precio FROM products p", "No hay ninguna columna p.precio en las tablas de la "
                                        "consulta."),
    ("SELECT name FROM products WHERE count(*) > 1",
     "La función count() no puede usarse ahí: las funciones de grupo (count, sum, max…) y de "
     "ventana no van en WHERE ni dentro de otra de grupo."),
    ("SELECT id FROM products a JOIN products b ON a.id = b.id",
     "La columna id está en más de una tabla de la consulta: escribe tabla.id."),
    ("SELECT name FROM products WHERE name GLOB '" + "*a" * 30 + "'",
     "El patrón de LIKE o GLOB es demasiado largo (como máximo 50 caracteres)."),
    ("SELECT round(price, 1, 2) FROM products", "La función round() no acepta esa cantidad de "
                                                "argumentos."),
])
def test_kratos_sql_failures_name_what_is_wrong_in_spanish(statement: str, sentence: str,
                                                           demo: dict[str, str]) -> None:
    done = kratos("sql", statement, env=demo)
    assert done.returncode == 1
    line = one_sentence(done.stderr)
    assert line == f"kratos: {sentence}"
    assert not english_in(line), line


def test_kratos_sql_too_slow_says_when_it_stopped(demo: dict[str, str]) -> None:
    forever = "WITH RECURSIVE r(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM r) SELECT max(n) FROM r"
    done = kratos("sql", forever, env={**demo, "SQL_TIMEOUT": "0.3"})
    assert done.returncode == 1
    line = one_sentence(done.stderr)
    assert line.startswith("kratos: La consulta tardó demasiado y la detuve a los 0.")
    assert line.endswith(" s: evita los cruces de tablas sin condición y las CTE recursivas sin "
                         "fin, filtra antes, o busca texto con products_fts MATCH.")
    assert "too slow" not in done.stderr


@pytest.mark.parametrize(("statement", "max_rows", "footer"), [
    ("SELECT id FROM products", "5", "(se muestran 5 de 500 filas)"),
    ("SELECT id FROM products WHERE id = 1", "5", "(1 fila)"),
    ("SELECT id FROM products WHERE id = 0", "5", "(0 filas)"),
    ("WITH RECURSIVE r(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM r) SELECT n FROM r", "3",
     "(se muestran las primeras 3 filas; hay más)"),
])
def test_kratos_sql_says_how_many_rows_in_spanish(statement: str, max_rows: str, footer: str,
                                                  demo: dict[str, str]) -> None:
    done = kratos("sql", statement, env={**demo, "SQL_MAX_ROWS": max_rows, "SQL_TIMEOUT": "0.3"})
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[-1] == footer


# --- kratos migrate and STATE_DB -------------------------------------------------------------


def test_kratos_migrate_reports_in_spanish(tmp_path: Path, home: dict[str, str]) -> None:
    """Each database on its line: what was applied, or that it was up to date; a store's own
    catalog is left alone, and a missing one gets the two ways to make one."""
    state = home["STATE_DB"]
    first = kratos("migrate", env=home)
    assert first.returncode == 0, first.stderr
    names = ", ".join(path.name for path in migration_files(STATE_MIGRATIONS))
    assert first.stdout == (
        f"STATE_DB {state}: apliqué {names}.\n"
        f"Todavía no hay catálogo en {home['CATALOG_DB']}: `kratos seed` crea el de demostración "
        "y `kratos import ARCHIVO` carga el de tu tienda.\n")

    assert kratos("seed", "--count", "20", env=home).returncode == 0
    again = kratos("migrate", env=home)
    assert again.stdout == (f"STATE_DB {state}: ya estaba al día.\n"
                            f"Catálogo de demostración {home['CATALOG_DB']}: ya estaba al día.\n")

    _, catalog, _ = imported(tmp_path)
    store = kratos("migrate", env={**home, "CATALOG_DB": str(catalog)})
    assert store.stdout.splitlines()[-1] == (f"El catálogo {catalog} es el de la tienda: no lo "
                                             "toqué.")


def test_a_state_db_another_program_holds_is_said_in_spanish(catalog_db: Path,
                                                             home: dict[str, str]) -> None:
    """Another program (a database browser) in the middle of reading STATE_DB: KRATOS cannot
    switch it to WAL within SQLite's 5 s wait."""
    env = {**home, "CATALOG_DB": str(catalog_db)}
    assert kratos("migrate", env=env).returncode == 0
    holder = sqlite3.connect(home["STATE_DB"], isolation_level=None)
    try:
        holder.execute("BEGIN")
        holder.execute("SELECT count(*) FROM schema_migrations").fetchall()
        done = kratos("ask", "hola", env=env)
    finally:
        holder.close()
    assert done.returncode == 2
    assert one_sentence(done.stderr) == (f"kratos: No puedo abrir STATE_DB {home['STATE_DB']}: "
                                         "otro programa lo tiene bloqueado.")


# --- kratos run and Telegram -----------------------------------------------------------------


def test_run_with_the_bot_api_out_of_reach_says_so_in_spanish(catalog_db: Path,
                                                              home: dict[str, str]) -> None:
    root = f"http://127.0.0.1:{free_port()}"
    done = kratos("run", env={**home, "CATALOG_DB": str(catalog_db),
                              "TELEGRAM_BOT_TOKEN": TELEGRAM_TOKEN,
                              "TELEGRAM_API_BASE_URL": root})
    assert done.returncode == 1
    assert one_sentence(done.stderr) == (
        f"kratos: No pude usar la Bot API de Telegram en {root}: no pude conectarme; revisa la "
        "conexión a internet de este equipo (o TELEGRAM_API_BASE_URL) y vuelve a intentarlo.")
    assert f"cannot reach the Telegram Bot API at {root}" in done.stderr  # the cause, logged


async def test_run_with_a_token_telegram_refuses_says_so_in_spanish(
        catalog_db: Path, home: dict[str, str], telegram: FakeTelegram) -> None:
    done = await asyncio.to_thread(kratos, "run", env={
        **home, "CATALOG_DB": str(catalog_db), "TELEGRAM_BOT_TOKEN": "999:WRONG",
        "TELEGRAM_API_BASE_URL": telegram.root})
    assert done.returncode == 2
    assert one_sentence(done.stderr) == ("kratos: Telegram rechazó TELEGRAM_BOT_TOKEN: revísalo "
                                         "con @BotFather (/mybots → tu bot → API Token).")
