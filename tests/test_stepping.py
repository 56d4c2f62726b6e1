"""The step gate driving the real world: hop by hop, and an SMTP dialogue line by line."""
from __future__ import annotations

import smtplib
import threading
import time

from simulator.facts import SmtpLine, HopStep


def send_in_background(world) -> threading.Event:
    done = threading.Event()

    def run() -> None:
        with smtplib.SMTP("127.0.0.1", world.port("submission"), local_hostname="c.test", timeout=60) as s:
            s.login("alice@alpha.test", "alice")
            s.sendmail("alice@alpha.test", ["bob@beta.test"], b"Subject: steps\r\n\r\nx\r\n")
        done.set()
    threading.Thread(target=run, daemon=True).start()
    return done


def wait_waiting(world, timeout: float = 5.0, released=None):
    """The hop now waiting at the gate (not the one just released), or None."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        state = world.stack.gate.state()
        if state.waiting and state.waiting[0] is not released:
            return state.waiting[0]
        time.sleep(0.02)
    return None


def test_hop_by_hop_mailbox_stays_empty_until_the_last_hop(start_world):
    world = start_world(step=True)
    done = send_in_background(world)
    hops = []
    waiting = None
    while len(hops) < 10:
        waiting = wait_waiting(world, timeout=2.0, released=waiting)
        if waiting is None:
            break
        hops.append(waiting.hop)
        assert world.messages("bob@beta.test") == []
        world.stack.gate.step()
    world.wait_messages("bob@beta.test")
    assert done.wait(5)
    assert [h.step for h in hops] == [HopStep.SUBMIT, HopStep.DNS_QUERY, HopStep.CONNECT, HopStep.DELIVER], hops
    submit, lookup, connect, deliver = hops
    assert (submit.user, submit.host, submit.dst) == ("alice@alpha.test", "smtp.alpha.test", "mta:smtp.alpha.test")
    assert (lookup.host, lookup.domain) == ("smtp.alpha.test", "beta.test")
    assert (connect.target, connect.address) == ("mx1.beta.test", world.address("mx1.beta.test"))
    assert (deliver.src, deliver.rcpt) == ("mda:beta.test", "bob@beta.test")
    assert all(hop.trace == submit.trace for hop in hops)


def test_line_by_line_releases_each_server_reply(start_world):
    world = start_world(step=True)
    world.stack.gate.set_granularity("line")
    done = send_in_background(world)
    steps = 0
    replies = []
    waiting = None
    while steps < 200 and not world.messages("bob@beta.test"):
        waiting = wait_waiting(world, timeout=3.0, released=waiting)
        if waiting is None:
            break
        replies.append(waiting.hop)
        world.stack.gate.step()
        steps += 1
    world.wait_messages("bob@beta.test")
    assert done.wait(5)
    assert {h.step for h in replies} == {HopStep.REPLY, HopStep.SUBMIT, HopStep.DNS_QUERY, HopStep.CONNECT, HopStep.DELIVER}
    replies = [h for h in replies if h.step is HopStep.REPLY]
    assert any(h.reply.startswith("220") for h in replies) and any(h.reply.startswith("354") for h in replies)
    assert {h.host for h in replies} >= {"", "mx1.beta.test"}     # the front door (no host), then the MX
    assert steps > 15        # every reply of both dialogues (submission and relay) was a step
    lines = [e for e in world.events.events if isinstance(e.fact, SmtpLine)]
    assert lines and any(side == "C" and text.startswith("EHLO") for e in lines for side, text in e.transcript)
    # Each queue's first hop follows the 250 that took the message: the MSA's session before its DNS
    # question, the MX's session before the mailbox (a queue runner used to win that race).
    world.events.wait_for(lambda e: e.kind == "mda.deliver")
    hops = [(e.kind, e.dst) for e in world.events.events if e.kind != "smtp.line"]
    assert hops.index(("smtp.session", "mta:smtp.alpha.test")) < hops.index(("dns.query", "dns"))
    assert hops.index(("smtp.session", "mta:mx1.beta.test")) < hops.index(("mda.deliver", "mailbox:bob@beta.test"))
    world.stack.gate.set_granularity("hop")
    world.stack.gate.play()


def test_a_client_that_leaves_while_its_250_is_held_still_has_its_message_delivered(start_world):
    """The 250 waits at the gate (line by line); the client hangs up; once the teacher plays, what
    was taken (fsynced before the 250) is delivered at once, not after the queue's safety net."""
    import base64
    import socket
    world = start_world(step=True)
    world.stack.gate.set_granularity("line")
    sock = socket.create_connection(("127.0.0.1", world.port("submission")), timeout=30)
    replies = sock.makefile("rb")

    def say(line: bytes) -> None:
        sock.sendall(line)

    plain = base64.b64encode(b"\0alice@alpha.test\0alice")
    for line in (b"EHLO c.test\r\n", b"AUTH PLAIN " + plain + b"\r\n", b"MAIL FROM:<alice@alpha.test>\r\n",
                 b"RCPT TO:<bob@beta.test>\r\n", b"DATA\r\n"):
        say(line)
        while True:                             # release the server's replies one by one until one arrives
            waiting = wait_waiting(world, timeout=5.0)
            assert waiting is not None
            world.stack.gate.step()
            got = replies.readline()
            while got[3:4] == b"-":
                got = replies.readline()
            if got[:3] in (b"250", b"235", b"354"):
                break
    say(b"Subject: left\r\n\r\nx\r\n.\r\n")
    held = None
    for _ in range(10):                         # the submission hop first, then the 250
        held = wait_waiting(world, timeout=10.0, released=held)
        assert held is not None
        if held.hop.step is HopStep.REPLY and held.hop.reply.startswith("250"):
            break
        world.stack.gate.step()
    assert held.hop.step is HopStep.REPLY and held.hop.reply.startswith("250")
    replies.close()
    sock.close()                                # gone before its 250 was released
    world.stack.gate.set_granularity("hop")
    world.stack.gate.play()
    [raw] = world.wait_messages("bob@beta.test", timeout=15)
    assert b"Subject: left" in raw
