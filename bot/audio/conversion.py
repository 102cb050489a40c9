"""Audio conversion and splitting with ffmpeg: no network, all synchronous.

Every function here blocks (it runs ffmpeg or reads whole files), so async callers run them with
``asyncio.to_thread``. Only the ``ffmpeg`` binary is needed: from PATH, or the static build that
the ``imageio-ffmpeg`` wheel bundles. That build has no ``ffprobe``, so probing parses
``ffmpeg -i`` output and pydub only ever sees raw PCM (it would call ffprobe to guess a format).
"""

from __future__ import annotations

import functools
import logging
import math
import re
import shutil
import subprocess
import time
import warnings
import wave
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import imageio_ffmpeg

from bot.errors import UserFacingError

with warnings.catch_warnings():
    # pydub warns at import when ffmpeg is not on PATH (ffmpeg_executable() points it at the
    # bundled one) and Python 3.11 flags its audioop import; neither is actionable here.
    warnings.simplefilter("ignore")
    from pydub import AudioSegment
    from pydub.silence import detect_silence

logger = logging.getLogger(__name__)

SAMPLE_RATE = 16_000
#: The API refuses uploads over 25 MiB (26,214,400 bytes); 24 MiB leaves room for the multipart
#: envelope and for encoders that overshoot their bitrate.
UPLOAD_LIMIT_BYTES = 24 * 1024 * 1024
WAV_HEADER_BYTES = 44
#: OpenAI refuses audio shorter than 0.1 s.
MIN_DURATION_S = 0.1
PROBE_TIMEOUT_S = 30.0
#: A 60-minute recording converts in a few seconds; minutes mean ffmpeg is stuck on a bad file.
CONVERT_TIMEOUT_S = 300.0
#: Room above the PCM size for a converted file's header and container.
DECODED_HEADROOM_BYTES = 256 * 1024

# Compressed chunks are sized from the whole file's average bitrate; speech is bursty, so aim
# below the limit and re-split the rare chunk that still comes out too big.
COMPRESSED_SIZE_MARGIN = 0.9
# Where to look for a pause around an ideal chunk boundary: a fifth of a chunk either side, at
# most 60 s.
SEARCH_FRACTION = 0.2
SEARCH_MAX_S = 60.0
MIN_SILENCE_MS = 300
SILENCE_SEEK_MS = 20
CUT_INSET_MS = 100
# A pause is quieter than the surrounding speech by this much, or below an absolute floor (so a
# window that is mostly silence still finds its silence).
SILENCE_BELOW_AVERAGE_DB = 16.0
SILENCE_FLOOR_DBFS = -50.0


@dataclass(frozen=True)
class UploadFormat:
    """How to encode audio for the transcription endpoint."""

    extension: str
    mime_type: str
    codec_args: tuple[str, ...]


UPLOAD_FORMATS: dict[str, UploadFormat] = {
    # 16-bit PCM WAV is what every Whisper server decodes, some of them exclusively.
    "wav": UploadFormat("wav", "audio/wav", ("-c:a", "pcm_s16le")),
    "mp3": UploadFormat("mp3", "audio/mpeg", ("-c:a", "libmp3lame", "-b:a", "48k")),
    "flac": UploadFormat("flac", "audio/flac", ("-c:a", "flac")),
    "ogg": UploadFormat("ogg", "audio/ogg",
                        ("-c:a", "libopus", "-b:a", "32k", "-application", "voip")),
}

MEDIA_EXTENSIONS = frozenset({
    "3gp", "aac", "aif", "aiff", "amr", "avi", "caf", "flac", "m4a", "m4v", "mka", "mkv", "mov",
    "mp2", "mp3", "mp4", "mpeg", "mpg", "mpga", "oga", "ogg", "ogv", "opus", "wav", "weba",
    "webm", "wma", "wmv",
})
MEDIA_MIME_TYPES = frozenset({"application/ogg", "application/x-ogg"})
UNKNOWN_MIME_TYPES = frozenset({"", "application/octet-stream", "binary/octet-stream"})

