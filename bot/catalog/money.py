"""Prices in soles, written the Peruvian way: ``S/ 1,299.90``."""

from __future__ import annotations

import re
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

#: The largest amount written as money, in soles: no price comes near it, and a bigger (or
#: infinite, NaN or non-numeric) value in a money column is a data error, shown in words.
MAX_SOLES = Decimal(10) ** 12
#: What a money cell that holds no usable amount reads as.
NOT_AN_AMOUNT = {"es": "precio no disponible", "en": "price not available"}

# One amount, written the Peruvian way ("1,299.90"), the Spanish way ("1.299,90", "9 979,90",
# with a no-break or thin space too) or without grouping ("1299.9", "26,5"). Thousands groups
# share one separator and have three digits; a separator followed by one or two final digits is
# the decimal mark (soles have cents, never thousandths), so "S/ 1.299" is 1,299 soles. At most
# 15 digits before the mark: a longer run is no price (and int() refuses 4,300 digits).
_NUMBER = (r"(?P<whole{n}>\d{{1,3}}(?P<group{n}>[.,\u00a0\u202f ])\d{{3}}"
           r"(?:(?P=group{n})\d{{3}}){{0,3}}(?!\d|(?P=group{n})\d)|\d{{1,15}}(?!\d))"
           r"(?:(?P<mark{n}>[.,])(?P<cents{n}>\d{{1,2}})(?!\d))?")
# "S/ 1,299.90", "S/. 26", "s/45", "PEN 26"; "26 soles", "1 sol", "9 979,90 soles".
_SIGN_FIRST_PATTERN = r"(?:\bS/\.?|\bPEN)\s*" + _NUMBER.format(n=1)
SOLES_AMOUNT = re.compile(
    _SIGN_FIRST_PATTERN
    + r"|(?<![\d.,])" + _NUMBER.format(n=2) + r"\s*(?:soles|sol|PEN)\b",
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
    if type(value) is int and abs(value) <= MAX_SOLES:
        return value * 100
    if type(value) is float:
        # A price as SQLite stores it: its shortest decimal form (what ``Decimal(str(value))``
        # reads) has at most two decimals almost always, and is then its cents exactly.
        whole, dot, part = repr(value).partition(".")
        if dot and len(part) <= 2 and part.isdigit() and whole.lstrip("-").isdigit() \
                and len(whole) <= 13:
            sign = -1 if whole.startswith("-") else 1
            cents = int(whole) * 100 + sign * int(part.ljust(2, "0"))
            return cents if abs(cents) <= MAX_SOLES * 100 else None
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


#: ``SOLES_AMOUNT`` without its "26 soles" half, which is most of its cost (it is tried at
#: every digit): a text without "sol" or "PEN" anywhere (as ``SOLES_AMOUNT`` folds case) can
#: only state amounts the "S/ 26" way, and this finds exactly those.
_SIGN_FIRST = re.compile(_SIGN_FIRST_PATTERN, re.IGNORECASE)
_SOLES_WORD = re.compile(r"sol|pen", re.IGNORECASE)


def amounts_in_text(text: str) -> list[int]:
    """Every amount in soles that ``text`` states, in cents, however its digits are grouped."""
    pattern = SOLES_AMOUNT if _SOLES_WORD.search(text) else _SIGN_FIRST
    return [_cents(match) for match in pattern.finditer(text)]


def _cents(match: re.Match[str]) -> int:
    n = "1" if match.group("whole1") is not None else "2"
    whole, group = match.group(f"whole{n}"), match.group(f"group{n}")
    mark, cents = match.group(f"mark{n}"), match.group(f"cents{n}")
    digits = whole.replace(group, "") if group else whole
    if mark is None or mark == group:
        # "1,299,90" is no amount anyone writes; its last group is not read as cents.
        cents = None
    return int(digits) * 100 + int((cents or "0").ljust(2, "0"))
