"""The model engine: the model writes SQL through a `run_sql` tool, sees the rows, then replies.

Every completion is first read into one shape whichever server sent it (``bot.core.completion``).
The model refuses through a ``decline`` tool, so a refusal is an explicit outcome. The rows
handed to the model already show money as ``S/ 1,299.90``; a final text that is cut, unreadable
or quotes an amount no fetched row holds is never sent: it is rebuilt from the rows.
"""

from __future__ import annotations

import json
import logging
import weakref
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Any

import openai
from openai import AsyncOpenAI, AsyncStream

from bot.catalog import money
from bot.catalog.columns import STANDARD, ResultColumns
from bot.catalog.money import amount_cents, amounts_in_text, format_soles
from bot.catalog.reader import CatalogReader, QueryResult
from bot.core.answer_rows import RUN_SQL_TOOL, direct_reply
from bot.core.completion import (
    ModelMessage,
    ModelRequestFailed,
    ModelUnavailable,
    ToolCall,
    read_completion,
    strip_reasoning,
)
from bot.core.endpoint import failure_cause
from bot.core.memory import SharedTranscript, estimate_tokens
from bot.core.model_stream import STREAM_FIELDS, MalformedStream, read_stream
from bot.core.prompt import CatalogProfile, context_message, system_prompt
from bot.core.reply import Reply, Turn
from bot.core.streaming import GroundedPreview, PreviewSink
from bot.errors import UserFacingError

logger = logging.getLogger(__name__)

#: How the model declines a request outside the catalog: an explicit outcome, so a reply that
#: ran no SQL (a greeting, a thank-you) is not counted as a refusal.
DECLINE_TOOL: dict[str, Any] = {
    "type": "function",
    "function": {
        "name": "decline",
        # Few words: the tools go with every model call (the prompt says when to call it).
        "description": "Refuse a request off the catalog, or one to change it; `reply` is what "
                       "the customer reads.",
        "parameters": {
            "type": "object",
            "properties": {"reply": {"type": "string"}},
            "required": ["reply"],
        },
    },
}
TOOLS = [RUN_SQL_TOOL, DECLINE_TOOL]
MODEL_CELL_CHARS = 200
DECLINE_TEXT = {
    "es": "Solo puedo ayudarte con los productos de la tienda, por ejemplo: «¿cuál es la laptop "
          "más barata?»",
    "en": "I can only help with the store's products, for example: “what is the cheapest "
          "laptop?”",
}
#: Sent after a reply the token limit cut, when no rows were fetched to answer from instead.
CUT_NOTE = ("Your last reply was cut off by the length limit. Answer again, complete, in at "
            "most three short lines.")


@dataclass
class ToolLoopState:
    """What one question's tool loop has run and fetched so far, and the bound on each reply
    (``max_tokens``, None for none)."""

    max_tokens: int | None = None
    sql: list[str] = field(default_factory=list)
    results: list[QueryResult] = field(default_factory=list)
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cached_tokens: int = 0  # of prompt_tokens, read from the provider's prompt cache
    model_calls: int = 0
    #: Which result columns hold the name, the price and the availability (the store's roles).
    reading: ResultColumns = STANDARD
    #: Tool-result messages whose rows are written for the model only if it is called again.
    unwritten: list[tuple[dict[str, Any], QueryResult]] = field(default_factory=list)

    @property
    def answer_rows(self) -> QueryResult | None:
        """The rows the answer is built from: the last non-empty result, else the last one."""
        for result in reversed(self.results):
            if result.rows:
                return result
        return self.results[-1] if self.results else None


def format_cell(column: str, value: Any, reading: ResultColumns = STANDARD) -> str:
    """One cell as the model and the user read it: money in soles, long text cut."""
    if reading.is_money(column) and isinstance(value, int | float) \
            and not isinstance(value, bool):
        return format_soles(value)
    return money.format_cell(column, value, MODEL_CELL_CHARS)


