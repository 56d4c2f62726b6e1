// webmail.js — the webmail page (/webmail): a mail client in the browser for students and the teacher.
//
// Theory of operation.  The web server is the mail client's host: it holds the login in the session
// cookie and, for every request of this page, connects to the front door on loopback — IMAP or POP3
// to read, SMTP submission with AUTH to send — does the one thing asked and logs out.  So each click
// here is a real mail session, drawn as hops on the projected diagram ("webmail of alice").  This
// page keeps only what it shows: the session (GET /api/webmail/session), the folders, the list of
// the folder looked at, and the message open in the reading pane (webmail_read.js) or the message
// being written (webmail_compose.js).  After an action it asks again; it never guesses.
//
// New mail: the page listens on Socket.IO like the diagram does and checks the mail again when the
// MDA writes into this user's mailbox (an "mda.deliver" event whose dst is "mailbox:<address>"),
// at most once every few seconds; there is no polling loop.  "Check mail" asks at once.
//
// States the tests (and a curious reader) can see: body[data-view] is "login" or "mail";
// body[data-ready] is "yes" once started; #wm-messages carries data-folder and data-loads (a
// counter of finished list loads); #wm-reader carries data-id of the open message.
//
// Mail content is hostile: every string of it goes in as text (dom.js), never as HTML.

import * as i18n from "./i18n.js";
import {t, rich} from "./i18n.js";
import {h, clear} from "./dom.js";
import {connect} from "./socket.js";
import {sizeText} from "./labels.js";
import * as wm from "./webmail_api.js";
import {Reader, folderLabel, hasFlag, shortDate} from "./webmail_read.js";
import {Composer} from "./webmail_compose.js";
import {icon} from "./webmail_icons.js";

const $ = (id) => document.getElementById(id);
const AUTO_GAP = 5000;          // ms: new-mail checks caused by deliveries are at least this far apart

class Webmail {
  constructor() {
    this.session = null;
    this.folders = [];
    this.folder = "INBOX";
    this.list = [];
    this.loads = 0;
    this.listGen = 0;           // a newer list load makes an older answer stale
    this.autoTimer = null;
    this.lastAuto = 0;
    this.reader = new Reader($("wm-reader"), {
      onAction: (act, view) => this.act(act, view),
      onError: (err) => this.failed(err),
    });
    this.composer = new Composer($("wm-compose"), {
      onSent: (answer) => this.sent(answer),
      onClose: () => this.composeClosed(),
      onError: (err) => this.failed(err),
    });
  }

  async start() {
    await i18n.load();
    i18n.onLangChange(() => this.languageChanged());
    for (const b of document.querySelectorAll(".btn-lang")) {
      b.addEventListener("click", () => i18n.setLang(b.dataset.lang).catch((err) => this.notify(err.message, "error")));
    }
    $("wm-notice-close").addEventListener("click", () => { $("wm-notice").hidden = true; });
    $("wm-login-form").addEventListener("submit", (event) => { event.preventDefault(); this.login(); });
    for (const input of $("wm-login-form").querySelectorAll('input[name="retrieval"]')) {
      input.addEventListener("change", () => this.loginChoices());
    }
    $("wm-logout").addEventListener("click", () => this.logout());
    $("wm-check").addEventListener("click", () => this.refresh({list: true}));
    $("wm-compose-btn").addEventListener("click", () => this.compose("new"));
    for (const id of ["wm-set-retrieval", "wm-set-keep", "wm-set-tls"]) {
      $(id).addEventListener("change", () => this.changeSettings());
    }
    $("wm-messages").addEventListener("keydown", (event) => this.listKey(event));
    this.languageChanged();
    await this.loadSession();
    this.listen();
    document.body.dataset.ready = "yes";
  }

  // -- the session ------------------------------------------------------------------------------
  async loadSession() {
    try {
      this.session = await wm.session();
    } catch (err) {
      this.session = null;
      this.notify(err.message, "error");
    }
    this.users();
    if (this.session && this.session.address) await this.enter();
    else this.showLogin();
  }

  // The world's addresses, offered while typing (To, Cc, Bcc, and the login's address).
  users() {
    const list = clear($("wm-users"));
    const s = this.session || {};
    const users = Array.isArray(s.users) ? s.users : (Array.isArray(s.domain_users) ? s.domain_users : []);
    for (const u of users) {
      const address = typeof u === "string" ? u : u?.address;
      if (address) list.append(h("option", {value: String(address)}));
    }
  }

