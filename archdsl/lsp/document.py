"""What the language server knows about one open `.arch` text, computed by the compiler's own stages.

Nothing here speaks the protocol (server.py does): a `Document` is the text, the diagnostics the CLI
would print for it, and the figures of every statement (output shape, parameters, MACs), keyed by the
statement's place in the text. So the server, its tests and its benchmark share one implementation,
and every answer is the compiler's (no second parser, no second shape rule).

Positions here are the compiler's: 1-based lines and columns counted in characters. server.py
converts them to the protocol's 0-based UTF-16 positions.
"""

from __future__ import annotations

import dataclasses
import functools
import os
from dataclasses import dataclass, field
from pathlib import Path

from archdsl.errors import ArchError, Diagnostic, Span
from archdsl.frontend import ast as A

Shape = tuple[int, ...]


@dataclass
class Figures:
    """A statement's (or layer call's) output in each use: one entry per block instance or network."""

    in_shapes: list[Shape] = field(default_factory=list)
    out_shapes: list[Shape] = field(default_factory=list)
    params: list[int] = field(default_factory=list)
    macs: list[int] = field(default_factory=list)

    def add(self, in_shape: Shape | None, out_shape: Shape | None, params: int, macs: int) -> None:
        self.in_shapes.append(in_shape or ())
        self.out_shapes.append(out_shape or ())
        self.params.append(params)
        self.macs.append(macs)

    @property
    def uses(self) -> int:
        return len(self.out_shapes)


@dataclass
class Definition:
    """A name the text defines: a network, a block, a label, a parameter."""

    kind: str  # "network", "block", "label", "parameter"
    name: str
    span: Span  # the whole definition
    name_span: Span  # the name itself
    detail: str = ""
    doc: str = ""  # a block's `#` comment lines right above it
    children: list[Definition] = field(default_factory=list)


@dataclass
class Occurrence:
    """A use of a name: a block call, a label named in `freeze`."""

    kind: str  # "block", "label"
    name: str
    span: Span


def shape_text(shape: Shape) -> str:
    return "x".join(map(str, shape)) if shape else "?"


def key(span: Span) -> tuple[str, int, int, int, int]:
    """A span as a dict key that does not depend on how the file's name was written."""
    return (_absolute(span.file), span.line, span.column, span.end_line or span.line, span.end_column or span.column)


@functools.lru_cache(maxsize=256)
def _absolute(file: str) -> str:
    return file if file.startswith("<") else os.path.abspath(file)


