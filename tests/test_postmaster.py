"""Every mail domain takes mail for its postmaster (RFC 5321 §4.5.1: a server MUST accept
``RCPT TO:<Postmaster>`` and ``postmaster@<domain>`` for every domain it takes mail for).

Each sandbox domain with mailboxes has an implicit ``postmaster`` alias: a user named postmaster if
it has one, else the domain's ``postmaster: <user>`` (a scenario key, checked like ``catch_all``),
else its catch-all user, else its first user.  The local part ignores case.  Unit tests on the World
and the loader; end to end on a live stack (real sockets on loopback, smtplib): ``RCPT TO:<Postmaster>``
at mx1.beta.test and ``postmaster@alpha.test`` through submission land in the target's Maildir.
"""
from __future__ import annotations

import email
import smtplib
from email import policy
from pathlib import Path

import pytest

from simulator.classroom import Classroom
from simulator.facts import MdaDelivered
from simulator.scenario import DEFAULT_SCENARIO, ScenarioError, parse_scenario
from simulator.scenario.dump import dump_world
from simulator.world import World

TEXT = Path(DEFAULT_SCENARIO).read_text()
ALPHA_USERS = "    users: {alice: alice, carol: carol}      # user: password\n"


def world_of(text: str = TEXT) -> World:
    return World(parse_scenario(text, "lesson.yaml"))


def with_alpha(extra: str, users: str = ALPHA_USERS) -> str:
    """The default scenario with ``extra`` lines added to alpha.test (after its users)."""
    assert ALPHA_USERS in TEXT
    return TEXT.replace(ALPHA_USERS, users + extra)


# -- the world ---------------------------------------------------------------------------------------
def test_every_domain_with_mailboxes_has_a_postmaster_by_default():
    world = world_of()
    assert world.postmaster_of("alpha.test") == "alice@alpha.test"        # the first user in the file
    assert world.postmaster_of("beta.test") == "bob@beta.test"
    assert world.postmaster_of("gamma.test") is None                      # no mailboxes: no one
    for address in ("postmaster@alpha.test", "Postmaster@alpha.test", "POSTMASTER@ALPHA.TEST."):
        assert world.mailbox_of(address) == "alice@alpha.test", address
    assert world.mailbox_of("postmaster@gamma.test") is None
    assert world.mailbox_of("postmaster@example.com") is None             # not a sandbox domain
    assert world.mailbox_of("abuse@alpha.test") is None                   # only postmaster is implied
    assert not world.user_exists("postmaster@alpha.test")                 # an alias, no login


def test_the_postmaster_key_a_user_named_postmaster_and_the_catch_all():
    assert world_of(with_alpha("    postmaster: Carol\n")).mailbox_of("postmaster@alpha.test") == "carol@alpha.test"
    assert world_of(with_alpha("    postmaster: carol@alpha.test\n")).postmaster_of("alpha.test") == "carol@alpha.test"
    own = world_of(with_alpha("", users="    users: {alice: alice, postmaster: pm}\n"))
    assert own.mailbox_of("PostMaster@alpha.test") == "postmaster@alpha.test"   # the user wins
    caught = world_of(with_alpha("    catch_all: carol\n"))
    assert caught.mailbox_of("postmaster@alpha.test") == "carol@alpha.test"     # as before the alias
    both = world_of(with_alpha("    catch_all: carol\n    postmaster: alice\n"))
    assert both.mailbox_of("postmaster@alpha.test") == "alice@alpha.test"
    assert both.mailbox_of("sales@alpha.test") == "carol@alpha.test"
    saved = dump_world(world_of(with_alpha("    postmaster: carol\n")))    # "save the world" keeps the key
    assert world_of(saved).mailbox_of("postmaster@alpha.test") == "carol@alpha.test"
    gone = world_of(with_alpha("    postmaster: carol\n"))
    gone.remove_user("carol@alpha.test")
    assert gone.mailbox_of("postmaster@alpha.test") == "alice@alpha.test"   # the target left: the next


def test_a_student_never_gets_the_name_postmaster_and_a_class_domain_of_students_has_one():
    text = TEXT.replace("steps: []", "class_domain: beta.test\nsteps: []").replace("    users: {bob: bob}\n", "")
    world = world_of(text)
    assert world.postmaster_of("beta.test") is None                       # no mailboxes yet
    room = Classroom()
    room.set_open(True)
    first = room.join(world, "Postmaster", "127.0.0.9")
    second = room.join(world, "POSTMASTER", "127.0.0.9")
    assert (first.address, second.address) == ("postmaster2@beta.test", "postmaster3@beta.test")
    assert world.mailbox_of("postmaster@beta.test") == "postmaster2@beta.test"   # the first student now


