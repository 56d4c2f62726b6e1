"""SMTP in the sandbox: the servers' policy on aiosmtpd and the relay client.

- :mod:`.handler`: :class:`SmtpHandler`, the aiosmtpd handler of the MSA (submission) and MX doors,
  and the submission :class:`Authenticator`;
- :mod:`.session`: :class:`TranscriptSMTP`, aiosmtpd's protocol with a transcript;
- :mod:`.client`: the relay client, a sans-IO dialogue (:class:`RelayDialogue`) with an asyncio
  driver (:func:`deliver`).
"""
from __future__ import annotations

from .client import Outcome, Reply, ReplyError, ReplyParser, Stage, deliver
from .handler import FRONT_NAME, Authenticator, DataResult, Door, SmtpHandler, SmtpServices
from .session import TranscriptSMTP

__all__ = ["FRONT_NAME", "Authenticator", "DataResult", "Door", "Outcome", "Reply", "ReplyError", "ReplyParser",
           "SmtpHandler", "SmtpServices", "Stage", "TranscriptSMTP", "deliver"]
