"""Answers written from the rows in one model call: the model's words, the catalog's facts.

The model calls ``run_sql`` with its query and, when the rows themselves are the answer (lists,
the cheapest or dearest, counts, averages, "¿tienen ...?"), the words to put around them: an
introduction for a list, the reply for "nothing found", and the whole reply for a one-row result
with ``{column}`` placeholders. KRATOS runs the query and writes the reply itself: every product
name, amount and count in it comes from the rows, so it is grounded by construction and needs
no second model call. The model's own words are checked as well: words stating an amount that
no row, question or earlier answer holds are replaced by KRATOS's plain ones.

Without those words the rows go back to the model, which then writes the reply (a comparison,
a recommendation, an explanation): that is the second call.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from bot.catalog import money
from bot.catalog.columns import STANDARD, ResultColumns
from bot.catalog.money import amounts_in_text
from bot.catalog.reader import QueryResult

#: The tool; what its words mean is one rule of the system prompt (``WORDS_RULE``), which
#: providers cache, rather than descriptions here, which every call pays for again.
RUN_SQL_TOOL: dict[str, Any] = {
    "type": "function",
    "function": {
        "name": "run_sql",
        "description": "Run one read-only SQLite SELECT on the catalog.",
        "parameters": {
            "type": "object",
            "properties": {
                "query": {"type": "string"},
                "intro": {"type": "string"},
                "empty_reply": {"type": "string"},
                "one_row_reply": {"type": "string"},
            },
            "required": ["query"],
        },
    },
}
#: The system prompt's rule for the words (``bot.core.prompt`` puts it among the rules).
WORDS_RULE = (
    "- If the rows answer the question, give run_sql intro, empty_reply and one_row_reply "
    "({column} = the row's value: 'Hay {n}.'): the user gets the rows with your words, which "
    "name no product or amount. Omit them to read the rows first, to compare or recommend."
)
WORD_FIELDS = ("intro", "empty_reply", "one_row_reply")
#: Longest text taken from one of the model's word fields; a sentence, not an essay.
MAX_WORDS_CHARS = 500
#: Rows written into one reply; the query's LIMIT usually asks for fewer.
MAX_LINES = 50
CELL_CHARS = 200
PLACEHOLDER = re.compile(r"\{([^{}\n]{1,64})\}")

DEFAULTS = {
    "es": {"intro": "Esto es lo que encontré ({count}):",
           "empty": "No encontré productos que coincidan.",
           "cut": "(mostrando {shown} de {total})"},
    "en": {"intro": "Here is what I found ({count}):",
           "empty": "I found no matching products.",
           "cut": "(showing {shown} of {total})"},
}


@dataclass(frozen=True)
class ReplyWords:
    """The model's words around the rows of one ``run_sql`` call (any may be empty)."""

    intro: str = ""
    empty_reply: str = ""
    one_row_reply: str = ""


def call_arguments(arguments: object) -> dict[str, Any]:
    """A tool call's arguments as a dict: a JSON string (the API's shape) or an object."""
    if isinstance(arguments, Mapping):
        return dict(arguments)
    if isinstance(arguments, str):
        try:
            value = json.loads(arguments or "{}")
        except json.JSONDecodeError:
            return {}
        return value if isinstance(value, dict) else {}
    return {}


def reply_words(arguments: object) -> ReplyWords | None:
    """The words a ``run_sql`` call carries, or None when it carries none (rows go back)."""
    values = call_arguments(arguments)
    words = {name: _clean(values.get(name)) for name in WORD_FIELDS}
    return ReplyWords(**words) if any(words.values()) else None


def _clean(value: object) -> str:
    if not isinstance(value, str):
        return ""
    return value.strip()[:MAX_WORDS_CHARS]


def _texts(language: str) -> dict[str, str]:
    return DEFAULTS["en" if language.startswith("en") else "es"]


def _cell(column: str, value: Any, reading: ResultColumns = STANDARD) -> str:
    """A value as the user reads it: money in soles, other decimals to two places."""
    if reading.is_money(column):
        if isinstance(value, int | float) and not isinstance(value, bool):
            return money.format_soles(value)
    elif isinstance(value, float):
        return f"{value:.2f}".rstrip("0").rstrip(".")
    return money.format_cell(column, value, CELL_CHARS)


def _grounded(text: str, known: set[int]) -> bool:
    """Whether every amount in soles the text states is one KRATOS knows to be true."""
    return all(amount in known for amount in amounts_in_text(text))


