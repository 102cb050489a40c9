"""One shape for a chat completion, whichever OpenAI-compatible server sent it.

Servers answer the same request in different shapes (see README, "Model servers"): tool
arguments as a JSON object instead of a string (llama.cpp, some LiteLLM routes), tool calls
written as text in ``content`` — a fenced JSON block, ``<tool_call>`` tags, ``[TOOL_CALLS]``, a
bare JSON object — (Ollama, vLLM with some models), reasoning in ``<think>`` tags or a
``reasoning_content`` field (reasoning models), no ``usage``, ``finish_reason: "length"`` when
the reply was cut. ``read_completion`` turns each into one ``ModelMessage``: reasoning removed,
text tool calls made real tool calls with string arguments, and a flag when the text held tool
markup that could not be read (it is then never shown to anyone).

The steps are separate functions so that each shape is read (and tested) on its own.
"""

from __future__ import annotations

import json
import re
import uuid
from dataclasses import dataclass
from typing import Any

from bot.core.answer_rows import WORD_FIELDS
from bot.errors import KratosError

#: The tool the model reads the catalog with; a text tool call naming no tool means this one.
SQL_TOOL = "run_sql"
#: Its arguments: the query and the reply's words (``bot.core.answer_rows``).
SQL_ARGUMENTS = frozenset({"query", *WORD_FIELDS})


class ModelUnavailable(KratosError):
    """The model endpoint failed after its retries, or answered something unusable."""


class ModelRequestFailed(ModelUnavailable):
    """The request itself failed (refused, timed out, an HTTP error): ``cause`` says why."""

    def __init__(self, cause: str) -> None:
        super().__init__(f"model request failed: {cause}")
        self.cause = cause


@dataclass(frozen=True)
class ToolCall:
    """One tool call; ``arguments`` is always JSON text, as the API sends it."""

    id: str
    name: str
    arguments: str


@dataclass(frozen=True)
class ModelMessage:
    """The parts of a chat completion's first choice the tool loop uses, in one shape.

    ``content`` has no reasoning and no tool-call markup. ``unreadable`` says the text held
    tool-call markup that could not be read: such a reply must never be shown. ``finish_reason``
    is the server's (``"length"``: the reply was cut by the token limit).
    """

    content: str
    tool_calls: tuple[ToolCall, ...] = ()
    finish_reason: str = "stop"
    unreadable: bool = False

    @property
    def cut(self) -> bool:
        """The server stopped the reply at its token limit: the text is not whole."""
        return self.finish_reason == "length"


@dataclass(frozen=True)
class Usage:
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cached_tokens: int = 0  # of prompt_tokens, from the provider's prompt cache (when reported)
    reported: bool = True  # False: the server sent no counts (llama.cpp, some proxies)


def read_completion(response: object) -> tuple[ModelMessage, Usage]:
    """The first choice of a chat completion's JSON as one ``ModelMessage``, and its usage.

    Raises ``ModelUnavailable`` for a body that is not a chat completion at all.
    """
    if not isinstance(response, dict):
        raise ModelUnavailable("model answered without a JSON object")
    choice = _first_choice(response)
    message = choice.get("message")
    if not isinstance(message, dict):
        raise ModelUnavailable("model answered without a message")
    finish = choice.get("finish_reason")
    finish_reason = finish if isinstance(finish, str) else "stop"
    calls = native_tool_calls(message.get("tool_calls"))
    raw = message.get("content")
    content = strip_reasoning(raw if isinstance(raw, str) else "")
    unreadable = False
    if not calls:
        calls, content, unreadable = text_tool_calls(content)
    return (ModelMessage(content=content.strip(), tool_calls=calls,
                         finish_reason=finish_reason, unreadable=unreadable),
            read_usage(response.get("usage")))


def _first_choice(response: dict[str, Any]) -> dict[str, Any]:
    choices = response.get("choices")
    if not isinstance(choices, list) or not choices or not isinstance(choices[0], dict):
        raise ModelUnavailable("model answered without choices")
    return choices[0]


def read_usage(usage: object) -> Usage:
    """Token counts; ``reported`` is False when the server sent none (no ``usage``, odd
    values, or zero tokens both ways, which no real completion has)."""
    if not isinstance(usage, dict):
        return Usage(reported=False)
    details = usage.get("prompt_tokens_details")
    cached = _count(details.get("cached_tokens")) if isinstance(details, dict) else 0
    prompt, completion = _count(usage.get("prompt_tokens")), _count(usage.get("completion_tokens"))
    return Usage(prompt, completion, cached, reported=bool(prompt or completion))


def _count(value: object) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


def native_tool_calls(calls: object) -> tuple[ToolCall, ...]:
    """The message's ``tool_calls``; arguments sent as a JSON object become JSON text."""
    if not calls:
        return ()
    if not isinstance(calls, list):
        raise ModelUnavailable("model answered with a malformed tool call")
    try:
        return tuple(ToolCall(id=str(call["id"]), name=str(call["function"]["name"]),
                              arguments=arguments_text(call["function"].get("arguments")))
                     for call in calls)
    except (KeyError, TypeError, AttributeError) as error:
        raise ModelUnavailable("model answered with a malformed tool call") from error


def arguments_text(arguments: object) -> str:
    """Tool arguments as JSON text: a string is kept, an object or list is serialised."""
    if arguments is None:
        return ""
    if isinstance(arguments, str):
        return arguments
    return json.dumps(arguments, ensure_ascii=False)


