"""Catalog and customer text reaches the customer exactly as written, on Telegram and WhatsApp:
only KRATOS's own emphasis is formatting. Product names carrying each channel's markup
characters are answered by basic mode from a real catalog, laid out, and read back as the
customer sees them (Telegram: through the fake Bot API's HTML parser; WhatsApp: its text
without the invisible zero-width spaces)."""

from __future__ import annotations

import re
import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bot.channels.telegram.format import render as telegram_render
from bot.channels.text import OWN_END, OWN_START, for_phone, to_plain
from bot.channels.whatsapp.format import ZERO_WIDTH_SPACE, literal
from bot.channels.whatsapp.format import render as whatsapp_render
from bot.core.assistant import answer
from bot.core.context import AppContext, build_context
from bot.core.reply import Conversation
from tests.fakes.telegram_server import parse_html

#: Product names with every kind of markup character a chat app might read.
NAMES = [
    "Cable `USB-C` 2m",
    "Polo *Oferta* talla M",
    "Taza _mate_ grande",
    "Caja <grande> & más",
    "Sal &amp; pimienta",
    "Vino ~tinto~ seco",
    "Combo ||dúo|| x2",
    "Cinta ```doble``` cara",
    "Foco *LED 9W",
]
BRAND = "Casa_Lima"


@pytest.fixture
async def app(tmp_path: Path, make_settings) -> AsyncIterator[AppContext]:
    catalog = tmp_path / "tienda.db"
    with sqlite3.connect(catalog) as conn:
        conn.execute("CREATE TABLE productos (nombre TEXT, precio REAL, marca TEXT)")
        conn.executemany("INSERT INTO productos VALUES (?, ?, ?)",
                         [(name, 10 + n, BRAND) for n, name in enumerate(NAMES)])
    conn.close()
    context = await build_context(make_settings(CATALOG_DB=str(catalog)))
    yield context
    await context.close()


async def listing(app: AppContext) -> str:
    reply = await answer(app, Conversation.private(31), "dame 10 productos")
    assert all(name in reply.text for name in NAMES), reply.text
    return reply.text


async def test_telegram_shows_catalog_names_as_written(app: AppContext) -> None:
    text = await listing(app)
    [chunk] = telegram_render(text)
    shown, entities = parse_html(chunk.html)
    assert shown == chunk.plain
    for name in NAMES:
        assert f"{name} ({BRAND})" in shown, name
    assert "<code>" not in chunk.html and "<i>" not in chunk.html
    # The names KRATOS sets out are its only emphasis: one bold entity per product line.
    assert [entity["type"] for entity in entities] == ["bold"] * len(NAMES)


async def test_whatsapp_shows_catalog_names_as_written(app: AppContext) -> None:
    text = await listing(app)
    [message] = whatsapp_render(text)
    seen = message.replace(ZERO_WIDTH_SPACE, "")
    for number, name in enumerate(NAMES, start=1):
        assert f"{number}. *{name} ({BRAND})* — S/ {10 + number - 1}.00" in seen, name
    for marked in (f"*{name} ({BRAND})*" for name in NAMES):
        inner = marked[1:-1]
        assert f"*{literal_fenced(inner)}*" in message


def literal_fenced(inner: str) -> str:
    body = literal(inner)
    return (ZERO_WIDTH_SPACE if body[:1] in "*_~`" else "") + body + (
        ZERO_WIDTH_SPACE if body[-1:] in "*_~`" else "")


@pytest.mark.parametrize("name", NAMES)
def test_no_markup_character_of_a_name_touches_a_letter_on_whatsapp(name: str) -> None:
    """Where a marker touches text WhatsApp could pair it; a zero-width space stands between."""
    sent = literal(f"Tenemos {name} a S/ 10.00.")
    assert sent.replace(ZERO_WIDTH_SPACE, "") == f"Tenemos {name} a S/ 10.00."
    assert not re.search(r"[*_~`][^\s\u200b]|[^\s\u200b][*_~`]", sent), sent


@pytest.mark.parametrize("name", NAMES)
def test_names_in_prose_and_tables_stay_as_written(name: str) -> None:
    prose = f"Sí, tenemos {name} a S/ 10.00."
    table = f"| Producto | Precio |\n|---|---|\n| {name} | S/ 10.00 |"
    for text, expected in ((prose, prose), (table, f"• {name} — Precio: S/ 10.00")):
        [chunk] = telegram_render(text)
        assert parse_html(chunk.html)[0] == expected
        [message] = whatsapp_render(text)
        assert message.replace(ZERO_WIDTH_SPACE, "").replace(f"*{name}*", name) == expected


def test_links_and_addresses_are_left_whole_on_whatsapp() -> None:
    text = "Mira https://tienda.pe/mi_producto_1 o escribe a ventas_lima@tienda.pe"
    assert whatsapp_render(text) == [text]


def test_kratos_emphasis_cannot_be_opened_by_catalog_text() -> None:
    """The private marks KRATOS uses are removed from what it is given."""
    sneaky = f"Producto {OWN_START}falso{OWN_END} — ojo"
    assert to_plain(for_phone(sneaky)) == "Producto falso — ojo"
    [chunk] = telegram_render(sneaky)
    assert "<b>" not in chunk.html


def test_a_split_never_shows_half_a_mark() -> None:
    long_name = "Mochila " + "grande " * 40
    [*chunks] = telegram_render(f"1. {long_name}— S/ 10.00", limit=120)
    assert len(chunks) > 1
    for chunk in chunks:
        assert OWN_START not in chunk.plain and OWN_END not in chunk.plain
        assert parse_html(chunk.html)[0] == chunk.plain


def test_a_bar_escaped_in_a_table_cell_is_text() -> None:
    table = "| # | Producto | Precio |\n|---|---|---|\n| 1 | Combo \\|dúo\\| | S/ 10.00 |"
    [chunk] = telegram_render(table)
    assert parse_html(chunk.html)[0] == "• Combo |dúo| — Precio: S/ 10.00"
