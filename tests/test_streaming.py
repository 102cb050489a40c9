"""The reply shown while the model writes it: the stream reader, the grounded preview, and the
engine streaming its second call through the real AsyncOpenAI client and the fake server."""

from __future__ import annotations

import sqlite3
from collections.abc import AsyncIterator
from contextlib import closing
from typing import Any

import pytest

from bot.catalog.money import format_soles
from bot.core.assistant import answer
from bot.core.context import build_context
from bot.core.model_stream import MalformedStream, read_stream
from bot.core.reply import Conversation
from bot.core.streaming import GroundedPreview, settled_text
from tests.fakes.openai_server import FakeOpenAI

ANA = Conversation.private(101)
LAPTOPS = ("SELECT name, price FROM products WHERE category = 'Laptops' "
           "ORDER BY price, id LIMIT 3")


class Shown:
    """A preview sink that keeps every text it was asked to show."""

    def __init__(self) -> None:
        self.texts: list[str] = []

    def show(self, text: str) -> None:
        self.texts.append(text)


@pytest.fixture
async def paced() -> AsyncIterator[FakeOpenAI]:
    """A fake OpenAI whose streams send 400 pieces a second (each test stays well under 1 s)."""
    async with FakeOpenAI(tokens_per_second=400) as fake:
        yield fake


@pytest.fixture
async def app(make_settings, catalog_db, paced):
    context = await build_context(make_settings(
        OPENAI_API_KEY=paced.api_key, OPENAI_BASE_URL=paced.base_url,
        OPENAI_MAX_RETRIES="0", OPENAI_TIMEOUT="5", ANSWER_TIMEOUT="10"))
    yield context
    await context.close()


def cheapest(catalog_db) -> tuple[str, float]:
    with closing(sqlite3.connect(catalog_db)) as conn:
        return conn.execute(LAPTOPS).fetchone()


# -- what may be shown --------------------------------------------------------------------------


@pytest.mark.parametrize(("text", "shown"), [
    ("Hola", ""),  # one word may still be growing
    ("Hola, te recomiendo", "Hola, te"),
    ("Cuesta S/ 1,299.90 y", "Cuesta"),  # a number waits for the word after it
    ("Cuesta S/ 1,299.90 y es", "Cuesta S/ 1,299.90 y"),
    ("Son 1,299.90 soles en", "Son 1,299.90 soles"),
    ("<think>pienso en precios</think>La mejor es", "La mejor"),
    ("Te cuento <think>todavía pensando en S/ 9", "Te cuento"),
    ("Te cuento", "Te"),
    ("Cuesta S/ 5", "Cuesta"),
    ('{"name": "run_sql", "arguments": {"query": "SELECT', ""),
    ("<tool_call>{\"name\": \"run_sql\"} y", ""),
    ("```json\n{\"query\": 1} y más", ""),
    ("Primera línea\nsegunda", "Primera línea"),
])
def test_only_settled_prose_is_shown(text: str, shown: str) -> None:
    assert settled_text(text) == shown


def test_the_preview_stops_at_the_first_amount_no_row_holds() -> None:
    sink = Shown()
    preview = GroundedPreview(sink, known={129990})
    text = ""
    for word in "La Lenovo cuesta S/ 1,299.90 y la HP cuesta S/ 999.00 más o menos".split():
        text += word + " "
        preview.grow(text)
    assert preview.stopped
    assert sink.texts[-1] == "La Lenovo cuesta S/ 1,299.90 y la HP cuesta"
    assert all("999.00" not in shown for shown in sink.texts)
    assert sink.texts == sorted(set(sink.texts), key=len), "each text once, growing"


# -- reading a stream ---------------------------------------------------------------------------


async def chunks(*items: Any) -> AsyncIterator[Any]:
    for item in items:
        yield item


def delta(**values: Any) -> dict[str, Any]:
    return {"choices": [{"index": 0, "delta": values, "finish_reason": None}]}


async def test_text_grows_and_usage_comes_last() -> None:
    seen: list[str] = []
    message = await read_stream(chunks(
        delta(role="assistant", content=""), delta(content="Hola"), delta(content=" Ana"),
        {"choices": [], "usage": {"prompt_tokens": 9, "completion_tokens": 2}}), seen.append)
    assert seen == ["Hola", "Hola Ana"] and message.content == "Hola Ana"
    assert message.usage == {"prompt_tokens": 9, "completion_tokens": 2}


async def test_tool_calls_are_put_together_from_pieces_and_objects() -> None:
    seen: list[str] = []
    message = await read_stream(chunks(
        delta(content="Voy a buscar."),
        delta(tool_calls=[{"index": 0, "id": "call_1", "function": {"name": "run_sql",
                                                                     "arguments": ""}}]),
        delta(tool_calls=[{"index": 0, "function": {"arguments": '{"query": '}}]),
        delta(tool_calls=[{"index": 0, "function": {"arguments": '"SELECT 1"}'}}]),
        delta(tool_calls=[{"index": 1, "id": "call_2",
                           "function": {"name": "run_sql", "arguments": {"query": "SELECT 2"}}}]),
        delta(content=" Un momento."),
    ), seen.append)
    assert [(c.id, c.name, c.arguments) for c in message.calls] == [
        ("call_1", "run_sql", '{"query": "SELECT 1"}'),
        ("call_2", "run_sql", '{"query": "SELECT 2"}')]
    assert seen == ["Voy a buscar."], "text after a tool call began is not the answer"


