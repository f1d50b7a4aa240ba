"""The history file: restarts, damaged files, retention, permissions, migrations, and
writes that never wait on the disk. Real files in tmp_path; no sleeping."""

from __future__ import annotations

import json
import os
import sqlite3
import stat
import threading
from pathlib import Path

import pytest

from dash.core.alerts import AlertEvent, EventKind
from dash.model import BreakerState, CheckResult, Reason, Status
from dash.store import HISTORY_FILE, Minute, Note, StatusChange, Store, StoreError, TimelineEntry
from dash.store import schema
from dash.store import store as store_module

T0 = 1_800_000_000.0  # a minute boundary (epoch seconds); scenarios count from here
DAY = 86400.0
OK, WARN, CRIT, UNKNOWN = Status.OK, Status.WARN, Status.CRIT, Status.UNKNOWN


def result(check: str, status: Status, at: float, *, latency: float = 0.010, message: str = "", attempts: int = 1,
           reason: Reason | None = None) -> CheckResult:
    reason = reason or (Reason.OK if status is OK else Reason.TIMEOUT)
    return CheckResult(check, "http", status, reason, message, latency, attempts, at - latency, at)


def event(kind: EventKind, at: float, text: str, name: str = "api") -> AlertEvent:
    return AlertEvent(kind, f"check:{name}:unhealthy", name, at, text)


@pytest.fixture
def db(tmp_path: Path) -> Path:
    return tmp_path / "state" / HISTORY_FILE


def open_store(path: Path, **kw) -> Store:
    store = Store.open(path, **kw)
    assert store.flush(), "the writer did not start"
    return store


def mode(path: Path | str) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


# --- restart ---------------------------------------------------------------------------


def test_everything_written_comes_back_after_a_restart(db: Path) -> None:
    store = open_store(db)
    for i, (status, ms) in enumerate([(OK, 10), (OK, 30), (CRIT, 5000), (WARN, 20), (UNKNOWN, 1)]):
        store.record_result(result("api", status, T0 + 1 + i, latency=ms / 1000, message=f"m{i}"))
    store.record_result(result("api", CRIT, T0 + 70, attempts=0, latency=0.0, message="circuit open: not probed"))
    store.record_event(event(EventKind.FIRED, T0 + 3, "api crit: timeout"))
    store.record_event(event(EventKind.ACKED, T0 + 4, "acknowledged by ana until it recovers"))
    store.record_event(event(EventKind.SILENCED, T0 + 4.5, "silenced by silence s1: deploy"))
    store.record_breaker_transition("api", T0 + 3.5, BreakerState.CLOSED, BreakerState.OPEN, "failure rate 60% >= 50%")
    store.add_note("restarted the pod", at=T0 + 5, check="api", author="ana")
    store.add_note("handover to bo", at=T0 + 6, author="ana")
    store.save_state("alerts", {"acks": {"check:api:unhealthy": "ana"}, "silences": [{"id": "s1"}]})
    store.save_state("board", [1])
    store.save_state("board", [1, 2])  # the last save wins
    store.close()

    store = open_store(db)
    try:
        assert store.warnings == ()
        assert store.minutes("api", T0, T0 + 120) == [
            Minute("api", int(T0), 5, 2, 1, 1, 1, p50_ms=20.0, p95_ms=5000.0, max_ms=5000.0),
            Minute("api", int(T0) + 60, 1, 0, 0, 1, 0, None, None, None),  # not probed: no latency
        ]
        assert store.counts("api", T0, T0 + 120) == (5, 2)  # unknown counts neither way; crit is a failure
        assert store.counts("api", T0 + 60, T0 + 120) == (1, 1)
        assert store.status_changes(check="api") == [
            StatusChange(T0 + 1, "api", None, "ok", "ok", "m0"),
            StatusChange(T0 + 3, "api", "ok", "crit", "timeout", "m2"),
            StatusChange(T0 + 4, "api", "crit", "warn", "timeout", "m3"),
            StatusChange(T0 + 5, "api", "warn", "unknown", "timeout", "m4"),
            StatusChange(T0 + 70, "api", "unknown", "crit", "timeout", "circuit open: not probed"),
        ]
        assert store.notes() == [
            Note(T0 + 5, "restarted the pod", "api", "ana"),
            Note(T0 + 6, "handover to bo", None, "ana"),
        ]
        assert store.notes(check="api") == [Note(T0 + 5, "restarted the pod", "api", "ana")]
        assert store.load_state("alerts") == {"acks": {"check:api:unhealthy": "ana"}, "silences": [{"id": "s1"}]}
        assert store.load_state("board") == [1, 2]
        assert store.load_state("nothing") is None
        assert [(e.kind, e.subject, e.text) for e in store.timeline(T0, T0 + 120)] == [
            ("status", "api", "ok -> crit (timeout): m2"),
            ("alert", "api", "api crit: timeout"),
            ("breaker", "api", "closed -> open: failure rate 60% >= 50%"),
            ("status", "api", "crit -> warn (timeout): m3"),
            ("ack", "api", "acknowledged by ana until it recovers"),
            ("silence", "api", "silenced by silence s1: deploy"),
            ("status", "api", "warn -> unknown (timeout): m4"),
            ("note", "api", "restarted the pod"),
            ("note", "", "handover to bo"),
            ("status", "api", "unknown -> crit (timeout): circuit open: not probed"),
        ]
    finally:
        store.close()


