// diagram.js — the SVG view.  Elements are created once, keyed by node id, and afterwards only
// their attributes and classes change (RaftScope style: one requestAnimationFrame loop moves every
// token by interpolating along its edge between departure and arrival time).
//
// Geometry comes from the server's layout (simulator/web/layout.py): every node an event can name,
// the front door ("front") and programs outside the sandbox ("outside") included, is a node of the
// world's graph and is drawn where the layout puts it.  A hop whose two ends have no edge in the
// layout still gets a path (the reverse edge, or a straight line).

import {s, safeId, clear} from "./dom.js";
import {t} from "./i18n.js";
import {STATUS_ICON, statusOf, retrievalStyle, queueCounts, isWorldChange} from "./model.js";
import {rcodeMeaning} from "./codes.js";
import {plain} from "./labels.js";
import {faultLabel} from "./faults.js";

const STATUS_COLOUR = {ok: "#0f7a34", deferred: "#b45309", bounced: "#7c3aed", failed: "#c21f1f", info: "#5b6778"};
const MAX_GHOSTS = 3;

const edgeKey = (src, dst, via) => `${src}|${dst}|${via || ""}`;

function geometry(points) {
  const segs = [];
  let total = 0;
  for (let i = 1; i < points.length; i++) {
    const len = Math.hypot(points[i][0] - points[i - 1][0], points[i][1] - points[i - 1][1]);
    segs.push(len);
    total += len;
  }
  return {points, segs, total};
}

function pointAt(geo, f) {
  const pts = geo.points;
  if (pts.length === 1 || geo.total === 0) return pts[0];
  let d = Math.max(0, Math.min(1, f)) * geo.total;
  for (let i = 0; i < geo.segs.length; i++) {
    if (d <= geo.segs[i] || i === geo.segs.length - 1) {
      const r = geo.segs[i] ? Math.min(1, d / geo.segs[i]) : 0;
      return [pts[i][0] + (pts[i + 1][0] - pts[i][0]) * r, pts[i][1] + (pts[i + 1][1] - pts[i][1]) * r];
    }
    d -= geo.segs[i];
  }
  return pts[pts.length - 1];
}

// Shrink a text until it is at most `room` px wide.  Measured, not estimated: glyphs differ between
// scripts (a Cyrillic caption is wider than a Latin one) and between fonts.
function fit(el, room, size) {
  el.setAttribute("font-size", size.toFixed(1));
  if (!el.isConnected || room <= 0) return;
  const len = el.getComputedTextLength();
  if (len > room) el.setAttribute("font-size", Math.max(6, size * room / len).toFixed(1));
}

const WORDED = new Set(["front", "outside"]);     // nodes named in the page's language

const ease = (p) => (p < 0.5 ? 2 * p * p : 1 - ((-2 * p + 2) ** 2) / 2);
const pathD = (points) => points.map((p, i) => `${i ? "L" : "M"}${p[0]},${p[1]}`).join(" ");
const center = (n) => [n.x + n.w / 2, n.y + n.h / 2];

function glyphs(event) {
  const kind = String(event.kind || "");
  const st = statusOf(event);
  const style = retrievalStyle(event);
  if (kind === "dns.query" || kind === "dns.served") return {go: "?", back: STATUS_ICON[st] === "✓" ? "✓" : STATUS_ICON[st]};
  if (style === "pop3-delete") return {go: "✂"};
  if (style === "pop3") return {go: "↓"};
  if (style.startsWith("imap")) return {go: "❐"};
  if (kind === "queue.bounce") return {go: "↩"};
  if (kind === "queue.defer") return {go: "↻"};
  if (kind === "smtp.attempt") return {go: "✗"};
  if (isWorldChange(event)) return {go: "⚙"};
  if (st === "failed") return {go: "✗"};
  return {go: "✉"};
}

