"""Scripted checks for dashboard tests: an Engine on a fake clock whose probes follow a script."""

from __future__ import annotations

import random
from collections.abc import Mapping

from checks.base import Probe
from dash.clock import FakeClock
from dash.config import CheckConfig, Config, ServiceConfig
from dash.core.breaker import BreakerSettings
from dash.engine.scheduler import Engine
from dash.model import Metric, Outcome, Reason, Status

MARKUP = "[bold red]x[/] [@click=app.quit]y[/]"

OK = Outcome.ok("200 OK in 12ms")
REFUSED = Outcome(Status.CRIT, Reason.CONNECT, "connection refused")
SLOW = Outcome(Status.WARN, Reason.THRESHOLD, "slow: 900ms > 500ms")
HOSTILE = Outcome(Status.CRIT, Reason.ASSERTION, MARKUP, detail=f"body: {MARKUP}")


def host_outcome(cpu: float = 23.0, mem: float = 61.0) -> Outcome:
    metrics = (
        Metric("cpu_percent", cpu, "%", 85, 95, 0, 100),
        Metric("memory_percent", mem, "%", 90, 97, 0, 100),
        Metric("swap_percent", 0.0, "%", 80, None, 0, 100),
        Metric("load1", 0.52, ""),
        Metric("load_per_core", 0.26, ""),
        Metric("disk:/", 71.0, "%", 85, 95, 0, 100),
        Metric("net_rx_bps", 1_200_000.0, "B/s"),
        Metric("net_tx_bps", 30_000.0, "B/s"),
    )
    return Outcome.ok(f"cpu {cpu:.0f}%, mem {mem:.0f}%", metrics)


class ScriptedProbe(Probe):
    """Returns the next scripted outcome each call (the last one repeats); counts its calls."""

    def __init__(self, script: list[Outcome], calls: list[int]) -> None:
        self.script, self.calls = script, calls  # the test's own list: it may change the script mid-test

    async def probe(self) -> Outcome:
        self.calls.append(1)
        return self.script.pop(0) if len(self.script) > 1 else self.script[0]


def check(name: str, kind: str = "http", interval: float = 10, **kw) -> CheckConfig:
    return CheckConfig(name=name, kind=kind, interval=interval, timeout=5, retries=0, options=kw.pop("options", {}), **kw)


class Rig:
    """An engine with scripted probes on a fake clock; `calls[name]` counts probe calls."""

    def __init__(self, scripts: Mapping[str, list[Outcome]], checks: list[CheckConfig] = (), path: str = "test.toml",
                 *, config: Config | None = None, clock: FakeClock | None = None, **config_kw) -> None:
        self.clock = clock or FakeClock()
        self.scripts = dict(scripts)
        self.calls: dict[str, list[int]] = {}
        self.config = config or Config(path=path, checks=tuple(checks), **config_kw)
        self.engine = Engine(self.config, clock=self.clock, rng=random.Random(3), probe_factory=self._probe)

    def _probe(self, c: CheckConfig, _resources: object) -> Probe:
        calls = self.calls.setdefault(c.name, [])
        return ScriptedProbe(self.scripts.get(c.name, [OK]), calls)

    def count(self, name: str) -> int:
        return len(self.calls.get(name, []))


def standard_rig(**kw) -> Rig:
    """Five checks: ok, crit, warn, hostile text, and a host check."""
    return Rig(
        {
            "api": [OK],
            "db": [REFUSED],
            "cache": [SLOW],
            "evil": [HOSTILE],
            "host": [host_outcome()],
        },
        [
            check("api", tags=("team:web",)),
            check("db", kind="tcp", tags=("team:data",)),
            check("cache", kind="tcp"),
            check("evil"),
            check("host", kind="host"),
        ],
        **kw,
    )


# Opens after two failed calls; the half-open trial comes 30 s later.
FAST_BREAKER = BreakerSettings(min_calls=2, open_for=30.0)


def services_rig(extra: Mapping[str, tuple[CheckConfig, list[Outcome]]] | None = None, **kw) -> Rig:
    """A shop: orders-db down (its breaker opens fast) takes checkout (tier 1) and refunds
    down; search-idx down degrades search; cache is slow; api keeps web up.
    `extra` adds checks: name -> (config, script)."""
    more = dict(extra or {})
    return Rig(
        {
            "orders-db": [REFUSED],
            "payments": [OK],
            "search-idx": [REFUSED],
            "api": [OK],
            "cache": [SLOW],
            "host": [host_outcome()],
            **{name: script for name, (_, script) in more.items()},
        },
        [
            check("orders-db", kind="tcp", breaker_settings=FAST_BREAKER),
            check("payments"),
            check("search-idx", breaker_settings=FAST_BREAKER),
            check("api"),
            check("cache", kind="tcp"),
            check("host", kind="host"),
            *(config for config, _ in more.values()),
        ],
        services=(
            ServiceConfig("checkout", tier=1, requires=("orders-db", "payments")),
            ServiceConfig("refunds", requires=("orders-db",)),
            ServiceConfig("search", optional=(("search-idx", "search disabled"),)),
            ServiceConfig("web", requires=("api",)),
        ),
        **kw,
    )


