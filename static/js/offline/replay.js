// offline/replay.js — plays the saved run into the page, as the server did live.
//
// The page cannot tell the replay from a live world: the hops come through the socket's handlers
// (offline/socket.js), one at a time, and the page's own Player draws each on the diagram and lists
// it in the timeline.  A hop is handed over every `pace` ms (a little more than the Player takes to
// move its token, so the drawing keeps up); a lesson's step gets time to be read (its narration
// shows in the lesson panel: replay.js tells the page the lesson moved on); world changes and other
// records that draw nothing go at once with what follows.  Pause stops handing over; the page's own
// review (← →) still works on what has been shown.  Speeds are the gate's delays, so the Player's
// pace follows (player.js).  The progress counts what the timeline lists.
//
// "Replay from the start" and "show all" reload the file (file:// needs no network): the page then
// starts again before the first hop, or (#all) with the whole run, as a reload of the live page does.
import {DATA, MODE, tape, noteReleased, lessonNow} from "./data.js";
import {isHop, isWorldChange} from "../model.js";

export const SPEEDS = {slow: 2, normal: 1, fast: 0.5};      // gate delay in seconds (player.js)
const START_DELAY = 700;                                   // ms: let the first drawing settle

const animated = (e) => isHop(e) && !isWorldChange(e);
const narrated = (e) => e.kind === "lesson.step";
const pace = (delay) => Math.min(3000, Math.max(600, delay * 850)) + 120;   // player.js's base + a margin
const READING = 2;                                         // a lesson's step stays this many paces

class Replay {
  constructor() {
    this.handlers = null;
    this.events = (DATA && DATA.events) || [];
    this.playing = false;
    this.speed = "normal";
    this.timer = null;
    this.listeners = [];
    this.total = this.events.filter(isHop).length;
    this.shown = MODE === "all" ? this.total : 0;
    if (MODE === "all") { tape.released = this.events.length; this.events.forEach(noteReleased); }
  }

  get finished() { return tape.released >= this.events.length; }

  onChange(fn) { this.listeners.push(fn); }
  changed() { for (const fn of this.listeners) { try { fn(this); } catch (err) { console.error(err); } } }

  attach(handlers) {
    this.handlers = handlers;
    setTimeout(() => {
      handlers.onConnect?.();
      this.gate();
      if (MODE !== "all" && !this.finished) { this.playing = true; this.schedule(START_DELAY); }
      this.changed();
    }, 0);
  }

  sync(since) {
    return {events: this.events.slice(0, tape.released).filter((e) => e.seq > since),
            last_seq: tape.released ? this.events[tape.released - 1].seq : since, more: false};
  }

  gate() {
    this.handlers?.onGate?.({mode: this.playing || this.finished ? "play" : "pause", delay: SPEEDS[this.speed],
                             granularity: "hop", waiting: []});
  }

  schedule(ms) {
    clearTimeout(this.timer);
    this.timer = setTimeout(() => this.step(), ms);
  }

  // Hand over the next hop (and any records before it that draw nothing).
  step() {
    if (!this.playing || !this.handlers) return;
    const batch = [];
    let wait = 0;
    while (tape.released < this.events.length) {
      const e = this.events[tape.released++];
      noteReleased(e);
      batch.push(e);
      if (isHop(e)) this.shown++;
      if (animated(e)) { wait = 1; break; }
      if (narrated(e)) { wait = READING; break; }
    }
    if (batch.length) this.handlers.onEvents?.({events: batch, last_seq: batch[batch.length - 1].seq});
    if (batch.some((e) => String(e.kind).startsWith("lesson."))) this.handlers.onLesson?.(lessonNow());
    if (this.finished) { this.playing = false; this.gate(); }
    else this.schedule(wait * pace(SPEEDS[this.speed]));
    this.changed();
  }

  play() {
    if (this.finished || this.playing) return;
    this.playing = true;
    this.gate();
    this.schedule(0);
    this.changed();
  }

  pause() {
    if (!this.playing) return;
    this.playing = false;
    clearTimeout(this.timer);
    this.gate();
    this.changed();
  }

  setSpeed(name) {
    if (!(name in SPEEDS)) return;
    this.speed = name;
    this.gate();
    if (this.playing) this.schedule(pace(SPEEDS[name]));
    this.changed();
  }

  restart() { reopen(""); }
  showAll() { reopen("#all"); }
}

function reopen(hash) {
  if (location.hash !== hash) location.hash = hash;       // "" leaves a bare "#": the replay
  location.reload();
}

export const replay = new Replay();