export class Diagram {
  constructor(svg, {onNode} = {}) {
    this.svg = svg;
    this.onNode = onNode;
    this.layout = null;
    this.state = null;
    this.nodes = new Map();     // node id -> {g, box, label, caption, badge, badgeText, tag, data}
    this.edges = new Map();     // edgeKey -> {path, geo, data, hot}
    this.pairs = new Map();     // "src|dst" -> first edge record
    this.tokens = new Set();
    this.pool = [];
    this.current = null;        // review highlight
    this.selected = null;
    this.calloutTimer = null;
    this.running = false;
    this.frame = this.frame.bind(this);
    this.build();
  }

  build() {
    const markers = Object.entries({"": "#aab4c3", ...STATUS_COLOUR}).map(([name, colour]) =>
      s("marker", {id: name ? `arrow-${name}` : "arrow", viewBox: "0 0 10 10", refX: 8.5, refY: 5,
        markerWidth: 5.5, markerHeight: 5.5, orient: "auto-start-reverse"},
      s("path", {d: "M0,0 L10,5 L0,10 z", fill: colour})));
    const defs = s("defs", {},
      s("pattern", {id: "hatch", width: 9, height: 9, patternUnits: "userSpaceOnUse", patternTransform: "rotate(45)"},
        s("rect", {width: 9, height: 9, fill: "#eef1f5"}),
        s("line", {x1: 0, y1: 0, x2: 0, y2: 9, stroke: "#cbd2dc", "stroke-width": 5})),
      ...markers);
    this.gBands = s("g", {class: "bands"});
    this.gHeads = s("g", {class: "heads"});
    this.gEdges = s("g", {class: "edges"});
    this.gGhost = s("g", {class: "ghosts"});
    this.gNodes = s("g", {class: "nodes"});
    this.gFlash = s("g", {class: "flashes"});
    this.gTokens = s("g", {class: "tokens"});
    this.gCallout = s("g", {class: "callouts"});
    this.gFaults = s("g", {class: "faults"});
    this.svg.append(defs, this.gBands, this.gHeads, this.gEdges, this.gGhost, this.gNodes, this.gFaults, this.gFlash,
      this.gTokens, this.gCallout);
  }

  // -- layout -------------------------------------------------------------------------------------
  setLayout(layout) {
    this.finishAll();
    this.layout = layout;
    this.svg.setAttribute("viewBox", `0 0 ${layout.width} ${layout.height}`);
    const font = layout.font, small = layout.small;

    clear(this.gBands);
    for (const d of layout.domains) {
      this.gBands.append(
        s("rect", {class: "band", x: d.x, y: d.y, width: d.w, height: d.h, rx: 12}),
        s("text", {class: "band-label", x: d.x + 12, y: d.y + font * 1.2, "font-size": font * 1.05, text: d.name}));
    }

    clear(this.gHeads);
    this.heads = layout.columns.map((c) => {
      const el = s("text", {class: "col-head", x: c.cx, y: c.y, "font-size": small * 1.08, "data-col": c.key});
      this.gHeads.append(el);
      return el;
    });

    clear(this.gEdges);
    this.edges.clear();
    this.pairs.clear();
    for (const e of layout.edges) {
      const path = s("path", {class: `edge kind-${e.kind}`, d: pathD(e.points), "marker-end": "url(#arrow)"});
      this.gEdges.append(path);
      const rec = {path, geo: geometry(e.points), data: e, hot: 0, status: ""};
      this.edges.set(edgeKey(e.src, e.dst, e.via), rec);
      const pair = `${e.src}|${e.dst}`;
      if (!this.pairs.has(pair) || !e.via || e.via.startsWith("imap:")) this.pairs.set(pair, rec);
    }

    const seen = new Set();
    for (const n of layout.nodes) {
      seen.add(n.id);
      this.placeNode(this.nodes.get(n.id) || this.createNode(n), n);
    }
    for (const [id, rec] of [...this.nodes]) {
      if (seen.has(id)) continue;
      rec.g.remove();
      this.nodes.delete(id);
    }
    this.applyText();
    if (this.state) this.render(this.state);
    if (this.current) this.highlight(this.current.event);
    this.drawFaults();
  }

