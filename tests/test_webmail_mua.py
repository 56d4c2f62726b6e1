"""The webmail's MUA library against a real world on free loopback ports: it sends over submission
with AUTH, reads over IMAP and POP3 through the front door (never a Maildir), and its hops name its
own source address.  The pure helpers (compose, read) are tested as tables without sockets."""
from __future__ import annotations

import base64
import os
import socket
from dataclasses import dataclass, replace
from email.message import EmailMessage
from pathlib import Path

import pytest

from simulator import tls
from simulator.facts import MdaDelivered
from simulator.scenario import Fault, FaultKind
from simulator.webmail import WEBMAIL_SOURCE, Endpoint, Login, Mua, WebmailError, compose, read
from simulator.webmail.local import LocalStore

BLOB = bytes(range(256)) * 40 + os.urandom(3000)      # binary, not text: base64 must carry it exactly


@dataclass
class Env:
    world: object
    endpoint: Endpoint
    local_root: Path

    def mua(self, address: str, password: str | None = None, **options) -> Mua:
        login = Login(address, password if password is not None else address.partition("@")[0], **options)
        return Mua(self.endpoint, login, self.local_root)

    def delivered(self, rcpt: str, count: int = 1) -> None:
        """Wait for the MDA's facts (no sleeps): ``count`` messages written for ``rcpt``."""
        self.world.events.facts(MdaDelivered, lambda f: f.rcpt == rcpt, count=count)

    def events(self, kind: str) -> list:
        return [e for e in self.world.stack.bus.since(0) if e.kind == kind]

    def hops(self, kind: str, predicate=lambda e: True, count: int = 1) -> list:
        """Wait for ``count`` hops of ``kind`` (a server may publish just after its last reply)."""
        return self.world.events.wait_for(lambda e: e.kind == kind and predicate(e), count=count)


@pytest.fixture
def env(world, tmp_path) -> Env:
    cert, _ = tls.ensure_certificate(world.stack.config.data_dir)
    endpoint = Endpoint(host=world.stack.config.front_host, submission=world.port("submission"),
                        imap=world.port("imap"), pop3=world.port("pop3"), ssl_context=tls.client_context(cert),
                        server_name=tls.HOSTNAME)
    return Env(world, endpoint, tmp_path / "webmail")


def attachment(name: str = "blob.bin", data: bytes = BLOB, kind: str = "application/octet-stream") -> dict:
    return {"name": name, "type": kind, "data": base64.b64encode(data).decode()}


def send(env: Env, sender: str, form: dict, **options) -> str:
    mua = env.mua(sender, **options)
    message, rcpts = compose.build(sender, sender.partition("@")[0].title(), form,
                                   max_message=env.endpoint.max_message)
    return mua.send(message, rcpts)


def wire_clients(env: Env, *kinds: str) -> set[str]:
    return {e.data["wire"]["client"] for e in env.world.stack.bus.since(0)
            if e.kind in kinds and e.data and e.data.get("wire")}


# ---------------------------------------------------------------------------------------------------
def test_alice_sends_an_attachment_over_starttls_and_bob_reads_it_over_imap(env):
    reply = send(env, "alice@alpha.test", {"to": "Bob <bob@beta.test>", "subject": "Photos ü",
                                           "body": "Hello Bob, see the file. Привет!\n",
                                           "attachments": [attachment()]})
    assert reply.startswith("250 ")
    submission = env.hops("smtp.session", lambda e: e.data["door"] == "submission")
    assert submission[0].data["wire"]["client"] == WEBMAIL_SOURCE
    assert submission[0].data["wire"]["tls"] == "starttls"          # the login went under TLS
    env.delivered("bob@beta.test")

    bob = env.mua("bob@beta.test")
    [entry] = bob.messages("INBOX")
    assert entry["subject"] == "Photos ü" and entry["has_attachments"] and not entry["seen"]
    raw = bob.fetch("INBOX", entry["id"])
    view = read.view(raw)
    assert view["headers"]["subject"] == "Photos ü" and "Привет!" in view["text"]
    [listed] = view["attachments"]
    assert (listed["name"], listed["type"], listed["size"]) == ("blob.bin", "application/octet-stream", len(BLOB))
    assert read.part(raw, listed["index"]) == ("blob.bin", "application/octet-stream", BLOB)   # byte-identical
    assert bob.messages("INBOX")[0]["seen"] is True                  # BODY[] set \Seen

    inbox = {f["name"]: f for f in bob.folders()}
    assert list(inbox) == ["INBOX", "Sent", "Drafts", "Trash", "Junk"]
    assert inbox["INBOX"]["special"] == "inbox" and inbox["Trash"]["special"] == "trash"
    assert (inbox["INBOX"]["total"], inbox["INBOX"]["unseen"]) == (1, 0)

    [sent] = env.mua("alice@alpha.test").messages("Sent")            # IMAP APPEND with \Seen
    assert sent["subject"] == "Photos ü" and sent["seen"]
    sent_raw = env.mua("alice@alpha.test").fetch("Sent", sent["id"])
    assert read.part(sent_raw, read.view(sent_raw)["attachments"][0]["index"])[2] == BLOB
    appended = env.events("imap.append")
    assert appended and appended[0].data["folder"] == "Sent"
    # every hop the webmail made names its source address; the server told who it is (IMAP ID)
    assert wire_clients(env, "imap.login", "imap.fetch", "imap.append", "imap.list") == {WEBMAIL_SOURCE}
    logins = env.events("imap.login")
    assert logins and all(e.data["wire"]["tls"] == "starttls" for e in logins)


