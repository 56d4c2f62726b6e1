"""The one header summary (simulator/store/headers.py): fields, decoding, limits, hostile input."""

from __future__ import annotations

import pytest

from simulator.store.headers import (
    FIELD_LIMIT,
    RECEIVED_LIMIT,
    RECEIVED_MAX,
    HeaderSummary,
    header_block,
    header_fields,
    summarize,
)

MESSAGE = (b"Received: from a.test (a.test [10.0.0.1])\r\n\tby b.test; Fri, 4 Dec 2026 18:00:00 +0000\r\n"
           b"Received: from c.test by a.test\r\n"
           b"Message-ID: <1@a.test>\r\n"
           b"From: =?utf-8?q?J=C3=B6rg?= <jorg@a.test>\r\n"
           b"To: bob@b.test,\r\n carol@b.test\r\n"
           b"Cc: dave@b.test\r\n"
           b"Subject: =?utf-8?b?0J/RgNC40LLQtdGC?= =?utf-8?q?_world?=\r\n"
           b"Date: Fri, 4 Dec 2026 18:00:00 +0000\r\n"
           b"\r\n"
           b"Subject: not a header\r\n")


def test_summary_of_a_plain_header() -> None:
    got = summarize(header_block(MESSAGE))
    assert got == HeaderSummary(
        message_id="<1@a.test>", from_="Jörg <jorg@a.test>", to="bob@b.test, carol@b.test",
        subject="Привет world", date="Fri, 4 Dec 2026 18:00:00 +0000",
        received=("from a.test (a.test [10.0.0.1]) by b.test; Fri, 4 Dec 2026 18:00:00 +0000",
                  "from c.test by a.test"))


def test_a_whole_message_gives_the_same_summary() -> None:
    assert summarize(MESSAGE) == summarize(header_block(MESSAGE))


def test_missing_fields_are_empty() -> None:
    assert summarize(b"X-Other: 1") == HeaderSummary()
    assert summarize(b"") == HeaderSummary()


def test_first_of_a_repeated_field_wins_and_names_are_case_blind() -> None:
    got = summarize(b"SUBJECT: one\r\nsubject: two\r\nfrom : x@y")
    assert (got.subject, got.from_) == ("one", "x@y")


@pytest.mark.parametrize(("content", "head"), [
    (b"A: 1\r\nB: 2\r\n\r\nbody\r\n\r\nmore", b"A: 1\r\nB: 2"),
    (b"A: 1\nB: 2\n\nbody", b"A: 1\nB: 2"),                  # a Maildir file with bare LF
    (b"A: 1\r\nB: 2\r\n", b"A: 1\r\nB: 2\r\n"),              # no empty line: all header
    (b"\r\nbody", b""),                                       # empty header
    (b"", b""),
])
def test_header_block(content: bytes, head: bytes) -> None:
    assert header_block(content) == head


def test_header_fields_keeps_raw_values() -> None:
    assert list(header_fields(b"Subject: =?utf-8?q?a?=\r\n b\r\nX: y")) == [
        (b"subject", b" =?utf-8?q?a?=\r\n b"), (b"x", b" y")]


def test_raw_utf8_and_encoded_words_mixed() -> None:
    got = summarize("Subject: Привет =?utf-8?q?caf=C3=A9?=".encode())
    assert got.subject == "Привет café"


@pytest.mark.parametrize("head", [
    b"Subject: =?utf-8?q?broken",                    # unterminated encoded word
    b"Subject: =?no-such-charset?q?abc?=",           # unknown charset
    b"Subject: =?utf-8?b?!!!!?=",                    # bad base64
    b"Subject: \xff\xfe\x00\x1b[31m red \xc2\x9b",   # invalid UTF-8, NUL, escape sequences (C0, C1)
    b"Subject: =?utf-8*en?q?abc?=",                  # RFC 2231 language in the charset
    b":\r\n: :\r\n\x00: x\r\n \r\n\t",               # garbage lines
])
def test_hostile_input_never_raises(head: bytes) -> None:
    got = summarize(head)
    assert isinstance(got, HeaderSummary)
    assert not any(ch < " " or "\x7f" <= ch < "\xa0" for ch in got.subject)   # no control reaches a display


def test_not_bytes_gives_an_empty_summary() -> None:
    assert summarize(None) == HeaderSummary()         # type: ignore[arg-type]


def test_limits() -> None:
    received = b"".join(b"Received: from x " + b"y" * 1000 + b"\r\n" for _ in range(RECEIVED_MAX + 10))
    got = summarize(received + b"Subject: " + b"s" * 5000)
    assert len(got.subject) == FIELD_LIMIT
    assert len(got.received) == RECEIVED_MAX
    assert all(len(r) == RECEIVED_LIMIT for r in got.received)


def test_huge_run_of_encoded_words_is_bounded() -> None:
    got = summarize(b"Subject: " + b"=?utf-8?q?ab?= " * 100_000)
    assert got.subject.startswith("abab") and len(got.subject) == FIELD_LIMIT
