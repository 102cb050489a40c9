"""Customers' words stay out of the logs at DEBUG too (LOG_MESSAGES off), whichever command
writes them: `kratos ask` and the console log to a file, and the model's SQL carries the
customer's search words.
"""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import pytest

from bot.__main__ import main
from tests.fakes.openai_server import FakeOpenAI

DNI = "45678912"


@pytest.fixture
def cli_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, catalog_db: Path) -> list[str]:
    """The CLI on a demo catalog copy and a fresh state DB, at DEBUG, with no model."""
    monkeypatch.setenv("CATALOG_DB", str(catalog_db))
    monkeypatch.setenv("STATE_DB", str(tmp_path / "state.db"))
    monkeypatch.setenv("LOG_LEVEL", "DEBUG")
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    monkeypatch.delenv("TELEGRAM_BOT_TOKEN", raising=False)
    monkeypatch.delenv("LOG_MESSAGES", raising=False)
    return ["--env-file", os.devnull]


def test_ask_in_basic_mode_keeps_the_question_out_of_its_log(cli_env: list[str],
                                                              tmp_path: Path) -> None:
    assert main([*cli_env, "ask", f"laptop para mi DNI {DNI}"]) == 0

    log = (tmp_path / "kratos.log").read_text()
    assert "basic query: [hidden: LOG_MESSAGES=off]" in log
    assert DNI not in log


async def test_the_models_sql_stays_out_of_the_log(cli_env: list[str], tmp_path: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    async with FakeOpenAI() as fake:
        fake.tool_call("run_sql", {"query": "SELECT name, price FROM products "
                                            f"WHERE name LIKE '%{DNI}%' LIMIT 3"})
        fake.tool_call("run_sql", {"query": f"DELETE FROM products WHERE name = '{DNI}'"})
        fake.tool_call("run_sql", {"query": f"SELECT nombre FROM products WHERE sku = '{DNI}'"})
        fake.reply("No encontré ese producto.")
        monkeypatch.setenv("OPENAI_API_KEY", fake.api_key)
        monkeypatch.setenv("OPENAI_BASE_URL", fake.base_url)
        assert await asyncio.to_thread(main, [*cli_env, "ask", f"¿tienen el {DNI}?"]) == 0

    log = (tmp_path / "kratos.log").read_text()
    for record in ("catalog query refused (", "catalog query failed after ", "catalog query "):
        assert record in log
    assert DNI not in log



@pytest.mark.parametrize("url", [
    "http://kratos:hunter2-pass@127.0.0.1:9/v1",
    "http://127.0.0.1:9/v1?api-key=hunter2-pass&tier=basic",
    "http://127.0.0.1:9/v1?token=hunter2-pass",
], ids=["user:password@", "?api-key=", "?token="])
def test_credentials_inside_the_endpoint_url_stay_out_of_the_log(
    url: str, cli_env: list[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Nothing listens on port 9: the request fails, and the failure is logged with its URL.
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-key-0123456789")
    monkeypatch.setenv("OPENAI_BASE_URL", url)
    monkeypatch.setenv("OPENAI_MAX_RETRIES", "0")

    assert main([*cli_env, "ask", "laptops baratas"]) == 0

    log = (tmp_path / "kratos.log").read_text()
    assert "model unavailable" in log and "127.0.0.1:9" in log
    assert "hunter2-pass" not in log and "[redacted]" in log
