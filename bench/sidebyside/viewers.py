"""Socket.IO viewers: N protocol-level clients of Mailflow's web UI in one asyncio process.

Theory of operation: a viewer is what a student's page is to the server -- one Engine.IO v4
WebSocket (``/socket.io/?EIO=4&transport=websocket``, Origin and Host of the page, as a browser
sends them) that joins the default namespace and receives every ``events`` batch.  Each viewer
stamps the arrival of a batch with ``time.time()`` and keeps, per event, arrival − the event's
``ts`` (the moment the bus published the hop; same machine clock): the hop → viewer delay.  The
events are found in the batch by the head every event's JSON starts with (``EVENT_HEAD``), not by
decoding the whole batch: the client must cost far less than the server it measures.
All viewers share one event loop and a minimal RFC 6455 client (masked text frames out; text,
ping and close frames in), so 300 of them cost one process and no thread each; the connections are
spread over source addresses 127.0.1.N, 40 per address, to stay under the per-address socket cap
(a class is many machines).  Like every browser, a viewer offers the WebSocket compression
``permessage-deflate`` (``Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits``,
what Chromium and Firefox send) and inflates what arrives compressed, keeping the zlib stream
between messages unless the server said ``server_no_context_takeover``; ``plain`` as a third
argument leaves the offer out (the viewers of the measurements before 2026-12-05 12:00).

Run as a subprocess: ``python viewers.py PORT COUNT [deflate|plain]`` (without the third argument,
``BENCH_VIEWER_OFFER`` in the environment, or deflate); it prints ``{"ready": n}`` once every viewer
has joined, then, when a line arrives on stdin, ``{"viewers": [...per-viewer stats...]}``.  Bounded:
connecting has a deadline, and every viewer stops when its connection closes.
"""
from __future__ import annotations

import asyncio
import base64
import json
import os
import re
import statistics
import struct
import sys
import time
import zlib

PER_ADDRESS = 40
# Every event dict starts with its seq and ts (Event.to_dict); a quote inside a JSON string is escaped,
# so this pattern only matches the head of an event.  A regex over the bytes, not json.loads: with
# 300 viewers in one process, decoding every batch 300 times would delay the later viewers' reads
# and be counted as the server's delay.
EVENT_HEAD = re.compile(rb'\{"seq": ?(\d+), ?"ts": ?([0-9.eE+-]+)')


OFFER = "Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\n"
_INFLATED: dict[bytes, bytes] = {}


def inflate_alone(data: bytes) -> bytes:
    """A message compressed on its own (server_no_context_takeover), inflated.  Every viewer in
    this process gets the same bytes for the same batch, so the last few are inflated once for all
    of them: the client must cost far less than the server it measures."""
    out = _INFLATED.get(data)
    if out is None:
        out = zlib.decompressobj(-15).decompress(data + b"\x00\x00\xff\xff")
        if len(_INFLATED) >= 8:
            _INFLATED.pop(next(iter(_INFLATED)))
        _INFLATED[data] = out
    return out


