// queueclock.js — when each queued message is tried again, for the countdown on its host.
//
// A message waits in a host's queue after a "queue.defer" fact: its next attempt is the fact's
// time plus data.retry_in (seconds, the server's clock).  The clock learns those from the hops it
// is shown (note()), and from the queue entries of GET /api/state (entry.next_attempt; load()) for
// what happened before the page was opened or was not drawn one by one.  Times stay in the
// server's clock; the offset to this browser's clock is estimated from the "mailflow:batch" events
// the page announces (the newest fact of a batch was published a moment before it arrived).

export class RetryClock {
  constructor() {
    this.next = new Map();        // trace -> Map(seq of its queue.defer -> {host: node id, at: server seconds})
    this.offset = null;           // browser seconds - server seconds
    window.addEventListener("mailflow:batch", (ev) => {
      const d = ev.detail || {};
      const ts = Array.isArray(d.ts) ? Math.max(...d.ts.map(Number).filter(Number.isFinite)) : NaN;
      if (!Number.isFinite(ts) || !d.at) return;
      const offset = d.at / 1000 - ts;
      this.offset = this.offset === null ? offset : Math.min(this.offset, offset);
    });
  }

  reset() { this.next.clear(); }

  // The server's "now", in its own clock.
  now() { return Date.now() / 1000 - (this.offset ?? 0); }

  note(event) {
    if (!event || !event.trace) return;
    const data = event.data || {};
    if (event.kind !== "queue.defer" || !Number.isFinite(Number(data.retry_in)) || !Number.isFinite(Number(event.ts))) return;
    const seq = Number(event.seq) || 0;
    const entry = {host: event.src, at: Number(event.ts) + Number(data.retry_in), seq};
    if (!this.next.has(event.trace)) this.next.set(event.trace, new Map());
    this.next.get(event.trace).set(seq, entry);
  }

  // Queue entries of /api/state: {host, trace, next_attempt} (the newest of each message).
  load(entries) {
    for (const q of entries || []) {
      const at = Number(q.next_attempt);
      if (!q.trace || !Number.isFinite(at)) continue;
      if (!this.next.has(q.trace)) this.next.set(q.trace, new Map());
      this.next.get(q.trace).set(Infinity, {host: `mta:${q.host}`, at, seq: Infinity});
    }
  }

  // When the message `trace` waiting at `host` is tried next (server seconds), or null.  seq: the
  // fact that put it there (its queue.defer); live, the newest known entry does.
  at(trace, host, seq = null, live = true) {
    const entries = this.next.get(trace);
    if (!entries) return null;
    const own = seq !== null ? entries.get(seq) : null;
    if (own) return own.host === host ? own.at : null;
    if (!live) return null;
    let best = null;
    for (const e of entries.values()) if (e.host === host && (best === null || e.at > best.at)) best = e;
    return best ? best.at : null;
  }

  known(trace) { return this.next.has(trace); }
}
