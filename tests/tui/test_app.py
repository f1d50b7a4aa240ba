"""The dashboard driven by Pilot at 80x24, on an engine with scripted probes and a fake clock."""

from __future__ import annotations

from pathlib import Path

import pytest
from textual.widgets import DataTable, Input, Markdown

from dash.config import CheckConfig, Config
from dash.model import Outcome, Reason, Status
from dash.tui.app import HealthDashApp
from dash.tui.screens.detail import DetailScreen
from dash.tui.screens.help import HelpScreen
from dash.tui.widgets.checks_table import ChecksTable
from dash.tui.widgets.alerts import AlertsPanel
from tests.tui.helpers import MARKUP, OK, REFUSED, Rig, check, screen_text, standard_rig

SIZE = (80, 24)


async def settle(rig: Rig, app: HealthDashApp, pilot, rounds: int = 3) -> None:
    """Let the engine run every check `rounds` times (fake time, 10 s intervals) and redraw."""
    await rig.clock.advance(10 * rounds)
    app.refresh_snapshot()
    await pilot.pause()


def table(app: HealthDashApp) -> ChecksTable:
    return app.overview.table


def order(app: HealthDashApp) -> list[str]:
    return table(app).shown_order()


@pytest.fixture
async def rig():
    r = standard_rig()
    yield r
    await r.engine.stop()


async def test_first_paint_shows_every_check_pending_before_any_result(rig):
    app = HealthDashApp(rig.engine, rig.config)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        text = screen_text(app)
        assert "UNKNOWN" in text and "… 5" in text
        assert text.count("… pending") == 5
        assert sum(rig.calls.get(n, []).__len__() for n in rig.scripts) == 0  # nothing had to run first


async def test_overview_shows_status_words_counts_order_and_literal_markup(rig):
    app = HealthDashApp(rig.engine, rig.config)
    async with app.run_test(size=SIZE) as pilot:
        await settle(rig, app, pilot)
        text = screen_text(app)
        assert " FAILING " in text
        assert "✔ 2 ▲ 1 ✖ 2 ? 0" in text
        assert "sort: severity" in text
        assert order(app)[:3] in (["db", "evil", "cache"], ["evil", "db", "cache"])
        assert set(order(app)[3:]) == {"api", "host"}
        t = table(app)
        assert t.get_cell("db", "status").plain == "✖ crit"
        assert t.get_cell("cache", "status").plain == "▲ warn"
        assert t.get_cell("api", "status").plain == "✔ ok"
        assert t.get_cell("evil", "message").plain == MARKUP
        assert t.get_cell("db", "history").plain.strip() == "███"
        assert "[bold red]x[/] [@click=ap" in text  # shown as typed, not as bold red or a link
        alerts = app.overview.query_one(AlertsPanel).plain_lines
        assert alerts[0].startswith("alerts (3 open)")
        assert any(MARKUP in line for line in alerts)
        assert any(line.startswith("P3 firing cache") and "slow: 900ms" in line for line in alerts)
        # host panel, fed from the host check's metrics
        assert "cpu" in text and "23%" in text and "disk /" in text and "1.2MB/s" in text


async def test_table_is_updated_by_diffing_not_refilled(rig):
    app = HealthDashApp(rig.engine, rig.config)
    async with app.run_test(size=SIZE) as pilot:
        await settle(rig, app, pilot)
        t = table(app)
        calls: dict[str, int] = {"set_cell": 0, "add_row": 0, "remove_row": 0, "clear": 0}
        for name in calls:
            original = getattr(t, name)

            def counted(*a, _name=name, _orig=original, **kw):
                calls[_name] += 1
                return _orig(*a, **kw)

            setattr(t, name, counted)
        app.refresh_snapshot()
        assert calls == {"set_cell": 0, "add_row": 0, "remove_row": 0, "clear": 0}
        rig.scripts["api"][:] = [REFUSED]  # one check flips
        await rig.engine.run_once(["api"])
        app.refresh_snapshot()
        assert calls["clear"] == 0 and calls["add_row"] == 0 and calls["remove_row"] == 0
        assert 0 < calls["set_cell"] <= 5  # status, history, age, message, latency at most
        assert t.get_cell("api", "status").plain == "✖ crit"


