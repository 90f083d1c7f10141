"""Feature extraction: run a network and return the outputs of named layers as an OrderedDict.

Like timm's `features_only`, but by name: `archdsl.load("resnet34.arch", features=["layer2",
"layer4"])`. The names are attribute paths (`layer3`, `layer3.0`, `features.4`) checked against the
IR before anything runs; the forward stops as soon as the last requested output is known, so
the head is never computed. Imports torch: loaded only when features are asked for.
"""

from __future__ import annotations

from collections import OrderedDict

import torch
from torch import nn

from archdsl.errors import ArchError, Diagnostic, did_you_mean
from archdsl.ir.nodes import IR, Join, Member, StepKind
from archdsl.layers import OPS


class _Done(Exception):
    """Raised by the last feature's hook to skip the rest of the forward."""


class FeatureExtractor(nn.Module):
    """Wraps a network (`self.network`); forward returns {name: tensor} in the order asked."""

    def __init__(self, network: nn.Module, names: list[str], shapes: dict[str, tuple[int, ...]],
                 copied: frozenset[str] = frozenset()) -> None:
        super().__init__()
        self.network = network
        self.names = list(names)
        self.shapes = shapes  # each feature's shape without the batch, from shape inference
        self._copied = copied  # outputs that a later in-place activation would overwrite

    @classmethod
    def from_ir(cls, network: nn.Module, ir: IR, names: list[str] | tuple[str, ...]) -> FeatureExtractor:
        if isinstance(names, str) or not names:
            raise ArchError(Diagnostic(f"features must be a non-empty list of layer names, got {names!r}",
                                       code="bad-features"))
        members = _members_by_path(ir)
        shapes, copied = {}, set()
        for name in names:
            uses = members.get(name)
            if not uses:
                hint = did_you_mean(name, members, "`archdsl check FILE` lists the layer names")
                raise ArchError(Diagnostic(f"feature '{name}': network '{ir.network.name}' has no layer or block "
                                           "of that name", hint=hint, code="bad-features"))
            if len(uses) > 1:
                raise ArchError(Diagnostic(f"feature '{name}': that attribute is one layer applied {len(uses)} times",
                                           uses[0].span, hint="label the use you want, e.g. `stem_out: relu`",
                                           code="bad-features"),
                                ir.program.sources)
            side = next((str(step.member.path) for step in ir.instances[0].steps if step.kind == StepKind.SIDE
                         and step.member is not None and (name + ".").startswith(str(step.member.path) + ".")), None)
            if side is not None:  # its hook would never fire in eval mode: the forward raised KeyError
                raise ArchError(Diagnostic(f"feature '{name}' is in the side output '{side}', which runs in training "
                                           "mode only", uses[0].span, code="bad-features",
                                           hint="name a layer on the main path; the side output itself is "
                                                "returned by the network in training mode"), ir.program.sources)
            node = _output_node(ir, uses[0])
            layer = ir.layers[node]
            if uses[0].node == node and OPS[layer.op].parameter:  # no module: no forward hook to catch its product
                raise ArchError(Diagnostic(f"feature '{name}' is a parameter (`{layer.describe()}`), not a module",
                                           uses[0].span, hint="name the layer or block it belongs to",
                                           code="bad-features"), ir.program.sources)
            if not layer.enabled or layer.out_shape is None:
                raise ArchError(Diagnostic(f"feature '{name}' is switched off by a condition", uses[0].span,
                                           code="bad-features"),
                                ir.program.sources)
            shapes[name] = layer.out_shape
            # Overwritten later: by an activation in place, or by a residual add that adds into it (`x += identity`).
            if any(ir.layers[s].attrs.get("inplace") or ir.layers[s].op == Join.ADD for s in layer.outputs):
                copied.add(name)
        if len(set(names)) != len(names):
            raise ArchError(Diagnostic(f"features name a layer twice: {list(names)}", code="bad-features"))
        return cls(network, list(names), shapes, frozenset(copied))

    def forward(self, x: torch.Tensor) -> OrderedDict[str, torch.Tensor]:
        found: dict[str, torch.Tensor] = {}

        def keeper(name: str):
            def hook(module: nn.Module, inputs, output: torch.Tensor) -> None:
                found[name] = output.clone() if name in self._copied else output
                if len(found) == len(self.names):
                    raise _Done

            return hook

        handles = [self.network.get_submodule(name).register_forward_hook(keeper(name)) for name in self.names]
        try:
            self.network(x)
        except _Done:
            pass
        finally:
            for handle in handles:
                handle.remove()
        return OrderedDict((name, found[name]) for name in self.names)


def _members_by_path(ir: IR) -> dict[str, list[Member]]:
    """Every attribute path of the emitted module, with the members (uses) behind it."""
    found: dict[str, list[Member]] = {}
    for inst in ir.instances:
        for m in inst.container.members:
            _collect(m, found)
    return found


def _collect(m: Member, found: dict[str, list[Member]]) -> None:
    found.setdefault(str(m.path), []).append(m)
    if m.children is not None:
        for child in m.children.members:
            _collect(child, found)


def _output_node(ir: IR, m: Member) -> int:
    if m.instance is not None:  # a block use
        return ir.instances[m.instance].out_node
    if m.children is not None:  # an nn.Sequential
        return _output_node(ir, m.children.members[-1])
    assert m.node is not None  # a layer or shortcut
    return m.node
