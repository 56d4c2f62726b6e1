"""The diagram's server-side layout (simulator/web/layout.py), as a pure function: the DNS answer
area never lies on a node, names in natural order, every idle edge followable (no two share a
stretch of line, no shared trunk), big worlds in a grid or folded into chips with slots, and labels
that stay legible on a projector (1280x720: a diagram area of about 880x600 CSS px; 1920x1080: about
1320x930).
"""
from __future__ import annotations

import math
from pathlib import Path

import pytest

from diagram_helpers import big_scenario
from simulator import nodes
from simulator.scenario import load_scenario, parse_scenario
from simulator.web.layout import LEGIBLE, label_px, layout, natural_key, unfold
from simulator.world import World

ROOT = Path(__file__).resolve().parent.parent
SIZES = [(880, 600), (1320, 930), (700, 460)]        # 720p, 1080p, 720p at 125 % in presentation mode
CLASSROOM = ["default", "mx-failover", "bounce", "04-primary-mx-down", "05-backup-mx-waits", "16-three-domains"]


def big_world(count: int, order=None) -> World:
    """``count`` domains d1.test … of three hosts each, listed d1, d10, d11 … (a string sort's order)."""
    return World(parse_scenario(big_scenario(count, order), "big.yaml"))


def classroom(name: str) -> World:
    return World(load_scenario(ROOT / "scenarios" / f"{name}.yaml"))


def overlaps(a: dict, b: dict) -> bool:
    return a["x"] < b["x"] + b["w"] and b["x"] < a["x"] + a["w"] and a["y"] < b["y"] + b["h"] and b["y"] < a["y"] + a["h"]


def drawn_nodes(data: dict) -> list[dict]:
    """The nodes the page draws; in a fold, with the first domains unfolded into every slot."""
    if data["mode"] != "fold":
        return data["nodes"]
    names = [d["name"] for d in data["domains"]]
    return unfold(data, names[:len(data["slots"])])


# -- natural order -----------------------------------------------------------------------------------
def test_natural_key_puts_d2_before_d10():
    names = ["d10.test", "d2.test", "d1.test", "alpha.test", "d11.test", "mx10.d2.test", "mx9.d2.test"]
    assert sorted(names, key=natural_key) == ["alpha.test", "d1.test", "d2.test", "d10.test", "d11.test",
                                              "mx9.d2.test", "mx10.d2.test"]


@pytest.mark.parametrize("count", [12, 50])
def test_domains_are_in_natural_order(count):
    world = big_world(count)
    assert list(world.domains)[:3] == ["d1.test", "d10.test", "d11.test"]        # as the scenario lists them
    data = layout(world.graph(), 1320, 930)
    assert [d["name"] for d in data["domains"]] == [f"d{i}.test" for i in range(1, count + 1)]


# -- the DNS answer area ----------------------------------------------------------------------------
@pytest.mark.parametrize("size", SIZES)
@pytest.mark.parametrize("name", CLASSROOM + ["big5", "big12", "big50"])
def test_the_dns_answer_area_covers_no_node_and_has_room(name, size):
    world = big_world(int(name[3:])) if name.startswith("big") else classroom(name)
    data = layout(world.graph(), *size)
    area = data["answer"]
    assert 0 <= area["x"] and area["x"] + area["w"] <= data["width"] + 0.5
    assert 0 <= area["y"] and area["y"] + area["h"] <= data["height"] + 0.5
    for node in drawn_nodes(data):
        assert not overlaps(area, node), (node["id"], area)
    for chip in data["domains"] if data["mode"] == "fold" else []:
        assert not overlaps(area, chip), chip["name"]
    # room for the question, the records and what the asker kept: 4 lines of the small font, 24 em wide
    assert area["h"] >= 4 * 1.3 * data["small"] and area["w"] >= 24 * data["small"]


# -- followable edges --------------------------------------------------------------------------------
def segments(points):
    for (x1, y1), (x2, y2) in zip(points, points[1:]):
        if abs(y1 - y2) < 0.01:
            yield "h", y1, min(x1, x2), max(x1, x2)
        elif abs(x1 - x2) < 0.01:
            yield "v", x1, min(y1, y2), max(y1, y2)


def shared_stretches(edges):
    """Pairs of idle edges that run on top of each other for more than 2 px."""
    out = []
    segs = [(i, seg) for i, e in enumerate(edges) for seg in segments(e["points"])]
    for k, (i, (d1, c1, a1, b1)) in enumerate(segs):
        for j, (d2, c2, a2, b2) in segs[k + 1:]:
            if i != j and d1 == d2 and abs(c1 - c2) < 1.0 and min(b1, b2) - max(a1, a2) > 2:
                out.append((edges[i]["src"], edges[i]["dst"], edges[j]["src"], edges[j]["dst"]))
    return out


@pytest.mark.parametrize("size", SIZES[:2])
@pytest.mark.parametrize("name", CLASSROOM)
def test_no_two_idle_edges_share_a_line(name, size):
    data = layout(classroom(name).graph(), *size)
    assert data["mode"] == "columns"
    idle = [e for e in data["edges"] if not e.get("demand")]
    assert shared_stretches(idle) == []
    # no single trunk: every SMTP and DNS edge between domains has its own vertical stretch
    crossing = [e for e in idle if e["kind"] in ("smtp", "dns")]
    verticals = {round(c, 1) for e in crossing for d, c, a, b in segments(e["points"]) if d == "v" and b - a > 1}
    assert len(verticals) >= len([e for e in crossing if any(d == "v" for d, *_ in segments(e["points"]))])


