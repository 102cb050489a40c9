"""How customers write, as data: shorthand, function words and units (bot/core/basic_words.toml)."""

import re

import pytest

from bot.core import basic_words
from bot.core.basic_words import (
    SHORTHAND,
    attribute_text,
    expand_shorthand,
    is_function_word,
    name_patterns,
    read_attributes,
    replace_attributes,
)


@pytest.mark.parametrize(("text", "expanded"), [
    ("celus baratos q 500", "celulares baratos que 500"),
    ("tienen play 5?", "tienen playstation 5?"),
    ("la ps5 o la play  station 5", "la playstation 5 o la playstation 5"),
    ("algo pa regalar x 100 lucas", "algo para regalar por 100 soles"),
    # Only whole words: "xbox", "papa", "s/ 500" and "4x4" keep their letters.
    ("xbox papa s/ 500 4x4", "xbox papa s/ 500 4x4"),
])
def test_shorthand_is_rewritten_as_whole_words(text, expanded):
    assert expand_shorthand(text) == expanded


def test_every_shorthand_value_is_plain_words():
    for key, value in SHORTHAND.items():
        assert key == key.lower() and re.fullmatch(r"[a-z0-9 ]+", value), key


@pytest.mark.parametrize(("word", "function"), [
    ("tengan", True), ("toda", True), ("regalarle", True), ("mostrarmelo", True),
    ("prestarle", False),
    ("prestas", False), ("laptop", False)])
def test_function_words_and_verbs_with_pronouns(word, function):
    assert is_function_word(word) is function


@pytest.mark.parametrize(("text", "attributes", "rest"), [
    ('monitor 27" qhd', ["inch:27"], "monitor   qhd"),
    ("los de 27 pulgadas", ["inch:27"], "los de  "),
    ("celular de 256 gb o 1 tb", ["storage:256", "terabytes:1"], "celular de   o  "),
    ("bici aro 27.5", ["rim:27.5"], "bici  "),
    ("pesa de 16 kg", ["weight:16"], "pesa de  "),
    ("polo talla m", ["size:m"], "polo  "),
    ("5 licuadoras de 300 soles", [], "5 licuadoras de 300 soles"),
])
def test_units_make_numbers_attributes(text, attributes, rest):
    assert read_attributes(text) == (rest, attributes)


def test_patterns_and_wording_of_attributes():
    assert name_patterns("inch:27")[0] == '%27"%'
    assert "%Talla M" in name_patterns("size:m")
    assert attribute_text("storage:256") == "256 GB"
    assert attribute_text(basic_words.bare("15")) == "«15»"


def test_a_bare_number_in_a_follow_up_takes_the_unit_in_use():
    assert replace_attributes(["inch:27"], ["number:24"]) == ["inch:24"]
    assert replace_attributes(["number:14"], ["number:15"]) == ["number:15"]
    assert replace_attributes(["storage:128"], ["inch:6"]) == ["storage:128", "inch:6"]
    assert replace_attributes([], ["number:15", "storage:256"]) == ["number:15", "storage:256"]
