"""The test API (/api/v1) against a real world on loopback: who may call it, searching, one message,
deleting, waiting, bad input; the query language and retention as tables (no sockets).

Browsers and scripts are Flask test clients with their own remote addresses; the API trusts no
address (a client on 127.0.0.1 without the token gets 401 too).
"""
from __future__ import annotations

import email
import threading
import time
from email.message import EmailMessage
from email.policy import default as default_policy
from pathlib import Path

import pytest

from simulator import mda, nodes, web
from simulator.store import MailStore, Retention
from simulator.store.search import Query, QueryError, matches, parse_query, query_from
from simulator.web import v1

from web_fixtures import Browserish, send_mail, submission_port

TOKEN = "test-token-0123456789abcdef"
BEARER = {"Authorization": f"Bearer {TOKEN}"}


@pytest.fixture
def app(world):
    return web.create_app(world.stack, {"TEACHER_TOKEN": TOKEN})


@pytest.fixture
def api(app):
    client = app.test_client()
    client.environ_base["REMOTE_ADDR"] = "127.0.0.1"

    class Api:
        def get(self, url, **kw):
            return client.get(url, headers=BEARER, **kw)

        def delete(self, url, **kw):
            return client.delete(url, headers=BEARER, **kw)

        def ok(self, url):
            answer = self.get(url)
            assert answer.status_code == 200, (url, answer.status_code, answer.get_data(as_text=True)[:300])
            return answer.get_json()
    return Api()


def send_rich(stack, *, subject: str, to: str = "bob@beta.test", sender: str = "alice@alpha.test",
              password: str = "alice", text: str = "plain words\n", html: str | None = None,
              attachments: tuple[tuple[str, bytes, str], ...] = ()) -> None:
    import smtplib
    message = EmailMessage()
    message["From"], message["To"], message["Subject"] = sender, to, subject
    message.set_content(text)
    if html is not None:
        message.add_alternative(html, subtype="html")
    for name, data, kind in attachments:
        maintype, _, subtype = kind.partition("/")
        message.add_attachment(data, maintype=maintype, subtype=subtype, filename=name)
    with smtplib.SMTP("127.0.0.1", submission_port(stack), local_hostname="tests.localhost", timeout=30) as smtp:
        smtp.login(sender, password)
        smtp.send_message(message)


# -- who may call it ------------------------------------------------------------------------------------
def test_the_api_needs_the_token_for_every_verb_whatever_the_address(app, world):
    send_mail(world.stack, subject="secret")
    world.wait_messages("bob@beta.test")
    local = app.test_client()
    local.environ_base["REMOTE_ADDR"] = "127.0.0.1"       # the page trusts loopback; the API does not
    for method, url in (("GET", "/api/v1"), ("GET", "/api/v1/messages"), ("GET", "/api/v1/messages/latest"),
                        ("DELETE", "/api/v1/messages"), ("GET", "/api/v1/wait?timeout=0")):
        for headers in ({}, {"Authorization": "Bearer wrong-token-but-long-enough"}, {"Authorization": TOKEN}):
            answer = local.open(url, method=method, headers=headers)
            assert answer.status_code == 401, (method, url, headers)
            assert answer.headers["WWW-Authenticate"].startswith("Bearer")
            assert "error" in answer.get_json()
    assert world.messages("bob@beta.test")                 # nothing was deleted
    assert local.get("/api/v1/messages", headers=BEARER).get_json()["total"] == 1


def test_the_teachers_cookie_reads_and_deletes_only_with_the_csrf_token(app, world):
    send_mail(world.stack, subject="hello")
    world.wait_messages("bob@beta.test")
    teacher = Browserish(app, remote_addr="10.9.9.9")
    teacher.client.set_cookie("mailflow_teacher", TOKEN)
    assert teacher.get("/api/v1/messages").get_json()["total"] == 1
    assert teacher.client.delete("/api/v1/messages").status_code == 403         # no CSRF token: not ours
    assert world.messages("bob@beta.test")
    answer = teacher.client.delete("/api/v1/messages", headers={"X-CSRF-Token": teacher.token})
    assert answer.status_code == 200 and answer.get_json() == {"deleted": 1}


