"""The Telegram Application: built with every handler module's handlers, then served.

``build_application`` registers the text commands (``bot``), the other kinds of message
(``events``) and voice notes and recordings (``voice``); ``serve`` runs polling, or a webhook
when WEBHOOK_URL is set, until told to stop; ``run_command`` is ``kratos run`` with Telegram
alone.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import sys
from collections.abc import Awaitable
from typing import Any
from urllib.parse import urlsplit

from telegram import BotCommand, BotCommandScopeChat
from telegram.error import InvalidToken, NetworkError, TelegramError, TimedOut
from telegram.ext import (
    ApplicationBuilder,
    BaseUpdateProcessor,
    CommandHandler,
    ContextTypes,
    ExtBot,
    MessageHandler,
    filters,
)

from bot import eventloop
from bot.channels.banner import describe, telegram_channel
from bot.channels.telegram.bot import (
    ALLOWED_UPDATES,
    COMMANDS,
    CONCURRENT_UPDATES,
    POLL_TIMEOUT,
    POOL_TIMEOUT,
    SEND_RETRIES,
    SHUTDOWN_GRACE,
    STATS_COMMAND,
    BotData,
    KratosApplication,
    KratosContext,
    _AddressedToBot,
    help_command,
    id_command,
    on_error,
    reset_command,
    start_command,
    stats_command,
    text_message,
    unknown_command,
)
from bot.channels.telegram.events import add_event_handlers
from bot.channels.telegram.http import AiohttpRequest, MessageRateLimiter
from bot.channels.telegram.voice import add_voice_handlers
from bot.core.chat_moves import former_ids
from bot.core.context import build_context
from bot.core.housekeeping import purge_forever
from bot.errors import ConfigError
from bot.settings import Settings

logger = logging.getLogger(__name__)

#: Updates started per pass of the event loop (``PerPassUpdateProcessor``): each takes about a
#: millisecond of preparation before its model request can leave.
UPDATES_PER_PASS = 16


def _polling_error(error: TelegramError) -> None:
    """Polling retries by itself (with back-off), without losing updates; just note it."""
    logger.warning("getUpdates failed, retrying: %s", error)


async def _set_commands(bot: ExtBot[Any], language: str, *, admin: int | None = None) -> None:
    commands = [BotCommand(name, text) for name, text in COMMANDS[language]]
    if admin is not None:
        commands.append(BotCommand(*STATS_COMMAND[language]))
    try:
        await bot.set_my_commands(
            commands, language_code="en" if language == "en" else None,
            scope=BotCommandScopeChat(admin) if admin is not None else None,
        )
    except TelegramError as error:
        # Admins who never opened a chat with the bot have no chat to scope to: not fatal.
        logger.warning("could not publish the %s command menu%s: %s", language,
                       f" for admin {admin}" if admin is not None else "", error)


async def _post_init(application: KratosApplication) -> None:
    """Open the databases and the model client; publish the command menu."""
    data = application.bot_data
    data.app = await build_context(data.settings)
    await data.app.check_model_endpoint()
    data.former_chat_ids = await former_ids(data.app.state)
    data.purge_task = asyncio.create_task(purge_forever(
        data.app.state, data.settings.conversation_ttl_days, data.settings.purge_interval))
    channels = telegram_channel(data.settings, application.bot.username)
    logger.info("%s", await describe(data.app, channels=channels,
                                     logs=f"stderr at {data.settings.log_level}"))
    # A re-imported or replaced catalog is picked up while serving.
    data.app.watch_catalog()
    eventloop.settle_heap()
    for language in COMMANDS:
        await _set_commands(application.bot, language)
        for admin in sorted(data.settings.admin_user_ids):
            await _set_commands(application.bot, language, admin=admin)


async def _post_shutdown(application: KratosApplication) -> None:
    """Close the databases and the model client."""
    eventloop.unsettle_heap()
    data = application.bot_data
    if data.purge_task is not None:
        data.purge_task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await data.purge_task
        data.purge_task = None
    if data.app is not None:
        await data.app.close()
        data.app = None


class PerPassUpdateProcessor(BaseUpdateProcessor):
    """Processes up to ``max_concurrent_updates`` updates at once, ``UPDATES_PER_PASS`` of
    them started per pass of the event loop (``bot.eventloop.PerPass``).

    PTB's ``SimpleUpdateProcessor`` starts every update of a ``getUpdates`` answer at once;
    started a few at a time, the first questions of a burst reach the model first.
    """

    __slots__ = ("_per_pass",)

    def __init__(self, max_concurrent_updates: int) -> None:
        super().__init__(max_concurrent_updates)
        self._per_pass = eventloop.PerPass(UPDATES_PER_PASS)

    async def do_process_update(self, update: object, coroutine: Awaitable[Any]) -> None:
        """Wait for the update's place in a pass, then process it to the end."""
        await self._per_pass.run(coroutine)

    async def initialize(self) -> None:
        """Nothing to set up."""

    async def shutdown(self) -> None:
        """Nothing to release."""


