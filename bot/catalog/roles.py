"""Column roles: which column of a store's catalog holds the product name, the price, the brand...

A store's spreadsheet or SQLite file has its own column names ("Descripción", "P. Venta",
"Laboratorio", "autor") and its own ways of writing values ("S/ 1.299,90", "Sí"/"No"). Roles are
found from the headers, in Spanish or English, and checked against the values; a column whose
header says nothing is judged by its values alone (a column of photo URLs is the image). The
result is recorded in the catalog's notes file (``catalog.toml``) under ``[roles]``, where the
owner can correct it; what the notes say always wins over what was detected.

``CatalogLayout`` then tells basic mode where each piece of data is: one FROM source that shows
any catalog under the standard names (``id``, ``name``, ``price``, ``brand``...), so its SQL
builder works on any schema.
"""

from __future__ import annotations

import logging
import re
import sqlite3
import tomllib
import unicodedata
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bot.catalog.reader import open_read_only

logger = logging.getLogger(__name__)

#: Every role, in the order reports list them.
ROLES = ("name", "price", "category", "family", "brand", "model", "color", "size", "stock",
         "availability", "description", "sku", "image")
#: The notes file's section for roles (a store table called "roles" keeps its notes elsewhere).
NOTES_SECTION = "roles"
#: Rows read to judge a column by its values.
SAMPLE_ROWS = 500

# Header words per role, folded (lower case, no accents, words joined by "_"). An exact match
# weighs 3, a header that contains one of these words 2.
_HEADERS: dict[str, tuple[str, ...]] = {
    "name": ("nombre", "producto", "nombre_producto", "nombre_del_producto", "articulo",
             "titulo", "title", "name", "product", "product_name", "item", "item_name",
             "descripcion_producto", "denominacion", "medicamento", "libro"),
    "price": ("precio", "precio_venta", "precio_de_venta", "pvp", "p_venta", "pventa",
              "precio_unitario", "precio_soles", "precio_s", "price", "unit_price",
              "sale_price", "importe", "valor", "precio_publico", "pv"),
    "category": ("categoria", "category", "tipo", "type", "genero", "genre", "rubro", "clase",
                 "subcategoria", "subcategory", "grupo", "tipo_producto", "accion_terapeutica"),
    "family": ("familia", "family", "linea", "line", "departamento", "department", "seccion",
               "section", "division"),
    "brand": ("marca", "brand", "laboratorio", "lab", "autor", "author", "editorial",
              "publisher", "fabricante", "manufacturer", "maker", "proveedor", "vendor"),
    "model": ("modelo", "model"),
    "color": ("color", "colour", "colores"),
    "size": ("presentacion", "presentation", "talla", "size", "tamano", "medida", "contenido",
             "formato", "empaque", "pack", "unidad_de_medida", "um", "volumen", "peso"),
    "stock": ("stock", "unidades", "units", "cantidad", "qty", "quantity", "existencias",
              "existencia", "inventario", "inventory", "saldo", "stock_actual", "on_hand"),
    "availability": ("disponible", "disponibilidad", "availability", "available", "estado",
                     "status", "en_stock", "in_stock", "hay_stock", "stock_disponible"),
    "description": ("descripcion", "description", "detalle", "detalles", "details",
                    "caracteristicas", "features", "resumen", "sinopsis", "notas"),
    "sku": ("sku", "codigo", "cod", "code", "id_producto", "ean", "barcode", "codigo_barras",
            "referencia", "ref", "item_code", "isbn", "upc", "codigo_interno", "product_id"),
    "image": ("imagen", "image", "foto", "photo", "img", "picture", "url_imagen", "image_url",
              "foto_url", "thumbnail"),
}
#: Header words that look like a role but are not it ("precio de costo" is not the sale price).
_NOT_PRICE = ("costo", "cost", "compra", "purchase", "descuento", "discount")

