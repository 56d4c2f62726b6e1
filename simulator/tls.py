"""The sandbox's TLS certificate: one self-signed *leaf* for localhost, made on first run.

What it implements
  * A self-signed end-entity certificate (PROTOCOLS.md X3): ``basicConstraints`` critical
    ``CA:FALSE``, ``subjectAltName`` DNS:localhost and IP:127.0.0.1 (and a classroom address, when
    the front door is also served on one: the pair is made again to cover it), EKU serverAuth, keyUsage
    digitalSignature + keyEncipherment (RFC 5280 §4.2.1.3, §4.2.1.6, §4.2.1.9, §4.2.1.12),
    CN=localhost, RSA 2048, SHA-256, valid for ten years.
    Why a leaf and not a CA: mbsync pins a ``CertificateFile`` by exact match only when it is not a
    CA certificate; a CA:TRUE one is chain-verified with a host-name check that ignores IP SANs.
    RSA rather than EC P-256 because keyEncipherment is only meaningful for an RSA key
    (RFC 5480 §3 does not allow it for EC keys), and every client speaks RSA.
  * Files ``<data>/tls/cert.pem`` and ``<data>/tls/key.pem``, written atomically (temporary file,
    fsync, rename) with the key at mode 0600; generated once and reused afterwards, so a student's
    security exception in Thunderbird or a pinned certificate (mutt, mbsync, fetchmail) stays valid across restarts.
  * SSL contexts for the servers (TLS 1.2 or later) and for tests and tools (trusting exactly that
    certificate and checking the host name "localhost").

What it leaves out: certificate rotation, a CA for the sandbox, client certificates.
"""
from __future__ import annotations

import datetime
import ipaddress
import logging
import os
import ssl
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator


from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from .fsutil import write_atomic

try:  # POSIX: serialise two processes starting on one data directory
    import fcntl
except ImportError:  # pragma: no cover - not on the sandbox's platforms
    fcntl = None  # type: ignore[assignment]

log = logging.getLogger(__name__)

CERT_NAME = "cert.pem"
KEY_NAME = "key.pem"
HOSTNAME = "localhost"
VALIDITY = datetime.timedelta(days=3650)
_BACKDATE = datetime.timedelta(days=1)  # tolerate a client clock that is a little behind


def tls_dir(data_dir: Path) -> Path:
    return Path(data_dir) / "tls"


def ensure_certificate(data_dir: Path, extra_ips: tuple[str, ...] = ()) -> tuple[Path, Path]:
    """Return ``(cert.pem, key.pem)`` in ``data_dir/tls``; generate them on the first call.

    An existing pair is reused as long as both files load, belong together and the certificate
    names every address of ``extra_ips`` (a classroom address the front door is also served on);
    otherwise (a file missing, damaged, from another pair, or not covering a new classroom address)
    a new pair replaces both.
    """
    directory = tls_dir(data_dir)
    directory.mkdir(parents=True, exist_ok=True)
    cert_path, key_path = directory / CERT_NAME, directory / KEY_NAME
    with _lock(directory):
        if _usable_pair(cert_path, key_path) and _covers(cert_path, extra_ips):
            if key_path.stat().st_mode & 0o077:
                os.chmod(key_path, 0o600)
            return cert_path, key_path
        key_pem, cert_pem = _generate(extra_ips)
        # The key first: a crash in between leaves a key without its certificate, which the next
        # call detects (the pair does not match) and regenerates.
        write_atomic(key_path, key_pem, mode=0o600, sync_dir=True)
        write_atomic(cert_path, cert_pem, mode=0o644, sync_dir=True)
        log.info("generated a self-signed TLS certificate for %s in %s (SHA-256 %s)",
                 HOSTNAME, directory, fingerprint(cert_path))
    return cert_path, key_path


def server_context(data_dir: Path, extra_ips: tuple[str, ...] = ()) -> ssl.SSLContext:
    """A server-side context (TLS 1.2 or later) loaded with the sandbox's certificate and key."""
    cert_path, key_path = ensure_certificate(data_dir, extra_ips)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.load_cert_chain(cert_path, key_path)
    return context


