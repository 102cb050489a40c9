"""The demo catalog generator and the ``kratos seed`` command."""

from __future__ import annotations

import os
import re
import sqlite3
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from bot.__main__ import main
from bot.catalog.seed import build_demo_catalog, generate_products, seed_command, shop_price
from bot.catalog.seed_data import FAMILIES, FAMILY_CODES, PRODUCT_TYPES, TYPES_BY_CATEGORY
from bot.errors import ConfigError, RequestRefused
from bot.migrations import STATE_MIGRATIONS, apply_migrations, is_demo_catalog
from bot.settings import Settings

SKU = re.compile(r"^([A-Z]{3})-([A-Z]{3})-(\d{6,})$")


@pytest.fixture
def demo(demo_catalog_template: Path) -> Iterator[sqlite3.Connection]:
    """The session's demo catalog, opened read-only."""
    conn = sqlite3.connect(f"file:{demo_catalog_template}?mode=ro", uri=True)
    try:
        yield conn
    finally:
        conn.close()


def all_rows(path: Path) -> list[tuple]:
    conn = sqlite3.connect(path)
    try:
        return conn.execute("SELECT * FROM products ORDER BY id").fetchall()
    finally:
        conn.close()


def make_store_file(path: Path) -> bytes:
    """A store's own catalog: plain SQLite without KRATOS's migration record."""
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE articulos (codigo TEXT PRIMARY KEY, precio REAL)")
    conn.execute("INSERT INTO articulos VALUES ('A-1', 10.5)")
    conn.commit()
    conn.close()
    return path.read_bytes()


# ------------------------------------------------------------------ vocabulary


def test_vocabulary_is_consistent() -> None:
    assert {kind.family for kind in PRODUCT_TYPES} == set(FAMILIES)
    assert len(TYPES_BY_CATEGORY) == len(PRODUCT_TYPES)
    for kind in PRODUCT_TYPES:
        assert 0 < kind.price_min < kind.price_max, kind.category
        assert len(kind.features) >= 3, kind.category
        assert kind.price_max - kind.price_min >= 20, kind.category
        assert kind.uses and kind.brands, kind.category
        assert 0 <= kind.spec_span <= 1, kind.category
        for brand, models in kind.brands.items():
            assert models, (kind.category, brand)
            for model, price in models.items():
                assert kind.price_min <= price <= kind.price_max, (kind.category, model, price)
                assert all(kind.specs_for(brand, model)), (kind.category, model)


@pytest.mark.parametrize(
    ("category", "brands"),
    [
        ("Laptops", {"Lenovo", "HP", "Asus", "Dell", "Apple"}),
        ("Celulares", {"Samsung", "Xiaomi", "Motorola", "Apple", "Honor"}),
        ("Audífonos", {"Sony", "JBL", "Bose"}),
        ("Zapatillas deportivas", {"Nike", "Adidas", "Puma", "New Balance"}),
        ("Licuadoras", {"Oster", "Philips", "Imaco"}),
    ],
)
def test_real_brands_per_type(category: str, brands: set[str]) -> None:
    assert brands <= set(TYPES_BY_CATEGORY[category].brands)


def test_issue_price_ranges() -> None:
    laptops = TYPES_BY_CATEGORY["Laptops"]
    balones = TYPES_BY_CATEGORY["Balones"]
    assert (laptops.price_min, laptops.price_max) == (1500, 7500)
    assert (balones.price_min, balones.price_max) == (30, 250)


@pytest.mark.parametrize(
    ("raw", "low", "high", "roll", "expected"),
    [
        (1301.2, 1500, 7500, 0.1, 1509.9),
        (2503.0, 1500, 7500, 0.1, 2499.9),
        (2503.0, 1500, 7500, 0.7, 2499.0),
        (2503.0, 1500, 7500, 0.95, 2500.0),
        (40.3, 30, 250, 0.1, 39.9),
        (40.3, 30, 250, 0.7, 40.0),
        (250.0, 30, 250, 0.95, 250.0),
        (19.2, 19, 450, 0.1, 19.9),
        (7500.0, 1500, 7500, 0.1, 7499.9),
    ],
)
def test_shop_price(raw: float, low: float, high: float, roll: float, expected: float) -> None:
    assert shop_price(raw, low, high, roll) == expected


# ------------------------------------------------------------------ the built catalog