_YES = frozenset({"si", "s", "yes", "y", "true", "verdadero", "1", "x", "disponible",
                  "en stock", "in stock", "hay", "available", "con stock", "activo"})
_NO = frozenset({"no", "n", "false", "falso", "0", "agotado", "agotada", "sin stock",
                 "no disponible", "out of stock", "sold out", "unavailable", "inactivo"})
_SOON = frozenset({"por llegar", "proximamente", "en camino", "pedido", "a pedido",
                   "preventa", "coming soon", "backorder", "on order"})
#: The catalog values basic mode's vocabulary knows availability by.
IN_STOCK, OUT_OF_STOCK, ON_ORDER = "disponible", "agotado", "por llegar"

_URL = re.compile(r"^(?:https?://|www\.)\S+$", re.I)
_MONEY_MARK = re.compile(r"^\s*(?:s/\.?|pen|\$)", re.I)
#: A shop's amount: an optional currency mark, digits with "." / "," / spaces between them (at
#: most two decimals after the last mark), an optional "soles".
_SHOP_AMOUNT = re.compile(r"(?i)\s*(?:s/\.?|pen|\$)?\s*(\d(?:[\d\u00a0 ]*\d)?(?:[.,]\d+)*)"
                          r"\s*(?:soles|pen)?\s*$")
_NUMBER_TEXT = re.compile(r"^\s*(?:s/\.?|pen|\$)?\s*-?[\d.,\s]+\s*(?:soles|pen)?\s*$", re.I)
_INTEGER_TEXT = re.compile(r"^\s*\d+(?:\.0+)?\s*$")
#: Spanish headers lose their accents in column names; answers put the common ones back.
_ACCENTED = {"genero": "género", "categoria": "categoría", "titulo": "título",
             "presentacion": "presentación", "linea": "línea", "seccion": "sección",
             "codigo": "código", "descripcion": "descripción", "tamano": "tamaño",
             "division": "división", "accion terapeutica": "acción terapéutica"}


def fold(text: str) -> str:
    """Lower case without accents, runs of anything but letters and digits as one "_"."""
    decomposed = unicodedata.normalize("NFKD", str(text).lower())
    plain = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    return re.sub(r"[^a-z0-9]+", "_", plain).strip("_")


def availability_state(value: Any) -> str | None:
    """``disponible``, ``agotado`` or ``por llegar`` for a shop's way of saying it, else None."""
    if value is None:
        return None
    text = fold(str(value)).replace("_", " ")
    if text in _YES:
        return IN_STOCK
    if text in _NO:
        return OUT_OF_STOCK
    if text in _SOON:
        return ON_ORDER
    return None


def parse_price(value: Any, decimal_comma: bool = False) -> float | None:
    """An amount in soles as a shop writes it; None for a blank; ``ValueError`` for non-money.

    ``S/ 1.299,90``, ``1,299.90``, ``12,50``, ``S/.25``, ``PEN 40``, ``1299.9 soles`` and plain
    numbers. The last ``.`` or ``,`` followed by one or two digits is the decimal mark; a lone
    separator followed by three digits is a thousands mark unless ``decimal_comma`` (the column
    writes decimals with a comma, so "1.299" is 1299).
    """
    if value is None:
        return None
    if isinstance(value, bool):
        raise ValueError("not an amount")
    if isinstance(value, int | float):
        return float(value)
    text = str(value).strip()
    if not text:
        return None
    if not decimal_comma:
        try:
            return float(text)
        except ValueError:
            pass
    match = _SHOP_AMOUNT.match(text)
    if match is None:
        raise ValueError("not an amount")
    return float(_decimal_point(match.group(1).replace(" ", "").replace("\u00a0", ""),
                                decimal_comma))


