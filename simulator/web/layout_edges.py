"""The edges of the diagram's layout: which side of a node each edge leaves and enters (its port),
which channel it crosses and on which lane, and the points it is drawn through.  See layout.py's
theory of operation ("Edges are followable")."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable

if TYPE_CHECKING:                   # only annotations here: networkx loads when a graph is built
    import networkx as nx

from .. import nodes as ids
from .layout_parts import _HOST_COLUMN, Box, Point, _Band, _Metrics


# -- edges: what each one is ------------------------------------------------------------------------
@dataclass(slots=True)
class _Spec:
    """One drawn edge before routing: its ends, the sides it leaves and enters, its channel."""
    src: str
    dst: str
    kind: str
    how: str                              # channel | dns | hook | retrieve | demand | strip | inner
    a_side: str = "right"
    b_side: str = "left"
    channel: tuple = ()
    via: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)
    pa: Point = (0.0, 0.0)                # the ports, once assigned
    pb: Point = (0.0, 0.0)
    lane_x: float | None = None
    ring: int = 0


class _Edges:
    """Classify, port and route the edges among placed nodes.

    ``cols_of(node)`` gives the role columns of the node's band (shared in ``columns``, the
    card's own in ``grid`` and ``fold``); ``cross`` says whether edges between bands and to the DNS
    server are drawn and routed here (``columns``) or left to the page (demand edges)."""

    def __init__(self, graph: nx.DiGraph, placed: dict[str, Box], bands: list[_Band], m: _Metrics,
                 cols_of: Callable[[str], dict[str, dict[str, float]]], lanes: dict[tuple[str, str], float],
                 ring_index: dict[tuple[str, str], int], side_of: Callable[[str], float],
                 cross: bool, channel_y: float = 0.0) -> None:
        self.graph, self.placed, self.m, self.cols_of = graph, placed, m, cols_of
        self.lanes, self.ring_index, self.side_of, self.cross = lanes, ring_index, side_of, cross
        self.channel_y = channel_y
        self.band_of = {n: b.domain for b in bands for c in b.columns.values() for n in c}
        self.band_of.update({n: b.domain for b in bands for n in b.retrieval})
        self.bands = {b.domain: b for b in bands}

    # -- classification --------------------------------------------------------------------------
    def specs(self) -> list[_Spec]:
        out: list[_Spec] = []
        for src, dst, attrs in self.graph.edges(data=True):
            if src not in self.placed or dst not in self.placed:
                continue
            out.extend(self.classify(src, dst, attrs))
        return out

    def column(self, node: str) -> str:
        kind = self.graph.nodes[node].get("kind", "")
        return _HOST_COLUMN.get(kind, kind)

    def classify(self, src: str, dst: str, attrs: dict[str, Any]) -> list[_Spec]:
        kind = attrs.get("kind", "")
        inside = self.graph.nodes[dst].get("inside")
        if inside and (inside == src or inside == self.graph.nodes[src].get("inside")):
            return [_Spec(src, dst, kind, "inner")]        # inside the cloud: to its mailbox, to its reader
        if src == ids.OUTSIDE and dst in (ids.DNS, ids.FRONT):
            return [_Spec(src, dst, kind, "strip")]
        if ids.FRONT in (src, dst) or src == ids.OUTSIDE:
            return [_Spec(src, dst, kind, "demand")]
        same = self.band_of.get(src) is not None and self.band_of.get(src) == self.band_of.get(dst)
        band = self.band_of.get(src, "")
        if kind == "dns":
            if not self.cross:
                return [_Spec(src, dst, kind, "demand")]
            left = self.column(src) == "msa"
            return [_Spec(src, dst, kind, "dns", "right" if left else "left", "bottom", ("corr",))]
        if kind == "smtp":
            extra = {"preference": attrs.get("preference"), "domain": attrs.get("domain")}
            if self.column(src) == "mx":
                if not same and not self.cross:
                    return [_Spec(src, dst, kind, "demand", extra=extra)]
                return [_Spec(src, dst, kind, "hook", "right", "right", ("local", band, 0), extra=extra)]
            if not same and not self.cross:
                return [_Spec(src, dst, kind, "demand", extra=extra)]
            return [_Spec(src, dst, kind, "channel", channel=("corr",) if self.cross else ("corr", band), extra=extra)]
        if kind == "retrieve" and self.graph.nodes[dst].get("kind") == "mua":
            servers = self.bands[band].retrieval if band in self.bands else []
            return [_Spec(src, dst, kind, "retrieve", "right", "left", via=s or None,
                          ring=self.ring_index.get((s, ids.name_of(dst)), 0)) for s in (servers or [""])]
        if not same:
            return [_Spec(src, dst, kind, "demand")]
        a_col, b_col = self.column(src), self.column(dst)
        channel = {("mua", "msa"): "sub", ("mx", "mda"): "local", ("mda", "mailbox"): "deliver"}.get((a_col, b_col))
        if channel is None:
            return [_Spec(src, dst, kind, "demand")]
        key = ("local", band, 1) if channel == "local" else (channel, band)
        return [_Spec(src, dst, kind, "channel", channel=key)]

    # -- ports ----------------------------------------------------------------------------------
    def other_y(self, spec: _Spec, at_src: bool) -> float:
        """Where the other end lies, to order the ports of one side (top to bottom)."""
        if spec.how == "dns":
            return -1e9
        if spec.how == "retrieve":
            return -spec.ring                           # the outer ring leaves (and enters) higher
        other = self.placed[spec.dst if at_src else spec.src]
        return other["y"] + other["h"] / 2

    def assign_ports(self, specs: list[_Spec]) -> None:
        sides: dict[tuple[str, str], list[tuple[float, int, _Spec, bool]]] = {}
        for i, spec in enumerate(specs):
            if spec.how in ("demand", "strip", "inner"):
                continue
            sides.setdefault((spec.src, spec.a_side), []).append((self.other_y(spec, True), i, spec, True))
            if spec.b_side != "bottom":
                sides.setdefault((spec.dst, spec.b_side), []).append((self.other_y(spec, False), i, spec, False))
        for (node, side), items in sides.items():
            n = self.placed[node]
            items.sort(key=lambda t: (t[0], t[1]))
            count = len(items)
            # the corridor's two sides use different halves of their nodes, so a sending server's
            # line never runs on top of a receiving server's line of the same row
            corridor = any(spec.channel[:1] == ("corr",) for _, _, spec, _ in items)
            low, high = ((0.15, 0.45) if side == "right" else (0.55, 0.85)) if corridor else (0.2, 0.8)
            for k, (_, _, spec, at_src) in enumerate(items):
                frac = (low + high) / 2 if count == 1 else low + (high - low) * k / (count - 1)
                x = n["x"] + (n["w"] if side == "right" else 0)
                point = (x, n["y"] + n["h"] * frac)
                if at_src:
                    spec.pa = point
                else:
                    spec.pb = point
        for spec in specs:
            if spec.how == "dns":
                dns = self.placed[spec.dst]
                spec.pb = (0.0, dns["y"] + dns["h"])      # x: the lane's, set by the channel

    # -- lanes ----------------------------------------------------------------------------------
    def channel_range(self, spec: _Spec) -> tuple[float, float]:
        a, b = self.placed[spec.src], self.placed[spec.dst]
        if spec.how == "dns":
            cols = self.cols_of(spec.src)
            return cols["msa"]["x"] + cols["msa"]["w"], cols["mx"]["x"]
        if spec.how == "hook":
            cols = self.cols_of(spec.src)
            return cols["mx"]["x"] + cols["mx"]["w"], cols["mda"]["x"]
        return a["x"] + a["w"], b["x"]

    def assign_lanes(self, specs: list[_Spec]) -> None:
        groups: dict[tuple, list[_Spec]] = {}
        for spec in specs:
            if spec.how in ("channel", "dns", "hook"):
                groups.setdefault(spec.channel[:2], []).append(spec)
        for members in groups.values():
            ordered = self.lane_order(members)
            if not ordered:
                continue
            left = max(self.channel_range(s)[0] for s in members)
            right = min(self.channel_range(s)[1] for s in members)
            for k, spec in enumerate(ordered):
                spec.lane_x = left + (right - left) * (k + 1) / (len(ordered) + 1)

    @staticmethod
    def lane_order(members: list[_Spec]) -> list[_Spec]:
        """Left to right: hooks; DNS of the left column (top host first); edges going down (lower
        start first); edges going up (higher start first); DNS of the right column (lower first)."""
        def straight(s: _Spec) -> bool:
            return s.how == "channel" and abs(s.pa[1] - s.pb[1]) < 0.5
        hooks = [s for s in members if s.how == "hook"]
        dns_l = sorted((s for s in members if s.how == "dns" and s.a_side == "right"), key=lambda s: s.pa[1])
        dns_r = sorted((s for s in members if s.how == "dns" and s.a_side == "left"), key=lambda s: -s.pa[1])
        moving = [s for s in members if s.how == "channel" and not straight(s)]
        down = sorted((s for s in moving if s.pb[1] > s.pa[1]), key=lambda s: (-s.pa[1], -s.pb[1]))
        up = sorted((s for s in moving if s.pb[1] < s.pa[1]), key=lambda s: (s.pa[1], s.pb[1]))
        hooks.sort(key=lambda s: (-min(s.pa[1], s.pb[1]), -max(s.pa[1], s.pb[1])))
        return hooks + dns_l + down + up + dns_r

    # -- points ---------------------------------------------------------------------------------
    def points(self, spec: _Spec) -> list[Point]:
        pa, pb, x = spec.pa, spec.pb, spec.lane_x
        if spec.how == "dns":
            return [pa, (x, pa[1]), (x, pb[1])]
        if spec.how in ("channel", "hook"):
            if x is None:
                return [pa, pb]
            return [pa, (x, pa[1]), (x, pb[1]), pb]
        if spec.how == "retrieve":
            return self.ring_road(spec)
        if spec.how == "strip":
            a, b = self.placed[spec.src], self.placed[spec.dst]
            if spec.dst == ids.FRONT:
                return [_mid(a, "left"), _mid(b, "right")]
            return [_mid(a, "right"), _mid(b, "left")]
        if spec.how == "inner":
            a, b = self.placed[spec.src], self.placed[spec.dst]
            if self.graph.nodes[spec.src].get("inside"):          # side by side
                return [_mid(a, "right"), _mid(b, "left")]
            return [(b["x"] + b["w"] / 2, a["y"] + a["h"] * 0.8), (b["x"] + b["w"] / 2, b["y"])]
        return self.demand(spec)

    def outer(self) -> list[dict[str, Any]]:
        """The routes between the sandbox and the world around it (``columns`` only; see layout.py),
        drawn while a hop uses them: every host up the corridor's right edge and along the strip's
        channel into the cloud; the application down from its box, along the channel and down a lane
        left of the MSA column into every host that may queue its mail (an MSA, a domain's
        submission host)."""
        m, out = self.m, []
        cloud, app = self.placed.get(ids.INTERNET), self.placed.get(ids.APP)
        hosts = [n for n in self.placed if n.startswith("mta:")]
        for host in hosts:
            a, cols = self.placed[host], self.cols_of(host)
            if cloud is not None:
                x_lane = cols["mx"]["x"] - m.pitch * 0.6
                start = _mid(a, "right") if a["x"] + a["w"] <= x_lane else _mid(a, "left")
                cx = cloud["x"] + cloud["w"] / 2
                bottom = cloud.get("outline", cloud)
                out.append((host, ids.INTERNET, "internet", [start, (x_lane, start[1]), (x_lane, self.channel_y),
                                                             (cx, self.channel_y), (cx, bottom["y"] + bottom["h"])]))
            if app is not None and self.takes_app_mail(host):
                sub = cols["msa"]["x"] - cols["mua"]["x"] - cols["mua"]["w"]
                x_lane = cols["msa"]["x"] - min(m.gap, sub) * 0.65
                start, end = _mid(app, "bottom"), _mid(a, "left")
                out.append((ids.APP, host, "submission", [start, (start[0], self.channel_y), (x_lane, self.channel_y),
                                                          (x_lane, end[1]), end]))
        return [{"src": s, "dst": d, "kind": k, "points": [[round(x, 1), round(y, 1)] for x, y in p]}
                for s, d, k, p in out]

    def takes_app_mail(self, host: str) -> bool:
        """May the app port queue a message here: an MSA, or a domain's submission host (an MX
        where a domain has no MSA)?"""
        kind = self.graph.nodes[host].get("kind")
        return kind == "msa" or self.graph.has_edge(ids.FRONT, host)

    def ring_road(self, spec: _Spec) -> list[Point]:
        m = self.m
        a, b = self.placed[spec.src], self.placed[spec.dst]
        x_out = a["x"] + a["w"] + m.ring + spec.ring * m.ring_step
        x_back = b["x"] - m.ring - spec.ring * m.ring_step
        lane_y = self.lanes.get((spec.via or "", ids.name_of(spec.dst)), a["y"] + a["h"] + m.node_h / 2)
        return [spec.pa, (x_out, spec.pa[1]), (x_out, lane_y), (x_back, lane_y), (x_back, spec.pb[1]), spec.pb]

    def demand(self, spec: _Spec) -> list[Point]:
        """Routes drawn only while in use: kept simple (they are shown one or two at a time)."""
        a, b, m = self.placed[spec.src], self.placed[spec.dst], self.m
        if spec.src == ids.APP:                         # the application beside the front door
            return [_mid(a, "right"), _mid(b, "left")]
        if spec.dst == ids.FRONT and self.graph.nodes[spec.src].get("inside"):
            start, end = _mid(a, "bottom"), _mid(b, "bottom")   # down out of the cloud, along the channel
            return [start, (start[0], self.channel_y), (end[0], self.channel_y), end]
        if spec.src == ids.FRONT:                       # down a lane just left of the MSA column
            cols = self.cols_of(spec.dst)
            x_lane = cols["msa"]["x"] - min(m.gap, cols["msa"]["x"] - cols["mua"]["x"] - cols["mua"]["w"]) * 0.3
            start, end = _mid(a, "right"), _mid(b, "left")
            return [start, (x_lane, start[1]), (x_lane, end[1]), end]
        if spec.dst == ids.FRONT:                       # outside the ring roads, up, left along the channel
            start, end = _mid(a, "right"), _mid(b, "bottom")
            x_out = a["x"] + a["w"] + self.side_of(spec.src) - 4 * m.s
            return [start, (x_out, start[1]), (x_out, self.channel_y), (end[0], self.channel_y), end]
        if spec.src == ids.OUTSIDE:                     # down a lane at the corridor's left edge
            cols = self.cols_of(spec.dst)
            x_lane = cols["msa"]["x"] + cols["msa"]["w"] + m.pitch * 0.6
            start = _mid(a, "right")
            end = _mid(b, "right") if b["x"] + b["w"] <= x_lane else _mid(b, "left")
            return [start, (x_lane, start[1]), (x_lane, end[1]), end]
        start, end = _mid(a, "right"), _mid(b, "left")
        if end[0] <= start[0]:
            return [_mid(a, "bottom"), _mid(b, "top")]
        return _elbow(start, end, (start[0] + end[0]) / 2)

    def routes(self) -> list[dict[str, Any]]:
        specs = self.specs()
        self.assign_ports(specs)
        self.assign_lanes(specs)
        out = []
        for spec in specs:
            edge: dict[str, Any] = {"src": spec.src, "dst": spec.dst, "kind": spec.kind,
                                    "points": [[round(x, 1), round(y, 1)] for x, y in self.points(spec)],
                                    **spec.extra}
            if spec.how == "retrieve":
                edge["via"] = spec.via
            if spec.how == "demand":
                edge["demand"] = True
            out.append(edge)
        return out


def _mid(n: Box, side: str) -> Point:
    x = n["x"] + (n["w"] if side == "right" else 0 if side == "left" else n["w"] / 2)
    y = n["y"] + (0 if side == "top" else n["h"] if side == "bottom" else n["h"] / 2)
    return x, y


def _elbow(a: Point, b: Point, x_turn: float) -> list[Point]:
    if abs(a[1] - b[1]) < 0.5:
        return [a, b]
    return [a, (x_turn, a[1]), (x_turn, b[1]), b]


def _channel_counts(graph: nx.DiGraph, bands: list[_Band], cross: bool) -> dict[str, int]:
    """The most lanes each channel needs (per band; the corridor over all bands in ``columns``)."""
    band_of = {n: b.domain for b in bands for c in b.columns.values() for n in c}
    kind_of = lambda n: _HOST_COLUMN.get(graph.nodes[n].get("kind", ""), graph.nodes[n].get("kind", ""))  # noqa: E731
    per: dict[tuple[str, str], int] = {}
    corridor = 0
    for src, dst, kind in graph.edges(data="kind"):
        if src not in band_of:
            continue
        band, same = band_of[src], band_of[src] == band_of.get(dst)
        a, b = kind_of(src), (kind_of(dst) if dst in graph else "")
        if kind == "dns" and dst == ids.DNS:
            corridor += 1 if cross else 0
        elif kind == "smtp" and a == "msa":
            if cross:
                corridor += 1
            elif same:
                per[("corr", band)] = per.get(("corr", band), 0) + 1
        elif kind == "smtp" and a == "mx" and (same or cross):
            per[("local", band)] = per.get(("local", band), 0) + 1
        elif same and (a, b) in (("mua", "msa"), ("mx", "mda"), ("mda", "mailbox")):
            name = {"mua": "sub", "mx": "local", "mda": "deliver"}[a]
            per[(name, band)] = per.get((name, band), 0) + 1
    counts = {name: max([v for (k, _), v in per.items() if k == name] + [0]) for name in ("sub", "corr", "local", "deliver")}
    if cross:
        counts["corr"] = corridor
    return counts
