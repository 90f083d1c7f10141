"""Shape inference: every tensor's shape and every layer's parameter count, before any weight exists.

Pure Python over the graph IR (no torch). Shapes exclude the batch: (C, H, W) for feature maps,
(F,) after flatten. Each op's shape and parameter rules are in its layer registry entry
(archdsl/layers/); a rule that finds a problem raises `Problem` (geometry.py), which becomes a
diagnostic at the layer's source span. Inference continues past an error (downstream layers of
a failed one are skipped) so independent errors are all reported.
"""

from __future__ import annotations

from archdsl.errors import Diagnostic, Reporter
from archdsl.ir.nodes import IR, Join, Layer
from archdsl.layers import OPS
from archdsl.shapes.geometry import Problem, Shape, TooSmall, fmt

# The height and width a switched-off layer's shapes are worked out on where its real input is too small
# (see _apply): larger than any window, and still a size after a network's worth of halvings.
OFF_SIZE = 1 << 12


def infer(ir: IR) -> IR:
    """Fill in shapes, parameter counts and derived sizes; raise ArchError listing every problem."""
    reporter = Reporter(ir.program.sources)
    too_small = infer_from(ir, 0, reporter)
    if too_small is not None:
        fits = smallest_input(ir)
        if fits:
            too_small.hint = f"{too_small.hint}; an input of at least {fmt(fits)} would work"
    reporter.raise_if_errors()
    return ir


def _layout(ir: IR, layer: Layer, takes_last: bool) -> None:
    """A layer's output is channels last where its input is (permute's rule changes that); only the ops
    whose entry says `last_dim` take such a tensor, the others would read its height as channels."""
    layer.nhwc = any(ir.layers[i].nhwc for i in layer.inputs)
    if layer.nhwc and not takes_last:
        h, w, c = ir.layers[layer.inputs[0]].out_shape or (0, 0, 0)
        what = {"shortcut": "a residual", "add": "a residual", "concat": "a concat", "inception": "an inception",
                "mul": "a gate", "chunk": "a split"}.get(  # joins: name the construct the user wrote
            layer.word if layer.op == Join.CONCAT else layer.op, f"'{layer.describe()}'")
        raise Problem(f"{what} needs a channels-first feature map (C, H, W), but gets a channels-last "
                      f"one (H, W, C) = {h}x{w}x{c}",
                      hint="turn it back first with `permute(0, 3, 1, 2)`; channels last take only element-wise "
                           "layers, `ln` and `fc`", code="channels-last")


def infer_from(ir: IR, start: int, reporter: Reporter) -> Diagnostic | None:
    """Infer the layers from `start` on, reporting their problems; the first too-small window's diagnostic.

    Expansion calls it too, on the layers made so far, to know a block's `in_channels`."""
    too_small = None
    for layer in ir.layers[start:]:  # creation order is a topological order
        ins = _input_shapes(ir, layer)
        if ins is None:
            continue
        layer.in_shape = ins[0] if ins else None
        spec = OPS[layer.op]
        try:
            _apply(ir, layer, ins)
        except Problem as problem:
            reporter.error(problem.message, layer.span, hint=problem.hint, notes=problem.notes, code=problem.code)
            if isinstance(problem, TooSmall) and too_small is None:
                too_small = reporter.diagnostics[-1]
            continue
        if layer.out_shape is not None:
            layer.params, layer.buffers = spec.params(layer)
    return too_small


def _apply(ir: IR, layer: Layer, ins: list[Shape]) -> None:
    """Run the layer's shape rule. A layer switched off by `if` in this use does not exist here, so its
    size is not checked: where its input is too small (or no longer fits a tensor it meets, after such a
    layer), the rule runs again on inputs enlarged to OFF_SIZE, and the layer is `unsized`. The class
    that holds it still needs its channels and options, so every other problem is reported."""
    spec = OPS[layer.op]
    layer.unsized = not layer.enabled and any(ir.layers[i].unsized for i in layer.inputs)
    try:
        _layout(ir, layer, spec.last_dim)
        spec.shape(layer, ins, ir)
    except Problem as problem:
        if layer.enabled or not (isinstance(problem, TooSmall) or layer.unsized):
            raise
        try:
            spec.shape(layer, [_enlarged(ir, i, shape) for i, shape in zip(layer.inputs, ins)], ir)
        except Problem:
            raise problem from None
        layer.unsized = True


def _enlarged(ir: IR, source: int, shape: Shape) -> Shape:
    """`shape`, the output of layer `source`, with its height and width OFF_SIZE."""
    if len(shape) != 3:
        return shape
    return (OFF_SIZE, OFF_SIZE, shape[2]) if ir.layers[source].nhwc else (shape[0], OFF_SIZE, OFF_SIZE)


def _input_shapes(ir: IR, layer: Layer) -> list[Shape] | None:
    """The shapes `layer` reads; None while one is unknown (a layer before it failed, so it is skipped)."""
    shapes = []
    for i in layer.inputs:
        shape = ir.layers[i].out_shape
        if shape is None:
            return None
        shapes.append(shape)
    return shapes


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
            ins = _input_shapes(ir, layer)
            if ins is None:
                continue
            try:
                _apply(ir, layer, ins)
            except TooSmall:
                return False
            except Problem:
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
