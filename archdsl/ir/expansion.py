"""Expansion: blocks and repetitions unrolled into a graph IR (a dataflow graph of layers).

Each node is a `Layer` (a layer call, or a join: input, add, concat, shortcut, output) that
lists the layers it reads (`inputs`) and those that read it (`outputs`); `IR.to_networkx()`
gives the same graph as a networkx DiGraph for graph algorithms. Besides
the dataflow graph the IR keeps the module structure that code generation and drawing need:
every network or block instance is an `Instance` with its `Member`s (the attributes of the
emitted nn.Module, named here once so state_dict keys, drawings and code agree) and its
forward `Step`s. Shapes are filled in later by shapes.py.
"""

from __future__ import annotations

import keyword
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from archdsl import layers as L
from archdsl.errors import ArchError, Diagnostic, Note, Reporter, Span, did_you_mean
from archdsl.frontend import ast as A
from archdsl.frontend.ast import Program
from archdsl.frontend.expr import Value, evaluate, free_names
from archdsl.shapes.limits import DEFAULT, Budget

# Layers without parameters or buffers: unlabelled ones with equal options share one attribute.
STATELESS = {"maxpool", "avgpool", "gap", "relu", "tanh", "sigmoid", "softmax", "dropout", "lrn", "flatten"}
# Ops whose output autograd does not keep, so a following ReLU may overwrite it in place.
_INPLACE_SAFE = {"conv", "linear", "bn", "add", "concat", "maxpool"}
# Names an nn.Module attribute must not take.
_RESERVED = {
    "forward", "training", "parameters", "buffers", "children", "modules", "state_dict", "to", "cuda", "cpu",
    "eval", "train", "apply", "zero_grad", "type", "float", "double", "half", "register_buffer", "add_module",
    "named_parameters", "named_modules", "named_children", "named_buffers", "load_state_dict", "requires_grad_",
    "extra_repr", "get_submodule", "get_parameter", "register_module", "share_memory", "bfloat16", "dump_patches",
    "call_super_init", "in_channels", "self", "x", "torch", "nn", "Tensor", "super",
    "FROZEN",  # the emitted network's tuple of frozen parts
}
# Nested sequences (groups, branches, block bodies) deeper than this are refused: expansion and
# code generation recurse a few frames per level, and Python's stack is about 1,000 frames.
MAX_DEPTH = 100

# The IR's records compare by identity and print as one line each: their generated reprs
# followed every reference (7 kB for one Layer, 205 kB for one block instance of ResNet-18).
record = dataclass(eq=False, repr=False)


@record
class Layer:
    """One node of the dataflow graph: a layer call, or a join (input, add, concat, shortcut, output)."""

    id: int
    op: str
    attrs: dict[str, Any]
    exprs: dict[str, A.Expr]
    span: Span
    scope: int
    inputs: list[int]
    enabled: bool = True
    outputs: list[int] = field(default_factory=list)  # the layers reading this one, in the order they were added
    member: Member | None = None
    # filled in by shapes.py
    in_shape: tuple[int, ...] | None = None
    out_shape: tuple[int, ...] | None = None
    params: int = 0
    buffers: int = 0
    derived: dict[str, Any] = field(default_factory=dict)

    def __repr__(self) -> str:
        shape = f" -> {'x'.join(map(str, self.out_shape))}" if self.out_shape else ""
        return f"<Layer {self.id} {self.describe()}{' at ' + self.path if self.path else ''}{shape}>"

    @property
    def path(self) -> str:
        return self.member.path if self.member else ""

    @property
    def word(self) -> str:
        return self.attrs.get("word", self.op)

    def describe(self) -> str:
        """The layer in the language's own shorthand: `conv7-64/2`, `maxpool3/2`, `fc-1000`."""
        a = self.attrs
        if self.op == "conv":
            (kh, kw), (sh, _) = a["kernel"], a["stride"]
            text = f"conv{kh}" + (f"x{kw}" if kw != kh else "") + f"-{a['channels']}" + (f"/{sh}" if sh != 1 else "")
            return text + ("" if a["groups"] == 1 else f"(groups={a['groups']})")
        if self.op == "linear":
            return f"fc-{a['features']}"
        if self.op in ("maxpool", "avgpool"):
            if a.get("output"):
                return f"{self.op}(output={a['output'][0]})"
            k = a["kernel"][0] if isinstance(a["kernel"], tuple) else a["kernel"]
            s = a["stride"][0] if a["stride"] else k
            return f"{self.op}{k}" + (f"/{s}" if s != k else "")
        if self.op == "dropout":
            return f"dropout({a['p']:g})"
        if self.op == "shortcut":
            return f"shortcut({self.derived.get('decision', a['mode'])})"
        if self.op == "side_output":
            return f"side output {a['name']}"
        return self.op


