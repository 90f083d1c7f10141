"""Inference folding: batch norm folded into the convolution (or fc layer) that feeds it.

In eval mode a batch norm is a fixed per-channel scale and shift, so it can be merged into the
weights and bias of the layer before it: one pass over the activations less per pair, the same
outputs up to rounding. Two forms that agree on which pairs they fold, so the state_dict of one
loads into the other with strict=True:

- `fuse(model)`: an eval-only copy of a built model with its trained weights folded. Folded batch
  norms become nn.Identity (the module tree and the other names stay as they were), dropout
  becomes nn.Identity, and gradients are off.
- `fold_batchnorm(ir)`: the same decision on the graph IR, for `archdsl compile --fuse`
  (`compile_source(..., fuse=True)`): the emitted module has no folded batch norms at all, and a
  bias on the layers they were folded into.

A pair folds when the batch norm's only input is a conv (for bn over feature maps) or fc layer
(flat features) whose output goes nowhere else, both in the same class body or nn.Sequential, the
producer unconditional; in a block, only when that holds in every use of the block (one class).
A norm under `if` folds too: the producer's bias is then written under the same condition.
This module imports torch only inside `fuse`, so compiling stays torch-free.
"""

from __future__ import annotations

import copy
import types
from typing import TYPE_CHECKING, Any

from archdsl.frontend import ast as A
from archdsl.ir.nodes import IR, Layer, Site, known
from archdsl.layers import OPS

if TYPE_CHECKING:
    import torch


def foldable(ir: IR) -> list[tuple[Layer, Layer]]:
    """(producer, batch norm) pairs to fold, in graph order.

    A batch norm that its `if` switches off in some use of its block still counts as foldable there
    (there is nothing to fold); its pair is listed so that the producer's bias follows the condition.
    """
    candidates: dict[tuple[int, Site], list[tuple[Layer, Layer] | None]] = {}
    for bn in ir.layers:
        if not OPS[bn.op].fold.folds or bn.member is None:
            continue
        key = (id(ir.instances[bn.scope].block), bn.member.site)
        candidates.setdefault(key, []).append(_pair(ir, bn))
    return [p for pairs in candidates.values() if all(pairs) for p in pairs]  # type: ignore[misc]


def _pair(ir: IR, bn: Layer) -> tuple[Layer, Layer] | None:
    producer = ir.layers[bn.inputs[0]]
    inst = ir.instances[bn.scope]
    producer_step = inst.steps_by_site.get(producer.member.site) if producer.member else None
    if producer_step is not None and producer_step.cond is not None:
        return None
    if _condition(ir, bn) is not None:
        # The emitted class decides at run time whether the norm exists; the folded class gives
        # the producer a bias under the same condition, so only a bias written as a literal folds.
        bias = producer.exprs.get("bias")
        if bias is not None and not isinstance(bias, A.Boolean):
            return None
        if not bn.enabled:
            return (producer, bn) if producer.enabled and producer.member is not None else None
    if not (bn.enabled and producer.enabled and producer.member is not None and bn.derived.dims is not None):
        return None
    if OPS[producer.op].fold.absorbs != bn.derived.dims:
        return None
    if len(producer.outputs) != 1 or producer.member.container is not known(bn.member, bn, "member").container:
        return None
    return producer, bn


def _condition(ir: IR, layer: Layer) -> A.Expr | None:
    """The `if` condition of the statement that applies `layer`, if any."""
    step = ir.instances[layer.scope].steps_by_site.get(known(layer.member, layer, "member").site)
    return step.cond if step is not None else None


def fold_batchnorm(ir: IR) -> IR:
    """Fold batch norms into the layers before them in the IR (for `archdsl compile --fuse`)."""
    for producer, bn in foldable(ir):
        cond = _condition(ir, bn)
        if cond is not None and not producer.attrs.get("bias"):
            producer.exprs["bias"] = cond  # a bias exactly where the folded norm exists
        else:
            producer.exprs.pop("bias", None)
        bn.attrs["folded"] = True
        if not bn.enabled:
            continue
        if not producer.attrs.get("bias"):
            producer.params += known(producer.out_shape, producer, "out_shape")[0]
        producer.attrs["bias"] = True
        bn.params = bn.buffers = 0
    for layer in ir.layers:  # the projection shortcut's own conv + bn pair
        if layer.op == "shortcut" and layer.derived.decision == "projection":
            layer.derived.folded = True
            # a bias of c_out instead of the batch norm's 2 * c_out
            layer.params -= known(layer.out_shape, layer, "out_shape")[0]
            layer.buffers = 0
    ir.folded = True
    return ir


