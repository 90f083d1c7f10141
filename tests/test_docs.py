"""docs/language.md documents every layer word and option of the layer table."""

from __future__ import annotations

from helpers import ROOT

from archdsl.layers import SPECS


def test_every_layer_word_and_option_is_in_the_language_reference():
    text = (ROOT / "docs" / "language.md").read_text()
    rows = {line.split("|")[1].strip(): line for line in text.splitlines() if line.startswith("| `")}
    for word, spec in SPECS.items():
        if word == "linear":
            assert "may also be written `linear`" in text
            continue
        row = rows.get(f"`{word}`")
        assert row is not None, f"layer word {word} missing from docs/language.md"
        for option in spec.options:
            assert f"`{option.name}`" in row, f"{word}: option {option.name} undocumented"
