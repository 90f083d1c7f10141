"""Drawing: a network's diagram straight from its source, as Graphviz DOT, SVG, PNG, PDF or HTML.

Drawn from the IR: no model is built and nothing runs. Clusters follow the block structure
(diagram.py); a run of plain layers is one table node with a row per layer (name, layer, output
shape, parameters), which keeps long chains short; joins (`+`, `×`, concat) are small nodes of their
own; an edge carries the tensor shape where its source changed it, a reference's edge its name.
`depth` collapses every group at that nesting depth into one node with its output shape and total
parameters.
"""

from __future__ import annotations

import html
from dataclasses import dataclass, field
from itertools import pairwise
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeGuard

from archdsl.analysis.costs import analyse
from archdsl.drawing.diagram import JOINS, Diagram, Group, display_name, structure, value_text
from archdsl.drawing.references import Skips, references, skips
from archdsl.errors import ArchError, Diagnostic
from archdsl.ir.nodes import IR, Join, Layer, ModulePath
from archdsl.layers import OPS
from archdsl.pipeline import build
from archdsl.shapes.inference import fmt

if TYPE_CHECKING:
    import graphviz

RANKDIRS = ("TB", "LR")
# Row colours by layer family (each registry entry's `color`), so a glance tells convolutions from
# pooling from classifiers.
ROW_COLORS = {op: spec.color for op, spec in OPS.items() if spec.color}
ROW_DEFAULT = "#f4f4f4"
CLUSTER_STYLES = {
    "block": {"fillcolor": "#f5f8fd", "color": "#9db1cf"},
    "seq": {"fillcolor": "#fbfbfb", "color": "#b9b9b9"},
    "residual": {"fillcolor": "#fff8ec", "color": "#e0b673"},
    "concat": {"fillcolor": "#f1f9f1", "color": "#8fc08f"},
    "gate": {"fillcolor": "#f6f0fb", "color": "#b39ad1"},
    "split": {"fillcolor": "#eef7f7", "color": "#86bdbd"},
}
SIDE_STYLE = {"fillcolor": "#fdf1f1", "color": "#d98c8c", "style": "rounded,filled,dashed"}
JOIN_STYLES: dict[str, dict[str, str]] = {
    Join.INPUT: {"shape": "box", "style": "rounded,filled", "fillcolor": "#e6e6e6"},
    Join.OUTPUT: {"shape": "box", "style": "rounded,filled", "fillcolor": "#e6e6e6"},
    Join.SIDE_OUTPUT: {"shape": "box", "style": "rounded,filled,dashed", "fillcolor": "#fdf1f1"},
    Join.NAMED_OUTPUT: {"shape": "box", "style": "rounded,filled", "fillcolor": "#e6e6e6"},
    Join.ADD: {"shape": "ellipse", "style": "filled", "fillcolor": "#ffe9c2"},
    Join.CONCAT: {"shape": "box", "style": "filled", "fillcolor": "#d9f0d9"},
    Join.MUL: {"shape": "ellipse", "style": "filled", "fillcolor": "#e6dcf3"},
    Join.CHUNK: {"shape": "box", "style": "filled", "fillcolor": "#d6eded"},
}
# A residual's add and a gate's product are drawn as the operator; the HTML page's panel names them.
JOIN_TITLES: dict[str, str] = {Join.INPUT: "input", Join.OUTPUT: "output", Join.ADD: "+", Join.CONCAT: "concat",
                               Join.MUL: "×"}  # a split's parts are titled by describe()
JOIN_NAMES: dict[str, str] = {Join.ADD: "add", Join.MUL: "multiply"}
# A reference (`@d4`) is drawn dashed in its own colour and named, apart from the dashed grey identity shortcut.
REFERENCE_EDGE = {"style": "dashed", "color": "#3f6fb5", "fontcolor": "#3f6fb5", "penwidth": "1.2"}
_GRAPH = {"fontname": "Helvetica", "fontsize": "11", "nodesep": "0.25", "ranksep": "0.3", "labeljust": "l",
          "newrank": "true"}
_NODE = {"fontname": "Helvetica", "fontsize": "10", "margin": "0.06,0.03", "height": "0.3"}
_EDGE = {"fontname": "Helvetica", "fontsize": "9", "fontcolor": "#555555", "color": "#666666", "arrowsize": "0.6"}


