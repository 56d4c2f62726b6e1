"""English texts of the queue facts (merged into ../en.py when the narrator refactor is done)."""
from __future__ import annotations

from ... import facts as f
from .. import plural
from ..markup import code, listing
from ..why import reason

TEXTS: dict = {}
REASONS: dict = {}