  // A new world: nothing of the old one stays on the screen (tokens, marks, the DNS callout).
  reset() {
    this.finishAll();
    this.highlight(null);
    this.selectNode(null);
    clear(this.gFlash);
    clear(this.gGhost);
    clear(this.gCallout);
    this.faults = [];
    this.drawFaults();
    this.missing = null;
  }

  // -- faults: a tag on the node each one is set on -------------------------------------------------
  setFaults(faults) {
    this.faults = Array.isArray(faults) ? faults : [];
    this.drawFaults();
  }

  faultNode(fault) {
    const target = String(fault.target || "");
    for (const id of [fault.node, `mta:${target}`, `mailbox:${target}`]) if (id && this.nodes.has(id)) return id;
    return this.nodes.has("dns") && !target.includes("@") ? "dns" : null;
  }

  drawFaults() {
    clear(this.gFaults);
    for (const rec of this.nodes.values()) rec.g.classList.remove("faulty");
    if (!this.layout || !this.faults?.length) return;
    const byNode = new Map();
    for (const fault of this.faults) {
      const id = this.faultNode(fault);
      if (!id) continue;
      if (!byNode.has(id)) byNode.set(id, []);
      byNode.get(id).push(fault);
    }
    const small = this.layout.small;
    const size = small * 0.92, tagH = small * 1.45;
    for (const [id, faults] of byNode) {
      const rec = this.nodes.get(id);
      const n = rec.data;
      rec.g.classList.add("faulty");
      faults.forEach((fault, i) => {
        const own = id === `mta:${fault.target}` || id === `mailbox:${fault.target}`;
        const text = `⚠ ${faultLabel(fault)}${own ? "" : ` · ${fault.target}`}`;
        const g = s("g", {class: `fault-tag kind-${fault.kind}`, "data-node": id, "data-kind": fault.kind,
          "data-target": fault.target, transform: `translate(${n.x + 4},${n.y + n.h - tagH * 0.45 + i * (tagH + 2)})`});
        const rect = s("rect", {rx: 4, height: tagH, width: 10});
        const label = s("text", {x: 6, y: tagH / 2, "font-size": size, text});
        const title = s("title", {text: `${faultLabel(fault)} — ${fault.target}`});
        g.append(title, rect, label);
        this.gFaults.append(g);
        const width = label.isConnected ? label.getComputedTextLength() : text.length * size * 0.6;
        const room = Math.max(n.w * 1.6, 120);
        if (width > room - 12) label.setAttribute("font-size", Math.max(6, size * (room - 12) / width).toFixed(1));
        rect.setAttribute("width", Math.min(width, room - 12) + 12);
      });
    }
  }

  createNode(n) {
    const g = s("g", {class: `node kind-${n.kind}`, id: safeId("node", n.id), "data-node": n.id});
    const title = s("title");
    const box = s("rect", {class: "box"});
    const label = s("text", {class: "label"});
    const caption = s("text", {class: "caption"});
    const badge = s("g", {class: "badge"});
    const badgeCircle = s("circle", {r: 11});
    const badgeText = s("text", {});
    badge.append(badgeCircle, badgeText);
    const tag = s("g", {class: "down-tag"});
    const tagRect = s("rect", {rx: 4});
    const tagText = s("text", {});
    tag.append(tagRect, tagText);
    g.append(title, box, label, caption, badge, tag);
    g.addEventListener("click", () => this.onNode?.(n.id));
    this.gNodes.append(g);
    const rec = {g, title, box, label, caption, badge, badgeCircle, badgeText, tag, tagRect, tagText, data: n};
    this.nodes.set(n.id, rec);
    return rec;
  }

