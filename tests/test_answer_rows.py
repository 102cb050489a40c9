"""One model call when the rows are the answer: the model's words around rows KRATOS writes.

End to end through the assistant core, the real AsyncOpenAI client and the fake OpenAI server,
on a real demo catalog; plus the reply writer on its own for the shapes a result can take.
"""

from __future__ import annotations

import sqlite3
from contextlib import closing

import pytest

from bot.catalog.money import amounts_in_text, format_soles, to_cents
from bot.catalog.reader import QueryResult
from bot.core.answer_rows import ReplyWords, direct_reply, reply_words, write_reply
from bot.core.assistant import answer
from bot.core.context import build_context
from bot.core.reply import Conversation

ANA = Conversation.private(101)
CHEAPEST_LAPTOPS = ("SELECT name, price, availability FROM products WHERE category = 'Laptops' "
                    "ORDER BY price ASC, id LIMIT 3")


@pytest.fixture
async def app(make_settings, catalog_db, openai):
    context = await build_context(make_settings(
        OPENAI_API_KEY=openai.api_key, OPENAI_BASE_URL=openai.base_url,
        OPENAI_MAX_RETRIES="0", OPENAI_TIMEOUT="2", ANSWER_TIMEOUT="10"))
    yield context
    await context.close()


def rows(catalog_db, sql):
    with closing(sqlite3.connect(catalog_db)) as conn:
        return conn.execute(sql).fetchall()


def result(columns, data, *, truncated=False, total=None):
    return QueryResult(sql="SELECT ...", columns=list(columns), rows=[tuple(r) for r in data],
                       truncated=truncated, total=total if truncated else len(data),
                       elapsed_ms=0.1)


# -- end to end ---------------------------------------------------------------------------------


async def test_a_list_is_answered_in_one_call_from_its_rows(app, openai, catalog_db):
    openai.tool_call("run_sql", {"query": CHEAPEST_LAPTOPS,
                                 "intro": "Estas son nuestras laptops más baratas:",
                                 "empty_reply": "No tenemos laptops ahora."})
    reply = await answer(app, ANA, "las 3 laptops más baratas")
    assert len(openai.chat_requests) == 1 and reply.model_calls == 1
    lines = reply.text.splitlines()
    assert lines[0] == "Estas son nuestras laptops más baratas:"
    expected = rows(catalog_db, CHEAPEST_LAPTOPS)
    assert len(lines) == 1 + len(expected) == 4
    for line, (name, price, availability) in zip(lines[1:], expected, strict=True):
        assert line == f"• {name} — {format_soles(price)} ({availability})"
    assert reply.rows == expected and reply.engine == "model" and not reply.refused


async def test_a_count_fills_the_models_sentence(app, openai, catalog_db):
    sql = "SELECT count(*) AS n FROM products WHERE category = 'Laptops'"
    openai.tool_call("run_sql", {"query": sql, "one_row_reply": "Tenemos {n} laptops.",
                                 "empty_reply": "No tenemos laptops."})
    reply = await answer(app, ANA, "¿cuántas laptops tienen?")
    assert reply.text == f"Tenemos {rows(catalog_db, sql)[0][0]} laptops."
    assert reply.model_calls == 1


async def test_an_average_is_written_in_soles(app, openai, catalog_db):
    sql = "SELECT round(avg(price), 2) AS precio_promedio FROM products WHERE family = 'Hogar'"
    openai.tool_call("run_sql", {"query": sql,
                                 "one_row_reply": "El precio promedio en Hogar es "
                                                  "{precio_promedio}."})
    reply = await answer(app, ANA, "precio promedio de hogar")
    assert reply.text == (f"El precio promedio en Hogar es "
                          f"{format_soles(rows(catalog_db, sql)[0][0])}.")


