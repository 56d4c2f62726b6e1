// main.js — wires model, views and wire together.
//
// Start: GET /api/i18n/<lang> (the interface strings, see i18n.js), GET /api/state (world, baseline,
// gate, role, faults, lesson), GET /api/layout for the diagram's size, GET /api/events page by page
// (the bus's history: a reload or a late student sees everything that happened, and after a restart
// the last run's log), then Socket.IO for what comes next.  On every (re)connect the page asks for
// what it missed since its last sequence number, so nothing is lost across a network blip.
//
// A lesson loaded or the world reset ("world" on the socket): the page drops what it drew and loads
// the new world the same way, without a reload of the page.  The timeline lists a hop only once the
// diagram has drawn it (arrived()), so a burst at full speed does not spoil the ending.  Viewers
// follow the teacher's view ("follow": the hop looked at, the review position, the narration's step)
// until they explore on their own; the Follow button brings them back.
//
// A class that takes part (classroom.js): a student joining or leaving is a "world.user" fact; the
// page then asks the server for the world's users and its layout again, so the student's mail
// client and mailbox appear on (or leave) the diagram and the send form's address book follows.
// Hops the webmail made (GET /api/state "webmail_source" is its TCP source address) label that
// user's mail client "webmail" (model.js folds which client spoke last).

import * as i18n from "./i18n.js";
import {t, pick} from "./i18n.js";
import * as api from "./api.js";
import {h, rich as richText, freeFrame, onFreeFrame} from "./dom.js";
import {connect} from "./socket.js";
import {EventLog, Traces, fold, stateAt, mailboxBase, isHop, isWorldChange} from "./model.js";
import {Diagram} from "./diagram.js";
import {Player} from "./player.js";
import {Timeline} from "./timeline.js";
import {Details} from "./details.js";
import {WorldControls} from "./controls.js";
import {ClientsPanel} from "./clients.js";
import {Glossary} from "./glossary.js";
import {words} from "./labels.js";
import {LessonPanel, LessonDrawer} from "./lesson.js";
import {FaultControls} from "./faults.js";
import {ClassPanel} from "./classroom.js";

const PRESENT_KEY = "mailflow.present";
const PRESENT_ZOOM = 1.3;        // presentation mode: the diagram is laid out this much smaller, drawn larger
// The state on the diagram (mailbox counts, queue badges, hosts up or down) is drawn again at most
// this often: a lesson's hops come a second or more apart and are drawn the frame they land; in a
// burst (a thousand hops a second) a count changing 60 times a second is unreadable, and each time
// is text measured and laid out again -- in every frame, on a machine whose two cores the mail
// servers are using too, frames of 50 ms and more.
const RENDER_PACE = 120;
// The details panel follows the newest hop drawn: at most every FOLLOW_PACE ms, and in a burst every
// FOLLOW_BURST_PACE ms (each time is the panel's text and transcript made again and laid out; a hop
// shown for 0.3 s in a burst is read by nobody, one shown for a second may be).
const FOLLOW_PACE = 300;
const FOLLOW_BURST_PACE = 1000;

const $ = (id) => document.getElementById(id);
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
const readPresent = () => { try { return localStorage.getItem(PRESENT_KEY) === "1"; } catch (_) { return false; } };

