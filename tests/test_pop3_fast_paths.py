"""POP3 RETR's cheaper paths (issue 13) give what the general ones give.

Each shortcut is compared with the path it spares on generated inputs: the encoder told the LF count
of a body with no bare LF, the transcript's count of the lines left out, the header's end found with
``find``, the summary without the Received trace, the credentials scan skipped for transcripts with
nothing to mark, and the trace id read from the header the session has already read.
"""
from __future__ import annotations

import asyncio
import dataclasses
import random
import re

from simulator import mda
from simulator.facts import TlsMode
from simulator.facts.pop3 import Pop3Retrieved
from simulator.protocols.layers import find_credentials
from simulator.protocols.lines import dot_stuff
from simulator.protocols.pop3 import server as pop3_server
from simulator.protocols.pop3.core import Pop3Session
from simulator.protocols.pop3.maildrop import StoreMaildrop
from simulator.protocols.pop3.outputs import Reply, Retrieved
from simulator.protocols.pop3.transcript import BODY_KEEP, CUT, TLS_MARK, Dialogue
from simulator.runtime import RetrievalBus
from simulator.store import MailStore
from simulator.store.headers import header_block, summarize, trace_in
from simulator.store.mime import to_crlf

USER = "bob@beta.test"
_BLANK_LINE = re.compile(rb"\r?\n\r?\n")      # the definition header_block keeps


def _bodies(seed: int, count: int) -> list[bytes]:
    rng = random.Random(seed)
    alphabet = [b"\r", b"\n", b"\r\n", b".", b"a", b"..", b"\r\n.", b"\r\n.\r\n", b"\xff", b"\r\r\n"]
    return [b"".join(rng.choice(alphabet) for _ in range(rng.randint(0, 40))) for _ in range(count)]


def test_the_encoder_told_the_lf_count_equals_dot_stuffing_on_bodies_without_a_bare_lf() -> None:
    for body in _bodies(1, 20_000):
        body = to_crlf(body)                                   # what a Maildrop with no_bare_lf serves
        assert Reply("+OK", body, body.count(b"\n")).encode() == b"+OK\r\n" + dot_stuff(body), body


def test_the_transcript_told_the_lf_count_equals_counting_the_rest() -> None:
    long_bodies = [
        b"".join(b"line %d\r\n" % i for i in range(n)) + tail for n in (0, 1, 19, 20, 21, 400)
        for tail in (b"", b"no end", b".dot\r\n")]
    for body in [to_crlf(b) for b in _bodies(2, 5_000)] + long_bodies:
        plain, told = Dialogue(), Dialogue()
        plain.body(body)
        told.body(body, body.count(b"\n"))
        assert told.take() == plain.take(), body


def _lines_one_by_one(dialogue: Dialogue, body: bytes) -> None:
    """The transcript's body as it was written before: each line found, decoded and kept alone."""
    start = 0
    for _ in range(BODY_KEEP):
        if start >= len(body):
            break
        end = body.find(b"\r\n", start)
        end = len(body) if end < 0 else end
        text = body[start:end].decode("utf-8", "replace")
        dialogue.line("S", "." + text if text.startswith(".") else text)
        start = end + 2
    rest = body.count(b"\r\n", start) + (1 if start < len(body) and not body.endswith(b"\r\n", start) else 0)
    if rest:
        dialogue.line(CUT, str(rest))
    dialogue.line("S", ".")


def test_the_transcript_decodes_the_lines_shown_as_one_by_one() -> None:
    rng = random.Random(6)
    alphabet = [b"\r\n", b".", b"a", b"\xd0\x9f", b"\xd0", b"\x82", b"\xe2\x82", b"\xff", b"\r", b"\n",
                b"x" * 290, b"\r\n."]
    for keep in (200, 7):
        for _ in range(5_000):
            body = b"".join(rng.choice(alphabet) for _ in range(rng.randint(0, 60)))
            ours, theirs = Dialogue(keep), Dialogue(keep)
            for dialogue in (ours, theirs):
                dialogue.line("C", "RETR 1")
            ours.body(body)
            _lines_one_by_one(theirs, body)
            assert ours.take() == theirs.take(), body


