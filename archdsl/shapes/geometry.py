"""What the layers' shape rules share: the problems they raise and the arithmetic of sliding windows.

No import of the IR: the registry's entries (archdsl/layers/) use these, and the IR imports the registry.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from archdsl.errors import Note

if TYPE_CHECKING:
    from archdsl.ir.nodes import Layer

Shape = tuple[int, ...]


class Problem(Exception):
    """Raised by a shape rule; inference.py turns it into a diagnostic at the layer's source span."""

    def __init__(self, message: str, hint: str | None = None, notes: list[Note] | None = None, *, code: str):
        super().__init__(message)
        self.message, self.hint, self.notes, self.code = message, hint, notes or [], code


class TooSmall(Problem):
    """A window that does not fit its input: a larger network input would fix it."""

    def __init__(self, message: str, hint: str, *, code: str):  # always a hint: inference adds the input that fits
        super().__init__(message, hint, code=code)


def fmt(shape: Shape | None) -> str:
    if shape is None:
        return "?"
    return "x".join(str(d) for d in shape)


def spatial(layer: Layer, shape: Shape) -> tuple[int, int, int]:
    if len(shape) != 3:
        raise Problem(f"'{layer.word}' needs a feature map (C, H, W) but gets {fmt(shape)} features",
                      hint="spatial layers must come before `flatten`", code="shape-mismatch")
    return shape


def padding(layer: Layer, kernel: tuple[int, int], dilation: tuple[int, int]) -> tuple[int, int]:
    pad = layer.attrs.get("padding", 0)
    if pad == "valid":
        return (0, 0)
    if pad == "same":
        spans = [d * (k - 1) for k, d in zip(kernel, dilation)]
        if any(s % 2 for s in spans):
            raise Problem(f"'same' padding needs an odd kernel, got {kernel[0]}x{kernel[1]}",
                          hint="give the padding as a number, e.g. padding=1", code="even-kernel-same")
        return (spans[0] // 2, spans[1] // 2)
    if isinstance(pad, tuple):  # (height, width)
        return pad
    return (pad, pad)


def window(layer: Layer, size: int, k: int, s: int, p: int, d: int, ceil: bool, axis: str) -> int:
    span = size + 2 * p - d * (k - 1) - 1
    out = (-(-span // s) if ceil else span // s) + 1
    if ceil and (out - 1) * s >= size + p:
        out -= 1  # PyTorch's rule: the last window must start inside the input or its left padding
    if out < 1:
        need = d * (k - 1) + 1 - 2 * p
        raise TooSmall(f"the output {axis} of '{layer.word}' would be {out}: its input {axis} is only {size}",
                       hint=f"this layer needs at least {need} pixels here; use a larger input, less pooling, "
                            "or more padding", code="input-too-small")
    return out


def same(layer: Layer, ins: list[Shape], ir) -> None:
    """The shape rule of an op that keeps its input's shape."""
    layer.out_shape = ins[0]


def spatial_same(layer: Layer, ins: list[Shape], ir) -> None:
    """The shape rule of an op that keeps a feature map's shape and takes nothing else."""
    layer.out_shape = spatial(layer, ins[0])


def no_params(layer: Layer) -> tuple[int, int]:
    return 0, 0
