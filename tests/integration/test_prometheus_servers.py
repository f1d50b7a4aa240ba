"""The prometheus and node kinds against the real servers from Debian's packages.

`prometheus-node-exporter` and `prometheus` run as plain subprocesses on free
loopback ports (never via systemd), each started once for this module and stopped
at the end (terminate, then kill). Prometheus scrapes itself every second and
records two `queue_depth` series with rules, so the queries have known answers.
Each test is skipped with a reason when its binary is missing.
"""

from __future__ import annotations

import asyncio
import json
import shutil
import socket
import subprocess
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psutil
import pytest

from checks import node, prometheus
from checks.base import Resources
from dash.config import parse_config
from dash.model import Outcome, Reason, Status

pytestmark = pytest.mark.e2e

STARTUP = 15.0  # Prometheus syncs scrape targets 5 s after start: the first `up` takes ~6 s
DEADLINE = 5.0
# node_exporter's defaults without overlay, squashfs, iso9660 and without excluding /run, /mnt.
MOUNTS_EXCLUDE = "^/(dev|proc|sys)($|/)"
FS_TYPES_EXCLUDE = (
    "^(autofs|binfmt_misc|bpf|cgroup2?|configfs|debugfs|devpts|devtmpfs|fusectl|hugetlbfs|mqueue|nsfs"
    "|proc|procfs|pstore|rpc_pipefs|securityfs|selinuxfs|sysfs|tracefs)$"
)

PROMETHEUS_YML = """\
global:
  scrape_interval: 1s
  evaluation_interval: 1s
rule_files: ["rules.yml"]
scrape_configs:
  - job_name: prometheus
    static_configs:
      - targets: ["127.0.0.1:{port}"]
"""
RULES_YML = """\
groups:
  - name: healthdash-test
    interval: 1s
    rules:
      - record: queue_depth
        expr: vector(1234)
        labels: {job: orders-worker, queue: orders}
      - record: queue_depth
        expr: vector(12)
        labels: {job: billing-worker, queue: invoices}
"""


def binary(name: str) -> str:
    """The path of a Debian-packaged binary, or skip the test saying what to install."""
    found = shutil.which(name) or (f"/usr/bin/{name}" if Path(f"/usr/bin/{name}").exists() else None)
    if found is None:
        pytest.skip(f"{name} is not installed (apt-get install {name})")
    return found


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def get(url: str) -> bytes | None:
    """The body at a loopback URL, or None while the server is not answering."""
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return response.read()
    except (urllib.error.URLError, ConnectionError, TimeoutError):
        return None


def stop(process: subprocess.Popen) -> None:
    process.terminate()
    try:
        process.wait(5)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(5)


def wait_until(ready, process: subprocess.Popen, log: Path, what: str) -> None:
    """Poll `ready()` for at most STARTUP seconds; fail with the server's log otherwise."""
    end = time.monotonic() + STARTUP
    while time.monotonic() < end:
        if ready():
            return
        if process.poll() is not None:
            break
        time.sleep(0.1)
    stop(process)
    tail = log.read_text(errors="replace")[-2000:] if log.exists() else ""
    pytest.fail(f"{what} not ready within {STARTUP:g}s (exit {process.poll()}):\n{tail}")


@pytest.fixture(scope="module")
def node_exporter(tmp_path_factory) -> Iterator[str]:
    """A real node_exporter; its /metrics URL."""
    exe = binary("prometheus-node-exporter")
    port = free_port()
    log = tmp_path_factory.mktemp("node_exporter") / "log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [
                exe,
                f"--web.listen-address=127.0.0.1:{port}",
                # systemd needs a D-Bus socket that test machines and containers rarely have.
                "--no-collector.systemd",
                # Export tmpfs, overlay and squashfs mounts too (a container's / is an overlay),
                # so the node kind's own filtering meets real ones.
                f"--collector.filesystem.mount-points-exclude={MOUNTS_EXCLUDE}",
                f"--collector.filesystem.fs-types-exclude={FS_TYPES_EXCLUDE}",
            ],
            stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
        )
    url = f"http://127.0.0.1:{port}/metrics"
    wait_until(lambda: get(url) is not None, process, log, "node_exporter")
    try:
        yield url
    finally:
        stop(process)


def query(base: str, expr: str) -> list[Any]:
    body = get(f"{base}/api/v1/query?" + urllib.parse.urlencode({"query": expr}))
    if body is None:
        return []
    answer = json.loads(body)
    return answer.get("data", {}).get("result", []) if answer.get("status") == "success" else []


@pytest.fixture(scope="module")
def prometheus_server(tmp_path_factory) -> Iterator[str]:
    """A real Prometheus scraping itself; its base URL once `up` and the rules have samples."""
    exe = binary("prometheus")
    port = free_port()
    home = tmp_path_factory.mktemp("prometheus")
    (home / "prometheus.yml").write_text(PROMETHEUS_YML.format(port=port))
    (home / "rules.yml").write_text(RULES_YML)
    log = home / "log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [
                exe,
                f"--config.file={home / 'prometheus.yml'}",
                f"--storage.tsdb.path={home / 'data'}",
                f"--web.listen-address=127.0.0.1:{port}",
            ],
            stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, cwd=home,
        )
    base = f"http://127.0.0.1:{port}"
    wait_until(
        lambda: len(query(base, "up")) == 1 and len(query(base, "queue_depth")) == 2, process, log, "prometheus"
    )
    try:
        yield base
    finally:
        stop(process)


