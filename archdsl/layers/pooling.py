"""Pooling: `maxpool`, `avgpool` (fixed windows, or adaptive with `output=`) and `gap`."""

from __future__ import annotations

from functools import partial

from archdsl.analysis.accounting import IN, INDEX_BYTES, Context, Cost, numel
from archdsl.ir.derived import Derived
from archdsl.layers.registry import NO_FOLD, LayerSpec, Option, register
from archdsl.shapes.geometry import Problem, Shape, no_params, padding, spatial, window

COLOR = "#dcf0e0"


def _options(word: str) -> tuple[Option, ...]:
    """The options maxpool and avgpool share; the kernel's help names the word it belongs to."""
    return (
        Option("kernel", "size", 2, f"window size (also in the word: {word}3)"),
        Option("stride", "size", None, "step; default: the window size"),
        Option("padding", "pad", 0, "implicit padding on each side"),
        Option("ceil_mode", "bool", False, "round the output size up (keeps the last partial window)"),
        Option("output", "size", None, "adaptive pooling to this output size instead of a fixed window"),
    )


def _shape(layer, ins: list[Shape], ir) -> None:
    c, h, w = spatial(layer, ins[0])
    a = layer.attrs
    if a.get("output"):
        layer.out_shape = (c, *a["output"])
        layer.derived = Derived(adaptive=True)
        return
    kh, kw = a["kernel"] if isinstance(a["kernel"], tuple) else (a["kernel"], a["kernel"])
    sh, sw = a["stride"] or (kh, kw)
    ph, pw = padding(layer, (kh, kw), (1, 1))
    if ph > kh // 2 or pw > kw // 2:
        raise Problem(f"pooling padding ({ph}) must be at most half the window ({kh}x{kw})", code="bad-pool-padding")
    oh = window(layer, h, kh, sh, ph, 1, a["ceil_mode"], "height")
    ow = window(layer, w, kw, sw, pw, 1, a["ceil_mode"], "width")
    layer.out_shape = (c, oh, ow)
    layer.derived = Derived(kernel=(kh, kw), stride=(sh, sw), padding=(ph, pw), adaptive=False)


def _windows(size: int, out: int) -> int:
    """Total length of adaptive pooling's windows along one axis (PyTorch's floor/ceil bounds)."""
    return sum(-(-(i + 1) * size // out) - (i * size // out) for i in range(out))


def _reads(layer) -> int:
    """Input elements read by a pooling layer over all its windows (padding included)."""
    c, h, w = layer.in_shape
    if layer.derived.adaptive:
        oh, ow = layer.attrs["output"]
        return c * _windows(h, oh) * _windows(w, ow)
    kh, kw = layer.derived.kernel
    return numel(layer.out_shape) * kh * kw


def _maxpool_cost(layer, ctx: Context) -> Cost:
    indices = numel(layer.out_shape) * INDEX_BYTES
    return Cost(ops=_reads(layer) - numel(layer.out_shape), saves=(IN, ("argmax indices", indices)))


def _avgpool_cost(layer, ctx: Context) -> Cost:
    # Adaptive pooling to 1x1 is a mean, whose backward needs only the input's shape.
    to_one = layer.derived.adaptive and layer.out_shape[1:] == (1, 1)
    return Cost(ops=_reads(layer), saves=() if to_one else (IN,))


def _emitter(kind: str):
    def emit(e) -> tuple[str, object]:
        layer = e.layer
        if layer.attrs.get("output"):
            return f"nn.Adaptive{kind}Pool2d({e.opt('output')})", e.unscaled(e.channels)
        kernel = e.opt("kernel")
        args = [f"kernel_size={kernel}"]
        stride = kernel
        if "stride" in layer.exprs:
            stride = e.opt("stride")
            args.append(f"stride={stride}")
        pad = e.padding(kernel, e.lit(1))
        args += e.keywords([("padding", pad, 0), ("ceil_mode", e.opt("ceil_mode"), False)])
        if kind == "Avg":
            args += e.keywords([("count_include_pad", e.opt("count_include_pad"), True)])
        return f"nn.{kind}Pool2d({', '.join(args)})", e.scaled(stride, e.channels)

    return emit


def _describe(layer) -> str:
    a = layer.attrs
    if a.get("output"):
        return f"{layer.op}(output={a['output'][0]})"
    k = a["kernel"][0] if isinstance(a["kernel"], tuple) else a["kernel"]
    s = a["stride"][0] if a["stride"] else k
    return f"{layer.op}{k}" + (f"/{s}" if s != k else "")


def _gap_shape(layer, ins: list[Shape], ir) -> None:
    c, _, _ = spatial(layer, ins[0])
    layer.out_shape = (c, 1, 1)


_pool = partial(LayerSpec, slash="stride", kernel_in_word=True, shape=_shape, params=no_params, stateless=True,
                inplace_after=frozenset(), fresh_output=True, fold=NO_FOLD, counts_in_depth=False,
                describe=_describe, color=COLOR)
register(_pool(
    "maxpool", "maxpool", "nn.MaxPool2d / nn.AdaptiveMaxPool2d", "max pooling (2x2, stride 2 by default)",
    options=_options("maxpool"), example="maxpool, maxpool3/2 (overlapping), maxpool3/1(padding=1, ceil_mode=true)",
    cost=_maxpool_cost, emit=_emitter("Max"),
))
register(_pool(
    "avgpool", "avgpool", "nn.AvgPool2d / nn.AdaptiveAvgPool2d", "average pooling (2x2, stride 2 by default)",
    options=_options("avgpool") + (Option("count_include_pad", "bool", True, "count padded zeros in the average"),),
    example="avgpool, avgpool5/3, avgpool(output=7)", cost=_avgpool_cost, emit=_emitter("Avg"),
))
register(LayerSpec(
    "gap", "gap", "nn.AdaptiveAvgPool2d", "global average pooling to 1x1", example="gap",
    shape=_gap_shape, params=no_params, cost=lambda layer, ctx: Cost(ops=numel(layer.in_shape)),
    emit=lambda e: ("nn.AdaptiveAvgPool2d((1, 1))", e.unscaled(e.channels)), stateless=True,
    inplace_after=frozenset(), fresh_output=False, fold=NO_FOLD, counts_in_depth=False,
    naming=lambda attrs: "avgpool", color=COLOR,
))
