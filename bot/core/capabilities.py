"""What this installation can do, said honestly, with examples from the store's own catalog.

Voice notes and recordings need a speech endpoint (a model key); photos need a vision model
(VISION_MODEL). Greetings, help and the one-line answers to stickers and the like say only what
is really there, so no customer is promised a voice note that is then refused. Channel-agnostic.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from bot.catalog.reader import CatalogReader, TableInfo
from bot.catalog.roles import CatalogRoles
from bot.errors import KratosError
from bot.settings import Settings

logger = logging.getLogger(__name__)

#: Columns that name a product's kind and brand, in the languages stores write schemas in.
KIND_COLUMNS = ("category", "categoria", "type", "tipo", "family", "familia")
BRAND_COLUMNS = ("brand", "marca", "manufacturer", "fabricante")
NAME_COLUMNS = ("name", "nombre", "product", "producto", "title", "titulo")
EXAMPLE_CHARS = 60

TEXTS = {
    "es": {
        "text": "preguntas escritas",
        "voice": "notas de voz",
        "recordings": "audios y videos (te doy la transcripción)",
        "photos": "fotos de productos",
        "photo_captions": "fotos con tu pregunta escrita en el texto",
        "understand": "Entiendo {things}.",
        "and": " y ",
        "kind": "¿Tienen {value}?",
        "brand": "¿Tienen algo de {value}?",
        "name": "¿Cuánto cuesta {value}?",
        "cheapest": "¿Cuál es el producto más barato?",
        "other": "🙂 Eso no lo puedo leer. {understand} Pregúntame por productos, precios o "
                 "stock.",
        "help_voice": "Entiendo notas de voz. Si me envías un audio o un video, lo transcribo y "
                      "puedes preguntarme sobre él.",
        "help_no_voice": "En esta tienda solo leo texto: las notas de voz, audios y videos "
                         "necesitan el servicio de voz, que no está configurado.",
        "help_photos": "Envíame la foto de un producto y te digo lo más parecido que tenemos.",
        "help_captions": "Si me envías una foto, escribe tu pregunta en el texto de la foto.",
        "help_examples": "Prueba, por ejemplo: {examples}",
        "quote": "«{text}»",
        "photo_blind": "📷 Recibí tu foto, pero aquí no puedo ver imágenes. Escríbeme qué "
                       "producto buscas o envíame la foto con tu pregunta en el texto.",
    },
    "en": {
        "text": "typed questions",
        "voice": "voice notes",
        "recordings": "audio and video files (I send the transcript)",
        "photos": "photos of products",
        "photo_captions": "photos with your question written in the caption",
        "understand": "I understand {things}.",
        "and": " and ",
        "kind": "Do you have {value}?",
        "brand": "Do you have anything by {value}?",
        "name": "How much is {value}?",
        "cheapest": "What is the cheapest product?",
        "other": "🙂 I can't read that. {understand} Ask me about products, prices or stock.",
        "help_voice": "I understand voice notes. Send me an audio file or a video and I'll "
                      "transcribe it so you can ask about it.",
        "help_no_voice": "Here I only read text: voice notes, audio and video need the speech "
                         "service, which is not set up.",
        "help_photos": "Send me a photo of a product and I'll tell you the closest we have.",
        "help_captions": "If you send a photo, write your question in its caption.",
        "help_examples": "Try, for example: {examples}",
        "quote": "“{text}”",
        "photo_blind": "📷 I got your photo, but I can't see images here. Type which product "
                       "you're looking for, or send the photo with your question in the "
                       "caption.",
    },
}


def say(key: str, language: str, **values: str) -> str:
    """One of this module's sentences, Spanish unless the language is English."""
    return TEXTS["en" if language.startswith("en") else "es"][key].format(**values)


