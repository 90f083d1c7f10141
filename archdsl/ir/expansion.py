"""Expansion: blocks and repetitions unrolled into the graph IR (nodes.py).

Every statement of the network's body, and of each block body once per use, becomes layers
(the dataflow graph) and the members and forward steps of the module that will hold them, each
at its `Site`; naming.py then names the members.
"""

from __future__ import annotations

import keyword
import re
from collections.abc import Callable
from functools import partial
from typing import Any, NamedTuple

from archdsl import layers as L
from archdsl.errors import ArchError, Diagnostic, Note, Reporter, Span, did_you_mean
from archdsl.frontend import ast as A
from archdsl.frontend.ast import Program
from archdsl.frontend.expr import Value, Word, evaluate, free_names
from archdsl.ir.defaults import Defaults, as_literals, merged, read_defaults
from archdsl.ir.init import read_inits, statement_rule
from archdsl.ir.naming import name_container, sequential_names
from archdsl.ir.nodes import (
    IR,
    Container,
    ContainerKind,
    Instance,
    Join,
    Layer,
    Member,
    MemberKind,
    Site,
    SiteKind,
    Step,
    StepKind,
)
from archdsl.ir.reserved import EMITTED_NAMES, INPUT_REF, MODULE_ATTRIBUTES, UNSAFE_NAMES
from archdsl.layers.registry import check_option
from archdsl.shapes.limits import DEFAULT, Budget

# Expansion reports at most this many errors (as compilers do: gcc's -fmax-errors): each costs a
# "did you mean" search over every name, and 3,000 misspellings among 3,000 blocks took minutes.
MAX_ERRORS = 100
# Nested sequences (groups, branches, block bodies) deeper than this are refused: expansion and
# code generation recurse a few frames per level, and Python's stack is about 1,000 frames.
MAX_DEPTH = 100


class _Ctx(NamedTuple):
    """Where expansion stands: the instance and container being filled, the names in scope, the block stack."""

    scope: Instance
    container: Container
    steps: list[Step] | None  # None inside an nn.Sequential: no residuals, branches or conditions there
    env: dict[str, Value]
    enabled: bool
    stack: tuple[str, ...]
    defaults: Defaults  # for the layers of this body (see ir/defaults.py)
    number: int | None = None  # inside `x N`: the repetition's number, from 1 (the name `i`)
    # Inside a concat(flat) branch or a sequential block, statements are a chain (code generation
    # writes them as one variable passed along, or as an nn.Sequential's items): what else they refuse.
    chain_only: str | None = None


def expand(program: Program, overrides: dict[str, A.Expr] | None = None,
           input_shape: tuple[int, int, int] | None = None, budget: Budget = DEFAULT) -> IR:
    """Unroll the program's network into the graph IR; raises ArchError with every error found."""
    reporter = Reporter(program.sources)
    net = _pick_network(program)
    params = _network_params(net, overrides or {}, reporter)
    input_shape = input_shape or (net.input.channels, net.input.height, net.input.width)
    if min(input_shape) < 1:
        reporter.error(f"input shape {'x'.join(map(str, input_shape))} has a dimension below 1", net.input.span,
                       code="zero-input")
    _check_block_params(program, reporter)
    net_defaults = read_defaults(net.body, program.blocks, reporter)
    block_defaults = {name: read_defaults(block.body, program.blocks, reporter)
                      for name, block in program.blocks.items()}
    in_blocks = as_literals(net_defaults, params, reporter)
    inits = read_inits(net.body, params, program.blocks, reporter)
    reporter.raise_if_errors()
    structural = _structural_params(net)
    expander = _Expander(program, net, params, structural, input_shape, reporter, budget)
    expander.defaults = net_defaults, in_blocks, block_defaults
    expander.ir.init = inits
    ir = expander.run()
    varying = {key: span for key, span in expander.counts.items() if span[0] != span[1]}
    if not varying:
        return ir
    # A block whose uses repeat a statement a different number of times: one class must hold the most
    # repetitions, so expand again with every use unrolled to the most, the extra ones switched off.
    expander = _Expander(program, net, params, structural, input_shape, Reporter(program.sources), budget)
    expander.defaults, expander.padded = (net_defaults, in_blocks, block_defaults), varying
    expander.ir.init = inits
    return expander.run()


def _check_block_params(program: Program, reporter: Reporter) -> None:
    """Block parameters become Python arguments of the block's __init__: same rules as labels."""
    for block in program.blocks.values():
        if block.name.startswith("_"):  # its unlabelled uses are attributes `__dict__1`, ...: Python's and torch's
            reporter.error(f"'{block.name}' cannot be used as a block name: its unlabelled uses are attributes "
                           f"named after it, and names beginning with '_' are reserved in the generated Python",
                           block.span, hint=f"rename it, e.g. '{block.name.strip('_') or 'b'}'", code="reserved-name")
        seen: set[str] = set()
        for param in block.params:
            _check_identifier(param.name, param.span, reporter, "parameter")
            if param.tensor and param.name == INPUT_REF:
                reporter.error(f"'@{INPUT_REF}' names the block's input: a tensor parameter needs another name",
                               param.span, hint="e.g. '@low'", code="reserved-name")
            if param.name in seen:
                reporter.error(f"block '{block.name}' has two parameters named '{param.name}'", param.span,
                               code="duplicate-parameter")
            seen.add(param.name)


def _pick_network(program: Program) -> A.Network:
    nets = program.module.networks
    if not nets:
        raise ArchError(Diagnostic("no network in this file", program.module.span,
                                   hint="add `network NAME { input 3x224x224; ... }`, or compile the file that uses it",
                                   code="no-network"),
                        program.sources)
    if len(nets) > 1:
        raise ArchError(Diagnostic("more than one network in this file", nets[1].span,
                                   hint="keep one network per file; share blocks with `use`",
                                   code="several-networks"), program.sources)
    return nets[0]


def _network_params(net: A.Network, overrides: dict[str, A.Expr], reporter: Reporter) -> dict[str, Value]:
    names = {p.name for p in net.params}
    for name, expr in overrides.items():
        if name not in names:
            listed = ", ".join(sorted(names)) or "none"
            hint = did_you_mean(name, sorted(names), f"parameters of '{net.name}': {listed}")
            reporter.error(f"network '{net.name}' has no parameter '{name}'", expr.span, hint=hint,
                           code="unknown-parameter")
    env: dict[str, Value] = {}
    for param in net.params:
        _check_identifier(param.name, param.span, reporter, "parameter")
        if param.name in env:
            reporter.error(f"network '{net.name}' has two parameters named '{param.name}'", param.span,
                           code="duplicate-parameter")
        given = overrides.get(param.name, param.default)
        if given is None:
            reporter.error(f"parameter '{param.name}' has no default value", param.span,
                           hint=f"give it one (`{param.name} = ...`) or pass --set {param.name}=...",
                           code="missing-default")
            continue
        if isinstance(given, A.Name) and given.id not in env and L.lookup(given.id) is not None:
            reporter.error(f"network parameter '{param.name}' cannot hold the layer word '{given.id}': only a block "
                           "parameter can", given.span, code="not-a-word-argument",
                           hint=f"pass it to a block (`block b(c, act = {given.id})`), or write the word itself")
            continue
        try:
            env[param.name] = evaluate(given, env)
        except ArchError as exc:
            reporter.diagnostics += exc.diagnostics
    return env


def _structural_params(net: A.Network) -> set[str]:
    """Network parameters that decide how many layers there are: baked into the emitted code."""
    found: set[str] = set()

    def walk(seq: A.Seq) -> None:
        for stmt in seq.stmts:
            if stmt.repeat is not None:
                found.update(free_names(stmt.repeat))
            for child in _child_seqs(stmt.item):
                walk(child)

    walk(net.body)
    return found & {p.name for p in net.params}


def _child_seqs(item: A.Item) -> list[A.Seq]:
    if isinstance(item, A.Group | A.Side | A.Output):
        return [item.body]
    if isinstance(item, A.Residual):
        return [item.body] + ([item.shortcut] if item.shortcut else [])
    if isinstance(item, A.Inception):
        return list(item.branches)
    if isinstance(item, A.Gate):
        return list(item.paths)
    if isinstance(item, A.Split):
        return list(item.branches)
    return []


# Module-level names of the emitted code that a constructor's code may use: a parameter of that
# name would hide them inside __init__ (`OrderedDict = 4` broke every labelled group).
_MODULE_NAMES = {"OrderedDict", "NamedTuple", "Path", "json", "hashlib", "math", "pretrained", "read_safetensors"}


