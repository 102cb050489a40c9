"""Reply text laid out for a phone, for every channel: tables become one line per product,
Markdown becomes plain text, and long replies are cut between paragraphs, lines or words.

The core returns plain text, sometimes with light Markdown from the model (``**bold**``, ``-``
bullets, ``|`` tables). Each channel then marks it up its own way (``telegram.format``,
``whatsapp.format``) and cuts it to its own message length.
"""

from __future__ import annotations

import re

BULLET = "•"
# **bold** and `code` spans, each on one line, so a split never leaves half a span behind.
INLINE = re.compile(r"\*\*(?=\S)(?P<bold>[^\n]+?)(?<=\S)\*\*|`(?P<code>[^`\n]+)`")
HEADING = re.compile(r"^\s{0,3}#{1,6}\s+(.+?)\s*#*\s*$")
LIST_MARK = re.compile(r"^(\s*)[-*+]\s+(?=\S)")
RULE = re.compile(r"^\s*([-*_])(?:\s*\1){2,}\s*$")
TABLE_SEPARATOR = re.compile(r"^:?-{3,}:?$")
# "1. Laptop X — S/ 2,059.00 · disponible": the name before the dash is what the eye looks for.
LIST_ITEM = re.compile(
    r"^(?P<mark>\s*(?:\d{1,3}[.)]|•)\s+)(?P<name>[^*`\n]+?)(?P<rest>\s[—–]\s.*)$"
)
INDEX_HEADERS = frozenset({"#", "n", "n°", "nº", "no", "no.", "nro", "nro."})


def for_phone(text: str) -> str:
    """Lay text out for a narrow screen.

    Tables become one line per row, ``-`` bullets become ``•``, headings and the product name
    of a list item (``1. Name — details``) become bold.
    """
    lines = [line.rstrip() for line in text.replace("\r\n", "\n").replace("\r", "\n").split("\n")]
    out: list[str] = []
    index = 0
    while index < len(lines):
        table_end = _table_end(lines, index)
        if table_end:
            out.extend(_table_rows(lines[index:table_end]))
            index = table_end
            continue
        line = lines[index]
        index += 1
        if RULE.match(line):
            out.append("")
            continue
        heading = HEADING.match(line)
        if heading:
            out.append(f"**{heading.group(1)}**")
            continue
        line = LIST_MARK.sub(rf"\g<1>{BULLET} ", line, count=1)
        out.append(LIST_ITEM.sub(r"\g<mark>**\g<name>**\g<rest>", line, count=1))
    return re.sub(r"\n{3,}", "\n\n", "\n".join(out)).strip()


def split_text(text: str, limit: int) -> list[str]:
    """Cut ``text`` into pieces of at most ``limit`` characters, at line ends where possible.

    A single line longer than ``limit`` is cut at its last space before the limit (or, with no
    space, at the limit). Blank pieces are dropped: Telegram refuses empty messages.
    """
    pieces: list[str] = []
    current: list[str] = []
    size = 0
    for line in text.split("\n"):
        for part in _wrap(line, limit):
            added = len(part) + (1 if current else 0)
            if current and size + added > limit:
                pieces.append("\n".join(current))
                current, size, added = [], 0, len(part)
            current.append(part)
            size += added
    if current:
        pieces.append("\n".join(current))
    return [piece.strip("\n") for piece in pieces if piece.strip()]


def to_plain(text: str) -> str:
    """The same piece with the Markdown markers dropped, as the user would see it."""
    return INLINE.sub(lambda m: m.group("bold") or m.group("code") or "", text)


def _wrap(line: str, limit: int) -> list[str]:
    parts: list[str] = []
    while len(line) > limit:
        cut = line.rfind(" ", 0, limit + 1)
        if cut <= 0:
            cut = limit
        parts.append(line[:cut].rstrip())
        line = line[cut:].lstrip()
    parts.append(line)
    return parts


def _cells(line: str) -> list[str]:
    return [cell.strip() for cell in line.strip().strip("|").split("|")]


def _is_table_line(line: str) -> bool:
    stripped = line.strip()
    return len(stripped) > 1 and stripped.startswith("|") and stripped.endswith("|")


def _table_end(lines: list[str], start: int) -> int:
    """Index after a Markdown table starting at ``start`` (header, separator, rows), or 0."""
    if start + 1 >= len(lines) or not _is_table_line(lines[start]):
        return 0
    separator = _cells(lines[start + 1])
    if not _is_table_line(lines[start + 1]) or not all(
        TABLE_SEPARATOR.match(cell.replace(" ", "")) for cell in separator
    ):
        return 0
    end = start + 2
    while end < len(lines) and _is_table_line(lines[end]):
        end += 1
    return end


def _table_rows(lines: list[str]) -> list[str]:
    """``• **first cell** — Header: value · Header: value`` for each data row."""
    header = _cells(lines[0])
    skip = 1 if header and header[0].lower() in INDEX_HEADERS else 0
    rows: list[str] = []
    for line in lines[2:]:
        cells = _cells(line)[skip:]
        if not any(cells):
            continue
        first, rest = cells[0], cells[1:]
        details = [f"{name}: {value}" if name else value
                   for name, value in zip(header[skip + 1:], rest, strict=False) if value]
        row = f"{BULLET} **{first}**" if first else BULLET
        rows.append(f"{row} — {' · '.join(details)}" if details else row)
    return rows
