"""Plain Spanish words, so a typo correction never rewrites a word the customer meant.

"medicinas para el dolor" is not a typo of "color", nor "ropa para el calor", nor "¿tienen
pollos?" of "polos": each word is Spanish as written. Basic mode asks ``is_spanish_word`` before
correcting a word that neither its vocabulary nor the store's text knows.

The word list is pyspellchecker's Spanish dictionary (about 86,000 words with their frequency in
OpenSubtitles, every entry a dictionary word); it is read once, when a word first needs it (a
question without typos never does: `kratos ask` stays quick), in about 0.1 s, and kept folded
(lower case, no accents; about 11 MB), since customers often leave accents out.
"""

from __future__ import annotations

import gzip
import json
import unicodedata
from functools import cache
from importlib import resources

#: Shorter words are never corrected anyway (see ``Vocabulary.correct``).
MIN_LENGTH = 4
_PACKAGE, _RESOURCE = "spellchecker", "resources/es.json.gz"


def _fold(word: str) -> str:
    if word.isascii():
        # Most entries: no accent to take off (and a third of the list's reading time saved).
        return word.lower()
    decomposed = unicodedata.normalize("NFKD", word.lower())
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch))


@cache
def spanish_words() -> frozenset[str]:
    """The folded Spanish words of at least ``MIN_LENGTH`` letters (empty if the list is
    missing: then nothing is protected and typo correction works as before)."""
    try:
        raw = resources.files(_PACKAGE).joinpath(_RESOURCE).read_bytes()
    except (ModuleNotFoundError, FileNotFoundError):
        return frozenset()
    entries = json.loads(gzip.decompress(raw))
    return frozenset(_fold(word) for word in entries
                     if len(word) >= MIN_LENGTH and word.isalpha())


def is_spanish_word(word: str, forms: tuple[str, ...] = ()) -> bool:
    """Whether ``word`` (folded), or one of its ``forms`` (its singular, say), is a Spanish
    word. The dictionary holds base forms, so plurals are looked up by their singular."""
    known = spanish_words()
    return any(w in known for w in (word, *forms))
