// webmail_read.js — the reading pane: one message as GET /api/webmail/message gives it (read.view()
// plus id, folder, flags), shown in tabs: Text, HTML, Headers, Source, Attachments.
//
// Mail content is hostile.  Every string of it goes in as text (dom.h); the HTML body is never
// parsed by this page: it is only ever the src of an <iframe sandbox> (no allow-scripts, no
// allow-same-origin: an opaque origin that runs nothing), served by its own endpoint under a
// sandbox CSP that blocks remote images until the reader asks (…&images=1).  A bounce (RFC 3464
// delivery report) reads as what it says through letter.js, the way the details panel shows one.
//
// The Source and HTML tabs are fetched only when opened: each request is a real IMAP or POP3
// session of the webmail, drawn as hops on the projected diagram, so the page asks for no more
// than the reader looks at.

import {h, clear} from "./dom.js";
import {t, rich, lang} from "./i18n.js";
import {sizeText} from "./labels.js";
import {letter} from "./letter.js";
import * as wm from "./webmail_api.js";

const TABS = ["text", "html", "headers", "source", "attachments"];

// A message's flags, whichever way the server spells them (["\\Seen", ...] or {seen: true}).
export function hasFlag(flags, name) {
  if (Array.isArray(flags)) return flags.some((f) => String(f).replace(/^\\/, "").toLowerCase() === name);
  return Boolean(flags && typeof flags === "object" && flags[name]);
}

// "Tue, 2 Jul 2024 10:04:05 +0000" -> "10:04" today, a short date otherwise; what cannot be read stays.
export function shortDate(value, {full = false} = {}) {
  const text = String(value || "");
  const date = new Date(text);
  if (!text || Number.isNaN(date.getTime())) return text;
  const code = lang() === "ru" ? "ru-RU" : "en-GB";
  const today = new Date().toDateString() === date.toDateString();
  if (full) return date.toLocaleString(code, {dateStyle: "medium", timeStyle: "short"});
  return today ? date.toLocaleTimeString(code, {hour: "2-digit", minute: "2-digit"})
    : date.toLocaleDateString(code, {day: "numeric", month: "short", year: "numeric"});
}

export class Reader {
  constructor(root, {onAction, onError}) {
    this.root = root;
    this.onAction = onAction;
    this.onError = onError;
    this.view = null;
    this.tab = "text";
    this.images = false;
    this.$ = (id) => root.querySelector(`#${id}`);
    this.tabs = [...root.querySelectorAll('[role="tab"]')];
    for (const tab of this.tabs) {
      tab.addEventListener("click", () => this.select(tab.dataset.tab));
      tab.addEventListener("keydown", (event) => this.tabKey(event, tab));
    }
    for (const button of root.querySelectorAll("[data-act]")) {
      button.addEventListener("click", () => this.view && this.onAction(button.dataset.act, this.view));
    }
    this.$("wm-images").addEventListener("click", () => { this.images = true; this.frame(); });
  }

  clear() {
    this.view = null;
    this.root.dataset.id = "";
    this.$("wm-reader-empty").hidden = false;
    this.$("wm-reader-body").hidden = true;
    clear(this.$("wm-html-frame"));
  }

  // A new message (or the same one again after an action).
  show(view, folders = []) {
    const same = this.view && this.view.id === view.id && this.view.folder === view.folder;
    this.view = view;
    this.folders = folders;
    if (!same) {
      this.images = false;
      this.source = null;
      this.tab = view.text || !view.html ? "text" : "html";
    }
    this.root.dataset.id = view.id;
    this.root.dataset.folder = view.folder;
    this.$("wm-reader-empty").hidden = true;
    this.$("wm-reader-body").hidden = false;
    this.render();
    if (!same) clear(this.$("wm-html-frame"));
    this.select(this.tab, {focus: false});
  }

  // Everything but the loaded frame and source, in the page's language.
  render() {
    const v = this.view;
    if (!v) return;
    const head = v.headers || {};
    this.$("wm-read-subject").textContent = head.subject || t("webmail.noSubject");
    const dl = clear(this.$("wm-read-head"));
    for (const [key, value] of [["message.from", head.from], ["message.to", head.to], ["webmail.head.cc", head.cc],
      ["message.date", head.date ? shortDate(head.date, {full: true}) : ""]]) {
      if (!value) continue;
      dl.append(h("dt", {}, rich(key)), h("dd", {}, String(value)));
    }
    const flagged = hasFlag(v.flags, "flagged");
    const flag = this.$("wm-flag");
    flag.classList.toggle("on", flagged);
    this.$("wm-flag-label").textContent = t(flagged ? "webmail.unflag" : "webmail.flag");
    flag.title = t(flagged ? "webmail.unflag" : "webmail.flag");
    // the folder chosen stays chosen when a refresh in the background redraws the list
    const move = this.$("wm-move-to");
    const chosen = move.value;
    clear(move);
    for (const f of this.folders) {
      if (f.name !== v.folder) move.append(h("option", {value: f.name, selected: f.name === chosen}, folderLabel(f)));
    }
    this.renderText();
    this.renderHeaders();
    this.renderAttachments();
    this.$("wm-tab-html").disabled = !v.html;
    this.$("wm-html-note").replaceChildren(...rich(this.images ? "webmail.html.images" : "webmail.html.sealed"));
    this.$("wm-images").hidden = this.images;
    if (this.source !== null && this.source !== undefined) this.renderSource();
  }

