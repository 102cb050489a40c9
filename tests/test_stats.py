"""Usage totals for /stats, from a real (migrated) state database."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import aiosqlite
import pytest

from bot.channels.telegram.format import render
from bot.core.state import open_state
from bot.core.stats import UsageStats, UsageTotals, format_stats, period_starts, usage_stats
from tests.fakes.telegram_server import parse_html

NOW = datetime(2025, 3, 12, 15, 30, tzinfo=UTC)


@pytest.fixture
async def state(tmp_path: Path) -> AsyncIterator[aiosqlite.Connection]:
    """A fresh, migrated state database."""
    conn = await open_state(tmp_path / "state.db")
    try:
        yield conn
    finally:
        await conn.close()


async def add_usage(conn: aiosqlite.Connection, created_at: str, *, user_id: int = 1,
                    outcome: str = "ok", prompt: int = 0, completion: int = 0,
                    calls: int = 0, cached: int = 0) -> None:
    await conn.execute(
        "INSERT INTO usage (conversation, user_id, chat_id, created_at, engine, outcome,"
        " prompt_tokens, completion_tokens, model_calls, cached_tokens)"
        " VALUES (?, ?, ?, ?, 'model', ?, ?, ?, ?, ?)",
        (f"u:{user_id}", user_id, user_id, created_at, outcome, prompt, completion, calls,
         cached),
    )


def test_periods_start_at_midnight_utc_today_and_six_days_before() -> None:
    assert period_starts(NOW) == ("2025-03-12T00:00:00", "2025-03-06T00:00:00")
    lima = datetime(2025, 3, 12, 21, 0).astimezone(UTC)
    assert period_starts(lima)[0] == lima.strftime("%Y-%m-%dT00:00:00")


async def test_an_empty_database_gives_zeros(state: aiosqlite.Connection) -> None:
    stats = await usage_stats(state, now=NOW)
    assert stats == UsageStats(today=UsageTotals(), week=UsageTotals(), known_users=0)


async def test_totals_count_each_period_and_its_boundaries(state: aiosqlite.Connection) -> None:
    await add_usage(state, "2025-03-12T00:00:00.000Z", user_id=1, prompt=100, completion=20,
                    calls=2, cached=64)
    await add_usage(state, "2025-03-12T15:29:59.999Z", user_id=2, outcome="error", calls=1)
    await add_usage(state, "2025-03-12T09:00:00.000Z", user_id=2, outcome="refused")
    await add_usage(state, "2025-03-11T23:59:59.999Z", user_id=3, prompt=1000, completion=300,
                    calls=1, cached=512)
    await add_usage(state, "2025-03-06T00:00:00.000Z", user_id=4, outcome="over_budget")
    await add_usage(state, "2025-03-05T23:59:59.999Z", user_id=5, prompt=9999, outcome="error")
    await state.execute("INSERT INTO users (user_id, username) VALUES (1, 'ana'), (2, NULL)")

    stats = await usage_stats(state, now=NOW)

    assert stats.today == UsageTotals(users=2, questions=3, prompt_tokens=100,
                                      completion_tokens=20, model_calls=3, errors=1, refused=1,
                                      cached_tokens=64)
    assert stats.week == UsageTotals(users=4, questions=5, prompt_tokens=1100,
                                     completion_tokens=320, model_calls=4, errors=1, refused=2,
                                     cached_tokens=576)
    assert stats.week.tokens == 1420
    assert stats.known_users == 2


async def test_rows_written_by_the_schema_default_count_as_today(
    state: aiosqlite.Connection,
) -> None:
    await state.execute(
        "INSERT INTO usage (conversation, user_id, engine, outcome, prompt_tokens)"
        " VALUES ('u:9', 9, 'basic', 'ok', 7)"
    )
    stats = await usage_stats(state)
    assert (stats.today.questions, stats.today.prompt_tokens) == (1, 7)


def test_format_stats_in_spanish_and_english_renders_as_valid_html() -> None:
    stats = UsageStats(
        today=UsageTotals(users=2, questions=3, prompt_tokens=1200, completion_tokens=34,
                          model_calls=5, errors=1, refused=0, cached_tokens=1024),
        week=UsageTotals(users=7, questions=40, prompt_tokens=51000, completion_tokens=4000,
                         model_calls=60, errors=2, refused=3),
        known_users=12,
    )
    spanish = format_stats(stats)
    assert "Hoy (UTC)" in spanish and "Últimos 7 días" in spanish
    assert "• Preguntas: 3" in spanish and "• Preguntas: 40" in spanish
    assert "• Tokens: 1,234 (1,200 entrada + 34 salida; 5 llamadas al modelo)" in spanish
    assert "• Errores: 2" in spanish and "Usuarios registrados: 12" in spanish
    assert "• Tokens de entrada en caché: 1,024" in spanish
    assert "• Tokens de entrada en caché: 0" in spanish
    english = format_stats(stats, "en")
    assert "Last 7 days" in english and "• Tokens: 55,000" in english
    assert "• Input tokens from the cache: 1,024" in english
    [chunk] = render(spanish)
    shown, entities = parse_html(chunk.html)
    assert shown.startswith("Uso de KRATOS\n\nHoy (UTC)\n• Usuarios: 2")
    assert {entity["type"] for entity in entities} == {"bold"}
