"""What the SMTP doors put on the wire, as a client reads it (issue 13: fewer system calls per session).

- A multi-line reply (EHLO's) leaves in one write: a client's first read after its EHLO has the whole
  reply, up to and with its last line; the transcript still shows every line as its own reply line.
- A plain connection reads at most ``RECV_SIZE`` octets at once (no 256 KiB buffer per read), and a
  message much larger than that still arrives whole.
"""
from __future__ import annotations

import base64
import socket

from simulator.facts import SmtpOutcome, SmtpSession
from simulator.protocols import transport


def _read_line(sock: socket.socket) -> bytes:
    data = b""
    while not data.endswith(b"\r\n"):
        chunk = sock.recv(1)
        assert chunk, data
        data += chunk
    return data


def test_the_whole_ehlo_reply_comes_in_one_read_and_the_transcript_keeps_its_lines(world):
    address, port = world.address("mx1.beta.test"), world.stack.config.ports.mx
    with socket.create_connection((address, port), timeout=10) as sock:
        assert _read_line(sock).startswith(b"220 ")
        sock.sendall(b"EHLO client.test\r\n")
        reply = sock.recv(65536)                       # one read: everything the server wrote at once
        sock.sendall(b"QUIT\r\n")
        assert _read_line(sock).startswith(b"221 ")
    lines = reply.split(b"\r\n")
    assert lines[-1] == b"" and lines[-2].startswith(b"250 ")
    assert len(lines) > 3 and all(line.startswith(b"250-") for line in lines[:-2])
    [fact] = world.events.facts(SmtpSession, lambda x: x.outcome is SmtpOutcome.NO_MESSAGE)
    replies = [text for side, text in fact.transcript if side == "S" and text.startswith("250")]
    assert replies == [line.decode() for line in lines[:-1]]


def test_plain_connections_read_in_small_blocks_and_a_large_message_arrives_whole(world):
    size = 5 * transport.RECV_SIZE
    body = b"".join(b"%07d " % n + b"x" * 90 + b"\r\n" for n in range(size // 100))
    address, port = world.address("mx1.beta.test"), world.stack.config.ports.mx
    with socket.create_connection((address, port), timeout=20) as sock:
        assert _read_line(sock).startswith(b"220 ")
        [session] = [s for s in world.stack._sessions if s.transport is not None]      # noqa: SLF001
        assert session.transport.max_size == transport.RECV_SIZE
        sock.sendall(b"EHLO client.test\r\nMAIL FROM:<someone@client.test>\r\nRCPT TO:<bob@beta.test>\r\nDATA\r\n")
        sock.sendall(b"Subject: big\r\n\r\n" + body + b".\r\nQUIT\r\n")
        said = b""
        while chunk := sock.recv(65536):
            said += chunk
    assert b"\r\n250 2.0.0 Ok: " in said
    [raw] = world.wait_messages("bob@beta.test", timeout=20)
    assert raw.endswith(b"\r\n\r\n" + body)


def test_a_submission_waits_for_in_flow_before_its_354_and_a_client_that_leaves_sends_nothing(world, monkeypatch):
    """In-flow control (Postfix's in_flow_delay) holds a submission before the content, as Postfix's
    smtpd does: a client that gives up while it waits for the 354 has sent nothing, and nothing of it
    is queued or delivered (after the dot, the wait would have widened RFC 5321 §6.1's duplicate window)."""
    from simulator import delivery as delivery_mod
    monkeypatch.setattr(delivery_mod, "FLOW_DELAY", 60.0)
    world.stack.delivery._busy.update(f"BUSY{i}" for i in range(delivery_mod.FLOW_LIMIT))   # noqa: SLF001
    plain = base64.b64encode(b"\0alice@alpha.test\0alice")
    with socket.create_connection(("127.0.0.1", world.port("submission")), timeout=10) as sock:
        assert _read_line(sock).startswith(b"220 ")
        sock.sendall(b"EHLO client.test\r\n")
        while not _read_line(sock).startswith(b"250 "):
            pass
        for line, code in ((b"AUTH PLAIN " + plain, b"235"), (b"MAIL FROM:<alice@alpha.test>", b"250"),
                           (b"RCPT TO:<bob@beta.test>", b"250")):
            sock.sendall(line + b"\r\n")
            assert _read_line(sock).startswith(code)
        sock.sendall(b"DATA\r\n")
        sock.settimeout(0.5)
        try:
            early = sock.recv(100)                     # the 354 waits for a place: none comes
        except socket.timeout:
            early = b""
        assert early == b""
    [fact] = world.events.facts(SmtpSession, lambda x: x.outcome is SmtpOutcome.NO_MESSAGE)
    assert fact.transcript[-1] == ("C", "DATA")
    assert world.stack.queue_snapshot() == [] and world.messages("bob@beta.test") == []
