"""Block classes whose members are labelled "0", "1", ... (torchvision's ASPP: `convs.0`, `convs.4.1`).

As attributes of an nn.Module such members could only be read as `getattr(self, "0")`. torchvision
writes them as a container's items instead, and so does the code generator, with the same state_dict
keys: a block whose whole body is a concat of its numbered members is an nn.ModuleList iterated in
its forward (ASPP's `convs`); a block whose body starts with its numbered members applied one after
the other is an nn.Sequential holding them, read as `self[0]` (ASPPPooling), any later members set
as attributes after them.
"""

from __future__ import annotations

from typing import NamedTuple

from archdsl.ir.nodes import IR, Instance, Member, MemberKind, StepKind
from archdsl.layers import OPS

MODULE_LIST = "nn.ModuleList"
SEQUENTIAL = "nn.Sequential"


class Numbered(NamedTuple):
    base: str  # MODULE_LIST or SEQUENTIAL
    names: list[str]  # the members held as items: "0", "1", ...


def numbered(ir: IR, inst: Instance) -> Numbered | None:
    """How the class of `inst`'s block holds its numbered members, or None where they cannot be items:
    numbers out of order, a member that is no module (`scale`) or was folded away (compile --fuse: the
    items after it would move up and take its key), or one that is not applied in order."""
    members = inst.container.members
    names = [m.name for m in members]
    k = 0
    while k < len(names) and names[k] == str(k):
        k += 1
    if k == 0 or any(name is not None and name.isdigit() for name in names[k:]) \
            or not all(_is_module(ir, m) for m in members[:k]):
        return None
    steps = inst.steps
    if len(steps) == 1 and steps[0].kind == StepKind.CONCAT and k == len(members) and not inst.reads_input \
            and steps[0].save is None and [b.name if b else None for b in steps[0].branches] == names:
        return Numbered(MODULE_LIST, [str(i) for i in range(k)])
    chain = steps[:k]
    if len(chain) == k and all(s.kind == StepKind.APPLY and s.cond is None and not s.unrolled and s.member is not None
                               and s.member.name == str(i) for i, s in enumerate(chain)):
        return Numbered(SEQUENTIAL, [str(i) for i in range(k)])
    return None


def _is_module(ir: IR, m: Member) -> bool:
    if m.kind != MemberKind.LAYER:
        return m.kind in (MemberKind.SEQ, MemberKind.INSTANCE)
    layer = ir.layers[m.node] if m.node is not None else None
    return layer is not None and not OPS[layer.op].parameter and not layer.attrs.get("folded")
