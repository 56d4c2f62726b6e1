// wire.js — what a hop looks like below its dialogue, and what a listener on the wire would read.
// No DOM here: details.js draws it.
//
// Layers (as Packet Tracer shows them, but from the real sockets): the application dialogue, then
// TCP (or UDP for a DNS question: the client's port -> the server's port, TLS on or off and since
// when), then IP (the sandbox addresses 127.42.d.h; 127.0.0.1 is the front door).  The simulator
// puts them in the fact: data.wire (facts.base.Wire).  A hop without it (an older log) shows what
// its fact still tells: the peer's address and the server's port.
//
// Credentials: in a plaintext session AUTH PLAIN / AUTH LOGIN (RFC 4954, RFC 4616), POP3 USER/PASS
// (RFC 1939) and IMAP LOGIN / AUTHENTICATE (RFC 9051 §6.2) carry the password as text or base64:
// anyone on the path reads it.  The fact marks those lines (data.credentials: facts.base.Credential,
// the index of the line in that fact's transcript, what it decodes to, or which TLS hid it); a
// dialogue stepped line by line is several facts, so hopLines() joins their transcripts and moves
// the indexes along.  Without the marking (an older log) credentials are found and decoded here.

import {wireOf} from "./model.js";

export const HIDDEN = "********";

// A hop's transcript and its marked credentials: one fact's, or a dialogue's lines joined.
// parts: the facts whose transcripts make the hop, in order.
export function hopLines(parts) {
  const lines = [];
  const marked = new Map();
  let tlsFrom = null;
  for (const part of parts) {
    const own = Array.isArray(part.transcript) ? part.transcript : [];
    const base = lines.length;
    for (const c of part.data?.credentials || []) {
      if (c && Number.isInteger(c.line)) marked.set(base + c.line, c);
    }
    const wire = wireOf(part);
    if (tlsFrom === null && wire && Number.isInteger(wire.tls_from)) tlsFrom = base + wire.tls_from;
    lines.push(...own);
  }
  return {lines, marked, tlsFrom};
}

// Which lines of a transcript were inside TLS: from `tlsFrom` on (the fact's word), else after a
// "STARTTLS"/"STLS" and the server's yes.
export function insideTls(lines, tlsFrom = null, implicit = false) {
  if (implicit) return lines.map(() => true);
  if (Number.isInteger(tlsFrom)) return lines.map((_, i) => i >= tlsFrom);
  const inside = [];
  let on = false, asked = false;
  for (const pair of lines) {
    const [side, text] = Array.isArray(pair) ? pair : ["", String(pair)];
    inside.push(on);
    if (side === "C" && /^(?:\S+ )?(STARTTLS|STLS)\s*$/i.test(String(text))) asked = true;
    else if (side === "S" && asked) {
      if (/^(220[ -]|\+OK|\S+ OK)/.test(String(text))) on = true;
      asked = false;
    }
  }
  return inside;
}

