"""RFC 5321's grammar for HELO, MAIL and RCPT arguments, as tables: text in, path or problem out.

No server: :mod:`simulator.protocols.smtp.grammar` is pure.  The doors' use of it (replies on the wire,
relay policy) is in test_smtp_doors.py.
"""
from __future__ import annotations

import random

import pytest

from simulator.protocols.smtp import grammar
from simulator.protocols.smtp.grammar import Flaw, Mailbox, Path, Problem, parse_helo, parse_mail, parse_rcpt
from simulator.protocols.smtp.session import DataText, LineFolder, fold_line


@pytest.mark.parametrize("arg, address, params", [
    ("FROM:<alice@alpha.test>", "alice@alpha.test", ()),
    ("from:<alice@alpha.test>", "alice@alpha.test", ()),                 # keywords in any case
    ("FROM:<>", "<>", ()),                                                 # the null reverse-path
    ("FROM: <a@b.test>", "a@b.test", ()),                                  # tolerated: space after the colon
    ("FROM:a@b.test", "a@b.test", ()),                                     # tolerated: no brackets
    ("FROM:<a@b.test> SIZE=100 BODY=8BITMIME", "a@b.test", (("SIZE", "100"), ("BODY", "8BITMIME"))),
    ("FROM:<a@b.test> smtputf8", "a@b.test", (("SMTPUTF8", None),)),
    ('FROM:<"john smith"@b.test>', '"john smith"@b.test', ()),            # a quoted local part may hold a space
    ('FROM:<"a\\"b"@b.test>', '"a\\"b"@b.test', ()),
    ("FROM:<o'brien+tag@b-c.test>", "o'brien+tag@b-c.test", ()),
    ("FROM:<a@[127.0.0.1]>", "a@[127.0.0.1]", ()),
    ("FROM:<a@[IPv6:2001:db8::1]>", "a@[IPv6:2001:db8::1]", ()),
    ("FROM:<a@localhost>", "a@localhost", ()),                             # dot-less: a Domain
    ("FROM:<ü@bücher.test> SMTPUTF8", "ü@bücher.test", (("SMTPUTF8", None),)),   # RFC 6531
    ("FROM:<" + "l" * 64 + "@b.test>", "l" * 64 + "@b.test", ()),          # exactly the limit
])
def test_mail_paths_that_follow_the_grammar(arg, address, params):
    path = parse_mail(arg)
    assert isinstance(path, Path), path
    assert (path.address, path.params) == (address, params)


