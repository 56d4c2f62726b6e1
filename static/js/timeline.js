// timeline.js — every hop in order, filterable by message (trace) and by protocol.
//
// The list is a window: at most WINDOW rows are in the page at once (the newest ones while live,
// the ones around the selected hop while reviewing), so a burst of thousands of hops costs the same
// as a lesson of twenty.  New rows are appended once per animation frame, at most ROWS_PER_FRAME
// in one (a backlog is spread over a few frames).
//
// A burst: while the list follows the newest hop and more than BURST_RATE rows a second come in
// (a lesson's hops come a few a second; 1,000 messages sent at once make about a thousand a second,
// each row in view for less than a frame), the list is redrawn BURST_PACE apart, each time with
// its newest rows only, as many as it shows (burstRows(); the rows in between are never made:
// nobody could read them, and adding and removing a thousand rows a second was a third of the
// page's work in a burst, most of its long frames).  Once no burst redraw came for CALM ms, the
// window is filled back with the older rows, ROWS_PER_FRAME a frame, above the ones shown, so
// scrolling up finds every hop again.
//
// An SMTP dialogue stepped line by line is one entry (model.js, Dialogues): while it goes on, the
// entry stands for its newest "smtp.line" (kind "smtp.line", the newest line shown in the row); when
// its "smtp.session" hop lands, that hop takes the entry's place, and the lines after it (QUIT, 221)
// join it without a row of their own.  onGrow(group) tells the page a dialogue got a line.

import {h, clear, clockTime, freeFrame} from "./dom.js";
import {t} from "./i18n.js";
import {STATUS_ICON, statusOf, protocolOf, isHop, Dialogues} from "./model.js";
import {kindLabel, protocolName, words, plain} from "./labels.js";
import {pathText} from "./ends.js";

const WINDOW = 300;
const ROWS_PER_FRAME = 12;    // a backlog of 300 rows is written in half a second, each frame a little
const BURST_RATE = 40;        // rows a second
const BURST_PACE = 250;       // ms between two redraws of the list during a burst
const BURST_ROWS = 30;        // the rows of a burst's redraw, at most: more than the list shows at once ...
const ROW_PX = 40;            // ... which is its height over a row's least height (two lines; burstRows())
const CALM = 600;             // ms after a burst's last redraw before the window is filled back

