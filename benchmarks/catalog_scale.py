"""Figure 5: the queries a model typically writes, through the guard, on catalogs of growing size.

Each query goes through ``CatalogReader.run`` exactly as a model's ``run_sql`` call does: the
SQL guard (parse, check, regenerate, off the event loop), the fenced read-only connection with
its authorizer and progress handler, the row cap, and the total count when rows were cut.

The mix is what the system prompt (``bot/core/prompt.py``) tells the model to write for fourteen
everyday questions. Where the prompt changed what that is, the query written before the change
is timed in the same passes and reported beside it, outside the mix.
"""

from __future__ import annotations

import asyncio
import statistics
import time
from pathlib import Path

from benchmarks.common import Figure, Metric, ensure_catalog, load_average, ms, percentile
from bot.catalog.reader import CatalogReader
from bot.core.prompt import profile_catalog
from bot.migrations import CATALOG_MIGRATIONS, apply_migrations

NAME = "catalog_scale"
TITLE = "5. Catalog scale"
GOAL_P95_MS = 20.0
GOAL_AT = 1_000_000

#: (kind, label, SQL): what the prompt has models write for the everyday questions.
QUERIES: tuple[tuple[str, str, str], ...] = (
    ("type/brand filter", "zapatillas",
     "SELECT name, price, availability FROM products WHERE category = 'Zapatillas deportivas' "
     "ORDER BY price LIMIT 10"),
    ("type/brand filter", "laptop lenovo",
     "SELECT name, price FROM products WHERE category = 'Laptops' AND brand = 'Lenovo' "
     "ORDER BY price LIMIT 5"),
    ("type/brand filter", "licuadora oster, cheapest",
     "SELECT name, price FROM products WHERE category = 'Licuadoras' AND brand = 'Oster' "
     "ORDER BY price LIMIT 5"),
    ("family + price order", "cheapest in Electrónica",
     "SELECT name, price FROM products WHERE family = 'Electrónica' ORDER BY price ASC LIMIT 10"),
    ("family + price order", "in-stock Samsung, dearest",
     "SELECT name, price FROM products WHERE brand = 'Samsung' AND availability = 'disponible' "
     "ORDER BY price DESC LIMIT 5"),
    ("family + price order", "TVs between S/ 1,000 and 2,000",
     "SELECT name, price FROM products WHERE category = 'Televisores' "
     "AND price BETWEEN 1000 AND 2000 ORDER BY price LIMIT 10"),
    ("family + price order", "laptops, no LIMIT (cut at 50, counted)",
     "SELECT name, price FROM products WHERE category = 'Laptops' ORDER BY price"),
    ("superlative", "most expensive product",
     "SELECT name, price FROM products ORDER BY price DESC LIMIT 1"),
    ("superlative", "cheapest laptop",
     "SELECT name, price FROM products WHERE category = 'Laptops' ORDER BY price ASC LIMIT 1"),
    ("aggregate (summary)", "how many products",
     "SELECT sum(products) AS products FROM product_summary"),
    ("aggregate (summary)", "how many phones in stock",
     "SELECT sum(products) AS products FROM product_summary "
     "WHERE category = 'Celulares' AND availability = 'disponible'"),
    ("aggregate (summary)", "products and average price per family",
     "SELECT family, sum(products) AS products, "
     "round(sum(price_sum) / sum(products), 2) AS average_price FROM product_summary "
     "GROUP BY family ORDER BY products DESC"),
    ("keyword (FTS)", "thinkpad (a model line), ranked",
     "SELECT p.name, p.price FROM products_fts f JOIN products p ON p.rowid = f.rowid "
     "WHERE products_fts MATCH '\"thinkpad\"*' ORDER BY rank LIMIT 10"),
    ("keyword (FTS)", "mochila impermeable (a type and a feature), ranked",
     "SELECT p.name, p.price FROM products_fts f JOIN products p ON p.rowid = f.rowid "
     "WHERE products_fts MATCH '\"impermeable\"*' AND p.category = 'Mochilas' "
     "ORDER BY rank LIMIT 10"),
)

#: Label in QUERIES -> what the prompt had the model write for it before (keyword search ranked
#: through FTS5 for type and brand words, aggregates over every product).
PREVIOUS: dict[str, str] = {
    "zapatillas":
        "SELECT p.name, p.price, p.availability FROM products_fts f JOIN products p "
        "ON p.rowid = f.rowid WHERE products_fts MATCH '\"zapatilla\"*' ORDER BY rank LIMIT 10",
    "laptop lenovo":
        "SELECT p.name, p.price FROM products_fts f JOIN products p ON p.rowid = f.rowid "
        "WHERE products_fts MATCH '\"laptop\"* AND \"lenovo\"*' ORDER BY rank LIMIT 5",
    "licuadora oster, cheapest":
        "SELECT p.name, p.price FROM products_fts f JOIN products p ON p.rowid = f.rowid "
        "WHERE products_fts MATCH '\"licuadora\"* \"oster\"*' ORDER BY p.price LIMIT 5",
    "how many products":
        "SELECT count(*) FROM products",
    "how many phones in stock":
        "SELECT count(*) FROM products WHERE category = 'Celulares' "
        "AND availability = 'disponible'",
    "products and average price per family":
        "SELECT family, count(*) AS products, round(avg(price), 2) AS average FROM products "
        "GROUP BY family ORDER BY products DESC",
}