@pytest.mark.parametrize("arg, code, status, flaw", [
    ("FROM:<a\x00b@x.test>", 501, "5.1.7", Flaw.CONTROL),                 # the NUL
    ("FROM:<a@x.test>\x00", 501, "5.1.7", Flaw.CONTROL),
    ('FROM:<"a\x01"@x.test>', 501, "5.1.7", Flaw.CONTROL),                # not even quoted
    ("FROM:<a\x7f@x.test>", 501, "5.1.7", Flaw.CONTROL),
    ("FROM:<a\u202e@x.test> SMTPUTF8", 501, "5.1.7", Flaw.CONTROL),       # a bidi override
    ("FROM:<a\u00a0b@x.test> SMTPUTF8", 501, "5.1.7", Flaw.CONTROL),      # a no-break space
    ("FROM:<\udcff@x.test>", 501, "5.1.7", Flaw.NOT_UTF8),
    ("FROM:<$(sleep 3)@x.test>", 501, "5.1.7", Flaw.SYNTAX),              # the shell trick
    ("FROM:<a b@x.test>", 501, "5.1.7", Flaw.SPACE),
    ("FROM:<a@x .test>", 501, "5.1.7", Flaw.SPACE),
    ("FROM:<a@x.test.>", 501, "5.1.7", Flaw.BAD_DOMAIN),                  # a trailing dot
    ("FROM:<a@x..test>", 501, "5.1.7", Flaw.BAD_DOMAIN),
    ("FROM:<a@-x.test>", 501, "5.1.7", Flaw.BAD_DOMAIN),
    ("FROM:<a@x-.test>", 501, "5.1.7", Flaw.BAD_DOMAIN),
    ("FROM:<a@x_y.test>", 501, "5.1.7", Flaw.SYNTAX),
    ("FROM:<a@>", 501, "5.1.7", Flaw.BAD_DOMAIN),
    ("FROM:<.a@x.test>", 501, "5.1.7", Flaw.SYNTAX),
    ("FROM:<a.@x.test>", 501, "5.1.7", Flaw.SYNTAX),
    ("FROM:<a..b@x.test>", 501, "5.1.7", Flaw.SYNTAX),
    ("FROM:<a@x.test", 501, "5.1.7", Flaw.SYNTAX),
    ("FROM:<a@x.test>>", 501, "5.1.7", Flaw.SYNTAX),
    ('FROM:<"a@x.test>', 501, "5.1.7", Flaw.SYNTAX),
    ("FROM:<a>", 501, "5.1.7", Flaw.SYNTAX),                               # no domain
    ("FROM:", 501, "5.1.7", Flaw.SYNTAX),
    ("TO:<a@x.test>", 501, "5.1.7", Flaw.SYNTAX),
    ("FROM:<a@[300.0.0.1]>", 501, "5.1.7", Flaw.BAD_LITERAL),
    ("FROM:<a@[IPv6:zz::1]>", 501, "5.1.7", Flaw.BAD_LITERAL),
    ("FROM:<a@[1.2.3.4>", 501, "5.1.7", Flaw.BAD_LITERAL),
    ("FROM:<" + "l" * 65 + "@b.test>", 501, "5.1.7", Flaw.LOCAL_TOO_LONG),   # RFC 5321 §4.5.3.1.1
    ("FROM:<a@" + ".".join(["d" * 60] * 5) + ">", 501, "5.1.7", Flaw.DOMAIN_TOO_LONG),   # §4.5.3.1.2
    ("FROM:<a@b.test> SIZE=", 501, "5.1.7", Flaw.BAD_PARAMETER),
    ("FROM:<a@b.test> =1", 501, "5.1.7", Flaw.BAD_PARAMETER),
    ("FROM:<a@b.test> SIZE=1=2", 501, "5.1.7", Flaw.BAD_PARAMETER),
    ("FROM:<a@" + "d" * 64 + ".test>", 553, "5.1.7", Flaw.LABEL_TOO_LONG),   # no such domain can exist
    ("FROM:<@relay.test:a@b.test>", 553, "5.1.7", Flaw.SOURCE_ROUTE),
    ("FROM:<@one.test,@two.test:a@b.test>", 553, "5.1.7", Flaw.SOURCE_ROUTE),
    ("FROM:<a@[x-tag:stuff]>", 553, "5.1.7", Flaw.UNSUPPORTED_LITERAL),
    ("FROM:<ü@b.test>", 553, "5.6.7", Flaw.NON_ASCII),                    # RFC 6531 §3.5: without SMTPUTF8
])
def test_mail_paths_that_are_refused(arg, code, status, flaw):
    assert parse_mail(arg) == Problem(code, status, flaw)


def test_the_path_limit_counts_the_brackets():
    local = "l" * 64
    domain = ".".join(["d" * 63] * 3) + "." + "e" * 5          # 197 octets
    at_limit = f"{local}@{domain}"                             # 262 > 254: over the path limit
    assert parse_mail(f"FROM:<{at_limit}>") == Problem(501, "5.1.7", Flaw.PATH_TOO_LONG)
    fits = f"{local}@{'d' * 63}.{'d' * 63}.{'e' * 61}"         # 254 octets + "<>" = 256
    assert isinstance(parse_mail(f"FROM:<{fits}>"), Path)


@pytest.mark.parametrize("arg, mailbox", [
    ("TO:<bob@beta.test>", Mailbox("bob", "beta.test")),
    ("TO:<Postmaster>", Mailbox("Postmaster", "")),                          # RFC 5321 §4.5.1
    ("TO:<user%outside.test@beta.test>", Mailbox("user%outside.test", "beta.test", routing=True)),
    ("TO:<outside.test!user@beta.test>", Mailbox("outside.test!user", "beta.test", routing=True)),
    ('TO:<"user@outside.test"@beta.test>', Mailbox('"user@outside.test"', "beta.test", quoted=True, routing=True)),
    ('TO:<"plain"@beta.test>', Mailbox('"plain"', "beta.test", quoted=True)),
    ("TO:<bob@[127.42.2.2]>", Mailbox("bob", "[127.42.2.2]", literal=True)),
])
def test_recipients_report_routing_and_literals_for_the_policy(arg, mailbox):
    path = parse_rcpt(arg)
    assert isinstance(path, Path) and path.mailbox == mailbox


