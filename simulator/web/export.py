"""Export: a run as one self-contained HTML file, and the current world as a scenario file.

    GET /api/export/run.html[?trace=<id>]   the page, the saved run and the replay in one file
    GET /api/export/scenario.yaml           the world as it is now, as a scenario file (dump.py)

Theory of operation (run.html)
------------------------------
A student opens the file after class from disk (``file://``), with no server and no network.  So
the file is the live page itself (``templates/index.html``) with everything it loads put inside:

- the stylesheets inline (``static/css/*.css`` as linked by the template, then
  ``static/js/offline/offline.css``);
- the page's ES modules as one inline module script (export_bundle.py), with ``./api.js`` and
  ``./socket.js`` swapped for ``static/js/offline/``: they answer from the saved data and never
  connect; ``offline/boot.js`` runs first and answers ``fetch()`` from the same data;
- the data: what the page would have read from the server (``/api/state``, ``/api/events``,
  ``/api/layout``, ``/api/i18n/en`` and ``/ru``), gathered through the app's own API as a viewer's
  page gets it, in one ``<script type="application/json">``.

The replay (``offline/replay.js``) hands the saved hops to the page one by one through the socket's
handlers, so the page's own Player draws them and the timeline lists them, with every transcript,
explanation and narration in both languages.  For that the page starts *before* the first saved hop:
the saved state carries the mailbox counts then (``start``) and at the end (``end``, for ``#all``,
which opens the whole run at once), and the world changes older than the first saved hop.  What the
page would have asked the server again as the run went on is saved once per version, and the replay
picks the version its position has reached: the faults in force (after each ``world.fault``), the
lesson's state (after each ``lesson.*`` event: the narration panel moves on with the replay), and the
diagram's layout, which depends on the window and on the MX tables (SMTP edges follow them): a few
window sizes for every MX version the run went through.

``?trace=<id>`` keeps one message's hops (and the world changes among them), renumbered 1..n so the
page sees an unbroken history; what happened before it (world changes, other messages' deliveries)
is folded into the starting state.

Security: mail content is hostile.  The data is JSON in a ``<script type="application/json">`` with
``<``, ``>``, ``&``, U+2028 and U+2029 written as ``\\uXXXX``, so nothing in it can end the element or
start markup; the page only ever inserts text (dom.js).  The file carries its own
Content-Security-Policy: only the one bundled script (by its SHA-256) and the one style block may
run, no network at all (``connect-src 'none'``, ``default-src 'none'``).

Who may export: everybody who can open the page, viewers too.  A student reviews the lesson after
class from exactly what the page showed them live: ``/api/state``, ``/api/events`` and the layouts
are readable by viewers already, so the file reveals nothing new (no passwords: the mail clients'
panel is left out).  ``scenario.yaml`` holds the users' passwords, so in a shared classroom it is the
teacher's, like the passwords in ``/api/clients``.
"""
from __future__ import annotations

import base64
import hashlib
import html
import json
import logging
import re
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from flask import Blueprint, Response, current_app, render_template, request

from ..scenario.dump import dump_world
from .context import ApiError, running_stack
from .export_bundle import BundleError, bundle
from .guard import is_teacher

if TYPE_CHECKING:
    from ..runtime import MailStack

log = logging.getLogger(__name__)

blueprint = Blueprint("export", __name__, url_prefix="/api/export")

ROOT = Path(__file__).resolve().parent.parent.parent
STATIC = ROOT / "static"
JS = STATIC / "js"
ENTRIES = ["offline/boot.js", "main.js"]
SUBSTITUTES = {"api.js": "offline/api.js", "socket.js": "offline/socket.js"}
OFFLINE_CSS = JS / "offline" / "offline.css"
LANGUAGES = ("en", "ru")
# GET answers the page may read besides the four it always reads; saved when the app has them.
EXTRA_GETS = ("/api/lessons", "/api/lesson/state")
# (width, height) of the saved layouts: the page picks the nearest in shape, its SVG scales the rest
LAYOUT_SIZES = ((800, 560), (1100, 560), (1400, 560), (1100, 800), (1500, 800), (2000, 900))
EVENTS_PAGE = 1000
_TRACE_ID = re.compile(r"[A-Za-z0-9._-]{1,80}")
_JSON_ESCAPES = {"<": "\\u003c", ">": "\\u003e", "&": "\\u0026", "\u2028": "\\u2028", "\u2029": "\\u2029"}