class Document:
    """One version of one file's text, analysed: parse, `use`s, expansion, shapes, lint, costs."""

    def __init__(self, path: str, text: str, *, previous: Document | None = None):
        self.path = path
        self.text = text
        self.program: A.Program | None = None
        self.module: A.Module | None = None  # this file's AST, even where the network fails its checks
        self.diagnostics: list[Diagnostic] = []
        self.sources: dict[str, str] = {path: text}
        self.figures: dict[tuple, Figures] = {}  # key(a statement's span) -> its figures
        self.call_figures: dict[tuple, Figures] = {}  # key(a layer call's or block use's span) -> its figures
        self.statement_spans: list[Span] = []  # every statement of this file, in text order
        self.stale = False  # figures come from the last version that compiled (the text does not)
        self._spans_module: A.Module | None = None  # where the statements are, when not self.module
        self._analyse()
        if previous is not None and not self.figures and previous.figures:
            # A broken text keeps the last good figures, where that text is unchanged (figures_at checks).
            self.figures, self.call_figures, self.stale = previous.figures, previous.call_figures, True
            self._stale_text = previous.text
            if self.module is None:  # nothing parses: the statements are the last version's
                self.statement_spans, self._spans_module = previous.statement_spans, previous.module

    # -- analysis ---------------------------------------------------------------------------------
    def _analyse(self) -> None:
        from archdsl.frontend.parser import load_program
        from archdsl.pipeline import build

        try:
            self.program = load_program(self.path, text=self.text, file=self.path)
        except ArchError as exc:
            self.diagnostics = exc.diagnostics
            self.sources.update(exc.sources)
            self.module = self._parse_only()
            return
        self.module = self.program.module
        self.sources.update(self.program.sources)
        self.statement_spans = sorted(_statements(self.module), key=lambda s: (s.line, s.column))
        if not self.module.networks:
            return  # a block library: checked when a network uses it
        try:
            ir = build(self.path, source=self.text, program=self.program)
        except ArchError as exc:
            self.diagnostics = exc.diagnostics
            return
        self.diagnostics = list(ir.warnings)
        self._collect_figures(ir)

    def _parse_only(self) -> A.Module | None:
        """This file's AST where only a `use`d file is broken (outline and hovers still work)."""
        from archdsl.frontend.parser import parse

        try:
            return parse(self.text, self.path)
        except ArchError:
            return None

    def _collect_figures(self, ir) -> None:
        from archdsl.analysis.costs import analyse

        macs = {row.layer.id: row.macs for row in analyse(ir).rows}
        layers = ir.layers
        # A block use counts everything built inside it, nested uses included.
        subtree: dict[int, list] = {inst.id: [] for inst in ir.instances}
        for layer in layers:
            if layer.enabled and layer.op not in ("input", "output", "side_output", "named_output"):
                subtree[layer.scope].append(layer)
        for inst in reversed(ir.instances[1:]):  # children are made after their parents
            if inst.parent is not None:
                subtree[inst.parent] += subtree[inst.id]
        # What each piece of text built, in which instance: (instance of the text's body, layers).
        built: dict[tuple, list[tuple[int, list]]] = {}
        for layer in layers:
            if layer.enabled and layer.op not in ("input", "output", "side_output", "named_output"):
                built.setdefault(key(layer.span), []).append((layer.scope, [layer]))
        for inst in ir.instances[1:]:
            if inst.call is not None and inst.parent is not None:
                built.setdefault(key(inst.call.span), []).append((inst.parent, subtree[inst.id]))

        def figures(parts: list[tuple[int, list]]) -> Figures | None:
            result = Figures()
            by_scope: dict[int, list] = {}
            for scope, group in parts:
                by_scope.setdefault(scope, []).extend(group)
            for mine in by_scope.values():
                if not mine:
                    continue
                first, last = min(mine, key=lambda x: x.id), max(mine, key=lambda x: x.id)
                result.add(first.in_shape, last.out_shape, sum(x.params for x in mine),
                           sum(macs.get(x.id, 0) for x in mine))
            return result if result.uses else None

        for k, parts in built.items():
            found = figures(parts)
            if found is not None:
                self.call_figures[k] = found
        if self.module is None:
            return
        for stmt in walk(self.module):
            if isinstance(stmt, A.Stmt):
                parts = [part for node in walk(stmt.item) for part in built.get(key(node.span), ())]
                found = figures(parts)
                if found is not None:
                    self.figures[key(stmt.span)] = found

    # -- queries ----------------------------------------------------------------------------------
    def figures_at(self, line: int, column: int) -> tuple[Span, Figures] | None:
        """The innermost statement or call at a position that has figures."""
        best: tuple[Span, Figures] | None = None
        for span in self._spans_at(line, column):
            figures = self.figures.get(key(span)) or self.call_figures.get(key(span))
            if figures is not None and (best is None or _size(span) < _size(best[0])) and self._current(span):
                best = (span, figures)
        return best

    def _current(self, span: Span) -> bool:
        """Whether figures kept from the last version that compiled still describe this text there."""
        return not self.stale or _text_of(self.text, span) == _text_of(self._stale_text, span)

    def _spans_at(self, line: int, column: int) -> list[Span]:
        spans = [s for s in self.statement_spans if _contains(s, line, column)]
        module = self.module or self._spans_module
        if module is not None:
            spans += [c.span for c in walk(module) if isinstance(c, A.Call) and _contains(c.span, line, column)]
        return spans

    def statement_ends(self) -> list[tuple[Span, Figures]]:
        """For each line that ends a statement: the statement ending last on it, with its figures
        (the inlay hints: the shape at the end of each statement line)."""
        best: dict[int, Span] = {}
        for span in self.statement_spans:
            end_line = span.end_line or span.line
            current = best.get(end_line)
            if current is None or (span.end_column or 0, span.line, span.column) > \
                    (current.end_column or 0, current.line, current.column):
                best[end_line] = span
        out = []
        for span in sorted(best.values(), key=lambda s: (s.end_line or s.line)):
            figures = self.figures.get(key(span))
            if figures is not None and self._current(span):
                out.append((span, figures))
        return out

    def definitions(self) -> list[Definition]:
        """The outline: the network and blocks of this file, with their labels and parameters."""
        if self.module is None:
            return []
        out = []
        for block in self.module.blocks:
            out.append(Definition("block", block.name, block.span, _name_span(self.text, block.span, block.name),
                                  f"block {block.name}({params_text(self.text, block.params)})",
                                  block_doc(self.text, block.span),
                                  _params_and_labels(self.text, block.params, block.body)))
        for net in self.module.networks:
            out.append(Definition("network", net.name, net.span, _name_span(self.text, net.span, net.name),
                                  f"network {net.name}({params_text(self.text, net.params)})", "",
                                  _params_and_labels(self.text, net.params, net.body)))
        return out

    def occurrences(self) -> list[Occurrence]:
        """Block calls and the labels named by `freeze`: what go-to-definition and rename follow."""
        if self.module is None:
            return []
        blocks = self.known_blocks()
        out = [Occurrence("block", node.name, _name_span(self.text, node.span, node.name))
               for node in walk(self.module) if isinstance(node, A.Call) and node.name in blocks]
        for net in self.module.networks:
            if net.freeze is not None:
                out += [Occurrence("label", name, span) for name, span in zip(net.freeze.targets,
                                                                               net.freeze.target_spans) if span]
        return out

    def known_blocks(self) -> dict[str, A.BlockDef]:
        if self.program is not None:
            return self.program.blocks
        return {b.name: b for b in self.module.blocks} if self.module is not None else {}

    def use_at(self, line: int, column: int) -> tuple[A.Use, Path] | None:
        """The `use` statement at a position and the file it names."""
        if self.module is None:
            return None
        for use in self.module.uses:
            if _contains(use.span, line, column):
                return use, (Path(self.path).resolve().parent / use.path)
        return None


