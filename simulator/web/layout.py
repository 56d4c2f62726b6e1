"""Server-side layout of the topology graph (``World.graph()``) for the browser's SVG diagram.

Theory of operation: one column per role, one horizontal band per domain, so that every role lines
up vertically across domains and a message travels left to right::

     front | outside | DNS                    (the strip: what is not a host of a domain)
    -------+---------+-----------------------------------------------------------
     MUA   | MSA     | (DNS corridor) | MX, backup MX | MDA | mailboxes
      ^                                                         |
      +------- IMAP / POP3 lanes along the band's bottom -------+

The strip above the bands holds the three nodes that belong to no domain, side by side at the
height of the DNS server's middle: the front door above the MUA column (real clients come in
there), the outside programs above the MSA column (next to the DNS server, which they may ask
directly), and the DNS server at the top of the corridor between the sending and the receiving
servers; every SMTP hop between domains and every DNS question runs up or across that corridor.
Retrieval (mailbox -> MUA) is a ring road around the band: out of the mailbox to the right, along
one lane per retrieval server (IMAP, POP3) under the band, up into the MUA.

Edges of the strip: the front door hands submissions down a lane just left of the MSA column into
each submission host; retrieval through the front door leaves each mailbox to the right, rises
outside the ring road to a channel between the strip and the first band and runs left along it
up into the front door; the outside programs reach the DNS server and the front door straight
across, and every host and retrieval server down a lane at the corridor's left edge.

The layout is a pure function of (graph, width, height): the same world gives the same picture in
every browser.  Node and font sizes are fixed in CSS pixels (legible on a projector) and grow a
little on large screens; when the world does not fit the requested size, the returned view box is
larger than it and the browser scales the drawing down.  Node ids are the graph's ids
(:mod:`simulator.nodes`); labels are short (the domain is written on the band).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import networkx as nx

from .. import nodes as ids

COLUMNS = ("mua", "msa", "net", "mx", "mda", "mailbox")
_HOST_COLUMN = {"msa": "msa", "mx": "mx", "backup-mx": "mx"}
_MIN_WIDTH = {"mua": 96, "msa": 120, "net": 88, "mx": 120, "mda": 84, "mailbox": 96}
_MAX_LABEL = 24                    # characters before a label is shortened with "…"
_CHAR = 8.6                        # average glyph width of the 15 px UI font, in px
_RETRIEVAL = ("imap", "pop3")      # lane order under a band, top to bottom
_STRIP_COLUMN = {ids.FRONT: "mua", ids.OUTSIDE: "msa"}    # the strip's own nodes, above a column

Point = tuple[float, float]
Route = tuple[list[Point], dict[str, Any]]       # the points of one drawn edge, and its extra fields


@dataclass(slots=True)
class _Metrics:
    s: float

    @property
    def font(self) -> float: return 15 * self.s
    @property
    def small(self) -> float: return 12 * self.s
    @property
    def node_h(self) -> float: return 48 * self.s
    @property
    def row_gap(self) -> float: return 10 * self.s
    @property
    def gap(self) -> float: return 26 * self.s          # between columns
    @property
    def band_top(self) -> float: return 28 * self.s     # room for the domain's name
    @property
    def band_pad(self) -> float: return 8 * self.s
    @property
    def band_gap(self) -> float: return 14 * self.s
    @property
    def lane(self) -> float: return 20 * self.s
    @property
    def pill_w(self) -> float: return 64 * self.s
    @property
    def pill_h(self) -> float: return 17 * self.s
    @property
    def ring(self) -> float: return 12 * self.s         # first ring-road offset from a column
    @property
    def ring_step(self) -> float: return 7 * self.s
    @property
    def header_h(self) -> float: return 26 * self.s     # column titles
    @property
    def strip_h(self) -> float: return 64 * self.s      # the strip: front door, outside, DNS
    @property
    def dns_h(self) -> float: return 52 * self.s        # the DNS box, at the top of the strip
    @property
    def strip_box_h(self) -> float: return 44 * self.s  # front door and outside, centred on DNS
    @property
    def margin(self) -> float: return 12 * self.s


@dataclass(slots=True)
class _Band:
    domain: str
    columns: dict[str, list[str]] = field(default_factory=dict)
    retrieval: list[str] = field(default_factory=list)   # imap:/pop3: node ids, lane order
    users: list[str] = field(default_factory=list)       # addresses, row order

    @property
    def rows(self) -> int:
        return max([len(v) for v in self.columns.values()] + [1])


@dataclass(slots=True)
class _Frame:
    """Where things go once the scale and the spare room are known."""
    m: _Metrics
    view_w: float
    view_h: float
    cols: dict[str, dict[str, float]]
    top: float              # top of the column titles
    strip_y: float          # top of the strip (front door, outside, DNS)
    side: float             # room beside the columns for the ring roads
    row_extra: float        # spare height added to each row
    band_gap: float

    @property
    def pitch(self) -> float:
        return self.m.node_h + self.m.row_gap + self.row_extra

    @property
    def channel_y(self) -> float:
        """The channel between the strip's boxes and the first band (retrieval to the front door)."""
        return self.strip_y + (self.m.dns_h + self.m.strip_h) / 2

    @property
    def box_x(self) -> tuple[float, float]:
        """Left and right edges of the domain boxes."""
        left = self.cols["mua"]["x"] - self.side + 2 * self.m.s
        right = self.cols["mailbox"]["x"] + self.cols["mailbox"]["w"] + self.side - 2 * self.m.s
        return left, right


