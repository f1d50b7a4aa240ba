"""`healthdash --demo`: every demo dependency shows the state it is there to show,
and breaking the shared database gives one top alert that names what it took down.

Real loopback servers, real probes, the real engine (cycles driven with run_once).
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator
from pathlib import Path
from urllib.parse import urlsplit

import aiohttp
import pytest

import checks
from dash.core.alerts import AlertEngine, AlertState, Notification, fingerprint
from dash.core.services import ServiceHealth, evaluate
from dash.model import CheckResult, Reason, Status

NEEDED_KINDS = {"http", "tcp", "tls", "dns", "exec", "host"}
_missing = NEEDED_KINDS - set(checks.kinds())
pytestmark = pytest.mark.skipif(bool(_missing), reason=f"check kinds not written yet: {sorted(_missing)}")

from dash.demo import HOSTILE_TEXT, start_demo  # noqa: E402  (after the skip: it imports dash.config)

# Checks that are broken or warning on purpose, and stay that way.
BROKEN_ON_PURPOSE = {"slow-api", "flapping-api", "dead-cache", "expiring-cert", "hostile-api", "dns-nxdomain", "load-plugin"}
DOWN_WITH_DATABASE = ["checkout", "refunds", "reports", "storefront"]
DB = fingerprint("check", "database")


def config_without_servers():
    """The demo's config with made-up ports: for the rules, which need no servers."""
    from dash.config import parse_config
    from dash.demo import _config_text

    text = _config_text(
        http_port=1, db_port=2, us_port=3, eu_port=4, tls_port=5, dns_port=6, dead_port=7, ca_file="ca.pem", runbook="rb.md"
    )
    return parse_config(text, path="<demo>")


@pytest.fixture
async def demo() -> AsyncIterator:
    d = await start_demo(seed=7)
    try:
        yield d
    finally:
        await d.stop()


async def run_once(config) -> dict[str, CheckResult]:
    from dash.engine.scheduler import Engine

    engine = Engine(config)
    try:
        return {r.check: r for r in await engine.run_once()}
    finally:
        await engine.stop()


def tcp_ports(config) -> list[int]:
    """Every TCP port the demo listens on (the dead one excluded: nothing listens there)."""
    ports = {urlsplit(c.options["url"]).port for c in config.checks if c.kind == "http"}
    ports |= {c.options["port"] for c in config.checks if c.kind in ("tcp", "tls") and c.name != "dead-cache"}
    return sorted(ports)


async def test_every_check_shows_its_state(demo) -> None:
    results = await run_once(demo.config)

    def verdict(name: str) -> tuple[Status, Reason]:
        return results[name].status, results[name].reason

    assert verdict("healthy-api") == (Status.OK, Reason.OK)
    assert verdict("slow-api") == (Status.WARN, Reason.THRESHOLD)
    assert "over warn 300 ms" in results["slow-api"].message
    assert verdict("flapping-api") == (Status.OK, Reason.OK)  # every flapping pattern starts healthy
    assert verdict("dead-cache") == (Status.CRIT, Reason.CONNECT)
    assert "refused" in results["dead-cache"].message
    assert verdict("database") == (Status.OK, Reason.OK)
    assert "+PONG" in results["database"].message
    assert verdict("api-us") == verdict("api-eu") == (Status.OK, Reason.OK)
    assert verdict("expiring-cert") == (Status.WARN, Reason.THRESHOLD)
    assert "valid for 10 days" in results["expiring-cert"].message
    assert "healthdash demo CA" in results["expiring-cert"].message
    assert verdict("dns-localhost") == (Status.OK, Reason.OK)
    assert verdict("dns-nxdomain") == (Status.CRIT, Reason.DNS)
    assert "NXDOMAIN" in results["dns-nxdomain"].message
    assert verdict("disk-plugin") == (Status.OK, Reason.OK)
    assert results["disk-plugin"].message == "DISK OK - free space: / 42%"
    assert [(m.name, m.value, m.warn, m.crit) for m in results["disk-plugin"].metrics] == [("/", 58, 80, 90)]
    assert verdict("load-plugin") == (Status.WARN, Reason.THRESHOLD)
    assert results["load-plugin"].message.startswith("LOAD WARNING")
    # this machine is whatever it is; it must have been measured, not have failed
    assert results["this-host"].reason in (Reason.OK, Reason.THRESHOLD)
    assert {"cpu_percent", "memory_percent"} <= {m.name for m in results["this-host"].metrics}

    hostile = results["hostile-api"]
    assert (hostile.status, hostile.reason) == (Status.CRIT, Reason.HTTP_STATUS)
    assert hostile.message == f"500 {HOSTILE_TEXT}"  # the markup arrives as literal text
    assert HOSTILE_TEXT in hostile.detail
    assert "click me" in hostile.detail
    assert "\x1b" not in hostile.detail and "\x07" not in hostile.detail  # escapes neutralised

    assert {r.reason for r in results.values()}.isdisjoint({Reason.INTERNAL, Reason.TIMEOUT})