# ffmpeg demuxer arguments for the formats a speech endpoint returns.
SOURCE_FORMATS: dict[str, tuple[str, ...]] = {
    "mp3": ("-f", "mp3"),
    "opus": ("-f", "ogg"),
    "ogg": ("-f", "ogg"),
    "aac": ("-f", "aac"),
    "flac": ("-f", "flac"),
    "wav": ("-f", "wav"),
    "webm": ("-f", "matroska"),
    # OpenAI's "pcm" is raw 24 kHz 16-bit little-endian mono.
    "pcm": ("-f", "s16le", "-ar", "24000", "-ac", "1"),
}

_DURATION = re.compile(r"^\s*Duration:\s*(\d+):(\d{2}):(\d{2}(?:\.\d+)?)", re.MULTILINE)
_BITRATE = re.compile(r"^\s*Duration:.*?bitrate:\s*(\d+)\s*kb/s", re.MULTILINE)
_AUDIO_STREAM = re.compile(r"^\s*Stream #\d+:\d+\S*: Audio:", re.MULTILINE)
_ANY_STREAM = re.compile(r"^\s*Stream #\d+:\d+\S*: \w+:", re.MULTILINE)


class MediaError(UserFacingError):
    """An audio or video file KRATOS cannot use, with a sentence saying why."""


class EmptyMedia(MediaError):
    """The file has no bytes, or decodes to less sound than the API accepts."""

    def __init__(self) -> None:
        super().__init__(
            es="El audio llegó vacío o es demasiado corto. ¿Puedes enviarlo de nuevo?",
            en="The recording arrived empty or too short. Could you send it again?",
        )


class CorruptMedia(MediaError):
    """ffmpeg cannot decode the file."""

    def __init__(self) -> None:
        super().__init__(
            es="No pude leer ese audio; puede estar dañado. ¿Puedes enviarlo de nuevo o en otro "
               "formato?",
            en="I couldn't read that audio; it may be damaged. Could you send it again or in "
               "another format?",
        )


class NoAudioTrack(MediaError):
    """A video without a sound track."""

    def __init__(self) -> None:
        super().__init__(
            es="Ese video no tiene sonido, así que no hay nada que transcribir.",
            en="That video has no sound, so there is nothing to transcribe.",
        )


class UnsupportedMedia(MediaError):
    """The MIME type or file name says the file is not audio or video."""

    def __init__(self) -> None:
        super().__init__(
            es="Ese archivo no es de audio ni de video. Envíame una nota de voz, un audio o un "
               "video.",
            en="That file is not audio or video. Send me a voice note, an audio file or a video.",
        )


class MediaTooLong(MediaError):
    """The recording is longer than the configured maximum."""

    def __init__(self, duration_s: float, limit_minutes: int) -> None:
        # Rounded, but never shown as within the limit it broke.
        minutes = max(round(duration_s / 60), limit_minutes + 1)
        limit_es = "1 minuto" if limit_minutes == 1 else f"{limit_minutes} minutos"
        limit_en = "1 minute" if limit_minutes == 1 else f"{limit_minutes} minutes"
        super().__init__(
            es=f"El audio dura unos {minutes} minutos y el máximo es {limit_es}. "
               "¿Puedes enviar uno más corto?",
            en=f"The recording is about {minutes} minutes long and the limit is {limit_en}. "
               "Could you send a shorter one?",
        )
        self.duration_s = duration_s
        self.limit_minutes = limit_minutes


class MediaTooBig(MediaError):
    """The file is over the size the bot may download."""

    def __init__(self, size_bytes: int, limit_bytes: int) -> None:
        size = f"{size_bytes / 1024 / 1024:.1f}"
        limit = f"{limit_bytes // (1024 * 1024)}"
        super().__init__(
            es=f"El archivo pesa {size.replace('.', ',')} MB y el máximo que puedo descargar es "
               f"{limit} MB. ¿Puedes enviar uno más pequeño o más corto?",
            en=f"The file is {size} MB and the most I can download is {limit} MB. Could you "
               "send a smaller or shorter one?",
        )
        self.size_bytes = size_bytes
        self.limit_bytes = limit_bytes


@dataclass(frozen=True)
class MediaInfo:
    """What ``ffmpeg -i`` says about a file; ``duration_s`` is None when it cannot tell."""

    duration_s: float | None
    has_audio: bool
    #: The overall bitrate ffmpeg reports (kb/s), when it reports one.
    bitrate_kbps: int | None = None


