"""The rules behind the breaker panel, services panel and alert panel, as pure functions."""

from __future__ import annotations

from dash.core.alerts import Alert, AlertState, Silence
from dash.core.breaker import Breaker, BreakerSettings
from dash.core.services import ServiceHealth, ServiceStatus
from dash.model import BreakerState, CheckResult, CheckState, Metric, Reason, Snapshot, Status
from dash.tui import view

NOW = 1_700_000_000.0  # wall clock
MONO = 5_000.0  # the engine's monotonic clock at the same moment


def breaker(name: str, failures: int = 0, successes: int = 0, **settings) -> Breaker:
    b = Breaker(name, BreakerSettings(min_calls=2, open_for=30.0, **settings), MONO - 50)
    for i in range(successes):
        b.record(MONO - 40 + i, failed=False, latency=0.010)
    for i in range(failures):
        b.record(MONO - 20 + i, failed=True, latency=0.200)
    return b


def crit_state(name: str, kind: str = "http", metrics: tuple[Metric, ...] = (), since: float = NOW - 60,
               message: str = "connection refused", attempts: int = 1) -> CheckState:
    r = CheckResult(name, kind, Status.CRIT, Reason.CONNECT, message, 0.01, attempts, NOW - 5, NOW - 5, metrics)
    return CheckState(name=name, kind=kind, interval=10, last=r, history=(r,), status_since=since)


def ok_state(name: str, kind: str = "http", metrics: tuple[Metric, ...] = ()) -> CheckState:
    r = CheckResult(name, kind, Status.OK, Reason.OK, "fine", 0.01, 1, NOW - 5, NOW - 5, metrics)
    return CheckState(name=name, kind=kind, interval=10, last=r, history=(r,), status_since=NOW - 600)


def alert(name: str, priority: int, *, subject: str = "check", state: AlertState = AlertState.FIRING,
          started: float = NOW - 300, root: str | None = None, resolved: float | None = None, count: int = 3,
          reason: str = "") -> Alert:
    return Alert(
        fingerprint=f"{subject}:{name}:unhealthy", subject=subject, name=name, severity="crit", current="crit",
        state=state, priority=priority, priority_reason=f"P{priority}: {reason or name + ' crit'}",
        message="connection refused" if subject == "check" else "", started_at=started, last_seen=NOW - 5,
        count=count, resolved_at=resolved, root_cause=root,
    )


# -- breakers --------------------------------------------------------------------------------


def test_breaker_rows_put_open_breakers_first_then_by_error_rate():
    db = breaker("db", failures=2)  # opens at the second failure
    api = breaker("api", failures=1, successes=3)  # 25% errors, still closed
    web = breaker("web", successes=4)
    forced = breaker("cache")
    forced.force_open(MONO - 10)
    snap = Snapshot(generated_at=NOW, breakers=tuple(b.snapshot(MONO) for b in (web, api, forced, db)))
    rows = view.breaker_rows(snap, MONO)
    assert [r.name for r in rows] == ["db", "cache", "api", "web"]
    db_row, cache_row, api_row, _ = rows
    assert (db_row.state, db_row.tone, db_row.error) == ("OPEN", "crit", "100%")
    assert db_row.trial == "in 11s"  # opened at MONO-19 for 30 s
    assert db_row.changed == "19s" and db_row.why == "failure rate 100% >= 50% over 2 calls"
    assert (cache_row.state, cache_row.trial) == ("FORCED-OPEN", "held")
    assert (api_row.state, api_row.error, api_row.trial) == ("CLOSED", "25%", "")
    assert db_row.p50 == "200ms" and api_row.p50 == "10ms"
    assert max(db_row.errors) == 100.0
    assert view.breaker_counts(rows) == "1 open · 1 forced-open · 2 closed"


