"""A real HTTP server speaking the WhatsApp Business Cloud API's shapes, and Meta's side of the
webhook: it signs deliveries with the app secret and posts them, as Meta does, retries and all.

Graph API routes (any ``/v<version>`` prefix, as pywa sends them):

* ``POST /{phone-number-id}/messages``: a message (text, document, audio…) answers
  ``{"messaging_product", "contacts", "messages": [{"id"}]}``; ``{"status": "read"}`` (with
  ``typing_indicator`` or without) answers ``{"success": true}``. Customers whose 24-hour
  window is closed get the API's error 131047; an unknown token gets error 190.
* ``POST /{phone-number-id}/media``: a multipart upload, answering ``{"id"}``.
* ``GET /{media-id}``: the media URL lookup (``url``, ``mime_type``, ``sha256``, ``file_size``),
  error 100 for an unknown id.
* ``GET /download/{media-id}``: the media bytes, only with the bearer token (401 otherwise),
  and a 404 for media a test marked broken.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import itertools
import json
import time
from dataclasses import dataclass, field
from typing import Any

import aiohttp
from aiohttp import web

ACCESS_TOKEN = "EAAtest-access-token"
APP_SECRET = "test-app-secret"
VERIFY_TOKEN = "test-verify-token"
PHONE_NUMBER_ID = "1122334455667"
WABA_ID = "1234567890987654321"


@dataclass
class Sent:
    """One message the bot sent, as the fake received it."""

    to: str
    type: str
    body: dict[str, Any]
    quoted: str | None
    message_id: str

    @property
    def text(self) -> str:
        """The text of a text message, or a document's caption."""
        if self.type == "text":
            return str(self.body["text"]["body"])
        return str((self.body.get(self.type) or {}).get("caption") or "")


@dataclass
class Media:
    data: bytes
    mime_type: str
    broken: bool = False
    unreachable: bool = False
    reported_size: int | None = None


@dataclass
class Delivered:
    """What the bot's webhook answered to one delivery, and how long it took."""

    status: int
    seconds: float


