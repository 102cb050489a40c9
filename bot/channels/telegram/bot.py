"""The Telegram face of KRATOS: a thin python-telegram-bot adapter over the assistant core.

Handlers decide whether a message is meant for the bot, whether its sender may ask and how
often; ``bot.core.assistant.answer`` does the answering. Updates are handled concurrently across
conversations and in order within one: each conversation has a FIFO lock, taken in update
order. ``app`` builds the Application with these handlers and serves it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import time
from collections.abc import AsyncIterator, Iterator
from typing import Any

from telegram import Message, MessageEntity, Update, User
from telegram.constants import ChatAction, ChatType, ParseMode
from telegram.error import BadRequest, Forbidden, TelegramError
from telegram.ext import Application, CallbackContext, ExtBot, filters

from bot.channels.telegram.access import Access, Memberships, Sender, access, sender_of
from bot.channels.telegram.format import MAX_REPLY_MESSAGES, render_bounded
from bot.channels.telegram.http import AiohttpRequest
from bot.channels.telegram.stream import live_reply
from bot.core import memory
from bot.core.assistant import answer, readable, reset_conversation
from bot.core.capabilities import Capabilities, catalog_examples, media_help
from bot.core.context import AppContext
from bot.core.pacing import ConversationLocks, RateLimit, Verdict
from bot.core.recent_answers import AnsweredQuestion, RecentAnswers
from bot.core.reply import Conversation, Reply
from bot.core.stats import format_stats, usage_stats
from bot.settings import Settings

logger = logging.getLogger(__name__)

TYPING_EVERY = 4.0  # Telegram shows "typing…" for about 5 s after each chat action.
# An answer sent sooner than this shows no "typing…" (basic mode answers in milliseconds; a model
# takes seconds): one Bot API request fewer per quick answer, within Telegram's 30 a second.
TYPING_AFTER = 0.5
POLL_TIMEOUT = 30  # Seconds one getUpdates long poll may wait on Telegram's side.
SEND_RETRIES = 3  # Retries after a 429 (RetryAfter) before a send gives up.
# `docker stop` kills after 10 s: answers in flight get most of that, shutdown the rest.
SHUTDOWN_GRACE = 8.0
# Edits too: a corrected question is answered again (bot.channels.telegram.events).
ALLOWED_UPDATES = [Update.MESSAGE, Update.EDITED_MESSAGE]
MEDIA_AT_ONCE = 2
CONCURRENT_UPDATES = 256  # PTB's default for concurrent_updates(True): connections for sends.
POOL_TIMEOUT = 10.0  # Seconds a Bot API request may wait for a free connection.

TEXTS: dict[str, dict[str, str]] = {
    "es": {
        "start": "¡Hola! Soy **KRATOS**, el asistente de la tienda. Pregúntame por productos, "
                 "precios y stock. Por ejemplo:\n"
                 "{examples}\n\n"
                 "{understand}\n\n"
                 "En un grupo, mencióname (@{username}) o responde a uno de mis mensajes. "
                 "/help muestra todo lo que puedo hacer.",
        "help": "Respondo preguntas sobre el catálogo de la tienda: productos, precios, stock "
                "y categorías. Recuerdo la conversación, así que puedes repreguntar "
                "(«¿y el más barato?»).\n\n"
                "**Comandos**\n"
                "/start — saludo y ejemplos\n"
                "/help — esta ayuda\n"
                "/reset — olvidar nuestra conversación\n"
                "{admin}\n"
                "{media}\n\n"
                "En grupos respondo cuando me mencionas (@{username}), cuando respondes a uno "
                "de mis mensajes o con un comando dirigido a mí.",
        "help_admin": "/stats — uso del asistente (administradores)\n",
        "reset": "Listo, olvidé nuestra conversación. ¿En qué te ayudo?",
        "not_allowed": "Lo siento, este asistente es solo para el personal autorizado de la "
                       "tienda.",
        "slow_down": "Vas muy rápido 🙂 Espera un momento y vuelve a escribirme.",
        "admins_only": "Ese comando es solo para administradores.",
        "unknown_command": "No conozco el comando /{command}. Escríbeme tu pregunta sin la barra "
                           "(«{words}») o mira /help.",
        "failed": "Perdona, algo falló al responderte. Inténtalo de nuevo en un momento.",
        "more": "La respuesta sigue en {more} mensaje(s) más que no envío. Haz una pregunta más "
                "precisa (una marca, un rango de precios, menos productos) y te respondo completo.",
    },
    "en": {
        "start": "Hi! I'm **KRATOS**, the store's assistant. Ask me about products, prices and "
                 "stock. For example:\n"
                 "{examples}\n\n"
                 "{understand}\n\n"
                 "In a group, mention me (@{username}) or reply to one of my messages. "
                 "/help shows everything I can do.",
        "help": "I answer questions about the store's catalog: products, prices, stock and "
                "categories. I remember the conversation, so you can follow up "
                "(“and the cheapest?”).\n\n"
                "**Commands**\n"
                "/start — greeting and examples\n"
                "/help — this help\n"
                "/reset — forget our conversation\n"
                "{admin}\n"
                "{media}\n\n"
                "In groups I answer when you mention me (@{username}), reply to one of my "
                "messages, or send a command addressed to me.",
        "help_admin": "/stats — assistant usage (admins)\n",
        "reset": "Done, I forgot our conversation. How can I help?",
        "not_allowed": "Sorry, this assistant is only for the store's authorised staff.",
        "slow_down": "You're going fast 🙂 Please wait a moment and write again.",
        "admins_only": "That command is for admins only.",
        "unknown_command": "I don't know the command /{command}. Write your question without "
                           "the slash (“{words}”) or see /help.",
        "failed": "Sorry, something went wrong while answering. Please try again in a moment.",
        "more": "The answer goes on for {more} more message(s) that I am not sending. Ask a "
                "narrower question (a brand, a price range, fewer products) for all of it.",
    },
}

COMMANDS = {
    "es": [("start", "Saludo y ejemplos de preguntas"), ("help", "Qué puedo hacer"),
           ("reset", "Olvidar nuestra conversación")],
    "en": [("start", "Greeting and example questions"), ("help", "What I can do"),
           ("reset", "Forget our conversation")],
}
STATS_COMMAND = {"es": ("stats", "Uso del asistente (administradores)"),
                 "en": ("stats", "Assistant usage (admins)")}


def say(key: str, language: str, **values: str) -> str:
    """One of the adapter's sentences, Spanish unless the user's Telegram speaks English."""
    return TEXTS["en" if language.startswith("en") else "es"][key].format(**values)


def user_language(user: User | None) -> str:
    """The reply language for a user: English if their Telegram is in English, else Spanish."""
    return "en" if user and (user.language_code or "").startswith("en") else "es"


class BotData:
    """What the handlers share during one run: the core's context, locks, limits, refusals."""

    def __init__(self) -> None:
        self.app: AppContext | None = None
        self.locks = ConversationLocks()
        self.refused_users: set[int] = set()
        self.memberships = Memberships()
        self.in_flight: set[asyncio.Task[Any]] = set()
        # Recordings converted at once; each holds a worker thread for up to minutes, and the
        # catalog's SQL checks share that thread pool, so text answers must find one free.
        self.media_slots = asyncio.Semaphore(MEDIA_AT_ONCE)
        self.recent = RecentAnswers()
        #: Groups upgraded to supergroups: new chat id -> the id before (from the state DB).
        self.former_chat_ids: dict[int, int] = {}
        self.purge_task: asyncio.Task[None] | None = None
        #: The Bot API clients, closed by ``serve`` even when the bot never got started.
        self.requests: tuple[AiohttpRequest, ...] = ()
        self.configure(Settings())

    def configure(self, settings: Settings) -> None:
        """Use ``settings`` (``build_application`` calls this before anything runs)."""
        self.settings = settings
        self.rate_limit = RateLimit(settings.rate_limit_messages, settings.rate_limit_window)

    def chat_id_for_rules(self, chat_id: int) -> int:
        """The id the allow-list knows a chat by: its own, or its id before an upgrade."""
        former = self.former_chat_ids.get(chat_id)
        if former is None or chat_id in self.settings.allowed_chat_ids:
            return chat_id
        return former

    @contextlib.contextmanager
    def answering(self) -> Iterator[None]:
        """Count the running handler among the answers a shutdown waits for."""
        task = asyncio.current_task()
        if task is not None:
            self.in_flight.add(task)
        try:
            yield
        finally:
            if task is not None:
                self.in_flight.discard(task)

    async def finish_in_flight(self, grace: float) -> None:
        """Let answers being written finish, for at most ``grace`` seconds; cancel the rest."""
        if not self.in_flight:
            return
        logger.info("waiting up to %.1fs for %d answer(s) in flight", grace, len(self.in_flight))
        _, pending = await asyncio.wait(set(self.in_flight), timeout=grace)
        for task in pending:
            task.cancel()
        if pending:
            logger.warning("cancelled %d answer(s) still running after %.1fs", len(pending),
                           grace)


