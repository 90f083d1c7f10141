"""Reshaping: `flatten`, from a (C, H, W) feature map to C*H*W features."""

from __future__ import annotations

from archdsl.analysis.accounting import view
from archdsl.layers.registry import NO_FOLD, LayerSpec, register
from archdsl.shapes.geometry import Shape, no_params


def _shape(layer, ins: list[Shape], ir) -> None:
    size = 1
    for d in ins[0]:
        size *= d
    layer.out_shape = (size,)


def _emit(e) -> tuple[str, object]:
    if e.channels is None:
        return "nn.Flatten()", e.same()
    areas = [layer.in_shape[1] * layer.in_shape[2] for layer in e.uses]
    if any(a != areas[0] for a in areas):  # the map's size differs between the block's uses
        return "nn.Flatten()", e.flat(e.size("features", "flatten_features", [layer.out_shape[0] for layer in e.uses]))
    return "nn.Flatten()", e.flat(e.channels.binop("*", e.lit(areas[0])))


register(LayerSpec(
    "flatten", "flatten", "nn.Flatten", "flatten (C, H, W) to C*H*W features", example="flatten",
    shape=_shape, params=no_params, cost=view, emit=_emit, stateless=True, inplace_after=frozenset(),
    fresh_output=False, fold=NO_FOLD, counts_in_depth=False,
))
