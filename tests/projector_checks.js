// projector_checks.js — what tests/test_projector.py measures in the page, from the DOM and the computed
// styles only (no pixels): text that overflows its box or the viewport, legend items that are not
// visible, and the contrast of every diagram edge against what it runs over.
//
// Evaluated as one function expression by Playwright: () => {overflow: [...], legend: [...], edges: [...]}.
// Every finding is {where, what}: `where` a short CSS-like path of the element, `what` the fault in
// numbers.  Tolerance: 1 CSS px (subpixel layout), 1.5 px for SVG text (glyph boxes are not exact).
() => {
  const TOL = 1, SVG_TOL = 1.5;
  const VW = document.documentElement.clientWidth, VH = document.documentElement.clientHeight;
  const SKIP_TEXT_IN = new Set(["SCRIPT", "STYLE", "NOSCRIPT", "TEMPLATE", "TITLE", "OPTION", "OPTGROUP",
    "TEXTAREA", "DATALIST", "DESC", "METADATA", "title", "desc", "metadata", "style", "script"]);
  const out = {overflow: [], legend: [], edges: []};
  const seen = new Set(), flagged = new Set();
  const report = (list, where, what, el) => {
    const key = `${where}|${what}`;
    if (el) flagged.add(el);
    if (!seen.has(key)) { seen.add(key); list.push({where, what}); }
  };
  const px = (n) => `${Math.round(n)}px`;

  // -- naming an element: tag#id.class[data-*], with the nearest ancestor that has an id --------
  function own(el) {
    let name = el.tagName.toLowerCase();
    if (el.id) return `${name}#${el.id}`;
    const cls = (el.getAttribute("class") || "").trim().split(/\s+/).filter((c) => c && c.length < 30).slice(0, 3);
    if (cls.length) name += "." + cls.join(".");
    for (const attr of ["data-node", "data-kind", "data-lang", "data-col", "data-term"]) {
      const v = el.getAttribute(attr);
      if (v) { name += `[${attr}="${v}"]`; break; }
    }
    return name;
  }
  function describe(el) {
    const parts = [own(el)];
    let up = el.parentElement, hops = 0;
    while (up && !el.id && hops < 6) {
      if (up.id || up.hasAttribute("data-node") || up.tagName === "LI") {
        parts.unshift(own(up));
        if (up.id) break;
      }
      up = up.parentElement;
      hops++;
    }
    return parts.join(" ");
  }
  const textOf = (el) => (el.textContent || "").replace(/\s+/g, " ").trim();
  const quote = (s) => JSON.stringify(s.length > 40 ? s.slice(0, 39) + "…" : s);

  // -- visibility --------------------------------------------------------------------------------
  function shown(el) {
    if (!el.checkVisibility({checkOpacity: true, checkVisibilityCSS: true})) return false;
    for (let e = el; e && e.nodeType === 1; e = e.parentElement) {
      const cs = getComputedStyle(e);
      if (cs.clip && cs.clip !== "auto") return false;                   // .sr-only
      if (e.tagName === "defs" || e.tagName === "marker" || e.tagName === "pattern") return false;
    }
    const r = el.getBoundingClientRect();
    return r.width > 0 || r.height > 0;           // a straight edge has no height (or width)
  }
  const isBlock = (el) => !["inline", "contents"].includes(getComputedStyle(el).display) || el instanceof SVGSVGElement;
  const axisMode = (el, axis) => {
    const cs = getComputedStyle(el);
    const value = axis === "x" ? cs.overflowX : cs.overflowY;
    if (value === "auto" || value === "scroll") return "scroll";
    if (value === "hidden" || value === "clip") return "clip";
    if (/paint|strict|content/.test(cs.contain)) return "clip";
    return "visible";
  };

  function union(rects) {
    let l = Infinity, t = Infinity, r = -Infinity, b = -Infinity;
    for (const q of rects) {
      if (!q.width && !q.height) continue;
      l = Math.min(l, q.left); t = Math.min(t, q.top); r = Math.max(r, q.right); b = Math.max(b, q.bottom);
    }
    return l === Infinity ? null : {left: l, top: t, right: r, bottom: b};
  }
  function beyond(inner, outer, tol) {
    const out = [];
    if (inner.left < outer.left - tol) out.push(`left by ${px(outer.left - inner.left)}`);
    if (inner.right > outer.right + tol) out.push(`right by ${px(inner.right - outer.right)}`);
    if (inner.top < outer.top - tol) out.push(`top by ${px(outer.top - inner.top)}`);
    if (inner.bottom > outer.bottom + tol) out.push(`bottom by ${px(inner.bottom - outer.bottom)}`);
    return out;
  }
  const only = (parts, axis) => parts.filter((p) => axis === "x" ? /^(left|right)/.test(p) : /^(top|bottom)/.test(p));
  const viewport = {left: 0, top: 0, right: VW, bottom: VH};

  // -- 1. HTML text: every visible text node inside its block, its clipping ancestors and the viewport
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  const range = document.createRange();
  for (let node = walker.nextNode(); node; node = walker.nextNode()) {
    if (!node.data.trim()) continue;
    const parent = node.parentElement;
    if (!parent || SKIP_TEXT_IN.has(parent.tagName) || parent.closest("svg")) continue;
    if (!shown(parent)) continue;
    range.selectNodeContents(node);
    const text = union(range.getClientRects());
    if (!text) continue;
    const label = `${describe(parent)} ${quote(textOf(parent))}`;
    let block = parent;
    while (block !== document.body && !isBlock(block)) block = block.parentElement;
    const scrolled = {x: false, y: false}, cut = {x: false, y: false};
    for (let a = parent; a && a !== document.documentElement; a = a.parentElement) {
      const box = a.getBoundingClientRect();
      for (const axis of ["x", "y"]) {
        if (scrolled[axis]) continue;
        const mode = axisMode(a, axis);
        if (mode === "scroll") { scrolled[axis] = true; continue; }
        const past = only(beyond(text, box, TOL), axis);
        if (!past.length) continue;
        if (mode === "clip") { report(out.overflow, label, `text cut by ${own(a)} (${past.join(", ")})`, a); cut[axis] = true; }
        else if (a === block) report(out.overflow, label, `text runs out of its box (${past.join(", ")})`, a);
      }
    }
    for (const axis of ["x", "y"]) {
      if (scrolled[axis] || cut[axis]) continue;
      const past = only(beyond(text, viewport, TOL), axis);
      if (past.length) report(out.overflow, label, `text outside the viewport (${past.join(", ")})`);
    }
  }
  // clipping boxes whose text is wider or taller than they are (an ellipsis, a cut line)
  for (const el of document.body.querySelectorAll("*")) {
    if (flagged.has(el) || el.closest("svg") || SKIP_TEXT_IN.has(el.tagName) || !shown(el)) continue;
    if (![...el.childNodes].some((n) => n.nodeType === 3 && n.data.trim()) && !el.querySelector(":scope > span, :scope > code, :scope > b"))
      continue;
    for (const axis of ["x", "y"]) {
      if (axisMode(el, axis) !== "clip") continue;
      const [scroll, client] = axis === "x" ? [el.scrollWidth, el.clientWidth] : [el.scrollHeight, el.clientHeight];
      if (client > 1 && scroll > client + TOL) {
        report(out.overflow, `${describe(el)} ${quote(textOf(el))}`,
          `text cut: needs ${px(scroll)}, has ${px(client)} (${axis === "x" ? "width" : "height"})`);
      }
    }
  }
  // a <select> shows its chosen option: the option's words must fit the box (minus the arrow)
  const canvas = document.createElement("canvas").getContext("2d");
  for (const sel of document.querySelectorAll("select")) {
    if (!shown(sel) || sel.selectedIndex < 0) continue;
    const cs = getComputedStyle(sel);
    canvas.font = `${cs.fontStyle} ${cs.fontWeight} ${cs.fontSize} ${cs.fontFamily}`;
    const words = sel.options[sel.selectedIndex].text.trim();
    const need = canvas.measureText(words).width;
    const room = sel.clientWidth - parseFloat(cs.paddingLeft) - parseFloat(cs.paddingRight) - 16;
    if (need > room + TOL) report(out.overflow, `${describe(sel)} ${quote(words)}`, `chosen option cut: needs ${px(need)}, has ${px(room)}`);
  }

  // -- 2. SVG text: inside its box (the <rect> drawn just before it) and inside the diagram's visible area
  for (const svg of document.querySelectorAll("body svg")) {
    if (!shown(svg)) continue;
    let area = svg.getBoundingClientRect();
    area = {left: Math.max(area.left, 0), top: Math.max(area.top, 0), right: Math.min(area.right, VW), bottom: Math.min(area.bottom, VH)};
    for (let a = svg.parentElement; a && a !== document.documentElement; a = a.parentElement) {
      const modeX = axisMode(a, "x"), modeY = axisMode(a, "y");
      if (modeX === "visible" && modeY === "visible") continue;
      const r = a.getBoundingClientRect();
      if (modeX !== "visible") area = {...area, left: Math.max(area.left, r.left), right: Math.min(area.right, r.right)};
      if (modeY !== "visible") area = {...area, top: Math.max(area.top, r.top), bottom: Math.min(area.bottom, r.bottom)};
    }
    for (const el of svg.querySelectorAll("text")) {
      if (el.parentElement.closest("text") || !textOf(el) || !shown(el)) continue;
      const r = el.getBoundingClientRect();
      const label = `${describe(el)} ${quote(textOf(el))}`;
      let box = el.previousElementSibling;
      while (box && ["text", "title", "desc"].includes(box.tagName)) box = box.previousElementSibling;
      if (box && box.tagName !== "rect") box = null;
      if (box && shown(box)) {
        const past = beyond(r, box.getBoundingClientRect(), SVG_TOL);
        if (past.length) report(out.overflow, label, `text runs out of its ${own(box)} (${past.join(", ")})`);
      }
      const past = beyond(r, area, SVG_TOL);
      if (past.length) report(out.overflow, label, `text outside the diagram's visible area (${past.join(", ")})`);
    }
  }

  // -- 3. the legend: every item rendered, inside the viewport, not covered ------------------------
  const items = document.querySelectorAll(".legend > li, .legend-item");
  if (!items.length) report(out.legend, "body", "no legend on the page (.legend > li)");
  for (const li of items) {
    const name = `${describe(li)} ${quote(textOf(li) || li.getAttribute("class") || "")}`;
    if (!shown(li)) {
      let why = "not rendered";
      for (let e = li; e; e = e.parentElement) {
        const cs = getComputedStyle(e);
        if (cs.display === "none") { why = `not rendered (display: none on ${describe(e)})`; break; }
        if (cs.visibility === "hidden") { why = `not rendered (visibility: hidden on ${describe(e)})`; break; }
      }
      report(out.legend, name, why);
      continue;
    }
    const r = li.getBoundingClientRect();
    const past = beyond(r, viewport, TOL);
    if (past.length) { report(out.legend, name, `outside the viewport (${past.join(", ")})`); continue; }
    const cx = (r.left + r.right) / 2, cy = (r.top + r.bottom) / 2;
    const top = document.elementFromPoint(cx, cy);
    if (top && !li.contains(top) && !top.contains(li)) report(out.legend, name, `covered by ${describe(top)}`);
  }

  // -- 4. the diagram's edges (and the held hop's path): stroke and arrowhead against what lies under them
  const ctx = document.createElement("canvas").getContext("2d");
  function rgba(value) {
    if (!value || value === "none" || value === "transparent") return null;
    const m = value.match(/rgba?\(([^)]+)\)/);
    if (m) {
      const p = m[1].split(/[\s,\/]+/).filter(Boolean).map(Number);
      return [p[0], p[1], p[2], p.length > 3 ? p[3] : 1];
    }
    ctx.fillStyle = "#000"; ctx.fillStyle = value;
    const v = ctx.fillStyle;
    if (v.startsWith("#")) return [1, 3, 5].map((i) => parseInt(v.slice(i, i + 2), 16)).concat([1]);
    const n = v.match(/rgba?\(([^)]+)\)/);
    return n ? n[1].split(",").map(Number).concat([1]).slice(0, 4) : null;
  }
  const over = (top, alpha, under) => top.slice(0, 3).map((c, i) => c * alpha + under[i] * (1 - alpha));
  const lum = (c) => {
    const [r, g, b] = c.map((v) => { v /= 255; return v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4; });
    return 0.2126 * r + 0.7152 * g + 0.0722 * b;
  };
  const ratio = (a, b) => { const [x, y] = [lum(a), lum(b)].sort((p, q) => q - p); return (x + 0.05) / (y + 0.05); };
  const hex = (c) => "#" + c.map((v) => Math.round(v).toString(16).padStart(2, "0")).join("");
  const opacityOf = (el) => {
    let o = 1;
    for (let e = el; e && e.nodeType === 1; e = e.parentElement) o *= Number(getComputedStyle(e).opacity);
    return o;
  };
  function paint(el, prop) {           // the colour a fill or stroke paints, a pattern by its first rect
    const value = getComputedStyle(el)[prop];
    const url = value && value.match(/url\(["']?#([^"')]+)/);
    if (url) {
      const pattern = document.getElementById(url[1]);
      const first = pattern && pattern.querySelector("rect");
      return first ? rgba(getComputedStyle(first).fill) : null;
    }
    return rgba(value);
  }
  function pageBehind(el) {               // the HTML backgrounds under the svg, composited from the root
    let colour = [255, 255, 255];
    const chain = [];
    for (let e = el.parentElement; e; e = e.parentElement) chain.unshift(e);
    for (const e of chain) {
      const c = rgba(getComputedStyle(e).backgroundColor);
      if (c && c[3] > 0) colour = over(c, c[3], colour);
    }
    return colour;
  }

  // the diagram's, and any other drawing of an edge (a legend's sample line)
  const drawings = [...document.querySelectorAll("body svg")].filter((svg) => svg.id === "diagram"
    || !svg.parentElement.closest("svg") && svg.querySelector(".edge, .ghost"));
  for (const svg of drawings) {
    const edges = [...svg.querySelectorAll(".edge, .ghost")].filter((e) => e instanceof SVGGeometryElement && shown(e));
    if (svg.id === "diagram" && !edges.length) report(out.edges, "#diagram", "no edge drawn");
    if (!edges.length) continue;
    const base = pageBehind(svg);
    const shapes = [...svg.querySelectorAll("rect, circle, ellipse, path, polygon, polyline")].filter((el) =>
      !el.closest("defs, marker, pattern, clipPath, mask, symbol") && !el.matches(".edge, .ghost") && shown(el)
      && paint(el, "fill"));
    const info = new Map(shapes.map((el) => {
      const f = paint(el, "fill");
      return [el, {fill: f, alpha: f[3] * Number(getComputedStyle(el).fillOpacity) * opacityOf(el)}];
    }));
    const nodes = [...svg.querySelectorAll("[data-node]")].filter(shown);
    const nodeAt = (x, y) => {
      let best = null, dist = Infinity;
      for (const n of nodes) {
        const r = n.getBoundingClientRect();
        const d = Math.hypot(Math.max(r.left - x, 0, x - r.right), Math.max(r.top - y, 0, y - r.bottom));
        if (d < dist) { dist = d; best = n.getAttribute("data-node"); }
      }
      return best || "?";
    };
    const inFill = (el, x, y) => {
      const m = el.getScreenCTM();
      if (!m) return false;
      const p = new DOMPoint(x, y).matrixTransform(m.inverse());
      return el.isPointInFill(p);
    };
    const behind = (edge, x, y) => {      // colour under (x, y) below the edge; null if hidden by shapes above
      let colour = base;
      for (const el of shapes) {
        const above = edge.compareDocumentPosition(el) & Node.DOCUMENT_POSITION_FOLLOWING;
        const {fill, alpha} = info.get(el);
        if (!inFill(el, x, y)) continue;
        if (above) { if (alpha >= 0.9 && !el.closest(".token, .flash, .ghost, .ghosts")) return null; continue; }
        colour = over(fill, alpha, colour);
      }
      return colour;
    };
    edges.forEach((edge) => {
      const stroke = paint(edge, "stroke");
      const cs = getComputedStyle(edge);
      const ends = () => {
        const len = edge.getTotalLength(), m = edge.getScreenCTM();
        const a = edge.getPointAtLength(0).matrixTransform(m), b = edge.getPointAtLength(len).matrixTransform(m);
        return `${nodeAt(a.x, a.y)} → ${nodeAt(b.x, b.y)}`;
      };
      const name = () => svg.id === "diagram" ? `${own(edge)} ${ends()}` : describe(edge);
      if (!stroke) { report(out.edges, name(), "no stroke colour"); return; }
      const alpha = stroke[3] * Number(cs.strokeOpacity) * opacityOf(edge);
      const len = edge.getTotalLength(), m = edge.getScreenCTM();
      const steps = Math.max(2, Math.min(160, Math.ceil(len / 6)));
      let worst = null;
      for (let i = 0; i <= steps; i++) {
        const p = edge.getPointAtLength(len * i / steps).matrixTransform(m);
        if (p.x < 0 || p.y < 0 || p.x > VW || p.y > VH) continue;
        const bg = behind(edge, p.x, p.y);
        if (!bg) continue;
        const fg = over(stroke, alpha, bg);
        const r = ratio(fg, bg);
        if (!worst || r < worst.r) worst = {r, fg, bg};
      }
      if (worst && worst.r < 3) {
        report(out.edges, name(), `stroke ${worst.r.toFixed(2)}:1 (${hex(worst.fg)} on ${hex(worst.bg)}` +
          `${alpha < 1 ? `, ${hex(stroke.slice(0, 3))} at opacity ${alpha.toFixed(2)}` : ""})`);
      }
      // the arrowhead: the marker's fill at the edge's end
      const marker = cs.markerEnd && cs.markerEnd.match(/url\(["']?#([^"')]+)/);
      const head = marker && document.getElementById(marker[1])?.querySelector("path, polygon");
      if (head) {
        const end = edge.getPointAtLength(len).matrixTransform(m);
        const before = edge.getPointAtLength(Math.max(0, len - 4)).matrixTransform(m);
        const bg = behind(edge, before.x, before.y) || behind(edge, end.x, end.y);
        const fill = paint(head, "fill") || stroke;
        const hr = fill[3] * Number(getComputedStyle(head).fillOpacity) * opacityOf(edge);
        if (bg) {
          const fg = over(fill, hr, bg);
          const r = ratio(fg, bg);
          if (r < 3) report(out.edges, name(), `arrowhead ${r.toFixed(2)}:1 (${hex(fg)} on ${hex(bg)}; marker #${marker[1]})`);
        }
      }
    });
  }
  return out;
}
