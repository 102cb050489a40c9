"""Telling speech from silence, before and after a recording is transcribed.

Whisper answers silence and faint noise with invented text — in Spanish typically "Subtítulos
realizados por la comunidad de Amara.org" or "Gracias por ver el video" — so a recording is
measured before it is uploaded: its loudness frame by frame, and the stretches louder than a
speaking voice. A recording (or a chunk of a long one) without such stretches is never sent.
After transcription the server's own no-speech signals (``verbose_json`` segments) and a list of
the known invented phrases clean what comes back.

Everything here is synchronous and channel-agnostic: Telegram, the command line and any other
channel share it through ``bot.audio.speech``.
"""

from __future__ import annotations

import re
import unicodedata
import warnings
import wave
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

with warnings.catch_warnings():
    # pydub warns at import when ffmpeg is not on PATH and Python 3.11 flags its audioop
    # import; only its PCM helpers are used here.
    warnings.simplefilter("ignore")
    from pydub import AudioSegment
    from pydub.utils import audioop, ratio_to_db

#: Loudness is measured over frames this long: shorter than a syllable.
FRAME_MS = 20
#: A frame louder than this holds sound that may be a voice. Speech recorded on a phone sits
#: around -30 to -15 dBFS; a quiet room, a fan or traffic behind closed windows well below -45.
SPEECH_FLOOR_DBFS = -40.0
#: Less sound than this (a click, a cough, a tap on the microphone) is no question.
MIN_SPEECH_S = 0.3
#: Loud stretches closer together than this are one utterance.
BRIDGE_S = 0.3
#: Frames read from the file at a time (20 s): the whole recording is never in memory.
FRAMES_PER_READ = 1000
#: A stretch below this share of sound is "mostly silent": known invented phrases are dropped.
MOSTLY_SILENT_SHARE = 0.5
#: Whisper's own defaults for skipping a segment (openai/whisper ``transcribe``:
#: ``no_speech_threshold=0.6``, ``logprob_threshold=-1.0``).
NO_SPEECH_PROB = 0.6
LOW_AVG_LOGPROB = -1.0

#: Sentences Whisper writes for silence and noise (learnt from subtitled video), normalised:
#: lower case, no accents, no punctuation but the dot of a domain.
SILENCE_PHRASES = tuple(re.compile(pattern) for pattern in (
    r".*\bamara\.?org\b.*",
    r"subtitul\w*( realizad\w*| hech\w*)? (por|de)( la)? comunidad.*",
    r"(muchas )?gracias( a todos)?( por (ver|mirar|escuchar|su atencion)( el| este| mi)?"
    r"( video| canal| programa| episodio)?)?",
    r"(no olvides )?suscribete( al canal)?( y .*)?",
    r"(dale )?like( y suscribete)?.*",
    r"(thank you|thanks)( so much| very much)?( for watching| for listening)?",
    r"(please )?subscribe( to (my|the|our) channel)?.*",
    r"subtitles (by|from) .*",
    r"(hasta )?(la proxima|luego|pronto)",
))


@dataclass(frozen=True)
class SpeechMap:
    """Where a recording holds sound loud enough to be speech; times in seconds."""

    ranges: tuple[tuple[float, float], ...]
    duration_s: float
    loudest_dbfs: float

    def voiced_s(self, start: float = 0.0, end: float | None = None) -> float:
        """Seconds of sound between ``start`` and ``end`` (the end of the recording)."""
        stop = self.duration_s if end is None else end
        return sum(max(0.0, min(b, stop) - max(a, start)) for a, b in self.ranges)

    def has_speech(self, start: float = 0.0, end: float | None = None) -> bool:
        """Whether the stretch holds enough sound to be worth transcribing."""
        return self.voiced_s(start, end) >= MIN_SPEECH_S

    def voiced_share(self, start: float = 0.0, end: float | None = None) -> float:
        """The stretch's share of sound, 0.0 to 1.0."""
        stop = self.duration_s if end is None else end
        length = stop - start
        return self.voiced_s(start, stop) / length if length > 0 else 0.0


def _full_scale(width: int) -> float:
    """The largest amplitude of ``width``-byte samples, as pydub counts it for dBFS."""
    return float(AudioSegment(data=b"\0" * width, sample_width=width, frame_rate=1,
                              channels=1).max_possible_amplitude)


