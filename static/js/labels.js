// labels.js — short, translated names for hops and nodes (used by the timeline and the details).
import {t, has, lang} from "./i18n.js";
import {protocolOf} from "./model.js";

export function kindLabel(event) {
  const key = `kind.${event.kind}`;
  if (has(key)) return t(key);
  const verb = String(event.kind || "").split(".").slice(1).join(".") || String(event.kind || "");
  return t("kind.generic", {protocol: protocolOf(event), verb});
}

// "mua:alice@alpha.test" -> "alice@alpha.test"; "mda:beta.test" -> "MDA beta.test" ...
export function nodeName(id) {
  const text = String(id || "");
  const colon = text.indexOf(":");
  if (colon < 0) return text === "dns" ? "DNS" : text;
  const kind = text.slice(0, colon);
  const rest = text.slice(colon + 1);
  switch (kind) {
    case "mua": return rest;
    case "mta": return rest === "front" ? t("node.front") : rest;
    case "mda": return `MDA ${rest}`;
    case "mailbox": return `✉ ${rest}`;
    case "imap": return `IMAP ${rest}`;
    case "pop3": return `POP3 ${rest}`;
    case "client": return rest;
    default: return text;
  }
}

// What the gate holds: the simulator's label is English; other languages name both ends instead.
export function waitingText(w) {
  return lang() === "en" && w.label ? w.label : `${nodeName(w.src)} → ${nodeName(w.dst)}`;
}
