"""ENVELOPE's address lists: the one-regex path for the common shapes (``render._fast_address_list``)
gives exactly the items of the RFC 5322 tokenizer (``render._parse_address_list``) whenever it
answers, on generated lists that are mostly of those shapes and on arbitrary fragments."""
from __future__ import annotations

from hypothesis import given, settings, strategies as st

from simulator.protocols.imap import render

atoms = st.sampled_from(["bob", "a.b", "x-y", "=?UTF-8?B?Wm/DqyBRdWlubg==?=", "O'Brien", "é", "Q.", "1", "@"])
spaces = st.sampled_from(["", " ", "  ", "\t", " \t ", "\xa0"])
hosts = st.sampled_from(["example.org", "b", "mail.example.com", "[1.2.3.4]", "x_y"])


@st.composite
def address(draw) -> str:
    local, host = draw(atoms), draw(hosts)
    shape = draw(st.integers(0, 4))
    if shape == 0:
        return f"{local}@{host}"
    if shape == 1:
        words = draw(st.lists(atoms, max_size=3))
        return draw(spaces).join(words) + draw(spaces) + f"<{local}@{host}>"
    if shape == 2:
        name = draw(st.sampled_from(["Dave O'Brien", "Smith, John", "", "@", "a\\\"b", "x  y", "é"]))
        return f'"{name}"{draw(spaces)}<{local}@{host}>'
    if shape == 3:
        return f"{local}@{host} ({draw(atoms)})"
    return f"group: {local}@{host};"


@st.composite
def address_list(draw) -> str:
    items = draw(st.lists(address(), min_size=1, max_size=4))
    text = ""
    for item in items:
        text += (draw(st.sampled_from([",", ", ", " ,", ",,"])) if text else draw(spaces)) + item
    return text + draw(st.sampled_from(["", ",", " "]))


@settings(max_examples=500)
@given(address_list())
def test_the_fast_path_agrees_with_the_tokenizer(value: str) -> None:
    fast = render._fast_address_list(value)
    if fast is not None:
        assert fast == render._parse_address_list(value)
    assert render.parse_address_list(value) == render._parse_address_list(value)


fragments = st.lists(st.sampled_from(["a", "b.c", "@", "<", ">", ",", " ", "\t", '"', "\\", "(", ")", ":", ";",
                                      "[", "]", "é", "\xa0", "\r\n"]), max_size=16)


@settings(max_examples=500)
@given(fragments)
def test_on_arbitrary_fragments(parts: list[str]) -> None:
    value = "".join(parts)
    fast = render._fast_address_list(value)
    if fast is not None:
        assert fast == render._parse_address_list(value)


def test_the_common_shapes_take_the_fast_path() -> None:
    for value, item in [("bob@bench.test", ("addr", None, None, "bob", "bench.test")),
                        ("Trent Reznor <trent14@example.org>", ("addr", "Trent Reznor", None, "trent14", "example.org")),
                        ('"Dave O\'Brien" <dave22@example.org>', ("addr", "Dave O'Brien", None, "dave22", "example.org"))]:
        assert render._fast_address_list(value) == [item]
    assert render._fast_address_list("undisclosed-recipients:;") is None


def quote_reference(value: str | bytes) -> bytes:
    """RFC 3501 §4.3 the plain way: a quoted string (backslash and DQUOTE escaped) for short ASCII
    text without CR, LF or NUL; else a literal."""
    raw = value if isinstance(value, bytes) else value.encode("utf-8", "surrogateescape")
    if len(raw) < 1000 and b"\r" not in raw and b"\n" not in raw and b"\0" not in raw and raw.isascii():
        return b'"' + raw.replace(b"\\", b"\\\\").replace(b'"', b'\\"') + b'"'
    return b"{%d}\r\n" % len(raw) + raw


@settings(max_examples=500)
@given(st.lists(st.sampled_from(["a", " ", '"', "\\", "\r", "\n", "\0", "é", "\udcff", "x" * 300]), max_size=8))
def test_quote_is_the_plain_definition(parts: list[str]) -> None:
    from simulator.protocols.imap.wire import quote
    value = "".join(parts)
    assert quote(value) == quote_reference(value)
    assert quote(value.encode("utf-8", "surrogateescape")) == quote_reference(value)
    for n in (998, 999, 1000):
        assert quote("a" * n) == quote_reference("a" * n)
