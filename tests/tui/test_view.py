"""The dashboard's rules as pure functions: order, filter, verdict, rows, host readings, redaction."""

from __future__ import annotations

from pathlib import Path

from dash.config import CheckConfig
from dash.model import CheckResult, CheckState, Metric, Reason, Snapshot, Status
from dash.text import Redactor
from dash.tui import view

NOW = 10_000.0


def result(status: Status = Status.OK, *, at: float = NOW - 5, latency: float = 0.01, attempts: int = 1,
           message: str = "fine", metrics: tuple[Metric, ...] = (), reason: Reason | None = None) -> CheckResult:
    reason = reason or (Reason.OK if status is Status.OK else Reason.CONNECT)
    return CheckResult("x", "http", status, reason, message, latency, attempts, at - latency, at, metrics)


def state(name: str, status: Status | None = Status.OK, *, since: float | None = None, kind: str = "http",
          tags: tuple[str, ...] = (), interval: float = 10, **kw) -> CheckState:
    if status is None:
        return CheckState(name=name, kind=kind, interval=interval, tags=tags)
    last = result(status, **kw)
    return CheckState(name=name, kind=kind, interval=interval, tags=tags, last=last, history=(last,),
                      status_since=since if since is not None else last.finished_at)


def names(states) -> list[str]:
    return [s.name for s in states]


def test_severity_sort_is_crit_unknown_warn_ok_pending_then_oldest_change_first():
    checks = [
        state("ok-new", Status.OK, since=NOW - 10),
        state("pending", None),
        state("warn", Status.WARN),
        state("crit-new", Status.CRIT, since=NOW - 60),
        state("unknown", Status.UNKNOWN),
        state("crit-old", Status.CRIT, since=NOW - 3600),
        state("ok-old", Status.OK, since=NOW - 999),
    ]
    assert names(view.sort_checks(checks, "severity")) == [
        "crit-old", "crit-new", "unknown", "warn", "ok-old", "ok-new", "pending",
    ]


def test_other_sorts_and_the_cycle():
    checks = [
        state("b", Status.OK, latency=0.5, since=NOW - 100),
        state("a", Status.CRIT, latency=0.1, since=NOW - 10),
        state("c", None),
    ]
    assert names(view.sort_checks(checks, "name")) == ["a", "b", "c"]
    assert names(view.sort_checks(checks, "latency")) == ["b", "a", "c"]
    assert names(view.sort_checks(checks, "last change")) == ["a", "b", "c"]
    assert [view.next_sort(m) for m in view.SORTS] == ["name", "latency", "last change", "severity"]


def test_filter_matches_name_kind_tags_and_message_and_bang_inverts():
    db = state("db-main", Status.CRIT, kind="tcp", tags=("team:data",), message="connection refused")
    api = state("api", Status.OK, kind="http", tags=("team:web",), message="200 OK")
    checks = [db, api]
    assert names(view.visible_checks(checks, "DB")) == ["db-main"]
    assert names(view.visible_checks(checks, "tcp")) == ["db-main"]
    assert names(view.visible_checks(checks, "team:web")) == ["api"]
    assert names(view.visible_checks(checks, "refused")) == ["db-main"]
    assert names(view.visible_checks(checks, "!refused")) == ["api"]
    assert names(view.visible_checks(checks, "! team")) == []
    assert names(view.visible_checks(checks, "!")) == ["db-main", "api"]
    assert names(view.visible_checks(checks, "")) == ["db-main", "api"]


def test_problems_are_non_ok_checks_worst_then_oldest_first():
    checks = [
        state("ok", Status.OK),
        state("warn-old", Status.WARN, since=NOW - 9000),
        state("crit", Status.CRIT, since=NOW - 30),
        state("pending", None),
        state("unknown", Status.UNKNOWN, since=NOW - 20),
    ]
    assert names(view.problems(checks)) == ["crit", "unknown", "warn-old"]
    line = view.problem_line(checks[2], NOW)
    assert line.startswith("crit  since ") and "(30s)" in line and line.endswith("connect: fine")


def test_verdict_words():
    def snap(*states):
        return Snapshot(generated_at=NOW, checks=tuple(states))

    assert view.verdict(snap(state("a"), state("b", None))) == ("ALL OK", Status.OK)
    assert view.verdict(snap(state("a"), state("b", Status.WARN))) == ("DEGRADED", Status.WARN)
    assert view.verdict(snap(state("a", Status.WARN), state("b", Status.CRIT))) == ("FAILING", Status.CRIT)
    assert view.verdict(snap(state("a", Status.UNKNOWN))) == ("UNKNOWN", Status.UNKNOWN)
    assert view.verdict(snap(state("a", None))) == ("UNKNOWN", Status.UNKNOWN)


