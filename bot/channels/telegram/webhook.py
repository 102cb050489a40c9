"""Telegram's route on the shared webhook server (``bot.channels.web``).

Updates come to WEBHOOK_URL's path, are checked against WEBHOOK_SECRET as python-telegram-bot's
own webhook server does, and are put on the running Application's update queue.
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
