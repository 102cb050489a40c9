"""The reply shown while the model writes it: only text that already passes the grounding check.

A transport (the Telegram adapter) gives the model engine a ``PreviewSink``; the engine streams
the model's reply and feeds it through ``GroundedPreview``, which passes on the longest settled
prefix (whole words, a number only once the word after it has arrived) as long as every amount
in soles in it is one the rows, the question or earlier answers hold. The first amount that is
not stops the preview for good: the final reply (rebuilt from the rows by then) replaces what
was shown. Text that may be a tool call written out (a JSON block, a tag) and a reasoning
model's ``<think>`` section are never shown.
"""

from __future__ import annotations

import re
from typing import Protocol

from bot.catalog.money import amounts_in_text

THINK_BLOCK = re.compile(r"<think>.*?</think>", re.DOTALL | re.IGNORECASE)
OPEN_THINK = re.compile(r"<think>", re.IGNORECASE)
#: How a reply that is really a tool call, or markup, starts; such text is never previewed.
NOT_PROSE = ("{", "[", "<", "```")
#: A last word that may be the start of an amount: a number, or the currency sign before one.
MAY_GROW_INTO_AMOUNT = re.compile(r"\d|^(?:S/\.?|\$)$", re.IGNORECASE)


class PreviewSink(Protocol):
    """Where a transport shows the reply as it grows; ``show`` must return at once."""

    def show(self, text: str) -> None:
        """Show ``text`` (the whole reply so far) instead of what was shown before."""


def settled_text(text: str) -> str:
    """The part of a growing reply that can be shown: whole words, no reasoning section.

    A trailing number (or currency sign) waits for the next word, which may turn "1,299.90"
    into the amount "1,299.90 soles" that the grounding check must see.
    """
    text = THINK_BLOCK.sub("", text)
    opened = OPEN_THINK.search(text)
    if opened:
        text = text[:opened.start()]
    text = text.lstrip()
    if text.startswith(NOT_PROSE):
        return ""
    words = text.split(" ")
    if len(words) < 2 and "\n" not in text:
        return ""
    settled = text[:max(text.rfind(" "), text.rfind("\n"))].rstrip()
    for _ in range(2):  # "S/ 1,299.90": the number, then the sign before it
        last = re.split(r"\s", settled)[-1] if settled else ""
        if not last or not MAY_GROW_INTO_AMOUNT.search(last):
            break
        settled = settled[:len(settled) - len(last)].rstrip()
    return settled


class GroundedPreview:
    """Feeds ``sink`` the settled, grounded prefix of a reply being streamed.

    ``known`` holds the amounts (cents) the reply may state. ``stopped`` is True once the
    reply stated any other amount: nothing more is shown, and the caller's final message
    replaces the preview.
    """

    def __init__(self, sink: PreviewSink, known: set[int]) -> None:
        self.sink = sink
        self.known = known
        self.shown = ""
        self.stopped = False

    def grow(self, text: str) -> None:
        """Take the whole reply so far; show more of it when it is settled and grounded."""
        if self.stopped:
            return
        visible = settled_text(text)
        if not visible or visible == self.shown:
            return
        if any(amount not in self.known for amount in amounts_in_text(visible)):
            self.stopped = True
            return
        self.shown = visible
        self.sink.show(visible)
