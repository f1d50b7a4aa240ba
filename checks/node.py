"""`kind = "node"`: another host's vital signs, from its node_exporter.

    [[check]]
    name = "db-1"
    kind = "node"
    url = "http://127.0.0.1:9100/metrics"
    disks = ["/", "/var/lib/postgresql"]   # default: every real filesystem
    warn = { disk = 80 }                    # the same keys and defaults as `host`
    crit = { disk = 90, load = 4 }

The readings, metric names, thresholds and message are those of the local `host`
kind (cpu_percent, memory_percent, swap_percent, load1, load_per_core, disk:<mount>,
net_rx_bps, net_tx_bps), so whatever shows a host can show a node:

- cpu: busy share of node_cpu_seconds_total (idle and iowait are idle), all cores;
- memory: 1 - MemAvailable / MemTotal; swap: 1 - SwapFree / SwapTotal (0 without swap);
- load: node_load1, and per core (cores = distinct `cpu` labels);
- disk: used / (used + available) per mount, like df and psutil (root's reserve is
  not space users can fill); by default every mount whose fstype is a real
  filesystem, skipping tmpfs, overlay, squashfs and friends, /snap/ images and
  mounts node_exporter could not stat;
- network: bytes per second in and out, summed over devices except loopback.

CPU and network are rates: the probe keeps the previous scrape's counters. On the first
run (and after the node's counters went back, i.e. it rebooted) it scrapes twice,
`FIRST_GAP` seconds apart (at most a quarter of the check's timeout), so the first
result already has every reading.

A reading the exporter does not export (a disabled collector) is left out and named
at the end of the message ("not exported: swap"); it does not change the status. A
body without any of these metrics is unknown with reason `assertion`; a disk listed
in `disks` but not exported, or unreadable, is unknown for that disk. Fetch failures
are the http kind's (crit: connect, dns, tls, timeout, http_status, body_limit).

A node_exporter scrape is 50 KB to a few MB: only the few families used here are
parsed, and bodies over 64 KiB are parsed in a worker thread.
"""

from __future__ import annotations

import asyncio
import math
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Callable

import httpx

from checks import host, prometheus_text
from checks.base import Field, Probe, Resources
from checks.http import DEFAULT_MAX_REDIRECTS, DETAIL_CHARS, check_positive, check_url, describe_error, redacted
from checks.host import judged, merged_thresholds, Reading
from checks.prometheus import PARSE_INLINE, fetch, http_client, over_limit, secrets_of
from dash.model import Metric, Outcome, Reason, Status
from dash.text import clean

if TYPE_CHECKING:
    from dash.config import CheckConfig

KIND = "node"

FIRST_GAP = 0.5  # node_exporter's CPU counters tick in 10 ms steps: 0.5 s gives 1% resolution
DEFAULT_MAX_BODY = 16 * 1024 * 1024
# Filesystems that are memory, images, layers or kernel views, not storage anyone fills up.
PSEUDO_FS = frozenset({
    "autofs", "binfmt_misc", "bpf", "cgroup", "cgroup2", "configfs", "debugfs", "devpts", "devtmpfs",
    "fuse.lxcfs", "fusectl", "hugetlbfs", "iso9660", "mqueue", "nsfs", "overlay", "proc", "procfs",
    "pstore", "ramfs", "rpc_pipefs", "securityfs", "selinuxfs", "squashfs", "sysfs", "tracefs",
    "tmpfs", "udf",
})

FIELDS: dict[str, Field] = {
    "url": Field(
        "str", required=True, validate=check_url, help="node_exporter metrics URL, e.g. http://host:9100/metrics"
    ),
    "disks": Field("str_list", help="mount points to watch (default: every real filesystem)"),
    "warn": host.FIELDS["warn"],
    "crit": host.FIELDS["crit"],
    "headers": Field("str_map", help="request headers; Authorization and token-like values are never shown"),
    "ca_file": Field("str", help="PEM file of CA certificates to trust instead of the system ones"),
    "insecure": Field("bool", default=False, help="skip TLS certificate verification"),
    "max_body": Field("size", default=DEFAULT_MAX_BODY, validate=check_positive, help="most body bytes ever read"),
}

