"""The fully connected layer: `fc` (also written `linear`)."""

from __future__ import annotations

from archdsl.analysis.accounting import IN, Context, Cost
from archdsl.ir.derived import Derived
from archdsl.layers.registry import Fold, Initialised, LayerSpec, Option, register
from archdsl.shapes.geometry import Problem, Shape, fmt


def _shape(layer, ins: list[Shape], ir) -> None:
    if len(ins[0]) != 1:
        c, h, w = ins[0]
        raise Problem(f"'fc' gets a feature map {fmt(ins[0])}; it needs flat features",
                      hint=f"insert `flatten` before it ({c}*{h}*{w} = {c * h * w} features), or pool first (`gap`)",
                      code="shape-mismatch")
    (features,) = ins[0]
    layer.out_shape = (layer.attrs["features"],)
    layer.derived = Derived(in_features=features)


def _params(layer) -> tuple[int, int]:
    out = layer.attrs["features"]
    return layer.derived.in_features * out + (out if layer.attrs["bias"] else 0), 0


def _cost(layer, ctx: Context) -> Cost:
    per_output = layer.derived.in_features + (1 if layer.attrs["bias"] else 0)
    return Cost(macs=per_output * layer.out_shape[0], saves=(IN,))


def _emit(e) -> tuple[str, object]:
    fout = e.opt("features")
    args = [str(e.features), str(fout)] + e.keywords([("bias", e.opt("bias"), True)])
    return f"nn.Linear({', '.join(args)})", e.flat(fout)


register(LayerSpec(
    "fc", "linear", "nn.Linear", "fully connected layer", dashes=("features",), required=("features",),
    aliases=("linear",),
    options=(
        Option("features", "count", None, "output features"),
        Option("bias", "bool", True, "learn a bias"),
    ),
    example="fc-4096, fc-num_classes",
    shape=_shape, params=_params, cost=_cost, emit=_emit, stateless=False, inplace_after=frozenset(),
    fresh_output=True, fold=Fold(absorbs=1), counts_in_depth=True,
    describe=lambda layer: f"fc-{layer.attrs['features']}", color="#e7dff8",
    init=Initialised(module=lambda layer: "nn.Linear", has=lambda layer, t: t == "weight" or layer.attrs["bias"],
                     fans=True, pytorch="weight kaiming_uniform(a=√5), bias uniform(±1/√fan_in)"),
))
