"""The webmail page (/webmail, issue 10) in a real browser: Playwright driving Debian's Chromium
against a lesson director and the web UI on free loopback ports.

Theory of operation.  Each test starts a world (the default scenario: alice and carol at
alpha.test, bob at beta.test) and the web UI, then opens /webmail in fresh browser contexts, one per
person.  The page is the mail client's face; the web server is the client (simulator.webmail), so
every step here is judged by an independent witness: the bus's history through /api/events (a
submission hop whose client is the webmail's own source address), the teacher's mailbox view
(/api/mailbox, with the teacher's bearer token) for what is left on the server, the bytes of a
downloaded attachment, the raw source of a reply, and a tiny loopback HTTP server that counts the
requests a hostile HTML mail manages to make.  The tests wait for facts (events, DOM states the
page sets: body[data-view], #wm-messages[data-loads], iframe[data-loaded]) and never sleep.

Screenshots (English and Russian, 1280×720 and 125 %) go to $MAILFLOW_ARTEFACTS/webmail (default
artifacts/webmail).
"""
from __future__ import annotations

import base64
import http.server
import json
import os
import re
import threading
import urllib.request
from email import message_from_bytes, policy
from pathlib import Path
from typing import Any, Iterator

import pytest

from conftest import make_config
from page_helpers import boxes, on_screen
from simulator import narrate, web
from simulator.scenario import DEFAULT_SCENARIO, load_scenario
from web_fixtures import ARTIFACTS, browser, send_mail, start_director, wait_until  # noqa: F401  (browser: a fixture)

pytestmark = pytest.mark.browser

HERE = Path(__file__).resolve().parent
AXE_JS = HERE / "vendor" / "axe-core" / "axe.min.js"
AXE_TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]
SCREENS = {"1280x720": ((1280, 720), 1.0), "1280x720@125%": ((1024, 576), 1.25)}
UI = {"en": narrate.ui("en"), "ru": narrate.ui("ru")}
WEBMAIL_SOURCE = "127.0.0.80"
ALICE, BOB = "alice@alpha.test", "bob@beta.test"
# not valid UTF-8, every byte value: an attachment must come back exactly as it went
PAYLOAD = bytes(range(256)) * 12 + b"\xff\xfe\x00end"


@pytest.fixture
def classroom(tmp_path) -> Iterator:
    """``start() -> (director, server)``: the default world and its web UI."""
    made = []

    def start(**test_config):
        config = make_config(tmp_path / f"data{len(made)}")
        director = start_director(config, load_scenario(DEFAULT_SCENARIO))
        server = web.serve(director, config, test_config=test_config or None, quiet=True)
        made.append((director, server))
        return director, server
    yield start
    for director, server in made:
        server.shutdown()
        director.stop()


@pytest.fixture(scope="module")
def artefacts() -> Path:
    path = Path(os.environ.get("MAILFLOW_ARTEFACTS") or ARTIFACTS) / "webmail"
    path.mkdir(parents=True, exist_ok=True)
    return path


# -- the page ---------------------------------------------------------------------------------------
def open_webmail(browser, server, *, lang: str = "en", screen: str = "1280x720", axe: bool = False):
    """/webmail in a fresh context (a person of their own).  ``axe``: the page's CSP is bypassed so that
    axe-core can be injected -- never in a test that judges what the CSP keeps out."""
    (width, height), scale = SCREENS[screen]
    context = browser.new_context(viewport={"width": width, "height": height}, device_scale_factor=scale,
                                  accept_downloads=True, bypass_csp=axe)
    # (init scripts run in every frame, the sealed HTML frame too: it may not touch storage)
    context.add_init_script(f"if (window === window.top) localStorage.setItem('mailflow.lang', '{lang}');")
    page = context.new_page()
    page.errors = []
    page.console = []
    page.on("pageerror", lambda exc: page.errors.append(str(exc)))
    page.on("console", lambda msg: page.console.append(msg.text))
    page.goto(server.url + "webmail")
    page.wait_for_selector("body[data-ready=yes]", timeout=15000)
    page.wait_for_function("lang => document.documentElement.lang === lang", arg=lang)
    return page


