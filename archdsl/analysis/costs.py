"""Analysis: exact MACs, parameters and memory of a shape-checked network, with no tracing.

Pure Python over the graph IR that shapes.py filled in (no torch, no weights). Each op's cost rule,
in its layer registry entry (archdsl/layers/), says what one eval-mode forward pass at batch 1 costs
and what autograd keeps for the backward pass in training mode; the registry refuses an op without
one, so nothing is silently counted as zero. The counting convention (docs/analysis.md):

- MAC: one multiply-accumulate. conv: C_out*H_out*W_out*(C_in/groups*k_h*k_w + 1 for a bias);
  fc: out*(in + 1 for a bias) -- a bias add is one MAC per output, as torchinfo and ptflops count
  it; eval batch norm: one per element (its scale and shift); lrn: `size` per element (the
  windowed sum of squares). FLOPs = 2 x MACs.
- Everything else is counted apart, as `ops` (not multiply-adds): relu/tanh/sigmoid one per
  element, softmax three, max pooling one comparison per extra window element, average pooling
  one add per window element, residual add one per element, concat and flatten none. A gate's
  elementwise multiply is one MAC per output element (like batch norm's scale).
- Memory is float32 (4 bytes an element) unless `dtype` says otherwise: float16 and bfloat16 (2 bytes)
  as a model cast with `.to(dtype)`; "mixed" as torch.autocast runs a float32 model (its parameters stay
  float32; each op computes in the dtype of its autocast class, LayerSpec.autocast, and the casts it makes
  of its input count as tensors it creates and keeps). Activations: every tensor one forward pass creates,
  kept (the input image included; views, in-place ops and eval-mode dropout create none).
- Training: parameters + gradients + the tensors autograd saves for backward (deduplicated by
  storage, as autograd shares them) + optimizer state if asked for.
"""

from __future__ import annotations

from dataclasses import dataclass

from archdsl.analysis.accounting import (
    DTYPE_BYTES,
    DTYPES,
    FLOAT_BYTES,
    FOLLOW,
    FP32,
    IN,
    IN2,
    LOW_BYTES,
    LOWER,
    MASK_BYTES,
    WEIGHT_COPY,
    Context,
    Cost,
    numel,
)
from archdsl.ir.nodes import IR, Layer
from archdsl.layers import OPS

# Optimizer state, in float32 copies of the trainable parameters.
OPTIMIZER_COPIES = {"none": 0, "sgd": 0, "momentum": 1, "adam": 2, "adamw": 2}


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
    weight_copy_bytes: int = 0  # of saved_bytes, autocast's copies of its weights: one whatever the batch

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
    batch: int = 1  # the figures per forward pass are for this many samples (analysis/batching.py)
    dtype: str = "float32"  # one of accounting.DTYPES

    def __repr__(self) -> str:
        return (f"<Analysis of network {self.ir.network.name}: {self.params:,} parameters, {self.macs:,} MACs, "
                f"{self.activation_bytes:,} activation bytes, {len(self.rows)} rows>")

    @property
    def flops(self) -> int:
        return 2 * self.macs

    @property
    def element_bytes(self) -> int:
        """Of a parameter, its gradient and optimizer state: autocast leaves them float32."""
        return DTYPE_BYTES.get(self.dtype, FLOAT_BYTES)

    @property
    def param_bytes(self) -> int:
        return self.params * self.element_bytes + self.buffer_bytes

    @property
    def grad_bytes(self) -> int:
        return self.params * self.element_bytes

    @property
    def optimizer_bytes(self) -> int:
        return OPTIMIZER_COPIES[self.optimizer] * self.params * self.element_bytes

    @property
    def train_bytes(self) -> int:
        return self.param_bytes + self.grad_bytes + self.saved_bytes + self.optimizer_bytes

    def as_dict(self) -> dict:
        ir = self.ir
        return {
            "file": ir.file, "network": ir.network.name, "input": list(ir.input_shape), "batch": self.batch,
            "dtype": self.dtype,
            "params": self.params, "buffers": self.buffers, "macs": self.macs, "flops": self.flops,
            "ops": self.ops, "activation_bytes": self.activation_bytes, "param_bytes": self.param_bytes,
            "train_bytes": self.train_bytes,
            "train": {"param_bytes": self.param_bytes, "grad_bytes": self.grad_bytes, "saved_bytes": self.saved_bytes,
                      "optimizer": self.optimizer, "optimizer_bytes": self.optimizer_bytes, "device": self.device},
            "depth": self.depth,
            "layers": [row.as_dict() for row in self.rows],
            "outputs": {name: list(ir.layers[node].out_shape or ()) for name, node in ir.outputs.items()},
        }


