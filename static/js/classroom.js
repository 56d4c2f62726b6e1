// classroom.js — a class that takes part: students join from their own browser and get a mailbox.
//
// By role:
//   a viewer   a button in the top bar and a drawer of its own.  While joining is open: "Join the
//              class" -> a name -> POST /api/class/join; the answer (address, password) is shown with
//              a link to the webmail ("Open my mailbox", /webmail) and to the "Connect a mail client"
//              drawer (Thunderbird works too).  The session is then the student's: GET /api/class
//              answers with "me", so a reload still knows ("My mailbox").  Joining closed and not
//              joined: the button is hidden (the drawer, if open, says it is closed).
//   the teacher  a section of the World drawer (the teacher's top bar is full at projector size):
//              open or close joining, the per-student sending limit (a number, or none), the
//              students (name, address, messages sent) and removing one (asked twice, in place).
//
// The class's state comes from GET /api/class; it is asked again when a student joins or leaves
// ("world.user", main.js calls changed()), when the panel opens, and every few seconds while it can
// change unseen (a viewer not in the class: the teacher may open joining; the teacher's open drawer:
// the students' counts of messages sent).  Everything goes into the page as text (dom.h).

import {h, clear} from "./dom.js";
import {t, rich} from "./i18n.js";
import * as api from "./api.js";

const WEBMAIL_PAGE = "/webmail";
const POLL_MS = 30000;       // a fallback: opening or closing joining arrives as a "class" message
const STORE_KEY = "mailflow.class.joined";     // this tab's join answer (the password is shown once)

export class ClassPanel {
  // drawer, toggle, close, body, title: the viewer's drawer; section, sectionBody: the teacher's
  // part of the World drawer (worldDrawer), where it is shown whenever that drawer is open.
  constructor({drawer, toggle, close, body, title, worldDrawer, section, sectionBody},
    {teacher, notify, onOpen, openClients}) {
    this.drawer = teacher ? worldDrawer : drawer;
    this.toggleButton = toggle;
    this.body = teacher ? sectionBody : body;
    this.root = teacher ? section : drawer;      // data-view: what the panel shows
    this.title = teacher ? section.querySelector("h3") : title;
    this.teacher = teacher;
    this.notify = notify;
    this.onOpen = onOpen;
    this.openClients = openClients;
    this.data = null;             // GET /api/class, or null before it answered (or without a class)
    this.joined = readJoined();   // {address, password, name} from this tab's join
    this.confirming = null;       // the student id whose removal waits for "yes"
    this.error = "";              // the last refusal of a join, shown in the form
    this.busy = false;
    if (teacher) {
      toggle.remove();
      drawer.remove();
    } else {
      section.remove();
      toggle.addEventListener("click", () => this.setOpen(drawer.hidden));
      close.addEventListener("click", () => this.setOpen(false));
    }
    setInterval(() => { if (this.polling()) this.refresh(); }, POLL_MS);
    document.addEventListener("visibilitychange", () => { if (!document.hidden && this.polling()) this.refresh(); });
  }

  get open() { return !this.drawer.hidden; }

  get me() { return this.data?.me || null; }

  polling() {
    if (document.hidden || !this.data) return false;
    return this.teacher ? this.open : !this.me;
  }

  // The teacher's World drawer was opened: show the class as it is now.
  shown() {
    if (!this.teacher) return;
    this.render();
    this.refresh();
  }

  setOpen(open) {
    if (this.teacher) { if (!open) this.confirming = null; return; }     // the World drawer opens itself
    this.drawer.hidden = !open;
    this.toggleButton.setAttribute("aria-expanded", String(open));
    if (!open) { this.confirming = null; return; }
    this.onOpen?.();
    this.render();
    this.refresh();
    requestAnimationFrame(() => this.body.querySelector("#class-name")?.focus());
  }

  // A student joined or left (a "world.user" fact), or the world was swapped: ask again.
  changed() {
    clearTimeout(this.changeTimer);
    this.changeTimer = setTimeout(() => this.refresh(), 60);
  }

