"""Certificates a client can trust (issue 11, part 5): the user's own pair (--tls-cert/--tls-key),
checked at start, served instead of the generated leaf; and the trust settings /api/clients shows
(SSL_CERT_FILE, NODE_EXTRA_CA_CERTS, curl --cacert), run as they are shown, by real programs.

Real programs need Python, node and curl (scripts/system-packages installs them); a missing one is a
failure, not a skip.
"""
from __future__ import annotations

import datetime
import ipaddress
import os
import shlex
import shutil
import socket
import ssl
import subprocess
import sys
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

import app as app_module
from simulator import tls
from simulator.web import create_app
from web_fixtures import browser, site  # noqa: F401  (fixtures)


def need(program: str) -> str:
    path = shutil.which(program)
    assert path, f"{program} is not installed (scripts/system-packages installs it)"
    return path


def make_pair(directory: Path, name: str = "own", *, dns: tuple[str, ...] = ("localhost",),
              ips: tuple[str, ...] = ("127.0.0.1",), days: int = 30, password: bytes | None = None) -> tuple[Path, Path]:
    """A self-signed EC certificate and its key, as a user might bring them (not the sandbox's RSA leaf)."""
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, f"{name}.example")])
    now = datetime.datetime.now(datetime.timezone.utc)
    sans = [x509.DNSName(d) for d in dns] + [x509.IPAddress(ipaddress.ip_address(i)) for i in ips]
    builder = (x509.CertificateBuilder().subject_name(subject).issuer_name(subject).public_key(key.public_key())
               .serial_number(x509.random_serial_number())
               .not_valid_before(now - datetime.timedelta(days=1)).not_valid_after(now + datetime.timedelta(days=days))
               .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True))
    if sans:
        builder = builder.add_extension(x509.SubjectAlternativeName(sans), critical=False)
    cert = builder.sign(key, hashes.SHA256())
    encryption = (serialization.BestAvailableEncryption(password) if password
                  else serialization.NoEncryption())
    cert_path, key_path = directory / f"{name}-cert.pem", directory / f"{name}-key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, encryption))
    return cert_path, key_path


