"""Parsing: `.arch` text to the AST, with an LALR(1) parser over grammars/archdsl.lark.

The parser (lalr.py) runs _parse_tables.py: the grammar's tables, which Lark builds once
(tools/generate_parser.py), so no process builds them again at start-up.

`load_program` also reads the files a program `use`s and gathers their block definitions.

Syntax errors become diagnostics that say, in words, what was expected where.
"""

from __future__ import annotations

import dataclasses
import math
import os
import re
import stat
from collections.abc import Callable
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal

from archdsl.errors import ArchError, Diagnostic, Note, Span, did_you_mean
from archdsl.frontend import _parse_tables, lalr
from archdsl.frontend import ast as A
from archdsl.frontend.lalr import Meta, Token, Transformer, Tree, UnexpectedCharacters, UnexpectedInput, UnexpectedToken
from archdsl.frontend.syntax_errors import explain, greater_in_condition
from archdsl.layers import lookup
from archdsl.resources import architectures_dir, grammar_text, use_candidates


@lru_cache(maxsize=1)
def _check_tables() -> None:
    if grammar_text() != _parse_tables.GRAMMAR:
        # Only a developer who changed the grammar sees this; parsing with stale tables would
        # silently read the old language.
        raise RuntimeError("grammars/archdsl.lark changed since archdsl/frontend/_parse_tables.py was generated: "
                           "run `python tools/generate_parser.py`")


# What each terminal means to a person reading the error.
_TERMINAL_WORDS = {
    "NAME": "a name", "INT": "an integer", "FLOAT": "a number", "STRING": 'a quoted path or label ("...")',
    "SHAPE": "an input shape like 3x224x224", "SEMICOLON": "';'", "COLON": "':'", "COMMA": "','",
    "LPAR": "'('", "RPAR": "')'", "LBRACE": "'{'", "RBRACE": "'}'", "LESSTHAN": "'<'",
    "MORETHAN": "'>'", "VBAR": "'|'", "EQUAL": "'='", "MINUS": "'-'", "PLUS": "'+'", "STAR": "'*'",
    "SLASH": "'/'", "AT": "'@'", "$END": "end of file", "CODE": "a diagnostic code like bias-before-bn",
}


def describe_expected(expected: set[str]) -> str:
    # What is described in words ("a name") before the keywords and punctuation, which a long list cuts off.
    words = sorted({_TERMINAL_WORDS.get(t, _keyword(t)) for t in expected}, key=lambda w: (w.startswith("'"), w))
    if len(words) > 10:
        words = words[:10] + ["..."]
    return ", ".join(words)


def _keyword(terminal: str) -> str:
    text = lalr.string_terminal(terminal)
    return terminal.lower() if text is None else f"'{text}'"


def parse(text: str, file: str = "<string>", max_tokens: int | None = None) -> A.Module:
    """Parse one `.arch` file's text into its AST (raises ArchError on syntax errors).

    `max_tokens` (default MAX_TOKENS) is checked before parsing, which costs ~20 µs a token.
    """
    check_tokens(text, file, MAX_TOKENS if max_tokens is None else max_tokens)
    _check_tables()
    try:
        tree = lalr.parse(text)
    except UnexpectedInput as exc:
        raise ArchError(_syntax_error(exc, text, file), {file: text}) from None
    _check_nesting(tree, file, text)
    try:
        return _ToAst(file, text).transform(tree)
    except ArchError as exc:  # raised without the text, which the message needs to show the line
        raise ArchError(exc.diagnostics, {file: text}) from None


# Deeper trees are refused before any recursive stage sees them: the Transformer, expansion
# and code generation recurse once per level. Bundled files stay below 20 levels.
MAX_NESTING = 200
# Literals beyond this many digits are refused: no layer needs them, and Python will not even
# print an integer of more than 4,300 digits.
MAX_DIGITS = 18
MAX_FILE_BYTES = 10_000_000
# Tokens a parse accepts: the parser handles ~50,000 a second on a 2-core machine, and the largest
# bundled file has fewer than 1,500; a generated 10,000-layer file about 30,000 (bench/scaling.py).
MAX_TOKENS = 60_000
_TOKEN = re.compile(r"#[^\n]*|[A-Za-z0-9_.]+|\S")  # a cheap over-count: comments count as tokens too


