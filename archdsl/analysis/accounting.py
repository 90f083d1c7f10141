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
# multiplies by a mask of the input's dtype, which it keeps.
MASK_BYTES = {"cuda": 1, "cpu": FLOAT_BYTES}
# The element size of each dtype `summary --dtype` takes; "mixed" is torch.autocast's: parameters in
# float32, each op computing in the dtype its autocast class gives (LayerSpec.autocast), the low one bfloat16
# or float16 alike (2 bytes).
DTYPE_BYTES = {"float32": FLOAT_BYTES, "float16": 2, "bfloat16": 2}
DTYPES = (*DTYPE_BYTES, "mixed")
LOW_BYTES = 2
# torch.autocast's classes of ops (its lists in aten/src/ATen/autocast_mode.h: docs/analysis.md): LOWER
# ops cast their floating inputs and weights to the low dtype, FP32 ones to float32; the others compute
# in the widest dtype of their inputs.
LOWER: Final = "lower"
WEIGHT_COPY = "weight cast by autocast"  # one copy a forward, whatever the batch (analysis/batching.py)
FP32: Final = "float32"
FOLLOW: Final = "follow"

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
    """The pass being counted: training or eval mode, on which device (it decides mask sizes), and the
    dtypes: of the tensors the layer computes, of its parameters and buffers, and whether autocast makes
    low-precision copies of its weights (which backward keeps)."""

    training: bool
    device: str
    float_bytes: int = FLOAT_BYTES
    param_bytes: int = FLOAT_BYTES
    weight_copies: bool = False

    @property
    def mask_bytes(self) -> int:
        return 1 if self.device == "cuda" else self.float_bytes

    def weight_copy(self, numel: int) -> tuple[Saved, ...]:
        """What a LOWER op keeps of its weight tensor of `numel` elements: autocast's cast copy; else
        nothing (the weight itself is a parameter, counted with the parameters)."""
        return ((WEIGHT_COPY, numel * self.float_bytes),) if self.weight_copies else ()


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