class App {
  constructor() {
    this.teacher = api.role() === "teacher";
    this.log = new EventLog();
    this.traces = new Traces();
    this.world = null;
    this.baseline = null;
    this.worldChanges = [];
    this.base = {};
    this.live = null;           // the world as drawn in live mode (folded as hops land)
    this.cursor = null;         // review: the seq of the hop looked at; null = live
    this.reviewState = null;
    this.gate = null;
    this.socket = null;
    this.syncing = false;
    this.renderQueued = false;
    this.disconnected = false;
    this.visibleCount = 0;       // hops that pass the timeline's filter (live mode counter)
    this.drawnIndex = -1;        // log.events up to this index are drawn, and listed in the timeline
    this.landed = new Set();     // seqs drawn ahead of an earlier hop still on its way
    this.reloading = false;
    this.held = [];              // socket batches that came during a reload
    this.followSeq = 0;          // the newest hop the details panel followed (it never goes back)
    this.leading = true;         // a viewer follows the teacher (until they explore on their own)
    this.leader = null;          // the teacher's last view
    this.applying = false;       // moving because the teacher moved (not the viewer's own action)
    this.present = readPresent();
    this.layoutsAsked = 0;       // /api/layout requests made, answers handled, and the newest drawn (loadLayout)
    this.layoutsAnswered = 0;
    this.layoutDrawn = 0;

    this.diagram = new Diagram($("diagram"), {onNode: (id) => this.nodeClicked(id)});
    this.player = new Player(this.diagram, {
      onArrive: (e) => this.arrived(e),
      animated: (e) => isHop(e) && !isWorldChange(e),
    });
    this.timeline = new Timeline({
      list: $("timeline-list"), empty: $("timeline-empty"), count: $("timeline-count"),
      traceSelect: $("filter-trace"), protocolSelect: $("filter-protocol"),
    }, {onSelect: (seq) => { this.userMoved(); this.review(seq); }, onFilter: () => { this.userMoved(); this.moved(); },
      onGrow: (group) => this.dialogueGrew(group), traces: this.traces});
    this.details = new Details({root: $("details"), empty: $("details-empty"), body: $("details-body")}, {
      teacher: this.teacher,
      onFollow: (trace) => {
        this.userMoved();
        this.timeline.setFilter({trace}); this.details.rerender(); this.updatePosition(); this.moved();
      },
      onHost: (name, up) => this.setHost(name, up),
      onHop: (seq) => { this.userMoved(); this.review(seq); },
      onNode: (id) => this.nodeClicked(id),
      notify: (m, bad) => this.notify(m, bad),
      context: () => ({world: this.world, listeners: this.listeners || [], webmail: this.webmailSource}),
    });
    this.controls = new WorldControls({
      drawer: $("drawer"), toggle: $("btn-world"), close: $("drawer-close"), hostList: $("host-list"),
      mxEditor: $("mx-editor"), sendForm: $("send-form"), flushButton: $("btn-flush"),
    }, {notify: (m, bad) => this.notify(m, bad)});
    // The drawers share the place on the right: opening one closes the others.
    this.clients = new ClientsPanel({
      drawer: $("clients-drawer"), toggle: $("btn-clients"), close: $("clients-close"), body: $("clients-body"),
    }, {notify: (m, bad) => this.notify(m, bad), onOpen: () => this.onlyDrawer("clients")});
    this.glossary = new Glossary({
      drawer: $("glossary-drawer"), toggle: $("btn-glossary"), close: $("glossary-close"), body: $("glossary-body"),
    }, {onOpen: () => this.onlyDrawer("glossary"), senders: () => this.senders()});
    this.faults = new FaultControls({form: $("fault-form"), list: $("fault-list")},
      {notify: (m, bad) => this.notify(m, bad)});
    this.lessonPanel = new LessonPanel({
      root: $("narration"), pos: $("narration-pos"), chips: $("narration-steps"), state: $("narration-state"),
      text: $("narration-text"), result: $("narration-result"), nextStep: $("btn-next-step"), nextHop: $("btn-next-hop"),
    }, {
      teacher: this.teacher,
      onNextStep: () => this.nextStep(),
      onNextHop: () => this.gateAction("step"),
      onView: () => { this.userMoved(); this.moved(); },
    });
    this.classroom = new ClassPanel({
      drawer: $("class-drawer"), toggle: $("btn-class"), close: $("class-close"), body: $("class-body"), title: $("class-title"),
      worldDrawer: $("drawer"), section: $("class-section"), sectionBody: $("class-section-body"),
    }, {teacher: this.teacher, notify: (m, bad) => this.notify(m, bad), onOpen: () => this.onlyDrawer("class"),
      openClients: () => this.clients.setOpen(true)});
    this.lessons = new LessonDrawer({
      drawer: $("lessons-drawer"), toggle: $("btn-lessons"), close: $("lessons-close"), body: $("lessons-body"),
      current: $("lesson-current"), library: $("lesson-library"), file: $("scenario-file"),
      fileButton: $("btn-open-scenario"), problems: $("scenario-problems"), reset: $("btn-reset"),
    }, {teacher: this.teacher, notify: (m, bad) => this.notify(m, bad), onOpen: () => this.onlyDrawer("lessons")});
    $("btn-world").addEventListener("click", () => {
      if ($("drawer").hidden) return;
      this.onlyDrawer("world");
      this.classroom.shown();
    });
    // A term in an explanation ("MTA") opens the glossary at its entry.
    document.addEventListener("click", (ev) => {
      const link = ev.target.closest?.("a.term");
      if (!link) return;
      ev.preventDefault();
      this.glossary.show(link.dataset.term);
    });
    this.bindToolbar();
    this.bindKeys();
    // A server's card counts its queue down, and asks the server again now and then.
    setInterval(() => {
      const view = this.details.view;
      if (view?.type !== "node" || !String(view.args[0]).startsWith("mta:")) return;
      if (Date.now() - (this.queueAt || 0) > 5000) this.refreshNode(view.args[0]);
      else if ((this.queue || []).length) this.details.rerender();
    }, 1000);
    i18n.onLangChange(() => this.languageChanged());
  }

  // -- start ----------------------------------------------------------------------------------
  async start() {
    await i18n.load();
    this.applyPresent();
    this.languageChanged();
    if (!api.hasWorld()) { this.notify(() => t("noworld"), true); return; }
    await this.loadWorld();
    // The drawing area changes with the window, the notice bar, the review banner: follow it.
    let seen = "";
    new ResizeObserver(() => {
      const wrap = $("diagram-wrap");
      const size = `${wrap.clientWidth}x${wrap.clientHeight}`;
      if (size === seen) return;
      seen = size;
      clearTimeout(this.resizeTimer);
      this.resizeTimer = setTimeout(() => this.loadLayout(), 200);
    }).observe($("diagram-wrap"));
    this.socket = connect({
      onConnect: () => this.connected(),
      onDisconnect: () => { this.disconnected = true; this.notify(() => t("notice.disconnected"), true, true); },
      onHello: (hello) => {
        this.onGate(hello.gate);
        if (hello.lesson) this.onLesson(hello.lesson, true);
        if (hello.follow) this.onFollow(hello.follow);
      },
      onEvents: (batch) => this.ingest(batch.events || []),
      onGate: (gate) => this.onGate(gate),
      onWorld: () => this.reloadWorld(),
      onLesson: (lesson) => this.onLesson(lesson),
      onClass: () => this.classroom.changed(),
      onFollow: (view) => this.onFollow(view),
      onRefused: (message) => this.notify(() => t("notice.refused", {message}), true, true),
    });
    document.body.dataset.ready = "yes";
  }

