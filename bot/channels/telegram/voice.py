"""Voice notes, audio and video in Telegram: downloaded, transcribed, then answered or shared.

A voice note (or a round video note) is a question: the bot shows what it heard and answers it
as if it had been typed. An audio file or a video (also sent as a document) is a recording: the
bot sends its transcript and keeps it as the conversation's shared context, so follow-up
questions are answered from it alongside the catalog.

Each message is handled under its conversation's lock, so replies keep the order the messages
were sent, and inside a temporary directory that is removed whatever happens. Sizes and
durations Telegram reports are checked before anything is downloaded; conversions run in
worker threads (``bot.audio.speech``), a few recordings at a time.
"""

from __future__ import annotations

import asyncio
import logging
import tempfile
import time
import warnings
from collections.abc import Awaitable, Callable
from datetime import timedelta
from pathlib import Path

from telegram import Message, Update
from telegram.constants import ChatAction, ChatType
from telegram.error import TelegramError
from telegram.ext import MessageHandler, filters
from telegram.warnings import PTBDeprecationWarning

from bot.audio import recordings
from bot.audio.conversion import is_supported
from bot.audio.recordings import IncomingMedia, spoken_duration
from bot.audio.speech import SpeechUnavailable, Transcript, synthesize_voice, transcribe
from bot.channels.telegram.bot import (
    KratosApplication,
    KratosContext,
    admit,
    answer_and_send,
    chat_action,
    is_addressed_to,
    send_text,
)
from bot.channels.text import for_phone, to_plain
from bot.core import memory
from bot.core.prompt import speech_prompt
from bot.core.reply import Conversation, Reply
from bot.errors import UserFacingError

logger = logging.getLogger(__name__)

SPOKEN_REPLY_CHARS = 400
#: A 20 MB file over a slow link takes far longer than PTB's default 5 s read timeout.
DOWNLOAD_TIMEOUT = 120.0

#: Sentences about Telegram itself; the rest are shared with every channel
#: (``bot.audio.recordings``).
TEXTS: dict[str, dict[str, str]] = {
    "es": {
        "download_failed": "No pude descargar el archivo desde Telegram. Inténtalo de nuevo en "
                           "un momento.",
        "download_refused": "Telegram no me deja descargar ese archivo: el máximo es "
                            "{limit} MB. ¿Puedes enviar uno más pequeño o más corto?",
    },
    "en": {
        "download_failed": "I couldn't download the file from Telegram. Please try again in a "
                           "moment.",
        "download_refused": "Telegram won't let me download that file: the limit is {limit} MB. "
                            "Could you send a smaller or shorter one?",
    },
}


def say(key: str, language: str, **values: str) -> str:
    """One of this module's sentences, Spanish unless the user's Telegram speaks English."""
    own = TEXTS["en" if language.startswith("en") else "es"].get(key)
    return own.format(**values) if own is not None else recordings.say(key, language, **values)


class DownloadFailed(UserFacingError):
    """Telegram would not hand over the file, or the connection failed while fetching it."""

    def __init__(self, *, too_big_limit: int | None = None) -> None:
        if too_big_limit is not None:
            limit = str(too_big_limit // (1024 * 1024))
            super().__init__(es=say("download_refused", "es", limit=limit),
                             en=say("download_refused", "en", limit=limit))
        else:
            super().__init__(es=say("download_failed", "es"), en=say("download_failed", "en"))


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
    only once it answers: ``bot.audio.media_fetch`` checks them while streaming).
    """
    language = conversation.language
    settings = context.bot_data.settings
    try:
        llm = context.app.llm
        # A link's size is checked by its fetch, while streaming.
        recordings.check_before_download(
            media, limit_bytes=None if fetch is not None else settings.telegram_download_limit,
            max_minutes=settings.max_audio_minutes, speech_available=llm is not None)
        assert llm is not None
        prompt = speech_prompt(context.app.profile, context.bot_data.settings.transcribe_language)
        if recordings.should_announce(media):
            await send_text(message, say("working", language,
                                         duration=spoken_duration(media.duration or 0)))
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
    ask = recordings.invitation(heard, language)
    inline = recordings.inline_transcript(heard, name, language)
    if inline is not None:
        await send_text(message, inline + "\n\n" + ask)
        return
    filename = media.transcript_file_name(language)
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
            await recordings.share_transcript(state, conversation.key, name, heard)
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
