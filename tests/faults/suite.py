"""The fault suite: failing checks over every fault kind beside healthy ones, on the real engine.

Shared by tests/faults/test_fault_suite.py (which asserts) and bench/faults.py (which
prints). `build_config` writes a dash.toml of N failing checks, spread round-robin
over `FAULTS`, and N healthy ones (http /ok on a server of their own); `Suite` runs
the real Engine over it, tallies every result as it arrives (keeping the results
themselves would grow the heap and the GC pauses being measured), samples open file
descriptors, asyncio tasks and RSS, and `Suite.report()` judges the run against the
requirements:

  * every failing check reports the reason (and words) of its fault, nothing else;
  * flapping checks alternate ok / http_status;
  * no message or detail carries terminal control characters;
  * every healthy check stays ok and on schedule: each gap between two consecutive
    starts is within 10% of the interval (started_at, after any wait for a slot);
  * no probe raises (reason internal), over the whole run;
  * file descriptors and tasks stay bounded while running and return after stop().

A run has phases (`Suite.phase`): the first is judged, the others (the dashboard
phase in the test) are analysed the same way and shown, not required: a
dashboard that blocks the event loop shows up there as slip and late timeouts.

Breakers are disabled ([defaults.breaker] enabled = false) so every slot really
probes its fault instead of recording "circuit open: not probed".
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import time
from array import array
from collections import Counter
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, replace
from typing import Any

import psutil

from dash.config import Config, format_duration, parse_config
from dash.engine.scheduler import Engine
from dash.model import CheckResult, Reason, Status
from tests.faults.farm import FarmAddresses

SLIP_LIMIT = 0.10  # a healthy check's start gap may differ from its interval by this fraction
FD_SLACK = 64  # descriptors allowed beyond one per check while running (pools, pipes, epoll)
TASK_SLACK = 150  # tasks allowed beyond one per check while running (the ticker; Textual runs a task per widget)
END_FD_SLACK = 8  # after stop(): descriptors allowed beyond the starting count
END_TASK_SLACK = 2  # after stop(): tasks allowed beyond the starting count

# Terminal control characters: none may reach a message (one line) or a detail (line breaks kept).
_CONTROL_IN_MESSAGE = re.compile(r"[\x00-\x1f\x7f-\x9f]")
_CONTROL_IN_DETAIL = re.compile(r"[\x00-\x09\x0b-\x1f\x7f-\x9f]")

Pair = tuple[Status, Reason]
OK: Pair = (Status.OK, Reason.OK)


def _crit(reason: Reason) -> frozenset[Pair]:
    return frozenset({(Status.CRIT, reason)})


@dataclass(frozen=True, slots=True)
class Fault:
    """One way a dependency breaks, the check that meets it, and what that check must say.

    `options(addresses, i)` are the kind's keys for the i-th check of this fault;
    `says` is a regular expression every failing message must match, and `shows` text
    every failing result's detail must contain.
    """

    name: str
    kind: str
    options: Callable[[FarmAddresses, int], dict[str, Any]]
    expect: frozenset[Pair]
    says: str
    retries: int | None = None  # None: the [defaults] value
    shows: str = ""


def _faulty(path: str, **extra: Any) -> Callable[[FarmAddresses, int], dict[str, Any]]:
    return lambda a, i: {"url": f"http://127.0.0.1:{a.faulty_port}{path.format(i=i)}", **extra}


def _https(cert: str) -> Callable[[FarmAddresses, int], dict[str, Any]]:
    return lambda a, i: {"url": f"https://127.0.0.1:{a.tls_ports[cert]}/ok", "ca_file": a.ca_file}


def _tls(cert: str) -> Callable[[FarmAddresses, int], dict[str, Any]]:
    return lambda a, i: {"host": "127.0.0.1", "port": a.tls_ports[cert], "ca_file": a.ca_file}


_5XX = (500, 502, 503, 504)
NO_ANSWER = r"^no answer within "

FAULTS: tuple[Fault, ...] = (
    Fault("hang", "http", _faulty("/hang"), _crit(Reason.TIMEOUT), NO_ANSWER),
    Fault("trickle", "http", _faulty("/trickle"), _crit(Reason.TIMEOUT), NO_ANSWER),
    Fault("ten-gb", "http", _faulty("/huge?declare=1"), _crit(Reason.BODY_LIMIT), r"larger than max_body"),
    Fault("endless", "http", _faulty("/huge"), _crit(Reason.BODY_LIMIT), r"larger than max_body"),
    Fault("reset", "http", _faulty("/reset"), _crit(Reason.CONNECT), r"connection"),
    Fault(
        "5xx", "http", lambda a, i: {"url": f"http://127.0.0.1:{a.faulty_port}/status/{_5XX[i % 4]}"},
        _crit(Reason.HTTP_STATUS), r"^50[0-4] ",
    ),
    Fault("redirect-loop", "http", _faulty("/redirect-loop"), _crit(Reason.HTTP_STATUS), r"too many redirects"),
    Fault(
        "bad-json", "http", _faulty("/badjson", expect={"json": {"path": "status"}}),
        _crit(Reason.ASSERTION), r"not valid JSON",
    ),
    Fault(
        "markup", "http", _faulty("/markup", expect={"body_contains": "UP"}),
        # The body's markup stays literal text; its escape sequences are gone (checked for all).
        _crit(Reason.ASSERTION), r"does not contain", shows="[bold red]x[/] click red",
    ),
    # retries = 0: a retry would hide every other 503 behind the ok that follows it.
    Fault("flap", "http", _faulty("/flap?check={i}"), _crit(Reason.HTTP_STATUS) | {OK}, r"^503 ", retries=0),
    Fault("https-expired", "http", _https("expired"), _crit(Reason.TLS), r"certificate expired"),
    Fault("https-untrusted", "http", _https("untrusted"), _crit(Reason.TLS), r"not trusted"),
    Fault("https-wrong-host", "http", _https("wrong_host"), _crit(Reason.TLS), r"hostname mismatch"),
    Fault("tls-expired", "tls", _tls("expired"), _crit(Reason.TLS), r"certificate expired"),
    Fault("tls-untrusted", "tls", _tls("untrusted"), _crit(Reason.TLS), r"not trusted"),
    Fault("tls-wrong-host", "tls", _tls("wrong_host"), _crit(Reason.TLS), r"hostname mismatch"),
    Fault(
        "tcp-backlog", "tcp", lambda a, i: {"host": "127.0.0.1", "port": a.silent_port},
        _crit(Reason.TIMEOUT), NO_ANSWER,
    ),
    Fault(
        "tcp-silent", "tcp",
        lambda a, i: {"host": "127.0.0.1", "port": a.faulty_port, "send": "PING\r\n", "expect": "PONG"},
        _crit(Reason.TIMEOUT), NO_ANSWER,
    ),
    Fault(
        "nxdomain", "dns", lambda a, i: {"host": f"nx-{i}.fault.test", "server": a.dns_server},
        _crit(Reason.DNS), r"^NXDOMAIN",
    ),
)
HEALTHY = Fault(
    "healthy", "http", lambda a, i: {"url": f"http://127.0.0.1:{a.healthy_port}/ok?check={i}"},
    frozenset({OK}), r"^200 OK",
)


def _toml(value: Any) -> str:
    """A TOML value for the few shapes the suite writes."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value)  # JSON string escapes are TOML basic-string escapes
    if isinstance(value, dict):
        return "{ " + ", ".join(f"{k} = {_toml(v)}" for k, v in value.items()) + " }"
    raise TypeError(f"no TOML for {type(value).__name__}")