class KratosContext(CallbackContext[ExtBot[Any], dict[Any, Any], dict[Any, Any], BotData]):
    """The handlers' context: ``context.app`` is the core's ``AppContext``."""

    @property
    def app(self) -> AppContext:
        if self.bot_data.app is None:
            raise RuntimeError("the bot's resources are not open yet (post_init has not run)")
        return self.bot_data.app


KratosApplication = Application[
    ExtBot[Any], KratosContext, dict[Any, Any], dict[Any, Any], BotData, Any
]


async def is_allowed(context: KratosContext, chat_id: int, chat_type: str,
                     sender: Sender) -> bool:
    """Whether ``sender`` may ask in this chat (the rules: ``bot.channels.telegram.access``)."""
    settings = context.bot_data.settings
    verdict = access(settings, chat_id, chat_type, sender)
    if verdict is Access.IF_MEMBER:
        return await context.bot_data.memberships.member_of_any(
            context.bot, sender.id, settings.allowed_chat_ids)
    return verdict is Access.ALLOW


def _bot_mentions(message: Message, bot_id: int, username: str) -> list[MessageEntity]:
    wanted = f"@{username}".lower()
    kinds = [MessageEntity.MENTION, MessageEntity.TEXT_MENTION]
    # A message has text or a caption (voice notes, audio, documents), never both.
    found = {**message.parse_entities(kinds), **message.parse_caption_entities(kinds)}
    return [entity for entity, text in found.items()
            if (entity.type == MessageEntity.MENTION and text.lower() == wanted)
            or (entity.type == MessageEntity.TEXT_MENTION and entity.user is not None
                and entity.user.id == bot_id)]


