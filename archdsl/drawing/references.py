"""References in a drawing: which edges a `@label` makes, and the U that skip connections draw.

A reference is an edge like any other in the IR (the reader's `inputs` hold the referenced layer);
a drawing shows it apart, dashed and named, so it has to be found again here. A reference whose
path in between goes down to a lower resolution and back up (U-Net's copy-and-crop) is a skip:
its source and reader are drawn side by side on one rank, and the way back up is drawn rising,
so that an encoder-decoder is a U instead of a chain with long edges down its side.
"""

from __future__ import annotations

import heapq
import math
from dataclasses import dataclass, field

from archdsl.errors import Span
from archdsl.ir.nodes import IR, Join, Layer, Step, StepKind
from archdsl.layers import OPS


@dataclass(frozen=True)
class Reference:
    source: int  # the referenced layer
    reader: int  # a layer that reads it through the reference
    name: str  # as written after the `@`
    data: bool  # `@d4` as a statement: the reader computes on its tensor; False: an option (`crop(@up4)`)
    at: int = -1  # a statement's: the tensor current where it stands, which its path rejoins downstream


@dataclass
class Skips:
    """Layout constraints of the skip connections, as pairs of layer ids."""

    same_rank: list[tuple[int, int]] = field(default_factory=list)  # (source, reader) drawn side by side
    rising: set[tuple[int, int]] = field(default_factory=set)  # edges (from, to) on a way back up: drawn upwards


def references(ir: IR) -> list[Reference]:
    """Every reference edge of the network, data references (statements) first, then options."""
    found: list[Reference] = []
    lines: dict[str, list[str]] = {}  # a file's lines, split where a reference stands in it
    for inst in ir.instances:
        _walk(ir, inst.steps, math.inf, found, lines)
    for layer in ir.layers:
        spec = OPS.get(layer.op)
        if spec is None:
            continue
        # The same order as expansion gives the extra inputs: one per tensor option that is set.
        names = [str(layer.attrs[o.name]) for o in spec.options if o.kind == "tensor" and layer.attrs.get(o.name)]
        found += [Reference(source, layer.id, name, False) for source, name in zip(layer.inputs[1:], names)]
    return found


def _walk(ir: IR, steps: list[Step], bound: float, found: list[Reference], lines: dict[str, list[str]]) -> None:
    """REF steps: the layers reading the referenced tensor that the statements after the reference made.

    Layer ids follow expansion order, so those are the readers made after the reference's input (a
    reader of the labelled statement made before it is the statement that followed the label) and
    no later than the next statement's output.
    """
    untils: list[float] = []  # per step, the output of the next statement that makes layers
    for step in reversed(steps):
        untils.append(bound)
        if step.kind != StepKind.REF:
            bound = step.out_node
    for step, until in zip(steps, reversed(untils)):
        if step.kind == StepKind.REF and step.out_node != step.in_node:
            name = _written(step.span, lines, ir.program.sources) or step.name or ""
            found += [Reference(step.out_node, r, name, True, step.in_node)
                      for r in ir.layers[step.out_node].outputs if step.in_node < r <= until]
        for inner in (step.body, step.shortcut_steps, *step.branch_steps, *step.factors):
            _walk(ir, inner, step.out_node, found, lines)


def _written(span: Span, lines: dict[str, list[str]], sources: dict[str, str]) -> str | None:
    """The reference as the file writes it, `backbone.layer2`: Step.name is the variable keeping it."""
    if span.file not in lines:
        lines[span.file] = sources.get(span.file, "").splitlines()
    text = lines[span.file]
    if span.end_line != span.line or span.end_column is None or not 0 < span.line <= len(text):
        return None
    return text[span.line - 1][span.column - 1:span.end_column - 1].lstrip("@").strip() or None