class Viewer:
    def __init__(self, index: int, port: int, deflate: bool = True) -> None:
        self.index, self.port, self.offer = index, port, deflate
        self.inflater = None               # the server's compression, when it agreed to it
        self.fresh_each_message = False    # server_no_context_takeover: a new zlib stream per message
        self.delays: list[float] = []
        self.events = 0
        self.batches = 0
        self.first_arrival: float | None = None
        self.last_arrival: float | None = None
        self.error: str | None = None
        self.joined = asyncio.Event()
        self.closing = False

    async def run(self) -> None:
        try:
            source = f"127.0.1.{1 + self.index // PER_ADDRESS}"
            reader, writer = await asyncio.open_connection("127.0.0.1", self.port, local_addr=(source, 0))
            key = base64.b64encode(os.urandom(16)).decode()
            host = f"127.0.0.1:{self.port}"
            writer.write((f"GET /socket.io/?EIO=4&transport=websocket HTTP/1.1\r\nHost: {host}\r\n"
                          f"Origin: http://{host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                          f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n"
                          f"{OFFER if self.offer else ''}\r\n").encode())
            head = await reader.readuntil(b"\r\n\r\n")
            if b" 101 " not in head.split(b"\r\n", 1)[0]:
                raise RuntimeError(head.split(b"\r\n", 1)[0].decode(errors="replace"))
            for line in head.lower().split(b"\r\n"):
                if line.startswith(b"sec-websocket-extensions:") and b"permessage-deflate" in line:
                    self.inflater = zlib.decompressobj(-15)
                    self.fresh_each_message = b"server_no_context_takeover" in line
            self.writer = writer
            await self.send("40")
            while True:
                opcode, payload = await self.frame(reader)
                if opcode == 8:
                    break
                if opcode == 9:
                    self.raw(10, payload)
                    continue
                if opcode != 1:
                    continue
                now = time.time()
                if payload == b"2":
                    await self.send("3")
                elif payload.startswith(b"40"):
                    self.joined.set()
                elif payload.startswith(b'42["events"'):
                    self.batches += 1
                    if self.first_arrival is None:
                        self.first_arrival = now
                    self.last_arrival = now
                    for match in EVENT_HEAD.finditer(payload):
                        self.events += 1
                        self.delays.append(now - float(match.group(2)))
        except (OSError, asyncio.IncompleteReadError, RuntimeError, ValueError) as exc:
            if not self.closing:
                self.error = repr(exc)[:200]
        finally:
            self.joined.set()

    async def frame(self, reader: asyncio.StreamReader) -> tuple[int, bytes]:
        """One whole message (continuation frames joined, inflated if it came compressed); server
        frames are not masked."""
        data, opcode, compressed = b"", None, False
        while True:
            b0, b1 = await reader.readexactly(2)
            length = b1 & 0x7F
            if length == 126:
                length = struct.unpack("!H", await reader.readexactly(2))[0]
            elif length == 127:
                length = struct.unpack("!Q", await reader.readexactly(8))[0]
            mask = await reader.readexactly(4) if b1 & 0x80 else None
            chunk = await reader.readexactly(length)
            if mask:
                chunk = bytes(c ^ mask[i % 4] for i, c in enumerate(chunk))
            if b0 & 0x0F:                  # 0 = a continuation of the message's first frame
                opcode = b0 & 0x0F
                compressed = bool(b0 & 0x40) and self.inflater is not None
            data += chunk
            if b0 & 0x80:
                if compressed:
                    if self.fresh_each_message:
                        data = inflate_alone(data)
                    else:
                        data = self.inflater.decompress(data + b"\x00\x00\xff\xff")
                return opcode, data

    def raw(self, opcode: int, payload: bytes) -> None:
        mask = os.urandom(4)
        n = len(payload)
        head = bytes([0x80 | opcode])
        if n < 126:
            head += bytes([0x80 | n])
        elif n < 65536:
            head += bytes([0x80 | 126]) + struct.pack("!H", n)
        else:
            head += bytes([0x80 | 127]) + struct.pack("!Q", n)
        self.writer.write(head + mask + bytes(c ^ mask[i % 4] for i, c in enumerate(payload)))

    async def send(self, text: str) -> None:
        self.raw(1, text.encode())
        await self.writer.drain()

    def close(self) -> None:
        self.closing = True
        writer = getattr(self, "writer", None)
        if writer is not None:
            writer.close()

    def stats(self) -> dict:
        delays = sorted(self.delays)
        def pct(p: float) -> float | None:
            return delays[min(len(delays) - 1, int(p * len(delays)))] * 1000 if delays else None
        return {"events": self.events, "batches": self.batches, "error": self.error,
                "p50_ms": pct(0.50), "p95_ms": pct(0.95), "max_ms": delays[-1] * 1000 if delays else None}


async def main(port: int, count: int, deflate: bool = True) -> None:
    viewers = [Viewer(i, port, deflate) for i in range(count)]
    tasks = []
    for viewer in viewers:                 # a class opening the link: quickly, not all in one instant
        tasks.append(asyncio.create_task(viewer.run()))
        await asyncio.sleep(0.002)
    try:
        await asyncio.wait_for(asyncio.gather(*(v.joined.wait() for v in viewers)), 60)
    except asyncio.TimeoutError:
        pass
    joined = sum(1 for v in viewers if v.joined.is_set() and v.error is None)
    print(json.dumps({"ready": joined, "errors": [v.error for v in viewers if v.error][:3],
                      "compressed": sum(1 for v in viewers if v.inflater is not None)}), flush=True)
    loop = asyncio.get_running_loop()
    await loop.run_in_executor(None, sys.stdin.readline)
    for viewer in viewers:
        viewer.close()
    await asyncio.wait(tasks, timeout=10)
    pooled = sorted(d for v in viewers for d in v.delays)
    print(json.dumps({"viewers": [v.stats() for v in viewers],
                      "pooled": {f"p{int(p * 100)}_ms": pooled[min(len(pooled) - 1, int(p * len(pooled)))] * 1000
                                 for p in (0.5, 0.95, 0.99)} if pooled else {}}), flush=True)


def summarise(answer: dict) -> dict:
    """Pooled hop → viewer delays over every event of every viewer, and the spread of per-viewer p95s."""
    viewers, pooled = answer["viewers"], answer.get("pooled", {})
    p95s = [v["p95_ms"] for v in viewers if v["p95_ms"] is not None]
    return {"viewers": len(viewers), "with_events": sum(1 for v in viewers if v["events"]),
            "events_min": min((v["events"] for v in viewers), default=0),
            "events_max": max((v["events"] for v in viewers), default=0),
            "errors": [v["error"] for v in viewers if v["error"]][:3],
            "p50_ms": pooled.get("p50_ms"), "p95_ms": pooled.get("p95_ms"), "p99_ms": pooled.get("p99_ms"),
            "p95_median_viewer_ms": statistics.median(p95s) if p95s else None,
            "p95_worst_viewer_ms": max(p95s, default=None)}


if __name__ == "__main__":
    offer = (sys.argv[3:4] or [os.environ.get("BENCH_VIEWER_OFFER", "deflate")])[0]
    asyncio.run(main(int(sys.argv[1]), int(sys.argv[2]), deflate=offer != "plain"))
