"""Proof under fire: 500 failing checks over every fault kind beside 500 healthy ones,
on the real engine against real loopback servers, first headless, then under the
dashboard (Pilot) with keys pressed.

The farms run in child processes (tests/faults/farm.py); what is judged is in
tests/faults/suite.py, which bench/faults.py runs at full length. The headless
phase is judged (reasons, flapping, schedule slip); the whole run must raise nothing
(no internal errors, no exception in the app, no error logged), keep every message
free of control characters, and keep descriptors and tasks bounded and released.
Sizes come from HEALTHDASH_FAULT_HEALTHY / HEALTHDASH_FAULT_FAILING /
HEALTHDASH_FAULT_SECONDS (default 500 / 500 / 20 s of real time at a 2 s interval,
the last 8 s of it under the dashboard) and are printed.
"""

from __future__ import annotations

import asyncio
import logging
import os
from typing import Any

import pytest

from dash.engine.scheduler import Engine
from dash.tui.app import HealthDashApp
from tests.faults.farm import Farms
from tests.faults.suite import Suite
from tests.tui.helpers import screen_text

pytestmark = pytest.mark.e2e

HEALTHY = int(os.environ.get("HEALTHDASH_FAULT_HEALTHY", "500"))
FAILING = int(os.environ.get("HEALTHDASH_FAULT_FAILING", "500"))
SECONDS = float(os.environ.get("HEALTHDASH_FAULT_SECONDS", "20"))
TUI_SECONDS = min(8.0, SECONDS / 2)  # the tail of the run, under the dashboard
SIZE = (120, 40)

# What an on-call person does meanwhile, most telling first (each press waits for the app
# to go idle, about 2 s under this load): open a failing check's detail, the breakers
# screen, sort, help, acknowledge. Never pause or run-now: they change the schedule.
KEYS = ["enter", "escape", "b", "escape", "s", "question_mark", "escape", "down", "a"]


class AlreadyRunning:
    """The engine as the app sees it: the app starts its engine on mount, but this one has
    been polling headless since the run began, so start() must not start it twice."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def __getattr__(self, name: str) -> Any:
        return getattr(self._engine, name)

    async def start(self) -> None:
        """Already started."""


async def test_faults_are_reported_precisely_and_nothing_slips_leaks_or_raises(tmp_path, caplog):
    caplog.set_level(logging.WARNING, logger="healthdash")
    loop = asyncio.get_running_loop()
    loop_errors: list[dict] = []
    previous_handler = loop.get_exception_handler()
    loop.set_exception_handler(lambda _loop, context: loop_errors.append(context))
    messages: list[object] = []
    pressed: list[str] = []
    try:
        with Farms(str(tmp_path)) as addresses:
            suite = Suite(addresses, healthy=HEALTHY, failing=FAILING, interval=2.0, timeout=1.0)
            print(f"\nfault suite: {suite.setup}; {SECONDS:g} s, the last {TUI_SECONDS:g} s under the TUI at {SIZE}")
            engine = suite.engine
            async with suite.measuring():
                suite.phase("headless")
                await engine.start()
                await asyncio.sleep(SECONDS - TUI_SECONDS)

                suite.phase("under the TUI")
                app = HealthDashApp(AlreadyRunning(engine), suite.config)
                # The app stops the engine on unmount.
                async with app.run_test(size=SIZE, message_hook=messages.append) as pilot:
                    deadline = loop.time() + TUI_SECONDS
                    keys = iter(KEYS)
                    while loop.time() < deadline:
                        key = next(keys, None)
                        if key is None:
                            await asyncio.sleep(deadline - loop.time())
                            break
                        await pilot.press(key)
                        pressed.append(key)
                        assert app._exception is None, app._exception
                    await pilot.press("escape")  # back to the overview, whatever is open
                    app.refresh_snapshot()
                    await pilot.pause()
                    text = screen_text(app)
                    assert app._exception is None, app._exception
                assert app.return_code in (None, 0)
                assert not engine.running
    finally:
        loop.set_exception_handler(previous_handler)
    report = suite.report()
    print(f"keys pressed under the TUI: {' '.join(pressed)}")
    print("\n".join(report.lines()))

    assert report.passed, "\n".join(report.failures())
    assert len(pressed) >= 3, pressed
    # The dashboard shows the failures in words, and still has every check on it.
    assert "FAILING" in text, text
    assert messages, "the message hook saw nothing: the app did not run"
    errors = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
    assert not errors, errors  # "probe raised", "a listener failed", ...
    assert not loop_errors, [c.get("message") for c in loop_errors]
