"""The agent's JSON: a Snapshot to a document and back, as pure functions.

`snapshot_to_json` is what `/api/state` serves; `snapshot_from_json` rebuilds a
`Snapshot` (CheckState, CheckResult, BreakerSnapshot, ServiceStatus, Alert,
Silence) well enough for the TUI to render a remote agent's board.

The decoder is the boundary for text from another machine: every string goes
through `dash.text.clean()`, a missing or mistyped key falls back to a default,
and items that are not objects are skipped. Only a document that is not a JSON
object at all raises (`WireError`).

Times: `generated_at`, `status_since`, `last_run`, result and alert times are wall
clock epoch seconds. Breaker times (`last_transition_at`, transition `at`) are the
agent's monotonic seconds, meaningful only against the document's `monotonic_now`
(`age = monotonic_now - last_transition_at`), which `extras_from_json` returns
along with the check -> breaker map the TUI needs.
"""

from __future__ import annotations

import enum
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

from dash.alertmanager import ExternalAlert
from dash.core.alerts import Alert, AlertState, Silence
from dash.core.breaker import BreakerSettings, BreakerSnapshot, BreakerTransition
from dash.core.services import ServiceHealth, ServiceStatus
from dash.core.slo import BurnAlert, SLOReport, WindowValue
from dash.model import BreakerState, CheckResult, CheckState, Metric, Reason, Snapshot, Status
from dash.text import clean

PENDING = "pending"  # the status of a check with no result yet
NAME_LIMIT = 200
TEXT_LIMIT = 1000
DETAIL_LIMIT = 8000

E = TypeVar("E", bound=enum.Enum)


class WireError(ValueError):
    """The document is not a JSON object, so there is no snapshot in it."""


@dataclass(frozen=True, slots=True)
class WireExtras:
    """What a remote board needs besides the Snapshot.

    `breaker_of` maps check names to breaker names; `monotonic_now` is the agent's
    monotonic clock when the document was made (None if absent); `notes` the
    operator notes as plain dicts ({"id", "at", "text", "check", "by"}).
    """

    breaker_of: Mapping[str, str]
    monotonic_now: float | None
    notes: tuple[Mapping[str, Any], ...] = ()


# -- encoding --------------------------------------------------------------------------


def _num(x: float | None) -> float | None:
    """A finite float, or None: JSON has no NaN or infinity."""
    if x is None or not math.isfinite(x):
        return None
    return float(x)


def _ms(seconds: float) -> float | None:
    return _num(round(seconds * 1000.0, 3))


def metric_to_json(m: Metric) -> dict[str, Any]:
    """One metric as a JSON object."""
    return {
        "name": m.name,
        "value": _num(m.value),
        "unit": m.unit,
        "warn": _num(m.warn),
        "crit": _num(m.crit),
        "min": _num(m.min),
        "max": _num(m.max),
    }


def result_to_json(r: CheckResult) -> dict[str, Any]:
    """One result of a check's recent history; metrics, detail and lag only when set."""
    out: dict[str, Any] = {
        "status": r.status.value,
        "reason": r.reason.value,
        "message": r.message,
        "latency_ms": _ms(r.latency),
        "attempts": r.attempts,
        "started_at": _num(r.started_at),
        "finished_at": _num(r.finished_at),
    }
    if r.lag:
        out["lag"] = _num(r.lag)
    if r.metrics:
        out["metrics"] = [metric_to_json(m) for m in r.metrics]
    if r.detail:
        out["detail"] = r.detail
    return out


def _breaker_brief(b: BreakerSnapshot) -> dict[str, Any]:
    return {
        "name": b.name,
        "state": b.state.value,
        "failure_rate": _num(b.failure_rate),
        "calls": b.calls,
        "next_trial_in": _num(b.next_trial_in),
    }


