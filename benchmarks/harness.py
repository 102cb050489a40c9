"""The bot in its own process against the fake Bot API and fake OpenAI in this one.

The bot runs as ``kratos run`` (see ``benchmarks/launch.py``) with its settings pointing at the
two fakes on 127.0.0.1, pinned to one core; the fakes run in the benchmark's event loop, on the
other core, so their work never shows up in the bot's CPU time or steals its core.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shutil
import signal
import sys
import time
import uuid
from collections import defaultdict
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from benchmarks.common import (
    ROOT,
    bench_env,
    pinned,
    proc_cpu_seconds,
    proc_memory_mb,
    scratch,
    split_cores,
)
from tests.fakes.openai_server import FakeOpenAI, Reply, ToolCalls
from tests.fakes.telegram_server import FakeTelegram

TOKEN = "123:BENCH"
START_TIMEOUT = 60.0

#: What the fake model does for every question: one run_sql call carrying the reply's words,
#: so the bot answers from the rows without a second call. The query is a typical one (category
#: filter, price order, LIMIT).
FIXED_SQL = ("SELECT name, price, availability FROM products WHERE category = 'Laptops' "
             "ORDER BY price ASC LIMIT 5")
FIXED_REPLY = "Estas son las laptops más baratas que tenemos ahora mismo."
FIXED_WORDS = {"intro": "Estas son las laptops más baratas que tenemos ahora mismo:",
               "empty_reply": "No tenemos laptops ahora mismo."}
MODEL_CALLS_PER_QUESTION = 1

#: What the fake speech-to-text hears in every voice note.
HEARD = "¿cuál es la laptop más barata?"

QUESTIONS = (
    "¿cuál es la laptop más barata?",
    "cinco laptops baratas",
    "¿tienen laptops Lenovo?",
    "quiero una laptop para la universidad",
    "¿y la más barata disponible?",
)


def question(number: int) -> str:
    return QUESTIONS[number % len(QUESTIONS)]


def answer_from_rows(sql: str = FIXED_SQL) -> Callable[[dict[str, Any]], ToolCalls]:
    """A model that answers every question with one ``run_sql`` call carrying its words."""

    def respond(body: dict[str, Any]) -> ToolCalls:
        call_id = f"call_{uuid.uuid4().hex[:24]}"
        arguments = json.dumps({"query": sql, **FIXED_WORDS}, ensure_ascii=False)
        return ToolCalls([("run_sql", arguments, call_id)])

    return respond


def answer_from_rows_varied() -> Callable[[dict[str, Any]], ToolCalls]:
    """Like ``answer_from_rows``, but every call writes a statement never seen before.

    The bot remembers the statements its SQL guard accepted; with this model none is found
    there, so every answer pays the whole check, as when every customer asks something else.
    """
    calls = 0

    def respond(body: dict[str, Any]) -> ToolCalls:
        nonlocal calls
        calls += 1
        sql = ("SELECT name, price, availability FROM products WHERE category = 'Laptops' "
               f"AND price > {calls % 100_000} ORDER BY price ASC LIMIT 5")
        return answer_from_rows(sql)(body)

    return respond


def tool_then_reply(sql: str = FIXED_SQL, text: str = FIXED_REPLY
                    ) -> Callable[[dict[str, Any]], Reply | ToolCalls]:
    """A model that always asks for the rows of ``sql`` once and then answers ``text``."""

    def respond(body: dict[str, Any]) -> Reply | ToolCalls:
        messages = body.get("messages") or []
        if messages and messages[-1].get("role") == "tool":
            return Reply(text)
        call_id = f"call_{uuid.uuid4().hex[:24]}"
        return ToolCalls([("run_sql", json.dumps({"query": sql}), call_id)])

    return respond


class TimedTelegram(FakeTelegram):
    """The fake Bot API, noting when each sendMessage arrives (per chat, in order)."""

    def __init__(self) -> None:
        super().__init__(TOKEN)
        self.reply_times: dict[int, list[float]] = defaultdict(list)
        self.draft_times: dict[int, list[float]] = defaultdict(list)
        self.replies = 0

    async def _m_sendmessage(self, params: dict[str, Any], files: dict[str, Any]) -> Any:
        # When the reply reached the server, not when this fake finished checking its HTML:
        # under a burst that check queues up here, and the real Bot API has no such queue.
        arrived = time.perf_counter()
        result = await super()._m_sendmessage(params, files)
        self.reply_times[int(params["chat_id"])].append(arrived)
        self.replies += 1
        return result

    async def _m_sendmessagedraft(self, params: dict[str, Any], files: dict[str, Any]) -> Any:
        arrived = time.perf_counter()  # as for sendMessage
        result = await super()._m_sendmessagedraft(params, files)
        if params.get("text"):
            self.draft_times[int(params["chat_id"])].append(arrived)
        return result

    async def wait_replies(self, count: int, timeout: float) -> None:
        """Wait until ``count`` replies arrived in all, or fail saying how many did."""
        try:
            await self._wait_until(lambda: self.replies >= count, timeout)
        except TimeoutError:
            raise RuntimeError(f"expected {count} replies within {timeout:.0f} s, "
                               f"got {self.replies}") from None

    async def wait_for(self, ready: Callable[[], bool], timeout: float) -> None:
        """Wait until ``ready()`` holds; it is checked after every Bot API call."""
        await self._wait_until(ready, timeout)

    def ask(self, chat_id: int, text: str) -> float:
        """Queue a private text message from user ``chat_id``; returns when it became available."""
        self.push_text(chat_id, chat_id, text)
        return time.perf_counter()

    def forget_calls(self) -> None:
        """Drop the call log, so a long run does not grow the benchmark's own memory."""
        self.calls.clear()
        self.messages.clear()


