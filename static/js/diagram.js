// diagram.js — the SVG view.  Elements are created once, keyed by node id, and afterwards only
// their attributes and classes change (RaftScope style: one requestAnimationFrame loop moves every
// token by interpolating along its edge between departure and arrival time).
//
// Geometry comes from the server's layout (simulator/web/layout.py): every node an event can name,
// the front door ("front"), programs outside the sandbox ("outside"), an application under test
// ("app") and the outside world ("internet", a cloud with its mailbox inside it) included, is a node
// of the world's graph and is drawn where the layout puts it, from the start.  A hop from a host to
// the cloud, or from the application to an MSA, runs along the layout's `outer` route for that pair
// (columns), drawn while the hop uses it.  The mailbox inside the cloud (a pill: what the outside
// world caught, or kept) is a node of its own (a click on it opens it), and so is its reader beside
// it (the mail client of whoever reads the caught mail, "MUA").  Three arrangements:
//   columns  every node and edge placed by the server;
//   grid     domains as cards; edges between cards and to DNS are routed here, along the gutters,
//            while a hop uses them (demand edges, diagram_geo.gutterRoute);
//   fold     domains as chips, plus a few slots: the domains a hop (or the hop under review, or the
//            hop the gate holds) crosses are unfolded into the slots from the layout's card
//            templates, least recently needed first out; a click on a chip unfolds it too.
// A hop whose two ends have no edge gets one drawn for the time it is used.
//
// Selecting a node (the interface for the details panel).  Every node, a domain's band or chip
// included, is a button: a click, or Enter / Space when it has the keyboard focus, selects it.
// The diagram then marks it (.selected) and tells the page in three ways, use one:
//   diagram.onSelectNode = (id, node) => …   a property, set by the page;
//   new Diagram(svg, {onNode: (id) => …})    the constructor's option (kept for main.js);
//   svg.addEventListener("mailflow:node", (ev) => ev.detail)   a DOM CustomEvent (bubbles).
// id is the graph's node id ("mua:alice@alpha.test", "mailbox:bob@beta.test", "mta:mx1.beta.test",
// "mda:beta.test", "imap:beta.test", "pop3:beta.test", "dns", "front", "outside", "domain:beta.test");
// node / detail = {id, kind, domain, label, full, address}.
//
// Other marks: the DNS answer in the layout's answer area (dnsanswer.js: what DNS answered, then
// what the asking server kept and why); on a host with queued mail, the count and the countdown to
// its next retry (queueclock.js); in line-by-line stepping a token waits on its hop's edge, moving a
// little toward whoever speaks next, until the hop's own fact arrives.  In review (highlight(event))
// the diagram shows exactly that moment: no token, ring or callout of another hop stays, the gate's
// waiting ghosts are hidden until live again.  Zoom and pan: viewport.js.

import {s, h, safeId, clear} from "./dom.js";
import {t} from "./i18n.js";
import {STATUS_ICON, statusOf, retrievalStyle, queueCounts, isWorldChange} from "./model.js";
import {faultLabel} from "./faults.js";
import * as api from "./api.js";
import {geometry, pointAt, pathD, center, gutterRoute} from "./diagram_geo.js";
import {Viewport} from "./viewport.js";
import {drawAnswer, warmAnswer} from "./dnsanswer.js";
import {RetryClock} from "./queueclock.js";
import {textWidth} from "./measure.js";

const STATUSES = ["ok", "deferred", "bounced", "failed", "info"];
const LOOKS = ["smtp", "dns", "retrieve", "local", "other"];
const MAX_GHOSTS = 3;
const MARK_FRESH = 600;         // ms: an arrival mark this young is not drawn again at the same place
const CALLOUT_PACE = 300;       // ms: live DNS answers are drawn at most this often (callout())
const WORDED = new Set(["front", "outside", "app", "internet"]);     // nodes named in the page's language

const edgeKey = (src, dst, via) => `${src}|${dst}|${via || ""}`;
const ease = (p) => (p < 0.5 ? 2 * p * p : 1 - ((-2 * p + 2) ** 2) / 2);
const domainOfAddress = (a) => (String(a || "").includes("@") ? String(a).split("@").pop().toLowerCase() : "");

// How an edge looks: the kind of conversation (colour and dash, explained in the legend).
export function lookOf(kind) {
  switch (kind) {
    case "smtp": case "submission": return "smtp";
    case "dns": return "dns";
    case "retrieve": return "retrieve";
    case "local": case "deliver": return "local";
    default: return "other";
  }
}

function lookOfEvent(event) {
  const kind = String(event.kind || "");
  if (kind.startsWith("dns.")) return "dns";
  if (kind.startsWith("imap.") || kind.startsWith("pop3.")) return "retrieve";
  if (kind.startsWith("mda.")) return "local";
  return "smtp";
}

// Shrink a text until it is at most `room` px wide.  Measured, not estimated: glyphs differ between
// scripts (a Cyrillic caption is wider than a Latin one) and between fonts.  measure.js measures it
// without a layout of the page (a burst re-fits captions many times a second).
function fit(el, room, size) {
  const drawn = size.toFixed(1);
  el.setAttribute("font-size", drawn);
  if (!el.isConnected || room <= 0) return;
  const len = textWidth(el, Number(drawn));
  if (len > room) el.setAttribute("font-size", Math.max(6, size * room / len).toFixed(1));
}

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

// Icons drawn in the box (no font needed): a screen for a mail client, an inbox tray for a mailbox.
const ICONS = {
  mua: "M1,1 h14 v10 h-14 z M5,15 h6 M8,11 v4",
  mailbox: "M1,7 l3,-6 h8 l3,6 v7 h-14 z M1,7 h4 l1,2 h4 l1,-2 h4",
  app: "M1,2 h14 v12 h-14 z M1,5 h14 M6,7.5 l-2.5,2.5 l2.5,2.5 M10,7.5 l2.5,2.5 l-2.5,2.5",   // a program's window
};

// The outline of the outside world: a cloud filling a w x h box (bumps on top, a flat-ish base).
export function cloudPath(w, h) {
  const p = (fx, fy) => `${(fx * w).toFixed(1)},${(fy * h).toFixed(1)}`;
  return `M${p(0.15, 0.98)} C${p(0.02, 0.98)} ${p(-0.02, 0.62)} ${p(0.1, 0.5)} ` +
    `C${p(0.06, 0.16)} ${p(0.28, 0.0)} ${p(0.4, 0.12)} C${p(0.5, -0.1)} ${p(0.76, -0.08)} ${p(0.8, 0.14)} ` +
    `C${p(0.98, 0.1)} ${p(1.05, 0.46)} ${p(0.92, 0.56)} C${p(1.03, 0.8)} ${p(0.95, 0.99)} ${p(0.83, 0.98)} Z`;
}

