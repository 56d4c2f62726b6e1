"""Real retrieval clients against the sandbox: curl, mutt, mbsync and fetchmail, plain and over TLS.

Each test runs the real program as a subprocess (with a timeout, HOME in a temporary directory, talking
only to 127.0.0.1 or to "localhost" pinned to 127.0.0.1) and asserts on what it got: message text,
flags on the server (read back with imaplib), files in a local Maildir, what an MDA command received,
and the mailbox -> MUA hops on the diagram.

On CI these programs are installed by .ci/run (Debian packages curl, mutt, isync, fetchmail);
a missing one is a failure, not a skip.

Name lookups: no client is given a name it would resolve through the system. curl gets IP literals or
``--resolve localhost:PORT:127.0.0.1``; mutt gets ``set hostname`` (otherwise it canonicalises the
machine's own name at start-up); mbsync uses ``AuthMechs LOGIN`` (libsasl2's client set-up looks up
the machine's own name, the IMAP LOGIN command does not). fetchmail 6.4 canonicalises the machine's own
host name at start-up whatever the rc file says (host_fqdn() in load_params); on Debian /etc/hosts
answers that.
"""
from __future__ import annotations

import fcntl
import hashlib
import imaplib
import os
import pty
import re
import select
import shutil
import smtplib
import ssl
import struct
import subprocess
import termios
import time
from pathlib import Path

import pytest

from simulator.tls import ensure_certificate

pytestmark = pytest.mark.clients

BOB, BOB_PASSWORD = "bob@beta.test", "bob"
ALICE, ALICE_PASSWORD = "alice@alpha.test", "alice"
RUN_TIMEOUT = 30.0


# --------------------------------------------------------------------------- helpers


def need(program: str) -> str:
    path = shutil.which(program)
    assert path, (f"{program} is not installed (.ci/run installs it: Debian packages curl, mutt, "
                  f"isync (mbsync), fetchmail)")
    return path


def client_env(home: Path, **extra: str) -> dict[str, str]:
    """A clean environment: HOME in the test's tmp dir, no proxies, no user configuration."""
    home.mkdir(parents=True, exist_ok=True)
    env = {"HOME": str(home), "PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LC_ALL": "C", "TZ": "UTC"}
    env.update(extra)
    return env


def run(argv: list[str], home: Path, *, ok: bool = True, timeout: float = RUN_TIMEOUT,
        **extra_env: str) -> subprocess.CompletedProcess[bytes]:
    result = subprocess.run(argv, env=client_env(home, **extra_env), cwd=home, stdin=subprocess.DEVNULL,
                            capture_output=True, timeout=timeout)
    if ok:
        assert result.returncode == 0, (
            f"{Path(argv[0]).name} exited {result.returncode}\n--- stdout\n"
            f"{result.stdout.decode(errors='replace')}\n--- stderr\n{result.stderr.decode(errors='replace')}")
    return result


def run_in_pty(argv: list[str], home: Path, *, timeout: float = RUN_TIMEOUT, **extra_env: str) -> tuple[int, bytes]:
    """Run a full-screen program (mutt) on a pseudo-terminal; return its exit status and screen output."""
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 100, 0, 0))
    try:
        proc = subprocess.Popen(argv, env=client_env(home, **extra_env), cwd=home, stdin=slave, stdout=slave,
                                stderr=slave, start_new_session=True)
    finally:
        os.close(slave)
    screen = bytearray()
    deadline = time.monotonic() + timeout
    try:
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                proc.kill()
                proc.wait(timeout=10)
                raise AssertionError(f"{Path(argv[0]).name} did not finish in {timeout} s; screen:\n"
                                     f"{screen.decode(errors='replace')[-3000:]}")
            ready, _, _ = select.select([master], [], [], min(remaining, 0.2))
            if ready:
                try:
                    chunk = os.read(master, 65536)
                except OSError:      # EIO: every slave descriptor is closed, the program has gone
                    chunk = b""
                if not chunk:
                    break
                screen += chunk
            elif proc.poll() is not None:
                break
        return proc.wait(timeout=10), bytes(screen)
    finally:
        os.close(master)