export class Timeline {
  constructor({list, empty, count, traceSelect, protocolSelect}, {onSelect, onFilter, onGrow, traces}) {
    this.list = list;
    this.empty = empty;
    this.count = count;
    this.traceSelect = traceSelect;
    this.protocolSelect = protocolSelect;
    this.onSelect = onSelect;
    this.onFilter = onFilter;       // the user changed a filter (not called for setFilter from code)
    this.traces = traces;
    this.onGrow = onGrow;
    this.dialogues = new Dialogues();
    this.rows = new Map();        // seq -> li, the rows in the window
    this.events = [];             // all hops, in order
    this.shown = [];              // the hops passing the filter, in order
    this.queue = [];              // waiting for the next frame
    this.filter = {trace: "", protocol: ""};
    this.protocols = new Set();
    this.traceOptions = new Map();  // trace -> its <option> (null until putOptions() makes it)
    this.newTraces = [];          // traces whose <option> is still to be made
    this.selected = null;
    this.cursorSeq = null;        // review: rows after this one are "future"
    this.atEnd = true;            // the window ends with the newest hop
    this.scheduled = false;
    this.arrivals = [];           // [time, rows] of the rows queued in the last second
    this.burstAt = -Infinity;     // the last burst redraw
    this.calmTimer = null;
    this.refillFrame = null;
    this.listHeight = 0;          // the list's height, as a ResizeObserver last said (no layout asked)
    new ResizeObserver((entries) => { this.listHeight = entries[entries.length - 1].contentRect.height; }).observe(list);
    this.stick = true;            // follow the newest row unless the user scrolled up
    this.earlier = h("li", {class: "earlier", hidden: true});
    // Only the reader takes the list away from the newest row (wheel, touch, scroll bar, keys): a
    // scroll the browser makes by itself does not, such as scroll anchoring when the oldest rows leave
    // the window while new ones wait for their scroll (a burst used to unstick the list that way).
    this.touchedAt = -Infinity;
    const touched = () => { this.touchedAt = performance.now(); };
    for (const type of ["wheel", "touchstart", "touchmove", "pointerdown", "keydown"]) {
      list.addEventListener(type, touched, {passive: true});
    }
    list.addEventListener("scroll", () => {
      if (this.programmatic) { this.programmatic = false; return; }
      if (this.stick && performance.now() - this.touchedAt > 1000) return;
      this.stick = list.scrollTop + list.clientHeight >= list.scrollHeight - 24;
    }, {passive: true});
    // A press on a row is not moved away under the pointer: while it is held the list neither
    // follows nor writes new rows (a click is the row under both the press and the release; a row
    // that moved in between, as a hop arrived and the list followed it, made the click go to the
    // list and nothing was chosen).  A row drawn again while pressed (a dialogue's row moving to
    // its newest line) gets no click from the browser: the release chooses it, the pointer still
    // where it was pressed.  A drag from one row to another chooses nothing.
    this.pressed = null;          // the row under the primary button held down on the list: {seq, li, x, y}
    let presses = 0;
    const still = (ev) => Math.hypot(ev.clientX - this.pressed.x, ev.clientY - this.pressed.y) < 6;
    list.addEventListener("pointerdown", (ev) => {
      if (ev.button !== 0) return;
      const li = ev.target.closest?.(".row");
      this.pressed = li ? {seq: Number(li.dataset.seq), li, x: ev.clientX, y: ev.clientY} : null;
      presses++;
    });
    const release = (ev) => {
      if (this.pressed === null) return;
      if (ev.type === "pointerup" && !this.pressed.li.isConnected && list.contains(ev.target) && still(ev)) {
        const {seq} = this.pressed;
        this.pressed = null;
        this.onSelect(seq);
      }
      const press = presses;
      setTimeout(() => {                      // after the click this release belongs to
        if (press !== presses) return;        // pressed again meanwhile
        this.pressed = null;
        if (this.queue.length) this.schedule();
        if (this.stick && this.cursorSeq === null) this.scrollToEnd();
      });
    };
    for (const type of ["pointerup", "pointercancel", "contextmenu"]) window.addEventListener(type, release, true);
    window.addEventListener("blur", (ev) => { if (ev.target === window) release(ev); });
    list.addEventListener("click", (ev) => {
      const li = ev.target.closest?.(".row");
      this.pressed = null;
      if (li) this.onSelect(Number(li.dataset.seq));
    });
    for (const type of ["focus", "pointerdown", "keydown"]) traceSelect.addEventListener(type, () => this.putOptions());
    traceSelect.addEventListener("change", () => { this.setFilter({trace: traceSelect.value}); this.onFilter?.(); });
    protocolSelect.addEventListener("change", () => { this.setFilter({protocol: protocolSelect.value}); this.onFilter?.(); });
  }

