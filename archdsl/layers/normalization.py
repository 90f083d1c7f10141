"""Normalisation: `bn` (batch norm, 2-D after convs and 1-D after fc), `lrn` (AlexNet's), `ln` (layer norm),
`gn` (group norm)."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from archdsl.analysis.accounting import FP32, IN, Context, Cost, numel
from archdsl.ir.derived import Derived
from archdsl.layers.registry import NO_FOLD, Fold, Helper, Initialised, LayerSpec, Option, register
from archdsl.shapes.geometry import Problem, Shape, no_params, spatial_same

if TYPE_CHECKING:
    from archdsl.ir.nodes import Layer
    from archdsl.layers.registry import CostRule

COLOR = "#fbf0d0"


def _affine(layer, tensor: str) -> bool:
    return bool(layer.attrs["affine"])


def _norm_init(module) -> Initialised:
    return Initialised(module=module, has=_affine, fans=False, pytorch="weight ones, bias zeros", norm=True)


def _bn_shape(layer, ins: list[Shape], ir) -> None:
    layer.out_shape = ins[0]
    layer.derived = Derived(num_features=ins[0][0], dims=2 if len(ins[0]) == 3 else 1)


def _bn_params(layer) -> tuple[int, int]:
    n = layer.derived.num_features
    return (2 * n if layer.attrs["affine"] else 0), 2 * n + 1


def _bn_cost(layer, ctx: Context) -> Cost:
    c = layer.derived.num_features
    # Training keeps the batch mean and inverse standard deviation, one float each per channel.
    return Cost(macs=numel(layer.out_shape), saves=(IN, ("batch statistics", 2 * c * ctx.param_bytes)),
                buffer_bytes=2 * c * ctx.param_bytes + 8)  # running mean and variance; an int64 batch counter


def _bn_emit(e) -> tuple[str, object]:
    if e.layer.attrs.get("folded"):  # in an nn.Sequential: keeps the numbering of what follows
        return "nn.Identity()", e.same()
    size = e.channels if e.channels is not None else e.features
    cls = "nn.BatchNorm2d" if e.channels is not None else "nn.BatchNorm1d"
    args = [str(size)] + e.keywords([("eps", e.opt("eps"), 1e-5), ("momentum", e.opt("momentum"), 0.1),
                                     ("affine", e.opt("affine"), True)])
    return f"{cls}({', '.join(args)})", e.same()


def _lrn_cost(layer, ctx: Context) -> Cost:
    c, h, w = layer.out_shape
    size, n = layer.attrs["size"], c * h * w
    # PyTorch's local_response_norm keeps its input, the zero-padded squares (C + size - 1 channels),
    # the pooled denominator before and after the power: measured with saved_tensors_hooks.
    squares = (c + size - 1) * h * w * ctx.float_bytes
    return Cost(macs=size * n, ops=3 * n, saves=(IN, ("padded squares", squares), ("denominator", n * ctx.float_bytes),
                                                 ("denominator ** beta", n * ctx.float_bytes)))


def _lrn_emit(e) -> tuple[str, object]:
    args = [str(e.opt("size"))] + [f"{k}={e.opt(k)}" for k in ("alpha", "beta", "k")]
    return f"nn.LocalResponseNorm({', '.join(args)})", e.same()


register(LayerSpec(
    "lrn", "lrn", "nn.LocalResponseNorm", "local response normalisation (AlexNet)", dashes=("size",),
    options=(
        Option("size", "count", 5, "neighbouring channels n"),
        Option("alpha", "float", 1e-4, "alpha (PyTorch divides it by n)"),
        Option("beta", "float", 0.75, "beta"),
        Option("k", "float", 2.0, "additive constant k"),
    ),
    example="lrn, lrn(size=5, alpha=0.0001, beta=0.75, k=2)",
    # Under autocast its average pooling (avg_pool3d, on the float32 list) makes the rest float32: the squares it
    # pools, the denominators, the output; its input stays as it came.
    autocast=FP32,
    shape=spatial_same, params=no_params, cost=_lrn_cost, emit=_lrn_emit, stateless=True,
    inplace_after=frozenset(), fresh_output=False, fold=NO_FOLD, counts_in_depth=False, color=COLOR,
))
register(LayerSpec(
    "bn", "bn", "nn.BatchNorm2d / nn.BatchNorm1d", "batch normalisation (2-D after convs, 1-D after fc)",
    options=(
        Option("eps", "float", 1e-5, "added to the variance"),
        Option("momentum", "float", 0.1, "running-statistics momentum"),
        Option("affine", "bool", True, "learn a scale and shift"),
    ),
    example="bn, bn(eps=0.001)",
    shape=_bn_shape, params=_bn_params, cost=_bn_cost, emit=_bn_emit, stateless=False,
    inplace_after=frozenset(), fresh_output=True, fold=Fold(folds=True), counts_in_depth=False, color=COLOR,
    init=_norm_init(lambda layer: "nn.BatchNorm2d" if len(layer.out_shape) == 3 else "nn.BatchNorm1d"),
))


# torchvision's ConvNeXt normalises each position's channels with its own LayerNorm2d. Emitting that class
# would make the module import torchvision; this is the same computation, written out, and keeps its
# state_dict keys (`weight`, `bias`), so ConvNeXt's weights load. nn.GroupNorm(1, C) is no substitute: it
# normalises over C, H and W together.
LAYER_NORM_2D = Helper("LayerNorm2d", '''class LayerNorm2d(nn.LayerNorm):
    """nn.LayerNorm over the channels at each position of a (B, C, H, W) feature map (torchvision's ConvNeXt)."""

    def forward(self, x: Tensor) -> Tensor:
        return super().forward(x.permute(0, 2, 3, 1)).permute(0, 3, 1, 2)''')


def _norm_shape(layer, ins: list[Shape], ir) -> None:
    layer.out_shape = ins[0]
    if layer.nhwc:  # ln after permute(0, 2, 3, 1): (H, W, C)
        layer.derived = Derived(num_features=ins[0][-1], positions=numel(ins[0][:-1]))
    else:
        layer.derived = Derived(num_features=ins[0][0], positions=numel(ins[0][1:]))


def _norm_params(layer) -> tuple[int, int]:
    return (2 * layer.derived.num_features if layer.attrs["affine"] else 0), 0


def _norm_cost(groups: Callable[[Layer], int]) -> CostRule:
    """Eval computes the statistics too (unlike bn): a sum and a sum of squares per element, then the
    normalising scale and shift as bn's one MAC per element. Training keeps the input and a mean and
    1/std per group of elements normalised together (`groups` of them)."""
    def cost(layer, ctx: Context) -> Cost:
        n = numel(layer.out_shape)
        return Cost(macs=n, ops=2 * n, saves=(IN, ("mean and 1/std", 2 * groups(layer) * ctx.param_bytes)))
    return cost


def _positions(layer: Layer) -> int:
    assert layer.derived.positions is not None  # _norm_shape sets it before any cost is asked
    return layer.derived.positions


def _ln_emit(e) -> tuple[str, object]:
    size = e.channels if e.channels is not None else e.features
    # A channels-last map, as flat features, is normalised over its last dimension: torch's own LayerNorm.
    cls = e.helper("LayerNorm2d") if e.channels is not None and not e.channels_last else "nn.LayerNorm"
    args = [str(size)] + e.keywords([("eps", e.opt("eps"), 1e-5), ("elementwise_affine", e.opt("affine"), True)])
    return f"{cls}({', '.join(args)})", e.same()


register(LayerSpec(
    "ln", "ln", "LayerNorm2d / nn.LayerNorm",
    "layer normalisation: over the channels at each position of a feature map (ConvNeXt), channels first or "
    "last, or over flat features",
    options=(
        Option("eps", "float", 1e-5, "added to the variance (ConvNeXt: 1e-6)"),
        Option("affine", "bool", True, "learn a scale and shift per channel (feature)"),
    ),
    example="ln, ln(eps=1e-6)", helpers=(LAYER_NORM_2D,),
    shape=_norm_shape, params=_norm_params, cost=_norm_cost(_positions),
    emit=_ln_emit, stateless=False, inplace_after=frozenset(), fresh_output=True, fold=NO_FOLD,
    counts_in_depth=False, color=COLOR, last_dim=True,
    init=_norm_init(lambda layer: "nn.LayerNorm"),  # LayerNorm2d, on feature maps, is an nn.LayerNorm
))


def _gn_shape(layer, ins: list[Shape], ir) -> None:
    channels, groups = ins[0][0], layer.attrs["groups"]
    if channels % groups:
        fits = max(d for d in range(1, min(groups, channels) + 1) if channels % d == 0)
        raise Problem(f"'{layer.word}' cannot split {channels} channels into {groups} equal groups",
                      hint=f"the groups must divide the channels: e.g. gn-{fits}", code="bad-groups")
    _norm_shape(layer, ins, ir)


def _gn_emit(e) -> tuple[str, object]:
    size = e.channels if e.channels is not None else e.features
    args = [str(e.opt("groups")), str(size)] + e.keywords([("eps", e.opt("eps"), 1e-5),
                                                          ("affine", e.opt("affine"), True)])
    return f"nn.GroupNorm({', '.join(args)})", e.same()


register(LayerSpec(
    "gn", "gn", "nn.GroupNorm", "group normalisation: over each group of channels (with H and W) of a feature map",
    dashes=("groups",), required=("groups",),
    options=(
        Option("groups", "count", None, "groups the channels are split into; they must divide the channels"),
        Option("eps", "float", 1e-5, "added to the variance"),
        Option("affine", "bool", True, "learn a scale and shift per channel"),
    ),
    example="gn-32, gn-8(eps=1e-6)",
    shape=_gn_shape, params=_norm_params, cost=_norm_cost(lambda layer: layer.attrs["groups"]),
    emit=_gn_emit, stateless=False, inplace_after=frozenset(), fresh_output=True, fold=NO_FOLD,
    counts_in_depth=False, describe=lambda layer: f"gn-{layer.attrs['groups']}", color=COLOR,
    init=_norm_init(lambda layer: "nn.GroupNorm"),
))
