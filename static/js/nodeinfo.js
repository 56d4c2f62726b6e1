// nodeinfo.js — what a clicked node of the diagram is, for the details panel (details.js shows it).
//
// One card per kind of node: a mail client (MUA) shows its user, the servers it uses and its recent
// hops; a server (mta:) its role, address, state, the ports it listens on, its queue (each entry's
// next attempt) and the faults set on it; the DNS server its zones (MX and A records as it answers
// them now); the front door its ports and how it routes by login; a delivery agent, an IMAP or POP3
// server their domain's mailboxes.  A mailbox's card is details.showMailbox (its messages).
//
// info: {world, users, listeners, queue, faults, state (model's world at this moment), hops (events
// that touch the node, newest first), teacher}; handlers: {onHop(seq), onNode(id), onHost(name, up)}.

import {h} from "./dom.js";
import {t, rich} from "./i18n.js";
import {STATUS_ICON, statusOf, protocolOf} from "./model.js";
import {kindLabel, protocolName} from "./labels.js";
import {pathText, nodeTitle} from "./ends.js";
import {faultLabel} from "./faults.js";
import {clockTime} from "./dom.js";

const kindOf = (id) => { const s = String(id); const i = s.indexOf(":"); return i < 0 ? s : s.slice(0, i); };
const rest = (id) => { const s = String(id); return s.slice(s.indexOf(":") + 1); };
const HOPS_SHOWN = 6;

export function nodeCard(id, info, handlers) {
  const kind = kindOf(id);
  const card = h("section", {class: "card node-card", "data-node": id, "data-node-kind": kind});
  const build = {mua: client, mta: server, dns, front, outside, mda: agent, imap: store, pop3: store, domain}[kind];
  if (!build) { card.append(h("h3", {}, nodeTitle(id))); return card; }
  build(card, id, info, handlers);
  return card;
}

// -- pieces ---------------------------------------------------------------------------------------
function kv(pairs) {
  const dl = h("dl", {class: "kv"});
  for (const [k, v] of pairs) {
    if (v === null || v === undefined || v === "") continue;
    dl.append(h("dt", {}, k), h("dd", {}, v instanceof Node ? v : String(v)));
  }
  return dl;
}

function domainOf(world, name) {
  return (world?.domains || []).find((d) => d.name === name) || null;
}

function hostOf(world, name) {
  for (const d of world?.domains || []) for (const x of d.hosts) if (x.name === name) return x;
  return null;
}

function hostByAddress(world, address) {
  for (const d of world?.domains || []) for (const x of d.hosts) if (x.address === address) return x;
  return null;
}

// The hosts of a domain with a role ("msa", "mx").
const hostsWith = (domain, role) => (domain?.hosts || []).filter((x) => x.role === role);

function listenersTable(list) {
  if (!list.length) return h("p", {class: "hint"}, t("node.listeners.none"));
  const table = h("table", {class: "listeners"},
    h("thead", {}, h("tr", {}, h("th", {scope: "col"}, t("node.listeners.service")),
      h("th", {scope: "col"}, t("node.listeners.address")), h("th", {scope: "col"}, t("node.listeners.port")))));
  const body = h("tbody");
  for (const l of list) {
    body.append(h("tr", {"data-service": l.service},
      h("td", {}, t(`service.${l.service}`), h("span", {class: "service-id"}, ` ${l.service}`)),
      h("td", {}, h("code", {}, l.address)), h("td", {}, h("code", {}, String(l.port)))));
  }
  table.append(body);
  return table;
}

function recentHops(hops, handlers) {
  const section = h("section", {class: "recent"}, h("h4", {}, t("node.hops")));
  if (!hops.length) { section.append(h("p", {class: "hint"}, t("node.hops.none"))); return section; }
  const list = h("ol", {class: "recent-hops"});
  for (const e of hops.slice(0, HOPS_SHOWN)) {
    const st = statusOf(e);
    const b = h("button", {type: "button", class: `recent-hop status-${st}`, "data-seq": e.seq},
      h("span", {class: "icon", "aria-label": t(`status.${st}`)}, STATUS_ICON[st]),
      h("span", {class: "what"}, `${protocolName(protocolOf(e))} · ${kindLabel(e)}`),
      h("span", {class: "path"}, `${clockTime(e.ts)}  ${pathText(e)}`));
    b.addEventListener("click", () => handlers.onHop?.(e.seq));
    list.append(h("li", {}, b));
  }
  section.append(list);
  if (hops.length > HOPS_SHOWN) section.append(h("p", {class: "hint"}, t("node.hops.more", {n: hops.length - HOPS_SHOWN})));
  return section;
}

function nodeLink(id, label, handlers) {
  const b = h("button", {type: "button", class: "link-button", "data-goto": id}, label);
  b.addEventListener("click", () => handlers.onNode?.(id));
  return b;
}

