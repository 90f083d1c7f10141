"""The graph IR's records: a dataflow graph of layers, and the module structure around it.

Each node is a `Layer` (a layer call, or a `Join`: input, add, concat, shortcut, output) that
lists the layers it reads (`inputs`) and those that read it (`outputs`); `IR.to_networkx()`
gives the same graph as a networkx DiGraph for graph algorithms. Besides
the dataflow graph the IR keeps the module structure that code generation and drawing need:
every network or block instance is an `Instance` with its `Member`s (the attributes of the
emitted nn.Module, named once by naming.py so state_dict keys, drawings and code agree) and its
forward `Step`s. expansion.py builds them; shapes are filled in later by archdsl/shapes.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum
from typing import TYPE_CHECKING, Any, NamedTuple, TypeVar

from archdsl.errors import Diagnostic, InternalError, Span
from archdsl.frontend import ast as A
from archdsl.frontend.ast import Program
from archdsl.frontend.expr import Value
from archdsl.ir.derived import Derived
from archdsl.ir.init import Inits
from archdsl.layers import OPS

if TYPE_CHECKING:
    import networkx


class _Word(str, Enum):
    """A kind that compares, hashes, prints and serialises as the word it replaced, so JSON and CLI
    output, and code that still compares with the word, are unchanged."""

    def __str__(self) -> str:
        return str.__str__(self)

    def __format__(self, spec: str) -> str:
        return str.__format__(self, spec)


class Join(_Word):
    """Graph nodes that are not layer calls: where data enters, meets or leaves. Layer nodes carry
    their layer word's op instead (archdsl/layers.py)."""

    INPUT = "input"
    OUTPUT = "output"
    ADD = "add"  # a residual's sum
    CONCAT = "concat"  # an inception's branches joined
    SHORTCUT = "shortcut"  # a residual's identity or parameter-free shortcut
    SIDE_OUTPUT = "side_output"
    NAMED_OUTPUT = "named_output"  # `out: output<...>`: one entry of the returned dict
    MUL = "mul"  # a gate's elementwise product
    CHUNK = "chunk"  # one of a split's equal parts of the channels (a view)


class ContainerKind(_Word):
    CLASS = "class"  # a block's or the network's class body
    SEQ = "seq"  # an nn.Sequential


class MemberKind(_Word):
    LAYER = "layer"
    SEQ = "seq"  # a labelled group or repetition: an nn.Sequential
    INSTANCE = "instance"  # a block use
    SHORTCUT = "shortcut"  # a residual's parameter-free shortcut (a Join.SHORTCUT node)


class StepKind(_Word):
    APPLY = "apply"  # call a member
    RESIDUAL = "residual"
    CONCAT = "concat"
    SIDE = "side"  # a side output's head
    OUTPUT = "output"  # a named output: its body, written inline, stored under its name
    GATE = "gate"  # an elementwise product: x * body(x), or a(x) * b(x)
    SPLIT = "split"  # channels cut into parts, a branch per part, concatenated
    REF = "ref"  # `@name`: the output of an earlier labelled statement read in place of the current tensor


class ModulePath(tuple[str, ...]):
    """An attribute path in the emitted module, `("layer1", "0", "conv1")`; str() gives the dotted
    `layer1.0.conv1` of state_dict keys and get_submodule. () is the network itself."""

    __slots__ = ()

    def __str__(self) -> str:
        return ".".join(self)

    def __repr__(self) -> str:
        return f"ModulePath({str(self)!r})"

    def child(self, name: str) -> ModulePath:
        return ModulePath((*self, name))


class SiteKind(_Word):
    STMT = "/"  # statement `number` of a body (from 0)
    REPEAT = "*"  # repetition `number` of that statement (`x N`, from 0)
    BODY = "/body"  # a residual's body
    SHORTCUT = "/sc"  # a residual's shortcut
    BRANCH = "/b"  # an inception's branch `number` (from 1)
    SIDE = "/side"  # a side output's head
    OUTPUT = "/out"  # a named output's body
    DROP = "/drop"  # a residual's stochastic depth, after its body
    FACTOR = "/f"  # a gate's path `number` (from 1)


class SitePart(NamedTuple):
    kind: SiteKind
    number: int = 0


