"""Analysis: exact MACs, parameters and memory of a shape-checked network, with no tracing.

Pure Python over the graph IR that shapes.py filled in (no torch, no weights). One table of
per-op rules, `RULES`, says for each op what one eval-mode forward pass at batch 1 costs and what
autograd keeps for the backward pass in training mode; every op the IR can hold has a rule, so
nothing is silently counted as zero. The counting convention (docs/analysis.md):

- MAC: one multiply-accumulate. conv: C_out*H_out*W_out*(C_in/groups*k_h*k_w + 1 for a bias);
  fc: out*(in + 1 for a bias) -- a bias add is one MAC per output, as torchinfo and ptflops count
  it; eval batch norm: one per element (its scale and shift); lrn: `size` per element (the
  windowed sum of squares). FLOPs = 2 x MACs.
- Everything else is counted apart, as `ops` (not multiply-adds): relu/tanh/sigmoid one per
  element, softmax three, max pooling one comparison per extra window element, average pooling
  one add per window element, residual add one per element, concat and flatten none.
- Memory is float32 (4 bytes an element). Activations: every tensor one forward pass creates,
  kept (the input image included; views, in-place ops and eval-mode dropout create none).
- Training: parameters + gradients + the tensors autograd saves for backward (deduplicated by
  storage, as autograd shares them) + optimizer state if asked for.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import NamedTuple

from archdsl.ir.nodes import IR, Layer

FLOAT_BYTES = 4
INDEX_BYTES = 8  # max pooling keeps int64 argmax indices for backward
# Dropout's training mask: CUDA's fused kernel keeps one bool per element; the CPU kernel
# multiplies by a float32 mask, which it keeps.
MASK_BYTES = {"cuda": 1, "cpu": 4}
# Optimizer state, in float32 copies of the trainable parameters.
OPTIMIZER_COPIES = {"none": 0, "sgd": 0, "momentum": 1, "adam": 2, "adamw": 2}
# What counts towards a network's depth: layers with weights on the longest path.
WEIGHTED = {"conv", "linear", "shortcut"}

# A saved tensor is the layer's input, its output, or one of its own (a name and a size in bytes).
IN, OUT = "in", "out"
Saved = str | tuple[str, int]


class Cost(NamedTuple):
    """What one layer costs: arithmetic of an eval forward, and its memory behaviour."""

    macs: int = 0
    ops: int = 0
    alias: bool = False  # the output shares the input's memory (a view, an in-place op, an identity)
    extra_bytes: int = 0  # intermediate tensors besides the output (a projection shortcut's conv output)
    saves: tuple[Saved, ...] = ()  # kept by autograd for backward, in training mode
    buffer_bytes: int = 0


class Context(NamedTuple):
    """The pass being counted: training or eval mode, on which device (it decides mask sizes)."""

    training: bool
    device: str


@dataclass
class Row:
    """One layer's figures; `parts` is its module path (joins take their block's path + the op)."""

    layer: Layer
    parts: tuple[str, ...]
    eval: bool  # on the eval-mode path (False: a training-only side output)
    params: int
    buffers: int
    macs: int
    ops: int
    activation_bytes: int  # tensors this layer creates in an eval forward
    saved_bytes: int  # tensors it is first to keep for backward, in training

    @property
    def name(self) -> str:
        return ".".join(self.parts)

    def as_dict(self) -> dict:
        layer = self.layer
        return {"name": self.name, "op": layer.op, "layer": layer.describe(),
                "input_shape": list(layer.in_shape or ()), "output_shape": list(layer.out_shape or ()),
                "params": self.params, "buffers": self.buffers, "macs": self.macs, "ops": self.ops,
                "activation_bytes": self.activation_bytes, "saved_bytes": self.saved_bytes, "eval": self.eval}


@dataclass(repr=False)  # the generated repr would print every row and its layer
class Analysis:
    """A network's figures: per-layer rows and the totals of one forward pass at batch 1."""

    ir: IR
    rows: list[Row]
    params: int
    buffers: int
    buffer_bytes: int
    macs: int
    ops: int
    activation_bytes: int
    saved_bytes: int
    depth: int
    device: str
    optimizer: str = "none"

    def __repr__(self) -> str:
        return (f"<Analysis of network {self.ir.network.name}: {self.params:,} parameters, {self.macs:,} MACs, "
                f"{self.activation_bytes:,} activation bytes, {len(self.rows)} rows>")

    @property
    def flops(self) -> int:
        return 2 * self.macs

    @property
    def param_bytes(self) -> int:
        return self.params * FLOAT_BYTES + self.buffer_bytes

    @property
    def grad_bytes(self) -> int:
        return self.params * FLOAT_BYTES

    @property
    def optimizer_bytes(self) -> int:
        return OPTIMIZER_COPIES[self.optimizer] * self.params * FLOAT_BYTES

    @property
    def train_bytes(self) -> int:
        return self.param_bytes + self.grad_bytes + self.saved_bytes + self.optimizer_bytes

    def as_dict(self) -> dict:
        ir = self.ir
        return {
            "file": ir.file, "network": ir.network.name, "input": list(ir.input_shape), "batch": 1,
            "params": self.params, "buffers": self.buffers, "macs": self.macs, "flops": self.flops,
            "ops": self.ops, "activation_bytes": self.activation_bytes, "param_bytes": self.param_bytes,
            "train_bytes": self.train_bytes,
            "train": {"param_bytes": self.param_bytes, "grad_bytes": self.grad_bytes, "saved_bytes": self.saved_bytes,
                      "optimizer": self.optimizer, "optimizer_bytes": self.optimizer_bytes, "device": self.device},
            "depth": self.depth,
            "layers": [row.as_dict() for row in self.rows],
        }


