"""``kratos run``: every configured channel at once, in one process and one event loop.

Telegram (TELEGRAM_BOT_TOKEN) polls, or takes a webhook when WEBHOOK_URL is set; WhatsApp
(WHATSAPP_ACCESS_TOKEN) always takes a webhook. With WhatsApp configured, both webhooks share
one HTTP server on WEBHOOK_LISTEN:WEBHOOK_PORT (``bot.channels.web``). Without WhatsApp,
Telegram runs exactly as ``bot.channels.telegram.app.run_command`` runs it.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import logging
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from bot import eventloop
from bot.channels.banner import describe
from bot.channels.console import console_command
from bot.channels.telegram.app import build_application, exit_code, serve, stop_on_signals
from bot.channels.telegram.app import run_command as run_telegram
from bot.channels.telegram.bot import SHUTDOWN_GRACE
from bot.channels.telegram.webhook import TelegramWebhook
from bot.channels.web import WebhookServer
from bot.core.context import build_context
from bot.core.housekeeping import purge_forever
from bot.errors import ConfigError, os_reason
from bot.settings import Settings

if TYPE_CHECKING:
    from bot.channels.whatsapp.channel import WhatsAppChannel

logger = logging.getLogger(__name__)

#: `kratos run` with no channel configured: every way out, in one sentence.
NO_CHANNEL = ("No hay ningún canal configurado: pon TELEGRAM_BOT_TOKEN para Telegram, o "
              "WHATSAPP_ACCESS_TOKEN con WHATSAPP_PHONE_NUMBER_ID, WHATSAPP_APP_SECRET y "
              "WHATSAPP_VERIFY_TOKEN para WhatsApp, en .env (mira .env.example); o usa "
              "`kratos run --console-fallback` para chatear en la terminal.")


@contextlib.asynccontextmanager
async def whatsapp_channel(settings: Settings, *, alone: bool = True
                           ) -> AsyncIterator[WhatsAppChannel]:
    """The WhatsApp channel with its own resources open; all closed on the way out.

    ``alone`` (no Telegram in this run): the start-up banner and the scheduled purge of expired
    data are this channel's to do; with Telegram, its own start-up does both.
    """
    # Imported here: pywa costs a Telegram-only bot start-up time and memory for nothing.
    from bot.channels.whatsapp.channel import WhatsAppChannel
    from bot.channels.whatsapp.graph import build_client, graph_http_client
    from bot.channels.whatsapp.store import WhatsAppStore

    app = await build_context(settings)
    # A re-imported or replaced catalog is picked up while serving.
    app.watch_catalog()
    http = graph_http_client(settings)
    purge: asyncio.Task[None] | None = None
    try:
        await app.check_model_endpoint()
        store = WhatsAppStore(app.state)
        forgotten = await store.forget_old_messages()
        if forgotten:
            logger.info("forgot %d WhatsApp message ids past any redelivery", forgotten)
        if alone:
            purge = asyncio.create_task(purge_forever(
                app.state, settings.conversation_ttl_days, settings.purge_interval))
            logger.info("%s", await describe(app, channels=whatsapp_line(settings),
                                             logs=f"stderr at {settings.log_level}"))
            eventloop.settle_heap()
        else:
            logger.info("also serving %s", whatsapp_line(settings))
        yield WhatsAppChannel(settings, app, build_client(settings, http), store)
    finally:
        if alone:
            eventloop.unsettle_heap()
        if purge is not None:
            purge.cancel()
            await asyncio.gather(purge, return_exceptions=True)
        await http.aclose()
        await app.close()


def whatsapp_line(settings: Settings) -> str:
    """The WhatsApp channel as the start-up banner names it."""
    return (f"WhatsApp number id {settings.whatsapp_phone_number_id} by webhook "
            f"{settings.whatsapp_webhook_path}, listening on {settings.webhook_listen}:"
            f"{settings.webhook_port}")


async def _until_started(task: asyncio.Task[Any], started: asyncio.Event) -> None:
    """Return once ``started`` is set; raise what ``task`` raised if it ended first."""
    ready = asyncio.create_task(started.wait())
    done, _ = await asyncio.wait({task, ready}, return_when=asyncio.FIRST_COMPLETED)
    if task in done:
        ready.cancel()
        task.result()
        raise RuntimeError("the Telegram channel stopped while starting")


async def serve_channels(settings: Settings, stop: asyncio.Event,
                         started: asyncio.Event | None = None, *,
                         grace: float = SHUTDOWN_GRACE) -> None:
    """Serve WhatsApp, and Telegram when configured, until ``stop`` is set.

    ``started`` is set once every channel takes messages. On stop, the webhook server stops
    first (no new deliveries), then answers in flight get up to ``grace`` seconds.
    """
    from bot.channels.whatsapp.webhook import WhatsAppWebhook

    telegram = build_application(settings) if settings.telegram_bot_token else None
    shared = telegram is not None and bool(settings.webhook_url)
    if shared and "/" + urlsplit(settings.webhook_url).path.strip("/") == \
            settings.whatsapp_webhook_path:
        raise ConfigError("La ruta de WEBHOOK_URL y WHATSAPP_WEBHOOK_PATH son la misma: los "
                          "webhooks de Telegram y WhatsApp necesitan una ruta cada uno.")
    async with whatsapp_channel(settings, alone=telegram is None) as channel:
        server = WebhookServer(settings.webhook_listen, settings.webhook_port)
        WhatsAppWebhook(channel).add_routes(server.app)
        if shared:
            assert telegram is not None
            TelegramWebhook(telegram, settings).add_routes(server.app)
        telegram_task: asyncio.Task[None] | None = None
        try:
            if telegram is not None:
                telegram_started = asyncio.Event()
                telegram_task = asyncio.create_task(serve(
                    telegram, stop, telegram_started, grace=grace, shared_webhook=shared))
                await _until_started(telegram_task, telegram_started)
            await server.start()
            if started is not None:
                started.set()
            await stop.wait()
        finally:
            stop.set()
            await server.stop()
            await channel.finish_in_flight(grace)
            if telegram_task is not None:
                await telegram_task


async def _serve_until_signalled(settings: Settings) -> int:
    try:
        return await exit_code(settings, serve_channels(settings, stop_on_signals()))
    except OSError as error:
        raise ConfigError(f"No puedo escuchar en WEBHOOK_LISTEN:WEBHOOK_PORT "
                          f"({settings.webhook_listen}:{settings.webhook_port}): "
                          f"{_listen_reason(error)}.") from None


def _listen_reason(error: OSError) -> str:
    """Why a port cannot be listened on, in Spanish."""
    if error.errno == errno.EADDRINUSE:
        return "otro programa ya usa ese puerto"
    if error.errno == errno.EADDRNOTAVAIL:
        return "esa dirección no es de esta máquina"
    return os_reason(error)


def run_command(settings: Settings, *, console_fallback: bool = False) -> int:
    """``kratos run``: serve every configured channel until SIGTERM/SIGINT (exit 0).

    Without WhatsApp this is Telegram's own ``run_command`` (with its configuration errors),
    or the console when ``console_fallback`` is set and Telegram is not. With WhatsApp, its settings
    must be complete (exit 2 if not).
    """
    if not settings.whatsapp_enabled:
        if not settings.telegram_bot_token:
            if console_fallback:
                return console_command(
                    settings,
                    channels="terminal console (TELEGRAM_BOT_TOKEN is not set: no Telegram)")
            raise ConfigError(NO_CHANNEL)
        return run_telegram(settings)
    settings.require_whatsapp()
    if settings.telegram_bot_token:
        settings.require_telegram()
    return eventloop.run(_serve_until_signalled(settings))
