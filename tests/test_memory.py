"""Conversation memory, transcripts and usage in a real state database."""

import sqlite3

import pytest

from bot.core import memory
from bot.core.state import open_state


@pytest.fixture
async def state(tmp_path):
    conn = await open_state(tmp_path / "state.db")
    yield conn
    await conn.close()


async def test_exchange_is_remembered_in_order(state):
    await memory.remember_exchange(state, "u:1", "dame laptops", "Laptop A — S/ 1,999.00",
                                   {"prices": [199900]})
    await memory.remember_exchange(state, "u:1", "¿y la más barata?", "Laptop B")
    turns = await memory.load_history(state, "u:1", token_budget=1000, ttl_days=30)
    assert [(t.role, t.content) for t in turns] == [
        ("user", "dame laptops"), ("assistant", "Laptop A — S/ 1,999.00"),
        ("user", "¿y la más barata?"), ("assistant", "Laptop B"),
    ]
    assert turns[1].meta == {"prices": [199900]}


async def test_conversations_do_not_mix(state):
    await memory.remember_exchange(state, "g:-100:1", "pregunta de Ana", "respuesta a Ana")
    await memory.remember_exchange(state, "g:-100:2", "pregunta de Beto", "respuesta a Beto")
    ana = await memory.load_history(state, "g:-100:1", token_budget=1000, ttl_days=30)
    assert [t.content for t in ana] == ["pregunta de Ana", "respuesta a Ana"]


async def test_history_respects_the_token_budget(state):
    for i in range(50):
        await memory.remember_exchange(state, "u:1", f"pregunta {i} " + "x" * 400,
                                       f"respuesta {i} " + "y" * 400)
    turns = await memory.load_history(state, "u:1", token_budget=1000, ttl_days=30)
    assert 0 < len(turns) < 20
    assert turns[0].role == "user"
    assert turns[-1].content.startswith("respuesta 49")
    assert sum(memory.estimate_tokens(t.content) for t in turns) <= 1000


async def test_idle_conversation_expires(state):
    await memory.remember_exchange(state, "u:1", "vieja", "respuesta vieja")
    await state.execute("UPDATE messages SET created_at = '2000-01-01T00:00:00.000Z'")
    assert await memory.load_history(state, "u:1", token_budget=1000, ttl_days=30) == []
    cursor = await state.execute("SELECT count(*) FROM messages")
    assert (await cursor.fetchone())[0] == 0


async def test_purge_expired_keeps_active_conversations(state):
    await memory.remember_exchange(state, "u:1", "vieja", "r")
    await memory.remember_exchange(state, "u:2", "nueva", "r")
    await state.execute(
        "UPDATE messages SET created_at = '2000-01-01T00:00:00.000Z' WHERE conversation='u:1'"
    )
    assert await memory.purge_expired(state, ttl_days=30) == 2
    assert await memory.load_history(state, "u:2", token_budget=1000, ttl_days=30)


async def test_forget_drops_messages_and_transcript(state):
    await memory.remember_exchange(state, "u:1", "q", "a")
    await memory.save_transcript(state, "u:1", "reunion.mp3", "hablamos de precios")
    await memory.forget(state, "u:1")
    assert await memory.load_history(state, "u:1", token_budget=1000, ttl_days=30) == []
    assert await memory.load_transcript(state, "u:1") is None


async def test_transcript_is_replaced(state):
    await memory.save_transcript(state, "u:1", "a.mp3", "uno")
    await memory.save_transcript(state, "u:1", "b.mp3", "dos")
    shared = await memory.load_transcript(state, "u:1")
    assert shared == memory.SharedTranscript("b.mp3", "dos")


async def test_usage_counts_todays_tokens(state):
    await memory.record_usage(state, memory.UsageRecord(
        conversation="u:7", user_id=7, chat_id=7, engine="model", outcome="ok",
        prompt_tokens=120, completion_tokens=30, model_calls=2, sql=["SELECT 1"]))
    await memory.record_usage(state, memory.UsageRecord(
        conversation="u:7", user_id=7, chat_id=7, engine="model", outcome="ok",
        prompt_tokens=10, completion_tokens=5))
    assert await memory.tokens_used_today(state, 7) == 165
    assert await memory.tokens_used_today(state, 8) == 0


async def test_memory_survives_a_restart(tmp_path):
    path = tmp_path / "state.db"
    conn = await open_state(path)
    await memory.remember_exchange(conn, "u:1", "¿el más caro?", "TV Samsung")
    await conn.close()
    conn = await open_state(path)
    try:
        turns = await memory.load_history(conn, "u:1", token_budget=1000, ttl_days=30)
    finally:
        await conn.close()
    assert [t.content for t in turns] == ["¿el más caro?", "TV Samsung"]


async def test_state_database_uses_wal(tmp_path):
    conn = await open_state(tmp_path / "state.db")
    await conn.close()
    with sqlite3.connect(tmp_path / "state.db") as raw:
        assert raw.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


async def test_forget_last_exchange_drops_only_that_question_and_its_answer(state):
    await memory.remember_exchange(state, "u:1", "dame laptops", "Laptop A")
    await memory.remember_exchange(state, "u:1", "¿y la mas barata?", "Laptop B")
    await memory.remember_exchange(state, "u:2", "¿y la mas barata?", "otra")
    assert not await memory.forget_last_exchange(state, "u:1", "dame laptops")  # not the last
    assert await memory.forget_last_exchange(state, "u:1", "¿y la mas barata?")
    turns = await memory.load_history(state, "u:1", token_budget=1000, ttl_days=30)
    assert [t.content for t in turns] == ["dame laptops", "Laptop A"]
    other = await memory.load_history(state, "u:2", token_budget=1000, ttl_days=30)
    assert [t.content for t in other] == ["¿y la mas barata?", "otra"]