def price_reader(decimal_comma: bool) -> Callable[[Any], float | None]:
    """``parse_price`` for one column's convention, with a fast path for its usual shape.

    Millions of rows go through this: the usual "S/ 1.299,90" (or "1299.90") is read with one
    ``str.translate`` and ``float``; anything else takes ``parse_price``'s full reading.
    """
    drop = str.maketrans(",", ".", ". \u00a0") if decimal_comma else str.maketrans("", "", " ")

    def read(value: Any) -> float | None:
        if type(value) is not str:
            return parse_price(value, decimal_comma)
        text = value.strip()
        if not text:
            return None
        if text[1:2] == "/" and text[0] in "Ss":
            text = text[2:].lstrip(". ")
        # Only shapes where the fast reading cannot differ from the full one: no comma for a
        # point-decimal column; for a comma-decimal one, no point or a point before the comma.
        if ("," not in text) if not decimal_comma else ("." not in text
                                                          or text.rfind(",") > text.rfind(".")):
            try:
                return float(text.translate(drop))
            except ValueError:
                pass
        return parse_price(value, decimal_comma)

    return read


def _decimal_point(digits: str, decimal_comma: bool) -> str:
    """``1.299,90`` -> ``1299.90``: find the decimal mark, drop the thousands marks."""
    last = max(digits.rfind("."), digits.rfind(","))
    if last < 0:
        return digits
    mark = digits[last]
    tail = len(digits) - last - 1
    if tail == 3 and (digits.count(mark) > 1 or mark != ("," if decimal_comma else ".")):
        return digits.replace(".", "").replace(",", "")
    return digits[:last].replace(".", "").replace(",", "") + "." + digits[last + 1:]


def writes_decimal_comma(values: Iterable[Any]) -> bool:
    """Whether a column's amounts use a decimal comma ("12,50", "1.299,90")."""
    comma = dot = 0
    for value in values:
        if not isinstance(value, str):
            continue
        if re.search(r",\d{1,2}\s*$", value):
            comma += 1
        elif re.search(r"\.\d{1,2}\s*$", value):
            dot += 1
    return comma > dot


@dataclass(frozen=True)
class ColumnProfile:
    """What a sample of one column's values looks like (shares of its non-blank values)."""

    filled: int
    distinct: int
    money: float
    integer: float
    yes_no: float
    url: float
    mean_length: float
    marked_money: float


def profile_values(values: Sequence[Any]) -> ColumnProfile:
    """Judge a column's sampled values: how many look like money, whole numbers, yes/no, URLs."""
    filled = [v for v in values if v is not None and str(v).strip() != ""]
    n = len(filled) or 1
    money = integer = yes_no = url = marked = 0
    length = 0
    for value in filled:
        text = str(value).strip()
        length += len(text)
        if isinstance(value, int | float) and not isinstance(value, bool):
            money += 1
            integer += float(value).is_integer() and value >= 0
            yes_no += value in (0, 1)
            continue
        if _NUMBER_TEXT.match(text) and re.search(r"\d", text):
            money += 1
            marked += bool(_MONEY_MARK.match(text))
        integer += bool(_INTEGER_TEXT.match(text))
        yes_no += availability_state(text) is not None
        url += bool(_URL.match(text))
    return ColumnProfile(
        filled=len(filled), distinct=len({str(v) for v in filled}), money=money / n,
        integer=integer / n, yes_no=yes_no / n, url=url / n, mean_length=length / n,
        marked_money=marked / n,
    )


def header_score(header: str, role: str) -> int:
    """3 when the header is one of the role's words, 2 when it contains one, else 0."""
    key = fold(header)
    words = _HEADERS[role]
    if key in words:
        return 3
    parts = set(key.split("_"))
    if role == "price" and parts & set(_NOT_PRICE):
        return 0
    if any(word in parts or (len(word) > 4 and key.startswith(word)) for word in words):
        return 2
    return 0