def _summary(timings: dict[str, list[float]]) -> dict[str, dict[str, float]]:
    return {label: {"median_ms": round(statistics.median(values), 2),
                    "max_ms": round(max(values), 2)}
            for label, values in timings.items()}


async def _measure(path: Path, runs: int, repeats: int) -> dict[str, object]:
    started = time.perf_counter()
    reader = await CatalogReader.open(path)
    opened = time.perf_counter() - started
    extras = [(f"{label} (before the prompt change)", sql) for label, sql in PREVIOUS.items()]
    try:
        started = time.perf_counter()
        await profile_catalog(reader, path.with_suffix(".toml"))
        profiled = time.perf_counter() - started
        for sql in [sql for _, _, sql in QUERIES] + [sql for _, sql in extras]:
            await reader.run(sql)  # warm: page cache, FTS structures, the guard's parser
        per_run_p95: list[float] = []
        previous_p95: list[float] = []
        per_query: dict[str, list[float]] = {label: [] for _, label, _ in QUERIES}
        per_extra: dict[str, list[float]] = {label: [] for label, _ in extras}
        for _ in range(runs):
            timings: list[float] = []
            before: list[float] = []
            for _ in range(repeats):
                for _, label, sql in QUERIES:
                    started = time.perf_counter()
                    await reader.run(sql)
                    elapsed = ms(time.perf_counter() - started)
                    timings.append(elapsed)
                    per_query[label].append(elapsed)
                    if label not in PREVIOUS:
                        before.append(elapsed)
                for label, sql in extras:
                    started = time.perf_counter()
                    await reader.run(sql)
                    elapsed = ms(time.perf_counter() - started)
                    per_extra[label].append(elapsed)
                    if label.endswith("(before the prompt change)"):
                        before.append(elapsed)
            per_run_p95.append(percentile(timings, 0.95))
            previous_p95.append(percentile(before, 0.95))
    finally:
        await reader.close()
    return {"open_s": opened, "profile_s": profiled, "p95": per_run_p95,
            "previous_p95": previous_p95,
            "per_query_median_ms": {k: round(statistics.median(v), 2)
                                    for k, v in per_query.items()},
            "per_query_max_ms": {k: round(max(v), 2) for k, v in per_query.items()},
            "not_in_the_mix": _summary(per_extra)}


def run(quick: bool = False) -> Figure:
    counts = (10_000, 100_000) if quick else (10_000, 100_000, 1_000_000)
    runs, repeats = (2, 3) if quick else (5, 5)
    figure = Figure(NAME, TITLE)
    figure.details["load_average_before"] = load_average()
    for count in counts:
        path, seeded = ensure_catalog(count)
        if seeded is not None:
            figure.details[f"seed_{count}_s"] = round(seeded, 1)
        # A reused catalog gets the demo migrations it lacks, as the bot applies them at start-up.
        started = time.perf_counter()
        if apply_migrations(path, CATALOG_MIGRATIONS):
            figure.details[f"migrate_{count}_s"] = round(time.perf_counter() - started, 1)
        result = asyncio.run(_measure(path, runs, repeats))
        p95 = result.pop("p95")
        previous = result.pop("previous_p95")
        assert isinstance(p95, list) and isinstance(previous, list)
        goal = count == GOAL_AT
        figure.metrics.append(Metric(
            f"{count:,} products: p95 of the query mix", "ms", p95,
            goal=f"< {GOAL_P95_MS:.0f} ms" if goal else "",
            met=statistics.median(p95) < GOAL_P95_MS if goal else None))
        figure.metrics.append(Metric(
            f"{count:,} products: p95 of the mix as written before the prompt change", "ms",
            previous, note="not a goal: the queries the current prompt no longer asks for"))
        figure.details[f"{count}"] = result
    figure.notes.append(
        f"{len(QUERIES)} queries as the system prompt has models write them (type and brand "
        "filters with price order, family/brand/category filter with price order, "
        "superlatives, aggregates from product_summary, keyword searches through FTS5 ranked "
        "by relevance) through CatalogReader.run with the "
        f"default settings (2 s limit, 50 rows); one warm-up pass, then {repeats} passes per "
        f"run; a run's figure is the p95 of its {repeats * len(QUERIES)} timings; {runs} runs. "
        f"The {len(PREVIOUS)} queries the prompt asked for before (FTS5 keyword search ranked "
        "for type and brand words, counts and averages over products) run in the same passes, "
        "outside the mix; the 'before' row is the p95 of the mix with those previous queries "
        "in place. Catalogs are built once "
        "with `kratos seed --count N` into benchmarks/tmp/ and reused, with any pending demo "
        "migrations applied first.")
    return figure
