"""The `kratos` command line: help for every command, exit codes, and no tracebacks."""

import asyncio
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from bot.__main__ import COMMANDS_HELP, build_parser, main
from tests.fakes.openai_server import FakeOpenAI

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def cli_env(tmp_path, monkeypatch, catalog_db):
    """Run the CLI on a demo catalog copy and a fresh state DB, with no .env and no model."""
    monkeypatch.setenv("CATALOG_DB", str(catalog_db))
    monkeypatch.setenv("STATE_DB", str(tmp_path / "state.db"))
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    monkeypatch.delenv("TELEGRAM_BOT_TOKEN", raising=False)
    return ["--env-file", os.devnull]


def test_help_lists_every_command(capsys):
    with pytest.raises(SystemExit) as exited:
        main(["--help"])
    assert exited.value.code == 0
    out = " ".join(capsys.readouterr().out.split())
    for name, text in COMMANDS_HELP.items():
        assert name in out and text in out


@pytest.mark.parametrize("command", sorted(COMMANDS_HELP))
def test_every_command_has_help(command, capsys):
    with pytest.raises(SystemExit) as exited:
        main([command, "--help"])
    assert exited.value.code == 0
    assert COMMANDS_HELP[command] in " ".join(capsys.readouterr().out.split())


def test_parser_knows_exactly_the_documented_commands():
    parser = build_parser()
    subparsers = next(a for a in parser._actions if a.dest == "command")
    assert set(subparsers.choices) == set(COMMANDS_HELP)


def test_readme_documents_every_command():
    readme = (ROOT / "README.md").read_text()
    for command in COMMANDS_HELP:
        assert f"kratos {command}" in readme, command


def test_ask_answers_from_the_catalog(cli_env, catalog_db, capsys):
    with sqlite3.connect(catalog_db) as conn:
        name = conn.execute("SELECT name FROM products ORDER BY price DESC LIMIT 1").fetchone()[0]
    assert main([*cli_env, "ask", "¿cuál es el producto más caro?"]) == 0
    out = capsys.readouterr().out
    assert name in out
    assert "Modo básico" in out


def test_ask_keeps_memory_per_user(cli_env, tmp_path, capsys):
    assert main([*cli_env, "ask", "dame laptops", "--user", "42"]) == 0
    with sqlite3.connect(tmp_path / "state.db") as conn:
        keys = {r[0] for r in conn.execute("SELECT conversation FROM messages")}
    assert keys == {"u:42"}


def test_refused_question_exits_1(cli_env, capsys):
    assert main([*cli_env, "ask", "¿quién ganó el mundial?"]) == 1
    assert capsys.readouterr().out.strip()


