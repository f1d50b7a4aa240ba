"""History that survives restarts: one SQLite file, written by one background thread.

Writes never wait on disk: every write method puts an item on a queue and returns.
A single writer thread owns the only writing connection; it folds check results
into per-minute aggregates in memory and commits everything queued at least every
`COMMIT_EVERY` seconds, so a kill -9 loses at most about that much. Reads open
their own short-lived read-only connection in the caller's thread (WAL lets them
run while the writer writes); call them from the event loop through
`asyncio.to_thread`.

A file that cannot be read (not a database, damaged, or from a newer healthdash)
is moved aside to `<name>.corrupt-<timestamp>` and a new history starts; the
one-line explanation is in `Store.warnings`. Text is stored as the producers
neutralised it and is never interpreted here.
"""

from __future__ import annotations

import enum
import json
import logging
import math
import os
import queue
import sqlite3
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dash.config import DEFAULT_RETENTION
from dash.core.alerts import AlertEvent, EventKind
from dash.model import CheckResult, Metric, Reason, Status
from dash.store import schema
from dash.text import clean

log = logging.getLogger("healthdash.store")

HISTORY_FILE = "history.db"  # the file's name inside the state directory
COMMIT_EVERY = 0.5  # seconds from the first pending write to its commit
PRUNE_EVERY = 3600.0  # seconds between deletions of rows older than the retention
IDLE_WAKE = 60.0  # an idle writer still wakes this often to see whether pruning is due
BUSY_TIMEOUT = 10.0  # seconds a connection waits for another one's lock
MAX_BATCH = 5000  # items taken from the queue between looks at the commit deadline
MAX_PENDING = 100_000  # rows held while the disk refuses writes; beyond it the oldest go
LATENCY_SAMPLES = 2048  # per check and minute; later samples overwrite the oldest
KEEP_MINUTES = 180  # seconds an aggregate stays in memory after the newest minute moved on

_SIDECARS = ("-wal", "-shm")
_STATUSES = ("ok", "warn", "crit", "unknown")  # the per-minute count columns
_SERVICE_COLUMNS = {"ok": "ok", "degraded": "warn", "down": "crit", "unknown": "unknown"}


class StoreError(Exception):
    """History cannot be kept (e.g. the state directory cannot be created); the message
    is one line, fit to show. The dashboard runs on without history."""


# ---------------------------------------------------------------------------
# What reads return


@dataclass(frozen=True, slots=True)
class Minute:
    """One check's results in one minute. `start` is the epoch second the minute starts.
    Latencies are milliseconds over probed results (None when none was probed)."""

    check: str
    start: int
    count: int
    ok: int
    warn: int
    crit: int
    unknown: int
    p50_ms: float | None
    p95_ms: float | None
    max_ms: float | None

    @property
    def failures(self) -> int:
        """Results that count against availability: crit ones (as for the breakers)."""
        return self.crit


@dataclass(frozen=True, slots=True)
class StatusChange:
    """A check's (or service's) status changed at `at` (a result's finish time); `old`
    is None for the first status ever recorded for it."""

    at: float
    check: str
    old: str | None
    new: str
    reason: str
    message: str


@dataclass(frozen=True, slots=True)
class Note:
    """An operator's note, about one check or (check None) about the whole board."""

    at: float
    text: str
    check: str | None = None
    author: str = ""


@dataclass(frozen=True, slots=True)
class TimelineEntry:
    """One line of the timeline.

    `kind` is "status", "alert", "ack", "silence", "breaker" or "note"; `subject` the
    check, service, alert, or breaker name ("" for a board-wide note); `event` the specific
    thing: the new status, the alert event kind ("fired", "acked", ...), the breaker's
    new state, or "note".
    """

    at: float
    kind: str
    subject: str
    text: str
    author: str = ""
    event: str = ""


_ALERT_KINDS = {
    EventKind.ACKED.value: "ack",
    EventKind.UNACKED.value: "ack",
    EventKind.SILENCED.value: "silence",
    EventKind.UNSILENCED.value: "silence",
}


# ---------------------------------------------------------------------------
# The store


