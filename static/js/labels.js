// labels.js — short, translated names for hops, nodes, protocols and sizes (timeline, details,
// diagram).  An event's own words come from the narrator: event.text[lang] = {summary, explain}.
import {t, has, lang} from "./i18n.js";

// The narrator's summary and explanation of an event (or of a hop the gate holds) in the page's language.
export function words(item) {
  const text = item && item.text;
  const own = text && (text[lang()] || text.en);
  return {summary: String(own?.summary || item?.kind || ""), explain: String(own?.explain || "")};
}

// Plain text of a narration (for a title attribute): the backticks dropped, the quoted text kept.
export const plain = (text) => String(text || "").replaceAll("`", "");

export function kindLabel(event) {
  const key = `kind.${event.kind}`;
  return has(key) ? t(key) : plain(words(event).summary);
}

// "SMTP" stays, "WORLD" is worded.
export function protocolName(protocol) {
  const key = `protocol.${protocol}`;
  return has(key) ? t(key) : protocol;
}

// "mua:alice@alpha.test" -> "alice@alpha.test"; "mda:beta.test" -> "MDA beta.test" ...
export function nodeName(id) {
  const text = String(id || "");
  const colon = text.indexOf(":");
  if (colon < 0) {
    if (text === "dns") return "DNS";
    return has(`node.${text}`) ? t(`node.${text}`) : text;      // front, outside
  }
  const kind = text.slice(0, colon);
  const rest = text.slice(colon + 1);
  switch (kind) {
    case "mua": return rest;
    case "mta": return rest;
    case "mda": return `MDA ${rest}`;
    case "mailbox": return `✉ ${rest}`;
    case "imap": return `IMAP ${rest}`;
    case "pop3": return `POP3 ${rest}`;
    default: return text;
  }
}

// A size as the narrator words it (plural.size_en / size_ru): "643 bytes", "1,5 КБ".
export function sizeText(octets) {
  const n = Math.max(0, Math.round(Number(octets) || 0));
  if (n < 1024) return t("size.bytes", {n});
  const [value, key] = n < 1024 * 1024 ? [n / 1024, "size.kb"] : [n / 1024 / 1024, "size.mb"];
  const x = value.toFixed(1).replace(/\.0$/, "").replace(".", t("size.point"));
  return t(key, {x});
}
