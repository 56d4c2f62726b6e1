// details.js — what the selected hop (or node, or mailbox) is: explanation in the chosen language,
// the DNS question and answer, the real dialogue with what each reply code means, the layers under
// it (TCP, IP, TLS) and the credentials a listener on the wire would read, and the message as it
// was at that hop.  A clicked node shows its card (nodeinfo.js), a mailbox its messages, a message
// its text and, for a bounce, its delivery report (letter.js).  Every string that comes from mail
// is inserted as text (dom.h).
//
// Privacy: a mailbox is read only by the teacher or by its owner logged in to the webmail (the API
// answers 403 to anybody else); the panel then says so calmly and links to the webmail.  The hops'
// transcripts stay visible to all: what crosses the wire in the clear is the lesson.  A hop the
// webmail made (its TCP client is the webmail's source address) says "webmail" beside its ends.
//
// At projector size the selected hop's dialogue must be on screen with its explanation: the
// explanation is held to a few lines (a "more" button opens the rest) and the dialogue follows it.
// A dialogue stepped line by line (model.js, Dialogues) shows its lines so far, the newest marked.

import {h, clear, clockTime, rich as richText} from "./dom.js";
import {t, rich, lang} from "./i18n.js";
import {STATUS_ICON, CUT, TLS_HIDDEN, statusOf, protocolOf, messageAt, retrievalStyle, byWebmail} from "./model.js";
import {kindLabel, protocolName, words} from "./labels.js";
import {meaning, rcodeMeaning} from "./codes.js";
import {endName} from "./ends.js";
import {hopLines, insideTls, credentials, layersOf} from "./wire.js";
import {nodeCard, hostByAddress} from "./nodeinfo.js";
import {letter} from "./letter.js";
import * as api from "./api.js";

const mailboxPath = (address, key) => `/api/mailbox/${encodeURIComponent(address)}/${encodeURIComponent(key)}`;
const TABS = {transcript: "details.transcript", message: "details.message", layers: "details.layers"};
const WEBMAIL_PAGE = "/webmail";

export class Details {
  constructor({root, empty, body}, {teacher, onFollow, onHost, onHop, onNode, notify, context}) {
    this.root = root;
    this.emptyEl = empty;
    this.body = body;
    this.teacher = teacher;
    this.onFollow = onFollow;
    this.onHost = onHost;
    this.onHop = onHop;               // a hop picked in a node's card: (seq)
    this.onNode = onNode;             // a node named in a card: (id)
    this.notify = notify;
    this.context = context || (() => ({}));   // {world, listeners, webmail}: what the layers name addresses with
    this.view = null;
    this.tab = "transcript";
    this.revealed = new Set();        // credential lines shown decoded ("seq:index")
    this.longOpen = false;            // the explanation shown whole
    // Where the panel (a node's card) and its body (a hop's dialogue) are scrolled, kept from their
    // scroll events: reading or setting scrollTop makes the browser lay the page out at once, and
    // during a burst the panel shows a new hop several times a second.
    this.rootTop = 0;
    this.bodyTop = 0;
    root.addEventListener("scroll", () => { this.rootTop = root.scrollTop; }, {passive: true});
    body.addEventListener("scroll", () => { this.bodyTop = body.scrollTop; }, {passive: true});
  }

  rerender() {
    if (!this.view) return;
    const {type, args} = this.view;
    if (type === "hop") this.showHop(...args);
    else if (type === "node") this.showNode(...args);
    else if (type === "mailbox") this.showMailbox(...args);
    else if (type === "mail") this.showMail(...args);
  }

  reset() {
    this.view = null;
    clear(this.body);
    this.body.hidden = true;
    this.emptyEl.hidden = false;
  }

  // The same view drawn again keeps the panel where it was scrolled; another one starts at the top.
  // The body (a hop's dialogue scrolls there) starts at the top either way.  Only a scroller that is
  // not where it must be is moved (see rootTop).
  open(type, args) {
    const same = this.view && this.view.type === type && this.view.args[0] === args[0];
    const top = same ? this.rootTop : 0;
    if (!same) this.longOpen = false;
    this.view = {type, args};
    clear(this.body);
    this.body.hidden = false;
    this.emptyEl.hidden = true;
    this.root.dataset.view = type;
    if (this.rootTop !== top) this.root.scrollTop = this.rootTop = top;
    if (this.bodyTop !== 0) this.body.scrollTop = this.bodyTop = 0;
  }

