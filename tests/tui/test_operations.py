"""Breakers, services and alerts in the dashboard, driven by Pilot at 80x24 on scripted
checks and a fake clock: what an on-call person sees and what their keys change."""

from __future__ import annotations

import pytest

from dash.config import AlertSettings
from dash.core.alerts import AlertState, fingerprint
from dash.core.breaker import BreakerSettings
from dash.model import BreakerState, Metric, Outcome
from dash.tui.app import HealthDashApp
from dash.tui.screens.breakers import BreakersScreen
from dash.tui.screens.silence import SilenceForm, SilencesScreen
from dash.tui.widgets.services import ServicesPanel
from tests.tui.helpers import OK, REFUSED, Rig, check, screen_text, services_rig, standard_rig

SIZE = (80, 24)


async def settle(rig: Rig, app: HealthDashApp, pilot, seconds: float = 30) -> None:
    """Let fake time pass (checks run every 10 s) and redraw."""
    await rig.clock.advance(seconds)
    app.refresh_snapshot()
    await pilot.pause()


def alert_state(rig: Rig, name: str, subject: str = "check") -> AlertState | None:
    alert = rig.engine.alerts.alert(fingerprint(subject, name), rig.clock.wall())
    return alert.state if alert else None


def select_check(app: HealthDashApp, name: str) -> None:
    table = app.overview.table
    table.move_cursor(row=table.get_row_index(name), animate=False)


@pytest.fixture
async def shop():
    r = services_rig()
    yield r
    await r.engine.stop()


# -- breakers ------------------------------------------------------------------------------


async def test_breaker_panel_shows_an_open_breaker_with_a_countdown(shop):
    app = HealthDashApp(shop.engine, shop.config)
    async with app.run_test(size=SIZE) as pilot:
        await settle(shop, app, pilot)
        assert app.overview.table.get_cell("orders-db", "breaker").plain == "⊘"  # the checks table marks it
        assert app.overview.table.get_cell("api", "breaker").plain == " "
        await pilot.press("b")
        screen = app.screen
        assert isinstance(screen, BreakersScreen)
        rows = screen.rows
        assert [r.state for r in rows[:2]] == ["OPEN", "OPEN"]  # errors first
        assert {r.name for r in rows[:2]} == {"orders-db", "search-idx"}
        assert all(r.state == "CLOSED" for r in rows[2:])
        db = next(r for r in rows if r.name == "orders-db")
        assert db.error == "100%"
        seconds = int(db.trial.removeprefix("in ").removesuffix("s"))
        assert 0 < seconds <= 30
        text = screen_text(app)
        assert "circuit breakers  2 open · 4 closed" in text
        assert f"in {seconds}s" in text
        # the countdown runs with the clock
        await settle(shop, app, pilot, seconds=5)
        db = next(r for r in screen.rows if r.name == "orders-db")
        assert db.trial == f"in {seconds - 5}s"
        assert f"in {seconds - 5}s" in screen_text(app)
        # the pane explains the selected breaker: why it opened, its sparkline and percentiles
        screen.table.move_cursor(row=[r.key for r in screen.rows].index("orders-db"), animate=False)
        await pilot.pause()
        text = screen_text(app)
        assert "failure rate 100% >= 50% over 2 calls" in text
        assert "p50 " in text and "p99 " in text and "calls/min" in text
        assert "█" in text  # the error-rate sparkline
        await pilot.press("escape")
        assert app.screen is app.overview


