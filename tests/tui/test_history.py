"""Notes, the timeline, the SLO screen, Alertmanager's alerts and attached mode, driven by
Pilot at 80x24: what an on-call person sees and what their keys change."""

from __future__ import annotations

import asyncio
import time

import pytest

from dash.agent import serve
from dash.agent.client import RemoteEngine
from dash.alertmanager import ExternalAlert
from dash.clock import FakeClock
from dash.runtime import Runtime
from dash.store import Store
from dash.tui.app import HealthDashApp
from dash.tui.screens.note import NoteForm
from dash.tui.screens.slo import SLOScreen
from dash.tui.screens.timeline import TimelineScreen
from dash.tui.widgets.header import DashHeader
from tests.tui.helpers import (
    MARKUP,
    OK,
    REFUSED,
    HistoryOnly,
    Rig,
    check,
    screen_text,
    slo_rig,
    standard_rig,
    write_incident,
)

SIZE = (80, 24)
TOKEN = "t0k3n-for-tui-tests"


async def settle(rig: Rig, app: HealthDashApp, pilot, seconds: float = 30) -> None:
    """Let fake time pass (checks run every 10 s) and redraw."""
    await rig.clock.advance(seconds)
    app.refresh_snapshot()
    await pilot.pause()


def select_check(app: HealthDashApp, name: str) -> None:
    table = app.overview.table
    table.move_cursor(row=table.get_row_index(name), animate=False)


def toasts(app: HealthDashApp) -> list[str]:
    return [n.message for n in app._notifications]


async def loaded(app: HealthDashApp, pilot) -> TimelineScreen:
    """The open timeline after its store read finished."""
    screen = app.screen
    assert isinstance(screen, TimelineScreen)
    await app.workers.wait_for_complete()
    await pilot.pause()
    return screen


@pytest.fixture
async def rig():
    r = standard_rig()
    yield r
    await r.engine.stop()


# -- notes -----------------------------------------------------------------------------------


async def test_n_writes_a_note_about_the_selected_check(rig, monkeypatch):
    monkeypatch.setenv("USER", "alice")
    app = HealthDashApp(rig.engine, rig.config)
    async with app.run_test(size=SIZE) as pilot:
        await settle(rig, app, pilot)
        select_check(app, "db")
        await pilot.press("n")
        form = app.screen
        assert isinstance(form, NoteForm)
        text = screen_text(app)
        assert "about the selected check" in text and "about db" in text
        await pilot.press("enter")  # nothing written: nothing saved, and the form says why
        assert app.screen is form and "write the note first" in screen_text(app)
        form.text_input.value = f"restarted it {MARKUP}"
        await pilot.press("enter")
        assert app.screen is app.overview
        note = rig.engine.notes[-1]
        assert (note.text, note.check, note.by) == (f"restarted it {MARKUP}", "db", "alice")
        assert note.at == rig.clock.wall()  # stamped when saved
        assert "note saved about db" in toasts(app)

        # untick "about db": a note about the whole board
        await pilot.press("n")
        app.screen.text_input.value = "paging the vendor"
        await pilot.press("tab", "space")
        assert not app.screen.about_check
        await pilot.press("shift+tab", "enter")
        assert (rig.engine.notes[-1].text, rig.engine.notes[-1].check) == ("paging the vendor", None)
        assert "note saved" in toasts(app)

        # esc cancels
        await pilot.press("n")
        app.screen.text_input.value = "never mind"
        await pilot.press("escape")
        assert app.screen is app.overview and len(rig.engine.notes) == 2


async def test_a_note_from_the_alert_panel_is_about_that_alerts_check(rig):
    app = HealthDashApp(rig.engine, rig.config)
    async with app.run_test(size=SIZE) as pilot:
        await settle(rig, app, pilot)
        await pilot.press("tab")
        line = app.overview.alerts_panel.selected
        assert line is not None and line.check is not None
        await pilot.press("n")
        assert app.screen.check == line.check
        app.screen.text_input.value = "looking"
        await pilot.press("enter")
        assert rig.engine.notes[-1].check == line.check


# -- timeline ----------------------------------------------------------------------------------


