"""Soles formatting and reading amounts back out of text."""

import pytest

from bot.money import amounts_in_text, format_soles, to_cents


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
