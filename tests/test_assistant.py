"""The assistant core with the model engine, end to end: the real AsyncOpenAI client talks to a
fake OpenAI server on 127.0.0.1, SQL runs on a real demo catalog through the guard."""

import sqlite3
import time
from dataclasses import fields
from datetime import date

import pytest

from bot.catalog.money import format_soles
from bot.core import memory
from bot.core.assistant import answer, reset_conversation
from bot.core.context import build_context
from bot.core.reply import Conversation
from bot.settings import Settings
from tests.conftest import first_version_demo_catalog
from tests.fakes.openai_server import FakeOpenAI, ToolCalls

ANA = Conversation.private(101)
BETO = Conversation.private(202)


@pytest.fixture
async def fake_openai():
    async with FakeOpenAI() as fake:
        yield fake


@pytest.fixture
def model_settings(make_settings, catalog_db, fake_openai):
    def build(**overrides):
        return make_settings(**{
            "OPENAI_API_KEY": fake_openai.api_key,
            "OPENAI_BASE_URL": fake_openai.base_url,
            "OPENAI_MAX_RETRIES": "0",
            "OPENAI_TIMEOUT": "2",
            "ANSWER_TIMEOUT": "10",
            **overrides,
        })
    return build


@pytest.fixture
async def app(model_settings):
    context = await build_context(model_settings())
    yield context
    await context.close()


def most_expensive(catalog_db):
    with sqlite3.connect(catalog_db) as conn:
        return conn.execute(
            "SELECT name, price FROM products ORDER BY price DESC LIMIT 1").fetchone()


def tool_messages(request):
    return [m["content"] for m in request["messages"] if m["role"] == "tool"]


async def test_prompt_carries_schema_enumerations_and_scope(app, fake_openai):
    fake_openai.reply("¡Hola! ¿Qué producto buscas?")
    await answer(app, ANA, "hola")
    request = fake_openai.chat_requests[0]
    system = request["messages"][0]["content"]
    assert request["messages"][0]["role"] == "system"
    for expected in ("TABLE products", "price REAL", "'Electrónica'", "'Deportes'",
                     "'disponible'", "'por llegar'", "FTS5 TABLE products_fts", "soles",
                     "Sample rows of products"):
        assert expected in system, expected
    # The date follows the prompt, so the prompt itself is the same text every day.
    assert request["messages"][1] == {"role": "system",
                                      "content": f"Today is {date.today().isoformat()}."}
    assert "schema_migrations" not in system
    assert request["tools"][0]["function"]["name"] == "run_sql"
    assert request["messages"][-1] == {"role": "user", "content": "hola"}


async def test_tool_loop_corrects_a_failing_query(app, fake_openai, catalog_db):
    name, price = most_expensive(catalog_db)
    fake_openai.tool_call("run_sql", {"query": "SELECT nombre FROM products"})
    fake_openai.tool_call(
        "run_sql", {"query": "SELECT name, price FROM products ORDER BY price DESC LIMIT 1"})
    fake_openai.reply(f"El producto más caro es {name}, a {format_soles(price)}.")
    reply = await answer(app, ANA, "¿cuál es el producto más caro?")

    assert reply.text == f"El producto más caro es {name}, a {format_soles(price)}."
    assert reply.engine == "model" and not reply.refused and not reply.failed
    assert reply.model_calls == 3
    assert reply.rows == [(name, price)]
    assert len(reply.sql) == 2
    second, third = fake_openai.chat_requests[1], fake_openai.chat_requests[2]
    assert "no such column: nombre" in tool_messages(second)[0]
    assert format_soles(price) in tool_messages(third)[-1]
    assert name in tool_messages(third)[-1]


async def test_made_up_price_is_caught_and_reply_rebuilt(app, fake_openai, catalog_db):
    name, price = most_expensive(catalog_db)
    fake_openai.tool_call(
        "run_sql", {"query": "SELECT name, price FROM products ORDER BY price DESC LIMIT 1"})
    fake_openai.reply(f"El más caro es {name} y cuesta S/ 12.34.")
    reply = await answer(app, ANA, "¿cuál es el producto más caro?")
    assert "S/ 12.34" not in reply.text
    assert name in reply.text and format_soles(price) in reply.text
    assert reply.meta["rebuilt"] is True


