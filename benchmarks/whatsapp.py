"""The bot as a WhatsApp-only ``kratos run`` in its own process, against the fake Graph API.

Like ``benchmarks.harness`` for Telegram: the bot is pinned to one core; the fake Graph API and
the fake model run in this process on the other. Questions arrive as signed webhook deliveries
(one message each, as Meta posts them) and an answer counts when its message reaches the fake
Graph API. Per question the bot also sends one "read + typing" request, as it does in service.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import socket
import sys
import time
from collections import defaultdict
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
from aiohttp import web

from benchmarks.common import ROOT, bench_env, pinned, scratch, split_cores
from benchmarks.harness import HEARD, START_TIMEOUT, BotProcess, question, tool_then_reply
from tests.fakes.openai_server import FakeOpenAI
from tests.fakes.whatsapp_server import (
    ACCESS_TOKEN,
    APP_SECRET,
    PHONE_NUMBER_ID,
    VERIFY_TOKEN,
    FakeWhatsApp,
)

WEBHOOK_PATH = "/whatsapp"


def customer(number: int) -> str:
    """A business-scoped user id for customer ``number``."""
    return f"PE.{1_000_000 + number}"


class TimedWhatsApp(FakeWhatsApp):
    """The fake Graph API, noting when each reply arrives (per customer, in order)."""

    def __init__(self) -> None:
        super().__init__()
        self.reply_times: dict[str, list[float]] = defaultdict(list)
        self.replies = 0
        self._arrived = asyncio.Event()
        self.hook = ""

    async def _messages(self, request: web.Request) -> web.Response:
        before = len(self.sent)
        response = await super()._messages(request)
        if len(self.sent) > before:
            self.reply_times[self.sent[-1].to].append(time.perf_counter())
            self.replies += 1
            self._arrived.set()
        return response

    async def wait_replies(self, count: int, timeout: float) -> None:
        """Wait until ``count`` replies arrived in all, or fail saying how many did."""
        deadline = time.perf_counter() + timeout
        while self.replies < count:
            self._arrived.clear()
            left = deadline - time.perf_counter()
            if left <= 0:
                raise RuntimeError(f"expected {count} replies within {timeout:.0f} s, "
                                   f"got {self.replies}")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._arrived.wait(), left)

    async def ask(self, number: int, text: str) -> float:
        """Deliver one question from customer ``number``; returns when the POST began."""
        started = time.perf_counter()
        delivered = await self.deliver(self.hook, self.delivery(self.text(customer(number),
                                                                          text)))
        if delivered.status != 200:
            raise RuntimeError(f"the webhook answered {delivered.status}")
        return started

    def forget_calls(self) -> None:
        self.sent.clear()
        self.typing.clear()
        self.requests.clear()


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


async def _until_listening(url: str, process: asyncio.subprocess.Process) -> None:
    params = {"hub.mode": "subscribe", "hub.verify_token": VERIFY_TOKEN, "hub.challenge": "1"}
    deadline = time.perf_counter() + START_TIMEOUT
    async with aiohttp.ClientSession() as session:
        while time.perf_counter() < deadline:
            if process.returncode is not None:
                raise RuntimeError("the bot exited while starting")
            with contextlib.suppress(aiohttp.ClientError):
                async with session.get(url, params=params) as response:
                    if response.status == 200:
                        return
            await asyncio.sleep(0.1)
    raise RuntimeError("the bot's WhatsApp webhook did not come up")


async def start_bot(fake: TimedWhatsApp, model: FakeOpenAI, catalog: Path, *,
                    workdir: Path) -> BotProcess:
    """``kratos run`` with WhatsApp only, on its own core; returns once its webhook answers."""
    core, _ = split_cores()
    port = _free_port()
    env = bench_env(
        WHATSAPP_ACCESS_TOKEN=ACCESS_TOKEN, WHATSAPP_PHONE_NUMBER_ID=PHONE_NUMBER_ID,
        WHATSAPP_APP_SECRET=APP_SECRET, WHATSAPP_VERIFY_TOKEN=VERIFY_TOKEN,
        WHATSAPP_API_BASE_URL=fake.root, WHATSAPP_WEBHOOK_PATH=WEBHOOK_PATH,
        WEBHOOK_LISTEN="127.0.0.1", WEBHOOK_PORT=str(port),
        OPENAI_API_KEY=model.api_key, OPENAI_BASE_URL=model.base_url,
        CATALOG_DB=str(catalog), STATE_DB=str(workdir / "state.db"), LOG_LEVEL="WARNING",
        RATE_LIMIT_MESSAGES="1000000", PYTHONPATH=str(ROOT),
    )

    def pin() -> None:
        if core is not None:
            os.sched_setaffinity(0, {core})

    log = workdir / "bot.log"
    with log.open("wb") as sink:
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "benchmarks.launch", env=env, cwd=workdir,
            stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.DEVNULL, stderr=sink,
            preexec_fn=pin)
    bot = BotProcess(process, log, workdir, False, core)
    fake.hook = f"http://127.0.0.1:{port}{WEBHOOK_PATH}"
    try:
        await _until_listening(fake.hook, process)
    except RuntimeError as error:
        await bot.stop()
        raise RuntimeError(f"{error}:\n{bot.log_tail()}") from None
    return bot


@contextlib.asynccontextmanager
async def running_bot(catalog: Path) -> AsyncIterator[tuple[TimedWhatsApp, BotProcess]]:
    """The fakes plus a started WhatsApp bot; everything stopped afterwards."""
    _, others = split_cores()
    workdir = scratch("whatsapp")
    with pinned(others):
        async with TimedWhatsApp() as fake, FakeOpenAI() as model:
            model.responder(tool_then_reply())
            model.transcription(HEARD, default=True)
            bot = await start_bot(fake, model, catalog, workdir=workdir)
            try:
                yield fake, bot
            finally:
                await bot.stop()
    if bot.process.returncode not in (0, None):
        raise RuntimeError(f"the bot exited with {bot.process.returncode}:\n{bot.log_tail()}")
    shutil.rmtree(workdir, ignore_errors=True)


async def one_by_one(fake: TimedWhatsApp, customers: range, count: int, *,
                     timeout: float = 30) -> list[float]:
    """Ask ``count`` questions one at a time; each one's time from delivery to reply."""
    latencies: list[float] = []
    for number in range(count):
        who = customers[number % len(customers)]
        base = fake.replies
        asked = await fake.ask(who, question(number))
        await fake.wait_replies(base + 1, timeout)
        latencies.append(fake.reply_times[customer(who)][-1] - asked)
    return latencies


async def flood(fake: TimedWhatsApp, customers: range, per_customer: int, *,
                timeout: float) -> float:
    """Deliver ``per_customer`` questions from every customer at once (in order per customer,
    concurrently across customers); the wall time until the last reply."""
    base = fake.replies
    started = time.perf_counter()

    async def one_customer(who: int) -> None:
        for round_ in range(per_customer):
            await fake.ask(who, question(round_))

    await asyncio.gather(*(one_customer(who) for who in customers))
    await fake.wait_replies(base + len(customers) * per_customer, timeout)
    return time.perf_counter() - started

