// dom.js — the only way the page builds elements.  Text always goes in through text nodes, so a
// subject like "<img src=x onerror=...>" is shown as those characters and never parsed as HTML.
// There is deliberately no innerHTML anywhere in static/js.

export const SVG_NS = "http://www.w3.org/2000/svg";

const SAFE_ATTR = /^(class|id|title|role|tabindex|type|value|name|for|href|src|sandbox|referrerpolicy|lang|min|max|step|placeholder|autocomplete|disabled|selected|hidden|width|height|colspan|rowspan|scope|reversed|data-[a-z0-9-]+|aria-[a-z-]+)$/;

function put(el, attrs) {
  for (const [name, value] of Object.entries(attrs || {})) {
    if (value === null || value === undefined || value === false) continue;
    if (name === "text") { el.textContent = String(value); continue; }
    if (name.startsWith("on")) throw new Error("event handlers are added with addEventListener");
    if (!SAFE_ATTR.test(name)) throw new Error(`attribute not allowed: ${name}`);
    if ((name === "href" || name === "src") && !/^\/(?!\/)/.test(String(value)) &&
        !(name === "href" && /^#[A-Za-z0-9-]+$/.test(String(value)))) {
      throw new Error("only same-origin paths and places in the page may be linked");
    }
    el.setAttribute(name, value === true ? "" : String(value));
  }
}

function append(el, children) {
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
}

// h("li", {class: "row"}, "text", otherNode)
export function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  put(el, attrs);
  append(el, children);
  return el;
}

// SVG elements: geometry attributes are numbers or plain tokens we computed, never message data.
export function s(tag, attrs = {}, ...children) {
  const el = document.createElementNS(SVG_NS, tag);
  for (const [name, value] of Object.entries(attrs)) {
    if (value === null || value === undefined) continue;
    if (name === "text") { el.textContent = String(value); continue; }
    if (name.startsWith("on")) throw new Error("event handlers are added with addEventListener");
    el.setAttribute(name, String(value));
  }
  append(el, children);
  return el;
}

// A narration or a catalogue string as nodes: `protocol text` in backticks becomes <code>, and with
// {terms: true} the glossary's acronyms in the prose become links to their entry ("#term-MTA").
// Everything goes in as text.
const TICK = "`";
const TERMS = /\b(MUA|MSA|MTA|MDA|MX|SMTP|POP3|IMAP)\b/g;

export function rich(text, {terms = false} = {}) {
  const out = [];
  const linked = new Set();            // each term is linked once, where it first appears
  String(text ?? "").split(TICK).forEach((part, i) => {
    if (!part) return;
    if (i % 2) out.push(h("code", {}, part));
    else if (terms) out.push(...linkTerms(part, linked));
    else out.push(part);
  });
  return out;
}

function linkTerms(prose, linked) {
  const out = [];
  let at = 0;
  for (const m of prose.matchAll(TERMS)) {
    if (linked.has(m[1])) continue;
    linked.add(m[1]);
    if (m.index > at) out.push(prose.slice(at, m.index));
    out.push(h("a", {class: "term", href: `#term-${m[1]}`, "data-term": m[1]}, m[1]));
    at = m.index + m[1].length;
  }
  if (at < prose.length) out.push(prose.slice(at));
  return out;
}

export function clear(el) {
  while (el.firstChild) el.removeChild(el.firstChild);
  return el;
}

// A node id such as "mua:alice@alpha.test" becomes a valid, collision-free element id:
// letters and digits stay, every other character becomes _xx (its code in hex).
export function safeId(prefix, nodeId) {
  let out = "";
  for (const ch of String(nodeId)) {
    out += /[A-Za-z0-9]/.test(ch) ? ch : `_${ch.codePointAt(0).toString(16)}_`;
  }
  return `${prefix}-${out}`;
}

export function clockTime(ts) {
  const d = new Date(ts * 1000);
  return [d.getHours(), d.getMinutes(), d.getSeconds()].map((n) => String(n).padStart(2, "0")).join(":");
}

// One heavy piece of drawing per animation frame during a burst.  The timeline's redraw, the
// diagram's counts and the details panel's newest hop each cost a few milliseconds of script and
// as much again of the browser's layout; on their own paces (250, 120 and 1,000 ms) they fell now
// and then into the same frame, and that frame was the page's longest.  Each asks, in its
// requestAnimationFrame callback, whether the frame is still free: the first to ask gets it, the
// others wait for the next frame (onFreeFrame(fn): fn in the first free frame from the next one).
// Every callback of one frame sees the same document.timeline.currentTime.
let taken = null;
export function freeFrame() {
  const now = document.timeline?.currentTime ?? performance.now();
  if (now === taken) return false;
  taken = now;
  return true;
}

export function onFreeFrame(fn) {
  requestAnimationFrame(() => (freeFrame() ? fn() : onFreeFrame(fn)));
}
