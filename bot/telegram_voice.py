"""Voice notes, audio and video in Telegram: downloaded, transcribed, then answered or shared.

A voice note (or a round video note) is a question: the bot shows what it heard and answers it
as if it had been typed. An audio file or a video (also sent as a document) is a recording: the
bot sends its transcript and keeps it as the conversation's shared context, so follow-up
questions are answered from it alongside the catalog.

Each message is handled under its conversation's lock, so replies keep the order the messages
were sent, and inside a temporary directory that is removed whatever happens. Sizes and
durations Telegram reports are checked before anything is downloaded; conversions run in
worker threads (``bot.speech``), a few recordings at a time.
"""

from __future__ import annotations

import asyncio
import logging
import mimetypes
import re
import tempfile
import time
import warnings
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

from telegram import Message, Update
from telegram.constants import ChatAction, ChatType
from telegram.error import TelegramError
from telegram.ext import MessageHandler, filters
from telegram.warnings import PTBDeprecationWarning

from bot import memory
from bot.audio import UnsupportedMedia, check_duration, check_incoming, is_supported
from bot.errors import UserFacingError
from bot.prompt import TRANSCRIPT_PROMPT_CHARS, speech_prompt
from bot.reply import Conversation, Reply
from bot.speech import SpeechUnavailable, Transcript, synthesize_voice, transcribe
from bot.telegram_bot import (
    KratosApplication,
    KratosContext,
    admit,
    answer_and_send,
    chat_action,
    is_addressed_to,
    send_text,
)
from bot.telegram_format import for_phone, to_plain

logger = logging.getLogger(__name__)

#: A transcript up to this long comes as a message (with room for the header under Telegram's
#: 4096 characters); a longer one comes as a .txt document.
INLINE_TRANSCRIPT_CHARS = 3500
SPOKEN_REPLY_CHARS = 400
#: A 20 MB file over a slow link takes far longer than PTB's default 5 s read timeout.
DOWNLOAD_TIMEOUT = 120.0
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
               "mencionan?». Con /reset la olvido.",
        "first_part": "Como es larga, para responder tengo en cuenta más o menos sus primeros "
                      "{minutes} minutos.",
        "download_failed": "No pude descargar el archivo desde Telegram. Inténtalo de nuevo en "
                           "un momento.",
        "download_refused": "Telegram no me deja descargar ese archivo: el máximo es "
                            "{limit} MB. ¿Puedes enviar uno más pequeño o más corto?",
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
               "mentioned?”. /reset forgets it.",
        "first_part": "As it is long, I answer from roughly its first {minutes} minutes.",
        "download_failed": "I couldn't download the file from Telegram. Please try again in a "
                           "moment.",
        "download_refused": "Telegram won't let me download that file: the limit is {limit} MB. "
                            "Could you send a smaller or shorter one?",
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
    """One of this module's sentences, Spanish unless the user's Telegram speaks English."""
    return TEXTS["en" if language.startswith("en") else "es"][key].format(**values)


