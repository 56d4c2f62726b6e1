"""Real programs against the sandbox: swaks and curl submit with AUTH, dig reads the MX table.

On CI these programs are installed by .ci/run; a missing one is a failure, not a skip.
"""
from __future__ import annotations

import shutil
import subprocess

import pytest

from simulator import nodes
from simulator.facts import DnsServed, SmtpOutcome, SmtpSession

pytestmark = pytest.mark.clients


def need(program: str) -> str:
    path = shutil.which(program)
    assert path, f"{program} is not installed (.ci/run installs it: see the Debian package list there)"
    return path


def test_swaks_submits_with_auth(world, tmp_path):
    result = subprocess.run(
        [need("swaks"), "--server", f"127.0.0.1:{world.port('submission')}", "--ehlo", "student.test",
         "--auth", "PLAIN", "--auth-user", "alice@alpha.test", "--auth-password", "alice",
         "--from", "alice@alpha.test", "--to", "bob@beta.test", "--header", "Subject: via swaks",
         "--body", "Sent by swaks", "--timeout", "15"],
        capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "235 2.7.0" in result.stdout and "queued as" in result.stdout
    [raw] = world.wait_messages("bob@beta.test")
    assert b"Subject: via swaks" in raw and b"Sent by swaks" in raw


def test_swaks_over_starttls(world):
    result = subprocess.run(
        [need("swaks"), "--server", f"127.0.0.1:{world.port('submission')}", "--tls", "--ehlo", "student.test",
         "--auth", "LOGIN", "--auth-user", "alice@alpha.test", "--auth-password", "alice",
         "--from", "alice@alpha.test", "--to", "bob@beta.test", "--timeout", "15"],
        capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "TLS started" in result.stdout
    [raw] = world.wait_messages("bob@beta.test")
    assert b"ESMTPSA" in raw                    # RFC 3848: TLS + AUTH recorded in Received:


def test_swaks_by_hand_to_an_mx_without_auth(world):
    """What a student does in class: talk to the MX of beta.test directly."""
    result = subprocess.run(
        [need("swaks"), "--server", f"{world.address('mx1.beta.test')}:{world.stack.config.ports.mx}",
         "--ehlo", "student.test", "--from", "student@alpha.test", "--to", "bob@beta.test", "--timeout", "15"],
        capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr
    world.wait_messages("bob@beta.test")
    session = world.events.wait_for(lambda e: e.kind == "smtp.session" and e.dst == "mta:mx1.beta.test")[0]
    assert session.src == nodes.OUTSIDE and session.fact.peer == "127.0.0.1"
    assert session.fact.outcome is SmtpOutcome.BY_HAND


def test_curl_submits_with_auth(world, tmp_path):
    mail = tmp_path / "msg.eml"
    mail.write_bytes(b"From: alice@alpha.test\r\nTo: bob@beta.test\r\nSubject: via curl\r\n\r\nSent by curl\r\n")
    result = subprocess.run(
        [need("curl"), "-sS", "--url", f"smtp://127.0.0.1:{world.port('submission')}",
         "--user", "alice@alpha.test:alice", "--mail-from", "alice@alpha.test", "--mail-rcpt", "bob@beta.test",
         "--upload-file", str(mail), "--max-time", "20"],
        capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    [raw] = world.wait_messages("bob@beta.test")
    assert b"Subject: via curl" in raw


def test_curl_over_implicit_tls(world, tmp_path):
    from simulator.tls import ensure_certificate
    cert, _ = ensure_certificate(world.stack.config.data_dir)
    mail = tmp_path / "msg.eml"
    mail.write_bytes(b"Subject: smtps\r\n\r\nover TLS\r\n")
    result = subprocess.run(
        [need("curl"), "-sS", "--url", f"smtps://localhost:{world.port('smtps')}", "--cacert", str(cert),
         "--resolve", f"localhost:{world.port('smtps')}:127.0.0.1",
         "--user", "alice@alpha.test:alice", "--mail-from", "alice@alpha.test", "--mail-rcpt", "bob@beta.test",
         "--upload-file", str(mail), "--max-time", "20"],
        capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    [raw] = world.wait_messages("bob@beta.test")
    assert b"with ESMTPSA" in raw                # implicit TLS + AUTH (RFC 3848)


def test_dig_reads_the_mx_table(world):
    port = world.port("dns")
    result = subprocess.run([need("dig"), "@127.0.0.1", "-p", str(port), "MX", "beta.test", "+short"],
                            capture_output=True, text=True, timeout=30)
    assert result.returncode == 0
    assert sorted(result.stdout.split("\n")[:2]) == ["10 mx1.beta.test.", "20 mx2.beta.test."]
    full = subprocess.run([need("dig"), "@127.0.0.1", "-p", str(port), "MX", "beta.test"],
                          capture_output=True, text=True, timeout=30).stdout
    assert " aa" in full.split("flags:")[1].split(";")[0]            # authoritative answer
    assert "mx1.beta.test.\t" in full.split("ADDITIONAL SECTION")[1]  # glue A records
    refused = subprocess.run([need("dig"), "@127.0.0.1", "-p", str(port), "A", "example.com"],
                             capture_output=True, text=True, timeout=30).stdout
    assert "status: REFUSED" in refused
    [served] = world.events.facts(DnsServed, lambda x: x.question == "example.com A")
    assert served.rcode == "REFUSED" and served.peer == "127.0.0.1"
    assert (served.src, served.dst) == (nodes.OUTSIDE, nodes.DNS)


def test_swaks_finds_no_empty_auth_on_any_mx(world):
    """Defect 10 (issue 9): an MX offers no AUTH, so it announces none; RFC 4954 §3 forbids an
    ``AUTH`` keyword without a mechanism.  Every host greets with its own name."""
    port = world.stack.config.ports.mx
    for name in world.stack.world.hosts:
        result = subprocess.run(
            [need("swaks"), "--server", f"{world.address(name)}:{port}", "--ehlo", "student.test",
             "--quit-after", "EHLO", "--timeout", "15"],
            capture_output=True, text=True, timeout=60)
        assert result.returncode == 0, result.stdout + result.stderr
        said = [line[3:].strip() for line in result.stdout.splitlines() if line.startswith("<-")]
        assert said[0].startswith(f"220 {name} "), said
        assert f"250-{name}" in said, said
        assert not any(line.upper().startswith(("250-AUTH", "250 AUTH")) for line in said), said


def test_swaks_through_the_front_door_never_reads_localhost(world):
    """The front door names itself, and its 235 names the MSA that takes the message; nothing says
    ``localhost`` (defect 10: the submission hop's transcript greeted as localhost)."""
    result = subprocess.run(
        [need("swaks"), "--server", f"127.0.0.1:{world.port('submission')}", "--ehlo", "student.test",
         "--auth", "LOGIN", "--auth-user", "alice@alpha.test", "--auth-password", "alice",
         "--from", "alice@alpha.test", "--to", "bob@beta.test", "--timeout", "15"],
        capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr
    said = [line[3:].strip() for line in result.stdout.splitlines() if line.startswith("<-")]
    assert not any("localhost" in line for line in said), said
    assert any(line.startswith("235 ") and "smtp.alpha.test" in line for line in said), said
    [session] = world.events.facts(SmtpSession, lambda f: f.outcome is SmtpOutcome.SUBMITTED)
    assert session.via == nodes.FRONT and session.host == "smtp.alpha.test"
    assert not any("localhost" in text for side, text in session.transcript if side == "S")
