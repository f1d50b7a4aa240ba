"""The board: folds check results into per-check state, and renders snapshots.

Pure: no I/O, no asyncio, no clock of its own (times come with the results or
as arguments).
"""

from __future__ import annotations

from collections import deque
from dataclasses import replace

from dash.config import CheckConfig
from dash.model import CheckResult, CheckState, Snapshot


class Board:
    """Current state of every configured check, with a bounded history each.

    Each state carries its last `recent` results (for history strips); the longer
    ring of `history` results per check is read on demand with `results()`, so
    that applying a result copies a short tuple, not the whole ring.
    """

    def __init__(self, history: int = 120, recent: int = 20) -> None:
        self._history_len = history
        self._recent = recent
        self._states: dict[str, CheckState] = {}
        self._rings: dict[str, deque[CheckResult]] = {}

    def configure(self, checks: tuple[CheckConfig, ...] | list[CheckConfig]) -> None:
        """Adopt a (new) set of checks: unchanged names keep their state and history."""
        states: dict[str, CheckState] = {}
        rings: dict[str, deque[CheckResult]] = {}
        for c in checks:
            old = self._states.get(c.name)
            if old is not None and old.kind == c.kind:
                states[c.name] = replace(old, interval=c.interval, tags=c.tags)
                rings[c.name] = self._rings[c.name]
            else:
                states[c.name] = CheckState(name=c.name, kind=c.kind, interval=c.interval, tags=c.tags)
                rings[c.name] = deque(maxlen=self._history_len)
        self._states, self._rings = states, rings

    def apply(self, result: CheckResult) -> CheckState | None:
        """Record a result; returns the new state (None for an unknown check)."""
        old = self._states.get(result.check)
        if old is None:
            return None
        ring = self._rings[result.check]
        ring.append(result)
        changed = old.last is None or old.last.status is not result.status
        state = replace(
            old,
            last=result,
            history=(*old.history[-(self._recent - 1):], result) if self._recent > 1 else (result,),
            status_since=result.finished_at if changed else old.status_since,
            running=False,
        )
        self._states[result.check] = state
        return state

    def set_running(self, name: str, running: bool) -> None:
        old = self._states.get(name)
        if old is not None and old.running != running:
            self._states[name] = replace(old, running=running)

    def results(self, name: str) -> tuple[CheckResult, ...]:
        """The longer history of one check, oldest first."""
        return tuple(self._rings.get(name, ()))

    def state(self, name: str) -> CheckState:
        return self._states[name]

    def snapshot(self, now: float, *, paused: bool = False, title: str = "healthdash") -> Snapshot:
        return Snapshot(generated_at=now, checks=tuple(self._states.values()), paused=paused, title=title)
