"""The node check kind: node_exporter scrapes served by a loopback server.

tests/checks/samples/node_exporter_*.txt are written the way node_exporter 1.5 writes
them (Go float formatting, HELP/TYPE, guest CPU time, tmpfs/squashfs/overlay mounts,
an NFS mount it could not stat, loopback and docker devices). Between scrapes 1 and 2
(15 s apart on the fake clock) the four CPUs were 25% busy and eth0 + docker0 received
16.5 MB and sent 3 MB; between 2 and 3, 50% busy. The "rebooted" scrape has counters
that went back.
"""

from __future__ import annotations

import asyncio
import itertools
import socket
from pathlib import Path
from typing import Any

import pytest

from checks import host, node
from checks.base import Resources
from checks.node import Filesystem, NodeProbe, parse_node
from dash.config import ConfigError, parse_config
from dash.model import Outcome, Reason, Status
from tests.checks.test_prometheus import PromFarm
from tests.checks.conftest import toml_value

SAMPLES = Path(__file__).parent / "samples"
DEADLINE = 3.0
STEP = 15.0  # seconds between scrapes on the fake clock
HOST_METRICS = {
    "cpu_percent", "memory_percent", "swap_percent", "load1", "load_per_core", "net_rx_bps", "net_tx_bps",
}
FIRST_TWO = {
    "cpu_percent": 25.0, "memory_percent": 75.0, "swap_percent": 25.0, "load1": 3.2, "load_per_core": 0.8,
    "disk:/": 84.2, "disk:/boot/efi": 1.3, "disk:/home": 91.0, "net_rx_bps": 1_100_000.0, "net_tx_bps": 200_000.0,
}
_keys = itertools.count()


def sample(name: str) -> bytes:
    return (SAMPLES / name).read_bytes()


@pytest.fixture(scope="module")
def farm():
    with PromFarm() as server:
        yield server


def serve(farm: PromFarm, *bodies: bytes | str) -> tuple[str, str]:
    """A fresh /metrics URL answering `bodies` (sample names or bytes) in turn; and its key."""
    key = f"node{next(_keys)}"
    farm.scrapes[key] = [sample(b) if isinstance(b, str) else b for b in bodies]
    return farm.url(f"/metrics/{key}"), key


def load(**options: Any):
    lines = ["[[check]]", 'name = "db-1"', 'kind = "node"']
    lines += [f"{key} = {toml_value(value)}" for key, value in options.items()]
    return parse_config("\n".join(lines) + "\n", kinds={"node": node}).checks[0]


def fake_clock():
    """Each call is STEP seconds after the previous one: one call per scrape."""
    ticks = itertools.count(1000.0, STEP)
    return lambda: next(ticks)


def probe_for(resources: Resources, **options: Any) -> NodeProbe:
    return NodeProbe(load(**options), resources, first_gap=0.0, clock=fake_clock())


async def run(probe: NodeProbe) -> Outcome:
    return await asyncio.wait_for(probe.probe(), DEADLINE)


def values(outcome: Outcome) -> dict[str, float]:
    return {m.name: m.value for m in outcome.metrics}


# --- over the wire ---------------------------------------------------------------------


async def test_first_run_scrapes_twice_and_reads_like_host(farm, resources):
    url, key = serve(farm, "node_exporter_1.txt", "node_exporter_2.txt")
    outcome = await run(probe_for(resources, url=url))
    assert farm.scraped[key] == 2
    assert values(outcome) == FIRST_TWO
    assert (outcome.status, outcome.reason) == (Status.WARN, Reason.THRESHOLD)
    assert outcome.message == (
        "disk /home 91% (warn 85%); cpu 25%, mem 75%, swap 25%, load 3.20, disk / 84%, disk /boot/efi 1%"
    )
    # The same names, units and default thresholds as the local host kind.
    by_name = {m.name: m for m in outcome.metrics}
    assert HOST_METRICS <= set(by_name)
    assert (by_name["cpu_percent"].warn, by_name["cpu_percent"].crit) == (85.0, 95.0)
    assert (by_name["disk:/"].unit, by_name["net_rx_bps"].unit) == ("%", "B/s")