export class Diagram {
  constructor(svg, {onNode} = {}) {
    this.svg = svg;
    this.onNode = onNode;
    this.onSelectNode = null;
    this.layout = null;
    this.state = null;
    this.nodes = new Map();     // node id -> {g, box, label, caption, badge, ..., data}
    this.shown = new Set();     // node ids drawn now (fold: only those of unfolded domains)
    this.edges = new Map();     // edgeKey -> {path, geo, data, hot, status, owner, dyn}
    this.pairs = new Map();     // "src|dst" -> first edge record
    this.tokens = new Set();
    this.parked = new Map();    // line-by-line stepping: key -> token waiting on its edge
    this.closed = new Set();    // dialogues whose hop has happened (their last lines wait for nothing)
    this.pool = [];
    this.current = null;        // review highlight
    this.selected = null;
    this.waiting = [];
    this.calloutTimer = null;
    this.calloutAt = -Infinity;     // when the last live DNS answer was drawn
    this.calloutNext = null;        // the timer of the newest live answer waiting for its turn
    this.running = false;
    this.clock = new RetryClock();
    this.slots = [];            // fold: the domain in each slot (or null)
    this.usedAt = new Map();    // fold: domain -> when it was last needed
    this.cardBox = new Map();   // grid and fold: domain -> its card's box, as drawn
    this.chips = new Map();     // fold: domain -> {g, rect, text, badge, data}
    this.nodeDomain = new Map();  // fold: node id -> domain
    this.frame = this.frame.bind(this);
    this.viewport = new Viewport(svg);
    this.build();
    this.tick = setInterval(() => this.tickQueue(), 250);
  }

  build() {
    const markers = [...LOOKS.map((look) => [`arrow-k-${look}`, `arrow-head look-${look}`]),
      ...STATUSES.map((st) => [`arrow-${st}`, `arrow-head status-${st}`]), ["arrow", "arrow-head look-other"]]
      .map(([id, cls]) => s("marker", {id, viewBox: "0 0 10 10", refX: 8.5, refY: 5, markerWidth: 5.5, markerHeight: 5.5,
        orient: "auto-start-reverse"}, s("path", {d: "M0,0 L10,5 L0,10 z", class: cls})));
    const defs = s("defs", {},
      s("pattern", {id: "hatch", width: 9, height: 9, patternUnits: "userSpaceOnUse", patternTransform: "rotate(45)"},
        s("rect", {width: 9, height: 9, fill: "#eef1f5"}),
        s("line", {x1: 0, y1: 0, x2: 0, y2: 9, stroke: "#cbd2dc", "stroke-width": 5})),
      ...markers);
    this.title = s("title", {text: ""});
    this.gBands = s("g", {class: "bands"});
    this.gHeads = s("g", {class: "heads"});
    this.gEdges = s("g", {class: "edges"});
    this.gGhost = s("g", {class: "ghosts"});
    this.gNodes = s("g", {class: "nodes"});
    this.gBadges = s("g", {class: "badges"});
    this.gFlash = s("g", {class: "flashes"});
    this.gTokens = s("g", {class: "tokens"});
    this.gCallout = s("g", {class: "callouts"});
    this.gFaults = s("g", {class: "faults"});
    this.svg.setAttribute("role", "group");
    this.svg.append(this.title, defs, this.gBands, this.gHeads, this.gEdges, this.gGhost, this.gNodes, this.gFaults,
      this.gBadges, this.gFlash, this.gTokens, this.gCallout);
    const wrap = this.svg.parentElement;
    if (wrap) {
      const button = (cls, text, fn) => {
        const b = h("button", {type: "button", class: `btn btn-small ${cls}`}, text);
        b.addEventListener("click", (ev) => { ev.currentTarget.blur(); fn(); });
        return b;
      };
      this.zoomButtons = {
        in: button("zoom-in", "+", () => this.viewport.zoomIn()),
        out: button("zoom-out", "−", () => this.viewport.zoomOut()),
        reset: button("zoom-reset", "⤢", () => this.viewport.reset()),
      };
      this.controls = h("div", {class: "zoom-controls"}, this.zoomButtons.in, this.zoomButtons.out, this.zoomButtons.reset);
      wrap.append(this.controls);
    }
  }

  // -- layout -------------------------------------------------------------------------------------
  setLayout(layout) {
    this.finishAll();
    this.dropCallout();
    const waiting = [...this.parked.values()].map((rec) => rec.event);
    this.unparkAll();
    this.layout = layout;
    this.mode = layout.mode || "columns";
    this.viewport.setSize(layout.width, layout.height);
    this.svg.dataset.mode = this.mode;
    const font = layout.font;

    clear(this.gBands);
    for (const chip of this.chips.values()) chip.badge.remove();
    this.chips.clear();
    this.cardBox.clear();
    this.bandEls = new Map();
    if (this.mode === "fold") {
      for (const d of layout.domains) this.createChip(d);
    } else {
      for (const d of layout.domains) {
        this.drawBand(d, font);
        this.cardBox.set(d.name, d);
      }
    }

    clear(this.gHeads);
    this.heads = (layout.columns || []).map((c) => {
      const el = s("text", {class: "col-head", x: c.cx, y: c.y, "font-size": layout.small * 1.08, "data-col": c.key});
      this.gHeads.append(el);
      return el;
    });

    clear(this.gEdges);
    this.edges.clear();
    this.pairs.clear();
    for (const e of layout.edges) this.addEdge(e, null);
    this.outer = new Map((layout.outer || []).map((e) => [`${e.src}|${e.dst}`, e]));

    const seen = new Set();
    this.shown.clear();
    for (const n of layout.nodes) {
      seen.add(n.id);
      this.showNode(n);
    }
    this.nodeDomain.clear();
    if (this.mode === "fold") {
      for (const [domain, card] of Object.entries(layout.cards || {})) {
        for (const n of card.nodes) { this.nodeDomain.set(n.id, domain); seen.add(n.id); }
      }
      const keep = this.slots.filter(Boolean);
      this.slots = (layout.slots || []).map(() => null);
      // nothing to show yet: the first domains, so the world is never an empty frame
      this.ensureFocus(keep.length ? keep : layout.domains.slice(0, this.slots.length).map((d) => d.name));
    } else {
      this.slots = [];
    }
    for (const [id, rec] of [...this.nodes]) {
      if (seen.has(id)) {
        if (!this.shown.has(id)) { rec.g.setAttribute("display", "none"); rec.badge.setAttribute("display", "none"); }
        continue;
      }
      rec.g.remove();
      rec.badge.remove();
      this.nodes.delete(id);
    }
    this.applyText();
    if (this.state) this.render(this.state);
    if (this.current) this.highlight(this.current.event);
    else this.setWaiting(this.waiting);
    this.drawFaults();
    for (const event of waiting) this.park(event);          // a dialogue's waiting token stays
    // the DNS answer's fonts read and measured while the page is idle, not at the first lookup
    const idle = window.requestIdleCallback || ((fn) => setTimeout(fn, 300));
    idle(() => { if (this.layout === layout) warmAnswer(this.gCallout, Math.min(layout.font, layout.small * 1.15)); },
      {timeout: 3000});
  }

