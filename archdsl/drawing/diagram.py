"""Diagram structure: the IR's block structure as a tree of groups, ready to draw at any depth.

A `Group` is what a drawing shows as a cluster (or, below the depth limit, as one node): the
network, a block use, a labelled sequence, a residual, a concat (or inception), a gate, a split,
a side output's head.
Its children are groups and layer ids, in source order. Nothing here knows about Graphviz;
viz.py turns the tree into a picture.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from archdsl.errors import Span
from archdsl.frontend import ast as A
from archdsl.ir.nodes import (
    IR,
    ContainerKind,
    Instance,
    Join,
    Layer,
    Member,
    MemberKind,
    ModulePath,
    Site,
    SiteKind,
    Step,
    StepKind,
)

# Layers drawn as their own small node rather than as a row of a layer table.
JOINS: frozenset[str] = frozenset(Join)

GroupKind = Literal["network", "block", "seq", "residual", "concat", "gate", "split"]


@dataclass(eq=False)
class Group:
    kind: GroupKind
    title: str  # what the cluster or collapsed node is called: "conv1: conv_bn(64, 7, 2)"
    path: ModulePath  # the module it stands for (empty for combinators)
    site: Site
    span: Span
    depth: int
    children: list[Group | int] = field(default_factory=list)
    side: str | None = None  # the side output this group computes (GoogLeNet's aux heads)
    repeat: int = 1  # > 1 when this group stands for that many identical repetitions
    in_node: int = -1
    out_node: int = -1

    def layer_ids(self) -> list[int]:
        """Every layer under this group, in drawing order."""
        out: list[int] = []
        for child in self.children:
            out += child.layer_ids() if isinstance(child, Group) else [child]
        return out

    def groups(self) -> list[Group]:
        """This group and every group below it."""
        out = [self]
        for child in self.children:
            if isinstance(child, Group):
                out += child.groups()
        return out


@dataclass
class Diagram:
    root: Group
    # Layers of folded repetitions, which are not drawn: each maps to the drawn layer whose output
    # stands for its own (the last layer of the copy that is drawn).
    aliases: dict[int, int] = field(default_factory=dict)

    def groups(self) -> list[Group]:
        return self.root.groups()


def structure(ir: IR, fold_repeats: bool = False) -> Diagram:
    """The network's drawing tree; with `fold_repeats`, runs of identical repetitions keep one copy."""
    builder = _Builder(ir, fold_repeats)
    net = ir.instances[0]
    root = Group("network", ir.network.name, ModulePath(), Site(), ir.network.span, 0, in_node=ir.input,
                 out_node=ir.output)
    root.children = [ir.input] + builder.steps(net.steps, root) + [ir.output]
    return Diagram(builder.finish(root), builder.aliases)


def display_name(layer: Layer) -> str:
    """The attribute name worth showing beside a layer: labels and nn.Sequential indices, not `relu2`."""
    m = layer.member
    if m is None or m.kind == MemberKind.SHORTCUT:
        return ""
    if m.label or m.container.kind == ContainerKind.SEQ:
        return m.name or ""
    return ""


