"""The benchmarks set a spent run's directory aside and delete it when they end, not between runs
(bench/sidebyside/spent.py: deleting one run's files made the next run's file creations dearer)."""
from __future__ import annotations

import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "bench"))
from sidebyside import spent  # noqa: E402


def _run_dir(parent: Path, name: str, files: int = 3) -> Path:
    path = parent / name
    (path / "new").mkdir(parents=True)
    for n in range(files):
        (path / "new" / f"m{n}").write_bytes(b"x" * 100)
    return path


def test_a_spent_run_keeps_its_inodes_until_the_benchmark_ends(tmp_path, monkeypatch):
    monkeypatch.setattr(spent, "_spent", {})
    first, second = _run_dir(tmp_path, "0001-ingest"), _run_dir(tmp_path, "0002-ingest")
    inode = os.stat(first / "new" / "m0").st_ino
    assert spent.discard(first) and spent.discard(second)
    assert not first.exists() and not second.exists()
    aside = [p for p in tmp_path.iterdir() if p.name.startswith("spent-runs-")]
    assert len(aside) == 1
    kept = sorted(aside[0].iterdir())
    assert [p.name.split("-", 1)[1] for p in kept] == ["0001-ingest", "0002-ingest"]
    assert os.stat(kept[0] / "new" / "m0").st_ino == inode      # renamed, not copied: nothing freed
    spent.empty()
    assert list(tmp_path.iterdir()) == []


def test_at_once_or_a_disk_running_low_deletes_now(tmp_path, monkeypatch):
    monkeypatch.setattr(spent, "_spent", {})
    assert spent.discard(_run_dir(tmp_path, "a"), at_once=True) is False
    assert list(tmp_path.iterdir()) == []
    monkeypatch.setattr(spent, "LOW_DISK", 1 << 62)
    assert spent.discard(_run_dir(tmp_path, "b")) is False
    assert list(tmp_path.iterdir()) == []


def test_a_directory_already_gone_is_no_error(tmp_path, monkeypatch):
    monkeypatch.setattr(spent, "_spent", {})
    assert spent.discard(tmp_path / "never-made") is True
    assert list(tmp_path.iterdir()) == []


def test_a_directory_that_cannot_be_renamed_is_deleted_at_once(tmp_path, monkeypatch):
    monkeypatch.setattr(spent, "_spent", {})
    run = _run_dir(tmp_path, "c")

    def refuse(self, target):
        raise OSError("cross-device link")
    monkeypatch.setattr(Path, "rename", refuse)
    assert spent.discard(run) is False
    assert not run.exists()


def test_the_spent_runs_are_deleted_when_a_benchmark_is_stopped(tmp_path):
    """A benchmark script stopped by SIGTERM (a timeout) deletes what it set aside on its way out."""
    import signal
    import subprocess
    import textwrap
    bench = Path(__file__).resolve().parent.parent / "bench"
    script = textwrap.dedent(f"""
        import sys, time
        from pathlib import Path
        sys.path.insert(0, {str(bench)!r})
        from sidebyside import spent
        run = Path({str(tmp_path)!r}) / "0001-run"
        (run / "new").mkdir(parents=True)
        assert spent.discard(run)
        print("aside", flush=True)
        time.sleep(60)
    """)
    child = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    try:
        assert child.stdout.readline().strip() == "aside"
        assert [p.name for p in tmp_path.iterdir() if p.name.startswith("spent-runs-")]
        child.send_signal(signal.SIGTERM)
        assert child.wait(timeout=30) == 143
    finally:
        if child.poll() is None:
            child.kill()
            child.wait(timeout=30)
        child.stdout.close()
    assert list(tmp_path.iterdir()) == []