  placeNode(rec, n) {
    rec.data = n;
    const font = this.layout.font, small = this.layout.small;
    rec.g.setAttribute("class", `node kind-${n.kind}`);
    rec.g.setAttribute("transform", `translate(${n.x},${n.y})`);
    const pill = !!n.pill;
    rec.box.setAttribute("width", n.w);
    rec.box.setAttribute("height", n.h);
    rec.box.setAttribute("rx", pill ? n.h / 2 : 8);
    rec.label.setAttribute("x", n.w / 2);
    rec.caption.setAttribute("x", n.w / 2);
    rec.caption.setAttribute("y", n.h * 0.74);
    this.labelNode(rec);
    rec.title.textContent = n.full || n.id;
    rec.badge.setAttribute("transform", `translate(${n.w - 4},${2})`);
    rec.badgeText.setAttribute("font-size", small * 0.95);
    const tw = small * 3.6;
    rec.tag.setAttribute("transform", `translate(${6},${-small * 0.75})`);
    rec.tagRect.setAttribute("width", tw);
    rec.tagRect.setAttribute("height", small * 1.4);
    rec.tagText.setAttribute("x", tw / 2);
    rec.tagText.setAttribute("y", small * 0.7);
    rec.tagText.setAttribute("font-size", small * 0.9);
  }

  // The name in the box: a host's or user's name as the layout gives it, or, for the front door and
  // the outside programs, the page's words; those go on two lines (and drop the caption) when one
  // line would have to shrink too much.
  labelNode(rec) {
    const n = rec.data, pill = !!n.pill;
    const size = pill ? this.layout.small : this.layout.font;
    const text = WORDED.has(n.kind) ? t(`node.${n.kind}`) : String(n.label || n.id);
    rec.label.textContent = text;
    rec.label.setAttribute("y", pill ? n.h / 2 : n.h * 0.36);
    fit(rec.label, n.w - 12, size);
    rec.caption.setAttribute("display", pill ? "none" : "inline");
    rec.captionText = null;               // measured again by render()
    if (WORDED.has(n.kind)) rec.title.textContent = `${text} · ${t(`node.${n.kind}.caption`)}`;
    const cut = text.lastIndexOf(" ", Math.ceil(text.length / 2));
    if (!WORDED.has(n.kind) || Number(rec.label.getAttribute("font-size")) >= size * 0.8 || cut < 0) return;
    const lines = [text.slice(0, cut), text.slice(cut + 1)].map((line, i) =>
      s("tspan", {x: n.w / 2, y: n.h * (i ? 0.7 : 0.32), text: line}));
    rec.label.replaceChildren(...lines);
    rec.label.setAttribute("font-size", (size * 0.85).toFixed(1));
    const widest = Math.max(...lines.map((l) => l.getComputedTextLength()));
    if (widest > n.w - 10) rec.label.setAttribute("font-size", (size * 0.85 * (n.w - 10) / widest).toFixed(1));
    rec.caption.setAttribute("display", "none");
  }

  // Where a node is drawn; an id the layout does not have is a bug of the publisher or the layout:
  // the hop is listed in the timeline but not drawn (the page never invents a node).
  node(id) {
    const known = this.nodes.get(id);
    if (!known && this.layout && !this.missing?.has(id)) {
      (this.missing ||= new Set()).add(id);
      console.warn(`an event names ${id}, which is not a node of the layout`);
    }
    return known?.data || null;
  }

  // -- state ------------------------------------------------------------------------------------
  render(state) {
    this.state = state;
    const queues = queueCounts(state);
    for (const [id, rec] of this.nodes) {
      const n = rec.data;
      if (id.startsWith("mta:")) {
        const name = id.slice(4);
        const up = state.hosts.has(name) ? state.hosts.get(name) : n.up !== false;
        rec.g.classList.toggle("down", !up);
        const count = queues.get(id) || 0;
        rec.badge.classList.toggle("shown", count > 0);
        rec.badgeText.textContent = count > 99 ? "99+" : String(count);
      }
      const caption = this.caption(n, state);
      if (caption !== rec.captionText) {
        rec.caption.textContent = caption;
        rec.captionText = caption;
        fit(rec.caption, n.w - 8, this.layout.small);
      }
    }
  }

