"""The assistant core: one question in, one `Reply` out, for every transport.

It loads the conversation's memory, asks the model engine (or basic mode when no model is
configured or the model is down), saves the exchange before returning, and records usage. It
never raises for anything a user or the model can cause.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import re
import time

from bot.core import memory
from bot.core.context import AppContext
from bot.core.language import detect_language
from bot.core.reply import Conversation, Reply, Turn
from bot.core.streaming import PreviewSink
from bot.errors import UserFacingError

logger = logging.getLogger(__name__)

MAX_QUESTION_CHARS = 2000
#: Characters no question means: C0 and C1 controls other than tab and line breaks (NUL,
#: terminal escapes), and lone UTF-16 surrogates, which JSON may carry ("\\ud800") and a
#: command line makes of bytes that are not UTF-8, but which neither SQLite nor an HTTP body
#: can encode.
_UNREADABLE = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff]")

TEXTS = {
    "es": {
        "unavailable": "El asistente no está disponible ahora mismo, intenta de nuevo en un "
                       "minuto.",
        "basic_notice": "ℹ️ Modo básico: respondo sin el modelo de lenguaje.",
        "catalog_down": "No pude consultar el catálogo ahora mismo, intenta de nuevo en un "
                        "minuto.",
        "empty": "Escríbeme una pregunta sobre nuestros productos, por ejemplo: "
                 "«¿cuál es el producto más barato?»",
        "too_long": f"Tu mensaje es muy largo: escríbeme la pregunta en menos de "
                    f"{MAX_QUESTION_CHARS} caracteres.",
        "over_budget": "Llegaste al límite de consultas de hoy. Vuelve mañana, ¡gracias!",
        "broken": "Algo salió mal de mi lado. Intenta de nuevo en un momento.",
    },
    "en": {
        "unavailable": "The assistant is not available right now, please try again in a "
                       "minute.",
        "basic_notice": "ℹ️ Basic mode: answering without the language model.",
        "catalog_down": "I could not read the catalog right now, please try again in a minute.",
        "empty": "Send me a question about our products, for example: "
                 "“what is the cheapest product?”",
        "too_long": f"Your message is too long: please ask in under {MAX_QUESTION_CHARS} "
                    f"characters.",
        "over_budget": "You reached today's question limit. Come back tomorrow, thank you!",
        "broken": "Something went wrong on my side. Please try again in a moment.",
    },
}


def say(key: str, language: str) -> str:
    return TEXTS["en" if language.startswith("en") else "es"][key]


def readable(text: str) -> str:
    """``text`` with control characters and lone surrogates replaced by spaces.

    What a customer, a terminal or a model endpoint sends may hold them; stored or sent on,
    a lone surrogate makes the write or the request fail (``UnicodeEncodeError``).
    """
    return _UNREADABLE.sub(" ", text)


async def answer(app: AppContext, conversation: Conversation, text: str, *,
                 preview: PreviewSink | None = None) -> Reply:
    """Answer one message of a conversation; memory is written before this returns (queued
    for the event loop's next turn, ahead of any later statement on the state database).

    When the model writes the reply itself (a second call), the grounded part of it is shown
    in ``preview`` as it is written; the returned reply is what must be sent in the end.
    """
    started = time.perf_counter()
    question = readable(text).strip()
    language = detect_language(question, default=conversation.language)
    if not question:
        return Reply(text=say("empty", language), engine="none", refused=True)
    if len(question) > MAX_QUESTION_CHARS:
        return Reply(text=say("too_long", language), engine="none", refused=True)

    settings = app.settings
    if settings.daily_token_budget and app.llm is not None:
        spent = await memory.tokens_used_today(app.state, conversation.user_id)
        if spent >= settings.daily_token_budget:
            reply = Reply(text=say("over_budget", language), engine="none", refused=True)
            await _record(app, conversation, reply, started, outcome="over_budget")
            return reply

    try:
        reply = await _answer_with_engines(app, conversation, question, language, preview)
    except Exception:
        # A bug, not something the user caused: log it whole, apologise briefly.
        logger.exception("answer failed for conversation %s", conversation.key)
        reply = Reply(text=say("broken", language), engine="none", failed=True)
        await _record(app, conversation, reply, started, outcome="error")
        return reply

    if readable(reply.text) != reply.text:
        reply = dataclasses.replace(reply, text=readable(reply.text))
    if not reply.failed:
        await memory.remember_exchange(app.state, conversation.key, question, reply.text,
                                       reply.meta)
    outcome = "error" if reply.failed else "refused" if reply.refused else "ok"
    await _record(app, conversation, reply, started, outcome=outcome)
    return reply


async def _answer_with_engines(
    app: AppContext, conversation: Conversation, question: str, language: str,
    preview: PreviewSink | None = None,
) -> Reply:
    settings = app.settings
    history = await memory.load_history(
        app.state, conversation.key,
        token_budget=settings.memory_token_budget, ttl_days=settings.conversation_ttl_days,
    )
    model_failed = False
    client = app.chat_model
    if client is not None:
        # Imported with the model: basic mode never loads the SDK the model engine is built on.
        from bot.core.llm import ModelUnavailable, answer_with_model

        transcript = await memory.load_transcript(app.state, conversation.key)
        try:
            async with asyncio.timeout(settings.answer_timeout):
                reply = await answer_with_model(
                    client, app.catalog, app.profile,
                    model=settings.openai_model, question=question, history=history,
                    language=language, max_tool_calls=settings.max_tool_calls,
                    transcript=transcript, max_tokens=settings.model_max_tokens,
                    preview=preview,
                )
            app.note_model_outcome(None)
            return reply
        except (ModelUnavailable, TimeoutError) as error:
            logger.warning("model unavailable for %s, using basic mode: %s", conversation.key,
                           error or f"no whole answer within ANSWER_TIMEOUT "
                                    f"({settings.answer_timeout:g} s)")
            app.note_model_outcome(error)
            model_failed = True
    try:
        engine = await app.basic_engine()
        reply = await engine.answer(question, history, language)
    except UserFacingError as error:
        logger.warning("basic mode could not read the catalog: %s", error)
        return Reply(text=say("catalog_down", language), engine="basic", failed=True)
    if model_failed and reply.refused:
        # Basic mode did not understand either: say the assistant is down rather than
        # pretending the question made no sense.
        return Reply(text=say("unavailable", language), engine="basic", failed=True,
                     meta=reply.meta)
    if model_failed or settings.model_enabled or reply.refused or not _noticed(history):
        # Once per conversation is enough when no model is configured; every time a configured
        # model is down, and when basic mode could not answer (its limits explain why). In the
        # reply's own language.
        reply.text = f"{reply.text}\n\n{say('basic_notice', reply.meta.get('lang', language))}"
        reply.meta["basic_notice"] = True
    return reply


def _noticed(history: list[Turn]) -> bool:
    """Whether an earlier answer of this conversation already said it came from basic mode."""
    return any(turn.meta.get("basic_notice") for turn in history if turn.role == "assistant")


async def reset_conversation(app: AppContext, conversation: Conversation) -> None:
    """Forget a conversation (its messages and any shared transcript)."""
    await memory.forget(app.state, conversation.key)


async def _record(
    app: AppContext, conversation: Conversation, reply: Reply, started: float, *, outcome: str
) -> None:
    latency_ms = (time.perf_counter() - started) * 1000
    logger.info(
        "answered conversation=%s engine=%s outcome=%s sql=%d model_calls=%d tokens=%d+%d "
        "latency_ms=%.0f", conversation.key, reply.engine, outcome, len(reply.sql),
        reply.model_calls, reply.prompt_tokens, reply.completion_tokens, latency_ms,
    )
    await memory.record_usage(app.state, memory.UsageRecord(
        conversation=conversation.key, user_id=conversation.user_id,
        chat_id=conversation.chat_id, engine=reply.engine, outcome=outcome,
        prompt_tokens=reply.prompt_tokens, completion_tokens=reply.completion_tokens,
        model_calls=reply.model_calls, sql=reply.sql, latency_ms=latency_ms,
        cached_tokens=reply.cached_tokens,
    ))
