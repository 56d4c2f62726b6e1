// dnsanswer.js — the DNS answer on the diagram, written into the answer area the layout keeps free
// beside the DNS server (layout.answer: no node lies under it, so the box never hides one).
//
// What it shows, apart: the question; what DNS answered (every record it gave); and, for a sending
// server's own lookup, what that server kept and why (a backup MX keeps only the records better
// than its own preference; equal preferences are shuffled; no MX means the A record stands in).
// The text is measured, wrapped and, if it must, made smaller (down to 70 %) until it fits the
// area; only beyond that is a line shortened with "…" (the whole text stays in the box's title).

import {s, clear} from "./dom.js";
import {t, has} from "./i18n.js";
import {plain} from "./labels.js";
import {rcodeMeaning} from "./codes.js";
import {textWidth} from "./measure.js";

const record = (o) => `MX ${o.preference} ${o.host}`;

// The words of the box for a dns.query (a sandbox MTA's lookup) or dns.served (dig and others).
export function answerModel(event) {
  const data = event?.data || {};
  const answers = Array.isArray(data.answers) ? data.answers.map(String) : [];
  const failed = data.rcode && data.rcode !== "NOERROR";
  const answered = answers.length ? answers.map((text) => ({text, cls: "rec"}))
    : [{text: failed ? plain(rcodeMeaning(data.rcode)) : t("dns.noAnswer"), cls: failed ? "err" : "rec"}];
  const model = {question: `${data.question || "?"} ?`, answered: {title: t("answer.answered"), lines: answered}, kept: null};
  if (event?.kind !== "dns.query") return model;
  const host = String(data.host || "");
  const order = Array.isArray(data.order) ? data.order : [];
  const lines = order.length
    ? order.map((o, i) => ({text: data.implicit ? `${o.host} (A)` : record(o), cls: i === 0 ? "chosen" : "rec",
      note: i === 0 ? `← ${t("dns.chosen")}` : ""}))
    : [{text: t("answer.noRoute"), cls: "err"}];
  const reasons = [...(Array.isArray(data.reason) ? data.reason : []), ...(data.error ? [data.error] : [])];
  const specific = reasons.filter((r) => !String(r?.code || "").endsWith("lowest_first"));
  const why = (specific.length ? specific : reasons).map(reasonText).filter(Boolean).join("; ");
  model.kept = {title: t("answer.kept", {host}), lines, why: why ? t("answer.why", {why}) : ""};
  return model;
}

function reasonText(reason) {
  const code = String(reason?.code || "").split(".").pop();
  const key = `answer.why.${code}`;
  return code && has(key) ? t(key, reason) : "";
}

// -- fitting ----------------------------------------------------------------------------------------
// A text element of each class in the answer's group gives measure.js its font (read once: the
// elements are kept for the next answer, and are in the group only while it is measured); the words
// are measured on a canvas, without a layout of the page (a burst draws an answer for every lookup).
const probes = new WeakMap();       // group -> Map(cls -> text element)
const SCALES = [1, 0.92, 0.85, 0.78, 0.7];                     // the sizes an answer is tried at, until it fits
const KINDS = ["q", "head", "rec", "chosen", "why", "err"];    // the classes of its lines

class Measure {
  constructor(group) {
    this.group = group;
    if (!probes.has(group)) probes.set(group, new Map());
    this.els = probes.get(group);
  }
  width(text, size, cls) {
    let el = this.els.get(cls);
    if (!el) {
      el = s("text", {class: `measure ${cls}`, x: -9999, y: -9999, "aria-hidden": "true"});
      this.els.set(cls, el);
    }
    if (el.parentNode !== this.group) this.group.append(el);
    return textWidth(el, Number(size.toFixed(2)), text);
  }
  done() { for (const el of this.els.values()) el.remove(); }
}

// Greedy word wrap to `room`; a word longer than the room is cut with "…".
function wrap(measure, text, room, size, cls) {
  const words = String(text).split(/\s+/).filter(Boolean);
  const lines = [];
  let line = "";
  for (const word of words) {
    const next = line ? `${line} ${word}` : word;
    if (measure.width(next, size, cls) <= room) { line = next; continue; }
    if (line) lines.push(line);
    line = word;
    while (measure.width(line, size, cls) > room && line.length > 2) line = `${line.slice(0, -2)}…`;
  }
  if (line) lines.push(line);
  return lines.length ? lines : [""];
}