class ExportError(Exception):
    """The page could not be put together (a template or module the exporter does not understand)."""


# -- the routes ---------------------------------------------------------------------------------------
@blueprint.get("/run.html")
def run_html():
    stack = running_stack()
    trace = request.args.get("trace") or None
    if trace is not None and not _TRACE_ID.fullmatch(trace):
        raise ApiError(400, "trace must be a message's trace id (such as m-1a2b3c)")
    data = gather(stack, trace)
    try:
        page = build_page(data)
    except (BundleError, ExportError) as err:
        log.error("export failed: %s", err)
        raise ApiError(500, f"the page could not be saved: {err}") from None
    name = f"mailflow-{data['scenario']['name']}-{_date()}" + (f"-{_safe(trace)}" if trace else "") + ".html"
    response = Response(page.html, mimetype="text/html")
    response.headers["Content-Disposition"] = f'attachment; filename="{name}"'
    response.headers["Content-Security-Policy"] = page.csp
    return response


@blueprint.get("/scenario.yaml")
def scenario_yaml():
    stack = running_stack()
    if current_app.config["SHARED"] and not is_teacher():
        raise ApiError(403, "only the teacher can save the world: a scenario file holds the users' passwords")
    faults = stack.faults() if callable(getattr(stack, "faults", None)) else []
    text = dump_world(stack.world, faults, saved_at=datetime.now().astimezone())
    response = Response(text, mimetype="application/yaml")
    response.headers["Content-Disposition"] = (
        f'attachment; filename="mailflow-{stack.world.scenario.name}-{_date()}.yaml"')
    return response


def _date() -> str:
    return datetime.now().astimezone().strftime("%Y-%m-%d")


def _safe(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]", "-", text)[:80]


# -- the data ---------------------------------------------------------------------------------------------
def _get(path: str, *, required: bool = True) -> Any:
    """The app's own answer to ``GET path``, as a viewer's page gets it (all guards included);
    None for an answer that is not a success when not ``required``."""
    client = current_app.test_client()
    response = client.get(path, base_url="http://127.0.0.1/",
                          environ_base={"REMOTE_ADDR": request.remote_addr or "127.0.0.1"})
    if response.status_code != 200:
        if not required:
            return None
        error = (response.get_json(silent=True) or {}).get("error", response.status)
        raise ApiError(response.status_code, f"{path}: {error}")
    return response.get_json()


def _extras() -> dict[str, Any]:
    """The optional GET answers (EXTRA_GETS) this app gives now."""
    adapter = current_app.url_map.bind("127.0.0.1")
    out = {}
    for path in EXTRA_GETS:
        try:
            adapter.match(path, method="GET")
        except Exception:      # NotFound, MethodNotAllowed, RequestRedirect: not in this app
            continue
        answer = _get(path, required=False)
        if answer is not None:
            out[path] = answer
    return out


def _all_events(last_seq: int) -> list[dict]:
    events: list[dict] = []
    since = 0
    for _ in range(1000):
        chunk = _get(f"/api/events?since={since}&limit={EVENTS_PAGE}")
        events.extend(e for e in chunk["events"] if e["seq"] <= last_seq)
        if not chunk["events"] or not chunk.get("more"):
            break
        since = chunk["events"][-1]["seq"]
        if since >= last_seq:
            break
    return events


