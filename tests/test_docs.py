"""docs/language.md documents every layer word and option of the layer registry."""

from __future__ import annotations

from helpers import ROOT

from archdsl.layers import words
from archdsl.layers.docs import replace_table

LANGUAGE = ROOT / "docs" / "language.md"


def test_every_layer_word_and_option_is_in_the_language_reference():
    text = LANGUAGE.read_text()
    rows = {line.split("|")[1].strip(): line for line in text.splitlines() if line.startswith("| `")}
    for spec in words():
        for alias in spec.aliases:
            assert f"may also be written `{alias}`" in text
        row = rows.get(f"`{spec.word}`")
        assert row is not None, f"layer word {spec.word} missing from docs/language.md"
        for option in spec.options:
            assert f"`{option.name}`" in row, f"{spec.word}: option {option.name} undocumented"


def test_the_table_of_layer_words_is_the_one_the_registry_renders():
    text = LANGUAGE.read_text()
    assert replace_table(text) == text, \
        "docs/language.md's table of layer words is out of date: run `.venv/bin/python tools/layer_table.py`"
