"""The WhatsApp webhook's HTTP side: Meta's verification handshake and its signed deliveries.

``GET``: Meta subscribes the URL by sending ``hub.mode=subscribe``, ``hub.verify_token`` and
``hub.challenge``; the challenge is echoed only when the token is WHATSAPP_VERIFY_TOKEN.
``POST``: a delivery whose ``X-Hub-Signature-256`` is missing or wrong gets 403 and nothing in
it is looked at. A genuine one is acknowledged as soon as its message ids are claimed: Meta
retries deliveries not acknowledged promptly, so answering happens afterwards, in tasks.
"""

from __future__ import annotations

import hmac
import json
import logging

from aiohttp import web

from .channel import WhatsAppChannel
from .delivery import parse_delivery, signature_ok

logger = logging.getLogger(__name__)

SIGNATURE_HEADER = "X-Hub-Signature-256"


class WhatsAppWebhook:
    """The two routes Meta calls, bound to one channel."""

    def __init__(self, channel: WhatsAppChannel) -> None:
        self.channel = channel
        self.settings = channel.settings

    def add_routes(self, app: web.Application) -> None:
        """Serve the webhook at WHATSAPP_WEBHOOK_PATH on ``app``."""
        path = self.settings.whatsapp_webhook_path
        app.router.add_get(path, self.verify)
        app.router.add_post(path, self.deliver)

    async def verify(self, request: web.Request) -> web.Response:
        """Answers Meta's subscription handshake with the challenge, or 403."""
        query = request.query
        token = query.get("hub.verify_token", "")
        if query.get("hub.mode") == "subscribe" and hmac.compare_digest(
                token.encode(), self.settings.whatsapp_verify_token.encode()):
            logger.info("WhatsApp webhook verified by Meta")
            return web.Response(text=query.get("hub.challenge", ""))
        logger.warning("WhatsApp webhook verification refused: wrong mode or verify token")
        return web.Response(status=403, text="Forbidden")

    async def deliver(self, request: web.Request) -> web.Response:
        """Checks the signature, claims each new message and acknowledges; answers follow."""
        body = await request.read()
        if not signature_ok(self.settings.whatsapp_app_secret, body,
                            request.headers.get(SIGNATURE_HEADER)):
            logger.warning("WhatsApp delivery refused: %s signature",
                           "wrong" if SIGNATURE_HEADER in request.headers else "no")
            return web.Response(status=403, text="Forbidden")
        try:
            payload = json.loads(body)
        except ValueError:
            logger.warning("WhatsApp delivery refused: the body is not JSON")
            return web.Response(status=400, text="Bad Request")
        messages, failures = parse_delivery(payload)
        for failure in failures:
            logger.warning("WhatsApp could not deliver reply %s: error %s (%s)",
                           failure.message_id, failure.code, failure.title)
        for inbound in messages:
            await self.channel.accept(inbound)
        return web.Response(text="ok")
