"""Reading a chat completion's JSON: what the tool loop takes from it, and every malformed shape
an OpenAI-compatible server might send back turned into ModelUnavailable (which the core meets
with basic mode). The whole path over HTTP is in test_assistant.py."""

from __future__ import annotations

from typing import Any

import pytest

from bot.llm import ModelUnavailable, ToolCall, ToolLoopState, _read_completion


def completion(message: Any, usage: Any = None) -> dict[str, Any]:
    body: dict[str, Any] = {"id": "chatcmpl-1", "object": "chat.completion",
                            "choices": [{"index": 0, "message": message,
                                         "finish_reason": "stop"}]}
    if usage is not None:
        body["usage"] = usage
    return body


def test_a_reply_and_its_usage() -> None:
    state = ToolLoopState()
    message = _read_completion(completion({"role": "assistant", "content": "Hola."},
                                          {"prompt_tokens": 120, "completion_tokens": 7}), state)
    assert message.content == "Hola." and message.tool_calls == ()
    assert (state.prompt_tokens, state.completion_tokens) == (120, 7)


def test_tool_calls_in_order() -> None:
    calls = [{"id": f"call_{n}", "type": "function",
              "function": {"name": "run_sql", "arguments": f'{{"query": "SELECT {n}"}}'}}
             for n in (1, 2)]
    message = _read_completion(completion({"role": "assistant", "content": None,
                                           "tool_calls": calls}), ToolLoopState())
    assert message.content == ""
    assert message.tool_calls == (ToolCall("call_1", "run_sql", '{"query": "SELECT 1"}'),
                                  ToolCall("call_2", "run_sql", '{"query": "SELECT 2"}'))


def test_missing_or_odd_usage_counts_nothing() -> None:
    state = ToolLoopState()
    _read_completion(completion({"content": "a"}), state)
    _read_completion(completion({"content": "b"}, {"prompt_tokens": "many",
                                                   "completion_tokens": True}), state)
    assert (state.prompt_tokens, state.completion_tokens) == (0, 0)


@pytest.mark.parametrize("response", [
    "plain text, not JSON",
    ["a", "list"],
    {},
    {"choices": []},
    {"choices": {"0": {}}},
    {"choices": ["text"]},
    {"choices": [{"message": None}]},
    {"choices": [{"message": "hola"}]},
    completion({"tool_calls": [{"id": "c1"}]}),
    completion({"tool_calls": [{"id": "c1", "function": None}]}),
    completion({"tool_calls": ["run_sql"]}),
    completion({"tool_calls": [{"function": {"name": "run_sql", "arguments": "{}"}}]}),
])
def test_malformed_completions_are_model_unavailable(response: object) -> None:
    with pytest.raises(ModelUnavailable):
        _read_completion(response, ToolLoopState())
