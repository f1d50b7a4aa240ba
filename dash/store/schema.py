"""The history file's schema, as a list of migrations applied in order.

`PRAGMA user_version` is the number of migrations a file has had. Migration N
(1-based) is `MIGRATIONS[N - 1]`; it runs inside the transaction that also bumps
`user_version`, so a file is always at a whole version. To change the schema,
append a function: never edit one that has shipped.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Sequence

Migration = Callable[[sqlite3.Connection], None]


def _v1(conn: sqlite3.Connection) -> None:
    """The first schema: per-minute aggregates, event tables, notes and state blobs."""
    _execute_all(
        conn,
        """
        -- One row per check per minute; `minute` is the epoch second the minute starts.
        -- Latencies are milliseconds over probed results (not "not probed" ones).
        CREATE TABLE minutes (
            check_name TEXT NOT NULL,
            minute INTEGER NOT NULL,
            count INTEGER NOT NULL,
            ok INTEGER NOT NULL,
            warn INTEGER NOT NULL,
            crit INTEGER NOT NULL,
            unknown INTEGER NOT NULL,
            p50_ms REAL,
            p95_ms REAL,
            max_ms REAL,
            PRIMARY KEY (check_name, minute)
        ) WITHOUT ROWID;
        CREATE INDEX minutes_by_minute ON minutes (minute);

        CREATE TABLE status_changes (
            id INTEGER PRIMARY KEY,
            at REAL NOT NULL,
            check_name TEXT NOT NULL,
            old TEXT,
            new TEXT NOT NULL,
            reason TEXT NOT NULL,
            message TEXT NOT NULL
        );
        CREATE INDEX status_changes_by_at ON status_changes (at);
        CREATE INDEX status_changes_by_check ON status_changes (check_name, at);

        CREATE TABLE alert_events (
            id INTEGER PRIMARY KEY,
            at REAL NOT NULL,
            kind TEXT NOT NULL,
            fingerprint TEXT NOT NULL,
            name TEXT NOT NULL,
            text TEXT NOT NULL
        );
        CREATE INDEX alert_events_by_at ON alert_events (at);

        CREATE TABLE breaker_transitions (
            id INTEGER PRIMARY KEY,
            at REAL NOT NULL,
            breaker TEXT NOT NULL,
            before_state TEXT NOT NULL,
            after_state TEXT NOT NULL,
            cause TEXT NOT NULL
        );
        CREATE INDEX breaker_transitions_by_at ON breaker_transitions (at);

        CREATE TABLE notes (
            id INTEGER PRIMARY KEY,
            at REAL NOT NULL,
            text TEXT NOT NULL,
            check_name TEXT,
            author TEXT NOT NULL
        );
        CREATE INDEX notes_by_at ON notes (at);

        -- JSON blobs by key, e.g. "alerts" (the alert engine's state), "board".
        CREATE TABLE state (
            key TEXT PRIMARY KEY,
            value TEXT NOT NULL,
            saved_at REAL NOT NULL
        );
        """,
    )


def _execute_all(conn: sqlite3.Connection, script: str) -> None:
    """Run `;`-separated statements one by one: `executescript` would COMMIT the
    migration's transaction half-way."""
    for statement in _statements(script):
        conn.execute(statement)


def _statements(script: str) -> list[str]:
    lines = [line for line in script.splitlines() if not line.strip().startswith("--")]
    return [s.strip() for s in "\n".join(lines).split(";") if s.strip()]


def _v2(conn: sqlite3.Connection) -> None:
    """Each check's recent results, so a restart shows the board as it was."""
    _execute_all(
        conn,
        """
        -- One row per result, JSON; trimmed to the newest few per check by the writer.
        CREATE TABLE recent (
            id INTEGER PRIMARY KEY,
            check_name TEXT NOT NULL,
            value TEXT NOT NULL
        );
        CREATE INDEX recent_by_check ON recent (check_name, id);
        """,
    )


MIGRATIONS: list[Migration] = [_v1, _v2]


def version(conn: sqlite3.Connection) -> int:
    """The file's schema version (0 for a new, empty file)."""
    return int(conn.execute("PRAGMA user_version").fetchone()[0])


def latest() -> int:
    """The version this code writes."""
    return len(MIGRATIONS)


def migrate(conn: sqlite3.Connection, migrations: Sequence[Migration] | None = None) -> int:
    """Bring `conn`'s file up to the latest version; returns it.

    `conn` must be in autocommit mode (isolation_level=None). Each migration runs in
    its own IMMEDIATE transaction together with its version bump.
    """
    steps = MIGRATIONS if migrations is None else migrations
    current = version(conn)
    for number in range(current + 1, len(steps) + 1):
        conn.execute("BEGIN IMMEDIATE")
        try:
            steps[number - 1](conn)
            conn.execute(f"PRAGMA user_version = {int(number)}")
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
    return max(current, len(steps))