# The only families read; every other line of the scrape is skipped unparsed.
_CPU = "node_cpu_seconds_total"
_MEM_TOTAL, _MEM_AVAILABLE = "node_memory_MemTotal_bytes", "node_memory_MemAvailable_bytes"
_SWAP_TOTAL, _SWAP_FREE = "node_memory_SwapTotal_bytes", "node_memory_SwapFree_bytes"
_LOAD1 = "node_load1"
_FS_SIZE, _FS_FREE = "node_filesystem_size_bytes", "node_filesystem_free_bytes"
_FS_AVAIL = "node_filesystem_avail_bytes"
_FS_ERROR = "node_filesystem_device_error"
_RX, _TX = "node_network_receive_bytes_total", "node_network_transmit_bytes_total"
_FAMILIES = (_CPU, _MEM_TOTAL, _MEM_AVAILABLE, _SWAP_TOTAL, _SWAP_FREE, _LOAD1, _FS_SIZE, _FS_FREE, _FS_AVAIL,
             _FS_ERROR, _RX, _TX)
_PREFIXES = tuple(f"{name}{end}" for name in _FAMILIES for end in ("{", " "))
_IDLE_MODES = ("idle", "iowait")


@dataclass(frozen=True, slots=True)
class Filesystem:
    """One mount as node_exporter sees it (bytes; NaN when not exported)."""

    mountpoint: str
    fstype: str
    size: float = math.nan
    free: float = math.nan
    avail: float = math.nan
    error: bool = False

    @property
    def percent(self) -> float | None:
        """Used percent like df: used / (used + available); None when not computable."""
        if not (math.isfinite(self.size) and math.isfinite(self.avail)) or self.size <= 0:
            return None
        used = self.size - (self.free if math.isfinite(self.free) else self.avail)
        room = used + self.avail
        return round(min(100.0, max(0.0, used / room * 100.0)), 1) if room > 0 else 0.0


@dataclass(frozen=True, slots=True)
class NodeSample:
    """The numbers of one scrape; None (or empty) for what was not exported."""

    at: float
    cpu_busy: float | None = None
    cpu_total: float | None = None
    cores: int = 0
    memory_percent: float | None = None
    swap_percent: float | None = None
    load1: float | None = None
    filesystems: dict[str, Filesystem] = field(default_factory=dict)
    net: dict[str, tuple[float, float]] = field(default_factory=dict)

    @property
    def empty(self) -> bool:
        return (
            self.cpu_total is None and self.memory_percent is None and self.load1 is None
            and not self.filesystems and not self.net
        )

    def follows(self, before: "NodeSample") -> bool:
        """True when rates since `before` make sense: time passed and no counter reset."""
        if self.at <= before.at:
            return False
        if self.cpu_total is None or self.cpu_busy is None:
            return True
        if before.cpu_total is None or before.cpu_busy is None:
            return False  # no baseline for the CPU rate
        return self.cpu_total >= before.cpu_total and self.cpu_busy >= before.cpu_busy


def _percent_used(total: float | None, left: float | None) -> float | None:
    if total is None or left is None or not math.isfinite(total) or not math.isfinite(left):
        return None
    if total <= 0:
        return 0.0  # no swap configured reads as 0%, as psutil says
    return round(min(100.0, max(0.0, (total - left) / total * 100.0)), 1)


def parse_node(body: bytes | str, at: float) -> NodeSample:
    """The readings in a node_exporter scrape; never raises. Other families are not parsed."""
    text = body.decode("utf-8", "replace") if isinstance(body, (bytes, bytearray)) else body
    single: dict[str, float] = {}
    busy = total = 0.0
    cpus: set[str] = set()
    fs: dict[str, dict[str, float]] = {}
    fstypes: dict[str, str] = {}
    net: dict[str, list[float]] = {}
    for raw in text.split("\n"):
        if not raw.startswith(_PREFIXES):
            continue
        sample = prometheus_text.parse_line(raw.strip(" \t\r"))
        if sample is None:
            continue
        name, value = sample.name, sample.value
        if name == _CPU:
            if not math.isfinite(value):
                continue
            cpus.add(sample.label("cpu") or "")
            total += value
            if sample.label("mode") not in _IDLE_MODES:
                busy += value
        elif name in (_FS_SIZE, _FS_FREE, _FS_AVAIL, _FS_ERROR):
            mount = sample.label("mountpoint")
            if mount is None:
                continue
            fstypes.setdefault(mount, sample.label("fstype") or "")
            fs.setdefault(mount, {}).setdefault(name, value)  # the first device mounted there counts
        elif name in (_RX, _TX):
            device = sample.label("device") or ""
            if device.startswith("lo") or not math.isfinite(value):
                continue  # loopback traffic is not the host's traffic
            pair = net.setdefault(device, [0.0, 0.0])
            pair[0 if name == _RX else 1] = value
        else:
            single.setdefault(name, value)
    filesystems = {
        mount: Filesystem(
            mount,
            fstypes[mount],
            e.get(_FS_SIZE, math.nan),
            e.get(_FS_FREE, math.nan),
            e.get(_FS_AVAIL, math.nan),
            e.get(_FS_ERROR, 0.0) == 1.0,
        )
        for mount, e in fs.items()
    }
    load1 = single.get(_LOAD1)
    return NodeSample(
        at=at,
        cpu_busy=busy if cpus else None,
        cpu_total=total if cpus else None,
        cores=len(cpus),
        memory_percent=_percent_used(single.get(_MEM_TOTAL), single.get(_MEM_AVAILABLE)),
        swap_percent=_percent_used(single.get(_SWAP_TOTAL), single.get(_SWAP_FREE)),
        load1=load1 if load1 is not None and math.isfinite(load1) else None,
        filesystems=filesystems,
        net={device: (rx, tx) for device, (rx, tx) in net.items()},
    )


