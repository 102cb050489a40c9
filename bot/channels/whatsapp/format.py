"""Reply text for WhatsApp: laid out for a phone, in WhatsApp's own markup, cut to its limit.

The core returns plain text with light Markdown (``**bold**``, ``*italic*``, ```code```,
``-`` bullets, ``|`` tables). The phone layout (tables as one line per product, bullets,
bold product names) is the same as on Telegram; then the markup becomes WhatsApp's:
``*bold*``, ``_italic_``, ```code``` (WhatsApp's inline code). WhatsApp has no escaping and
no parse errors: characters it does not read as markup show as typed.

A text message body holds at most 4096 characters (Cloud API, "text.body"); longer replies
become several messages, cut at line ends.
"""

from __future__ import annotations

import re

from bot.channels.text import for_phone, split_text

MAX_TEXT_LENGTH = 4096

BOLD = re.compile(r"\*\*(?=\S)(?P<text>[^\n]+?)(?<=\S)\*\*")
# A single-star span that is not part of a ``**`` pair: Markdown's italic.
ITALIC = re.compile(r"(?<![\w*])\*(?=[^\s*])(?P<text>[^*\n]+?)(?<=[^\s*])\*(?![\w*])")


def render(text: str, limit: int = MAX_TEXT_LENGTH) -> list[str]:
    """The WhatsApp messages for one reply, each at most ``limit`` characters, none empty.

    The limit is counted in UTF-16 code units too (emoji count two there), so a reply full of
    emoji is never refused as too long.
    """
    pieces: list[str] = []
    for part in split_text(for_phone(text), limit):
        pieces += _fit(to_whatsapp(part), limit)
    return [piece for piece in pieces if piece.strip()]


def to_whatsapp(text: str) -> str:
    """Markdown emphasis as WhatsApp markup: ``**b**`` -> ``*b*``, ``*i*`` -> ``_i_``."""
    marked = ITALIC.sub(lambda m: f"_{m.group('text')}_", text)
    return BOLD.sub(lambda m: f"*{m.group('text')}*", marked)


def _utf16_length(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


def _fit(piece: str, limit: int) -> list[str]:
    if _utf16_length(piece) <= limit:
        return [piece]
    # Only astral characters (emoji) make the UTF-16 length exceed the character count:
    # cut again with the limit shrunk by the excess.
    excess = _utf16_length(piece) - len(piece)
    return [p for part in split_text(piece, max(1, limit - excess)) for p in _fit(part, limit)]
