"""Two dashboards attached to one agent: an ack from the keyboard of one reaches the
agent, and the other shows it."""

from __future__ import annotations

import asyncio

from dash.agent import serve
from dash.agent.client import RemoteEngine
from dash.core.alerts import AlertState
from dash.tui.app import HealthDashApp
from tests.tui.helpers import OK, REFUSED, Rig, check
from tests.tui.test_history import SIZE, TOKEN, select_check

DB = "check:db:unhealthy"


async def test_an_ack_from_an_attached_dashboard_reaches_the_agent_and_the_other_dashboard():
    rig = Rig({"api": [OK], "db": [REFUSED]}, [check("api"), check("db", kind="tcp")])
    await rig.engine.start()
    await rig.clock.advance(30)
    assert rig.engine.alerts.alert(DB, rig.clock.wall()).state is AlertState.FIRING
    server = await serve(rig.engine, host="127.0.0.1", port=0, token=TOKEN)
    first, second = RemoteEngine(server.url, token=TOKEN), RemoteEngine(server.url, token=TOKEN)
    app = HealthDashApp(first, first.config, watch_config=False)
    try:
        await second.start()
        async with app.run_test(size=SIZE) as pilot:
            await pilot.pause()
            app.refresh_snapshot()
            await pilot.pause()
            select_check(app, "db")
            await pilot.press("a")
            for _ in range(200):  # the ack goes to the agent over HTTP
                if rig.engine.alerts.alert(DB, rig.clock.wall()).state is AlertState.ACKNOWLEDGED:
                    break
                await asyncio.sleep(0.02)
            assert rig.engine.alerts.alert(DB, rig.clock.wall()).state is AlertState.ACKNOWLEDGED
        assert await second.poll()
        seen = next(a for a in second.snapshot().alerts if a.fingerprint == DB)
        assert seen.state is AlertState.ACKNOWLEDGED
    finally:
        await second.stop()
        await first.stop()
        await server.stop()
        await rig.engine.stop()
