"""Reply text for WhatsApp: laid out for a phone, in WhatsApp's own markup, cut to its limit.

The core returns plain text with light Markdown (``**bold**``, ``-`` bullets, ``|`` tables).
The phone layout (tables as one line per product, bullets, bold product names) is the same as
on Telegram (``bot.channels.text``); KRATOS's emphasis then becomes WhatsApp's ``*bold*``.

Everything else is the catalog's or the customer's text and must show as written, but WhatsApp
has no escape: ``*Oferta*`` in a product name would turn bold and lose its asterisks, ``_x_``
italic, ``~x~`` struck through, ```x``` code. So wherever one of those characters touches a
letter (where WhatsApp could read it as a marker), a zero-width space (U+200B) is put between
them: nothing visible changes, the characters stay. (WhatsApp documents its markers, not the
rule by which it pairs them; this follows the rule its FAQ shows, a marker right against the
text, and was not checked on a WhatsApp client.)

A text message body holds at most 4096 characters (Cloud API, "text.body"); longer replies
become several messages, cut at line ends.
"""

from __future__ import annotations

import re

from bot.channels.text import for_phone, spans, split_text

MAX_TEXT_LENGTH = 4096
#: WhatsApp's markup characters: *bold*, _italic_, ~strikethrough~, `code` and ```monospace```.
MARKERS = "*_~`"
ZERO_WIDTH_SPACE = "\u200b"
# A marker against anything but a space, on either side: where WhatsApp could pair it.
_LINK = re.compile(r"(?:https?://|www\.)\S+|[\w.+-]+@[\w-]+\.[\w.-]+", re.IGNORECASE)
_TOUCHING = re.compile(r"(?<=[*_~`])(?=\S)|(?<=\S)(?=[*_~`])")


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
    """KRATOS's emphasis as WhatsApp's ``*bold*``; every other character shown as written."""
    return "".join(f"*{_fenced(literal(piece))}*" if bold else literal(piece)
                   for piece, bold in spans(text))


def literal(text: str) -> str:
    """``text`` with WhatsApp's markup characters kept from acting: a zero-width space between
    each and the letter it touches. Links and e-mail addresses are left whole (WhatsApp links
    them before reading markup, and a character inside would cut the link)."""
    out: list[str] = []
    position = 0
    for match in _LINK.finditer(text):
        out += [_TOUCHING.sub(ZERO_WIDTH_SPACE, text[position:match.start()]), match.group()]
        position = match.end()
    out.append(_TOUCHING.sub(ZERO_WIDTH_SPACE, text[position:]))
    return "".join(out)


def _fenced(inner: str) -> str:
    """Bold text that starts or ends with a marker of its own keeps it apart from the ``*``
    around it."""
    if inner[:1] in MARKERS:
        inner = ZERO_WIDTH_SPACE + inner
    if inner[-1:] in MARKERS:
        inner += ZERO_WIDTH_SPACE
    return inner


def _utf16_length(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


def _fit(piece: str, limit: int) -> list[str]:
    if _utf16_length(piece) <= limit:
        return [piece]
    # Only astral characters (emoji) make the UTF-16 length exceed the character count:
    # cut again with the limit shrunk by the excess.
    excess = _utf16_length(piece) - len(piece)
    return [p for part in split_text(piece, max(1, limit - excess)) for p in _fit(part, limit)]
