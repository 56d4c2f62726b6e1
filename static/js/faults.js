// faults.js — what can go wrong, set from the World drawer: a kind, what it is set on (a host, a
// zone or a mailbox) and its few parameters; the faults set now, each with a button that clears it.
// The server checks everything (POST /api/fault, the same parser as a scenario's fault step); this
// module only builds the form and the JSON: {<kind>: <target>, ...params} or {<kind>: <target>, off: true}.

import {h, clear} from "./dom.js";
import {t, rich} from "./i18n.js";
import * as api from "./api.js";

// kind -> what it is set on, and its parameters [name, input type, default]
export const FAULTS = {
  refuse: {on: "host"},
  greylist: {on: "host", params: [["delay", "number", 0]]},
  slow: {on: "host", params: [["greeting", "number", 3], ["data", "number", 0]]},
  reply: {on: "host", params: [["at", "command", "RCPT"], ["code", "number", 451], ["text", "text", "4.3.0 Try again later"], ["times", "number", 1]]},
  size_limit: {on: "host", params: [["size", "number", 10000]]},
  require_tls: {on: "host"},
  no_tls: {on: "host"},
  no_address: {on: "host"},
  mailbox_full: {on: "mailbox", params: [["permanent", "bool", false]]},
  servfail: {on: "zone"},
  dns_timeout: {on: "zone"},
};
const COMMANDS = ["CONNECT", "EHLO", "HELO", "MAIL", "RCPT", "DATA", "DOT", "QUIT"];

// A fault's short name and its parameters, as the diagram's tag and the list show them.
export function faultLabel(fault) {
  return t(`fault.${fault.kind}.short`, faultParams(fault));
}

export function faultParams(fault) {
  return {code: fault.code ?? "", at: fault.command || fault.at || "", size: fault.size ?? "",
    greeting: fault.greeting ?? 0, data: fault.data ?? 0, delay: fault.delay ?? 0, times: fault.times ?? 0};
}

export class FaultControls {
  constructor({form, list}, {notify}) {
    this.form = form;
    this.listEl = list;
    this.notify = notify;
    this.world = null;
    this.users = [];
    this.faults = [];
    this.kind = "refuse";
    form.addEventListener("submit", (ev) => { ev.preventDefault(); this.submit(); });
    list.addEventListener("click", (ev) => {
      const button = ev.target.closest?.("button[data-clear]");
      if (button) this.clear(button.dataset.kind, button.dataset.target);
    });
  }

  setWorld(world, users) {
    this.world = world;
    this.users = users || [];
    this.render();
  }

  setFaults(faults) {
    this.faults = Array.isArray(faults) ? faults : [];
    this.renderList();
  }

  targets(on) {
    if (!this.world) return [];
    if (on === "zone") return this.world.domains.map((d) => d.name);
    if (on === "mailbox") return this.users.map((u) => u.address);
    return this.world.domains.flatMap((d) => d.hosts.map((x) => x.name));
  }

  render() {
    this.renderForm();
    this.renderList();
  }

  renderForm() {
    const form = this.form;
    const keep = {};                 // the values typed so far survive a re-render (language, a new kind)
    for (const el of form.querySelectorAll("[name]")) keep[el.name] = el.type === "checkbox" ? el.checked : el.value;
    clear(form);
    if (!this.world) return;
    const kind = h("select", {id: "fault-kind", name: "kind"});
    for (const name of Object.keys(FAULTS)) kind.append(h("option", {value: name, selected: name === this.kind}, t(`fault.${name}`)));
    kind.addEventListener("change", () => { this.kind = kind.value; this.renderForm(); });
    const spec = FAULTS[this.kind];
    const target = h("select", {id: "fault-target", name: "target"});
    const choices = this.targets(spec.on);
    for (const name of choices) target.append(h("option", {value: name, selected: name === keep.target}, name));
    form.append(
      h("label", {for: "fault-kind"}, t("fault.kind")), kind,
      h("label", {for: "fault-target"}, t(`fault.on.${spec.on}`)), target);
    for (const [name, type, fallback] of spec.params || []) {
      const id = `fault-${name}`;
      let input;
      if (type === "command") {
        input = h("select", {id, name});
        for (const c of COMMANDS) input.append(h("option", {value: c, selected: c === (keep[name] || fallback)}, c));
      } else if (type === "bool") {
        input = h("input", {id, name, type: "checkbox"});
        input.checked = name in keep ? !!keep[name] : fallback;
      } else {
        input = h("input", {id, name, type: type === "number" ? "number" : "text", min: type === "number" ? 0 : null,
          step: type === "number" ? "any" : null, value: name in keep && keep[name] !== "" ? keep[name] : fallback});
      }
      form.append(h("label", {for: id}, t(`fault.param.${name}`)), input);
    }
    form.append(h("p", {class: "hint fault-what"}, rich(`fault.${this.kind}.hint`)),
      h("span"), h("button", {type: "submit", class: "btn btn-primary btn-small", id: "fault-set"}, t("fault.set")));
  }

  renderList() {
    const list = this.listEl;
    clear(list);
    if (!this.faults.length) { list.append(h("li", {class: "hint"}, t("fault.none"))); return; }
    for (const fault of this.faults) {
      const button = h("button", {type: "button", class: "btn btn-small", "data-clear": "", "data-kind": fault.kind,
        "data-target": fault.target}, t("fault.clear"));
      list.append(h("li", {"data-kind": fault.kind, "data-target": fault.target},
        h("span", {class: "fault-mark", "aria-hidden": "true"}, "⚠"),
        h("div", {}, h("div", {class: "name"}, faultLabel(fault)), h("div", {class: "role"}, fault.target)),
        button));
    }
  }

  body() {
    const spec = FAULTS[this.kind];
    const target = this.form.querySelector("[name=target]")?.value;
    const body = {[this.kind]: target};
    for (const [name, type] of spec.params || []) {
      const input = this.form.querySelector(`[name=${name}]`);
      if (!input) continue;
      if (type === "bool") body[name] = input.checked;
      else if (type === "number") body[name] = input.value.trim() === "" ? input.value : Number(input.value);
      else body[name] = input.value;
    }
    return body;
  }

  async submit() {
    try {
      const reply = await api.call("POST", "/api/fault", this.body());
      this.setFaults(reply.faults);
      const kind = this.kind;
      this.notify(() => t("fault.done", {fault: t(`fault.${kind}`)}), false);
    } catch (err) {
      this.notify(err.message, true);
    }
  }

  async clear(kind, target) {
    try {
      const reply = await api.call("POST", "/api/fault", {[kind]: target, off: true});
      this.setFaults(reply.faults);
    } catch (err) {
      this.notify(err.message, true);
    }
  }
}