def test_a_retr_from_the_store_is_encoded_and_transcribed_as_before(tmp_path) -> None:
    store = MailStore(tmp_path / "mail")
    content = b"Subject: dots\r\n\r\n" + b"".join(b".line %d\r\n" % i for i in range(50)) + b"last\nbare lf\r\n"
    store.append(USER, "INBOX", content)
    drop = StoreMaildrop(store, USER)
    assert drop.no_bare_lf
    session = Pop3Session()
    session.start()
    session.feed(b"USER bob\r\nPASS x\r\n")
    session.login_result(drop)
    out = session.feed(b"RETR 1\r\n")
    reply = next(o for o in out if isinstance(o, Reply))
    data = store.read_message(USER, "INBOX", 1)
    assert reply.lf == data.count(b"\n")
    assert reply.encode() == f"+OK {len(data)} octets\r\n".encode() + dot_stuff(data)
    transcript = next(o for o in out if isinstance(o, Retrieved)).transcript
    plain = Dialogue()
    plain.body(data)
    assert transcript[2:] == plain.take()                      # after "RETR 1" and the status line


def test_the_header_end_is_the_first_blank_line() -> None:
    rng = random.Random(3)
    alphabet = [b"\r", b"\n", b"\r\n", b"a", b": ", b"\r\n\r\n", b"\n\n", b"\n\r\n", b"\r\r\n"]
    for _ in range(100_000):
        content = b"".join(rng.choice(alphabet) for _ in range(rng.randint(0, 14)))
        match = _BLANK_LINE.search(content)
        expected = (b"" if content.startswith((b"\r\n", b"\n"))
                    else content if match is None else content[:match.start()])
        assert header_block(content) == expected, content


def test_the_summary_without_received_is_the_summary_less_its_trace() -> None:
    rng = random.Random(4)
    names = [b"From", b"from", b"FROM", b"To", b"Subject", b"Message-ID", b"Date", b"Received", b"From-X",
             b"X-To", b"Cc", b"subject ", b"To\t"]
    values = [b" a@alpha.test", b" =?utf-8?b?0J/RgNC40LLQtdGC?=", b" Name <n@x>", b"", b" \xd0\x9f\xff",
              b" folded\r\n continued", b" line\r\n\tmore\r\n  again", b" ctl\x01\x7f"]
    for _ in range(5_000):
        lines = []
        for _ in range(rng.randint(0, 8)):
            pick = rng.random()
            if pick < 0.1:
                lines.append(b" stray continuation")
            elif pick < 0.15:
                lines.append(b"no colon here")
            else:
                lines.append(rng.choice(names) + b":" + rng.choice(values))
        head = b"\r\n".join(lines) + rng.choice([b"", b"\r\n", b"\r\n\r\nbody From: x"])
        assert summarize(head, received=False) == dataclasses.replace(summarize(head), received=()), head


def test_a_transcript_left_unread_has_no_credentials() -> None:
    rng = random.Random(5)
    client = ["RETR 1", "USER bob", "PASS secret", "user bob", "Pass", "AUTH PLAIN AGJvYgBzZWNyZXQ=", "auth login",
              "\tAUTH\tPLAIN AGJvYgBzZWNyZXQ=", "Ym9i", "c2VjcmV0", "*", "LIST", "USER\x0bbob", ""]
    server = ["+OK", "+ ", "+ VXNlcm5hbWU6", "-ERR", "line", "."]
    checked = skipped = 0
    for _ in range(20_000):
        transcript = []
        for _ in range(rng.randint(0, 6)):
            side = rng.choice(["C", "S", "S", CUT])
            text = (rng.choice(client) if side == "C" else rng.choice(server) if side == "S"
                    else rng.choice([TLS_MARK, "12"]))
            transcript.append((side, text))
        transcript = tuple(transcript)
        for tls, tls_from in ((TlsMode.NONE, None), (TlsMode.STARTTLS, 0)):
            if not pop3_server._may_mark(transcript):
                skipped += 1
                assert find_credentials(transcript, "POP3", tls=tls, tls_from=tls_from) == (), transcript
            checked += 1
    assert skipped > checked // 4                 # the shortcut is taken often, and checked each time


class _Bus:
    def publish(self, fact):
        return fact


def _traced(tmp_path, content: bytes) -> tuple[str | None, str | None]:
    """(the trace the session's header gives, the trace RetrievalBus reads from the file)."""
    store = MailStore(tmp_path / "mail")
    _, uid = store.append(USER, "INBOX", content)
    fact = Pop3Retrieved(src=f"mailbox:{USER}", dst=f"mua:{USER}", server="pop3:beta.test", peer="127.0.0.1",
                         address=USER, tls=False, command="RETR", number=1, uid=uid, size=100)
    header = header_block(store.read_message(USER, "INBOX", uid))
    return trace_in(header), RetrievalBus(_Bus(), store)._trace(fact)   # what it reads from the file


