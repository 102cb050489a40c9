"""Reply text for Telegram: laid out for a phone, escaped for HTML, cut to Telegram's limit.

The core returns plain text, sometimes with light Markdown from the model (``**bold**``, ``-``
bullets, ``|`` tables). Here it becomes Telegram HTML in which every character that came from
the core is escaped, with tables turned into one line per product (a wide table wraps into an
unreadable mess on a phone). Each message also keeps a plain version to resend if Telegram
refuses the HTML anyway.
"""

from __future__ import annotations

import html
from collections.abc import Callable
from dataclasses import dataclass

from telegram.constants import MessageLimit

from bot.channels import text as phone_text
from bot.channels.text import for_phone, spans, to_plain

MAX_MESSAGE_LENGTH: int = MessageLimit.MAX_TEXT_LENGTH
#: Messages one reply may take; past that, the last one says how many more there were.
MAX_REPLY_MESSAGES = 3
#: Room kept in each message for that closing line.
MORE_NOTE_ROOM = 300


@dataclass(frozen=True)
class Chunk:
    """One Telegram message: its HTML and the same text without markup."""

    html: str
    plain: str


def escape(text: str) -> str:
    """Escape ``<``, ``>`` and ``&`` for Telegram's HTML parse mode."""
    return html.escape(text, quote=False)


def render(text: str, limit: int = MAX_MESSAGE_LENGTH) -> list[Chunk]:
    """The messages for one reply, each within ``limit`` visible characters."""
    return [Chunk(html=to_html(part), plain=to_plain(part))
            for part in split_text(for_phone(text), limit)]


def render_bounded(text: str, most: int, more_note: Callable[[int], str]) -> list[Chunk]:
    """At most ``most`` messages for one reply; when more were needed, the last one ends with
    ``more_note(left out)``, a sentence saying how many more there were and how to narrow."""
    chunks = render(text)
    if len(chunks) <= most:
        return chunks
    chunks = render(text, MAX_MESSAGE_LENGTH - MORE_NOTE_ROOM)
    note = more_note(len(chunks) - most)
    last = chunks[most - 1]
    return [*chunks[: most - 1],
            Chunk(html=f"{last.html}\n\n<i>{escape(note)}</i>", plain=f"{last.plain}\n\n{note}")]


def to_html(text: str) -> str:
    """HTML for one piece: everything escaped, KRATOS's emphasis (``**bold**``, the names
    ``for_phone`` sets out) made bold. Backticks, ``*``, ``_``, ``~`` and ``|`` are no markup in
    Telegram's HTML mode: catalog text shows as written."""
    return "".join(f"<b>{escape(piece)}</b>" if bold else escape(piece)
                   for piece, bold in spans(text))


def split_text(text: str, limit: int = MAX_MESSAGE_LENGTH) -> list[str]:
    """``bot.channels.text.split_text`` with Telegram's message length as the default limit."""
    return phone_text.split_text(text, limit)
