"""Shape inference: every tensor's shape and every layer's parameter count, before any weight exists.

Pure Python over the graph IR (no torch). Shapes exclude the batch: (C, H, W) for feature maps,
(F,) after flatten. Each rule sits in one table keyed by op; a rule that finds a problem raises
`_Problem`, which becomes a diagnostic at the layer's source span. Inference continues past an
error (downstream layers of a failed one are skipped) so independent errors are all reported.
"""

from __future__ import annotations

from collections.abc import Callable

from archdsl.errors import Note, Reporter
from archdsl.ir.expansion import IR, Layer

Shape = tuple[int, ...]


class _Problem(Exception):
    def __init__(self, message: str, hint: str | None = None, notes: list[Note] | None = None, *, code: str):
        super().__init__(message)
        self.message, self.hint, self.notes, self.code = message, hint, notes or [], code


class _TooSmall(_Problem):
    """A window that does not fit its input: a larger network input would fix it."""


def fmt(shape: Shape | None) -> str:
    if shape is None:
        return "?"
    return "x".join(str(d) for d in shape)


def infer(ir: IR) -> IR:
    """Fill in shapes, parameter counts and derived sizes; raise ArchError listing every problem."""
    reporter = Reporter(ir.program.sources)
    too_small = None
    for layer in ir.layers:  # creation order is a topological order
        ins = [ir.layers[i].out_shape for i in layer.inputs]
        if any(s is None for s in ins):
            continue
        layer.in_shape = ins[0] if ins else None
        try:
            RULES[layer.op](layer, ins, ir)
        except _Problem as problem:
            reporter.error(problem.message, layer.span, hint=problem.hint, notes=problem.notes, code=problem.code)
            if isinstance(problem, _TooSmall) and too_small is None:
                too_small = reporter.diagnostics[-1]
    if too_small is not None:
        fits = smallest_input(ir)
        if fits:
            too_small.hint += f"; an input of at least {fmt(fits)} would work"
    for x, y, span in ir.conditionals:
        before, after = ir.layers[x].out_shape, ir.layers[y].out_shape
        if before is not None and after is not None and before != after:
            reporter.error(f"a conditional statement must keep the shape, but this one turns {fmt(before)} into "
                           f"{fmt(after)}", span, hint="only layers that keep the shape (bn, dropout, relu, ...) "
                                                       "can be switched off with `if`", code="conditional-shape")
    reporter.raise_if_errors()
    return ir


def smallest_input(ir: IR, limit: int = 1 << 16) -> Shape | None:
    """The smallest square-ish input (C, max(H, s), max(W, s)) on which no window runs out of pixels.

    A binary search over s, re-running inference (it leaves the IR's shapes scrambled: call it
    only on the way to an error). None when even `limit` pixels do not help or the network is
    too large to search quickly.
    """
    if len(ir.layers) > 20_000:
        return None
    c, h, w = ir.input_shape
    source = ir.layers[ir.input]

    def fits(s: int) -> bool:
        source.attrs["shape"] = (c, max(h, s), max(w, s))
        for layer in ir.layers:
            layer.out_shape = None
        for layer in ir.layers:
            ins = [ir.layers[i].out_shape for i in layer.inputs]
            if any(shape is None for shape in ins):
                continue
            try:
                RULES[layer.op](layer, ins, ir)
            except _TooSmall:
                return False
            except _Problem:
                continue
        return True

    lo, hi = max(h, w), limit
    if not fits(hi):
        return None
    while lo < hi:
        mid = (lo + hi) // 2
        if fits(mid):
            hi = mid
        else:
            lo = mid + 1
    return (c, max(h, lo), max(w, lo))


def total_params(ir: IR) -> int:
    return sum(layer.params for layer in ir.enabled_layers())


def _spatial(layer: Layer, shape: Shape) -> tuple[int, int, int]:
    if len(shape) != 3:
        raise _Problem(f"'{layer.word}' needs a feature map (C, H, W) but gets {fmt(shape)} features",
                       hint="spatial layers must come before `flatten`", code="shape-mismatch")
    return shape  # type: ignore[return-value]