function faultList(faults) {
  if (!faults.length) return null;
  return h("section", {class: "node-faults"}, h("h4", {}, t("node.faults")),
    h("ul", {}, faults.map((f) => h("li", {"data-fault": f.kind}, h("span", {class: "fault-mark", "aria-hidden": "true"}, "⚡ "), faultLabel(f)))));
}

// -- a mail client ---------------------------------------------------------------------------------
function client(card, id, info, handlers) {
  const address = rest(id);
  const user = (info.users || []).find((u) => u.address === address);
  const domainName = address.split("@").pop();
  const domain = domainOf(info.world, domainName);
  const msa = hostsWith(domain, "msa")[0];
  card.append(h("h3", {}, t("node.client.title", {address})),
    h("p", {class: "hint"}, rich("node.client.what")),
    kv([
      [t("node.client.user"), user?.name ? `${user.name} <${address}>` : address],
      [t("node.client.sends"), msa ? nodeLink(`mta:${msa.name}`, t("node.client.sendsVia", {host: msa.name}), handlers) : ""],
      [t("node.client.reads"), nodeLink(`mailbox:${address}`, t("end.mailbox", {address}), handlers)],
    ]));
  card.append(recentHops(info.hops, handlers));
}

// -- a server ----------------------------------------------------------------------------------------
function server(card, id, info, handlers) {
  const name = rest(id);
  const host = hostOf(info.world, name);
  const up = info.state?.hosts?.has(name) ? info.state.hosts.get(name) : host?.up !== false;
  const queue = (info.queue || []).filter((q) => q.host === name);
  card.append(h("h3", {}, t("host.title", {name})));
  card.append(kv([
    [t("host.role"), host ? t(`node.${host.role}`) : "?"],
    [t("host.address"), host?.address ? h("code", {}, host.address) : ""],
    [t("host.state"), h("span", {class: up ? "state-up" : "state-down"}, up ? t("world.up") : t("world.down"))],
  ]));
  if (info.teacher && host) {
    const b = h("button", {type: "button", class: up ? "btn btn-danger" : "btn btn-primary", "data-host": name},
      up ? t("world.takeDown") : t("world.bringUp"));
    b.addEventListener("click", () => handlers.onHost?.(name, !up));
    card.append(b);
  }
  card.append(h("h4", {}, t("node.listeners")),
    listenersTable((info.listeners || []).filter((l) => l.host === name)));
  card.append(h("h4", {}, t("node.queue.title", {n: queue.length})), queueList(queue));
  const faults = faultList((info.faults || []).filter((f) => f.node === id || f.target === name));
  if (faults) card.append(faults);
  card.append(recentHops(info.hops, handlers));
}

function queueList(entries) {
  if (!entries.length) return h("p", {class: "hint"}, t("node.queue.empty"));
  const list = h("ul", {class: "queue-list"});
  for (const q of entries.slice(0, 20)) {
    const rcpt = Array.isArray(q.rcpt) ? q.rcpt.join(", ") : "";
    const wait = Number(q.retry_in);
    const when = q.running ? t("node.queue.running")
      : Number.isFinite(wait) ? t("node.queue.retryIn", {s: Math.max(0, Math.round(wait))}) : "";
    list.append(h("li", {"data-queue-id": q.id},
      h("div", {}, h("code", {}, q.id), q.subject ? [" ", h("span", {class: "subject"}, `“${q.subject}”`)] : null),
      h("div", {class: "muted"}, `${q.from || "<>"} → ${rcpt}`),
      h("div", {class: "muted"}, t("node.queue.attempts", {n: Number(q.attempts) || 0}), when ? ` · ${when}` : "")));
  }
  return list;
}

// -- the DNS server: its zones ---------------------------------------------------------------------
function dns(card, id, info, handlers) {
  card.append(h("h3", {}, t("node.dns.title")), h("p", {class: "hint"}, rich("node.dns.what")));
  card.append(h("h4", {}, t("node.listeners")), listenersTable((info.listeners || []).filter((l) => l.service === "dns")));
  card.append(h("h4", {}, t("node.dns.zones")));
  const broken = (info.faults || []).filter((f) => f.kind === "servfail" || f.kind === "dns_timeout");
  for (const d of info.world?.domains || []) {
    const zone = h("section", {class: "zone", "data-zone": d.name}, h("h5", {}, h("code", {}, d.name)));
    const mx = info.state?.mx?.has(d.name) ? info.state.mx.get(d.name) : (d.mx || null);
    const records = h("ul", {class: "zone-records"});
    if (Array.isArray(mx) && mx.length === 1 && mx[0].host === "." && Number(mx[0].preference) === 0) {
      records.append(h("li", {}, h("code", {}, `${d.name}. MX 0 .`), " ", h("span", {class: "muted"}, t("node.dns.nullMx"))));
    } else if (Array.isArray(mx) && mx.length) {
      for (const r of mx) records.append(h("li", {}, h("code", {}, `${d.name}. MX ${r.preference} ${r.host}.`)));
    } else {
      records.append(h("li", {class: "muted"}, t("node.dns.noMx")));
    }
    if (d.address) records.append(h("li", {}, h("code", {}, `${d.name}. A ${d.address}`)));
    for (const x of d.hosts) records.append(h("li", {}, h("code", {}, `${x.name}. A ${x.address}`)));
    zone.append(records);
    const fault = broken.find((f) => f.target === d.name);
    if (fault) zone.append(h("p", {class: "state-down"}, "⚡ ", faultLabel(fault)));
    card.append(zone);
  }
  card.append(recentHops(info.hops, handlers));
}

