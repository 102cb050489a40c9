"""The demo catalog: a realistic store in Peru, generated deterministically from a seed.

The catalog is built in a temporary file beside the target and renamed into place only when
complete, so a crash never leaves half a catalog. Bulk loading drops the indexes and the
triggers on ``products`` (FTS and summary), fills ``products``, rebuilds the FTS index and the
``product_summary`` table in one pass each and recreates everything exactly as the migrations
wrote it.
"""

from __future__ import annotations

import logging
import math
import os
import random
import secrets
import sqlite3
import time
from bisect import bisect
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from itertools import accumulate, islice, permutations
from pathlib import Path
from typing import TypeVar

from faker import Faker

from bot.catalog.progress import Progress
from bot.catalog.seed_data import (
    FAMILY_CODES,
    ON_ORDER_SHARE,
    OUT_OF_STOCK_SHARE,
    PRODUCT_TYPES,
    ProductType,
    Specs,
)
from bot.errors import ConfigError, RequestRefused
from bot.migrations import (
    CATALOG_MIGRATIONS,
    apply_migrations,
    is_demo_catalog,
)
from bot.settings import Settings

logger = logging.getLogger(__name__)

T = TypeVar("T")

BATCH_SIZE = 20_000
#: The most products ``kratos seed`` builds: ten times the largest catalog measured (1,000,000
#: products, BENCHMARKS.md). A mistyped count of 10**12 would run for days and fill the disk.
MAX_DEMO_PRODUCTS = 10_000_000
#: Up to this many products, names are kept distinct (the set of names stays small).
DISTINCT_NAMES_UPTO = 20_000
PART_CODES = 2_000

Row = tuple[int, str, str, str, str, str, str, str | None, str, float, int, str]

_INSERT = (
    "INSERT INTO products (id, sku, name, family, category, brand, model, color, description,"
    " price, stock, availability) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
)
#: What the summary triggers would have added up row by row (migration 0004 fills it the same way).
_SUMMARY = (
    "INSERT INTO product_summary (family, category, brand, availability, products, stock,"
    " price_sum) SELECT family, category, brand, availability, count(*), sum(stock), sum(price)"
    " FROM products GROUP BY family, category, brand, availability"
)
_LEADS = (
    "{short} con {f1} y {f2}.",
    "{short}: {f1}, {f2} y {f3}.",
    "{short}, con {f1}, {f2} y {f3}.",
)
_CLOSINGS = (
    "Ideal para {use}.",
    "Ideal para {use}, con garantía de {months} meses.",
    "Una gran opción para {use} (código de fabricante {part}).",
    "Garantía de {months} meses con {brand}.",
)


@dataclass(frozen=True)
class _Line:
    """A model line with what the generator needs precomputed."""

    sku_prefix: str
    brand: str
    model: str
    short: str
    base: float
    specs: Specs


def _lines() -> list[tuple[ProductType, list[_Line]]]:
    """Every type with its model lines.

    ``base`` places the line's usual price within the type's range on a log scale (0 = the
    cheapest price, 1 = the dearest), so variants and noise can move it without leaving it.
    """
    out = []
    for kind in PRODUCT_TYPES:
        span = math.log(kind.price_max / kind.price_min)
        lines = [
            _Line(
                sku_prefix=f"{FAMILY_CODES[kind.family]}-{kind.code}-",
                brand=brand,
                model=model,
                short=kind.name_format.format(noun=kind.noun, brand=brand, model=model),
                base=math.log(price / kind.price_min) / span,
                specs=kind.specs_for(brand, model),
            )
            for brand, models in kind.brands.items()
            for model, price in models.items()
        ]
        out.append((kind, lines))
    return out


def _position(line: _Line, picks: list[int], span: float, noise: float) -> float:
    """Where a variant's price sits in its type's range (0..1, log scale)."""
    if picks:
        top = sum(i / (len(g) - 1) if len(g) > 1 else 0.0
                  for g, i in zip(line.specs, picks, strict=True)) / len(picks)
        position = line.base + span * (1 - line.base) * top
    else:
        position = line.base
    return min(1.0, max(0.0, position + noise))