def loads(page) -> int:
    return int(page.get_attribute("#wm-messages", "data-loads") or 0)


def login(page, address: str, password: str, *, retrieval: str = "imap", tls: str = "starttls",
          keep: bool = False) -> None:
    page.wait_for_selector("body[data-view=login]")
    page.fill("#wm-login-address", address)
    page.fill("#wm-login-password", password)
    page.check(f'#wm-login-form input[name=retrieval][value="{retrieval}"]')
    if retrieval == "pop3":
        page.set_checked("#wm-login-keep", keep)
    page.check(f'#wm-login-form input[name=tls][value="{tls}"]')
    page.click("#wm-login-submit")
    page.wait_for_selector("body[data-view=mail]")
    page.wait_for_selector("#wm-messages[data-loads]", state="attached")
    page.wait_for_selector("#wm-folder-list .wm-folder")


def check_mail_until(page, predicate_js: str, arg: Any = None, tries: int = 40) -> None:
    """Press "Check mail" until the list shows what ``predicate_js`` wants (each press is one real
    IMAP or POP3 session, and the next press waits for the list it loaded)."""
    for _ in range(tries):
        before = loads(page)
        if page.evaluate(predicate_js, arg):
            return
        page.click("#wm-check")
        page.wait_for_function("n => Number(document.querySelector('#wm-messages').dataset.loads) > n", arg=before)
    raise AssertionError(f"the list never showed {predicate_js} {arg}")


def row_with_subject(page, subject: str):
    check_mail_until(page, "s => [...document.querySelectorAll('.wm-row .wm-subj')].some(x => x.textContent === s)", subject)
    return page.locator(".wm-row", has=page.locator(".wm-subj", has_text=subject)).first


def open_message(page, subject: str) -> str:
    row = row_with_subject(page, subject)
    message_id = row.get_attribute("data-id")
    row.click()
    page.wait_for_function("id => document.querySelector('#wm-reader').dataset.id === id", arg=message_id)
    return message_id


def tab(page, name: str) -> None:
    page.click(f"#wm-tab-{name}")
    page.wait_for_selector(f"#wm-pane-{name}:not([hidden])")


def raw_source(page) -> bytes:
    tab(page, "source")
    page.wait_for_selector("#wm-pane-source[data-loaded=yes]")
    return page.inner_text("#wm-pane-source pre").encode("utf-8")


def compose(page, *, to: str = "", subject: str = "", body: str = "", files: list[dict] | None = None) -> None:
    if not page.is_visible("#wm-compose"):
        page.click("#wm-compose-btn")
    page.wait_for_selector("#wm-compose:not([hidden])")
    if to:
        page.fill("#wm-c-to", to)
    if subject:
        page.fill("#wm-c-subject", subject)
    if body:
        page.fill("#wm-c-body", body)
    if files:
        page.set_input_files("#wm-c-files", files=files)
        page.wait_for_selector(f'#wm-compose[data-files="{len(files)}"][data-reading="0"]')


def send(page) -> str:
    """Send what is in the form; the MSA's reply line as the page shows it."""
    page.click("#wm-send")
    page.wait_for_selector('#wm-notice:not([hidden])[data-what="sent"]', timeout=20000)
    assert page.is_hidden("#wm-compose")
    return page.get_attribute("#wm-notice", "data-reply") or ""


# -- witnesses --------------------------------------------------------------------------------------
def teacher_get(server, path: str) -> Any:
    request = urllib.request.Request(server.url.rstrip("/") + path, headers={
        "Authorization": f"Bearer {server.app.config['TEACHER_TOKEN']}", "Accept": "application/json"})
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.loads(response.read())


