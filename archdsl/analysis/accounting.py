"""The units of the layers' cost rules: what one layer costs (`Cost`), in which pass (`Context`).

No import of the IR: the registry's entries (archdsl/layers/) use these, and the IR imports the
registry. The counting convention is costs.py's.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Final, Literal, NamedTuple

if TYPE_CHECKING:
    from archdsl.ir.nodes import Layer

FLOAT_BYTES = 4
INDEX_BYTES = 8  # max pooling keeps int64 argmax indices for backward
# Dropout's training mask: CUDA's fused kernel keeps one bool per element; the CPU kernel
# multiplies by a float32 mask, which it keeps.
MASK_BYTES = {"cuda": 1, "cpu": 4}

# A saved tensor is the layer's input (its second input, for a product), its output, or one of its own
# (a name and a size in bytes).
IN: Final = "in"
IN2: Final = "in2"
OUT: Final = "out"
Saved = Literal["in", "in2", "out"] | tuple[str, int]


class Cost(NamedTuple):
    """What one layer costs: arithmetic of an eval forward, and its memory behaviour."""

    macs: int = 0
    ops: int = 0
    alias: bool = False  # the output shares the input's memory (a view, an in-place op, an identity)
    extra_bytes: int = 0  # intermediate tensors besides the output (a projection shortcut's conv output)
    saves: tuple[Saved, ...] = ()  # kept by autograd for backward, in training mode
    buffer_bytes: int = 0


class Context(NamedTuple):
    """The pass being counted: training or eval mode, on which device (it decides mask sizes)."""

    training: bool
    device: str


def numel(shape: tuple[int, ...] | None) -> int:
    n = 1
    for d in shape or ():
        n *= d
    return n


def view(layer: Layer, ctx: Context) -> Cost:
    """The cost of an op whose output is its input (a view, an identity)."""
    return Cost(alias=True)


def new(layer: Layer, ctx: Context) -> Cost:
    """The cost of an op that makes a tensor with no arithmetic (the input, a concat)."""
    return Cost()