def _check_label(label: str, span: Span, reporter: Reporter) -> None:
    """A label is an attribute name; one that is no identifier (`"block1-0"`) is registered with
    add_module, which refuses only '' and '.'; archdsl also keeps quotes, backslashes and control
    characters out, since the label is written into the emitted source as a string literal."""
    if label.isidentifier():
        _check_identifier(label, span, reporter, "label")
    elif not label or "." in label or any(c in label for c in "\\\"'") or not label.isprintable():
        shown = label.encode("unicode_escape").decode("ascii")
        reporter.error(f"label \"{shown}\" cannot name a PyTorch module", span, code="bad-module-name",
                       hint="a module name must be non-empty and hold no '.' (nor quotes, backslashes or "
                            "control characters)")


def _check_identifier(name: str, span: Span, reporter: Reporter, what: str) -> bool:
    # Parameters and side outputs are also local variables of the emitted methods.
    local = what in ("parameter", "side output")
    if keyword.iskeyword(name) or keyword.issoftkeyword(name) or name in MODULE_ATTRIBUTES \
            or name in EMITTED_NAMES or name.startswith("_") or (what == "parameter" and name in _MODULE_NAMES) \
            or (local and name in UNSAFE_NAMES):
        reporter.error(f"'{name}' cannot be used as a {what} name: it is reserved in the generated Python",
                       span, hint=f"rename it, e.g. '{name.strip('_')}_'" if name.strip("_") else "rename it",
                       code="reserved-name")
        return False
    return True