def test_a_students_webmail_session_neither_opens_the_api_nor_reaches_another_mailbox(app, world):
    send_mail(world.stack, subject="bob's secret")
    world.wait_messages("bob@beta.test")
    alice = Browserish(app, remote_addr="10.1.1.2")
    assert alice.post("/api/webmail/login", {"address": "alice@alpha.test", "password": "alice"}).status_code == 200
    bobs = alice.client.get("/api/v1/messages", headers={"Authorization": TOKEN})     # no "Bearer "
    assert bobs.status_code == 401
    key = world.stack.store.inbox_snapshot("bob@beta.test")[0].path.name.split(":")[0]
    for method in ("GET", "DELETE"):
        answer = alice.client.open(f"/api/v1/messages/{key}", method=method, headers={"X-CSRF-Token": alice.token})
        assert answer.status_code == 401, method
    assert alice.get(f"/api/mailbox/bob@beta.test/{key}").status_code == 403
    bob = Browserish(app, remote_addr="10.1.1.3")
    assert bob.post("/api/webmail/login", {"address": "bob@beta.test", "password": "bob"}).status_code == 200
    bobs_id = bob.get("/api/webmail/messages?folder=INBOX").get_json()["messages"][0]["id"]
    for verb, body in (("delete", {"folder": "INBOX", "id": bobs_id}),
                       ("flags", {"folder": "INBOX", "id": bobs_id, "seen": True})):
        assert alice.post(f"/api/webmail/{verb}", body).status_code == 404, verb     # looked up in alice's
    assert alice.get(f"/api/webmail/message?folder=INBOX&id={bobs_id}").status_code == 404
    assert len(world.messages("bob@beta.test")) == 1


# -- searching ------------------------------------------------------------------------------------------
def test_search_filters_and_pages_across_mailboxes(api, world):
    send_rich(world.stack, subject="Invoice 1", text="total: 10 EUR\n")
    send_rich(world.stack, subject="Invoice 2", to="carol@alpha.test", text="total: 20 EUR\n")
    send_rich(world.stack, subject="Welcome", sender="bob@beta.test", password="bob", to="alice@alpha.test",
              text="activate your account\n")
    api.ok("/api/v1/wait?count=3&timeout=20")
    every = api.ok("/api/v1/messages")
    assert every["total"] == 3
    assert sorted(m["subject"] for m in every["messages"]) == ["Invoice 1", "Invoice 2", "Welcome"]
    order = [(m["received_ts"], m["id"]) for m in every["messages"]]
    assert order == sorted(order, reverse=True)                     # newest delivery first
    assert {m["mailbox"] for m in every["messages"]} == {"bob@beta.test", "carol@alpha.test", "alice@alpha.test"}

    def subjects(query: str) -> list[str]:
        return [m["subject"] for m in api.ok(f"/api/v1/messages?{query}")["messages"]]
    assert sorted(subjects("subject=invoice")) == ["Invoice 1", "Invoice 2"]
    assert subjects("q=subject:invoice to:carol") == ["Invoice 2"]
    assert subjects("from=bob@beta.test") == ["Welcome"]
    assert subjects("q=activate") == ["Welcome"]                    # a bare word: subject or body text
    assert subjects("text=20%20EUR") == ["Invoice 2"]
    assert subjects('q=subject:"invoice 1"') == ["Invoice 1"]
    assert subjects("mailbox=alice@alpha.test") == ["Welcome"]
    assert subjects("q=to:bob@beta.test") == ["Invoice 1"]
    first = every["messages"][-1]
    assert subjects(f"trace={first['trace']}") == [first["subject"]]
    # a window around the oldest delivery: it holds exactly the messages delivered in it (two deliveries
    # may land within the same half millisecond: the window then holds both)
    since, until = first["received_ts"], first["received_ts"] + 0.0005
    inside = [m["subject"] for m in every["messages"] if since <= m["received_ts"] <= until]
    assert first["subject"] in inside
    assert subjects(f"since={since}&until={until}") == inside
    assert subjects("until=2000-01-01") == []
    assert subjects("q=after:2000-01-01T00:00:00Z subject:welcome") == ["Welcome"]
    page = api.ok("/api/v1/messages?limit=1&offset=1")
    assert (page["total"], page["count"], page["offset"], page["limit"]) == (3, 1, 1, 1)
    assert page["messages"] == every["messages"][1:2]
    assert api.ok("/api/v1/messages?offset=5")["messages"] == []
    boxes = {m["address"]: m["count"] for m in api.ok("/api/v1/mailboxes")["mailboxes"]}
    assert boxes == {"alice@alpha.test": 1, "bob@beta.test": 1, "carol@alpha.test": 1}


