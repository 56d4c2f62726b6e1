// webmail_compose.js — writing a message: To, Cc, Bcc, Subject, text, attachments; Send.
//
// Attachments are read in the browser (FileReader) and sent as base64 in the JSON body
// (POST /api/webmail/send, compose.build() on the server checks names, sizes and counts).  The
// server submits the message to the user's MSA over SMTP with AUTH, like any mail client, and
// answers with the MSA's reply line — or 202 {"pending": true} while the teacher's step gate holds
// the hop.  A reply or a forward names its original ({folder, id, mode}) so that the server can set
// In-Reply-To and References (RFC 5322 §3.6.4) and carry a forward's attachments.
//
// Before sending, a calm note says what the wire shows: with a plain connection everything,
// password included, is readable on the hop transcripts; with STARTTLS a listener on the network
// sees only TLS, though the sandbox still records the dialogue for the teacher's screen.

import {h, clear} from "./dom.js";
import {t, rich} from "./i18n.js";
import {sizeText} from "./labels.js";
import * as wm from "./webmail_api.js";
import {icon} from "./webmail_icons.js";

const FIELDS = ["to", "cc", "bcc", "subject", "body"];

// A File -> its bytes as base64 (the data: URL's tail).
function base64(file) {
  return new Promise((resolve, reject) => {
    const reader = new FileReader();
    reader.addEventListener("load", () => {
      const url = String(reader.result || "");
      resolve(url.slice(url.indexOf(",") + 1));
    });
    reader.addEventListener("error", () => reject(reader.error || new Error(file.name)));
    reader.readAsDataURL(file);
  });
}

export class Composer {
  constructor(root, {onSent, onClose, onError}) {
    this.root = root;
    this.$ = (id) => root.querySelector(`#${id}`);
    this.form = this.$("wm-compose-form");
    this.onSent = onSent;
    this.onClose = onClose;
    this.onError = onError;
    this.files = [];            // [{name, type, size, data}]
    this.reading = 0;           // files still being read
    this.reply = null;          // {folder, id, mode} of the original
    this.mode = "new";
    this.me = "";
    this.tls = "starttls";
    this.form.addEventListener("submit", (event) => { event.preventDefault(); this.send(); });
    this.$("wm-compose-close").addEventListener("click", () => this.close());
    this.$("wm-c-files").addEventListener("change", (event) => this.addFiles(event.target));
    // Ctrl+Enter (⌘+Enter) sends, as in most mail clients; nothing discards a message by a key
    this.form.addEventListener("keydown", (event) => {
      if (event.key === "Enter" && (event.ctrlKey || event.metaKey)) { event.preventDefault(); this.send(); }
    });
  }

  get open() { return !this.root.hidden; }

  // mode: "new" | "reply" | "reply_all" | "forward"; prefill: the draft the server made.
  show({me, tls, mode = "new", original = null, prefill = {}}) {
    this.me = me;
    this.tls = tls;
    this.mode = mode;
    this.reply = original ? {folder: original.folder, id: original.id, mode} : null;
    this.files = [];
    for (const name of FIELDS) this.form.elements[name].value = String(prefill[name] ?? "");
    this.$("wm-c-files").value = "";
    this.error("");
    this.root.dataset.mode = mode;
    this.root.hidden = false;
    this.render();
    const first = mode === "reply" || mode === "reply_all" ? "wm-c-body" : "wm-c-to";
    const field = this.$(first);
    field.focus();
    if (first === "wm-c-body") field.setSelectionRange(0, 0);
  }

  close() {
    if (!this.open) return;
    this.root.hidden = true;
    this.files = [];
    this.onClose();
  }

  // The words that depend on the language and on the connection.
  render() {
    if (!this.open) return;
    this.$("wm-compose-title").textContent = t(`webmail.compose.title.${this.mode}`);
    this.$("wm-c-from").textContent = this.me;
    const note = this.$("wm-wire-note");
    note.className = `wm-wire-note wm-wire-${this.tls === "plain" ? "plain" : "tls"}`;
    note.replaceChildren(icon(this.tls === "plain" ? "eye" : "lock", "wm-wire-mark"),
      h("span", {}, ...rich(this.tls === "plain" ? "webmail.wire.plain" : "webmail.wire.starttls")));
    this.renderFiles();
  }

  renderFiles() {
    const list = clear(this.$("wm-c-file-list"));
    this.files.forEach((file, i) => {
      const drop = h("button", {type: "button", class: "btn btn-small", "aria-label": t("webmail.c.files.remove", {name: file.name})}, "✕");
      drop.addEventListener("click", () => { this.files.splice(i, 1); this.renderFiles(); this.$("wm-c-files").focus(); });
      list.append(h("li", {class: "wm-file"}, h("span", {class: "wm-att-name"}, file.name),
        h("span", {class: "wm-att-size"}, sizeText(file.size)), drop));
    });
    this.root.dataset.files = String(this.files.length);
    this.root.dataset.reading = String(this.reading);
  }

  async addFiles(input) {
    const chosen = [...(input.files || [])];
    input.value = "";                     // the same file may be chosen again
    this.reading += chosen.length;
    this.renderFiles();
    for (const file of chosen) {
      try {
        const data = await base64(file);
        this.files.push({name: file.name, type: file.type || "application/octet-stream", size: file.size, data});
      } catch (err) {
        this.error(t("webmail.c.files.unread", {name: file.name}));
      } finally {
        this.reading -= 1;
        this.renderFiles();
      }
    }
  }

  error(text) {
    const box = this.$("wm-c-error");
    box.textContent = text;
    box.hidden = !text;
  }

  async send() {
    if (this.root.dataset.sending === "yes") return;
    if (this.reading) { this.error(t("webmail.c.files.wait")); return; }
    const form = this.form.elements;
    const body = Object.fromEntries(FIELDS.map((name) => [name, form[name].value]));
    if (![body.to, body.cc, body.bcc].some((x) => x.trim())) {
      this.error(t("webmail.c.noRecipient"));
      form.to.focus();
      return;
    }
    body.attachments = this.files.map(({name, type, data}) => ({name, type, data}));
    if (this.reply) body.reply = this.reply;
    const button = this.$("wm-send");
    button.disabled = true;
    this.root.dataset.sending = "yes";
    this.error("");
    try {
      const answer = await wm.send(body);
      this.root.hidden = true;
      this.files = [];
      this.onSent(answer || {});
    } catch (err) {
      // 413 from the web server itself (the request was bigger than it takes) has no JSON body
      this.error(err.status === 413 && /^HTTP /.test(err.message) ? t("webmail.c.tooBig") : wm.errorText(err));
      if (err.status === 401) this.onError(err);
    } finally {
      button.disabled = false;
      this.root.dataset.sending = "no";
    }
  }
}