class Store:
    """The history file of one dashboard. Create it with `Store.open()`."""

    def __init__(self, path: Path, retention: float, now: Callable[[], float], warnings: list[str]) -> None:
        self._path = path
        self._uri = path.resolve().as_uri() + "?mode=ro"
        self._now = now
        self._warnings = warnings
        self._warnings_lock = threading.Lock()
        self._closed = False
        self._writer = _Writer(path, retention, now, self._warn, self._unwarn)
        self._writer.thread.start()

    @classmethod
    def open(
        cls,
        path: str | os.PathLike[str],
        *,
        retention: float = DEFAULT_RETENTION,
        now: Callable[[], float] = time.time,
    ) -> "Store":
        """Open (or create) the history file at `path` and start its writer thread.

        The directory is created with mode 0700, the file and its -wal/-shm with 0600.
        A file that cannot be read is moved aside and a new one started (see
        `warnings`). Rows older than `retention` seconds before `now()` are deleted
        soon after opening and then about hourly. Raises StoreError (one line) when
        no history can be kept at `path`. This call does disk I/O: from the event
        loop, run it in a thread.
        """
        path = Path(path).expanduser()
        _make_private_dir(path.parent)
        warnings: list[str] = []
        held = _hold_wal(path)
        try:
            _prepare(path)
        except _Unusable as bad:
            aside = _move_aside(path, now(), held)
            text = (
                f"history file {clean(str(path))} {bad.why}; moved it to {clean(aside.name)} and started a new history"
            )
            log.warning("%s", text)
            warnings.append(text)
            try:
                _prepare(path)
            except _Unusable as again:  # a fresh file we just created: the disk itself is the problem
                raise StoreError(f"cannot start a new history file {clean(str(path))}: it {again.why}") from None
        finally:
            if held is not None:
                held.unlink(missing_ok=True)
        return cls(path, float(retention), now, warnings)

    # -- about the store

    @property
    def path(self) -> Path:
        """The history file."""
        return self._path

    @property
    def warnings(self) -> tuple[str, ...]:
        """One-line messages for the operator: a file moved aside, writes failing."""
        with self._warnings_lock:
            return tuple(self._warnings)

    def _warn(self, text: str) -> None:
        with self._warnings_lock:
            if text not in self._warnings:
                self._warnings.append(text)

    def _unwarn(self, text: str) -> None:
        with self._warnings_lock:
            if text in self._warnings:
                self._warnings.remove(text)

    # -- writes: all of them only enqueue

    def record_result(self, result: CheckResult) -> None:
        """Count `result` in its check's minute, and record a status change when its
        status differs from the check's last recorded one (remembered across
        restarts, so a restart does not invent a change). Non-blocking."""
        self._put(("result", result))

    def record_service(self, name: str, status: str, at: float, *, message: str = "") -> None:
        """Count one sample of a service's status (call it once per evaluation tick) in
        the service's minute, like a check's result: ok, degraded (counted as warn),
        down (as crit), unknown. A changed status is recorded as a status change with
        `message` (e.g. the service's reasons). Services and checks share one
        namespace, so `minutes()`, `counts()` and `status_changes()` take either name.
        Non-blocking."""
        self._put(("service", name, _text(status), at, message))

    def record_event(self, event: AlertEvent) -> None:
        """Record an alert lifecycle event (fired, acked, silenced, resolved, ...). Non-blocking."""
        kind = event.kind.value if isinstance(event.kind, enum.Enum) else str(event.kind)
        self._put(("event", (event.at, kind, event.fingerprint, event.name, event.text)))

    def record_breaker_transition(self, breaker: str, at: float, before: str, after: str, cause: str) -> None:
        """Record a breaker's state change; `at` is wall-clock epoch seconds (breakers
        keep monotonic time: convert before calling). Non-blocking."""
        self._put(("breaker", (at, breaker, _text(before), _text(after), cause)))

    def add_note(self, text: str, *, at: float, check: str | None = None, author: str = "") -> None:
        """Record an operator's note about `check` (None: the whole board). Non-blocking."""
        self._put(("note", (at, text, check, author)))

    def save_state(self, key: str, obj: Any) -> None:
        """Keep `obj` (JSON-serialisable) under `key`, replacing what was there.
        Serialised here, so later changes to `obj` do not leak in; TypeError when it
        cannot be. Non-blocking."""
        self._put(("state", key, json.dumps(obj, ensure_ascii=False, separators=(",", ":")), self._now()))

    def _put(self, item: tuple) -> None:
        if self._closed or self._writer.dead:
            return  # shutting down, or the writer failed (already in `warnings`)
        self._writer.queue.put(item)

    def flush(self, timeout: float = 5.0) -> bool:
        """Wait until everything written before this call is committed; False when it
        was not within `timeout` seconds (or writing fails). Blocks: not for the event loop."""
        if self._closed or self._writer.dead:
            return False
        done = _Flush()
        self._writer.queue.put(done)
        return done.wait(timeout)

    def close(self, timeout: float = 5.0) -> None:
        """Commit what is queued and stop the writer (waiting at most `timeout` seconds).
        Later writes are ignored; reads keep working."""
        if self._closed:
            return
        self._closed = True
        self._writer.queue.put(_STOP)
        self._writer.thread.join(timeout)
        if self._writer.thread.is_alive():
            log.warning("the history writer did not finish within %.1fs; the last writes may be lost", timeout)

    def __enter__(self) -> "Store":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- reads: synchronous, in the caller's thread

    def minutes(self, check: str, since: float, until: float) -> list[Minute]:
        """The per-minute aggregates of `check` for the minutes overlapping [since, until), oldest first."""
        rows = self._query(
            "SELECT minute, count, ok, warn, crit, unknown, p50_ms, p95_ms, max_ms FROM minutes"
            " WHERE check_name = ? AND minute > ? AND minute < ? ORDER BY minute",
            (check, since - 60, until),
        )
        return [Minute(check, *row) for row in rows]

    def counts(self, check: str, since: float, until: float) -> tuple[int, int]:
        """(total, failures) of `check` over the minutes overlapping [since, until).

        Failures are crit results; warn counts as served (the dependency answered).
        Unknown results (the monitor could not judge, e.g. its own network was down)
        count neither way, so they are not in `total`.
        """
        row = self._query(
            "SELECT COALESCE(SUM(count - unknown), 0), COALESCE(SUM(crit), 0) FROM minutes"
            " WHERE check_name = ? AND minute > ? AND minute < ?",
            (check, since - 60, until),
        )[0]
        return int(row[0]), int(row[1])

    def status_changes(
        self, since: float | None = None, until: float | None = None, check: str | None = None
    ) -> list[StatusChange]:
        """Status changes with since <= at < until (either bound optional), oldest first."""
        where, params = _range(since, until, check)
        rows = self._query(
            f"SELECT at, check_name, old, new, reason, message FROM status_changes {where} ORDER BY at, id", params
        )
        return [StatusChange(*row) for row in rows]

    def notes(self, since: float | None = None, until: float | None = None, check: str | None = None) -> list[Note]:
        """Operator notes with since <= at < until, oldest first; `check` keeps that check's only."""
        where, params = _range(since, until, check)
        rows = self._query(f"SELECT at, text, check_name, author FROM notes {where} ORDER BY at, id", params)
        return [Note(*row) for row in rows]

    def timeline(
        self, since: float | None = None, until: float | None = None, *, limit: int | None = None
    ) -> list[TimelineEntry]:
        """Status changes, alert events, breaker transitions and notes with
        since <= at < until, merged oldest first; with `limit`, the newest `limit`.
        A first status that is ok or unknown is not shown (it is no news)."""
        where, params = _range(since, until, None)
        tail = " ORDER BY at DESC, id DESC" + (f" LIMIT {int(limit)}" if limit is not None else "")
        also = f"{where} AND" if where else "WHERE"
        entries: list[tuple[float, int, int, TimelineEntry]] = []
        conn = self._reader()
        try:
            for at, id_, name, old, new, reason, message in conn.execute(
                "SELECT at, id, check_name, old, new, reason, message FROM status_changes"
                f" {also} NOT (old IS NULL AND new IN ('ok', 'unknown')){tail}",
                params,
            ):
                head = f"{old} -> {new}" if old is not None else new
                text = head + (f" ({reason})" if reason not in ("", "ok") else "") + (f": {message}" if message else "")
                entries.append((at, 0, id_, TimelineEntry(at, "status", name, text, "", new)))
            for at, id_, kind, name, text in conn.execute(
                f"SELECT at, id, kind, name, text FROM alert_events {where}{tail}", params
            ):
                entries.append((at, 1, id_, TimelineEntry(at, _ALERT_KINDS.get(kind, "alert"), name, text, "", kind)))
            for at, id_, name, before, after, cause in conn.execute(
                f"SELECT at, id, breaker, before_state, after_state, cause FROM breaker_transitions {where}{tail}",
                params,
            ):
                text = f"{before} -> {after}" + (f": {cause}" if cause else "")
                entries.append((at, 2, id_, TimelineEntry(at, "breaker", name, text, "", after)))
            for at, id_, text, name, author in conn.execute(
                f"SELECT at, id, text, check_name, author FROM notes {where}{tail}", params
            ):
                entries.append((at, 3, id_, TimelineEntry(at, "note", name or "", text, author, "note")))
        except sqlite3.Error as e:
            raise self._read_error(e) from None
        finally:
            conn.close()
        entries.sort(key=lambda e: e[:3])
        if limit is not None:
            entries = entries[-int(limit):] if limit > 0 else []
        return [e[3] for e in entries]

    def recent_results(self) -> dict[str, list[CheckResult]]:
        """Each check's newest results (up to RECENT_KEPT), oldest first: the board as it was."""
        out: dict[str, list[CheckResult]] = {}
        conn = self._reader()
        try:
            rows = conn.execute(
                "SELECT check_name, value FROM (SELECT id, check_name, value, ROW_NUMBER() OVER"
                " (PARTITION BY check_name ORDER BY id DESC) AS n FROM recent) WHERE n <= ? ORDER BY id",
                (RECENT_KEPT,),
            ).fetchall()
        except sqlite3.Error as e:
            raise self._read_error(e) from None
        finally:
            conn.close()
        for name, value in rows:
            result = _result_from_json(name, value)
            if result is not None:
                out.setdefault(name, []).append(result)
        return out

    def load_state(self, key: str) -> Any:
        """What was last saved under `key` and committed, or None."""
        rows = self._query("SELECT value FROM state WHERE key = ?", (key,))
        if not rows:
            return None
        try:
            return json.loads(rows[0][0])
        except ValueError:
            log.warning("history: the saved %r state is not JSON; ignoring it", key)
            return None

    def _reader(self) -> sqlite3.Connection:
        try:
            return sqlite3.connect(self._uri, uri=True, timeout=BUSY_TIMEOUT)
        except sqlite3.Error as e:
            raise self._read_error(e) from None

    def _query(self, sql: str, params: Iterable[Any]) -> list[tuple]:
        conn = self._reader()
        try:
            return conn.execute(sql, tuple(params)).fetchall()
        except sqlite3.Error as e:
            raise self._read_error(e) from None
        finally:
            conn.close()

    def _read_error(self, e: sqlite3.Error) -> StoreError:
        return StoreError(f"cannot read history file {clean(str(self._path))}: {clean(str(e))}")