@pytest.mark.parametrize("query, param", [
    ("q=subject:%22open", "q"),                  # a quote not closed
    ("q=colour:red", "q"),                       # no such field
    ("q=from:", "q"),                            # a field without a value
    ("q=after:yesterday", "q"),                  # not a date
    ("since=tomorrow", "since"),
    ("subject=", "subject"),
    ("limit=ten", "limit"),
    ("limit=0", "limit"),
    ("offset=-1", "offset"),
    ("subjet=typo", "subjet"),                   # a typo must not quietly match everything
])
def test_a_query_that_cannot_be_read_is_400_naming_the_parameter(api, query, param):
    for url in (f"/api/v1/messages?{query}", f"/api/v1/wait?timeout=0&{query}"):
        answer = api.get(url)
        assert answer.status_code == 400, url
        assert answer.get_json()["error"].startswith(f"{param}:"), answer.get_json()


@pytest.mark.parametrize("query, param", [("timeout=-1", "timeout"), ("timeout=soon", "timeout"),
                                          ("timeout=100000", "timeout"), ("count=0", "count")])
def test_a_wait_with_bad_bounds_is_400(api, query, param):
    answer = api.get(f"/api/v1/wait?{query}")
    assert answer.status_code == 400
    assert answer.get_json()["error"].startswith(f"{param}:")


# -- one message ----------------------------------------------------------------------------------------
def test_one_message_its_raw_source_its_attachments_and_its_trace(api, world):
    pdf = b"%PDF-1.4 not really\x00\xff" * 100
    send_rich(world.stack, subject="Report", html="<p>the <b>report</b></p>",
              attachments=(("report.pdf", pdf, "application/pdf"), ("data.csv", b"a,b\n1,2\n", "text/csv")))
    summary = api.ok("/api/v1/wait?subject=report&timeout=20")["message"]
    one = api.ok(f"/api/v1/messages/{summary['id']}")
    assert one["subject"] == "Report" and one["mailbox"] == "bob@beta.test"
    assert one["text"] == "plain words\n" and "<b>report</b>" in one["html"]
    assert [(a["name"], a["type"], a["size"]) for a in one["attachments"]] == [
        ("report.pdf", "application/pdf", len(pdf)), ("data.csv", "text/csv", 8)]
    assert ["Subject", "Report"] in one["headers"]
    stored = world.messages("bob@beta.test")[0]
    raw = api.get(f"/api/v1/messages/{summary['id']}/raw")
    assert raw.status_code == 200 and raw.mimetype == "message/rfc822"
    assert raw.data == stored                           # as stored, byte for byte
    assert email.message_from_bytes(raw.data, policy=default_policy)["Subject"] == "Report"
    part = api.get(f"/api/v1/messages/{summary['id']}/parts/{one['attachments'][0]['index']}")
    assert part.status_code == 200 and part.mimetype == "application/pdf" and part.data == pdf
    assert 'filename=report.pdf' in part.headers["Content-Disposition"]
    assert part.headers["X-Content-Type-Options"] == "nosniff"
    assert api.get(f"/api/v1/messages/{summary['id']}/parts/99").status_code == 404
    assert api.get(f"/api/v1/messages/{summary['id']}/parts/x").status_code == 400
    trace = api.ok(f"/api/v1/messages/{summary['id']}/trace")
    assert trace["trace"] == summary["trace"] and trace["trace"].startswith("m-")
    kinds = [e["kind"] for e in trace["events"]]
    assert kinds[-1] == "mda.deliver" and {e["trace"] for e in trace["events"]} == {summary["trace"]}
    assert trace["events"][-1]["dst"] == nodes.mailbox("bob@beta.test")
    assert api.ok("/api/v1/messages/latest")["id"] == summary["id"]
    assert api.get("/api/v1/messages/no-such-message").status_code == 404
    assert api.get("/api/v1/messages/..%2Fetc").status_code in (400, 404)


