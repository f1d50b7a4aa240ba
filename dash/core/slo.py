"""SLOs: availability, error budgets, multi-window burn-rate alerts, MTTR and MTBF.

Pure: no I/O, no clock. Times are epoch seconds passed in; windows are seconds and
always end at `now` (a window of w covers [now - w, now)).

Decisions, written down:

- Availability is request-based: good events / total events over the window, from
  per-minute aggregates (`Minute`). A minute covers [start, start + 60) and belongs
  to a window when its start lies in the window. It is reported in percent, like
  the target; None when the window holds no events.
- Time while the monitor itself was offline is not charged: a minute flagged
  `excluded` counts for nothing (neither events nor data coverage). The store sets it
  for minutes in which a canary was crit (see `dash.core.services.monitor_offline`).
- Error budget: the allowed bad fraction is 1 - target/100; budget left =
  1 - bad fraction / allowed, in percent. It goes negative once overspent, and is
  100% with no events (nothing spent).
- Burn rate over a window = bad fraction in the window / allowed bad fraction
  (1.0 spends the budget exactly over the SLO window). None with no events.
- Burn alerts follow the multi-window, multi-burn-rate table of Google's SRE
  workbook ("Alerting on SLOs", written for a 30-day SLO): page at 14.4x over 1h
  and 5m, page at 6x over 6h and 30m, ticket at 3x over 1d and 2h, ticket at 1x over
  3d and 6h. A pair fires when BOTH windows burn at >= the rate (at exactly the
  rate it fires: that is the point at which the rule's share of the budget is
  spent). Ratios are compared exactly (as fractions), so 14.4x is 14.4x.
- Little data: each window is computed over the minutes that exist, and carries how
  many seconds of data back it (`covered`). A pair may only fire once the long
  window holds at least the short window's length of data, so a 3d rule does not
  fire on ten minutes of history, yet a fresh outage still pages once the short
  window is full.
- MTTR and MTBF come from status changes of one subject: "down" is crit (or a
  service's "down"); "up" is ok or warn (or "degraded"); unknown changes nothing
  (the last known state holds until a known status says otherwise). An incident is
  a down period that starts inside the window. MTTR = mean duration of the incidents
  that have ended; MTBF = up time inside the window / number of incidents (the
  usual "mean operating time between failures"). None when undefined.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from fractions import Fraction
from itertools import accumulate
from typing import Literal

from dash.config import SLO

__all__ = [
    "BURN_RULES", "SLO", "BurnAlert", "BurnRule", "Minute", "Reliability", "SLOReport", "WindowValue",
    "allowed_bad_fraction", "availability", "budget_left", "burn_alerts", "burn_rate", "reliability", "report",
]

MINUTE = 60.0
HOUR = 3600.0
DAY = 86400.0

Severity = Literal["page", "ticket"]


@dataclass(frozen=True, slots=True)
class BurnRule:
    """One row of the workbook's table: fire `severity` when both windows burn >= rate."""

    severity: Severity
    rate: float
    long_window: float
    short_window: float


# Google SRE workbook, chapter 5, "recommended parameters" (for a 30-day SLO)
BURN_RULES: tuple[BurnRule, ...] = (
    BurnRule("page", 14.4, HOUR, 5 * MINUTE),
    BurnRule("page", 6.0, 6 * HOUR, 30 * MINUTE),
    BurnRule("ticket", 3.0, DAY, 2 * HOUR),
    BurnRule("ticket", 1.0, 3 * DAY, 6 * HOUR),
)
REPORT_BURN_WINDOWS = (HOUR, 6 * HOUR, DAY, 3 * DAY)
REPORT_AVAILABILITY_WINDOWS = (HOUR, DAY, 7 * DAY, 30 * DAY)


@dataclass(frozen=True, slots=True)
class Minute:
    """One minute of one subject's results: `count` events of which `failures` bad
    (the store counts crit results as bad, the same "down" as MTTR). `excluded`
    marks a minute the monitor itself was offline: it is not charged."""

    start: float
    count: int
    failures: int
    excluded: bool = False