# -- helpers on the AST ---------------------------------------------------------------------------
def walk(node: object):
    """Every AST node under `node`, itself included (by the dataclass fields: new node kinds need no
    change here)."""
    stack = [node]
    while stack:
        current = stack.pop()
        if isinstance(current, A.Node):
            yield current
            stack.extend(getattr(current, f.name) for f in dataclasses.fields(current))
        elif isinstance(current, list | tuple):
            stack.extend(current)


def _statements(module: A.Module) -> list[Span]:
    return [n.span for n in walk(module) if isinstance(n, A.Stmt) and n.span.file == module.file]


def _layers_of(ir, instance_id: int):
    """The layers of an instance and of the instances nested in it."""
    inside = {instance_id}
    for inst in ir.instances:
        if inst.parent in inside:
            inside.add(inst.id)
    return [layer for layer in ir.layers if layer.scope in inside and layer.enabled]


def params_text(text: str, params: list[A.Param]) -> str:
    """A parameter list as written (`c, s = 1`), from the text that defines it."""
    return ", ".join(" ".join(_text_of(text, p.span).split()) or p.name for p in params)


def _params_and_labels(text: str, params: list[A.Param], body: A.Seq) -> list[Definition]:
    out = [Definition("parameter", p.name, p.span, _name_span(text, p.span, p.name)) for p in params]
    for node in walk(body):
        if isinstance(node, A.Stmt) and node.label and node.label_span is not None:
            out.append(Definition("label", node.label, node.span, node.label_span))
    return sorted(out, key=lambda d: (d.span.line, d.span.column))


def block_doc(text: str, span: Span) -> str:
    """The `#` comment lines right above a block definition, as the bundled libraries write them."""
    lines = text.split("\n")
    doc: list[str] = []
    index = span.line - 2
    while index >= 0 and lines[index].lstrip().startswith("#"):
        doc.insert(0, lines[index].lstrip()[1:].strip())
        index -= 1
    return "\n".join(doc)


def _name_span(text: str, span: Span, name: str) -> Span:
    """Where `name` is first written inside `span` (a definition's name after its keyword)."""
    lines = text.split("\n")
    for line_no in range(span.line, (span.end_line or span.line) + 1):
        if line_no - 1 >= len(lines):
            break
        line = lines[line_no - 1]
        start = span.column - 1 if line_no == span.line else 0
        at = _find_word(line, name, start)
        if at >= 0:
            return Span(span.file, line_no, at + 1, line_no, at + 1 + len(name))
    return span


def _find_word(line: str, name: str, start: int) -> int:
    at = line.find(name, start)
    while at >= 0:
        before = line[at - 1] if at else " "
        after = line[at + len(name)] if at + len(name) < len(line) else " "
        if not (before.isalnum() or before == "_") and not (after.isalnum() or after == "_"):
            return at
        at = line.find(name, at + 1)
    return -1


def _contains(span: Span, line: int, column: int) -> bool:
    end_line, end_column = span.end_line or span.line, span.end_column or span.column + 1
    return (span.line, span.column) <= (line, column) <= (end_line, end_column)


def _within(inner: Span, outer: Span) -> bool:
    if _absolute(inner.file) != _absolute(outer.file):
        return False
    return _contains(outer, inner.line, inner.column) and _contains(
        outer, inner.end_line or inner.line, inner.end_column or inner.column)


def _size(span: Span) -> tuple[int, int]:
    return ((span.end_line or span.line) - span.line, (span.end_column or span.column) - span.column)


def _text_of(text: str, span: Span) -> str:
    lines = text.split("\n")
    first, last = span.line - 1, (span.end_line or span.line) - 1
    if last >= len(lines):
        return ""
    part = lines[first:last + 1]
    part[-1] = part[-1][:(span.end_column or span.column) - 1]
    part[0] = part[0][span.column - 1:] if first != last else lines[first][span.column - 1:(span.end_column or 0) - 1]
    return "\n".join(part)