def value_text(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return f"{value:g}" if isinstance(value, float) else str(value)


class _Builder:
    def __init__(self, ir: IR, fold_repeats: bool) -> None:
        self.ir, self.fold = ir, fold_repeats
        self.aliases: dict[int, int] = {}

    # -- steps of a class body -----------------------------------------------------------------
    def steps(self, steps: list[Step], parent: Group) -> list[Group | int]:
        out: list[Group | int] = []
        for step in steps:
            out += self.step(step, parent)
        return out

    def step(self, step: Step, parent: Group) -> list[Group | int]:
        if step.kind == StepKind.RESIDUAL:
            return self.step_residual(step, parent)
        if step.kind == StepKind.CONCAT:
            return self.step_concat(step, parent)
        if step.kind == StepKind.GATE:
            return self.step_gate(step, parent)
        if step.kind == StepKind.SPLIT:
            return self.step_split(step, parent)
        if step.kind == StepKind.REF:
            return []  # no layer of its own: the edges from the referenced layer draw it
        if step.kind == StepKind.OUTPUT:
            return self.step_output(step, parent)
        assert step.member is not None  # APPLY and SIDE steps apply a member
        if step.kind == StepKind.SIDE:
            return self.step_side(step, step.member, parent)
        return [self.member(step.member, parent)]

    def step_residual(self, step: Step, parent: Group) -> list[Group | int]:
        g = Group("residual", "residual", ModulePath(), step.site, step.span, parent.depth + 1, in_node=step.in_node,
                  out_node=step.out_node)
        g.children = self.steps(step.body, g)
        if step.shortcut_steps:
            g.children += self.steps(step.shortcut_steps, g)
        elif step.shortcut is not None:
            g.children.append(self.member(step.shortcut, g))
        g.children.append(step.out_node)
        return [g]

    def step_concat(self, step: Step, parent: Group) -> list[Group | int]:
        # Titled with the word written: `inception<...>` is `concat<...>`'s synonym, kept for GoogLeNet's files.
        g = Group("concat", step.word, ModulePath(), step.site, step.span, parent.depth + 1, in_node=step.in_node,
                  out_node=step.out_node)
        g.children = []
        for i, (branch, steps) in enumerate(zip(step.branches, step.branch_steps), start=1):
            if branch is not None:
                g.children.append(self.member(branch, g))
            elif len(steps) == 1:  # an identity branch has none: its edge runs from the input to the concat
                g.children += self.steps(steps, g)
            elif steps:  # a concat(flat) branch: its members are the block's, drawn as one sequence per branch
                b = Group("seq", f"branch {i}", ModulePath(), step.site.then(SiteKind.BRANCH, i), step.span,
                          g.depth + 1)
                b.children = self.steps(steps, b)
                g.children.append(b)
        g.children.append(step.out_node)
        return [g]

    def step_split(self, step: Step, parent: Group) -> list[Group | int]:
        g = Group("split", "split", ModulePath(), step.site, step.span, parent.depth + 1, in_node=step.in_node,
                  out_node=step.out_node)
        for part, branch in zip(step.parts, step.branches):
            g.children += [part] + ([self.member(branch, g)] if branch is not None else [])
        g.children.append(step.out_node)
        return [g]

    def step_gate(self, step: Step, parent: Group) -> list[Group | int]:
        # The multiply node reads the gate's input too: that edge is drawn from the layer before it.
        g = Group("gate", "gate", ModulePath(), step.site, step.span, parent.depth + 1, in_node=step.in_node,
                  out_node=step.out_node)
        for path in step.factors:
            g.children += self.steps(path, g)
        g.children.append(step.out_node)
        return [g]

    def step_output(self, step: Step, parent: Group) -> list[Group | int]:
        """A named output: its body as one sequence, ending in the node that names it."""
        named = next(s for s in self.ir.layers[step.out_node].outputs
                     if self.ir.layers[s].op == Join.NAMED_OUTPUT and self.ir.layers[s].attrs["name"] == step.name)
        g = Group("seq", f"output {step.name}", ModulePath(), step.site, step.span, parent.depth + 1,
                  in_node=step.in_node, out_node=named)
        g.children = self.steps(step.body, g) + [named]
        return [g]

    def step_side(self, step: Step, member: Member, parent: Group) -> list[Group | int]:
        head = self.member(member, parent)
        if isinstance(head, Group):
            head.side = step.name
        outputs = [s for s in self.ir.layers[step.out_node].outputs if self.ir.layers[s].op == Join.SIDE_OUTPUT]
        return [head] + outputs

    # -- members: the attributes of a module -------------------------------------------------------
    def member(self, m: Member, parent: Group) -> Group | int:
        if m.kind in (MemberKind.LAYER, MemberKind.SHORTCUT):
            assert m.node is not None
            return m.node
        depth = parent.depth + 1
        if m.kind == MemberKind.SEQ:
            assert m.children is not None
            g = Group("seq", m.name or "", m.path, m.site, m.span, depth)
            g.children = [self.member(child, g) for child in m.children.members]
            return g
        assert m.instance is not None
        inst = self.ir.instances[m.instance]
        g = Group("block", f"{m.name}: {_call_text(inst)}", m.path, m.site, m.span, depth, in_node=inst.in_node,
                  out_node=inst.out_node)
        g.children = self.steps(inst.steps, g)
        return g

    # -- clean-up ------------------------------------------------------------------------------
    def finish(self, root: Group) -> Group:
        self.prune(root)
        self.absorb(root)
        if self.fold:
            for g in root.groups():
                g.children = self.folded(g)
        for g in root.groups():  # parents come before their children
            _renumber_depth(g)
        for g in root.groups():
            if g.children and g.out_node < 0:
                ids = g.layer_ids()
                g.in_node = self.ir.layers[ids[0]].inputs[0] if self.ir.layers[ids[0]].inputs else ids[0]
                g.out_node = ids[-1]
        return root

    def prune(self, g: Group) -> bool:
        """Drop what an `if` switched off; True when something of `g` is left."""
        kept: list[Group | int] = []
        for child in g.children:
            if isinstance(child, Group):
                if self.prune(child):
                    kept.append(child)
            elif self.ir.layers[child].enabled:
                kept.append(child)
        g.children = kept
        return bool(kept)

    def absorb(self, g: Group) -> None:
        """A block that is nothing but one residual, concat, gate or split is drawn as one cluster, not two."""
        for child in g.children:
            if isinstance(child, Group):
                self.absorb(child)
        if g.kind == "block" and len(g.children) == 1 and isinstance(g.children[0], Group) \
                and g.children[0].kind in ("residual", "concat", "gate", "split"):
            inner = g.children[0]
            g.kind, g.children = inner.kind, inner.children

    def folded(self, g: Group) -> list[Group | int]:
        """Children with each run of identical repetitions (`x N`) drawn once, marked ×k."""
        out: list[Group | int] = []
        units = self.units(g)
        i = 0
        while i < len(units):
            stem, unit = units[i]
            j = i + 1
            while stem is not None and j < len(units) and units[j][0] == stem \
                    and self.signature(units[j][1]) == self.signature(unit):
                j += 1
            shown = self.ids(unit)
            for _, hidden in units[i + 1:j]:
                self.aliases.update((n, shown[-1]) for n in self.ids(hidden))
            if j - i == 1:
                out += unit
            elif len(unit) == 1 and isinstance(unit[0], Group):
                unit[0].repeat = j - i
                out.append(unit[0])
            else:  # several items repeat together: a cluster holds one copy
                first = self.ir.layers[shown[0]]
                out.append(Group("seq", "", ModulePath(), Site(), first.span, g.depth + 1, unit, repeat=j - i,
                                 in_node=first.inputs[0], out_node=shown[-1]))
            i = j
        return out

    def units(self, g: Group) -> list[tuple[Site | None, list[Group | int]]]:
        """Children cut into repetitions: (where the `x N` stands, the items of one repetition)."""
        units: list[tuple[Site | None, list[Group | int]]] = []
        last = None
        for child in g.children:
            site = child.site if isinstance(child, Group) else self._site(child)
            key = _repetition(site, g.site)
            if key is not None and key == last:
                units[-1][1].append(child)
            else:
                units.append((key[0] if key else None, [child]))
            last = key
        return units

    def _site(self, node: int) -> Site:
        m = self.ir.layers[node].member
        return m.site if m is not None else Site()

    @staticmethod
    def ids(unit: list[Group | int]) -> list[int]:
        return [n for c in unit for n in (c.layer_ids() if isinstance(c, Group) else [c])]

    def signature(self, unit: list[Group | int]) -> tuple[object, ...]:
        ids = self.ids(unit)
        return tuple((self.ir.layers[n].describe(), self.ir.layers[n].in_shape, self.ir.layers[n].out_shape,
                      self.ir.layers[n].params) for n in ids)


def _renumber_depth(g: Group) -> None:
    for child in g.children:
        if isinstance(child, Group):
            child.depth = g.depth + 1


def _repetition(site: Site, within: Site) -> tuple[Site, int] | None:
    """The first `x N` that `site` stands in below `within`: (that statement's site, which repetition).

    A block's children have sites in the block's own body, which do not start with the block use's
    site: they are read from their start, under the use's site, so each use keeps its own keys.
    """
    start = len(within) if site[:len(within)] == within else 0
    for k in range(start, len(site)):
        if site[k].kind == SiteKind.REPEAT:
            return Site((*within, *site[start:k])), site[k].number
    return None


def _call_text(inst: Instance) -> str:
    block = inst.block
    assert block is not None  # the network itself is not drawn as a call
    passed = iter(var for var, _ in inst.tensors)  # a tensor parameter's argument: the variable it reads
    # ... shown as the call writes it, `@backbone.c2`, where the variable is `backbone_c2`
    written = {a.name or block.params[i].name: "@" + ".".join((a.value.name, *a.value.path))
               for i, a in enumerate(inst.call.args if inst.call else []) if isinstance(a.value, A.Ref)
               and (a.name or i < len(block.params))}
    args = (written.get(p.name, "@" + next(passed)) if p.tensor else value_text(inst.args[p.name])
            for p in block.params)
    return f"{block.name}({', '.join(args)})"