def count_tokens(text: str) -> int:
    return sum(1 for _ in _TOKEN.finditer(text))


def check_tokens(text: str, file: str, limit: int) -> int:
    """The tokens of `text`; an ArchError before any parsing when there are more than `limit`."""
    if len(text) <= limit:  # no text has more tokens than characters: nothing to count
        return len(text)
    count = count_tokens(text)
    if count > limit:
        raise ArchError(Diagnostic(f"{file} has {count:,} tokens, more than the budget of {limit:,}",
                                   Span(file, 1, 1), code="budget-tokens",
                                   hint="split it, use repetitions (`x N`) and blocks, or raise the budget "
                                        "(--budget max_tokens=...)"))
    return count


def _check_nesting(tree: Tree, file: str, text: str) -> None:
    stack = [(tree, 1)]
    while stack:  # iteratively: this is the check that keeps deep input away from recursion
        node, depth = stack.pop()
        if depth > MAX_NESTING:
            where = Span(file, getattr(node.meta, "line", 1), getattr(node.meta, "column", 1))
            raise ArchError(Diagnostic(f"nesting deeper than {MAX_NESTING} levels", where,
                                       hint="flatten the groups or expressions, or name a part as a block",
                                       code="nesting-too-deep"),
                            {file: text})
        stack.extend((child, depth + 1) for child in node.children if isinstance(child, Tree))


def _literal(token: Token, file: str, convert):
    digits = str(token).split("e")[0].split("E")[0]
    value = convert(str(token)) if len(digits.replace(".", "").lstrip("0")) <= MAX_DIGITS else None
    if value is None or not math.isfinite(value):
        raise ArchError(Diagnostic(f"number {str(token)[:30]}{'...' if len(token) > 30 else ''} is too large",
                                   _span(file, token), hint=f"numbers have at most {MAX_DIGITS} digits",
                                   code="number-too-large"))
    return value


def parse_expression(text: str, file: str = "<--set>") -> A.Expr:
    """Parse a value given on the command line (`--set num_classes=10`)."""
    module = parse(f"network _(_v = {text}) {{ input 1x1x1; }}", file)
    net = module.networks[0] if len(module.networks) == 1 else None
    # The text must be one expression, not something that closes the wrapper and adds to it
    # (`8) { input 1x1x1; } use "/etc/passwd"; #` parses, as a network and a use).
    if module.uses or module.blocks or net is None or len(net.params) != 1 or net.body.stmts \
            or net.params[0].default is None:
        raise ArchError(Diagnostic(f"{file}: {text[:60]!r} is not a value", code="bad-override",
                                   hint="give a number, true/false or an expression of the network's parameters"))
    return net.params[0].default


def parse_freeze(text: str) -> A.Freeze:
    """A freeze list given from Python or the command line: `up to layer3` or `conv1, layer1`."""
    wrong = ArchError(Diagnostic(f"cannot read freeze={text!r}",
                                 hint="write 'up to NAME' or 'NAME, NAME, ...' with top-level labels",
                                 code="bad-freeze"))
    try:
        module = parse(f"network _ {{ input 1x1x1; freeze {text}; }}", "<freeze>")
    except ArchError:
        raise wrong from None
    net = module.networks[0] if len(module.networks) == 1 else None
    if net is None or net.body.stmts or net.freeze is None:
        raise wrong
    return dataclasses.replace(net.freeze, target_spans=[None] * len(net.freeze.targets))


