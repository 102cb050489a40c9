"""The WhatsApp face of KRATOS: customer messages in, the assistant core's replies out.

The webhook hands each new message to ``WhatsAppChannel.accept`` before it acknowledges the
delivery; ``accept`` claims the message id in the state database (a redelivery is dropped
there) and starts answering in a task, so the acknowledgement never waits for an answer.
Messages of one customer are answered in the order they arrived (a FIFO lock per
conversation); different customers' messages concurrently.

What a customer sees: the message marked read with "typing…" while the answer is written,
the answer quoting their message, cut into WhatsApp-sized messages. Voice notes are
transcribed and answered; audio, video and documents with sound become transcripts to ask
about (``bot.audio.recordings`` decides what is taken and what is said). Typed words stand in for
commands: "reset", "ayuda"/"help", and "stats" for admins.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import tempfile
import time
import unicodedata
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
from pywa_async import WhatsApp
from pywa_async.errors import ReEngagementMessage, WhatsAppError

from bot.audio import recordings
from bot.audio.speech import SpeechUnavailable, Transcript, synthesize_voice, transcribe
from bot.channels.text import for_phone, to_plain
from bot.core import memory
from bot.core.assistant import answer, reset_conversation
from bot.core.capabilities import (
    Capabilities,
    other_message_line,
    photo_without_vision_line,
)
from bot.core.context import AppContext
from bot.core.language import detect_language
from bot.core.pacing import ConversationLocks, RateLimit, Verdict
from bot.core.prompt import speech_prompt
from bot.core.reply import Conversation, Reply
from bot.core.stats import format_stats, usage_stats
from bot.errors import UserFacingError
from bot.settings import Settings

from .delivery import Inbound
from .format import render
from .graph import MAX_MEDIA_BYTES, download_media, with_retries
from .store import WhatsAppStore

if TYPE_CHECKING:
    from openai import AsyncOpenAI

logger = logging.getLogger(__name__)

#: Free-form replies are allowed only within 24 hours of the customer's last message
#: (after that, templates only); a message redelivered later is not answered.
SERVICE_WINDOW_SECONDS = 24 * 3600
#: WhatsApp dismisses "typing…" after 25 s or when the reply arrives; renewed before that.
TYPING_EVERY = 20.0
#: Seconds the reply waits for the first "read + typing" request, so it never lands after it.
TYPING_SETTLE = 2.0
MEDIA_AT_ONCE = 2
SPOKEN_REPLY_CHARS = 400
RESET_WORD = "reset"

TEXTS: dict[str, dict[str, str]] = {
    "es": {
        "help": "Respondo preguntas sobre el catálogo de la tienda: productos, precios, stock "
                "y categorías. Recuerdo la conversación, así que puedes repreguntar "
                "(«¿y el más barato?»).\n\n"
                "También entiendo notas de voz. Si me envías un audio, un video o un documento "
                "con sonido, lo transcribo y puedes preguntarme sobre él.\n\n"
                "**Palabras clave**\n"
                "• **ayuda**: esta ayuda\n"
                "• **reset**: olvidar nuestra conversación\n"
                "{admin}",
        "help_admin": "• **stats**: uso del asistente (administradores)\n",
        "reset": "Listo, olvidé nuestra conversación. ¿En qué te ayudo?",
        "not_allowed": "Lo siento, este asistente es solo para el personal autorizado de la "
                       "tienda.",
        "slow_down": "Vas muy rápido 🙂 Espera un momento y vuelve a escribirme.",
        "admins_only": "Eso es solo para administradores.",
        "failed": "Perdona, algo falló al responderte. Inténtalo de nuevo en un momento.",
    },
    "en": {
        "help": "I answer questions about the store's catalog: products, prices, stock and "
                "categories. I remember the conversation, so you can follow up "
                "(“and the cheapest?”).\n\n"
                "I understand voice notes too. Send me an audio, a video or a document with "
                "sound and I'll transcribe it so you can ask about it.\n\n"
                "**Keywords**\n"
                "• **help**: this help\n"
                "• **reset**: forget our conversation\n"
                "{admin}",
        "help_admin": "• **stats**: assistant usage (admins)\n",
        "reset": "Done, I forgot our conversation. How can I help?",
        "not_allowed": "Sorry, this assistant is only for the store's authorised staff.",
        "slow_down": "You're going fast 🙂 Please wait a moment and write again.",
        "admins_only": "That is for admins only.",
        "failed": "Sorry, something went wrong while answering. Please try again in a moment.",
    },
}

#: Words a customer types instead of a command (compared without accents, case or "/").
COMMANDS: dict[str, str] = {
    "reset": "reset", "reiniciar": "reset", "olvidar": "reset", "borrar": "reset",
    "ayuda": "help", "help": "help", "menu": "help", "start": "help",
    "stats": "stats", "estadisticas": "stats",
}
#: The language a command word is in; other words leave the message's language as detected.
ENGLISH_COMMANDS = frozenset({"help", "start"})


def say(key: str, language: str, **values: str) -> str:
    """One of the channel's sentences, Spanish unless the customer writes in English."""
    return TEXTS["en" if language.startswith("en") else "es"][key].format(**values)