  caption(n, state) {
    switch (n.kind) {
      case "mua": return t("node.mua.short");
      case "msa": return t("node.msa.short");
      case "mx": case "backup-mx": {
        const name = n.id.slice(4);
        const parts = [];
        for (const [domain, table] of state?.mx || []) {
          for (const r of table || []) {
            if (r.host !== name) continue;
            const p = domain === n.domain ? r.preference : `${r.preference} ${domain}`;
            parts.push(n.kind === "mx" ? t("node.mxPref", {p}) : t("node.backupPref", {p}));
          }
        }
        return parts.length ? parts.join(", ") : (n.kind === "mx" ? t("node.notInMx") : t("node.backup-mx"));
      }
      case "mda": return t("node.mda.short");
      case "mailbox": return t("node.mailbox.count", {n: state?.mailboxes.get(n.id.slice(8)) || 0});
      case "dns": return t("node.dns");
      case "front": return t("node.front.caption");
      case "outside": return t("node.outside.caption");
      default: return "";
    }
  }

  applyText() {
    const cols = this.layout?.columns || [];
    (this.heads || []).forEach((el, i) => {
      const text = t(`col.${el.getAttribute("data-col")}`);
      el.textContent = text;
      // a header may use its column and the gaps beside it, never its neighbour's title
      const c = cols[i];
      const left = i > 0 ? (cols[i - 1].cx + c.cx) / 2 : 0;
      const right = i < cols.length - 1 ? (c.cx + cols[i + 1].cx) / 2 : this.layout.width;
      fit(el, 2 * Math.min(c.cx - left, right - c.cx) - 10, this.layout.small * 1.08);
    });
    for (const rec of this.nodes.values()) {
      rec.tagText.textContent = t("node.down");
      if (WORDED.has(rec.data.kind)) this.labelNode(rec);
    }
    if (this.state) this.render(this.state);
    if (this.current?.event?.kind === "dns.query") this.callout(this.current.event, true);   // in the new language
    else if (this.gCallout.childNodes.length) clear(this.gCallout);
    this.drawFaults();
  }

  selectNode(id) {
    if (this.selected) this.nodes.get(this.selected)?.g.classList.remove("selected");
    this.selected = id;
    if (id) this.nodes.get(id)?.g.classList.add("selected");
  }

  // -- where a hop travels ------------------------------------------------------------------------
  route(event) {
    let src = event.src, dst = event.dst;
    const lines = Array.isArray(event.transcript) ? event.transcript : [];
    if (event.kind === "smtp.line" && lines.length && lines[lines.length - 1][0] === "S") [src, dst] = [dst, src];
    if (!this.layout || !src || !dst) return null;
    if (src === dst) {
      const n = this.node(src);
      if (!n) return null;
      const x = n.x + n.w, y = n.y, r = 22 * (this.layout.scale || 1);
      return {geo: geometry([[x - r, y], [x - r, y - r], [x + r * 0.6, y - r], [x + r * 0.6, y + r * 0.5], [x, y + r * 0.5]])};
    }
    const via = event.data && typeof event.data.server === "string" ? event.data.server : "";
    const edge = this.edges.get(edgeKey(src, dst, via)) || this.pairs.get(`${src}|${dst}`);
    if (edge) return {geo: edge.geo, edge};
    const back = this.pairs.get(`${dst}|${src}`);
    if (back) return {geo: geometry([...back.geo.points].reverse()), edge: back};
    const a = this.node(src), b = this.node(dst);
    if (!a || !b) return null;
    return {geo: geometry([center(a), center(b)])};
  }

  // -- tokens -----------------------------------------------------------------------------------
  token() {
    const spare = this.pool.pop();
    if (spare) { spare.g.setAttribute("display", "inline"); return spare; }
    const r = 13 * (this.layout?.scale || 1);
    const g = s("g", {class: "token"});
    const circle = s("circle", {r});
    const text = s("text", {"font-size": r * 1.15});
    g.append(circle, text);
    this.gTokens.append(g);
    return {g, circle, text};
  }

