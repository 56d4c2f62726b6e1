"""The pieces of the diagram's layout (simulator/web/layout.py): metrics, the bands of a world (its
domains, their role columns, in natural order), sizes, and one band's nodes with its retrieval lanes.
Geometry only; layout.py arranges the bands, layout_edges.py routes the edges."""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:                   # only annotations here: networkx loads when a graph is built
    import networkx as nx

from .. import nodes as ids

COLUMNS = ("mua", "msa", "net", "mx", "mda", "mailbox")
CARD_COLUMNS = ("mua", "msa", "mx", "mda", "mailbox")
LEGIBLE = 0.8                       # smallest on-screen factor of the metrics an arrangement may use
MAX_SCALE = 1.4
MAX_SLOTS = 4
FEW = 4                             # a lesson's few domains: always in columns
_HOST_COLUMN = {"msa": "msa", "mx": "mx", "backup-mx": "mx"}
_MIN_WIDTH = {"mua": 104, "msa": 120, "net": 88, "mx": 120, "mda": 84, "mailbox": 96}
_MAX_LABEL = 24                    # characters before a label is shortened with "…"
_CHAR = 8.6                        # average glyph width of the 15 px UI font, in px
_SMALL_CHAR = 7.2                  # the same for the 12 px font
_RETRIEVAL = ("imap", "pop3")      # lane blocks under a band, top to bottom
_STRIP_COLUMN = {ids.FRONT: "mua", ids.OUTSIDE: "msa"}    # the strip's own nodes, above a column
# Every node of the strip: those two, the application beside the front door, DNS, and the outside
# world's cloud at the strip's right end (its mailbox, a node ``inside`` it, is drawn in the cloud).
_STRIP_OWN = frozenset({ids.DNS, ids.FRONT, ids.OUTSIDE, ids.APP, ids.INTERNET})

Point = tuple[float, float]
Box = dict[str, Any]


def natural_key(text: str) -> tuple:
    """Sort key for names with numbers: ``d2.test`` before ``d10.test``."""
    return tuple((0, int(part), "") if part.isdigit() else (1, 0, part)
                 for part in re.split(r"(\d+)", str(text).lower()) if part)


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
    def gap(self) -> float: return 26 * self.s          # least room between two columns
    @property
    def pitch(self) -> float: return 7 * self.s         # between two lanes of a channel
    @property
    def band_top(self) -> float: return 28 * self.s     # room for the domain's name
    @property
    def band_pad(self) -> float: return 8 * self.s
    @property
    def band_gap(self) -> float: return 14 * self.s
    @property
    def lane(self) -> float: return 20 * self.s         # least height of a retrieval block
    @property
    def ret_pitch(self) -> float: return 5 * self.s     # between two users' lanes in a block
    @property
    def pill_w(self) -> float: return 64 * self.s
    @property
    def pill_h(self) -> float: return 17 * self.s
    @property
    def ring(self) -> float: return 10 * self.s         # first ring road's offset from a column
    @property
    def ring_step(self) -> float: return 5 * self.s
    @property
    def header_h(self) -> float: return 26 * self.s     # column titles
    @property
    def strip_h(self) -> float: return 64 * self.s      # the strip: front door, outside, DNS
    @property
    def dns_h(self) -> float: return 52 * self.s
    @property
    def strip_box_h(self) -> float: return 44 * self.s  # front door and outside
    @property
    def top_h(self) -> float: return (26 + 64) * self.s  # grid and fold: the strip, answer area included
    @property
    def answer_h(self) -> float: return (26 + 64 - 6) * self.s   # the answer: beside the strip and the titles
    @property
    def answer_min_w(self) -> float: return 300 * self.s
    @property
    def margin(self) -> float: return 12 * self.s
    @property
    def gutter(self) -> float: return 22 * self.s       # between cards (grid, fold)
    @property
    def chip_h(self) -> float: return 26 * self.s
    @property
    def chip_gap(self) -> float: return 6 * self.s
    @property
    def cloud_w(self) -> float: return 104 * self.s     # the outside world's cloud (its height: dns_h) ...
    @property
    def cloud_min_w(self) -> float: return 86 * self.s  # ... or narrower, down to this, where room is short
    @property
    def door_w(self) -> float: return 44 * self.s       # the application (an icon), left of the front door ...
    @property
    def door_min_w(self) -> float: return 28 * self.s   # ... or narrower, down to this, in a narrow margin


