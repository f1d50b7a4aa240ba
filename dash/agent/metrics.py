"""Prometheus metrics of the board, built from a snapshot at each scrape.

`BoardCollector` is a custom prometheus-client collector: it holds no metric state
of its own and builds every family from a `Scrape` (a snapshot plus the latency
histograms and scheduler lags) when the registry asks. `LatencyHistograms` is the
only thing kept between scrapes: a cumulative histogram per check, fed with every
result through `Engine.subscribe`.

Families (see `families()`):

    healthdash_check_up{check,kind}                 1 ok, 0 otherwise (also before a first result)
    healthdash_check_status{check,kind,status}      1 for the current status, 0 for the others
                                                    (ok, warn, crit, unknown, pending)
    healthdash_check_latency_seconds{check}         histogram of probed results' latency
    healthdash_check_attempts{check}                probe attempts of the last run
    healthdash_check_last_run_timestamp_seconds{check}
    healthdash_breaker_state{breaker,state}         1 for the current state
    healthdash_breaker_failure_rate{breaker}        percent over the window (absent without calls),
                                                    as resilience4j reports it
    healthdash_service_status{service,status}       1 for the current status
    healthdash_alerts{priority,state}               number of alerts shown (P1..P4 x state)
    healthdash_monitor_offline                      1 while a canary fails
    healthdash_agent_up, healthdash_agent_checks, healthdash_agent_scheduler_lag_seconds (p99)
"""

from __future__ import annotations

import bisect
import contextvars
import math
from collections import deque
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field

from prometheus_client.core import GaugeMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.registry import Collector
from prometheus_client.utils import floatToGoString

from dash.core.alerts import AlertState
from dash.core.services import ServiceHealth
from dash.model import BreakerState, CheckResult, Snapshot, Status

BUCKETS: tuple[float, ...] = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
LAGS_KEPT = 1000  # recent scheduler lags for the p99
CHECK_STATUSES = (*(s.value for s in Status), "pending")
PRIORITIES = (1, 2, 3, 4)


@dataclass(frozen=True, slots=True)
class Histogram:
    """One check's latencies: per-bucket counts (not cumulative; +Inf last), sum and count."""

    counts: tuple[int, ...]
    total: float
    count: int


@dataclass(frozen=True, slots=True)
class Scrape:
    """Everything one scrape renders; immutable, so it can be rendered off the event loop."""

    snapshot: Snapshot
    latencies: Mapping[str, Histogram] = field(default_factory=dict)
    lag_p99: float | None = None
    buckets: tuple[float, ...] = BUCKETS  # the histograms' bounds, +Inf left out


class LatencyHistograms:
    """A latency histogram per check, plus the recent scheduler lags, fed from results.

    Results the breaker stopped (attempts == 0) were not probed: they count in neither.
    """

    def __init__(self, buckets: tuple[float, ...] = BUCKETS, lags_kept: int = LAGS_KEPT) -> None:
        self.buckets = tuple(sorted(buckets))
        self._counts: dict[str, list[int]] = {}
        self._sums: dict[str, float] = {}
        self._lags: deque[float] = deque(maxlen=lags_kept)

    def observe(self, result: CheckResult) -> None:
        """Count one result (an `Engine.subscribe` listener)."""
        if result.attempts <= 0:
            return
        latency = result.latency if math.isfinite(result.latency) and result.latency > 0 else 0.0
        counts = self._counts.get(result.check)
        if counts is None:
            counts = self._counts[result.check] = [0] * (len(self.buckets) + 1)
            self._sums[result.check] = 0.0
        counts[bisect.bisect_left(self.buckets, latency)] += 1  # le: a value on a bound is in it
        self._sums[result.check] += latency
        if math.isfinite(result.lag):
            self._lags.append(max(0.0, result.lag))

    def frozen(self, names: list[str] | tuple[str, ...] | None = None) -> dict[str, Histogram]:
        """An immutable copy; only `names` when given (checks dropped by a reload are forgotten)."""
        if names is not None:
            keep = set(names)
            for gone in [n for n in self._counts if n not in keep]:
                del self._counts[gone], self._sums[gone]
        return {n: Histogram(tuple(c), self._sums[n], sum(c)) for n, c in self._counts.items()}

    def lag_p99(self) -> float | None:
        """The nearest-rank 99th percentile of the recent lags, None before any result."""
        if not self._lags:
            return None
        ordered = sorted(self._lags)
        return ordered[max(1, math.ceil(0.99 * len(ordered))) - 1]