async def test_navigation_enter_detail_and_escape_back(rig):
    app = HealthDashApp(rig.engine, rig.config)
    async with app.run_test(size=SIZE) as pilot:
        await settle(rig, app, pilot)
        t = table(app)
        assert t.cursor_row == 0
        await pilot.press("down", "j")
        assert t.cursor_row == 2
        await pilot.press("k")
        assert t.cursor_row == 1
        await pilot.press("up")
        assert t.cursor_row == 0
        target = order(app).index("evil")
        for _ in range(target):
            await pilot.press("j")
        await pilot.press("enter")
        await pilot.pause()
        assert isinstance(app.screen, DetailScreen) and app.screen.check_name == "evil"
        text = screen_text(app)
        assert "✖ crit" in text and "evil" in text
        assert f"assertion: {MARKUP}" in text
        assert f"body: {MARKUP}" in text  # the last error's detail, literally
        results = app.screen.query_one("#results", DataTable)
        assert results.row_count == 3
        assert results.get_cell("r0", "message").plain == MARKUP
        before = rig.count("evil")
        await pilot.press("r")  # run this check now, from its detail
        await pilot.pause()
        assert rig.count("evil") == before + 1
        app.refresh_snapshot()
        assert results.row_count == 4
        await pilot.press("escape")
        assert app.screen is app.overview


async def test_filter_substring_inverted_and_cleared(rig):
    app = HealthDashApp(rig.engine, rig.config)
    async with app.run_test(size=SIZE) as pilot:
        await settle(rig, app, pilot)
        await pilot.press("slash")
        box = app.overview.query_one("#filter", Input)
        assert box.has_focus and box.display
        await pilot.press(*"team:data")
        assert order(app) == ["db"]
        assert "filter: team:data" in screen_text(app)
        box.value = "!tcp"
        await pilot.pause()
        assert set(order(app)) == {"api", "evil", "host"}
        await pilot.press("enter")  # keep the filter, back to the table
        assert table(app).has_focus and set(order(app)) == {"api", "evil", "host"}
        await pilot.press("escape")
        assert len(order(app)) == 5 and not box.display


async def test_sort_cycles_and_is_shown(rig):
    app = HealthDashApp(rig.engine, rig.config)
    async with app.run_test(size=SIZE) as pilot:
        await settle(rig, app, pilot)
        await pilot.press("s")
        assert "sort: name" in screen_text(app)
        assert order(app) == ["api", "cache", "db", "evil", "host"]
        await pilot.press("s", "s")
        assert "sort: last change" in screen_text(app)
        await pilot.press("s")
        assert "sort: severity" in screen_text(app)
        assert order(app)[-1] in ("api", "host")


async def test_pause_is_loud_and_pauses_the_engine(rig):
    app = HealthDashApp(rig.engine, rig.config)
    async with app.run_test(size=SIZE) as pilot:
        await settle(rig, app, pilot)
        await pilot.press("p")
        assert rig.engine.paused
        assert "PAUSED" in screen_text(app).splitlines()[0]
        before = rig.count("api")
        await rig.clock.advance(60)
        assert rig.count("api") == before  # nothing new starts while paused
        await pilot.press("p")
        assert not rig.engine.paused
        app.refresh_snapshot()
        assert "PAUSED" not in screen_text(app).splitlines()[0]


async def test_r_runs_the_selected_check_and_shift_r_runs_all(rig):
    app = HealthDashApp(rig.engine, rig.config)
    async with app.run_test(size=SIZE) as pilot:
        await settle(rig, app, pilot)
        selected = table(app).selected_check
        counts = {n: rig.count(n) for n in rig.scripts}
        await pilot.press("r")
        await pilot.pause()
        assert rig.count(selected) == counts[selected] + 1
        assert all(rig.count(n) == counts[n] for n in counts if n != selected)
        await pilot.press("R")
        await pilot.pause()
        assert all(rig.count(n) >= counts[n] + 1 for n in counts)