def _padding(layer: Layer, kernel: tuple[int, int], dilation: tuple[int, int]) -> tuple[int, int]:
    pad = layer.attrs.get("padding", 0)
    if pad == "valid":
        return (0, 0)
    if pad == "same":
        spans = [d * (k - 1) for k, d in zip(kernel, dilation)]
        if any(s % 2 for s in spans):
            raise _Problem(f"'same' padding needs an odd kernel, got {kernel[0]}x{kernel[1]}",
                           hint="give the padding as a number, e.g. padding=1", code="even-kernel-same")
        return (spans[0] // 2, spans[1] // 2)
    return (pad, pad)


def _window(layer: Layer, size: int, k: int, s: int, p: int, d: int, ceil: bool, axis: str) -> int:
    span = size + 2 * p - d * (k - 1) - 1
    out = (-(-span // s) if ceil else span // s) + 1
    if ceil and (out - 1) * s >= size + p:
        out -= 1  # PyTorch's rule: the last window must start inside the input or its left padding
    if out < 1:
        need = d * (k - 1) + 1 - 2 * p
        raise _TooSmall(f"the output {axis} of '{layer.word}' would be {out}: its input {axis} is only {size}",
                       hint=f"this layer needs at least {need} pixels here; use a larger input, less pooling, "
                            "or more padding", code="input-too-small")
    return out


def _conv(layer: Layer, ins: list[Shape], ir: IR) -> None:
    c, h, w = _spatial(layer, ins[0])
    a = layer.attrs
    (kh, kw), (sh, sw), (dh, dw) = a["kernel"], a["stride"], a["dilation"]
    ph, pw = _padding(layer, (kh, kw), (dh, dw))
    groups, out = a["groups"], a["channels"]
    if c % groups or out % groups:
        raise _Problem(f"groups={groups} must divide both the input channels ({c}) and the filters ({out})",
                       code="bad-groups")
    oh = _window(layer, h, kh, sh, ph, dh, False, "height")
    ow = _window(layer, w, kw, sw, pw, dw, False, "width")
    layer.out_shape = (out, oh, ow)
    layer.params = out * (c // groups) * kh * kw + (out if a["bias"] else 0)
    layer.derived = {"in_channels": c, "padding": (ph, pw)}


def _linear(layer: Layer, ins: list[Shape], ir: IR) -> None:
    if len(ins[0]) != 1:
        c, h, w = ins[0]
        raise _Problem(f"'fc' gets a feature map {fmt(ins[0])}; it needs flat features",
                       hint=f"insert `flatten` before it ({c}*{h}*{w} = {c * h * w} features), or pool first (`gap`)",
                       code="shape-mismatch")
    (features,) = ins[0]
    out = layer.attrs["features"]
    layer.out_shape = (out,)
    layer.params = features * out + (out if layer.attrs["bias"] else 0)
    layer.derived = {"in_features": features}


def _pool(layer: Layer, ins: list[Shape], ir: IR) -> None:
    c, h, w = _spatial(layer, ins[0])
    a = layer.attrs
    if a.get("output"):
        layer.out_shape = (c, *a["output"])
        layer.derived = {"adaptive": True}
        return
    kh, kw = a["kernel"] if isinstance(a["kernel"], tuple) else (a["kernel"], a["kernel"])
    sh, sw = a["stride"] or (kh, kw)
    ph, pw = _padding(layer, (kh, kw), (1, 1))
    if ph > kh // 2 or pw > kw // 2:
        raise _Problem(f"pooling padding ({ph}) must be at most half the window ({kh}x{kw})", code="bad-pool-padding")
    oh = _window(layer, h, kh, sh, ph, 1, a["ceil_mode"], "height")
    ow = _window(layer, w, kw, sw, pw, 1, a["ceil_mode"], "width")
    layer.out_shape = (c, oh, ow)
    layer.derived = {"kernel": (kh, kw), "stride": (sh, sw), "padding": (ph, pw), "adaptive": False}


def _gap(layer: Layer, ins: list[Shape], ir: IR) -> None:
    c, _, _ = _spatial(layer, ins[0])
    layer.out_shape = (c, 1, 1)


def _same(layer: Layer, ins: list[Shape], ir: IR) -> None:
    layer.out_shape = ins[0]


def _spatial_same(layer: Layer, ins: list[Shape], ir: IR) -> None:
    layer.out_shape = _spatial(layer, ins[0])


def _bn(layer: Layer, ins: list[Shape], ir: IR) -> None:
    n = ins[0][0]
    layer.out_shape = ins[0]
    layer.params = 2 * n if layer.attrs["affine"] else 0
    layer.buffers = 2 * n + 1
    layer.derived = {"num_features": n, "dims": 2 if len(ins[0]) == 3 else 1}


def _flatten(layer: Layer, ins: list[Shape], ir: IR) -> None:
    size = 1
    for d in ins[0]:
        size *= d
    layer.out_shape = (size,)


def _input(layer: Layer, ins: list[Shape], ir: IR) -> None:
    layer.out_shape = tuple(layer.attrs["shape"])


def _shortcut(layer: Layer, ins: list[Shape], ir: IR) -> None:
    """Decide the residual shortcut: identity, 1x1 projection (option B/C) or zero-padding (option A)."""
    source = ins[0]
    body = ir.layers[layer.attrs["target"]]
    target = body.out_shape
    if target is None:
        return
    mode = layer.attrs["mode"]
    if source == target and mode != "project_all":
        layer.out_shape, layer.derived = source, {"decision": "identity"}
        return
    both = [Note(f"the residual's body gives {fmt(target)}", body.span)]
    if len(source) != 3 or len(target) != 3:
        raise _Problem(f"residual add: the body gives {fmt(target)} but the input is {fmt(source)}", notes=both,
                       hint="flat residuals must keep their size", code="residual-mismatch")
    stride = []
    for size, want in zip(source[1:], target[1:]):
        s = next((s for s in range(1, size + 1) if -(-size // s) == want), None)
        if s is None:
            raise _Problem(f"residual add: the body gives {fmt(target)} but the input is {fmt(source)}, and no "
                           "strided shortcut maps one onto the other", notes=both,
                           hint="keep the body's spatial size a 1/stride of its input ('same' padding), or give "
                                "an explicit shortcut: residual<body | shortcut>", code="residual-mismatch")
        stride.append(s)
    c_in, c_out = source[0], target[0]
    if mode == "pad":
        if c_out < c_in:
            raise _Problem(f"zero-padding shortcut cannot reduce channels ({c_in} -> {c_out})", notes=both,
                           hint="use the projection shortcut: residual<...> (the default)", code="pad-shortcut-reduces")
        layer.derived = {"decision": "pad", "stride": tuple(stride), "pad_channels": c_out - c_in}
    else:
        layer.derived = {"decision": "projection", "stride": tuple(stride), "in_channels": c_in}
        layer.params = c_in * c_out + 2 * c_out  # 1x1 conv without bias, then batch norm
        layer.buffers = 2 * c_out + 1
    layer.out_shape = target


def _add(layer: Layer, ins: list[Shape], ir: IR) -> None:
    body, shortcut = ins
    if body != shortcut:
        raise _Problem(f"residual add: the body gives {fmt(body)} but the shortcut gives {fmt(shortcut)}",
                       notes=[Note(f"the body ends here with {fmt(body)}", ir.layers[layer.inputs[0]].span),
                              Note(f"the shortcut ends here with {fmt(shortcut)}", ir.layers[layer.inputs[1]].span)],
                       hint="make the shortcut produce the body's shape, or leave it out to get a projection",
                       code="residual-mismatch")
    layer.out_shape = body


def _concat(layer: Layer, ins: list[Shape], ir: IR) -> None:
    spans = [ir.layers[i].span for i in layer.inputs]
    for shape in ins:
        if len(shape) != 3:
            raise _Problem(f"inception branches must give feature maps, one gives {fmt(shape)}",
                           code="inception-mismatch")
    sizes = {shape[1:] for shape in ins}
    if len(sizes) > 1:
        notes = [Note(f"branch {i} gives {fmt(shape)}", span) for i, (shape, span) in enumerate(zip(ins, spans), 1)]
        raise _Problem("inception branches differ in spatial size: " +
                       ", ".join(f"{s[1]}x{s[2]}" for s in ins), notes=notes,
                       hint="give every branch the same stride and 'same' padding", code="inception-mismatch")
    layer.out_shape = (sum(s[0] for s in ins), *ins[0][1:])


RULES: dict[str, Callable[[Layer, list[Shape], IR], None]] = {
    "input": _input, "conv": _conv, "linear": _linear, "maxpool": _pool, "avgpool": _pool, "gap": _gap,
    "relu": _same, "tanh": _same, "sigmoid": _same, "softmax": _same, "dropout": _same, "lrn": _spatial_same,
    "bn": _bn, "flatten": _flatten, "shortcut": _shortcut, "add": _add, "concat": _concat,
    "output": _same, "side_output": _same,
}