  // A new world: no rows, no filters, no options of the old one.
  reset() {
    this.pressed = null;
    this.dialogues.reset();
    this.events = [];
    this.shown = [];
    this.queue = [];
    this.arrivals = [];
    clearTimeout(this.calmTimer);
    cancelAnimationFrame(this.refillFrame);
    this.rows.clear();
    this.protocols.clear();
    this.traceOptions.clear();
    this.newTraces = [];
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

  // `history`: the hops of the world as loaded (not arriving now: never a burst).
  append(events, {history = false} = {}) {
    const before = this.queue.length;
    for (const e of events) {
      if (!isHop(e)) continue;
      const group = this.dialogues.note(e);
      if (group && e.kind === "smtp.line") { this.line(e, group); continue; }
      if (group && group.rep) this.drop(group.rep);       // the session takes its dialogue's place
      if (group) group.rep = null;
      this.add(e);
    }
    const queued = this.queue.length - before;
    if (queued > 0 && !history) {
      const now = performance.now();
      this.rate(now);                             // the old arrivals go, whatever the list does
      this.arrivals.push([now, queued]);
    }
    if (this.queue.length || this.newTraces.length) this.schedule();
    this.updateCount();
  }

  add(e) {
    this.events.push(e);
    this.noteOptions(e);
    if (this.matches(e)) {
      this.shown.push(e);
      if (this.atEnd) this.queue.push(e);
    }
  }

  // A line of a dialogue: the first makes its entry, the next ones move the entry to the newest line,
  // the ones after its session (QUIT, 221) only grow that session's transcript.
  line(e, group) {
    if (group.session) { this.onGrow?.(group); return; }
    const old = group.rep;
    group.rep = e;
    if (!old) { this.add(e); this.onGrow?.(group); return; }
    const swap = (list) => { const i = list.indexOf(old); if (i >= 0) list[i] = e; return i >= 0; };
    swap(this.events);
    const shown = swap(this.shown);
    if (!shown && this.matches(e)) {                          // the login gave it the trace followed
      this.shown.push(e);
      if (this.atEnd) this.queue.push(e);
    }
    if (!swap(this.queue) && this.rows.has(old.seq)) {
      const li = this.rows.get(old.seq);
      const fresh = this.row(e);
      if (this.selected === old.seq) { this.selected = e.seq; fresh.classList.add("selected"); }
      li.replaceWith(fresh);
      this.rows.delete(old.seq);
      this.reorder(e.seq, fresh);
    }
    this.onGrow?.(group);
  }

  // Keep the rows map in document order after a row changed its key.
  reorder(seq, li) {
    const entries = [...this.rows.entries()];
    this.rows.clear();
    const next = li.nextElementSibling ? Number(li.nextElementSibling.dataset.seq) : null;
    let put = false;
    for (const [k, v] of entries) {
      if (!put && k === next) { this.rows.set(seq, li); put = true; }
      this.rows.set(k, v);
    }
    if (!put) this.rows.set(seq, li);
  }

  // An entry leaves the list (a dialogue whose session landed).
  drop(e) {
    for (const list of [this.events, this.shown, this.queue]) {
      const i = list.indexOf(e);
      if (i >= 0) list.splice(i, 1);
    }
    const li = this.rows.get(e.seq);
    if (li) { li.remove(); this.rows.delete(e.seq); }
    else if (this.rows.size) this.showEarlier();            // it was above the window: one fewer there
    if (this.selected === e.seq) this.selected = null;
  }

  // The entry an event belongs to: a dialogue's line or session -> the entry standing for it now.
  entryOf(e) {
    const group = this.dialogues.groupOf(e);
    if (!group) return e;
    return group.session || group.rep || e;
  }

  // At most ROWS_PER_FRAME new rows a frame, oldest first: a backlog landing at once (hundreds of
  // hops) is written over a few frames instead of one long one.  Rows that would fall out of the
  // window at once are never made.  In a burst (above): BURST_PACE apart, the newest burstRows().
  flush() {
    this.scheduled = false;
    if (!this.queue.length) { this.putOptions(); return; }
    if (this.pressed !== null) return;          // a row held under the pointer: after its release
    const now = performance.now();
    if (this.stick && this.cursorSeq === null && this.atEnd && this.rate(now) > BURST_RATE) {
      const wait = BURST_PACE - (now - this.burstAt);
      if (wait > 0 || !freeFrame()) {          // not yet, or the frame has its heavy piece (dom.js)
        this.schedule(wait);
        return;
      }
      this.burstAt = now;
      // rows left out: the window starts again from the newest ones (it stays one run of hops);
      // the filter's new messages wait for the calm (or for the reader to open the list)
      const rows = this.burstRows();
      if (this.queue.length > rows) this.restart(this.queue.splice(0).slice(-rows));
      else this.put(this.queue.splice(0));
      this.calm();
    } else {
      this.putOptions();
      if (this.queue.length > WINDOW) this.queue.splice(0, this.queue.length - WINDOW);
      this.put(this.queue.splice(0, ROWS_PER_FRAME));
    }
    if (this.stick && this.cursorSeq === null) this.scrollToEnd();
    if (this.queue.length) this.schedule();
  }

  // flush() in the first frame `wait` ms from now (once: a flush already on its way is the one).
  schedule(wait = 0) {
    if (this.scheduled) return;
    this.scheduled = true;
    if (wait > 0) setTimeout(() => requestAnimationFrame(() => this.flush()), wait);
    else requestAnimationFrame(() => this.flush());
  }

  // The rows of a burst's redraw: as many as the list can show (at 1280x720 three or four rows of
  // 45-90 px; each row made is its text laid out and styled), two more, at most BURST_ROWS.
  burstRows() {
    if (!this.listHeight) return BURST_ROWS;
    return Math.min(BURST_ROWS, Math.ceil(this.listHeight / ROW_PX) + 2);
  }

  // A burst: more rows a second than anyone reads (the page then draws less often what follows it).
  get bursting() { return this.rate(performance.now()) > BURST_RATE; }

  // The rows queued in the last second.
  rate(now) {
    while (this.arrivals.length && now - this.arrivals[0][0] > 1000) this.arrivals.shift();
    return this.arrivals.reduce((sum, [, n]) => sum + n, 0);
  }

  // New rows after the last one.
  put(events) {
    const frag = document.createDocumentFragment();
    for (const e of events) frag.append(this.row(e));
    this.list.append(frag);
    this.trim();
  }

  // Only these rows, the newest (a burst left out the ones between the window and them).
  restart(events) {
    for (const li of this.rows.values()) li.remove();
    this.rows.clear();
    this.put(events);
    this.showEarlier();
  }

  // Fill the window back CALM ms from now (not before; and one filling at a time).
  calm() {
    clearTimeout(this.calmTimer);
    cancelAnimationFrame(this.refillFrame);
    this.refillFrame = null;
    this.calmTimer = setTimeout(() => this.refill(), CALM);
  }

  // After a burst: the older rows back above the ones shown, a frame at a time, up to the window.
  refill() {
    this.calmTimer = null;
    this.refillFrame = null;
    if (this.scheduled || this.queue.length || this.pressed !== null) { this.calm(); return; }   // rows still coming, or a row held: after them
    this.putOptions();
    const first = this.rows.keys().next().value;
    if (first === undefined) return;
    const at = this.shown.findIndex((e) => e.seq === first);
    const room = Math.min(WINDOW - this.rows.size, at, ROWS_PER_FRAME);
    if (room <= 0) return;
    const older = this.shown.slice(at - room, at);
    const above = this.rows.get(first);
    const lis = older.map((e) => this.row(e));          // row() notes each at the map's end: put them first
    const rows = new Map(older.map((e, i) => [e.seq, lis[i]]));
    for (const [seq, li] of this.rows) if (!rows.has(seq)) rows.set(seq, li);
    this.rows = rows;
    const frag = document.createDocumentFragment();
    frag.append(...lis);
    this.list.insertBefore(frag, above);
    this.showEarlier(at - room);
    if (this.stick && this.cursorSeq === null) this.scrollToEnd();
    this.refillFrame = requestAnimationFrame(() => this.refill());
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

  // `hidden`: the hops above the window, when the caller knows it already (else looked up).
  showEarlier(hidden = this.hiddenAbove()) {
    this.earlier.hidden = hidden <= 0;
    this.earlier.textContent = hidden > 0 ? t("timeline.earlier", {n: hidden}) : "";
    if (this.earlier.parentNode !== this.list || this.list.firstChild !== this.earlier) this.list.prepend(this.earlier);
  }

  hiddenAbove() {
    const first = this.rows.keys().next().value;
    return first === undefined ? 0 : this.shown.findIndex((e) => e.seq === first);
  }

  // Reading scrollHeight makes the browser lay the page out at once.  While hops come in, the list
  // follows the newest row a few times a second, and after the frame's own layout (a ResizeObserver
  // is told then), so that following costs no layout of its own.  `now`: at once (a rebuild).
  scrollToEnd(now = false) {
    if (this.pressed !== null) return;              // a row held under the pointer stays (release() comes back)
    if (now) {
      clearTimeout(this.scrollTimer);
      this.scrollTimer = null;
      this.scrolledAt = performance.now();
      this.programmatic = true;
      this.list.scrollTop = this.list.scrollHeight;
      this.afterLayout();                           // and again once the frame is laid out: the
      return;                                       // rows' text may still change (a new language)
    }
    const wait = Math.max(0, 200 - (performance.now() - (this.scrolledAt || 0)));
    if (wait === 0) {
      this.scrolledAt = performance.now();
      this.afterLayout();
    } else if (!this.scrollTimer) {
      this.scrollTimer = setTimeout(() => {
        this.scrollTimer = null;
        this.scrolledAt = performance.now();
        this.afterLayout();
      }, wait);
    }
  }

  afterLayout() {
    if (this.settling) return;
    this.settling = new ResizeObserver(() => {
      this.settling.disconnect();
      this.settling = null;
      if (!this.stick || this.cursorSeq !== null || this.pressed !== null) return;   // the reader moved meanwhile
      const list = this.list;
      if (list.scrollTop >= list.scrollHeight - list.clientHeight - 1) return;   // there already
      this.programmatic = true;
      list.scrollTop = list.scrollHeight;
    });
    this.settling.observe(this.list);
  }

  row(e) {
    const st = statusOf(e);
    const trace = e.trace ? this.traces.info.get(e.trace) : null;
    const live = e.kind === "smtp.line";
    const newest = live ? lastLine(e) : null;
    const li = h("li", {class: `row status-${st}${live ? " dialogue" : ""}`, "data-seq": e.seq, "data-kind": e.kind,
      tabindex: -1, title: live ? `${t("kind.smtp.line")}: ${pathText(e)}` : plain(words(e).summary)},
    h("span", {class: "icon", "aria-label": t(`status.${st}`)}, live ? "…" : STATUS_ICON[st]),
    h("div", {class: "what"}, h("span", {class: "proto", "data-protocol": protocolOf(e)}, protocolName(protocolOf(e))), kindLabel(e)),
    h("div", {class: "path"},
      `${clockTime(e.ts)}  ${pathText(e)}`,
      newest ? [" ", h("code", {class: "newest"}, `${newest[0] === "C" ? "→" : "←"} ${newest[1]}`)] : null,
      !newest && trace && trace.subject ? [" ", h("code", {class: "subject"}, trace.subject)] : null));
    if (this.selected === e.seq) li.classList.add("selected");
    if (this.cursorSeq !== null && e.seq > this.cursorSeq) li.classList.add("future");
    this.rows.set(e.seq, li);
    return li;
  }

  // A new protocol or message for the filters.  A message's <option> is made later, with the
  // others that came meanwhile, in one insertion (putOptions(): when rows are written outside a
  // burst, once a burst is over, when the reader opens the list, before the filter is set): a
  // backlog of hops landing at once names a few hundred new messages, and an option put into the
  // list one by one was most of a 30 ms task.
  noteOptions(e) {
    const p = protocolOf(e);
    if (!this.protocols.has(p)) {
      this.protocols.add(p);
      this.protocolSelect.append(h("option", {value: p}, protocolName(p)));
    }
    if (e.trace && !this.traceOptions.has(e.trace)) {
      this.traceOptions.set(e.trace, null);
      this.newTraces.push(e.trace);
    } else if (e.trace && e.message && e.kind === "smtp.session") {
      const option = this.traceOptions.get(e.trace);          // not made yet: it will have the label
      const label = option && this.traces.label(e.trace);
      if (option && option.textContent !== label) option.textContent = label;
    }
  }

  putOptions() {
    if (!this.newTraces.length) return;
    const frag = document.createDocumentFragment();
    for (const trace of this.newTraces) {
      const option = h("option", {value: trace}, this.traces.label(trace));
      this.traceOptions.set(trace, option);
      frag.append(option);
    }
    this.newTraces = [];
    this.traceSelect.append(frag);
  }

  setFilter(change) {
    this.putOptions();
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

// The newest client or server line of an "smtp.line" event (a cut marker is skipped).
function lastLine(e) {
  const lines = Array.isArray(e.transcript) ? e.transcript : [];
  for (let i = lines.length - 1; i >= 0; i--) if (Array.isArray(lines[i]) && (lines[i][0] === "C" || lines[i][0] === "S")) return lines[i];
  return null;
}
