"""This machine's vital signs: CPU, memory, swap, load, disks and network.

    [[check]]
    name = "this host"
    kind = "host"
    disks = ["/", "/var"]          # default: every real filesystem
    warn = { disk = 80 }           # percent; `load` is the 1-minute load per core
    crit = { disk = 90, load = 4 }

Status is the worst reading against its thresholds (reading >= threshold), with
reason `threshold`; the message names the offenders first.

psutil never runs on the event loop. The cheap readings go to a worker thread in
one hop. `disk_usage` is different: on a dead NFS mount it can block forever, so
each mount is measured in its own daemon thread that is waited for at most
`disk_timeout` seconds. A mount whose previous measurement is still stuck is not
measured again (no thread pile-up); it is reported "not responding" with status
unknown and reason timeout (we could not measure it, which is not a threshold
verdict), while every other reading still comes back.

CPU percent and network rates are deltas since the previous run, from state kept in
the probe (not psutil's module-wide cpu_percent baseline, which every caller
shares). The first run takes two samples 0.1 s apart in the worker thread.
"""

from __future__ import annotations

import asyncio
import threading
import time
from dataclasses import dataclass
from typing import Any, Callable

import psutil

from checks.base import Field, Probe, Resources
from dash.config import CheckConfig
from dash.model import Metric, Outcome, Reason, Status
from dash.text import clean

KIND = "host"

DEFAULT_WARN: dict[str, float | None] = {"cpu": 85, "memory": 90, "swap": 80, "disk": 85, "load": None}
# Swap has no default crit: a full swap with free memory is not an outage on its own.
DEFAULT_CRIT: dict[str, float | None] = {"cpu": 95, "memory": 97, "swap": None, "disk": 95, "load": None}

DISK_TIMEOUT = 2.0
_FIRST_SAMPLE_GAP = 0.1
# Filesystems that are images or layers, not storage anyone fills up.
_PSEUDO_FS = {"squashfs", "overlay", "tmpfs", "devtmpfs", "iso9660", "udf", "nsfs", "ramfs"}


def _not_negative(value: Any) -> str | None:
    return None if value is None or value >= 0 else "must be 0 or more"


def _threshold_fields(defaults: dict[str, float | None]) -> dict[str, Field]:
    helps = {"load": "1-minute load average per core"}
    return {
        key: Field("number", default=default, validate=_not_negative, help=helps.get(key, f"{key} usage percent"))
        for key, default in defaults.items()
    }


FIELDS: dict[str, Field] = {
    "disks": Field("str_list", help="mount points to watch (default: every real filesystem)"),
    "warn": Field("table", fields=_threshold_fields(DEFAULT_WARN), help="warning thresholds"),
    "crit": Field("table", fields=_threshold_fields(DEFAULT_CRIT), help="critical thresholds"),
}

DiskUsage = Callable[[str], Any]  # returns an object with a `.percent` attribute


class _DiskCall:
    """One disk_usage call in its own daemon thread; wakes every loop waiting on it."""

    def __init__(self, mount: str, disk_usage: DiskUsage) -> None:
        self.mount = mount
        self.started = time.monotonic()
        self.result: Any = None
        self.error: BaseException | None = None
        self.finished = threading.Event()
        self._lock = threading.Lock()
        self._waiters: list[tuple[asyncio.AbstractEventLoop, asyncio.Future[None]]] = []
        self._disk_usage = disk_usage
        self.thread = threading.Thread(target=self._run, name=f"disk_usage {mount}", daemon=True)
        self.thread.start()

    def waiter(self) -> asyncio.Future[None]:
        """A future on the running loop, done when the call finishes."""
        loop = asyncio.get_running_loop()
        fut: asyncio.Future[None] = loop.create_future()
        with self._lock:
            if self.finished.is_set():
                fut.set_result(None)
            else:
                self._waiters.append((loop, fut))
        return fut

    def _run(self) -> None:
        try:
            self.result = self._disk_usage(self.mount)
        except BaseException as exc:  # reported as that disk's reading
            self.error = exc
        finally:
            with self._lock:
                self.finished.set()
                waiters, self._waiters = self._waiters, []
            for loop, fut in waiters:
                try:
                    loop.call_soon_threadsafe(_wake, fut)
                except RuntimeError:  # that loop is gone; nobody is waiting there
                    pass


def _wake(fut: asyncio.Future[None]) -> None:
    if not fut.done():
        fut.set_result(None)


@dataclass(frozen=True, slots=True)
class _Sample:
    """The cheap readings, taken together in one worker-thread hop."""

    at: float
    cpu: Any
    memory_percent: float
    swap_percent: float
    load1: float
    cores: int
    net: dict[str, tuple[int, int]]
    mounts: tuple[str, ...]