def _row_line(columns: Sequence[str], row: Sequence[Any],
              reading: ResultColumns = STANDARD) -> str:
    """One row as one line: "• name — S/ 1,299.90 (disponible)", or "• column: value, ..."."""
    values = {c.lower(): v for c, v in zip(columns, row, strict=False)}
    name = next((values[c] for c in reading.names if values.get(c) is not None), None)
    if name is None:
        if len(columns) == 1:
            return f"• {_cell(columns[0], row[0], reading)}"
        return "• " + ", ".join(f"{c}: {_cell(c, v, reading)}"
                                for c, v in zip(columns, row, strict=False))
    line = f"• {name}"
    for column, value in zip(columns, row, strict=False):
        if reading.is_money(column) and value is not None:
            line += f" — {_cell(column, value, reading)}"
    availability = next((values[c] for c in reading.availability if values.get(c)), None)
    return f"{line} ({availability})" if availability else line


def fill_placeholders(template: str, columns: Sequence[str], row: Sequence[Any],
                      reading: ResultColumns = STANDARD) -> str | None:
    """``template`` with each ``{column}`` replaced by the row's value; None if one is missing."""
    values = {c.lower(): (c, v) for c, v in zip(columns, row, strict=False)}
    missing = False

    def substitute(match: re.Match[str]) -> str:
        nonlocal missing
        found = values.get(match.group(1).strip().lower())
        if found is None or found[1] is None:
            missing = True
            return ""
        return _cell(*found, reading)

    filled = PLACEHOLDER.sub(substitute, template)
    return None if missing else filled


def _is_empty(result: QueryResult) -> bool:
    """No rows, or one row of nothing (an average or sum over no products is NULL)."""
    return not result.rows or (len(result.rows) == 1 and all(v is None for v in result.rows[0]))


def write_reply(words: ReplyWords, result: QueryResult, *, language: str,
                known: set[int], reading: ResultColumns = STANDARD) -> str:
    """The reply to the user from ``result`` and the model's ``words``.

    ``known`` holds the amounts (in cents) the model's words may state: those of the rows, the
    question and earlier answers. Words stating any other amount are not used. ``reading``
    says which columns hold the name, the price and the availability.
    """
    texts = _texts(language)
    known = known | result_amounts(result, reading)
    if _is_empty(result):
        empty = words.empty_reply
        return empty if empty and _grounded(empty, known) else texts["empty"]
    if len(result.rows) == 1 and words.one_row_reply and _grounded(words.one_row_reply, known):
        filled = fill_placeholders(words.one_row_reply, result.columns, result.rows[0],
                                   reading)
        if filled:
            return filled
    count = result.total if result.truncated and result.total else len(result.rows)
    intro = words.intro if words.intro and _grounded(words.intro, known) else \
        texts["intro"].format(count=count)
    lines = [intro, *(_row_line(result.columns, row, reading)
                      for row in result.rows[:MAX_LINES])]
    shown = min(len(result.rows), MAX_LINES)
    if result.truncated or shown < len(result.rows):
        total = result.total if result.total is not None else f"{len(result.rows)}+"
        lines.append(texts["cut"].format(shown=shown, total=total))
    return "\n".join(lines)


def result_amounts(result: QueryResult, reading: ResultColumns = STANDARD) -> set[int]:
    """Every amount in soles (cents) in the money columns of ``result``."""
    found: set[int] = set()
    for index, column in enumerate(result.columns):
        if reading.is_money(column):
            found.update(money.to_cents(row[index]) for row in result.rows
                         if isinstance(row[index], int | float)
                         and not isinstance(row[index], bool))
    return found


def direct_reply(calls: Sequence[tuple[str, object]], results: Sequence[QueryResult | None],
                 *, language: str, known: set[int],
                 reading: ResultColumns = STANDARD) -> str | None:
    """The reply KRATOS writes for one model message's tool calls, or None for a second call.

    ``calls`` are (name, arguments) pairs and ``results`` their results in the same order (None
    where the query failed). Only when every call is a ``run_sql`` that carried words and ran
    does KRATOS answer: a failed query, a call without words or another tool needs the model.
    Several such calls ("laptops y celulares") give one reply, a paragraph each.
    """
    if not calls or len(calls) != len(results):
        return None
    parts: list[str] = []
    for (name, arguments), result in zip(calls, results, strict=True):
        words = reply_words(arguments) if name == "run_sql" else None
        if words is None or result is None:
            return None
        parts.append(write_reply(words, result, language=language, known=known,
                                 reading=reading))
    return "\n\n".join(parts)
