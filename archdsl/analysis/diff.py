"""`archdsl diff A.arch B.arch`: what changed between two networks, per block: shapes, parameters, MACs.

Both networks are analysed (analysis.py, no torch) and rolled up to the same depth (summary.py's
tree); blocks are matched by module path, in order (difflib), so a stage that grew from two
blocks to three shows as one changed stage plus one added block.
"""

from __future__ import annotations

from dataclasses import dataclass
from difflib import SequenceMatcher

from archdsl.analysis.costs import Analysis
from archdsl.analysis.summary import Node, human, tree, visible
from archdsl.shapes.inference import fmt

FIGURES = ("params", "macs", "activation_bytes")


@dataclass
class Entry:
    """One block (or layer) at the diff's depth, with its figures summed over repeated names."""

    name: str
    level: int
    word: str
    out_shape: tuple[int, ...] | None
    figures: dict[str, int]


@dataclass
class Change:
    status: str  # "=" same, "~" changed, "+" only in B, "-" only in A
    a: Entry | None
    b: Entry | None

    @property
    def name(self) -> str:
        return self._entry().name

    @property
    def level(self) -> int:
        return self._entry().level

    def _entry(self) -> Entry:
        entry = self.a or self.b
        assert entry is not None  # a change is in A, in B, or in both
        return entry


def entries(analysis: Analysis, depth: int) -> list[Entry]:
    found: dict[str, Entry] = {}
    for node, _folded in visible(tree(analysis), depth):
        entry = found.get(node.name)
        if entry is None:
            found[node.name] = _entry(node)
        else:  # a shared attribute used twice (a block's one relu): one entry, figures summed
            for key in FIGURES:
                entry.figures[key] += node.total(key)
            entry.out_shape = node.out_shape
    return list(found.values())


def _entry(node: Node) -> Entry:
    return Entry(node.name, node.level, node.word, node.out_shape, {k: node.total(k) for k in FIGURES})


def compare(a: Analysis, b: Analysis, depth: int = 1) -> list[Change]:
    left, right = entries(a, depth), entries(b, depth)
    matcher = SequenceMatcher(None, [e.name for e in left], [e.name for e in right], autojunk=False)
    changes: list[Change] = []
    for tag, i1, i2, j1, j2 in matcher.get_opcodes():
        if tag == "equal":
            changes += [_pair(x, y) for x, y in zip(left[i1:i2], right[j1:j2])]
        else:
            changes += [Change("-", x, None) for x in left[i1:i2]] + [Change("+", None, y) for y in right[j1:j2]]
    return changes


def _pair(x: Entry, y: Entry) -> Change:
    same = x.word == y.word and x.out_shape == y.out_shape and x.figures == y.figures
    return Change("=" if same else "~", x, y)


def _same_or(c: Change, what: str, text: str) -> str:
    """B's value, or '=' where it equals A's: the eye goes to what changed."""
    return "=" if c.a and c.b and getattr(c.a, what) == getattr(c.b, what) else text


def _signed(n: int, fmt_number) -> str:
    return "0" if n == 0 else ("+" if n > 0 else "-") + fmt_number(abs(n))


def render(a: Analysis, b: Analysis, changes: list[Change], names: tuple[str, str] | None = None) -> str:
    """The table; `names`: A and B as the user named them (a bundled name rather than its installed path)."""
    header = ("", "block", "A", "B", "output A", "output B", "params A", "params B", "params +/-", "MACs A", "MACs B",
              "MACs +/-")
    lines = [header]
    for c in changes:
        fa = c.a.figures if c.a else dict.fromkeys(FIGURES, 0)
        fb = c.b.figures if c.b else dict.fromkeys(FIGURES, 0)
        shape_b = fmt(c.b.out_shape) if c.b else ""
        lines.append((c.status, "  " * (c.level - 1) + c.name.split(".")[-1] if c.level > 1 else c.name,
                      c.a.word if c.a else "", _same_or(c, "word", c.b.word if c.b else ""),
                      fmt(c.a.out_shape) if c.a else "", _same_or(c, "out_shape", shape_b),
                      f"{fa['params']:,}" if c.a else "", f"{fb['params']:,}" if c.b else "",
                      _signed(fb["params"] - fa["params"], lambda n: f"{n:,}"),
                      human(fa["macs"]) if c.a else "", human(fb["macs"]) if c.b else "",
                      _signed(fb["macs"] - fa["macs"], human)))
    lines.append(("", "total", "", "", fmt(a.ir.layers[a.ir.output].out_shape), fmt(b.ir.layers[b.ir.output].out_shape),
                  f"{a.params:,}", f"{b.params:,}", _signed(b.params - a.params, lambda n: f"{n:,}"),
                  human(a.macs), human(b.macs), _signed(b.macs - a.macs, human)))
    widths = [max(len(line[i]) for line in lines) for i in range(len(header))]
    right = set(range(6, 12))

    def row(line: tuple[str, ...]) -> str:
        return "  ".join(cell.rjust(w) if i in right else cell.ljust(w)
                         for i, (cell, w) in enumerate(zip(line, widths))).rstrip()

    rule = "-" * len(row(header))
    body = [row(line) for line in lines]
    return "\n".join([
        f"A: {names[0] if names else a.ir.file} ({a.ir.network.name}, depth {a.depth})",
        f"B: {names[1] if names else b.ir.file} ({b.ir.network.name}, depth {b.depth})",
        "", body[0], rule, *body[1:-1], rule, body[-1],
        (f"activations: {human(a.activation_bytes, 'B')} -> {human(b.activation_bytes, 'B')}; "
        f"training estimate: {human(a.train_bytes, 'B')} -> {human(b.train_bytes, 'B')}"),
        "=: unchanged, ~: changed, +: only in B, -: only in A",
    ])


def as_json(a: Analysis, b: Analysis, changes: list[Change], names: tuple[str, str] | None = None) -> dict:
    def side(e: Entry | None):
        return None if e is None else {"block": e.word, "output_shape": list(e.out_shape or ()), **e.figures}

    totals = {k: {"a": getattr(a, k), "b": getattr(b, k), "change": getattr(b, k) - getattr(a, k)}
              for k in ("params", "macs", "activation_bytes", "train_bytes", "depth")}
    return {"a": names[0] if names else a.ir.file, "b": names[1] if names else b.ir.file, "totals": totals,
            "blocks": [{"name": c.name, "status": c.status, "a": side(c.a), "b": side(c.b)} for c in changes]}