def test_the_trace_from_the_header_read_is_the_one_the_bus_finds(tmp_path) -> None:
    body = b"Subject: hi\r\nFrom: a@alpha.test\r\nTo: bob@beta.test\r\n\r\nhello\r\n"
    filler = b"".join(b"X-Filler-%d: %s\r\n" % (i, b"f" * 60) for i in range(60))
    cases = [mda.final_headers(body, return_path="a@alpha.test", delivered_to=USER, trace="m-00000000002a"),
             filler + b"X-Mailflow-Trace: m-0000000000ff\r\n" + body,
             body + b"X-Mailflow-Trace: m-0000000000aa\r\n",                 # in the body: no trace
             body, b"x-mailflow-trace:\tm-0123456789abcdef \r\n" + body,
             (b"X-Pad: " + b"p" * 2019 + b"\r\n" + b"X-Mailflow-Trace: m-0123456789abcdef\r\n" + body)]
    found = [_traced(tmp_path / str(i), content) for i, content in enumerate(cases)]
    assert all(ours == theirs for ours, theirs in found), found
    assert [ours for ours, _ in found] == ["m-00000000002a", "m-0000000000ff", None, None,
                                           "m-0123456789abcdef", "m-0123456789abcdef"]


def _unsized_maildir(tmp_path, count: int) -> MailStore:
    """A store whose INBOX files carry no sizes in their names (as another MDA writes them), LF or CRLF."""
    cur = tmp_path / "mail" / "beta.test" / "bob" / "cur"
    cur.mkdir(parents=True)
    for sub in ("new", "tmp"):
        (cur.parent / sub).mkdir()
    for i in range(count):
        body = b"Subject: m%d\n\nline\n" % i if i % 2 else b"Subject: m%d\r\n\r\nline\r\nmore\r\n" % i
        (cur / f"17000000{i:02d}.M{i}P1.host:2,S").write_bytes(body)
    return MailStore(tmp_path / "mail")


def test_sizes_are_counted_slice_by_slice(tmp_path) -> None:
    store = _unsized_maildir(tmp_path, 5)
    steps = [0]
    while steps[-1] is not None:
        steps.append(store.count_sizes(USER, "INBOX", steps[-1], 2))
    assert steps == [0, 2, 4, None]
    files = sorted((tmp_path / "mail" / "beta.test" / "bob" / "cur").iterdir())
    assert sorted(m.size for m in store.inbox_meta(USER)) == sorted(len(to_crlf(f.read_bytes())) for f in files)


def test_a_pop3_login_lets_the_loop_run_while_it_counts_sizes(tmp_path, monkeypatch) -> None:
    """The other sessions on the mail loop get turns between the slices of a first login's counting."""
    from simulator.world import Account
    store = _unsized_maildir(tmp_path, 5)
    monkeypatch.setattr(pop3_server, "SIZE_SLICE", 2)
    ticks: list[int] = []
    seen: list[int] = []                       # the ticks at each slice
    counting = store.count_sizes

    def count_sizes(*args):
        seen.append(len(ticks))
        return counting(*args)

    store.count_sizes = count_sizes            # type: ignore[method-assign]

    async def scenario() -> bytes:
        server = pop3_server.Pop3Server(store, lambda login, pw: Account("bob", "beta.test"), host="127.0.0.1",
                                        port=0, default_domain="beta.test")
        await server.start()

        async def ticker() -> None:
            while True:
                ticks.append(1)
                await asyncio.sleep(0)

        tick = asyncio.create_task(ticker())
        try:
            reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
            await reader.readline()
            writer.write(b"USER bob\r\nPASS x\r\n")
            await reader.readline()
            answer = await reader.readline()
            writer.close()
            return answer
        finally:
            tick.cancel()
            await server.stop()

    answer = asyncio.run(scenario())
    files = sorted((tmp_path / "mail" / "beta.test" / "bob" / "cur").iterdir())
    octets = sum(len(to_crlf(f.read_bytes())) for f in files)
    assert answer == f"+OK Logged in: maildrop has 5 messages ({octets} octets)\r\n".encode()
    assert len(seen) == 3 and seen[0] < seen[1] < seen[2]      # the ticker ran between the slices
