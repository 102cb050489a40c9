"""Groups that get a new chat id (a Telegram group upgraded to a supergroup).

The group's conversations, shared transcripts and usage move to the new id, and the old id is
remembered in the state database: a group allowed by its old id keeps being served, and the
owner is told once to update the setting. Each write is one statement (tasks share the
connection); running a move twice changes nothing the second time.
"""

from __future__ import annotations

import logging

import aiosqlite

logger = logging.getLogger(__name__)


def _prefix(chat_id: int) -> str:
    """The start of every conversation key in a group (see ``Conversation.group``)."""
    return f"g:{chat_id}:"


async def move_chat(conn: aiosqlite.Connection, old_chat_id: int, new_chat_id: int) -> bool:
    """Move a group's memory to its new id; True the first time this move is seen."""
    cursor = await conn.execute(
        "INSERT OR IGNORE INTO chat_migrations (old_chat_id, new_chat_id) VALUES (?, ?)",
        (old_chat_id, new_chat_id),
    )
    first = cursor.rowcount > 0
    old, new = _prefix(old_chat_id), _prefix(new_chat_id)
    rekey = "? || substr(conversation, ?)"
    moved = await conn.execute(
        f"UPDATE messages SET conversation = {rekey} WHERE substr(conversation, 1, ?) = ?",
        (new, len(old) + 1, len(old), old),
    )
    # A transcript shared in the new group already is newer than the old group's: keep it.
    await conn.execute(
        f"UPDATE OR IGNORE transcripts SET conversation = {rekey}"
        " WHERE substr(conversation, 1, ?) = ?", (new, len(old) + 1, len(old), old),
    )
    await conn.execute("DELETE FROM transcripts WHERE substr(conversation, 1, ?) = ?",
                       (len(old), old))
    await conn.execute(
        f"UPDATE usage SET conversation = {rekey}, chat_id = ? WHERE chat_id = ?",
        (new, len(old) + 1, new_chat_id, old_chat_id),
    )
    logger.info("chat %s moved to %s: %d remembered message(s)", old_chat_id, new_chat_id,
                moved.rowcount)
    return first


async def former_ids(conn: aiosqlite.Connection) -> dict[int, int]:
    """Every moved group: its current id -> the id it had before."""
    rows = await conn.execute_fetchall(
        "SELECT new_chat_id, old_chat_id FROM chat_migrations ORDER BY migrated_at")
    return {int(row[0]): int(row[1]) for row in rows}