  // Animate one hop; resolves when the token arrives.
  animate(event, duration = 900) {
    return new Promise((resolve) => {
      const way = this.route(event);
      if (!way) { resolve(); return; }
      const st = statusOf(event);
      const style = retrievalStyle(event);
      const marks = glyphs(event);
      const roundTrip = event.kind === "dns.query" || event.kind === "dns.served";
      const geo = roundTrip ? geometry([...way.geo.points, ...[...way.geo.points].reverse()]) : way.geo;
      const tok = this.token();
      tok.g.setAttribute("class", `token status-${st} ${style}`.trim());
      tok.text.textContent = marks.go;
      const rec = {tok, geo, start: performance.now(), duration: roundTrip ? duration * 1.4 : duration,
        resolve, event, back: marks.back, switched: false, edge: way.edge};
      if (way.edge) this.heat(way.edge, st, +1);
      if (roundTrip && event.kind === "dns.query") this.callout(event, false);
      this.tokens.add(rec);
      this.kick();
    });
  }

  heat(edge, status, delta) {
    edge.hot = Math.max(0, edge.hot + delta);
    const cls = edge.path.classList;
    if (edge.hot > 0) {
      if (edge.status && edge.status !== status) cls.remove(`status-${edge.status}`);
      cls.add("hot", `status-${status}`);
      edge.status = status;
      edge.path.setAttribute("marker-end", `url(#arrow-${status})`);
    } else if (!cls.contains("current")) {
      cls.remove("hot", `status-${edge.status}`);
      edge.status = "";
      edge.path.setAttribute("marker-end", "url(#arrow)");
    } else {
      cls.remove("hot");
    }
  }

  kick() {
    if (!this.running) {
      this.running = true;
      requestAnimationFrame(this.frame);
    }
  }

  frame(now) {
    for (const rec of [...this.tokens]) {
      const p = Math.min(1, Math.max(0, (now - rec.start) / rec.duration));
      const [x, y] = pointAt(rec.geo, ease(p));
      rec.tok.g.setAttribute("transform", `translate(${x.toFixed(1)},${y.toFixed(1)})`);
      if (rec.back && !rec.switched && p >= 0.5) { rec.tok.text.textContent = rec.back; rec.switched = true; }
      if (p >= 1) this.finish(rec);
    }
    if (this.tokens.size) requestAnimationFrame(this.frame);
    else this.running = false;
  }

  finish(rec) {
    if (!this.tokens.delete(rec)) return;
    rec.tok.g.setAttribute("display", "none");
    this.pool.push(rec.tok);
    if (rec.edge) this.heat(rec.edge, statusOf(rec.event), -1);
    this.flash(rec.event);
    rec.resolve();
  }

  finishAll() {
    for (const rec of [...this.tokens]) this.finish(rec);
  }

  get busy() { return this.tokens.size; }

  // The arrival mark: the status at the receiving end, "−1" at a mailbox POP3 empties.
  flash(event) {
    if (this.gFlash.childNodes.length > 40) return;          // a burst: marks would only be noise
    const st = statusOf(event);
    const style = retrievalStyle(event);
    const target = event.kind === "dns.query" ? event.src : event.dst;
    const n = this.nodes.get(target)?.data;
    if (!n) return;
    const small = this.layout.small;
    const r = small * 1.25;
    const g = s("g", {class: `flash status-${st}`, transform: `translate(${n.x + n.w + r * 0.4},${n.y + n.h / 2})`});
    g.append(s("circle", {r}), s("text", {"font-size": small * 1.3, text: STATUS_ICON[st]}));
    this.gFlash.append(g);
    requestAnimationFrame(() => g.classList.add("go"));
    setTimeout(() => g.remove(), 1500);
    if (style === "pop3-delete" || style === "imap") {
      const box = this.nodes.get(event.src)?.data;
      if (box) {
        const mark = s("text", {class: `mailbox-minus flash`, x: box.x + box.w + 6, y: box.y + 4,
          "font-size": small * 1.2, text: style === "imap" ? "❐" : "−1"});
        this.gFlash.append(mark);
        requestAnimationFrame(() => mark.classList.add("go"));
        setTimeout(() => mark.remove(), 1500);
      }
    }
  }

