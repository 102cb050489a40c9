"""The per-user rate limit and the per-conversation answer order."""

import asyncio

from bot.core.pacing import ConversationLocks, RateLimit, Verdict


def test_the_rate_limit_is_a_sliding_window_with_one_warning_per_burst() -> None:
    now = [0.0]
    limit = RateLimit(2, 10.0, clock=lambda: now[0])
    assert [limit.check(1) for _ in range(4)] == [Verdict.ALLOW, Verdict.ALLOW, Verdict.WARN,
                                                  Verdict.SILENT]
    assert limit.check(2) is Verdict.ALLOW
    now[0] = 9.9
    assert limit.check(1) is Verdict.SILENT
    now[0] = 10.0
    assert [limit.check(1) for _ in range(3)] == [Verdict.ALLOW, Verdict.ALLOW, Verdict.WARN]


async def test_conversation_locks_serve_waiters_first_come_first_served() -> None:
    locks = ConversationLocks()
    order: list[int] = []

    async def turn(number: int) -> None:
        async with locks.hold("u:1"):
            await asyncio.sleep(0.01 * (5 - number))
            order.append(number)

    await asyncio.gather(*(turn(n) for n in range(5)))
    assert order == [0, 1, 2, 3, 4]
    assert len(locks) == 0  # nothing left behind once nobody waits
