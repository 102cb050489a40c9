"""The garbage collector's pace while serving (``bot.eventloop.settle_heap``)."""

from __future__ import annotations

import gc

from bot import eventloop


def test_settling_freezes_start_up_and_unsettling_gives_it_back() -> None:
    before = gc.get_threshold()
    start_up = [[index] for index in range(1000)]  # long-lived containers, as start-up builds
    eventloop.settle_heap()
    try:
        assert gc.get_freeze_count() >= len(start_up)
        assert gc.get_threshold() == (eventloop.GC_YOUNG_THRESHOLD,
                                      *eventloop.GC_OLDER_THRESHOLDS)
        eventloop.settle_heap()  # twice changes nothing
        assert gc.get_threshold()[0] == eventloop.GC_YOUNG_THRESHOLD
        # Garbage in a cycle made while serving is still collected.
        cycle: list[object] = []
        cycle.append(cycle)
        del cycle
        assert gc.collect() >= 1
    finally:
        eventloop.unsettle_heap()
    assert gc.get_freeze_count() == 0
    assert gc.get_threshold() == before
    eventloop.unsettle_heap()  # twice changes nothing
    assert gc.get_threshold() == before


async def test_the_running_bot_settles_the_heap_and_gives_it_back(
        make_settings, catalog_db, telegram) -> None:
    from tests.test_telegram_bot import TOKEN, RunningBot

    before = gc.get_threshold()
    bot = await RunningBot.launch(make_settings(TELEGRAM_BOT_TOKEN=TOKEN,
                                                TELEGRAM_API_BASE_URL=telegram.root))
    try:
        assert gc.get_threshold()[0] == eventloop.GC_YOUNG_THRESHOLD
        assert gc.get_freeze_count() > 0
        telegram.push_text(501, 501, "¿cuál es el producto más caro?")
        [reply] = await telegram.wait_for_messages(1, chat_id=501)
        assert "S/" in reply.plain
    finally:
        await bot.stop()
    assert gc.get_threshold() == before and gc.get_freeze_count() == 0