class _Expander:
    def __init__(self, program: Program, net: A.Network, params: dict[str, Value], structural: set[str],
                 input_shape: tuple[int, int, int], reporter: Reporter, budget: Budget) -> None:
        self.program, self.net, self.reporter, self.budget = program, net, reporter, budget
        self.depth = 0
        self.exhausted = False  # the layer budget ran out: stop, rather than report it at every later layer
        self.tensors: dict[int, dict[str, _Defined]] = {}  # per instance: label -> what `@label` reads
        self.ir = IR(program, net, params, structural, input_shape, [], [])
        # the network body's defaults as written, the same as literals for blocks, each block's own
        self.defaults: tuple[Defaults, Defaults, dict[str, Defaults]] = ({}, {}, {})
        self.shaped = 0  # layers whose shapes are known during expansion (see input_width)
        # (statement, site) in a block body -> the fewest and most repetitions its uses asked for
        self.counts: dict[tuple[int, Site], tuple[int, int]] = {}
        self.padded: dict[tuple[int, Site], tuple[int, int]] = {}  # the same, when expanding again (expand())
        self.reads_width: dict[str, bool] = {}  # block name -> whether its text names `in_channels`
        self.output_steps: dict[str, Step] = {}  # `out: output<...>`, switched on or not

    # -- nodes -----------------------------------------------------------------------------
    def node(self, op: str, span: Span, ctx: _Ctx, inputs: list[int], attrs: dict[str, Any] | None = None,
             exprs: dict[str, A.Expr] | None = None) -> Layer:
        # The budget counts what the user wrote and what joins it (adds, concatenations), not the
        # network's input and output markers: a chain of exactly max_layers layers fits.
        if op is not Join.INPUT and op is not Join.OUTPUT and len(self.ir.layers) - 1 >= self.budget.max_layers:
            self.exhausted = True
            raise ArchError(Diagnostic(f"the network expands to more than {self.budget.max_layers:,} layers", span,
                                       hint="reduce the repetition counts, or raise the budget "
                                            "(--budget max_layers=...)", code="budget-layers"), self.program.sources)
        layer = Layer(len(self.ir.layers), op, attrs or {}, exprs or {}, span, ctx.scope.id, inputs, ctx.enabled)
        self.ir.layers.append(layer)
        for i in inputs:
            self.ir.layers[i].outputs.append(layer.id)
        return layer

    def member(self, ctx: _Ctx, kind: MemberKind, label: str | None, word: str, site: Site, span: Span,
               **kw: Any) -> Member:
        m = Member(kind, label, word, site, span, ctx.container, index=ctx.number, **kw)
        ctx.container.members.append(m)
        ctx.scope.members_by_site[site] = m
        return m

    # -- driver ----------------------------------------------------------------------------
    def run(self) -> IR:
        root = Container(ContainerKind.CLASS, 0, None)
        net_inst = Instance(0, None, dict(self.ir.params), root, None, None, None)
        self.ir.instances.append(net_inst)
        ctx = _Ctx(net_inst, root, net_inst.steps, dict(self.ir.params), True, (), self.defaults[0])
        inp = self.node(Join.INPUT, self.net.input.span, ctx, [], {"shape": self.ir.input_shape})
        self.ir.input = net_inst.in_node = inp.id
        try:
            out = self.seq(self.net.body, inp.id, ctx, Site())
        except ArchError as exc:
            self.reporter.diagnostics += exc.diagnostics
            self.reporter.raise_if_errors()
            raise
        self.reporter.raise_if_errors()
        net_inst.out_node = out
        self.ir.output = self.node(Join.OUTPUT, self.net.span, ctx, self.finish_outputs(net_inst.steps) or [out]).id
        self._decide_inplace()
        for inst in self.ir.instances:
            name_container(inst.container, self.ir.layers, self.reporter)
        self.reporter.raise_if_errors()
        return self.ir

    def _decide_inplace(self) -> None:
        for layer in self.ir.layers:
            after = L.OPS[layer.op].inplace_after
            if after:
                src = self.ir.layers[layer.inputs[0]]
                layer.attrs["inplace"] = src.op in after and len(src.outputs) == 1
        # One class is written for all uses of a block, and a layer word argument is one line of it,
        # `act(inplace=True)` or `act()`: a layer is in place only where every use may be (a use whose input a
        # reference also reads must not overwrite it; the costs then count what the emitted code does).
        sites: dict[tuple[str, Site], list[Layer]] = {}
        for layer in self.ir.layers:
            if layer.member is not None and (layer.argument is not None or L.OPS[layer.op].inplace_after):
                block = self.ir.instances[layer.scope].block
                sites.setdefault((block.name if block else "", layer.member.site), []).append(layer)
        for uses in sites.values():
            inplace = all(use.attrs.get("inplace") for use in uses)
            for use in uses:
                if "inplace" in use.attrs or L.OPS[use.op].inplace_after:
                    use.attrs["inplace"] = inplace

    # -- sequences and statements ------------------------------------------------------------
    def seq(self, seq: A.Seq, x: int, ctx: _Ctx, site: Site) -> int:
        if self.depth >= MAX_DEPTH:
            raise ArchError(Diagnostic(f"blocks and groups nest deeper than {MAX_DEPTH} levels", seq.span,
                                       hint="flatten the nesting; a chain of blocks each using the next counts "
                                            "every level", code="nesting-too-deep"))
        self.depth += 1
        try:
            for i, stmt in enumerate(seq.stmts):
                try:
                    x = self.stmt(stmt, x, ctx, site.then(SiteKind.STMT, i))
                except ArchError as exc:
                    if self.exhausted:
                        raise
                    # Keep going: later statements may hold independent errors worth reporting now.
                    self.reporter.diagnostics += exc.diagnostics
                    if len(self.reporter.diagnostics) >= MAX_ERRORS:
                        self.exhausted = True  # and stop where more would only cost time and memory
                        del self.reporter.diagnostics[MAX_ERRORS:]
                        raise ArchError(Diagnostic(f"stopping after {MAX_ERRORS} errors", stmt.span,
                                                   code="too-many-errors",
                                                   hint="fix these first; they may well cause the rest"),
                                        self.program.sources) from None
        finally:
            self.depth -= 1
        return x

    def stmt(self, stmt: A.Stmt, x: int, ctx: _Ctx, site: Site) -> int:
        count = self._repeat_count(stmt, ctx, site)
        start = len(ctx.steps) if ctx.steps is not None else 0
        inner = ctx
        if stmt.cond is not None:
            if ctx.steps is None or ctx.chain_only:
                raise ArchError(Diagnostic("`if` is allowed only on statements of a block or network body"
                                           + (f", not in {ctx.chain_only}" if ctx.chain_only else ""),
                                           stmt.cond.span, hint="move the condition onto the enclosing labelled group",
                                           code="misplaced-if"))
            value = evaluate(stmt.cond, ctx.env)
            if not isinstance(value, bool):
                raise ArchError(Diagnostic(f"condition must be true or false, got {value!r}", stmt.cond.span,
                                           code="bad-condition-value"))
            inner = ctx._replace(enabled=ctx.enabled and value)
        first_member = len(ctx.container.members)
        first_layer = len(self.ir.layers)
        labelled = stmt.label is not None  # "" too: a quoted label, refused with its own diagnostic
        y = self.labelled(stmt, x, inner, site, count) if labelled else self.unlabelled(stmt, x, inner, site, count)
        if stmt.init is not None:
            rule = statement_rule(stmt, stmt.init, ctx.env, self.program.blocks)
            for layer in self.ir.layers[first_layer:]:
                if layer.span == stmt.item.span:  # the call's own layers, once per repetition
                    self.ir.init.layers[layer.id] = rule
        if stmt.label is not None and not stmt.label_parts:
            self.define(stmt, ctx, start, y if inner.enabled else x)
        if stmt.cond is None:
            return y
        for m in ctx.container.members[first_member:]:
            m.shareable = False  # it exists only when the condition holds: `tanh if c; tanh` needs two
        assert ctx.steps is not None  # a condition outside a class body was refused above
        self._conditional(ctx.steps[start:], stmt.cond, ctx.number)
        return y if inner.enabled else x

    def _repeat_count(self, stmt: A.Stmt, ctx: _Ctx, site: Site | None = None) -> int:
        if stmt.repeat is None:
            return 1
        count = evaluate(stmt.repeat, ctx.env)
        # In a block body a count may be 0 (`basic(c) x (n - 1)` with n = 1): that use makes no repetition.
        least = 0 if ctx.scope.block is not None and site is not None else 1
        if not isinstance(count, int) or isinstance(count, bool) or count < least:
            want = "a positive integer" if least else "an integer of at least 0"
            raise ArchError(Diagnostic(f"repetition count must be {want}, got {count!r}", stmt.repeat.span,
                                       code="bad-repeat"))
        if count > self.budget.max_repeat:
            raise ArchError(Diagnostic(f"repetition count {count:,} exceeds the limit of {self.budget.max_repeat:,}",
                                       stmt.repeat.span, hint="raise the budget if you mean it "
                                                              "(--budget max_repeat=...)", code="budget-repeat"))
        block = ctx.scope.block
        if block is not None and site is not None:
            key = (id(stmt), site)
            least, most = self.counts.get(key, (count, count))
            self.counts[key] = min(least, count), max(most, count)
            if key in self.padded and ((stmt.label is not None and not stmt.label_parts) or ctx.steps is None):
                raise ArchError(Diagnostic(
                    f"the uses of block '{block.name}' repeat this statement a different number of times, and a "
                    "labelled repetition (an nn.Sequential) cannot switch its extra items off", stmt.repeat.span,
                    hint="leave the repeated statement unlabelled in the block's body, or give every use the same "
                         "count", code="repeat-depends-on-argument"))
        return count

    def unlabelled(self, stmt: A.Stmt, x: int, ctx: _Ctx, site: Site, count: int) -> int:
        if isinstance(stmt.item, A.Side):
            raise ArchError(Diagnostic("side<...> needs a label: the name of the extra output", stmt.item.span,
                                       hint="write e.g. `aux1: side<...>`", code="side-needs-label"))
        if isinstance(stmt.item, A.Output):
            self.item(stmt.item, x, ctx, site)  # refuses it
        before = self._made(ctx)
        least, most = self.padded.get((id(stmt), site), (count, count))
        for r in range(most):
            rsite = site if most == 1 else site.then(SiteKind.REPEAT, r)
            if r < least:
                x = self.item(stmt.item, x, _repetition(ctx, stmt, r), rsite)
            else:
                x = self.extra_repetition(stmt, x, ctx, r, count, partial(self.item, stmt.item, site=rsite))
            if r == 0 and not self._foresee(before, most, stmt, ctx):
                break
        return x

    def extra_repetition(self, stmt: A.Stmt, x: int, ctx: _Ctx, r: int, count: int,
                         make: Callable[..., int]) -> int:
        """Repetition `r` (from 0) of a statement that some uses of its block repeat fewer times: made
        (by `make`) in every use, switched off where the count is at most `r`, as if written
        `item if N >= r + 1`."""
        assert ctx.steps is not None and stmt.repeat is not None  # _repeat_count refused the rest
        on = r < count
        start, first_member = len(ctx.steps), len(ctx.container.members)
        y = make(x=x, ctx=_repetition(ctx, stmt, r)._replace(enabled=ctx.enabled and on))
        for m in ctx.container.members[first_member:]:
            m.shareable = False
        cond = A.BinOp(span=stmt.repeat.span, op=">=", left=stmt.repeat, right=A.Number(span=stmt.repeat.span,
                                                                                        value=r + 1))
        self._conditional(ctx.steps[start:], cond, ctx.number)
        return y if on else x

    def _conditional(self, steps: list[Step], cond: A.Expr, number: int | None) -> None:
        for step in steps:
            if step.kind in (StepKind.RESIDUAL, StepKind.CONCAT, StepKind.GATE, StepKind.SPLIT, StepKind.REF):
                word = {StepKind.RESIDUAL: "residual", StepKind.CONCAT: step.word, StepKind.GATE: "gate",
                        StepKind.SPLIT: "split"}.get(step.kind, "reference")
                what = "a reference" if word == "reference" else f"{'an' if word == 'inception' else 'a'} {word}<...>"
                raise ArchError(Diagnostic(f"{what} cannot be switched off with `if`", cond.span,
                                           hint=f"define a block holding the {word} and put the `if` on the "
                                                "block's use", code="misplaced-if"))
            step.cond, step.cond_index = cond, number

    def _made(self, ctx: _Ctx) -> tuple[int, int, int, int]:
        """What expansion has made so far: layers, block instances, members of this container, errors."""
        return len(self.ir.layers), len(self.ir.instances), len(ctx.container.members), len(self.reporter.diagnostics)

    def _foresee(self, before: tuple[int, int, int, int], count: int, stmt: A.Stmt, ctx: _Ctx) -> bool:
        """After one repetition: refuse now if all `count` of them would exceed the layer budget.

        False when the other repetitions must not run: the first made nothing (`() x 3`; else
        `((() x 3) x 3) ...` fifty deep loops 3^50 times without making a layer), or it found
        errors, which the others would only repeat.
        """
        made = self._made(ctx)
        if made[:3] == before[:3] or made[3] > before[3]:
            return False
        # Counted as node() counts (the input, layers[0], is not a layer; nor is the network, instances[0]),
        # and block uses apart: a block that makes no layer, repeated, would make instances without limit.
        for i, what, already in ((0, "layers", before[0] - 1), (1, "block uses", before[1] - 1)):
            alone = count * (made[i] - before[i])
            if already + alone > self.budget.max_layers:
                self.exhausted = True
                raise ArchError(Diagnostic(f"the network expands to more than {self.budget.max_layers:,} {what} "
                                           f"(this repetition alone makes {alone:,})", stmt.span,
                                           hint="reduce the repetition counts, or raise the budget "
                                                "(--budget max_layers=...)", code="budget-layers"),
                                self.program.sources)
        return True

    def labelled(self, stmt: A.Stmt, x: int, ctx: _Ctx, site: Site, count: int, default_name: str | None = None) -> int:
        if stmt.label_parts:
            return self.numbered(stmt, x, ctx, site, count, default_name)
        item, label = stmt.item, stmt.label
        label_span = stmt.label_span or stmt.span
        if label is not None and not isinstance(item, A.Side | A.Output):
            _check_label(label, label_span, self.reporter)
            if label == INPUT_REF:
                raise ArchError(Diagnostic(f"'{INPUT_REF}' cannot be a label: `@{INPUT_REF}` names the block's or "
                                           "network's input", label_span, hint="choose another label, e.g. 'stem'",
                                           code="reserved-name"))
        if isinstance(item, A.Side):
            return self.side(stmt, item, x, ctx, site)
        if isinstance(item, A.Output):
            return self.named_output(stmt, item, x, ctx, site)
        if isinstance(item, A.Residual | A.Inception | A.Gate | A.Split):
            word = item.word if isinstance(item, A.Inception) else \
                {A.Residual: "residual", A.Gate: "gate", A.Split: "split"}[type(item)]
            raise ArchError(Diagnostic(f"a {word}<...> cannot be labelled directly", label_span,
                                       hint=f"define a block holding the {word} and label the block's use",
                                       code="label-on-container"))
        if count == 1 and isinstance(item, A.Call):
            return self.call(item, x, _repetition(ctx, stmt, 0), site, label, default_name)
        # A labelled group or repetition is an nn.Sequential of its items.
        m = self.member(ctx, MemberKind.SEQ, label, "seq", site, stmt.span, default_name=default_name)
        m.children = Container(ContainerKind.SEQ, ctx.scope.id, m)
        inner = ctx._replace(container=m.children, steps=None)
        y = x
        before = self._made(inner)
        for r in range(count):
            rsite = site if count == 1 else site.then(SiteKind.REPEAT, r)
            rctx = _repetition(inner, stmt, r)
            y = self.seq(item.body, y, rctx, rsite) if isinstance(item, A.Group) else self.item(item, y, rctx, rsite)
            if r == 0 and not self._foresee(before, count, stmt, inner):
                break
        self._apply(ctx, m, site, stmt.span, x, y)
        return y

    def numbered(self, stmt: A.Stmt, x: int, ctx: _Ctx, site: Site, count: int, default_name: str | None) -> int:
        """`denselayer{i}: dense_layer(32) x 6`: one member per repetition, each labelled with its own `i`
        (from 1), in the enclosing block or group rather than in an nn.Sequential of the repetitions."""
        span = stmt.label_span or stmt.span
        if stmt.repeat is None:
            one = A.Stmt(span=stmt.span, label=self.label_text(stmt, ctx.env), label_span=span, item=stmt.item)
            return self.labelled(one, x, ctx, site, 1, default_name)
        before = self._made(ctx)
        least, most = self.padded.get((id(stmt), site), (count, count))
        for r in range(most):
            rctx = _repetition(ctx, stmt, r)  # `i` is the repetition's number in the label and the item alike
            one = A.Stmt(span=stmt.span, label=self.label_text(stmt, rctx.env), label_span=span, item=stmt.item)
            rsite = site.then(SiteKind.REPEAT, r)
            if r < least:
                x = self.labelled(one, x, rctx, rsite, 1, default_name)
            else:
                x = self.extra_repetition(stmt, x, ctx, r, count, partial(self.labelled, one, site=rsite, count=1,
                                                                                  default_name=default_name))
            if r == 0 and not self._foresee(before, most, stmt, ctx):
                break
        return x

    def label_text(self, stmt: A.Stmt, env: dict[str, Value]) -> str:
        text = []
        for part in stmt.label_parts:
            if isinstance(part, str):
                text.append(part)
                continue
            value = evaluate(part, env)
            if not isinstance(value, int) or isinstance(value, bool):
                raise ArchError(Diagnostic(f"a label's braces must give an integer, got {value!r}", part.span,
                                           hint="e.g. denselayer{i} or \"block1-{i - 1}\"", code="bad-label-value"))
            text.append(str(value))
        return "".join(text)

    def _apply(self, ctx: _Ctx, m: Member, site: Site, span: Span, x: int, y: int) -> None:
        step = Step(StepKind.APPLY, site, span, x, y, member=m)
        if ctx.steps is not None:
            self._step(ctx, step)
            return
        # A member of an nn.Sequential: recorded in its container, for a reference that reads it (`@backbone.4`).
        step.index = ctx.number
        ctx.container.steps.append(step)
        ctx.scope.steps_by_site[site] = step

    def _step(self, ctx: _Ctx, step: Step) -> None:
        assert ctx.steps is not None  # callers refuse residuals, branches and side outputs in an nn.Sequential
        step.index = ctx.number
        ctx.steps.append(step)
        ctx.scope.steps_by_site[step.site] = step

    def item(self, item: A.Item, x: int, ctx: _Ctx, site: Site) -> int:
        if isinstance(item, A.Call):
            return self.call(item, x, ctx, site, None)
        if isinstance(item, A.Group):
            return self.seq(item.body, x, ctx, site)
        if isinstance(item, A.Ref):
            return self.ref(item, x, ctx, site)
        if isinstance(item, A.Output):
            raise ArchError(Diagnostic("output<...> needs a label: its key in the returned dict", item.span,
                                       hint="write e.g. `out: output<...>`", code="output-needs-label"))
        word = item.word if isinstance(item, A.Inception) else type(item).__name__.lower()
        if ctx.steps is None:
            raise ArchError(Diagnostic(f"{word}<...> cannot stand inside a labelled ( ) group, which becomes an "
                                       "nn.Sequential", item.span,
                                       hint=f"define a block holding the {word} and use the block in the group",
                                       code="container-in-group"))
        # A flat branch's statements are lines of the enclosing forward on a variable of their own: a
        # concatenation, a gate or a split writes there as well; a residual's shortcut and add (and an
        # nn.Sequential's items) do not.
        sequential = (ctx.chain_only or "").startswith("a sequential")
        if ctx.chain_only and (sequential or isinstance(item, A.Residual)):
            hint = f"define a block holding the {word} and use the block here"
            if sequential:
                hint = f"write `block` for `sequential block` (its items become named attributes), or {hint}"
            raise ArchError(Diagnostic(f"{word}<...> cannot stand in {ctx.chain_only}", item.span, hint=hint,
                                       code="container-in-chain"))
        if isinstance(item, A.Residual):
            return self.residual(item, x, ctx, site)
        if isinstance(item, A.Inception):
            return self.inception(item, x, ctx, site)
        if isinstance(item, A.Gate):
            return self.gate(item, x, ctx, site)
        if isinstance(item, A.Split):
            return self.split(item, x, ctx, site)
        raise ArchError(Diagnostic("side<...> needs a label: the name of the extra output", item.span,
                                   hint="write e.g. `aux1: side<...>`", code="side-needs-label"))

    # -- layers and blocks -------------------------------------------------------------------
    def call(self, call: A.Call, x: int, ctx: _Ctx, site: Site, label: str | None,
             default_name: str | None = None) -> int:
        argument = _word_parameter(call, ctx.env, self.program.blocks)
        if argument is not None:
            call = A.Call(span=call.span, name=argument.name)
        elif call.name in self.program.blocks:
            return self.instance(call, x, ctx, site, label, default_name)
        found = L.lookup(call.name)
        if found is None:
            close = L.suggest(call.name, list(self.program.blocks))
            hint = f"did you mean '{close}'?" if close else "`archdsl words` lists the layer words"
            raise ArchError(Diagnostic(f"unknown layer or block '{call.name}'", call.span, hint=hint,
                                       code="unknown-word"))
        spec, kernel = found
        if spec.parameter and label is not None and not label.isidentifier():
            raise ArchError(Diagnostic(f"'{spec.word}' makes a parameter, whose label must be an identifier, not "
                                       f"\"{label}\"", call.span, hint="quoted labels name modules only",
                                       code="bad-module-name"))
        if spec.parameter and ctx.steps is None:
            raise ArchError(Diagnostic(f"'{call.name}' is a parameter of the enclosing block, not a module: it cannot "
                                       "stand inside a labelled ( ) group, which becomes an nn.Sequential", call.span,
                                       hint="put it in the block's body after the group, as ConvNeXt's "
                                            "`block: (...); layer_scale: scale(init=1e-6)`",
                                       code="parameter-in-group"))
        bound = L.bind(call, spec, kernel, ctx.env, ctx.defaults.get(spec.word))
        if argument is not None:
            _default_options_only(argument, spec, bound.attrs, call.span)
        word = spec.naming(bound.attrs)
        inputs = [x]
        for o in spec.options:
            if o.kind == "tensor" and bound.attrs.get(o.name) is not None:
                node, bound.attrs[o.name] = self.tensor_option(bound.exprs[o.name], ctx, call)  # the variable
                inputs.append(node)
        layer = self.node(spec.op, call.span, ctx, inputs, dict(bound.attrs, word=word), bound.exprs)
        if argument is not None:
            # Unlabelled, it is named after the parameter (`act`), which every use of the block shares.
            layer.argument, word = argument.parameter, argument.parameter
        m = self.member(ctx, MemberKind.LAYER, label, word, site, call.span, node=layer.id,
                        shareable=label is None and spec.stateless, default_name=default_name)
        layer.member = m
        self._apply(ctx, m, site, call.span, x, layer.id)
        return layer.id

    def instance(self, call: A.Call, x: int, ctx: _Ctx, site: Site, label: str | None, default_name: str | None) -> int:
        block = self.program.blocks[call.name]
        if call.name in ctx.stack:
            chain = " -> ".join(ctx.stack[ctx.stack.index(call.name):] + (call.name,))
            raise ArchError(Diagnostic(f"recursive block definition: {chain}", call.span,
                                       notes=[Note(f"block '{call.name}' is defined here", block.span)],
                                       code="recursive-block"))
        if call.dashes or call.slash is not None:
            raise ArchError(Diagnostic(f"block '{call.name}' takes arguments in parentheses, not '-' or '/'",
                                       call.span, hint=f"write {call.name}(...)", code="block-arguments"))
        width = self.input_width(x, call) if self._reads_width(block) else None
        args, refs = _bind_block_args(call, block, ctx.env, width)
        passed = [self.tensor_argument(ref, ctx, call) for ref in refs.values()]
        inst_id = len(self.ir.instances)
        m = self.member(ctx, MemberKind.INSTANCE, label, call.name, site, call.span, instance=inst_id,
                        default_name=default_name)
        # A sequential block's members are an nn.Sequential's: numbered 0, 1, ... unless labelled.
        container = Container(ContainerKind.SEQ if block.sequential else ContainerKind.CLASS, inst_id, m)
        inst = Instance(inst_id, block, args, container, ctx.scope.id, m, call, in_node=x,
                        tensors=[(var, node) for node, var in passed])
        self.ir.instances.append(inst)
        # The block's tensor parameters: what `@low` reads in its body, the arguments of its forward.
        self.tensors[inst_id] = {name: _Defined(node, None, ref.span, None, param=True)
                                 for (name, ref), (node, _) in zip(refs.items(), passed)}
        defaults = merged(self.defaults[1], self.defaults[2].get(block.name, {}))
        env = dict(args) if width is None else {**args, "in_channels": width}
        inner = _Ctx(inst, container, inst.steps, env, ctx.enabled, ctx.stack + (call.name,), defaults,
                     chain_only=f"a sequential block ('{block.name}')" if block.sequential else None)
        start = len(self.reporter.diagnostics)
        inst.out_node = self.seq(block.body, x, inner, Site())
        if len(self.reporter.diagnostics) > start:
            # Report a block's errors once, not once per use (nor once per layer a bad default reaches).
            seen = {(d.message, d.span) for d in self.reporter.diagnostics[:start]}
            fresh = []
            for d in self.reporter.diagnostics[start:]:
                if (d.message, d.span) not in seen:
                    seen.add((d.message, d.span))
                    fresh.append(d)
            self.reporter.diagnostics[start:] = fresh
        if not block.body.stmts:
            raise ArchError(Diagnostic(f"block '{block.name}' is empty", block.span, code="empty-block"))
        self._apply(ctx, m, site, call.span, x, inst.out_node)
        return inst.out_node

    def _reads_width(self, block: A.BlockDef) -> bool:
        if block.name not in self.reads_width:
            self.reads_width[block.name] = "in_channels" in _names_in(block)
        return self.reads_width[block.name]

    def input_width(self, x: int, call: A.Call) -> int:
        """The channels (or flat features) of tensor `x`, for a block body's `in_channels`.

        Expressions are evaluated while the graph is built, so the shapes made so far are inferred
        here, each layer once; the full inference after expansion computes them all again. A shape
        rule's problem is reported now, as that inference would report it.
        """
        from archdsl.shapes.inference import infer_from  # here: the shape check imports the IR's records

        layers = self.ir.layers
        infer_from(self.ir, self.shaped, self.reporter)
        self.shaped = len(layers)
        shape = layers[x].out_shape
        if shape is None:
            raise ArchError(Diagnostic(f"block '{call.name}' reads `in_channels`, and the shape of its input is "
                                       "unknown after the errors above", call.span, code="unknown-input-width"))
        return shape[0]

    # -- combinators ---------------------------------------------------------------------------
    def residual(self, item: A.Residual, x: int, ctx: _Ctx, site: Site) -> int:
        mode, drop = "projection", None
        for arg in item.args:
            if arg.name == "drop":
                drop = arg
                continue
            if arg.name != "shortcut" or not isinstance(arg.value, A.Name) or arg.value.id not in SHORTCUT_MODES:
                raise ArchError(Diagnostic("residual takes the options shortcut=" + "|".join(SHORTCUT_MODES) +
                                           " and drop=p", arg.span, code="bad-residual-option"))
            mode = arg.value.id
        step = Step(StepKind.RESIDUAL, site, item.span, x, -1)
        body_ctx = ctx._replace(steps=step.body)
        body_out = self.seq(item.body, x, body_ctx, site.then(SiteKind.BODY))
        if drop is not None:
            body_out = self.stochastic_depth(drop, body_out, body_ctx, site.then(SiteKind.DROP))
        sc_site = site.then(SiteKind.SHORTCUT)
        if item.shortcut is not None:
            sc_ctx = ctx._replace(steps=step.shortcut_steps)
            stmts = item.shortcut.stmts
            if len(stmts) == 1 and stmts[0].cond is None:
                sc_out = self.labelled(stmts[0], x, sc_ctx, sc_site, self._repeat_count(stmts[0], ctx),
                                       default_name="downsample")
            else:
                sc_out = self.labelled(A.Stmt(span=item.shortcut.span, item=A.Group(span=item.shortcut.span,
                                       body=item.shortcut)), x, sc_ctx, sc_site, 1, default_name="downsample")
            step.shortcut = step.shortcut_steps[-1].member if step.shortcut_steps else None
        else:
            sc = self.node(Join.SHORTCUT, item.span, ctx, [x], {"mode": mode, "target": body_out})
            step.shortcut = self.member(ctx, MemberKind.SHORTCUT, None, "downsample", sc_site, item.span,
                                        node=sc.id, default_name="downsample")
            sc.member = step.shortcut
            sc_out = sc.id
        add = self.node(Join.ADD, item.span, ctx, [body_out, sc_out])
        step.out_node = add.id
        self._step(ctx, step)
        return add.id

    def stochastic_depth(self, drop: A.Arg, x: int, ctx: _Ctx, site: Site) -> int:
        """`residual(drop=p)`: torchvision's StochasticDepth(p, "row") on the body's output, before the add; an
        attribute `stochastic_depth` of the block, as in torchvision's CNBlock."""
        p = check_option(DROP, evaluate(drop.value, ctx.env), drop, "residual")
        layer = self.node("stochastic_depth", drop.span, ctx, [x], {"p": p}, {"p": drop.value})
        m = self.member(ctx, MemberKind.LAYER, None, "stochastic_depth", site, drop.span, node=layer.id,
                        default_name="stochastic_depth")
        layer.member = m
        self._apply(ctx, m, site, drop.span, x, layer.id)
        return layer.id

    def inception(self, item: A.Inception, x: int, ctx: _Ctx, site: Site) -> int:
        flat = _concat_flat(item)
        step = Step(StepKind.CONCAT, site, item.span, x, -1, flat=flat, word=item.word)
        outs = []
        for i, branch in enumerate(item.branches, start=1):
            bsteps: list[Step] = []
            bctx = ctx._replace(steps=bsteps)
            bsite = site.then(SiteKind.BRANCH, i)
            stmts = branch.stmts
            if any(s.cond is not None for s in stmts):
                raise ArchError(Diagnostic(f"{item.word} branches cannot be conditional", branch.span,
                                           code="conditional-branch"))
            if stmts and isinstance(stmts[0].item, A.Ref) and stmts[0].label is None and stmts[0].repeat is None:
                # U-Net's `concat< @d4; crop(@up) | identity >`: the branch starts from an earlier tensor; its
                # statements run as a chain on a variable of their own, their members the enclosing block's.
                start = self.ref(stmts[0].item, x, bctx, bsite)  # the rest's statements are bsite/0, /1, ...
                rest = A.Seq(span=branch.span, stmts=stmts[1:])
                chain = bctx._replace(chain_only=f"a {item.word} branch that starts with a reference")
                outs.append(self.seq(rest, start, chain, bsite) if rest.stmts else start)
                step.branches.append(None)
                step.branch_steps.append(bsteps)
                continue
            if _is_identity(branch):
                # The input itself: no member, and the concatenation reads `x` (DenseNet's dense layer).
                outs.append(x)
                step.branches.append(None)
                step.branch_steps.append([])
                continue
            if flat:
                # The branch's members belong to the enclosing block: Inception v3's `Mixed_5b.branch5x5_1`.
                outs.append(self.seq(branch, x, bctx._replace(chain_only=f"a {item.word}(flat) branch"), bsite))
                step.branches.append(None)
                step.branch_steps.append(bsteps)
                continue
            if len(stmts) == 1:
                outs.append(self.labelled(stmts[0], x, bctx, bsite, self._repeat_count(stmts[0], ctx),
                                          default_name=f"branch{i}"))
            else:
                group = A.Stmt(span=branch.span, item=A.Group(span=branch.span, body=branch))
                outs.append(self.labelled(group, x, bctx, bsite, 1, default_name=f"branch{i}"))
            step.branches.append(_applied(bsteps))
            step.branch_steps.append(bsteps)
        cat = self.node(Join.CONCAT, item.span, ctx, outs, {"word": item.word})
        step.out_node = cat.id
        self._step(ctx, step)
        return cat.id

    # -- references --------------------------------------------------------------------------
    def define(self, stmt: A.Stmt, ctx: _Ctx, start: int, y: int) -> None:
        """Record what `@label` will read: the statement's output, and the step that makes it (None where
        its tensor lives only inside an nn.Sequential, or for a side output, whose head returns its input)."""
        assert stmt.label is not None
        step = None
        if ctx.steps is not None and len(ctx.steps) > start and not isinstance(stmt.item, A.Side | A.Output):
            step = ctx.steps[-1]
        why = None
        if ctx.steps is None:
            why = "its output exists only inside the labelled ( ) group (an nn.Sequential) around it"
        elif isinstance(stmt.item, A.Side):
            why = "it is a side output, returned apart from the main path"
        elif isinstance(stmt.item, A.Output):
            why = "it is a named output, returned apart from the main path"
        self.tensors.setdefault(ctx.scope.id, {})[stmt.label] = _Defined(y, step, stmt.label_span or stmt.span, why)

    def ref(self, item: A.Ref, x: int, ctx: _Ctx, site: Site) -> int:
        """`@name`: the output of the statement labelled `name` that stands before this one in the same block
        (or network) body; inside `x N`, that of the same repetition: the latest one expanded."""
        # In a flat branch a reference is a line like any other (`branch = d4`); an nn.Sequential has no lines.
        where = "a labelled ( ) group, which becomes an nn.Sequential" if ctx.steps is None else \
            ctx.chain_only if (ctx.chain_only or "").startswith("a sequential") else None
        if where:
            hint = "move the reference into the block or network body, or start a concat branch with it"
            if ctx.steps is not None:
                hint = "write `block` for `sequential block` (its items become named attributes)"
            raise ArchError(Diagnostic(f"a reference cannot stand in {where}: its items run in a chain", item.span,
                                       hint=hint, code="misplaced-reference"))
        node, var = self.resolve(item, ctx)
        self._step(ctx, Step(StepKind.REF, site, item.span, x, node, name=var))
        return node

    def tensor_argument(self, ref: A.Ref, ctx: _Ctx, call: A.Call) -> tuple[int, str]:
        """`head(@backbone.4, 21)`: the tensor a block's `@low` parameter reads, passed to its forward."""
        if ctx.steps is None or ctx.chain_only:
            where = "a labelled ( ) group, which becomes an nn.Sequential" if ctx.steps is None else ctx.chain_only
            raise ArchError(Diagnostic(f"block '{call.name}' takes a tensor argument, so it cannot stand in {where}",
                                       call.span, hint="move it into the block or network body",
                                       code="misplaced-reference"))
        return self.resolve(ref, ctx)

    def tensor_option(self, expr: A.Expr, ctx: _Ctx, call: A.Call) -> tuple[int, str]:
        """`crop(@up4)`: the layer reads up4's output too, so its forward takes a second tensor."""
        assert isinstance(expr, A.Ref)  # registry.option_value checked it
        if ctx.steps is None or (ctx.chain_only or "").startswith("a sequential"):
            where = "a labelled ( ) group, which becomes an nn.Sequential" if ctx.steps is None else ctx.chain_only
            raise ArchError(Diagnostic(f"'{call.name}' reads a second tensor, so it cannot stand in {where}",
                                       call.span, hint="move it into the block or network body",
                                       code="misplaced-reference"))
        return self.resolve(expr, ctx)

    def resolve(self, item: A.Ref, ctx: _Ctx) -> tuple[int, str]:
        """The node `@name` reads and the forward's variable that holds it, its statement marked to keep it
        (Step.save); errors name the label."""
        if item.name == INPUT_REF:  # `@input`: the block's (or network's) input, which code generation then keeps
            if item.path:
                raise ArchError(Diagnostic(f"'@{item.text}': `@{INPUT_REF}` is a tensor, which has no members",
                                           item.span, hint=f"write @{INPUT_REF}", code="unreadable-reference"))
            ctx.scope.reads_input = True
            return ctx.scope.in_node, INPUT_REF
        known_here = self.tensors.get(ctx.scope.id, {})
        found = known_here.get(item.name)
        if found is None:
            later = _label_span(ctx.scope.block.body if ctx.scope.block else self.net.body, item.name)
            body = f"block '{ctx.scope.block.name}'" if ctx.scope.block else f"network '{self.net.name}'"
            if later is not None:
                raise ArchError(Diagnostic(f"'@{item.name}' refers to a statement that comes later", item.span,
                                           notes=[Note(f"'{item.name}' is defined here", later)],
                                           hint="a reference reads an earlier statement's output: move the "
                                                "statement before the reference", code="forward-reference"))
            raise ArchError(Diagnostic(f"no statement labelled '{item.name}' before this reference in {body}",
                                       item.span, hint=did_you_mean(item.name, sorted(known_here),
                                                                    "label the statement whose output you mean"),
                                       code="unknown-reference"))
        if found.param:
            if item.path:
                raise ArchError(Diagnostic(f"'@{item.text}': '{item.name}' is a tensor parameter of block "
                                           f"'{ctx.scope.block.name if ctx.scope.block else ''}', which has no "
                                           "members", item.span, hint=f"write @{item.name}",
                                           code="unreadable-reference"))
            return found.node, item.name  # an argument of the block's forward
        if found.step is None:
            raise ArchError(Diagnostic(f"'@{item.text}' cannot be read: {found.why}", item.span,
                                       notes=[Note(f"'{item.name}' is defined here", found.span)],
                                       hint="label a statement of the block or network body itself, or read the "
                                            "group's member by its path (`@group.member`)",
                                       code="unreadable-reference"))
        if not item.path:
            found.step.save = item.name
            return found.node, item.name
        step = self.member_step(item, found)
        var = re.sub(r"\W", "_", "_".join((item.name, *item.path)))
        text = ctx.scope.block.body if ctx.scope.block else self.net.body
        while _label_span(text, var) is not None or var in known_here:  # a label of its own: go around it
            var += "_"
        step.save = var
        return step.out_node, var

    def member_step(self, item: A.Ref, found: _Defined) -> Step:
        """`@backbone.layer3`: the step that applies that member of the labelled group `backbone` (named as
        the naming stage names it, so as its state_dict keys); the groups on the way are marked to run their
        members one by one."""
        step = found.step
        assert step is not None
        for depth, part in enumerate(item.path):
            prefix = ".".join((item.name, *item.path[:depth]))
            m = step.member
            if step.kind != StepKind.APPLY or m is None or m.children is None:
                what = f"a use of block '{m.word}'" if m is not None and m.kind == MemberKind.INSTANCE else \
                    "not a labelled ( ) group"
                raise ArchError(Diagnostic(f"'@{item.text}': '{prefix}' is {what}, so it has no members a reference "
                                           "can read", item.span, notes=[Note(f"'{item.name}' is defined here",
                                                                              found.span)],
                                           hint="references read the members of labelled groups (nn.Sequential); "
                                                "label the statement inside the block and read it there",
                                           code="unreadable-reference"))
            if step.cond is not None:
                raise ArchError(Diagnostic(f"'@{item.text}': '{prefix}' exists only under a condition", item.span,
                                           hint="read a member of an unconditional group", code="unreadable-reference"))
            names = sequential_names(m.children)
            if part not in names:
                listed = ", ".join(names)
                raise ArchError(Diagnostic(f"'@{item.text}': the labelled group '{prefix}' has no member '{part}'",
                                           item.span, notes=[Note(f"'{item.name}' is defined here", found.span)],
                                           hint=did_you_mean(part, names, f"its members: {listed}"),
                                           code="unknown-reference"))
            step.unrolled = True
            step = m.children.steps[names.index(part)]
        return step

    def gate(self, item: A.Gate, x: int, ctx: _Ctx, site: Site) -> int:
        """`gate<body>` multiplies x by body(x); `gate<a | b>` multiplies a(x) by b(x). The paths' members
        belong to the enclosing class, as a residual body's do, so SqueezeExcitation's keys come out flat."""
        step = Step(StepKind.GATE, site, item.span, x, -1)
        outs = []
        for k, path in enumerate(item.paths, start=1):
            steps: list[Step] = []
            step.factors.append(steps)
            outs.append(self.seq(path, x, ctx._replace(steps=steps), site.then(SiteKind.FACTOR, k)))
        factors = [x, outs[0]] if len(outs) == 1 else outs
        mul = self.node(Join.MUL, item.span, ctx, factors, {"paths": len(outs)})
        step.out_node = mul.id
        self._step(ctx, step)
        return mul.id

    def split(self, item: A.Split, x: int, ctx: _Ctx, site: Site) -> int:
        """ShuffleNetV2's `x1, x2 = x.chunk(2, dim=1)`: branch k runs on part k of the channels; the results
        are concatenated. As a concat's, each branch is one member of the enclosing class, and an identity
        branch is the part itself."""
        step = Step(StepKind.SPLIT, site, item.span, x, -1)
        outs = []
        parts = len(item.branches)
        for i, branch in enumerate(item.branches, start=1):
            part = self.node(Join.CHUNK, branch.span, ctx, [x], {"index": i - 1, "parts": parts})
            step.parts.append(part.id)
            bsteps: list[Step] = []
            bctx = ctx._replace(steps=bsteps)
            bsite = site.then(SiteKind.BRANCH, i)
            stmts = branch.stmts
            if any(s.cond is not None for s in stmts):
                raise ArchError(Diagnostic("split branches cannot be conditional", branch.span,
                                           code="conditional-branch"))
            if _is_identity(branch):
                outs.append(part.id)
                step.branches.append(None)
                step.branch_steps.append([])
                continue
            if len(stmts) == 1:
                outs.append(self.labelled(stmts[0], part.id, bctx, bsite, self._repeat_count(stmts[0], ctx),
                                          default_name=f"branch{i}"))
            else:
                group = A.Stmt(span=branch.span, item=A.Group(span=branch.span, body=branch))
                outs.append(self.labelled(group, part.id, bctx, bsite, 1, default_name=f"branch{i}"))
            step.branches.append(_applied(bsteps))
            step.branch_steps.append(bsteps)
        cat = self.node(Join.CONCAT, item.span, ctx, outs, {"word": "split"})
        step.out_node = cat.id
        self._step(ctx, step)
        return cat.id

    def side(self, stmt: A.Stmt, item: A.Side, x: int, ctx: _Ctx, site: Site) -> int:
        label = stmt.label
        assert label is not None  # unlabelled() refuses an unlabelled side<...>
        # Only a statement of the network's own body: not a block's, a group's, nor a residual body's or
        # shortcut's, whose forward code would return the outputs tuple from the middle of the network.
        if ctx.scope.id != 0 or ctx.steps is not ctx.scope.steps:
            raise ArchError(Diagnostic("side outputs belong in the network body", item.span,
                                       hint="move the side<...> from the block into the network",
                                       code="misplaced-side"))
        if not label.isidentifier():
            raise ArchError(Diagnostic(f"side output \"{label}\" needs a name that is an identifier", stmt.label_span,
                                       hint="it names a field of the returned tuple, e.g. aux1: side<...>",
                                       code="bad-module-name"))
        _check_identifier(label, stmt.label_span or stmt.span, self.reporter, "side output")
        if stmt.label in self.ir.sides:
            raise ArchError(Diagnostic(f"side output '{stmt.label}' defined twice", stmt.label_span,
                                       code="duplicate-side"))
        if self.output_steps:
            raise ArchError(_side_and_output(item.span))
        if stmt.label == "out":
            raise ArchError(Diagnostic("'out' names the main output; a side output needs another name",
                                       stmt.label_span, hint="e.g. aux1: side<...>", code="side-named-out"))
        bsteps: list[Step] = []
        bctx = ctx._replace(steps=bsteps)
        body = item.body.stmts
        if len(body) == 1 and body[0].cond is None and body[0].label is None:
            one = A.Stmt(span=body[0].span, label=stmt.label, label_span=stmt.label_span, item=body[0].item,
                         repeat=body[0].repeat)
            y = self.labelled(one, x, bctx, site.then(SiteKind.SIDE), self._repeat_count(one, ctx))
        else:
            group = A.Stmt(span=item.span, label=stmt.label, label_span=stmt.label_span,
                           item=A.Group(span=item.span, body=item.body))
            y = self.labelled(group, x, bctx, site.then(SiteKind.SIDE), 1)
        out = self.node(Join.SIDE_OUTPUT, item.span, bctx, [y], {"name": stmt.label})
        if ctx.enabled:
            self.ir.sides[label] = out.id
        self._step(ctx, Step(StepKind.SIDE, site, item.span, x, y, member=_applied(bsteps), name=label))
        return x


    def named_output(self, stmt: A.Stmt, item: A.Output, x: int, ctx: _Ctx, site: Site) -> int:
        """`out: output<body>`: body(x) becomes the entry `out` of the dict the network returns; the path goes
        on from x. The body's members belong to the network (torchvision's `classifier`, `aux_classifier`)."""
        label = stmt.label
        assert label is not None  # unlabelled() refuses an unlabelled output<...>
        label_span = stmt.label_span or stmt.span
        if ctx.scope.id != 0 or ctx.steps is not ctx.scope.steps:
            raise ArchError(Diagnostic("named outputs belong in the network body", item.span,
                                       hint="move the output<...> from the block, group or branch into the "
                                            "network's own statements", code="misplaced-output"))
        if not label.isidentifier() or keyword.iskeyword(label):
            raise ArchError(Diagnostic(f"output \"{label}\" needs a name that is an identifier", label_span,
                                       hint="it is the key in the returned dict, e.g. out: output<...>",
                                       code="bad-module-name"))
        if any(s.kind == StepKind.SIDE for s in ctx.scope.steps):
            raise ArchError(_side_and_output(item.span))
        if label in self.output_steps:
            raise ArchError(Diagnostic(f"output '{label}' defined twice", label_span,
                                       notes=[Note("first defined here", self.output_steps[label].span)],
                                       code="duplicate-output"))
        body: list[Step] = []
        first_member = len(ctx.container.members)
        y = self.seq(item.body, x, ctx._replace(steps=body), site.then(SiteKind.OUTPUT))
        if stmt.cond is not None and len(ctx.container.members) == first_member:
            # The forward tells a built head from a missing one by its first module (`is not None`).
            raise ArchError(Diagnostic(f"a conditional output needs a layer in its body: '{label}' has none",
                                       item.span, hint="switch off the statement before it instead, or drop the "
                                                       "`if`", code="empty-conditional-output"))
        out = self.node(Join.NAMED_OUTPUT, item.span, ctx, [y], {"name": label})
        if ctx.enabled:
            self.ir.outputs[label] = out.id
        step = Step(StepKind.OUTPUT, site, item.span, x, y, body=body, name=label)
        self.output_steps[label] = step
        self._step(ctx, step)
        return x

    def finish_outputs(self, steps: list[Step]) -> list[int]:
        """What the network's output node reads: its named outputs, if it has any, after which no statement
        may stand (it would compute nothing returned); else [] (the main path's end)."""
        if not self.output_steps:
            return []
        last = max(k for k, s in enumerate(steps) if s.kind == StepKind.OUTPUT)
        if last < len(steps) - 1:
            raise ArchError(Diagnostic("a statement after the last output<...> computes nothing the network "
                                       "returns", steps[last + 1].span,
                                       notes=[Note("the last output", steps[last].span)],
                                       hint="move it into an output<...>, or before it", code="after-last-output"),
                            self.program.sources)
        if not self.ir.outputs:
            raise ArchError(Diagnostic("every output<...> is switched off: the network would return nothing",
                                       steps[last].span, hint="switch at least one on", code="no-output"),
                            self.program.sources)
        return list(self.ir.outputs.values())


