"""Figure 2: 200 users ask at the same moment while every model call takes one second.

Each question takes one model call (run_sql with the reply's words; the bot writes the reply
from the rows), so no answer can come before one second; if the bot overlaps the 200 calls as
it should, the last of the 200 replies arrives shortly after that. The figure is the wall time
from the 200 questions being queued to the last reply received (stamped when its request
reaches the fake Bot API, before the fake checks its HTML). With the two-call protocol
(run_sql, then a reply written by the model) the same figure was 2.51 s (2026-11-22).
"""

from __future__ import annotations

import asyncio
import statistics

from benchmarks.common import Figure, Metric, ensure_catalog, load_average, ms, percentile
from benchmarks.harness import (
    MODEL_CALLS_PER_QUESTION,
    answer_from_rows_varied,
    flood,
    running_bot,
)

NAME = "concurrency"
TITLE = "2. Concurrency"
LATENCY = 1.0
USERS = 200
GOAL_S = 1.5
BEFORE_S = 2.51  # the two-call protocol, 2026-11-22 (BENCHMARKS.md)


async def _bursts(runs: int, flood_limit: bool, varied: bool = False
                  ) -> list[dict[str, float]]:
    catalog, _ = ensure_catalog(500)
    results: list[dict[str, float]] = []
    async with running_bot(catalog, latency=LATENCY, flood_limit=flood_limit) as (
            telegram, model, bot):
        if varied:
            model.responder(answer_from_rows_varied())
        await flood(telegram, range(900_001, 900_021), 1, timeout=60)  # warm-up
        for number in range(runs):
            await asyncio.sleep(2.0)  # an idle moment (and a full limiter bucket) between bursts
            first = 1 + number * USERS
            cpu = bot.cpu_seconds()
            wall, latencies = await flood(telegram, range(first, first + USERS), 1, timeout=120)
            results.append({"wall_s": wall, "first_s": min(latencies),
                            "p50_ms": ms(percentile(latencies, 0.5)),
                            "bot_cpu_s": bot.cpu_seconds() - cpu})
    return results


def run(quick: bool = False) -> Figure:
    runs = 1 if quick else 3
    figure = Figure(NAME, TITLE)
    figure.details["load_average_before"] = load_average()
    unlimited = asyncio.run(_bursts(runs, flood_limit=False))
    shipped = asyncio.run(_bursts(runs, flood_limit=True))
    varied = asyncio.run(_bursts(runs, flood_limit=False, varied=True))
    walls = [r["wall_s"] for r in unlimited]
    floor = LATENCY * MODEL_CALLS_PER_QUESTION
    figure.metrics += [
        Metric(f"{USERS} users at once, rate limiter off: last reply ({BEFORE_S} s before)", "s",
               walls,
               goal=f"< {GOAL_S} s", met=statistics.median(walls) < GOAL_S),
        Metric(f"  same, time above the {floor:.0f} s the model takes", "s",
               [w - floor for w in walls]),
        Metric("  same, first reply", "s", [r["first_s"] for r in unlimited]),
        Metric("  same, median reply", "s", [r["p50_ms"] / 1000 for r in unlimited]),
        Metric("  same, bot CPU time during the burst", "s", [r["bot_cpu_s"] for r in unlimited]),
        Metric(f"{USERS} users at once, a different query each, rate limiter off: last reply",
               "s", [r["wall_s"] for r in varied], goal=f"< {GOAL_S} s",
               met=statistics.median(r["wall_s"] for r in varied) < GOAL_S),
        Metric("  same, bot CPU time during the burst", "s", [r["bot_cpu_s"] for r in varied]),
        Metric(f"{USERS} users at once, as shipped (30 messages/s limiter): last reply", "s",
               [r["wall_s"] for r in shipped], goal=f"< {GOAL_S} s",
               met=statistics.median(r["wall_s"] for r in shipped) < GOAL_S),
    ]
    figure.details["runs_unlimited"] = unlimited
    figure.details["runs_shipped"] = shipped
    figure.details["runs_varied"] = varied
    figure.details["load_average_after"] = load_average()
    figure.notes.append(
        f"Fake model latency {LATENCY:.0f} s per call, {MODEL_CALLS_PER_QUESTION} calls per "
        f"question; {USERS} new users per burst, {runs} bursts on one bot after a 20-user "
        "warm-up burst. The bot is `kratos run` pinned to one core, the fakes on the other; "
        "a reply counts when its request reaches the fake Bot API. "
        "'As shipped' keeps the Application's rate limiter, which lets 30 messages a second "
        "through (chat actions are not held). The model writes the same query for every "
        "question, except in the 'different query each' rows, where no statement repeats (the "
        "bot remembers the statements its SQL guard accepted).")
    return figure