def _text(value: object) -> str:
    """A state name as stored: the enum's value (BreakerState.OPEN -> "open") or the text."""
    return str(value.value) if isinstance(value, enum.Enum) else str(value)


def _range(since: float | None, until: float | None, check: str | None) -> tuple[str, list[Any]]:
    """A WHERE clause (or "") over `at` and `check_name`, and its parameters."""
    terms, params = [], []
    if since is not None:
        terms.append("at >= ?")
        params.append(since)
    if until is not None:
        terms.append("at < ?")
        params.append(until)
    if check is not None:
        terms.append("check_name = ?")
        params.append(check)
    return ("WHERE " + " AND ".join(terms) if terms else ""), params


# ---------------------------------------------------------------------------
# Opening: directory, file, checks, migrations


class _Unusable(Exception):
    """The file is not a history this code can use; `why` finishes "history file X ..."."""

    def __init__(self, why: str) -> None:
        super().__init__(why)
        self.why = why


def _make_private_dir(directory: Path) -> None:
    if directory.is_dir():
        return  # an existing directory is the operator's choice: its mode is left alone
    shown = clean(str(directory))
    try:
        directory.mkdir(parents=True, mode=0o700)
        os.chmod(directory, 0o700)  # mkdir's mode is filtered by the umask
    except FileExistsError:
        if not directory.is_dir():
            raise StoreError(f"cannot create the state directory {shown}: a file is in the way") from None
    except OSError as e:
        raise StoreError(f"cannot create the state directory {shown}: {clean(e.strerror or str(e))}") from None