async def test_config_is_a_demo_a_newcomer_can_read(demo) -> None:
    config = demo.config
    assert config.title == "healthdash demo"
    assert config.path == "<demo>"
    assert {c.kind for c in config.checks} == NEEDED_KINDS
    for c in config.checks:
        assert 2 <= c.interval <= 5, c.name  # every state on screen within ~30 s
        assert c.timeout <= 3, c.name
        assert "team:demo" in c.tags, c.name
        assert c.description, c.name
    runbook = config.check("dead-cache").runbook
    assert runbook is not None and runbook.endswith(".md")
    text = Path(runbook).read_text(encoding="utf-8")
    assert text.startswith("# dead-cache is down")
    assert str(config.check("dead-cache").options["port"]) in text
    assert config.check("flapping-api").runbook.startswith("https://")
    # the demo listens on loopback only
    for c in config.checks:
        host = urlsplit(c.options["url"]).hostname if c.kind == "http" else c.options.get("host")
        assert host in ("127.0.0.1", "localhost", "no-such-host.invalid", None), c.name
    assert config.check("dns-nxdomain").options["server"].startswith("127.0.0.1:")


async def test_flapping_api_alternates_in_runs_of_a_few_requests(demo) -> None:
    url = demo.config.check("flapping-api").options["url"]
    async with aiohttp.ClientSession() as session:
        codes = []
        for _ in range(16):
            async with session.get(url) as response:
                codes.append(response.status)
    runs: list[tuple[int, int]] = []  # (status, run length)
    for code in codes:
        if runs and runs[-1][0] == code:
            runs[-1] = (code, runs[-1][1] + 1)
        else:
            runs.append((code, 1))
    assert runs[0][0] == 200
    assert {code for code, _ in runs} == {200, 503}
    assert all(3 <= length <= 5 for _, length in runs[:-1]), runs  # the last run may be cut short


async def test_same_seed_same_pattern() -> None:
    async def pattern(seed: int) -> list[int]:
        d = await start_demo(seed=seed)
        try:
            url = d.config.check("flapping-api").options["url"]
            async with aiohttp.ClientSession() as session:
                out = []
                for _ in range(10):
                    async with session.get(url) as response:
                        out.append(response.status)
                return out
        finally:
            await d.stop()

    assert await pattern(3) == await pattern(3)


async def test_stop_frees_ports_and_removes_files() -> None:
    d = await start_demo()
    ports = tcp_ports(d.config)
    files = [d.config.check("dead-cache").runbook, d.config.check("expiring-cert").options["ca_file"]]
    assert len(ports) == 5  # http, database, tls, api-us, api-eu
    await d.break_dependency("api-eu")  # stop() closes what is up and leaves what is broken
    # a connection left open must not keep stop() waiting
    reader, writer = await asyncio.open_connection("127.0.0.1", d.config.check("database").options["port"])
    await d.stop()
    await d.stop()  # twice is fine
    assert await reader.read() == b""  # the server hung up on us
    writer.close()
    for port in ports:
        with pytest.raises(ConnectionRefusedError):
            await asyncio.open_connection("127.0.0.1", port)
    for path in files:
        assert not os.path.exists(path)
        assert not os.path.exists(os.path.dirname(path))