def mailbox_delta(event: dict) -> tuple[str, int] | None:
    """How an event changes a mailbox's message count: model.js's ``mailboxDelta``, the same rules."""
    kind, data = str(event.get("kind", "")), event.get("data") or {}
    dst, src = str(event.get("dst", "")), str(event.get("src", ""))
    if kind == "mda.deliver" and event.get("status") != "failed" and dst.startswith("mailbox:"):
        return dst[8:], 1
    if kind in ("pop3.quit", "imap.expunge") and src.startswith("mailbox:"):
        deleted = next((data[k] for k in ("deleted", "expunged") if data.get(k) is not None), None)
        if deleted is None and kind == "imap.expunge":
            deleted = data.get("uids")
        if isinstance(deleted, list):
            count = len(deleted)
        else:
            try:
                count = int(deleted) if deleted is not None and not isinstance(deleted, bool) else 0
            except (TypeError, ValueError):
                count = 0
        if count > 0:
            return src[8:], -count
    return None


def _fold_counts(counts: dict[str, int], events: list[dict]) -> dict[str, int]:
    out = dict(counts)
    for event in events:
        delta = mailbox_delta(event)
        if delta:
            out[delta[0]] = max(0, out.get(delta[0], 0) + delta[1])
    return out


def _base_counts(now: dict[str, int], events: list[dict]) -> dict[str, int]:
    """The mailbox counts before ``events``: model.js's ``mailboxBase``."""
    base = dict(now)
    for event in events:
        delta = mailbox_delta(event)
        if delta:
            base[delta[0]] = base.get(delta[0], 0) - delta[1]
    return {k: max(0, v) for k, v in base.items()}


def _trace_label(events: list[dict], trace: str) -> str:
    for event in events:
        message = event.get("message")
        if event.get("trace") == trace and isinstance(message, dict) and message.get("subject") is not None:
            rcpt = ", ".join(map(str, message.get("rcpt") or [])) or "?"
            return f"“{message.get('subject')}” {message.get('from') or '<>'} → {rcpt}"
    return trace


def gather(stack: "MailStack", trace: str | None = None) -> dict[str, Any]:
    """Everything the exported page reads, from the app's own API (see the module docstring)."""
    state = _get("/api/state")
    events = _all_events(state["last_seq"])
    changes = list(state.get("world_changes") or [])
    baseline = dict(state.get("baseline") or {"seq": 0, "world": state["world"]})
    first = events[0]["seq"] if events else state["last_seq"] + 1
    start_counts = _base_counts(state.get("mailboxes") or {}, events)
    end_faults = list(state.get("faults") or [])
    lesson = state.get("lesson")
    label = None
    if trace is not None:
        mine = [e for e in events if e.get("trace") == trace]
        if not mine:
            raise ApiError(404, f"no message with trace {trace!r} in this run")
        low, high = mine[0]["seq"], mine[-1]["seq"]
        kept = [e for e in events if e.get("trace") == trace or
                (low < e["seq"] < high and str(e.get("kind", "")).startswith("world."))]
        before = [e for e in events if e["seq"] < low]
        after = [e for e in events if e["seq"] > high]
        start_counts = _fold_counts(start_counts, before)
        end_faults = _rewind_faults(end_faults, after)
        changes = [c for c in changes if c["seq"] < first] + [e for e in before if str(e["kind"]).startswith("world.")]
        renumber = {e["seq"]: i for i, e in enumerate(kept, start=1)}
        baseline = {**baseline, "seq": sum(1 for e in kept if e["seq"] <= baseline.get("seq", 0))}
        events = [{**e, "seq": renumber[e["seq"]]} for e in kept]
        changes = [{**c, "seq": 0} for c in changes]
        first = 1
        label = _trace_label(kept, trace)
        lesson = None                # one message's journey does not follow the lesson's steps
    else:
        changes = [c for c in changes if c["seq"] < first]
    end_counts = _fold_counts(start_counts, events)
    last = events[-1]["seq"] if events else first - 1
    state.update(
        role="viewer", shared=False, baseline=baseline, world_changes=changes, queue=[], listeners=[],
        gate={"mode": "play", "delay": 1, "granularity": "hop", "waiting": []}, lesson=lesson,
    )
    saved = datetime.now().astimezone()
    return {
        "format": 1,
        "saved_at": saved.isoformat(timespec="seconds"),
        "scenario": state["world"]["scenario"],
        "trace": {"id": trace, "label": label} if trace else None,
        "state": state,
        "start": {"last_seq": first - 1, "mailboxes": start_counts},
        "end": {"last_seq": last, "mailboxes": end_counts},
        "first_seq": first,
        "events": events,
        "faults": fault_versions(end_faults, events),
        "lessons": lesson_versions(lesson, events),
        "layouts": _layouts(stack, baseline["world"], changes, events),
        "i18n": {lang: _get(f"/api/i18n/{lang}")["ui"] for lang in LANGUAGES},
        "extra": _extras(),
    }


