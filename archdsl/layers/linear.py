"""The fully connected layer: `fc` (also written `linear`), on flat features or on a channels-last map."""

from __future__ import annotations

from archdsl.analysis.accounting import IN, LOWER, Context, Cost, numel
from archdsl.ir.derived import Derived
from archdsl.layers.registry import Fold, Initialised, LayerSpec, Option, register
from archdsl.shapes.geometry import Problem, Shape, fmt


def _shape(layer, ins: list[Shape], ir) -> None:
    if layer.nhwc:  # after permute(0, 2, 3, 1): the same nn.Linear at every position, on the channels
        layer.out_shape = (*ins[0][:-1], layer.attrs["features"])
        layer.derived = Derived(in_features=ins[0][-1])
        return
    if len(ins[0]) != 1:
        c, h, w = ins[0]
        raise Problem(f"'fc' gets a feature map {fmt(ins[0])}; it needs flat features",
                      hint=f"insert `flatten` before it ({c}*{h}*{w} = {c * h * w} features), pool first (`gap`), "
                           "or put the channels last (`permute(0, 2, 3, 1)`) to apply it at every position",
                      code="shape-mismatch")
    (features,) = ins[0]
    layer.out_shape = (layer.attrs["features"],)
    layer.derived = Derived(in_features=features)


def _params(layer) -> tuple[int, int]:
    out = layer.attrs["features"]
    return layer.derived.in_features * out + (out if layer.attrs["bias"] else 0), 0


def _cost(layer, ctx: Context) -> Cost:
    per_output = layer.derived.in_features + (1 if layer.attrs["bias"] else 0)
    weights = layer.derived.in_features * layer.attrs["features"]
    # Channels last: at every position.
    return Cost(macs=per_output * numel(layer.out_shape), saves=(IN, *ctx.weight_copy(weights)))


def _emit(e) -> tuple[str, object]:
    fout = e.opt("features")
    args = [str(e.channels if e.channels_last else e.features), str(fout)] + e.keywords([("bias", e.opt("bias"), True)])
    return f"nn.Linear({', '.join(args)})", e.last(fout) if e.channels_last else e.flat(fout)


register(LayerSpec(
    "fc", "linear", "nn.Linear", "fully connected layer (on flat features, or on the channels of a channels-last map)",
    dashes=("features",), required=("features",),
    aliases=("linear",),
    options=(
        Option("features", "count", None, "output features"),
        Option("bias", "bool", True, "learn a bias"),
    ),
    example="fc-4096, fc-num_classes",
    shape=_shape, params=_params, cost=_cost, emit=_emit, stateless=False, inplace_after=frozenset(),
    fresh_output=True, fold=Fold(absorbs=1), counts_in_depth=True, last_dim=True, autocast=LOWER,
    describe=lambda layer: f"fc-{layer.attrs['features']}", color="#e7dff8",
    init=Initialised(module=lambda layer: "nn.Linear", has=lambda layer, t: t == "weight" or layer.attrs["bias"],
                     fans=True, pytorch="weight kaiming_uniform(a=√5), bias uniform(±1/√fan_in)"),
))
