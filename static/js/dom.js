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
    if ((name === "href" || name === "src") && !/^\/(?!\/)/.test(String(value))) {
      throw new Error("only same-origin paths may be linked");
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