def build_config(
    addresses: FarmAddresses,
    *,
    healthy: int,
    failing: int,
    interval: float,
    timeout: float,
    concurrency: int | None = None,
) -> tuple[str, dict[str, Fault]]:
    """dash.toml text for the suite, and the fault (or HEALTHY) behind every check name."""
    lines = ["[dashboard]", 'title = "fault suite"']
    if concurrency is not None:
        lines.append(f"concurrency = {concurrency}")
    lines += [
        "[defaults]",
        f"interval = {_toml(format_duration(interval))}",
        f"timeout = {_toml(format_duration(timeout))}",
        "[defaults.breaker]",
        "enabled = false",
    ]
    plan: dict[str, Fault] = {}
    checks = [(HEALTHY, i) for i in range(healthy)]
    checks += [(FAULTS[i % len(FAULTS)], i) for i in range(failing)]
    for fault, i in checks:
        name = f"{fault.name}-{i:04d}"
        plan[name] = fault
        lines += ["[[check]]", f"name = {_toml(name)}", f"kind = {_toml(fault.kind)}"]
        if fault.retries is not None:
            lines.append(f"retries = {fault.retries}")
        lines += [f"{key} = {_toml(value)}" for key, value in fault.options(addresses, i).items()]
    return "\n".join(lines) + "\n", plan


