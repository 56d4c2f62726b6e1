"""IMAP4rev1 (RFC 3501) with the extensions real clients use: a sans-IO core and its asyncio server.

Implemented
  * RFC 3501: CAPABILITY, NOOP, LOGOUT (§6.1); STARTTLS, AUTHENTICATE, LOGIN (§6.2); SELECT, EXAMINE,
    CREATE, DELETE, RENAME, SUBSCRIBE, UNSUBSCRIBE, LIST, LSUB, STATUS, APPEND (§6.3); CHECK, CLOSE,
    EXPUNGE, SEARCH, FETCH, STORE, COPY, UID (§6.4); literals, quoted strings, sequence sets (§4, §9).
  * SASL-IR (RFC 4959) with PLAIN (RFC 4616) and LOGIN; LITERAL+ (RFC 7888); ID (RFC 2971);
    ENABLE (RFC 5161); IDLE (RFC 2177); NAMESPACE (RFC 2342); UIDPLUS (RFC 4315: APPENDUID, COPYUID,
    UID EXPUNGE); UNSELECT (RFC 3691); CHILDREN (RFC 3348); MOVE (RFC 6851); SPECIAL-USE attributes in
    LIST (RFC 6154); response codes TOOBIG, AUTHENTICATIONFAILED, EXPUNGEISSUED, CANNOT, NONEXISTENT,
    ALREADYEXISTS, UNAVAILABLE (RFC 5530).
  * ESEARCH (RFC 4731); SORT and SORT=DISPLAY (RFC 5256, RFC 5957); ESORT (RFC 5267 §3);
    THREAD=ORDEREDSUBJECT and THREAD=REFERENCES (RFC 5256); CONDSTORE and QRESYNC (RFC 7162);
    MULTIAPPEND (RFC 3502); BINARY (RFC 3516).  Each was advertised once imaptest's scripts for it
    passed (bench/IMAPTEST.md).

Left out (and therefore never advertised): COMPRESS, LIST-EXTENDED, LIST-STATUS, UTF8=ACCEPT, CATENATE,
CONTEXT=SEARCH / CONTEXT=SORT / PARTIAL, SEARCHRES, NOTIFY, URLAUTH, QUOTA, ACL, METADATA.

Bounds (issue 12): a command line 64 KiB, a literal 32 MiB, a whole command 64 MiB, each checked before
the "+" continuation (``wire``); parentheses 16 deep; search keys 64 deep (``search``); MIME 40 levels
(``simulator.store.mime``); 20 BAD replies in a row and 3 failed logins per connection end a session
(``session``); sessions per client address (``server``, a ``limits.SessionCap``); folder names that
could leave the user's directory are refused (``wire.mailbox_arg`` and the store).

The map
  ``wire``      framing (lines and literals), tokens, commands, sequence sets, strings and dates;
  ``render``    ENVELOPE and BODY / BODYSTRUCTURE from the store's MIME tree;
  ``fetch``     FETCH items parsed, and a table of one function per item;
  ``search``    SEARCH keys -> a predicate over a message view;
  ``sorting``, ``threading``, ``esearch``   SORT orders, THREAD trees and ESEARCH texts from plain
                records (pure; ``verbs_search`` wires them);
  ``mailbox``   the interface the session works on, and its Maildir implementation (``memory``:
                an in-memory one, for tests);
  ``effects``   what the session asks of its adapter, and the session's states;
  ``session``   ``ImapSession``: the state x verb table (``verbs_any``, ``verbs_folders``,
                ``verbs_selected``, ``verbs_search``), login as an effect, updates from other
                sessions (with MODSEQ and VANISHED once enabled), facts;
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