def check_to_json(state: CheckState, breaker: BreakerSnapshot | None = None, *, results: bool = True) -> dict[str, Any]:
    """One check: its last result flattened, its recent history (in full unless `results`
    is False: statuses only), and its breaker in brief."""
    last = state.last
    out = {
        "name": state.name,
        "kind": state.kind,
        "interval": _num(state.interval),
        "tags": list(state.tags),
        "running": state.running,
        "status": last.status.value if last else PENDING,
        "reason": last.reason.value if last else None,
        "latency_ms": _ms(last.latency) if last else None,
        "message": last.message if last else "",
        "attempts": last.attempts if last else None,
        "status_since": _num(state.status_since),
        "started_at": _num(last.started_at) if last else None,
        "last_run": _num(last.finished_at) if last else None,
        "lag": _num(last.lag) if last else None,
        "metrics": [metric_to_json(m) for m in last.metrics] if last else [],
        "detail": last.detail if last else "",
        "history": [r.status.value for r in state.history],
        "breaker": _breaker_brief(breaker) if breaker is not None else None,
    }
    if results:
        out["results"] = [result_to_json(r) for r in state.history]
    return out


def service_to_json(s: ServiceStatus) -> dict[str, Any]:
    """One service's status."""
    return {
        "name": s.name,
        "status": s.status.value,
        "modes": list(s.modes),
        "because": list(s.because),
        "root_causes": list(s.root_causes),
        "tier": s.tier,
    }


def alert_to_json(a: Alert) -> dict[str, Any]:
    """One alert; `first_seen` is when this firing episode started."""
    return {
        "fingerprint": a.fingerprint,
        "subject": a.subject,
        "name": a.name,
        "priority": a.priority,
        "priority_reason": a.priority_reason,
        "state": a.state.value,
        "severity": a.severity,
        "current": a.current,
        "message": a.message,
        "count": a.count,
        "first_seen": _num(a.started_at),
        "last_seen": _num(a.last_seen),
        "resolved_at": _num(a.resolved_at),
        "root_cause": a.root_cause,
        "symptoms": list(a.symptoms),
        "flapping": a.flapping,
        "flap_percent": _num(a.flap_percent),
        "acknowledged_by": a.acked_by,
        "ack_comment": a.ack_comment,
        "ack_until": _num(a.ack_until),
        "silenced_by": a.silenced_by,
        "silence_reason": a.silence_reason,
        "paged": a.paged,
    }


def silence_to_json(s: Silence) -> dict[str, Any]:
    """One active silence."""
    return {
        "id": s.id,
        "match": s.match,
        "tags": list(s.tags),
        "until": _num(s.until),
        "created_at": _num(s.created_at),
        "by": s.by,
        "comment": s.comment,
    }


def breaker_to_json(b: BreakerSnapshot) -> dict[str, Any]:
    """One breaker in full: rates in %, latencies in seconds, times on the agent's monotonic clock."""
    st = b.settings
    return {
        "name": b.name,
        "state": b.state.value,
        "failure_rate": _num(b.failure_rate),
        "slow_rate": _num(b.slow_rate),
        "calls": b.calls,
        "failures": b.failures,
        "slow_calls": b.slow_calls,
        "calls_per_minute": _num(b.calls_per_minute),
        "p50": _num(b.p50),
        "p90": _num(b.p90),
        "p99": _num(b.p99),
        "next_trial_in": _num(b.next_trial_in),
        "open_for": _num(b.open_for),
        "last_transition_at": _num(b.last_transition_at),
        "last_transition_cause": b.last_transition_cause,
        "error_rates": [_num(x) for x in b.error_rates],
        "transitions": [
            {"at": _num(t.at), "before": t.before.value, "after": t.after.value, "cause": t.cause}
            for t in b.transitions
        ],
        "settings": {
            "window": st.window,
            "min_calls": st.min_calls,
            "failure_rate": st.failure_rate,
            "slow_rate": st.slow_rate,
            "slow_call": st.slow_call,
            "open_for": st.open_for,
            "open_for_max": st.open_for_max,
            "enabled": st.enabled,
        },
    }