@record
class Container:
    """The attributes of one emitted module: a class body, or an nn.Sequential."""

    kind: str  # "class" | "seq"
    scope: int
    owner: Member | None
    members: list[Member] = field(default_factory=list)

    def __repr__(self) -> str:
        return f"<Container {self.kind} {'.'.join(self.path) or '(network)'}: {len(self.members)} members>"

    @property
    def path(self) -> list[str]:
        return self.owner.path_parts if self.owner else []


@record
class Member:
    """One attribute of an emitted module: a layer, an nn.Sequential, a block instance, a shortcut."""

    kind: str  # "layer" | "seq" | "instance" | "shortcut"
    label: str | None
    word: str
    site: str
    span: Span
    container: Container
    default_name: str | None = None
    node: int | None = None
    instance: int | None = None
    children: Container | None = None
    shareable: bool = False  # an unlabelled stateless layer: may share an attribute with its equals
    name: str | None = None

    def __repr__(self) -> str:
        return f"<Member {self.path} ({self.kind} {self.word})>"

    @property
    def path_parts(self) -> list[str]:
        return self.container.path + [self.name or "?"]

    @property
    def path(self) -> str:
        return ".".join(self.path_parts)


@record
class Step:
    """One statement of a class's forward: apply a member, a residual add, a concat, a side output."""

    kind: str  # "apply" | "residual" | "concat" | "side"
    site: str
    span: Span
    in_node: int
    out_node: int
    member: Member | None = None
    cond: A.Expr | None = None
    body: list[Step] = field(default_factory=list)
    shortcut: Member | None = None
    shortcut_steps: list[Step] = field(default_factory=list)
    branches: list[Member] = field(default_factory=list)
    name: str | None = None

    def __repr__(self) -> str:
        return f"<Step {self.kind} {self.member.path if self.member else self.site}>"


@record
class Instance:
    """The network (id 0) or one use of a block: one nn.Module object in the emitted code."""

    id: int
    block: A.BlockDef | None
    args: dict[str, Value]
    container: Container
    parent: int | None
    member: Member | None
    call: A.Call | None
    steps: list[Step] = field(default_factory=list)
    in_node: int = -1
    out_node: int = -1
    members_by_site: dict[str, Member] = field(default_factory=dict)
    steps_by_site: dict[str, Step] = field(default_factory=dict)

    def __repr__(self) -> str:
        return f"<Instance {self.id}: block {self.block.name} at {self.path}>" if self.block else \
            f"<Instance {self.id}: the network>"

    @property
    def path(self) -> str:
        return self.member.path if self.member else ""


@record
class IR:
    """One network unrolled: its layers (the graph), its module structure (instances), and its settings."""

    program: Program
    network: A.Network
    params: dict[str, Value]
    structural: set[str]
    input_shape: tuple[int, int, int]
    layers: list[Layer]
    instances: list[Instance]
    input: int = -1
    warnings: list[Diagnostic] = field(default_factory=list)  # lint.py: legal but suspicious
    output: int = -1
    sides: dict[str, int] = field(default_factory=dict)
    conditionals: list[tuple[int, int, Span]] = field(default_factory=list)
    folded: bool = False  # batch norms folded for inference (folding.fold_batchnorm, compile --fuse)
    channels_last: bool = False  # weights and input in NHWC memory order (compile --channels-last)
    frozen: list[str] = field(default_factory=list)  # top-level attributes frozen for fine-tuning (freeze.py)

    def __repr__(self) -> str:
        c, h, w = self.input_shape
        return f"<IR of network {self.network.name} in {self.file}: {len(self.layers)} layers, input {c}x{h}x{w}>"

    @property
    def file(self) -> str:
        return self.network.span.file

    def to_networkx(self):
        """The dataflow graph as a `networkx.DiGraph`: nodes are layer ids with the `Layer` as `layer`."""
        import networkx as nx  # only here: the compiler itself walks `inputs`/`outputs`, and importing networkx
        # would add 0.15 s to every command's start-up

        graph = nx.DiGraph()
        graph.add_nodes_from((layer.id, {"layer": layer}) for layer in self.layers)
        graph.add_edges_from((i, layer.id) for layer in self.layers for i in layer.inputs)
        return graph

    def enabled_layers(self) -> list[Layer]:
        return [layer for layer in self.layers if layer.enabled]

    def blocks_used(self) -> list[A.BlockDef]:
        """Block definitions in the order their classes must be emitted (dependencies first)."""
        order: list[A.BlockDef] = []
        seen: set[str] = set()
        children: dict[int, list[Instance]] = {}  # one pass: searching all instances per instance is quadratic
        for inst in self.instances[1:]:
            children.setdefault(inst.parent, []).append(inst)

        def visit(inst: Instance) -> None:
            for child in children.get(inst.id, []):
                visit(child)
                if child.block and child.block.name not in seen:
                    seen.add(child.block.name)
                    order.append(child.block)

        visit(self.instances[0])
        return order

    def instances_of(self, block: A.BlockDef) -> list[Instance]:
        return [i for i in self.instances if i.block is block]


