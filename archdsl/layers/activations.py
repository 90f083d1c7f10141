"""Activations: `relu`, `tanh`, `sigmoid`, `softmax`, `hardswish`, `relu6`, `hardsigmoid`, ...: element-wise;
all stateless but `prelu`, which learns its slopes."""

from __future__ import annotations

from collections.abc import Callable

from archdsl.analysis.accounting import IN, LOWER, OUT, Context, Cost, Saved, numel, view
from archdsl.layers.registry import BY_WORD, NO_FOLD, LayerSpec, Option, register
from archdsl.shapes.geometry import Problem, Shape, fmt, no_params, same

# Ops whose output autograd does not keep, so an activation after them may overwrite it in place
# (when nothing else reads it): conv, fc and the norms keep their input, max pooling its input and argmax.
# torchvision's detection heads write nn.ReLU(inplace=True) after nn.GroupNorm.
OVERWRITABLE = frozenset({"conv", "linear", "bn", "ln", "gn", "add", "concat", "maxpool"})


def pointwise(word: str, torch: str, doc: str, *, ops: int = 1, saves: tuple[Saved, ...] = (OUT,),
              inplace: bool = False, options: tuple[Option, ...] = (), emit: Callable | None = None,
              cost: Callable | None = None, example: str = "", aliases: tuple[str, ...] = (),
              dashes: tuple[str, ...] = (), describe: Callable | None = None, shape: Callable = same,
              last_dim: bool = True, argument: bool = True) -> LayerSpec:
    """The entry of an element-wise activation: `ops` operations per element (costs.py's convention).

    `last_dim`: it takes a channels-last map (element-wise, it cannot tell); softmax's `dim` could not.

    `inplace`: after an op in OVERWRITABLE it is written `inplace=True`; eval then makes no new tensor.

    `argument`: a block may take it as an argument (`act = relu6`): its bare torch class, called with no
    argument, is the word with its default options.
    """
    def per_element(layer, ctx: Context) -> Cost:
        return Cost(ops=ops * numel(layer.out_shape), alias=bool(layer.attrs.get("inplace")), saves=saves)

    def plain(e) -> tuple[str, object]:
        return (f"{torch}(inplace=True)" if e.layer.attrs.get("inplace") else f"{torch}()"), e.same()

    return register(LayerSpec(
        word, word, torch, doc, options=options, example=example or word, aliases=aliases, dashes=dashes,
        describe=BY_WORD if describe is None else describe,
        shape=shape, params=no_params, cost=cost or per_element, emit=emit or plain, stateless=True,
        inplace_after=OVERWRITABLE if inplace else frozenset(), fresh_output=False, fold=NO_FOLD,
        counts_in_depth=False, last_dim=last_dim, argument=argument,
    ))


pointwise("relu", "nn.ReLU", "rectified linear unit", inplace=True)
pointwise("tanh", "nn.Tanh", "hyperbolic tangent")
pointwise("sigmoid", "nn.Sigmoid", "logistic sigmoid")
def _softmax_shape(layer, ins: list[Shape], ir) -> None:
    rank = len(ins[0]) + 1  # with the batch
    dim = layer.attrs["dim"]
    if not -rank <= dim < rank:
        raise Problem(f"softmax(dim={dim}) on {fmt(ins[0])} (with the batch, {rank} dimensions): dim must be from "
                      f"{-rank} to {rank - 1}", hint="dim=1 normalises over channels or features",
                      code="bad-dim")
    same(layer, ins, ir)


# Not a block argument: nn.Softmax() without dim picks one by the input's rank, with a warning.
pointwise("softmax", "nn.Softmax", "softmax over channels/features", ops=3, shape=_softmax_shape, last_dim=False,
          argument=False,
          options=(Option("dim", "int", 1, "dimension to normalise"),),
          emit=lambda e: (f"nn.Softmax(dim={e.opt('dim')})", e.same()))


def _keeps_input(layer, ctx: Context) -> Cost:
    """One op per element; backward needs the input, of which an in-place run makes autograd keep a copy
    (measured with saved_tensors_hooks: torch clones it before overwriting)."""
    n = numel(layer.out_shape)
    inplace = bool(layer.attrs.get("inplace"))
    return Cost(ops=n, alias=inplace, saves=(("input copy", n * ctx.float_bytes),) if inplace else (IN,))