@dataclass(frozen=True)
class Capabilities:
    """What this installation can take in, from its settings."""

    voice: bool  # voice notes, audio and video: a speech endpoint is configured
    photos: bool  # a vision model looks at photos

    @classmethod
    def of(cls, settings: Settings) -> Capabilities:
        """The capabilities ``settings`` give (no network: configured is not checked live)."""
        return cls(voice=settings.model_enabled,
                   photos=settings.model_enabled and bool(settings.vision_model))

    def things(self, language: str) -> list[str]:
        """What the bot understands, as a list of phrases in ``language``."""
        items = [say("text", language)]
        if self.voice:
            items += [say("voice", language), say("recordings", language)]
        items.append(say("photos" if self.photos else "photo_captions", language))
        return items

    def understand(self, language: str) -> str:
        """One sentence: "Entiendo preguntas escritas, notas de voz … y fotos de productos." """
        items = self.things(language)
        joined = ", ".join(items[:-1]) + say("and", language) + items[-1]
        return say("understand", language, things=joined)


def other_message_line(capabilities: Capabilities, language: str) -> str:
    """The one friendly line for a sticker, GIF, location, contact, poll or dice."""
    return say("other", language, understand=capabilities.understand(language))


def media_help(capabilities: Capabilities, language: str, examples: list[str]) -> str:
    """The /help paragraph on voice, recordings and photos, with the catalog's examples."""
    lines = [say("help_voice" if capabilities.voice else "help_no_voice", language),
             say("help_photos" if capabilities.photos else "help_captions", language)]
    if examples:
        quoted = ", ".join(say("quote", language, text=e) for e in examples)
        lines.append(say("help_examples", language, examples=quoted))
    return "\n".join(lines)


def photo_without_vision_line(language: str) -> str:
    """The line for a photo without a caption when no vision model is configured."""
    return say("photo_blind", language)


def _column(table: TableInfo, names: tuple[str, ...]) -> str | None:
    by_name = {c.name.lower(): c.name for c in table.columns}
    return next((by_name[name] for name in names if name in by_name), None)


async def _most_common(catalog: CatalogReader, table: TableInfo, column: str) -> str | None:
    """The most frequent short value of ``column``, or None."""
    quoted_table, quoted_column = (f'"{n.replace(chr(34), chr(34) * 2)}"'
                                   for n in (table.name, column))
    sql = (f"SELECT {quoted_column}, count(*) AS n FROM {quoted_table} WHERE {quoted_column}"
           f" IS NOT NULL GROUP BY {quoted_column} ORDER BY n DESC LIMIT 5")
    try:
        result = await catalog.run(sql, max_rows=5)
    except KratosError as error:
        logger.info("no example from %s.%s: %s", table.name, column, error)
        return None
    values = [str(row[0]).strip() for row in result.rows]
    return next((v for v in values if v and len(v) <= EXAMPLE_CHARS), None)


async def catalog_examples(catalog: CatalogReader, language: str,
                           roles: CatalogRoles | None = None) -> list[str]:
    """Up to three example questions built from the catalog's own kinds, brands and names.

    With the catalog's column roles (``bot.catalog.roles``), from its product table's category
    (or family), brand (maker, laboratory, author...) and name columns, whatever the store
    calls them; without them, from the largest table's columns with the usual names. A
    catalog with none of those gets one generic question.
    """
    tables = [t for t in await catalog.tables() if not t.is_fts]
    if not tables:
        return [say("cheapest", language)]
    by_name = {t.name: t for t in tables}
    main = by_name.get(roles.table) if roles is not None else None
    if main is None:
        main, roles = max(tables, key=lambda t: t.row_count), None
    examples = []
    for key, column in _example_columns(main, roles):
        value = await _most_common(catalog, main, column) if column else None
        if value:
            shown = value.lower() if key == "kind" else value
            examples.append(say(key, language, value=shown))
    return examples or [say("cheapest", language)]


def _example_columns(table: TableInfo, roles: CatalogRoles | None
                     ) -> list[tuple[str, str | None]]:
    """(example kind, column) pairs: from the roles when known, else by the usual names."""
    if roles is not None:
        return [("kind", roles.column("category") or roles.column("family")),
                ("brand", roles.column("brand")), ("name", roles.column("name"))]
    return [("kind", _column(table, KIND_COLUMNS)), ("brand", _column(table, BRAND_COLUMNS)),
            ("name", _column(table, NAME_COLUMNS))]