// -- the front door and programs outside the sandbox -----------------------------------------------
function front(card, id, info, handlers) {
  card.append(h("h3", {}, t("node.front.title")), h("p", {class: "hint"}, rich("node.front.what")),
    h("h4", {}, t("node.listeners")), listenersTable((info.listeners || []).filter((l) => l.host === "front" && l.service !== "dns")));
  card.append(recentHops(info.hops, handlers));
}

function outside(card, id, info, handlers) {
  const peers = [...new Set(info.hops.map((e) => e.data?.peer).filter((p) => typeof p === "string" && p))];
  card.append(h("h3", {}, t("node.outside.title")), h("p", {class: "hint"}, rich("node.outside.what")));
  if (peers.length) card.append(kv([[t("node.outside.peers"), peers.join(", ")]]));   // (append(null) writes "null")
  card.append(recentHops(info.hops, handlers));
}

// -- a domain: its hosts, its MX table, its users' mailboxes ------------------------------------------
function domain(card, id, info, handlers) {
  const name = rest(id);
  const d = domainOf(info.world, name);
  card.append(h("h3", {}, t("node.domain.title", {domain: name})));
  if (!d) return;
  const hosts = h("ul", {class: "link-list"});
  for (const x of d.hosts) {
    hosts.append(h("li", {}, nodeLink(`mta:${x.name}`, x.name, handlers), " ",
      h("span", {class: "muted"}, `${t(`node.${x.role}`)} · `, h("code", {}, x.address))));
  }
  card.append(h("h4", {}, t("node.domain.hosts")), hosts);
  const mx = info.state?.mx?.has(name) ? info.state.mx.get(name) : d.mx;
  card.append(h("h4", {}, t("node.domain.mx")), h("ul", {class: "zone-records"},
    Array.isArray(mx) && mx.length ? mx.map((r) => h("li", {}, h("code", {}, `MX ${r.preference} ${r.host}`)))
      : [h("li", {class: "muted"}, t("node.dns.noMx"))]));
  card.append(mailboxes(info, name, handlers));
}

// -- a domain's delivery agent, IMAP or POP3 server: the mailboxes it serves -----------------------
function agent(card, id, info, handlers) {
  const domainName = rest(id);
  card.append(h("h3", {}, t("node.mda.title", {domain: domainName})), h("p", {class: "hint"}, rich("node.mda.what")));
  card.append(mailboxes(info, domainName, handlers));
  card.append(recentHops(info.hops, handlers));
}

function store(card, id, info, handlers) {
  const kind = kindOf(id);
  const domainName = rest(id);
  const domain = domainOf(info.world, domainName);
  const hosts = new Set(hostsWith(domain, "mx").map((x) => x.name));
  const services = kind === "imap" ? ["imap", "imaps"] : ["pop3", "pop3s"];
  const list = (info.listeners || []).filter((l) => services.includes(l.service) && (hosts.has(l.host) || l.host === "front"));
  card.append(h("h3", {}, t(`node.${kind}.title`, {domain: domainName})), h("p", {class: "hint"}, rich(`node.${kind}.what`)),
    h("h4", {}, t("node.listeners")), listenersTable(list), mailboxes(info, domainName, handlers));
  card.append(recentHops(info.hops, handlers));
}

function mailboxes(info, domainName, handlers) {
  const users = (info.users || []).filter((u) => u.address.endsWith(`@${domainName}`));
  const section = h("section", {}, h("h4", {}, t("node.mailboxes")));
  const list = h("ul", {class: "link-list"});
  for (const u of users) {
    const n = info.state?.mailboxes?.get(u.address) ?? 0;
    list.append(h("li", {}, nodeLink(`mailbox:${u.address}`, t("end.mailbox", {address: u.address}), handlers),
      " ", h("span", {class: "muted"}, t("node.mailbox.messages", {n}))));
  }
  section.append(list);
  return section;
}

export {hostByAddress};