async def test_timeline_without_history_shows_this_sessions_notes_and_alerts(rig):
    app = HealthDashApp(rig.engine, rig.config)
    async with app.run_test(size=SIZE) as pilot:
        await settle(rig, app, pilot)
        rig.engine.add_note("db restarted", check="db", by="alice")
        await pilot.press("T")
        screen = await loaded(app, pilot)
        rows = screen.rows
        assert screen.source == "memory"
        assert (rows[0].what, rows[0].subject, rows[0].text) == ("note", "db", "db restarted — alice")
        assert {(r.what, r.subject) for r in rows[1:]} == {("fired", "db"), ("fired", "evil"), ("fired", "cache")}
        text = screen_text(app)
        assert "history is off" in text
        assert MARKUP[:20] in text  # the hostile message, literally
        assert [r.at for r in rows] == sorted((r.at for r in rows), reverse=True)  # newest first
        # a note written here shows up at once
        await pilot.press("n")
        app.screen.text_input.value = "second look"
        await pilot.press("enter")
        await pilot.pause()
        assert screen.rows[0].text == "second look" and screen.rows[0].subject == ""
        await pilot.press("escape")
        assert app.screen is app.overview


async def test_timeline_reads_the_store_newest_first_and_filters_by_check(tmp_path):
    clock = FakeClock()
    rig = Rig({"db": [OK]}, [check("db", kind="tcp")], clock=clock)
    t0 = clock.wall() - 3600
    store = await asyncio.to_thread(Store.open, tmp_path / "history.db", now=clock.wall)
    await asyncio.to_thread(write_incident, store, t0)
    app = HealthDashApp(rig.engine, rig.config, runtime=HistoryOnly(rig.engine, store))
    async with app.run_test(size=SIZE) as pilot:
        await settle(rig, app, pilot, seconds=5)
        await pilot.press("T")
        screen = await loaded(app, pilot)
        assert screen.source == "history"
        got = [(r.what, r.subject, r.text) for r in screen.rows]
        assert got == [
            ("note", "", "all clear, post-mortem tomorrow — bob"),
            ("resolved", "db", "recovered after 9m"),
            ("status", "checkout", "down -> ok"),
            ("breaker", "db", "half_open -> closed: trial call succeeded"),  # the same second: reverse order
            ("status", "db", "crit -> ok: 200 OK in 12ms"),
            ("breaker", "db", "open -> half_open: open time over: one trial call"),
            ("note", "db", "restarting db [bold]now[/] — alice"),
            ("acked", "db", "acknowledged by alice"),
            ("breaker", "db", "closed -> open: failure rate 100% >= 50% over 2 calls"),
            ("status", "checkout", "ok -> down: db crit"),
            ("fired", "db", "P1 crit: connection refused"),
            ("status", "db", "ok -> crit (connect): connection refused"),
        ]
        text = screen_text(app)
        assert "timeline  12 events, last 24h, newest first" in text
        assert "restarting db [bold]now[/] — alice" in text  # literal, never markup
        assert "history is off" not in text
        # f keeps the selected line's subject
        screen.table.move_cursor(row=1, animate=False)
        await pilot.press("f")
        assert {r.subject for r in screen.rows} == {"db"} and len(screen.rows) == 9
        assert "timeline of db" in screen_text(app)
        await pilot.press("n")  # a note from the filtered timeline is about its check
        assert app.screen.check == "db"
        await pilot.press("escape", "f")
        assert len(screen.rows) == 12


async def test_timeline_shows_what_the_runtime_recorded(tmp_path):
    """The whole way: engine -> history store (a real Runtime) -> timeline screen."""
    clock = FakeClock(wall_offset=time.time() - 1000)  # the store prunes by real time
    rig = Rig({"db": [REFUSED]}, [check("db", kind="tcp")], clock=clock)
    runtime = Runtime(rig.config, state_dir=tmp_path, engine=rig.engine)
    app = HealthDashApp(rig.engine, rig.config, runtime=runtime)
    async with app.run_test(size=SIZE) as pilot:
        await app.workers.wait_for_complete()  # the history is open
        assert app.history()[0] is not None
        await settle(rig, app, pilot)
        select_check(app, "db")
        await pilot.press("n")
        app.screen.text_input.value = "db host rebooting"
        await pilot.press("enter")
        await asyncio.to_thread(runtime.persistence.store.flush)
        await pilot.press("T")
        screen = await loaded(app, pilot)
        assert screen.source == "history"
        whats = [(r.what, r.subject) for r in screen.rows]
        assert whats[0] == ("note", "db") and screen.rows[0].text.startswith("db host rebooting")
        assert ("fired", "db") in whats and ("status", "db") in whats
        assert "db host rebooting" in screen_text(app)


