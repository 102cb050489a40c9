"""Text comparisons in catalog SQL that ignore case and accents, by construction.

SQLite folds case for ASCII only and never folds accents: ``category LIKE '%AUDÍFONOS%'`` finds
none of the products in "Audífonos". So the SQL guard rewrites every comparison of a text column
with a string literal before the statement runs, and the model's wording no longer matters:

* A column that leads an index and holds few distinct values (``category``, ``brand``,
  ``availability``) is compared with the stored values that fold to the same text:
  ``category = 'AUDIFONOS'`` runs as ``category IN ('Audífonos')`` and
  ``category LIKE '%audifono%'`` as ``category IN ('Audífonos')``, so the index still serves the
  filter (a LIKE on such a column even gains it).
* A column that leads an index but has too many values to list (``sku``) keeps its index with
  the literal's case variants: ``sku IN ('ele-lap-1', 'ELE-LAP-1', ...)``.
* Any other text column (no index to keep) is compared folded: ``fold(name) LIKE
  '%audifonos%'``, where ``fold`` is a function registered on every catalog connection.

The listed values are read when the catalog is opened; a value the store adds later matches
only as written until the catalog is opened again.
"""

from __future__ import annotations

import re
import sqlite3
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import lru_cache

from sqlglot import exp

#: The folding function's SQL name, registered on catalog connections and allow-listed.
FOLD_FUNCTION = "fold"
#: An indexed text column with more distinct values than this is not listed.
MAX_LISTED_VALUES = 2000
_COMPARISONS = (exp.EQ, exp.NEQ, exp.In, exp.Like, exp.StrPosition)


@lru_cache(maxsize=65_536)
def fold(text: str) -> str:
    """``text`` without accents, case-folded: "Audífonos" and "AUDIFONOS" both give
    "audifonos" (ñ gives n, as the FTS index's ``remove_diacritics 2`` does)."""
    if text.isascii():
        return text.lower()
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(c for c in decomposed if not unicodedata.combining(c)).casefold()


def sql_fold(value: object) -> object:
    """The SQL function: folds text, passes anything else (NULL, numbers) through."""
    return fold(value) if isinstance(value, str) else value


@dataclass(frozen=True)
class TextColumn:
    """One text column: ``listed`` maps a folded value to the stored values, for an indexed
    column with few values; ``indexed`` without ``listed``: an index with too many to list."""

    indexed: bool = False
    listed: Mapping[str, tuple[str, ...]] | None = None


@dataclass(frozen=True)
class TextColumns:
    """The catalog's text columns, by lower-case table then column name."""

    tables: Mapping[str, Mapping[str, TextColumn]] = field(default_factory=dict)

    def lookup(self, column: exp.Column, tables: Mapping[str, str]) -> TextColumn | None:
        """The text column a column reference names, or None (not text, or unknown)."""
        name = column.name.lower()
        qualifier = column.table.lower()
        candidates = [tables[qualifier]] if qualifier in tables else list(tables.values())
        for table in candidates:
            found = self.tables.get(table, {}).get(name)
            if found is not None:
                return found
        return None


def inspect_text_columns(conn: sqlite3.Connection, tables: Mapping[str, list[tuple[str, str]]],
                         ) -> TextColumns:
    """Read which columns are text, which lead an index, and the values of those with few.

    ``tables`` maps each plain catalog table to its (column, declared type) pairs. Listing a
    column's values walks its index: quick, and bounded by ``MAX_LISTED_VALUES``.
    """
    result: dict[str, dict[str, TextColumn]] = {}
    for table, columns in tables.items():
        leading = _index_leading_columns(conn, table)
        text = {name.lower(): name for name, kind in columns if _is_text(kind)}
        result[table.lower()] = {
            lower: _text_column(conn, table, name, indexed=lower in leading)
            for lower, name in text.items()
        }
    return TextColumns(result)


def _is_text(declared: str) -> bool:
    kind = declared.upper()
    return not kind or any(word in kind for word in ("TEXT", "CHAR", "CLOB"))


