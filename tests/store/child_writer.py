"""Run by test_crash.py as a separate process: write results through a Store in a
loop, printing how many have been enqueued after each batch, until killed."""

from __future__ import annotations

import sys
import time

from dash.model import CheckResult, Reason, Status
from dash.store import Store


def main(path: str) -> None:
    store = Store.open(path)
    print("open", flush=True)
    n = 0
    while True:
        now = time.time()
        for _ in range(50):
            n += 1
            bad = n % 7 == 0
            store.record_result(
                CheckResult(
                    check=f"check-{n % 20}",
                    kind="http",
                    status=Status.CRIT if bad else Status.OK,
                    reason=Reason.TIMEOUT if bad else Reason.OK,
                    message=f"result {n}",
                    latency=0.005,
                    attempts=1,
                    started_at=now,
                    finished_at=now,
                )
            )
        print(n, flush=True)
        time.sleep(0.01)


if __name__ == "__main__":
    main(sys.argv[1])