@pytest.mark.parametrize("arg, code, status, flaw", [
    ("TO:<>", 501, "5.1.3", Flaw.NULL_PATH),
    ("TO:<a\x00@beta.test>", 501, "5.1.3", Flaw.CONTROL),
    ("TO:<bob@beta.test.>", 501, "5.1.3", Flaw.BAD_DOMAIN),
    ("TO:<@mx.beta.test:bob@outside.test>", 553, "5.1.3", Flaw.SOURCE_ROUTE),
    ("TO:<bøb@beta.test>", 553, "5.6.7", Flaw.NON_ASCII),
])
def test_recipients_that_are_refused(arg, code, status, flaw):
    assert parse_rcpt(arg) == Problem(code, status, flaw)


def test_a_non_ascii_recipient_needs_the_transactions_smtputf8():
    assert isinstance(parse_rcpt("TO:<bøb@beta.test>", smtputf8=True), Path)


@pytest.mark.parametrize("arg", ["x.test", "vm", "[127.0.0.1]", "[IPv6:::1]", "[IPV6:::1]", "127.0.0.1",
                                 "msg.eml", "my_pc.local", "mx1.beta.test", "bücher.test"])
def test_helo_names_that_are_accepted(arg):
    """RFC 5321 §4.1.4: any Domain or literal, dot-less names and curl's file name included."""
    assert parse_helo(arg) == arg


@pytest.mark.parametrize("arg, flaw", [
    ("a\x00b", Flaw.CONTROL), ("x.test\x1b[2J", Flaw.CONTROL), ("$(sleep 3)", Flaw.SYNTAX),
    ("two words", Flaw.SYNTAX), ("", Flaw.SYNTAX), (None, Flaw.SYNTAX), ("x.test.", Flaw.BAD_DOMAIN),
    ("-x.test", Flaw.BAD_DOMAIN), ("[1.2.3]", Flaw.BAD_LITERAL), ("\udcfe.test", Flaw.NOT_UTF8),
])
def test_helo_names_that_are_refused(arg, flaw):
    problem = parse_helo(arg)
    assert isinstance(problem, Problem) and (problem.code, problem.status, problem.flaw) == (501, "5.5.2", flaw)


def test_a_huge_argument_is_parsed_in_linear_time_without_recursion():
    for arg in ("FROM:<" + "a." * 50_000 + "a@b.test>", "FROM:<" + "@x," * 50_000 + ">",
                'FROM:<"' + "\\a" * 50_000 + '"@b.test>', "FROM:<a@" + "b." * 50_000 + "c>"):
        assert isinstance(parse_mail(arg), Problem)


@pytest.mark.parametrize("line, expected", [
    (b"short\r\n", b"short\r\n"),
    (b"x" * 998 + b"\r\n", b"x" * 998 + b"\r\n"),                                   # exactly at the limit
    (b"x" * 999 + b"\r\n", b"x" * 997 + b"\r\n " + b"xx\r\n"),                     # a space inserted
    (b"a" * 990 + b" " + b"b" * 20 + b"\r\n", b"a" * 990 + b"\r\n " + b"b" * 20 + b"\r\n"),   # at the space
    ("я".encode() * 500 + b"\r\n", "я".encode() * 498 + b"\r\n " + "я".encode() * 2 + b"\r\n"),  # no half char
])
def test_fold_line(line, expected):
    assert fold_line(line) == expected


def test_fold_line_bounds_every_line_even_for_garbage():
    for line in (b"\x80" * 5000 + b"\r\n", b" " * 5000 + b"\r\n", b"\t" + b"y" * 5000 + b"\r\n"):
        folded = fold_line(line)
        assert all(len(part) <= 998 for part in folded.split(b"\r\n"))
        assert folded.endswith(b"\r\n")


