"""Helpers of the page tests of issue 9 (tests/test_page_*.py): a browser, a world with its web UI,
a page at a given screen (1280×720, 1920×1080, or 1280×720 at 125 % zoom: a 1024×576 CSS viewport
at device scale 1.25) in a given language, and a few DOM measurements.

The tests wait for states of the world (facts on the bus) or of the page (attributes the page sets),
never for time.
"""
from __future__ import annotations



from simulator import narrate
from web_fixtures import ARTIFACTS, browser, site  # noqa: F401  (fixtures, for the page tests)

EN = narrate.ui("en")
RU = narrate.ui("ru")
UI = {"en": EN, "ru": RU}
# name -> (CSS viewport, device scale factor)
SCREENS = {"1280x720": ((1280, 720), 1.0), "1920x1080": ((1920, 1080), 1.0), "1280x720@125%": ((1024, 576), 1.25)}


def open_page(browser, url: str, screen: str = "1280x720", lang: str = "en", present: bool = False):
    (width, height), scale = SCREENS[screen]
    context = browser.new_context(viewport={"width": width, "height": height}, device_scale_factor=scale)
    context.add_init_script(f"localStorage.setItem('mailflow.lang', '{lang}');"
                            f"localStorage.setItem('mailflow.present', '{'1' if present else '0'}');")
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.errors = errors
    page.goto(url)
    page.wait_for_selector("body[data-ready=yes]", timeout=15000)
    page.wait_for_function("lang => document.documentElement.lang === lang", arg=lang)
    return page


def shot(page, name: str) -> None:
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"))


def drawn(page, world) -> None:
    """Wait until the page has drawn (and listed) every event the bus has published."""
    page.wait_for_function("seq => Number(document.body.dataset.drawnSeq || 0) >= seq",
                           arg=world.stack.bus.last_seq, timeout=20000)


def api(page, method: str, path: str, body=None):
    """A control call from the page, as its own scripts make it (CSRF header, JSON)."""
    return page.evaluate("""async ([m, p, b]) => {
        const token = document.querySelector('meta[name="csrf-token"]').content;
        const r = await fetch(p, {method: m, credentials: 'same-origin',
            headers: {'Content-Type': 'application/json', 'X-CSRF-Token': token}, body: b ? JSON.stringify(b) : undefined});
        return [r.status, await r.json()];
    }""", [method, path, body])


# Where an element is and whether its text fits: its box against the viewport, its scroll size
# against its client size, and whether it is rendered at all.
BOX = """(sel) => [...document.querySelectorAll(sel)].map((el) => {
  const r = el.getBoundingClientRect();
  return {sel, text: el.innerText, visible: el.checkVisibility({checkOpacity: true, checkVisibilityCSS: true}) && r.width > 0 && r.height > 0,
    left: r.left, right: r.right, top: r.top, bottom: r.bottom, width: r.width, height: r.height,
    scrollWidth: el.scrollWidth, clientWidth: el.clientWidth, scrollHeight: el.scrollHeight, clientHeight: el.clientHeight,
    vw: document.documentElement.clientWidth, vh: document.documentElement.clientHeight};
})"""


def boxes(page, selector: str) -> list[dict]:
    return page.evaluate(BOX, selector)


def on_screen(box: dict) -> bool:
    return (box["visible"] and box["left"] >= -1 and box["top"] >= -1 and box["right"] <= box["vw"] + 1
            and box["bottom"] <= box["vh"] + 1)


def fits(box: dict) -> bool:
    """The element's text is not cut: it needs no more room than it has."""
    return box["scrollWidth"] <= box["clientWidth"] + 1 and box["scrollHeight"] <= box["clientHeight"] + 1


def fill(lang: str, key: str, **params) -> str:
    """A catalogue string as the page words it (i18n.js t()): parameters, the counted word, no backticks."""
    import re

    from simulator.narrate.plural import en_form, ru_form

    def one(match: "re.Match[str]") -> str:
        name, forms = match.group(1), match.group(2)
        if name not in params:
            return match.group(0)
        if forms is None:
            return str(params[name])
        words = forms.split("|")
        n = int(params[name])
        return ru_form(n, *(words + words[-1:] * 3)[:3]) if lang == "ru" else en_form(n, *(words + words[-1:])[:2])
    return re.sub(r"\{(\w+)(?:#([^}]*))?\}", one, UI[lang][key]).replace("`", "")