# --- measuring -------------------------------------------------------------------------

EXAMPLES = 3  # wrong results kept, word for word, per fault and phase


@dataclass(frozen=True, slots=True)
class Sample:
    """Resources of this process at one moment, `at` seconds into the run."""

    at: float
    fds: int
    tasks: int
    rss: int


def percentile(values: "array[float] | list[float] | tuple[float, ...]", p: float) -> float:
    """The p-th percentile (nearest rank) of `values`; nan when empty."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))]


@dataclass(frozen=True, slots=True)
class Requirement:
    name: str
    passed: bool
    detail: str


@dataclass(frozen=True, slots=True)
class FaultRow:
    """What one fault's checks reported in one phase."""

    fault: Fault
    checks: int
    results: int
    got: dict[Pair, int]
    silent: tuple[str, ...]  # checks that never reported
    wrong: int  # results the fault does not explain
    examples: tuple[str, ...]  # "name: status/reason: message" of the first few of them


@dataclass(frozen=True, slots=True)
class Phase:
    """The results of one stretch of the run (e.g. headless, then under the TUI), analysed."""

    name: str
    seconds: float
    results: int
    rows: tuple[FaultRow, ...]
    healthy: FaultRow
    slips: "array[float]"  # |gap - interval| / interval for each healthy pair of consecutive starts
    missed_slots: int
    lag_all: "array[float]"
    lag_healthy: "array[float]"
    flaps: int  # flapping checks
    stuck: tuple[str, ...]  # flapping checks that did not alternate, with why

    @property
    def wrong(self) -> int:
        return sum(row.wrong for row in self.rows)

    def slip_text(self) -> str:
        return (
            f"max {max(self.slips, default=0) * 100:.2f}%, p99 {percentile(self.slips, 99) * 100:.2f}%,"
            f" p50 {percentile(self.slips, 50) * 100:.2f}% over {len(self.slips)} gaps;"
            f" missed slots {self.missed_slots}"
        )

    def lag_text(self) -> str:
        ms = lambda v: f"{v * 1000:.1f} ms"  # noqa: E731
        return (
            f"all p50 {ms(percentile(self.lag_all, 50))} p99 {ms(percentile(self.lag_all, 99))}"
            f" max {ms(max(self.lag_all, default=0))}; healthy p50 {ms(percentile(self.lag_healthy, 50))}"
            f" p99 {ms(percentile(self.lag_healthy, 99))}"
        )


@dataclass(frozen=True)
class Report:
    """The judged run; `lines()` is what bench/faults.py prints.

    `judged` is the phase the per-fault and schedule requirements hold for; `others`
    are the rest of the run (the TUI phase in the test), shown but not required.
    """

    setup: str
    elapsed: float
    results: int
    judged: Phase
    others: tuple[Phase, ...]
    start: Sample
    peak: Sample  # the largest fds, tasks and rss seen, each on its own
    end: Sample
    timeline: tuple[Sample, ...]  # about ten samples spread over the run
    internal: tuple[int, str]  # (count, first example) of results with reason internal, whole run
    dirty: tuple[int, str]  # (count, first example) of results with control characters, whole run
    requirements: tuple[Requirement, ...] = ()

    @property
    def passed(self) -> bool:
        return all(r.passed for r in self.requirements)

    def failures(self) -> list[str]:
        return [f"{r.name}: {r.detail}" for r in self.requirements if not r.passed]

    def lines(self) -> list[str]:
        """A human-readable report: per fault, schedule, resources, then PASS/FAIL lines."""
        j = self.judged
        out = [
            self.setup,
            f"ran {self.elapsed:.1f} s, {self.results} results ({self.results / max(self.elapsed, 1e-9):.0f}/s);"
            f" judged: {j.name} ({j.seconds:.1f} s, {j.results} results)",
            "",
            f"{'fault':<17} {'kind':<5} {'checks':>6} {'results':>7}  {'got (status/reason: count)':<44} expected",
        ]
        for row in (*j.rows, j.healthy):
            got = ", ".join(f"{s.value}/{r.value}: {n}" for (s, r), n in sorted(row.got.items(), key=lambda kv: -kv[1]))
            want = ", ".join(sorted(f"{s.value}/{r.value}" for s, r in row.fault.expect))
            mark = "ok" if not row.wrong and not row.silent else "WRONG"
            out.append(f"{row.fault.name:<17} {row.fault.kind:<5} {row.checks:>6} {row.results:>7}  {got:<44} {want}  {mark}")
            out += [f"    e.g. {w}" for w in row.examples]
            if row.silent:
                out.append(f"    {len(row.silent)} checks never reported, e.g. {', '.join(row.silent[:3])}")
        out += [
            "",
            f"healthy schedule slip ({j.name}): {j.slip_text()}",
            f"lag, actual - planned start ({j.name}): {j.lag_text()}",
        ]
        for o in self.others:
            example = next((w for row in o.rows for w in row.examples), "")
            out += [
                f"{o.name} ({o.seconds:.1f} s, {o.results} results, shown, not required):"
                f" {o.wrong} results not as their fault explains{f' (e.g. {example})' if example else ''}",
                f"    healthy schedule slip: {o.slip_text()}",
                f"    lag: {o.lag_text()}",
            ]
        out += [
            "",
            f"{'':<15}{'start':>7}{'peak':>7}{'end':>7}   over time",
            f"{'open fds':<15}{self.start.fds:>7}{self.peak.fds:>7}{self.end.fds:>7}   "
            + " ".join(str(s.fds) for s in self.timeline),
            f"{'asyncio tasks':<15}{self.start.tasks:>7}{self.peak.tasks:>7}{self.end.tasks:>7}   "
            + " ".join(str(s.tasks) for s in self.timeline),
            f"{'RSS MiB':<15}{self.start.rss >> 20:>7}{self.peak.rss >> 20:>7}{self.end.rss >> 20:>7}   "
            + " ".join(str(s.rss >> 20) for s in self.timeline),
            f"{'(seconds)':<36}   " + " ".join(f"{s.at:.0f}" for s in self.timeline),
            "",
        ]
        out += [f"{'PASS' if r.passed else 'FAIL'}  {r.name}: {r.detail}" for r in self.requirements]
        return out