def _create_private(path: Path) -> None:
    """Make sure the file exists with mode 0600 before SQLite opens it (SQLite would use 0644)."""
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    except OSError as e:
        raise StoreError(f"cannot open history file {clean(str(path))}: {clean(e.strerror or str(e))}") from None
    try:
        if os.fstat(fd).st_mode & 0o077:
            os.fchmod(fd, 0o600)  # a file from before, or made by hand: history is private
    except OSError:
        pass  # not ours to change (another owner): use it as it is
    finally:
        os.close(fd)


def _private_sidecars(path: Path) -> None:
    """-wal and -shm get the main file's mode from SQLite; make sure of it."""
    for suffix in _SIDECARS:
        try:
            os.chmod(f"{path}{suffix}", 0o600)
        except OSError:
            pass  # not there (yet): SQLite creates it with the main file's mode


def _is_damage(e: sqlite3.Error) -> bool:
    """SQLITE_CORRUPT or SQLITE_NOTADB, as opposed to locked, full, read-only, I/O."""
    code = getattr(e, "sqlite_errorcode", None)  # Python 3.11+
    if code is not None:
        return code & 0xFF in (11, 26)
    text = str(e).lower()
    return "not a database" in text or "malformed" in text


def _prepare(path: Path) -> None:
    """Create or check the file and bring its schema up to date; raises _Unusable for a
    file to move aside and StoreError for a history that cannot be kept at all."""
    _create_private(path)
    try:
        conn = sqlite3.connect(str(path), timeout=BUSY_TIMEOUT, isolation_level=None)
    except sqlite3.Error as e:
        raise StoreError(f"cannot open history file {clean(str(path))}: {clean(str(e))}") from None
    try:
        found = schema.version(conn)
        latest = schema.latest()
        if found > latest:
            raise _Unusable(f"was written by a newer healthdash (schema {found}; this one reads up to {latest})")
        check = conn.execute("PRAGMA quick_check(1)").fetchone()[0]
        if check != "ok":
            raise _Unusable(f"is damaged ({clean(str(check), limit=120)})")
        tables = conn.execute("SELECT count(*) FROM sqlite_master").fetchone()[0]
        if found == 0 and tables:
            raise _Unusable("is not a healthdash history (it has tables but no schema version)")
        if found == 0:
            conn.execute("PRAGMA auto_vacuum = INCREMENTAL")  # only takes effect before the first table
        conn.execute("PRAGMA journal_mode = WAL").fetchone()
        schema.migrate(conn)
        _private_sidecars(path)
    except sqlite3.Error as e:
        if _is_damage(e):
            not_db = getattr(e, "sqlite_errorcode", 0) & 0xFF == 26 or "not a database" in str(e)
            raise _Unusable("is not a SQLite database" if not_db else f"is damaged ({clean(str(e))})") from None
        raise StoreError(f"cannot open history file {clean(str(path))}: {clean(str(e))}") from None
    finally:
        conn.close()


