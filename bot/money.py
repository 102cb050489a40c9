"""Prices in soles, written the Peruvian way: ``S/ 1,299.90``."""

from __future__ import annotations

import re
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

#: The largest amount written as money, in soles: no price comes near it, and a bigger (or
#: infinite, NaN or non-numeric) value in a money column is a data error, shown in words.
MAX_SOLES = Decimal(10) ** 12
#: What a money cell that holds no usable amount reads as.
NOT_AN_AMOUNT = {"es": "precio no disponible", "en": "price not available"}

# "S/ 1,299.90", "S/1299.9", "s/. 45", "1,299.90 soles"
SOLES_AMOUNT = re.compile(
    r"(?:S/\.?\s*(\d{1,3}(?:[,\s]\d{3})+|\d+)(?:\.(\d{1,2}))?)"
    r"|(?:(\d{1,3}(?:,\d{3})+|\d+)(?:\.(\d{1,2}))?\s*soles\b)",
    re.IGNORECASE,
)


MONEY_COLUMN = re.compile(r"(price|precio|cost|costo|monto|amount|importe)", re.IGNORECASE)


def is_money_column(name: str) -> bool:
    """Columns holding amounts in soles, by name (price, precio, avg(price), costo...)."""
    return bool(MONEY_COLUMN.search(name))


def format_cell(column: str, value: object, max_chars: int) -> str:
    """One cell as the model and the user read it: money in soles, long text cut."""
    if value is None:
        return "NULL"
    if isinstance(value, int | float) and not isinstance(value, bool) and is_money_column(column):
        return format_soles(value)
    text = str(value)
    return text if len(text) <= max_chars else text[:max_chars] + "…"


def amount(value: object) -> Decimal | None:
    """``value`` as an amount in soles, or None when it is none: not a number (text, bytes,
    NULL, a bool), infinite, NaN, or beyond ``MAX_SOLES`` either way."""
    if isinstance(value, bool) or not isinstance(value, int | float | str | Decimal):
        return None
    try:
        number = Decimal(str(value).strip())
    except (InvalidOperation, ValueError):
        return None
    if not number.is_finite() or abs(number) > MAX_SOLES:
        return None
    return number


def amount_cents(value: object) -> int | None:
    """An amount in soles as whole cents, rounded half up; None when ``value`` is no amount."""
    number = amount(value)
    if number is None:
        return None
    return int((number * 100).quantize(Decimal("1"), rounding=ROUND_HALF_UP))


def to_cents(value: float | int | str | Decimal) -> int:
    """An amount in soles as whole cents, rounded half up; ``ValueError`` when it is none."""
    cents = amount_cents(value)
    if cents is None:
        raise ValueError(f"not an amount in soles: {str(value)[:40]!r}")
    return cents


def format_soles(value: object, language: str = "es") -> str:
    """``1299.9`` -> ``S/ 1,299.90``; ``-5`` -> ``-S/ 5.00``; no amount -> words, in
    ``language`` ("precio no disponible")."""
    cents = amount_cents(value)
    if cents is None:
        return NOT_AN_AMOUNT["en" if language.startswith("en") else "es"]
    sign = "-" if cents < 0 else ""
    whole, part = divmod(abs(cents), 100)
    return f"{sign}S/ {whole:,}.{part:02d}"


def amounts_in_text(text: str) -> list[int]:
    """Every amount in soles that ``text`` states, in cents."""
    found = []
    for match in SOLES_AMOUNT.finditer(text):
        whole = match.group(1) or match.group(3)
        decimals = match.group(2) or match.group(4) or "0"
        digits = re.sub(r"[,\s]", "", whole)
        found.append(int(digits) * 100 + int(decimals.ljust(2, "0")))
    return found