@dataclass(frozen=True)
class Chunk:
    """One piece of a recording, ready to upload; times are seconds from the start."""

    path: Path
    start_s: float
    end_s: float
    index: int

    @property
    def duration_s(self) -> float:
        """Seconds of audio in this chunk."""
        return self.end_s - self.start_s


@functools.cache
def ffmpeg_executable() -> str:
    """The ffmpeg to run: PATH first, else the bundled static build; pydub is pointed at it."""
    path = shutil.which("ffmpeg") or imageio_ffmpeg.get_ffmpeg_exe()
    AudioSegment.converter = path
    logger.debug("using ffmpeg at %s", path)
    return path


def upload_format(fmt: str) -> UploadFormat:
    """The upload format called ``fmt`` (wav, mp3, flac or ogg)."""
    try:
        return UPLOAD_FORMATS[fmt]
    except KeyError:
        raise ValueError(f"unknown upload format {fmt!r}; use one of "
                         f"{', '.join(UPLOAD_FORMATS)}") from None


def _ffmpeg(args: Sequence[str], *, timeout: float,
            stdin: bytes | None = None) -> subprocess.CompletedProcess[bytes]:
    """Run ffmpeg without a shell; a run past ``timeout`` is killed and reported as corrupt."""
    command = [ffmpeg_executable(), "-hide_banner", "-nostdin", *args]
    try:
        return subprocess.run(
            command,
            input=stdin,
            stdin=None if stdin is not None else subprocess.DEVNULL,
            capture_output=True,
            timeout=timeout,
            check=False,
        )
    except subprocess.TimeoutExpired:
        logger.warning("ffmpeg gave up after %.0f s", timeout)
        raise CorruptMedia() from None


def _file_arg(path: Path) -> str:
    # The file: protocol stops ffmpeg reading a name such as "concat:..." or "-x" as something
    # other than a local file.
    return f"file:{path}"


def _stderr_tail(result: subprocess.CompletedProcess[bytes]) -> str:
    lines = result.stderr.decode(errors="replace").strip().splitlines()
    return lines[-1] if lines else f"exit status {result.returncode}"


def probe(path: Path) -> MediaInfo:
    """Duration and whether there is a sound track, read from ``ffmpeg -i`` (no ffprobe).

    Raises EmptyMedia for a 0-byte file and CorruptMedia when ffmpeg cannot open it.
    """
    if path.stat().st_size == 0:
        raise EmptyMedia()
    # With no output file ffmpeg exits 1 after printing the input's description; that is the
    # normal case, so the exit status says nothing and the text is what counts.
    result = _ffmpeg(["-i", _file_arg(path)], timeout=PROBE_TIMEOUT_S)
    text = result.stderr.decode(errors="replace")
    if "Input #0" not in text or not _ANY_STREAM.search(text):
        logger.info("ffmpeg cannot open %s: %s", path.name, _stderr_tail(result))
        raise CorruptMedia()
    match = _DURATION.search(text)
    duration = None
    if match:
        hours, minutes, seconds = match.groups()
        duration = int(hours) * 3600 + int(minutes) * 60 + float(seconds)
    bitrate = _BITRATE.search(text)
    return MediaInfo(duration_s=duration, has_audio=bool(_AUDIO_STREAM.search(text)),
                     bitrate_kbps=int(bitrate.group(1)) if bitrate else None)


def is_supported(mime_type: str | None, file_name: str | None) -> bool:
    """Whether a file announced with this MIME type and name can be audio or video.

    A known non-media MIME type is forgiven when the name has a media extension (clients
    mislabel files); when neither says anything, ffmpeg decides later.
    """
    mime = (mime_type or "").split(";")[0].strip().lower()
    if mime.startswith(("audio/", "video/")) or mime in MEDIA_MIME_TYPES:
        return True
    extension = Path(file_name).suffix.lower().lstrip(".") if file_name else ""
    if extension:
        return extension in MEDIA_EXTENSIONS
    return mime in UNKNOWN_MIME_TYPES