def _hold_wal(path: Path) -> Path | None:
    """A second name for the -wal, the newest commits: SQLite deletes the log when it
    closes a file it could not use, and a damaged file's log belongs with it."""
    wal = Path(f"{path}-wal")
    if not wal.exists():
        return None
    held = Path(f"{path}-wal.held")
    try:
        held.unlink(missing_ok=True)
        os.link(wal, held)
    except OSError:
        return None  # no hard links here: the log is kept only if SQLite leaves it
    return held


def _move_aside(path: Path, now: float, held_wal: Path | None = None) -> Path:
    """Rename the file (and its -wal/-shm, which must never meet a new file) to
    `<name>.corrupt-<timestamp>`; returns the new path. `held_wal` is the log's
    second name, used when SQLite removed the log itself."""
    stamp = time.strftime("%Y%m%d-%H%M%S", time.localtime(now))
    aside = path.with_name(f"{path.name}.corrupt-{stamp}")
    n = 1
    while aside.exists():
        aside = path.with_name(f"{path.name}.corrupt-{stamp}.{n}")
        n += 1
    try:
        for suffix in _SIDECARS:  # the log first: a -wal left behind would be replayed into the new file
            if os.path.exists(f"{path}{suffix}"):
                os.replace(f"{path}{suffix}", f"{aside}{suffix}")
        if held_wal is not None and held_wal.exists() and not os.path.exists(f"{aside}-wal"):
            os.replace(held_wal, f"{aside}-wal")
        os.replace(path, aside)
    except OSError as e:
        raise StoreError(
            f"history file {clean(str(path))} is unreadable and cannot be moved aside: {clean(e.strerror or str(e))}"
        ) from None
    return aside


# ---------------------------------------------------------------------------
# The writer thread


class _Flush:
    """A marker on the queue: set once everything before it is committed."""

    def __init__(self) -> None:
        self._event = threading.Event()
        self.ok = False

    def done(self, ok: bool) -> None:
        self.ok = ok
        self._event.set()

    def wait(self, timeout: float) -> bool:
        return self._event.wait(timeout) and self.ok


_STOP = object()


class _Minute:
    """A check's minute being counted in memory; written (upserted) at every commit."""

    __slots__ = ("ok", "warn", "crit", "unknown", "samples", "seen", "prior")

    def __init__(self, row: tuple | None) -> None:
        # `row` is the minute as already stored (a restart or late result in that minute)
        self.ok, self.warn, self.crit, self.unknown = (row[1:5] if row else (0, 0, 0, 0))
        self.prior: tuple | None = row[5:8] if row else None
        self.samples: list[float] = []
        self.seen = 0

    def add(self, status: str, latency_ms: float | None) -> None:
        attr = status if status in _STATUSES else "unknown"
        setattr(self, attr, getattr(self, attr) + 1)
        if latency_ms is not None and math.isfinite(latency_ms):
            if len(self.samples) < LATENCY_SAMPLES:
                self.samples.append(latency_ms)
            else:
                self.samples[self.seen % LATENCY_SAMPLES] = latency_ms
            self.seen += 1

    def row(self, check: str, minute: int) -> tuple:
        """Percentiles are over this process's samples (a minute split by a restart keeps
        the larger max but not the earlier samples)."""
        p50 = p95 = top = None
        if self.prior:
            p50, p95, top = self.prior
        if self.samples:
            s = sorted(self.samples)
            p50, p95 = _nearest_rank(s, 0.50), _nearest_rank(s, 0.95)
            top = max(s[-1], top) if top is not None else s[-1]
        count = self.ok + self.warn + self.crit + self.unknown
        return (check, minute, count, self.ok, self.warn, self.crit, self.unknown, p50, p95, top)


