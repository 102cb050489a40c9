"""The model's system prompt, built from the live catalog so a store's own schema works too."""

from __future__ import annotations

import asyncio
import logging
import tomllib
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

from bot.catalog.money import format_cell, format_soles, is_money_column
from bot.catalog.reader import CatalogReader, TableInfo
from bot.catalog.roles import (
    IN_STOCK,
    NOTES_SECTION,
    ON_ORDER,
    OUT_OF_STOCK,
    ROLES,
    CatalogRoles,
    find_roles,
)
from bot.core.answer_rows import WORDS_RULE
from bot.core.memory import SharedTranscript
from bot.errors import KratosError

logger = logging.getLogger(__name__)

ENUM_LIMIT = 40  # a text column with at most this many distinct values is listed in full
SAMPLE_ROWS = 3
SAMPLE_CELL_CHARS = 60
TRANSCRIPT_PROMPT_CHARS = 12_000
TRANSCRIPT_NAME_CHARS = 200
#: A catalog value shown in a value list: longer ones are clipped (a 3,868-character colour
#: carrying instructions was once pasted into every request).
VALUE_CHARS = 60
#: One column's note, and all notes together; notes past the total are left out.
NOTE_CHARS = 300
NOTES_CHARS = 3_000
#: The whole system prompt's budget when none is given (``PROMPT_MAX_CHARS``).
DEFAULT_PROMPT_CHARS = 24_000
#: Whisper reads only the last 224 tokens of its prompt; brand names cost about one token per
#: three characters, so this keeps every name it is given inside what it reads.
SPEECH_PROMPT_MAX_CHARS = 480
#: Columns whose most frequent values go into the transcription prompt, in order of priority:
#: families, then brands (the names speech recognition gets wrong most), then categories.
SPEECH_PROMPT_COLUMNS = (("family", "familia"), ("brand", "marca"),
                         ("category", "categoria", "categoría"))
SPEECH_VALUES_PER_COLUMN = 30
SPEECH_TERM_CHARS = 40
#: The demo catalog's per-group totals (migrations/catalog/0004_product_summary.sql), kept by
#: triggers; recognised by name and columns so a store's own table of that name is left alone.
SUMMARY_TABLE = "product_summary"
SUMMARY_COLUMNS = frozenset({"family", "category", "brand", "availability", "products", "stock",
                             "price_sum"})


@dataclass(frozen=True)
class CatalogProfile:
    """What the model needs to know about the catalog; computed once at start-up."""

    schema_text: str
    vocabulary: tuple[str, ...]  # values of the low-cardinality columns
    has_fts: bool
    speech_terms: tuple[str, ...] = ()  # common families, brands, categories (for speech-to-text)
    has_summary: bool = False  # the demo catalog's product_summary table is there
    prompt_chars: int = DEFAULT_PROMPT_CHARS  # the whole system prompt stays under this
    # which column holds the name, the price... (bot.catalog.roles)
    roles: CatalogRoles | None = None


@dataclass
class _Column:
    """One column's line of the schema, in parts the budget can drop one by one."""

    text: str  # "  name TYPE", with the money range
    values: str = ""  # ": one of ..." or ": same values as ..."
    note: str = ""  # " -- note"

    def render(self) -> str:
        return self.text + self.values + self.note


