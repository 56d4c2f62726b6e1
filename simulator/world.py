"""The sandbox as data: domains, hosts, users and MX tables, and the topology graph.

Built from a :class:`~simulator.scenario.Scenario` and then changed while the world runs (a host
goes down, a teacher edits an MX table).  Every change goes through a method here, which checks it
and tells the listeners (the runtime restarts listeners and republishes the DNS zone).  The world
is read from the web thread and changed on the mail loop, so it guards itself with a lock.

Where mail ends that has no mailbox of its own:

- ``postmaster@`` every sandbox domain with mailboxes is delivered to one of its users
  (:meth:`World.postmaster_of`): RFC 5321 §4.5.1 says a server MUST accept mail for the postmaster of
  every domain it takes mail for.  The local part is case-insensitive (``Postmaster@``, and the SMTP
  session turns a bare ``RCPT TO:<Postmaster>`` into ``postmaster@`` the door's domain); a user
  named postmaster takes it, else the domain's ``postmaster:`` user, else its ``catch_all``
  user (who would catch it anyway), else its first user in the scenario, else its first user now
  (a class domain whose only users are students).  Students never get the name (:mod:`.classroom`);
- a domain's ``catch_all`` user takes mail for any other local part of the domain
  (:meth:`World.mailbox_of`);
- mail for a domain outside the sandbox is the outside world's (:attr:`World.outside`): ``bounce``
  (the sending host gives up at once) or ``catch`` (it lands whole in the outside world's mailbox,
  :data:`~simulator.nodes.CATCH_ADDRESS`).  That mailbox also keeps every bounce that could not be
  delivered (a real MTA hands such a "double bounce" to its postmaster), so in ``bounce`` mode too no
  message ends only in the log.  It is a mailbox like a user's (read over IMAP and POP3 through the
  front door, in the webmail and on the page) whose password is the teacher's
  (:func:`outside_password`: kept in the data directory, 0600); :meth:`World.users` lists it only in
  ``catch`` mode, where it is one of the world's mailboxes, but it can always be logged in to.
"""
from __future__ import annotations

import hmac
import functools
import ipaddress
import os
import secrets
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Iterable

if TYPE_CHECKING:                   # only annotations here: networkx loads when a graph is built
    import networkx as nx

from . import nodes
from .fsutil import write_atomic
from .protocols.dns.zone import Record
from .scenario import DomainSpec, Outside, Role, Scenario
from .scenario.model import UserSpec

POSTMASTER = "postmaster"     # the local part every mail domain MUST accept (RFC 5321 §4.5.1)
_NO_PASSWORD = "\0no user has this password"     # what an unknown login is compared with
PASSWORD_FILE = "outside-password"
PASSWORD_ENV = "MAILFLOW_OUTSIDE_PASSWORD"


def outside_password(data_dir: Path | None) -> str:
    """The password of the outside world's mailbox: ``$MAILFLOW_OUTSIDE_PASSWORD`` if set, else the
    one kept in ``<data>/outside-password`` (made on first use, mode 0600), so a mail client set up
    for it keeps working across restarts; a fresh random one when there is no data directory."""
    given = os.environ.get(PASSWORD_ENV, "").strip()
    if given:
        return given
    if data_dir is None:
        return secrets.token_urlsafe(12)
    path = Path(data_dir) / PASSWORD_FILE
    try:
        kept = path.read_text(encoding="utf-8").strip()
        if kept:
            return kept
    except (FileNotFoundError, UnicodeDecodeError):
        pass
    password = secrets.token_urlsafe(12)
    path.parent.mkdir(parents=True, exist_ok=True)
    write_atomic(path, (password + "\n").encode())
    return password


@dataclass(frozen=True, slots=True)
class Account:
    user: str
    domain: str

    @property
    def address(self) -> str:
        return f"{self.user}@{self.domain}"


@dataclass(frozen=True, slots=True)
class Mx:
    preference: int
    host: str          # "." is the null MX of RFC 7505


@dataclass(slots=True)
class Host:
    name: str
    domain: str
    role: Role
    address: str
    up: bool

    def to_dict(self) -> dict:
        return {"name": self.name, "domain": self.domain, "role": str(self.role),
                "address": self.address, "up": self.up}


