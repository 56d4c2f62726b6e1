// clients.js — the "Connect a mail client" drawer: every user's login and password, the front
// door's servers and ports, the certificate's fingerprint, Thunderbird's autoconfig and
// copy-ready command lines, and how an application (Python, Django, Node, curl) trusts the
// certificate, with the file's real path.  Everything comes from GET /api/clients (in shared mode a
// viewer gets no passwords: they show as ••••) and goes into the page as text.

import {h, clear} from "./dom.js";
import {t, rich} from "./i18n.js";
import * as api from "./api.js";

const HIDDEN = "••••";
const SERVICES = [
  {key: "imap", name: "IMAP"},
  {key: "pop3", name: "POP3"},
  {key: "smtp", name: "SMTP"},
];

export class ClientsPanel {
  constructor({drawer, toggle, close, body}, {notify, onOpen}) {
    this.drawer = drawer;
    this.toggleButton = toggle;
    this.body = body;
    this.notify = notify;
    this.onOpen = onOpen;
    this.data = null;
    this.selected = null;       // the user whose command lines are shown
    toggle.addEventListener("click", () => this.setOpen(drawer.hidden));
    close.addEventListener("click", () => this.setOpen(false));
  }

  get open() { return !this.drawer.hidden; }

  async setOpen(open) {
    this.drawer.hidden = !open;
    this.toggleButton.setAttribute("aria-expanded", String(open));
    if (!open) return;
    this.onOpen?.();
    this.render();
    try {
      this.data = await api.get("/api/clients");
      if (!this.selected || !this.data.users.some((u) => u.address === this.selected)) {
        this.selected = this.data.users[0]?.address || null;
      }
      this.render();
    } catch (err) {
      this.notify(err.message, true);
    }
  }

  render() {
    if (!this.open) return;
    const scrolled = this.body.scrollTop;      // a re-render (language, another user) keeps the place
    clear(this.body);
    if (!this.data) { this.body.append(h("p", {class: "hint"}, t("mailbox.loading"))); return; }
    const d = this.data;
    this.body.append(
      h("p", {class: "hint clients-intro"}, rich("clients.intro")),
      h("p", {class: "clients-webmail"}, h("a", {href: "/webmail", id: "clients-webmail"}, t("clients.webmail"))),
      this.accounts(d),
      this.servers(d),
      this.commands(d),
      this.trust(d),
      this.thunderbird(d),
    );
    this.body.scrollTop = scrolled;
    this.body.dataset.ready = "yes";
  }

  // -- accounts: login, password, the domain's autoconfig ---------------------------------------
  accounts(d) {
    const rows = d.users.map((u) => {
      const pick = h("button", {type: "button", class: "btn btn-small", "aria-pressed": String(u.address === this.selected),
        title: t("clients.showCommands")}, t("clients.commandsFor"));
      pick.addEventListener("click", () => {
        this.selected = u.address;
        this.render();
        this.body.querySelector(".clients-commands")?.scrollIntoView({block: "nearest"});
      });
      return h("tr", {"data-user": u.address, class: u.address === this.selected ? "selected" : null},
        h("td", {class: "mono login"}, u.login),
        h("td", {class: u.password === null ? "mono password hidden-password" : "mono password",
          title: u.password === null ? t("clients.passwordHidden") : null}, u.password ?? HIDDEN),
        h("td", {class: "autoconfig"}, h("a", {href: u.autoconfig, class: "mono", title: `${t("clients.autoconfigDoc", {domain: u.domain})}: ${u.autoconfig}`},
          `${u.domain} ↗`)),
        h("td", {class: "pick"}, pick));
    });
    return h("section", {class: "clients-accounts"},
      h("h3", {}, t("clients.accounts")),
      h("table", {class: "clients-table"},
        h("thead", {}, h("tr", {},
          h("th", {scope: "col"}, t("clients.login")),
          h("th", {scope: "col"}, t("clients.password")),
          h("th", {scope: "col", title: t("clients.autoconfig.hint")}, t("clients.autoconfig")),
          h("th", {scope: "col"}, h("span", {class: "sr-only"}, t("clients.commands"))))),
        h("tbody", {}, rows)),
      d.passwords_shown ? null : h("p", {class: "hint"}, t("clients.passwordHidden")));
  }

