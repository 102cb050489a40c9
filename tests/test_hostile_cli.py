"""The command line with odd arguments: bytes that are not UTF-8, ids no database can hold.

Each case runs ``python -m bot`` in a subprocess, so the arguments reach Python as the bytes a
terminal passes, and a hang shows as a timeout instead of stopping the test run.
"""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from contextlib import closing
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def kratos(*args: str | bytes, env: dict[str, str]) -> subprocess.CompletedProcess[bytes]:
    """Run ``python -m bot`` with ``args`` given as raw bytes; at most 60 s."""
    argv = [sys.executable, "-m", "bot", "--env-file", os.devnull,
            *(a if isinstance(a, bytes) else a.encode() for a in args)]
    return subprocess.run(argv, env=env, cwd=ROOT, capture_output=True, timeout=60)


@pytest.fixture
def env(catalog_db: Path, tmp_path: Path) -> dict[str, str]:
    values = {k: v for k, v in os.environ.items()
              if k not in ("OPENAI_API_KEY", "TELEGRAM_BOT_TOKEN")}
    values.update(CATALOG_DB=str(catalog_db), STATE_DB=str(tmp_path / "state.db"),
                  PYTHONPATH=str(ROOT), LC_ALL="C.UTF-8")
    return values


@pytest.mark.parametrize("question", [
    b"laptops \xff baratas",  # a byte that is no UTF-8 at all
    "laptops cami\u00f3n baratas".encode("cp1252"),  # typed in a Windows-1252 terminal
], ids=["stray byte", "windows-1252"])
def test_ask_reads_a_question_that_is_not_utf8(question: bytes, env: dict[str, str]) -> None:
    done = kratos("ask", question, env=env)

    assert done.returncode == 0, done.stderr.decode()
    assert "Laptop" in done.stdout.decode()
    assert b"Traceback" not in done.stderr


def test_the_question_is_stored_as_the_terminal_meant_it(env: dict[str, str],
                                                         tmp_path: Path) -> None:
    kratos("ask", "laptops de cami\u00f3n".encode("cp1252"), env=env)
    with closing(sqlite3.connect(tmp_path / "state.db")) as conn:
        [(stored,)] = conn.execute("SELECT content FROM messages WHERE role = 'user'")
    assert stored == "laptops de cami\u00f3n"


def test_sql_reads_a_statement_that_is_not_utf8(env: dict[str, str]) -> None:
    done = kratos("sql", b"SELECT count(*) AS n FROM products WHERE name = '\xff'", env=env)

    assert done.returncode == 0, done.stderr.decode()
    assert b"Traceback" not in done.stderr
    assert done.stdout.decode().split() == ["n", "-", "0", "(1", "fila)"]


@pytest.mark.parametrize("user", ["1" + "0" * 30, "-1", str(2 ** 63)])
def test_ask_refuses_a_user_id_no_one_can_have(user: str, env: dict[str, str]) -> None:
    done = kratos("ask", "hola", "--user", user, env=env)

    assert done.returncode == 2
    assert done.stdout == b""
    assert b"--user" in done.stderr and b"Traceback" not in done.stderr