def _side_and_output(span: Span) -> Diagnostic:
    return Diagnostic("side<...> and output<...> cannot be mixed in one network", span,
                      hint="a network with output<...> returns a dict in training mode too: make the side output "
                           "an output<...> (with `if` to build it only when wanted)", code="side-with-output")


SHORTCUT_MODES = ("projection", "pad", "pad_both", "project_all", "when_equal")
DROP = L.Option("drop", "prob", 0.0, "the probability of dropping the body for a sample (stochastic depth)")


def _concat_flat(item: A.Inception) -> bool:
    """The one option of `concat(flat)<...>`: whether the branches' members belong to the enclosing block."""
    flat = False
    for arg in item.args:
        if arg.name is None and isinstance(arg.value, A.Name) and arg.value.id == "flat":
            flat = True
        elif arg.name == "flat" and isinstance(arg.value, A.Boolean):
            flat = arg.value.value
        else:
            raise ArchError(Diagnostic(f"{item.word} takes one option, flat (or flat=true|false)", arg.span,
                                       code="bad-concat-option"))
    return flat


def _is_identity(branch: A.Seq) -> bool:
    """A branch that passes its input on: empty, `()`, or an unlabelled `identity` without options."""
    stmts = branch.stmts
    if not stmts:
        return True
    if len(stmts) != 1 or stmts[0].label is not None or stmts[0].repeat is not None:
        return False
    item = stmts[0].item
    if isinstance(item, A.Group):
        return _is_identity(item.body)
    return isinstance(item, A.Call) and item.name == "identity" and not (item.dashes or item.slash or item.args)


