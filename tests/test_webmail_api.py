"""The webmail's and the class's JSON API, through the web app against a real world on loopback.

Who may read what (a mailbox only by its owner or the teacher), bad input (wrong passwords, header
injection, oversized attachments, ids of another mailbox, floods of joins, missing CSRF tokens),
students joining and leaving as world facts, and the per-student sending limit kept by the MSA.
Browsers are Flask test clients with their own remote addresses: ``TRUST_LOOPBACK`` is off, so
none of them is the teacher unless it presents the teacher's token.
"""
from __future__ import annotations

import base64
import imaplib

import pytest

from simulator import web
from simulator.protocols.throttle import ManualTime

from web_fixtures import Browserish, send_mail, wait_until

VIEWER = "10.1.1.1"


@pytest.fixture
def app(world):
    return web.create_app(world.stack, {"TRUST_LOOPBACK": False, "SEND_WAIT": 20.0,
                                        "CLASS_JOINS_PER_ADDRESS": 3, "CLASS_MAX_STUDENTS": 5})


def teacher(app) -> Browserish:
    client = Browserish(app, remote_addr="10.9.9.9")
    client.client.set_cookie("mailflow_teacher", app.config["TEACHER_TOKEN"])
    return client


def login(app, address: str, password: str, remote: str = VIEWER, **extra) -> Browserish:
    client = Browserish(app, remote_addr=remote)
    answer = client.post("/api/webmail/login", {"address": address, "password": password, **extra})
    assert answer.status_code == 200, answer.get_json()
    return client


def inbox(client: Browserish, folder: str = "INBOX") -> list[dict]:
    answer = client.get(f"/api/webmail/messages?folder={folder}")
    assert answer.status_code == 200, answer.get_json()
    return answer.get_json()["messages"]


# -- privacy ----------------------------------------------------------------------------------------
def test_a_mailbox_is_read_only_by_its_owner_or_the_teacher(app, world):
    send_mail(world.stack, subject="for bob only")
    world.wait_messages("bob@beta.test")
    stranger = Browserish(app, remote_addr=VIEWER)
    for url in ("/api/mailbox/bob@beta.test", "/api/mailbox/nobody@beta.test"):
        answer = stranger.get(url)
        assert answer.status_code == 403, url            # the same answer whether it exists or not
    assert teacher(app).get("/api/mailbox/bob@beta.test").get_json()["count"] == 1
    bob = login(app, "bob@beta.test", "bob")
    assert bob.get("/api/mailbox/bob@beta.test").status_code == 200
    assert bob.get("/api/mailbox/alice@alpha.test").status_code == 403
    key = teacher(app).get("/api/mailbox/bob@beta.test").get_json()["messages"][0]["key"]
    assert stranger.get(f"/api/mailbox/bob@beta.test/{key}").status_code == 403
    assert stranger.get(f"/api/mailbox/bob@beta.test/{key}/html").status_code == 403


def test_a_session_reaches_only_its_own_mailbox_whatever_the_ids(app, world):
    send_mail(world.stack, subject="bob's secret")
    world.wait_messages("bob@beta.test")
    bob = login(app, "bob@beta.test", "bob")
    bobs = inbox(bob)
    assert [m["subject"] for m in bobs] == ["bob's secret"]
    alice = login(app, "alice@alpha.test", "alice", remote="10.1.1.2")
    assert inbox(alice) == []
    # bob's message id, asked for by alice's session: looked up in alice's mailbox only
    answer = alice.get(f"/api/webmail/message?folder=INBOX&id={bobs[0]['id']}")
    assert answer.status_code == 404
    for folder in ("../beta.test/bob", "/etc", "INBOX/../../bob"):
        answer = alice.get(f"/api/webmail/messages?folder={folder}")
        assert answer.status_code in (400, 404), folder
    assert alice.post("/api/webmail/delete", {"folder": "INBOX", "id": bobs[0]["id"]}).status_code == 404
    assert [m["subject"] for m in inbox(bob)] == ["bob's secret"]


