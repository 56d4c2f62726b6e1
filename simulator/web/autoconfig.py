"""Thunderbird autoconfig files for the sandbox's domains (the "config-v1.1.xml" format).

Thunderbird's account wizard looks for this file (Mozilla's autoconfiguration documentation):
at ``http://autoconfig.<domain>/mail/config-v1.1.xml?emailaddress=...``, then in its ISPDB at
``<mailnews.auto_config_url><domain>``.  Sandbox domains do not resolve outside the sandbox, so the
README shows two ways: point ``mailnews.auto_config_url`` at ``http://127.0.0.1:<web port>/autoconfig/v1.1/``
or map ``autoconfig.<domain>`` to 127.0.0.1.  Servers are ``localhost`` (the certificate's DNS name),
with the front-door ports as they are bound, and the login is the full address.  With TLS each
service is offered over implicit TLS ("SSL") first, then STARTTLS on its plain port; with
``--no-tls`` only the plain ports, as ``socketType`` "plain" (nothing else listens, and Thunderbird
would otherwise try ports that do not exist).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterable, Mapping
from xml.sax.saxutils import escape, quoteattr

from flask import Blueprint, Response, abort, request

from .context import running_stack


# (config-v1.1 type, element, plain/STARTTLS listener, implicit-TLS listener) of the front door
SERVICES = (("imap", "incoming", "imap", "imaps"), ("pop3", "incoming", "pop3", "pop3s"),
            ("smtp", "outgoing", "submission", "smtps"))


@dataclass(frozen=True, slots=True)
class Server:
    """One server entry of the document: its type, element, port and socketType."""
    kind: str            # imap | pop3 | smtp
    tag: str             # incoming | outgoing
    port: int
    socket_type: str     # SSL | STARTTLS | plain


def front_servers(listeners: Iterable[Mapping[str, Any]], *, tls: bool) -> list[Server]:
    """The front door's servers as they really listen (ports of the bound listeners, so port 0
    in the configuration shows the port chosen): with TLS, implicit TLS first, then STARTTLS;
    without it, only the plain ports (``--no-tls``: no SSL port exists and STARTTLS is not offered)."""
    front = {item["service"]: int(item["port"]) for item in listeners if item.get("host") == "front"}
    found: list[Server] = []
    for kind, tag, plain, implicit in SERVICES:
        if tls and implicit in front:
            found.append(Server(kind, tag, front[implicit], "SSL"))
        if plain in front:
            found.append(Server(kind, tag, front[plain], "STARTTLS" if tls else "plain"))
    return found


def config_xml(domain: str, servers: Iterable[Server], *, display_name: str = "") -> str:
    """The autoconfig document for one domain, listing ``servers`` (see :func:`front_servers`)."""
    d = escape(domain)

    def server(entry: Server) -> str:
        return (f'    <{entry.tag}Server type="{entry.kind}">\n'
                f"      <hostname>localhost</hostname>\n"
                f"      <port>{entry.port}</port>\n"
                f"      <socketType>{entry.socket_type}</socketType>\n"
                f"      <authentication>password-cleartext</authentication>\n"
                f"      <username>%EMAILADDRESS%</username>\n"
                f"    </{entry.tag}Server>\n")
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        '<clientConfig version="1.1">\n'
        f"  <emailProvider id={quoteattr(domain)}>\n"
        f"    <domain>{d}</domain>\n"
        f"    <displayName>{escape(display_name or 'Mailflow sandbox: ' + domain)}</displayName>\n"
        f"    <displayShortName>{d}</displayShortName>\n"
        + "".join(server(entry) for entry in servers)
        + "  </emailProvider>\n</clientConfig>\n")


def blueprint(fixed=None) -> Blueprint:
    """Routes: /autoconfig/v1.1/<domain> (ISPDB style) and /mail/config-v1.1.xml?emailaddress=...

    Without ``fixed`` (a MailStack) the stack is looked up on every request in the app's context:
    the lesson director may have swapped the world."""
    bp = Blueprint("autoconfig", __name__)

    def running() -> Any:
        return fixed if fixed is not None else running_stack()

    def answer(domain: str) -> Response:
        stack = running()
        domain = domain.lower().strip().rstrip(".")
        if not stack.world.is_local_domain(domain):
            abort(404, description=f"{domain} is not a domain of this sandbox")
        servers = front_servers(stack.listener_table(), tls=stack.ssl_context is not None)
        return Response(config_xml(domain, servers), mimetype="application/xml")

    @bp.get("/autoconfig/v1.1/<domain>")
    def ispdb(domain: str) -> Response:
        return answer(domain)

    @bp.get("/mail/config-v1.1.xml")
    @bp.get("/.well-known/autoconfig/mail/config-v1.1.xml")
    def by_address() -> Response:
        address = request.args.get("emailaddress", "")
        if "@" not in address:
            host = (request.host or "").split(":")[0].lower()
            domain = host.removeprefix("autoconfig.")
            if not domain or domain == host and not running().world.is_local_domain(domain):
                abort(400, description="emailaddress=user@domain is required")
            return answer(domain)
        return answer(address.rpartition("@")[2])

    return bp
