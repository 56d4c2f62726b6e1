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
  * The user's own pair (``app.py --tls-cert FILE --tls-key FILE``): :func:`check_pair` loads both
    and proves they belong together (the certificate's public key is the key's; OpenSSL loads the
    chain), or raises :class:`CertificateError` saying what is wrong; :func:`use_own_pair`
    registers the checked pair for a data directory, and from then on :func:`ensure_certificate`
    answers with it (nothing is generated or copied), so every reader of "the certificate" -- the
    servers' context, ``/api/clients`` and its trust hints -- serves and shows the user's files.
    A PEM chain (leaf first, then intermediates) is accepted; an encrypted key is refused (the
    servers start unattended).  What is only odd is returned as warnings: a certificate that does
    not name ``localhost`` or 127.0.0.1 (clients connect by those names), an expired one, a classroom
    address it does not cover.
  * How to trust it: :func:`certificate_path` is the file a client trusts (the generated leaf is its
    own trust anchor: ``SSL_CERT_FILE`` for Python and Django, ``NODE_EXTRA_CA_CERTS`` for Node,
    ``curl --cacert``; OpenSSL accepts a self-signed end-entity certificate found in the trust store).

What it leaves out: certificate rotation, a CA for the sandbox, client certificates, keys with a
passphrase.
"""
from __future__ import annotations

import datetime
import ipaddress
import logging
import os
import ssl
import threading
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from typing import TYPE_CHECKING, Iterator

if TYPE_CHECKING:       # cryptography (10 MiB resident) is imported where a certificate is made or read
    from cryptography import x509

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


class CertificateError(ValueError):
    """The user's certificate or key does not load, or they do not belong together."""


@dataclass(frozen=True, slots=True)
class OwnPair:
    """A checked certificate and key the user brought (absolute paths), and what is odd about them."""
    cert: Path
    key: Path
    names: tuple[str, ...]          # the certificate's DNS and IP subjectAltNames (or its CN)
    warnings: tuple[str, ...] = ()


_own: dict[Path, OwnPair] = {}      # data directory -> the pair served instead of the generated one
_own_lock = threading.Lock()


def check_pair(cert_file: Path, key_file: Path) -> OwnPair:
    """Load the user's certificate (PEM, leaf first) and key (PEM, unencrypted) and prove they match.

    Raises :class:`CertificateError` with what is wrong; returns the pair with its warnings."""
    cert_file, key_file = Path(cert_file).expanduser().resolve(), Path(key_file).expanduser().resolve()
    certs = _load_certificates(cert_file)
    key = _load_key(key_file)
    leaf = certs[0]
    if _spki(leaf.public_key()) != _spki(key.public_key()):
        raise CertificateError(f"{key_file} is not the key of the certificate in {cert_file} "
                               f"(the certificate's public key is another one)")
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    try:
        context.load_cert_chain(cert_file, key_file)
    except (ssl.SSLError, OSError) as err:
        raise CertificateError(f"OpenSSL cannot use {cert_file} with {key_file}: {err}") from None
    names = _names(leaf)
    warnings: list[str] = []
    if not {HOSTNAME, "127.0.0.1"} & set(names):
        warnings.append(f"the certificate names {', '.join(names) or 'nothing'}, not localhost or 127.0.0.1: "
                        f"clients connecting to localhost will refuse it unless they connect by one of its names")
    now = datetime.datetime.now(datetime.timezone.utc)
    if leaf.not_valid_after_utc < now:
        warnings.append(f"the certificate expired on {leaf.not_valid_after_utc:%Y-%m-%d}")
    elif leaf.not_valid_before_utc > now:
        warnings.append(f"the certificate is valid only from {leaf.not_valid_before_utc:%Y-%m-%d}")
    return OwnPair(cert_file, key_file, tuple(names), tuple(warnings))


def use_own_pair(data_dir: Path, cert_file: Path, key_file: Path) -> OwnPair:
    """Check the user's pair and serve it for ``data_dir`` from now on (instead of the generated leaf)."""
    pair = check_pair(cert_file, key_file)
    with _own_lock:
        _own[Path(data_dir).resolve()] = pair
    return pair


def forget_own_pair(data_dir: Path) -> None:
    """Back to the generated leaf for ``data_dir``."""
    with _own_lock:
        _own.pop(Path(data_dir).resolve(), None)


def own_pair(data_dir: Path) -> OwnPair | None:
    """The user's pair registered for ``data_dir``, or None (the generated leaf is served)."""
    with _own_lock:
        return _own.get(Path(data_dir).resolve())


def names(cert_path: Path) -> list[str]:
    """The names a client may connect by: the certificate's DNS and IP subjectAltNames (or its CN)."""
    from cryptography import x509
    return _names(x509.load_pem_x509_certificate(Path(cert_path).read_bytes()))