@pytest.mark.parametrize("bad", ["text", {"choices": "no"}, delta(tool_calls=["x"]),
                                 {"choices": [{"index": 0, "delta": "x"}]}])
async def test_a_malformed_chunk_is_refused(bad: Any) -> None:
    with pytest.raises(MalformedStream):
        await read_stream(chunks(delta(content="a"), bad))


# -- the engine ---------------------------------------------------------------------------------


async def test_the_second_call_streams_into_the_preview(app, paced, catalog_db):
    name, price = cheapest(catalog_db)
    final = (f"Para la universidad te recomiendo la {name}, a {format_soles(price)}: es la más "
             f"económica de las tres y te alcanza para empezar el ciclo sin problemas.")
    paced.tool_call("run_sql", {"query": LAPTOPS})
    paced.reply(final, prompt_tokens=1500, cached_tokens=1280)
    shown = Shown()
    reply = await answer(app, ANA, "¿qué laptop me recomiendas para la universidad?",
                         preview=shown)
    first, second = paced.chat_requests
    assert "stream" not in first
    assert second["stream"] is True and second["stream_options"] == {"include_usage": True}
    assert reply.text == final and reply.model_calls == 2
    assert (reply.prompt_tokens, reply.cached_tokens) == (1600, 1280)
    assert len(shown.texts) > 5
    assert all(final.startswith(text) for text in shown.texts)
    assert shown.texts[0] == "Para"


async def test_a_one_call_answer_shows_no_preview(app, paced):
    paced.tool_call("run_sql", {"query": LAPTOPS, "intro": "Las más baratas:"})
    shown = Shown()
    reply = await answer(app, ANA, "laptops baratas", preview=shown)
    assert shown.texts == [] and reply.model_calls == 1
    assert "stream" not in paced.chat_requests[0]


async def test_an_ungrounded_amount_is_never_shown_and_the_reply_is_rebuilt(app, paced, catalog_db):
    name, price = cheapest(catalog_db)
    paced.tool_call("run_sql", {"query": LAPTOPS})
    paced.reply(f"Te recomiendo la {name}, que cuesta {format_soles(price)}, aunque con el "
                f"descuento de hoy te sale en S/ 99.00 nada más, ¡aprovecha!")
    shown = Shown()
    reply = await answer(app, ANA, "¿cuál me recomiendas?", preview=shown)
    assert shown.texts, "the grounded start was shown"
    assert all("99.00" not in text for text in shown.texts)
    assert reply.meta.get("rebuilt") and "S/ 99.00" not in reply.text
    assert name in reply.text


async def test_a_stream_that_fails_falls_back_to_basic_mode(app, paced):
    paced.tool_call("run_sql", {"query": LAPTOPS})
    paced.fail(503)
    shown = Shown()
    reply = await answer(app, ANA, "¿cuál me recomiendas?", preview=shown)
    assert reply.engine == "basic" and shown.texts == []


async def test_a_server_that_refuses_to_stream_is_asked_again_without(app, paced, catalog_db):
    final = f"Te recomiendo la {cheapest(catalog_db)[0]}, es la más económica de las tres."
    paced.tool_call("run_sql", {"query": LAPTOPS})
    paced.fail(400, message="stream_options is not supported")
    paced.reply(final)
    shown = Shown()
    reply = await answer(app, ANA, "¿cuál me recomiendas?", preview=shown)
    assert reply.engine == "model" and reply.text == final
    streamed, whole = paced.chat_requests[1:]
    assert streamed["stream"] is True and "stream" not in whole
    assert shown.texts == [] and reply.model_calls == 3


async def test_a_server_that_refused_to_stream_is_not_asked_to_stream_again(app, paced,
                                                                             catalog_db):
    final = f"Te recomiendo la {cheapest(catalog_db)[0]}, es la más económica de las tres."
    paced.streams_refused = True
    for _ in range(3):
        paced.tool_call("run_sql", {"query": LAPTOPS})
        paced.reply(final)
    replies = [await answer(app, Conversation.private(300 + n), "¿cuál me recomiendas?",
                            preview=Shown()) for n in range(3)]
    assert all(r.engine == "model" and r.text == final for r in replies)
    asked_to_stream = [r.get("stream") is True for r in paced.chat_requests]
    # One refused stream in all: the first answer's; every later reply is asked for whole.
    assert asked_to_stream.count(True) == 1 and asked_to_stream[1] is True
    assert len(paced.chat_requests) == 7
    assert [r.model_calls for r in replies] == [3, 2, 2]
