"""SMTP in the sandbox: the servers' policy on aiosmtpd and the relay client.

- :mod:`.handler`: :class:`SmtpHandler`, the aiosmtpd handler of the MSA (submission) and MX doors,
  and the submission :class:`Authenticator`;
- :mod:`.app`: :class:`AppHandler`, the app port's policy (no AUTH required, any sender), and its
  :class:`AppAuthenticator`;
- :mod:`.session`: :class:`TranscriptSMTP`, aiosmtpd's protocol with a transcript;
- :mod:`.client`: the relay client, a sans-IO dialogue (:class:`RelayDialogue`) with an asyncio
  driver (:func:`deliver`).
"""
from __future__ import annotations

from .app import APP, AppAuthenticator, AppHandler
from .client import Outcome, Reply, ReplyError, ReplyParser, Stage, deliver
from .handler import FRONT_NAME, Authenticator, DataResult, Door, SmtpHandler, SmtpServices
from .session import TranscriptSMTP

__all__ = ["APP", "AppAuthenticator", "AppHandler", "FRONT_NAME", "Authenticator", "DataResult", "Door", "Outcome", "Reply", "ReplyError", "ReplyParser",
           "SmtpHandler", "SmtpServices", "Stage", "TranscriptSMTP", "deliver"]
