"""The engine: the only place that schedules, awaits and enforces deadlines.

Each check runs in its own task on its own interval; first runs are spread over
the interval so checks never fire in lockstep. A global semaphore bounds how
many probes are in flight. A check that overruns its interval skips the missed
slots instead of piling up runs, so a slow or hung check never delays another.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import math
import random
from collections import deque
from dataclasses import replace
from collections.abc import Callable, Iterable

from checks.base import Probe, Resources
from dash.clock import Clock, SystemClock
from dash.config import CheckConfig, Config
from dash.core.board import Board
from dash.core.alerts import Alert, AlertEngine, AlertEvent, Notification
from dash.core.breaker import Breaker, BreakerTransition, gate
from dash.core.services import ServiceStatus, evaluate, offline_checks
from dash.core.retry import RetryPolicy
from dash.model import BreakerState, CheckResult, OperatorNote, Outcome, Reason, Snapshot, Status
from dash.text import clean

log = logging.getLogger("healthdash.engine")

ProbeFactory = Callable[[CheckConfig, Resources], Probe]
ResultListener = Callable[[CheckResult], None]
NotificationListener = Callable[[Notification], None]
EventListener = Callable[[AlertEvent], None]
TransitionListener = Callable[[str, BreakerTransition, float], None]
ServiceListener = Callable[[ServiceStatus, float], None]
NoteListener = Callable[[OperatorNote], None]
NOTES_KEPT = 200

TICK_SECONDS = 1.0  # how often services and alerts are re-evaluated
GC_YOUNG = 5000
BOARD_HISTORY = 60  # results kept in memory per check (older ones are in the store)


def default_probe_factory(check: CheckConfig, resources: Resources) -> Probe:
    """Build the probe for `check` from its kind's module in `checks/`."""
    from checks import kinds

    return kinds()[check.kind].make(check, resources)


class _BrokenProbe(Probe):
    """Stands in for a probe whose construction failed: reports why, every time."""

    def __init__(self, message: str) -> None:
        self._message = message

    async def probe(self) -> Outcome:
        return Outcome(Status.UNKNOWN, Reason.INTERNAL, self._message)


def format_seconds(seconds: float) -> str:
    """Short human duration: 250ms, 5s, 1.5s, 2m, 1h5m."""
    if seconds < 1:
        return f"{seconds * 1000:.0f}ms"
    if seconds < 10:
        return f"{seconds:.2g}s"
    if seconds < 60:
        return f"{seconds:.0f}s"
    if seconds < 3600:
        return f"{seconds // 60:.0f}m{seconds % 60:02.0f}s" if seconds % 60 >= 1 else f"{seconds // 60:.0f}m"
    return f"{seconds // 3600:.0f}h{(seconds % 3600) // 60:02.0f}m"


def breaker_name(check: CheckConfig) -> str:
    """The dependency a check belongs to: its own name unless `breaker = "..."` shares one."""
    return check.breaker or check.name


def counts_as_failure(result: CheckResult) -> bool:
    """What a breaker counts as a failed call: a critical result.

    Warnings (a slow answer, a certificate due soon) are the dependency answering;
    slowness is counted separately through the latency.
    """
    return result.status is Status.CRIT


