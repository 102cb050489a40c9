"""The application context: settings and the resources built from them, made once at start-up.

Transports (Telegram, console, CLI) build one ``AppContext`` and pass it to the assistant core;
nothing in the package keeps these in module globals.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import os
import sqlite3
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bot.catalog.reader import CatalogReader
from bot.catalog.roles import CatalogRoles, find_roles
from bot.core.basic import BasicEngine
from bot.core.prompt import CatalogProfile, profile_catalog
from bot.core.state import StateConnection, open_state
from bot.errors import KratosError
from bot.migrations import CATALOG_MIGRATIONS, apply_migrations, is_demo_catalog
from bot.settings import Settings

if TYPE_CHECKING:
    # The SDK is imported when a client is made: basic mode never loads it (about 0.6 s).
    from openai import AsyncOpenAI

    from bot.core.endpoint import EndpointWatch

logger = logging.getLogger(__name__)

#: Without a model key nothing reads the catalog profile (the model's prompt and the speech
#: prompt both need the key), and building it runs some 26 checked queries: skipped.
BASIC_MODE_PROFILE = CatalogProfile(schema_text="", vocabulary=(), has_fts=False)
#: How often the catalog file is checked for a replacement (``kratos import``, a new export).
CATALOG_CHECK_SECONDS = 1.0

FileIdentity = tuple[int, int, int, int]  # device, inode, size, mtime (ns)


def file_identity(path: Path) -> FileIdentity | None:
    """What changes when a file is replaced or rewritten; None while it is missing."""
    try:
        stat = os.stat(path)
    except OSError:
        return None
    return stat.st_dev, stat.st_ino, stat.st_size, stat.st_mtime_ns


def catalog_identity(settings: Settings) -> FileIdentity | None:
    """The catalog file's identity, its notes file's time folded in (editing roles reloads)."""
    identity = file_identity(settings.catalog_db)
    if identity is None:
        return None
    notes = file_identity(settings.notes_path)
    return (*identity[:3], identity[3] + (notes[3] if notes else 0))


def damage(path: Path) -> str | None:
    """What is wrong with a database file (cut short, say, by a copy still running), or None.

    ``PRAGMA quick_check`` reads every page: a second or so for a million products, run off the
    event loop and only when the file changed.
    """
    try:
        conn = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)
        try:
            (result,) = conn.execute("PRAGMA quick_check(1)").fetchone()
        finally:
            conn.close()
    except sqlite3.Error as error:
        return str(error)
    return None if result == "ok" else str(result)


@dataclass
class AppContext:
    settings: Settings
    catalog: CatalogReader
    state: StateConnection
    llm: AsyncOpenAI | None
    profile: CatalogProfile
    #: Basic mode's vocabulary, read from the catalog on first use (see ``basic_engine``).
    _basic: BasicEngine | None = field(default=None, repr=False)
    #: The chat model endpoint's check (``kratos run``); None when it was never checked.
    endpoint: EndpointWatch | None = field(default=None, repr=False)
    #: The catalog's column roles, found when it was opened (``bot.catalog.roles``).
    roles: CatalogRoles | None = None
    #: The catalog file as last loaded, and the task that notices it being replaced.
    _identity: FileIdentity | None = field(default=None, repr=False)
    _watcher: asyncio.Task[None] | None = field(default=None, repr=False)
    _retired: list[tuple[asyncio.Task[None], CatalogReader]] = field(default_factory=list,
                                                                     repr=False)

    @property
    def chat_model(self) -> AsyncOpenAI | None:
        """The client that answers questions: None in basic mode, and while the endpoint's
        start-up check fails (its cause was logged once; checks repeat in the background)."""
        if self.endpoint is not None and self.endpoint.problem is not None:
            return None
        return self.llm

    def note_model_outcome(self, failure: BaseException | None) -> None:
        """Tell the endpoint's watch how a question's model call went (None: it answered);
        failed requests and ANSWER_TIMEOUT in a row take the endpoint down for a while."""
        if self.endpoint is None:
            return
        from bot.core.completion import ModelRequestFailed

        if isinstance(failure, ModelRequestFailed):
            self.endpoint.failed(failure.cause)
        elif isinstance(failure, TimeoutError):
            self.endpoint.failed(
                f"no whole answer within ANSWER_TIMEOUT ({self.settings.answer_timeout:g} s)")
        else:
            # Answered, if with something unusable: the endpoint itself is up.
            self.endpoint.answered()

    async def check_model_endpoint(self) -> str | None:
        """Check the chat model endpoint once and log one sentence; the problem, or None."""
        if self.llm is None:
            return None
        # With the model only, as the SDK both are built on.
        from bot.core.endpoint import EndpointWatch
        from bot.core.llm import TOOLS

        self.endpoint = EndpointWatch(self.llm, self.settings.openai_model, tools=TOOLS,
                                      timeout=self.settings.openai_timeout)
        return await self.endpoint.start()

    async def basic_engine(self) -> BasicEngine:
        """Basic mode over this catalog, its vocabulary read once rather than per question."""
        catalog, roles = self.catalog, self.roles
        if self._basic is None or self._basic.catalog is not catalog:
            engine = await BasicEngine.load(catalog, roles, self.settings.notes_path)
            if self.catalog is not catalog:
                # The catalog was swapped while this one loaded: answer from it, keep nothing.
                return engine
            self._basic = engine
        return self._basic

    def watch_catalog(self) -> None:
        """Start noticing a replaced catalog file (and its notes), every CATALOG_CHECK_SECONDS.

        The new catalog is opened and profiled beside the old one, then catalog, profile and
        basic mode are swapped together with no await in between, so an answer reads one
        catalog or the other, never both. The old connections stay open for ANSWER_TIMEOUT +
        SQL_TIMEOUT, so answers that started on them finish on them.
        """
        if self._watcher is None:
            self._identity = self._identity or self._current_identity()
            self._watcher = asyncio.create_task(self._watch(), name="catalog-watch")

    def _current_identity(self) -> FileIdentity | None:
        return catalog_identity(self.settings)

    async def _watch(self) -> None:
        while True:
            await asyncio.sleep(CATALOG_CHECK_SECONDS)
            try:
                await self.reload_catalog_if_changed()
            except Exception:
                logger.exception("checking the catalog file for changes failed")

    async def reload_catalog_if_changed(self) -> bool:
        """Swap in the catalog file if it changed since it was loaded; True when swapped.

        A file that cannot be opened (copied over in place and not complete yet, say) leaves
        the working catalog in place; the next change is tried again.
        """
        identity = self._current_identity()
        if identity is None or identity == self._identity:
            return False
        self._identity = identity
        settings = self.settings
        problem = await asyncio.to_thread(damage, settings.catalog_db)
        if problem:
            logger.warning("the catalog file changed but cannot be used yet: %s", problem)
            return False
        try:
            catalog = await CatalogReader.open(settings.catalog_db, timeout=settings.sql_timeout,
                                               max_rows=settings.sql_max_rows)
        except KratosError as error:
            logger.warning("the catalog file changed but cannot be used yet: %s", error)
            return False
        try:
            profile = (await profile_catalog(catalog, settings.notes_path)
                       if settings.model_enabled else BASIC_MODE_PROFILE)
            roles = await asyncio.to_thread(find_roles, settings.catalog_db, settings.notes_path)
        except BaseException:
            await catalog.close()
            raise
        old = self.catalog
        self.catalog, self.profile, self.roles, self._basic = catalog, profile, roles, None
        logger.info("catalog %s reloaded: it was replaced or changed", settings.catalog_db)
        self._retired = [(task, reader) for task, reader in self._retired if not task.done()]
        self._retired.append((asyncio.create_task(
            self._retire(old, settings.answer_timeout + settings.sql_timeout)), old))
        return True

    async def _retire(self, catalog: CatalogReader, after: float) -> None:
        await asyncio.sleep(after)
        await catalog.close()

    async def close(self) -> None:
        if self.endpoint is not None:
            await self.endpoint.stop()
        if self._watcher is not None:
            self._watcher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._watcher
        for task, reader in self._retired:
            task.cancel()
            await reader.close()
        await self.catalog.close()
        await self.state.close()
        if self.llm is not None:
            await self.llm.close()


#: The SDK's platform headers (openai ``_base_client.platform_headers`` and the client's
#: ``X-Stainless-Async``): which OS, CPU, Python and SDK version made the request, for the SDK
#: maker's statistics. No server needs them, they tell any endpoint what the store's machine
#: runs, and the SDK's header handling (``httpx2.Headers``) goes over every header several
#: times a request: left out, a call costs about 0.1 ms less CPU (1,500 calls in a row to
#: the fake server, medians of five runs: 1.07 -> 0.97 ms; BENCHMARKS.md, figure 2).
#: ``Omit`` is the SDK's documented way to drop a default header.
PLATFORM_HEADERS = ("X-Stainless-Lang", "X-Stainless-Package-Version", "X-Stainless-OS",
                    "X-Stainless-Arch", "X-Stainless-Runtime", "X-Stainless-Runtime-Version",
                    "X-Stainless-Async")


def build_llm_client(settings: Settings) -> AsyncOpenAI | None:
    """One OpenAI-compatible client with deliberate timeout and retries; None in basic mode."""
    if not settings.model_enabled:
        return None
    from openai import AsyncAzureOpenAI, AsyncOpenAI, DefaultAioHttpClient, Omit

    quiet: dict[str, Any] = {name: Omit() for name in PLATFORM_HEADERS}
    if settings.openai_api_version:
        # Azure's deployment URLs: /openai/deployments/{OPENAI_MODEL}/...?api-version=...,
        # with the key in an api-key header.
        return AsyncAzureOpenAI(
            api_key=settings.openai_api_key, azure_endpoint=settings.openai_base_url,
            api_version=settings.openai_api_version, timeout=settings.openai_timeout,
            max_retries=settings.openai_max_retries, http_client=DefaultAioHttpClient(),
            default_headers=quiet)
    return AsyncOpenAI(
        api_key=settings.openai_api_key,
        base_url=settings.openai_base_url or None,
        timeout=settings.openai_timeout,
        max_retries=settings.openai_max_retries,
        # aiohttp under the SDK: about a quarter less client CPU per call than its httpx default.
        http_client=DefaultAioHttpClient(),
        default_headers=quiet,
    )


async def build_context(settings: Settings) -> AppContext:
    """Open the catalog (read-only) and the state database, and make the model client.

    The catalog profile is read only when a model is configured (``BASIC_MODE_PROFILE``
    otherwise).

    Pending migrations are applied first: the state database's always, the catalog's only
    when it is a demo catalog KRATOS built (a store's own file is never written).
    """
    if is_demo_catalog(settings.catalog_db):
        await asyncio.to_thread(apply_migrations, settings.catalog_db, CATALOG_MIGRATIONS)
    identity = catalog_identity(settings)
    catalog = await CatalogReader.open(
        settings.catalog_db,
        timeout=settings.sql_timeout,
        max_rows=settings.sql_max_rows,
        heap_bytes=settings.sql_memory_mb * 2**20, connections=settings.sql_connections,
    )
    try:
        profile = (await profile_catalog(catalog, settings.notes_path,
                                         prompt_chars=settings.prompt_max_chars)
                   if settings.model_enabled else BASIC_MODE_PROFILE)
        # Found now, from the file just opened: basic mode must not read a newer file's roles.
        roles = await asyncio.to_thread(find_roles, settings.catalog_db, settings.notes_path)
        state = await open_state(settings.state_db)
    except BaseException:
        await catalog.close()
        raise
    context = AppContext(settings=settings, catalog=catalog, state=state,
                         llm=build_llm_client(settings), profile=profile, _identity=identity,
                         roles=roles)
    _settle_heap()
    return context


def _settle_heap() -> None:
    """Keep full garbage collections short for the rest of the process.

    A full collection walks every tracked object, and right after start-up there are about
    140,000 of them (modules, PTB, the OpenAI client, sqlglot) that live until exit: each pass
    held the event loop for 50-100 ms while voice notes were converting (BENCHMARKS.md, figure
    3). Collected once and frozen, they are left out of every later pass. Only the first context
    of a process does this, so a test session that builds many does not pin each one's objects.
    """
    if gc.get_freeze_count() == 0:
        gc.collect()
        gc.freeze()
