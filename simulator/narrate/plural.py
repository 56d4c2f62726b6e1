"""Counted nouns in each language, and sizes.

``en(1, "message", "messages") == "1 message"``;
``ru(21, "письмо", "письма", "писем") == "21 письмо"``, ``ru(12, …) == "12 писем"``.
The page has the same rules (``static/js/plural.js``); both are tested against one table.
"""
from __future__ import annotations


def ru_form(n: int, one: str, few: str, many: str) -> str:
    """The Russian noun form for ``n`` (CLDR: one / few / many for integers)."""
    tail, tens = abs(n) % 10, abs(n) % 100
    if tail == 1 and tens != 11:
        return one
    if 2 <= tail <= 4 and not 12 <= tens <= 14:
        return few
    return many


def en_form(n: int, one: str, other: str) -> str:
    return one if abs(n) == 1 else other


def en(n: int, one: str, other: str) -> str:
    return f"{n} {en_form(n, one, other)}"


def ru(n: int, one: str, few: str, many: str) -> str:
    return f"{n} {ru_form(n, one, few, many)}"


def size_en(octets: int) -> str:
    if octets < 1024:
        return en(octets, "byte", "bytes")
    if octets < 1024 * 1024:
        return f"{octets / 1024:.1f} KB".replace(".0 ", " ")
    return f"{octets / 1024 / 1024:.1f} MB".replace(".0 ", " ")


def size_ru(octets: int) -> str:
    if octets < 1024:
        return ru(octets, "байт", "байта", "байт")
    if octets < 1024 * 1024:
        return f"{octets / 1024:.1f} КБ".replace(".0 ", " ").replace(".", ",")
    return f"{octets / 1024 / 1024:.1f} МБ".replace(".0 ", " ").replace(".", ",")
