// details.js — what the selected hop (or server, or mailbox) is: explanation in the chosen language,
// the DNS question and answer, the real dialogue with what each reply code means, and the message
// as it was at that hop.  Every string that comes from mail is inserted as text (dom.h).

import {h, clear, clockTime, rich as richText} from "./dom.js";
import {t, rich, lang} from "./i18n.js";
import {STATUS_ICON, CUT, statusOf, protocolOf, messageAt, retrievalStyle} from "./model.js";
import {kindLabel, nodeName, protocolName, words, sizeText} from "./labels.js";
import {meaning, rcodeMeaning} from "./codes.js";
import * as api from "./api.js";

const mailboxPath = (address, key) => `/api/mailbox/${encodeURIComponent(address)}/${encodeURIComponent(key)}`;

export class Details {
  constructor({root, empty, body}, {teacher, onFollow, onHost, notify}) {
    this.root = root;
    this.emptyEl = empty;
    this.body = body;
    this.teacher = teacher;
    this.onFollow = onFollow;
    this.onHost = onHost;
    this.notify = notify;
    this.view = null;
    this.tab = "transcript";
  }

  rerender() {
    if (!this.view) return;
    const {type, args} = this.view;
    if (type === "hop") this.showHop(...args);
    else if (type === "host") this.showHost(...args);
    else if (type === "mailbox") this.showMailbox(...args);
    else if (type === "mail") this.showMail(...args);
  }

  reset() {
    this.view = null;
    clear(this.body);
    this.body.hidden = true;
    this.emptyEl.hidden = false;
  }

  open(type, args) {
    this.view = {type, args};
    clear(this.body);
    this.body.hidden = false;
    this.emptyEl.hidden = true;
  }

  // -- one hop ------------------------------------------------------------------------------------
  showHop(event, ctx) {
    this.open("hop", [event, ctx]);
    const st = statusOf(event);
    const following = ctx.following === event.trace;
    const traceInfo = event.trace ? ctx.traces.info.get(event.trace) : null;
    const head = h("div", {class: "hop-head"},
      h("div", {class: "hop-title"},
        h("span", {class: `chip status-${st}`}, `${STATUS_ICON[st]} ${t(`status.${st}`)}`),
        h("span", {}, kindLabel(event))),
      h("div", {class: "hop-path"}, `${endName(event, event.src)}  →  ${endName(event, event.dst)}`),
      h("div", {class: "hop-meta"},
        h("span", {}, `#${event.seq}`), h("span", {}, clockTime(event.ts)), h("span", {}, protocolName(protocolOf(event))),
        traceInfo ? h("span", {}, `${t("details.trace")}: `, traceLabel(traceInfo)) : null,
        event.trace ? this.followButton(event.trace, following) : null));
    const said = words(event);
    const explain = h("p", {class: "explain", "data-lang": lang()}, richText(said.explain || said.summary, {terms: true}));
    this.body.append(head, explain);
    const style = retrievalStyle(event);
    if (style) this.body.append(h("p", {class: "explain"}, rich(`retrieval.${style}`)));
    if (String(event.kind).startsWith("dns.") && event.data) this.body.append(this.dnsBox(event.data));

    const panels = {transcript: () => this.transcript(event), message: () => this.message(event, ctx)};
    const tabs = h("div", {class: "tabs", role: "tablist"});
    const panel = h("div", {class: "tab-panel", role: "tabpanel"});
    const draw = () => {
      for (const b of tabs.children) b.setAttribute("aria-selected", String(b.dataset.tab === this.tab));
      clear(panel);
      panel.append(panels[this.tab]());
    };
    for (const name of Object.keys(panels)) {
      const b = h("button", {type: "button", class: "tab", role: "tab", "data-tab": name},
        t(name === "transcript" ? "details.transcript" : "details.message"));
      b.addEventListener("click", () => { this.tab = name; draw(); });
      tabs.append(b);
    }
    this.body.append(tabs, panel);
    draw();
  }

