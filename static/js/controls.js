// controls.js — the teacher's tools: the World drawer (servers up/down, MX tables, sending a test
// message, retrying queues).  The send form's address book follows the world's users: a student who
// joins or leaves the class (main.js, "world.user") calls setWorld again, and the choices made stay.  Every change goes through the JSON API; an error comes back as
// HTTP 4xx with a message, which is shown to the teacher as it is.

import {h, clear} from "./dom.js";
import {t} from "./i18n.js";
import * as api from "./api.js";

export class WorldControls {
  constructor({drawer, toggle, close, hostList, mxEditor, sendForm, flushButton}, {notify}) {
    this.drawer = drawer;
    this.toggleButton = toggle;
    this.hostList = hostList;
    this.mxEditor = mxEditor;
    this.form = sendForm;
    this.notify = notify;
    this.world = null;
    this.state = null;
    this.drafts = new Map();    // domain -> rows being edited (kept across re-renders)
    toggle.addEventListener("click", () => this.setOpen(drawer.hidden));
    close.addEventListener("click", () => this.setOpen(false));
    flushButton.addEventListener("click", () => this.flush());
    sendForm.addEventListener("submit", (ev) => { ev.preventDefault(); this.send(); });
  }

  setOpen(open) {
    this.drawer.hidden = !open;
    this.toggleButton.setAttribute("aria-expanded", String(open));
    if (open) this.render();
  }

  setWorld(world, users) {
    this.world = world;
    this.users = users || [];
    const to = this.form.querySelector("#send-to");
    if (to.value && !this.users.some((u) => u.address === to.value.trim())) to.value = "";   // from the old world
    this.fillSendForm();
    this.render();
  }

  // A new world: drafts of the old one's MX tables go.
  reset() {
    this.drafts.clear();
  }

  setState(state) {
    this.state = state;
    if (!this.drawer.hidden) this.renderHosts();
  }

  render() {
    if (!this.world) return;
    this.fillDefaults();
    this.renderHosts();
    this.renderMx();
  }

  hostUp(name, fallback) {
    return this.state?.hosts.has(name) ? this.state.hosts.get(name) : fallback;
  }

  renderHosts() {
    clear(this.hostList);
    for (const d of this.world.domains) {
      for (const host of d.hosts) {
        const up = this.hostUp(host.name, host.up);
        const button = h("button", {type: "button", class: up ? "btn btn-danger" : "btn btn-primary", "data-host": host.name},
          up ? t("world.takeDown") : t("world.bringUp"));
        button.addEventListener("click", () => this.setHost(host.name, !up));
        this.hostList.append(h("li", {},
          h("div", {}, h("div", {class: "name"}, host.name), h("div", {class: "role"}, `${t(`node.${host.role}`)} · ${host.address}`)),
          h("span", {class: up ? "state-up" : "state-down"}, up ? t("world.up") : t("world.down")),
          button));
      }
    }
  }

  async setHost(name, up) {
    try {
      await api.call("POST", `/api/hosts/${encodeURIComponent(name)}`, {up});
    } catch (err) {
      this.notify(err.message, true);
    }
  }

  // -- MX tables --------------------------------------------------------------------------------
  candidates() {
    const names = [];
    for (const d of this.world.domains) for (const host of d.hosts) if (host.role !== "msa") names.push(host.name);
    return names;
  }

  currentTable(domain) {
    const fromState = this.state?.mx.get(domain);
    if (fromState !== undefined) return fromState;
    return this.world.domains.find((d) => d.name === domain)?.mx ?? null;
  }

