"""What the real Chat Completions API refuses, checked on every request the fake server gets.

A test that passes only because the fake accepted a request OpenAI would refuse hides a bug
that shows in production, so the fake answers these with OpenAI's status, message, ``code`` and
``param`` (as observed from api.openai.com): an unknown model, a ``tool`` message that answers
no tool call, an assistant's tool calls not followed by their results, tool-call arguments that
are not a string, an invalid ``tools`` list or ``tool_choice``, and unknown body fields.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

#: Body fields of the Chat Completions API (those a client may send).
CHAT_FIELDS = frozenset({
    "model", "messages", "tools", "tool_choice", "parallel_tool_calls", "max_tokens",
    "max_completion_tokens", "temperature", "top_p", "n", "stop", "stream", "stream_options",
    "presence_penalty", "frequency_penalty", "logit_bias", "logprobs", "top_logprobs", "user",
    "seed", "response_format", "metadata", "store", "service_tier", "reasoning_effort",
    "modalities", "audio", "prediction", "prompt_cache_key", "safety_identifier", "verbosity",
    "web_search_options", "functions", "function_call",
})
ROLES = frozenset({"system", "developer", "user", "assistant", "tool", "function"})
TOOL_NAME = re.compile(r"^[a-zA-Z0-9_-]{1,64}$")


@dataclass(frozen=True)
class Refusal:
    """An error the API answers instead of a completion."""

    status: int
    message: str
    code: str | None = None
    param: str | None = None


def unknown_model(model: object) -> Refusal:
    return Refusal(404, f"The model `{model}` does not exist or you do not have access to it.",
                   "model_not_found")


def check_chat(body: dict[str, Any], models: list[str]) -> Refusal | None:
    """The error OpenAI would answer to this chat request, or None when it would accept it."""
    for check in (_fields, _messages_shape):
        refusal = check(body)
        if refusal is not None:
            return refusal
    if body["model"] not in models:
        return unknown_model(body["model"])
    return _tools(body) or _tool_choice(body) or _tool_results(body["messages"])


def _fields(body: dict[str, Any]) -> Refusal | None:
    unknown = sorted(set(body) - CHAT_FIELDS)
    if unknown:
        return Refusal(400, f"Unrecognized request argument supplied: {unknown[0]}")
    if not isinstance(body.get("model"), str) or not body["model"]:
        return Refusal(400, "you must provide a model parameter", param="model")
    for name in ("max_tokens", "max_completion_tokens"):
        value = body.get(name)
        if value is not None and (not isinstance(value, int) or value < 1):
            return Refusal(400, f"Invalid '{name}': integer below minimum value.",
                           "integer_below_min_value", name)
    return None


def _messages_shape(body: dict[str, Any]) -> Refusal | None:
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        return Refusal(400, "Invalid 'messages': empty array. Expected an array with minimum "
                            "length 1, but got an empty array instead.", "empty_array",
                       "messages")
    for index, message in enumerate(messages):
        where = f"messages[{index}]"
        if not isinstance(message, dict) or message.get("role") not in ROLES:
            return Refusal(400, f"Invalid value for '{where}.role'.", "invalid_value",
                           f"{where}.role")
        if message["role"] != "assistant" and message.get("content") is None:
            return Refusal(400, f"Invalid value for '{where}.content': expected a string, got "
                                "null.", "invalid_type", f"{where}.content")
        refusal = _tool_call_shape(message, where)
        if refusal is not None:
            return refusal
    return None


def _tool_call_shape(message: dict[str, Any], where: str) -> Refusal | None:
    calls = message.get("tool_calls")
    if calls is None:
        return None
    if message["role"] != "assistant" or not isinstance(calls, list) or not calls:
        return Refusal(400, f"Invalid '{where}.tool_calls'.", "invalid_value",
                       f"{where}.tool_calls")
    for number, call in enumerate(calls):
        spot = f"{where}.tool_calls[{number}]"
        function = call.get("function") if isinstance(call, dict) else None
        if not isinstance(function, dict) or not isinstance(call.get("id"), str):
            return Refusal(400, f"Missing required parameter: '{spot}.id'.",
                           "missing_required_parameter", f"{spot}.id")
        if not isinstance(function.get("arguments"), str):
            return Refusal(400, f"Invalid type for '{spot}.function.arguments': expected a "
                                "string, but got an object instead.", "invalid_type",
                           f"{spot}.function.arguments")
    return None


def _tools(body: dict[str, Any]) -> Refusal | None:
    tools = body.get("tools")
    if tools is None:
        return None
    if not isinstance(tools, list) or not tools:
        return Refusal(400, "Invalid 'tools': empty array. Expected an array with minimum length "
                            "1, but got an empty array instead.", "empty_array", "tools")
    for index, tool in enumerate(tools):
        where = f"tools[{index}]"
        function = tool.get("function") if isinstance(tool, dict) else None
        if not isinstance(tool, dict) or tool.get("type") != "function" \
                or not isinstance(function, dict):
            return Refusal(400, f"Missing required parameter: '{where}.function'.",
                           "missing_required_parameter", f"{where}.function")
        if not isinstance(function.get("name"), str) or not TOOL_NAME.match(function["name"]):
            return Refusal(400, f"Invalid '{where}.function.name': string does not match "
                                "pattern. Expected a string that matches the pattern "
                                "'^[a-zA-Z0-9_-]+$'.", "invalid_value",
                           f"{where}.function.name")
        parameters = function.get("parameters")
        if parameters is not None and (not isinstance(parameters, dict)
                                       or parameters.get("type") != "object"):
            return Refusal(400, f"Invalid schema for function '{function['name']}': schema "
                                "must be a JSON Schema of 'type: \"object\"'.",
                           "invalid_function_parameters", f"{where}.function.parameters")
    return None


def _tool_choice(body: dict[str, Any]) -> Refusal | None:
    choice = body.get("tool_choice")
    if choice is None:
        return None
    if body.get("tools") is None:
        return Refusal(400, "Invalid value for 'tool_choice': 'tool_choice' is only allowed "
                            "when 'tools' are specified.", None, "tool_choice")
    if choice in ("none", "auto", "required"):
        return None
    names = {tool["function"]["name"] for tool in body["tools"]}
    if isinstance(choice, dict) and (choice.get("function") or {}).get("name") in names:
        return None
    return Refusal(400, "Invalid value for 'tool_choice'.", "invalid_value", "tool_choice")


def _tool_results(messages: list[dict[str, Any]]) -> Refusal | None:
    """Each assistant tool call answered by a ``tool`` message right after it, and no ``tool``
    message that answers none."""
    pending: set[str] = set()
    for index, message in enumerate(messages):
        if message["role"] == "tool":
            if message.get("tool_call_id") not in pending:
                return Refusal(400, "Invalid parameter: messages with role 'tool' must be a "
                                    "response to a preceeding message with 'tool_calls'.",
                               None, f"messages.[{index}].role")
            pending.discard(message["tool_call_id"])
            continue
        if pending:
            return _unanswered(pending)
        pending = {call["id"] for call in message.get("tool_calls") or ()}
    return _unanswered(pending) if pending else None


def _unanswered(pending: set[str]) -> Refusal:
    return Refusal(400, "An assistant message with 'tool_calls' must be followed by tool "
                        "messages responding to each 'tool_call_id'. The following "
                        f"tool_call_ids did not have response messages: "
                        f"{', '.join(sorted(pending))}", None, "messages")
