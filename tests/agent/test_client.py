"""Two dashboards attached to one agent see the same board and the same acks;
losing the agent is loud."""

from __future__ import annotations

import asyncio

from dash.agent import serve
from dash.agent.client import RemoteEngine
from dash.clock import FakeClock
from dash.core.alerts import AlertState
from tests.agent.test_server import DB_ALERT, REFUSED, TOKEN, make_engine


async def until(predicate, timeout: float = 5.0) -> None:
    loop = asyncio.get_running_loop()
    end = loop.time() + timeout
    while not predicate():
        assert loop.time() < end, "timed out"
        await asyncio.sleep(0.02)


async def test_attached_dashboards_share_the_board_and_the_acks():
    clock = FakeClock()
    engine = make_engine(clock, {"api": [0.3], "db": [REFUSED]})
    await engine.start()
    server = await serve(engine, host="127.0.0.1", port=0, token=TOKEN)
    await clock.advance(25)
    first, second = RemoteEngine(server.url, token=TOKEN), RemoteEngine(server.url, token=TOKEN)
    try:
        await first.start()
        await second.start()
        snap = first.snapshot()
        assert {c.name: c.status.value for c in snap.checks} == {"api": "ok", "db": "crit"}
        assert snap.errors == ()
        assert [a.fingerprint for a in snap.alerts if a.fingerprint == DB_ALERT] == [DB_ALERT]

        first.acknowledge(DB_ALERT, by="ana", comment="restarting it")
        await until(lambda: engine.alerts.alert(DB_ALERT, clock.wall()).state is AlertState.ACKNOWLEDGED)
        await second.poll()
        seen = next(a for a in second.snapshot().alerts if a.fingerprint == DB_ALERT)
        assert seen.state is AlertState.ACKNOWLEDGED

        await server.stop()
        assert not await first.poll()
        errors = first.snapshot().errors
        assert errors and errors[0].startswith("agent unreachable since ")
        # The last board is still shown for context, but not as if it were current.
        assert {c.name for c in first.snapshot().checks} == {"api", "db"}
    finally:
        await first.stop()
        await second.stop()
        await server.stop()
        await engine.stop()


async def test_commands_without_the_token_change_nothing():
    clock = FakeClock()
    engine = make_engine(clock, {"db": [REFUSED]})
    await engine.start()
    server = await serve(engine, host="127.0.0.1", port=0, token=TOKEN)
    await clock.advance(25)
    anonymous = RemoteEngine(server.url)
    try:
        await anonymous.start()
        anonymous.acknowledge(DB_ALERT)
        await asyncio.sleep(0)  # let the request go out
        await until(lambda: not anonymous._pending)  # noqa: SLF001 - wait for the refusal
        assert engine.alerts.alert(DB_ALERT, clock.wall()).state is AlertState.FIRING
    finally:
        await anonymous.stop()
        await server.stop()
        await engine.stop()
