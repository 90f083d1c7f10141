"""Write the VS Code extension's TextMate grammar (editors/vscode/syntaxes/archdsl.tmLanguage.json).

    .venv/bin/python tools/vscode_grammar.py

The keywords come from the grammar and the layer words from the registry, as for the Pygments lexer
(archdsl/highlighting.py); run it after adding a keyword or a layer word: tests/test_vscode.py fails
until the committed file is current.
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from archdsl.frontend.keywords import keywords  # after the path: this checkout's archdsl
from archdsl.layers import SPECS

TARGET = ROOT / "editors" / "vscode" / "syntaxes" / "archdsl.tmLanguage.json"
NAME = r"[A-Za-z_][A-Za-z0-9_]*"


def grammar() -> dict:
    words = "|".join(map(re.escape, sorted(SPECS, key=len, reverse=True)))
    declarations = ("block", "network")
    others = "|".join(k for k in keywords() if k not in declarations and k not in ("true", "false", "x"))
    return {
        "$schema": "https://raw.githubusercontent.com/martinring/tmlanguage/master/tmlanguage.json",
        "name": "archdsl",
        "scopeName": "source.archdsl",
        "fileTypes": ["arch"],
        "patterns": [
            {"name": "comment.line.number-sign.archdsl", "match": "#.*$"},
            {"name": "string.quoted.double.archdsl", "match": '"[^"\\n]*"'},
            {"match": rf"\b(block|network)\s+({NAME})",
             "captures": {"1": {"name": "storage.type.archdsl"}, "2": {"name": "entity.name.function.archdsl"}}},
            {"begin": r"\b(allow)\s*(\()", "end": r"\)",
             "beginCaptures": {"1": {"name": "keyword.other.archdsl"}, "2": {"name": "punctuation.archdsl"}},
             "endCaptures": {"0": {"name": "punctuation.archdsl"}},
             "patterns": [{"name": "constant.other.diagnostic-code.archdsl", "match": rf"{NAME}(?:-[A-Za-z0-9_]+)*"}]},
            {"name": "constant.numeric.shape.archdsl", "match": r"\b[0-9]+x[0-9]+x[0-9]+\b"},
            {"match": r"\b(x)([0-9]+)\b",
             "captures": {"1": {"name": "keyword.operator.repeat.archdsl"}, "2": {"name": "constant.numeric.archdsl"}}},
            {"match": rf"({NAME})\s*(:)(?!:)",
             "captures": {"1": {"name": "entity.name.label.archdsl"}, "2": {"name": "punctuation.separator.archdsl"}}},
            {"name": "variable.other.reference.archdsl", "match": rf"@{NAME}"},
            {"name": "constant.language.archdsl", "match": r"\b(true|false)\b"},
            {"name": "keyword.operator.repeat.archdsl", "match": r"\bx\b"},
            {"name": "keyword.other.archdsl", "match": rf"\b({others})\b"},
            {"name": "support.function.layer.archdsl", "match": rf"\b({words})(?:[0-9]+(?:x[0-9]+)?)?\b"},
            {"name": "constant.numeric.archdsl",
             "match": r"\b([0-9]+\.[0-9]*([eE][-+]?[0-9]+)?|[0-9]+[eE][-+]?[0-9]+|[0-9]+)\b"},
            {"name": "keyword.operator.archdsl", "match": r"//|==|!=|<=|>=|[-+*/=<>|!]"},
        ],
    }


def text() -> str:
    return json.dumps(grammar(), indent=2) + "\n"


def main() -> None:
    new = text()
    old = TARGET.read_text() if TARGET.exists() else ""
    if new != old:
        TARGET.write_text(new)
    print(f"{TARGET.relative_to(ROOT)}: {'rewritten' if new != old else 'already up to date'}")


if __name__ == "__main__":
    main()
