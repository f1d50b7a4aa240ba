"""Garbage text through a real history file: NULs, escapes, markup, huge strings. Everything
written comes back byte for byte after a restart, and SQLite's integrity check passes.
(The store keeps text as the producers cleaned it; it bounds nothing itself.)"""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from dash.core.alerts import AlertEvent, EventKind
from dash.model import BreakerState, CheckResult, Reason, Status
from dash.store import HISTORY_FILE, Note, Store

T0 = 1_800_000_000.0  # a minute boundary (epoch seconds)
MB = 1024 * 1024

GARBAGE = [
    "nul\x00inside\x00",
    "\x1b[2J\x1b]0;pwned\x07\x1b[31mred\x9b31m",
    "[bold red]markup[/] [@click=app.quit]q[/] *md* `code` <b>html</b>",
    "'; DROP TABLE notes; --",
    "ünïcødé ✓ 🚨 \u200b\u202eRTL\ufeff",
    "\r\n\t\x7f\x85",
    "",
    "x" * MB,  # bigger than anything a producer hands over (they cap at 500-8000 characters)
    "\x00" * 10_000,
]


def result(check: str, status: Status, at: float, message: str) -> CheckResult:
    return CheckResult(check, "http", status, Reason.OK if status is Status.OK else Reason.ASSERTION,
                       message, 0.01, 1, at - 0.01, at)


def integrity(path: Path) -> list[tuple]:
    with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as conn:
        return conn.execute("PRAGMA integrity_check").fetchall()


@pytest.fixture
def db(tmp_path: Path) -> Path:
    return tmp_path / "state" / HISTORY_FILE


def test_garbage_text_is_kept_exactly_across_a_restart(db: Path):
    store = Store.open(db)
    statuses = [Status.OK, Status.CRIT]
    expected_notes, expected_changes = [], []
    for i, text in enumerate(GARBAGE * 3):
        at = T0 + i
        name = f"check-{i % len(GARBAGE)}-{text[:8]}"  # names carry garbage too
        status = statuses[(i // len(GARBAGE)) % 2]  # each check flips once per round: a change every time
        store.record_result(result(name, status, at, text))
        expected_changes.append((at, name, status.value, text))
        store.record_event(AlertEvent(EventKind.FIRED, f"check:{name}:unhealthy", name, at, text))
        store.record_breaker_transition(name, at, BreakerState.CLOSED, BreakerState.OPEN, text)
        store.add_note(text, at=at, check=name if i % 2 else None, author=text[:80])
        expected_notes.append(Note(at, text, name if i % 2 else None, text[:80]))
        store.record_service(f"svc-{text[:5]}", "down" if i % 2 else "ok", at, message=text)
    state = {"texts": GARBAGE[:-2], "nested": {GARBAGE[0]: [GARBAGE[1], {"k": GARBAGE[2]}]}}
    store.save_state("garbage", state)
    assert store.flush(timeout=30)
    assert store.warnings == ()
    store.close()

    assert integrity(db) == [("ok",)]
    store = Store.open(db)
    try:
        assert store.warnings == ()
        assert store.notes() == expected_notes
        changes = [(c.at, c.check, c.new, c.message) for c in store.status_changes() if c.check.startswith("check-")]
        assert changes == expected_changes
        timeline = store.timeline()
        alerts = [e.text for e in timeline if e.kind == "alert"]
        assert alerts == GARBAGE * 3
        breakers = [e.text for e in timeline if e.kind == "breaker"]
        assert breakers == [f"closed -> open: {t}" if t else "closed -> open" for t in GARBAGE * 3]
        assert store.load_state("garbage") == state
        first = next(c for c in changes if c[3] == "x" * MB)
        assert store.minutes(first[1], T0, T0 + 3600)[0].count == 3
    finally:
        store.close()
    assert integrity(db) == [("ok",)]


def test_one_unencodable_string_does_not_stop_history(db: Path):
    store = Store.open(db)
    try:
        store.add_note("before", at=T0)
        assert store.flush()
        store.add_note("lone \ud800 surrogate", at=T0 + 1)
        store.add_note("after", at=T0 + 2)
        store.flush(timeout=0.5)  # a dead writer never answers
        assert store.warnings == ()
        assert [n.text for n in store.notes()][-1] == "after"
    finally:
        store.close()