def _frame_dbfs(frames: bytes, width: int, full_scale: float) -> float:
    """Loudness of raw PCM frames in dBFS (-inf for digital silence), as pydub measures it."""
    rms = audioop.rms(frames, width)
    return float(ratio_to_db(rms / full_scale)) if rms else float("-inf")


def _loud_frames(reader: wave.Wave_read) -> tuple[list[int], float]:
    """Indexes of the frames louder than SPEECH_FLOOR_DBFS, and the loudest frame's dBFS."""
    width, channels, rate = reader.getsampwidth(), reader.getnchannels(), reader.getframerate()
    samples = rate * FRAME_MS // 1000
    step = samples * width * channels
    full_scale = _full_scale(width)
    loud: list[int] = []
    loudest = float("-inf")
    index = 0
    while True:
        block = reader.readframes(samples * FRAMES_PER_READ)
        if not block:
            break
        for offset in range(0, len(block) - step + 1, step):
            level = _frame_dbfs(block[offset:offset + step], width, full_scale)
            loudest = max(loudest, level)
            if level > SPEECH_FLOOR_DBFS:
                loud.append(index)
            index += 1
    return loud, loudest


def _ranges(loud: Sequence[int]) -> tuple[tuple[float, float], ...]:
    """Loud frames joined into (start, end) seconds, bridging short quiet gaps."""
    frame_s = FRAME_MS / 1000
    bridge = max(1, round(BRIDGE_S / frame_s))
    ranges: list[tuple[float, float]] = []
    first = previous = None
    for index in loud:
        if previous is not None and index - previous <= bridge:
            previous = index
            continue
        if first is not None and previous is not None:
            ranges.append((first * frame_s, (previous + 1) * frame_s))
        first = previous = index
    if first is not None and previous is not None:
        ranges.append((first * frame_s, (previous + 1) * frame_s))
    return tuple(ranges)


def map_speech(wav: Path) -> SpeechMap:
    """Measure a PCM WAV file (what ``bot.audio.conversion`` converts recordings to) frame by frame.

    Reads the file in 20-second blocks; raises ``wave.Error`` for a file that is not PCM WAV.
    """
    with wave.open(str(wav), "rb") as reader:
        duration = reader.getnframes() / reader.getframerate()
        loud, loudest = _loud_frames(reader)
    return SpeechMap(ranges=_ranges(loud), duration_s=duration, loudest_dbfs=loudest)


def _normalise(sentence: str) -> str:
    """Lower case, accents and punctuation removed (but a domain's dot), spaces collapsed."""
    folded = unicodedata.normalize("NFKD", sentence.casefold())
    plain = "".join(char for char in folded if not unicodedata.combining(char))
    plain = re.sub(r"(?<!\w)\.|\.(?!\w)|[^\w\s.]", " ", plain)
    return " ".join(plain.split())


def is_silence_phrase(sentence: str) -> bool:
    """Whether ``sentence`` is one of the phrases Whisper invents for silence or noise."""
    text = _normalise(sentence)
    return bool(text) and any(pattern.fullmatch(text) for pattern in SILENCE_PHRASES)


def drop_silence_phrases(text: str) -> str:
    """``text`` without its sentences that are known inventions for silence."""
    sentences = re.split(r"(?<=[.!?…])\s+", text.strip())
    return " ".join(s for s in sentences if s and not is_silence_phrase(s)).strip()


@dataclass(frozen=True)
class Segment:
    """One ``verbose_json`` segment: its text and the server's confidence figures, if given."""

    text: str
    no_speech_prob: float | None = None
    avg_logprob: float | None = None

    @property
    def is_silence(self) -> bool:
        """The server itself thinks this segment holds no speech (Whisper's rule)."""
        if self.no_speech_prob is None or self.no_speech_prob <= NO_SPEECH_PROB:
            return False
        return self.avg_logprob is None or self.avg_logprob < LOW_AVG_LOGPROB \
            or is_silence_phrase(self.text)


def clean_transcript(text: str, segments: Sequence[Segment] | None, voiced_share: float) -> str:
    """What a chunk's transcript says once invented text is removed.

    Segments the server marks as no speech are dropped (when it sends segments at all); on a
    mostly silent stretch, so are the known invented phrases.
    """
    if segments:
        text = " ".join(s.text.strip() for s in segments if not s.is_silence and s.text.strip())
    text = text.strip()
    if voiced_share < MOSTLY_SILENT_SHARE:
        text = drop_silence_phrases(text)
    return text
