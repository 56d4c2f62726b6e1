// model.js — folds events into state.  No DOM here (RaftScope's state.js / raft.js split).
//
// EventLog keeps every event once, in sequence order, and notices gaps (a batch that skipped
// something: the socket then asks the server to sync).  WorldState is what the diagram shows at
// one point of the history: which hosts are up, the MX tables, which users exist (students join and
// leave: "world.user"), how many messages each mailbox holds, where each message (trace) is, and
// which mail clients were last used through the webmail.  fold(state, event) advances it by one
// event; the same function serves the live view and the review (back / forward) view.

export const CUT = "…";      // the transcript side of a marker: how many body lines were cut (events.py)
export const TLS_HIDDEN = "🔒"; // ... and how many lines TLS hid from this page (simulator/web/privacy.py)
export const STATUSES = ["ok", "deferred", "bounced", "failed", "info"];
export const STATUS_ICON = {ok: "✓", deferred: "↻", bounced: "↩", failed: "✗", info: "•"};

export function statusOf(event) {
  return STATUSES.includes(event.status) ? event.status : "info";
}

export function protocolOf(event) {
  const p = String(event.protocol || "").trim();
  if (p && p !== "—" && p !== "-") return p.toUpperCase();
  return String(event.kind || "other").split(".")[0].toUpperCase();
}

// A change of the world: a host switched on or off, an MX table edited, a fault set or cleared, a
// user (a student of the class) joined or left.
const WORLD_CHANGES = new Set(["world.host", "world.mx", "world.fault", "world.user"]);
export function isWorldChange(event) {
  return WORLD_CHANGES.has(event.kind);
}

// Hops the timeline lists; "gate.waiting" is a state change shown by the gate display instead, and
// a lesson's facts ("lesson.step", "lesson.expect" ...) are shown by the narration panel.
export function isHop(event) {
  return event.kind !== "gate.waiting" && !String(event.kind).startsWith("lesson.");
}

export const isLessonFact = (event) => String(event.kind).startsWith("lesson.");

// POP3 downloads and deletes; IMAP leaves the original on the server.
export function retrievalStyle(event) {
  const kind = String(event.kind || "");
  const data = event.data || {};
  if (kind.startsWith("pop3.")) {
    const deletes = kind === "pop3.dele" || (kind === "pop3.quit" && deletedCount(event) > 0) ||
      (kind === "pop3.retr" && data.delete === true);
    return deletes ? "pop3-delete" : "pop3";
  }
  if (kind.startsWith("imap.")) return kind === "imap.expunge" ? "imap-expunge" : "imap";
  return "";
}

function deletedCount(event) {
  const data = event.data || {};
  const d = data.deleted ?? data.expunged ?? (event.kind === "imap.expunge" ? data.uids : undefined);
  if (Array.isArray(d)) return d.length;
  const n = Number(d);
  return Number.isFinite(n) && n > 0 ? n : 0;
}

// How a mailbox's message count changes with this event (+1 delivered, -n removed for good).
export function mailboxDelta(event) {
  if (event.kind === "mda.deliver" && event.status !== "failed" && String(event.dst).startsWith("mailbox:")) {
    return [event.dst.slice(8), 1];
  }
  if ((event.kind === "pop3.quit" || event.kind === "imap.expunge") && String(event.src).startsWith("mailbox:")) {
    const n = deletedCount(event);
    if (n) return [event.src.slice(8), -n];
  }
  return null;
}

export class EventLog {
  constructor() {
    this.events = [];        // in sequence order, no duplicates
    this.bySeq = new Map();
    this.lastSeq = 0;
    this.pending = new Map(); // arrived ahead of a gap
  }

  // Add events (any order, duplicates ignored); returns those appended, in order.
  // firstSeq: the oldest event the server still has; a hole below it can never be filled.
  add(list, firstSeq = 0) {
    if (firstSeq && firstSeq - 1 > this.lastSeq) this.lastSeq = firstSeq - 1;
    for (const e of list || []) {
      if (e && Number.isInteger(e.seq) && e.seq > this.lastSeq) this.pending.set(e.seq, e);
    }
    const added = [];
    while (this.pending.has(this.lastSeq + 1)) {
      const e = this.pending.get(this.lastSeq + 1);
      this.pending.delete(e.seq);
      this.lastSeq = e.seq;
      this.events.push(e);
      this.bySeq.set(e.seq, e);
      added.push(e);
    }
    return added;
  }

  get hasGap() { return this.pending.size > 0; }

