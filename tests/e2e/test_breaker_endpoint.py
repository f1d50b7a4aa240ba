"""A failing endpoint, a real engine on the real clock: the endpoint's own request
count shows that probes stop while the breaker is open and one trial runs per period."""

from __future__ import annotations

import asyncio

import pytest

from dash.config import parse_config
from dash.engine.scheduler import Engine
from dash.model import BreakerState
from tests.servers import FaultFarm

pytestmark = pytest.mark.e2e


async def wait_for(predicate, timeout: float = 10.0) -> None:
    loop = asyncio.get_running_loop()
    end = loop.time() + timeout
    while not predicate():
        assert loop.time() < end, "timed out waiting"
        await asyncio.sleep(0.02)


async def test_probes_stop_while_open_and_one_trial_runs_per_open_period():
    with FaultFarm() as farm:
        config = parse_config(
            f"""
            [defaults.breaker]
            min_calls = 3
            failure_rate = 50
            open_for = "1s"
            open_for_max = "1s"

            [[check]]
            name = "api"
            kind = "http"
            url = "{farm.url('/status/503')}"
            interval = "100ms"
            timeout = "100ms"
            retries = 0
            """
        )
        engine = Engine(config)
        await engine.start()
        try:
            breaker = engine.breaker("api")
            await wait_for(lambda: breaker.state is BreakerState.OPEN)
            at_open = farm.requests
            assert at_open == 3  # opened after exactly min_calls probes
            # Over the next open period the 100 ms schedule would send ~10 probes: none arrive.
            await wait_for(lambda: farm.requests > at_open, timeout=5)
            assert farm.requests == at_open + 1  # the half-open trial, alone
            assert breaker.state is BreakerState.OPEN  # it failed: open again
            trial_at = asyncio.get_running_loop().time()
            await wait_for(lambda: farm.requests > at_open + 1, timeout=5)
            assert farm.requests == at_open + 2
            # One trial per open period, not one probe per interval.
            assert asyncio.get_running_loop().time() - trial_at >= 0.9
        finally:
            await engine.stop()


async def test_recovery_closes_the_breaker_and_says_why():
    from aiohttp import web

    state = {"healthy": False, "requests": 0}

    async def health(request: web.Request) -> web.Response:
        state["requests"] += 1
        return web.json_response({"status": "UP"}, status=200 if state["healthy"] else 503)

    app = web.Application()
    app.router.add_get("/health", health)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # noqa: SLF001 - the ephemeral port
    config = parse_config(
        f"""
        [defaults.breaker]
        min_calls = 2
        open_for = "300ms"
        [[check]]
        name = "api"
        kind = "http"
        url = "http://127.0.0.1:{port}/health"
        interval = "100ms"
        timeout = "100ms"
        retries = 0
        """
    )
    engine = Engine(config)
    await engine.start()
    try:
        await wait_for(lambda: engine.breaker("api").state is BreakerState.OPEN)
        state["healthy"] = True  # the dependency recovers
        await wait_for(lambda: engine.breaker("api").state is BreakerState.CLOSED, timeout=5)
        snap = engine.breaker("api").snapshot(engine.clock.now())
        assert snap.last_transition_cause == "trial succeeded"
        await wait_for(lambda: engine.board.state("api").status.value == "ok")
    finally:
        await engine.stop()
        await runner.cleanup()
