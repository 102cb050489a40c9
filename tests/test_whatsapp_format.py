"""Reply text for WhatsApp: its markup, a phone's layout, its 4096-character limit."""

from __future__ import annotations

from bot.channels.whatsapp.format import MAX_TEXT_LENGTH, render, to_whatsapp

ZWSP = "\u200b"


def test_markdown_bold_becomes_whatsapp_markup_and_nothing_else_does() -> None:
    # Single stars and backticks are text (a catalog's, a customer's), kept from acting.
    assert to_whatsapp("El **más barato** es *este*, ¡ojo!") == \
        f"El *más barato* es *{ZWSP}este{ZWSP}*{ZWSP}, ¡ojo!"
    assert to_whatsapp("2 * 3 * 4 y a*b") == f"2 * 3 * 4 y a{ZWSP}*{ZWSP}b"
    assert to_whatsapp("`SKU-1` **x**") == f"`{ZWSP}SKU-1{ZWSP}` *x*"


def test_tables_become_one_line_per_product_with_the_name_in_bold() -> None:
    table = ("| # | Producto | Precio |\n|---|---|---|\n"
             "| 1 | Laptop Lenovo IdeaPad 3 | S/ 2,499.90 |\n"
             "| 2 | Laptop HP 15 | S/ 1,999.00 |")
    [message] = render(f"## Laptops\n{table}")
    assert message == ("*Laptops*\n"
                       "• *Laptop Lenovo IdeaPad 3* — Precio: S/ 2,499.90\n"
                       "• *Laptop HP 15* — Precio: S/ 1,999.00")


def test_lists_keep_their_numbers_and_bullets() -> None:
    [message] = render("- uno\n- dos\n1. Laptop X — S/ 10.00")
    assert message == "• uno\n• dos\n1. *Laptop X* — S/ 10.00"


def test_a_long_reply_is_cut_at_line_ends_within_the_limit() -> None:
    lines = [f"Línea {n}: " + "palabra " * 20 for n in range(200)]
    messages = render("\n".join(lines))
    assert len(messages) > 1
    assert all(0 < len(m) <= MAX_TEXT_LENGTH for m in messages)
    assert "\n".join(messages).count("Línea ") == 200
    assert all(m.startswith("Línea ") for m in messages)


def test_the_limit_holds_in_utf16_units_for_emoji() -> None:
    messages = render("📦 " * 3000)
    assert len(messages) > 1
    assert all(len(m.encode("utf-16-le")) // 2 <= MAX_TEXT_LENGTH for m in messages)
    assert sum(m.count("📦") for m in messages) == 3000


def test_a_single_word_longer_than_the_limit_is_still_cut() -> None:
    messages = render("x" * 9000)
    assert [len(m) for m in messages] == [4096, 4096, 808]


def test_nothing_to_send_gives_no_messages() -> None:
    assert render("  \n\n ") == []
