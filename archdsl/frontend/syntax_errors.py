"""Syntax errors in words: a table of typical mistakes, matched against the parser's state.

Each bad example below is parsed once; the parser state (and the token) it fails on is the key
of its explanation. A user's syntax error that fails in the same state gets that explanation as
the first part of the diagnostic's hint (Lark's `match_examples` idea, see explain()). To teach
archdsl a new explanation, add an example here and a line to tests/test_diagnostics.py.
"""

from __future__ import annotations

import re
from functools import lru_cache

from archdsl.frontend import lalr
from archdsl.frontend.lalr import UnexpectedCharacters, UnexpectedInput, UnexpectedToken

_NET = "network n { input 1x8x8; "

# Mistakes inside a sequence of statements; each is tried in every place a sequence can stand
# (the parser is in a different state at the start of a block body than after a ';', say).
STATEMENT_EXAMPLES: dict[str, list[str]] = {
    "missing ';' between two statements?": [
        "conv3-8 relu", "relu bn", "conv3-8(bias=false) relu", "a: conv3-8 x2 relu", "(relu) bn",
        "maxpool3/2 relu", "conv3-8 a: relu",
    ],
    "an option needs a value after '=', e.g. stride=2": ["conv3-8(stride=)", "conv3-8(stride=, bias=false)"],
    "missing ',' between two options?": ["conv3-8(stride=1 bias=false)", "conv3-8(1 2)"],
    "a '-' or '/' argument is a number, a name or an expression in parentheses, e.g. conv1-(c * 4)": [
        "conv3-8*2", "conv3-;", "conv3-8/2*2", "conv3-8+1", "maxpool3/;",
    ],
    "a repetition count follows 'x', e.g. conv3-64 x3 or (conv3-64; relu) x n": ["relu x;"],
    "a label is a name followed by ':' and then the layer, e.g. conv1: conv3-64": ["conv1: ;", "a: b: relu"],
    "a condition follows 'if', e.g. aux: side<...> if aux_logits": ["relu if;"],
    "inception<...> needs at least two branches separated by '|'": ["inception<relu>"],
    "split<...> needs at least two branches separated by '|', e.g. split<identity | conv1-c>": ["split<relu>"],
    "`allow` takes warning codes in parentheses, e.g. conv3-64 allow(bias-before-bn)": [
        "relu allow", "relu allow bias-before-bn", "relu allow()", "relu allow(3)", "relu allow(a b)",
        "relu allow(a;", "a: relu x2 if c allow",
    ],
    "`default` gives a layer word's options in parentheses, e.g. default bn(eps=0.001)": [
        "default bn", "default bn eps=1", "default;", "default (eps=1)",
    ],
}
_CONTEXTS = (  # `@` stands for the snippet
    _NET + "@ }", _NET + "relu; @ }", "block b { @ }", "block b { relu; @ }", _NET + "(@) }",
    _NET + "a: (relu; @) }", "block b { residual<@> }", "block b { inception<relu | @> }",
    _NET + "a: side<@> }", _NET + "a: output<@> }", "block b { gate<@> }", "block b { gate<relu | @> }",
    "block b { split<relu | @> }",
)

# Mistakes around declarations, each a whole file.
FILE_EXAMPLES: dict[str, list[str]] = {
    "two ';' in a row: there is no empty statement": [
        _NET + "relu;; }", "network n { input 1x8x8;; relu }", "block b { relu;; }",
    ],
    "a network body starts with its input declaration, e.g. `input 3x224x224;`": [
        "network n { conv3-8 }", "network n { relu; }", "network n { }",
    ],
    "missing ';' after the input declaration?": ["network n { input 1x8x8 relu }"],
    "the input shape is written CxHxW without spaces, e.g. 3x224x224": [
        "network n { input 3; }", "network n { input 3 x 224 x 224; }", "network n { input (3, 224, 224); }",
        "network n { input x; }",
    ],
    "parameters are names with optional defaults, e.g. block b(c, s = 1)": [
        "block b(1) { relu }", "network n(1) { input 1x8x8; }", "block b(c s) { relu }",
    ],
    "`use` takes a quoted path, e.g. use \"blocks/resnet.arch\";": ["use blocks.arch;", "use ;"],
    "a file holds `use`, `block` and `network` declarations; layers go inside a network's braces": [
        "relu;", "conv3-64", "input 3x8x8;", "network n { input 1x8x8; relu } relu",
    ],
    "a declaration needs a name, e.g. network ResNet34 { ... } or block basic(c) { ... }": [
        "network { input 1x8x8; }", "block { relu }", "block (c) { relu }",
    ],
    "missing '{' before the body?": ["network n input 1x8x8; }", "block b relu }"],
    "`default` comes first in a network body (after `input ...;` and `freeze ...;`) or a block body": [
        "network n { default bn(eps=1); input 1x8x8; }", "default bn(eps=1);",
    ],
    "unclosed bracket: the file ends inside a '{', '(' or '<'": [
        _NET + "relu", _NET + "relu;", _NET + "(relu; bn", _NET + "residual<relu", "block b { relu",
        _NET + "conv3-8(", _NET + "conv3-8(bias=false",
    ],
}