def test_plain_sends_the_login_in_the_clear(env):
    send(env, "alice@alpha.test", {"to": "bob@beta.test", "subject": "clear", "body": "x"}, tls="plain")
    env.mua("bob@beta.test", tls="plain").check_login()
    [submission] = env.hops("smtp.session", lambda e: e.data["door"] == "submission")
    assert submission.data["wire"]["tls"] == "" and submission.data["credentials"][0]["password"] == "alice"
    [login] = env.hops("imap.login", lambda e: e.data["user"] == "bob@beta.test")
    assert login.data["wire"]["tls"] == "" and login.data["credentials"][0]["password"] == "bob"


def test_pop3_downloads_and_deletes_from_the_server(env):
    send(env, "alice@alpha.test", {"to": "bob@beta.test", "subject": "by POP3", "body": "hi",
                                   "attachments": [attachment()]})
    env.delivered("bob@beta.test")
    imap = env.mua("bob@beta.test")
    assert len(imap.messages("INBOX")) == 1
    pop = env.mua("bob@beta.test", retrieval="pop3")
    [entry] = pop.messages("INBOX")
    assert entry["subject"] == "by POP3" and not entry["seen"]
    assert imap.messages("INBOX") == []                       # the server's INBOX, read over IMAP
    raw = pop.fetch("INBOX", entry["id"])
    assert read.part(raw, read.view(raw)["attachments"][0]["index"])[2] == BLOB
    assert pop.messages("INBOX")[0]["seen"] is True
    assert [f["total"] for f in pop.folders()] == [1, 0, 0, 0, 0]
    for kind in ("pop3.login", "pop3.retr", "pop3.dele", "pop3.quit"):
        env.hops(kind)
    assert wire_clients(env, "pop3.login", "pop3.retr", "pop3.dele") == {WEBMAIL_SOURCE}
    # a message sent in POP3 mode goes to the local Sent (a POP3 client has no server folders)
    send(env, "bob@beta.test", {"to": "alice@alpha.test", "subject": "from pop", "body": "x"}, retrieval="pop3")
    assert [m["subject"] for m in pop.messages("Sent")] == ["from pop"]
    assert env.mua("bob@beta.test").messages("Sent") == []


def test_keep_on_server_leaves_the_message_and_downloads_it_once(env):
    send(env, "alice@alpha.test", {"to": "bob@beta.test", "subject": "keep me", "body": "hi"})
    env.delivered("bob@beta.test")
    imap = env.mua("bob@beta.test")
    keep = env.mua("bob@beta.test", retrieval="pop3", keep_on_server=True)
    assert [m["subject"] for m in keep.messages("INBOX")] == ["keep me"]
    assert [m["subject"] for m in keep.messages("INBOX")] == ["keep me"]      # not twice
    assert len(env.events("pop3.retr")) == 1 and env.events("pop3.dele") == []
    assert [m["subject"] for m in imap.messages("INBOX")] == ["keep me"]
    # a new message: only it is downloaded
    send(env, "alice@alpha.test", {"to": "bob@beta.test", "subject": "second", "body": "hi"})
    env.delivered("bob@beta.test", count=2)
    assert [m["subject"] for m in keep.messages("INBOX")] == ["second", "keep me"]
    assert len(env.events("pop3.retr")) == 2
    # keep switched off: the copies on the server go, nothing is downloaded again
    plain = env.mua("bob@beta.test", retrieval="pop3")
    assert [m["subject"] for m in plain.messages("INBOX")] == ["second", "keep me"]
    assert len(env.events("pop3.retr")) == 2 and len(env.events("pop3.dele")) == 2
    assert imap.messages("INBOX") == []


