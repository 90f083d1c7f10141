"""The LALR(1) parser that reads `.arch` text: a table-driven runtime over the tables of _parse_tables.py.

tools/generate_parser.py has Lark build the grammar's LALR tables and contextual lexer and writes them
out as plain literals; this module runs them. It reads text exactly as `lark.Lark(grammar,
parser="lalr", propagate_positions=True, maybe_placeholders=True)` does (the same trees, token and node
positions, and errors: tests/test_parser.py compares the two on every bundled file and every syntax
mistake archdsl explains), but a process imports it in about a millisecond: Lark's stand-alone
parser, which it replaces, spent 30 ms of every `archdsl summary` importing Lark's machinery and
rebuilding its objects from the serialised tables.

The semantics follow Lark's (MIT licence): the contextual lexer (each parser state lexes only the
terminals it can accept; a keyword is a name whose text equals it), the tree shaping (`_rule` and
`?rule` inlined, anonymous tokens dropped, None for an absent `[...]`) and position propagation (a
node spans its first to its last child, counting the tokens it dropped).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from archdsl.frontend import _parse_tables as tables
from archdsl.frontend import regexes

if TYPE_CHECKING:
    from typing_extensions import Self


class Token(str):
    """A terminal's text, with its type and where it stands (1-based line and column; end exclusive)."""

    type: str
    start_pos: int
    line: int
    column: int
    end_line: int
    end_column: int
    end_pos: int

    def __new__(cls, type: str, value: str, start_pos: int = 0, line: int = 1, column: int = 1,
                end_line: int = 1, end_column: int = 1, end_pos: int = 0) -> Self:
        self = super().__new__(cls, value)
        self.type, self.start_pos, self.line, self.column = type, start_pos, line, column
        self.end_line, self.end_column, self.end_pos = end_line, end_column, end_pos
        return self

    @property
    def value(self) -> str:
        return str(self)

    @classmethod
    def new_borrow_pos(cls, type: str, value: str, borrow: Token) -> Token:
        return cls(type, value, borrow.start_pos, borrow.line, borrow.column, borrow.end_line, borrow.end_column,
                   borrow.end_pos)

    def __repr__(self) -> str:
        return f"Token({self.type!r}, {str(self)!r})"


class Meta:
    """Where a node of the tree stands; `empty` until a token under it gives it a position. The
    `container_` positions also count the tokens the tree dropped (brackets, keywords)."""

    __slots__ = (
        "column",
        "container_column",
        "container_end_column",
        "container_end_line",
        "container_end_pos",
        "container_line",
        "container_start_pos",
        "empty",
        "end_column",
        "end_line",
        "end_pos",
        "line",
        "start_pos",
    )

    empty: bool
    line: int
    column: int
    start_pos: int
    end_line: int
    end_column: int
    end_pos: int
    container_line: int
    container_column: int
    container_start_pos: int
    container_end_line: int
    container_end_column: int
    container_end_pos: int

    def __init__(self) -> None:
        self.empty = True


class Tree:
    """A rule's node: its name (the alias where the grammar gives one), children and position."""

    __slots__ = ("children", "data", "meta")

    def __init__(self, data: str, children: list, meta: Meta | None = None) -> None:
        self.data, self.children, self.meta = data, children, Meta() if meta is None else meta

    def __repr__(self) -> str:
        return f"Tree({self.data!r}, {self.children!r})"


class UnexpectedInput(Exception):
    """A syntax error at `line`, `column` (1-based) and `pos_in_stream` (0-based), with the parser's
    `state` (its `position` is the LALR state it was in)."""

    line: int
    column: int
    pos_in_stream: int
    state: ParserState


class UnexpectedToken(UnexpectedInput):
    """A token the parser state cannot take. `expected`: the terminals of the state's table (Lark's
    `expected`); `accepts`: those the parser would really take there, after any reductions."""

    def __init__(self, token: Token, expected: set[str], state: ParserState) -> None:
        super().__init__(f"unexpected token {token!r}, expected one of {sorted(expected)}")
        self.token, self.expected, self.state = token, expected, state
        self.line, self.column, self.pos_in_stream = token.line, token.column, token.start_pos
        self._accepts: set[str] | None = None

    @property
    def accepts(self) -> set[str]:
        if self._accepts is None:
            self._accepts = self.state.accepts()
        return self._accepts