async def test_later_runs_use_the_previous_scrape(farm, resources):
    url, key = serve(farm, "node_exporter_1.txt", "node_exporter_2.txt", "node_exporter_3.txt")
    probe = probe_for(resources, url=url)
    await run(probe)
    outcome = await run(probe)
    assert farm.scraped[key] == 3
    got = values(outcome)
    assert (got["cpu_percent"], got["net_rx_bps"], got["net_tx_bps"], got["load1"]) == (50.0, 200_000.0, 100_000.0, 3.4)


async def test_a_reboot_takes_a_fresh_pair_of_scrapes(farm, resources):
    url, key = serve(farm, "node_exporter_1.txt", "node_exporter_2.txt", "node_exporter_rebooted.txt")
    probe = probe_for(resources, url=url)
    await run(probe)
    outcome = await run(probe)
    assert farm.scraped[key] == 4  # the counters went back: two more scrapes, no negative rates
    got = values(outcome)
    assert (got["cpu_percent"], got["net_rx_bps"], got["net_tx_bps"]) == (0.0, 0.0, 0.0)
    assert got["memory_percent"] == pytest.approx(12.7, abs=0.1)


async def test_thresholds_from_the_config(farm, resources):
    url, _ = serve(farm, "node_exporter_1.txt", "node_exporter_2.txt")
    outcome = await run(probe_for(resources, url=url, crit={"cpu": 20, "load": 0.5}, warn={"disk": 95}))
    assert (outcome.status, outcome.reason) == (Status.CRIT, Reason.THRESHOLD)
    assert outcome.message == (
        "cpu 25% (crit 20%); load 3.20 (0.8/core, crit 0.5/core); mem 75%, swap 25%, disk / 84%, "
        "disk /boot/efi 1%, disk /home 91%"
    )


async def test_listed_disks_missing_or_unreadable_are_unknown(farm, resources):
    url, _ = serve(farm, "node_exporter_1.txt", "node_exporter_2.txt")
    outcome = await run(probe_for(resources, url=url, disks=["/", "/mnt/backup", "/srv"]))
    assert (outcome.status, outcome.reason) == (Status.UNKNOWN, Reason.ASSERTION)
    assert outcome.message.startswith("disk /mnt/backup unreadable; disk /srv not exported; cpu 25%")
    assert [m.name for m in outcome.metrics if m.name.startswith("disk:")] == ["disk:/"]


async def test_disabled_collectors_are_named_not_judged(farm, resources):
    body = b"# HELP node_load1 1m load average.\n# TYPE node_load1 gauge\nnode_load15 9\nnode_load1 0.42\n"
    url, _ = serve(farm, body)
    outcome = await run(probe_for(resources, url=url))
    assert (outcome.status, outcome.message) == (Status.OK, "load 0.42; not exported: cpu, mem, swap, network")
    assert values(outcome) == {"load1": 0.42}


async def test_not_a_node_exporter(farm, resources):
    url, key = serve(farm, b'{"status":"UP"}')
    outcome = await run(probe_for(resources, url=url))
    assert (outcome.status, outcome.reason) == (Status.UNKNOWN, Reason.ASSERTION)
    assert outcome.message.startswith("no node_exporter metrics in the response")
    assert farm.scraped[key] == 1  # no second scrape for nothing


async def test_a_megabyte_scrape_is_read(farm, resources):
    filler = "".join(
        f'node_systemd_unit_state{{name="unit-{i}.service",state="active",type="simple"}} 1\n' for i in range(15000)
    ).encode()
    first, second = sample("node_exporter_1.txt"), sample("node_exporter_2.txt")
    assert len(filler + second) > 1_000_000
    url, _ = serve(farm, filler + first, second + filler)
    outcome = await run(probe_for(resources, url=url))
    assert values(outcome) == FIRST_TWO


async def test_http_error(farm, resources):
    outcome = await run(probe_for(resources, url=farm.url("/status/404")))
    assert (outcome.status, outcome.reason, outcome.message) == (Status.CRIT, Reason.HTTP_STATUS, "404 Not Found")
    unavailable = await run(probe_for(resources, url=farm.url("/status/503")))
    assert unavailable.retryable


