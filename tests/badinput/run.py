"""Running `healthdash` the way a user does: a real subprocess, its log kept out of $HOME."""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

# Generous: these tests prove "finishes, with a message"; a hang fails the test instead of the suite.
TIMEOUT = 120
INTERNAL_ERROR = 70  # what `healthdash` exits with on a bug (see dash.cli.main)


def healthdash(*args: str, state: Path, env: dict[str, str] | None = None,
               timeout: float = TIMEOUT) -> subprocess.CompletedProcess[str]:
    """`python -m dash ARGS` with $XDG_STATE_HOME at `state` (so its log file lands there)."""
    full = {k: v for k, v in os.environ.items() if k not in ("HEALTHDASH_CONFIG", "NO_COLOR")}
    full.update({"XDG_STATE_HOME": str(state), **(env or {})})
    return subprocess.run(
        [sys.executable, "-m", "dash", *args], capture_output=True, text=True, errors="replace",
        env=full, timeout=timeout, stdin=subprocess.DEVNULL,
    )


def run_many(commands: Iterable[tuple[str, ...]], *, state: Path, env: dict[str, str] | None = None,
             workers: int = 4) -> list[subprocess.CompletedProcess[str]]:
    """Several `healthdash` runs at once (each mostly waits on interpreter start-up)."""
    with ThreadPoolExecutor(workers) as pool:
        return list(pool.map(lambda args: healthdash(*args, state=state, env=env), commands))


def refused_port() -> int:
    """A loopback port nothing listens on (bound, then released)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def error_lines(proc: subprocess.CompletedProcess[str], path: str | Path) -> list[str]:
    """The config errors of a run that refused its file, after checking they look like
    `FILE:LINE: ...` (or `FILE: ...` for file-level problems), one per line, and that
    nothing else (no traceback, no internal error) was printed."""
    shown = f"{proc.args[3:]!r}: exit {proc.returncode}\n{proc.stdout}{proc.stderr}"
    assert proc.returncode == 2, shown
    assert proc.stdout == "", shown
    assert "Traceback" not in proc.stderr and "internal error" not in proc.stderr, shown
    lines = proc.stderr.splitlines()
    assert lines, shown
    pattern = re.compile(rf"{re.escape(str(path))}(:\d+)?: \S")
    for line in lines:
        assert pattern.match(line), f"not FILE:LINE: ...: {line!r}\n{shown}"
        assert not re.search(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]", line), f"raw control character in {line!r}"
    return lines
