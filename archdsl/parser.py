"""Parsing: `.arch` text to the AST, with Lark's LALR parser over grammars/archdsl.lark.

`load_program` also reads the files a program `use`s and gathers their block definitions.

Syntax errors become diagnostics that say, in words, what was expected where.
"""

from __future__ import annotations

import math
import os
from functools import lru_cache
from pathlib import Path

from lark import Lark, Token, Transformer, UnexpectedCharacters, UnexpectedEOF, UnexpectedInput, UnexpectedToken, v_args
from lark.exceptions import VisitError
from lark.tree import Meta, Tree

from archdsl import ast as A
from archdsl.errors import ArchError, Diagnostic, Note, Span
from archdsl.layers import lookup
from archdsl.resources import grammar_text
from archdsl.syntax_errors import explain


@lru_cache(maxsize=1)
def _lark() -> Lark:
    return Lark(grammar_text(), parser="lalr", propagate_positions=True, maybe_placeholders=True)


# What each terminal means to a person reading the error.
_TERMINAL_WORDS = {
    "NAME": "a name", "INT": "an integer", "FLOAT": "a number", "STRING": 'a quoted path ("...")',
    "SHAPE": "an input shape like 3x224x224", "SEMICOLON": "';'", "COLON": "':'", "COMMA": "','",
    "LPAR": "'('", "RPAR": "')'", "LBRACE": "'{'", "RBRACE": "'}'", "LESSTHAN": "'<'",
    "MORETHAN": "'>'", "VBAR": "'|'", "EQUAL": "'='", "MINUS": "'-'", "PLUS": "'+'", "STAR": "'*'",
    "SLASH": "'/'", "__ANON_0": "'//'", "$END": "end of file",
}


def describe_expected(expected: set[str]) -> str:
    words = sorted({_TERMINAL_WORDS.get(t, _keyword(t)) for t in expected})
    if len(words) > 8:
        words = words[:8] + ["..."]
    return ", ".join(words)


def _keyword(terminal: str) -> str:
    for name, pattern in ((t.name, t.pattern) for t in _lark().terminals):
        if name == terminal and pattern.type == "str":
            return f"'{pattern.value}'"
    return terminal.lower()


def parse(text: str, file: str = "<string>") -> A.Module:
    """Parse one `.arch` file's text into its AST (raises ArchError on syntax errors)."""
    try:
        tree = _lark().parse(text)
    except UnexpectedInput as exc:
        raise ArchError(_syntax_error(exc, text, file), {file: text}) from None
    _check_nesting(tree, file, text)
    try:
        return _ToAst(file).transform(tree)
    except VisitError as exc:  # Lark wraps what the transformer raises; ours is an ArchError
        if isinstance(exc.orig_exc, ArchError):
            raise ArchError(exc.orig_exc.diagnostics, {file: text}) from None
        raise


# Deeper trees are refused before any recursive stage sees them: Lark's Transformer, expansion
# and code generation recurse once per level. Bundled files stay below 20 levels.
MAX_NESTING = 200
# Literals beyond this many digits are refused: no layer needs them, and Python will not even
# print an integer of more than 4,300 digits.
MAX_DIGITS = 18
MAX_FILE_BYTES = 10_000_000


def _check_nesting(tree: Tree, file: str, text: str) -> None:
    stack = [(tree, 1)]
    while stack:  # iteratively: this is the check that keeps deep input away from recursion
        node, depth = stack.pop()
        if depth > MAX_NESTING:
            where = Span(file, getattr(node.meta, "line", 1), getattr(node.meta, "column", 1))
            raise ArchError(Diagnostic(f"nesting deeper than {MAX_NESTING} levels", where,
                                       hint="flatten the groups or expressions, or name a part as a block"),
                            {file: text})
        stack.extend((child, depth + 1) for child in node.children if isinstance(child, Tree))