# -- faults and the lesson along the replay -------------------------------------------------------------
def _fault_key(fault: dict) -> tuple[str, str]:
    return str(fault.get("kind")), str(fault.get("target"))


def _fault_of_event(data: dict) -> dict:
    """A ``world.fault`` event's data as ``stack.faults()`` lists a fault: ``{kind, target, node, ...}``."""
    try:
        from ..faults import PARAMS
        from ..scenario.model import FaultKind
        names = PARAMS[FaultKind(data["fault"])]
    except Exception:          # a kind this version does not know: keep every parameter
        names = [k for k in data if k not in ("what", "fault", "target", "node", "on", "spent")]
    values = {**data, "data": data.get("end_of_data", data.get("data", 0.0))}
    return {"kind": data.get("fault"), "target": data.get("target"), "node": data.get("node"),
            **{name: values.get(name) for name in names}}


def _rewind_faults(faults: list[dict], events: list[dict]) -> list[dict]:
    """The faults before ``events``, from the faults after them (a fault replaced during them is
    taken as absent before: its earlier parameters are not known)."""
    book = {_fault_key(f): f for f in faults}
    for event in reversed(events):
        if event.get("kind") != "world.fault":
            continue
        fault = _fault_of_event(event.get("data") or {})
        if (event.get("data") or {}).get("on"):
            book.pop(_fault_key(fault), None)
        else:
            book[_fault_key(fault)] = fault
    return sorted(book.values(), key=lambda f: _fault_key(f))


def fault_versions(end: list[dict], events: list[dict]) -> list[list[dict]]:
    """The faults in force before the first saved hop, then after each ``world.fault`` event."""
    start = _rewind_faults(end, events)
    versions = [start]
    book = {_fault_key(f): f for f in start}
    for event in events:
        if event.get("kind") != "world.fault":
            continue
        data = event.get("data") or {}
        fault = _fault_of_event(data)
        if data.get("on"):
            book[_fault_key(fault)] = fault
        else:
            book.pop(_fault_key(fault), None)
        versions.append(sorted(book.values(), key=lambda f: _fault_key(f)))
    versions[-1] = end          # exactly the server's words at the end
    return versions


def lesson_versions(final: dict | None, events: list[dict]) -> list[dict] | None:
    """The lesson's state before the first saved hop, then after each ``lesson.*`` event: steps
    before the current one as they ended, the current one running, the rest to come; after
    ``lesson.end`` the state the server gives now.  None without a lesson."""
    if not final or not final.get("steps"):
        return None
    ended = {step["index"]: step for step in final["steps"]}
    steps = [{**step, "status": "pending", "detail": None, "text": None} for step in final["steps"]]
    current = {"value": 0}

    def snapshot(run_state: str) -> dict:
        return {**final, "state": run_state, "current": current["value"], "steps": [dict(s) for s in steps]}

    versions = [snapshot("idle")]
    for event in events:
        kind = str(event.get("kind", ""))
        if not kind.startswith("lesson."):
            continue
        data = event.get("data") or {}
        index = data.get("index")
        if kind == "lesson.end":
            versions.append(final)
            continue
        if isinstance(index, int) and 0 <= index < len(steps):
            if kind == "lesson.step":
                for i in range(current["value"], index):
                    steps[i] = dict(ended.get(i, steps[i]))
                current["value"] = index
                steps[index] = {**steps[index], "status": "running"}
            else:                                       # lesson.expect, lesson.error: the step's end
                steps[index] = dict(ended.get(index, steps[index]))
        versions.append(snapshot("running"))
    if len(versions) > 1:
        versions[-1] = final        # the last one is exactly the server's
    return versions


