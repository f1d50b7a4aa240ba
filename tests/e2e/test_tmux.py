"""The dashboard in a real terminal: tmux at 80x24, driven by keys, read from the screen."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
import uuid

import pytest

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(shutil.which("tmux") is None, reason="tmux is not installed (apt-get install tmux)"),
]


class Tmux:
    def __init__(self, tmp_path) -> None:
        self.socket = f"healthdash-test-{uuid.uuid4().hex[:8]}"
        self.env = {**os.environ, "XDG_STATE_HOME": str(tmp_path / "state"), "XDG_CONFIG_HOME": str(tmp_path / "config")}
        self.env.pop("HEALTHDASH_CONFIG", None)

    def tmux(self, *args: str) -> str:
        return subprocess.run(
            ["tmux", "-L", self.socket, *args], capture_output=True, text=True, env=self.env, timeout=10
        ).stdout

    def start(self, command: str, width: int = 80, height: int = 24) -> None:
        self.tmux("new-session", "-d", "-s", "t", "-x", str(width), "-y", str(height), command)

    def screen(self) -> str:
        return self.tmux("capture-pane", "-p", "-t", "t")

    def wait_for(self, text: str, timeout: float = 20.0) -> str:
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            screen = self.screen()
            if text in screen:
                return screen
            time.sleep(0.2)
        raise AssertionError(f"{text!r} never appeared; the screen was:\n{self.screen()}")

    def wait_gone(self, text: str, timeout: float = 10.0) -> None:
        end = time.monotonic() + timeout
        while text in self.screen():
            assert time.monotonic() < end, f"{text!r} is still on the screen:\n{self.screen()}"
            time.sleep(0.2)

    def keys(self, *keys: str) -> None:
        self.tmux("send-keys", "-t", "t", *keys)

    def alive(self) -> bool:
        return "t" in self.tmux("list-sessions", "-F", "#{session_name}").split()

    def close(self) -> None:
        self.tmux("kill-server")


@pytest.fixture
def term(tmp_path):
    t = Tmux(tmp_path)
    yield t
    t.close()


def test_demo_at_80x24_tells_what_is_broken_why_and_since_when(term):
    term.start(f"{sys.executable} -m dash --demo")
    screen = term.wait_for("dead-cache")
    assert "healthdash demo" in screen.splitlines()[0]
    # The dead dependency shows up with its reason and since when, without colour.
    screen = term.wait_for("connection refused")
    assert "✖ crit" in screen
    assert "since " in screen
    # Hostile text from a response is shown literally, not as markup.
    screen = term.wait_for("[bold red]x[/]")
    # Keys: help, then the detail of the selected check, then back, then quit.
    term.keys("?")
    term.wait_for("healthdash keys")
    # (A lone Escape is told apart from an escape sequence by a pause, as when typing.)
    term.keys("Escape")
    term.wait_gone("healthdash keys")
    term.keys("Enter")
    term.wait_for("configuration")
    term.keys("Escape")
    term.wait_gone("configuration")
    term.keys("q")
    end = time.monotonic() + 10
    while term.alive() and time.monotonic() < end:
        time.sleep(0.1)
    assert not term.alive(), "q did not quit"
