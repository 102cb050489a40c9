"""Start the bot exactly as ``kratos run`` does, for a benchmark run.

``--no-flood-limit`` builds the same Application with its rate limiter (PTB's
``AIORateLimiter`` for messages, ``bot.channels.telegram.http.MessageRateLimiter``) set to no
overall or per-group rate. The shipped limiter holds the bot to Telegram's broadcast limit of 30
messages per second, which caps any throughput figure at 30 answers per second; switching it
off measures what the bot itself costs.

``--loop-probe FILE`` adds one task to the bot's event loop that sleeps 5 ms at a time and
notes how late it wakes: a late wake-up is a stretch during which the loop ran nothing else
(a blocking call, a long callback, or the process waiting for its core). Once a second it
appends the worst lateness of that second to FILE as a JSON line. It is installed through the
loop factory ``bot.eventloop`` gives ``kratos run``, so the bot's own code is not touched.
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import json
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path

from bot.channels.telegram.http import MessageRateLimiter

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


def _probed(make_loop: Callable[[], asyncio.AbstractEventLoop], path: Path,
            tasks: set[asyncio.Task[None]]) -> Callable[[], asyncio.AbstractEventLoop]:
    """``make_loop``, with the lateness probe as the first task of every loop it makes."""

    def new_event_loop() -> asyncio.AbstractEventLoop:
        loop = make_loop()

        def start() -> None:
            task = loop.create_task(_probe(path))
            tasks.add(task)
            task.add_done_callback(tasks.discard)

        loop.call_soon(start)
        return loop

    return new_event_loop


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.launch")
    parser.add_argument("--no-flood-limit", action="store_true",
                        help="Build the rate limiter with no overall or group rate.")
    parser.add_argument("--loop-probe", type=Path, default=None,
                        help="Append the event loop's worst lateness per second to this file.")
    args = parser.parse_args(argv)
    if args.no_flood_limit:
        from bot.channels.telegram import app as telegram_bot

        if getattr(telegram_bot, "MessageRateLimiter", None) is not MessageRateLimiter:
            # Fail loudly rather than measure the limited bot under the unlimited label.
            raise SystemExit("bot.channels.telegram.app no longer builds MessageRateLimiter "
                             "by that name; update benchmarks/launch.py")
        telegram_bot.MessageRateLimiter = functools.partial(  # type: ignore[misc]
            MessageRateLimiter, overall_max_rate=0, group_max_rate=0)
    if args.loop_probe is not None:
        from bot import eventloop

        eventloop.new_event_loop = _probed(  # type: ignore[method-assign]
            eventloop.new_event_loop, args.loop_probe, set())
    from bot.__main__ import main as kratos

    return kratos(["--env-file", os.devnull, "run"])


if __name__ == "__main__":
    sys.exit(main())
