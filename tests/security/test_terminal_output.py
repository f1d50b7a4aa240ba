"""Outside text never drives the terminal: a plugin that prints escape sequences (window title,
clear screen, colours, 8-bit CSI, bell, carriage returns) through `healthdash check`, to a pipe
and to a real pseudo-terminal, where healthdash adds only its own colour codes."""

from __future__ import annotations

import json
import os
import pty
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.badinput.run import run_many

pytestmark = pytest.mark.e2e

# printf turns these into real ESC, BEL, CR and C1 bytes.
HOSTILE = r"\033]0;pwned\007\033[2J\033[31mRED\033[0m \302\2332J \r\rover \033P+q\033\\ [bold]x[/] bell\007\n"
SEEN = "RED   over  [bold]x[/] bell\\x07"  # what the user reads: sequences gone whole, BEL shown, markup literal
OWN_COLOURS = re.compile(r"\x1b\[(?:3[1-5](?:;1)?|0)m")  # dash.cli._COLOURS and the reset


@pytest.fixture
def config(tmp_path: Path) -> Path:
    path = tmp_path / "dash.toml"
    path.write_text(f'[[check]]\nname = "hostile"\nkind = "exec"\ncommand = ["printf", {json.dumps(HOSTILE)}]\nretries = 0\n')
    return path


def test_escape_sequences_never_reach_stdout_of_check(config: Path, tmp_path: Path):
    table, as_json = run_many([("check", "-c", str(config)), ("check", "-c", str(config), "--format", "json")],
                              state=tmp_path / "xdg")
    assert table.returncode == 0 and as_json.returncode == 0, table.stderr + as_json.stderr
    for out in (table.stdout, as_json.stdout):
        assert not re.search(r"[\x00-\x09\x0b-\x1f\x7f-\x9f]", out), repr(out)
    assert SEEN in table.stdout
    assert json.loads(as_json.stdout)["checks"][0]["message"] == SEEN


def test_on_a_terminal_only_healthdash_colours_are_written(config: Path, tmp_path: Path):
    controller, terminal = pty.openpty()
    env = {k: v for k, v in os.environ.items() if k not in ("NO_COLOR", "HEALTHDASH_CONFIG")}
    env["XDG_STATE_HOME"] = str(tmp_path / "xdg")
    child = subprocess.Popen([sys.executable, "-m", "dash", "check", "-c", str(config)],
                             stdin=subprocess.DEVNULL, stdout=terminal, stderr=terminal, env=env)
    os.close(terminal)
    chunks = []
    while True:
        try:
            chunk = os.read(controller, 65536)
        except OSError:  # EIO: the child closed the terminal
            break
        if not chunk:
            break
        chunks.append(chunk)
    os.close(controller)
    assert child.wait(timeout=60) == 0
    screen = b"".join(chunks).decode("utf-8", "replace").replace("\r\n", "\n")
    assert "\x1b[32m✔ ok" in screen  # a terminal: healthdash colours its status cell
    rest = OWN_COLOURS.sub("", screen)
    assert not re.search(r"[\x00-\x09\x0b-\x1f\x7f-\x9f]", rest), repr(rest)
    assert SEEN in rest
