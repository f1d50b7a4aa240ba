"""Soak: the dashboard open under tmux for a long time on many checks, a third flapping.

    python bench/soak.py [--minutes 30] [--checks 1000] [--interval 2] [--sample 30]

Starts a loopback HTTP server (bench/loopback.py: /flap... URLs alternate runs of 200
and 503), writes a config of N http checks (every third one flapping) with its history
in a temporary state directory, opens `healthdash` on it in a 200x50 tmux session and
samples the dashboard process every --sample seconds: RSS, CPU % of one core, open
file descriptors, history file size. At the end it prints the curve and the verdicts:
RSS growth after warm-up <= 5%, CPU steady (the last third of the run within 25% of
the middle third), the history file bounded, and the dashboard still answering keys.
Not part of the test run: it takes as long as you ask.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from loopback import start_server  # noqa: E402

SESSION = "healthdash-soak"


def tmux(*args: str) -> str:
    return subprocess.run(["tmux", "-L", SESSION, *args], capture_output=True, text=True).stdout


def dashboard_process(pane_pid: int) -> psutil.Process:
    """The python process running the dashboard (the pane's process or its child)."""
    proc = psutil.Process(pane_pid)
    for p in [proc, *proc.children(recursive=True)]:
        if "dash" in " ".join(p.cmdline()):
            return p
    return proc


def history_size(state: Path) -> int:
    return sum(f.stat().st_size for f in state.rglob("history.db*") if f.is_file())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--minutes", type=float, default=30.0)
    parser.add_argument("--checks", type=int, default=1000)
    parser.add_argument("--interval", type=float, default=2.0, help="seconds between runs of each check")
    parser.add_argument("--sample", type=float, default=30.0, help="seconds between samples")
    parser.add_argument("--warmup", type=float, default=120.0, help="seconds before the RSS baseline")
    args = parser.parse_args()
    if shutil.which("tmux") is None:
        sys.exit("soak: tmux is not installed (apt-get install tmux)")

    work = Path(tempfile.mkdtemp(prefix="healthdash-soak-"))
    state = work / "state"
    server, port = start_server()
    lines = [
        "[dashboard]", 'title = "soak"', f'state_dir = "{state}"', 'retention = "1h"', "concurrency = 1000",
        "[defaults]", f'interval = "{int(args.interval * 1000)}ms"', f'timeout = "{int(args.interval * 1000)}ms"',
        "retries = 0",
    ]
    for i in range(args.checks):
        path = "flap" if i % 3 == 0 else "ok"
        lines += ["[[check]]", f'name = "api-{i:04d}"', 'kind = "http"', f'url = "http://127.0.0.1:{port}/{path}?check={i}"']
    config = work / "dash.toml"
    config.write_text("\n".join(lines) + "\n")
    env = {**os.environ, "XDG_STATE_HOME": str(work / "xdg")}
    tmux("kill-server")
    subprocess.run(
        ["tmux", "-L", SESSION, "new-session", "-d", "-s", "soak", "-x", "200", "-y", "50",
         f"{sys.executable} -m dash -c {config}"],
        env=env, check=True,
    )
    samples: list[tuple[float, float, float, int, int]] = []  # (t, rss MB, cpu %, fds, history bytes)
    try:
        time.sleep(2)
        proc = dashboard_process(int(tmux("list-panes", "-t", "soak", "-F", "#{pane_pid}").split()[0]))
        start = time.monotonic()
        end = start + args.minutes * 60
        cpu_before, t_before = sum(proc.cpu_times()[:2]), time.monotonic()
        print(f"soak: {args.checks} checks ({args.checks // 3 + (args.checks % 3 > 0)} flapping) every {args.interval:g}s "
              f"for {args.minutes:g} min; sampling every {args.sample:g}s; pid {proc.pid}", flush=True)
        print(f"{'min':>6} {'RSS MB':>8} {'CPU %':>7} {'fds':>5} {'history MB':>11}", flush=True)
        while time.monotonic() < end:
            time.sleep(min(args.sample, max(0.0, end - time.monotonic())))
            cpu_now, t_now = sum(proc.cpu_times()[:2]), time.monotonic()
            cpu = (cpu_now - cpu_before) / (t_now - t_before) * 100
            cpu_before, t_before = cpu_now, t_now
            row = (t_now - start, proc.memory_info().rss / 2**20, cpu, proc.num_fds(), history_size(state))
            samples.append(row)
            print(f"{row[0] / 60:6.1f} {row[1]:8.1f} {row[2]:7.1f} {row[3]:5d} {row[4] / 2**20:11.2f}", flush=True)
        # Still answering keys at the end?
        tmux("send-keys", "-t", "soak", "s")
        time.sleep(2)
        answered = "sort: name" in tmux("capture-pane", "-p", "-t", "soak")
    finally:
        tmux("kill-server")
        server.terminate()
        server.wait()

    after = [s for s in samples if s[0] >= args.warmup] or samples
    base = after[0][1]
    growth = (max(s[1] for s in after) - base) / base * 100
    thirds = len(samples) // 3 or 1
    middle = sum(s[2] for s in samples[thirds: 2 * thirds]) / max(1, len(samples[thirds: 2 * thirds]))
    last = sum(s[2] for s in samples[2 * thirds:]) / max(1, len(samples[2 * thirds:]))
    print()
    print(f"RSS after warm-up: {base:.1f} MB -> max {max(s[1] for s in after):.1f} MB, end {samples[-1][1]:.1f} MB: "
          f"growth {growth:+.1f}%   (target <= 5%)  {'PASS' if growth <= 5 else 'FAIL'}")
    steady = middle == 0 or abs(last - middle) / middle <= 0.25
    print(f"CPU: middle third {middle:.1f}%, last third {last:.1f}% of one core  {'PASS' if steady else 'FAIL'} (steady)")
    print(f"history file: {samples[-1][4] / 2**20:.2f} MB at the end (retention 1h)")
    print(f"file descriptors: {samples[0][3]} -> {samples[-1][3]}")
    print(f"dashboard answered a key at the end: {'yes' if answered else 'NO'}")
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
