"""One HTTP server for every channel's webhook: one port, one reverse-proxy target.

It listens on WEBHOOK_LISTEN:WEBHOOK_PORT with plain HTTP (TLS belongs to the proxy in front).
WhatsApp deliveries go to WHATSAPP_WEBHOOK_PATH; Telegram updates, when WEBHOOK_URL is set, to
that URL's path, checked against WEBHOOK_SECRET as python-telegram-bot's own webhook server
does, and put on the Application's update queue. No access log: WhatsApp's verification
handshake carries its token in the query string.
"""

from __future__ import annotations

import logging

from aiohttp import web

logger = logging.getLogger(__name__)

#: Largest request body taken: Telegram updates and WhatsApp deliveries are a few KB.
MAX_BODY_BYTES = 1024 * 1024


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