  // The world, its history and the lesson, from the server (at start, and after a swap).
  async loadWorld() {
    const state = await api.get("/api/state");
    this.world = state.world;
    this.baseline = state.baseline || {seq: 0, world: state.world};
    this.worldChanges = state.world_changes || [];
    this.users = state.users;
    this.webmailSource = state.webmail_source || null;
    this.listeners = state.listeners || [];
    this.queue = state.queue || [];
    this.queueAt = Date.now();
    this.scenario = state.scenario || null;
    this.onGate(state.gate);
    this.controls.setWorld(this.world, state.users);
    this.faults.setWorld(this.world, state.users);
    this.setFaults(state.faults);
    this.pendingLesson = null;
    this.lessonPanel.set(state.lesson, this.scenario);
    this.lessons.setScenario(this.scenario);
    $("btn-lessons").hidden = !state.lessons;
    this.showTitle();
    await this.loadLayout();
    let since = 0;
    for (let page = 0; page < 100; page++) {
      const chunk = await api.get(`/api/events?since=${since}&limit=1000`);
      this.log.add(chunk.events, chunk.first_seq);
      since = this.log.lastSeq;
      if (!chunk.more) break;
    }
    const atState = this.log.events.filter((e) => e.seq <= state.last_seq);
    this.base = mailboxBase(state.mailboxes, atState);
    for (const e of this.log.events) this.traces.note(e);
    this.live = this.stateAt(this.log.events.length - 1);
    this.diagram.render(this.live);
    this.controls.setState(this.live);
    this.timeline.append(this.log.events, {history: true});    // history: drawn already
    this.drawnIndex = this.log.events.length - 1;
    this.visibleCount = this.visibleHops().length;
    const last = this.lastHop();
    if (last) this.showHop(last);
    this.updatePosition();
    document.body.dataset.lastSeq = String(this.log.lastSeq);
    document.body.dataset.drawnSeq = String(this.log.lastSeq);       // the history is drawn at once
    document.body.dataset.world = String(state.generation ?? 0);
    this.classroom.changed();
  }

  stateAt(index) {
    return stateAt(this.baseline.world, this.base, this.log.events, index, this.worldChanges, this.baseline.seq,
      {webmail: this.webmailSource});
  }

  // A student joined or left: the world's users, the layout (their nodes) and the class, again.
  usersChanged() {
    clearTimeout(this.usersTimer);
    this.usersTimer = setTimeout(async () => {
      try {
        const state = await api.get("/api/state");
        if (this.reloading) return;
        this.world = state.world;
        this.users = state.users;
        this.listeners = state.listeners || this.listeners;
        this.controls.setWorld(this.world, this.users);
        this.faults.setWorld(this.world, this.users);
        await this.loadLayout();
        if (this.clients.open) this.clients.setOpen(true);
        document.body.dataset.users = String(this.users.length);
      } catch (_) { /* the next change asks again */ }
    }, 120);
    this.classroom.changed();
  }

  // "world" on the socket: a lesson was loaded or the world reset.  Everything drawn goes.
  async reloadWorld() {
    if (this.reloading) { this.reloadAgain = true; return; }
    this.reloading = true;
    document.body.dataset.ready = "reloading";
    try {
      do {
        this.reloadAgain = false;
        this.player.clear();
        this.diagram.reset();
        this.log = new EventLog();
        this.traces.reset();
        this.timeline.reset();
        this.details.reset();
        this.controls.reset?.();
        this.cursor = null;
        this.reviewState = null;
        this.player.paused = false;
        this.landed.clear();
        this.drawnIndex = -1;
        this.follow = null;
        this.followSeq = 0;
        this.leader = null;
        this.lessonPanel.view(null);
        await this.loadWorld();
      } while (this.reloadAgain);
      if (this.clients.open) this.clients.setOpen(true);
      if (this.lessons.open) this.lessons.refresh();
    } catch (err) {
      this.notify(() => t("notice.error", {message: err.message || String(err)}), true, true);
    } finally {
      this.reloading = false;
      const held = this.held;
      this.held = [];
      for (const events of held) this.ingest(events);
      document.body.dataset.ready = "yes";
    }
  }

  // An answer older than the one drawn is not drawn: a resize, the review banner and a change of the
  // MX table can each ask within a few milliseconds, and an older answer arriving last drew the
  // diagram for a size (or a world) the page no longer has, until the next resize.  An answer that
  // comes first is drawn at once (a caller awaiting this one has its layout even if a newer request
  // is on the way, or fails).  body[data-layouts-asked] counts the requests, body[data-layouts]
  // the answers handled, drawn or not (tests wait for the two to agree).
  async loadLayout() {
    const asked = ++this.layoutsAsked;
    document.body.dataset.layoutsAsked = String(asked);
    const wrap = $("diagram-wrap");
    const zoom = this.present ? PRESENT_ZOOM : 1;
    const width = Math.max(480, Math.round((wrap.clientWidth - 8) / zoom));
    const height = Math.max(320, Math.round((wrap.clientHeight - 6) / zoom));
    let layout;
    try {
      layout = await api.get(`/api/layout?width=${width}&height=${height}`);
    } finally {
      document.body.dataset.layouts = String(++this.layoutsAnswered);
    }
    if (asked < this.layoutDrawn) return;
    this.layoutDrawn = asked;
    this.diagram.setLayout(layout);
    this.diagram.setWaiting(this.gate?.waiting || []);
  }

