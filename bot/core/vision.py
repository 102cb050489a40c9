"""Photos of products: a vision-capable model says what it sees, the catalog is searched for it.

The model only describes the photo (kind of product, brand, colour, visible features); the
description becomes a question answered the usual way — SQL on the catalog, grounded in its
rows — so a customer hears about the closest products the store has, never that the exact item
in the photo is stocked unless the rows show it. Channel-agnostic: a channel downloads the
image and hands over its bytes.
"""

from __future__ import annotations

import base64
import logging
import time

import openai
from openai import AsyncOpenAI

from bot.errors import UserFacingError

logger = logging.getLogger(__name__)

#: Longest description kept: a search phrase, not an essay.
DESCRIPTION_CHARS = 300
DESCRIPTION_TOKENS = 120
#: Formats the Chat Completions API accepts as image input.
IMAGE_TYPES = {b"\xff\xd8\xff": "image/jpeg", b"\x89PNG\r\n\x1a\n": "image/png",
               b"GIF87a": "image/gif", b"GIF89a": "image/gif"}

INSTRUCTIONS = (
    "You look at a photo a customer sent to a store. Reply with one short line in {language} "
    "that could be typed into the store's product search: the kind of product, then brand, "
    "model, colour and size when visible. No sentences, no prices, no guesses about stock. "
    "If the photo shows no product, reply exactly: NONE"
)
LANGUAGE_NAMES = {"es": "Spanish", "en": "English"}

QUESTIONS = {
    "es": {
        "default": "¿Tienen esto?",
        "ask": "{question}\n\n[Foto del cliente: {description}. Busca en el catálogo los "
               "productos más parecidos. No digas que tenemos exactamente ese producto salvo "
               "que las filas lo muestren; si no está, ofrece los más cercanos.]",
    },
    "en": {
        "default": "Do you have this?",
        "ask": "{question}\n\n[Customer's photo: {description}. Search the catalog for the "
               "closest products. Do not say we have exactly that item unless the rows show "
               "it; if it is not there, offer the closest ones.]",
    },
}


class VisionUnavailable(UserFacingError):
    """The vision model failed, timed out, or saw no product in the photo."""

    def __init__(self) -> None:
        super().__init__(
            es="No pude reconocer un producto en la foto. ¿Me escribes cuál buscas?",
            en="I couldn't make out a product in the photo. Could you type which one you're "
               "looking for?",
        )


def image_type(data: bytes) -> str | None:
    """The MIME type of a JPEG, PNG or GIF image from its first bytes, else None."""
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    return next((mime for magic, mime in IMAGE_TYPES.items() if data.startswith(magic)), None)


async def describe_photo(client: AsyncOpenAI, model: str, image: bytes, *,
                         language: str = "es") -> str:
    """One search line describing the product in ``image`` (JPEG, PNG, GIF or WebP bytes).

    Sent as a base64 data URL in a Chat Completions ``image_url`` part with ``detail: low``
    (a fixed, small token cost). Raises ``VisionUnavailable`` when the request fails, the
    image format is unknown, or the model sees no product.
    """
    mime = image_type(image)
    if mime is None:
        raise VisionUnavailable()
    url = f"data:{mime};base64,{base64.b64encode(image).decode('ascii')}"
    name = LANGUAGE_NAMES["en" if language.startswith("en") else "es"]
    started = time.perf_counter()
    try:
        response = await client.chat.completions.create(
            model=model, max_tokens=DESCRIPTION_TOKENS,
            messages=[
                {"role": "system", "content": INSTRUCTIONS.format(language=name)},
                {"role": "user", "content": [
                    {"type": "text", "text": "¿Qué producto es este?"},
                    {"type": "image_url", "image_url": {"url": url, "detail": "low"}},
                ]},
            ],
        )
    except openai.APIError as error:
        logger.warning("photo description failed: %s (status %s)", type(error).__name__,
                       getattr(error, "status_code", None))
        raise VisionUnavailable() from error
    text = (response.choices[0].message.content or "").strip() if response.choices else ""
    text = " ".join(text.split())[:DESCRIPTION_CHARS]
    logger.info("photo of %d bytes described in %.2f s", len(image),
                time.perf_counter() - started)
    if not text or text.upper().strip(".") == "NONE":
        raise VisionUnavailable()
    return text


def photo_question(description: str, caption: str, language: str) -> str:
    """The question answered for a photo: the caption (or "¿Tienen esto?") plus what it shows."""
    texts = QUESTIONS["en" if language.startswith("en") else "es"]
    return texts["ask"].format(question=caption.strip() or texts["default"],
                               description=description)
