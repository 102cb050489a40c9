"""The Graph API side of WhatsApp: pywa's async client, its HTTP client, and media downloads.

pywa sends through the httpx client it is given; that client's transport is aiohttp, and
reaches WHATSAPP_API_BASE_URL instead of graph.facebook.com when set (``transport``).

Media: a message carries a media id; ``GET /<media-id>`` answers a URL valid for about five
minutes plus the file's size, and the URL is downloaded with the same bearer token.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TypeVar

import httpx
from pywa_async import WhatsApp
from pywa_async.errors import ThrottlingError, WhatsAppError

from bot.audio.conversion import check_incoming
from bot.errors import UserFacingError
from bot.settings import DEFAULT_GRAPH_API, Settings

from .transport import AiohttpTransport

logger = logging.getLogger(__name__)

T = TypeVar("T")

#: Seconds for one Graph API call; the connection gets fewer.
REQUEST_TIMEOUT = httpx.Timeout(15.0, connect=5.0)
#: A 100 MB document over a slow link takes far longer than one API call.
DOWNLOAD_TIMEOUT = httpx.Timeout(120.0, connect=5.0)
#: The largest media WhatsApp carries (documents; audio and video stop at 16 MB).
MAX_MEDIA_BYTES = 100 * 1024 * 1024
#: Connections kept open to the Graph API: every reply and typing indicator is one request.
MAX_CONNECTIONS = 64
SEND_RETRIES = 3  # Retries after a throttling error before a send gives up.
RETRY_AFTER = 1.0  # Seconds before the first retry; doubled each time.


class DownloadFailed(UserFacingError):
    """WhatsApp would not hand over the file, or the connection failed while fetching it."""

    def __init__(self) -> None:
        super().__init__(
            es="No pude descargar el archivo desde WhatsApp. Inténtalo de nuevo en un momento.",
            en="I couldn't download the file from WhatsApp. Please try again in a moment.",
        )


def graph_http_client(settings: Settings) -> httpx.AsyncClient:
    """The httpx client pywa sends through: aiohttp underneath, and routed to
    WHATSAPP_API_BASE_URL when that is not Meta's own Graph API."""
    root = settings.whatsapp_api_base_url
    transport = AiohttpTransport(max_connections=MAX_CONNECTIONS,
                                 graph_root=None if root == DEFAULT_GRAPH_API else root)
    return httpx.AsyncClient(transport=transport, timeout=REQUEST_TIMEOUT)


def build_client(settings: Settings, http: httpx.AsyncClient) -> WhatsApp:
    """pywa's async client for sending; KRATOS serves and checks the webhook itself."""
    return WhatsApp(phone_id=settings.whatsapp_phone_number_id,
                    token=settings.whatsapp_access_token, session=http,
                    app_secret=settings.whatsapp_app_secret,
                    verify_token=settings.whatsapp_verify_token)


async def download_media(wa: WhatsApp, media_id: str, path: Path, *,
                         mime_type: str | None = None, file_name: str | None = None,
                         limit_bytes: int = MAX_MEDIA_BYTES, recording: bool = True) -> Path:
    """Fetch a message's media into ``path``.

    The size the media URL lookup reports is checked before downloading, and the bytes
    received while downloading (``MediaTooBig``, with the customer's sentence); a
    ``recording`` must also be audio or video by its type or name (``UnsupportedMedia``).
    Any API or connection failure is ``DownloadFailed``.
    """
    try:
        info = await wa.get_media_url(media_id)
    except (WhatsAppError, httpx.HTTPError, KeyError) as error:
        logger.warning("media %s: URL lookup failed: %s", media_id, _brief(error))
        raise DownloadFailed() from error
    # Type and name say nothing (None) for a photo: only its size is checked.
    check_incoming(size=info.file_size, limit_bytes=limit_bytes,
                   mime_type=mime_type if recording else None,
                   file_name=file_name if recording else None)
    received = 0
    try:
        with path.open("wb") as out:
            async for chunk in wa.stream_media(info.url, timeout=DOWNLOAD_TIMEOUT):
                received += len(chunk)
                check_incoming(size=received, limit_bytes=limit_bytes)
                out.write(chunk)
    except httpx.HTTPError as error:
        logger.warning("media %s: download failed: %s", media_id, _brief(error))
        raise DownloadFailed() from error
    return path


def _brief(error: BaseException) -> str:
    """An error in a few words, without URLs (media URLs are signed) or response bodies."""
    if isinstance(error, WhatsAppError):
        return f"Graph API error {error.code}"
    if isinstance(error, httpx.HTTPStatusError):
        return f"HTTP {error.response.status_code}"
    return type(error).__name__


async def with_retries(call: Callable[[], Awaitable[T]], what: str) -> T:
    """Run ``call()`` (a coroutine factory), retrying WhatsApp's throttling errors.

    Codes 4, 80007, 130429, 131056 (pywa's ``ThrottlingError``) mean "too fast": wait and
    retry, ``SEND_RETRIES`` times with doubling pauses. Anything else is raised at once.
    """
    delay = RETRY_AFTER
    for attempt in range(SEND_RETRIES + 1):
        try:
            return await call()
        except ThrottlingError as error:
            if attempt == SEND_RETRIES:
                raise
            logger.warning("%s throttled (%s); retrying in %.0f s", what, _brief(error), delay)
            await asyncio.sleep(delay)
            delay *= 2
    raise AssertionError("unreachable")