def test_the_edges_of_the_front_door_and_the_outside_are_drawn_only_when_used():
    data = layout(classroom("default").graph(), 880, 600)
    for e in data["edges"]:
        strip = (e["src"], e["dst"]) in ((nodes.OUTSIDE, nodes.DNS), (nodes.OUTSIDE, nodes.FRONT))
        touches = nodes.FRONT in (e["src"], e["dst"]) or e["src"] == nodes.OUTSIDE
        assert bool(e.get("demand")) == (touches and not strip), e


def test_retrieval_has_one_ring_road_per_user_and_server():
    data = layout(classroom("default").graph(), 880, 600)
    rings = [e for e in data["edges"] if e["kind"] == "retrieve" and e["dst"].startswith("mua:")
             and e["dst"].endswith("@alpha.test")]
    assert len(rings) == 4 and len({e["via"] for e in rings}) == 2              # alice, carol × IMAP, POP3
    lanes = {e["points"][2][1] for e in rings}
    assert len(lanes) == 4                                                     # a lane each under the band


# -- big worlds ------------------------------------------------------------------------------------
@pytest.mark.parametrize("count", [12, 50])
@pytest.mark.parametrize("size", SIZES[:2])
def test_a_big_world_uses_the_width_in_a_grid_or_a_fold(count, size):
    data = layout(big_world(count).graph(), *size)
    assert data["mode"] in ("grid", "fold")
    boxes = data["domains"] + data.get("slots", [])
    assert len(data["domains"]) == count
    columns = {round(b["x"]) for b in boxes}
    assert len(columns) >= 2                                                   # not one column of bands
    used = max(b["x"] + b["w"] for b in boxes) - min(b["x"] for b in boxes)
    assert used >= 0.75 * data["width"]
    for i, a in enumerate(boxes):
        assert 0 <= a["x"] and a["x"] + a["w"] <= data["width"] + 0.5 and a["y"] + a["h"] <= data["height"] + 0.5
        for b in boxes[i + 1:]:
            assert not overlaps(a, b), (a, b)
    strip = [n for n in data["nodes"] if n["id"] in (nodes.DNS, nodes.FRONT, nodes.OUTSIDE)]
    assert len(strip) == 3 and all(not overlaps(n, b) for n in strip for b in boxes)


@pytest.mark.parametrize("count", [12, 50])
def test_in_a_fold_the_domains_a_letter_crosses_are_legible_at_720p(count):
    """At 1280x720 the sender's and the recipient's domains unfold into two slots, their labels at
    least 11 CSS px high on the screen; every node of theirs inside its slot, none on another."""
    data = layout(big_world(count).graph(), 880, 600)
    assert data["mode"] == "fold" and len(data["slots"]) >= 2
    assert label_px(data) >= 11 and data["fit"] >= LEGIBLE - 1e-9
    placed = unfold(data, ["d7.test", f"d{count - 1}.test"])
    mine = [n for n in placed if n.get("domain") in ("d7.test", f"d{count - 1}.test")]
    assert {n["id"] for n in mine} >= {nodes.mta("smtp.d7.test"), nodes.mta(f"mx.d{count - 1}.test")}
    slots = data["slots"][:2]
    for n in mine:
        assert any(s["x"] <= n["x"] and n["x"] + n["w"] <= s["x"] + s["w"] and
                   s["y"] <= n["y"] and n["y"] + n["h"] <= s["y"] + s["h"] for s in slots), n["id"]
    for i, a in enumerate(placed):
        for b in placed[i + 1:]:
            assert not overlaps(a, b), (a["id"], b["id"])
    for chip in data["domains"]:
        assert all(not overlaps(chip, s) for s in data["slots"])


def test_a_card_template_holds_its_own_edges_and_every_node_of_its_domain():
    world = big_world(12)
    graph = world.graph()
    data = layout(graph, 880, 600)
    card = data["cards"]["d3.test"]
    ids = {n["id"] for n in card["nodes"]}
    assert ids == {n for n, d in graph.nodes(data="domain") if d == "d3.test"}
    for e in card["edges"]:
        assert e["src"] in ids and e["dst"] in ids
        assert all(0 <= x <= card["box"]["x"] + card["box"]["w"] + 1 and 0 <= y <= card["box"]["h"] + 1
                   for x, y in e["points"])


@pytest.mark.parametrize("size", SIZES[:2])
@pytest.mark.parametrize("name", CLASSROOM)
def test_a_lesson_stays_in_columns_with_legible_labels(name, size):
    data = layout(classroom(name).graph(), *size)
    assert data["mode"] == "columns" and label_px(data) >= 12
    assert [c["key"] for c in data["columns"]] == ["mua", "msa", "net", "mx", "mda", "mailbox"]


def test_the_layout_of_fifty_domains_is_small_and_linear():
    """No edge list of n x m SMTP routes: the page routes those between cards itself."""
    data = layout(big_world(50).graph(), 880, 600)
    per_card = max(len(c["edges"]) for c in data["cards"].values())
    assert len(data["edges"]) <= 4 and per_card <= 20
    assert math.isclose(data["request"]["width"], 880) and math.isclose(data["request"]["height"], 600)
