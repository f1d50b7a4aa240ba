"""Snapshot tests: what the dashboard looks like at 80x24 and 160x45, on scripted checks.

Time is pinned (fake clock, TZ=UTC), probes are scripted, so the pictures only change
when the rendering does. Update them with `pytest tests/tui/test_snapshots.py --snapshot-update`
after looking at the report.
"""

from __future__ import annotations

import time

import pytest

from dash.tui.app import HealthDashApp
from tests.tui.helpers import standard_rig


@pytest.fixture(autouse=True)
def utc(monkeypatch):
    monkeypatch.setenv("TZ", "UTC")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


def dashboard(rounds: int = 3):
    """An app whose checks have each run `rounds` times by the time the picture is taken."""
    rig = standard_rig()
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