@dataclass(frozen=True, slots=True)
class BurnAlert:
    """A firing burn-rate condition, with the burn measured over both windows."""

    severity: Severity
    long_window: float
    short_window: float
    rate: float
    long_burn: float
    short_burn: float


@dataclass(frozen=True, slots=True)
class WindowValue:
    """A value over the window ending now, e.g. a burn rate or an availability;
    None without events. `covered` is the seconds of data behind it."""

    window: float
    value: float | None
    covered: float


@dataclass(frozen=True, slots=True)
class Reliability:
    """MTTR and MTBF (seconds, None when undefined) and incidents within a window."""

    mttr: float | None
    mtbf: float | None
    incidents: int


@dataclass(frozen=True, slots=True)
class SLOReport:
    """Everything the SLO screen shows for one subject at one moment.

    `availability` (percent) and `budget_left` (percent, may be negative) are over
    the SLO window, backed by `covered` seconds of data. `burn_rates` are for 1h, 6h,
    24h and 3d; `availabilities` for 1h, 24h, 7d and 30d.
    """

    subject: str
    target: float
    window: float
    availability: float | None
    budget_left: float
    covered: float
    burn_rates: tuple[WindowValue, ...]
    availabilities: tuple[WindowValue, ...]
    mttr: float | None
    mtbf: float | None
    incidents: int
    burn_alerts: tuple[BurnAlert, ...]

    def burn(self, window: float) -> float | None:
        """The burn rate over `window` seconds (one of `burn_rates`), or None."""
        return next((w.value for w in self.burn_rates if w.window == window), None)


@dataclass(frozen=True, slots=True)
class _Counts:
    total: int
    bad: int
    covered: float


class _Series:
    """Minutes sorted once, with running sums, so each window is two bisections."""

    def __init__(self, minutes: Iterable[Minute]) -> None:
        kept = sorted((m for m in minutes if not m.excluded and m.count > 0), key=lambda m: m.start)
        self._starts = [m.start for m in kept]
        self._total = [0, *accumulate(m.count for m in kept)]
        self._bad = [0, *accumulate(min(max(m.failures, 0), m.count) for m in kept)]

    def counts(self, now: float, window: float) -> _Counts:
        lo = bisect.bisect_left(self._starts, now - window)
        hi = bisect.bisect_left(self._starts, now)
        return _Counts(self._total[hi] - self._total[lo], self._bad[hi] - self._bad[lo], (hi - lo) * MINUTE)


def allowed_bad_fraction(target: float) -> float:
    """The error budget as a fraction of events: 1 - target/100 (99.9 -> 0.001).
    ValueError unless 0 < target < 100 (a 100% target has no budget to burn)."""
    return float(_allowed(target))


def _allowed(target: float) -> Fraction:
    if not 0 < target < 100:
        raise ValueError(f"an SLO target must be above 0 and below 100 percent, not {target:g}")
    return 1 - Fraction(repr(float(target))) / 100  # exact: 99.9 -> 1/1000, not 0.0010000000000000009


def _burn(c: _Counts, allowed: Fraction) -> Fraction | None:
    return None if c.total == 0 else Fraction(c.bad, c.total) / allowed


def _availability(c: _Counts) -> float | None:
    return None if c.total == 0 else 100.0 * (c.total - c.bad) / c.total


def _budget_left(c: _Counts, allowed: Fraction) -> float:
    burn = _burn(c, allowed)
    return 100.0 if burn is None else float(100 * (1 - burn))


def availability(minutes: Iterable[Minute], now: float, window: float) -> float | None:
    """Percent of good events over the window ending at `now`; None without events."""
    return _availability(_Series(minutes).counts(now, window))


def budget_left(minutes: Iterable[Minute], now: float, window: float, target: float) -> float:
    """Percent of the error budget left over the window: 100 * (1 - bad/allowed).
    Negative once overspent; 100 without events."""
    return _budget_left(_Series(minutes).counts(now, window), _allowed(target))


