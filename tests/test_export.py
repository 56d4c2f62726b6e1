"""Export: a run as one self-contained HTML file, and the world as a scenario file that loads again.

- the bundler (simulator/web/export_bundle.py): every module of static/js bundles; what it makes runs
  with the meaning of ES modules (checked in Chromium); what it cannot do faithfully is refused with
  the file and line;
- the exported page: hostile mail content stays data (it cannot leave its script element), the file
  has its own policy, the data the page starts from is right for a replay, a trace keeps one message;
- the scenario file: dump -> load gives the same domains, users, hosts, states, MX tables and faults;
- in the browser: a delivery exported, the server stopped, the file opened from file:// with every
  request that is not file: aborted and recorded, the replay drawn, a transcript read, the page in
  Russian; a lesson exported from the page and its narration replayed; the world saved from the page
  after an MX edit and a host down, and loaded back from the page.
"""
from __future__ import annotations

import base64
import hashlib
import json
import re
import urllib.request
from html.parser import HTMLParser
from pathlib import Path
from typing import Any, Iterator

import pytest

from conftest import make_config
from simulator import narrate
from simulator.narrate.markup import plain
from simulator.scenario import DEFAULT_SCENARIO, load_scenario, parse_scenario
from simulator.scenario.dump import dump_world, fault_yaml
from simulator.web import create_app
from simulator.web.export import embed_json, fault_versions, lesson_versions, mailbox_delta
from simulator.web.export_bundle import BundleError, bundle, parse_module
from simulator.world import World
from web_fixtures import Browserish, send_mail, serve, wait_until

ROOT = Path(__file__).resolve().parent.parent
JS = ROOT / "static" / "js"
ARTIFACTS = ROOT / "artifacts"
SCENARIOS = ROOT / "scenarios"
CHROMIUM = "/usr/bin/chromium"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
        "--disable-sync"]
EN = narrate.ui("en")
RU = narrate.ui("ru")
HOSTILE = "</script><script>alert(1)</script>"
HOSTILE_BODY = "</SCRIPT ><script>window.pwned=1</script>\n<!-- &amp; <img src=x onerror=window.pwned=2>\n"
HOPS = ["smtp.session", "dns.query", "smtp.session", "queue.relay", "mda.deliver"]


# -- a browser for the JS checks and the page ----------------------------------------------------------
@pytest.fixture(scope="module")
def chromium() -> Iterator[Any]:
    sync_api = pytest.importorskip("playwright.sync_api")
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: .ci/run installs Debian's chromium")
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
        yield browser
        browser.close()


@pytest.fixture(scope="module")
def js(chromium) -> Iterator[Any]:
    """run(code) evaluates a bundle on a blank page and returns what it left in globalThis.out."""
    context = chromium.new_context()
    context.route("**/*", lambda route: route.abort())
    page = context.new_page()

    def run(code: str) -> Any:
        page.goto("about:blank")
        return page.evaluate("code => { globalThis.out = []; new Function(code)(); return globalThis.out; }", code)
    yield run
    context.close()


def modules(tmp_path: Path, files: dict[str, str]) -> Path:
    root = tmp_path / "js"
    for name, text in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text, encoding="utf-8")
    return root


# -- the bundler -----------------------------------------------------------------------------------------
def all_modules() -> list[str]:
    return sorted(p.relative_to(JS).as_posix() for p in JS.rglob("*.js"))


@pytest.mark.parametrize("module", all_modules())
def test_every_module_of_static_js_bundles(module):
    code = bundle(JS, [module])
    assert f'__mf.define("{module}"' in code
    assert "</script" not in code.lower()


def test_the_exported_page_bundles_with_the_offline_wire():
    code = bundle(JS, ["offline/boot.js", "main.js"], {"api.js": "offline/api.js", "socket.js": "offline/socket.js"})
    defined = re.findall(r'__mf\.define\("([^"]+)"', code)
    assert "offline/api.js" in defined and "offline/socket.js" in defined and "main.js" in defined
    assert "socket.js" not in defined                      # the live wire is not in the file at all
    assert "api.js" in defined                             # the offline api builds on the real one
    assert code.rstrip().endswith('__mf.load("offline/boot.js");\n__mf.load("main.js");'.rstrip())


def test_the_offline_api_offers_everything_the_live_one_does():
    live = set(parse_module("api.js", (JS / "api.js").read_text(encoding="utf-8")).exports)
    offline = parse_module("offline/api.js", (JS / "offline" / "api.js").read_text(encoding="utf-8"))
    assert {"get", "call", "role", "hasWorld", "shared"} <= set(offline.exports)
    assert offline.stars == ["../api.js"]               # and the rest through export *
    assert live                                         # (the live one is read too)


