"""The WhatsApp channel's state: customers' keys and claimed message ids (migration 0005)."""

from __future__ import annotations

import sqlite3
from contextlib import closing
from pathlib import Path

from bot.channels.whatsapp.store import WhatsAppStore
from bot.core.state import open_state
from bot.migrations import STATE_MIGRATIONS, apply_migrations, migration_files


async def test_an_existing_state_database_gains_the_tables_and_keeps_its_data(
    tmp_path: Path,
) -> None:
    db = tmp_path / "state.db"
    names = [path.name for path in migration_files(STATE_MIGRATIONS)]
    apply_migrations(db, STATE_MIGRATIONS, upto=names[names.index("0005_whatsapp.sql") - 1])
    with closing(sqlite3.connect(db)) as conn:
        conn.execute("INSERT INTO users (user_id, username) VALUES (501, 'ana')")
        conn.execute("INSERT INTO messages (conversation, role, content) VALUES"
                     " ('u:501', 'user', 'hola')")
        conn.commit()

    assert apply_migrations(db, STATE_MIGRATIONS)[0] == "0005_whatsapp.sql"
    state = await open_state(db)
    try:
        store = WhatsAppStore(state)
        first = await store.user_key("US.1349", "51987654321")
        # Same customer (its phone number learnt later or not at all): same key, any process.
        assert await store.user_key("US.1349", None) == first
        assert await WhatsAppStore(state).user_key("US.1349", None) == first
        second = await store.user_key("51911111111", "51911111111")
        # Unique, never a Telegram id (those stay under 2^52 or are negative).
        assert first == 2**60 + 1 and second > first

        assert await store.claim("wamid.A") is True
        assert await store.claim("wamid.A") is False
        assert await WhatsAppStore(state).claim("wamid.A") is False
        await state.execute("UPDATE whatsapp_messages SET received_at = '2020-01-01T00:00:00Z'")
        assert await store.claim("wamid.B") is True
        assert await store.forget_old_messages() == 1
        assert await store.claim("wamid.B") is False
        rows = await state.execute_fetchall("SELECT wa_id FROM whatsapp_users ORDER BY user_key")
        assert [row[0] for row in rows] == ["51987654321", "51911111111"]
        kept = await state.execute_fetchall("SELECT content FROM messages WHERE"
                                            " conversation = 'u:501'")
        assert [row[0] for row in kept] == ["hola"]
    finally:
        await state.close()