@dataclass
class FakeWhatsApp:
    """The fake Graph API on 127.0.0.1 and Meta's webhook client, scripted by tests."""

    access_token: str = ACCESS_TOKEN
    app_secret: str = APP_SECRET
    phone_number_id: str = PHONE_NUMBER_ID
    sent: list[Sent] = field(default_factory=list)
    read: list[str] = field(default_factory=list)
    typing: list[str] = field(default_factory=list)
    uploads: dict[str, Media] = field(default_factory=dict)
    requests: list[tuple[str, str, str | None]] = field(default_factory=list)
    window_closed: set[str] = field(default_factory=set)
    media: dict[str, Media] = field(default_factory=dict)
    _ids: itertools.count = field(default_factory=lambda: itertools.count(1))  # type: ignore[type-arg]
    _runner: web.AppRunner | None = None
    _port: int = 0
    _changed: asyncio.Condition | None = None
    _session: aiohttp.ClientSession | None = None

    @property
    def root(self) -> str:
        """The Graph API root to give WHATSAPP_API_BASE_URL."""
        return f"http://127.0.0.1:{self._port}"

    async def start(self) -> FakeWhatsApp:
        app = web.Application(client_max_size=200 * 1024 * 1024)
        app.router.add_get("/download/{media_id}", self._download)
        app.router.add_post("/{version}/{phone_id}/messages", self._messages)
        app.router.add_post("/{version}/{phone_id}/media", self._upload)
        app.router.add_get("/{version}/{media_id}", self._media_url)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self._port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self._changed = asyncio.Condition()
        self._session = aiohttp.ClientSession()
        return self

    async def stop(self) -> None:
        if self._session is not None:
            await self._session.close()
        if self._runner is not None:
            await self._runner.cleanup()

    async def __aenter__(self) -> FakeWhatsApp:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    # -- what tests script -------------------------------------------------------------

    def add_media(self, data: bytes, mime_type: str, *, broken: bool = False,
                  unreachable: bool = False, reported_size: int | None = None) -> str:
        """Host a customer's media; returns its media id. ``broken`` downloads answer 404;
        ``unreachable`` media get a URL where nothing listens; ``reported_size`` is the
        ``file_size`` the URL lookup claims (the real size by default)."""
        media_id = str(900_000_000 + next(self._ids))
        self.media[media_id] = Media(data, mime_type, broken, unreachable, reported_size)
        return media_id

    def sent_to(self, to: str) -> list[Sent]:
        return [message for message in self.sent if message.to == to]

    async def wait_for_messages(self, count: int, *, to: str | None = None,
                                timeout: float = 15.0) -> list[Sent]:
        """The first ``count`` messages sent (to ``to``), waiting for them to arrive."""
        assert self._changed is not None

        def enough() -> bool:
            return len(self.sent_to(to) if to else self.sent) >= count

        async with self._changed:
            await asyncio.wait_for(self._changed.wait_for(enough), timeout)
        return (self.sent_to(to) if to else self.sent)[:count]

    # -- Meta's side of the webhook -------------------------------------------------------

    def sign(self, body: bytes, secret: str | None = None) -> str:
        """``sha256=<hex>``: the X-Hub-Signature-256 Meta sends with ``body``."""
        key = (secret if secret is not None else self.app_secret).encode()
        return "sha256=" + hmac.new(key, body, hashlib.sha256).hexdigest()

    async def deliver(self, url: str, payload: dict[str, Any] | bytes, *,
                      signature: str | None = "valid") -> Delivered:
        """POST one delivery to the bot's webhook, signed (``"valid"``), unsigned (None) or
        with the given header value."""
        assert self._session is not None
        body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
        headers = {"Content-Type": "application/json"}
        if signature == "valid":
            headers["X-Hub-Signature-256"] = self.sign(body)
        elif signature is not None:
            headers["X-Hub-Signature-256"] = signature
        started = time.perf_counter()
        async with self._session.post(url, data=body, headers=headers) as response:
            await response.read()
            return Delivered(response.status, time.perf_counter() - started)

    def delivery(self, *messages: dict[str, Any], statuses: list[dict[str, Any]] | None = None
                 ) -> dict[str, Any]:
        """A webhook payload carrying ``messages`` (from ``text`` and friends)."""
        contacts = []
        for message in messages:
            contact = {"profile": {"name": "Cliente"}, "user_id": message["from_user_id"]}
            if message.get("from"):
                contact["wa_id"] = message["from"]
            if contact not in contacts:
                contacts.append(contact)
        value: dict[str, Any] = {
            "messaging_product": "whatsapp",
            "metadata": {"display_phone_number": "51900000000",
                         "phone_number_id": self.phone_number_id},
        }
        if messages:
            value["contacts"] = contacts
            value["messages"] = list(messages)
        if statuses:
            value["statuses"] = statuses
        return {"object": "whatsapp_business_account",
                "entry": [{"id": WABA_ID, "changes": [{"value": value, "field": "messages"}]}]}

    def message(self, user: str, kind: str, content: dict[str, Any], *,
                wa_id: str | None = None, age: float = 0.0) -> dict[str, Any]:
        """One customer message of ``kind`` from business-scoped id ``user``."""
        message: dict[str, Any] = {
            "from_user_id": user, "id": f"wamid.in{next(self._ids)}",
            "timestamp": str(int(time.time() - age)), "type": kind, kind: content,
        }
        if wa_id:
            message["from"] = wa_id
        return message

    def text(self, user: str, body: str, **options: Any) -> dict[str, Any]:
        return self.message(user, "text", {"body": body}, **options)

    def voice(self, user: str, media_id: str, **options: Any) -> dict[str, Any]:
        return self.message(user, "audio", {"mime_type": "audio/ogg; codecs=opus",
                                            "sha256": "x", "id": media_id, "voice": True},
                            **options)

    def document(self, user: str, media_id: str, filename: str, mime_type: str,
                 **options: Any) -> dict[str, Any]:
        return self.message(user, "document", {"mime_type": mime_type, "sha256": "x",
                                               "id": media_id, "filename": filename},
                            **options)

    # -- the Graph API --------------------------------------------------------------------

    @staticmethod
    def _error(status: int, code: int, message: str, details: str = "") -> web.Response:
        error: dict[str, Any] = {"message": message, "type": "OAuthException", "code": code,
                                 "fbtrace_id": "AfakeTrace"}
        if details:
            error["error_data"] = {"messaging_product": "whatsapp", "details": details}
        return web.json_response({"error": error}, status=status)

    def _authorized(self, request: web.Request) -> bool:
        return request.headers.get("Authorization") == f"Bearer {self.access_token}"

    def _unauthorized(self) -> web.Response:
        return self._error(401, 190, "Invalid OAuth access token - Cannot parse access token")

    async def _notify(self) -> None:
        assert self._changed is not None
        async with self._changed:
            self._changed.notify_all()

    async def _messages(self, request: web.Request) -> web.Response:
        if not self._authorized(request):
            return self._unauthorized()
        body = await request.json()
        if body.get("status") == "read":
            (self.typing if "typing_indicator" in body else self.read).append(
                body["message_id"])
            return web.json_response({"success": True})
        to = body.get("recipient") or body.get("to")
        self.requests.append(("send", str(to), body.get("type")))
        if to in self.window_closed:
            return self._error(
                400, 131047, "Re-engagement message",
                "Message failed to send because more than 24 hours have passed since the "
                "customer last replied to this number.")
        message_id = f"wamid.out{next(self._ids)}"
        self.sent.append(Sent(to=str(to), type=body["type"], body=body,
                              quoted=(body.get("context") or {}).get("message_id"),
                              message_id=message_id))
        await self._notify()
        contact = {"input": to, "user_id": to} if body.get("recipient") else \
            {"input": to, "wa_id": to}
        return web.json_response({"messaging_product": "whatsapp", "contacts": [contact],
                                  "messages": [{"id": message_id}]})

    async def _upload(self, request: web.Request) -> web.Response:
        if not self._authorized(request):
            return self._unauthorized()
        form = await request.post()
        upload = form["file"]
        assert isinstance(upload, web.FileField)
        media_id = str(800_000_000 + next(self._ids))
        self.uploads[media_id] = Media(upload.file.read(), str(form.get("type")))
        return web.json_response({"id": media_id})

    async def _media_url(self, request: web.Request) -> web.Response:
        if not self._authorized(request):
            return self._unauthorized()
        media_id = request.match_info["media_id"]
        media = self.media.get(media_id)
        if media is None:
            return self._error(400, 100, f"Unsupported get request. Object with ID "
                                         f"'{media_id}' does not exist")
        return web.json_response({
            "messaging_product": "whatsapp", "id": media_id, "mime_type": media.mime_type,
            "sha256": hashlib.sha256(media.data).hexdigest(),
            "file_size": media.reported_size or len(media.data),
            "url": f"{'http://127.0.0.1:9' if media.unreachable else self.root}"
                   f"/download/{media_id}?ext=1&hash=abc",
        })

    async def _download(self, request: web.Request) -> web.StreamResponse:
        self.requests.append(("download", request.match_info["media_id"],
                              request.headers.get("Authorization")))
        if not self._authorized(request):
            return web.Response(status=401, text="Unauthorized")
        media = self.media.get(request.match_info["media_id"])
        if media is None or media.broken:
            return web.Response(status=404, text="Not Found")
        return web.Response(body=media.data, content_type=media.mime_type.split(";")[0])
