"""The abstract syntax tree: one dataclass per aliased grammar rule, each with its span.

The parser builds these from Lark's tree; expansion (ir.py) and code generation read them.
Plain dataclasses rather than pydantic models: the parser is the only producer and already
guarantees every field's type, and importing pydantic and building its validators took 0.12 s
of every `archdsl summary` (see bench/summary_speed.py).
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import TYPE_CHECKING, Literal, TypeVar

from archdsl.errors import Span

# Nodes are never changed after parsing (dataclasses.replace makes a changed copy). Every
# command imports this module, so its classes are cheap to create: dataclass writes and compiles
# only each __init__; __repr__ and __eq__ are Node's, written once (generating all three for
# each class, and frozen=True's __setattr__ besides, took most of this module's import time).
if TYPE_CHECKING:  # type checkers see through a decorator only if it says it makes dataclasses
    from typing_extensions import dataclass_transform

    _N = TypeVar("_N")

    @dataclass_transform(kw_only_default=True, eq_default=False, field_specifiers=(field,))
    def node(cls: type[_N]) -> type[_N]: ...
else:
    node = dataclass(slots=True, kw_only=True, repr=False, eq=False)


@node
class Node:
    """A piece of source, with where it is."""

    span: Span

    def __repr__(self) -> str:
        return f"{type(self).__name__}({', '.join(f'{f.name}={getattr(self, f.name)!r}' for f in fields(self))})"

    def __eq__(self, other: object) -> bool:
        if type(other) is not type(self):
            return NotImplemented
        return all(getattr(self, f.name) == getattr(other, f.name) for f in fields(self))

    __hash__ = None  # type: ignore[assignment]  # equal nodes must hash alike, and nodes hold lists


# -- expressions -------------------------------------------------------------------------
@node
class Number(Node):
    """`64`, `0.5`."""

    value: int | float


@node
class Boolean(Node):
    """`true`, `false`."""

    value: bool


@node
class Name(Node):
    """A parameter or other name used as a value: `c`, `num_classes`."""

    id: str


@node
class Neg(Node):
    """`-x`."""

    operand: Expr


@node
class Not(Node):
    """`not x`."""

    operand: Expr


Operator = Literal["+", "-", "*", "/", "//", "==", "!=", "<", "<=", ">", ">=", "and", "or"]


@node
class BinOp(Node):
    """`a + b`, `a / b`, `a // b`, `a == b`, `a < b`, `a and b`, ..."""

    op: Operator
    left: Expr
    right: Expr


@node
class Pair(Node):
    """`1x7` or `(0, k // 2)`: two sizes, height and width (a kernel, a padding, a stride)."""

    first: Expr
    second: Expr


Expr = Number | Boolean | Name | Neg | Not | BinOp | Pair


# -- layers, blocks and combinators ---------------------------------------------------------
@node
class Arg(Node):
    """`stride=2` (named) or `128` (positional), in a call's parentheses; `like=@up4` for a tensor option."""

    name: str | None
    value: Expr  # or a Ref (`@up4`), which only a layer's tensor option takes (expr.evaluate refuses it)


@node
class Call(Node):
    """`conv3-64/2(bias=false)` or `basic(128, 2)`: a layer word or a block instance."""

    name: str
    dashes: list[Expr] = field(default_factory=list)
    slash: Expr | None = None
    args: list[Arg] = field(default_factory=list)


@node
class Group(Node):
    """`(conv3-64; relu)`: statements applied as one item."""

    body: Seq


@node
class Residual(Node):
    """`residual<body>` or `residual<body | shortcut>`, options in parentheses before `<`: body(x) + shortcut(x)."""

    args: list[Arg] = field(default_factory=list)
    body: Seq
    shortcut: Seq | None = None


@node
class Inception(Node):
    """`concat<a | b | c>` (or its synonym `inception<...>`): the branches applied to one input,
    concatenated along channels; `concat(flat)<...>` puts the branches' members in the enclosing block."""

    word: Literal["concat", "inception"] = "inception"
    args: list[Arg] = field(default_factory=list)
    branches: list[Seq]


@node
class Side(Node):
    """`side<...>`: a branch off the main path whose result is an extra output (an auxiliary head)."""

    body: Seq


@node
class Output(Node):
    """`out: output<...>`: a named output of the network, in eval mode too; the network returns an ordered dict
    of them in text order, as torchvision's segmentation models do."""

    body: Seq


