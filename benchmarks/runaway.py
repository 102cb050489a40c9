"""Figure 9: runaway SQL. Nobody waits longer than the time limit plus half a second behind it.

First, through the real bot: two users whose model writes runaway SQL keep asking (each asks
again as soon as it is answered), and a third user asks ordinary questions one at a time; the
figure is that user's p99 answer time. Two pairs of runaways: both users with eight ``instr``
calls on strings grown by nested ``replace`` (what held both connections for 45 s before), and
both with a four-way cross join (each holds its connection for the whole time limit; the
ordinary user finds the third of the ``SQL_CONNECTIONS`` free). Second, in this process: every
statement of the amplification corpus (``tests/hostile_sql.py``) on a fenced ``CatalogReader``
with the shipped settings; the figure is the longest time one of them held its connection.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import statistics
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

from benchmarks.common import Figure, Metric, ensure_catalog, load_average, percentile
from benchmarks.harness import FIXED_REPLY, FIXED_SQL, TimedTelegram, question, running_bot
from bot.catalog.reader import CatalogReader
from bot.settings import Settings
from tests.fakes.openai_server import Reply, ToolCalls
from tests.hostile_sql import AMPLIFICATION

NAME = "runaway"
TITLE = "9. Runaway SQL"
SQL_TIMEOUT = Settings().sql_timeout
GOAL_S = SQL_TIMEOUT + 0.5
CROSS_JOIN = "SELECT count(*) FROM products a, products b, products c, products d"
GROWN_INSTR = next(entry.sql for entry in AMPLIFICATION if entry.label == "instr-grown-x8")
RUNAWAY_USERS = (700_001, 700_002)
ORDINARY_USER = 700_100


def _responder(runaway_sql: str) -> Callable[[dict[str, Any]], Reply | ToolCalls]:
    """A model that writes ``runaway_sql`` for the runaway users, the usual query for others."""

    def respond(body: dict[str, Any]) -> Reply | ToolCalls:
        messages = body.get("messages") or []
        if messages and messages[-1].get("role") == "tool":
            return Reply(FIXED_REPLY)
        asked = next((str(m.get("content")) for m in reversed(messages)
                      if m.get("role") == "user"), "")
        sql = runaway_sql if any(f"#{user}" in asked for user in RUNAWAY_USERS) else FIXED_SQL
        call_id = f"call_{uuid.uuid4().hex[:24]}"
        return ToolCalls([("run_sql", json.dumps({"query": sql}), call_id)])

    return respond


async def _ask(telegram: TimedTelegram, user: int, text: str) -> float:
    """Ask one question as ``user`` and wait for its answer; seconds until it came."""
    answered = len(telegram.reply_times[user])
    asked = telegram.ask(user, text)
    await telegram.wait_for(lambda: len(telegram.reply_times[user]) > answered, 60)
    return telegram.reply_times[user][answered] - asked


async def _keep_asking(telegram: TimedTelegram, user: int, stop: asyncio.Event) -> int:
    """Ask again as soon as the last question is answered, until ``stop``; questions asked."""
    asked = 0
    while not stop.is_set():
        await _ask(telegram, user, f"consulta #{user}")
        asked += 1
    return asked


async def _ordinary_p99(catalog: Path, runaway_sql: str, questions: int) -> dict[str, float]:
    async with running_bot(catalog) as (telegram, model, _bot):
        model.responder(_responder(runaway_sql))
        for number in range(3):  # warm-up
            await _ask(telegram, ORDINARY_USER, question(number))
        stop = asyncio.Event()
        runaways = [asyncio.create_task(_keep_asking(telegram, user, stop))
                    for user in RUNAWAY_USERS]
        await asyncio.sleep(0.5)  # both runaways are running before the first question
        latencies = [await _ask(telegram, ORDINARY_USER, question(number))
                     for number in range(questions)]
        stop.set()
        asked = await asyncio.gather(*runaways)
    return {"p99_s": percentile(latencies, 0.99), "p50_s": percentile(latencies, 0.5),
            "max_s": max(latencies), "runaway_questions": float(sum(asked))}


async def _held(catalog: Path) -> dict[str, float]:
    """Seconds each corpus statement held its connection (the longest of three tries)."""
    settings = Settings()
    reader = await CatalogReader.open(
        catalog, timeout=settings.sql_timeout, max_rows=settings.sql_max_rows,
        heap_bytes=settings.sql_memory_mb * 2**20, connections=settings.sql_connections,
    )
    held: dict[str, float] = {}
    try:
        for entry in AMPLIFICATION:
            for _ in range(3):
                started = time.perf_counter()
                with contextlib.suppress(Exception):
                    await reader.run(entry.sql)
                held[entry.label] = max(held.get(entry.label, 0.0),
                                        time.perf_counter() - started)
    finally:
        await reader.close()
    return held


def run(quick: bool = False) -> Figure:
    runs = 1 if quick else 3
    questions = 20 if quick else 60
    figure = Figure(NAME, TITLE)
    figure.details["load_average_before"] = load_average()
    catalog, _ = ensure_catalog(500)
    grown = [asyncio.run(_ordinary_p99(catalog, GROWN_INSTR, questions)) for _ in range(runs)]
    cross = [asyncio.run(_ordinary_p99(catalog, CROSS_JOIN, questions)) for _ in range(runs)]
    held = [asyncio.run(_held(catalog)) for _ in range(runs)]
    worst = [max(run_.values()) for run_ in held]
    worst_label = max(held[-1], key=held[-1].__getitem__)
    figure.metrics += [
        Metric("ordinary answer p99, two users running 8 x instr on grown strings", "s",
               [r["p99_s"] for r in grown], goal=f"< {GOAL_S:g} s",
               met=statistics.median(r["p99_s"] for r in grown) < GOAL_S),
        Metric("  same, median", "s", [r["p50_s"] for r in grown]),
        Metric("ordinary answer p99, two users running four-way cross joins", "s",
               [r["p99_s"] for r in cross], goal=f"< {GOAL_S:g} s",
               met=statistics.median(r["p99_s"] for r in cross) < GOAL_S),
        Metric("  same, median", "s", [r["p50_s"] for r in cross]),
        Metric("worst amplification statement: time it held a connection", "s", worst,
               goal=f"< {GOAL_S:g} s", met=statistics.median(worst) < GOAL_S),
    ]
    figure.details["ordinary_runs_grown_instr"] = grown
    figure.details["ordinary_runs_cross_join"] = cross
    figure.details["held_s"] = held
    figure.details["worst_statement"] = worst_label
    figure.details["load_average_after"] = load_average()
    figure.notes.append(
        f"{questions} ordinary questions one at a time per run, {runs} runs, 500-product "
        f"catalog, SQL_TIMEOUT {SQL_TIMEOUT:g} s, {Settings().sql_connections} pooled catalog "
        "connections (SQL_CONNECTIONS); each runaway "
        "user asks again as soon as it is answered. Worst corpus statement in the last run: "
        f"{worst_label}.")
    return figure
