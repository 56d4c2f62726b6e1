"""Thunderbird autoconfig documents for the sandbox domains."""
from __future__ import annotations

import xml.etree.ElementTree as ET

from flask import Flask

from simulator.web.autoconfig import blueprint


def client_for(world):
    app = Flask(__name__)
    app.register_blueprint(blueprint(world.stack))
    return app.test_client()


def test_ispdb_style_document_lists_the_front_door(world):
    ports = world.stack.config.ports
    response = client_for(world).get("/autoconfig/v1.1/beta.test")
    assert response.status_code == 200 and response.mimetype == "application/xml"
    root = ET.fromstring(response.data)
    provider = root.find("emailProvider")
    assert provider.get("id") == "beta.test" and provider.findtext("domain") == "beta.test"
    servers = {(s.get("type"), s.findtext("socketType")): s for s in provider.iter()
               if s.tag in ("incomingServer", "outgoingServer")}
    assert int(servers[("imap", "SSL")].findtext("port")) == ports.imaps
    assert int(servers[("imap", "STARTTLS")].findtext("port")) == ports.imap
    assert int(servers[("pop3", "STARTTLS")].findtext("port")) == ports.pop3
    assert int(servers[("smtp", "STARTTLS")].findtext("port")) == ports.submission
    assert all(s.findtext("hostname") == "localhost" and s.findtext("username") == "%EMAILADDRESS%"
               for s in servers.values())


def test_lookup_by_address_and_unknown_domains(world):
    client = client_for(world)
    assert client.get("/mail/config-v1.1.xml?emailaddress=alice@alpha.test").status_code == 200
    assert client.get("/autoconfig/v1.1/example.com").status_code == 404
    assert client.get("/mail/config-v1.1.xml?emailaddress=x@example.com").status_code == 404
    assert client.get("/mail/config-v1.1.xml").status_code == 400


def test_the_web_app_serves_autoconfig(world):
    from simulator.web import create_app
    client = create_app(world.stack).test_client()
    response = client.get("/autoconfig/v1.1/alpha.test")
    assert response.status_code == 200 and b"<domain>alpha.test</domain>" in response.data
    by_host = client.get("/mail/config-v1.1.xml", headers={"Host": "autoconfig.beta.test"})
    assert by_host.status_code == 200 and b"<domain>beta.test</domain>" in by_host.data


def servers_of(document: bytes) -> list[tuple[str, str, int]]:
    root = ET.fromstring(document)
    return [(s.get("type"), s.findtext("socketType"), int(s.findtext("port")))
            for s in root.find("emailProvider") if s.tag in ("incomingServer", "outgoingServer")]


def test_with_tls_every_service_offers_its_tls_port_and_starttls(world):
    listening = {(item["service"], item["port"]) for item in world.stack.listener_table() if item["host"] == "front"}
    servers = servers_of(client_for(world).get("/autoconfig/v1.1/alpha.test").data)
    assert {(kind, socket) for kind, socket, _port in servers} == {
        (kind, socket) for kind in ("imap", "pop3", "smtp") for socket in ("SSL", "STARTTLS")}
    names = {"imap": ("imaps", "imap"), "pop3": ("pop3s", "pop3"), "smtp": ("smtps", "submission")}
    for kind, socket, port in servers:           # every port in the document is a listening port
        assert (names[kind][0 if socket == "SSL" else 1], port) in listening


def test_without_tls_the_documents_offer_only_the_plain_ports(start_world):
    world = start_world(tls=False)
    assert world.stack.ssl_context is None
    front = {item["service"]: item["port"] for item in world.stack.listener_table() if item["host"] == "front"}
    for path in ("/autoconfig/v1.1/beta.test", "/mail/config-v1.1.xml?emailaddress=alice@alpha.test"):
        servers = servers_of(client_for(world).get(path).data)
        assert sorted(servers) == sorted([("imap", "plain", front["imap"]), ("pop3", "plain", front["pop3"]),
                                          ("smtp", "plain", front["submission"])])