// Credentials in a transcript: index -> {mechanism, decoded, user, password, hidden_by, carries}.
// `marked` (from the facts) wins; lines it does not cover are looked at here.
export function credentials(lines, marked = new Map(), inside = []) {
  const found = new Map(marked);
  if (marked.size) return found;
  let login = null;                         // an AUTH waiting for its continuation lines
  let user = "";
  lines.forEach((pair, i) => {
    if (!Array.isArray(pair)) return;
    const [side, raw] = pair;
    const text = String(raw);
    if (side === "S") {
      if (login && !/^(334|\+)( |$)/.test(text)) login = null;
      return;
    }
    if (side !== "C") return;
    const hidden = inside[i] || text.includes(HIDDEN) ? "tls" : "";
    if (login) {
      if (text === "*") { login = null; return; }
      const decoded = hidden ? "" : b64(text);
      const [u, p] = login.mechanism === "PLAIN" ? plainParts(decoded)
        : login.step === 0 ? [decoded, ""] : ["", decoded];
      found.set(i, cred(login.mechanism, decoded, u, p, hidden, u && p ? "both" : u ? "user" : "password"));
      if (login.mechanism === "LOGIN" && login.step === 0) login.step = 1; else login = null;
      return;
    }
    let m = /^(?:(\S+) )?(AUTH|AUTHENTICATE) (PLAIN|LOGIN)(?: (\S+))?\s*$/i.exec(text);
    if (m) {
      const mechanism = m[3].toUpperCase();
      if (m[4] && m[4] !== "=") {
        const decoded = hidden ? "" : b64(m[4]);
        const [u, p] = mechanism === "PLAIN" ? plainParts(decoded) : [decoded, ""];
        found.set(i, cred(mechanism, decoded, u, p, hidden, mechanism === "PLAIN" ? "both" : "user"));
        login = mechanism === "LOGIN" ? {mechanism, step: 1} : null;
      } else {
        login = {mechanism, step: 0};
      }
      return;
    }
    if ((m = /^USER (.+)$/i.exec(text))) { user = m[1].trim(); found.set(i, cred("USER", "", user, "", hidden, "user")); return; }
    if ((m = /^PASS (.+)$/i.exec(text))) { found.set(i, cred("PASS", "", user, hidden ? "" : m[1], hidden, "password")); return; }
    if ((m = /^\S+ LOGIN (\S+) (.+)$/i.exec(text))) {
      found.set(i, cred("IMAP LOGIN", "", unquote(m[1]), hidden ? "" : unquote(m[2]), hidden, "both"));
    }
  });
  return found;
}

const cred = (mechanism, decoded, user, password, hiddenBy, carries) =>
  ({mechanism, decoded: decoded || "", user: user || "", password: password || "", hidden_by: hiddenBy, carries});

function b64(text) {
  const s = String(text).trim();
  if (!/^[A-Za-z0-9+/]+={0,2}$/.test(s) || s.length % 4) return "";
  try {
    const bytes = Uint8Array.from(atob(s), (c) => c.charCodeAt(0));
    return new TextDecoder("utf-8").decode(bytes).replaceAll("\u0000", "␀");
  } catch (_) { return ""; }
}

// RFC 4616: [authzid] NUL authcid NUL passwd (NUL shown as "␀")
function plainParts(decoded) {
  const parts = String(decoded || "").split("␀");
  return parts.length === 3 ? [parts[1], parts[2]] : ["", ""];
}

const unquote = (s) => (/^".*"$/.test(s) ? s.slice(1, -1).replace(/\\(["\\])/g, "$1") : s);

// The layers of a hop: {transport, client: {ip, port}, server: {ip, port}, tls, tlsVersion, made, fromFact}.
// listeners: the world's listener table (GET /api/state), to name the server's service.
export function layersOf(event, lines, listeners = [], tlsFrom = null) {
  const wire = wireOf(event);
  const data = event.data || {};
  const client = {ip: wire?.client || "", port: wire?.client_port || 0};
  const server = {ip: wire?.server || "", port: wire?.server_port || 0};
  if (!wire) {
    if (typeof data.peer === "string" && data.peer !== "?") client.ip = data.peer;
    if (Number.isInteger(data.port) && data.port > 0) server.port = data.port;
    const host = typeof data.host === "string" ? data.host : "";
    const found = server.port ? listeners.find((l) => l.port === server.port && (l.host === host || l.host === "front")) : null;
    if (found) server.ip = found.address;
  }
  const service = server.port ? (listeners.find((l) => l.port === server.port && (!server.ip || l.address === server.ip))?.service || "") : "";
  let tls = wire ? String(wire.tls || "") : "";
  if (!wire && /^(smtps|imaps|pop3s)$/.test(service)) tls = "implicit";
  if (!tls && insideTls(lines, tlsFrom).some(Boolean)) tls = "starttls";
  // STARTTLS with every line of this hop under TLS: it came earlier on the connection (a reused
  // relay session, or a later command of a retrieval session), not in these lines.
  const tlsText = tls === "starttls" && tlsFrom === 0 ? "starttls.before" : (tls || "off");
  return {
    transport: String(wire?.transport || (event.protocol === "DNS" ? "udp" : "tcp")).toUpperCase(),
    client, server, service, tls, tlsText, tlsVersion: wire?.tls_version || "",
    made: wire ? wire.client_port > 0 : null,
    fromFact: !!wire,
    known: !!(client.ip || server.ip || server.port),
  };
}