class _Ctx(NamedTuple):
    """Where expansion stands: the instance and container being filled, the names in scope, the block stack."""

    scope: Instance
    container: Container
    steps: list[Step] | None  # None inside an nn.Sequential: no residuals, branches or conditions there
    env: dict[str, Value]
    enabled: bool
    stack: tuple[str, ...]


def expand(program: Program, overrides: dict[str, A.Expr] | None = None,
           input_shape: tuple[int, int, int] | None = None, budget: Budget = DEFAULT) -> IR:
    """Unroll the program's network into the graph IR; raises ArchError with every error found."""
    reporter = Reporter(program.sources)
    net = _pick_network(program)
    params = _network_params(net, overrides or {}, reporter)
    input_shape = input_shape or (net.input.channels, net.input.height, net.input.width)
    if min(input_shape) < 1:
        reporter.error(f"input shape {'x'.join(map(str, input_shape))} has a zero dimension", net.input.span,
                       code="zero-input")
    _check_block_params(program, reporter)
    reporter.raise_if_errors()
    structural = _structural_params(net)
    return _Expander(program, net, params, structural, input_shape, reporter, budget).run()


def _check_block_params(program: Program, reporter: Reporter) -> None:
    """Block parameters become Python arguments of the block's __init__: same rules as labels."""
    for block in program.blocks.values():
        seen: set[str] = set()
        for param in block.params:
            _check_identifier(param.name, param.span, reporter, "parameter")
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


def _network_params(net: A.Network, overrides: dict[str, A.Expr], reporter: Reporter):
    names = {p.name for p in net.params}
    for name, expr in overrides.items():
        if name not in names:
            hint = did_you_mean(name, sorted(names), f"parameters of '{net.name}': {', '.join(sorted(names)) or 'none'}")
            reporter.error(f"network '{net.name}' has no parameter '{name}'", expr.span, hint=hint,
                           code="unknown-parameter")
    env: dict[str, Value] = {}
    for param in net.params:
        _check_identifier(param.name, param.span, reporter, "parameter")
        if param.name in env:
            reporter.error(f"network '{net.name}' has two parameters named '{param.name}'", param.span,
                           code="duplicate-parameter")
        expr = overrides.get(param.name, param.default)
        if expr is None:
            reporter.error(f"parameter '{param.name}' has no default value", param.span,
                           hint=f"give it one (`{param.name} = ...`) or pass --set {param.name}=...",
                           code="missing-default")
            continue
        try:
            env[param.name] = evaluate(expr, env)
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
    if isinstance(item, A.Group | A.Side):
        return [item.body]
    if isinstance(item, A.Residual):
        return [item.body] + ([item.shortcut] if item.shortcut else [])
    if isinstance(item, A.Inception):
        return list(item.branches)
    return []


def _check_identifier(name: str, span: Span, reporter: Reporter, what: str) -> bool:
    if keyword.iskeyword(name) or keyword.issoftkeyword(name) or name in _RESERVED or name.startswith("_"):
        reporter.error(f"'{name}' cannot be used as a {what} name: it is reserved in the generated Python",
                       span, hint=f"rename it, e.g. '{name.strip('_')}_'" if name.strip("_") else "rename it",
                       code="reserved-name")
        return False
    return True