def command_of(text: str) -> str | None:
    """``reset``, ``help`` or ``stats`` when the whole message is one of their words."""
    word = unicodedata.normalize("NFKD", text.strip().lower())
    word = "".join(ch for ch in word if not unicodedata.combining(ch)).strip(" /.!¡?¿")
    return COMMANDS.get(word)


class _Typing:
    """"Read + typing…" on the customer's message while an answer is written.

    The first indicator goes out at once, concurrently with the answer; it is renewed every
    TYPING_EVERY seconds until ``stop``. Failures are only logged: it is decoration.
    """

    def __init__(self, wa: WhatsApp, message_id: str) -> None:
        self._wa = wa
        self._message_id = message_id
        self._tasks = [asyncio.create_task(self._indicate())]
        self._timer = asyncio.get_running_loop().call_later(TYPING_EVERY, self._again)

    async def _indicate(self) -> None:
        try:
            await self._wa.indicate_typing(self._message_id)
        except (WhatsAppError, httpx.HTTPError) as error:
            logger.debug("message %s: typing indicator failed: %s", self._message_id,
                         type(error).__name__)

    def _again(self) -> None:
        self._tasks.append(asyncio.create_task(self._indicate()))
        self._timer = asyncio.get_running_loop().call_later(TYPING_EVERY, self._again)

    async def settled(self) -> None:
        """Wait (briefly) for the first indicator, so the reply is not followed by it."""
        await asyncio.wait(self._tasks[:1], timeout=TYPING_SETTLE)

    def stop(self) -> None:
        self._timer.cancel()
        for task in self._tasks:
            task.cancel()