  // -- one hop ------------------------------------------------------------------------------------
  showHop(event, ctx) {
    const prev = this.view?.type === "hop" ? this.view.args[0] : null;
    const group = ctx.dialogues?.groupOf(event) || null;
    const sameHop = prev && (prev.seq === event.seq || (group && ctx.dialogues.groupOf(prev) === group));
    if (!sameHop) this.longOpen = false;
    this.open("hop", [event, ctx]);
    this.root.dataset.hop = String(event.seq);
    this.root.dataset.kind = event.kind;
    const st = statusOf(event);
    const following = ctx.following === event.trace;
    const traceInfo = event.trace ? ctx.traces.info.get(event.trace) : null;
    const live = event.kind === "smtp.line";
    const head = h("div", {class: "hop-head"},
      h("div", {class: "hop-title"},
        h("span", {class: `chip status-${st}`}, live ? `… ${t("details.going")}` : `${STATUS_ICON[st]} ${t(`status.${st}`)}`),
        h("span", {class: "hop-kind"}, kindLabel(event))),
      h("div", {class: "hop-path"}, `${endName(event, event.src)}  →  ${endName(event, event.dst)}`,
        byWebmail(event, this.context().webmail) ? h("span", {class: "webmail-tag", title: t("class.webmail.hint")}, t("class.webmail.tag")) : null),
      h("div", {class: "hop-meta"},
        h("span", {}, `#${event.seq}`), h("span", {}, clockTime(event.ts)), h("span", {}, protocolName(protocolOf(event))),
        traceInfo ? h("span", {class: "hop-trace", title: traceTitle(traceInfo)}, ...traceLabel(traceInfo)) : null,
        event.trace ? this.followButton(event.trace, following) : null));
    const said = words(event);
    const [explain, more] = this.explanation(said.explain || said.summary);
    head.firstChild.append(more);
    this.body.append(head, explain);
    const style = retrievalStyle(event);
    if (style) this.body.append(h("p", {class: "explain explain-short"}, rich(`retrieval.${style}`)));
    if (String(event.kind).startsWith("dns.") && event.data) this.body.append(this.dnsBox(event.data));

    const hop = this.hopDialogue(event, ctx, group);
    const panels = {
      transcript: () => this.transcript(event, hop),
      message: () => this.message(event, ctx),
      layers: () => this.layers(event, hop),
    };
    const tabs = h("div", {class: "tabs", role: "tablist"});
    const panel = h("div", {class: "tab-panel", role: "tabpanel", tabindex: 0});
    const draw = () => {
      for (const b of tabs.children) b.setAttribute("aria-selected", String(b.dataset.tab === this.tab));
      clear(panel);
      panel.dataset.tab = this.tab;
      panel.append(panels[this.tab]());
    };
    for (const name of Object.keys(panels)) {
      const b = h("button", {type: "button", class: "tab", role: "tab", "data-tab": name}, t(TABS[name]));
      b.addEventListener("click", () => { this.tab = name; draw(); });
      tabs.append(b);
    }
    this.body.append(tabs, panel);
    draw();
    if (live) panel.querySelector("li.newest")?.scrollIntoView({block: "nearest"});
  }

  // The explanation, held to a few lines at projector size (a scroll box); the button beside the
  // hop's title shows it whole.  Returns [the explanation, the button].
  explanation(text) {
    const p = h("p", {class: `explain${this.longOpen ? " open" : ""}`, id: "hop-explain", tabindex: 0, "data-lang": lang()}, richText(text, {terms: true}));
    const more = h("button", {type: "button", class: "btn btn-small more", "aria-expanded": String(this.longOpen),
      "aria-controls": "hop-explain", hidden: true}, t(this.longOpen ? "details.less" : "details.more"));
    more.addEventListener("click", () => {
      this.longOpen = !this.longOpen;
      p.classList.toggle("open", this.longOpen);
      more.setAttribute("aria-expanded", String(this.longOpen));
      more.textContent = t(this.longOpen ? "details.less" : "details.more");
    });
    const wrap = h("div", {class: "explain-wrap"}, p);
    // Whether it overflows is known once it is laid out: a ResizeObserver is told then, right after
    // the browser's own layout (asking from a requestAnimationFrame would make it lay out once more).
    const seen = new ResizeObserver(() => {
      seen.disconnect();
      more.hidden = !this.longOpen && p.scrollHeight <= p.clientHeight + 2;
    });
    seen.observe(p);
    return [wrap, more];
  }