def test_template_is_a_complete_demo_catalog(
    demo: sqlite3.Connection, demo_catalog_template: Path
) -> None:
    assert is_demo_catalog(demo_catalog_template)
    assert demo.execute("SELECT count(*) FROM products").fetchone() == (500,)
    objects = {
        (kind, name)
        for kind, name in demo.execute(
            "SELECT type, name FROM sqlite_master WHERE name NOT LIKE 'sqlite_%'"
        )
    }
    assert {
        ("trigger", "products_fts_insert"), ("trigger", "products_fts_delete"),
        ("trigger", "products_fts_update"), ("index", "products_family_price"),
        ("index", "products_category_price"), ("index", "products_brand"),
        ("index", "products_price"), ("index", "products_availability"),
        ("index", "products_category_brand_price"), ("table", "products_fts"),
        ("table", "product_summary"), ("trigger", "product_summary_insert"),
        ("trigger", "product_summary_delete"), ("trigger", "product_summary_update"),
        ("table", "schema_migrations"),
    } <= objects
    assert demo.execute("SELECT count(*) FROM sqlite_stat1").fetchone()[0] > 0
    assert demo.execute("PRAGMA journal_mode").fetchone() == ("delete",)
    assert not [p for p in demo_catalog_template.parent.iterdir() if p.name.endswith(".tmp")]


def test_exactly_five_families(demo: sqlite3.Connection) -> None:
    families = {row[0] for row in demo.execute("SELECT DISTINCT family FROM products")}
    assert families == set(FAMILIES)
    assert len(families) == 5


def test_every_category_belongs_to_its_family(demo: sqlite3.Connection) -> None:
    pairs = demo.execute("SELECT DISTINCT family, category FROM products").fetchall()
    assert len(pairs) >= 25
    for family, category in pairs:
        assert category in TYPES_BY_CATEGORY, category
        assert TYPES_BY_CATEGORY[category].family == family, (family, category)


def test_brand_and_model_come_from_the_type(demo: sqlite3.Connection) -> None:
    for category, brand, model in demo.execute("SELECT category, brand, model FROM products"):
        assert model in TYPES_BY_CATEGORY[category].brands[brand], (category, brand, model)


def test_prices_within_type_range_and_shop_rounded(demo: sqlite3.Connection) -> None:
    rows = demo.execute("SELECT category, price FROM products").fetchall()
    for category, price in rows:
        kind = TYPES_BY_CATEGORY[category]
        assert price > 0
        assert kind.price_min <= price <= kind.price_max, (category, price)
        cents = round(price * 100) % 100
        assert cents in (0, 90), price
    prices = {price for _, price in rows}
    assert len(prices) > 100


def test_prices_follow_the_variant(demo: sqlite3.Connection) -> None:
    """Within one model line a bigger variant costs more on average (1TB vs 256GB laptops)."""
    small, large = (
        demo.execute(
            "SELECT avg(price) FROM products WHERE category = 'Laptops' AND name LIKE ?",
            (f"% {storage}",),
        ).fetchone()[0]
        for storage in ("256GB", "1TB")
    )
    assert small < large


def test_prices_stay_near_the_usual_price(demo: sqlite3.Connection) -> None:
    """Lines without variants sell close to their usual price; variants only raise it."""
    rows = demo.execute("SELECT category, brand, model, name, price FROM products").fetchall()
    for category, brand, model, name, price in rows:
        kind = TYPES_BY_CATEGORY[category]
        usual = kind.brands[brand][model]
        assert price >= 0.8 * usual, name
        if not kind.specs_for(brand, model):
            assert price <= 1.25 * usual, (name, price, usual)


def test_skus_unique_and_well_formed(demo: sqlite3.Connection) -> None:
    rows = demo.execute("SELECT sku, family, category FROM products").fetchall()
    assert len({sku for sku, _, _ in rows}) == len(rows)
    for sku, family, category in rows:
        match = SKU.match(sku)
        assert match, sku
        assert match.group(1) == FAMILY_CODES[family]
        assert match.group(2) == TYPES_BY_CATEGORY[category].code


def test_availability_consistent_with_stock(demo: sqlite3.Connection) -> None:
    rows = demo.execute("SELECT stock, availability FROM products").fetchall()
    for stock, availability in rows:
        assert stock >= 0
        assert (stock > 0) == (availability == "disponible"), (stock, availability)
        if stock == 0:
            assert availability in ("agotado", "por llegar")
    seen = {availability for _, availability in rows}
    assert seen == {"disponible", "agotado", "por llegar"}
    available = sum(1 for _, availability in rows if availability == "disponible")
    assert 0.6 * len(rows) < available < 0.95 * len(rows)


