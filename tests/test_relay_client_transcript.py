"""The relay client keeps in its transcript what a failed attempt's fact shows of the message, no more.

Fact: for any body, ``trim_transcript`` of the client's transcript (``RelayDialogue.payload``: the first
``BODY_KEPT`` lines and a count of the rest) equals ``trim_transcript`` of the transcript with every
dot-stuffed line; the octets sent are ``dot_stuff`` of the message either way.
"""
from __future__ import annotations

import inspect
import random

from simulator.events import CUT, trim_transcript
from simulator.protocols.lines import dot_stuff
from simulator.protocols.smtp.client import BODY_KEPT, RelayDialogue


def _full(content: bytes) -> list[tuple[str, str]]:
    return [("D", line.decode("utf-8", "replace")) for line in dot_stuff(content).split(b"\r\n")[:-1]]


def test_the_kept_lines_are_what_the_fact_would_show_of_the_whole_body():
    assert inspect.signature(trim_transcript).parameters["keep"].default == BODY_KEPT
    rnd = random.Random(13)
    pieces = [b"", b".", b"..x", b".\r", b"abc", "é".encode(), b"\xff\xfe", b"Subject: s"]
    for _ in range(2000):
        count = rnd.choice([0, 1, BODY_KEPT - 1, BODY_KEPT, BODY_KEPT + 1, BODY_KEPT + 2, rnd.randint(0, 300)])
        lines = [rnd.choice(pieces + [b"x" * rnd.randint(0, 90)]) for _ in range(count)]
        content = b"\r\n".join(lines) + rnd.choice([b"\r\n", b"", b"\n"])
        dialogue = RelayDialogue(helo="smtp.alpha.test", sender="alice@alpha.test", recipients=["bob@beta.test"],
                                 content=content)
        assert dialogue.payload().data == dot_stuff(content)
        around = ([("C", "DATA"), ("S", "354 go")], [("S", "250 2.0.0 ok")])
        kept = around[0] + dialogue.outcome.transcript + around[1]
        assert trim_transcript(kept) == trim_transcript(around[0] + _full(content) + around[1])


def test_a_long_body_keeps_its_first_lines_and_counts_the_others():
    content = b"".join(b"line %d\r\n" % i for i in range(100))
    dialogue = RelayDialogue(helo="h.test", sender="a@h.test", recipients=["b@h.test"], content=content)
    dialogue.payload()
    # 100 lines and the lone dot that ends the data (a line of the transcript, as it always was)
    assert dialogue.outcome.transcript == [("D", f"line {i}") for i in range(BODY_KEPT)] + [(CUT, str(101 - BODY_KEPT))]
