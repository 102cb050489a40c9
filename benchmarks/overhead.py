"""Figure 1: what the bot itself costs per text question, through the whole path.

Update queued on the fake Bot API -> getUpdates long poll -> PTB -> handler -> assistant core ->
fake model (run_sql call) -> SQL guard and catalog -> fake model (reply) -> memory and usage
written -> sendMessage received by the fake Bot API. The fake model answers at once, so every
millisecond measured is the bot's (plus the fakes' own handling, on the other core).

Each run starts a fresh bot, warms it up, then:

* latency: questions one at a time (the next is queued when the previous reply arrived), so
  nothing waits behind anything; added latency = reply received - question queued;
* throughput: all questions queued at once (200 users, in order per user); updates per second
  = questions / (last reply - first question queued). The bot's CPU time over that stretch
  (all its threads, from /proc) gives the CPU cost per update and so what one core sustains.
"""

from __future__ import annotations

import asyncio
import json
import os
import statistics
import sys
import time
from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp
from openai import AsyncOpenAI, DefaultAioHttpClient

from benchmarks import whatsapp
from benchmarks.common import (
    ROOT,
    Figure,
    Metric,
    ensure_catalog,
    load_average,
    ms,
    percentile,
    pinned,
    self_cpu_seconds,
    split_cores,
    thread_cpu_seconds,
)
from benchmarks.harness import MODEL_CALLS_PER_QUESTION, flood, one_by_one, running_bot

NAME = "overhead"
TITLE = "1. Overhead"
GOAL_RATE = 300.0
GOAL_P50_MS = 5.0
USERS = 200
WARM_UP = 100


