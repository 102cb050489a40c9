"""Shared fixtures: a demo catalog built once per session, copied for each test, and settings."""

from __future__ import annotations

import logging
import shutil
import sqlite3
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from bot.catalog.seed import build_demo_catalog
from bot.migrations import CATALOG_MIGRATIONS, apply_migrations
from bot.settings import Settings
from tests.fakes.openai_server import FakeOpenAI
from tests.fakes.telegram_server import FakeTelegram

#: The bot token the fake Bot API answers to.
TELEGRAM_TOKEN = "123:TEST"
TEMPLATE_COUNT = 500
TEMPLATE_SEED = 42


@pytest.fixture(scope="session")
def demo_catalog_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 500-product demo catalog (seed 42), built once; treat it as read-only."""
    path = tmp_path_factory.mktemp("demo_catalog") / "catalog.db"
    build_demo_catalog(path, count=TEMPLATE_COUNT, seed=TEMPLATE_SEED)
    return path


@pytest.fixture
def catalog_db(demo_catalog_template: Path, tmp_path: Path) -> Path:
    """A private copy of the demo catalog at ``tmp_path / "catalog.db"``."""
    target = tmp_path / "catalog.db"
    shutil.copyfile(demo_catalog_template, target)
    return target


@pytest.fixture
def make_settings(tmp_path: Path) -> Callable[..., Settings]:
    """Build settings with CATALOG_DB and STATE_DB under ``tmp_path``.

    Overrides are environment names with raw text values, e.g.
    ``make_settings(OPENAI_API_KEY="sk-test", SQL_MAX_ROWS="5")``.
    """

    def make(**overrides: str) -> Settings:
        values = {
            "CATALOG_DB": str(tmp_path / "catalog.db"),
            "STATE_DB": str(tmp_path / "state.db"),
        }
        values.update({name.upper(): value for name, value in overrides.items()})
        return Settings.from_mapping(values)

    return make


@pytest.fixture(autouse=True)
def restore_root_logging() -> Iterator[None]:
    """Commands run through ``bot.__main__.main`` configure the root logger; undo that after
    each test so no test depends on which command ran before it."""
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    for handler in list(root.handlers):
        if handler not in handlers:
            root.removeHandler(handler)
    for handler in handlers:
        if handler not in root.handlers:
            root.addHandler(handler)
    root.setLevel(level)


@pytest.fixture
async def telegram() -> AsyncIterator[FakeTelegram]:
    """A fake Bot API server on 127.0.0.1 for the token TELEGRAM_TOKEN."""
    async with FakeTelegram(TELEGRAM_TOKEN) as fake:
        yield fake


@pytest.fixture
async def openai() -> AsyncIterator[FakeOpenAI]:
    """A fake OpenAI API server on 127.0.0.1."""
    async with FakeOpenAI() as fake:
        yield fake


def first_version_demo_catalog(path: Path) -> Path:
    """A demo catalog at its first migration, holding one product (to test upgrades)."""
    apply_migrations(path, CATALOG_MIGRATIONS, upto="0001_products.sql")
    with sqlite3.connect(path) as conn:
        conn.execute(
            "INSERT INTO products (sku, name, family, category, brand, model, description,"
            " price, stock, availability) VALUES ('ELE-LAP-1', 'Laptop Lenovo IdeaPad 3',"
            " 'Electrónica', 'Laptops', 'Lenovo', 'IdeaPad 3', 'Laptop ligera.', 2499.9, 4,"
            " 'disponible')")
    return path


@pytest.fixture
async def running_bots() -> AsyncIterator[list[Any]]:
    """Bots a test started (``RunningBot``); each still running is stopped after the test."""
    running: list[Any] = []
    yield running
    for bot in running:
        if not bot.task.done():
            await bot.stop()


@pytest.fixture
def start_bot(make_settings: Callable[..., Settings], catalog_db: Path, telegram: FakeTelegram,
              running_bots: list[Any]) -> Callable[..., Awaitable[Any]]:
    """Start the bot in basic mode against the fake Bot API, as ``kratos run`` does
    (``await start_bot(SETTING="value")``); stopped after the test. Modules needing more (a
    model, a shutdown grace) define their own ``start_bot``."""
    from tests.test_telegram_bot import RunningBot

    async def start(**overrides: str) -> Any:
        bot = await RunningBot.launch(make_settings(
            TELEGRAM_BOT_TOKEN=TELEGRAM_TOKEN, TELEGRAM_API_BASE_URL=telegram.root, **overrides))
        running_bots.append(bot)
        return bot

    return start


@pytest.fixture
async def open_engine() -> AsyncIterator[Callable[[Path], Awaitable[Any]]]:
    """Open basic mode on a catalog file (``await open_engine(path)``); closed after the test."""
    from bot.catalog.reader import CatalogReader
    from bot.core.basic import BasicEngine

    readers: list[CatalogReader] = []

    async def make(path: Path) -> BasicEngine:
        reader = await CatalogReader.open(path)
        readers.append(reader)
        return await BasicEngine.load(reader)

    yield make
    for reader in readers:
        await reader.close()
