"""The terminal: `kratos ask`'s own conversation and reset, the console's Ctrl-C, the banner,
and logs kept out of the conversation."""

from __future__ import annotations

import os
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from bot.__main__ import main
from bot.catalog.reader import ColumnInfo, TableInfo
from bot.channels.banner import endpoint_host, startup_banner, telegram_channel
from bot.settings import Settings


@pytest.fixture
def cli_env(tmp_path, monkeypatch, catalog_db):
    """The CLI on a demo catalog copy and a fresh state DB, with no settings file, no model."""
    monkeypatch.setenv("CATALOG_DB", str(catalog_db))
    monkeypatch.setenv("STATE_DB", str(tmp_path / "state.db"))
    for name in ("OPENAI_API_KEY", "OPENAI_BASE_URL", "TELEGRAM_BOT_TOKEN", "LOG_LEVEL"):
        monkeypatch.delenv(name, raising=False)
    return ["--env-file", os.devnull]


@pytest.fixture
def ctrl_c_as_from_a_terminal() -> Iterator[None]:
    """Consoles started here take Ctrl-C as they do started from a terminal.

    A shell without job control starts a background command (``pytest ... &`` in a script)
    with SIGINT ignored, and an ignored signal stays ignored through fork and exec, so the
    console would start with Ctrl-C ignored: Python installs its KeyboardInterrupt handler only
    when SIGINT is not ignored at start-up. A handler here, unlike SIG_IGN, is reset to the
    default action on exec.
    """
    if signal.getsignal(signal.SIGINT) != signal.SIG_IGN:
        yield
        return
    signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN)


def conversations(state_db: Path) -> dict[str, int]:
    """Remembered messages per conversation key."""
    with sqlite3.connect(state_db) as conn:
        return dict(conn.execute("SELECT conversation, count(*) FROM messages GROUP BY 1"))


def console_env(tmp_path: Path, catalog_db: Path, **extra: str) -> dict[str, str]:
    return {**os.environ, "CATALOG_DB": str(catalog_db), "STATE_DB": str(tmp_path / "state.db"),
            "OPENAI_API_KEY": "", "TELEGRAM_BOT_TOKEN": "", "LOG_LEVEL": "INFO", **extra}


# -- kratos ask --------------------------------------------------------------------------------

def test_ask_does_not_continue_the_console_conversation(cli_env, tmp_path, capsys):
    # The console's chat (user 0) was about watches...
    assert main([*cli_env, "ask", "--user", "0", "dame relojes"]) == 0
    assert "Relojes" in capsys.readouterr().out
    # ...and the README's example question is asked on its own.
    assert main([*cli_env, "ask", "¿cuál es el producto más caro?"]) == 0
    out = capsys.readouterr().out
    assert "Relojes" not in out and "Reloj" not in out
    assert conversations(tmp_path / "state.db") == {"u:0": 2, "ask": 2}


def test_ask_remembers_its_own_conversation(cli_env, capsys):
    assert main([*cli_env, "ask", "dame relojes"]) == 0
    capsys.readouterr()
    assert main([*cli_env, "ask", "¿y el más caro?"]) == 0
    assert "Reloj" in capsys.readouterr().out


@pytest.mark.parametrize("how", [["--reset"], ["--new"], ["/reset"], ["/RESET "]])
def test_ask_reset_forgets_only_its_conversation(cli_env, tmp_path, capsys, how):
    assert main([*cli_env, "ask", "dame relojes"]) == 0
    assert main([*cli_env, "ask", "--user", "0", "dame laptops"]) == 0
    capsys.readouterr()
    assert main([*cli_env, "ask", *how]) == 0
    assert capsys.readouterr().out == "Listo, empecemos de nuevo.\n"
    assert conversations(tmp_path / "state.db") == {"u:0": 2}


def test_ask_reset_then_question(cli_env, tmp_path, capsys):
    assert main([*cli_env, "ask", "dame relojes"]) == 0
    capsys.readouterr()
    main([*cli_env, "ask", "--reset", "¿y el más caro?"])
    assert "Reloj" not in capsys.readouterr().out
    assert main([*cli_env, "ask", "--user", "7", "--reset", "dame relojes"]) == 0
    assert conversations(tmp_path / "state.db") == {"ask": 2, "u:7": 2}


def test_ask_without_a_question_explains(cli_env, capsys):
    assert main([*cli_env, "ask"]) == 2
    assert capsys.readouterr().err == ("kratos: escribe la pregunta entre comillas, o usa --reset "
                                       "para olvidar la conversación.\n")


