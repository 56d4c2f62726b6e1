"""simulator/tls.py: the self-signed leaf certificate and the contexts built on it."""
from __future__ import annotations

import datetime
import ipaddress
import os
import socket
import ssl
import stat
import threading

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from simulator import tls


@pytest.fixture()
def pair(tmp_path):
    cert_path, key_path = tls.ensure_certificate(tmp_path)
    return cert_path, key_path, x509.load_pem_x509_certificate(cert_path.read_bytes())


def test_files_live_in_data_dir_tls(tmp_path, pair):
    cert_path, key_path, _ = pair
    assert cert_path == tmp_path / "tls" / "cert.pem"
    assert key_path == tmp_path / "tls" / "key.pem"
    assert not [p.name for p in (tmp_path / "tls").iterdir() if p.name.endswith(".tmp")]


def test_certificate_is_a_leaf_with_critical_ca_false(pair):
    ext = pair[2].extensions.get_extension_for_class(x509.BasicConstraints)
    assert ext.critical is True
    assert ext.value.ca is False


def test_subject_alt_names_are_localhost_and_loopback(pair):
    san = pair[2].extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert san.get_values_for_type(x509.DNSName) == ["localhost"]
    assert san.get_values_for_type(x509.IPAddress) == [ipaddress.ip_address("127.0.0.1")]


def test_key_usages(pair):
    cert = pair[2]
    eku = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert list(eku) == [ExtendedKeyUsageOID.SERVER_AUTH]
    ku = cert.extensions.get_extension_for_class(x509.KeyUsage)
    assert ku.critical is True
    assert ku.value.digital_signature and ku.value.key_encipherment
    assert not ku.value.key_cert_sign and not ku.value.crl_sign


def test_subject_issuer_key_and_validity(pair):
    cert_path, key_path, cert = pair
    assert cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == "localhost"
    assert cert.issuer == cert.subject
    assert isinstance(cert.public_key(), rsa.RSAPublicKey)
    assert cert.public_key().key_size == 2048
    assert isinstance(cert.signature_hash_algorithm, hashes.SHA256)
    now = datetime.datetime.now(datetime.timezone.utc)
    assert cert.not_valid_before_utc <= now
    lifetime = cert.not_valid_after_utc - now
    assert datetime.timedelta(days=3640) < lifetime <= datetime.timedelta(days=3651)
    key = serialization.load_pem_private_key(key_path.read_bytes(), password=None)
    assert key.public_key().public_numbers() == cert.public_key().public_numbers()


def test_key_file_mode_is_0600(pair):
    assert stat.S_IMODE(os.stat(pair[1]).st_mode) == 0o600


def test_second_call_reuses_the_pair(tmp_path, pair):
    cert_path, key_path, _ = pair
    before = (cert_path.read_bytes(), key_path.read_bytes(), os.stat(cert_path).st_ino)
    again = tls.ensure_certificate(tmp_path)
    assert again == (cert_path, key_path)
    assert (cert_path.read_bytes(), key_path.read_bytes(), os.stat(cert_path).st_ino) == before


def test_key_mode_is_repaired_on_reuse(tmp_path, pair):
    os.chmod(pair[1], 0o644)
    tls.ensure_certificate(tmp_path)
    assert stat.S_IMODE(os.stat(pair[1]).st_mode) == 0o600


def test_damaged_or_mismatched_pair_is_regenerated(tmp_path, pair):
    cert_path, key_path, cert = pair
    cert_path.write_bytes(b"-----BEGIN CERTIFICATE-----\ngarbage\n")
    tls.ensure_certificate(tmp_path)
    fresh = x509.load_pem_x509_certificate(cert_path.read_bytes())
    key = serialization.load_pem_private_key(key_path.read_bytes(), password=None)
    assert fresh.public_key().public_numbers() == key.public_key().public_numbers()
    assert fresh.serial_number != cert.serial_number

    # A certificate from another pair next to this key is not reused either.
    other = tmp_path / "other"
    other_cert, _ = tls.ensure_certificate(other)
    cert_path.write_bytes(other_cert.read_bytes())
    tls.ensure_certificate(tmp_path)
    fixed = x509.load_pem_x509_certificate(cert_path.read_bytes())
    key = serialization.load_pem_private_key(key_path.read_bytes(), password=None)
    assert fixed.public_key().public_numbers() == key.public_key().public_numbers()


def test_fingerprint_is_sha256_upper_hex_with_colons(pair):
    cert_path, _, cert = pair
    fp = tls.fingerprint(cert_path)
    assert fp == ":".join(f"{b:02X}" for b in cert.fingerprint(hashes.SHA256()))
    assert len(fp.split(":")) == 32
    assert fp == fp.upper()


def test_server_context_minimum_version(tmp_path):
    ctx = tls.server_context(tmp_path)
    assert ctx.minimum_version >= ssl.TLSVersion.TLSv1_2
    assert (tmp_path / "tls" / "cert.pem").exists()


def _handshake(server_ctx: ssl.SSLContext, client_ctx: ssl.SSLContext, server_hostname: str) -> str:
    """A real TLS handshake over loopback; returns the negotiated version."""
    listener = socket.create_server(("127.0.0.1", 0))
    errors: list[BaseException] = []

    def serve() -> None:
        conn, _ = listener.accept()
        try:
            with server_ctx.wrap_socket(conn, server_side=True) as tls_conn:
                tls_conn.sendall(b"hello\r\n")
        except (ssl.SSLError, OSError) as exc:
            errors.append(exc)

    thread = threading.Thread(target=serve)
    thread.start()
    try:
        with socket.create_connection(listener.getsockname(), timeout=10) as raw:
            with client_ctx.wrap_socket(raw, server_hostname=server_hostname) as conn:
                assert conn.recv(7) == b"hello\r\n"
                return str(conn.version())
    finally:
        thread.join(10)
        listener.close()


def test_client_context_trusts_the_leaf_for_localhost(tmp_path):
    version = _handshake(tls.server_context(tmp_path), tls.client_context(tmp_path / "tls" / "cert.pem"),
                         "localhost")
    assert version in ("TLSv1.2", "TLSv1.3")


def test_client_context_checks_the_host_name(tmp_path):
    server = tls.server_context(tmp_path)
    client = tls.client_context(tmp_path / "tls" / "cert.pem")
    with pytest.raises(ssl.SSLCertVerificationError):
        _handshake(server, client, "mail.example")


def test_client_context_trusts_only_that_certificate(tmp_path):
    server = tls.server_context(tmp_path / "a")
    other_cert, _ = tls.ensure_certificate(tmp_path / "b")
    with pytest.raises(ssl.SSLCertVerificationError):
        _handshake(server, tls.client_context(other_cert), "localhost")