def _syntax_error(exc: UnexpectedInput, text: str, file: str) -> Diagnostic:
    line, column = exc.line, exc.column
    if isinstance(exc, UnexpectedCharacters):
        message = f"unexpected character {text[exc.pos_in_stream]!r}"
        hint = f"expected {describe_expected(exc.allowed)}" if exc.allowed else None
    else:
        assert isinstance(exc, UnexpectedToken)
        token = exc.token
        shown = "end of file" if token.type == "$END" else repr(str(token))
        message = f"unexpected {shown}"
        hint = f"expected {describe_expected(exc.accepts or exc.expected)}"
        if token.type == "$END":
            lines = text.splitlines() or [""]
            line, column = len(lines), len(lines[-1]) + 1
    code, why = explain(exc)
    if why is None and isinstance(exc, UnexpectedToken) and exc.token.type == "MORETHAN":
        code, why = greater_in_condition(text, exc.token.start_pos) or (code, why)
    if why:
        hint = f"{why} ({hint})" if hint else why
    return Diagnostic(message, Span(file, line, column), hint=hint, code=code)


def _span(file: str, meta: Meta | Token) -> Span:
    return Span(file, meta.line, meta.column, meta.end_line, meta.end_column)


class _ToAst(Transformer):
    """Parse tree → AST (ast.py); one method per aliased rule."""

    def __init__(self, file: str, text: str | None = None):
        super().__init__()
        self.file, self.text = file, text

    def _s(self, meta: Meta | Token) -> Span:
        return _span(self.file, meta)

    # expressions
    def int_lit(self, meta, c):
        return A.Number(span=self._s(meta), value=_literal(c[0], self.file, int))

    def float_lit(self, meta, c):
        return A.Number(span=self._s(meta), value=_literal(c[0], self.file, float))

    def true_lit(self, meta, c):
        return A.Boolean(span=self._s(meta), value=True)

    def false_lit(self, meta, c):
        return A.Boolean(span=self._s(meta), value=False)

    def name(self, meta, c):
        return A.Name(span=self._s(meta), id=str(c[0]))

    def neg(self, meta, c):
        return A.Neg(span=self._s(meta), operand=c[0])

    def pair_lit(self, meta, c):
        first, second = (A.Number(span=self._s(meta), value=_literal(Token.new_borrow_pos("INT", v, c[0]),
                                                                     self.file, int))
                         for v in str(c[0]).split("x"))
        return A.Pair(span=self._s(meta), first=first, second=second)

    def pair(self, meta, c):
        return A.Pair(span=self._s(meta), first=c[0], second=c[1])

    def not_(self, meta, c):
        return A.Not(span=self._s(meta), operand=c[0])

    @staticmethod
    def _binop(op: A.Operator) -> Callable[[_ToAst, Meta, list[Any]], A.BinOp]:
        def method(self: _ToAst, meta: Meta, c: list[Any]) -> A.BinOp:
            return A.BinOp(span=self._s(meta), op=op, left=c[0], right=c[1])

        return method

    add, sub, mul, truediv, floordiv = _binop("+"), _binop("-"), _binop("*"), _binop("/"), _binop("//")
    eq, ne, lt, le, gt, ge = _binop("=="), _binop("!="), _binop("<"), _binop("<="), _binop(">"), _binop(">=")
    and_, or_ = _binop("and"), _binop("or")

    # calls
    def arg(self, meta, c):
        name = str(c[0]) if len(c) == 2 else None
        return A.Arg(span=self._s(meta), name=name, value=c[-1])

    def arg_list(self, meta, c):
        return [a for a in c if a is not None]

    def dash(self, meta, c):
        return ("dash", c[0])

    def slash(self, meta, c):
        return ("slash", c[0])

    def call(self, meta, c):
        name, rest = c[0], c[1:]
        dashes = [e for tag, e in (r for r in rest if isinstance(r, tuple)) if tag == "dash"]
        slash = next((e for tag, e in (r for r in rest if isinstance(r, tuple)) if tag == "slash"), None)
        args = next((r for r in rest if isinstance(r, list)), [])
        return A.Call(span=self._s(meta), name=str(name), dashes=dashes, slash=slash, args=args)

    def group(self, meta, c):
        return A.Group(span=self._s(meta), body=_no_defaults(c[0], "( )"))

    def residual(self, meta, c):
        args = c[0] if isinstance(c[0], list) else []
        seqs = [_no_defaults(x, "residual<...>") for x in c if isinstance(x, A.Seq)]
        return A.Residual(span=self._s(meta), args=args, body=seqs[0], shortcut=seqs[1] if len(seqs) > 1 else None)

    def inception(self, meta, c, word: Literal["concat", "inception"] = "inception"):
        args = c[0] if isinstance(c[0], list) else []
        return A.Inception(span=self._s(meta), word=word, args=args,
                           branches=[_no_defaults(x, f"{word}<...>") for x in c if isinstance(x, A.Seq)])

    def concat(self, meta, c):
        return self.inception(meta, c, "concat")

    def side(self, meta, c):
        return A.Side(span=self._s(meta), body=_no_defaults(c[0], "side<...>"))

    def named_output(self, meta, c):
        return A.Output(span=self._s(meta), body=_no_defaults(c[0], "output<...>"))

    def gate(self, meta, c):
        return A.Gate(span=self._s(meta), paths=[_no_defaults(x, "gate<...>") for x in c])

    def split(self, meta, c):
        return A.Split(span=self._s(meta), branches=[_no_defaults(x, "split<...>") for x in c])

    def ref(self, meta, c):
        return A.Ref(span=self._s(meta), name=str(c[0]), path=tuple(str(part) for part in c[1:]))

    # sequences
    def repeat(self, meta, c):
        return ("repeat", c[0])

    def cond(self, meta, c):
        return ("cond", c[0])

    def allow(self, meta, c):
        return [A.Allowed(span=self._s(t), code=_warning_code(str(t), self._s(t))) for t in c if t is not None]

    def default_decl(self, meta, c):
        return A.Default(span=self._s(meta), word=str(c[0]), word_span=self._s(c[0]), args=c[1])

    def init_decl(self, meta, c):
        cond = next((x[1] for x in c if isinstance(x, tuple)), None)
        return A.Init(span=self._s(meta), word=str(c[0]), word_span=self._s(c[0]), args=c[1], cond=cond)

    def init_clause(self, meta, c):
        return A.Init(span=self._s(meta), word=None, word_span=None, args=c[0])

    def label(self, meta, c):
        token = c[0]
        if token.type == "NAME":
            if len(c) == 1 or c[1] is None:
                return _Label(str(token), self._s(meta), [])
            assert self.text is not None and meta.start_pos is not None and meta.end_pos is not None
            return _Label(re.sub(r"\s+", "", self.text[meta.start_pos:meta.end_pos]), self._s(meta), [str(token), c[1]])
        span = self._s(meta)
        text = str(token)[1:-1]
        return _Label(text, span, _label_parts(text, span, self.file))

    def stmt(self, meta, c):
        if isinstance(c[0], A.Default | A.Init):
            return c[0]
        label = next((x for x in c if isinstance(x, _Label)), None)
        item = next(x for x in c if isinstance(x, A.Item))
        extras: dict[str, A.Expr] = dict(x for x in c if isinstance(x, tuple))
        return A.Stmt(
            span=self._s(meta),
            label=label.text if label else None,
            label_span=label.span if label else None,
            label_parts=label.parts if label else [],
            item=item,
            repeat=extras.get("repeat"),
            cond=extras.get("cond"),
            allow=next((x for x in c if isinstance(x, list)), []),
            init=next((x for x in c if isinstance(x, A.Init)), None),
        )

    def seq(self, meta, c):
        span = self._s(meta) if not meta.empty else Span(self.file, 1, 1)
        stmts: list[A.Stmt] = []
        defaults: list[A.Default] = []
        inits: list[A.Init] = []
        for s in c:
            if isinstance(s, A.Default | A.Init):
                if stmts:
                    raise ArchError(_misplaced(s, "after a statement"))
                if isinstance(s, A.Default):
                    defaults.append(s)
                else:
                    inits.append(s)
            elif s is not None:
                stmts.append(s)
        return A.Seq(span=span, stmts=stmts, defaults=defaults, inits=inits)

    # declarations
    def param(self, meta, c):
        return A.Param(span=self._s(meta), name=str(c[0]), default=c[1] if len(c) > 1 else None)

    def tensor_param(self, meta, c):
        return A.Param(span=self._s(meta), name=str(c[0]), tensor=True)

    def param_list(self, meta, c):
        return [p for p in c if p is not None]

    def input_decl(self, meta, c):
        channels, height, width = (_literal(Token.new_borrow_pos("INT", v, c[0]), self.file, int)
                                   for v in str(c[0]).split("x"))
        return A.InputDecl(span=self._s(meta), channels=channels, height=height, width=width)

    def block_def(self, meta, c):
        if c[-1].inits:
            raise ArchError(Diagnostic(
                "`init` for a word belongs in the network body: it reaches the blocks the network uses",
                c[-1].inits[0].span, hint="move it to the network, or give one statement of the block its own "
                                          "`init(...)`: `conv1-64 init(normal, std=0.01)`", code="misplaced-init"))
        sequential = isinstance(c[0], Token) and c[0].type == "SEQUENTIAL"
        c = c[1:] if c[0] is None or sequential else c
        params = c[1] if isinstance(c[1], list) else []
        return A.BlockDef(span=self._s(meta), name=str(c[0]), params=params, body=c[-1], sequential=sequential)

    def freeze(self, meta, c):
        names = [t for t in c if t.type == "NAME"]
        return A.Freeze(span=self._s(meta), up_to=c[0].type == "UP", targets=[str(t) for t in names],
                        target_spans=[self._s(t) for t in names])

    def network(self, meta, c):
        params = c[1] if isinstance(c[1], list) else []
        inp = next(x for x in c if isinstance(x, A.InputDecl))
        freeze = next((x for x in c if isinstance(x, A.Freeze)), None)
        return A.Network(span=self._s(meta), name=str(c[0]), params=params, input=inp, freeze=freeze, body=c[-1])

    def use(self, meta, c):
        return A.Use(span=self._s(meta), path=str(c[0])[1:-1])

    def start(self, meta, c):
        span = self._s(meta) if not meta.empty else Span(self.file, 1, 1)
        return A.Module(
            span=span,
            file=self.file,
            uses=[d for d in c if isinstance(d, A.Use)],
            blocks=[d for d in c if isinstance(d, A.BlockDef)],
            networks=[d for d in c if isinstance(d, A.Network)],
        )


