"""The bus's history kept as JSON lines (simulator/bus.py): the same answers, nothing for the collector.

Facts asserted: ``since``, ``since_dicts`` and ``heads`` answer what the events themselves say (as JSON
sees them) for events older than the whole-kept window and for those in it; the last ``RECENT``
events come back as the very objects published, fact included; a lone surrogate and Russian text
survive; no record of the history is tracked by the cycle collector once it has looked at it.
"""
from __future__ import annotations

import gc
import json

import orjson

import simulator.bus as bus_module
from simulator import nodes
from simulator.bus import EventBus
from simulator.facts import HostStateChanged
from web_fixtures import send_mail


def as_json(event) -> dict:
    return json.loads(json.dumps(event.to_dict(), ensure_ascii=False))


def test_the_history_answers_what_the_events_said_and_keeps_the_last_facts(world, monkeypatch):
    for i in range(2):
        send_mail(world.stack, subject=f"History {i} — история")
    world.events.wait_for(lambda e: e.kind == "mda.deliver", count=2)
    facts = [e.fact for e in world.events.events if e.fact is not None]
    node = nodes.mta("mx1.beta.test")
    facts.append(HostStateChanged(src=node, dst=node, host="h\udcff.beta.test", up=True))   # a lone surrogate
    assert len(facts) >= 9

    monkeypatch.setattr(bus_module, "RECENT", 3)
    bus = EventBus(history=100)
    published = [bus.publish(fact) for fact in facts]

    # since(): older events decoded (words and data, no fact), the last RECENT the very objects
    got = bus.since(0)
    assert [e.seq for e in got] == [e.seq for e in published]
    assert [as_json(e) for e in got] == [as_json(e) for e in published]
    assert all(a is b for a, b in zip(got[-3:], published[-3:])) and all(e.fact is not None for e in got[-3:])
    assert all(e.fact is None for e in got[:-3])
    assert got[-1].data["host"] == "h\udcff.beta.test"
    # the API's dicts, the filters, the heads
    assert bus.since_dicts(0) == [as_json(e) for e in published]
    assert bus.since_dicts(published[2].seq, limit=2) == [as_json(e) for e in published[3:5]]
    trace = next(e.trace for e in published if e.trace)
    assert bus.since_dicts(0, trace=trace) == [as_json(e) for e in published if e.trace == trace]
    assert [e.seq for e in bus.since(0, trace=trace)] == [e.seq for e in published if e.trace == trace]
    assert bus.heads(published[1].seq) == [(e.seq, e.trace, e.kind, e.dst) for e in published[2:]]
    assert any(e.text["ru"]["summary"] for e in got)

    # what the history holds is invisible to the cycle collector (bytes, ints, strings, one tuple)
    gc.collect()
    assert len(bus._history) == len(published)
    assert not any(gc.is_tracked(record) for record in bus._history)
    assert len(bus._recent) == 3

    bus.restart(None)
    assert bus.since(0) == [] and bus.heads(0) == [] and bus.since_dicts(0) == []


def test_events_read_back_from_a_log_answer_alike(tmp_path):
    path = tmp_path / "events.jsonl"
    bus = EventBus(log_path=path)
    node = nodes.mta("mx1.beta.test")
    published = [bus.publish(HostStateChanged(src=node, dst=node, host=f"h{i}\udcff.beta.test", up=bool(i % 2)))
                 for i in range(4)]
    bus.close()
    again = EventBus(history=3)
    assert again.load_log(path) == 4
    assert again.since_dicts(0) == [as_json(e) for e in published[1:]]
    assert [as_json(e) for e in again.since(1)] == [as_json(e) for e in published[1:]]
    assert all(e.fact is None for e in again.since(0))


def test_the_teachers_batch_is_spliced_from_the_lines_the_log_got(world, tmp_path):
    from simulator.web import fanout

    send_mail(world.stack, subject="Spliced — склеено")
    world.events.wait_for(lambda e: e.kind == "mda.deliver")
    facts = [e.fact for e in world.events.events if e.fact is not None]
    node = nodes.mta("mx1.beta.test")
    facts.append(HostStateChanged(src=node, dst=node, host="h\udcff.beta.test", up=False))
    path = tmp_path / "events.jsonl"
    bus = EventBus(log_path=path)
    published = [bus.publish(fact) for fact in facts]
    bus.close()
    assert [e.line for e in published] == path.read_bytes().splitlines(keepends=True)

    last = published[-1].seq
    packet = fanout.events_packet([e.line for e in published], last)
    whole = {"events": [e.to_dict() for e in published], "last_seq": last}
    assert packet[0] == "2" and json.loads(packet[1:]) == json.loads(fanout.encode("events", whole)[1:])
    assert json.loads(packet[1:])[1]["events"][-1]["data"]["host"] == "h\udcff.beta.test"
    prepared = fanout.Prepared(packet)          # UTF-8 whole: the surrogate is an escape already
    assert prepared.wire.encode("utf-8").decode("utf-8") == "4" + packet
    assert "склеено" in packet


