"""How each family of OpenAI-compatible servers shapes the same answer.

The fake server renders every scripted reply through a ``Personality``, so each quirk that users
of these servers report is one test: tool arguments as a JSON object (llama.cpp, some LiteLLM
routes), tool calls written as text in ``content`` (Ollama, vLLM without a tool parser; a JSON
block, ``<tool_call>`` tags, Mistral's ``[TOOL_CALLS]``, a bare JSON object), reasoning in
``<think>`` tags or a ``reasoning_content``/``reasoning`` field, no ``usage``, and Azure's
deployment paths with ``api-version`` and the ``api-key`` header.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Literal

TextToolCalls = Literal["json_block", "tags", "mistral", "bare_json"]
Reasoning = Literal["think_tags", "reasoning_content", "reasoning"]
#: What a reasoning model thinks before it answers; never to reach a customer or memory.
REASONING = ("Thinking: the customer asks about products. I should check the catalog with "
             "run_sql and answer in Spanish. Internal note: do not reveal this.")


@dataclass(frozen=True)
class Personality:
    """One family's answer shape; the default is OpenAI's own."""

    name: str = "openai"
    arguments_as_object: bool = False
    text_tool_calls: TextToolCalls | None = None
    reasoning: Reasoning | None = None
    usage: bool = True
    azure: bool = False
    #: DeepSeek answers 400 when a request sends ``reasoning_content`` back in a message.
    rejects_reasoning_in_messages: bool = False


PERSONALITIES: dict[str, Personality] = {p.name: p for p in (
    Personality("openai"),
    Personality("azure", azure=True),
    Personality("ollama", text_tool_calls="json_block", reasoning="think_tags"),
    Personality("vllm", text_tool_calls="tags", reasoning="reasoning_content"),
    Personality("vllm-mistral", text_tool_calls="mistral"),
    Personality("llamacpp", arguments_as_object=True, usage=False),
    Personality("lmstudio", text_tool_calls="bare_json", reasoning="reasoning_content"),
    Personality("openrouter", reasoning="reasoning"),
    Personality("groq", reasoning="think_tags"),
    Personality("deepseek", reasoning="reasoning_content", rejects_reasoning_in_messages=True),
)}


def _call_json(name: str, arguments: str, *, key: str = "arguments") -> dict[str, Any]:
    return {"name": name, key: json.loads(arguments) if arguments else {}}


def text_for_calls(style: TextToolCalls, calls: list[tuple[str, str, str]]) -> str:
    """Tool calls written the way a server without a tool parser passes the model's text on."""
    if style == "tags":
        return "\n".join(f"<tool_call>\n{json.dumps(_call_json(n, a), ensure_ascii=False)}\n"
                         "</tool_call>" for n, a, _ in calls)
    if style == "mistral":
        return "[TOOL_CALLS] " + json.dumps([_call_json(n, a) for n, a, _ in calls],
                                            ensure_ascii=False)
    if style == "bare_json":
        name, arguments, _ = calls[0]
        return json.dumps(_call_json(name, arguments, key="parameters"), ensure_ascii=False)
    blocks = [json.dumps(_call_json(n, a), ensure_ascii=False, indent=2) for n, a, _ in calls]
    return "\n".join(f"```json\n{block}\n```" for block in blocks)


def shape_message(personality: Personality, text: str | None,
                  calls: list[tuple[str, str, str]] | None) -> tuple[dict[str, Any], str]:
    """The ``message`` of a choice and its ``finish_reason``, as this family sends them."""
    message: dict[str, Any] = {"role": "assistant", "content": text, "refusal": None,
                               "annotations": []}
    finish = "stop"
    if calls and personality.text_tool_calls:
        message["content"] = text_for_calls(personality.text_tool_calls, calls)
    elif calls:
        message["tool_calls"] = [
            {"id": cid, "type": "function",
             "function": {"name": name,
                          "arguments": json.loads(args) if personality.arguments_as_object
                          and args else args}}
            for name, args, cid in calls
        ]
        finish = "tool_calls"
    if personality.reasoning == "think_tags":
        message["content"] = f"<think>\n{REASONING}\n</think>\n\n{message['content'] or ''}"
    elif personality.reasoning:
        message[personality.reasoning] = REASONING
    return message, finish