async def test_amounts_the_user_gave_are_not_invention(app, fake_openai):
    fake_openai.tool_call(
        "run_sql", {"query": "SELECT count(*) AS n FROM products WHERE price < 500"})
    fake_openai.reply("Hay varios productos por debajo de S/ 500.00.")
    reply = await answer(app, ANA, "¿cuántos productos hay de menos de 500 soles?")
    assert reply.text == "Hay varios productos por debajo de S/ 500.00."


async def test_rows_are_capped_and_the_model_is_told(app, fake_openai):
    fake_openai.tool_call("run_sql", {"query": "SELECT id, name, price FROM products"})
    fake_openai.reply("Hay 500 productos en total.")
    reply = await answer(app, ANA, "lista todo")
    shown = tool_messages(fake_openai.chat_requests[1])[0]
    assert "(showing 50 of 500 rows)" in shown
    assert len(reply.rows) == 50


async def test_hostile_sql_from_the_model_is_refused_to_the_model(app, fake_openai, catalog_db):
    before = catalog_db.read_bytes()
    fake_openai.tool_call("run_sql", {"query": "DELETE FROM products"})
    fake_openai.reply("No puedo modificar el catálogo.")
    reply = await answer(app, ANA, "borra todos los productos")
    assert tool_messages(fake_openai.chat_requests[1])[0].startswith("Error:")
    assert reply.rows == []
    assert catalog_db.read_bytes() == before


async def test_tool_calls_are_bounded(model_settings, fake_openai):
    app = await build_context(model_settings(MAX_TOOL_CALLS="2"))
    try:
        for _ in range(3):
            fake_openai.tool_call("run_sql", {"query": "SELECT count(*) FROM products"})
        fake_openai.reply("Hay 500 productos.")
        reply = await answer(app, ANA, "¿cuántos productos hay?")
    finally:
        await app.close()
    assert len(reply.sql) == 2
    assert fake_openai.chat_requests[-1]["tool_choice"] == "none"
    assert reply.text == "Hay 500 productos."


async def test_off_topic_is_refused_through_the_decline_tool(app, fake_openai):
    fake_openai.tool_call("decline", {"reply": "Solo puedo ayudarte con los productos de la "
                                               "tienda."})
    reply = await answer(app, ANA, "¿quién ganó el partido ayer?")
    assert reply.refused and reply.sql == []
    assert reply.text == "Solo puedo ayudarte con los productos de la tienda."
    assert len(fake_openai.chat_requests) == 1
    assert [t["function"]["name"] for t in fake_openai.chat_requests[0]["tools"]] == [
        "run_sql", "decline"]
    cursor = await app.state.execute("SELECT outcome FROM usage")
    assert [tuple(r) for r in await cursor.fetchall()] == [("refused",)]


async def test_a_greeting_answered_without_sql_is_not_a_refusal(app, fake_openai):
    fake_openai.reply("¡Hola! ¿Qué producto buscas?")
    reply = await answer(app, ANA, "hola")
    assert not reply.refused and reply.sql == []
    cursor = await app.state.execute("SELECT outcome FROM usage")
    assert [tuple(r) for r in await cursor.fetchall()] == [("ok",)]


async def test_a_decline_without_words_gets_the_standard_refusal(app, fake_openai):
    fake_openai.tool_call("decline", {})
    reply = await answer(app, ANA, "cuéntame un chiste")
    assert reply.refused and "productos de la tienda" in reply.text


async def test_memory_follows_the_user_and_survives_restart(model_settings, fake_openai):
    settings = model_settings()
    app = await build_context(settings)
    fake_openai.reply("Tenemos la Laptop A.")
    await answer(app, ANA, "dame laptops")
    fake_openai.reply("Hola Beto.")
    await answer(app, BETO, "hola")
    await app.close()

    app = await build_context(settings)
    try:
        fake_openai.reply("La más barata es la Laptop A.")
        await answer(app, ANA, "¿y la más barata?")
    finally:
        await app.close()
    beto_request = fake_openai.chat_requests[1]["messages"]
    assert beto_request[2:] == [{"role": "user", "content": "hola"}]
    ana_after_restart = fake_openai.chat_requests[2]["messages"]
    assert {"role": "user", "content": "dame laptops"} in ana_after_restart
    assert {"role": "assistant", "content": "Tenemos la Laptop A."} in ana_after_restart