class Engine:
    """Runs the configured checks and keeps the board up to date.

    Each dependency has a circuit breaker (by default one per check). While a
    breaker is open no normal probe is sent to its dependency: the check's slot
    records a "not probed" result instead, and after the breaker's open time the
    engine itself runs exactly one trial probe.
    """

    remote = False  # polls itself (see dash.agent.client.RemoteEngine for an attached board)

    def __init__(
        self,
        config: Config,
        *,
        clock: Clock | None = None,
        rng: random.Random | None = None,
        probe_factory: ProbeFactory | None = None,
        retry: RetryPolicy | None = None,
    ) -> None:
        self.config = config
        self.clock: Clock = clock or SystemClock()
        self.rng = rng or random.Random()
        self.retry = retry or RetryPolicy()
        self._factory = probe_factory or default_probe_factory
        self.resources = Resources()
        self.board = Board(history=BOARD_HISTORY)
        self.board.configure(config.checks)
        self._listeners: list[ResultListener] = []
        self._probes: dict[str, Probe] = {}
        self._checks: dict[str, CheckConfig] = {}
        self._loops: dict[str, asyncio.Task[None]] = {}
        self._oneshots: set[asyncio.Task[None]] = set()
        self._inflight: set[str] = set()
        self._sem = asyncio.Semaphore(max(1, config.concurrency))
        self._running = asyncio.Event()
        self._running.set()
        self._started = False
        self._breakers: dict[str, Breaker] = {}
        self._trials: dict[str, asyncio.Task[None]] = {}
        self.alerts = AlertEngine(config)
        self._services: dict[str, ServiceStatus] = {}
        self._offline: frozenset[str] = frozenset()
        self._notification_listeners: list[NotificationListener] = []
        self._event_listeners: list[EventListener] = []
        self._ticker: asyncio.Task[None] | None = None
        self._transition_listeners: list[TransitionListener] = []
        self._service_listeners: list[ServiceListener] = []
        self._note_listeners: list[NoteListener] = []
        self._seen_transition: dict[str, BreakerTransition | None] = {}
        self._breaker_cache: dict[str, tuple[float, object]] = {}
        self.notes: deque[OperatorNote] = deque(maxlen=NOTES_KEPT)
        self.slo_reports: dict = {}  # name -> SLOReport, kept up to date by dash.engine.persist
        self.external_alerts: tuple = ()  # Alertmanager's alerts, kept up to date by dash.runtime
        self.external_error = ""
        for check in config.checks:
            self._adopt(check)

    # -- reading -----------------------------------------------------------

    @property
    def paused(self) -> bool:
        return not self._running.is_set()

    def subscribe(self, listener: ResultListener) -> None:
        """Call `listener(result)` for every completed check cycle."""
        self._listeners.append(listener)

    def subscribe_notifications(self, listener: NotificationListener) -> None:
        """Call `listener(notification)` for every page and resolution the alert engine sends."""
        self._notification_listeners.append(listener)

    def subscribe_events(self, listener: EventListener) -> None:
        """Call `listener(event)` for every alert event: fired, acknowledged, resolved, ..."""
        self._event_listeners.append(listener)

    def subscribe_breaker_transitions(self, listener: TransitionListener) -> None:
        """Call `listener(breaker, transition, wall_time)` for every breaker state change."""
        self._transition_listeners.append(listener)

    def subscribe_services(self, listener: ServiceListener) -> None:
        """Call `listener(service_status, wall_time)` for every service at every evaluation."""
        self._service_listeners.append(listener)

    def subscribe_notes(self, listener: NoteListener) -> None:
        """Call `listener(note)` for every operator note."""
        self._note_listeners.append(listener)

    def add_note(self, text: str, *, check: str | None = None, by: str = "") -> OperatorNote:
        """Record an operator's one-line note (optionally about one check) for the timeline."""
        note = OperatorNote(at=self.clock.wall(), text=clean(text, limit=500), check=check, by=clean(by, limit=80))
        self.notes.append(note)
        self._call(self._note_listeners, note)
        return note

    @property
    def config_names(self) -> list[str]:
        """The configured checks' names, in config order."""
        return list(self._checks)

    @property
    def breaker_names(self) -> list[str]:
        return list(self._breakers)

    @staticmethod
    def _call(listeners: list, *args: object) -> None:
        for listener in listeners:
            try:
                listener(*args)
            except Exception:
                log.exception("a listener failed")

    def _emit_transitions(self, bname: str) -> None:
        """Tell listeners about breaker transitions not reported yet, in wall time."""
        breaker = self._breakers.get(bname)
        if breaker is None or not self._transition_listeners:
            return
        transitions = breaker.transitions
        last = self._seen_transition.get(bname)
        if transitions and transitions[-1] is last:
            return  # nothing new (the common case: called after every result)
        now, wall = self.clock.now(), self.clock.wall()
        fresh = transitions[transitions.index(last) + 1 :] if last in transitions else transitions
        if transitions:
            self._seen_transition[bname] = transitions[-1]
        for t in fresh:
            self._call(self._transition_listeners, bname, t, wall - (now - t.at))

    def _breaker_snapshots(self, now: float, max_age: float) -> tuple:
        """Every breaker's snapshot; window statistics may be up to `max_age` seconds old
        (the state never is), which spares 1000 window scans a second when nobody shows them."""
        out = []
        budget = max(50, len(self._breakers) // 5)  # spread the rescans instead of all at once
        for name, breaker in self._breakers.items():
            cached = self._breaker_cache.get(name)
            stale = cached is not None and now - cached[0] > max_age
            if cached is None or cached[1].state is not breaker.state or (stale and budget > 0):
                budget -= stale
                cached = self._breaker_cache[name] = (now, breaker.snapshot(now))
            out.append(cached[1])
        return tuple(out)

    def snapshot(self, *, breaker_stats_age: float = 0.0) -> Snapshot:
        """The board as it is now (breaker statistics up to `breaker_stats_age` seconds old)."""
        now = self.clock.now()
        wall = self.clock.wall()
        snap = self.board.snapshot(wall, paused=self.paused, title=self.config.title)
        return replace(
            snap,
            breakers=self._breaker_snapshots(now, breaker_stats_age),
            services=tuple(self._services.values()),
            alerts=self.alerts.alerts(wall),
            silences=self.alerts.silences(wall),
            offline=bool(self._offline),
            slos=tuple(self.slo_reports.values()),
            external=self.external_alerts,
            errors=(f"alertmanager: {self.external_error}",) if self.external_error else (),
        )

    @property
    def running(self) -> bool:
        """True between start() and stop() while the evaluation loop is alive."""
        return self._ticker is not None and not self._ticker.done()

    @property
    def services(self) -> dict[str, ServiceStatus]:
        """Every service's status as of the last evaluation."""
        return dict(self._services)

    # -- alert commands (from the UI or the agent) -----------------------------------

    def acknowledge(self, fingerprint: str, *, until: float | None = None, by: str = "", comment: str = "") -> bool:
        """Acknowledge an alert until it recovers (or until `until`, epoch seconds)."""
        done = self.alerts.acknowledge(fingerprint, self.clock.wall(), by=by, until=until, comment=comment)
        self.tick()
        return done

    def unacknowledge(self, fingerprint: str) -> bool:
        done = self.alerts.unacknowledge(fingerprint, self.clock.wall())
        self.tick()
        return done

    def silence(self, *, until: float, match: str | None = None, tags: tuple[str, ...] = (), by: str = "", comment: str = "") -> str:
        """Silence alerts of checks and services matching a name glob and/or tags until `until`."""
        sid = self.alerts.silence(until=until, now=self.clock.wall(), match=match, tags=tags, by=by, comment=comment)
        self.tick()
        return sid

    def unsilence(self, silence_id: str) -> bool:
        done = self.alerts.unsilence(silence_id, self.clock.wall())
        self.tick()
        return done

    def tick(self) -> None:
        """Re-evaluate services and alerts now, and deliver what they have to say."""
        wall = self.clock.wall()
        statuses = {name: state.status for name, state in ((c, self.board.state(c)) for c in self._checks) if state.last is not None}
        self._offline = offline_checks(self.config.checks, self.config.canaries, statuses)
        self._services = evaluate(self.config.services, statuses, offline=self._offline)
        self.alerts.observe_services(self._services, wall)
        for service in self._services.values():
            self._call(self._service_listeners, service, wall)
        for note in self.alerts.notifications(wall):
            for listener in self._notification_listeners:
                try:
                    listener(note)
                except Exception:
                    log.exception("a notification listener failed")
        for event in self.alerts.drain_events():
            for listener in self._event_listeners:
                try:
                    listener(event)
                except Exception:
                    log.exception("an event listener failed")

    async def _tick_loop(self) -> None:
        while True:
            await self.clock.sleep(TICK_SECONDS)
            try:
                self.tick()
            except Exception:  # a bug in the rules must not stop polling
                log.exception("evaluating services and alerts failed")

    def breaker(self, name: str) -> Breaker:
        """The breaker of a dependency (by breaker name)."""
        return self._breakers[name]

    def breaker_of(self, check: str) -> Breaker:
        """The breaker a check belongs to."""
        return self._breakers[breaker_name(self._checks[check])]

    # -- lifecycle ---------------------------------------------------------

    async def start(self) -> None:
        """Start polling every check on its interval (first runs spread over it)."""
        self._started = True
        # Start-up objects (config, probes, clients, imported modules) live for the whole
        # run: move them out of the cyclic GC's sight, so full collections stay short
        # and never stall the schedule (measured: lag p99 36 ms -> 3 ms at 1000 checks).
        gc.freeze()
        # Results arrive by the thousand: collect the young generation less often, so full
        # collections (which scan every live result) come rarely.
        gc.set_threshold(GC_YOUNG, 20, 20)
        for name in self._checks:
            self._start_loop(name, first=True)
        if self._ticker is None or self._ticker.done():  # start() twice must not leak a ticker
            self._ticker = asyncio.ensure_future(self._tick_loop())

    async def stop(self) -> None:
        """Stop polling and release every probe and shared client."""
        self._started = False
        tasks = list(self._loops.values()) + list(self._oneshots) + list(self._trials.values())
        if self._ticker is not None:
            tasks.append(self._ticker)
            self._ticker = None
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self._loops.clear()
        self._oneshots.clear()
        self._trials.clear()
        for probe in self._probes.values():
            await self._close_probe(probe)
        self._probes.clear()
        await self.resources.aclose()

    async def run_once(self, names: Iterable[str] | None = None) -> list[CheckResult]:
        """Run the given checks (all when None) once, concurrently; results in config order."""
        wanted = list(self._checks) if names is None else [n for n in self._checks if n in set(names)]
        results = list(await asyncio.gather(*(self._run_and_record(n, planned=self.clock.now()) for n in wanted)))
        self.tick()
        return results

    # -- commands ----------------------------------------------------------

    def breaker_command(self, name: str, command: str) -> bool:
        """Apply an operator override to breaker `name`: force_open, force_closed, metrics_only or reset."""
        breaker = self._breakers.get(name)
        if breaker is None or command not in ("force_open", "force_closed", "metrics_only", "reset"):
            return False
        now = self.clock.now()
        if breaker.state is BreakerState.HALF_OPEN:
            breaker.cancel_trial(now)
        changed = getattr(breaker, command)(now)
        self._watch_breaker(name)
        self._emit_transitions(name)
        return changed

    def pause(self) -> None:
        """Stop starting new probes until `resume()`; in-flight probes finish."""
        self._running.clear()

    def resume(self) -> None:
        self._running.set()

    def run_now(self, name: str | None = None) -> None:
        """Run one check (or all when None) now, outside its schedule; skips any already running."""
        names = list(self._checks) if name is None else [name]
        for n in names:
            if n in self._checks and n not in self._inflight:
                if not self.breaker_of(n).allow(self.clock.now()):
                    self._record_blocked(n)
                    continue
                task = asyncio.ensure_future(self._run_and_record(n, planned=self.clock.now()))
                self._oneshots.add(task)
                task.add_done_callback(self._oneshots.discard)

    async def reload(self, config: Config) -> None:
        """Adopt a new config: unchanged checks keep their schedule, state and history."""
        old = self._checks
        new = {c.name: c for c in config.checks}
        self.config = config
        for name in list(old):
            if name not in new or new[name] != old[name]:
                await self._drop(name)
        self.board.configure(config.checks)
        self.alerts.configure(config)
        for name, check in new.items():
            if name not in self._checks:
                self._adopt(check)
                if self._started:
                    self._start_loop(name, first=True)
        used = {breaker_name(c) for c in self._checks.values()}
        for bname in [b for b in self._breakers if b not in used]:
            del self._breakers[bname]
            task = self._trials.pop(bname, None)
            if task is not None:
                task.cancel()

    # -- internals ---------------------------------------------------------

    def _adopt(self, check: CheckConfig) -> None:
        self._checks[check.name] = check
        bname = breaker_name(check)
        if bname not in self._breakers:
            self._breakers[bname] = Breaker(bname, check.breaker_settings, self.clock.now())
        try:
            self._probes[check.name] = self._factory(check, self.resources)
        except Exception as exc:  # a bug in a kind's make(): show it on the check, log the traceback
            log.exception("building probe for %s failed", check.name)
            self._probes[check.name] = _BrokenProbe(f"internal error: {type(exc).__name__}: {clean(exc)}")

    async def _drop(self, name: str) -> None:
        task = self._loops.pop(name, None)
        if task is not None:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
        probe = self._probes.pop(name, None)
        if probe is not None:
            await self._close_probe(probe)
        self._checks.pop(name, None)

    @staticmethod
    async def _close_probe(probe: Probe) -> None:
        try:
            await probe.aclose()
        except Exception:
            log.exception("closing a probe failed")

    def _start_loop(self, name: str, *, first: bool) -> None:
        if name in self._loops:
            return
        check = self._checks[name]
        offset = self.rng.uniform(0.0, check.interval) if first else 0.0
        self._loops[name] = asyncio.ensure_future(self._loop(name, self.clock.now() + offset))

    async def _loop(self, name: str, next_due: float) -> None:
        check = self._checks[name]
        interval = check.interval
        while True:
            delay = next_due - self.clock.now()
            if delay > 0:
                await self.clock.sleep(delay)
            if not self._running.is_set():
                await self._running.wait()
                next_due = self._next_slot(next_due, interval)
                continue
            if gate(self.breaker_of(name), self.clock.now()) == "probe":
                await self._run_and_record(name, planned=next_due)
            else:
                self._record_blocked(name)
            next_due = self._next_slot(next_due + interval, interval)

    def _next_slot(self, due: float, interval: float) -> float:
        """`due`, or the first slot in its phase that is not already in the past."""
        now = self.clock.now()
        if due >= now:
            return due
        return due + interval * math.ceil((now - due) / interval)

    async def _run_and_record(self, name: str, *, planned: float, trial: bool = False) -> CheckResult:
        self._inflight.add(name)
        check = self._checks[name]
        try:
            async with self._sem:
                lag = max(0.0, self.clock.now() - planned)
                self.board.set_running(name, True)
                result = await self._cycle(check, self._probes[name], lag, retries=0 if trial else None)
        finally:
            self._inflight.discard(name)
        bname = breaker_name(check)
        breaker = self._breakers.get(bname)
        if breaker is not None:
            breaker.record(self.clock.now(), failed=counts_as_failure(result), latency=result.latency, trial=trial)
            self._watch_breaker(bname)
            self._emit_transitions(bname)
        self._publish(result)
        return result

    def _record_blocked(self, name: str) -> None:
        """A slot whose probe the breaker stopped: say so on the board instead of probing."""
        check = self._checks[name]
        breaker = self.breaker_of(name)
        snap = breaker.snapshot(self.clock.now())
        probed = next((r for r in reversed(self.board.results(name)) if r.attempts > 0), None)
        if snap.state is BreakerState.FORCED_OPEN:
            why = "circuit forced open by operator: not probed"
        elif snap.next_trial_in is not None:
            why = f"circuit open: not probed; trial in {format_seconds(snap.next_trial_in)}"
        else:
            why = "circuit open: not probed; trial running"
        failing = probed is not None and probed.status is not Status.OK
        if probed is not None:
            why = f"{why} (last: {probed.message})"
        wall = self.clock.wall()
        self._publish(
            CheckResult(
                check=name,
                kind=check.kind,
                # The last probe passed but the window's rate opened the breaker: not known
                # to be down now, so unknown rather than a crit that was never measured.
                status=probed.status if failing else Status.UNKNOWN,
                reason=probed.reason if failing else Reason.CONNECT,
                message=why,
                latency=0.0,
                attempts=0,
                started_at=wall,
                finished_at=wall,
            )
        )

    def _watch_breaker(self, bname: str) -> None:
        """Make sure an open breaker has its trial scheduled."""
        breaker = self._breakers.get(bname)
        if breaker is None or breaker.state is not BreakerState.OPEN or not self._started:
            return
        task = self._trials.get(bname)
        if task is None or task.done():
            self._trials[bname] = asyncio.ensure_future(self._trial_loop(bname))

    async def _trial_loop(self, bname: str) -> None:
        """Run one half-open trial each time the breaker's open time is over, until it closes."""
        try:
            while True:
                breaker = self._breakers.get(bname)
                if breaker is None or breaker.state is not BreakerState.OPEN:
                    return
                due = breaker.next_event_at()
                if due is None:
                    return
                if due > self.clock.now():
                    await self.clock.sleep(due - self.clock.now())
                if not self._running.is_set():
                    await self._running.wait()
                now = self.clock.now()
                if not breaker.trial_due(now):
                    continue
                name = next((n for n, c in self._checks.items() if breaker_name(c) == bname), None)
                if name is None or name in self._inflight or not breaker.begin_trial(now):
                    await self.clock.sleep(0.05)
                    continue
                self._emit_transitions(bname)
                try:
                    await self._run_and_record(name, planned=now, trial=True)
                except asyncio.CancelledError:
                    breaker.cancel_trial(self.clock.now())
                    raise
        finally:
            if self._trials.get(bname) is asyncio.current_task():
                del self._trials[bname]

    def _publish(self, result: CheckResult) -> None:
        if result.check in self._offline and result.status is not Status.OK:
            # The monitor's own network is down: this failure says nothing about the target.
            result = replace(result, status=Status.UNKNOWN, message=f"monitor offline: {result.message}")
        self.board.apply(result)
        self.alerts.observe(result, self.clock.wall())
        for listener in self._listeners:
            try:
                listener(result)
            except Exception:
                log.exception("a result listener failed")

    async def _attempt(self, probe: Probe, budget: float) -> Outcome:
        try:
            return await self.clock.within(probe.probe(), budget)
        except TimeoutError:
            return Outcome(Status.CRIT, Reason.TIMEOUT, "", retryable=True)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # a bug in a probe: unknown/internal, traceback to the log
            log.exception("probe raised")
            return Outcome(Status.UNKNOWN, Reason.INTERNAL, f"internal error: {type(exc).__name__}: {clean(exc)}")

    async def _cycle(self, check: CheckConfig, probe: Probe, lag: float, retries: int | None = None) -> CheckResult:
        """One check cycle: attempts with backoff on transient failures, all within one deadline."""
        max_retries = check.retries if retries is None else retries
        clock = self.clock
        started_wall = clock.wall()
        start = clock.now()
        deadline = start + check.timeout
        attempts = 0
        while True:
            attempts += 1
            t0 = clock.now()
            outcome = await self._attempt(probe, deadline - t0)
            latency = clock.now() - t0
            if outcome.status is Status.OK or not outcome.retryable or attempts > max_retries:
                break
            delay = self.retry.delay(attempts, self.rng)
            if clock.now() + delay >= deadline:
                break
            await clock.sleep(delay)
        message = outcome.message
        if outcome.reason is Reason.TIMEOUT and not message:
            message = f"no answer within {format_seconds(check.timeout)}"
        if attempts > 1:
            message = f"{message} (attempt {attempts})" if outcome.status is Status.OK else f"{message} ({attempts} attempts)"
        redact = self.config.redactor
        return CheckResult(
            check=check.name,
            kind=check.kind,
            status=outcome.status,
            reason=outcome.reason,
            message=redact(message),
            latency=latency,
            attempts=attempts,
            started_at=started_wall,
            finished_at=started_wall + (clock.now() - start),
            metrics=outcome.metrics,
            detail=redact(outcome.detail),
            lag=lag,
        )