@pytest.mark.parametrize("sql", [
    "SELECT name, price FROM products WHERE brand = 'Marca Que No Existe'",
    "SELECT avg(price) AS promedio FROM products WHERE brand = 'Marca Que No Existe'",
])
async def test_nothing_found_uses_the_models_sentence(app, openai, sql):
    openai.tool_call("run_sql", {"query": sql, "intro": "Esto encontré:",
                                 "empty_reply": "No tenemos esa marca, lo siento.",
                                 "one_row_reply": "El promedio es {promedio}."})
    reply = await answer(app, ANA, "¿tienen productos de esa marca?")
    assert reply.text == "No tenemos esa marca, lo siento."
    assert reply.model_calls == 1


async def test_words_stating_an_amount_no_row_holds_are_not_used(app, openai, catalog_db):
    openai.tool_call("run_sql", {"query": CHEAPEST_LAPTOPS,
                                 "intro": "Desde S/ 1.00 tenemos estas laptops:"})
    reply = await answer(app, ANA, "laptops baratas")
    assert "S/ 1.00" not in reply.text
    assert reply.text.startswith("Esto es lo que encontré (3):")
    known = {to_cents(price) for _, price, _ in rows(catalog_db, CHEAPEST_LAPTOPS)}
    assert set(amounts_in_text(reply.text)) <= known


async def test_an_amount_the_customer_said_may_be_repeated(app, openai):
    sql = ("SELECT name, price FROM products WHERE category = 'Laptops' AND price < 3000 "
           "ORDER BY price LIMIT 2")
    openai.tool_call("run_sql", {"query": sql, "intro": "Laptops de menos de S/ 3,000.00:"})
    reply = await answer(app, ANA, "laptops de menos de S/ 3,000")
    assert reply.text.startswith("Laptops de menos de S/ 3,000.00:")


async def test_two_lists_in_one_message_make_one_reply(app, openai, catalog_db):
    phones = ("SELECT name, price FROM products WHERE category = 'Celulares' "
              "ORDER BY price LIMIT 2")
    openai.tool_calls([
        ("run_sql", {"query": CHEAPEST_LAPTOPS, "intro": "Laptops:"}),
        ("run_sql", {"query": phones, "intro": "Celulares:"}),
    ])
    reply = await answer(app, ANA, "laptops y celulares baratos")
    laptops, phones_part = reply.text.split("\n\n")
    assert laptops.startswith("Laptops:\n") and phones_part.startswith("Celulares:\n")
    assert all(name in phones_part for name, _ in rows(catalog_db, phones))
    assert reply.model_calls == 1


# -- when a second call is needed ---------------------------------------------------------------


async def test_rows_go_back_to_the_model_when_it_gives_no_words(app, openai):
    openai.tool_call("run_sql", {"query": CHEAPEST_LAPTOPS})
    openai.reply("Para la universidad te recomiendo la primera: es ligera y económica.")
    reply = await answer(app, ANA, "¿qué laptop me recomiendas para la universidad?")
    assert reply.model_calls == 2
    assert reply.text.startswith("Para la universidad te recomiendo")
    second = openai.chat_requests[1]["messages"]
    assert second[-1]["role"] == "tool" and "S/ " in second[-1]["content"]


async def test_a_failing_query_goes_back_to_the_model_even_with_words(app, openai, catalog_db):
    openai.tool_call("run_sql", {"query": "SELECT nombre FROM productos",
                                 "intro": "Estas son:"})
    openai.tool_call("run_sql", {"query": CHEAPEST_LAPTOPS, "intro": "Estas son:"})
    reply = await answer(app, ANA, "laptops baratas")
    assert reply.model_calls == 2
    assert openai.chat_requests[1]["messages"][-1]["content"].startswith("Error:")
    assert reply.text.splitlines()[0] == "Estas son:"
    assert reply.rows == rows(catalog_db, CHEAPEST_LAPTOPS)


async def test_one_call_with_words_and_one_without_needs_the_model(app, openai):
    openai.tool_calls([
        ("run_sql", {"query": CHEAPEST_LAPTOPS, "intro": "Laptops:"}),
        ("run_sql", {"query": "SELECT name, price FROM products WHERE category = 'Celulares' "
                              "LIMIT 2"}),
    ])
    openai.reply("La laptop es mejor para trabajar; el celular, para llevar.")
    reply = await answer(app, ANA, "¿compro laptop o celular?")
    assert reply.model_calls == 2 and reply.text.startswith("La laptop es mejor")


