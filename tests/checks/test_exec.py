"""The exec kind: real subprocesses, real Nagios plugins where installed."""

from __future__ import annotations

import asyncio
import os
import socket
import stat
import sys
from pathlib import Path

import psutil
import pytest

from checks.base import Resources
from checks.exec import ExecProbe, make
from dash.config import CheckConfig
from dash.model import Metric, Reason, Status

PLUGINS = Path("/usr/lib/nagios/plugins")


def py(code: str) -> list[str]:
    """argv running a Python snippet."""
    return [sys.executable, "-c", code]


def _live_members(pgid: int) -> list[int]:
    """Processes in group `pgid` that are not zombies (an orphan may wait for init to reap it)."""
    live = []
    for proc in psutil.process_iter():
        try:
            if os.getpgid(proc.pid) == pgid and proc.status() != psutil.STATUS_ZOMBIE:
                live.append(proc.pid)
        except (psutil.Error, ProcessLookupError):
            continue
    return live


async def _group_gone(pgid: int, within: float = 5.0) -> bool:
    """True once nothing alive is left in the process group."""
    for _ in range(int(within / 0.02)):
        try:
            os.killpg(pgid, 0)
        except ProcessLookupError:
            return True
        if not _live_members(pgid):
            return True
        await asyncio.sleep(0.02)
    return False


@pytest.mark.parametrize(
    ("code", "status", "reason", "message"),
    [
        (0, Status.OK, Reason.OK, "SERVICE says hello"),
        (1, Status.WARN, Reason.THRESHOLD, "SERVICE says hello"),
        (2, Status.CRIT, Reason.THRESHOLD, "SERVICE says hello"),
        (3, Status.UNKNOWN, Reason.EXEC, "SERVICE says hello"),
        (7, Status.UNKNOWN, Reason.EXEC, "exit 7: SERVICE says hello"),
    ],
)
async def test_exit_codes_map_to_status(code: int, status: Status, reason: Reason, message: str) -> None:
    out = await ExecProbe(py(f"print('SERVICE says hello | t=1s;2;3'); raise SystemExit({code})")).probe()
    assert (out.status, out.reason, out.message) == (status, reason, message)
    assert out.metrics == (Metric("t", 1.0, "s", 2.0, 3.0),)


async def test_long_output_and_perfdata_on_later_lines() -> None:
    script = (
        "print('DISK WARNING - / is filling | root=91%;85;95;0;100')\n"
        "print('/ 91% used')\n"
        "print('/var 10% used | var=10%;85;95;0;100')\n"
        "print(\"'inode root'=40%;;\")\n"
        "raise SystemExit(1)"
    )
    out = await ExecProbe(py(script)).probe()
    assert out.status is Status.WARN and out.reason is Reason.THRESHOLD
    assert out.message == "DISK WARNING - / is filling"
    assert [(m.name, m.value, m.unit) for m in out.metrics] == [
        ("root", 91.0, "%"),
        ("var", 10.0, "%"),
        ("inode root", 40.0, "%"),
    ]
    assert "/ 91% used" in out.detail


async def test_output_is_neutralised() -> None:
    out = await ExecProbe(py(r"print('\x1b[31mRED\x1b[0m ok\x07 \x1b]0;title\x07done')")).probe()
    assert out.message == "RED ok\\x07 done"
    assert "\x1b" not in out.detail


async def test_no_output() -> None:
    out = await ExecProbe(py("pass")).probe()
    assert (out.status, out.message) == (Status.OK, "no output (exit 0)")


async def test_huge_output_is_capped_and_drained() -> None:
    probe = ExecProbe(py("import sys\nprint('BIG OK')\nsys.stdout.write('x' * 10_000_000)"), max_output=64 * 1024)
    out = await asyncio.wait_for(probe.probe(), 20)
    assert out.status is Status.OK
    assert out.message == "BIG OK"
    assert len(out.detail) < 64 * 1024 + 200
    assert out.detail.endswith("output truncated: kept 65536 of 10000007 bytes")


async def test_stderr_is_part_of_the_output() -> None:
    out = await ExecProbe(py("import sys; sys.stderr.write('CRITICAL - broken\\n'); raise SystemExit(2)")).probe()
    assert (out.status, out.message) == (Status.CRIT, "CRITICAL - broken")


async def test_env_and_cwd(tmp_path: Path) -> None:
    probe = ExecProbe(py("import os; print(os.environ['HD_TEST'], os.getcwd())"), env={"HD_TEST": "hi"}, cwd=str(tmp_path))
    out = await probe.probe()
    assert out.message == f"hi {tmp_path}"


async def test_program_not_found() -> None:
    out = await ExecProbe(["/nonexistent/check_thing", "-w", "1"]).probe()
    assert (out.status, out.reason, out.message) == (
        Status.UNKNOWN, Reason.EXEC, "program not found: /nonexistent/check_thing"
    )


async def test_missing_working_directory(tmp_path: Path) -> None:
    out = await ExecProbe(py("pass"), cwd=str(tmp_path / "gone")).probe()
    assert (out.status, out.reason) == (Status.UNKNOWN, Reason.EXEC)
    assert out.message == f"working directory not found: {tmp_path / 'gone'}"