def test_a_row_says_status_in_words_and_marks_retry_and_staleness():
    fresh = view.table_row(state("a", Status.OK, attempts=2, at=NOW - 5, since=NOW - 180), NOW)
    assert fresh.status == "✔ ok" and fresh.retried and not fresh.stale
    assert fresh.age == "3m"
    assert fresh.latency == "10ms"
    stale = view.table_row(state("b", Status.CRIT, at=NOW - 25, interval=10), NOW)
    assert stale.status == "✖ crit" and stale.stale and not stale.retried
    pending = view.table_row(state("c", None), NOW)
    assert pending.status == "… pending" and pending.latency == "-" and pending.age == "-"


def test_history_strip_uses_distinct_glyphs_oldest_first():
    history = [result(s) for s in (Status.OK, Status.WARN, Status.CRIT, Status.UNKNOWN)] * 5
    strip = view.history_strip(history, width=4)
    assert "".join(g for g, _ in strip) == "▁▄█?"
    assert len(view.history_strip(history)) == view.HISTORY_WIDTH


def test_formats():
    assert [view.format_age(s) for s in (0, 59, 61, 7200, 3 * 86400)] == ["0s", "59s", "1m", "2h", "3d"]
    assert [view.format_latency(s) for s in (None, 0.0004, 0.0123, 1.25, 250)] == ["-", "0.4ms", "12ms", "1.2s", "250s"]
    assert view.format_rate(1_234_567) == "1.2MB/s"
    assert view.spark([0, 50, 100], 0, 100) == "▁▅█"
    assert view.spark([]) == ""


def test_host_readings_come_from_the_first_host_check_with_history_and_thresholds():
    def host(cpu: float, disk: float) -> CheckResult:
        return result(metrics=(
            Metric("cpu_percent", cpu, "%", 85, 95, 0, 100),
            Metric("memory_percent", 40, "%", 90, 97, 0, 100),
            Metric("load1", 3.5, ""),
            Metric("load_per_core", 1.75, "", 1.5, 3.0),
            Metric(f"disk:/data", disk, "%", 85, 95, 0, 100),
            Metric("net_rx_bps", 2500.0, "B/s"),
        ))

    history = (host(10, 80), host(50, 90), host(97, 90))
    hs = CheckState(name="box", kind="host", interval=10, last=history[-1], history=history)
    checks = [state("api"), hs, CheckState(name="other", kind="host", interval=10)]
    assert view.host_check(checks) is hs
    readings = {r.label: r for r in view.host_readings(hs)}
    assert readings["cpu"].value == "97%" and readings["cpu"].tone == "crit"
    assert readings["cpu"].series == (10, 50, 97)
    assert readings["load"].tone == "warn" and readings["load"].value == "3.50"
    assert readings["disk /data"].tone == "warn"
    assert readings["rx"].value == "2.5KB/s"
    assert view.host_readings(CheckState(name="h", kind="host", interval=1)) == []
    assert view.host_check([state("api")]) is None


def test_config_lines_mask_secret_headers_and_substituted_secrets():
    check = CheckConfig(
        name="api", kind="http", interval=15, timeout=5, retries=1,
        options={"url": "http://127.0.0.1/?key=s3cr3t-value", "headers": {"Authorization": "Bearer abc", "Accept": "json"},
                 "password": "hunter2", "expect": {"status": [200, 204]}, "body": None},
        secrets=frozenset({"s3cr3t-value"}),
    )
    lines = dict(view.config_lines(check, Redactor()))
    assert lines["headers.Authorization"] == "********"
    assert lines["headers.Accept"] == "json"
    assert lines["password"] == "********"
    assert lines["url"] == "http://127.0.0.1/?key=********"
    assert lines["expect.status"] == "[200, 204]"
    assert "body" not in lines
    assert lines["interval"] == "15s"


def test_runbook_targets():
    assert view.runbook_target("https://wiki/x", "/etc/dash/dash.toml") == ("url", "https://wiki/x")
    assert view.runbook_target("runbooks/db.md", "/etc/dash/dash.toml") == ("file", Path("/etc/dash/runbooks/db.md"))
    assert view.runbook_target("call the DBA on duty", "/etc/dash/dash.toml") == ("text", "call the DBA on duty")
    assert view.runbook_target(None, "x") is None


def test_keymap_from_config_keeps_known_actions_and_lists_unknown_ones():
    keymap, unknown = view.keymap_from_config({"pause": "space", "frobnicate": "x", "quit": "ctrl+q"}, ["pause", "quit"])
    assert keymap == {"pause": "space", "quit": "ctrl+q"}
    assert unknown == ["frobnicate"]
