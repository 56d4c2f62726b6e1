"""The details panel (issue 9: defects 8 and 9, and the layers and credentials under each hop), in
Chromium, with the mailbox view's delivery report checked at the API too.

Defect 8: a click on a mail client's box did nothing.  Every node shows itself: a client its user and
recent hops, a server its listeners, queue and faults, DNS its zones, a mailbox its messages.
Defect 9: the mailbox viewer listed a bounce's message/delivery-status part as "0 B" and never
showed it.  A DSN (RFC 3464) reads as what it is: which recipient, which status, what the remote
server said, who reports it.
Additions: the layers under the selected hop (the dialogue, TCP with its ports and TLS, IP with the
sandbox addresses), and in a plaintext session the AUTH line marked, with what a listener reads on
request and the note that STARTTLS or the TLS ports hide it.
"""
from __future__ import annotations

import smtplib
from email.message import EmailMessage

import pytest

from page_helpers import EN, RU, UI, browser, drawn, fill, open_page, shot, site  # noqa: F401  (fixtures)
from simulator.web import mailview
from web_fixtures import Browserish, send_mail, submission_port, wait_until

pytestmark = pytest.mark.browser


def card(page, node: str):
    page.click(f'#diagram [data-node="{node}"]')
    shown = page.wait_for_selector(f'#details .node-card[data-node="{node}"]')
    # nothing left unfilled: a DOM append() of a missing part writes a text "null" (it did, for
    # "outside"); the words "null MX" of a domain that takes no mail are not that
    unfilled = shown.evaluate("""card => { const out = [], walk = document.createTreeWalker(card, NodeFilter.SHOW_TEXT);
        while (walk.nextNode()) if (/^\\s*(null|undefined|NaN)\\s*$/.test(walk.currentNode.data)) out.push(walk.currentNode.data);
        return out; }""")
    assert unfilled == [], (node, unfilled)
    return shown


# ---------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("lang", ["en", "ru"])
def test_every_node_shows_itself_in_the_details_panel(site, browser, lang):
    world, server = site()
    stack = world.stack
    send_mail(stack, subject="Node by node")
    world.wait_messages("bob@beta.test")
    stack.set_host_state("mx2.beta.test", False)                 # something to see on a server
    page = open_page(browser, server.url, "1280x720", lang)
    words = UI[lang]
    drawn(page, world)
    # a mail client: its user, the servers it uses, its recent hops (a click shows one)
    text = card(page, "mua:alice@alpha.test").inner_text()
    assert fill(lang, "node.client.title", address="alice@alpha.test") in text
    assert "Alice" in text and "smtp.alpha.test" in text
    hops = page.locator("#details .recent-hop")
    assert hops.count() >= 1
    hops.first.click()
    page.wait_for_selector('#details[data-view="hop"]')
    assert "alice@alpha.test" in page.inner_text("#details-body .hop-path")
    page.click("#btn-live")                                       # back from that moment to now
    # a server: role, address, its listeners with their real ports, its queue, its state
    text = card(page, "mta:mx1.beta.test").inner_text()
    for item in stack.listener_table():
        if item["host"] == "mx1.beta.test":
            row = page.locator(f'#details .listeners tr[data-service="{item["service"]}"]')
            assert str(item["port"]) in row.inner_text() and item["address"] in row.inner_text()
    assert stack.world.hosts["mx1.beta.test"].address in text
    assert fill(lang, "node.queue.title", n=0) in text
    text = card(page, "mta:mx2.beta.test").inner_text()
    assert words["world.down"] in text
    # DNS: its zones, each domain's MX and A records as it answers them
    card(page, "dns")
    for domain in ("alpha.test", "beta.test", "gamma.test"):
        assert page.locator(f'#details .zone[data-zone="{domain}"]').count() == 1
    zone = page.inner_text('#details .zone[data-zone="beta.test"]')
    assert "MX 10 mx1.beta.test." in zone and "MX 20 mx2.beta.test." in zone
    assert f"mx1.beta.test. A {stack.world.hosts['mx1.beta.test'].address}" in zone
    # a mailbox: its messages
    card(page, "mailbox:bob@beta.test")
    page.wait_for_selector('#details .mail-list li[data-key]')
    assert "Node by node" in page.inner_text("#details .mail-list")
    # the delivery agent, the mailbox servers, the front door, programs outside, a domain
    for node, title in (("mda:beta.test", fill(lang, "node.mda.title", domain="beta.test")),
                        ("imap:beta.test", fill(lang, "node.imap.title", domain="beta.test")),
                        ("pop3:beta.test", fill(lang, "node.pop3.title", domain="beta.test")),
                        ("front", fill(lang, "node.front.title")),
                        ("outside", fill(lang, "node.outside.title"))):
        assert title in card(page, node).inner_text(), node
    shot(page, f"node-card-{lang}")
    assert page.errors == []
    page.context.close()


