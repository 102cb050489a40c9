"""Fetching a recording from a link, without opening a door into the server's network.

A link a customer pastes is fetched by the server, so it could point anywhere the server can
reach: its own loopback services, the office network, the cloud's metadata endpoint. Only
http(s) is fetched, and every address is checked where it is used — the link's host, each
redirect's host, and again by the resolver the connection itself uses (so a name that resolves
to a public address first and a private one later is still refused). IPv4 and IPv6 are checked
alike, including IPv4 hidden inside IPv6 (``::ffff:127.0.0.1``, 6to4, NAT64, Teredo) and the
odd IPv4 spellings (``2130706433``, ``0x7f.1``, ``127.1``), because the check is made on the
addresses the system resolver returns, not on the text.

Size and duration limits hold while the body streams (``Content-Length`` is checked first; a
stream without one is cut at the limit), the whole fetch has one time limit, and a page that is
not audio or video is refused before its body is read. Channel-agnostic: the command line and
every chat channel use it.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import re
import socket
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urljoin, urlsplit

import aiohttp
from aiohttp.abc import AbstractResolver, ResolveResult

from bot.audio.conversion import MediaError, MediaTooBig, MediaTooLong, is_supported, probe
from bot.errors import UserFacingError
from bot.settings import Settings

logger = logging.getLogger(__name__)

MAX_REDIRECTS = 5
CHUNK_BYTES = 64 * 1024
#: Once this much has arrived, the partial file is probed for its duration and bitrate.
PROBE_AFTER_BYTES = 256 * 1024
#: Slack over the bytes the probed bitrate allows for MAX_AUDIO_MINUTES (VBR, headers).
BITRATE_SLACK = 1.15
REDIRECTS = frozenset({301, 302, 303, 307, 308})
NOT_MEDIA_TYPES = ("text/", "application/json", "application/xml", "application/xhtml",
                   "application/pdf", "image/")
#: Cloud metadata endpoints that are not link-local: never fetched, whatever the settings.
METADATA_ADDRESSES = frozenset(ipaddress.ip_address(a) for a in (
    "169.254.169.254", "fd00:ec2::254", "100.100.100.200", "192.0.0.192"))
NAT64 = ipaddress.ip_network("64:ff9b::/96")
SAFE_NAME = re.compile(r"[^\w.\- ]+")

IpAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


class LinkRefused(UserFacingError):
    """A link KRATOS will not fetch, or whose content it cannot use."""


class NotHttpLink(LinkRefused):
    def __init__(self) -> None:
        super().__init__(es="Solo puedo abrir enlaces http:// o https://.",
                         en="I can only open http:// or https:// links.")


class ForbiddenAddress(LinkRefused):
    def __init__(self) -> None:
        super().__init__(
            es="Ese enlace apunta a una dirección interna y no puedo abrirlo. Envíame un enlace "
               "público o el archivo.",
            en="That link points to an internal address and I can't open it. Send me a public "
               "link or the file itself.")


class NotMedia(LinkRefused):
    def __init__(self) -> None:
        super().__init__(
            es="Ese enlace abre una página, no un audio ni un video. Envíame el enlace directo "
               "al archivo (por ejemplo, uno que termine en .mp3 o .mp4) o el archivo.",
            en="That link opens a page, not audio or video. Send me the direct link to the file "
               "(for example one ending in .mp3 or .mp4) or the file itself.")


class FetchFailed(LinkRefused):
    def __init__(self) -> None:
        super().__init__(
            es="No pude descargar el archivo de ese enlace. Revisa la dirección e inténtalo de "
               "nuevo.",
            en="I couldn't download the file from that link. Check the address and try again.")


class FetchTimedOut(LinkRefused):
    def __init__(self, seconds: float) -> None:
        super().__init__(
            es=f"La descarga de ese enlace tardó más de {seconds:.0f} segundos y la detuve.",
            en=f"Downloading that link took more than {seconds:.0f} seconds, so I stopped.")


@dataclass(frozen=True)
class FetchLimits:
    """How much a link may bring, how long it may take, and where it may point."""

    max_bytes: int
    max_minutes: int
    timeout_s: float
    allow_private: bool = False

    @classmethod
    def of(cls, settings: Settings) -> FetchLimits:
        """MEDIA_URL_MAX_MB, MAX_AUDIO_MINUTES, MEDIA_URL_TIMEOUT, MEDIA_URL_ALLOW_PRIVATE."""
        return cls(max_bytes=settings.media_url_max_mb * 1024 * 1024,
                   max_minutes=settings.max_audio_minutes,
                   timeout_s=settings.media_url_timeout,
                   allow_private=settings.media_url_allow_private)


@dataclass(frozen=True)
class FetchedMedia:
    """A recording fetched to disk: where, what it said it was, and under which name."""

    path: Path
    file_name: str
    content_type: str
    size: int


def _embedded_ipv4(ip: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    """IPv4 carried inside an IPv6 address (mapped, 6to4, Teredo client, NAT64), if any."""
    if ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    if ip.sixtofour is not None:
        return ip.sixtofour
    if ip.teredo is not None:
        return ip.teredo[1]
    if ip in NAT64:
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    return None


def address_allowed(ip: IpAddress, *, allow_private: bool = False) -> bool:
    """Whether KRATOS may connect to ``ip``.

    Public unicast addresses only; with ``allow_private`` also loopback and private ranges
    (an intranet media server, tests). Link-local and cloud metadata addresses never.
    """
    if isinstance(ip, ipaddress.IPv6Address):
        inner = _embedded_ipv4(ip)
        if inner is not None:
            # The packet ends up at the IPv4 address inside: judge that one.
            return address_allowed(inner, allow_private=allow_private)
    if ip in METADATA_ADDRESSES or ip.is_link_local or ip.is_multicast:
        return False
    if ip.is_global:
        return True
    return allow_private and (ip.is_loopback or ip.is_private) and not ip.is_unspecified


def _check_results(host: str, results: list[Any], allow_private: bool) -> None:
    """Refuse the host if any address it resolved to is not allowed (one bad is enough)."""
    for address in results:
        ip = ipaddress.ip_address(str(address).split("%", 1)[0])
        if not address_allowed(ip, allow_private=allow_private):
            logger.warning("refused a link to %s: it resolves to %s", host, ip)
            raise ForbiddenAddress()


class _CheckedResolver(AbstractResolver):
    """The system resolver, refusing names that resolve to an address not allowed.

    aiohttp connects only to what this returns, so the address checked is the one used.
    """

    def __init__(self, allow_private: bool) -> None:
        self._inner = aiohttp.ThreadedResolver()
        self._allow_private = allow_private

    async def resolve(self, host: str, port: int = 0,
                      family: socket.AddressFamily = socket.AF_INET) -> list[ResolveResult]:
        results = await self._inner.resolve(host, port, family)
        _check_results(host, [r["host"] for r in results], self._allow_private)
        return results

    async def close(self) -> None:
        await self._inner.close()


async def check_link(url: str, *, allow_private: bool = False) -> None:
    """Refuse a link that is not http(s) or whose host resolves to an address not allowed.

    Resolves the host as the system does, so numeric spellings aiohttp would connect to
    directly (``127.1``, ``2130706433``, ``[::ffff:7f00:1]``) are checked too.
    """
    parts = urlsplit(url)
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        raise NotHttpLink()
    try:
        port = parts.port or (443 if parts.scheme.lower() == "https" else 80)
    except ValueError:
        raise NotHttpLink() from None
    try:
        infos = await asyncio.get_running_loop().getaddrinfo(
            parts.hostname, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as error:
        logger.info("cannot resolve the host of a link: %s", error)
        raise FetchFailed() from None
    _check_results(parts.hostname, [info[4][0] for info in infos], allow_private)


def _file_name(url: str, response: aiohttp.ClientResponse) -> str:
    """The name the server gives the file, else the link's last path segment."""
    name = ""
    disposition = response.headers.get("Content-Disposition", "")
    match = re.search(r"filename\*?=(?:UTF-8'')?\"?([^\";]+)", disposition, re.IGNORECASE)
    if match:
        name = unquote(match.group(1))
    if not name:
        name = unquote(urlsplit(url).path.rsplit("/", 1)[-1])
    name = SAFE_NAME.sub("_", Path(name).name).strip(" ._")
    return name[:80] or (urlsplit(url).hostname or "enlace")