def _repetition(ctx: _Ctx, stmt: A.Stmt, r: int) -> _Ctx:
    """The context of repetition `r` (from 0) of a statement: with `x N`, `i` names its number from 1,
    hiding an `i` of the enclosing scope; without, the context unchanged."""
    if stmt.repeat is None:
        return ctx
    return ctx._replace(env={**ctx.env, "i": r + 1}, number=r + 1)


def _applied(steps: list[Step]) -> Member:
    """The member of the step `labelled` just added: a branch's or side output's module."""
    member = steps[-1].member
    assert member is not None
    return member


def _argument(expr: A.Expr, env: dict[str, Value]) -> Value:
    """A block argument's value: an expression's, the padding word `same` or `valid`, which the block passes
    on to a padding option, or a layer word (`act = relu6`), which the block's statement `act` becomes.
    A name in scope hides a word of the same spelling."""
    if isinstance(expr, A.Name) and expr.id not in env:
        if expr.id in L.PADDING_WORDS:
            return expr.id
        if L.lookup(expr.id) is not None:
            return word_argument(expr)
        close = did_you_mean(expr.id, L.argument_words(), "")
        if close:  # `act = rleu`: a misspelt word, not a misspelt parameter
            raise ArchError(Diagnostic(f"undefined name '{expr.id}'", expr.span, hint=close, code="undefined-name"))
    return evaluate(expr, env)


