"""Static check of model-written SQL: one read-only SELECT over catalog tables, or a refusal.

This is the first fence around the catalog; ``bot.catalog.reader`` adds the connection-level ones
(read-only file, authorizer, limits, time limit). The guard parses with sqlglot and accepts only
known-good shapes: a whitelisted root, whitelisted node types everywhere below it, tables from
the catalog (or CTEs the query defines) and functions from an allow-list. It never searches the
text for bad words: sqlglot turns what it does not understand into harmless-looking nodes
(``SAVEPOINT s1`` parses as an alias, ``VACUUM INTO`` as a generic command).

What runs is the SQL sqlglot regenerates from the checked tree, not the model's text, so that
SQLite executes exactly what was checked.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Collection
from functools import cache

import sqlglot
from sqlglot import exp
from sqlglot.errors import ParseError, SqlglotError
from sqlglot.tokens import Token, TokenType

from bot.catalog.textfold import FOLD_FUNCTION, TextColumns, fold_comparisons
from bot.errors import UserFacingError

DIALECT = "sqlite"
#: Longer text is refused before parsing: a catalog question never needs it.
MAX_SQL_CHARS = 10_000

#: SQLite functions model SQL may call, by SQLite name. The connection's authorizer enforces the
#: same list, so it includes the names sqlglot writes when it normalizes (``ifnull`` comes back as
#: ``coalesce``, ``substr`` as ``substring``). Not here on purpose: ``printf``/``format``,
#: ``randomblob``, ``zeroblob``, ``char``, ``hex`` (one call can build a huge value, and the time
#: limit cannot stop a single long function call), ``load_extension``, ``json_*``, ``sqlite_*``.
ALLOWED_FUNCTIONS: frozenset[str] = frozenset({
    "abs", "avg", "ceil", "ceiling", "coalesce", "count", "current_date", "current_time",
    "current_timestamp", "date", "datetime", "dense_rank", "floor", "glob", "group_concat",
    "ifnull", "iif", "instr", "julianday", "length", "like", "lower", "ltrim", "max", "min",
    "nullif", "random", "rank", "replace", "round", "row_number", "rtrim", "strftime", "substr",
    "substring", "sum", "time", "total", "trim", "typeof", "unixepoch", "upper",
    # Accent- and case-folding (bot/catalog/textfold.py), registered on every catalog connection.
    FOLD_FUNCTION,
    # FTS5: the MATCH operator is the function "match"; the rest are its auxiliary functions.
    "match", "bm25", "highlight", "snippet",
})

# One sample call per allowed function, parsed once to learn which sqlglot node each becomes.
_FUNCTION_SAMPLES = (
    "abs(1)", "avg(1)", "ceil(1)", "ceiling(1)", "coalesce(1, 2)", "count(*)", "count(1)",
    "current_date", "current_time", "current_timestamp", "date('now')", "date('now', '-1 day')",
    "datetime('now')", "datetime('now', '-1 day')", "dense_rank() OVER (ORDER BY 1)",
    "floor(1)", "glob('a', 'b')",
    "group_concat('a', ',')", "group_concat('a')", "ifnull(1, 2)", "iif(1, 2, 3)",
    "instr('a', 'b')", "julianday('now')", "length('a')", "like('a', 'b')", "lower('a')",
    "ltrim('a')", "ltrim('a', 'b')", "max(1)", "max(1, 2)", "min(1)", "min(1, 2)",
    "nullif(1, 2)", "random()", "rank() OVER (ORDER BY 1)", "replace('a', 'b', 'c')",
    "round(1)", "round(1, 2)", "row_number() OVER (ORDER BY 1)", "rtrim('a')", "rtrim('a', 'b')",
    "strftime('%Y', 'now')", "strftime('%Y')", "strftime('%Y', 'now', 'localtime')",
    "substr('a', 1)", "substr('a', 1, 2)", "substring('a', 1, 2)",
    "sum(1)", "time('now')", "total(1)", "trim('a')", "trim('a', 'b')", "typeof(1)",
    "unixepoch('now')", "upper('a')", "bm25(t)", "highlight(t, 0, '[', ']')",
    "snippet(t, 0, '[', ']', '…', 8)",
)

_ROOTS = (exp.Select, exp.Union, exp.Intersect, exp.Except)

# Syntax that sqlglot models as function nodes but SQLite does not call as functions.
_SYNTAX_FUNCS = (exp.And, exp.Or, exp.Case, exp.If, exp.Cast, exp.Collate, exp.Exists)

# Every other node type a plain SELECT needs; anything not listed is refused.
_PLAIN_NODES = (
    *_ROOTS, exp.With, exp.CTE, exp.TableAlias, exp.Subquery, exp.From, exp.Join, exp.Table,
    exp.Column, exp.Identifier, exp.Star, exp.Literal, exp.Null, exp.Boolean, exp.HexString,
    exp.Alias, exp.Where, exp.Group, exp.Having, exp.Order, exp.Ordered, exp.Limit, exp.Offset,
    exp.Distinct, exp.Window, exp.WindowSpec, exp.Filter, exp.Placeholder, exp.Tuple, exp.In,
    exp.Between, exp.Var, exp.DataType, exp.DataTypeParam,
    # Operators: arithmetic, comparison, AND/OR, ||, LIKE/GLOB/MATCH, IS, NOT, unary minus.
    exp.Binary, exp.Unary,
)

# Words for the statements sqlglot recognizes, to tell the model what it sent.
_STATEMENT_WORDS: dict[type[exp.Expression], str] = {
    exp.Insert: "INSERT", exp.Update: "UPDATE", exp.Delete: "DELETE", exp.Merge: "MERGE",
    exp.Create: "CREATE", exp.Drop: "DROP", exp.Alter: "ALTER", exp.Pragma: "PRAGMA",
    exp.Attach: "ATTACH", exp.Detach: "DETACH", exp.Transaction: "BEGIN", exp.Commit: "COMMIT",
    exp.Rollback: "ROLLBACK", exp.Analyze: "ANALYZE", exp.Values: "VALUES",
}

_FENCE = re.compile(
    r"\A\s*```[ \t]*(?:sql|sqlite)?[ \t]*\r?\n(?P<body>.*?)\r?\n[ \t]*```\s*\Z",
    re.DOTALL | re.IGNORECASE,
)
_ANSI = re.compile(r"\x1b\[[0-9;]*m")
_EMPTY_ES = "La consulta está vacía: escribe una consulta SELECT."


class QueryError(UserFacingError):
    """A catalog query that was refused or failed.

    ``reason`` is short English meant for the model, so it can correct its SQL; ``reason_es``
    says the same in Spanish to the person who typed the SQL (``kratos sql``) and may name
    tables, columns and SQL words. The Spanish and English texts are for the chat user and
    never carry SQL or SQLite error text.
    """

    def __init__(self, reason: str, *, es: str, en: str, reason_es: str | None = None) -> None:
        super().__init__(es, en)
        self.reason = reason
        self.reason_es = reason_es or es


class SqlRefused(QueryError):
    """The guard refused the statement before it reached SQLite; ``reason`` for the model,
    ``reason_es`` for a person."""

    def __init__(self, reason: str, reason_es: str | None = None) -> None:
        super().__init__(
            reason,
            es="No pude consultar el catálogo con esa consulta: solo se permiten lecturas.",
            en="I couldn't query the catalog that way: only read-only queries are allowed.",
            reason_es=reason_es,
        )


def strip_fence(sql: str) -> str:
    """The text inside a markdown code fence that wraps the whole text, else the text itself."""
    match = _FENCE.match(sql)
    return match.group("body") if match else sql


def validate(sql: str, allowed_tables: Collection[str],
             text_columns: TextColumns | None = None) -> str:
    """Return ``sql`` as one normalized, read-only SELECT statement, or raise ``SqlRefused``.

    ``allowed_tables`` are the catalog tables the query may read (matched case-insensitively);
    CTEs the query defines may be read too. ``?`` placeholders are kept. With
    ``text_columns``, comparisons of text columns with string literals are rewritten to ignore
    case and accents (``bot.catalog.textfold``).
    """
    text = strip_fence(sql).strip()
    if not text:
        raise SqlRefused("The query is empty; send one SELECT statement.", _EMPTY_ES)
    if len(text) > MAX_SQL_CHARS:
        raise SqlRefused(
            f"The query is {len(text)} characters long; keep it under {MAX_SQL_CHARS}.",
            f"La consulta tiene {len(text)} caracteres; el máximo es {MAX_SQL_CHARS}.",
        )
    allowed = frozenset(name.lower() for name in allowed_tables)
    try:
        normalized = _check(text, allowed, text_columns)
        # Check the regenerated text too: it is what SQLite will run, and a generator quirk must
        # not turn a checked tree into different SQL.
        if _check(normalized, allowed) != normalized:
            raise SqlRefused("The query could not be normalized safely; write it more simply.",
                             "No pude reescribir la consulta de forma segura: escríbela más "
                             "simple.")
    except RecursionError:
        raise SqlRefused("The query is nested too deeply; write it more simply.",
                         "La consulta tiene demasiados niveles anidados: escríbela más simple."
                         ) from None
    return normalized


def _check(text: str, allowed: frozenset[str], text_columns: TextColumns | None = None) -> str:
    try:
        statements = [s for s in sqlglot.parse(text, dialect=DIALECT) if s is not None]
    except ParseError as error:
        raise _parse_refusal(error, text) from None
    except SqlglotError as error:
        raise SqlRefused(f"It is not valid SQLite SQL ({_clean(str(error))}).",
                         "No es SQL válido de SQLite: revisa las comillas y los paréntesis que "
                         "quedaron sin cerrar.") from None
    if not statements:
        raise SqlRefused("The query is empty; send one SELECT statement.", _EMPTY_ES)
    if len(statements) > 1:
        raise SqlRefused(
            "Only one statement is allowed; send a single SELECT without a second statement.",
            "Solo se permite una sentencia: escribe un único SELECT, sin otra después del «;».",
        )
    tree = statements[0]
    if not isinstance(tree, _ROOTS):
        if isinstance(tree, (exp.Alias, exp.Column, exp.Identifier, exp.Literal)):
            raise SqlRefused("That is not a SQL query; send one SELECT statement.",
                             "Eso no es una consulta SQL: escribe una consulta SELECT.")
        raise SqlRefused(f"Only a SELECT query is allowed, not {_describe(tree)}.",
                         f"Solo se permiten consultas SELECT, no {_describe(tree)}.")
    for node in tree.walk():
        _check_node(node, allowed)
    if text_columns is not None and "'" in text:  # no quote, no string literal to fold
        fold_comparisons(tree, text_columns)
    # Lower-case function names keep result column names close to what the model wrote. The
    # tree is not used again, so it is not copied first (as sqlglot's own transpile does).
    return tree.sql(dialect=DIALECT, comments=False, normalize_functions="lower", copy=False)


def _check_node(node: exp.Expression, allowed: frozenset[str]) -> None:
    if isinstance(node, exp.Cast) and node.to.is_type(exp.DataType.Type.DECIMAL):
        # sqlglot writes NUMERIC/DECIMAL back as REAL, which turns 1 into 1.0.
        raise SqlRefused("CAST to NUMERIC or DECIMAL is not supported; cast AS REAL or INTEGER.",
                         "CAST a NUMERIC o DECIMAL no está disponible: usa AS REAL o AS "
                         "INTEGER.")
    if isinstance(node, _SYNTAX_FUNCS):
        return
    if isinstance(node, exp.Func):
        if not _function_allowed(node):
            name = _function_name(node)
            raise SqlRefused(
                f"The function {name}() is not allowed; use common functions such as lower, "
                "length, substr, round, coalesce, count, sum, avg, min, max, strftime.",
                f"La función {name}() no está permitida; usa funciones comunes como lower, "
                "length, substr, round, coalesce, count, sum, avg, min, max o strftime.",
            )
        return
    if not isinstance(node, _PLAIN_NODES):
        raise SqlRefused(
            f"{_describe(node)} is not allowed anywhere in a catalog query; only SELECT is.",
            f"{_describe(node)} no está permitido en una consulta al catálogo; solo SELECT.",
        )
    if isinstance(node, exp.CTE) and node.alias_or_name.lower().startswith("sqlite_"):
        raise SqlRefused(f"A CTE may not be named {node.alias_or_name}; choose another name.",
                         f"Una CTE no puede llamarse {node.alias_or_name}: elige otro nombre.")
    if isinstance(node, exp.Table):
        _check_table(node, allowed)
    elif isinstance(node, exp.In) and node.args.get("field") is not None:
        raise SqlRefused("Write `x IN (SELECT ...)` rather than `x IN table`.",
                         "Escribe `x IN (SELECT ...)` en lugar de `x IN tabla`.")
    elif isinstance(node, exp.Placeholder) and node.this is not None:
        raise SqlRefused(f"Use ? for parameters, not :{node.this}.",
                         f"Usa ? para los parámetros, no :{node.this}.")


def _check_table(table: exp.Table, allowed: frozenset[str]) -> None:
    if not isinstance(table.this, exp.Identifier):
        raise SqlRefused(
            "Table-valued functions are not allowed; for full-text search write "
            "`FROM products_fts WHERE products_fts MATCH '...'`.",
            "Las funciones que devuelven tablas no están permitidas; para buscar texto escribe "
            "`FROM products_fts WHERE products_fts MATCH '...'`.",
        )
    if table.catalog or (table.db and table.db.lower() != "main"):
        raise SqlRefused(f"Only the catalog's own tables can be read, not {table.sql(DIALECT)}.",
                         f"Solo se pueden leer las tablas del catálogo, no {table.sql(DIALECT)}.")
    name = table.name.lower()
    if name in allowed or (not table.db and name in _visible_ctes(table)):
        return
    raise SqlRefused(
        f"There is no table {table.name} in the catalog; the tables are: "
        f"{', '.join(sorted(allowed)) or 'none'}.",
        f"El catálogo no tiene la tabla {table.name}; sus tablas son: "
        f"{', '.join(sorted(allowed)) or 'ninguna'}.",
    )


def _visible_ctes(node: exp.Expression) -> set[str]:
    """Names of the CTEs defined by the queries enclosing ``node`` (a CTE is not global)."""
    names: set[str] = set()
    parent = node.parent
    while parent is not None:
        for value in parent.args.values():
            if isinstance(value, exp.With):
                names.update(cte.alias_or_name.lower() for cte in value.expressions)
        parent = parent.parent
    return names


@cache
def _allowed_function_nodes() -> tuple[frozenset[type[exp.Func]], frozenset[str]]:
    """The sqlglot node types and anonymous names that the allowed SQLite functions parse to."""
    tree = sqlglot.parse_one(f"SELECT {', '.join(_FUNCTION_SAMPLES)}", dialect=DIALECT)
    types: set[type[exp.Func]] = set()
    for func in tree.find_all(exp.Func):
        if not isinstance(func, (exp.Anonymous, *_SYNTAX_FUNCS)):
            types.add(type(func))
    return frozenset(types), ALLOWED_FUNCTIONS


def _function_allowed(func: exp.Func) -> bool:
    types, names = _allowed_function_nodes()
    if isinstance(func, exp.Anonymous):
        return func.name.lower() in names
    # Exact type: a subclass may stand for a different SQLite function.
    return type(func) in types


def _function_name(func: exp.Func) -> str:
    if isinstance(func, exp.Anonymous):
        return func.name.lower()
    return func.sql_name().lower()


def _describe(node: exp.Expression) -> str:
    if isinstance(node, exp.Command):
        return node.name.upper()
    for kind, word in _STATEMENT_WORDS.items():
        if isinstance(node, kind):
            return word
    return node.key.upper()


#: The words a read query is written with. Where a statement does not parse, an unquoted word
#: one or two letters away from one of them ("SELEC", "FORM", "LIMT", "WHRE") is most likely that
#: word misspelled, and it is what to point at: the parser only notices later, at a word that is
#: right ("SELEC producto FROM products" fails at FROM, column 19).
QUERY_WORDS = ("SELECT", "FROM", "WHERE", "GROUP", "ORDER", "LIMIT", "OFFSET", "HAVING", "JOIN",
               "INNER", "LEFT", "DISTINCT", "BETWEEN", "LIKE", "WITH", "UNION", "CASE", "WHEN",
               "THEN", "ELSE", "COUNT")
#: How close (difflib's ratio) a word must be to one of ``QUERY_WORDS``: "FORM"/FROM is 0.75.
_MISSPELLING_RATIO = 0.75
#: Candidate words tried one by one, at most: each try parses the statement again.
_MISSPELLING_TRIES = 4


def _parse_refusal(error: ParseError, text: str) -> SqlRefused:
    """The refusal of a statement that does not parse: at its misspelled query word when there
    is one (``misspelled_word``), at a first word that starts no query, else where the parser
    stopped."""
    typo = misspelled_word(text)
    if typo is not None:
        word, meant, line, column = typo
        return SqlRefused(
            f"It is not valid SQLite SQL: {word!r} at line {line}, column {column} looks like "
            f"{meant} misspelled; send one SELECT statement and use ? for parameters.",
            f"No es SQL válido de SQLite: «{word}» (línea {line}, columna {column}) parece "
            f"{meant} mal escrito.")
    first = _tokens(text)[:1]
    if first and first[0].token_type is TokenType.VAR:
        word = first[0].text
        return SqlRefused(
            f"It is not valid SQLite SQL: a query starts with SELECT, not {word!r}.",
            f"No es SQL válido de SQLite: una consulta empieza con SELECT, no con «{word}».")
    return SqlRefused(_parse_reason(error), _parse_reason_es(error))


def _tokens(text: str) -> list[Token]:
    try:
        return sqlglot.tokenize(text, read=DIALECT)
    except SqlglotError:
        return []


def misspelled_word(text: str) -> tuple[str, str, int, int] | None:
    """The word of ``text``, a statement that does not parse, that is a misspelled query word:
    (the word, the query word, its line, its first column, both from 1), or None.

    A candidate is an unquoted word of letters close to one of ``QUERY_WORDS``; it is taken
    only if the statement parses once it is spelled right (with the other candidates, or
    alone), so a column that only looks like one ("grupo", "orden") is not blamed for an error
    elsewhere.
    """
    candidates: list[tuple[Token, str]] = []
    for token in _tokens(text):
        word = token.text
        if token.token_type is not TokenType.VAR or len(word) < 3 or not word.isalpha():
            continue
        close = difflib.get_close_matches(word.upper(), QUERY_WORDS, n=1,
                                          cutoff=_MISSPELLING_RATIO)
        if close and close[0] != word.upper():
            candidates.append((token, close[0]))
    candidates = candidates[:_MISSPELLING_TRIES]
    tries = [candidates] + [[one] for one in candidates] if len(candidates) > 1 else \
        [candidates]
    for fixes in tries:
        if fixes and _parses(_respelled(text, fixes)):
            token, meant = fixes[0]
            return token.text, meant, token.line, token.col - len(token.text) + 1
    return None


def _respelled(text: str, fixes: list[tuple[Token, str]]) -> str:
    for token, meant in sorted(fixes, key=lambda fix: fix[0].start, reverse=True):
        text = text[:token.start] + meant + text[token.end + 1:]
    return text


def _parses(text: str) -> bool:
    try:
        return any(s is not None for s in sqlglot.parse(text, dialect=DIALECT))
    except SqlglotError:
        return False


def _parse_reason(error: ParseError) -> str:
    detail = error.errors[0] if error.errors else {}
    where = ""
    if detail.get("line") is not None:
        where = f" at line {detail['line']}, column {detail.get('col')}"
    description = _clean(str(detail.get("description") or error))
    return (
        f"It is not valid SQLite SQL ({description}{where}); send one SELECT statement and use "
        "? for parameters."
    )


def _parse_reason_es(error: ParseError) -> str:
    """``_parse_reason`` for a person: where the text stops being SQL, and the word there."""
    detail = error.errors[0] if error.errors else {}
    near = _clean(str(detail.get("highlight") or ""))
    where = f" en la línea {detail['line']}, columna {detail.get('col')}" \
        if detail.get("line") is not None else ""
    return (f"No es SQL válido de SQLite: hay un error de sintaxis{where}"
            + (f", cerca de «{near}»" if near else "") + ".")


def _clean(message: str) -> str:
    return " ".join(_ANSI.sub("", message).split())[:200]
