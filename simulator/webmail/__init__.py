"""The webmail: a real mail client (MUA) whose host is the web server.  No Flask in it.

It talks to the front door on loopback like any desktop client, from its own source address
(:data:`WEBMAIL_SOURCE`), one connection per request: SMTP submission with AUTH PLAIN (plain or
STARTTLS), and IMAP or POP3 for reading.  It never reads a Maildir.  The web layer calls exactly
this API:

  ``Mua(endpoint, login, local_root)``  check_login, folders, messages, fetch, set_flags, move,
                                        delete, send (``mua.py``; the connections: ``clients.py``;
                                        the IMAP commands: ``imapops.py``; POP3's own store on
                                        disk: ``local.py``);
  ``build``, ``draft``                  a message from the page's form, a reply or a forward
                                        prefilled (``compose.py``);
  ``view``, ``html``, ``part``          one message read for a person, a bounce as a report
                                        (``read.py``);
  ``WebmailError``                      every failure, with the HTTP status to answer (``errors.py``).
"""
from __future__ import annotations

from .clients import WEBMAIL_SOURCE, Endpoint, Login
from .compose import build, draft
from .errors import WebmailError
from .mua import Mua
from .read import delivery_report, html, part, view

__all__ = ["WEBMAIL_SOURCE", "Endpoint", "Login", "Mua", "WebmailError", "build", "delivery_report", "draft",
           "html", "part", "view"]