  // Ask the server; draw again only when something changed (a form being filled in stays as it is).
  async refresh() {
    if (this.refreshing) { this.again = true; return; }
    this.refreshing = true;
    const before = JSON.stringify(this.data);
    try {
      do {
        this.again = false;
        try {
          this.data = await api.get("/api/class");
        } catch (_) {
          this.data = null;          // no world, or no class here: no button
        }
      } while (this.again);
    } finally {
      this.refreshing = false;
    }
    if (this.me && this.joined && this.joined.address !== this.me.address) this.forget();
    if (this.data && !this.me && this.joined) this.forget();      // removed by the teacher
    if (JSON.stringify(this.data) !== before || !this.body.firstChild) this.render();
  }

  forget() {
    this.joined = null;
    try { sessionStorage.removeItem(STORE_KEY); } catch (_) { /* storage may be off */ }
  }

  // -- the top bar's button ---------------------------------------------------------------------------
  renderButton() {
    if (this.teacher) return;
    const b = this.toggleButton;
    const d = this.data;
    const key = this.me ? "class.button.me" : "class.button.join";
    b.hidden = !d || (!this.me && !d.open && !this.open);
    b.dataset.state = !d ? "none" : this.me ? "joined" : d.open ? "open" : "closed";
    b.replaceChildren(h("span", {"aria-hidden": "true"}, this.me ? "✉" : "✚"), " ", h("span", {class: "label"}, t(key)));
    b.title = t(`${key}.hint`);
  }

  render() {
    this.renderButton();
    const d = this.data;
    this.title.textContent = t(this.teacher ? "class.title" : this.me ? "class.title.me" : "class.title.join");
    if (this.teacher) this.root.hidden = !d;         // no class here (no world): no section
    if (!this.open) return;
    const scrolled = this.body.scrollTop;
    const focused = this.body.contains(document.activeElement) ? document.activeElement.id : "";
    clear(this.body);
    if (!d) this.body.append(h("p", {class: "hint"}, t("mailbox.loading")));
    else if (this.teacher) this.body.append(...this.teacherView(d).filter(Boolean));
    else if (this.me) this.body.append(...this.studentView(this.me).filter(Boolean));
    else this.body.append(...this.joinView(d).filter(Boolean));
    this.body.scrollTop = scrolled;
    if (focused) document.getElementById(focused)?.focus();
    this.root.dataset.view = !d ? "loading" : this.teacher ? "teacher" : this.me ? "me" : d.open ? "join" : "closed";
  }

  // -- a viewer: joining ------------------------------------------------------------------------------
  joinView(d) {
    if (!d.open) {
      return [h("p", {class: "class-closed", role: "status"}, t("class.closed")),
        h("p", {class: "hint"}, t("class.closed.hint"))];
    }
    const name = h("input", {id: "class-name", type: "text", name: "name", autocomplete: "nickname",
      "aria-describedby": "class-name-hint"});
    name.maxLength = 40;
    name.required = true;
    name.value = this.draftName || "";
    name.addEventListener("input", () => { this.draftName = name.value; });
    const submit = h("button", {type: "submit", class: "btn btn-primary", id: "class-join", disabled: this.busy},
      h("span", {"aria-hidden": "true"}, "✚"), " ", t("class.join.submit"));
    const form = h("form", {class: "class-join", autocomplete: "off"},
      h("label", {for: "class-name"}, t("class.join.name")),
      name,
      h("p", {class: "hint", id: "class-name-hint"}, t("class.join.nameHint", {domain: d.domain})),
      this.error ? h("p", {class: "class-error", role: "alert"}, this.error) : null,
      submit);
    form.addEventListener("submit", (ev) => { ev.preventDefault(); this.join(name.value); });
    return [h("p", {class: "class-intro"}, rich("class.join.intro")), form,
      h("p", {class: "hint"}, rich("class.privacy"))];
  }

