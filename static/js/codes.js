// codes.js — which reply code a server line carries, and the catalogue key that says what it means.
// SMTP: RFC 5321 §4.2 (and RFC 4954 for AUTH, RFC 3463 for the x.y.z enhanced codes);
// DNS: RFC 1035 §4.1.1 rcodes; POP3: RFC 1939; IMAP: RFC 9051 §7.1.
// The words are in the interface catalogues (code.smtp.250, code.enh.5.1.1, code.dns.NXDOMAIN ...).

import {raw, has} from "./i18n.js";

function smtpText(code) {
  const own = `code.smtp.${code}`;
  if (has(own)) return raw(own);
  const cls = `code.class.${Math.floor(code / 100)}`;
  return has(cls) ? raw(cls) : "";
}

// What one server line means, with backticks for protocol text ("" when it carries no code we know).
export function meaning(line) {
  const text = String(line || "");
  const smtp = /^(\d{3})[ -](\d\.\d{1,3}\.\d{1,3})?/.exec(text);
  if (smtp) {
    const base = smtpText(Number(smtp[1]));
    const enh = smtp[2] && has(`code.enh.${smtp[2]}`) ? ` (\`${smtp[2]}\`: ${raw(`code.enh.${smtp[2]}`)})` : "";
    return base + enh;
  }
  const pop = /^([+-](?:OK|ERR))\b/.exec(text);
  if (pop) return raw(`code.pop3.${pop[1]}`);
  const imap = /^(?:\*|[A-Za-z0-9.]+) (OK|NO|BAD|BYE|PREAUTH)\b/.exec(text);
  if (imap) return raw(`code.imap.${imap[1]}`);
  return "";
}

export function rcodeMeaning(rcode) {
  return has(`code.dns.${rcode}`) ? raw(`code.dns.${rcode}`) : "";
}
