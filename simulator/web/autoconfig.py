"""Thunderbird autoconfig files for the sandbox's domains (the "config-v1.1.xml" format).

Thunderbird's account wizard looks for this file (Mozilla's autoconfiguration documentation):
at ``http://autoconfig.<domain>/mail/config-v1.1.xml?emailaddress=...``, then in its ISPDB at
``<mailnews.auto_config_url><domain>``.  Sandbox domains do not resolve outside the sandbox, so the
README shows two ways: point ``mailnews.auto_config_url`` at ``http://127.0.0.1:<web port>/autoconfig/v1.1/``
or map ``autoconfig.<domain>`` to 127.0.0.1.  Servers are ``localhost`` (the certificate's DNS name),
with the front-door ports, and the login is the full address.
"""
from __future__ import annotations

from typing import Any
from xml.sax.saxutils import escape, quoteattr

from flask import Blueprint, Response, abort, request

from ..config import Ports
from .context import running_stack


def config_xml(domain: str, ports: Ports, *, display_name: str = "") -> str:
    """The autoconfig document for one domain: IMAP (TLS, STARTTLS, plain), POP3 likewise, SMTP."""
    d = escape(domain)

    def server(kind: str, tag: str, port: int, socket_type: str) -> str:
        return (f'    <{tag}Server type="{kind}">\n'
                f"      <hostname>localhost</hostname>\n"
                f"      <port>{port}</port>\n"
                f"      <socketType>{socket_type}</socketType>\n"
                f"      <authentication>password-cleartext</authentication>\n"
                f"      <username>%EMAILADDRESS%</username>\n"
                f"    </{tag}Server>\n")
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        '<clientConfig version="1.1">\n'
        f"  <emailProvider id={quoteattr(domain)}>\n"
        f"    <domain>{d}</domain>\n"
        f"    <displayName>{escape(display_name or 'Mailflow sandbox: ' + domain)}</displayName>\n"
        f"    <displayShortName>{d}</displayShortName>\n"
        + server("imap", "incoming", ports.imaps, "SSL")
        + server("imap", "incoming", ports.imap, "STARTTLS")
        + server("pop3", "incoming", ports.pop3s, "SSL")
        + server("pop3", "incoming", ports.pop3, "STARTTLS")
        + server("smtp", "outgoing", ports.smtps, "SSL")
        + server("smtp", "outgoing", ports.submission, "STARTTLS")
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
        return Response(config_xml(domain, stack.config.ports), mimetype="application/xml")

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