async def test_reset_forgets(app, fake_openai):
    fake_openai.reply("Tenemos la Laptop A.")
    await answer(app, ANA, "dame laptops")
    await reset_conversation(app, ANA)
    fake_openai.reply("¿Qué buscas?")
    await answer(app, ANA, "hola")
    assert len(fake_openai.chat_requests[1]["messages"]) == 3  # prompt, date, question


async def test_usage_is_recorded(app, fake_openai):
    fake_openai.tool_call("run_sql", {"query": "SELECT count(*) FROM products"})
    fake_openai.reply("Hay 500.", prompt_tokens=300, completion_tokens=12)
    await answer(app, ANA, "¿cuántos productos hay?")
    cursor = await app.state.execute(
        "SELECT user_id, engine, outcome, prompt_tokens, completion_tokens, model_calls, sql"
        " FROM usage")
    row = tuple(await cursor.fetchone())
    assert row[:6] == (101, "model", "ok", 400, 32, 2)
    assert "count(*)" in row[6]


async def test_daily_token_budget_refuses_politely(model_settings, fake_openai):
    app = await build_context(model_settings(DAILY_TOKEN_BUDGET="100"))
    try:
        fake_openai.reply("Hola.", prompt_tokens=90, completion_tokens=20)
        await answer(app, ANA, "hola")
        reply = await answer(app, ANA, "dame laptops")
    finally:
        await app.close()
    assert reply.refused and "límite" in reply.text
    assert len(fake_openai.chat_requests) == 1


async def test_shared_transcript_reaches_the_prompt(app, fake_openai):
    await memory.save_transcript(app.state, ANA.key, "reunion.ogg",
                                 "Acordamos vender la licuadora a 199 soles.")
    fake_openai.reply("Mencionaron S/ 199.00 para la licuadora.")
    reply = await answer(app, ANA, "¿qué precio mencionaron?")
    context = fake_openai.chat_requests[0]["messages"][1]["content"]
    assert "Acordamos vender la licuadora a 199 soles." in context
    assert "no lo sé" in context
    assert not reply.refused


@pytest.mark.parametrize("fault", ["500", "429", "hang", "garbage"])
async def test_model_faults_fall_back_to_basic_mode(model_settings, fake_openai, fault, catalog_db):
    app = await build_context(model_settings(OPENAI_TIMEOUT="0.5"))
    try:
        if fault == "500":
            fake_openai.fail(500)
        elif fault == "429":
            fake_openai.fail(429, retry_after=0.1)
        elif fault == "hang":
            fake_openai.hang(3)
        else:
            fake_openai.garbage()
        reply = await answer(app, ANA, "¿cuál es el producto más caro?")
        fake_openai.reply("¡Hola de nuevo!")
        after = await answer(app, ANA, "hola")
    finally:
        await app.close()
    name, _price = most_expensive(catalog_db)
    assert reply.engine == "basic" and not reply.failed
    assert "Modo básico" in reply.text
    assert name in reply.text
    assert after.text == "¡Hola de nuevo!"


async def test_retry_after_429_reaches_the_model(model_settings, fake_openai):
    app = await build_context(model_settings(OPENAI_MAX_RETRIES="1"))
    try:
        fake_openai.fail(429, retry_after=0.1)
        fake_openai.reply("¡Hola!")
        reply = await answer(app, ANA, "hola")
    finally:
        await app.close()
    assert reply.text == "¡Hola!" and reply.engine == "model"


async def test_outage_with_a_question_basic_mode_cannot_parse(model_settings, fake_openai):
    app = await build_context(model_settings())
    try:
        fake_openai.fail(503, times=3)
        reply = await answer(app, ANA, "¿qué opinas del clima de mañana?")
    finally:
        await app.close()
    assert reply.failed
    assert reply.text == ("El asistente no está disponible ahora mismo, intenta de nuevo en un "
                          "minuto.")
    assert "Traceback" not in reply.text