  indexOf(seq) {
    // events are sorted by seq: binary search
    let lo = 0, hi = this.events.length - 1;
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      const v = this.events[mid].seq;
      if (v === seq) return mid;
      if (v < seq) lo = mid + 1; else hi = mid - 1;
    }
    return -1;
  }
}

// -- the world at one point -----------------------------------------------------------------------

// webmail: the webmail's own loopback source address (GET /api/state "webmail_source"): a hop whose
// TCP client is that address was made by the webmail, not by a desktop client.
export function initialState(baselineWorld, mailboxBase, {webmail = null} = {}) {
  const hosts = new Map();
  const mx = new Map();
  const users = new Map();
  for (const d of baselineWorld?.domains || []) {
    for (const host of d.hosts) hosts.set(host.name, host.up);
    mx.set(d.name, d.mx ? d.mx.map((r) => ({preference: r.preference, host: r.host})) : null);
    for (const u of d.users || []) users.set(u.address, u.name || "");
  }
  return {
    hosts, mx, users,      // users: address -> display name
    mailboxes: new Map(Object.entries(mailboxBase || {})),
    traces: new Map(),     // trace -> {node, status, done}
    clients: new Map(),    // "mua:<address>" -> "webmail" | "other": who spoke for it last
    webmail,
    last: null,            // the last event folded in
  };
}

export function cloneState(state) {
  return {
    hosts: new Map(state.hosts), mx: new Map(state.mx), users: new Map(state.users), mailboxes: new Map(state.mailboxes),
    traces: new Map([...state.traces].map(([k, v]) => [k, {...v}])), clients: new Map(state.clients),
    webmail: state.webmail, last: state.last,
  };
}

// Was this hop made by the webmail (its TCP client is the webmail's source address)?
export function byWebmail(event, webmail) {
  const wire = wireOf(event);
  return !!webmail && !!wire && wire.client === webmail;
}

// The mail client a hop speaks for ("mua:<address>" at either end), or "".
export function clientOf(event) {
  for (const id of [event.src, event.dst]) if (String(id || "").startsWith("mua:")) return id;
  return "";
}

// Where a message is after this hop (its trace's location), or null when the hop does not move it.
function locate(e) {
  const status = statusOf(e);
  switch (e.kind) {
    case "dns.query": return {node: e.src, status};
    case "queue.defer": return {node: e.src, status: "deferred"};
    case "smtp.attempt": return {node: e.src, status};
    case "smtp.session": return status === "ok" ? {node: e.dst, status} : {node: e.src, status};
    case "queue.relay": return null;   // the receiving MX's own smtp.session already moved it
    case "queue.bounce":
      return e.src === e.dst ? {node: e.src, status: "bounced", done: true} : {node: e.src, status: "bounced"};
    case "mda.deliver": return {node: e.dst, status, done: true};
    case "world.host": case "world.mx": case "world.user": case "dns.served": case "gate.waiting": return null;
    default: return null;
  }
}

export function fold(state, e) {
  const data = e.data || {};
  if (isWorldChange(e)) {
    if (e.kind === "world.host" && typeof data.host === "string") state.hosts.set(data.host, !!data.up);
    if (e.kind === "world.mx" && typeof data.domain === "string" && Array.isArray(data.mx)) {
      state.mx.set(data.domain, data.mx.map(([p, h]) => ({preference: p, host: h})));
    }
    if (e.kind === "world.user" && typeof data.address === "string") {
      if (data.joined) state.users.set(data.address, typeof data.name === "string" ? data.name : "");
      else state.users.delete(data.address);
    }
  }
  const client = wireOf(e) ? clientOf(e) : "";
  if (client) state.clients.set(client, byWebmail(e, state.webmail) ? "webmail" : "other");
  const delta = mailboxDelta(e);
  if (delta) state.mailboxes.set(delta[0], Math.max(0, (state.mailboxes.get(delta[0]) || 0) + delta[1]));
  if (e.trace) {
    const where = locate(e);
    const before = state.traces.get(e.trace);
    // Hops may land out of order when a burst is cut short; the later hop always wins.
    if (where && (!before || before.seq < e.seq)) state.traces.set(e.trace, {...where, done: !!where.done, seq: e.seq});
  }
  state.last = e;
  return state;
}

// Messages waiting in each host's queue (traces whose last place is that host, not finished).
export function queueCounts(state) {
  const counts = new Map();
  for (const where of state.traces.values()) {
    if (!where.done && String(where.node).startsWith("mta:")) {
      counts.set(where.node, (counts.get(where.node) || 0) + 1);
    }
  }
  return counts;
}

