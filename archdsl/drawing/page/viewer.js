// The archdsl network viewer: zoom, search, details and collapsing over drawings made ahead by Graphviz.
(function () {
  "use strict";
  const info = JSON.parse(document.getElementById("archdsl-info").textContent);
  const meta = JSON.parse(document.getElementById("archdsl-views").textContent);
  const view = document.getElementById("view");
  // Graphviz writes node text 10 units tall (edge labels 9): at 1.25 pixels a unit that is 12.5 px
  // text, the least the page opens at or zooms a hit to; a hit is shown at most at 2, its
  // neighbours still in sight.
  const READABLE = 1.25, CLOSE = 2, MOST = 8, MARGIN = 16;

  // The camera: k screen pixels per drawing unit, (x, y) the drawing point at the view's top left.
  // The viewBox always has the view's own aspect ratio, so no letterboxing shifts what is seen.
  let cam = {x: 0, y: 0, k: 1};
  let svg = null, current = -1, extent = null, index = {};
  const shown = {};  // view number -> {svg, extent, index}, once prepared
  function size() { return {w: Math.max(view.clientWidth, 1), h: Math.max(view.clientHeight, 1)}; }
  function apply() {
    const s = size();
    svg.setAttribute("viewBox", [cam.x, cam.y, s.w / cam.k, s.h / cam.k].join(" "));
  }
  function least() {  // the farthest zoom out: the whole drawing with room around it
    const s = size();
    return Math.min(READABLE, 0.5 * Math.min(s.w / extent.w, s.h / extent.h));
  }
  function clampK(k) { return Math.min(Math.max(k, least()), MOST); }

  // Show region r (drawing units) at scale k: an axis it fits in is centred; on an axis it
  // overflows, the anchor box a is centred as far as the region's edges allow.
  function place(r, a, k) {
    const s = size(), m = MARGIN / k, vw = s.w / k, vh = s.h / k;
    function axis(r0, r1, a0, a1, v) {
      if (r1 - r0 + 2 * m <= v) return (r0 + r1) / 2 - v / 2;
      return Math.min(Math.max((a0 + a1) / 2 - v / 2, r0 - m), r1 + m - v);
    }
    cam = {x: axis(r.x0, r.x1, a.x0, a.x1, vw), y: axis(r.y0, r.y1, a.y0, a.y1, vh), k: k};
    apply();
  }
  function whole() { return {x0: extent.x, y0: extent.y, x1: extent.x + extent.w, y1: extent.y + extent.h}; }

  // Open at the input, readable: the whole drawing if it fits so, else its narrow side (the width
  // of a tall network, the height of a wide one).
  function home() {
    const s = size(), r = whole(), w = r.x1 - r.x0 + 2 * MARGIN, h = r.y1 - r.y0 + 2 * MARGIN;
    const all = Math.min(s.w / w, s.h / h), narrow = Math.max(s.w / w, s.h / h);
    const k = all >= READABLE ? Math.min(all, CLOSE) : Math.min(Math.max(narrow, READABLE), CLOSE);
    const input = elements(meta.input);
    place(r, input.length ? boundsOf(input) : r, k);
  }

  // Centre and zoom onto an element; one larger than the view at a readable zoom shows its start.
  function focus(key) {
    const els = elements(key);
    if (!els.length) return;
    const b = boundsOf(els), s = size();
    const fit = Math.min((s.w - 2 * MARGIN) / (b.x1 - b.x0), (s.h - 2 * MARGIN) / (b.y1 - b.y0));
    const k = clampK(Math.min(Math.max(fit, READABLE), CLOSE));
    place(b, fit >= READABLE ? b : {x0: b.x0, y0: b.y0, x1: b.x0, y1: b.y0}, k);
  }

  function zoomAt(px, py, f) {  // px, py: the fixed point, in pixels from the view's top left
    const k = clampK(cam.k * f), x = cam.x + px / cam.k, y = cam.y + py / cam.k;
    cam = {x: x - px / k, y: y - py / k, k: k};
    apply();
  }
  function pan(dx, dy) { cam.x += dx / cam.k; cam.y += dy / cam.k; apply(); }

  // Wheel: the zoom follows the wheel's delta (a mouse notch of 100 px: x1.22; a trackpad's many
  // small events add up to the same), around the pointer.
  view.addEventListener("wheel", function (ev) {
    ev.preventDefault();
    const unit = ev.deltaMode === 1 ? 16 : ev.deltaMode === 2 ? size().h : 1;
    const r = view.getBoundingClientRect();
    zoomAt(ev.clientX - r.left, ev.clientY - r.top, Math.exp(-ev.deltaY * unit * 0.002));
  }, {passive: false});
  let drag = null, moved = false;
  view.addEventListener("mousedown", function (ev) {
    drag = {x: ev.clientX, y: ev.clientY, cx: cam.x, cy: cam.y}; moved = false; view.classList.add("dragging");
  });
  window.addEventListener("mouseup", function () { drag = null; view.classList.remove("dragging"); });
  view.addEventListener("mousemove", function (ev) {
    if (!drag) return;
    const dx = ev.clientX - drag.x, dy = ev.clientY - drag.y;
    if (Math.abs(dx) + Math.abs(dy) > 3) moved = true;
    cam.x = drag.cx - dx / cam.k; cam.y = drag.cy - dy / cam.k; apply();
  });
  window.addEventListener("resize", function () { if (svg) apply(); });
  document.getElementById("reset").addEventListener("click", home);

  // -- the drawings of each depth --------------------------------------------------------------
  const KEY = /^(?:a_)?([LGC]\d+)(?:-\d+)?$/;
  function prepare(i, el) {
    el.removeAttribute("width"); el.removeAttribute("height");
    const vb = el.viewBox.baseVal, idx = {};
    el.querySelectorAll("[id]").forEach(function (e) {
      const m = KEY.exec(e.id);
      if (m) (idx[m[1]] = idx[m[1]] || []).push(e);
    });
    shown[i] = {svg: el, extent: {x: vb.x, y: vb.y, w: vb.width, h: vb.height}, index: idx};
  }
  function showView(i) {
    if (i === current) return;
    if (!shown[i]) prepare(i, document.importNode(document.getElementById("view-" + i).content, true)
      .querySelector("svg"));
    if (svg) svg.remove();
    current = i; svg = shown[i].svg; extent = shown[i].extent; index = shown[i].index;
    view.appendChild(svg);
    document.querySelectorAll("#depths button").forEach(function (b) {
      b.classList.toggle("on", +b.dataset.view === i);
    });
    mark(hits, "hit");
    if (chosen) mark([chosen], "chosen");
  }
  function depthOf(i) { return meta.depths[i] === null ? Infinity : meta.depths[i]; }
  function groupOf(key) { return key[0] === "L" ? info[key].group : meta.groups[+key.slice(1)][0]; }
  // Which drawing shows a key: a layer once its group is open, a group open (C) below the drawing's
  // depth, collapsed (G) at it.
  function drawnIn(key, i) {
    const d = depthOf(i);
    if (key[0] === "L") return d > meta.groups[info[key].group][1];
    const depth = meta.groups[+key.slice(1)][1];
    return key[0] === "C" ? d > depth : d === depth;
  }
  function other(key) { return (key[0] === "C" ? "G" : "C") + key.slice(1); }

  // Every drawn element that stands for a key, in the drawing shown.
  function elements(key) { return index[key] || []; }
  // The key as the drawing shown has it: a group is C<k> open and G<k> collapsed.
  function drawnKey(key) {
    if (elements(key).length) return key;
    if (key[0] !== "L" && elements(other(key)).length) return other(key);
    return null;
  }
  // The key in the drawing shown, else the nearest group holding it that this drawing has.
  function nearest(key) {
    if (drawnKey(key)) return drawnKey(key);
    for (let g = groupOf(key); g > 0; g = meta.groups[g][0]) {
      if (drawnKey("C" + g)) return drawnKey("C" + g);
    }
    return null;
  }
  // Show a key, switching to the shallowest drawing that has it; else its nearest drawn group.
  function reveal(key) {
    if (drawnKey(key)) return drawnKey(key);
    for (let i = 0; i < meta.depths.length; i++) {
      if (drawnIn(key, i) || (key[0] !== "L" && drawnIn(other(key), i))) { showView(i); return drawnKey(key); }
    }
    return nearest(key);
  }
  // Another depth, kept on `key` or what holds it: the depth asked for stays, even where the key (a
  // layer found by a search) is drawn only deeper.
  function switchTo(i, key) {
    showView(i);
    const k = key && nearest(key);
    if (k) focus(k); else home();
    return k;
  }
  function expand(n) {
    const depth = meta.groups[n][1];
    for (let i = 0; i < meta.depths.length; i++) if (depthOf(i) > depth) return select(switchTo(i, "C" + n));
  }
  function collapse(n) {
    const depth = meta.groups[n][1];
    for (let i = 0; i < meta.depths.length; i++) if (depthOf(i) === depth) return select(switchTo(i, "G" + n));
  }
  document.querySelectorAll("#depths button").forEach(function (b) {
    b.addEventListener("click", function () { switchTo(+b.dataset.view, chosen); });
  });

  // -- folding one block in place: its cluster in the drawing shown becomes one box, every other block
  // stays as it is. The browser cannot lay the graph out again, so the box keeps the cluster's place and
  // size; what lies inside is hidden (counted, so that a block folded inside another stays folded).
  const SVG_NS = "http://www.w3.org/2000/svg";
  function clusterOf(n) {
    return elements("C" + n).filter(function (e) { return e.classList.contains("cluster"); })[0] || null;
  }
  function within(a, b) { return a.x0 >= b.x0 - 1 && a.y0 >= b.y0 - 1 && a.x1 <= b.x1 + 1 && a.y1 <= b.y1 + 1; }
  function fold(n) {
    const c = clusterOf(n);
    if (!c || svg.querySelector("#F" + n)) return;
    const box = bounds(c);
    svg.querySelectorAll("g.node, g.edge, g.cluster, g.folded").forEach(function (e) {
      if (e === c || !within(bounds(e), box)) return;
      e.dataset.folds = (+(e.dataset.folds || 0) + 1).toString();
      e.classList.add("inside");
      e.classList.add("in-F" + n);
    });
    const d = info["G" + n] || info["C" + n];
    const g = document.createElementNS(SVG_NS, "g");
    g.setAttribute("id", "F" + n); g.setAttribute("class", "folded");
    const r = document.createElementNS(SVG_NS, "rect");
    [["x", box.x0], ["y", box.y0], ["width", box.x1 - box.x0], ["height", box.y1 - box.y0], ["rx", 4]]
      .forEach(function (a) { r.setAttribute(a[0], a[1]); });
    g.appendChild(r);
    [d.title, d.shape, d.params ? d.params.toLocaleString("en-US") + " parameters" : ""].filter(Boolean)
      .forEach(function (line, i) {
        const t = document.createElementNS(SVG_NS, "text");
        t.setAttribute("x", (box.x0 + box.x1) / 2);
        t.setAttribute("y", box.y0 + 20 + i * 16);  // at the top, where the cluster's title was
        t.setAttribute("text-anchor", "middle"); t.setAttribute("font-size", i ? 12 : 14);
        t.textContent = line; g.appendChild(t);
      });
    svg.appendChild(g);
  }
  function unfold(n) {
    const g = svg.querySelector("#F" + n);
    if (!g) return;
    g.remove();
    svg.querySelectorAll(".in-F" + n).forEach(function (e) {
      e.classList.remove("in-F" + n);
      e.dataset.folds = (+e.dataset.folds - 1).toString();
      if (e.dataset.folds === "0") e.classList.remove("inside");
    });
  }
  function unfoldAround(key) {  // open the folds that hide a key, outermost last
    for (let g = groupOf(key); g > 0; g = meta.groups[g][0]) unfold(g);
  }
  function foldedOf(ev) {
    for (let e = ev.target; e && e !== view; e = e.parentNode) {
      if (e.classList && e.classList.contains("folded")) return +e.id.slice(1);
    }
    return null;
  }

  // A key not drawn at this depth marks the collapsed block that holds it: the hits stay in sight.
  function mark(keys, cls) {
    view.querySelectorAll("." + cls).forEach(function (e) { e.classList.remove(cls); });
    keys.forEach(function (k) {
      elements(nearest(k) || k).forEach(function (e) { e.classList.add(cls); });
    });
  }
  // An element's bounding box in drawing units (Graphviz translates its groups).
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
  function boundsOf(els) {
    const all = els.map(bounds);
    function pick(f, side) { return f.apply(null, all.map(function (a) { return a[side]; })); }
    return {x0: pick(Math.min, "x0"), y0: pick(Math.min, "y0"), x1: pick(Math.max, "x1"), y1: pick(Math.max, "y1")};
  }

  // -- details of one element: what it is, where it is written, shapes, costs, options ------------
  const details = document.getElementById("details");
  let chosen = null;
  function select(key) {
    const d = key && info[key];
    if (!d) return;
    chosen = key;
    mark([key], "chosen");
    details.innerHTML = "";
    const h = document.createElement("h2"); h.textContent = d.title; details.appendChild(h);
    const dl = document.createElement("dl");
    function row(name, value, cls, pre, markup) {
      if (value === "" || value === null || value === undefined) return;
      const dt = document.createElement("dt"); dt.textContent = name;
      const dd = document.createElement(pre ? "pre" : "dd"); dd.className = cls;
      // markup: the source line highlighted by Pygments when the page was written (its text escaped there)
      if (markup) dd.innerHTML = markup; else dd.textContent = value;
      dl.appendChild(dt); dl.appendChild(dd);
    }
    row("module", d.path, "path");
    row("source", d.file + ":" + d.line + ":" + d.column, "where");
    row("line " + d.line, d.text, "text", true, d.html);
    row("input shape", d.in_shape, "inshape");
    row("output shape", d.shape, "shape");
    row("parameters", d.params.toLocaleString("en-US"), "params");
    row("MACs", d.macs.toLocaleString("en-US"), "macs");
    row("options", d.options, "options");
    details.appendChild(dl);
    const n = key[0] === "L" ? info[key].group : +key.slice(1);
    if (n > 0) {
      const p = document.createElement("p"); p.className = "actions";
      function action(text, run) {
        const b = document.createElement("button"); b.type = "button"; b.textContent = text;
        b.addEventListener("click", run); p.appendChild(b);
      }
      if (key[0] === "G") action("expand", function () { expand(n); });
      else action(key[0] === "C" ? "collapse" : "collapse its block", function () { collapse(n); });
      if (key[0] === "C" && clusterOf(n)) {
        if (svg.querySelector("#F" + n)) action("unfold", function () { unfold(n); select(key); });
        else action("fold here", function () { fold(n); select(key); });
      }
      details.appendChild(p);
    }
  }
  function keyOf(ev) {
    for (let e = ev.target; e && e !== view; e = e.parentNode) {
      const m = KEY.exec(e.id || "");
      if (m && info[m[1]]) return m[1];
    }
    return null;
  }
  view.addEventListener("click", function (ev) {
    ev.preventDefault();  // the table cells are links to #L<n>
    if (moved) return;
    const folded = foldedOf(ev), key = folded === null ? keyOf(ev) : "C" + folded;
    if (key) select(key);
  });
  view.addEventListener("dblclick", function (ev) {
    const folded = foldedOf(ev), key = keyOf(ev);
    if (folded !== null) { unfold(folded); select("C" + folded); }
    else if (key && key[0] === "G") expand(+key.slice(1));
    else if (key && key[0] === "C" && clusterOf(+key.slice(1))) { fold(+key.slice(1)); select(key); }
  });

  // -- search by layer name, module path or layer word, over every depth --------------------------
  const search = document.getElementById("search"), list = document.getElementById("matches");
  const count = document.getElementById("count");
  const keys = Object.keys(info).filter(function (k) { return k[0] !== "G" || !info[other(k)]; });
  let hits = [], at = 0;
  function go(i) {
    at = i;
    list.querySelectorAll("li").forEach(function (li, j) { li.classList.toggle("at", j === i); });
    const k = reveal(hits[i]);
    if (k) { unfoldAround(k); mark(hits, "hit"); focus(k); select(k); }
  }
  function find() {
    const q = search.value.trim().toLowerCase();
    list.innerHTML = "";
    hits = q ? keys.filter(function (k) {
      return (info[k].title + " " + info[k].path).toLowerCase().indexOf(q) >= 0;
    }) : [];
    mark(hits, "hit");
    count.textContent = q ? hits.length + " found" : "";
    hits.slice(0, 50).forEach(function (k, i) {
      const li = document.createElement("li");
      li.textContent = info[k].path ? info[k].path + " \u2014 " + info[k].title : info[k].title;
      li.addEventListener("click", function () { go(i); });
      list.appendChild(li);
    });
    if (hits.length) go(0);
  }
  function next(step) { if (hits.length) go((at + step + hits.length) % hits.length); }
  search.addEventListener("input", find);
  search.addEventListener("keydown", function (ev) {
    if (ev.key === "Enter") next(ev.shiftKey ? -1 : 1);
    else if (ev.key === "Escape") search.blur();
  });

  // -- keyboard: / search, n and N next and previous hit, + - 0 zoom, arrows pan -------------------
  document.addEventListener("keydown", function (ev) {
    if (ev.target === search || ev.ctrlKey || ev.metaKey || ev.altKey) return;
    const s = size();
    const keys = {
      "/": function () { search.focus(); search.select(); },
      "n": function () { next(1); }, "N": function () { next(-1); },
      "+": function () { zoomAt(s.w / 2, s.h / 2, 1.25); }, "=": function () { zoomAt(s.w / 2, s.h / 2, 1.25); },
      "-": function () { zoomAt(s.w / 2, s.h / 2, 0.8); }, "0": home,
      "ArrowLeft": function () { pan(-0.15 * s.w, 0); }, "ArrowRight": function () { pan(0.15 * s.w, 0); },
      "ArrowUp": function () { pan(0, -0.15 * s.h); }, "ArrowDown": function () { pan(0, 0.15 * s.h); },
    };
    if (!keys[ev.key]) return;
    ev.preventDefault();
    keys[ev.key]();
  });

  prepare(meta.start, view.querySelector("svg"));
  showView(meta.start);
  home();
})();