# -- logins ----------------------------------------------------------------------------------------
def test_a_wrong_login_does_not_tell_whether_the_user_exists_and_is_throttled_per_browser(app, world):
    world.stack.throttle.use_time(clock := ManualTime())     # waits recorded, not slept
    guesser = Browserish(app, remote_addr="10.2.2.2")
    answers = [guesser.post("/api/webmail/login", {"address": address, "password": "guess"})
               for address in ("bob@beta.test", "nobody@beta.test", "bob@beta.test")]
    assert {a.status_code for a in answers} == {401}
    assert len({a.get_json()["error"] for a in answers}) == 1
    assert answers[-1].get_json()["wait"] > 0         # the next guess from this browser waits
    throttle = world.stack.throttle
    assert throttle.failures("web:10.2.2.2") == 3
    # another browser is not slowed by it, nor are the servers' records of the webmail's address
    other = Browserish(app, remote_addr="10.2.2.3")
    # its own first step (Dovecot's 2 s), not the guesser's 8 s
    assert other.post("/api/webmail/login", {"address": "bob@beta.test", "password": "x"}).get_json()["wait"] == 2.0
    assert clock.waits == [2.0, 4.0]                   # the guesser's 2nd and 3rd checks waited, before the check
    assert throttle.failures(world.stack.config.webmail_source) == 0
    login(app, "bob@beta.test", "bob", remote="10.2.2.3")
    assert throttle.failures("web:10.2.2.3") == 0


def test_login_refuses_bad_input(app):
    client = Browserish(app, remote_addr=VIEWER)
    for body in ({"address": "bob@beta.test"}, {"address": "bob@beta.test\r\nX: y", "password": "bob"},
                 {"address": "bob@beta.test", "password": "bob", "retrieval": "uucp"},
                 {"address": "bob@beta.test", "password": "bob", "tls": "ssl3"}):
        assert client.post("/api/webmail/login", body).status_code == 400, body


# -- sending -----------------------------------------------------------------------------------------
def test_header_injection_and_oversized_attachments_are_refused_with_a_message(start_world):
    world = start_world(max_message_size=64 * 1024)
    app = web.create_app(world.stack, {"TRUST_LOOPBACK": False, "SEND_WAIT": 20.0})
    alice = login(app, "alice@alpha.test", "alice")
    base = {"to": "bob@beta.test", "subject": "hi", "body": "text"}
    answer = alice.post("/api/webmail/send", {**base, "subject": "hi\r\nBcc: everyone@beta.test"})
    assert answer.status_code == 400 and "subject" in answer.get_json()["error"].lower()
    answer = alice.post("/api/webmail/send", {**base, "to": "bob@beta.test\nBcc: x@beta.test"})
    assert answer.status_code == 400
    big = base64.b64encode(b"x" * 100_000).decode()
    answer = alice.post("/api/webmail/send", {**base, "attachments": [{"name": "big.bin", "data": big}]})
    assert answer.status_code == 413 and answer.get_json()["error"]
    answer = alice.post("/api/webmail/send", {**base, "attachments": [{"name": "a.bin", "data": "not base64!"}]})
    assert answer.status_code == 400
    assert world.stack.queue_snapshot() == [] and world.messages("bob@beta.test") == []


def test_control_requests_without_the_csrf_token_fail(app):
    client = Browserish(app, remote_addr=VIEWER)
    for url, body in (("/api/webmail/login", {"address": "bob@beta.test", "password": "bob"}),
                      ("/api/webmail/send", {"to": "bob@beta.test"}), ("/api/class/join", {"name": "Eve"})):
        answer = client.client.post(url, json=body)             # no X-CSRF-Token
        assert answer.status_code == 403, url
        answer = client.client.post(url, json=body, headers={"X-CSRF-Token": "forged"})
        assert answer.status_code == 403, url


def test_a_message_sent_from_the_webmail_is_a_hop_of_the_webmail(app, world):
    alice = login(app, "alice@alpha.test", "alice")
    answer = alice.post("/api/webmail/send", {"to": "bob@beta.test", "subject": "via webmail", "body": "hi"})
    assert answer.status_code == 200 and answer.get_json()["reply"].startswith("250")
    world.wait_messages("bob@beta.test")
    submitted = world.events.wait_for(lambda e: e.kind == "smtp.session" and e.src == "mua:alice@alpha.test")
    assert submitted[0].data["wire"]["client"] == world.stack.config.webmail_source
    assert [m["subject"] for m in inbox(alice, "Sent")] == ["via webmail"]