@dataclass(slots=True)
class _Band:
    domain: str
    columns: dict[str, list[str]] = field(default_factory=dict)
    retrieval: list[str] = field(default_factory=list)   # imap:/pop3: node ids, block order
    users: list[str] = field(default_factory=list)       # addresses, row order

    @property
    def rows(self) -> int:
        return max([len(v) for v in self.columns.values()] + [1])


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
    """Group nodes by domain (natural order of the names) and by column; the rest (the strip's
    nodes aside) is loose."""
    bands: dict[str, _Band] = {}
    loose: list[str] = []
    for node, attrs in graph.nodes(data=True):
        if attrs.get("kind") == "domain":
            name = attrs.get("label") or ids.name_of(node)
            bands.setdefault(name, _Band(name, {c: [] for c in CARD_COLUMNS}))
    for node, attrs in graph.nodes(data=True):
        kind, domain = attrs.get("kind"), attrs.get("domain")
        if kind == "domain" or node in _STRIP_OWN or attrs.get("inside"):
            continue
        band = bands.get(domain) if domain else None
        if band is None or not _file(band, node, kind):
            loose.append(node)
    for band in bands.values():
        # primary MX above backup MX; hosts in natural order; mailboxes in their users' order
        band.columns["msa"].sort(key=lambda n: natural_key(n))
        band.columns["mx"].sort(key=lambda n: (graph.nodes[n].get("kind") != "mx", natural_key(n)))
        band.retrieval.sort(key=lambda n: _RETRIEVAL.index(graph.nodes[n]["kind"]))
        by_user = {a: i for i, a in enumerate(band.users)}
        band.columns["mailbox"].sort(key=lambda n: by_user.get(ids.name_of(n), len(by_user)))
    return sorted(bands.values(), key=lambda b: natural_key(b.domain)), loose


def _file(band: _Band, node: str, kind: str | None) -> bool:
    """Put a node of a domain in its column (or retrieval block); False for a kind that has none."""
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
def _label_w(graph: nx.DiGraph, node: str, m: _Metrics) -> float:
    return (len(short_label(node, graph.nodes[node])) * _CHAR + 26) * m.s


def _widths(graph: nx.DiGraph, bands: list[_Band], m: _Metrics, strip: bool) -> dict[str, float]:
    widths = {c: _MIN_WIDTH[c] * m.s for c in COLUMNS}
    for band in bands:
        for column, members in band.columns.items():
            for node in members:
                widths[column] = max(widths[column], _label_w(graph, node, m))
    if strip:
        for node, column in _STRIP_COLUMN.items():
            if node in graph:
                widths[column] = max(widths[column], _label_w(graph, node, m))
    return widths


def _side(bands: list[_Band], m: _Metrics) -> float:
    """Room beside the columns: one ring road per user and retrieval server of the largest band;
    just beyond the last one, right of the mailboxes, the way up for retrieval through the front door."""
    rings = max([len(b.users) * max(1, len(b.retrieval)) for b in bands] + [0])
    return m.ring + rings * m.ring_step + 6 * m.s


def _block_h(band: _Band, m: _Metrics) -> float:
    """Height of one retrieval block (a lane per user, the pill across them)."""
    return max(m.lane, len(band.users) * m.ret_pitch + 10 * m.s)


def _band_height(band: _Band, m: _Metrics, row_extra: float = 0.0) -> float:
    blocks = len(band.retrieval) * _block_h(band, m) + (m.band_pad if band.retrieval else 0)
    return m.band_top + band.rows * (m.node_h + m.row_gap + row_extra) - m.row_gap + blocks + m.band_pad


def _channel_w(lanes: int, m: _Metrics) -> float:
    return max(m.gap, (lanes + 1) * m.pitch)


# -- one band: its nodes, its retrieval lanes ------------------------------------------------------
@dataclass(slots=True)
class _BandPlace:
    """Where a band goes: its role columns, its top, the box's left and right, the spare per row."""
    cols: dict[str, dict[str, float]]
    y: float
    box_left: float
    box_right: float
    row_extra: float = 0.0


