"""Reply text laid out for a phone, for every channel: tables become one line per product,
Markdown becomes plain text, and long replies are cut between paragraphs, lines or words.

The core returns plain text, sometimes with light Markdown from the model (``**bold**``, ``-``
bullets, ``|`` tables). Each channel then marks it up its own way (``telegram.format``,
``whatsapp.format``) and cuts it to its own message length.

Catalog and customer text reaches the customer exactly as written: the only emphasis is
KRATOS's own, ``**bold**`` spans and what ``for_phone`` sets out (a product's name in a list,
a table's first cell, a heading), which it marks with ``OWN_START``/``OWN_END`` around text
shown as it is, asterisks included. Backticks, single asterisks, underscores, tildes and bars
are never markup here; each channel keeps its own markup characters from acting on them.
"""

from __future__ import annotations

import re

BULLET = "•"
#: Around text ``for_phone`` emphasises and keeps literal (a product name with ``**`` or
#: backticks in it): Unicode private-use characters, removed from the text first, so no
#: catalog or customer text can open or close one.
OWN_START, OWN_END = "\ue000", "\ue001"
# KRATOS's own emphasis and **bold** spans, each on one line, so a split never leaves half a
# span behind.
INLINE = re.compile(r"\ue000(?P<own>[^\ue000\ue001\n]*)\ue001"
                    r"|\*\*(?=\S)(?P<bold>[^\n\ue000\ue001]+?)(?<=\S)\*\*")
HEADING = re.compile(r"^\s{0,3}#{1,6}\s+(.+?)\s*#*\s*$")
LIST_MARK = re.compile(r"^(\s*)[-*+]\s+(?=\S)")
RULE = re.compile(r"^\s*([-*_])(?:\s*\1){2,}\s*$")
TABLE_SEPARATOR = re.compile(r"^:?-{3,}:?$")
# "1. Laptop X — S/ 2,059.00 · disponible": the name before the dash is what the eye looks for.
LIST_ITEM = re.compile(
    r"^(?P<mark>\s*(?:\d{1,3}[.)]|•)\s+)(?P<name>[^\n]+?)(?P<rest>\s[—–]\s.*)$"
)
#: A list item's name in which the model already set ``**bold**`` (``1. **Laptop X** — ...``).
BOLD_SPAN = re.compile(r"\*\*(?=\S)[^\n]+?(?<=\S)\*\*")
INDEX_HEADERS = frozenset({"#", "n", "n°", "nº", "no", "no.", "nro", "nro."})


def for_phone(text: str) -> str:
    """Lay text out for a narrow screen.

    Tables become one line per row, ``-`` bullets become ``•``, headings and the product name
    of a list item (``1. Name — details``) become bold (``OWN_START``/``OWN_END``, their text
    kept as it is).
    """
    text = text.replace(OWN_START, "").replace(OWN_END, "")
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
            out.append(own(heading.group(1)))
            continue
        line = LIST_MARK.sub(rf"\g<1>{BULLET} ", line, count=1)
        out.append(LIST_ITEM.sub(_list_item, line, count=1))
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


def own(text: str) -> str:
    """``text`` emphasised by KRATOS and shown exactly as written."""
    return f"{OWN_START}{text}{OWN_END}"


def _list_item(match: re.Match[str]) -> str:
    # A name holding a **bold** span is the model's Markdown (by far the likelier reading:
    # a product named with paired double asterisks is the one case this cannot tell apart).
    if BOLD_SPAN.search(match.group("name")):
        return match.group(0)
    name = match.group("name")
    return f"{match.group('mark')}{own(name)}{match.group('rest')}"


def spans(text: str) -> list[tuple[str, bool]]:
    """``text`` as (piece, emphasised) in order, markers dropped: what each channel marks up.

    A marker left alone by a split (half a span) is dropped, never shown.
    """
    pieces: list[tuple[str, bool]] = []
    position = 0
    for match in INLINE.finditer(text):
        pieces.append((_bare(text[position:match.start()]), False))
        inner = match.group("own") if match.group("own") is not None else match.group("bold")
        pieces.append((inner, bool(inner.strip())))
        position = match.end()
    pieces.append((_bare(text[position:]), False))
    return [(piece, emphasised) for piece, emphasised in pieces if piece]


def _bare(text: str) -> str:
    return text.replace(OWN_START, "").replace(OWN_END, "")


def to_plain(text: str) -> str:
    """The same piece with the markers dropped, as the user would see it."""
    return "".join(piece for piece, _ in spans(text))


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


def _cells(line: str, columns: int | None = None, first: int = 0) -> list[str]:
    """A table line's cells. ``\\|`` is a bar inside a cell (GFM); with ``columns`` known, a row
    with more cells than that has bars in a product's name ("Combo ||dúo||"): the surplus is
    joined back into the cell at ``first``, the name's column."""
    raw = [cell.replace("\\|", "|") for cell in
           re.split(r"(?<!\\)\|", line.strip().removeprefix("|").removesuffix("|"))]
    surplus = len(raw) - columns if columns is not None else 0
    if surplus > 0 and first < len(raw):
        raw[first:first + surplus + 1] = ["|".join(raw[first:first + surplus + 1])]
    return [cell.strip() for cell in raw]


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
        cells = _cells(line, len(header), skip)[skip:]
        if not any(cells):
            continue
        first, rest = cells[0], cells[1:]
        details = [f"{name}: {value}" if name else value
                   for name, value in zip(header[skip + 1:], rest, strict=False) if value]
        row = f"{BULLET} {own(first)}" if first else BULLET
        rows.append(f"{row} — {' · '.join(details)}" if details else row)
    return rows