class DownloadFailed(UserFacingError):
    """Telegram would not hand over the file, or the connection failed while fetching it."""

    def __init__(self, *, too_big_limit: int | None = None) -> None:
        if too_big_limit is not None:
            limit = str(too_big_limit // (1024 * 1024))
            super().__init__(es=say("download_refused", "es", limit=limit),
                             en=say("download_refused", "en", limit=limit))
        else:
            super().__init__(es=say("download_failed", "es"), en=say("download_failed", "en"))


@dataclass(frozen=True)
class IncomingMedia:
    """The sound-carrying file of a message, as Telegram describes it before any download."""

    kind: str  # voice, video_note, audio, video, document, or link (file_id is the URL)
    file_id: str
    size: int | None
    duration: float | None
    mime_type: str | None
    file_name: str | None

    @property
    def download_name(self) -> str:
        """A safe local name; ffmpeg reads the content, the suffix only helps it guess."""
        if self.kind == "voice":
            return "voice.ogg"
        if self.kind == "video_note":
            return "video-note.mp4"
        suffix = Path(self.file_name).suffix if self.file_name else ""
        if not SAFE_SUFFIX.fullmatch(suffix):
            suffix = mimetypes.guess_extension(self.mime_type or "") or ""
        return f"recording{suffix}"

    def display_name(self, language: str) -> str:
        """The file's own name, tidied and shortened, or a word for its kind."""
        name = " ".join((self.file_name or "").split())
        if not name:
            return say(self.kind, language)
        return name if len(name) <= NAME_CHARS else name[:NAME_CHARS - 1] + "…"


def _seconds(value: float | timedelta | None) -> float | None:
    if isinstance(value, timedelta):
        return value.total_seconds()
    return None if value is None else float(value)


def incoming_media(message: Message) -> IncomingMedia | None:
    """The voice note, video note, audio, video or document of ``message``, if any."""
    # PTB 22 warns that durations will become timedeltas; _seconds takes either shape.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", PTBDeprecationWarning)
        if message.voice is not None:
            voice = message.voice
            return IncomingMedia("voice", voice.file_id, voice.file_size,
                                 _seconds(voice.duration), voice.mime_type or "audio/ogg", None)
        if message.video_note is not None:
            note = message.video_note
            return IncomingMedia("video_note", note.file_id, note.file_size,
                                 _seconds(note.duration), "video/mp4", None)
        if message.audio is not None:
            audio = message.audio
            return IncomingMedia("audio", audio.file_id, audio.file_size,
                                 _seconds(audio.duration), audio.mime_type, audio.file_name)
        if message.video is not None:
            video = message.video
            return IncomingMedia("video", video.file_id, video.file_size,
                                 _seconds(video.duration), video.mime_type, video.file_name)
    if message.document is not None:
        document = message.document
        return IncomingMedia("document", document.file_id, document.file_size, None,
                             document.mime_type, document.file_name)
    return None


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


async def _download(context: KratosContext, media: IncomingMedia, workdir: Path) -> Path:
    """Fetch the file into ``workdir`` (or find it on disk, with a local Bot API server)."""
    settings = context.bot_data.settings
    try:
        telegram_file = await context.bot.get_file(media.file_id)
        local = telegram_file.file_path
        if settings.telegram_local_mode and local and Path(local).is_absolute():
            # A local Bot API server keeps the file on this disk: read it in place instead of
            # copying up to 2 GB (PTB copies on the event loop).
            path = Path(local)
            if not await asyncio.to_thread(path.is_file):
                logger.error("the local Bot API server's file %s is not readable here: mount "
                             "its working directory at the same path", local)
                raise DownloadFailed()
            return path
        return await telegram_file.download_to_drive(workdir / media.download_name,
                                                     read_timeout=DOWNLOAD_TIMEOUT)
    except TelegramError as error:
        logger.warning("download of %s %s failed: %s", media.kind, media.file_id, error)
        if "too big" in str(error).lower():
            raise DownloadFailed(too_big_limit=settings.telegram_download_limit) from error
        raise DownloadFailed() from error


#: Fetches a recording into the given directory and returns its path (a link's download).
Fetch = Callable[[Path], Awaitable[Path]]


def _telegram_fetch(context: KratosContext, media: IncomingMedia) -> Fetch:
    async def fetch(workdir: Path) -> Path:
        return await _download(context, media, workdir)

    return fetch


async def _transcribe(message: Message, context: KratosContext, conversation: Conversation,
                      media: IncomingMedia, fetch: Fetch | None = None) -> Transcript | None:
    """Transcribe ``media``, or tell the user kindly why not and return None.

    ``fetch`` replaces the download from Telegram (for a link, whose type and size are known
    only once it answers: ``bot.media_fetch`` checks them while streaming).
    """
    language = conversation.language
    settings = context.bot_data.settings
    try:
        # Not media at all is said first: "voice needs setting up" would be no answer to a PDF.
        if not is_supported(media.mime_type, media.file_name):
            raise UnsupportedMedia()
        llm = context.app.llm
        if llm is None:
            await send_text(message, say("no_speech_service", language))
            return None
        if fetch is None:
            check_incoming(size=media.size, limit_bytes=settings.telegram_download_limit,
                           mime_type=media.mime_type, file_name=media.file_name)
        if media.duration is not None:
            check_duration(media.duration, settings.max_audio_minutes)
        prompt = speech_prompt(context.app.profile, context.bot_data.settings.transcribe_language)
        if media.duration is not None and media.duration > ANNOUNCE_ABOVE_SECONDS:
            await send_text(message, say("working", language,
                                         duration=spoken_duration(media.duration)))
        async with chat_action(message), context.bot_data.media_slots:
            with tempfile.TemporaryDirectory(prefix="kratos-telegram-") as scratch:
                workdir = Path(scratch)
                path = await (fetch or _telegram_fetch(context, media))(workdir)
                return await transcribe(llm, settings, path, prompt=prompt, workdir=workdir)
    except UserFacingError as error:
        logger.info("chat %s: %s not transcribed: %s", message.chat_id, media.kind,
                    type(error).__name__)
        await send_text(message, error.user_message(language))
        return None


async def _speak(message: Message, context: KratosContext, reply: Reply) -> None:
    """Send a short answer again as a voice note; on any failure the written one stands."""
    text = to_plain(for_phone(reply.text)).strip()
    llm = context.app.llm
    if reply.failed or llm is None or not text or len(text) > SPOKEN_REPLY_CHARS:
        return
    try:
        async with chat_action(message, ChatAction.RECORD_VOICE):
            audio = await synthesize_voice(llm, context.bot_data.settings, text)
        await message.reply_voice(audio, do_quote=message.chat.type != ChatType.PRIVATE,
                                  allow_sending_without_reply=True)
    except SpeechUnavailable:
        logger.warning("chat %s: no spoken reply, the speech endpoint failed", message.chat_id)
    except TelegramError as error:
        # e.g. users who do not accept voice messages (VOICE_MESSAGES_FORBIDDEN).
        logger.warning("chat %s: the spoken reply was refused: %s", message.chat_id, error)


async def voice_message(update: Update, context: KratosContext) -> None:
    """Shows what it heard («…») and then answers it as if it had been typed."""
    conversation = await admit(update, context)
    message = update.effective_message
    media = incoming_media(message) if message is not None else None
    if conversation is None or message is None or media is None:
        return
    data = context.bot_data
    received = time.monotonic()
    with data.answering():
        async with data.locks.hold(conversation.key):
            heard = await _transcribe(message, context, conversation, media)
            if heard is None:
                return
            if not heard.text:
                await send_text(message, say("nothing_heard", conversation.language))
                return
            await send_text(message, say("heard", conversation.language, text=heard.text))
            reply = await answer_and_send(update, context, conversation, heard.text,
                                          received=received)
            if data.settings.voice_replies:
                await _speak(message, context, reply)


async def _deliver_transcript(message: Message, media: IncomingMedia, heard: Transcript,
                              name: str, language: str) -> None:
    """The transcript as a message, or as a .txt document when long; then how to ask."""
    duration = spoken_duration(heard.duration_s)
    ask = say("ask", language)
    if len(heard.text) > TRANSCRIPT_PROMPT_CHARS:
        # The model is shown only the start of a long transcript: say so rather than let
        # questions about the end get "I don't know" unexplained.
        covered = heard.duration_s * TRANSCRIPT_PROMPT_CHARS / len(heard.text) / 60
        ask += " " + say("first_part", language, minutes=str(max(1, round(covered))))
    if len(heard.text) <= INLINE_TRANSCRIPT_CHARS:
        await send_text(message, say("transcript", language, name=name, duration=duration,
                                     text=heard.text) + "\n\n" + ask)
        return
    stem = Path(media.file_name).stem if media.file_name else media.kind
    filename = f"{say('txt', language)}-{re.sub(r'[^A-Za-z0-9_-]+', '_', stem)[:40]}.txt"
    caption = say("transcript_file", language, name=name, duration=duration) + "\n\n" + ask
    async with chat_action(message, ChatAction.UPLOAD_DOCUMENT):
        await message.reply_document(heard.text.encode("utf-8"), filename=filename,
                                     caption=caption,
                                     do_quote=message.chat.type != ChatType.PRIVATE,
                                     allow_sending_without_reply=True)


async def recording_message(update: Update, context: KratosContext) -> None:
    """Sends the recording's transcript (a .txt file when long) and invites questions on it."""
    conversation = await admit(update, context)
    message = update.effective_message
    media = incoming_media(message) if message is not None else None
    if conversation is None or media is None:
        return
    await share_recording(update, context, conversation, media)


async def share_recording(update: Update, context: KratosContext, conversation: Conversation,
                          media: IncomingMedia, fetch: Fetch | None = None,
                          display_name: Callable[[str], str] | None = None) -> None:
    """Transcribe a recording (sent, or fetched by ``fetch``), send the transcript, and make it
    the conversation's shared context. ``display_name(language)`` names it when only the
    fetch learns its name."""
    message, user = update.effective_message, update.effective_user
    if message is None or user is None:
        return
    data = context.bot_data
    language = conversation.language
    with data.answering():
        async with data.locks.hold(conversation.key):
            heard = await _transcribe(message, context, conversation, media, fetch)
            if heard is None:
                return
            name = (display_name or media.display_name)(language)
            if not heard.text:
                await send_text(message, say("nothing_in_recording", language, name=name))
                return
            state = context.app.state
            await memory.touch_user(state, user.id, user.username, user.language_code)
            await memory.save_transcript(state, conversation.key, name, heard.text)
            await _deliver_transcript(message, media, heard, name, language)
    logger.info("update %s conversation %s: shared a transcript of %.0f s (%d characters, "
                "%d chunk(s))", update.update_id, conversation.key, heard.duration_s,
                len(heard.text), heard.chunks)


class _GroupMedia(filters.MessageFilter):
    """Group messages with sound that GROUP_VOICE_MODE lets through.

    ``off``: none. ``reply``: those replying to the bot or mentioning it in their caption.
    ``all``: every voice note, audio and video; documents only if they look like media (or are
    addressed to the bot, which then explains what it accepts).
    """

    def __init__(self, mode: str) -> None:
        super().__init__(name=f"GroupMedia({mode})")
        self.mode = mode

    def filter(self, message: Message) -> bool:
        if self.mode == "off":
            return False
        bot = message.get_bot()
        if is_addressed_to(message, bot.id, bot.username):
            return True
        if self.mode != "all":
            return False
        document = message.document
        return document is None or is_supported(document.mime_type, document.file_name)


def add_voice_handlers(application: KratosApplication) -> None:
    """Register the voice note and recording handlers (private chats, and groups by mode)."""
    mode = application.bot_data.settings.group_voice_mode
    where = filters.ChatType.PRIVATE | (filters.ChatType.GROUPS & _GroupMedia(mode))
    new = filters.UpdateType.MESSAGE
    notes = filters.VOICE | filters.VIDEO_NOTE
    # An animation (GIF) also arrives as a document: it has no sound worth transcribing.
    recordings = filters.AUDIO | filters.VIDEO | (filters.Document.ALL & ~filters.ANIMATION)
    application.add_handler(MessageHandler(new & notes & where, voice_message))
    application.add_handler(MessageHandler(new & recordings & where, recording_message))