def certificate_path(data_dir: Path) -> Path:
    """The certificate file a client trusts: the user's, or the generated leaf (made if missing)."""
    return ensure_certificate(data_dir)[0]


def ensure_certificate(data_dir: Path, extra_ips: tuple[str, ...] = ()) -> tuple[Path, Path]:
    """Return ``(cert.pem, key.pem)`` in ``data_dir/tls``; generate them on the first call.

    An existing pair is reused as long as both files load, belong together and the certificate
    names every address of ``extra_ips`` (a classroom address the front door is also served on);
    otherwise (a file missing, damaged, from another pair, or not covering a new classroom address)
    a new pair replaces both.  With the user's own pair registered (:func:`use_own_pair`), that
    pair, as it is (a classroom address it does not name is logged, not fixed).
    """
    own = own_pair(data_dir)
    if own is not None:
        if extra_ips and not set(extra_ips) <= set(own.names):
            log.warning("%s does not name %s: clients connecting to that address will refuse it",
                        own.cert, ", ".join(extra_ips))
        return own.cert, own.key
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
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes
    cert = x509.load_pem_x509_certificate(Path(cert_path).read_bytes())
    digest = {"sha256": hashes.SHA256(), "md5": hashes.MD5()}[algorithm]
    return cert.fingerprint(digest).hex(":").upper()


# --------------------------------------------------------------------------- helpers


def _generate(extra_ips: tuple[str, ...] = ()) -> tuple[bytes, bytes]:
    """A fresh RSA key and the leaf certificate for it, both PEM (its IP SANs: 127.0.0.1 and ``extra_ips``)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import rsa
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
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


def _load_certificates(path: Path) -> list[x509.Certificate]:
    from cryptography import x509
    try:
        data = path.read_bytes()
    except OSError as err:
        raise CertificateError(f"cannot read the certificate {path}: {err.strerror or err}") from None
    if b"-----BEGIN CERTIFICATE-----" not in data:
        hint = " (it holds a private key: are --tls-cert and --tls-key swapped?)" if b"PRIVATE KEY-----" in data else ""
        raise CertificateError(f"{path} is not a PEM certificate (no BEGIN CERTIFICATE block){hint}")
    try:
        return x509.load_pem_x509_certificates(data)
    except ValueError as err:
        raise CertificateError(f"{path} holds a damaged certificate: {err}") from None


def _load_key(path: Path):
    from cryptography.exceptions import UnsupportedAlgorithm
    from cryptography.hazmat.primitives import serialization
    try:
        data = path.read_bytes()
    except OSError as err:
        raise CertificateError(f"cannot read the key {path}: {err.strerror or err}") from None
    if b"PRIVATE KEY-----" not in data:
        hint = " (it holds a certificate: are --tls-cert and --tls-key swapped?)" if b"CERTIFICATE-----" in data else ""
        raise CertificateError(f"{path} is not a PEM private key (no BEGIN ... PRIVATE KEY block){hint}")
    try:
        return serialization.load_pem_private_key(data, password=None)
    except TypeError:
        raise CertificateError(f"{path} is encrypted with a passphrase; the servers start unattended: give an "
                               f"unencrypted copy (openssl pkey -in {path.name} -out plain-key.pem)") from None
    except (ValueError, UnsupportedAlgorithm) as err:
        raise CertificateError(f"{path} holds a damaged or unsupported key: {err}") from None


def _spki(public_key) -> bytes:
    from cryptography.hazmat.primitives import serialization
    return public_key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)


def _names(cert: x509.Certificate) -> list[str]:
    """The names a client checks: the subjectAltName's DNS names and IP addresses (RFC 6125 §6.4.4:
    the CN only without them)."""
    from cryptography import x509
    from cryptography.x509.oid import NameOID
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        return [*san.get_values_for_type(x509.DNSName), *map(str, san.get_values_for_type(x509.IPAddress))]
    except x509.ExtensionNotFound:
        return [str(a.value) for a in cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)]


def _usable_pair(cert_path: Path, key_path: Path) -> bool:
    """Both files load and belong together: OpenSSL's own check, as the servers will load them (no
    cryptography import on a restart).  A key under a passphrase is not usable (b"" is tried: no prompt)."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    try:
        context.load_cert_chain(cert_path, key_path, password=b"")
    except ssl.SSLError as err:         # before OSError: SSLError is one
        if err.reason == "KEY_VALUES_MISMATCH":
            log.warning("%s does not belong to %s; generating a new pair", cert_path, key_path)
        return False
    except (OSError, ValueError):
        return False
    return True


def _covers(cert_path: Path, ips: tuple[str, ...]) -> bool:
    """Does the certificate name every address of ``ips`` in its subjectAltName?"""
    if not ips:
        return True
    from cryptography import x509
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