@node
class Gate(Node):
    """`gate<body>`: x * body(x); `gate<a | b>`: a(x) * b(x) (squeeze-and-excitation's elementwise gate)."""

    paths: list[Seq]


@node
class Split(Node):
    """`split<a | b>`: the channels cut into equal parts, branch k applied to part k, the results concatenated."""

    branches: list[Seq]


@node
class Ref(Node):
    """`@d4`: the output of the earlier statement labelled `d4` (`@input`: the body's input), read in place
    of the previous statement's. `@backbone.layer3`: the member `layer3` of the labelled group `backbone`
    (`path` holds the member names after the label, as its state_dict keys name them)."""

    name: str
    path: tuple[str, ...] = ()

    @property
    def text(self) -> str:
        """The reference as written, without the `@`: `backbone.layer3`."""
        return ".".join((self.name, *self.path))


Item = Call | Group | Residual | Inception | Side | Output | Gate | Split | Ref


@node
class Allowed(Node):
    """One code of `allow(bias-before-bn, ...)`: a warning not reported inside the statement."""

    code: str


@node
class Stmt(Node):
    """`label: item x N if cond allow(code, ...)`: one element of a sequence.

    `label` is the label as written: a name, the text of a quoted label (`"block1-0"`), or a
    numbered label's source (`denselayer{i}`), whose pieces are then in `label_parts`: text and
    the expressions in braces, evaluated at each repetition (ir/expansion.py).
    """

    label: str | None = None
    label_span: Span | None = None
    label_parts: list[str | Expr] = field(default_factory=list)
    item: Item
    repeat: Expr | None = None
    cond: Expr | None = None
    allow: list[Allowed] = field(default_factory=list)
    init: Init | None = None  # `init(normal, std=0.01)`: how this statement's layers start


@node
class Init(Node):
    """`init conv(kaiming_normal, mode=fan_out) if c;` in a network body, for every layer of the word (`residual`:
    every residual body's last bn), or `init(normal, std=0.01)` after a statement (word None), for its layers."""

    word: str | None
    word_span: Span | None
    args: list[Arg]
    cond: Expr | None = None


@node
class Default(Node):
    """`default bn(eps=0.001)`: options for the word's layers that do not give them."""

    word: str
    word_span: Span
    args: list[Arg]


@node
class Seq(Node):
    """Statements separated by `;`, each reading the previous one's output."""

    stmts: list[Stmt]
    # Only the body of a network or block has any (the parser refuses them elsewhere).
    defaults: list[Default] = field(default_factory=list)
    inits: list[Init] = field(default_factory=list)  # only a network's body has any


# -- declarations ---------------------------------------------------------------------------
@node
class Param(Node):
    """`c` or `stride = 1` in a parameter list; `@low` (tensor=True) in a block's: a tensor its forward reads."""

    name: str
    default: Expr | None = None
    tensor: bool = False


@node
class InputDecl(Node):
    """`input 3x224x224;`: the input's channels, height and width."""

    channels: int
    height: int
    width: int


@node
class Freeze(Node):
    """`freeze conv1, layer1` (those parts) or `freeze up to layer3` (everything through layer3)."""

    up_to: bool
    targets: list[str]
    target_spans: list[Span | None]


@node
class BlockDef(Node):
    """`block basic(c, stride = 1) { ... }`: a reusable part, emitted as one nn.Module class
    (`sequential block ...`: an nn.Sequential subclass, whose body is a chain)."""

    name: str
    params: list[Param]
    body: Seq
    sequential: bool = False


@node
class Network(Node):
    """`network ResNet34(num_classes = 1000) { input ...; ... }`: the model a file compiles to."""

    name: str
    params: list[Param]
    input: InputDecl
    freeze: Freeze | None = None
    body: Seq


@node
class Use(Node):
    """`use "blocks/resnet.arch";`: the blocks of another file."""

    path: str


@node
class Module(Node):
    """One `.arch` file."""

    file: str
    uses: list[Use]
    blocks: list[BlockDef]
    networks: list[Network]


@dataclass
class Program:
    """A parsed file with the blocks it can use (its own and those of the files it `use`s)."""

    module: Module
    blocks: dict[str, BlockDef]
    sources: dict[str, str]
