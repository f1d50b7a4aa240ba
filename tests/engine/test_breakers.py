"""Circuit breakers in the engine: no probes while open, one trial per open period."""

from __future__ import annotations

import random

import pytest

from dash.clock import FakeClock
from dash.config import CheckConfig, Config
from dash.core.breaker import BreakerSettings
from dash.engine.scheduler import Engine
from dash.model import BreakerState, Outcome, Reason, Status
from tests.engine.test_scheduler import OK, ScriptedProbe

DOWN = Outcome(Status.CRIT, Reason.CONNECT, "connection refused")
SETTINGS = BreakerSettings(window=60, min_calls=3, failure_rate=50, open_for=30, open_for_max=120)


def check(name: str, breaker: str = "", interval: float = 5) -> CheckConfig:
    return CheckConfig(
        name=name, kind="fake", interval=interval, timeout=2, retries=0, options={},
        breaker=breaker or name, breaker_settings=SETTINGS,
    )


def engine_for(clock: FakeClock, scripts: dict[str, list], checks: list[CheckConfig]) -> tuple[Engine, dict]:
    calls: dict[str, list] = {c.name: [] for c in checks}
    engine = Engine(
        Config(path="t", checks=tuple(checks)),
        clock=clock,
        rng=random.Random(3),
        probe_factory=lambda c, r: ScriptedProbe(clock, scripts[c.name], calls[c.name]),
    )
    return engine, calls


async def test_open_after_min_calls_then_one_trial_per_open_period():
    clock = FakeClock()
    engine, calls = engine_for(clock, {"db": [DOWN]}, [check("db")])
    await engine.start()
    await clock.advance(16)  # first run somewhere in [0, 5), then every 5 s: 3 failures by now
    breaker = engine.breaker("db")
    assert breaker.state is BreakerState.OPEN
    opened_at = len(calls["db"])
    assert opened_at == 3
    # While open, the slots record "not probed" and the endpoint sees nothing...
    await clock.advance(25)
    assert len(calls["db"]) == opened_at
    last = engine.board.state("db").last
    assert last.attempts == 0 and last.status is Status.CRIT
    assert last.message.startswith("circuit open: not probed; trial in ")
    assert "(last: connection refused)" in last.message
    # ...until exactly one trial at open_for, which fails: open twice as long.
    await clock.advance(10)
    assert len(calls["db"]) == opened_at + 1
    assert breaker.state is BreakerState.OPEN and breaker.open_for == 60
    await clock.advance(45)
    assert len(calls["db"]) == opened_at + 1
    await clock.advance(10)
    assert len(calls["db"]) == opened_at + 2
    assert breaker.open_for == 120  # the cap
    await engine.stop()


async def test_a_successful_trial_closes_and_normal_probes_resume():
    clock = FakeClock()
    script = [DOWN, DOWN, DOWN, OK]
    engine, calls = engine_for(clock, {"db": script}, [check("db")])
    await engine.start()
    await clock.advance(16)
    assert engine.breaker("db").state is BreakerState.OPEN
    await clock.advance(35)  # the trial succeeds
    snap = engine.breaker("db").snapshot(clock.now())
    assert snap.state is BreakerState.CLOSED
    assert snap.last_transition_cause == "trial succeeded"
    before = len(calls["db"])
    await clock.advance(20)
    assert len(calls["db"]) == before + 4  # every 5 s again
    assert engine.board.state("db").status is Status.OK
    await engine.stop()


async def test_checks_sharing_a_breaker_stop_together():
    clock = FakeClock()
    engine, calls = engine_for(
        clock,
        {"primary": [DOWN], "replica": [DOWN], "other": [OK]},
        [check("primary", "orders-db"), check("replica", "orders-db"), check("other")],
    )
    await engine.start()
    await clock.advance(11)  # two runs each: four failures on the shared breaker
    assert engine.breaker("orders-db").state is BreakerState.OPEN
    stopped = len(calls["primary"]) + len(calls["replica"])
    await clock.advance(20)
    assert len(calls["primary"]) + len(calls["replica"]) == stopped
    assert len(calls["other"]) >= 6
    names = {b.name for b in engine.snapshot().breakers}
    assert names == {"orders-db", "other"}
    await engine.stop()


async def test_operator_overrides():
    clock = FakeClock()
    engine, calls = engine_for(clock, {"db": [OK]}, [check("db")])
    await engine.start()
    await clock.advance(6)
    assert engine.breaker_command("db", "force_open")
    before = len(calls["db"])
    await clock.advance(60)
    assert len(calls["db"]) == before  # forced open: no probes, no trials
    assert engine.board.state("db").last.message.startswith("circuit forced open by operator")
    engine.breaker_command("db", "reset")
    await clock.advance(10)
    assert len(calls["db"]) == before + 2
    assert not engine.breaker_command("db", "explode")
    assert not engine.breaker_command("nope", "reset")
    await engine.stop()


@pytest.mark.parametrize("command", ["force_closed", "metrics_only"])
async def test_overrides_that_never_block(command):
    clock = FakeClock()
    engine, calls = engine_for(clock, {"db": [DOWN]}, [check("db")])
    await engine.start()
    engine.breaker_command("db", command)
    await clock.advance(60)
    assert len(calls["db"]) == 12  # every slot probed despite the failures
    await engine.stop()