def _real_mounts() -> tuple[str, ...]:
    """Mount points of real filesystems, without snaps, overlays and other pseudo ones."""
    seen: list[str] = []
    for part in psutil.disk_partitions(all=False):
        if part.fstype in _PSEUDO_FS or part.mountpoint.startswith("/snap/"):
            continue
        if part.mountpoint not in seen:
            seen.append(part.mountpoint)
    return tuple(seen) or ("/",)  # containers may list none; the root is always there


def _take_sample(want_mounts: bool) -> _Sample:
    """Read every cheap metric (runs in a worker thread)."""
    counters = psutil.net_io_counters(pernic=True)
    return _Sample(
        at=time.monotonic(),
        cpu=psutil.cpu_times(),
        memory_percent=psutil.virtual_memory().percent,
        swap_percent=psutil.swap_memory().percent,
        load1=psutil.getloadavg()[0],
        cores=psutil.cpu_count() or 1,
        net={
            name: (c.bytes_recv, c.bytes_sent)
            for name, c in counters.items()
            if not name.startswith("lo")  # loopback traffic is not the host's traffic
        },
        mounts=_real_mounts() if want_mounts else (),
    )


def _cpu_busy(times: Any) -> tuple[float, float]:
    """(busy, total) seconds; guest time is already inside user/nice on Linux."""
    total = sum(times) - getattr(times, "guest", 0.0) - getattr(times, "guest_nice", 0.0)
    idle = times.idle + getattr(times, "iowait", 0.0)
    return total - idle, total


def _cpu_percent(before: Any, after: Any) -> float:
    busy0, total0 = _cpu_busy(before)
    busy1, total1 = _cpu_busy(after)
    dtotal = total1 - total0
    if dtotal <= 0:
        return 0.0
    return round(min(100.0, max(0.0, (busy1 - busy0) / dtotal * 100.0)), 1)


def _net_rates(before: _Sample, after: _Sample) -> tuple[float, float]:
    """Bytes per second in and out, summed over interfaces present in both samples."""
    elapsed = after.at - before.at
    if elapsed <= 0:
        return 0.0, 0.0
    rx = tx = 0
    for name, (r1, t1) in after.net.items():
        r0, t0 = before.net.get(name, (r1, t1))
        rx += max(0, r1 - r0)  # a counter that went back was reset; count nothing
        tx += max(0, t1 - t0)
    return round(rx / elapsed, 1), round(tx / elapsed, 1)


def _first_samples(want_mounts: bool) -> tuple[_Sample, _Sample]:
    first = _take_sample(False)
    time.sleep(_FIRST_SAMPLE_GAP)  # in a worker thread, never on the loop
    return first, _take_sample(want_mounts)


def _fmt(value: float) -> str:
    return f"{value:g}"


@dataclass(frozen=True, slots=True)
class Reading:
    """One line of the verdict: a label, its text, status and reason."""

    text: str
    status: Status = Status.OK
    reason: Reason = Reason.OK


