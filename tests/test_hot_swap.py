"""A catalog re-imported (or replaced) while KRATOS answers is picked up within seconds, and no
answer fails or mixes the two catalogs meanwhile."""

from __future__ import annotations

import asyncio
import os
import shutil
import sqlite3
import time
from pathlib import Path

from bot.catalog.importer import import_catalog
from bot.core import context as context_module
from bot.core.assistant import answer
from bot.core.context import build_context
from bot.core.reply import Conversation

QUESTION = "productos de menos de 100 soles"


def price_list(prefix: str, count: int, price: float) -> bytes:
    lines = ["Producto;Marca;Precio;Stock"]
    lines += [f"{prefix} {n:03d};Marca {n % 4};{price + n % 7:.2f}".replace(".", ",") + ";5"
              for n in range(count)]
    return ("\n".join(lines) + "\n").encode()


async def test_reimport_under_load_swaps_without_failed_or_mixed_answers(
        tmp_path, make_settings, monkeypatch):
    monkeypatch.setattr(context_module, "CATALOG_CHECK_SECONDS", 0.1)
    settings = make_settings()
    (tmp_path / "v1.csv").write_bytes(price_list("Lápiz", 60, 10))
    (tmp_path / "v2.csv").write_bytes(price_list("Cuaderno", 40, 20))
    import_catalog(tmp_path / "v1.csv", settings.catalog_db, settings.notes_path,
                   show_progress=False)
    versions = {prefix: {name for (name,) in sqlite3.connect(settings.catalog_db).execute(
        "SELECT producto FROM products")} for prefix in ("Lápiz",)}
    app = await build_context(settings)
    app.watch_catalog()
    replies = []

    async def ask_repeatedly(user: int) -> None:
        # Before, during and after the swap, however long the import and the watcher take on
        # a busy machine: until this customer has had a few answers from the new catalog.
        from_new = 0
        while from_new < 3:
            reply = await answer(app, Conversation.private(user), QUESTION)
            replies.append(reply)
            from_new += "Cuaderno" in reply.text
            await asyncio.sleep(0.01)

    async def reimport() -> None:
        await asyncio.sleep(0.2)
        await asyncio.to_thread(import_catalog, tmp_path / "v2.csv", settings.catalog_db,
                                settings.notes_path, show_progress=False)

    try:
        await asyncio.wait_for(
            asyncio.gather(*(ask_repeatedly(user) for user in range(1, 5)), reimport()), 60)
        versions["Cuaderno"] = {name for (name,) in sqlite3.connect(settings.catalog_db)
                                .execute("SELECT producto FROM products")}
        seen = set()
        for reply in replies:
            assert not reply.failed and not reply.refused, reply.text
            names = {row[reply.columns.index("name")] for row in reply.rows}
            owners = {prefix for prefix, members in versions.items() if names & members}
            assert len(owners) == 1, f"a mixed answer: {reply.text}"
            (owner,) = owners
            assert reply.meta["total"] == len(versions[owner])
            seen.add(owner)
        assert seen == {"Lápiz", "Cuaderno"}
        last = await answer(app, Conversation.private(9), QUESTION)
        assert last.meta["total"] == 40 and "Cuaderno" in last.text
    finally:
        await app.close()


async def test_a_broken_replacement_keeps_the_working_catalog_until_a_good_one_comes(
        tmp_path, make_settings, monkeypatch):
    monkeypatch.setattr(context_module, "CATALOG_CHECK_SECONDS", 0.05)
    settings = make_settings()
    (tmp_path / "v1.csv").write_bytes(price_list("Lápiz", 10, 10))
    (tmp_path / "v2.csv").write_bytes(price_list("Cuaderno", 12, 20))
    import_catalog(tmp_path / "v1.csv", settings.catalog_db, settings.notes_path,
                   show_progress=False)
    import_catalog(tmp_path / "v2.csv", tmp_path / "next.db", tmp_path / "next.toml",
                   show_progress=False)
    app = await build_context(settings)
    app.watch_catalog()
    try:
        broken = tmp_path / "broken.db"
        broken.write_bytes((tmp_path / "next.db").read_bytes()[:100])  # a cut-short copy
        os.replace(broken, settings.catalog_db)
        await asyncio.sleep(0.3)
        reply = await answer(app, Conversation.private(1), QUESTION)
        assert not reply.failed and reply.meta["total"] == 10
        shutil.copyfile(tmp_path / "next.db", tmp_path / "incoming.db")
        os.replace(tmp_path / "incoming.db", settings.catalog_db)
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            reply = await answer(app, Conversation.private(2), QUESTION)
            if "Cuaderno" in reply.text:
                break
            await asyncio.sleep(0.1)
        assert "Cuaderno" in reply.text and reply.meta["total"] == 12
    finally:
        await app.close()


async def test_editing_the_roles_in_the_notes_file_reloads(tmp_path, make_settings, monkeypatch):
    monkeypatch.setattr(context_module, "CATALOG_CHECK_SECONDS", 0.05)
    settings = make_settings()
    with sqlite3.connect(settings.catalog_db) as conn:
        conn.execute("CREATE TABLE libros (titulo TEXT, autor TEXT, editorial TEXT, precio REAL)")
        conn.execute("INSERT INTO libros VALUES ('Rayuela', 'Julio Cortázar', 'Alfaguara', 39.9)")
    app = await build_context(settings)
    app.watch_catalog()
    try:
        reply = await answer(app, Conversation.private(1), "¿tienen Alfaguara?")
        assert "Rayuela" not in reply.text
        Path(settings.notes_path).write_text('[roles]\nbrand = "editorial"\n', encoding="utf-8")
        deadline = time.monotonic() + 5
        while "Rayuela" not in reply.text and time.monotonic() < deadline:
            await asyncio.sleep(0.1)
            reply = await answer(app, Conversation.private(2), "¿tienen Alfaguara?")
        assert "Rayuela" in reply.text
    finally:
        await app.close()