@dataclasses.dataclass
class _Label:  # not a tuple: stmt() tells its parts apart by type, and ("repeat", expr) is one
    text: str
    span: Span
    parts: list[str | A.Expr]


_BRACES = re.compile(r"\{([^{}]*)\}")


def _label_parts(text: str, span: Span, file: str) -> list[str | A.Expr]:
    """The pieces of a quoted label: text, and the expressions in braces (`"block1-{i - 1}"`); [] without braces."""
    if "{" not in text and "}" not in text:
        return []
    parts: list[str | A.Expr] = []
    position = 0
    for match in _BRACES.finditer(text):
        parts.append(text[position:match.start()])
        try:
            expr = parse_expression(match.group(1), file)
        except ArchError:
            raise ArchError(Diagnostic(f"'{{{match.group(1)}}}' in label \"{text}\" is not an expression", span,
                                       hint="braces in a label hold an expression, e.g. \"block1-{i - 1}\"",
                                       code="bad-label")) from None
        parts.append(_respan(expr, span))
        position = match.end()
    parts.append(text[position:])
    if any("{" in p or "}" in p for p in parts if isinstance(p, str)):
        raise ArchError(Diagnostic(f"unmatched brace in label \"{text}\"", span,
                                   hint="braces in a label hold an expression, e.g. \"block1-{i - 1}\"",
                                   code="bad-label"))
    return [p for p in parts if p != ""]