def snapshot_to_json(
    snapshot: Snapshot,
    *,
    breaker_of: Mapping[str, str] | None = None,
    monotonic_now: float | None = None,
    results: bool = True,
) -> dict[str, Any]:
    """The board as a JSON-ready dict (what `/api/state` serves).

    `breaker_of` maps check names to breaker names (a check's own name when absent);
    `monotonic_now` is the engine clock's monotonic time, so readers can age the
    breakers' transition times. `results=False` leaves out each check's recent
    results (their statuses stay in "history"): a fraction of the size.
    """
    breakers = {b.name: b for b in snapshot.breakers}
    mapping = breaker_of or {}
    return {
        "title": snapshot.title,
        "generated_at": _num(snapshot.generated_at),
        "monotonic_now": _num(monotonic_now),
        "paused": snapshot.paused,
        "offline": snapshot.offline,
        "errors": list(snapshot.errors),
        "checks": [
            check_to_json(c, breakers.get(mapping.get(c.name, c.name)), results=results) for c in snapshot.checks
        ],
        "services": [service_to_json(s) for s in snapshot.services],
        "alerts": [alert_to_json(a) for a in snapshot.alerts],
        "silences": [silence_to_json(s) for s in snapshot.silences],
        "breakers": [breaker_to_json(b) for b in snapshot.breakers],
        "slos": [slo_to_json(r) for r in snapshot.slos],
        "external": [external_to_json(a) for a in snapshot.external],
    }


def external_to_json(a: ExternalAlert) -> dict[str, Any]:
    return {
        "fingerprint": a.fingerprint,
        "name": a.name,
        "labels": dict(a.labels),
        "summary": a.summary,
        "severity": a.severity,
        "state": a.state,
        "starts_at": _num(a.starts_at),
        "source": a.source,
    }


def _window_to_json(w: WindowValue) -> dict[str, Any]:
    return {"window": w.window, "value": _num(w.value), "covered": w.covered}


def slo_to_json(r: SLOReport) -> dict[str, Any]:
    return {
        "subject": r.subject,
        "target": r.target,
        "window": r.window,
        "availability": _num(r.availability),
        "budget_left": _num(r.budget_left),
        "covered": r.covered,
        "burn_rates": [_window_to_json(w) for w in r.burn_rates],
        "availabilities": [_window_to_json(w) for w in r.availabilities],
        "mttr": _num(r.mttr),
        "mtbf": _num(r.mtbf),
        "incidents": r.incidents,
        "burn_alerts": [
            {k: getattr(b, k) for k in ("severity", "long_window", "short_window", "rate", "long_burn", "short_burn")}
            for b in r.burn_alerts
        ],
    }


# -- decoding: never raises on a partial or mistyped document ----------------------------


def _get(d: Mapping[str, Any], key: str) -> Any:
    return d.get(key) if isinstance(d, Mapping) else None


def _text(d: Mapping[str, Any], key: str, default: str = "", *, limit: int = TEXT_LIMIT, one_line: bool = True) -> str:
    v = _get(d, key)
    return clean(v, limit=limit, one_line=one_line) if isinstance(v, str) else default


def _opt_text(d: Mapping[str, Any], key: str, *, limit: int = TEXT_LIMIT) -> str | None:
    v = _get(d, key)
    return clean(v, limit=limit) if isinstance(v, str) else None


def _float(d: Mapping[str, Any], key: str, default: float = 0.0) -> float:
    v = _opt_float(d, key)
    return default if v is None else v


def _opt_float(d: Mapping[str, Any], key: str) -> float | None:
    v = _get(d, key)
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        return None
    return float(v) if math.isfinite(v) else None


def _int(d: Mapping[str, Any], key: str, default: int = 0) -> int:
    v = _get(d, key)
    if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
        return default
    return int(v)


def _bool(d: Mapping[str, Any], key: str, default: bool = False) -> bool:
    v = _get(d, key)
    return v if isinstance(v, bool) else default


def _enum(cls: type[E], value: Any, default: E) -> E:
    try:
        return cls(value)
    except (ValueError, TypeError):
        return default


def _objects(v: Any) -> Iterable[Mapping[str, Any]]:
    return (x for x in v if isinstance(x, Mapping)) if isinstance(v, list) else ()


def _strings(v: Any, *, limit: int = TEXT_LIMIT) -> tuple[str, ...]:
    return tuple(clean(x, limit=limit) for x in v if isinstance(x, str)) if isinstance(v, list) else ()