def shop_price(raw: float, low: float, high: float, roll: float) -> float:
    """Round a price the way shops do (39.90, 1,299.90, 1,299.00, 1,300.00) within [low, high]."""
    step = 10 if raw >= 300 else 1
    whole = round(raw / step) * step
    if roll < 0.65:
        price = whole - 0.10
    elif roll < 0.85 and step == 10:
        price = whole - 1
    else:
        price = float(whole)
    while price > high:
        price -= step
    while price < low:
        price += step
    return round(price, 2)


def _stock(rand: Callable[[], float], price: float) -> tuple[int, str]:
    """Stock and availability, always consistent: stock > 0 exactly when 'disponible'."""
    if rand() < OUT_OF_STOCK_SHARE:
        return 0, "por llegar" if rand() < ON_ORDER_SHARE else "agotado"
    cap = 120 if price < 150 else 60 if price < 1000 else 30 if price < 3000 else 12
    return 1 + int(rand() ** 2 * cap), "disponible"


def generate_products(count: int, seed: int = 42) -> Iterator[Row]:
    """Yield ``count`` product rows (ids 1..count), identical for the same count and seed.

    Picks use ``random()`` indexing rather than ``choice``/``sample``: several times faster,
    which matters at a million products.
    """
    rand = random.Random(seed).random
    fake = Faker("es_ES")
    fake.seed_instance(seed)
    parts = [fake.bothify("??-####", letters="ABCDEFGHJKLMNPRSTUVWXYZ") for _ in range(PART_CODES)]
    catalog = _lines()
    kinds = [kind for kind, _ in catalog]
    lines_by_kind = {kind.category: lines for kind, lines in catalog}
    feature_triples = {kind.category: list(permutations(kind.features, 3)) for kind in kinds}
    cum_weights = list(accumulate(kind.weight for kind in kinds))
    total_weight = cum_weights[-1]
    seen: set[str] | None = set() if count <= DISTINCT_NAMES_UPTO else None
    width = max(6, len(str(count)))

    def pick(options: Sequence[T]) -> T:
        return options[int(rand() * len(options))]

    for product_id in range(1, count + 1):
        for _ in range(12):
            kind = kinds[bisect(cum_weights, rand() * total_weight)]
            line = pick(lines_by_kind[kind.category])
            picks = [int(rand() * len(group)) for group in line.specs]
            words = [line.short]
            words += [group[i] for group, i in zip(line.specs, picks, strict=True)]
            words += [pick(group) for group in kind.extras]
            color = pick(kind.colors) if kind.colors else None
            if color and kind.color_in_name:
                words.append(color)
            name = " ".join(words)
            if seen is None or name not in seen:
                break
        if seen is not None:
            seen.add(name)

        position = _position(line, picks, kind.spec_span, (rand() - 0.5) * 0.06)
        raw = kind.price_min * (kind.price_max / kind.price_min) ** position
        price = shop_price(raw, kind.price_min, kind.price_max, rand())
        stock, availability = _stock(rand, price)

        f1, f2, f3 = pick(feature_triples[kind.category])
        lead = pick(_LEADS).format(short=line.short, f1=f1, f2=f2, f3=f3)
        closing = pick(_CLOSINGS).format(
            use=pick(kind.uses), months=pick(kind.warranty_months), part=pick(parts),
            brand=line.brand,
        )
        yield (
            product_id, f"{line.sku_prefix}{product_id:0{width}d}", name, kind.family,
            kind.category, line.brand, line.model, color, f"{lead} {closing}", price, stock,
            availability,
        )


