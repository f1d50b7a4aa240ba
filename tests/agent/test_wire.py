"""The /api/state document: a snapshot survives the trip, and any document decodes."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dash.core.slo import BurnAlert, SLOReport, WindowValue
from dash.agent.wire import WireError, extras_from_json, snapshot_from_json, snapshot_to_json
from dash.core.alerts import Alert, AlertState, Silence
from dash.core.breaker import BreakerSettings, BreakerSnapshot, BreakerTransition
from dash.core.services import ServiceHealth, ServiceStatus
from dash.model import BreakerState, CheckResult, CheckState, Metric, Reason, Snapshot, Status

T0 = 1_700_000_000.0


def result(check: str, status: Status, at: float, **kw) -> CheckResult:
    base = dict(
        check=check, kind="http", status=status, reason=Reason.OK if status is Status.OK else Reason.HTTP_STATUS,
        message="200 OK" if status is Status.OK else "503 Service Unavailable", latency=0.25, attempts=1,
        started_at=at - 0.25, finished_at=at,
    )
    return CheckResult(**{**base, **kw})


def board() -> Snapshot:
    """A board with one of everything, values chosen to be exact in binary and JSON."""
    api_history = (
        result("api", Status.OK, T0 + 10),
        result("api", Status.CRIT, T0 + 20, attempts=3, lag=0.5, detail="upstream said:\n  no"),
    )
    host = result(
        "host", Status.WARN, T0 + 15, kind="host", reason=Reason.THRESHOLD, message="cpu 91%",
        metrics=(Metric("cpu_percent", 91.0, "%", warn=90.0, crit=95.0, min=0.0, max=100.0), Metric("load1", 3.5)),
    )
    db_breaker = BreakerSnapshot(
        name="db", state=BreakerState.OPEN, settings=BreakerSettings(window=30, min_calls=3, open_for=10),
        failure_rate=75.0, slow_rate=0.0, calls=4, failures=3, slow_calls=0, calls_per_minute=8.0,
        p50=0.125, p90=0.5, p99=0.5, next_trial_in=7.5, open_for=10.0, last_transition_at=1003.0,
        last_transition_cause="failure rate 75% >= 50% over 4 calls", error_rates=(0.0, 50.0, 100.0),
        transitions=(BreakerTransition(1003.0, BreakerState.CLOSED, BreakerState.OPEN, "failure rate 75%"),),
    )
    alert = Alert(
        fingerprint="check:api:unhealthy", subject="check", name="api", severity="crit", current="crit",
        state=AlertState.ACKNOWLEDGED, priority=2, priority_reason="P2: api crit; shop down",
        message="503 Service Unavailable", started_at=T0 + 20, last_seen=T0 + 20, count=2,
        symptoms=("service:shop:unhealthy",), flap_percent=12.5, acked_by="ana", ack_comment="on it",
        ack_until=T0 + 3600, paged=True,
    )
    symptom = Alert(
        fingerprint="service:shop:unhealthy", subject="service", name="shop", severity="down", current="down",
        state=AlertState.SYMPTOM, priority=2, priority_reason="P2: shop down (tier 3)", message="api crit",
        started_at=T0 + 21, last_seen=T0 + 21, count=1, root_cause="check:api:unhealthy",
    )
    return Snapshot(
        generated_at=T0 + 30,
        checks=(
            CheckState("api", "http", 10.0, ("web", "prod"), api_history[-1], api_history, T0 + 20, running=True),
            CheckState("host", "host", 5.0, (), host, (host,), T0 + 15),
            CheckState("cache", "tcp", 10.0),  # no result yet, no breaker in the snapshot
        ),
        paused=True,
        title="prod board",
        errors=("dash.toml:3: something",),
        breakers=(db_breaker,),
        services=(ServiceStatus("shop", ServiceHealth.DOWN, ("read-only",), ("api crit",), ("api",), tier=1),),
        alerts=(alert, symptom),
        silences=(Silence("s1", T0 + 7200, T0, match="db*", tags=("prod",), by="bo", comment="migration"),),
        offline=True,
        slos=(
            SLOReport(
                "checkout", 99.9, 2592000.0, 99.5, -400.0, 86400.0,
                (WindowValue(3600.0, 14.4, 3600.0),), (WindowValue(3600.0, None, 0.0),),
                120.0, None, 2, (BurnAlert("page", 3600.0, 300.0, 14.4, 15.0, 16.5),),
            ),
        ),
    )


def trip(snap: Snapshot, **kw) -> tuple[dict, Snapshot]:
    doc = json.loads(json.dumps(snapshot_to_json(snap, **kw), allow_nan=False))
    return doc, snapshot_from_json(doc)


def test_a_board_survives_the_round_trip_unchanged():
    snap = board()
    _, back = trip(snap, breaker_of={"db": "db"}, monotonic_now=1005.0)
    assert back == snap


def test_the_document_has_the_shape_scripts_read():
    doc, _ = trip(board(), breaker_of={"api": "db"}, monotonic_now=1005.0)
    assert set(doc) >= {"checks", "services", "alerts", "silences", "breakers", "offline", "paused", "title", "generated_at"}
    api = doc["checks"][0]
    assert {k: api[k] for k in ("name", "kind", "status", "reason", "latency_ms", "attempts", "tags")} == {
        "name": "api", "kind": "http", "status": "crit", "reason": "http_status", "latency_ms": 250.0,
        "attempts": 3, "tags": ["web", "prod"],
    }
    assert api["message"] == "503 Service Unavailable"
    assert api["history"] == ["ok", "crit"]
    assert api["status_since"] == T0 + 20 and api["last_run"] == T0 + 20
    assert api["breaker"] == {"name": "db", "state": "open", "failure_rate": 75.0, "calls": 4, "next_trial_in": 7.5}
    pending = doc["checks"][2]
    assert pending["status"] == "pending" and pending["last_run"] is None and pending["breaker"] is None
    assert doc["services"][0] == {
        "name": "shop", "status": "down", "modes": ["read-only"], "because": ["api crit"], "root_causes": ["api"], "tier": 1,
    }
    alert = doc["alerts"][0]
    assert alert["priority"] == 2 and alert["state"] == "acknowledged" and alert["acknowledged_by"] == "ana"
    assert alert["first_seen"] == T0 + 20 and alert["root_cause"] is None
    assert doc["alerts"][1]["root_cause"] == "check:api:unhealthy"
    assert doc["silences"][0]["id"] == "s1" and doc["silences"][0]["match"] == "db*"


def test_without_results_the_history_keeps_statuses_and_the_last_result_in_full():
    snap = board()
    doc, back = trip(snap, results=False)
    assert "results" not in doc["checks"][0] and doc["checks"][0]["history"] == ["ok", "crit"]
    api = back.checks[0]
    assert [r.status for r in api.history] == [Status.OK, Status.CRIT]
    assert api.history[-1] == api.last == snap.checks[0].last
    assert back.alerts == snap.alerts and back.breakers == snap.breakers


def test_extras_give_the_breaker_map_and_the_agent_clock():
    doc, _ = trip(board(), breaker_of={"api": "db"}, monotonic_now=1005.0)
    doc["notes"] = [{"id": "n1", "at": T0, "text": "restarted \x1b[2Jdb", "check": "db", "by": "ana"}, "junk"]
    extras = extras_from_json(doc)
    assert extras.breaker_of == {"api": "db"}
    assert extras.monotonic_now == 1005.0
    assert extras.notes == ({"id": "n1", "at": T0, "text": "restarted db", "check": "db", "by": "ana"},)


def test_non_finite_numbers_become_null_not_invalid_json():
    snap = Snapshot(
        generated_at=T0,
        checks=(CheckState("n", "nagios", 60.0, last=result("n", Status.OK, T0, metrics=(Metric("x", float("nan")),))),),
    )
    doc, back = trip(snap)  # allow_nan=False in trip(): would raise on NaN
    assert doc["checks"][0]["metrics"][0]["value"] is None
    assert back.checks[0].last.metrics[0].name == "x"


def test_text_from_a_remote_agent_is_neutralised():
    doc = {
        "title": "\x1b]0;pwned\x07board",
        "checks": [{"name": "a\x1b[2J", "status": "crit", "message": "\x1b[31mred\x1b[0m and \x07bell"}],
    }
    snap = snapshot_from_json(doc)
    assert snap.title == "board"
    assert snap.checks[0].name == "a"
    assert snap.checks[0].last.message == "red and \\x07bell"


@pytest.mark.parametrize("doc", [None, [], "state", 3, [{"checks": []}]])
def test_a_document_that_is_not_an_object_is_a_wire_error(doc):
    with pytest.raises(WireError, match="expected a JSON object"):
        snapshot_from_json(doc)


def test_partial_and_mistyped_documents_decode_with_defaults():
    assert snapshot_from_json({}) == Snapshot(generated_at=0.0)
    snap = snapshot_from_json(
        {
            "generated_at": "now",
            "checks": [
                1, "x", None,
                {"name": "api"},
                {"name": "db", "status": "crit", "latency_ms": "fast", "history": ["ok", 7, "crit"], "tags": "prod"},
                {"name": "odd", "status": "sideways", "results": [{"status": "ok", "finished_at": T0}, []]},
            ],
            "services": [{"name": "shop", "status": "on fire"}],
            "alerts": [{"fingerprint": "check:db:unhealthy", "priority": 99, "state": "???"}],
            "breakers": [{"name": "db", "state": "open", "settings": "fast", "error_rates": [1, "x", None]}],
            "silences": "none",
            "paused": "yes",
        }
    )
    assert snap.generated_at == 0.0 and snap.paused is False and snap.silences == ()
    api, db, odd = snap.checks
    assert api.last is None and api.status is Status.UNKNOWN and api.history == ()
    assert db.status is Status.CRIT and db.last.latency == 0.0 and db.tags == ()
    assert [r.status for r in db.history] == [Status.OK, Status.UNKNOWN, Status.CRIT]
    assert odd.status is Status.UNKNOWN and [r.status for r in odd.history] == [Status.OK]
    assert snap.services[0].status is ServiceHealth.UNKNOWN
    assert snap.alerts[0].priority == 4 and snap.alerts[0].state is AlertState.FIRING
    assert snap.breakers[0].state is BreakerState.OPEN and snap.breakers[0].error_rates == (1.0, 0.0, 0.0)


KEYS = st.sampled_from(
    [
        "checks", "services", "alerts", "silences", "breakers", "notes", "name", "status", "results", "history",
        "metrics", "latency_ms", "finished_at", "tags", "breaker", "settings", "transitions", "priority", "state",
        "value", "generated_at", "error_rates", "at",
    ]
) | st.text(max_size=5)
JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=10),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(KEYS, inner, max_size=5),
    max_leaves=40,
)


@settings(max_examples=300, deadline=None)
@given(JSON)
def test_any_json_decodes_or_is_a_wire_error(doc):
    try:
        snap = snapshot_from_json(doc)
        extras_from_json(doc)
    except WireError:
        assert not isinstance(doc, dict)
        return
    assert isinstance(snap, Snapshot)
    for c in snap.checks:  # what the TUI reads must be usable
        assert isinstance(c.status, Status) and all(isinstance(r, CheckResult) for r in c.history)


# What the document carries, field by field. A new field on one of these classes must be
# added to dash/agent/wire.py (both ways) and here, or a remote board silently loses it.
CARRIED = {
    Snapshot: {"generated_at", "checks", "paused", "title", "errors", "breakers", "services", "alerts", "silences", "offline",
               "slos", "external"},
    CheckState: {"name", "kind", "interval", "tags", "last", "history", "status_since", "running"},
    CheckResult: {"check", "kind", "status", "reason", "message", "latency", "attempts", "started_at", "finished_at",
                  "metrics", "detail", "lag"},
    Metric: {"name", "value", "unit", "warn", "crit", "min", "max"},
    ServiceStatus: {"name", "status", "modes", "because", "root_causes", "tier"},
    Alert: {"fingerprint", "subject", "name", "severity", "current", "state", "priority", "priority_reason", "message",
            "started_at", "last_seen", "count", "resolved_at", "root_cause", "symptoms", "flapping", "flap_percent",
            "acked_by", "ack_comment", "ack_until", "silenced_by", "silence_reason", "paged"},
    Silence: {"id", "until", "created_at", "match", "tags", "by", "comment"},
    BreakerSnapshot: {"name", "state", "settings", "failure_rate", "slow_rate", "calls", "failures", "slow_calls",
                      "calls_per_minute", "p50", "p90", "p99", "next_trial_in", "open_for", "last_transition_at",
                      "last_transition_cause", "error_rates", "transitions"},
    BreakerSettings: {"window", "min_calls", "failure_rate", "slow_rate", "slow_call", "open_for", "open_for_max", "enabled"},
}


@pytest.mark.parametrize("cls", list(CARRIED), ids=lambda c: c.__name__)
def test_the_wire_carries_every_field(cls):
    from dataclasses import fields

    missing = {f.name for f in fields(cls)} - CARRIED[cls]
    assert not missing, f"dash/agent/wire.py does not carry {cls.__name__}.{', '.join(sorted(missing))}"
