"""`scale`: a learned scale per channel, held by the module itself as the parameter its label names
(ConvNeXt's `layer_scale`), not as a submodule."""

from __future__ import annotations

from archdsl.analysis.accounting import FP32, IN, Context, Cost, numel
from archdsl.ir.derived import Derived
from archdsl.layers.registry import NO_FOLD, LayerSpec, Option, register
from archdsl.shapes.geometry import Shape


def _shape(layer, ins: list[Shape], ir) -> None:
    layer.out_shape = ins[0]
    layer.derived = Derived(num_features=ins[0][0])


def _params(layer) -> tuple[int, int]:
    return layer.derived.num_features, 0


def _cost(layer, ctx: Context) -> Cost:
    # One multiply per element, no sum: an op, not a MAC. Backward needs the input (for the scales'
    # gradient) and the scales (a parameter); the product is a new tensor nothing keeps.
    return Cost(ops=numel(layer.out_shape), saves=(IN,))


def _emit(e) -> tuple[str, object]:
    # torchvision's CNBlock: nn.Parameter(torch.ones(dim, 1, 1) * layer_scale), which broadcasts over H and W.
    # torch.ones keeps it floating point where the initial value is written as an integer (`scale(init=2)`).
    size = e.channels if e.channels is not None else e.features
    torch = e.module("torch")
    ones = f"{torch}.ones({size}, 1, 1)" if e.channels is not None else f"{torch}.ones({size})"
    init = e.opt("init")
    times = "" if init.const and init.vals[0] == 1 else f" * {init.text if init.prec > 3 else f'({init.text})'}"
    return f"nn.Parameter({ones}{times})", e.same()


register(LayerSpec(
    "scale", "scale", "nn.Parameter",
    "a learned scale per channel (per feature when flat), the parameter its label names (ConvNeXt's layer_scale)",
    options=(Option("init", "float", 1.0, "the scales' initial value (ConvNeXt: 1e-6)"),),
    example="layer_scale: scale(init=1e-6)",
    shape=_shape, params=_params, cost=_cost, emit=_emit, stateless=False, inplace_after=frozenset(),
    fresh_output=True, fold=NO_FOLD, counts_in_depth=False, parameter=True,
    autocast=FP32,  # under autocast the product of its float32 parameter and a low-precision input is float32
))