@dataclass
class _Cuts:
    """What was left out to fit the budget, for one start-up log line."""

    values_clipped: int = 0
    notes_clipped: int = 0
    notes_dropped: int = 0
    lists_dropped: int = 0
    samples_dropped: bool = False
    chars_dropped: int = 0

    def describe(self) -> str:
        parts = [
            f"{self.values_clipped} values clipped to {VALUE_CHARS} characters"
            if self.values_clipped else "",
            f"{self.notes_clipped} notes clipped to {NOTE_CHARS} characters"
            if self.notes_clipped else "",
            f"{self.notes_dropped} notes left out past {NOTES_CHARS} characters of notes"
            if self.notes_dropped else "",
            "sample rows left out" if self.samples_dropped else "",
            f"{self.lists_dropped} value lists left out" if self.lists_dropped else "",
            f"the last {self.chars_dropped} characters of the schema left out"
            if self.chars_dropped else "",
        ]
        return "; ".join(part for part in parts if part) or "nothing cut"


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def load_column_notes(path: Path) -> dict[str, dict[str, str]]:
    """Optional notes a store writes about its columns: ``[table] column = "note"`` in TOML."""
    if not path.is_file():
        return {}
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as error:
        logger.warning("ignoring catalog notes %s: %s", path, error)
        return {}
    return {
        table: {str(col): str(note) for col, note in columns.items()}
        for table, columns in data.items() if isinstance(columns, dict) and table != NOTES_SECTION
    }


STATE_ORDER = (IN_STOCK, OUT_OF_STOCK, ON_ORDER)
#: How the prompt explains each role, so the model reads a store's own columns right.
_ROLE_TEXT = {"name": "product name", "price": "price in soles", "category": "product type",
              "family": "family / department", "brand": "brand (or laboratory, author...)",
              "model": "model", "color": "colour", "size": "size / presentation",
              "stock": "units in stock", "availability": "availability",
              "description": "description", "sku": "code / SKU",
              "image": "photo URL (for showing a product's picture)"}


def roles_text(roles: CatalogRoles | None) -> str:
    """The roles of a store's own columns in one short block; empty for the demo's names."""
    if roles is None or (roles.table == "products"
                         and all(role == column for role, column in roles.columns.items())):
        return ""
    parts = []
    for role in ROLES:
        column = roles.columns.get(role)
        if column is None:
            continue
        text = f'{roles.table}."{column}" = {_ROLE_TEXT[role]}'
        if role == "availability" and roles.availability:
            states = sorted(roles.availability.items(),
                            key=lambda item: (STATE_ORDER.index(item[1]), item[0]))
            text += " (" + ", ".join(f"{raw!r} = {state}" for raw, state in states) + ")"
        parts.append(text)
    lacking = [_ROLE_TEXT[r] for r in ("category", "brand", "stock", "availability")
               if r not in roles.columns and not (r == "availability" and "stock" in roles.columns)]
    text = "Column roles (the store's own column names): " + "; ".join(parts) + "."
    if lacking:
        text += (" The catalog has no column for: " + ", ".join(lacking)
                 + " (say you do not have that information: «no tengo ese dato»).")
    return text


async def _distinct_values(catalog: CatalogReader, table: str, column: str) -> list[Any] | None:
    """All distinct values when there are few of them, else None."""
    try:
        result = await catalog.run(
            f'SELECT DISTINCT "{column}" FROM "{table}" WHERE "{column}" IS NOT NULL LIMIT ?',
            (ENUM_LIMIT + 1,), max_rows=ENUM_LIMIT + 1,
        )
    except KratosError as error:
        logger.info("no enumeration for %s.%s: %s", table, column, error)
        return None
    values = [row[0] for row in result.rows]
    return sorted(values, key=str) if len(values) <= ENUM_LIMIT else None


async def _describe_table(
    catalog: CatalogReader, table: TableInfo, notes: dict[str, str],
    listed: dict[tuple[Any, ...], str], cuts: _Cuts,
) -> tuple[list[_Column], list[str]]:
    """The table's column lines; a value list already in ``listed`` is referred to."""
    lines: list[_Column] = []
    vocabulary: list[str] = []
    for column in table.columns:
        line = _Column(f"  {column.name} {column.type or 'ANY'}")
        if "TEXT" in column.type.upper() or not column.type:
            values = await _distinct_values(catalog, table.name, column.name)
            if values is not None and tuple(values) in listed:
                line.values = f": same values as {listed[tuple(values)]}"
            elif values is not None:
                line.values = ": one of " + ", ".join(_shown_value(v, cuts) for v in values)
                vocabulary.extend(str(v) for v in values)
                if len(values) > 1:
                    listed[tuple(values)] = f"{table.name}.{column.name}"
        elif is_money_column(column.name):
            line.text += await _money_range(catalog, table.name, column.name)
        if column.name in notes:
            line.note = f" -- {notes[column.name]}"
        lines.append(line)
    return lines, vocabulary