def _respan(expr: A.Expr, span: Span) -> A.Expr:
    """An expression parsed out of a label, placed at the label (its own positions are the wrapper's)."""
    for node in _nodes(expr):
        node.span = span
    return expr


def _nodes(expr: A.Expr) -> list[A.Expr]:
    out, stack = [], [expr]
    while stack:
        node = stack.pop()
        out.append(node)
        if isinstance(node, A.Neg):
            stack.append(node.operand)
        elif isinstance(node, A.BinOp):
            stack += [node.left, node.right]
    return out


def _misplaced(decl: A.Default | A.Init, where: str) -> Diagnostic:
    if isinstance(decl, A.Init):
        return Diagnostic(f"`init {decl.word}` {where}", decl.span,
                          hint="`init` declarations come first in the network body (after `input` and `freeze`), "
                               "before any other statement", code="misplaced-init")
    return Diagnostic(f"`default` {where}", decl.span,
                      hint="defaults come first in a network body (after `input` and `freeze`) or a block body, "
                           "before any other statement", code="misplaced-default")


def _no_defaults(seq: A.Seq, where: str) -> A.Seq:
    if seq.defaults or seq.inits:
        raise ArchError(_misplaced((seq.defaults or seq.inits)[0], f"inside {where}"))
    return seq


