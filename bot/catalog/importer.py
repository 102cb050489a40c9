"""``kratos import FILE``: a store's product file becomes a catalog KRATOS can answer from.

Reads CSV/TSV (delimiter sniffed; UTF-8 with or without BOM, UTF-16 with BOM, or the Windows
code page Excel writes, line by line, so a file mixing them still loads), XLSX (openpyxl in
read-only mode, which streams rows instead of building the workbook), JSON (an array of objects)
and JSON Lines. Column roles are found from the headers and a sample of values
(``bot.catalog.roles``), prices are parsed as shops write them, and rows stream into a new SQLite
file in batches, so memory stays bounded whatever the file's size.

The catalog is written to a temporary file beside the target and renamed over it only when
complete (a half-written import never replaces a working catalog); it gets an accent-folding
FTS5 index, indexes on the role columns, and the roles are recorded in the notes file
(``catalog.toml``) where the owner can correct them. The store's columns keep their own
(ASCII-folded) names in table ``products``; KRATOS's key is ``id``.

Loading uses the standard library's sqlite3 directly rather than sqlite-utils: prepared
multi-row INSERTs of values already converted are what keep an import above 50,000 rows/s;
sqlite-utils would add a per-row dict and type detection on top. Two cores are used: the
importing thread reads and converts rows while a writer thread inserts the previous batch
(SQLite releases the GIL while it works), and afterwards the full-text index is built by a
second connection into a private side file while the role indexes are built, then copied in.
"""

from __future__ import annotations

import codecs
import contextlib
import csv
import io
import json
import logging
import os
import queue
import re
import secrets
import sqlite3
import sys
import threading
import time
import tomllib
import zipfile
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from itertools import chain, islice
from pathlib import Path
from typing import Any, BinaryIO

from bot.catalog.money import is_money_column
from bot.catalog.progress import Progress
from bot.catalog.roles import (
    NOTES_SECTION,
    ROLES,
    detect,
    fold,
    parse_price,
    price_reader,
    writes_decimal_comma,
)
from bot.errors import RequestRefused
from bot.settings import Settings

logger = logging.getLogger(__name__)

#: Marks a catalog this command wrote (``PRAGMA application_id``), so a later import may
#: replace it while a store's own SQLite file is never overwritten.
IMPORT_APPLICATION_ID = 0x4B524154  # "KRAT"
TABLE = "products"
SAMPLE_ROWS = 2_000
#: Rows converted and inserted together. Small enough that the rows of a batch stay in the
#: processor's cache and the writer holds the GIL only briefly while binding them.
BATCH_ROWS = 1_000
#: The interpreter's switch interval while rows load (see ``_load``).
SWITCH_SECONDS = 0.0005
#: Progress is updated every this many batches.
PROGRESS_BATCHES = 16
SNIFF_BYTES = 256 * 1024
#: Bytes of a text file decoded in one piece when loading (whole lines).
DECODE_BYTES = 1024 ** 2
#: An XLSX is a zip; members that unpack past this are refused before anything is read.
MAX_XLSX_UNPACKED = 1024 ** 3
#: A JSON array is read whole; larger files should come as JSON Lines or CSV.
MAX_JSON_BYTES = 200 * 1024 ** 2
#: Skipped rows listed one by one in the report; the rest are counted.
REPORT_SKIPPED = 20
_DELIMITERS = (";", ",", "\t", "|")
#: Text columns indexed for full-text search, by role.
FTS_ROLES = ("name", "brand", "category", "family", "model", "color", "size", "description")
#: A private scratch file until it is renamed into place: no journal or syncing needed.
_SCRATCH_PRAGMAS = ("journal_mode=OFF", "synchronous=OFF", "temp_store=MEMORY",
                    "cache_size=-32768")
#: FTS5's shadow tables for an external-content table (no ``_content``).
_FTS_SHADOWS = ("data", "idx", "docsize", "config")
_INDEXED = (("price",), ("category", "price"), ("family", "price"), ("brand", "price"),
            ("availability",), ("sku",))


class ImportRefused(RequestRefused):
    """The file cannot be used; the message is one sentence saying why."""


@dataclass
class Recoded:
    """Lines of a UTF-8 file that were not UTF-8 (read as Windows-1252): how many, the first."""

    count: int = 0
    lines: list[int] = field(default_factory=list)

    def add(self, number: int) -> None:
        self.count += 1
        if len(self.lines) < 10:
            self.lines.append(number)


@dataclass
class Rows:
    """A file opened for import: its header, its rows as (line, cells), and how far it got."""

    headers: list[str]
    rows: Iterator[tuple[int, Sequence[Any]]]
    total: int | None  # units of ``done`` for the progress bar
    done: Callable[[], int]
    unit: str = "B"
    notes: list[str] = field(default_factory=list)
    recoded: Recoded = field(default_factory=lambda: Recoded())


@dataclass
class ImportReport:
    """What an import did: rows loaded and skipped, roles found, what was ambiguous."""

    output: Path
    notes_path: Path
    loaded: int
    skipped: list[tuple[int, str]]
    skipped_count: int
    roles: dict[str, str]  # role -> header as the file wrote it
    columns: dict[str, str]  # header -> column name in the catalog
    ambiguities: list[str]
    seconds: float
    read_as: list[str] = field(default_factory=list)  # how the file was read

    def text(self) -> str:
        """The report printed after an import, in Spanish."""
        rate = self.loaded / self.seconds if self.seconds else 0
        lines = [f"Importé {_rows(self.loaded)} en {self.output} ({self.seconds:.1f} s, "
                 f"{rate:,.0f} filas/s)."]
        lines += [f"Leído como: {note}." for note in self.read_as]
        if self.skipped_count:
            lines.append(f"Omití {_rows(self.skipped_count)}:")
            lines += [f"  línea {line}: {reason}" for line, reason in self.skipped]
            if self.skipped_count > len(self.skipped):
                lines.append(f"  … y {self.skipped_count - len(self.skipped):,} más.")
        lines.append("Columnas:")
        role_of = {header: role for role, header in self.roles.items()}
        for header, column in self.columns.items():
            role = role_of.get(header)
            lines.append(f"  «{header}» → {column}"
                         + (f" ({ROLE_NAMES.get(role, role)}; {role})" if role else ""))
        lines += [f"Ojo: {note}" for note in self.ambiguities]
        lines.append(f"Roles guardados en {self.notes_path}: corrígelos allí y vuelve a "
                     f"importar (o reinicia) para aplicarlos.")
        return "\n".join(lines)


