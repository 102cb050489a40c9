"""Start the bot exactly as ``kratos run`` does, for a benchmark run.

``--no-flood-limit`` builds the same Application with PTB's ``AIORateLimiter`` set to no
overall or per-group rate. The shipped limiter holds the bot to Telegram's broadcast limit of
30 Bot API requests per second (typing actions included), which caps any throughput figure at
15 answers per second; switching it off measures what the bot itself costs.

``--loop-probe FILE`` adds one task to the bot's event loop that sleeps 5 ms at a time and
notes how late it wakes: a late wake-up is a stretch during which the loop ran nothing else
(a blocking call, a long callback, or the process waiting for its core). Once a second it
appends the worst lateness of that second to FILE as a JSON line. It is installed through the
event loop policy, so the bot's own code is not touched.
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import json
import os
import sys
import time
from pathlib import Path

from telegram.ext import AIORateLimiter

PROBE_INTERVAL = 0.005


async def _probe(path: Path) -> None:
    worst, samples, late_10ms = 0.0, 0, 0
    flushed = time.monotonic()
    with path.open("a", encoding="utf-8") as out:
        try:
            while True:
                expected = time.monotonic() + PROBE_INTERVAL
                await asyncio.sleep(PROBE_INTERVAL)
                now = time.monotonic()
                lag = max(0.0, now - expected)
                worst = max(worst, lag)
                samples += 1
                late_10ms += lag > 0.010
                if now - flushed >= 1.0:
                    out.write(json.dumps({"t": now, "max_ms": worst * 1000, "samples": samples,
                                          "late_10ms": late_10ms}) + "\n")
                    out.flush()
                    worst, samples, late_10ms, flushed = 0.0, 0, 0, now
        finally:
            out.write(json.dumps({"t": time.monotonic(), "max_ms": worst * 1000,
                                  "samples": samples, "late_10ms": late_10ms}) + "\n")


class _ProbedPolicy(asyncio.DefaultEventLoopPolicy):
    """Every new event loop starts the lateness probe as its first task."""

    def __init__(self, path: Path) -> None:
        super().__init__()
        self._path = path
        self._tasks: set[asyncio.Task[None]] = set()

    def new_event_loop(self) -> asyncio.AbstractEventLoop:
        loop = super().new_event_loop()

        def start() -> None:
            task = loop.create_task(_probe(self._path))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

        loop.call_soon(start)
        return loop


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.launch")
    parser.add_argument("--no-flood-limit", action="store_true",
                        help="Build the rate limiter with no overall or group rate.")
    parser.add_argument("--loop-probe", type=Path, default=None,
                        help="Append the event loop's worst lateness per second to this file.")
    args = parser.parse_args(argv)
    if args.no_flood_limit:
        from bot import telegram_bot

        if getattr(telegram_bot, "AIORateLimiter", None) is not AIORateLimiter:
            # Fail loudly rather than measure the limited bot under the unlimited label.
            raise SystemExit("bot.telegram_bot no longer builds AIORateLimiter by that name; "
                             "update benchmarks/launch.py")
        telegram_bot.AIORateLimiter = functools.partial(  # type: ignore[misc]
            AIORateLimiter, overall_max_rate=0, group_max_rate=0)
    if args.loop_probe is not None:
        asyncio.set_event_loop_policy(_ProbedPolicy(args.loop_probe))
    from bot.__main__ import main as kratos

    return kratos(["--env-file", os.devnull, "run"])


if __name__ == "__main__":
    sys.exit(main())