def test_ask_verbose_shows_the_banner_on_stderr(cli_env, catalog_db, capsys):
    assert main([*cli_env, "ask", "--verbose", "dame laptops"]) == 0
    captured = capsys.readouterr()
    assert "KRATOS is starting:" in captured.err
    assert "basic mode (OPENAI_API_KEY is not set)" in captured.err
    assert f"{catalog_db} (products: 500 rows)" in captured.err
    assert "channels: kratos ask" in captured.err
    assert "voice:    off (transcription needs OPENAI_API_KEY)" in captured.err
    assert "KRATOS is starting" not in captured.out and "Laptop" in captured.out


def test_ask_without_verbose_keeps_the_terminal_to_the_answer(cli_env, tmp_path, capsys):
    assert main([*cli_env, "ask", "dame laptops"]) == 0
    captured = capsys.readouterr()
    assert captured.err == ""
    log = (tmp_path / "kratos.log").read_text(encoding="utf-8")
    assert "KRATOS" not in captured.out.splitlines()[0] and "answered conversation=ask" in log


def test_a_closed_pipe_is_no_traceback(tmp_path, catalog_db):
    env = console_env(tmp_path, catalog_db)
    done = subprocess.run(
        f"{sys.executable} -m bot --env-file {os.devnull} ask 'dame laptops' | head -c 1",
        shell=True, capture_output=True, text=True, env=env, cwd=tmp_path, timeout=60)
    assert "Traceback" not in done.stderr and "BrokenPipe" not in done.stderr


# -- the console -------------------------------------------------------------------------------

def test_ctrl_c_quits_the_console_at_once(tmp_path, catalog_db, ctrl_c_as_from_a_terminal):
    """Ctrl-C while the console waits for a line: it ends within a second, cleanly."""
    console = subprocess.Popen(
        [sys.executable, "-m", "bot", "--env-file", os.devnull, "console"],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        env=console_env(tmp_path, catalog_db), cwd=tmp_path,
    )
    try:
        seen = b""
        deadline = time.monotonic() + 60
        while "tú › ".encode() not in seen and time.monotonic() < deadline:
            chunk = os.read(console.stdout.fileno(), 4096)
            if not chunk:
                break
            seen += chunk
        assert "tú › ".encode() in seen, seen
        # As a person would: a moment after the prompt, not in the microseconds between the
        # prompt being written and the read starting (where no Python code runs to notice).
        time.sleep(0.5)
        console.send_signal(signal.SIGINT)
        sent = time.monotonic()
        code = console.wait(timeout=10)
        took = time.monotonic() - sent
        err = console.stderr.read().decode()
    finally:
        if console.poll() is None:
            console.kill()
            console.wait()
        console.stdin.close()
        console.stdout.close()
        console.stderr.close()
    assert code == 0
    assert took < 2.0
    assert "Traceback" not in err and "KeyboardInterrupt" not in err