def check_incoming(*, size: int | None, limit_bytes: int, mime_type: str | None = None,
                   file_name: str | None = None) -> None:
    """Refuse, before downloading, a file that is not media or is over the download limit."""
    if not is_supported(mime_type, file_name):
        raise UnsupportedMedia()
    if size is not None and size > limit_bytes:
        raise MediaTooBig(size, limit_bytes)
    if size == 0:
        raise EmptyMedia()


def check_duration(duration_s: float, max_minutes: int) -> None:
    """Refuse a recording longer than ``max_minutes``."""
    if duration_s > max_minutes * 60:
        raise MediaTooLong(duration_s, max_minutes)


def check_media(path: Path, *, max_minutes: int) -> MediaInfo:
    """Probe a downloaded file; refuse it if empty, unreadable, a silent video or too long."""
    info = probe(path)
    if not info.has_audio:
        raise NoAudioTrack()
    if info.duration_s is not None:
        check_duration(info.duration_s, max_minutes)
    return info


def wav_duration(path: Path) -> float:
    """Exact duration of a PCM WAV file."""
    with wave.open(str(path), "rb") as reader:
        return reader.getnframes() / reader.getframerate()


def audio_duration(path: Path) -> float:
    """Duration of an audio file: exact for PCM WAV, from ffmpeg's header reading otherwise."""
    try:
        return wav_duration(path)
    except (wave.Error, EOFError):
        info = probe(path)
        if info.duration_s is None:
            raise CorruptMedia() from None
        return info.duration_s


def decoded_bytes_limit(max_seconds: float) -> int:
    """The most bytes ``max_seconds`` of converted audio may take on disk, in any upload format.

    16 kHz 16-bit mono PCM is the largest (32,000 bytes a second); the rest is headroom for
    headers and container overhead. A 60-minute limit allows about 115 MB.
    """
    return int(max_seconds * SAMPLE_RATE * 2) + DECODED_HEADROOM_BYTES


def _transcode(src: Path, out: Path, spec: UploadFormat, max_seconds: float | None) -> None:
    """Decode the first sound track of ``src`` into ``out``: 16 kHz mono, ``spec``'s codec.

    With ``max_seconds``, ffmpeg stops decoding there (``-t``) and never writes more than
    ``decoded_bytes_limit`` bytes (``-fs``), whatever the input's header claims.
    """
    limit = ["-t", f"{max_seconds:.3f}", "-fs", str(decoded_bytes_limit(max_seconds))] \
        if max_seconds is not None else []
    result = _ffmpeg(
        [
            "-loglevel", "error", "-y", "-i", _file_arg(src),
            "-map", "0:a:0", "-ac", "1", "-ar", str(SAMPLE_RATE), *spec.codec_args, *limit,
            # Bit-exact output and no metadata give WAV the canonical 44-byte header that strict
            # Whisper servers expect.
            "-map_metadata", "-1", "-fflags", "+bitexact", "-flags:a", "+bitexact",
            _file_arg(out),
        ],
        timeout=CONVERT_TIMEOUT_S,
    )
    if result.returncode != 0:
        logger.info("ffmpeg cannot decode %s: %s", src.name, _stderr_tail(result))
        out.unlink(missing_ok=True)
        raise CorruptMedia()


def convert_for_transcription(src: Path, workdir: Path, fmt: str = "wav", *,
                              max_seconds: float | None = None) -> Path:
    """Decode the first sound track of ``src`` to 16 kHz mono ``fmt`` in ``workdir``.

    The result is ``workdir/speech.<ext>``. ``max_seconds`` stops decoding there, for inputs
    whose duration is not in their header.
    """
    spec = upload_format(fmt)
    if src.stat().st_size == 0:
        raise EmptyMedia()
    out = workdir / f"speech.{spec.extension}"
    started = time.perf_counter()
    _transcode(src, out, spec, max_seconds)
    duration = audio_duration(out)
    if duration < MIN_DURATION_S:
        out.unlink(missing_ok=True)
        raise EmptyMedia()
    logger.info("converted %.1f s of audio to %s in %.2f s", duration, fmt,
                time.perf_counter() - started)
    return out


def _is_pcm16(path: Path) -> bool:
    try:
        with wave.open(str(path), "rb") as reader:
            return reader.getsampwidth() == 2
    except (wave.Error, EOFError):
        return False