# --- services and the shared dependency ---------------------------------------------------


def test_demo_service_graph_shows_each_kind_of_dependency() -> None:
    cfg = config_without_servers()
    users = {s.name for s in cfg.services if "database" in s.requires}
    assert users == {"checkout", "refunds", "reports"}  # one shared dependency
    assert cfg.service("checkout").tier == 1
    assert cfg.service("storefront").requires[0] == "checkout"  # a service on a service
    assert cfg.service("mobile-app").requires == ("public-api",)
    (group,) = cfg.service("public-api").redundant
    assert (group.members, group.min_ok) == (("api-us", "api-eu"), 1)
    assert ("dead-cache", "serving from origin, slower") in cfg.service("public-api").optional
    # what is broken on purpose is only ever optional, and never next to the database
    for s in cfg.services:
        assert not BROKEN_ON_PURPOSE.intersection(s.requires), s.name
        assert not BROKEN_ON_PURPOSE.intersection(m for g in s.redundant for m in g.members), s.name


def test_nothing_broken_on_purpose_competes_with_the_database() -> None:
    """Every on-purpose failure at its worst at once (flapping-api in its 503 phase, slow-api past 2 s),
    plus the database down: the database is the only alert that pages."""
    cfg = config_without_servers()
    warn = {"expiring-cert", "load-plugin"}  # fixed; slow-api goes crit on a loaded machine: crit here
    status = {c.name: Status.OK for c in cfg.checks}
    status.update({n: Status.WARN if n in warn else Status.CRIT for n in BROKEN_ON_PURPOSE})
    alerts = AlertEngine(cfg)
    sent: list[Notification] = []
    t0 = 1_800_000_000.0
    for step, db in enumerate([Status.OK, Status.OK, Status.CRIT, Status.CRIT]):
        now = t0 + 3 * step
        status["database"] = db
        for name, st in status.items():
            reason = Reason.OK if st is Status.OK else Reason.CONNECT
            alerts.observe(CheckResult(name, cfg.check(name).kind, st, reason, st.value, 0.01, 1, now, now), now)
        alerts.observe_services(evaluate(cfg.services, status), now)
        sent += alerts.notifications(now)
    assert [(n.kind, n.alert.name) for n in sent] == [("page", "database")]
    open_roots = [a for a in alerts.alerts(now) if a.is_open and a.root_cause is None]
    assert [a.name for a in open_roots if a.priority <= 2] == ["database"]
    assert {a.name for a in open_roots} == BROKEN_ON_PURPOSE | {"database"}


async def test_every_service_state_is_visible_from_the_start(demo) -> None:
    from dash.engine.scheduler import Engine

    engine = Engine(demo.config)
    try:
        await engine.run_once()
    finally:
        await engine.stop()
    services = engine.services
    for name in [*DOWN_WITH_DATABASE]:
        assert services[name].status is ServiceHealth.OK, name
    public = services["public-api"]
    assert public.status is ServiceHealth.DEGRADED
    assert "serving from origin, slower" in public.modes
    assert "dead-cache crit: serving from origin, slower" in public.because
    mobile = services["mobile-app"]
    assert mobile.status is ServiceHealth.DEGRADED
    assert {"serving from origin, slower", "no recommendations shown"} <= set(mobile.modes)  # inherited + its own