def short_label(node: str, attrs: dict[str, Any]) -> str:
    """What the box says: a user's local part, a host's name, the role for MDA / IMAP / POP3."""
    kind = attrs.get("kind", "")
    if kind in ("mua", "mailbox"):
        text = ids.name_of(node).rsplit("@", 1)[0]
    elif kind == "mda":
        text = "MDA"
    elif kind in _RETRIEVAL:
        text = kind.upper()
    else:
        text = str(attrs.get("label") or node)
    return text if len(text) <= _MAX_LABEL else text[:_MAX_LABEL - 1] + "…"


# -- grouping ---------------------------------------------------------------------------------------
def _bands(graph: nx.DiGraph) -> tuple[list[_Band], list[str]]:
    """Group nodes by domain (in the graph's, that is the scenario's, order) and by column; the
    rest (the strip's nodes aside) is loose."""
    bands: dict[str, _Band] = {}
    loose: list[str] = []
    for node, attrs in graph.nodes(data=True):
        if attrs.get("kind") == "domain":
            name = attrs.get("label") or ids.name_of(node)
            bands.setdefault(name, _Band(name, {c: [] for c in COLUMNS}))
    for node, attrs in graph.nodes(data=True):
        kind, domain = attrs.get("kind"), attrs.get("domain")
        if kind == "domain" or node == ids.DNS or node in _STRIP_COLUMN:
            continue
        band = bands.get(domain) if domain else None
        if band is None or not _file(band, node, kind):
            loose.append(node)
    for band in bands.values():
        # primary MX above backup MX; otherwise the scenario's order (sorted is stable)
        band.columns["mx"].sort(key=lambda n: graph.nodes[n].get("kind") != "mx")
        band.retrieval.sort(key=lambda n: _RETRIEVAL.index(graph.nodes[n]["kind"]))
        by_user = {a: i for i, a in enumerate(band.users)}
        band.columns["mailbox"].sort(key=lambda n: by_user.get(ids.name_of(n), len(by_user)))
    return list(bands.values()), loose