def _warning_code(code: str, span: Span) -> str:
    """A code of `allow(...)`: it must name a warning (errors cannot be allowed)."""
    from archdsl.codes import CODES  # here: only `allow(...)` needs the table, and start-up is shared by all

    declared = CODES.get(code)
    if declared is None:
        warnings = sorted(c for c, d in CODES.items() if d.severity == "warning")
        hint = did_you_mean(code, sorted(CODES), f"the warnings: {', '.join(warnings)}")
        raise ArchError(Diagnostic(f"unknown diagnostic code '{code}'", span, hint=hint, code="unknown-code"))
    if declared.severity != "warning":
        raise ArchError(Diagnostic(f"'{code}' is an error, and only warnings can be allowed", span,
                                   hint="fix the error; `allow` silences warnings only", code="allow-error"))
    return code


@lru_cache(maxsize=64)
def _parse_shared(text: str, file: str, max_tokens: int) -> A.Module:
    """A `use`d file's AST, parsed once per process for every program that uses the same text: a library
    like blocks/common.arch is read by a third of the bundled networks. Sharing is safe because the AST
    is never changed after parsing (ast.py)."""
    return parse(text, file, max_tokens)


def read_source(path: Path) -> str:
    """The text of an .arch file, with its line breaks made '\n' (raises OSError or UnicodeDecodeError).

    Only regular files of sane size: `use "/dev/zero"` must not hang or fill memory.
    """
    if not stat.S_ISREG(path.stat().st_mode):
        raise OSError(0, "not a regular file")
    with path.open("rb") as f:
        text = source_text(f.read(MAX_FILE_BYTES + 1))
    return text.replace("\r\n", "\n").replace("\r", "\n")


def source_text(data: bytes) -> str:
    """Bytes read as .arch text, from a file or a stream: UTF-8, at most MAX_FILE_BYTES, no NUL byte.

    Every reader of user text goes through here, so a file and the same bytes on stdin get one answer.
    """
    if len(data) > MAX_FILE_BYTES:
        raise OSError(0, f"larger than {MAX_FILE_BYTES:,} bytes")
    if b"\x00" in data:
        raise OSError(0, "not a text file (it holds NUL bytes)")
    return data.decode("utf-8")