  async connected() {
    if (this.disconnected) { this.disconnected = false; this.notify(() => t("notice.reconnected"), false); }
    await this.sync();
  }

  async sync() {
    if (this.syncing || !this.socket) return;
    this.syncing = true;
    try {
      for (let round = 0, pages = 0; round < 60 && pages < 20; round++) {
        const reply = await this.socket.sync(this.log.lastSeq);
        if (!reply) break;
        if (reply.throttled) {
          // The server answers one sync a second per connection; ask again when it says.
          await sleep(Math.min(5000, Math.max(100, Number(reply.retry_after || 1) * 1000)));
          continue;
        }
        pages++;
        this.ingest(reply.events || [], reply.first_seq, true);
        if (!reply.more) break;
      }
    } finally {
      this.syncing = false;
    }
    if (this.log.hasGap) setTimeout(() => this.sync(), 500);
  }

  // -- events in ------------------------------------------------------------------------------
  ingest(events, firstSeq = 0, fromSync = false) {
    if (this.reloading) { this.held.push(events); return; }
    const added = this.log.add(events, firstSeq);
    if (added.length) {
      for (const e of added) this.traces.note(e);
      for (const e of added) {
        this.player.push(e);                       // world changes land at once (no token)
        if (isWorldChange(e)) this.worldChanged(e);
      }
      document.body.dataset.lastSeq = String(this.log.lastSeq);
      window.dispatchEvent(new CustomEvent("mailflow:batch",
        {detail: {seqs: added.map((e) => e.seq), ts: added.map((e) => e.ts), at: Date.now()}}));
      if (this.pendingLeader) this.applyLeader();
    }
    if (this.log.hasGap && !fromSync) this.sync();
  }

  arrived(e) {
    fold(this.live, e);
    this.drawn(e);
    if (this.cursor !== null) return;
    this.queueRender();
    if (isHop(e) && (!this.timeline.filter.trace || e.trace === this.timeline.filter.trace) &&
        (!this.details.view || this.details.view.type === "hop")) {
      const entry = this.timeline.entryOf(e);
      // a line after its session (QUIT, 221) grows that hop (dialogueGrew) but is not a hop to follow;
      // never an older hop than the one followed: in a burst the last token to land may be any
      // message's, and the panel would stop on it while the timeline ends with newer hops
      if ((entry === e || e.kind !== "smtp.line") && entry.seq >= this.followSeq) {
        this.follow = entry;                   // drawn at most a few times a second
        this.followSeq = entry.seq;
      }
    }
  }

  // A dialogue stepped line by line got a line: the details panel showing it shows the line too.
  dialogueGrew(group) {
    const view = this.details.view;
    if (view?.type !== "hop") return;
    const shown = view.args[0];
    if (this.timeline.dialogues.groupOf(shown) !== group) return;
    if (this.cursor !== null && shown.seq === this.cursor) return;       // reviewing: that moment stays
    const entry = group.session || group.rep;
    if (entry) this.showHop(entry);
  }

  // The timeline lists a hop once the diagram has drawn it, in order: a hop that lands before an
  // earlier one (another message's) waits for it.
  drawn(e) {
    const events = this.log.events;
    if (e.seq <= (events[this.drawnIndex]?.seq ?? 0)) return;
    this.landed.add(e.seq);
    const fresh = [];
    while (this.drawnIndex + 1 < events.length && this.landed.has(events[this.drawnIndex + 1].seq)) {
      const next = events[++this.drawnIndex];
      this.landed.delete(next.seq);
      fresh.push(next);
    }
    if (!fresh.length) return;
    this.timeline.append(fresh);
    this.visibleCount = this.timeline.shown.length;
    this.queuePosition();
    document.body.dataset.drawnSeq = String(fresh[fresh.length - 1].seq);
    if (this.pendingLeader) this.applyLeader();
    if (this.pendingLesson) this.showLesson();
  }

  queueRender() {
    if (this.renderQueued) return;
    this.renderQueued = true;
    const draw = () => requestAnimationFrame(() => {
      const burst = this.timeline.bursting;
      if (burst && !freeFrame()) { draw(); return; }        // the frame has its heavy piece (dom.js)
      this.renderQueued = false;
      this.renderedAt = performance.now();
      if (this.cursor === null) this.diagram.render(this.live);
      this.controls.setState(this.live);
      if (this.details.view?.type === "node") this.details.rerender();
      const now = performance.now();
      // a node or a mailbox opened meanwhile stays: only a hop shown gives way to the newest hop;
      // nor does review, or another message chosen in the filter
      if (this.follow && !this.followable(this.follow)) this.follow = null;
      const pace = burst ? FOLLOW_BURST_PACE : FOLLOW_PACE;
      if (this.follow && now - (this.followedAt || 0) > pace) {
        this.followedAt = now;
        const e = this.follow;
        this.follow = null;
        if (!burst) { this.showHop(e); return; }
        // in a burst, in a frame of its own; unless the page moved on meanwhile (the same checks,
        // and the same world: a lesson loaded meanwhile has a new log)
        const log = this.log;
        onFreeFrame(() => { if (this.log === log && this.followable(e)) this.showHop(e); });
      } else if (this.follow) {
        this.queueRender();              // come back for the newest hop shortly
      }
    });
    const wait = RENDER_PACE - (performance.now() - (this.renderedAt ?? -Infinity));
    if (wait > 0) setTimeout(draw, wait);
    else draw();
  }