  showLogin(message = "") {
    this.setView("login");
    this.composer.root.hidden = true;
    this.reader.clear();
    const error = $("wm-login-error");
    error.textContent = message;
    error.hidden = !message;
    this.loginChoices();
    const address = $("wm-login-address");
    (address.value ? $("wm-login-password") : address).focus();
  }

  loginChoices() {
    const form = $("wm-login-form");
    const noTls = this.session?.tls_available === false;      // a sandbox without certificates
    const starttls = form.querySelector('input[name="tls"][value="starttls"]');
    starttls.disabled = noTls;
    if (noTls) form.querySelector('input[name="tls"][value="plain"]').checked = true;
    const pop3 = form.elements.retrieval.value === "pop3";
    const keep = $("wm-login-keep");
    keep.disabled = !pop3;
    keep.closest("label").classList.toggle("off", !pop3);
  }

  async login() {
    const form = $("wm-login-form").elements;
    const body = {address: form.address.value.trim(), password: form.password.value,
      retrieval: form.retrieval.value, tls: form.tls.value};
    const keep = body.retrieval === "pop3" && form.keep_on_server.checked;
    const error = $("wm-login-error");
    if (!body.address || !body.password) {
      error.textContent = t("webmail.login.missing");
      error.hidden = false;
      return;
    }
    const button = $("wm-login-submit");
    button.disabled = true;
    error.hidden = true;
    try {
      await wm.login({...body, keep_on_server: keep});
      if (body.retrieval === "pop3") await wm.settings({keep_on_server: keep});
      form.password.value = "";
      this.session = await wm.session();
      this.users();
      await this.enter();
    } catch (err) {
      // the same words whether the user exists or not (the server's are in the title)
      error.textContent = err.status === 401 ? t("webmail.error.login_failed") : wm.errorText(err);
      error.title = err.message || "";
      error.hidden = false;
      form.password.select();
    } finally {
      button.disabled = false;
    }
  }

  async logout() {
    try { await wm.logout(); } catch (err) { this.notify(err.message, "error"); }
    this.session = {...(this.session || {}), address: null};
    this.folders = [];
    this.list = [];
    $("wm-notice").hidden = true;
    this.showLogin();
  }

  async enter() {
    this.setView("mail");
    this.folder = "INBOX";
    this.reader.clear();
    this.renderWho();
    this.renderSettings();
    $("wm-compose-btn").focus();      // before the lists load: never pull the focus away from a reader
    await this.refresh({list: true});
  }

  setView(view) {
    document.body.dataset.view = view;
    $("wm-login").hidden = view !== "login";
    $("wm-mail").hidden = view !== "mail";
    $("wm-who").hidden = view !== "mail";
    $("wm-logout").hidden = view !== "mail";
  }

  renderWho() {
    const s = this.session || {};
    $("wm-address").textContent = s.address || "";
    $("wm-address").title = s.name || "";
    const parts = [s.retrieval === "pop3" ? "POP3" : "IMAP", s.tls === "plain" ? t("webmail.tls.plain") : "STARTTLS"];
    if (s.retrieval === "pop3" && s.keep_on_server) parts.push(t("webmail.keep.short"));
    if (s.student) parts.push(t("webmail.student"));
    $("wm-mode").textContent = parts.join(" · ");
    $("wm-mode").classList.toggle("plain", s.tls === "plain");
  }

  renderSettings() {
    const s = this.session || {};
    $("wm-set-retrieval").value = s.retrieval === "pop3" ? "pop3" : "imap";
    $("wm-set-tls").value = s.tls === "plain" ? "plain" : "starttls";
    $("wm-set-tls").querySelector('option[value="starttls"]').disabled = s.tls_available === false;
    const keep = $("wm-set-keep");
    keep.checked = Boolean(s.keep_on_server);
    keep.disabled = s.retrieval !== "pop3";
    keep.closest("label").classList.toggle("off", keep.disabled);
    const hint = $("wm-set-hint");
    hint.replaceChildren(...rich(s.retrieval === "pop3" ? (s.keep_on_server ? "webmail.set.pop3.keep" : "webmail.set.pop3")
      : "webmail.set.imap"));
  }

  async changeSettings() {
    const retrieval = $("wm-set-retrieval").value;
    const changes = {retrieval, tls: $("wm-set-tls").value, keep_on_server: retrieval === "pop3" && $("wm-set-keep").checked};
    try {
      await wm.settings(changes);
      this.session = await wm.session();
    } catch (err) {
      this.failed(err);
      return;
    }
    this.renderWho();
    this.renderSettings();
    this.composer.tls = this.session.tls;
    this.composer.render();
    if (changes.retrieval !== this.mode) {
      this.folder = "INBOX";          // POP3 has other folders (the webmail's own) than IMAP
      this.reader.clear();
    }
    this.mode = changes.retrieval;
    await this.refresh({list: true});
  }