# Reasoning: <think>…</think> (also <thinking>, <reasoning>); an opening tag never closed (the
# reply was cut mid-thought); a closing tag whose opening the server's template already ate.
_THINK_BLOCK = re.compile(r"<(think|thinking|reasoning)>.*?</\1>", re.DOTALL | re.IGNORECASE)
_THINK_OPEN = re.compile(r"<(?:think|thinking|reasoning)>", re.IGNORECASE)
_THINK_CLOSE = re.compile(r"</(?:think|thinking|reasoning)>", re.IGNORECASE)


def strip_reasoning(text: str) -> str:
    """``text`` without the model's private reasoning, whichever way it was marked."""
    text = _THINK_BLOCK.sub("", text)
    opening = _THINK_OPEN.search(text)
    if opening:
        text = text[:opening.start()]
    closings = list(_THINK_CLOSE.finditer(text))
    if closings:
        text = text[closings[-1].end():]
    return text.strip()


_TAGGED = re.compile(r"<tool_call>(.*?)(?:</tool_call>|\Z)", re.DOTALL | re.IGNORECASE)
_FENCED = re.compile(r"```[ \t]*(json|sql|sqlite|tool_call|tool_code)?[ \t]*\r?\n?(.*?)(?:```|\Z)",
                     re.DOTALL | re.IGNORECASE)
_PREFIXED = re.compile(r"(?:\[TOOL_CALLS\]|<\|python_tag\|>|<\|tool_call\|>)\s*(.*)\Z",
                       re.DOTALL)
#: Words that mark text as a tool call or a query, never as words for a customer.
_MARKUP_HINTS = re.compile(
    r"<tool_call|\[TOOL_CALLS\]|<\|python_tag\|>|<\|tool_call\|>|\brun_sql\b|\"arguments\"\s*:"
    r"|\"parameters\"\s*:|```\s*(?:sql|sqlite)\b", re.IGNORECASE)
#: SQL as a model writes it (upper-case keywords): a query shown in a reply.
_SQL_TEXT = re.compile(r"\bSELECT\s+(?:\*|\w).{0,300}?\bFROM\s+\w", re.DOTALL)


def text_tool_calls(content: str) -> tuple[tuple[ToolCall, ...], str, bool]:
    """Tool calls a server wrote as text: (calls, the prose left over, unreadable).

    Read: ``<tool_call>{…}</tool_call>`` tags, fenced blocks (```` ```json {…} ``` ````, or
    ```` ```sql SELECT … ``` ````, which is a query to run), ``[TOOL_CALLS] […]``, and a reply that
    is nothing but a JSON tool call. ``unreadable`` is true when the text still shows tool or
    query markup that none of these could read.
    """
    calls: list[ToolCall] = []
    rest = content
    for pattern in (_TAGGED, _FENCED):
        rest = pattern.sub(lambda match: _collect(match, calls), rest)
    prefixed = _PREFIXED.search(rest)
    if prefixed and _add_json_calls(prefixed.group(1), calls):
        rest = rest[:prefixed.start()]
    if not calls and rest.strip().startswith(("{", "[")) and _add_json_calls(rest, calls):
        rest = ""
    unreadable = bool(_MARKUP_HINTS.search(rest) or _SQL_TEXT.search(rest))
    return tuple(calls), rest.strip(), unreadable


def _collect(match: re.Match[str], calls: list[ToolCall]) -> str:
    """A tagged or fenced block's calls, added to ``calls``; the block is kept if it held none."""
    if match.re is _FENCED:
        language, body = (match.group(1) or "").lower(), match.group(2)
        if language in ("sql", "sqlite") or (not language and _looks_like_select(body)):
            if _looks_like_select(body):
                calls.append(_make_call(SQL_TOOL, {"query": body.strip()}))
                return ""
            return match.group(0)
    else:
        body = match.group(1)
    return "" if _add_json_calls(body, calls) else match.group(0)


def _looks_like_select(text: str) -> bool:
    return bool(re.match(r"\s*(?:SELECT|WITH)\b", text, re.IGNORECASE))


def _add_json_calls(text: str, calls: list[ToolCall]) -> bool:
    """Add the tool calls a JSON text holds (one object or a list); False if it holds none."""
    try:
        data = json.loads(text.strip())
    except (json.JSONDecodeError, ValueError):
        return False
    found = [_call_from_json(item) for item in (data if isinstance(data, list) else [data])]
    if not found or any(call is None for call in found):
        return False
    calls.extend(call for call in found if call is not None)
    return True


def _call_from_json(item: object) -> ToolCall | None:
    """``{"name": …, "arguments"|"parameters": …}``, OpenAI's ``{"function": {…}}``, or bare
    ``{"query": "SELECT …"}`` (the arguments of the one SQL tool)."""
    if not isinstance(item, dict):
        return None
    if isinstance(item.get("function"), dict):
        item = item["function"]
    name = item.get("name")
    arguments = item.get("arguments", item.get("parameters"))
    if isinstance(name, str) and name and arguments is not None:
        return _make_call(name, arguments)
    if isinstance(item.get("query"), str) and set(item) <= SQL_ARGUMENTS:
        return _make_call(SQL_TOOL, item)
    return None


def _make_call(name: str, arguments: object) -> ToolCall:
    return ToolCall(id=f"call_{uuid.uuid4().hex[:24]}", name=name,
                    arguments=arguments_text(arguments))