def test_a_restart_does_not_invent_a_status_change(db: Path) -> None:
    store = open_store(db)
    store.record_result(result("db", CRIT, T0 + 1))
    store.close()
    store = open_store(db)
    store.record_result(result("db", CRIT, T0 + 2))  # still crit: no change
    store.record_result(result("db", OK, T0 + 3))
    assert store.flush()
    assert [(c.old, c.new) for c in store.status_changes(check="db")] == [(None, "crit"), ("crit", "ok")]
    store.close()


def test_a_minute_split_by_a_restart_adds_up(db: Path) -> None:
    store = open_store(db)
    for i in range(3):
        store.record_result(result("api", OK, T0 + i, latency=0.5))
    store.close()
    store = open_store(db)
    store.record_result(result("api", CRIT, T0 + 10, latency=0.1))
    assert store.flush()
    (minute,) = store.minutes("api", T0, T0 + 60)
    assert (minute.count, minute.ok, minute.crit, minute.max_ms) == (4, 3, 1, 500.0)
    store.close()


def test_timeline_keeps_the_newest_entries_under_a_limit_and_hides_a_quiet_first_result(db: Path) -> None:
    with Store.open(db) as store:
        store.record_result(result("api", OK, T0))  # first result, ok: no news
        store.record_result(result("db", CRIT, T0 + 1, message="refused"))  # first result, crit: news
        for i in range(5):
            store.add_note(f"note {i}", at=T0 + 10 + i)
        assert store.flush()
        assert [e.text for e in store.timeline(limit=2)] == ["note 3", "note 4"]
        assert store.timeline(T0, T0 + 5) == [TimelineEntry(T0 + 1, "status", "db", "crit (timeout): refused", "", "crit")]
        assert [c.check for c in store.status_changes(T0, T0 + 5)] == ["api", "db"]  # both are in the record


def test_service_samples_share_the_minutes_and_changes(db: Path) -> None:
    with Store.open(db) as store:
        for i, health in enumerate(["ok", "ok", "degraded", "down", "down"]):
            store.record_service("checkout", health, T0 + i, message="orders-db crit" if health == "down" else "")
        assert store.flush()
        assert store.counts("checkout", T0, T0 + 60) == (5, 2)  # degraded is served, down is not
        assert [(c.old, c.new) for c in store.status_changes(check="checkout")] == [
            (None, "ok"), ("ok", "degraded"), ("degraded", "down")
        ]
        assert store.timeline()[-1].text == "degraded -> down: orders-db crit"


# --- damaged files ---------------------------------------------------------------------


def _garbage(path: Path) -> None:
    path.write_bytes(b"this is not a database\x00" * 300)
    Path(f"{path}-wal").write_bytes(b"a stale log that must not meet the new file")