def metric_from_json(d: Mapping[str, Any]) -> Metric:
    """A metric; a missing value reads as NaN (the encoder writes None for non-finite ones)."""
    return Metric(
        name=_text(d, "name", limit=NAME_LIMIT),
        value=_float(d, "value", math.nan),
        unit=_text(d, "unit", limit=20),
        warn=_opt_float(d, "warn"),
        crit=_opt_float(d, "crit"),
        min=_opt_float(d, "min"),
        max=_opt_float(d, "max"),
    )


def result_from_json(d: Mapping[str, Any], check: str, kind: str) -> CheckResult:
    """One result of check `check`."""
    finished = _float(d, "finished_at", _float(d, "last_run"))
    return CheckResult(
        check=check,
        kind=kind,
        status=_enum(Status, _get(d, "status"), Status.UNKNOWN),
        reason=_enum(Reason, _get(d, "reason"), Reason.INTERNAL),
        message=_text(d, "message"),
        latency=_float(d, "latency_ms") / 1000.0,
        attempts=_int(d, "attempts", 1),
        started_at=_float(d, "started_at", finished),
        finished_at=finished,
        metrics=tuple(metric_from_json(m) for m in _objects(_get(d, "metrics"))),
        detail=_text(d, "detail", limit=DETAIL_LIMIT, one_line=False),
        lag=_float(d, "lag"),
    )


def check_from_json(d: Mapping[str, Any]) -> CheckState:
    """A check's state: the last result from the flat fields, the history from `results`
    (or, failing that, from the bare `history` statuses)."""
    name = _text(d, "name", limit=NAME_LIMIT)
    kind = _text(d, "kind", limit=NAME_LIMIT)
    status = _get(d, "status")
    last = result_from_json(d, name, kind) if isinstance(status, str) and status != PENDING else None
    results = list(_objects(_get(d, "results")))
    statuses = _get(d, "history")
    history: list[CheckResult] = []
    if results:
        history = [result_from_json(r, name, kind) for r in results]
        if last is not None and history[-1].finished_at == last.finished_at and history[-1].status is last.status:
            history[-1] = last  # the same result: keep one object with the fullest fields
    elif isinstance(statuses, list):  # only statuses: enough for the history strip, not for details
        history = [
            CheckResult(name, kind, _enum(Status, s, Status.UNKNOWN), Reason.OK, "", 0.0, 1, 0.0, 0.0)
            for s in statuses
        ]
        if last is not None and history and history[-1].status is last.status:
            history[-1] = last  # the history ends with the last result: that one we know in full
    return CheckState(
        name=name,
        kind=kind,
        interval=_float(d, "interval", 60.0),
        tags=_strings(_get(d, "tags"), limit=NAME_LIMIT),
        last=last,
        history=tuple(history),
        status_since=_opt_float(d, "status_since"),
        running=_bool(d, "running"),
    )


def service_from_json(d: Mapping[str, Any]) -> ServiceStatus:
    """A service's status."""
    return ServiceStatus(
        name=_text(d, "name", limit=NAME_LIMIT),
        status=_enum(ServiceHealth, _get(d, "status"), ServiceHealth.UNKNOWN),
        modes=_strings(_get(d, "modes")),
        because=_strings(_get(d, "because")),
        root_causes=_strings(_get(d, "root_causes"), limit=NAME_LIMIT),
        tier=_int(d, "tier", 3),
    )