def cpu_percent(before: NodeSample, after: NodeSample) -> float | None:
    """Busy percent of all cores between two scrapes, as `host` computes it."""
    if None in (before.cpu_total, after.cpu_total, before.cpu_busy, after.cpu_busy):
        return None
    dtotal = after.cpu_total - before.cpu_total  # type: ignore[operator]
    if dtotal <= 0:
        return 0.0
    dbusy = after.cpu_busy - before.cpu_busy  # type: ignore[operator]
    return round(min(100.0, max(0.0, dbusy / dtotal * 100.0)), 1)


def net_rates(before: NodeSample, after: NodeSample) -> tuple[float, float] | None:
    """Bytes per second in and out, summed over devices present in both scrapes."""
    if not after.net:
        return None
    elapsed = after.at - before.at
    if elapsed <= 0:
        return 0.0, 0.0
    rx = tx = 0.0
    for device, (r1, t1) in after.net.items():
        r0, t0 = before.net.get(device, (r1, t1))
        rx += max(0.0, r1 - r0)  # a counter that went back was reset; count nothing
        tx += max(0.0, t1 - t0)
    return round(rx / elapsed, 1), round(tx / elapsed, 1)


def real_mounts(sample: NodeSample) -> list[str]:
    """Mounts of real filesystems that could be measured, "/" first (sorted by path)."""
    return sorted(
        fs.mountpoint
        for fs in sample.filesystems.values()
        if fs.fstype not in PSEUDO_FS and not fs.mountpoint.startswith("/snap/")
        and not fs.error and fs.percent is not None
    )


def judge(
    before: NodeSample,
    now: NodeSample,
    disks: tuple[str, ...] | None,
    warn: dict[str, float | None],
    crit: dict[str, float | None],
) -> Outcome:
    """The outcome for a pair of scrapes, in the host kind's words and metric names."""
    if now.empty:
        return Outcome(
            Status.UNKNOWN, Reason.ASSERTION,
            "no node_exporter metrics in the response (node_cpu_seconds_total, node_memory_..., node_load1)",
        )
    readings: list[Reading] = []
    metrics: list[Metric] = []
    missing: list[str] = []

    def percent(name: str, label: str, key: str, value: float | None) -> None:
        if value is None:
            missing.append(label)
            return
        w, c = warn.get(key), crit.get(key)
        metrics.append(Metric(name, value, "%", w, c, 0.0, 100.0))
        readings.append(judged(f"{label} {value:.0f}%", value, w, c, "%"))

    percent("cpu_percent", "cpu", "cpu", cpu_percent(before, now))
    percent("memory_percent", "mem", "memory", now.memory_percent)
    percent("swap_percent", "swap", "swap", now.swap_percent)
    if now.load1 is None:
        missing.append("load")
    else:
        metrics.append(Metric("load1", round(now.load1, 2), "", min=0.0))
        if now.cores:
            per_core = round(now.load1 / now.cores, 2)
            w, c = warn.get("load"), crit.get("load")
            metrics.append(Metric("load_per_core", per_core, "", w, c, 0.0))
            readings.append(judged(f"load {now.load1:.2f}", per_core, w, c, "/core", note=f"{per_core:g}/core, "))
        else:  # without the cpu collector there is no core count to divide by
            readings.append(Reading(f"load {now.load1:.2f}"))
    for mount in disks if disks is not None else real_mounts(now):
        shown = clean(mount, limit=80)
        fs = now.filesystems.get(mount)
        if fs is None:
            readings.append(Reading(f"disk {shown} not exported", Status.UNKNOWN, Reason.ASSERTION))
        elif fs.error or fs.percent is None:
            readings.append(Reading(f"disk {shown} unreadable", Status.UNKNOWN, Reason.ASSERTION))
        else:
            percent(f"disk:{shown}", f"disk {shown}", "disk", fs.percent)
    rates = net_rates(before, now)
    if rates is None:
        missing.append("network")
    else:
        metrics.append(Metric("net_rx_bps", rates[0], "B/s", min=0.0))
        metrics.append(Metric("net_tx_bps", rates[1], "B/s", min=0.0))

    status = Status.worst([r.status for r in readings])
    offenders = sorted((r for r in readings if r.status is not Status.OK), key=lambda r: -r.status.severity)
    rest = ", ".join(r.text for r in readings if r.status is Status.OK)
    message = "; ".join([r.text for r in offenders] + ([rest] if rest else []))
    if missing:
        message += ("; " if message else "") + "not exported: " + ", ".join(missing)
    if not offenders:
        return Outcome.ok(message, tuple(metrics))
    reason = next(r.reason for r in offenders if r.status is status)
    return Outcome(status, reason, message, tuple(metrics))