def _check_type(content_type: str, file_name: str) -> None:
    """Refuse a response that says it is a page, a document or an image, not media."""
    mime = content_type.split(";")[0].strip().lower()
    if mime.startswith(NOT_MEDIA_TYPES) or not is_supported(mime or None, file_name):
        raise NotMedia()


class _Budget:
    """Bytes the stream may still bring: the size limit, then what the bitrate allows."""

    def __init__(self, limits: FetchLimits) -> None:
        self.limits = limits
        self.max_bytes = limits.max_bytes
        self.probed = False

    def check_size(self, received: int) -> None:
        if received > self.limits.max_bytes:
            raise MediaTooBig(received, self.limits.max_bytes)
        if received > self.max_bytes:
            # More bytes than MAX_AUDIO_MINUTES at the probed bitrate: the recording is longer.
            raise MediaTooLong(self.limits.max_minutes * 60 * received / self.max_bytes,
                               self.limits.max_minutes)

    async def probe(self, path: Path) -> None:
        """Read duration and bitrate from what has arrived; refuse a recording too long."""
        self.probed = True
        try:
            info = await asyncio.to_thread(probe, path)
        except MediaError:
            return  # e.g. an MP4 whose index is at the end: only the size limit applies
        limit_s = self.limits.max_minutes * 60
        if info.duration_s is not None and info.duration_s > limit_s:
            raise MediaTooLong(info.duration_s, self.limits.max_minutes)
        if info.bitrate_kbps:
            allowed = int(info.bitrate_kbps * 1000 / 8 * limit_s * BITRATE_SLACK)
            self.max_bytes = min(self.max_bytes, allowed + PROBE_AFTER_BYTES)