def _file(band: _Band, node: str, kind: str | None) -> bool:
    """Put a node of a domain in its column (or lane); False for a kind that has none."""
    if kind in _HOST_COLUMN:
        band.columns[_HOST_COLUMN[kind]].append(node)
    elif kind == "mua":
        band.columns["mua"].append(node)
        band.users.append(ids.name_of(node))
    elif kind in ("mda", "mailbox"):
        band.columns[kind].append(node)
    elif kind in _RETRIEVAL:
        band.retrieval.append(node)
    else:
        return False
    return True


# -- sizes ------------------------------------------------------------------------------------------
def _side(bands: list[_Band], m: _Metrics) -> float:
    """Room beside the columns: one ring road per user of the largest band; just beyond the last
    one, right of the mailboxes, the way up for retrieval through the front door."""
    users = max([len(b.users) for b in bands] + [0])
    return m.ring + users * m.ring_step + 4 * m.s


def _widths(graph: nx.DiGraph, bands: list[_Band], m: _Metrics) -> dict[str, float]:
    widths = {c: _MIN_WIDTH[c] * m.s for c in COLUMNS}
    for band in bands:
        for column, members in band.columns.items():
            for node in members:
                label = short_label(node, graph.nodes[node])
                widths[column] = max(widths[column], (len(label) * _CHAR + 26) * m.s)
    for node, column in _STRIP_COLUMN.items():
        if node in graph:
            label = short_label(node, graph.nodes[node])
            widths[column] = max(widths[column], (len(label) * _CHAR + 26) * m.s)
    return widths


def _natural(graph: nx.DiGraph, bands: list[_Band], m: _Metrics) -> tuple[dict[str, float], float, float]:
    widths = _widths(graph, bands, m)
    width = 2 * m.margin + 2 * _side(bands, m) + sum(widths.values()) + (len(COLUMNS) - 1) * m.gap
    height = m.header_h + m.strip_h + m.margin + sum(_band_height(b, m) for b in bands) \
        + max(0, len(bands) - 1) * m.band_gap
    return widths, width, height


def _band_height(band: _Band, m: _Metrics, row_extra: float = 0.0) -> float:
    lanes = len(band.retrieval) * m.lane + (m.band_pad if band.retrieval else 0)
    return m.band_top + band.rows * (m.node_h + m.row_gap + row_extra) - m.row_gap + lanes + m.band_pad


def _frame(graph: nx.DiGraph, bands: list[_Band], width: float, height: float) -> _Frame:
    """Choose the scale, then spread the spare room: wider gaps between columns, taller rows and
    band gaps; centre the result."""
    _, w1, h1 = _natural(graph, bands, _Metrics(1.0))
    m = _Metrics(round(min(max(min(width / w1, height / h1), 1.0), 1.4), 3))
    widths, nat_w, nat_h = _natural(graph, bands, m)
    view_w, view_h = max(width, nat_w), max(height, nat_h)
    gap = m.gap + min((view_w - nat_w) / (len(COLUMNS) - 1), 90 * m.s)
    rows_total = sum(b.rows for b in bands) or 1
    spare_h = view_h - nat_h
    row_extra = min(spare_h * 0.5 / rows_total, 18 * m.s)
    band_gap = m.band_gap + min(max(0.0, spare_h - row_extra * rows_total) / max(1, len(bands)), 30 * m.s)
    side = _side(bands, m)
    used_w = 2 * side + sum(widths.values()) + (len(COLUMNS) - 1) * gap
    x = (view_w - used_w) / 2 + side
    cols: dict[str, dict[str, float]] = {}
    for c in COLUMNS:
        cols[c] = {"x": x, "w": widths[c], "cx": x + widths[c] / 2}
        x += widths[c] + gap
    used_h = (m.header_h + m.strip_h + sum(_band_height(b, m, row_extra) for b in bands)
              + max(0, len(bands) - 1) * band_gap)
    top = max(m.margin * 0.5, (view_h - used_h) / 2)
    return _Frame(m, view_w, view_h, cols, top, top + m.header_h, side, row_extra, band_gap)