def rows_for_model(result: QueryResult, reading: ResultColumns = STANDARD) -> str:
    """A compact, pipe-separated table with money already formatted."""
    if not result.rows:
        return "0 rows."
    lines = [" | ".join(result.columns)]
    lines += [" | ".join(format_cell(c, v, reading)
                         for c, v in zip(result.columns, row, strict=False))
              for row in result.rows]
    if result.truncated:
        total = f"{result.total}" if result.total is not None else "more than that"
        lines.append(f"(showing {len(result.rows)} of {total} rows)")
    else:
        lines.append(f"({len(result.rows)} rows)")
    return "\n".join(lines)


def result_prices(result: QueryResult, reading: ResultColumns = STANDARD) -> set[int]:
    """Every amount in soles (cents) a result holds."""
    prices: set[int] = set()
    for index, column in enumerate(result.columns):
        if not reading.is_money(column):
            continue
        for row in result.rows:
            value = row[index]
            cents = amount_cents(value) if isinstance(value, int | float) else None
            if cents is not None:
                prices.add(cents)
    return prices


def rebuild_from_rows(result: QueryResult | None, language: str,
                      reading: ResultColumns = STANDARD) -> str:
    """A plain reply written by code from the rows, used when the model's text can't be trusted."""
    english = language.startswith("en")
    if result is None or not result.rows:
        return "I found no matching products." if english else \
            "No encontré productos que coincidan."
    header = (f"Here is what I found ({result.total or len(result.rows)}):" if english
              else f"Esto es lo que encontré ({result.total or len(result.rows)}):")
    lines = [header]
    for row in result.rows[:10]:
        lines.append(_plain_line(result.columns, row, reading))
    return "\n".join(lines)


def _plain_line(columns: Sequence[str], row: Sequence[Any], reading: ResultColumns) -> str:
    values = {c.lower(): v for c, v in zip(columns, row, strict=False)}
    name = next((values[c] for c in reading.names if values.get(c) is not None), None)
    if name is None:
        return "• " + ", ".join(
            f"{c}: {format_cell(c, v, reading)}" for c, v in zip(columns, row, strict=False))
    line = f"• {name}"
    for column, value in zip(columns, row, strict=False):
        if reading.is_money(column) and value is not None:
            line += f" — {format_cell(column, value, reading)}"
    for key in reading.availability:
        if values.get(key):
            line += f" ({values[key]})"
            break
    return line


async def _run_tool_call(catalog: CatalogReader, arguments: str, state: ToolLoopState
                         ) -> str | None:
    """Run one `run_sql` call; every problem goes back to the model as text it can act on.

    None when the query ran: its rows are written for the model (``rows_for_model``) only if
    the model is called again, since most answers are written from the rows without that.
    """
    query = _argument(arguments, "query")
    if query is None:
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
    return None


def _argument(arguments: str, name: str) -> object:
    """One argument of a tool call's JSON arguments; None when they are not a JSON object.

    Arguments some servers encode twice (a JSON string holding the JSON object) are read too.
    """
    try:
        data = json.loads(arguments or "{}")
        if isinstance(data, str):
            data = json.loads(data)
    except json.JSONDecodeError:
        return None
    return data.get(name, "") if isinstance(data, dict) else None


def _history_messages(history: Sequence[Turn]) -> list[dict[str, Any]]:
    return [{"role": turn.role, "content": turn.content} for turn in history]


@dataclass(frozen=True)
class Declined:
    """The model declined the request through the ``decline`` tool; ``text`` is for the user."""

    text: str


@dataclass(frozen=True)
class Answered:
    """KRATOS wrote the reply from the rows, with the model's words (``bot.core.answer_rows``)."""

    text: str