def _place_band(graph: nx.DiGraph, band: _Band, at: _BandPlace, m: _Metrics, placed: dict[str, Box],
                lanes: dict[tuple[str, str], float], rings: dict[tuple[str, str], int]) -> Box:
    """The band's nodes in their columns, one lane per (retrieval server, user) in the blocks under
    them, and the ring order of each lane (inner first); returns the band's box."""
    cols = at.cols
    bh = _band_height(band, m, at.row_extra)
    box = {"name": band.domain, "id": ids.domain(band.domain), "x": round(at.box_left, 1), "y": round(at.y, 1),
           "w": round(at.box_right - at.box_left, 1), "h": round(bh, 1)}
    pitch = m.node_h + m.row_gap + at.row_extra
    row_y = at.y + m.band_top
    for column, members in band.columns.items():
        for i, node in enumerate(members):
            placed[node] = _node(graph, node, cols[column]["x"], row_y + i * pitch, cols[column]["w"], m.node_h)
    block_top = row_y + band.rows * pitch - m.row_gap - at.row_extra + m.band_pad
    block = _block_h(band, m)
    cx = (cols["mx"]["x"] + cols["mx"]["w"] / 2 + cols["mda"]["x"] + cols["mda"]["w"] / 2) / 2
    users = len(band.users)
    ring = 0
    for k, server in enumerate(band.retrieval):
        top = block_top + k * block
        pill_h = max(m.pill_h, min(block - 4 * m.s, users * m.ret_pitch + 6 * m.s))
        placed[server] = _node(graph, server, cx - m.pill_w / 2, top + (block - pill_h) / 2, m.pill_w, pill_h, pill=True)
        first = top + (block - (users - 1) * m.ret_pitch) / 2
        for j, user in enumerate(reversed(band.users)):       # the top user's lane lowest: rings nest
            lanes[(server, user)] = first + j * m.ret_pitch
            rings[(server, user)] = ring
            ring += 1
    return box


def _cloud(graph: nx.DiGraph, m: _Metrics, x: float, y: float, placed: dict[str, Box], w: float | None = None) -> Box:
    """The outside world's cloud at (x, y), the size of the DNS server: its node is the upper half
    (the name), the node inside it (its mailbox, a pill) the lower; ``outline`` is the whole cloud,
    as the page draws it.  Returns the cloud's outline."""
    w = m.cloud_w if w is None else w
    outline = {"x": x, "y": y, "w": w, "h": m.dns_h}
    placed[ids.INTERNET] = _node(graph, ids.INTERNET, x, y, w, m.dns_h * 0.5,
                                 mode=graph.nodes[ids.INTERNET].get("mode", "bounce"), outline=outline)
    inside = sorted((n for n, a in graph.nodes(data=True) if a.get("inside") == ids.INTERNET),
                    key=lambda n: graph.nodes[n].get("kind") != "mailbox")        # the mailbox, then its reader
    shares = {"mailbox": 0.46, "mua": 0.32}
    left, gap = x + w * 0.1, w * 0.04
    for node in inside:
        pill_w = w * shares.get(graph.nodes[node].get("kind"), 0.28)
        placed[node] = _node(graph, node, left, y + m.dns_h * 0.5 + m.s, pill_w, m.pill_h, pill=True,
                             inside=ids.INTERNET)
        left += pill_w + gap
    return outline


def _node(graph: nx.DiGraph, node: str, x: float, y: float, w: float, h: float, **extra: Any) -> Box:
    attrs = graph.nodes[node] if node in graph else {}
    return {"id": node, "kind": attrs.get("kind", "other"), "label": short_label(node, attrs),
            "full": str(attrs.get("label") or node), "domain": attrs.get("domain"),
            "up": attrs.get("up", True), "address": attrs.get("address"),
            "x": round(x, 1), "y": round(y, 1), "w": round(w, 1), "h": round(h, 1), **extra}


def _scaled(value: Any, k: float) -> Any:
    """Multiply every coordinate of a layout part by ``k`` (the metric scale of a roomy screen)."""
    if isinstance(value, dict):
        return {key: (_scaled(v, k) if key in _GEOMETRY or isinstance(v, (dict, list)) else v) for key, v in value.items()}
    if isinstance(value, list):
        return [_scaled(v, k) for v in value]
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return round(value * k, 1)
    return value


_GEOMETRY = {"x", "y", "w", "h", "cx", "points", "width", "height", "gutter", "strip_bottom"}

def _rounded(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _rounded(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_rounded(v) for v in value]
    if isinstance(value, float):
        return round(value, 1)
    return value