def alert_from_json(d: Mapping[str, Any]) -> Alert:
    """An alert."""
    first_seen = _float(d, "first_seen")
    return Alert(
        fingerprint=_text(d, "fingerprint", limit=NAME_LIMIT),
        subject=_text(d, "subject", "check", limit=20),
        name=_text(d, "name", limit=NAME_LIMIT),
        severity=_text(d, "severity", "unknown", limit=20),
        current=_text(d, "current", _text(d, "severity", "unknown", limit=20), limit=20),
        state=_enum(AlertState, _get(d, "state"), AlertState.FIRING),
        priority=min(4, max(1, _int(d, "priority", 3))),
        priority_reason=_text(d, "priority_reason"),
        message=_text(d, "message"),
        started_at=first_seen,
        last_seen=_float(d, "last_seen", first_seen),
        count=_int(d, "count", 1),
        resolved_at=_opt_float(d, "resolved_at"),
        root_cause=_opt_text(d, "root_cause", limit=NAME_LIMIT),
        symptoms=_strings(_get(d, "symptoms"), limit=NAME_LIMIT),
        flapping=_bool(d, "flapping"),
        flap_percent=_float(d, "flap_percent"),
        acked_by=_opt_text(d, "acknowledged_by", limit=80),
        ack_comment=_text(d, "ack_comment"),
        ack_until=_opt_float(d, "ack_until"),
        silenced_by=_opt_text(d, "silenced_by", limit=NAME_LIMIT),
        silence_reason=_text(d, "silence_reason"),
        paged=_bool(d, "paged"),
    )


def silence_from_json(d: Mapping[str, Any]) -> Silence:
    """An active silence."""
    return Silence(
        id=_text(d, "id", limit=NAME_LIMIT),
        until=_float(d, "until"),
        created_at=_float(d, "created_at"),
        match=_opt_text(d, "match", limit=NAME_LIMIT),
        tags=_strings(_get(d, "tags"), limit=NAME_LIMIT),
        by=_text(d, "by", limit=80),
        comment=_text(d, "comment"),
    )


def _settings_from_json(d: Any) -> BreakerSettings:
    base = BreakerSettings()
    if not isinstance(d, Mapping):
        return base
    return BreakerSettings(
        window=_float(d, "window", base.window),
        min_calls=_int(d, "min_calls", base.min_calls),
        failure_rate=_float(d, "failure_rate", base.failure_rate),
        slow_rate=_float(d, "slow_rate", base.slow_rate),
        slow_call=_float(d, "slow_call", base.slow_call),
        open_for=_float(d, "open_for", base.open_for),
        open_for_max=_float(d, "open_for_max", base.open_for_max),
        enabled=_bool(d, "enabled", base.enabled),
    )


def breaker_from_json(d: Mapping[str, Any]) -> BreakerSnapshot:
    """A breaker; the brief form inside a check decodes too (the rest at defaults)."""
    settings = _settings_from_json(_get(d, "settings"))
    return BreakerSnapshot(
        name=_text(d, "name", limit=NAME_LIMIT),
        state=_enum(BreakerState, _get(d, "state"), BreakerState.CLOSED),
        settings=settings,
        failure_rate=_opt_float(d, "failure_rate"),
        slow_rate=_opt_float(d, "slow_rate"),
        calls=_int(d, "calls"),
        failures=_int(d, "failures"),
        slow_calls=_int(d, "slow_calls"),
        calls_per_minute=_float(d, "calls_per_minute"),
        p50=_opt_float(d, "p50"),
        p90=_opt_float(d, "p90"),
        p99=_opt_float(d, "p99"),
        next_trial_in=_opt_float(d, "next_trial_in"),
        open_for=_float(d, "open_for", settings.open_for),
        last_transition_at=_float(d, "last_transition_at"),
        last_transition_cause=_text(d, "last_transition_cause"),
        error_rates=tuple(
            float(x) if isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x) else 0.0
            for x in (_get(d, "error_rates") if isinstance(_get(d, "error_rates"), list) else ())
        ),
        transitions=tuple(
            BreakerTransition(
                at=_float(t, "at"),
                before=_enum(BreakerState, _get(t, "before"), BreakerState.CLOSED),
                after=_enum(BreakerState, _get(t, "after"), BreakerState.CLOSED),
                cause=_text(t, "cause"),
            )
            for t in _objects(_get(d, "transitions"))
        ),
    )


def _require_object(doc: Any) -> Mapping[str, Any]:
    if not isinstance(doc, Mapping):
        raise WireError(f"expected a JSON object, got {type(doc).__name__}")
    return doc


