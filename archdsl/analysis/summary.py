"""`archdsl summary`: the per-layer table (or JSON) of parameters, MACs and memory, rolled up per block.

The figures come from analysis.py (pure Python over the IR: no torch is imported on this path).
Rows nest like the emitted module: a block instance or a labelled group is a row of its own with
the totals of everything inside it; `--depth N` folds everything deeper than N into its block.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from operator import attrgetter

from archdsl.analysis.costs import Analysis, Row
from archdsl.ir.freeze import frozen_params
from archdsl.ir.nodes import IR, Member
from archdsl.shapes.inference import fmt


@dataclass
class Node:
    """A layer (`row` set) or a module holding layers (a block instance, an nn.Sequential)."""

    parts: tuple[str, ...]
    word: str
    row: Row | None = None
    rows: list[Row] = field(default_factory=list)  # every layer at or under this node
    children: list[Node] = field(default_factory=list)

    @property
    def name(self) -> str:
        return ".".join(self.parts)

    @property
    def level(self) -> int:
        return len(self.parts)

    def total(self, what: str) -> int:
        return sum(map(attrgetter(what), self.rows))

    @property
    def out_shape(self) -> tuple[int, ...] | None:
        return self.rows[-1].layer.out_shape if self.rows else None

    @property
    def eval(self) -> bool:
        return any(r.eval for r in self.rows)

    def as_dict(self) -> dict:
        return {"name": self.name, "block": self.word, "output_shape": list(self.out_shape or ()),
                **{k: self.total(k) for k in ("params", "buffers", "macs", "ops", "activation_bytes", "saved_bytes")}}


def tree(analysis: Analysis) -> Node:
    """The rows nested by module path; containers keep the order in which their first layer runs."""
    members = _members_by_path(analysis.ir)
    root = Node((), analysis.ir.network.name)
    index: dict[tuple[str, ...], Node] = {(): root}
    for row in analysis.rows:
        parent = root
        root.rows.append(row)
        for k in range(1, len(row.parts)):
            key = row.parts[:k]
            if key not in index:
                index[key] = Node(key, _describe(analysis.ir, members.get(key)))
                parent.children.append(index[key])
            parent = index[key]
            parent.rows.append(row)
        parent.children.append(Node(row.parts, row.layer.describe(), row=row, rows=[row]))
    return root


def visible(node: Node, depth: int | None) -> list[tuple[Node, bool]]:
    """Nodes to print, in order, with whether each is folded (shown as its totals only)."""
    out: list[tuple[Node, bool]] = []
    for child in node.children:
        folded = child.row is None and depth is not None and child.level >= depth
        out.append((child, folded))
        if child.row is None and not folded:
            out += visible(child, depth)
    return out


def _members_by_path(ir: IR) -> dict[tuple[str, ...], Member]:
    found: dict[tuple[str, ...], Member] = {}

    def walk(members: list[Member]) -> None:
        for m in members:
            found[m.path] = m
            if m.children is not None:
                walk(m.children.members)
            if m.instance is not None:
                walk(ir.instances[m.instance].container.members)

    walk(ir.instances[0].container.members)
    return found


def _describe(ir: IR, member: Member | None) -> str:
    if member is None:
        return ""
    if member.instance is not None:
        args = ", ".join(_value(v) for v in ir.instances[member.instance].args.values())
        return f"{member.word}({args})"
    return "sequence"


def _value(v) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    return f"{v:g}" if isinstance(v, float) else str(v)


# -- text output --------------------------------------------------------------------------------
def human(n: float, unit: str = "", base: int = 1000) -> str:
    """1_234_567 -> '1.23M'; bytes with unit 'B' -> '1.23 MB' (decimal units, like torchinfo's MB)."""
    for prefix in ("", "K", "M", "G", "T"):
        if abs(n) < base or prefix == "T":
            digits = 0 if prefix == "" or abs(n) >= 100 else 1 if abs(n) >= 10 else 2
            text = f"{n:.{digits}f}"
            return f"{text} {prefix}{unit}".rstrip() if unit else f"{text}{prefix}"
        n /= base
    raise AssertionError("unreachable")


HEADER = ("layer", "op / block", "output", "params", "buffers", "MACs", "activations")
NUMBERS = {3, 4, 5, 6}  # the columns of figures, right-aligned
TRAIN_ONLY = "[train]: computed in training mode only, not counted in MACs and activations"


def rows(analysis: Analysis, depth: int | None = None) -> list[tuple[int, tuple[str, ...]]]:
    """Each row of the summary's table, with its nesting level: what the text table and the notebook's
    HTML table both show."""
    out: list[tuple[int, tuple[str, ...]]] = []
    for node, folded in visible(tree(analysis), depth):
        word = node.word + (" ..." if folded else "") + ("" if node.eval else " [train]")
        macs = node.total("macs")
        params, buffers, created = node.total("params"), node.total("buffers"), node.total("activation_bytes")
        out.append((node.level, (node.parts[-1] if node.parts else "", word, fmt(node.out_shape),
                                 f"{params:,}" if params or node.row is None else "", f"{buffers:,}" if buffers else "",
                                 human(macs) if macs else "", human(created, "B") if created else "")))
    return out


def table(analysis: Analysis, depth: int | None = None) -> str:
    found = rows(analysis, depth)
    lines = [HEADER] + [("  " * (level - 1) + cells[0], *cells[1:]) for level, cells in found]
    widths = [max(len(line[i]) for line in lines) for i in range(len(HEADER))]

    def render(line: tuple[str, ...]) -> str:
        return "  ".join(cell.rjust(w) if i in NUMBERS else cell.ljust(w)
                         for i, (cell, w) in enumerate(zip(line, widths))).rstrip()

    rule = "-" * len(render(HEADER))
    train_only = any(cells[1].endswith(" [train]") for _, cells in found)
    out = [render(HEADER), rule] + [render(line) for line in lines[1:]] + [rule]
    return "\n".join(out + totals(analysis) + ([TRAIN_ONLY] if train_only else []))


def totals(a: Analysis) -> list[str]:
    c, h, w = a.ir.input_shape
    opt = f" + optimizer state ({a.optimizer}) {human(a.optimizer_bytes, 'B')}" if a.optimizer_bytes else ""
    return [
        (f"network {a.ir.network.name}: input {c}x{h}x{w}, batch {a.batch}, {_dtype(a.dtype)}; depth {a.depth} "
         "(weighted layers on the longest path)"),
        f"parameters: {_trainable(a)}; {a.buffers:,} in buffers (non-trainable)",
        (f"MACs: {a.macs:,} ({human(a.macs)}; FLOPs = 2 x MACs = {human(a.flops)}); other ops (comparisons, adds): "
        f"{human(a.ops)}"),
        *(f"output {name}: {fmt(a.ir.layers[node].out_shape)} (an entry of the returned dict)"
          for name, node in a.ir.outputs.items()),
        f"activations (one forward pass, every tensor kept): {human(a.activation_bytes, 'B')}",
        (f"training step estimate: {human(a.train_bytes, 'B')} = parameters and buffers {human(a.param_bytes, 'B')}"
        f" + gradients {human(a.grad_bytes, 'B')} + saved for backward {human(a.saved_bytes, 'B')}{opt}"),
    ]


def _dtype(dtype: str) -> str:
    if dtype == "mixed":
        return "mixed precision (torch.autocast: parameters float32, convolutions and linears 2 bytes)"
    return dtype


def _trainable(a: Analysis) -> str:
    frozen = frozen_params(a.ir)
    if not a.ir.frozen:
        return f"{a.params:,} trainable"
    return f"{a.params - frozen:,} trainable, {frozen:,} frozen ({', '.join(a.ir.frozen)})"


def as_json(analysis: Analysis) -> dict:
    record = analysis.as_dict()
    nodes = [node for node, _ in visible(tree(analysis), None) if node.row is None]
    record["blocks"] = [node.as_dict() for node in nodes]
    record["frozen_params"] = frozen_params(analysis.ir)
    return record
