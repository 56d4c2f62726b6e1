"""The English catalogue: every word a learner reads in this language.

TEXTS: fact class -> function(fact) -> (summary, explanation).  REASONS: reason code ->
function(reason) -> words.  UI: the page's own strings, served to the page by the web.
"""
from __future__ import annotations

from .parts import en_dns, en_imap, en_pop3, en_queue, en_smtp, en_ui, en_world

_PARTS = (en_world, en_smtp, en_dns, en_queue, en_pop3, en_imap)

TEXTS: dict = {k: v for part in _PARTS for k, v in part.TEXTS.items()}
REASONS: dict = {k: v for part in _PARTS for k, v in part.REASONS.items()}
UI: dict[str, str] = dict(en_ui.UI)