def submit(world, subject: str, body: str) -> bytes:
    """alice -> bob through the front-door submission port; returns bob's copy as delivered."""
    before = len(world.messages(BOB))
    message = (f"From: Alice <{ALICE}>\r\nTo: Bob <{BOB}>\r\nSubject: {subject}\r\n"
               f"Message-ID: <{hashlib.sha1(body.encode()).hexdigest()[:16]}@alpha.test>\r\n\r\n{body}\r\n")
    with smtplib.SMTP("127.0.0.1", world.port("submission"), local_hostname="student.test", timeout=15) as smtp:
        smtp.login(ALICE, ALICE_PASSWORD)
        smtp.sendmail(ALICE, [BOB], message.encode())
    delivered = world.wait_messages(BOB, before + 1)
    [mine] = [raw for raw in delivered if body.encode() in raw]
    return mine


def server_view(world) -> dict[int, tuple[set[str], bytes]]:
    """bob's INBOX as the IMAP server shows it now: UID -> (flags, message), read-only."""
    imap = imaplib.IMAP4("127.0.0.1", world.port("imap"), timeout=15)
    try:
        imap.login(BOB, BOB_PASSWORD)
        typ, _ = imap.select("INBOX", readonly=True)
        assert typ == "OK"
        typ, data = imap.uid("FETCH", "1:*", "(UID FLAGS BODY.PEEK[])")
        assert typ == "OK", data
    finally:
        imap.logout()
    view: dict[int, tuple[set[str], bytes]] = {}
    for item in data:
        if not isinstance(item, tuple):
            continue
        head, raw = item
        uid = int(re.search(rb"UID (\d+)", head).group(1))
        flags = {f.decode() for f in imaplib.ParseFlags(head)}
        view[uid] = (flags, raw)
    return view


def mark(world) -> int:
    """The sequence number of the latest event so far (events after it belong to what runs next)."""
    return max((e.seq for e in list(world.events.events)), default=0)


def hops(world, since: int, kind: str, server: str, count: int = 1) -> list:
    """The mailbox -> MUA events of ``kind`` published since ``since``."""
    return world.events.wait_for(
        lambda e: (e.seq > since and e.kind == kind
                   and e.src == f"mailbox:{BOB}" and e.dst == f"mua:{BOB}"
                   and (e.data or {}).get("server") == server),
        count=count)


def crlf(raw: bytes) -> bytes:
    """A message as it crosses the wire (RFC 5322 lines end in CRLF)."""
    return raw.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")


@pytest.fixture
def cert(world) -> Path:
    return ensure_certificate(world.stack.config.data_dir)[0]


# --------------------------------------------------------------------------- curl


def curl(home: Path, url: str, *args: str, ok: bool = True) -> subprocess.CompletedProcess[bytes]:
    return run([need("curl"), "-sS", "--noproxy", "*", "--max-time", "20", "-u", f"{BOB}:{BOB_PASSWORD}",
                *args, url], home, ok=ok)