def test_the_offline_modules_insert_only_text_and_open_no_connection():
    for path in (JS / "offline").glob("*.js"):
        text = path.read_text(encoding="utf-8")
        for sink in ("innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval(", "new Function",
                     "XMLHttpRequest", "WebSocket", "EventSource", "sendBeacon", "window.io", "import("):
            assert sink not in text, f"{path.name}: {sink}"


def test_bundled_modules_keep_their_meaning(tmp_path, js):
    root = modules(tmp_path, {
        "main.js": (
            'import "./side.js";\n'
            'import * as ns from "./lib/ns.js";\n'
            'import {double, NAME as name, Counter} from "./lib/ns.js";\n'
            'import greet, {late} from "./greet.js";\n'
            'import {again, renamed} from "./re.js";\n'
            'out.push("main", double(21), name, new Counter().n, greet("x"), late(), again(2), renamed);\n'
            'out.push(Object.keys(ns).sort().join(","));\n'
            'out.push(typeof module, this === undefined);\n'),
        "side.js": 'out.push("side");\n',
        "lib/ns.js": ('import {base} from "../base.js";\n'
                      'export const NAME = "ns";\n'
                      'export function double(n) { return n * base; }\n'
                      'export class Counter { constructor() { this.n = 7; } }\n'
                      'out.push("ns");\n'),
        "base.js": 'export const base = 2;\nout.push("base");\n',
        "greet.js": ('export default function greet(who) { return `hi ${who}`; }\n'
                     'let value = 1;\nexport {value as later};\n'
                     'export async function nothing() {}\n'
                     'export function late() { return value; }\n'),
        "re.js": 'export {double as again} from "./lib/ns.js";\nexport {NAME as renamed} from "./lib/ns.js";\n'
                 'export * from "./base.js";\n',
    })
    out = js(bundle(root, ["main.js"]))
    # dependencies first, in the order of the import statements, each once
    assert out[:4] == ["side", "base", "ns", "main"]
    assert out[4:11] == [42, "ns", 7, "hi x", 1, 4, "ns"]
    assert out[11] == "Counter,NAME,double"
    assert out[12:] == ["undefined", True]          # strict, no CommonJS leaking in


def test_export_star_and_substitutes(tmp_path, js):
    root = modules(tmp_path, {
        "main.js": 'import {get, kind, extra} from "./api.js";\nout.push(get(), kind(), extra());\n',
        "api.js": 'export function get() { return "live"; }\nexport function kind() { return "live-kind"; }\n'
                  'export const extra = () => "extra";\n',
        "offline/api.js": 'export * from "../api.js";\nexport function get() { return "offline"; }\n',
    })
    code = bundle(root, ["main.js"], {"api.js": "offline/api.js"})
    assert js(code) == ["offline", "live-kind", "extra"]


def test_a_script_end_in_a_module_cannot_close_the_inline_script(tmp_path, js):
    root = modules(tmp_path, {"main.js": 'out.push("a</script>b", "</SCRIPT >".length);\n'})
    code = bundle(root, ["main.js"])
    assert "</script" not in code.lower()
    assert js(code) == ["a</script>b", 10]


@pytest.mark.parametrize("files, message", [
    ({"main.js": 'import {x} from "./nope.js";\n'}, r"main\.js:1: imports './nope\.js', but there is no such module"),
    ({"main.js": '\n\nimport {nothing} from "./a.js";\n', "a.js": "export const something = 1;\n"},
     r"main\.js:3: imports 'nothing' from \./a\.js \(a\.js\), which does not export it"),
    ({"main.js": 'import {a} from "./a.js";\n', "a.js": 'import {b} from "./b.js";\nexport const a = 1;\n',
      "b.js": 'import {a} from "./a.js";\nexport const b = 2;\n'},
     r"circular import: main\.js -> a\.js -> b\.js -> a\.js|circular import: a\.js -> b\.js -> a\.js"),
    ({"main.js": 'import io from "socket.io-client";\n'}, r"main\.js:1: imports 'socket\.io-client': only our own modules"),
    ({"main.js": 'import {x} from "../outside.js";\n'}, r"main\.js:1: imports '\.\./outside\.js', which lies outside"),
    ({"main.js": 'const m = await import("./a.js");\n', "a.js": ""}, r"main\.js: import\(\) and import\.meta"),
    ({"main.js": 'export let count = 0;\nexport function up() { count += 1; }\n'},
     r"main\.js:1: the exported let 'count' is assigned again later"),
    ({"main.js": 'export const {a, b} = {a: 1, b: 2};\n'}, r"main\.js:1: an exported const needs a plain name"),
    ({"main.js": 'const s = "<!-- x";\n'}, r"'<!--'"),
])
def test_what_cannot_be_bundled_is_refused_with_the_place(tmp_path, files, message):
    with pytest.raises(BundleError, match=message):
        bundle(modules(tmp_path, files), ["main.js"])