# -- deleting -------------------------------------------------------------------------------------------
def test_delete_one_a_mailbox_matching_or_all(api, world):
    for subject, to in (("one", "bob@beta.test"), ("two", "bob@beta.test"), ("three", "carol@alpha.test"),
                        ("four", "alice@alpha.test")):
        send_mail(world.stack, subject=subject, to=to)
    api.ok("/api/v1/wait?count=4&timeout=20")
    one = api.ok("/api/v1/messages?subject=one")["messages"][0]
    assert api.delete(f"/api/v1/messages/{one['id']}").get_json() == {"deleted": 1}
    assert api.get(f"/api/v1/messages/{one['id']}").status_code == 404
    assert api.delete(f"/api/v1/messages/{one['id']}").status_code == 404
    assert api.delete("/api/v1/mailboxes/carol@alpha.test").get_json() == {"deleted": 1}
    assert api.delete("/api/v1/mailboxes/nobody@alpha.test").status_code == 404
    assert api.delete("/api/v1/messages?subject=four").get_json() == {"deleted": 1}
    assert [m["subject"] for m in api.ok("/api/v1/messages")["messages"]] == ["two"]
    assert api.delete("/api/v1/messages").get_json() == {"deleted": 1}
    assert api.ok("/api/v1/messages")["total"] == 0
    assert world.messages("bob@beta.test") == [] and world.messages("carol@alpha.test") == []


# -- waiting --------------------------------------------------------------------------------------------
def test_wait_answers_when_the_message_arrives_and_408_when_it_does_not(app, api, world):
    answer: dict = {}
    waiting = threading.Thread(target=lambda: answer.update(r=api.get("/api/v1/wait?subject=later&timeout=30")))
    waiting.start()
    arrivals = app.extensions[v1.EXTENSION].arrivals
    deadline = time.monotonic() + 10
    while arrivals._waiters == 0 and time.monotonic() < deadline:    # the poll has begun: now send
        time.sleep(0.01)
    assert arrivals._waiters == 1
    send_mail(world.stack, subject="Later")
    waiting.join(30)
    assert answer["r"].status_code == 200
    assert answer["r"].get_json()["message"]["subject"] == "Later"
    timeout = api.get("/api/v1/wait?subject=never&timeout=0.2")
    assert timeout.status_code == 408 and timeout.get_json()["total"] == 0
    assert "error" in timeout.get_json()
    two = api.get("/api/v1/wait?subject=later&count=2&timeout=0.1")
    assert two.status_code == 408 and two.get_json()["total"] == 1


def test_the_api_alone_has_no_page_and_no_socketio(world):
    app = web.create_app(world.stack, {"TEACHER_TOKEN": TOKEN}, api_only=True)
    client = app.test_client()
    assert client.get("/api/v1", headers=BEARER).get_json()["version"] == v1.VERSION
    assert client.get("/api/state").status_code == 404
    assert client.get("/socket.io/?EIO=4&transport=polling").status_code == 404
    assert client.get("/webmail").status_code == 404
    assert client.get("/").get_json()["api"].endswith("/api/v1/")


# -- the query language (no sockets) --------------------------------------------------------------------
SUMMARY = {"id": "1.M1P1Q1.host", "mailbox": "bob@beta.test", "from": "Alice <alice@alpha.test>",
           "to": "bob@beta.test", "cc": "carol@alpha.test", "subject": "Monthly report: May",
           "message_id": "<abc@alpha.test>", "trace": "m-00ff", "delivered_to": "bob@beta.test",
           "received_ts": 1714560000.0}


