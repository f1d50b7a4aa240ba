"""CPU per HTTP probe: healthdash's engine against Prometheus' blackbox_exporter, in one run.

    python bench/blackbox.py [--checks 1000] [--duration 30] [--warmup 5]

Both probe the same loopback target server (bench/loopback.py, its own process) at the
same rate: N targets, each probed once per second, spread over the second.
  * "engine":   healthdash's headless engine running N http checks at 1 s in its own
                process (bench/engine.py's "engine" phase); CPU per completed check.
  * "blackbox": blackbox_exporter (module http_2xx, prober http, timeout 5s) on a free
                loopback port, driven by a small aiohttp load driver in a separate
                process that GETs /probe?module=http_2xx&target=... for every target once
                a second. CPU is blackbox_exporter's own (psutil cpu_times of its pid,
                every thread) per completed /probe answer; the driver's CPU is not counted.
Prints µs of CPU per probe for both and the ratio (target: healthdash <= 0.75x).

Not the same work per probe, and that is the point: blackbox_exporter opens a fresh
connection to the target for every probe and renders a Prometheus exposition; healthdash
keeps connections alive and builds a CheckResult. Each is measured as it is used.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import engine as engine_bench  # noqa: E402  (bench/engine.py: its "engine" phase is reused as is)
from loopback import start_server  # noqa: E402

BLACKBOX = shutil.which("prometheus-blackbox-exporter") or shutil.which("blackbox_exporter")
MODULES = "modules:\n  http_2xx:\n    prober: http\n    timeout: 5s\n"


def free_port() -> int:
    """A loopback port that was free a moment ago."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_until_up(url: str, timeout: float = 10.0) -> None:
    """Poll `url` until it answers (the exporter takes a moment to listen)."""
    end = time.monotonic() + timeout
    while True:
        try:
            with urllib.request.urlopen(url, timeout=1) as resp:
                resp.read()
                return
        except OSError:
            if time.monotonic() > end:
                raise
            time.sleep(0.05)


async def drive(bb_url: str, target: str, n: int, interval: float, duration: float, warmup: float, pid: int) -> dict:
    """Probe every target through the exporter once per interval; measure the exporter's CPU."""
    import aiohttp
    import psutil

    exporter = psutil.Process(pid)

    def cpu() -> float:
        t = exporter.cpu_times()
        return t.user + t.system

    done = {"ok": 0, "failed": 0}
    lags: list[float] = []
    connector = aiohttp.TCPConnector(limit=200)
    async with aiohttp.ClientSession(connector=connector) as session:

        async def one(i: int) -> None:
            due = time.monotonic() + random.uniform(0, interval)
            url = f"{bb_url}/probe?module=http_2xx&target={target}?check={i}"
            while True:
                delay = due - time.monotonic()
                if delay > 0:
                    await asyncio.sleep(delay)
                lags.append(time.monotonic() - due)
                try:
                    async with session.get(url) as resp:
                        body = await resp.read()
                    # Count only answers that say the probe itself succeeded.
                    done["ok" if b"\nprobe_success 1" in body else "failed"] += 1
                except Exception:
                    done["failed"] += 1
                due += interval
                while due < time.monotonic():
                    due += interval

        tasks = [asyncio.ensure_future(one(i)) for i in range(n)]
        await asyncio.sleep(warmup)
        t0, c0, ok0, bad0, lag0 = time.monotonic(), cpu(), done["ok"], done["failed"], len(lags)
        await asyncio.sleep(duration)
        t1, c1, ok1, bad1 = time.monotonic(), cpu(), done["ok"], done["failed"]
        window_lags = lags[lag0:]
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
    completed = ok1 - ok0
    return {
        "checks_completed": completed,
        "checks_per_s": completed / (t1 - t0),
        "cpu_us_per_check": (c1 - c0) / max(1, completed) * 1e6,
        "cpu_percent": (c1 - c0) / (t1 - t0) * 100,
        "failures": bad1 - bad0,
        "driver_lag_p99_ms": engine_bench.percentile(window_lags, 99) * 1000,
        "peak_rss_mb": exporter.memory_info().rss / 2**20,
    }


