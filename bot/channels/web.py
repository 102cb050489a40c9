"""One HTTP server for every channel's webhook: one port, one reverse-proxy target.

It listens on WEBHOOK_LISTEN:WEBHOOK_PORT with plain HTTP (TLS belongs to the proxy in front).
WhatsApp deliveries go to WHATSAPP_WEBHOOK_PATH; Telegram updates, when WEBHOOK_URL is set, to
that URL's path, checked against WEBHOOK_SECRET as python-telegram-bot's own webhook server
does, and put on the Application's update queue. No access log: WhatsApp's verification
handshake carries its token in the query string.
"""

from __future__ import annotations

import hmac
import logging
from typing import Any
from urllib.parse import urlsplit

from aiohttp import web
from telegram import Update
from telegram.ext import Application

from bot.settings import Settings

logger = logging.getLogger(__name__)

TELEGRAM_SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"
#: Largest request body taken: Telegram updates and WhatsApp deliveries are a few KB.
MAX_BODY_BYTES = 1024 * 1024


class TelegramWebhook:
    """Telegram's webhook route, feeding a running python-telegram-bot Application."""

    def __init__(self, application: Application[Any, Any, Any, Any, Any, Any],
                 settings: Settings) -> None:
        self.application = application
        self.settings = settings

    def add_routes(self, app: web.Application) -> None:
        """Serve Telegram updates at WEBHOOK_URL's path on ``app``."""
        path = "/" + urlsplit(self.settings.webhook_url).path.strip("/")
        app.router.add_post(path, self.deliver)

    async def deliver(self, request: web.Request) -> web.Response:
        """403 without the right secret; otherwise the update is queued and acknowledged."""
        secret = request.headers.get(TELEGRAM_SECRET_HEADER, "")
        if not hmac.compare_digest(secret.encode(), self.settings.webhook_secret.encode()):
            logger.warning("Telegram webhook call refused: %s secret",
                           "wrong" if secret else "no")
            return web.Response(status=403, text="Forbidden")
        try:
            update = Update.de_json(await request.json(), self.application.bot)
        except (ValueError, TypeError, KeyError):
            logger.warning("Telegram webhook call refused: not an update")
            return web.Response(status=400, text="Bad Request")
        await self.application.update_queue.put(update)
        return web.Response(text="ok")


class WebhookServer:
    """An aiohttp server whose routes the channels add before ``start``."""

    def __init__(self, listen: str, port: int) -> None:
        self.listen = listen
        self.port = port
        self.app = web.Application(client_max_size=MAX_BODY_BYTES)
        self._runner: web.AppRunner | None = None

    async def start(self) -> None:
        """Listen; raises OSError when the port cannot be bound."""
        runner = web.AppRunner(self.app, access_log=None, handle_signals=False)
        await runner.setup()
        try:
            await web.TCPSite(runner, self.listen, self.port).start()
        except BaseException:
            await runner.cleanup()
            raise
        self._runner = runner
        logger.info("webhook server listening on %s:%d (%s)", self.listen, self.port,
                    ", ".join(sorted({r.resource.canonical for r in self.app.router.routes()
                                      if r.resource is not None})))

    async def stop(self) -> None:
        """Stop taking requests (those being handled finish first)."""
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