class _Expander:
    def __init__(self, program, net, params, structural, input_shape, reporter: Reporter, budget: Budget):
        self.program, self.net, self.reporter, self.budget = program, net, reporter, budget
        self.depth = 0
        self.exhausted = False  # the layer budget ran out: stop, rather than report it at every later layer
        self.ir = IR(program, net, params, structural, input_shape, [], [])

    # -- nodes -----------------------------------------------------------------------------
    def node(self, op: str, span: Span, ctx: _Ctx, inputs: list[int], attrs=None, exprs=None) -> Layer:
        if len(self.ir.layers) >= self.budget.max_layers:
            self.exhausted = True
            raise ArchError(Diagnostic(f"the network expands to more than {self.budget.max_layers:,} layers", span,
                                       hint="reduce the repetition counts, or raise the budget "
                                            "(--budget max_layers=...)", code="budget-layers"), self.program.sources)
        layer = Layer(len(self.ir.layers), op, attrs or {}, exprs or {}, span, ctx.scope.id, inputs, ctx.enabled)
        self.ir.layers.append(layer)
        for i in inputs:
            self.ir.layers[i].outputs.append(layer.id)
        return layer

    def member(self, ctx: _Ctx, kind: str, label: str | None, word: str, site: str, span: Span, **kw) -> Member:
        m = Member(kind, label, word, site, span, ctx.container, **kw)
        ctx.container.members.append(m)
        ctx.scope.members_by_site[site] = m
        return m

    # -- driver ----------------------------------------------------------------------------
    def run(self) -> IR:
        root = Container("class", 0, None)
        net_inst = Instance(0, None, dict(self.ir.params), root, None, None, None)
        self.ir.instances.append(net_inst)
        ctx = _Ctx(net_inst, root, net_inst.steps, dict(self.ir.params), True, ())
        inp = self.node("input", self.net.input.span, ctx, [], {"shape": self.ir.input_shape})
        self.ir.input = net_inst.in_node = inp.id
        try:
            out = self.seq(self.net.body, inp.id, ctx, "")
        except ArchError as exc:
            self.reporter.diagnostics += exc.diagnostics
            out = None
        self.reporter.raise_if_errors()
        net_inst.out_node = out
        self.ir.output = self.node("output", self.net.span, ctx, [out]).id
        self._decide_inplace()
        for inst in self.ir.instances:
            self._name_container(inst.container)
        self.reporter.raise_if_errors()
        return self.ir

    def _decide_inplace(self) -> None:
        for layer in self.ir.layers:
            if layer.op == "relu":
                src = self.ir.layers[layer.inputs[0]]
                layer.attrs["inplace"] = src.op in _INPLACE_SAFE and len(src.outputs) == 1

    # -- sequences and statements ------------------------------------------------------------
    def seq(self, seq: A.Seq, x: int, ctx: _Ctx, site: str) -> int:
        if self.depth >= MAX_DEPTH:
            raise ArchError(Diagnostic(f"blocks and groups nest deeper than {MAX_DEPTH} levels", seq.span,
                                       hint="flatten the nesting; a chain of blocks each using the next counts "
                                            "every level", code="nesting-too-deep"))
        self.depth += 1
        try:
            for i, stmt in enumerate(seq.stmts):
                try:
                    x = self.stmt(stmt, x, ctx, f"{site}/{i}")
                except ArchError as exc:
                    if self.exhausted:
                        raise
                    # Keep going: later statements may hold independent errors worth reporting now.
                    self.reporter.diagnostics += exc.diagnostics
        finally:
            self.depth -= 1
        return x

    def stmt(self, stmt: A.Stmt, x: int, ctx: _Ctx, site: str) -> int:
        count = self._repeat_count(stmt, ctx)
        start = len(ctx.steps) if ctx.steps is not None else 0
        inner = ctx
        if stmt.cond is not None:
            if ctx.steps is None:
                raise ArchError(Diagnostic("`if` is allowed only on statements of a block or network body",
                                           stmt.cond.span, hint="move the condition onto the enclosing labelled group",
                                           code="misplaced-if"))
            value = evaluate(stmt.cond, ctx.env)
            if not isinstance(value, bool):
                raise ArchError(Diagnostic(f"condition must be true or false, got {value!r}", stmt.cond.span,
                                           code="bad-condition-value"))
            inner = ctx._replace(enabled=ctx.enabled and value)
        first_member = len(ctx.container.members)
        y = self.labelled(stmt, x, inner, site, count) if stmt.label else self.unlabelled(stmt, x, inner, site, count)
        if stmt.cond is None:
            return y
        for m in ctx.container.members[first_member:]:
            m.shareable = False  # it exists only when the condition holds: `tanh if c; tanh` needs two
        for step in ctx.steps[start:]:
            step.cond = stmt.cond
        if not isinstance(stmt.item, A.Side):
            self.ir.conditionals.append((x, y, stmt.span))
        return y if inner.enabled else x

    def _repeat_count(self, stmt: A.Stmt, ctx: _Ctx) -> int:
        if stmt.repeat is None:
            return 1
        block = ctx.scope.block
        if block is not None:
            bound = free_names(stmt.repeat) & {p.name for p in block.params}
            if bound:
                raise ArchError(Diagnostic(
                    f"repetition count depends on parameter '{min(bound)}' of block '{block.name}'",
                    stmt.repeat.span, hint="a block's layers must not depend on its arguments: repeat the block "
                                           "at the call site instead (`blk(64) x 3`)",
                    code="repeat-depends-on-argument"))
        count = evaluate(stmt.repeat, ctx.env)
        if not isinstance(count, int) or isinstance(count, bool) or count < 1:
            raise ArchError(Diagnostic(f"repetition count must be a positive integer, got {count!r}", stmt.repeat.span,
                                       code="bad-repeat"))
        if count > self.budget.max_repeat:
            raise ArchError(Diagnostic(f"repetition count {count:,} exceeds the limit of {self.budget.max_repeat:,}",
                                       stmt.repeat.span, hint="raise the budget if you mean it "
                                                              "(--budget max_repeat=...)", code="budget-repeat"))
        return count

    def unlabelled(self, stmt: A.Stmt, x: int, ctx: _Ctx, site: str, count: int) -> int:
        if isinstance(stmt.item, A.Side):
            raise ArchError(Diagnostic("side<...> needs a label: the name of the extra output", stmt.item.span,
                                       hint="write e.g. `aux1: side<...>`", code="side-needs-label"))
        before = self._made(ctx)
        for r in range(count):
            x = self.item(stmt.item, x, ctx, site if count == 1 else f"{site}*{r}")
            if r == 0 and not self._foresee(before, count, stmt, ctx):
                break
        return x

    def _made(self, ctx: _Ctx) -> tuple[int, int, int]:
        """What expansion has made so far: layers and block instances, members of this container, errors."""
        return len(self.ir.layers) + len(self.ir.instances), len(ctx.container.members), len(self.reporter.diagnostics)

    def _foresee(self, before: tuple[int, int, int], count: int, stmt: A.Stmt, ctx: _Ctx) -> bool:
        """After one repetition: refuse now if all `count` of them would exceed the layer budget.

        False when the other repetitions must not run: the first made nothing (`() x 3`; else
        `((() x 3) x 3) ...` fifty deep loops 3^50 times without making a layer), or it found
        errors, which the others would only repeat.
        """
        made = self._made(ctx)
        if made[:2] == before[:2] or made[2] > before[2]:
            return False
        total = before[0] + count * (made[0] - before[0])
        if total > self.budget.max_layers:
            self.exhausted = True
            raise ArchError(Diagnostic(f"the network expands to more than {self.budget.max_layers:,} layers "
                                       f"(this repetition alone makes {total - before[0]:,})", stmt.span,
                                       hint="reduce the repetition counts, or raise the budget "
                                            "(--budget max_layers=...)", code="budget-layers"), self.program.sources)
        return True

    def labelled(self, stmt: A.Stmt, x: int, ctx: _Ctx, site: str, count: int, default_name: str | None = None) -> int:
        item, label = stmt.item, stmt.label
        label_span = stmt.label_span or stmt.span
        if label is not None:
            _check_identifier(label, label_span, self.reporter, "label")
        if isinstance(item, A.Side):
            return self.side(stmt, x, ctx, site)
        if isinstance(item, A.Residual | A.Inception):
            word = "residual" if isinstance(item, A.Residual) else "inception"
            raise ArchError(Diagnostic(f"a {word}<...> cannot be labelled directly", label_span,
                                       hint=f"define a block holding the {word} and label the block's use",
                                       code="label-on-container"))
        if count == 1 and isinstance(item, A.Call):
            return self.call(item, x, ctx, site, label, default_name)
        # A labelled group or repetition is an nn.Sequential of its items.
        m = self.member(ctx, "seq", label, "seq", site, stmt.span, default_name=default_name)
        m.children = Container("seq", ctx.scope.id, m)
        inner = ctx._replace(container=m.children, steps=None)
        y = x
        before = self._made(inner)
        for r in range(count):
            rsite = site if count == 1 else f"{site}*{r}"
            y = self.seq(item.body, y, inner, rsite) if isinstance(item, A.Group) else self.item(item, y, inner, rsite)
            if r == 0 and not self._foresee(before, count, stmt, inner):
                break
        self._apply(ctx, m, site, stmt.span, x, y)
        return y

    def _apply(self, ctx: _Ctx, m: Member, site: str, span: Span, x: int, y: int) -> None:
        if ctx.steps is not None:
            self._step(ctx, Step("apply", site, span, x, y, member=m))

    def _step(self, ctx: _Ctx, step: Step) -> None:
        ctx.steps.append(step)
        ctx.scope.steps_by_site[step.site] = step

    def item(self, item: A.Item, x: int, ctx: _Ctx, site: str) -> int:
        if isinstance(item, A.Call):
            return self.call(item, x, ctx, site, None)
        if isinstance(item, A.Group):
            return self.seq(item.body, x, ctx, site)
        if ctx.steps is None:
            word = type(item).__name__.lower()
            raise ArchError(Diagnostic(f"{word}<...> cannot stand inside a labelled ( ) group, which becomes an "
                                       "nn.Sequential", item.span,
                                       hint=f"define a block holding the {word} and use the block in the group",
                                       code="container-in-group"))
        if isinstance(item, A.Residual):
            return self.residual(item, x, ctx, site)
        if isinstance(item, A.Inception):
            return self.inception(item, x, ctx, site)
        raise ArchError(Diagnostic("side<...> needs a label: the name of the extra output", item.span,
                                   hint="write e.g. `aux1: side<...>`", code="side-needs-label"))

    # -- layers and blocks -------------------------------------------------------------------
    def call(self, call: A.Call, x: int, ctx: _Ctx, site: str, label: str | None, default_name: str | None = None) -> int:
        if call.name in self.program.blocks:
            return self.instance(call, x, ctx, site, label, default_name)
        found = L.lookup(call.name)
        if found is None:
            close = L.suggest(call.name, list(self.program.blocks))
            hint = f"did you mean '{close}'?" if close else "see docs/language.md for the layer words"
            raise ArchError(Diagnostic(f"unknown layer or block '{call.name}'", call.span, hint=hint,
                                       code="unknown-word"))
        spec, kernel = found
        bound = L.bind(call, spec, kernel, ctx.env)
        attrs = dict(bound.attrs, word=_naming_word(spec.op, bound.attrs))
        layer = self.node(spec.op, call.span, ctx, [x], attrs, bound.exprs)
        m = self.member(ctx, "layer", label, attrs["word"], site, call.span, node=layer.id,
                        shareable=label is None and spec.op in STATELESS, default_name=default_name)
        layer.member = m
        self._apply(ctx, m, site, call.span, x, layer.id)
        return layer.id

    def instance(self, call: A.Call, x: int, ctx: _Ctx, site: str, label: str | None, default_name: str | None) -> int:
        block = self.program.blocks[call.name]
        if call.name in ctx.stack:
            chain = " -> ".join(ctx.stack[ctx.stack.index(call.name):] + (call.name,))
            raise ArchError(Diagnostic(f"recursive block definition: {chain}", call.span,
                                       notes=[Note(f"block '{call.name}' is defined here", block.span)],
                                       code="recursive-block"))
        if call.dashes or call.slash is not None:
            raise ArchError(Diagnostic(f"block '{call.name}' takes arguments in parentheses, not '-' or '/'",
                                       call.span, hint=f"write {call.name}(...)", code="block-arguments"))
        args = _bind_block_args(call, block, ctx.env)
        inst_id = len(self.ir.instances)
        m = self.member(ctx, "instance", label, call.name, site, call.span, instance=inst_id, default_name=default_name)
        container = Container("class", inst_id, m)
        inst = Instance(inst_id, block, args, container, ctx.scope.id, m, call, in_node=x)
        self.ir.instances.append(inst)
        inner = _Ctx(inst, container, inst.steps, dict(args), ctx.enabled, ctx.stack + (call.name,))
        start = len(self.reporter.diagnostics)
        inst.out_node = self.seq(block.body, x, inner, "")
        if len(self.reporter.diagnostics) > start:
            # Report a block's errors once, not once per use.
            seen = {(d.message, d.span) for d in self.reporter.diagnostics[:start]}
            self.reporter.diagnostics[start:] = [d for d in self.reporter.diagnostics[start:]
                                                 if (d.message, d.span) not in seen]
        if not block.body.stmts:
            raise ArchError(Diagnostic(f"block '{block.name}' is empty", block.span, code="empty-block"))
        self._apply(ctx, m, site, call.span, x, inst.out_node)
        return inst.out_node

    # -- combinators ---------------------------------------------------------------------------
    def residual(self, item: A.Residual, x: int, ctx: _Ctx, site: str) -> int:
        mode = "projection"
        for arg in item.args:
            if arg.name != "shortcut" or not isinstance(arg.value, A.Name) or arg.value.id not in SHORTCUT_MODES:
                raise ArchError(Diagnostic("residual takes one option, shortcut=" + "|".join(SHORTCUT_MODES),
                                           arg.span, code="bad-residual-option"))
            mode = arg.value.id
        step = Step("residual", site, item.span, x, -1)
        body_ctx = ctx._replace(steps=step.body)
        body_out = self.seq(item.body, x, body_ctx, f"{site}/body")
        if item.shortcut is not None:
            sc_ctx = ctx._replace(steps=step.shortcut_steps)
            stmts = item.shortcut.stmts
            if len(stmts) == 1 and stmts[0].cond is None:
                sc_out = self.labelled(stmts[0], x, sc_ctx, f"{site}/sc", self._repeat_count(stmts[0], ctx),
                                       default_name="downsample")
            else:
                sc_out = self.labelled(A.Stmt(span=item.shortcut.span, item=A.Group(span=item.shortcut.span,
                                       body=item.shortcut)), x, sc_ctx, f"{site}/sc", 1, default_name="downsample")
            step.shortcut = step.shortcut_steps[-1].member if step.shortcut_steps else None
        else:
            sc = self.node("shortcut", item.span, ctx, [x], {"mode": mode, "target": body_out})
            step.shortcut = self.member(ctx, "shortcut", None, "downsample", f"{site}/sc", item.span,
                                        node=sc.id, default_name="downsample")
            sc.member = step.shortcut
            sc_out = sc.id
        add = self.node("add", item.span, ctx, [body_out, sc_out])
        step.out_node = add.id
        self._step(ctx, step)
        return add.id

    def inception(self, item: A.Inception, x: int, ctx: _Ctx, site: str) -> int:
        step = Step("concat", site, item.span, x, -1)
        outs = []
        for i, branch in enumerate(item.branches, start=1):
            bsteps: list[Step] = []
            bctx = ctx._replace(steps=bsteps)
            bsite = f"{site}/b{i}"
            stmts = branch.stmts
            if any(s.cond is not None for s in stmts):
                raise ArchError(Diagnostic("inception branches cannot be conditional", branch.span,
                                           code="conditional-branch"))
            if len(stmts) == 1:
                outs.append(self.labelled(stmts[0], x, bctx, bsite, self._repeat_count(stmts[0], ctx),
                                          default_name=f"branch{i}"))
            else:
                group = A.Stmt(span=branch.span, item=A.Group(span=branch.span, body=branch))
                outs.append(self.labelled(group, x, bctx, bsite, 1, default_name=f"branch{i}"))
            step.branches.append(bsteps[-1].member)
        cat = self.node("concat", item.span, ctx, outs)
        step.out_node = cat.id
        self._step(ctx, step)
        return cat.id

    def side(self, stmt: A.Stmt, x: int, ctx: _Ctx, site: str) -> int:
        item = stmt.item
        if ctx.scope.id != 0 or ctx.steps is None:
            raise ArchError(Diagnostic("side outputs belong in the network body", item.span,
                                       hint="move the side<...> from the block into the network",
                                       code="misplaced-side"))
        if stmt.label in self.ir.sides:
            raise ArchError(Diagnostic(f"side output '{stmt.label}' defined twice", stmt.label_span,
                                       code="duplicate-side"))
        if stmt.label == "out":
            raise ArchError(Diagnostic("'out' names the main output; a side output needs another name",
                                       stmt.label_span, hint="e.g. aux1: side<...>", code="side-named-out"))
        bsteps: list[Step] = []
        bctx = ctx._replace(steps=bsteps)
        body = item.body.stmts
        if len(body) == 1 and body[0].cond is None and body[0].label is None:
            one = A.Stmt(span=body[0].span, label=stmt.label, label_span=stmt.label_span, item=body[0].item,
                         repeat=body[0].repeat)
            y = self.labelled(one, x, bctx, f"{site}/side", self._repeat_count(one, ctx))
        else:
            group = A.Stmt(span=item.span, label=stmt.label, label_span=stmt.label_span,
                           item=A.Group(span=item.span, body=item.body))
            y = self.labelled(group, x, bctx, f"{site}/side", 1)
        out = self.node("side_output", item.span, bctx, [y], {"name": stmt.label})
        if ctx.enabled:
            self.ir.sides[stmt.label] = out.id
        self._step(ctx, Step("side", site, item.span, x, y, member=bsteps[-1].member, name=stmt.label))
        return x

    # -- naming ------------------------------------------------------------------------------
    def _name_container(self, container: Container) -> None:
        if container.kind == "seq":
            self._name_sequential(container)
        else:
            self._name_class(container)
        for m in container.members:
            if m.children is not None:
                self._name_container(m.children)

    def _name_sequential(self, container: Container) -> None:
        seen: dict[str, Member] = {}
        for index, m in enumerate(container.members):
            m.name = m.label or str(index)
            if m.label:
                self._claim(seen, m)

    def _claim(self, seen: dict[str, Member], m: Member) -> None:
        if m.label in seen:
            self.reporter.error(f"duplicate label '{m.label}'", m.span,
                                notes=[Note("first used here", seen[m.label].span)],
                                hint="labels name the module's attributes and must be unique within a block",
                                code="duplicate-label")
        seen[m.label] = m

    def _name_class(self, container: Container) -> None:
        taken: dict[str, Member] = {}
        for m in container.members:
            if m.label:
                self._claim(taken, m)
                m.name = m.label
        for m in container.members:
            if m.name is None and m.default_name:
                m.name = _fresh(m.default_name, taken)
                taken[m.name] = m
        shared: dict[str, list[tuple]] = {}
        share_key: dict[int, tuple] = {}
        for m in container.members:
            if m.name is None and m.shareable:
                layer = self.ir.layers[m.node]  # keyed after the in-place decision: ReLU() != ReLU(inplace=True)
                share_key[id(m)] = key = (layer.op, tuple(sorted((k, str(v)) for k, v in layer.attrs.items())))
                keys = shared.setdefault(m.word, [])
                if key not in keys:
                    keys.append(key)
        share_names: dict[tuple, str] = {}
        for word, keys in shared.items():
            for i, key in enumerate(keys, start=1):
                share_names[key] = _fresh(word if len(keys) == 1 else f"{word}{i}", taken)
                taken[share_names[key]] = container  # type: ignore[assignment]
        counters: dict[str, int] = {}
        for m in container.members:
            if m.name is None and m.shareable:
                m.name = share_names[share_key[id(m)]]
            elif m.name is None:
                n = counters.get(m.word, 0) + 1
                while f"{m.word}{n}" in taken:
                    n += 1
                counters[m.word] = n
                m.name = f"{m.word}{n}"
                taken[m.name] = m


