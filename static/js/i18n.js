// i18n.js — the mechanics of the page's languages: which one is chosen (remembered), looking a key
// up, parameters and plural forms.  The words themselves live in the narrator's catalogues
// (simulator/narrate/parts/<lang>_ui.py), served by GET /api/i18n/<lang> -> {"lang", "ui"}.
//
// In a catalogue string: {name} is a parameter, {n#one|few|many} the word for the count n
// (plural.js), and `text in backticks` protocol text, which rich() sets apart as <code>.

import {form} from "./plural.js";
import {rich as richText} from "./dom.js";

export const LANGS = ["en", "ru"];
const FALLBACK = "en";
const STORE_KEY = "mailflow.lang";
const TICK = "`";
const tables = {};            // lang -> {key: text}, as loaded
let current = pickInitial();
const listeners = [];

function pickInitial() {
  try {
    const saved = localStorage.getItem(STORE_KEY);
    if (saved && LANGS.includes(saved)) return saved;
  } catch (_) { /* storage may be disabled */ }
  const nav = (navigator.language || FALLBACK).slice(0, 2).toLowerCase();
  return LANGS.includes(nav) ? nav : FALLBACK;
}

async function fetchTable(code) {
  if (tables[code]) return;
  const response = await fetch(`/api/i18n/${encodeURIComponent(code)}`,
    {credentials: "same-origin", headers: {Accept: "application/json"}});
  if (!response.ok) throw new Error(`interface strings (${code}): HTTP ${response.status}`);
  const data = await response.json();
  tables[code] = data && typeof data.ui === "object" ? data.ui : {};
}

// Load the chosen language (and the fallback) before anything is drawn.
export async function load() {
  await Promise.all([fetchTable(current), fetchTable(FALLBACK)]);
}

export function lang() { return current; }

export async function setLang(code) {
  if (!LANGS.includes(code) || code === current) return;
  await fetchTable(code);
  current = code;
  try { localStorage.setItem(STORE_KEY, code); } catch (_) { /* ignore */ }
  for (const fn of listeners) fn(code);
}

export function onLangChange(fn) { listeners.push(fn); }

function lookup(key) {
  const own = tables[current];
  if (own && key in own) return [own[key], current];
  const base = tables[FALLBACK];
  if (base && key in base) return [base[key], FALLBACK];
  return [key, FALLBACK];
}

export function has(key) { return lookup(key)[0] !== key; }

// The catalogue's text with its parameters in place, backticks kept (a parameter cannot open code).
export function raw(key, params = {}) {
  const [text, code] = lookup(key);
  return text.replace(/\{(\w+)(?:#([^}]*))?\}/g, (whole, name, forms) => {
    if (!(name in params)) return whole;
    if (forms !== undefined) return form(code, Number(params[name]), forms.split("|"));
    return String(params[name]).replaceAll(TICK, "ʹ");
  });
}

// Plain text for textContent, titles and aria-labels: t("node.queue", {n: 3}) -> "3 in queue".
export function t(key, params = {}) {
  return raw(key, params).replaceAll(TICK, "");
}

// Nodes for an element's children: protocol text as <code>, always as text (dom.js).
export function rich(key, params = {}) {
  return richText(raw(key, params));
}

// Pick the current language from a {"en": ..., "ru": ...} object coming from the server.
export function pick(texts) {
  if (!texts || typeof texts !== "object") return "";
  return texts[current] || texts[FALLBACK] || Object.values(texts)[0] || "";
}

// Translate every element of the static page that asks for it.
export function applyStatic(root = document) {
  document.documentElement.lang = current;
  for (const el of root.querySelectorAll("[data-i18n]")) el.replaceChildren(...rich(el.dataset.i18n));
  for (const el of root.querySelectorAll("[data-i18n-title]")) el.title = t(el.dataset.i18nTitle);
  for (const el of root.querySelectorAll("[data-i18n-aria]")) el.setAttribute("aria-label", t(el.dataset.i18nAria));
  for (const el of root.querySelectorAll("[data-i18n-placeholder]")) el.placeholder = t(el.dataset.i18nPlaceholder);
}
