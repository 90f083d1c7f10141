"""The joins of the graph IR, which are no layer words: input, output, side_output, shortcut, add, concat, mul,
chunk.

Internal entries, so that every op the IR holds is looked up one way; they have no emitter (the
code generator writes them as forward statements: `x += identity`, `torch.cat`, ...).
"""

from __future__ import annotations

from typing import Any

from archdsl.analysis.accounting import FOLLOW, IN, IN2, LOWER, Context, Cost, new, numel, view
from archdsl.errors import Note
from archdsl.ir.derived import Derived
from archdsl.layers.registry import NO_FOLD, LayerSpec, register
from archdsl.shapes.geometry import Problem, Shape, fmt, no_params, same


def _input_shape(layer, ins: list[Shape], ir) -> None:
    layer.out_shape = tuple(layer.attrs["shape"])


def _shortcut_shape(layer, ins: list[Shape], ir) -> None:
    """Decide the residual shortcut: identity, 1x1 projection (option B/C) or zero-padding (option A)."""
    source = ins[0]
    body = ir.layers[layer.attrs["target"]]
    target = body.out_shape
    if target is None:
        return
    mode = layer.attrs["mode"]
    if source == target and mode != "project_all":
        layer.out_shape, layer.derived = source, Derived(decision="identity")
        return
    if mode == "when_equal":  # MobileNet's use_res_connect: no add where the body changes the shape
        layer.out_shape, layer.derived = target, Derived(decision="none")
        return
    both = [Note(f"the residual's body gives {fmt(target)}", body.span)]
    if len(source) != 3 or len(target) != 3:
        raise Problem(f"residual add: the body gives {fmt(target)} but the input is {fmt(source)}", notes=both,
                      hint="flat residuals must keep their size", code="residual-mismatch")
    stride = []
    for size, want in zip(source[1:], target[1:]):
        s = next((s for s in range(1, size + 1) if -(-size // s) == want), None)
        if s is None:
            raise Problem(f"residual add: the body gives {fmt(target)} but the input is {fmt(source)}, and no "
                          "strided shortcut maps one onto the other", notes=both,
                          hint="keep the body's spatial size a 1/stride of its input ('same' padding), or give "
                               "an explicit shortcut: residual<body | shortcut>", code="residual-mismatch")
        stride.append(s)
    c_in, c_out = source[0], target[0]
    if mode in ("pad", "pad_both"):
        if c_out < c_in:
            raise Problem(f"zero-padding shortcut cannot reduce channels ({c_in} -> {c_out})", notes=both,
                          hint="use the projection shortcut: residual<...> (the default)", code="pad-shortcut-reduces")
        extra = c_out - c_in
        layer.derived = Derived(decision="pad", stride=(stride[0], stride[1]), pad_channels=extra,
                                pad_before=extra // 2 if mode == "pad_both" else 0)
    else:
        layer.derived = Derived(decision="projection", stride=(stride[0], stride[1]), in_channels=c_in)
    layer.out_shape = target


def _shortcut_params(layer) -> tuple[int, int]:
    if layer.derived.decision != "projection":
        return 0, 0
    c_in, c_out = layer.derived.in_channels, layer.out_shape[0]
    return c_in * c_out + 2 * c_out, 2 * c_out + 1  # 1x1 conv without bias, then batch norm


def _shortcut_cost(layer, ctx: Context) -> Cost:
    decision = layer.derived.decision
    if decision == "identity":
        return Cost(alias=True)
    if decision in ("pad", "none"):
        return Cost()  # a strided slice (a view) zero-padded into a new tensor; backward keeps nothing
    # projection: 1x1 conv (no bias) then batch norm; the conv's output is an intermediate tensor.
    n, c_out = numel(layer.out_shape), layer.out_shape[0]
    return Cost(macs=n * layer.derived.in_channels + n, extra_bytes=n * ctx.float_bytes,
                saves=(IN, *ctx.weight_copy(c_out * layer.derived.in_channels), ("projection conv output",
                       n * ctx.float_bytes), ("batch statistics", 2 * c_out * ctx.param_bytes)),
                buffer_bytes=2 * c_out * ctx.param_bytes + 8)


def _add_shape(layer, ins: list[Shape], ir) -> None:
    body, shortcut = ins
    if ir.layers[layer.inputs[1]].derived.decision == "none":  # nothing to add: the body's output goes on
        layer.out_shape, layer.derived = body, Derived(decision="none")
        return
    if body != shortcut:
        raise Problem(f"residual add: the body gives {fmt(body)} but the shortcut gives {fmt(shortcut)}",
                      notes=[Note(f"the body ends here with {fmt(body)}", ir.layers[layer.inputs[0]].span),
                             Note(f"the shortcut ends here with {fmt(shortcut)}", ir.layers[layer.inputs[1]].span)],
                      hint="make the shortcut produce the body's shape, or leave it out to get a projection",
                      code="residual-mismatch")
    layer.out_shape = body


def _concat_shape(layer, ins: list[Shape], ir) -> None:
    spans = [ir.layers[i].span for i in layer.inputs]
    word = layer.word  # the construct the user wrote: concat, its synonym inception, or split
    for shape in ins:
        if len(shape) != 3:
            raise Problem(f"{word} branches must give feature maps, one gives {fmt(shape)}",
                          code="inception-mismatch")
    sizes = {shape[1:] for shape in ins}
    if len(sizes) > 1:
        notes = [Note(f"branch {i} gives {fmt(shape)}", span) for i, (shape, span) in enumerate(zip(ins, spans), 1)]
        raise Problem(f"{word} branches differ in spatial size: " +
                      ", ".join(f"{s[1]}x{s[2]}" for s in ins), notes=notes,
                      hint="give every branch the same stride and 'same' padding", code="inception-mismatch")
    layer.out_shape = (sum(s[0] for s in ins), *ins[0][1:])


def _broadcasts(small: Shape, big: Shape) -> bool:
    """Whether `small` multiplies onto `big` elementwise: the same channels (or features), and the same
    spatial size or 1x1 (a gate per channel)."""
    return len(small) == len(big) and small[0] == big[0] and (small[1:] == big[1:] or set(small[1:]) == {1})


def _mul_shape(layer, ins: list[Shape], ir) -> None:
    a, b = ins
    if layer.attrs["paths"] == 1:  # x * body(x): the body's output is the gate
        if _broadcasts(b, a):
            layer.out_shape = a
            return
        raise Problem(f"gate: the body gives {fmt(b)}, which does not multiply onto its input {fmt(a)}",
                      notes=[Note(f"the body ends here with {fmt(b)}", ir.layers[layer.inputs[1]].span)],
                      hint=f"the body must keep the {a[0]} channels and give the input's size or 1x1 "
                           "(e.g. gap; conv1-s; relu; conv1-c; sigmoid)", code="gate-mismatch")
    for big, small in ((a, b), (b, a)):
        if _broadcasts(small, big):
            layer.out_shape = big
            return
    raise Problem(f"gate: the first path gives {fmt(a)} and the second {fmt(b)}, which do not multiply "
                  "elementwise",
                  notes=[Note(f"the first path ends here with {fmt(a)}", ir.layers[layer.inputs[0]].span),
                         Note(f"the second path ends here with {fmt(b)}", ir.layers[layer.inputs[1]].span)],
                  hint="give both paths the same channels, and the same spatial size or 1x1 for one of them",
                  code="gate-mismatch")


def _mul_cost(layer, ctx: Context) -> Cost:
    # One multiply per output element, counted as a MAC like batch norm's scale (docs/analysis.md);
    # autograd keeps both factors to compute each one's gradient.
    return Cost(macs=numel(layer.out_shape), saves=(IN, IN2))


def _chunk_shape(layer, ins: list[Shape], ir) -> None:
    shape, parts = ins[0], layer.attrs["parts"]
    if len(shape) != 3:
        raise Problem(f"split: its {parts} branches need a feature map to cut, but get {fmt(shape)} flat features",
                      hint="split before `flatten`", code="bad-split")
    if shape[0] % parts:
        raise Problem(f"split: {shape[0]} channels ({fmt(shape)}) cannot be cut into {parts} equal parts",
                      hint=f"give it a multiple of {parts} channels, or {parts} branches that divide {shape[0]}",
                      code="bad-split")
    layer.out_shape = (shape[0] // parts, *shape[1:])


def _join(op: str, doc: str, shape, cost, **rules) -> None:
    defaults: dict[str, Any] = {"params": no_params, "emit": None, "stateless": False, "inplace_after": frozenset(),
                                "fresh_output": False, "fold": NO_FOLD, "counts_in_depth": False, "internal": True}
    register(LayerSpec(op, op, "", doc, shape=shape, cost=cost, **{**defaults, **rules}))


_join("input", "the network's input", _input_shape, new)
# A network may end, or branch off a side output, channels last: its output is what it is.
_join("output", "the network's output", same, view, last_dim=True)
_join("side_output", "a side output (training mode only)", same, view, last_dim=True,
      describe=lambda layer: f"side output {layer.attrs['name']}")
_join("named_output", "a named output (an entry of the returned dict)", same, view, last_dim=True,
      describe=lambda layer: f"output {layer.attrs['name']}")
_join("shortcut", "a residual's shortcut: identity, projection or zero-padding", _shortcut_shape, _shortcut_cost,
      params=_shortcut_params, counts_in_depth=True, color="#f9e0d4",
      describe=lambda layer: f"shortcut({layer.derived.decision or layer.attrs['mode']})",
      autocast=lambda layer: LOWER if layer.derived.decision == "projection" else FOLLOW)  # a projection is a conv
_join("add", "a residual's sum", _add_shape,
      lambda layer, ctx: Cost(alias=True) if layer.derived.decision == "none" else Cost(ops=numel(layer.out_shape)))
_join("concat", "the concatenation of inception branches", _concat_shape, new)
_join("chunk", "one of a split's equal parts of the channels", _chunk_shape, view,
      describe=lambda layer: f"channels part {layer.attrs['index'] + 1}/{layer.attrs['parts']}")
_join("mul", "a gate's elementwise product", _mul_shape, _mul_cost,
      describe=lambda layer: "multiply")
