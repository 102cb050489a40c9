"""Reply formatting for Telegram, checked against the fake Bot API's HTML parser."""

from __future__ import annotations

import itertools

import pytest

from bot.channels.telegram.format import MAX_MESSAGE_LENGTH, escape, render, split_text, to_html
from bot.channels.text import OWN_END, OWN_START, for_phone, to_plain
from tests.fakes.telegram_server import ParseError, parse_html


def laid_out(text: str) -> str:
    """``for_phone(text)`` with KRATOS's own emphasis written as ``**`` to read it easily."""
    return for_phone(text).replace(OWN_START, "**").replace(OWN_END, "**")


def visible(html_text: str) -> str:
    return parse_html(html_text)[0]


def test_escape_covers_what_telegram_html_reserves() -> None:
    assert escape('Cable <USB-C> & "HDMI"') == 'Cable &lt;USB-C&gt; &amp; "HDMI"'


def test_product_names_with_markup_characters_survive_as_text() -> None:
    text = "1. **Audífonos <Pro> & Co** — S/ 129.90\n2. Mouse `M<1>` — S/ 45.00"
    [chunk] = render(text)
    assert "<b>Audífonos &lt;Pro&gt; &amp; Co</b>" in chunk.html
    # Backticks are the catalog's characters, not markup.
    assert "<b>Mouse `M&lt;1&gt;`</b>" in chunk.html
    shown, entities = parse_html(chunk.html)
    assert shown == chunk.plain
    assert shown == "1. Audífonos <Pro> & Co — S/ 129.90\n2. Mouse `M<1>` — S/ 45.00"
    assert [entity["type"] for entity in entities] == ["bold", "bold"]


def test_lone_stars_and_backticks_stay_literal() -> None:
    text = "Oferta 2*3 con ** sueltos y un ` solo"
    assert visible(to_html(text)) == text
    assert to_plain(text) == text


def test_markdown_table_becomes_one_line_per_product() -> None:
    text = (
        "Estos son los más caros:\n\n"
        "| # | Producto | Precio | Stock |\n"
        "|---|:---------|-------:|:-----:|\n"
        "| 1 | Laptop <X> | S/ 4,999.00 | 3 |\n"
        "| 2 | Monitor 27\" | S/ 1,299.90 | |\n"
    )
    assert laid_out(text).split("\n") == [
        "Estos son los más caros:",
        "",
        "• **Laptop <X>** — Precio: S/ 4,999.00 · Stock: 3",
        "• **Monitor 27\"** — Precio: S/ 1,299.90",
    ]


def test_bullets_headings_and_rules_are_tidied_for_a_phone() -> None:
    text = "### Laptops\n- Lenovo — S/ 2,000.00\n* HP — S/ 1,800.00\n---\n\n\n\nFin"
    assert laid_out(text) == ("**Laptops**\n• **Lenovo** — S/ 2,000.00\n• **HP** — S/ 1,800.00"
                              "\n\nFin")


def test_product_names_in_list_items_stand_out() -> None:
    text = ('Encontré 37 productos:\n1. Laptop Lenovo 14" <i7> — S/ 2,059.00 · disponible\n'
            "2) Mouse – S/ 45.00\nUna frase — con guion no es un producto")
    assert laid_out(text).split("\n") == [
        "Encontré 37 productos:",
        '1. **Laptop Lenovo 14" <i7>** — S/ 2,059.00 · disponible',
        "2) **Mouse** – S/ 45.00",
        "Una frase — con guion no es un producto",
    ]
    [chunk] = render(text)
    assert '1. <b>Laptop Lenovo 14" &lt;i7&gt;</b> — S/ 2,059.00' in chunk.html
    assert visible(chunk.html) == chunk.plain


def test_a_pipe_line_that_is_not_a_table_is_left_alone() -> None:
    assert for_phone("| no es una tabla |") == "| no es una tabla |"


def test_short_text_is_one_piece() -> None:
    assert split_text("hola\nmundo") == ["hola\nmundo"]
    assert split_text("   \n  ") == []


def test_long_text_splits_on_line_boundaries() -> None:
    lines = [f"{n}. Producto número {n} — S/ {n},000.00" for n in range(1, 400)]
    text = "\n".join(lines)
    assert len(text) > 3 * MAX_MESSAGE_LENGTH
    pieces = split_text(text)
    assert len(pieces) >= 4
    assert all(len(piece) <= MAX_MESSAGE_LENGTH for piece in pieces)
    # Whole lines only, none lost, in order.
    assert [line for piece in pieces for line in piece.split("\n")] == lines
    # Greedy: each piece is full enough that the next line would not have fitted.
    for piece, following in itertools.pairwise(pieces):
        assert len(piece) + 1 + len(following.split("\n")[0]) > MAX_MESSAGE_LENGTH


def test_an_overlong_line_is_cut_at_a_space_or_else_at_the_limit() -> None:
    words = " ".join(["palabra"] * 1500)
    pieces = split_text(words, limit=1000)
    assert all(len(piece) <= 1000 for piece in pieces)
    assert " ".join(pieces) == words
    assert all(not piece.startswith(" ") and not piece.endswith(" ") for piece in pieces)
    solid = "x" * 2500
    assert split_text(solid, limit=1000) == ["x" * 1000, "x" * 1000, "x" * 500]


def test_render_counts_visible_characters_not_escaped_ones() -> None:
    # 4,000 ampersands are 20,000 characters of HTML but 4,000 visible: one message.
    [chunk] = render("&" * 4000)
    assert len(chunk.html) == 20000
    assert visible(chunk.html) == "&" * 4000


def test_render_gives_valid_html_pieces_within_the_limit() -> None:
    text = "\n".join(f"- **Producto <{n}> & más** — S/ {n}.90" for n in range(600))
    chunks = render(text)
    assert len(chunks) > 1
    for chunk in chunks:
        shown = visible(chunk.html)
        assert shown == chunk.plain
        assert 0 < len(shown) <= MAX_MESSAGE_LENGTH
    assert chunks[0].plain.startswith("• Producto <0> & más — S/ 0.90")


def test_render_of_nothing_is_nothing() -> None:
    assert render("") == []
    assert render("\n \n") == []


@pytest.mark.parametrize("bad", [
    "a < b",
    "<blink>x</blink>",
    "<b>open",
    "<b><i>x</b></i>",
    "Tom & Jerry",
    "&nbsp;",
    '<a>link</a>',
    '<span class="x">s</span>',
])
def test_the_fake_telegram_refuses_what_telegram_refuses(bad: str) -> None:
    with pytest.raises(ParseError, match=r"(?i)can't parse entities"):
        parse_html(bad)


def test_the_fake_telegram_decodes_entities_and_reports_utf16_offsets() -> None:
    shown, entities = parse_html('😀 <b>A&amp;B</b> &#60;&#x3E; &quot;<a href="https://x.pe">x</a>')
    assert shown == '😀 A&B <> "x'
    assert entities == [
        {"type": "bold", "offset": 3, "length": 3},
        {"type": "text_link", "url": "https://x.pe", "offset": 11, "length": 1},
    ]