@dataclass
class Drawing:
    """A drawn network: the Graphviz graph, and what each drawn element stands for (for the HTML page).

    The options it was drawn with and its group tree are kept so that the HTML page can draw the
    same network at its other depths.
    """

    graph: graphviz.Digraph
    ir: IR
    diagram: Diagram
    depth: int | None = None
    rankdir: str = "TB"
    fold_repeats: bool = False
    info: dict[str, dict[str, Any]] = field(default_factory=dict)


def draw(path_or_source: str | Path, depth: int | None = None, *, rankdir: str = "TB",
         params: dict[str, Any] | None = None, fold_repeats: bool = False) -> graphviz.Digraph:
    """The network's diagram as a `graphviz.Digraph` (it renders inline in Jupyter).

    `path_or_source` is a `.arch` file or the text of one; `depth` collapses everything below that
    nesting depth into one node per block; `fold_repeats` draws a run of identical `x N`
    repetitions once, marked ×N.
    """
    return drawing(_build(path_or_source, params), depth, rankdir=rankdir, fold_repeats=fold_repeats).graph


def drawing(ir: IR, depth: int | None = None, *, rankdir: str = "TB", fold_repeats: bool = False) -> Drawing:
    if depth is not None and depth < 1:
        raise ArchError(Diagnostic(f"depth must be at least 1, got {depth}", hint="leave it out to draw every layer",
                                   code="bad-drawing-option"))
    if rankdir not in RANKDIRS:
        raise ArchError(Diagnostic(f"rankdir must be {' or '.join(RANKDIRS)}, got {rankdir!r}",
                                   code="bad-drawing-option"))
    return _Drawer(ir, structure(ir, fold_repeats), depth, rankdir, fold_repeats).run()


def _build(path_or_source: str | Path, params: dict[str, Any] | None) -> IR:
    text = str(path_or_source)
    if isinstance(path_or_source, Path) or ("\n" not in text and "{" not in text):
        return build(path_or_source, params=params)
    return build(None, source=text, params=params)