// The mailbox counts "before the first event": counts now, minus what the loaded events changed.
export function mailboxBase(countsNow, events) {
  const base = {...countsNow};
  for (const e of events) {
    const d = mailboxDelta(e);
    if (d) base[d[0]] = (base[d[0]] || 0) - d[1];
  }
  for (const k of Object.keys(base)) if (base[k] < 0) base[k] = 0;
  return base;
}

// The world as it was before history started, from the bridge's baseline and its list of changes:
// every world change after the baseline is replayed by fold() anyway, so only the baseline matters.
//
// baselineSeq: the bus's last sequence number when the baseline world was taken.  Events up to it
// may belong to an earlier run (the program restarted and the bus read the last run's log): their
// world changes are replayed over the baseline while reviewing them, and once the history passes
// baselineSeq the hosts and MX tables are the baseline's again (the world as it is now).
export function stateAt(baselineWorld, base, events, index, worldChanges = [], baselineSeq = 0, options = {}) {
  const state = initialState(baselineWorld, base, options);
  // World changes that fell out of the bus's bounded history still count.
  const firstSeq = events.length ? events[0].seq : Infinity;
  for (const change of worldChanges) if (change.seq < firstSeq) fold(state, change);
  for (let i = 0; i <= index && i < events.length; i++) {
    fold(state, events[i]);
    if (baselineSeq && events[i].seq <= baselineSeq && (i === events.length - 1 || events[i + 1].seq > baselineSeq)) {
      const now = initialState(baselineWorld, {});
      state.hosts = now.hosts;
      state.mx = now.mx;
      state.users = now.users;
    }
  }
  return state;
}

// -- trace summaries for the filter and the message pane ----------------------------------------

export class Traces {
  constructor() { this.info = new Map(); }

  reset() { this.info.clear(); }

  note(e) {
    if (!e.trace) return false;
    let entry = this.info.get(e.trace);
    const isNew = !entry;
    if (!entry) { entry = {trace: e.trace, first: e.seq, subject: "", from: "", rcpt: [], bounce: false}; this.info.set(e.trace, entry); }
    const m = e.message;
    if (m && typeof m === "object") {
      if (!entry.subject && typeof m.subject === "string") entry.subject = m.subject;
      if (!entry.from && typeof m.from === "string") entry.from = m.from;
      if (!entry.rcpt.length && Array.isArray(m.rcpt)) entry.rcpt = m.rcpt.map(String);
    }
    return isNew;
  }

  label(trace) {
    const i = this.info.get(trace);
    if (!i) return trace;
    const who = i.from || "<>";
    const to = i.rcpt.length ? i.rcpt.join(", ") : "?";
    const subject = i.subject ? `“${i.subject}”` : "";
    return `${subject} ${who} → ${to}`.trim();
  }
}

// -- SMTP dialogues stepped line by line -----------------------------------------------------------
//
// In line-by-line stepping the SMTP server publishes "smtp.line" facts (the lines since the last
// one) while the dialogue goes on, and its "smtp.session" hop only at the end (after the final 250),
// with the QUIT and the 221 as two more lines after it.  They are one hop: Dialogues groups the
// lines of one connection with their session, so the timeline lists one entry that grows line by
// line (a dialogue still going on is an entry of its own until its session lands), and the details
// panel shows the grown transcript.
//
// Which connection a line belongs to: the fact's TCP layer when it has one (client address and
// port), else its peer address and ends.  Before the login the front door does not yet know who the
// client is (outside -> front); after AUTH the same connection reads mua:<user> -> mta:<msa>: those
// lines join the dialogue the connection began.  A 220 greeting begins a new dialogue; a 221 ends one.

export const FRONT = "front";
export const OUTSIDE = "outside";

const isLine = (e) => e.kind === "smtp.line";
const isSession = (e) => e.kind === "smtp.session";

// The connection's identity from the fact's TCP layer (data.wire: the socket pair), "" without one.
export function connectionOf(event) {
  const wire = wireOf(event);
  if (!wire || !wire.client || !wire.client_port) return "";
  return `${wire.client}:${wire.client_port}>${wire.server || ""}:${wire.server_port || ""}`;
}

// The TCP/IP layer of a hop (facts.base.Wire: transport, client, client_port, server, server_port,
// tls "" | "starttls" | "implicit", tls_version, tls_from), or null when the fact has none.
export function wireOf(event) {
  const wire = event?.data?.wire;
  return wire && typeof wire === "object" && !Array.isArray(wire) ? wire : null;
}

