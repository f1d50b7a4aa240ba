"""Pure view rules for the board's errors, Alertmanager's alerts, SLO cards and the timeline."""

from __future__ import annotations

from types import SimpleNamespace

from dash.alertmanager import ExternalAlert
from dash.config import SLO
from dash.core.slo import report
from dash.model import CheckResult, CheckState, OperatorNote, Reason, Snapshot, Status
from dash.store import TimelineEntry
from dash.tui.app import HealthDashApp
from dash.tui.view import (
    AlertLine,
    alert_summary,
    board_errors,
    budget_bar,
    budget_text,
    external_line,
    format_availability,
    format_burn,
    host_check,
    memory_timeline,
    slo_card,
    timeline_rows,
    verdict,
)
from dash.tui.widgets.host_panel import HostPanel
from tests.tui.helpers import Rig, check, host_outcome, screen_text

NOW = 1_700_000_000.0
UNREACHABLE = "agent unreachable since 18:20:01: All connection attempts failed"


def state(name: str, kind: str, status: Status = Status.OK) -> CheckState:
    result = CheckResult(name, kind, status, Reason.OK, "fine", 0.01, 1, NOW - 1, NOW)
    return CheckState(name=name, kind=kind, interval=10, last=result, history=(result,), status_since=NOW - 60)


# -- the header -------------------------------------------------------------------------------


def test_a_board_without_its_agent_never_reads_all_ok():
    ok = Snapshot(generated_at=NOW, checks=(state("api", "http"),))
    assert verdict(ok) == ("ALL OK", Status.OK)
    stale = Snapshot(generated_at=NOW, checks=ok.checks, errors=(UNREACHABLE,))
    assert verdict(stale) == ("AGENT UNREACHABLE", Status.CRIT)
    empty = Snapshot(generated_at=NOW, errors=(UNREACHABLE,))  # never reached it at all
    assert verdict(empty)[0] == "AGENT UNREACHABLE"
    # Alertmanager's trouble does not change what our checks say
    am = Snapshot(generated_at=NOW, checks=ok.checks, errors=("alertmanager: connection refused",))
    assert verdict(am)[0] == "ALL OK"


def test_board_errors_put_the_agent_first_and_loud():
    snap = Snapshot(generated_at=NOW, errors=("alertmanager: HTTP 503", UNREACHABLE))
    errors = board_errors(snap)
    assert [(e.text, e.tone, e.loud) for e in errors] == [
        (f"⚠ {UNREACHABLE}", "crit", True),
        ("⚠ alertmanager: HTTP 503", "warn", False),
    ]


# -- the host panel -------------------------------------------------------------------------------


def test_host_panel_uses_a_node_check_when_there_is_no_host_check():
    node, host, web = state("n1", "node"), state("h1", "host"), state("web", "http")
    assert host_check([web, node]) is node
    assert host_check([node, web, host]) is host  # a host check wins over node_exporter
    assert host_check([web]) is None


async def test_host_panel_draws_node_exporter_readings():
    rig = Rig({"node-1": [host_outcome(cpu=42)]}, [check("node-1", kind="node")])
    app = HealthDashApp(rig.engine, rig.config)
    try:
        async with app.run_test(size=(80, 24)) as pilot:
            await rig.clock.advance(30)
            app.refresh_snapshot()
            await pilot.pause()
            assert app.overview.query_one(HostPanel)._state.name == "node-1"
            assert "cpu   42%" in screen_text(app)
    finally:
        await rig.engine.stop()


# -- alerts ---------------------------------------------------------------------------------------


def line(kind: str, folded: int = 0, state: str = "firing") -> AlertLine:
    return AlertLine(kind, "P1", state, "x", "", "", "", "crit", folded=folded)


def test_alert_summary_counts_in_words():
    assert alert_summary([line("alert"), line("folded", folded=1)]) == "1 open, 1 symptom"
    assert alert_summary([line("alert"), line("folded", folded=2)]) == "1 open, 2 symptoms"
    assert alert_summary([line("alert"), line("symptom")]) == "1 open, 1 symptom"
    assert alert_summary([line("external"), line("alert", state="resolved")]) == "1 from alertmanager, 1 resolved"


