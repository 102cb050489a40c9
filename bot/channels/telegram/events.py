"""Everything else a Telegram chat can send: photos, stickers, edits, upgrades and links.

A photo's caption is a question; with a vision model (VISION_MODEL) the photo itself is looked
at and the catalog searched for what it shows (``bot.core.vision``). An image sent as a file is
a photo too. Stickers, GIFs, locations, contacts, polls and dice get one friendly line saying
what the bot understands, in private chats, and silence in groups unless they reply to the bot;
they never reach the model. A
corrected latest question is answered again by editing the earlier answer. A group's memory
follows it when it becomes a supergroup. A link to a recording is fetched
(``bot.audio.media_fetch``) and handled as a sent file.
"""

from __future__ import annotations

import logging
import re
import time
from pathlib import Path
from urllib.parse import unquote, urlsplit

from telegram import Message, MessageEntity, Update
from telegram.constants import ParseMode
from telegram.error import BadRequest, TelegramError
from telegram.ext import MessageHandler, filters

from bot.audio.conversion import MEDIA_EXTENSIONS
from bot.audio.media_fetch import FetchLimits, fetch_media
from bot.channels.telegram.bot import (
    TYPING_AFTER,
    KratosApplication,
    KratosContext,
    admit,
    answer_and_send,
    chat_action,
    is_addressed_to,
    question_text,
    send_text,
)
from bot.channels.telegram.format import Chunk, render
from bot.channels.telegram.voice import IncomingMedia, share_recording
from bot.core import memory
from bot.core.assistant import answer
from bot.core.capabilities import Capabilities, other_message_line, photo_without_vision_line
from bot.core.chat_moves import move_chat
from bot.core.recent_answers import AnsweredQuestion
from bot.core.reply import Conversation
from bot.core.vision import VisionUnavailable, describe_photo, photo_question

logger = logging.getLogger(__name__)

#: Photos are small (Telegram keeps them under 10 MB); a slow link still needs more than 5 s.
PHOTO_DOWNLOAD_TIMEOUT = 60.0


class _ForTheBot(filters.MessageFilter):
    """Private messages, and group messages that reply to the bot or mention it."""

    def filter(self, message: Message) -> bool:
        if message.chat.type == "private":
            return True
        bot = message.get_bot()
        return is_addressed_to(message, bot.id, bot.username)


def caption_question(message: Message, bot_id: int, username: str) -> str:
    """The caption without the bot's @mentions (they address the bot, they are not asked)."""
    caption = message.caption or ""
    wanted = f"@{username}".lower()
    kinds = [MessageEntity.MENTION, MessageEntity.TEXT_MENTION]
    ours = [entity for entity, text in message.parse_caption_entities(kinds).items()
            if (entity.type == MessageEntity.MENTION and text.lower() == wanted)
            or (entity.user is not None and entity.user.id == bot_id)]
    # Entity offsets count UTF-16 code units.
    encoded = caption.encode("utf-16-le")
    for entity in sorted(ours, key=lambda e: e.offset, reverse=True):
        encoded = encoded[:2 * entity.offset] + encoded[2 * (entity.offset + entity.length):]
    return " ".join(encoded.decode("utf-16-le").split()).strip(" ,:")


async def _answer(update: Update, context: KratosContext, conversation: Conversation,
                  question: str, received: float) -> None:
    """Answer ``question`` in the conversation's turn (the caller holds nothing)."""
    data = context.bot_data
    with data.answering():
        async with data.locks.hold(conversation.key):
            await answer_and_send(update, context, conversation, question, received=received)


def _image_file_id(message: Message, limit: int) -> str | None:
    """The file to look at: the photo's largest size Telegram lets the bot download, or an
    image sent as a file ("send as file" keeps it uncompressed); None when too big."""
    document = message.document
    if document is not None:
        fits = document.file_size is None or document.file_size <= limit
        return document.file_id if fits else None
    sizes = [p for p in message.photo if p.file_size is None or p.file_size <= limit]
    if not sizes:
        return None
    return max(sizes, key=lambda p: p.width * p.height).file_id


async def _photo_bytes(message: Message, context: KratosContext) -> bytes | None:
    """The photo's (or image file's) bytes, or None."""
    file_id = _image_file_id(message, context.bot_data.settings.telegram_download_limit)
    if file_id is None:
        return None
    try:
        telegram_file = await context.bot.get_file(file_id)
        return bytes(await telegram_file.download_as_bytearray(
            read_timeout=PHOTO_DOWNLOAD_TIMEOUT))
    except TelegramError as error:
        logger.warning("chat %s: photo download failed: %s", message.chat_id, error)
        return None


async def _look_at(message: Message, context: KratosContext, language: str) -> str | None:
    """What the vision model sees in the photo, or None (the user is told why)."""
    llm = context.app.llm
    assert llm is not None
    async with chat_action(message, after=0.5):
        image = await _photo_bytes(message, context)
        try:
            if image is None:
                raise VisionUnavailable()
            return await describe_photo(llm, context.bot_data.settings.vision_model, image,
                                        language=language)
        except VisionUnavailable as error:
            await send_text(message, error.user_message(language))
            return None


