"""Views (issue 11, part 7): inline ``cid:`` images in the HTML view of the page and the webmail,
still under the strict policy (``img-src data:`` only); a message's raw source in the page's mailbox
view (the teacher's or the owner's); large messages paged, not cut.

The reading is judged on bytes first (simulator.webmail.read, no socket), then through the web app
against a real world on loopback, then in Chromium (English and Russian, 1280×720 and 125 %:
screenshots in artifacts/).
"""
from __future__ import annotations

import base64
import smtplib
import struct
import zlib
from email.message import EmailMessage
from email.utils import make_msgid

import pytest

from page_helpers import SCREENS, UI, browser, fill, shot, site  # noqa: F401  (fixtures)
from simulator import web
from simulator.web import mailview
from simulator.web.guard import MAIL_CSP
from simulator.webmail import read
from web_fixtures import Browserish, submission_port

BOB = "bob@beta.test"


def png(width: int = 40, height: int = 24, rgb: tuple[int, int, int] = (200, 30, 30)) -> bytes:
    """A real PNG image (RFC 2083), so the browser decodes it: ``naturalWidth`` tells."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    rows = b"".join(b"\x00" + bytes(rgb) * width for _ in range(height))
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b""))


IMAGE = png()
LONG_TEXT = "".join(f"Line {n:06d} of a long report: the same words again, to make it longer.\n" for n in range(2500))


def with_inline_image(subject: str = "With a logo", *, cid: str | None = None, image: bytes = IMAGE) -> EmailMessage:
    """A multipart/related HTML message (RFC 2387) whose HTML shows its image part by Content-ID."""
    cid = cid or make_msgid(domain="alpha.test")          # "<...@alpha.test>"
    message = EmailMessage()
    message["From"], message["To"], message["Subject"] = "alice@alpha.test", BOB, subject
    message.set_content("Our logo is in the HTML part.\n")
    message.add_alternative(
        f'<html><body><p>Our logo:</p><img id="logo" alt="logo" src="cid:{cid[1:-1]}">'
        f'<div id="banner" style="width:120px;height:24px;background-image:url(cid:{cid[1:-1]})"></div>'
        f'<img id="missing" alt="" src="cid:nothing@alpha.test"></body></html>', subtype="html")
    message.get_payload()[1].add_related(image, "image", "png", cid=cid, filename="logo.png")
    return message


def submit(stack, message: EmailMessage) -> None:
    with smtplib.SMTP("127.0.0.1", submission_port(stack), local_hostname="tests.localhost", timeout=60) as smtp:
        smtp.login("alice@alpha.test", "alice")
        smtp.send_message(message)


def data_uri(data: bytes, kind: str = "image/png") -> str:
    return f"data:{kind};base64,{base64.b64encode(data).decode()}"


# -- on bytes ----------------------------------------------------------------------------------------
def test_cid_images_become_data_uris_and_nothing_else_does():
    message = with_inline_image(cid="<logo%1@alpha.test>")
    markup = read.html(message.as_bytes())
    assert markup.count(data_uri(IMAGE)) == 2                     # the <img> and the CSS url()
    assert "cid:logo" not in markup
    assert 'src="cid:nothing@alpha.test"' in markup               # names no part: left alone
    # RFC 2392: the URL is the Content-ID %-encoded
    encoded = with_inline_image(cid="<logo%1@alpha.test>").as_bytes().replace(b"cid:logo%1@", b"cid:logo%251@")
    assert read.html(encoded).count(data_uri(IMAGE)) == 2


def test_only_images_within_the_limits_are_inlined():
    big = IMAGE + b"\0" * read.INLINE_IMAGE_LIMIT               # a PNG with trailing bytes, over the limit
    markup = read.html(with_inline_image(image=big).as_bytes())
    assert "data:" not in markup and 'src="cid:' in markup
    script = with_inline_image()
    html_part = script.get_payload()[1]
    html_part.add_related(b"alert(1)", "application", "javascript", cid="<code@alpha.test>")
    html_part.get_payload()[0].set_content('<img src="cid:code@alpha.test"><script src="cid:code@alpha.test"></script>',
                                           subtype="html")
    markup = read.html(script.as_bytes())
    assert "data:application" not in markup and markup.count("cid:code@alpha.test") == 2


def test_a_text_is_paged_at_line_ends_and_the_pages_join_back():
    pages, offset = [], 0
    while offset is not None:
        page = read.text_page(LONG_TEXT, offset, 50_000)
        assert page.total == len(LONG_TEXT) and len(page.text) <= 50_000
        assert page.next is None or page.text.endswith("\n")
        pages.append(page.text)
        offset = page.next
    assert len(pages) == 4 and "".join(pages) == LONG_TEXT
    assert read.text_page("abc", 10).text == "" and read.text_page("abc", 10).next is None


# -- the page's mailbox view and the webmail, through the web app ------------------------------------------
@pytest.fixture
def app(world):
    return web.create_app(world.stack, {"TRUST_LOOPBACK": False})


def teacher(app) -> Browserish:
    client = Browserish(app, remote_addr="10.9.9.9")
    client.client.set_cookie("mailflow_teacher", app.config["TEACHER_TOKEN"])
    return client


def webmail_login(app, address: str, password: str, remote: str) -> Browserish:
    client = Browserish(app, remote_addr=remote)
    assert client.post("/api/webmail/login", {"address": address, "password": password}).status_code == 200
    return client


def only_key(client: Browserish, address: str = BOB) -> str:
    [entry] = client.get(f"/api/mailbox/{address}").get_json()["messages"]
    return entry["key"]


def test_the_html_view_shows_inline_images_under_the_strict_policy(app, world):
    submit(world.stack, with_inline_image())
    world.wait_messages(BOB)
    key = only_key(teacher(app))
    answer = teacher(app).get(f"/api/mailbox/{BOB}/{key}/html")
    assert answer.status_code == 200 and answer.headers["Content-Security-Policy"] == MAIL_CSP
    assert "img-src data:;" in MAIL_CSP and "default-src 'none'" in MAIL_CSP and "sandbox" in MAIL_CSP
    assert answer.get_data(as_text=True).count(data_uri(IMAGE)) == 2
    view = teacher(app).get(f"/api/mailbox/{BOB}/{key}").get_json()
    [logo] = view["attachments"]                                   # still listed, and downloadable
    part = teacher(app).get(f"/api/mailbox/{BOB}/{key}/part/{logo['index']}")
    assert part.data == IMAGE and part.mimetype == "image/png" and "logo.png" in part.headers["Content-Disposition"]
    # the webmail (bob logged in from his own browser): the same document, the same policy
    bob = webmail_login(app, BOB, "bob", "10.1.1.1")
    [row] = bob.get("/api/webmail/messages?folder=INBOX").get_json()["messages"]
    answer = bob.get(f"/api/webmail/message/html?folder=INBOX&id={row['id']}")
    assert answer.headers["Content-Security-Policy"] == MAIL_CSP
    assert answer.get_data(as_text=True).count(data_uri(IMAGE)) == 2


def test_the_raw_source_is_the_teachers_or_the_owners(app, world):
    submit(world.stack, with_inline_image("Source, please"))
    [stored] = world.wait_messages(BOB)
    key = only_key(teacher(app))
    base = f"/api/mailbox/{BOB}/{key}"
    raw = teacher(app).get(f"{base}/raw")
    assert raw.status_code == 200 and raw.data == stored and raw.mimetype == "text/plain"
    assert raw.headers["Content-Security-Policy"] == MAIL_CSP and raw.headers["X-Content-Type-Options"] == "nosniff"
    download = teacher(app).get(f"{base}/raw?download=1")
    assert download.data == stored and download.mimetype == "message/rfc822"
    assert download.headers["Content-Disposition"].startswith("attachment;") and ".eml" in download.headers["Content-Disposition"]
    # the source in pages of whole lines that join back to the stored bytes
    pages, offset = [], 0
    while offset is not None:
        page = teacher(app).get(f"{base}/source?offset={offset}&length=300").get_json()
        assert page["size"] == len(stored) and page["offset"] == offset
        assert page["next"] is None or page["source"].endswith("\n")
        pages.append(page["source"])
        offset = page["next"]
    assert len(pages) > 3 and "".join(pages).encode() == stored
    # the owner logged in to the webmail reads it; anybody else gets 403, whether it exists or not
    bob = webmail_login(app, BOB, "bob", "10.1.1.1")
    assert bob.get(f"{base}/raw").data == stored
    alice = webmail_login(app, "alice@alpha.test", "alice", "10.1.1.2")
    stranger = Browserish(app, remote_addr="10.1.1.3")
    for client in (alice, stranger):
        for path in (f"{base}/raw", f"{base}/source", f"{base}/part/2", f"{base}/html", f"/api/mailbox/{BOB}/nope/raw"):
            assert client.get(path).status_code == 403, path
    assert teacher(app).get(f"/api/mailbox/{BOB}/no-such-key/raw").status_code == 404
    assert teacher(app).get(f"{base}/source?offset=x").status_code == 400


def test_a_large_message_is_paged_not_cut(app, world):
    message = EmailMessage()
    message["From"], message["To"], message["Subject"] = "alice@alpha.test", BOB, "A long report"
    message.set_content(LONG_TEXT)
    submit(world.stack, message)
    world.wait_messages(BOB)
    key = only_key(teacher(app))
    first = teacher(app).get(f"/api/mailbox/{BOB}/{key}").get_json()
    assert first["text_total"] == len(LONG_TEXT) and first["text_offset"] == 0
    assert len(first["text"]) <= mailview.TEXT_LIMIT and first["text_next"] == len(first["text"])
    pages, offset = [], 0
    while offset is not None:
        page = teacher(app).get(f"/api/mailbox/{BOB}/{key}?offset={offset}").get_json()
        pages.append(page["text"])
        offset = page["text_next"]
    assert "".join(pages) == LONG_TEXT
    small = teacher(app).get(f"/api/mailbox/{BOB}/{key}?offset=10&length=200").get_json()
    assert small["text"] == LONG_TEXT[10:small["text_next"]] and len(small["text"]) <= 200
    assert teacher(app).get(f"/api/mailbox/{BOB}/{key}?offset=ten").status_code == 400


# -- in Chromium -------------------------------------------------------------------------------------------
def open_page(browser, url: str, screen: str, lang: str):
    """page_helpers.open_page, but its init script leaves the sealed HTML frame alone (a sandboxed
    document may not touch storage: the script would fail there, not the page)."""
    (width, height), scale = SCREENS[screen]
    context = browser.new_context(viewport={"width": width, "height": height}, device_scale_factor=scale)
    context.add_init_script(f"if (window === window.top) {{ localStorage.setItem('mailflow.lang', '{lang}'); "
                            f"localStorage.setItem('mailflow.present', '0'); }}")
    page = context.new_page()
    page.errors = []
    page.on("pageerror", lambda exc: page.errors.append(str(exc)))
    page.goto(url)
    page.wait_for_selector("body[data-ready=yes]", timeout=15000)
    page.wait_for_function("lang => document.documentElement.lang === lang", arg=lang)
    return page


def image_in_frame(page, frame_selector: str, image_id: str) -> int:
    """The decoded width of an image inside the sealed HTML frame (0: not shown)."""
    page.wait_for_selector(frame_selector)
    frame = page.frame_locator(frame_selector)
    image = frame.locator(f"#{image_id}")
    image.wait_for(state="attached")
    return image.evaluate("img => img.decode().then(() => img.naturalWidth, () => 0)")


@pytest.mark.parametrize("lang,screen", [("en", "1280x720"), ("ru", "1280x720"), ("en", "1280x720@125%"),
                                         ("ru", "1280x720@125%")])
def test_the_page_shows_inline_images_pages_and_the_source(site, browser, lang, screen):
    world, server = site()
    long = with_inline_image("A long letter with a logo")
    long.get_payload()[0].set_content(LONG_TEXT)
    submit(world.stack, long)
    world.wait_messages(BOB)
    page = open_page(browser, server.url, screen, lang)
    page.click(f'#diagram [data-node="mailbox:{BOB}"]')
    page.click("#details .mail-list li[data-key]")
    page.wait_for_selector("#details .letter")
    assert image_in_frame(page, "#details .html-frame", "logo") == 40      # the PNG is 40 pixels wide
    # the text: one page, then "more" adds the next, until it is whole
    more = page.locator('#details .more-row[data-more="text"]')
    shown = page.evaluate("() => document.querySelector('#details .letter .body-text').textContent.length")
    assert 0 < shown < len(LONG_TEXT) and more.is_visible()
    assert more.locator(".more-status").inner_text() == fill(lang, "message.textShown", shown=shown, total=len(LONG_TEXT))
    more.locator("button").scroll_into_view_if_needed()
    shot(page, f"views-text-page-{lang}-{screen.replace('%', 'pct')}")
    for _ in range(10):
        if not more.count():
            break
        before = shown
        more.locator("button").click()
        page.wait_for_function("n => document.querySelector('#details .letter .body-text').textContent.length > n",
                               arg=before)
        shown = page.evaluate("() => document.querySelector('#details .letter .body-text').textContent.length")
    assert page.evaluate("() => document.querySelector('#details .letter .body-text').textContent") == LONG_TEXT
    # the source, on request
    source = page.locator("#details .raw-source")
    source.locator("button").first.click()
    page.wait_for_selector("#details .raw-source[data-source=open] .source-text:not(:empty)")
    assert "Content-Type: multipart/alternative" in page.locator("#details .source-text").text_content()
    assert source.locator("a").get_attribute("href").endswith("/raw?download=1")
    assert source.locator("button").first.inner_text() == UI[lang]["message.source.hide"]
    source.scroll_into_view_if_needed()
    shot(page, f"views-source-{lang}-{screen.replace('%', 'pct')}")
    assert page.errors == []
    page.context.close()


def test_the_webmail_shows_inline_images(site, browser):
    from test_webmail_page import login, open_message, open_webmail, tab
    world, server = site()
    submit(world.stack, with_inline_image("Logo for the webmail"))
    world.wait_messages(BOB)
    page = open_webmail(browser, server)
    login(page, BOB, "bob")
    open_message(page, "Logo for the webmail")
    tab(page, "html")
    assert image_in_frame(page, "#wm-html-frame iframe", "logo") == 40
    page.screenshot(path=str(__import__("web_fixtures").ARTIFACTS / "views-webmail-cid.png"))
    assert page.errors == []
    page.context.close()