def teacher_post(server, path: str, body: dict) -> Any:
    request = urllib.request.Request(server.url.rstrip("/") + path, data=json.dumps(body).encode(), method="POST",
                                     headers={"Authorization": f"Bearer {server.app.config['TEACHER_TOKEN']}",
                                              "Content-Type": "application/json", "Accept": "application/json"})
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.loads(response.read())


def page_post(page, path: str, body: dict) -> tuple[int, Any]:
    """A control call from the page, as its own scripts make it (CSRF header, JSON)."""
    return page.evaluate("""async ([p, b]) => {
        const token = document.querySelector('meta[name="csrf-token"]').content;
        const r = await fetch(p, {method: 'POST', credentials: 'same-origin',
            headers: {'Content-Type': 'application/json', 'X-CSRF-Token': token}, body: JSON.stringify(b)});
        return [r.status, await r.json()];
    }""", [path, body])


def events(server) -> list[dict]:
    out, since = [], 0
    while True:
        page = teacher_get(server, f"/api/events?since={since}")
        out.extend(page["events"])
        if not page["more"] or not page["events"]:
            return out
        since = page["events"][-1]["seq"]


def wait_event(server, predicate, what: str) -> dict:
    return wait_until(lambda: next((e for e in events(server) if predicate(e)), None), timeout=20, what=what)


def delivered_to(server, address: str, after: int = 0) -> dict:
    box = f"mailbox:{address}"
    return wait_event(server, lambda e: e["kind"] == "mda.deliver" and e["dst"] == box and e["seq"] > after,
                      f"a delivery to {address}")


def by_webmail(event: dict) -> bool:
    return ((event.get("data") or {}).get("wire") or {}).get("client") == WEBMAIL_SOURCE


class Remote(http.server.ThreadingHTTPServer):
    """A loopback HTTP server standing in for a tracker: it only counts what was asked of it."""

    def __init__(self) -> None:
        self.paths: list[str] = []
        self.seen = threading.Condition()
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:     # noqa: N802  (http.server's spelling)
                with outer.seen:
                    outer.paths.append(self.path)
                    outer.seen.notify_all()
                self.send_response(200)
                self.send_header("Content-Type", "image/gif")
                pixel = base64.b64decode("R0lGODlhAQABAAAAACH5BAEKAAEALAAAAAABAAEAAAICTAEAOw==")
                self.send_header("Content-Length", str(len(pixel)))
                self.end_headers()
                self.wfile.write(pixel)

            def log_message(self, *args: Any) -> None:
                pass
        super().__init__(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.serve_forever, daemon=True)
        self.thread.start()

    @property
    def port(self) -> int:
        return self.server_address[1]

    def stop(self) -> None:
        self.shutdown()
        self.server_close()