# -- placing ----------------------------------------------------------------------------------------
def _node(graph: nx.DiGraph, node: str, x: float, y: float, w: float, h: float, **extra: Any) -> dict[str, Any]:
    attrs = graph.nodes[node] if node in graph else {}
    return {"id": node, "kind": attrs.get("kind", "other"), "label": short_label(node, attrs),
            "full": str(attrs.get("label") or node), "domain": attrs.get("domain"),
            "up": attrs.get("up", True), "address": attrs.get("address"),
            "x": round(x, 1), "y": round(y, 1), "w": round(w, 1), "h": round(h, 1), **extra}


def _place_strip(graph: nx.DiGraph, f: _Frame, loose: list[str], placed: dict[str, dict[str, Any]]) -> None:
    """DNS atop the corridor; the front door and the outside beside it; loose nodes to the right."""
    m, cols = f.m, f.cols
    if ids.DNS in graph:
        dns_w = max(cols["net"]["w"], 96 * m.s)
        placed[ids.DNS] = _node(graph, ids.DNS, cols["net"]["cx"] - dns_w / 2, f.strip_y, dns_w, m.dns_h)
    box_y = f.strip_y + (m.dns_h - m.strip_box_h) / 2
    for node, column in _STRIP_COLUMN.items():
        if node in graph:
            placed[node] = _node(graph, node, cols[column]["x"], box_y, cols[column]["w"], m.strip_box_h)
    for i, node in enumerate(loose):       # nodes of an unknown kind: right of the DNS server
        placed[node] = _node(graph, node, cols["mx"]["x"] + i * (112 * m.s), box_y, 104 * m.s, m.strip_box_h)


def _place_bands(graph: nx.DiGraph, bands: list[_Band], f: _Frame,
                 placed: dict[str, dict[str, Any]]) -> tuple[list[dict[str, Any]], dict[str, float]]:
    """Every domain's nodes in its band; returns the domain boxes and the y of each retrieval lane."""
    m, cols = f.m, f.cols
    boxes: list[dict[str, Any]] = []
    lanes: dict[str, float] = {}
    box_left, box_right = f.box_x
    y = f.strip_y + m.strip_h
    for band in bands:
        bh = _band_height(band, m, f.row_extra)
        boxes.append({"name": band.domain, "x": round(box_left, 1), "y": round(y, 1),
                      "w": round(box_right - box_left, 1), "h": round(bh, 1)})
        row_y = y + m.band_top
        for column, members in band.columns.items():
            for i, node in enumerate(members):
                placed[node] = _node(graph, node, cols[column]["x"], row_y + i * f.pitch, cols[column]["w"], m.node_h)
        lane_top = row_y + band.rows * f.pitch - m.row_gap - f.row_extra + m.band_pad
        cx = (cols["mx"]["cx"] + cols["mda"]["cx"]) / 2
        for k, node in enumerate(band.retrieval):
            lanes[node] = lane_top + (k + 0.5) * m.lane
            placed[node] = _node(graph, node, cx - m.pill_w / 2, lanes[node] - m.pill_h / 2, m.pill_w, m.pill_h,
                                 pill=True)
        y += bh + f.band_gap
    return boxes, lanes


