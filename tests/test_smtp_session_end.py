"""An ended SMTP session is freed by reference counting at once, not left to the cycle collector.

Each dead ``TranscriptSMTP`` used to be ~80 objects of cyclic garbage (its bound verbs, the reader that
tells it each line, its writer, its handler task and that task's traceback...), old enough to reach the
collector's oldest generation: at c=50 two full collections per 1,000 messages, 15-20 ms each with the
whole process stopped.  With the collector off, the session must be gone once its connection is.
"""
from __future__ import annotations

import gc
import smtplib
import time
import weakref

import pytest

from simulator.facts import SmtpSession
from simulator.protocols.smtp.session import TranscriptSMTP

ALICE, BOB = "alice@alpha.test", "bob@beta.test"
MESSAGE = b"Subject: freed\r\n\r\nbody\r\n"


@pytest.fixture
def no_collector():
    was = gc.isenabled()
    gc.collect()
    gc.disable()
    try:
        yield
    finally:
        if was:
            gc.enable()


def _session_of(world, before: set[int]) -> "weakref.ref[TranscriptSMTP]":
    [session] = [s for s in list(world.stack._sessions) if isinstance(s, TranscriptSMTP) and id(s) not in before]
    return weakref.ref(session)


def _gone(ref: weakref.ref, timeout: float = 10.0) -> bool:
    """Whether the session was freed within ``timeout`` s (its end runs on the mail loop's thread)."""
    deadline = time.monotonic() + timeout
    while ref() is not None and time.monotonic() < deadline:
        time.sleep(0.01)
    return ref() is None


def _open(world, host: str = "mx1.beta.test") -> smtplib.SMTP:
    return smtplib.SMTP(world.address(host), world.port("mx", host), local_hostname="client.end.test", timeout=20)


@pytest.mark.parametrize("ending", ["quit", "close", "close_in_data"])
def test_an_ended_mx_session_is_freed_without_the_cycle_collector(world, no_collector, ending):
    before = {id(s) for s in list(world.stack._sessions)}
    client = _open(world)
    ref = _session_of(world, before)
    client.ehlo()
    client.mail(ALICE)
    client.rcpt(BOB)
    if ending == "close_in_data":
        client.putcmd("data")
        assert client.getreply()[0] == 354
        client.send(b"Subject: half\r\n\r\nnever ended\r\n")
        client.close()
    else:
        assert client.data(MESSAGE)[0] == 250
        if ending == "quit":
            client.quit()
        else:
            client.close()
    assert _gone(ref), "the ended session is still referenced: a cycle left for the collector"
    if ending != "close_in_data":
        assert world.events.wait_for(lambda e: isinstance(e.fact, SmtpSession) and e.fact.rcpts == (BOB,))


def test_an_ended_submission_session_with_auth_is_freed_too(world, no_collector):
    before = {id(s) for s in list(world.stack._sessions)}
    host = "smtp.alpha.test"
    client = smtplib.SMTP(world.address(host), world.port("submission", host), local_hostname="client.end.test",
                          timeout=20)
    ref = _session_of(world, before)
    client.ehlo()
    client.login("alice", "alice")
    client.quit()
    assert _gone(ref)


def test_an_ended_session_after_starttls_is_freed_too(world, no_collector):
    import ssl
    before = {id(s) for s in list(world.stack._sessions)}
    client = _open(world)
    ref = _session_of(world, before)
    client.ehlo()
    if not client.has_extn("starttls"):
        client.close()
        pytest.skip("no TLS in this world")
    context = ssl.create_default_context()
    context.check_hostname, context.verify_mode = False, ssl.CERT_NONE
    client.starttls(context=context)
    client.ehlo()
    client.mail(ALICE)
    client.rcpt(BOB)
    assert client.data(MESSAGE)[0] == 250
    client.quit()
    assert _gone(ref)


def test_an_ended_implicit_tls_session_is_freed_too(world, no_collector):
    import ssl
    try:
        port = world.port("smtps")
    except KeyError:
        pytest.skip("no smtps port in this world")
    context = ssl.create_default_context()
    context.check_hostname, context.verify_mode = False, ssl.CERT_NONE
    before = {id(s) for s in list(world.stack._sessions)}
    client = smtplib.SMTP_SSL("127.0.0.1", port, local_hostname="client.end.test", timeout=20, context=context)
    ref = _session_of(world, before)
    client.ehlo()
    client.quit()
    assert _gone(ref)