def client_context(cert_path: Path) -> ssl.SSLContext:
    """A client context for tests and tools: trusts exactly ``cert_path``, checks host "localhost".

    Connect with ``server_hostname="localhost"`` (poplib, imaplib and smtplib pass the host they
    were given, so give them "localhost", not "127.0.0.1").
    """
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)  # CERT_REQUIRED and check_hostname by default
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.load_verify_locations(cafile=str(cert_path))
    # The pinned certificate is the trust anchor itself (it is not a CA).
    context.verify_flags |= ssl.VERIFY_X509_PARTIAL_CHAIN
    return context


def fingerprint(cert_path: Path, algorithm: str = "sha256") -> str:
    """The certificate's fingerprint (of its DER form), upper-case hex pairs joined by colons.

    ``sha256`` is what ``openssl x509 -fingerprint -sha256`` prints (shown by the README and the UI);
    fetchmail 6.4's ``sslfingerprint`` wants ``md5``.
    """
    cert = x509.load_pem_x509_certificate(Path(cert_path).read_bytes())
    digest = {"sha256": hashes.SHA256(), "md5": hashes.MD5()}[algorithm]
    return cert.fingerprint(digest).hex(":").upper()


# --------------------------------------------------------------------------- helpers


def _generate(extra_ips: tuple[str, ...] = ()) -> tuple[bytes, bytes]:
    """A fresh RSA key and the leaf certificate for it, both PEM (its IP SANs: 127.0.0.1 and ``extra_ips``)."""
    addresses = [ipaddress.ip_address("127.0.0.1")]
    addresses += [a for a in map(ipaddress.ip_address, extra_ips) if a not in addresses]
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, HOSTNAME)])
    now = datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0)
    ski = x509.SubjectKeyIdentifier.from_public_key(key.public_key())
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - _BACKDATE)
        .not_valid_after(now + VALIDITY)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.SubjectAlternativeName([
            x509.DNSName(HOSTNAME), *(x509.IPAddress(a) for a in addresses),
        ]), critical=False)
        .add_extension(x509.KeyUsage(
            digital_signature=True, content_commitment=False, key_encipherment=True,
            data_encipherment=False, key_agreement=False, key_cert_sign=False, crl_sign=False,
            encipher_only=False, decipher_only=False), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(ski, critical=False)
        # Self-issued: the authority key id is our own key id (strict verifiers look for it).
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ski), critical=False)
        .sign(key, hashes.SHA256())
    )
    key_pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption())
    return key_pem, cert.public_bytes(serialization.Encoding.PEM)


def _usable_pair(cert_path: Path, key_path: Path) -> bool:
    try:
        cert = x509.load_pem_x509_certificate(cert_path.read_bytes())
        key = serialization.load_pem_private_key(key_path.read_bytes(), password=None)
    except (OSError, ValueError, TypeError):
        return False
    same_key = (cert.public_key().public_bytes(serialization.Encoding.DER,
                                               serialization.PublicFormat.SubjectPublicKeyInfo)
                == key.public_key().public_bytes(serialization.Encoding.DER,
                                                 serialization.PublicFormat.SubjectPublicKeyInfo))
    if not same_key:
        log.warning("%s does not belong to %s; generating a new pair", cert_path, key_path)
    return same_key


def _covers(cert_path: Path, ips: tuple[str, ...]) -> bool:
    """Does the certificate name every address of ``ips`` in its subjectAltName?"""
    if not ips:
        return True
    cert = x509.load_pem_x509_certificate(cert_path.read_bytes())
    try:
        named = set(cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
                    .get_values_for_type(x509.IPAddress))
    except x509.ExtensionNotFound:
        return False
    return all(ipaddress.ip_address(ip) in named for ip in ips)


@contextmanager
def _lock(directory: Path) -> Iterator[None]:
    if fcntl is None:  # pragma: no cover
        yield
        return
    fd = os.open(directory / ".lock", os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # closing releases the lock