class WhatsAppChannel:
    """Answers WhatsApp customers with the assistant core; one per ``kratos run``."""

    def __init__(self, settings: Settings, app: AppContext, wa: WhatsApp,
                 store: WhatsAppStore, *, clock: Callable[[], float] = time.time) -> None:
        self.settings = settings
        self.app = app
        self.wa = wa
        self.store = store
        self.clock = clock
        self.locks = ConversationLocks()
        self.rate_limit = RateLimit(settings.rate_limit_messages, settings.rate_limit_window)
        self.refused_users: set[int] = set()
        self.in_flight: set[asyncio.Task[Any]] = set()
        # Recordings converted at once: each holds a worker thread for up to minutes.
        self.media_slots = asyncio.Semaphore(MEDIA_AT_ONCE)

    async def accept(self, inbound: Inbound) -> bool:
        """Take one delivered message: False for a redelivery, else answering starts.

        Called before the delivery is acknowledged; it awaits only the state database.
        """
        if not await self.store.claim(inbound.message_id):
            logger.info("whatsapp message %s was delivered again: already taken",
                        inbound.message_id)
            return False
        user_key = await self.store.user_key(inbound.identity, inbound.wa_id)
        task = asyncio.create_task(self._handle(inbound, user_key))
        self.in_flight.add(task)
        task.add_done_callback(self.in_flight.discard)
        return True

    async def finish_in_flight(self, grace: float) -> None:
        """Let answers being written finish, for at most ``grace`` seconds; cancel the rest."""
        if not self.in_flight:
            return
        logger.info("waiting up to %.1fs for %d WhatsApp answer(s)", grace, len(self.in_flight))
        _, pending = await asyncio.wait(set(self.in_flight), timeout=grace)
        for task in pending:
            task.cancel()

    async def _handle(self, inbound: Inbound, user_key: int) -> None:
        """Answer one message; a failure is logged and the customer gets one kind sentence."""
        try:
            await self._dispatch(inbound, user_key)
        except Exception:
            logger.exception("whatsapp message %s failed", inbound.message_id)
            language = detect_language(inbound.text)
            with contextlib.suppress(Exception):
                await self.send_text(inbound, say("failed", language))

    async def _dispatch(self, inbound: Inbound, user_key: int) -> None:
        if inbound.kind == "silent":
            return
        age = self.clock() - inbound.timestamp
        if inbound.timestamp and age > SERVICE_WINDOW_SECONDS:
            logger.info("whatsapp message %s is %.0f h old: past the 24-hour window, not "
                        "answered", inbound.message_id, age / 3600)
            return
        conversation = await self._admit(inbound, user_key)
        if conversation is None:
            return
        received = time.monotonic()
        async with self.locks.hold(conversation.key):
            with self._typing(inbound) as typing:
                await self._route(inbound, conversation, typing, received)

    @contextlib.contextmanager
    def _typing(self, inbound: Inbound) -> Iterator[_Typing]:
        typing = _Typing(self.wa, inbound.message_id)
        try:
            yield typing
        finally:
            typing.stop()

    async def _route(self, inbound: Inbound, conversation: Conversation, typing: _Typing,
                     received: float) -> None:
        command = command_of(inbound.text) if inbound.kind == "text" else None
        if command is not None:
            await self._command(command, inbound, conversation, typing)
        elif inbound.kind == "text":
            await self._answer(inbound, conversation, inbound.text, typing, received)
        elif inbound.kind == "image":
            await self._photo(inbound, conversation, typing, received)
        elif inbound.media is not None and inbound.media.is_question:
            await self._voice(inbound, conversation, typing, received)
        elif inbound.media is not None:
            await self._recording(inbound, conversation, typing)
        else:
            line = other_message_line(Capabilities.of(self.settings), conversation.language)
            await self.send_text(inbound, line, typing)

    def is_allowed(self, inbound: Inbound) -> bool:
        """Empty WHATSAPP_ALLOWED_USERS admits everyone; admins are always admitted."""
        allowed = self.settings.whatsapp_allowed_users | self.settings.whatsapp_admin_users
        return not self.settings.whatsapp_allowed_users or bool(inbound.identifiers & allowed)

    def is_admin(self, inbound: Inbound) -> bool:
        return bool(inbound.identifiers & self.settings.whatsapp_admin_users)

    async def _admit(self, inbound: Inbound, user_key: int) -> Conversation | None:
        """The customer's conversation, or None (after any refusal was sent).

        Awaits nothing unless it refuses, so messages reach the conversation lock in order.
        """
        language = detect_language(inbound.text)
        if not self.is_allowed(inbound):
            if user_key not in self.refused_users:
                self.refused_users.add(user_key)
                logger.info("whatsapp message %s: customer %d is not allowed; refusing once",
                            inbound.message_id, user_key)
                await self.send_text(inbound, say("not_allowed", language))
            return None
        verdict = self.rate_limit.check(user_key)
        if verdict is not Verdict.ALLOW:
            logger.info("whatsapp message %s: customer %d is over the rate limit",
                        inbound.message_id, user_key)
            if verdict is Verdict.WARN:
                await self.send_text(inbound, say("slow_down", language))
            return None
        # Keyed by KRATOS's own number for the customer: no phone number in keys or logs,
        # and the "wa:" prefix keeps WhatsApp conversations apart from Telegram's.
        return Conversation(key=f"wa:{user_key}", user_id=user_key, language=language)

    async def _command(self, command: str, inbound: Inbound, conversation: Conversation,
                       typing: _Typing) -> None:
        word = inbound.text.strip().lower().strip(" /.!¡?¿")
        language = "en" if word in ENGLISH_COMMANDS else conversation.language
        if command == "reset":
            await reset_conversation(self.app, conversation)
            await self.send_text(inbound, say("reset", language), typing)
            logger.info("whatsapp message %s: conversation %s reset", inbound.message_id,
                        conversation.key)
        elif command == "help":
            admin = say("help_admin", language) if self.is_admin(inbound) else ""
            await self.send_text(inbound, say("help", language, admin=admin), typing)
        elif not self.is_admin(inbound):
            await self.send_text(inbound, say("admins_only", language), typing)
        else:
            stats = await usage_stats(self.app.state)
            await self.send_text(inbound, format_stats(stats, language), typing)

    async def _answer(self, inbound: Inbound, conversation: Conversation, text: str,
                      typing: _Typing, received: float) -> Reply:
        """Answer ``text`` (typed, or heard in a voice note) and send the reply."""
        started = time.monotonic()
        reply = await answer(self.app, conversation, text)
        answered = time.monotonic()
        parts = await self.send_text(inbound, reply.text, typing)
        await memory.touch_user(self.app.state, conversation.user_id, None,
                                conversation.language)
        logger.info(
            "whatsapp message %s conversation %s: engine=%s failed=%s refused=%s parts=%d "
            "queued=%.2fs answer=%.2fs send=%.2fs", inbound.message_id, conversation.key,
            reply.engine, reply.failed, reply.refused, parts, started - received,
            answered - started, time.monotonic() - answered)
        return reply

    async def send_text(self, inbound: Inbound, text: str, typing: _Typing | None = None
                        ) -> int:
        """Send ``text`` to the customer as WhatsApp messages, the first quoting theirs.

        Returns how many went out. A refusal by WhatsApp (131047: the 24-hour window has
        closed; a blocked number; …) is logged and ends the reply: the rest would fail alike.
        """
        if typing is not None:
            await typing.settled()
        sent = 0
        for index, part in enumerate(render(text)):
            quoted = inbound.message_id if index == 0 else None

            async def send(part: str = part, quoted: str | None = quoted) -> Any:
                return await self.wa.send_message(to=inbound.identity, text=part,
                                                  reply_to_message_id=quoted)

            if not await self._deliver(send, inbound):
                break
            sent += 1
        return sent

    async def _deliver(self, send: Callable[[], Any], inbound: Inbound) -> bool:
        try:
            await with_retries(send, f"reply to {inbound.message_id}")
        except ReEngagementMessage:
            logger.warning("whatsapp message %s: WhatsApp refused the reply, the 24-hour "
                           "window has closed (131047)", inbound.message_id)
            return False
        except WhatsAppError as error:
            logger.warning("whatsapp message %s: WhatsApp refused the reply: error %s",
                           inbound.message_id, error.code)
            return False
        except httpx.HTTPError as error:
            logger.warning("whatsapp message %s: the reply could not be sent: %s",
                           inbound.message_id, type(error).__name__)
            return False
        return True

    async def _transcribe(self, inbound: Inbound, conversation: Conversation
                          ) -> Transcript | None:
        """Download and transcribe the message's media, or say kindly why not (None)."""
        media = inbound.media
        assert media is not None
        settings = self.settings
        llm = self.app.llm
        try:
            recordings.check_before_download(
                media, limit_bytes=MAX_MEDIA_BYTES, max_minutes=settings.max_audio_minutes,
                speech_available=llm is not None)
            assert llm is not None
            prompt = speech_prompt(self.app.profile, settings.transcribe_language)
            async with self.media_slots:
                with tempfile.TemporaryDirectory(prefix="kratos-whatsapp-") as scratch:
                    workdir = Path(scratch)
                    path = await download_media(
                        self.wa, media.file_id, workdir / media.download_name,
                        mime_type=media.mime_type, file_name=media.file_name)
                    return await transcribe(llm, settings, path, prompt=prompt,
                                            workdir=workdir)
        except UserFacingError as error:
            logger.info("whatsapp message %s: %s not transcribed: %s", inbound.message_id,
                        media.kind, type(error).__name__)
            await self.send_text(inbound, error.user_message(conversation.language))
            return None

    async def _photo(self, inbound: Inbound, conversation: Conversation, typing: _Typing,
                     received: float) -> None:
        """A photo: its caption is a question; with a vision model, what it shows is searched
        for in the catalog (``bot.core.vision``); without, a bare photo gets one line."""
        language = conversation.language
        llm = self.app.llm
        if not Capabilities.of(self.settings).photos or llm is None:
            if inbound.text.strip():
                await self._answer(inbound, conversation, inbound.text, typing, received)
            else:
                await self.send_text(inbound, photo_without_vision_line(language), typing)
            return
        try:
            description = await self._look_at(inbound, llm, language)
        except UserFacingError as error:
            logger.info("whatsapp message %s: photo not described: %s", inbound.message_id,
                        type(error).__name__)
            await self.send_text(inbound, error.user_message(language), typing)
            return
        from bot.core.vision import photo_question

        await self._answer(inbound, conversation,
                           photo_question(description, inbound.text, language), typing,
                           received)

    async def _look_at(self, inbound: Inbound, llm: AsyncOpenAI, language: str) -> str:
        """What the vision model sees in the message's photo; raises ``UserFacingError``."""
        # Imported with the model: a WhatsApp bot in basic mode never loads its SDK.
        from bot.core.vision import describe_photo

        media = inbound.media
        assert media is not None
        async with self.media_slots:
            with tempfile.TemporaryDirectory(prefix="kratos-whatsapp-") as scratch:
                path = await download_media(self.wa, media.file_id, Path(scratch) / "photo",
                                            recording=False)
                image = path.read_bytes()
        return await describe_photo(llm, self.settings.vision_model, image, language=language)

    async def _voice(self, inbound: Inbound, conversation: Conversation, typing: _Typing,
                     received: float) -> None:
        """Shows what it heard («…») and then answers it as if it had been typed."""
        heard = await self._transcribe(inbound, conversation)
        if heard is None:
            return
        language = conversation.language
        if not heard.text:
            await self.send_text(inbound, recordings.say("nothing_heard", language), typing)
            return
        await self.send_text(inbound, recordings.say("heard", language, text=heard.text),
                             typing)
        reply = await self._answer(inbound, conversation, heard.text, typing, received)
        if self.settings.voice_replies:
            await self._speak(inbound, reply)

    async def _speak(self, inbound: Inbound, reply: Reply) -> None:
        """Send a short answer again as a voice note; on any failure the written one stands."""
        text = to_plain(for_phone(reply.text)).strip()
        llm = self.app.llm
        if reply.failed or llm is None or not text or len(text) > SPOKEN_REPLY_CHARS:
            return
        try:
            audio = await synthesize_voice(llm, self.settings, text)
        except SpeechUnavailable:
            logger.warning("whatsapp message %s: no spoken reply, the speech endpoint failed",
                           inbound.message_id)
            return

        async def send() -> Any:
            return await self.wa.send_voice(to=inbound.identity, voice=audio,
                                            mime_type="audio/ogg")

        await self._deliver(send, inbound)

    async def _recording(self, inbound: Inbound, conversation: Conversation,
                         typing: _Typing) -> None:
        """Sends the recording's transcript (a .txt file when long) and invites questions."""
        media = inbound.media
        assert media is not None
        heard = await self._transcribe(inbound, conversation)
        if heard is None:
            return
        language = conversation.language
        name = media.display_name(language)
        if not heard.text:
            await self.send_text(inbound, recordings.say("nothing_in_recording", language,
                                                         name=name), typing)
            return
        await memory.touch_user(self.app.state, conversation.user_id, None, language)
        await recordings.share_transcript(self.app.state, conversation.key, name, heard)
        ask = recordings.invitation(heard, language, reset=f"**{RESET_WORD}**")
        inline = recordings.inline_transcript(heard, name, language)
        if inline is not None:
            await self.send_text(inbound, f"{inline}\n\n{ask}", typing)
        else:
            await self._send_transcript_file(inbound, media, heard, name, ask, language)
        logger.info("whatsapp message %s conversation %s: shared a transcript of %.0f s "
                    "(%d characters, %d chunk(s))", inbound.message_id, conversation.key,
                    heard.duration_s, len(heard.text), heard.chunks)

    async def _send_transcript_file(self, inbound: Inbound, media: recordings.IncomingMedia,
                                    heard: Transcript, name: str, ask: str,
                                    language: str) -> None:
        duration = recordings.spoken_duration(heard.duration_s)
        caption = render(recordings.say("transcript_file", language, name=name,
                                        duration=duration) + "\n\n" + ask)[0]

        async def send() -> Any:
            return await self.wa.send_document(
                to=inbound.identity, document=heard.text.encode("utf-8"),
                filename=media.transcript_file_name(language), caption=caption,
                mime_type="text/plain", reply_to_message_id=inbound.message_id)

        await self._deliver(send, inbound)