def test_console_logs_go_to_a_file_not_between_answers(tmp_path, catalog_db):
    """A warning (here: the model endpoint refuses connections) stays out of the chat."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed_port = probe.getsockname()[1]
    env = console_env(tmp_path, catalog_db, OPENAI_API_KEY="sk-test", OPENAI_MAX_RETRIES="0",
                      OPENAI_BASE_URL=f"http://127.0.0.1:{closed_port}/v1")
    done = subprocess.run(
        [sys.executable, "-m", "bot", "--env-file", os.devnull, "console"],
        input="dame laptops\n/salir\n", capture_output=True, text=True, env=env, cwd=tmp_path,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert "Laptop" in done.stdout
    for stream in (done.stdout, done.stderr):
        assert "WARNING" not in stream and "model unavailable" not in stream
    log = (tmp_path / "kratos.log").read_text(encoding="utf-8")
    assert "WARNING bot.core.assistant: model unavailable" in log
    # The banner is shown before the chat starts, and names the endpoint's host.
    assert f"model gpt-4.1-mini at 127.0.0.1:{closed_port}" in done.stderr
    assert f"logs:     {tmp_path / 'kratos.log'} at INFO" in done.stderr


def test_console_in_a_folder_it_cannot_write_is_one_sentence(tmp_path, catalog_db):
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("")
    env = console_env(tmp_path, catalog_db, STATE_DB=str(blocker / "state.db"))
    done = subprocess.run(
        [sys.executable, "-m", "bot", "--env-file", os.devnull, "console"],
        input="/salir\n", capture_output=True, text=True, env=env, cwd=tmp_path, timeout=60,
    )
    # The state database cannot be created there either: one sentence, exit 2.
    assert done.returncode == 2
    assert "Traceback" not in done.stderr
    assert done.stderr.startswith("kratos: No puedo crear la carpeta")
    assert done.stderr.count("\n") == 1


# -- the banner --------------------------------------------------------------------------------

TABLES = [
    TableInfo("products", [ColumnInfo("id", "INTEGER")], is_fts=False, row_count=500),
    TableInfo("products_fts", [ColumnInfo("name", "")], is_fts=True, row_count=500),
    TableInfo("categories", [ColumnInfo("id", "INTEGER")], is_fts=False, row_count=12),
]


@pytest.mark.parametrize(
    ("base_url", "host"),
    [("", "api.openai.com"), ("http://localhost:11434/v1", "localhost:11434"),
     ("https://user:pw@llm.example.com/openai/v1", "llm.example.com")],
)
def test_endpoint_host_shows_no_credentials_or_path(base_url, host):
    assert endpoint_host(base_url) == host


def test_banner_in_model_mode_names_model_host_and_voice():
    settings = Settings.from_mapping({
        "OPENAI_API_KEY": "sk-secret-value", "OPENAI_BASE_URL": "https://llm.example.com/v1",
        "OPENAI_MODEL": "qwen2.5", "VOICE_REPLIES": "on", "CATALOG_DB": "/data/catalog.db",
    })
    banner = startup_banner(settings, TABLES, channels="Telegram @shop_bot by polling",
                            logs="stderr at INFO")
    assert banner.splitlines() == [
        "KRATOS is starting:",
        "  engine:   model qwen2.5 at llm.example.com (basic mode if it fails)",
        "  catalog:  /data/catalog.db (products: 500 rows)",
        "  channels: Telegram @shop_bot by polling",
        "  voice:    on (whisper-1, language es; groups: reply; spoken replies on "
        "(gpt-4o-mini-tts))",
        "  logs:     stderr at INFO",
    ]
    assert "sk-secret-value" not in banner


def test_ctrl_c_during_an_answer_quits_at_once(tmp_path, catalog_db,
                                                ctrl_c_as_from_a_terminal):
    """Ctrl-C while the model takes its time: the console ends at once, databases closed."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    model = subprocess.Popen(
        [sys.executable, "-m", "tests.fakes.openai_server", "--port", str(port), "--latency",
         "60"], stdout=subprocess.PIPE, text=True, cwd=Path(__file__).resolve().parent.parent)
    console = None
    try:
        started = model.stdout.readline()
        api_key = started.split("api key '")[1].split("'")[0]
        env = console_env(tmp_path, catalog_db, OPENAI_API_KEY=api_key, OPENAI_MAX_RETRIES="0",
                          OPENAI_BASE_URL=f"http://127.0.0.1:{port}/v1")
        console = subprocess.Popen(
            [sys.executable, "-m", "bot", "--env-file", os.devnull, "console"],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env,
            cwd=tmp_path)
        console.stdin.write(b"dame laptops\n")
        console.stdin.flush()
        log = tmp_path / "kratos.log"
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not (
                log.exists() and "KRATOS is starting" in log.read_text(encoding="utf-8")):
            time.sleep(0.1)
        time.sleep(1.0)  # the question is now with the model, which waits 60 s
        console.send_signal(signal.SIGINT)
        sent = time.monotonic()
        code = console.wait(timeout=15)
        took = time.monotonic() - sent
        err = console.stderr.read().decode()
    finally:
        for process in (console, model):
            if process is not None and process.poll() is None:
                process.kill()
                process.wait()
        if console is not None:
            for stream in (console.stdin, console.stdout, console.stderr):
                stream.close()
        model.stdout.close()
    assert code == 0
    assert took < 3.0
    assert "Traceback" not in err and "Unclosed" not in err


def test_banner_names_the_webhook_channel_without_its_path():
    settings = Settings.from_mapping({
        "WEBHOOK_URL": "https://bot.example.com/telegram-hook-path", "WEBHOOK_PORT": "8080",
        "WEBHOOK_LISTEN": "127.0.0.1"})
    assert telegram_channel(settings, "shop_bot") == (
        "Telegram @shop_bot by webhook bot.example.com, listening on 127.0.0.1:8080")


def test_the_console_greeting_gives_examples_from_the_stores_own_catalog(tmp_path, catalog_db):
    from tests.test_stores import BOOKS

    books = tmp_path / "libreria.db"
    with sqlite3.connect(books) as conn:
        conn.execute("CREATE TABLE libros (titulo TEXT, autor TEXT, editorial TEXT,"
                     " genero TEXT, precio REAL, unidades INTEGER)")
        conn.executemany("INSERT INTO libros VALUES (?, ?, ?, ?, ?, ?)", BOOKS)
    conn.close()
    env = console_env(tmp_path, catalog_db, CATALOG_DB=str(books))
    done = subprocess.run(
        [sys.executable, "-m", "bot", "--env-file", os.devnull, "console"],
        input="/salir\n", capture_output=True, text=True, env=env, cwd=tmp_path, timeout=60)
    assert done.returncode == 0, done.stderr
    greeting = done.stdout.split("Ejemplos: ", 1)[1].splitlines()[0]
    assert "laptop" not in greeting.lower()
    authors = {author for _, author, *_ in BOOKS}
    assert any(f"«¿Tienen algo de {author}?»" in greeting for author in authors), greeting