async def test_killing_the_database_gives_one_top_alert_then_it_resolves(demo) -> None:
    from dash.engine.scheduler import Engine

    engine = Engine(demo.config)
    pages: list[Notification] = []
    engine.subscribe_notifications(pages.append)
    try:
        await engine.run_once()
        await engine.run_once()  # confirm = 2: the on-purpose failures now have their alerts

        assert demo.dependencies() == ("database", "api-us", "api-eu")
        assert await demo.break_dependency("database") is True
        assert await demo.break_dependency("database") is False  # already broken
        assert demo.is_broken("database")
        first = await engine.run_once(["database"])
        assert (first[0].status, first[0].reason) == (Status.CRIT, Reason.CONNECT)
        assert "refused" in first[0].message
        assert engine.alerts.alert(DB, engine.clock.wall()) is None  # one bad result is not an alert yet
        await engine.run_once(["database"])
        engine.tick()

        snap = engine.snapshot()
        top = snap.alerts[0]
        assert top.name == "database" and top.state is AlertState.FIRING
        assert top.priority == 1
        assert top.priority_reason == "P1: database crit; " + ", ".join(DOWN_WITH_DATABASE) + " down"
        roots = [a for a in snap.alerts if a.is_open and a.root_cause is None]
        # this-host is whatever this machine is: leave it out of "nothing else pages"
        assert [a.name for a in roots if a.priority <= 2 and a.name != "this-host"] == ["database"]
        assert {a.name for a in roots} - {"this-host"} <= BROKEN_ON_PURPOSE | {"database"}
        assert [n.alert.name for n in pages if n.alert.name != "this-host"] == ["database"]

        services = engine.services
        for name in DOWN_WITH_DATABASE:
            assert services[name].status is ServiceHealth.DOWN, name
            assert services[name].root_causes == ("database",), name
        for name in ("checkout", "refunds", "reports"):
            assert services[name].because[0] == "database crit", name
        assert services["storefront"].because[0] == "checkout down"
        assert services["public-api"].status is ServiceHealth.DEGRADED  # it never needed the database
        symptoms = {a.name for a in snap.alerts if a.root_cause == DB}
        assert symptoms == set(DOWN_WITH_DATABASE)
        assert all(a.state is AlertState.SYMPTOM for a in snap.alerts if a.root_cause == DB)
        assert {f"service:{n}:unhealthy" for n in DOWN_WITH_DATABASE} == set(top.symptoms)

        port = demo.config.check("database").options["port"]
        assert await demo.restore_dependency("database") is True
        assert await demo.restore_dependency("database") is False
        reader, writer = await asyncio.open_connection("127.0.0.1", port)  # the same port again
        writer.write(b"PING\r\n")
        assert await reader.readline() == b"+PONG\r\n"
        writer.close()
        await engine.run_once(["database"])
        await engine.run_once(["database"])  # recover = 2

        db = engine.alerts.alert(DB, engine.clock.wall())
        assert db is not None and db.state is AlertState.RESOLVED
        assert all(engine.services[n].status is ServiceHealth.OK for n in DOWN_WITH_DATABASE)
        assert [(n.kind, n.alert.name) for n in pages if n.alert.name != "this-host"] == [
            ("page", "database"),
            ("resolved", "database"),
        ]
        assert not any(a.is_open and a.root_cause == DB for a in engine.snapshot().alerts)
    finally:
        await engine.stop()


async def test_breaking_a_region_leaves_the_other_serving(demo) -> None:
    from dash.engine.scheduler import Engine

    engine = Engine(demo.config)
    try:
        await engine.run_once(["api-us", "api-eu"])  # a pooled connection to each region exists now
        await demo.break_dependency("api-eu")
        results = {r.check: r for r in await engine.run_once(["api-us", "api-eu"])}
        assert results["api-us"].status is Status.OK
        assert (results["api-eu"].status, results["api-eu"].reason) == (Status.CRIT, Reason.CONNECT)
        public = engine.services["public-api"]
        assert "api-us, api-eu: 1 of 2 ok (min 1)" in public.because
        await demo.restore_dependency("api-eu")
        results = {r.check: r for r in await engine.run_once(["api-eu"])}
        assert results["api-eu"].status is Status.OK
    finally:
        await engine.stop()
    with pytest.raises(KeyError, match="database, api-us, api-eu"):
        await demo.break_dependency("dead-cache")