#: Each role as the report names it for the owner (the notes file keeps the English keys).
ROLE_NAMES = {
    "name": "nombre del producto", "price": "precio en soles", "category": "categoría",
    "family": "familia", "brand": "marca", "model": "modelo", "color": "color",
    "size": "presentación o talla", "stock": "unidades en stock",
    "availability": "disponibilidad", "description": "descripción", "sku": "código",
    "image": "foto",
}


def _rows(count: int) -> str:
    return f"{count:,} fila" if count == 1 else f"{count:,} filas"


# --- Reading ------------------------------------------------------------------------------------


def open_rows(path: Path, sheet: str | None = None) -> Rows:
    """Open a product file by its content (not its extension); ``ImportRefused`` if unusable."""
    path = Path(path)
    if path.is_dir():
        raise ImportRefused(f"{path} es una carpeta: indica el archivo de productos que tiene "
                            "dentro.")
    if not path.is_file():
        raise ImportRefused(f"No encuentro el archivo {path}.")
    size = path.stat().st_size
    if size == 0:
        raise ImportRefused(f"El archivo {path.name} está vacío.")
    with path.open("rb") as handle:
        head = handle.read(SNIFF_BYTES)
    if head.startswith(b"PK\x03\x04"):
        return _xlsx_rows(path, sheet)
    if head.startswith(b"\xd0\xcf\x11\xe0"):
        raise ImportRefused(f"{path.name} es un Excel antiguo (.xls): guárdalo como .xlsx o CSV "
                            "y vuelve a importarlo.")
    if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return _csv_table(path, head, "utf-16")
    if b"\x00" in head or _junk_share(head) > 0.05:
        raise ImportRefused(f"{path.name} no es una hoja de cálculo, un CSV ni un JSON que "
                            "pueda leer (parece un archivo binario).")
    stripped = head.lstrip(codecs.BOM_UTF8).lstrip()
    if stripped.startswith((b"[", b"{")):
        return _json_rows(path, stripped, size)
    return _csv_table(path, head, _text_encoding(head))


def _csv_table(path: Path, head: bytes, encoding: str) -> Rows:
    """``_csv_rows``, with what the csv module cannot read (a cell past its size limit while
    the header and delimiter are read) said in one sentence."""
    try:
        return _csv_rows(path, head, encoding)
    except csv.Error as error:
        raise ImportRefused(f"{path.name} no se puede leer como tabla ({_in_spanish(error)})."
                            ) from None


def _in_spanish(error: Exception) -> str:
    """What went wrong reading or storing a table, in the importer's language.

    Python's csv module and SQLite word their errors in English: those a store's file or disk
    can cause are said in Spanish; any other is logged as it is and named only by its kind,
    so no library's English reaches the owner's sentence.
    """
    text = str(error)
    for start, meaning in _ERRORS_IN_SPANISH:
        if text.startswith(start):
            return meaning.format(limit=csv.field_size_limit())
    logger.warning("import failed: %s: %s", type(error).__name__, text)
    return "su contenido no tiene la forma de una tabla que sepa leer"


#: The start of a csv or SQLite error -> what it means for the owner ({limit}: the cell limit).
_ERRORS_IN_SPANISH = (
    ("field larger than field limit", "una celda tiene más de {limit:,} caracteres; revisa que "
                                      "ninguna comilla haya quedado sin cerrar"),
    ("too many columns", "tiene más columnas de las 2,000 que admite un catálogo SQLite"),
    ("line contains NUL", "tiene caracteres nulos (NUL), que un archivo de texto no lleva"),
    ("string or blob too big", "una celda pasa del tamaño que SQLite admite"),
    ("database or disk is full", "el disco está lleno"),
    ("disk I/O error", "falló el disco al escribir el catálogo"),
    ("unable to open database file", "no puedo escribir el catálogo en esa carpeta"),
    ("attempt to write a readonly database", "no puedo escribir el catálogo en esa carpeta"),
)


def _junk_share(head: bytes) -> float:
    """The share of control bytes other than tab, newline and carriage return."""
    junk = sum(1 for b in head if b < 32 and b not in (9, 10, 13))
    return junk / max(1, len(head))


def _is_utf8(head: bytes) -> bool:
    try:
        head.decode("utf-8")
    except UnicodeDecodeError as error:
        # A character cut by the end of the sample is still UTF-8.
        return error.start >= len(head) - 3
    return True


def _text_encoding(head: bytes) -> str:
    """"utf-8", "cp1252", or "mixed" when some lines are UTF-8 with accents and some are not."""
    if _is_utf8(head):
        return "utf-8"
    lines = head.splitlines()
    if len(head) >= SNIFF_BYTES:
        lines = lines[:-1]  # cut by the sample's end
    return "mixed" if any(not line.isascii() and _strict_utf8(line) for line in lines) \
        else "cp1252"


def _strict_utf8(line: bytes) -> bool:
    try:
        line.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def _decode(line: bytes, primary: str, recoded: Recoded | None, number: int) -> str:
    try:
        return line.decode(primary)
    except UnicodeDecodeError:
        if recoded is not None:
            recoded.add(number)
        return line.decode("cp1252", errors="replace")


def _text_lines(handle: BinaryIO, encoding: str, recoded: Recoded) -> Iterator[str]:
    """Decoded lines: each is tried as UTF-8 first, then read as Windows-1252.

    Line by line, because files that several programs appended to mix the two. Lines recoded
    in a file whose start is UTF-8 are listed in ``recoded`` (the report names them).
    """
    if encoding == "utf-16":
        yield from io.TextIOWrapper(handle, encoding="utf-16", newline="")
        return
    noted = recoded if encoding in ("utf-8", "mixed") else None
    number = 0
    # Whole blocks of lines are decoded at once (one call instead of one per line); only a
    # block that is not all UTF-8 is decoded line by line.
    while block := handle.read(DECODE_BYTES):
        if not block.endswith(b"\n"):
            block += handle.readline()
        if number == 0 and block.startswith(codecs.BOM_UTF8):
            block = block[len(codecs.BOM_UTF8):]
        try:
            lines = io.StringIO(block.decode("utf-8"), newline="\n").readlines()
        except UnicodeDecodeError:
            lines = [_decode(line, "utf-8", noted, number + n)
                     for n, line in enumerate(io.BytesIO(block), start=1)]
        number += len(lines)
        yield from lines


