"""Facts of the imap hops (data only: no words; the narrator words them)."""
from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import ClassVar

from .base import Fact, Reason, Status

__all__: list[str] = []
