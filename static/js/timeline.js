// timeline.js — every hop in order, filterable by message (trace) and by protocol.
//
// The list is a window: at most WINDOW rows are in the page at once (the newest ones while live,
// the ones around the selected hop while reviewing), so a burst of thousands of hops costs the same
// as a lesson of twenty.  New rows are appended once per animation frame.

import {h, clear, clockTime} from "./dom.js";
import {t} from "./i18n.js";
import {STATUS_ICON, statusOf, protocolOf, isHop} from "./model.js";
import {kindLabel, nodeName, protocolName, words, plain} from "./labels.js";

const WINDOW = 300;

export class Timeline {
  constructor({list, empty, count, traceSelect, protocolSelect}, {onSelect, onFilter, traces}) {
    this.list = list;
    this.empty = empty;
    this.count = count;
    this.traceSelect = traceSelect;
    this.protocolSelect = protocolSelect;
    this.onSelect = onSelect;
    this.onFilter = onFilter;       // the user changed a filter (not called for setFilter from code)
    this.traces = traces;
    this.rows = new Map();        // seq -> li, the rows in the window
    this.events = [];             // all hops, in order
    this.shown = [];              // the hops passing the filter, in order
    this.queue = [];              // waiting for the next frame
    this.filter = {trace: "", protocol: ""};
    this.protocols = new Set();
    this.traceOptions = new Map();
    this.selected = null;
    this.cursorSeq = null;        // review: rows after this one are "future"
    this.atEnd = true;            // the window ends with the newest hop
    this.scheduled = false;
    this.stick = true;            // follow the newest row unless the user scrolled up
    this.earlier = h("li", {class: "earlier", hidden: true});
    list.addEventListener("scroll", () => {
      if (this.programmatic) { this.programmatic = false; return; }
      this.stick = list.scrollTop + list.clientHeight >= list.scrollHeight - 24;
    }, {passive: true});
    list.addEventListener("click", (ev) => {
      const row = ev.target.closest?.(".row");
      if (row) this.onSelect(Number(row.dataset.seq));
    });
    traceSelect.addEventListener("change", () => { this.setFilter({trace: traceSelect.value}); this.onFilter?.(); });
    protocolSelect.addEventListener("change", () => { this.setFilter({protocol: protocolSelect.value}); this.onFilter?.(); });
  }

  // A new world: no rows, no filters, no options of the old one.
  reset() {
    this.events = [];
    this.shown = [];
    this.queue = [];
    this.rows.clear();
    this.protocols.clear();
    this.traceOptions.clear();
    this.filter = {trace: "", protocol: ""};
    for (const select of [this.traceSelect, this.protocolSelect]) {
      while (select.options.length > 1) select.remove(1);
      select.value = "";
    }
    this.selected = null;
    this.cursorSeq = null;
    this.atEnd = true;
    this.stick = true;
    clear(this.list);
    this.updateCount();
  }

  matches(e) {
    return (!this.filter.trace || e.trace === this.filter.trace) &&
      (!this.filter.protocol || protocolOf(e) === this.filter.protocol);
  }

  append(events) {
    for (const e of events) {
      if (!isHop(e)) continue;
      this.events.push(e);
      this.noteOptions(e);
      if (this.matches(e)) {
        this.shown.push(e);
        if (this.atEnd) this.queue.push(e);
      }
    }
    if (!this.scheduled && this.queue.length) {
      this.scheduled = true;
      requestAnimationFrame(() => this.flush());
    }
    this.updateCount();
  }

  flush() {
    this.scheduled = false;
    const batch = this.queue.slice(-WINDOW);
    this.queue = [];
    const frag = document.createDocumentFragment();
    for (const e of batch) frag.append(this.row(e));
    this.list.append(frag);
    this.trim();
    if (this.stick && this.cursorSeq === null) this.scrollToEnd();
  }

  // Keep the window small: drop the oldest rows.
  trim() {
    let extra = this.rows.size - WINDOW;
    if (extra <= 0) return;
    for (const [seq, li] of this.rows) {
      if (extra-- <= 0) break;
      li.remove();
      this.rows.delete(seq);
    }
    this.showEarlier();
  }

  showEarlier() {
    const first = this.rows.keys().next().value;
    const hidden = first === undefined ? 0 : this.shown.findIndex((e) => e.seq === first);
    this.earlier.hidden = hidden <= 0;
    this.earlier.textContent = hidden > 0 ? t("timeline.earlier", {n: hidden}) : "";
    if (this.earlier.parentNode !== this.list || this.list.firstChild !== this.earlier) this.list.prepend(this.earlier);
  }

