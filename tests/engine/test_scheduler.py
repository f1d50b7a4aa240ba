"""The engine's schedule, deadlines and retries, on a fake clock with scripted probes."""

from __future__ import annotations

import asyncio
import random

import pytest

from checks.base import Probe, Resources
from dash.clock import FakeClock
from dash.config import CheckConfig, Config
from dash.engine.scheduler import Engine
from dash.model import Outcome, Reason, Status
from dash.text import Redactor


class ScriptedProbe(Probe):
    """Returns scripted outcomes; a float in the script means "take this long" (fake time)."""

    def __init__(self, clock: FakeClock, script: list, calls: list) -> None:
        self.clock, self.script, self.calls = clock, list(script), calls

    async def probe(self) -> Outcome:
        self.calls.append(self.clock.now())
        step = self.script.pop(0) if len(self.script) > 1 else self.script[0]
        if isinstance(step, (int, float)):
            await self.clock.sleep(step)
            return Outcome.ok("slow but fine")
        if isinstance(step, Exception):
            raise step
        return step


def check(name: str, interval: float = 10, timeout: float = 5, retries: int = 0) -> CheckConfig:
    return CheckConfig(name=name, kind="fake", interval=interval, timeout=timeout, retries=retries, options={})


OK = Outcome.ok("fine")
REFUSED = Outcome(Status.CRIT, Reason.CONNECT, "connection refused", retryable=True)
NOT_FOUND = Outcome(Status.CRIT, Reason.HTTP_STATUS, "404 Not Found")


def make_engine(clock: FakeClock, scripts: dict[str, list], checks: list[CheckConfig], **kw) -> tuple[Engine, dict]:
    calls: dict[str, list] = {c.name: [] for c in checks}
    config = Config(path="test.toml", checks=tuple(checks), **kw)
    engine = Engine(
        config,
        clock=clock,
        rng=random.Random(7),
        probe_factory=lambda c, r: ScriptedProbe(clock, scripts[c.name], calls[c.name]),
    )
    return engine, calls


async def run_once(engine: Engine, clock: FakeClock, seconds: float = 60) -> list:
    """engine.run_once() while fake time moves on (retries and deadlines sleep on the clock)."""
    task = asyncio.ensure_future(engine.run_once())
    await clock.advance(seconds)
    return await task


async def test_first_runs_are_spread_over_the_interval_then_follow_it():
    clock = FakeClock()
    names = [f"c{i}" for i in range(20)]
    engine, calls = make_engine(clock, {n: [OK] for n in names}, [check(n, interval=10) for n in names])
    await engine.start()
    await clock.advance(10)
    firsts = sorted(calls[n][0] - 1000 for n in names)
    assert all(len(calls[n]) == 1 for n in names)
    assert firsts[0] < 3 and firsts[-1] > 7, "first runs should cover the interval, not fire together"
    await clock.advance(30)
    for n in names:
        gaps = [b - a for a, b in zip(calls[n], calls[n][1:])]
        assert gaps == pytest.approx([10, 10, 10])
    await engine.stop()


async def test_a_hung_check_does_not_delay_another_and_does_not_pile_up():
    clock = FakeClock()
    engine, calls = make_engine(
        clock,
        {"hung": [1e9], "fast": [OK]},
        [check("hung", interval=5, timeout=5), check("fast", interval=1, timeout=1)],
    )
    await engine.start()
    await clock.advance(60)
    fast = calls["fast"]
    assert len(fast) >= 59
    assert [b - a for a, b in zip(fast, fast[1:])] == pytest.approx([1] * (len(fast) - 1))
    probed = [r for r in engine.board.results("hung") if r.attempts > 0]
    assert all(r.status is Status.CRIT and r.reason is Reason.TIMEOUT for r in probed)
    assert probed[0].message == "no answer within 5s"
    # One probe per 5 s slot at most: timeouts end each run, nothing overlaps (and the
    # breaker stops probing after a few of them).
    assert len(calls["hung"]) <= 12
    await engine.stop()


async def test_transient_failures_are_retried_within_the_deadline_and_flagged():
    clock = FakeClock()
    engine, calls = make_engine(clock, {"api": [REFUSED, REFUSED, OK]}, [check("api", retries=3)])
    [result] = await run_once(engine, clock)
    assert result.status is Status.OK
    assert result.attempts == 3
    assert result.passed_after_retry
    assert "attempt 3" in result.message
    # Backoff waits happened between attempts and stayed within the policy's bounds.
    gaps = [b - a for a, b in zip(calls["api"], calls["api"][1:])]
    assert all(0 <= g <= engine.retry.ceiling(i + 1) for i, g in enumerate(gaps))


