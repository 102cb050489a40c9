"""Usage totals for the admins' /stats command, read from the state database's ``usage`` table."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import aiosqlite

logger = logging.getLogger(__name__)

WEEK_DAYS = 7

TOTALS_SQL = """
SELECT
    count(DISTINCT user_id),
    count(*),
    coalesce(sum(prompt_tokens), 0),
    coalesce(sum(completion_tokens), 0),
    coalesce(sum(model_calls), 0),
    coalesce(sum(outcome = 'error'), 0),
    coalesce(sum(outcome IN ('refused', 'over_budget')), 0),
    coalesce(sum(cached_tokens), 0)
FROM usage
WHERE created_at >= ?
"""


@dataclass(frozen=True)
class UsageTotals:
    """What happened in one period."""

    users: int = 0
    questions: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    model_calls: int = 0
    errors: int = 0
    refused: int = 0
    cached_tokens: int = 0  # of prompt_tokens, served from the provider's prompt cache

    @property
    def tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens


@dataclass(frozen=True)
class UsageStats:
    """Today (since midnight UTC) and the last seven days (today and the six before)."""

    today: UsageTotals
    week: UsageTotals
    known_users: int


def period_starts(now: datetime) -> tuple[str, str]:
    """ISO timestamps (UTC) where today and the seven-day period begin.

    ``usage.created_at`` is ISO 8601 in UTC, so comparing text compares time.
    """
    midnight = now.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    week = midnight - timedelta(days=WEEK_DAYS - 1)
    return midnight.strftime("%Y-%m-%dT%H:%M:%S"), week.strftime("%Y-%m-%dT%H:%M:%S")


async def usage_stats(state: aiosqlite.Connection, now: datetime | None = None) -> UsageStats:
    """Totals for today and for the last seven days."""
    today_start, week_start = period_starts(now or datetime.now(UTC))
    today = await _totals(state, today_start)
    week = await _totals(state, week_start)
    cursor = await state.execute("SELECT count(*) FROM users")
    row = await cursor.fetchone()
    return UsageStats(today=today, week=week, known_users=int(row[0]) if row else 0)


async def _totals(state: aiosqlite.Connection, since: str) -> UsageTotals:
    cursor = await state.execute(TOTALS_SQL, (since,))
    row = await cursor.fetchone()
    return UsageTotals(*(int(value) for value in row)) if row else UsageTotals()


LABELS = {
    "es": {
        "title": "Uso de KRATOS", "today": "Hoy (UTC)", "week": "Últimos 7 días",
        "users": "Usuarios", "questions": "Preguntas", "tokens": "Tokens",
        "split": "entrada", "out": "salida", "calls": "llamadas al modelo",
        "errors": "Errores", "refused": "Rechazadas", "known": "Usuarios registrados",
        "cached": "Tokens de entrada en caché",
    },
    "en": {
        "title": "KRATOS usage", "today": "Today (UTC)", "week": "Last 7 days",
        "users": "Users", "questions": "Questions", "tokens": "Tokens",
        "split": "in", "out": "out", "calls": "model calls",
        "errors": "Errors", "refused": "Refused", "known": "Known users",
        "cached": "Input tokens from the cache",
    },
}


def format_stats(stats: UsageStats, language: str = "es") -> str:
    """The /stats message as plain text, short lines that read well on a phone."""
    label = LABELS["en" if language.startswith("en") else "es"]
    lines = [f"**{label['title']}**"]
    for name, totals in (("today", stats.today), ("week", stats.week)):
        lines += [
            "",
            f"**{label[name]}**",
            f"• {label['users']}: {totals.users:,}",
            f"• {label['questions']}: {totals.questions:,}",
            f"• {label['tokens']}: {totals.tokens:,} ({totals.prompt_tokens:,} {label['split']}"
            f" + {totals.completion_tokens:,} {label['out']}; {totals.model_calls:,}"
            f" {label['calls']})",
            f"• {label['errors']}: {totals.errors:,}",
            f"• {label['refused']}: {totals.refused:,}",
            f"• {label['cached']}: {totals.cached_tokens:,}",
        ]
    lines += ["", f"{label['known']}: {stats.known_users:,}"]
    return "\n".join(lines)
