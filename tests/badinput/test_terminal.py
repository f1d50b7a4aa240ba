"""Tiny terminals and resizes while results arrive, driven by Pilot on scripted checks
(fake clock): no exception, and the board stays readable down to 40x12."""

from __future__ import annotations

import re

import pytest
from textual.events import Resize
from textual.geometry import Size

from dash.model import Outcome, Reason, Status
from dash.text import clean
from dash.tui.app import HealthDashApp
from dash.tui.screens.detail import DetailScreen
from dash.tui.screens.help import HelpScreen
from tests.tui.helpers import HOSTILE, OK, REFUSED, SLOW, Rig, check, host_outcome, screen_text

TINY = (40, 12)
LONG_NAME = "n" * 120
# Text that went through the boundary as a real probe's would: escapes gone, capped at 500.
HUGE = Outcome(Status.CRIT, Reason.ASSERTION, clean("\x1b[2J" + "w" * 100_000), detail=clean("d\x00" * 50_000, limit=None))


def rig() -> Rig:
    """Six checks of every status, hostile markup, a 100k-character message and a long name."""
    return Rig(
        {"api": [OK], "db": [REFUSED], "cache": [SLOW], "evil": [HOSTILE], "host": [host_outcome()],
         "huge": [HUGE, OK, HUGE], LONG_NAME: [REFUSED, OK]},
        [check("api"), check("db", kind="tcp"), check("cache", kind="tcp"), check("evil"), check("host", kind="host"),
         check("huge"), check(LONG_NAME)],
    )


@pytest.fixture
async def board():
    r = rig()
    yield r
    await r.engine.stop()


ROW = re.compile(r"^ [✔▲✖?…] +(ok|warn|crit|unknown|pending) ")  # how the checks table starts a row


def rows_on_screen(app: HealthDashApp, names) -> list[str]:
    """The screen lines that show a check's row: its status, then its name."""
    return [line for line in screen_text(app).splitlines()
            if ROW.match(line) and any(n[:5] in line for n in names)]


async def test_40x12_before_any_result(board):
    app = HealthDashApp(board.engine, board.config)
    async with app.run_test(size=TINY) as pilot:
        await pilot.pause()
        lines = screen_text(app).splitlines()
        assert lines[0].lstrip().startswith("healthdash")
        assert rows_on_screen(app, board.scripts)


async def test_40x12_shows_the_header_and_check_rows_once_results_arrive(board):
    app = HealthDashApp(board.engine, board.config)
    async with app.run_test(size=TINY) as pilot:
        await board.clock.advance(30)
        app.refresh_snapshot()
        await pilot.pause()
        text = screen_text(app)
        assert text.splitlines()[0].lstrip().startswith("healthdash")
        assert "FAILING" in text
        assert rows_on_screen(app, board.scripts), text


async def test_resizing_through_many_sizes_while_results_arrive(board):
    sizes = [(120, 40), (41, 13), (200, 60), (40, 12), (80, 24), (300, 100), (40, 12), (139, 30), (140, 30), (40, 12)]
    app = HealthDashApp(board.engine, board.config)
    async with app.run_test(size=TINY) as pilot:
        for i, (width, height) in enumerate(sizes):
            # The resize is queued, then results arrive before it is handled: mid-update.
            app._driver._size = Size(width, height)
            app.post_message(Resize(Size(width, height), Size(width, height)))
            await board.clock.advance(5 + i)
            app.refresh_snapshot()
            await pilot.pause()
            assert app.size == Size(width, height)
            lines = screen_text(app).splitlines()
            assert len(lines) == height
            assert lines[0].lstrip().startswith("healthdash"), (width, height, lines[0])
            assert set(app.overview.table.shown_order()) == set(board.scripts)  # every row still in the table
        assert app._exception is None
    assert app.return_code in (None, 0)


async def test_detail_and_help_at_40x12_with_a_huge_message(board):
    app = HealthDashApp(board.engine, board.config)
    async with app.run_test(size=TINY) as pilot:
        await board.clock.advance(10)
        app.refresh_snapshot()
        await pilot.pause()
        app.overview.table.move_cursor(row=app.overview.table.shown_order().index("huge"))
        await pilot.press("enter")
        await pilot.pause()
        assert isinstance(app.screen, DetailScreen)
        await board.clock.advance(10)  # results keep arriving under the detail screen
        app.refresh_snapshot()
        await pilot.resize_terminal(41, 13)
        await pilot.resize_terminal(*TINY)
        assert "huge" in screen_text(app)
        await pilot.press("escape", "question_mark")
        await pilot.pause()
        assert isinstance(app.screen, HelpScreen)
        await pilot.resize_terminal(*TINY)
        assert app._exception is None