class UnexpectedCharacters(UnexpectedInput):
    """Text no terminal matches, where `allowed` are the terminals the lexer of that state knows."""

    def __init__(self, pos: int, line: int, column: int, allowed: set[str], state: ParserState) -> None:
        super().__init__(f"no terminal matches at line {line} column {column}")
        self.pos_in_stream, self.line, self.column, self.allowed, self.state = pos, line, column, allowed, state


class ParserState:
    """The LALR stacks of one parse; `position` is the state on top."""

    __slots__ = ("states", "values")

    def __init__(self, states: list[int], values: list) -> None:
        self.states, self.values = states, values

    @property
    def position(self) -> int:
        return self.states[-1]

    def accepts(self) -> set[str]:
        """The terminals the parse would go on with: each is fed to a copy of the state stack through the
        reductions it causes until it is shifted (or, for the end, the text is whole) or has no action."""
        taken = set()
        for terminal in tables.STATES[self.position]:
            if terminal.isupper():
                stack = list(self.states)
                while True:
                    action = tables.STATES[stack[-1]].get(terminal)
                    if action is None:
                        break
                    if action >= 0:
                        taken.add(terminal)
                        break
                    origin, size = tables.RULES[~action][:2]
                    if size:
                        del stack[-size:]
                    stack.append(tables.STATES[stack[-1]][origin])
                    if terminal == "$END" and stack[-1] == tables.END:  # the whole text reduced: the end is fine
                        taken.add(terminal)
                        break
        return taken


class _Lexer:
    """The scanner of one set of terminals: one regular expression of named alternatives."""

    __slots__ = ("allowed", "keywords", "match")

    def __init__(self, pattern: str, allowed: tuple[str, ...], keywords: dict[str, dict[str, str]]) -> None:
        self.match = regexes.compile(pattern).match
        self.allowed, self.keywords = set(allowed) or {"<END-OF-FILE>"}, keywords


_LEXERS: dict[int, _Lexer] = {}


def _lexer(index: int) -> _Lexer:
    lexer = _LEXERS.get(index)
    if lexer is None:  # built on first use: a parse of a typical file meets a third of them
        lexer = _LEXERS[index] = _Lexer(*tables.LEXERS[index])
    return lexer


class _Reader:
    """The lexer's position in the text: the next character, its line and where that line starts."""

    __slots__ = ("line", "line_start", "pos", "text")

    def __init__(self, text: str) -> None:
        self.text, self.pos, self.line, self.line_start = text, 0, 1, 0

    def next_token(self, lexer: _Lexer, state: ParserState) -> Token | None:
        """The next token that is not ignored (None at the end of the text)."""
        text, end = self.text, len(self.text)
        while self.pos < end:
            found = lexer.match(text, self.pos)
            if found is None:
                raise UnexpectedCharacters(self.pos, self.line, self.pos - self.line_start + 1, lexer.allowed, state)
            value, kind = found.group(0), found.lastgroup
            assert kind is not None  # every alternative is a named group
            start, line, column = self.pos, self.line, self.pos - self.line_start + 1
            if kind in tables.NEWLINE_TERMINALS:
                newlines = value.count("\n")
                if newlines:
                    self.line += newlines
                    self.line_start = start + value.rindex("\n") + 1
            self.pos = start + len(value)
            if kind not in tables.IGNORED_TERMINALS:
                keyword = lexer.keywords.get(kind)
                if keyword is not None:
                    kind = keyword.get(value, kind)
                return Token(kind, value, start, line, column, self.line, self.pos - self.line_start + 1, self.pos)
        return None