def _fits(role: str, profile: ColumnProfile) -> bool:
    """Whether a column's values can hold the role its header suggests."""
    if profile.filled == 0:
        # No value contradicts the header (the rows will be reported as lacking it).
        return True
    if role == "price":
        return profile.money >= 0.8
    if role == "stock":
        return profile.integer >= 0.8
    if role == "availability":
        return profile.yes_no >= 0.8
    if role == "image":
        return profile.url >= 0.5
    if role in ("name", "category", "family", "brand"):
        return profile.money < 0.9 and profile.url < 0.5
    return True


@dataclass(frozen=True)
class Detection:
    """Roles found for a set of columns: role -> column, and what was ambiguous."""

    columns: dict[str, str]
    ambiguities: tuple[str, ...] = ()

    def role_of(self, column: str) -> str | None:
        return next((role for role, name in self.columns.items() if name == column), None)


def detect(headers: Sequence[str], samples: Sequence[Sequence[Any]]) -> Detection:
    """Find each column's role from its header and its sampled values (rows of ``samples``)."""
    profiles = {h: profile_values([row[i] if i < len(row) else None for row in samples])
                for i, h in enumerate(headers)}
    chosen: dict[str, str] = {}
    notes: list[str] = []
    for role in ROLES:
        candidates = sorted(
            ((header_score(h, role), -i, h) for i, h in enumerate(headers)
             if h not in chosen.values() and header_score(h, role)),
            reverse=True)
        fitting = [c for c in candidates if _fits(role, profiles[c[2]])]
        for score, _, header in candidates:
            if (score, _, header) not in fitting:
                notes.append(f"«{header}» parece {role} por su nombre, pero sus valores no.")
        if fitting:
            chosen[role] = fitting[0][2]
            for _, _, other in fitting[1:]:
                notes.append(f"«{other}» también parece {role}; uso «{fitting[0][2]}».")
    _by_values(headers, profiles, chosen)
    return Detection(chosen, tuple(notes))


def _by_values(headers: Sequence[str], profiles: dict[str, ColumnProfile],
               chosen: dict[str, str]) -> None:
    """Roles no header named, judged from the values of the columns still unassigned."""
    free = [h for h in headers if h not in chosen.values() and profiles[h].filled]
    if "image" not in chosen:
        urls = [h for h in free if profiles[h].url >= 0.8]
        if urls:
            chosen["image"] = urls[0]
            free.remove(urls[0])
    if "price" not in chosen:
        marked = [h for h in free if profiles[h].marked_money >= 0.5 and profiles[h].money >= 0.8]
        if marked:
            chosen["price"] = marked[0]
            free.remove(marked[0])
    if "name" not in chosen and "description" in chosen and \
            profiles[chosen["description"]].mean_length <= 80:
        # Point-of-sale exports call the product's name "Descripción".
        chosen["name"] = chosen.pop("description")
    if "name" not in chosen:
        texts = [h for h in free if profiles[h].money < 0.5 and profiles[h].url < 0.5
                 and 3 <= profiles[h].mean_length <= 120]
        if texts:
            chosen["name"] = max(texts, key=lambda h: (profiles[h].distinct,
                                                       profiles[h].mean_length))


def role_label(column: str) -> str:
    """The store's word for a column, as answers say it: "genero" -> "género"."""
    words = fold(column).replace("_", " ")
    return _ACCENTED.get(words, words)


def plural(word: str) -> str:
    """A Spanish plural for a column's word: autor -> autores, marca -> marcas, luz -> luces."""
    if not word or word.endswith("s"):
        return word
    last = word.split()[-1]
    head = word[: len(word) - len(last)]
    plain = fold(last)
    if plain.endswith("z"):
        return head + last[:-1] + "ces"
    if plain[-1:] in "aeiou":
        return head + last + "s"
    # "género" keeps its accent; "categoría" too; a stressed last syllable loses it: "camión".
    unaccented = {"ón": "on", "án": "an", "én": "en", "ín": "in", "ún": "un"}
    for accented, bare in unaccented.items():
        if last.endswith(accented):
            last = last[: -len(accented)] + bare
    return head + last + "es"