def _fill(db_path: Path, count: int, seed: int, progress: Progress | None = None) -> None:
    """Load the products into a freshly migrated file, then rebuild FTS, summary, indexes and
    triggers."""
    conn = sqlite3.connect(db_path, isolation_level=None)
    try:
        conn.execute("PRAGMA journal_mode=OFF")
        conn.execute("PRAGMA synchronous=OFF")
        conn.execute("PRAGMA temp_store=MEMORY")
        conn.execute("PRAGMA cache_size=-32768")
        saved = conn.execute(
            "SELECT type, name, sql FROM sqlite_master"
            " WHERE tbl_name = 'products' AND type IN ('index', 'trigger') AND sql IS NOT NULL"
            " ORDER BY type, name"
        ).fetchall()
        conn.execute("BEGIN")
        for kind, name, _ in saved:
            conn.execute(f'DROP {kind.upper()} "{name}"')
        rows = generate_products(count, seed)
        done = 0
        while batch := list(islice(rows, BATCH_SIZE)):
            conn.executemany(_INSERT, batch)
            done += len(batch)
            if progress is not None:
                progress.advance(len(batch))
            logger.debug("seeded %d of %d products", done, count)
        conn.execute("INSERT INTO products_fts (products_fts) VALUES ('rebuild')")
        conn.execute("DELETE FROM product_summary")
        conn.execute(_SUMMARY)
        for _, _, sql in saved:
            conn.execute(sql)
        conn.execute("COMMIT")
        conn.execute("INSERT INTO products_fts (products_fts) VALUES ('optimize')")
        conn.execute("ANALYZE")
        conn.execute("PRAGMA journal_mode=DELETE")
    finally:
        conn.close()


def _temporary_beside(path: Path) -> Path:
    """A new empty file in the target's folder (same file system, so the rename is atomic)."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
    os.close(os.open(tmp, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o666))
    return tmp


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def build_demo_catalog(path: Path, count: int = 500, seed: int = 42,
                       progress: Progress | None = None) -> None:
    """Build a demo catalog of ``count`` products at ``path``, replacing any file there.

    The file appears complete or not at all. It carries the catalog migration record, which
    marks it as a KRATOS demo catalog (see ``is_demo_catalog``).
    """
    if count < 1:
        raise ValueError(f"count must be at least 1, got {count}")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = _temporary_beside(path)
    try:
        apply_migrations(tmp, CATALOG_MIGRATIONS)
        _fill(tmp, count, seed, progress)
        _fsync(tmp)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    logger.info("built demo catalog %s with %d products (seed %d)", path, count, seed)


def seed_command(settings: Settings, count: int = 500, seed: int = 42, force: bool = False) -> int:
    """``kratos seed``: create the demo catalog; rebuild it only with ``force``.

    An existing file that is not a demo catalog (a store's own data) is never overwritten.
    """
    if count < 1:
        raise ConfigError(f"--count debe ser al menos 1; recibí {count}.")
    if count > MAX_DEMO_PRODUCTS:
        raise ConfigError(f"--count puede ser como mucho {MAX_DEMO_PRODUCTS:,} (diez veces el "
                          f"catálogo más grande medido); recibí {count:,}.")
    target = settings.catalog_db
    if target.is_dir():
        raise ConfigError(f"CATALOG_DB {target} es una carpeta: apunta CATALOG_DB al archivo del "
                          f"catálogo, por ejemplo {target / 'catalog.db'}.")
    if target.exists():
        demo = is_demo_catalog(target)
        if not force:
            # --force is offered only where it would work: it never replaces a store's data.
            print(f"El catálogo {target} ya existe; lo dejé como estaba"
                  + (" (--force reconstruye el catálogo de demostración)." if demo else
                     ": no es el de demostración y puede tener los datos de la tienda."))
            return 0
        if not demo:
            raise RequestRefused(
                f"No reemplazo {target}: no es un catálogo de demostración de KRATOS y puede "
                "tener los datos de la tienda; apunta CATALOG_DB a otro archivo para crear la "
                "demostración."
            )
    started = time.perf_counter()
    progress = Progress("Generando el catálogo", count, "productos")
    try:
        build_demo_catalog(target, count=count, seed=seed, progress=progress)
    finally:
        progress.close()
    elapsed = time.perf_counter() - started
    print(f"Creé el catálogo de demostración: {count:,} productos en {target} "
          f"({elapsed:.1f} s).")
    return 0
