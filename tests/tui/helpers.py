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
                 *, config: Config | None = None, **config_kw) -> None:
        self.clock = FakeClock()
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
