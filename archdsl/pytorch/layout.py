"""Lines of emitted Python longer than 120 characters, wrapped at their last bracket as black does.

The code generator writes each statement on one line; a long signature (`def __init__(self, ...)`), a
constructor call with many options or a long concatenation is then split here: first the bracket's
contents on one line of their own, and if that is still too long, one item per line with a trailing
comma. Lines inside a docstring are left alone.
"""

from __future__ import annotations

from collections.abc import Iterator

LIMIT = 120
_INDENT = "    "
_PAIRS = {"(": ")", "[": "]", "{": "}"}


def wrap_source(source: str) -> str:
    lines: list[str] = []
    in_string = False
    for line in source.split("\n"):
        quotes = line.count('"""')
        lines += [line] if in_string or quotes else wrap(line)
        in_string ^= quotes % 2 == 1
    return "\n".join(lines)


def wrap(line: str) -> list[str]:
    """`line`, or the lines it splits into, each within LIMIT where a bracket allows."""
    if len(line) <= LIMIT:
        return [line]
    indent = line[: len(line) - len(line.lstrip())]
    code, comment = _split_comment(line)
    pair = _last_outer_pair(code)
    if pair is None:
        return [line]
    start, end = pair
    head, body, tail = code[: start + 1], code[start + 1 : end].strip(), code[end:] + comment
    if not body:
        return [line]
    inner = indent + _INDENT
    if len(inner + body) <= LIMIT:
        return [head, inner + body, indent + tail]
    items = [inner + item + "," for item in _top_level_items(body)]
    return [head, *(out for item in items for out in wrap(item)), indent + tail]


def _split_comment(line: str) -> tuple[str, str]:
    """The code and its trailing comment (with the spaces before it)."""
    for k, ch, _ in _code(line):
        if ch == "#":
            code = line[:k].rstrip()
            return code, line[len(code):]
    return line, ""


def _code(text: str) -> Iterator[tuple[int, str, int]]:
    """(index, character, bracket depth outside it) for each character of `text` outside string literals."""
    quote, depth = None, 0
    for k, ch in enumerate(text):
        if quote:
            quote = None if ch == quote else quote
            continue
        if ch in "\"'":
            quote = ch
        elif ch in _PAIRS.values():
            depth -= 1
        yield k, ch, depth
        if ch in _PAIRS:
            depth += 1


def _last_outer_pair(code: str) -> tuple[int, int] | None:
    pair, start = None, None
    for k, ch, depth in _code(code):
        if depth == 0 and ch in _PAIRS:
            start = k
        elif depth == 0 and ch in _PAIRS.values() and start is not None:
            pair = (start, k)
    return pair


def _top_level_items(body: str) -> list[str]:
    """`body` cut at its commas outside brackets and strings (a trailing comma leaves no empty item)."""
    items, begin = [], 0
    for k, ch, depth in _code(body):
        if ch == "," and depth == 0:
            items.append(body[begin:k].strip())
            begin = k + 1
    last = body[begin:].strip()
    return items + ([last] if last else [])