def test_curl_imap_lists_searches_and_fetches(world, tmp_path):
    first = submit(world, "first over imap", "the first body, read by curl")
    second = submit(world, "second over imap", "the second body, read by curl")
    port, since = world.port("imap"), mark(world)

    listing = curl(tmp_path, f"imap://127.0.0.1:{port}/").stdout.decode()
    assert re.search(r'^\* LIST \([^)]*\) "/" "?INBOX"?\r?$', listing, re.M), listing
    search = curl(tmp_path, f"imap://127.0.0.1:{port}/INBOX", "-X", "UID SEARCH ALL").stdout.decode()
    assert search.split() == ["*", "SEARCH", "1", "2"], search
    by_subject = curl(tmp_path, f"imap://127.0.0.1:{port}/INBOX", "-X", 'UID SEARCH SUBJECT "second"').stdout
    assert by_subject.split() == [b"*", b"SEARCH", b"2"], by_subject

    assert len(hops(world, since, "imap.login", "imap:beta.test", count=3)) == 3
    assert hops(world, since, "imap.list", "imap:beta.test")[0].data["count"] >= 1

    assert "\\Seen" not in server_view(world)[2][0]
    since = mark(world)
    fetched = curl(tmp_path, f"imap://127.0.0.1:{port}/INBOX;UID=2").stdout
    assert fetched == crlf(second)                      # UID FETCH 2 BODY[]: the whole message, exactly
    by_index = curl(tmp_path, f"imap://127.0.0.1:{port}/INBOX;MAILINDEX=1").stdout
    assert by_index == crlf(first)                      # FETCH 1 BODY[]
    fetches = hops(world, since, "imap.fetch", "imap:beta.test", count=2)
    assert [(e.data["command"], e.data["bodies"]) for e in fetches] == [("UID FETCH", 1), ("FETCH", 1)]

    # curl fetches BODY[] (not BODY.PEEK[]): RFC 3501 §6.4.5 says that sets \Seen.
    view = server_view(world)
    assert "\\Seen" in view[2][0] and "\\Seen" in view[1][0]


def test_curl_lists_the_default_folders_of_a_mailbox_that_already_has_mail(world, tmp_path):
    """The store promises INBOX, Sent, Drafts, Trash and Junk (with SPECIAL-USE) for every mailbox.

    Mail delivered before the first login is the usual case (bob gets mail, then opens his client).
    """
    submit(world, "before the first login", "bob has not logged in yet")
    listing = curl(tmp_path, f"imap://127.0.0.1:{world.port('imap')}/").stdout.decode()
    folders = {m.group(2): m.group(1) for m in re.finditer(r'^\* LIST \(([^)]*)\) "/" "?([^"\r\n]*)"?\r?$',
                                                            listing, re.M)}
    assert set(folders) == {"INBOX", "Sent", "Drafts", "Trash", "Junk"}, (
        f"LIST \"\" * answered:\n{listing}(store.maildir_path() makes the default folders only when the INBOX "
        f"Maildir does not exist yet, but the MDA has already made it on the first delivery)")
    assert "\\Sent" in folders["Sent"] and "\\Trash" in folders["Trash"], listing


def test_curl_imap_over_tls(world, cert, tmp_path):
    body = "read by curl over TLS"
    raw = submit(world, "imaps", body)
    imaps, imap, since = world.port("imaps"), world.port("imap"), mark(world)

    tls = ["--cacert", str(cert), "--resolve", f"localhost:{imaps}:127.0.0.1"]
    fetched = curl(tmp_path, f"imaps://localhost:{imaps}/INBOX;UID=1", *tls).stdout
    assert fetched == crlf(raw)
    [fetch] = hops(world, since, "imap.fetch", "imap:beta.test")
    assert fetch.data["bodies"] == 1
    assert "\\Seen" in server_view(world)[1][0]

    # STARTTLS on the plain port (RFC 3501 §6.2.1), required by --ssl-reqd.
    starttls = ["--ssl-reqd", "--cacert", str(cert), "--resolve", f"localhost:{imap}:127.0.0.1", "-v"]
    result = curl(tmp_path, f"imap://localhost:{imap}/INBOX", "-X", "UID SEARCH ALL", *starttls)
    assert result.stdout.split() == [b"*", b"SEARCH", b"1"]
    assert re.search(rb"^> A\d+ STARTTLS", result.stderr, re.M), result.stderr.decode(errors="replace")
    assert b"SSL certificate verify ok" in result.stderr

    # Without the pinned certificate curl refuses the self-signed one: TLS is really checked.
    refused = curl(tmp_path, f"imaps://localhost:{imaps}/INBOX;UID=1", "--resolve",
                   f"localhost:{imaps}:127.0.0.1", ok=False)
    assert refused.returncode == 60, refused.stderr           # CURLE_PEER_FAILED_VERIFICATION


