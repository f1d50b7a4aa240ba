"""The fault suite at full size: failing checks over every fault kind beside healthy ones.

    python bench/faults.py [--healthy 500] [--failing 500] [--interval 2s] [--duration 60]
                           [--timeout 1s] [--concurrency N]

Starts the fault farms on loopback in child processes (broken HTTP endpoints, TLS with
expired / self-signed / wrong-host certificates, a TCP port that never accepts, an
NXDOMAIN DNS server) and a healthy /ok server in another, runs the real Engine over N
failing checks spread round-robin over every fault kind and N healthy checks for the
duration, then prints, per fault kind, the (status, reason) distribution against what
the fault must cause; the healthy checks' schedule slip (gap between consecutive
starts against the interval: max and p99, required <= 10%); lag p50/p99; open file
descriptors, asyncio tasks and RSS at start, peak and end; and a PASS/FAIL line per
requirement. Exits 1 on any FAIL. tests/faults/test_fault_suite.py runs the same,
shorter and under the TUI.

The board keeps 120 results per check, so the heap (and with it every full garbage
collection, a pause of the whole loop) grows for 120 intervals: 240 s at 2 s. Run
`--duration 300` to see the steady state rather than the first minute.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from dash.config import parse_duration  # noqa: E402
from tests.faults.farm import Farms  # noqa: E402
from tests.faults.suite import Suite  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--healthy", type=int, default=500, help="healthy http checks (default 500)")
    parser.add_argument("--failing", type=int, default=500, help="failing checks over every fault kind (default 500)")
    parser.add_argument("--interval", type=parse_duration, default=2.0, help='check interval (default "2s")')
    parser.add_argument("--timeout", type=parse_duration, default=1.0, help='check timeout (default "1s")')
    parser.add_argument("--duration", type=float, default=60.0, help="seconds to run (default 60)")
    parser.add_argument("--concurrency", type=int, default=None, help="[dashboard] concurrency (default: healthdash's)")
    args = parser.parse_args()

    async def run() -> Suite:
        suite = Suite(
            addresses,
            healthy=args.healthy,
            failing=args.failing,
            interval=args.interval,
            timeout=args.timeout,
            concurrency=args.concurrency,
        )
        await suite.run_headless(args.duration)
        return suite

    with tempfile.TemporaryDirectory(prefix="healthdash-faults-") as tmp, Farms(tmp) as addresses:
        suite = asyncio.run(run())
    report = suite.report()
    print("\n".join(report.lines()))
    print("\nPASS" if report.passed else "\nFAIL")
    return 0 if report.passed else 1


if __name__ == "__main__":
    sys.exit(main())
