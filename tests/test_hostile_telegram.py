"""A customer who blocked the bot, end to end: the real PTB Application against the fake Bot
API. Nothing more is sent to that chat, no error with a traceback is logged, and everyone
else keeps being answered."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest

from bot.settings import Settings
from tests.fakes.telegram_server import FakeTelegram
from tests.test_telegram_bot import GROUP, TOKEN, RunningBot

BLOCKED = "Forbidden: bot was blocked by the user"
KICKED = "Forbidden: bot was kicked from the supergroup chat"


@pytest.fixture
def start_bot(make_settings: Callable[..., Settings], catalog_db: Path, telegram: FakeTelegram,
              running_bots: list[RunningBot]) -> Callable[..., Awaitable[RunningBot]]:
    """Start the bot in basic mode against the fake Bot API, as ``kratos run`` does."""

    async def start(**overrides: str) -> RunningBot:
        bot = await RunningBot.launch(make_settings(
            TELEGRAM_BOT_TOKEN=TOKEN, TELEGRAM_API_BASE_URL=telegram.root, **overrides))
        running_bots.append(bot)
        return bot

    return start


@pytest.mark.parametrize(("chat", "description", "options"), [
    (9201, BLOCKED, {}),
    (GROUP, KICKED, {"chat_type": "supergroup"}),
], ids=["blocked in private", "removed from a group"])
async def test_a_chat_that_refuses_messages_gets_no_apology_and_others_are_answered(
    start_bot: Callable[..., Awaitable[RunningBot]], telegram: FakeTelegram,
    caplog: pytest.LogCaptureFixture, chat: int, description: str, options: dict[str, str],
) -> None:
    await start_bot()
    caplog.set_level(logging.INFO)
    telegram.refuse_chat(chat, description)
    text = f"@{telegram.username} laptops baratas" if chat == GROUP else "laptops baratas"
    telegram.push_text(chat, 9202, text, **options)
    await telegram.wait_for_calls("sendMessage", 1)
    telegram.push_text(9203, 9203, "laptops baratas")
    [other] = await telegram.wait_for_messages(1, chat_id=9203)

    assert other.plain.startswith("Encontré")
    to_chat = [c.status for c in telegram.calls_to("sendMessage")
               if int(c.params["chat_id"]) == chat]
    assert to_chat == [403]  # the answer; no apology tried after it
    assert [r for r in caplog.records if r.levelno >= logging.WARNING] == []
    assert any(f"chat {chat}: Telegram delivers nothing there" in r.getMessage()
               for r in caplog.records)
