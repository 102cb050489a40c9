"""The model engine: the model writes SQL through a `run_sql` tool, sees the rows, then replies.

The rows handed to the model already show money as ``S/ 1,299.90``; the final text is checked
against them, and a reply quoting an amount that no fetched row holds is rebuilt from the rows.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Any

import openai
from openai import AsyncOpenAI

from bot import money
from bot.catalog import CatalogReader, QueryResult
from bot.errors import KratosError, UserFacingError
from bot.memory import SharedTranscript
from bot.money import amount_cents, amounts_in_text, format_soles, is_money_column
from bot.prompt import CatalogProfile, system_prompt
from bot.reply import Reply, Turn

logger = logging.getLogger(__name__)

RUN_SQL_TOOL: dict[str, Any] = {
    "type": "function",
    "function": {
        "name": "run_sql",
        "description": (
            "Run one read-only SQLite SELECT on the store catalog and get the rows back "
            "(at most 50; the result says when rows were cut)."
        ),
        "parameters": {
            "type": "object",
            "properties": {"query": {"type": "string", "description": "One SELECT statement."}},
            "required": ["query"],
        },
    },
}
MODEL_CELL_CHARS = 200


class ModelUnavailable(KratosError):
    """The model endpoint failed after its retries, or answered something unusable."""


@dataclass
class ToolLoopState:
    """What one question's tool loop has run and fetched so far."""

    sql: list[str] = field(default_factory=list)
    results: list[QueryResult] = field(default_factory=list)
    prompt_tokens: int = 0
    completion_tokens: int = 0
    model_calls: int = 0

    @property
    def answer_rows(self) -> QueryResult | None:
        """The rows the answer is built from: the last non-empty result, else the last one."""
        for result in reversed(self.results):
            if result.rows:
                return result
        return self.results[-1] if self.results else None


def format_cell(column: str, value: Any) -> str:
    return money.format_cell(column, value, MODEL_CELL_CHARS)


def rows_for_model(result: QueryResult) -> str:
    """A compact, pipe-separated table with money already formatted."""
    if not result.rows:
        return "0 rows."
    lines = [" | ".join(result.columns)]
    lines += [" | ".join(format_cell(c, v) for c, v in zip(result.columns, row, strict=False))
              for row in result.rows]
    if result.truncated:
        total = f"{result.total}" if result.total is not None else "more than that"
        lines.append(f"(showing {len(result.rows)} of {total} rows)")
    else:
        lines.append(f"({len(result.rows)} rows)")
    return "\n".join(lines)


def result_prices(result: QueryResult) -> set[int]:
    """Every amount in soles (cents) a result holds."""
    prices: set[int] = set()
    for index, column in enumerate(result.columns):
        if not is_money_column(column):
            continue
        for row in result.rows:
            value = row[index]
            cents = amount_cents(value) if isinstance(value, int | float) else None
            if cents is not None:
                prices.add(cents)
    return prices


def rebuild_from_rows(result: QueryResult | None, language: str) -> str:
    """A plain reply written by code from the rows, used when the model's text can't be trusted."""
    english = language.startswith("en")
    if result is None or not result.rows:
        return "I found no matching products." if english else \
            "No encontré productos que coincidan."
    columns = [c.lower() for c in result.columns]
    header = (f"Here is what I found ({result.total or len(result.rows)}):" if english
              else f"Esto es lo que encontré ({result.total or len(result.rows)}):")
    lines = [header]
    for row in result.rows[:10]:
        values = dict(zip(columns, row, strict=False))
        name = values.get("name") or values.get("nombre")
        if name is not None:
            line = f"• {name}"
            for column, value in zip(result.columns, row, strict=False):
                if is_money_column(column) and value is not None:
                    line += f" — {format_cell(column, value)}"
            for key in ("availability", "disponibilidad"):
                if values.get(key):
                    line += f" ({values[key]})"
        else:
            line = "• " + ", ".join(
                f"{c}: {format_cell(c, v)}" for c, v in zip(result.columns, row, strict=False)
            )
        lines.append(line)
    return "\n".join(lines)


async def _run_tool_call(catalog: CatalogReader, arguments: str, state: ToolLoopState) -> str:
    """Run one `run_sql` call; every problem goes back to the model as text it can act on."""
    try:
        query = json.loads(arguments or "{}").get("query", "")
    except (json.JSONDecodeError, AttributeError):
        return 'Error: the arguments must be JSON like {"query": "SELECT ..."}.'
    if not isinstance(query, str) or not query.strip():
        return "Error: give one SELECT statement in the `query` argument."
    state.sql.append(query)
    try:
        result = await catalog.run(query)
    except UserFacingError as error:
        reason = getattr(error, "reason", str(error))
        logger.info("model SQL refused or failed: %s", reason)
        return f"Error: {reason}"
    state.results.append(result)
    return rows_for_model(result)


def _history_messages(history: Sequence[Turn]) -> list[dict[str, Any]]:
    return [{"role": turn.role, "content": turn.content} for turn in history]


