"""Figure 7: resident memory of the bot, idle and after 10,000 conversations.

The bot is ``kratos run`` in its own process; VmRSS (resident now) and VmHWM (the peak) come
from /proc/PID/status. Idle is read two seconds after the bot started polling, before any
question. Then 10,000 users each send a question (at most 200 waiting at any time, as steady
traffic rather than one 10,000-update backlog), and memory is read again two seconds after the
last reply.
"""

from __future__ import annotations

import asyncio
import statistics

from benchmarks.common import Figure, Metric, ensure_catalog, load_average
from benchmarks.harness import question, running_bot

NAME = "memory"
TITLE = "7. Memory"
GOAL_MB = 150.0
IN_FLIGHT = 200


async def _run(conversations: int) -> dict[str, float]:
    catalog, _ = ensure_catalog(500)
    async with running_bot(catalog) as (telegram, _model, bot):
        await asyncio.sleep(2.0)
        idle = bot.memory_mb()
        base = telegram.replies
        for number in range(conversations):
            if number >= IN_FLIGHT:
                await telegram.wait_replies(base + number - IN_FLIGHT + 1, timeout=60)
            telegram.ask(1_000_000 + number, question(number))
            if number % 1000 == 999:
                telegram.forget_calls()
        await telegram.wait_replies(base + conversations, timeout=120)
        await asyncio.sleep(2.0)
        after = bot.memory_mb()
    return {"idle_rss": idle["VmRSS"], "after_rss": after["VmRSS"], "peak_rss": after["VmHWM"]}


def run(quick: bool = False) -> Figure:
    # 10,000 conversations take about three minutes a run on one core: two runs keep `make
    # bench` within its time budget.
    runs = 1 if quick else 2
    conversations = 1000 if quick else 10_000
    figure = Figure(NAME, TITLE)
    figure.details["load_average_before"] = load_average()
    results = [asyncio.run(_run(conversations)) for _ in range(runs)]
    goal = f"< {GOAL_MB:.0f} MB"
    idle = [r["idle_rss"] for r in results]
    after = [r["after_rss"] for r in results]
    peak = [r["peak_rss"] for r in results]
    figure.metrics += [
        Metric("idle bot, resident (VmRSS)", "MiB", idle, goal=goal,
               met=statistics.median(idle) < GOAL_MB),
        Metric(f"after {conversations:,} conversations, resident (VmRSS)", "MiB", after,
               goal=goal, met=statistics.median(after) < GOAL_MB),
        Metric(f"after {conversations:,} conversations, peak (VmHWM)", "MiB", peak, goal=goal,
               met=statistics.median(peak) < GOAL_MB),
    ]
    figure.details["runs"] = results
    figure.notes.append(
        f"{runs} runs, each a fresh bot (rate limiter off, fake model without delay, demo "
        f"catalog of 500 products); {conversations:,} users with one question each.")
    return figure