def _shown_value(value: Any, cuts: _Cuts) -> str:
    shown = repr(value)
    if len(shown) > VALUE_CHARS:
        cuts.values_clipped += 1
        return _clip(shown, VALUE_CHARS)
    return shown


async def _money_range(catalog: CatalogReader, table: str, column: str) -> str:
    result = await catalog.run(f'SELECT min("{column}"), max("{column}") FROM "{table}"')
    low, high = result.rows[0]
    return "" if low is None else f" (soles, from {format_soles(low)} to {format_soles(high)})"


def _bounded_notes(notes: dict[str, dict[str, str]], cuts: _Cuts) -> dict[str, dict[str, str]]:
    """Each note clipped to ``NOTE_CHARS`` and flattened to one line, all to ``NOTES_CHARS``."""
    kept: dict[str, dict[str, str]] = {}
    total = 0
    for table, columns in notes.items():
        for column, note in columns.items():
            text = " ".join(note.split())
            if len(text) > NOTE_CHARS:
                cuts.notes_clipped += 1
                text = _clip(text, NOTE_CHARS)
            if total + len(text) > NOTES_CHARS:
                cuts.notes_dropped += 1
                continue
            total += len(text)
            kept.setdefault(table, {})[column] = text
    return kept


def _schema_text(
    tables: list[tuple[str, list[_Column]]], extras: list[str], sample: str, budget: int,
    cuts: _Cuts,
) -> str:
    """The schema, fitted to ``budget`` characters: sample rows go first, then value lists
    (the longest first), then whatever still does not fit, from the end."""

    def render() -> str:
        parts = ["\n".join([header, *(c.render() for c in columns)]) for header, columns in tables]
        return "\n".join([*parts, *extras, *([sample] if sample else [])])

    text = render()
    if len(text) > budget and sample:
        sample, cuts.samples_dropped = "", True
        text = render()
    listed = sorted((c for _, columns in tables for c in columns if c.values),
                    key=lambda c: len(c.values), reverse=True)
    for column in listed:
        if len(text) <= budget:
            break
        column.values = ": (many values, not listed)"
        cuts.lists_dropped += 1
        text = render()
    if len(text) > budget:
        cuts.chars_dropped = len(text) - budget
        text = text[:budget].rsplit("\n", 1)[0] + "\n(the rest of the schema is left out)"
    return text


async def _sample_rows(catalog: CatalogReader, table: TableInfo) -> str:
    result = await catalog.run(f'SELECT * FROM "{table.name}" LIMIT ?', (SAMPLE_ROWS,),
                               max_rows=SAMPLE_ROWS)
    lines = [" | ".join(result.columns)]
    for row in result.rows:
        cells = [format_cell(column, cell, SAMPLE_CELL_CHARS)
                 for column, cell in zip(result.columns, row, strict=False)]
        lines.append(" | ".join(cells))
    return "\n".join(lines)