  renderText() {
    const v = this.view;
    const pane = clear(this.$("wm-pane-text"));
    if (v.report) {
      // letter.js draws a bounce as the details panel does; its own title and header list are
      // ours already (above the tabs), so only the report and the words stay.
      const card = letter({report: v.report, text: v.text || ""});
      card.querySelector(":scope > h3")?.remove();
      for (const dl of card.querySelectorAll(":scope > dl.kv")) if (!dl.children.length) dl.remove();
      card.classList.add("wm-report");
      pane.append(card);
    } else if (v.text) {
      pane.append(h("pre", {class: "wm-text"}, v.text));
    } else {
      pane.append(h("p", {class: "empty"}, t(v.html ? "webmail.text.onlyHtml" : "webmail.text.none")));
    }
    if (v.text_cut) pane.append(h("p", {class: "hint"}, t("webmail.text.cut")));
  }

  renderHeaders() {
    const pane = clear(this.$("wm-pane-headers"));
    const lines = Array.isArray(this.view.header_lines) ? this.view.header_lines : [];
    const list = h("dl", {class: "wm-header-lines"});
    for (const [name, value] of lines) {
      list.append(h("dt", {}, String(name)), h("dd", {}, String(value ?? "")));
    }
    pane.append(h("p", {class: "hint"}, rich("webmail.headers.hint")), list);
  }

  renderAttachments() {
    const v = this.view;
    const items = Array.isArray(v.attachments) ? v.attachments : [];
    this.$("wm-att-count").textContent = items.length ? `(${items.length})` : "";
    this.$("wm-tab-attachments").disabled = !items.length;
    const pane = clear(this.$("wm-pane-attachments"));
    if (!items.length) return;
    const list = h("ul", {class: "wm-attachments"});
    for (const a of items) {
      const link = h("a", {class: "btn btn-small", href: wm.partUrl(v.folder, v.id, a.index),
        "data-index": a.index}, h("span", {"aria-hidden": "true"}, "⬇ "), t("webmail.download"));
      link.setAttribute("download", "");           // dom.h lists no "download": it is not message data
      link.setAttribute("aria-label", t("webmail.download.name", {name: a.name || "—"}));
      list.append(h("li", {class: "wm-attachment"},
        h("span", {class: "wm-att-name"}, a.name || t("webmail.att.unnamed")),
        h("span", {class: "wm-att-type mono"}, a.type || ""),
        h("span", {class: "wm-att-size"}, sizeText(a.size)), link));
    }
    pane.append(list);
  }

  renderSource() {
    const pane = clear(this.$("wm-pane-source"));
    if (this.source === "") { pane.append(h("p", {class: "empty"}, t("webmail.loading"))); return; }
    pane.append(h("pre", {class: "wm-source"}, this.source));
  }

  async loadSource() {
    const v = this.view;
    this.source = "";
    this.renderSource();
    try {
      const text = await wm.raw(v.folder, v.id);
      if (this.view !== v) return;
      this.source = text;
      this.renderSource();
      this.$("wm-pane-source").dataset.loaded = "yes";
    } catch (err) {
      this.source = null;
      this.onError(err);
    }
  }

  // The sealed frame: a new iframe each time (so "show remote images" is a fresh load).
  frame() {
    const v = this.view;
    const box = clear(this.$("wm-html-frame"));
    if (!v || !v.html) return;
    const frame = h("iframe", {class: "wm-iframe", sandbox: "", referrerpolicy: "no-referrer",
      src: wm.htmlUrl(v.folder, v.id, this.images), title: t("webmail.html.frame"),
      "data-images": this.images ? "yes" : "no"});
    // "load" comes once the body and whatever it was allowed to fetch are done (a fact for tests)
    frame.addEventListener("load", () => { frame.dataset.loaded = "yes"; }, {once: true});
    box.append(frame);
    this.$("wm-html-note").replaceChildren(...rich(this.images ? "webmail.html.images" : "webmail.html.sealed"));
    this.$("wm-images").hidden = this.images;
  }

  select(name, {focus = false} = {}) {
    if (!TABS.includes(name)) return;
    let tab = this.tabs.find((x) => x.dataset.tab === name);
    if (tab.disabled) tab = this.tabs[0];
    this.tab = tab.dataset.tab;
    for (const x of this.tabs) {
      const on = x === tab;
      x.setAttribute("aria-selected", String(on));
      x.tabIndex = on ? 0 : -1;
      this.$(x.getAttribute("aria-controls")).hidden = !on;
    }
    if (focus) tab.focus();
    if (this.tab === "html" && !this.$("wm-html-frame").firstChild) this.frame();
    if (this.tab === "source" && (this.source === null || this.source === undefined)) this.loadSource();
  }

  // Arrow keys, Home and End move between the tabs (WAI-ARIA tabs pattern, automatic activation).
  tabKey(event, tab) {
    const usable = this.tabs.filter((x) => !x.disabled);
    const at = usable.indexOf(tab);
    const to = {ArrowRight: at + 1, ArrowLeft: at - 1, Home: 0, End: usable.length - 1}[event.key];
    if (to === undefined) return;
    event.preventDefault();
    const next = usable[(to + usable.length) % usable.length];
    this.select(next.dataset.tab, {focus: true});
  }
}

// A folder's name as the page words it: the special folders in the page's language.
export function folderLabel(folder) {
  const special = folder && folder.special;
  return special ? t(`webmail.folder.${special}`) : String(folder?.name ?? "");
}
