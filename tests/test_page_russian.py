"""The Russian page in Chromium: driven through every kind of hop, it shows no English word.

One world, one page with a Russian browser: a delivery sent from the page's own form, a failover
(mx1.beta.test down, the letter goes to the backup MX), three bounces (null MX at gamma.test, an
unknown user at beta.test, a domain outside the sandbox), a host taken down and brought up again, an
MX table edited in the page, POP3 and IMAP retrieval through the front door (poplib, imaplib), and an
SMTP dialogue stepped line by line.  Then every visible text is collected: the timeline, the details
of every hop (both tabs), the diagram as it was at that hop, the gate's words and the glossary.

What may stay Latin: protocol text (set apart as <code>, removed first), host names, addresses, the
users' names (the local parts of their addresses) and the acronyms the catalogues may use.  Anything
else is reported with where it was seen, so that whoever owns that text can find it.
"""
from __future__ import annotations

import imaplib
import poplib
import re
from collections import defaultdict

import pytest

from simulator import narrate
from simulator.events import CUT
from simulator.facts import HopStep
from simulator.narrate.markup import plain
from simulator.narrate.plural import ru_form, size_en, size_ru
from test_browser import browser, open_page, shot, site  # noqa: F401  (browser and site: fixtures)
from web_fixtures import join_send, send_in_background, send_mail, wait_until

pytestmark = pytest.mark.browser

RU = narrate.ui("ru")
# The acronyms Russian prose may use, and the two Latin words the brief's terms contain
# («в папке INBOX», «ретрансляция (relay) запрещена»); everything else Latin is protocol text.
ALLOWED = {"MUA", "MSA", "MTA", "MDA", "MX", "DNS", "SMTP", "POP3", "IMAP", "TLS", "AUTH", "UID", "IDLE",
           "Maildir", "RFC", "DSN", "ID", "INBOX", "relay"}
ADDRESS = re.compile(r"[^\s<>()\[\],;:«»“”\"']+@[^\s<>()\[\],;:«»“”\"']+")
HOST = re.compile(r"\b[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+\.?")       # host and domain names, IP addresses
LATIN = re.compile(r"[A-Za-z][A-Za-z0-9]*")
LONG_BODY = "".join(f"Строка {n} длинного письма.\n" for n in range(1, 31))

# The text of an element as a reader sees it: rendered text nodes only, <code> (protocol text) and
# tooltips (<title>) left out, one space between pieces.
VISIBLE_TEXT = """
window.visibleText = (root) => {
  if (!root) return "";
  const parts = [];
  const walker = document.createTreeWalker(root, NodeFilter.SHOW_TEXT);
  for (let n = walker.nextNode(); n; n = walker.nextNode()) {
    const p = n.parentElement;
    if (!p || p.closest("code, title, script, style, select, option")) continue;
    if (!p.getClientRects().length) continue;
    parts.push(n.data);
  }
  return parts.join(" ").replace(/\\s+/g, " ").trim();
};
// The diagram's words one label at a time (a report then names the label, not the whole picture).
window.diagramTexts = () => [...new Set([...document.querySelectorAll("#diagram text")]
  .map(visibleText).filter(Boolean))];
"""

# Select each hop in turn (a click on its row, as a student would) and read what the page shows.
EVERY_HOP = """
(seqs) => seqs.map((seq) => {
  const row = document.querySelector(`#timeline-list li.row[data-seq="${seq}"]`);
  if (!row) return {seq, kind: "?", texts: {missing: "no row"}};
  row.click();
  const body = document.querySelector("#details-body");
  const texts = {
    timeline: visibleText(row),
    head: visibleText(body.querySelector(".hop-head")),
    explanation: [...body.querySelectorAll(".explain")].map(visibleText).join(" | "),
    dns: visibleText(body.querySelector(".dns-box")),
  };
  for (const tab of body.querySelectorAll(".tab")) {
    tab.click();
    texts[tab.dataset.tab] = visibleText(body.querySelector(".tab-panel"));
  }
  texts.diagram = diagramTexts();
  return {seq, kind: row.dataset.kind, texts};
})
"""


def english_words(text: str, names: set[str]) -> list[str]:
    """The Latin words of a text that are neither addresses, host names, names nor allowed acronyms."""
    text = HOST.sub(" ", ADDRESS.sub(" ", text))
    return [w for w in LATIN.findall(text) if w not in ALLOWED and w not in names]


def visible(page, selector: str) -> str:
    return page.evaluate("s => visibleText(document.querySelector(s))", selector)