def fuse(model: torch.nn.Module) -> torch.nn.Module:
    """An eval-only copy of `model` with batch norms folded into the conv or fc layer before them,
    and dropout removed.

    Outputs equal the original's in eval mode (within rounding: 1e-4 for the bundled networks).
    Works on any model torch.fx can trace (every model archdsl emits); the original is untouched.
    """
    from torch import nn
    from torch.nn.utils.fusion import fuse_conv_bn_eval, fuse_linear_bn_eval

    fused: Any = copy.deepcopy(model)  # Any: its train() is replaced below
    modules = dict(fused.named_modules())
    # Trace both modes: a side output (GoogLeNet's aux heads) runs in training only, yet compile --fuse
    # folds it too, and the two must give the same state_dict keys.
    graphs = [_trace(fused.train(mode)) for mode in (False, True)]
    fused.eval()
    for producer_name, bn_name in _foldable_calls(graphs, modules):
        producer, bn = modules[producer_name], modules[bn_name]
        merged: nn.Module
        if type(producer) is nn.Conv2d and type(bn) is nn.BatchNorm2d:
            merged = fuse_conv_bn_eval(producer, bn)
        elif type(producer) is nn.Linear and type(bn) is nn.BatchNorm1d:
            merged = fuse_linear_bn_eval(producer, bn)
        else:
            continue
        fused.set_submodule(producer_name, merged)
        fused.set_submodule(bn_name, nn.Identity())
    for name, module in list(fused.named_modules()):
        if isinstance(module, nn.Dropout) and name:
            fused.set_submodule(name, nn.Identity())
    fused.requires_grad_(False)
    fused.train = types.MethodType(_eval_only, fused)  # training it would silently skip the folded norms
    return fused


def _eval_only(model: Any, mode: bool = True) -> Any:
    if mode:
        raise RuntimeError("this model was made by archdsl.fuse for inference: its batch norms are folded into "
                           "the layers before them, so it cannot train; train the original and fuse it again")
    return type(model).train(model, False)


def _trace(model: Any) -> Any:
    from torch import fx

    try:
        return fx.Tracer().trace(model)
    except Exception as exc:  # torch.fx's errors vary; say what failed and why
        raise TypeError(f"archdsl.fuse cannot trace this model with torch.fx: {exc}") from exc


def _foldable_calls(graphs: list[Any], modules: dict[str, Any]) -> list[tuple[str, str]]:
    """(producer, batch norm) module names where, in every traced graph, the norm's only input is
    the producer, the producer feeds nothing else, both are called once and sit in the same module."""
    verdict: dict[str, str | None] = {}  # batch norm -> its producer, or None when it cannot fold
    for graph in graphs:
        calls: dict[str, int] = {}
        for node in graph.nodes:
            if node.op == "call_module":
                calls[node.target] = calls.get(node.target, 0) + 1
        for node in graph.nodes:
            if node.op != "call_module" or getattr(modules[node.target], "running_mean", None) is None:
                continue
            source: Any = node.args[0] if node.args else None  # an fx Node, a constant or None: see the getattr
            ok = (getattr(source, "op", None) == "call_module" and len(source.users) == 1
                  and calls[source.target] == 1 and calls[node.target] == 1
                  and _parent(source.target) == _parent(node.target))
            producer = source.target if ok else None
            if verdict.get(node.target, producer) != producer:
                producer = None
            verdict[node.target] = producer
    return [(producer, bn) for bn, producer in verdict.items() if producer is not None]


def _parent(qualified_name: str) -> str:
    return qualified_name.rpartition(".")[0]
