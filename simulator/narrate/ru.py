"""The Russian catalogue: every word a learner reads in this language.

TEXTS: fact class -> function(fact) -> (summary, explanation).  REASONS: reason code ->
function(reason) -> words.  UI: the page's own strings, served to the page by the web.
"""
from __future__ import annotations

from .parts import ru_dns, ru_imap, ru_pop3, ru_queue, ru_smtp, ru_ui, ru_world

_PARTS = (ru_world, ru_smtp, ru_dns, ru_queue, ru_pop3, ru_imap)

TEXTS: dict = {k: v for part in _PARTS for k, v in part.TEXTS.items()}
REASONS: dict = {k: v for part in _PARTS for k, v in part.REASONS.items()}
UI: dict[str, str] = dict(ru_ui.UI)