def test_names_read_like_a_shop(demo: sqlite3.Connection) -> None:
    rows = demo.execute("SELECT name, category, brand, model, color FROM products").fetchall()
    for name, category, brand, model, color in rows:
        kind = TYPES_BY_CATEGORY[category]
        assert brand in name, name
        assert model in name, name
        assert name.startswith(kind.noun) or name.startswith(model), name
        assert not re.search(r"lorem|ipsum|dolor sit", name, re.IGNORECASE)
        if color and kind.color_in_name:
            assert name.endswith(color), name
    assert len({name for name, *_ in rows}) == len(rows)


def test_examples_from_the_issue_shape(demo: sqlite3.Connection) -> None:
    laptop = re.compile(r'^Laptop \S+ .+ \d+(\.\d)?" \S+( \S+)* \d+GB (\d+GB|1TB)$')
    phone = re.compile(r"^Celular \S+ .+ \d+GB \S+$")
    shoes = re.compile(r"^Zapatillas .+ (Hombre|Mujer) Talla \d{2}$")
    names = [row[0] for row in demo.execute("SELECT name FROM products")]
    for pattern, prefix in ((laptop, "Laptop "), (phone, "Celular "), (shoes, "Zapatillas ")):
        some = [name for name in names if name.startswith(prefix)]
        assert some, prefix
        assert all(pattern.match(name) for name in some), [n for n in some if not pattern.match(n)]


def test_colors_where_they_make_sense(demo: sqlite3.Connection) -> None:
    for category, color in demo.execute("SELECT category, color FROM products"):
        kind = TYPES_BY_CATEGORY[category]
        if kind.colors:
            assert color in kind.colors
        else:
            assert color is None


def test_descriptions_are_spanish_sentences(demo: sqlite3.Connection) -> None:
    rows = demo.execute("SELECT description, category, brand FROM products").fetchall()
    for description, category, brand in rows:
        kind = TYPES_BY_CATEGORY[category]
        assert description.endswith((".", ")."))
        assert 1 <= description.count(". ") + 1 <= 2, description
        assert brand in description
        assert any(feature in description for feature in kind.features), description
        assert not re.search(r"lorem|ipsum", description, re.IGNORECASE)


def test_fts_folds_accents(demo: sqlite3.Connection) -> None:
    def matching(query: str) -> set[int]:
        return {
            row[0]
            for row in demo.execute(
                "SELECT rowid FROM products_fts WHERE products_fts MATCH ?", (query,)
            )
        }

    electronics = {
        row[0] for row in demo.execute("SELECT id FROM products WHERE family = 'Electrónica'")
    }
    headphones = {
        row[0] for row in demo.execute("SELECT id FROM products WHERE category = 'Audífonos'")
    }
    assert electronics and headphones
    assert matching("electronica") == electronics
    assert headphones <= matching("audifonos")
    assert matching("audífonos") == matching("audifonos")


def test_fts_index_is_complete(demo_catalog_template: Path, tmp_path: Path) -> None:
    conn = sqlite3.connect(demo_catalog_template)
    try:
        conn.execute("INSERT INTO products_fts (products_fts, rank) VALUES ('integrity-check', 1)")
        indexed = conn.execute("SELECT count(*) FROM products_fts_docsize").fetchone()[0]
        assert indexed == 500
    finally:
        conn.close()


def test_triggers_keep_fts_in_sync_after_seeding(catalog_db: Path) -> None:
    conn = sqlite3.connect(catalog_db)
    try:
        conn.execute(
            "INSERT INTO products (sku, name, family, category, brand, model, color, description,"
            " price, stock, availability) VALUES ('ELE-CEL-999999', 'Celular Nokia Ñandú 3310',"
            " 'Electrónica', 'Celulares', 'Nokia', 'Ñandú 3310', NULL, 'Clásico.', 199.9, 3,"
            " 'disponible')"
        )
        assert conn.execute(
            "SELECT count(*) FROM products_fts WHERE products_fts MATCH 'nandu'"
        ).fetchone() == (1,)
        conn.execute("DELETE FROM products WHERE sku = 'ELE-CEL-999999'")
        assert conn.execute(
            "SELECT count(*) FROM products_fts WHERE products_fts MATCH 'nandu'"
        ).fetchone() == (0,)
    finally:
        conn.close()


