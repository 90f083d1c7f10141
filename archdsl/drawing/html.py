"""The interactive drawing: one self-contained HTML page (SVG, pan and zoom, search, click for details).

Nothing is loaded from elsewhere: the SVG, the layer details (JSON) and the script are inline, so
the page works offline and can be mailed around. Drawn elements carry ids the script maps back
to the details: `L<n>` a layer (its table cells are `a_L<n>-<col>`), `G<k>` a collapsed group,
`C<k>` a cluster.
"""

from __future__ import annotations

import html
import json
import re

from archdsl.drawing.render import Drawing

_PROLOG = re.compile(r"^.*?(?=<svg)", re.DOTALL)

_STYLE = """
html, body { margin: 0; height: 100%; font: 13px Helvetica, Arial, sans-serif; }
body { display: flex; flex-direction: column; }
header { display: flex; gap: 12px; align-items: center; padding: 6px 10px; border-bottom: 1px solid #ccc; }
header h1 { font-size: 15px; margin: 0; }
#search { width: 220px; padding: 3px 6px; }
#count { color: #666; }
main { flex: 1; display: flex; min-height: 0; }
#view { flex: 1; overflow: hidden; cursor: grab; background: #fff; }
#view.dragging { cursor: grabbing; }
#view svg { width: 100%; height: 100%; }
aside { width: 320px; border-left: 1px solid #ccc; padding: 8px 10px; overflow: auto; }
aside h2 { font-size: 14px; margin: 0 0 6px; }
aside dt { color: #666; margin-top: 6px; }
aside dd { margin: 0; }
aside pre { background: #f4f4f4; padding: 4px 6px; white-space: pre-wrap; margin: 2px 0; }
#matches { list-style: none; padding: 0; margin: 8px 0; }
#matches li { cursor: pointer; padding: 1px 0; }
#matches li:hover { text-decoration: underline; }
.hit polygon, .hit ellipse, .hit path { stroke: #e0342c !important; stroke-width: 3px !important; }
.chosen polygon, .chosen ellipse, .chosen path { stroke: #1f6fd6 !important; stroke-width: 3px !important; }
"""