def test_breaker_detail_explains_the_open_breaker_and_its_trial():
    row = view.own_breaker_row(breaker("db", failures=2).snapshot(MONO), MONO)
    lines = {label: text for label, text, _ in view.breaker_detail(row, MONO, NOW, ["db"])}
    assert lines["state"].startswith("OPEN since ") and lines["state"].endswith(
        "(19s ago): failure rate 100% >= 50% over 2 calls")
    assert "2/2 failed" in lines["errors"]
    assert lines["rule"].startswith("trial in 11s: success closes it") and "re-opens it for 1m" in lines["rule"]
    assert "checks" not in lines  # one check of the same name: nothing to say
    shared = {label: text for label, text, _ in view.breaker_detail(row, MONO, NOW, ["db-read", "db-write"])}
    assert shared["checks"] == "db-read, db-write"


def test_remote_breakers_come_from_breakers_checks_tagged_with_their_source():
    metrics = (
        Metric("breaker_state:paymentService", float(list(BreakerState).index(BreakerState.OPEN))),
        Metric("breaker_failure_rate:paymentService", 66.7),
        Metric("breaker_state:inventory", 0.0),
        Metric("breaker_state:weird", 99.0),
    )
    snap = Snapshot(generated_at=NOW, checks=(ok_state("orders-app", kind="breakers", metrics=metrics),
                                              ok_state("plain")))
    rows = view.breaker_rows(snap, MONO)
    assert [r.name for r in rows] == ["orders-app › paymentService", "orders-app › weird", "orders-app › inventory"]
    assert [(r.state, r.error, r.own, r.source) for r in rows] == [
        ("OPEN", "67%", False, "orders-app"), ("UNKNOWN", "-", False, "orders-app"), ("CLOSED", "-", False, "orders-app"),
    ]
    assert rows[1].tone == "unknown"
    lines = view.breaker_detail(rows[0], MONO, NOW)
    assert any("read-only" in text for _, text, _ in lines)


def test_remote_breakers_survive_a_not_probed_slot():
    metrics = (Metric("breaker_state:payments", 1.0),)
    probed = CheckResult("app", "breakers", Status.WARN, Reason.THRESHOLD, "1 open", 0.01, 1, NOW - 15, NOW - 15, metrics)
    blocked = CheckResult("app", "breakers", Status.CRIT, Reason.CONNECT, "circuit open: not probed", 0, 0, NOW - 5, NOW - 5)
    state = CheckState(name="app", kind="breakers", interval=10, last=blocked, history=(probed, blocked))
    rows = view.breaker_rows(Snapshot(generated_at=NOW, checks=(state,)), MONO)
    assert [(r.name, r.state, r.changed) for r in rows] == [("app › payments", "OPEN", "15s")]


def test_checks_table_marks_only_breakers_that_hold_probes_back():
    db, api, shared = breaker("db", failures=2), breaker("api"), breaker("pool")
    shared.force_open(MONO)
    snap = Snapshot(generated_at=NOW, checks=(ok_state("db"), ok_state("api"), ok_state("read"), ok_state("write")),
                    breakers=tuple(b.snapshot(MONO) for b in (db, api, shared)))
    marks = view.breaker_marks(snap, {"db": "db", "api": "api", "read": "pool", "write": "pool"})
    assert marks == {"db": BreakerState.OPEN, "read": BreakerState.FORCED_OPEN, "write": BreakerState.FORCED_OPEN}
    assert view.table_row(ok_state("db"), NOW, marks["db"]).breaker == "⊘"
    assert view.table_row(ok_state("read"), NOW, marks["read"]).breaker == "⊗"
    assert view.table_row(ok_state("api"), NOW, None).breaker == ""
    assert view.BREAKER_MARK[BreakerState.HALF_OPEN] == "◐"


def test_countdown_and_rate_formats():
    assert [view.format_countdown(s) for s in (0, 0.2, 24, 59.1, 245, 3720)] == ["0s", "1s", "24s", "1m00s", "4m05s", "1h02m"]
    assert [view.format_percent(x) for x in (None, 0.0, 6.66, 50.0, 100.0)] == ["-", "0%", "6.7%", "50%", "100%"]
    assert [view.format_per_minute(x) for x in (0.0, 2.5, 12.0, 1500.0)] == ["0", "2.5", "12", "1.5k"]


# -- services ------------------------------------------------------------------------------------