async def test_override_keys_change_the_engines_breaker(shop):
    app = HealthDashApp(shop.engine, shop.config)
    async with app.run_test(size=SIZE) as pilot:
        await settle(shop, app, pilot)
        await pilot.press("b")
        screen = app.screen
        assert isinstance(screen, BreakersScreen)

        def select(name: str) -> None:
            app.screen.table.move_cursor(row=[r.key for r in app.screen.rows].index(name), animate=False)

        select("api")
        await pilot.press("o")
        assert shop.engine.breaker("api").state is BreakerState.FORCED_OPEN
        assert any(n.message == "breaker api forced open" for n in app._notifications)
        assert screen.selected.name == "api" and screen.selected.state == "FORCED-OPEN"  # the cursor followed it
        assert screen.rows[0].name == "api" or screen.rows[0].state == "OPEN"  # now among the errors
        await pilot.press("c")
        assert shop.engine.breaker("api").state is BreakerState.FORCED_CLOSED
        await pilot.press("m")
        assert shop.engine.breaker("api").state is BreakerState.METRICS_ONLY
        assert "METRICS-ONLY" in screen_text(app)
        await pilot.press("z")
        assert shop.engine.breaker("api").state is BreakerState.CLOSED
        assert any(n.message == "breaker api reset to closed" for n in app._notifications)
        select("orders-db")
        await pilot.press("o")
        await pilot.press("escape")
        app.refresh_snapshot()
        await pilot.pause()
        assert app.overview.table.get_cell("orders-db", "breaker").plain == "⊗"  # forced open
        await pilot.press("b")
        select("orders-db")
        await pilot.press("z")
        assert shop.engine.breaker("orders-db").state is BreakerState.CLOSED


async def test_watched_applications_breakers_are_listed_and_read_only():
    report = Outcome.ok("1 of 2 breakers open", (
        Metric("breaker_state:paymentService", float(list(BreakerState).index(BreakerState.OPEN))),
        Metric("breaker_failure_rate:paymentService", 80.0),
        Metric("breaker_calls:paymentService", 10),
        Metric("breaker_state:stockService", 0.0),
    ))
    r = Rig({"orders-app": [report], "db": [OK]}, [check("orders-app", kind="breakers"), check("db")])
    app = HealthDashApp(r.engine, r.config)
    try:
        async with app.run_test(size=SIZE) as pilot:
            await settle(r, app, pilot)
            await pilot.press("b")
            screen = app.screen
            assert screen.rows[0].name == "orders-app › paymentService"
            assert (screen.rows[0].state, screen.rows[0].error, screen.rows[0].own) == ("OPEN", "80%", False)
            assert "orders-app › stockService" in [row.name for row in screen.rows]
            assert "orders-app › paymentService" in screen_text(app)
            screen.table.move_cursor(row=0, animate=False)
            await pilot.press("o")
            assert any("o c m z change healthdash's breakers only" in n.message for n in app._notifications)
            assert all(r.engine.breaker(n).state is BreakerState.CLOSED for n in ("orders-app", "db"))
            assert "read-only" in screen_text(app)
    finally:
        await r.engine.stop()


# -- services ------------------------------------------------------------------------------


async def test_services_panel_says_what_is_down_and_degraded(shop):
    app = HealthDashApp(shop.engine, shop.config)
    async with app.run_test(size=(80, 30)) as pilot:
        await settle(shop, app, pilot)
        lines = [" ".join(line.split()) for line in app.overview.query_one(ServicesPanel).plain_lines]
        assert lines == [
            "✖ checkout down — orders-db crit",
            "✖ refunds down — orders-db crit",
            "▲ search degraded: search disabled",
            "✔ 1 ok web",
        ]
        assert "checkout  down — orders-db crit" in screen_text(app)


async def test_services_panel_is_hidden_without_services():
    r = standard_rig()
    app = HealthDashApp(r.engine, r.config)
    try:
        async with app.run_test(size=SIZE) as pilot:
            await settle(r, app, pilot)
            panel = app.overview.query_one(ServicesPanel)
            assert not panel.display and panel.region.height == 0
            assert "waiting for the first results" not in screen_text(app)
    finally:
        await r.engine.stop()


# -- alerts --------------------------------------------------------------------------------


