"""Real clients from the class: the front door also served on a classroom address.

127.0.0.2 stands in for the classroom network (it is this computer's, like a LAN address would be,
and a client there is a different peer from the loopback front door).  A client there logs in,
sends and reads with the certificate verified against that address; nothing but the front door's
ports listens on it; and the mail still moves only between the sandbox's own hosts.
"""
from __future__ import annotations

import imaplib
import ipaddress
import poplib
import smtplib
import ssl
from pathlib import Path

import pytest
from cryptography import x509

from simulator import tls

CLASSROOM = "127.0.0.2"


def _listening(address: str) -> set[tuple[str, int]]:
    """(protocol, port) of every socket bound to ``address`` (TCP listeners, UDP sockets), from /proc."""
    wanted = ipaddress.ip_address(address)
    found = set()
    for proto in ("tcp", "udp"):
        for line in Path(f"/proc/net/{proto}").read_text().splitlines()[1:]:
            fields = line.split()
            local, state = fields[1], fields[3]
            hex_ip, hex_port = local.split(":")
            ip = ipaddress.ip_address(bytes.fromhex(hex_ip)[::-1])
            if ip == wanted and (proto == "udp" or state == "0A"):       # 0A: LISTEN
                found.add((proto, int(hex_port, 16)))
    return found


@pytest.fixture
def classroom(start_world):
    return start_world(classroom_address=CLASSROOM)


def _context(world) -> ssl.SSLContext:
    cert, _ = tls.ensure_certificate(world.stack.config.data_dir)
    return tls.client_context(cert)


def test_only_the_front_doors_ports_listen_on_the_classroom_address(classroom):
    ports = classroom.stack.config.ports
    front = {("tcp", p) for p in (ports.submission, ports.smtps, ports.imap, ports.imaps, ports.pop3, ports.pop3s)}
    assert _listening(CLASSROOM) == front
    # ... while loopback still has the DNS server and every host's MX on their own addresses
    assert ("udp", ports.dns) in _listening("127.0.0.1")
    assert ("tcp", ports.mx) not in _listening(CLASSROOM)


def test_the_certificate_names_the_classroom_address(classroom):
    cert_path, _ = tls.ensure_certificate(classroom.stack.config.data_dir)
    cert = x509.load_pem_x509_certificate(cert_path.read_bytes())
    names = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert ipaddress.ip_address(CLASSROOM) in names.get_values_for_type(x509.IPAddress)
    assert ipaddress.ip_address("127.0.0.1") in names.get_values_for_type(x509.IPAddress)


def test_a_client_on_the_classroom_network_logs_in_sends_and_reads(classroom):
    ports = classroom.stack.config.ports
    context = _context(classroom)
    # STARTTLS verified against the classroom address itself (an IP SAN), as Thunderbird would
    with smtplib.SMTP(CLASSROOM, ports.submission, local_hostname="laptop.classroom", timeout=10) as smtp:
        smtp.starttls(context=context)
        smtp.login("alice@alpha.test", "alice")
        smtp.sendmail("alice@alpha.test", ["bob@beta.test"],
                      b"Subject: from the classroom\r\nTo: bob@beta.test\r\n\r\nhello\r\n")
    classroom.wait_messages("bob@beta.test")
    with imaplib.IMAP4_SSL(CLASSROOM, ports.imaps, ssl_context=context, timeout=10) as imap:
        imap.login("bob@beta.test", "bob")
        status, data = imap.select("INBOX", readonly=True)
        assert status == "OK" and int(data[0]) == 1
    pop = poplib.POP3_SSL(CLASSROOM, ports.pop3s, context=context, timeout=10)
    try:
        pop.user("bob@beta.test")
        pop.pass_("bob")
        assert pop.stat()[0] == 1
    finally:
        pop.quit()
    # the message went the sandbox's way: submitted at the front door, relayed host to host
    hops = classroom.events.wait_for(lambda e: e.kind == "smtp.session" and e.dst.startswith("mta:")
                                     and e.src == "mua:alice@alpha.test")
    assert hops[0].data["wire"]["server"] == CLASSROOM


def test_relaying_is_refused_on_the_classroom_address(classroom):
    """No open relay there either: without a login nothing is accepted; an MX is not served there."""
    ports = classroom.stack.config.ports
    with smtplib.SMTP(CLASSROOM, ports.submission, local_hostname="laptop.classroom", timeout=10) as smtp:
        smtp.ehlo()
        code, _ = smtp.mail("someone@outside.example")
        assert code == 530                        # authentication required


def test_a_classroom_address_that_is_not_an_ip_is_refused():
    import app
    with pytest.raises(SystemExit, match="IP address"):
        app.classroom_address("teacher.local")
    with pytest.raises(SystemExit, match="one address"):
        app.classroom_address("0.0.0.0")
    assert app.classroom_address("192.168.1.10") == "192.168.1.10"