def _nearest_rank(ordered: list[float], q: float) -> float:
    return ordered[max(0, math.ceil(q * len(ordered)) - 1)]


_UPSERT_MINUTE = (
    "INSERT INTO minutes (check_name, minute, count, ok, warn, crit, unknown, p50_ms, p95_ms, max_ms)"
    " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (check_name, minute) DO UPDATE SET"
    " count = excluded.count, ok = excluded.ok, warn = excluded.warn, crit = excluded.crit,"
    " unknown = excluded.unknown, p50_ms = excluded.p50_ms, p95_ms = excluded.p95_ms, max_ms = excluded.max_ms"
)
_INSERTS = {
    "changes": "INSERT INTO status_changes (at, check_name, old, new, reason, message) VALUES (?, ?, ?, ?, ?, ?)",
    "event": "INSERT INTO alert_events (at, kind, fingerprint, name, text) VALUES (?, ?, ?, ?, ?)",
    "breaker": "INSERT INTO breaker_transitions (at, breaker, before_state, after_state, cause) VALUES (?, ?, ?, ?, ?)",
    "note": "INSERT INTO notes (at, text, check_name, author) VALUES (?, ?, ?, ?)",
    "recent": "INSERT INTO recent (check_name, value) VALUES (?, ?)",
}
RECENT_KEPT = 20  # results per check kept for the board after a restart
TRIM_EVERY = 60.0  # seconds between trims of the recent table
_TRIM_RECENT = (
    "DELETE FROM recent WHERE id IN (SELECT id FROM (SELECT id, ROW_NUMBER() OVER"
    " (PARTITION BY check_name ORDER BY id DESC) AS n FROM recent) WHERE n > ?)"
)
_UPSERT_STATE = (
    "INSERT INTO state (key, value, saved_at) VALUES (?, ?, ?)"
    " ON CONFLICT (key) DO UPDATE SET value = excluded.value, saved_at = excluded.saved_at"
)
_PRUNE = (
    "DELETE FROM minutes WHERE minute < ?",
    # a check's latest change stays: it is what the next start compares against
    "DELETE FROM status_changes WHERE at < ? AND id NOT IN (SELECT max(id) FROM status_changes GROUP BY check_name)",
    "DELETE FROM alert_events WHERE at < ?",
    "DELETE FROM breaker_transitions WHERE at < ?",
    "DELETE FROM notes WHERE at < ?",
)


def _storable(text: str) -> str:
    """`text` as SQLite can store it: lone surrogates (which cannot be encoded) replaced."""
    try:
        text.encode("utf-8")
        return text
    except UnicodeEncodeError:
        return text.encode("utf-8", "replace").decode("utf-8")


def _result_json(r: CheckResult) -> str:
    """A result as compact JSON for the recent table (written in the writer thread)."""
    return json.dumps(
        [r.kind, r.status.value, r.reason.value, r.message, r.latency, r.attempts, r.started_at, r.finished_at,
         r.detail[:2000], r.lag, [[m.name, m.value, m.unit, m.warn, m.crit, m.min, m.max] for m in r.metrics[:64]]],
    )


def _result_from_json(name: str, value: str) -> CheckResult | None:
    try:
        kind, status, reason, message, latency, attempts, started, finished, detail, lag, metrics = json.loads(value)
        return CheckResult(
            check=name, kind=str(kind), status=Status(status), reason=Reason(reason), message=str(message),
            latency=float(latency), attempts=int(attempts), started_at=float(started), finished_at=float(finished),
            detail=str(detail), lag=float(lag),
            metrics=tuple(Metric(str(m[0]), float(m[1]), str(m[2]), *m[3:7]) for m in metrics),
        )
    except (ValueError, TypeError, IndexError):
        log.warning("history: skipping an unreadable recent result of %s", name)
        return None


