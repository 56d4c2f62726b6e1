"""Server-side layout of the topology graph (``World.graph()``) for the browser's SVG diagram.

Theory of operation
-------------------
The layout is a pure function of (graph, width, height): the same world gives the same picture in
every browser.  It picks the first of three arrangements that keeps the 15 px label font at least
``LEGIBLE`` times its size on the screen (12 px):

``columns`` (a lesson's two or three domains): one column per role, one band per domain, so every
role lines up across domains and a letter travels left to right::

     app front | outside | DNS             | the DNS answer area          | cloud
    -----------+---------+-----------------+------------------------------+--------
     MUA   | MSA     | corridor (lanes)    | MX, backup MX | MDA | mailboxes     one band per domain
      ^                                                          |
      +------- IMAP / POP3 lanes under the band (ring roads) ----+

``grid`` (more domains): every domain a *card* with the same five columns, the cards in a grid
that uses the width (as many card columns as give the largest scale).

``fold`` (too many domains for a legible grid): every domain a *chip* (its name) in a chip grid,
and a few *slots* the size of a card.  The page unfolds into the slots the domains a letter in
flight crosses (``cards`` are given as templates relative to their slot: the page only translates
them), so the sender's and the recipient's hosts keep legible labels in a world of fifty domains.

Edges are followable.  Where several edges leave or enter one side of a node they use their own
*ports*, spread along the side; every edge that crosses a *channel* (the gap between two columns,
or the corridor between the sending and the receiving servers) has its own vertical *lane* there.
Lanes are ordered so that edges cross as little as they can: of two edges going down, the one that
starts lower takes the lane further left (mirrored for edges going up); DNS questions use the
corridor's outer lanes, the host nearest the DNS server the innermost.  Retrieval (mailbox -> MUA)
is a ring road per user and retrieval server: out of the mailbox to the right, along its own lane
under the band (through the IMAP or POP3 pill), up into the MUA; the top user's ring is the
outermost, so rings nest instead of crossing.

*Demand* edges are listed for routing but drawn only while a hop uses them (``"demand": true``):
the front door's and the outside programs' edges (real clients, dig, swaks), and in ``grid`` and
``fold`` every edge between two cards or to the DNS server (there are n x m of them); the page
routes those along the gutters between the cards.

The DNS answer area (``answer``) is a rectangle of the strip, right of the DNS server, that no node
overlaps: the page writes the DNS answer there, never over a node.

The world around the sandbox sits in the strip too: the application (``app``, a small icon box left
of the front door, in the margin beside the bands: both hand mail to an MSA) and, at the strip's right end, the outside world (``internet``, a cloud)
with its mailbox inside it (a pill).  Where the strip lacks room for them at their least widths the
channel under them widens (the submission channel for the application, the local channel for the
cloud, so the answer area keeps its room).  Their edges (a host to the cloud, the application to an
MSA, the cloud to its mailbox, that mailbox to the front door) are drawn only while a hop uses them;
in ``columns`` their routes are listed apart, under ``outer`` (``{"src", "dst", "points"}``), so the
page draws the hop along them: up the corridor's right edge and along the strip's channel to the
cloud, down a lane left of the MSA column from the application.

Sizes: everything is placed at metric scale 1 in a virtual canvas of the screen's shape; ``e`` =
screen / canvas.  When ``e`` >= 1 the metrics grow with it (to ``MAX_SCALE``) and the canvas is the
screen; otherwise the view box is larger than the screen and the browser scales the drawing down by
``e`` (``scale`` is the metric scale, ``fit`` the on-screen factor).  Names are in natural order
(d2 before d10).  Node ids are the graph's ids (:mod:`simulator.nodes`); labels are short (the
domain is written on the band).  The pieces: layout_parts.py (metrics, bands, one band's nodes)
and layout_edges.py (ports, lanes, routes).
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable, Iterable

if TYPE_CHECKING:                   # only annotations here: networkx loads when a graph is built
    import networkx as nx

from .. import nodes as ids
from .layout_edges import _channel_counts, _Edges, _mid
from .layout_parts import (CARD_COLUMNS, COLUMNS, FEW, LEGIBLE, MAX_SCALE, MAX_SLOTS, _SMALL_CHAR,
                           _STRIP_COLUMN, Box, _Band, _band_height, _BandPlace, _bands, _channel_w, _cloud,
                           _label_w, _Metrics, _node, _place_band, _rounded, _scaled, _side, _widths,
                           natural_key, short_label)

__all__ = ["layout", "unfold", "label_px", "natural_key", "short_label", "COLUMNS", "LEGIBLE"]


# -- columns ---------------------------------------------------------------------------------------
class _Columns:
    """The ``columns`` arrangement: shared role columns, bands stacked, the corridor between."""

    def __init__(self, graph: nx.DiGraph, bands: list[_Band], loose: list[str]) -> None:
        self.graph, self.bands, self.loose = graph, bands, loose
        self.counts = _channel_counts(graph, bands, cross=True)

    def gaps(self, m: _Metrics, widths: dict[str, float]) -> dict[str, float]:
        dns_room = 96 * m.s + 2 * m.pitch
        gaps = {"sub": _channel_w(self.counts["sub"], m),
                "corr": max(dns_room, (self.counts["corr"] + 1) * m.pitch + 2 * m.pitch),
                "local": _channel_w(self.counts["local"], m),
                "deliver": _channel_w(self.counts["deliver"], m)}
        side = _side(self.bands, m)
        if ids.INTERNET in self.graph:     # the answer area and the cloud right of the DNS server
            room = (widths["mx"] + gaps["local"] + widths["mda"] + gaps["deliver"] + widths["mailbox"]
                    + side - 2 * m.s + m.pitch - 10 * m.s)
            gaps["local"] += max(0.0, 24 * m.small + 12 * m.s + m.cloud_min_w - room)
        return gaps

    def lead(self, m: _Metrics) -> float:
        """Room left of the bands for the application, left of the front door (0 without one)."""
        if ids.APP not in self.graph:
            return 0.0
        return max(0.0, m.door_min_w + 6 * m.s - (_side(self.bands, m) + m.margin - 4 * m.s))

    def natural(self, m: _Metrics) -> tuple[float, float]:
        widths = _widths(self.graph, self.bands, m, strip=True)
        gaps = self.gaps(m, widths)
        width = (2 * m.margin + 2 * _side(self.bands, m) + self.lead(m) + sum(widths[c] for c in CARD_COLUMNS)
                 + sum(gaps.values()))
        height = (m.margin + m.header_h + m.strip_h + sum(_band_height(b, m) for b in self.bands)
                  + max(0, len(self.bands) - 1) * m.band_gap + (m.node_h + m.band_gap if self.loose else 0))
        return width, height

    def place(self, m: _Metrics, view_w: float, view_h: float) -> dict[str, Any]:
        graph, bands = self.graph, self.bands
        widths = _widths(graph, bands, m, strip=True)
        gaps = self.gaps(m, widths)
        nat_w, nat_h = self.natural(m)
        spare_w = max(0.0, view_w - nat_w)
        grow = min(spare_w / 4, 90 * m.s)
        gaps = {k: v + grow for k, v in gaps.items()}
        side = _side(bands, m)
        lead = self.lead(m)
        used_w = 2 * side + lead + sum(widths[c] for c in CARD_COLUMNS) + sum(gaps.values())
        x = (view_w - used_w) / 2 + lead + side
        cols: dict[str, dict[str, float]] = {}
        after = {"mua": "sub", "msa": "corr", "mx": "local", "mda": "deliver", "mailbox": ""}
        for c in CARD_COLUMNS:
            cols[c] = {"x": x, "w": widths[c]}
            x += widths[c] + (gaps[after[c]] if after[c] else 0)
        corr_l, corr_r = cols["msa"]["x"] + widths["msa"], cols["mx"]["x"]
        cols["net"] = {"x": corr_l + m.pitch, "w": corr_r - corr_l - 2 * m.pitch}
        rows_total = sum(b.rows for b in bands) or 1
        spare_h = max(0.0, view_h - nat_h)
        row_extra = min(spare_h * 0.5 / rows_total, 18 * m.s)
        band_gap = m.band_gap + min(max(0.0, spare_h - row_extra * rows_total) / max(1, len(bands)), 30 * m.s)
        used_h = (m.header_h + m.strip_h + sum(_band_height(b, m, row_extra) for b in bands)
                  + max(0, len(bands) - 1) * band_gap)
        top = max(m.margin * 0.5, (view_h - used_h) / 2)
        strip_y = top + m.header_h
        placed: dict[str, Box] = {}
        box_left = cols["mua"]["x"] - side + 2 * m.s
        box_right = cols["mailbox"]["x"] + widths["mailbox"] + side - 2 * m.s
        # the strip: front door and outside above their columns, DNS atop the corridor, the answer area
        box_y = strip_y + (m.dns_h - m.strip_box_h) / 2
        for node, column in _STRIP_COLUMN.items():
            if node in graph:
                placed[node] = _node(graph, node, cols[column]["x"], box_y, cols[column]["w"], m.strip_box_h)
        if ids.APP in graph:               # the application left of the front door, as wide as the margin allows
            app_w = min(m.door_w, max(m.door_min_w, cols["mua"]["x"] - 6 * m.s - 2 * m.s))
            placed[ids.APP] = _node(graph, ids.APP, cols["mua"]["x"] - 6 * m.s - app_w, box_y, app_w, m.strip_box_h)
        dns_box = None
        if ids.DNS in graph:
            placed[ids.DNS] = _node(graph, ids.DNS, cols["net"]["x"], strip_y, cols["net"]["w"], m.dns_h)
            dns_box = placed[ids.DNS]
        answer_x = (dns_box["x"] + dns_box["w"] if dns_box else cols["msa"]["x"] + widths["msa"]) + 10 * m.s
        answer_right = box_right
        if ids.INTERNET in graph:          # the outside world at the strip's right end
            # the answer area's words come first: the cloud narrows (to its least) before it gets under 27 em
            cloud_w = min(m.cloud_w, max(m.cloud_min_w, box_right - answer_x - 27 * m.small - 12 * m.s))
            answer_right = _cloud(graph, m, box_right - cloud_w, strip_y, placed, cloud_w)["x"] - 10 * m.s
        # beside the strip and the column titles, down to the first band's first row (its name is
        # written at its left, under the front door)
        answer = {"x": answer_x, "y": top + 2 * m.s, "w": answer_right - answer_x,
                  "h": m.answer_h + (m.band_top - 6 * m.s if bands else 0)}
        lanes: dict[tuple[str, str], float] = {}
        rings: dict[tuple[str, str], int] = {}
        boxes = []
        y = strip_y + m.strip_h
        for band in bands:
            at = _BandPlace(cols, y, box_left, box_right, row_extra)
            boxes.append(_place_band(graph, band, at, m, placed, lanes, rings))
            y += _band_height(band, m, row_extra) + band_gap
        for i, node in enumerate(self.loose):             # nodes of an unknown kind: a row under the bands
            placed[node] = _node(graph, node, box_left + i * 112 * m.s, y, 104 * m.s, m.node_h)
        channel_y = strip_y + (m.dns_h + m.strip_h) / 2
        router = _Edges(graph, placed, bands, m, lambda n: cols, lanes, rings, lambda n: side, cross=True,
                        channel_y=channel_y)
        outside = {"x": cols["mua"]["x"], "y": strip_y,
                   "w": cols["msa"]["x"] + widths["msa"] - cols["mua"]["x"], "h": m.strip_h - 14 * m.s}
        return {
            "mode": "columns",
            "columns": [{"key": c, "x": cols[c]["x"], "w": cols[c]["w"], "cx": cols[c]["x"] + cols[c]["w"] / 2,
                         "y": top + m.header_h * 0.62} for c in COLUMNS],
            "domains": boxes, "outside": outside, "answer": answer,
            "nodes": list(placed.values()), "edges": router.routes(), "outer": router.outer(),
            "strip_bottom": strip_y + m.strip_h, "gutter": band_gap,
        }


# -- cards: grid and fold --------------------------------------------------------------------------
class _Cards:
    """Every domain a card with its own five columns (the same widths for all cards)."""

    def __init__(self, graph: nx.DiGraph, bands: list[_Band]) -> None:
        self.graph, self.bands = graph, bands
        self.counts = _channel_counts(graph, bands, cross=False)
        self._widths: dict[float, dict[str, float]] = {}
        self._sizes: dict[float, tuple[float, float]] = {}

    def cols(self, m: _Metrics, left: float) -> dict[str, dict[str, float]]:
        if m.s not in self._widths:
            self._widths[m.s] = _widths(self.graph, self.bands, m, strip=False)
        widths = self._widths[m.s]
        gaps = {"mua": _channel_w(self.counts["sub"], m), "msa": _channel_w(self.counts["corr"], m),
                "mx": _channel_w(self.counts["local"], m), "mda": _channel_w(self.counts["deliver"], m), "mailbox": 0}
        x = left + _side(self.bands, m)
        cols = {}
        for c in CARD_COLUMNS:
            cols[c] = {"x": x, "w": widths[c]}
            x += widths[c] + gaps[c]
        return cols

    def size(self, m: _Metrics) -> tuple[float, float]:
        if m.s not in self._sizes:
            cols = self.cols(m, 0.0)
            w = cols["mailbox"]["x"] + cols["mailbox"]["w"] + _side(self.bands, m)
            h = max([_band_height(b, m) for b in self.bands] + [m.node_h])
            self._sizes[m.s] = (w, h)
        return self._sizes[m.s]

    def card(self, band: _Band, m: _Metrics, x: float, y: float) -> tuple[Box, dict[str, Box], list[dict[str, Any]]]:
        """One card at (x, y): its box, its nodes, its own edges (routed inside it)."""
        cols = self.cols(m, x)
        w, _ = self.size(m)
        side = _side(self.bands, m)
        placed: dict[str, Box] = {}
        lanes: dict[tuple[str, str], float] = {}
        rings: dict[tuple[str, str], int] = {}
        box = _place_band(self.graph, band, _BandPlace(cols, y, x + 2 * m.s, x + w - 2 * m.s), m, placed, lanes, rings)
        sub = _induced(self.graph, placed)
        router = _Edges(sub, placed, [band], m, lambda n: cols, lanes, rings, lambda n: side, cross=False)
        edges = [e for e in router.routes() if not e.get("demand")]
        return box, placed, edges


def _induced(graph: nx.DiGraph, keep: Iterable[str]) -> nx.DiGraph:
    """The graph on ``keep``, in the graph's own node and edge orders.  (networkx's ``subgraph`` view
    iterates a few nodes of many in the order of a set, by hash: a big world's layout then changed
    with ``PYTHONHASHSEED``, from one start of app.py to the next.)"""
    keep = set(keep)
    sub = type(graph)()
    sub.add_nodes_from((node, attrs) for node, attrs in graph.nodes(data=True) if node in keep)
    sub.add_edges_from((u, v, attrs) for u, v, attrs in graph.edges(data=True) if u in keep and v in keep)
    return sub


_ROW = (ids.APP, ids.FRONT, ids.OUTSIDE)      # the strip row's boxes left of DNS, in order


def _row_w(graph: nx.DiGraph, node: str, m: _Metrics) -> float:
    return max(_label_w(graph, node, m), (m.door_w if node == ids.APP else 120 * m.s))


def _strip_row(graph: nx.DiGraph, m: _Metrics, left: float, right: float, y: float) -> tuple[dict[str, Box], Box]:
    """The strip of ``grid`` and ``fold``: the application, front door, outside, DNS, the answer area
    and the outside world's cloud in a row."""
    placed: dict[str, Box] = {}
    x = left
    answer_y = y
    y += (m.top_h - m.dns_h) / 2
    box_y = y + (m.dns_h - m.strip_box_h) / 2
    for node in _ROW:
        if node in graph:
            w = _row_w(graph, node, m)
            placed[node] = _node(graph, node, x, box_y, w, m.strip_box_h)
            x += w + (8 * m.s if node == ids.APP else m.gap)
    if ids.DNS in graph:
        placed[ids.DNS] = _node(graph, ids.DNS, x, y, 120 * m.s, m.dns_h)
        x += 120 * m.s
    if ids.INTERNET in graph:
        right = _cloud(graph, m, right - m.cloud_w, y, placed)["x"] - 10 * m.s
    answer = {"x": x + 10 * m.s, "y": answer_y, "w": right - x - 10 * m.s, "h": m.answer_h + m.gutter - 4 * m.s}
    return placed, answer