const firstLine = (e) => (Array.isArray(e.transcript) && e.transcript.length ? e.transcript[0] : null);
const greets = (e) => { const l = firstLine(e); return !!l && l[0] === "S" && /^220[ -]/.test(String(l[1])); };
const asksTls = (g) => {
  const last = g.lines[g.lines.length - 1];
  const lines = last?.transcript || [];
  const pair = lines[lines.length - 1];
  return Array.isArray(pair) && pair[0] === "C" && /^(?:\S+ )?(STARTTLS|STLS)\s*$/i.test(String(pair[1]));
};
const ends = (e) => (e.transcript || []).some((l) => Array.isArray(l) && l[0] === "S" && /^221[ -]/.test(String(l[1])));

export class Dialogues {
  constructor() { this.reset(); }

  reset() {
    this.groups = [];             // every dialogue seen, oldest first
    this.bySeq = new Map();       // seq of a line or a session -> its group
  }

  // Fold one event in; returns its group (null: not part of an SMTP dialogue stepped by line).
  note(e) {
    if (this.bySeq.has(e.seq)) return this.bySeq.get(e.seq);
    if (isLine(e)) return this.noteLine(e);
    if (isSession(e)) return this.noteSession(e);
    return null;
  }

  noteLine(e) {
    let group = this.find(e, false);
    // A 220 greeting begins a new connection, unless the connection is known by its socket pair (the
    // fact's TCP layer) or the 220 answers the dialogue's STARTTLS.
    if (group && greets(e) && !connectionOf(e) && !asksTls(group)) {
      for (const g of this.groups) if (!g.closed && this.same(g, e, false)) g.closed = true;
      group = null;
    }
    if (!group) {
      group = {id: e.seq, lines: [], session: null, closed: false, conn: connectionOf(e),
        peer: peerOf(e), src: e.src, dst: e.dst, trace: e.trace || null};
      this.groups.push(group);
      if (this.groups.length > 400) this.forget();
    }
    group.lines.push(e);
    if (!group.session) { group.src = e.src; group.dst = e.dst; }
    if (e.trace && !group.trace) group.trace = e.trace;
    if (ends(e)) group.closed = true;
    this.bySeq.set(e.seq, group);
    return group;
  }

  noteSession(e) {
    const group = this.find(e, true);
    if (!group) return null;
    group.session = e;
    group.src = e.src;
    group.dst = e.dst;
    if (e.trace) group.trace = e.trace;
    this.bySeq.set(e.seq, group);
    return group;
  }

  // The newest open dialogue this event continues.
  find(e, session) {
    for (let i = this.groups.length - 1; i >= 0; i--) {
      const g = this.groups[i];
      if (!g.closed && !(session && g.session) && this.same(g, e, session)) return g;
    }
    return null;
  }

  same(g, e, session) {
    const conn = connectionOf(e);
    if (conn && g.conn) return conn === g.conn;
    if (peerOf(e) !== g.peer) return false;
    if (g.src === e.src && g.dst === e.dst) return true;
    // the login names the client and its MSA: the front door's dialogue goes on under their names
    return g.dst === FRONT && !g.session;
  }

  groupOf(e) { return e ? this.bySeq.get(e.seq) || null : null; }

  // The lines of a dialogue up to `seq` (inclusive): [side, text] pairs as the transcript shows them.
  linesUpTo(group, seq = Infinity) {
    const out = [];
    for (const line of group.lines) if (line.seq <= seq) out.push(...(line.transcript || []));
    return out;
  }

  // The lines a session's own transcript does not have: those streamed after it (QUIT, 221).
  trailing(group) {
    if (!group.session) return [];
    const out = [];
    for (const line of group.lines) if (line.seq > group.session.seq) out.push(...(line.transcript || []));
    return out;
  }

  forget() {
    const drop = this.groups.splice(0, this.groups.length - 300);
    for (const g of drop) {
      for (const line of g.lines) this.bySeq.delete(line.seq);
      if (g.session) this.bySeq.delete(g.session.seq);
    }
  }
}

function peerOf(e) {
  const data = e.data || {};
  return typeof data.peer === "string" ? data.peer : "";
}

// The message as it was at hop `index`: the event's own, or the latest earlier one of its trace.
export function messageAt(events, index) {
  const e = events[index];
  if (!e) return null;
  if (e.message && e.message.received) return {message: e.message, seq: e.seq, own: true};
  if (!e.trace) return e.message ? {message: e.message, seq: e.seq, own: true} : null;
  for (let i = index - 1; i >= 0; i--) {
    const prev = events[i];
    if (prev.trace === e.trace && prev.message && prev.message.received) {
      return {message: {...prev.message, ...(e.message || {})}, seq: prev.seq, own: false};
    }
  }
  return e.message ? {message: e.message, seq: e.seq, own: true} : null;
}