def _sniff_delimiter(lines: Sequence[str]) -> str:
    """The delimiter that splits the first lines into the same number (> 1) of cells."""
    best, best_score = ",", (0, 0)
    for delimiter in _DELIMITERS:
        widths = [len(row) for row in csv.reader(lines, delimiter=delimiter) if row]
        if not widths:
            continue
        width = max(set(widths), key=widths.count)
        score = (widths.count(width) if width > 1 else 0, width)
        if score > best_score:
            best, best_score = delimiter, score
    return best


def _position(handle: BinaryIO, size: int) -> Callable[[], int]:
    """Bytes read so far (all of them once the file is closed)."""
    return lambda: size if handle.closed else handle.tell()


def _csv_rows(path: Path, head: bytes, encoding: str) -> Rows:
    handle = path.open("rb")
    recoded = Recoded()
    if encoding == "utf-16":
        sample = head.decode("utf-16", errors="ignore").splitlines()[:50]
    else:
        sample = [_decode(line, "utf-8", None, 0) for line in head.splitlines()[:50]]
        if sample and sample[0].startswith("\ufeff"):
            sample[0] = sample[0][1:]
    delimiter = _sniff_delimiter([line for line in sample if line.strip()])
    reader = csv.reader(_text_lines(handle, encoding, recoded), delimiter=delimiter)
    headers: list[str] | None = None
    for cells in reader:
        if any(cell.strip() for cell in cells):
            headers = [cell.strip() for cell in cells]
            break
    if headers is None:
        handle.close()
        raise ImportRefused(f"{path.name} no tiene filas: solo espacios o líneas en blanco.")

    def rows() -> Iterator[tuple[int, Sequence[Any]]]:
        try:
            for cells in reader:
                yield reader.line_num, cells
        finally:
            handle.close()

    name = {";": "punto y coma", ",": "coma", "\t": "tabulador", "|": "barra"}[delimiter]
    size = path.stat().st_size
    encoding_name = {"utf-8": "UTF-8", "cp1252": "Windows-1252", "utf-16": "UTF-16",
                     "mixed": "UTF-8 y Windows-1252 mezclados"}[encoding]
    return Rows(headers, rows(), size, _position(handle, size), "B",
                notes=[f"CSV separado por {name}, codificación {encoding_name}"],
                recoded=recoded)


def _xlsx_rows(path: Path, sheet: str | None) -> Rows:
    try:
        with zipfile.ZipFile(path) as archive:
            unpacked = sum(member.file_size for member in archive.infolist())
    except zipfile.BadZipFile:
        raise ImportRefused(f"{path.name} parece un .xlsx pero está dañado.") from None
    if unpacked > MAX_XLSX_UNPACKED:
        raise ImportRefused(
            f"{path.name} dice descomprimirse en {unpacked / 1024 ** 3:.1f} GB, más de lo que "
            f"acepto ({MAX_XLSX_UNPACKED // 1024 ** 3} GB): expórtalo como CSV.")
    import openpyxl  # only imports need it

    # Opened as a file object, not by name: openpyxl judges a name by its extension and
    # refuses an .xlsx saved as "precios.xls", which is still an .xlsx inside.
    handle = path.open("rb")
    try:
        book = openpyxl.load_workbook(handle, read_only=True, data_only=True)
    except Exception:  # openpyxl raises many kinds for a broken file
        handle.close()
        # Its messages are English and speak of Python libraries: the owner gets what to do.
        raise ImportRefused(f"{path.name} no se puede abrir como Excel: ábrelo en tu hoja de "
                            "cálculo, guárdalo como .xlsx o CSV y vuelve a importarlo."
                            ) from None
    if sheet is not None and sheet not in book.sheetnames:
        _close_book(book, handle)
        raise ImportRefused(f"{path.name} no tiene la hoja «{sheet}»; tiene: "
                            f"{', '.join(book.sheetnames)}.")
    worksheet = book[sheet] if sheet else book.worksheets[0]
    source = enumerate(worksheet.iter_rows(values_only=True), start=1)
    headers: list[str] | None = None
    for _, cells in source:
        if any(cell not in (None, "") for cell in cells):
            headers = [str(cell).strip() if cell is not None else "" for cell in cells]
            break
    if headers is None:
        _close_book(book, handle)
        raise ImportRefused(f"La hoja «{worksheet.title}» de {path.name} está vacía.")
    done = [0]

    def rows() -> Iterator[tuple[int, Sequence[Any]]]:
        try:
            for line, cells in source:
                done[0] = line
                yield line, cells
        finally:
            _close_book(book, handle)

    total = worksheet.max_row if isinstance(worksheet.max_row, int) else None
    return Rows(headers, rows(), total, lambda: done[0], "filas",
                notes=[f"Excel, hoja «{worksheet.title}»"])


def _close_book(book: Any, handle: BinaryIO) -> None:
    """Close a read-only workbook and the file it reads (openpyxl leaves a given file open)."""
    book.close()
    handle.close()


def _json_rows(path: Path, head: bytes, size: int) -> Rows:
    lines = head.splitlines()
    if head.startswith(b"{") and len(lines) > 1 and _object_line(lines[0]) \
            and _object_line(lines[1]):
        return _jsonl_rows(path)
    if size > MAX_JSON_BYTES:
        raise ImportRefused(f"{path.name} pesa {size / 1024 ** 2:,.0f} MB: un JSON de más de "
                            f"{MAX_JSON_BYTES // 1024 ** 2} MB debe venir como JSON Lines o CSV.")
    try:
        data = json.loads(path.read_bytes().decode("utf-8-sig"))
    except UnicodeDecodeError:
        raise ImportRefused(f"{path.name} no es un JSON válido: no está en UTF-8.") from None
    except json.JSONDecodeError as error:
        raise ImportRefused(f"{path.name} no es un JSON válido: el error está en la línea "
                            f"{error.lineno}, columna {error.colno}.") from None
    items = _json_items(data)
    if items is None:
        raise ImportRefused(f"{path.name} no contiene una lista de productos (objetos JSON).")
    headers = list(dict.fromkeys(key for item in items if isinstance(item, dict) for key in item))
    done = [0]

    def rows() -> Iterator[tuple[int, Sequence[Any]]]:
        for number, item in enumerate(items, start=1):
            done[0] = number
            yield number, _cells(item, headers)

    return Rows(headers, rows(), len(items), lambda: done[0], "filas",
                notes=["JSON: el número de línea es el del producto en la lista"])