  async join(name) {
    if (this.busy) return;
    this.busy = true;
    this.error = "";
    this.render();
    try {
      const answer = await api.call("POST", "/api/class/join", {name: String(name || "").trim()});
      this.joined = {address: answer.address, password: answer.password, name: answer.name};
      try { sessionStorage.setItem(STORE_KEY, JSON.stringify(this.joined)); } catch (_) { /* storage may be off */ }
      this.draftName = "";
      this.data = {...(this.data || {}), me: {address: answer.address, name: answer.name}};
    } catch (err) {
      this.error = err.status === 403 ? t("class.closed") : err.status === 429 ? t("class.join.tooMany") : err.message;
    } finally {
      this.busy = false;
    }
    this.render();
    this.refresh();
  }

  // -- a student: who they are, where to read ----------------------------------------------------------
  studentView(me) {
    const password = me.password || (this.joined?.address === me.address ? this.joined.password : null);
    const rows = [["name", me.name || ""], ["address", me.address]];
    if (password) rows.push(["password", password]);
    const dl = h("dl", {class: "class-me"});
    for (const [k, v] of rows) dl.append(h("dt", {}, t(`class.me.${k}`)), h("dd", {class: "mono", "data-field": k}, h("code", {}, String(v))));
    const clients = h("button", {type: "button", class: "btn btn-small", id: "class-clients"},
      h("span", {"aria-hidden": "true"}, "⇄"), " ", t("class.me.clients"));
    clients.addEventListener("click", () => this.openClients?.());
    const limit = this.data?.limit;
    return [
      h("p", {class: "class-welcome", role: "status"}, t("class.me.welcome", {name: me.name || me.address})),
      dl,
      password ? h("p", {class: "hint"}, t("class.me.keep")) : h("p", {class: "hint"}, t("class.me.noPassword")),
      h("p", {}, h("a", {class: "btn btn-primary", id: "class-webmail", href: WEBMAIL_PAGE},
        h("span", {"aria-hidden": "true"}, "✉"), " ", t("class.me.open"))),
      h("p", {class: "hint"}, rich("class.me.thunderbird")), h("p", {}, clients),
      Number.isInteger(limit) ? h("p", {class: "hint"}, t("class.me.limit", {n: limit})) : null,
      h("p", {class: "hint"}, rich("class.privacy")),
    ];
  }

  // -- the teacher: the class -----------------------------------------------------------------------------
  teacherView(d) {
    const toggle = h("button", {type: "button", id: "class-toggle", class: d.open ? "btn btn-danger" : "btn btn-primary"},
      t(d.open ? "class.close" : "class.open"));
    toggle.addEventListener("click", () => this.configure({open: !d.open}));
    const joining = h("section", {class: "class-joining"},
      h("h4", {}, t("class.joining")),
      h("p", {class: "class-state", "data-open": d.open ? "yes" : "no"},
        h("span", {class: d.open ? "state-up" : "state-down"}, t(d.open ? "class.state.open" : "class.state.closed")),
        " ", toggle),
      h("p", {class: "hint"}, t("class.joining.hint", {domain: d.domain})));

    // the teacher's unsaved limit survives a redraw (a student joined meanwhile)
    const draft = this.limitDraft || {unlimited: d.limit === null || d.limit === undefined, value: d.limit ?? ""};
    const number = h("input", {id: "class-limit", type: "number", min: 0, max: 10000, step: 1, disabled: draft.unlimited,
      "aria-describedby": "class-limit-hint"});
    number.value = String(draft.value);
    const unlimited = h("input", {id: "class-unlimited", type: "checkbox"});
    unlimited.checked = draft.unlimited;
    const keep = () => { this.limitDraft = {unlimited: unlimited.checked, value: number.value}; };
    number.addEventListener("input", keep);
    unlimited.addEventListener("change", () => {
      number.disabled = unlimited.checked;
      if (!unlimited.checked && !number.value) number.value = "10";
      keep();
    });
    const save = h("button", {type: "submit", class: "btn btn-small", id: "class-limit-save"}, t("class.limit.save"));
    const form = h("form", {class: "class-limit", autocomplete: "off"},
      h("label", {for: "class-limit"}, t("class.limit")),
      number,
      h("label", {class: "check"}, unlimited, " ", t("class.limit.none")),
      save);
    form.addEventListener("submit", (ev) => {
      ev.preventDefault();
      const value = Number(number.value);
      if (!unlimited.checked && !(number.value.trim() && Number.isInteger(value) && value >= 0 && value <= 10000)) { this.notify(() => t("class.limit.bad"), true); return; }
      this.configure({limit: unlimited.checked ? null : value});
    });
    const limits = h("section", {class: "class-limits"}, h("h4", {}, t("class.limit.title")), form,
      h("p", {class: "hint", id: "class-limit-hint"}, t("class.limit.hint")));

    const students = d.students || [];
    const list = h("section", {class: "class-students"},
      h("h4", {}, t("class.students"), " ", h("span", {class: "muted"}, t("class.count", {n: students.length}))));
    if (!students.length) {
      list.append(h("p", {class: "hint"}, t(d.open ? "class.students.noneYet" : "class.students.none")));
    } else {
      list.append(h("table", {class: "class-table"},
        h("thead", {}, h("tr", {},
          h("th", {scope: "col"}, t("class.student.name"), " · ", t("class.student.address")),
          h("th", {scope: "col", class: "num"}, t("class.student.sent")),
          h("th", {scope: "col"}, h("span", {class: "sr-only"}, t("class.student.actions"))))),
        h("tbody", {}, students.flatMap((s) => this.studentRow(s, d)))));
    }
    return [joining, limits, list];
  }