def _literal(token: Token, file: str, convert):
    digits = str(token).split("e")[0].split("E")[0]
    value = convert(str(token)) if len(digits.replace(".", "").lstrip("0")) <= MAX_DIGITS else None
    if value is None or not math.isfinite(value):
        raise ArchError(Diagnostic(f"number {str(token)[:30]}{'...' if len(token) > 30 else ''} is too large",
                                   _span(file, token), hint=f"numbers have at most {MAX_DIGITS} digits"))
    return value


def parse_expression(text: str, file: str = "<--set>") -> A.Expr:
    """Parse a value given on the command line (`--set num_classes=10`)."""
    module = parse(f"network _(_v = {text}) {{ input 1x1x1; }}", file)
    return module.networks[0].params[0].default


def parse_freeze(text: str) -> A.Freeze:
    """A freeze list given from Python or the command line: `up to layer3` or `conv1, layer1`."""
    wrong = ArchError(Diagnostic(f"cannot read freeze={text!r}",
                                 hint="write 'up to NAME' or 'NAME, NAME, ...' with top-level labels"))
    try:
        module = parse(f"network _ {{ input 1x1x1; freeze {text}; }}", "<freeze>")
    except ArchError:
        raise wrong from None
    net = module.networks[0] if len(module.networks) == 1 else None
    if net is None or net.body.stmts or net.freeze is None:
        raise wrong
    return net.freeze.model_copy(update={"target_spans": [None] * len(net.freeze.targets)})


def _syntax_error(exc: UnexpectedInput, text: str, file: str) -> Diagnostic:
    line, column = exc.line if exc.line > 0 else 1, exc.column if exc.column > 0 else 1
    if isinstance(exc, UnexpectedCharacters):
        char = text[exc.pos_in_stream] if exc.pos_in_stream < len(text) else "?"
        message = f"unexpected character {char!r}"
        hint = f"expected {describe_expected(exc.allowed)}" if exc.allowed else None
    elif isinstance(exc, UnexpectedEOF):
        lines = text.splitlines() or [""]
        line, column = len(lines), len(lines[-1]) + 1
        message = "unexpected end of file"
        hint = f"expected {describe_expected(set(exc.expected))}"
    else:
        assert isinstance(exc, UnexpectedToken)
        token = exc.token
        shown = "end of file" if token.type == "$END" else repr(str(token))
        message = f"unexpected {shown}"
        hint = f"expected {describe_expected(exc.accepts or exc.expected)}"
        if token.type == "$END":
            lines = text.splitlines() or [""]
            line, column = len(lines), len(lines[-1]) + 1
    why = explain(exc, _lark())
    if why:
        hint = f"{why} ({hint})" if hint else why
    return Diagnostic(message, Span(file, line, column), hint=hint)


def _span(file: str, meta: Meta | Token) -> Span:
    return Span(file, meta.line, meta.column, meta.end_line, meta.end_column)


@v_args(meta=True)
class _ToAst(Transformer):
    """Lark tree → pydantic AST; one method per aliased rule."""

    def __init__(self, file: str):
        super().__init__()
        self.file = file

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

    def _binop(op):
        def method(self, meta, c):
            return A.BinOp(span=self._s(meta), op=op, left=c[0], right=c[1])

        return method

    add, sub, mul, floordiv = _binop("+"), _binop("-"), _binop("*"), _binop("//")

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
        return A.Group(span=self._s(meta), body=c[0])

    def residual(self, meta, c):
        args = c[0] if isinstance(c[0], list) else []
        seqs = [x for x in c if isinstance(x, A.Seq)]
        return A.Residual(span=self._s(meta), args=args, body=seqs[0], shortcut=seqs[1] if len(seqs) > 1 else None)

    def inception(self, meta, c):
        return A.Inception(span=self._s(meta), branches=list(c))

    def side(self, meta, c):
        return A.Side(span=self._s(meta), body=c[0])

    # sequences
    def repeat(self, meta, c):
        return ("repeat", c[0])

    def cond(self, meta, c):
        return ("cond", c[0])

    def stmt(self, meta, c):
        label = next((x for x in c if isinstance(x, Token)), None)
        item = next(x for x in c if isinstance(x, A.Call | A.Group | A.Residual | A.Inception | A.Side))
        extras = dict(x for x in c if isinstance(x, tuple))
        return A.Stmt(
            span=self._s(meta),
            label=str(label) if label else None,
            label_span=self._s(label) if label else None,
            item=item,
            repeat=extras.get("repeat"),
            cond=extras.get("cond"),
        )

    def seq(self, meta, c):
        span = self._s(meta) if not meta.empty else Span(self.file, 1, 1)
        return A.Seq(span=span, stmts=[s for s in c if s is not None])

    # declarations
    def param(self, meta, c):
        return A.Param(span=self._s(meta), name=str(c[0]), default=c[1] if len(c) > 1 else None)

    def param_list(self, meta, c):
        return [p for p in c if p is not None]

    def input_decl(self, meta, c):
        channels, height, width = (_literal(Token.new_borrow_pos("INT", v, c[0]), self.file, int)
                                   for v in str(c[0]).split("x"))
        return A.InputDecl(span=self._s(meta), channels=channels, height=height, width=width)

    def block_def(self, meta, c):
        params = c[1] if isinstance(c[1], list) else []
        return A.BlockDef(span=self._s(meta), name=str(c[0]), params=params, body=c[-1])

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