def _object_line(line: bytes) -> bool:
    try:
        return isinstance(json.loads(line), dict)
    except ValueError:
        return False


def _json_items(data: Any) -> list[Any] | None:
    if isinstance(data, list) and any(isinstance(item, dict) for item in data):
        return data
    if isinstance(data, dict):
        for value in data.values():
            if isinstance(value, list) and any(isinstance(item, dict) for item in value):
                return value
    return None


def _cells(item: Any, headers: Sequence[str]) -> list[Any]:
    if not isinstance(item, dict):
        return []
    values = []
    for header in headers:
        value = item.get(header)
        values.append(json.dumps(value, ensure_ascii=False)
                      if isinstance(value, dict | list) else value)
    return values


def _jsonl_rows(path: Path) -> Rows:
    handle = path.open("rb")
    recoded = Recoded()
    numbered = enumerate(_text_lines(handle, "utf-8", recoded), start=1)
    buffered: list[tuple[int, Any]] = []
    for number, line in numbered:
        if line.strip():
            buffered.append((number, _json_line(line)))
        if len(buffered) >= SAMPLE_ROWS:
            break
    headers = list(dict.fromkeys(key for _, item in buffered if isinstance(item, dict)
                                 for key in item))

    def rows() -> Iterator[tuple[int, Sequence[Any]]]:
        try:
            for number, item in buffered:
                yield number, _cells(item, headers)
            for number, line in numbered:
                if line.strip():
                    yield number, _cells(_json_line(line), headers)
        finally:
            handle.close()

    size = path.stat().st_size
    return Rows(headers, rows(), size, _position(handle, size), "B",
                notes=["JSON Lines"], recoded=recoded)


def _json_line(line: str) -> Any:
    try:
        return json.loads(line)
    except ValueError:
        return None


# --- Loading ------------------------------------------------------------------------------------


def column_names(headers: Sequence[str], price: str | None = None) -> list[str]:
    """Catalog column names for the file's headers: folded, unique, never ``id``.

    The price column's name says it is money ("PVP" becomes ``precio``), because rows shown to
    the model and the user are written in soles by their column's name (``bot.catalog.money``).
    """
    names: list[str] = []
    taken = {"id"}
    for number, header in enumerate(headers, start=1):
        base = fold(header) or f"columna_{number}"
        if header == price and not is_money_column(base):
            base = "precio"
        if base[0].isdigit():
            base = f"c_{base}"
        name, n = base, 2
        while name in taken:
            name, n = f"{base}_{n}", n + 1
        taken.add(name)
        names.append(name)
    return names


@dataclass
class _Plan:
    """How each cell of a row is converted, and which cells a row cannot go without."""

    names: list[str]
    price: int
    name: int
    stock: int | None
    decimal_comma: bool
    read_price: Callable[[Any], float | None] = parse_price


def _convert(plan: _Plan, cells: Sequence[Any]) -> tuple[list[Any] | None, str]:
    """One row's values for the catalog, or None and why it was skipped."""
    width = len(plan.names)
    values = list(cells)
    if len(values) != width:
        values = values[:width] + [None] * (width - len(values))
    name = values[plan.name]
    if not name or (type(name) is str and name.isspace()):
        return (None, "") if not any(values) else (None, "sin nombre de producto")
    raw = values[plan.price]
    product = f"«{str(name).strip()[:60]}»"
    try:
        price = plan.read_price(raw)
    except ValueError:
        return None, f"{product}: precio «{raw}» no es un monto"
    if price is None:
        return None, f"{product}: sin precio"
    if price < 0:
        return None, f"{product}: precio negativo ({raw})"
    values[plan.price] = price
    # Stock needs no work here: its INTEGER column turns "12" (or "12.0") into 12 itself.
    return values, ""


class _Batch(list):
    """Converted rows of one batch, and how many blank rows it left out (not skips)."""

    blank = 0


#: A price in the usual shape of its column, for which reading the whole batch at once
#: (``_usual_prices``) gives exactly what ``roles.price_reader`` gives value by value: an
#: optional "S/" (or "S/."), digits, and for a comma-decimal column optional point thousands
#: before one decimal comma; for a point-decimal column, one optional decimal point.
_USUAL_PRICE = {True: re.compile(r"(?:[Ss]/[. ]*)?\d+(?:(?:\.\d+)*,\d+)?"),
                False: re.compile(r"(?:[Ss]/[. ]*)?\d+(?:\.\d+)?")}
_PRICE_PREFIX = re.compile(r"^[Ss]/[. ]*", re.MULTILINE)
_DECIMAL_COMMA = str.maketrans(",", ".", ".")


def _usual_prices(plan: _Plan, chunk: list[tuple[int, Sequence[Any]]]) -> list[float] | None:
    """Every row's price read in a few C calls, or None when any is not in the usual shape.

    The prices of a million rows take one regular-expression match each, then one prefix
    removal, one ``str.translate`` and ``float`` for the whole batch, instead of a Python
    function call per price. Any other batch is read row by row (``_convert_row``).
    """
    at = plan.price
    try:
        raw = [cells[at] for _, cells in chunk]
        if not all(map(_USUAL_PRICE[plan.decimal_comma].fullmatch, raw)):
            return None
    except (IndexError, TypeError):  # a short row, or a cell that is not text (XLSX, JSON)
        return None
    text = _PRICE_PREFIX.sub("", "\n".join(raw))
    if plan.decimal_comma:
        text = text.translate(_DECIMAL_COMMA)
    return list(map(float, text.split("\n")))


def _convert_batch(plan: _Plan, chunk: list[tuple[int, Sequence[Any]]],
                   skipped: list[tuple[int, str]]) -> _Batch:
    """The chunk's rows for the catalog; skipped rows' reasons go into ``skipped``.

    The usual row (its width, a name, a price in the column's usual shape) is converted
    here in one step; any other row goes through ``_convert_row``.
    """
    prices = _usual_prices(plan, chunk)
    if prices is None:
        return _convert_rows(plan, chunk, skipped)
    batch = _Batch()
    width, name_at, price_at = len(plan.names), plan.name, plan.price
    for (line, cells), price in zip(chunk, prices, strict=True):
        if len(cells) == width:
            name = cells[name_at]
            if name and not (type(name) is str and name.isspace()):
                values = cells if type(cells) is list else list(cells)
                values[price_at] = price
                batch.append(values)
                continue
        _convert_row(plan, line, cells, batch, skipped)
    return batch