# -- the reply writer alone ---------------------------------------------------------------------


def test_words_are_read_from_a_json_string_or_an_object() -> None:
    assert reply_words('{"query": "SELECT 1", "intro": " Hola: "}') == ReplyWords(intro="Hola:")
    assert reply_words({"query": "SELECT 1", "empty_reply": "Nada."}) == \
        ReplyWords(empty_reply="Nada.")
    for no_words in ('{"query": "SELECT 1"}', '{"query": "SELECT 1", "intro": ""}',
                     '{"query": "SELECT 1", "intro": 5}', "not json", '["intro"]', None):
        assert reply_words(no_words) is None


def test_a_placeholder_the_row_lacks_falls_back_to_the_list() -> None:
    found = result(["name", "price"], [("Laptop A", 1999.0)])
    text = write_reply(ReplyWords(one_row_reply="La más barata es {nombre}: {precio}.",
                                  intro="La más barata:"), found, language="es", known=set())
    assert text == "La más barata:\n• Laptop A — S/ 1,999.00"


def test_a_cut_result_says_how_many_there_are() -> None:
    found = result(["name", "price"], [(f"P{n}", 10.0 + n) for n in range(3)],
                   truncated=True, total=312)
    text = write_reply(ReplyWords(intro="Productos:"), found, language="es", known=set())
    assert text.splitlines()[-1] == "(mostrando 3 de 312)"
    english = write_reply(ReplyWords(empty_reply="None."), found, language="en", known=set())
    assert english.startswith("Here is what I found (312):")
    assert english.splitlines()[-1] == "(showing 3 of 312)"


def test_rows_without_a_name_are_written_column_by_column() -> None:
    found = result(["category", "n"], [("Laptops", 40), ("Celulares", 35)])
    text = write_reply(ReplyWords(intro="Por categoría:"), found, language="es", known=set())
    assert text == "Por categoría:\n• category: Laptops, n: 40\n• category: Celulares, n: 35"


def test_no_direct_reply_for_another_tool_or_a_failed_query() -> None:
    found = result(["n"], [(3,)])
    words = '{"query": "SELECT 1", "one_row_reply": "Hay {n}."}'
    assert direct_reply([("run_sql", words)], [found], language="es", known=set()) == "Hay 3."
    assert direct_reply([("run_sql", words)], [None], language="es", known=set()) is None
    assert direct_reply([("other", words)], [found], language="es", known=set()) is None
    assert direct_reply([], [], language="es", known=set()) is None


def test_the_prompt_explains_the_words_and_the_tool_takes_them() -> None:
    from bot.core.answer_rows import RUN_SQL_TOOL, WORD_FIELDS, WORDS_RULE
    from bot.core.prompt import CatalogProfile, system_prompt

    prompt = system_prompt(CatalogProfile(schema_text="TABLE products (1 rows)", vocabulary=(),
                                          has_fts=False))
    assert WORDS_RULE in prompt
    properties = RUN_SQL_TOOL["function"]["parameters"]["properties"]
    assert set(WORD_FIELDS) < set(properties) and RUN_SQL_TOOL["function"]["parameters"][
        "required"] == ["query"]


def test_a_call_written_as_text_keeps_its_words() -> None:
    """Servers that write tool calls into the text (a bare JSON object) keep the words too."""
    from bot.core.completion import text_tool_calls

    calls, rest, unreadable = text_tool_calls(
        '{"query": "SELECT name FROM products", "intro": "Estos:", "empty_reply": "Nada."}')
    [call] = calls
    assert call.name == "run_sql" and reply_words(call.arguments) == ReplyWords(
        intro="Estos:", empty_reply="Nada.")
    assert rest == "" and not unreadable