# -- the class -------------------------------------------------------------------------------------------
def test_students_join_only_when_open_and_become_users_of_the_world(app, world):
    teach = teacher(app)
    student = Browserish(app, remote_addr="10.3.3.3")
    assert student.post("/api/class/join", {"name": "Ivan Petrov"}).status_code == 403     # closed
    assert student.post("/api/class", {"open": True}).status_code == 403                   # not the teacher
    assert teach.post("/api/class", {"open": True}).get_json()["open"] is True
    joined = student.post("/api/class/join", {"name": "Иван Петров"})
    assert joined.status_code == 201
    me = joined.get_json()
    assert me["address"] == "ivan.petrov@" + me["address"].rpartition("@")[2]
    assert world.stack.world.user_exists(me["address"])
    event = world.events.wait_for(lambda e: e.kind == "world.user" and e.data["joined"])[0]
    assert event.data["address"] == me["address"] and event.dst == f"mua:{me['address']}"
    # the same browser again: the same student, not a second one
    again = student.post("/api/class/join", {"name": "Ivan"})
    assert again.status_code == 200 and again.get_json()["address"] == me["address"]
    # logged in to the webmail at once, and a real client can log in with the password
    assert student.get("/api/webmail/session").get_json()["address"] == me["address"]
    with imaplib.IMAP4("127.0.0.1", world.port("imap"), timeout=10) as imap:
        assert imap.login(me["address"], me["password"])[0] == "OK"
    # the graph has the student's mail client and mailbox
    nodes = {n["id"] for n in student.get("/api/layout").get_json()["nodes"]}
    assert {f"mua:{me['address']}", f"mailbox:{me['address']}"} <= nodes
    # the teacher sees the roster, the student only themself
    assert [s["address"] for s in teach.get("/api/class").get_json()["students"]] == [me["address"]]
    assert student.get("/api/class").get_json()["students"] == []
    assert student.get("/api/class").get_json()["me"]["address"] == me["address"]


def test_joins_are_capped_per_address_and_in_all_and_names_are_checked(app):
    teacher(app).post("/api/class", {"open": True})
    for name in ("", "x" * 41, "a\x00b", "<script>", 7):
        assert Browserish(app, remote_addr="10.4.4.4").post("/api/class/join", {"name": name}).status_code == 400
    codes = [Browserish(app, remote_addr="10.4.4.5").post("/api/class/join", {"name": f"Flood {n}"}).status_code
             for n in range(5)]
    assert codes == [201, 201, 201, 429, 429]           # CLASS_JOINS_PER_ADDRESS = 3
    codes = [Browserish(app, remote_addr=f"10.4.5.{n}").post("/api/class/join", {"name": f"Other {n}"}).status_code
             for n in range(4)]
    assert codes == [201, 201, 429, 429]                # CLASS_MAX_STUDENTS = 5


def test_removing_a_student_ends_their_logins_and_mail_to_them_bounces(app, world):
    teach = teacher(app)
    teach.post("/api/class", {"open": True})
    student = Browserish(app, remote_addr="10.5.5.5")
    me = student.post("/api/class/join", {"name": "Leaver"}).get_json()
    answer = teach.client.delete(f"/api/class/students/{me['id']}", json={},
                                 headers={"X-CSRF-Token": teach.token})
    assert answer.status_code == 200
    assert not world.stack.world.user_exists(me["address"])
    assert world.events.wait_for(lambda e: e.kind == "world.user" and not e.data["joined"])
    assert student.get("/api/webmail/folders").status_code == 401
    with imaplib.IMAP4("127.0.0.1", world.port("imap"), timeout=10) as imap:
        with pytest.raises(imaplib.IMAP4.error):
            imap.login(me["address"], me["password"])


def test_the_sending_limit_is_kept_by_the_msa(app, world):
    teach = teacher(app)
    teach.post("/api/class", {"open": True, "limit": 1})
    student = Browserish(app, remote_addr="10.6.6.6")
    me = student.post("/api/class/join", {"name": "Chatty"}).get_json()
    message = {"to": "bob@beta.test", "subject": "one", "body": "hi"}
    assert student.post("/api/webmail/send", message).status_code == 200
    refused = student.post("/api/webmail/send", {**message, "subject": "two"})
    assert refused.status_code == 422 and "5.4.5" in refused.get_json()["error"]
    assert [s["sent"] for s in teach.get("/api/class").get_json()["students"]] == [1]
    assert world.stack.world.send_limit(me["address"]) == 1
    teach.post("/api/class", {"limit": None})
    assert student.post("/api/webmail/send", {**message, "subject": "three"}).status_code == 200
    wait_until(lambda: len(world.messages("bob@beta.test")) == 2, what="two messages for bob")


