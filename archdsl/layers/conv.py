"""The convolution: `conv`."""

from __future__ import annotations

from archdsl.analysis.accounting import IN, Context, Cost, numel
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
    per_output = layer.derived.in_channels // layer.attrs["groups"] * kh * kw + (1 if layer.attrs["bias"] else 0)
    return Cost(macs=numel(layer.out_shape) * per_output, saves=(IN,))


def _emit(e) -> tuple[str, object]:
    cout, kernel, stride = e.opt("channels"), e.opt("kernel"), e.opt("stride")
    dilation = e.opt("dilation")
    pad = e.padding(kernel, dilation)
    args = [str(e.channels), str(cout), f"kernel_size={kernel}"]
    args += e.keywords([("stride", stride, 1), ("padding", pad, 0), ("dilation", dilation, 1),
                        ("groups", e.opt("groups"), 1), ("bias", e.opt("bias"), True)])
    return f"nn.Conv2d({', '.join(args)})", e.scaled(stride, cout)


def _describe(layer) -> str:
    a = layer.attrs
    (kh, kw), (sh, _) = a["kernel"], a["stride"]
    text = f"conv{kh}" + (f"x{kw}" if kw != kh else "") + f"-{a['channels']}" + (f"/{sh}" if sh != 1 else "")
    return text + ("" if a["groups"] == 1 else f"(groups={a['groups']})")


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
    fresh_output=True, fold=Fold(absorbs=2), counts_in_depth=True, describe=_describe, color="#dce8fa",
    init=Initialised(module=lambda layer: "nn.Conv2d", has=lambda layer, t: t == "weight" or layer.attrs["bias"],
                     fans=True, pytorch="weight kaiming_uniform(a=√5), bias uniform(±1/√fan_in)"),
))