async def test_empty_and_overlong_questions(app, fake_openai):
    empty = await answer(app, ANA, "   ")
    assert empty.refused
    # Any store's customers: the example names no kind of product (a bodega sells no laptops).
    assert empty.text == ("Escríbeme una pregunta sobre nuestros productos, por ejemplo: "
                          "«¿cuál es el producto más barato?»")
    assert "muy largo" in (await answer(app, ANA, "a" * 5000)).text
    assert fake_openai.chat_requests == []


async def test_start_up_brings_an_older_demo_catalog_up_to_date(make_settings, tmp_path):
    catalog = first_version_demo_catalog(tmp_path / "catalog.db")
    app = await build_context(make_settings())
    await app.close()
    with sqlite3.connect(catalog) as conn:
        applied = [r[0] for r in conn.execute("SELECT name FROM schema_migrations ORDER BY name")]
    assert applied == ["0001_products.sql", "0002_availability_indexes.sql",
                       "0003_category_brand_index.sql", "0004_product_summary.sql"]


async def test_start_up_never_writes_a_stores_own_catalog(make_settings, tmp_path):
    own = tmp_path / "catalog.db"
    with sqlite3.connect(own) as conn:
        conn.execute("CREATE TABLE articulos (codigo TEXT, nombre TEXT, precio REAL)")
        conn.execute("INSERT INTO articulos VALUES ('A1', 'Arroz Costeño 5 kg', 24.9)")
    before = own.read_bytes()
    app = await build_context(make_settings())
    await app.close()
    assert own.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith("catalog")) == [
        "catalog.db"]


@pytest.mark.parametrize("price", ["9e999", "-9e999", "1e300", "-1e13"])
async def test_a_money_column_that_is_no_amount_never_crashes_an_answer(app, fake_openai, price):
    sql = f"SELECT name, {price} AS price FROM products ORDER BY id LIMIT 2"
    fake_openai.tool_call("run_sql", {"query": sql})
    fake_openai.reply("Esa laptop cuesta S/ 99.00.")  # an amount the rows do not hold
    reply = await answer(app, ANA, "¿cuánto cuesta la laptop?")
    assert not reply.failed
    assert reply.meta["rebuilt"] is True and "S/ 99.00" not in reply.text
    [rows] = tool_messages(fake_openai.chat_requests[1])
    assert "precio no disponible" in rows and "precio no disponible" in reply.text


async def test_a_catalog_with_an_infinite_price_starts_and_answers(model_settings, catalog_db,
                                                                  fake_openai):
    with sqlite3.connect(catalog_db) as conn:
        conn.execute("UPDATE products SET price = 9e999 WHERE id = 7")
    context = await build_context(model_settings())
    try:
        assert "to precio no disponible" in context.profile.schema_text
        fake_openai.reply("¡Hola!")
        assert (await answer(context, ANA, "hola")).text == "¡Hola!"
    finally:
        await context.close()


# 7. A silent endpoint: basic mode answers within 20 s at the default settings. Run here at a
# fifth of the defaults' time (4 s for 20 s): OPENAI_TIMEOUT and ANSWER_TIMEOUT scaled,
# OPENAI_MAX_RETRIES as shipped, the endpoint hanging on every request.
SCALE = 5


async def test_a_silent_endpoint_gets_basic_mode_within_twenty_seconds_at_the_defaults(
        make_settings, catalog_db, fake_openai):
    defaults = {spec.name: spec.default for spec in fields(Settings)}
    app = await build_context(make_settings(
        OPENAI_API_KEY=fake_openai.api_key, OPENAI_BASE_URL=fake_openai.base_url,
        OPENAI_TIMEOUT=str(defaults["openai_timeout"] / SCALE),
        OPENAI_MAX_RETRIES=str(defaults["openai_max_retries"]),
        ANSWER_TIMEOUT=str(defaults["answer_timeout"] / SCALE)))
    try:
        await app.basic_engine()
        fake_openai.hang(60, times=10)
        started = time.perf_counter()
        reply = await answer(app, ANA, "¿cuál es el producto más caro?")
        elapsed = time.perf_counter() - started
    finally:
        await app.close()
    assert reply.engine == "basic" and most_expensive(catalog_db)[0] in reply.text
    assert elapsed < 20 / SCALE