  // The hop's dialogue: its own transcript, or the lines of its dialogue stepped line by line.
  hopDialogue(event, ctx, group) {
    let parts = [event];
    let newest = -1;
    if (group && event.kind === "smtp.line") {
      parts = group.lines.filter((l) => l.seq <= event.seq);
    } else if (group && group.session === event) {
      parts = [event, ...group.lines.filter((l) => l.seq > event.seq)];
    }
    const joined = hopLines(parts);
    if (event.kind === "smtp.line") newest = joined.lines.length - (event.transcript || []).length;
    return {...joined, newest, parts};
  }

  followButton(trace, following) {
    const b = h("button", {type: "button", class: "btn btn-small"}, t(following ? "details.unfollow" : "details.follow"));
    b.addEventListener("click", () => this.onFollow(following ? "" : trace));
    return b;
  }

  dnsBox(data) {
    const box = h("section", {class: "dns-box"}, h("h4", {}, t("details.dns")));
    box.append(h("div", {}, `${t("dns.question")}: `, h("code", {class: "dns-q"}, String(data.question || "?"))));
    const answers = Array.isArray(data.answers) ? data.answers : [];
    const all = h("ul", {class: "dns-answers dns-all"});
    for (const a of answers) all.append(h("li", {}, h("code", {}, String(a))));
    if (!answers.length) all.append(h("li", {}, t("dns.noAnswer")));
    box.append(h("div", {}, `${t("dns.answer")}:`), all);
    const order = Array.isArray(data.order) ? data.order : [];
    if (order.length) {
      const list = h("ol", {class: "dns-answers dns-kept"});
      order.forEach((o, i) => list.append(h("li", {class: i === 0 ? "chosen" : ""},
        `MX ${o.preference} ${o.host}`, Array.isArray(o.addresses) && o.addresses.length ? `  (${o.addresses.join(", ")})` : "",
        h("span", {class: "pick"}, i === 0 ? `← ${t("dns.chosen")}` : `${t("dns.then")} ${i + 1}`))));
      box.append(h("div", {}, `${t("dns.kept")}:`), list);
    }
    if (data.rcode) {
      box.append(h("div", {}, `${t("dns.rcode")}: `, h("code", {class: "rcode"}, String(data.rcode)),
        " — ", richText(rcodeMeaning(data.rcode))));
    }
    return box;
  }