def _layouts(stack: "MailStack", baseline_world: dict, changes: list[dict], events: list[dict]) -> dict[str, list]:
    """The diagram at each MX version of the run: before the first saved hop, then after each
    ``world.mx`` event among them; each at every LAYOUT_SIZES size.  ``{"sets": [[{width, height,
    layout}, ...], ...], "versions": [index into sets, ...]}``: a table set back is drawn once."""
    from ..world import World
    from .layout import layout

    def tables_of(world: dict) -> dict[str, list | None]:
        return {d["name"]: None if d.get("mx") is None else [(m["preference"], m["host"]) for m in d["mx"]]
                for d in world.get("domains", [])}

    tables = tables_of(baseline_world)
    for change in changes:
        if change.get("kind") == "world.mx":
            tables[change["data"]["domain"]] = [tuple(r) for r in change["data"]["mx"]]
    versions = [dict(tables)]
    for event in events:
        if event.get("kind") == "world.mx":
            tables = {**tables, event["data"]["domain"]: [tuple(r) for r in event["data"]["mx"]]}
            versions.append(tables)
    sets: list[list[dict]] = []
    seen: dict[str, int] = {}
    index = []
    for version in versions:
        key = json.dumps(sorted(version.items()))
        if key not in seen:
            graph = _graph(stack, World, version)
            seen[key] = len(sets)
            sets.append([{"width": w, "height": h, "layout": layout(graph, w, h)} for w, h in LAYOUT_SIZES])
        index.append(seen[key])
    return {"sets": sets, "versions": index}


def _graph(stack: "MailStack", world_class: type, tables: dict[str, list | None]) -> Any:
    """The topology with these MX tables (a scratch World of the same scenario; the running one as
    it is now if that cannot be built)."""
    try:
        world = world_class(stack.world.scenario)
        for domain, table in tables.items():
            if table is not None and table != [(m.preference, m.host) for m in (world.mx(domain) or [])]:
                world.set_mx(domain, table)
        return world.graph()
    except Exception:        # an MX table the scratch world refuses: the diagram as it is now will do
        log.warning("export: could not rebuild the diagram for an MX version", exc_info=True)
        return stack.world.graph()


# -- the page ---------------------------------------------------------------------------------------------
class Page:
    def __init__(self, html_text: str, csp: str) -> None:
        self.html, self.csp = html_text, csp


def embed_json(value: Any) -> str:
    """JSON that can sit inside ``<script type="application/json">``: no ``<``, ``>`` or ``&`` at all
    (so no ``</script>``, no ``<!--``), and no U+2028/U+2029 (line ends to some parsers)."""
    try:
        text = json.dumps(value, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
    except ValueError:          # NaN or infinity somewhere (JSON has neither): null, as the page reads it
        text = json.dumps(_finite(value), ensure_ascii=False, separators=(",", ":"), allow_nan=False)
    return re.sub("[<>&\u2028\u2029]", lambda m: _JSON_ESCAPES[m.group(0)], text)


def _finite(value: Any) -> Any:
    if isinstance(value, float) and (value != value or value in (float("inf"), float("-inf"))):
        return None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(v) for v in value]
    return value


def _sha256(text: str) -> str:
    return "'sha256-" + base64.b64encode(hashlib.sha256(text.encode("utf-8")).digest()).decode() + "'"


_LINK = re.compile(r"<link\b[^>]*>", re.I)
_SCRIPT = re.compile(r"<script\b([^>]*)>\s*</script\s*>", re.I)
_ATTR = re.compile(r"""([\w-]+)\s*=\s*(?:"([^"]*)"|'([^']*)')""")
_FETCHING = re.compile(r"""<(script|link|img|iframe|source|video|audio|embed|object|image|use)\b[^>]*"""
                       r"""\b(src|href)\s*=\s*(?:"(?!data:|#)|'(?!data:|#)|(?!["']|data:|#))""", re.I)


def _attrs(tag: str) -> dict[str, str]:
    return {m.group(1).lower(): html.unescape(m.group(2) if m.group(2) is not None else m.group(3))
            for m in _ATTR.finditer(tag)}