class _Tally:
    """One phase's results, folded in as they arrive: counts, examples and floats only."""

    def __init__(self, name: str, wall: float, mono: float) -> None:
        self.name, self.wall, self.mono = name, wall, mono
        self.results = 0
        self.got: dict[str, Counter[Pair]] = {}  # fault name -> (status, reason) counts
        self.wrong: Counter[str] = Counter()  # fault name -> results it does not explain
        self.examples: dict[str, list[str]] = {}
        self.seen: set[str] = set()
        self.slips = array("d")
        self.missed = 0
        self.lag_all = array("d")
        self.lag_healthy = array("d")
        self.last_start: dict[str, tuple[float, float]] = {}  # healthy check -> (started_at, lag)
        self.last_status: dict[str, Status] = {}  # flapping check -> its previous status
        self.flap_results: Counter[str] = Counter()
        self.stuck: dict[str, str] = {}  # flapping check -> why it did not alternate


class Suite:
    """An Engine over the fault suite's config, with every result tallied and resources sampled.

    Call `phase(name)` as the run changes character (the first call names the phase
    that is judged); `report()` shows each phase's results on their own.
    """

    def __init__(
        self,
        addresses: FarmAddresses,
        *,
        healthy: int,
        failing: int,
        interval: float = 2.0,
        timeout: float = 1.0,
        concurrency: int | None = None,
    ) -> None:
        self.interval = interval
        text, self.plan = build_config(
            addresses, healthy=healthy, failing=failing, interval=interval, timeout=timeout, concurrency=concurrency
        )
        self._says = {f.name: re.compile(f.says) for f in (*FAULTS, HEALTHY)}
        self.config: Config = parse_config(text, "<fault suite>")
        self.engine = Engine(self.config)
        self.engine.subscribe(self._observe)
        self.results = 0
        self.samples: list[Sample] = []
        self.setup = (
            f"{healthy} healthy + {failing} failing checks over {len(FAULTS)} fault kinds, interval "
            f"{format_duration(interval)}, timeout {format_duration(timeout)}, concurrency {self.config.concurrency}, "
            f"breakers off, {os.cpu_count()} CPUs"
        )
        self._tallies: list[_Tally] = []
        self._internal: list[str] = []
        self._internal_count = 0
        self._dirty: list[str] = []
        self._dirty_count = 0
        self._t0 = time.monotonic()
        self._t_end = self._t0
        self._start: Sample | None = None
        self._end: Sample | None = None
        self._process = psutil.Process()

    def sample(self) -> Sample:
        """Count this process's open descriptors and asyncio tasks, and read its RSS, now."""
        return Sample(
            at=time.monotonic() - self._t0,
            fds=len(os.listdir("/proc/self/fd")),
            tasks=len(asyncio.all_tasks()),
            rss=self._process.memory_info().rss,
        )

    def phase(self, name: str) -> None:
        """Results that start from now on belong to phase `name`."""
        self._tallies.append(_Tally(name, self.engine.clock.wall(), time.monotonic()))

    # -- folding results in ----------------------------------------------------------------

    def _observe(self, r: CheckResult) -> None:
        self.results += 1
        fault = self.plan.get(r.check)
        if fault is None:
            return
        if not self._tallies:
            self.phase("run")
        tally = next((t for t in reversed(self._tallies) if r.started_at >= t.wall), self._tallies[0])
        tally.results += 1
        tally.seen.add(r.check)
        tally.lag_all.append(r.lag)
        pair = (r.status, r.reason)
        tally.got.setdefault(fault.name, Counter())[pair] += 1
        failing = r.status is not Status.OK
        explained = not failing or (self._says[fault.name].search(r.message) and fault.shows in r.detail)
        if pair not in fault.expect or not explained:
            tally.wrong[fault.name] += 1
            kept = tally.examples.setdefault(fault.name, [])
            if len(kept) < EXAMPLES:
                kept.append(f"{r.check}: {r.status.value}/{r.reason.value}: {r.message}")
        if r.reason is Reason.INTERNAL:
            self._internal_count += 1
            if not self._internal:
                self._internal.append(f"{r.check}: {r.message}")
        if _CONTROL_IN_MESSAGE.search(r.message) or _CONTROL_IN_DETAIL.search(r.detail):
            self._dirty_count += 1
            if not self._dirty:
                self._dirty.append(f"{r.check}: {r.message!r} / {r.detail[:80]!r}")
        if fault is HEALTHY:
            tally.lag_healthy.append(r.lag)
            last = tally.last_start.get(r.check)
            if last is not None:  # results of one check arrive in start order: one runs at a time
                a_start, a_lag = last
                tally.slips.append(abs((r.started_at - a_start) - self.interval) / self.interval)
                planned_gap = (r.started_at - r.lag) - (a_start - a_lag)
                tally.missed += max(0, round(planned_gap / self.interval) - 1)
            tally.last_start[r.check] = (r.started_at, r.lag)
        elif fault.name == "flap":
            before = tally.last_status.get(r.check)
            if before is r.status and r.check not in tally.stuck:
                tally.stuck[r.check] = f"{r.check}: {r.status.value} twice in a row"
            tally.last_status[r.check] = r.status
            tally.flap_results[r.check] += 1

    # -- running -----------------------------------------------------------------------------

    @asynccontextmanager
    async def measuring(self, every: float = 0.25) -> AsyncIterator["Suite"]:
        """Sample resources from entry to exit; on exit, wait (up to 3 s) for things to close."""
        self._t0 = time.monotonic()
        self._start = self.sample()

        async def sampler() -> None:
            while True:
                self.samples.append(self.sample())
                await asyncio.sleep(every)

        task = asyncio.ensure_future(sampler())
        try:
            yield self
        finally:
            self._t_end = time.monotonic()
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
            deadline = time.monotonic() + 3.0
            while True:  # closed transports and cancelled tasks go away a loop turn or two later
                end = self.sample()
                if (end.fds <= self._start.fds and end.tasks <= self._start.tasks) or time.monotonic() > deadline:
                    break
                await asyncio.sleep(0.1)
            self._end = end

    async def run_headless(self, duration: float) -> None:
        """Start the engine, let it run `duration` seconds, stop it (all while measuring)."""
        async with self.measuring():
            self.phase("headless")
            await self.engine.start()
            try:
                await asyncio.sleep(duration)
            finally:
                await self.engine.stop()

    # -- judging -----------------------------------------------------------------------------

    def report(self) -> Report:
        """Judge the recorded run: the first phase against the requirements, the others shown."""
        assert self._start is not None and self._end is not None, "run inside measuring() first"
        if not self._tallies:
            self.phase("run")
        ends = [t.mono for t in self._tallies[1:]] + [self._t_end]
        phases = [self._phase(t, end - t.mono) for t, end in zip(self._tallies, ends)]
        samples = self.samples or [self._start]
        everything = [*samples, self._start]
        report = Report(
            setup=self.setup,
            elapsed=self._t_end - self._t0,
            results=self.results,
            judged=phases[0],
            others=tuple(phases[1:]),
            start=self._start,
            peak=Sample(
                at=0.0,
                fds=max(s.fds for s in everything),
                tasks=max(s.tasks for s in everything),
                rss=max(s.rss for s in everything),
            ),
            end=self._end,
            timeline=tuple(samples[:: max(1, len(samples) // 10)]),
            internal=(self._internal_count, self._internal[0] if self._internal else ""),
            dirty=(self._dirty_count, self._dirty[0] if self._dirty else ""),
        )
        return replace(report, requirements=tuple(self._judge(report)))

    def _phase(self, t: _Tally, seconds: float) -> Phase:
        def row(fault: Fault) -> FaultRow:
            names = [n for n, f in self.plan.items() if f is fault]
            got = t.got.get(fault.name, Counter())
            return FaultRow(
                fault=fault,
                checks=len(names),
                results=sum(got.values()),
                got=dict(got),
                silent=tuple(n for n in names if n not in t.seen),
                wrong=t.wrong[fault.name],
                examples=tuple(t.examples.get(fault.name, ())),
            )

        flaps = [n for n, f in self.plan.items() if f.name == "flap"]
        stuck = [t.stuck[n] for n in flaps if n in t.stuck]
        stuck += [f"{n}: {t.flap_results[n]} results" for n in flaps if n not in t.stuck and t.flap_results[n] < 2]
        return Phase(
            name=t.name,
            seconds=seconds,
            results=t.results,
            rows=tuple(row(f) for f in FAULTS),
            healthy=row(HEALTHY),
            slips=t.slips,
            missed_slots=t.missed,
            lag_all=t.lag_all,
            lag_healthy=t.lag_healthy,
            flaps=len(flaps),
            stuck=tuple(stuck),
        )

    def _judge(self, report: Report) -> list[Requirement]:
        reqs: list[Requirement] = []
        j = report.judged
        n_checks = len(self.plan)

        bad_rows = [row for row in j.rows if row.wrong or row.silent]
        reqs.append(Requirement(
            "every failing check reports its fault's reason",
            not bad_rows,
            "all results as expected" if not bad_rows else
            f"{j.wrong} wrong results, {sum(len(r.silent) for r in bad_rows)} silent checks in "
            + ", ".join(r.fault.name for r in bad_rows) + f"; e.g. {(bad_rows[0].examples or bad_rows[0].silent)[0]}",
        ))

        reqs.append(Requirement(
            "flapping checks alternate ok / http_status",
            j.flaps > 0 and not j.stuck,
            f"{j.flaps} checks alternate" if not j.stuck else f"{len(j.stuck)} of {j.flaps} do not, e.g. {j.stuck[0]}",
        ))

        count, example = report.internal
        reqs.append(Requirement(
            "no probe raised (no internal errors), whole run",
            count == 0,
            f"{report.results} results, none internal" if not count else f"{count}, e.g. {example}",
        ))

        count, example = report.dirty
        reqs.append(Requirement(
            "no terminal control characters in any message or detail, whole run",
            count == 0,
            f"{report.results} results clean" if not count else f"{count} results, e.g. {example}",
        ))

        h = j.healthy
        reqs.append(Requirement(
            "healthy checks stay ok",
            h.checks > 0 and not h.wrong and not h.silent,
            f"{h.results} results from {h.checks} checks, all ok" if not h.wrong and not h.silent else
            f"{h.wrong} not ok, {len(h.silent)} silent; e.g. {(h.examples or h.silent)[0]}",
        ))

        worst = max(j.slips, default=float("inf"))
        reqs.append(Requirement(
            f"healthy schedule slip <= {SLIP_LIMIT:.0%}",
            worst <= SLIP_LIMIT and j.missed_slots == 0,
            j.slip_text(),
        ))

        s, p, e = report.start, report.peak, report.end
        reqs.append(Requirement(
            "open file descriptors bounded and released, whole run",
            p.fds <= s.fds + n_checks + FD_SLACK and e.fds <= s.fds + END_FD_SLACK,
            f"peak {p.fds} <= {s.fds} + {n_checks} checks + {FD_SLACK}; end {e.fds} <= {s.fds} + {END_FD_SLACK}",
        ))
        reqs.append(Requirement(
            "asyncio tasks bounded and released, whole run",
            p.tasks <= s.tasks + n_checks + TASK_SLACK and e.tasks <= s.tasks + END_TASK_SLACK,
            f"peak {p.tasks} <= {s.tasks} + {n_checks} checks + {TASK_SLACK}; end {e.tasks} <= {s.tasks} + {END_TASK_SLACK}",
        ))
        return reqs
