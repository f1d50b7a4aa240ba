"""Alertmanager both ways, against the real `prometheus-alertmanager` from Debian.

It runs as a plain subprocess on a free loopback port, without clustering
(`--cluster.listen-address=` empty, or it would bind 0.0.0.0:9094 and gossip), with a
route to a receiver that sends nothing; started once for this module and stopped at
the end. Skipped with a reason when the binary is missing.
"""

from __future__ import annotations

import asyncio
import subprocess
import textwrap
import time
from collections.abc import Callable, Iterator
from types import SimpleNamespace
from typing import Any

import httpx
import pytest

from dash.alertmanager import Puller, merge
from dash.config import Config, parse_config
from dash.core.alerts import AlertEngine
from dash.core.services import evaluate
from dash.model import CheckResult, Reason, Status
from dash.notify import Notifier
from tests.integration.test_prometheus_servers import binary, free_port, get, stop, wait_until

pytestmark = pytest.mark.e2e

KINDS = {"tcp": SimpleNamespace(KIND="tcp", FIELDS={})}
ALERTMANAGER_YML = """\
route:
  receiver: null-receiver
  group_wait: 1s
  group_interval: 1s
  repeat_interval: 1h
receivers:
  - name: null-receiver
"""


@pytest.fixture(scope="module")
def alertmanager(tmp_path_factory) -> Iterator[str]:
    """A real Alertmanager; its base URL."""
    exe = binary("prometheus-alertmanager")
    here = tmp_path_factory.mktemp("alertmanager")
    (here / "alertmanager.yml").write_text(ALERTMANAGER_YML)
    port = free_port()
    log = here / "log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [
                exe,
                f"--config.file={here / 'alertmanager.yml'}",
                f"--storage.path={here / 'data'}",
                f"--web.listen-address=127.0.0.1:{port}",
                "--cluster.listen-address=",
            ],
            stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
        )
    url = f"http://127.0.0.1:{port}"
    wait_until(lambda: get(f"{url}/-/ready") is not None, process, log, "Alertmanager")
    try:
        yield url
    finally:
        stop(process)


def config(url: str, check: str) -> Config:
    """One tcp check that a tier-1 service requires (so its alert is P1 and pages), and
    Alertmanager as the only notify target."""
    return parse_config(
        textwrap.dedent(
            f"""\
            [dashboard]
            title = "integration"
            [[check]]
            name = "{check}"
            kind = "tcp"
            [[service]]
            name = "{check}-service"
            tier = 1
            requires = ["{check}"]
            [[notify]]
            kind = "alertmanager"
            url = "{url}"
            retries = 0
            """
        ),
        environ={},
        kinds=KINDS,
    )


class Board:
    """A real alert engine feeding a real Notifier, with results at wall times from `base`."""

    def __init__(self, cfg: Config, check: str, base: float) -> None:
        self.cfg, self.check, self.base = cfg, check, base
        self.alerts = AlertEngine(cfg)
        self.notifier = Notifier(cfg)

    def run(self, at: float, status: Status) -> None:
        now = self.base + at
        bad = status is Status.CRIT
        result = CheckResult(
            self.check, "tcp", status, Reason.CONNECT if bad else Reason.OK,
            "connect to 127.0.0.1:5432: connection refused" if bad else "ok", 0.01, 1, now, now,
        )
        self.alerts.observe(result, now)
        self.alerts.observe_services(evaluate(self.cfg.services, {self.check: status}), now)
        for note in self.alerts.notifications(now):
            self.notifier.submit(note)


async def active_alerts(url: str, **labels: str) -> list[dict[str, Any]]:
    """Alertmanager's unresolved alerts with these labels, read with a plain client."""
    async with httpx.AsyncClient(trust_env=False) as client:
        response = await client.get(f"{url}/api/v2/alerts")
    response.raise_for_status()
    return [a for a in response.json() if all(a["labels"].get(k) == v for k, v in labels.items())]


async def eventually(condition: Callable[[], Any], seconds: float = 10.0) -> None:
    """Wait (really, briefly) for the notifier's HTTP round trips and Alertmanager's processing."""
    deadline = time.monotonic() + seconds
    while not await condition():
        assert time.monotonic() < deadline, "condition not met in time"
        await asyncio.sleep(0.05)