# ---------------------------------------------------------------------------------------------------
def test_alice_sends_with_an_attachment_bob_reads_it_over_imap_then_pop3_takes_it_off_the_server(classroom, browser):
    director, server = classroom()
    alice = open_webmail(browser, server)
    login(alice, ALICE, "alice")
    assert alice.inner_text("#wm-address") == ALICE
    # the folders of an IMAP account, with INBOX open
    names = alice.eval_on_selector_all(".wm-folder", "els => els.map(e => e.dataset.special)")
    assert {"inbox", "sent", "drafts", "trash", "junk"} <= set(names)
    assert alice.get_attribute("#wm-messages", "data-folder") == "INBOX"

    compose(alice, to=BOB, subject="Lab results", body="Hi Bob,\nthe numbers are attached.\n",
            files=[{"name": "results.bin", "mimeType": "application/octet-stream", "buffer": PAYLOAD}])
    assert alice.is_visible("#wm-wire-note.wm-wire-tls")
    before = director.stack.bus.last_seq
    reply = send(alice)
    assert reply.startswith("250"), reply

    # the hops: a submission from alice's mail client, made by the webmail (its own source address) ...
    hop = wait_event(server, lambda e: e["seq"] > before and e["kind"] == "smtp.session"
                     and e["src"] == f"mua:{ALICE}" and by_webmail(e), "the webmail's submission hop")
    assert (hop["data"] or {}).get("door") == "submission"
    # ... on the diagram's timeline of the teacher's page, and the letter reaches bob
    teacher = browser.new_context(viewport={"width": 1280, "height": 720}).new_page()
    teacher.goto(server.teacher_url)
    teacher.wait_for_selector("body[data-ready=yes]", timeout=15000)
    teacher.wait_for_selector(f'#timeline-list [data-seq="{hop["seq"]}"]', state="attached", timeout=20000)
    teacher.context.close()
    delivered_to(server, BOB, after=before)
    # saved to alice's Sent on the server (IMAP APPEND)
    alice.click('.wm-folder[data-special="sent"]')
    row_with_subject(alice, "Lab results")

    # bob reads it over IMAP; the attachment comes back byte for byte
    bob = open_webmail(browser, server)
    login(bob, BOB, "bob")
    open_message(bob, "Lab results")
    assert "the numbers are attached" in bob.inner_text("#wm-pane-text")
    tab(bob, "attachments")
    link = bob.locator("#wm-pane-attachments a[data-index]").first
    assert "results.bin" in bob.inner_text("#wm-pane-attachments")
    with bob.expect_download() as info:
        link.click()
    assert Path(info.value.path()).read_bytes() == PAYLOAD
    assert teacher_get(server, f"/api/mailbox/{BOB}")["count"] == 1          # IMAP left it there

    # bob switches to POP3 (no copy kept): the next look at INBOX downloads it and deletes it
    before_loads = loads(bob)
    bob.select_option("#wm-set-retrieval", "pop3")
    bob.wait_for_function("n => Number(document.querySelector('#wm-messages').dataset.loads) > n", arg=before_loads)
    wait_until(lambda: teacher_get(server, f"/api/mailbox/{BOB}")["count"] == 0, timeout=20,
               what="bob's server mailbox emptied by POP3")
    pop3 = [e["kind"] for e in events(server) if e["kind"].startswith("pop3.") and by_webmail(e)]
    assert "pop3.retr" in pop3 and "pop3.dele" in pop3, pop3
    # the letter now lives in the webmail's own store, still readable there
    open_message(bob, "Lab results")
    assert "POP3" in bob.inner_text("#wm-mode")
    assert not alice.errors and not bob.errors, (alice.errors, bob.errors)


def test_a_message_the_teachers_step_gate_holds_is_said_to_wait_then_goes(classroom, browser):
    director, server = classroom(SEND_WAIT=0.2)
    alice = open_webmail(browser, server)
    login(alice, ALICE, "alice")
    compose(alice, to=BOB, subject="Held", body="Wait for it.\n")
    teacher_post(server, "/api/gate", {"action": "pause"})
    before = director.stack.bus.last_seq
    alice.click("#wm-send")
    alice.wait_for_selector('#wm-notice:not([hidden])[data-what="pending"]', timeout=20000)
    assert alice.is_hidden("#wm-compose")
    wait_until(lambda: director.stack.gate.state().waiting, timeout=10, what="a hop held by the gate")
    teacher_post(server, "/api/gate", {"action": "play"})
    delivered_to(server, BOB, after=before)
    assert not alice.errors, alice.errors


def test_a_wrong_login_is_refused_with_the_same_words_whether_the_user_exists_or_not(classroom, browser):
    _director, server = classroom()
    page = open_webmail(browser, server)
    said = []
    for address in (ALICE, "nobody@alpha.test"):
        page.fill("#wm-login-address", address)
        page.fill("#wm-login-password", "not-the-password")
        page.click("#wm-login-submit")
        page.wait_for_selector("#wm-login-error:not([hidden])")
        said.append(page.inner_text("#wm-login-error"))
        page.evaluate("document.querySelector('#wm-login-error').hidden = true")
    assert said[0] == said[1] and said[0]
    assert page.get_attribute("body", "data-view") == "login"