# ---------------------------------------------------------------------------------------------------
def test_the_mailbox_view_reads_a_bounce_as_a_delivery_report(site, browser):
    world, server = site()
    send_mail(world.stack, to="nobody@beta.test", subject="To nobody")
    world.wait_messages("alice@alpha.test")
    # the API: the report as data, never an attachment of "0 B"
    client = Browserish(server.app)
    listing = client.get("/api/mailbox/alice@alpha.test").get_json()
    entry = listing["messages"][0]
    assert entry["report"] is True
    message = client.get(f"/api/mailbox/alice@alpha.test/{entry['key']}").get_json()
    assert message["attachments"] == []
    report = message["report"]
    assert report["type"] == "delivery-status" and report["reporting_mta"] == "smtp.alpha.test"
    [rcpt] = report["recipients"]
    assert rcpt["final_recipient"] == "nobody@beta.test" and rcpt["status"] == "5.1.1"
    assert rcpt["class"] == "permanent" and rcpt["action"] == "failed"
    assert rcpt["diagnostic_code"].startswith("550 5.1.1") and rcpt["diagnostic_code_type"] == "smtp"
    assert rcpt["remote_mta"] == "mx1.beta.test"
    assert report["returned"]["subject"] == "To nobody"
    # the page: which recipient, which status and what it means, what the remote server said, who reports
    page = open_page(browser, server.url, "1920x1080", "en")
    card(page, "mailbox:alice@alpha.test")
    page.click('#details .mail-list li[data-report="yes"]')
    page.wait_for_selector("#details .dsn")
    dsn = page.locator("#details .dsn")
    recipient = dsn.locator('.dsn-recipient[data-recipient="nobody@beta.test"]')
    assert recipient.locator(".dsn-status").inner_text() == "5.1.1"
    assert EN["code.enh.5.1.1"] in recipient.inner_text()
    assert recipient.locator(".dsn-diagnostic").inner_text() == rcpt["diagnostic_code"]
    assert "mx1.beta.test" in recipient.inner_text()
    assert dsn.locator(".dsn-reporting").inner_text() == "smtp.alpha.test"
    assert "0 B" not in page.inner_text("#details-body") and "0 bytes" not in page.inner_text("#details-body")
    shot(page, "dsn-report")
    assert page.errors == []
    page.context.close()


def test_a_report_that_is_not_a_bounce_stays_a_plain_message():
    message = mailview._parse(b"Content-Type: text/plain\r\nSubject: hi\r\n\r\nhello\r\n")
    assert mailview.delivery_report(message) is None
    broken = mailview._parse(b"Content-Type: multipart/report; report-type=delivery-status; boundary=x\r\n\r\n"
                             b"--x\r\nContent-Type: message/delivery-status\r\n\r\nReporting-MTA: dns; a.test\r\n\r\n"
                             b"Final-Recipient: rfc822; b@c.test\r\nAction: delayed\r\nStatus: 4.4.1\r\n--x--\r\n")
    report = mailview.delivery_report(broken)
    assert report["reporting_mta"] == "a.test"
    assert report["recipients"][0]["class"] == "transient" and report["recipients"][0]["action"] == "delayed"


# ---------------------------------------------------------------------------------------------------
def submit(stack, *, starttls: bool, subject: str) -> None:
    message = EmailMessage()
    message["From"], message["To"], message["Subject"] = "alice@alpha.test", "bob@beta.test", subject
    message.set_content("Hi!\n")
    with smtplib.SMTP("127.0.0.1", submission_port(stack), local_hostname="tests.localhost", timeout=30) as smtp:
        if starttls:
            import ssl
            context = ssl.create_default_context()
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE           # the sandbox's own certificate
            smtp.starttls(context=context)
        smtp.login("alice@alpha.test", "alice")
        smtp.send_message(message)


