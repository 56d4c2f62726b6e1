"""The per-message fast paths of issue 13 keep the behaviour they shortcut.

- The JSON-lines log is written unbuffered, one write per event: a reader of the file sees every
  event, whole, as soon as ``publish`` returns, without the bus being closed or flushed; a hostile
  client's undecodable bytes (lone surrogates) still make a readable line; ``restart`` and
  ``reopen`` keep appending.
- ``Fact.data`` (the event's ``data``) is what it was: layers left out when the hop has none, enums
  and records made plain.
- ``FaultBook`` answers without its lock while no fault is in force; a fault set then bites at
  the next question, and clearing it restores the fast answer.
- The header summary replaces control characters (C0, DEL, C1) only when there are some: a
  printable value is kept as it is, a value with controls is cleaned as before.
"""
from __future__ import annotations

import json

from simulator import nodes
from simulator.bus import EventBus
from simulator.facts import HostStateChanged, SmtpLine, TlsMode, Wire
from simulator.faults import FaultBook
from simulator.scenario import Fault, FaultKind
from simulator.store.headers import summarize

NODE = nodes.mta("mx1.beta.test")


def _lines(path) -> list[dict]:
    return [json.loads(line) for line in path.read_bytes().decode("utf-8").splitlines()]


def test_the_log_holds_each_event_as_soon_as_publish_returns(tmp_path):
    path = tmp_path / "events.jsonl"
    bus = EventBus(log_path=path)
    for i in range(3):
        event = bus.publish(HostStateChanged(src=NODE, dst=NODE, host=f"h{i}.beta.test", up=True))
        logged = _lines(path)                    # read while the bus is open: nothing held back
        assert [line["seq"] for line in logged] == list(range(1, i + 2))
        assert logged[-1] == json.loads(event.to_json())
    assert path.read_bytes().endswith(b"\n")
    bus.close()


def test_undecodable_bytes_still_make_one_readable_line(tmp_path):
    path = tmp_path / "events.jsonl"
    bus = EventBus(log_path=path)
    hostile = b"MAIL FROM:<\xff\xfe@x>".decode("utf-8", "surrogateescape")     # lone surrogates
    bus.publish(SmtpLine(src="outside", dst=NODE, transcript=(("C", hostile), ("S", "250 ok"))))
    bus.publish(HostStateChanged(src=NODE, dst=NODE, host="after.beta.test", up=True))
    logged = _lines(path)
    assert [line["seq"] for line in logged] == [1, 2]
    assert b"MAIL FROM:<\\udcff\\udcfe@x>" in path.read_bytes()       # backslash-replaced, as before
    assert logged[0]["transcript"][0][1] == hostile
    assert logged[0]["transcript"][1] == ["S", "250 ok"]
    bus.close()


def test_restart_and_reopen_keep_appending(tmp_path):
    first, second = tmp_path / "a.jsonl", tmp_path / "logs" / "b.jsonl"
    bus = EventBus(log_path=first)
    bus.publish(HostStateChanged(src=NODE, dst=NODE, host="one.beta.test", up=True))
    bus.close()
    bus.reopen()
    bus.publish(HostStateChanged(src=NODE, dst=NODE, host="two.beta.test", up=True))
    bus.restart(second)
    bus.publish(HostStateChanged(src=NODE, dst=NODE, host="three.beta.test", up=False))
    assert [line["data"]["host"] for line in _lines(first)] == ["one.beta.test", "two.beta.test"]
    assert [line["data"]["host"] for line in _lines(second)] == ["three.beta.test"]
    assert EventBus().load_log(first) == 2
    bus.close()


def test_fact_data_leaves_out_absent_layers_and_makes_values_plain():
    bare = SmtpLine(src="outside", dst=NODE, peer="127.0.0.1")
    assert bare.data() == {"peer": "127.0.0.1"}
    wired = SmtpLine(src="outside", dst=NODE, peer="", wire=Wire(client="127.0.0.1", client_port=4000,
                                                                 tls=TlsMode.STARTTLS, tls_from=3))
    data = wired.data()
    assert data["peer"] == "" and "credentials" not in data
    assert data["wire"]["tls"] == "starttls" and type(data["wire"]["tls"]) is str
    assert data["wire"]["client_port"] == 4000 and data["wire"]["tls_from"] == 3
    assert HostStateChanged(src=NODE, dst=NODE, host="h.beta.test", up=False).data() == {
        "what": "host", "host": "h.beta.test", "up": False}


def test_fault_questions_without_faults_and_with_one_set_at_once():
    book = FaultBook(clock=lambda: 1000.0)
    assert book.reply_for("mx1.beta.test", "RCPT") is None and book.slow("mx1.beta.test") is None
    assert book.hidden_hosts() == set() and book.zone_fault("beta.test") is None
    assert book.greylisted("mx1.beta.test", "127.0.0.1", "a@x", "b@y") is None
    book.set(Fault(kind=FaultKind.REPLY, target="MX1.beta.test.", command="rcpt", code=451, text="later",
                   times=0))
    book.set(Fault(kind=FaultKind.NO_ADDRESS, target="mx2.beta.test"))
    fault = book.reply_for("mx1.beta.test", "RCPT")
    assert fault is not None and fault.code == 451
    assert book.hidden_hosts() == {"mx2.beta.test"}
    book.clear_all()
    assert book.reply_for("mx1.beta.test", "RCPT") is None and book.hidden_hosts() == set()


def test_header_summary_cleans_controls_only_where_there_are_some():
    clean = summarize(b"Subject: Hello, \xd0\x9c\xd0\xb8\xd1\x80 =?utf-8?q?caf=C3=A9?=\r\n  folded\r\n\r\nbody")
    assert clean.subject == "Hello, Мир café folded"
    dirty = summarize(b"Subject: a\x01b\x7fc\xc2\x80d\xc2\xade\r\n\r\n")
    assert dirty.subject == "a\ufffdb\ufffdc\ufffdd\u00ade"             # soft hyphen: not a control


def test_remembered_enhanced_codes_equal_a_fresh_answer_and_the_memory_is_bounded():
    from simulator.protocols.smtp import session

    fresh = session._enhanced.__wrapped__
    replies = ["250 OK", "250 2.1.0 Sender OK", "500 Error: bad syntax", "354 End data with <CR><LF>.<CR><LF>",
               "221 Bye", "220 mx1.beta.test ESMTP", "452 Too many recipients", "599 odd", "5", "",
               "25x nope", "550 5.1.1 <x@y>: no such user", "421 closing"]
    for _ in range(2):                              # the second time from the memory
        assert [session._enhanced(r) for r in replies] == [fresh(r) for r in replies]
    assert session._enhanced("250 OK") == "250 2.0.0 OK" and session._enhanced("354 go") == "354 go"
    for n in range(1000):
        session._enhanced(f"250 Ok: delivered as Q{n}")
    assert session._enhanced.cache_info().currsize <= session._enhanced.cache_info().maxsize == 256
