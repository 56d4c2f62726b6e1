"""IMAP4rev1 (RFC 3501) with the extensions real clients use: a sans-IO core and its asyncio server.

Implemented
  * RFC 3501: CAPABILITY, NOOP, LOGOUT (§6.1); STARTTLS, AUTHENTICATE, LOGIN (§6.2); SELECT, EXAMINE,
    CREATE, DELETE, RENAME, SUBSCRIBE, UNSUBSCRIBE, LIST, LSUB, STATUS, APPEND (§6.3); CHECK, CLOSE,
    EXPUNGE, SEARCH, FETCH, STORE, COPY, UID (§6.4); literals, quoted strings, sequence sets (§4, §9).
  * SASL-IR (RFC 4959) with PLAIN (RFC 4616) and LOGIN; LITERAL+ (RFC 7888); ID (RFC 2971);
    ENABLE (RFC 5161, nothing enableable); IDLE (RFC 2177); NAMESPACE (RFC 2342); UIDPLUS (RFC 4315:
    APPENDUID, COPYUID, UID EXPUNGE); UNSELECT (RFC 3691); CHILDREN (RFC 3348); MOVE (RFC 6851);
    SPECIAL-USE attributes in LIST (RFC 6154); response codes TOOBIG, AUTHENTICATIONFAILED,
    EXPUNGEISSUED, CANNOT, NONEXISTENT, ALREADYEXISTS (RFC 5530).

Left out (and therefore never advertised): CONDSTORE/QRESYNC, COMPRESS, LIST-EXTENDED, UTF8=ACCEPT,
BINARY, MULTIAPPEND, ESEARCH, SORT/THREAD, QUOTA, ACL, LIST (SPECIAL-USE) selection options.

The map
  ``wire``      framing (lines and literals), tokens, commands, sequence sets, strings and dates;
  ``render``    ENVELOPE and BODY / BODYSTRUCTURE from the store's MIME tree;
  ``fetch``     FETCH items parsed, and a table of one function per item;
  ``search``    SEARCH keys -> a predicate over a message view;
  ``mailbox``   the interface the session works on, and its Maildir implementation (``memory``:
                an in-memory one, for tests);
  ``effects``   what the session asks of its adapter, and the session's states;
  ``session``   ``ImapSession``: the state x verb table (``verbs_any``, ``verbs_folders``,
                ``verbs_selected``), login as an effect, updates from other sessions, facts;
  ``server``    ``ImapServer``, the asyncio adapter (import it from there: it is the only module
                that needs asyncio).
"""
from __future__ import annotations

from .effects import Authenticate, Close, Effect, Publish, Send, StartTls, State
from .mailbox import Mailbox, MaildirMailbox
from .memory import MemoryMailbox
from .session import IDLE_TIMEOUT, OUTPUT_BUDGET, ImapSession

__all__ = ["IDLE_TIMEOUT", "OUTPUT_BUDGET", "Authenticate", "Close", "Effect", "ImapSession", "Mailbox",
           "MaildirMailbox", "MemoryMailbox", "Publish", "Send", "StartTls", "State"]