def test_service_lines_worst_first_with_modes_in_words_and_ok_ones_summed_up():
    services = [
        ServiceStatus("web", ServiceHealth.OK),
        ServiceStatus("search", ServiceHealth.DEGRADED, modes=("search disabled",),
                      because=("search-idx crit: search disabled",)),
        ServiceStatus("checkout", ServiceHealth.DOWN, because=("orders-db crit",), root_causes=("orders-db",), tier=1),
        ServiceStatus("billing", ServiceHealth.UNKNOWN, because=("ledger unknown (no result yet)",)),
        ServiceStatus("docs", ServiceHealth.OK),
    ]
    lines = [(l.symbol, l.name, l.text, l.tone) for l in view.service_lines(services)]
    assert lines == [
        ("✖", "checkout", "down — orders-db crit", "crit"),
        ("?", "billing", "unknown — ledger unknown (no result yet)", "unknown"),
        ("▲", "search", "degraded: search disabled", "warn"),
        ("✔", "2 ok", "web, docs", "ok"),
    ]
    assert view.service_lines([]) == []


# -- alerts ----------------------------------------------------------------------------------------


def test_alert_lines_fold_symptoms_under_their_root_and_list_unconfirmed_failures():
    alerts = [
        alert("cache", 3, started=NOW - 900),
        alert("checkout", 1, subject="service", root="check:orders-db:unhealthy", started=NOW - 100),
        alert("orders-db", 1, started=NOW - 120, reason="orders-db crit; checkout, refunds down"),
        alert("refunds", 2, subject="service", root="check:orders-db:unhealthy"),
        alert("old", 2, state=AlertState.RESOLVED, resolved=NOW - 30),
        alert("api", 2, started=NOW - 60, state=AlertState.ACKNOWLEDGED),
    ]
    checks = [crit_state("orders-db"), crit_state("flaky", since=NOW - 12), ok_state("web")]
    lines = view.alert_lines(alerts, checks, NOW)
    assert [(l.kind, l.name) for l in lines] == [
        ("alert", "orders-db"), ("folded", "+2 symptoms"), ("alert", "api"), ("alert", "cache"),
        ("unconfirmed", "flaky"), ("alert", "old"),
    ]
    root = lines[0]
    assert (root.priority, root.state, root.count, root.seen) == ("P1", "firing", "×3", "since 2m, last 5s")
    assert root.text == "crit; checkout, refunds down — connection refused"  # the name is on the line already
    assert lines[1].text == "checkout, refunds" and not lines[1].selectable
    assert lines[2].muted and lines[2].state == "acknowledged"
    assert (lines[4].state, lines[4].seen, lines[4].muted) == ("unconfirmed", "since 12s", True)
    assert lines[4].text == "✖ crit connect: connection refused"
    assert (lines[5].state, lines[5].tone, lines[5].seen) == ("resolved", "ok", "since 5m, last 30s")
    assert view.alert_summary(lines) == "3 open, 2 symptoms, 1 unconfirmed, 1 resolved"

    expanded = view.alert_lines(alerts, checks, NOW, expanded=True)
    assert [(l.kind, l.name) for l in expanded[:3]] == [("alert", "orders-db"), ("symptom", "checkout"),
                                                        ("symptom", "refunds")]
    assert expanded[1].check is None and expanded[1].subject == "service"
    assert view.alert_summary(expanded) == "3 open, 2 symptoms, 1 unconfirmed, 1 resolved"


def test_silence_rows_soonest_first_with_what_they_silence():
    silences = [
        Silence("s2", until=NOW + 7200, created_at=NOW, match="api-*", by="ana", comment="deploy"),
        Silence("s1", until=NOW + 1800, created_at=NOW, match=None, tags=("team:data",), by="bo"),
    ]
    alerts = [alert("api-eu", 2, state=AlertState.SILENCED)]
    alerts = [a.__class__(**{**{f: getattr(a, f) for f in a.__slots__}, "silenced_by": "s2"}) for a in alerts]
    rows = view.silence_rows(silences, alerts, NOW)
    assert [(r.id, r.match, r.silenced) for r in rows] == [("s1", "* [team:data]", "0"), ("s2", "api-*", "1")]
    assert rows[0].ends.endswith("(in 30m)")