@pytest.mark.parametrize("extra, users, words", [
    ("    postmaster: zed\n", ALPHA_USERS, "not a user of alpha.test"),
    ("    postmaster: bob@beta.test\n", ALPHA_USERS, "not a user"),
    ("    postmaster: alice\n", "    users: {alice: alice, postmaster: pm}\n", "a user named postmaster"),
    ("    postmaster: [alice]\n", ALPHA_USERS, ""),
])
def test_a_wrong_postmaster_key_is_named_by_file_line_and_field(extra, users, words):
    text = with_alpha(extra, users)
    line = text.splitlines().index(extra.rstrip("\n")) + 1
    with pytest.raises(ScenarioError) as caught:
        parse_scenario(text, "lesson.yaml")
    assert any((p.path, p.line, p.field) == ("lesson.yaml", line, "domains.alpha.test.postmaster")
               and words in p.message for p in caught.value.problems), str(caught.value)


def test_a_postmaster_key_on_a_domain_without_a_mailbox_server_is_an_error():
    text = TEXT.replace("  gamma.test:                                # sends mail, accepts none (RFC 7505)\n",
                        "  gamma.test:\n    users: {dave: dave}\n    postmaster: dave\n")
    with pytest.raises(ScenarioError) as caught:
        parse_scenario(text, "lesson.yaml")
    assert any(p.field == "domains.gamma.test.postmaster" and "no host of role mx" in p.message
               for p in caught.value.problems), str(caught.value)


# -- over SMTP, on a live stack -----------------------------------------------------------------------
def test_postmaster_mail_lands_in_the_targets_maildir(start_world):
    world = start_world(with_alpha("    postmaster: carol\n"))
    # RCPT TO:<Postmaster> (no domain) at beta.test's MX: bob, its first user, takes it
    with smtplib.SMTP(world.address("mx1.beta.test"), world.stack.config.ports.mx,
                      local_hostname="client.test", timeout=30) as mx:
        mx.ehlo()
        assert mx.mail("someone@alpha.test")[0] == 250
        assert mx.rcpt("Postmaster")[0] == 250
        assert mx.data(b"Subject: to beta's postmaster\r\n\r\nhello\r\n")[0] == 250
    # postmaster@alpha.test through submission: relayed to mx.alpha.test, carol (the key) takes it
    with smtplib.SMTP("127.0.0.1", world.port("submission"), local_hostname="client.test", timeout=30) as s:
        s.login("bob@beta.test", "bob")
        s.sendmail("bob@beta.test", ["POSTMASTER@alpha.test"],
                   b"From: bob@beta.test\r\nSubject: to alpha's postmaster\r\n\r\nhello\r\n")
    [to_beta] = world.wait_messages("bob@beta.test")
    [to_alpha] = world.wait_messages("carol@alpha.test")
    assert b"Subject: to beta's postmaster" in to_beta and b"Subject: to alpha's postmaster" in to_alpha
    head = email.message_from_bytes(to_alpha, policy=policy.default)
    assert head["Delivered-To"] == "carol@alpha.test" and head["X-Original-To"].lower() == "postmaster@alpha.test"
    delivered = world.events.facts(MdaDelivered, count=2)
    assert {(d.rcpt.lower(), d.mailbox) for d in delivered} >= {
        ("postmaster@beta.test", "bob@beta.test"), ("postmaster@alpha.test", "carol@alpha.test")}
    assert world.messages("alice@alpha.test") == []
    world.wait_queue_empty()


def test_a_postmaster_delivery_is_told_as_postmasters_not_as_a_catch_all():
    from simulator.facts import MdaDelivered
    from simulator.narrate import narrate
    common = dict(src="mda:beta.test", dst="mailbox:bob@beta.test", host="mx1.beta.test", path="mail/beta.test/bob/new/x", size=10, mailbox="bob@beta.test")
    postmaster = narrate(MdaDelivered(rcpt="postmaster@beta.test", **common))
    caught = narrate(MdaDelivered(rcpt="sales@beta.test", **common))
    for lang in ("en", "ru"):
        assert postmaster[lang] != caught[lang]                      # two cases, two wordings
        assert "RFC 5321" in postmaster[lang]["explain"]             # the rule that makes the alias
