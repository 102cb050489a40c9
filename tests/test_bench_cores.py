"""The benchmark's bot runs on a core of its own and the fakes on the others, as its figures say.

The fakes pin the benchmark's process to their cores while they run; the bot is started from
inside that, so a split read from the process's affinity at that moment saw one core and left
the bot on the fakes' core.
"""

from __future__ import annotations

import os
from pathlib import Path

from benchmarks.common import RUN_CORES, pinned, split_cores
from benchmarks.harness import running_bot


def test_the_split_is_the_same_inside_the_fakes_pin() -> None:
    outside = split_cores()
    with pinned(outside[1]):
        assert split_cores() == outside
    assert os.sched_getaffinity(0) == set(RUN_CORES)


async def test_the_bot_and_the_fakes_never_share_a_core(catalog_db: Path) -> None:
    async with running_bot(catalog_db) as (_telegram, _model, bot):
        bot_cores = os.sched_getaffinity(bot.pid)
        fake_cores = os.sched_getaffinity(0)
    if len(RUN_CORES) >= 2:
        assert len(bot_cores) == 1
        assert not bot_cores & fake_cores
        assert bot_cores | fake_cores == set(RUN_CORES)
    else:
        assert bot_cores == fake_cores == set(RUN_CORES)
