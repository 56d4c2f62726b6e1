"""Reasons worded: ``reason("ru", Reason.of(DnsReason.REFUSED, domain="example.com"))``.

Catalogue texts call this for the reasons their facts carry; the catalogue is looked up when called,
so a catalogue module may import this one.
"""
from __future__ import annotations

import importlib
from collections.abc import Iterable
import logging

from ..facts import Reason

log = logging.getLogger(__name__)


def reason(lang: str, why: Reason | None) -> str:
    """One reason code with its parameters, worded in ``lang`` ("" for no reason)."""
    if why is None:
        return ""
    catalogue = importlib.import_module(f"{__package__}.{lang}")
    words = catalogue.REASONS.get(why.code)
    if words is None:
        log.error("no %s text for reason %s", lang, why.code)
        return str(why.code)
    return words(why)


def reasons(lang: str, whys: Iterable[Reason | None], sep: str = "; ") -> str:
    """Several reasons worded in ``lang``, joined; the empty ones left out."""
    return sep.join(w for w in (reason(lang, why) for why in whys) if w)


def nested(lang: str, why: Reason, key: str) -> str:
    """The reason a reason carries as its parameter ``key`` (a last error inside "gave up"), worded."""
    inner = why.get(key)
    return reason(lang, inner) if isinstance(inner, Reason) else ""