def run_blackbox(args: argparse.Namespace, target: str) -> dict:
    """Start the exporter on a free loopback port, drive it from a separate process, stop it."""
    with tempfile.TemporaryDirectory() as tmp:
        modules = os.path.join(tmp, "blackbox.yml")
        with open(modules, "w") as f:
            f.write(MODULES)
        port = free_port()
        with open(os.path.join(tmp, "blackbox.log"), "w") as log:
            exporter = subprocess.Popen(
                [BLACKBOX, f"--config.file={modules}", f"--web.listen-address=127.0.0.1:{port}"],
                stdout=subprocess.DEVNULL,
                stderr=log,
            )
        try:
            bb_url = f"http://127.0.0.1:{port}"
            wait_until_up(f"{bb_url}/-/healthy")
            cmd = [
                sys.executable, os.path.abspath(__file__), "--phase", "driver",
                "--bb-url", bb_url, "--bb-pid", str(exporter.pid), "--url", target,
                "--checks", str(args.checks), "--interval", str(args.interval),
                "--duration", str(args.duration), "--warmup", str(args.warmup),
            ]
            out = subprocess.run(cmd, capture_output=True, text=True, check=True)
            return json.loads(out.stdout.strip().splitlines()[-1])
        finally:
            exporter.terminate()
            exporter.wait()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--checks", type=int, default=1000)
    parser.add_argument("--interval", type=float, default=1.0)
    parser.add_argument("--duration", type=float, default=30.0, help="measured seconds per program")
    parser.add_argument("--warmup", type=float, default=5.0)
    parser.add_argument("--phase", choices=("driver",), help=argparse.SUPPRESS)
    parser.add_argument("--url", help=argparse.SUPPRESS)
    parser.add_argument("--bb-url", help=argparse.SUPPRESS)
    parser.add_argument("--bb-pid", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.phase == "driver":
        result = asyncio.run(
            drive(args.bb_url, args.url, args.checks, args.interval, args.duration, args.warmup, args.bb_pid)
        )
        print(json.dumps(result))
        return
    if BLACKBOX is None:
        sys.exit("prometheus-blackbox-exporter is not installed (apt-get install prometheus-blackbox-exporter)")

    server, port = start_server()
    try:
        url = f"http://127.0.0.1:{port}/ok"
        print(
            f"{args.checks} HTTP targets, each probed every {args.interval:g}s, "
            f"{args.duration:g}s measured after {args.warmup:g}s warm-up, one process each"
        )
        engine = engine_bench.run_phase("engine", args, url)
        blackbox = run_blackbox(args, url)
    finally:
        server.terminate()
        server.wait()

    rows = [
        ("probes completed per s", "checks_per_s", "{:.0f}"),
        ("CPU µs per probe", "cpu_us_per_check", "{:.0f}"),
        ("CPU % of one core", "cpu_percent", "{:.1f}"),
        ("failed probes in window", "failures", "{:.0f}"),
        ("RSS MB (engine: peak)", "peak_rss_mb", "{:.0f}"),
    ]
    print(f"{'':26}{'blackbox_exporter':>18}{'healthdash':>12}")
    for label, key, fmt in rows:
        print(f"{label:26}{fmt.format(blackbox.get(key, 0)):>18}{fmt.format(engine.get(key, 0)):>12}")
    ratio = engine["cpu_us_per_check"] / blackbox["cpu_us_per_check"]
    print(f"\nhealthdash / blackbox_exporter CPU per probe: {ratio:.2f}x   (target <= 0.75x)")
    print(f"load driver lag p99: {blackbox['driver_lag_p99_ms']:.1f} ms (the exporter was driven on schedule if small)")
    if engine.get("first_failure"):
        print(f"healthdash first failure: {engine['first_failure']}")


if __name__ == "__main__":
    main()