def is_addressed_to(message: Message, bot_id: int, username: str) -> bool:
    """A group message is for the bot when it replies to one of its messages or mentions it.

    The mention may be in the text or, for a voice note, audio or document, in the caption.
    """
    replied = message.reply_to_message
    # In a forum every message "replies" to its topic's first message: that is no reply to us.
    if (replied is not None and replied.from_user is not None
            and replied.from_user.id == bot_id and replied.forum_topic_created is None):
        return True
    return bool(_bot_mentions(message, bot_id, username))


def question_text(message: Message, bot_id: int, username: str) -> str:
    """The message text without the mentions of the bot (they are addressing, not asking)."""
    text = message.text or ""
    mentions = _bot_mentions(message, bot_id, username)
    if not mentions:
        return text.strip()
    # Entity offsets count UTF-16 code units.
    encoded = text.encode("utf-16-le")
    for entity in sorted(mentions, key=lambda e: e.offset, reverse=True):
        encoded = encoded[:2 * entity.offset] + encoded[2 * (entity.offset + entity.length):]
    return re.sub(r"[ \t]{2,}", " ", encoded.decode("utf-16-le")).strip(" ,:\n")


class _AddressedToBot(filters.MessageFilter):
    """Group messages meant for this bot (see ``is_addressed_to``)."""

    def filter(self, message: Message) -> bool:
        bot = message.get_bot()
        return is_addressed_to(message, bot.id, bot.username)