def _convert_rows(plan: _Plan, chunk: list[tuple[int, Sequence[Any]]],
                  skipped: list[tuple[int, str]]) -> _Batch:
    """``_convert_batch`` for a chunk whose prices are read one by one."""
    batch = _Batch()
    width, name_at, price_at, read = len(plan.names), plan.name, plan.price, plan.read_price
    for line, cells in chunk:
        if len(cells) == width:
            name = cells[name_at]
            if name and not (type(name) is str and name.isspace()):
                try:
                    price = read(cells[price_at])
                except ValueError:
                    price = None
                if price is not None and price >= 0:
                    values = cells if type(cells) is list else list(cells)
                    values[price_at] = price
                    batch.append(values)
                    continue
        _convert_row(plan, line, cells, batch, skipped)
    return batch


def _convert_row(plan: _Plan, line: int, cells: Sequence[Any], batch: _Batch,
                 skipped: list[tuple[int, str]]) -> None:
    """Add one unusual row to ``batch``, count it as blank, or record why it is skipped."""
    values, reason = _convert(plan, cells)
    if values is not None:
        batch.append(values)
    elif not reason:
        batch.blank += 1
    elif len(skipped) < REPORT_SKIPPED:
        skipped.append((line, reason))


def _plan(headers: list[str], names: list[str], roles: dict[str, str],
          sample: list[Sequence[Any]]) -> _Plan:
    index = {header: i for i, header in enumerate(headers)}
    missing = [role for role in ("name", "price") if role not in roles]
    if missing:
        what = " ni ".join({"name": "el nombre del producto", "price": "el precio"}[m]
                           for m in missing)
        raise ImportRefused(f"No encontré qué columna tiene {what} (columnas: "
                            f"{', '.join(h or '(sin título)' for h in headers)}); nómbrala en "
                            "la fila de títulos, p. ej. «Precio».")
    price = index[roles["price"]]
    decimal_comma = writes_decimal_comma(row[price] for row in sample if price < len(row))
    return _Plan(names=names, price=price, name=index[roles["name"]],
                 stock=index[roles["stock"]] if "stock" in roles else None,
                 decimal_comma=decimal_comma, read_price=price_reader(decimal_comma))


def _create(conn: sqlite3.Connection, names: list[str], roles: dict[str, str],
            headers: list[str]) -> None:
    role_of = {headers.index(header): role for role, header in roles.items()}
    definitions = ["id INTEGER PRIMARY KEY"]
    for i, name in enumerate(names):
        kind = {"price": "REAL", "stock": "INTEGER"}.get(role_of.get(i, ""), "")
        definitions.append(f'"{name}" {kind}'.rstrip())
    conn.execute(f"CREATE TABLE {TABLE} ({', '.join(definitions)})")


def _fts_declaration(searchable: Sequence[str]) -> str:
    """The full-text table over ``searchable`` (its content is table ``products``)."""
    quoted = ", ".join(f'"{name}"' for name in searchable)
    return (f"CREATE VIRTUAL TABLE {TABLE}_fts USING fts5({quoted}, content='{TABLE}', "
            f"content_rowid='id', tokenize='unicode61 remove_diacritics 2')")


class _FullTextBuild(threading.Thread):
    """Builds the full-text index of the loaded rows into a private side file.

    SQLite lets one connection write a file at a time, and building the role indexes and the
    FTS5 index one after the other leaves a core idle: this thread reads the committed rows
    (the catalog is in WAL mode by then, so reading does not block the index builder) and
    writes the FTS5 index into ``side``, with the GIL released for the whole statement. The
    catalog then takes the finished index's shadow tables (``_copy_full_text``). An error is
    kept in ``error`` for the caller, which waits for the thread either way.
    """

    def __init__(self, catalog: Path, side: Path, searchable: Sequence[str]) -> None:
        super().__init__(name="kratos-import-fts", daemon=True)
        self.catalog, self.side, self.searchable = catalog, side, list(searchable)
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            self._build()
        except BaseException as error:  # handed to the importing thread, which reports it
            self.error = error

    def _build(self) -> None:
        conn = sqlite3.connect(self.side, isolation_level=None)
        try:
            for pragma in _SCRATCH_PRAGMAS:
                conn.execute(f"PRAGMA {pragma}")
            conn.execute("ATTACH DATABASE ? AS catalog", (str(self.catalog.resolve()),))
            conn.execute(_fts_declaration(self.searchable))
            quoted = ", ".join(f'"{name}"' for name in self.searchable)
            conn.execute("BEGIN")
            conn.execute(f"INSERT INTO {TABLE}_fts (rowid, {quoted}) "
                         f"SELECT id, {quoted} FROM catalog.{TABLE}")
            conn.execute("COMMIT")
        finally:
            conn.close()


def _copy_full_text(conn: sqlite3.Connection, searchable: Sequence[str]) -> None:
    """Create the catalog's FTS5 table and fill it with the index built in schema ``side``.

    Both tables are declared identically, so their shadow tables (``_data``, ``_idx``,
    ``_docsize``, ``_config``: the shadow tables FTS5 documents) are interchangeable; the
    copy moves pages of blobs and re-tokenizes nothing.
    """
    conn.execute(_fts_declaration(searchable))
    for shadow in _FTS_SHADOWS:
        conn.execute(f"DELETE FROM main.{TABLE}_fts_{shadow}")
        conn.execute(f"INSERT INTO main.{TABLE}_fts_{shadow} "
                     f"SELECT * FROM side.{TABLE}_fts_{shadow}")