  transcript(event, hop) {
    const {lines, marked, tlsFrom, newest} = hop;
    if (!lines.length) return h("p", {class: "empty"}, t("details.noTranscript"));
    const wrap = h("div", {class: "dialogue"});
    // Retrieval hops run mailbox -> MUA, but the MUA is the client and the IMAP/POP3 server the server.
    const server = event.data && typeof event.data.server === "string" ? event.data.server : "";
    const [client, serverName] = server ? [event.dst, server] : [event.src, event.dst];
    const ctx = this.context();
    const layers = layersOf(event, lines, ctx.listeners || [], tlsFrom);
    // Who is the client and who the server, when the hop's arrow does not say it (retrieval), and TLS.
    wrap.append(h("p", {class: "hop-meta dialogue-ends"},
      server ? `${t("details.client")}: ${endName(event, client)} · ${t("details.server")}: ${endName(event, serverName)} · ` : null,
      this.layerStrip(layers)));
    const inside = insideTls(lines, tlsFrom, layers.tls === "implicit");
    const creds = credentials(lines, marked, inside);
    const list = h("ol", {class: "transcript"});
    let plainCount = 0, hidden = 0;
    lines.forEach((pair, i) => {
      const side = Array.isArray(pair) ? pair[0] : "";
      const line = String(Array.isArray(pair) ? pair[1] : pair);
      if (side === CUT) {            // the simulator cut a long body here: how many lines it left out
        list.append(h("li", {class: "note cut"}, h("span", {class: "side-label"}, t("details.note")),
          h("span", {class: "line"}, t("transcript.cut", {n: Number(line) || 0}))));
        return;
      }
      if (side === TLS_HIDDEN) {     // a viewer's page: what TLS hid from the network, hidden here too
        list.append(h("li", {class: "note tls-hidden"}, h("span", {class: "side-label"}, "🔒"),
          h("span", {class: "line"}, t("transcript.tlsHidden", {n: Number(line) || 0}))));
        return;
      }
      if (inside[i] && !inside[i - 1] && i > 0) {      // where STARTTLS took effect: a listener reads no more
        list.append(h("li", {class: "note tls-from"}, h("span", {class: "side-label"}, "🔒"),
          h("span", {class: "line"}, ...rich("wire.tlsFrom"))));
      }
      const cls = side === "C" ? "c" : side === "S" ? "s" : "note";
      const li = h("li", {class: `${cls === "s" ? `s code-${line[0]}` : cls}${i >= newest && newest >= 0 ? " newest" : ""}${inside[i] ? " tls" : ""}`,
        "data-line": i},
      h("span", {class: "side-label"}, t(cls === "c" ? "details.client" : cls === "s" ? "details.server" : "details.note")),
      h("code", {class: "line"}, line));
      // A multi-line reply ("250-...") is explained once, on its last line.
      if (cls === "s" && !/^\d{3}-/.test(line)) {
        const m = meaning(line);
        if (m) li.append(h("span", {class: "meaning"}, richText(m)));
      }
      const cred = creds.get(i);
      if (cred && side === "C") {
        li.classList.add("auth");
        if (cred.hidden_by) hidden++; else plainCount++;
        li.append(this.credential(event, i, cred));
      }
      list.append(li);
    });
    wrap.append(list);
    if (plainCount) wrap.append(h("p", {class: "wire-warning", role: "note"}, rich("wire.clear")));
    else if (hidden) wrap.append(h("p", {class: "wire-safe", role: "note"}, rich("wire.hidden")));
    return wrap;
  }

  // A credential line: what a listener reads, on request; or which TLS hid it.
  credential(event, i, cred) {
    const box = h("div", {class: "cred"});
    if (cred.hidden_by) {
      box.append(h("span", {class: "cred-tag hidden"}, "🔒 ", rich(cred.hidden_by === "implicit" ? "wire.hiddenBy.implicit" : "wire.hiddenBy.starttls")));
      return box;
    }
    const key = `${event.seq}:${i}`;
    const open = this.revealed.has(key);
    const b = h("button", {type: "button", class: "btn btn-small cred-show", "aria-expanded": String(open)},
      "🔓 ", t(open ? "wire.hide" : "wire.show"));
    const read = h("div", {class: "cred-read", hidden: !open});
    const parts = [];
    if (cred.decoded) parts.push([t("wire.decoded"), h("code", {}, cred.decoded)]);
    if (cred.user) parts.push([t("wire.user"), h("code", {}, cred.user)]);
    if (cred.password) parts.push([t("wire.password"), h("code", {class: "password"}, cred.password)]);
    read.append(h("span", {class: "cred-head"}, t("wire.reads")), ...parts.map(([k, v]) => h("span", {class: "cred-part"}, `${k}: `, v)));
    b.addEventListener("click", () => {
      const now = !this.revealed.has(key);
      if (now) this.revealed.add(key); else this.revealed.delete(key);
      read.hidden = !now;
      b.setAttribute("aria-expanded", String(now));
      b.lastChild.textContent = t(now ? "wire.hide" : "wire.show");
    });
    box.append(h("span", {class: "cred-tag clear"}, h("code", {}, cred.mechanism), " — ", t("wire.inClear")), b, read);
    return box;
  }

  // Above the dialogue: TLS on or off (the Layers tab says more).
  layerStrip(layers) {
    if (!layers.known) return null;
    return h("span", {class: `tls-tag tls-${layers.tls || "off"}`}, rich(`layers.tls.${layers.tls || "off"}.short`));
  }