  // Reading scrollHeight forces a layout: during a burst, follow the newest row a few times a second.
  scrollToEnd(now = false) {
    const wait = now ? 0 : Math.max(0, 200 - (performance.now() - (this.scrolledAt || 0)));
    if (wait === 0) {
      clearTimeout(this.scrollTimer);
      this.scrollTimer = null;
      this.scrolledAt = performance.now();
      this.programmatic = true;
      this.list.scrollTop = this.list.scrollHeight;
    } else if (!this.scrollTimer) {
      this.scrollTimer = setTimeout(() => { this.scrollTimer = null; this.scrollToEnd(true); }, wait);
    }
  }

  row(e) {
    const st = statusOf(e);
    const trace = e.trace ? this.traces.info.get(e.trace) : null;
    const li = h("li", {class: `row status-${st}`, "data-seq": e.seq, "data-kind": e.kind, tabindex: -1,
      title: plain(words(e).summary)},
    h("span", {class: "icon", "aria-label": t(`status.${st}`)}, STATUS_ICON[st]),
    h("div", {class: "what"}, h("span", {class: "proto", "data-protocol": protocolOf(e)}, protocolName(protocolOf(e))), kindLabel(e)),
    h("div", {class: "path"},
      `${clockTime(e.ts)}  ${nodeName(e.src)} → ${nodeName(e.dst)}`,
      trace && trace.subject ? [" ", h("code", {class: "subject"}, trace.subject)] : null));
    if (this.selected === e.seq) li.classList.add("selected");
    if (this.cursorSeq !== null && e.seq > this.cursorSeq) li.classList.add("future");
    this.rows.set(e.seq, li);
    return li;
  }

  noteOptions(e) {
    const p = protocolOf(e);
    if (!this.protocols.has(p)) {
      this.protocols.add(p);
      this.protocolSelect.append(h("option", {value: p}, protocolName(p)));
    }
    if (e.trace && !this.traceOptions.has(e.trace)) {
      const option = h("option", {value: e.trace}, this.traces.label(e.trace));
      this.traceOptions.set(e.trace, option);
      this.traceSelect.append(option);
    } else if (e.trace && e.message && e.kind === "smtp.session") {
      const option = this.traceOptions.get(e.trace);
      const label = this.traces.label(e.trace);
      if (option.textContent !== label) option.textContent = label;
    }
  }

  setFilter(change) {
    Object.assign(this.filter, change);
    if ("trace" in change) this.traceSelect.value = this.filter.trace;
    if ("protocol" in change) this.protocolSelect.value = this.filter.protocol;
    this.shown = this.events.filter((e) => this.matches(e));
    this.rebuild(this.selected);
  }

  // Draw the window: around `centerSeq` (review), or the newest rows.
  rebuild(centerSeq = null) {
    clear(this.list);
    this.rows.clear();
    this.queue = [];
    let end = this.shown.length;
    if (centerSeq !== null) {
      const at = this.shown.findIndex((e) => e.seq >= centerSeq);
      if (at >= 0) end = Math.min(this.shown.length, Math.max(at + WINDOW / 2, Math.min(WINDOW, this.shown.length)));
    }
    const start = Math.max(0, end - WINDOW);
    this.atEnd = end === this.shown.length;
    const frag = document.createDocumentFragment();
    for (const e of this.shown.slice(start, end)) frag.append(this.row(e));
    this.list.append(frag);
    this.showEarlier();
    this.updateCount();
    if (centerSeq !== null && this.rows.has(centerSeq)) this.reveal(centerSeq);
    else this.scrollToEnd(true);
  }

  updateCount() {
    this.empty.hidden = this.events.length > 0;
    this.count.textContent = this.events.length ? t("timeline.count", {shown: this.shown.length, total: this.events.length}) : "";
  }

  select(seq, cursorSeq = null) {
    if (this.selected !== null) this.rows.get(this.selected)?.classList.remove("selected");
    this.selected = seq;
    const wasReviewing = this.cursorSeq !== null;
    this.cursorSeq = cursorSeq;
    if (seq !== null && !this.rows.has(seq) && this.shown.some((e) => e.seq === seq)) {
      this.rebuild(seq);                          // outside the window: move the window
    } else if (seq === null && wasReviewing && !this.atEnd) {
      this.rebuild(null);                         // back to live: the newest rows
    } else {
      for (const [s, li] of this.rows) li.classList.toggle("future", cursorSeq !== null && s > cursorSeq);
    }
    if (seq !== null) {
      this.rows.get(seq)?.classList.add("selected");
      this.reveal(seq);
    } else if (!this.atEnd) {
      this.rebuild(null);
    }
  }

  reveal(seq) {
    const li = this.rows.get(seq);
    if (li) { this.programmatic = true; li.scrollIntoView({block: "nearest"}); }
  }

  relabel() {
    for (const option of this.protocolSelect.options) if (option.value) option.textContent = protocolName(option.value);
    for (const option of this.traceSelect.options) {
      if (option.value && this.traceOptions.has(option.value)) option.textContent = this.traces.label(option.value);
    }
    this.rebuild(this.selected);
  }
}