def test_curl_pop3_lists_and_retrieves(world, cert, tmp_path):
    first = submit(world, "first over pop3", "the first body, via POP3")
    second = submit(world, "second over pop3", "the second body, via POP3")
    port, since = world.port("pop3"), mark(world)

    listing = curl(tmp_path, f"pop3://127.0.0.1:{port}/").stdout.decode()
    sizes = dict(line.split() for line in listing.splitlines())
    retr1 = curl(tmp_path, f"pop3://127.0.0.1:{port}/1").stdout
    retr2 = curl(tmp_path, f"pop3://127.0.0.1:{port}/2").stdout
    assert retr1 == crlf(first) and retr2 == crlf(second)
    assert sizes == {"1": str(len(retr1)), "2": str(len(retr2))}   # RFC 1939 §5: exact octet counts (CRLF)
    top = curl(tmp_path, f"pop3://127.0.0.1:{port}/", "-X", "TOP 2 0").stdout
    assert b"Subject: second over pop3" in top and b"the second body" not in top

    pop3s = world.port("pop3s")
    over_tls = curl(tmp_path, f"pop3s://localhost:{pop3s}/2", "--cacert", str(cert),
                    "--resolve", f"localhost:{pop3s}:127.0.0.1").stdout
    assert over_tls == crlf(second)
    stls = curl(tmp_path, f"pop3://localhost:{port}/1", "--ssl-reqd", "--cacert", str(cert),
                "--resolve", f"localhost:{port}:127.0.0.1", "-v")
    assert stls.stdout == crlf(first)
    assert re.search(rb"^> STLS", stls.stderr, re.M), stls.stderr.decode(errors="replace")

    assert len(world.messages(BOB)) == 2               # RETR keeps messages: curl sends no DELE
    retrs = hops(world, since, "pop3.retr", "pop3:beta.test", count=5)
    assert [(e.data["command"], e.data["number"], e.data["tls"]) for e in retrs] == [
        ("RETR", 1, False), ("RETR", 2, False), ("TOP", 2, False), ("RETR", 2, True), ("RETR", 1, True)]


# --------------------------------------------------------------------------- mutt


MUTTRC = """\
set folder="{scheme}://bob%40beta.test@127.0.0.1:{port}/"
set spoolfile="+INBOX"
set imap_user="bob@beta.test"
set imap_pass="bob"
set ssl_starttls={starttls}
set ssl_force_tls={force}
{certificate}
set hostname="student.test"
set header_cache=""
set message_cachedir=""
set imap_check_subscribed=no
set imap_passive=yes
set record=""
set postponed=""
set move=no
set mark_old=no
set wait_key=no
set quit=yes
set timeout=5
set pipe_decode=no
"""


def mutt_reads(home: Path, scheme: str, port: int, *, starttls: bool = False,
               certificate: Path | None = None) -> tuple[bytes, bytes]:
    home.mkdir(parents=True)
    rc = home / "muttrc"
    rc.write_text(MUTTRC.format(
        scheme=scheme, port=port, starttls="yes" if starttls else "no",
        force="yes" if scheme == "imaps" or starttls else "no",
        certificate=f'set certificate_file="{certificate}"' if certificate else ""))
    out = home / "piped.eml"
    code, screen = run_in_pty(
        [need("mutt"), "-n", "-F", str(rc), "-f", f"{scheme}://bob%40beta.test@127.0.0.1:{port}/INBOX",
         "-e", f'push "<pipe-message>cat > {out}<enter><quit>"'], home, TERM="dumb")
    text = screen.decode(errors="replace")
    assert code == 0, f"mutt exited {code}; screen:\n{text[-3000:]}"
    assert out.exists(), f"mutt piped nothing; screen:\n{text[-3000:]}"
    return out.read_bytes(), screen


