"""The answer visible while it is written, in Telegram: drafts in private chats, one edited
message in groups. The real PTB Application against the fake Bot API and a fake OpenAI that
streams; what the user sees is read from the fake (``chat_view``)."""

from __future__ import annotations

import sqlite3
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import closing
from pathlib import Path

import pytest

from bot.catalog.money import format_soles
from tests.conftest import TELEGRAM_TOKEN
from tests.fakes.openai_server import FakeOpenAI
from tests.fakes.telegram_server import FakeTelegram
from tests.test_telegram_bot import RunningBot

GROUP = -1009876543210
LAPTOPS = ("SELECT name, price FROM products WHERE category = 'Laptops' "
           "ORDER BY price, id LIMIT 3")
QUESTION = "¿qué laptop me recomiendas para la universidad?"


@pytest.fixture
async def paced() -> AsyncIterator[FakeOpenAI]:
    """A fake OpenAI streaming 100 pieces a second: a reply takes a few tenths of a second."""
    async with FakeOpenAI(tokens_per_second=100) as fake:
        yield fake


@pytest.fixture
def start(make_settings, catalog_db, telegram, paced, running_bots
          ) -> Callable[..., Awaitable[RunningBot]]:
    async def launch(**overrides: str) -> RunningBot:
        bot = await RunningBot.launch(make_settings(
            TELEGRAM_BOT_TOKEN=TELEGRAM_TOKEN, TELEGRAM_API_BASE_URL=telegram.root,
            OPENAI_API_KEY=paced.api_key, OPENAI_BASE_URL=paced.base_url,
            OPENAI_MAX_RETRIES="0", OPENAI_TIMEOUT="5", ANSWER_TIMEOUT="10", **overrides))
        running_bots.append(bot)
        return bot
    return launch


def cheapest(catalog_db: Path) -> tuple[str, float]:
    with closing(sqlite3.connect(catalog_db)) as conn:
        return conn.execute(LAPTOPS).fetchone()


def recommendation(catalog_db: Path) -> str:
    name, price = cheapest(catalog_db)
    return (f"Para la universidad te recomiendo la {name}, a {format_soles(price)}: es la más "
            "económica de las tres, liviana y con batería para todo el día de clases.")


def ungrounded(catalog_db: Path) -> str:
    name, price = cheapest(catalog_db)
    return (f"Te recomiendo la {name}, que cuesta {format_soles(price)}, y con el descuento "
            "de hoy te sale en S/ 99.00 nada más, así que aprovecha esta oferta única.")


def ask(telegram: FakeTelegram, chat_id: int, text: str = QUESTION) -> None:
    if chat_id > 0:
        telegram.push_text(chat_id, chat_id, text)
    else:
        telegram.push_text(chat_id, 601, f"@{telegram.username} {text}", chat_type="supergroup")


def all_texts(telegram: FakeTelegram, chat_id: int) -> list[str]:
    """Every text the user could have seen at some moment: drafts, messages, edits."""
    return ([d.plain for d in telegram.drafts if d.chat_id == chat_id]
            + [m.plain for m in telegram.messages if m.chat_id == chat_id])


async def test_private_chat_shows_drafts_then_the_final_message(
        start, telegram: FakeTelegram, paced: FakeOpenAI, catalog_db: Path) -> None:
    final = recommendation(catalog_db)
    paced.tool_call("run_sql", {"query": LAPTOPS})
    paced.reply(final)
    await start()
    ask(telegram, 801)
    [sent] = await telegram.wait_for_messages(1, chat_id=801)
    drafts = [d for d in telegram.drafts if d.chat_id == 801]
    assert len(drafts) >= 2, "the reply grew in drafts while it was written"
    assert all(final.startswith(d.plain) and d.plain for d in drafts)
    assert len({d.draft_id for d in drafts}) == 1
    assert sent.plain == final
    assert telegram.chat_view(801) == [final], "the final message replaced the draft"


async def test_private_draft_never_shows_an_ungrounded_amount(
        start, telegram: FakeTelegram, paced: FakeOpenAI, catalog_db: Path) -> None:
    paced.tool_call("run_sql", {"query": LAPTOPS})
    paced.reply(ungrounded(catalog_db))
    await start()
    ask(telegram, 802)
    [sent] = await telegram.wait_for_messages(1, chat_id=802)
    assert telegram.drafts, "the grounded start was previewed"
    assert all("99.00" not in text for text in all_texts(telegram, 802))
    assert cheapest(catalog_db)[0] in sent.plain
    assert telegram.chat_view(802) == [sent.plain]


