"""The Telegram adapter end to end: the real PTB Application, started the way ``kratos run``
starts it, talking HTTP to a fake Bot API server (and, where a model is needed, a fake OpenAI).
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import socket
import sqlite3
import sys
import time
from collections.abc import Awaitable, Callable
from contextlib import closing
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from bot.channels.telegram.app import build_application, run_command, serve
from bot.channels.telegram.bot import SHUTDOWN_GRACE, TYPING_AFTER, TYPING_EVERY, KratosApplication
from bot.channels.telegram.format import MAX_REPLY_MESSAGES, MORE_NOTE_ROOM, render, split_text
from bot.core.context import AppContext
from bot.core.state import migrate_state
from bot.errors import ConfigError
from bot.logs import configure_logging
from bot.settings import Settings
from tests.conftest import TELEGRAM_TOKEN as TOKEN
from tests.fakes.openai_server import Fail, FakeOpenAI
from tests.fakes.telegram_server import FakeTelegram, SentMessage

PROJECT_ROOT = Path(__file__).resolve().parents[1]
MOST_EXPENSIVE = "¿cuál es el producto más caro?"
GROUP = -1001234567890


@dataclass
class RunningBot:
    """A bot served by ``serve`` in a task, as ``kratos run`` serves it."""

    application: KratosApplication
    settings: Settings
    stop_event: asyncio.Event
    task: asyncio.Task[None]

    @property
    def app(self) -> AppContext:
        assert self.application.bot_data.app is not None
        return self.application.bot_data.app

    async def stop(self) -> None:
        self.stop_event.set()
        await asyncio.wait_for(self.task, timeout=15)

    @classmethod
    async def launch(cls, settings: Settings, grace: float = SHUTDOWN_GRACE) -> RunningBot:
        """Build the application and serve it in a task; returns once it takes updates."""
        application = build_application(settings)
        stop, started = asyncio.Event(), asyncio.Event()
        task = asyncio.create_task(serve(application, stop, started, grace=grace))
        ready = asyncio.create_task(started.wait())
        done, _ = await asyncio.wait({task, ready}, return_when=asyncio.FIRST_COMPLETED)
        if task in done:
            ready.cancel()
            task.result()
            raise AssertionError("the bot stopped while starting")
        return cls(application, settings, stop, task)


def model_settings(openai: FakeOpenAI, timeout: str = "5") -> dict[str, str]:
    return {"OPENAI_API_KEY": openai.api_key, "OPENAI_BASE_URL": openai.base_url,
            "OPENAI_MAX_RETRIES": "0", "OPENAI_TIMEOUT": timeout, "ANSWER_TIMEOUT": timeout}


@pytest.fixture
def bot_settings(make_settings: Callable[..., Settings], catalog_db: Path,
                 telegram: FakeTelegram) -> Callable[..., Settings]:
    """Settings pointing the bot at the fake Bot API and a fresh demo catalog."""

    def make(**overrides: str) -> Settings:
        return make_settings(TELEGRAM_BOT_TOKEN=TOKEN, TELEGRAM_API_BASE_URL=telegram.root,
                             **overrides)

    return make


@pytest.fixture
def start_bot(bot_settings: Callable[..., Settings], running_bots: list[RunningBot]
              ) -> Callable[..., Awaitable[RunningBot]]:
    """Start the bot (polling, or a webhook when WEBHOOK_URL is given); stopped after the test."""
    async def start(grace: float = SHUTDOWN_GRACE, **overrides: str) -> RunningBot:
        bot = await RunningBot.launch(bot_settings(**overrides), grace)
        running_bots.append(bot)
        return bot

    return start


def catalog_value(path: Path, sql: str) -> Any:
    with closing(sqlite3.connect(path)) as conn:
        return conn.execute(sql).fetchone()[0]


def state_rows(settings: Settings, sql: str, params: tuple[Any, ...] = ()) -> list[Any]:
    with closing(sqlite3.connect(settings.state_db)) as conn:
        return conn.execute(sql, params).fetchall()


def reply_target(sent: SentMessage) -> int | None:
    quoted = sent.params.get("reply_parameters")
    return quoted.get("message_id") if isinstance(quoted, dict) else None


async def test_a_private_question_is_answered_with_the_right_product(
    start_bot: Callable[..., Awaitable[RunningBot]], telegram: FakeTelegram, catalog_db: Path,
) -> None:
    bot = await start_bot()
    expected = catalog_value(catalog_db, "SELECT name FROM products ORDER BY price DESC LIMIT 1")

    telegram.push_text(501, 501, MOST_EXPENSIVE)
    [reply] = await telegram.wait_for_messages(1, chat_id=501)

    assert expected in reply.plain
    assert reply.parse_mode == "HTML"
    assert reply_target(reply) is None  # no quoting in a private chat
    # Remembered (question and answer) and counted.
    rows = state_rows(bot.settings, "SELECT role, content FROM messages WHERE conversation = ?"
                      " ORDER BY id", ("u:501",))
    assert rows[0] == ("user", MOST_EXPENSIVE) and rows[1][0] == "assistant"
    assert state_rows(bot.settings, "SELECT count(*) FROM usage WHERE user_id = 501") == [(1,)]


async def test_markup_characters_in_product_names_arrive_escaped(
    start_bot: Callable[..., Awaitable[RunningBot]], telegram: FakeTelegram, catalog_db: Path,
) -> None:
    name = 'Consola <Ultra> & "Pro" 5</b>'
    with closing(sqlite3.connect(catalog_db)) as conn, conn:
        conn.execute(
            "INSERT INTO products (sku, name, family, category, brand, model, color, description,"
            " price, stock, availability) VALUES ('SKU-HTML-1', ?, 'Tecnología', 'Consolas',"
            " 'Acme', 'U5', 'negro', 'Consola de prueba', 99999.0, 4, 'disponible')", (name,))
    await start_bot()

    telegram.push_text(502, 502, MOST_EXPENSIVE)
    [reply] = await telegram.wait_for_messages(1, chat_id=502)

    assert reply.parse_mode == "HTML"
    assert "Consola &lt;Ultra&gt; &amp; \"Pro\" 5&lt;/b&gt;" in reply.text
    assert name in reply.plain  # the fake parsed the HTML exactly as Telegram would


async def test_groups_answer_only_messages_addressed_to_the_bot(
    start_bot: Callable[..., Awaitable[RunningBot]], telegram: FakeTelegram,
) -> None:
    bot = await start_bot()
    mention = f"@{telegram.username}"

    def say(text: str, **options: Any) -> dict[str, Any]:
        return telegram.push_text(GROUP, 601, text, chat_type="supergroup", **options)

    say(MOST_EXPENSIVE)  # plain chatter: ignored
    asked = say(f"{mention} {MOST_EXPENSIVE}")
    [first] = await telegram.wait_for_messages(1, chat_id=GROUP)
    assert reply_target(first) == asked["message"]["message_id"]  # quoted in a group

    say("/help@other_bot")  # another bot's command: ignored
    say("¿y el más barato?", reply_to_message=asked["message"])  # a reply to a human: ignored
    followed = say("¿y el más barato?", reply_to_message=first.message)
    helped = say(f"/help@{telegram.username}")
    texted = say("KRATOS dame laptops", entities=[
        {"type": "text_mention", "offset": 0, "length": 6, "user": telegram.bot_user}])
    # One conversation, so replies come in update order: a wrongly accepted message would
    # show up among these four.
    sent = await telegram.wait_for_messages(4, chat_id=GROUP)

    assert [reply_target(m) for m in sent] == [
        asked["message"]["message_id"], followed["message"]["message_id"],
        helped["message"]["message_id"], texted["message"]["message_id"]]
    assert "/reset" in sent[2].plain  # the help text
    questions = state_rows(bot.settings, "SELECT content FROM messages WHERE conversation = ?"
                           " AND role = 'user' ORDER BY id", (f"g:{GROUP}:601",))
    assert [q for (q,) in questions] == [MOST_EXPENSIVE, "¿y el más barato?", "dame laptops"]
    assert state_rows(bot.settings, "SELECT count(*) FROM usage") == [(3,)]


async def test_each_member_of_a_group_has_a_conversation_of_their_own(
    start_bot: Callable[..., Awaitable[RunningBot]], telegram: FakeTelegram,
) -> None:
    bot = await start_bot()
    for user_id in (701, 702):
        telegram.push_text(GROUP, user_id, f"@{telegram.username} {MOST_EXPENSIVE}",
                           chat_type="group")
    await telegram.wait_for_messages(2, chat_id=GROUP)
    conversations = "SELECT conversation, count(*) FROM messages GROUP BY conversation"
    assert state_rows(bot.settings, conversations) == [(f"g:{GROUP}:701", 2),
                                                       (f"g:{GROUP}:702", 2)]

    telegram.push_text(GROUP, 701, f"/reset@{telegram.username}", chat_type="group")
    await telegram.wait_for_messages(3, chat_id=GROUP)

    assert state_rows(bot.settings, conversations) == [(f"g:{GROUP}:702", 2)]


async def test_reset_forgets_the_conversation(
    start_bot: Callable[..., Awaitable[RunningBot]], telegram: FakeTelegram,
) -> None:
    bot = await start_bot()
    telegram.push_text(801, 801, MOST_EXPENSIVE)
    telegram.push_text(802, 802, MOST_EXPENSIVE)
    await telegram.wait_for_messages(2)
    assert state_rows(bot.settings, "SELECT count(*) FROM messages WHERE conversation = 'u:801'"
                      ) == [(2,)]

    telegram.push_text(801, 801, "/reset")
    [_, confirmation] = await telegram.wait_for_messages(2, chat_id=801)

    assert "olvidé" in confirmation.plain
    assert state_rows(bot.settings, "SELECT conversation, count(*) FROM messages"
                      " GROUP BY conversation") == [("u:802", 2)]


async def test_stats_match_the_usage_table_for_admins_only(
    start_bot: Callable[..., Awaitable[RunningBot]], telegram: FakeTelegram,
    bot_settings: Callable[..., Settings],
) -> None:
    settings = bot_settings()
    migrate_state(settings.state_db)
    three_days_ago = (datetime.now(UTC) - timedelta(days=3)).strftime("%Y-%m-%dT%H:%M:%S.000Z")
    ten_days_ago = (datetime.now(UTC) - timedelta(days=10)).strftime("%Y-%m-%dT%H:%M:%S.000Z")
    with closing(sqlite3.connect(settings.state_db)) as conn, conn:
        insert = ("INSERT INTO usage (conversation, user_id, created_at, engine, outcome,"
                  " prompt_tokens, completion_tokens, model_calls)"
                  " VALUES (?, ?, coalesce(?, strftime('%Y-%m-%dT%H:%M:%fZ', 'now')), 'model',"
                  " ?, ?, ?, ?)")
        conn.executemany(insert, [
            ("u:1", 1, None, "ok", 1000, 200, 2),
            ("u:2", 2, None, "error", 50, 0, 1),
            ("u:3", 3, three_days_ago, "ok", 3000, 400, 1),
            ("u:4", 4, ten_days_ago, "ok", 99999, 9999, 9),
        ])
    await start_bot(ADMIN_USER_IDS="901")

    telegram.push_text(902, 902, "/stats")
    telegram.push_text(901, 901, "/stats", language_code="en")
    [refused] = await telegram.wait_for_messages(1, chat_id=902)
    [stats] = await telegram.wait_for_messages(1, chat_id=901)

    assert "solo para administradores" in refused.plain
    today, week = stats.plain.split("Last 7 days")
    assert "• Users: 2\n• Questions: 2\n• Tokens: 1,250 (1,050 in + 200 out; 3 model calls)" \
           "\n• Errors: 1" in today
    assert "• Users: 3\n• Questions: 3\n• Tokens: 4,650 (4,050 in + 600 out; 4 model calls)" \
           "\n• Errors: 1" in week
    # Neither /stats reached the engine.
    assert state_rows(settings, "SELECT count(*) FROM usage") == [(4,)]
    # The command menu: Spanish by default, English for English speakers, /stats for admins.
    menus = {(c.params.get("language_code"), (c.params.get("scope") or {}).get("chat_id")):
             [command["command"] for command in c.params["commands"]]
             for c in telegram.calls_to("setMyCommands")}
    assert menus[(None, None)] == menus[("en", None)] == ["start", "help", "reset"]
    assert menus[(None, 901)] == menus[("en", 901)] == ["start", "help", "reset", "stats"]


async def test_users_outside_the_allow_list_get_one_refusal_and_no_answers(
    start_bot: Callable[..., Awaitable[RunningBot]], telegram: FakeTelegram,
) -> None:
    bot = await start_bot(ALLOWED_USER_IDS="1001", ALLOWED_CHAT_IDS=str(GROUP))
    for _ in range(3):
        telegram.push_text(1002, 1002, MOST_EXPENSIVE)
    telegram.push_text(-100777, 1003, f"@{telegram.username} hola", chat_type="supergroup")
    telegram.push_text(GROUP, 1002, f"@{telegram.username} {MOST_EXPENSIVE}",
                       chat_type="supergroup")  # an allowed group admits its members
    telegram.push_text(1001, 1001, MOST_EXPENSIVE)
    await telegram.wait_for_messages(1, chat_id=1001)
    await telegram.wait_for_messages(1, chat_id=GROUP)
    await telegram.wait_for_messages(1, chat_id=-100777)
    await asyncio.sleep(0.3)  # time for any second refusal to show up

    [refusal] = telegram.sent_messages(1002)
    assert "solo para el personal autorizado" in refusal.plain
    assert len(telegram.sent_messages(-100777)) == 1
    assert sorted(r[0] for r in state_rows(bot.settings, "SELECT conversation FROM usage")) == [
        f"g:{GROUP}:1002", "u:1001"]


async def test_a_reply_longer_than_telegram_allows_is_split_on_lines(
    start_bot: Callable[..., Awaitable[RunningBot]], telegram: FakeTelegram,
    openai: FakeOpenAI,
) -> None:
    lines = [f"{n}. Producto de prueba número {n} con <marca> & descripción larga"
             for n in range(1, 151)]
    text = "\n".join(lines)
    openai.reply(text)
    await start_bot(**model_settings(openai))

    telegram.push_text(1101, 1101, "lista todo")
    parts = len(split_text(text))
    sent = await telegram.wait_for_messages(parts, chat_id=1101)

    assert len(text) > 2 * 4096 and parts == MAX_REPLY_MESSAGES
    assert all(len(m.plain) <= 4096 for m in sent)
    assert [line for m in sent for line in m.plain.split("\n")] == lines


@pytest.mark.parametrize(("language", "more"), [("es", "mensaje(s) más"),
                                                ("en", "more message(s)")])
async def test_a_huge_answer_takes_a_few_messages_and_says_how_many_more(
    start_bot: Callable[..., Awaitable[RunningBot]], telegram: FakeTelegram,
    openai: FakeOpenAI, language: str, more: str,
) -> None:
    """A model that ignores max_tokens once wrote 62,000 characters: 23 messages."""
    lines = [f"{n}. Laptop de prueba {n} con pantalla de 15,6 pulgadas y teclado — disponible"
             for n in range(1, 801)]
    text = "\n".join(lines)
    openai.reply(text)
    await start_bot(**model_settings(openai), MODEL_MAX_TOKENS="300")

    telegram.push_text(1102, 1102, "todas las laptops", language_code=language)
    sent = await telegram.wait_for_messages(MAX_REPLY_MESSAGES, chat_id=1102)
    await asyncio.sleep(0.3)  # time for any fourth message to show up

    assert len(text) > 62_000
    assert len(telegram.sent_messages(1102)) == MAX_REPLY_MESSAGES
    assert all(len(m.plain) <= 4096 for m in sent)
    shown = [line for m in sent for line in m.plain.split("\n") if line[:1].isdigit()]
    assert shown == lines[: len(shown)]
    left = len(render(text, 4096 - MORE_NOTE_ROOM)) - MAX_REPLY_MESSAGES
    assert sent[-1].plain.endswith(".") and f"{left} {more}" in sent[-1].plain.split("\n")[-1]
    assert [request["max_tokens"] for request in openai.chat_requests] == [300]


async def test_html_that_telegram_refuses_is_resent_as_plain_text(
    start_bot: Callable[..., Awaitable[RunningBot]], telegram: FakeTelegram, catalog_db: Path,
) -> None:
    await start_bot()
    telegram.fail_next("sendMessage", status=400, description=(
        "Bad Request: can't parse entities: Unsupported start tag \"x\" at byte offset 3"))

    telegram.push_text(1201, 1201, MOST_EXPENSIVE)
    [reply] = await telegram.wait_for_messages(1, chat_id=1201)

    attempts = [c for c in telegram.calls_to("sendMessage") if c.params["chat_id"] == 1201]
    assert [(c.status, c.params.get("parse_mode")) for c in attempts] == [(400, "HTML"),
                                                                           (200, None)]
    assert reply.parse_mode is None
    assert catalog_value(catalog_db, "SELECT name FROM products ORDER BY price DESC LIMIT 1"
                         ) in reply.plain


async def test_flood_control_delays_the_reply_instead_of_losing_it(
    start_bot: Callable[..., Awaitable[RunningBot]], telegram: FakeTelegram,
) -> None:
    await start_bot()
    telegram.fail_next("sendMessage", status=429, retry_after=1)

    started = time.monotonic()
    telegram.push_text(1301, 1301, MOST_EXPENSIVE)
    [reply] = await telegram.wait_for_messages(1, chat_id=1301)

    assert time.monotonic() - started >= 1.0
    assert [c.status for c in telegram.calls_to("sendMessage")] == [429, 200]
    assert reply.plain


async def test_polling_survives_telegram_errors_without_losing_updates(
    start_bot: Callable[..., Awaitable[RunningBot]], telegram: FakeTelegram,
) -> None:
    telegram.fail_next("getUpdates", status=502)
    telegram.push_text(1401, 1401, MOST_EXPENSIVE)
    await start_bot()

    [reply] = await telegram.wait_for_messages(1, chat_id=1401)

    assert reply.plain
    assert telegram.calls_to("getUpdates")[0].status == 502


async def test_a_model_outage_falls_back_and_the_next_question_works(
    start_bot: Callable[..., Awaitable[RunningBot]], telegram: FakeTelegram,
    openai: FakeOpenAI, catalog_db: Path,
) -> None:
    outage = True
    openai.responder(lambda body: Fail(503) if outage else "Tenemos varias laptops.")
    await start_bot(**model_settings(openai))

    telegram.push_text(1501, 1501, MOST_EXPENSIVE)
    [fallback] = await telegram.wait_for_messages(1, chat_id=1501)
    outage = False
    telegram.push_text(1501, 1501, "¿tienen laptops?")
    [_, recovered] = await telegram.wait_for_messages(2, chat_id=1501)

    assert catalog_value(catalog_db, "SELECT name FROM products ORDER BY price DESC LIMIT 1"
                         ) in fallback.plain
    assert "Modo básico" in fallback.plain
    assert recovered.plain == "Tenemos varias laptops."
    assert len(openai.chat_requests) == 2


async def test_kratos_run_names_a_wrong_model_once_and_serves_in_basic_mode(
    start_bot: Callable[..., Awaitable[RunningBot]], telegram: FakeTelegram,
    openai: FakeOpenAI, catalog_db: Path, caplog: pytest.LogCaptureFixture,
) -> None:
    with caplog.at_level(logging.INFO):
        await start_bot(**model_settings(openai), OPENAI_MODEL="gpt-4.1-mini-typo")
        telegram.push_text(1502, 1502, MOST_EXPENSIVE)
        telegram.push_text(1502, 1502, "¿tienen laptops?")
        answers = await telegram.wait_for_messages(2, chat_id=1502)
    problems = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    assert problems == [
        f"model endpoint: model gpt-4.1-mini-typo not found at {openai.base_url}: check "
        f"OPENAI_MODEL (it serves: {', '.join(openai.models)}). Answering in basic mode until "
        "it answers (checked every 60 s)."]
    assert all("Modo básico" in sent.plain for sent in answers)
    assert [r.json["model"] for r in openai.requests if r.json] == ["gpt-4.1-mini-typo"]


async def test_fifty_users_asking_at_once_are_all_answered(
    start_bot: Callable[..., Awaitable[RunningBot]], telegram: FakeTelegram,
) -> None:
    await start_bot()
    users = range(2000, 2050)
    for user_id in users:
        telegram.push_text(user_id, user_id, MOST_EXPENSIVE)

    sent = await telegram.wait_for_messages(50, timeout=30)

    assert sorted(m.chat_id for m in sent) == list(users)


async def test_messages_of_one_conversation_are_answered_in_order(
    start_bot: Callable[..., Awaitable[RunningBot]], telegram: FakeTelegram,
    openai: FakeOpenAI,
) -> None:
    async def slower_for_earlier_questions(body: dict[str, Any]) -> str:
        question = body["messages"][-1]["content"]
        number = int(question.split()[-1])
        await asyncio.sleep(0.1 * (6 - number))
        return f"Respuesta {number}"

    openai.responder(slower_for_earlier_questions)
    await start_bot(**model_settings(openai))
    for number in range(1, 6):
        telegram.push_text(1601, 1601, f"pregunta {number}")
    telegram.push_text(1602, 1602, "consulta 5")  # another conversation is not held up

    sent = await telegram.wait_for_messages(5, chat_id=1601)

    assert [m.plain for m in sent] == [f"Respuesta {n}" for n in range(1, 6)]
    assert telegram.sent_messages(1602)[0].message_id < sent[1].message_id
    # Each question was asked after the previous answer was remembered.
    last_request = [r for r in openai.chat_requests
                    if r["messages"][-1]["content"] == "pregunta 5"][-1]
    remembered = [m["content"] for m in last_request["messages"] if m["role"] == "assistant"]
    assert remembered == [f"Respuesta {n}" for n in range(1, 5)]


async def test_typing_shows_only_while_an_answer_takes_a_noticeable_time(
    start_bot: Callable[..., Awaitable[RunningBot]], telegram: FakeTelegram,
    openai: FakeOpenAI,
) -> None:
    async def takes(seconds: float) -> str:
        await asyncio.sleep(seconds)
        return "Listo."

    delays = iter([0.0, TYPING_AFTER + 0.5])
    openai.responder(lambda body: takes(next(delays)))
    await start_bot(**model_settings(openai))

    telegram.push_text(1601, 1601, "¿tienen laptops?")  # answered at once
    await telegram.wait_for_messages(1, chat_id=1601)
    telegram.push_text(1602, 1602, "¿tienen monitores?")  # answered after a second
    await telegram.wait_for_messages(1, chat_id=1602)

    [typing] = telegram.calls_to("sendChatAction")
    assert (typing.params["chat_id"], typing.params["action"]) == (1602, "typing")
    reply = next(c for c in telegram.calls_to("sendMessage") if c.params["chat_id"] == 1602)
    assert telegram.calls.index(typing) < telegram.calls.index(reply)


async def test_typing_is_renewed_until_a_slow_answer_is_sent(
    start_bot: Callable[..., Awaitable[RunningBot]], telegram: FakeTelegram,
    openai: FakeOpenAI,
) -> None:
    async def slow(body: dict[str, Any]) -> str:
        await asyncio.sleep(TYPING_AFTER + TYPING_EVERY + 0.5)
        return "Listo."

    openai.responder(slow)
    await start_bot(**model_settings(openai))
    telegram.push_text(1701, 1701, "¿qué monitores tienen?")
    await telegram.wait_for_messages(1, chat_id=1701)
    await asyncio.sleep(0.2)

    assert [c.params["action"] for c in telegram.calls_to("sendChatAction")] == ["typing"] * 2


async def test_the_rate_limit_answers_wait_once_and_skips_the_engine(
    start_bot: Callable[..., Awaitable[RunningBot]], telegram: FakeTelegram,
) -> None:
    bot = await start_bot(RATE_LIMIT_MESSAGES="2", RATE_LIMIT_WINDOW="60")
    for _ in range(4):
        telegram.push_text(1801, 1801, MOST_EXPENSIVE)
    telegram.push_text(1802, 1802, MOST_EXPENSIVE)  # other users are unaffected
    await telegram.wait_for_messages(3, chat_id=1801)
    await telegram.wait_for_messages(1, chat_id=1802)
    await asyncio.sleep(0.3)

    sent = telegram.sent_messages(1801)
    assert len(sent) == 3
    assert sum("Espera un momento" in m.plain for m in sent) == 1
    assert state_rows(bot.settings, "SELECT count(*) FROM usage WHERE user_id = 1801") == [(2,)]


async def test_a_failure_inside_the_core_gets_a_kind_sentence_and_the_bot_goes_on(
    start_bot: Callable[..., Awaitable[RunningBot]], telegram: FakeTelegram,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.ERROR, logger="bot.core.assistant")
    bot = await start_bot()
    # Another process takes the conversations' table away: reading the history fails.
    with closing(sqlite3.connect(bot.settings.state_db)) as conn:
        conn.execute("ALTER TABLE messages RENAME TO messages_elsewhere")

    telegram.push_text(1901, 1901, MOST_EXPENSIVE)
    [apology] = await telegram.wait_for_messages(1, chat_id=1901)
    with closing(sqlite3.connect(bot.settings.state_db)) as conn:
        conn.execute("ALTER TABLE messages_elsewhere RENAME TO messages")
    telegram.push_text(1901, 1901, MOST_EXPENSIVE)
    [_, answered] = await telegram.wait_for_messages(2, chat_id=1901)

    assert apology.plain == "Algo salió mal de mi lado. Intenta de nuevo en un momento."
    assert "S/" in answered.plain
    for message in telegram.sent_messages():
        assert "messages" not in message.plain and "Traceback" not in message.plain
    [record] = [r for r in caplog.records if r.name == "bot.core.assistant"]
    assert record.getMessage() == "answer failed for conversation u:1901"
    assert record.exc_info is not None
    assert "no such table: messages" in str(record.exc_info[1])


async def test_a_failure_in_the_channel_gets_a_kind_sentence_and_the_bot_goes_on(
    start_bot: Callable[..., Awaitable[RunningBot]], telegram: FakeTelegram,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.ERROR, logger="bot.channels.telegram.bot")
    await start_bot()
    # The Bot API server fails the reply once (an error PTB does not retry).
    telegram.fail_next("sendMessage", status=500)
    broken = telegram.push_text(1902, 1902, MOST_EXPENSIVE)
    [apology] = await telegram.wait_for_messages(1, chat_id=1902)
    telegram.push_text(1902, 1902, MOST_EXPENSIVE)
    [_, answered] = await telegram.wait_for_messages(2, chat_id=1902)

    assert apology.plain == "Perdona, algo falló al responderte. Inténtalo de nuevo en un momento."
    assert "S/" in answered.plain
    [record] = [r for r in caplog.records if r.name == "bot.channels.telegram.bot"]
    assert record.getMessage() == f"update {broken['update_id']} chat 1902 failed"
    assert record.exc_info is not None
    assert "Internal Server Error" in str(record.exc_info[1])


async def test_webhook_mode_checks_the_secret_on_every_request(
    start_bot: Callable[..., Awaitable[RunningBot]], telegram: FakeTelegram,
) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    await start_bot(WEBHOOK_URL="https://kratos.example/telegram-hook", WEBHOOK_SECRET="s3cret",
                    WEBHOOK_LISTEN="127.0.0.1", WEBHOOK_PORT=str(port))
    assert telegram.webhook == {"url": "https://kratos.example/telegram-hook",
                                "secret_token": "s3cret",
                                "allowed_updates": ["message", "edited_message"]}
    url = f"http://127.0.0.1:{port}/telegram-hook"
    forged = telegram.make_text_update(2101, 2101, MOST_EXPENSIVE)
    genuine = telegram.make_text_update(2102, 2102, MOST_EXPENSIVE)

    async with aiohttp.ClientSession() as session:
        async with session.post(url, json=forged) as response:
            assert response.status == 403
        async with session.post(url, json=forged,
                                headers={"X-Telegram-Bot-Api-Secret-Token": "wrong"}) as response:
            assert response.status == 403
        async with session.post(url, json=genuine,
                                headers={"X-Telegram-Bot-Api-Secret-Token": "s3cret"}) as response:
            assert response.status == 200
    await telegram.wait_for_messages(1, chat_id=2102)

    assert telegram.sent_messages(2101) == []
    assert telegram.calls_to("getUpdates") == []


async def test_stopping_lets_an_answer_in_flight_finish(
    start_bot: Callable[..., Awaitable[RunningBot]], telegram: FakeTelegram,
    openai: FakeOpenAI,
) -> None:
    async def thoughtful(body: dict[str, Any]) -> str:
        await asyncio.sleep(1)
        return "Sí, tenemos monitores."

    openai.responder(thoughtful)
    bot = await start_bot(**model_settings(openai))
    telegram.push_text(2301, 2301, "¿tienen monitores?")
    await telegram.wait_for_calls("sendChatAction")  # the answer is being written

    await bot.stop()

    assert [m.plain for m in telegram.sent_messages(2301)] == ["Sí, tenemos monitores."]
    assert bot.application.bot_data.app is None  # databases closed after the answer went out


async def test_stopping_gives_up_on_an_answer_that_outlasts_the_grace_period(
    start_bot: Callable[..., Awaitable[RunningBot]], telegram: FakeTelegram,
    openai: FakeOpenAI,
) -> None:
    openai.hang(30)
    bot = await start_bot(grace=0.5, **model_settings(openai, timeout="30"))
    telegram.push_text(2401, 2401, "¿tienen monitores?")
    await telegram.wait_for_calls("sendChatAction")

    started = time.monotonic()
    await bot.stop()

    assert time.monotonic() - started < 3
    assert telegram.sent_messages(2401) == []
    assert bot.application.bot_data.app is None


async def test_kratos_run_stops_cleanly_on_sigterm(
    telegram: FakeTelegram, catalog_db: Path, tmp_path: Path,
) -> None:
    env = {"PATH": os.environ.get("PATH", ""), "HOME": str(tmp_path), "LOG_LEVEL": "DEBUG",
           "TELEGRAM_BOT_TOKEN": TOKEN, "TELEGRAM_API_BASE_URL": telegram.root,
           "CATALOG_DB": str(catalog_db), "STATE_DB": str(tmp_path / "state.db")}
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bot", "--env-file", os.devnull, "run",
        cwd=PROJECT_ROOT, env=env, stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        await telegram.wait_for_calls("getUpdates", timeout=30)
        telegram.push_text(2201, 2201, MOST_EXPENSIVE)
        await telegram.wait_for_messages(1, chat_id=2201)

        process.send_signal(signal.SIGTERM)
        started = time.monotonic()
        _, stderr = await asyncio.wait_for(process.communicate(), timeout=10)
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()

    log = stderr.decode()
    assert process.returncode == 0, log
    assert time.monotonic() - started < 5
    assert "bot stopped" in log
    assert TOKEN not in log
    if sys.platform != "win32":
        assert "event loop: uvloop" in log


def test_kratos_run_without_a_token_is_a_configuration_error(
    make_settings: Callable[..., Settings],
) -> None:
    with pytest.raises(ConfigError, match="TELEGRAM_BOT_TOKEN"):
        run_command(make_settings())
    with pytest.raises(ConfigError, match="WEBHOOK_SECRET"):
        run_command(make_settings(TELEGRAM_BOT_TOKEN=TOKEN, WEBHOOK_URL="https://x.example/h"))


# --- Who is asking, and who may ------------------------------------------------------------

CHANNEL_X, CHANNEL_Y = -1005550001, -1005550002
OTHER_GROUP = -1009876543210


async def test_only_allowed_chats_serves_their_members_in_private_and_no_stranger(
    start_bot: Callable[..., Awaitable[RunningBot]], telegram: FakeTelegram,
) -> None:
    """"Serve only that group": its members may also ask in private, nobody else may."""
    await start_bot(ALLOWED_CHAT_IDS=str(GROUP))
    telegram.set_member(GROUP, 1201, "member")
    telegram.set_member(GROUP, 1202, "administrator")
    telegram.set_member(GROUP, 1203, "restricted")  # muted, but still in the group
    telegram.set_member(GROUP, 1204, "left")
    telegram.set_member(GROUP, 1205, "kicked")
    for user in (1201, 1201, 1202, 1203, 1204, 1205, 1206):
        telegram.push_text(user, user, MOST_EXPENSIVE)
    telegram.push_text(OTHER_GROUP, 1201, f"@{telegram.username} {MOST_EXPENSIVE}",
                       chat_type="supergroup")
    for user in (1201, 1202, 1203, 1204, 1205, 1206):
        await telegram.wait_for_messages(2 if user == 1201 else 1, chat_id=user)
    await asyncio.sleep(0.3)  # time for a reply in the other group to show up

    for user in (1201, 1202, 1203):
        assert all("autorizado" not in m.plain for m in telegram.sent_messages(user))
    for user in (1204, 1205, 1206):
        [refusal] = telegram.sent_messages(user)
        assert "solo para el personal autorizado" in refusal.plain
    # Another group is not served, whoever writes there.
    [refusal] = telegram.sent_messages(OTHER_GROUP)
    assert "solo para el personal autorizado" in refusal.plain
    # One getChatMember per user: the answer is remembered.
    asked = [int(c.params["user_id"]) for c in telegram.calls_to("getChatMember")]
    assert sorted(asked) == [1201, 1202, 1203, 1204, 1205, 1206]


async def test_channels_and_anonymous_admins_are_senders_of_their_own(
    start_bot: Callable[..., Awaitable[RunningBot]], telegram: FakeTelegram,
) -> None:
    bot = await start_bot(RATE_LIMIT_MESSAGES="2")
    question = f"@{telegram.username} {MOST_EXPENSIVE}"
    for _ in range(4):  # channel X floods group one
        telegram.push_text(GROUP, 0, question, chat_type="supergroup", sender_chat=CHANNEL_X)
    await telegram.wait_for_messages(3, chat_id=GROUP)
    telegram.push_text(OTHER_GROUP, 0, question, chat_type="supergroup", sender_chat=CHANNEL_Y)
    telegram.push_text(GROUP, 0, "@" + telegram.username + " ¿y el más barato?",
                       chat_type="supergroup", sender_chat=GROUP)  # an anonymous admin
    await telegram.wait_for_messages(1, chat_id=OTHER_GROUP)
    await telegram.wait_for_messages(4, chat_id=GROUP)

    assert ["Vas muy rápido" in m.plain for m in telegram.sent_messages(GROUP)].count(True) == 1
    assert "Vas muy rápido" not in telegram.sent_messages(OTHER_GROUP)[0].plain
    conversations = state_rows(bot.settings, "SELECT conversation, count(*) FROM messages "
                                             "WHERE role = 'user' GROUP BY conversation")
    assert sorted(conversations) == sorted([(f"g:{GROUP}:{CHANNEL_X}", 2),
                                            (f"g:{OTHER_GROUP}:{CHANNEL_Y}", 1),
                                            (f"g:{GROUP}:{GROUP}", 1)])


async def test_a_channel_s_memory_never_reaches_another_channel_s_request(
    start_bot: Callable[..., Awaitable[RunningBot]], telegram: FakeTelegram,
    openai: FakeOpenAI,
) -> None:
    openai.reply("Anotado.")
    openai.reply("¿En qué te ayudo?")
    await start_bot(**model_settings(openai))
    secret = "el proveedor nuevo nos deja la laptop a 1500"
    telegram.push_text(GROUP, 0, f"@{telegram.username} {secret}", chat_type="supergroup",
                       sender_chat=CHANNEL_X)
    await telegram.wait_for_messages(1, chat_id=GROUP)
    telegram.push_text(OTHER_GROUP, 0, f"@{telegram.username} hola", chat_type="supergroup",
                       sender_chat=CHANNEL_Y)
    await telegram.wait_for_messages(1, chat_id=OTHER_GROUP)

    second = openai.chat_requests[1]
    assert secret not in str(second["messages"])


async def test_automatic_forwards_from_a_linked_channel_are_not_questions(
    start_bot: Callable[..., Awaitable[RunningBot]], telegram: FakeTelegram,
) -> None:
    bot = await start_bot()
    telegram.push_text(GROUP, 0, f"@{telegram.username} Nuevas laptops, ¿cuál es la más cara?",
                       chat_type="supergroup", sender_chat=CHANNEL_X, automatic_forward=True)
    telegram.push_text(GROUP, 1301, f"@{telegram.username} {MOST_EXPENSIVE}",
                       chat_type="supergroup")
    await telegram.wait_for_messages(1, chat_id=GROUP)
    await asyncio.sleep(0.3)

    assert len(telegram.sent_messages(GROUP)) == 1
    assert state_rows(bot.settings, "SELECT DISTINCT conversation FROM messages") == [
        (f"g:{GROUP}:1301",)]


async def test_with_only_users_listed_channels_and_anonymous_admins_are_refused(
    start_bot: Callable[..., Awaitable[RunningBot]], telegram: FakeTelegram,
) -> None:
    await start_bot(ALLOWED_USER_IDS="1401")
    question = f"@{telegram.username} {MOST_EXPENSIVE}"
    telegram.push_text(GROUP, 0, question, chat_type="supergroup", sender_chat=CHANNEL_X)
    telegram.push_text(GROUP, 0, question, chat_type="supergroup", sender_chat=GROUP)
    telegram.push_text(GROUP, 1401, question, chat_type="supergroup")
    sent = await telegram.wait_for_messages(3, chat_id=GROUP)
    await asyncio.sleep(0.3)

    assert [("autorizado" in m.plain) for m in telegram.sent_messages(GROUP)] == [
        True, True, False]
    assert len(sent) == 3


# --- Secrets and customers' words in the logs ------------------------------------------------

WORDS = "quiero la laptop morada que vio mi suegra"


@pytest.mark.parametrize("log_messages", ["off", "on"])
async def test_debug_logs_hold_no_short_secret_and_no_customer_words_unless_asked(
    bot_settings: Callable[..., Settings], running_bots: list[RunningBot],
    telegram: FakeTelegram, capsys: pytest.CaptureFixture[str], log_messages: str,
) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    secret = "Zq9_x"  # five characters: redaction used to start at six
    settings = bot_settings(WEBHOOK_URL="https://kratos.example/hook", WEBHOOK_SECRET=secret,
                            WEBHOOK_LISTEN="127.0.0.1", WEBHOOK_PORT=str(port),
                            LOG_LEVEL="DEBUG", LOG_MESSAGES=log_messages)
    configure_logging(settings.log_level, settings.secrets(),
                      log_messages=settings.log_messages)
    try:
        running_bots.append(await RunningBot.launch(settings))
        update = telegram.make_text_update(2201, 2201, WORDS)
        async with aiohttp.ClientSession() as session, session.post(
                f"http://127.0.0.1:{port}/hook", json=update,
                headers={"X-Telegram-Bot-Api-Secret-Token": secret}) as response:
            assert response.status == 200
        await telegram.wait_for_messages(1, chat_id=2201)
    finally:
        logging.getLogger().setLevel(logging.WARNING)
    err = capsys.readouterr().err

    assert "setWebhook" in err and "[redacted]" in err
    assert secret not in err
    assert (WORDS in err) is (log_messages == "on")
    assert ("[hidden: LOG_MESSAGES=off]" in err) is (log_messages == "off")


async def test_an_unknown_command_in_a_private_chat_is_answered(
    start_bot: Callable[..., Awaitable[RunningBot]], telegram: FakeTelegram,
) -> None:
    await start_bot()
    telegram.push_text(851, 851, "/precio laptops <baratas> & más")
    telegram.push_text(852, 852, f"/laptops@{telegram.username}", language_code="en")
    telegram.push_text(GROUP, 853, "/precio laptops", chat_type="group")  # not for the bot
    telegram.push_text(854, 854, "/reset")  # a known command keeps its own answer
    [spanish] = await telegram.wait_for_messages(1, chat_id=851)
    [english] = await telegram.wait_for_messages(1, chat_id=852)
    [reset] = await telegram.wait_for_messages(1, chat_id=854)

    assert "/precio" in spanish.plain and "«precio laptops <baratas> & más»" in spanish.plain
    assert "/help" in spanish.plain
    assert "/laptops" in english.plain and "“laptops”" in english.plain
    assert "olvidé" in reset.plain
    assert telegram.sent_messages(GROUP) == []
