"""Syntax highlighting of `.arch` text with Pygments, registered as the lexer `archdsl` (`*.arch`).

Sphinx, Jupyter and `pygmentize` find it through the `pygments.lexers` entry point in pyproject.toml;
Pygments itself is optional (archdsl does not depend on it). The keywords come from the grammar and
the layer words from the registry, so the lexer knows every word the compiler knows.
"""

from __future__ import annotations

import re
from typing import ClassVar

from pygments.lexer import RegexLexer, bygroups, words
from pygments.token import Comment, Keyword, Name, Number, Operator, Punctuation, String, Text, Whitespace

from archdsl.frontend.keywords import keywords
from archdsl.layers import SPECS

_LAYER_WORDS = sorted(SPECS, key=len, reverse=True)  # longest first: `maxpool` before `max`


class ArchLexer(RegexLexer):
    """Pygments lexer for archdsl's `.arch` network descriptions."""

    name = "archdsl"
    aliases: ClassVar[list[str]] = ["archdsl", "arch"]
    filenames: ClassVar[list[str]] = ["*.arch"]
    mimetypes: ClassVar[list[str]] = ["text/x-archdsl"]
    url = "https://pypi.org/project/archdsl/"

    tokens: ClassVar[dict[str, list]] = {
        "root": [
            (r"\s+", Whitespace),
            (r"#.*?$", Comment.Single),
            (r'"[^"\n]*"', String),
            (r"(block|network)(\s+)([A-Za-z_][A-Za-z0-9_]*)", bygroups(Keyword.Declaration, Whitespace, Name.Function)),
            (r"(allow)(\s*)(\()", bygroups(Keyword, Whitespace, Punctuation), "codes"),
            (r"[0-9]+x[0-9]+x[0-9]+\b", Number),  # a shape: 3x224x224
            (r"(x)([0-9]+\b)", bygroups(Keyword, Number.Integer)),  # a repetition written together: x3
            (r"([A-Za-z_][A-Za-z0-9_]*)(\s*)(:)(?!:)", bygroups(Name.Label, Whitespace, Punctuation)),
            (r"@[A-Za-z_][A-Za-z0-9_]*", Name.Variable),
            (words(keywords(), suffix=r"\b"), Keyword),
            # A layer word, with a kernel written in it (conv3, maxpool3x1) or not.
            (r"(?:" + "|".join(map(re.escape, _LAYER_WORDS)) + r")(?:[0-9]+(?:x[0-9]+)?)?\b", Name.Builtin),
            (r"[A-Za-z_][A-Za-z0-9_]*", Name),
            (r"[0-9]+\.[0-9]*(?:[eE][-+]?[0-9]+)?|[0-9]+[eE][-+]?[0-9]+", Number.Float),
            (r"[0-9]+", Number.Integer),
            (r"//|==|!=|<=|>=|[-+*/=<>|!]", Operator),
            (r"[;,(){}\[\].:]", Punctuation),
            (r".", Text),
        ],
        "codes": [
            (r"\s+", Whitespace),
            (r"[A-Za-z_][A-Za-z0-9_]*(?:-[A-Za-z0-9_]+)*", Name.Exception),
            (r",", Punctuation),
            (r"\)", Punctuation, "#pop"),
        ],
    }