async def photo_message(update: Update, context: KratosContext) -> None:
    """Answers a photo: its caption as a question, and what it shows when vision is on."""
    conversation = await admit(update, context)
    message = update.effective_message
    if conversation is None or message is None:
        return
    received = time.monotonic()
    caption = caption_question(message, context.bot.id, context.bot.username)
    language = conversation.language
    if not Capabilities.of(context.bot_data.settings).photos or context.app.llm is None:
        if caption:
            await _answer(update, context, conversation, caption, received)
        else:
            async with context.bot_data.locks.hold(conversation.key):
                await send_text(message, photo_without_vision_line(language))
        return
    data = context.bot_data
    with data.answering():
        async with data.locks.hold(conversation.key):
            description = await _look_at(message, context, language)
            if description is None:
                return
            logger.info("update %s conversation %s: photo described (%d characters)",
                        update.update_id, conversation.key, len(description))
            await answer_and_send(update, context, conversation,
                                  photo_question(description, caption, language),
                                  received=received)


async def other_message(update: Update, context: KratosContext) -> None:
    """Stickers, GIFs, locations, contacts, polls, dice: one line on what the bot understands."""
    conversation = await admit(update, context)
    message = update.effective_message
    if conversation is None or message is None:
        return
    line = other_message_line(Capabilities.of(context.bot_data.settings),
                              conversation.language)
    async with context.bot_data.locks.hold(conversation.key):
        await send_text(message, line)


async def _edit_one(message: Message, message_id: int, chunk: Chunk) -> None:
    """Put ``chunk`` in place of the bot's message ``message_id`` in ``message``'s chat."""
    bot, chat_id = message.get_bot(), message.chat_id
    try:
        await bot.edit_message_text(chunk.html, chat_id=chat_id, message_id=message_id,
                                    parse_mode=ParseMode.HTML)
    except BadRequest as error:
        reason = error.message.lower()
        if "not modified" in reason:
            return  # the corrected question has the same answer: nothing to change
        if "can't parse entities" not in reason:
            raise
        await bot.edit_message_text(chunk.plain, chat_id=chat_id, message_id=message_id)


async def _replace_answer(message: Message, earlier: AnsweredQuestion, text: str) -> list[int]:
    """Edit the earlier answer's messages into ``text``; returns the answer's message ids.

    A longer answer continues in new messages; messages a shorter one no longer needs go.
    """
    chunks = render(text)
    kept = list(earlier.reply_message_ids[:len(chunks)])
    for message_id, chunk in zip(kept, chunks, strict=False):
        await _edit_one(message, message_id, chunk)
    for chunk in chunks[len(kept):]:
        sent = await message.reply_text(chunk.html, parse_mode=ParseMode.HTML,
                                        do_quote=message.chat.type != "private",
                                        allow_sending_without_reply=True)
        kept.append(sent.message_id)
    for message_id in earlier.reply_message_ids[len(chunks):]:
        try:
            await message.get_bot().delete_message(message.chat_id, message_id)
        except TelegramError as error:
            logger.info("chat %s: could not delete an old answer part: %s", message.chat_id,
                        error)
    return kept


async def _reanswer(update: Update, context: KratosContext, conversation: Conversation,
                    earlier: AnsweredQuestion, question: str) -> None:
    """Answer the corrected ``question`` in place of ``earlier``; memory keeps the new one."""
    message = update.effective_message
    assert message is not None
    state = context.app.state
    started = time.monotonic()
    await memory.forget_last_exchange(state, conversation.key, earlier.question)
    async with chat_action(message, after=TYPING_AFTER):
        reply = await answer(context.app, conversation, question)
        ids = await _replace_answer(message, earlier, reply.text)
    context.bot_data.recent.note(conversation.key, AnsweredQuestion(
        message.chat_id, message.message_id, question, tuple(ids), time.monotonic()))
    logger.info("update %s conversation %s: edited question answered again (engine=%s, "
                "%d part(s), %.2fs)", update.update_id, conversation.key, reply.engine,
                len(ids), time.monotonic() - started)


async def edited_message(update: Update, context: KratosContext) -> None:
    """A corrected latest question: its answer is edited into the answer to the new text."""
    conversation = await admit(update, context)
    message = update.effective_message
    if conversation is None or message is None:
        return
    question = question_text(message, context.bot.id, context.bot.username)
    data = context.bot_data
    with data.answering():
        async with data.locks.hold(conversation.key):
            earlier = data.recent.editable(conversation.key, message.chat_id,
                                           message.message_id)
            if earlier is None or not question or question == earlier.question:
                logger.info("update %s conversation %s: edit of an older or unchanged message "
                            "ignored", update.update_id, conversation.key)
                return
            await _reanswer(update, context, conversation, earlier, question)


