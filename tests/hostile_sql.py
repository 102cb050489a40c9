"""Hostile or broken SQL a language model might send to the catalog, as data.

Each entry says which fence is expected to stop it on its own:

- ``guard``: ``bot.catalog.sqlguard.validate`` refuses it (the two slow queries are valid SELECTs,
so the
  guard lets them through and the time limit stops them);
- ``fence``: the fenced connection alone (guard bypassed) makes it fail: authorizer, limits,
  read-only file, one-statement rule or time limit;
- ``slow``: it is stopped by the time limit (``QueryTooSlow``).

Paths that a statement could create are put under a scratch folder the test owns, so the test can
check that none appeared.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

SCRATCH = "SCRATCH_DIR"
HUGE_SQL_CHARS = 200_000


@dataclass(frozen=True)
class Hostile:
    label: str
    sql: str
    guard: bool = True
    fence: bool = True
    slow: bool = False

    def at(self, scratch: Path) -> Hostile:
        """This entry with its scratch paths pointed at ``scratch``."""
        return Hostile(self.label, self.sql.replace(SCRATCH, str(scratch)), self.guard,
                       self.fence, self.slow)


CORPUS: list[Hostile] = [
    # Writes of every kind.
    Hostile("insert", "INSERT INTO products (id, sku) VALUES (9999, 'X')"),
    Hostile("insert-select", "INSERT INTO products SELECT * FROM products"),
    Hostile("update", "UPDATE products SET price = 0.01"),
    Hostile("delete", "DELETE FROM products"),
    Hostile("replace-into", "REPLACE INTO products (id, sku) VALUES (1, 'X')"),
    Hostile("insert-or-replace", "INSERT OR REPLACE INTO products (id, sku) VALUES (1, 'X')"),
    Hostile("upsert", "INSERT INTO products (id, sku) VALUES (1, 'X') "
                      "ON CONFLICT (id) DO UPDATE SET price = 0.01"),
    Hostile("drop-table", "DROP TABLE products"),
    Hostile("drop-index", "DROP INDEX products_price"),
    Hostile("alter-add-column", "ALTER TABLE products ADD COLUMN owned TEXT"),
    Hostile("alter-rename", "ALTER TABLE products RENAME TO gone"),
    Hostile("create-table", "CREATE TABLE evil (x)"),
    Hostile("create-table-as", "CREATE TABLE copy AS SELECT * FROM products"),
    Hostile("create-index", "CREATE INDEX evil_idx ON products (name)"),
    Hostile("create-view", "CREATE VIEW evil AS SELECT 1"),
    Hostile("create-trigger", "CREATE TRIGGER evil AFTER INSERT ON products "
                              "BEGIN DELETE FROM products; END"),
    Hostile("create-temp-view-shadow", "CREATE TEMP VIEW products AS SELECT 1 AS id"),
    Hostile("create-temp-table", "CREATE TEMP TABLE scratch (x)"),
    Hostile("fts-delete-all", "INSERT INTO products_fts(products_fts) VALUES('delete-all')"),
    Hostile("fts-rebuild", "INSERT INTO products_fts(products_fts) VALUES('rebuild')"),
    Hostile("cte-then-delete", "WITH x AS (SELECT 1) DELETE FROM products"),
    Hostile("delete-in-cte", "WITH gone AS (DELETE FROM products RETURNING id) "
                             "SELECT * FROM gone"),
    # Several statements, hidden with comments or quotes.
    Hostile("stacked", "SELECT 1; DROP TABLE products"),
    Hostile("line-comment", "SELECT 1 --\n; DELETE FROM products"),
    Hostile("block-comment", "SELECT 1 /* */; DELETE FROM products"),
    Hostile("comment-first", "/* SELECT */ DELETE FROM products"),
    Hostile("quote-trick", "SELECT 'x'; DELETE FROM products; --'"),
    # Database-level commands.
    Hostile("attach", f"ATTACH DATABASE '{SCRATCH}/x.db' AS x"),
    Hostile("detach", "DETACH DATABASE x"),
    Hostile("pragma-query-only-off", "PRAGMA query_only=0"),
    Hostile("pragma-writable-schema", "PRAGMA writable_schema=ON"),
    Hostile("pragma-journal-wal", "PRAGMA journal_mode=WAL"),
    Hostile("vacuum", "VACUUM"),
    Hostile("vacuum-into", f"VACUUM INTO '{SCRATCH}/copy.db'"),
    Hostile("reindex", "REINDEX"),
    Hostile("analyze", "ANALYZE"),
    Hostile("begin", "BEGIN IMMEDIATE"),
    Hostile("commit", "COMMIT"),
    Hostile("rollback", "ROLLBACK"),
    Hostile("savepoint", "SAVEPOINT s1"),
    Hostile("release", "RELEASE s1"),
    # Functions: extensions, and single calls that build huge values (no VM step to interrupt).
    Hostile("load-extension", f"SELECT load_extension('{SCRATCH}/evil.so')"),
    Hostile("printf-bomb", "SELECT printf('%.*c', 900000000, 'x')"),
    Hostile("randomblob-bomb", "SELECT randomblob(900000000)"),
    Hostile("zeroblob-bomb", "SELECT zeroblob(900000000)"),
    Hostile("hex-zeroblob-bomb", "SELECT replace(hex(zeroblob(900000000)), '00', 'xy')"),
    Hostile("char-many-args", "SELECT char(" + ", ".join(["65"] * 200) + ")"),
    Hostile("fts3-tokenizer", "SELECT fts3_tokenizer('simple')"),
    # Runaway work: valid SELECTs that only the time limit stops.
    Hostile("recursive-cte-forever", "WITH RECURSIVE r(n) AS (SELECT 1 UNION ALL "
                                     "SELECT n + 1 FROM r) SELECT count(*) FROM r",
            guard=False, slow=True),
    Hostile("cross-join-4", "SELECT count(*) FROM products a, products b, products c, "
                            "products d", guard=False, slow=True),
    # Reads outside the catalog.
    Hostile("sqlite-master", "SELECT * FROM sqlite_master"),
    Hostile("sqlite-schema", "SELECT sql FROM sqlite_schema"),
    Hostile("sqlite-temp-master", "SELECT * FROM sqlite_temp_master"),
    Hostile("sqlite-stat1", "SELECT * FROM sqlite_stat1"),
    Hostile("schema-migrations", "SELECT * FROM schema_migrations"),
    Hostile("sqlite-master-count", "SELECT count(*) FROM sqlite_master"),
    Hostile("schema-migrations-count", "SELECT count(*) FROM schema_migrations"),
    Hostile("union-leak", "SELECT name FROM products UNION SELECT sql FROM sqlite_master"),
    Hostile("subquery-leak", "SELECT (SELECT group_concat(name) FROM schema_migrations)"),
    Hostile("in-table-leak", "SELECT 1 WHERE 'x' IN schema_migrations"),
    # FTS5 shadow tables hold index blobs, not secrets: the fence lets FTS5 read them, so only
    # the guard keeps the model away from them.
    Hostile("fts-shadow-table", "SELECT * FROM products_fts_data", fence=False),
    Hostile("pragma-table-function", "SELECT * FROM pragma_table_info('products')"),
    Hostile("dbstat", "SELECT * FROM dbstat"),
    Hostile("temp-schema", "SELECT * FROM temp.products"),
    # Not SQL, or not usable SQL.
    Hostile("markdown-delete", "```sql\nDELETE FROM products;\n```"),
    Hostile("spanish-text", "dame laptops"),
    # An empty statement does nothing at all in SQLite; only the guard calls it out.
    Hostile("empty", "", fence=False),
    Hostile("huge", "SELECT name FROM products WHERE name = '" + "a" * HUGE_SQL_CHARS + "'"),
    Hostile("deep-nesting", "SELECT " + "(" * 5000 + "1" + ")" * 5000),
]


def corpus(scratch: Path) -> list[Hostile]:
    """The corpus with its scratch paths under ``scratch``."""
    return [entry.at(scratch) for entry in CORPUS]


def grown(char: str, power: int) -> str:
    """SQL for ``char`` repeated 10**power times, built by nested ``replace`` (each step x10)."""
    expression = f"'{char * 10}'"
    for _ in range(power - 1):
        expression = f"replace({expression}, '{char}', '{char * 10}')"
    return expression


#: Two grown strings: x = 'a' * 1,000,000 (SQLite's value limit exactly), y = 'a' * 100,000 + 'b'
#: (found nowhere, so a naive search compares almost all of y at every position of x).
_GROWN = f"WITH g(x, y) AS (SELECT {grown('a', 6)}, {grown('a', 5)} || 'b') "
#: z = 'b' * 100,000 against the set y: every character of z is found only at the end of y.
_TRIM = f"WITH g(y, z) AS (SELECT {grown('a', 5)} || 'b', {grown('b', 5)}) "
_CROSS = "FROM products a, products b, products c"


@dataclass(frozen=True)
class Amplifier:
    """A valid SELECT whose work or memory grows far beyond its text; it must end in time."""

    label: str
    sql: str


#: CPU and memory amplification: each is answered, refused or stopped within the time limit
#: plus half a second, without holding its connection longer.
AMPLIFICATION: list[Amplifier] = [
    # The shape first seen: two strings grown by nested replace, then one ltrim of both.
    Amplifier("ltrim-grown", _TRIM + "SELECT length(ltrim(z, y)) FROM g"),
    Amplifier("rtrim-grown", _TRIM + "SELECT length(rtrim(z, y)) FROM g"),
    Amplifier("trim-grown", _TRIM + "SELECT length(trim(z, y)) FROM g"),
    Amplifier("instr-grown-x8", _GROWN + "SELECT " + " + ".join(["instr(x, y)"] * 8) + " FROM g"),
    Amplifier("replace-grown", _GROWN + "SELECT length(replace(x, y, 'z')) FROM g"),
    Amplifier("replace-pattern-grown", _GROWN + "SELECT length(replace(y, x, 'z')) FROM g"),
    Amplifier("like-grown", _GROWN + "SELECT x LIKE '%" + "a" * 47 + "b' FROM g"),
    Amplifier("like-long-pattern", _GROWN + "SELECT x LIKE '%' || substr(y, 1, 990) || 'b' "
                                            "FROM g"),
    Amplifier("glob-class-grown", _GROWN + "SELECT x GLOB '*[" + "c" * 45 + "]' FROM g"),
    Amplifier("glob-long-class", _GROWN + "SELECT x GLOB '*[' || replace(substr(y, 1, 990), 'a', "
                                          "'c') || ']' FROM g"),
    Amplifier("glob-grown", _GROWN + "SELECT x GLOB '*" + "a" * 47 + "b' FROM g"),
    Amplifier("substr-padding", _GROWN + "SELECT instr(substr(x, 2) || x, substr(y, 50000)) "
                                         "+ instr(substr(x || x, 3), y) FROM g"),
    Amplifier("recursive-doubling", "WITH RECURSIVE r(s) AS (SELECT 'a' UNION ALL SELECT s || s "
                                    "FROM r WHERE length(s) < 500000) "
                                    "SELECT instr(max(s) || max(s), max(s) || 'b') FROM r"),
    Amplifier("upper-lower-chain", _GROWN + "SELECT length(upper(lower(upper(lower(x))))) FROM g"),
    Amplifier("group-concat-catalog", "SELECT length(group_concat(a.name || a.description)) "
                                      "FROM products a, products b"),
    Amplifier("sort-cross-join", f"SELECT DISTINCT a.name || b.name || c.name {_CROSS} "
                                 "ORDER BY 1 LIMIT 5"),
    Amplifier("window-cross-join", "SELECT max(n) FROM (SELECT row_number() OVER "
                                   "(ORDER BY a.description || b.description) AS n "
                                   "FROM products a, products b)"),
    Amplifier("group-by-cross-join", f"SELECT a.name || b.name, count(*) {_CROSS} "
                                     "GROUP BY 1 ORDER BY 2 DESC LIMIT 3"),
]