@dataclass(frozen=True)
class Asked:
    """What the tool loop needs of the question: its language, the amounts the user and earlier
    answers stated (cents), and where a streamed reply is shown."""

    language: str
    said: frozenset[int]
    preview: PreviewSink | None = None


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
    preview: PreviewSink | None = None,
) -> Reply:
    """Answer one question with the model and the catalog; raises ModelUnavailable.

    ``max_tokens`` bounds each model reply (the request's ``max_tokens``); None sends no bound.

    Steps: the tool loop (``_tool_loop``), a final text fit to show (``_final_text``: never a
    cut or unreadable reply), then the grounding check of its amounts (``_grounded``). When
    the model's call carries the words around the rows (``bot.core.answer_rows``), KRATOS writes
    the reply from the rows and that call is the only one. A later call, when one is needed,
    is streamed into ``preview`` (when given) as it is written.
    """
    messages: list[dict[str, Any]] = [
        # The system prompt changes only with the catalog, so providers can cache it; the
        # date and any shared transcript come after it.
        {"role": "system", "content": system_prompt(profile)},
        context_message(today=today or date.today(), transcript=transcript),
        *_history_messages(history),
        {"role": "user", "content": question},
    ]
    state = ToolLoopState(max_tokens=max_tokens, reading=ResultColumns.of(profile.roles))
    asked = Asked(language=language, said=_said_amounts(question, history), preview=preview)
    outcome = await _tool_loop(client, catalog, model, messages, state, max_tool_calls, asked)
    if isinstance(outcome, Declined):
        return _reply(outcome.text or decline_text(language), state, {}, refused=True)
    if isinstance(outcome, Answered):
        text, meta = outcome.text, {}
    else:
        text, meta = await _final_text(client, model, messages, state, outcome, language)
    text, meta = _grounded(text, state, question, history, language, meta)
    return _reply(text, state, meta, refused=False)


def _reply(text: str, state: ToolLoopState, meta: dict[str, Any], *, refused: bool) -> Reply:
    rows = state.answer_rows
    return Reply(
        text=text,
        engine="model",
        sql=state.sql,
        columns=list(rows.columns) if rows else [],
        rows=list(rows.rows) if rows else [],
        refused=refused,
        prompt_tokens=state.prompt_tokens,
        completion_tokens=state.completion_tokens,
        cached_tokens=state.cached_tokens,
        model_calls=state.model_calls,
        meta=meta,
    )


def decline_text(language: str) -> str:
    """The refusal the user reads when the model declined without saying anything itself."""
    return DECLINE_TEXT["en" if language.startswith("en") else "es"]


async def _tool_loop(
    client: AsyncOpenAI, catalog: CatalogReader, model: str, messages: list[dict[str, Any]],
    state: ToolLoopState, max_tool_calls: int, asked: Asked,
) -> ModelMessage | Declined | Answered:
    """Let the model run SQL until it replies in text (or declines, or its call carried the
    reply's words); at most ``max_tool_calls`` queries, then one last call with tools off."""
    for _ in range(max_tool_calls + 1):
        tools_left = len(state.sql) < max_tool_calls
        message = await _complete(client, model, messages, state, allow_tools=tools_left,
                                  on_text=_grown_text(asked, state))
        if not message.tool_calls:
            return message
        declined = _declined(message.tool_calls)
        if declined is not None:
            return declined
        ran = await _run_tool_calls(catalog, message, messages, state, max_tool_calls)
        text = direct_reply([(call.name, call.arguments) for call in message.tool_calls], ran,
                            language=asked.language, known=asked.said,
                            reading=state.reading)
        if text:
            return Answered(text)
        _write_rows_for_model(state)
    return await _complete(client, model, messages, state, allow_tools=False,
                           on_text=_grown_text(asked, state))


def _declined(calls: Sequence[ToolCall]) -> Declined | None:
    for call in calls:
        if call.name == DECLINE_TOOL["function"]["name"]:
            reply = _argument(call.arguments, "reply")
            return Declined(strip_reasoning(reply) if isinstance(reply, str) else "")
    return None


async def _run_tool_calls(
    catalog: CatalogReader, message: ModelMessage, messages: list[dict[str, Any]],
    state: ToolLoopState, max_tool_calls: int,
) -> list[QueryResult | None]:
    """Append the assistant's tool calls and one tool result per call to ``messages``.

    Returns each call's result, None where it ran nothing or failed.
    """
    ran: list[QueryResult | None] = []
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
        fetched_before = len(state.results)
        content: str | None
        if call.name != "run_sql":
            content = f"Error: there is no tool named {call.name!r}; use run_sql."
        elif len(state.sql) >= max_tool_calls:
            content = "Error: query limit reached for this question; answer with what you have."
        else:
            content = await _run_tool_call(catalog, call.arguments, state)
        result = state.results[-1] if len(state.results) > fetched_before else None
        ran.append(result)
        messages.append({"role": "tool", "tool_call_id": call.id, "content": content})
        if content is None and result is not None:
            state.unwritten.append((messages[-1], result))
    return ran