def analyse(ir: IR, *, optimizer: str = "none", device: str = "cuda") -> Analysis:
    """Per-layer and total figures for one image (batch 1) through a shape-checked IR."""
    if optimizer not in OPTIMIZER_COPIES:
        raise ValueError(f"optimizer must be one of {', '.join(OPTIMIZER_COPIES)}")
    if device not in MASK_BYTES:
        raise ValueError(f"device must be one of {', '.join(MASK_BYTES)}")
    layers = ir.layers
    eval_path = _ancestors(ir, [ir.output])
    train_path = _ancestors(ir, [ir.output, *ir.sides.values()])
    evals = [_cost(layer, Context(False, device)) for layer in layers]
    trains = [_cost(layer, Context(True, device)) for layer in layers]
    train_store = _storage(layers, trains)

    # Saved tensors, deduplicated: a storage kept by several layers (a ReLU's output that the next
    # conv keeps too) is counted once, for the first layer that keeps it.
    kept: set = set()
    saved_by: dict[int, int] = {}
    for layer in layers:
        if layer.id not in train_path:
            continue
        for item in trains[layer.id].saves:
            if item == IN:
                key, size = ("storage", train_store[layer.inputs[0]]), _bytes(layers[train_store[layer.inputs[0]]])
            elif item == OUT:
                key, size = ("storage", train_store[layer.id]), _bytes(layers[train_store[layer.id]])
            else:
                key, size = (layer.id, item[0]), item[1]
            if key not in kept:
                kept.add(key)
                saved_by[layer.id] = saved_by.get(layer.id, 0) + size

    rows = []
    for layer in layers:
        if not layer.enabled or layer.op in ("output", "side_output") or layer.id not in train_path:
            continue
        cost, on_eval = evals[layer.id], layer.id in eval_path
        if layer.op == "shortcut" and cost.alias:
            continue  # an identity shortcut: nothing to show
        created = 0 if cost.alias else _bytes(layer) + cost.extra_bytes
        rows.append(Row(layer, _parts(ir, layer), on_eval, layer.params, layer.buffers,
                        cost.macs if on_eval else 0, cost.ops if on_eval else 0,
                        created if on_eval else 0, saved_by.get(layer.id, 0)))
    return Analysis(
        ir, rows,
        params=sum(r.params for r in rows), buffers=sum(r.buffers for r in rows),
        buffer_bytes=sum(evals[r.layer.id].buffer_bytes for r in rows),
        macs=sum(r.macs for r in rows), ops=sum(r.ops for r in rows),
        activation_bytes=sum(r.activation_bytes for r in rows), saved_bytes=sum(r.saved_bytes for r in rows),
        depth=_depth(ir, eval_path), device=device, optimizer=optimizer,
    )