class WorldError(ValueError):
    """A change to the world that cannot be made (unknown host, bad preference ...)."""


class Acceptance:
    """What a host does with mail for a domain (see World.acceptance)."""
    FINAL = "final"      # it is the domain's mail server: the MDA delivers into mailboxes
    RELAY = "relay"      # it backs the domain up: it queues and forwards to a better MX
    NONE = "none"        # not its business: 550 5.7.1, relaying denied


def split_address(address: str) -> tuple[str, str]:
    local, _, domain = address.rpartition("@")
    return local, domain.lower().rstrip(".")


class World:
    def __init__(self, scenario: Scenario, *, outside: str | Outside | None = None,
                 data_dir: Path | None = None) -> None:
        """``outside`` overrides the scenario's choice (the command line's ``--outside``);
        ``data_dir`` keeps the outside world's password (:func:`outside_password`)."""
        self.scenario = scenario
        self.outside = Outside(str(outside).lower()) if outside else scenario.outside
        self.catch = UserSpec(name=nodes.CATCH_USER, domain=nodes.CATCH_DOMAIN,
                              password=outside_password(data_dir), display_name="Outside world", line=0)
        self._lock = threading.RLock()
        self._domains: dict[str, DomainSpec] = {d.name: d for d in scenario.domains}
        self.hosts: dict[str, Host] = {
            h.name: Host(h.name, h.domain, h.role, h.address, h.up) for h in scenario.hosts}
        self._mx: dict[str, list[Mx] | None] = {
            d.name: None if d.mx is None else [Mx(m.preference, m.host) for m in d.mx]
            for d in scenario.domains}
        self._passwords = {u.address.lower(): u.password for u in scenario.users}
        self._users = {u.address.lower(): u for u in scenario.users}
        self._sent: dict[str, int] = {}                  # messages each user submitted
        self._send_limits: dict[str, int] = {}           # address -> most messages it may submit
        self._listeners: list[Callable[[str, dict], None]] = []

    # -- reading ---------------------------------------------------------------------------------
    @property
    def domains(self) -> list[str]:
        return list(self._domains)

    def domain(self, name: str) -> DomainSpec:
        return self._domains[name.lower()]

    def users(self, domain: str | None = None) -> list[str]:
        """The world's mailboxes: its users', then the outside world's when it catches mail."""
        with self._lock:
            found = [a for a, u in self._users.items() if domain is None or u.domain == domain]
        if self.outside is Outside.CATCH and domain in (None, nodes.CATCH_DOMAIN):
            found.append(nodes.CATCH_ADDRESS)
        return found

    def user(self, address: str) -> UserSpec | None:
        if address.lower() == nodes.CATCH_ADDRESS:
            return self.catch
        return self._users.get(address.lower())

    def _user_specs(self, domain: str) -> list[UserSpec]:
        with self._lock:
            return [u for u in self._users.values() if u.domain == domain]

    def is_local_domain(self, domain: str) -> bool:
        return domain.lower().rstrip(".") in self._domains

    def user_exists(self, address: str) -> bool:
        """A mailbox of this address exists: a user's, or the outside world's."""
        return address.lower() in self._users or address.lower() == nodes.CATCH_ADDRESS

    def mailbox_of(self, address: str) -> str | None:
        """The mailbox mail for ``address`` is delivered into, if this world has one: the user's own,
        else (for ``postmaster@``) the domain's postmaster's, else its sandbox domain's catch-all
        user's; None for an address nobody takes (and for the outside world's domains: where their
        mail goes is :attr:`outside`'s business)."""
        wanted = address.lower()
        with self._lock:
            if wanted in self._users:
                return wanted
            local, domain = split_address(wanted)
            spec = self._domains.get(domain)
            if spec is None:
                return None
            if local == POSTMASTER:
                return self.postmaster_of(domain)
            if not spec.catch_all:
                return None
            target = f"{spec.catch_all}@{domain}"
            return target if target in self._users else None

    def postmaster_of(self, domain: str) -> str | None:
        """The mailbox ``postmaster@<domain>`` is delivered into (RFC 5321 §4.5.1): the user named
        postmaster if there is one, else the domain's ``postmaster:`` user, its ``catch_all`` user,
        its first user in the scenario, its first user now (the first that still exists); None for
        a domain with no mailboxes (or not in the sandbox)."""
        domain = domain.lower().rstrip(".")
        with self._lock:
            spec = self._domains.get(domain)
            if spec is None:
                return None
            names = [POSTMASTER, spec.postmaster, spec.catch_all, *(u.name for u in spec.users)]
            for name in names:
                if name and f"{name}@{domain}" in self._users:
                    return f"{name}@{domain}"
            return next((a for a, u in self._users.items() if u.domain == domain), None)

    def catches(self, domain: str) -> bool:
        """Is mail for ``domain`` the outside world's, caught whole in its mailbox?"""
        return self.outside is Outside.CATCH and not self.is_local_domain(domain)

    def mx(self, domain: str) -> list[Mx] | None:
        with self._lock:
            table = self._mx[domain.lower()]
            return None if table is None else list(table)

    def host_by_address(self, ip: str) -> Host | None:
        return next((h for h in self.hosts.values() if h.address == ip), None)

    def submission_host(self, domain: str) -> Host | None:
        """The host whose queue takes a domain's outgoing mail: its first MSA, else its first MX."""
        hosts = [h for h in self.hosts.values() if h.domain == domain]
        for role in (Role.MSA, Role.MX, Role.BACKUP_MX):
            for host in hosts:
                if host.role is role:
                    return host
        return None

    def retrieval_host(self, domain: str) -> Host | None:
        """Where a domain's mailboxes live (its IMAP/POP3 answer there): its first host of role mx."""
        return next((h for h in self.hosts.values() if h.domain == domain and h.role is Role.MX), None)

    def acceptance(self, host: Host, domain: str) -> str:
        """May ``host`` accept mail for ``domain`` on its MX port, and what does it do with it?

        A host of role mx in the domain is the final destination.  Any other host that appears in the
        domain's MX table (a backup MX, or an MX of another domain used as its backup) relays.  With
        no MX table, the domain's A record is the implicit MX (RFC 5321 §5.1).
        """
        domain = domain.lower().rstrip(".")
        if domain not in self._domains:
            return Acceptance.NONE
        if host.domain == domain and host.role is Role.MX:
            return Acceptance.FINAL
        with self._lock:
            table = self._mx[domain]
        listed = ({m.host for m in table} if table is not None
                  else {h.name for h in self.hosts.values() if h.address == self._domains[domain].address})
        if host.name in listed and host.role is not Role.MSA:
            return Acceptance.RELAY
        return Acceptance.NONE

    def authenticate(self, login: str, password: str, default_domain: str | None = None) -> Account | None:
        """Check a login ("alice@alpha.test", or "alice" where a default domain is known).

        The same work whether the user exists or not (rule 5: the timing must not tell): an unknown
        login is compared with a password no user has, by the same lines.  ``compare_digest``'s time
        depends on the length of its second argument, the password the client sent."""
        login = login.strip()
        if "@" not in login and default_domain is not None:
            login = f"{login}@{default_domain}"
        expected = self._passwords.get(login.lower()) if "@" in login else None
        if login.lower() == nodes.CATCH_ADDRESS:
            expected = self.catch.password
        known = expected is not None
        matches = hmac.compare_digest((expected if known else _NO_PASSWORD).encode(), password.encode())
        if not (known and matches):
            return None
        local, domain = split_address(login.lower())
        return Account(local, domain)

    # -- changing --------------------------------------------------------------------------------
    def on_change(self, listener: Callable[[str, dict], None]) -> None:
        self._listeners.append(listener)

    def set_host_state(self, name: str, up: bool) -> Host:
        with self._lock:
            host = self.hosts.get(name.lower())
            if host is None:
                raise WorldError(f"no host named {name!r} in this scenario")
            host.up = bool(up)
        self._notify("host", {"host": host.name, "up": host.up})
        return host

    def set_mx(self, domain: str, records: Iterable[tuple[int, str]]) -> list[Mx]:
        domain = domain.lower().rstrip(".")
        if domain not in self._domains:
            raise WorldError(f"no domain named {domain!r} in this scenario")
        table: list[Mx] = []
        for preference, host in records:
            if isinstance(preference, bool) or not isinstance(preference, int) or not 0 <= preference <= 65535:
                raise WorldError(f"MX preference must be an integer 0..65535, not {preference!r}")
            host = str(host).lower().rstrip(".") or "."
            if host != "." and host not in self.hosts:
                raise WorldError(f"MX host {host!r} is not a host of this scenario")
            if host != "." and self.hosts[host].role is Role.MSA:
                raise WorldError(f"{host} is a submission server (MSA); it cannot be an MX")
            if any(m.host == host for m in table):
                raise WorldError(f"{host} appears twice in the MX table")
            table.append(Mx(preference, host))
        if any(m.host == "." for m in table) and (len(table) != 1 or table[0].preference != 0):
            raise WorldError("a null MX ('0 .') must be the only MX record of its domain (RFC 7505 §3)")
        with self._lock:
            self._mx[domain] = table
        self._notify("mx", {"domain": domain, "mx": [[m.preference, m.host] for m in table]})
        return table

    def add_user(self, domain: str, name: str, password: str, display_name: str) -> UserSpec:
        """A user who joins while the world runs (a student): a mailbox of ``domain`` from now on.

        The domain must be one where mail is final (it has a host of role mx), so the user's mail
        is delivered and can be read; the address must be new.  Nothing is written: the store makes
        the Maildir on the first delivery or login."""
        domain = domain.lower().rstrip(".")
        if domain not in self._domains:
            raise WorldError(f"no domain named {domain!r} in this scenario")
        if self.retrieval_host(domain) is None:
            raise WorldError(f"{domain} has no mailbox server (no host of role mx)")
        spec = UserSpec(name=name.lower(), domain=domain, password=password, display_name=display_name, line=0)
        with self._lock:
            if spec.address in self._users:
                raise WorldError(f"{spec.address} already exists")
            self._users[spec.address] = spec
            self._passwords[spec.address] = password
        self._notify("user", {"address": spec.address, "name": display_name, "joined": True})
        return spec

    def remove_user(self, address: str) -> UserSpec:
        """The user leaves: no more logins or deliveries (mail already on disk stays there)."""
        with self._lock:
            spec = self._users.pop(address.lower(), None)
            if spec is None:
                raise WorldError(f"no user {address!r} in this world")
            self._passwords.pop(spec.address, None)
            self._send_limits.pop(spec.address, None)
            self._sent.pop(spec.address, None)
        self._notify("user", {"address": spec.address, "name": spec.display_name, "joined": False})
        return spec

    # -- sending limits (a classroom's per-student limit; the MSA enforces it) -----------------
    def set_send_limit(self, address: str, limit: int | None) -> None:
        with self._lock:
            if limit is None:
                self._send_limits.pop(address.lower(), None)
            else:
                self._send_limits[address.lower()] = max(0, int(limit))

    def send_limit(self, address: str) -> int | None:
        with self._lock:
            return self._send_limits.get(address.lower())

    def sent(self, address: str) -> int:
        with self._lock:
            return self._sent.get(address.lower(), 0)

    def may_send(self, address: str) -> bool:
        """Has this user messages left under its sending limit (True when it has none)?"""
        with self._lock:
            limit = self._send_limits.get(address.lower())
            return limit is None or self._sent.get(address.lower(), 0) < limit

    def reserve_send(self, address: str) -> bool:
        """Count one more message of ``address`` if its limit allows (check and count are one step,
        so parallel sessions cannot all slip under the limit); False: over the limit."""
        key = address.lower()
        with self._lock:
            limit = self._send_limits.get(key)
            if limit is not None and self._sent.get(key, 0) >= limit:
                return False
            self._sent[key] = self._sent.get(key, 0) + 1
            return True

    def release_send(self, address: str) -> None:
        """A reserved message that was not queued after all (the queue could not store it)."""
        key = address.lower()
        with self._lock:
            if self._sent.get(key, 0) > 0:
                self._sent[key] -= 1

    def set_sent(self, address: str, count: int) -> None:
        with self._lock:
            self._sent[address.lower()] = max(0, int(count))

    def _notify(self, what: str, detail: dict) -> None:
        for listener in list(self._listeners):
            listener(what, detail)

    # -- DNS -------------------------------------------------------------------------------------
    def zone_records(self, domain: str, *, ns_address: str = "127.0.0.1") -> list[Record]:
        """The authoritative zone of one domain: NS, the hosts' A records, MX, apex A and TXT."""
        spec = self._domains[domain]
        records = [Record(domain, "NS", f"ns.{domain}."), Record(f"ns.{domain}", "A", ns_address)]
        for host in self.hosts.values():
            if host.domain == domain:
                records.append(Record(host.name, "A", host.address))
        for mx in self.mx(domain) or []:
            target = "." if mx.host == "." else f"{mx.host}."
            records.append(Record(domain, "MX", f"{mx.preference} {target}"))
        if spec.address:
            records.append(Record(domain, "A", spec.address))
        for txt in spec.txt:
            records.append(Record(domain, "TXT", _txt_rdata(txt)))
        return records

    # -- views -----------------------------------------------------------------------------------
    def to_dict(self) -> dict:
        with self._lock:
            return {
                "scenario": {"name": self.scenario.name,
                             "title": {"en": self.scenario.title.en, "ru": self.scenario.title.ru},
                             "summary": {"en": self.scenario.summary.en, "ru": self.scenario.summary.ru}},
                "domains": [{
                    "name": d.name,
                    "users": [{"address": u.address, "name": u.display_name} for u in self._user_specs(d.name)],
                    "hosts": [self.hosts[h.name].to_dict() for h in d.hosts],
                    "mx": None if self._mx[d.name] is None
                    else [{"preference": m.preference, "host": m.host} for m in self._mx[d.name]],
                    "address": d.address,
                    "catch_all": f"{d.catch_all}@{d.name}" if d.catch_all else None,
                } for d in self._domains.values()],
                "outside": {"mode": self.outside.value, "mailbox": nodes.CATCH_ADDRESS},
            }

    def graph(self) -> nx.DiGraph:
        """The topology: node ids from :mod:`simulator.nodes`, edges along which hops travel.

        Besides each domain's hosts, MDA, retrieval servers, users and mailboxes, two nodes stand
        for what is not a sandbox host: the front door (``front``: real clients submit there, it
        hands each message to the sender's submission host, and it serves every mailbox over IMAP
        and POP3) and the programs outside (``outside``: dig, swaks, nc or a script talking to a
        host, a retrieval server or the DNS server directly, or to the front door before its login).
        Three more stand for the world around the sandbox: an application under test (``app``: it
        submits through the app port to an MSA), the outside world (``internet``: every host may hand
        it mail, in ``catch`` mode or as a bounce nobody can take; its ``mode`` says which) and the
        outside world's mailbox (kind mailbox, ``inside`` the internet node, read through the front door)
        with its reader (kind mua, inside it too: the mail client of whoever reads the caught mail).
        A hop from a host to the outside world, or from the application to an MSA, has no edge here:
        any host may take either, so the layout lists those routes apart (``outer``) and the page draws
        one only while a hop uses it.
        """
        import networkx as nx           # here, not at import: a run nobody watches never pays its 12-24 MiB
        g = nx.DiGraph()
        g.add_node(nodes.DNS, kind="dns", label="DNS")
        g.add_node(nodes.FRONT, kind="front", label=nodes.FRONT)
        g.add_node(nodes.OUTSIDE, kind="outside", label=nodes.OUTSIDE)
        g.add_node(nodes.APP, kind="app", label=nodes.APP)
        g.add_node(nodes.INTERNET, kind="internet", label=nodes.INTERNET, mode=self.outside.value)
        catch, reader = nodes.mailbox(nodes.CATCH_ADDRESS), nodes.mua(nodes.CATCH_ADDRESS)
        g.add_node(catch, kind="mailbox", label=nodes.CATCH_USER, domain=nodes.CATCH_DOMAIN, inside=nodes.INTERNET)
        g.add_node(reader, kind="mua", label=nodes.CATCH_ADDRESS, domain=nodes.CATCH_DOMAIN, inside=nodes.INTERNET)
        g.add_edge(nodes.OUTSIDE, nodes.DNS, kind="dns")
        g.add_edge(nodes.OUTSIDE, nodes.FRONT, kind="direct")     # a client before (or failing) its login
        g.add_edge(nodes.APP, nodes.FRONT, kind="direct")         # an app port session before MAIL names a host
        g.add_edge(nodes.INTERNET, catch, kind="deliver")
        g.add_edge(catch, nodes.FRONT, kind="retrieve")
        g.add_edge(catch, reader, kind="retrieve")                # whoever reads it (a developer's client)
        for d in self._domains.values():
            self._graph_domain(g, d)
        for d in self._domains.values():
            self._graph_relays(g, d)
        return g

    def _graph_domain(self, g: nx.DiGraph, d: DomainSpec) -> None:
        """One domain's nodes: hosts, MDA, IMAP and POP3 (where mail is final), users, mailboxes."""
        g.add_node(nodes.domain(d.name), kind="domain", label=d.name)
        mda = nodes.mda(d.name)
        for host in (self.hosts[h.name] for h in d.hosts):
            node = nodes.mta(host.name)
            g.add_node(node, kind=str(host.role), label=host.name, domain=d.name,
                       address=host.address, up=host.up)
            g.add_edge(node, nodes.DNS, kind="dns")
            g.add_edge(nodes.OUTSIDE, node, kind="direct")
        if any(self.hosts[h.name].role is Role.MX for h in d.hosts):
            g.add_node(mda, kind="mda", label="MDA", domain=d.name)
            g.add_node(nodes.imap(d.name), kind="imap", label="IMAP", domain=d.name)
            g.add_node(nodes.pop3(d.name), kind="pop3", label="POP3", domain=d.name)
            g.add_edge(nodes.OUTSIDE, nodes.imap(d.name), kind="direct")
            g.add_edge(nodes.OUTSIDE, nodes.pop3(d.name), kind="direct")
            for host in d.hosts:
                if host.role is Role.MX:
                    g.add_edge(nodes.mta(host.name), mda, kind="local")
        submit = self.submission_host(d.name)
        if submit is not None:
            g.add_edge(nodes.FRONT, nodes.mta(submit.name), kind="submission")
        for user in self._user_specs(d.name):
            mua, box = nodes.mua(user.address), nodes.mailbox(user.address)
            g.add_node(mua, kind="mua", label=user.address, domain=d.name)
            g.add_node(box, kind="mailbox", label=user.name, domain=d.name)
            if submit is not None:
                g.add_edge(mua, nodes.mta(submit.name), kind="submission")
            g.add_edge(mda, box, kind="deliver")
            g.add_edge(box, mua, kind="retrieve")
            g.add_edge(box, nodes.FRONT, kind="retrieve")

    def _graph_relays(self, g: nx.DiGraph, d: DomainSpec) -> None:
        """SMTP edges into the MX hosts of one domain: every MSA may send to them; a backup MX of the
        domain forwards to its better MXs."""
        for mx in self.mx(d.name) or []:
            if mx.host == ".":
                continue
            for sender in self.hosts.values():
                relays = sender.role is Role.MSA or (
                    sender.domain == d.name and sender.role is Role.BACKUP_MX)
                if relays and sender.name != mx.host:
                    g.add_edge(nodes.mta(sender.name), nodes.mta(mx.host), kind="smtp",
                               preference=mx.preference, domain=d.name)


def _txt_rdata(text: str) -> str:
    """Quote a TXT string, split into 255-octet chunks (RFC 1035 §3.3.14)."""
    raw = text.replace("\\", "\\\\").replace('"', '\\"')
    chunks = [raw[i:i + 250] for i in range(0, len(raw), 250)] or [""]
    return " ".join(f'"{c}"' for c in chunks)


@functools.lru_cache(maxsize=256)      # asked for every address of every relay
def is_loopback(address: str) -> bool:
    try:
        return ipaddress.ip_address(address).is_loopback
    except ValueError:
        return False
