// letter.js — one message of a mailbox, as the details panel shows it (GET /api/mailbox/<a>/<key>).
//
// A bounce (RFC 6522 multipart/report with an RFC 3464 message/delivery-status part) is shown as
// what it is: the delivery report first — for each recipient the address, the status code with
// its meaning (RFC 3463), what the remote server said (Diagnostic-Code), which server said it
// (Remote-MTA) — then who reports it (Reporting-MTA), the returned message's header, and the
// human-readable part as the text.  Everything from the message goes in as text (dom.h).

import {h} from "./dom.js";
import {t, rich} from "./i18n.js";
import {rich as richText} from "./dom.js";
import {sizeText} from "./labels.js";
import {has, raw} from "./i18n.js";

export function letter(m, {htmlSrc} = {}) {
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
  card.append(h("h4", {}, t(m.report ? "dsn.text" : "message.body")), h("pre", {class: "body-text"}, m.text || ""));
  if (m.has_html && htmlSrc) {
    card.append(h("h4", {}, rich("message.html")),
      h("iframe", {class: "html-frame", sandbox: "", referrerpolicy: "no-referrer", src: htmlSrc, title: t("message.html")}));
  }
  if (m.attachments?.length) {
    card.append(h("h4", {}, t("message.attachments")),
      h("ul", {}, m.attachments.map((a) => h("li", {},
        t("message.attachment", {name: a.filename || "—", type: a.type, size: sizeText(a.size)})))));
  }
  return card;
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