def _ancestors(ir: IR, ends: list[int]) -> set[int]:
    seen, todo = set(ends), list(ends)
    while todo:
        for i in ir.layers[todo.pop()].inputs:
            if i not in seen:
                seen.add(i)
                todo.append(i)
    return seen


def _cost(layer: Layer, ctx: Context) -> Cost:
    if not layer.enabled:
        return Cost(alias=True)  # a statement switched off by `if`: the tensor passes through
    return RULES[layer.op](layer, ctx)


def _storage(layers: list[Layer], costs: list[Cost]) -> list[int]:
    """For each layer, the layer whose output memory its output lives in (itself unless an alias)."""
    owner = []
    for layer in layers:  # creation order is a topological order
        owner.append(owner[layer.inputs[0]] if costs[layer.id].alias and layer.inputs else layer.id)
    return owner


def _depth(ir: IR, path: set[int]) -> int:
    """Layers with weights on the longest path from input to output (VGG-16: 16, ResNet-50: 50)."""
    best: dict[int, int] = {}
    for layer in ir.layers:
        if layer.id not in path:
            continue
        before = max((best[i] for i in layer.inputs if i in best), default=0)
        best[layer.id] = before + (1 if layer.enabled and layer.op in WEIGHTED and layer.params else 0)
    return best.get(ir.output, 0)


def _parts(ir: IR, layer: Layer) -> tuple[str, ...]:
    if layer.member is not None:
        return layer.member.path
    if layer.op == "input":
        return ("input",)
    inst = ir.instances[layer.scope]
    return (*inst.path, layer.op)


def _numel(shape: tuple[int, ...] | None) -> int:
    n = 1
    for d in shape or ():
        n *= d
    return n


def _bytes(layer: Layer) -> int:
    return _numel(layer.out_shape) * FLOAT_BYTES