def test_a_student_who_joined_the_class_arrives_logged_in_and_writes_to_bob(classroom, browser):
    director, server = classroom()
    teacher_post(server, "/api/class", {"open": True})
    page = open_webmail(browser, server, lang="ru")
    page.wait_for_selector("body[data-view=login]")
    status, joined = page_post(page, "/api/class/join", {"name": "Dana"})
    assert status == 201, joined
    page.reload()
    page.wait_for_selector("body[data-ready=yes]")
    assert page.get_attribute("body", "data-view") == "mail"        # no login form: the session says who
    assert page.inner_text("#wm-address") == joined["address"]
    assert UI["ru"]["webmail.student"] in page.inner_text("#wm-mode")
    assert page.inner_text('.wm-folder[data-special="inbox"] .wm-folder-name') == UI["ru"]["webmail.folder.inbox"]
    page.click('button[data-lang="en"]')                            # the language switch, live
    page.wait_for_function("() => document.documentElement.lang === 'en'")
    assert page.inner_text('.wm-folder[data-special="inbox"] .wm-folder-name') == UI["en"]["webmail.folder.inbox"]
    assert page.inner_text("#wm-compose-btn").strip().endswith(UI["en"]["webmail.compose"])
    compose(page, to=BOB, subject="Hello from the class", body="Hi Bob!\n")
    before = director.stack.bus.last_seq
    assert send(page).startswith("250")
    wait_event(server, lambda e: e["seq"] > before and e["kind"] == "smtp.session"
               and e["src"] == f"mua:{joined['address']}" and by_webmail(e), "the student's submission hop")
    delivered_to(server, BOB, after=before)
    assert not page.errors, page.errors


def act(page, what: str) -> None:
    """Press a button of the reading pane's toolbar and wait for the list it reloads afterwards."""
    before = loads(page)
    page.click(f'#wm-reader [data-act="{what}"]')
    page.wait_for_function("n => Number(document.querySelector('#wm-messages').dataset.loads) > n", arg=before)


def open_folder(page, special: str) -> None:
    before = loads(page)
    page.click(f'.wm-folder[data-special="{special}"]')
    page.wait_for_function("n => Number(document.querySelector('#wm-messages').dataset.loads) > n", arg=before)


def subjects(page) -> list[str]:
    return page.eval_on_selector_all(".wm-row .wm-subj", "els => els.map(e => e.textContent)")


def test_flags_moves_and_deletes_over_imap_and_a_forward_prefilled(classroom, browser):
    director, server = classroom()
    send_mail(director.stack, sender=ALICE, password="alice", to=BOB, subject="Keep me", text="Important.\n")
    delivered_to(server, BOB)
    bob = open_webmail(browser, server)
    login(bob, BOB, "bob")
    assert bob.locator('.wm-folder[data-special="inbox"] .wm-unseen').inner_text() == "1"
    open_message(bob, "Keep me")
    assert bob.locator('.wm-folder[data-special="inbox"] .wm-unseen').count() == 0     # read now
    act(bob, "flag")
    assert bob.locator(".wm-row .wm-flagged").count() == 1
    assert bob.get_attribute("#wm-flag", "class").split().count("on") == 1
    act(bob, "flag")
    assert bob.locator(".wm-row .wm-flagged").count() == 0
    act(bob, "unread")
    assert bob.locator(".wm-row.unseen").count() == 1
    assert bob.locator('.wm-folder[data-special="inbox"] .wm-unseen').inner_text() == "1"

    # a forward: the server prefills the subject and quotes the original
    open_message(bob, "Keep me")
    bob.click('#wm-reader [data-act="forward"]')
    bob.wait_for_selector('#wm-compose:not([hidden])[data-mode="forward"]')
    assert bob.input_value("#wm-c-subject").startswith("Fwd:")
    assert "Important." in bob.input_value("#wm-c-body")
    bob.click("#wm-compose-close")
    bob.wait_for_selector("#wm-compose", state="hidden")

    # move to Junk, delete (to Trash), delete again (gone for good)
    open_message(bob, "Keep me")
    junk = bob.get_attribute('.wm-folder[data-special="junk"]', "data-folder")
    bob.select_option("#wm-move-to", junk)
    act(bob, "move")
    assert subjects(bob) == []
    open_folder(bob, "junk")
    assert subjects(bob) == ["Keep me"]
    open_message(bob, "Keep me")
    act(bob, "delete")
    assert subjects(bob) == []
    open_folder(bob, "trash")
    assert subjects(bob) == ["Keep me"]
    open_message(bob, "Keep me")
    act(bob, "delete")
    assert subjects(bob) == []
    moves = {e["kind"] for e in events(server) if by_webmail(e)}
    assert {"imap.store", "imap.login"} <= moves, moves
    assert not bob.errors, bob.errors