# -- SLOs --------------------------------------------------------------------------------------


async def test_slo_screen_shows_budgets_burn_rates_and_alerts():
    rig = slo_rig()
    app = HealthDashApp(rig.engine, rig.config)
    try:
        async with app.run_test(size=SIZE) as pilot:
            await settle(rig, app, pilot)
            await pilot.press("L")
            screen = app.screen
            assert isinstance(screen, SLOScreen)
            assert [(c.subject, c.kind) for c in screen.cards] == [("api", "check"), ("db", "check"),
                                                                    ("checkout", "service")]
            api, db, checkout = screen.cards
            assert api.burning == "page" and db.burning == "ticket" and checkout.burning == ""
            assert (db.budget, db.budget_tone) == ("400% overspent", "crit")
            text = screen_text(app)
            assert "3 objectives · 2 burning · 1 overspent" in text
            assert "api  check  99.9% over 30d   ⚠ PAGE" in text
            assert "availability  1h 97.22%  24h 99.884%  7d 99.961%*  30d 99.961%*" in text
            assert "████████████░░░░░░░░  61% left  (only 3d of history)" in text
            assert "burn rate     1h 27.8x  6h 4.6x  24h 1.2x  3d 0.4x" in text
            assert "page: burning 27.8x over 1h and 167x over 5m (pages at 14.4x)" in text
            assert "░░░░░░░░░░░░░░░░░░░░  400% overspent" in text
            assert "MTTR 3m  MTBF 1h57m  1 incident in 30d" in text
            assert "MTTR 10m  MTBF 19d23h  1 incident in 30d" in text
            await pilot.press("escape")
            assert app.screen is app.overview
    finally:
        await rig.engine.stop()


async def test_slo_screen_says_how_to_add_one(rig):
    app = HealthDashApp(rig.engine, rig.config)
    async with app.run_test(size=SIZE) as pilot:
        await settle(rig, app, pilot)
        await pilot.press("L")
        assert 'add slo = { target = 99.9, window = "30d" } to a check or' in screen_text(app)


async def test_slo_screen_without_history_says_why_there_are_no_numbers():
    rig = slo_rig()
    rig.engine.slo_reports = {}
    app = HealthDashApp(rig.engine, rig.config)
    try:
        async with app.run_test(size=SIZE) as pilot:
            await settle(rig, app, pilot)
            await pilot.press("L")
            assert "3 SLOs configured, but SLOs are computed from history: history is off" in screen_text(app)
    finally:
        await rig.engine.stop()


# -- Alertmanager's alerts -----------------------------------------------------------------------


def external(name: str, severity: str, summary: str, state: str = "active", starts: float | None = None) -> ExternalAlert:
    return ExternalAlert(fingerprint=f"am{name}", name=name, labels={"alertname": name}, summary=summary,
                         severity=severity, state=state, starts_at=starts)


async def test_alertmanagers_alerts_come_after_ours_marked_with_their_source(rig):
    wall = rig.clock.wall()
    rig.engine.external_alerts = (
        external("DiskFilling", "warning", "disk 91% on db-2", starts=wall - 300),
        external("HighLatency", "critical", f"p99 above 2s {MARKUP}", starts=wall - 60),
        external("Watchdog", "none", "always firing", state="suppressed"),
    )
    app = HealthDashApp(rig.engine, rig.config)
    async with app.run_test(size=(100, 40)) as pilot:
        await settle(rig, app, pilot)
        lines = app.overview.alerts_panel.plain_lines
        assert lines[0].startswith("alerts (3 open, 3 from alertmanager)")
        ours = [i for i, line in enumerate(lines) if line.startswith("P")]
        theirs = [i for i, line in enumerate(lines) if line.startswith("am")]
        assert ours and theirs and max(ours) < min(theirs)
        assert [lines[i].split()[:3] for i in theirs] == [
            ["am", "active", "HighLatency"], ["am", "active", "DiskFilling"], ["am", "suppressed", "Watchdog"],
        ]
        assert f"critical: p99 above 2s {MARKUP}" in lines[theirs[0]]
        assert "since 5m" in lines[theirs[1]] and "warning: disk 91% on db-2" in lines[theirs[1]]
        # our keys do not pretend to act on them
        await pilot.press("tab")
        panel = app.overview.alerts_panel
        while not panel.selected.external:
            await pilot.press("down")
        await pilot.press("a")
        assert "HighLatency is alertmanager's alert: acknowledge or silence it in Alertmanager" in toasts(app)
        await pilot.press("x")
        assert app.screen is app.overview