def test_external_alerts_read_with_their_source_and_severity():
    a = ExternalAlert(fingerprint="f1", name="HighLatency", labels={}, summary="p99 above 2s", severity="critical",
                      state="active", starts_at=NOW - 120)
    got = external_line(a, NOW)
    assert (got.priority, got.state, got.name, got.seen, got.text, got.tone) == (
        "am", "active", "HighLatency", "since 2m", "critical: p99 above 2s", "crit")
    assert got.external and got.fingerprint is None and got.check is None and got.key == "external:f1"
    quiet = external_line(ExternalAlert("f2", "Watchdog", {}, "", "", "suppressed", None), NOW)
    assert (quiet.text, quiet.tone, quiet.muted, quiet.seen) == ("no severity", "unknown", True, "")


# -- SLOs -------------------------------------------------------------------------------------------


def test_availability_is_cut_never_rounded_up():
    assert format_availability(99.99996) == "99.999%"
    assert format_availability(100.0) == "100%"
    assert format_availability(97.129) == "97.12%"
    assert format_availability(None) == "-"
    assert format_burn(None) == "-" and format_burn(14.4) == "14.4x" and format_burn(250.0) == "250x"


def test_error_budget_bar_and_words():
    assert budget_bar(100.0, 10) == "██████████"
    assert budget_bar(50.0, 10) == "█████░░░░░"
    assert budget_bar(-300.0, 10) == "░░░░░░░░░░"
    assert budget_text(48.2) == ("48% left", "ok")
    assert budget_text(12.0) == ("12% left", "warn")
    assert budget_text(-35.0) == ("35% overspent", "crit")


def test_slo_card_without_events_says_so():
    card = slo_card(report("api", SLO(99.9, 30 * 86400.0), [], [], NOW), "check")
    assert [v for _, v, _, _ in card.availabilities] == ["-", "-", "-", "-"]
    assert (card.budget, card.budget_tone, card.burning) == ("nothing spent: no events yet", "muted", "")
    assert card.reliability == "MTTR -  MTBF -  no incidents in 30d"
    assert card.coverage == "no history yet"


# -- timeline ------------------------------------------------------------------------------------------


def test_timeline_rows_newest_first_filtered_and_distinct():
    entries = [
        TimelineEntry(NOW - 60, "status", "db", "ok -> crit: refused", "", "crit"),
        TimelineEntry(NOW - 30, "note", "", "looking", "ana", "note"),
        TimelineEntry(NOW - 30, "note", "", "looking", "ana", "note"),  # twice in one second: two lines
        TimelineEntry(NOW - 10, "ack", "db", "acknowledged by ana", "", "acked"),
    ]
    rows = timeline_rows(entries, NOW)
    assert [(r.what, r.subject, r.tone) for r in rows] == [
        ("acked", "db", "muted"), ("note", "", "strong"), ("note", "", "strong"), ("status", "db", "crit")]
    assert rows[1].text == "looking — ana"
    assert len({r.key for r in rows}) == 4
    assert [r.what for r in timeline_rows(entries, NOW, "db")] == ["acked", "status"]


def test_memory_timeline_takes_engine_and_agent_notes():
    snap = Snapshot(generated_at=NOW)
    notes = [OperatorNote(NOW - 5, "mine", check="db", by="ana"),
             {"id": "1", "at": NOW - 3, "text": "theirs", "check": None, "by": "bo"},
             {"text": "no time"}]
    got = [(e.kind, e.subject, e.text, e.author) for e in memory_timeline(snap, notes)]
    assert got == [("note", "db", "mine", "ana"), ("note", "", "theirs", "bo")]


def test_memory_timeline_places_breaker_transitions_in_wall_time():
    transition = SimpleNamespace(at=95.0, before=SimpleNamespace(value="closed"), after=SimpleNamespace(value="open"),
                                 cause="failures")
    breaker = SimpleNamespace(name="db", transitions=(transition,))
    snap = Snapshot(generated_at=NOW, breakers=(breaker,))
    (entry,) = memory_timeline(snap, (), mono_now=100.0)
    assert (entry.at, entry.kind, entry.subject, entry.text) == (NOW - 5, "breaker", "db", "closed -> open: failures")
    assert memory_timeline(snap, (), mono_now=None) == []  # an agent's monotonic time cannot be placed
