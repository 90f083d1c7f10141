"""`archdsl words`: the layer words of the language and their options, read from the registry."""

from __future__ import annotations

import argparse

from archdsl.layers.registry import LayerSpec, words


def describe(spec: LayerSpec) -> str:
    forms = []
    if spec.kernel_in_word:
        forms.append(f"{spec.word}K, {spec.word}KxL (kernel K×K or K×L)")
    forms += [f"-{name}" for name in spec.dashes]
    if spec.slash:
        forms.append(f"/{spec.slash}")
    lines = [f"{spec.word}: {spec.doc}"]
    lines.append(f"  PyTorch: {spec.torch}")
    if spec.aliases:
        lines.append(f"  also spelt: {', '.join(spec.aliases)}")
    if forms:
        lines.append(f"  shorthand: {', '.join(forms)}")
    for option in spec.options:
        default = "required" if option.name in spec.required else _default(option.default)
        choices = f" [{'|'.join(option.choices)}]" if option.choices else ""
        lines.append(f"  {option.name}={default}{choices}: {option.doc}")
    if spec.example:
        lines.append(f"  e.g. {spec.example}")
    if spec.argument:
        lines.append(f"  a block argument: `block b(c, act = {spec.word}) {{ ...; act }}`, "
                     f"used as `b(16, act={spec.word})`")
    return "\n".join(lines)


def _default(value) -> str:
    if value is None:
        return "none"
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def cmd_words(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    specs = words()
    if args.words:
        known = {name: spec for spec in specs for name in (spec.word, *spec.aliases)}
        unknown = [w for w in args.words if w not in known]
        if unknown:
            parser.error(f"unknown layer word {', '.join(map(repr, unknown))}; the words: "
                         + ", ".join(s.word for s in specs))
        specs = [known[w] for w in args.words]
    print("\n\n".join(describe(spec) for spec in specs))
    return 0


def register(sub) -> None:
    p = sub.add_parser("words", help="the layer words and their options (from the registry)")
    p.add_argument("words", nargs="*", metavar="WORD", help="only these words (default: all)")
    p.set_defaults(run=cmd_words)