def _truncated(path: Path) -> None:
    with Store.open(path) as store:
        for i in range(3000):
            store.record_result(result(f"check-{i % 40}", OK if i % 3 else CRIT, T0 + i, message="x" * 40))
    size = path.stat().st_size
    assert size > 64 * 1024
    with open(path, "r+b") as f:
        f.truncate(size // 2)


def _newer(path: Path) -> None:
    with Store.open(path):
        pass
    with sqlite3.connect(path) as conn:
        conn.execute(f"PRAGMA user_version = {schema.latest() + 1}")


@pytest.mark.parametrize(
    ("damage", "why"),
    [
        (_garbage, "is not a SQLite database"),
        (_truncated, "is damaged (database disk image is malformed)"),
        (_newer, f"was written by a newer healthdash (schema {schema.latest() + 1}; this one reads up to {schema.latest()})"),
    ],
    ids=["garbage", "truncated", "newer"],
)
def test_an_unreadable_file_is_moved_aside_and_a_new_history_starts(db: Path, damage, why: str) -> None:
    db.parent.mkdir(mode=0o700)
    damage(db)
    before = db.read_bytes()
    store = open_store(db, now=lambda: T0)
    try:
        (aside,) = [p for p in db.parent.iterdir() if ".corrupt-" in p.name and not p.name.endswith(("-wal", "-shm"))]
        assert aside.read_bytes() == before  # kept for a post-mortem, byte for byte
        assert store.warnings == (
            f"history file {db} {why}; moved it to {aside.name} and started a new history",
        )
        if damage is _garbage:
            assert Path(f"{aside}-wal").read_bytes() == b"a stale log that must not meet the new file"
        store.record_result(result("api", CRIT, T0 + 1))
        store.add_note("after the move", at=T0 + 2)
        assert store.flush()
        assert store.counts("api", T0, T0 + 60) == (1, 1)
        assert [n.text for n in store.notes()] == ["after the move"]
    finally:
        store.close()
    store = open_store(db)  # the new file is a good one
    assert store.warnings == ()
    store.close()


def test_a_file_that_is_not_a_history_is_moved_aside_too(db: Path) -> None:
    db.parent.mkdir()
    with sqlite3.connect(db) as conn:
        conn.execute("CREATE TABLE customers (id INTEGER)")
    with Store.open(db) as store:
        assert "is not a healthdash history" in store.warnings[0]


def test_a_state_directory_that_cannot_be_created_is_a_one_line_store_error(tmp_path: Path) -> None:
    (tmp_path / "taken").write_text("a file where the directory should go")
    with pytest.raises(StoreError) as info:
        Store.open(tmp_path / "taken" / "healthdash" / HISTORY_FILE)
    message = str(info.value)
    assert message.startswith(f"cannot create the state directory {tmp_path / 'taken' / 'healthdash'}: ")
    assert "\n" not in message


# --- retention -------------------------------------------------------------------------


def _old_and_new(store: Store, old: float, new: float) -> None:
    store.record_result(result("api", CRIT, old))
    store.record_result(result("quiet", CRIT, old))  # its last change is old, but it is the last
    store.record_result(result("api", OK, new))
    store.record_event(event(EventKind.FIRED, old, "old alert"))
    store.record_event(event(EventKind.RESOLVED, new, "new alert"))
    store.record_breaker_transition("api", old, "closed", "open", "old")
    store.add_note("old note", at=old)
    store.add_note("new note", at=new)
    store.save_state("alerts", {"kept": True})


def test_rows_older_than_the_retention_are_deleted_on_open_and_about_hourly(db: Path) -> None:
    clock = [T0]
    store = open_store(db, retention=7 * DAY, now=lambda: clock[0])
    _old_and_new(store, T0 - 8 * DAY, T0 - DAY)
    assert store.flush()
    assert len(store.timeline()) == 8  # nothing pruned before the hour is up
    clock[0] = T0 + 3601
    assert store.flush()  # the writer looks at the clock whenever it wakes
    assert [(e.kind, e.subject, e.text) for e in store.timeline()] == [
        ("status", "quiet", "crit (timeout)"),  # old, but still quiet's current status
        ("status", "api", "crit -> ok"),
        ("alert", "api", "new alert"),
        ("note", "", "new note"),
    ]
    assert [m.start for m in store.minutes("api", 0, T0)] == [int(T0 - DAY)]
    assert [c.check for c in store.status_changes()] == ["quiet", "api"]
    store.close()

    later = T0 + 30 * DAY
    store = open_store(db, retention=7 * DAY, now=lambda: later)  # pruned on open
    assert [(e.kind, e.subject) for e in store.timeline()] == [("status", "quiet"), ("status", "api")]
    assert store.minutes("api", 0, later) == []
    assert [(c.check, c.new) for c in store.status_changes()] == [("quiet", "crit"), ("api", "ok")]
    assert store.load_state("alerts") == {"kept": True}  # state is the present, not history
    store.record_result(result("api", OK, later))  # and the kept change means no invented one
    assert store.flush()
    assert len(store.status_changes()) == 2
    store.close()


# --- files and permissions -------------------------------------------------------------


def test_directory_is_0700_and_file_wal_and_shm_are_0600_whatever_the_umask(db: Path) -> None:
    old = os.umask(0)
    try:
        store = open_store(db)
        store.record_result(result("api", OK, T0))
        assert store.flush()
        assert mode(db.parent) == 0o700
        assert mode(db) == 0o600
        for suffix in ("-wal", "-shm"):
            assert mode(f"{db}{suffix}") == 0o600, suffix
        store.close()
    finally:
        os.umask(old)


def test_an_existing_file_that_others_could_read_is_made_private(db: Path) -> None:
    with Store.open(db):
        pass
    os.chmod(db, 0o644)
    with Store.open(db) as store:
        assert mode(db) == 0o600
        assert store.warnings == ()


def test_the_file_is_wal_with_incremental_auto_vacuum(db: Path) -> None:
    with Store.open(db):
        pass
    with sqlite3.connect(db) as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone() == ("wal",)
        assert conn.execute("PRAGMA auto_vacuum").fetchone() == (2,)  # incremental
        assert conn.execute("PRAGMA user_version").fetchone() == (schema.latest(),)


# --- migrations ------------------------------------------------------------------------


def _add_pinned(conn: sqlite3.Connection) -> None:
    """A migration 2 as a later release might write it."""
    conn.execute("ALTER TABLE notes ADD COLUMN pinned INTEGER NOT NULL DEFAULT 0")
    conn.execute("CREATE INDEX notes_pinned ON notes (pinned)")


def _version_1_file(path: Path) -> None:
    """A file as the first release left it, written without the Store."""
    path.parent.mkdir(mode=0o700)
    conn = sqlite3.connect(path, isolation_level=None)
    assert schema.migrate(conn, schema.MIGRATIONS[:1]) == 1
    conn.execute("INSERT INTO notes (at, text, check_name, author) VALUES (?, ?, ?, ?)", (T0, "from v1", "api", "ana"))
    conn.close()


def test_an_older_file_is_migrated_in_place_and_keeps_its_rows(db: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _version_1_file(db)
    monkeypatch.setattr(schema, "MIGRATIONS", [*schema.MIGRATIONS, _add_pinned])
    with Store.open(db) as store:
        assert store.warnings == ()
        assert store.notes() == [Note(T0, "from v1", "api", "ana")]
        store.add_note("after v2", at=T0 + 1)
        assert store.flush()
    with sqlite3.connect(db) as conn:
        assert conn.execute("PRAGMA user_version").fetchone() == (schema.latest(),)
        assert conn.execute("SELECT text, pinned FROM notes ORDER BY at").fetchall() == [("from v1", 0), ("after v2", 0)]


def test_a_failing_migration_leaves_the_file_at_its_old_version(db: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(conn: sqlite3.Connection) -> None:
        conn.execute("CREATE TABLE half_done (x)")
        conn.execute("ALTER TABLE no_such_table ADD COLUMN y")

    _version_1_file(db)
    monkeypatch.setattr(schema, "MIGRATIONS", [*schema.MIGRATIONS, broken])
    with pytest.raises(StoreError, match="no such table: no_such_table"):
        Store.open(db)
    with sqlite3.connect(db) as conn:
        # Every migration before the broken one applied; the broken one left no trace.
        assert conn.execute("PRAGMA user_version").fetchone() == (schema.latest() - 1,)
        assert conn.execute("SELECT name FROM sqlite_master WHERE name = 'half_done'").fetchall() == []
        assert conn.execute("SELECT text FROM notes").fetchall() == [("from v1",)]
    assert [p.name for p in db.parent.iterdir() if "corrupt" in p.name] == []  # not mistaken for damage


# --- the caller never waits on the disk ------------------------------------------------


def test_writes_never_touch_sqlite_in_the_callers_thread(db: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Another connection holds the write lock while 10,000 writes are made: a write
    method that waited on the disk would hang on it (then fail with "database is
    locked"), one that used the writer's connection here would raise ProgrammingError
    (check_same_thread), and one that opened its own connection trips the guard."""
    store = open_store(db)
    caller = threading.get_ident()
    real_connect = sqlite3.connect

    def guarded(*args, **kwargs):
        assert threading.get_ident() != caller, "a write method opened SQLite in the caller's thread"
        return real_connect(*args, **kwargs)

    locker = sqlite3.connect(db, isolation_level=None)
    locker.execute("BEGIN IMMEDIATE")
    monkeypatch.setattr(sqlite3, "connect", guarded)
    try:
        for i in range(10_000):
            store.record_result(result(f"check-{i % 10}", OK if i % 4 else CRIT, T0 + i / 100))
        store.record_event(event(EventKind.FIRED, T0, "fired"))
        store.record_breaker_transition("api", T0, "closed", "open", "why")
        store.add_note("note", at=T0)
        store.save_state("board", {"n": 10_000})
        store.record_service("checkout", "ok", T0)
    finally:
        monkeypatch.undo()
        locker.execute("COMMIT")
        locker.close()
    assert store.flush(timeout=15)
    assert sum(store.counts(f"check-{c}", T0, T0 + 120)[0] for c in range(10)) == 10_000
    assert len(store.timeline()) >= 3
    assert store.load_state("board") == {"n": 10_000}
    store.close()


def test_writes_that_fail_are_kept_retried_and_the_warning_goes_away(db: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(store_module, "BUSY_TIMEOUT", 0.05)
    store = open_store(db)
    locker = sqlite3.connect(db, isolation_level=None)
    locker.execute("BEGIN IMMEDIATE")
    try:
        store.record_result(result("api", CRIT, T0))
        store.add_note("while locked", at=T0)
        assert not store.flush(timeout=5)  # could not commit
        assert store.warnings == (f"history: cannot write to {db}: database is locked; retrying",)
        assert store.notes() == []  # readers still work while another connection writes
    finally:
        locker.execute("COMMIT")
        locker.close()
    assert store.flush(timeout=5)
    assert store.warnings == ()
    assert [n.text for n in store.notes()] == ["while locked"]
    assert store.counts("api", T0, T0 + 60) == (1, 1)
    store.close()


def test_writes_after_close_are_ignored_and_reads_still_work(db: Path) -> None:
    store = open_store(db)
    store.add_note("kept", at=T0)
    store.close()
    store.add_note("too late", at=T0 + 1)
    store.close()  # twice is fine
    assert not store.flush()
    assert [n.text for n in store.notes()] == ["kept"]


def test_state_must_be_json(db: Path) -> None:
    with Store.open(db) as store:
        with pytest.raises(TypeError):
            store.save_state("bad", object())
        store.save_state("text", "ünïcode \x1b[31m kept as data")
        assert store.flush()
        assert store.load_state("text") == "ünïcode \x1b[31m kept as data"
        with sqlite3.connect(db) as conn:
            assert json.loads(conn.execute("SELECT value FROM state WHERE key = 'text'").fetchone()[0])


def test_recent_results_come_back_newest_kept(db: Path) -> None:
    from dash.model import Metric
    from dash.store.store import RECENT_KEPT

    with Store.open(db) as store:
        for i in range(RECENT_KEPT + 5):
            store.record_result(
                CheckResult("api", "http", Status.OK, Reason.OK, f"200 OK #{i}", 0.01, 1, T0 + i, T0 + i + 0.01,
                            metrics=(Metric("latency_ms", 10.0, "ms"),), detail="body")
            )
        assert store.flush()
    with Store.open(db) as store:
        recent = store.recent_results()["api"]
    assert [r.message for r in recent][-3:] == [f"200 OK #{i}" for i in range(RECENT_KEPT + 2, RECENT_KEPT + 5)]
    assert len(recent) == RECENT_KEPT
    assert recent[-1].metrics == (Metric("latency_ms", 10.0, "ms"),) and recent[-1].detail == "body"