def skips(ir: IR, refs: list[Reference]) -> Skips:
    """The data references whose path in between dips below both ends' resolution, laid out as a U."""
    out = Skips()
    jumps = {(ref.source, ref.reader) for ref in refs}
    for ref in refs:
        if not ref.data:  # an option reads a shape (crop, upsample to a size): no data comes across
            continue
        # Where the reference's path and the main one meet: U-Net's crop reads both; a head's low-level
        # branch meets its high-level one at a later concat or add.
        meet = _meet(ir, ref.reader, ref.at)
        if meet is None or ir.layers[meet].op == Join.OUTPUT:  # named outputs meet only in the returned dict
            continue
        between = _between(ir, ref.source, meet)
        # The bottom of the U is on the main path, not in a squeeze-and-excitation's 1x1 side branch.
        areas = {n: a for n in _on_every_path(ir, ref.source, meet, between, jumps)
                 if (a := _area(ir.layers[n])) is not None}
        ends = [_area(ir.layers[ref.source]), _area(ir.layers[meet])]
        if not areas or None in ends or min(areas.values()) >= min(a for a in ends if a is not None):
            continue
        low = min(areas.values())
        bottom = max(n for n, a in areas.items() if a == low)  # the last layer at the lowest resolution
        up = _descendants(ir, bottom, between)
        ups = up | {bottom}
        out.same_rank.append((ref.source, ref.reader))
        out.rising.update((a, b) for b in up | {meet} for a in ir.layers[b].inputs if a in ups)
    return out


def _meet(ir: IR, a: int, b: int) -> int | None:
    """The first layer reachable from both `a` and `b` (themselves included), or None.

    Visited in id order, which is topological: a layer is popped after all its ancestors, so it is
    known to be reached from both when popped. Only the stretch up to the meeting point is visited.
    """
    reached = {a: 1}  # which of the two reaches each layer, as bits
    reached[b] = reached.get(b, 0) | 2
    todo = sorted(reached)  # a sorted list is a heap
    while todo:
        n = heapq.heappop(todo)
        if reached[n] == 3:
            return n
        for m in ir.layers[n].outputs:
            if not ir.layers[m].enabled:
                continue
            if m not in reached:
                reached[m] = 0
                heapq.heappush(todo, m)
            reached[m] |= reached[n]
    return None


def _on_every_path(ir: IR, source: int, meet: int, between: set[int], jumps: set[tuple[int, int]]) -> list[int]:
    """The layers of `between` that every path from `source` to `meet` passes, references' edges left out
    (U-Net's inner copy-and-crops would otherwise bypass its bottom).

    In id order (topological) a layer is passed by every path unless some edge jumps over it.
    """
    inside = between | {meet}
    far, passed = source, []
    for n in sorted(between | {source}):
        if n != source and far <= n:
            passed.append(n)
        far = max([far] + [m for m in ir.layers[n].outputs if m in inside and (n, m) not in jumps])
    return passed


def _between(ir: IR, source: int, reader: int) -> set[int]:
    """The enabled layers on some path from `source` to `reader`, both left out (ids are topological)."""
    back, todo = set(), [reader]
    while todo:
        for n in ir.layers[todo.pop()].inputs:
            if source < n and n not in back and ir.layers[n].enabled:
                back.add(n)
                todo.append(n)
    return _descendants(ir, source, back)


def _descendants(ir: IR, start: int, within: set[int] | None = None) -> set[int]:
    """The enabled layers reachable from `start`, only through `within` where given."""
    seen, todo = set(), [start]
    while todo:
        for n in ir.layers[todo.pop()].outputs:
            if (n in within if within is not None else ir.layers[n].enabled) and n not in seen:
                seen.add(n)
                todo.append(n)
    return seen


def _area(layer: Layer) -> int | None:
    """Height times width of the layer's output; None for a flat one (after flatten)."""
    s = layer.out_shape
    if s is None or len(s) != 3:
        return None
    return s[0] * s[1] if layer.nhwc else s[1] * s[2]
