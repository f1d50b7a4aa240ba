"""A kill -9 in the middle of writing: the file opens, is intact, and holds
everything written more than a second before the kill."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from dash.store import Store

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent

pytestmark = pytest.mark.e2e


def test_kill_9_mid_write_keeps_the_file_intact_and_all_but_the_last_second(tmp_path: Path) -> None:
    db = tmp_path / "state" / "history.db"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    proc = subprocess.Popen(
        [sys.executable, str(HERE / "child_writer.py"), str(db)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        cwd=ROOT,
    )
    watchdog = threading.Timer(30, proc.kill)  # a hung child must not hang the suite
    watchdog.start()
    progress: list[tuple[float, int]] = []  # (when we heard it, results enqueued by then)
    try:
        assert proc.stdout is not None
        first = proc.stdout.readline().strip()
        assert first == "open", proc.stderr.read() if proc.stderr else ""
        started = time.monotonic()
        while time.monotonic() - started < 3.0:
            line = proc.stdout.readline()
            if not line:
                pytest.fail(f"the writer died: {proc.stderr.read() if proc.stderr else ''}")
            progress.append((time.monotonic(), int(line)))
        os.kill(proc.pid, signal.SIGKILL)
        killed_at = time.monotonic()
        unread = proc.stdout.read().split()  # what it printed before dying that we had not read yet
        proc.wait(timeout=10)
    finally:
        watchdog.cancel()
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == -signal.SIGKILL
    enqueued = max([n for _, n in progress] + [int(x) for x in unread])
    due = max((n for at, n in progress if at <= killed_at - 1.0), default=0)
    assert due > 0

    store = Store.open(db)
    try:
        assert store.warnings == ()  # opened as it is, not moved aside
        with sqlite3.connect(db) as conn:
            assert conn.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
        far = time.time() + 120
        stored = sum(m.count for c in range(20) for m in store.minutes(f"check-{c}", 0, far))
        assert due <= stored <= enqueued
        # every stored change alternates, as the child wrote them: none lost in the middle, none doubled
        for c in range(20):
            changes = store.status_changes(check=f"check-{c}")
            assert all(a.new != b.new and b.old == a.new for a, b in zip(changes, changes[1:]))
    finally:
        store.close()
    assert sorted(p.name for p in db.parent.iterdir() if "corrupt" in p.name) == []