def _write_rows_for_model(state: ToolLoopState) -> None:
    """Fill in the tool results left unwritten, before the model reads them."""
    for message, result in state.unwritten:
        message["content"] = rows_for_model(result, state.reading)
    state.unwritten.clear()


async def _final_text(
    client: AsyncOpenAI, model: str, messages: list[dict[str, Any]], state: ToolLoopState,
    message: ModelMessage, language: str,
) -> tuple[str, dict[str, Any]]:
    """The reply to show: the model's text when it is whole and readable; else the rows,
    written by code; else (nothing fetched, reply cut) the model asked once more for a short
    reply. Raises ModelUnavailable when none of these gives a text fit to show."""
    problem = _unfit(message)
    if problem is None:
        return message.content, {}
    if state.results:
        logger.warning("model reply %s; reply rebuilt from rows", problem)
        rebuilt = rebuild_from_rows(state.answer_rows, language, state.reading)
        return rebuilt, {"rebuilt": True, "rebuilt_why": problem}
    if message.cut and message.content:
        logger.info("model reply cut at the token limit; asking for a shorter one")
        retry = await _complete(client, model, [
            *messages, {"role": "assistant", "content": message.content},
            {"role": "user", "content": CUT_NOTE}], state, allow_tools=False)
        if _unfit(retry) is None:
            return retry.content, {}
        problem = _unfit(retry)
    raise ModelUnavailable(f"the model's reply was {problem}")


def _unfit(message: ModelMessage) -> str | None:
    """Why a final message cannot be shown as it is, or None when it can."""
    if message.cut:
        return "cut at the token limit"
    if message.finish_reason == "content_filter":
        return "stopped by the server's content filter"
    if message.unreadable or message.tool_calls:
        return "a tool call that could not be run"
    if not message.content:
        return "empty"
    return None


def _grounded(
    text: str, state: ToolLoopState, question: str, history: Sequence[Turn], language: str,
    meta: dict[str, Any],
) -> tuple[str, dict[str, Any]]:
    """Every amount in soles the text states must be one the rows (or the user) gave; else the
    reply is rebuilt from the rows."""
    fetched = set().union(*(result_prices(r, state.reading) for r in state.results))
    known = fetched | set(amounts_in_text(question))
    for turn in history:
        known.update(turn.meta.get("prices", []))
    unknown = [a for a in amounts_in_text(text) if a not in known]
    meta = {**meta, "prices": sorted(fetched)} if fetched else dict(meta)
    if unknown and not meta.get("rebuilt"):
        logger.warning("model stated amounts no row holds (%s); reply rebuilt from rows",
                       ", ".join(format_soles(a / 100) for a in unknown))
        text = rebuild_from_rows(state.answer_rows, language, state.reading)
        meta["rebuilt"] = True
        meta["rebuilt_why"] = "amounts no row holds"
    return text, meta


def _said_amounts(question: str, history: Sequence[Turn]) -> frozenset[int]:
    """Amounts (cents) the user stated or earlier answers were built from."""
    known = set(amounts_in_text(question))
    for turn in history:
        known.update(turn.meta.get("prices", []))
    return frozenset(known)


def _grown_text(asked: Asked, state: ToolLoopState) -> Callable[[str], None] | None:
    """Where a call's text goes as it streams: only calls after the first, only with a preview.

    The first call mostly comes back as a tool call with the reply's words, which is not worth
    streaming; a later call writes the reply itself.
    """
    if asked.preview is None or state.model_calls == 0:
        return None
    known = set(asked.said)
    for result in state.results:
        known |= result_prices(result, state.reading)
    return GroundedPreview(asked.preview, known).grow


