"""Soles formatting and reading amounts back out of text."""

import random

import pytest

from bot.catalog.money import (
    SOLES_AMOUNT,
    _cents,
    amount_cents,
    amounts_in_text,
    format_cell,
    format_soles,
    to_cents,
)


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


@pytest.mark.parametrize(("text", "cents"), [
    ("S/ 9.979,90", [997990]),
    ("S/. 26", [2600]),
    ("26 soles", [2600]),
    ("9 979,90 soles", [997990]),
    ("S/ 9 979,90", [997990]),
    ("S/ 9\u00a0979,90", [997990]),
    ("S/ 9\u202f979,90", [997990]),
    ("S/ 1.299", [129900]),
    ("S/ 26,5", [2650]),
    ("S/ 1.234.567,89", [123456789]),
    ("S/ 1,234,567.89", [123456789]),
    ("PEN 45.90", [4590]),
    ("1 sol", [100]),
    ("de S/ 9.979,90 a S/ 12.499,00, o 26 soles", [997990, 1249900, 2600]),
])
def test_amounts_written_the_spanish_way(text, cents):
    assert amounts_in_text(text) == cents


def test_numbers_that_are_not_soles_are_not_read():
    assert amounts_in_text("Modelo 2024, 15,6 pulgadas, 3 colores") == []
    assert amounts_in_text("SKU ELE-LAP-12") == []


def test_a_run_of_digits_too_long_for_a_price_is_never_read_whole():
    assert amounts_in_text("S/ " + "9" * 5000) == []
    assert all(cents < 10**17 for cents in amounts_in_text("S/ 1" + ",000" * 2000))
    assert amounts_in_text("S/ 1,000,000,000.50") == [100000000050]


def _cents_by_decimal(value: object) -> int | None:
    """The definition: the value's shortest decimal form, rounded half up to cents."""
    from decimal import ROUND_HALF_UP, Decimal

    from bot.catalog.money import amount

    number = amount(value)
    return None if number is None else int(
        (number * 100).quantize(Decimal("1"), rounding=ROUND_HALF_UP))


def test_cents_of_stored_numbers_match_their_decimal_form() -> None:
    # Prices read from SQLite are ints and floats; their cents are taken without Decimal when
    # the float has at most two decimals: the answer must be the Decimal one, every time.
    import random

    rng = random.Random(7)
    values: list[object] = [0, -0.0, 0.0, 0.5, -0.5, 0.05, 2.675, 0.125, 1299.9, 1e-7, 1e12,
                            -1e12, 1e13, 999999999999.99, 10**12, 10**12 + 1, -10**12, True,
                            float("inf"), float("nan"), 1e300, 123.456]
    values += [round(rng.uniform(-1e7, 1e7), rng.choice([0, 1, 2, 3])) for _ in range(20_000)]
    values += [rng.uniform(0, 1e4) for _ in range(5_000)]
    values += [rng.randint(-10**13, 10**13) for _ in range(2_000)]
    assert [amount_cents(v) for v in values] == [_cents_by_decimal(v) for v in values]


def test_reading_amounts_the_quick_way_finds_what_the_whole_pattern_finds() -> None:
    """A text without "sol" or "PEN" is read with the "S/ 26" half of the pattern alone: the
    same amounts as the whole pattern, on texts made of the pieces prices are written with."""
    pieces = ["S/", "S/.", "s/", "PEN", "pen", " ", "\u00a0", "1", "26", "999", "1,299", "9 979",
              ".", ",", "90", "5", " soles", "sol", "ſol", "Sol ", "laptop", "(", "—", "x2",
              "\n", "1.000", "12345678901234567"]
    rng = random.Random(14)
    for _ in range(4000):
        text = "".join(rng.choice(pieces) for _ in range(rng.randint(1, 14)))
        whole = [_cents(match) for match in SOLES_AMOUNT.finditer(text)]
        assert amounts_in_text(text) == whole, text