  // -- folders and the list --------------------------------------------------------------------
  async refresh({list = true} = {}) {
    this.mode = this.session?.retrieval;
    // POP3: listing INBOX downloads first, so the list goes before the folder counts
    if (list) await this.loadList();
    await this.loadFolders();
  }

  async loadFolders() {
    try {
      const answer = await wm.folders();
      this.folders = Array.isArray(answer) ? answer : (answer?.folders || []);
    } catch (err) {
      this.failed(err);
      return;
    }
    this.renderFolders();
  }

  renderFolders() {
    const focused = focusedData("wm-folder-list", "folder");
    const list = clear($("wm-folder-list"));
    for (const f of this.folders) {
      const unseen = Number(f.unseen) || 0;
      const button = h("button", {type: "button", class: "wm-folder", "data-folder": f.name, "data-special": f.special || "",
        title: f.special ? f.name : null},
        icon(f.special || "folder", "wm-folder-icon"),
        h("span", {class: "wm-folder-name"}, folderLabel(f)),
        unseen ? h("span", {class: "wm-unseen", "data-unseen": unseen, "aria-label": t("webmail.unseen", {n: unseen})}, String(unseen)) : null);
      if (f.name === this.folder) button.setAttribute("aria-current", "true");
      button.addEventListener("click", () => this.openFolder(f.name));
      list.append(h("li", {}, button));
    }
    refocus("wm-folder-list", "folder", focused);
    this.reader.folders = this.folders;
    if (this.reader.view) this.reader.render();
    this.renderListHead();
  }

  async openFolder(name) {
    if (name !== this.folder) this.reader.clear();
    this.folder = name;
    for (const b of document.querySelectorAll(".wm-folder")) {
      if (b.dataset.folder === name) b.setAttribute("aria-current", "true");
      else b.removeAttribute("aria-current");
    }
    await this.loadList();
    if (this.session?.retrieval === "pop3" && name === "INBOX") await this.loadFolders();
  }

  async loadList() {
    const gen = ++this.listGen;
    const folder = this.folder;
    $("wm-messages").setAttribute("aria-busy", "true");
    let answer;
    try {
      answer = await wm.messages(folder);
    } catch (err) {
      if (gen === this.listGen) $("wm-messages").removeAttribute("aria-busy");
      this.failed(err);
      return;
    }
    if (gen !== this.listGen) return;
    this.list = Array.isArray(answer) ? answer : (answer?.messages || []);
    this.renderList();
    const box = $("wm-messages");
    box.removeAttribute("aria-busy");
    box.dataset.folder = folder;
    box.dataset.loads = String(++this.loads);
    if (this.reader.view && this.reader.view.folder === folder && !this.list.some((m) => m.id === this.reader.view.id)) {
      this.reader.clear();        // the open message is gone (moved, deleted, downloaded by POP3)
    }
  }

  renderListHead() {
    const f = this.folders.find((x) => x.name === this.folder) || {name: this.folder,
      special: this.folder === "INBOX" ? "inbox" : null};
    $("wm-list-title").textContent = folderLabel(f);
    $("wm-list-count").textContent = t("webmail.count", {n: this.list.length});
  }

  renderList() {
    const focused = focusedData("wm-messages", "id");
    const box = clear($("wm-messages"));
    const open = this.reader.view?.folder === this.folder ? this.reader.view.id : null;
    const special = this.folders.find((f) => f.name === this.folder)?.special;
    const mine = special === "sent" || special === "drafts";      // the list names whom they went to
    for (const m of this.list) {
      const seen = Boolean(m.seen);
      const marks = h("span", {class: "wm-marks"},
        m.flagged ? h("span", {class: "wm-mark wm-flagged", title: t("webmail.mark.flagged")}, "★") : null,
        m.answered ? h("span", {class: "wm-mark", title: t("webmail.mark.answered")}, "↩") : null,
        m.has_attachments ? h("span", {class: "wm-mark wm-att", title: t("webmail.mark.attachment")}, icon("clip")) : null,
        m.report ? h("span", {class: "wm-mark wm-dsn", title: t("webmail.mark.report")}, t("webmail.mark.dsn")) : null);
      const who = mine ? t("webmail.toWhom", {to: m.to || "—"}) : (m.from || "—");
      const row = h("button", {type: "button", class: `wm-row${seen ? "" : " unseen"}`, "data-id": m.id},
        h("span", {class: "wm-from"}, h("span", {class: "wm-dot", "aria-hidden": "true"}),
          seen ? null : h("span", {class: "sr-only wm-unseen-word"}, `${t("webmail.mark.unseen")}: `),
          h("span", {class: "wm-who-text"}, who)),
        h("span", {class: "wm-date"}, shortDate(m.date)),
        h("span", {class: "wm-subj"}, m.subject || t("webmail.noSubject")),
        h("span", {class: "wm-size"}, marks, sizeText(m.size)));
      if (m.id === open) row.setAttribute("aria-current", "true");
      row.addEventListener("click", () => this.openMessage(m.id));
      box.append(h("li", {"data-id": m.id}, row));
    }
    $("wm-list-empty").hidden = this.list.length > 0;
    refocus("wm-messages", "id", focused);
    this.renderListHead();
  }

