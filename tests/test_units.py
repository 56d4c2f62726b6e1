"""Unit tables: SMTP reply parsing, dot-stuffing, DSN rendering, the step gate, the event bus."""
from __future__ import annotations

import asyncio
import email
import json
from email import policy

import pytest

from simulator import dsn
from simulator.bus import EventBus
from simulator.events import trim_transcript
from simulator.gate import Mode, StepGate
from simulator.mda import deliver, final_headers, maildir_for
from simulator.protocols.lines import dot_stuff, normalize_crlf
from simulator.protocols.smtp_client import Outcome, Reply, ReplyError, ReplyParser, Stage


@pytest.mark.parametrize("chunks, expected", [
    ([b"220 mx ready\r\n"], [(220, ("mx ready",))]),
    ([b"250-mx\r\n250-SIZE 10\r\n250 HELP\r\n"], [(250, ("mx", "SIZE 10", "HELP"))]),
    ([b"250-mx\r", b"\n250 OK\r\n"], [(250, ("mx", "OK"))]),             # split anywhere
    ([b"250 OK\r\n354 go\r\n"], [(250, ("OK",)), (354, ("go",))]),       # pipelined replies
    ([b"250\r\n"], [(250, ("",))]),                                       # code alone
])
def test_reply_parser(chunks, expected):
    parser = ReplyParser()
    got = [r for chunk in chunks for r in parser.feed(chunk)]
    assert [(r.code, r.lines) for r in got] == expected


@pytest.mark.parametrize("bad", [b"hello\r\n", b"25O OK\r\n", b"250-a\r\n251 b\r\n", b"250xOK\r\n"])
def test_reply_parser_rejects_garbage(bad):
    with pytest.raises(ReplyError):
        ReplyParser().feed(bad)


def test_try_next_follows_rfc5321_section_5_1():
    assert Outcome(Stage.CONNECT).try_next                                  # refused: next MX
    assert Outcome(Stage.GREETING, Reply(421, ("busy",))).try_next          # 4xx greeting: next MX
    assert not Outcome(Stage.GREETING, Reply(554, ("no",))).try_next        # 5xx: permanent
    assert not Outcome(Stage.RCPT, Reply(450, ("later",))).try_next         # per-recipient 4xx: defer


@pytest.mark.parametrize("raw, stuffed", [
    (b"a\r\n.b\r\n", b"a\r\n..b\r\n.\r\n"),
    (b".start\r\n", b"..start\r\n.\r\n"),
    (b"no newline", b"no newline\r\n.\r\n"),
    (b"x\n.\ny\n", b"x\r\n..\r\ny\r\n.\r\n"),       # bare LF normalised: a lone dot is stuffed
    (b"x\r.\ry", b"x\r\n..\r\ny\r\n.\r\n"),
])
def test_dot_stuffing(raw, stuffed):
    assert dot_stuff(raw) == stuffed


def test_normalize_crlf():
    assert normalize_crlf(b"a\nb\rc\r\nd") == b"a\r\nb\r\nc\r\nd\r\n"


def test_dsn_rendering_is_rfc3464():
    original = b"From: alice@alpha.test\r\nSubject: Hi there\r\n\r\nsecret body\r\n"
    raw = dsn.render(reporting_host="smtp.alpha.test", sender="alice@alpha.test", original=original,
                     failures=[dsn.Failure("nobody@beta.test", "5.1.1", "550 5.1.1 no such user", "mx1.beta.test")],
                     arrival=1_700_000_000, now=1_700_000_100, boundary="b1")
    msg = email.message_from_bytes(raw, policy=policy.default)
    assert msg["To"].addresses[0].addr_spec == "alice@alpha.test" and "Hi there" in msg["Subject"]
    assert msg["Auto-Submitted"] == "auto-replied"
    text, status, headers = msg.iter_parts()
    fields = status.as_string()
    for line in ("Reporting-MTA: dns; smtp.alpha.test", "Final-Recipient: rfc822; nobody@beta.test",
                 "Action: failed", "Status: 5.1.1", "Remote-MTA: dns; mx1.beta.test",
                 "Diagnostic-Code: smtp; 550 5.1.1 no such user"):
        assert line in fields
    assert headers.get_content_type() == "text/rfc822-headers"
    assert "Subject: Hi there" in headers.get_payload() and "secret body" not in raw.decode()
    assert b"\r\n" in raw and b"\n" not in raw.replace(b"\r\n", b"")


