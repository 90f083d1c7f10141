"""Freezing for fine-tuning: a `freeze` declaration resolved to the network's attributes it covers.

`freeze conv1, layer1;` names top-level layers or blocks; `freeze up to layer3;` takes every
top-level part from the start of the network through `layer3` (side outputs aside: they are
heads, not trunk). Only parts that hold weights are listed. Pure Python over the IR: the code
generator writes the result into the emitted module, which turns off their gradients and keeps
them in eval mode.
"""

from __future__ import annotations

from archdsl.errors import ArchError, Diagnostic, did_you_mean
from archdsl.frontend import ast as A
from archdsl.ir.nodes import IR, Member, ModulePath, StepKind
from archdsl.layers import OPS


def resolve_freeze(ir: IR, decl: A.Freeze | None) -> list[str]:
    """The top-level attribute names a declaration freezes, in forward order."""
    if decl is None or not decl.targets:
        return []
    by_name = _top_level(ir)
    top = list(by_name.values())
    for name, span in zip(decl.targets, decl.target_spans):
        if name not in by_name:
            raise ArchError(Diagnostic(f"cannot freeze '{name}': the network '{ir.network.name}' has no top-level "
                                       f"layer or block of that name", span,
                                       hint=did_you_mean(name, by_name, f"its parts are: {', '.join(by_name)}"),
                                       code="cannot-freeze"),
                            ir.program.sources)
    weighted = _weighted_paths(ir)
    if decl.up_to:
        last = list(by_name).index(decl.targets[0])
        chosen = [m for m in top[:last + 1] if not _is_side(ir, m) and _holds_weights(m, weighted)]
    else:
        chosen = [by_name[name] for name in decl.targets]
        for m, span in zip(chosen, decl.target_spans):
            if not _holds_weights(m, weighted):
                raise ArchError(Diagnostic(f"cannot freeze '{m.name}': it has no weights", span,
                                           hint="name layers or blocks with parameters or buffers",
                                           code="cannot-freeze"),
                                ir.program.sources)
    for m in chosen:
        if m.node is not None and OPS[ir.layers[m.node].op].parameter:
            raise ArchError(Diagnostic(f"cannot freeze '{m.name}': it is a parameter of the network, not a module",
                                       m.span, hint="freeze the layers and blocks around it; its own gradient can be "
                                                    "turned off in Python", code="cannot-freeze"), ir.program.sources)
        step = ir.instances[0].steps_by_site.get(m.site)
        if step is not None and step.cond is not None:
            raise ArchError(Diagnostic(f"cannot freeze '{m.name}': it exists only under a condition", m.span,
                                       hint="freeze unconditional parts only",
                                       code="cannot-freeze"), ir.program.sources)
    return [name for name, m in by_name.items() if m in chosen]


def frozen_params(ir: IR) -> int:
    """Parameters inside the frozen parts (the rest of total_params(ir) is trainable)."""
    frozen = getattr(ir, "frozen", [])
    return sum(layer.params for layer in ir.enabled_layers() if _under(layer.path, frozen))


def _top_level(ir: IR) -> dict[str, Member]:
    """The network's attributes by name, in forward order (naming.py has named every member)."""
    seen: dict[str, Member] = {}
    for m in ir.instances[0].container.members:
        seen.setdefault(m.name or "", m)  # shared stateless layers appear once per use
    return seen


def _is_side(ir: IR, m: Member) -> bool:
    return any(step.kind == StepKind.SIDE and step.member is m for step in ir.instances[0].steps)


def _weighted_paths(ir: IR) -> list[ModulePath]:
    return [layer.path for layer in ir.enabled_layers() if layer.params or layer.buffers]


def _holds_weights(m: Member, weighted: list[ModulePath]) -> bool:
    return any(_under(path, [m.name or ""]) for path in weighted)


def _under(path: ModulePath, names: list[str]) -> bool:
    """Whether `path` is one of the top-level attributes `names`, or inside one."""
    return bool(path) and path[0] in names