def test_a_reply_keeps_the_thread_and_a_bounce_reads_as_a_report(classroom, browser):
    director, server = classroom()
    send_mail(director.stack, sender=ALICE, password="alice", to=BOB, subject="Lunch?", text="Noon at the lab?\n")
    delivered_to(server, BOB)
    bob = open_webmail(browser, server)
    login(bob, BOB, "bob")
    open_message(bob, "Lunch?")
    original = message_from_bytes(raw_source(bob), policy=policy.default)
    original_id = original["Message-ID"].strip()
    bob.click('#wm-reader [data-act="reply"]')
    bob.wait_for_selector('#wm-compose:not([hidden])[data-mode="reply"]')
    assert ALICE in bob.input_value("#wm-c-to")
    assert bob.input_value("#wm-c-subject").startswith("Re:")
    bob.fill("#wm-c-body", "Yes, noon.\n\n" + bob.input_value("#wm-c-body"))
    before = director.stack.bus.last_seq
    assert send(bob).startswith("250")
    delivered_to(server, ALICE, after=before)

    alice = open_webmail(browser, server)
    login(alice, ALICE, "alice")
    open_message(alice, "Re: Lunch?")
    reply = message_from_bytes(raw_source(alice), policy=policy.default)
    assert reply["In-Reply-To"].strip() == original_id
    assert original_id in reply["References"].split()

    # a letter to nobody comes back as a delivery report, read as what it says
    compose(alice, to="nobody@beta.test", subject="Into the void", body="Anyone?\n")
    before = director.stack.bus.last_seq
    send(alice)
    delivered_to(server, ALICE, after=before)
    # no "Check mail" here: the page hears of the delivery into alice's mailbox and looks by itself
    alice.wait_for_selector(".wm-row .wm-dsn", timeout=20000)
    alice.locator(".wm-row", has=alice.locator(".wm-dsn")).first.click()
    alice.wait_for_selector('#wm-pane-text .dsn[data-report="delivery-status"]')
    assert alice.locator('#wm-pane-text .dsn-recipient[data-recipient="rfc822;nobody@beta.test"], '
                        '#wm-pane-text .dsn-recipient[data-recipient="nobody@beta.test"]').count() == 1
    assert "5.1.1" in alice.inner_text("#wm-pane-text .dsn-status")
    assert not alice.errors and not bob.errors, (alice.errors, bob.errors)


