"""Which language a question is in."""

import pytest

from bot.core.language import detect_language


@pytest.mark.parametrize(
    ("text", "language"),
    [("¿cuál es el producto más caro?", "es"), ("dame laptops", "es"),
     ("what is the cheapest laptop?", "en"), ("show me Samsung phones", "en"),
     ("Samsung", "es"), ("top 3 bicicletas", "es"), ("top 3 cheapest bikes", "en"),
     ("oye me prestas 50 soles?", "es"), ("me fías 20 lucas?", "es")],
)
def test_detect_language(text, language):
    assert detect_language(text) == language
