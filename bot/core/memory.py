"""Conversation memory, shared transcripts and usage records in the state database.

Every function takes the aiosqlite connection explicitly. Writes that must land together are
single statements, because tasks share one connection and a multi-statement transaction could
interleave with another task's writes. The statements every answer makes (its history, its
transcript, the exchange, the usage row, the user's last-seen time) are short and indexed: they
go through ``StateConnection``'s quick methods, on the event loop; the writes among them are
queued for the loop's next turn (no answer waits for its own rows). The rest use
``execute_fetchall`` (one trip to the connection's thread instead of two) or ``execute``.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import aiosqlite

from bot.core.reply import Turn
from bot.core.state import StateConnection

logger = logging.getLogger(__name__)

# Roughly four characters per token for Spanish and English text: close enough to budget the
# history sent to the model without shipping a tokenizer's vocabulary files.
CHARS_PER_TOKEN = 4
HISTORY_ROWS_SCANNED = 200


def estimate_tokens(text: str) -> int:
    return len(text) // CHARS_PER_TOKEN + 1


def _iso(moment: datetime) -> str:
    # Same shape as the schema's default: strftime('%Y-%m-%dT%H:%M:%fZ', 'now').
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


async def load_history(
    conn: StateConnection, conversation: str, *, token_budget: int, ttl_days: int
) -> list[Turn]:
    """The most recent turns that fit the token budget, oldest first.

    A conversation idle for longer than ``ttl_days`` is forgotten (and deleted) instead.
    """
    rows = await conn.quick_fetchall(
        "SELECT role, content, meta, created_at FROM messages WHERE conversation = ?"
        " ORDER BY id DESC LIMIT ?",
        (conversation, HISTORY_ROWS_SCANNED),
    )
    if not rows:
        return []
    cutoff = _iso(datetime.now(UTC) - timedelta(days=ttl_days))
    if rows[0]["created_at"] < cutoff:
        await forget(conn, conversation)
        return []
    turns: list[Turn] = []
    spent = 0
    for row in rows:
        cost = estimate_tokens(row["content"])
        if turns and spent + cost > token_budget:
            break
        spent += cost
        turns.append(Turn(role=row["role"], content=row["content"],
                          meta=json.loads(row["meta"]) if row["meta"] else {}))
    # Never start the history with an answer whose question was cut off.
    while turns and turns[-1].role == "assistant":
        turns.pop()
    turns.reverse()
    return turns


async def remember_exchange(
    conn: StateConnection, conversation: str, question: str, answer: str,
    meta: dict[str, Any] | None = None,
) -> None:
    """Store a question and its answer together (one statement, so both or neither).

    Returns once the write is queued (``StateConnection.quick_write``): it is committed at the
    event loop's next turn, before any later statement on ``conn`` runs.
    """
    conn.quick_write(
        "INSERT INTO messages (conversation, role, content, meta) VALUES (?, 'user', ?, NULL),"
        " (?, 'assistant', ?, ?)",
        (conversation, question, conversation, answer,
         json.dumps(meta, ensure_ascii=False, default=str) if meta else None),
    )


async def forget_last_exchange(conn: aiosqlite.Connection, conversation: str,
                               question: str) -> bool:
    """Drop the conversation's last question and its answer, if that question is ``question``.

    One statement, so a question is never left without its answer or the reverse. Returns
    whether anything was dropped (a failed answer, for one, was never remembered).
    """
    # DELETE first (not WITH): Python's sqlite3 counts rows only for statements that start so.
    cursor = await conn.execute(
        "DELETE FROM messages WHERE conversation = ? AND id >= (SELECT max(id) FROM messages"
        " WHERE conversation = ? AND role = 'user') AND (SELECT content FROM messages"
        " WHERE conversation = ? AND role = 'user' ORDER BY id DESC LIMIT 1) = ?",
        (conversation, conversation, conversation, question),
    )
    return cursor.rowcount > 0


async def forget(conn: aiosqlite.Connection, conversation: str) -> None:
    """Drop a conversation's messages and any transcript shared in it."""
    await conn.execute("DELETE FROM messages WHERE conversation = ?", (conversation,))
    await conn.execute("DELETE FROM transcripts WHERE conversation = ?", (conversation,))