class _Writer:
    """Everything the writer thread owns: the connection, aggregates and buffered rows.
    Only `queue`, `thread` and `dead` are touched from other threads."""

    def __init__(
        self,
        path: Path,
        retention: float,
        now: Callable[[], float],
        warn: Callable[[str], None],
        unwarn: Callable[[str], None],
    ) -> None:
        self.queue: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self.thread = threading.Thread(target=self._run, name="healthdash-store", daemon=True)
        self.dead = False
        self._path = path
        self._retention = retention
        self._now = now
        self._warn = warn
        self._unwarn = unwarn
        self._failing: str | None = None  # the warning shown while writes fail
        self._conn: sqlite3.Connection | None = None
        self._minutes: dict[tuple[str, int], _Minute] = {}
        self._dirty: set[tuple[str, int]] = set()
        self._newest_minute = 0
        self._last_status: dict[str, str] = {}
        self._rows: dict[str, list[tuple]] = {k: [] for k in _INSERTS}
        self._states: dict[str, tuple[str, float]] = {}

    # -- the loop

    def _run(self) -> None:
        try:
            self._serve()
        except BaseException:  # a bug: say so once, keep the dashboard running
            log.exception("the history writer stopped")
            self._warn("history is no longer saved: the writer stopped after an internal error (details in the log)")
        finally:
            self.dead = True
            if self._conn is not None:
                self._conn.close()
            self._release_waiters()

    def _serve(self) -> None:
        self._conn = conn = sqlite3.connect(str(self._path), timeout=BUSY_TIMEOUT, isolation_level=None)
        conn.execute("PRAGMA synchronous = NORMAL")  # WAL: a crash loses no committed row, power loss the last ones
        conn.execute("PRAGMA journal_mode = WAL").fetchone()
        self._last_status = dict(
            conn.execute(
                "SELECT check_name, new FROM status_changes"
                " WHERE id IN (SELECT max(id) FROM status_changes GROUP BY check_name)"
            ).fetchall()
        )
        self._prune()
        next_prune = self._now() + PRUNE_EVERY
        next_trim = time.monotonic() + TRIM_EVERY
        due: float | None = None  # monotonic time by which pending rows must be committed
        while True:
            items = self._take(IDLE_WAKE if due is None else max(0.0, due - time.monotonic()))
            stopping = False
            flushes: list[_Flush] = []
            for item in items:
                if item is _STOP:
                    stopping = True
                elif isinstance(item, _Flush):
                    flushes.append(item)
                else:
                    self._apply(item)
            if due is None and self._pending():
                due = time.monotonic() + COMMIT_EVERY
            if due is not None and (stopping or flushes or time.monotonic() >= due):
                due = None if self._commit() else time.monotonic() + COMMIT_EVERY
            if self._now() >= next_prune:
                self._prune()
                next_prune = self._now() + PRUNE_EVERY
            if time.monotonic() >= next_trim:
                self._trim_recent()
                next_trim = time.monotonic() + TRIM_EVERY
            for f in flushes:
                f.done(not self._pending())
            if stopping:
                if self._pending():
                    log.warning("history: closing with unsaved rows (writes were failing)")
                return

    def _take(self, timeout: float) -> list[Any]:
        """The next item (waiting up to `timeout` seconds) and whatever else is queued."""
        try:
            items = [self.queue.get(timeout=timeout) if timeout > 0 else self.queue.get_nowait()]
        except queue.Empty:
            return []
        while len(items) < MAX_BATCH:
            try:
                items.append(self.queue.get_nowait())
            except queue.Empty:
                break
        return items

    def _release_waiters(self) -> None:
        while True:
            try:
                item = self.queue.get_nowait()
            except queue.Empty:
                return
            if isinstance(item, _Flush):
                item.done(False)

    # -- folding writes in

    def _apply(self, item: tuple) -> None:
        try:
            what = item[0]
            if what == "result":
                r: CheckResult = item[1]
                latency = r.latency * 1000.0 if r.attempts > 0 else None  # not probed: no latency
                self._add(_storable(r.check), r.finished_at, _text(r.status), latency, _text(r.reason), _storable(r.message))
                self._rows["recent"].append((r.check, _result_json(r)))
            elif what == "service":
                _, name, status, at, message = item
                name, message = _storable(name), _storable(message)
                self._add(name, at, _SERVICE_COLUMNS.get(status, "unknown"), None, "", message, shown=status)
            elif what == "state":
                self._states[item[1]] = (_storable(item[2]), item[3])
            else:
                self._rows[what].append(tuple(_storable(v) if isinstance(v, str) else v for v in item[1]))
        except Exception:  # one bad item must not stop history
            log.exception("history: could not record a %s", item[0] if item else "write")

    def _add(
        self,
        subject: str,
        at: float,
        column: str,
        latency_ms: float | None,
        reason: str,
        message: str,
        shown: str | None = None,
    ) -> None:
        """Count one sample of `subject` in `column` of its minute; record a status change
        when its status (`shown`, else the column) differs from the last one."""
        if not math.isfinite(at):
            return
        minute = int(at // 60) * 60
        key = (subject, minute)
        agg = self._minutes.get(key)
        if agg is None:
            agg = self._minutes[key] = _Minute(self._stored_minute(key))
        agg.add(column, latency_ms)
        self._dirty.add(key)
        self._newest_minute = max(self._newest_minute, minute)
        status = column if shown is None else shown
        old = self._last_status.get(subject)
        if old != status:
            self._last_status[subject] = status
            self._rows["changes"].append((at, subject, old, status, reason, message))

    def _stored_minute(self, key: tuple[str, int]) -> tuple | None:
        assert self._conn is not None
        return self._conn.execute(
            "SELECT count, ok, warn, crit, unknown, p50_ms, p95_ms, max_ms FROM minutes"
            " WHERE check_name = ? AND minute = ?",
            key,
        ).fetchone()

    def _pending(self) -> bool:
        return bool(self._dirty or self._states or any(self._rows.values()))

    # -- committing

    def _commit(self) -> bool:
        conn = self._conn
        assert conn is not None
        try:
            conn.execute("BEGIN IMMEDIATE")
            conn.executemany(_UPSERT_MINUTE, [self._minutes[k].row(*k) for k in self._dirty])
            for what, sql in _INSERTS.items():
                if self._rows[what]:
                    conn.executemany(sql, self._rows[what])
            conn.executemany(_UPSERT_STATE, [(k, v, at) for k, (v, at) in self._states.items()])
            conn.execute("COMMIT")
        except sqlite3.Error as e:
            self._rollback()
            self._write_failed(e)
            return False
        if self._failing is not None:
            self._unwarn(self._failing)
            self._failing = None
            log.warning("history: writes work again")
        self._dirty.clear()
        self._states.clear()
        for rows in self._rows.values():
            rows.clear()
        for key in [k for k in self._minutes if k[1] < self._newest_minute - KEEP_MINUTES]:
            del self._minutes[key]  # written, and its minute is long closed
        _private_sidecars(self._path)  # cheap; -wal and -shm come and go with checkpoints
        return True

    def _rollback(self) -> None:
        assert self._conn is not None
        if self._conn.in_transaction:
            try:
                self._conn.execute("ROLLBACK")
            except sqlite3.Error:
                pass

    def _write_failed(self, e: sqlite3.Error) -> None:
        """Keep the rows for the next try, within bounds; tell the operator once per outage."""
        if self._failing is None:
            self._failing = f"history: cannot write to {clean(str(self._path))}: {clean(str(e))}; retrying"
            log.warning("history: cannot write to %s: %s", self._path, e)
            self._warn(self._failing)
        dropped = 0
        for rows in self._rows.values():
            if len(rows) > MAX_PENDING:
                dropped += len(rows) - MAX_PENDING
                del rows[: len(rows) - MAX_PENDING]
        if len(self._minutes) > MAX_PENDING:
            for key in sorted(self._minutes, key=lambda k: k[1])[: len(self._minutes) - MAX_PENDING]:
                del self._minutes[key]
                self._dirty.discard(key)
                dropped += 1
        if dropped:
            log.warning("history: dropped %d unsaved rows while writes fail", dropped)
            self._warn("history: some rows were dropped while writes were failing")

    def _trim_recent(self) -> None:
        """Keep only the newest RECENT_KEPT results per check."""
        conn = self._conn
        assert conn is not None
        try:
            conn.execute("BEGIN IMMEDIATE")
            conn.execute(_TRIM_RECENT, (RECENT_KEPT,))
            conn.execute("COMMIT")
        except sqlite3.Error as e:
            self._rollback()
            log.warning("history: trimming recent results failed: %s", e)

    def _prune(self) -> None:
        """Delete rows older than the retention and give their pages back to the disk."""
        conn = self._conn
        assert conn is not None
        cutoff = self._now() - self._retention
        try:
            conn.execute("BEGIN IMMEDIATE")
            deleted = sum(conn.execute(sql, (cutoff,)).rowcount for sql in _PRUNE)
            conn.execute("COMMIT")
            if deleted:
                conn.execute("PRAGMA incremental_vacuum").fetchall()  # runs only as far as it is stepped
        except sqlite3.Error as e:
            self._rollback()
            log.warning("history: pruning old rows failed: %s", e)
