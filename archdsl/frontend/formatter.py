"""`archdsl fmt`: the canonical layout of `.arch` files, keeping every comment.

The formatter works on the token stream of Lark's own parse (every token, with the grammar rule
it belongs to), so it can never change what a file means: only the whitespace between tokens
is rewritten. The author keeps two layout choices, as with gofmt: where lines break (runs of
blank lines shrink to one) and the column of an aligned trailing comment. Everything else is
fixed: four spaces per open bracket, one space between words, none inside brackets, and the
spacing of each punctuation mark decided by the rule it belongs to (`padding=2` in a call,
`num_classes = 1000` in a parameter list, `conv3-64` but `c - 1`).

The result is checked before it is returned: it must parse to the same AST as the input.
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass, field
from functools import lru_cache
from typing import TYPE_CHECKING

from archdsl.frontend.parser import parse
from archdsl.resources import grammar_text

if TYPE_CHECKING:
    from lark import Lark, Token, Tree

_INDENT = "    "
_OPENERS = {"LPAR", "LBRACE", "LESSTHAN"}
_CLOSERS = {"RPAR", "RBRACE", "MORETHAN"}
# Tokens written flush against their left neighbour, whatever rule they belong to.
_FLUSH_BEFORE = {"SEMICOLON", "COMMA", "RPAR", "COLON", "MORETHAN", "DOT"}
# Tokens written flush against their right neighbour.
_FLUSH_AFTER = {"LPAR", "LESSTHAN", "AT", "DOT"}  # DOT: `@backbone.layer3`
# (token type, rule) pairs written flush on the left / on the right.
_RULE_FLUSH_BEFORE = {("MINUS", "dash"), ("SLASH", "slash"), ("EQUAL", "arg"), ("LPAR", "arg_list"),
                      ("LPAR", "param_list"), ("LESSTHAN", "residual"), ("LESSTHAN", "inception"),
                      ("LESSTHAN", "side"), ("LESSTHAN", "named_output"),
                      ("LESSTHAN", "gate"), ("LESSTHAN", "split"), ("LPAR", "allow"),
                      ("LESSTHAN", "concat"), ("LBRACE", "label"), ("RBRACE", "label")}
_RULE_FLUSH_AFTER = {("MINUS", "dash"), ("SLASH", "slash"), ("EQUAL", "arg"), ("MINUS", "neg"), ("LBRACE", "label")}
_GAP = re.compile(r"#[^\n]*|\n")
# `<` and `>` in these rules compare two numbers: spaced like `+`, and no brackets.
_COMPARISONS = {"lt", "gt"}


def _opener(token: Token, rule: str) -> bool:
    return token.type in _OPENERS and rule not in _COMPARISONS


def _closer(token: Token, rule: str) -> bool:
    return token.type in _CLOSERS and rule not in _COMPARISONS


@lru_cache(maxsize=1)
def _lark() -> Lark:
    # Lark itself, not the generated parser of parser.py: keep_all_tokens is a tree-building option the
    # generated tables do not carry. Punctuation stays in the tree, so each token comes with its rule.
    # Imported here, not at the top: the command line imports this module at every start (see cli.py).
    from lark import Lark

    return Lark(grammar_text(), parser="lalr", keep_all_tokens=True, maybe_placeholders=True)


@dataclass
class _Line:
    tokens: list[tuple[Token, str]] = field(default_factory=list)
    depth: int = 0  # open brackets before the line's first token
    comment: str | None = None  # a trailing comment, or the whole line when there are no tokens
    comment_column: int = 0  # where the author put the trailing comment (0-based)
    blank_before: bool = False


def format_text(text: str, file: str = "<string>") -> str:
    """The canonical form of one `.arch` file (raises ArchError when it does not parse)."""
    original = parse(text, file)  # the diagnostics users know, and the nesting-depth check
    # Only CRLF is a line break: to the lexer a lone CR is blank space, or part of a comment.
    text = text.replace("\r\n", "\n")
    lines = _lines(text, _tokens(_lark().parse(text)))
    result = "\n".join(_render(lines)).strip("\n")
    result = result + "\n" if result else ""
    if _without_spans(parse(result, file)) != _without_spans(original):
        raise RuntimeError(f"archdsl fmt changed the meaning of {file}; please report it")
    return result


def _tokens(tree: Tree) -> list[tuple[Token, str]]:
    """Every token in source order with the name of the rule it belongs to (iteratively: trees nest deep)."""
    from lark import Tree

    out: list[tuple[Token, str]] = []
    stack: list[tuple[Tree | Token | None, str]] = [(tree, "start")]
    while stack:
        node, rule = stack.pop()
        if isinstance(node, Tree):
            stack.extend((child, str(node.data)) for child in reversed(node.children))
        elif node is not None:
            out.append((node, rule))
    return out


def _lines(text: str, tokens: list[tuple[Token, str]]) -> list[_Line]:
    lines = [_Line()]
    depth, newlines, position = 0, 0, 0

    def new_line() -> None:
        lines.append(_Line(depth=depth, blank_before=newlines >= 2))

    def gap(upto: int) -> None:
        nonlocal newlines
        for match in _GAP.finditer(text, position, upto):
            if match.group() == "\n":
                newlines += 1
                continue
            comment = match.group().rstrip()
            if lines[-1].tokens and newlines == 0:
                start = text.rfind("\n", 0, match.start()) + 1
                lines[-1].comment, lines[-1].comment_column = comment, match.start() - start
            else:
                new_line()
                lines[-1].comment = comment
                newlines = 0  # the newline ending the comment is counted next

    for token, rule in tokens:
        assert token.start_pos is not None and token.end_pos is not None  # Lark's lexer sets both
        gap(token.start_pos)
        if newlines or lines[-1].comment is not None:
            new_line()
        newlines = 0
        lines[-1].tokens.append((token, rule))
        depth += _opener(token, rule) - _closer(token, rule)
        position = token.end_pos
    gap(len(text))
    return [line for line in lines if line.tokens or line.comment is not None]


def _render(lines: list[_Line]) -> list[str]:
    out: list[str] = []
    previous: _Line | None = None
    for line in lines:
        if line.blank_before and out and not _opens(previous) and not _closes(line):
            out.append("")
        indent = _indent(line)
        code = _join(line.tokens)
        if not line.tokens:
            out.append(indent + (line.comment or ""))
        elif line.comment is None:
            out.append(indent + code)
        else:
            code = indent + code
            out.append(code + " " * max(2, line.comment_column - len(code)) + line.comment)
        previous = line
    return out


def _indent(line: _Line) -> str:
    leading = 0
    for token, rule in line.tokens:
        if not _closer(token, rule):
            break
        leading += 1
    depth = max(line.depth - leading, 0)
    if line.tokens and line.tokens[0][0].type == "VBAR" and depth:
        return _INDENT * (depth - 1) + "  "  # a branch separator hangs half-way out: `| branch2: ...`
    return _INDENT * depth


def _opens(line: _Line | None) -> bool:
    return bool(line and line.tokens and _opener(*line.tokens[-1]))


def _closes(line: _Line) -> bool:
    return bool(line.tokens and _closer(*line.tokens[0]))


def _join(tokens: list[tuple[Token, str]]) -> str:
    parts: list[str] = []
    for i, (token, rule) in enumerate(tokens):
        if i and _space_between(tokens[i - 1], (token, rule)):
            parts.append(" ")
        parts.append(str(token))
    return "".join(parts)


def _space_between(left: tuple[Token, str], right: tuple[Token, str]) -> bool:
    (ltok, lrule), (rtok, rrule) = left, right
    if lrule in _COMPARISONS and ltok.type in _OPENERS | _CLOSERS or \
            rrule in _COMPARISONS and rtok.type in _OPENERS | _CLOSERS:
        return True
    if ltok.type in _FLUSH_AFTER or (ltok.type, lrule) in _RULE_FLUSH_AFTER:
        return False
    if rtok.type in _FLUSH_BEFORE or (rtok.type, rrule) in _RULE_FLUSH_BEFORE:
        return False
    # `x3`: a literal repetition count sits against its `x`, as in `basic(64) x3`.
    return not (ltok.type == "X" and rtok.type == "INT")


def _without_spans(node: object) -> object:
    """A parsed module as plain data without positions, for comparing two parses."""
    if dataclasses.is_dataclass(node):
        # The type's name is kept: `(a; b)` and `side<a; b>` hold the same fields.
        return type(node).__name__, {f.name: _without_spans(getattr(node, f.name))
                                     for f in dataclasses.fields(node) if not _is_position(f.name)}
    if isinstance(node, list):
        return [_without_spans(v) for v in node]
    return node


def _is_position(key: str) -> bool:
    # By name, so that a new span field (`target_spans` of freeze) cannot make equal trees differ.
    return key in ("span", "file") or key.endswith(("_span", "_spans"))
