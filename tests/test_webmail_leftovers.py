"""A killed process leaves no half-written file in the webmail's own store (issue 12, rule 1).

The POP3 webmail writes each message as ``.<id>.<pid>.tmp`` and links it to ``<id>.eml``
(``fsutil.create_new``); a kill between the two leaves the ``.tmp``.  It is never shown (only
``*.eml`` is listed), but it would stay on disk for ever: the mail stack removes such files when it
starts, and nothing else.
"""
from __future__ import annotations

from pathlib import Path

from simulator.webmail.local import LocalStore, clean_leftovers


def _leftover(root: Path) -> tuple[Path, Path, Path]:
    """A delivered message, a killed write beside it, and a file of another kind that must stay."""
    store = LocalStore(root, "alice@alpha.test")
    id = store.add("INBOX", b"Subject: kept\r\n\r\nbody\r\n")
    kept = store.folder("INBOX") / f"{id}.eml"
    killed = store.folder("Sent") / ".1733390000000000000.0.4242.tmp"
    killed.write_bytes(b"Subject: half\r\n\r\nwritten")
    other = store.folder("Sent") / "notes.tmp"
    other.write_bytes(b"not ours")
    return kept, killed, other


def test_clean_leftovers_removes_only_killed_writes(tmp_path: Path):
    kept, killed, other = _leftover(tmp_path / "webmail")
    removed = clean_leftovers(tmp_path / "webmail")
    assert removed == [killed]
    assert not killed.exists() and kept.exists() and other.exists()
    assert LocalStore(tmp_path / "webmail", "alice@alpha.test").messages("INBOX")[0]["subject"] == "kept"
    assert clean_leftovers(tmp_path / "nothing-here") == []


def test_the_stack_cleans_the_webmail_store_when_it_starts(tmp_path: Path, start_world):
    kept, killed, other = _leftover(tmp_path / "data" / "webmail")
    start_world()
    assert not killed.exists() and kept.exists() and other.exists()