def test_summary_adds_up_the_products(demo: sqlite3.Connection) -> None:
    """Built in one pass after the bulk load, it holds what the triggers would have added up."""
    expected = demo.execute(
        "SELECT family, category, brand, availability, count(*), sum(stock), sum(price)"
        " FROM products GROUP BY family, category, brand, availability ORDER BY 1, 2, 3, 4"
    ).fetchall()
    summary = demo.execute(
        "SELECT family, category, brand, availability, products, stock, price_sum"
        " FROM product_summary ORDER BY 1, 2, 3, 4"
    ).fetchall()
    assert [row[:6] for row in summary] == [row[:6] for row in expected]
    for row, want in zip(summary, expected, strict=True):
        assert row[6] == pytest.approx(want[6], abs=1e-6), row[:4]
    per_family = demo.execute(
        "SELECT family, sum(products), round(sum(price_sum) / sum(products), 2)"
        " FROM product_summary GROUP BY family ORDER BY family"
    ).fetchall()
    assert per_family == demo.execute(
        "SELECT family, count(*), round(avg(price), 2) FROM products GROUP BY family"
        " ORDER BY family"
    ).fetchall()


def test_triggers_keep_the_summary_in_sync_after_seeding(catalog_db: Path) -> None:
    conn = sqlite3.connect(catalog_db)
    group = ("SELECT products, stock, price_sum FROM product_summary WHERE family = 'Electrónica'"
             " AND category = 'Celulares' AND brand = 'Nokia' AND availability = 'disponible'")
    try:
        assert conn.execute(group).fetchone() is None
        conn.execute(
            "INSERT INTO products (sku, name, family, category, brand, model, color, description,"
            " price, stock, availability) VALUES ('ELE-CEL-999999', 'Celular Nokia 3310',"
            " 'Electrónica', 'Celulares', 'Nokia', '3310', NULL, 'Clásico.', 199.9, 3,"
            " 'disponible')"
        )
        assert conn.execute(group).fetchone() == (1, 3, 199.9)
        conn.execute("DELETE FROM products WHERE sku = 'ELE-CEL-999999'")
        assert conn.execute(group).fetchone() is None
    finally:
        conn.close()


# ------------------------------------------------------------------ determinism and count


def test_same_seed_same_rows(tmp_path: Path, demo_catalog_template: Path) -> None:
    again = tmp_path / "again.db"
    build_demo_catalog(again, count=500, seed=42)
    assert all_rows(again) == all_rows(demo_catalog_template)
    assert list(generate_products(50, 7)) == list(generate_products(50, 7))


def test_different_seed_different_rows(tmp_path: Path, demo_catalog_template: Path) -> None:
    other = tmp_path / "other.db"
    build_demo_catalog(other, count=500, seed=43)
    rows, template = all_rows(other), all_rows(demo_catalog_template)
    assert len(rows) == len(template) == 500
    differing = sum(1 for a, b in zip(rows, template, strict=True) if a[2:] != b[2:])
    assert differing > 400


@pytest.mark.parametrize("count", [1, 37, 1234])
def test_count_honoured(tmp_path: Path, count: int) -> None:
    path = tmp_path / "catalog.db"
    build_demo_catalog(path, count=count, seed=5)
    conn = sqlite3.connect(path)
    try:
        assert conn.execute("SELECT count(*), min(id), max(id) FROM products").fetchone() == (
            count, 1, count,
        )
        assert conn.execute("SELECT count(*) FROM products_fts_docsize").fetchone() == (count,)
    finally:
        conn.close()


def test_count_below_one_is_refused(tmp_path: Path, make_settings: Callable[..., Settings]) -> None:
    with pytest.raises(ValueError, match="at least 1"):
        build_demo_catalog(tmp_path / "x.db", count=0)
    with pytest.raises(ConfigError, match="--count debe ser al menos 1"):
        seed_command(make_settings(), count=0, seed=1, force=False)
    assert not (tmp_path / "x.db").exists()
    assert not (tmp_path / "catalog.db").exists()


def test_failed_build_leaves_no_temporary_file(tmp_path: Path) -> None:
    target = tmp_path / "catalog.db"
    target.mkdir()
    (target / "keep.txt").write_text("not a catalog")
    with pytest.raises(OSError):
        build_demo_catalog(target, count=10)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["catalog.db"]
    assert (target / "keep.txt").read_text() == "not a catalog"


# ------------------------------------------------------------------ the command


