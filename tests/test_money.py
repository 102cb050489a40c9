"""Soles formatting and reading amounts back out of text."""

import pytest

from bot.money import amount_cents, amounts_in_text, format_cell, format_soles, to_cents


@pytest.mark.parametrize(
    ("value", "text"),
    [(1299.9, "S/ 1,299.90"), (12, "S/ 12.00"), (0.5, "S/ 0.50"), (1234567.891, "S/ 1,234,567.89"),
     ("2499.995", "S/ 2,500.00")],
)
def test_format_soles(value, text):
    assert format_soles(value) == text


def test_cents_round_half_up():
    assert to_cents(0.125) == 13
    assert to_cents(19.99) == 1999


def test_amounts_in_text():
    text = "La laptop cuesta S/ 1,299.90 y el mouse S/45; otro sale 2,100 soles, o s/. 7.5"
    assert amounts_in_text(text) == [129990, 4500, 210000, 750]
    assert amounts_in_text("Tenemos 3 modelos en 15.6 pulgadas") == []


UNUSABLE = [float("inf"), float("-inf"), float("nan"), 1e300, -1e13, 10**40, "gratis", "",
            "1e999", "NaN", b"\x00", None, True, object()]


@pytest.mark.parametrize("value", UNUSABLE, ids=repr)
def test_values_that_are_no_amount_read_as_words(value):
    assert format_soles(value) == "precio no disponible"
    assert format_soles(value, "en") == "price not available"
    assert amount_cents(value) is None
    with pytest.raises(ValueError, match="not an amount"):
        to_cents(value)


@pytest.mark.parametrize("value", [float("inf"), float("-inf"), float("nan"), 1e300, -10**40])
def test_money_cells_shown_to_the_model_say_so_in_words(value):
    assert format_cell("price", value, 60) == "precio no disponible"
    assert format_cell("avg(precio)", value, 60) == "precio no disponible"