def test_students_stay_in_the_class_when_the_teacher_loads_another_lesson(tmp_path):
    """The director swaps the world: every student becomes a user of the new world's class domain,
    and their browser's webmail login follows them."""
    from conftest import make_config
    from simulator.scenario import DEFAULT_SCENARIO, load_scenario
    from web_fixtures import start_director
    director = start_director(make_config(tmp_path / "data"), load_scenario(DEFAULT_SCENARIO))
    app = web.create_app(director, {"TRUST_LOOPBACK": False, "SEND_WAIT": 20.0})
    try:
        teach = teacher(app)
        teach.post("/api/class", {"open": True})
        student = Browserish(app, remote_addr="10.7.7.7")
        me = student.post("/api/class/join", {"name": "Stayer"}).get_json()
        assert teach.post("/api/lesson", {"name": "04-primary-mx-down"}).status_code == 200
        world = wait_until(lambda: director.stack.world if director.stack.world.scenario.name != "default" else None,
                           what="the new lesson's world")
        domain = app.extensions["mailflow"].classroom.domain(world)
        address = f"stayer@{domain}"
        assert world.user_exists(address)
        session = student.get("/api/webmail/session").get_json()
        assert session["address"] == address and session["student"] is True
        assert student.get("/api/class").get_json()["me"]["address"] == address
        assert me["address"].rpartition("@")[0] == "stayer"
    finally:
        app.extensions["mailflow"].bridge.stop()
        director.stop()


# -- what reaches a viewer's page (privacy.py) ----------------------------------------------------------
def _events(client: Browserish) -> list[dict]:
    return client.get("/api/events?since=0").get_json()["events"]


def test_a_viewer_sees_what_crossed_the_wire_in_the_clear_and_nothing_tls_hid(app, world):
    alice = login(app, "alice@alpha.test", "alice")                    # STARTTLS (the default)
    alice.post("/api/webmail/send", {"to": "bob@beta.test", "subject": "SECRET-SUBJECT", "body": "SECRET-BODY"})
    plain = login(app, "bob@beta.test", "bob", remote="10.1.1.3", tls="plain")
    plain.post("/api/webmail/send", {"to": "alice@alpha.test", "subject": "OPEN-SUBJECT", "body": "OPEN-BODY"})
    wait_until(lambda: world.messages("alice@alpha.test") and world.messages("bob@beta.test"), what="both delivered")
    viewer = Browserish(app, remote_addr="10.1.1.9")
    seen = repr(_events(viewer))
    assert "SECRET-BODY" not in seen and "SECRET-SUBJECT" not in seen
    assert "AGFsaWNlQGFscGhhLnRlc3QAYWxpY2U=" not in seen                  # alice's AUTH PLAIN under TLS
    assert "OPEN-BODY" in seen                                             # the plaintext session: the lesson
    assert "AGJvYkBiZXRhLnRlc3QAYm9i" in seen                              # bob's AUTH PLAIN in the clear
    submitted = [e for e in _events(viewer) if e["kind"] == "smtp.session" and e["src"] == "mua:alice@alpha.test"]
    lines = submitted[0]["transcript"]
    assert lines[-1][0] == "🔒" and int(lines[-1][1]) > 10                  # how many lines TLS hid
    assert any(line[1] == "STARTTLS" for line in lines)                    # what came before it stays
    assert submitted[0]["message"]["rcpt"] == ["bob@beta.test"] and "subject" not in submitted[0]["message"]
    whole = repr(_events(teacher(app)))                                     # the projector shows it all
    assert "SECRET-BODY" in whole and "SECRET-SUBJECT" in whole
    # the same over Socket.IO: a viewer's connection gets the viewer's copy
    socket = app.extensions["mailflow"].socketio.test_client(app, flask_test_client=viewer.client)
    socket.emit("sync", {"since": 0}, callback=True)
    alice.post("/api/webmail/send", {"to": "bob@beta.test", "subject": "SECRET-TWO", "body": "SECRET-BODY-2"})
    got = wait_until(lambda: [m for m in socket.get_received() if m["name"] == "events"], what="live events")
    assert "SECRET-BODY-2" not in repr(got) and "SECRET-TWO" not in repr(got)


# -- review findings: addresses, sessions, limits --------------------------------------------------------
def test_a_new_student_never_inherits_the_mail_of_a_removed_one(app, world):
    teach = teacher(app)
    teach.post("/api/class", {"open": True})
    first = Browserish(app, remote_addr="10.8.0.1")
    gone = first.post("/api/class/join", {"name": "Ivan"}).get_json()
    send_mail(world.stack, to=gone["address"], subject="private to the first ivan")
    world.wait_messages(gone["address"])
    teach.client.delete(f"/api/class/students/{gone['id']}", json={}, headers={"X-CSRF-Token": teach.token})
    second = Browserish(app, remote_addr="10.8.0.2").post("/api/class/join", {"name": "Ivan"}).get_json()
    assert second["address"] != gone["address"] and second["sent"] == 0
    assert world.stack.world.sent(gone["address"]) == 0


