"""Chat completions streamed the way the OpenAI API streams them (``stream: true``).

Server-Sent Events, one ``chat.completion.chunk`` per ``data:`` line: first the role, then the
text a piece at a time (or each tool call: its id and name, then its arguments in pieces), then
the ``finish_reason``; with ``stream_options.include_usage`` every chunk carries ``"usage":
null`` and one more chunk with no choices carries the usage; ``data: [DONE]`` ends the stream.
Pieces leave at ``tokens_per_second`` (0: all at once); the time the first one left is noted on
the recorded request.
"""

from __future__ import annotations

import asyncio
import json
import re
import time
import uuid
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from aiohttp import web

if TYPE_CHECKING:
    from tests.fakes.openai_server import RecordedRequest, Reply, ToolCalls

#: A model token is about a word piece; this cuts text into words with their trailing space.
TOKEN = re.compile(r"\s*\S+\s*|\s+")
ARGUMENT_PIECE = 8  # characters of tool-call arguments per chunk


def text_pieces(text: str) -> list[str]:
    """``text`` cut into token-sized pieces that join back into it."""
    return TOKEN.findall(text) or [""]


def _deltas(step: Reply | ToolCalls) -> Iterator[dict[str, Any]]:
    """The deltas after the role: text pieces, or each tool call's header and argument pieces."""
    calls = getattr(step, "calls", None)
    if calls is None:
        for piece in text_pieces(step.text):  # type: ignore[union-attr]
            yield {"content": piece}
        return
    for index, (name, arguments, call_id) in enumerate(calls):
        yield {"tool_calls": [{"index": index, "id": call_id, "type": "function",
                               "function": {"name": name, "arguments": ""}}]}
        for start in range(0, len(arguments), ARGUMENT_PIECE):
            yield {"tool_calls": [{"index": index, "function": {
                "arguments": arguments[start:start + ARGUMENT_PIECE]}}]}


async def write_whole(rec: RecordedRequest, step: Reply | ToolCalls, *,
                      tokens_per_second: float) -> None:
    """Take as long as streaming ``step`` would have before it is sent whole (not streamed).

    A model writes at the same pace whether or not the reply is streamed; unstreamed, the
    reply leaves when its last token is written. The first token's time is noted the same way.
    """
    rec.first_token_at = time.perf_counter()
    pieces = sum(1 for _ in _deltas(step))
    if tokens_per_second > 0 and pieces > 1:
        await asyncio.sleep((pieces - 1) / tokens_per_second)


async def stream_chat(request: web.Request, rec: RecordedRequest, step: Reply | ToolCalls,
                      usage: dict[str, Any], *, tokens_per_second: float) -> web.StreamResponse:
    """Answer ``request`` with ``step`` as an SSE stream of chat completion chunks."""
    body = rec.json or {}
    with_usage = bool((body.get("stream_options") or {}).get("include_usage"))
    response = web.StreamResponse(headers={
        "Content-Type": "text/event-stream; charset=utf-8", "Cache-Control": "no-cache",
        "x-request-id": f"req_{uuid.uuid4().hex}"})
    await response.prepare(request)
    base = {"id": f"chatcmpl-{uuid.uuid4().hex[:29]}", "object": "chat.completion.chunk",
            "created": int(time.time()), "model": body.get("model", "gpt-4o-mini"),
            "system_fingerprint": "fp_fake"}

    async def send(delta: dict[str, Any], finish: str | None = None) -> None:
        chunk: dict[str, Any] = {**base, "choices": [
            {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}]}
        if with_usage:
            chunk["usage"] = None
        await response.write(f"data: {json.dumps(chunk, ensure_ascii=False)}\n\n".encode())

    await send({"role": "assistant", "content": "", "refusal": None})
    for number, delta in enumerate(_deltas(step)):
        if number and tokens_per_second > 0:
            await asyncio.sleep(1 / tokens_per_second)
        await send(delta)
        if number == 0:
            rec.first_token_at = time.perf_counter()
    await send({}, "tool_calls" if hasattr(step, "calls") else
               str(getattr(step, "finish_reason", "stop")))
    if with_usage:
        last = {**base, "choices": [], "usage": usage}
        await response.write(f"data: {json.dumps(last)}\n\n".encode())
    await response.write(b"data: [DONE]\n\n")
    await response.write_eof()
    return response
