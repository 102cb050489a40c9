"""Which language a message is in: Spanish unless it clearly reads as English."""

from __future__ import annotations

import re

_WORD = re.compile(r"[a-záéíóúñü']+")
_ENGLISH = frozenset(
    """
    the what which how many much is are do does have has show me give cheapest most
    expensive price prices products product please under over between with without
    available any i you we they it of for and in stock brand cost costs list
    """.split()
)
_SPANISH = frozenset(
    """
    el la los las que cual cuál cuales cuáles cuanto cuánto cuesta cuestan de del y en un
    una unos unas dame muestra muestrame muéstrame tienen hay precio precios producto
    productos mas más barato barata baratos baratas caro cara caros caras menos entre con
    sin por para disponible disponibles agotado agotados quiero busco hola gracias marca
    stock
    oye tienes tiene alguna alguno algo soles lucas q pa x son es esos esas solo chau porfa
    celus teles audis lap compu
    """.split()
)


def detect_language(text: str, default: str = "es") -> str:
    """'en' or 'es', by counting common words; ties and unknowns give ``default``."""
    words = _WORD.findall(text.lower())
    english = sum(word in _ENGLISH for word in words)
    spanish = sum(word in _SPANISH for word in words)
    if any(ch in text for ch in "¿¡áéíóúñ"):
        spanish += 2
    if english > spanish:
        return "en"
    if spanish > english:
        return "es"
    return default