@pytest.mark.parametrize("lang", ["en", "ru"])
def test_the_layers_and_the_password_a_listener_reads(site, browser, lang):
    world, server = site()
    stack = world.stack
    submit(stack, starttls=False, subject="In clear")
    world.wait_messages("bob@beta.test")
    submit(stack, starttls=True, subject="Under TLS")
    world.wait_messages("bob@beta.test", 2)
    page = open_page(browser, server.url, "1920x1080", lang)
    drawn(page, world)
    words = UI[lang]
    sessions = page.locator('#timeline-list li.row[data-kind="smtp.session"]')
    # the submission in clear: the AUTH line is marked; on request, the password a listener reads
    sessions.nth(0).click()
    page.get_by_role("tab", name=words["details.transcript"]).click()
    auth = page.locator("#details-body .transcript li.auth")
    assert auth.count() == 1 and "AUTH PLAIN" in auth.inner_text()
    assert not page.is_visible("#details-body .cred-read")
    auth.locator(".cred-show").click()
    read = page.locator("#details-body .cred-read")
    assert read.is_visible() and read.locator("code.password").inner_text() == "alice"
    assert "alice@alpha.test" in read.inner_text()
    warning = page.locator("#details-body .wire-warning")
    assert [c.inner_text() for c in warning.locator("code").all()][:2] == ["base64", "STARTTLS"]
    # the layers of that hop: the application dialogue, TCP with the real ports, no TLS, IP addresses
    fact = next(e for e in world.events.events if e.kind == "smtp.session" and (e.message or {}).get("subject") == "In clear")
    wire = fact.to_dict()["data"]["wire"]
    page.get_by_role("tab", name=words["details.layers"]).click()
    layers = page.locator("#details-body .layers")
    assert [x.get_attribute("data-layer") for x in layers.locator(".layer").all()] == ["app", "tcp", "ip"]
    tcp = layers.locator('[data-layer="tcp"]').inner_text()
    assert str(wire["client_port"]) in tcp and str(wire["server_port"]) in tcp
    assert fill(lang, "layers.tls.off.short") in tcp
    assert wire["client"] in layers.locator('[data-layer="ip"]').inner_text()
    # the relay between the MTAs: the sandbox addresses 127.42.d.h, TLS after STARTTLS
    sessions.nth(1).click()
    relay = next(e for e in world.events.events if e.kind == "smtp.session" and e.dst == "mta:mx1.beta.test")
    ip = [c.inner_text() for c in layers.locator('[data-layer="ip"] p').first.locator("code").all()]
    assert ip == [stack.world.hosts["smtp.alpha.test"].address, stack.world.hosts["mx1.beta.test"].address]
    assert fill(lang, "layers.tls.starttls.short") in layers.locator('[data-layer="tcp"]').inner_text()
    assert relay.to_dict()["data"]["wire"]["tls"] == "starttls"
    # the submission under STARTTLS: the AUTH line crossed the wire inside TLS, nothing to read
    page.locator('#timeline-list li.row[data-kind="smtp.session"] >> text=Under TLS').first.click()
    page.get_by_role("tab", name=words["details.transcript"]).click()
    auth = page.locator("#details-body .transcript li.auth")
    assert auth.count() >= 1 and auth.locator(".cred-show").count() == 0
    assert page.locator("#details-body .wire-safe").is_visible()
    shot(page, f"layers-and-credentials-{lang}")
    assert page.errors == []
    page.context.close()


def test_a_viewers_page_shows_what_a_listener_sees_of_a_starttls_hop(site, browser):
    """A student's page (not the teacher's) gets a viewer's copy: the dialogue up to STARTTLS, then
    how many lines TLS hid -- not the AUTH line, not the message (simulator/web/privacy.py)."""
    world, server = site(TRUST_LOOPBACK=False)
    submit(world.stack, starttls=True, subject="Private subject")
    world.wait_messages("bob@beta.test")
    page = open_page(browser, server.url, "1920x1080", "en")
    drawn(page, world)
    page.locator('#timeline-list li.row[data-kind="smtp.session"]').first.click()
    page.get_by_role("tab", name=UI["en"]["details.transcript"]).click()
    hidden = page.locator("#details-body .transcript li.tls-hidden")
    assert hidden.count() == 1
    transcript = page.inner_text("#details-body .transcript")
    assert "STARTTLS" in transcript and "AUTH PLAIN" not in transcript and "Private subject" not in transcript
    assert "Private subject" not in page.inner_text("body")