# MobileNetV3's activation, x * relu6(x + 3) / 6; in place where torchvision writes nn.Hardswish(inplace=True).
pointwise("hardswish", "nn.Hardswish", "hard swish (MobileNetV3)", inplace=True, cost=_keeps_input)
# MobileNetV2's activation, min(max(x, 0), 6); torchvision writes nn.ReLU6(inplace=True).
pointwise("relu6", "nn.ReLU6", "ReLU capped at 6 (MobileNetV2)", inplace=True, cost=_keeps_input)
# MobileNetV3's squeeze-excitation gate, relu6(x + 3) / 6: torchvision's SqueezeExcitation builds it as
# scale_activation() with no inplace, so it is never emitted in place.
pointwise("hardsigmoid", "nn.Hardsigmoid", "hard sigmoid (MobileNetV3's squeeze-excitation gate)", cost=_keeps_input)
# EfficientNet's activation, x * sigmoid(x); torchvision writes nn.SiLU(inplace=True) after batch norm
# (Conv2dNormActivation) and after the squeeze-excitation's first conv (partial(nn.SiLU, inplace=True)).
pointwise("silu", "nn.SiLU", "sigmoid linear unit, also written swish (EfficientNet)", inplace=True,
          cost=_keeps_input, aliases=("swish",), example="silu, swish")


def _gelu_emit(e) -> tuple[str, object]:
    # A choice is a bare word in the language and a string in torch; every use writes it literally.
    (approximate,) = {layer.attrs["approximate"] for layer in e.uses}
    return ("nn.GELU()" if approximate == "none" else f"nn.GELU(approximate='{approximate}')"), e.same()


# The transformers' and ConvNeXt's activation. torch's GELU takes no inplace argument.
pointwise("gelu", "nn.GELU", "Gaussian error linear unit (ConvNeXt)", cost=_keeps_input, emit=_gelu_emit,
          options=(Option("approximate", "choice", "none", "`none`: exact, with erf; `tanh`: the tanh approximation",
                          choices=("none", "tanh")),),
          example="gelu, gelu(approximate=tanh)")


# Not in place: no torchvision model writes nn.LeakyReLU or nn.ELU, and their backward keeps the input.
pointwise("leaky_relu", "nn.LeakyReLU", "leaky ReLU: x for x > 0, slope * x below", cost=_keeps_input,
          options=(Option("slope", "float", 0.01, "slope for negative inputs (negative_slope)"),),
          emit=lambda e: (f"nn.LeakyReLU({', '.join(e.keywords([('negative_slope', e.opt('slope'), 0.01)]))})",
                          e.same()),
          dashes=("slope",), describe=lambda layer: f"leaky_relu-{layer.attrs['slope']:g}",
          example="leaky_relu, leaky_relu-0.2, leaky_relu(slope=0.1)")
pointwise("elu", "nn.ELU", "exponential linear unit: x for x > 0, alpha * (exp(x) - 1) below", cost=_keeps_input,
          options=(Option("alpha", "float", 1.0, "the value it tends to for large negative inputs, negated"),),
          emit=lambda e: (f"nn.ELU({', '.join(e.keywords([('alpha', e.opt('alpha'), 1.0)]))})", e.same()),
          example="elu, elu(alpha=0.5)")
# x * tanh(softplus(x)). torch's Mish takes inplace, but no torchvision model writes nn.Mish: never in place.
pointwise("mish", "nn.Mish", "mish: x * tanh(softplus(x))", cost=_keeps_input)
# No activation: torchvision's nn.Identity placeholder (where a block's activation is optional); a view.
pointwise("identity", "nn.Identity", "the identity: passes its input on (a placeholder)", cost=view)


def _prelu_params(layer) -> tuple[int, int]:
    return (1 if layer.attrs["shared"] else layer.out_shape[0]), 0


def _prelu_cost(layer, ctx: Context) -> Cost:
    cost = _keeps_input(layer, ctx)
    return cost._replace(saves=(*cost.saves, *ctx.weight_copy(_prelu_params(layer)[0])))


def _prelu_emit(e) -> tuple[str, object]:
    size = e.channels if e.channels is not None else e.features
    args = ([] if e.layer.attrs["shared"] else [f"num_parameters={size}"]) + e.keywords([("init", e.opt("init"), 0.25)])
    return f"nn.PReLU({', '.join(args)})", e.same()


# Learned negative slopes, one per channel (per feature after flatten), as in He et al. 2015; `shared`: torch's
# default, one slope for the whole layer. Not stateless (it has a weight), never in place (no inplace argument).
register(LayerSpec(
    "prelu", "prelu", "nn.PReLU", "parametric ReLU: a learned slope for negative inputs",
    options=(Option("shared", "bool", False, "one slope for every channel (torch's default) instead of one each"),
             Option("init", "float", 0.25, "the slopes' initial value")),
    example="prelu, prelu(shared=true), prelu(init=0.1)",
    shape=same, params=_prelu_params, cost=_prelu_cost, emit=_prelu_emit, stateless=False,
    inplace_after=frozenset(), fresh_output=False, fold=NO_FOLD, counts_in_depth=False, autocast=LOWER,
))
