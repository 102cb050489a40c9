"""pywa's HTTP requests carried by aiohttp, under the httpx client pywa requires.

pywa builds every Graph API request on an ``httpx.AsyncClient``. httpx's own transport costs
several times the CPU per request of aiohttp (BENCHMARKS.md, figure 1; the same finding made
the Telegram and model clients use aiohttp), and each WhatsApp answer is at least two requests
("read + typing", then the reply). httpx documents ``AsyncBaseTransport`` as the place to plug
another client: this one hands each request to one ``aiohttp.ClientSession``, streams the
response back, and turns aiohttp's failures into httpx's exception types, which pywa and the
channel catch.

pywa sets ``base_url`` to ``https://graph.facebook.com/v<version>`` on the client it is given;
with ``graph_root`` set, requests for that host go to another Graph API root instead (a test
server, a proxy), so pywa itself runs as shipped.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import aiohttp
import httpx

GRAPH_HOST = "graph.facebook.com"
#: Idle connections kept open for later requests.
KEEP_ALIVE = 15.0
CHUNK_BYTES = 64 * 1024


class _ResponseStream(httpx.AsyncByteStream):
    """An aiohttp response body, read as httpx reads a stream; released on close."""

    def __init__(self, response: aiohttp.ClientResponse) -> None:
        self._response = response

    async def __aiter__(self) -> AsyncIterator[bytes]:
        try:
            async for chunk in self._response.content.iter_chunked(CHUNK_BYTES):
                yield chunk
        except (TimeoutError, aiohttp.ClientError) as error:
            raise httpx.ReadError(str(error) or type(error).__name__) from error

    async def aclose(self) -> None:
        self._response.release()


class AiohttpTransport(httpx.AsyncBaseTransport):
    """httpx requests sent with aiohttp; at most ``max_connections`` open at once."""

    def __init__(self, *, max_connections: int, graph_root: str | None = None) -> None:
        self._max_connections = max_connections
        self._graph_root = httpx.URL(graph_root) if graph_root else None
        self._session: aiohttp.ClientSession | None = None

    def _route(self, url: httpx.URL) -> httpx.URL:
        root = self._graph_root
        if root is None or url.host != GRAPH_HOST:
            return url
        return url.copy_with(scheme=root.scheme, host=root.host, port=root.port,
                             path=root.path.rstrip("/") + url.path)

    def _open(self) -> aiohttp.ClientSession:
        if self._session is None:
            self._session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=self._max_connections,
                                               keepalive_timeout=KEEP_ALIVE),
                # httpx decodes Content-Encoding itself; aiohttp must hand over raw bytes.
                auto_decompress=False, trust_env=False, cookie_jar=aiohttp.DummyCookieJar())
        return self._session

    @staticmethod
    def _timeout(request: httpx.Request) -> aiohttp.ClientTimeout:
        limits = request.extensions.get("timeout") or {}
        return aiohttp.ClientTimeout(connect=limits.get("connect"),
                                     sock_read=limits.get("read"))

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        url = self._route(request.url)
        headers = [(k, v) for k, v in request.headers.multi_items() if k.lower() != "host"]
        body = await request.aread()
        try:
            response = await self._open().request(
                request.method, str(url), headers=headers, data=body or None,
                allow_redirects=False, timeout=self._timeout(request))
        except TimeoutError as error:
            raise httpx.ConnectTimeout("timed out", request=request) from error
        except aiohttp.ClientConnectionError as error:
            raise httpx.ConnectError(str(error), request=request) from error
        except aiohttp.ClientError as error:
            raise httpx.NetworkError(str(error), request=request) from error
        return httpx.Response(status_code=response.status,
                              headers=list(response.raw_headers),
                              stream=_ResponseStream(response), request=request)

    async def aclose(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None
