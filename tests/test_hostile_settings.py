"""Settings past what KRATOS can use stop it at start-up with one sentence (exit 2), instead
of a traceback at the first query or request, or a timeout that never ends."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from bot.__main__ import main
from bot.errors import ConfigError
from bot.settings import Settings

HUGE = "9" * 25


@pytest.mark.parametrize(("name", "value", "message"), [
    ("SQL_MAX_ROWS", HUGE, "SQL_MAX_ROWS puede ser como mucho 100,000"),
    ("SQL_CONNECTIONS", "100000", "SQL_CONNECTIONS puede ser como mucho 64"),
    ("SQL_MEMORY_MB", HUGE, "SQL_MEMORY_MB puede ser como mucho 1,048,576"),
    ("DAILY_TOKEN_BUDGET", HUGE, "DAILY_TOKEN_BUDGET puede ser como mucho 2,147,483,647"),
    ("SQL_TIMEOUT", "nan", "SQL_TIMEOUT debe ser un número de segundos de hasta 1,000,000"),
    ("OPENAI_TIMEOUT", "inf", "OPENAI_TIMEOUT debe ser un número de segundos de hasta 1,000,000"),
    ("RATE_LIMIT_WINDOW", "1e300", "RATE_LIMIT_WINDOW debe ser un número de segundos de hasta"),
    ("TELEGRAM_API_BASE_URL", "http://exa mple.com", "TELEGRAM_API_BASE_URL debe ser una URL"),
    ("OPENAI_BASE_URL", "http:///v1", "OPENAI_BASE_URL debe ser una URL como https://host"),
    ("OPENAI_BASE_URL", "https://:8000/v1", "OPENAI_BASE_URL debe ser una URL"),
    ("OPENAI_BASE_URL", "http://127.0.0.1:99999/v1", "OPENAI_BASE_URL debe ser una URL"),
    ("WHATSAPP_API_BASE_URL", "https://graph.facebook.com\t/x", "WHATSAPP_API_BASE_URL debe"),
    ("ADMIN_USER_IDS", "42, 1" + "0" * 30, "ADMIN_USER_IDS debe ser una lista"),
    ("ALLOWED_CHAT_IDS", "-1" + "0" * 30, "ALLOWED_CHAT_IDS debe ser una lista"),
])
def test_a_value_past_what_can_be_used_is_explained(name: str, value: str, message: str
                                                    ) -> None:
    with pytest.raises(ConfigError) as caught:
        Settings.from_mapping({name: value})

    assert str(caught.value).startswith(message)
    assert "\n" not in str(caught.value)


def test_the_command_line_stops_with_exit_2_not_a_traceback(
    catalog_db: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("CATALOG_DB", str(catalog_db))
    monkeypatch.setenv("STATE_DB", str(tmp_path / "state.db"))
    monkeypatch.setenv("SQL_MAX_ROWS", HUGE)

    assert main(["--env-file", os.devnull, "sql", "SELECT 1"]) == 2
    assert capsys.readouterr().err == (f"kratos: SQL_MAX_ROWS puede ser como mucho 100,000; "
                                       f"recibí {HUGE}.\n")