def test_a_reply_keeps_the_thread_headers(env):
    send(env, "alice@alpha.test", {"to": "bob@beta.test", "cc": "carol@alpha.test", "subject": "Plans",
                                   "body": "Lunch?\nAt noon."})
    env.delivered("bob@beta.test")
    bob = env.mua("bob@beta.test")
    [entry] = bob.messages("INBOX")
    original = bob.fetch("INBOX", entry["id"])
    parent_id = read.view(original)["headers"]["message_id"]
    prefilled = compose.draft(original, "reply_all", "bob@beta.test")
    assert prefilled["to"] == "Alice <alice@alpha.test>" and prefilled["cc"] == "carol@alpha.test"
    assert prefilled["subject"] == "Re: Plans" and "> Lunch?\n> At noon." in prefilled["body"]
    message, rcpts = compose.build("bob@beta.test", "Bob", {"to": prefilled["to"], "subject": prefilled["subject"],
                                                             "body": "Yes!" + prefilled["body"]},
                                   original=original, mode="reply", max_message=env.endpoint.max_message)
    assert rcpts == ["alice@alpha.test"]
    assert message["In-Reply-To"] == parent_id and message["References"] == parent_id
    assert bob.send(message, rcpts).startswith("250")
    bob.set_flags("INBOX", entry["id"], answered=True)
    assert bob.messages("INBOX")[0]["answered"] is True
    env.delivered("alice@alpha.test")
    alice = env.mua("alice@alpha.test")
    [got] = alice.messages("INBOX")
    reply = alice.fetch("INBOX", got["id"])
    assert read.view(reply)["headers"]["subject"] == "Re: Plans"
    # the reply to the reply: References grows (RFC 5322 §3.6.4), "Re: " stays once
    again = compose.draft(reply, "reply", "alice@alpha.test")
    assert again["subject"] == "Re: Plans" and again["to"] == "Bob <bob@beta.test>"
    second, _ = compose.build("alice@alpha.test", "", {"to": again["to"], "body": "ok"}, original=reply,
                              mode="reply", max_message=env.endpoint.max_message)
    reply_id = read.view(reply)["headers"]["message_id"]
    assert second["In-Reply-To"] == reply_id and second["References"].split() == [parent_id, reply_id]
    assert second["Subject"] == "Re: Plans"                          # taken from the draft


def test_a_forward_carries_the_attachments():
    original = EmailMessage()
    original["From"], original["To"], original["Subject"] = "alice@alpha.test", "bob@beta.test", "Files"
    original["Message-ID"] = "<files@alpha.test>"
    original.set_content("two files")
    original.add_attachment(BLOB, maintype="application", subtype="pdf", filename="report.pdf")
    original.add_attachment(b"GIF89a...", maintype="image", subtype="gif", filename="пример.gif")
    raw = original.as_bytes()
    prefilled = compose.draft(raw, "forward", "bob@beta.test")
    assert prefilled["subject"] == "Fwd: Files" and prefilled["to"] == "" and "two files" in prefilled["body"]
    message, rcpts = compose.build("bob@beta.test", "Bob", {"to": "carol@alpha.test", "body": prefilled["body"]},
                                   original=raw, mode="forward", max_message=10 * 1024 * 1024)
    assert rcpts == ["carol@alpha.test"] and message["Subject"] == "Fwd: Files"
    assert message["In-Reply-To"] is None
    forwarded = message.as_bytes()
    files = [read.part(forwarded, a["index"]) for a in read.view(forwarded)["attachments"]]
    assert files == [("report.pdf", "application/pdf", BLOB), ("пример.gif", "image/gif", b"GIF89a...")]
    assert compose.draft(forwarded, "forward", "carol@alpha.test")["subject"] == "Fwd: Files"   # once