def _pcm_master(audio: Path, workdir: Path) -> tuple[Path, bool]:
    """A 16-bit PCM WAV of ``audio`` to cut from, and whether it was made here."""
    if _is_pcm16(audio):
        return audio, False
    master = workdir / f"{audio.stem}-pcm.wav"
    _transcode(audio, master, UPLOAD_FORMATS["wav"], None)
    return master, True


def _silence_cut(reader: wave.Wave_read, low: int, target: int, high: int) -> int:
    """The frame to cut at: the point of a pause nearest to ``target``, else ``target``.

    Only pauses within a window around ``target`` count, and the cut stays in (low, high].
    """
    rate = reader.getframerate()
    reach = min(int((target - low) * SEARCH_FRACTION), int(SEARCH_MAX_S * rate))
    start, stop = target - reach, min(target + reach, high)
    if (stop - start) * 1000 < MIN_SILENCE_MS * rate:
        return target
    reader.setpos(start)
    segment = AudioSegment(
        data=reader.readframes(stop - start),
        sample_width=reader.getsampwidth(),
        frame_rate=rate,
        channels=reader.getnchannels(),
    )
    threshold = max(segment.dBFS - SILENCE_BELOW_AVERAGE_DB, SILENCE_FLOOR_DBFS)
    silences = detect_silence(segment, min_silence_len=MIN_SILENCE_MS,
                              silence_thresh=threshold, seek_step=SILENCE_SEEK_MS)
    target_ms = (target - start) * 1000 / rate
    # Stay inside each pause, away from its edges: they are only known to a seek step, and a
    # soft first syllable can hide under the loudness threshold.
    candidates = []
    for begin_ms, end_ms in silences:
        inset = min(CUT_INSET_MS, (end_ms - begin_ms) / 2)
        candidates.append(min(max(target_ms, begin_ms + inset), end_ms - inset))
    if not candidates:
        return target
    best_ms = min(candidates, key=lambda ms: abs(ms - target_ms))
    cut = start + round(best_ms * rate / 1000)
    return cut if low < cut <= high else target


def _plan(reader: wave.Wave_read, start: int, end: int, per_chunk: int) -> list[tuple[int, int]]:
    """Back-to-back [from, to) frame spans over ``start``..``end``, each at most ``per_chunk``.

    Spans aim at equal lengths (the fewest that fit), so the last one is never a sliver.
    """
    spans = []
    position = start
    while end - position > per_chunk:
        pieces = math.ceil((end - position) / per_chunk)
        target = position + (end - position) // pieces
        cut = _silence_cut(reader, position, target, position + per_chunk)
        spans.append((position, cut))
        position = cut
    spans.append((position, end))
    return spans


def _write_span(reader: wave.Wave_read, span: tuple[int, int], out: Path, fmt: str) -> None:
    """Write frames ``span`` of ``reader`` to ``out`` in ``fmt``."""
    first, last = span
    reader.setpos(first)
    frames = reader.readframes(last - first)
    if fmt == "wav":
        with wave.open(str(out), "wb") as writer:
            writer.setnchannels(reader.getnchannels())
            writer.setsampwidth(reader.getsampwidth())
            writer.setframerate(reader.getframerate())
            writer.writeframes(frames)
        return
    result = _ffmpeg(
        [
            "-loglevel", "error", "-y",
            "-f", "s16le", "-ar", str(reader.getframerate()), "-ac", str(reader.getnchannels()),
            "-i", "pipe:0", *upload_format(fmt).codec_args,
            "-map_metadata", "-1", "-fflags", "+bitexact", "-flags:a", "+bitexact",
            _file_arg(out),
        ],
        timeout=CONVERT_TIMEOUT_S,
        stdin=frames,
    )
    if result.returncode != 0:
        raise RuntimeError(f"ffmpeg could not encode a chunk: {_stderr_tail(result)}")


