"""Resizing: `upsample`, by a factor (nn.Upsample) or to another tensor's height and width (the
segmentation heads' F.interpolate back to the input's resolution)."""

from __future__ import annotations

from archdsl.analysis.accounting import Context, Cost, numel
from archdsl.errors import Note
from archdsl.layers.registry import NO_FOLD, Helper, LayerSpec, Option, register
from archdsl.shapes.geometry import Problem, Shape, fmt, no_params

# F.interpolate to the size of a tensor known only when the forward runs; nn.Upsample takes a fixed size.
RESIZE_LIKE = Helper("ResizeLike", '''class ResizeLike(nn.Module):
    """F.interpolate of x to the height and width of `like` (segmentation heads: back to the input's size)."""

    def __init__(self, mode: str, align_corners: bool | None) -> None:
        super().__init__()
        self.mode, self.align_corners = mode, align_corners

    def forward(self, x: Tensor, like: Tensor) -> Tensor:
        return nn.functional.interpolate(x, size=like.shape[-2:], mode=self.mode, align_corners=self.align_corners)''')

MODES = ("nearest", "bilinear")


def _shape(layer, ins: list[Shape], ir) -> None:
    shape, a = ins[0], layer.attrs
    if len(shape) != 3:
        raise Problem(f"'{layer.describe()}' needs a feature map, but gets {fmt(shape)} flat features",
                      code="shape-mismatch")
    if a["align_corners"] and a["mode"] == "nearest":
        raise Problem("upsample: align_corners applies to mode=bilinear only", code="bad-option-value")
    if a["size"] is not None:
        like = ins[1]
        if len(like) != 3:
            raise Problem(f"upsample: @{a['size']} gives {fmt(like)} flat features, not a size to resize to",
                          notes=[Note(f"'{a['size']}' ends here", ir.layers[layer.inputs[1]].span)],
                          code="shape-mismatch")
        layer.out_shape = (shape[0], like[1], like[2])
        return
    if a["scale"] is None:
        raise Problem("upsample needs scale=N or size=@label", hint="e.g. upsample(scale=2)",
                      code="missing-option")
    layer.out_shape = (shape[0], shape[1] * a["scale"], shape[2] * a["scale"])


def _cost(layer, ctx: Context) -> Cost:
    # nearest copies; bilinear blends four neighbours (three interpolations per output element), counted
    # apart from the MACs as torchinfo counts no MACs for it either.
    n = numel(layer.out_shape)
    return Cost(ops=3 * n if layer.attrs["mode"] == "bilinear" else 0)


def _emit(e) -> tuple[str, object]:
    a = e.layer.attrs
    corners = "None" if a["mode"] == "nearest" else str(bool(a["align_corners"]))
    if a["size"] is not None:
        return f"{e.helper('ResizeLike')}('{a['mode']}', {corners})", e.unscaled(e.channels)
    args = [f"scale_factor={e.opt('scale')}", f"mode='{a['mode']}'"]
    if a["mode"] == "bilinear":
        args.append(f"align_corners={corners}")
    return f"nn.Upsample({', '.join(args)})", e.unscaled(e.channels)


def _describe(layer) -> str:
    a = layer.attrs
    size = f"size=@{a['size']}" if a["size"] is not None else f"scale={a['scale']}"
    return f"upsample({size}" + (f", mode={a['mode']}" if a["mode"] != "nearest" else "") + ")"


register(LayerSpec(
    "upsample", "upsample", "nn.Upsample / ResizeLike",
    "resize a feature map by an integer factor, or to another tensor's height and width",
    options=(
        Option("scale", "count", None, "the factor each side grows by"),
        Option("mode", "choice", "nearest", "`nearest` or `bilinear`", choices=MODES),
        Option("align_corners", "bool", False, "bilinear only: corner pixels aligned (torch's align_corners)"),
        Option("size", "tensor", None, "@label: resize to that tensor's height and width instead of by `scale`"),
    ),
    example="upsample(scale=2), upsample(size=@input_map, mode=bilinear)", helpers=(RESIZE_LIKE,),
    shape=_shape, params=no_params, cost=_cost, emit=_emit, stateless=True, inplace_after=frozenset(),
    fresh_output=True, fold=NO_FOLD, counts_in_depth=False, describe=_describe,
))
