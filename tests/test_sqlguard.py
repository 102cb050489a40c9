"""The SQL guard alone: what it refuses, what it lets through, and what it hands to SQLite."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.catalog import sqlguard
from bot.catalog.sqlguard import MAX_SQL_CHARS, SqlRefused, strip_fence, validate
from bot.errors import UserFacingError
from tests.hostile_sql import CORPUS, corpus

CATALOG_TABLES = frozenset({"products", "products_fts"})

LEGIT = [
    "SELECT name, price FROM products ORDER BY price DESC LIMIT 1",
    "SELECT p.name FROM products_fts JOIN products p ON p.id = products_fts.rowid "
    "WHERE products_fts MATCH 'electronica' ORDER BY rank LIMIT 5",
    "SELECT bm25(products_fts), highlight(products_fts, 0, '[', ']'), "
    "snippet(products_fts, 4, '[', ']', '…', 8) FROM products_fts "
    "WHERE products_fts MATCH ? LIMIT 3",
    "SELECT a.name, b.name FROM products a JOIN products b ON a.brand = b.brand AND a.id < b.id",
    "SELECT family, count(*) AS n, round(avg(price), 2) FROM products GROUP BY family "
    "HAVING count(*) > 1 ORDER BY n DESC",
    "WITH cheap AS (SELECT * FROM products WHERE price < 100) SELECT count(*) FROM cheap",
    "WITH RECURSIVE r(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM r WHERE n < 5) "
    "SELECT n FROM r",
    "SELECT name FROM products WHERE family = ? AND price BETWEEN ? AND ?",
    "SELECT name FROM products WHERE lower(name) LIKE '%laptop%' OR name GLOB '*Pro*'",
    "SELECT CASE WHEN stock > 0 THEN 'sí' ELSE 'no' END, CAST(price AS INTEGER), "
    "coalesce(color, '-'), ifnull(color, '-'), iif(stock > 0, 1, 0) FROM products",
    "SELECT strftime('%Y', 'now'), date('now', '-1 day'), datetime('now'), julianday('now')",
    "SELECT brand FROM products WHERE id IN (SELECT id FROM products WHERE stock = 0)",
    "SELECT name FROM products p WHERE EXISTS (SELECT 1 FROM products q WHERE q.brand = p.brand)",
    "SELECT name FROM products UNION SELECT brand FROM products",
    "SELECT name, row_number() OVER (PARTITION BY family ORDER BY price DESC) FROM products",
    "SELECT count(*) FILTER (WHERE stock = 0) FROM products",
    "SELECT * FROM main.products LIMIT -1",
    "SELECT name FROM PRODUCTS",
    'SELECT "name" FROM "Products"',
    "SELECT name FROM products ORDER BY random() LIMIT 1",
    "SELECT name COLLATE NOCASE FROM products",
]

ALLOWED_CALLS = [
    "abs(price)", "avg(price)", "ceil(price)", "ceiling(price)", "coalesce(color, 'x')",
    "count(*)", "count(DISTINCT brand)", "current_date", "current_timestamp", "date('now')",
    "datetime('now')", "floor(price)", "group_concat(name, ', ')", "ifnull(color, 'x')",
    "iif(stock > 0, 1, 0)", "instr(name, 'a')", "julianday('now')", "length(name)",
    "lower(name)", "ltrim(name)", "max(price)", "max(price, 1)", "min(price)", "nullif(stock, 0)",
    "random()", "replace(name, 'a', 'b')", "round(price, 2)", "rtrim(name)",
    "strftime('%Y', 'now')", "substr(name, 1, 3)", "substring(name, 1, 3)", "sum(price)",
    "time('now')", "total(price)", "trim(name)", "typeof(price)", "unixepoch('now')",
    "upper(name)",
]

REFUSED_CALLS = [
    "printf('%d', 1)", "format('%d', 1)", "randomblob(8)", "zeroblob(8)",
    "load_extension('x')", "char(65)", "hex(name)", "unhex('41')", "quote(name)",
    "json('{}')", "json_extract('{}', '$.a')", "sqlite_version()", "sqlite_source_id()",
    "sqlite_compileoption_get(0)", "readfile('/etc/passwd')", "writefile('x', 'y')",
    "fts3_tokenizer('simple')", "likelihood(1, 0.5)", "soundex(name)", "unicode(name)",
    "regexp('a', 'b')", "concat('a', 'b')", "pow(2, 3)", "sqrt(2)", "changes()",
    "last_insert_rowid()", "sqlite_offset(price)", "edit('x')",
]


def refusal(sql: str, tables: frozenset[str] = CATALOG_TABLES) -> SqlRefused:
    with pytest.raises(SqlRefused) as caught:
        validate(sql, tables)
    return caught.value


@pytest.mark.parametrize("entry", CORPUS, ids=[entry.label for entry in CORPUS])
def test_guard_alone_on_the_hostile_corpus(entry, tmp_path: Path) -> None:
    sql = entry.at(tmp_path).sql
    if entry.guard:
        error = refusal(sql)
        assert error.reason.strip()
        assert "\n" not in error.reason and "\x1b" not in error.reason
    else:
        # Valid SELECTs that only the time limit can stop.
        assert validate(sql, CATALOG_TABLES).startswith("WITH RECURSIVE") or "count(*)" in sql


def test_guard_stops_all_but_the_slow_ones(tmp_path: Path) -> None:
    passed = []
    for entry in corpus(tmp_path):
        try:
            validate(entry.sql, CATALOG_TABLES)
        except SqlRefused:
            continue
        passed.append(entry.label)
    assert sorted(passed) == ["cross-join-4", "recursive-cte-forever"]
    assert len(CORPUS) >= 40


@pytest.mark.parametrize("sql", LEGIT)
def test_legit_queries_pass_and_normalize_to_a_fixed_point(sql: str) -> None:
    normalized = validate(sql, CATALOG_TABLES)
    assert validate(normalized, CATALOG_TABLES) == normalized
    assert ";" not in normalized


@pytest.mark.parametrize("call", ALLOWED_CALLS)
def test_allowed_functions_pass(call: str) -> None:
    validate(f"SELECT {call} FROM products", CATALOG_TABLES)


@pytest.mark.parametrize("call", REFUSED_CALLS)
def test_other_functions_are_refused(call: str) -> None:
    error = refusal(f"SELECT {call} FROM products")
    assert "not allowed" in error.reason


def test_functions_are_checked_inside_subqueries_and_ctes() -> None:
    refusal("SELECT name FROM products WHERE id IN (SELECT length(randomblob(9)))")
    refusal("WITH x AS (SELECT printf('%d', 1) AS v) SELECT v FROM x")
    refusal("SELECT name FROM products ORDER BY hex(name)")


def test_the_reason_names_the_catalog_tables_for_an_unknown_one() -> None:
    error = refusal("SELECT * FROM clientes")
    assert "clientes" in error.reason
    assert "products" in error.reason and "products_fts" in error.reason


def test_a_cte_name_only_covers_the_query_that_defines_it() -> None:
    validate("WITH cheap AS (SELECT 1 AS x) SELECT x FROM cheap", CATALOG_TABLES)
    # `secret` is a real table outside the catalog; a CTE of that name in a sibling subquery
    # must not make the outer reference look allowed.
    refusal("SELECT * FROM secret, (WITH secret AS (SELECT 1) SELECT 1)")
    refusal("WITH sqlite_master AS (SELECT 1) SELECT * FROM sqlite_master")


def test_only_the_main_schema_may_be_named() -> None:
    validate("SELECT * FROM main.products", CATALOG_TABLES)
    refusal("SELECT * FROM temp.products")
    refusal("SELECT * FROM other.products")
    refusal("SELECT * FROM main.main.products")


def test_question_mark_parameters_are_kept_and_others_refused() -> None:
    normalized = validate("SELECT name FROM products WHERE price > ? AND brand = ?",
                          CATALOG_TABLES)
    assert normalized.count("?") == 2
    for sql in ("SELECT name FROM products WHERE id = ?1",
                "SELECT name FROM products WHERE id = :id"):
        assert "?" in refusal(sql).reason


def test_a_markdown_fence_around_the_whole_text_is_stripped() -> None:
    assert validate("```sql\nSELECT name FROM products LIMIT 1;\n```", CATALOG_TABLES) == (
        "SELECT name FROM products LIMIT 1"
    )
    assert strip_fence("```\nSELECT 1\n```") == "SELECT 1"
    # Prose around a fence is not stripped, so the whole text is refused.
    refusal("Here you go:\n```sql\nSELECT 1\n```")


def test_comments_do_not_reach_sqlite() -> None:
    normalized = validate("SELECT name /* hi */ FROM products -- why\n", CATALOG_TABLES)
    assert normalized == "SELECT name FROM products"


def test_too_long_text_is_refused_before_parsing() -> None:
    error = refusal("SELECT 1 " + " " * MAX_SQL_CHARS + "FROM products")
    assert str(MAX_SQL_CHARS) in error.reason


def test_refusal_is_a_user_facing_error_without_sql_in_it() -> None:
    error = refusal("DELETE FROM products")
    assert isinstance(error, UserFacingError)
    assert error.user_message("es") != error.user_message("en")
    for text in (error.es, error.en):
        assert "DELETE" not in text and "products" not in text
    assert "DELETE" in error.reason


def test_a_cast_that_normalization_would_change_is_refused() -> None:
    assert "REAL" in refusal("SELECT CAST(price AS NUMERIC) FROM products").reason
    refusal("SELECT CAST(price AS DECIMAL(10, 2)) FROM products")
    assert validate("SELECT CAST(price AS INT) FROM products", CATALOG_TABLES) == (
        "SELECT CAST(price AS INTEGER) FROM products"
    )


@pytest.mark.parametrize(("sql", "word", "meant", "line", "column"), [
    ("SELEC producto FROM products", "SELEC", "SELECT", 1, 1),
    ("SELCT * FROM products", "SELCT", "SELECT", 1, 1),
    ("slect name from products", "slect", "SELECT", 1, 1),
    ("SELECT name FORM products", "FORM", "FROM", 1, 13),
    ("SELECT name FROM products WHRE price > 5", "WHRE", "WHERE", 1, 27),
    ("SELECT * FROM products ORDR BY price", "ORDR", "ORDER", 1, 24),
    ("SELECT family, count(*) FROM products GRUP BY family", "GRUP", "GROUP", 1, 39),
    ("SELECT *\nFROM products\n  LIMT 5", "LIMT", "LIMIT", 3, 3),
    ("WITH c AS (SELECT 1) SELEC * FROM c", "SELEC", "SELECT", 1, 22),
    ("SELEC name FORM products", "SELEC", "SELECT", 1, 1),
])
def test_a_misspelled_query_word_is_named_where_it_is(sql: str, word: str, meant: str,
                                                      line: int, column: int) -> None:
    with pytest.raises(SqlRefused) as refused:
        validate(sql, CATALOG_TABLES)
    where = f"(línea {line}, columna {column})"
    assert refused.value.reason_es == (f"No es SQL válido de SQLite: «{word}» {where} parece "
                                       f"{meant} mal escrito.")
    assert f"{word!r} at line {line}, column {column} looks like {meant}" in refused.value.reason


@pytest.mark.parametrize("sql", [
    "SELECT grupo FROM products WHERE",       # a column that only looks like GROUP
    "SELECT orden, casa FROM products WHERE price >",
    "SELECT 'selec' FROM products WHERE",     # quoted: a value, not a word of the query
    "SELECT order_id FROM products WHERE",
])
def test_a_word_that_only_looks_like_a_query_word_is_not_blamed(sql: str) -> None:
    with pytest.raises(SqlRefused) as refused:
        validate(sql, CATALOG_TABLES)
    assert "mal escrito" not in refused.value.reason_es
    assert "hay un error de sintaxis en la línea 1, columna" in refused.value.reason_es


@pytest.mark.parametrize(("sql", "word"), [("DELET FROM products", "DELET"),
                                           ("MUESTRA todo de products", "MUESTRA")])
def test_a_statement_that_starts_with_no_query_word_says_so(sql: str, word: str) -> None:
    with pytest.raises(SqlRefused) as refused:
        validate(sql, CATALOG_TABLES)
    assert refused.value.reason_es == (f"No es SQL válido de SQLite: una consulta empieza con "
                                       f"SELECT, no con «{word}».")


def test_many_lookalike_words_are_tried_a_few_times_only(monkeypatch: pytest.MonkeyPatch
                                                         ) -> None:
    parses: list[str] = []
    real = sqlguard._parses
    monkeypatch.setattr(sqlguard, "_parses", lambda text: parses.append(text) or real(text))
    with pytest.raises(SqlRefused):
        validate("SELECT name " + " ".join(["FORM"] * 300) + " products", CATALOG_TABLES)
    assert 1 < len(parses) <= 5  # all candidates together, then the first four alone