class Site(tuple[SitePart, ...]):
    """Where a statement stands in its block (or network) body: the same in every use of the block,
    so it finds a step or member's counterpart in another instance, and says which repetition of
    which `x N` a drawing is looking at. str() gives the compact `/0*1/body/2`."""

    __slots__ = ()

    def __str__(self) -> str:
        return "".join(f"{p.kind}{p.number}" if p.kind in _INDEXED else str(p.kind) for p in self)

    def __repr__(self) -> str:
        return f"Site({str(self)!r})"

    def then(self, kind: SiteKind, number: int = 0) -> Site:
        return Site((*self, SitePart(kind, number)))


_INDEXED = frozenset({SiteKind.STMT, SiteKind.REPEAT, SiteKind.BRANCH, SiteKind.FACTOR})

_T = TypeVar("_T")


def known(value: _T | None, owner: object, field: str) -> _T:
    """An optional field of `owner` that the caller knows is set: a layer's shapes once inference has
    passed, the member of a layer that a statement applies. None there is a bug in archdsl."""
    if value is None:
        raise InternalError(f"{owner!r} has no {field}")
    return value


@dataclass(eq=False, repr=False)
class Layer:
    """One node of the dataflow graph: a layer call, or a join (input, add, concat, shortcut, output)."""

    id: int
    op: str  # a layer op of archdsl/layers.py, or a Join
    attrs: dict[str, Any]
    exprs: dict[str, A.Expr]
    span: Span
    scope: int
    inputs: list[int]
    enabled: bool = True
    outputs: list[int] = field(default_factory=list)  # the layers reading this one, in the order they were added
    member: Member | None = None
    # The block parameter whose layer word this layer is (`act` in `conv_norm_act(c, act = relu)`): code
    # generation writes the constructor as a call of that parameter, `act()`.
    argument: str | None = None
    # filled in by shapes.py
    in_shape: tuple[int, ...] | None = None
    out_shape: tuple[int, ...] | None = None
    nhwc: bool = False  # the output is channels last, (H, W, C), as after permute(0, 2, 3, 1)
    # Switched off in this use and too small for its input there (or after such a layer): its shapes come
    # from an input enlarged to fit, so channels, features and options are right, heights and widths not.
    unsized: bool = False
    params: int = 0
    buffers: int = 0
    derived: Derived = field(default_factory=Derived)

    def __repr__(self) -> str:
        shape = f" -> {'x'.join(map(str, self.out_shape))}" if self.out_shape else ""
        return f"<Layer {self.id} {self.describe()}{f' at {self.path}' if self.path else ''}{shape}>"

    @property
    def path(self) -> ModulePath:
        return self.member.path if self.member else ModulePath()

    @property
    def word(self) -> str:
        return self.attrs.get("word", self.op)

    def describe(self) -> str:
        """The layer in the language's own shorthand: `conv7-64/2`, `maxpool3/2`, `fc-1000`."""
        return OPS[self.op].describe(self)


@dataclass(eq=False, repr=False)
class Container:
    """The attributes of one emitted module: a class body, or an nn.Sequential."""

    kind: ContainerKind
    scope: int
    owner: Member | None
    members: list[Member] = field(default_factory=list)
    # An nn.Sequential's: each member applied in turn, written out member by member when a reference reads
    # one of them (`@backbone.layer3`; see Step.unrolled).
    steps: list[Step] = field(default_factory=list)

    def __repr__(self) -> str:
        return f"<Container {self.kind} {self.path or '(network)'}: {len(self.members)} members>"

    @property
    def path(self) -> ModulePath:
        return self.owner.path if self.owner else ModulePath()