async def test_permanent_failures_are_not_retried():
    clock = FakeClock()
    engine, calls = make_engine(clock, {"api": [NOT_FOUND]}, [check("api", retries=3)])
    [result] = await run_once(engine, clock)
    assert result.attempts == 1
    assert result.reason is Reason.HTTP_STATUS
    assert len(calls["api"]) == 1


async def test_retries_stop_at_the_configured_count():
    clock = FakeClock()
    engine, calls = make_engine(clock, {"api": [REFUSED]}, [check("api", retries=2)])
    [result] = await run_once(engine, clock)
    assert result.attempts == 3
    assert result.status is Status.CRIT and result.reason is Reason.CONNECT
    assert result.message == "connection refused (3 attempts)"


async def test_retries_never_run_past_the_deadline():
    clock = FakeClock()
    # Each attempt takes 2 s of a 5 s deadline, then fails transiently.

    class SlowRefusal(Probe):
        def __init__(self) -> None:
            self.calls = 0

        async def probe(self) -> Outcome:
            self.calls += 1
            await clock.sleep(2.0)
            return REFUSED

    probe = SlowRefusal()
    config = Config(path="t", checks=(check("api", timeout=5, retries=10),))
    engine = Engine(config, clock=clock, rng=random.Random(1), probe_factory=lambda c, r: probe)
    [result] = await run_once(engine, clock)
    assert result.finished_at - result.started_at <= 5.0 + 1e-9
    assert probe.calls <= 3


async def test_a_probe_that_raises_becomes_unknown_internal():
    clock = FakeClock()
    engine, _ = make_engine(clock, {"bug": [RuntimeError("kaboom \x1b[31mred")]}, [check("bug")])
    [result] = await run_once(engine, clock)
    assert result.status is Status.UNKNOWN and result.reason is Reason.INTERNAL
    assert result.message == "internal error: RuntimeError: kaboom red"


async def test_secrets_are_redacted_from_messages():
    clock = FakeClock()
    leak = Outcome(Status.CRIT, Reason.CONNECT, "failed to reach https://x/?token=s3cr3t-value")
    config = Config(path="t", checks=(check("api"),), redactor=Redactor(["s3cr3t-value"]))
    engine = Engine(config, clock=clock, probe_factory=lambda c, r: ScriptedProbe(clock, [leak], []))
    [result] = await run_once(engine, clock)
    assert "s3cr3t" not in result.message
    assert result.message.endswith("token=********")


async def test_pause_stops_new_probes_and_resume_keeps_the_phase():
    clock = FakeClock()
    engine, calls = make_engine(clock, {"a": [OK]}, [check("a", interval=10)])
    await engine.start()
    await clock.advance(25)
    before = len(calls["a"])
    phase = (calls["a"][0] - 1000) % 10
    engine.pause()
    await clock.advance(100)
    assert len(calls["a"]) == before
    assert engine.snapshot().paused
    engine.resume()
    await clock.advance(20)
    assert len(calls["a"]) == before + 2
    assert (calls["a"][-1] - 1000) % 10 == pytest.approx(phase)
    await engine.stop()


async def test_run_now_runs_outside_the_schedule():
    clock = FakeClock()
    engine, calls = make_engine(clock, {"a": [OK], "b": [OK]}, [check("a", interval=60), check("b", interval=60)])
    engine.run_now("a")
    await clock.advance(0)
    assert len(calls["a"]) == 1 and len(calls["b"]) == 0
    engine.run_now()
    await clock.advance(0)
    assert len(calls["a"]) == 2 and len(calls["b"]) == 1


async def test_concurrency_is_bounded():
    clock = FakeClock()
    names = [f"c{i}" for i in range(10)]
    in_flight = []
    peak = []

    class Slow(Probe):
        async def probe(self) -> Outcome:
            in_flight.append(1)
            peak.append(len(in_flight))
            await clock.sleep(1)
            in_flight.pop()
            return OK

    config = Config(path="t", checks=tuple(check(n) for n in names), concurrency=3)
    engine = Engine(config, clock=clock, probe_factory=lambda c, r: Slow())
    results = await run_once(engine, clock)
    assert len(results) == 10 and max(peak) == 3
    assert sorted(r.lag for r in results)[-1] == pytest.approx(3.0)


async def test_reload_keeps_unchanged_checks_history_and_replaces_changed_ones():
    clock = FakeClock()
    scripts = {"keep": [OK], "change": [OK], "gone": [OK], "new": [OK]}
    engine, calls = make_engine(clock, scripts, [check("keep"), check("change"), check("gone")])
    await run_once(engine, clock)
    kept = engine.board.state("keep")
    new_config = Config(path="t", checks=(check("keep"), check("change", interval=20), check("new")))
    await engine.reload(new_config)
    snap = engine.snapshot()
    assert [c.name for c in snap.checks] == ["keep", "change", "new"]
    assert engine.board.state("keep").last is kept.last
    assert engine.board.state("change").interval == 20
    assert engine.board.state("new").last is None
