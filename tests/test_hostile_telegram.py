"""Telegram end to end with odd input: the real PTB Application against the fake Bot API (and
the fake OpenAI API for speech and the model).

A customer who blocked the bot: nothing more is sent to that chat, no error with a traceback
is logged, and everyone else keeps being answered. A transcript holding a character no HTTP
body can encode: shown and answered, not "something went wrong".
"""

from __future__ import annotations

import logging
import subprocess
from collections.abc import Awaitable, Callable

import pytest

from bot.audio.conversion import ffmpeg_executable
from tests.fakes.openai_server import FakeOpenAI
from tests.fakes.telegram_server import FakeTelegram
from tests.test_telegram_bot import GROUP, RunningBot, model_settings

BLOCKED = "Forbidden: bot was blocked by the user"
KICKED = "Forbidden: bot was kicked from the supergroup chat"


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


@pytest.fixture(scope="module")
def voice_note(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    """A real 2 s OGG/Opus voice note made with the bundled ffmpeg."""
    path = tmp_path_factory.mktemp("hostile_voice") / "voice.oga"
    subprocess.run([ffmpeg_executable(), "-hide_banner", "-nostdin", "-loglevel", "error",
                    "-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000:duration=2",
                    "-ac", "1", "-c:a", "libopus", "-b:a", "24k", "-f", "ogg", str(path)],
                   check=True, capture_output=True, timeout=60)
    return path.read_bytes()


async def test_a_transcript_with_a_lone_surrogate_is_shown_and_answered(
    start_bot: Callable[..., Awaitable[RunningBot]], telegram: FakeTelegram,
    openai: FakeOpenAI, voice_note: bytes,
) -> None:
    # The speech endpoint's JSON carries "\ud800": valid JSON, no valid UTF-8.
    openai.transcription("laptops \ud800 baratas")
    openai.reply("¡Hola! ¿Qué laptop buscas?")
    await start_bot(**model_settings(openai))

    telegram.push_media(9301, 9301, "voice", voice_note, duration=2)
    echo, answered = await telegram.wait_for_messages(2, chat_id=9301)

    assert echo.plain == "🎤 «laptops   baratas»"
    assert answered.plain == "¡Hola! ¿Qué laptop buscas?"
    assert openai.chat_requests[0]["messages"][-1] == {"role": "user",
                                                       "content": "laptops   baratas"}
