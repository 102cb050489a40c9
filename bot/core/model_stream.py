"""A streamed chat completion (``stream=true``) read chunk by chunk into one message.

The API sends Server-Sent Events, each a ``chat.completion.chunk``: ``choices[0].delta`` holds
the next piece of ``content``, or pieces of tool calls (``index`` says which call; the first
piece carries its ``id`` and function ``name``, later ones more ``arguments`` text). With
``stream_options.include_usage`` a last chunk with no choices carries the request's ``usage``.
The text is handed to ``on_text`` as it grows, whole each time, so a reader can show it.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterable, Callable
from dataclasses import dataclass, field
from typing import Any

#: The extra request fields that ask for a stream with its usage at the end.
STREAM_FIELDS: dict[str, Any] = {"stream": True, "stream_options": {"include_usage": True}}


class MalformedStream(ValueError):
    """A chunk that is not the shape the API documents."""


@dataclass
class StreamedCall:
    """One tool call put together from its pieces."""

    id: str = ""
    name: str = ""
    arguments: str = ""


@dataclass
class StreamedMessage:
    """What a whole stream said: its text, its tool calls, its usage (when reported)."""

    content: str = ""
    calls: list[StreamedCall] = field(default_factory=list)
    usage: dict[str, Any] | None = None
    finish_reason: str | None = None

    def as_completion(self) -> dict[str, Any]:
        """The same message as an unstreamed ``chat.completion`` body, so one reader reads
        both (and every server's quirks are handled once)."""
        message: dict[str, Any] = {"role": "assistant", "content": self.content or None}
        if self.calls:
            message["tool_calls"] = [
                {"id": call.id, "type": "function",
                 "function": {"name": call.name, "arguments": call.arguments}}
                for call in self.calls]
        body: dict[str, Any] = {"object": "chat.completion", "choices": [
            {"index": 0, "message": message, "finish_reason": self.finish_reason or "stop"}]}
        if self.usage is not None:
            body["usage"] = self.usage
        return body


class _Reader:
    """Accumulates chunks; calls ``on_text`` with the whole text after each new piece."""

    def __init__(self, on_text: Callable[[str], None] | None) -> None:
        self.on_text = on_text
        self.parts: list[str] = []
        self.calls: dict[int, StreamedCall] = {}
        self.usage: dict[str, Any] | None = None
        self.finish_reason: str | None = None

    def take(self, chunk: object) -> None:
        if not isinstance(chunk, dict):
            raise MalformedStream("a stream chunk is not a JSON object")
        if isinstance(chunk.get("usage"), dict):
            self.usage = chunk["usage"]
        choices = chunk.get("choices") or []
        if not isinstance(choices, list):
            raise MalformedStream("a stream chunk's choices are not a list")
        for choice in choices:
            if isinstance(choice, dict) and choice.get("index", 0) == 0:
                self._choice(choice)

    def _choice(self, choice: dict[str, Any]) -> None:
        if choice.get("finish_reason"):
            self.finish_reason = str(choice["finish_reason"])
        delta = choice.get("delta") or {}
        if not isinstance(delta, dict):
            raise MalformedStream("a stream chunk's delta is not an object")
        for piece in delta.get("tool_calls") or []:
            self._tool_piece(piece)
        text = delta.get("content")
        if isinstance(text, str) and text:
            self.parts.append(text)
            # Text that comes with tool calls is the model thinking aloud, not the answer.
            if self.on_text is not None and not self.calls:
                self.on_text("".join(self.parts))

    def _tool_piece(self, piece: object) -> None:
        if not isinstance(piece, dict) or not isinstance(piece.get("function", {}), dict):
            raise MalformedStream("a tool call piece is not an object")
        index = piece.get("index", len(self.calls))
        call = self.calls.setdefault(index if isinstance(index, int) else 0, StreamedCall())
        if piece.get("id"):
            call.id = str(piece["id"])
        function = piece.get("function") or {}
        if function.get("name"):
            call.name += str(function["name"])
        arguments = function.get("arguments")
        if isinstance(arguments, str):
            call.arguments += arguments
        elif isinstance(arguments, dict):
            # Some servers send the arguments whole, as an object, in one piece.
            call.arguments = json.dumps(arguments, ensure_ascii=False)

    def message(self) -> StreamedMessage:
        return StreamedMessage(content="".join(self.parts),
                               calls=[self.calls[i] for i in sorted(self.calls)],
                               usage=self.usage, finish_reason=self.finish_reason)


async def read_stream(chunks: AsyncIterable[object],
                      on_text: Callable[[str], None] | None = None) -> StreamedMessage:
    """Read a whole stream of chat completion chunks; MalformedStream on a bad chunk."""
    reader = _Reader(on_text)
    async for chunk in chunks:
        reader.take(chunk)
    return reader.message()