@pytest.mark.parametrize("retrieval", ["imap", "pop3"])
def test_move_delete_and_flags_round_trip(env, retrieval):
    send(env, "alice@alpha.test", {"to": "bob@beta.test", "subject": "sort me", "body": "x"})
    env.delivered("bob@beta.test")
    bob = env.mua("bob@beta.test", retrieval=retrieval)
    [entry] = bob.messages("INBOX")
    bob.set_flags("INBOX", entry["id"], seen=True, flagged=True)
    [entry] = bob.messages("INBOX")
    assert entry["seen"] and entry["flagged"]
    bob.set_flags("INBOX", entry["id"], seen=False)
    [entry] = bob.messages("INBOX")
    assert not entry["seen"] and entry["flagged"]
    bob.move("INBOX", entry["id"], "Junk")
    assert bob.messages("INBOX") == []
    [junk] = bob.messages("Junk")
    assert junk["subject"] == "sort me" and junk["flagged"]           # the flags went along
    bob.delete("Junk", junk["id"])                                    # to Trash
    assert bob.messages("Junk") == []
    [trash] = bob.messages("Trash")
    bob.delete("Trash", trash["id"])                                  # for good
    assert bob.messages("Trash") == []
    for call in (lambda: bob.fetch("Trash", trash["id"]), lambda: bob.set_flags("INBOX", "99", seen=True),
                 lambda: bob.move("INBOX", "../x", "Junk"), lambda: bob.messages("Nowhere"),
                 lambda: bob.move("INBOX", entry["id"], "Nowhere")):
        with pytest.raises(WebmailError) as caught:
            call()
        assert caught.value.status == 404, caught.value
    if retrieval == "imap":
        assert wire_clients(env, "imap.move", "imap.store", "imap.expunge") <= {WEBMAIL_SOURCE}
    else:                                     # POP3 mode never touched the server's folders
        assert env.mua("bob@beta.test").messages("Trash") == []


def test_a_failed_login_says_the_same_for_every_cause(env):
    errors = []
    for retrieval in ("imap", "pop3"):
        for address, password in (("bob@beta.test", "wrong"), ("nobody@beta.test", "bob")):
            with pytest.raises(WebmailError) as caught:
                env.mua(address, password, retrieval=retrieval).check_login()
            errors.append((caught.value.status, caught.value.message))
    with pytest.raises(WebmailError) as caught:
        env.mua("not an address", "x").check_login()
    errors.append((caught.value.status, caught.value.message))
    assert len(set(errors)) == 1 and errors[0][0] == 401
    assert env.mua("bob@beta.test").check_login() == "bob@beta.test"
    assert env.mua("Bob <bob@beta.test>", "bob", retrieval="pop3").check_login() == "bob@beta.test"


def test_send_refusals_are_422_with_the_servers_words_and_nothing_is_sent(env):
    # the MSA's own submission listener (the front door has no faults): it refuses bob once at RCPT
    stack = env.world.stack
    stack.set_fault(Fault(kind=FaultKind.REPLY, target="smtp.alpha.test", command="RCPT", code=550,
                          text="5.7.1 not today", times=1))
    msa = replace(env.endpoint, host=env.world.address("smtp.alpha.test"))
    message, rcpts = compose.build("alice@alpha.test", "", {"to": "carol@alpha.test, bob@beta.test", "body": "x"},
                                   max_message=msa.max_message)
    with pytest.raises(WebmailError) as caught:
        Mua(msa, Login("alice@alpha.test", "alice"), env.local_root).send(message, rcpts)
    assert caught.value.status == 422 and caught.value.reply == "550 5.7.1 not today"
    [session] = env.world.events.wait_for(lambda e: e.kind == "smtp.session" and e.data["door"] == "submission")
    assert session.data["queue_id"] == "" and session.data["wire"]["client"] == WEBMAIL_SOURCE  # RSET: nothing sent
    # a SIZE smaller than the message: 552 at MAIL (RFC 1870), a 422 with those words
    stack.set_fault(Fault(kind=FaultKind.SIZE_LIMIT, target="smtp.alpha.test", size=200))
    with pytest.raises(WebmailError) as caught:
        Mua(msa, Login("alice@alpha.test", "alice"), env.local_root).send(message, rcpts)
    assert caught.value.status == 422 and caught.value.reply.startswith("552")
    assert env.mua("alice@alpha.test").messages("Sent") == []