def analyse(ir: IR, *, optimizer: str = "none", device: str = "cuda", dtype: str = "float32") -> Analysis:
    """Per-layer and total figures for one image (batch 1) through a shape-checked IR, in `dtype`."""
    if optimizer not in OPTIMIZER_COPIES:
        raise ValueError(f"optimizer must be one of {', '.join(OPTIMIZER_COPIES)}")
    if device not in MASK_BYTES:
        raise ValueError(f"device must be one of {', '.join(MASK_BYTES)}")
    if dtype not in DTYPES:
        raise ValueError(f"dtype must be one of {', '.join(DTYPES)}")
    layers = ir.layers
    eval_path = _ancestors(ir, [ir.output])
    train_path = _ancestors(ir, [ir.output, *ir.sides.values()])
    kinds, elem = _dtypes(layers, dtype)
    param_bytes = DTYPE_BYTES.get(dtype, FLOAT_BYTES)
    contexts = [Context(False, device, elem[layer.id], param_bytes, kinds[layer.id] == LOWER) for layer in layers]
    evals = [_cost(layer, ctx) for layer, ctx in zip(layers, contexts)]
    trains = [_cost(layer, ctx._replace(training=True)) for layer, ctx in zip(layers, contexts)]
    train_store = _storage(layers, trains)

    def cast(layer: Layer, source: int) -> bool:
        """Whether autocast hands `layer` a cast copy of its input `source` (a new tensor) rather than it."""
        return kinds[layer.id] == LOWER and elem[source] != LOW_BYTES

    def size(layer_id: int) -> int:
        return numel(layers[layer_id].out_shape) * elem[layer_id]

    # Saved tensors, deduplicated: a storage kept by several layers (a ReLU's output that the next
    # conv keeps too) is counted once, for the first layer that keeps it.
    kept: set[tuple[str, int] | tuple[int, str]] = set()  # ("storage", its owner) or (layer, its own tensor)
    saved_by: dict[int, int] = {}
    copies_by: dict[int, int] = {}
    for layer in layers:
        if layer.id not in train_path:
            continue
        for item in trains[layer.id].saves:
            key: tuple[str, int] | tuple[int, str]
            if isinstance(item, tuple):  # one of the layer's own tensors: (name, bytes)
                key, nbytes = (layer.id, item[0]), item[1]
                if item[0] == WEIGHT_COPY:
                    copies_by[layer.id] = copies_by.get(layer.id, 0) + nbytes
            elif item in (IN, IN2):
                source = layer.inputs[0 if item == IN else 1]
                if cast(layer, source):
                    key, nbytes = (layer.id, item), numel(layers[source].out_shape) * elem[layer.id]
                else:
                    key, nbytes = ("storage", train_store[source]), size(train_store[source])
            else:  # OUT
                key, nbytes = ("storage", train_store[layer.id]), size(train_store[layer.id])
            if key not in kept:
                kept.add(key)
                saved_by[layer.id] = saved_by.get(layer.id, 0) + nbytes

    rows = []
    for layer in layers:
        if not layer.enabled or layer.op in ("output", "side_output", "named_output") or layer.id not in train_path:
            continue
        cost, on_eval = evals[layer.id], layer.id in eval_path
        if layer.op == "shortcut" and cost.alias:
            continue  # an identity shortcut: nothing to show
        casts = sum(numel(layers[i].out_shape) * elem[layer.id] for i in layer.inputs if cast(layer, i))
        created = 0 if cost.alias else size(layer.id) + cost.extra_bytes + casts
        rows.append(Row(layer, _parts(ir, layer), on_eval, layer.params, layer.buffers,
                        cost.macs if on_eval else 0, cost.ops if on_eval else 0,
                        created if on_eval else 0, saved_by.get(layer.id, 0), copies_by.get(layer.id, 0)))
    return Analysis(
        ir, rows,
        params=sum(r.params for r in rows), buffers=sum(r.buffers for r in rows),
        buffer_bytes=sum(evals[r.layer.id].buffer_bytes for r in rows),
        macs=sum(r.macs for r in rows), ops=sum(r.ops for r in rows),
        activation_bytes=sum(r.activation_bytes for r in rows), saved_bytes=sum(r.saved_bytes for r in rows),
        depth=_depth(ir, eval_path), device=device, optimizer=optimizer, dtype=dtype,
    )


def _dtypes(layers: list[Layer], dtype: str) -> tuple[list[str], list[int]]:
    """Each layer's autocast class (FOLLOW for all but under "mixed") and the element size of its output.
    Under autocast the input is float32, a LOWER op computes in the low dtype, an FP32 one in float32, any
    other in the widest dtype of its inputs (as torch promotes them)."""
    if dtype != "mixed":
        return [FOLLOW] * len(layers), [DTYPE_BYTES[dtype]] * len(layers)
    kinds: list[str] = []
    elem: list[int] = []
    for layer in layers:  # creation order is a topological order
        rule = OPS[layer.op].autocast
        kind = (rule(layer) if callable(rule) else rule) if layer.enabled else FOLLOW
        kinds.append(kind)
        widest = max((elem[i] for i in layer.inputs), default=FLOAT_BYTES)
        elem.append(LOW_BYTES if kind == LOWER else FLOAT_BYTES if kind == FP32 else widest)
    return kinds, elem


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
    return OPS[layer.op].cost(layer, ctx)


def _storage(layers: list[Layer], costs: list[Cost]) -> list[int]:
    """For each layer, the layer whose output memory its output lives in (itself unless an alias)."""
    owner: list[int] = []
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
        best[layer.id] = before + (1 if layer.enabled and OPS[layer.op].counts_in_depth and layer.params else 0)
    return best.get(ir.output, 0)


def _parts(ir: IR, layer: Layer) -> tuple[str, ...]:
    if layer.member is not None:
        return layer.member.path
    if layer.op == "input":
        return ("input",)
    inst = ir.instances[layer.scope]
    return (*inst.path, layer.op)