# The scrape being rendered, when the caller prepared one (it renders in a worker thread).
current_scrape: contextvars.ContextVar[Scrape | None] = contextvars.ContextVar("current_scrape", default=None)


class BoardCollector(Collector):
    """Builds the board's metric families at each scrape.

    It renders `current_scrape` when set (the agent prepares it on the event loop, then
    renders in a thread), else asks `source()` for one.
    """

    def __init__(self, source: Callable[[], Scrape]) -> None:
        self._source = source

    def describe(self) -> list[Metric]:
        return []  # the names depend on the config; nothing to check at registration

    def collect(self) -> Iterator[Metric]:
        scrape = current_scrape.get() or self._source()
        return iter(families(scrape))


def _one_of(family: GaugeMetricFamily, labels: list[str], values: tuple[str, ...], current: str) -> None:
    for v in values:
        family.add_metric([*labels, v], 1.0 if v == current else 0.0)


def families(scrape: Scrape) -> list[Metric]:
    """Every metric family for one scrape."""
    snap = scrape.snapshot
    up = GaugeMetricFamily("healthdash_check_up", "1 when the check's last result is ok, else 0.", labels=["check", "kind"])
    status = GaugeMetricFamily(
        "healthdash_check_status",
        "1 for the check's current status (pending: no result yet), 0 for the others.",
        labels=["check", "kind", "status"],
    )
    latency = HistogramMetricFamily(
        "healthdash_check_latency_seconds", "Latency of the check's last probe attempt per run.", labels=["check"]
    )
    attempts = GaugeMetricFamily("healthdash_check_attempts", "Probe attempts in the check's last run.", labels=["check"])
    last_run = GaugeMetricFamily(
        "healthdash_check_last_run_timestamp_seconds", "When the check's last run finished (epoch).", labels=["check"]
    )
    bounds = [*(floatToGoString(b) for b in scrape.buckets), "+Inf"]
    for c in snap.checks:
        current = c.last.status.value if c.last is not None else "pending"
        up.add_metric([c.name, c.kind], 1.0 if current == "ok" else 0.0)
        _one_of(status, [c.name, c.kind], CHECK_STATUSES, current)
        h = scrape.latencies.get(c.name)
        counts = h.counts if h is not None and len(h.counts) == len(bounds) else (0,) * len(bounds)
        cumulative, running = [], 0
        for bound, n in zip(bounds, counts):
            running += n
            cumulative.append((bound, float(running)))
        latency.add_metric([c.name], cumulative, h.total if h is not None else 0.0)
        if c.last is not None:
            attempts.add_metric([c.name], float(c.last.attempts))
            last_run.add_metric([c.name], c.last.finished_at)

    breaker_state = GaugeMetricFamily(
        "healthdash_breaker_state", "1 for the breaker's current state, 0 for the others.", labels=["breaker", "state"]
    )
    failure_rate = GaugeMetricFamily(
        "healthdash_breaker_failure_rate",
        "Percent of failed calls in the breaker's window (absent without calls).",
        labels=["breaker"],
    )
    states = tuple(s.value for s in BreakerState)
    for b in snap.breakers:
        _one_of(breaker_state, [b.name], states, b.state.value)
        if b.failure_rate is not None:
            failure_rate.add_metric([b.name], b.failure_rate)

    service = GaugeMetricFamily(
        "healthdash_service_status", "1 for the service's current status, 0 for the others.", labels=["service", "status"]
    )
    healths = tuple(h.value for h in ServiceHealth)
    for s in snap.services:
        _one_of(service, [s.name], healths, s.status.value)

    alerts = GaugeMetricFamily("healthdash_alerts", "Alerts on the board by priority and state.", labels=["priority", "state"])
    tally = {(p, st): 0 for p in PRIORITIES for st in AlertState}
    for a in snap.alerts:
        key = (min(4, max(1, a.priority)), a.state)
        tally[key] = tally.get(key, 0) + 1
    for (p, st), n in tally.items():
        alerts.add_metric([f"P{p}", st.value], float(n))

    return [
        up, status, latency, attempts, last_run, breaker_state, failure_rate, service, alerts,
        GaugeMetricFamily("healthdash_monitor_offline", "1 while a canary check fails.", value=float(snap.offline)),
        GaugeMetricFamily("healthdash_agent_up", "1 while the agent answers.", value=1.0),
        GaugeMetricFamily("healthdash_agent_checks", "Checks the agent runs.", value=float(len(snap.checks))),
        GaugeMetricFamily(
            "healthdash_agent_scheduler_lag_seconds",
            "99th percentile of how late recent runs started.",
            value=scrape.lag_p99 or 0.0,
        ),
    ]