async def test_alert_panel_folds_symptoms_under_the_root_cause():
    r = services_rig({"flaky": (check("flaky", confirm=9), [REFUSED])})  # fails, but is not confirmed yet
    app = HealthDashApp(r.engine, r.config)
    try:
        async with app.run_test(size=(100, 40)) as pilot:
            await settle(r, app, pilot)
            lines = app.overview.alerts_panel.plain_lines
            assert lines[0].startswith("alerts (3 open, 3 symptoms, 1 unconfirmed)")
            assert lines[1].split()[:3] == ["P1", "firing", "orders-db"]
            assert "×3 since 17s, last 7s  crit; checkout, refunds down — " in lines[1] and "connection refused" in lines[1]
            assert lines[2].split() == ["+2", "symptoms:", "checkout,", "refunds"]
            assert any(line.startswith("unconfirmed flaky") or "unconfirmed flaky" in line for line in lines)
            unconfirmed = next(i for i, line in enumerate(lines) if "unconfirmed" in line and "flaky" in line)
            resolved_or_end = lines[unconfirmed:]
            assert "✖ crit connect: connection refused" in resolved_or_end[0]
            await pilot.press("e")  # unfold
            lines = app.overview.alerts_panel.plain_lines
            assert lines[2].split()[:4] == ["P1", "symptom", "└", "checkout"]  # tier 1: down is P1
            assert lines[3].split()[1:4] == ["symptom", "└", "refunds"]
            assert "e: fold symptoms" in lines[0]
            await pilot.press("e")
            assert "+2 symptoms" in app.overview.alerts_panel.plain_lines[2]
    finally:
        await r.engine.stop()


async def test_ack_and_unack_from_the_checks_table(shop):
    app = HealthDashApp(shop.engine, shop.config)
    async with app.run_test(size=SIZE) as pilot:
        await settle(shop, app, pilot)
        assert alert_state(shop, "orders-db") is AlertState.FIRING
        select_check(app, "orders-db")
        await pilot.press("a")
        assert alert_state(shop, "orders-db") is AlertState.ACKNOWLEDGED
        assert any(line.startswith("P1 acknowledged orders-db") for line in app.overview.alerts_panel.plain_lines)
        await pilot.press("A")
        assert alert_state(shop, "orders-db") is AlertState.FIRING
        select_check(app, "api")  # no alert: says so, changes nothing
        await pilot.press("a")
        assert any(n.message == "api: no open alert to acknowledge" for n in app._notifications)


async def test_ack_a_service_alert_from_the_focused_alert_panel(shop):
    app = HealthDashApp(shop.engine, shop.config)
    async with app.run_test(size=(100, 40)) as pilot:
        await settle(shop, app, pilot)
        await pilot.press("e", "tab")
        panel = app.overview.alerts_panel
        assert panel.has_focus and panel.selected.name == "orders-db"
        await pilot.press("down")
        assert panel.selected.name == "checkout" and panel.selected.subject == "service"
        await pilot.press("a")
        alert = shop.engine.alerts.alert(fingerprint("service", "checkout"), shop.clock.wall())
        assert alert.acked_by is not None
        assert panel.selected.name == "checkout"  # the cursor stays on it across the redraw
        await pilot.press("A")
        alert = shop.engine.alerts.alert(fingerprint("service", "checkout"), shop.clock.wall())
        assert alert.acked_by is None
        await pilot.press("tab")
        assert app.overview.table.has_focus


async def test_silence_from_the_keyboard_and_remove_it(shop):
    app = HealthDashApp(shop.engine, shop.config)
    async with app.run_test(size=SIZE) as pilot:
        await settle(shop, app, pilot)
        select_check(app, "orders-db")
        await pilot.press("x")
        form = app.screen
        assert isinstance(form, SilenceForm)
        assert form.field("match").value == "orders-db"  # the selected check by default
        assert form.field("for").value == "1h"
        form.field("for").value = "soon"
        await pilot.press("enter")
        assert app.screen is form  # a silence always ends: no duration, no silence
        assert "for: expected a duration" in screen_text(app)
        form.field("for").value = "30m"
        form.field("comment").value = "drill [b]x[/b]"
        await pilot.press("enter")
        assert app.screen is app.overview
        assert alert_state(shop, "orders-db") is AlertState.SILENCED
        (silence,) = shop.engine.snapshot().silences
        assert silence.match == "orders-db" and silence.until == pytest.approx(shop.clock.wall() + 1800)
        assert any(line.startswith("P1 silenced  orders-db") or "silenced" in line.split()[1:2]
                   for line in app.overview.alerts_panel.plain_lines)
        await pilot.press("X")
        await pilot.pause()
        assert isinstance(app.screen, SilencesScreen)
        text = screen_text(app)
        assert "orders-db" in text and "(in 30m)" in text and ": drill [b]x[/b]" in text
        await pilot.press("d")
        await pilot.pause()
        assert shop.engine.snapshot().silences == ()
        assert alert_state(shop, "orders-db") is AlertState.FIRING
        assert "none active" in screen_text(app)
        await pilot.press("escape")
        assert app.screen is app.overview


