"""Unit tables: SMTP reply parsing, dot-stuffing, DSN rendering, the step gate, the event bus."""
from __future__ import annotations

import asyncio
import email
import json
from email import policy

import pytest

from simulator import dsn, nodes
from simulator.bus import EventBus
from simulator.events import CUT, trim_transcript, trimmed_positions
from simulator.facts import (AttemptReason, DeliveryReason, Door, HostStateChanged, NextHop, Reason, RouteReason,
                             HopStep)
from simulator.gate import Mode, StepGate
from simulator.mda import deliver, final_headers, maildir_for
from simulator.protocols.lines import dot_stuff, normalize_crlf
from simulator.protocols.smtp.client import (Close, Command, Outcome, Payload, RelayDialogue, Reply, ReplyError,
                                            ReplyParser, Stage)


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
    assert Outcome(Stage.GREETING, Reply(554, ("no",))).try_next            # 5xx greeting: next MX too (Postfix)
    assert not Outcome(Stage.MAIL, Reply(550, ("no",))).try_next            # 5xx to MAIL: permanent
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
    # issue 11: the original comes back whole (RFC 6522 §3), byte for byte ...
    assert headers.get_content_type() == "message/rfc822" and original in raw
    assert b"\r\n" in raw and b"\n" not in raw.replace(b"\r\n", b"")
    # ... unless it is larger than the cap: then its header section only (RFC 6522 §4)
    cut = dsn.render(reporting_host="smtp.alpha.test", sender="alice@alpha.test", original=original,
                     failures=[dsn.Failure("nobody@beta.test", "5.1.1", "550 5.1.1 no such user", "mx1.beta.test")],
                     arrival=1_700_000_000, now=1_700_000_100, boundary="b1", whole_limit=10)
    *_, headers = email.message_from_bytes(cut, policy=policy.default).iter_parts()
    assert headers.get_content_type() == "text/rfc822-headers"
    assert "Subject: Hi there" in headers.get_payload() and "secret body" not in cut.decode()


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
    node = nodes.mta("mx1.beta.test")
    for i in range(5):
        bus.publish(HostStateChanged(src=node, dst=node, host=f"h{i}.beta.test", up=bool(i % 2)))
    assert [e.seq for e in bus.since(0)] == [3, 4, 5] and [e.seq for e in bus.since(4)] == [5]
    assert len(seen) == 5 and isinstance(seen[0].fact, HostStateChanged)
    bus.close()
    lines = [json.loads(line) for line in log_path.read_text().splitlines()]
    assert [line["data"]["host"] for line in lines] == [f"h{i}.beta.test" for i in range(5)]
    assert all(line["kind"] == "world.host" and line["text"]["ru"]["summary"] for line in lines)


def test_trim_transcript_cuts_long_bodies():
    lines = [("C", "DATA"), ("S", "354 go")] + [("D", f"line {i}") for i in range(50)] + [("C", "."), ("S", "250 ok")]
    out = trim_transcript(lines, keep=5)
    assert ("…", "45") in out
    assert out[-1] == ("S", "250 ok") and len(out) == 2 + 5 + 1 + 2


@pytest.mark.parametrize("keep", [0, 3, 20, 25])
def test_trim_transcript_merges_a_cut_marker_next_to_its_own(keep):
    """The SMTP session keeps 20 DATA lines and counts the rest, ``(CUT, "40")``; a smaller ``keep``
    (line-by-line stepping uses 3) cuts more of those 20: one marker with the sum, never two side by
    side.  ``trimmed_positions`` follows: every line lands where it is, a merged marker on the one."""
    lines = ([("C", "DATA"), ("S", "354 go")] + [("D", f"line {i}") for i in range(20)]
             + [(CUT, "40"), ("C", "."), ("S", "250 ok"), (CUT, "TLS"), ("C", "QUIT")])
    out = trim_transcript(lines, keep=keep)
    markers = [text for side, text in out if side == CUT]
    assert markers == [str(40 + max(0, 20 - keep)), "TLS"]                 # the TLS note is not a count
    assert not any(a[0] == CUT == b[0] for a, b in zip(out, out[1:]) if a[1].isdigit() and b[1].isdigit())
    assert len(out) == 2 + min(keep, 20) + 1 + 4
    positions = trimmed_positions(lines, keep)
    for (side, text), where in zip(lines, positions):
        if where is None:
            assert side == "D"
        elif side == CUT and text.isdigit():
            assert out[where][0] == CUT and int(out[where][1]) >= int(text)
        else:
            assert out[where][1] == text
    assert trim_transcript([(CUT, "2"), (CUT, "3"), ("C", "x"), (CUT, "²")]) == [(CUT, "5"), ("C", "x"), (CUT, "²")]


def test_step_gate_releases_exactly_one_hop():
    async def scenario():
        gate = StepGate(paused=True)
        gate.bind(asyncio.get_running_loop())
        passed: list[str] = []

        async def hop(name):
            node = nodes.mta(name)
            await gate.hop(NextHop(src=node, dst=nodes.DNS, step=HopStep.DNS_QUERY, host=name, domain="beta.test"))
            passed.append(name)
        tasks = [asyncio.create_task(hop(n)) for n in ("one", "two", "three")]
        await asyncio.sleep(0.05)
        assert passed == [] and [w.hop.host for w in gate.state().waiting] == ["one", "two", "three"]
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
        await hop("four")
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