def test_a_let_that_is_never_assigned_again_may_be_exported(tmp_path, js):
    root = modules(tmp_path, {"main.js": 'import {n} from "./a.js";\nout.push(n);\n',
                              "a.js": 'export let n = 3;\nconst m = n + 1; // n = 5 in a comment\n'})
    assert js(bundle(root, ["main.js"])) == [3]


# -- the embedded data -----------------------------------------------------------------------------------
def test_embedded_json_has_no_markup_characters_and_reads_back():
    value = {"subject": HOSTILE, "body": HOSTILE_BODY, "ru": "Привет", "n": [1, 2.5, None, True]}
    text = embed_json(value)
    assert not set(text) & set("<>&\u2028\u2029")
    assert json.loads(text) == value
    assert json.loads(embed_json({"x": [float("nan"), 1.5, float("inf")]})) == {"x": [None, 1.5, None]}


class Scripts(HTMLParser):
    """Every <script> element of a page with its attributes and text, as a browser tokenizes it."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.scripts: list[tuple[dict, str]] = []
        self.metas: list[dict] = []
        self._open: dict | None = None
        self._text: list[str] = []

    def handle_starttag(self, tag, attrs):
        if tag == "script":
            self._open, self._text = dict(attrs), []
        elif tag == "meta":
            self.metas.append(dict(attrs))

    def handle_data(self, data):
        if self._open is not None:
            self._text.append(data)

    def handle_endtag(self, tag):
        if tag == "script" and self._open is not None:
            self.scripts.append((self._open, "".join(self._text)))
            self._open = None


def sha256(text: str) -> str:
    return "sha256-" + base64.b64encode(hashlib.sha256(text.encode()).digest()).decode()


@pytest.fixture
def world_app(start_world):
    """A running world and its app (test client only): (world, app)."""
    apps = []

    def start(scenario=None, **config):
        world = start_world(scenario)
        app = create_app(world.stack, {"TESTING": True, **config})
        apps.append(app)
        return world, app
    yield start
    for app in apps:
        app.extensions["mailflow"].bridge.stop()


def exported(app, query: str = "") -> tuple[str, Any]:
    client = app.test_client()
    response = client.get(f"/api/export/run.html{query}")
    assert response.status_code == 200, response.get_data(as_text=True)
    return response.get_data(as_text=True), response


def data_of(page: str) -> dict:
    parser = Scripts()
    parser.feed(page)
    (found,) = [text for attrs, text in parser.scripts if attrs.get("id") == "mailflow-data"]
    return json.loads(found)


def test_hostile_mail_stays_inside_its_script_element(world_app):
    world, app = world_app()
    send_mail(world.stack, subject=HOSTILE, text=HOSTILE_BODY)
    world.wait_messages("bob@beta.test")
    world.events.wait_for(lambda e: e.kind == "mda.deliver")
    page, response = exported(app)
    parser = Scripts()
    parser.feed(page)
    # exactly two scripts: the data (never run) and the bundle; the hostile text opened none
    kinds = [(attrs.get("type"), attrs.get("id")) for attrs, _ in parser.scripts]
    assert kinds == [("application/json", "mailflow-data"), ("module", None)]
    assert page.lower().count("</script") == 2                 # nothing else can end a script element
    data, code = parser.scripts[0][1], parser.scripts[1][1]
    assert not set(data) & set("<>&\u2028\u2029")
    saved = json.loads(data)
    subjects = {(e.get("message") or {}).get("subject") for e in saved["events"]}
    assert HOSTILE in subjects                                # kept, as data
    transcript = "\n".join(line for e in saved["events"] for _, line in e["transcript"])
    assert "window.pwned=1" in transcript
    # the file's own policy: only this bundle runs, nothing is fetched
    (policy,) = [m["content"] for m in parser.metas if m.get("http-equiv") == "Content-Security-Policy"]
    assert f"script-src '{sha256(code)}';" in policy
    assert "default-src 'none'" in policy and "connect-src 'none'" in policy and "unsafe-inline" not in policy
    assert response.headers["Content-Security-Policy"] == policy
    # nothing is loaded from anywhere
    assert not re.search(r"<(script|link|img|iframe)\b[^>]*\b(src|href)=\"(?!data:)", page.split("<script type=")[0])


def test_the_saved_run_starts_before_its_first_hop(world_app):
    world, app = world_app()
    send_mail(world.stack, subject="Counted")
    world.wait_messages("bob@beta.test")
    world.events.wait_for(lambda e: e.kind == "mda.deliver")
    page, response = exported(app)
    assert re.fullmatch(r'attachment; filename="mailflow-default-\d{4}-\d\d-\d\d\.html"',
                        response.headers["Content-Disposition"])
    data = data_of(page)
    kinds = [e["kind"] for e in data["events"]]
    assert [k for k in kinds if k in HOPS] == HOPS
    assert data["start"]["mailboxes"]["bob@beta.test"] == 0          # before the delivery
    assert data["end"]["mailboxes"]["bob@beta.test"] == 1            # after it: as on disk
    assert data["start"]["last_seq"] == data["events"][0]["seq"] - 1
    assert data["end"]["last_seq"] == data["events"][-1]["seq"]
    assert data["state"]["role"] == "viewer" and data["state"]["listeners"] == []
    assert set(data["i18n"]) == {"en", "ru"} and data["i18n"]["ru"]["timeline.title"] == RU["timeline.title"]
    assert data["layouts"]["versions"] == [0] and all(item["layout"]["nodes"] for item in data["layouts"]["sets"][0])
    assert data["scenario"]["name"] == "default" and data["trace"] is None


def test_a_trace_keeps_one_message_renumbered(world_app):
    world, app = world_app()
    send_mail(world.stack, subject="First")
    world.wait_messages("bob@beta.test")
    world.stack.set_host_state("mx1.beta.test", False)
    send_mail(world.stack, subject="Second", to="carol@alpha.test")
    world.wait_messages("carol@alpha.test")
    second = world.events.wait_for(lambda e: e.kind == "mda.deliver" and e.dst == "mailbox:carol@alpha.test")[0]
    page, response = exported(app, f"?trace={second.trace}")
    assert response.headers["Content-Disposition"].endswith(f'-{second.trace}.html"')
    data = data_of(page)
    assert [e["seq"] for e in data["events"]] == list(range(1, len(data["events"]) + 1))
    assert {e["trace"] for e in data["events"]} == {second.trace}
    assert data["trace"]["id"] == second.trace and "Second" in data["trace"]["label"]
    # what happened before it is the starting point: bob's letter is there, mx1 is down
    assert data["start"]["mailboxes"]["bob@beta.test"] == 1
    assert data["end"]["mailboxes"]["carol@alpha.test"] == 1
    assert [c["kind"] for c in data["state"]["world_changes"]] == ["world.host"]
    assert all(c["seq"] == 0 for c in data["state"]["world_changes"])
    client = app.test_client()
    assert client.get("/api/export/run.html?trace=m-nothing").status_code == 404
    assert client.get("/api/export/run.html?trace=<x>").status_code == 400


def test_mx_tables_and_faults_follow_the_replay(world_app):
    world, app = world_app()
    stack = world.stack
    send_mail(stack, subject="Before")
    world.wait_messages("bob@beta.test")
    stack.set_mx("beta.test", [(10, "mx2.beta.test")])
    fault = parse_scenario(ODD.split("faults:")[0] + "faults:\n  - {size_limit: mx.alpha.test, size: 5000}\n",
                           "f.yaml").faults[0]
    stack.set_fault(fault)
    world.events.wait_for(lambda e: e.kind == "world.fault")
    data = data_of(exported(app)[0])
    kinds = [e["kind"] for e in data["events"]]
    assert kinds.count("world.mx") == 1 and kinds.count("world.fault") == 1
    # one layout set per MX table version, the SMTP edges following the table
    assert data["layouts"]["versions"] == [0, 1]
    edges = [{(e["src"], e["dst"]) for e in item[0]["layout"]["edges"] if e.get("kind") == "smtp"}
             for item in [data["layouts"]["sets"][0], data["layouts"]["sets"][1]]]
    assert ("mta:smtp.alpha.test", "mta:mx1.beta.test") in edges[0] - edges[1]
    # the faults before the first hop, then after the one change
    assert data["faults"][0] == [] and data["faults"][-1] == stack.faults() and len(data["faults"]) == 2
    assert data["lessons"] is None


def test_the_lesson_moves_on_with_the_replay():
    final = {"name": "l", "state": "finished", "current": 2, "steps": [
        {"index": 0, "action": "say", "say": {"en": "Hello", "ru": "Привет"}, "status": "done", "detail": None},
        {"index": 1, "action": "send", "say": None, "status": "done", "detail": None},
        {"index": 2, "action": "expect", "say": None, "status": "passed", "detail": {"found": 1}}]}
    events = [{"kind": "lesson.step", "data": {"index": 0}}, {"kind": "smtp.session", "data": {}},
              {"kind": "lesson.step", "data": {"index": 1}}, {"kind": "lesson.step", "data": {"index": 2}},
              {"kind": "lesson.expect", "data": {"index": 2, "passed": True}}, {"kind": "lesson.end", "data": {}}]
    versions = lesson_versions(final, events)
    assert len(versions) == 6 and versions[-1] == final
    assert versions[0]["state"] == "idle" and {s["status"] for s in versions[0]["steps"]} == {"pending"}
    assert [s["status"] for s in versions[2]["steps"]] == ["done", "running", "pending"]
    assert versions[2]["current"] == 1 and versions[2]["state"] == "running"
    assert [s["status"] for s in versions[4]["steps"]] == ["done", "done", "passed"]
    assert lesson_versions(None, events) is None


def test_faults_are_rewound_to_before_the_run():
    end = [{"kind": "greylist", "target": "mx.beta.test", "node": "mta:mx.beta.test", "delay": 0.0}]
    on = {"kind": "world.fault", "data": {"fault": "greylist", "target": "mx.beta.test", "node": "mta:mx.beta.test",
                                          "on": True, "delay": 0.0}}
    off = {"kind": "world.fault", "data": {"fault": "refuse", "target": "mx1.beta.test", "node": "mta:mx1.beta.test",
                                           "on": False}}
    versions = fault_versions(end, [on, off])
    assert [[f["kind"] for f in v] for v in versions] == [["refuse"], ["greylist", "refuse"], ["greylist"]]
    assert versions[-1] == end


def test_mailbox_counts_follow_the_pages_rules():
    deliver = {"kind": "mda.deliver", "status": "ok", "src": "mda:beta.test", "dst": "mailbox:bob@beta.test"}
    assert mailbox_delta(deliver) == ("bob@beta.test", 1)
    assert mailbox_delta({**deliver, "status": "failed"}) is None
    quit_ = {"kind": "pop3.quit", "src": "mailbox:bob@beta.test", "dst": "mua:bob@beta.test", "data": {"deleted": [1, 2]}}
    assert mailbox_delta(quit_) == ("bob@beta.test", -2)
    assert mailbox_delta({**quit_, "data": {"deleted": 0}}) is None
    expunge = {"kind": "imap.expunge", "src": "mailbox:bob@beta.test", "dst": "front", "data": {"uids": [4]}}
    assert mailbox_delta(expunge) == ("bob@beta.test", -1)


def test_viewers_may_export_the_run_but_only_the_teacher_the_world(world_app):
    world, app = world_app(SHARED=True, TRUST_LOOPBACK=False)
    viewer = app.test_client()
    assert viewer.get("/api/export/run.html").status_code == 200
    denied = viewer.get("/api/export/scenario.yaml")
    assert denied.status_code == 403 and "teacher" in denied.get_json()["error"]
    teacher = app.test_client()
    response = teacher.get("/api/export/scenario.yaml", headers={"Authorization": f"Bearer {app.config['TEACHER_TOKEN']}"})
    assert response.status_code == 200
    assert re.fullmatch(r'attachment; filename="mailflow-default-\d{4}-\d\d-\d\d\.yaml"',
                        response.headers["Content-Disposition"])


# -- the world as a scenario file ---------------------------------------------------------------------
def world_facts(scenario) -> dict:
    """What makes a world the same: domains, users, hosts with states, MX tables, records, faults."""
    world = World(scenario)
    return {
        "name": scenario.name, "title": scenario.title, "summary": scenario.summary,
        "domains": [(d.name, d.index, [(u.address, u.password, u.display_name) for u in d.users],
                     [(h.name, str(h.role), h.up, h.address) for h in d.hosts],
                     None if world.mx(d.name) is None else [(m.preference, m.host) for m in world.mx(d.name)],
                     d.address, d.txt) for d in scenario.domains],
        "faults": sorted((f.kind.value, f.target, f.delay, f.greeting, f.data, f.command, f.code, f.text, f.times,
                          f.size, f.permanent) for f in scenario.faults),
    }


@pytest.mark.parametrize("path", sorted(SCENARIOS.glob("*.yaml")), ids=lambda p: p.name)
def test_every_shipped_world_saves_and_loads_the_same(path):
    scenario = load_scenario(path)
    text = dump_world(World(scenario), scenario.faults)
    again = parse_scenario(text, "saved.yaml")
    assert world_facts(again) == world_facts(scenario)
    assert again.steps == () and again.level is None        # a world, not a lesson (dump.py says why)


ODD = """\
name: odd-world
title: {en: "Quotes \\" and: colons # not a comment", ru: "Строка\\u2028с разделителем и «ёлочками»"}
summary: {en: "yes", ru: "null"}
domains:
  alpha.test:
    users:
      alice: {password: "no", name: "Alice O'Hara"}
      bob.b: "0123"
      c-3: {password: "p: w # d"}
    hosts:
      smtp.alpha.test: {role: msa, address: 127.0.0.9}
      mx.alpha.test: {role: mx}
      mx2.alpha.test: {role: backup-mx, state: down}
    mx: [{preference: 5, host: mx.alpha.test}, {preference: 50, host: mx2.alpha.test}]
    txt: ["v=spf1 -all", "quote \\" here"]
  noa.test:
    hosts:
      mx.noa.test: {role: mx}
  empty.test:
    hosts:
      mx.empty.test: {role: mx}
    mx: []
faults:
  - {greylist: mx.alpha.test, delay: 1.5}
  - {slow: mx.noa.test, greeting: 3, data: 0.25}
  - {reply: mx.alpha.test, at: RCPT, code: 451, text: "4.3.0 Try: again # later", times: 2}
  - {size_limit: mx.empty.test, size: 10000}
  - {require_tls: mx.alpha.test}
  - {no_tls: smtp.alpha.test}
  - {refuse: mx2.alpha.test}
  - {mailbox_full: alice@alpha.test, permanent: true}
  - {servfail: noa.test}
  - {dns_timeout: empty.test}
  - {no_address: mx.noa.test}
steps: []
"""


def test_odd_strings_every_fault_kind_and_live_changes_survive_the_round_trip():
    scenario = parse_scenario(ODD, "odd.yaml")
    assert len(scenario.faults) == 11
    world = World(scenario)
    world.set_host_state("mx2.alpha.test", True)
    world.set_host_state("mx.noa.test", False)
    world.set_mx("alpha.test", [(30, "mx.alpha.test"), (10, "mx2.alpha.test")])
    world.set_mx("empty.test", [(0, ".")])
    text = dump_world(world, scenario.faults)
    again = parse_scenario(text, "saved.yaml")
    facts, before = world_facts(again), world_facts(scenario)
    assert facts["title"] == scenario.title and facts["summary"] == scenario.summary
    assert facts["faults"] == before["faults"]
    domains = {d[0]: d for d in facts["domains"]}
    assert domains["alpha.test"][2] == before["domains"][0][2]                  # users, passwords, names
    assert [h[2] for h in domains["alpha.test"][3]] == [True, True, True]       # mx2 is up now
    assert domains["alpha.test"][3][0][3] == "127.0.0.9"                        # an address off the plan
    assert domains["alpha.test"][4] == [(30, "mx.alpha.test"), (10, "mx2.alpha.test")]
    assert domains["noa.test"][3][0][2] is False and domains["noa.test"][4] is None
    assert domains["noa.test"][5] == before["domains"][1][5]                    # implicit MX: the apex A
    assert domains["empty.test"][4] == [(0, ".")]
    assert domains["alpha.test"][6] == ("v=spf1 -all", 'quote " here')
    assert text.startswith("# Saved by Mailflow from the running world on ")


def test_faults_as_the_stack_lists_them_are_written_like_the_library():
    listed = {"kind": "reply", "target": "mx.beta.test", "node": "mta:mx.beta.test", "command": "RCPT",
              "code": 451, "text": "4.3.0 Try again later", "times": 1}
    assert fault_yaml(listed) == '{reply: mx.beta.test, at: RCPT, code: 451, text: "4.3.0 Try again later", times: 1}'
    assert fault_yaml({"kind": "greylist", "target": "mx.beta.test", "node": "x", "delay": 0.0}) == \
        "{greylist: mx.beta.test}"
    assert fault_yaml({"kind": "mailbox_full", "target": "bob@beta.test", "node": "x", "permanent": True}) == \
        "{mailbox_full: bob@beta.test, permanent: true}"


def test_the_running_worlds_changes_and_faults_come_back(world_app):
    world, app = world_app()
    stack = world.stack
    stack.set_host_state("mx1.beta.test", False)
    stack.set_mx("beta.test", [(30, "mx1.beta.test"), (20, "mx2.beta.test")])
    page = Browserish(app)                               # as the page's world panel does it
    assert page.post("/api/fault", {"greylist": "mx.alpha.test", "delay": 2}).status_code == 200
    assert page.post("/api/fault", {"refuse": "mx2.beta.test"}).status_code == 200
    assert page.post("/api/fault", {"refuse": "mx2.beta.test", "off": True}).status_code == 200
    response = page.get("/api/export/scenario.yaml")
    assert response.status_code == 200
    again = parse_scenario(response.get_data(as_text=True), "saved.yaml")
    assert again.host("mx1.beta.test").up is False and again.host("mx2.beta.test").up is True
    assert [(m.preference, m.host) for m in again.domain("beta.test").mx] == [(30, "mx1.beta.test"), (20, "mx2.beta.test")]
    assert [(f.kind.value, f.target, f.delay) for f in again.faults] == [("greylist", "mx.alpha.test", 2.0)]
    assert [(f["kind"], f["target"]) for f in stack.faults()] == [("greylist", "mx.alpha.test")]


# -- in the browser -------------------------------------------------------------------------------------
def download(url: str, into: Path) -> Path:
    with urllib.request.urlopen(url, timeout=30) as response:          # loopback only
        name = re.search(r'filename="([^"]+)"', response.headers["Content-Disposition"]).group(1)
        path = into / name
        path.write_bytes(response.read())
    return path


def open_offline(chromium, path: Path, size=(1280, 720)):
    """The file in a context where every request that is not file: is aborted (and recorded)."""
    context = chromium.new_context(viewport={"width": size[0], "height": size[1]}, locale="en-US")
    outside: list[str] = []

    def route(request_route):
        if request_route.request.url.startswith("file:"):
            request_route.continue_()
        else:
            outside.append(request_route.request.url)
            request_route.abort()
    context.route("**/*", route)
    context.set_offline(True)
    page = context.new_page()
    page.errors = []
    page.dialogs = []
    page.on("pageerror", lambda exc: page.errors.append(str(exc)))
    page.on("console", lambda msg: page.errors.append(msg.text) if msg.type == "error" else None)
    page.on("dialog", lambda dialog: (page.dialogs.append(dialog.message), dialog.dismiss()))
    page.outside = outside
    page.goto(path.as_uri())
    page.wait_for_selector("body[data-ready=yes]", timeout=15000)
    return page


def shot(page, name: str) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"))


def kinds_of(page) -> list[str]:
    return page.eval_on_selector_all("#timeline-list li.row", "els => els.map(e => e.dataset.kind)")


@pytest.mark.browser
def test_an_exported_run_replays_from_file_with_no_server_and_no_network(start_world, chromium, tmp_path):
    world = start_world()
    server = serve(world.stack)
    try:
        send_mail(world.stack, subject=HOSTILE, text=HOSTILE_BODY)
        world.wait_messages("bob@beta.test")
        world.events.wait_for(lambda e: e.kind == "mda.deliver")
        path = download(server.url + "api/export/run.html", tmp_path)
    finally:
        server.shutdown()
    mx_hop = [e for e in world.events.events if e.kind == "smtp.session" and e.dst == "mta:mx1.beta.test"][0]
    world.stack.stop()
    assert re.fullmatch(r"mailflow-default-\d{4}-\d\d-\d\d\.html", path.name)

    page = open_offline(chromium, path)
    # the replay: tokens move along the edges and the timeline fills hop by hop
    page.wait_for_selector("#offline-bar[data-state=playing]", timeout=5000)
    page.wait_for_selector("#diagram .token:not([display=none])", timeout=10000)
    page.wait_for_selector("#diagram .edge.hot", timeout=10000)
    page.wait_for_function("n => document.querySelectorAll('#timeline-list li.row').length >= n", arg=2, timeout=10000)
    assert len(kinds_of(page)) < len(HOPS)                     # not all at once
    page.wait_for_selector("#offline-bar[data-state=finished]", timeout=30000)
    page.wait_for_function("n => document.querySelectorAll('#timeline-list li.row').length === n", arg=len(HOPS))
    assert kinds_of(page) == HOPS
    assert page.inner_text("#offline-progress") == EN["offline.progress"].format(shown=5, total=5)
    page.wait_for_selector('#diagram [data-node="mailbox:bob@beta.test"] .caption >> text=/· 1$/', timeout=10000)
    # a hop's transcript
    page.locator(f'#timeline-list li.row[data-seq="{mx_hop.seq}"]').click()
    details = page.locator("#details-body")
    assert "mx1.beta.test" in details.locator(".hop-path").inner_text()
    page.get_by_role("tab", name=EN["details.transcript"]).click()
    transcript = details.locator(".transcript").inner_text()
    assert "EHLO smtp.alpha.test" in transcript and "MAIL FROM:<alice@alpha.test>" in transcript
    assert "window.pwned=1" in transcript                       # the hostile body, as text
    shot(page, "export-offline-transcript")
    # in Russian: the page's words and the narration of the hop
    page.click('button[data-lang="ru"]')
    page.wait_for_function("() => document.documentElement.lang === 'ru'")
    assert page.inner_text("#timeline-title") == RU["timeline.title"]
    assert page.inner_text("#offline-badge") == RU["offline.badge"]
    page.get_by_role("tab", name=RU["details.transcript"]).wait_for()
    page.locator(f'#timeline-list li.row[data-seq="{mx_hop.seq}"]').click()
    assert details.locator(".explain").first.inner_text() == plain(mx_hop.text["ru"]["explain"])
    assert page.evaluate("window.pwned") is None and page.dialogs == []
    # everything at once, then the replay again
    page.click("#offline-all")
    page.wait_for_selector("body[data-ready=yes]")
    page.wait_for_selector("#offline-bar[data-state=finished]")
    assert kinds_of(page) == HOPS
    assert page.evaluate("document.documentElement.lang") == "ru"        # the language is remembered
    page.click("#offline-restart")
    page.wait_for_selector("#offline-bar[data-state=playing]", timeout=5000)
    assert len(kinds_of(page)) < len(HOPS)
    # the saved copy changes nothing and asks nobody
    status = page.evaluate("""async () => {
        try { await fetch('/api/gate', {method: 'POST', body: '{}'}); return 'answered'; }
        catch (err) { return 'refused'; } }""")
    assert status == "answered"                                       # by the copy itself: read only
    assert page.evaluate("fetch('https://example.com/').then(() => 'fetched', () => 'refused')") == "refused"
    assert page.outside == [], page.outside
    assert page.errors == [], page.errors
    page.context.close()


@pytest.mark.browser
def test_a_lesson_exported_from_the_page_replays_its_narration(chromium, tmp_path):
    from simulator.lesson import Director
    from simulator.web import serve as serve_web
    config = make_config(tmp_path / "data")
    director = Director(config, load_scenario(SCENARIOS / "04-primary-mx-down.yaml"), interactive=False,
                        time_scale=0.01, resume=False)
    director.start()
    server = None
    try:
        assert director.run is not None and director.run.join(timeout=90)
        lesson = director.lesson_state()
        assert lesson["state"] == "finished", lesson
        server = serve_web(director, config, quiet=True)
        context = chromium.new_context(viewport={"width": 1280, "height": 720}, accept_downloads=True)
        live = context.new_page()
        live.goto(server.url)
        live.wait_for_selector("body[data-ready=yes]", timeout=15000)
        live.click("#btn-lessons")
        with live.expect_download() as info:
            live.click("#btn-export-run")
        path = tmp_path / info.value.suggested_filename
        info.value.save_as(path)
        context.close()
    finally:
        if server is not None:
            server.shutdown()
        director.stop()
    assert path.name.startswith("mailflow-04-primary-mx-down-")
    said = [step for step in lesson["steps"] if step.get("say")]
    assert said

    page = open_offline(chromium, path)
    page.wait_for_selector("#narration:not([hidden])", timeout=10000)
    page.wait_for_function("() => document.body.dataset.lessonStep !== '0'", timeout=30000)
    page.click("#offline-all")
    page.wait_for_selector("#offline-bar[data-state=finished]")
    assert page.get_attribute("body", "data-lesson") == "finished"
    shown = int(page.get_attribute("#narration", "data-shown"))
    step = lesson["steps"][shown]
    assert page.inner_text("#narration-text") == plain(step["say"]["en"])
    page.click('button[data-lang="ru"]')
    page.wait_for_function("() => document.documentElement.lang === 'ru'")
    assert page.inner_text("#narration-text") == plain(step["say"]["ru"])
    shot(page, "export-offline-lesson-ru")
    assert page.outside == [] and page.errors == [], (page.outside, page.errors)
    page.context.close()


@pytest.mark.browser
def test_the_world_saved_from_the_page_loads_back_from_the_page(chromium, tmp_path):
    from simulator.lesson import Director
    from simulator.web import serve as serve_web
    config = make_config(tmp_path / "data")
    director = Director(config, load_scenario(DEFAULT_SCENARIO), interactive=True, resume=False)
    director.start()
    server = serve_web(director, config, quiet=True)
    context = chromium.new_context(viewport={"width": 1280, "height": 720}, accept_downloads=True)
    try:
        page = context.new_page()
        page.goto(server.url)
        page.wait_for_selector("body[data-ready=yes]", timeout=15000)
        # the teacher changes the world: mx1 down, beta's primary MX to preference 30
        page.click("#btn-world")
        page.click('#host-list button[data-host="mx1.beta.test"]')
        page.wait_for_selector('#diagram [data-node="mta:mx1.beta.test"].down', timeout=10000)
        beta = page.locator('#mx-editor [data-domain="beta.test"]')
        beta.locator(".mx-pref").first.fill("30")
        beta.locator(".mx-save").click()
        wait_until(lambda: [m.preference for m in director.stack.world.mx("beta.test")] == [30, 20], what="new MX")
        page.click("#drawer-close")
        page.click("#btn-lessons")
        with page.expect_download() as info:
            page.click("#btn-export-scenario")
        saved = tmp_path / info.value.suggested_filename
        info.value.save_as(saved)
        assert re.fullmatch(r"mailflow-default-\d{4}-\d\d-\d\d\.yaml", saved.name)
        text = saved.read_text(encoding="utf-8")
        scenario = parse_scenario(text, saved.name)
        assert scenario.host("mx1.beta.test").up is False
        # a fresh world, then the saved one loaded back from the page
        director.reset()
        wait_until(lambda: director.stack.world.hosts["mx1.beta.test"].up, what="a fresh world")
        page.wait_for_selector('#diagram [data-node="mta:mx1.beta.test"]:not(.down)', timeout=10000)
        page.set_input_files("#scenario-file", str(saved))
        wait_until(lambda: director.stack.world.hosts["mx1.beta.test"].up is False, timeout=20,
                   what="the saved world running")
        assert [(m.preference, m.host) for m in director.stack.world.mx("beta.test")] == \
            [(30, "mx1.beta.test"), (20, "mx2.beta.test")]
        assert world_facts(director.scenario)["domains"] == world_facts(scenario)["domains"]
        page.wait_for_selector('#diagram [data-node="mta:mx1.beta.test"].down', timeout=10000)
        page.wait_for_selector('#diagram [data-node="mta:mx1.beta.test"] .caption >> text="MX 30"', timeout=10000)
    finally:
        context.close()
        server.shutdown()
        director.stop()