def test_an_html_mail_runs_nothing_and_loads_nothing_until_remote_images_are_asked_for(classroom, browser):
    director, server = classroom()
    remote = Remote()
    try:
        base = f"http://127.0.0.1:{remote.port}"
        html = ("<html><head><link rel='stylesheet' href='" + base + "/x.css'>"
                "<script>console.log('mailflow-script-ran'); document.documentElement.dataset.ran = 'yes';"
                "try { parent.document.body.dataset.owned = 'yes'; } catch (e) { console.log('mailflow-script-ran'); }"
                "</script></head>"
                "<body onload=\"console.log('mailflow-onload-ran')\"><h1 id='greeting'>Hello in HTML</h1>"
                "<img src='" + base + "/x.png' alt='tracker'>"
                "<img src='x' onerror=\"console.log('mailflow-onerror-ran')\"></body></html>")
        send_mail(director.stack, sender=ALICE, password="alice", to=BOB, subject="Shiny", text="Plain words.\n",
                  html=html)
        delivered_to(server, BOB)
        bob = open_webmail(browser, server)
        login(bob, BOB, "bob")
        open_message(bob, "Shiny")
        assert bob.is_visible("#wm-pane-text") and "Plain words." in bob.inner_text("#wm-pane-text")
        tab(bob, "html")
        frame = bob.wait_for_selector('#wm-html-frame iframe[data-images="no"][data-loaded="yes"]')
        assert frame.get_attribute("sandbox") == ""            # no allow-scripts, no allow-same-origin
        assert "/api/webmail/message/html?" in frame.get_attribute("src")
        # the frame has loaded and given up on what it may not fetch: nothing ran, nothing was asked
        assert remote.paths == []
        assert not [m for m in bob.console if "mailflow-" in m], bob.console
        assert bob.get_attribute("body", "data-owned") is None

        bob.click("#wm-images")
        bob.wait_for_selector('#wm-html-frame iframe[data-images="yes"][data-loaded="yes"]')
        with remote.seen:
            assert remote.seen.wait_for(lambda: "/x.png" in remote.paths, timeout=10), remote.paths
        assert "/x.css" not in remote.paths                    # images only: styles from afar stay out
        assert not [m for m in bob.console if "mailflow-" in m], bob.console
        assert not bob.errors, bob.errors
    finally:
        remote.stop()


def test_every_string_the_webmail_page_asks_for_is_in_both_catalogues():
    """The page's words come from the catalogues (GET /api/i18n/<lang>): every key its template and
    scripts name, and the ones they build (a folder's kind, the compose mode), exist in both."""
    root = HERE.parent
    text = (root / "templates" / "webmail.html").read_text(encoding="utf-8")
    keys = set(re.findall(r'data-i18n(?:-title|-aria|-placeholder)?="([^"]+)"', text))
    for script in (root / "static" / "js").glob("webmail*.js"):
        keys |= set(re.findall(r'["`](webmail\.[A-Za-z0-9_.]+[A-Za-z0-9_])["`]', script.read_text(encoding="utf-8")))
    keys |= {f"webmail.folder.{kind}" for kind in ("inbox", "sent", "drafts", "trash", "junk")}
    keys |= {f"webmail.compose.title.{mode}" for mode in ("new", "reply", "reply_all", "forward")}
    assert len(keys) > 80
    for lang in ("en", "ru"):
        missing = sorted(k for k in keys if k not in UI[lang])
        assert not missing, f"{lang}: {missing}"


# -- how it looks -----------------------------------------------------------------------------------
def axe_violations(page) -> list[str]:
    if not page.evaluate("typeof window.axe === 'object'"):
        page.add_script_tag(path=str(AXE_JS))
    found = page.evaluate("""async tags => {
        const r = await axe.run(document, {runOnly: {type: 'tag', values: tags}, resultTypes: ['violations']});
        return r.violations.flatMap(v => v.nodes.map(n => `${v.id}: ${v.help} — ${n.target.join(' ')}`));
    }""", AXE_TAGS)
    return found


ON_SCREEN = {"mail": ["#wm-compose-btn", "#wm-check", "#wm-logout", "#wm-diagram", ".wm-row", "#wm-tab-attachments",
                      '#wm-reader [data-act="delete"]', ".btn-lang"],
             "compose": ["#wm-c-to", ".wm-file-pick", "#wm-wire-note", "#wm-send"],
             "login": ["#wm-login-address", "#wm-login-password", "#wm-login-submit"]}