EXAMPLES: dict[str, list[str]] = {
    label: [context.replace("@", snippet) for snippet in snippets for context in _CONTEXTS]
    for label, snippets in STATEMENT_EXAMPLES.items()
}
for _label, _files in FILE_EXAMPLES.items():
    EXAMPLES.setdefault(_label, []).extend(_files)


# The diagnostic code of each explanation (archdsl/codes.py declares them); a syntax error that
# no example explains is `syntax`, a stray character `unexpected-character`.
CODE_OF: dict[str, str] = {
    "missing ';' between two statements?": "missing-semicolon",
    "an option needs a value after '=', e.g. stride=2": "missing-option-value",
    "missing ',' between two options?": "missing-comma",
    "a '-' or '/' argument is a number, a name or an expression in parentheses, e.g. conv1-(c * 4)":
        "bad-dash-argument",
    "a repetition count follows 'x', e.g. conv3-64 x3 or (conv3-64; relu) x n": "bad-repetition",
    "a label is a name followed by ':' and then the layer, e.g. conv1: conv3-64": "bad-label",
    "a condition follows 'if', e.g. aux: side<...> if aux_logits": "bad-condition",
    "inception<...> needs at least two branches separated by '|'": "one-branch",
    "split<...> needs at least two branches separated by '|', e.g. split<identity | conv1-c>": "one-branch",
    "`allow` takes warning codes in parentheses, e.g. conv3-64 allow(bias-before-bn)": "bad-allow",
    "`default` gives a layer word's options in parentheses, e.g. default bn(eps=0.001)": "bad-default",
    "`default` comes first in a network body (after `input ...;` and `freeze ...;`) or a block body":
        "misplaced-default",
    "two ';' in a row: there is no empty statement": "empty-statement",
    "a network body starts with its input declaration, e.g. `input 3x224x224;`": "missing-input",
    "missing ';' after the input declaration?": "missing-input-semicolon",
    "the input shape is written CxHxW without spaces, e.g. 3x224x224": "bad-input-shape",
    "parameters are names with optional defaults, e.g. block b(c, s = 1)": "bad-parameters",
    "`use` takes a quoted path, e.g. use \"blocks/resnet.arch\";": "bad-use",
    "a file holds `use`, `block` and `network` declarations; layers go inside a network's braces": "stray-statement",
    "a declaration needs a name, e.g. network ResNet34 { ... } or block basic(c) { ... }": "missing-name",
    "missing '{' before the body?": "missing-brace",
    "unclosed bracket: the file ends inside a '{', '(' or '<'": "unclosed-bracket",
}


GREATER_IN_CONDITION = "in a condition after `if`, a bare '>' closes a residual<, inception< or side<: write (a > b) " \
    "or b < a"


def greater_in_condition(text: str, position: int) -> tuple[str, str] | None:
    """The code and explanation when the '>' at `position` stands in the condition of its statement.

    The parser state cannot tell: it has already read the statement as complete, as the bracket may
    close there, so the state is the one a stray '>' after any statement gives."""
    start = max(text.rfind(mark, 0, position) for mark in ";{|<")
    if re.search(r"\bif\b", text[start + 1:position]) is None:
        return None
    return "greater-in-condition", GREATER_IN_CONDITION


def explain(exc: UnexpectedInput) -> tuple[str, str | None]:
    """The code and explanation of the example that fails like `exc` (no explanation when none does)."""
    if isinstance(exc, UnexpectedCharacters):
        return "unexpected-character", None  # "unexpected character '@'" says it all
    assert isinstance(exc, UnexpectedToken)
    table = _table()
    state, token = _key(exc)
    why = table.get((state, token)) or table.get((state, None))
    return (CODE_OF[why], why) if why else ("syntax", None)


def _key(exc: UnexpectedToken) -> tuple[tuple, str]:
    """The parser state (LALR state and the tokens it could still accept) and the offending token."""
    return (exc.state.position, frozenset(exc.accepts or exc.expected)), exc.token.type


@lru_cache(maxsize=1)
def _table() -> dict[tuple, str]:
    """(parser state, offending token type) -> explanation, from one parse of each example.

    This is Lark's `match_examples` computed once: match_examples re-parses every example on
    each error and also requires the same parser-stack depth, so the same mistake one group
    deeper would go unexplained. Keyed by state alone as a fallback; the first example wins.
    """
    table: dict[tuple, str] = {}
    for label, examples in EXAMPLES.items():
        for example in examples:
            try:
                lalr.parse(example)
            except UnexpectedCharacters:
                continue
            except UnexpectedToken as exc:
                state, token = _key(exc)
                table.setdefault((state, token), label)
                table.setdefault((state, None), label)
    return table