  // A student's row; while their removal waits for "yes", a row under it asks.
  studentRow(s, d) {
    const sent = Number.isInteger(d.limit) ? `${s.sent} / ${d.limit}` : String(s.sent ?? 0);
    const asking = this.confirming === s.id;
    const remove = h("button", {type: "button", class: "btn btn-small", "data-remove": s.id, disabled: asking,
      "aria-label": t("class.remove.label", {address: s.address})}, t("class.remove"));
    remove.addEventListener("click", () => { this.confirming = s.id; this.render(); });
    const row = h("tr", {"data-student": s.id, "data-address": s.address, class: asking ? "asking" : null},
      h("td", {class: "who"}, h("div", {class: "name"}, s.name || ""), h("div", {class: "address"}, ...breakable(s.address))),
      h("td", {class: "num sent"}, sent),
      h("td", {class: "actions"}, remove));
    if (!asking) return [row];
    const yes = h("button", {type: "button", class: "btn btn-danger btn-small", "data-confirm": "yes"}, t("class.remove.yes"));
    const no = h("button", {type: "button", class: "btn btn-small", "data-confirm": "no"}, t("class.remove.no"));
    yes.addEventListener("click", () => this.remove(s));
    no.addEventListener("click", () => { this.confirming = null; this.render(); });
    requestAnimationFrame(() => no.focus());
    return [row, h("tr", {class: "confirm-row", "data-confirm-for": s.address},
      h("td", {colspan: 3}, h("span", {class: "confirm", role: "alert"}, t("class.remove.ask", {address: s.address})),
        h("span", {class: "confirm-actions"}, yes, no)))];
  }

  async configure(change) {
    try {
      await api.call("POST", "/api/class", change);
      if ("limit" in change) this.limitDraft = null;
      if ("limit" in change) this.notify(change.limit === null ? t("class.limit.savedNone") : t("class.limit.saved", {n: change.limit}), false);
    } catch (err) {
      this.notify(err.message, true);
    }
    await this.refresh();
  }

  async remove(s) {
    this.confirming = null;
    try {
      await api.call("DELETE", `/api/class/students/${encodeURIComponent(s.id)}`, {});
      this.notify(() => t("class.removed", {address: s.address}), false);
    } catch (err) {
      this.notify(err.message, true);
    }
    await this.refresh();
  }
}

// An address that may wrap after its "@" (a narrow drawer), never inside a word.
function breakable(address) {
  const at = String(address).lastIndexOf("@");
  return at < 0 ? [address] : [address.slice(0, at + 1), h("wbr", {}), address.slice(at + 1)];
}

function readJoined() {
  try {
    const value = JSON.parse(sessionStorage.getItem(STORE_KEY) || "null");
    return value && typeof value.address === "string" ? value : null;
  } catch (_) {
    return null;
  }
}