async def test_theme_help_and_quit(rig):
    app = HealthDashApp(rig.engine, rig.config)
    async with app.run_test(size=SIZE) as pilot:
        await settle(rig, app, pilot)
        first = app.theme
        await pilot.press("t")
        assert app.theme != first
        await pilot.pause()
        assert table(app).get_cell("db", "status").plain == "✖ crit"  # redrawn in the new colours
        await pilot.press("question_mark")
        assert isinstance(app.screen, HelpScreen)
        text = screen_text(app)
        assert "pause / resume all checks" in text and "ctrl+r" in text
        await pilot.press("escape")
        assert app.screen is app.overview
        await pilot.press("question_mark", "q")  # q leaves the help first, like a pager
        assert app.screen is app.overview
        assert app.return_code is None
        await pilot.press("q")
        await pilot.pause()
        assert app.return_code == 0


async def test_keys_table_remaps_bindings_and_reports_unknown_actions():
    r = standard_rig(keys={"pause": "w", "bogus_action": "z"})
    app = HealthDashApp(r.engine, r.config)
    try:
        async with app.run_test(size=SIZE) as pilot:
            await pilot.pause()
            assert any("unknown action bogus_action" in n.message for n in app._notifications)
            await pilot.press("w")
            assert r.engine.paused
            await pilot.press("p")  # the old key no longer pauses
            assert r.engine.paused
            await pilot.press("question_mark")
            line = next(l for l in screen_text(app).splitlines() if "pause / resume all checks" in l)
            assert line.split("│")[1].split()[0] == "w"  # the help shows the remapped key
    finally:
        await r.engine.stop()


async def test_command_palette_offers_the_same_actions(rig):
    app = HealthDashApp(rig.engine, rig.config)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        titles = {c.title for c in app.get_system_commands(app.screen)}
        for wanted in ("Pause / resume", "Run all checks now", "Run selected check now", "Filter checks",
                       "Next sort", "Next theme", "Reload config", "Help", "Quit"):
            assert wanted in titles
        pause = next(c for c in app.get_system_commands(app.screen) if c.title == "Pause / resume")
        pause.callback()
        assert rig.engine.paused


async def test_retry_and_stale_marks_are_visible():
    transient = Outcome(Status.CRIT, Reason.CONNECT, "refused", retryable=True)
    flaky = CheckConfig(name="flaky", kind="http", interval=10, timeout=5, retries=2, options={})
    r = Rig({"flaky": [transient, OK], "ok": [OK]}, [flaky, check("ok")])
    app = HealthDashApp(r.engine, r.config)
    try:
        async with app.run_test(size=SIZE) as pilot:
            await r.clock.advance(10)
            app.refresh_snapshot()
            await pilot.pause()
            msg = table(app).get_cell("flaky", "message").plain
            assert msg.startswith("↻ ") and "attempt 2" in msg
            r.engine.pause()
            await r.clock.advance(25)  # more than twice the 10 s interval without a result
            app.refresh_snapshot()
            await pilot.pause()
            assert table(app).get_cell("ok", "message").plain.startswith("stale ")
    finally:
        await r.engine.stop()


# -- config reload ------------------------------------------------------------------------

GOOD = """
[dashboard]
title = "ops"

[[check]]
name = "db"
kind = "tcp"
host = "127.0.0.1"
port = 5432
interval = "10s"
runbook = "runbooks/db.md"
"""

GOOD_PLUS = GOOD + """
[[check]]
name = "api"
kind = "http"
url = "http://127.0.0.1:8080/health"
headers = { Authorization = "Bearer sekrit-token", Accept = "application/json" }
"""

BROKEN = GOOD + """
[[check]]
name = "api"
kind = "http"
port = "not a port"
"""


def file_rig(path: Path) -> Rig:
    from dash.config import load_config

    config: Config = load_config(path)
    return Rig({"db": [REFUSED], "api": [OK]}, config=config)