@contextlib.asynccontextmanager
async def chat_action(message: Message, action: str = ChatAction.TYPING, *,
                      after: float = 0.0) -> AsyncIterator[None]:
    """Show ``action`` ("typing…" by default) in the message's chat until the block ends.

    With ``after``, nothing is shown unless the block is still running that many seconds
    later: Telegram recommends chat actions only for replies that take a noticeable time.
    """

    async def keep_showing() -> None:
        while True:
            try:
                await message.reply_chat_action(action)
            except TelegramError as error:
                # Decoration only: a failed chat action must never cost the answer.
                logger.debug("chat %s: %s action failed: %s", message.chat_id, action, error)
            await asyncio.sleep(TYPING_EVERY)

    tasks: list[asyncio.Task[None]] = []

    def start() -> None:
        tasks.append(asyncio.create_task(keep_showing()))

    # A timer rather than a sleeping task: a quick answer then costs no task at all.
    timer = asyncio.get_running_loop().call_later(after, start)
    try:
        yield
    finally:
        timer.cancel()
        for task in tasks:
            # Not awaited: awaiting a cancelled task here could swallow our own cancellation.
            task.cancel()


async def send_text(message: Message, text: str, language: str = "es", *,
                    sent: list[Message] | None = None) -> int:
    """Send ``text`` in reply to ``message`` as one or more HTML messages; returns how many.

    At most ``MAX_REPLY_MESSAGES``: past that the last one says, in ``language``, how many more
    there were and how to narrow the question. In groups the first message quotes the
    question, so everyone sees whom it answers. If Telegram refuses the HTML anyway, that part
    goes again as plain text. The messages sent are appended to ``sent`` when given.
    """
    # A lone surrogate (from a transcript, a model, a catalog) would fail the whole request.
    chunks = render_bounded(readable(text), MAX_REPLY_MESSAGES,
                            lambda more: say("more", language, more=str(more)))
    if not chunks:
        raise ValueError("refusing to send an empty reply")
    quote = message.chat.type != ChatType.PRIVATE
    for index, chunk in enumerate(chunks):
        do_quote = quote and index == 0
        try:
            out = await message.reply_text(chunk.html, parse_mode=ParseMode.HTML,
                                           do_quote=do_quote, allow_sending_without_reply=True)
        except BadRequest as error:
            if "can't parse entities" not in error.message.lower():
                raise
            logger.warning("chat %s: Telegram refused the HTML (%s); sending plain text",
                           message.chat_id, error.message)
            out = await message.reply_text(chunk.plain, do_quote=do_quote,
                                           allow_sending_without_reply=True)
        if sent is not None:
            sent.append(out)
    return len(chunks)


async def admit(update: Update, context: KratosContext) -> Conversation | None:
    """The conversation this message belongs to, or None (after any refusal was sent).

    It awaits nothing unless it refuses, so handlers reach the conversation lock in the order
    the updates arrived.
    """
    message, user, chat = update.effective_message, update.effective_user, update.effective_chat
    if message is None or user is None or chat is None:
        return None
    if message.is_automatic_forward:
        # A linked channel's post copied into its discussion group: nobody asked anything.
        return None
    data = context.bot_data
    language = user_language(user)
    sender = sender_of(message, user)
    if not await is_allowed(context, data.chat_id_for_rules(chat.id), chat.type, sender):
        if sender.id not in data.refused_users:
            data.refused_users.add(sender.id)
            logger.info("update %s chat %s: sender %s is not allowed; refusing once",
                        update.update_id, chat.id, sender.id)
            await send_text(message, say("not_allowed", language))
        return None
    verdict = data.rate_limit.check(sender.id)
    if verdict is not Verdict.ALLOW:
        logger.info("update %s chat %s: sender %s is over the rate limit",
                    update.update_id, chat.id, sender.id)
        if verdict is Verdict.WARN:
            await send_text(message, say("slow_down", language))
        return None
    if chat.type == ChatType.PRIVATE:
        return Conversation.private(sender.id, language)
    return Conversation.group(chat.id, sender.id, language)