def snapshot_from_json(doc: Any) -> Snapshot:
    """Rebuild a Snapshot from `/api/state`'s document.

    Missing or mistyped keys take defaults and non-object items are skipped; text is
    neutralised with `clean()`. Raises `WireError` only when `doc` is not an object.
    """
    d = _require_object(doc)
    return Snapshot(
        generated_at=_float(d, "generated_at"),
        checks=tuple(check_from_json(c) for c in _objects(_get(d, "checks"))),
        paused=_bool(d, "paused"),
        title=_text(d, "title", "healthdash", limit=NAME_LIMIT),
        errors=_strings(_get(d, "errors")),
        breakers=tuple(breaker_from_json(b) for b in _objects(_get(d, "breakers"))),
        services=tuple(service_from_json(s) for s in _objects(_get(d, "services"))),
        alerts=tuple(alert_from_json(a) for a in _objects(_get(d, "alerts"))),
        silences=tuple(silence_from_json(s) for s in _objects(_get(d, "silences"))),
        offline=_bool(d, "offline"),
        slos=tuple(slo_from_json(r) for r in _objects(_get(d, "slos"))),
        external=tuple(external_from_json(a) for a in _objects(_get(d, "external"))),
    )


def external_from_json(d: Mapping[str, Any]) -> ExternalAlert:
    labels = _get(d, "labels")
    return ExternalAlert(
        fingerprint=_text(d, "fingerprint", limit=NAME_LIMIT),
        name=_text(d, "name", limit=NAME_LIMIT),
        labels={
            clean(k, limit=NAME_LIMIT): clean(v, limit=TEXT_LIMIT)
            for k, v in (labels.items() if isinstance(labels, Mapping) else ())
            if isinstance(k, str) and isinstance(v, str)
        },
        summary=_text(d, "summary"),
        severity=_text(d, "severity", limit=NAME_LIMIT),
        state=_text(d, "state", "active", limit=NAME_LIMIT),
        starts_at=_opt_float(d, "starts_at"),
        source=_text(d, "source", "alertmanager", limit=NAME_LIMIT),
    )


def _windows_from_json(v: Any) -> tuple[WindowValue, ...]:
    return tuple(WindowValue(_float(w, "window"), _opt_float(w, "value"), _float(w, "covered")) for w in _objects(v))


def slo_from_json(d: Mapping[str, Any]) -> SLOReport:
    return SLOReport(
        subject=_text(d, "subject", limit=NAME_LIMIT),
        target=_float(d, "target"),
        window=_float(d, "window"),
        availability=_opt_float(d, "availability"),
        budget_left=_float(d, "budget_left", 100.0),
        covered=_float(d, "covered"),
        burn_rates=_windows_from_json(_get(d, "burn_rates")),
        availabilities=_windows_from_json(_get(d, "availabilities")),
        mttr=_opt_float(d, "mttr"),
        mtbf=_opt_float(d, "mtbf"),
        incidents=_int(d, "incidents"),
        burn_alerts=tuple(
            BurnAlert(
                "page" if _text(b, "severity") == "page" else "ticket",
                _float(b, "long_window"), _float(b, "short_window"), _float(b, "rate"),
                _float(b, "long_burn"), _float(b, "short_burn"),
            )
            for b in _objects(_get(d, "burn_alerts"))
        ),
    )


def extras_from_json(doc: Any) -> WireExtras:
    """The check -> breaker map, the agent's monotonic time and the notes of a document.

    Raises `WireError` only when `doc` is not an object.
    """
    d = _require_object(doc)
    breaker_of = {}
    for c in _objects(_get(d, "checks")):
        b = _get(c, "breaker")
        if isinstance(b, Mapping) and isinstance(_get(b, "name"), str):
            breaker_of[_text(c, "name", limit=NAME_LIMIT)] = _text(b, "name", limit=NAME_LIMIT)
    notes = tuple(
        {
            "id": _text(n, "id", limit=NAME_LIMIT),
            "at": _float(n, "at"),
            "text": _text(n, "text"),
            "check": _opt_text(n, "check", limit=NAME_LIMIT),
            "by": _text(n, "by", limit=80),
        }
        for n in _objects(_get(d, "notes"))
    )
    return WireExtras(breaker_of=breaker_of, monotonic_now=_opt_float(d, "monotonic_now"), notes=notes)