async def _stream_to(response: aiohttp.ClientResponse, path: Path, limits: FetchLimits) -> int:
    """Write the body to ``path``, enforcing the limits as it arrives; returns its size."""
    declared = response.content_length
    if declared is not None and declared > limits.max_bytes:
        raise MediaTooBig(declared, limits.max_bytes)
    budget = _Budget(limits)
    received = 0
    with path.open("wb") as out:
        async for chunk in response.content.iter_chunked(CHUNK_BYTES):
            received += len(chunk)
            budget.check_size(received)
            out.write(chunk)
            if not budget.probed and received >= PROBE_AFTER_BYTES:
                out.flush()
                await budget.probe(path)
    if not budget.probed:
        await budget.probe(path)
    return received


async def _open(session: aiohttp.ClientSession, url: str,
                limits: FetchLimits) -> tuple[str, aiohttp.ClientResponse]:
    """Follow redirects by hand, checking every hop; the final URL and its open response."""
    for _ in range(MAX_REDIRECTS + 1):
        await check_link(url, allow_private=limits.allow_private)
        response = await session.get(url, allow_redirects=False)
        if response.status not in REDIRECTS:
            return url, response
        location = response.headers.get("Location")
        response.release()
        if not location:
            raise FetchFailed()
        url = urljoin(url, location)
    logger.info("a link redirected more than %d times", MAX_REDIRECTS)
    raise FetchFailed()


async def fetch_media(url: str, workdir: Path, limits: FetchLimits) -> FetchedMedia:
    """Download the recording at ``url`` into ``workdir``.

    Raises ``LinkRefused`` subclasses (not http(s), an internal address, not media, failed,
    too slow), ``MediaTooBig`` or ``MediaTooLong`` — all with a sentence for the user.
    """
    started = time.perf_counter()
    connector = aiohttp.TCPConnector(resolver=_CheckedResolver(limits.allow_private),
                                     use_dns_cache=False, limit=1)
    try:
        async with asyncio.timeout(limits.timeout_s), aiohttp.ClientSession(
                connector=connector, trust_env=False,
                headers={"User-Agent": "KRATOS media fetcher"}) as session:
            final_url, response = await _open(session, url, limits)
            async with response:
                if response.status != 200:
                    logger.info("a link answered HTTP %d", response.status)
                    raise FetchFailed()
                name = _file_name(final_url, response)
                content_type = response.headers.get("Content-Type", "")
                _check_type(content_type, name)
                path = workdir / f"link-{name}"
                size = await _stream_to(response, path, limits)
    except TimeoutError:
        raise FetchTimedOut(limits.timeout_s) from None
    except aiohttp.ClientError as error:
        logger.info("fetching a link failed: %s", type(error).__name__)
        raise FetchFailed() from error
    logger.info("fetched %d bytes (%s) from a link in %.2f s", size, content_type or "no type",
                time.perf_counter() - started)
    return FetchedMedia(path=path, file_name=name, content_type=content_type, size=size)
