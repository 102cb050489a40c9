"""What the owner sees setting up the Telegram bot: the start-up banner, /id, and how a bot
that cannot start says why (the cause first, every HTTP session closed)."""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest

from tests.conftest import TELEGRAM_TOKEN as TOKEN
from tests.fakes.telegram_server import FakeTelegram
from tests.test_telegram_bot import GROUP, PROJECT_ROOT, RunningBot


async def test_kratos_run_logs_what_is_running(
        start_bot: Callable[..., Awaitable[RunningBot]], catalog_db: Path,
        caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO, logger="bot.channels.telegram"):
        await start_bot()
    [banner] = [r.getMessage() for r in caplog.records if "KRATOS is starting" in r.getMessage()]
    assert banner.splitlines()[1:] == [
        "  engine:   basic mode (OPENAI_API_KEY is not set)",
        f"  catalog:  {catalog_db} (products: 500 rows)",
        "  channels: Telegram @kratos_test_bot by polling",
        "  voice:    off (transcription needs OPENAI_API_KEY)",
        "  logs:     stderr at INFO",
    ]


# -- /id ---------------------------------------------------------------------------------------

async def test_id_in_a_private_chat(start_bot: Callable[..., Awaitable[RunningBot]],
                                    telegram: FakeTelegram) -> None:
    await start_bot()
    telegram.push_text(7101, 7101, "/id")
    [reply] = await telegram.wait_for_messages(1, chat_id=7101)
    assert reply.plain == ("Tu id de usuario: 7101\nId de este chat: 7101\n"
                           "(para ALLOWED_USER_IDS, ADMIN_USER_IDS y ALLOWED_CHAT_IDS)")


async def test_id_in_a_group_gives_the_group_id_in_english(
        start_bot: Callable[..., Awaitable[RunningBot]], telegram: FakeTelegram) -> None:
    await start_bot()
    telegram.push_text(GROUP, 7102, "/id@kratos_test_bot", chat_type="supergroup",
                       language_code="en")
    [reply] = await telegram.wait_for_messages(1, chat_id=GROUP)
    assert reply.plain.startswith(f"Your user id: 7102\nThis chat's id: {GROUP}\n")


async def test_id_answers_someone_the_allow_lists_leave_out(
        start_bot: Callable[..., Awaitable[RunningBot]], telegram: FakeTelegram) -> None:
    # The owner is not on the list yet: /id is how they learn what to put there.
    await start_bot(ALLOWED_USER_IDS="1", ALLOWED_CHAT_IDS="-1")
    telegram.push_text(7103, 7103, "/id")
    [reply] = await telegram.wait_for_messages(1, chat_id=7103)
    assert "7103" in reply.plain
    telegram.push_text(7103, 7103, "dame laptops")
    [_, refusal] = await telegram.wait_for_messages(2, chat_id=7103)
    assert "solo para el personal autorizado" in refusal.plain


async def test_id_keeps_to_the_rate_limit(start_bot: Callable[..., Awaitable[RunningBot]],
                                          telegram: FakeTelegram) -> None:
    await start_bot(RATE_LIMIT_MESSAGES="2")
    for _ in range(5):
        telegram.push_text(7104, 7104, "/id")
    await telegram.wait_for_messages(2, chat_id=7104)
    await asyncio.sleep(0.5)
    ids = [m for m in telegram.sent_messages(7104) if "7104" in m.plain]
    assert len(ids) == 2


# -- a bot that cannot start -------------------------------------------------------------------

async def run_kratos(tmp_path: Path, catalog_db: Path, **env: str) -> tuple[int, str]:
    """``kratos run`` in its own process; returns its exit code and stderr."""
    environment = {"PATH": os.environ.get("PATH", ""), "HOME": str(tmp_path),
                   "PYTHONPATH": str(PROJECT_ROOT), "LOG_LEVEL": "INFO",
                   "TELEGRAM_BOT_TOKEN": TOKEN, "CATALOG_DB": str(catalog_db),
                   "STATE_DB": str(tmp_path / "state.db"), **env}
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bot", "--env-file", os.devnull, "run",
        cwd=PROJECT_ROOT, env=environment, stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        _, stderr = await asyncio.wait_for(process.communicate(), timeout=60)
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
    assert process.returncode is not None
    return process.returncode, stderr.decode()


async def test_an_unreachable_bot_api_is_said_first_with_no_session_dumps(
        tmp_path: Path, catalog_db: Path) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed = f"http://127.0.0.1:{probe.getsockname()[1]}"
    code, log = await run_kratos(tmp_path, catalog_db, TELEGRAM_API_BASE_URL=closed)
    assert code == 1
    lines = [line for line in log.splitlines() if " bot." in line or "asyncio" in line]
    assert ("ERROR bot.channels.telegram.app: cannot reach the Telegram Bot API at "
            + closed) in lines[-1]
    assert "bot stopped" not in log
    assert "Unclosed" not in log and "Traceback" not in log


async def test_a_refused_token_is_one_sentence_with_no_session_dumps(
        tmp_path: Path, catalog_db: Path, telegram: FakeTelegram) -> None:
    code, log = await run_kratos(tmp_path, catalog_db, TELEGRAM_API_BASE_URL=telegram.root,
                                 TELEGRAM_BOT_TOKEN="999:WRONG")
    assert code == 2
    assert log.splitlines()[-1] == ("kratos: Telegram rechazó TELEGRAM_BOT_TOKEN: revísalo con "
                                    "@BotFather (/mybots → tu bot → API Token).")
    assert "Unclosed" not in log and "Traceback" not in log and "WRONG" not in log
