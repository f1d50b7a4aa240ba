"""Engine cost per check against a bare aiohttp loop, measured in one run.

    python bench/engine.py [--checks 1000] [--interval 1] [--duration 30]

Starts a minimal keep-alive HTTP server on loopback in its own process, then, each
in a fresh process so CPU and peak RSS are their own:
  * "bare":   a plain aiohttp loop fetching the same URLs on the same schedule;
  * "engine": healthdash's headless engine running N http checks.
Prints CPU microseconds per completed check, scheduler lag p50/p99 (actual start
minus planned start), peak RSS, and the engine/bare CPU ratio. Timing is never
asserted in tests; this script is where it is measured.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import resource
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))
sys.path.insert(0, HERE)

from loopback import start_server  # noqa: E402


def percentile(values: list[float], p: float) -> float:
    if not values:
        return float("nan")
    values = sorted(values)
    return values[min(len(values) - 1, int(round(p / 100 * (len(values) - 1))))]


def cpu_seconds() -> float:
    ru = resource.getrusage(resource.RUSAGE_SELF)
    return ru.ru_utime + ru.ru_stime


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


async def measure(run_for: float, warmup: float, completions: list[tuple[float, float]]) -> dict:
    """Wait out the warm-up, then measure CPU over the window; completions are (time, lag)."""
    await asyncio.sleep(warmup)
    t0, c0 = time.monotonic(), cpu_seconds()
    start_index = len(completions)
    await asyncio.sleep(run_for)
    t1, c1 = time.monotonic(), cpu_seconds()
    window = [lag for _, lag in completions[start_index:]]
    done = len(window)
    return {
        "checks_completed": done,
        "checks_per_s": done / (t1 - t0),
        "cpu_us_per_check": (c1 - c0) / max(1, done) * 1e6,
        "cpu_percent": (c1 - c0) / (t1 - t0) * 100,
        "lag_p50_ms": percentile(window, 50) * 1000,
        "lag_p99_ms": percentile(window, 99) * 1000,
        "peak_rss_mb": peak_rss_mb(),
    }


async def phase_bare(url: str, n: int, interval: float, duration: float, warmup: float) -> dict:
    import aiohttp

    completions: list[tuple[float, float]] = []
    connector = aiohttp.TCPConnector(limit=1000)
    async with aiohttp.ClientSession(connector=connector) as session:

        async def one(i: int) -> None:
            due = time.monotonic() + random.uniform(0, interval)
            target = f"{url}?check={i}"
            while True:
                delay = due - time.monotonic()
                if delay > 0:
                    await asyncio.sleep(delay)
                lag = time.monotonic() - due
                try:
                    async with session.get(target) as resp:
                        await resp.read()
                except Exception:
                    pass
                completions.append((time.monotonic(), lag))
                due += interval
                while due < time.monotonic():
                    due += interval

        tasks = [asyncio.ensure_future(one(i)) for i in range(n)]
        result = await measure(duration, warmup, completions)
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
    return result


async def phase_engine(url: str, n: int, interval: float, duration: float, warmup: float) -> dict:
    from dash.config import parse_config
    from dash.engine.scheduler import Engine

    lines = [
        "[dashboard]",
        "concurrency = 1000",
        "[defaults]",
        f'interval = "{int(interval * 1000)}ms"',
        f'timeout = "{int(interval * 1000)}ms"',
        "retries = 0",
    ]
    for i in range(n):
        lines += ["[[check]]", f'name = "api-{i}"', 'kind = "http"', f'url = "{url}?check={i}"']
    config = parse_config("\n".join(lines), path="<bench>")
    engine = Engine(config)
    completions: list[tuple[float, float]] = []
    failures = []

    def on_result(result) -> None:
        completions.append((result.finished_at, result.lag))
        if result.status.value != "ok":
            failures.append(result.message)

    engine.subscribe(on_result)
    await engine.start()
    try:
        result = await measure(duration, warmup, completions)
    finally:
        await engine.stop()
    result["failures"] = len(failures)
    if failures:
        result["first_failure"] = failures[0]
    return result


def run_phase(phase: str, args: argparse.Namespace, url: str) -> dict:
    cmd = [
        sys.executable, os.path.abspath(__file__), "--phase", phase, "--url", url,
        "--checks", str(args.checks), "--interval", str(args.interval),
        "--duration", str(args.duration), "--warmup", str(args.warmup),
    ]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--checks", type=int, default=1000)
    parser.add_argument("--interval", type=float, default=1.0)
    parser.add_argument("--duration", type=float, default=30.0, help="measured seconds per phase")
    parser.add_argument("--warmup", type=float, default=3.0)
    parser.add_argument("--phase", choices=("bare", "engine"), help=argparse.SUPPRESS)
    parser.add_argument("--url", help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.phase:
        fn = phase_bare if args.phase == "bare" else phase_engine
        result = asyncio.run(fn(args.url, args.checks, args.interval, args.duration, args.warmup))
        print(json.dumps(result))
        return

    server, port = start_server()
    try:
        url = f"http://127.0.0.1:{port}/ok"
        print(f"{args.checks} checks every {args.interval:g}s, {args.duration:g}s measured after {args.warmup:g}s warm-up, one process each")
        bare = run_phase("bare", args, url)
        engine = run_phase("engine", args, url)
    finally:
        server.terminate()
        server.wait()

    rows = [
        ("checks completed per s", "checks_per_s", "{:.0f}"),
        ("CPU µs per check", "cpu_us_per_check", "{:.0f}"),
        ("CPU % of one core", "cpu_percent", "{:.1f}"),
        ("scheduler lag p50 ms", "lag_p50_ms", "{:.1f}"),
        ("scheduler lag p99 ms", "lag_p99_ms", "{:.1f}"),
        ("peak RSS MB", "peak_rss_mb", "{:.0f}"),
    ]
    print(f"{'':26}{'bare aiohttp':>14}{'engine':>12}")
    for label, key, fmt in rows:
        print(f"{label:26}{fmt.format(bare[key]):>14}{fmt.format(engine[key]):>12}")
    ratio = engine["cpu_us_per_check"] / bare["cpu_us_per_check"]
    print(f"\nengine / bare CPU per check: {ratio:.2f}x   (target <= 4x)")
    print(f"engine scheduler lag p99: {engine['lag_p99_ms']:.1f} ms   (target <= 50 ms)")
    print(f"engine peak RSS: {engine['peak_rss_mb']:.0f} MB   (target <= 120 MB)")
    if engine.get("failures"):
        print(f"engine failures in window: {engine['failures']} (first: {engine.get('first_failure')})")


if __name__ == "__main__":
    main()