def _encode(reader: wave.Wave_read, span: tuple[int, int], workdir: Path, fmt: str,
            max_bytes: int) -> list[tuple[Path, int, int]]:
    """Encode one span, splitting it again at a pause if the encoder overshoots ``max_bytes``."""
    first, last = span
    out = workdir / f"part-{first:012d}.{upload_format(fmt).extension}"
    _write_span(reader, span, out, fmt)
    if out.stat().st_size <= max_bytes:
        return [(out, first, last)]
    out.unlink()
    if last - first < reader.getframerate():
        raise ValueError(f"max_bytes={max_bytes} cannot hold even one second of {fmt} audio")
    pieces = []
    for half in _plan(reader, first, last, (last - first + 1) // 2):
        pieces.extend(_encode(reader, half, workdir, fmt, max_bytes))
    return pieces


def split_for_upload(audio: Path, workdir: Path, fmt: str,
                     max_bytes: int = UPLOAD_LIMIT_BYTES) -> list[Chunk]:
    """Cut ``audio`` (already in ``fmt``) into chunks of at most ``max_bytes``, at pauses.

    The chunks cover the whole recording in order, back to back: nothing is trimmed or dropped.
    A file already small enough comes back as its single chunk, untouched.
    """
    spec = upload_format(fmt)
    size = audio.stat().st_size
    if size <= max_bytes:
        return [Chunk(audio, 0.0, audio_duration(audio), 0)]
    master, made_master = _pcm_master(audio, workdir)
    try:
        with wave.open(str(master), "rb") as reader:
            rate = reader.getframerate()
            total = reader.getnframes()
            if fmt == "wav":
                per_chunk = (max_bytes - WAV_HEADER_BYTES) // (
                    reader.getsampwidth() * reader.getnchannels())
            else:
                per_chunk = int(total * max_bytes * COMPRESSED_SIZE_MARGIN / size)
            if per_chunk < rate:
                raise ValueError(f"max_bytes={max_bytes} cannot hold even one second of {fmt}")
            pieces = []
            for span in _plan(reader, 0, total, per_chunk):
                pieces.extend(_encode(reader, span, workdir, fmt, max_bytes))
    finally:
        if made_master:
            master.unlink(missing_ok=True)
    chunks = []
    for index, (path, first, last) in enumerate(pieces):
        named = path.with_name(f"{audio.stem}-{index:03d}.{spec.extension}")
        path.rename(named)
        chunks.append(Chunk(named, first / rate, last / rate, index))
    logger.info("split %.1f s of %s into %d chunks", total / rate, fmt, len(chunks))
    return chunks


def sniff_format(data: bytes) -> str | None:
    """Guess a speech endpoint's audio format from its first bytes (None if unknown)."""
    if data.startswith(b"OggS"):
        return "ogg"
    if data.startswith(b"RIFF") and data[8:12] == b"WAVE":
        return "wav"
    if data.startswith(b"fLaC"):
        return "flac"
    if data.startswith(b"\x1a\x45\xdf\xa3"):
        return "webm"
    if data.startswith(b"ID3"):
        return "mp3"
    if len(data) >= 2 and data[0] == 0xFF:
        if data[1] & 0xF6 == 0xF0:
            return "aac"
        if data[1] & 0xE0 == 0xE0:
            return "mp3"
    return None


def is_ogg_opus(data: bytes) -> bool:
    """Whether ``data`` is an Ogg stream carrying Opus (what Telegram's sendVoice wants)."""
    return data.startswith(b"OggS") and b"OpusHead" in data[:128]


def to_ogg_opus(audio_bytes: bytes, src_format: str) -> bytes:
    """Re-encode audio (mp3, wav, flac, aac, ogg, webm or raw 24 kHz pcm) as mono OGG/Opus."""
    if not audio_bytes:
        raise EmptyMedia()
    try:
        source = SOURCE_FORMATS[src_format]
    except KeyError:
        raise ValueError(f"unknown source format {src_format!r}") from None
    result = _ffmpeg(
        [
            "-loglevel", "error", *source, "-i", "pipe:0",
            "-map", "0:a:0", "-ac", "1", "-ar", "48000",
            "-c:a", "libopus", "-b:a", "32k", "-application", "voip",
            "-map_metadata", "-1", "-f", "ogg", "pipe:1",
        ],
        timeout=CONVERT_TIMEOUT_S,
        stdin=audio_bytes,
    )
    if result.returncode != 0 or not result.stdout:
        logger.warning("ffmpeg cannot make a voice note from %s: %s", src_format,
                       _stderr_tail(result))
        raise CorruptMedia()
    return result.stdout
