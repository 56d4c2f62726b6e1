"""The narrator: facts in, words out, in every language the page offers.

Actors publish facts (:mod:`simulator.facts`), data only.  The bus asks :func:`narrate` for the
event's text: ``{"en": {"summary": ..., "explain": ...}, "ru": {...}}``.  All words a learner reads
live in one catalogue per language (``en.py``, ``ru.py``): the texts of every fact kind, the wording
of every reason code, and the page's own interface strings (``UI``), which the web serves to the page.

Adding a language: copy ``en.py`` to ``xx.py``, translate it, add it to ``CATALOGUES``; the tests then
check that it has a text for every fact and reason.
"""
from __future__ import annotations

import logging
from typing import Any

from ..facts import Fact
from . import en, ru
from .why import reason

log = logging.getLogger(__name__)

CATALOGUES = {"en": en, "ru": ru}
LANGUAGES = tuple(CATALOGUES)

__all__ = ["CATALOGUES", "LANGUAGES", "narrate", "reason", "ui"]

Text = dict[str, dict[str, str]]


def narrate(fact: Fact) -> Text:
    """The summary and the explanation of one fact, in every language."""
    out: Text = {}
    for lang, catalogue in CATALOGUES.items():
        words = catalogue.TEXTS.get(type(fact))
        if words is None:
            log.error("no %s text for fact %s", lang, type(fact).__name__)
            out[lang] = {"summary": fact.kind, "explain": ""}
            continue
        summary, explain = words(fact)
        out[lang] = {"summary": summary, "explain": explain}
    return out


def ui(lang: str) -> dict[str, Any]:
    """The page's interface strings in ``lang`` (English for a language we do not have)."""
    return dict(CATALOGUES.get(lang, en).UI)