  // The layers under the hop, top to bottom: application, transport (TCP/UDP, TLS), network (IP).
  layers(event, hop) {
    const ctx = this.context();
    const L = layersOf(event, hop.lines, ctx.listeners || [], hop.tlsFrom);
    const wrap = h("div", {class: "layers"});
    const who = (ip) => {
      if (!ip) return "";
      const host = hostByAddress(ctx.world, ip);
      if (host) return host.name;
      return ip === "127.0.0.1" ? t("layers.thisComputer") : "";
    };
    const layer = (name, title, ...rows) => h("section", {class: `layer layer-${name}`, "data-layer": name},
      h("h4", {}, ...[title].flat()), ...rows);
    const proto = protocolName(protocolOf(event));
    wrap.append(layer("app", [t("layers.app"), " ", h("code", {}, proto)],
      h("p", {}, hop.lines.length ? t("layers.app.lines", {n: hop.lines.length, protocol: proto}) : t("layers.app.none"))));
    if (!L.known) {
      wrap.append(h("p", {class: "hint"}, t("layers.unknown")));
      return wrap;
    }
    const port = (x) => (x.port ? String(x.port) : "?");
    const tcpRows = [
      h("p", {}, t("layers.ports", {client: port(L.client), server: port(L.server)}),
        L.service ? [" ", h("span", {class: "muted"}, `(${t(`service.${L.service}`)})`)] : null),
      L.made === false ? h("p", {class: "state-down"}, t("layers.notMade")) : null,
      h("p", {class: `tls-line tls-${L.tls || "off"}`}, h("span", {class: `tls-tag tls-${L.tls || "off"}`}, rich(`layers.tls.${L.tls || "off"}.short`)), " ",
        rich(`layers.tls.${L.tlsText}`, {version: L.tlsVersion || "TLS"})),
    ];
    wrap.append(layer("tcp", rich(L.transport === "UDP" ? "layers.udp" : "layers.tcp"), ...tcpRows));
    const name = (ip) => { const n = who(ip); return n ? ` (${n})` : ""; };
    wrap.append(layer("ip", rich("layers.ip"),
      h("p", {}, h("code", {}, L.client.ip || "?"), name(L.client.ip), " → ", h("code", {}, L.server.ip || "?"), name(L.server.ip)),
      h("p", {class: "hint"}, rich("layers.ip.sandbox"))));
    if (!L.fromFact) wrap.append(h("p", {class: "hint"}, t("layers.partial")));
    return wrap;
  }

  message(event, ctx) {
    const found = messageAt(ctx.events, ctx.index);
    const wrap = h("div", {});
    if (!found) {
      wrap.append(h("p", {class: "empty"}, t("message.none")));
    } else {
      const m = found.message;
      if (!found.own) wrap.append(h("p", {class: "hop-meta"}, t("message.asSeen", {seq: found.seq})));
      const rcpt = Array.isArray(m.rcpt) ? m.rcpt.map(String).join(", ") : "";
      wrap.append(h("div", {class: "envelope-grid"},
        h("section", {}, h("h4", {}, t("message.envelope")),
          kv([[rich("message.mailFrom"), `<${m.from || ""}>`], [rich("message.rcptTo"), rcpt]])),
        h("section", {}, h("h4", {}, t("message.headers")),
          kv([[rich("message.from"), m.header_from || ""], [rich("message.to"), m.header_to || ""],
            [rich("message.subject"), m.subject || ""], [rich("message.id"), m.id || ""]]))));
      const received = Array.isArray(m.received) ? m.received : [];
      if (received.length) {
        const fresh = found.own && event.kind === "smtp.session" && event.status === "ok";
        const list = h("ol", {class: "received", reversed: true});
        received.forEach((r, i) => list.append(h("li", {class: fresh && i === 0 ? "new" : ""},
          h("code", {}, `Received: ${String(r).replace(/\s+/g, " ")}`),
          fresh && i === 0 ? h("span", {class: "tag"}, t("message.receivedNew")) : null)));
        wrap.append(h("h4", {}, rich("message.received")), list);
      }
    }
    if (event.kind === "mda.deliver" && event.data && typeof event.data.path === "string" &&
        String(event.dst).startsWith("mailbox:")) {
      const address = event.dst.slice(8);
      const key = event.data.path.split("/").pop().split(":")[0];
      const b = h("button", {type: "button", class: "btn"}, t("message.open"));
      b.addEventListener("click", () => this.showMail(address, key));
      wrap.append(b);
    }
    return wrap;
  }

