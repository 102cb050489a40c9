"""How the bot's requests reach the Bot API: PTB's networking backend on aiohttp, and the rate.

PTB's networking backend on aiohttp instead of httpx:

PTB's own backend (``HTTPXRequest``) costs about four times the CPU per Bot API request of an
aiohttp client on the same requests, and a bot makes two or three requests per answer (typing,
reply, its share of getUpdates): on one core that difference is most of what a question costs
the bot outside the model. PTB documents ``BaseRequest`` as the place to plug another client;
this class speaks to it as ``HTTPXRequest`` does (multipart uploads, the same timeouts, the
same errors), except that a request without files goes as a JSON body, which the Bot API
accepts as it does form fields ("application/json (except for uploading files)",
https://core.telegram.org/bots/api#making-requests): PTB writes that body with ``json.dumps``,
where form-encoding the same fields cost more than the rest of building the request.

The rate limiter holds messages to Telegram's limits and lets chat actions through.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Any, cast

import aiohttp
from telegram.error import NetworkError, TimedOut
from telegram.ext import AIORateLimiter
from telegram.request import BaseRequest, RequestData

#: PTB's defaults for ``HTTPXRequest``, in seconds (write timeouts are not enforced, see below).
CONNECT_TIMEOUT = 5.0
READ_TIMEOUT = 5.0
POOL_TIMEOUT = 1.0
#: Idle connections kept open for later requests.
KEEP_ALIVE = 15.0
JSON_HEADERS = {"Content-Type": "application/json"}


def _seconds(value: object, default: float | None) -> float | None:
    """A timeout argument as PTB passes it: DEFAULT_NONE means "this request's default"."""
    return default if value is BaseRequest.DEFAULT_NONE else cast(float | None, value)


class AiohttpRequest(BaseRequest):
    """Bot API requests through one ``aiohttp.ClientSession`` (made in ``initialize``).

    ``connection_pool_size`` caps the connections open at once; a request that finds them all
    busy waits up to ``pool_timeout`` for one. Write timeouts are not enforced: aiohttp has
    none, and the read timeout still bounds a request whose upload stalls.
    """

    __slots__ = ("_connect_timeout", "_pool_size", "_pool_timeout", "_read_timeout", "_session")

    def __init__(
        self,
        connection_pool_size: int = 1,
        *,
        read_timeout: float | None = READ_TIMEOUT,
        connect_timeout: float | None = CONNECT_TIMEOUT,
        pool_timeout: float | None = POOL_TIMEOUT,
    ) -> None:
        self._pool_size = connection_pool_size
        self._read_timeout = read_timeout
        self._connect_timeout = connect_timeout
        self._pool_timeout = pool_timeout
        self._session: aiohttp.ClientSession | None = None

    @property
    def read_timeout(self) -> float | None:
        return self._read_timeout

    async def initialize(self) -> None:
        if self._session is None or self._session.closed:
            connector = aiohttp.TCPConnector(limit=self._pool_size, limit_per_host=0,
                                             keepalive_timeout=KEEP_ALIVE)
            self._session = aiohttp.ClientSession(
                connector=connector, headers={"User-Agent": self.USER_AGENT})

    async def shutdown(self) -> None:
        if self._session is not None and not self._session.closed:
            await self._session.close()
        self._session = None

    def _timeout(self, read: object, connect: object, pool: object) -> aiohttp.ClientTimeout:
        read_s = _seconds(read, self._read_timeout)
        connect_s = _seconds(connect, self._connect_timeout)
        pool_s = _seconds(pool, self._pool_timeout)
        # aiohttp's `connect` covers waiting for a free pooled connection and opening a new one.
        acquire = None if connect_s is None or pool_s is None else connect_s + pool_s
        return aiohttp.ClientTimeout(total=None, connect=acquire, sock_connect=connect_s,
                                     sock_read=read_s)

    async def do_request(
        self,
        url: str,
        method: str,
        request_data: RequestData | None = None,
        read_timeout: float | None = BaseRequest.DEFAULT_NONE,
        write_timeout: float | None = BaseRequest.DEFAULT_NONE,
        connect_timeout: float | None = BaseRequest.DEFAULT_NONE,
        pool_timeout: float | None = BaseRequest.DEFAULT_NONE,
    ) -> tuple[int, bytes]:
        """The status code and body (see ``BaseRequest.do_request``); TimedOut or NetworkError."""
        if self._session is None or self._session.closed:
            raise RuntimeError("This AiohttpRequest is not initialized!")
        body: Any = None
        headers: dict[str, str] | None = None
        if request_data is not None:
            files = request_data.multipart_data
            if files:
                form = aiohttp.FormData(request_data.json_parameters)
                for name, (filename, content, mime_type) in files.items():
                    form.add_field(name, content, filename=filename, content_type=mime_type)
                body = form
            elif request_data.parameters:
                body, headers = request_data.json_payload, JSON_HEADERS
        timeout = self._timeout(read_timeout, connect_timeout, pool_timeout)
        try:
            async with self._session.request(method, url, data=body, headers=headers,
                                             timeout=timeout) as response:
                return response.status, await response.read()
        except TimeoutError as error:
            raise TimedOut from error
        except aiohttp.ClientError as error:
            raise NetworkError(f"aiohttp.{type(error).__name__}: {error}") from error


#: Requests that are decoration, not messages: chat actions and draft previews.
UNPACED = frozenset({"sendChatAction", "sendMessageDraft"})


class MessageRateLimiter(AIORateLimiter):
    """PTB's ``AIORateLimiter`` (30 a second overall, 20 a minute per group) for messages only.

    Telegram's limits are on messages; a chat action ("typing…") or a draft preview is
    decoration that only matters while an answer is being written, and queued behind messages
    it would show up late or after the answer itself. They go straight out: a 429 on one fails
    that request alone (and the caller drops it), while messages keep every limit and retry.
    Each answer paces its own drafts (``bot.channels.telegram.stream``).
    """

    async def process_request(
        self,
        callback: Callable[..., Coroutine[Any, Any, Any]],
        args: Any,
        kwargs: dict[str, Any],
        endpoint: str,
        data: dict[str, Any],
        rate_limit_args: int | None,
    ) -> Any:
        if endpoint in UNPACED:
            return await callback(*args, **kwargs)
        return await super().process_request(callback, args, kwargs, endpoint, data,
                                             rate_limit_args)
