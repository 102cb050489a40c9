"""Which question each conversation asked last, where its answer went, and when.

A customer who fixes a typo in their latest question gets the fixed question answered again in
place of the earlier answer; an edit to anything older, or minutes later, is left alone. This
keeps only message ids and the question text, in memory: after a restart old edits are ignored.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

#: How long after its answer a question may still be corrected by editing it.
EDIT_WINDOW_S = 300.0
#: Entries kept before the expired ones are swept out.
SWEEP_ABOVE = 1000


@dataclass(frozen=True)
class AnsweredQuestion:
    """A question message, the messages that answered it, and when (monotonic seconds)."""

    chat_id: int
    question_message_id: int
    question: str
    reply_message_ids: tuple[int, ...]
    answered_at: float


class RecentAnswers:
    """The latest answered question of each conversation, for ``EDIT_WINDOW_S`` seconds."""

    def __init__(self, window: float = EDIT_WINDOW_S) -> None:
        self.window = window
        self._latest: dict[str, AnsweredQuestion] = {}

    def note(self, conversation: str, answered: AnsweredQuestion) -> None:
        """Remember ``answered`` as the conversation's latest question."""
        self._latest.pop(conversation, None)
        self._latest[conversation] = answered
        if len(self._latest) > SWEEP_ABOVE:
            cutoff = time.monotonic() - self.window
            self._latest = {k: v for k, v in self._latest.items() if v.answered_at >= cutoff}

    def editable(self, conversation: str, chat_id: int, message_id: int,
                 now: float | None = None) -> AnsweredQuestion | None:
        """The earlier answer an edit of ``message_id`` may replace, or None.

        Only the conversation's latest question qualifies, and only within the window.
        """
        latest = self._latest.get(conversation)
        moment = time.monotonic() if now is None else now
        if latest is None or (latest.chat_id, latest.question_message_id) != (chat_id,
                                                                              message_id):
            return None
        return latest if moment - latest.answered_at <= self.window else None