def word_argument(name: A.Name) -> Word:
    """The layer word `name` as a block argument; an ArchError for a word no block can take."""
    found = L.lookup(name.id)
    if found is not None and found[1] is None and found[0].argument:
        return Word(found[0].word)
    takes = ", ".join(L.argument_words())
    raise ArchError(Diagnostic(f"'{name.id}' cannot be a block argument: only a layer word that needs no option "
                               "and holds no weights can", name.span, code="not-a-word-argument",
                               hint=f"the words a block can take: {takes}; pass a number (channels, kernel) "
                                    "and write the layer inside the block"))


def _default_options_only(argument: _WordParameter, spec: L.LayerSpec, attrs: dict[str, Any], span: Span) -> None:
    """The emitted class calls the word's bare class (`act()`), which knows only the word's own defaults: a
    `default gelu(approximate=tanh)` that reaches the layer would make the checked graph and the code differ."""
    changed = [f"{o.name}={attrs[o.name]}" for o in spec.options if attrs.get(o.name) != o.default]
    if changed:
        raise ArchError(Diagnostic(f"'{argument.parameter}' is the layer word '{spec.word}' passed to the block, and a "
                                   f"`default` gives it {', '.join(changed)}: a word argument keeps its own defaults",
                                   span, code="word-argument-options",
                                   hint=f"remove the `default {spec.word}(...)` from the network or block, or write "
                                        f"`{spec.word}(...)` in the block instead of `{argument.parameter}`"))


