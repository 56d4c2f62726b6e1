// glossary.js — the "Terms" drawer: the seed article's terms with their full names, and the one
// fact students miss: the sending server is the sender's MSA *and* its MTA.  A term in an
// explanation is a link ("#term-MTA", see dom.rich) that opens this drawer at its entry.

import {h, clear} from "./dom.js";
import {t, rich} from "./i18n.js";

export const TERMS = ["MUA", "MSA", "MTA", "MDA", "MX", "SMTP", "POP3", "IMAP"];

export class Glossary {
  constructor({drawer, toggle, close, body}, {onOpen, senders}) {
    this.drawer = drawer;
    this.toggleButton = toggle;
    this.body = body;
    this.onOpen = onOpen;
    this.senders = senders;          // () -> the names of the sending servers (MSA + MTA)
    toggle.addEventListener("click", () => this.setOpen(drawer.hidden));
    close.addEventListener("click", () => this.setOpen(false));
  }

  get open() { return !this.drawer.hidden; }

  setOpen(open) {
    this.drawer.hidden = !open;
    this.toggleButton.setAttribute("aria-expanded", String(open));
    if (!open) return;
    this.onOpen?.();
    this.render();
  }

  // Open at one term, marked for a moment.
  show(term) {
    this.setOpen(true);
    const entry = this.body.querySelector(`[data-term="${TERMS.includes(term) ? term : ""}"]`);
    if (!entry) return;
    for (const el of this.body.querySelectorAll(".marked")) el.classList.remove("marked");
    entry.classList.add("marked");
    entry.scrollIntoView({block: "nearest"});
  }

  render() {
    if (!this.open) return;
    clear(this.body);
    const list = h("dl", {class: "glossary-list"});
    for (const term of TERMS) {
      list.append(
        h("dt", {id: `term-${term}`, "data-term": term}, h("b", {}, term), " — ", rich(`term.${term}.full`)),
        h("dd", {"data-term": term}, rich(`term.${term}.text`)));
    }
    const hosts = (this.senders?.() || []).join(", ") || "—";
    this.body.append(h("p", {class: "glossary-sender", "data-term": "sender"}, t("glossary.sender", {host: hosts})), list);
  }
}