async def chat_migrated(update: Update, context: KratosContext) -> None:
    """A group became a supergroup: its memory moves to the new id (nothing is sent)."""
    message = update.effective_message
    if message is None:
        return
    if message.migrate_to_chat_id is not None:
        old, new = message.chat_id, message.migrate_to_chat_id
    elif message.migrate_from_chat_id is not None:
        old, new = message.migrate_from_chat_id, message.chat_id
    else:
        return
    data = context.bot_data
    # Before any await: messages sent in the new group right after this one are admitted.
    data.former_chat_ids[new] = old
    first = await move_chat(context.app.state, old, new)
    allowed = data.settings.allowed_chat_ids
    if first and old in allowed and new not in allowed:
        logger.warning("group %s became supergroup %s and is still served under its old id: "
                       "replace %s with %s in ALLOWED_CHAT_IDS", old, new, old, new)


#: Words that ask for a transcript before a link ("transcribe <link>", "transcríbeme …").
TRANSCRIBE_WORDS = ("transcrib", "transcríb", "transcrip", "transcript")
#: At most this many words may go with a link for the message to be a request for it.
LINK_REQUEST_WORDS = 6


def recording_link(message: Message, bot_id: int, username: str) -> str | None:
    """The link of a message that is only a link, or "transcribe <link>"; else None.

    A link inside a question ("¿tienen esto? https://…") stays a question.
    """
    found = [text for entity, text in message.parse_entities([MessageEntity.URL]).items()]
    found += [entity.url for entity in message.parse_entities([MessageEntity.TEXT_LINK])
              if entity.url]
    if len(found) != 1:
        return None
    link = found[0]
    rest = question_text(message, bot_id, username).replace(link, " ")
    words = re.findall(r"\w+", rest.lower())
    if words and (not words[0].startswith(TRANSCRIBE_WORDS)
                  or len(words) > LINK_REQUEST_WORDS):
        return None
    return link if "://" in link else f"https://{link}"


class _RecordingLink(filters.MessageFilter):
    """Messages that hand the bot a link to a recording (see ``recording_link``)."""

    def filter(self, message: Message) -> bool:
        bot = message.get_bot()
        return recording_link(message, bot.id, bot.username) is not None


def _link_media(url: str) -> IncomingMedia:
    """A link as a recording to share; its name comes from the path when it names media."""
    name = unquote(urlsplit(url).path.rsplit("/", 1)[-1])
    known = name if Path(name).suffix.lower().lstrip(".") in MEDIA_EXTENSIONS else None
    return IncomingMedia("link", url, None, None, None, known)


async def link_message(update: Update, context: KratosContext) -> None:
    """A link to audio or video is fetched and handled exactly like a sent recording."""
    conversation = await admit(update, context)
    message = update.effective_message
    if conversation is None or message is None:
        return
    url = recording_link(message, context.bot.id, context.bot.username)
    if url is None:
        return
    limits = FetchLimits.of(context.bot_data.settings)
    media = _link_media(url)
    named: list[str] = []  # the server's name for the file, once fetched

    async def fetch(workdir: Path) -> Path:
        fetched = await fetch_media(url, workdir, limits)
        named.append(fetched.file_name)
        return fetched.path

    def display_name(language: str) -> str:
        return named[-1] if named else media.display_name(language)

    logger.info("update %s conversation %s: fetching a link to a recording", update.update_id,
                conversation.key)
    await share_recording(update, context, conversation, media, fetch, display_name)


#: What a chat can send that is neither a question nor a recording.
OTHER_CONTENT = (filters.Sticker.ALL | filters.ANIMATION | filters.LOCATION | filters.VENUE
                 | filters.CONTACT | filters.POLL | filters.Dice.ALL | filters.GAME
                 | filters.STORY)


def add_event_handlers(application: KratosApplication) -> None:
    """Register the handlers for photos, for stickers, GIFs, locations and the like, and edits."""
    new = filters.UpdateType.MESSAGE
    for_us = _ForTheBot()
    # An image sent as a file is a photo too (a GIF sent so is an animation: not a photo).
    photos = filters.PHOTO | (filters.Document.IMAGE & ~filters.ANIMATION)
    application.add_handler(MessageHandler(new & photos & for_us, photo_message))
    application.add_handler(MessageHandler(new & OTHER_CONTENT & for_us, other_message))
    application.add_handler(MessageHandler(filters.StatusUpdate.MIGRATE, chat_migrated))
    # Before the text handler (bot.channels.telegram.bot): a link to a recording is not a question.
    links = new & filters.TEXT & ~filters.COMMAND & for_us & _RecordingLink()
    application.add_handler(MessageHandler(links, link_message))
    edits = filters.UpdateType.EDITED_MESSAGE & filters.TEXT & ~filters.COMMAND
    application.add_handler(MessageHandler(edits & for_us, edited_message))
