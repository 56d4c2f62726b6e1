// offline/data.js — the saved run, and the server's GET answers rebuilt from it.
//
// The exported page (simulator/web/export.py) carries everything in one JSON script element
// (id "mailflow-data", never run): the state, the events, the diagram's
// layouts, both languages' interface strings.  The page's own modules still ask for /api/...; answer()
// gives them what the server would have said, and nothing here ever touches the network.
//
// Two ways to open the file (the address's #fragment says which):
//   (none)  replay: the page starts before the first hop and the replay (replay.js) hands the hops
//           over one by one, as the live page got them from the server;
//   #all    everything at once: the page starts with the whole run, as a reload of the live page.
// `tape` is the replay's position: the events handed over so far, and how many of them changed an MX
// table (the diagram's SMTP edges follow the MX tables: one saved layout per table version), set or
// cleared a fault, or moved the lesson on (one saved version of each per such event).

const node = document.getElementById("mailflow-data");
export const DATA = node ? JSON.parse(node.textContent) : null;
export const MODE = location.hash === "#all" ? "all" : "replay";

export const tape = {released: 0, mxSeen: 0, faultSeen: 0, lessonSeen: 0};

// Count what an event handed over changes (the replay calls it for each, in order).
export function noteReleased(e) {
  const kind = String(e.kind || "");
  if (kind === "world.mx") tape.mxSeen++;
  if (kind === "world.fault") tape.faultSeen++;
  if (kind.startsWith("lesson.")) tape.lessonSeen++;
}

const version = (list, seen) => (Array.isArray(list) && list.length
  ? list[Math.min(MODE === "all" ? list.length - 1 : seen, list.length - 1)] : null);

// The lesson as it stood at the replay's position (null: no lesson in this run).
export function lessonNow() {
  return version(DATA && DATA.lessons, tape.lessonSeen) || (DATA && DATA.state.lesson) || null;
}

const events = () => (DATA && DATA.events) || [];

export function releasedEvents() {
  return MODE === "all" ? events() : events().slice(0, tape.released);
}

function state() {
  const at = MODE === "all" ? DATA.end : DATA.start;
  return {...DATA.state, last_seq: at.last_seq, mailboxes: at.mailboxes,
          faults: version(DATA.faults, tape.faultSeen) || DATA.state.faults || [], lesson: lessonNow()};
}

// The saved layout nearest to the asked size (same shape first, then same size); the diagram scales
// its view box, so near is good enough.
function layout(width, height) {
  let best = null, bestScore = Infinity;
  const sets = (DATA.layouts && DATA.layouts.sets) || [];
  for (const item of sets[version(DATA.layouts && DATA.layouts.versions, tape.mxSeen)] || []) {
    const score = 4 * Math.abs(Math.log((item.width / item.height) / (width / height))) +
      Math.abs(Math.log(item.width / width));
    if (score < bestScore) { best = item; bestScore = score; }
  }
  return best ? best.layout : null;
}

function eventsAfter(since, limit) {
  const all = releasedEvents();
  const after = all.filter((e) => e.seq > since);
  const page = after.slice(0, limit);
  const lastSeq = all.length ? all[all.length - 1].seq : DATA.start.last_seq;
  return {
    events: page,
    last_seq: lastSeq,
    first_seq: page.length ? page[0].seq : Math.max(since + 1, DATA.start.last_seq + 1),
    more: after.length > page.length,
  };
}

const ok = (body) => ({status: 200, body});
const refuse = (status, error) => ({status, body: {error}});

// What the server would answer to `method url` ({status, body}).  `words` gives the message for a
// refusal in the page's language (the caller passes i18n's t; this module stays free of the DOM).
export function answer(method, url, words = (key) => key) {
  if (!DATA) return refuse(503, words("offline.broken"));
  const u = new URL(String(url), "http://offline.invalid/");
  const path = u.pathname;
  if (!["GET", "HEAD"].includes(String(method || "GET").toUpperCase())) return refuse(403, words("offline.readonly"));
  const number = (name, fallback) => {
    const n = Number(u.searchParams.get(name));
    return Number.isFinite(n) && u.searchParams.has(name) ? n : fallback;
  };
  if (path === "/api/state") return ok(state());
  if (path === "/api/layout") {
    const found = layout(number("width", 1200), number("height", 640));
    return found ? ok(found) : refuse(404, words("offline.notsaved"));
  }
  if (path === "/api/events") return ok(eventsAfter(number("since", 0), Math.max(1, number("limit", 1000))));
  const lang = path.match(/^\/api\/i18n\/([a-z]{2,3})$/);
  if (lang) {
    const table = (DATA.i18n || {})[lang[1]];
    return table ? ok({lang: lang[1], ui: table}) : refuse(404, words("offline.notsaved"));
  }
  if (DATA.extra && Object.prototype.hasOwnProperty.call(DATA.extra, path)) return ok(DATA.extra[path]);
  return refuse(404, words("offline.notsaved"));
}
