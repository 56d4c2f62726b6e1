"""Delivery status notifications (bounces): RFC 3464 inside an RFC 6522 multipart/report.

Three parts: a human-readable text/plain explanation (every language of the narrator, English
first: its words come from the catalogues, as the narration of a :class:`~simulator.facts.DsnNotice`), the
message/delivery-status fields (per message: Reporting-MTA, Arrival-Date; per recipient:
Final-Recipient, Action, Status, Remote-MTA, Diagnostic-Code, Last-Attempt-Date), and the original
message itself: whole, as message/rfc822 (RFC 3462 §2, RFC 6522 §3: "the returned original"), so
the sender gets back what it sent, attachments and all; above :data:`WHOLE_LIMIT` octets only its
header section, as text/rfc822-headers (RFC 6522 §4), so a huge message does not come back huge.
The parts are bytes: the original is carried byte for byte, 8-bit or not (its transfer encoding is
declared ``8bit`` when it has 8-bit octets, else ``7bit``; RFC 2046 §5.2.1 forbids any other).
The DSN is sent with a null reverse-path (RFC 5321 §4.5.5), so it can never be bounced itself.
"""
from __future__ import annotations

import textwrap
from dataclasses import dataclass
from email.utils import format_datetime, make_msgid
from datetime import datetime, timezone

from . import nodes
from .facts import DeliveryReason, DsnNotice, Reason
from .narrate import narrate
from .narrate.markup import plain
from .narrate.why import reason as word_reason
from .store.headers import header_block

WHOLE_LIMIT = 1024 * 1024       # octets: a larger original comes back as its header section only


@dataclass(frozen=True, slots=True)
class Failure:
    recipient: str
    status: str                    # "5.1.1"
    diagnostic: str                # the reply a server sent ("550 5.1.1 <bob@beta.test>: ..."), or ""
    remote: str = ""               # the host that said so, if any
    reason: Reason | None = None   # why, as a code (our own reasons: DNS, expiry ...)

    @property
    def why(self) -> Reason:
        if self.reason is not None:
            return self.reason
        return Reason.of(DeliveryReason.REPLY, host=self.remote, reply=self.diagnostic)


def notice_text(reporting_host: str, failures: list[Failure], *, whole: bool = True) -> str:
    """The human-readable part: the narration of the notice in every language, CRLF lines."""
    node = nodes.mta(reporting_host)
    fact = DsnNotice(src=node, dst=node, host=reporting_host,
                     failures=tuple((f.recipient, f.why) for f in failures), whole=whole)
    words = narrate(fact)
    langs = sorted(words, key=lambda lang: lang != "en")         # English first, then the others
    text = "\n\n".join(plain(words[lang]["explain"]).strip() for lang in langs)
    lines = [_wrap(line) for line in text.replace("\r\n", "\n").split("\n")]
    return "\r\n".join(lines) + "\r\n"


def _wrap(line: str) -> str:
    """Lines of at most 76 characters where words allow (RFC 5322 §2.1.1 asks for 78)."""
    indent = "  " if line.startswith("- ") else ""
    return "\r\n".join(textwrap.wrap(line, 76, subsequent_indent=indent, break_long_words=False,
                                     break_on_hyphens=False)) or line


def render(*, reporting_host: str, sender: str, original: bytes, failures: list[Failure],
           arrival: float, now: float, boundary: str, whole_limit: int = WHOLE_LIMIT) -> bytes:
    """The bounce as CRLF bytes, ready for the queue (the original whole up to ``whole_limit``)."""
    date = format_datetime(datetime.fromtimestamp(now, timezone.utc))
    arrival_date = format_datetime(datetime.fromtimestamp(arrival, timezone.utc))
    head_bytes = header_block(original)
    head = head_bytes.decode("utf-8", "replace")
    subject = _original_subject(head)
    text = notice_text(reporting_host, failures, whole=len(original) <= whole_limit)
    per_message = (f"Reporting-MTA: dns; {reporting_host}\r\n"
                   f"Arrival-Date: {arrival_date}\r\n")
    per_rcpt = []
    for f in failures:
        block = (f"Final-Recipient: rfc822; {f.recipient}\r\n"
                 f"Action: failed\r\n"
                 f"Status: {f.status}\r\n")
        if f.remote:
            block += f"Remote-MTA: dns; {f.remote}\r\n"
        if f.diagnostic[:3].isdigit():      # a reply an SMTP server really sent (RFC 3464 §2.3.6)
            block += f"Diagnostic-Code: smtp; {_one_line(f.diagnostic)}\r\n"
        elif f.reason is not None:          # our own reason (DNS, expiry): not dressed up as SMTP
            block += f"X-Mailflow-Reason: {_one_line(plain(word_reason('en', f.reason)))}\r\n"
        block += f"Last-Attempt-Date: {date}\r\n"
        per_rcpt.append(block)
    status_part = per_message + "\r\n" + "\r\n".join(per_rcpt)
    message_id = make_msgid(domain=reporting_host)
    parts = [
        f"From: Mail Delivery System <MAILER-DAEMON@{reporting_host}>\r\n"
        f"To: <{sender}>\r\n"
        f"Subject: Undelivered Mail Returned to Sender{': ' + subject if subject else ''}\r\n"
        f"Date: {date}\r\n"
        f"Message-ID: {message_id}\r\n"
        f"Auto-Submitted: auto-replied\r\n"
        f"MIME-Version: 1.0\r\n"
        f"Content-Type: multipart/report; report-type=delivery-status;\r\n\tboundary=\"{boundary}\"\r\n"
        f"\r\n"
        f"This is a MIME-encapsulated message.\r\n\r\n",
        f"--{boundary}\r\nContent-Description: Notification\r\n"
        f"Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n{text}\r\n",
        f"--{boundary}\r\nContent-Description: Delivery report\r\n"
        f"Content-Type: message/delivery-status\r\n\r\n{status_part}\r\n",
    ]
    out = "".join(parts).encode("utf-8") + returned_part(original, head_bytes, boundary, whole_limit)
    return out + f"--{boundary}--\r\n".encode()


def returned_part(original: bytes, head: bytes, boundary: str, whole_limit: int = WHOLE_LIMIT) -> bytes:
    """The third part: the original whole (message/rfc822), or its header section when too large."""
    if len(original) <= whole_limit:
        body = original if original.endswith(b"\r\n") else original + b"\r\n"
        cte = "8bit" if any(b > 127 for b in original) else "7bit"
        return (f"--{boundary}\r\nContent-Description: Undelivered Message\r\n"
                f"Content-Type: message/rfc822\r\nContent-Transfer-Encoding: {cte}\r\n\r\n").encode() + body + b"\r\n"
    cut = f"{len(original)} octets, more than {whole_limit}: only its header section is returned"
    return (f"--{boundary}\r\nContent-Description: Undelivered Message Headers ({cut})\r\n"
            f"Content-Type: text/rfc822-headers\r\n\r\n").encode() + head + b"\r\n\r\n"


def _one_line(text: str) -> str:
    return " ".join(text.split())


def _original_subject(head: str) -> str:
    lines = head.split("\r\n")
    for i, line in enumerate(lines):
        if line.lower().startswith("subject:"):
            value = line[8:].strip()
            for cont in lines[i + 1:]:
                if cont[:1] not in (" ", "\t"):
                    break
                value += " " + cont.strip()
            return value[:200]
    return ""