def _static_file(url: str) -> Path:
    """``/static/css/app.css?v=1`` -> the file under static/ (nothing outside it)."""
    path = url.split("?", 1)[0].split("#", 1)[0]
    prefix = (current_app.static_url_path or "/static").rstrip("/") + "/"
    if not path.startswith(prefix):
        raise ExportError(f"the page loads {url!r}, which is not one of its static files")
    target = (STATIC / path[len(prefix):]).resolve()
    if STATIC.resolve() not in target.parents or not target.is_file():
        raise ExportError(f"the page loads {url!r}, which is not one of its static files")
    return target


def build_page(data: dict[str, Any]) -> Page:
    """The template made self-contained: styles inline, modules bundled, data embedded, own CSP."""
    scenario = data["scenario"]
    page = render_template("index.html", csrf="", role="viewer", shared=False,
                           title=scenario["title"]["en"], has_world=True,
                           lessons=bool(data["state"].get("lessons")))
    styles: list[str] = []
    entries: list[str] = []

    def link(match: re.Match) -> str:
        attrs = _attrs(match.group(0))
        rel = attrs.get("rel", "").lower().split()
        if "stylesheet" in rel:
            styles.append(_static_file(attrs.get("href", "")).read_text(encoding="utf-8"))
            return "\x00STYLE\x00" if len(styles) == 1 else ""
        if "icon" in rel or "preload" in rel or "modulepreload" in rel:
            return "" if not attrs.get("href", "").startswith("data:") else match.group(0)
        return match.group(0)

    def script(match: re.Match) -> str:
        attrs = _attrs(match.group(1))
        src = attrs.get("src")
        if src is None:
            raise ExportError("the template has an inline script; the exporter only bundles module files")
        if attrs.get("type") == "module":
            target = _static_file(src)
            if JS.resolve() not in target.parents:
                raise ExportError(f"module {src!r} is not under static/js")
            entries.append(target.relative_to(JS.resolve()).as_posix())
        return ""           # classic scripts (the Socket.IO client) are for the live page only

    page = _LINK.sub(link, page)
    page = _SCRIPT.sub(script, page)
    if not entries:
        raise ExportError("the template loads no module script: nothing to bundle")
    code = bundle(JS, list(dict.fromkeys([*ENTRIES, *entries])), SUBSTITUTES)
    styles.append(OFFLINE_CSS.read_text(encoding="utf-8"))
    css = "\n" + "\n".join(styles) + "\n"          # exactly the <style> element's text: its hash
    if re.search(r"</style", css, re.I):
        raise ExportError("a stylesheet contains '</style'")
    csp = (f"default-src 'none'; script-src {_sha256(code)}; style-src {_sha256(css)}; img-src data:; "
           "font-src data:; connect-src 'none'; base-uri 'none'; form-action 'none'; object-src 'none'")
    head = (f'<meta http-equiv="Content-Security-Policy" content="{csp}">\n'
            f'  <meta name="mailflow-offline" content="yes">\n')
    page, count = re.subn(r"(<meta charset=[^>]*>\s*)", lambda m: m.group(1) + head, page, count=1, flags=re.I)
    if not count:
        raise ExportError("the template has no <meta charset>: the policy could not be put first")
    style_block = f"<style>{css}</style>"
    page = page.replace("\x00STYLE\x00", style_block) if "\x00STYLE\x00" in page else \
        page.replace("</head>", style_block + "\n</head>", 1)
    outside = [m.group(0) for m in _FETCHING.finditer(page)]
    if outside:
        raise ExportError(f"the page would still load from outside: {outside[:3]}")
    tail = (f'<script type="application/json" id="mailflow-data">{embed_json(data)}</script>\n'
            f'<script type="module">{code}</script>\n')
    if page.count("</body>") != 1:
        raise ExportError("the template must have one </body>")
    page = page.replace("</body>", tail + "</body>")
    return Page(page, csp)


def export_page(stack: "MailStack", trace: str | None = None) -> str:
    """The exported page as text (for scripts and tests; needs an app and request context)."""
    return build_page(gather(stack, trace)).html