  // Whether the details may still move to `e`, the newest hop drawn: live (not reviewing), showing
  // a hop (not a node or a mailbox opened meanwhile), and `e` of the message the filter follows.
  followable(e) {
    if (this.cursor !== null) return false;
    if (this.details.view && this.details.view.type !== "hop") return false;
    const trace = this.timeline.filter.trace;
    return !trace || e.trace === trace;
  }

  worldChanged(e) {
    const data = e.data || {};
    if (e.kind === "world.fault") this.refreshFaults();
    if (e.kind === "world.mx") {
      clearTimeout(this.layoutTimer);
      this.layoutTimer = setTimeout(() => this.loadLayout(), 120);   // SMTP edges follow the MX table
      this.controls.mxChanged(data.domain);
    }
    if (e.kind === "world.user") this.usersChanged();
  }

  onGate(gate) {
    if (!gate) return;
    this.gate = gate;
    const paused = gate.mode === "pause";
    $("btn-play").setAttribute("aria-pressed", String(!paused));
    $("btn-pause").setAttribute("aria-pressed", String(paused));
    const speed = $("speed");
    const value = String(gate.delay);
    if ([...speed.options].some((o) => o.value === value)) speed.value = value;
    this.player.setSpeed(gate.delay);
    if (gate.granularity) $("granularity").value = gate.granularity;
    $("gate-state").classList.toggle("paused", paused);
    $("gate-mode").textContent = paused ? t("gate.paused") : t("gate.running");
    const waiting = gate.waiting || [];
    // The hop held next, whole (it wraps rather than being cut); after the last hop, only that the
    // world is paused and the next hop will stop.
    const box = $("waiting");
    box.hidden = !paused || (!waiting.length && !this.teacher);
    box.classList.toggle("none", !waiting.length);
    $("waiting-text").replaceChildren(...(waiting.length
      ? [...richText(words(waiting[0]).summary), waiting.length > 1 ? " " + t("gate.waiting.more", {n: waiting.length - 1}) : ""]
      : [t("gate.waiting.none")]));
    this.fitChrome();
    document.body.dataset.waiting = String(waiting.length);
    document.body.dataset.gate = gate.mode;
    this.diagram.setWaiting(waiting);
  }

  // -- review: back and forward through what happened -------------------------------------------
  visibleHops() {
    return this.timeline.shown;          // the hops that pass the timeline's filter, in order
  }

  lastHop() {
    const hops = this.visibleHops();
    return hops[hops.length - 1] || null;
  }

  review(seq) {
    const index = this.log.indexOf(seq);
    if (index < 0) return;
    const event = this.log.events[index];
    this.cursor = seq;
    this.follow = null;                  // the newest hop waits for the return to live (goLive)
    this.player.paused = true;
    this.player.flush();
    this.reviewState = this.stateAt(index);
    this.diagram.render(this.reviewState);
    this.diagram.highlight(event);
    this.diagram.animate(event, 800);
    const entry = this.timeline.entryOf(event);
    this.timeline.select(entry.seq, seq);
    this.showHop(entry.seq <= seq ? entry : event);
    const step = this.stepAt(index);
    if (step !== null) this.lessonPanel.view(step);
    this.updatePosition();
    this.moved();
  }

  // The lesson's step that was running at the event log.events[index] (null: none began before it).
  stepAt(index) {
    for (let i = index; i >= 0; i--) {
      const e = this.log.events[i];
      if (e.kind === "lesson.step" && Number.isInteger(e.data?.index)) return e.data.index;
    }
    return null;
  }

  goLive() {
    if (this.cursor === null) return;
    this.cursor = null;
    this.reviewState = null;
    this.player.paused = false;
    this.diagram.highlight(null);
    this.diagram.render(this.live);
    this.timeline.select(null, null);
    const last = this.lastHop();
    if (last) this.showHop(last);
    this.lessonPanel.view(null);
    this.updatePosition();
    this.moved();
  }

  back() {
    const hops = this.visibleHops();
    if (!hops.length) return;
    if (this.cursor === null) { this.review(hops[hops.length - 1].seq); return; }
    const i = hops.findIndex((e) => e.seq === this.cursor);
    if (i > 0) this.review(hops[i - 1].seq);
    else if (i < 0) this.review(hops[hops.length - 1].seq);
  }

  forward() {
    if (this.cursor === null) { if (this.teacher) this.gateAction("step"); return; }
    const hops = this.visibleHops();
    const i = hops.findIndex((e) => e.seq === this.cursor);
    if (i >= 0 && i < hops.length - 1) this.review(hops[i + 1].seq);
    else this.goLive();
  }

