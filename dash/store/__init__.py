"""History that survives restarts: per-minute aggregates, status changes, alert
events, breaker transitions, operator notes and saved state, in one SQLite file.

    store = Store.open(state_dir / HISTORY_FILE, retention=config.retention)
    engine.subscribe(store.record_result)          # non-blocking
    rows = await asyncio.to_thread(store.timeline, since, until)
    store.close()

See `dash.store.store` for the guarantees (one writer thread, commits at least
every half second, damaged files moved aside).
"""

from dash.store.store import (
    COMMIT_EVERY,
    HISTORY_FILE,
    Minute,
    Note,
    StatusChange,
    Store,
    StoreError,
    TimelineEntry,
)

__all__ = [
    "COMMIT_EVERY",
    "HISTORY_FILE",
    "Minute",
    "Note",
    "StatusChange",
    "Store",
    "StoreError",
    "TimelineEntry",
]