def test_missing_catalog_is_one_sentence_and_exit_2(cli_env, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("CATALOG_DB", str(tmp_path / "nowhere.db"))
    assert main([*cli_env, "ask", "dame laptops"]) == 2
    err = capsys.readouterr().err
    assert "nowhere.db" in err and "kratos seed" in err
    assert "Traceback" not in err


def test_malformed_setting_exits_2(cli_env, monkeypatch, capsys):
    monkeypatch.setenv("ADMIN_USER_IDS", "abc")
    assert main([*cli_env, "migrate"]) == 2
    assert ("ADMIN_USER_IDS debe ser una lista de ids de usuario de Telegram separados por comas; "
            "recibí 'abc'") in capsys.readouterr().err


def test_migrate_reports_and_is_idempotent(cli_env, capsys):
    assert main([*cli_env, "migrate"]) == 0
    assert "apliqué 0001_conversations.sql, 0002_usage_and_context.sql" in capsys.readouterr().out
    assert main([*cli_env, "migrate"]) == 0
    assert "ya estaba al día" in capsys.readouterr().out


def test_corrupt_state_database_exits_2(cli_env, tmp_path, capsys):
    (tmp_path / "state.db").write_bytes(b"garbage" * 1000)
    assert main([*cli_env, "migrate"]) == 2
    assert "no es una base de datos SQLite que pueda usar" in capsys.readouterr().err


def test_run_without_token_explains(cli_env, capsys):
    assert main([*cli_env, "run"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("kratos: No hay ningún canal configurado: pon TELEGRAM_BOT_TOKEN")
    assert "--console-fallback" in err


def test_console_chats_on_the_same_core(tmp_path, catalog_db):
    env = {**os.environ, "CATALOG_DB": str(catalog_db), "STATE_DB": str(tmp_path / "state.db"),
           "OPENAI_API_KEY": "", "TELEGRAM_BOT_TOKEN": ""}
    with sqlite3.connect(catalog_db) as conn:
        cheapest = conn.execute("SELECT name FROM products WHERE category = 'Laptops'"
                                " ORDER BY price LIMIT 1").fetchone()[0]
    done = subprocess.run(
        [sys.executable, "-m", "bot", "--env-file", os.devnull, "console"],
        input="la laptop más barata\n/reset\n/salir\n", capture_output=True, text=True,
        env=env, cwd=tmp_path, timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert cheapest in done.stdout
    assert "empecemos de nuevo" in done.stdout
    assert "Traceback" not in done.stderr


def test_make_run_falls_back_to_the_console(tmp_path, catalog_db):
    env = {**os.environ, "CATALOG_DB": str(catalog_db), "STATE_DB": str(tmp_path / "state.db"),
           "OPENAI_API_KEY": "", "TELEGRAM_BOT_TOKEN": ""}
    done = subprocess.run(
        [sys.executable, "-m", "bot", "--env-file", os.devnull, "run",
         "--console-fallback"],
        input="/salir\n", capture_output=True, text=True, env=env, cwd=tmp_path, timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert "KRATOS" in done.stdout


@pytest.mark.parametrize(
    ("name", "value", "sentence"),
    [
        ("WEBHOOK_PORT", "99999",
         "WEBHOOK_PORT debe ser un puerto TCP de 1 a 65535; recibí 99999."),
        ("TELEGRAM_BOT_TOKEN", "abc", "TELEGRAM_BOT_TOKEN no parece un token de BotFather"),
        ("WEBHOOK_URL", "http://shop.example/hook", "WEBHOOK_URL debe empezar por https://"),
    ],
)
def test_unworkable_setting_is_one_sentence_and_exit_2(cli_env, monkeypatch, capsys, name,
                                                       value, sentence):
    monkeypatch.setenv(name, value)
    assert main([*cli_env, "migrate"]) == 2
    err = capsys.readouterr().err
    assert sentence in err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err


def test_missing_env_file_is_one_sentence_and_exit_2(tmp_path, capsys):
    assert main(["--env-file", str(tmp_path / "prod.env"), "migrate"]) == 2
    assert capsys.readouterr().err == (f"kratos: --env-file {tmp_path / 'prod.env'}: ese archivo "
                                       "no existe.\n")


@pytest.mark.parametrize(("script", "question", "code"), [
    ("greeting", "hola", 0),
    ("decline", "¿quién ganó el mundial?", 1),
])
async def test_ask_with_the_model_exits_by_outcome(cli_env, monkeypatch, capsys, script,
                                                   question, code):
    async with FakeOpenAI() as fake:
        if script == "greeting":
            fake.reply("¡Hola! ¿Qué producto buscas?")
        else:
            fake.tool_call("decline", {"reply": "Solo te ayudo con productos de la tienda."})
        monkeypatch.setenv("OPENAI_API_KEY", fake.api_key)
        monkeypatch.setenv("OPENAI_BASE_URL", fake.base_url)
        assert await asyncio.to_thread(main, [*cli_env, "ask", question]) == code
    out = capsys.readouterr().out
    assert out.strip() in ("¡Hola! ¿Qué producto buscas?",
                           "Solo te ayudo con productos de la tienda.")