async def _respond(update: Update, context: KratosContext, conversation: Conversation,
                   text: str) -> None:
    """Answer ``text`` after the conversation's earlier messages, showing "typing…" meanwhile."""
    data = context.bot_data
    received = time.monotonic()
    with data.answering():
        async with data.locks.hold(conversation.key):
            await answer_and_send(update, context, conversation, text, received=received)


async def answer_and_send(update: Update, context: KratosContext, conversation: Conversation,
                          text: str, *, received: float) -> Reply:
    """Answer ``text`` and send the reply; the caller holds the conversation's lock.

    Every kind of question (typed text, and a voice note once transcribed) comes through here,
    so memory and delivery behave the same for all.
    """
    message, user = update.effective_message, update.effective_user
    assert message is not None and user is not None
    started = time.monotonic()
    live = live_reply(message, send_text, conversation.language,
                      enabled=context.bot_data.settings.stream_replies)
    sent: list[Message] = []
    try:
        async with chat_action(message, after=TYPING_AFTER):
            reply = await answer(context.app, conversation, text, preview=live)
            answered = time.monotonic()
            parts = await (live.finish(reply.text, sent=sent) if live
                           else send_text(message, reply.text, conversation.language, sent=sent))
    finally:
        if live is not None:
            await live.close()
    # A typed question may be corrected by editing it: remember where its answer went.
    context.bot_data.recent.note(conversation.key, AnsweredQuestion(
        message.chat_id, message.message_id, text.strip(), tuple(m.message_id for m in sent),
        answered))
    # After the reply: /stats needs who and when, not before the answer.
    sender = sender_of(message, user)
    await memory.touch_user(context.app.state, sender.id, sender.username, sender.language_code)
    logger.info(
        "update %s chat %s conversation %s: engine=%s failed=%s refused=%s parts=%d "
        "queued=%.2fs answer=%.2fs send=%.2fs",
        update.update_id, message.chat_id, conversation.key, reply.engine, reply.failed,
        reply.refused, parts, started - received, answered - started, time.monotonic() - answered,
    )
    return reply


async def text_message(update: Update, context: KratosContext) -> None:
    """Answers the question: any text in a private chat, text addressed to the bot in a group."""
    conversation = await admit(update, context)
    if conversation is None or update.effective_message is None:
        return
    question = question_text(update.effective_message, context.bot.id, context.bot.username)
    await _respond(update, context, conversation, question)


async def start_command(update: Update, context: KratosContext) -> None:
    """Greets the user and suggests a few example questions."""
    conversation = await admit(update, context)
    if conversation is None or update.effective_message is None:
        return
    language = conversation.language
    capabilities = Capabilities.of(context.bot_data.settings)
    async with context.bot_data.locks.hold(conversation.key):
        examples = await catalog_examples(context.app.catalog, language, context.app.roles)
        await send_text(update.effective_message,
                        say("start", language, username=context.bot.username,
                            examples="\n".join(f"• {e}" for e in examples),
                            understand=capabilities.understand(language)))


async def help_command(update: Update, context: KratosContext) -> None:
    """Explains what the bot answers and lists its commands (/stats only for admins)."""
    conversation = await admit(update, context)
    if conversation is None or update.effective_message is None:
        return
    language = conversation.language
    admin = (say("help_admin", language)
             if conversation.user_id in context.bot_data.settings.admin_user_ids else "")
    async with context.bot_data.locks.hold(conversation.key):
        media = media_help(Capabilities.of(context.bot_data.settings), language,
                           await catalog_examples(context.app.catalog, language,
                                                  context.app.roles))
        await send_text(update.effective_message,
                        say("help", language, username=context.bot.username, admin=admin,
                            media=media))


_COMMAND = re.compile(r"^/(?P<command>\w{1,32})(?:@\w+)?(?P<rest>.*)$", re.DOTALL)


