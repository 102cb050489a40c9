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
from tests.fakes.openai_server import FakeOpenAI

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
    (["transcribe", "nada.ogg"], {"OPENAI_API_KEY": ""}, 2),
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