# -- the relay client's dialogue, without a socket (RFC 5321 §3, §4.2, §5.1) -----------------------
def converse(server_replies: list[str], recipients=("bob@beta.test",)) -> tuple[list[str], Outcome]:
    """Feed the replies in turn; return what the client wrote (lines, or "<message>") and the outcome."""
    dialogue = RelayDialogue(helo="smtp.alpha.test", sender="alice@alpha.test", recipients=list(recipients),
                             content=b"Subject: x\r\n\r\n.dot\r\n")
    wrote: list[str] = []
    parser = ReplyParser()
    for raw in server_replies:
        [reply] = parser.feed(raw.encode() + b"\r\n")
        effect = dialogue.receive(reply)
        if isinstance(effect, Close):
            break
        wrote.append(effect.line if isinstance(effect, Command) else "<message>")
        if isinstance(effect, Payload):
            assert effect.data.endswith(b"\r\n..dot\r\n.\r\n")
    return wrote, dialogue.outcome


def test_dialogue_delivers_and_quits():
    wrote, out = converse(["220 mx", "250 mx", "250 ok", "250 ok", "354 go", "250 2.0.0 queued", "221 bye"])
    assert wrote == ["EHLO smtp.alpha.test", "MAIL FROM:<alice@alpha.test>", "RCPT TO:<bob@beta.test>",
                     "DATA", "<message>", "QUIT"]
    assert out.stage is Stage.DONE and out.reply.code == 250 and out.rcpt_replies["bob@beta.test"].code == 250
    assert ("D", "..dot") in out.transcript and ("S", "221 bye") in out.transcript


@pytest.mark.parametrize("replies, wrote_last, stage, code, try_next", [
    (["421 busy"], "QUIT", Stage.GREETING, 421, True),                                 # 4xx greeting: next MX
    (["220 mx", "502 no EHLO", "250 hi"], "MAIL FROM:<alice@alpha.test>", Stage.MAIL, None, True),  # HELO
    (["220 mx", "502 no", "554 no"], "QUIT", Stage.EHLO, 554, False),
    (["220 mx", "250 mx", "451 later"], "QUIT", Stage.MAIL, 451, True),
    (["220 mx", "250 mx", "250 ok", "550 5.1.1 unknown", "550 5.1.1 unknown"], "QUIT", Stage.RCPT, 550, False),
    (["220 mx", "250 mx", "250 ok", "250 ok", "250 ok", "451 4.3.0 disk"], "QUIT", Stage.DATA, 451, False),
])
def test_dialogue_stops_where_a_reply_decides(replies, wrote_last, stage, code, try_next):
    wrote, out = converse(replies, recipients=("bob@beta.test", "carol@beta.test"))
    assert wrote[-1] == wrote_last and out.stage is stage
    assert (out.reply.code if out.reply else None) == code and out.try_next is try_next


def test_dialogue_per_recipient_replies():
    _, out = converse(["220 mx", "250 mx", "250 ok", "550 5.1.1 nobody", "250 ok", "354 go", "250 done"],
                      recipients=("nobody@beta.test", "bob@beta.test"))
    assert out.rcpt_replies["nobody@beta.test"].code == 550 and out.rcpt_replies["bob@beta.test"].code == 250


# -- the queue keeps reasons as codes, and still reads the old format ------------------------------
def test_recipient_reason_round_trip_and_old_format():
    from simulator.queue import Recipient
    why = Reason.of(DeliveryReason.EXPIRED, attempts=3, lifetime=600,
                    last=Reason.of(DeliveryReason.UNREACHABLE, domain="beta.test", host="mx1.beta.test",
                                   last=Reason.of(AttemptReason.REFUSED)))
    rcpt = Recipient("bob@beta.test", reason=why)
    assert Recipient.from_dict(json.loads(json.dumps(rcpt.to_dict()))) == rcpt
    old_reply = Recipient.from_dict({"address": "a@b.test", "state": "failed", "status": "5.1.1",
                                     "reply": "550 5.1.1 nobody", "remote": "mx1.beta.test"})
    assert old_reply.reply == "550 5.1.1 nobody" and old_reply.reason.code is DeliveryReason.REPLY
    old_reason = Recipient.from_dict({"address": "a@b.test", "state": "failed", "status": "5.1.2",
                                      "reply": "example.com is outside the sandbox"})
    assert old_reason.reply == "" and old_reason.reason == Reason.of(DeliveryReason.LEGACY,
                                                                      text="example.com is outside the sandbox")


def test_dsn_words_come_from_the_narrator_and_own_reasons_are_not_smtp():
    raw = dsn.render(reporting_host="smtp.alpha.test", sender="alice@alpha.test",
                     original=b"Subject: s\r\n\r\nbody\r\n",
                     failures=[dsn.Failure("x@gamma.test", "5.1.10", "", "",
                                           Reason.of(RouteReason.NULL_MX, domain="gamma.test"))],
                     arrival=1_700_000_000, now=1_700_000_100, boundary="b1")
    msg = email.message_from_bytes(raw, policy=policy.default)
    text, status, _ = msg.iter_parts()
    words = text.get_content()
    assert "smtp.alpha.test" in words and "x@gamma.test" in words
    assert "null MX" in words and "нулевой MX" in words and "`" not in words     # both languages, no markup
    fields = status.as_string()
    assert "Diagnostic-Code" not in fields and b"X-Mailflow-Reason: gamma.test publishes a null MX" in raw


def test_hop_explanations_name_the_port_really_used_and_keep_host_names():
    from simulator.facts import SmtpOutcome, SmtpSession
    from simulator.narrate import narrate
    fact = SmtpSession(src=nodes.mta("smtp.alpha.test"), dst=nodes.mta("mx1.beta.test"),
                       outcome=SmtpOutcome.RELAYED, door=Door.MX, host="mx1.beta.test", port=2626,
                       client="smtp.alpha.test", rcpts=("bob@beta.test",))
    text = narrate(fact)
    for lang in ("en", "ru"):
        assert "2626" in text[lang]["explain"] and "Mx1" not in text[lang]["explain"]