def test_a_long_line_is_folded_as_its_pieces_arrive_never_held_whole():
    """Review of issue 12: a 10 MB line was gathered whole, then folded by re-slicing what was
    left after each fold (quadratic: 12.5 s of a blocked event loop).  Now it is folded as it
    arrives: between pieces at most 998 octets are pending, every fold copies at most 998, and the
    result is exactly fold_line's."""
    rng = random.Random(12)
    line = bytes(rng.choice(b"abcdefgh \t\xd1\x8f") if rng.random() < 0.2 else 0x41 for _ in range(3_000_000))
    text = DataText()
    most = 0
    for start in range(0, len(line), 65_537):
        text.feed(line[start:start + 65_537])
        most = max(most, text.pending)
    text.feed(b"\r\n")
    assert most <= 998 and text.pending == 0
    assert text.result() == fold_line(line + b"\r\n")
    parts: list[bytes] = []
    folder = LineFolder(parts.append)
    folder.extend(b"A" * 3_000_000)
    assert folder.pending <= 998 and len(parts) == 1 + (3_000_000 - 997) // 996   # one fold per 996 new octets


def test_a_released_text_keeps_nothing_and_is_no_message():
    """A DATA whose connection ended is released: what comes after is dropped, and the text kept
    so far is never taken as a whole message (no truncated mail accepted)."""
    text = DataText()
    text.feed(b"first\r\n" + b"L" * 2000 + b"\r\npartial")
    text.release()
    text.feed(b" end\r\nshort\r\n")
    assert text.discarding and text.chunks == []


def test_bare_lf_and_bare_cr_end_lines_and_every_line_is_kept_with_crlf():
    """RFC 5321 §2.3.8 asks for CRLF; mail written with bare LFs (curl --upload-file without --crlf)
    is read as Postfix reads it: each LF, and each bare CR, ends a line.  Short lines stay as they
    are (nothing folded that was not long); a CRLF split between two pieces is one line end."""
    order = b"".join(b"Order line %d: 2 x widget at 9.99 EUR\n" % n for n in range(70))   # 2.5 KB, LF only
    text = DataText()
    text.feed(b"Subject: curl upload\n\n" + order)
    text.feed(b"cr\rsplit\r")
    text.feed(b"\nend\r\n")
    kept = text.result()
    assert kept == (b"Subject: curl upload\r\n\r\n" + order.replace(b"\n", b"\r\n") + b"cr\r\nsplit\r\nend\r\n")
    assert text.lines == 2 + 70 + 3 and text.size == len(kept)


def test_the_transcript_gets_the_first_lines_and_a_count():
    seen: list[tuple[bytes, int]] = []
    text = DataText(keep=3, on_line=lambda head, length: seen.append((head, length)))
    text.feed(b"one\n" + b"x" * 5000 + b"\r\n" + b"three\r\n" * 50)
    assert seen == [(b"one", 3), (b"x" * 301, 5000), (b"three", 5)] and text.lines == 52


def test_remembered_answers_are_the_answers_and_the_memory_is_bounded():
    """The public functions keep their last answers (a bulk sender names the same paths again and
    again): each is equal to a fresh parse, the second time too, and at most PARSED_KEPT are kept."""
    rng = random.Random(13)
    alphabet = "ab.@<>:\"\\%!-_ =[]0123456789é\x00 "
    args = [None, "", "FROM:<a@b.test>", "TO:<bob@beta.test> NOTIFY=NEVER", "FROM:<>", "TO:<Postmaster>"]
    args += ["".join(rng.choice(alphabet) for _ in range(rng.randrange(1, 40))) for _ in range(300)]
    calls = [(grammar.parse_helo, {}), (grammar.parse_mail, {"smtputf8_offered": True}),
             (grammar.parse_mail, {"smtputf8_offered": False}), (grammar.parse_rcpt, {"smtputf8": True}),
             (grammar.parse_rcpt, {"smtputf8": False})]
    for function, flags in calls:
        for arg in args + ["TO:" + arg for arg in args[2:]] + ["FROM:" + arg for arg in args[2:]]:
            fresh = function.__wrapped__(arg, **flags)
            assert function(arg, **flags) == fresh and function(arg, **flags) == fresh
        assert function.cache_info().maxsize == grammar.PARSED_KEPT
        assert function.cache_info().currsize <= grammar.PARSED_KEPT