  renderMx() {
    clear(this.mxEditor);
    const hosts = this.candidates();
    for (const d of this.world.domains) {
      const rows = this.drafts.get(d.name) || (this.currentTable(d.name) || []).map((r) => ({...r}));
      this.drafts.set(d.name, rows);
      const box = h("section", {class: "mx-domain", "data-domain": d.name}, h("h4", {}, d.name));
      if (!rows.length) box.append(h("p", {class: "hint"}, t("world.mx.none")));
      rows.forEach((row, i) => {
        const pref = h("input", {type: "number", min: 0, max: 65535, step: 1, value: row.preference,
          "aria-label": t("world.mx.preference"), class: "mx-pref"});
        pref.addEventListener("input", () => { row.preference = pref.value; });
        const select = h("select", {"aria-label": t("world.mx.host"), class: "mx-host"});
        const options = row.host === "." ? [".", ...hosts] : hosts.includes(row.host) ? hosts : [row.host, ...hosts];
        for (const name of options) select.append(h("option", {value: name, selected: name === row.host}, name === "." ? t("world.mx.null") : name));
        select.addEventListener("change", () => { row.host = select.value; });
        const remove = h("button", {type: "button", class: "btn btn-small"}, t("world.mx.remove"));
        remove.addEventListener("click", () => { rows.splice(i, 1); this.renderMx(); });
        box.append(h("div", {class: "mx-row"}, pref, select, remove));
      });
      const add = h("button", {type: "button", class: "btn btn-small"}, t("world.mx.add"));
      add.addEventListener("click", () => {
        const used = new Set(rows.map((r) => r.host));
        const next = hosts.find((n) => !used.has(n)) || hosts[0] || "";
        const top = rows.reduce((m, r) => Math.max(m, Number(r.preference) || 0), 0);
        rows.push({preference: top + 10, host: next});
        this.renderMx();
      });
      const save = h("button", {type: "button", class: "btn btn-primary btn-small mx-save"}, t("world.mx.save"));
      save.addEventListener("click", () => this.saveMx(d.name));
      box.append(h("div", {class: "mx-actions"}, add, save));
      this.mxEditor.append(box);
    }
  }

  async saveMx(domain) {
    const rows = this.drafts.get(domain) || [];
    const records = rows.map((r) => ({preference: /^\d+$/.test(String(r.preference).trim()) ? Number(r.preference) : r.preference, host: r.host}));
    try {
      await api.call("PUT", `/api/mx/${encodeURIComponent(domain)}`, {records});
      this.drafts.delete(domain);
      this.notify(() => t("world.mx.saved", {domain}), false);
    } catch (err) {
      this.notify(err.message, true);
    }
  }

  // Called when a world.mx event arrives: the drafts restart from the new table.
  mxChanged(domain) {
    this.drafts.delete(domain);
    if (!this.drawer.hidden) this.renderMx();
  }

  // -- sending ----------------------------------------------------------------------------------
  fillSendForm() {
    const from = this.form.querySelector("#send-from");
    const list = this.form.querySelector("#send-to-list");
    const to = this.form.querySelector("#send-to");
    const chosen = from.value;
    clear(from);
    clear(list);
    for (const u of this.users) {
      from.append(h("option", {value: u.address, selected: u.address === chosen}, u.address));
      list.append(h("option", {value: u.address}, u.name && u.name !== u.address ? u.name : null));
    }
    const first = this.users[0];
    const other = this.users.find((u) => first && u.address.split("@")[1] !== first.address.split("@")[1]);
    if (!to.value && other) to.value = other.address;
    this.fillDefaults();
  }

  // The default subject and text follow the page's language until the teacher types their own.
  fillDefaults() {
    this.defaults = this.defaults || {};
    for (const [id, key] of [["#send-subject", "send.defaultSubject"], ["#send-body", "send.defaultBody"]]) {
      const field = this.form.querySelector(id);
      const wording = t(key);
      if (!field.value || field.value === this.defaults[id]) field.value = wording;
      this.defaults[id] = wording;
    }
  }

  async send() {
    const get = (id) => this.form.querySelector(id).value;
    const button = this.form.querySelector("#send-submit");
    button.disabled = true;
    try {
      const reply = await api.call("POST", "/api/send",
        {from: get("#send-from"), to: get("#send-to").trim(), subject: get("#send-subject"), body: get("#send-body")});
      this.notify(reply.pending ? t("send.pending") : t("send.ok", {reply: reply.reply}), false);
    } catch (err) {
      this.notify(err.message, true);
    } finally {
      button.disabled = false;
    }
  }

  async flush() {
    try {
      const reply = await api.call("POST", "/api/flush", {});
      this.notify(() => t("world.flushed", {n: reply.retried}), false);
    } catch (err) {
      this.notify(err.message, true);
    }
  }
}