async def unknown_command(update: Update, context: KratosContext) -> None:
    """Answers a command no handler took, in a private chat: which one, and what to do instead.

    "/precio laptops" or "/laptops" is most often a question typed as a command; without this
    the customer got no answer at all.
    """
    conversation = await admit(update, context)
    message = update.effective_message
    if conversation is None or message is None or not message.text:
        return
    match = _COMMAND.match(message.text.strip())
    if match is None:
        return
    words = f"{match['command']}{match['rest']}".replace("_", " ").strip()[:60]
    async with context.bot_data.locks.hold(conversation.key):
        await send_text(message, say("unknown_command", conversation.language,
                                     command=match["command"], words=words))


async def reset_command(update: Update, context: KratosContext) -> None:
    """Forgets the user's conversation (in this chat) and confirms it."""
    conversation = await admit(update, context)
    if conversation is None or update.effective_message is None:
        return
    # Under the lock: a question sent just before /reset is answered (and remembered) first.
    async with context.bot_data.locks.hold(conversation.key):
        await reset_conversation(context.app, conversation)
        await send_text(update.effective_message, say("reset", conversation.language))
    logger.info("update %s: conversation %s reset", update.update_id, conversation.key)


async def stats_command(update: Update, context: KratosContext) -> None:
    """Shows admins usage totals for today and the last 7 days; others get a polite no."""
    conversation = await admit(update, context)
    if conversation is None or update.effective_message is None:
        return
    if conversation.user_id not in context.bot_data.settings.admin_user_ids:
        await send_text(update.effective_message, say("admins_only", conversation.language))
        return
    stats = await usage_stats(context.app.state)
    await send_text(update.effective_message, format_stats(stats, conversation.language))


#: /id's answer: what the owner copies into ALLOWED_USER_IDS, ADMIN_USER_IDS, ALLOWED_CHAT_IDS.
ID_TEXTS = {
    "es": "Tu id de usuario: {user_id}\nId de este chat: {chat_id}\n"
          "(para ALLOWED_USER_IDS, ADMIN_USER_IDS y ALLOWED_CHAT_IDS)",
    "en": "Your user id: {user_id}\nThis chat's id: {chat_id}\n"
          "(for ALLOWED_USER_IDS, ADMIN_USER_IDS and ALLOWED_CHAT_IDS)",
}


async def id_command(update: Update, context: KratosContext) -> None:
    """Tells the sender their Telegram user id and this chat's id, to fill the allow-lists.

    Answered to anyone, even someone the allow-lists leave out (they need their id to be
    added), within the per-user rate limit; it reveals nothing but the asker's own ids.
    """
    message, user, chat = update.effective_message, update.effective_user, update.effective_chat
    if message is None or user is None or chat is None:
        return
    if context.bot_data.rate_limit.check(user.id) is not Verdict.ALLOW:
        return
    text = ID_TEXTS[user_language(user)].format(user_id=user.id, chat_id=chat.id)
    await send_text(message, text)
    logger.info("update %s chat %s: told user %s their ids", update.update_id, chat.id, user.id)


async def on_error(update: object, context: KratosContext) -> None:
    """Logs the failure with its traceback; the user gets one short, kind sentence."""
    error = context.error
    if not isinstance(update, Update):
        logger.error("error outside any update: %s", error, exc_info=error)
        return
    chat_id = update.effective_chat.id if update.effective_chat else None
    if isinstance(error, Forbidden):
        # The user blocked the bot, or the bot was removed from the group: nothing can reach
        # that chat, an apology included. Everyday life for a store bot, not a failure.
        logger.info("update %s chat %s: Telegram delivers nothing there (%s)",
                    update.update_id, chat_id, error.message)
        return
    logger.error("update %s chat %s failed", update.update_id, chat_id, exc_info=error)
    message = update.effective_message
    if message is None:
        return
    try:
        await send_text(message, say("failed", user_language(update.effective_user)))
    except Exception as send_error:
        # The error handler must never raise: PTB would only log it again.
        logger.warning("update %s chat %s: could not send the apology either: %s",
                       update.update_id, chat_id, send_error)
