"""Plain data that crosses between the transports, the assistant core and its engines."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Conversation:
    """Whose thread a message belongs to.

    In a private chat the key is the user; in a group it is (chat, user), so two staff members
    in one group never share a thread.
    """

    key: str
    user_id: int
    chat_id: int | None = None
    language: str = "es"

    @classmethod
    def private(cls, user_id: int, language: str = "es") -> Conversation:
        return cls(key=f"u:{user_id}", user_id=user_id, chat_id=user_id, language=language)

    @classmethod
    def group(cls, chat_id: int, user_id: int, language: str = "es") -> Conversation:
        return cls(key=f"g:{chat_id}:{user_id}", user_id=user_id, chat_id=chat_id,
                   language=language)


@dataclass(frozen=True)
class Turn:
    """One remembered message; ``meta`` holds what follow-ups need (e.g. the rows shown)."""

    role: str  # "user" or "assistant"
    content: str
    meta: dict[str, Any] = field(default_factory=dict)


@dataclass
class Reply:
    """What the assistant says, and what it was built from (for memory, logs, tests, eval)."""

    text: str
    engine: str  # "model", "basic" or "none" (refused before any engine ran)
    sql: list[str] = field(default_factory=list)
    columns: list[str] = field(default_factory=list)
    rows: list[tuple[Any, ...]] = field(default_factory=list)
    refused: bool = False  # out of scope, hostile, over budget, or not understood
    failed: bool = False  # the engine could not answer (model down, catalog error)
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cached_tokens: int = 0  # of prompt_tokens, served from the provider's prompt cache
    model_calls: int = 0
    meta: dict[str, Any] = field(default_factory=dict)