def screen_text(app) -> str:
    """The current screen as plain text, one line per terminal row (what a user would read)."""
    import io

    from rich.console import Console

    width, height = app.size
    console = Console(width=width, height=height, file=io.StringIO(), force_terminal=True,
                      color_system="truecolor", record=True, legacy_windows=False, safe_box=False)
    console.print(app.screen._compositor.render_update(full=True, screen_stack=app._background_screens))
    return console.export_text(styles=False)


# -- history and SLOs --------------------------------------------------------------------------

DAY = 86400.0


def slo_reports(now: float) -> dict:
    """Three objectives as dash.persist would compute them at `now`:
    api (check, 99.9%, 3 days of history) pages: the last 10 minutes fail one in six;
    db (check, 99.5%, 2 hours of history) overspent its budget 90 minutes ago: a ticket;
    checkout (service, 99.9%, 30 days) is spotless, with one 10-minute outage 10 days ago."""
    from dash.config import SLO
    from dash.core.slo import Minute, report

    def minutes(span: float, failing: set[int]) -> list[Minute]:
        first = int((now - span) // 60)
        last = int(now // 60)
        return [Minute(m * 60.0, 6, 1 if (last - m) in failing else 0) for m in range(first, last)]

    api = report("api", SLO(99.9, 30 * DAY), minutes(3 * DAY, set(range(1, 11))),
                 [(now - 3 * DAY, "ok")], now)
    db = report("db", SLO(99.5, 30 * DAY),
                [Minute(m.start, m.count, 6 if m.failures else 0) for m in minutes(2 * 3600, {90, 89, 88})],
                [(now - 7200, "ok"), (now - 5400, "crit"), (now - 5220, "ok")], now)
    checkout = report("checkout", SLO(99.9, 30 * DAY), minutes(30 * DAY, set()),
                      [(now - 20 * DAY, "ok"), (now - 10 * DAY, "down"), (now - 10 * DAY + 600, "ok")], now)
    return {"api": api, "db": db, "checkout": checkout}


def slo_rig(**kw) -> Rig:
    """Two checks and a service with SLOs; the engine's SLO reports come from `slo_reports`."""
    from dash.config import SLO

    objective = SLO(99.9, 30 * DAY)
    rig = Rig(
        {"api": [OK], "db": [REFUSED], "host": [host_outcome()]},
        [check("api", slo=objective), check("db", kind="tcp", slo=SLO(99.5, 30 * DAY)), check("host", kind="host")],
        services=(ServiceConfig("checkout", tier=1, requires=("api", "db"), slo=objective),),
        **kw,
    )
    rig.engine.slo_reports = slo_reports(rig.clock.wall())
    return rig


class HistoryOnly:
    """A runtime with a history store and nothing else (what `app.runtime` offers the
    timeline): the engine runs as it would without one. Closes the store on stop."""

    def __init__(self, engine: Engine, store) -> None:
        from types import SimpleNamespace

        self.engine = engine
        self.store = store
        self.persistence = SimpleNamespace(store=store)
        self.warnings: list[str] = []

    async def start(self) -> None:
        await self.engine.start()

    async def reload(self, config: Config) -> None:
        await self.engine.reload(config)

    async def stop(self) -> None:
        import asyncio

        await self.engine.stop()
        await asyncio.to_thread(self.store.close)


def write_incident(store, t0: float) -> None:
    """An incident in `store`, starting at `t0`: db refuses connections for ten minutes,
    its alert fires and is acknowledged, its breaker opens and closes again, the
    checkout service goes down and comes back; alice and bob write notes. Flushed."""
    from dash.core.alerts import AlertEvent, EventKind
    from dash.model import CheckResult

    def result(at: float, outcome: Outcome) -> CheckResult:
        return CheckResult("db", "tcp", outcome.status, outcome.reason, outcome.message, 0.01, 1, at - 0.01, at)

    fp = "check:db:unhealthy"
    store.record_result(result(t0, OK))
    store.record_service("checkout", "ok", t0)
    store.record_result(result(t0 + 60, REFUSED))
    store.record_event(AlertEvent(EventKind.FIRED, fp, "db", t0 + 61, "P1 crit: connection refused"))
    store.record_breaker_transition("db", t0 + 62, "closed", "open", "failure rate 100% >= 50% over 2 calls")
    store.record_service("checkout", "down", t0 + 62, message="db crit")
    store.record_event(AlertEvent(EventKind.ACKED, fp, "db", t0 + 120, "acknowledged by alice"))
    store.add_note("restarting db [bold]now[/]", at=t0 + 125, check="db", author="alice")
    store.record_breaker_transition("db", t0 + 600, "open", "half_open", "open time over: one trial call")
    store.record_result(result(t0 + 601, OK))
    store.record_breaker_transition("db", t0 + 601, "half_open", "closed", "trial call succeeded")
    store.record_service("checkout", "ok", t0 + 602)
    store.record_event(AlertEvent(EventKind.RESOLVED, fp, "db", t0 + 602, "recovered after 9m"))
    store.add_note("all clear, post-mortem tomorrow", at=t0 + 700, author="bob")
    assert store.flush()