def _windows(size: int, out: int) -> int:
    """Total length of adaptive pooling's windows along one axis (PyTorch's floor/ceil bounds)."""
    return sum(-(-(i + 1) * size // out) - (i * size // out) for i in range(out))


def _pool_reads(layer: Layer) -> int:
    """Input elements read by a pooling layer over all its windows (padding included)."""
    c, h, w = layer.in_shape
    if layer.derived.get("adaptive"):
        oh, ow = layer.attrs["output"]
        return c * _windows(h, oh) * _windows(w, ow)
    kh, kw = layer.derived["kernel"]
    return _numel(layer.out_shape) * kh * kw


# -- the rules, one per op ---------------------------------------------------------------------
def _conv(layer: Layer, ctx: Context) -> Cost:
    kh, kw = layer.attrs["kernel"]
    per_output = layer.derived["in_channels"] // layer.attrs["groups"] * kh * kw + (1 if layer.attrs["bias"] else 0)
    return Cost(macs=_numel(layer.out_shape) * per_output, saves=(IN,))


def _linear(layer: Layer, ctx: Context) -> Cost:
    per_output = layer.derived["in_features"] + (1 if layer.attrs["bias"] else 0)
    return Cost(macs=per_output * layer.out_shape[0], saves=(IN,))


def _bn(layer: Layer, ctx: Context) -> Cost:
    c = layer.derived["num_features"]
    # Training keeps the batch mean and inverse standard deviation, one float each per channel.
    return Cost(macs=_numel(layer.out_shape), saves=(IN, ("batch statistics", 2 * c * FLOAT_BYTES)),
                buffer_bytes=2 * c * FLOAT_BYTES + 8)  # running mean and variance; an int64 batch counter


def _relu(layer: Layer, ctx: Context) -> Cost:
    return Cost(ops=_numel(layer.out_shape), alias=bool(layer.attrs.get("inplace")), saves=(OUT,))


def _pointwise(ops_per_element: int) -> Callable[[Layer, Context], Cost]:
    def rule(layer: Layer, ctx: Context) -> Cost:
        return Cost(ops=ops_per_element * _numel(layer.out_shape), saves=(OUT,))
    return rule


def _maxpool(layer: Layer, ctx: Context) -> Cost:
    indices = _numel(layer.out_shape) * INDEX_BYTES
    return Cost(ops=_pool_reads(layer) - _numel(layer.out_shape), saves=(IN, ("argmax indices", indices)))


def _avgpool(layer: Layer, ctx: Context) -> Cost:
    # Adaptive pooling to 1x1 is a mean, whose backward needs only the input's shape.
    to_one = layer.derived.get("adaptive") and layer.out_shape[1:] == (1, 1)
    return Cost(ops=_pool_reads(layer), saves=() if to_one else (IN,))


def _gap(layer: Layer, ctx: Context) -> Cost:
    return Cost(ops=_numel(layer.in_shape))


def _dropout(layer: Layer, ctx: Context) -> Cost:
    if not ctx.training:
        return Cost(alias=True)  # eval-mode dropout returns its input
    return Cost(saves=(("dropout mask", _numel(layer.out_shape) * MASK_BYTES[ctx.device]),))


def _lrn(layer: Layer, ctx: Context) -> Cost:
    c, h, w = layer.out_shape
    size, n = layer.attrs["size"], c * h * w
    # PyTorch's local_response_norm keeps its input, the zero-padded squares (C + size - 1 channels),
    # the pooled denominator before and after the power: measured with saved_tensors_hooks.
    squares = (c + size - 1) * h * w * FLOAT_BYTES
    return Cost(macs=size * n, ops=3 * n, saves=(IN, ("padded squares", squares), ("denominator", n * FLOAT_BYTES),
                                                 ("denominator ** beta", n * FLOAT_BYTES)))


def _view(layer: Layer, ctx: Context) -> Cost:
    return Cost(alias=True)


def _new(layer: Layer, ctx: Context) -> Cost:
    return Cost()


def _add(layer: Layer, ctx: Context) -> Cost:
    return Cost(ops=_numel(layer.out_shape))


def _shortcut(layer: Layer, ctx: Context) -> Cost:
    decision = layer.derived.get("decision")
    if decision == "identity":
        return Cost(alias=True)
    if decision == "pad":
        return Cost()  # a strided slice (a view) zero-padded into a new tensor; backward keeps nothing
    # projection: 1x1 conv (no bias) then batch norm; the conv's output is an intermediate tensor.
    n, c_out = _numel(layer.out_shape), layer.out_shape[0]
    return Cost(macs=n * layer.derived["in_channels"] + n, extra_bytes=n * FLOAT_BYTES,
                saves=(IN, ("projection conv output", n * FLOAT_BYTES), ("batch statistics", 2 * c_out * FLOAT_BYTES)),
                buffer_bytes=2 * c_out * FLOAT_BYTES + 8)


RULES: dict[str, Callable[[Layer, Context], Cost]] = {
    "input": _new, "conv": _conv, "linear": _linear, "bn": _bn, "relu": _relu,
    "tanh": _pointwise(1), "sigmoid": _pointwise(1), "softmax": _pointwise(3),
    "maxpool": _maxpool, "avgpool": _avgpool, "gap": _gap, "dropout": _dropout, "lrn": _lrn,
    "flatten": _view, "shortcut": _shortcut, "add": _add, "concat": _new,
    "output": _view, "side_output": _view,
}
