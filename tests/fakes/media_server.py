"""A small HTTP server on 127.0.0.1 serving recordings, pages and redirects, for link tests.

It records every request and, for each path, how many body bytes it managed to send and whether
it sent them all (a client that stops reading early leaves ``completed`` False).
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from aiohttp import web

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@dataclass
class Served:
    """What the server sent for one path."""

    requests: int = 0
    bytes_sent: int = 0
    completed: bool = False
    headers: list[dict[str, str]] = field(default_factory=list)


class MediaServer:
    """Use as ``async with MediaServer() as media``; add content with the ``add_*`` methods."""

    def __init__(self) -> None:
        self.served: dict[str, Served] = {}
        self._routes: dict[str, Handler] = {}
        self._runner: web.AppRunner | None = None
        self.port = 0

    async def __aenter__(self) -> MediaServer:
        app = web.Application()
        app.router.add_route("*", "/{path:.*}", self._handle)
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.5)
        await self._runner.setup()
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", 0))
        self.port = sock.getsockname()[1]
        await web.SockSite(self._runner, sock).start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    def url(self, path: str, host: str = "127.0.0.1") -> str:
        return f"http://{host}:{self.port}/{path.lstrip('/')}"

    @property
    def total_requests(self) -> int:
        return sum(s.requests for s in self.served.values())

    def add_file(self, path: str, data: bytes, content_type: str, *, declare_length: bool = True,
                 chunk: int = 16 * 1024, pause: float = 0.0,
                 headers: dict[str, str] | None = None) -> None:
        """Serve ``data`` in chunks; without ``declare_length`` it is sent chunked."""

        async def handler(request: web.Request) -> web.StreamResponse:
            served = self.served[path]
            response = web.StreamResponse(headers={"Content-Type": content_type,
                                                   **(headers or {})})
            if declare_length:
                response.content_length = len(data)
            else:
                response.enable_chunked_encoding()
            await response.prepare(request)
            try:
                for start in range(0, len(data), chunk):
                    await response.write(data[start:start + chunk])
                    served.bytes_sent += len(data[start:start + chunk])
                    if pause:
                        await asyncio.sleep(pause)
                await response.write_eof()
            except (ConnectionError, RuntimeError):
                return response
            served.completed = True
            return response

        self._routes[path] = handler

    def add_redirect(self, path: str, location: str, status: int = 302) -> None:
        async def handler(request: web.Request) -> web.StreamResponse:
            return web.Response(status=status, headers={"Location": location})

        self._routes[path] = handler

    def add_page(self, path: str, html: str) -> None:
        async def handler(request: web.Request) -> web.StreamResponse:
            return web.Response(text=html, content_type="text/html")

        self._routes[path] = handler

    def add_slow(self, path: str, seconds: float) -> None:
        async def handler(request: web.Request) -> web.StreamResponse:
            await asyncio.sleep(seconds)
            return web.Response(body=b"late", content_type="audio/mpeg")

        self._routes[path] = handler

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        path = request.match_info["path"]
        served = self.served.setdefault(path, Served())
        served.requests += 1
        served.headers.append(dict(request.headers))
        handler = self._routes.get(path)
        if handler is None:
            return web.Response(status=404, text="not found")
        return await handler(request)
