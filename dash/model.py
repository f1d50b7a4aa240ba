"""The data that crosses boundaries: statuses, reasons, metrics and check results.

Everything here is immutable. Probes produce `Outcome`s, the engine wraps them into
`CheckResult`s, and the core folds results into a `Snapshot` that every reader
(TUI, store, agent, CLI) renders.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field


class Status(str, enum.Enum):
    """A check's verdict, with Nagios' meaning and exit codes."""

    OK = "ok"
    WARN = "warn"
    CRIT = "crit"
    UNKNOWN = "unknown"

    # Hash as the string does: equal to "ok" already, and C-fast (Enum's own hash is Python
    # code, paid on every dict lookup of 1000 checks a second).
    __hash__ = str.__hash__

    @property
    def exit_code(self) -> int:
        """The Nagios plugin exit code: 0 ok, 1 warn, 2 crit, 3 unknown."""
        return _EXIT_CODES[self]

    @property
    def severity(self) -> int:
        """Rank for "worst first": crit > unknown > warn > ok."""
        return _SEVERITY[self]

    @classmethod
    def worst(cls, statuses: "list[Status] | tuple[Status, ...]") -> "Status":
        """The most severe of `statuses`; ok when there are none."""
        return max(statuses, key=lambda s: s.severity, default=cls.OK)

    @classmethod
    def from_exit_code(cls, code: int) -> "Status":
        """Map a Nagios exit code to a status; anything unexpected is unknown."""
        return {0: cls.OK, 1: cls.WARN, 2: cls.CRIT}.get(code, cls.UNKNOWN)


_EXIT_CODES = {Status.OK: 0, Status.WARN: 1, Status.CRIT: 2, Status.UNKNOWN: 3}
_SEVERITY = {Status.OK: 0, Status.WARN: 1, Status.UNKNOWN: 2, Status.CRIT: 3}


class Reason(str, enum.Enum):
    """Why a check has the status it has: the first question on call."""

    OK = "ok"
    DNS = "dns"
    CONNECT = "connect"
    TLS = "tls"
    TIMEOUT = "timeout"
    HTTP_STATUS = "http_status"
    ASSERTION = "assertion"
    BODY_LIMIT = "body_limit"
    EXEC = "exec"
    THRESHOLD = "threshold"
    INTERNAL = "internal"

    __hash__ = str.__hash__


@dataclass(frozen=True, slots=True)
class Metric:
    """One measured value, e.g. Nagios perfdata or a host reading."""

    name: str
    value: float
    unit: str = ""
    warn: float | None = None
    crit: float | None = None
    min: float | None = None
    max: float | None = None


@dataclass(frozen=True, slots=True)
class Outcome:
    """What one probe attempt found. Produced by `checks/`, never raises.

    `retryable` marks transient failures (connect, timeout, HTTP 5xx, DNS server
    failure) that the engine may retry within the check's deadline.
    `detail` carries longer literal text for the detail screen (e.g. the start of a
    response body or program output), already neutralised.
    """

    status: Status
    reason: Reason
    message: str
    metrics: tuple[Metric, ...] = ()
    retryable: bool = False
    detail: str = ""

    @classmethod
    def ok(cls, message: str, metrics: tuple[Metric, ...] = (), detail: str = "") -> "Outcome":
        return cls(Status.OK, Reason.OK, message, metrics, False, detail)


@dataclass(frozen=True, slots=True)
class CheckResult:
    """One completed check cycle (all its attempts), as the engine reports it.

    Times: `started_at`/`finished_at` are wall-clock epoch seconds for display and
    storage; `latency` is the duration of the last attempt in seconds.
    `attempts` counts probe attempts in this cycle: a passing result with
    attempts > 1 "passed after retry".
    """

    check: str
    kind: str
    status: Status
    reason: Reason
    message: str
    latency: float
    attempts: int
    started_at: float
    finished_at: float
    metrics: tuple[Metric, ...] = ()
    detail: str = ""
    lag: float = 0.0

    @property
    def passed_after_retry(self) -> bool:
        return self.status is Status.OK and self.attempts > 1

    @property
    def latency_ms(self) -> float:
        return round(self.latency * 1000.0, 1)

    def to_dict(self) -> dict:
        """The JSON shape used by `healthdash check --format json`."""
        return {
            "name": self.check,
            "kind": self.kind,
            "status": self.status.value,
            "reason": self.reason.value,
            "latency_ms": self.latency_ms,
            "message": self.message,
            "attempts": self.attempts,
            "passed_after_retry": self.passed_after_retry,
            "metrics": [
                {k: getattr(m, k) for k in ("name", "value", "unit", "warn", "crit", "min", "max")}
                for m in self.metrics
            ],
            "started_at": self.started_at,
            "finished_at": self.finished_at,
        }


@dataclass(frozen=True, slots=True)
class CheckState:
    """Everything the dashboard knows about one check at one moment."""

    name: str
    kind: str
    interval: float
    tags: tuple[str, ...] = ()
    last: CheckResult | None = None
    history: tuple[CheckResult, ...] = ()
    status_since: float | None = None
    running: bool = False

    @property
    def status(self) -> Status:
        return self.last.status if self.last else Status.UNKNOWN

    def is_stale(self, now: float) -> bool:
        """True when the last result is older than twice the interval."""
        if self.last is None:
            return False
        return now - self.last.finished_at > 2 * self.interval


@dataclass(frozen=True, slots=True)
class Snapshot:
    """The whole board at one moment: what the TUI, store and agent render."""

    generated_at: float
    checks: tuple[CheckState, ...] = ()
    paused: bool = False
    title: str = "healthdash"
    errors: tuple[str, ...] = field(default=())
    breakers: tuple = ()  # BreakerSnapshot from dash.core.breaker, one per dependency
    services: tuple = ()  # ServiceStatus from dash.core.services, in config order
    alerts: tuple = ()  # Alert from dash.core.alerts: open ones and recently resolved
    silences: tuple = ()  # Silence from dash.core.alerts, active ones
    offline: bool = False  # a canary is failing: the monitor's own network is in doubt
    slos: tuple = ()  # SLOReport from dash.core.slo, one per configured SLO
    external: tuple = ()  # ExternalAlert from dash.alertmanager: Alertmanager's alerts, not ours

    def breaker(self, name: str):
        """The snapshot of breaker `name`, or None."""
        for b in self.breakers:
            if b.name == name:
                return b
        return None

    def counts(self) -> dict[Status, int]:
        out = {s: 0 for s in Status}
        for c in self.checks:
            out[c.status] += 1
        return out

    @property
    def verdict(self) -> Status:
        return Status.worst([c.status for c in self.checks if c.last is not None])


class BreakerState(str, enum.Enum):
    """A circuit breaker's state, ours or a watched application's (resilience4j names)."""

    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half_open"
    FORCED_OPEN = "forced_open"
    FORCED_CLOSED = "forced_closed"
    METRICS_ONLY = "metrics_only"
    DISABLED = "disabled"

    __hash__ = str.__hash__

    @property
    def label(self) -> str:
        """Upper-case display form: CLOSED, OPEN, HALF-OPEN, FORCED-OPEN, ..."""
        return self.value.upper().replace("_", "-")

    @property
    def blocks(self) -> bool:
        """True when normal probes must not be sent."""
        return self in (BreakerState.OPEN, BreakerState.FORCED_OPEN)


@dataclass(frozen=True, slots=True)
class OperatorNote:
    """A one-line note an operator wrote during an incident, for the timeline."""

    at: float
    text: str
    check: str | None = None
    by: str = ""