def load_program(path: str | Path | None = None, text: str | None = None, file: str | None = None) -> A.Program:
    """Parse a file (or text) and every file it `use`s, collecting their block definitions."""
    sources: dict[str, str] = {}
    blocks: dict[str, A.BlockDef] = {}
    errors: list[Diagnostic] = []

    def read(p: Path, at: A.Use | None) -> str | None:
        try:
            # Only regular files of sane size: `use "/dev/zero"` must not hang or fill memory.
            if p.stat().st_size > MAX_FILE_BYTES or not p.is_file():
                raise OSError(0, "not a regular file" if not p.is_file() else f"larger than {MAX_FILE_BYTES:,} bytes")
            return p.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
            if at is None:
                raise ArchError(Diagnostic(f"cannot read {p}: {reason}")) from None
            errors.append(Diagnostic(f"cannot read '{at.path}' ({p}): {reason}", at.span,
                                     hint="`use` paths are relative to the file that names them"))
            return None

    def visit(module: A.Module, base: Path, stack: tuple[Path, ...]) -> None:
        for use in module.uses:
            if "\x00" in use.path:  # the OS cannot take it: Path.resolve() would raise ValueError
                errors.append(Diagnostic("a `use` path cannot contain a NUL character", use.span))
                continue
            target = (base / use.path).resolve()
            if target in stack:
                chain = " -> ".join(p.name for p in stack[stack.index(target):] + (target,))
                errors.append(Diagnostic(f"`use` cycle: {chain}", use.span))
                continue
            if str(target) in loaded:
                continue
            content = read(target, use)
            if content is None:
                continue
            shown = str(Path(os.path.relpath(target)) if not Path(use.path).is_absolute() else target)
            sources[shown] = content
            try:
                child = parse(content, shown)
            except ArchError as exc:
                errors.extend(exc.diagnostics)
                continue
            loaded.add(str(target))
            visit(child, target.parent, stack + (target,))
        for block in module.blocks:
            if block.name in blocks and blocks[block.name] is not block:
                errors.append(Diagnostic(f"block '{block.name}' is defined twice", block.span,
                                         notes=[Note("first defined here", blocks[block.name].span)]))
            elif lookup(block.name) is not None:
                errors.append(Diagnostic(f"block name '{block.name}' is a layer word", block.span,
                                         hint="choose another name"))
            else:
                blocks[block.name] = block

    loaded: set[str] = set()
    if text is None:
        assert path is not None
        path = Path(path)
        file = file or str(path)
        text = read(path, None)
        base = path.resolve().parent
        stack: tuple[Path, ...] = (path.resolve(),)
    else:
        file = file or "<string>"
        base = Path(path).resolve().parent if path else Path.cwd()
        stack = ()
    sources[file] = text
    module = parse(text, file)
    visit(module, base, stack)
    if errors:
        raise ArchError(errors, sources)
    return A.Program(module, blocks, sources)
