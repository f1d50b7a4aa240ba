"""Snapshot tests: what the dashboard looks like at 80x24 and 160x45, on scripted checks.

Time is pinned (fake clock, TZ=UTC), probes are scripted, so the pictures only change
when the rendering does. Update them with `pytest tests/tui/test_snapshots.py --snapshot-update`
after looking at the report.
"""

from __future__ import annotations

import time

import pytest

from dash.config import AlertSettings
from dash.store import Store
from dash.tui.app import HealthDashApp
from tests.tui.helpers import HistoryOnly, services_rig, slo_rig, standard_rig, write_incident

# Pages would toast over the pictures; the toasts have Pilot tests of their own.
QUIET = AlertSettings(toast=False)


@pytest.fixture(autouse=True)
def utc(monkeypatch):
    monkeypatch.setenv("TZ", "UTC")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


def dashboard(rounds: int = 3, rig_factory=standard_rig):
    """An app whose checks have each run `rounds` times by the time the picture is taken."""
    rig = rig_factory(alerts=QUIET)
    app = HealthDashApp(rig.engine, rig.config)

    async def run_before(pilot) -> None:
        await rig.clock.advance(10 * rounds)
        pilot.app.refresh_snapshot()
        await pilot.pause()

    return app, run_before


def test_overview_80x24(snap_compare):
    app, before = dashboard()
    assert snap_compare(app, terminal_size=(80, 24), run_before=before)


def test_overview_160x45(snap_compare):
    app, before = dashboard()
    assert snap_compare(app, terminal_size=(160, 45), run_before=before)


def test_overview_paused_sorted_by_name_80x24(snap_compare):
    app, before = dashboard()
    assert snap_compare(app, terminal_size=(80, 24), run_before=before, press=["p", "s"])


def test_detail_with_hostile_text_80x24(snap_compare):
    app, before = dashboard()

    async def open_evil(pilot) -> None:
        await before(pilot)
        table = pilot.app.overview.table
        table.move_cursor(row=table.get_row_index("evil"))
        await pilot.press("enter")
        await pilot.pause()

    assert snap_compare(app, terminal_size=(80, 24), run_before=open_evil)


def test_help_80x24(snap_compare):
    app, before = dashboard(rounds=1)
    assert snap_compare(app, terminal_size=(80, 24), run_before=before, press=["question_mark"])


def test_overview_with_services_and_alerts_80x24(snap_compare):
    app, before = dashboard(rig_factory=services_rig)
    assert snap_compare(app, terminal_size=(80, 24), run_before=before)


def test_overview_with_services_and_alerts_160x45(snap_compare):
    app, before = dashboard(rig_factory=services_rig)
    assert snap_compare(app, terminal_size=(160, 45), run_before=before, press=["e"])


def test_breakers_80x24(snap_compare):
    app, before = dashboard(rig_factory=services_rig)
    assert snap_compare(app, terminal_size=(80, 24), run_before=before, press=["b"])


def test_breakers_160x45(snap_compare):
    app, before = dashboard(rig_factory=services_rig)
    assert snap_compare(app, terminal_size=(160, 45), run_before=before, press=["b"])


def test_silence_form_80x24(snap_compare):
    app, before = dashboard(rig_factory=services_rig)
    assert snap_compare(app, terminal_size=(80, 24), run_before=before, press=["x"])


def test_slo_80x24(snap_compare):
    app, before = dashboard(rig_factory=slo_rig)
    assert snap_compare(app, terminal_size=(80, 24), run_before=before, press=["L"])


def test_timeline_80x24(snap_compare, tmp_path):
    rig = standard_rig(alerts=QUIET)
    store = Store.open(tmp_path / "history.db", now=rig.clock.wall)
    write_incident(store, rig.clock.wall() - 3600)
    app = HealthDashApp(rig.engine, rig.config, runtime=HistoryOnly(rig.engine, store))

    async def open_timeline(pilot) -> None:
        await rig.clock.advance(30)
        pilot.app.refresh_snapshot()
        await pilot.press("T")
        await pilot.app.workers.wait_for_complete()
        await pilot.pause()

    assert snap_compare(app, terminal_size=(80, 24), run_before=open_timeline)


def test_note_form_80x24(snap_compare):
    app, before = dashboard(rig_factory=services_rig)
    assert snap_compare(app, terminal_size=(80, 24), run_before=before, press=["n"])