def _quoted(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _index_leading_columns(conn: sqlite3.Connection, table: str) -> set[str]:
    leading: set[str] = set()
    for index in conn.execute(f"PRAGMA index_list({_quoted(table)})").fetchall():
        info = conn.execute(f"PRAGMA index_info({_quoted(index[1])})").fetchall()
        first = next((row[2] for row in info if row[0] == 0), None)
        if first:
            leading.add(first.lower())
    return leading


def _text_column(conn: sqlite3.Connection, table: str, column: str, *, indexed: bool
                 ) -> TextColumn:
    if not indexed:
        return TextColumn()
    rows = conn.execute(
        f"SELECT DISTINCT {_quoted(column)} FROM {_quoted(table)} "
        f"WHERE {_quoted(column)} IS NOT NULL LIMIT ?", (MAX_LISTED_VALUES + 1,)).fetchall()
    if len(rows) > MAX_LISTED_VALUES:
        return TextColumn(indexed=True)
    listed: dict[str, list[str]] = {}
    for (value,) in rows:
        if isinstance(value, str):
            listed.setdefault(fold(value), []).append(value)
    return TextColumn(indexed=True, listed={k: tuple(v) for k, v in listed.items()})


def fold_comparisons(tree: exp.Expression, columns: TextColumns) -> None:
    """Rewrite, in place, every comparison of a text column with string literals (=, <>, IN,
    LIKE, instr) so that it ignores case and accents; other comparisons are left alone."""
    if not columns.tables:
        return
    tables: dict[str, str] = {}
    comparisons: list[exp.Expression] = []
    for node in tree.walk():
        if isinstance(node, exp.Table):
            tables[node.alias_or_name.lower()] = node.name.lower()
        elif isinstance(node, _COMPARISONS):
            comparisons.append(node)
    for node in comparisons:
        replacement = _rewritten(node, columns, tables)
        if replacement is not None:
            node.replace(replacement)


def _rewritten(node: exp.Expression, columns: TextColumns, tables: Mapping[str, str]
               ) -> exp.Expression | None:
    if isinstance(node, exp.StrPosition):
        return _folded_instr(node, columns, tables)
    if isinstance(node, exp.In):
        literals = node.expressions
        target = node.this
    else:
        target, other = node.this, node.expression
        if _is_string(target):
            target, other = other, target
        literals = [other]
    if node.args.get("query") or not literals or not all(_is_string(x) for x in literals):
        return None
    column = _column_of(target)
    info = columns.lookup(column, tables) if column is not None else None
    if column is None or info is None:
        return None
    values = [x.name for x in literals]
    if isinstance(node, exp.Like):
        if isinstance(node.parent, exp.Escape):
            return _folded(node, column, values, exp.Like)
        return _like(node, column, values[0], info)
    if isinstance(node, exp.NEQ):
        return _folded(node, column, values, exp.NEQ)
    if info.indexed:
        return _equal(column, values, info)
    return _folded(node, column, values, type(node))


def _is_string(node: exp.Expression) -> bool:
    return isinstance(node, exp.Literal) and node.is_string


def _column_of(node: exp.Expression) -> exp.Column | None:
    """The column compared: itself, or inside lower()/upper()/trim() (folding covers those)."""
    while isinstance(node, exp.Lower | exp.Upper | exp.Trim) and node.this is not None:
        node = node.this
    return node if isinstance(node, exp.Column) else None


def _fold_call(column: exp.Column) -> exp.Expression:
    return exp.Anonymous(this=FOLD_FUNCTION, expressions=[column.copy()])


def _folded(node: exp.Expression, column: exp.Column, values: list[str], kind: type
            ) -> exp.Expression:
    """``fold(column) <op> 'folded literal'``: the literal is folded here, once."""
    folded = [exp.Literal.string(fold(v)) for v in values]
    if kind is exp.In:
        return exp.In(this=_fold_call(column), expressions=folded)
    rebuilt = kind(this=_fold_call(column), expression=folded[0])
    if node.args.get("negate"):
        rebuilt.set("negate", True)
    return rebuilt


def _equal(column: exp.Column, values: list[str], info: TextColumn) -> exp.Expression:
    """An indexed column stays an index lookup: ``column IN (stored or cased values)``.

    A literal is replaced by the stored values that fold alike (one value, in the usual case:
    an equality SQLite can still read in index order, so ``ORDER BY price`` needs no sort); a
    literal that folds like none is kept as it is.
    """
    matches: list[str] = []
    for value in values:
        if info.listed is not None:
            matches += list(info.listed.get(fold(value), ())) or [value]
        else:
            matches += [value, value.upper(), value.lower(), value.title(), value.capitalize()]
    unique = list(dict.fromkeys(matches))
    return exp.In(this=column.copy(), expressions=[exp.Literal.string(v) for v in unique])


def _like(node: exp.Like, column: exp.Column, pattern: str, info: TextColumn) -> exp.Expression:
    """LIKE on a listed column becomes an index lookup of the values it matches."""
    if info.listed is None:
        return _folded(node, column, [pattern], exp.Like)
    regex = _like_regex(fold(pattern))
    matches = [value for key, stored in info.listed.items() if regex.fullmatch(key)
               for value in stored]
    if not matches:
        return node.copy()  # nothing folds to a match, so the plain LIKE finds nothing either
    lookup: exp.Expression = exp.In(this=column.copy(),
                                    expressions=[exp.Literal.string(v) for v in matches])
    return exp.Not(this=lookup) if node.args.get("negate") else lookup


@lru_cache(maxsize=1024)
def _like_regex(pattern: str) -> re.Pattern[str]:
    parts = [".*" if c == "%" else "." if c == "_" else re.escape(c) for c in pattern]
    return re.compile("".join(parts), re.DOTALL)


def _folded_instr(node: exp.StrPosition, columns: TextColumns, tables: Mapping[str, str]
                  ) -> exp.Expression | None:
    column = _column_of(node.this)
    needle = node.args.get("substr")
    if column is None or needle is None or not _is_string(needle) \
            or columns.lookup(column, tables) is None:
        return None
    rebuilt = node.copy()
    rebuilt.set("this", _fold_call(column))
    rebuilt.set("substr", exp.Literal.string(fold(needle.name)))
    return rebuilt
