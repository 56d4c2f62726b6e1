// measure.js — how wide a text is drawn, without asking the page for a layout.
//
// Theory of operation: SVGTextContentElement.getComputedTextLength() is exact, but it makes the
// browser lay out the whole page first whenever anything changed since the last layout; the diagram
// measures a caption, a badge or the DNS answer's words right after changing them, so during a
// burst every measurement was a layout of the page (thousands of them, most of the main thread's
// long tasks).  Here a text is measured on a 2D canvas with the element's own font (family, weight,
// style, letter spacing: read from its computed style once per element and class, then kept), which
// needs no layout, and each (font, size, text) is measured once.  The text is taken the way SVG
// draws it: runs of white space are one space, none at either end.  The canvas and the SVG text are
// shaped by the same engine from the same font; measured in Chromium they agree within 0.2 px.
//
//   textWidth(el, size, text = el.textContent)   the width in user units at font size `size`
//   fontKey(el)                                   the font part of the key (tests, the bench)
//   forget()                                      drop what is kept (fonts loaded, language changed)
//
// An element that is not in the document or is not displayed (display="none" on itself) measures
// 0, as getComputedTextLength() answers for it.

const MAX_KEPT = 4000;
let context = null;
let widths = new Map();            // "font|spacing|size|text" -> width
let fonts = new WeakMap();         // element -> {sig, font, spacing}

function canvas() {
  if (!context) context = document.createElement("canvas").getContext("2d");
  return context;
}

// The element's class and its parent's: what the style sheet chooses the font by.
const signature = (el) => `${el.getAttribute("class") || ""}/${el.parentNode?.getAttribute?.("class") || ""}`;

function fontOf(el) {
  const sig = signature(el);
  const known = fonts.get(el);
  if (known && known.sig === sig) return known;
  const cs = getComputedStyle(el);
  const px = parseFloat(cs.fontSize) || 16;
  const ls = parseFloat(cs.letterSpacing);
  const found = {sig, font: `${cs.fontStyle} ${cs.fontWeight} ${cs.fontStretch === "100%" ? "" : cs.fontStretch} `
    .replace(/\s+/g, " ") + `{size}px ${cs.fontFamily}`, spacing: Number.isFinite(ls) ? ls / px : 0};
  fonts.set(el, found);
  return found;
}

export function fontKey(el) {
  const f = fontOf(el);
  return `${f.font}|${f.spacing}`;
}

export function textWidth(el, size, text = el.textContent) {
  if (!el.isConnected || el.getAttribute("display") === "none") return 0;
  const drawn = String(text ?? "").replace(/\s+/g, " ").trim();
  if (!drawn) return 0;
  const f = fontOf(el);
  const key = `${f.font}|${f.spacing}|${size}|${drawn}`;
  const kept = widths.get(key);
  if (kept !== undefined) {
    widths.delete(key);              // the newest use goes last: what goes first is the least used lately
    widths.set(key, kept);
    return kept;
  }
  const ctx = canvas();
  ctx.font = f.font.replace("{size}", String(size));
  ctx.letterSpacing = "0px";
  // letter spacing is added after every character, the last one included, as SVG text does
  const width = ctx.measureText(drawn).width + f.spacing * size * [...drawn].length;
  if (widths.size >= MAX_KEPT) {
    // the quarter least used lately goes (a Map keeps the order things were put in, and a text
    // measured again is put last), not all of it: a mailbox's count is a new text with every
    // letter, and dropping everything at once made the next DNS answer measure all its words
    // again in the middle of a burst (a frame of 15-20 ms)
    let extra = MAX_KEPT / 4;
    for (const old of widths.keys()) { if (extra-- <= 0) break; widths.delete(old); }
  }
  widths.set(key, width);
  return width;
}

export function forget() {
  widths = new Map();
  fonts = new WeakMap();
}

if (typeof document !== "undefined" && document.fonts?.addEventListener) {
  document.fonts.addEventListener("loadingdone", forget);
}