def _finish(conn: sqlite3.Connection, tmp: Path, names: list[str], roles: dict[str, str],
            headers: list[str]) -> None:
    """Full-text index over the text role columns, indexes on the role columns, statistics.

    Called with the rows loaded in an open transaction; returns with everything committed
    and the file back in rollback-journal mode (one file, nothing beside it).
    """
    column = {role: names[headers.index(header)] for role, header in roles.items()}
    searchable = [column[role] for role in FTS_ROLES if role in column]
    conn.execute("COMMIT")
    side = _side_file(tmp)
    conn.execute("PRAGMA journal_mode=WAL")
    builder = _FullTextBuild(tmp, side, searchable)
    builder.start()
    try:
        conn.execute("BEGIN")
        for roles_of_index in _INDEXED:
            if all(role in column for role in roles_of_index):
                parts = [column[role] for role in roles_of_index]
                conn.execute(f'CREATE INDEX "{TABLE}_{"_".join(parts)}" ON {TABLE} '
                             f'({", ".join(chr(34) + p + chr(34) for p in parts)})')
        conn.execute("COMMIT")
    finally:
        builder.join()
    if builder.error is not None:
        raise builder.error
    conn.execute("ATTACH DATABASE ? AS side", (str(side.resolve()),))
    conn.execute("BEGIN")
    _copy_full_text(conn, searchable)
    # Statistics from a sample of each index: enough for the planner, seconds less at 1M rows.
    conn.execute("PRAGMA analysis_limit=1000")
    conn.execute("ANALYZE")
    conn.execute(f"PRAGMA application_id = {IMPORT_APPLICATION_ID}")
    conn.execute("COMMIT")
    conn.execute("DETACH DATABASE side")
    conn.execute("PRAGMA journal_mode=DELETE")


def _side_file(tmp: Path) -> Path:
    """The full-text builder's private file beside the catalog's temporary file."""
    return tmp.with_name(tmp.name + ".fts")


def _remove_scratch(tmp: Path) -> None:
    """Delete the temporary catalog and everything SQLite or the builder left beside it."""
    side = _side_file(tmp)
    for path in (tmp, side):
        for suffix in ("", "-wal", "-shm", "-journal"):
            Path(f"{path}{suffix}").unlink(missing_ok=True)


def _temporary_beside(path: Path) -> Path:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
    os.close(os.open(tmp, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o666))
    return tmp


def is_imported_catalog(path: Path) -> bool:
    """Whether ``path`` is a catalog ``kratos import`` wrote (so another import may replace it)."""
    try:
        conn = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)
        try:
            (value,) = conn.execute("PRAGMA application_id").fetchone()
        finally:
            conn.close()
    except sqlite3.Error:
        return False
    return value == IMPORT_APPLICATION_ID