function paneLines(measure, pane, room, size, first = []) {
  // The title wraps like the lines under it: "smtp.alpha.test оставляет" is wider than a narrow pane.
  const out = [...first, ...wrap(measure, pane.title, room, size, "head").map((text) => ({text, cls: "head"}))];
  for (const l of pane.lines) {
    const text = l.note ? `${l.text}  ${l.note}` : l.text;
    for (const piece of wrap(measure, text, room, size, l.cls)) out.push({text: piece, cls: l.cls});
  }
  if (pane.why) for (const piece of wrap(measure, pane.why, room, size, "why")) out.push({text: piece, cls: "why"});
  return out;
}

// Two panes side by side (what DNS answered | what the asker kept and why), the first as wide as
// its longest line; one pane, or the two stacked, when the area is narrow.
function plan(measure, model, area, size) {
  const pad = Math.max(5, size * 0.55), lh = size * 1.3;
  const inner = area.w - 2 * pad;
  const question = {text: model.question, cls: "q"};
  const widestA = Math.max(...[question, {text: model.answered.title, cls: "head"}, ...model.answered.lines]
    .map((l) => measure.width(l.text, size, l.cls)));
  const two = !!model.kept && inner >= size * 26;
  const paneA = two ? Math.min(widestA + 2, inner * 0.5) : inner;
  const paneB = two ? inner - paneA - 2 * pad : inner;
  const a = paneLines(measure, model.answered, paneA, size, [question]);
  const b = model.kept ? paneLines(measure, model.kept, paneB, size) : [];
  const rows = two ? Math.max(a.length, b.length) : a.length + b.length;
  const height = 2 * pad + lh * rows + (!two && b.length ? pad : 0);
  const width = model.kept ? area.w : Math.min(area.w, widestA + 2 * pad + 2);
  return {size, pad, lh, two, paneA, a, b, height, width};
}

// The first answer drawn reads the font of each of its kinds of line from the style sheet (which
// makes the browser bring the page's style up to date) and measures its first words on the canvas
// (the font set up): 3 ms on a quiet page, 15-20 ms in the middle of a burst, in a frame.  The page
// calls this when it is idle after a layout, so that the first lookup finds all of it done.
export function warmAnswer(group, small) {
  const measure = new Measure(group);
  const sample = `${t("answer.answered")} MX 10 mx.example ? ← ${t("dns.chosen")} …`;
  for (const f of SCALES) {
    for (const cls of KINDS) measure.width(sample, small * f, cls);
  }
  measure.done();
}

// Draw the answer for `event` into `group`, inside `area` ({x, y, w, h}); returns the box drawn.
export function drawAnswer(group, area, event, small) {
  clear(group);
  const model = answerModel(event);
  const measure = new Measure(group);
  let best = null;
  for (const f of SCALES) {
    best = plan(measure, model, area, small * f);
    if (best.height <= area.h) break;
  }
  measure.done();
  const p = best;
  const maxRows = Math.max(1, Math.floor((area.h - 2 * p.pad) / p.lh));
  const clip = (lines, room) => lines.length <= room ? lines
    : [...lines.slice(0, Math.max(0, room - 1)), {text: "…", cls: "why"}];
  const height = Math.min(area.h, p.height);
  const g = s("g", {class: "callout", "data-event": String(event?.seq ?? "")});
  g.append(s("title", {text: [model.question, model.answered.title, ...model.answered.lines.map((l) => l.text),
    ...(model.kept ? [model.kept.title, ...model.kept.lines.map((l) => l.text), model.kept.why] : [])].join("\n")}));
  g.append(s("rect", {class: "callout-box", x: area.x, y: area.y, width: p.width, height, rx: 8}));
  const x0 = area.x + p.pad, y0 = area.y + p.pad;
  const part = (l, side) => (l.cls === "q" ? "question" : l.cls === "why" ? "why" : side);
  const line = (l, x, row, side) => s("text", {class: l.cls, "data-part": part(l, side), x,
    y: y0 + p.lh * (row + 0.78), "font-size": p.size.toFixed(2), text: l.text});
  if (p.two) {
    clip(p.a, maxRows).forEach((l, i) => g.append(line(l, x0, i, "answered")));
    const x1 = x0 + p.paneA + 2 * p.pad;
    g.append(s("line", {class: "callout-rule", x1: x1 - p.pad, x2: x1 - p.pad, y1: y0, y2: area.y + height - p.pad}));
    clip(p.b, maxRows).forEach((l, i) => g.append(line(l, x1, i, "kept")));
  } else {
    const a = clip(p.a, maxRows);
    a.forEach((l, i) => g.append(line(l, x0, i, "answered")));
    const room = maxRows - a.length;
    if (p.b.length && room > 0) {
      const shift = p.pad / p.lh;
      clip(p.b, room).forEach((l, i) => g.append(line(l, x0, a.length + i + shift, "kept")));
    }
  }
  group.append(g);
  return {x: area.x, y: area.y, w: p.width, h: height};
}
