// player.js — decides when each live hop is drawn.
//
// Hops of one message (trace) play one after another, in order, so a letter's journey reads left
// to right even when the real servers did it all within milliseconds; different messages play side
// by side.  A burst (hundreds of hops) is never allowed to freeze the page: beyond the tokens its
// frames have room for (TokenBudget: at most MAX_TOKENS), or with a backlog over MAX_BACKLOG, hops
// "arrive" at once without a token and only the state (badges, counts) changes.  onArrive(event)
// is called exactly once per event.

const MAX_TOKENS = 36;
const MAX_BACKLOG = 240;

// How many tokens may move at once, from how long the diagram's frames take while they move.
// Every moving token is a style change, a layout and a paint of its edge's region in every frame;
// on a busy or slow machine (a classroom laptop, or one sharing its two cores with the mail
// servers) 36 of them made frames of 50 ms and more.  A frame is judged against the screen's own
// pace (`pace`: the shortest interval seen lately -- 16.7 ms at 60 Hz, 33 ms on a screen or a
// battery saver at 30 -- creeping up by CREEP a frame so that a slower screen is learnt, never
// above MAX_PACE): a frame later than LATE × pace (one was missed) lowers the limit by a quarter,
// down to LEAST; each frame within ON_TIME × pace raises it by RISE, so a machine with room is back
// at MAX_TOKENS a few seconds after a burst.  Tokens already moving are never stopped: only new
// hops find no room, and arrive at once.
export class TokenBudget {
  static LATE = 1.5;
  static ON_TIME = 1.2;
  static LEAST = 8;
  static RISE = 0.1;
  static CREEP = 1.01;
  static MAX_PACE = 34;

  constructor(most = MAX_TOKENS) {
    this.most = most;
    this.limit = most;
    this.pace = 1000 / 60;
  }

  get allowed() { return Math.floor(this.limit); }

  // One frame of the moving tokens, `ms` after the one before.
  frame(ms) {
    if (!(ms > 0)) return;
    this.pace = Math.min(ms, this.pace * TokenBudget.CREEP, TokenBudget.MAX_PACE);
    if (ms > this.pace * TokenBudget.LATE) this.limit = Math.max(TokenBudget.LEAST, this.limit * 0.75);
    else if (ms < this.pace * TokenBudget.ON_TIME) this.limit = Math.min(this.most, this.limit + TokenBudget.RISE);
  }
}

export class Player {
  constructor(diagram, {onArrive, animated = (e) => true}) {
    this.diagram = diagram;
    this.onArrive = onArrive;
    this.animated = animated;
    this.queues = new Map();   // trace -> events waiting their turn
    this.playing = new Set();  // traces with a token on the way
    this.backlog = 0;
    this.base = 900;           // ms per hop; follows the gate's speed
    this.paused = false;       // review mode: nothing new is drawn
    this.generation = 0;       // a new world: tokens of the old one land nowhere
    this.budget = new TokenBudget();
    diagram.onFrame = (ms) => this.budget.frame(ms);
  }

  // A new world: drop everything queued or on the way, without arriving.
  clear() {
    this.generation++;
    this.queues.clear();
    this.playing.clear();
    this.backlog = 0;
    this.diagram.finishAll();
  }

  setSpeed(delaySeconds) {
    const d = Number(delaySeconds) || 0;
    this.base = d > 0 ? Math.min(3000, Math.max(600, d * 850)) : 900;
  }

  push(event) {
    if (this.paused || !this.animated(event)) { this.arrive(event); return; }
    const key = event.trace || `#${event.seq}`;
    const queue = this.queues.get(key) || [];
    queue.push(event);
    this.queues.set(key, queue);
    this.backlog++;
    if (this.backlog > MAX_BACKLOG) { this.flush(); return; }
    if (!this.playing.has(key)) this.next(key);
  }

  next(key) {
    const queue = this.queues.get(key);
    const event = queue && queue.shift();
    if (!event) { this.queues.delete(key); this.playing.delete(key); return; }
    this.backlog--;
    if (this.diagram.busy >= this.budget.allowed) {
      this.arrive(event);
      this.next(key);
      return;
    }
    this.playing.add(key);
    const waiting = queue.length;
    const duration = Math.max(220, this.base / (1 + waiting / 3 + this.backlog / 40));
    const generation = this.generation;
    this.diagram.animate(event, duration).then(() => {
      if (generation !== this.generation) return;
      this.arrive(event);
      this.playing.delete(key);
      this.next(key);
    });
  }

  arrive(event) {
    try { this.onArrive(event); } catch (err) { console.error(err); }
  }

  // Everything still queued arrives now, in sequence order; tokens on the way land at once.
  flush() {
    const rest = [];
    for (const queue of this.queues.values()) rest.push(...queue);
    this.queues.clear();
    this.backlog = 0;
    rest.sort((a, b) => a.seq - b.seq);
    for (const e of rest) this.arrive(e);
    this.diagram.finishAll();
  }
}