async def test_not_executable(tmp_path: Path) -> None:
    script = tmp_path / "check_plain"
    script.write_text("#!/bin/sh\necho OK\n")
    script.chmod(stat.S_IRUSR | stat.S_IWUSR)
    out = await ExecProbe([str(script)]).probe()
    assert (out.status, out.reason, out.message) == (Status.UNKNOWN, Reason.EXEC, f"permission denied: {script}")


async def test_shebang_script_runs(tmp_path: Path) -> None:
    script = tmp_path / "check_mine"
    script.write_text("#!/bin/sh\necho 'MINE WARNING - slow | rt=2.5s;2;5'\nexit 1\n")
    script.chmod(0o755)
    out = await ExecProbe([str(script)]).probe()
    assert (out.status, out.message) == (Status.WARN, "MINE WARNING - slow")
    assert out.metrics == (Metric("rt", 2.5, "s", 2.0, 5.0),)


async def test_no_shell_interpretation() -> None:
    out = await ExecProbe(py("import sys; print(sys.argv[1])") + ["$(echo injected); `id`"]).probe()
    assert out.message == "$(echo injected); `id`"


async def test_killed_by_signal() -> None:
    out = await ExecProbe(["sh", "-c", "echo dying; kill -9 $$"]).probe()
    assert (out.status, out.reason) == (Status.UNKNOWN, Reason.EXEC)
    assert out.message == "killed by signal 9 (SIGKILL): dying"


async def test_cancel_kills_child_and_grandchild(tmp_path: Path) -> None:
    pidfile = tmp_path / "pgid"
    probe = ExecProbe(["sh", "-c", 'echo $$ > "$1"; sleep 60 & sleep 60', "sh", str(pidfile)])
    seen: list[int] = []

    async def watch() -> None:
        while True:
            if pidfile.exists() and pidfile.read_text().strip():
                seen.append(len(_live_members(int(pidfile.read_text()))))
            await asyncio.sleep(0.05)

    watcher = asyncio.create_task(watch())
    try:
        with pytest.raises(asyncio.TimeoutError):
            await asyncio.wait_for(probe.probe(), 0.5)
    finally:
        watcher.cancel()
    pgid = int(pidfile.read_text())
    assert seen and max(seen) == 3  # sh, its background sleep and its foreground sleep were running
    assert await _group_gone(pgid)


async def test_background_child_holding_the_pipe_does_not_hold_the_check(tmp_path: Path) -> None:
    pidfile = tmp_path / "pgid"
    probe = ExecProbe(["sh", "-c", 'echo $$ > "$1"; echo "BG OK"; sleep 60 &', "sh", str(pidfile)])
    out = await asyncio.wait_for(probe.probe(), 10)
    assert (out.status, out.message) == (Status.OK, "BG OK")
    assert await _group_gone(int(pidfile.read_text()))


async def test_make_from_config() -> None:
    check = CheckConfig(
        name="echo", kind="exec", interval=10, timeout=5, retries=0,
        options={"command": ["sh", "-c", "echo \"$X\""], "env": {"X": "from env"}, "cwd": None, "max_output": 1024},
    )
    out = await make(check, Resources()).probe()
    assert out.message == "from env"


# Debian's monitoring-plugins-basic, when installed.


def _plugin(name: str) -> str:
    return str(PLUGINS / name)


def _missing(name: str) -> pytest.MarkDecorator:
    return pytest.mark.skipif(
        not os.access(PLUGINS / name, os.X_OK), reason=f"{PLUGINS / name} not installed (monitoring-plugins-basic)"
    )


@_missing("check_disk")
async def test_real_check_disk() -> None:
    out = await ExecProbe([_plugin("check_disk"), "-w", "20%", "-c", "10%", "-p", "/"]).probe()
    assert out.status in (Status.OK, Status.WARN, Status.CRIT), out
    assert out.message.startswith("DISK ")
    assert "/" in [m.name for m in out.metrics]


@_missing("check_load")
async def test_real_check_load() -> None:
    out = await ExecProbe([_plugin("check_load"), "-w", "100,100,100", "-c", "200,200,200"]).probe()
    assert (out.status, out.reason) == (Status.OK, Reason.OK), out
    assert out.message.startswith("LOAD OK")
    load1 = next(m for m in out.metrics if m.name == "load1")
    assert (load1.warn, load1.crit) == (100.0, 200.0)


@_missing("check_tcp")
async def test_real_check_tcp() -> None:
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(8)  # the kernel completes handshakes from the backlog
        port = listener.getsockname()[1]
        up = await ExecProbe([_plugin("check_tcp"), "-H", "127.0.0.1", "-p", str(port)]).probe()
    assert (up.status, up.reason) == (Status.OK, Reason.OK), up
    assert up.message.startswith("TCP OK")
    assert any(m.name == "time" and m.unit == "s" for m in up.metrics)
    down = await ExecProbe([_plugin("check_tcp"), "-H", "127.0.0.1", "-p", str(port)]).probe()
    assert (down.status, down.reason) == (Status.CRIT, Reason.THRESHOLD), down
    assert "Connection refused" in down.message
