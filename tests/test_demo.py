"""`healthdash --demo`: every demo dependency shows the state it is there to show.

Real loopback servers, real probes, the real engine; one run each.
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
from dash.model import CheckResult, Reason, Status

NEEDED_KINDS = {"http", "tcp", "tls", "dns", "exec", "host"}
_missing = NEEDED_KINDS - set(checks.kinds())
pytestmark = pytest.mark.skipif(bool(_missing), reason=f"check kinds not written yet: {sorted(_missing)}")

from dash.demo import HOSTILE_TEXT, start_demo  # noqa: E402  (after the skip: it imports dash.config)


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
    assert len(ports) == 3  # http, database, tls
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