def test_a_log_read_back_after_events_were_published_keeps_its_own_events(tmp_path):
    """Seqs of an earlier run's log may repeat those published since: each answers its own words."""
    node = nodes.mta("mx1.beta.test")
    path = tmp_path / "old.jsonl"
    old = EventBus(log_path=path)
    for i in range(3):
        old.publish(HostStateChanged(src=node, dst=node, host=f"old{i}.beta.test", up=True))
    old.close()
    bus = EventBus()
    for i in range(2):
        bus.publish(HostStateChanged(src=node, dst=node, host=f"new{i}.beta.test", up=True))
    bus.load_log(path)
    hosts = [e.data["host"] for e in bus.since(0)]
    assert hosts == ["new0.beta.test", "new1.beta.test", "old0.beta.test", "old1.beta.test", "old2.beta.test"]
    assert [d["data"]["host"] for d in bus.since_dicts(0)] == hosts


def test_a_copy_of_an_event_with_other_content_carries_no_line():
    """The bridge sends an event's line when it has one: a copy made with other data must not."""
    import dataclasses
    node = nodes.mta("mx1.beta.test")
    event = EventBus().publish(HostStateChanged(src=node, dst=node, host="mx1.beta.test", up=True))
    assert event.line and b"mx1.beta.test" in event.line
    assert dataclasses.replace(event, data={"host": "other"}).line is None


def test_lines_orjson_refuses_read_back_alike_from_the_log_and_the_history(tmp_path, monkeypatch):
    """Lines the standard encoder writes (what orjson refuses) decode to the same values whichever
    decoder reads them, and stay valid JSON: a lone surrogate, an integer beyond 64 bits (as its
    digits), NaN and infinity (as null), within 64 bits an integer still."""
    from simulator.facts import LessonStep
    monkeypatch.setattr(bus_module, "RECENT", 1)
    log = tmp_path / "events.jsonl"
    bus = EventBus(history=100, log_path=log)
    detail = (("big", 2 ** 70), ("edge", 2 ** 64 - 1), ("low", -(2 ** 63)), ("nan", float("nan")),
              ("inf", float("-inf")), ("odd", "x\udcfe"))
    step = bus.publish(LessonStep(src="lesson", dst="lesson", lesson="l", index=0, total=1, action="say",
                                  line=1, detail=detail))
    plain = bus.publish(LessonStep(src="lesson", dst="lesson", lesson="l", index=1, total=2, action="say",
                                   line=2, detail=detail[:5]))   # no surrogate: orjson reads it back too
    bus.publish(HostStateChanged(src=nodes.mta("mx1.beta.test"), dst=nodes.mta("mx1.beta.test"),
                                 host="mx1.beta.test", up=True))       # the step is now older than RECENT
    bus.close()
    line, plain_line = log.read_bytes().splitlines()[:2]
    assert b"NaN" not in line and b"Infinity" not in line
    assert orjson.loads(plain_line) == json.loads(plain_line)
    assert orjson.loads(plain_line)["data"]["detail"] == [["big", str(2 ** 70)], ["edge", 2 ** 64 - 1],
                                                          ["low", -(2 ** 63)], ["nan", None], ["inf", None]]
    assert plain.line == plain_line + b"\n"
    wanted = [["big", str(2 ** 70)], ["edge", 2 ** 64 - 1], ["low", -(2 ** 63)], ["nan", None], ["inf", None],
              ["odd", "x\udcfe"]]
    assert json.loads(line)["data"]["detail"] == wanted
    assert bus.since_dicts(0)[0]["data"]["detail"] == wanted
    assert bus.since_dicts(0)[1]["data"]["detail"] == wanted[:5]
    again = EventBus(history=100)
    again.load_log(log)
    assert again.since_dicts(0)[0]["data"]["detail"] == wanted
    assert step.line == line + b"\n"
