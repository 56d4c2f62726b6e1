// ends.js — the two ends of a hop in words, for the timeline and the details panel.
//
// A retrieval hop (POP3, IMAP) runs from a user's mailbox to the same user's mail client: both ids
// carry the same address (mailbox:bob@beta.test, mua:bob@beta.test), so the bare address would read
// "bob@beta.test → bob@beta.test".  Here each end says what it is: "mailbox bob@beta.test",
// "mail client bob@beta.test" (catalogue keys end.mailbox, end.mua).  An SMTP hop from a mail client
// keeps the short address (the other end, an MSA, is a host name).  "outside" names the program's
// address too (the fact's peer).

import {t} from "./i18n.js";
import {nodeName} from "./labels.js";

const kindOf = (id) => { const s = String(id || ""); const i = s.indexOf(":"); return i < 0 ? s : s.slice(0, i); };
const rest = (id) => { const s = String(id || ""); return s.slice(s.indexOf(":") + 1); };
const RETRIEVAL = new Set(["mailbox", "imap", "pop3"]);

// Does this hop have a mailbox or a mailbox server at one end (so the client end must say it is one)?
function readsMailbox(event) {
  const kind = String(event?.kind || "");
  return kind.startsWith("pop3.") || kind.startsWith("imap.") ||
    RETRIEVAL.has(kindOf(event?.src)) || RETRIEVAL.has(kindOf(event?.dst));
}

// One end of a hop, named for what it is.
export function endName(event, id) {
  const kind = kindOf(id);
  if (kind === "mailbox") return t("end.mailbox", {address: rest(id)});
  if (kind === "mua" && readsMailbox(event)) return t("end.mua", {address: rest(id)});
  if (id === "outside") {
    const peer = typeof event?.data?.peer === "string" ? event.data.peer : "";
    return peer ? `${nodeName(id)} (${peer})` : nodeName(id);
  }
  return nodeName(id);
}

// "src → dst" for a hop.
export function pathText(event, src = event.src, dst = event.dst) {
  return `${endName(event, src)} → ${endName(event, dst)}`;
}

// A node by itself (the details panel of a clicked node): what it is, then its name.
export function nodeTitle(id) {
  const kind = kindOf(id);
  if (kind === "mailbox") return t("end.mailbox", {address: rest(id)});
  if (kind === "mua") return t("end.mua", {address: rest(id)});
  return nodeName(id);
}
