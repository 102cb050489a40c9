"""What the WhatsApp channel keeps in the state database (migration 0005_whatsapp.sql).

* Customers' keys. Memory, rate limits, budgets and /stats count users by integer ids. A
  WhatsApp customer's id is text (a business-scoped id, or a phone number), so each gets an
  integer of KRATOS's own, handed out from 2^60 + 1 up: Telegram user ids stay below 2^52 and
  Telegram chat ids are negative, so the two channels' users never share a number.
* Delivered message ids. Meta redelivers a message when an acknowledgement was slow or lost,
  for days; each id is claimed once, in the database, so a redelivery after a restart is not
  answered twice.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import aiosqlite

#: Meta stops retrying a delivery after about 7 days; ids are kept twice that long.
KEEP_MESSAGE_IDS_DAYS = 14


class WhatsAppStore:
    """Customers' keys and claimed message ids, over the state database's connection."""

    def __init__(self, state: aiosqlite.Connection) -> None:
        self.state = state
        # identity -> key: a customer's key never changes, so it is looked up once per run.
        self._keys: dict[str, int] = {}

    async def user_key(self, identity: str, wa_id: str | None) -> int:
        """The customer's integer key, created on first sight (one statement, race-free).

        Keys are unique, not consecutive: a lookup of a known customer also draws a number.
        """
        key = self._keys.get(identity)
        if key is not None:
            return key
        rows = await self.state.execute_fetchall(
            "INSERT INTO whatsapp_users (identity, wa_id) VALUES (?, ?)"
            " ON CONFLICT (identity) DO UPDATE SET wa_id = coalesce(excluded.wa_id, wa_id)"
            " RETURNING user_key", (identity, wa_id))
        key = int(next(iter(rows))[0])
        self._keys[identity] = key
        return key

    async def claim(self, message_id: str) -> bool:
        """True the first time ``message_id`` is seen; False for every redelivery."""
        cursor = await self.state.execute(
            "INSERT INTO whatsapp_messages (message_id) VALUES (?) ON CONFLICT DO NOTHING",
            (message_id,))
        return cursor.rowcount == 1

    async def forget_old_messages(self, days: int = KEEP_MESSAGE_IDS_DAYS) -> int:
        """Drop message ids older than ``days`` (no redelivery comes that late); how many."""
        cutoff = (datetime.now(UTC) - timedelta(days=days)).strftime("%Y-%m-%dT%H:%M:%S")
        cursor = await self.state.execute(
            "DELETE FROM whatsapp_messages WHERE received_at < ?", (cutoff,))
        return cursor.rowcount