SHORTCUT_MODES = ("projection", "pad", "project_all")


def _fresh(base: str, taken: dict) -> str:
    if base not in taken:
        return base
    n = 2
    while f"{base}{n}" in taken:
        n += 1
    return f"{base}{n}"


def _naming_word(op: str, attrs: dict) -> str:
    if op == "linear":
        return "fc"
    if op == "gap" or (op == "avgpool" and attrs.get("output")):
        return "avgpool"
    return op


def _bind_block_args(call: A.Call, block: A.BlockDef, env: dict[str, Value]) -> dict[str, Value]:
    params = [p.name for p in block.params]
    given: dict[str, A.Expr] = {}
    positional = [a for a in call.args if a.name is None]
    if len(positional) > len(params):
        raise ArchError(Diagnostic(f"block '{block.name}' takes {len(params)} argument(s), got {len(positional)}",
                                   call.span, hint=f"signature: {block.name}({', '.join(params)})", code="block-arity"))
    for name, arg in zip(params, positional):
        given[name] = arg.value
    for arg in call.args:
        if arg.name is None:
            continue
        if arg.name not in params:
            raise ArchError(Diagnostic(f"block '{block.name}' has no parameter '{arg.name}'", arg.span,
                                       hint=did_you_mean(arg.name, params, f"signature: {block.name}({', '.join(params)})"),
                                       code="unknown-parameter"))
        if arg.name in given:
            raise ArchError(Diagnostic(f"argument '{arg.name}' given twice", arg.span, code="duplicate-argument"))
        given[arg.name] = arg.value
    values: dict[str, Value] = {}
    for param in block.params:
        if param.name in given:
            values[param.name] = evaluate(given[param.name], env)
        elif param.default is not None:
            values[param.name] = evaluate(param.default, values)
        else:
            raise ArchError(Diagnostic(f"block '{block.name}' needs argument '{param.name}'", call.span,
                                       hint=f"signature: {block.name}({', '.join(params)})", code="missing-argument"))
    return values