def test_bad_input_is_refused_naming_the_field():
    def refused(form: dict, **kwargs) -> WebmailError:
        with pytest.raises(WebmailError) as caught:
            compose.build("alice@alpha.test", kwargs.pop("name", "Alice"), form, max_message=kwargs.pop("limit", 10**7),
                          **kwargs)
        return caught.value

    ok = {"to": "bob@beta.test", "subject": "s", "body": "b"}
    cases = [
        ({**ok, "subject": "Hi\r\nBcc: eve@evil.test"}, {}, 400, "subject"),
        ({**ok, "subject": "Hi\nthere"}, {}, 400, "subject"),
        ({**ok, "subject": "nul\0"}, {}, 400, "subject"),
        (ok, {"name": "Alice\r\nX-Evil: 1"}, 400, "name"),
        ({**ok, "to": "bob@beta.test\r\nBcc: eve@evil.test"}, {}, 400, "to"),
        ({**ok, "to": "bob"}, {}, 400, "to"),
        ({**ok, "to": "bob smith@beta.test"}, {}, 400, "to"),
        ({**ok, "cc": "carol@"}, {}, 400, "cc"),
        ({**ok, "to": ""}, {}, 400, "to"),
        ({**ok, "attachments": [{"name": "a", "data": "not base64!"}]}, {}, 400, "attachments"),
        ({**ok, "attachments": [{"name": "a", "type": "text", "data": ""}]}, {}, 400, "attachments"),
        ({**ok, "attachments": [{"name": "a\r\n", "data": ""}]}, {}, 400, "attachments"),
        ({**ok, "attachments": [attachment(data=b"x")] * 21}, {}, 400, "attachments"),
        ({**ok, "body": "a\0b"}, {}, 400, "body"),
        ({**ok, "attachments": [attachment(data=b"x" * 5000)]}, {"limit": 4000}, 413, ""),
        ({**ok, "body": "x" * 5000}, {"limit": 4000}, 413, ""),
    ]
    for form, kwargs, status, field in cases:
        error = refused(form, **kwargs)
        assert (error.status, error.field) == (status, field), (form, error)
    message, rcpts = compose.build("alice@alpha.test", "Алиса", {"to": "Bob <bob@beta.test>, carol@alpha.test",
                                                                 "cc": "BOB@beta.test", "bcc": "eve@gamma.test",
                                                                 "subject": "Привет", "body": "текст"},
                                   max_message=10**7)
    assert rcpts == ["bob@beta.test", "carol@alpha.test", "eve@gamma.test"]
    assert message["Bcc"] is None and b"eve@gamma.test" not in message.as_bytes()
    assert message["User-Agent"] == "Mailflow webmail" and message["Message-ID"].endswith("@alpha.test>")
    assert message["Subject"] == "Привет" and str(message["From"]) == "Алиса <alice@alpha.test>"


def test_an_oversized_message_is_refused_before_connecting(env):
    closed = replace(env.endpoint, submission=dead_port(), max_message=2000)   # connecting would be a 503
    message, rcpts = compose.build("alice@alpha.test", "", {"to": "bob@beta.test", "body": "x" * 3000},
                                   max_message=10**7)
    with pytest.raises(WebmailError) as caught:
        Mua(closed, Login("alice@alpha.test", "alice"), env.local_root).send(message, rcpts)
    assert caught.value.status == 413


def dead_port() -> int:
    with socket.socket() as probe:                   # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_a_server_that_does_not_answer_is_503(env, tmp_path):
    dead = dead_port()
    nowhere = replace(env.endpoint, imap=dead, pop3=dead, submission=dead)
    for retrieval in ("imap", "pop3"):
        with pytest.raises(WebmailError) as caught:
            Mua(nowhere, Login("bob@beta.test", "bob", retrieval=retrieval), tmp_path).check_login()
        assert caught.value.status == 503


def test_the_source_address_falls_back_when_it_cannot_be_bound(env):
    elsewhere = replace(env.endpoint, source="192.0.2.1")            # TEST-NET-1: not ours
    assert Mua(elsewhere, Login("bob@beta.test", "bob"), env.local_root).check_login() == "bob@beta.test"
    [login] = env.hops("imap.login")
    assert login.data["wire"]["client"] != "192.0.2.1"