_SCRIPT = r"""
(function () {
  const info = JSON.parse(document.getElementById("archdsl-info").textContent);
  const view = document.getElementById("view");
  const svg = view.querySelector("svg");
  svg.removeAttribute("width"); svg.removeAttribute("height");
  const full = svg.viewBox.baseVal;
  let box = {x: full.x, y: full.y, w: full.width, h: full.height};
  const home = Object.assign({}, box);
  function apply() { svg.setAttribute("viewBox", [box.x, box.y, box.w, box.h].join(" ")); }

  // Pan with the mouse, zoom with the wheel around the pointer.
  function toSvg(ev) {
    const r = svg.getBoundingClientRect();
    const s = Math.max(box.w / r.width, box.h / r.height);
    const ox = (r.width - box.w / s) / 2, oy = (r.height - box.h / s) / 2;
    return {x: box.x + (ev.clientX - r.left - ox) * s, y: box.y + (ev.clientY - r.top - oy) * s, s: s};
  }
  view.addEventListener("wheel", function (ev) {
    ev.preventDefault();
    const p = toSvg(ev), f = ev.deltaY > 0 ? 1.15 : 1 / 1.15;
    box = {x: p.x - (p.x - box.x) * f, y: p.y - (p.y - box.y) * f, w: box.w * f, h: box.h * f};
    apply();
  }, {passive: false});
  let drag = null, moved = false;
  view.addEventListener("mousedown", function (ev) {
    drag = toSvg(ev); moved = false; view.classList.add("dragging");
  });
  window.addEventListener("mouseup", function () { drag = null; view.classList.remove("dragging"); });
  view.addEventListener("mousemove", function (ev) {
    if (!drag) return;
    const p = toSvg(ev);
    if (Math.abs(p.x - drag.x) + Math.abs(p.y - drag.y) > 2 * p.s) moved = true;
    box.x -= p.x - drag.x; box.y -= p.y - drag.y; apply();
  });
  document.getElementById("reset").addEventListener("click", function () { box = Object.assign({}, home); apply(); });

  // Every drawn element that stands for a key of `info`.
  function elements(key) {
    return Array.from(svg.querySelectorAll('[id="' + key + '"], [id^="a_' + key + '-"]'));
  }
  function mark(keys, cls) {
    svg.querySelectorAll("." + cls).forEach(function (e) { e.classList.remove(cls); });
    keys.forEach(function (k) { elements(k).forEach(function (e) { e.classList.add(cls); }); });
  }
  // An element's bounding box in the coordinates of the viewBox (Graphviz translates its groups).
  function bounds(e) {
    const b = e.getBBox(), m = svg.getScreenCTM().inverse().multiply(e.getScreenCTM());
    const p = svg.createSVGPoint(), xs = [], ys = [];
    [[b.x, b.y], [b.x + b.width, b.y + b.height]].forEach(function (c) {
      p.x = c[0]; p.y = c[1];
      const q = p.matrixTransform(m); xs.push(q.x); ys.push(q.y);
    });
    return {x0: Math.min.apply(null, xs), y0: Math.min.apply(null, ys),
            x1: Math.max.apply(null, xs), y1: Math.max.apply(null, ys)};
  }
  function centre(key) {
    const els = elements(key);
    if (!els.length) return;
    const all = els.map(bounds);
    const b = {x0: Math.min.apply(null, all.map(function (a) { return a.x0; })),
               y0: Math.min.apply(null, all.map(function (a) { return a.y0; })),
               x1: Math.max.apply(null, all.map(function (a) { return a.x1; })),
               y1: Math.max.apply(null, all.map(function (a) { return a.y1; }))};
    b.x = b.x0; b.y = b.y0; b.width = b.x1 - b.x0; b.height = b.y1 - b.y0;
    const aspect = box.h / box.w, w = Math.max(b.width * 1.6, b.height * 1.6 / aspect, 400), h = w * aspect;
    box = {x: b.x + b.width / 2 - w / 2, y: b.y + b.height / 2 - h / 2, w: w, h: h};
    apply();
  }

  // Details of one element: what it is, where it is written, its shape and parameters.
  const details = document.getElementById("details");
  function show(key) {
    const d = info[key];
    if (!d) return;
    mark([key], "chosen");
    details.innerHTML = "";
    const h = document.createElement("h2"); h.textContent = d.title; details.appendChild(h);
    const dl = document.createElement("dl");
    function row(name, value, cls, pre) {
      if (value === "" || value === null || value === undefined) return;
      const dt = document.createElement("dt"); dt.textContent = name;
      const dd = document.createElement(pre ? "pre" : "dd"); dd.textContent = value; dd.className = cls;
      dl.appendChild(dt); dl.appendChild(dd);
    }
    row("module", d.path, "path");
    row("source", d.file + ":" + d.line + ":" + d.column, "where");
    row("line " + d.line, d.text, "text", true);
    row("output shape", d.shape, "shape");
    row("parameters", d.params.toLocaleString("en-US"), "params");
    details.appendChild(dl);
  }
  svg.addEventListener("click", function (ev) {
    ev.preventDefault();
    if (moved) return;
    for (let e = ev.target; e && e !== svg; e = e.parentNode) {
      const m = /^(?:a_)?([LGC]\d+)(?:-\d+)?$/.exec(e.id || "");
      if (m && info[m[1]]) { show(m[1]); return; }
    }
  });

  // Search by layer name, module path or layer word.
  const search = document.getElementById("search"), list = document.getElementById("matches");
  const count = document.getElementById("count");
  let hits = [], at = 0;
  function find() {
    const q = search.value.trim().toLowerCase();
    list.innerHTML = "";
    hits = q ? Object.keys(info).filter(function (k) {
      return (info[k].title + " " + info[k].path).toLowerCase().indexOf(q) >= 0 && elements(k).length;
    }) : [];
    at = 0;
    mark(hits, "hit");
    count.textContent = q ? hits.length + " found" : "";
    hits.slice(0, 50).forEach(function (k) {
      const li = document.createElement("li");
      li.textContent = info[k].path ? info[k].path + " \u2014 " + info[k].title : info[k].title;
      li.dataset.key = k;
      li.addEventListener("click", function () { centre(k); show(k); });
      list.appendChild(li);
    });
    if (hits.length) { centre(hits[0]); show(hits[0]); }
  }
  search.addEventListener("input", find);
  search.addEventListener("keydown", function (ev) {
    if (ev.key === "Enter" && hits.length) { at = (at + 1) % hits.length; centre(hits[at]); show(hits[at]); }
  });
  apply();
})();
"""


def page(drawing: Drawing, title: str | None = None) -> str:
    """The drawing as one standalone HTML page."""
    svg = _PROLOG.sub("", drawing.graph.pipe(format="svg", encoding="utf-8"), count=1)
    # Inside <script> only `<` can end the data early (`</script>`, or `<!--<script>`, which sends the
    # parser into a state where the real `</script>` no longer closes it): JSON writes it as \u003c.
    data = json.dumps(drawing.info, separators=(",", ":")).replace("<", "\\u003c")
    title = html.escape(title or drawing.ir.network.name)
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>{title}</title>
<style>{_STYLE}</style>
</head>
<body>
<header>
<h1>{title}</h1>
<input id="search" type="search" placeholder="find a layer (name, path, word)" autocomplete="off">
<span id="count"></span>
<button id="reset" type="button">fit</button>
<span style="color:#666">drag to pan, wheel to zoom, click a layer for details</span>
</header>
<main>
<div id="view">
{svg}
</div>
<aside>
<div id="details"><h2>{title}</h2><p>Click a layer or a block to see its source line, output shape and
parameters.</p></div>
<ul id="matches"></ul>
</aside>
</main>
<script type="application/json" id="archdsl-info">{data}</script>
<script>{_SCRIPT}</script>
</body>
</html>
"""