def served_certificate(port: int) -> bytes:
    """The DER certificate a TLS port presents (no verification: we look at what it is)."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    with socket.create_connection(("127.0.0.1", port), timeout=10) as raw, \
            context.wrap_socket(raw, server_hostname="localhost") as wrapped:
        return wrapped.getpeercert(binary_form=True)


def der(cert_path: Path) -> bytes:
    return x509.load_pem_x509_certificate(cert_path.read_bytes()).public_bytes(serialization.Encoding.DER)


def clients_of(world) -> dict:
    client = create_app(world.stack).test_client()
    client.environ_base["REMOTE_ADDR"] = "127.0.0.1"
    response = client.get("/api/clients")
    assert response.status_code == 200
    return response.get_json()


def env_value(command: str, name: str) -> str:
    """The value a shown command sets ``name`` to (``NAME=value program ...``), unquoted."""
    for word in shlex.split(command):
        if word.startswith(f"{name}="):
            return word.split("=", 1)[1]
    raise AssertionError(f"{name} is not set in {command!r}")


def clean_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if k not in ("SSL_CERT_FILE", "SSL_CERT_DIR", "NODE_EXTRA_CA_CERTS", "CURL_CA_BUNDLE")
           and not k.lower().endswith("_proxy")}
    env.update(extra)
    return env


# -- the user's own pair, checked ----------------------------------------------------------------------
def test_a_matching_pair_is_accepted_with_its_names(tmp_path):
    cert, key = make_pair(tmp_path)
    pair = tls.check_pair(cert, key)
    assert pair.cert == cert.resolve() and pair.key == key.resolve()
    assert pair.names == ("localhost", "127.0.0.1") and pair.warnings == ()


@pytest.mark.parametrize("problem", ["mismatch", "swapped", "missing", "encrypted", "not_pem", "damaged"])
def test_a_bad_pair_is_refused_saying_what_is_wrong(tmp_path, problem):
    cert, key = make_pair(tmp_path)
    other_cert, other_key = make_pair(tmp_path, "other")
    if problem == "mismatch":
        cert, key, named = cert, other_key, other_key.name
    elif problem == "swapped":
        cert, key, named = key, cert, "swapped"
    elif problem == "missing":
        cert, named = tmp_path / "nowhere.pem", "nowhere.pem"
    elif problem == "encrypted":
        cert, key = make_pair(tmp_path, "locked", password=b"secret")
        named = "passphrase"
    elif problem == "not_pem":
        cert.write_bytes(x509.load_pem_x509_certificate(cert.read_bytes()).public_bytes(serialization.Encoding.DER))
        named = "not a PEM certificate"
    else:
        cert.write_bytes(b"-----BEGIN CERTIFICATE-----\nbm90IGEgY2VydGlmaWNhdGU=\n-----END CERTIFICATE-----\n")
        named = "damaged"
    with pytest.raises(tls.CertificateError) as err:
        tls.check_pair(cert, key)
    assert named in str(err.value)


def test_odd_pairs_are_served_with_warnings(tmp_path):
    cert, key = make_pair(tmp_path, dns=("mail.example.org",), ips=())
    [warning] = tls.check_pair(cert, key).warnings
    assert "mail.example.org" in warning and "localhost" in warning
    cert, key = make_pair(tmp_path, "old", days=-1)
    assert any("expired" in w for w in tls.check_pair(cert, key).warnings)


def test_app_refuses_to_start_with_a_bad_pair(tmp_path, capsys):
    cert, _key = make_pair(tmp_path)
    _other, other_key = make_pair(tmp_path, "other")
    data = tmp_path / "data"
    assert app_module.main(["--data", str(data), "--tls-cert", str(cert), "--tls-key", str(other_key)]) == 2
    said = capsys.readouterr().err
    assert "--tls-cert/--tls-key" in said and str(other_key.resolve()) in said
    assert app_module.main(["--data", str(data), "--tls-cert", str(cert)]) == 2
    assert "go together" in capsys.readouterr().err
    assert app_module.main(["--data", str(data), "--no-tls", "--tls-cert", str(cert), "--tls-key", str(_key)]) == 2
    assert not (data / "tls").exists()            # nothing generated, nothing started


def test_the_users_pair_is_served_and_shown(start_world, tmp_path):
    cert, key = make_pair(tmp_path)
    data = tmp_path / "data"
    tls.use_own_pair(data, cert, key)
    try:
        world = start_world()
        for service in ("imaps", "pop3s", "smtps"):
            assert served_certificate(world.port(service)) == der(cert), service
        assert not (data / "tls" / tls.CERT_NAME).exists()          # no leaf generated meanwhile
        settings = clients_of(world)
        trust = settings["trust"]
        assert trust["own"] is True and trust["path"] == str(cert.resolve())
        assert trust["names"] == ["localhost", "127.0.0.1"]
        assert settings["certificate"]["sha256"] == tls.fingerprint(cert)
        assert env_value(trust["commands"]["python"], "SSL_CERT_FILE") == str(cert.resolve())
        # the STARTTLS of submission serves it too, and a client trusting exactly it connects
        import smtplib
        with smtplib.SMTP("localhost", world.port("submission"), local_hostname="tests.localhost", timeout=10) as smtp:
            smtp.starttls(context=tls.client_context(cert))
            assert smtp.sock.getpeercert(binary_form=True) == der(cert)
    finally:
        tls.forget_own_pair(data)


# -- the trust settings, as shown, used by real programs ------------------------------------------------
@pytest.mark.clients
def test_the_shown_trust_settings_work_for_python_node_and_curl(world, tmp_path):
    stack = world.stack
    trust = clients_of(world)["trust"]
    path = str(tls.tls_dir(stack.config.data_dir).resolve() / tls.CERT_NAME)
    assert trust["own"] is False and trust["path"] == path
    assert trust["names"] == ["localhost", "127.0.0.1"]
    commands = trust["commands"]
    imaps, app_port = world.port("imaps"), world.port("app")
    # Python (and Django, whose SMTP backend builds its context the same way): SSL_CERT_FILE
    python = ("import imaplib, smtplib, ssl, sys\n"
              "host, imaps, app = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])\n"
              "imaplib.IMAP4_SSL(host, imaps, ssl_context=ssl.create_default_context()).logout()\n"
              "with smtplib.SMTP(host, app, local_hostname='tests.localhost', timeout=10) as s:\n"
              "    s.starttls(context=ssl.create_default_context())\n"
              "print('trusted')\n")
    for host in ("localhost", "127.0.0.1"):
        run = subprocess.run([sys.executable, "-c", python, host, str(imaps), str(app_port)], capture_output=True,
                             text=True, timeout=60,
                             env=clean_env(SSL_CERT_FILE=env_value(commands["python"], "SSL_CERT_FILE")))
        assert run.returncode == 0 and run.stdout.strip() == "trusted", run.stderr
    untrusted = subprocess.run([sys.executable, "-c", python, "localhost", str(imaps), str(app_port)],
                               capture_output=True, text=True, timeout=60, env=clean_env(SSL_CERT_FILE=str(tmp_path / "none.pem")))
    assert untrusted.returncode != 0 and "CERTIFICATE_VERIFY_FAILED" in untrusted.stderr
    assert f'EMAIL_PORT = {app_port}' in commands["django_settings"]
    assert env_value(commands["django"], "SSL_CERT_FILE") == path
    # Node: NODE_EXTRA_CA_CERTS, its default verification (host name included)
    script = ("const tls = require('tls');\n"
              "const s = tls.connect({host: process.argv[1], port: Number(process.argv[2])}, () => {\n"
              "  console.log(s.authorized ? 'trusted' : 'refused ' + s.authorizationError); s.end(); });\n"
              "s.on('error', (e) => { console.log('error ' + e.code); process.exitCode = 1; });\n")
    node_env = clean_env(NODE_EXTRA_CA_CERTS=env_value(commands["node"], "NODE_EXTRA_CA_CERTS"))
    for host in ("localhost", "127.0.0.1"):
        run = subprocess.run([need("node"), "-e", script, host, str(imaps)], capture_output=True, text=True,
                             timeout=60, env=node_env)
        assert run.stdout.strip() == "trusted", (run.stdout, run.stderr)
    # curl: the shown command, as it is, through the app port with STARTTLS required
    run = subprocess.run(["bash", "-c", commands["curl"]], capture_output=True, text=True, timeout=60,
                         env=clean_env(PATH=os.path.dirname(need("curl")) + os.pathsep + os.environ.get("PATH", "")))
    assert run.returncode == 0, run.stderr
    first = next(iter(stack.world.users()))
    [raw] = world.wait_messages(first)
    assert b"Subject: trusted" in raw


def test_the_certificate_is_downloadable_and_absent_without_tls(world, start_world):
    client = create_app(world.stack).test_client()
    response = client.get("/api/clients/certificate.pem")
    assert response.status_code == 200
    assert response.data == tls.certificate_path(world.stack.config.data_dir).read_bytes()
    assert "attachment" in response.headers["Content-Disposition"]
    plain = start_world(tls=False, data_dir=world.stack.config.data_dir.parent / "plain")
    assert clients_of(plain)["trust"] is None
    assert create_app(plain.stack).test_client().get("/api/clients/certificate.pem").status_code == 404


# -- the clients drawer, in Chromium ------------------------------------------------------------------------
@pytest.mark.browser
@pytest.mark.parametrize("lang,screen", [("en", "1280x720"), ("ru", "1280x720"), ("en", "1280x720@125%"),
                                         ("ru", "1280x720@125%")])
def test_the_clients_drawer_shows_how_to_trust_the_certificate(site, browser, lang, screen):
    from page_helpers import UI, open_page, shot
    world, server = site()
    trust = clients_of(world)["trust"]
    page = open_page(browser, server.url, screen, lang)
    page.click("#btn-clients")
    page.wait_for_selector("#clients-body[data-ready=yes]")
    section = page.locator("#clients-drawer .clients-trust")
    assert section.locator("h3").inner_text() == UI[lang]["clients.trust.title"]
    assert section.locator('[data-trust="path"]').inner_text() == trust["path"]
    for name, key in (("trust-python", "python"), ("trust-django-settings", "django_settings"),
                      ("trust-node", "node"), ("trust-curl", "curl")):
        assert section.locator(f'[data-command="{name}"] pre code').inner_text() == trust["commands"][key], name
    assert [c.inner_text() for c in section.locator(".trust-names code").all()] == trust["names"]
    assert "[object" not in section.inner_text()
    assert section.locator("#clients-cert-download").get_attribute("href") == "/api/clients/certificate.pem"
    section.scroll_into_view_if_needed()
    page.evaluate("() => document.querySelector('#clients-drawer .clients-trust').scrollIntoView({block: 'start'})")
    # nothing in the section is wider than the drawer
    overflow = page.evaluate("""() => [...document.querySelectorAll('#clients-drawer .clients-trust *')]
        .filter((el) => el.getBoundingClientRect().right > document.querySelector('#clients-body').getBoundingClientRect().right + 1)
        .map((el) => el.tagName + '.' + el.className)""")
    assert overflow == []
    shot(page, f"clients-trust-{lang}-{screen.replace('%', 'pct')}")
    assert page.errors == []
    page.context.close()