def test_mutt_reads_a_message_over_imap(world, cert, tmp_path):
    raw = submit(world, "for mutt", "mutt shows this body")
    since = mark(world)

    plain, screen = mutt_reads(tmp_path / "plain", "imap", world.port("imap"))
    assert plain.replace(b"\r\n", b"\n") == raw.replace(b"\r\n", b"\n")
    assert b"SSL/TLS connection" not in screen

    starttls, screen = mutt_reads(tmp_path / "starttls", "imap", world.port("imap"),
                                  starttls=True, certificate=cert)
    assert starttls == plain
    assert b"SSL/TLS connection using TLS" in screen

    implicit, screen = mutt_reads(tmp_path / "imaps", "imaps", world.port("imaps"), certificate=cert)
    assert implicit == plain
    assert b"SSL/TLS connection using TLS" in screen
    bodies = [e for e in hops(world, since, "imap.fetch", "imap:beta.test", count=6) if e.data["bodies"]]
    assert len(bodies) == 3, [e.data for e in bodies]             # one UID FETCH n BODY.PEEK[] per run


# --------------------------------------------------------------------------- mbsync


MBSYNCRC = """\
IMAPAccount bob
Host 127.0.0.1
Port {port}
User bob@beta.test
Pass bob
SSLType {ssl}
{certificate}AuthMechs LOGIN
Timeout 20

IMAPStore remote
Account bob

MaildirStore local
Path {root}/
Inbox {root}/INBOX

Channel inbox
Far :remote:
Near :local:
Patterns INBOX
Sync All
Create Near
Expunge Both
SyncState *
"""


def mbsync(home: Path, port: int, ssl_type: str = "None", certificate: Path | None = None,
           ok: bool = True) -> subprocess.CompletedProcess[bytes]:
    rc = home / "mbsyncrc"
    if not rc.exists():
        (home / "Mail").mkdir(parents=True, exist_ok=True)   # the store's root; Create Near makes INBOX
        rc.write_text(MBSYNCRC.format(port=port, ssl=ssl_type, root=home / "Mail",
                                      certificate=f"CertificateFile {certificate}\n" if certificate else ""))
    return run([need("mbsync"), "-V", "-c", str(rc), "-a"], home, ok=ok)


def local_messages(root: Path) -> dict[str, Path]:
    """The near-side INBOX: file name -> path, new/ and cur/."""
    box = root / "Mail" / "INBOX"
    return {p.name: p for sub in ("new", "cur") for p in sorted((box / sub).iterdir())}


def sans_tuid(raw: bytes) -> bytes:
    """LF line ends, without the X-TUID header mbsync adds to each message it copies (its recovery tag)."""
    return re.sub(rb"(?m)^X-TUID: \S+\n", b"", raw.replace(b"\r\n", b"\n"), count=1)


def local_uid(name: str) -> int | None:
    found = re.search(r",U=(\d+)", name)
    return int(found.group(1)) if found else None