# ---------------------------------------------------------------------------------------------------
def test_plural_forms_and_sizes_in_the_page_follow_the_narrator(site, browser):
    world, server = site()
    page = open_page(browser, server.url, locale="ru-RU")
    numbers = [*range(0, 130), 1001, 1011, 1021, 1111, 1112, 1125]
    forms = page.evaluate("""async (numbers) => {
        const plural = await import('/static/js/plural.js');
        return numbers.map((n) => [plural.form('ru', n, ['a', 'b', 'c']), plural.form('en', n, ['a', 'b'])]);
    }""", numbers)
    assert forms == [[ru_form(n, "a", "b", "c"), "a" if n == 1 else "b"] for n in numbers]
    sizes = [0, 1, 2, 5, 21, 22, 643, 1023, 1024, 1536, 10 * 1024, 1024 * 1024, 3 * 1024 * 1024 // 2]
    for lang, size in (("ru", size_ru), ("en", size_en)):
        page.click(f'button[data-lang="{lang}"]')
        page.wait_for_function("lang => document.documentElement.lang === lang", arg=lang)
        shown = page.evaluate("""async (sizes) => {
            const labels = await import('/static/js/labels.js');
            return sizes.map((n) => labels.sizeText(n));
        }""", sizes)
        assert shown == [size(n) for n in sizes]
    assert page.errors == []
    page.context.close()


def test_the_glossary_names_every_term_in_both_languages(site, browser):
    world, server = site()
    page = open_page(browser, server.url, locale="ru-RU")
    page.click("#btn-glossary")
    terms = page.eval_on_selector_all("#glossary-body dt[data-term]", "els => els.map(e => e.dataset.term)")
    assert terms == ["MUA", "MSA", "MTA", "MDA", "MX", "SMTP", "POP3", "IMAP"]
    sender = page.inner_text('#glossary-body [data-term="sender"]')
    assert "smtp.alpha.test" in sender and "MSA" in sender and "MTA" in sender
    assert page.inner_text("#glossary-title") == RU["glossary.title"]
    for term in terms:
        assert plain(RU[f"term.{term}.full"]) in page.inner_text(f'#glossary-body dt[data-term="{term}"]')
    # the sending server is labelled as both
    caption = page.locator('#diagram [data-node="mta:smtp.alpha.test"] .caption').text_content()
    assert caption == plain(RU["node.msa.short"]) and "MSA" in caption and "MTA" in caption
    shot(page, "russian-glossary")
    assert page.errors == []
    page.context.close()


def test_the_russian_page_shows_no_english_word(site, browser):
    world, server = site()
    names = {address.split("@")[0] for address in world.stack.world.users()}
    page = open_page(browser, server.url, locale="ru-RU")
    page.evaluate("() => {" + VISIBLE_TEXT + "}")
    assert page.evaluate("document.documentElement.lang") == "ru"
    deliver_and_fail_over(world, page)
    bounce_three_ways(world)
    edit_the_mx_table(world, page)
    retrieve_through_the_front_door(world)
    gate_texts = step_line_by_line(world, page)
    seen, hops = every_hop(world, page)
    page.click("#btn-glossary")
    glossary = visible(page, "#glossary-drawer")
    shot(page, "russian-glossary-drawer")

    # a word the page chose itself: the cut of a long body, counted in Russian
    cut = next(int(line) for e in hops for side, line in e.transcript if side == CUT)
    marker = f"[ещё {cut} {ru_form(cut, 'строка', 'строки', 'строк')} письма]"
    assert any(marker in hop["texts"].get("transcript", "") for hop in seen), marker

    places = [(f"#{hop['seq']} {hop['kind']} ({part})", text) for hop in seen
              for part, texts in hop["texts"].items() for text in (texts if isinstance(texts, list) else [texts])]
    places += [("gate", text) for text in gate_texts] + [("glossary", glossary)]
    report = english_report(places, names)
    assert not report, f"{len(report)} texts of the Russian page hold English words:\n" + "\n".join(report)
    assert page.errors == []
    page.context.close()


def deliver_and_fail_over(world, page) -> None:
    """A letter sent from the page's form (its default subject is Russian), then mx1.beta.test taken
    down with the page's button: the next letter goes to the backup MX; mx1 comes back up."""
    stack = world.stack
    page.click("#btn-world")
    assert page.input_value("#send-subject") == RU["send.defaultSubject"]
    page.fill("#send-to", "bob@beta.test")
    page.click("#send-submit")
    world.wait_messages("bob@beta.test", 1, timeout=20)
    page.click('#host-list button[data-host="mx1.beta.test"]')
    wait_until(lambda: not stack.world.hosts["mx1.beta.test"].up, what="mx1.beta.test down")
    page.wait_for_selector('#diagram [data-node="mta:mx1.beta.test"].down')
    send_mail(stack, subject="Через резервный MX", text=LONG_BODY)
    world.events.wait_for(lambda e: e.dst == "mta:mx2.beta.test" and e.status == "ok", timeout=20)
    shot(page, "russian-failover")
    page.click('#host-list button[data-host="mx1.beta.test"]')
    wait_until(lambda: stack.world.hosts["mx1.beta.test"].up, what="mx1.beta.test up")
    world.wait_messages("bob@beta.test", 2, timeout=30)


def bounce_three_ways(world) -> None:
    """Null MX, an unknown user, a domain outside the sandbox: each bounce comes back to alice."""
    for n, rcpt in enumerate(("x@gamma.test", "nobody@beta.test", "x@example.com"), start=1):
        send_mail(world.stack, to=rcpt, subject=f"Возврат номер {n}")
        world.wait_messages("alice@alpha.test", n, timeout=30)


def edit_the_mx_table(world, page) -> None:
    beta = page.locator('#mx-editor [data-domain="beta.test"]')
    beta.locator(".mx-pref").first.fill("5")          # mx1.beta.test stays the first choice
    beta.locator(".mx-save").click()
    wait_until(lambda: [m.preference for m in world.stack.world.mx("beta.test")] == [5, 20],
               what="the new MX table")
    page.click("#drawer-close")


def retrieve_through_the_front_door(world) -> None:
    pop = poplib.POP3("127.0.0.1", world.port("pop3"), timeout=20)
    pop.user("bob@beta.test")
    pop.pass_("bob")
    assert pop.stat()[0] == 2
    pop.retr(1)
    pop.dele(1)
    pop.quit()
    imap = imaplib.IMAP4("127.0.0.1", world.port("imap"), timeout=20)
    imap.login("bob@beta.test", "bob")
    imap.select("INBOX")
    imap.fetch("1", "(RFC822)")
    imap.store("1", "+FLAGS", "\\Seen")
    imap.logout()


def step_line_by_line(world, page) -> list[str]:
    """An SMTP dialogue stepped one line at a time from the page; the gate's words at every step."""
    stack = world.stack
    page.select_option("#granularity", "line")
    wait_until(lambda: stack.gate.state().granularity == "line", what="line mode")
    page.click("#btn-pause")
    wait_until(lambda: stack.gate.state().mode == "pause", what="pause")
    sender = send_in_background(stack, subject="Строка за строкой")
    held, steps, texts = None, set(), []
    for _ in range(8):
        previous = held
        held = wait_until(lambda: next((w for w in stack.gate.state().waiting[:1] if w is not previous), None),
                          timeout=15, what="the next held hop")
        steps.add(held.hop.step)
        page.wait_for_function("text => document.querySelector('#waiting-text').innerText.startsWith(text)",
                               arg=plain(held.text["ru"]["summary"]))
        texts.append(visible(page, "#waiting"))
        page.click("#btn-step")
    assert HopStep.REPLY in steps
    page.click("#btn-play")
    page.select_option("#granularity", "hop")
    join_send(sender)
    world.wait_messages("bob@beta.test", 2, timeout=30)
    wait_until(lambda: not stack.queue_snapshot(), timeout=30, what="empty queues")
    return texts


def every_hop(world, page) -> tuple[list[dict], list]:
    """Wait until the timeline lists every hop of the bus, then select each one and read the page."""
    stack = world.stack

    def caught_up() -> list[int]:
        # an SMTP dialogue stepped line by line is one entry: its lines fold into their session's hop
        expected = [e.seq for e in stack.bus.since(0) if e.kind not in ("gate.waiting", "smtp.line")]
        shown = page.eval_on_selector_all("#timeline-list li.row", "els => els.map(e => Number(e.dataset.seq))")
        return shown if shown == expected else []
    seqs = wait_until(caught_up, timeout=15, what="every hop in the timeline")
    total = len(seqs)
    assert page.inner_text("#timeline-count") == f"{total} из {total} {ru_form(total, 'шага', 'шагов', 'шагов')}"
    seen = page.evaluate(EVERY_HOP, seqs)
    shot(page, "russian-after-everything")
    return seen, [e for e in stack.bus.since(0) if e.seq in set(seqs)]


def english_report(places: list[tuple[str, str]], names: set[str]) -> list[str]:
    """One line per distinct text holding English words: the words, where it was seen, the text."""
    found: dict[tuple[str, str], list[str]] = defaultdict(list)
    for where, text in places:
        words = english_words(text, names)
        if words:
            found[(text, ", ".join(sorted(set(words))))].append(where)
    return [f"- [{words}] at {', '.join(seen[:3])}{f' and {len(seen) - 3} more' if len(seen) > 3 else ''}:"
            f" «{text[:400]}»" for (text, words), seen in found.items()]