  // Up and Down walk the list; Delete deletes the message under the focus.
  listKey(event) {
    const rows = [...document.querySelectorAll(".wm-row")];
    const at = rows.indexOf(document.activeElement);
    if (at < 0) return;
    const to = {ArrowDown: at + 1, ArrowUp: at - 1, Home: 0, End: rows.length - 1}[event.key];
    if (to !== undefined) {
      event.preventDefault();
      rows[Math.max(0, Math.min(rows.length - 1, to))].focus();
    } else if (event.key === "Delete" && this.folders.find((f) => f.name === this.folder)?.special !== "trash") {
      event.preventDefault();
      const id = rows[at].dataset.id;
      this.act("delete", {folder: this.folder, id});
    }
  }

  async openMessage(id) {
    const folder = this.folder;
    let view;
    try {
      view = await wm.message(folder, id);
    } catch (err) {
      this.failed(err);
      return;
    }
    const entry = this.list.find((m) => m.id === id);
    // the flags, as the list has them when the view does not carry its own (fetching set \Seen)
    const flags = view.flags ?? {seen: true, flagged: Boolean(entry?.flagged), answered: Boolean(entry?.answered)};
    view = {...view, folder: view.folder || folder, id: view.id || id, flags};
    if (this.composer.open) this.composer.close();
    this.reader.show(view, this.folders);
    for (const row of document.querySelectorAll(".wm-row")) {
      const on = row.dataset.id === id;
      if (on) { row.setAttribute("aria-current", "true"); row.classList.remove("unseen"); row.querySelector(".wm-unseen-word")?.remove(); } else row.removeAttribute("aria-current");
    }
    if (entry && !entry.seen) {         // fetching marked it \Seen on the server: count it here too
      entry.seen = true;
      const f = this.folders.find((x) => x.name === folder);
      if (f && f.unseen > 0) { f.unseen -= 1; this.renderFolders(); }
    }
  }

  // -- actions on the open message ------------------------------------------------------------
  async act(act, view) {
    const {folder, id} = view;
    try {
      switch (act) {
        case "reply": case "reply_all": case "forward":
          await this.compose(act, view);
          return;
        case "flag": {
          const flagged = !hasFlag(view.flags, "flagged");
          await wm.flags(folder, id, {flagged});
          this.notify(t(flagged ? "webmail.done.flagged" : "webmail.done.unflagged"), "ok");
          await this.reopen(view, {flagged});
          return;
        }
        case "unread":
          await wm.flags(folder, id, {seen: false});
          this.reader.clear();
          this.notify(t("webmail.done.unread"), "ok");
          break;
        case "move": {
          const to = $("wm-move-to").value;
          if (!to) return;
          await wm.move(folder, id, to);
          this.reader.clear();
          this.notify(t("webmail.done.moved", {folder: folderLabel(this.folders.find((f) => f.name === to) || {name: to})}), "ok");
          break;
        }
        case "delete": {
          const trash = this.folders.find((f) => f.special === "trash");
          await wm.remove(folder, id);
          if (this.reader.view?.id === id) this.reader.clear();
          this.notify(t(trash && trash.name !== folder ? "webmail.done.trashed" : "webmail.done.deleted"), "ok");
          break;
        }
        default:
          return;
      }
    } catch (err) {
      this.failed(err);
      return;
    }
    await this.refresh({list: true});
    // the pressed button went away with the message: the keyboard goes on from the list
    if (!document.activeElement || document.activeElement === document.body) {
      (document.querySelector(".wm-row") || $("wm-compose-btn")).focus();
    }
  }