async def _limited_run(questions: int, one_at_a_time: int) -> dict[str, float]:
    catalog, _ = ensure_catalog(500)
    async with running_bot(catalog, flood_limit=False) as (telegram, _model, bot):
        await one_by_one(telegram, range(900_001, 900_021), WARM_UP)
        latencies = await one_by_one(telegram, range(100_001, 100_001 + USERS), one_at_a_time)
        telegram.forget_calls()
        await asyncio.sleep(0.5)
        cpu_before, threads_before = bot.cpu_seconds(), thread_cpu_seconds(bot.pid)
        runner_before, started = self_cpu_seconds(), time.perf_counter()
        wall, _ = await flood(telegram, range(1, USERS + 1), questions // USERS,
                              timeout=max(120.0, questions / 5))
        elapsed = time.perf_counter() - started
        cpu = bot.cpu_seconds() - cpu_before
        threads = {name: seconds - threads_before.get(name, 0.0)
                   for name, seconds in thread_cpu_seconds(bot.pid).items()}
        runner = self_cpu_seconds() - runner_before
        memory = bot.memory_mb()
    done = USERS * (questions // USERS)
    return {
        "p50_ms": ms(percentile(latencies, 0.50)),
        "p99_ms": ms(percentile(latencies, 0.99)),
        "mean_ms": ms(statistics.fmean(latencies)),
        "rate": done / wall,
        "cpu_ms_per_update": ms(cpu / done),
        "loop_thread_cpu_ms_per_update": ms(threads.get("main (event loop)", 0.0) / done),
        "bot_core_busy": cpu / elapsed,
        "fakes_core_busy": runner / elapsed,
        "rss_mb": memory.get("VmRSS", 0.0),
    }


async def _whatsapp_run(questions: int, one_at_a_time: int) -> dict[str, float]:
    """The same measurements through the WhatsApp channel: signed webhook deliveries in,
    pywa's sends (and one "read + typing" request per question) out."""
    catalog, _ = ensure_catalog(500)
    async with whatsapp.running_bot(catalog) as (fake, bot):
        await whatsapp.one_by_one(fake, range(900_001, 900_021), WARM_UP)
        latencies = await whatsapp.one_by_one(fake, range(100_001, 100_001 + USERS),
                                              one_at_a_time)
        fake.forget_calls()
        await asyncio.sleep(0.5)
        cpu_before, started = bot.cpu_seconds(), time.perf_counter()
        wall = await whatsapp.flood(fake, range(1, USERS + 1), questions // USERS,
                                    timeout=max(120.0, questions / 5))
        cpu = bot.cpu_seconds() - cpu_before
        elapsed = time.perf_counter() - started
    done = USERS * (questions // USERS)
    return {
        "p50_ms": ms(percentile(latencies, 0.50)),
        "p99_ms": ms(percentile(latencies, 0.99)),
        "rate": done / wall,
        "cpu_ms_per_update": ms(cpu / done),
        "bot_core_busy": cpu / elapsed,
    }


async def _shipped_run(questions: int) -> float:
    """Throughput with the rate limiter as shipped (Telegram's 30 messages/s)."""
    catalog, _ = ensure_catalog(500)
    async with running_bot(catalog, flood_limit=True) as (telegram, _model, _bot):
        await one_by_one(telegram, range(900_001, 900_011), 10)
        await asyncio.sleep(1.5)  # let the limiter's bucket refill after the warm-up
        wall, _ = await flood(telegram, range(1, questions + 1), 1, timeout=questions)
    return questions / wall


async def _client_costs(calls: int) -> dict[str, float]:
    """CPU per request of the HTTP clients a model call can go through, outside the bot.

    The fake model runs in its own process on the other core; this process, on the bot's
    core, sends a two-message chat request (system prompt of the demo's size) ``calls`` times:
    as the bot does (the SDK's ``client.post`` over its aiohttp transport, the JSON back
    untyped), as a plain aiohttp
    POST of the same JSON, and as the SDK's ``chat.completions.create`` over its default httpx
    client (how the bot made model calls before).
    """
    bot_core, other_cores = split_cores()
    server = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "tests.fakes.openai_server", "--port", "0", "--reply", "hola",
        cwd=ROOT, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.DEVNULL,
        preexec_fn=(lambda: os.sched_setaffinity(0, other_cores)) if bot_core is not None
        else None)
    try:
        assert server.stdout is not None
        banner = (await asyncio.wait_for(server.stdout.readline(), 30)).decode()
        base_url = banner.split(" on ", 1)[1].split(" ", 1)[0]
        messages = [{"role": "system", "content": "x " * 1700},
                    {"role": "user", "content": "¿cuál es la laptop más barata?"}]
        body = {"model": "gpt-4.1-mini", "messages": messages}
        headers = {"Authorization": "Bearer test-key", "Content-Type": "application/json"}
        as_bot = AsyncOpenAI(api_key="test-key", base_url=base_url, max_retries=0,
                             http_client=DefaultAioHttpClient())
        before = AsyncOpenAI(api_key="test-key", base_url=base_url, max_retries=0)

        async def plain_post(session: aiohttp.ClientSession) -> None:
            async with session.post(f"{base_url}/chat/completions", data=json.dumps(body),
                                    headers=headers) as response:
                await response.read()

        costs: dict[str, float] = {}
        with pinned({bot_core} if bot_core is not None else other_cores):
            async with as_bot, before, aiohttp.ClientSession() as session:
                ways: dict[str, Callable[[], Awaitable[Any]]] = {
                    "bot_model_call_ms": lambda: as_bot.post(
                        "/chat/completions", cast_to=object, body=body),
                    "aiohttp_post_ms": lambda: plain_post(session),
                    "sdk_create_httpx_ms": lambda: before.chat.completions.create(
                        model="gpt-4.1-mini", messages=messages),  # type: ignore[arg-type]
                }
                for name, call in ways.items():
                    for round_ in range(2):  # the first round warms connections up
                        started = self_cpu_seconds()
                        for _ in range(calls):
                            await call()
                        if round_:
                            costs[name] = ms((self_cpu_seconds() - started) / calls)
        return costs
    finally:
        server.terminate()
        await server.wait()


def run(quick: bool = False) -> Figure:
    runs = 1 if quick else 3
    questions = 400 if quick else 2000
    # One at a time is slow by design; 1,000 of them give a steady p99 in half the time.
    one_at_a_time = 200 if quick else 1000
    shipped_questions = 60 if quick else 300
    figure = Figure(NAME, TITLE)
    figure.details["load_average_before"] = load_average()
    results = [asyncio.run(_limited_run(questions, one_at_a_time)) for _ in range(runs)]
    shipped = [asyncio.run(_shipped_run(shipped_questions)) for _ in range(runs)]
    clients = [asyncio.run(_client_costs(100 if quick else 300)) for _ in range(runs)]
    on_whatsapp = [asyncio.run(_whatsapp_run(questions, one_at_a_time)) for _ in range(runs)]
    figure.details["load_average_after"] = load_average()
    figure.details["runs"] = [{k: round(v, 3) for k, v in r.items()} for r in results]
    figure.details["whatsapp_runs"] = [{k: round(v, 3) for k, v in r.items()}
                                       for r in on_whatsapp]

    def column(key: str) -> list[float]:
        return [r[key] for r in results]

    rates = column("rate")
    p50 = column("p50_ms")
    figure.metrics += [
        Metric("throughput, rate limiter off", "updates/s", rates, goal=f">= {GOAL_RATE:.0f}/s",
               met=statistics.median(rates) >= GOAL_RATE),
        Metric("bot CPU per update (all threads)", "ms", column("cpu_ms_per_update")),
        Metric("one-core capacity (1 / CPU per update)", "updates/s",
               [1000 / c for c in column("cpu_ms_per_update")]),
        Metric("added latency p50 (one at a time)", "ms", p50, goal=f"< {GOAL_P50_MS:.0f} ms",
               met=statistics.median(p50) < GOAL_P50_MS),
        Metric("added latency p99 (one at a time)", "ms", column("p99_ms")),
        Metric("throughput as shipped (30 messages/s limiter)", "updates/s", shipped),
        Metric("WhatsApp: bot CPU per question (all threads)", "ms",
               [r["cpu_ms_per_update"] for r in on_whatsapp]),
        Metric("WhatsApp: added latency p50 (one at a time)", "ms",
               [r["p50_ms"] for r in on_whatsapp]),
        Metric("WhatsApp: added latency p99 (one at a time)", "ms",
               [r["p99_ms"] for r in on_whatsapp]),
        Metric("WhatsApp: throughput (deliveries at once)", "questions/s",
               [r["rate"] for r in on_whatsapp]),
        Metric("for scale: one model call as the bot makes it, client CPU", "ms",
               [c["bot_model_call_ms"] for c in clients]),
        Metric("for scale: the same request as a plain aiohttp POST", "ms",
               [c["aiohttp_post_ms"] for c in clients]),
        Metric("for scale: the same through chat.completions.create on httpx", "ms",
               [c["sdk_create_httpx_ms"] for c in clients]),
    ]
    figure.notes.append(
        f"{one_at_a_time:,} questions per run for latency and {USERS * (questions // USERS):,} "
        f"for throughput, {runs} runs, each on a fresh bot after {WARM_UP} warm-up questions; "
        f"the fake model answers each question with {MODEL_CALLS_PER_QUESTION} call "
        "(run_sql with the reply's words) and no delay. The bot runs as `kratos run` in its "
        "own process pinned to one core (its aiosqlite and worker threads share that core); "
        "the fake servers run in the benchmark process on the other core. 'As shipped' is "
        f"{shipped_questions} questions from as many users at once, with the Application's "
        "rate limiter as built by build_application (30 messages a second). The WhatsApp rows "
        "run the same questions, users and model through a WhatsApp-only `kratos run`: each "
        "question a signed webhook delivery posted to it (latency from the POST to the reply "
        "reaching the fake Graph API), each answer one pywa send plus one read-and-typing "
        "request; the Cloud API has no client-side rate limiter to switch off.")
    return figure
