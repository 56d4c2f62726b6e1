"""The mailbox store over Maildir, shared by the IMAP and POP3 servers, the MDA and the web.

Modules (each opens with the RFC sections it implements):
  * ``mailstore``: ``MailStore``, the users' folders and messages by UID, change notification;
  * ``maildir``: the on-disk layout (Maildir, Maildir++ folders, flags in file names) and the one
    writer of message files, which the MDA uses too;
  * ``uids``: persistent UIDs and UIDVALIDITY (the uid list), reconciling a folder with its files;
  * ``mime``: the MIME structure by byte offsets, for ENVELOPE, BODYSTRUCTURE and BODY[part];
  * ``headers``: where a header ends, its fields, and the one header summary shown to people;
  * ``mutf7``: modified UTF-7 (RFC 3501 §5.1.3);
  * ``records``: the errors the store raises and the records it hands out;
  * ``retention``: which messages a mailbox keeps after a delivery (count, age).

Everything public is importable from ``simulator.store`` itself.
"""
from __future__ import annotations

from .headers import HeaderSummary, header_block, summarize
from .maildir import (
    AUTO_SUBSCRIBE,
    DEFAULT_FOLDERS,
    DELIMITER,
    FLAG_TO_LETTER,
    INBOX,
    LETTER_TO_FLAG,
    SPECIAL_USE,
    SUBSCRIPTIONS_NAME,
    SYSTEM_FLAGS,
    canonical_flag,
    normalize_folder,
    valid_flag,
)
from .mailstore import MailStore, Subscription
from .mime import (MAX_MIME_DEPTH, MimePart, ParsedMessage, bounded_mime, parse_header_block, parse_mime, split_params,
                   to_crlf)
from .mutf7 import decode_mutf7, encode_mutf7
from .records import (
    FolderEvent,
    FolderExists,
    FolderInfo,
    FolderNameError,
    FolderStatus,
    Listener,
    MessageInfo,
    NoSuchFolder,
    NoSuchMessage,
    StoreError,
)
from .retention import Retention
from .uids import UIDLIST_NAME, UIDVALIDITY_NAME

__all__ = [
    "AUTO_SUBSCRIBE", "DEFAULT_FOLDERS", "DELIMITER", "FLAG_TO_LETTER", "INBOX", "LETTER_TO_FLAG",
    "SPECIAL_USE", "SUBSCRIPTIONS_NAME", "SYSTEM_FLAGS", "UIDLIST_NAME", "UIDVALIDITY_NAME",
    "MAX_MIME_DEPTH", "bounded_mime",
    "FolderEvent", "FolderExists", "FolderInfo", "FolderNameError", "FolderStatus", "HeaderSummary",
    "Listener", "MailStore", "MessageInfo", "MimePart", "NoSuchFolder", "NoSuchMessage", "ParsedMessage", "Retention",
    "StoreError", "Subscription", "canonical_flag", "decode_mutf7", "encode_mutf7", "header_block",
    "normalize_folder", "parse_header_block", "parse_mime", "split_params", "summarize", "to_crlf",
    "valid_flag",
]