async def purge_expired(conn: aiosqlite.Connection, ttl_days: int) -> int:
    """Delete conversations idle for longer than ``ttl_days``; returns messages removed."""
    cutoff = _iso(datetime.now(UTC) - timedelta(days=ttl_days))
    cursor = await conn.execute(
        "DELETE FROM messages WHERE conversation IN ("
        " SELECT conversation FROM messages GROUP BY conversation HAVING max(created_at) < ?)",
        (cutoff,),
    )
    await conn.execute(
        "DELETE FROM transcripts WHERE created_at < ? AND conversation NOT IN"
        " (SELECT conversation FROM messages)", (cutoff,),
    )
    return cursor.rowcount


async def purge_usage_detail(conn: aiosqlite.Connection, ttl_days: int) -> int:
    """Strip the SQL from usage rows older than ``ttl_days`` (counts and tokens stay)."""
    cutoff = _iso(datetime.now(UTC) - timedelta(days=ttl_days))
    cursor = await conn.execute(
        "UPDATE usage SET sql = NULL WHERE created_at < ? AND sql IS NOT NULL", (cutoff,))
    return cursor.rowcount


@dataclass(frozen=True)
class SharedTranscript:
    source_name: str
    content: str


async def save_transcript(
    conn: aiosqlite.Connection, conversation: str, source_name: str, content: str
) -> None:
    """Make a transcript the conversation's shared context (replacing any earlier one)."""
    await conn.execute(
        "INSERT INTO transcripts (conversation, source_name, content) VALUES (?, ?, ?)"
        " ON CONFLICT (conversation) DO UPDATE SET source_name = excluded.source_name,"
        " content = excluded.content, created_at = excluded.created_at",
        (conversation, source_name, content),
    )


async def load_transcript(
    conn: StateConnection, conversation: str
) -> SharedTranscript | None:
    """The transcript shared in the conversation, if any."""
    rows = await conn.quick_fetchall(
        "SELECT source_name, content FROM transcripts WHERE conversation = ?", (conversation,)
    )
    return next((SharedTranscript(row["source_name"], row["content"]) for row in rows), None)


@dataclass(frozen=True)
class UsageRecord:
    conversation: str
    user_id: int | None
    chat_id: int | None
    engine: str
    outcome: str
    prompt_tokens: int = 0
    completion_tokens: int = 0
    model_calls: int = 0
    sql: Sequence[str] = ()
    latency_ms: float = 0.0
    cached_tokens: int = 0  # of prompt_tokens, served from the provider's prompt cache


async def record_usage(conn: StateConnection, usage: UsageRecord) -> None:
    """Store one answer's usage row (engine, outcome, tokens, SQL, latency); queued as
    ``remember_exchange`` is."""
    conn.quick_write(
        "INSERT INTO usage (conversation, user_id, chat_id, engine, outcome, prompt_tokens,"
        " completion_tokens, model_calls, sql, latency_ms, cached_tokens)"
        " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (usage.conversation, usage.user_id, usage.chat_id, usage.engine, usage.outcome,
         usage.prompt_tokens, usage.completion_tokens, usage.model_calls,
         json.dumps(list(usage.sql), ensure_ascii=False) if usage.sql else None,
         round(usage.latency_ms, 1), usage.cached_tokens),
    )


async def tokens_used_today(conn: StateConnection, user_id: int) -> int:
    """Model tokens this user spent since midnight UTC."""
    start = _iso(datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0))
    rows = await conn.quick_fetchall(
        "SELECT coalesce(sum(prompt_tokens + completion_tokens), 0) FROM usage"
        " WHERE user_id = ? AND created_at >= ?",
        (user_id, start),
    )
    return next((int(row[0]) for row in rows), 0)


async def touch_user(
    conn: StateConnection, user_id: int, username: str | None, language: str | None
) -> None:
    """Remember who a user is and when they were last seen (for /stats); queued as
    ``remember_exchange`` is."""
    conn.quick_write(
        "INSERT INTO users (user_id, username, language) VALUES (?, ?, ?)"
        " ON CONFLICT (user_id) DO UPDATE SET username = coalesce(excluded.username, username),"
        " language = coalesce(excluded.language, language), last_seen = excluded.last_seen",
        (user_id, username, language),
    )
