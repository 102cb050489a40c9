"""How customers write, as data: shorthand, function words and units (``basic_words.toml``).

Basic mode reads these once, at import. Shorthand ("celus", "q", "play 5") is rewritten into the
words it stands for before a question is read; function words and everyday verbs ("toda",
"tengan", "regalar") never block an answer; a number next to a unit ("27 pulgadas", "256 gb",
"aro 29") is an attribute of the product, matched against its name, never a price or a count.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Sequence
from pathlib import Path
from typing import Any

WORDS_FILE = Path(__file__).with_name("basic_words.toml")
#: The unit of a bare number that names a model or a size ("el de 256").
BARE = "number"


def _load(path: Path) -> dict[str, Any]:
    with path.open("rb") as handle:
        return tomllib.load(handle)


_DATA = _load(WORDS_FILE)
SHORTHAND: dict[str, str] = dict(_DATA["shorthand"])
FUNCTION_WORDS = frozenset(_DATA["function_words"]["words"].split())
_UNITS: dict[str, dict[str, list[str]]] = dict(_DATA["units"])
_RELATED: dict[str, list[str]] = {k: list(v) for k, v in _DATA.get("related", {}).items()}
MAKERS: dict[str, str] = dict(_DATA.get("makers", {}))
QUALITIES = frozenset(_DATA.get("qualities", {}).get("words", "").split())
_SHORTHAND_RE = re.compile(
    r"(?<![\w/])(?:" + "|".join(
        r"\s+".join(re.escape(part) for part in key.split())
        for key in sorted(SHORTHAND, key=len, reverse=True)) + r")(?![\w/])")
_UNIT_READERS = [(unit, re.compile(pattern)) for unit, spec in _UNITS.items()
                 for pattern in spec.get("read", [])]


_CLITICS = ("selos", "selas", "melo", "mela", "les", "los", "las", "nos", "le", "lo", "la",
            "me", "te", "se")


def is_function_word(word: str) -> bool:
    """A function word or everyday verb, also with a pronoun attached ("regalarle", "verlos")."""
    if word in FUNCTION_WORDS:
        return True
    return any(word.endswith(c) and word[:-len(c)] in FUNCTION_WORDS for c in _CLITICS)


def is_quality(word: str) -> bool:
    """A word for how a product is handed over that no catalog records ("fria", "calientito")."""
    return word in QUALITIES


def expand_shorthand(text: str) -> str:
    """Rewrite shorthand in folded text: "celus baratos q 500" -> "celulares baratos que 500"."""
    return _SHORTHAND_RE.sub(lambda m: SHORTHAND[" ".join(m.group(0).split())], text)


def read_attributes(text: str) -> tuple[str, list[str]]:
    """Numbers with a unit, as ``"unit:value"`` ("inch:27"); the text comes back without them."""
    found: list[str] = []
    for unit, pattern in _UNIT_READERS:
        while match := pattern.search(text):
            value = match.group(1).replace(",", ".")
            found.append(f"{unit}:{value}")
            text = text[:match.start()] + " " + text[match.end():]
    return text, list(dict.fromkeys(found))


def bare(number: str) -> str:
    """A number with no unit that names a model or a size ("iphone 15", "el de 256")."""
    return f"{BARE}:{number}"


def unit_of(attribute: str) -> str:
    """The unit of an attribute: "inch" for "inch:27"."""
    return attribute.split(":", 1)[0]


def name_patterns(attribute: str) -> list[str]:
    """LIKE patterns a product name matches when it has ``attribute`` ("inch:27" -> '%27"%')."""
    unit, _, value = attribute.partition(":")
    templates = _UNITS.get(unit, _UNITS[BARE]).get("name", [])
    shown = value.upper() if unit == "size" and value.isalpha() else value
    return [template.replace("{n}", shown) for template in templates]


def attribute_text(attribute: str) -> str:
    """How an attribute reads in a reply: '27"', '256 GB', 'aro 29', '«15»'."""
    unit, _, value = attribute.partition(":")
    template = _UNITS.get(unit, {}).get("show", "«{n}»")
    return str(template).replace("{n}", value.upper() if unit == "size" else value)


def replace_attributes(previous: Sequence[str], new: Sequence[str]) -> list[str]:
    """A follow-up's attributes on top of the previous ones.

    A bare number takes the unit the conversation was using ("los de 27 pulgadas" then "¿y de
    24?" means 24 inches); a new value replaces the old one of the same unit.
    """
    units = [unit_of(a) for a in previous if unit_of(a) != BARE]
    merged = {unit_of(a): a for a in previous}
    if new:
        # A new number replaces the model number before it ("iphone 14", then "¿y el 15?").
        merged.pop(BARE, None)
    for attribute in new:
        unit, _, value = attribute.partition(":")
        if unit == BARE and len(units) == 1:
            unit = units[0]
        merged[unit] = f"{unit}:{value}"
    return list(merged.values())


def related_words(word: str, singular: Any = None) -> list[str]:
    """``word`` and the words that mean the same in a shop ("gaseosa": "cola", "kola"...), from
    the ``[related]`` table; ``singular`` (a function) finds the entry of a plural."""
    key = word if word in _RELATED or singular is None else singular(word)
    return [word, *(w for w in _RELATED.get(key, []) if w != word)]


def kind_word(word: str) -> str | None:
    """The shop word a word of a product's name says the kind of ("kola" -> "gaseosa"), from
    the ``[related]`` table: the first entry listing it, or the word itself when it is one."""
    for key, others in _RELATED.items():
        if word in others:
            return key
    return word if word in _RELATED else None


def is_related(word: str) -> bool:
    """Whether ``word`` is an everyday word for a kind of product ("cola", "gaseosa")."""
    return word in _RELATED or any(word in others for others in _RELATED.values())