@pytest.fixture
async def resources():
    res = Resources()
    yield res
    await res.aclose()


def load(kind: str, **options: Any):
    lines = ["[[check]]", f'name = "{kind} check"', f'kind = "{kind}"']
    for key, value in options.items():
        if isinstance(value, dict):
            lines.append(f"{key} = {{ " + ", ".join(f"{k} = {json.dumps(v)}" for k, v in value.items()) + " }")
        else:
            lines.append(f"{key} = {json.dumps(value)}")
    module = {"node": node, "prometheus": prometheus}[kind]
    return parse_config("\n".join(lines) + "\n", kinds={kind: module}).checks[0]


async def ask(resources: Resources, base: str, expr: str, **options: Any) -> Outcome:
    probe = prometheus.make(load("prometheus", url=base, query=expr, **options), resources)
    return await asyncio.wait_for(probe.probe(), DEADLINE)


# --- node ---------------------------------------------------------------------------------


async def test_node_check_reads_this_machine(node_exporter, resources):
    probe = node.make(load("node", url=node_exporter, disks=["/"]), resources)
    for _ in range(2):  # the first run scrapes twice; the second uses the first run's scrape
        outcome = await asyncio.wait_for(probe.probe(), DEADLINE)
        assert outcome.status is not Status.UNKNOWN, outcome
        got = {m.name: m.value for m in outcome.metrics}
        assert {"cpu_percent", "memory_percent", "swap_percent", "load1", "load_per_core", "disk:/",
                "net_rx_bps", "net_tx_bps"} <= set(got), outcome
        assert 0.0 <= got["cpu_percent"] <= 100.0
        assert 0.0 <= got["memory_percent"] <= 100.0
        assert got["net_rx_bps"] >= 0.0 and got["net_tx_bps"] >= 0.0
        for word in ("cpu ", "mem ", "swap ", "load ", "disk / "):
            assert word in outcome.message
    # node_exporter and psutil look at the same machine here.
    assert got["disk:/"] == pytest.approx(psutil.disk_usage("/").percent, abs=2)
    assert got["memory_percent"] == pytest.approx(psutil.virtual_memory().percent, abs=10)


async def test_node_default_disks_are_real_filesystems(node_exporter, resources):
    outcome = await asyncio.wait_for(node.make(load("node", url=node_exporter), resources).probe(), DEADLINE)
    disks = {m.name.removeprefix("disk:") for m in outcome.metrics if m.name.startswith("disk:")}
    partitions = psutil.disk_partitions(all=True)
    pseudo = {p.mountpoint for p in partitions if p.fstype in node.PSEUDO_FS or p.mountpoint.startswith("/snap/")}
    assert not disks & pseudo
    if any(p.mountpoint == "/" and p.fstype not in node.PSEUDO_FS for p in partitions):
        assert "/" in disks


# --- prometheus -----------------------------------------------------------------------------


async def test_up_is_ok(prometheus_server, resources):
    outcome = await ask(resources, prometheus_server, "up", crit={"below": 1})
    assert (outcome.status, outcome.reason, outcome.message) == (Status.OK, Reason.OK, "up: 1 on prometheus")


@pytest.mark.parametrize(
    "empty_is, status", [(None, Status.UNKNOWN), ("ok", Status.OK), ("crit", Status.CRIT)]
)
async def test_no_series_is_what_empty_is_says(prometheus_server, resources, empty_is, status):
    options = {"empty_is": empty_is} if empty_is else {}
    outcome = await ask(resources, prometheus_server, "up == 0", **options)
    assert (outcome.status, outcome.message) == (status, "no series for up == 0")


async def test_a_threshold_trips(prometheus_server, resources):
    outcome = await ask(resources, prometheus_server, "queue_depth", crit={"above": 1000})
    assert (outcome.status, outcome.reason) == (Status.CRIT, Reason.THRESHOLD)
    assert outcome.message == "queue_depth: 1234 (crit above 1000) on orders-worker; 2 series: 1 crit"
    total = await ask(resources, prometheus_server, "queue_depth", aggregate="sum", warn={"above": 1240})
    assert (total.status, total.message) == (Status.WARN, "queue_depth: sum 1246 (warn above 1240); 2 series")


async def test_range_scalar_string_and_nan(prometheus_server, resources):
    matrix = await ask(resources, prometheus_server, "queue_depth[5s]", label="queue")
    assert (matrix.status, matrix.message) == (Status.OK, "queue_depth: 1234 on orders; 2 series")
    scalar = await ask(resources, prometheus_server, "scalar(sum(queue_depth))", warn={"above": 1})
    assert (scalar.status, scalar.message) == (Status.WARN, "scalar(sum(queue_depth)): 1246 (warn above 1)")
    string = await ask(resources, prometheus_server, '"hi"')
    assert (string.status, string.reason) == (Status.UNKNOWN, Reason.ASSERTION)
    nan = await ask(resources, prometheus_server, "0/0", empty_is="warn")
    assert (nan.status, nan.message) == (Status.WARN, "0/0: 1 series, all NaN")


async def test_a_bad_query_is_unknown(prometheus_server, resources):
    outcome = await ask(resources, prometheus_server, "up ===")
    assert (outcome.status, outcome.reason) == (Status.UNKNOWN, Reason.HTTP_STATUS)
    assert outcome.message.startswith("query failed: bad_data: ")
    assert "parse error" in outcome.message