def test_seed_command_creates_catalog(
    make_settings: Callable[..., Settings], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    settings = make_settings(CATALOG_DB=str(tmp_path / "sub" / "catalog.db"))
    assert seed_command(settings, count=120, seed=3, force=False) == 0
    out = capsys.readouterr().out
    assert re.fullmatch(r"Creé el catálogo de demostración: 120 productos en .*catalog\.db "
                        r"\(\d+\.\d s\)\.\n", out)
    assert len(all_rows(settings.catalog_db)) == 120
    assert is_demo_catalog(settings.catalog_db)


def test_without_force_existing_file_is_untouched(
    catalog_db: Path, make_settings: Callable[..., Settings], capsys: pytest.CaptureFixture[str]
) -> None:
    before = catalog_db.read_bytes()
    assert seed_command(make_settings(), count=50, seed=9, force=False) == 0
    assert catalog_db.read_bytes() == before
    assert "ya existe; lo dejé como estaba" in capsys.readouterr().out


def test_without_force_store_file_is_untouched(
    tmp_path: Path, make_settings: Callable[..., Settings], capsys: pytest.CaptureFixture[str]
) -> None:
    before = make_store_file(tmp_path / "catalog.db")
    assert seed_command(make_settings(), count=50, seed=9, force=False) == 0
    assert (tmp_path / "catalog.db").read_bytes() == before
    assert "ya existe; lo dejé como estaba: no es el de" in capsys.readouterr().out


def test_force_rebuilds_a_demo_catalog(
    catalog_db: Path, make_settings: Callable[..., Settings]
) -> None:
    assert seed_command(make_settings(), count=60, seed=11, force=True) == 0
    rows = all_rows(catalog_db)
    assert len(rows) == 60
    assert rows == list(generate_products(60, 11))
    assert is_demo_catalog(catalog_db)


def test_force_refuses_a_store_file(
    tmp_path: Path, make_settings: Callable[..., Settings]
) -> None:
    path = tmp_path / "catalog.db"
    before = make_store_file(path)
    with pytest.raises(RequestRefused,
                       match="no es un catálogo de demostración de KRATOS") as refused:
        seed_command(make_settings(), count=50, seed=1, force=True)
    assert refused.value.exit_code == 1
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["catalog.db"]


def test_force_refuses_the_state_database(
    tmp_path: Path, make_settings: Callable[..., Settings]
) -> None:
    """A CATALOG_DB pointed at KRATOS's own state file by mistake is not a demo catalog."""
    path = tmp_path / "catalog.db"
    apply_migrations(path, STATE_MIGRATIONS)
    before = path.read_bytes()
    with pytest.raises(RequestRefused, match="no es un catálogo de demostración de KRATOS"):
        seed_command(make_settings(), count=50, seed=1, force=True)
    assert path.read_bytes() == before


def test_cli_seeds_500_products(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    target = tmp_path / "data" / "catalog.db"
    monkeypatch.setenv("CATALOG_DB", str(target))
    monkeypatch.setenv("STATE_DB", str(tmp_path / "state.db"))
    env_file = os.devnull
    assert main(["--env-file", env_file, "seed"]) == 0
    assert "Creé el catálogo de demostración: 500 productos" in capsys.readouterr().out
    assert len(all_rows(target)) == 500
    before = target.read_bytes()
    assert main(["--env-file", env_file, "seed", "--count", "20"]) == 0
    assert target.read_bytes() == before
    assert main(["--env-file", env_file, "seed", "--count", "20", "--seed", "2", "--force"]) == 0
    assert len(all_rows(target)) == 20


def test_cli_force_on_store_file_exits_1(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    target = tmp_path / "store.db"
    before = make_store_file(target)
    monkeypatch.setenv("CATALOG_DB", str(target))
    monkeypatch.setenv("STATE_DB", str(tmp_path / "state.db"))
    assert main(["--env-file", os.devnull, "seed", "--force"]) == 1
    assert "no es un catálogo de demostración de KRATOS" in capsys.readouterr().err
    assert target.read_bytes() == before


def test_cli_rejects_count_zero(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("CATALOG_DB", str(tmp_path / "catalog.db"))
    monkeypatch.setenv("STATE_DB", str(tmp_path / "state.db"))
    assert main(["--env-file", os.devnull, "seed", "--count", "0"]) == 2
    assert "--count debe ser al menos 1" in capsys.readouterr().err
    assert not (tmp_path / "catalog.db").exists()