class _WordParameter(NamedTuple):
    parameter: str
    name: str  # the word it holds


def _word_parameter(call: A.Call, env: dict[str, Value], blocks: dict[str, A.BlockDef]) -> _WordParameter | None:
    """The parameter a statement names, when it holds a layer word (`act`). A parameter shadows a layer word of
    its name only while it holds a word: `dropout(p=dropout)` still reads a number parameter as an option."""
    value = env.get(call.name)
    if isinstance(value, Word):
        if call.dashes or call.slash is not None or call.args:
            raise ArchError(Diagnostic(f"'{call.name}' is the layer word '{value}' passed to the block: it takes no "
                                       "'-', '/' or options here", call.span, code="word-argument-options",
                                       hint=f"write `{call.name}` alone; a word with other options is a "
                                            "statement of the block"))
        return _WordParameter(call.name, value.name)
    if call.name in env and L.lookup(call.name) is None and call.name not in blocks and call.name != "i":
        raise ArchError(Diagnostic(f"'{call.name}' is a parameter holding {value!r} here, not a layer word",
                                   call.span, code="value-as-word",
                                   hint=f"pass a layer word for it (`{call.name} = relu`), or use a layer word here"))
    return None


def _names_in(node: object) -> set[str]:
    """Every name an expression under `node` reads."""
    found: set[str] = set()
    stack = [node]
    while stack:
        item = stack.pop()
        if isinstance(item, A.Name):
            found.add(item.id)
        elif isinstance(item, list):
            stack.extend(item)
        elif isinstance(item, A.Node):
            stack.extend(getattr(item, f) for f in item.__dataclass_fields__ if f != "span")
    return found


