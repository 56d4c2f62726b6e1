"""The CRLF form of a stored message (RFC 3501 §4.3): ``to_crlf`` and ``crlf_size`` against the plain
definition (every bare LF becomes CRLF, every CRLF stays, a bare CR stays), on any input; the
CRLF size a scan takes from a Dovecot-style ``,W=`` in a file name; and a header parse limited to
some field names (ENVELOPE's) equal to the full parse filtered."""
from __future__ import annotations

from hypothesis import given, settings, strategies as st

from simulator.store import mime


def reference(data: bytes) -> bytes:
    """The definition, the slow way: drop the CR of every CRLF, then turn every LF into CRLF."""
    return data.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")


# Inputs made of line-end material and a little text, so that every case comes up often: CRLF,
# bare LF at the start, at the end, after a CR-less line, CR CR LF, a lone CR at the end.
pieces = st.lists(st.sampled_from([b"\r\n", b"\n", b"\r", b"a", b"\r\r\n", b"\n\r", b"xy"]), max_size=40)


@settings(max_examples=800)
@given(pieces)
def test_to_crlf_and_crlf_size_follow_the_definition(parts: list[bytes]) -> None:
    data = b"".join(parts)
    assert mime.to_crlf(data) == reference(data)
    assert mime.crlf_size(data) == len(reference(data))


@settings(max_examples=300)
@given(st.binary(max_size=300))
def test_any_octets(data: bytes) -> None:
    assert mime.to_crlf(data) == reference(data)
    assert mime.crlf_size(data) == len(reference(data))


def test_a_crlf_clean_message_is_returned_as_it_is() -> None:
    data = b"Subject: x\r\n\r\nline\r\n" * 100
    assert mime.to_crlf(data) is data
    assert mime.crlf_size(data) == len(data)


def test_edges() -> None:
    assert mime.to_crlf(b"\n") == b"\r\n"
    assert mime.to_crlf(b"a\r\nb\n") == b"a\r\nb\r\n"
    assert mime.to_crlf(b"\na\r\n") == b"\r\na\r\n"
    assert mime.crlf_size(b"\r\r\n\n") == 5
    assert mime.to_crlf(b"\r") == b"\r"


header_lines = st.lists(st.sampled_from([
    b"From: a@b\r\n", b"from : x\r\n", b"FROM:y\r\n", b"Fromage: no\r\n", b"Subject: s\r\n", b" from: cont\r\n",
    b"\tfolded\r\n", b"Received: from x by y\r\n", b"To: t\r\n", b"Reply-To: r\r\n", b"garbage line\r\n",
    b"X-From: z\r\n", b"Date: d\n", b"cc:\r\n", b"\r\n", b"Message-ID: <m@x>\r\n"]), max_size=14)


@settings(max_examples=800)
@given(header_lines, st.sampled_from([None, frozenset({"from", "subject", "to", "reply-to", "date", "cc", "message-id"}),
                                      frozenset({"from"}), frozenset()]))
def test_a_header_parse_for_some_names_is_the_full_parse_filtered(lines: list[bytes], names) -> None:
    data = b"".join(lines) + b"\r\nbody\r\n"
    full, body = mime.parse_header_block(data, 0, len(data))
    if names is None:
        return
    some, body2 = mime.parse_header_block(data, 0, len(data), names)
    assert body2 == body
    assert some == {k: v for k, v in full.items() if k in names}


def test_name_size_is_trusted_only_with_a_matching_s() -> None:
    from simulator.store.uids import UNKNOWN_SIZE, name_size
    assert name_size("1.M2P3Q4.host,S=10,W=12", 10) == 12
    assert name_size("1.M2P3Q4.host,S=10,W=12", 11) == UNKNOWN_SIZE      # changed since it was named
    assert name_size("1.M2P3Q4.host,W=12", 10) == UNKNOWN_SIZE           # no S to check it by
    assert name_size("1.M2P3Q4.host,S=10,W=30", 10) == UNKNOWN_SIZE      # no CRLF form is that large
    assert name_size("1.M2P3Q4.host,S=10,W=\u00b2", 10) == UNKNOWN_SIZE
    assert name_size("1.M2P3Q4.host", 10) == UNKNOWN_SIZE