  drawBand(d, font) {
    const g = s("g", {class: "band-group", "data-domain": d.name});
    const label = s("text", {class: "band-label", x: d.x + 12 * (this.layout.scale || 1), y: d.y + font * 1.2,
      "font-size": font * 1.05, text: d.name});
    const hit = s("g", {class: "band-name", "data-node": d.id || `domain:${d.name}`, role: "button", tabindex: 0,
      "aria-label": d.name}, label);
    this.bindActivate(hit, d.id || `domain:${d.name}`);
    g.append(s("rect", {class: "band", x: d.x, y: d.y, width: d.w, height: d.h, rx: 12}), hit);
    this.gBands.append(g);
    this.bandEls.set(d.name, g);
    return g;
  }

  createChip(d) {
    const g = s("g", {class: "chip", "data-node": d.id, "data-domain": d.name, role: "button", tabindex: 0,
      transform: `translate(${d.x},${d.y})`});
    const rect = s("rect", {class: "chip-box", width: d.w, height: d.h, rx: 6});
    const text = s("text", {class: "chip-label", x: d.w / 2, y: d.h / 2, text: d.name});
    const badge = s("g", {class: "chip-badge", "data-for": d.id, "aria-hidden": "true"});
    const badgeRect = s("rect", {rx: 5});
    const badgeText = s("text", {});
    badge.append(badgeRect, badgeText);
    g.append(rect, text);
    this.bindActivate(g, d.id);
    this.gBands.append(g);
    this.gBadges.append(badge);
    this.chips.set(d.name, {g, rect, text, badge, badgeRect, badgeText, data: d});
  }

  addEdge(e, owner, dyn = false) {
    const look = lookOf(e.kind);
    const cls = `edge kind-${e.kind} look-${look}${e.demand ? " demand" : ""}${dyn ? " dyn" : ""}`;
    const path = s("path", {class: cls, d: pathD(e.points), "marker-end": `url(#arrow-k-${look})`,
      "data-src": e.src, "data-dst": e.dst});
    this.gEdges.append(path);
    const rec = {path, geo: geometry(e.points), data: e, hot: 0, status: "", owner, dyn, look};
    this.edges.set(dyn ? `dyn|${e.src}|${e.dst}` : edgeKey(e.src, e.dst, e.via), rec);
    const pair = `${e.src}|${e.dst}`;
    if (!dyn && (!this.pairs.has(pair) || !e.via || String(e.via).startsWith("imap:"))) this.pairs.set(pair, rec);
    return rec;
  }

  dropEdges(owner) {
    for (const [key, rec] of [...this.edges]) {
      if (rec.owner !== owner && !(rec.dyn && owner === "*dyn")) continue;
      rec.path.remove();
      this.edges.delete(key);
      const pair = `${rec.data.src}|${rec.data.dst}`;
      if (this.pairs.get(pair) === rec) this.pairs.delete(pair);
    }
  }

  // A new world: nothing of the old one stays on the screen (tokens, marks, the DNS answer).
  reset() {
    this.finishAll();
    this.unparkAll();
    this.highlight(null);
    this.selectNode(null);
    clear(this.gFlash);
    clear(this.gGhost);
    this.dropCallout();
    clearTimeout(this.calloutTimer);
    clear(this.gCallout);
    this.calloutAt = -Infinity;
    this.clock.reset();
    this.forgetDialogues();
    this.slots = this.slots.map(() => null);
    this.usedAt.clear();
    this.faults = [];
    this.drawFaults();
    this.missing = null;
  }

  // -- fold: which domains are unfolded into the slots ---------------------------------------------
  domainOfNode(id) {
    const known = this.nodeDomain.get(id) || this.nodes.get(id)?.data?.domain;
    if (known) return known;
    const text = String(id || "");
    return text.startsWith("mua:") || text.startsWith("mailbox:") ? domainOfAddress(text) : "";
  }

  domainsOf(event) {
    const out = [];
    const add = (d) => {
      const name = String(d || "").toLowerCase();
      if (name && this.layout?.cards?.[name] && !out.includes(name)) out.push(name);
    };
    add(this.domainOfNode(event?.src));
    add(this.domainOfNode(event?.dst));
    const m = event?.message;
    if (m && typeof m === "object") {
      add(domainOfAddress(m.from));
      for (const r of Array.isArray(m.rcpt) ? m.rcpt : []) add(domainOfAddress(r));
    }
    add(event?.data?.domain);
    return out;
  }

  busyDomains() {
    const busy = new Set();
    for (const rec of [...this.tokens, ...this.parked.values()]) {
      for (const d of this.domainsOf(rec.event).slice(0, 2)) busy.add(d);
    }
    return busy;
  }

  // Unfold `domains` (in order of need) into the slots; returns true if anything moved.
  ensureFocus(domains) {
    if (this.mode !== "fold" || !this.slots.length) return false;
    const want = (domains || []).filter((d) => this.layout.cards?.[d]).slice(0, this.slots.length);
    const now = performance.now();
    want.forEach((d, i) => this.usedAt.set(d, now - i * 1e-3));
    let moved = false;
    for (const d of want) {
      if (this.slots.includes(d)) continue;
      let slot = this.slots.indexOf(null);
      if (slot < 0) {
        const busy = this.busyDomains();
        let oldest = Infinity;
        this.slots.forEach((held, i) => {
          if (want.includes(held) || busy.has(held)) return;
          const at = this.usedAt.get(held) ?? -Infinity;
          if (at < oldest) { oldest = at; slot = i; }
        });
      }
      if (slot < 0) continue;
      this.unplaceCard(slot);
      this.placeCard(d, slot);
      moved = true;
    }
    if (moved) {
      if (this.state) this.render(this.state);
      this.drawFaults();
      for (const [name, chip] of this.chips) chip.g.classList.toggle("open", this.slots.includes(name));
    }
    return moved;
  }

  placeCard(domain, slot) {
    const card = this.layout.cards[domain];
    const at = this.layout.slots[slot];
    const move = (n) => ({...n, x: n.x + at.x, y: n.y + at.y});
    const box = move(card.box);
    this.drawBand(box, this.layout.font);
    this.cardBox.set(domain, box);
    for (const e of card.edges) this.addEdge({...e, points: e.points.map(([x, y]) => [x + at.x, y + at.y])}, domain);
    for (const n of card.nodes) this.showNode(move(n));
    this.slots[slot] = domain;
    this.svg.dataset.unfolded = this.slots.filter(Boolean).join(" ");
  }

  unplaceCard(slot) {
    const domain = this.slots[slot];
    if (!domain) return;
    this.slots[slot] = null;
    this.bandEls.get(domain)?.remove();
    this.bandEls.delete(domain);
    this.cardBox.delete(domain);
    this.dropEdges(domain);
    this.dropEdges("*dyn");
    for (const n of this.layout.cards[domain]?.nodes || []) {
      const rec = this.nodes.get(n.id);
      if (!rec) continue;
      rec.g.setAttribute("display", "none");
      rec.badge.setAttribute("display", "none");
      this.shown.delete(n.id);
    }
  }