class _Defined(NamedTuple):
    """A labelled statement as a reference sees it (see _Expander.define), or a block's tensor parameter."""

    node: int
    step: Step | None
    span: Span
    why: str | None
    param: bool = False


def _label_span(seq: A.Seq, label: str) -> Span | None:
    """Where a statement labelled `label` stands in `seq` or the sequences nested in it."""
    for stmt in seq.stmts:
        if stmt.label == label and not stmt.label_parts:
            return stmt.label_span or stmt.span
        for child in _child_seqs(stmt.item):
            found = _label_span(child, label)
            if found is not None:
                return found
    return None


def _bind_block_args(call: A.Call, block: A.BlockDef, env: dict[str, Value],
                     width: int | None) -> tuple[dict[str, Value], dict[str, A.Ref]]:
    """The values of a block use's arguments, and the references passed to its tensor parameters (`@low`)."""
    params = [p.name for p in block.params]
    signature = f"signature: {block.name}({', '.join(('@' if p.tensor else '') + p.name for p in block.params)})"
    given: dict[str, A.Expr] = {}
    positional = [a for a in call.args if a.name is None]
    if len(positional) > len(params):
        raise ArchError(Diagnostic(f"block '{block.name}' takes {len(params)} argument(s), got {len(positional)}",
                                   call.span, hint=signature, code="block-arity"))
    for name, arg in zip(params, positional):
        given[name] = arg.value
    for arg in call.args:
        if arg.name is None:
            continue
        if arg.name not in params:
            raise ArchError(Diagnostic(f"block '{block.name}' has no parameter '{arg.name}'", arg.span,
                                       hint=did_you_mean(arg.name, params, signature), code="unknown-parameter"))
        if arg.name in given:
            raise ArchError(Diagnostic(f"argument '{arg.name}' given twice", arg.span, code="duplicate-argument"))
        given[arg.name] = arg.value
    values: dict[str, Value] = {}
    refs: dict[str, A.Ref] = {}
    for param in block.params:
        expr = given.get(param.name)
        if param.tensor and expr is not None and not isinstance(expr, A.Ref):
            raise ArchError(Diagnostic(f"block '{block.name}' takes a tensor for '@{param.name}', not a value",
                                       expr.span, hint=f"pass an earlier statement's output, e.g. @label; {signature}",
                                       code="tensor-argument"))
        if not param.tensor and isinstance(expr, A.Ref):
            raise ArchError(Diagnostic(f"block '{block.name}' takes a value for '{param.name}', not the tensor "
                                       f"'@{expr.text}'", expr.span,
                                       hint=f"mark the parameter `@{param.name}` to pass it a tensor; {signature}",
                                       code="tensor-argument"))
        if isinstance(expr, A.Ref):
            refs[param.name] = expr
        elif expr is not None:
            values[param.name] = _argument(expr, env)
        elif param.default is not None:  # defaults may read the parameters before them, and the input's width
            values[param.name] = _argument(param.default,
                                           values if width is None else {**values, "in_channels": width})
        else:
            raise ArchError(Diagnostic(f"block '{block.name}' needs argument '{'@' * param.tensor}{param.name}'",
                                       call.span, hint=signature, code="missing-argument"))
    return values, refs