class HostProbe(Probe):
    """Measures this host. Keeps the previous sample for CPU and network deltas."""

    def __init__(
        self,
        disks: list[str] | tuple[str, ...] | None = None,
        warn: dict[str, float | None] | None = None,
        crit: dict[str, float | None] | None = None,
        *,
        disk_usage: DiskUsage | None = None,
        disk_timeout: float = DISK_TIMEOUT,
        pending: dict[str, _DiskCall] | None = None,
    ) -> None:
        self.disks = tuple(disks) if disks else None
        self.warn = merged_thresholds(DEFAULT_WARN, warn)
        self.crit = merged_thresholds(DEFAULT_CRIT, crit)
        self.disk_usage: DiskUsage = disk_usage or psutil.disk_usage
        self.disk_timeout = disk_timeout
        # Mount -> its last disk_usage call; shared across host checks via Resources.
        self.pending: dict[str, _DiskCall] = pending if pending is not None else {}
        self._previous: _Sample | None = None

    async def probe(self) -> Outcome:
        """Take one reading of everything and judge it against the thresholds."""
        want_mounts = self.disks is None
        try:
            if self._previous is None:
                before, now = await asyncio.to_thread(_first_samples, want_mounts)
            else:
                before, now = self._previous, await asyncio.to_thread(_take_sample, want_mounts)
        except Exception as exc:  # psutil failing is rare and not the host's verdict
            return Outcome(Status.UNKNOWN, Reason.INTERNAL, clean(f"cannot read host metrics: {exc}"))
        self._previous = now
        disks = await self._measure_disks(self.disks or now.mounts)
        return self._judge(before, now, disks)

    async def _measure_disks(self, mounts: tuple[str, ...]) -> dict[str, float | str]:
        """Percent used per mount, or an error text; never waits past disk_timeout."""
        now = time.monotonic()
        calls: dict[str, _DiskCall] = {}
        waiters: list[asyncio.Future[None]] = []
        deadline = now
        for mount in dict.fromkeys(mounts):
            call = self.pending.get(mount)
            if call is None or call.finished.is_set():
                call = self.pending[mount] = _DiskCall(mount, self.disk_usage)
            calls[mount] = call
            # A call already stuck past its window is not waited for (nor restarted) again.
            if call.started + self.disk_timeout > now and not call.finished.is_set():
                waiters.append(call.waiter())
                deadline = max(deadline, call.started + self.disk_timeout)
        if waiters:
            try:
                await asyncio.wait(waiters, timeout=max(0.0, deadline - now))
            finally:
                for fut in waiters:
                    fut.cancel()
        out: dict[str, float | str] = {}
        for mount, call in calls.items():
            if not call.finished.is_set():
                out[mount] = "not responding"
            elif call.error is not None:
                out[mount] = _disk_error(call.error)
            else:
                out[mount] = float(call.result.percent)
        return out

    def _judge(self, before: _Sample, now: _Sample, disks: dict[str, float | str]) -> Outcome:
        cpu = _cpu_percent(before.cpu, now.cpu)
        rx, tx = _net_rates(before, now)
        per_core = round(now.load1 / max(1, now.cores), 2)
        readings: list[Reading] = []
        metrics: list[Metric] = []

        def percent(name: str, label: str, key: str, value: float) -> None:
            w, c = self.warn.get(key), self.crit.get(key)
            metrics.append(Metric(name, value, "%", w, c, 0.0, 100.0))
            readings.append(judged(f"{label} {value:.0f}%", value, w, c, "%"))

        percent("cpu_percent", "cpu", "cpu", cpu)
        percent("memory_percent", "mem", "memory", now.memory_percent)
        percent("swap_percent", "swap", "swap", now.swap_percent)
        w, c = self.warn.get("load"), self.crit.get("load")
        metrics.append(Metric("load1", round(now.load1, 2), "", min=0.0))
        metrics.append(Metric("load_per_core", per_core, "", w, c, 0.0))
        readings.append(judged(f"load {now.load1:.2f}", per_core, w, c, "/core", note=f"{per_core:g}/core, "))
        for mount, value in disks.items():
            shown = clean(mount, limit=80)
            if isinstance(value, str):
                reason = Reason.TIMEOUT if value == "not responding" else Reason.EXEC
                readings.append(Reading(f"disk {shown} {value}", Status.UNKNOWN, reason))
                continue
            percent(f"disk:{shown}", f"disk {shown}", "disk", value)
        metrics.append(Metric("net_rx_bps", rx, "B/s", min=0.0))
        metrics.append(Metric("net_tx_bps", tx, "B/s", min=0.0))

        status = Status.worst([r.status for r in readings])
        offenders = sorted(
            (r for r in readings if r.status is not Status.OK), key=lambda r: -r.status.severity
        )
        rest = ", ".join(r.text for r in readings if r.status is Status.OK)
        if not offenders:
            return Outcome.ok(rest, tuple(metrics))
        message = "; ".join(r.text for r in offenders) + (f"; {rest}" if rest else "")
        reason = next(r.reason for r in offenders if r.status is status)
        return Outcome(status, reason, message, tuple(metrics))


def judged(
    text: str, value: float, warn: float | None, crit: float | None, unit: str, note: str = ""
) -> Reading:
    """A reading with its verdict: crit/warn when value >= threshold, named in the text."""
    if crit is not None and value >= crit:
        return Reading(f"{text} ({note}crit {_fmt(crit)}{unit})", Status.CRIT, Reason.THRESHOLD)
    if warn is not None and value >= warn:
        return Reading(f"{text} ({note}warn {_fmt(warn)}{unit})", Status.WARN, Reason.THRESHOLD)
    return Reading(text)


def _disk_error(exc: BaseException) -> str:
    if isinstance(exc, FileNotFoundError):
        return "no such path"
    if isinstance(exc, PermissionError):
        return "permission denied"
    return clean(f"unreadable: {exc}", limit=120)


def merged_thresholds(defaults: dict[str, float | None], given: dict[str, Any] | None) -> dict[str, float | None]:
    """Defaults overridden by the configured thresholds that are set."""
    out = {key: None if value is None else float(value) for key, value in defaults.items()}
    for key, value in (given or {}).items():
        if key in out and value is not None:
            out[key] = float(value)
    return out


def make(check: CheckConfig, resources: Resources) -> HostProbe:
    """Build the probe for one `kind = "host"` check."""
    opts = check.options
    # One registry of disk_usage threads per process, so host checks never stack hung calls.
    pending = resources.cache.setdefault(("host", "disk_calls"), {})
    return HostProbe(
        disks=opts.get("disks"),
        warn=opts.get("warn"),
        crit=opts.get("crit"),
        # Report a hung mount well before the engine's deadline would discard every reading.
        disk_timeout=min(DISK_TIMEOUT, max(0.1, check.timeout / 2)),
        pending=pending,
    )
