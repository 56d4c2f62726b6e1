// letter.js — one message of a mailbox, as the details panel shows it (GET /api/mailbox/<a>/<key>).
//
// A bounce (RFC 6522 multipart/report with an RFC 3464 message/delivery-status part) is shown as
// what it is: the delivery report first — for each recipient the address, the status code with
// its meaning (RFC 3463), what the remote server said (Diagnostic-Code), which server said it
// (Remote-MTA) — then who reports it (Reporting-MTA), the returned message's header, and the
// human-readable part as the text.  Everything from the message goes in as text (dom.h).
//
// Nothing is cut: a long text comes in pages (the API's offset/length; "more" fetches the next
// page and adds it), the raw source likewise (GET <message>/source, by octets, shown on request)
// and whole as a .eml download; each attachment is a download link.  The HTML part is shown in a
// sandboxed frame whose document the server made self-contained (its cid: images are data: URIs).

import {h} from "./dom.js";
import {t, rich} from "./i18n.js";
import {rich as richText} from "./dom.js";
import {sizeText} from "./labels.js";
import {has, raw} from "./i18n.js";
import * as api from "./api.js";

// base: the message's API path (/api/mailbox/<address>/<key>): pages, source, attachments.
export function letter(m, {htmlSrc, base} = {}) {
  const card = h("section", {class: "card letter"});
  card.append(h("h3", {}, m.subject || "—"),
    kv([[rich("message.from"), m.from], [rich("message.to"), m.to], [rich("message.date"), m.date],
      [rich("message.returnPath"), m.return_path], [rich("message.deliveredTo"), m.delivered_to]]));
  if (m.report && m.report.type === "delivery-status") card.append(report(m.report));
  if (m.received?.length) {
    const list = h("ol", {class: "received", reversed: true});
    for (const r of m.received) list.append(h("li", {}, h("code", {}, `Received: ${String(r).replace(/\s+/g, " ")}`)));
    card.append(h("h4", {}, rich("message.received")), list);
  }
  const text = h("pre", {class: "body-text"}, m.text || "");
  card.append(h("h4", {}, t(m.report ? "dsn.text" : "message.body")), text);
  if (base && m.text_next !== null && m.text_next !== undefined) card.append(moreText(m, base, text));
  if (m.has_html && htmlSrc) {
    card.append(h("h4", {}, rich("message.html")),
      h("iframe", {class: "html-frame", sandbox: "", referrerpolicy: "no-referrer", src: htmlSrc, title: t("message.html")}));
  }
  if (m.attachments?.length) {
    card.append(h("h4", {}, t("message.attachments")),
      h("ul", {class: "attachments"}, m.attachments.map((a) => {
        const label = t("message.attachment", {name: a.filename || "—", type: a.type, size: sizeText(a.size)});
        const linked = base && Number.isInteger(a.index);
        return h("li", {}, linked
          ? h("a", {href: `${base}/part/${a.index}`, title: t("message.attachment.download"), "data-part": a.index}, label)
          : label);
      })));
  }
  if (base) card.append(source(base));
  return card;
}

// "More": the next page of the text, added to what is shown (the API's text_next, text_total).
function moreText(m, base, pre) {
  let next = m.text_next;
  const status = h("span", {class: "hint more-status"});
  const button = h("button", {type: "button", class: "btn btn-small"}, t("message.textMore"));
  const row = h("div", {class: "more-row", "data-more": "text"}, button, status);
  const say = () => { status.textContent = t("message.textShown", {shown: next, total: m.text_total}); };
  say();
  button.addEventListener("click", async () => {
    button.disabled = true;
    try {
      const page = await api.get(`${base}?offset=${next}`);
      pre.append(String(page.text || ""));
      next = page.text_next;
      if (next === null || next === undefined) row.remove(); else say();
    } catch (err) {
      status.textContent = err.message;
    } finally {
      button.disabled = false;
    }
  });
  return row;
}