async def answer_with_model(
    client: AsyncOpenAI,
    catalog: CatalogReader,
    profile: CatalogProfile,
    *,
    model: str,
    question: str,
    history: Sequence[Turn],
    language: str,
    max_tool_calls: int,
    transcript: SharedTranscript | None = None,
    today: date | None = None,
    max_tokens: int | None = None,
) -> Reply:
    """Answer one question with the model and the catalog; raises ModelUnavailable.

    ``max_tokens`` bounds each model reply (the request's ``max_tokens``); None sends no bound.
    """
    messages: list[dict[str, Any]] = [
        {"role": "system", "content": system_prompt(profile, today=today or date.today(),
                                                    transcript=transcript)},
        *_history_messages(history),
        {"role": "user", "content": question},
    ]
    state = ToolLoopState()
    text: str | None = None
    for _ in range(max_tool_calls + 1):
        tools_left = len(state.sql) < max_tool_calls
        message = await _complete(client, model, messages, state, allow_tools=tools_left,
                                  max_tokens=max_tokens)
        if not message.tool_calls:
            text = message.content.strip()
            break
        messages.append({
            "role": "assistant",
            "content": message.content or None,
            "tool_calls": [
                {"id": call.id, "type": "function",
                 "function": {"name": call.name, "arguments": call.arguments}}
                for call in message.tool_calls
            ],
        })
        for call in message.tool_calls:
            if call.name != "run_sql":
                content = f"Error: there is no tool named {call.name!r}; use run_sql."
            elif len(state.sql) >= max_tool_calls:
                content = "Error: query limit reached for this question; answer with what you have."
            else:
                content = await _run_tool_call(catalog, call.arguments, state)
            messages.append({"role": "tool", "tool_call_id": call.id, "content": content})
    if not text:
        message = await _complete(client, model, messages, state, allow_tools=False,
                                  max_tokens=max_tokens)
        text = message.content.strip()
    if not text:
        raise ModelUnavailable("the model returned an empty answer")

    rows = state.answer_rows
    fetched = set().union(*(result_prices(r) for r in state.results))
    known = fetched | set(amounts_in_text(question))
    for turn in history:
        known.update(turn.meta.get("prices", []))
    unknown = [a for a in amounts_in_text(text) if a not in known]
    meta: dict[str, Any] = {"prices": sorted(fetched)} if fetched else {}
    if unknown:
        logger.warning("model stated amounts no row holds (%s); reply rebuilt from rows",
                       ", ".join(format_soles(a / 100) for a in unknown))
        text = rebuild_from_rows(rows, language)
        meta["rebuilt"] = True
    return Reply(
        text=text,
        engine="model",
        sql=state.sql,
        columns=list(rows.columns) if rows else [],
        rows=list(rows.rows) if rows else [],
        refused=not state.sql and transcript is None,
        prompt_tokens=state.prompt_tokens,
        completion_tokens=state.completion_tokens,
        model_calls=state.model_calls,
        meta=meta,
    )


async def _complete(
    client: AsyncOpenAI, model: str, messages: list[dict[str, Any]], state: ToolLoopState,
    *, allow_tools: bool, max_tokens: int | None = None,
) -> ModelMessage:
    """One chat completion; every way it can fail becomes ModelUnavailable."""
    state.model_calls += 1
    body = {"model": model, "messages": messages, "tools": [RUN_SQL_TOOL],
            "tool_choice": "auto" if allow_tools else "none"}
    if max_tokens is not None:
        body["max_tokens"] = max_tokens
    try:
        # The client's documented generic POST, not `chat.completions.create`, and the JSON
        # back as it came: `create` would walk the body against the SDK's parameter types and
        # build typed objects from the answer, most of the client's CPU per call, for the four
        # fields read here. Auth, retries, timeouts and error types are the same.
        response = await client.post("/chat/completions", cast_to=object, body=body)
    except openai.OpenAIError as error:
        raise ModelUnavailable(f"model request failed: {type(error).__name__}") from error
    except ValueError as error:  # a body that is not JSON
        raise ModelUnavailable("model answered with a malformed body") from error
    return _read_completion(response, state)


@dataclass(frozen=True)
class ToolCall:
    id: str
    name: str
    arguments: str


@dataclass(frozen=True)
class ModelMessage:
    """The parts of a chat completion's first choice the tool loop uses."""

    content: str
    tool_calls: tuple[ToolCall, ...]


def _read_completion(response: object, state: ToolLoopState) -> ModelMessage:
    """The first choice's message of a chat completion's JSON; its usage added to ``state``."""
    if not isinstance(response, dict):
        raise ModelUnavailable("model answered without a JSON object")
    choices = response.get("choices")
    if not isinstance(choices, list) or not choices or not isinstance(choices[0], dict):
        raise ModelUnavailable("model answered without choices")
    usage = response.get("usage")
    if isinstance(usage, dict):
        state.prompt_tokens += _count(usage.get("prompt_tokens"))
        state.completion_tokens += _count(usage.get("completion_tokens"))
    message = choices[0].get("message")
    if not isinstance(message, dict):
        raise ModelUnavailable("model answered without a message")
    content = message.get("content")
    calls = message.get("tool_calls") or []
    try:
        tool_calls = tuple(
            ToolCall(id=str(call["id"]), name=str(call["function"]["name"]),
                     arguments=str(call["function"].get("arguments") or ""))
            for call in calls
        )
    except (KeyError, TypeError, AttributeError) as error:
        raise ModelUnavailable("model answered with a malformed tool call") from error
    return ModelMessage(content=content if isinstance(content, str) else "",
                        tool_calls=tool_calls)


def _count(value: object) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else 0