class _Drawer:
    def __init__(self, ir: IR, diagram: Diagram, depth: int | None, rankdir: str, fold_repeats: bool):
        import graphviz  # here, not at the top: every command's start-up would pay for it (see cli.py)

        self.ir, self.diagram, self.depth = ir, diagram, depth
        self.split: dict[str, list[str]] = {}  # file -> its lines (lines_of)
        self.out = Drawing(graphviz.Digraph(ir.network.name, graph_attr=dict(_GRAPH, rankdir=rankdir),
                                            node_attr=_NODE, edge_attr=_EDGE), ir, diagram, depth, rankdir,
                           fold_repeats)
        self.macs = {row.layer.id: row.macs for row in analyse(ir).rows}
        self.number = {id(g): k for k, g in enumerate(diagram.groups())}
        self.node_of: dict[int, str] = {}  # layer id -> the DOT node that shows it
        self.collapsed: dict[str, Group] = {}
        self.identity: set[int] = set()  # identity shortcuts: drawn as a dashed edge, not a node

    def run(self) -> Drawing:
        root = self.diagram.root
        total = sum(layer.params for layer in self.ir.enabled_layers())  # folded repetitions included
        self.out.graph.attr(label=f"{root.title}: {_params_text(total)}",
                            labelloc="t", fontsize="14")
        self.children(self.out.graph, root)
        self.edges()
        return self.out

    # -- nodes and clusters ---------------------------------------------------------------------
    def children(self, graph: graphviz.Digraph, group: Group) -> None:
        chain: list[int] = []
        for child in group.children + [None]:
            if isinstance(child, int) and chain and self.continues(chain[-1], child):
                chain.append(child)
                continue
            if chain:
                self.table(graph, chain)
                chain = []
            if isinstance(child, Group):
                self.group(graph, child)
            elif child is None:
                continue
            elif self.ir.layers[child].op in JOINS:
                self.join(graph, child)
            else:
                chain = [child]

    def continues(self, prev: int, layer_id: int) -> bool:
        """True when `layer_id` can be the next row of the table holding `prev`: a plain linear chain."""
        layer = self.ir.layers[layer_id]
        if layer.op in JOINS or layer.inputs != [prev]:
            return False
        return [s for s in self.ir.layers[prev].outputs if self.ir.layers[s].enabled] == [layer_id]

    def group(self, graph: graphviz.Digraph, g: Group) -> None:
        k = self.number[id(g)]
        if self.depth is not None and g.depth >= self.depth:
            self.collapse(graph, g, k)
            return
        style = dict(CLUSTER_STYLES[g.kind], style="rounded,filled")
        title = g.title + (f"  ×{g.repeat}" if g.repeat > 1 else "")
        if not g.side and self.is_chain(g.children):
            # A block that is one chain of layers (conv_bn) is a table with the block as its title
            # row: a cluster around it would add a box, and edges would cross the cluster's title.
            self.record(f"C{k}", title, g.path, self.out_shape(g), g.layer_ids(), g)
            self.table(graph, g.children, (f"C{k}", title, style, self.where(g.span)))
            return
        if g.side:
            style.update(SIDE_STYLE)
            title += f"  → side output '{g.side}' (training only)"
        with graph.subgraph(name=f"cluster_{k}") as sub:
            sub.attr(label=title, id=f"C{k}", tooltip=self.where(g.span), fontsize="10", **style)
            self.record(f"C{k}", title, g.path, self.out_shape(g), g.layer_ids(), g)
            self.children(sub, g)

    def collapse(self, graph: graphviz.Digraph, g: Group, k: int) -> None:
        name = f"G{k}"
        ids = g.layer_ids()
        title = _collapsed_title(g)
        shape = self.ir.layers[g.out_node].out_shape
        total = self.params_of(ids) * g.repeat
        lines = [f"<B>{_esc(title)}</B>", _esc(fmt(shape))] + ([_esc(_params_text(total))] if total else [])
        style = SIDE_STYLE if g.side else CLUSTER_STYLES[g.kind]
        graph.node(name, label="<" + "<BR/>".join(lines) + ">", id=name, shape="box", tooltip=self.where(g.span),
                   **dict(style, style="rounded,filled" + (",dashed" if g.side else "")))
        self.collapsed[name] = g
        self.record(name, title, g.path, shape, ids, g)
        for n in ids:
            self.node_of[n] = name

    def out_shape(self, g: Group) -> tuple[int, ...] | None:
        return self.ir.layers[g.out_node].out_shape if g.out_node >= 0 else None

    def is_chain(self, children: list[Group | int]) -> TypeGuard[list[int]]:
        """True when `children` are plain layers, each feeding the next: one table draws them all."""
        ids = [c for c in children if isinstance(c, int)]
        return len(ids) == len(children) and self.ir.layers[ids[0]].op not in JOINS \
            and all(self.continues(a, b) for a, b in pairwise(ids))

    def table(self, graph: graphviz.Digraph, chain: list[int],
              header: tuple[str, str, dict, str] | None = None) -> None:
        """One node for a chain of layers, a row each; `header` (id, title, style, where) adds a title row."""
        name = f"T{chain[0]}"
        rows = "".join(self.row(self.ir.layers[n]) for n in chain)
        color = "#8a8a8a"
        if header is not None:
            key, title, style, where = header
            color = style["color"]
            rows = (f'<TR><TD ID="{key}-0" HREF="#{key}" TOOLTIP="{_esc(where)}" COLSPAN="4" ALIGN="LEFT" '
                    f'BGCOLOR="{style["fillcolor"]}">{_esc(title)}</TD></TR>') + rows
        graph.node(name, shape="plain", label=f'<<TABLE BORDER="1" CELLBORDER="0" CELLSPACING="0" '
                                               f'CELLPADDING="3" COLOR="{color}">{rows}</TABLE>>')
        for n in chain:
            self.node_of[n] = name

    def row(self, layer: Layer) -> str:
        cid = f"L{layer.id}"
        name, what = display_name(layer), _layer_text(layer)
        self.record(cid, f"{name}: {what}" if name else what, layer.path, layer.out_shape, [layer.id], layer)
        color = ROW_COLORS.get(layer.op, ROW_DEFAULT)
        tip = _esc(f"{layer.path or what} ({self.where(layer.span)})")
        cells = [(f"<B>{_esc(name)}</B>" if name else "", "LEFT"), (_esc(what), "LEFT"),
                 (f'<FONT COLOR="#444444">{_esc(fmt(layer.out_shape))}</FONT>', "LEFT"),
                 (f'<FONT COLOR="#444444">{layer.params:,}</FONT>' if layer.params else "", "RIGHT")]
        return "<TR>" + "".join(f'<TD ID="{cid}-{i}" HREF="#{cid}" TOOLTIP="{tip}" BGCOLOR="{color}" '
                                f'ALIGN="{align}">{text}</TD>' for i, (text, align) in enumerate(cells)) + "</TR>"

    def join(self, graph: graphviz.Digraph, layer_id: int) -> None:
        layer = self.ir.layers[layer_id]
        if layer.op == Join.SHORTCUT:
            if layer.derived.decision == "identity":
                self.identity.add(layer_id)
            else:
                self.table(graph, [layer_id])
            return
        name = f"L{layer_id}"
        title = JOIN_TITLES.get(layer.op) or (layer.describe() if layer.op in (Join.CHUNK, Join.NAMED_OUTPUT)
                                              else f"{layer.attrs['name']} (side output)")
        shown = fmt(layer.out_shape)
        if layer.op == Join.OUTPUT and self.ir.outputs:  # the network returns its named outputs as a dict
            title, shown = "outputs", ", ".join(self.ir.outputs)
        graph.node(name, label=f"{title}\\n{shown}", id=name, tooltip=self.where(layer.span),
                   **JOIN_STYLES[layer.op])
        self.record(name, JOIN_NAMES.get(layer.op, title), ModulePath(), layer.out_shape, [layer_id], layer)
        self.node_of[layer_id] = name

    # -- edges ----------------------------------------------------------------------------------
    def source(self, layer_id: int) -> int:
        """The drawn layer whose output an edge from `layer_id` carries (aliases, identity shortcuts)."""
        layer_id = self.diagram.aliases.get(layer_id, layer_id)
        while layer_id in self.identity:
            layer_id = self.diagram.aliases.get(self.ir.layers[layer_id].inputs[0], self.ir.layers[layer_id].inputs[0])
        return layer_id

    def edges(self) -> None:
        seen: set[tuple[str, str]] = set()
        labelled: set[str] = set()
        # Side heads hang off the main path; their edges must not pull the main path sideways.
        side = {n for g in self.diagram.groups() if g.side for n in g.layer_ids()}
        side.update(layer.id for layer in self.ir.layers if layer.op == Join.SIDE_OUTPUT)
        refs = references(self.ir)
        named = {(r.source, r.reader): r.name for r in refs}
        skip = skips(self.ir, refs)
        # Between two drawn nodes one edge: a plain one over a reference where both run (a collapsed concat
        # reads `up4` through its identity branch and through `crop(@up4)`).
        plain = {(self.node_of.get(self.source(u)), self.node_of.get(layer.id))
                 for layer in self.ir.layers for u in layer.inputs if (u, layer.id) not in named}
        for layer in self.ir.layers:
            head = self.node_of.get(layer.id)
            if head is None:
                continue
            for u in layer.inputs:
                src = self.source(u)
                tail = self.node_of.get(src)
                if tail is None or tail == head or (tail, head) in seen \
                        or ((u, layer.id) in named and (tail, head) in plain):
                    continue
                seen.add((tail, head))
                attrs = {"weight": "0"} if layer.id in side and src not in side else {}
                if (u, layer.id) in named:
                    attrs.update(REFERENCE_EDGE, label=f"@{named[u, layer.id]}")
                elif u in self.identity:
                    attrs.update(style="dashed", label="identity")
                elif tail not in labelled and self.changes(src, tail):
                    attrs["label"] = fmt(self.ir.layers[src].out_shape)
                    labelled.add(tail)
                if (u, layer.id) in skip.rising:  # laid out from head to tail, so that the way up rises
                    self.out.graph.edge(head, tail, dir="back", **attrs)
                else:
                    self.out.graph.edge(tail, head, **attrs)
        self.side_by_side(skip)

    def side_by_side(self, skip: Skips) -> None:
        """A skip's source and reader on one rank: the connection runs straight across the U."""
        for source, reader in skip.same_rank:
            pair = {self.node_of.get(self.source(source)), self.node_of.get(reader)}
            if None in pair or len(pair) < 2:  # not drawn, or collapsed into one node
                continue
            with self.out.graph.subgraph() as row:
                row.attr(rank="same")
                for name in sorted(pair, key=str):
                    row.node(str(name))

    def changes(self, layer_id: int, node: str) -> bool:
        """True when the drawn node gives a shape other than the one it was given."""
        layer = self.ir.layers[layer_id]
        if node in self.collapsed:
            before = self.ir.layers[self.collapsed[node].in_node].out_shape
            return before != layer.out_shape
        return layer.in_shape != layer.out_shape

    # -- what the HTML page shows on a click ----------------------------------------------------------
    def lines_of(self, file: str) -> list[str]:
        """A source file's lines, split once: once per layer took 12 of 26 s for a 20,000-layer chain."""
        if file not in self.split:
            self.split[file] = self.ir.program.sources.get(file, "").splitlines()
        return self.split[file]

    def record(self, key: str, title: str, path: ModulePath, shape, ids: list[int], where: Group | Layer) -> None:
        span = where.span
        lines = self.lines_of(span.file)
        repeat = where.repeat if isinstance(where, Group) else 1
        self.out.info[key] = {
            "title": title, "path": str(path), "in_shape": self.inputs_text(where),
            "shape": fmt(shape) if shape is not None else "",
            "params": self.params_of(ids) * repeat, "macs": sum(self.macs.get(n, 0) for n in ids) * repeat,
            "options": _options_text(where) if isinstance(where, Layer) else "",
            "file": span.file, "line": span.line, "column": span.column,
            "text": lines[span.line - 1].strip() if 0 < span.line <= len(lines) else "",
        }

    def inputs_text(self, where: Group | Layer) -> str:
        """The shapes going in, one per input (a concat or an add has several)."""
        inputs = where.inputs if isinstance(where, Layer) else [where.in_node] if where.in_node >= 0 else []
        return ", ".join(fmt(self.ir.layers[self.source(n)].out_shape) for n in inputs)

    def params_of(self, ids: list[int]) -> int:
        return sum(self.ir.layers[n].params for n in ids)

    @staticmethod
    def where(span) -> str:
        return f"{Path(span.file).name}:{span.line}"