def _strip_min_w(graph: nx.DiGraph, m: _Metrics) -> float:
    w = sum(_row_w(graph, n, m) + (8 * m.s if n == ids.APP else m.gap) for n in _ROW if n in graph)
    cloud = m.cloud_w + 10 * m.s if ids.INTERNET in graph else 0.0
    return w + 120 * m.s + 10 * m.s + m.answer_min_w + cloud


def _chip_w(bands: list[_Band], m: _Metrics) -> float:
    return max([len(b.domain) * _SMALL_CHAR + 30 for b in bands] + [70]) * m.s


def _search(fits: Callable[[float], bool], lo: float = 0.15, hi: float = MAX_SCALE) -> float:
    """The largest on-screen factor e in [lo, hi] for which ``fits(e)`` holds (monotone)."""
    if fits(hi):
        return hi
    if not fits(lo):
        return lo
    for _ in range(28):
        mid = (lo + hi) / 2
        if fits(mid):
            lo = mid
        else:
            hi = mid
    return lo


@dataclass(slots=True)
class _FoldPlan:
    e: float
    slots: int
    slot_cols: int
    chips_right: bool


class _Arranger:
    """Choose among columns, grid and fold, and place."""

    def __init__(self, graph: nx.DiGraph, width: float, height: float) -> None:
        self.graph, self.width, self.height = graph, width, height
        self.bands, self.loose = _bands(graph)
        self.cards = _Cards(graph, self.bands)
        self.m1 = _Metrics(1.0)

    # -- how large each arrangement can be ------------------------------------------------------
    def columns_e(self) -> float:
        w1, h1 = _Columns(self.graph, self.bands, self.loose).natural(self.m1)
        return min(self.width / w1, self.height / h1, MAX_SCALE)

    def grid_shape(self, n: int, cw: float, ch: float, e: float) -> int | None:
        """Card columns that fit n cards into the virtual canvas at e (None: none fit)."""
        m = self.m1
        vw, vh = self.width / e, self.height / e
        avail = vw - 2 * m.margin
        nc = int((avail + m.gutter) // (cw + m.gutter))
        if nc < 1:
            return None
        for c in range(1, min(nc, n) + 1):
            rows = math.ceil(n / c)
            if 2 * m.margin + m.top_h + m.gutter + rows * ch + (rows - 1) * m.gutter <= vh:
                return c
        return None

    def grid_e(self) -> tuple[float, int]:
        m, n = self.m1, len(self.bands)
        cw, ch = self.cards.size(m)
        strip_w = _strip_min_w(self.graph, m)

        def fits(e: float) -> bool:
            return self.width / e - 2 * m.margin >= strip_w and self.grid_shape(n, cw, ch, e) is not None
        e = _search(fits)
        return e, self.grid_shape(n, cw, ch, e) or 1

    def fold_fits(self, e: float, k: int, chips_right: bool) -> int | None:
        """Slot columns for k slots and a chip for every domain at e (None: it does not fit)."""
        m, n = self.m1, len(self.bands)
        cw, ch = self.cards.size(m)
        vw, vh = self.width / e, self.height / e
        avail_w = vw - 2 * m.margin
        avail_h = vh - 2 * m.margin - m.top_h - m.gutter
        if avail_w < _strip_min_w(self.graph, m) or avail_w < cw:
            return None
        chip_w, chip_step = _chip_w(self.bands, m), m.chip_h + m.chip_gap
        for c in range(min(k, int((avail_w + m.gutter) // (cw + m.gutter))), 0, -1):
            rows = math.ceil(k / c)
            slots_h = rows * ch + (rows - 1) * m.gutter
            if chips_right:
                chips_w = avail_w - c * cw - c * m.gutter
                per_row = int((chips_w + m.chip_gap) // (chip_w + m.chip_gap))
                if per_row < 1:
                    continue
                chips_h = math.ceil(n / per_row) * chip_step
                if max(slots_h, chips_h) <= avail_h:
                    return c
            else:
                per_row = max(1, int((avail_w + m.chip_gap) // (chip_w + m.chip_gap)))
                chips_h = math.ceil(n / per_row) * chip_step
                if slots_h + m.gutter + chips_h <= avail_h:
                    return c
        return None

    def fold_plan(self) -> _FoldPlan:
        """The most slots (up to MAX_SLOTS) that keep the cards legible; two (a sender and a
        recipient) even when they do not: the teacher may zoom."""
        n = len(self.bands)
        least = min(2, n)
        for k in range(min(n, MAX_SLOTS), least - 1, -1):
            plan = self.fold_best(k)
            if plan is not None and (plan.e >= LEGIBLE or k == least):
                return plan
        return self.fold_best(1) or _FoldPlan(0.15, 1, 1, False)

    def fold_best(self, k: int) -> _FoldPlan | None:
        plan = None
        for right in (False, True):
            e = _search(lambda e: self.fold_fits(e, k, right) is not None)
            c = self.fold_fits(e, k, right)
            if c is not None and (plan is None or e > plan.e):
                plan = _FoldPlan(e, k, c, right)
        return plan

    # -- placing ------------------------------------------------------------------------------
    def layout(self) -> dict[str, Any]:
        e_col = self.columns_e()
        if e_col >= LEGIBLE or len(self.bands) <= FEW:
            return self.finish(self.columns(e_col), e_col)
        e_grid, nc = self.grid_e()
        if e_grid >= LEGIBLE:
            return self.finish(self.grid(e_grid, nc), e_grid)
        plan = self.fold_plan()
        return self.finish(self.fold(plan), plan.e)

    def canvas(self, e: float) -> tuple[float, float]:
        """The virtual canvas, at metric scale 1, of the screen's shape for the on-screen factor e."""
        return self.width / e, self.height / e

    def finish(self, data: dict[str, Any], e: float) -> dict[str, Any]:
        """Scale a roomy layout up to the screen (metric scale e), or keep the larger view box."""
        view_w, view_h = self.canvas(e)
        s = 1.0
        if e > 1.0:
            s = e
            data = _scaled(data, s)
            view_w, view_h = self.width, self.height
        m = _Metrics(s)
        data.update({"width": view_w, "height": view_h, "scale": round(s, 3),
                     "fit": round(min(1.0, self.width / view_w, self.height / view_h), 4),
                     "font": m.font, "small": m.small,
                     "request": {"width": self.width, "height": self.height}})
        return _rounded(data)

    def columns(self, e: float) -> dict[str, Any]:
        vw, vh = self.canvas(e)
        return _Columns(self.graph, self.bands, self.loose).place(self.m1, vw, vh)

    def grid(self, e: float, nc: int) -> dict[str, Any]:
        m = self.m1
        vw, vh = self.canvas(e)
        cw, ch = self.cards.size(m)
        rows = math.ceil(len(self.bands) / nc)
        used_w = nc * cw + (nc - 1) * m.gutter
        spare_h = vh - (2 * m.margin + m.top_h + m.gutter + rows * ch + (rows - 1) * m.gutter)
        gut_y = m.gutter + min(max(0.0, spare_h) / (rows + 1), 40 * m.s)
        left = max(m.margin, (vw - used_w) / 2)
        placed, answer = _strip_row(self.graph, m, left, left + used_w, m.margin)
        strip_bottom = m.margin + m.top_h
        boxes, edges = [], []
        for i, band in enumerate(self.bands):
            r, c = divmod(i, nc)
            box, nodes, own = self.cards.card(band, m, left + c * (cw + m.gutter), strip_bottom + gut_y + r * (ch + gut_y))
            boxes.append(box)
            placed.update(nodes)
            edges.extend(own)
        edges.extend(self.strip_edges(placed))
        return {"mode": "grid", "columns": [], "domains": boxes, "answer": answer, "nodes": list(placed.values()),
                "edges": edges, "strip_bottom": strip_bottom, "gutter": min(m.gutter, gut_y)}

    def fold(self, plan: _FoldPlan) -> dict[str, Any]:
        m = self.m1
        vw, vh = self.canvas(plan.e)
        cw, ch = self.cards.size(m)
        rows = math.ceil(plan.slots / plan.slot_cols)
        chip_w, chip_step = _chip_w(self.bands, m), m.chip_h + m.chip_gap
        avail_w = vw - 2 * m.margin
        placed, answer = _strip_row(self.graph, m, m.margin, vw - m.margin, m.margin)
        strip_bottom = m.margin + m.top_h
        slots_w = plan.slot_cols * cw + (plan.slot_cols - 1) * m.gutter
        slots_left = m.margin if plan.chips_right else m.margin + (avail_w - slots_w) / 2
        top = strip_bottom + m.gutter
        slots = [{"x": slots_left + (i % plan.slot_cols) * (cw + m.gutter), "y": top + (i // plan.slot_cols) * (ch + m.gutter),
                  "w": cw, "h": ch} for i in range(plan.slots)]
        if plan.chips_right:
            chips_left, chips_top = slots_left + slots_w + m.gutter, top
            per_row = max(1, int((vw - m.margin - chips_left + m.chip_gap) // (chip_w + m.chip_gap)))
        else:
            chips_left, chips_top = m.margin, top + rows * ch + (rows - 1) * m.gutter + m.gutter
            per_row = max(1, int((avail_w + m.chip_gap) // (chip_w + m.chip_gap)))
        chips = []
        for i, band in enumerate(self.bands):
            r, c = divmod(i, per_row)
            chips.append({"name": band.domain, "id": ids.domain(band.domain), "chip": True,
                          "x": chips_left + c * (chip_w + m.chip_gap), "y": chips_top + r * chip_step,
                          "w": chip_w, "h": m.chip_h})
        cards = {}
        for band in self.bands:
            box, nodes, own = self.cards.card(band, m, 0.0, 0.0)
            cards[band.domain] = {"box": box, "nodes": list(nodes.values()), "edges": own}
        return {"mode": "fold", "columns": [], "domains": chips, "answer": answer, "nodes": list(placed.values()),
                "edges": self.strip_edges(placed), "slots": slots, "cards": cards,
                "strip_bottom": strip_bottom, "gutter": m.gutter}

    def strip_edges(self, placed: dict[str, Box]) -> list[dict[str, Any]]:
        out = []
        for src, dst in ((ids.OUTSIDE, ids.DNS), (ids.OUTSIDE, ids.FRONT)):
            if src in placed and dst in placed and self.graph.has_edge(src, dst):
                a, b = placed[src], placed[dst]
                points = [_mid(a, "left"), _mid(b, "right")] if dst == ids.FRONT else [_mid(a, "right"), _mid(b, "left")]
                out.append({"src": src, "dst": dst, "kind": self.graph.edges[src, dst].get("kind", ""),
                            "points": [list(p) for p in points]})
        return out




def layout(graph: nx.DiGraph, width: float = 1200, height: float = 640) -> dict[str, Any]:
    """Place every node of ``graph`` for a drawing area of ``width`` x ``height`` CSS pixels."""
    width = min(max(float(width), 480.0), 4096.0)
    height = min(max(float(height), 320.0), 4096.0)
    return _Arranger(graph, width, height).layout()


def unfold(data: dict[str, Any], focus: Iterable[str]) -> list[Box]:
    """The nodes of a ``fold`` layout with the ``focus`` domains in its slots, in order (what the
    page draws; the page does the same translation in diagram.js)."""
    out = [dict(n) for n in data["nodes"]]
    for slot, domain in zip(data.get("slots", []), focus):
        card = data["cards"][domain]
        for n in card["nodes"]:
            out.append({**n, "x": round(n["x"] + slot["x"], 1), "y": round(n["y"] + slot["y"], 1)})
    return out


def label_px(data: dict[str, Any]) -> float:
    """How high the label font is on the screen, in CSS pixels."""
    return data["font"] * data["fit"]
