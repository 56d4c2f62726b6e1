"""POP3's multi-line replies (RFC 1939 §3): the one-copy encoder equals the general one on any body."""
from __future__ import annotations

import random

from simulator.protocols.lines import dot_stuff
from simulator.protocols.pop3.outputs import Reply


def test_the_fast_encoder_equals_dot_stuffing_on_any_body() -> None:
    rng = random.Random(13)
    alphabet = [b"\r", b"\n", b"\r\n", b".", b"a", b"..", b"\r\n.", b"\r\n.\r\n", b"\x00", b"\xff"]
    bodies = [b"", b".", b"\r\n", b".\r\n", b"a\r\n.\r\n", b"a\nb", b"a\rb\r\n", b"x"]
    bodies += [b"".join(rng.choice(alphabet) for _ in range(rng.randint(0, 16))) for _ in range(20_000)]
    for body in bodies:
        assert Reply("+OK", body).encode() == b"+OK\r\n" + dot_stuff(body), body


def test_a_reply_without_a_body_is_one_line() -> None:
    assert Reply("+OK done").encode() == b"+OK done\r\n"