async def test_group_edits_one_message_into_the_final_text(
        start, telegram: FakeTelegram, paced: FakeOpenAI, catalog_db: Path) -> None:
    final = recommendation(catalog_db)
    paced.tool_call("run_sql", {"query": LAPTOPS})
    paced.reply(final)
    await start()
    ask(telegram, GROUP)
    await telegram.wait_for_calls("editMessageText", 1)
    [preview] = telegram.sent_messages(GROUP)
    assert final.startswith(preview.plain) and preview.plain != final
    assert telegram.drafts == [], "drafts exist only in private chats"
    assert telegram.chat_view(GROUP) == [final]
    [edit] = telegram.calls_to("editMessageText")
    assert edit.params["message_id"] == preview.message_id


async def test_group_preview_with_an_ungrounded_amount_is_replaced(
        start, telegram: FakeTelegram, paced: FakeOpenAI, catalog_db: Path) -> None:
    paced.tool_call("run_sql", {"query": LAPTOPS})
    paced.reply(ungrounded(catalog_db))
    await start()
    ask(telegram, GROUP)
    await telegram.wait_for_calls("editMessageText", 1)
    [shown] = telegram.chat_view(GROUP)
    assert "99.00" not in shown and cheapest(catalog_db)[0] in shown
    assert all("99.00" not in text for text in all_texts(telegram, GROUP))


async def test_a_preview_that_cannot_be_edited_is_deleted_not_left_standing(
        start, telegram: FakeTelegram, paced: FakeOpenAI, catalog_db: Path) -> None:
    final = recommendation(catalog_db)
    paced.tool_call("run_sql", {"query": LAPTOPS})
    paced.reply(final)
    telegram.fail_next("editMessageText", 400, times=5,
                       description="Bad Request: message to edit not found")
    await start()
    ask(telegram, GROUP)
    await telegram.wait_for_messages(2, chat_id=GROUP)
    await telegram.wait_for_calls("deleteMessage", 1)
    assert telegram.chat_view(GROUP) == [final]


async def test_a_one_call_answer_sends_no_draft(
        start, telegram: FakeTelegram, paced: FakeOpenAI, catalog_db: Path) -> None:
    paced.tool_call("run_sql", {"query": LAPTOPS, "intro": "Las más baratas:"})
    await start()
    ask(telegram, 803, "laptops baratas")
    [sent] = await telegram.wait_for_messages(1, chat_id=803)
    assert sent.plain.startswith("Las más baratas:\n")
    assert telegram.drafts == []


async def test_streaming_off_sends_only_the_final_message(
        start, telegram: FakeTelegram, paced: FakeOpenAI, catalog_db: Path) -> None:
    final = recommendation(catalog_db)
    paced.tool_call("run_sql", {"query": LAPTOPS})
    paced.reply(final)
    await start(STREAM_REPLIES="off")
    ask(telegram, GROUP)
    [sent] = await telegram.wait_for_messages(1, chat_id=GROUP)
    assert sent.plain == final
    assert "stream" not in paced.chat_requests[1]
    assert telegram.calls_to("editMessageText") == [] and telegram.drafts == []


async def test_a_refused_draft_stops_previewing_and_the_answer_still_comes(
        start, telegram: FakeTelegram, paced: FakeOpenAI, catalog_db: Path) -> None:
    final = recommendation(catalog_db)
    paced.tool_call("run_sql", {"query": LAPTOPS})
    paced.reply(final)
    telegram.fail_next("sendMessageDraft", 400, times=50,
                       description="Bad Request: method is not available")
    await start()
    ask(telegram, 804)
    [sent] = await telegram.wait_for_messages(1, chat_id=804)
    assert sent.plain == final
    assert len(telegram.calls_to("sendMessageDraft")) == 1, "no retry after a refusal"


async def test_a_long_answer_in_a_group_replaces_its_preview_with_new_messages(
        start, telegram: FakeTelegram, paced: FakeOpenAI, catalog_db: Path) -> None:
    name = cheapest(catalog_db)[0]
    final = "\n".join(f"Punto {n}: la {name} sirve para estudiar, trabajar y jugar un poco "
                      "cada día de la semana." for n in range(60))
    paced.tokens_per_second = 2000  # about 900 pieces
    paced.tool_call("run_sql", {"query": LAPTOPS})
    paced.reply(final)
    await start()
    ask(telegram, GROUP)
    await telegram.wait_for_calls("deleteMessage", 1)
    await telegram.wait_for_messages(3, chat_id=GROUP)  # the preview, then two parts
    view = telegram.chat_view(GROUP)
    assert len(view) == 2 and "\n".join(view).replace("\n\n", "\n").count("Punto") == 60
    assert view[0].startswith("Punto 0:")
