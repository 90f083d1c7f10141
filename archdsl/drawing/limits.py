"""How large a drawing Graphviz is given to lay out: refused before `dot` runs, with what to do instead."""

from __future__ import annotations

from archdsl.drawing.render import Drawing
from archdsl.errors import ArchError, Diagnostic

# What Graphviz's layout may be given: its time grows faster than the drawing (on a 2-core machine
# 500 parallel branches take 3 s and 800 take 6 s; a table of 3,000 rows 2.3 s). Real networks
# stay far below (ResNet-152 at full depth: 158 nodes, 617 rows); `.dot` output needs no layout.
MAX_LAYOUT_NODES = 600
MAX_LAYOUT_ROWS = 6_000


def layout_size(d: Drawing) -> tuple[int, int]:
    """(nodes, table rows) of the drawing's DOT text."""
    nodes = sum(1 for line in d.graph.body if "->" not in line and "[" in line)
    return nodes, d.graph.source.count("<TR")


def fits_layout(d: Drawing) -> bool:
    nodes, rows = layout_size(d)
    return nodes <= MAX_LAYOUT_NODES and rows <= MAX_LAYOUT_ROWS


def check_layout_size(d: Drawing) -> None:
    """Refuse, before Graphviz runs, a drawing too large for its layout to finish in seconds."""
    if not fits_layout(d):
        nodes, rows = layout_size(d)
        raise ArchError(Diagnostic(
            f"the drawing has {nodes:,} nodes and {rows:,} table rows, more than Graphviz lays out in seconds "
            f"(at most {MAX_LAYOUT_NODES:,} nodes and {MAX_LAYOUT_ROWS:,} rows)", code="drawing-too-large",
            hint="draw fewer levels (--depth 1 or 2), fold repetitions (--fold-repeats), or write .dot, "
                 "which needs no layout"))
