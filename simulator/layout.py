"""Server-side layout of the topology graph (``World.graph()``) for the browser's SVG diagram.

Theory of operation: one column per role, one horizontal band per domain, so that every role lines
up vertically across domains and a message travels left to right::

    MUA | MSA | (DNS corridor) | MX, backup MX | MDA | mailboxes
     ^                                                     |
     +------- IMAP / POP3 lanes along the band's bottom ---+

The DNS server sits in a strip above the bands, at the top of the corridor between the sending and
the receiving servers; every SMTP hop between domains and every DNS question runs up or across that
corridor.  Retrieval (mailbox -> MUA) is a ring road around the band: out of the mailbox to the
right, along one lane per retrieval server (IMAP, POP3) under the band, up into the MUA.

The layout is a pure function of (graph, width, height): the same world gives the same picture in
every browser.  Node and font sizes are fixed in CSS pixels (legible on a projector) and grow a
little on large screens; when the world does not fit the requested size, the returned view box is
larger than it and the browser scales the drawing down.  Node ids are the graph's ids (see
docs/CONTRACTS.md); labels are short (the domain is written on the band).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import networkx as nx

COLUMNS = ("mua", "msa", "net", "mx", "mda", "mailbox")
_HOST_COLUMN = {"msa": "msa", "mx": "mx", "backup-mx": "mx"}
_MIN_WIDTH = {"mua": 96, "msa": 120, "net": 88, "mx": 120, "mda": 84, "mailbox": 96}
_MAX_LABEL = 24                    # characters before a label is shortened with "…"
_CHAR = 8.6                        # average glyph width of the 15 px UI font, in px
_RETRIEVAL = ("imap", "pop3")      # lane order under a band, top to bottom


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
    def strip_h(self) -> float: return 64 * self.s      # the DNS strip
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


def short_label(node: str, attrs: dict[str, Any]) -> str:
    """What the box says: a user's local part, a host's name, the role for MDA / IMAP / POP3."""
    kind = attrs.get("kind", "")
    if kind in ("mua", "mailbox"):
        text = node.split(":", 1)[1].rsplit("@", 1)[0]
    elif kind == "mda":
        text = "MDA"
    elif kind in _RETRIEVAL:
        text = kind.upper()
    else:
        text = str(attrs.get("label") or node)
    return text if len(text) <= _MAX_LABEL else text[:_MAX_LABEL - 1] + "…"


def _bands(graph: nx.DiGraph) -> tuple[list[_Band], list[str]]:
    """Group nodes by domain (in the graph's, that is the scenario's, order) and by column."""
    bands: dict[str, _Band] = {}
    loose: list[str] = []
    for node, attrs in graph.nodes(data=True):
        kind = attrs.get("kind")
        if kind == "domain":
            name = attrs.get("label") or node.split(":", 1)[1]
            bands.setdefault(name, _Band(name, {c: [] for c in COLUMNS}))
    for node, attrs in graph.nodes(data=True):
        kind, domain = attrs.get("kind"), attrs.get("domain")
        if kind in ("domain", "dns"):
            continue
        band = bands.get(domain) if domain else None
        if band is None:
            loose.append(node)
            continue
        if kind in _HOST_COLUMN:
            band.columns[_HOST_COLUMN[kind]].append(node)
        elif kind == "mua":
            band.columns["mua"].append(node)
            band.users.append(node.split(":", 1)[1])
        elif kind in ("mda", "mailbox"):
            band.columns[kind].append(node)
        elif kind in _RETRIEVAL:
            band.retrieval.append(node)
        else:
            loose.append(node)
    for band in bands.values():
        # primary MX above backup MX; otherwise the scenario's order (sorted is stable)
        band.columns["mx"].sort(key=lambda n: graph.nodes[n].get("kind") != "mx")
        band.retrieval.sort(key=lambda n: _RETRIEVAL.index(graph.nodes[n]["kind"]))
        by_user = {a: i for i, a in enumerate(band.users)}
        band.columns["mailbox"].sort(key=lambda n: by_user.get(n.split(":", 1)[1], len(by_user)))
    return list(bands.values()), loose


def _natural(graph: nx.DiGraph, bands: list[_Band], m: _Metrics) -> tuple[dict[str, float], float, float]:
    widths = {c: _MIN_WIDTH[c] * m.s for c in COLUMNS}
    for band in bands:
        for column, nodes in band.columns.items():
            for node in nodes:
                label = short_label(node, graph.nodes[node])
                widths[column] = max(widths[column], (len(label) * _CHAR + 26) * m.s)
    ring = max([len(b.users) for b in bands] + [0])
    side = m.ring + ring * m.ring_step + 4 * m.s
    width = 2 * m.margin + 2 * side + sum(widths.values()) + (len(COLUMNS) - 1) * m.gap
    height = m.header_h + m.strip_h + m.margin + sum(_band_height(b, m) for b in bands) \
        + max(0, len(bands) - 1) * m.band_gap
    return widths, width, height


def _band_height(band: _Band, m: _Metrics, row_extra: float = 0.0) -> float:
    lanes = len(band.retrieval) * m.lane + (m.band_pad if band.retrieval else 0)
    return m.band_top + band.rows * (m.node_h + m.row_gap + row_extra) - m.row_gap + lanes + m.band_pad


def layout(graph: nx.DiGraph, width: float = 1200, height: float = 640) -> dict[str, Any]:
    """Place every node of ``graph`` for a drawing area of ``width`` x ``height`` CSS pixels."""
    width = min(max(float(width), 480.0), 4096.0)
    height = min(max(float(height), 320.0), 4096.0)
    bands, loose = _bands(graph)
    base = _Metrics(1.0)
    _, w1, h1 = _natural(graph, bands, base)
    scale = min(width / w1, height / h1)
    m = _Metrics(round(min(max(scale, 1.0), 1.4), 3))
    widths, nat_w, nat_h = _natural(graph, bands, m)
    view_w, view_h = max(width, nat_w), max(height, nat_h)

    # Spread spare room: wider gaps between columns, taller rows and band gaps, then centre.
    spare_w = view_w - nat_w
    gap = m.gap + min(spare_w / (len(COLUMNS) - 1), 90 * m.s)
    rows_total = sum(b.rows for b in bands) or 1
    spare_h = view_h - nat_h
    row_extra = min(spare_h * 0.5 / rows_total, 18 * m.s)
    band_gap = m.band_gap + min(max(0.0, spare_h - row_extra * rows_total) / max(1, len(bands)), 30 * m.s)
    ring_n = max([len(b.users) for b in bands] + [0])
    side = m.ring + ring_n * m.ring_step + 4 * m.s
    used_w = 2 * side + sum(widths.values()) + (len(COLUMNS) - 1) * gap
    left = (view_w - used_w) / 2 + side
    cols: dict[str, dict[str, float]] = {}
    x = left
    for c in COLUMNS:
        cols[c] = {"x": x, "w": widths[c], "cx": x + widths[c] / 2}
        x += widths[c] + gap
    used_h = (m.header_h + m.strip_h + sum(_band_height(b, m, row_extra) for b in bands)
              + max(0, len(bands) - 1) * band_gap)
    top = max(m.margin * 0.5, (view_h - used_h) / 2)

    nodes: dict[str, dict[str, Any]] = {}

    def place(node: str, x0: float, y0: float, w: float, h: float, **extra: Any) -> None:
        attrs = graph.nodes[node] if node in graph else {}
        nodes[node] = {"id": node, "kind": attrs.get("kind", "other"), "label": short_label(node, attrs),
                       "full": str(attrs.get("label") or node), "domain": attrs.get("domain"),
                       "up": attrs.get("up", True), "address": attrs.get("address"),
                       "x": round(x0, 1), "y": round(y0, 1), "w": round(w, 1), "h": round(h, 1), **extra}

    strip_y = top + m.header_h
    dns_w = max(cols["net"]["w"], 96 * m.s)
    if "dns" in graph:
        place("dns", cols["net"]["cx"] - dns_w / 2, strip_y + (m.strip_h - 52 * m.s) / 2 - 6 * m.s,
              dns_w, 52 * m.s)
    outside = {"x": round(cols["mua"]["x"], 1), "y": round(strip_y, 1),
               "w": round(cols["msa"]["x"] + cols["msa"]["w"] - cols["mua"]["x"], 1),
               "h": round(m.strip_h - 14 * m.s, 1)}

    domain_boxes: list[dict[str, Any]] = []
    lanes: dict[str, dict[str, float]] = {}
    y = strip_y + m.strip_h
    box_left, box_right = left - side + 2 * m.s, left + used_w - 2 * side + side - 2 * m.s
    pitch = m.node_h + m.row_gap + row_extra
    for band in bands:
        bh = _band_height(band, m, row_extra)
        domain_boxes.append({"name": band.domain, "x": round(box_left, 1), "y": round(y, 1),
                             "w": round(box_right - box_left, 1), "h": round(bh, 1)})
        row_y = y + m.band_top
        for column, members in band.columns.items():
            col = cols[column]
            for i, node in enumerate(members):
                place(node, col["x"], row_y + i * pitch, col["w"], m.node_h)
        lane_top = row_y + band.rows * pitch - m.row_gap - row_extra + m.band_pad
        for k, node in enumerate(band.retrieval):
            lane_y = lane_top + (k + 0.5) * m.lane
            lanes[node] = {"y": lane_y}
            cx = (cols["mx"]["cx"] + cols["mda"]["cx"]) / 2
            place(node, cx - m.pill_w / 2, lane_y - m.pill_h / 2, m.pill_w, m.pill_h, pill=True)
        y += bh + band_gap

    for i, node in enumerate(loose):       # nodes of an unknown kind: in the outside strip
        place(node, outside["x"] + i * (112 * m.s), outside["y"] + 6 * m.s, 104 * m.s, 40 * m.s)

    edges = _edges(graph, nodes, bands, lanes, cols, m)
    return {
        "width": round(view_w, 1), "height": round(view_h, 1), "scale": m.s,
        "font": round(m.font, 1), "small": round(m.small, 1),
        "columns": [{"key": c, "x": round(cols[c]["x"], 1), "w": round(cols[c]["w"], 1),
                     "cx": round(cols[c]["cx"], 1), "y": round(top + m.header_h * 0.62, 1)} for c in COLUMNS],
        "domains": domain_boxes, "outside": outside,
        "nodes": list(nodes.values()), "edges": edges,
    }


def _mid(n: dict[str, Any], side: str) -> tuple[float, float]:
    x = n["x"] + (n["w"] if side == "right" else 0 if side == "left" else n["w"] / 2)
    y = n["y"] + (0 if side == "top" else n["h"] if side == "bottom" else n["h"] / 2)
    return x, y


def _elbow(a: tuple[float, float], b: tuple[float, float], x_turn: float) -> list[tuple[float, float]]:
    if abs(a[1] - b[1]) < 0.5:
        return [a, b]
    return [a, (x_turn, a[1]), (x_turn, b[1]), b]


def _edges(graph: nx.DiGraph, nodes: dict[str, dict[str, Any]], bands: list[_Band],
           lanes: dict[str, dict[str, float]], cols: dict[str, dict[str, float]], m: _Metrics) -> list[dict]:
    out: list[dict[str, Any]] = []
    corridor_l = cols["msa"]["x"] + cols["msa"]["w"]
    corridor_r = cols["mx"]["x"]
    corridor_w = corridor_r - corridor_l
    dns = nodes.get("dns")
    mx_targets = sorted({d for _, d, k in graph.edges(data="kind") if k == "smtp"},
                        key=lambda n: (nodes[n]["y"], n) if n in nodes else (0, n))
    user_index = {u: (i, band) for band in bands for i, u in enumerate(band.users)}

    def add(src: str, dst: str, kind: str, points: list[tuple[float, float]], **extra: Any) -> None:
        out.append({"src": src, "dst": dst, "kind": kind,
                    "points": [[round(px, 1), round(py, 1)] for px, py in points], **extra})

    for src, dst, attrs in graph.edges(data=True):
        if src not in nodes or dst not in nodes:
            continue
        a, b, kind = nodes[src], nodes[dst], attrs.get("kind", "")
        if kind == "dns" and dns is not None:
            end = _mid(dns, "bottom")
            if a["x"] < dns["x"]:            # a sending server: right side, up the corridor's left half
                start = _mid(a, "right")
                x_turn = corridor_l + corridor_w * 0.22
                add(src, dst, kind, [start, (x_turn, start[1]), (x_turn, end[1] + 8 * m.s),
                                     (end[0] - 10 * m.s, end[1])])
            else:                            # a receiving server: left side, up the right half
                start = _mid(a, "left")
                x_turn = corridor_r - corridor_w * 0.22
                add(src, dst, kind, [start, (x_turn, start[1]), (x_turn, end[1] + 8 * m.s),
                                     (end[0] + 10 * m.s, end[1])])
        elif kind == "smtp":
            start = _mid(a, "right")
            if a["x"] >= corridor_r:         # backup MX -> primary MX: a hook right of the MX column
                end = _mid(b, "right")
                x_turn = max(start[0], end[0]) + 10 * m.s
                add(src, dst, kind, [start, (x_turn, start[1]), (x_turn, end[1]), end],
                    preference=attrs.get("preference"), domain=attrs.get("domain"))
                continue
            end = _mid(b, "left")
            k = mx_targets.index(dst) if dst in mx_targets else 0
            x_turn = corridor_l + corridor_w * (0.42 + 0.36 * k / max(1, len(mx_targets) - 1))
            add(src, dst, kind, _elbow(start, end, x_turn),
                preference=attrs.get("preference"), domain=attrs.get("domain"))
        elif kind == "retrieve":
            address = dst.split(":", 1)[1]
            i, band = user_index.get(address, (0, None))
            servers = band.retrieval if band else []
            start, end = _mid(a, "right"), _mid(b, "left")
            x_out = a["x"] + a["w"] + m.ring + i * m.ring_step
            x_back = b["x"] - m.ring - i * m.ring_step
            for server in servers or [""]:
                lane_y = lanes[server]["y"] if server else start[1] + m.node_h
                add(src, dst, kind, [start, (x_out, start[1]), (x_out, lane_y), (x_back, lane_y),
                                     (x_back, end[1]), end], via=server or None)
        else:
            start, end = _mid(a, "right"), _mid(b, "left")
            if end[0] <= start[0]:
                start, end = _mid(a, "bottom"), _mid(b, "top")
                add(src, dst, kind, [start, end])
                continue
            add(src, dst, kind, _elbow(start, end, (start[0] + end[0]) / 2))
    return out