def test_a_bounce_reads_as_a_delivery_report(env):
    send(env, "alice@alpha.test", {"to": "nobody@beta.test", "subject": "To nobody", "body": "x"})
    env.delivered("alice@alpha.test")
    alice = env.mua("alice@alpha.test")
    [entry] = alice.messages("INBOX")
    assert entry["report"] is True
    view = read.view(alice.fetch("INBOX", entry["id"]))
    assert view["attachments"] == []                                  # the report is no file
    [rcpt] = view["report"]["recipients"]
    assert rcpt["final_recipient"] == "nobody@beta.test" and rcpt["status"] == "5.1.1"
    assert view["report"]["returned"]["subject"] == "To nobody"


def test_read_never_passes_markup_and_lists_every_kind_of_attachment():
    evil = EmailMessage()
    evil["From"], evil["Subject"] = "=?utf-8?b?0JDQu9C40YHQsA==?= <a@alpha.test>", "=?utf-8?q?caf=C3=A9?="
    evil.set_content("<p>Hello <b>you</b></p><script>alert(1)</script><style>p{}</style>"
                     "<a href='https://evil.test/x'>click</a><img src='https://evil.test/t.gif'>", subtype="html")
    inner = EmailMessage()
    inner["Subject"] = "inner"
    inner.set_content("inner text")
    evil.add_attachment(inner)
    evil.add_attachment(b"\x89PNG", maintype="image", subtype="png")           # no file name
    raw = evil.as_bytes()
    view = read.view(raw)
    assert view["html"] is True and "<" not in view["text"].replace("<https://evil.test/x>", "")
    assert "Hello you" in view["text"] and "alert" not in view["text"] and "click <https://evil.test/x>" in view["text"]
    assert view["headers"]["from"] == "Алиса <a@alpha.test>" and view["headers"]["subject"] == "café"
    assert ["From", "Алиса <a@alpha.test>"] in view["header_lines"]
    kinds = [(a["type"], a["name"]) for a in view["attachments"]]
    assert kinds == [("message/rfc822", f"part-{view['attachments'][0]['index']}.eml"),
                     ("image/png", f"part-{view['attachments'][1]['index']}.png")]
    assert b"inner text" in read.part(raw, view["attachments"][0]["index"])[2]
    assert "<script>" in read.html(raw)                               # served only under the sandbox CSP
    long = EmailMessage()
    long.set_content("y" * (read.TEXT_LIMIT + 10))
    cut = read.view(long.as_bytes())
    assert cut["text_cut"] is True and len(cut["text"]) == read.TEXT_LIMIT
    with pytest.raises(WebmailError) as caught:
        read.part(raw, 99)
    assert caught.value.status == 404


def test_the_local_store_survives_a_lost_sidecar(tmp_path):
    store = LocalStore(tmp_path, "../Bob@Beta.test")
    id = store.add("INBOX", b"Subject: hi\r\n\r\nbody\r\n", {"\\Seen"})
    assert tmp_path in store.root.parents and ".." not in store.root.parts
    (store.folder("INBOX") / f"{id}.json").write_text("{broken")
    [entry] = store.messages("INBOX")
    assert entry["subject"] == "hi" and entry["seen"] is False     # rebuilt from the message
    for folder, key in (("../INBOX", id), ("INBOX", "../../x"), ("INBOX", "1.2")):
        with pytest.raises(WebmailError) as caught:
            store.read(folder, key)
        assert caught.value.status == 404


def test_a_reply_to_a_parent_without_message_id_keeps_its_references():
    parent = b"From: bob@beta.test\r\nTo: alice@alpha.test\r\nSubject: x\r\nReferences: <a@beta.test> <b@beta.test>\r\n\r\nhi\r\n"
    message, _ = compose.build("alice@alpha.test", "Alice", {"body": "re"}, original=parent, mode="reply",
                               max_message=1 << 20)
    assert message["References"] == "<a@beta.test> <b@beta.test>" and message["In-Reply-To"] is None


@pytest.mark.parametrize("char", ["\x0b", "\x0c", "\x1c", "\x85", "\u2028", "\u2029"])
def test_every_line_break_character_in_a_header_field_is_refused_with_its_field(char):
    for field, form in (("subject", {"to": "bob@beta.test", "subject": f"a{char}b"}),
                        ("to", {"to": f"Bob{char}X <bob@beta.test>"}),
                        ("attachments", {"to": "bob@beta.test", "attachments": [{"name": f"a{char}.txt", "data": ""}]})):
        with pytest.raises(WebmailError) as caught:
            compose.build("alice@alpha.test", "Alice", form, max_message=1 << 20)
        assert caught.value.status == 400 and caught.value.field == field, (field, caught.value)