def test_final_headers_replace_return_path():
    content = b"Return-Path: <forged@x>\r\n\tcontinued\r\nSubject: s\r\n\r\nbody\r\n"
    out = final_headers(content, return_path="alice@alpha.test", delivered_to="bob@beta.test")
    assert out.startswith(b"Return-Path: <alice@alpha.test>\r\nDelivered-To: bob@beta.test\r\n")
    assert b"forged" not in out and b"continued" not in out and out.endswith(b"\r\n\r\nbody\r\n")


def test_maildir_delivery_is_atomic_and_contained(tmp_path):
    box = maildir_for(tmp_path, "Bob@Beta.Test")
    assert box == tmp_path / "mail" / "beta.test" / "bob"
    path = deliver(box, b"Subject: x\r\n\r\ny\r\n")
    assert path.parent == box / "new" and path.read_bytes().endswith(b"y\r\n")
    assert list((box / "tmp").iterdir()) == []
    for evil in ("../x@beta.test", "bob@..", "a/b@beta.test", "@beta.test"):
        with pytest.raises(ValueError):
            maildir_for(tmp_path, evil)


def test_bus_sequence_history_and_jsonl(tmp_path):
    log_path = tmp_path / "events.jsonl"
    bus = EventBus(history=3, log_path=log_path)
    seen = []
    bus.subscribe(seen.append)
    bus.subscribe(lambda e: 1 / 0)              # a broken subscriber never stops the world
    for i in range(5):
        bus.publish("smtp.session", src="a", dst="b", protocol="SMTP", summary=f"hop {i}")
    assert [e.seq for e in bus.since(0)] == [3, 4, 5] and [e.seq for e in bus.since(4)] == [5]
    assert len(seen) == 5
    bus.close()
    lines = [json.loads(line) for line in log_path.read_text().splitlines()]
    assert [line["summary"] for line in lines] == [f"hop {i}" for i in range(5)]


def test_trim_transcript_cuts_long_bodies():
    lines = [("C", "DATA"), ("S", "354 go")] + [("D", f"line {i}") for i in range(50)] + [("C", "."), ("S", "250 ok")]
    out = trim_transcript(lines, keep=5)
    assert ("…", "[45 more lines of the message]") in out
    assert out[-1] == ("S", "250 ok") and len(out) == 2 + 5 + 1 + 2


def test_step_gate_releases_exactly_one_hop():
    async def scenario():
        gate = StepGate(paused=True)
        gate.bind(asyncio.get_running_loop())
        passed: list[str] = []

        async def hop(name):
            await gate.hop(name)
            passed.append(name)
        tasks = [asyncio.create_task(hop(n)) for n in ("one", "two", "three")]
        await asyncio.sleep(0.05)
        assert passed == [] and [w.label for w in gate.state().waiting] == ["one", "two", "three"]
        gate.step()
        await asyncio.sleep(0.05)
        assert passed == ["one"]
        gate.step()
        await asyncio.sleep(0.05)
        assert passed == ["one", "two"] and gate.state().mode is Mode.PAUSE
        gate.play()
        await asyncio.gather(*tasks)
        assert passed == ["one", "two", "three"]
        gate.pause()
        gate.step()                       # no hop waiting: the next one may pass, only one
        await gate.hop("four")
        task = asyncio.create_task(hop("five"))
        await asyncio.sleep(0.05)
        assert "five" not in passed
        gate.release_all()
        await task
    asyncio.run(scenario())


def test_step_gate_delay_and_bounds():
    gate = StepGate()
    with pytest.raises(ValueError):
        gate.set_delay(-1)
    gate.set_delay(0.5)
    assert gate.state().delay == 0.5