def test_mbsync_syncs_inbox_both_ways(world, tmp_path):
    keep = submit(world, "kept and flagged", "mbsync flags this one")
    doomed = submit(world, "deleted locally", "mbsync deletes this one")
    port, home, since = world.port("imap"), tmp_path / "mbsync", mark(world)

    mbsync(home, port)
    local = local_messages(home)
    by_uid = {local_uid(name): path for name, path in local.items()}
    assert set(by_uid) == {1, 2}, local
    assert sans_tuid(by_uid[1].read_bytes()) == sans_tuid(keep)
    assert sans_tuid(by_uid[2].read_bytes()) == sans_tuid(doomed)
    assert all(name.endswith(":2,") for name in local), local   # unread on the server, unread here

    # Locally: flag UID 1 (Maildir info ":2,F" in cur/), delete UID 2, write a new message into new/.
    flagged = home / "Mail" / "INBOX" / "cur" / (by_uid[1].name.split(":2,")[0] + ":2,F")
    by_uid[1].rename(flagged)
    by_uid[2].unlink()
    written = b"From: bob@beta.test\nTo: bob@beta.test\nSubject: written locally\n\nAppended by mbsync\n"
    (home / "Mail" / "INBOX" / "new" / "1700000000.P1Q1.student").write_bytes(written)
    # Meanwhile new mail arrives on the server.
    arrived = submit(world, "arrived later", "mbsync pulls this one on the second run")

    mbsync(home, port)
    assert "\\Flagged" in hops(world, since, "imap.store", "imap:beta.test")[0].data["flags"]
    assert hops(world, since, "imap.append", "imap:beta.test")
    assert hops(world, since, "imap.expunge", "imap:beta.test")
    assert [e for e in hops(world, since, "imap.fetch", "imap:beta.test", count=2) if e.data["bodies"]]
    view = server_view(world)
    assert "\\Flagged" in view[1][0]                       # UID STORE 1 +FLAGS (\Flagged)
    assert 2 not in view                                   # \Deleted then expunged
    assert view[3][1] == crlf(arrived)
    [(new_uid, (_, appended))] = [(uid, item) for uid, item in view.items() if uid > 3]
    assert sans_tuid(appended) == written                     # APPEND, and mbsync learned the UID (APPENDUID)
    names = local_messages(home)
    assert {local_uid(n) for n in names} == {1, 3, new_uid}

    # A third run has nothing left to do: both sides agree.
    again = mbsync(home, port)
    assert set(local_messages(home)) == set(names)
    assert server_view(world).keys() == view.keys()
    assert b"far side: 3 messages" in again.stdout and b"near side: 3 messages" in again.stdout


def test_mbsync_over_tls_with_the_pinned_certificate(world, cert, tmp_path):
    raw = submit(world, "mbsync over TLS", "synchronised over TLS")
    for ssl_type, port in (("IMAPS", world.port("imaps")), ("STARTTLS", world.port("imap"))):
        home = tmp_path / ssl_type
        result = mbsync(home, port, ssl_type, cert)
        [path] = local_messages(home).values()
        assert sans_tuid(path.read_bytes()) == sans_tuid(raw), result.stdout
        assert b"Password is being sent in the clear" not in result.stdout + result.stderr

    # Without the pinned certificate mbsync refuses the connection (self-signed, not trusted).
    refused = mbsync(tmp_path / "untrusted", world.port("imaps"), "IMAPS", None, ok=False)
    assert refused.returncode != 0
    assert re.search(rb"self.signed certificate", refused.stdout + refused.stderr), refused.stderr
    assert not any((tmp_path / "untrusted" / "Mail").rglob("*,U=*"))


# --------------------------------------------------------------------------- fetchmail


FETCHMAILRC = """\
set no syslog
set invisible
poll 127.0.0.1 with proto POP3 port {port}
  user "bob@beta.test" there with password "bob" is "student" here
  options fetchall {keep} {tls}
  mda "/bin/sh -c 'cat > {outbox}/msg.$$'"
"""


def fetchmail(home: Path, port: int, *, keep: bool, tls: str, verbose: bool = False) -> tuple[list[bytes], str]:
    """One poll; returns what the MDA command received (sorted) and fetchmail's output."""
    outbox = home / "delivered"
    outbox.mkdir(parents=True, exist_ok=True)
    before = set(outbox.iterdir())
    rc = home / "fetchmailrc"
    rc.write_text(FETCHMAILRC.format(port=port, keep="keep" if keep else "nokeep", tls=tls, outbox=outbox))
    rc.chmod(0o600)                                        # fetchmail refuses a readable rc file
    result = run([need("fetchmail"), "-v" if verbose else "-s", "--nodetach", "--nosyslog", "-f", str(rc),
                  "--pidfile", str(home / "fetchmail.pid")], home)
    got = sorted(p.read_bytes() for p in outbox.iterdir() if p not in before)
    return got, (result.stdout + result.stderr).decode(errors="replace")


