"""Circuit breakers per dependency: a pure, time-based state machine.

Modelled on resilience4j's time-based sliding window. The clock is passed in as
plain numbers (monotonic seconds); nothing here sleeps or does I/O.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass
from typing import Literal

from dash.model import BreakerState


@dataclass(frozen=True, slots=True)
class BreakerSettings:
    """How one breaker decides. Defaults come from `[defaults.breaker]` in dash.toml.

    Rates are percentages (0..100). The window is `window` seconds of 1-second
    buckets. `slow_call` is the latency at or above which a call counts as slow.
    After `open_for` an OPEN breaker lets exactly one trial through; a failed
    trial re-opens it for twice as long, up to `open_for_max`.
    """

    window: float = 60.0
    min_calls: int = 5
    failure_rate: float = 50.0
    slow_rate: float = 100.0
    slow_call: float = 5.0
    open_for: float = 30.0
    open_for_max: float = 300.0
    enabled: bool = True


# Edges a breaker may take on its own (operators may also go to OPERATOR_TARGETS).
AUTOMATIC_EDGES: frozenset[tuple[BreakerState, BreakerState]] = frozenset(
    {
        (BreakerState.CLOSED, BreakerState.OPEN),
        (BreakerState.OPEN, BreakerState.HALF_OPEN),
        (BreakerState.HALF_OPEN, BreakerState.CLOSED),
        (BreakerState.HALF_OPEN, BreakerState.OPEN),
    }
)
# States an operator may put any breaker in (CLOSED only via reset).
OPERATOR_TARGETS: frozenset[BreakerState] = frozenset(
    {
        BreakerState.FORCED_OPEN,
        BreakerState.FORCED_CLOSED,
        BreakerState.METRICS_ONLY,
        BreakerState.CLOSED,
    }
)

TRANSITIONS_KEPT = 20
LATENCIES_PER_SECOND = 32  # per-bucket latency samples; later calls overwrite the oldest
SPARKLINE_POINTS = 30

# States in which a normal probe may run.
_ALLOWING = frozenset(
    {BreakerState.CLOSED, BreakerState.FORCED_CLOSED, BreakerState.METRICS_ONLY, BreakerState.DISABLED}
)


def is_allowed_edge(before: BreakerState, after: BreakerState) -> bool:
    """True when `before -> after` is an edge the breaker or an operator may take."""
    return (before, after) in AUTOMATIC_EDGES or after in OPERATOR_TARGETS


@dataclass(frozen=True, slots=True)
class BreakerTransition:
    """One state change, for the timeline: when (monotonic seconds), from, to, and why."""

    at: float
    before: BreakerState
    after: BreakerState
    cause: str


@dataclass(frozen=True, slots=True)
class BreakerSnapshot:
    """What the breaker panel shows for one dependency at one moment.

    Rates are percentages over the calls in the window (None when there are none);
    latencies are seconds (nearest-rank percentiles over the window's samples).
    `error_rates` is a fixed-length sparkline, oldest first: the window cut into
    at most 30 equal groups of whole seconds (60 s window -> 30 points of 2 s);
    each point is the failure % of that group's calls, 0.0 when it had none.
    """

    name: str
    state: BreakerState
    settings: BreakerSettings
    failure_rate: float | None
    slow_rate: float | None
    calls: int
    failures: int
    slow_calls: int
    calls_per_minute: float
    p50: float | None
    p90: float | None
    p99: float | None
    next_trial_in: float | None
    open_for: float
    last_transition_at: float
    last_transition_cause: str
    error_rates: tuple[float, ...]
    transitions: tuple[BreakerTransition, ...]


class _Bucket:
    """One second of the window: counts plus a bounded ring of latency samples."""

    __slots__ = ("second", "calls", "failures", "slow", "latencies")

    def __init__(self, second: int) -> None:
        self.second = second
        self.calls = 0
        self.failures = 0
        self.slow = 0
        self.latencies: list[float] = []


class Breaker:
    """The circuit breaker of one dependency (resilience4j semantics, time-based window).

    The window is the last `int(settings.window)` whole seconds (at least 1), in
    1-second buckets: a call is forgotten when its second falls out, so the window
    never holds a call older than `settings.window` seconds (it may forget one up
    to a second early, as resilience4j does).

    CLOSED opens when the window holds >= `min_calls` calls and the failure % or
    slow % reaches its threshold. OPEN blocks normal probes; once `open_for` has
    elapsed, `begin_trial` lets exactly one trial through (HALF_OPEN). Pass the
    trial's outcome with `record(..., trial=True)`: success closes the breaker
    (window cleared, open duration back to base), failure re-opens it for twice as
    long, capped at `open_for_max`.

    Late results (a probe that started before the breaker opened, or any result
    that is not the trial's) are always counted in the window but move the breaker
    only from CLOSED; they never close, open or re-open it from another state.
    Operator overrides are refused (return False) when the breaker is disabled in
    config: the config decides.
    """

    def __init__(self, name: str, settings: BreakerSettings, now: float) -> None:
        self.name = name
        self.settings = settings
        self._seconds = max(1, int(settings.window))
        self._base = min(settings.open_for, settings.open_for_max)
        self._open_for = self._base
        self._buckets: deque[_Bucket] = deque()
        self._latest = now  # buckets are appended in time order; never go back
        self._window_started = now
        self._trial_at: float | None = None  # when OPEN: when the trial is due
        self._trial_in_flight = False
        self._transitions: deque[BreakerTransition] = deque(maxlen=TRANSITIONS_KEPT)
        if settings.enabled:
            self._state = BreakerState.CLOSED
            self._last = (now, "started")
        else:
            self._state = BreakerState.DISABLED
            self._last = (now, "disabled in config")

    # -- state ---------------------------------------------------------------

    @property
    def state(self) -> BreakerState:
        """The current state."""
        return self._state

    @property
    def transitions(self) -> tuple[BreakerTransition, ...]:
        """The last transitions, oldest first (cheap: no snapshot of the window)."""
        return tuple(self._transitions)

    @property
    def open_for(self) -> float:
        """The open duration the next (or current) OPEN period uses, in seconds."""
        return self._open_for

    def allow(self, now: float) -> bool:
        """May a normal probe run now? Never while OPEN, HALF_OPEN or FORCED_OPEN."""
        return self._state in _ALLOWING

    def trial_due(self, now: float) -> bool:
        """True when OPEN, `open_for` has elapsed, and no trial is in flight."""
        return (
            self._state is BreakerState.OPEN
            and not self._trial_in_flight
            and self._trial_at is not None
            and now >= self._trial_at
        )

    def begin_trial(self, now: float) -> bool:
        """OPEN -> HALF_OPEN with one trial in flight; False (nothing changes) if not due."""
        if not self.trial_due(now):
            return False
        self._trial_in_flight = True
        self._trial_at = None
        self._move(now, BreakerState.HALF_OPEN, f"trial started after {_secs(self._open_for)} open")
        return True

    def cancel_trial(self, now: float) -> bool:
        """The trial was cancelled without a verdict: back to OPEN, a new trial due now.

        For the engine when it drops a running trial (pause, reload, shutdown).
        """
        if not (self._state is BreakerState.HALF_OPEN and self._trial_in_flight):
            return False
        self._trial_in_flight = False
        self._trial_at = now
        self._move(now, BreakerState.OPEN, "trial cancelled")
        return True

    def next_event_at(self) -> float | None:
        """When OPEN: the monotonic time the trial is due (the scheduler sleeps until then)."""
        return self._trial_at if self._state is BreakerState.OPEN else None

    # -- results -------------------------------------------------------------

    def record(self, now: float, *, failed: bool, latency: float, trial: bool = False) -> None:
        """Count one call's outcome; with `trial=True` it resolves the half-open trial.

        A `trial=True` result that finds no trial in flight (e.g. the operator
        overrode the breaker meanwhile) is counted like any late result.
        """
        latency = latency if latency >= 0.0 else 0.0  # also turns NaN into 0
        slow = latency >= self.settings.slow_call
        self._count(now, failed, slow, latency)
        if trial and self._trial_in_flight and self._state is BreakerState.HALF_OPEN:
            self._trial_in_flight = False
            if failed:
                self._open_for = min(self._open_for * 2, self.settings.open_for_max)
                self._open(now, f"trial failed; open for {_secs(self._open_for)}")
            else:
                self._close(now, "trial succeeded")
            return
        if self._state is BreakerState.CLOSED:
            cause = self._threshold_crossed()
            if cause:
                self._open(now, cause)

    # -- operator ------------------------------------------------------------

    def force_open(self, now: float) -> bool:
        """FORCED_OPEN: no probes and no trials until the operator says otherwise."""
        return self._override(now, BreakerState.FORCED_OPEN, "forced open by operator")

    def force_closed(self, now: float) -> bool:
        """FORCED_CLOSED: always allows and never opens; results are still counted."""
        return self._override(now, BreakerState.FORCED_CLOSED, "forced closed by operator")

    def metrics_only(self, now: float) -> bool:
        """METRICS_ONLY: counts and computes rates but never blocks."""
        return self._override(now, BreakerState.METRICS_ONLY, "set to metrics-only by operator")

    def reset(self, now: float) -> bool:
        """Back to CLOSED with the window cleared and the open duration at its base."""
        if self._state is BreakerState.DISABLED:
            return False
        self._trial_in_flight = False
        self._close(now, "reset by operator")
        return True

    # -- restarts ------------------------------------------------------------

    def export_state(self, now: float) -> dict:
        """What a restart needs to bring this breaker back: JSON-serialisable.

        Times are stored relative to `now` (monotonic clocks do not survive a
        restart); the window's calls are not kept, they refill within a minute.
        """
        return {
            "state": self._state.value,
            "open_for": self._open_for,
            "trial_in": None if self._trial_at is None else max(0.0, self._trial_at - now),
            "cause": self._last[1],
            "since": now - self._last[0],
        }

    def import_state(self, doc: object, now: float, elapsed: float = 0.0) -> bool:
        """Restore a state saved `elapsed` seconds ago by `export_state`; False if unusable.

        A trial that was in flight when the process stopped never finished: the
        breaker comes back OPEN with its trial due at once.
        """
        if not isinstance(doc, dict) or self._state is BreakerState.DISABLED:
            return False
        try:
            state = BreakerState(doc["state"])
            open_for = float(doc.get("open_for", self._base))
            trial_in = doc.get("trial_in")
            since = float(doc.get("since", 0.0)) + max(0.0, elapsed)
            cause = str(doc.get("cause", ""))[:200]
        except (KeyError, TypeError, ValueError):
            return False
        if state is BreakerState.DISABLED:
            return False
        self._open_for = min(max(open_for, self._base), self.settings.open_for_max)
        self._trial_in_flight = False
        self._trial_at = None
        if state in (BreakerState.OPEN, BreakerState.HALF_OPEN):
            state = BreakerState.OPEN
            left = 0.0 if trial_in is None else max(0.0, float(trial_in) - max(0.0, elapsed))
            self._trial_at = now + min(left, self._open_for)
        self._state = state
        self._last = (now - since, cause)
        return True

    # -- reading -------------------------------------------------------------

    def snapshot(self, now: float) -> BreakerSnapshot:
        """An immutable picture of the breaker and its window at `now`."""
        self._expire(now)
        calls = sum(b.calls for b in self._buckets)
        failures = sum(b.failures for b in self._buckets)
        slow = sum(b.slow for b in self._buckets)
        samples = sorted(x for b in self._buckets for x in b.latencies)
        span = max(1.0, min(float(self._seconds), now - self._window_started))
        last_at, last_cause = self._last
        return BreakerSnapshot(
            name=self.name,
            state=self._state,
            settings=self.settings,
            failure_rate=_rate(failures, calls),
            slow_rate=_rate(slow, calls),
            calls=calls,
            failures=failures,
            slow_calls=slow,
            calls_per_minute=calls * 60.0 / span,
            p50=_percentile(samples, 50),
            p90=_percentile(samples, 90),
            p99=_percentile(samples, 99),
            next_trial_in=(
                min(self._open_for, max(0.0, self._trial_at - now))  # clamp float noise
                if self._state is BreakerState.OPEN and self._trial_at is not None
                else None
            ),
            open_for=self._open_for,
            last_transition_at=last_at,
            last_transition_cause=last_cause,
            error_rates=self._error_rates(now),
            transitions=tuple(self._transitions),
        )

    # -- internals -----------------------------------------------------------

    def _override(self, now: float, to: BreakerState, cause: str) -> bool:
        if self._state is BreakerState.DISABLED:
            return False
        if self._state is not to:  # pressing the same override twice changes nothing
            self._trial_in_flight = False
            self._trial_at = None
            self._move(now, to, cause)
        return True

    def _open(self, now: float, cause: str) -> None:
        self._trial_at = now + self._open_for
        self._move(now, BreakerState.OPEN, cause)

    def _close(self, now: float, cause: str) -> None:
        self._buckets.clear()
        self._window_started = max(now, self._latest)
        self._open_for = self._base
        self._trial_at = None
        self._move(now, BreakerState.CLOSED, cause)

    def _move(self, now: float, to: BreakerState, cause: str) -> None:
        self._transitions.append(BreakerTransition(now, self._state, to, cause))
        self._state = to
        self._last = (now, cause)

    def _threshold_crossed(self) -> str:
        """The opening cause when the window crosses a threshold, else ''."""
        s = self.settings
        calls = sum(b.calls for b in self._buckets)
        if calls < s.min_calls or calls == 0:
            return ""
        fail = _rate(sum(b.failures for b in self._buckets), calls) or 0.0
        if fail >= s.failure_rate:
            return f"failure rate {_pct(fail)} >= {_pct(s.failure_rate)} over {calls} calls"
        slow = _rate(sum(b.slow for b in self._buckets), calls) or 0.0
        if slow >= s.slow_rate:
            return (
                f"slow-call rate {_pct(slow)} >= {_pct(s.slow_rate)} over {calls} calls"
                f" (slow means >= {_secs(s.slow_call)})"
            )
        return ""

    def _count(self, now: float, failed: bool, slow: bool, latency: float) -> None:
        self._expire(now)
        second = math.floor(self._latest)
        if not self._buckets or self._buckets[-1].second != second:
            self._buckets.append(_Bucket(second))
        b = self._buckets[-1]
        if len(b.latencies) < LATENCIES_PER_SECOND:
            b.latencies.append(latency)
        else:
            b.latencies[b.calls % LATENCIES_PER_SECOND] = latency
        b.calls += 1
        b.failures += failed
        b.slow += slow

    def _expire(self, now: float) -> None:
        """Forget buckets whose second has left the window."""
        self._latest = max(self._latest, now)
        oldest = math.floor(self._latest) - self._seconds + 1
        while self._buckets and self._buckets[0].second < oldest:
            self._buckets.popleft()

    def _error_rates(self, now: float) -> tuple[float, ...]:
        group = math.ceil(self._seconds / SPARKLINE_POINTS)
        points = math.ceil(self._seconds / group)
        first = math.floor(self._latest) - points * group + 1
        calls = [0] * points
        failures = [0] * points
        for b in self._buckets:
            i = (b.second - first) // group
            if 0 <= i < points:
                calls[i] += b.calls
                failures[i] += b.failures
        return tuple(f * 100.0 / c if c > 0 else 0.0 for f, c in zip(failures, calls))


def gate(breaker: Breaker, now: float) -> Literal["probe", "trial", "skip"]:
    """What the scheduler does for a check now: run it, run the breaker's trial, or skip.

    On "trial" the caller calls `breaker.begin_trial(now)` and reports the outcome
    with `breaker.record(..., trial=True)`.
    """
    if breaker.allow(now):
        return "probe"
    if breaker.trial_due(now):
        return "trial"
    return "skip"


def _rate(part: int, calls: int) -> float | None:
    """part/calls as a percentage clamped to 0..100; None without calls."""
    if calls <= 0:
        return None
    return min(100.0, max(0.0, part * 100.0 / calls))


def _percentile(sorted_samples: list[float], p: float) -> float | None:
    """Nearest-rank percentile of an ascending list; None when empty."""
    if not sorted_samples:
        return None
    rank = max(1, math.ceil(p / 100.0 * len(sorted_samples)))
    return sorted_samples[rank - 1]


def _pct(x: float) -> str:
    """80.0 -> '80%', 66.666 -> '66.7%'."""
    return f"{round(x, 1):g}%"


def _secs(x: float) -> str:
    """60.0 -> '60s', 1.5 -> '1.5s'."""
    return f"{round(x, 3):g}s"