class _RowWriter(threading.Thread):
    """Writes converted batches into the catalog while the importing thread reads the next.

    Reading and converting rows is Python work that holds the GIL; inserting is SQLite's C
    work, which releases it inside each statement. A batch goes in as multi-row INSERT
    statements (as many rows as SQLite's parameter limit allows) rather than one statement
    a row, because a thread that needs the GIL back after every row would wait for the
    reading thread's switch interval each time. The queue holds at most ``QUEUE_BATCHES``
    batches, so memory stays bounded. After an error the thread keeps taking batches (and
    drops them) so the reader never blocks; ``error`` says what went wrong.
    """

    QUEUE_BATCHES = 16

    def __init__(self, conn: sqlite3.Connection, names: list[str]) -> None:
        super().__init__(name="kratos-import-rows", daemon=True)
        self.conn = conn
        self.batches: queue.Queue[list[Sequence[Any]] | None] = queue.Queue(self.QUEUE_BATCHES)
        self.error: BaseException | None = None
        columns = ", ".join(f'"{name}"' for name in names)
        # Blank cells become NULL inside SQLite, cheaper than a Python pass over every cell.
        self._head = f"INSERT INTO {TABLE} ({columns}) VALUES "
        self._row = f"({', '.join(['nullif(?, ' + chr(39) * 2 + ')'] * len(names))})"
        limit = conn.getlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER)
        self.per_statement = max(1, min(BATCH_ROWS, limit // max(1, len(names))))
        self._statements: dict[int, str] = {}

    def put(self, batch: list[Sequence[Any]] | None) -> None:
        """Queue a batch (``None`` ends the load); waits while the queue is full."""
        self.batches.put(batch)

    def run(self) -> None:
        while (batch := self.batches.get()) is not None:
            if self.error is not None:
                continue
            try:
                self._write(batch)
            except BaseException as error:  # handed to the importing thread, which reports it
                self.error = error

    def _write(self, batch: list[Sequence[Any]]) -> None:
        step = self.per_statement
        for start in range(0, len(batch), step):
            rows = batch[start:start + step]
            sql = self._statements.get(len(rows))
            if sql is None:
                sql = self._statements[len(rows)] = self._head + ",".join([self._row] * len(rows))
            self.conn.execute(sql, list(chain.from_iterable(rows)))


def _load(tmp: Path, source: Rows, names: list[str], plan: _Plan, roles: dict[str, str],
          buffered: list[tuple[int, Sequence[Any]]], progress: Progress,
          skipped: list[tuple[int, str]]) -> tuple[int, int]:
    """Stream every row into ``tmp``; return (loaded, skipped count)."""
    # The row writer uses the connection only while this thread waits for it (join).
    conn = sqlite3.connect(tmp, isolation_level=None, check_same_thread=False)
    try:
        for pragma in _SCRATCH_PRAGMAS:
            conn.execute(f"PRAGMA {pragma}")
        _create(conn, names, roles, source.headers)
        conn.execute("BEGIN")
        writer = _RowWriter(conn, names)
        # A thread waiting for the GIL asks for it after the switch interval (5 ms by
        # default); the writer asks after every statement, so it waits less this way.
        interval = sys.getswitchinterval()
        sys.setswitchinterval(SWITCH_SECONDS)
        writer.start()
        try:
            loaded, skipped_count = _feed(writer, source, plan, buffered, progress, skipped)
        finally:
            writer.put(None)
            writer.join()
            sys.setswitchinterval(interval)
        if writer.error is not None:
            raise writer.error
        if loaded:
            _finish(conn, tmp, names, roles, source.headers)
        else:
            conn.execute("COMMIT")
    finally:
        conn.close()
    return loaded, skipped_count


def _feed(writer: _RowWriter, source: Rows, plan: _Plan,
          buffered: list[tuple[int, Sequence[Any]]], progress: Progress,
          skipped: list[tuple[int, str]]) -> tuple[int, int]:
    """Read and convert every row, handing batches to ``writer``; (loaded, skipped count)."""
    loaded = skipped_count = last_done = 0
    rows = _chain(buffered, source.rows)
    for number, chunk in enumerate(iter(lambda: list(islice(rows, BATCH_ROWS)), []), 1):
        batch = _convert_batch(plan, chunk, skipped)
        skipped_count += len(chunk) - len(batch) - batch.blank
        writer.put(batch)
        loaded += len(batch)
        if writer.error is not None:
            break
        # Asking a file its position is a system call, which hands the GIL to the writer
        # and waits to get it back: done every few batches, not after each.
        if number % PROGRESS_BATCHES == 0:
            done = source.done()
            progress.advance(done - last_done)
            last_done = done
    progress.advance(source.done() - last_done)
    return loaded, skipped_count


def _chain(first: list[tuple[int, Sequence[Any]]],
           rest: Iterator[tuple[int, Sequence[Any]]]) -> Iterator[tuple[int, Sequence[Any]]]:
    yield from first
    yield from rest


def import_catalog(file: Path, output: Path, notes_path: Path, *, sheet: str | None = None,
                   show_progress: bool = True, output_named: bool = False) -> ImportReport:
    """Import ``file`` into a new catalog at ``output``; ``ImportRefused`` leaves it untouched.

    Roles the notes file already sets for these headers (``[roles]``, by column name) are
    kept (``""`` drops an optional role); a role naming a column the file lacks is dropped,
    detection decides, and the report says so. The notes file is rewritten with the roles
    used. ``output_named``: the owner chose ``output`` (``--output``), which the advice of a
    refusal takes into account.
    """
    started = time.perf_counter()
    output = Path(output)
    _check_output(output, output_named)
    source = open_rows(file, sheet)
    try:
        buffered = list(islice(source.rows, SAMPLE_ROWS))
    except (csv.Error, UnicodeDecodeError) as error:
        raise ImportRefused(f"{Path(file).name} no se puede leer como tabla "
                            f"({_in_spanish(error)}).") from None
    detection = detect(source.headers, [cells for _, cells in buffered])
    names = column_names(source.headers, detection.columns.get("price"))
    roles, dropped, corrections = _with_notes(dict(detection.columns), notes_path,
                                              source.headers, names)
    plan = _plan(source.headers, names, roles, [cells for _, cells in buffered])
    output.parent.mkdir(parents=True, exist_ok=True)
    tmp = _temporary_beside(output)
    skipped: list[tuple[int, str]] = []
    progress = Progress(f"Importando {Path(file).name}", source.total, source.unit,
                        enabled=show_progress)
    try:
        loaded, skipped_count = _load(tmp, source, names, plan, roles, buffered, progress,
                                      skipped)
        if not loaded:
            reason = f" (la primera: línea {skipped[0][0]}, {skipped[0][1]})" if skipped else ""
            raise ImportRefused(f"{Path(file).name} no tiene ninguna fila con nombre y precio"
                                f"{reason}.")
        _fsync(tmp)
        os.replace(tmp, output)
    except (csv.Error, sqlite3.Error) as error:
        raise ImportRefused(f"{Path(file).name} no se pudo importar ({_in_spanish(error)}).") \
            from None
    finally:
        progress.close()
        _remove_scratch(tmp)
    ambiguities = [*detection.ambiguities, *corrections]
    if source.recoded.count:
        shown = ", ".join(str(n) for n in source.recoded.lines)
        more = "…" if source.recoded.count > len(source.recoded.lines) else ""
        ambiguities.append(f"{source.recoded.count} líneas no estaban en UTF-8 y las leí como "
                           f"Windows-1252 (líneas {shown}{more})"
                           "; revisa sus tildes.")
    columns = dict(zip(source.headers, names, strict=True))
    ambiguities += _blank_stock(output, roles, columns)
    write_notes(notes_path, roles, source.headers, names, dropped=dropped)
    return ImportReport(output=output, notes_path=notes_path, loaded=loaded, skipped=skipped,
                        skipped_count=skipped_count, roles=roles, columns=columns,
                        ambiguities=ambiguities, seconds=time.perf_counter() - started,
                        read_as=source.notes)


def _blank_stock(output: Path, roles: dict[str, str], columns: dict[str, str]) -> list[str]:
    """The report's word on products with a blank stock cell (when stock says availability):
    they are shown without it, neither available nor sold out."""
    header = roles.get("stock")
    if header is None or "availability" in roles:
        return []
    with contextlib.closing(sqlite3.connect(output)) as conn:
        (blank,) = conn.execute(f'SELECT count(*) FROM {TABLE} WHERE "{columns[header]}" IS NULL'
                                ).fetchone()
    if not blank:
        return []
    products = "1 producto" if blank == 1 else f"{blank:,} productos"
    return [f"{products} sin stock anotado (celda vacía en "
            f"«{header}»): los muestro sin disponibilidad, ni disponibles ni agotados; "
            "escribe 0 en los agotados."]


def _check_output(output: Path, named: bool) -> None:
    """Refuse an output that is a folder, or a file KRATOS did not create (it may hold the
    store's own data); the advice fits whether the owner chose it with ``--output``."""
    where = f"--output {output}" if named else f"CATALOG_DB ({output})"
    if output.is_dir():
        raise ImportRefused(f"{where} es una carpeta: indica el archivo del catálogo, por "
                            f"ejemplo {output / 'catalogo.db'}.")
    if not output.exists() or not output.stat().st_size or is_imported_catalog(output):
        return
    from bot.migrations import is_demo_catalog

    if not is_demo_catalog(output):
        advice = ("elige otro nombre de archivo con --output" if named
                  else "indica otro archivo con --output, por ejemplo --output data/tienda.db")
        raise ImportRefused(f"No reemplazo {output}: no es un catálogo que KRATOS haya creado y "
                            f"puede tener datos de la tienda; {advice}.")


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _with_notes(detected: dict[str, str], notes_path: Path, headers: list[str],
                names: list[str]) -> tuple[dict[str, str], list[str], list[str]]:
    """Detected roles (role -> header) with the notes' choices, the roles the notes drop, and
    a sentence for each choice that could not be kept.

    A column name sets a role; ``""`` drops an optional role (name and price cannot be
    dropped). A column this file lacks (a typo, a renamed header) is dropped on purpose: the
    catalog cannot use it, detection decides instead, and the report says which column took
    the role so the owner can correct it again.
    """
    notes = _role_notes(notes_path)
    header_of = dict(zip(names, headers, strict=True))
    roles = dict(detected)
    lost: list[tuple[str, str]] = []
    dropped: list[str] = []
    for role in ROLES:
        column = notes.get(role)
        if not isinstance(column, str):
            continue
        if column in header_of:
            header = header_of[column]
            roles = {r: h for r, h in roles.items() if h != header}
            roles[role] = header
        elif column or role in ("name", "price"):
            lost.append((role, column))
        else:
            roles.pop(role, None)
            dropped.append(role)
    return roles, dropped, [_lost_correction(notes_path, role, column, roles, header_of)
                   for role, column in lost]


def _role_notes(notes_path: Path) -> dict[str, Any]:
    """The ``[roles]`` section of the notes file; empty when missing or unreadable."""
    try:
        notes = tomllib.loads(notes_path.read_text(encoding="utf-8")).get(NOTES_SECTION, {}) \
            if notes_path.is_file() else {}
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError):
        notes = {}
    return notes if isinstance(notes, dict) else {}


def _lost_correction(notes_path: Path, role: str, column: str, roles: dict[str, str],
                     header_of: dict[str, str]) -> str:
    """One sentence for the report: a correction in the notes that this import could not keep."""
    column_of = {header: name for name, header in header_of.items()}
    used = f"usé «{column_of[roles[role]]}»" if role in roles else "ninguna columna lo tiene"
    if not column:
        return (f"{notes_path.name} dejaba vacío el rol {role} ({ROLE_NAMES[role]}), pero el "
                f"catálogo lo necesita; {used}.")
    return (f"{notes_path.name} decía {role} = «{column}», pero el archivo no tiene esa "
            f"columna; {used} (columnas: {', '.join(header_of)}).")


def notes_mistakes(catalog: Path, notes_path: Path) -> list[str]:
    """Role corrections in the notes file that name a column (or table) the catalog lacks,
    each as one Spanish sentence for the owner; empty when all fit or either file is missing.

    KRATOS then answers with the detected role instead (``bot.catalog.roles``) and logs a
    warning, which terminal commands write to their log file: this says it where the owner
    looks. Only the notes' own ``table`` is checked when they name one, else any table.
    """
    notes = _role_notes(notes_path)
    if not notes or not Path(catalog).is_file():
        return []
    from bot.catalog.reader import open_read_only

    try:
        conn = open_read_only(Path(catalog))
        try:
            tables = {name: {row[1] for row in conn.execute(f"PRAGMA table_info({_quoted(name)})")}
                      for (name,) in conn.execute("SELECT name FROM sqlite_master WHERE type IN"
                                                  " ('table', 'view')")}
        finally:
            conn.close()
    except sqlite3.Error:
        return []
    table = notes.get("table")
    if isinstance(table, str) and table and table not in tables:
        return [f"{notes_path.name} nombra la tabla «{table}», que {Path(catalog).name} no "
                "tiene: uso los roles que detecto."]
    columns = tables[table] if isinstance(table, str) and table else set().union(*tables.values())
    return [f"{notes_path.name} dice {role} = «{notes[role]}», pero {Path(catalog).name} no tiene "
            f"esa columna: uso la que detecto; corrígelo allí." for role in ROLES
            if isinstance(notes.get(role), str) and notes[role] and notes[role] not in columns]


def _quoted(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _toml_key(key: str) -> str:
    return key if re.fullmatch(r"[A-Za-z0-9_-]+", key) else json.dumps(key, ensure_ascii=False)


def write_notes(path: Path, roles: dict[str, str], headers: list[str], names: list[str], *,
                dropped: Sequence[str] = ()) -> None:
    """Record the roles (and each column's original header) in the notes file, atomically;
    ``dropped`` roles are written as ``""`` so the owner's "none" holds at the next import.

    Other sections of an existing notes file (notes on other tables) are kept, and so are the
    owner's own notes on this table's columns.
    """
    existing: dict[str, Any] = {}
    if path.is_file():
        try:
            existing = tomllib.loads(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError):
            existing = {}
    column_of = dict(zip(headers, names, strict=True))
    lines = ["# Qué guarda cada columna del catálogo (sus roles), escrito por `kratos import`.",
             "# Para corregir un rol, escribe el nombre de otra columna (o \"\" para ninguno) y",
             "# vuelve a importar o reinicia KRATOS. Los roles:",
             *(f"#   {role} = {ROLE_NAMES[role]}" for role in ROLES),
             f"[{NOTES_SECTION}]", f"table = {json.dumps(TABLE)}"]
    lines += [f"{role} = {json.dumps(column_of[roles[role]], ensure_ascii=False)}"
              if role in roles else f'{role} = ""'
              for role in ROLES if role in roles or role in dropped]
    own = existing.get(TABLE, {}) if isinstance(existing.get(TABLE), dict) else {}
    lines += ["", f"[{TABLE}]"]
    for header, name in column_of.items():
        note = own.get(name) or f"Columna «{header}» del archivo de la tienda" + (
            "; precio en soles" if roles.get("price") == header else "")
        lines.append(f"{_toml_key(name)} = {json.dumps(str(note), ensure_ascii=False)}")
    for table, notes in existing.items():
        if table in (NOTES_SECTION, TABLE) or not isinstance(notes, dict):
            continue
        lines += ["", f"[{_toml_key(table)}]"]
        lines += [f"{_toml_key(str(k))} = {json.dumps(str(v), ensure_ascii=False)}"
                  for k, v in notes.items() if not isinstance(v, dict)]
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = _temporary_beside(path)
    tmp.write_text("\n".join(lines) + "\n", encoding="utf-8")
    os.replace(tmp, path)


def import_command(settings: Settings, file: Path, *, output: Path | None = None,
                   sheet: str | None = None) -> int:
    """``kratos import FILE``: print the report; 1 with one sentence when the file is unusable."""
    target = Path(output) if output is not None else settings.catalog_db
    notes = target.with_suffix(".toml") if output is not None else settings.notes_path
    try:
        report = import_catalog(Path(file), target, notes, sheet=sheet,
                                output_named=output is not None)
    except ImportRefused as error:
        print(f"kratos: {error}", file=sys.stderr)
        return 1
    print(report.text())
    return 0


__all__ = ["ImportRefused", "ImportReport", "import_catalog",
           "import_command", "notes_mistakes", "open_rows"]
