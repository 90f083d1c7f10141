"""The interactive drawing: one self-contained HTML page (SVG, zoom, search, details, collapsing).

Nothing is loaded from elsewhere: the SVGs, the layer details (JSON), the style and the script are
inline, so the page works offline and can be mailed around. The browser cannot lay a graph out, so
the network is drawn ahead at each depth (depth 1: one node per top-level block, ..., then every
layer); collapsing or expanding a block shows the drawing of that depth. Drawn elements carry ids
the script maps back to the details: `L<n>` a layer (its table cells are `a_L<n>-<col>`), `G<k>` a
collapsed group, `C<k>` an open one (a cluster, or the title row of a table).
"""

from __future__ import annotations

import html
import json
import os
import re
from concurrent.futures import ThreadPoolExecutor
from importlib import resources
from typing import Any

from archdsl.drawing.limits import fits_layout
from archdsl.drawing.render import Drawing, drawing

_PROLOG = re.compile(r"^.*?(?=<svg)", re.DOTALL)


def _asset(name: str) -> str:
    return (resources.files("archdsl.drawing") / "page" / name).read_text(encoding="utf-8")


def views(d: Drawing) -> list[Drawing]:
    """The network at every depth that collapses something, then whole; `d` itself among them.

    A depth whose drawing is too large for Graphviz is left out (the one asked for was checked).
    """
    deepest = max(g.depth for g in d.diagram.groups())
    wanted = d.depth if d.depth is not None and d.depth <= deepest else None
    out = []
    for depth in [*range(1, deepest + 1), None]:
        if depth == wanted:
            out.append(d)
            continue
        other = drawing(d.ir, depth, rankdir=d.rankdir, fold_repeats=d.fold_repeats)
        if fits_layout(other):
            out.append(other)
    return out


def page(d: Drawing, title: str | None = None) -> str:
    """The drawing as one standalone HTML page, opening at `d`'s depth."""
    drawn = views(d)
    start = drawn.index(d)
    # Each layout is a `dot` process of its own: run side by side, they take the time of the largest.
    with ThreadPoolExecutor(max_workers=min(len(drawn), os.cpu_count() or 1)) as pool:
        svgs = list(pool.map(_svg, drawn))
    info = _details(drawn)
    groups = d.diagram.groups()
    number = {id(g): k for k, g in enumerate(groups)}
    # For each group: the group it sits in (-1 for the network itself) and its nesting depth.
    tree = [[-1, 0] for _ in groups]
    for k, g in enumerate(groups):
        for child in g.children:
            if isinstance(child, int):
                if f"L{child}" in info:
                    info[f"L{child}"]["group"] = k
            else:
                tree[number[id(child)]] = [k, child.depth]
    deepest = max(g.depth for g in groups)
    depths = [v.depth if v.depth is not None and v.depth <= deepest else None for v in drawn]
    meta = {"input": f"L{d.ir.input}", "start": start, "depths": depths, "groups": tree}
    title = html.escape(title or d.ir.network.name)
    others = "\n".join(f'<template id="view-{i}">{svg}</template>' for i, svg in enumerate(svgs) if i != start)
    buttons = "".join(f'<button type="button" data-view="{i}">{depth or "all"}</button>'
                      for i, depth in enumerate(depths))
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>{title}</title>
<style>{_asset("viewer.css")}</style>
</head>
<body>
<header>
<h1>{title}</h1>
<input id="search" type="search" placeholder="find a layer (name, path, word)  [/]" autocomplete="off">
<span id="count"></span>
<button id="reset" type="button" title="open view [0]">fit</button>
<span id="depths"{"" if len(drawn) > 1 else " hidden"}>depth {buttons}</span>
<span class="help">drag to pan; wheel or +/- to zoom; arrows; n: next hit; double-click: expand or fold a block</span>
</header>
<main>
<div id="view">
{svgs[start]}
</div>
<aside>
<div id="details"><h2>{title}</h2><p>Click a layer or a block to see its source line, shapes, parameters, MACs
and options.</p></div>
<ul id="matches"></ul>
</aside>
</main>
{others}
<script type="application/json" id="archdsl-info">{_json(info)}</script>
<script type="application/json" id="archdsl-views">{_json(meta)}</script>
<script>{_asset("viewer.js")}</script>
</body>
</html>
"""


def _svg(d: Drawing) -> str:
    return _PROLOG.sub("", d.graph.pipe(format="svg", encoding="utf-8"), count=1)


def _details(drawn: list[Drawing]) -> dict[str, dict[str, Any]]:
    """What each element of every view stands for; the deepest view first, so keys follow the source."""
    info: dict[str, dict[str, Any]] = {}
    for v in reversed(drawn):
        for key, value in v.info.items():
            info.setdefault(key, dict(value))
    highlight = _highlighter()
    if highlight is not None:
        for value in info.values():
            if value.get("text"):
                value["html"] = highlight(value["text"])
    return info


def _highlighter():
    """The source lines as highlighted HTML (Pygments' own escaping, inline styles), where Pygments is
    installed: the details panel shows them so. None without it: the panel shows plain text."""
    try:
        from pygments import highlight
        from pygments.formatters import HtmlFormatter

        from archdsl.highlighting import ArchLexer
    except ImportError:
        return None
    lexer, formatter = ArchLexer(), HtmlFormatter(nowrap=True, noclasses=True)
    cache: dict[str, str] = {}

    def html_of(text: str) -> str:
        if text not in cache:
            cache[text] = highlight(text, lexer, formatter).rstrip("\n")
        return cache[text]

    return html_of


def _json(value: object) -> str:
    # Inside <script> only `<` can end the data early (`</script>`, or `<!--<script>`, which sends the
    # parser into a state where the real `</script>` no longer closes it): JSON writes it as \u003c.
    return json.dumps(value, separators=(",", ":")).replace("<", "\\u003c")