  // -- the front door's servers ------------------------------------------------------------------
  servers(d) {
    const port = (value) => (value === null || value === undefined ? "—" : String(value));
    const rows = SERVICES.map(({key, name}) => {
      const s = d.servers[key];
      return h("tr", {"data-service": key},
        h("th", {scope: "row"}, name, h("span", {class: "what"}, rich(`clients.what.${key}`))),
        h("td", {class: "mono"}, s.host),
        h("td", {class: "mono port port-starttls"}, port(s.port)),
        h("td", {class: "mono port port-ssl"}, port(s.ssl_port)));
    });
    const cert = d.certificate
      ? h("div", {class: "fingerprint"},
        h("div", {class: "fingerprint-head"}, rich("clients.fingerprint")),
        h("code", {class: "mono", "data-fingerprint": "sha256"}, d.certificate.sha256),
        h("p", {class: "hint"}, rich("clients.fingerprint.hint")))
      : h("p", {class: "hint"}, t("clients.noTls"));
    return h("section", {class: "clients-servers"},
      h("h3", {}, t("clients.servers")),
      h("table", {class: "clients-table ports"},
        h("thead", {}, h("tr", {},
          h("th", {scope: "col"}, t("clients.service")),
          h("th", {scope: "col"}, t("clients.server")),
          h("th", {scope: "col"}, d.tls ? rich("clients.starttls") : t("clients.plain")),
          h("th", {scope: "col"}, rich("clients.ssl")))),
        h("tbody", {}, rows)),
      h("p", {class: "hint"}, rich(d.tls ? "clients.servers.hint" : "clients.servers.hintNoTls")),
      api.shared() ? h("p", {class: "hint loopback-only"}, t("clients.loopbackOnly")) : null,
      cert);
  }

  // -- copy-ready command lines for the selected user ----------------------------------------------
  commands(d) {
    const user = d.users.find((u) => u.address === this.selected);
    const select = h("select", {id: "clients-user"});
    for (const u of d.users) select.append(h("option", {value: u.address, selected: u.address === this.selected}, u.address));
    select.addEventListener("change", () => { this.selected = select.value; this.render(); });
    const box = h("section", {class: "clients-commands"},
      h("h3", {}, t("clients.commands")),
      h("label", {class: "clients-user"}, h("span", {}, t("clients.account")), select));
    if (!user) return box;
    box.append(
      this.command("curl", rich("clients.cmd.curl"), user.commands.curl),
      this.command("swaks", rich("clients.cmd.swaks"), user.commands.swaks));
    if (user.password === null) box.append(h("p", {class: "hint"}, rich("clients.cmd.prompt")));
    return box;
  }

  command(name, label, text) {
    const code = h("code", {class: "mono"}, text);
    const copy = h("button", {type: "button", class: "btn btn-small copy"}, t("clients.copy"));
    copy.addEventListener("click", () => this.copy(text, code, copy));
    return h("div", {class: "command", "data-command": name},
      h("div", {class: "command-head"}, h("span", {}, label), copy),
      h("pre", {}, code));
  }

  async copy(text, code, button) {
    let done = false;
    try {
      if (navigator.clipboard && window.isSecureContext) {
        await navigator.clipboard.writeText(text);
        done = true;
      }
    } catch (_) { done = false; }
    if (!done) {
      // No clipboard access (a plain-HTTP classroom address is not a secure context): select the
      // text, so Ctrl+C copies it.
      const range = document.createRange();
      range.selectNodeContents(code);
      const selection = window.getSelection();
      selection.removeAllRanges();
      selection.addRange(range);
    }
    button.textContent = done ? t("clients.copied") : t("clients.selected");
    clearTimeout(button.resetTimer);
    button.resetTimer = setTimeout(() => { button.textContent = t("clients.copy"); }, 2000);
  }

  // -- applications: how they trust the certificate (the API's trust hints) ----------------------------
  trust(d) {
    const x = d.trust;
    if (!x) return null;
    const c = x.commands || {};
    return h("section", {class: "clients-trust", "data-own": x.own ? "yes" : "no"},
      h("h3", {}, t("clients.trust.title")),
      h("p", {class: "hint"}, rich(x.own ? "clients.trust.introOwn" : "clients.trust.intro")),
      h("p", {class: "trust-path"}, h("code", {class: "mono", "data-trust": "path"}, x.path)),
      h("p", {class: "hint trust-names"}, t("clients.trust.names"), " ",
        (x.names || []).flatMap((name, i) => [i ? ", " : "", h("code", {}, name)])),
      h("p", {}, h("a", {href: x.download, class: "btn btn-small", id: "clients-cert-download"}, t("clients.trust.download"))),
      this.command("trust-python", rich("clients.trust.python"), c.python),
      this.command("trust-python-code", rich("clients.trust.pythonCode"), c.python_code),
      this.command("trust-django-settings", rich("clients.trust.djangoSettings"), c.django_settings),
      this.command("trust-django", rich("clients.trust.django"), c.django),
      this.command("trust-node", rich("clients.trust.node"), c.node),
      this.command("trust-curl", rich("clients.trust.curl"), c.curl),
      h("p", {class: "hint"}, rich("clients.trust.note")));
  }

  // -- Thunderbird's account wizard --------------------------------------------------------------
  thunderbird(d) {
    const domains = [...new Set(d.users.map((u) => u.domain))];
    return h("section", {class: "clients-thunderbird"},
      h("h3", {}, rich("clients.tb.title")),
      h("p", {class: "hint"}, t("clients.tb.step1")),
      this.command("autoconfig", "mailnews.auto_config_url", d.autoconfig_url),
      h("p", {class: "hint"}, t("clients.tb.step2")),
      h("p", {class: "tb-links"}, h("span", {class: "hint"}, t("clients.tb.documents")),
        domains.map((domain) => h("a", {href: `/autoconfig/v1.1/${encodeURIComponent(domain)}`, class: "mono small"}, domain))));
  }
}