@dataclass(eq=False, repr=False)
class Member:
    """One attribute of an emitted module: a layer, an nn.Sequential, a block instance, a shortcut."""

    kind: MemberKind
    label: str | None
    word: str
    site: Site
    span: Span
    container: Container
    default_name: str | None = None
    node: int | None = None  # the layer, for LAYER and SHORTCUT
    instance: int | None = None  # for INSTANCE
    children: Container | None = None  # for SEQ
    shareable: bool = False  # an unlabelled stateless layer: may share an attribute with its equals
    index: int | None = None  # made inside `x N`: the `i` its expressions see (that repetition's number)
    name: str | None = None  # set by naming.py
    _path: ModulePath | None = field(default=None, init=False)  # see path

    def __repr__(self) -> str:
        return f"<Member {self.path} ({self.kind} {self.word})>"

    @property
    def path(self) -> ModulePath:
        # Kept once this member and every one above it are named (naming.py names each member once, after
        # expansion): the summary asks every layer's path, and walking up the tree each time was a third of
        # its time for deep networks.
        if self._path is not None:
            return self._path
        path = self.container.path.child(self.name or "?")
        owner = self.container.owner
        if self.name is not None and (owner is None or owner._path is not None):
            self._path = path
        return path


@dataclass(eq=False, repr=False)
class Step:
    """One statement of a class's forward: apply a member, a residual add, a concat, a side output, a gate."""

    kind: StepKind
    site: Site
    span: Span
    in_node: int
    out_node: int
    member: Member | None = None  # for APPLY and SIDE
    cond: A.Expr | None = None
    index: int | None = None  # made inside `x N`: the `i` its expressions see
    cond_index: int | None = None  # the `i` its condition sees (the statement's own scope, outside its `x N`)
    body: list[Step] = field(default_factory=list)
    shortcut: Member | None = None
    shortcut_steps: list[Step] = field(default_factory=list)
    # CONCAT: per branch, the member it applies (None for an identity branch, which reads the input,
    # and for the branches of concat(flat)<...>), and the branch's own steps
    branches: list[Member | None] = field(default_factory=list)
    branch_steps: list[list[Step]] = field(default_factory=list)
    flat: bool = False  # concat(flat)<...>: the branches' members are the enclosing class's
    word: str = "concat"  # CONCAT: the word written, `concat` or its synonym `inception` (diagnostics, drawings)
    factors: list[list[Step]] = field(default_factory=list)  # a gate's paths, written inline like a residual body
    parts: list[int] = field(default_factory=list)  # a split's Join.CHUNK layers, one per branch
    # A labelled statement's step whose output a later `@label` reads: code generation keeps it in a variable.
    save: str | None = None
    name: str | None = None
    # APPLY of a labelled group whose member a reference reads (`@backbone.layer3`): the forward runs its
    # members one by one (its container's steps) instead of calling the nn.Sequential whole.
    unrolled: bool = False

    def __repr__(self) -> str:
        return f"<Step {self.kind} {self.member.path if self.member else self.site}>"


@dataclass(eq=False, repr=False)
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
    members_by_site: dict[Site, Member] = field(default_factory=dict)
    # A block use with tensor parameters (`head(@backbone.4, 21)`): per parameter, in order, the caller's
    # variable it passes and the node that variable holds.
    tensors: list[tuple[str, int]] = field(default_factory=list)
    steps_by_site: dict[Site, Step] = field(default_factory=dict)
    reads_input: bool = False  # `@input` stands in its body: its forward keeps its input

    def __repr__(self) -> str:
        return f"<Instance {self.id}: block {self.block.name} at {self.path}>" if self.block else \
            f"<Instance {self.id}: the network>"

    @property
    def path(self) -> ModulePath:
        return self.member.path if self.member else ModulePath()


@dataclass(eq=False, repr=False)
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
    # `out: output<...>`: name -> its Join.NAMED_OUTPUT node, in text order, those switched on (`if`) only
    outputs: dict[str, int] = field(default_factory=dict)
    folded: bool = False  # batch norms folded for inference (folding.fold_batchnorm, compile --fuse)
    channels_last: bool = False  # weights and input in NHWC memory order (compile --channels-last)
    frozen: list[str] = field(default_factory=list)  # top-level attributes frozen for fine-tuning (freeze.py)
    init: Inits = field(default_factory=Inits)  # how the weights start (ir/init.py)

    def __repr__(self) -> str:
        c, h, w = self.input_shape
        return f"<IR of network {self.network.name} in {self.file}: {len(self.layers)} layers, input {c}x{h}x{w}>"

    @property
    def file(self) -> str:
        return self.network.span.file

    def to_networkx(self) -> networkx.DiGraph:
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
        children: dict[int | None, list[Instance]] = {}  # one pass: searching all instances per instance is quadratic
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