  first() {
    const hops = this.visibleHops();
    if (hops.length) this.review(hops[0].seq);
  }

  queuePosition() {
    if (this.positionQueued) return;
    this.positionQueued = true;
    requestAnimationFrame(() => { this.positionQueued = false; this.updatePosition(false); });
  }

  updatePosition(recount = true) {
    const reviewing = this.cursor !== null;
    const hops = reviewing || recount ? this.visibleHops() : null;
    if (hops) this.visibleCount = hops.length;
    const total = this.visibleCount;
    $("btn-live").setAttribute("aria-pressed", String(!reviewing));
    $("review-banner").hidden = !reviewing;
    if (reviewing) {
      const pos = hops.findIndex((e) => e.seq === this.cursor) + 1;
      $("review-pos").textContent = t("review.position", {pos: pos || "–", total});
      // the whole sentence where there is room; "Looking back: hop 2 of 7" on a projector
      $("review-text").replaceChildren(h("span", {class: "review-long"}, t("review.banner", {pos: pos || "–", total})),
        h("span", {class: "review-short"}, t("review.banner.short", {pos: pos || "–", total})));
      $("review-banner").title = t("review.banner", {pos: pos || "–", total});
    } else {
      $("review-pos").textContent = t("review.livepos", {total});
    }
    $("btn-back").disabled = total === 0;
    $("btn-forward").disabled = !reviewing && !this.teacher;
  }

  showHop(event) {
    this.details.showHop(event, {
      events: this.log.events, index: this.log.indexOf(event.seq), traces: this.traces,
      following: this.timeline.filter.trace, dialogues: this.timeline.dialogues,
    });
  }

  // -- clicks on the diagram --------------------------------------------------------------------
  // Every node shows what it is in the details panel (nodeinfo.js): at once with what the page knows,
  // then again with the server's listeners, queue and faults as they are now.
  nodeClicked(id) {
    if (!id) return;
    this.userMoved();
    this.diagram.selectNode?.(id);
    this.details.showNode(id, () => this.nodeInfo(id));
    if (!id.startsWith("mailbox:")) this.refreshNode(id);
  }

  nodeInfo(id) {
    const gone = (Date.now() - (this.queueAt || Date.now())) / 1000;      // the queue's retry times count down
    const queue = (this.queue || []).map((q) => (Number.isFinite(Number(q.retry_in)) ? {...q, retry_in: Number(q.retry_in) - gone} : q));
    return {world: this.world, users: this.users || [], listeners: this.listeners || [], queue,
      faults: this.faults.faults || [], state: this.cursor !== null ? this.reviewState : this.live,
      hops: this.hopsOf(id), teacher: this.teacher};
  }

  // The hops that touch a node, newest first (up to the hop looked at, while reviewing).
  hopsOf(id) {
    const host = id.startsWith("mta:") ? id.slice(4) : null;
    const out = [];
    const events = this.timeline.events;
    for (let i = events.length - 1; i >= 0 && out.length < 50; i--) {
      const e = events[i];
      if (this.cursor !== null && e.seq > this.cursor) continue;
      const d = e.data || {};
      if (e.src === id || e.dst === id || d.via === id || d.server === id || (host && d.host === host && e.kind !== "mda.deliver")) out.push(e);
    }
    return out;
  }

  async refreshNode(id) {
    try {
      const state = await api.get("/api/state");
      this.listeners = state.listeners || this.listeners;
      this.queue = state.queue || [];
      this.queueAt = Date.now();
      this.faults.setFaults(state.faults);
      if (this.details.view?.type === "node" && this.details.view.args[0] === id) this.details.rerender();
    } catch (_) { /* the card shows what the page knew */ }
  }

  // -- the lesson ------------------------------------------------------------------------------
  // The lesson's state is shown once the diagram has drawn what happened before it (the ending is
  // not told before it is seen): it waits for the hops that came before it on the socket.
  onLesson(lesson, now = false) {
    this.pendingLesson = {lesson, seq: now ? 0 : this.log.lastSeq};
    this.showLesson();
  }

  showLesson() {
    const pending = this.pendingLesson;
    if (!pending) return;
    const drawnSeq = this.log.events[this.drawnIndex]?.seq ?? 0;
    if (pending.seq > drawnSeq && this.drawnIndex < this.log.events.length - 1) return;
    this.pendingLesson = null;
    this.lessonPanel.set(pending.lesson, this.scenario);
    if (this.leader && this.leading && !this.teacher) this.applyLeader();
  }

  async nextStep() {
    try {
      const state = await api.call("POST", "/api/lesson/next", {});
      if (state && Array.isArray(state.steps)) this.onLesson(state);
    } catch (err) {
      this.notify(err.message, true);
    }
  }

  setFaults(faults) {
    this.faults.setFaults(faults);
    this.diagram.setFaults(faults);
  }

  refreshFaults() {
    clearTimeout(this.faultTimer);
    this.faultTimer = setTimeout(async () => {
      try {
        const state = await api.get("/api/state");
        this.setFaults(state.faults);
      } catch (_) { /* the next change tries again */ }
    }, 80);
  }

