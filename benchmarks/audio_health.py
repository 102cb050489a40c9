"""Figure 3: does the event loop stay responsive while voice notes are being converted?

The bot runs as ``kratos run`` with a lateness probe in its event loop (``--loop-probe``, see
``benchmarks/launch.py``): the largest lateness seen is the largest stall. Each run has two
phases on the same bot:

* baseline: text questions alone, one every 50 ms;
* under audio: 20 one-minute voice notes (OGG/Opus) queued at once from 20 users, then the same
  flow of text questions from other users while the notes are downloaded, probed, converted,
  split, transcribed (fake speech-to-text) and answered.

ffmpeg runs as a child of the bot and so shares its one core: what a single-core deployment
sees.
"""

from __future__ import annotations

import asyncio
import json
import statistics
import time
from pathlib import Path

from benchmarks.audio_speed import media
from benchmarks.common import Figure, Metric, ensure_catalog, load_average, ms, percentile
from benchmarks.harness import TimedTelegram, question, running_bot

NAME = "audio_health"
TITLE = "3. Event-loop health under audio"
GOAL_STALL_MS = 50.0
VOICE_NOTES = 20
TEXT_QUESTIONS = 100
TEXT_EVERY = 0.05
#: Replies per voice note: what was heard, then the answer.
VOICE_REPLIES = 2


def _stalls(probe: Path, start: float, end: float) -> float:
    """The worst lateness the probe noted in seconds overlapping [start, end] (monotonic)."""
    worst = 0.0
    for line in probe.read_text(encoding="utf-8").splitlines():
        entry = json.loads(line)
        # Each line covers the second before its timestamp.
        if start <= entry["t"] and entry["t"] - 1.0 <= end:
            worst = max(worst, entry["max_ms"])
    return worst


async def _text_flow(telegram: TimedTelegram, first_user: int) -> list[float]:
    """Queue TEXT_QUESTIONS questions, one every TEXT_EVERY seconds; their latencies."""
    asked: list[tuple[int, float]] = []
    base = {user: len(telegram.reply_times[user])
            for user in range(first_user, first_user + TEXT_QUESTIONS)}
    for number in range(TEXT_QUESTIONS):
        user = first_user + number
        asked.append((user, telegram.ask(user, question(number))))
        await asyncio.sleep(TEXT_EVERY)
    await telegram.wait_for(
        lambda: all(len(telegram.reply_times[u]) > base[u] for u, _ in asked), 60)
    return [telegram.reply_times[user][base[user]] - at for user, at in asked]


async def _run(probe: Path) -> dict[str, float]:
    catalog, _ = ensure_catalog(500)
    voice = media("voice-60s.oga", 60).read_bytes()
    probe.unlink(missing_ok=True)
    async with running_bot(catalog, launch_args=("--loop-probe", str(probe))) as (
            telegram, _model, _bot):
        for number in range(20):  # warm-up
            base = telegram.replies
            telegram.ask(900_001 + number, question(number))
            await telegram.wait_replies(base + 1, 30)
        await asyncio.sleep(1.5)

        start = time.monotonic()
        baseline = await _text_flow(telegram, 10_001)
        baseline_stall = _stalls(probe, start, time.monotonic())
        await asyncio.sleep(1.5)

        voice_users = range(20_001, 20_001 + VOICE_NOTES)
        expected = telegram.replies + VOICE_NOTES * VOICE_REPLIES
        start, started = time.monotonic(), time.perf_counter()
        for user in voice_users:
            telegram.push_media(user, user, "voice", voice, duration=60)
        under_audio = await _text_flow(telegram, 30_001)
        await telegram.wait_replies(expected + TEXT_QUESTIONS, timeout=300)
        voice_done = max(telegram.reply_times[user][-1] for user in voice_users) - started
        await asyncio.sleep(1.2)  # let the probe write the last second
        audio_stall = _stalls(probe, start, time.monotonic())
    return {
        "baseline_p99_ms": ms(percentile(baseline, 0.99)),
        "baseline_p50_ms": ms(percentile(baseline, 0.50)),
        "baseline_stall_ms": baseline_stall,
        "audio_p99_ms": ms(percentile(under_audio, 0.99)),
        "audio_p50_ms": ms(percentile(under_audio, 0.50)),
        "audio_stall_ms": audio_stall,
        "voice_notes_done_s": voice_done,
    }


def run(quick: bool = False) -> Figure:
    runs = 1 if quick else 3
    figure = Figure(NAME, TITLE)
    figure.details["load_average_before"] = load_average()
    probe = media("voice-60s.oga", 60).parent.parent / "loop-probe.jsonl"
    results = [asyncio.run(_run(probe)) for _ in range(runs)]
    probe.unlink(missing_ok=True)

    def column(key: str) -> list[float]:
        return [r[key] for r in results]

    stalls = column("audio_stall_ms")
    figure.metrics += [
        Metric("text p99 while 20 voice notes convert", "ms", column("audio_p99_ms")),
        Metric("text p99 without audio (baseline)", "ms", column("baseline_p99_ms")),
        Metric("largest event-loop stall while voice notes convert", "ms", stalls,
               goal=f"< {GOAL_STALL_MS:.0f} ms", met=statistics.median(stalls) < GOAL_STALL_MS),
        Metric("largest event-loop stall without audio (baseline)", "ms",
               column("baseline_stall_ms")),
        Metric("20 one-minute voice notes answered after", "s", column("voice_notes_done_s")),
    ]
    figure.details["runs"] = results
    figure.details["load_average_after"] = load_average()
    figure.notes.append(
        f"{runs} runs. {TEXT_QUESTIONS} text questions at one every {TEXT_EVERY * 1000:.0f} ms "
        f"per phase; {VOICE_NOTES} voice notes of 60 s (OGG/Opus 32 kb/s) queued at once, "
        "processed by the bot two at a time (its own limit); fake model and fake "
        "speech-to-text without delay; rate limiter off. Stall = how late a 5 ms sleep in the "
        "bot's event loop woke, worst case over the phase (probe in benchmarks/launch.py).")
    return figure
