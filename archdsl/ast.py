"""The abstract syntax tree: one pydantic model per aliased grammar rule, each with its span.

The parser builds these from Lark's tree; expansion (ir.py) and code generation read them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

from archdsl.errors import Span


class Node(BaseModel):
    model_config = ConfigDict(frozen=True, arbitrary_types_allowed=True)
    span: Span


# -- expressions -------------------------------------------------------------------------
class Number(Node):
    kind: Literal["number"] = "number"
    value: int | float


class Boolean(Node):
    kind: Literal["boolean"] = "boolean"
    value: bool


class Name(Node):
    kind: Literal["name"] = "name"
    id: str


class Neg(Node):
    kind: Literal["neg"] = "neg"
    operand: Expr


class BinOp(Node):
    kind: Literal["binop"] = "binop"
    op: Literal["+", "-", "*", "//"]
    left: Expr
    right: Expr


Expr = Annotated[Number | Boolean | Name | Neg | BinOp, Field(discriminator="kind")]


# -- layers, blocks and combinators ---------------------------------------------------------
class Arg(Node):
    name: str | None
    value: Expr


class Call(Node):
    """`conv3-64/2(bias=false)` or `basic(128, 2)`: a layer word or a block instance."""

    kind: Literal["call"] = "call"
    name: str
    dashes: list[Expr] = []
    slash: Expr | None = None
    args: list[Arg] = []


class Group(Node):
    kind: Literal["group"] = "group"
    body: Seq


class Residual(Node):
    kind: Literal["residual"] = "residual"
    args: list[Arg] = []
    body: Seq
    shortcut: Seq | None = None


class Inception(Node):
    kind: Literal["inception"] = "inception"
    branches: list[Seq]


class Side(Node):
    kind: Literal["side"] = "side"
    body: Seq


Item = Annotated[Call | Group | Residual | Inception | Side, Field(discriminator="kind")]


class Stmt(Node):
    """`label: item x N if cond`: one element of a sequence."""

    label: str | None = None
    label_span: Span | None = None
    item: Item
    repeat: Expr | None = None
    cond: Expr | None = None


class Seq(Node):
    stmts: list[Stmt]


# -- declarations ---------------------------------------------------------------------------
class Param(Node):
    name: str
    default: Expr | None = None


class InputDecl(Node):
    channels: int
    height: int
    width: int


class Freeze(Node):
    """`freeze conv1, layer1` (those parts) or `freeze up to layer3` (everything through layer3)."""

    up_to: bool
    targets: list[str]
    target_spans: list[Span | None]


class BlockDef(Node):
    name: str
    params: list[Param]
    body: Seq


class Network(Node):
    name: str
    params: list[Param]
    input: InputDecl
    freeze: Freeze | None = None
    body: Seq


class Use(Node):
    path: str


class Module(Node):
    """One `.arch` file."""

    file: str
    uses: list[Use]
    blocks: list[BlockDef]
    networks: list[Network]


for _model in (Neg, BinOp, Call, Group, Residual, Inception, Side, Stmt, Seq, BlockDef, Network, Module):
    _model.model_rebuild()


@dataclass
class Program:
    """A parsed file with the blocks it can use (its own and those of the files it `use`s)."""

    module: Module
    blocks: dict[str, BlockDef]
    sources: dict[str, str]