def _quoted(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


async def _common_values(
    catalog: CatalogReader, tables: list[TableInfo], names: tuple[str, ...]
) -> list[str]:
    """The most frequent values of the first column called one of ``names`` (largest table)."""
    for table in sorted(tables, key=lambda t: t.row_count, reverse=True):
        column = next((c.name for c in table.columns if c.name.lower() in names), None)
        if column is None:
            continue
        sql = (f"SELECT {_quoted(column)} AS value, count(*) AS n FROM {_quoted(table.name)} "
               f"WHERE {_quoted(column)} IS NOT NULL GROUP BY {_quoted(column)} "
               f"ORDER BY n DESC LIMIT ?")
        try:
            result = await catalog.run(sql, (SPEECH_VALUES_PER_COLUMN,),
                                       max_rows=SPEECH_VALUES_PER_COLUMN)
        except KratosError as error:
            logger.info("no speech vocabulary from %s.%s: %s", table.name, column, error)
            return []
        return [str(row[0]) for row in result.rows]
    return []


def speech_prompt(profile: CatalogProfile, language: str) -> str:
    """A short transcription prompt naming the catalog's families, brands and categories.

    Product names are what speech recognition gets wrong ("Shaomi" for Xiaomi); naming them in
    the prompt, in the audio's language, lets it hear them right.
    """
    english = language.lower().startswith("en")
    prompt = "Store products and brands: " if english else "Productos y marcas de la tienda: "
    added = 0
    for term in dict.fromkeys(" ".join(t.split())
                              for t in (*profile.speech_terms, *profile.vocabulary)):
        if not term or len(term) > SPEECH_TERM_CHARS:
            continue
        piece = f", {term}" if added else term
        if len(prompt) + len(piece) + 1 > SPEECH_PROMPT_MAX_CHARS:
            break
        prompt += piece
        added += 1
    return prompt + "."


async def profile_catalog(
    catalog: CatalogReader, notes_path: Path, *, prompt_chars: int = DEFAULT_PROMPT_CHARS
) -> CatalogProfile:
    """Introspect tables, columns, enumerations, price ranges and sample rows.

    The schema is fitted so that the whole system prompt, a shared transcript included, stays
    under ``prompt_chars`` characters whatever the catalog holds; one log line says what was
    cut to get there.
    """
    cuts = _Cuts()
    notes = _bounded_notes(load_column_notes(notes_path), cuts)
    tables = await catalog.tables()
    described: list[tuple[str, list[_Column]]] = []
    parts: list[str] = []
    vocabulary: list[str] = []
    plain = [t for t in tables if not t.is_fts]
    main = max(plain, key=lambda t: t.row_count) if plain else None
    # The main table first, so a smaller one with the same value lists refers to it.
    plain.sort(key=lambda t: t is not main)
    listed: dict[tuple[Any, ...], str] = {}
    for table in plain:
        columns, words = await _describe_table(catalog, table, notes.get(table.name, {}),
                                               listed, cuts)
        described.append((f"TABLE {table.name} ({table.row_count} rows)", columns))
        vocabulary.extend(words)
    fts = [t for t in tables if t.is_fts]
    for table in fts:
        columns = ", ".join(c.name for c in table.columns)
        parts.append(
            f"FTS5 TABLE {table.name} ({columns}); rowid = the id of the indexed row; accents "
            f"and case are folded. Example: SELECT p.* FROM {table.name} f JOIN <table> p ON "
            f"p.rowid = f.rowid WHERE {table.name} MATCH '\"impermeable\"*' ORDER BY rank"
        )
    roles = await asyncio.to_thread(find_roles, catalog.path, notes_path)
    if text := roles_text(roles):
        parts.append(text)
    sample = "" if main is None else \
        f"Sample rows of {main.name}:\n" + await _sample_rows(catalog, main)
    budget = prompt_chars - _fixed_prompt_chars()
    schema = _schema_text(described, parts, sample, budget, cuts)
    logger.info("system prompt: catalog schema %d characters (%d allowed, PROMPT_MAX_CHARS "
                "%d); %s", len(schema), budget, prompt_chars, cuts.describe())
    speech_terms: list[str] = []
    for names in SPEECH_PROMPT_COLUMNS:
        speech_terms.extend(await _common_values(catalog, plain, names))
    return CatalogProfile(
        schema_text=schema,
        vocabulary=tuple(dict.fromkeys(v for v in vocabulary if len(v) < 40)),
        has_fts=bool(fts),
        speech_terms=tuple(speech_terms),
        has_summary=any(t.name == SUMMARY_TABLE
                        and SUMMARY_COLUMNS.issubset(c.name for c in t.columns) for t in plain),
        prompt_chars=prompt_chars,
        roles=roles,
    )


def _fixed_prompt_chars() -> int:
    """The longest the prompt can be without its schema: instructions, rules, and the message
    after it (the date, a transcript)."""
    instructions = INSTRUCTIONS.format(
        words=WORDS_RULE, fts=" with FTS5", summary=SUMMARY_RULE, schema="",
    )
    transcript = TRANSCRIPT_SECTION.format(name="x" * TRANSCRIPT_NAME_CHARS,
                                           content="x" * TRANSCRIPT_PROMPT_CHARS)
    context = CONTEXT.format(today="2026-01-01")
    return len(instructions) + len(context) + len(transcript) + len(" […]")


INSTRUCTIONS = """\
You are KRATOS, the assistant of a store in Peru. You answer questions about the store's \
product catalog, which lives in a SQLite database described below.
Rules:
- Use the run_sql tool to look things up: one SQLite SELECT per call. Never guess products, \
prices or stock: state only what the rows you fetched say. If a query fails, read the error \
and fix the query. Prefer LIMIT 10 or less for lists unless the user asks for more.
{words}
- Match a product type, family or colour the customer names to its listed value, and a brand \
exactly (category = 'Laptops' AND brand = 'Lenovo'): those columns are indexed. Search other \
words (models, features) in the FTS table with MATCH and prefix terms; text comparisons \
ignore case and accents.{summary}
- Prices are in Peruvian soles. The rows show money as "S/ 1,299.90": copy amounts exactly as \
shown. Copy product names verbatim.
- Answer in the language of the user's last message (Spanish by default), briefly, as a \
friendly shop assistant; for lists use one line per product with its price.
- Only the catalog (and a recording the user shared, if any) is in scope. For anything \
else (weather, news, jokes, code, other shops), do not run SQL: call decline with one short \
polite sentence saying you only help with the store's products, and one example question. \
Greetings and thanks are not off-topic: answer them briefly.
- The catalog is read-only: call decline for requests to change, delete or add data.
- When the rows were cut ("showing 50 of 312"), say how many there are in total.
- A list asked for without an order ("dame laptops") shows the cheapest first.
SQL dialect: SQLite{fts}. Catalog:
{schema}"""

SUMMARY_RULE = f"""
- Counts, stock and average prices of whole families, categories, brands or availabilities (or \
of the whole catalog) come from {SUMMARY_TABLE}, one row per family, category, brand and \
availability: sum(products), sum(stock), sum(price_sum) / sum(products). It is small; products \
is large."""

CONTEXT = "Today is {today}."
TRANSCRIPT_SECTION = """
The user shared a recording, "{name}". Its transcript (the only source for questions about \
it; if it does not say, answer that you don't know — "no lo sé"):
<<<
{content}
>>>"""


def system_prompt(profile: CatalogProfile) -> str:
    """The instructions and the catalog's description: the same text for every question, and
    with ``context_message`` under ``profile.prompt_chars``.

    It changes only when the catalog does, so a provider's prompt cache (OpenAI caches a
    repeated prefix from 1,024 tokens) serves it; what varies comes after it
    (``context_message``).
    """
    return INSTRUCTIONS.format(
        words=WORDS_RULE,
        fts=" with FTS5" if profile.has_fts else "",
        summary=SUMMARY_RULE if profile.has_summary else "",
        schema=profile.schema_text,
    )


def context_message(*, today: date, transcript: SharedTranscript | None = None
                    ) -> dict[str, str]:
    """The system message after the prompt: today's date and any recording the user shared."""
    text = CONTEXT.format(today=today.isoformat())
    if transcript is not None:
        content = transcript.content
        if len(content) > TRANSCRIPT_PROMPT_CHARS:
            content = content[:TRANSCRIPT_PROMPT_CHARS] + " […]"
        text += TRANSCRIPT_SECTION.format(name=_clip(transcript.source_name, TRANSCRIPT_NAME_CHARS),
                                          content=content)
    return {"role": "system", "content": text}