  // -- following the teacher ---------------------------------------------------------------------
  // The teacher's page says where it is after every move; the server passes it on to the others.
  moved() {
    if (!this.teacher || this.applying || !this.socket) return;
    clearTimeout(this.movedTimer);
    this.movedTimer = setTimeout(() => this.socket.follow({
      cursor: this.cursor, selected: this.details.view?.type === "hop" ? this.details.view.args[0].seq : null,
      step: this.lessonPanel.viewed, trace: this.timeline.filter.trace || "",
    }), 40);
  }

  onFollow(view) {
    if (this.teacher || !view) return;
    this.leader = view;
    if (this.leading) this.applyLeader();
  }

  // Move to where the teacher is (a hop not arrived yet is waited for: ingest() comes back here).
  applyLeader() {
    const view = this.leader;
    this.pendingLeader = false;
    if (!view || !this.leading || this.teacher || this.reloading) return;
    this.applying = true;
    try {
      if ((view.trace || "") !== (this.timeline.filter.trace || "")) {
        this.timeline.setFilter({trace: view.trace || ""});
        this.details.rerender();
        this.updatePosition();
      }
      if (view.cursor === null || view.cursor === undefined) {
        this.goLive();
      } else if (this.log.indexOf(view.cursor) >= 0) {
        if (this.cursor !== view.cursor) this.review(view.cursor);
      } else {
        this.pendingLeader = true;
      }
      if ((view.step ?? null) !== this.lessonPanel.viewed) this.lessonPanel.view(view.step ?? null);
    } finally {
      this.applying = false;
    }
  }

  // A viewer who moves on their own stops following (the Follow button brings them back).
  userMoved() {
    if (this.teacher || this.applying || !this.leading) return;
    this.setLeading(false);
  }

  setLeading(on) {
    this.leading = on;
    const button = $("btn-follow");
    button.setAttribute("aria-pressed", String(on));
    button.title = t(on ? "follow.on.hint" : "follow.off.hint");
    document.body.dataset.following = on ? "yes" : "no";
    if (on) this.applyLeader();
  }

  // -- presentation mode (a projector): larger type, remembered in this browser -----------------
  togglePresent() {
    this.present = !this.present;
    try { localStorage.setItem(PRESENT_KEY, this.present ? "1" : "0"); } catch (_) { /* storage may be off */ }
    this.applyPresent();
    if (this.world) this.loadLayout();
  }

  applyPresent() {
    document.body.classList.toggle("present", this.present);
    $("btn-present").setAttribute("aria-pressed", String(this.present));
  }

  // -- controls ---------------------------------------------------------------------------------
  bindToolbar() {
    $("btn-play").addEventListener("click", (ev) => { ev.currentTarget.blur(); this.gateAction("play"); });
    $("btn-pause").addEventListener("click", (ev) => { ev.currentTarget.blur(); this.gateAction("pause"); });
    $("btn-step").addEventListener("click", (ev) => { ev.currentTarget.blur(); this.gateAction("step"); });
    $("speed").addEventListener("change", (ev) => this.gateCall({delay: Number(ev.target.value)}));
    $("granularity").addEventListener("change", (ev) => this.gateCall({granularity: ev.target.value}));
    $("btn-back").addEventListener("click", (ev) => { ev.currentTarget.blur(); this.userMoved(); this.back(); });
    $("btn-forward").addEventListener("click", (ev) => { ev.currentTarget.blur(); this.userMoved(); this.forward(); });
    $("btn-live").addEventListener("click", (ev) => { ev.currentTarget.blur(); this.userMoved(); this.goLive(); });
    $("review-exit").addEventListener("click", () => { this.userMoved(); this.goLive(); });
    $("btn-follow").addEventListener("click", (ev) => { ev.currentTarget.blur(); this.setLeading(!this.leading); });
    $("btn-present").addEventListener("click", (ev) => { ev.currentTarget.blur(); this.togglePresent(); });
    $("notice-close").addEventListener("click", () => { $("notice").hidden = true; });
    // The keyboard help: in the legend on wide screens, one click away ("Keys") on narrow ones.
    const keys = $("keys-toggle");
    keys.addEventListener("click", () => keys.setAttribute("aria-expanded", String(keys.getAttribute("aria-expanded") !== "true")));
    document.addEventListener("click", (ev) => {
      if (!ev.target.closest?.(".keys")) keys.setAttribute("aria-expanded", "false");
    });
    new ResizeObserver(() => this.fitChrome()).observe(document.querySelector(".topbar"));
    for (const b of document.querySelectorAll(".btn-lang")) {
      b.addEventListener("click", () => i18n.setLang(b.dataset.lang).catch((err) => this.notify(err.message, true)));
    }
  }

  bindKeys() {
    document.addEventListener("keydown", (ev) => {
      const tag = ev.target?.tagName;
      if (["INPUT", "TEXTAREA", "SELECT"].includes(tag) || ev.ctrlKey || ev.metaKey || ev.altKey) return;
      const key = ev.key;
      if (key === " " || key === "Spacebar") {
        ev.preventDefault();
        if (this.teacher) this.gateAction(this.gate?.mode === "pause" ? "play" : "pause");
      } else if (key === "ArrowLeft") { ev.preventDefault(); this.userMoved(); this.back(); }
      else if (key === "ArrowRight") { ev.preventDefault(); this.userMoved(); this.forward(); }
      else if (key === "s" || key === "S") { if (this.teacher) this.gateAction("step"); }
      else if (key === "n" || key === "N") { if (this.teacher) this.nextStep(); }
      else if (key === "p" || key === "P") { this.togglePresent(); }
      else if (key === "End" || key === "Escape") { this.userMoved(); this.goLive(); }
      else if (key === "Home") { ev.preventDefault(); this.userMoved(); this.first(); }
    });
  }