@dataclass
class BotProcess:
    """``kratos run`` in a child process."""

    process: asyncio.subprocess.Process
    log: Path
    workdir: Path
    flood_limit: bool
    core: int | None
    extra: dict[str, str] = field(default_factory=dict)

    @property
    def pid(self) -> int:
        return self.process.pid

    def cpu_seconds(self) -> float:
        return proc_cpu_seconds(self.pid)

    def memory_mb(self) -> dict[str, float]:
        return proc_memory_mb(self.pid)

    async def stop(self) -> None:
        if self.process.returncode is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                await asyncio.wait_for(self.process.wait(), 30)
            except TimeoutError:
                self.process.kill()
                await self.process.wait()

    def log_tail(self, lines: int = 20) -> str:
        with contextlib.suppress(OSError):
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        return ""


async def start_bot(telegram: TimedTelegram, model: FakeOpenAI, catalog: Path, *,
                    flood_limit: bool, launch_args: tuple[str, ...] = (),
                    workdir: Path | None = None, **settings: str) -> BotProcess:
    """Start the bot on its own core with a fresh state database; return once it is polling."""
    workdir = workdir or scratch("bot")
    core, _ = split_cores()
    env = bench_env(
        TELEGRAM_BOT_TOKEN=TOKEN, TELEGRAM_API_BASE_URL=telegram.root,
        OPENAI_API_KEY=model.api_key, OPENAI_BASE_URL=model.base_url,
        CATALOG_DB=str(catalog), STATE_DB=str(workdir / "state.db"), LOG_LEVEL="WARNING",
        RATE_LIMIT_MESSAGES="1000000", PYTHONPATH=str(ROOT),
        **settings,
    )
    args = [sys.executable, "-m", "benchmarks.launch", *launch_args]
    if not flood_limit:
        args.append("--no-flood-limit")

    def pin() -> None:
        if core is not None:
            os.sched_setaffinity(0, {core})

    log = workdir / "bot.log"
    with log.open("wb") as sink:
        process = await asyncio.create_subprocess_exec(
            *args, env=env, cwd=workdir, stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.DEVNULL, stderr=sink, preexec_fn=pin,
        )
    bot = BotProcess(process, log, workdir, flood_limit, core, dict(settings))
    polling = asyncio.ensure_future(telegram.wait_for_calls("getUpdates", 1, START_TIMEOUT))
    exited = asyncio.ensure_future(process.wait())
    done, _ = await asyncio.wait({polling, exited}, return_when=asyncio.FIRST_COMPLETED)
    if exited in done:
        polling.cancel()
        raise RuntimeError(f"the bot exited while starting:\n{bot.log_tail()}")
    exited.cancel()
    polling.result()
    return bot


