"""Basic mode: catalog answers without a language model, from a question understood by rules.

Used when no model is configured or the model endpoint is down. ``bot.core.basic_parse`` turns the
question into a ``Query``; this module turns the query into parameterized SQL (user text only
ever travels as ``?`` parameters), runs it through the same guarded ``CatalogReader`` the model
uses, and writes the reply from the rows it got back — nothing is stated that no row says.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from bot.catalog.money import format_soles
from bot.catalog.reader import CatalogReader, QueryResult
from bot.catalog.roles import (
    IN_STOCK,
    CatalogLayout,
    CatalogRoles,
    find_roles,
    layout_for,
    plural,
)
from bot.catalog.textfold import FOLD_FUNCTION, fold
from bot.core.basic_parse import (
    Query,
    Vocabulary,
    color_words,
    numbers_to_digits,
    read,
    singular,
    understand,
    widen,
)
from bot.core.basic_parse import words as folded_words
from bot.core.basic_words import (
    BARE,
    CONTAINERS,
    MAKERS,
    attribute_text,
    kind_word,
    name_exclusions,
    name_patterns,
    read_attributes,
    related_words,
    unit_of,
)
from bot.core.language import detect_language
from bot.core.reply import Reply, Turn
from bot.core.spanish import is_spanish_word
from bot.errors import UserFacingError

logger = logging.getLogger(__name__)

#: Roles basic mode needs (``bot.catalog.roles``); a catalog where they are not found is not guessed
#: at.
REQUIRED_COLUMNS = ("id", "name", "price")
#: Columns an answer's rows carry, when the catalog has them (standard names, see CatalogLayout).
ROW_COLUMNS = ("id", "sku", "name", "family", "category", "brand", "model", "color", "size",
               "price", "stock", "availability")
MAX_PROBES = 8
#: The smallest bare number read as a price when no product name states it: "de 5" is more
#: likely a size the catalog lacks than a price.
_LEAST_PRICE = 10
#: Words a bare amount follows ("laptop de 1500", "algo x 1000").
_AMOUNT_BEFORE = frozenset({"de", "a", "x", "por", "unos", "como"})
VOCABULARY_ROWS = 5000
OVERVIEW_LINES = 40

_ORDER_SQL = {
    "price_asc": "price ASC, id ASC",
    "price_desc": "price DESC, id ASC",
    "stock_desc": "stock DESC, price ASC, id ASC",
}
#: Intents answered with a courtesy, and intents refused (with example questions).
SMALL_TALK = ("greeting", "help", "thanks", "bye")
REFUSALS = ("hostile", "offtopic", "unknown", "unsupported", "complaint")
_GROUP_COLUMN = {"category": "category", "brand": "brand", "family": "family", "color": "color",
                 "size": "size"}
#: Texts that name a column: said with the store's own word for it when it has one ("autor").
_LABELLED = {"brand_of": ("brand", "of"), "fam": ("family", "of"), "color_of": ("color", "of"),
             "brand": ("brand", "plural"), "category": ("category", "plural"),
             "size": ("size", "plural"), "each_size": ("size", "one"),
             "family": ("family", "plural"), "color": ("color", "plural"),
             "each_brand": ("brand", "one"), "each_category": ("category", "one"),
             "each_family": ("family", "one"), "each_color": ("color", "one")}
_COLORS = color_words()
#: Columns that may tell apart products whose names read alike, in the order tried.
_TELLING = ("color", "size", "model", "sku")
#: A name column's header that says nothing of what the store sells.
_PLAIN_NAME_WORDS = frozenset({"nombre", "name", "descripcion", "descripción", "titulo", "título",
                               "title", "producto", "product", "articulo", "item",
                               "denominacion", "nombre producto", "product name"})
#: What a question needs that a catalog may lack, by the role that would hold it.
_DATUM = {"es": {"stock": "el stock", "availability": "la disponibilidad", "brand": "marcas",
                 "category": "categorías", "family": "familias", "color": "colores",
                 "size": "tallas ni presentaciones"},
          "en": {"stock": "stock", "availability": "availability", "brand": "brands",
                 "category": "categories", "family": "families", "color": "colours",
                 "size": "sizes or presentations"}}

_TEXTS: dict[str, dict[str, str]] = {
    "es": {
        "found": "Encontré {n} {products}{desc}",
        "products": "producto|productos",
        "none": "No encontré productos{desc}.",
        "no_words": "No encontré nada en el catálogo con «{w}».",
        "none_exists": "No, no tenemos productos{desc}.",
        "instead": "Esto es lo que tenemos{desc}:",
        "no_match": "No encontré productos con {w}; esto es lo más cercano.",
        "no_data_about": "No tengo ese dato de {name}.",
        "pick_yes": "Sí: {name} cumple con lo que preguntas.",
        "pick_no": "No: {name} no cumple con lo que preguntas.",
        "thanks": "¡De nada! Si necesitas algo más del catálogo, aquí estoy.",
        "bye": "¡Hasta pronto! Cuando quieras, pregúntame por los productos de la tienda.",
        "yes": "Sí. ",
        "sold_out_one": "Lo tenemos, pero está agotado.",
        "sold_out_all": "Los tenemos, pero los {n} están agotados.",
        "some_sold_out": "Sí, hay {a} {available}; {b} {sold}.",
        "one_available": "disponible|disponibles",
        "one_sold_out": "está agotado|están agotados",
        "some_unknown": "Sí, hay {a} {available}{sold}; de {u} no tengo el stock anotado "
                        "(consulta su disponibilidad).",
        "sold_part": "; {b} {sold}",
        "unknown_one": "Sí, lo tenemos, pero no tengo anotado su stock: consulta su "
                       "disponibilidad.",
        "unknown_all": "Sí, los tenemos, pero no tengo anotado su stock: consulta su "
                       "disponibilidad.",
        "unknown_sold": "Los tenemos: {b} {sold}; de {u} no tengo el stock anotado (consulta su "
                        "disponibilidad).",
        "unknown_note": "De {u} {products} más no tengo el stock anotado: consulta su "
                        "disponibilidad.",
        "stock_unknown": "No tengo stock anotado de productos{desc}: consulta su disponibilidad. "
                         "Esto es lo que tenemos:",
        "unknown_stock": "consultar disponibilidad",
        "pick_unknown": "{name} cuesta {price}; no tengo anotado su stock: consulta su "
                        "disponibilidad.",
        "pick_plain": "{name} cuesta {price}.",
        "best": "Estos son los {k} {order}:",
        "best_one": "El {order_one} es:",
        "page": "Productos {a} a {b} de {n}{desc}, {order_page}:",
        "rank": "El puesto {a} de {n}{desc}, {order_page}:",
        "page_end": "Ya te mostré los {n} {products}{desc}.",
        "page_end_one": "Ya te mostré el único producto{desc}.",
        "more": "Escribe «más» para ver otros.",
        "stock_yes": "Sí, hay stock: {n} {available}{desc}",
        "available": "producto disponible|productos disponibles",
        "stock_no": "No hay stock de productos{desc}. Esto es lo que tenemos:",
        "count": "Hay {n} {products}{desc}.",
        "count_group": "Hay {n} {groups} distintas{desc}.",
        "count_group_one": "Hay 1 sola {groups}{desc}.",
        "units": "Hay {units} {unit} en stock entre {n} {products}{desc}.",
        "unit": "unidad|unidades",
        "average": "El precio promedio de {n} {products}{desc} es {avg} (de {low} a {high}).",
        "overview": "Tenemos {n} {groups}{desc}:",
        "overview_one": "Tenemos 1 sola {groups}{desc}:",
        "overview_more": "… y {n} más.",
        "per_group": "El {order} de cada {group}{desc}:",
        "each_category": "categoría", "each_brand": "marca", "each_family": "familia",
        "each_color": "color", "each_size": "talla",
        "pick": "{name} cuesta {price} y está {status}.",
        "asc": "de menor precio", "desc": "de mayor precio", "stock": "con más stock",
        "asc_one": "de menor precio", "desc_one": "de mayor precio", "stock_one": "con más stock",
        "page_asc": "de menor a mayor precio", "page_desc": "de mayor a menor precio",
        "page_stock": "de más a menos stock",
        "big": "de mayor tamaño", "big_one": "de mayor tamaño",
        "page_big": "de mayor a menor tamaño",
        "small": "de menor tamaño", "small_one": "de menor tamaño",
        "page_small": "de menor a mayor tamaño",
        "big@inch": "de más pulgadas", "big_one@inch": "de más pulgadas",
        "page_big@inch": "de más a menos pulgadas", "small@inch": "de menos pulgadas",
        "small_one@inch": "de menos pulgadas", "page_small@inch": "de menos a más pulgadas",
        "big@storage": "de más memoria", "big_one@storage": "de más memoria",
        "page_big@storage": "de más a menos memoria", "small@storage": "de menos memoria",
        "small_one@storage": "de menos memoria", "page_small@storage": "de menos a más memoria",
        "unsaid": "Sobre {w}: el catálogo no registra cómo se entrega (frío, caliente…), así "
                  "que no puedo asegurártelo.",
        "in_stock": "disponible ({stock} en stock)",
        "disponible": "disponible", "agotado": "agotado", "por llegar": "por llegar",
        "category": "categorías", "brand": "marcas", "family": "familias", "color": "colores",
        "size": "tallas",
        "fam": "familia {v}", "brand_of": "marca {v}", "color_of": "color {v}",
        "between": "entre {a} y {b}", "le": "hasta {b}", "lt": "de menos de {b}",
        "ge": "desde {a}", "gt": "de más de {a}", "stock_min": "con al menos {s} unidades",
        "except": "excepto {v}", "except_shown": "aparte de los que te mostré",
        "match": "que coinciden con «{w}»", "or": " o ", "ignored": "No reconocí: {w}.",
        "negative": "Un precio no puede ser negativo: busqué sin ese límite.",
        "examples": "Por ejemplo:",
        "greeting": "¡Hola! Soy el asistente de la tienda: respondo preguntas sobre nuestro "
                    "catálogo de productos.",
        "help": "Puedo buscar productos del catálogo por {what}, contarlos y ordenarlos por "
                "precio.",
        "offtopic": "Lo siento, solo puedo ayudarte con preguntas sobre el catálogo de la tienda.",
        "hostile": "No puedo hacer eso: solo consulto el catálogo de productos en modo de lectura; "
                   "no cambio datos ni muestro nada fuera del catálogo.",
        "unknown": "No entendí bien tu pregunta sobre el catálogo.",
        "complaint": "Lamento mucho lo ocurrido. Por este chat solo puedo consultar el catálogo "
                     "y no puedo atender reclamos, cambios ni devoluciones: por favor comunícate "
                     "directamente con la tienda para que te ayuden.",
        "no_such": "No, no tenemos {w}.",
        "unsupported": "No tengo esa información: en modo básico solo conozco los productos del "
                       "catálogo ({what}).",
        "by_kind": "tipo", "by_price": "precio", "by_stock": "stock",
        "by_availability": "disponibilidad",
        "and": " y ",
        "schema": "El modo básico necesita una tabla de productos con nombre y precio, y no la "
                  "encontré en este catálogo{missing}. Indica sus columnas en la sección "
                  "[roles] de catalog.toml, o configura el modelo de lenguaje (OPENAI_API_KEY).",
        "missing": " (faltan: {cols})",
        "no_data": "No tengo ese dato: el catálogo de la tienda no registra {what}.",
        "ex_brand": "¿Tienen {brand}?",
        "ex_price": "{category} de menos de {bound} soles",
        "ex_count": "¿Cuántos productos hay disponibles?",
        "ex_family": "el producto más caro de {family}",
    },
    "en": {
        "found": "I found {n} {products}{desc}",
        "products": "product|products",
        "none": "I found no products{desc}.",
        "no_words": "I found nothing in the catalog matching “{w}”.",
        "none_exists": "No, we have no products{desc}.",
        "instead": "This is what we have{desc}:",
        "no_match": "I found no products with {w}; this is the closest.",
        "no_data_about": "I don't have that information about {name}.",
        "pick_yes": "Yes: {name} matches what you asked.",
        "pick_no": "No: {name} does not match what you asked.",
        "thanks": "You're welcome! If you need anything else from the catalog, just ask.",
        "bye": "Goodbye! Ask me about the store's products any time.",
        "yes": "Yes. ",
        "sold_out_one": "We carry it, but it is sold out.",
        "sold_out_all": "We carry them, but all {n} are sold out.",
        "some_sold_out": "Yes, {a} {available}; {b} {sold}.",
        "one_available": "available|available",
        "one_sold_out": "is sold out|are sold out",
        "some_unknown": "Yes, {a} {available}{sold}; for {u} I have no stock recorded (please "
                        "ask about availability).",
        "sold_part": "; {b} {sold}",
        "unknown_one": "Yes, we carry it, but I have no stock recorded for it: please ask about "
                       "availability.",
        "unknown_all": "Yes, we carry them, but I have no stock recorded for them: please ask "
                       "about availability.",
        "unknown_sold": "We carry them: {b} {sold}; for {u} I have no stock recorded (please ask "
                        "about availability).",
        "unknown_note": "For {u} more {products} I have no stock recorded: please ask about "
                        "availability.",
        "stock_unknown": "I have no stock recorded for products{desc}: please ask about "
                         "availability. This is what we have:",
        "unknown_stock": "ask about availability",
        "pick_unknown": "{name} costs {price}; I have no stock recorded for it: please ask "
                        "about availability.",
        "pick_plain": "{name} costs {price}.",
        "best": "Here are the {k} {order}:",
        "best_one": "The {order_one} is:",
        "page": "Products {a} to {b} of {n}{desc}, {order_page}:",
        "rank": "Number {a} of {n}{desc}, {order_page}:",
        "page_end": "I have already shown all {n} {products}{desc}.",
        "page_end_one": "I have already shown the only product{desc}.",
        "more": "Say “more” to see others.",
        "stock_yes": "Yes, in stock: {n} {available}{desc}",
        "available": "product available|products available",
        "stock_no": "Nothing in stock{desc}. This is what we have:",
        "count": "There are {n} {products}{desc}.",
        "count_group": "There are {n} different {groups}{desc}.",
        "count_group_one": "There is only 1 {groups}{desc}.",
        "units": "There are {units} {unit} in stock across {n} {products}{desc}.",
        "unit": "unit|units",
        "average": "The average price of {n} {products}{desc} is {avg} (from {low} to {high}).",
        "overview": "We have {n} {groups}{desc}:",
        "overview_one": "We have only 1 {groups}{desc}:",
        "overview_more": "… and {n} more.",
        "per_group": "The {order} in each {group}{desc}:",
        "each_category": "category", "each_brand": "brand", "each_family": "family",
        "each_color": "colour", "each_size": "size",
        "pick": "{name} costs {price} and is {status}.",
        "asc": "lowest-priced", "desc": "highest-priced", "stock": "with the most stock",
        "asc_one": "lowest-priced one", "desc_one": "highest-priced one",
        "stock_one": "one with the most stock",
        "page_asc": "from lowest to highest price", "page_desc": "from highest to lowest price",
        "page_stock": "from most to least stock",
        "big": "biggest", "big_one": "biggest one", "page_big": "from biggest to smallest",
        "small": "smallest", "small_one": "smallest one",
        "page_small": "from smallest to biggest",
        "big@inch": "with the most inches", "big_one@inch": "one with the most inches",
        "page_big@inch": "from most to fewest inches", "small@inch": "with the fewest inches",
        "small_one@inch": "one with the fewest inches",
        "page_small@inch": "from fewest to most inches",
        "big@storage": "with the most storage", "big_one@storage": "one with the most storage",
        "page_big@storage": "from most to least storage",
        "small@storage": "with the least storage",
        "small_one@storage": "one with the least storage",
        "page_small@storage": "from least to most storage",
        "unsaid": "About {w}: the catalog does not record how products are handed over (cold, "
                  "hot…), so I can't promise it.",
        "in_stock": "available ({stock} in stock)",
        "disponible": "available", "agotado": "sold out", "por llegar": "coming soon",
        "category": "categories", "brand": "brands", "family": "families", "color": "colours",
        "size": "sizes",
        "fam": "family {v}", "brand_of": "brand {v}", "color_of": "colour {v}",
        "between": "between {a} and {b}", "le": "up to {b}", "lt": "under {b}",
        "ge": "from {a}", "gt": "over {a}", "stock_min": "with at least {s} units",
        "except": "except {v}", "except_shown": "other than the ones shown",
        "match": "matching “{w}”", "or": " or ", "ignored": "I did not recognise: {w}.",
        "negative": "A price cannot be negative: I searched without that limit.",
        "examples": "For example:",
        "greeting": "Hi! I am the store's assistant: I answer questions about our product "
                    "catalog.",
        "help": "I can look up catalog products by {what}, count them and sort them by price.",
        "offtopic": "Sorry, I can only help with questions about the store's catalog.",
        "hostile": "I can't do that: I only read the product catalog; I never change data or "
                   "show anything outside the catalog.",
        "unknown": "I did not quite understand your question about the catalog.",
        "complaint": "I am very sorry about that. In this chat I can only look up the catalog "
                     "and cannot handle claims, exchanges or refunds: please contact the store "
                     "directly so they can help you.",
        "no_such": "No, we don't have {w}.",
        "unsupported": "I don't have that information: in basic mode I only know the catalog's "
                       "products ({what}).",
        "by_kind": "type", "by_price": "price", "by_stock": "stock",
        "by_availability": "availability",
        "and": " and ",
        "schema": "Basic mode needs a product table with a name and a price, and I did not "
                  "find one in this catalog{missing}. Name its columns in the [roles] section "
                  "of catalog.toml, or configure the language model (OPENAI_API_KEY).",
        "missing": " (missing: {cols})",
        "no_data": "I don't have that information: the store's catalog does not record {what}.",
        "ex_brand": "Do you have {brand}?",
        "ex_price": "{category} under {bound} soles",
        "ex_count": "How many products are available?",
        "ex_family": "the most expensive product in {family}",
    },
}


def _t(lang: str, key: str, **values: Any) -> str:
    texts = _TEXTS["en" if lang == "en" else "es"]
    # "big@storage" reads "de más memoria"; a measure without words of its own, "de mayor
    # tamaño".
    text = texts[key] if key in texts else texts[key.partition("@")[0]]
    return text.format(**values) if values else text


def _plural(lang: str, key: str, n: int) -> str:
    one, many = _t(lang, key).split("|")
    return one if n == 1 else many


def fts_term(word: str) -> str:
    """One FTS5 term: a quoted word (any FTS syntax stripped), prefix-matched when long enough."""
    clean = re.sub(r"[^a-z0-9]", "", word.lower())
    if not clean:
        return '""'
    if clean.isdigit() or len(clean) < 4:
        return f'"{clean}"'
    return f'"{singular(clean)}"*'


def _fts_related(word: str, whole: bool = False) -> str:
    """An FTS5 query for ``word`` or any word related to it ("gaseosa" or "cola"); a word of
    several ("adaptador de corriente") must have them all."""
    one = fts_whole_word if whole else fts_term
    forms = [" AND ".join(one(part) for part in w.split())
             for w in related_words(word, singular)]
    return forms[0] if len(forms) == 1 else "(" + " OR ".join(f"({f})" for f in forms) + ")"


def fts_whole_word(word: str) -> str:
    """An FTS5 query for ``word`` as a whole word (or its singular), never as a prefix.

    Deciding whether a word is a typo needs whole words: "lapto" is the start of "laptop" in
    many descriptions, yet it is a typo of the category, not a word of the catalog.
    """
    clean = re.sub(r"[^a-z0-9]", "", word.lower())
    if not clean:
        return '""'
    # "iphones": the Spanish singular ("iphon") misses an English plural's plain "s".
    plain = clean[:-1] if clean.endswith("s") and len(clean) > 3 else clean
    forms = dict.fromkeys((clean, singular(clean), plain))
    return " OR ".join(f'"{form}"' for form in forms)


#: A product name containing a pattern, blind to accents and case on both sides (SQLite's own
#: LIKE folds ASCII case only): "analgesico" finds "Analgésico", "LIBRO" finds "libró". The
#: pattern given must be folded with ``fold``.
NAME_LIKE = f"{FOLD_FUNCTION}(name) LIKE ?"


@dataclass(frozen=True)
class _Sql:
    """Where-clause text with its parameters."""

    where: str
    params: tuple[Any, ...]


class BasicEngine:
    """Basic mode over one catalog; build it once per ``CatalogReader`` with ``load``."""

    def __init__(self, catalog: CatalogReader, vocab: Vocabulary, *, columns: Sequence[str],
                 fts_columns: Sequence[str], problem: str | None = None,
                 missing: Sequence[str] = (), layout: CatalogLayout | None = None) -> None:
        self.catalog = catalog
        self.vocab = vocab
        self.columns = tuple(columns)
        self.fts_columns = tuple(fts_columns)
        self.problem = problem
        self.missing = tuple(missing)
        self.layout = layout or CatalogLayout(columns=self.columns,
                                              fts_table="products_fts" if fts_columns else None,
                                              fts_columns=self.fts_columns)
        #: The FROM source every query reads: the demo's table, or the store's under roles.
        self.source = self.layout.source
        #: The size or presentation column's values ("M", "1 kg", "pack x6"), when it has one.
        self.sizes: tuple[str, ...] = ()
        #: The price bound of the example question: about what the first category costs.
        self.example_bound = 1000

    @classmethod
    async def load(cls, catalog: CatalogReader, roles: CatalogRoles | None = None,
                   notes_path: Path | None = None) -> BasicEngine:
        """Find the catalog's column roles (unless given) and read its vocabulary from them.

        ``notes_path`` (default: beside the catalog) may correct the roles.
        """
        if roles is None:
            notes = notes_path or catalog.path.with_suffix(".toml")
            roles = await asyncio.to_thread(find_roles, catalog.path, notes)
        fts = {t.name: [c.name for c in t.columns] for t in await catalog.tables() if t.is_fts}
        layout = layout_for(roles, fts) if roles is not None else None
        missing = [c for c in REQUIRED_COLUMNS if layout is None or c not in layout.columns]
        if layout is None or missing:
            logger.info("basic mode unavailable: no product table with roles %s", missing)
            return cls(catalog, Vocabulary.build(families=(), categories=(), brands=(), colors=(),
                                                 availability=()),
                       columns=(), fts_columns=(), problem="schema", missing=missing)
        values: dict[str, list[str]] = {}
        for column in ("family", "category", "brand", "color", "availability"):
            values[column] = await _distinct(catalog, layout.source, column) \
                if column in layout.columns else []
        groupings = {name: await _distinct(catalog, layout.source, name)
                     for name, _ in layout.groupings}
        text_words, first_words = await _name_words(catalog, layout.source)
        vocab = Vocabulary.build(families=values["family"], categories=values["category"],
                                 brands=values["brand"], colors=values["color"],
                                 availability=values["availability"],
                                 group_words=layout.labels,
                                 product_words=_product_words(layout),
                                 brand_tails=layout.source != "products",
                                 roles=layout.columns,
                                 text_words=text_words, first_words=first_words,
                                 groupings=groupings)
        engine = cls(catalog, vocab, columns=[c for c in ROW_COLUMNS if c in layout.columns],
                     fts_columns=layout.fts_columns, layout=layout)
        if "size" in layout.columns:
            engine.sizes = tuple(await _distinct(catalog, layout.source, "size"))
        if vocab.categories:
            engine.example_bound = await _typical_bound(catalog, layout.source,
                                                        vocab.categories[0])
        return engine

    async def answer(self, text: str, history: Sequence[Turn],
                     language: str | None = None) -> Reply:
        """Answer one message; follow-ups read the previous answer's query from ``history``.

        Two questions in one message ("¿cuál es el más caro y cuál el más barato?") get both
        answers, the second read as a follow-up of the first.
        """
        first, second = _two_questions(text)
        if not second or self.problem:
            return await self._answer_one(text, history, language)
        one = await self._answer_one(first, history, language)
        if one.refused:
            return await self._answer_one(text, history, language)
        turns = [*history, Turn("user", first), Turn("assistant", one.text, one.meta)]
        two = await self._answer_one(second, turns, language)
        if two.refused:
            return one
        same = one.columns == two.columns
        return Reply(text=f"{one.text}\n\n{two.text}", engine="basic", sql=one.sql + two.sql,
                     columns=one.columns, rows=one.rows + two.rows if same else one.rows,
                     meta=two.meta)

    async def _answer_one(self, text: str, history: Sequence[Turn],
                          language: str | None = None) -> Reply:
        """Answer one question."""
        previous, shown = _previous(history)
        # A bare "more" or "¿y?" says nothing about its language: keep the conversation's.
        lang = detect_language(_without_sql(text),
                               default=(previous.lang if previous else language) or "es")
        if self.problem:
            return self._refusal("schema", lang)
        draft = read(text, self.vocab, lang)
        sql: list[str] = []
        known = await self._probe(draft.unknown, sql) if not draft.verdict else set()
        query = understand(draft, self.vocab, known, previous, shown,
                           numbered=_numbered(history))
        query = await self._number_as_price(query, draft.tokens, sql)
        query.spelled = _spelled(text, query, previous)
        if query.move == "other":
            query = await self._next_or_other(query, sql)
        if query.others or query.relative:
            # "el segundo cuánto cuesta?", then "¿algo parecido más barato?": like that one.
            query = await self._other_than_shown(query, _picked(history) or shown, sql)
        logger.debug("basic query: %s", query.to_dict())
        if query.intent in SMALL_TALK:
            return Reply(text=self._friendly(query.intent, query.lang), engine="basic", sql=sql,
                          meta={"intent": query.intent, "lang": query.lang})
        lacking = self._lacking(query)
        if lacking:
            return Reply(text=_t(query.lang, "no_data", what=_DATUM[query.lang][lacking]),
                         engine="basic", refused=True, sql=sql,
                         meta={"intent": "no_data", "lacking": lacking, "lang": query.lang})
        if _asks_for_a_name(query):
            # "¿tienes huawei?": a name the store does not have deserves a plain no.
            words = " ".join(w[:1].upper() + w[1:] for w in query.ignored)
            return Reply(text=_t(query.lang, "no_such", w=words) + "\n" +
                         self._examples(query.lang), engine="basic", sql=sql,
                         meta={**_meta(query, [], 0), "lang": query.lang})
        if query.intent in REFUSALS:
            reply = self._refusal(query.intent, query.lang, query.ignored)
            reply.sql = sql
            return reply
        # What the message asks on its own, in case refining the previous answer finds
        # nothing ("laptops Lenovo", then "¿tienen Samsung?").
        alone = understand(draft, self.vocab, known) if previous is not None else None
        reply = await self._dispatch(query, sql, alone, previous, history)
        reply.sql = sql
        reply.meta["lang"] = query.lang
        if query.unsaid and reply.rows and not reply.refused:
            reply.text += "\n" + _t(query.lang, "unsaid", w=_quoted(query.lang, query.unsaid))
        if query.ignored and not reply.refused:
            reply.text += "\n" + _t(query.lang, "ignored", w=_quoted(query.lang, query.ignored))
        if query.negative:
            reply.text += "\n" + _t(query.lang, "negative")
        return reply

    async def _number_as_price(self, q: Query, tokens: Sequence[str],
                               sql: list[str]) -> Query:
        """A bare number of the message that no product name states is a price, as the same
        number with "soles" would be: "laptop de 1500", "celular de mil quinientos", "de 1k"
        (``numbers_to_digits`` wrote them as digits) ask for up to that amount. One the names
        of the products asked for state ("cable de 100": "rollo 100 m", "iphone 15") stays a
        size or a model."""
        # "de 1500", "x 1000": a model number follows the product ("iphone 15").
        amounts = {tokens[i] for i in range(1, len(tokens)) if tokens[i - 1] in _AMOUNT_BEFORE}
        numbers = [a for a in q.attributes
                   if unit_of(a) == BARE and a.partition(":")[2] in amounts]
        if len(numbers) != 1 or q.min_price is not None or q.max_price is not None:
            return q
        value = numbers[0].partition(":")[2]
        if not value.isdigit() or int(value) < _LEAST_PRICE:
            return q
        if (await self._total(q, sql))[1]:
            return q
        return replace(q, attributes=[a for a in q.attributes if a != numbers[0]],
                       max_price=float(value), max_inclusive=True)

    async def _dispatch(self, query: Query, sql: list[str], alone: Query | None,
                        previous: Query | None, history: Sequence[Turn]) -> Reply:
        """The answer to a catalog question, by its intent."""
        if query.intent == "list":
            reply = await self._list(query, sql, alone, previous)
            if query.which and len(reply.rows) == 1 and reply.meta.get("total") == 1 \
                    and reply.meta["shown_ids"][0] in _previous(history)[1]:
                # "el de Stanley" was one of those shown: picked, so "¿y el más barato?"
                # goes back to the list.
                reply = await self._pick(replace(query, intent="pick", which=False,
                                                 pick=reply.meta["shown_ids"][0]), sql)
            return reply
        if query.intent == "overview" and (one := await self._the_one(query, alone, history,
                                                                      sql)):
            # "¿de qué marca es?" about one product: its brand, not a list of brands.
            return await self._pick(replace(query, intent="pick", pick=one, exists=False), sql)
        handlers = {"count": self._count, "units": self._units, "average": self._average,
                    "overview": self._overview, "pick": self._pick,
                    "per_group": self._per_group}
        return await handlers[query.intent](query, sql)

    async def _the_one(self, q: Query, alone: Query | None, history: Sequence[Turn],
                       sql: list[str]) -> int | None:
        """The one product a question about a column ("¿de qué marca es?", "¿de qué
        laboratorio es el inalámbrico?") is about: the one just picked or shown alone, when
        the question names nothing else, or the only one its filters select."""
        if q.group not in self.columns:
            return None
        # Picked from a list, or the one product the last answer showed ("¿y el más barato?").
        picked = _picked(history) or [i for i in _previous(history)[1][:2]]
        if len(picked) == 1 and alone is not None and not _names_things(alone):
            return picked[0]
        where = self._where(q)
        result = await self._run(sql, f"SELECT id FROM {self.source}{where.where} LIMIT 2",
                                 where.params)
        return int(result.rows[0][0]) if len(result.rows) == 1 else None

    async def _next_or_other(self, q: Query, sql: list[str]) -> Query:
        """"¿Tienes otro?": the next ones, or, once all were shown, other products of the same
        kind ("hay coca cola?", then "¿tienes otro?": the other gaseosas)."""
        q = replace(q, move=None)
        _, total = await self._total(q, sql)
        return q if q.offset < total else widen(q)

    async def _other_than_shown(self, q: Query, shown: Sequence[int],
                                sql: list[str]) -> Query:
        """What a follow-up says through the products shown: "¿hay en otro color?" leaves out
        their colours (brands...), "otro parecido" leaves them out and keeps their kind,
        "¿uno más barato?" costs less than they do, "¿una más grande?" holds more."""
        records = await self._shown(shown, sql)
        excluded = list(q.excluded)
        for column in q.others:
            if column == "product":
                excluded += [f"id={r['id']}" for r in records]
            elif column in self.columns:
                excluded += [f"{column}={r[column]}" for r in records
                             if r.get(column) is not None]
        resolved = replace(q, excluded=list(dict.fromkeys(excluded)), others=[], relative=None)
        if q.relative in ("cheaper", "pricier") and records:
            resolved = _priced_against(resolved, q.relative, [r["price"] for r in records])
        elif q.relative and records:
            resolved = _sized_against(resolved, q.relative, records)
        if {"product", "brand"} & set(q.others):
            # "una coca", then "otra marca": "coca" named the brand left out; "aceite primor",
            # then "otra marca": other oils, not tuna in oil.
            resolved = _as_head(_without_brand_words(resolved, records), records)
            return await self._keep_kind(resolved, records, sql)
        if "kind" in q.others:
            resolved = await self._with_kind(resolved, records, sql)
        return resolved

    async def _keep_kind(self, q: Query, records: Sequence[dict[str, Any]],
                         sql: list[str]) -> Query:
        """A follow-up about other products, still about the kind shown: the kind of the
        products shown when nothing names one, or when nothing is left with the words named
        ("un sublime", then "otra marca": other chocolates; "iphone 15 pro", then "¿uno más
        barato?": other iPhones)."""
        if not (q.keywords or q.heads or q.categories or q.families or q.brands):
            return await self._with_kind(q, records, sql)
        if q.keywords and not (await self._total(q, sql))[1]:
            if q.heads:
                return replace(q, keywords=[])
            return await self._with_kind(q, records, sql)
        return q

    async def _shown(self, shown: Sequence[int], sql: list[str]) -> list[dict[str, Any]]:
        """The products of the last list shown, as records."""
        if not shown:
            return []
        result = await self._run(
            sql, f"SELECT {', '.join(self.columns)} FROM {self.source} WHERE id IN"
                 f" ({', '.join('?' * len(shown))})", tuple(shown))
        return [dict(zip(result.columns, row, strict=True)) for row in result.rows]

    async def _with_kind(self, q: Query, records: Sequence[dict[str, Any]],
                         sql: list[str]) -> Query:
        """``q`` about the kind of product ``records`` are: their one category, and the word
        that names their kind ("leche", "cerveza"; "gaseosa" for "Inca Kola")."""
        categories = {r.get("category") for r in records}
        if "category" in self.columns and len(categories) == 1 and None not in categories:
            q = replace(q, categories=[str(categories.pop())], families=[])
        head = _common_head(records)
        if head and head not in _brand_words(records) and await self._makers_of(head, sql) >= 2:
            return replace(q, keywords=[], heads=[head], soft_keywords=[], names_only=False)
        word = _shared_kind(records)
        if word or q.categories:
            q = replace(q, keywords=[word] if word else [], heads=[], soft_keywords=[],
                        names_only=False)
        return q

    async def _makers_of(self, word: str, sql: list[str]) -> int:
        """How many brands (products, in a catalog without brands) have names starting with
        ``word``: through the full-text index's first-token query when there is one, so a
        large catalog is not scanned."""
        column = "coalesce(brand, '')" if "brand" in self.columns else "id"
        result = await self._run(
            sql, f"SELECT count(DISTINCT {column}) AS n FROM {self.source}"
                 f" WHERE {self._head_condition()}", (self._head_param(word),))
        return int(result.rows[0][0]) if result.rows else 0

    async def _run(self, sql: list[str], statement: str, params: Sequence[Any] = (),
                   max_rows: int | None = None) -> QueryResult:
        result = await self.catalog.run(statement, params, max_rows=max_rows)
        sql.append(result.sql)
        return result

    async def _probe(self, words: Sequence[str], sql: list[str]) -> set[str]:
        """Which unknown words occur anywhere in the catalog's text (so they are not typos)."""
        found: set[str] = set()
        for word in list(words)[:MAX_PROBES]:
            fts = self.layout.fts_table
            if fts:
                statement = f"SELECT count(*) AS n FROM {fts} WHERE {fts} MATCH ?"
                params: tuple[Any, ...] = (_fts_related(word, whole=True),)
            else:
                statement = f"SELECT count(*) AS n FROM {self.source} WHERE {NAME_LIKE}"
                params = (fold(f"%{word}%"),)
            result = await self._run(sql, statement, params)
            if result.rows and result.rows[0][0]:
                found.add(word)
        return found

    def _groupings(self, q: Query) -> dict[str, list[str]]:
        """The grouping columns' values a query asks for, by column ("grouping_1": ["Perro"])."""
        names = {name for name, _ in self.layout.groupings}
        found: dict[str, list[str]] = {}
        for item in q.groupings:
            column, _, value = item.partition("=")
            if column in names:
                found.setdefault(column, []).append(value)
        return found

    def _values_where(self, q: Query) -> tuple[list[str], list[Any]]:
        """Conditions on the columns of values: the ones asked for, and the ones left out."""
        conditions: list[str] = []
        params: list[Any] = []
        groupings = self._groupings(q)
        wanted = {"category": q.categories, "family": q.families, "brand": q.brands,
                  "color": q.colors, "availability": q.availability, **groupings}
        for column, values in wanted.items():
            if values and (column in self.columns or column in groupings):
                conditions.append(f"{column} IN ({', '.join('?' * len(values))})")
                params.extend(values)
        for column, values in _excluded(q).items():
            if column in self.columns:
                conditions.append(f"coalesce({column}, '') NOT IN "
                                  f"({', '.join('?' * len(values))})")
                params.extend(values)
        return conditions, params

    def _where(self, q: Query) -> _Sql:
        conditions, params = self._values_where(q)
        if q.min_price is not None:
            conditions.append("price >= ?" if q.min_inclusive else "price > ?")
            params.append(q.min_price)
        if q.max_price is not None:
            conditions.append("price <= ?" if q.max_inclusive else "price < ?")
            params.append(q.max_price)
        if q.min_stock is not None:
            conditions.append("stock >= ?")
            params.append(q.min_stock)
        words = [*q.keywords, *q.soft_keywords]
        fts = self.layout.fts_table
        if words and fts:
            expression = " AND ".join(_fts_related(w) for w in words)
            columns = self.layout.fts_name_columns
            if q.names_only and columns:
                expression = f"{{{' '.join(columns)}}} : ({expression})"
            conditions.append(f"id IN (SELECT rowid FROM {fts} WHERE {fts} MATCH ?)")
            params.append(expression)
        elif words:
            for word in words:
                forms = related_words(word, singular)
                conditions.append("(" + " OR ".join(NAME_LIKE for _ in forms) + ")")
                params.extend(fold(f"%{form}%") for form in forms)
        self._name_where(q, conditions, params)
        unwanted = _excluded(q).get("word", [])
        if unwanted and fts:
            conditions.append(f"id NOT IN (SELECT rowid FROM {fts} WHERE {fts} MATCH ?)")
            params.append(" OR ".join(_fts_related(w) for w in unwanted))
        for word in unwanted if not fts else []:
            conditions.append(f"NOT {NAME_LIKE}")
            params.append(fold(f"%{word}%"))
        where = f" WHERE {' AND '.join(conditions)}" if conditions else ""
        return _Sql(where, tuple(params))

    def _name_where(self, q: Query, conditions: list[str], params: list[Any]) -> None:
        """Add to ``conditions`` (and ``params``) what ``q`` asks of the product's name: the
        words it starts with, the ones it must not only describe with, sizes and models."""
        for head in q.heads:
            conditions.append(self._head_condition())
            params.append(self._head_param(head))
        for word in q.kind_words:
            condition = _described_only(word)
            conditions.append(f"NOT ({condition.where})")
            params.extend(condition.params)
        for attribute in q.attributes:
            condition = self._attribute(attribute)
            conditions.append(condition.where)
            params.extend(condition.params)

    def _head_condition(self) -> str:
        """The condition that a product's name starts with a word (see ``_head_param``)."""
        fts = self.layout.fts_table
        if fts and self.layout.fts_name_columns:
            return f"id IN (SELECT rowid FROM {fts} WHERE {fts} MATCH ?)"
        return NAME_LIKE

    def _head_param(self, word: str) -> str:
        """The full-text index's query for a name starting with ``word``, maybe after what it
        comes in ("pack cerveza", "caja de leche"), in the name columns; or a LIKE pattern
        when there is no index (which then reads the first word only)."""
        clean = re.sub(r"[^a-z0-9]", "", word.lower())
        names = self.layout.fts_name_columns
        if self.layout.fts_table and names:
            starts = [f'^"{clean}"'] + [f'^"{c} {clean}" OR ^"{c} de {clean}"'
                                        for c in sorted(CONTAINERS)]
            return f"{{{' '.join(names)}}} : ({' OR '.join(starts)})"
        return fold(f"{clean} %")

    def _attribute(self, attribute: str) -> _Sql:
        """ "27 pulgadas", "256 GB", "aro 29": read in the product's name, never as a price;
        "talla M", "3 litros" also in the store's size column ("M", "3 L")."""
        patterns = name_patterns(attribute)
        tests = [NAME_LIKE for _ in patterns]
        params = [fold(pattern) for pattern in patterns]
        exclusions = name_exclusions(attribute)
        if exclusions:
            tests = ["(" + " OR ".join(tests) + ") AND NOT ("
                     + " OR ".join(NAME_LIKE for _ in exclusions) + ")"]
            params.extend(fold(pattern) for pattern in exclusions)
        sizes = sizes_with(attribute, self.sizes)
        if sizes:
            tests.append(f"size IN ({', '.join('?' * len(sizes))})")
            params.extend(sizes)
        return _Sql("(" + " OR ".join(tests) + ")", tuple(params))

    async def _total(self, q: Query, sql: list[str]) -> tuple[Query, int]:
        """How many products match; words that only narrowed to nothing are let go."""
        if _size_bounded(q):
            return q, len((await self._by_size(q, sql))[1])
        where = self._where(q)
        result = await self._run(sql, f"SELECT count(*) AS n FROM {self.source}{where.where}",
                                 where.params)
        total = int(result.rows[0][0])
        if total == 0 and q.soft_keywords:
            return await self._total(replace(q, soft_keywords=[]), sql)
        makers = q.keywords[:1] + [MAKERS.get(w, MAKERS.get(singular(w), w))
                                   for w in q.keywords[1:]]
        if total == 0 and makers != q.keywords and not q.attributes:
            # "cargador pa iphone": no charger says "iPhone", the one by Apple is meant (a
            # product line named after another product, with no model number to honour).
            return await self._total(replace(q, keywords=makers), sql)
        return q, total

    async def _rows(self, q: Query, sql: list[str]) -> QueryResult:
        if q.order in _SIZE_ORDERS or _size_bounded(q):
            return await self._rows_by_size(q, sql)
        where = self._where(q)
        order = _ORDER_SQL.get(q.order or "price_asc", _ORDER_SQL["price_asc"])
        first, first_params = self._described_last(q)
        return await self._run(
            sql, f"SELECT {', '.join(self.columns)} FROM {self.source}{where.where}"
                 f" ORDER BY {first}{order} LIMIT ? OFFSET ?",
            (*where.params, *first_params, q.limit, q.offset), max_rows=q.limit)

    def _described_last(self, q: Query) -> tuple[str, tuple[str, ...]]:
        """The ORDER BY term that puts last the products whose name only describes with the
        word asked for ("tienen aceite?": "Aceite Primor" before "Atún A1 en aceite"), and its
        parameters; nothing when no word was asked."""
        if not q.keywords:
            return "", ()
        test = _described_only(q.keywords[0])
        return f"CASE WHEN {test.where} THEN 1 ELSE 0 END, ", test.params

    async def _headed(self, q: Query, total: int, sql: list[str]) -> tuple[Query, int]:
        """A superlative over the products the word asked for names ("el aceite más barato"):
        not the ones it only describes ("Atún A1 en aceite"), when others are left; ``q`` and
        ``total`` as they were otherwise."""
        if not q.order or not q.keywords or q.kind_words or not total:
            return q, total
        headed = replace(q, kind_words=[q.keywords[0]])
        _, count = await self._total(headed, sql)
        return (headed, count) if 0 < count < total else (q, total)

    async def _list(self, q: Query, sql: list[str], alone: Query | None = None,
                    previous: Query | None = None) -> Reply:
        """A list of products; a yes/no question says "Sí" only when every row satisfies it."""
        lang, asked = q.lang, q
        q, total = await self._total(q, sql)
        if total == 0 and alone is not None and _carried_kind(q, alone):
            # "herramientas de menos de 50", then "¿y eléctricas?": the words named replace
            # the category of before, which they contradict.
            q, total = await self._total(replace(q, categories=[], families=[]), sql)
        q, total = await self._headed(q, total, sql)
        if q.stock_check and total == 0 and q.availability:
            reply = await self._out_of_stock(q, sql)
            if reply is not None:
                return reply
        if total == 0:
            return await self._nothing(q, sql, alone, previous)
        if q.offset >= total:
            return Reply(text=_t(lang, "page_end" if total > 1 else "page_end_one", n=total,
                                 desc=self._describe(q),
                                 products=_plural(lang, "products", total)),
                         engine="basic", meta=_meta(q, [], total))
        stock = await self._stock_split(q, sql) if q.exists else None
        result = await self._rows(q, sql)
        # An order carried from before ("la más grande", then "otra marca") is said only when
        # it chose among what was found; the message's own order always is.
        ordered = alone is None or alone.order is not None
        head = self._head(q, total, len(result.rows), ordered)
        dropped = [w for w in asked.soft_keywords if w not in q.soft_keywords]
        if q.exists and not q.stock_check:
            head = self._yes(asked, q, total, stock) + head
        elif dropped:
            # "me recomiendas un taladro pa concreto": no name says it; said before the list.
            head = _t(lang, "no_match", w=_quoted(lang, dropped)) + " " + head
        reply = self._rows_reply(q, result, head, total)
        if q.offset + len(result.rows) < total and q.limit > 1:
            reply.text += "\n" + _t(lang, "more")
        if q.availability and not q.stock_check:
            # "productos disponibles": the ones whose stock nobody wrote down may be too.
            reply.text += await self._unknown_note(q, sql)
        return reply

    async def _stock_split(self, q: Query, sql: list[str]) -> _Stock | None:
        """How the products a "¿hay…?" question found split by availability (None when the
        question is about availability, or the catalog says nothing of it). A product whose
        availability the catalog does not say (a blank stock cell) is neither available nor
        sold out: it is counted apart, as unknown."""
        if q.availability or q.stock_check or "availability" not in self.columns:
            return None
        states = await self._states(q, sql)
        return _Stock(available=states.get(IN_STOCK, 0), unknown=states.get(None, 0),
                      sold_out=sum(n for state, n in states.items()
                                   if state not in (IN_STOCK, None)))

    async def _states(self, q: Query, sql: list[str]) -> dict[str | None, int]:
        """How many products ``q`` selects, by availability state (None: not recorded)."""
        if _size_bounded(q):
            result, rows = await self._by_size(q, sql)
            index = result.columns.index("availability")
            states: dict[str | None, int] = {}
            for row in rows:
                states[row[index]] = states.get(row[index], 0) + 1
            return states
        where = self._where(q)
        result = await self._run(sql, f"SELECT availability, count(*) AS n FROM {self.source}"
                                      f"{where.where} GROUP BY availability", where.params)
        return {state: int(n) for state, n in result.rows}

    async def _unknown_note(self, q: Query, sql: list[str]) -> str:
        """For an answer about an availability state ("¿cuántos hay disponibles?"), the
        sentence saying how many more products of the same question have no stock recorded;
        "" when none, or the catalog says nothing of availability."""
        if "availability" not in self.columns or not q.availability:
            return ""
        unknown = (await self._states(replace(q, availability=[], offset=0), sql)).get(None, 0)
        if not unknown:
            return ""
        return "\n" + _t(q.lang, "unknown_note", u=unknown,
                         products=_plural(q.lang, "products", unknown))

    async def _rows_by_size(self, q: Query, sql: list[str]) -> QueryResult:
        """Rows from biggest to smallest presentation (or the reverse), read from the size
        column or else the name ("Botella 3 L" > "1.5 L" > "500 ml"); rows whose size reads
        as no quantity come last."""
        result, ranked = await self._by_size(q, sql)
        rows = ranked[q.offset:q.offset + q.limit]
        return replace(result, rows=rows, truncated=False, total=len(rows))

    async def _by_size(self, q: Query, sql: list[str]) -> tuple[QueryResult, list[Any]]:
        """The rows ``q`` selects in its order (by size for "size_desc"/"size_asc", biggest
        first for "size_desc"), without those outside its size bounds (a size bound also leaves
        out rows with no size)."""
        where = self._where(q)
        order = _ORDER_SQL.get(q.order or "price_asc", _ORDER_SQL["price_asc"])
        result = await self._run(
            sql, f"SELECT {', '.join(self.columns)} FROM {self.source}{where.where}"
                 f" ORDER BY {order}", where.params, max_rows=VOCABULARY_ROWS)
        sizes = [quantity(dict(zip(result.columns, row, strict=True)), q.measure)
                 for row in result.rows]
        keep = [i for i, size in enumerate(sizes) if _within(size, q.min_size, q.max_size)]
        if q.order in _SIZE_ORDERS:
            sign = -1 if q.order == "size_desc" else 1
            keep.sort(key=lambda i: (0, sign * size) if (size := sizes[i]) is not None
                      else (1, 0))
        return result, [result.rows[i] for i in keep]

    def _yes(self, asked: Query, q: Query, total: int = 0, stock: _Stock | None = None) -> str:
        """How a yes/no answer starts: "Sí." only when nothing asked for was left out and
        something found can be bought; "Lo tenemos, pero está agotado." when nothing can; and
        said apart, the products whose stock is not recorded (never counted as available)."""
        lang = q.lang
        if stock is not None and stock.sold_out >= total:
            return _t(lang, "sold_out_one" if total == 1 else "sold_out_all", n=total) + " "
        dropped = [w for w in asked.soft_keywords if w not in q.soft_keywords]
        if dropped:
            return _t(lang, "no_match", w=_quoted(lang, dropped)) + " "
        if asked.asks_what:
            # "¿qué hay a 100 soles?" is answered with what there is, not with "Sí".
            return ""
        if stock is not None and (stock.sold_out or stock.unknown):
            return _stock_sentence(lang, stock) + " "
        return "" if q.ignored else _t(lang, "yes")

    def _head(self, q: Query, total: int, shown: int, ordered: bool = True) -> str:
        """The sentence above a list: how many there are, and which of them are shown.

        ``ordered`` says the message itself asked for the order; an order carried from an
        earlier question is named only when it left some of the products found out."""
        lang = q.lang
        short = {"price_asc": "asc", "price_desc": "desc", "stock_desc": "stock",
                 "size_desc": "big", "size_asc": "small"}[
            q.order or "price_asc"]
        if q.measure and q.order in _SIZE_ORDERS:
            short += f"@{q.measure}"
        desc = self._describe(q)
        if q.stock_check and q.availability:
            head = _t(lang, "stock_yes", n=total, available=_plural(lang, "available", total),
                      desc=self._describe(replace(q, availability=[])))
            return head + (":" if total <= q.limit else ". " + _best(lang, shown, short))
        if q.offset and shown == 1:
            return _t(lang, "rank", a=q.offset + 1, n=total, desc=desc,
                      order_page=_t(lang, f"page_{short}"))
        if q.offset:
            return _t(lang, "page", a=q.offset + 1, b=q.offset + shown, n=total, desc=desc,
                      order_page=_t(lang, f"page_{short}"))
        found = _t(lang, "found", n=total, products=_plural(lang, "products", total), desc=desc)
        if total <= shown and not (q.limit == 1 and q.order and ordered):
            return found + ":"
        return found + ". " + _best(lang, shown, short)

    async def _out_of_stock(self, q: Query, sql: list[str]) -> Reply | None:
        """"¿Hay stock de …?" with none in stock: say so, and show what there is. When some
        of them have no stock recorded, the answer is that it is not recorded, not "no"."""
        others, total = await self._total(replace(q, availability=[], offset=0), sql)
        if not total:
            return None
        result = await self._rows(others, sql)
        # "No hay stock de productos (que coinciden con «esmalte rojo»)": the state asked
        # for is what the sentence says, not one of its filters.
        desc = self._describe(replace(q, availability=[]))
        unknown = (await self._states(others, sql)).get(None, 0)
        return self._rows_reply(others, result,
                                _t(q.lang, "stock_unknown" if unknown else "stock_no", desc=desc))

    async def _nothing(self, q: Query, sql: list[str], alone: Query | None,
                       previous: Query | None = None) -> Reply:
        """No product matches: say so plainly, then what the shop does have, when it helps."""
        lang, desc = q.lang, self._describe(q)
        no = _t(lang, "none_exists" if q.exists else "none", desc=desc)
        # First what the question still asks without its narrowest filters ("impresoras de
        # menos de 700", then "¿Epson?"), then the message on its own when it refined the
        # previous answer into nothing ("laptops Lenovo", then "¿tienen Samsung?").
        looser, wordless = _relaxations(q)
        candidates = looser if q.exists or q.attributes or alone is not None else []
        moved_on = alone is not None and _changes_subject(q, alone, previous)
        if alone is not None and alone != q and _names_things(alone):
            # Asked about other products: the message alone first, before any loosening of
            # the combination with what came before.
            candidates.insert(0 if moved_on else len(candidates), alone)
        if wordless is not None and (q.exists or alone is not None):
            # Last, without the product words nothing has ("¿tienen laptops gamer?": laptops).
            candidates.append(wordless)
        for candidate in candidates:
            other, total = await self._total(candidate, sql)
            if not total:
                continue
            result = await self._rows(other, sql)
            if candidate is alone:
                head = self._head(other, total, len(result.rows))
                if not moved_on:
                    head = f"{no}\n{head}"
                elif alone.exists:
                    head = _t(lang, "yes") + head
                return self._rows_reply(other, result, head, total)
            head = f"{no}\n{_t(lang, 'instead', desc=self._describe(other))}"
            reply = self._rows_reply(other, result, head, total)
            if other.keywords == q.keywords:
                # Follow-ups go on from what was asked (a price bound, a size still count);
                # a product word nothing has is let go. "El primero" picks from what was shown.
                reply.meta = _meta(q, reply.meta["shown_ids"], 0)
            return reply
        if q.keywords and not _names_things(replace(q, keywords=[])) and not q.exists:
            # Only free words, and the catalog has nothing with all of them: most likely not a
            # catalog question at all ("el mejor equipo de fútbol del Perú").
            reply = self._refusal("unknown", lang)
            reply.text = _t(lang, "no_words", w=" ".join(q.keywords)) + "\n" + \
                self._examples(lang)
            reply.meta = _meta(q, [], 0)
            return reply
        return Reply(text=no + "\n" + self._examples(lang), engine="basic", meta=_meta(q, [], 0))

    def _rows_reply(self, q: Query, result: QueryResult, head: str,
                    total: int | None = None) -> Reply:
        records = [dict(zip(result.columns, row, strict=True)) for row in result.rows]
        telling = self._telling(records)
        lines = [head]
        for n, record in enumerate(records, start=q.offset + 1):
            lines.append(f"{n}. {self._line(q.lang, record, telling)}")
        ids = [row[result.columns.index("id")] for row in result.rows]
        return Reply(text="\n".join(lines), engine="basic", columns=list(result.columns),
                     rows=list(result.rows),
                     meta=_meta(q, ids, total if total is not None else len(ids)))

    def _telling(self, records: Sequence[dict[str, Any]]) -> tuple[str, ...]:
        """The columns that tell apart rows whose names would read alike: two "Galaxy A15
        128GB" at the same price differ in their colour, two "Inca Kola" in their size."""
        keys: tuple[str, ...] = ()
        distinct = len({self._name(r) for r in records})
        for key in _TELLING:
            if distinct == len(records):
                break
            if key in self.columns:
                more = len({self._name(r, (*keys, key)) for r in records})
                if more > distinct:
                    keys, distinct = (*keys, key), more
        return keys

    def _name(self, row: dict[str, Any], more: Sequence[str] = ()) -> str:
        """A product's name with what its name does not say: the size and brand in a store's
        own catalog ("Paracetamol 500 mg" is sold by several laboratories, in several
        presentations), and the columns ``more`` names."""
        name = str(row["name"])
        keys = ("size", "brand") if self.source != "products" else ()
        extras = [str(row[key]) for key in dict.fromkeys((*keys, *more))
                  if row.get(key) and not _says(name, str(row[key]))]
        return name + (f" ({', '.join(extras)})" if extras else "")

    def _line(self, lang: str, row: dict[str, Any], more: Sequence[str] = ()) -> str:
        """ "Name — S/ 10.00 · disponible (3 en stock)"; without the last part in a catalog
        that says nothing of stock."""
        line = f"{self._name(row, more)} — {format_soles(row['price'], lang)}"
        status = _status(lang, row, "availability" in self.columns)
        return f"{line} · {status}" if status else line

    def _say(self, lang: str, key: str, **values: Any) -> str:
        """A text naming a column, in the store's own word for it when it has one (Spanish)."""
        role, form = _LABELLED.get(key, ("", ""))
        label = self.layout.labels.get(role) if lang == "es" else None
        if not label:
            return _t(lang, key, **values)
        if form == "of":
            return f"{label} {values['v']}"
        return plural(label) if form == "plural" else label

    def _agreed(self, lang: str, key: str, group: str, n: int, desc: str) -> str:
        """A sentence counting the values of a column, its words agreeing with the number and
        the column's word: "Tenemos 4 marcas", "Tenemos 1 sola marca", "Hay 1 solo
        laboratorio", "Hay 3 colores distintos"."""
        one = self._say(lang, f"each_{group}")
        text = _t(lang, f"{key}_one" if n == 1 else key, n=n, desc=desc,
                  groups=one if n == 1 else self._say(lang, group))
        if lang == "es" and _masculine(one):
            text = text.replace(" distintas", " distintos").replace(" sola ", " solo ")
        return text

    def _lacking(self, q: Query) -> str | None:
        """The role a question needs that this catalog does not have, if any."""
        columns = set(self.columns)
        if q.intent == "unknown" and "color" not in columns and any(
                word in _COLORS or singular(word) in _COLORS for word in q.ignored):
            return "color"
        if (q.intent == "units" or q.min_stock is not None or q.order == "stock_desc") \
                and "stock" not in columns:
            return "stock"
        if (q.availability or q.stock_check) and "availability" not in columns:
            return "availability"
        if q.group and q.intent in ("overview", "per_group", "count") \
                and q.group not in columns:
            return q.group
        return None

    async def _pick(self, q: Query, sql: list[str]) -> Reply:
        result = await self._run(
            sql, f"SELECT {', '.join(self.columns)} FROM {self.source} WHERE id = ?", (q.pick,))
        if not result.rows:
            return self._refusal("unknown", q.lang)
        row = dict(zip(result.columns, result.rows[0], strict=True))
        text = self._price_sentence(q.lang, row)
        asked = _GROUP_COLUMN.get(q.group or "")
        if asked in self.columns and row.get(asked):
            # "¿el segundo de qué color es?": the answer names what was asked first.
            label = self._say(q.lang, f"each_{asked}")
            text = f"{label[:1].upper()}{label[1:]}: {row[asked]}. {text}"
        if q.exists:
            text = await self._pick_verdict(q, row, sql) + "\n" + text
        return Reply(text=text, engine="basic", columns=list(result.columns),
                     rows=list(result.rows), meta=_meta(q, [row["id"]], 1))

    def _price_sentence(self, lang: str, row: dict[str, Any]) -> str:
        """ "X cuesta S/ 4.90 y está disponible (10 en stock)."; without the state in a catalog
        that records none, and saying so when this product's stock was not written down."""
        values = {"name": self._name(row), "price": format_soles(row["price"], lang)}
        if "availability" not in self.columns:
            return _t(lang, "pick_plain", **values)
        if not row.get("availability"):
            return _t(lang, "pick_unknown", **values)
        return _t(lang, "pick", status=_status(lang, row), **values)

    async def _pick_verdict(self, q: Query, row: dict[str, Any], sql: list[str]) -> str:
        """A yes/no question about one product ("¿el segundo es negro?", "¿tiene garantía?").

        Its colour, brand, price and availability answer yes or no; words looked up in its
        name and description can only say yes: their absence is "no tengo ese dato".
        """
        lang, name = q.lang, row["name"]
        fields = replace(q, keywords=[], soft_keywords=[], attributes=[])
        if self._where(fields).where and not await self._holds(fields, row["id"], sql):
            return _t(lang, "pick_no", name=name)
        if (q.keywords or q.soft_keywords or q.attributes) and not await self._holds(
                q, row["id"], sql):
            return _t(lang, "no_data_about", name=name)
        return _t(lang, "pick_yes", name=name)

    async def _holds(self, q: Query, product: Any, sql: list[str]) -> bool:
        """Whether product ``product`` satisfies every filter of ``q``."""
        where = self._where(q)
        joiner = " AND " if where.where else " WHERE "
        result = await self._run(
            sql, f"SELECT count(*) AS n FROM {self.source}{where.where}{joiner}id = ?",
            (*where.params, product))
        return bool(result.rows and result.rows[0][0])

    async def _count(self, q: Query, sql: list[str]) -> Reply:
        where = self._where(q)
        column = _GROUP_COLUMN.get(q.group or "")
        what = f"count(DISTINCT {column})" if column in self.columns else "count(*)"
        result = await self._run(sql, f"SELECT {what} AS n FROM {self.source}{where.where}",
                                 where.params)
        n = int(result.rows[0][0])
        if _size_bounded(q) and column not in self.columns:
            # "¿cuántas teles de más de 50 pulgadas hay?": sizes are read in the names.
            n = (await self._total(q, sql))[1]
        desc = self._describe(q)
        if column in self.columns:
            text = self._agreed(q.lang, "count_group", q.group or "", n, desc)
        else:
            text = _t(q.lang, "count", n=n, products=_plural(q.lang, "products", n), desc=desc)
            text += await self._unknown_note(q, sql)
        return Reply(text=text, engine="basic", columns=list(result.columns),
                     rows=list(result.rows), meta=_meta(q, [], n))

    async def _units(self, q: Query, sql: list[str]) -> Reply:
        where = self._where(q)
        result = await self._run(
            sql, f"SELECT coalesce(sum(stock), 0) AS units, count(*) AS n FROM {self.source}"
                 f"{where.where}", where.params)
        units, n = (int(v) for v in result.rows[0])
        text = _t(q.lang, "units", units=units, unit=_plural(q.lang, "unit", units), n=n,
                  products=_plural(q.lang, "products", n),
                  desc=self._describe(q))
        return Reply(text=text, engine="basic", columns=list(result.columns),
                     rows=list(result.rows), meta=_meta(q, [], n))

    async def _average(self, q: Query, sql: list[str]) -> Reply:
        where = self._where(q)
        result = await self._run(
            sql, "SELECT round(avg(price), 2) AS avg_price, count(*) AS n,"
                 f" min(price) AS min_price, max(price) AS max_price FROM {self.source}"
                 f"{where.where}",
            where.params)
        avg, n, low, high = result.rows[0]
        if not n:
            return Reply(text=_t(q.lang, "none", desc=self._describe(q)), engine="basic",
                         meta=_meta(q, [], 0))
        text = _t(q.lang, "average", n=n, products=_plural(q.lang, "products", n),
                  desc=self._describe(q), avg=format_soles(avg, q.lang),
                  low=format_soles(low, q.lang), high=format_soles(high, q.lang))
        return Reply(text=text, engine="basic", columns=list(result.columns),
                     rows=list(result.rows), meta=_meta(q, [], n))

    async def _overview(self, q: Query, sql: list[str]) -> Reply:
        column = _GROUP_COLUMN.get(q.group or "", "category")
        if column not in self.columns:
            return self._refusal("unsupported", q.lang)
        where = self._where(q)
        where_text = where.where + (" AND " if where.where else " WHERE ") + f"{column} IS NOT NULL"
        result = await self._run(
            sql, f"SELECT {column}, count(*) AS n FROM {self.source}{where_text}"
                 f" GROUP BY {column} ORDER BY n DESC, {column}",
            where.params, max_rows=VOCABULARY_ROWS)
        if not result.rows:
            return Reply(text=_t(q.lang, "none", desc=self._describe(q)), engine="basic",
                         meta=_meta(q, [], 0))
        lines = [self._agreed(q.lang, "overview", q.group or column, len(result.rows),
                              self._describe(q))]
        lines += [f"• {value} ({n})" for value, n in result.rows[:OVERVIEW_LINES]]
        if len(result.rows) > OVERVIEW_LINES:
            lines.append(_t(q.lang, "overview_more", n=len(result.rows) - OVERVIEW_LINES))
        return Reply(text="\n".join(lines), engine="basic", columns=list(result.columns),
                     rows=list(result.rows), meta=_meta(q, [], len(result.rows)))

    async def _per_group(self, q: Query, sql: list[str]) -> Reply:
        """The cheapest (or dearest) product of each category, brand, family or colour."""
        column = _GROUP_COLUMN.get(q.group or "", "category")
        if column not in self.columns:
            return self._refusal("unsupported", q.lang)
        where = self._where(q)
        inner = where.where + (" AND " if where.where else " WHERE ")
        order = _ORDER_SQL.get(q.order or "price_asc", _ORDER_SQL["price_asc"])
        outer = ", ".join(f"p.{c}" for c in self.columns)
        result = await self._run(
            sql, f"SELECT {outer} FROM {self.layout.source_as('p')} WHERE p.id = (SELECT id FROM"
                 f" {self.source}"
                 f"{inner}{column} = p.{column} ORDER BY {order} LIMIT 1) ORDER BY p.{column}",
            where.params, max_rows=VOCABULARY_ROWS)
        if not result.rows:
            return Reply(text=_t(q.lang, "none", desc=self._describe(q)), engine="basic",
                         meta=_meta(q, [], 0))
        short = {"price_asc": "asc_one", "price_desc": "desc_one", "stock_desc": "stock_one",
                 "size_desc": "asc_one", "size_asc": "asc_one"}
        lines = [_t(q.lang, "per_group", order=_t(q.lang, short[q.order or "price_asc"]),
                    group=self._say(q.lang, f"each_{column}"), desc=self._describe(q))]
        index = result.columns.index(column)
        for row in result.rows:
            record = dict(zip(result.columns, row, strict=True))
            lines.append(f"• {row[index]}: {self._line(q.lang, record)}")
        ids = [row[result.columns.index("id")] for row in result.rows]
        return Reply(text="\n".join(lines), engine="basic", columns=list(result.columns),
                     rows=list(result.rows), meta=_meta(q, ids, len(ids)))

    def _describe(self, q: Query) -> str:
        """The filters in words, e.g. " (Laptops, marca Lenovo, de menos de S/ 3,000.00)"."""
        lang, parts = q.lang, []
        joiner = _t(lang, "or")
        if q.categories:
            parts.append(joiner.join(q.categories))
        if q.families:
            parts.append(self._say(lang, "fam", v=joiner.join(q.families)))
        if q.brands:
            parts.append(self._say(lang, "brand_of", v=joiner.join(q.brands)))
        if q.colors:
            parts.append(self._say(lang, "color_of", v=joiner.join(q.colors)))
        parts += self._describe_excluded(q)
        if q.availability:
            parts.append(joiner.join(_availability(lang, a) for a in q.availability))
        parts += [joiner.join(values) for values in self._groupings(q).values()]
        parts += _describe_bounds(q)
        parts += [attribute_text(a) for a in q.attributes if unit_of(a) != BARE]
        # A model number reads with the words it goes with: «iphone 15».
        words = [q.spelled.get(w, w) for w in (*q.heads, *q.keywords, *q.soft_keywords)]
        words += [a.partition(":")[2] for a in q.attributes if unit_of(a) == BARE]
        if words:
            parts.append(_t(lang, "match", w=" ".join(words)))
        return f" ({', '.join(parts)})" if parts else ""

    def _describe_excluded(self, q: Query) -> list[str]:
        """What a query leaves out, in words: "excepto marca Gloria"."""
        lang, parts = q.lang, []
        excluded = _excluded(q)
        for column, values in excluded.items():
            if column == "id":
                # "Otro": unless a brand (colour...) left out says it already.
                if len(excluded) == 1:
                    parts.append(_t(lang, "except_shown"))
                continue
            key = {"brand": "brand_of", "color": "color_of", "family": "fam"}.get(column)
            what = _t(lang, "or").join(values) if column != "word" else _quoted(lang, values)
            parts.append(_t(lang, "except", v=self._say(lang, key, v=what) if key else what))
        return parts

    def _examples(self, lang: str) -> str:
        vocab = self.vocab
        examples = []
        if vocab.brands:
            examples.append(_t(lang, "ex_brand", brand=vocab.brands[0]))
        if vocab.categories:
            category = vocab.categories[0]
            examples.append(_t(lang, "ex_price", category=category if lang == "en"
                               else category.lower(), bound=f"{self.example_bound:,}"))
        examples.append(_t(lang, "ex_count"))
        if vocab.families and len(examples) < 3:
            examples.append(_t(lang, "ex_family", family=vocab.families[0]))
        quote = ("“", "”") if lang == "en" else ("«", "»")
        return "\n".join([_t(lang, "examples"),
                          *(f"• {quote[0]}{e}{quote[1]}" for e in examples[:3])])

    def handles(self, lang: str) -> str:
        """What this catalog can be searched by, in words: "tipo, marca, presentación, precio y
        stock" — only the roles it has (no colour in a bodega, no stock in a catalog without
        it: "disponibilidad" when it only says Sí/No), named with the store's own word for each
        column ("laboratorio")."""
        parts = [_t(lang, "by_kind")]
        parts += [self._say(lang, f"each_{role}") for role in ("brand", "color", "size")
                  if role in self.columns]
        parts.append(_t(lang, "by_price"))
        if "stock" in self.columns:
            parts.append(_t(lang, "by_stock"))
        elif "availability" in self.columns:
            parts.append(_t(lang, "by_availability"))
        return ", ".join(parts[:-1]) + _t(lang, "and") + parts[-1]

    def _friendly(self, intent: str, lang: str) -> str:
        if intent in ("thanks", "bye"):
            return _t(lang, intent)
        return f"{_t(lang, intent, what=self.handles(lang))}\n{self._examples(lang)}"

    def _refusal(self, reason: str, lang: str, ignored: Sequence[str] = ()) -> Reply:
        if reason == "schema":
            missing = (_t(lang, "missing", cols=", ".join(self.missing)) if self.missing
                       else "")
            text = _t(lang, "schema", missing=missing)
            return Reply(text=text, engine="basic", refused=True, meta={"intent": reason})
        text = _t(lang, reason, what=self.handles(lang))
        if reason == "complaint":
            # An upset customer gets an apology and where to turn, not examples of questions.
            return Reply(text=text, engine="basic", refused=True,
                         meta={"intent": reason, "lang": lang})
        if ignored and reason == "unknown":
            text += " " + _t(lang, "ignored", w=_quoted(lang, ignored))
        return Reply(text=f"{text}\n{self._examples(lang)}", engine="basic", refused=True,
                     meta={"intent": reason, "lang": lang})


async def _distinct(catalog: CatalogReader, source: str, column: str) -> list[str]:
    """A column's distinct values, most common first."""
    result = await catalog.run(
        f"SELECT {column}, count(*) AS n FROM {source} WHERE {column} IS NOT NULL"
        f" GROUP BY {column} ORDER BY n DESC, {column}", max_rows=VOCABULARY_ROWS)
    return [str(row[0]) for row in result.rows if str(row[0]).strip()]


async def _typical_bound(catalog: CatalogReader, source: str, category: str) -> int:
    """A round price a little above what ``category`` costs on average (1, 2, 3 or 5 times a
    power of ten): "abarrotes de menos de 10 soles" in a corner shop, "laptops de menos de
    5,000 soles" in an electronics store. 1,000 when the catalog cannot say."""
    try:
        result = await catalog.run(f"SELECT avg(price) FROM {source} WHERE category = ?",
                                   (category,), max_rows=1)
    except UserFacingError:
        return 1000
    average = result.rows[0][0] if result.rows else None
    if not isinstance(average, int | float) or not 0 < average < 1e9:
        return 1000
    power = 1
    while True:
        for step in (1, 2, 3, 5):
            if step * power >= average:
                return step * power
        power *= 10


async def _name_words(catalog: CatalogReader, source: str) -> tuple[set[str], set[str]]:
    """The words (folded, three letters or more) of the first ``VOCABULARY_ROWS`` product names,
    for typo correction and for reading diminutives ("panecito" is "pan"); and the words those
    names start with ("papas" of "Papas Lay's"), also past what they come in ("cerveza" of
    "Pack Cerveza Pilsen x6")."""
    result = await catalog.run(f"SELECT name FROM {source} LIMIT {VOCABULARY_ROWS}",
                               max_rows=VOCABULARY_ROWS)
    names = [folded_words(str(name or "")) for (name,) in result.rows]
    firsts = {words[0] for words in names if words and words[0].isalpha()}
    # "Pack Cerveza Pilsen x6", "Caja de Leche": the kind comes after what it comes in.
    heads = {head for words in names if (head := _head_of(" ".join(words)))}
    return ({word for words in names for word in words if len(word) >= 3 and word.isalpha()},
            firsts | heads)


def sizes_with(attribute: str, sizes: Sequence[str]) -> list[str]:
    """The values of a size column that state ``attribute``: read with the same units as a
    question ("3 L" holds "volume:3", "1,5 kg" "weight:1.5"), or equal to its value ("M" and
    "28" for "talla M", "talla 28" or a bare 28), or starting with a bare number ("400 g" for
    "de 400")."""
    unit, _, value = attribute.partition(":")
    found = []
    for size in sizes:
        text = numbers_to_digits(fold(size).strip())
        read = read_attributes(text)[1] + read_attributes(f"talla {text}")[1]
        if not text[:1].isdigit():
            # "Kg", "Docena", "Botella 1 L": a unit without a number is one of it.
            read += read_attributes(f"1 {text}")[1]
        # "de 400" is the "400 g" presentation: its number, whatever its unit.
        first = folded_words(text)[:1]
        if attribute in read or (unit in ("size", BARE) and text == value) or (
                unit == BARE and first == [value]):
            found.append(size)
    return found


def _product_words(layout: CatalogLayout) -> list[str]:
    """The store's nouns for its products: its table's name ("libros") and a telling header of
    its name column ("Medicamento")."""
    found = []
    if layout.table.lower() not in ("products", "productos", "items", "catalogo", "catalog"):
        found.append(layout.table.replace("_", " "))
    label = layout.labels.get("name")
    if label and label not in _PLAIN_NAME_WORDS:
        found.append(label)
    return found


def _says(name: str, value: str) -> bool:
    """Whether a product name already says ``value`` in whole words ("Polo básico algodón"
    does not say the size "L"; "Martillo Stanley" says the brand "Stanley")."""
    said = folded_words(name)
    wanted = folded_words(value)
    return bool(wanted) and any(said[i:i + len(wanted)] == wanted
                                for i in range(len(said) - len(wanted) + 1))


def _masculine(label: str | None) -> bool:
    """Whether a column's Spanish word is masculine ("autor", "género"), by its ending."""
    if not label:
        return False
    word = label.split()[-1]
    return not word.endswith(("a", "ión", "dad", "ial", "ía"))


#: Where a second question starts in a message: "… y cuál el más barato", "… y el más barato",
#: "… y cuánto cuesta".
_SECOND_QUESTION = re.compile(r"\s+y\s+(?=(?:cu[aá]l(?:es)?|cu[aá]nt[oa]s?|(?:el|la|los|las)"
                              r"\s+(?:m[aá]s|menos))\b)", re.IGNORECASE)


def _two_questions(text: str) -> tuple[str, str]:
    """The message's first question and its second one ("" when it asks only one)."""
    match = _SECOND_QUESTION.search(text)
    if match is None or not text[:match.start()].strip():
        return text, ""
    return text[:match.start()], text[match.end():]


#: SQL's own words: "DROP TABLE products" or "select * from" say nothing of the writer's
#: language, and a shop in Peru answers in Spanish unless the rest is English prose.
_SQL_WORDS = re.compile(
    r"\b(?:select|from|where|drop|table|delete|insert|into|update|set|values|union|all|and|or|"
    r"not|null|order|by|limit|join|alter|create|truncate|pragma|products?|productos)\b",
    re.IGNORECASE)


def _without_sql(text: str) -> str:
    """The message without SQL keywords, for telling its language."""
    return _SQL_WORDS.sub(" ", text)


def _previous(history: Sequence[Turn]) -> tuple[Query | None, list[int]]:
    """The last answer's query (when basic mode wrote it) and the last product list shown.

    An answer that picked one product from a list ("¿cuánto cuesta el segundo?") is passed over:
    the next follow-up still refines, or picks from, the list before it. So are refusals and
    small talk.
    """
    # A refusal or small talk in between ("¿me prestas 50 soles?", "gracias") does not end
    # the conversation about the products.
    skipped = {"pick", "no_data", *SMALL_TALK, *REFUSALS}
    answers = [turn for turn in history
               if turn.role == "assistant" and turn.meta.get("intent") not in skipped]
    if not answers:
        return None, []
    query = Query.from_dict(answers[-1].meta.get("query"))
    for turn in reversed(answers[-3:]):
        ids = [i for i in turn.meta.get("shown_ids", []) if isinstance(i, int)]
        if ids:
            return query, ids
    return query, []


#: What may change between the pages of one list ("más", "otros 5") without it becoming another.
_PAGE_FIELDS = ("offset", "limit", "lang", "ignored", "move", "relative", "unsaid", "spelled")


def _numbered(history: Sequence[Turn]) -> dict[int, int]:
    """The products of the list being talked about, by the number each was shown with: its
    pages shown in this conversation ("abarrotes baratos", then "más": 1 to 10), back to its
    first page. The latest page's numbers win; answers picking one product, refusals and small
    talk in between are passed over (see ``_previous``)."""
    skipped = {"pick", "no_data", *SMALL_TALK, *REFUSALS}
    answers = [turn for turn in history
               if turn.role == "assistant" and turn.meta.get("intent") not in skipped]
    numbers: dict[int, int] = {}
    page_of: dict[str, Any] | None = None
    for turn in reversed(answers):
        query = turn.meta.get("query")
        ids = [i for i in turn.meta.get("shown_ids", []) if isinstance(i, int)]
        if not isinstance(query, dict) or not ids:
            break
        same = {k: v for k, v in query.items() if k not in _PAGE_FIELDS}
        if page_of is not None and same != page_of:
            break
        page_of = same
        offset = query.get("offset") if isinstance(query.get("offset"), int) else 0
        for number, product in enumerate(ids, start=offset + 1):
            numbers.setdefault(number, product)
        if not offset:
            break
    return numbers


def _picked(history: Sequence[Turn]) -> list[int]:
    """The product the last answer picked from a list ("¿cuánto cuesta el segundo?"), if it
    did."""
    answers = [turn for turn in history if turn.role == "assistant"]
    if not answers or answers[-1].meta.get("intent") != "pick":
        return []
    return [i for i in answers[-1].meta.get("shown_ids", []) if isinstance(i, int)]


_SIZE_ORDERS = ("size_desc", "size_asc")
#: Units a presentation's quantity is compared in, by what they measure: litres and kilos
#: (millilitres and grams are thousandths of them), inches, gigabytes (a terabyte is 1,000).
_BASE_UNITS = {"volume": ("volume", 1.0), "millilitres": ("volume", 0.001),
               "weight": ("weight", 1.0), "grams": ("weight", 0.001), "inch": ("inch", 1.0),
               "storage": ("storage", 1.0), "terabytes": ("storage", 1000.0)}
#: Measures whose amount a pack multiplies ("Pack x12 355 ml" holds 4.26 L).
_PACKED = ("volume", "weight")


def _describe_bounds(q: Query) -> list[str]:
    """A query's price, stock and size bounds in words: "de menos de S/ 10.00", "de más de
    1 L"."""
    lang, parts = q.lang, []
    low = format_soles(q.min_price) if q.min_price is not None else None
    high = format_soles(q.max_price) if q.max_price is not None else None
    if low and high:
        parts.append(_t(lang, "between", a=low, b=high))
    elif high:
        parts.append(_t(lang, "le" if q.max_inclusive else "lt", b=high))
    elif low:
        parts.append(_t(lang, "ge" if q.min_inclusive else "gt", a=low))
    if q.min_stock is not None:
        parts.append(_t(lang, "stock_min", s=q.min_stock))
    if q.min_size is not None:
        parts.append(_t(lang, "gt" if _strict(q.min_size) else "ge",
                        a=_size_text(q.min_size, q.measure)))
    if q.max_size is not None:
        parts.append(_t(lang, "lt" if _strict(q.max_size) else "le",
                        b=_size_text(q.max_size, q.measure)))
    return parts


def _strict(amount: float) -> bool:
    """Whether a size bound leaves its amount out ("más de 50"): an inclusive one ("55 a
    más") is stored a millionth past it (see ``read_size_bounds``)."""
    return abs(amount - round(amount, 4)) < 1e-9


#: How a size bound reads, by what it measures (amounts in base units).
_SIZE_TEXT = {"volume": "{n:g} L", "weight": "{n:g} kg", "inch": '{n:g}"', "storage": "{n:g} GB",
              "pack": "{n:g} unidades"}


def _size_text(amount: float, measure: str | None) -> str:
    """A size bound as a reply writes it: '1 L', '43"', '128 GB'."""
    return _SIZE_TEXT.get(measure or "", "{n:g}").format(n=round(amount, 4))


def _size_bounded(q: Query) -> bool:
    """Whether ``q`` bounds the size ("más de 50 pulgadas"), read in names rather than SQL."""
    return q.min_size is not None or q.max_size is not None


def _within(size: float | None, low: float | None, high: float | None) -> bool:
    """Whether ``size`` is above ``low`` and below ``high`` (both exclusive, None: no bound)."""
    if low is None and high is None:
        return True
    return size is not None and (low is None or size > low) and (high is None or size < high)


def measured(row: dict[str, Any], measure: str | None = None) -> tuple[str, float] | None:
    """What a product's size measures and how much (see ``quantity``): ("volume", 1.5)."""
    for text in (row.get("size"), row.get("name")):
        if not text:
            continue
        amounts, pack = _amounts(str(text))
        if not amounts and not str(text).strip()[:1].isdigit():
            # "Kg", "Litro": a unit without a number is one of it.
            amounts, pack = _amounts(f"1 {text}")
        chosen = measure if measure else next(iter(amounts), None)
        if chosen in amounts:
            return chosen, amounts[chosen] * (pack if chosen in _PACKED and pack else 1)
        if pack and not measure:
            return "pack", pack
    return None


def quantity(row: dict[str, Any], measure: str | None = None) -> float | None:
    """How much a product holds, from its size (else its name): "Botella 1.5 L" -> 1.5,
    "Lata 400 g" -> 0.4, "Saco 5 kg" -> 5.0, "Pack x6 355 ml" -> 2.13, "4GB 128GB" -> 128
    (the largest amount of one measure: storage, not memory), "1TB" -> 1000. ``measure``
    ("inch", "storage", "volume", "weight") says which quantity to read; None: the first one
    stated. None when neither says it."""
    found = measured(row, measure)
    return found[1] if found else None


def _amounts(text: str) -> tuple[dict[str, float], float | None]:
    """The largest amount of each measure a text states (in base units, in the order the
    units are read), and its pack's count."""
    amounts: dict[str, float] = {}
    pack = None
    for attribute in read_attributes(numbers_to_digits(fold(text)))[1]:
        unit, _, value = attribute.partition(":")
        if unit == "pack":
            pack = float(value)
        elif unit in _BASE_UNITS:
            measure, factor = _BASE_UNITS[unit]
            amounts[measure] = max(amounts.get(measure, 0.0), float(value) * factor)
    return amounts, pack


def _asks_for_a_name(q: Query) -> bool:
    """"¿Tienen huawei?": a yes/no question whose only unknown words are no Spanish words, so
    most likely a brand or model the store does not carry (not a word basic mode missed)."""
    return (q.intent == "unknown" and q.exists and 0 < len(q.ignored) <= 2
            and not any(is_spanish_word(w, (singular(w),)) for w in q.ignored))


def _excluded(q: Query) -> dict[str, list[Any]]:
    """The values a query leaves out, by column ("brand": ["Gloria"]; "id": products shown)."""
    found: dict[str, list[Any]] = {}
    for item in q.excluded:
        column, _, value = item.partition("=")
        if column == "id":
            if not value.isdigit():
                continue
            found.setdefault(column, []).append(int(value))
        else:
            found.setdefault(column, []).append(value)
    return found


def _brand_words(records: Sequence[dict[str, Any]]) -> set[str]:
    """The words of the brands of ``records`` (folded)."""
    return {w for r in records for w in folded_words(str(r.get("brand") or ""))}


def _without_brand_words(q: Query, records: Sequence[dict[str, Any]]) -> Query:
    """``q`` without the product words that are words of the brands of ``records``."""
    brands = _brand_words(records)
    return replace(q, keywords=[w for w in q.keywords
                                if w not in brands and singular(w) not in brands])


def _head_of(name: str) -> str | None:
    """The word a product's name starts with, past what it comes in: "leche" of "Leche
    Gloria Azul", "cerveza" of "Pack Cerveza Pilsen x6" and of "Caja de Cerveza"."""
    words = folded_words(name)
    while words and (words[0] in CONTAINERS or words[0] == "de"):
        words = words[1:]
    return words[0] if words and words[0].isalpha() and len(words[0]) >= 3 else None


def _common_head(records: Sequence[dict[str, Any]]) -> str | None:
    """The word every record's name starts with ("leche" of "Leche Gloria Azul" and "Leche
    Ideal"; see ``_head_of``), when there is one."""
    heads = {_head_of(str(r["name"])) for r in records}
    return heads.pop() if len(heads) == 1 else None


def _as_head(q: Query, records: Sequence[dict[str, Any]]) -> Query:
    """A product word that is the word the names shown start with becomes a head: "aceite"
    then finds oils, not "Atún en aceite"."""
    head = _common_head(records)
    if head is None or not any(singular(w) == singular(head) for w in q.keywords):
        return q
    return replace(q, keywords=[w for w in q.keywords if singular(w) != singular(head)],
                   heads=list(dict.fromkeys([*q.heads, head])))


def _shared_kind(records: Sequence[dict[str, Any]]) -> str | None:
    """A shop word for a kind every record's name has ("kola", "cola": "gaseosa")."""
    kinds = [[k for w in folded_words(str(r["name"])) if (k := kind_word(w))] for r in records]
    common = [k for k in (kinds[0] if kinds else []) if all(k in ks for ks in kinds)]
    return common[0] if common else None


def _sized_against(q: Query, relative: str, records: Sequence[dict[str, Any]]) -> Query:
    """``q`` bounded by the sizes of the products shown: above the biggest ("bigger") or below
    the smallest ("smaller"), in what their sizes measure."""
    sizes = [found for r in records if (found := measured(r, q.measure)) is not None]
    if not sizes:
        return q
    measure = q.measure or sizes[0][0]
    amounts = [amount for unit, amount in sizes if unit == measure]
    if relative == "bigger":
        return replace(q, measure=measure, min_size=max(amounts))
    return replace(q, measure=measure, max_size=min(amounts))


def _priced_against(q: Query, relative: str, prices: Sequence[Any]) -> Query:
    """``q`` bounded by the prices of the products shown: below the cheapest ("cheaper") or
    above the dearest ("pricier"). A carried bound on the side the customer moves to is let go:
    "más de 1000 soles" then "¿y más baratos?" asks for under the cheapest shown, not for
    the few between 1000 and it."""
    known = [float(p) for p in prices if isinstance(p, int | float)]
    if not known:
        return q
    if relative == "cheaper":
        return replace(q, max_price=min(known), max_inclusive=False, min_price=None)
    return replace(q, min_price=max(known), min_inclusive=False, max_price=None)


def _spelled(text: str, q: Query, previous: Query | None) -> dict[str, str]:
    """How the customer wrote the product words ``q`` looks for, when folding changed them
    ("panales": "pañales"), this message's spelling first: replies quote their words."""
    said = {**(previous.spelled if previous else {}),
            **{fold(w): w for w in re.findall(r"\w+", text.lower()) if fold(w) != w}}
    wanted = {*q.heads, *q.keywords, *q.soft_keywords}
    return {w: said[w] for w in wanted if w in said}


def _quoted(lang: str, words: Sequence[str]) -> str:
    left, right = ("“", "”") if lang == "en" else ("«", "»")
    return ", ".join(f"{left}{w}{right}" for w in words)


def _meta(q: Query, ids: Sequence[Any], total: int) -> dict[str, Any]:
    return {"intent": q.intent, "query": q.to_dict(), "shown_ids": list(ids), "total": total}


def _availability(lang: str, value: str) -> str:
    try:
        return _t(lang, value)
    except KeyError:
        return value


def _status(lang: str, row: dict[str, Any], recorded: bool = False) -> str:
    """A product's availability as a list line says it: "disponible (3 en stock)", "agotado";
    "consultar disponibilidad" when the catalog records availability (``recorded``) but not
    this product's (a blank stock cell); "" when the catalog records none."""
    value = str(row.get("availability") or "")
    if value == "disponible" and row.get("stock"):
        return _t(lang, "in_stock", stock=row["stock"])
    if not value and recorded:
        return _t(lang, "unknown_stock")
    return _availability(lang, value)


@dataclass(frozen=True)
class _Stock:
    """How many of the products found are available, sold out (or on order), or of stock not
    recorded."""

    available: int
    sold_out: int
    unknown: int


def _stock_sentence(lang: str, stock: _Stock) -> str:
    """How a "¿tienen…?" answer opens when not every product found is available: "Sí, hay 3
    disponibles; 1 está agotado.", "Sí, hay 2 disponibles; de 1 no tengo el stock anotado
    (…)", "Lo tenemos, pero no tengo anotado su stock: …"."""
    if not stock.unknown:
        return _t(lang, "some_sold_out", a=stock.available, b=stock.sold_out,
                  available=_plural(lang, "one_available", stock.available),
                  sold=_plural(lang, "one_sold_out", stock.sold_out))
    if stock.available:
        sold = (_t(lang, "sold_part", b=stock.sold_out,
                   sold=_plural(lang, "one_sold_out", stock.sold_out)) if stock.sold_out else "")
        return _t(lang, "some_unknown", a=stock.available, u=stock.unknown, sold=sold,
                  available=_plural(lang, "one_available", stock.available))
    if stock.sold_out:
        return _t(lang, "unknown_sold", b=stock.sold_out, u=stock.unknown,
                  sold=_plural(lang, "one_sold_out", stock.sold_out))
    return _t(lang, "unknown_one" if stock.unknown == 1 else "unknown_all")


def _best(lang: str, shown: int, short: str) -> str:
    """ "Estos son los 5 de menor precio:", or "El de menor precio es:" for one."""
    if shown == 1:
        base, at, measure = short.partition("@")
        return _t(lang, "best_one", order_one=_t(lang, f"{base}_one{at}{measure}"))
    return _t(lang, "best", k=shown, order=_t(lang, short))


#: Words after which a product word describes another product: "Atún en aceite", "Arroz con
#: leche", "Salsa de tomate", "Galletas sabor a fresa".
_DESCRIBING = ("en", "con", "de", "al", "a", "sabor")


def _described_only(word: str) -> _Sql:
    """The condition that a product's name has ``word`` (or its singular) only after one of
    ``_DESCRIBING`` ("Atún A1 en aceite"), and does not start with it ("Aceite de oliva")."""
    forms = list(dict.fromkeys((word.lower(), singular(word.lower()))))
    padded = f"' ' || {FOLD_FUNCTION}(name) || ' '"
    after = [fold(f"% {before} {form} %") for form in forms for before in _DESCRIBING]
    starts = [fold(f" {form} %") for form in forms]
    where = (f"({' OR '.join(f'{padded} LIKE ?' for _ in after)}) AND NOT "
             f"({' OR '.join(f'{padded} LIKE ?' for _ in starts)})")
    return _Sql(where, tuple(after + starts))


def _names_things(q: Query) -> bool:
    return bool(q.categories or q.families or q.brands or q.keywords or q.groupings)


def _changes_subject(merged: Query, alone: Query, previous: Query | None = None) -> bool:
    """Whether a follow-up that found nothing with the previous answer's filters asked about
    other products: it names products of its own, and what it carried over from before is the
    brand or the availability talked about ("hay leche gloria?", then "¿cuál es el arroz más
    barato?"; a list of sold-out products, then "¿tienes leche en six pack?"). Then the message
    alone is the answer, without a "no" about a combination nobody asked for. A price bound,
    a size or a colour carried over still gets its "no": the customer may still want it.

    So does a brand asked about alone ("candados", then "¿tienen Bosch?") where nothing before
    named a brand and only the products talked about were carried: the store carries it. A
    brand swapped for another ("laptops Lenovo", then "¿tienen Samsung?") still gets its "no".
    A yes/no question naming a brand and its presentation ("¿tienen six pack de Pilsen?" after
    gaseosas) describes the product it asks for: the kind carried from before is let go.
    """
    own = {*alone.keywords, *alone.soft_keywords, *alone.categories, *alone.families}
    if alone.exists and alone.brands and alone.attributes and not own:
        return True
    carried_brand = bool(merged.brands) and not alone.brands
    carried_state = bool(merged.availability) and not alone.availability
    if own:
        return carried_brand or carried_state
    return bool(alone.brands) and not (previous and previous.brands) and not _bounded(merged)


def _bounded(q: Query) -> bool:
    """Whether ``q`` asks for a price, size, stock, colour or state."""
    return any(v is not None for v in (q.min_price, q.max_price, q.min_size, q.max_size,
                                       q.min_stock)) or bool(q.colors or q.availability
                                                             or q.attributes)


def _carried_kind(merged: Query, alone: Query) -> bool:
    """Whether a follow-up names product words while its category (family) was carried from
    before ("herramientas", then "¿y eléctricas?")."""
    return bool(alone.keywords and (merged.categories or merged.families)
                and not (alone.categories or alone.families))


def _relaxations(q: Query) -> tuple[list[Query], Query | None]:
    """Looser versions of a question that found nothing, to show what the shop does have:
    without sizes, then without colour, availability and price; and without product words."""
    looser = [replace(q, attributes=[], offset=0),
              replace(q, attributes=[], colors=[], availability=[], min_price=None,
                      max_price=None, min_stock=None, offset=0)]
    wordless = replace(q, attributes=[], keywords=[], soft_keywords=[], names_only=False,
                       offset=0)
    found = [c for c in looser if c != q and _names_things(c)]
    return found, wordless if wordless != q and _names_things(wordless) else None