def layout(graph: nx.DiGraph, width: float = 1200, height: float = 640) -> dict[str, Any]:
    """Place every node of ``graph`` for a drawing area of ``width`` x ``height`` CSS pixels."""
    width = min(max(float(width), 480.0), 4096.0)
    height = min(max(float(height), 320.0), 4096.0)
    bands, loose = _bands(graph)
    f = _frame(graph, bands, width, height)
    m, cols = f.m, f.cols
    placed: dict[str, dict[str, Any]] = {}
    _place_strip(graph, f, loose, placed)
    boxes, lanes = _place_bands(graph, bands, f, placed)
    # The strip left of the DNS server (kept for pages that still draw boxes of their own there).
    outside = {"x": round(cols["mua"]["x"], 1), "y": round(f.strip_y, 1),
               "w": round(cols["msa"]["x"] + cols["msa"]["w"] - cols["mua"]["x"], 1),
               "h": round(m.strip_h - 14 * m.s, 1)}
    return {
        "width": round(f.view_w, 1), "height": round(f.view_h, 1), "scale": m.s,
        "font": round(m.font, 1), "small": round(m.small, 1),
        "columns": [{"key": c, "x": round(cols[c]["x"], 1), "w": round(cols[c]["w"], 1),
                     "cx": round(cols[c]["cx"], 1), "y": round(f.top + m.header_h * 0.62, 1)} for c in COLUMNS],
        "domains": boxes, "outside": outside,
        "nodes": list(placed.values()), "edges": _Router(graph, placed, bands, lanes, f).edges(),
    }


# -- edges ------------------------------------------------------------------------------------------
def _mid(n: dict[str, Any], side: str) -> Point:
    x = n["x"] + (n["w"] if side == "right" else 0 if side == "left" else n["w"] / 2)
    y = n["y"] + (0 if side == "top" else n["h"] if side == "bottom" else n["h"] / 2)
    return x, y


def _elbow(a: Point, b: Point, x_turn: float) -> list[Point]:
    if abs(a[1] - b[1]) < 0.5:
        return [a, b]
    return [a, (x_turn, a[1]), (x_turn, b[1]), b]