  // After a flag change: the list's marks and the reader's button, without fetching the message again.
  async reopen(view, {flagged}) {
    const flags = Array.isArray(view.flags)
      ? [...view.flags.filter((f) => String(f).replace(/^\\/, "").toLowerCase() !== "flagged"), ...(flagged ? ["\\Flagged"] : [])]
      : {...(view.flags || {}), flagged};
    this.reader.show({...view, flags}, this.folders);
    await this.refresh({list: true});
  }

  async compose(mode, view = null) {
    let prefill = {};
    if (view) {
      try {
        prefill = await wm.draft(mode, view.folder, view.id);
      } catch (err) {
        this.failed(err);
        return;
      }
    }
    $("wm-reader").hidden = true;
    this.composer.show({me: this.session?.address || "", tls: this.session?.tls, mode, original: view, prefill});
  }

  composeClosed() {
    $("wm-reader").hidden = false;
    $("wm-compose-btn").focus();
  }

  async sent(answer) {
    $("wm-reader").hidden = false;
    if (answer.pending) this.notify(t("webmail.sent.pending"), "ok", "pending");
    else this.notify(rich("webmail.sent.ok", {reply: String(answer.reply || "")}), "ok", "sent", String(answer.reply || ""));
    $("wm-compose-btn").focus();
    await this.refresh({list: true});
  }

  // -- new mail -------------------------------------------------------------------------------
  listen() {
    if (typeof window.io !== "function") return;
    try {
      connect({
        onEvents: (batch) => this.events(batch?.events || []),
        onWorld: () => this.worldSwapped(),
      });
    } catch (_) { /* the Check mail button still works */ }
  }

  events(events) {
    const address = String(this.session?.address || "").toLowerCase();
    if (!address || document.body.dataset.view !== "mail") return;
    const box = `mailbox:${address}`;
    if (!events.some((e) => e && e.kind === "mda.deliver" && e.dst === box)) return;
    if (this.autoTimer) return;
    const wait = Math.max(0, this.lastAuto + AUTO_GAP - Date.now());
    this.autoTimer = setTimeout(() => {
      this.autoTimer = null;
      this.lastAuto = Date.now();
      if (document.body.dataset.view === "mail") this.refresh({list: this.folder === "INBOX"});
    }, wait);
  }

  async worldSwapped() {
    this.notify(t("webmail.world"), "ok");
    await this.loadSession();
  }

  // -- words ----------------------------------------------------------------------------------
  notify(text, kind = "ok", what = "", reply = "") {
    const box = $("wm-notice");
    box.classList.toggle("ok", kind === "ok");
    box.dataset.kind = kind;
    box.dataset.what = what;
    box.dataset.reply = reply;
    const span = $("wm-notice-text");
    span.setAttribute("role", kind === "error" ? "alert" : "status");
    span.replaceChildren(...(Array.isArray(text) ? text : [String(text)]));
    box.hidden = false;
  }

  failed(err) {
    if (err && err.status === 401 && document.body.dataset.view === "mail") {
      this.showLogin(t("webmail.error.session"));   // the login is gone (logged out elsewhere, the world reset)
      return;
    }
    this.notify(wm.errorText(err), "error");
  }

  languageChanged() {
    i18n.applyStatic();
    const code = i18n.lang();
    for (const b of document.querySelectorAll(".btn-lang")) b.setAttribute("aria-pressed", String(b.dataset.lang === code));
    document.title = `${t("webmail.title")} — Mailflow`;
    if (document.body.dataset.view === "mail") {
      this.renderWho();
      this.renderSettings();
      this.renderFolders();
      this.renderList();
      this.reader.render();
      this.composer.render();
    }
  }
}

// A list redrawn under the keyboard's focus (a refresh after new mail) gives the focus back to the
// same item: the button inside `id` whose data-<name> was focused before.
function focusedData(id, name) {
  const el = document.activeElement;
  return el && $(id).contains(el) && el.tagName === "BUTTON" ? el.dataset[name] ?? null : null;
}

function refocus(id, name, value) {
  if (value === null || value === undefined) return;
  const again = [...$(id).querySelectorAll("button")].find((b) => b.dataset[name] === value);
  again?.focus();
}

const app = new Webmail();
app.start().catch((err) => {
  document.body.dataset.ready = "error";
  const box = document.getElementById("wm-notice");
  document.getElementById("wm-notice-text").textContent = String(err?.message || err);
  box.hidden = false;
});
