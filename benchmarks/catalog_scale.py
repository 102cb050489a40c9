"""Figure 5: the queries a model typically writes, through the guard, on catalogs of growing size.

Each query goes through ``CatalogReader.run`` exactly as a model's ``run_sql`` call does: the
SQL guard (parse, check, regenerate, off the event loop), the fenced read-only connection with
its authorizer and progress handler, the row cap, and the total count when rows were cut.
"""

from __future__ import annotations

import asyncio
import statistics
import time
from pathlib import Path

from benchmarks.common import Figure, Metric, ensure_catalog, load_average, ms, percentile
from bot.catalog import CatalogReader
from bot.prompt import profile_catalog

NAME = "catalog_scale"
TITLE = "5. Catalog scale"
GOAL_P95_MS = 20.0
GOAL_AT = 1_000_000

#: (kind, label, SQL): what models write for the everyday questions.
QUERIES: tuple[tuple[str, str, str], ...] = (
    ("keyword (FTS)", "zapatillas",
     "SELECT p.name, p.price, p.availability FROM products_fts f JOIN products p "
     "ON p.rowid = f.rowid WHERE products_fts MATCH '\"zapatilla\"*' ORDER BY rank LIMIT 10"),
    ("keyword (FTS)", "laptop lenovo",
     "SELECT p.name, p.price FROM products_fts f JOIN products p ON p.rowid = f.rowid "
     "WHERE products_fts MATCH '\"laptop\"* AND \"lenovo\"*' ORDER BY rank LIMIT 5"),
    ("keyword (FTS)", "licuadora oster, cheapest",
     "SELECT p.name, p.price FROM products_fts f JOIN products p ON p.rowid = f.rowid "
     "WHERE products_fts MATCH '\"licuadora\"* \"oster\"*' ORDER BY p.price LIMIT 5"),
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
    ("aggregate", "how many products",
     "SELECT count(*) FROM products"),
    ("aggregate", "how many phones in stock",
     "SELECT count(*) FROM products WHERE category = 'Celulares' AND availability = 'disponible'"),
    ("aggregate", "products and average price per family",
     "SELECT family, count(*) AS products, round(avg(price), 2) AS average FROM products "
     "GROUP BY family ORDER BY products DESC"),
)


async def _measure(path: Path, runs: int, repeats: int) -> dict[str, object]:
    started = time.perf_counter()
    reader = await CatalogReader.open(path)
    opened = time.perf_counter() - started
    try:
        started = time.perf_counter()
        await profile_catalog(reader, path.with_suffix(".toml"))
        profiled = time.perf_counter() - started
        for _, _, sql in QUERIES:
            await reader.run(sql)  # warm: page cache, FTS structures, the guard's parser
        per_run_p95: list[float] = []
        per_query: dict[str, list[float]] = {label: [] for _, label, _ in QUERIES}
        for _ in range(runs):
            timings: list[float] = []
            for _ in range(repeats):
                for _, label, sql in QUERIES:
                    started = time.perf_counter()
                    await reader.run(sql)
                    elapsed = ms(time.perf_counter() - started)
                    timings.append(elapsed)
                    per_query[label].append(elapsed)
            per_run_p95.append(percentile(timings, 0.95))
    finally:
        await reader.close()
    return {"open_s": opened, "profile_s": profiled, "p95": per_run_p95,
            "per_query_median_ms": {k: round(statistics.median(v), 2)
                                    for k, v in per_query.items()},
            "per_query_max_ms": {k: round(max(v), 2) for k, v in per_query.items()}}


def run(quick: bool = False) -> Figure:
    counts = (10_000, 100_000) if quick else (10_000, 100_000, 1_000_000)
    runs, repeats = (2, 3) if quick else (5, 5)
    figure = Figure(NAME, TITLE)
    figure.details["load_average_before"] = load_average()
    for count in counts:
        path, seeded = ensure_catalog(count)
        if seeded is not None:
            figure.details[f"seed_{count}_s"] = round(seeded, 1)
        result = asyncio.run(_measure(path, runs, repeats))
        p95 = result.pop("p95")
        assert isinstance(p95, list)
        goal = count == GOAL_AT
        figure.metrics.append(Metric(
            f"{count:,} products: p95 of the query mix", "ms", p95,
            goal=f"< {GOAL_P95_MS:.0f} ms" if goal else "",
            met=statistics.median(p95) < GOAL_P95_MS if goal else None))
        figure.details[f"{count}"] = result
    figure.notes.append(
        f"{len(QUERIES)} queries (keyword search through FTS5, family/brand/category filter with "
        "price order, superlatives, aggregates) through CatalogReader.run with the default "
        f"settings (2 s limit, 50 rows); one warm-up pass, then {repeats} passes per run; a "
        f"run's figure is the p95 of its {repeats * len(QUERIES)} timings; {runs} runs. "
        "Catalogs are built once with `kratos seed --count N` into benchmarks/tmp/ and reused.")
    return figure
