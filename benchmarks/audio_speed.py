"""Figure 4: how fast ``convert_for_transcription`` turns recordings into 16 kHz mono WAV, and
how fast ``bot.audio.silence.map_speech`` then measures them for speech before any upload.

The inputs are made here with the same ffmpeg the bot uses: Telegram-style voice notes (Opus in
OGG, 48 kHz mono, 32 kb/s) of one and ten minutes, and a three-minute 640x360 H.264/AAC MP4 of
about 16 MB (under the 20 MB a bot may download through the public Bot API). The sound is pink
noise: the decoders do the same work whatever the sound is.
"""

from __future__ import annotations

import shutil
import statistics
import subprocess
import time
from pathlib import Path

from benchmarks.common import TMP, Figure, Metric, load_average, scratch
from bot.audio.conversion import convert_for_transcription, ffmpeg_executable, probe
from bot.audio.silence import map_speech

NAME = "audio_speed"
TITLE = "4. Audio speed"
GOAL_RATIO = 100.0
#: The silence check must cost far less than the conversion it follows.
SPEECH_CHECK_GOAL = 1000.0

NOISE = "anoisesrc=color=pink:amplitude=0.2:sample_rate={rate}:duration={seconds}"


def _voice_note(path: Path, seconds: int) -> None:
    _ffmpeg(["-f", "lavfi", "-i", NOISE.format(rate=48000, seconds=seconds), "-ac", "1",
             "-c:a", "libopus", "-b:a", "32k", "-application", "voip", str(path)])


def _video(path: Path, seconds: int) -> None:
    _ffmpeg(["-f", "lavfi", "-i", f"testsrc2=size=640x360:rate=30:duration={seconds}",
             "-f", "lavfi", "-i", NOISE.format(rate=44100, seconds=seconds),
             "-map", "0:v", "-map", "1:a", "-ac", "2", "-c:v", "libx264", "-preset", "ultrafast",
             "-b:v", "600k", "-c:a", "aac", "-b:a", "128k", "-shortest", str(path)])


def _ffmpeg(args: list[str]) -> None:
    subprocess.run([ffmpeg_executable(), "-hide_banner", "-loglevel", "error", "-y", *args],
                   check=True)


def media(name: str, seconds: int) -> Path:
    """The input file ``name`` (made once, kept in benchmarks/tmp/media)."""
    folder = TMP / "media"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    if not path.exists():
        partial = path.with_name(f".partial-{name}")
        (_video if name.endswith(".mp4") else _voice_note)(partial, seconds)
        partial.replace(path)
    return path


def _speech_check(label: str, path: Path, workdir: Path, duration: float,
                  runs: int) -> Metric:
    """How fast ``map_speech`` measures the converted WAV before any upload (x real time)."""
    out = convert_for_transcription(path, workdir)
    try:
        elapsed = []
        for _ in range(runs):
            started = time.perf_counter()
            map_speech(out)
            elapsed.append(time.perf_counter() - started)
    finally:
        out.unlink()
    ratios = [duration / e for e in elapsed]
    return Metric(f"{label}: speech check", "x real time", ratios,
                  goal=f">= {SPEECH_CHECK_GOAL:.0f}x",
                  met=statistics.median(ratios) >= SPEECH_CHECK_GOAL)


def run(quick: bool = False) -> Figure:
    runs = 2 if quick else 5
    inputs = [("voice note, OGG/Opus 1 min", "voice-60s.oga", 60),
              ("voice note, OGG/Opus 10 min", "voice-600s.oga", 600),
              ("video, MP4 H.264/AAC 3 min", "video-180s.mp4", 180)]
    if quick:
        inputs = inputs[:1] + inputs[2:]
    figure = Figure(NAME, TITLE)
    figure.details["load_average_before"] = load_average()
    workdir = scratch("audio")
    try:
        for label, name, seconds in inputs:
            path = media(name, seconds)
            duration = probe(path).duration_s or float(seconds)
            convert_for_transcription(path, workdir)  # warm the file cache and the binary
            elapsed: list[float] = []
            for _ in range(runs):
                started = time.perf_counter()
                out = convert_for_transcription(path, workdir)
                elapsed.append(time.perf_counter() - started)
                out.unlink()
            ratios = [duration / e for e in elapsed]
            figure.metrics.append(Metric(
                f"{label}: speed", "x real time", ratios, goal=f">= {GOAL_RATIO:.0f}x",
                met=statistics.median(ratios) >= GOAL_RATIO))
            figure.metrics.append(Metric(
                f"{label}: conversion per minute of audio", "s/min",
                [e / (duration / 60) for e in elapsed]))
            figure.metrics.append(_speech_check(label, path, workdir, duration, runs))
            figure.details[name] = {"duration_s": duration, "bytes": path.stat().st_size,
                                    "elapsed_s": [round(e, 4) for e in elapsed]}
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    figure.notes.append(
        "convert_for_transcription to 16 kHz mono PCM WAV (TRANSCRIBE_FORMAT's default), wall "
        "time of the whole call: ffmpeg start-up, decoding, writing, and reading the WAV back "
        f"for its duration. {runs} runs after one warm-up; ffmpeg is {ffmpeg_executable()}.")
    return figure
