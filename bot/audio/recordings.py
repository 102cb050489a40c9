"""What becomes of a voice note or a recording, whichever channel brought it.

A voice note (or a round video note) is a question: the channel shows what was heard and has it
answered as if typed. An audio file, a video or a document with sound is a recording: its
transcript is sent back and kept as the conversation's shared context, so follow-up questions
are answered from it alongside the catalog.

This module holds the decisions every channel shares: which media are taken at all, the size
and duration limits checked before anything is downloaded, the sentences the customer reads,
when a transcript fits in a message, and how follow-ups are invited. A channel only downloads,
replies and formats.
"""

from __future__ import annotations

import mimetypes
import re
from dataclasses import dataclass
from pathlib import Path

import aiosqlite

from bot.audio.conversion import UnsupportedMedia, check_duration, check_incoming, is_supported
from bot.audio.speech import Transcript
from bot.core import memory
from bot.core.prompt import TRANSCRIPT_PROMPT_CHARS
from bot.errors import UserFacingError

#: A transcript up to this long comes as a message (with room for the header under both
#: Telegram's and WhatsApp's 4096 characters); a longer one comes as a .txt document.
INLINE_TRANSCRIPT_CHARS = 3500
#: Recordings longer than this get a message saying the bot is on it.
ANNOUNCE_ABOVE_SECONDS = 120
NAME_CHARS = 60
SAFE_SUFFIX = re.compile(r"\.[A-Za-z0-9]{1,5}")

TEXTS: dict[str, dict[str, str]] = {
    "es": {
        "no_speech_service": "Para entender notas de voz y audios necesito el servicio de voz, "
                             "y no está configurado en este asistente. Mientras tanto, "
                             "escríbeme tu pregunta 🙂",
        "heard": "🎤 «{text}»",
        "nothing_heard": "No escuché ninguna pregunta en tu audio. ¿Puedes repetirla o "
                         "escribírmela?",
        "nothing_in_recording": "No encontré palabras en «{name}», así que no hay nada que "
                                "transcribir.",
        "working": "⏳ Estoy transcribiendo {duration} de audio; te envío el texto al terminar.",
        "transcript": "📝 Transcripción de «{name}» ({duration}):\n\n{text}",
        "transcript_file": "📝 Te envío la transcripción de «{name}» ({duration}) como archivo: "
                           "es larga.",
        "ask": "Ya puedes preguntarme sobre esta grabación, por ejemplo: «¿qué productos se "
               "mencionan?». Con {reset} la olvido.",
        "first_part": "Como es larga, para responder tengo en cuenta más o menos sus primeros "
                      "{minutes} minutos.",
        "voice": "nota de voz",
        "video_note": "video nota",
        "audio": "audio",
        "video": "video",
        "document": "archivo",
        "link": "enlace",
        "txt": "transcripcion",
    },
    "en": {
        "no_speech_service": "To understand voice notes and audio I need the speech service, "
                             "and it is not set up for this assistant. Meanwhile, please type "
                             "your question 🙂",
        "heard": "🎤 “{text}”",
        "nothing_heard": "I didn't hear a question in your recording. Could you say it again "
                         "or type it?",
        "nothing_in_recording": "I found no words in “{name}”, so there is nothing to "
                                "transcribe.",
        "working": "⏳ Transcribing {duration} of audio; I'll send the text when it's done.",
        "transcript": "📝 Transcript of “{name}” ({duration}):\n\n{text}",
        "transcript_file": "📝 Here is the transcript of “{name}” ({duration}) as a file: it is "
                           "long.",
        "ask": "You can now ask me about this recording, for example: “which products are "
               "mentioned?”. {reset} forgets it.",
        "first_part": "As it is long, I answer from roughly its first {minutes} minutes.",
        "voice": "voice note",
        "video_note": "video note",
        "audio": "audio",
        "video": "video",
        "document": "file",
        "link": "link",
        "txt": "transcript",
    },
}


def say(key: str, language: str, **values: str) -> str:
    """One of these sentences, Spanish unless the user speaks English."""
    return TEXTS["en" if language.startswith("en") else "es"][key].format(**values)


class NoSpeechService(UserFacingError):
    """Transcription needs the model endpoint, and none is configured (basic mode)."""

    def __init__(self) -> None:
        super().__init__(es=say("no_speech_service", "es"), en=say("no_speech_service", "en"))


