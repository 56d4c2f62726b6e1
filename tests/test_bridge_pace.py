"""The bridge's batches (simulator/web/bridge.py): paced by the pages listening, and encoded only for
a privacy room somebody is in -- and still every event reaches every page that listens."""
from __future__ import annotations

from types import SimpleNamespace

import socketio

from simulator.bus import EventBus
from simulator.web import bridge as bridge_module, privacy
from simulator.web.bridge import MAX_PACE, Bridge, next_delay, pace
from web_fixtures import publish_noise


class FakeSocketIO:
    """What the bridge uses of Flask-SocketIO: emit, a background task (not started), the rooms."""

    def __init__(self, manager=None) -> None:
        self.server = SimpleNamespace(manager=manager or SimpleNamespace(rooms={"/": {}}))
        self.sent: list[tuple[str, str | None, dict]] = []

    def emit(self, name, payload, to=None):
        self.sent.append((name, to, payload))

    def start_background_task(self, target):
        return None

    def join(self, room: str, sid: str) -> None:
        self.server.manager.rooms["/"].setdefault(room, {})[sid] = f"eio-{sid}"


def make_bridge(socketio_=None) -> tuple[Bridge, FakeSocketIO, EventBus]:
    bus = EventBus(history=1000, log_path=None)
    stack = SimpleNamespace(bus=bus, world=SimpleNamespace(to_dict=lambda: {}),
                            gate=SimpleNamespace(on_change=lambda callback: None))
    sio = socketio_ or FakeSocketIO()
    return Bridge(sio, stack), sio, bus


def events_sent(sio: FakeSocketIO, room: str) -> list[dict]:
    return [e for name, to, payload in sio.sent if name == "events" and to == room for e in payload["events"]]


def test_the_pace_is_the_window_for_one_page_and_grows_with_the_pages_up_to_a_bound():
    assert pace(0.03, 0) == 0.03
    assert pace(0.03, 1) == 0.03 + bridge_module.PACE_PER_PAGE
    assert pace(0.03, 10) < pace(0.03, 30)
    assert pace(0.03, 30) <= MAX_PACE
    assert pace(0.03, 10_000) == MAX_PACE
    assert pace(0.5, 30) == 0.5                 # a window longer than the bound is kept


def test_a_lone_hop_waits_the_window_and_a_burst_waits_for_the_pace():
    assert next_delay(now=100.0, last=0.0, window=0.03, pace=0.12) == 0.03        # after a quiet spell
    assert abs(next_delay(now=100.0, last=99.95, window=0.03, pace=0.12) - 0.07) < 1e-9   # mid-burst
    assert next_delay(now=100.0, last=99.99, window=0.03, pace=0.035) == 0.03     # never under the window


def test_the_pace_counts_the_pages_in_both_rooms():
    bridge, sio, bus = make_bridge()
    try:
        assert bridge.listeners() == {privacy.FULL: 0, privacy.REDACTED: 0}
        sio.join(privacy.FULL, "teacher")
        for n in range(30):
            sio.join(privacy.REDACTED, f"viewer-{n}")
        assert bridge.listeners() == {privacy.FULL: 1, privacy.REDACTED: 30}
        assert bridge.pace() == pace(bridge.window, 31)
    finally:
        bridge.stop()
        bus.close()


def test_nothing_is_encoded_for_nobody_and_the_events_leave_the_queue():
    bridge, sio, bus = make_bridge()
    try:
        publish_noise(bus, 5)
        bridge._flush()
        assert events_sent(sio, privacy.FULL) == [] and events_sent(sio, privacy.REDACTED) == []
        assert not bridge._pending and bridge.batches_sent == 0
    finally:
        bridge.stop()
        bus.close()


def test_only_the_rooms_somebody_is_in_get_a_batch_and_each_gets_every_event():
    bridge, sio, bus = make_bridge()
    try:
        sio.join(privacy.REDACTED, "viewer")
        publish_noise(bus, 3)
        bridge._flush()
        assert events_sent(sio, privacy.FULL) == []
        assert [e["seq"] for e in events_sent(sio, privacy.REDACTED)] == [1, 2, 3]
        sio.join(privacy.FULL, "teacher")
        publish_noise(bus, 2)
        bridge._flush()
        whole = events_sent(sio, privacy.FULL)
        assert [e["seq"] for e in whole] == [4, 5]
        assert [e["seq"] for e in events_sent(sio, privacy.REDACTED)] == [1, 2, 3, 4, 5]
        assert events_sent(sio, privacy.REDACTED)[-2:] == [privacy.redact(e) for e in whole]
    finally:
        bridge.stop()
        bus.close()


def test_with_a_message_queue_both_copies_are_always_published():
    """Other web processes' pages are not in this process's rooms: a hall publishes both copies."""
    manager = socketio.PubSubManager(channel="test-bridge")
    manager.rooms = {"/": {}}
    bridge, sio, bus = make_bridge(FakeSocketIO(manager))
    try:
        publish_noise(bus, 2)
        bridge._flush()
        assert [e["seq"] for e in events_sent(sio, privacy.FULL)] == [1, 2]
        assert [e["seq"] for e in events_sent(sio, privacy.REDACTED)] == [1, 2]
    finally:
        bridge.stop()
        bus.close()
