"""A Maildir copy written with no temporary name (``fsutil.create_unnamed``, Linux's O_TMPFILE), and the
fallback to ``tmp/<name>`` where the kernel or the file system refuses it: the same outcomes either way."""
from __future__ import annotations

import errno
import os

import pytest

from simulator import fsutil, mda
from simulator.store import maildir

pytestmark = pytest.mark.skipif(not fsutil._UNNAMED[0], reason="no O_TMPFILE or /proc here")

TEXT = b"Subject: x\r\n\r\nbody\r\n"


def test_the_copy_arrives_whole_with_nothing_left_under_tmp(tmp_path):
    box = tmp_path / "bob"
    seen: list[tuple[list[str], list[str]]] = []
    name = mda.delivery_name(1700000000.25, "ABCDEF012345", "R0")
    path, written = mda.deliver_once(box, TEXT, name=name,
                                     before_link=lambda: seen.append((os.listdir(box / "tmp"), os.listdir(box / "new"))))
    assert written and path == box / "new" / f"{name},S=20,W=20" and path.read_bytes() == TEXT
    assert seen == [([], [])]               # whole and fsynced before it had any name
    assert os.stat(path).st_mode & 0o777 == 0o600 and os.stat(path).st_nlink == 1
    assert os.listdir(box / "tmp") == [] and os.listdir(box / "new") == [path.name]


def test_a_name_taken_is_never_replaced(tmp_path):
    (tmp_path / "tmp").mkdir()
    final = tmp_path / "final"
    final.write_bytes(b"old")
    with pytest.raises(FileExistsError):
        fsutil.create_unnamed(tmp_path / "tmp", final, b"new")
    assert final.read_bytes() == b"old" and os.listdir(tmp_path / "tmp") == []


def test_a_write_stopped_before_its_link_leaves_nothing(tmp_path):
    box = tmp_path / "bob"

    def killed() -> None:
        raise KeyboardInterrupt             # stands in for the process stopped at its crash point

    with pytest.raises(KeyboardInterrupt):
        mda.deliver_once(box, TEXT, name=mda.delivery_name(1.0, "ABCDEF012345", "R0"), before_link=killed)
    assert os.listdir(box / "tmp") == [] and os.listdir(box / "new") == []


def test_where_o_tmpfile_is_refused_the_copy_goes_through_tmp_as_before(tmp_path, monkeypatch):
    monkeypatch.setattr(fsutil, "_UNNAMED", [True])
    real_open = os.open

    def no_tmpfile(path, flags, *args, **kwargs):
        if flags & fsutil._O_TMPFILE == fsutil._O_TMPFILE:
            raise OSError(errno.EOPNOTSUPP, "Operation not supported")
        return real_open(path, flags, *args, **kwargs)

    monkeypatch.setattr(os, "open", no_tmpfile)
    box = tmp_path / "bob"
    under_tmp: list[list[str]] = []
    name = mda.delivery_name(1700000000.5, "ABCDEF012345", "R1")
    path, written = mda.deliver_once(box, TEXT, name=name, before_link=lambda: under_tmp.append(os.listdir(box / "tmp")))
    assert written and path.read_bytes() == TEXT and under_tmp == [[name]]
    assert fsutil._UNNAMED == [False]       # asked once, then not again in this process
    assert mda.deliver_once(box, TEXT, name=name) == (path, False)
    assert os.listdir(box / "tmp") == [] and os.listdir(box / "new") == [path.name]


def test_a_leftover_of_the_same_delivery_under_tmp_goes(tmp_path):
    box = tmp_path / "bob"
    maildir.make_maildir(box)
    name = mda.delivery_name(1700000000.0, "ABCDEF012345", "R2")
    (box / "tmp" / name).write_bytes(b"Subject: killed\r\n\r\nwhole\r\n")
    path, written = mda.deliver_once(box, TEXT, name=name)
    assert written and path.read_bytes() == TEXT and os.listdir(box / "tmp") == []


@pytest.mark.parametrize("root", ["/srv/data", "/srv/data/", "data", "/", "./data"])
def test_the_published_path_of_a_copy_is_relative_to_the_data_directory(root):
    from pathlib import Path

    from simulator.direct import _relative
    data = Path(root)
    for path in (mda.maildir_for(data, "Bob@Beta.Test") / "new" / "1.M2QABCR0.host,S=20,W=20",
                 data / "mail" / "x" / "y" / "new" / "n"):
        assert _relative(path, data) == str(path.relative_to(data))
    assert mda.maildir_for(data, "Bob@Beta.Test") is mda.maildir_for(data, "Bob@Beta.Test")   # remembered
    with pytest.raises(ValueError):
        mda.maildir_for(data, "../x@beta.test")


def test_the_copy_is_fsynced_again_once_it_has_its_name(tmp_path, monkeypatch):
    """The link changes the file's own inode (its link count): fsynced after the link too, else a file
    system without a journal may keep the count 0 on disk and fsck would clear an acknowledged copy."""
    calls: list[str] = []
    real_fsync, real_link = os.fsync, os.link
    monkeypatch.setattr(os, "fsync", lambda fd: (calls.append("fsync"), real_fsync(fd))[1])
    monkeypatch.setattr(os, "link", lambda *a, **k: (calls.append("link"), real_link(*a, **k))[1])
    (tmp_path / "tmp").mkdir()
    assert fsutil.create_unnamed(tmp_path / "tmp", tmp_path / "final", b"data")
    assert calls == ["fsync", "link", "fsync"] and (tmp_path / "final").read_bytes() == b"data"


@pytest.mark.parametrize("refused", [errno.EPERM, errno.EACCES])
def test_a_refused_link_falls_back_with_its_crash_point_passed_once(tmp_path, monkeypatch, refused):
    monkeypatch.setattr(fsutil, "_UNNAMED", [True])
    real_link = os.link

    def no_proc_link(source, target, *args, **kwargs):
        if str(source).startswith("/proc/self/fd/"):
            raise OSError(refused, os.strerror(refused))
        return real_link(source, target, *args, **kwargs)

    monkeypatch.setattr(os, "link", no_proc_link)
    box, passed = tmp_path / "bob", []
    name = mda.delivery_name(1700000001.0, "ABCDEF012345", "R3")
    path, written = mda.deliver_once(box, TEXT, name=name, before_link=lambda: passed.append(1))
    assert written and path.read_bytes() == TEXT and passed == [1] and fsutil._UNNAMED == [False]
    assert os.listdir(box / "tmp") == []