  // -- a node of the diagram ------------------------------------------------------------------------
  // info: see nodeinfo.js.  A mailbox is shown with its messages.
  showNode(id, info) {
    if (String(id).startsWith("mailbox:")) { this.showMailbox(id.slice(8)); return; }
    this.open("node", [id, info]);
    this.root.dataset.node = id;
    this.body.append(nodeCard(id, typeof info === "function" ? info() : info, {
      onHop: (seq) => this.onHop?.(seq), onNode: (node) => this.onNode?.(node),
      onHost: (name, up) => this.onHost(name, up),
    }));
  }

  // -- a mailbox and its messages -----------------------------------------------------------------
  async showMailbox(address) {
    this.open("mailbox", [address]);
    const card = h("section", {class: "card node-card", "data-node": `mailbox:${address}`},
      h("h3", {}, t("mailbox.title", {address})), h("p", {class: "hint"}, t("mailbox.what")));
    const list = h("ul", {class: "mail-list"}, h("li", {}, t("mailbox.loading")));
    card.append(list);
    this.body.append(card);
    try {
      const data = await api.get(`/api/mailbox/${encodeURIComponent(address)}`);
      if (this.view?.type !== "mailbox" || this.view.args[0] !== address) return;
      clear(list);
      if (!data.messages.length) list.append(h("li", {}, t("mailbox.empty")));
      for (const m of [...data.messages].reverse()) {
        const li = h("li", {tabindex: 0, "data-key": m.key, "data-report": m.report ? "yes" : null},
          h("div", {class: "subject"}, m.subject || "—", m.report ? h("span", {class: "tag"}, t("mailbox.report")) : null),
          h("div", {class: "muted"}, `${m.from} · ${m.date}`));
        li.addEventListener("click", () => this.showMail(address, m.key));
        list.append(li);
      }
    } catch (err) {
      if (this.view?.type !== "mailbox" || this.view.args[0] !== address) return;
      clear(list);
      if (err.status === 403) list.replaceWith(locked(address));
      else list.append(h("li", {class: "state-down"}, err.message));
    }
  }

  async showMail(address, key) {
    this.open("mail", [address, key]);
    const card = h("section", {class: "card"}, h("h3", {}, t("mailbox.title", {address})), h("p", {}, t("mailbox.loading")));
    this.body.append(card);
    let m;
    try {
      m = await api.get(mailboxPath(address, key));
    } catch (err) {
      clear(card);
      if (err.status === 403) card.replaceWith(locked(address));
      else card.append(h("p", {class: "state-down"}, err.status === 404 ? t("message.gone") : err.message));
      return;
    }
    if (this.view?.type !== "mail" || this.view.args[1] !== key) return;
    const back = h("button", {type: "button", class: "btn btn-small back"}, `← ${t("mailbox.title", {address})}`);
    back.addEventListener("click", () => this.showMailbox(address));
    const base = mailboxPath(address, key);
    card.replaceWith(h("div", {class: "card-back"}, back), letter(m, {htmlSrc: m.has_html ? `${base}/html` : null, base}));
  }
}

// A mailbox this browser may not read: only its owner, logged in to the webmail, and the teacher may.
function locked(address) {
  return h("div", {class: "mailbox-locked", role: "note", "data-locked": address},
    h("p", {}, t("class.mailbox.locked")),
    h("a", {class: "btn btn-primary", href: WEBMAIL_PAGE}, t("class.mailbox.login")),
    h("p", {class: "hint"}, rich("class.mailbox.wire")));
}

// A message by its subject (a header's value: protocol text); the sender and recipients in its title.
function traceLabel(info) {
  const to = info.rcpt.length ? info.rcpt.join(", ") : "?";
  return info.subject ? [h("code", {class: "subject"}, info.subject)] : [`${info.from || "<>"} → ${to}`];
}

function traceTitle(info) {
  const to = info.rcpt.length ? info.rcpt.join(", ") : "?";
  return `${info.subject ? `“${info.subject}” ` : ""}${info.from || "<>"} → ${to}`;
}

// Label -> value rows; a value that is not a node is a header's or the envelope's text: code.
function kv(pairs) {
  const dl = h("dl", {class: "kv"});
  for (const [k, v] of pairs) dl.append(h("dt", {}, k), h("dd", {class: "mono"}, v instanceof Node ? v : h("code", {}, String(v ?? ""))));
  return dl;
}
