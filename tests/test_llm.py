"""The model engine against every reply shape OpenAI-compatible servers send.

First the JSON alone: what the tool loop takes from a chat completion, and every malformed shape
turned into ModelUnavailable (which the core meets with basic mode). Then each shape end to end:
the real client, the fake server answering in one server family's personality, SQL on a real
demo catalog, the assistant core with its memory."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest

from bot.catalog.money import format_soles
from bot.core import memory
from bot.core.assistant import answer
from bot.core.completion import text_tool_calls
from bot.core.context import PLATFORM_HEADERS, AppContext, build_context
from bot.core.llm import CUT_NOTE, ModelUnavailable, ToolCall, ToolLoopState, _read_completion
from bot.core.reply import Conversation
from tests.fakes.openai_personalities import REASONING
from tests.fakes.openai_server import FakeOpenAI, Filtered


def completion(message: Any, usage: Any = None) -> dict[str, Any]:
    body: dict[str, Any] = {"id": "chatcmpl-1", "object": "chat.completion",
                            "choices": [{"index": 0, "message": message,
                                         "finish_reason": "stop"}]}
    if usage is not None:
        body["usage"] = usage
    return body


def test_a_reply_and_its_usage() -> None:
    state = ToolLoopState()
    message = _read_completion(completion({"role": "assistant", "content": "Hola."},
                                          {"prompt_tokens": 120, "completion_tokens": 7}), state)
    assert message.content == "Hola." and message.tool_calls == ()
    assert (state.prompt_tokens, state.completion_tokens) == (120, 7)


def test_tool_calls_in_order() -> None:
    calls = [{"id": f"call_{n}", "type": "function",
              "function": {"name": "run_sql", "arguments": f'{{"query": "SELECT {n}"}}'}}
             for n in (1, 2)]
    message = _read_completion(completion({"role": "assistant", "content": None,
                                           "tool_calls": calls}), ToolLoopState())
    assert message.content == ""
    assert message.tool_calls == (ToolCall("call_1", "run_sql", '{"query": "SELECT 1"}'),
                                  ToolCall("call_2", "run_sql", '{"query": "SELECT 2"}'))


def test_missing_or_odd_usage_counts_nothing() -> None:
    state = ToolLoopState()
    _read_completion(completion({"content": "a"}), state)
    _read_completion(completion({"content": "b"}, {"prompt_tokens": "many",
                                                   "completion_tokens": True}), state)
    assert (state.prompt_tokens, state.completion_tokens) == (0, 0)


@pytest.mark.parametrize("response", [
    "plain text, not JSON",
    ["a", "list"],
    {},
    {"choices": []},
    {"choices": {"0": {}}},
    {"choices": ["text"]},
    {"choices": [{"message": None}]},
    {"choices": [{"message": "hola"}]},
    completion({"tool_calls": [{"id": "c1"}]}),
    completion({"tool_calls": [{"id": "c1", "function": None}]}),
    completion({"tool_calls": ["run_sql"]}),
    completion({"tool_calls": [{"function": {"name": "run_sql", "arguments": "{}"}}]}),
])
def test_malformed_completions_are_model_unavailable(response: object) -> None:
    with pytest.raises(ModelUnavailable):
        _read_completion(response, ToolLoopState())


# Every reply shape, end to end: the real client, the fake server in one family's personality,
# SQL on a real demo catalog, the assistant core (memory included).


PLATFORM = {name.lower() for name in PLATFORM_HEADERS}
ANA = Conversation.private(101)
TOP = "SELECT name, price FROM products ORDER BY price DESC LIMIT 2"


@pytest.fixture
async def serve(catalog_db: Any) -> AsyncIterator[Callable[..., Any]]:
    """Start a fake server with a personality and an assistant pointed at it (on a copy of
    the demo catalog)."""
    opened: list[tuple[FakeOpenAI, AppContext]] = []

    async def start(make_settings: Any, personality: str = "openai",
                    **overrides: str) -> tuple[FakeOpenAI, AppContext]:
        fake = await FakeOpenAI(personality=personality).start()
        app = await build_context(make_settings(
            OPENAI_API_KEY=fake.api_key, OPENAI_BASE_URL=fake.base_url, OPENAI_MAX_RETRIES="0",
            OPENAI_TIMEOUT="2", ANSWER_TIMEOUT="10", **overrides))
        opened.append((fake, app))
        return fake, app

    yield start
    for fake, app in opened:
        await app.close()
        await fake.stop()


def top_two(catalog_db: Any) -> list[tuple[str, float]]:
    with sqlite3.connect(catalog_db) as conn:
        return conn.execute(TOP).fetchall()


async def remembered(app: AppContext) -> str:
    history = await memory.load_history(app.state, ANA.key, token_budget=3000, ttl_days=30)
    return "\n".join(turn.content for turn in history)


# 1. Cut off: never sent as if whole.
async def test_a_cut_reply_after_rows_is_rebuilt_from_the_rows(serve, make_settings, catalog_db):
    fake, app = await serve(make_settings)
    (first, first_price), (second, _) = top_two(catalog_db)
    fake.tool_call("run_sql", {"query": TOP})
    fake.reply_cut(f"1. {first} — {format_soles(first_price)}\n2. Televisor Sony Bra")
    reply = await answer(app, ANA, "los dos productos más caros")
    assert "Bra\n" not in reply.text and not reply.text.endswith("Bra")
    assert first in reply.text and second in reply.text
    assert reply.meta["rebuilt_why"] == "cut at the token limit"
    assert "2. Televisor Sony Bra" not in await remembered(app)


async def test_a_cut_reply_without_rows_is_asked_again(serve, make_settings):
    fake, app = await serve(make_settings)
    fake.reply_cut("¡Hola! Soy KRATOS, el asistente de la tienda. Puedo ayudarte a encon")
    fake.reply("¡Hola! ¿Qué producto buscas?")
    reply = await answer(app, ANA, "hola")
    assert reply.text == "¡Hola! ¿Qué producto buscas?"
    assert fake.chat_requests[1]["messages"][-1] == {"role": "user", "content": CUT_NOTE}


async def test_a_reply_cut_twice_falls_back_to_basic_mode(serve, make_settings):
    fake, app = await serve(make_settings)
    fake.reply_cut("La laptop más barata es la Lenovo Idea")
    fake.reply_cut("La laptop más barata es la Len")
    reply = await answer(app, ANA, "la laptop más barata")
    assert reply.engine == "basic" and "Modo básico" in reply.text
    assert "es la Len" not in reply.text


# 2. Tool arguments as a JSON object (llama.cpp, LiteLLM).
async def test_object_arguments_run_and_go_back_as_a_string(serve, make_settings, catalog_db):
    fake, app = await serve(make_settings, "llamacpp")
    (first, price), _ = top_two(catalog_db)
    fake.tool_call("run_sql", {"query": TOP})
    fake.reply(f"El más caro es {first}, a {format_soles(price)}.")
    reply = await answer(app, ANA, "¿cuál es el producto más caro?")
    assert reply.text == f"El más caro es {first}, a {format_soles(price)}."
    assert reply.sql == [TOP] and reply.rows[0][0] == first
    sent = fake.chat_requests[1]["messages"]
    assert isinstance(sent[-2]["tool_calls"][0]["function"]["arguments"], str)
    # This family sends no usage: the tokens are estimated (about 4 characters a token), so a
    # daily budget still holds; the prompt alone is over a thousand tokens.
    sent = sum(len(json.dumps([r["messages"], r["tools"]], ensure_ascii=False))
               for r in fake.chat_requests)
    assert reply.prompt_tokens == pytest.approx(sent / 4, rel=0.05) and reply.prompt_tokens > 1000
    assert 0 < reply.completion_tokens < 100


async def test_a_daily_budget_bounds_a_server_that_reports_no_usage(serve, make_settings):
    fake, app = await serve(make_settings, "llamacpp", DAILY_TOKEN_BUDGET="2500")
    for _ in range(4):
        fake.reply("¡Hola! ¿Qué producto buscas?")
    replies = [await answer(app, ANA, "hola") for _ in range(4)]
    # Each greeting costs about 1,300 estimated tokens: the third is over the budget.
    assert [r.refused for r in replies] == [False, False, True, True]
    assert len(fake.chat_requests) == 2


# 3. Tool calls written as text (Ollama, vLLM without a tool parser).
@pytest.mark.parametrize("personality", ["ollama", "vllm", "vllm-mistral", "lmstudio"])
async def test_text_tool_calls_run_as_tool_calls(serve, make_settings, catalog_db, personality):
    fake, app = await serve(make_settings, personality)
    (first, price), _ = top_two(catalog_db)
    fake.tool_call("run_sql", {"query": TOP})
    fake.reply(f"El más caro es {first}, a {format_soles(price)}.")
    reply = await answer(app, ANA, "¿cuál es el producto más caro?")
    assert reply.text == f"El más caro es {first}, a {format_soles(price)}."
    assert reply.sql == [TOP]
    assert first in fake.chat_requests[1]["messages"][-1]["content"]


async def test_a_fenced_select_in_the_reply_is_run_not_shown(serve, make_settings, catalog_db):
    fake, app = await serve(make_settings)
    (first, price), _ = top_two(catalog_db)
    fake.reply(f"Voy a consultar el catálogo:\n```sql\n{TOP}\n```")
    fake.reply(f"El más caro es {first}, a {format_soles(price)}.")
    reply = await answer(app, ANA, "¿cuál es el producto más caro?")
    assert reply.sql == [TOP] and "SELECT" not in reply.text


@pytest.mark.parametrize("text", [
    '<tool_call>\n{"name": "run_sql", "arguments": {"query": "SELECT name FROM',
    '```json\n{"name": "run_sql", "arguments": {"query": SELECT name FROM products}}\n```',
    'Claro: {"name": "run_sql", "arguments": {"query": "SELECT 1"}} y listo',
])
async def test_tool_markup_that_cannot_be_read_is_never_shown(serve, make_settings, text):
    fake, app = await serve(make_settings)
    fake.reply(text)
    reply = await answer(app, ANA, "¿cuál es la laptop más barata?")
    assert reply.engine == "basic"
    assert "run_sql" not in reply.text and "{" not in reply.text


# 4. Reasoning in the reply: stripped from replies and memory.
@pytest.mark.parametrize("personality", ["ollama", "groq", "vllm", "deepseek", "openrouter"])
async def test_reasoning_never_reaches_the_reply_or_memory(serve, make_settings, catalog_db,
                                                           personality):
    fake, app = await serve(make_settings, personality)
    (first, price), _ = top_two(catalog_db)
    fake.tool_call("run_sql", {"query": TOP})
    fake.reply(f"El más caro es {first}, a {format_soles(price)}.")
    fake.reply("¡De nada!")
    reply = await answer(app, ANA, "¿cuál es el producto más caro?")
    thanks = await answer(app, ANA, "gracias")
    assert reply.text == f"El más caro es {first}, a {format_soles(price)}."
    assert thanks.text == "¡De nada!"
    assert "Thinking" not in await remembered(app)
    assert all(REASONING not in str(body) for body in fake.chat_requests)


@pytest.mark.parametrize(("content", "shown"), [
    ("<think>el usuario saluda</think>¡Hola!", "¡Hola!"),
    ("<THINK>\nrazono\n</THINK>\n\n¡Hola!", "¡Hola!"),
    ("razono sin etiqueta de apertura</think>¡Hola!", "¡Hola!"),
    ("<thinking>a</thinking>¡Hola! <think>b</think>", "¡Hola!"),
])
def test_reasoning_tags_are_stripped(content: str, shown: str) -> None:
    message = _read_completion(completion({"content": content}), ToolLoopState())
    assert message.content == shown


def test_reasoning_cut_mid_thought_leaves_nothing_to_show() -> None:
    message = _read_completion(completion({"content": "<think>pienso en laptops y"}),
                               ToolLoopState())
    assert message.content == ""


@pytest.mark.parametrize(("content", "name", "arguments"), [
    ('<tool_call>{"name": "run_sql", "arguments": {"query": "SELECT 1"}}</tool_call>',
     "run_sql", {"query": "SELECT 1"}),
    ('```json\n{"name": "run_sql", "arguments": "{\\"query\\": \\"SELECT 1\\"}"}\n```',
     "run_sql", {"query": "SELECT 1"}),
    ('[TOOL_CALLS] [{"name": "decline", "arguments": {"reply": "No."}}]',
     "decline", {"reply": "No."}),
    ('{"name": "run_sql", "parameters": {"query": "SELECT 1"}}', "run_sql", {"query": "SELECT 1"}),
    ('<|python_tag|>{"name": "run_sql", "parameters": {"query": "SELECT 1"}}', "run_sql",
     {"query": "SELECT 1"}),
    ('{"query": "SELECT 1"}', "run_sql", {"query": "SELECT 1"}),
    ('{"type": "function", "function": {"name": "run_sql", "arguments": {"query": "SELECT 1"}}}',
     "run_sql", {"query": "SELECT 1"}),
    ("```\nSELECT 1\n```", "run_sql", {"query": "SELECT 1"}),
    ("```SELECT 1```", "run_sql", {"query": "SELECT 1"}),
])
def test_text_tool_call_formats(content: str, name: str, arguments: dict[str, str]) -> None:
    calls, rest, unreadable = text_tool_calls(content)
    assert [c.name for c in calls] == [name]
    assert json.loads(calls[0].arguments) in (arguments, json.dumps(arguments))
    assert (rest, unreadable) == ("", False)


def test_prose_with_code_like_words_is_left_alone() -> None:
    for text in ("La laptop {modelo 2024} cuesta S/ 1,299.90.",
                 "Select a product from the list, please.",
                 "```\nLaptop Lenovo — S/ 2,499.90\n```"):
        assert text_tool_calls(text) == ((), text, False)


def test_sql_written_into_the_prose_is_never_shown() -> None:
    calls, _, unreadable = text_tool_calls(
        "Ejecuté SELECT name, price FROM products WHERE category = 'Laptops' y encontré 3.")
    assert calls == () and unreadable


# 5. Amounts written the Spanish way are read as what they are, not as invented prices.
def spanish(cents: int) -> str:
    whole, part = divmod(cents, 100)
    return f"{whole:,}".replace(",", ".") + f",{part:02d}"


@pytest.mark.parametrize("style", ["S/ {es}", "S/. {es}", "{es} soles", "{spaced} soles"])
async def test_spanish_amounts_pass_the_grounding_check(serve, make_settings, catalog_db, style):
    fake, app = await serve(make_settings)
    (first, price), _ = top_two(catalog_db)
    cents = round(price * 100)
    written = style.format(es=spanish(cents), spaced=spanish(cents).replace(".", " "))
    fake.tool_call("run_sql", {"query": TOP})
    fake.reply(f"El más caro es {first}, a {written}.")
    reply = await answer(app, ANA, "¿cuál es el producto más caro?")
    assert reply.text == f"El más caro es {first}, a {written}."
    assert "rebuilt" not in reply.meta


# 6. Accents and case in the SQL the model writes.
async def test_model_sql_finds_products_whatever_the_case_and_accents(serve, make_settings,
                                                                      catalog_db):
    fake, app = await serve(make_settings)
    with sqlite3.connect(catalog_db) as conn:
        (exact,) = conn.execute(
            "SELECT count(*) FROM products WHERE category = 'Audífonos'").fetchone()
    fake.tool_call("run_sql", {"query": "SELECT count(*) AS n FROM products "
                                        "WHERE category LIKE '%AUDÍFONOS%'"})
    fake.reply(f"Tenemos {exact} audífonos.")
    reply = await answer(app, ANA, "¿cuántos audífonos tienen?")
    assert exact > 0 and reply.rows == [(exact,)]
    assert f"({exact} rows)" not in fake.chat_requests[1]["messages"][-1]["content"]
    assert str(exact) in fake.chat_requests[1]["messages"][-1]["content"]


# Azure OpenAI's deployment URLs, api-version and api-key header.
async def test_azure_deployments_answer_and_pass_the_start_up_check(make_settings, catalog_db):
    (first, price), _ = top_two(catalog_db)
    async with FakeOpenAI(personality="azure", models=["kratos-gpt"]) as fake:
        app = await build_context(make_settings(
            OPENAI_API_KEY=fake.api_key, OPENAI_BASE_URL=fake.azure_endpoint,
            OPENAI_API_VERSION="2024-10-21", OPENAI_MODEL="kratos-gpt", OPENAI_MAX_RETRIES="0"))
        try:
            fake.reply("ok")  # the start-up check's small request (Azure lists no deployments)
            assert await app.check_model_endpoint() is None
            fake.tool_call("run_sql", {"query": TOP})
            fake.reply(f"El más caro es {first}, a {format_soles(price)}.")
            reply = await answer(app, ANA, "¿cuál es el producto más caro?")
        finally:
            await app.close()
    assert reply.engine == "model" and reply.sql == [TOP]
    chats = [r for r in fake.requests if r.json is not None]
    assert {r.path for r in chats} == {"/openai/deployments/kratos-gpt/chat/completions"}
    assert all(r.headers["api-key"] == fake.api_key for r in chats)
    assert not [name for r in chats for name in r.headers if name.lower() in PLATFORM]


async def test_a_content_filter_stop_is_never_sent_as_an_answer(serve, make_settings,
                                                                catalog_db):
    fake, app = await serve(make_settings)
    fake.tool_call("run_sql", {"query": TOP})
    fake.push(Filtered())
    reply = await answer(app, ANA, "los dos productos más caros")
    assert reply.meta["rebuilt_why"] == "stopped by the server's content filter"
    assert [row[0] for row in reply.rows] == [name for name, _ in top_two(catalog_db)]
    fake.push(Filtered())
    assert (await answer(app, ANA, "¿y el más barato?")).engine == "basic"