class _Router:
    """The path of every edge of the graph, by what it joins: each route returns (points, extra)."""

    def __init__(self, graph: nx.DiGraph, placed: dict[str, dict[str, Any]], bands: list[_Band],
                 lanes: dict[str, float], f: _Frame) -> None:
        self.graph, self.placed, self.lanes, self.f, self.m = graph, placed, lanes, f, f.m
        self.corridor_l = f.cols["msa"]["x"] + f.cols["msa"]["w"]
        self.corridor_r = f.cols["mx"]["x"]
        self.corridor_w = self.corridor_r - self.corridor_l
        self.mx_targets = sorted({d for _, d, k in graph.edges(data="kind") if k == "smtp"},
                                 key=lambda n: (placed[n]["y"], n) if n in placed else (0, n))
        self.user_index = {u: (i, band) for band in bands for i, u in enumerate(band.users)}

    def edges(self) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        for src, dst, attrs in self.graph.edges(data=True):
            if src not in self.placed or dst not in self.placed:
                continue
            for points, extra in self.route(src, dst, attrs):
                out.append({"src": src, "dst": dst, "kind": attrs.get("kind", ""),
                            "points": [[round(px, 1), round(py, 1)] for px, py in points], **extra})
        return out

    def route(self, src: str, dst: str, attrs: dict[str, Any]) -> list[Route]:
        a, b, kind = self.placed[src], self.placed[dst], attrs.get("kind", "")
        if src == ids.OUTSIDE:
            return [(self._from_outside(a, b), {})]
        if src == ids.FRONT:
            return [(self._from_front(a, b), {})]
        if dst == ids.FRONT:
            return [(self._to_front(a, b), {})]
        if kind == "dns" and ids.DNS in self.placed:
            return [(self._dns(a), {})]
        if kind == "smtp":
            return [(self._smtp(a, b, dst), {"preference": attrs.get("preference"), "domain": attrs.get("domain")})]
        if kind == "retrieve":
            return self._retrieve(a, b, dst)
        start, end = _mid(a, "right"), _mid(b, "left")
        if end[0] <= start[0]:
            return [([_mid(a, "bottom"), _mid(b, "top")], {})]
        return [(_elbow(start, end, (start[0] + end[0]) / 2), {})]

    def _dns(self, a: dict[str, Any]) -> list[Point]:
        m, dns = self.m, self.placed[ids.DNS]
        end = _mid(dns, "bottom")
        if a["x"] < dns["x"]:            # a sending server: right side, up the corridor's left half
            start, x_turn, x_end = _mid(a, "right"), self.corridor_l + self.corridor_w * 0.22, end[0] - 10 * m.s
        else:                            # a receiving server: left side, up the right half
            start, x_turn, x_end = _mid(a, "left"), self.corridor_r - self.corridor_w * 0.22, end[0] + 10 * m.s
        return [start, (x_turn, start[1]), (x_turn, end[1] + 8 * m.s), (x_end, end[1])]

    def _smtp(self, a: dict[str, Any], b: dict[str, Any], dst: str) -> list[Point]:
        start = _mid(a, "right")
        if a["x"] >= self.corridor_r:         # backup MX -> primary MX: a hook right of the MX column
            end = _mid(b, "right")
            x_turn = max(start[0], end[0]) + 10 * self.m.s
            return [start, (x_turn, start[1]), (x_turn, end[1]), end]
        k = self.mx_targets.index(dst) if dst in self.mx_targets else 0
        x_turn = self.corridor_l + self.corridor_w * (0.42 + 0.36 * k / max(1, len(self.mx_targets) - 1))
        return _elbow(start, _mid(b, "left"), x_turn)

    def _retrieve(self, a: dict[str, Any], b: dict[str, Any], dst: str) -> list[Route]:
        """Mailbox -> MUA: a ring road, one per retrieval server of the band (``via`` names it)."""
        m = self.m
        i, band = self.user_index.get(ids.name_of(dst), (0, None))
        start, end = _mid(a, "right"), _mid(b, "left")
        x_out = a["x"] + a["w"] + m.ring + i * m.ring_step
        x_back = b["x"] - m.ring - i * m.ring_step
        routes: list[Route] = []
        for server in (band.retrieval if band else []) or [""]:
            lane_y = self.lanes[server] if server else start[1] + m.node_h
            routes.append(([start, (x_out, start[1]), (x_out, lane_y), (x_back, lane_y), (x_back, end[1]), end],
                           {"via": server or None}))
        return routes

    def _from_front(self, front: dict[str, Any], b: dict[str, Any]) -> list[Point]:
        """Front door -> a submission host: down a lane just left of the MSA column."""
        cols = self.f.cols
        gap = cols["msa"]["x"] - (cols["mua"]["x"] + cols["mua"]["w"])
        x_lane = cols["msa"]["x"] - gap * 0.3
        start, end = _mid(front, "right"), _mid(b, "left")
        return [start, (x_lane, start[1]), (x_lane, end[1]), end]

    def _to_front(self, a: dict[str, Any], front: dict[str, Any]) -> list[Point]:
        """A mailbox -> the front door: outside the ring roads, up to the channel under the strip,
        left along it and up into the front door."""
        m, f = self.m, self.f
        start, end = _mid(a, "right"), _mid(front, "bottom")
        x_out = a["x"] + a["w"] + f.side - 4 * m.s       # one ring road beyond the band's own
        return [start, (x_out, start[1]), (x_out, f.channel_y), (end[0], f.channel_y), end]

    def _from_outside(self, outside: dict[str, Any], b: dict[str, Any]) -> list[Point]:
        """Outside -> the DNS server or the front door straight across; -> a host or a retrieval
        server down a lane at the corridor's left edge, then into its near side."""
        if b["id"] == ids.FRONT:
            return [_mid(outside, "left"), _mid(b, "right")]
        start = _mid(outside, "right")
        if b["id"] == ids.DNS:
            return [start, _mid(b, "left")]
        x_lane = self.corridor_l + min(self.corridor_w * 0.12, (self.f.cols["net"]["x"] - self.corridor_l) * 0.5)
        end = _mid(b, "right") if b["x"] + b["w"] <= x_lane else _mid(b, "left")
        return [start, (x_lane, start[1]), (x_lane, end[1]), end]