async def _complete(
    client: AsyncOpenAI, model: str, messages: list[dict[str, Any]], state: ToolLoopState,
    *, allow_tools: bool, on_text: Callable[[str], None] | None = None, counted: bool = False,
) -> ModelMessage:
    """One chat completion; every way it can fail becomes ModelUnavailable.

    With ``on_text`` the completion is streamed and ``on_text`` gets the text as it grows.
    ``counted``: the call was already counted (a stream asked for whole instead).
    """
    if not counted:
        state.model_calls += 1
    body = {"model": model, "messages": messages, "tools": TOOLS,
            "tool_choice": "auto" if allow_tools else "none"}
    if state.max_tokens is not None:
        body["max_tokens"] = state.max_tokens
    if on_text is not None:
        return await _stream(client, body, state, on_text)
    try:
        # The client's documented generic POST, not `chat.completions.create`, and the JSON
        # back as it came: `create` would walk the body against the SDK's parameter types and
        # build typed objects from the answer, most of the client's CPU per call, for the four
        # fields read here. Auth, retries, timeouts and error types are the same.
        response = await client.post("/chat/completions", cast_to=object, body=body)
    except (openai.OpenAIError, ValueError) as error:  # ValueError: a body that is not JSON
        raise _failure(client, body, error) from error
    return _read_completion(response, state, body)


def _failure(client: AsyncOpenAI, body: dict[str, Any], error: Exception) -> ModelRequestFailed:
    """The failure of one request, naming its true cause (``bot.core.endpoint``)."""
    url = str(client.base_url).rstrip("/")
    cause = failure_cause(error, url=url, model=str(body.get("model")), timeout=client.timeout
                          if isinstance(client.timeout, int | float) else None)
    return ModelRequestFailed(cause)


def _read_completion(response: object, state: ToolLoopState,
                     body: dict[str, Any] | None = None) -> ModelMessage:
    """The first choice's message of a chat completion's JSON, in one shape
    (``bot.core.completion``); its usage added to ``state``.

    A server that reports no usage is counted by estimate (about four characters a token, of
    the request's messages and tools and of the reply), so ``DAILY_TOKEN_BUDGET`` still bounds
    what its users spend (``body`` is the request; without it nothing is counted).
    """
    message, usage = read_completion(response)
    if not usage.reported and body is not None:
        sent = json.dumps([body.get("messages"), body.get("tools")], ensure_ascii=False)
        written = message.content + "".join(c.name + c.arguments for c in message.tool_calls)
        state.prompt_tokens += estimate_tokens(sent)
        state.completion_tokens += estimate_tokens(written)
        return message
    state.prompt_tokens += usage.prompt_tokens
    state.completion_tokens += usage.completion_tokens
    state.cached_tokens += usage.cached_tokens
    return message


#: Clients whose server refused a streamed request: their later calls ask for the whole reply
#: at once, rather than each paying for one more refused request first.
_UNSTREAMED: weakref.WeakSet[AsyncOpenAI] = weakref.WeakSet()


async def _stream(client: AsyncOpenAI, body: dict[str, Any], state: ToolLoopState,
                  on_text: Callable[[str], None]) -> ModelMessage:
    """One streamed chat completion (``bot.core.model_stream``), failures as ModelUnavailable.

    A server that refuses to stream (400) is asked again without streaming, and not asked to
    stream again while this process runs.
    """
    if client in _UNSTREAMED:
        return await _complete(client, str(body["model"]), body["messages"], state,
                               allow_tools=body["tool_choice"] != "none", counted=True)
    try:
        stream = await client.post("/chat/completions", cast_to=object,
                                   body={**body, **STREAM_FIELDS}, stream=True,
                                   stream_cls=AsyncStream[object])
        streamed = await read_stream(stream, on_text)
    except openai.BadRequestError as error:
        # A server that cannot stream (or refuses stream_options) can still answer whole.
        logger.warning("model server refused a streamed request (%s); asking without streaming"
                       " from now on", error.status_code)
        _UNSTREAMED.add(client)
        return await _complete(client, str(body["model"]), body["messages"], state,
                               allow_tools=body["tool_choice"] != "none")
    except openai.OpenAIError as error:
        raise _failure(client, body, error) from error
    except (MalformedStream, ValueError) as error:
        raise ModelUnavailable("model streamed a malformed reply") from error
    if any(not call.id or not call.name for call in streamed.calls):
        raise ModelUnavailable("model streamed a malformed tool call")
    return _read_completion(streamed.as_completion(), state, body)
