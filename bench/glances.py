"""The host-metrics panel's cost against Glances, same refresh rate, same terminal size.

    python bench/glances.py [--sizes 80x24,200x50] [--duration 60] [--warmup 10]

For each terminal size, these run side by side, each in a pseudo-terminal of its own
(bench/tui.py's Terminal), and each process's CPU is measured with psutil over the same
window after a warm-up:
  * "glances host": Glances' curses UI refreshing every 2 s with only the modules that
    show what healthdash's host panel shows: cpu, mem, memswap, load, fs, network, plus
    its header lines (system, uptime, now). The rest (process list and count, disk I/O,
    sensors, containers, RAID, GPU, ...) is disabled: healthdash shows none of it.
  * "healthdash":   healthdash with a config holding one `host` check at interval 2 s, so
    its host panel refreshes at Glances' rate.
  * "glances default" (context): Glances with its default modules, process list
    included, less `ip` and `cloud`.
  * "textual floor" (context): a bare Textual app updating one Static every 2 s, what any
    Textual app pays to stay on screen.
Glances always runs with an empty config file (-C), --disable-check-update, and `ip`
and `cloud` disabled: those look up the public address and cloud metadata off this host.
Running side by side means every program sees the same machine load; each uses a few
percent of one core at most, so they barely disturb each other.
Prints CPU % of one core for each, and healthdash / Glances (target <= 1.5x).
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, HERE)

from tui import Terminal  # noqa: E402

GLANCES = shutil.which("glances")
HOST_MODULES = "cpu,mem,memswap,load,fs,network,system,uptime,now"
OFF_HOST = "ip,cloud"  # they reach beyond loopback (public IP services, cloud metadata)
REFRESH = 2

HOST_CONFIG = f"""
[dashboard]
title = "bench"
[[check]]
name = "host"
kind = "host"
interval = "{REFRESH}s"
timeout = "{REFRESH}s"
"""

FLOOR_APP = f"""
import psutil
from textual.app import App
from textual.widgets import Static

class Floor(App):
    def compose(self):
        yield Static("floor", id="s")

    def on_mount(self):
        self.tick()
        self.set_interval({REFRESH}, self.tick)

    def tick(self):
        mem = psutil.virtual_memory().percent
        self.query_one(Static).update(f"floor  cpu {{psutil.cpu_percent():.0f}}%  mem {{mem:.0f}}%")

Floor().run()
"""


def programs(tmp: str) -> dict[str, tuple[str, list[str], dict[str, str], bytes]]:
    """label -> (description, argv, extra environment, text that shows it is up)."""
    conf = os.path.join(tmp, "glances.conf")
    open(conf, "w").close()
    config = os.path.join(tmp, "host.toml")
    with open(config, "w") as f:
        f.write(HOST_CONFIG)
    floor = os.path.join(tmp, "floor.py")
    with open(floor, "w") as f:
        f.write(FLOOR_APP)
    glances = [GLANCES or "glances", "-C", conf, "--time", str(REFRESH), "--disable-check-update"]
    # healthdash's history goes to a scratch directory, not the user's state.
    env = {"XDG_STATE_HOME": os.path.join(tmp, "state"), "PYTHONPATH": ROOT}
    return {
        "glances host": (
            f"Glances, host modules only ({HOST_MODULES})",
            [*glances, "--disable-plugin", "all", "--enable-plugin", HOST_MODULES],
            {},
            b"LOAD",
        ),
        "healthdash": (f"healthdash, one host check at {REFRESH}s", [sys.executable, "-m", "dash", "-c", config], env, b"cpu"),
        "glances default": (
            f"Glances, default modules less {OFF_HOST}",
            [*glances, "--disable-plugin", OFF_HOST],
            {},
            b"LOAD",
        ),
        "textual floor": (f"bare Textual app, one Static every {REFRESH}s", [sys.executable, floor], {}, b"floor"),
    }


def measure(size: tuple[int, int], duration: float, warmup: float) -> dict[str, tuple[str, float, float]]:
    """Run every program side by side in `size`; label -> (description, CPU %, RSS MB)."""
    with tempfile.TemporaryDirectory() as tmp:
        progs = programs(tmp)
        terms: dict[str, Terminal] = {}
        try:
            for label, (_, argv, env, _) in progs.items():
                terms[label] = Terminal(argv, size, env)
            for label, (_, _, _, ready) in progs.items():
                if terms[label].wait_for(ready, timeout=30) is None:
                    raise SystemExit(f"{label}: nothing drawn within 30 s ({' '.join(progs[label][1])})")
            time.sleep(warmup)
            start = {label: (t.cpu(), time.monotonic()) for label, t in terms.items()}
            end = time.monotonic() + duration
            while time.monotonic() < end:
                for t in terms.values():
                    t.sample_rss()
                time.sleep(0.5)
            results = {}
            for label, t in terms.items():
                if t.process.status() == "zombie":
                    raise SystemExit(f"{label} exited during the measurement")
                c0, t0 = start[label]
                cpu = (t.cpu() - c0) / (time.monotonic() - t0) * 100
                results[label] = (progs[label][0], cpu, t.peak_rss / 2**20)
            return results
        finally:
            for t in terms.values():
                t.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="80x24,200x50", help="terminal sizes, comma separated")
    parser.add_argument("--duration", type=float, default=60.0, help="measured seconds per size")
    parser.add_argument("--warmup", type=float, default=10.0)
    args = parser.parse_args()
    if GLANCES is None:
        sys.exit("glances is not installed (apt-get install glances)")
    sizes = [tuple(int(x) for x in s.split("x")) for s in args.sizes.split(",")]

    for size in sizes:
        results = measure(size, args.duration, args.warmup)  # type: ignore[arg-type]
        print(f"terminal {size[0]}x{size[1]}, refresh every {REFRESH}s, {args.duration:g}s measured after {args.warmup:g}s warm-up, side by side")
        print(f"{'':78}{'CPU %':>8}{'RSS MB':>8}")
        for label, (desc, cpu, rss) in results.items():
            print(f"{desc:78}{cpu:8.2f}{rss:8.0f}")
        ours = results["healthdash"][1]
        host, default = results["glances host"][1], results["glances default"][1]
        ratio = ours / host if host > 0 else float("inf")
        print(f"healthdash / Glances (host modules): {ratio:.2f}x   (target <= 1.5x)")
        print(f"healthdash / Glances (default modules): {ours / default:.2f}x   (context)")
        print()


if __name__ == "__main__":
    main()