@pytest.mark.parametrize("q, hit", [
    ("", True),
    ("from:alice", True),
    ("from:ALICE subject:report", True),
    ('subject:"monthly report"', True),
    ('subject:"report: may"', True),
    ("to:carol", True),                    # Cc counts as a recipient
    ("to:dave", False),
    ("mailbox:BOB@beta.test", True),
    ("mailbox:bob", False),                # exact
    ("trace:m-00ff", True),
    ("trace:m-00", False),
    ("id:1.M1P1Q1.host", True),
    ("message-id:abc@", True),
    ("after:2024-05-01", True),            # 2024-05-01T10:40Z
    ("after:2024-05-02", False),
    ("before:2024-05-01T10:40:01Z", True),
    ("before:2024-05-01T12:40:00+02:00", False),
    ("since:1714560000 until:1714560001", True),
    ("monthly", True),                     # a bare word searches the subject and the text
    ("invoice", False),
])
def test_query_terms_match_a_summary(q, hit):
    assert matches(parse_query(q), SUMMARY, lambda: "the body text") is hit


def test_query_parameters_and_q_combine():
    query = query_from({"q": "from:alice", "subject": "Report", "since": "2024-05-01"})
    assert query.from_ == ("alice",) and query.subject == ("report",) and query.since == 1714521600.0
    assert query_from({}).empty
    with pytest.raises(QueryError) as err:
        query_from({"mailbox": "a@b", "q": "mailbox:c@d"})
    assert err.value.param == "mailbox"
    assert parse_query('subject:"say \\"hi\\""').subject == ('say "hi"',)
    assert parse_query("  ") == Query()


# -- retention (the store, no sockets) ------------------------------------------------------------------
@pytest.mark.parametrize("policy, times, now, gone", [
    (Retention(), [0, 1, 2], 10, set()),
    (Retention(keep=2), [0, 1, 2], 10, {1}),
    (Retention(keep=1), [0, 1, 2], 10, {1, 2}),
    (Retention(max_age=5), [0, 6, 9], 10, {1}),
    (Retention(max_age=5), [0, 1, 2], 10, {1, 2}),          # never the newest (just delivered)
    (Retention(keep=5, max_age=5), [0, 6, 9], 10, {1}),
])
def test_retention_decides_by_arrival_order_and_age(policy, times, now, gone):
    assert policy.doomed([(uid, t) for uid, t in enumerate(times, 1)], now) == gone


@pytest.mark.parametrize("bad", [dict(keep=0), dict(keep=True), dict(max_age=0), dict(max_age=-1.0)])
def test_retention_refuses_a_policy_that_keeps_nothing(bad):
    with pytest.raises(ValueError):
        Retention(**bad)


def test_the_store_applies_retention_after_each_delivery_and_tells_listeners(tmp_path: Path):
    now = [time.time()]
    store = MailStore(tmp_path / "mail", clock=lambda: now[0], retention=Retention(keep=2, max_age=100))
    heard: list = []
    store.listen("bob@beta.test", heard.append)
    box = mda.maildir_for(tmp_path, "bob@beta.test")
    for n in range(3):
        mda.deliver(box, f"Subject: {n}\r\n\r\nbody\r\n".encode(), clock=lambda: now[0])
        now[0] += 1
        store.notify("bob@beta.test")
    assert [store.read_message("bob@beta.test", "INBOX", uid).split(b"\r\n")[0]
            for uid in store.uids("bob@beta.test", "INBOX")] == [b"Subject: 1", b"Subject: 2"]
    assert len(heard) == 3                                  # every delivery was told, once
    now[0] += 1000                                          # the two left are old now
    mda.deliver(box, b"Subject: 3\r\n\r\nbody\r\n", clock=lambda: now[0])
    store.notify("bob@beta.test")
    assert store.uids("bob@beta.test", "INBOX") == [4]
    assert sorted(p.name for p in (box / "new").iterdir()) == [store.message_info("bob@beta.test", "INBOX", 4).path.name]
    assert store.mailboxes() == ["bob@beta.test"]


def test_a_world_with_retention_keeps_the_newest_messages(api, world):
    world.stack.store.retention = Retention(keep=2)
    for n in range(4):
        send_mail(world.stack, subject=f"n{n}")
        api.ok(f"/api/v1/wait?subject=n{n}&timeout=20")
    assert [m["subject"] for m in api.ok("/api/v1/messages")["messages"]] == ["n3", "n2"]