  // -- DNS: the question and the answer beside the DNS server ----------------------------------
  callout(event, persist) {
    clearTimeout(this.calloutTimer);
    clear(this.gCallout);
    const dns = this.nodes.get("dns")?.data;
    const data = event?.data;
    if (!dns || !data) return;
    const small = this.layout.small, font = this.layout.font;
    const lines = [];
    lines.push({cls: "q", text: `${data.question || "?"} ?`});
    const order = Array.isArray(data.order) ? data.order : [];
    if (order.length) {
      order.forEach((o, i) => lines.push({cls: i === 0 ? "chosen" : "", text:
        `MX ${o.preference}  ${o.host}${i === 0 ? `   ← ${t("dns.chosen")}` : ""}`}));
    } else if (Array.isArray(data.answers) && data.answers.length) {
      for (const a of data.answers) lines.push({cls: "", text: String(a)});
    } else {
      const failed = data.rcode && data.rcode !== "NOERROR" ? plain(rcodeMeaning(data.rcode)) : "";
      lines.push({cls: failed ? "err" : "", text: failed || t("dns.noAnswer")});
    }
    const lh = small * 1.45;
    const width = Math.min(this.layout.width * 0.5,
      Math.max(...lines.map((l) => l.text.length)) * small * 0.62 + 24);
    const height = lines.length * lh + 14;
    let x = dns.x + dns.w + 18;
    if (x + width > this.layout.width - 4) x = Math.max(4, dns.x - width - 18);
    const y = Math.max(4, dns.y - 2);
    const g = s("g", {class: "callout"});
    g.append(s("rect", {x, y, width, height, rx: 8}));
    lines.forEach((l, i) => g.append(s("text", {class: l.cls, x: x + 12, y: y + 10 + lh * (i + 0.75),
      "font-size": i === 0 ? Math.min(font, small * 1.15) : small, text: l.text})));
    this.gCallout.append(g);
    if (!persist) this.calloutTimer = setTimeout(() => clear(this.gCallout), 4500);
  }

  // -- step mode: the hop the gate holds ------------------------------------------------------
  setWaiting(waiting) {
    clear(this.gGhost);
    for (const w of (waiting || []).slice(0, MAX_GHOSTS)) {
      const way = this.route({src: w.src, dst: w.dst, kind: "gate.waiting", data: {}});
      if (!way) continue;
      const start = way.geo.points[0];
      this.gGhost.append(
        s("path", {class: "ghost", d: pathD(way.geo.points)}),
        s("circle", {class: "ghost-dot pulse", cx: start[0], cy: start[1], r: 10 * (this.layout.scale || 1)}));
    }
  }

  // -- review: one hop marked on the diagram ----------------------------------------------------
  highlight(event) {
    if (this.current) {
      const {edge, nodes} = this.current;
      if (edge) {
        edge.path.classList.remove("current", `status-${this.current.status}`);
        if (!edge.hot) edge.path.setAttribute("marker-end", "url(#arrow)");
      }
      for (const id of nodes) this.nodes.get(id)?.g.classList.remove("current");
    }
    this.current = null;
    if (!event) { clear(this.gCallout); return; }
    const way = this.route(event);
    const status = statusOf(event);
    const edge = way?.edge || null;
    if (edge) {
      edge.path.classList.add("current", `status-${status}`);
      edge.path.setAttribute("marker-end", `url(#arrow-${status})`);
    }
    const nodes = [event.src, event.dst].filter((id) => this.nodes.has(id));
    for (const id of nodes) this.nodes.get(id).g.classList.add("current");
    this.current = {event, edge, nodes, status};
    if (event.kind === "dns.query") this.callout(event, true);
    else clear(this.gCallout);
  }
}