async def test_silence_form_cancels_with_escape(shop):
    app = HealthDashApp(shop.engine, shop.config)
    async with app.run_test(size=SIZE) as pilot:
        await settle(shop, app, pilot)
        await pilot.press("x")
        assert isinstance(app.screen, SilenceForm)
        await pilot.press("escape")
        assert app.screen is app.overview and shop.engine.snapshot().silences == ()


# -- notifications -----------------------------------------------------------------------------


async def test_a_page_rings_the_bell_and_toasts_and_recovery_toasts_quietly(shop):
    app = HealthDashApp(shop.engine, shop.config)
    rings: list[int] = []
    app.bell = lambda: rings.append(1)  # type: ignore[method-assign]
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        await settle(shop, app, pilot)
        pages = [n for n in app._notifications if n.title == "P1 page: orders-db"]
        assert len(pages) == 1 and pages[0].severity == "error" and not pages[0].markup
        assert pages[0].message == "crit; checkout, refunds down — connection refused"
        assert len(rings) == 1  # one page, one bell (P3s do not page)
        assert "P1 page: orders-db" in screen_text(app)
        shop.scripts["orders-db"][:] = [OK]
        await settle(shop, app, pilot, seconds=60)  # the half-open trial closes the breaker, then it recovers
        resolved = [n for n in app._notifications if n.title == "resolved: orders-db"]
        assert resolved and resolved[0].message.startswith("orders-db recovered after ")
        assert resolved[0].severity == "information"
        assert len(rings) == 1  # recovery does not ring


async def test_bell_and_toast_can_be_turned_off():
    r = services_rig(alerts=AlertSettings(bell=False, toast=False))
    app = HealthDashApp(r.engine, r.config)
    rings: list[int] = []
    app.bell = lambda: rings.append(1)  # type: ignore[method-assign]
    try:
        async with app.run_test(size=SIZE) as pilot:
            await settle(r, app, pilot)
            assert any(a.paged for a in r.engine.snapshot().alerts)
            assert rings == [] and not any("page" in n.title for n in app._notifications)
    finally:
        await r.engine.stop()


async def test_monitor_offline_is_loud_in_the_header():
    steady = BreakerSettings(enabled=False)  # the canary's own breaker stays out of this test
    r = Rig({"gateway": [REFUSED], "api": [REFUSED]},
            [check("gateway", kind="tcp", breaker_settings=steady), check("api")], canaries=("gateway",))
    app = HealthDashApp(r.engine, r.config)
    try:
        async with app.run_test(size=SIZE) as pilot:
            await settle(r, app, pilot)
            assert "⚠ MONITOR OFFLINE" in screen_text(app).splitlines()[0]
            r.scripts["gateway"][:] = [OK]
            await settle(r, app, pilot)
            assert "MONITOR OFFLINE" not in screen_text(app).splitlines()[0]
    finally:
        await r.engine.stop()


async def test_palette_and_help_offer_the_new_commands(shop):
    app = HealthDashApp(shop.engine, shop.config)
    async with app.run_test(size=SIZE) as pilot:
        await settle(shop, app, pilot)
        titles = {c.title for c in app.get_system_commands(app.screen)}
        for wanted in ("Circuit breakers", "Acknowledge alert", "Unacknowledge alert", "Silence alerts", "Silences",
                       "Show / fold symptoms"):
            assert wanted in titles
        await pilot.press("b")
        commands = {c.title: c for c in app.get_system_commands(app.screen)}
        assert {"Breaker: force open", "Breaker: force closed", "Breaker: metrics only", "Breaker: reset"} <= set(commands)
        app.screen.table.move_cursor(row=[r.key for r in app.screen.rows].index("api"), animate=False)
        commands["Breaker: force open"].callback()
        assert shop.engine.breaker("api").state is BreakerState.FORCED_OPEN
        await pilot.press("escape", "question_mark")
        text = screen_text(app)
        for words in ("circuit breakers", "force open / closed / metrics-only / reset", "silence by name or glob",
                      "acknowledge the selected"):
            assert words in text