// The raw source, as stored: shown on request, page by page; and whole as a .eml download.
function source(base) {
  let next = 0, size = 0, loaded = false;
  const pre = h("pre", {class: "source-text", hidden: true, tabindex: 0});
  const toggle = h("button", {type: "button", class: "btn btn-small", "aria-expanded": "false"}, t("message.source.show"));
  const download = h("a", {class: "btn btn-small", href: `${base}/raw?download=1`}, t("message.source.download"));
  const status = h("span", {class: "hint more-status"});
  const more = h("button", {type: "button", class: "btn btn-small"}, t("message.source.more"));
  const row = h("div", {class: "more-row", "data-more": "source", hidden: true}, more, status);
  const box = h("section", {class: "raw-source", "data-source": "closed"},
    h("h4", {}, rich("message.source")), h("div", {class: "source-actions"}, toggle, download), pre, row);
  const load = async () => {
    more.disabled = true;
    try {
      const page = await api.get(`${base}/source?offset=${next}`);
      pre.append(String(page.source || ""));
      size = page.size;
      next = page.next;
      loaded = true;
      row.hidden = next === null || next === undefined;
      if (!row.hidden) status.textContent = t("message.source.shown", {shown: sizeText(next), total: sizeText(size)});
    } catch (err) {
      row.hidden = false;
      status.textContent = err.message;
    } finally {
      more.disabled = false;
    }
  };
  toggle.addEventListener("click", async () => {
    const open = pre.hidden;
    pre.hidden = !open;
    box.dataset.source = open ? "open" : "closed";
    toggle.setAttribute("aria-expanded", String(open));
    toggle.textContent = t(open ? "message.source.hide" : "message.source.show");
    if (open && !loaded) await load();
    else row.hidden = !open || next === null || next === undefined;
  });
  more.addEventListener("click", load);
  return box;
}

// The delivery report (RFC 3464): per recipient, then per message, then the returned header.
function report(r) {
  const box = h("section", {class: "dsn", "data-report": "delivery-status"},
    h("h4", {}, rich("dsn.title")), h("p", {class: "hint"}, rich("dsn.what")));
  const recipients = Array.isArray(r.recipients) ? r.recipients : [];
  if (!recipients.length) box.append(h("p", {class: "hint"}, t("dsn.noRecipients")));
  for (const x of recipients) {
    const status = String(x.status || "");
    const cls = ["success", "transient", "permanent"].includes(x.class) ? x.class : "";
    const said = statusMeaning(status);
    const item = h("div", {class: `dsn-recipient dsn-${cls || "unknown"}`, "data-recipient": x.final_recipient || ""},
      h("div", {class: "dsn-rcpt"}, h("code", {}, x.final_recipient || x.original_recipient || "?"),
        x.action ? h("span", {class: `dsn-action action-${x.action}`}, t(has(`dsn.action.${x.action}`) ? `dsn.action.${x.action}` : "dsn.action.other", {action: x.action})) : null));
    item.append(kv([
      [rich("dsn.status"), status ? h("span", {}, h("code", {class: "dsn-status"}, status),
        cls ? ` — ${t(`dsn.class.${cls}`)}` : "", said ? [" (", ...richText(said), ")"] : "") : ""],
      [rich("dsn.diagnostic"), x.diagnostic_code ? h("code", {class: "dsn-diagnostic"}, x.diagnostic_code) : ""],
      [rich("dsn.remote"), x.remote_mta ? h("code", {}, x.remote_mta) : ""],
      [t("dsn.reason"), x.reason || ""],
      [rich("dsn.lastAttempt"), x.last_attempt_date || ""],
      [rich("dsn.retryUntil"), x.will_retry_until || ""],
      [rich("dsn.original"), x.original_recipient && x.original_recipient !== x.final_recipient ? h("code", {}, x.original_recipient) : ""],
    ]));
    box.append(item);
  }
  box.append(kv([
    [rich("dsn.reporting"), r.reporting_mta ? h("code", {class: "dsn-reporting"}, r.reporting_mta) : ""],
    [rich("dsn.arrival"), r.arrival_date || ""],
    [rich("dsn.gateway"), r.dsn_gateway || ""],
  ]));
  const back = r.returned;
  if (back) {
    box.append(h("h5", {}, t(back.whole ? "dsn.returned.whole" : "dsn.returned.headers")),
      kv([[rich("message.from"), back.from], [rich("message.to"), back.to], [rich("message.subject"), back.subject],
        [rich("message.date"), back.date], [rich("message.id"), back.message_id]]));
  }
  return box;
}

// "5.1.1" -> the catalogue's words for it (RFC 3463), or for its class and subject.
function statusMeaning(status) {
  if (!/^\d\.\d{1,3}\.\d{1,3}$/.test(status)) return "";
  return has(`code.enh.${status}`) ? raw(`code.enh.${status}`) : "";
}

function kv(pairs) {
  const dl = h("dl", {class: "kv"});
  for (const [k, v] of pairs) {
    if (v === null || v === undefined || v === "") continue;
    dl.append(h("dt", {}, k), h("dd", {class: "mono"}, v instanceof Node ? v : h("code", {}, String(v))));
  }
  return dl;
}