  gateAction(action) {
    return this.gateCall({action});
  }

  async gateCall(body) {
    try {
      await api.call("POST", "/api/gate", body);
    } catch (err) {
      this.notify(err.message, true);
    }
  }

  async setHost(name, up) {
    try {
      await api.call("POST", `/api/hosts/${encodeURIComponent(name)}`, {up});
    } catch (err) {
      this.notify(err.message, true);
    }
  }

  // `message`: the text, or a function that words it -- called again when the language changes, so a
  // notice still shown (a lost connection stays) is in the page's language, not the one it came in.
  notify(message, bad, sticky = false) {
    const box = $("notice");
    this.noticeWords = typeof message === "function" ? message : null;
    $("notice-text").textContent = this.noticeWords ? this.noticeWords() : message;
    box.classList.toggle("ok", !bad);
    box.hidden = false;
    clearTimeout(this.noticeTimer);
    if (!bad && !sticky) this.noticeTimer = setTimeout(() => { box.hidden = true; }, 5000);
  }

  // The top bar never runs off the screen (a 1280 projector at 125 % is 1024 CSS px wide; Russian
  // labels are longer): while it overflows, it drops words in steps (body[data-fit="1".."5"]: the
  // brand's name, then the labels of Terms/Clients/World, then the other labels, then narrower
  // selects), keeping the language switch and the role badge.  As a last resort it wraps.
  fitChrome() {
    if (this.fitting) return;
    this.fitting = true;
    requestAnimationFrame(() => {
      this.fitting = false;
      const bar = document.querySelector(".topbar");
      const body = document.body;
      let level = 0;
      body.dataset.measuring = "yes";                  // one row while measuring (the bar wraps otherwise)
      body.dataset.fit = "0";
      // Overflow is an item past the content box: scrollWidth misses one that only reaches into the
      // bar's padding, which is enough to make the wrapping bar take a second row.
      const overflows = () => {
        const edge = bar.getBoundingClientRect().right - parseFloat(getComputedStyle(bar).paddingRight);
        return bar.scrollWidth > bar.clientWidth + 1
          || [...bar.children].some((item) => item.getBoundingClientRect().right > edge + 0.5);
      };
      while (overflows() && level < 5) body.dataset.fit = String(++level);
      delete body.dataset.measuring;
    });
  }

  onlyDrawer(keep) {
    if (keep !== "lessons") this.lessons.setOpen(false);
    if (keep !== "world") this.controls.setOpen(false);
    if (keep !== "clients") this.clients.setOpen(false);
    if (keep !== "glossary") this.glossary.setOpen(false);
    if (keep !== "class") this.classroom.setOpen(false);
  }

  // The sending servers (MSA and MTA at once), for the glossary.
  senders() {
    return (this.world?.domains || []).flatMap((d) => d.hosts).filter((x) => x.role === "msa").map((x) => x.name);
  }

  showTitle() {
    const title = this.world ? pick(this.world.scenario.title) : "";
    $("scenario-title").textContent = title;
    $("scenario-summary").textContent = this.world ? pick(this.world.scenario.summary) : "";
    const level = this.scenario?.level;
    $("scenario-level").hidden = !level;
    $("scenario-level").textContent = level ? t(`lesson.level.${level}`) : "";
    $("scenario-level").className = `level-badge level-${level || "none"}`;
    const goals = this.scenario?.goals ? (this.scenario.goals[i18n.lang()] || this.scenario.goals.en || []) : [];
    const box = $("scenario-goals");
    box.replaceChildren(...(goals.length ? [h("span", {class: "goals-head"}, t("lesson.goals")),
      h("ul", {}, ...goals.map((g) => h("li", {}, ...richText(g))))] : []));
    box.hidden = !goals.length;
    if (title) document.title = `Mailflow — ${title}`;
  }

  languageChanged() {
    i18n.applyStatic();
    if (this.noticeWords && !$("notice").hidden) $("notice-text").textContent = this.noticeWords();
    const code = i18n.lang();
    for (const b of document.querySelectorAll(".btn-lang")) b.setAttribute("aria-pressed", String(b.dataset.lang === code));
    $("role-badge").textContent = t(this.teacher ? "role.teacher" : "role.viewer");
    this.showTitle();
    this.diagram.applyText();
    this.timeline.relabel();
    this.details.rerender();
    this.controls.render();
    this.clients.render();
    this.glossary.render();
    this.faults.render();
    this.lessonPanel.render();
    this.lessons.render();
    this.classroom.render();
    this.setLeading(this.leading);
    if (this.gate) this.onGate(this.gate);
    this.updatePosition();
    this.fitChrome();
  }
}

const app = new App();
app.start().catch((err) => {
  console.error(err);
  app.notify(() => t("notice.error", {message: err.message || String(err)}), true, true);
});
