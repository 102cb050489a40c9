"""The linear string functions give what SQLite's built-ins give, on every kind of value."""

from __future__ import annotations

import itertools
import sqlite3
from collections.abc import Iterator
from contextlib import closing
from typing import Any

import pytest

from bot.catalog.sqlfunctions import register, sqlite_text

VALUES: list[Any] = [
    None, "", "a", "abc", "banana", "ñandú Ñ", "  espacio  ", "xxaxx", "日本語テキスト", "aaa",
    0, 7, -12, 1299, 2**62, 0.0, -0.0, 1.5, 1299.9, 0.1, 1e20, -2.5e-7, float("inf"),
    b"", b"ab", b"\x00\x01ab\x00", "a\x00b",
]
PAIRS = list(itertools.product(VALUES, repeat=2))
TRIPLES = [(a, b, c) for a, b in PAIRS[::3] for c in (None, "", "Z", 5, b"q")]


@pytest.fixture
def pair() -> Iterator[tuple[sqlite3.Connection, sqlite3.Connection]]:
    """A plain connection (SQLite's built-ins) and one with the linear versions registered."""
    with closing(sqlite3.connect(":memory:")) as builtin, \
            closing(sqlite3.connect(":memory:")) as linear:
        register(linear)
        yield builtin, linear


def answers(conn: sqlite3.Connection, sql: str, rows: list[tuple[Any, ...]]) -> list[Any]:
    results = []
    for row in rows:
        (value,) = conn.execute(sql, row).fetchone()
        results.append((type(value).__name__, value))
    return results


@pytest.mark.parametrize("sql", [
    "SELECT instr(?, ?)", "SELECT trim(?, ?)", "SELECT ltrim(?, ?)", "SELECT rtrim(?, ?)",
])
def test_two_argument_functions_match_sqlite(pair, sql: str) -> None:
    builtin, linear = pair
    assert answers(linear, sql, PAIRS) == answers(builtin, sql, PAIRS)


def test_replace_matches_sqlite(pair) -> None:
    builtin, linear = pair
    sql = "SELECT replace(?, ?, ?)"
    assert answers(linear, sql, TRIPLES) == answers(builtin, sql, TRIPLES)


def test_one_argument_trims_stay_sqlite_s(pair) -> None:
    builtin, linear = pair
    for name in ("trim", "ltrim", "rtrim"):
        sql = f"SELECT {name}(?)"
        rows = [(v,) for v in VALUES]
        assert answers(linear, sql, rows) == answers(builtin, sql, rows)


@pytest.mark.parametrize("value", [0, -3, 2**63 - 1, 0.5, 1299.0, 1e15, 1e16, 123.456, -1e-5,
                                   1 / 3, float("-inf"), -0.0, 1e300])
def test_numbers_become_text_as_sqlite_writes_them(value: float) -> None:
    with closing(sqlite3.connect(":memory:")) as conn:
        (expected,) = conn.execute("SELECT CAST(? AS TEXT)", (value,)).fetchone()
    assert sqlite_text(value) == expected


def test_grown_strings_take_linear_time(pair) -> None:
    """Inputs whose built-in work is the product of their lengths (seconds to minutes in C)."""
    _builtin, linear = pair
    haystack, needle = "a" * 1_000_000, "a" * 100_000 + "b"
    characters, text = "a" * 100_000 + "b", "b" * 100_000
    assert linear.execute("SELECT instr(?, ?)", (haystack, needle)).fetchone() == (0,)
    assert linear.execute("SELECT length(replace(?, ?, 'z'))",
                          (haystack, needle)).fetchone() == (1_000_000,)
    assert linear.execute("SELECT ltrim(?, ?), rtrim(?, ?)",
                          (text, characters, text, characters)).fetchone() == ("", "")
