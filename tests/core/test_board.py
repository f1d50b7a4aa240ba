"""The board: status-change times, bounded history, reload that keeps state."""

from __future__ import annotations

from dash.config import CheckConfig
from dash.core.board import Board
from dash.model import CheckResult, Reason, Status


def cfg(name: str, kind: str = "http", interval: float = 10) -> CheckConfig:
    return CheckConfig(name=name, kind=kind, interval=interval, timeout=1, retries=0, options={})


def result(name: str, status: Status, at: float) -> CheckResult:
    reason = Reason.OK if status is Status.OK else Reason.CONNECT
    return CheckResult(name, "http", status, reason, "m", 0.01, 1, at - 0.01, at)


def test_status_since_moves_only_on_a_change():
    board = Board()
    board.configure([cfg("a")])
    board.apply(result("a", Status.OK, 100))
    board.apply(result("a", Status.OK, 110))
    assert board.state("a").status_since == 100
    board.apply(result("a", Status.CRIT, 120))
    board.apply(result("a", Status.CRIT, 130))
    assert board.state("a").status_since == 120
    assert board.state("a").status is Status.CRIT


def test_history_is_bounded():
    board = Board(history=50, recent=5)
    board.configure([cfg("a")])
    for i in range(200):
        board.apply(result("a", Status.OK, i))
    assert [r.finished_at for r in board.state("a").history] == [195, 196, 197, 198, 199]
    assert len(board.results("a")) == 50


def test_stale_after_twice_the_interval():
    board = Board()
    board.configure([cfg("a", interval=10)])
    board.apply(result("a", Status.OK, 100))
    assert not board.state("a").is_stale(119)
    assert board.state("a").is_stale(121)


def test_reconfigure_keeps_unchanged_and_resets_changed_kind():
    board = Board()
    board.configure([cfg("a"), cfg("b")])
    board.apply(result("a", Status.CRIT, 100))
    board.apply(result("b", Status.CRIT, 100))
    board.configure([cfg("a", interval=30), cfg("b", kind="tcp"), cfg("c")])
    assert board.state("a").status is Status.CRIT and board.state("a").interval == 30
    assert board.state("b").last is None
    snap = board.snapshot(200.0)
    assert [c.name for c in snap.checks] == ["a", "b", "c"]
    assert snap.verdict is Status.CRIT
    assert snap.counts()[Status.UNKNOWN] == 2