async def test_answer_timeout_bounds_a_tool_loop_of_slow_calls(model_settings, catalog_db):
    async with FakeOpenAI(latency=0.5) as slow:
        app = await build_context(model_settings(
            OPENAI_BASE_URL=slow.base_url, OPENAI_TIMEOUT="1", ANSWER_TIMEOUT="1"))
        try:
            await app.basic_engine()
            for _ in range(4):
                slow.tool_call("run_sql", {"query": "SELECT count(*) FROM products"})
            slow.reply("Hay 500 productos.")
            started = time.perf_counter()
            reply = await answer(app, ANA, "¿cuál es el producto más caro?")
            elapsed = time.perf_counter() - started
        finally:
            await app.close()
    assert reply.engine == "basic" and most_expensive(catalog_db)[0] in reply.text
    assert 1.0 <= elapsed < 2.0  # the five calls alone would take 2.5 s
    assert 2 <= len(slow.chat_requests) <= 3  # each call took 0.5 s, under OPENAI_TIMEOUT


@pytest.mark.parametrize(("budget", "second_answered"), [(119, False), (120, False),
                                                         (121, True)])
async def test_daily_token_budget_boundary(model_settings, fake_openai, budget,
                                           second_answered):
    app = await build_context(model_settings(DAILY_TOKEN_BUDGET=str(budget)))
    try:
        fake_openai.reply("Hola.", prompt_tokens=100, completion_tokens=20)
        first = await answer(app, ANA, "hola")
        fake_openai.reply("Tenemos laptops.")
        second = await answer(app, ANA, "dame laptops")
    finally:
        await app.close()
    assert first.text == "Hola."  # nothing spent yet: under any budget
    assert (second.text == "Tenemos laptops.") is second_answered
    assert second.refused is not second_answered
    assert len(fake_openai.chat_requests) == (2 if second_answered else 1)


async def test_cached_prompt_tokens_are_recorded_when_the_server_reports_them(app, fake_openai):
    fake_openai.push(ToolCalls([("run_sql", '{"query": "SELECT count(*) FROM products"}',
                                 "call_1")], prompt_tokens=1300, cached_tokens=1152))
    fake_openai.reply("Hay 500.", prompt_tokens=1400, cached_tokens=1280)
    fake_openai.reply("Hola.", prompt_tokens=1200)  # a server that reports no cache
    reply = await answer(app, ANA, "¿cuántos productos hay?")
    assert (reply.prompt_tokens, reply.cached_tokens) == (2700, 2432)
    await answer(app, BETO, "hola")
    rows = await app.state.execute_fetchall(
        "SELECT user_id, prompt_tokens, cached_tokens FROM usage ORDER BY id")
    assert [tuple(row) for row in rows] == [(101, 2700, 2432), (202, 1200, 0)]


async def test_basic_mode_says_so_once_per_conversation(make_settings, catalog_db):
    app = await build_context(make_settings())
    try:
        first = await answer(app, ANA, "laptops baratas")
        second = await answer(app, ANA, "¿y en negro?")
        not_understood = await answer(app, ANA, "xyzzy plugh")
        other_user = await answer(app, BETO, "celulares")
    finally:
        await app.close()
    assert "Modo básico" in first.text
    assert "Modo básico" not in second.text and second.rows
    assert "Modo básico" in not_understood.text  # it explains why the answer is so limited
    assert "Modo básico" in other_user.text


async def test_an_english_answer_gets_an_english_notice(make_settings, catalog_db):
    app = await build_context(make_settings())
    try:
        chat = Conversation.private(303, "es")
        await answer(app, chat, "show me Sony headphones")
        reply = await answer(app, chat, "xyzzy")  # says nothing of its language
    finally:
        await app.close()
    assert reply.text.startswith("I did not") and "Basic mode" in reply.text
    assert "Modo básico" not in reply.text