class NodeProbe(Probe):
    """Scrapes one node_exporter. Keeps the previous scrape for CPU and network rates."""

    def __init__(
        self,
        check: CheckConfig,
        resources: Resources,
        *,
        first_gap: float | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        opts = check.options
        self._url: str = opts["url"]
        self._host = httpx.URL(self._url).host or ""
        self._headers: dict[str, str] = dict(opts.get("headers") or {})
        self._max_body = int(opts.get("max_body") or DEFAULT_MAX_BODY)
        disks = opts.get("disks")
        self._disks: tuple[str, ...] | None = tuple(dict.fromkeys(disks)) if disks else None
        self._warn = merged_thresholds(host.DEFAULT_WARN, opts.get("warn"))
        self._crit = merged_thresholds(host.DEFAULT_CRIT, opts.get("crit"))
        # Two scrapes on the first run must fit well inside the check's deadline.
        self.first_gap = first_gap if first_gap is not None else min(FIRST_GAP, check.timeout / 4)
        self._clock = clock
        self._redact = secrets_of(check, self._headers)
        self._client, self._setup_error = http_client(opts, resources)
        self._request: httpx.Request | None = None
        self._previous: NodeSample | None = None

    async def probe(self) -> Outcome:
        """Scrape (twice on the first run) and judge; never raises but CancelledError."""
        if self._client is None:
            assert self._setup_error is not None
            return self._setup_error
        try:
            now = await self._scrape()
            if isinstance(now, Outcome):
                return redacted(now, self._redact)
            before = self._previous
            if now.empty:
                before = now  # judge() says what is wrong; nothing to keep
            elif before is None or not now.follows(before):
                await asyncio.sleep(self.first_gap)  # a rate needs two scrapes: take the second now
                before, now = now, await self._scrape()
                if isinstance(now, Outcome):
                    return redacted(now, self._redact)
            if not now.empty:
                self._previous = now
            outcome = judge(before, now, self._disks, self._warn, self._crit)
        except Exception as exc:
            outcome = describe_error(exc, self._host, DEFAULT_MAX_REDIRECTS)
        return redacted(outcome, self._redact)

    async def _scrape(self) -> NodeSample | Outcome:
        """One GET of /metrics, parsed; an Outcome when the answer is not usable."""
        assert self._client is not None
        if self._request is None:
            self._request = self._client.build_request("GET", self._url, headers=self._headers)
        fetched = await fetch(self._client, self._request, self._max_body)
        at = self._clock()
        if not fetched.ok:
            snippet = clean(fetched.body[: DETAIL_CHARS * 2], one_line=False, limit=DETAIL_CHARS)
            return Outcome(Status.CRIT, Reason.HTTP_STATUS, fetched.shown, (), fetched.code >= 500, snippet)
        if fetched.over:
            return Outcome(Status.CRIT, Reason.BODY_LIMIT, over_limit(self._max_body))
        if len(fetched.body) > PARSE_INLINE:  # a full scrape is parsed off the event loop
            return await asyncio.to_thread(parse_node, fetched.body, at)
        return parse_node(fetched.body, at)


def make(check: CheckConfig, resources: Resources) -> NodeProbe:
    """Build the probe for one `[[check]]` of kind "node"."""
    return NodeProbe(check, resources)