def md5_fingerprint(cert: Path) -> str:
    """fetchmail 6.4's sslfingerprint: the MD5 of the DER certificate, upper-case hex pairs with colons."""
    der = ssl.PEM_cert_to_DER_cert(cert.read_text())
    return ":".join(f"{b:02X}" for b in hashlib.md5(der, usedforsecurity=False).digest())


def test_fetchmail_downloads_over_pop3_into_an_mda(world, tmp_path):
    first = submit(world, "fetch me", "fetchmail delivers this")
    second = submit(world, "fetch me too", "and this")
    port, home = world.port("pop3"), tmp_path / "fetchmail"

    # keep: download, leave on the server. sslproto '' stops the opportunistic STLS (plaintext lesson).
    since = mark(world)
    got, _ = fetchmail(home, port, keep=True, tls="sslproto ''")
    assert got == sorted([first.replace(b"\r\n", b"\n"), second.replace(b"\r\n", b"\n")])
    assert len(world.messages(BOB)) == 2
    assert len(hops(world, since, "pop3.retr", "pop3:beta.test", count=2)) == 2
    [quit_] = hops(world, since, "pop3.quit", "pop3:beta.test")
    assert (quit_.data["deleted"], quit_.data["left"]) == (0, 2)
    assert not [e for e in world.events.events if e.seq > since and e.kind == "pop3.dele"]

    # nokeep: POP3 download-and-delete (RFC 1939 §6: DELE, removed at QUIT).
    since = mark(world)
    got, _ = fetchmail(home, port, keep=False, tls="sslproto ''")
    assert got == sorted([first.replace(b"\r\n", b"\n"), second.replace(b"\r\n", b"\n")])
    assert world.messages(BOB) == []
    assert server_view(world) == {}
    assert len(hops(world, since, "pop3.retr", "pop3:beta.test", count=2)) == 2
    assert len(hops(world, since, "pop3.dele", "pop3:beta.test", count=2)) == 2
    [quit_] = hops(world, since, "pop3.quit", "pop3:beta.test")
    assert (quit_.data["deleted"], quit_.data["left"]) == (2, 0)


def test_fetchmail_over_tls_checks_the_certificate(world, cert, tmp_path):
    fingerprint = md5_fingerprint(cert)
    checks = f'sslcertck sslcertfile "{cert}" sslcommonname "localhost" sslfingerprint "{fingerprint}"'

    # Implicit TLS (pop3s), download-and-delete.
    raw = submit(world, "pop3s", "fetched over implicit TLS")
    since = mark(world)
    got, output = fetchmail(tmp_path / "pop3s", world.port("pop3s"), keep=False, tls=f"ssl {checks}",
                            verbose=True)
    assert got == [raw.replace(b"\r\n", b"\n")]
    assert "fingerprints match" in output and "SSL/TLS: using protocol TLSv1." in output
    assert world.messages(BOB) == []
    [retr] = hops(world, since, "pop3.retr", "pop3:beta.test")
    assert retr.data["tls"] is True

    # STLS on the plain port (RFC 2595 §4), keep.
    raw = submit(world, "stls", "fetched after STLS")
    since = mark(world)
    got, output = fetchmail(tmp_path / "stls", world.port("pop3"), keep=True, tls=f"sslproto tls1.2+ {checks}",
                            verbose=True)
    assert got == [raw.replace(b"\r\n", b"\n")]
    assert "POP3> STLS" in output and "upgrade to TLS succeeded" in output
    assert len(world.messages(BOB)) == 1
    [retr] = hops(world, since, "pop3.retr", "pop3:beta.test")
    assert retr.data["tls"] is True
