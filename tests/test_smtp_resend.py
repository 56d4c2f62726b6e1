"""The receiving MX's own fact of a resend it recognised (issue 12, rule 1; issue 13 follow-up).

A sending MTA that crashed after an MX's 250 but before noting it sends the message again; every MX
of the world knows it by its ``Mailflow-Relay-Id`` and answers 250 without queuing it.  The MX's
:class:`~simulator.facts.SmtpSession` of that transaction says so (``resend``, no queue id), and
its words differ from those of a message the MX stored, in every language.
"""
from __future__ import annotations

import dataclasses
import smtplib
from pathlib import Path

from simulator.facts import SmtpOutcome, SmtpSession
from simulator.narrate import CATALOGUES, narrate
from simulator.protocols.smtp import relayid

ROOT = Path(__file__).resolve().parent.parent
ALICE, BOB = "alice@alpha.test", "bob@beta.test"


def _message(msgid: str) -> bytes:
    return (f"From: <{ALICE}>\r\nTo: <{BOB}>\r\nSubject: once\r\nMessage-ID: <{msgid}>\r\n\r\n"
            "one body line\r\n").encode()


def test_the_mx_session_of_a_recognised_resend_says_resend_and_names_no_queue_id(start_world):
    world = start_world(ROOT / "scenarios" / "06-equal-preferences.yaml")
    stamped = relayid.stamp(_message("resend@fact.test"), queue_id="ABCDEF012345", host="smtp.alpha.test")
    for mx in ("mx1.beta.test", "mx2.beta.test", "mx1.beta.test"):
        with smtplib.SMTP(world.address(mx), world.port("mx", mx), local_hostname="smtp.alpha.test",
                          source_address=(world.address("smtp.alpha.test"), 0), timeout=20) as client:
            client.sendmail(ALICE, [BOB], stamped)
    sessions = world.events.facts(SmtpSession, lambda x: x.outcome is SmtpOutcome.RELAYED, count=3)
    assert [(x.host, x.resend, bool(x.queue_id), x.rcpts) for x in sessions] == [
        ("mx1.beta.test", False, True, (BOB,)),
        ("mx2.beta.test", True, False, (BOB,)),
        ("mx1.beta.test", True, False, (BOB,))]
    world.wait_queue_empty()
    assert len([m for m in world.messages(BOB) if b"<resend@fact.test>" in m]) == 1


def test_a_resend_is_worded_apart_from_a_stored_message_in_every_language():
    stored = SmtpSession(src="mta:smtp.alpha.test", dst="mta:mx1.beta.test", outcome=SmtpOutcome.RELAYED,
                         door="mx", host="mx1.beta.test", port=25, client="smtp.alpha.test",
                         queue_id="ABCDEF012345", rcpts=(BOB,))
    for fact in (stored, dataclasses.replace(stored, reused=True), dataclasses.replace(stored, final=False)):
        resend = dataclasses.replace(fact, resend=True, queue_id="")
        words, again = narrate(fact), narrate(resend)
        for lang in CATALOGUES:
            assert again[lang]["summary"] and again[lang]["explain"]
            assert again[lang]["summary"] != words[lang]["summary"]
            assert again[lang]["explain"] != words[lang]["explain"]


def _speak(sock):
    """A one-line-at-a-time SMTP client on a raw socket: send a line, read the whole reply."""
    replies = sock.makefile("rb")

    def say(line: bytes | None) -> bytes:
        if line is not None:
            sock.sendall(line)
        while True:
            got = replies.readline()
            if not got or got[3:4] != b"-":
                return got
    return say


def _send_once(say, content: bytes) -> bytes:
    for line in (b"MAIL FROM:<alice@alpha.test>\r\n", b"RCPT TO:<bob@beta.test>\r\n", b"DATA\r\n"):
        say(line)
    return say(content.replace(b"\r\n.", b"\r\n..") + b".\r\n")


def test_a_resend_does_not_forgive_the_errors_before_it(world):
    """Issue 12, rule 4 (found by a review): a resend stores nothing, so the errors before it still
    count -- else one stamped message and 19 errors, again and again, would never be cut off."""
    import socket

    from simulator.protocols.smtp.session import MAX_ERRORS
    stamped = relayid.stamp(_message("forgive@fact.test"), queue_id="F0F0F0F0F0F0", host="smtp.alpha.test")
    sock = socket.create_connection((world.address("mx1.beta.test"), world.port("mx", "mx1.beta.test")),
                                    source_address=(world.address("smtp.alpha.test"), 0), timeout=20)
    with sock:
        say = _speak(sock)
        say(None)
        say(b"EHLO smtp.alpha.test\r\n")
        assert _send_once(say, stamped).startswith(b"250 ")
        errors, last = 0, b""
        for _ in range(3):
            for _ in range(MAX_ERRORS - 1):
                last = say(b"RCPT TO:<nobody@beta.test>\r\n")
                if not last.startswith(b"5"):
                    break
                errors += 1
            if not last.startswith(b"5"):
                break
            last = _send_once(say, stamped)
            assert b"already" in last and last.startswith(b"250 ")        # recognised: nothing stored
        assert last.startswith(b"421") or last == b""
        assert errors < 2 * MAX_ERRORS
    world.wait_queue_empty()
    assert len([m for m in world.messages(BOB) if b"<forgive@fact.test>" in m]) == 1


def test_only_a_sandbox_host_relays_a_key_a_client_from_outside_is_not_deduplicated(world):
    """A relay key is taken only from a sandbox host's queue runner: a client from outside cannot write
    the world's records (nor have its own resends suppressed); the field is removed either way."""
    stamped = relayid.stamp(_message("outsider@fact.test"), queue_id="0A0A0A0A0A0A", host="smtp.alpha.test")
    for _ in range(2):
        with smtplib.SMTP(world.address("mx1.beta.test"), world.port("mx", "mx1.beta.test"),
                          local_hostname="client.example", source_address=("127.0.0.1", 0), timeout=20) as client:
            client.sendmail(ALICE, [BOB], stamped)
    sessions = world.events.facts(SmtpSession, lambda x: x.host == "mx1.beta.test" and x.rcpts == (BOB,), count=2)
    assert [x.resend for x in sessions] == [False, False]
    world.wait_queue_empty()
    copies = [m for m in world.messages(BOB) if b"<outsider@fact.test>" in m]
    assert len(copies) == 2 and not any(relayid.FIELD.encode() in m for m in copies)