def parse(text: str) -> Tree:
    """The tree of `text` under the grammar's `start` rule; UnexpectedInput on a syntax error."""
    reader = _Reader(text)
    state = ParserState([tables.START], [])
    token = None
    while True:
        lexer = _lexer(tables.STATE_LEXERS[state.position])
        try:
            found = reader.next_token(lexer, state)
        except UnexpectedCharacters as error:
            # As Lark's contextual lexer: text that some other state could read is an unexpected token.
            try:
                other = reader.next_token(_lexer(tables.ROOT_LEXER), state)
            except UnexpectedCharacters:
                raise error from None
            if other is None:
                raise error from None
            raise UnexpectedToken(other, error.allowed, state) from None
        if found is None:
            break
        token = found
        _feed(state, token, False)
    end = Token.new_borrow_pos("$END", "", token) if token is not None else Token("$END", "", 0, 1, 1)
    return _feed(state, end, True)


def _feed(state: ParserState, token: Token, is_end: bool):
    stack, values, table = state.states, state.values, tables.STATES
    while True:
        action = table[stack[-1]].get(token.type)
        if action is None:
            raise UnexpectedToken(token, {t for t in table[stack[-1]] if t.isupper()}, state)
        if action >= 0:
            stack.append(action)
            values.append(token)
            return None
        origin, size, name, inline_single, include, nones_after = tables.RULES[~action]
        if size:
            children = values[-size:]
            del stack[-size:]
            del values[-size:]
        else:
            children = []
        values.append(_node(children, name, inline_single, include, nones_after))
        stack.append(table[stack[-1]][origin])
        if is_end and stack[-1] == tables.END:
            return values[-1]


def _node(children: list, name: str, inline_single: bool, include: tuple | None, nones_after: int):
    """A reduced rule's value: its kept children under a new node, or its only child where the rule is a
    `?rule`. `include`: (index, inline its children, Nones before it) per kept child; None keeps all."""
    if include is None:
        kept = children
    else:
        kept = []
        for index, inline, nones in include:
            if nones:
                kept += [None] * nones
            if inline:
                kept += children[index].children
            else:
                kept.append(children[index])
        if nones_after:
            kept += [None] * nones_after
    if inline_single and len(kept) == 1:
        node = kept[0]
        if type(node) is not Tree:
            return node
    else:
        node = Tree(name, kept)
    _place(node.meta, children)
    return node


def _place(meta: Meta, children: list) -> None:
    """Give `meta` the span of `children` (Lark's propagate_positions): from the first child that has a
    position to the last, where a child node's span includes the tokens it dropped."""
    first = next((c for c in children if type(c) is Token or (type(c) is Tree and not c.meta.empty)), None)
    if first is None:
        return
    last = next(c for c in reversed(children) if type(c) is Token or (type(c) is Tree and not c.meta.empty))
    if isinstance(first, Token):
        line, column, pos = first.line, first.column, first.start_pos
    else:
        inner = first.meta
        line, column, pos = inner.container_line, inner.container_column, inner.container_start_pos
    if isinstance(last, Token):
        end_line, end_column, end_pos = last.end_line, last.end_column, last.end_pos
    else:
        inner = last.meta
        end_line, end_column, end_pos = inner.container_end_line, inner.container_end_column, inner.container_end_pos
    if meta.empty:  # a `?rule`'s only child keeps its own span and grows only its container
        meta.line, meta.column, meta.start_pos = line, column, pos
        meta.end_line, meta.end_column, meta.end_pos = end_line, end_column, end_pos
        meta.empty = False
    meta.container_line, meta.container_column, meta.container_start_pos = line, column, pos
    meta.container_end_line, meta.container_end_column, meta.container_end_pos = end_line, end_column, end_pos


class Transformer:
    """Rebuilds a tree bottom-up: a node whose name is a method becomes `method(meta, children)` (its
    children already transformed); any other stays a Tree. Tokens pass unchanged."""

    def transform(self, tree: Tree):
        children = [self.transform(c) if type(c) is Tree else c for c in tree.children]
        method = getattr(self, tree.data, None)
        return Tree(tree.data, children, tree.meta) if method is None else method(tree.meta, children)


def string_terminal(name: str) -> str | None:
    """The text of a terminal that is a fixed string (`'block'` for BLOCK), None for a pattern."""
    return tables.STRING_TERMINALS.get(name)