def load_program(path: str | Path | None = None, text: str | None = None, file: str | None = None,
                 max_tokens: int = MAX_TOKENS) -> A.Program:
    """Parse a file (or text) and every file it `use`s, collecting their block definitions.

    `max_tokens` bounds the tokens of all these files together, checked before each is parsed.
    """
    sources: dict[str, str] = {}
    budget = [max_tokens]  # tokens left for the files still to parse
    blocks: dict[str, A.BlockDef] = {}
    errors: list[Diagnostic] = []

    def read(p: Path, at: A.Use | None, looked: tuple[Path, ...] = ()) -> str | None:
        try:
            return read_source(p)
        except (OSError, UnicodeDecodeError) as exc:
            reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
            if at is None:
                raise ArchError(Diagnostic(f"cannot read {p}: {reason}", code="cannot-read")) from None
            hint = ("`use` paths are relative to the file that names them" if len(looked) < 2 else
                    "looked in " + ", ".join(str(c) for c in looked) + " (beside the file, in the folders of "
                    "ARCHDSL_PATH, then in archdsl's bundled library)")
            errors.append(Diagnostic(f"cannot read '{at.path}' ({p}): {reason}", at.span, hint=hint,
                                     code="cannot-read"))
            return None

    def parse_counted(content: str, shown: str, shared: bool = False) -> A.Module:
        budget[0] -= check_tokens(content, shown, budget[0])
        return (_parse_shared if shared else parse)(content, shown, len(content))  # counted already

    def visit(root: A.Module, root_base: Path, root_stack: tuple[Path, ...]) -> None:
        # Depth first with an explicit stack, not recursion: a chain of 1,000 files each `use`ing
        # the next must not exhaust Python's stack. A file's blocks are taken after its `use`s'.
        frames: list[tuple[A.Module, Path, tuple[Path, ...], list[A.Use]]] = \
            [(root, root_base, root_stack, list(reversed(root.uses)))]
        while frames:
            module, base, stack, pending = frames[-1]
            if not pending:
                frames.pop()
                take_blocks(module)
                continue
            use = pending.pop()
            if "\x00" in use.path:  # the OS cannot take it: Path.resolve() would raise ValueError
                errors.append(Diagnostic("a `use` path cannot contain a NUL character", use.span, code="bad-use-path"))
                continue
            if not use.path.lower().endswith(".arch"):
                # Only .arch files: an error excerpt shows a line of the file it names, and
                # `use "/proc/self/environ"` would print the environment.
                errors.append(Diagnostic(f"`use` takes .arch files only, not '{use.path}'", use.span,
                                         hint="name a file of blocks, e.g. `use \"blocks/resnet.arch\";`",
                                         code="bad-use-path"))
                continue
            candidates = use_candidates(base, use.path)
            target = next((c for c in candidates if c.exists()), candidates[0]).resolve()
            if target in stack:
                chain = " -> ".join(p.name for p in stack[stack.index(target):] + (target,))
                errors.append(Diagnostic(f"`use` cycle: {chain}", use.span, code="use-cycle"))
                continue
            if str(target) in loaded:
                continue
            content = read(target, use, tuple(candidates))
            if content is None:
                continue
            shown = str(target) if Path(use.path).is_absolute() else os.path.relpath(target)
            if shown.startswith("..") and target.is_relative_to(architectures_dir().resolve()):
                shown = str(target)  # the installed library: its whole path, not ../../lib/python3.x/...
            sources[shown] = content
            try:
                child = parse_counted(content, shown, shared=True)
            except ArchError as exc:
                errors.extend(exc.diagnostics)
                if exc.first.code == "budget-tokens":
                    return
                continue
            loaded.add(str(target))
            frames.append((child, target.parent, stack + (target,), list(reversed(child.uses))))

    def take_blocks(module: A.Module) -> None:
        for block in module.blocks:
            if block.name in blocks and blocks[block.name] is not block:
                errors.append(Diagnostic(f"block '{block.name}' is defined twice", block.span,
                                         notes=[Note("first defined here", blocks[block.name].span)],
                                         code="duplicate-block"))
            elif lookup(block.name) is not None:
                errors.append(Diagnostic(f"block name '{block.name}' is a layer word", block.span,
                                         hint="choose another name", code="block-is-layer-word"))
            else:
                blocks[block.name] = block

    loaded: set[str] = set()
    if text is None:
        assert path is not None
        path = Path(path)
        file = file or str(path)
        content = read(path, None)
        assert content is not None  # read raises when no `use` is there to blame
        text = content
        base = path.resolve().parent
        stack: tuple[Path, ...] = (path.resolve(),)
    else:
        file = file or "<string>"
        base = Path(path).resolve().parent if path else Path.cwd()
        stack = ()
    sources[file] = text
    module = parse_counted(text, file)
    visit(module, base, stack)
    if errors:
        raise ArchError(errors, sources)
    return A.Program(module, blocks, sources)