def on_screen_problems(page, view: str) -> list[str]:
    out = []
    for selector in ON_SCREEN[view]:
        found = boxes(page, selector)
        if not found or not all(on_screen(b) for b in found):
            out.append(f"{selector} is not (all) on screen: {found[:1]}")
    return out


@pytest.mark.parametrize("lang", ["en", "ru"])
def test_the_webmail_at_1280_and_at_125_percent_in_both_languages(classroom, browser, artefacts, lang):
    director, server = classroom()
    send_mail(director.stack, sender=ALICE, password="alice", to=BOB, subject="Timetable for the week",
              text="Monday: SMTP. Tuesday: DNS. Wednesday: IMAP and POP3.\n")
    delivered_to(server, BOB)
    ui = UI[lang]
    problems = []
    for screen in SCREENS:
        page = open_webmail(browser, server, lang=lang, screen=screen, axe=True)
        assert page.inner_text("#wm-login-title") == ui["webmail.login.title"]
        problems += [f"{screen} login: {p}" for p in on_screen_problems(page, "login")]
        page.screenshot(path=str(artefacts / f"webmail-login-{lang}-{screen}.png"))
        if screen == "1280x720":
            problems += [f"{screen} login axe: {v}" for v in axe_violations(page)]
        login(page, BOB, "bob", tls="plain")
        open_message(page, "Timetable for the week")
        assert page.inner_text('.wm-folder[data-special="inbox"] .wm-folder-name') == ui["webmail.folder.inbox"]
        problems += [f"{screen} mail: {p}" for p in on_screen_problems(page, "mail")]
        page.screenshot(path=str(artefacts / f"webmail-read-{lang}-{screen}.png"))
        if screen == "1280x720":
            problems += [f"{screen} mail axe: {v}" for v in axe_violations(page)]
        page.click('#wm-reader [data-act="reply"]')
        page.wait_for_selector('#wm-compose:not([hidden])[data-mode="reply"]')
        # a plain connection: the note says the wire shows everything
        assert page.is_visible("#wm-wire-note.wm-wire-plain")
        problems += [f"{screen} compose: {p}" for p in on_screen_problems(page, "compose")]
        page.screenshot(path=str(artefacts / f"webmail-compose-{lang}-{screen}.png"))
        if screen == "1280x720":
            problems += [f"{screen} compose axe: {v}" for v in axe_violations(page)]
        assert not page.errors, page.errors
        page.context.close()
    assert not problems, "\n".join(problems)


def test_the_page_is_usable_from_the_keyboard(classroom, browser):
    director, server = classroom()
    send_mail(director.stack, sender=ALICE, password="alice", to=BOB, subject="Keys", text="Tab, arrows, Enter.\n")
    delivered_to(server, BOB)
    page = open_webmail(browser, server)
    page.wait_for_selector("body[data-view=login]")
    assert page.evaluate("document.activeElement.id") == "wm-login-address"
    page.keyboard.type(BOB)
    page.keyboard.press("Tab")
    page.keyboard.type("bob")
    page.keyboard.press("Enter")
    page.wait_for_selector("body[data-view=mail]")
    row = row_with_subject(page, "Keys")
    row.focus()
    page.keyboard.press("Enter")
    page.wait_for_function("() => document.querySelector('#wm-reader').dataset.id !== ''")
    page.focus("#wm-tab-text")
    page.keyboard.press("ArrowRight")          # HTML is disabled (no HTML part): on to Headers
    assert page.evaluate("document.activeElement.id") == "wm-tab-headers"
    assert page.is_visible("#wm-pane-headers")
    assert re.search(r"Subject", page.inner_text("#wm-pane-headers"))
    assert not page.errors, page.errors