  followButton(trace, following) {
    const b = h("button", {type: "button", class: "btn btn-small"}, t(following ? "details.unfollow" : "details.follow"));
    b.addEventListener("click", () => this.onFollow(following ? "" : trace));
    return b;
  }

  dnsBox(data) {
    const box = h("section", {class: "dns-box"}, h("h4", {}, t("details.dns")));
    box.append(h("div", {}, `${t("dns.question")}: `, h("code", {class: "dns-q"}, String(data.question || "?"))));
    const list = h("ol", {class: "dns-answers"});
    const order = Array.isArray(data.order) ? data.order : [];
    if (order.length) {
      order.forEach((o, i) => list.append(h("li", {class: i === 0 ? "chosen" : ""},
        `MX ${o.preference} ${o.host}`, Array.isArray(o.addresses) && o.addresses.length ? `  (${o.addresses.join(", ")})` : "",
        h("span", {class: "pick"}, i === 0 ? `← ${t("dns.chosen")}` : `${t("dns.then")} ${i + 1}`))));
    } else if (Array.isArray(data.answers) && data.answers.length) {
      for (const a of data.answers) list.append(h("li", {}, h("code", {}, String(a))));
    } else {
      list.append(h("li", {}, t("dns.noAnswer")));
    }
    box.append(h("div", {}, `${t("dns.answer")}:`), list);
    if (data.rcode) {
      box.append(h("div", {}, `${t("dns.rcode")}: `, h("code", {class: "rcode"}, String(data.rcode)),
        " — ", richText(rcodeMeaning(data.rcode))));
    }
    return box;
  }