# --- Roles of a catalog file --------------------------------------------------------------------


@dataclass(frozen=True)
class CatalogRoles:
    """Roles of one catalog table, with how its availability values read."""

    table: str
    columns: dict[str, str]
    availability: dict[str, str] = field(default_factory=dict)  # raw value -> state
    ambiguities: tuple[str, ...] = ()
    source: str = "detected"  # "detected", or "notes" when the notes file set roles
    id_column: str | None = None  # the table's INTEGER PRIMARY KEY (its rowid), if it has one
    #: Columns with no role that sort the products into a few named groups ("Especie" with
    #: Perro/Gato, "Género" with Hombre/Mujer): customers name their values as filters.
    others: tuple[str, ...] = ()

    def column(self, role: str) -> str | None:
        return self.columns.get(role)


def load_role_notes(path: Path | None) -> dict[str, str]:
    """The ``[roles]`` section of the notes file: ``table`` and role -> column (may be empty)."""
    if path is None or not path.is_file():
        return {}
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as error:
        logger.warning("ignoring catalog notes %s: %s", path, error)
        return {}
    section = data.get(NOTES_SECTION)
    if not isinstance(section, dict):
        return {}
    return {str(k): str(v) for k, v in section.items() if isinstance(v, str)}


def _quoted(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _catalog_tables(conn: sqlite3.Connection) -> list[tuple[str, list[str]]]:
    """Ordinary tables and views with their columns, FTS tables and KRATOS's own left out."""
    entries = conn.execute(
        "SELECT name, sql FROM sqlite_master WHERE type IN ('table', 'view')"
        " AND name NOT LIKE 'sqlite_%' AND name != 'schema_migrations' ORDER BY name").fetchall()
    virtual = [name for name, sql in entries if re.match(r"\s*CREATE\s+VIRTUAL", sql or "", re.I)]
    shadows = tuple(f"{name}_" for name in virtual)
    tables = []
    for name, _sql in entries:
        if name in virtual or name.startswith(shadows) or name == "product_summary":
            continue
        columns = [row[1] for row in conn.execute(f"PRAGMA table_info({_quoted(name)})")]
        tables.append((name, columns))
    return tables


def _detect_table(conn: sqlite3.Connection, table: str, columns: list[str]) -> Detection:
    selected = ", ".join(_quoted(c) for c in columns)
    rows = conn.execute(f"SELECT {selected} FROM {_quoted(table)} LIMIT {SAMPLE_ROWS}").fetchall()
    return detect(columns, rows)


def find_roles(db_path: Path, notes_path: Path | None = None) -> CatalogRoles | None:
    """The roles of a catalog file's product table, corrected by its notes; None if none fits.

    Opens the file read-only. The table is the one the notes name, else the one where a name
    and a price are found with the most other roles (then the most columns).
    """
    notes = load_role_notes(notes_path)
    conn = open_read_only(Path(db_path))
    try:
        tables = dict(_catalog_tables(conn))
        best: tuple[tuple[int, int], str, Detection] | None = None
        for table, columns in tables.items():
            if notes.get("table") and table != notes["table"]:
                continue
            found = _detect_table(conn, table, columns)
            merged = _apply_notes(found.columns, notes, columns)
            if not {"name", "price"} <= merged.keys():
                continue
            rank = (len(merged), len(columns))
            if best is None or rank > best[0]:
                best = (rank, table, Detection(merged, found.ambiguities))
        if best is None:
            return None
        _, table, found = best
        states = _availability_values(conn, table, found.columns.get("availability"))
        id_column = _rowid_column(conn, table)
        others = _grouping_columns(conn, table, [c for c in tables[table]
                                                 if c not in found.columns.values()
                                                 and c != id_column])
    except sqlite3.Error as error:
        logger.warning("column roles of %s not found: %s", db_path, error)
        return None
    finally:
        conn.close()
    return CatalogRoles(table, dict(found.columns), states, found.ambiguities,
                        "notes" if notes else "detected", id_column, others)


#: A grouping column has at most this many distinct values, each at most this long.
GROUPING_VALUES, GROUPING_LENGTH = 30, 40


def _grouping_columns(conn: sqlite3.Connection, table: str, columns: Sequence[str]) -> tuple[
        str, ...]:
    """The columns among ``columns`` whose sampled values are a few short words that repeat:
    text only, 2 to ``GROUPING_VALUES`` distinct values, fewer than the rows that have one."""
    found = []
    for column in columns:
        quoted = _quoted(column)
        distinct, filled, longest, numbers = conn.execute(
            f"SELECT count(DISTINCT v), count(v), max(length(v)),"
            f" sum(typeof(v) IN ('integer', 'real')) FROM (SELECT {quoted} AS v"
            f" FROM {_quoted(table)} LIMIT {SAMPLE_ROWS * 10})").fetchone()
        if 2 <= distinct <= GROUPING_VALUES and distinct < filled and not numbers \
                and (longest or 0) <= GROUPING_LENGTH:
            found.append(column)
    return tuple(found)


def _rowid_column(conn: sqlite3.Connection, table: str) -> str | None:
    """The column that is the table's rowid (a lone INTEGER PRIMARY KEY), if any."""
    keys = [(row[1], (row[2] or "").upper()) for row in
            conn.execute(f"PRAGMA table_info({_quoted(table)})") if row[5]]
    return keys[0][0] if len(keys) == 1 and keys[0][1] == "INTEGER" else None


def _apply_notes(found: dict[str, str], notes: dict[str, str],
                 columns: Sequence[str]) -> dict[str, str]:
    """Detected roles with the notes' corrections: a column name sets a role, "" drops it."""
    merged = dict(found)
    for role in ROLES:
        if role not in notes:
            continue
        column = notes[role]
        if column in columns:
            merged = {r: c for r, c in merged.items() if c != column}
            merged[role] = column
        elif not column:
            merged.pop(role, None)
        else:
            logger.warning("catalog notes name column %r for %s, which the table lacks",
                           column, role)
    return merged


def _availability_values(conn: sqlite3.Connection, table: str,
                         column: str | None) -> dict[str, str]:
    if column is None:
        return {}
    rows = conn.execute(f"SELECT DISTINCT {_quoted(column)} FROM {_quoted(table)}"
                        f" WHERE {_quoted(column)} IS NOT NULL LIMIT 50").fetchall()
    return {str(value): state for (value,) in rows
            if (state := availability_state(value)) is not None}


# --- Where basic mode finds each piece of data -------------------------------------------------

#: The standard names basic mode's SQL uses, in the order rows carry them.
STANDARD = ("id", "sku", "name", "family", "category", "brand", "model", "color", "size",
            "price", "stock", "availability")


@dataclass(frozen=True)
class CatalogLayout:
    """Where basic mode reads from: a FROM source showing the catalog under standard names.

    ``source`` is ``products`` for the demo catalog, otherwise a subquery over the store's
    table (``(SELECT rowid AS id, "titulo" AS name, ...) AS products``), which SQLite flattens
    into the outer query, so the store's indexes still serve it. ``columns`` lists the
    standard names the source has; ``labels`` the store's word for each role whose column has
    its own name ("autor" for brand).
    """

    source: str = "products"
    columns: tuple[str, ...] = ()
    fts_table: str | None = None
    fts_columns: tuple[str, ...] = ()
    fts_name_columns: tuple[str, ...] = ()
    labels: dict[str, str] = field(default_factory=dict)
    table: str = "products"
    #: Grouping columns with no role (``CatalogRoles.others``): (name in the source, label).
    groupings: tuple[tuple[str, str], ...] = ()

    def source_as(self, alias: str) -> str:
        """The source under another alias (for a correlated subquery)."""
        if self.source == "products":
            return f"products AS {alias}"
        return self.source.removesuffix(" AS products") + f" AS {alias}"


def layout_for(roles: CatalogRoles, fts: dict[str, list[str]]) -> CatalogLayout:
    """The layout of a table whose roles are known; ``fts`` maps FTS5 tables to their columns.

    An FTS table is used when it indexes the product table (``<table>_fts``).
    """
    selects: list[str] = []
    present: list[str] = []
    for name in STANDARD:
        expression = _expression(roles, name)
        if expression is None:
            continue
        present.append(name)
        selects.append(expression if expression == name else f"{expression} AS {name}")
    fts_table = f"{roles.table}_fts" if f"{roles.table}_fts" in fts else None
    fts_columns = tuple(c.lower() for c in fts.get(fts_table or "", []))
    # A presentation or model names a product as much as its name does: "arroz en saco".
    name_columns = tuple(roles.columns[r].lower() for r in ("name", "brand", "category", "family",
                                                            "model", "size")
                         if r in roles.columns and roles.columns[r].lower() in fts_columns)
    identity = roles.table == "products" and all(s == n for s, n in zip(selects, present,
                                                                         strict=True))
    groupings = () if identity else tuple(
        (f"grouping_{n}", role_label(column)) for n, column in enumerate(roles.others, 1))
    selects += [f"{_quoted(column)} AS {name}"
                for column, (name, _) in zip(roles.others, groupings, strict=False)]
    # Rows without a price cannot be listed, ordered or averaged: the source leaves them out.
    source = "products" if identity else (
        f"(SELECT {', '.join(selects)} FROM {_quoted(roles.table)}"
        f" WHERE {_quoted(roles.columns['price'])} IS NOT NULL) AS products")
    labels = {role: role_label(column) for role, column in roles.columns.items()
              if fold(column) != role}
    return CatalogLayout(source=source, columns=tuple(present), fts_table=fts_table,
                         fts_columns=fts_columns, fts_name_columns=name_columns, labels=labels,
                         table=roles.table, groupings=groupings)


def _expression(roles: CatalogRoles, name: str) -> str | None:
    """The SQL that gives standard column ``name`` from the store's table, or None."""
    columns = roles.columns
    if name == "id":
        column = roles.id_column
        return "rowid" if column is None else name if column == name else _quoted(column)
    if name == "availability":
        return _availability_expression(roles)
    column = columns.get(name)
    if column is None:
        return None
    return name if column == name else _quoted(column)


def _availability_expression(roles: CatalogRoles) -> str | None:
    column = roles.columns.get("availability")
    stock = roles.columns.get("stock")
    if column is not None and roles.availability:
        canonical = all(raw == state for raw, state in roles.availability.items())
        if canonical and column == "availability":
            return "availability"
        cases = []
        for state in (IN_STOCK, OUT_OF_STOCK, ON_ORDER):
            raws = [r for r, s in roles.availability.items() if s == state]
            if raws:
                listed = ", ".join("'" + r.replace("'", "''") + "'" for r in raws)
                cases.append(f"WHEN {_quoted(column)} IN ({listed}) THEN '{state}'")
        return f"CASE {' '.join(cases)} END"
    if stock is not None:
        # A blank stock cell is a product the store does not count, not one sold out: its
        # availability is unknown (NULL), never "agotado".
        return (f"CASE WHEN {_quoted(stock)} > 0 THEN '{IN_STOCK}' "
                f"WHEN {_quoted(stock)} IS NOT NULL THEN '{OUT_OF_STOCK}' END")
    return None


def describe_roles(roles: CatalogRoles) -> list[str]:
    """One line per role found, for the import report and the model's prompt."""
    return [f"{role}: {roles.columns[role]}" for role in ROLES if role in roles.columns]