# -- attached to an agent --------------------------------------------------------------------------


async def test_attached_dashboard_is_loud_when_the_agent_goes_away():
    rig = Rig({"api": [OK], "db": [OK]}, [check("api"), check("db", kind="tcp")])
    await rig.engine.start()
    await rig.clock.advance(25)
    server = await serve(rig.engine, host="127.0.0.1", port=0, token=TOKEN)
    remote = RemoteEngine(server.url, token=TOKEN)
    app = HealthDashApp(remote, remote.config, watch_config=False)
    try:
        async with app.run_test(size=SIZE) as pilot:
            await pilot.pause()
            app.refresh_snapshot()
            await pilot.pause()
            first = screen_text(app).splitlines()[0]
            assert " ALL OK " in first and "AGENT UNREACHABLE" not in first

            await pilot.press("p")
            assert "pausing is done on the agent: this dashboard shows its board" in toasts(app)
            assert not rig.engine.paused
            await pilot.press("ctrl+r")
            assert "reloading the config is done on the agent: this dashboard shows its board" in toasts(app)

            select_check(app, "db")
            await pilot.press("n")
            app.screen.text_input.value = "looking at db from the war room"
            await pilot.press("enter")
            assert "note about db sent to the agent" in toasts(app)
            for _ in range(100):  # the note goes over HTTP
                if server.agent.notes.recent():
                    break
                await asyncio.sleep(0.02)
            (note,) = server.agent.notes.recent()
            assert (note.text, note.check) == ("looking at db from the war room", "db")

            await server.stop()
            assert not await remote.poll()
            app.refresh_snapshot()
            await pilot.pause()
            lines = screen_text(app).splitlines()
            assert " AGENT UNREACHABLE " in lines[0] and "ALL OK" not in lines[0]
            assert lines[1].startswith(" ⚠ agent unreachable since ")
            assert app.overview.query_one(DashHeader).error_lines[0].startswith("⚠ agent unreachable since ")
            # the timeline still shows the agent's notes
            await pilot.press("T")
            screen = await loaded(app, pilot)
            assert ("note", "db", "looking at db from the war room") == (
                screen.rows[0].what, screen.rows[0].subject, screen.rows[0].text)
            assert "history stays with the agent" in screen_text(app)
    finally:
        await remote.stop()
        await server.stop()
        await rig.engine.stop()


async def test_other_board_errors_are_shown_less_loudly(rig):
    rig.engine.external_error = "cannot reach http://127.0.0.1:9093: connection refused"
    app = HealthDashApp(rig.engine, rig.config)
    async with app.run_test(size=SIZE) as pilot:
        await settle(rig, app, pilot)
        lines = screen_text(app).splitlines()
        assert " FAILING " in lines[0]
        assert lines[1].startswith(" ⚠ alertmanager: cannot reach http://127.0.0.1:9093")


async def test_palette_and_help_offer_notes_timeline_and_slos(rig):
    app = HealthDashApp(rig.engine, rig.config)
    async with app.run_test(size=SIZE) as pilot:
        await settle(rig, app, pilot)
        commands = {c.title: c for c in app.get_system_commands(app.screen)}
        assert {"Add a note", "Timeline", "SLOs"} <= set(commands)
        commands["Timeline"].callback()
        await pilot.pause()
        assert isinstance(app.screen, TimelineScreen)
        assert "Timeline: only the selected" in {c.title for c in app.get_system_commands(app.screen)}
        await pilot.press("T")  # the same key closes it
        assert app.screen is app.overview
        commands["SLOs"].callback()
        await pilot.pause()
        assert isinstance(app.screen, SLOScreen)
        await pilot.press("escape", "question_mark")
        assert "n T L      note for the timeline / timeline / SLOs and error budgets" in screen_text(app)