async def test_a_page_fires_in_alertmanager_and_its_resolution_ends_it(alertmanager: str) -> None:
    board = Board(config(alertmanager, "orders-db"), "orders-db", time.time() - 60)  # resolved before now
    await board.notifier.start()
    try:
        board.run(0, Status.CRIT)
        board.run(10, Status.CRIT)  # confirmed: P1, paged

        async def fired() -> bool:
            return board.notifier.sent == 1 and bool(await active_alerts(alertmanager, check="orders-db"))

        await eventually(fired)
        (alert,) = await active_alerts(alertmanager, check="orders-db")
        assert alert["labels"] == {
            "alertname": "HealthdashCheckUnhealthy",
            "source": "healthdash",
            "subject": "check",
            "check": "orders-db",
            "severity": "crit",
            "priority": "P1",
            "dashboard": "integration",
        }
        assert alert["annotations"] == {
            "summary": "connect to 127.0.0.1:5432: connection refused",
            "description": "P1: orders-db crit; orders-db-service down",
            "fingerprint": "check:orders-db:unhealthy",
        }
        assert alert["status"]["state"] in ("active", "unprocessed")
        assert alert["receivers"] == [{"name": "null-receiver"}]

        board.run(20, Status.OK)
        board.run(30, Status.OK)  # recovered: resolved 30 s ago

        async def ended() -> bool:
            return board.notifier.sent == 2 and not await active_alerts(alertmanager, check="orders-db")

        await eventually(ended)
        assert board.notifier.failed == 0
    finally:
        await board.notifier.stop()


async def test_the_puller_shows_other_alerts_and_not_ours_twice(alertmanager: str) -> None:
    board = Board(config(alertmanager, "billing-db"), "billing-db", time.time() - 20)
    await board.notifier.start()
    # someone else's alerts: one firing, one silenced in Alertmanager
    others = [
        {"labels": {"alertname": "DiskFull", "instance": "db-1:9100", "severity": "critical"},
         "annotations": {"summary": "disk / on db-1 is 97% full"}},
        {"labels": {"alertname": "Watchdog", "severity": "none"}},
    ]
    async with httpx.AsyncClient(trust_env=False) as client:
        (await client.post(f"{alertmanager}/api/v2/alerts", json=others)).raise_for_status()
        silence = {
            "matchers": [{"name": "alertname", "value": "Watchdog", "isRegex": False}],
            "startsAt": "2000-01-01T00:00:00Z", "endsAt": "2100-01-01T00:00:00Z",
            "createdBy": "integration test", "comment": "always firing",
        }
        response = await client.post(f"{alertmanager}/api/v2/silences", json=silence)
        response.raise_for_status()
        silence_id = response.json()["silenceID"]
    puller = Puller(parse_config(f'[alertmanager]\nurl = "{alertmanager}"\n', environ={}, kinds=KINDS).alertmanager)
    try:
        board.run(0, Status.CRIT)
        board.run(10, Status.CRIT)  # paged: pushed to Alertmanager

        async def all_there() -> bool:
            await puller.pull()
            states = {a.labels.get("check") or a.name: a.state for a in puller.alerts}
            # the silence takes effect once Alertmanager has processed the alert
            return {"billing-db", "DiskFull"} <= set(states) and states.get("Watchdog") == "suppressed"

        await eventually(all_there)
        assert puller.error == ""
        shown = merge(board.alerts.alerts(board.base + 10), puller.alerts, dashboard=board.cfg.title)
        by_name = {a.name: a for a in shown}
        assert "HealthdashCheckUnhealthy" not in by_name  # ours is on the board already
        disk = by_name["DiskFull"]
        assert (disk.source, disk.state, disk.severity, disk.summary) == ("alertmanager", "active", "critical", "disk / on db-1 is 97% full")
        assert disk.labels["instance"] == "db-1:9100" and disk.receivers == ("null-receiver",)
        assert disk.starts_at is not None and abs(disk.starts_at - time.time()) < 60
        watchdog = by_name["Watchdog"]
        assert (watchdog.state, watchdog.silenced_by) == ("suppressed", (silence_id,))
        # without our alert on the board, Alertmanager's copy of it is shown rather than lost
        assert "HealthdashCheckUnhealthy" in {a.name for a in merge((), puller.alerts)}
    finally:
        await puller.stop()
        await board.notifier.stop()
