"""Run a program that speaks the Nagios plugin protocol.

    [[check]]
    name = "disk"
    kind = "exec"
    command = ["/usr/lib/nagios/plugins/check_disk", "-w", "20%", "-c", "10%", "-p", "/"]

The command is an argv list, never run through a shell. Exit codes 0/1/2/3 map to
ok/warn/crit/unknown (anything else is unknown); the first output line is the
message and perfdata become metrics.

Process handling:
- The program runs in its own session (so its own process group), with stdin from
  /dev/null and stderr merged into stdout (plugins often report problems on stderr).
- Output is read as it arrives and kept up to `max_output` bytes; the rest is
  drained and discarded, so a chatty program never blocks on a full pipe and memory
  stays bounded. A program that never stops writing is ended by the engine's deadline.
- A run leaves nothing behind: when the program exits, or the probe is cancelled,
  its whole process group is sent SIGKILL (children it left in the background
  included) and the program is reaped before the probe returns or re-raises.
- Completion is the program's exit, not end-of-output: a background child that
  keeps the pipe open cannot hold the check until its deadline.
"""

from __future__ import annotations

import asyncio
import errno
import os
import signal
import subprocess
from typing import Any

from checks.base import Field, Probe, Resources
from checks.nagios import parse_output
from dash.config import CheckConfig
from dash.model import Outcome, Reason, Status
from dash.text import clean

KIND = "exec"

# After the program exits, how long to let already-written output reach us.
_DRAIN_GRACE = 0.25


def _non_empty(value: Any) -> str | None:
    return None if value else "must name a program: a non-empty list like [\"/path/to/plugin\", \"-w\", \"1\"]"


def _positive(value: Any) -> str | None:
    return None if value > 0 else "must be more than 0 bytes"


FIELDS: dict[str, Field] = {
    "command": Field(
        "str_list", required=True, validate=_non_empty,
        help="program and its arguments (argv; no shell)",
    ),
    "env": Field("str_map", help="extra environment variables for the program"),
    "cwd": Field("str", help="working directory for the program"),
    "max_output": Field(
        "size", default=64 * 1024, validate=_positive,
        help="output kept for message, perfdata and detail; the rest is discarded",
    ),
}


class _Capture(asyncio.SubprocessProtocol):
    """Collects up to `cap` bytes of output; notes exit and end of output."""

    def __init__(self, cap: int, loop: asyncio.AbstractEventLoop) -> None:
        self.cap = cap
        self.buffer = bytearray()
        self.total = 0
        self.exited: asyncio.Future[None] = loop.create_future()
        self.closed: asyncio.Future[None] = loop.create_future()

    def pipe_data_received(self, fd: int, data: bytes) -> None:
        self.total += len(data)
        room = self.cap - len(self.buffer)
        if room > 0:
            self.buffer += data[:room]

    def pipe_connection_lost(self, fd: int, exc: Exception | None) -> None:
        if not self.closed.done():
            self.closed.set_result(None)

    def process_exited(self) -> None:
        if not self.exited.done():
            self.exited.set_result(None)

    def connection_lost(self, exc: Exception | None) -> None:
        for fut in (self.exited, self.closed):
            if not fut.done():
                fut.set_result(None)


def _kill_group(pgid: int) -> None:
    """SIGKILL a whole process group; gone already is fine."""
    try:
        os.killpg(pgid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


def _start_error(exc: OSError, program: str, cwd: str | None) -> Outcome:
    """Describe why a program could not be started."""
    if cwd is not None and exc.filename == cwd and isinstance(exc, (FileNotFoundError, NotADirectoryError)):
        text = f"working directory not found: {cwd}"
    elif isinstance(exc, FileNotFoundError):
        text = f"program not found: {program}"
    elif isinstance(exc, PermissionError):
        text = f"permission denied: {program}"
    elif exc.errno == errno.ENOEXEC:
        text = f"not an executable format: {program}"
    else:
        text = f"cannot run {program}: {exc.strerror or exc}"
    return Outcome(Status.UNKNOWN, Reason.EXEC, clean(text))


def _signal_name(number: int) -> str:
    try:
        return signal.Signals(number).name
    except ValueError:
        return "unknown signal"


class ExecProbe(Probe):
    """Runs one plugin per attempt and reads its verdict."""

    def __init__(
        self,
        argv: list[str] | tuple[str, ...],
        env: dict[str, str] | None = None,
        cwd: str | None = None,
        max_output: int = 64 * 1024,
    ) -> None:
        self.argv = tuple(argv)
        self.env = dict(env) if env else None
        self.cwd = cwd
        self.max_output = max_output

    async def probe(self) -> Outcome:
        """Run the program to completion and map its exit code and output."""
        loop = asyncio.get_running_loop()
        env = {**os.environ, **self.env} if self.env else None
        capture = _Capture(self.max_output, loop)
        try:
            transport, _ = await loop.subprocess_exec(
                lambda: capture,
                *self.argv,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                env=env,
                cwd=self.cwd,
                start_new_session=True,  # own process group: one killpg ends everything
            )
        except OSError as exc:
            return _start_error(exc, self.argv[0], self.cwd)
        except ValueError as exc:  # e.g. a NUL byte in an argument
            return Outcome(Status.UNKNOWN, Reason.EXEC, clean(f"cannot run {self.argv[0]}: {exc}"))

        pgid = transport.get_pid()
        try:
            await capture.exited
            # The leader is reaped; its output is already in the pipe, give it a moment.
            await asyncio.wait({capture.closed}, timeout=_DRAIN_GRACE)
        finally:
            # Cancelled or not: nothing the program started may outlive the run.
            # (Linux allocates pids sequentially, so a just-freed group id is not reused here.)
            _kill_group(pgid)
            if not capture.exited.done():
                try:
                    await asyncio.shield(capture.exited)
                finally:
                    transport.close()
            else:
                transport.close()
        return self._outcome(transport.get_returncode(), capture)

    def _outcome(self, code: int | None, capture: _Capture) -> Outcome:
        raw = bytes(capture.buffer).decode("utf-8", "replace")
        parts, metrics = parse_output(raw)
        detail = clean(raw, limit=None, one_line=False).rstrip()
        if capture.total > len(capture.buffer):
            detail += f"\n… output truncated: kept {len(capture.buffer)} of {capture.total} bytes"
        summary = clean(parts.summary)
        if code is None:  # cannot happen after exit; be explicit rather than guess
            return Outcome(Status.UNKNOWN, Reason.EXEC, "exit status not available", metrics, detail=detail)
        if code < 0:
            text = f"killed by signal {-code} ({_signal_name(-code)})"
            if summary:
                text += f": {summary}"
            return Outcome(Status.UNKNOWN, Reason.EXEC, clean(text), metrics, detail=detail)
        message = summary or f"no output (exit {code})"
        if code == 0:
            return Outcome.ok(message, metrics, detail)
        if code in (1, 2):
            return Outcome(Status.from_exit_code(code), Reason.THRESHOLD, message, metrics, detail=detail)
        if code != 3:
            # Not a plugin verdict: say so, the program probably failed.
            message = clean(f"exit {code}: {summary}" if summary else f"exit {code}, no output")
        return Outcome(Status.UNKNOWN, Reason.EXEC, message, metrics, detail=detail)


def make(check: CheckConfig, resources: Resources) -> ExecProbe:
    """Build the probe for one `kind = "exec"` check."""
    opts = check.options
    return ExecProbe(
        argv=list(opts["command"]),
        env=dict(opts.get("env") or {}),
        cwd=opts.get("cwd"),
        max_output=int(opts.get("max_output") or FIELDS["max_output"].default),
    )
