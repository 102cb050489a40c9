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
_USES: dict[str, list[str]] = {k: list(v) for k, v in _DATA.get("uses", {}).items()}
MAKERS: dict[str, str] = dict(_DATA.get("makers", {}))
QUALITIES = frozenset(_DATA.get("qualities", {}).get("words", "").split())
CONTAINERS = frozenset(_DATA.get("containers", {}).get("words", "").split())
_SHORTHAND_RE = re.compile(
    r"(?<![\w/])(?:" + "|".join(
        r"\s+".join(re.escape(part) for part in key.split())
        for key in sorted(SHORTHAND, key=len, reverse=True)) + r")(?![\w/])")
_UNIT_READERS = [(unit, re.compile(pattern)) for unit, spec in _UNITS.items()
                 for pattern in spec.get("read", [])]
#: Units a size is compared in, by what they measure, and their factor to its base unit
#: (litres, kilos, inches, gigabytes): "500 ml" is 0.5 litres, "1 TB" 1,000 GB.
MEASURES: dict[str, tuple[str, float]] = {
    "volume": ("volume", 1.0), "millilitres": ("volume", 0.001), "weight": ("weight", 1.0),
    "grams": ("weight", 0.001), "inch": ("inch", 1.0), "storage": ("storage", 1.0),
    "terabytes": ("storage", 1000.0)}
_MORE = (r"mas de|mas que|mayor(?:es)? (?:a|de|que)|desde|minimo|como minimo|al menos|"
         r"arriba de|encima de|sobre|more than|over|at least")
_LESS = (r"menos de|menos que|menor(?:es)? (?:a|de|que)|hasta|maximo|como maximo|debajo de|"
         r"less than|under|up to")
#: "más de 50 pulgadas", "hasta 128 gb" before the size; "55 pulgadas a más", "1 litro pa
#: abajo" after it.
_SIZE_BOUNDS = [(unit, re.compile(rf"\b(?P<op>{_MORE}|{_LESS})\s+(?:{pattern})"),
                 re.compile(rf"(?:{pattern})\s+(?:a|o|para|pa|or)\s+(?P<op>mas|arriba|menos|"
                            rf"abajo|more|less)\b"))
                for unit, pattern in ((u, p.pattern) for u, p in _UNIT_READERS)
                if unit in MEASURES]


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


def shorthand_typed(text: str) -> dict[str, str]:
    """What the customer typed for each word shorthand stands for, in folded text ("porque":
    "xq", "celulares": "celus"), so a reply quotes their word, never one they did not type."""
    typed: dict[str, str] = {}
    for match in _SHORTHAND_RE.finditer(text):
        said = match.group(0)
        for word in SHORTHAND[" ".join(said.split())].split():
            typed.setdefault(word, said)
    return typed


def read_attributes(text: str) -> tuple[str, list[str]]:
    """Numbers with a unit, as ``"unit:value"`` ("inch:27"); the text comes back without them."""
    found: list[str] = []
    for unit, pattern in _UNIT_READERS:
        while match := pattern.search(text):
            value = match.group(1).replace(",", ".")
            found.append(f"{unit}:{value}")
            text = text[:match.start()] + " " + text[match.end():]
    return text, list(dict.fromkeys(found))


#: Bound words that leave the size named out ("más de 50": 50 is not enough).
_STRICT = re.compile(r"mas (?:de|que)|mayor(?:es)? (?:a|de|que)|arriba de|encima de|sobre|"
                     r"more than|over|menos (?:de|que)|menor(?:es)? (?:a|de|que)|debajo de|"
                     r"less than|under")
#: How far an inclusive bound moves, so that every bound compares strictly.
_INCLUSIVE = 1e-6


def read_size_bounds(text: str) -> tuple[str, list[tuple[str, str, float]]]:
    """Sizes said as bounds ("más de 50 pulgadas", "55 pulgadas a más", "hasta 128 gb"), as
    (measure, "min" or "max", amount in the base unit, to compare strictly: "55 a más" is
    "more than 54.999999"); the text comes back without them."""
    found: list[tuple[str, str, float]] = []
    for unit, before, after in _SIZE_BOUNDS:
        for pattern in (before, after):
            while match := pattern.search(text):
                number = next(g for g in match.groups()[::-1] if g and g[0].isdigit())
                measure, factor = MEASURES[unit]
                op = match["op"]
                side = "min" if re.fullmatch(rf"{_MORE}|mas|arriba|more", op) else "max"
                amount = float(number.replace(",", ".")) * factor
                if not _STRICT.fullmatch(op):
                    amount += -_INCLUSIVE if side == "min" else _INCLUSIVE
                found.append((measure, side, amount))
                text = text[:match.start()] + " " + text[match.end():]
    return text, found


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


def name_exclusions(attribute: str) -> list[str]:
    """LIKE patterns a product name must NOT match to have ``attribute``: a lone fraction
    ("fraction:1/2") is not the fraction part of a mixed number ("Amoladora 4 1/2")."""
    unit, _, value = attribute.partition(":")
    if unit != "fraction" or " " in value:
        return []
    return [f"%{digit} {value}%" for digit in range(10)]


def attribute_text(attribute: str) -> str:
    """How an attribute reads in a reply: '27"', '256 GB', 'aro 29', '«15»'."""
    unit, _, value = attribute.partition(":")
    template = _UNITS.get(unit, {}).get("show", "«{n}»")
    return str(template).replace("{n}", value.upper() if unit == "size" else value)


#: Units that measure the same thing, so a new value in one replaces an old one in the other.
_SAME_MEASURE = {"fraction": "inch", "inch": "fraction"}


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
        # Fractions and whole inches are one measure: "de 1/2" then "¿y de 4 pulgadas?".
        merged.pop(_SAME_MEASURE.get(unit, ""), None)
        merged[unit] = f"{unit}:{value}"
    return list(merged.values())


def related_words(word: str, singular: Any = None) -> list[str]:
    """``word`` and the words that mean the same in a shop ("gaseosa": "cola", "kola"...), from
    the ``[related]`` table, and what a product for it is called ("tos": "jarabe"), from the
    ``[uses]`` table; ``singular`` (a function) finds the entry of a plural."""
    key = word if word in _RELATED or word in _USES or singular is None else singular(word)
    others = [*_RELATED.get(key, []), *_USES.get(key, [])]
    return [word, *(w for w in dict.fromkeys(others) if w != word)]


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
