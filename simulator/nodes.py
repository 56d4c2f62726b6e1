"""Node ids of the topology: the one place they are made.

The world's graph (:meth:`simulator.world.World.graph`), every publisher of a fact and the page use
these ids; the page also uses them as SVG element ids, so it never has to guess where a hop goes.
Every id an event can name is a node of the graph:

- ``dns`` the sandbox DNS server;
- ``front`` the front door on 127.0.0.1 (submission, IMAP and POP3 for real clients, routed by login);
- ``outside`` programs on this computer that are not sandbox hosts (dig, swaks, nc, a student's
  script) talking to a sandbox host directly; the peer's address is in the fact, not in the id;
- ``app`` an application under test (a Django site, a script with smtplib) sending to the app port;
- ``internet`` the outside world: every domain that is not the sandbox's.  No mail ever leaves the
  machine: mail for it bounces, or is caught into its one mailbox, :data:`CATCH_ADDRESS`
  (``mailbox:outside@mailflow.invalid``), drawn inside its cloud;
- ``mta:<host>``, ``mda:<domain>``, ``imap:<domain>``, ``pop3:<domain>``, ``mua:<address>``,
  ``mailbox:<address>``, ``domain:<domain>``.
"""
from __future__ import annotations

from enum import StrEnum

DNS = "dns"
FRONT = "front"
OUTSIDE = "outside"
APP = "app"
INTERNET = "internet"

# The outside world's mailbox: the catch-all for mail to domains outside the sandbox (``outside:
# catch``) and the keeper of bounces nobody can take.  ``.invalid`` (RFC 2606 §2, RFC 6761 §6.4) can
# never be a real domain, nor a scenario's (the loader refuses it), so the address is nobody's else.
CATCH_DOMAIN = "mailflow.invalid"
CATCH_USER = "outside"
CATCH_ADDRESS = f"{CATCH_USER}@{CATCH_DOMAIN}"


class Kind(StrEnum):
    """The prefix of a node id (``mta:mx1.beta.test`` is of kind MTA)."""
    DNS = "dns"
    FRONT = "front"
    OUTSIDE = "outside"
    APP = "app"
    INTERNET = "internet"
    DOMAIN = "domain"
    MTA = "mta"
    MDA = "mda"
    IMAP = "imap"
    POP3 = "pop3"
    MUA = "mua"
    MAILBOX = "mailbox"


def domain(name: str) -> str:
    return f"domain:{name.lower()}"


def mta(host: str) -> str:
    return f"mta:{host.lower()}"


def mda(domain_name: str) -> str:
    return f"mda:{domain_name.lower()}"


def imap(domain_name: str) -> str:
    return f"imap:{domain_name.lower()}"


def pop3(domain_name: str) -> str:
    return f"pop3:{domain_name.lower()}"


def mua(address: str) -> str:
    return f"mua:{address.lower()}"


def mailbox(address: str) -> str:
    return f"mailbox:{address.lower()}"


def kind_of(node: str) -> Kind:
    """``kind_of("mta:mx.alpha.test") is Kind.MTA``; ValueError for an id of no known kind."""
    return Kind(node.split(":", 1)[0])


def name_of(node: str) -> str:
    """The host, domain or address inside a node id (``mx.alpha.test`` for ``mta:mx.alpha.test``)."""
    return node.split(":", 1)[1] if ":" in node else node


def host_of(node: str) -> str | None:
    """The host name of an ``mta:`` node, None for any other node."""
    return name_of(node) if node.startswith("mta:") else None