@contextlib.asynccontextmanager
async def fakes(latency: float = 0.0, tokens_per_second: float = 0.0
                ) -> AsyncIterator[tuple[TimedTelegram, FakeOpenAI]]:
    """Both fake servers, in this process, kept off the bot's core.

    ``latency`` is each model call's delay (for a stream, to its first token) and
    ``tokens_per_second`` a stream's pace.
    """
    _, others = split_cores()
    with pinned(others):
        async with TimedTelegram() as telegram, FakeOpenAI(
                latency=latency, tokens_per_second=tokens_per_second) as model:
            model.responder(answer_from_rows())
            model.transcription(HEARD, default=True)
            yield telegram, model


@contextlib.asynccontextmanager
async def running_bot(catalog: Path, *, latency: float = 0.0, flood_limit: bool = False,
                      launch_args: tuple[str, ...] = (), workdir: Path | None = None,
                      tokens_per_second: float = 0.0, **settings: str
                      ) -> AsyncIterator[tuple[TimedTelegram, FakeOpenAI, BotProcess]]:
    """Fakes plus a started bot; everything is stopped afterwards.

    The bot's folder (state database, log) is removed when the run ends normally and kept,
    for its log, when it fails.
    """
    async with fakes(latency, tokens_per_second) as (telegram, model):
        bot = await start_bot(telegram, model, catalog, flood_limit=flood_limit,
                              launch_args=launch_args, workdir=workdir, **settings)
        try:
            yield telegram, model, bot
        except BaseException:
            await bot.stop()
            raise
        await bot.stop()
        if bot.process.returncode not in (0, None):
            raise RuntimeError(f"the bot exited with {bot.process.returncode}:\n{bot.log_tail()}")
        shutil.rmtree(bot.workdir, ignore_errors=True)


async def flood(telegram: TimedTelegram, users: range, per_user: int, *, timeout: float
                ) -> tuple[float, list[float]]:
    """Queue ``per_user`` questions from every user at once; wait for every reply.

    Returns the wall time from the first question queued to the last reply, and each
    question's time from being queued to its reply.
    """
    base = telegram.replies
    sent: dict[int, list[float]] = defaultdict(list)
    first_reply = {user: len(telegram.reply_times[user]) for user in users}
    started = time.perf_counter()
    for round_ in range(per_user):
        for user in users:
            sent[user].append(telegram.ask(user, question(round_)))
    await telegram.wait_replies(base + len(users) * per_user, timeout)
    last = 0.0
    latencies: list[float] = []
    for user in users:
        replies = telegram.reply_times[user][first_reply[user]:]
        for asked, answered in zip(sent[user], replies, strict=False):
            latencies.append(answered - asked)
            last = max(last, answered)
    return last - started, latencies


async def one_by_one(telegram: TimedTelegram, users: range, count: int, *, timeout: float = 30
                     ) -> list[float]:
    """Ask ``count`` questions one at a time (round-robin over ``users``); per-question latency."""
    latencies: list[float] = []
    for number in range(count):
        user = users[number % len(users)]
        base = telegram.replies
        asked = telegram.ask(user, question(number))
        await telegram.wait_replies(base + 1, timeout)
        latencies.append(telegram.reply_times[user][-1] - asked)
    return latencies