async def test_reload_with_a_broken_file_keeps_running_and_shows_the_error_line(tmp_path):
    path = tmp_path / "dash.toml"
    path.write_text(GOOD)
    r = file_rig(path)
    app = HealthDashApp(r.engine, r.config, path, watch_config=False)
    try:
        async with app.run_test(size=SIZE) as pilot:
            await settle(r, app, pilot, rounds=1)
            path.write_text(BROKEN)
            assert await app.reload_config() is False
            await pilot.pause()
            assert order(app) == ["db"]
            lines = app.overview.query_one(AlertsPanel).plain_lines
            assert lines[0].startswith("config not reloaded")
            assert any(str(path) in line and ":16:" in line and "port" in line for line in lines), lines
            assert any(n.severity == "error" and "port" in n.message for n in app._notifications)
            assert table(app).get_cell("db", "status").plain == "✖ crit"
    finally:
        await r.engine.stop()


async def test_reload_with_a_good_file_adds_a_check_and_keeps_history(tmp_path):
    path = tmp_path / "dash.toml"
    path.write_text(GOOD)
    r = file_rig(path)
    app = HealthDashApp(r.engine, r.config, path, watch_config=False)
    try:
        async with app.run_test(size=SIZE) as pilot:
            await settle(r, app, pilot, rounds=3)
            path.write_text(GOOD_PLUS)
            await app.check_config_file()  # the watcher's look at the file: it changed, so reload
            await pilot.pause()
            assert set(order(app)) == {"db", "api"}
            assert table(app).get_cell("api", "status").plain == "… pending"
            assert table(app).get_cell("db", "history").plain.strip() == "███"  # old history kept
            assert any(n.message == "reloaded: 2 checks" for n in app._notifications)
            # the new check's detail masks its Authorization header
            table(app).move_cursor(row=order(app).index("api"))
            await pilot.press("enter")
            await pilot.pause()
            text = screen_text(app)
            assert "headers.Authorization  ********" in text
            assert "sekrit" not in text
            assert "application/json" in text
    finally:
        await r.engine.stop()


async def test_detail_renders_a_local_markdown_runbook_literally(tmp_path):
    path = tmp_path / "dash.toml"
    path.write_text(GOOD)
    (tmp_path / "runbooks").mkdir()
    (tmp_path / "runbooks" / "db.md").write_text("# Database down\n\nRestart it: `systemctl restart pg` [bold]not bold[/]\n")
    r = file_rig(path)
    app = HealthDashApp(r.engine, r.config, path, watch_config=False)
    try:
        async with app.run_test(size=(100, 60)) as pilot:
            await settle(r, app, pilot, rounds=1)
            await pilot.press("enter")
            await pilot.pause()
            await app.workers.wait_for_complete()
            await pilot.pause()
            assert app.screen.query_one(Markdown)
            text = screen_text(app)
            assert "Database down" in text
            assert "[bold]not bold[/]" in text
    finally:
        await r.engine.stop()


async def test_no_color_is_honoured(monkeypatch, rig):
    monkeypatch.setenv("NO_COLOR", "1")
    app = HealthDashApp(rig.engine, rig.config)
    assert app.no_color
    assert app.animation_level == "none"


async def test_check_names_with_markup_are_literal_in_notifications():
    name = "[b]db[/b] [@click=app.quit]q[/]"
    r = Rig({name: [REFUSED]}, [check(name)])
    app = HealthDashApp(r.engine, r.config)
    try:
        async with app.run_test(size=SIZE, notifications=True) as pilot:
            await settle(r, app, pilot, rounds=1)
            await pilot.press("r")
            await pilot.pause()
            assert any(n.message == f"running {name} now" and not n.markup for n in app._notifications)
            text = screen_text(app)
            assert "running [b]db[/b]" in text and "[@click=app.quit]q[/] now" in text  # the toast, literally
            assert table(app).get_cell(name, "name").check == name
            assert any(name in line for line in app.overview.query_one(AlertsPanel).plain_lines)
            assert app.return_code is None  # the @click did not fire
    finally:
        await r.engine.stop()