def build_application(settings: Settings) -> KratosApplication:
    """The Application ``kratos run`` serves, with its handlers; not started yet."""
    settings.require_telegram()
    root = settings.telegram_api_base_url
    requests = (AiohttpRequest(CONCURRENT_UPDATES, pool_timeout=POOL_TIMEOUT), AiohttpRequest(1))
    application: KratosApplication = (
        ApplicationBuilder()
        .token(settings.telegram_bot_token)
        .base_url(f"{root}/bot")
        .base_file_url(f"{root}/file/bot")
        .local_mode(settings.telegram_local_mode)
        .context_types(ContextTypes(context=KratosContext, bot_data=BotData))
        .concurrent_updates(PerPassUpdateProcessor(CONCURRENT_UPDATES))
        .request(requests[0])
        .get_updates_request(requests[1])
        .rate_limiter(MessageRateLimiter(max_retries=SEND_RETRIES))
        .post_init(_post_init)
        .post_shutdown(_post_shutdown)
        .build()
    )
    application.bot_data.configure(settings)
    application.bot_data.requests = requests

    new = filters.UpdateType.MESSAGE
    for name, callback in (("start", start_command), ("help", help_command),
                           ("reset", reset_command), ("stats", stats_command)):
        application.add_handler(CommandHandler(name, callback, filters=new))
    # Registered before plain text, so a message they take (a link to a recording) is not
    # also a question.
    add_event_handlers(application)
    application.add_handler(CommandHandler("id", id_command, filters=new))
    for_us = filters.ChatType.PRIVATE | (filters.ChatType.GROUPS & _AddressedToBot())
    application.add_handler(MessageHandler(new & filters.TEXT & ~filters.COMMAND & for_us,
                                           text_message))
    add_voice_handlers(application)
    # Last: a command nothing above took, in a private chat, still gets an answer.
    application.add_handler(MessageHandler(new & filters.COMMAND & filters.ChatType.PRIVATE,
                                           unknown_command))
    application.add_error_handler(on_error)
    return application


async def serve(application: KratosApplication, stop: asyncio.Event,
                started: asyncio.Event | None = None, *,
                grace: float = SHUTDOWN_GRACE, shared_webhook: bool = False) -> None:
    """Take updates until ``stop`` is set, then stop in order and close everything.

    Like ``Application.run_polling``/``run_webhook``, but inside a running event loop (tests
    drive exactly this) and with a bounded wait (``grace`` seconds) for the answers in flight.
    ``started`` is set once updates are being taken. With ``shared_webhook``, the webhook is
    registered with Telegram but served by another HTTP server (``bot.channels.web``), which
    puts updates on ``application.update_queue``.
    """
    settings = application.bot_data.settings
    updater = application.updater
    assert updater is not None
    serving = False
    try:
        await application.initialize()
        if application.post_init is not None:
            await application.post_init(application)
        await application.start()
        if settings.webhook_url and shared_webhook:
            await application.bot.set_webhook(
                url=settings.webhook_url, secret_token=settings.webhook_secret,
                allowed_updates=ALLOWED_UPDATES)
            logger.info("bot @%s takes webhook updates on the shared server",
                        application.bot.username)
        elif settings.webhook_url:
            await updater.start_webhook(
                listen=settings.webhook_listen, port=settings.webhook_port,
                url_path=urlsplit(settings.webhook_url).path.strip("/"),
                webhook_url=settings.webhook_url, secret_token=settings.webhook_secret,
                allowed_updates=ALLOWED_UPDATES,
            )
            logger.info("bot @%s serving a webhook on %s:%d", application.bot.username,
                        settings.webhook_listen, settings.webhook_port)
        else:
            await updater.start_polling(timeout=POLL_TIMEOUT, allowed_updates=ALLOWED_UPDATES,
                                        error_callback=_polling_error)
            logger.info("bot @%s polling for updates", application.bot.username)
        serving = True
        if started is not None:
            started.set()
        await stop.wait()
        logger.info("stopping: no new updates")
        if updater.running:
            await updater.stop()
        await application.bot_data.finish_in_flight(grace)
    finally:
        if updater.running:
            await updater.stop()
        if application.running:
            await application.stop()
        await application.shutdown()
        if application.post_shutdown is not None:
            await application.post_shutdown(application)
        # PTB's shutdown skips a bot whose initialize failed (Telegram unreachable, token
        # refused), leaving its HTTP sessions open: close them here, whatever happened.
        for request in application.bot_data.requests:
            await request.shutdown()
        # A bot that never started has nothing to report here; the caller logs why.
        if serving:
            logger.info("bot stopped")


def stop_on_signals() -> asyncio.Event:
    """An event set by SIGINT or SIGTERM, for ``serve`` and the other channels to wait on."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    return stop


async def exit_code(settings: Settings, serving: Awaitable[None]) -> int:
    """Await ``serving`` and give ``kratos run``'s exit code: 0, or 1 when the Bot API is out of
    reach (logged with its cause, and said on stderr). A token Telegram refuses raises
    ``ConfigError`` (exit 2)."""
    try:
        await serving
    except InvalidToken:
        raise ConfigError("Telegram rechazó TELEGRAM_BOT_TOKEN: revísalo con @BotFather "
                          "(/mybots → tu bot → API Token).") from None
    except NetworkError as error:
        logger.error("cannot reach the Telegram Bot API at %s: %s",
                     settings.telegram_api_base_url, error)
        print(f"kratos: {unreachable(settings, error)}", file=sys.stderr)
        return 1
    return 0


def unreachable(settings: Settings, error: NetworkError) -> str:
    """The owner's sentence for a Bot API that did not answer (the cause is in the log)."""
    how = "no respondió a tiempo" if isinstance(error, TimedOut) else "no pude conectarme"
    return (f"No pude usar la Bot API de Telegram en {settings.telegram_api_base_url}: {how}; "
            "revisa la conexión a internet de este equipo (o TELEGRAM_API_BASE_URL) y vuelve a "
            "intentarlo.")


async def _serve_until_signalled(settings: Settings) -> int:
    return await exit_code(settings, serve(build_application(settings), stop_on_signals()))


def run_command(settings: Settings) -> int:
    """``kratos run`` with Telegram alone: serve it until SIGTERM/SIGINT (exit 0).

    Without TELEGRAM_BOT_TOKEN it fails with a configuration error (exit 2).
    """
    settings.require_telegram()
    return eventloop.run(_serve_until_signalled(settings))
