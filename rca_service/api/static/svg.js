/* Drawing helpers for the incident page: a layered service graph and small line plots.
 * Plain SVG built with DOM calls (never innerHTML), so names and log text cannot inject markup. */
(() => {
  "use strict";

  const SVGNS = "http://www.w3.org/2000/svg";

  function svgEl(tag, attrs, parent) {
    const el = document.createElementNS(SVGNS, tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v !== undefined && v !== null) el.setAttribute(k, String(v));
    }
    if (parent) parent.appendChild(el);
    return el;
  }

  function svgText(parent, x, y, text, attrs) {
    const t = svgEl("text", Object.assign({ x, y }, attrs || {}), parent);
    t.textContent = text;
    return t;
  }

  function fmtTime(t) {
    if (t === null || t === undefined || !isFinite(t)) return "–";
    return new Date(t * 1000).toISOString().replace("T", " ").slice(0, 19) + " UTC";
  }

  function fmtClock(t) {
    return new Date(t * 1000).toISOString().slice(11, 16);
  }

  function fmtNumber(v) {
    if (v === null || v === undefined || !isFinite(v)) return "–";
    const a = Math.abs(v);
    if (a !== 0 && (a < 0.01 || a >= 1e6)) return v.toExponential(2);
    if (a >= 100) return v.toFixed(0);
    return v.toPrecision(3).replace(/\.?0+$/, "");
  }

  /* Layer of each node = longest path from a source, after dropping back edges found by DFS
   * (call graphs can have cycles). Returns Map(node -> layer index). */
  function layerNodes(nodes, edges) {
    const out = new Map(nodes.map((n) => [n, []]));
    for (const e of edges) if (out.has(e.source) && out.has(e.target) && e.source !== e.target) out.get(e.source).push(e.target);
    const state = new Map();
    const forward = new Map(nodes.map((n) => [n, []]));
    const visit = (n) => {
      state.set(n, 1);
      for (const m of out.get(n)) {
        if (state.get(m) === 1) continue; // back edge: ignore for layering
        forward.get(n).push(m);
        if (!state.has(m)) visit(m);
      }
      state.set(n, 2);
    };
    const indeg = new Map(nodes.map((n) => [n, 0]));
    for (const e of edges) if (indeg.has(e.target) && e.source !== e.target) indeg.set(e.target, indeg.get(e.target) + 1);
    for (const n of nodes) if (indeg.get(n) === 0 && !state.has(n)) visit(n);
    for (const n of nodes) if (!state.has(n)) visit(n);
    // Longest path over the forward (acyclic) edges in topological order.
    const order = [];
    const seen = new Set();
    const topo = (n) => {
      seen.add(n);
      for (const m of forward.get(n)) if (!seen.has(m)) topo(m);
      order.push(n);
    };
    for (const n of nodes) if (!seen.has(n)) topo(n);
    order.reverse();
    const layer = new Map(nodes.map((n) => [n, 0]));
    for (const n of order) for (const m of forward.get(n)) layer.set(m, Math.max(layer.get(m), layer.get(n) + 1));
    return layer;
  }

  /* Draw the service graph left (callers) to right (callees).
   * opts: {nodes: [name], edges: [{source, target, calls, errors}], roles: Map(name -> "root"|"candidate"|"anomalous"),
   *        ranks: Map(name -> rank), scores: Map(name -> text)} */
  function drawTopology(container, opts) {
    const nodes = opts.nodes;
    const edges = opts.edges;
    const layer = layerNodes(nodes, edges);
    const columns = [];
    for (const n of nodes) {
      const l = layer.get(n);
      (columns[l] = columns[l] || []).push(n);
    }
    // Order within a column by the mean position of callers (one barycentre pass cuts crossings).
    const pos = new Map();
    columns.forEach((col, ci) => {
      if (ci > 0) {
        const bary = (n) => {
          const ps = edges.filter((e) => e.target === n && pos.has(e.source)).map((e) => pos.get(e.source));
          return ps.length ? ps.reduce((a, b) => a + b, 0) / ps.length : Number.MAX_SAFE_INTEGER;
        };
        col.sort((a, b) => bary(a) - bary(b) || a.localeCompare(b));
      } else {
        col.sort((a, b) => a.localeCompare(b));
      }
      col.forEach((n, i) => pos.set(n, i));
    });
    const nodeW = 150, nodeH = 30, colGap = 70, rowGap = 16, pad = 16;
    const tallest = Math.max(1, ...columns.map((c) => (c ? c.length : 0)));
    const width = pad * 2 + columns.length * nodeW + Math.max(0, columns.length - 1) * colGap;
    const height = pad * 2 + tallest * nodeH + (tallest - 1) * rowGap;
    const xy = new Map();
    columns.forEach((col, ci) => {
      const colH = col.length * nodeH + (col.length - 1) * rowGap;
      const y0 = pad + (height - 2 * pad - colH) / 2;
      col.forEach((n, i) => xy.set(n, { x: pad + ci * (nodeW + colGap), y: y0 + i * (nodeH + rowGap) }));
    });

    const svg = svgEl("svg", { class: "topology", viewBox: `0 0 ${width} ${height}`, width, height, role: "img",
      "aria-label": "service call graph" });
    const defs = svgEl("defs", {}, svg);
    for (const [id, cls] of [["arrow", "edge-arrow"], ["arrow-err", "edge-arrow err"]]) {
      const m = svgEl("marker", { id, viewBox: "0 0 10 10", refX: 10, refY: 5, markerWidth: 9, markerHeight: 9, markerUnits: "userSpaceOnUse", orient: "auto" }, defs);
      svgEl("path", { d: "M0,0 L10,5 L0,10 z", class: cls }, m);
    }
    const maxCalls = Math.max(1, ...edges.map((e) => e.calls || 0));
    const gEdges = svgEl("g", { class: "edges" }, svg);
    for (const e of edges) {
      const a = xy.get(e.source), b = xy.get(e.target);
      if (!a || !b || e.source === e.target) continue;
      const errShare = e.calls ? (e.errors || 0) / e.calls : 0;
      const failing = errShare > 0.05;
      let d;
      if (layer.get(e.target) > layer.get(e.source)) {
        const x1 = a.x + nodeW, y1 = a.y + nodeH / 2, x2 = b.x, y2 = b.y + nodeH / 2, mx = (x1 + x2) / 2;
        d = `M${x1},${y1} C${mx},${y1} ${mx},${y2} ${x2},${y2}`;
      } else {
        // Back or same-column edge: loop under the nodes so it does not hide them.
        const x1 = a.x + nodeW / 2, y1 = a.y + nodeH, x2 = b.x + nodeW / 2, y2 = b.y + nodeH;
        d = `M${x1},${y1} C${x1},${y1 + 40} ${x2},${y2 + 40} ${x2},${y2}`;
      }
      const path = svgEl("path", { d, class: failing ? "edge err" : "edge", "marker-end": failing ? "url(#arrow-err)" : "url(#arrow)",
        "stroke-width": (1 + 3 * Math.log1p(e.calls || 0) / Math.log1p(maxCalls)).toFixed(2),
        "data-source": e.source, "data-target": e.target }, gEdges);
      const title = svgEl("title", {}, path);
      title.textContent = `${e.source} → ${e.target}: ${e.calls || 0} calls, ${e.errors || 0} errors`;
    }
    const gNodes = svgEl("g", { class: "nodes" }, svg);
    for (const n of nodes) {
      const p = xy.get(n);
      const role = (opts.roles && opts.roles.get(n)) || "normal";
      const g = svgEl("g", { class: `node ${role}`, "data-service": n, "data-role": role, transform: `translate(${p.x},${p.y})` }, gNodes);
      svgEl("rect", { width: nodeW, height: nodeH, rx: 6, ry: 6 }, g);
      const label = n.length > 19 ? n.slice(0, 18) + "…" : n;
      svgText(g, 10, nodeH / 2 + 4, label, { class: "label" });
      const rank = opts.ranks && opts.ranks.get(n);
      if (rank) {
        svgEl("circle", { cx: nodeW - 2, cy: 2, r: 9, class: "rank" }, g);
        svgText(g, nodeW - 2, 6, String(rank), { class: "rank-text", "text-anchor": "middle" });
      }
      const title = svgEl("title", {}, g);
      title.textContent = n + (opts.scores && opts.scores.get(n) ? ` — ${opts.scores.get(n)}` : "");
    }
    container.appendChild(svg);
    return svg;
  }

  /* One signal over time with the incident window shaded.
   * opts: {title, times: [unix s], values: [number|null], window: [start, end], step} */
  function drawSeries(container, opts) {
    const width = 420, height = 130, left = 52, right = 10, top = 22, bottom = 22;
    const svg = svgEl("svg", { class: "plot", viewBox: `0 0 ${width} ${height}`, width, height, role: "img",
      "aria-label": opts.title, "data-signal": opts.title });
    svgText(svg, left, 14, opts.title, { class: "plot-title" });
    const times = opts.times || [];
    const vals = (opts.values || []).map((v) => (v === null || v === undefined || !isFinite(v) ? null : Number(v)));
    const present = vals.filter((v) => v !== null);
    const t0 = times.length ? times[0] : 0;
    const t1 = times.length ? times[times.length - 1] + (opts.step || 0) : 1;
    let lo = present.length ? Math.min(...present) : 0, hi = present.length ? Math.max(...present) : 1;
    if (hi === lo) { hi += Math.abs(hi) * 0.1 || 1; lo -= Math.abs(lo) * 0.1 || 0; }
    const x = (t) => left + ((t - t0) / Math.max(1e-9, t1 - t0)) * (width - left - right);
    const y = (v) => top + (1 - (v - lo) / (hi - lo)) * (height - top - bottom);
    svgEl("rect", { x: left, y: top, width: width - left - right, height: height - top - bottom, class: "plot-bg" }, svg);
    if (opts.window && times.length) {
      const ws = Math.max(t0, opts.window[0]), we = Math.min(t1, opts.window[1]);
      if (we > ws) svgEl("rect", { x: x(ws), y: top, width: Math.max(2, x(we) - x(ws)), height: height - top - bottom, class: "window" }, svg);
    }
    svgText(svg, left - 4, top + 8, fmtNumber(hi), { class: "axis", "text-anchor": "end" });
    svgText(svg, left - 4, height - bottom, fmtNumber(lo), { class: "axis", "text-anchor": "end" });
    if (times.length) {
      svgText(svg, left, height - 6, fmtClock(t0), { class: "axis" });
      svgText(svg, width - right, height - 6, fmtClock(t1), { class: "axis", "text-anchor": "end" });
    }
    // A gap in the data (null) breaks the line: missing is not zero.
    let run = [];
    const flush = () => {
      if (run.length === 1) svgEl("circle", { cx: run[0][0], cy: run[0][1], r: 2, class: "series-dot" }, svg);
      if (run.length > 1) svgEl("polyline", { points: run.map((p) => p.join(",")).join(" "), class: "series" }, svg);
      run = [];
    };
    // Plot each value at the middle of its step.
    const half = (opts.step || 0) / 2;
    vals.forEach((v, i) => (v === null ? flush() : run.push([x(times[i] + half).toFixed(1), y(v).toFixed(1)])));
    flush();
    if (!present.length) svgText(svg, width / 2, height / 2, "no data", { class: "axis", "text-anchor": "middle" });
    container.appendChild(svg);
    return svg;
  }

  window.RcaSvg = { svgEl, drawTopology, drawSeries, layerNodes, fmtTime, fmtNumber };
})();
