"""Restarting mid-incident brings back the board, the alerts with their acks, the
breakers and the notes, from a real SQLite file."""

from __future__ import annotations

import asyncio
import random

from dash.clock import FakeClock
from dash.config import CheckConfig, Config
from dash.core.alerts import AlertState
from dash.core.breaker import BreakerSettings
from dash.engine.persist import Persistence
from dash.engine.scheduler import Engine
from dash.model import BreakerState, Status
from dash.store import Store
from tests.engine.test_scheduler import OK, ScriptedProbe
from tests.engine.test_breakers import DOWN

SETTINGS = BreakerSettings(min_calls=3, open_for=60, open_for_max=300)


def make(clock: FakeClock) -> Engine:
    checks = tuple(
        CheckConfig(name=n, kind="fake", interval=5, timeout=2, retries=0, options={}, breaker=n, breaker_settings=SETTINGS)
        for n in ("db", "api")
    )
    scripts = {"db": [DOWN], "api": [OK]}
    return Engine(
        Config(path="t", checks=checks), clock=clock, rng=random.Random(5),
        probe_factory=lambda c, r: ScriptedProbe(clock, scripts[c.name], []),
    )


async def test_a_restart_brings_back_what_was_on_screen(tmp_path):
    path = tmp_path / "history.db"
    clock = FakeClock()
    engine = make(clock)
    store = Store.open(path, now=clock.wall)
    persistence = Persistence(engine, store)
    persistence.start()
    await engine.start()
    await clock.advance(20)
    alert = "check:db:unhealthy"
    assert engine.alerts.alert(alert, clock.wall()).state is AlertState.FIRING
    assert engine.breaker("db").state is BreakerState.OPEN
    engine.acknowledge(alert, by="ana", comment="restarting the primary")
    engine.add_note("failing over to the replica", check="db", by="ana")
    await engine.stop()
    await persistence.stop()

    # A new process: a new engine, a new clock that has moved on 10 s.
    clock2 = FakeClock(start=50.0, wall_offset=clock.wall() + 10 - 50.0)
    engine2 = make(clock2)
    store2 = Store.open(path, now=clock2.wall)
    persistence2 = Persistence(engine2, store2)
    persistence2.start()
    try:
        db = engine2.board.state("db")
        assert db.status is Status.CRIT and "connection refused" in db.last.message
        assert engine2.board.state("api").status is Status.OK
        restored = engine2.alerts.alert(alert, clock2.wall())
        assert restored.state is AlertState.ACKNOWLEDGED and restored.acked_by == "ana"
        breaker = engine2.breaker("db").snapshot(clock2.now())
        assert breaker.state is BreakerState.OPEN and breaker.next_trial_in is not None
        kinds = {e.kind for e in await asyncio.to_thread(store2.timeline)}
        assert {"status", "alert", "ack", "breaker", "note"} <= kinds
        notes = await asyncio.to_thread(store2.notes)
        assert [(n.text, n.check, n.author) for n in notes] == [("failing over to the replica", "db", "ana")]
    finally:
        await persistence2.stop()
