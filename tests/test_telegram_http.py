"""The aiohttp backend for python-telegram-bot and the message rate limiter, on their own.

Every bot test already runs on the backend against the fake Bot API (JSON posts, multipart
uploads, file downloads, long polling); these cover what those do not reach: the bodies'
shapes, timeouts, refused connections, the pool limit, and use before ``initialize``.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
import time
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest
from aiohttp import web
from telegram import Bot, ReplyParameters
from telegram.error import NetworkError, TimedOut
from telegram.ext import ExtBot

from bot.channels.telegram.http import AiohttpRequest, MessageRateLimiter
from tests.conftest import TELEGRAM_TOKEN as TOKEN
from tests.fakes.telegram_server import FakeTelegram


@contextlib.asynccontextmanager
async def serving(handler: Callable[[web.Request], Awaitable[web.Response]]
                  ) -> AsyncIterator[str]:
    """An HTTP server on 127.0.0.1 answering every path with ``handler``; yields its URL."""
    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", handler)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        await runner.cleanup()


@pytest.fixture
async def slow_server() -> AsyncIterator[tuple[str, list[float]]]:
    """A server whose every answer takes 0.5 s; yields its URL and when each request came."""
    arrivals: list[float] = []

    async def slow(request: web.Request) -> web.Response:
        arrivals.append(time.monotonic())
        await asyncio.sleep(0.5)
        return web.json_response({"ok": True, "result": True})

    async with serving(slow) as url:
        yield url, arrivals


async def test_a_bot_on_it_calls_the_bot_api(telegram: FakeTelegram) -> None:
    bot = Bot(TOKEN, base_url=f"{telegram.root}/bot", request=AiohttpRequest(4),
              get_updates_request=AiohttpRequest(1))
    async with bot:
        message = await bot.send_message(77, "hola <b>mundo</b>", parse_mode="HTML")

    assert message.chat.id == 77
    [sent] = telegram.sent_messages(77)
    assert sent.plain == "hola mundo"


async def test_requests_go_as_json_and_uploads_as_multipart() -> None:
    seen: list[tuple[str, str, bytes]] = []

    async def record(request: web.Request) -> web.Response:
        seen.append((request.match_info["tail"].rsplit("/", 1)[-1], request.content_type,
                     await request.read()))
        result = {"message_id": 9, "date": 0, "chat": {"id": 77, "type": "private"}}
        return web.json_response({"ok": True, "result": result})

    request = AiohttpRequest(2)
    await request.initialize()
    try:
        async with serving(record) as url:
            bot = Bot(TOKEN, base_url=f"{url}/bot", request=request)
            await bot.send_message(77, "hola & chau", reply_parameters=ReplyParameters(5))
            await bot.send_document(77, b"%PDF-1.4 lista", filename="lista.pdf")
    finally:
        await request.shutdown()

    (method, kind, body), (upload, upload_kind, _) = seen
    assert (method, kind) == ("sendMessage", "application/json")
    fields = json.loads(body)
    assert fields["chat_id"] == "77" and fields["text"] == "hola & chau"
    assert json.loads(fields["reply_parameters"])["message_id"] == 5
    assert (upload, upload_kind) == ("sendDocument", "multipart/form-data")


async def test_a_slow_answer_is_a_timeout(slow_server: tuple[str, list[float]]) -> None:
    url, _ = slow_server
    async with AiohttpRequest(1, read_timeout=0.1) as request:
        with pytest.raises(TimedOut):
            await request.post(f"{url}/botX/getMe")
        # A per-call read timeout overrides the default one.
        assert await request.post(f"{url}/botX/getMe", read_timeout=2.0) is True


async def test_a_closed_port_is_a_network_error() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    async with AiohttpRequest(1) as request:
        with pytest.raises(NetworkError) as raised:
            await request.post(f"http://127.0.0.1:{port}/botX/getMe")

    assert not isinstance(raised.value, TimedOut)
    assert "aiohttp." in str(raised.value)


async def test_requests_beyond_the_pool_wait_for_a_free_connection(
    slow_server: tuple[str, list[float]],
) -> None:
    url, arrivals = slow_server
    async with AiohttpRequest(2, pool_timeout=5.0) as request:
        results = await asyncio.gather(*(request.post(f"{url}/botX/getMe") for _ in range(4)))

    assert results == [True] * 4
    arrivals.sort()
    assert arrivals[2] - arrivals[0] >= 0.4  # the third waited for one of the first two


async def test_a_full_pool_past_the_pool_timeout_is_a_timeout(
    slow_server: tuple[str, list[float]],
) -> None:
    url, _ = slow_server
    async with AiohttpRequest(1, pool_timeout=0.1, connect_timeout=0.1) as request:
        first = asyncio.ensure_future(request.post(f"{url}/botX/getMe"))
        await asyncio.sleep(0.05)
        with pytest.raises(TimedOut):
            await request.post(f"{url}/botX/getMe")
        assert await first is True


async def test_it_must_be_initialized_first() -> None:
    request = AiohttpRequest(1)
    with pytest.raises(RuntimeError, match="not initialized"):
        await request.do_request("http://127.0.0.1:9/", "GET")
    async with request:
        pass
    with pytest.raises(RuntimeError, match="not initialized"):
        await request.do_request("http://127.0.0.1:9/", "GET")


async def test_the_rate_limiter_holds_messages_but_not_chat_actions(
    telegram: FakeTelegram,
) -> None:
    limiter = MessageRateLimiter(overall_max_rate=1, overall_time_period=1, max_retries=1)
    bot = ExtBot(TOKEN, base_url=f"{telegram.root}/bot", request=AiohttpRequest(8),
                 rate_limiter=limiter)
    async with bot:
        started = time.monotonic()
        messages = [asyncio.ensure_future(bot.send_message(88, f"mensaje {n}"))
                    for n in range(3)]
        await asyncio.sleep(0.05)
        assert await bot.send_chat_action(88, "typing") is True
        typing_took = time.monotonic() - started
        await asyncio.gather(*messages)
        messages_took = time.monotonic() - started

    assert typing_took < 0.5  # not queued behind the messages
    assert messages_took >= 1.5  # three messages at one a second
    assert [m.plain for m in telegram.sent_messages(88)] == [f"mensaje {n}" for n in range(3)]
