"""Figure 10: how soon the first words of an answer appear when the model writes the reply.

A question the rows alone do not answer ("¿qué laptop me recomiendas?") takes two model calls:
``run_sql`` without the reply's words, then the reply, written by the model from the rows. The
fake model waits one second before each call's first token and streams at 50 tokens a second,
a realistic pace; the reply is about 90 tokens. Questions are asked one at a time, in a private
chat (where the bot shows a draft) and in a group (where it sends the first words and edits
that message), and once more with STREAM_REPLIES=off, which is how every answer went out
before: only the final message. The figure is the time from the model's first token of the
reply (noted by the fake as it sends it) to the first words the user can see.
"""

from __future__ import annotations

import asyncio
import json
import statistics
import time
import uuid
from typing import Any

from benchmarks.common import Figure, Metric, ensure_catalog, load_average
from benchmarks.harness import FIXED_SQL, TimedTelegram, running_bot
from bot.channels.telegram.format import render
from tests.fakes.openai_server import FakeOpenAI, Reply, ToolCalls

NAME = "streaming"
TITLE = "10. First words on screen"
LATENCY = 1.0  # seconds to each call's first token
TOKENS_PER_SECOND = 50.0
GOAL_S = 0.2  # first words within this long of the model's first token
GROUP = -1005550001
QUESTION = "¿qué laptop me recomiendas para la universidad?"
RECOMMENDATION = (
    "Para la universidad te recomiendo empezar por la primera de la lista: es la más económica "
    "de las cinco, liviana para llevarla todos los días en la mochila y con batería suficiente "
    "para una jornada entera de clases. Si vas a estudiar diseño o ingeniería, mira también la "
    "segunda, que trae más memoria para programas pesados. Cualquiera de las dos te sirve para "
    "tomar apuntes, hacer trabajos en grupo y conectarte a las clases en línea sin problemas."
)


def rows_then_recommendation(body: dict[str, Any]) -> Reply | ToolCalls:
    """A model that asks for the rows back (no words), then writes a recommendation."""
    messages = body.get("messages") or []
    if messages and messages[-1].get("role") == "tool":
        return Reply(RECOMMENDATION, completion_tokens=90)
    arguments = json.dumps({"query": FIXED_SQL})
    return ToolCalls([("run_sql", arguments, f"call_{uuid.uuid4().hex[:24]}")])


def _first_token(model: FakeOpenAI, since: int) -> float:
    """When the model began writing this question's reply (its last call's first token)."""
    started = [r.first_token_at for r in model.requests[since:] if r.first_token_at is not None]
    if not started:
        raise RuntimeError("the model wrote no reply for this question")
    return started[-1]


async def _ask(telegram: TimedTelegram, model: FakeOpenAI, chat_id: int, user: int
               ) -> dict[str, float]:
    """One question; when its first words showed and when the final text did, from asking."""
    since = len(model.requests)
    drafts, sends = len(telegram.draft_times[chat_id]), len(telegram.reply_times[chat_id])
    final = render(RECOMMENDATION)[0].plain
    answered = telegram.chat_view(chat_id).count(final)  # earlier answers in the same group
    if chat_id > 0:
        asked = telegram.ask(chat_id, QUESTION)
    else:
        telegram.push_text(chat_id, user, f"@{telegram.username} {QUESTION}",
                           chat_type="supergroup")
        asked = time.perf_counter()
    await telegram.wait_for(lambda: telegram.chat_view(chat_id).count(final) > answered,
                            timeout=30)
    done = time.perf_counter()
    visible = [*telegram.draft_times[chat_id][drafts:], *telegram.reply_times[chat_id][sends:]]
    first_words = min(visible)
    model_first = _first_token(model, since)
    return {"first_words_s": first_words - asked, "first_token_s": model_first - asked,
            "after_first_token_s": first_words - model_first, "final_s": done - asked}


async def _mode(count: int, stream: bool, chat_ids: list[int]) -> list[dict[str, float]]:
    catalog, _ = ensure_catalog(500)
    results: list[dict[str, float]] = []
    async with running_bot(catalog, latency=LATENCY, tokens_per_second=TOKENS_PER_SECOND,
                           flood_limit=True, STREAM_REPLIES="on" if stream else "off") as (
            telegram, model, _bot):
        model.responder(rows_then_recommendation)
        for number in range(count):
            chat_id = chat_ids[number % len(chat_ids)]
            user = 700_001 + number
            results.append(await _ask(telegram, model, chat_id if chat_id < 0 else user, user))
    return results


def _metrics(label: str, runs: list[dict[str, float]], *, goal: bool) -> list[Metric]:
    after = [r["after_first_token_s"] * 1000 for r in runs]
    return [
        Metric(f"{label}: first words after the model's first token", "ms", after,
               goal=f"<= {GOAL_S * 1000:.0f} ms" if goal else "",
               met=statistics.median(after) <= GOAL_S * 1000 if goal else None),
        Metric(f"  {label}: first words after the question", "s",
               [r["first_words_s"] for r in runs]),
        Metric(f"  {label}: whole answer after the question", "s", [r["final_s"] for r in runs]),
    ]


def run(quick: bool = False) -> Figure:
    count = 2 if quick else 5
    figure = Figure(NAME, TITLE)
    figure.details["load_average_before"] = load_average()
    private = asyncio.run(_mode(count, True, [1]))
    group = asyncio.run(_mode(count, True, [GROUP]))
    before = asyncio.run(_mode(count, False, [1]))
    figure.metrics += [
        *_metrics("private chat, draft", private, goal=True),
        *_metrics("group, one message edited", group, goal=True),
        *_metrics("STREAM_REPLIES=off (as before): only the final message", before, goal=False),
        Metric("model's first token of the reply after the question", "s",
               [r["first_token_s"] for r in private]),
    ]
    figure.details.update({"private": private, "group": group, "off": before,
                           "load_average_after": load_average()})
    figure.notes.append(
        f"Fake model: {LATENCY:.0f} s to each call's first token, {TOKENS_PER_SECOND:.0f} "
        f"tokens/s; two calls per question (run_sql without the reply's words, then the reply, "
        f"about 90 word pieces); {count} questions per mode, one at a time, on one bot per mode "
        "(`kratos run` pinned to one core, the fakes on the other, rate limiter on as shipped).")
    return figure