def _layer_text(layer: Layer) -> str:
    """The layer in the language's shorthand; a shortcut says what it does."""
    if layer.op != Join.SHORTCUT:
        return layer.describe()
    d = layer.derived
    s = "x".join(str(v) for v in sorted(set(d.stride))) if d.stride is not None else "1"
    stride = "" if s == "1" else f"/{s}"
    if d.decision == "pad":
        return f"shortcut: zero-pad +{d.pad_channels} ch{stride}"
    if d.decision == "none":
        return "no shortcut: the body changes the shape (when_equal)"
    channels = layer.out_shape[0] if layer.out_shape else "?"
    return f"shortcut: conv1-{channels}{stride} + bn"


def _options_text(layer: Layer) -> str:
    """A layer's option values, defaults included: `kernel=7x7, stride=2x2, padding=same, bias=false`."""
    if layer.op in JOINS:
        return ""
    parts = []
    for name, value in layer.attrs.items():
        if name == "word" or value is None:  # the spelling, and options left unset (`output` of a pool)
            continue
        text = "x".join(map(value_text, value)) if isinstance(value, tuple) else value_text(value)
        parts.append(f"{name}={text}")
    return ", ".join(parts)


def _collapsed_title(g: Group) -> str:
    title = g.title or g.kind
    if g.kind == "seq":
        words = {c.title.split(": ", 1)[-1].split("(")[0] for c in g.children if isinstance(c, Group)}
        if len(words) == 1 and all(isinstance(c, Group) for c in g.children):
            title = f"{title}: {words.pop()} ×{len(g.children)}" if title else f"{words.pop()} ×{len(g.children)}"
    return title + (f"  ×{g.repeat}" if g.repeat > 1 else "")


def _params_text(n: int) -> str:
    return f"{n:,} params"


def _esc(text: str) -> str:
    return html.escape(text, quote=True)
