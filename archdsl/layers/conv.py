"""The convolution: `conv`."""

from __future__ import annotations

from archdsl.analysis.accounting import IN, LOWER, Context, Cost, numel
from archdsl.ir.derived import Derived
from archdsl.layers.registry import Fold, Initialised, LayerSpec, Option, register
from archdsl.shapes.geometry import Problem, Shape, padding, spatial, window

KERNEL = Option("kernel", "size", None, "kernel size (also written in the word: conv3, conv1x7)")


def _shape(layer, ins: list[Shape], ir) -> None:
    c, h, w = spatial(layer, ins[0])
    a = layer.attrs
    (kh, kw), (sh, sw), (dh, dw) = a["kernel"], a["stride"], a["dilation"]
    ph, pw = padding(layer, (kh, kw), (dh, dw))
    groups, out = a["groups"], a["channels"]
    if c % groups or out % groups:
        raise Problem(f"groups={groups} must divide both the input channels ({c}) and the filters ({out})",
                      code="bad-groups")
    oh = window(layer, h, kh, sh, ph, dh, False, "height")
    ow = window(layer, w, kw, sw, pw, dw, False, "width")
    layer.out_shape = (out, oh, ow)
    layer.derived = Derived(in_channels=c, padding=(ph, pw))


def _params(layer) -> tuple[int, int]:
    a = layer.attrs
    kh, kw = a["kernel"]
    out = a["channels"]
    return out * (layer.derived.in_channels // a["groups"]) * kh * kw + (out if a["bias"] else 0), 0


def _cost(layer, ctx: Context) -> Cost:
    kh, kw = layer.attrs["kernel"]
    weights = layer.derived.in_channels // layer.attrs["groups"] * kh * kw
    per_output = weights + (1 if layer.attrs["bias"] else 0)
    return Cost(macs=numel(layer.out_shape) * per_output,
                saves=(IN, *ctx.weight_copy(weights * layer.attrs["channels"])))


def _emit(e) -> tuple[str, object]:
    cout, kernel, stride = e.opt("channels"), e.opt("kernel"), e.opt("stride")
    dilation = e.opt("dilation")
    pad = e.padding(kernel, dilation)
    args = [str(e.channels), str(cout), f"kernel_size={kernel}"]
    args += e.keywords([("stride", stride, 1), ("padding", pad, 0), ("dilation", dilation, 1),
                        ("groups", e.opt("groups"), 1), ("bias", e.opt("bias"), True)])
    return f"nn.Conv2d({', '.join(args)})", e.scaled(stride, cout)


def _shorthand(word: str, a) -> str:
    """`conv3-64/2`, `upconv1x7-64`: the word with its kernel, channels and stride, as a file writes it."""
    (kh, kw), (sh, _) = a["kernel"], a["stride"]
    return f"{word}{kh}" + (f"x{kw}" if kw != kh else "") + f"-{a['channels']}" + (f"/{sh}" if sh != 1 else "")


def _describe(layer) -> str:
    a = layer.attrs
    return _shorthand("conv", a) + ("" if a["groups"] == 1 else f"(groups={a['groups']})")


register(LayerSpec(
    "conv", "conv", "nn.Conv2d", "2-D convolution",
    dashes=("channels",), slash="stride", kernel_in_word=True, required=("channels", "kernel"),
    options=(
        Option("channels", "count", None, "number of filters (output channels)"),
        KERNEL,
        Option("stride", "size", 1, "stride"),
        Option("padding", "pad", "same", "`same`: (k-1)/2 * dilation on each side, so stride 1 keeps "
               "the size and stride s gives ceil(H/s); `valid`: none; or a number"),
        Option("dilation", "size", 1, "dilation"),
        Option("groups", "count", 1, "grouped convolution (AlexNet's two-GPU split: groups=2)"),
        Option("bias", "bool", True, "learn a bias"),
    ),
    example="conv3-64, conv11-64/4(padding=2), conv1-(c*4)(bias=false)",
    shape=_shape, params=_params, cost=_cost, emit=_emit, stateless=False, inplace_after=frozenset(),
    fresh_output=True, fold=Fold(absorbs=2), counts_in_depth=True, describe=_describe, color="#dce8fa", autocast=LOWER,
    init=Initialised(module=lambda layer: "nn.Conv2d", has=lambda layer, t: t == "weight" or layer.attrs["bias"],
                     fans=True, pytorch="weight kaiming_uniform(a=√5), bias uniform(±1/√fan_in)"),
))


# -- the transposed convolution: `upconv2-512/2` (U-Net's "up-convolution") -------------------------------
def _up_shape(layer, ins: list[Shape], ir) -> None:
    c, h, w = spatial(layer, ins[0])
    a = layer.attrs
    (kh, kw), (sh, sw), p = a["kernel"], a["stride"], a["padding"]
    oh, ow = (h - 1) * sh - 2 * p + kh, (w - 1) * sw - 2 * p + kw
    if oh < 1 or ow < 1:
        raise Problem(f"'{layer.describe()}' with padding {p} leaves no output from a {h}x{w} input",
                      hint="lower the padding", code="input-too-small")
    layer.out_shape = (a["channels"], oh, ow)
    layer.derived = Derived(in_channels=c, padding=(p, p))


def _up_params(layer) -> tuple[int, int]:
    (kh, kw), out = layer.attrs["kernel"], layer.attrs["channels"]
    return layer.derived.in_channels * out * kh * kw + (out if layer.attrs["bias"] else 0), 0


def _taps(size_in: int, size_out: int, k: int, s: int, p: int) -> int:
    """(input position, kernel tap) pairs that land inside the output along one dimension: the products a
    transposed convolution computes (with padding, those that fall outside are cut away, not computed)."""
    return sum(1 for i in range(size_in) for j in range(k) if 0 <= i * s - p + j < size_out)


def _up_cost(layer, ctx: Context) -> Cost:
    # Each input element meets each kernel tap once: C_in * C_out * (H * W * kh * kw) products. torchinfo
    # counts C_in * C_out * kh * kw per *output* position, k*k times as many for a 2x2 stride-2 one.
    (kh, kw), (sh, sw), p = layer.attrs["kernel"], layer.attrs["stride"], layer.attrs["padding"]
    (_, h, w), (out, oh, ow) = layer.in_shape, layer.out_shape
    products = _taps(h, oh, kh, sh, p) * _taps(w, ow, kw, sw, p)
    bias = out * oh * ow if layer.attrs["bias"] else 0
    return Cost(macs=layer.derived.in_channels * out * products + bias,
                saves=(IN, *ctx.weight_copy(layer.derived.in_channels * out * kh * kw)))


def _up_emit(e) -> tuple[str, object]:
    cout, kernel, stride = e.opt("channels"), e.opt("kernel"), e.opt("stride")
    args = [str(e.channels), str(cout), f"kernel_size={kernel}"]
    args += e.keywords([("stride", stride, 1), ("padding", e.opt("padding"), 0), ("bias", e.opt("bias"), True)])
    return f"nn.ConvTranspose2d({', '.join(args)})", e.unscaled(cout)


def _up_describe(layer) -> str:
    return _shorthand("upconv", layer.attrs)


register(LayerSpec(
    "upconv", "upconv", "nn.ConvTranspose2d", "transposed convolution (U-Net's up-convolution): H -> (H-1)*s - 2p + k",
    dashes=("channels",), slash="stride", kernel_in_word=True, required=("channels", "kernel"),
    options=(
        Option("channels", "count", None, "number of output channels"),
        KERNEL,
        Option("stride", "size", 1, "stride (the upsampling factor when it equals the kernel)"),
        Option("padding", "int", 0, "rows and columns cut from each side of the output"),
        Option("bias", "bool", True, "learn a bias"),
    ),
    example="upconv2-512/2",
    shape=_up_shape, params=_up_params, cost=_up_cost, emit=_up_emit, stateless=False, inplace_after=frozenset(),
    fresh_output=True, fold=Fold(), counts_in_depth=True, describe=_up_describe, color="#dce8fa", autocast=LOWER,
    init=Initialised(module=lambda layer: "nn.ConvTranspose2d",
                     has=lambda layer, t: t == "weight" or layer.attrs["bias"],
                     fans=True, pytorch="weight kaiming_uniform(a=√5), bias uniform(±1/√fan_in)"),
))