  showNode(n) {
    const rec = this.nodes.get(n.id) || this.createNode(n);
    rec.g.removeAttribute("display");
    rec.badge.removeAttribute("display");
    this.shown.add(n.id);
    this.placeNode(rec, n);
    if (WORDED.has(n.kind)) this.labelNode(rec);
    rec.captionText = null;
    return rec;
  }

  // -- faults: a tag on the node each one is set on -------------------------------------------------
  setFaults(faults) {
    this.faults = Array.isArray(faults) ? faults : [];
    this.drawFaults();
  }

  faultNode(fault) {
    const target = String(fault.target || "");
    for (const id of [fault.node, `mta:${target}`, `mailbox:${target}`]) if (id && this.shown.has(id)) return id;
    return this.shown.has("dns") && !target.includes("@") && !this.nodeDomain.has(`mta:${target}`) ? "dns" : null;
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
        g.addEventListener("click", () => this.activate(id));
        this.gFaults.append(g);
        const width = label.isConnected ? label.getComputedTextLength() : text.length * size * 0.6;
        const room = Math.max(n.w * 1.6, 120);
        if (width > room - 12) label.setAttribute("font-size", Math.max(6, size * (room - 12) / width).toFixed(1));
        rect.setAttribute("width", Math.min(width, room - 12) + 12);
      });
    }
  }

  // -- nodes ----------------------------------------------------------------------------------
  bindActivate(el, id) {
    el.addEventListener("click", () => this.activate(id));
    el.addEventListener("keydown", (ev) => {
      if (ev.key !== "Enter" && ev.key !== " ") return;
      ev.preventDefault();
      ev.stopPropagation();
      this.activate(id);
    });
  }

  nodeInfo(id) {
    const n = this.nodes.get(id)?.data;
    if (n) return {id, kind: n.kind, domain: n.domain ?? null, label: n.label, full: n.full, address: n.address ?? null};
    const name = String(id).startsWith("domain:") ? String(id).slice(7) : "";
    return {id, kind: name ? "domain" : "other", domain: name || null, label: name || id, full: name || id, address: null};
  }

  // A node chosen (click, Enter, Space): mark it and tell the page (see the header).
  activate(id) {
    if (String(id).startsWith("domain:") && this.mode === "fold") this.ensureFocus([String(id).slice(7)]);
    this.selectNode(id);
    const info = this.nodeInfo(id);
    try { this.onSelectNode?.(id, info); } catch (err) { console.error(err); }
    try { this.onNode?.(id); } catch (err) { console.error(err); }
    this.svg.dispatchEvent(new CustomEvent("mailflow:node", {bubbles: true, detail: info}));
  }

  createNode(n) {
    const g = s("g", {class: `node kind-${n.kind}`, id: safeId("node", n.id), "data-node": n.id, role: "button", tabindex: 0});
    const title = s("title");
    const cloud = n.kind === "internet" ? s("path", {class: "cloud"}) : null;
    const box = s("rect", {class: "box"});
    const icon = s("path", {class: "icon", d: ICONS[n.kind] || ""});
    const label = s("text", {class: "label"});
    const caption = s("text", {class: "caption"});
    const tag = s("g", {class: "down-tag"});
    const tagRect = s("rect", {rx: 4});
    const tagText = s("text", {});
    tag.append(tagRect, tagText);
    // no <title> in the button: its name is its aria-label, which is what it shows, then more
    g.append(...(cloud ? [cloud] : []), box, icon, tag, label, caption);
    if (n.kind === "mua") g.dataset.shape = "client";
    if (n.kind === "mailbox") g.dataset.shape = "mailbox";
    // the queue badge lies above every node (its layer), so a neighbour never hides it
    const badge = s("g", {class: "badge", "data-for": n.id, "aria-hidden": "true"});
    const badgeRect = s("rect", {});
    const badgeText = s("text", {});
    badge.append(badgeRect, badgeText);
    this.bindActivate(g, n.id);
    this.gNodes.append(g);
    this.gBadges.append(badge);
    const rec = {g, title, box, icon, label, caption, badge, badgeRect, badgeText, tag, tagRect, tagText, cloud, data: n};
    this.nodes.set(n.id, rec);
    return rec;
  }

  placeNode(rec, n) {
    rec.data = n;
    const small = this.layout.small;
    rec.g.setAttribute("class", `node kind-${n.kind}${n.inside ? " in-cloud" : ""}${this.selected === n.id ? " selected" : ""}`);
    rec.g.setAttribute("transform", `translate(${n.x},${n.y})`);
    if (n.mode) rec.g.dataset.mode = n.mode;
    const pill = !!n.pill;
    // the cloud: its outline (the whole cloud, the mailbox inside included) is the box to click
    const outline = n.outline || null;
    rec.box.setAttribute("width", outline ? outline.w : n.w);
    rec.box.setAttribute("height", outline ? outline.h : n.h);
    if (rec.cloud && outline) rec.cloud.setAttribute("d", cloudPath(outline.w, outline.h));
    rec.box.setAttribute("rx", pill ? n.h / 2 : n.kind === "mailbox" ? 3 : n.kind === "mua" ? 12 : 8);
    const alone = n.kind === "app";      // the application: an icon over its short name, no label
    const iconSize = ICONS[n.kind] && !pill ? Math.min(small * (alone ? 1.7 : 1.3), n.h * 0.45) : 0;
    rec.icon.setAttribute("display", iconSize ? "inline" : "none");
    rec.iconW = iconSize && !alone ? iconSize + 6 : 0;
    if (iconSize) {
      const k = iconSize / 16;
      const left = alone ? (n.w - iconSize) / 2 : 6;
      rec.icon.setAttribute("transform", `translate(${left},${n.h * 0.36 - iconSize / 2}) scale(${k.toFixed(3)})`);
      rec.icon.setAttribute("stroke-width", (1.6 / k).toFixed(2));
    }
    rec.label.setAttribute("x", n.w / 2 + rec.iconW / 2);
    rec.caption.setAttribute("x", n.w / 2);
    rec.caption.setAttribute("y", n.h * 0.74);
    this.labelNode(rec);
    rec.title.textContent = n.full || n.id;
    rec.badge.setAttribute("transform", `translate(${n.x + n.w},${n.y})`);
    rec.badgeText.setAttribute("font-size", (small * 0.92).toFixed(1));
    rec.badgeShown = null;
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
    rec.label.textContent = `${text} `;      // the space (not drawn) keeps label and caption two words
    rec.label.setAttribute("display", n.kind === "app" ? "none" : "inline");   // its icon says it
    rec.label.setAttribute("y", pill ? n.h / 2 : n.kind === "internet" ? n.h * 0.68 : n.h * 0.36);
    fit(rec.label, n.kind === "internet" ? n.w * 0.74 : n.w - 12 - (rec.iconW || 0), size);   // a cloud is narrower than its box
    rec.caption.setAttribute("display", pill || n.kind === "internet" ? "none" : "inline");
    rec.captionText = null;               // measured again by render()
    if (WORDED.has(n.kind)) rec.title.textContent = `${text} · ${t(`node.${n.kind}.caption`)}`;
    if (n.kind === "internet") rec.title.textContent += ` · ${t(`node.internet.${n.mode === "catch" ? "catch" : "bounce"}`)}`;
    rec.g.setAttribute("aria-label", this.ariaLabel(rec));
    const cut = text.lastIndexOf(" ", Math.ceil(text.length / 2));
    if (!WORDED.has(n.kind) || n.kind === "internet" || n.kind === "app" ||
      Number(rec.label.getAttribute("font-size")) >= size * 0.8 || cut < 0) return;
    rec.caption.setAttribute("display", "none");
    const lines = [`${text.slice(0, cut)} `, text.slice(cut + 1)].map((line, i) =>
      s("tspan", {x: n.w / 2, y: n.h * (i ? 0.7 : 0.32), text: line}));
    rec.label.replaceChildren(...lines);
    rec.label.setAttribute("font-size", size.toFixed(1));
    const widest = Math.max(...lines.map((l) => l.getComputedTextLength()));
    if (widest > n.w - 10) rec.label.setAttribute("font-size", Math.max(size * 0.7, size * (n.w - 10) / widest).toFixed(1));
    rec.g.setAttribute("aria-label", this.ariaLabel(rec));
  }

  // A mail client last used through the webmail (model.js: state.clients) reads "webmail of alice":
  // the box keeps the name and says "webmail" under it (caption); its accessible name says it whole.
  markWebmail(rec, state) {
    const webmail = state?.clients?.get(rec.data.id) === "webmail";
    if (webmail) rec.g.dataset.client = "webmail"; else delete rec.g.dataset.client;
  }

  // The accessible name: the visible words first (label, caption), then what they abbreviate.
  ariaLabel(rec) {
    const n = rec.data;
    const caption = rec.caption.getAttribute("display") === "none" ? "" : rec.captionText || "";
    const down = rec.g.classList.contains("down") ? rec.tagText.textContent : "";
    const visible = [down, rec.label.textContent, caption].filter(Boolean).join(" ").replace(/\s+/g, " ").trim();
    const role = {mua: "node.mua", mailbox: "node.mailbox", msa: "node.msa", mx: "node.mx", "backup-mx": "node.backup-mx",
      mda: "node.mda", dns: "node.dns"}[n.kind];
    const webmail = rec.g.dataset.client === "webmail" ? t("node.mua.webmailOf", {name: n.label || n.id}) : "";
    const extra = [webmail, n.full && n.full !== n.label && !WORDED.has(n.kind) ? n.full : "", role ? t(role) : ""]
      .filter((x) => x && !visible.includes(x));
    return extra.length ? `${visible} — ${extra.join(", ")}` : visible;
  }

  // Where a node is drawn (a folded node: its domain's chip); an id the layout does not have is a bug
  // of the publisher or the layout: the hop is listed in the timeline but not drawn (the page never
  // invents a node).
  geom(id) {
    if (this.shown.has(id)) return this.nodes.get(id).data;
    const domain = this.nodeDomain.get(id);
    if (domain && this.chips.has(domain)) return {...this.chips.get(domain).data, id, folded: true};
    return null;
  }

  node(id) {
    const known = this.geom(id);
    if (!known && this.layout && !this.missing?.has(id)) {
      (this.missing ||= new Set()).add(id);
      console.warn(`an event names ${id}, which is not a node of the layout`);
    }
    return known;
  }

  // -- state ------------------------------------------------------------------------------------
  render(state) {
    this.state = state;
    for (const [id, rec] of this.nodes) {
      if (!this.shown.has(id)) continue;
      const n = rec.data;
      if (id.startsWith("mta:")) {
        const name = id.slice(4);
        const up = state.hosts.has(name) ? state.hosts.get(name) : n.up !== false;
        if (rec.g.classList.contains("down") === up) {
          rec.g.classList.toggle("down", !up);
          rec.captionText = null;                 // the name changes too
        }
      }
      if (n.inside) { this.renderInside(rec, state); continue; }
      const caption = this.caption(n, state);
      if (n.kind === "mua") this.markWebmail(rec, state);
      if (caption !== rec.captionText) {
        rec.caption.textContent = caption;
        rec.captionText = caption;
        fit(rec.caption, n.w - 8, this.layout.small);
        rec.g.setAttribute("aria-label", this.ariaLabel(rec));
      }
    }
    this.renderQueue();
    this.renderChips(state);
  }

  // The mailbox inside the cloud: what the outside world caught (catch) or kept (bounce), counted.
  renderInside(rec, state) {
    const n = rec.data;
    if (n.kind !== "mailbox") {           // its reader: a mail client, named by its acronym
      if (rec.captionText === "MUA") return;
      rec.captionText = rec.label.textContent = "MUA";
      fit(rec.label, n.w - 6, this.layout.small);
      rec.g.setAttribute("aria-label", `MUA — ${t("end.mua", {address: n.id.slice(4)})}`);
      return;
    }
    const mode = this.nodes.get(n.inside)?.data?.mode === "catch" ? "caught" : "kept";
    const count = state?.mailboxes.get(n.id.slice(8)) || 0;
    const text = `✉ ${t(`node.internet.${mode}`, {n: count})}`;
    if (text === rec.captionText) return;
    rec.captionText = text;
    rec.label.textContent = text;
    fit(rec.label, n.w - 10, this.layout.small);
    // too small to read: the count alone (the words stay in the accessible name and the title)
    if (Number(rec.label.getAttribute("font-size")) < this.layout.small * 0.85) {
      rec.label.textContent = `✉ ${count}`;
      fit(rec.label, n.w - 10, this.layout.small);
    }
    rec.title.textContent = text;
    rec.g.setAttribute("aria-label", `${text} — ${t("end.mailbox", {address: n.id.slice(8)})}`);
  }

  // Queued mail on each host: the count and the time to the next retry.  Live, it counts down; in
  // review it is the time left at the moment looked at.
  renderQueue() {
    const state = this.state;
    if (!state || !this.layout) return;
    const queues = queueCounts(state);
    const reviewTs = this.current?.event ? Number(this.current.event.ts) : null;
    const now = reviewTs ?? this.clock.now();
    this.counting = false;
    let unknown = false;
    const next = new Map();
    for (const [trace, where] of state.traces) {
      if (where.done || !String(where.node).startsWith("mta:") || where.status !== "deferred") continue;
      const at = this.clock.at(trace, where.node, where.seq ?? null, reviewTs === null);
      if (at === null) { unknown = true; continue; }
      next.set(where.node, Math.min(next.get(where.node) ?? Infinity, at));
    }
    for (const [id, rec] of this.nodes) {
      if (!id.startsWith("mta:")) continue;
      const count = this.shown.has(id) ? queues.get(id) || 0 : 0;
      let text = "";
      if (count > 0) {
        text = count > 99 ? "99+" : String(count);
        const at = next.get(id);
        if (at !== undefined) {
          const left = at - now;
          text += ` · ${left > 0.05 ? t("node.retry", {s: this.seconds(left)}) : t("node.retryNow")}`;
          if (reviewTs === null && left > -1) this.counting = true;
        }
      }
      if (text === rec.badgeShown) continue;
      rec.badgeShown = text;
      rec.badge.classList.toggle("shown", count > 0);
      rec.badge.dataset.count = String(count);
      rec.badgeText.textContent = text;
      if (!count) continue;
      const small = this.layout.small, hgt = small * 1.45;
      const w = (rec.badgeText.isConnected ? textWidth(rec.badgeText, Number(rec.badgeText.getAttribute("font-size")), text)
        : text.length * small * 0.6) + small;
      rec.badgeRect.setAttribute("x", -w);
      rec.badgeRect.setAttribute("y", -hgt / 2);
      rec.badgeRect.setAttribute("width", w);
      rec.badgeRect.setAttribute("height", hgt);
      rec.badgeRect.setAttribute("rx", hgt / 2);
      rec.badgeText.setAttribute("x", -w / 2);
      rec.badgeText.setAttribute("y", 0);
      rec.badge.setAttribute("aria-label", t("node.queue", {n: count}));
    }
    if (unknown && reviewTs === null) this.fetchQueue();
  }

  seconds(value) {
    const text = value >= 10 ? String(Math.ceil(value)) : value.toFixed(1);
    return text.replace(".", t("size.point"));
  }

  tickQueue() {
    if (this.counting && !this.current) this.renderQueue();
  }

  // What the page has not shown us one by one (history, a burst): the queue as the server has it.
  fetchQueue() {
    const now = performance.now();
    if (this.fetching || now - (this.fetchedAt || 0) < 3000) return;
    this.fetching = true;
    this.fetchedAt = now;
    api.get("/api/state").then((state) => {
      this.clock.load(state?.queue || []);
      this.renderQueue();
    }).catch(() => { /* the next render asks again */ }).finally(() => { this.fetching = false; });
  }

  renderChips(state) {
    if (!this.chips.size) return;
    const queues = queueCounts(state);
    const perDomain = new Map(), down = new Set();
    for (const [id, count] of queues) {
      const d = this.domainOfNode(id);
      if (d) perDomain.set(d, (perDomain.get(d) || 0) + count);
    }
    for (const [name, up] of state.hosts) {
      const d = this.nodeDomain.get(`mta:${name}`);
      if (d && !up) down.add(d);
    }
    const small = this.layout.small;
    for (const [name, chip] of this.chips) {
      const count = perDomain.get(name) || 0;
      chip.g.classList.toggle("has-queue", count > 0);
      chip.badge.classList.toggle("shown", count > 0);
      chip.g.classList.toggle("down", down.has(name));
      chip.badgeText.textContent = count ? String(count) : "";
      const w = small * (count > 9 ? 2 : 1.5), hgt = small * 1.3;
      chip.badge.setAttribute("transform", `translate(${chip.data.x + chip.data.w},${chip.data.y})`);
      chip.badgeRect.setAttribute("x", -w / 2);
      chip.badgeRect.setAttribute("y", -hgt / 2);
      chip.badgeRect.setAttribute("width", w);
      chip.badgeRect.setAttribute("height", hgt);
      chip.badgeText.setAttribute("font-size", (small * 0.85).toFixed(1));
    }
  }

  caption(n, state) {
    switch (n.kind) {
      case "mua": return state?.clients?.get(n.id) === "webmail" ? t("node.mua.webmail") : t("node.mua.short");
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
      case "app": return t("node.app.short");
      default: return "";
    }
  }

  applyText() {
    this.title.textContent = t("diagram.label");
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
      rec.tagText.textContent = `${t("node.down")} `;
      if (WORDED.has(rec.data.kind)) this.labelNode(rec);
      else rec.g.setAttribute("aria-label", this.ariaLabel(rec));
      rec.captionText = null;
      rec.badgeShown = null;
    }
    for (const [name, chip] of this.chips) {
      fit(chip.text, chip.data.w - 10, this.layout?.small || 12);
      chip.g.setAttribute("aria-label", `${name} — ${t("diagram.unfold")}`);
    }
    if (this.zoomButtons) {
      for (const [key, b] of Object.entries(this.zoomButtons)) {
        b.title = t(`zoom.${key}`);
        b.setAttribute("aria-label", t(`zoom.${key}`));
      }
    }
    if (this.state) this.render(this.state);
    const shown = this.current?.event;
    if (shown && (shown.kind === "dns.query" || shown.kind === "dns.served")) this.callout(shown, true);   // in the new language
    else if (this.gCallout.childNodes.length) clear(this.gCallout);
    this.drawFaults();
  }

  selectNode(id) {
    if (this.selected) {
      this.nodes.get(this.selected)?.g.classList.remove("selected");
      this.svg.querySelector(`.chip.selected, .band-name.selected`)?.classList.remove("selected");
    }
    this.selected = id;
    if (!id) return;
    this.nodes.get(id)?.g.classList.add("selected");
    for (const el of this.svg.querySelectorAll(".chip, .band-name")) {
      if (el.getAttribute("data-node") === id) el.classList.add("selected");
    }
  }

  // -- where a hop travels ------------------------------------------------------------------------
  route(event, {reverse = true} = {}) {
    let src = event.src, dst = event.dst;
    const lines = Array.isArray(event.transcript) ? event.transcript : [];
    if (reverse && event.kind === "smtp.line" && lines.length && lines[lines.length - 1][0] === "S") [src, dst] = [dst, src];
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
    const known = this.edges.get(`dyn|${src}|${dst}`);
    if (known) return {geo: known.geo, edge: known};
    const outer = this.outer?.get(`${src}|${dst}`) || this.outer?.get(`${dst}|${src}`);
    if (outer) {
      const points = outer.src === src ? outer.points : [...outer.points].reverse();
      const rec = this.addEdge({src, dst, kind: outer.kind, points, demand: true}, null, true);
      return {geo: rec.geo, edge: rec};
    }
    const points = this.mode === "columns" || a.folded || b.folded ? [center(a), center(b)]
      : gutterRoute(a, b, this.boxOf(src), this.boxOf(dst),
        {gutter: this.layout.gutter || 20, stripBottom: this.layout.strip_bottom || 0, inset: 9 * (this.layout.scale || 1)},
        `${src}|${dst}`);
    const rec = this.addEdge({src, dst, kind: lookOfEvent(event), points, demand: true}, null, true);
    return {geo: rec.geo, edge: rec};
  }

  boxOf(id) {
    const d = this.domainOfNode(id);
    return d ? this.cardBox.get(d) || null : null;
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

  // Remember what a hop says about the world the diagram shows (retry times); the page may call it
  // for every event it folds, drawn or not.
  note(event) {
    this.clock.note(event);
  }

  // Animate one hop; resolves when the token arrives.
  animate(event, duration = 900) {
    this.note(event);
    if (this.mode === "fold") this.ensureFocus(this.domainsOf(event));
    if (event.kind === "smtp.line") return this.park(event);
    this.unpark(event);
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
        resolve, event, back: marks.back, switched: false, edge: way.edge, from: 0, to: 1};
      if (way.edge) this.heat(way.edge, st, +1);
      if (roundTrip) this.callout(event, !!this.current);
      this.tokens.add(rec);
      const at = pointAt(geo, 0);
      tok.g.setAttribute("transform", `translate(${at[0].toFixed(1)},${at[1].toFixed(1)})`);
      this.kick();
    });
  }

  // -- line-by-line stepping: the token waits on its hop's edge -------------------------------------
  // One waiting token per dialogue: the same message (trace), or the same client on the same door
  // (before the login names the sender, the front door holds the dialogue).
  sameDialogue(a, b) {
    if (a.trace && b.trace) return a.trace === b.trace;
    const peer = a.data?.peer;
    const near = a.src === b.src || a.dst === b.dst || a.dst === "front" || b.dst === "front";
    return (peer && peer === b.data?.peer && near) || (a.src === b.src && a.dst === b.dst);
  }

  parkedFor(event) {
    for (const [key, rec] of this.parked) if (this.sameDialogue(rec.event, event)) return [key, rec];
    return [null, null];
  }

  // The dialogue a line belongs to, for telling its last lines (QUIT, 221) after the hop's own fact.
  dialogueKeys(event) {
    const peer = event.data?.peer || "";
    return [event.trace ? `t:${event.trace}|${event.src}|${event.dst}` : "", peer ? `p:${peer}|${event.src}|${event.dst}` : ""]
      .filter(Boolean);
  }

  park(event) {
    return new Promise((resolve) => {
      const keys = this.dialogueKeys(event);
      const lines = Array.isArray(event.transcript) ? event.transcript : [];
      const fresh = lines.some(([side, text]) => side === "C" && /^(EHLO|HELO|LHLO|MAIL FROM)/i.test(String(text)));
      if (keys.some((k) => this.closed.has(k))) {
        if (!fresh) { resolve(); return; }          // the hop is over: its last lines need no token
        for (const k of keys) this.closed.delete(k);
      }
      const way = this.route(event, {reverse: false});
      if (!way) { resolve(); return; }
      let [key, rec] = this.parkedFor(event);
      if (!rec) {
        const tok = this.token();
        tok.g.setAttribute("class", "token parked status-info");
        tok.text.textContent = "✉";
        rec = {tok, f: 0.5, edge: null, event};
        key = `${event.trace || ""}|${event.src}|${event.seq}`;
        this.parked.set(key, rec);
      }
      if (rec.edge !== way.edge) {
        if (rec.edge) this.heat(rec.edge, "info", -1);
        if (way.edge) this.heat(way.edge, "info", +1);
        rec.edge = way.edge;
      }
      rec.event = event;
      rec.geo = way.geo;
      rec.tok.g.setAttribute("display", "inline");
      rec.tok.g.dataset.src = event.src;
      rec.tok.g.dataset.dst = event.dst;
      const last = lines.length ? lines[lines.length - 1][0] : "C";
      const to = last === "S" ? 0.3 : 0.7;         // whoever must answer: the token waits nearer them
      for (const move of [...this.tokens]) if (move.park === rec) { this.tokens.delete(move); move.resolve(); }
      this.tokens.add({tok: rec.tok, geo: way.geo, start: performance.now(), duration: 320, resolve, event,
        park: rec, from: rec.f, to, edge: null});
      rec.f = to;
      this.kick();
    });
  }

  // The hop's own fact has come: its waiting token goes (the hop's token takes over).
  unpark(event) {
    if (event && String(event.kind).startsWith("smtp.")) {
      for (const k of this.dialogueKeys(event)) this.closed.add(k);
      if (this.closed.size > 200) this.closed.clear();
    }
    for (const [key, rec] of [...this.parked]) {
      if (event && !this.sameDialogue(rec.event, event)) continue;
      this.parked.delete(key);
      for (const move of [...this.tokens]) if (move.park === rec) { this.tokens.delete(move); move.resolve(); }
      rec.tok.g.setAttribute("display", "none");
      rec.tok.g.removeAttribute("data-src");
      rec.tok.g.removeAttribute("data-dst");
      this.pool.push(rec.tok);
      if (rec.edge) this.heat(rec.edge, "info", -1);
    }
  }

  unparkAll() {
    this.unpark(null);
  }

  // -- a new world: nothing of the old dialogues --
  forgetDialogues() { this.closed.clear(); }

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
      edge.path.setAttribute("marker-end", `url(#arrow-k-${edge.look})`);
    } else {
      cls.remove("hot");
    }
  }

  kick() {
    if (!this.running) {
      this.running = true;
      this.lastFrame = null;
      requestAnimationFrame(this.frame);
    }
  }

  // One frame of the moving tokens; onFrame (the player's token budget) is told how long after the
  // one before it came (frames without tokens are not counted: an idle page draws none).
  frame(now) {
    if (this.lastFrame != null) this.onFrame?.(now - this.lastFrame);
    this.lastFrame = now;
    for (const rec of [...this.tokens]) {
      const p = Math.min(1, Math.max(0, (now - rec.start) / rec.duration));
      const [x, y] = pointAt(rec.geo, rec.from + (rec.to - rec.from) * ease(p));
      rec.tok.g.setAttribute("transform", `translate(${x.toFixed(1)},${y.toFixed(1)})`);
      if (rec.back && !rec.switched && p >= 0.5) { rec.tok.text.textContent = rec.back; rec.switched = true; }
      if (p >= 1) this.finish(rec);
    }
    if (this.tokens.size) requestAnimationFrame(this.frame);
    else this.running = false;
  }

  // A token arrives (silent: no arrival mark, as when review jumps to another moment).
  finish(rec, silent = false) {
    if (!this.tokens.delete(rec)) return;
    if (rec.park) {                            // a waiting token stays where it is
      const [x, y] = pointAt(rec.geo, rec.to);
      rec.tok.g.setAttribute("transform", `translate(${x.toFixed(1)},${y.toFixed(1)})`);
      rec.resolve();
      return;
    }
    rec.tok.g.setAttribute("display", "none");
    this.pool.push(rec.tok);
    if (rec.edge) this.heat(rec.edge, statusOf(rec.event), -1);
    if (!silent) this.flash(rec.event);
    rec.resolve();
  }

  finishAll(silent = false) {
    for (const rec of [...this.tokens]) this.finish(rec, silent);
  }

  get busy() {
    let moving = 0;
    for (const rec of this.tokens) if (!rec.park) moving++;
    return moving;
  }

  // The arrival mark: the status at the receiving end; "−1" in the corner of a mailbox POP3
  // empties, "❐" on one IMAP reads (inside the box: never cut at a panel's edge).  One mark per
  // place: a newer one replaces the mark still fading there (in a burst, dozens of marks would be
  // stacked on the same few spots, each one's fading a style change and a paint every frame).
  flash(event) {
    if (this.gFlash.childNodes.length > 40) return;          // a burst: marks would only be noise
    const st = statusOf(event);
    const style = retrievalStyle(event);
    const target = event.kind === "dns.query" ? event.src : event.dst;
    const n = this.geom(target);
    if (!n) return;
    const small = this.layout.small;
    const r = small * 1.25;
    const g = s("g", {class: `flash status-${st}`, "data-for": target,
      transform: `translate(${n.x + n.w + r * 0.4},${n.y + n.h / 2})`});
    g.append(s("circle", {r}), s("text", {"font-size": small * 1.3, text: STATUS_ICON[st]}));
    this.mark(`at:${target}`, g);
    if (style === "pop3-delete" || style === "imap") {
      const box = this.geom(event.src);
      if (box) {
        const size = small * 1.15, hgt = size * 1.3;
        const text = style === "imap" ? "❐" : "−1";
        const mark = s("g", {class: `mailbox-mark flash ${style === "imap" ? "imap" : "pop3"}`, "data-for": event.src,
          transform: `translate(${box.x + box.w - 2},${box.y - hgt * 0.55})`});   // on the top edge, off the name
        const label = s("text", {class: "mailbox-minus", x: -hgt / 2 - 2, y: hgt / 2, "font-size": size.toFixed(1), text});
        const rect = s("rect", {x: -hgt * 1.6, y: 0, width: hgt * 1.6, height: hgt, rx: hgt / 2});
        mark.append(rect, label);
        this.mark(`box:${event.src}`, mark);
      }
    }
  }

  // Show a mark at `place` for 1.5 s (it fades: CSS .go), instead of the one there now; the same
  // mark shown there less than MARK_FRESH ms ago is still plainly visible and is kept as it is.
  mark(place, g) {
    this.marks ||= new Map();
    const old = this.marks.get(place);
    const now = performance.now();
    const look = `${g.getAttribute("class")}|${g.textContent}`;
    if (old && old.g.isConnected && now - old.at < MARK_FRESH && old.look === look) return;
    if (old) { clearTimeout(old.timer); old.g.remove(); }
    this.gFlash.append(g);
    requestAnimationFrame(() => g.classList.add("go"));
    const shown = {g, look, at: now, timer: setTimeout(() => {
      g.remove();
      if (this.marks.get(place) === shown) this.marks.delete(place);
    }, 1500)};
    this.marks.set(place, shown);
  }

  // -- DNS: the question, the answer, what the asker kept ----------------------------------------
  // A live answer (not `persist`: review's stays until review moves on) is drawn at most every
  // CALLOUT_PACE ms, the newest one waiting drawn when its turn comes: a lesson's lookups are a
  // hop or more apart and are drawn as they come; in a burst there is a lookup every few
  // milliseconds, a box shown for one frame is read by nobody, and each is its words measured,
  // wrapped and laid out again (frames of 15-20 ms on a machine the mail servers share).
  callout(event, persist) {
    this.dropCallout();
    const wait = CALLOUT_PACE - (performance.now() - this.calloutAt);
    if (!persist && wait > 0) {
      this.calloutNext = setTimeout(() => {
        this.calloutNext = null;
        if (!this.current) this.callout(event, false);
      }, wait);
      return;
    }
    clearTimeout(this.calloutTimer);
    clear(this.gCallout);
    const area = this.layout?.answer;
    if (!area || !event?.data) return;
    if (!persist) this.calloutAt = performance.now();
    drawAnswer(this.gCallout, area, event, Math.min(this.layout.font, this.layout.small * 1.15));
    if (!persist) this.calloutTimer = setTimeout(() => { if (!this.current) clear(this.gCallout); }, 4500);
  }

  // A new layout or a new world: no live answer of the old one is drawn later.
  dropCallout() {
    clearTimeout(this.calloutNext);
    this.calloutNext = null;
  }

  // -- step mode: the hop the gate holds ------------------------------------------------------
  setWaiting(waiting) {
    this.waiting = waiting || [];
    clear(this.gGhost);
    if (this.current) return;                 // review: the present is not drawn over the past
    const list = this.waiting.slice(0, MAX_GHOSTS);
    if (this.mode === "fold" && list.length) this.ensureFocus(this.domainsOf(list[0]));
    for (const w of list) {
      const way = this.route({src: w.src, dst: w.dst, kind: "gate.waiting", data: {}});
      if (!way) continue;
      const start = way.geo.points[0];
      this.gGhost.append(
        s("path", {class: "ghost", d: pathD(way.geo.points)}),
        s("circle", {class: "ghost-dot pulse", cx: start[0], cy: start[1], r: 10 * (this.layout.scale || 1)}));
    }
  }

  // -- review: one hop marked on the diagram, and nothing of any other moment ----------------------
  highlight(event) {
    if (this.current) {
      const {edge, nodes} = this.current;
      if (edge) {
        edge.path.classList.remove("current", `status-${this.current.status}`);
        if (!edge.hot) edge.path.setAttribute("marker-end", `url(#arrow-k-${edge.look})`);
      }
      for (const id of nodes) this.nodes.get(id)?.g.classList.remove("current");
    }
    this.current = null;
    if (event) {
      this.finishAll(true);                   // a token of another hop does not land now
      clear(this.gFlash);                     // nor does its ring stay
    }
    for (const rec of this.parked.values()) rec.tok.g.setAttribute("display", event ? "none" : "inline");
    if (!event) {
      clear(this.gCallout);
      this.svg.classList.remove("reviewing");
      this.setWaiting(this.waiting);
      this.renderQueue();
      return;
    }
    this.svg.classList.add("reviewing");
    clear(this.gGhost);
    if (this.mode === "fold") this.ensureFocus(this.domainsOf(event));
    const way = this.route(event);
    const status = statusOf(event);
    const edge = way?.edge || null;
    if (edge) {
      edge.path.classList.add("current", `status-${status}`);
      edge.path.setAttribute("marker-end", `url(#arrow-${status})`);
    }
    const nodes = [event.src, event.dst].filter((id) => this.shown.has(id));
    for (const id of nodes) this.nodes.get(id).g.classList.add("current");
    this.current = {event, edge, nodes, status};
    this.note(event);
    if (event.kind === "dns.query" || event.kind === "dns.served") this.callout(event, true);
    else clear(this.gCallout);
    this.renderQueue();
    const boxes = nodes.map((id) => this.geom(id)).filter(Boolean);
    if (boxes.length) {
      const x = Math.min(...boxes.map((b) => b.x)), y = Math.min(...boxes.map((b) => b.y));
      this.viewport.show({x, y, w: Math.max(...boxes.map((b) => b.x + b.w)) - x, h: Math.max(...boxes.map((b) => b.y + b.h)) - y});
    }
  }
}