def test_mail_of_an_earlier_run_on_disk_keeps_its_address_taken(app, world):
    domain = app.extensions["mailflow"].classroom.domain(world.stack.world)
    (world.stack.config.data_dir / "mail" / domain / "olga" / "cur").mkdir(parents=True)
    teacher(app).post("/api/class", {"open": True})
    me = Browserish(app, remote_addr="10.8.1.1").post("/api/class/join", {"name": "Olga"}).get_json()
    assert me["address"] == f"olga2@{domain}"


def test_logging_out_forgets_the_student_on_that_computer(app):
    teacher(app).post("/api/class", {"open": True})
    shared = Browserish(app, remote_addr="10.8.2.2")
    shared.post("/api/class/join", {"name": "Olga"})
    shared.post("/api/webmail/logout", {})
    assert shared.get("/api/class").get_json()["me"] is None
    assert shared.get("/api/webmail/session").get_json()["address"] is None


def test_a_password_with_a_line_break_is_refused_before_any_server_sees_it(app, world):
    client = Browserish(app, remote_addr=VIEWER)
    answer = client.post("/api/webmail/login", {"address": "bob@beta.test",
                                                "password": "x\r\nUSER bob@beta.test\r\nPASS bob", "retrieval": "pop3"})
    assert answer.status_code == 400
    assert not [e for e in world.events.events if e.kind.startswith("pop3.")]


def test_parallel_logins_from_one_browser_address_are_refused_while_one_is_checked(app, world):
    import concurrent.futures
    world.stack.throttle.failed("web:10.8.3.3")                        # the next check waits 2 s
    def attempt(_n):
        return Browserish(app, remote_addr="10.8.3.3").post(
            "/api/webmail/login", {"address": "bob@beta.test", "password": "guess"}).status_code
    with concurrent.futures.ThreadPoolExecutor(4) as pool:
        codes = sorted(pool.map(attempt, range(4)))
    assert codes.count(401) >= 1 and codes.count(429) >= 1 and set(codes) <= {401, 429}


def test_the_sending_limit_holds_for_parallel_sessions(app, world):
    import concurrent.futures
    import smtplib
    teach = teacher(app)
    teach.post("/api/class", {"open": True, "limit": 1})
    me = Browserish(app, remote_addr="10.8.4.4").post("/api/class/join", {"name": "Racer"}).get_json()
    port = world.port("submission")

    def session(n):
        with smtplib.SMTP("127.0.0.1", port, local_hostname="racer.test", timeout=20) as smtp:
            smtp.login(me["address"], me["password"])
            try:
                smtp.sendmail(me["address"], ["bob@beta.test"], f"Subject: race {n}\r\n\r\nhi\r\n".encode())
                return 250
            except smtplib.SMTPException as err:
                return getattr(err, "smtp_code", None) or 550
    with concurrent.futures.ThreadPoolExecutor(5) as pool:
        codes = list(pool.map(session, range(5)))
    assert codes.count(250) == 1 and world.stack.world.sent(me["address"]) == 1


def test_a_send_held_by_the_step_gate_can_be_followed_in_the_outbox(start_world):
    world = start_world()
    app = web.create_app(world.stack, {"TRUST_LOOPBACK": False, "SEND_WAIT": 0.3})
    world.stack.gate.pause()
    alice = login(app, "alice@alpha.test", "alice")
    answer = alice.post("/api/webmail/send", {"to": "bob@beta.test", "subject": "held", "body": "hi"})
    assert answer.status_code == 202
    item = answer.get_json()["outbox"]
    assert alice.get(f"/api/webmail/outbox/{item}").get_json()["state"] == "pending"
    assert Browserish(app, remote_addr="10.8.5.5").get(f"/api/webmail/outbox/{item}").status_code == 401
    world.stack.gate.play()
    done = wait_until(lambda: alice.get(f"/api/webmail/outbox/{item}").get_json()["state"] != "pending", timeout=20,
                      what="the held send finished")
    assert done is True
    assert alice.get(f"/api/webmail/outbox/{item}").get_json()["reply"].startswith("250")