def burn_rate(minutes: Iterable[Minute], now: float, window: float, target: float) -> float | None:
    """Bad fraction over the window / allowed bad fraction; None without events."""
    burn = _burn(_Series(minutes).counts(now, window), _allowed(target))
    return None if burn is None else float(burn)


def burn_alerts(
    minutes: Iterable[Minute], now: float, target: float, rules: Sequence[BurnRule] = BURN_RULES
) -> list[BurnAlert]:
    """The burn-rate conditions that fire now, in `rules` order (most urgent first)."""
    return _burn_alerts(_Series(minutes), now, _allowed(target), rules)


def _burn_alerts(series: _Series, now: float, allowed: Fraction, rules: Sequence[BurnRule]) -> list[BurnAlert]:
    out = []
    for rule in rules:
        long, short = series.counts(now, rule.long_window), series.counts(now, rule.short_window)
        if long.covered < rule.short_window:  # too little history to judge this pair
            continue
        long_burn, short_burn = _burn(long, allowed), _burn(short, allowed)
        rate = Fraction(repr(float(rule.rate)))
        if long_burn is not None and short_burn is not None and long_burn >= rate and short_burn >= rate:
            out.append(
                BurnAlert(rule.severity, rule.long_window, rule.short_window, rule.rate, float(long_burn), float(short_burn))
            )
    return out


_DOWN = frozenset({"crit", "down"})
_UP = frozenset({"ok", "warn", "degraded"})


def reliability(changes: Iterable[tuple[float, object]], now: float, window: float) -> Reliability:
    """MTTR, MTBF and the number of incidents in [now - window, now] from one
    subject's status changes (at, status), in time order. See the module docstring."""
    start = now - window
    state: str | None = None  # "up", "down", or None before the first known status
    since = start  # when `state` began, clipped to the window
    down_at: float | None = None  # start of the current down period (maybe before the window)
    repairs: list[float] = []
    incidents = 0
    up_time = 0.0
    for at, status in changes:
        if at > now:
            break
        value = str(getattr(status, "value", status))
        new = "down" if value in _DOWN else "up" if value in _UP else None
        if new is None or new == state:  # unknown, or no change
            continue
        if state == "up":
            up_time += max(0.0, at - max(since, start))
        if new == "down":
            down_at = at
            if at >= start:  # one that began before the window belongs to an earlier one
                incidents += 1
        elif down_at is not None:
            if down_at >= start:  # an incident of this window has ended
                repairs.append(at - down_at)
            down_at = None
        state, since = new, at
    if state == "up":
        up_time += max(0.0, now - max(since, start))
    mttr = sum(repairs) / len(repairs) if repairs else None
    mtbf = up_time / incidents if incidents else None
    return Reliability(mttr, mtbf, incidents)


def report(
    subject: str,
    slo: SLO,
    minutes: Iterable[Minute],
    changes: Iterable[tuple[float, object]],
    now: float,
    rules: Sequence[BurnRule] = BURN_RULES,
) -> SLOReport:
    """The SLO screen's numbers for `subject` at `now` (see `SLOReport`)."""
    allowed = _allowed(slo.target)
    series = _Series(minutes)
    whole = series.counts(now, slo.window)

    def burn(window: float) -> WindowValue:
        c = series.counts(now, window)
        b = _burn(c, allowed)
        return WindowValue(window, None if b is None else float(b), c.covered)

    def avail(window: float) -> WindowValue:
        c = series.counts(now, window)
        return WindowValue(window, _availability(c), c.covered)

    rel = reliability(changes, now, slo.window)
    return SLOReport(
        subject=subject,
        target=slo.target,
        window=slo.window,
        availability=_availability(whole),
        budget_left=_budget_left(whole, allowed),
        covered=whole.covered,
        burn_rates=tuple(burn(w) for w in REPORT_BURN_WINDOWS),
        availabilities=tuple(avail(w) for w in REPORT_AVAILABILITY_WINDOWS),
        mttr=rel.mttr,
        mtbf=rel.mtbf,
        incidents=rel.incidents,
        burn_alerts=tuple(_burn_alerts(series, now, allowed, rules)),
    )
