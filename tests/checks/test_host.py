"""The host kind: real psutil readings, an injected disk_usage for a hung mount."""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path

import psutil
import pytest

from checks.base import Resources
from checks.host import HostProbe, make
from dash.config import CheckConfig
from dash.model import Reason, Status

ALL_ZERO = {"cpu": 0, "memory": 0, "swap": 0, "disk": 0, "load": 0}
# Thresholds this machine can never cross, so a busy test machine does not change the verdict.
NEVER = {"cpu": 1000, "memory": 1000, "swap": 1000, "disk": 1000, "load": 1e9}
BASE_METRICS = {
    "cpu_percent", "memory_percent", "swap_percent", "load1", "load_per_core", "net_rx_bps", "net_tx_bps",
}


async def test_defaults_report_every_reading() -> None:
    probe = HostProbe(disks=["/"])
    for _ in range(2):  # the second run measures CPU and network against the first
        out = await probe.probe()
        names = {m.name for m in out.metrics}
        assert BASE_METRICS | {"disk:/"} <= names
        assert out.status is not Status.UNKNOWN, out
        for word in ("cpu ", "mem ", "swap ", "load ", "disk / "):
            assert word in out.message
    by_name = {m.name: m for m in out.metrics}
    assert 0.0 <= by_name["cpu_percent"].value <= 100.0
    assert (by_name["cpu_percent"].warn, by_name["cpu_percent"].crit) == (85.0, 95.0)
    assert by_name["disk:/"].value == pytest.approx(psutil.disk_usage("/").percent, abs=5)
    assert by_name["net_rx_bps"].value >= 0 and by_name["net_rx_bps"].unit == "B/s"


async def test_all_real_filesystems_by_default() -> None:
    out = await HostProbe().probe()
    assert any(m.name.startswith("disk:") for m in out.metrics)
    assert not any(m.name.startswith("disk:/snap/") for m in out.metrics)


async def test_zero_thresholds_are_crit_and_name_the_offenders() -> None:
    out = await HostProbe(disks=["/"], warn=ALL_ZERO, crit=ALL_ZERO).probe()
    assert (out.status, out.reason) == (Status.CRIT, Reason.THRESHOLD)
    assert out.message.startswith("cpu ")
    for offender in ("cpu", "mem", "swap", "disk /"):
        assert f"{offender} " in out.message
    assert out.message.count("(crit 0%)") == 4
    assert "/core, crit 0/core)" in out.message


async def test_warn_offender_comes_first_then_the_rest() -> None:
    out = await HostProbe(disks=["/"], warn={**NEVER, "disk": 0}, crit=NEVER).probe()
    assert (out.status, out.reason) == (Status.WARN, Reason.THRESHOLD)
    assert out.message.startswith("disk / ")
    first, rest = out.message.split("; ", 1)
    assert first.endswith("(warn 0%)")
    assert rest.startswith("cpu ") and "mem " in rest


async def test_missing_path_is_unknown_for_that_disk_only() -> None:
    missing = "/nonexistent-healthdash-mount"  # short: long mount paths are shortened in messages
    out = await HostProbe(disks=["/", missing], warn=NEVER, crit=NEVER).probe()
    assert out.status is Status.UNKNOWN and out.reason is Reason.EXEC
    assert out.message.startswith(f"disk {missing} no such path")
    assert "disk:/" in {m.name for m in out.metrics}


async def test_hung_mount_does_not_block_the_other_readings(tmp_path: Path) -> None:
    hung = str(tmp_path)
    release = threading.Event()
    calls: list[str] = []

    def disk_usage(path: str):
        calls.append(path)
        if path == hung:
            release.wait(30)  # a dead NFS server, until the test lets go
        return psutil.disk_usage(path)

    probe = HostProbe(disks=["/", hung], warn=NEVER, crit=NEVER, disk_usage=disk_usage, disk_timeout=0.3)
    try:
        first = await asyncio.wait_for(probe.probe(), 5)
        assert (first.status, first.reason) == (Status.UNKNOWN, Reason.TIMEOUT)
        assert first.message.startswith(f"disk {hung} not responding; cpu ")
        names = {m.name for m in first.metrics}
        assert BASE_METRICS | {"disk:/"} <= names
        assert f"disk:{hung}" not in names

        second = await asyncio.wait_for(probe.probe(), 5)
        assert second.message.startswith(f"disk {hung} not responding")
        assert calls.count(hung) == 1 and calls.count("/") == 2
        assert [t.name for t in threading.enumerate()].count(f"disk_usage {hung}") == 1
    finally:
        release.set()
    probe.pending[hung].thread.join(5)

    recovered = await asyncio.wait_for(probe.probe(), 5)
    assert recovered.status is not Status.UNKNOWN, recovered
    assert f"disk:{hung}" in {m.name for m in recovered.metrics}
    assert calls.count(hung) == 2


async def test_make_merges_configured_thresholds_with_defaults() -> None:
    check = CheckConfig(
        name="this host", kind="host", interval=10, timeout=1, retries=0,
        options={"disks": ["/"], "warn": {"disk": 0, "cpu": None}, "crit": None},
    )
    resources = Resources()
    probe = make(check, resources)
    assert probe.warn["disk"] == 0 and probe.warn["cpu"] == 85 and probe.crit["memory"] == 97
    assert probe.disk_timeout == 0.5  # half the check's timeout, so a hung mount reports in time
    assert make(check, resources).pending is probe.pending  # one registry of disk threads
    out = await probe.probe()
    assert out.status in (Status.WARN, Status.CRIT) and "disk / " in out.message
