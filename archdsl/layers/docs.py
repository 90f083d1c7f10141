"""The table of layer words in docs/language.md, rendered from the registry.

tools/layer_table.py writes it between the two markers below; tests/test_docs.py fails when the
committed table is not the one the registry renders.
"""

from __future__ import annotations

from archdsl.layers.registry import LayerSpec, Option, words

BEGIN = "<!-- generated from archdsl/layers/ by tools/layer_table.py: edit the entries there, not this table -->"
END = "<!-- end of the generated table -->"


def table() -> str:
    """The markdown table: a row per layer word, in registration order."""
    lines = ["| word | PyTorch | shorthand | options (default) | examples |", "|---|---|---|---|---|"]
    lines += [_row(spec) for spec in words()]
    return "\n".join(lines) + "\n"


def replace_table(text: str) -> str:
    """`text` (docs/language.md) with the table between the markers rendered afresh."""
    head, begin, rest = text.partition(BEGIN + "\n")
    _, end, tail = rest.partition(END)
    if not begin or not end:
        raise ValueError(f"docs/language.md lacks the markers {BEGIN!r} and {END!r}")
    return head + begin + table() + end + tail


def _row(spec: LayerSpec) -> str:
    shorthand = []
    if spec.kernel_in_word:
        shorthand.append(f"`{spec.word}K`, `{spec.word}KxL`: kernel K×K or K×L")
    shorthand += [f"`-{name}`" for name in spec.dashes]
    if spec.slash:
        shorthand.append(f"`/{spec.slash}`")
    options = "<br>".join(f"`{o.name}` ({_default(spec, o)}): {o.doc}" for o in spec.options)
    cells = [f"`{spec.word}`", f"`{spec.torch}`", ", ".join(shorthand) or "—", options or "—",
             f"`{spec.example}`" if spec.example else "—"]
    return "| " + " | ".join(cells) + " |"


def _default(spec: LayerSpec, option: Option) -> str:
    if option.name in spec.required:
        return "required"
    if option.default is None:
        return "—"
    if isinstance(option.default, bool):
        return "true" if option.default else "false"
    return str(option.default)