async def test_connection_refused(resources):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    outcome = await run(probe_for(resources, url=f"http://127.0.0.1:{port}/metrics"))
    assert (outcome.status, outcome.reason, outcome.message) == (Status.CRIT, Reason.CONNECT, "connection refused")


async def test_body_over_max_body(farm, resources):
    outcome = await run(probe_for(resources, url=farm.url("/huge"), max_body="64KiB"))
    assert (outcome.status, outcome.reason) == (Status.CRIT, Reason.BODY_LIMIT)
    assert outcome.message == "body is larger than max_body 64 KiB; not read further"


async def test_headers_are_sent_and_never_shown(farm, resources):
    token = "Bearer n0de-s3cr3t-token"
    url, _ = serve(farm, "node_exporter_1.txt", "node_exporter_2.txt")
    outcome = await run(probe_for(resources, url=url, headers={"Authorization": token}))
    assert farm.last_headers["authorization"] == token
    assert outcome.status is Status.WARN
    error = await run(probe_for(resources, url=farm.url("/status/401"), headers={"Authorization": token}))
    assert token not in error.message + error.detail


async def test_hang_is_cancelled_cleanly(resources):
    with PromFarm() as slow:
        probe = probe_for(resources, url=slow.url("/hang"))
        with pytest.raises(asyncio.TimeoutError):
            await asyncio.wait_for(probe.probe(), 0.2)
        for _ in range(200):
            if slow.open_connections == 0:
                break
            await asyncio.sleep(0.01)
        assert slow.open_connections == 0


async def test_cancelled_between_the_first_two_scrapes(farm, resources):
    url, key = serve(farm, "node_exporter_1.txt", "node_exporter_2.txt")
    probe = NodeProbe(load(url=url), resources, first_gap=30.0)
    with pytest.raises(asyncio.TimeoutError):
        await asyncio.wait_for(probe.probe(), 0.3)
    assert farm.scraped[key] == 1


async def test_make_keeps_the_first_gap_inside_the_timeout(farm, resources):
    url, key = serve(farm, "node_exporter_1.txt", "node_exporter_2.txt")
    assert node.make(load(url=url), resources).first_gap == node.FIRST_GAP
    probe = node.make(load(url=url, timeout="200ms"), resources)
    assert probe.first_gap == 0.05
    outcome = await run(probe)
    assert farm.scraped[key] == 2 and "cpu_percent" in values(outcome)


# --- the pieces, without a server --------------------------------------------------------


def test_parse_skips_guest_time_loopback_and_lookalike_families():
    parsed = parse_node(sample("node_exporter_2.txt"), at=1.0)
    assert parsed.cores == 4
    assert set(parsed.net) == {"docker0", "eth0", "veth1a2b3c4"}
    assert parsed.filesystems["/mnt/backup"].error
    assert parsed.load1 == 3.2  # not node_load15
    assert node.real_mounts(parsed) == ["/", "/boot/efi", "/home"]


def test_filesystem_percent_is_like_df():
    gib = 1024**3
    assert Filesystem("/", "ext4", 100 * gib, 20 * gib, 15 * gib).percent == 84.2  # root's reserve excluded
    assert Filesystem("/", "xfs", 100 * gib, avail=25 * gib).percent == 75.0  # no free_bytes: size - avail
    assert Filesystem("/", "ext4", 0.0, 0.0, 0.0).percent is None
    assert Filesystem("/mnt", "nfs4", error=True).percent is None


def test_defaults_are_the_host_defaults():
    check = load(url="http://127.0.0.1:9100/metrics")
    assert check.options["warn"] == host.DEFAULT_WARN
    assert check.options["crit"] == host.DEFAULT_CRIT
    assert (check.options["disks"], check.options["max_body"]) == (None, 16 * 1024 * 1024)


@pytest.mark.parametrize(
    "options, error",
    [
        ({"warn": {"cpu": -1}}, "check[db-1].warn.cpu: must be 0 or more"),
        ({"crit": {"disks": 90}}, "check[db-1].crit.disks"),
        ({"url": "ftp://127.0.0.1/metrics"}, "must be an http:// or https:// URL"),
    ],
)
def test_invalid_config(options, error):
    with pytest.raises(ConfigError) as caught:
        load(**{"url": "http://127.0.0.1:9100/metrics", **options})
    assert error in str(caught.value)