@dataclass(frozen=True)
class IncomingMedia:
    """The sound-carrying file of a message, as the channel describes it before any download.

    ``file_id`` is the channel's handle on the file (Telegram's file id, WhatsApp's media id);
    ``size`` in bytes and ``duration`` in seconds are None when the channel does not say.
    """

    kind: str  # voice, video_note, audio, video, document, or link (file_id is the URL)
    file_id: str
    size: int | None
    duration: float | None
    mime_type: str | None
    file_name: str | None

    @property
    def is_question(self) -> bool:
        """Voice and video notes are spoken questions; everything else is a recording."""
        return self.kind in ("voice", "video_note")

    @property
    def download_name(self) -> str:
        """A safe local name; ffmpeg reads the content, the suffix only helps it guess."""
        if self.kind == "voice":
            return "voice.ogg"
        if self.kind == "video_note":
            return "video-note.mp4"
        suffix = Path(self.file_name).suffix if self.file_name else ""
        if not SAFE_SUFFIX.fullmatch(suffix):
            mime_type = (self.mime_type or "").split(";")[0].strip()
            suffix = mimetypes.guess_extension(mime_type) or ""
        return f"recording{suffix}"

    def display_name(self, language: str) -> str:
        """The file's own name, tidied and shortened, or a word for its kind."""
        name = " ".join((self.file_name or "").split())
        if not name:
            return say(self.kind, language)
        return name if len(name) <= NAME_CHARS else name[:NAME_CHARS - 1] + "…"

    def transcript_file_name(self, language: str) -> str:
        """``transcripcion-<stem>.txt``: the name a long transcript is sent under."""
        stem = Path(self.file_name).stem if self.file_name else self.kind
        return f"{say('txt', language)}-{re.sub(r'[^A-Za-z0-9_-]+', '_', stem)[:40]}.txt"


def check_before_download(media: IncomingMedia, *, limit_bytes: int | None, max_minutes: int,
                          speech_available: bool) -> None:
    """Refuse, before any download, what cannot or must not be transcribed.

    In this order: not media at all (``UnsupportedMedia``; "voice needs setting up" would be
    no answer to a PDF), no speech service (``NoSpeechService``), over the channel's download
    limit in bytes (``MediaTooBig``; ``limit_bytes`` None when the download checks it), over
    MAX_AUDIO_MINUTES when the channel reports a duration (``MediaTooLong``). Each is a
    ``UserFacingError`` with the customer's sentence.
    """
    mime_type = (media.mime_type or "").split(";")[0].strip() or None
    if not is_supported(mime_type, media.file_name):
        raise UnsupportedMedia()
    if not speech_available:
        raise NoSpeechService()
    if limit_bytes is not None:
        check_incoming(size=media.size, limit_bytes=limit_bytes, mime_type=mime_type,
                       file_name=media.file_name)
    if media.duration is not None:
        check_duration(media.duration, max_minutes)


def should_announce(media: IncomingMedia) -> bool:
    """Whether to say "transcribing…" first: the recording will take a noticeable time."""
    return media.duration is not None and media.duration > ANNOUNCE_ABOVE_SECONDS


def spoken_duration(seconds: float) -> str:
    """``45 s``, ``3 min 20 s`` or ``1 h 05 min``: how long a recording is, for people."""
    total = max(1, round(seconds))
    hours, rest = divmod(total, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours} h {minutes:02d} min"
    if minutes:
        return f"{minutes} min {secs} s" if secs else f"{minutes} min"
    return f"{secs} s"


def invitation(heard: Transcript, language: str, *, reset: str = "/reset") -> str:
    """How to ask about the recording; for a long one, how much of it answers draw on.

    The model is shown only the start of a long transcript: saying so beats letting questions
    about the end get "I don't know" unexplained. ``reset`` is the channel's way to forget.
    """
    text = say("ask", language, reset=reset)
    if len(heard.text) > TRANSCRIPT_PROMPT_CHARS:
        covered = heard.duration_s * TRANSCRIPT_PROMPT_CHARS / len(heard.text) / 60
        text += " " + say("first_part", language, minutes=str(max(1, round(covered))))
    return text


def inline_transcript(heard: Transcript, name: str, language: str) -> str | None:
    """The transcript as one message with its header, or None when it must go as a file."""
    if len(heard.text) > INLINE_TRANSCRIPT_CHARS:
        return None
    return say("transcript", language, name=name, duration=spoken_duration(heard.duration_s),
               text=heard.text)


async def share_transcript(state: aiosqlite.Connection, conversation: str, name: str,
                           heard: Transcript) -> None:
    """Make the transcript the conversation's shared context (replacing any earlier one)."""
    await memory.save_transcript(state, conversation, name, heard.text)
