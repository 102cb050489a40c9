"""Model-mode replies on a store's own SQLite file name things with the store's columns.

A gift shop keeps ``articulos(codigo, titulo, pvp, hay_stock)`` beside a table of employees:
its name column is ``titulo``, its price ``pvp`` and its availability ``hay_stock``, none of
them a standard name. Whether KRATOS writes the reply from the rows or the model writes it
from them, the customer reads "• title — S/ 12.50 (sí)", amounts in soles that the grounding
check knows, never "pvp: 12.5".
"""

from __future__ import annotations

import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bot.catalog.columns import STANDARD, ResultColumns
from bot.catalog.money import format_soles, to_cents
from bot.catalog.roles import CatalogRoles, find_roles
from bot.core.assistant import answer
from bot.core.context import AppContext, build_context
from bot.core.evaluation import catalog_facts, shows_catalog
from bot.core.reply import Conversation
from tests.fakes.openai_server import FakeOpenAI

GIFTS = [
    ("R-01", "Taza mágica", 12.5, "sí"),
    ("R-02", "Peluche de alpaca", 39.9, "sí"),
    ("R-03", "Llavero de Machu Picchu", 7.0, "no"),
    ("R-04", "Cuadro de Cusco", 149.0, "sí"),
]
CHEAPEST = "SELECT titulo, pvp, hay_stock FROM articulos ORDER BY pvp LIMIT 3"
CUSTOMER = Conversation.private(501)


@pytest.fixture
def gift_shop(tmp_path: Path) -> Path:
    path = tmp_path / "catalog.db"
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE articulos (codigo TEXT, titulo TEXT, pvp REAL, hay_stock TEXT)")
        conn.executemany("INSERT INTO articulos VALUES (?, ?, ?, ?)", GIFTS)
        conn.execute("CREATE TABLE empleados (nombre TEXT, sueldo REAL)")
        conn.execute("INSERT INTO empleados VALUES ('Rosa', 1800)")
    conn.close()
    return path


@pytest.fixture
async def model() -> AsyncIterator[FakeOpenAI]:
    async with FakeOpenAI() as fake:
        yield fake


@pytest.fixture
async def app(make_settings, gift_shop, model) -> AsyncIterator[AppContext]:
    context = await build_context(make_settings(
        OPENAI_API_KEY=model.api_key, OPENAI_BASE_URL=model.base_url, OPENAI_MAX_RETRIES="0"))
    yield context
    await context.close()


def cheapest(path: Path, count: int) -> list[tuple[str, float, str]]:
    with sqlite3.connect(path) as conn:
        return conn.execute("SELECT titulo, pvp, hay_stock FROM articulos ORDER BY pvp LIMIT ?",
                            (count,)).fetchall()


async def test_a_list_from_the_rows_reads_the_stores_columns(app, model, gift_shop) -> None:
    assert app.roles is not None and app.roles.column("price") == "pvp"
    model.tool_call("run_sql", {"query": CHEAPEST, "intro": "Lo más barato que tenemos:"})
    reply = await answer(app, CUSTOMER, "¿qué es lo más barato?")
    expected = [f"• {title} — {format_soles(price)} ({state})"
                for title, price, state in cheapest(gift_shop, 3)]
    assert reply.text.splitlines() == ["Lo más barato que tenemos:", *expected]
    assert "pvp" not in reply.text and "titulo" not in reply.text


async def test_a_one_row_reply_fills_the_price_in_soles(app, model, gift_shop) -> None:
    model.tool_call("run_sql", {
        "query": "SELECT titulo, pvp FROM articulos WHERE titulo LIKE '%alpaca%'",
        "one_row_reply": "El {titulo} cuesta {pvp}."})
    reply = await answer(app, CUSTOMER, "¿cuánto cuesta el peluche de alpaca?")
    assert reply.text == f"El Peluche de alpaca cuesta {format_soles(39.9)}."


async def test_an_average_of_the_price_column_is_an_amount(app, model, gift_shop) -> None:
    model.tool_call("run_sql", {"query": "SELECT round(avg(pvp), 2) FROM articulos",
                                "one_row_reply": "El precio promedio es {round(avg(pvp), 2)}."})
    reply = await answer(app, CUSTOMER, "¿precio promedio?")
    with sqlite3.connect(gift_shop) as conn:
        ((average,),) = conn.execute("SELECT round(avg(pvp), 2) FROM articulos").fetchall()
    assert reply.text == f"El precio promedio es {format_soles(average)}."


async def test_the_models_own_reply_states_amounts_the_rows_hold(app, model, gift_shop) -> None:
    (title, price, _), = cheapest(gift_shop, 1)
    model.tool_call("run_sql", {"query": CHEAPEST})
    model.reply(f"Te recomiendo el {title}: cuesta {format_soles(price)}.")
    reply = await answer(app, CUSTOMER, "¿qué me recomiendas barato?")
    # The rows reached the model in soles, and the amount it stated is one a row holds.
    tool_text = [m["content"] for m in model.chat_requests[1]["messages"] if m["role"] == "tool"]
    assert format_soles(price) in tool_text[0] and "| 7.0" not in tool_text[0]
    assert reply.text == f"Te recomiendo el {title}: cuesta {format_soles(price)}."
    assert not reply.meta.get("rebuilt")


async def test_an_invented_amount_is_rebuilt_with_the_stores_names(app, model, gift_shop) -> None:
    model.tool_call("run_sql", {"query": CHEAPEST})
    model.reply("El más barato cuesta S/ 1.00.")
    reply = await answer(app, CUSTOMER, "¿el más barato?")
    assert reply.meta.get("rebuilt") is True
    title, price, state = cheapest(gift_shop, 1)[0]
    assert f"• {title} — {format_soles(price)} ({state})" in reply.text.splitlines()
    assert "pvp" not in reply.text


def test_the_price_column_is_money_alone_and_under_amount_aggregates() -> None:
    reading = ResultColumns.of(CatalogRoles("articulos", {"name": "titulo", "price": "PVP"}))
    for column in ("pvp", "PVP", "avg(pvp)", "MIN(a.pvp)", 'round(avg("pvp"), 2)',
                   "sum(pvp)", "precio", "costo_total"):
        assert reading.is_money(column), column
    for column in ("count(pvp)", "pvp_anterior", "titulo", "codigo", "stock"):
        assert not reading.is_money(column), column
    assert not STANDARD.is_money("pvp")
    assert reading.names[0] == "titulo" and STANDARD.names[0] == "name"


def test_eval_knows_a_stores_product_names_and_prices(gift_shop: Path) -> None:
    roles = find_roles(gift_shop)
    facts = catalog_facts(gift_shop, roles)
    assert set(facts.names) == {title.lower() for _, title, _, _ in GIFTS}
    assert facts.prices == {to_cents(price) for _, _, price, _ in GIFTS}
    # An answer that shows a product is not a refusal, by its name or by its price alone.
    assert shows_catalog("Tenemos la Taza mágica.", facts)
    assert shows_catalog(f"Cuesta {format_soles(149.0)}.", facts)
    assert not shows_catalog("Solo hablo de la tienda.", facts)
    # The employees' table names no products: a salary is not a price.
    assert to_cents(1800) not in facts.prices