  transcript(event) {
    const lines = Array.isArray(event.transcript) ? event.transcript : [];
    if (!lines.length) return h("p", {class: "empty"}, t("details.noTranscript"));
    const wrap = h("div", {});
    // Retrieval hops run mailbox -> MUA, but the MUA is the client and the IMAP/POP3 server the server.
    const server = event.data && typeof event.data.server === "string" ? event.data.server : "";
    const [client, serverName] = server ? [event.dst, server] : [event.src, event.dst];
    wrap.append(h("p", {class: "hop-meta"},
      `${t("details.client")}: ${endName(event, client)} · ${t("details.server")}: ${endName(event, serverName)}`));
    const list = h("ol", {class: "transcript"});
    for (const pair of lines) {
      const side = Array.isArray(pair) ? pair[0] : "";
      const line = String(Array.isArray(pair) ? pair[1] : pair);
      if (side === CUT) {            // the simulator cut a long body here: how many lines it left out
        list.append(h("li", {class: "note cut"}, h("span", {class: "side-label"}, t("details.note")),
          h("span", {class: "line"}, t("transcript.cut", {n: Number(line) || 0}))));
        continue;
      }
      const cls = side === "C" ? "c" : side === "S" ? "s" : "note";
      const li = h("li", {class: cls === "s" ? `s code-${line[0]}` : cls},
        h("span", {class: "side-label"}, t(cls === "c" ? "details.client" : cls === "s" ? "details.server" : "details.note")),
        h("code", {class: "line"}, line));
      // A multi-line reply ("250-...") is explained once, on its last line.
      if (cls === "s" && !/^\d{3}-/.test(line)) {
        const m = meaning(line);
        if (m) li.append(h("span", {class: "meaning"}, richText(m)));
      }
      list.append(li);
    }
    wrap.append(list);
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

  // -- a server ---------------------------------------------------------------------------------
  showHost(id, host, state, queueCount) {
    this.open("host", [id, host, state, queueCount]);
    const name = id.slice(4);
    const up = state?.hosts.has(name) ? state.hosts.get(name) : host?.up !== false;
    const card = h("section", {class: "card"}, h("h3", {}, t("host.title", {name})));
    card.append(kv([
      [t("host.role"), h("span", {}, host ? t(`node.${host.role}`) : "?")],
      [t("host.address"), host?.address || ""],
      [t("host.state"), h("span", {class: up ? "state-up" : "state-down"}, up ? t("world.up") : t("world.down"))],
      [t("host.queue"), h("span", {}, String(queueCount || 0))],
    ]));
    if (this.teacher && host) {
      const b = h("button", {type: "button", class: up ? "btn btn-danger" : "btn btn-primary", "data-host": name},
        up ? t("world.takeDown") : t("world.bringUp"));
      b.addEventListener("click", () => this.onHost(name, !up));
      card.append(b);
    }
    this.body.append(card);
  }

  // -- a mailbox and its messages -----------------------------------------------------------------
  async showMailbox(address) {
    this.open("mailbox", [address]);
    const card = h("section", {class: "card"}, h("h3", {}, t("mailbox.title", {address})));
    const list = h("ul", {class: "mail-list"}, h("li", {}, t("mailbox.loading")));
    card.append(list);
    this.body.append(card);
    try {
      const data = await api.get(`/api/mailbox/${encodeURIComponent(address)}`);
      if (this.view?.type !== "mailbox" || this.view.args[0] !== address) return;
      clear(list);
      if (!data.messages.length) list.append(h("li", {}, t("mailbox.empty")));
      for (const m of [...data.messages].reverse()) {
        const li = h("li", {tabindex: 0},
          h("div", {class: "subject"}, m.subject || "—"),
          h("div", {class: "muted"}, `${m.from} · ${m.date}`));
        li.addEventListener("click", () => this.showMail(address, m.key));
        list.append(li);
      }
    } catch (err) {
      clear(list);
      list.append(h("li", {class: "state-down"}, err.message));
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
      card.append(h("p", {class: "state-down"}, err.status === 404 ? t("message.gone") : err.message));
      return;
    }
    if (this.view?.type !== "mail" || this.view.args[1] !== key) return;
    clear(card);
    card.append(h("h3", {}, m.subject || "—"),
      kv([[rich("message.from"), m.from], [rich("message.to"), m.to], [rich("message.date"), m.date],
        [rich("message.returnPath"), m.return_path], [rich("message.deliveredTo"), m.delivered_to]]));
    if (m.received?.length) {
      const list = h("ol", {class: "received", reversed: true});
      for (const r of m.received) list.append(h("li", {}, h("code", {}, `Received: ${String(r).replace(/\s+/g, " ")}`)));
      card.append(h("h4", {}, rich("message.received")), list);
    }
    card.append(h("h4", {}, t("message.body")), h("pre", {class: "body-text"}, m.text || ""));
    if (m.has_html) {
      card.append(h("h4", {}, rich("message.html")),
        h("iframe", {class: "html-frame", sandbox: "", referrerpolicy: "no-referrer",
          src: `${mailboxPath(address, key)}/html`, title: t("message.html")}));
    }
    if (m.attachments?.length) {
      card.append(h("h4", {}, t("message.attachments")),
        h("ul", {}, m.attachments.map((a) => h("li", {},
          t("message.attachment", {name: a.filename || "—", type: a.type, size: sizeText(a.size)})))));
    }
  }
}

// A hop's end by name; "outside" names the program's address too (the fact's peer).
function endName(event, id) {
  const peer = event.data && typeof event.data.peer === "string" ? event.data.peer : "";
  return id === "outside" && peer ? `${nodeName(id)} (${peer})` : nodeName(id);
}

// A message by its subject (a header's value: protocol text), sender and recipients.
function traceLabel(info) {
  const to = info.rcpt.length ? info.rcpt.join(", ") : "?";
  return [info.subject ? h("code", {class: "subject"}, info.subject) : null, ` ${info.from || "<>"} → ${to}`];
}

// Label -> value rows; a value that is not a node is a header's or the envelope's text: code.
function kv(pairs) {
  const dl = h("dl", {class: "kv"});
  for (const [k, v] of pairs) dl.append(h("dt", {}, k), h("dd", {class: "mono"}, v instanceof Node ? v : h("code", {}, String(v ?? ""))));
  return dl;
}
