"""Alertmanager's alerts in healthdash: the decoder on API v2 answers, de-duplication
against our own alerts, and the Puller against a real loopback HTTP server."""

from __future__ import annotations

import asyncio
import json
import logging
import socket
from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp import web

from dash.alertmanager import ExternalAlert, Puller, alerts_from_api, merge, parse_time
from dash.clock import FakeClock
from dash.config import AlertmanagerConfig
from dash.core.alerts import Alert, AlertState
from dash.text import REDACTED

T0 = 1_800_000_000.0  # 2027-01-15T08:00:00Z

# What `GET /api/v2/alerts` of Alertmanager 0.25 answers (three alerts, shortened ids).
ANSWER: list[dict[str, Any]] = [
    {
        "annotations": {"summary": "disk / on db-1 is 97% full", "description": "predicted full in 2h"},
        "endsAt": "2027-01-15T08:09:30.123456789Z",
        "fingerprint": "e94c744ae3d44df8",
        "receivers": [{"name": "team-db"}, {"name": "null"}],
        "startsAt": "2027-01-15T07:55:00.5+01:00",
        "status": {"inhibitedBy": [], "silencedBy": [], "state": "active"},
        "updatedAt": "2027-01-15T08:05:30.123Z",
        "generatorURL": "http://prometheus:9090/graph?g0.expr=disk_free",
        "labels": {"alertname": "DiskFull", "instance": "db-1:9100", "severity": "critical"},
    },
    {
        "annotations": {},
        "endsAt": "2027-01-15T08:10:00Z",
        "fingerprint": "fb4cff4c004f5214",
        "receivers": [{"name": "null"}],
        "startsAt": "2027-01-15T07:00:00Z",
        "status": {"inhibitedBy": [], "silencedBy": ["0796a207-17b8-413b-bef9-ce4aa0b88a01"], "state": "suppressed"},
        "updatedAt": "2027-01-15T08:05:00Z",
        "labels": {"alertname": "Watchdog"},
    },
    {
        "annotations": {
            "summary": "refused",
            "description": "P1: orders-db crit; checkout down",
            "fingerprint": "check:orders-db:unhealthy",
        },
        "endsAt": "2027-01-15T08:04:00.000Z",
        "fingerprint": "0a1b2c3d4e5f6a7b",
        "receivers": [{"name": "null"}],
        "startsAt": "2027-01-15T08:00:00.000Z",
        "status": {"inhibitedBy": [], "silencedBy": [], "state": "active"},
        "updatedAt": "2027-01-15T08:00:00.000Z",
        "labels": {
            "alertname": "HealthdashCheckUnhealthy", "source": "healthdash", "subject": "check", "check": "orders-db",
            "severity": "crit", "priority": "P1", "dashboard": "payments",
        },
    },
]


def ours(name: str = "orders-db") -> Alert:
    return Alert(
        fingerprint=f"check:{name}:unhealthy", subject="check", name=name, severity="crit", current="crit",
        state=AlertState.FIRING, priority=1, priority_reason="P1", message="refused", started_at=T0, last_seen=T0, count=2,
    )


# --- the decoder -----------------------------------------------------------------------


def test_decodes_an_api_v2_answer() -> None:
    disk, healthdash, watchdog = alerts_from_api(ANSWER)  # active first, oldest first; then suppressed
    assert disk == ExternalAlert(
        fingerprint="e94c744ae3d44df8",
        name="DiskFull",
        labels={"alertname": "DiskFull", "instance": "db-1:9100", "severity": "critical"},
        summary="disk / on db-1 is 97% full",
        severity="critical",
        state="active",
        starts_at=T0 - 3600 - 300 + 0.5,  # 07:55:00.5 at +01:00
        annotations={"description": "predicted full in 2h", "summary": "disk / on db-1 is 97% full"},
        description="predicted full in 2h",
        ends_at=T0 + 570.123456,  # nanoseconds cut to microseconds
        updated_at=T0 + 330.123,
        receivers=("team-db", "null"),
        generator_url="http://prometheus:9090/graph?g0.expr=disk_free",
        source="alertmanager",
    )
    assert (healthdash.name, healthdash.state, healthdash.from_healthdash) == ("HealthdashCheckUnhealthy", "active", True)
    assert not disk.from_healthdash
    assert (watchdog.name, watchdog.state, watchdog.summary, watchdog.severity) == ("Watchdog", "suppressed", "", "")
    assert watchdog.silenced_by == ("0796a207-17b8-413b-bef9-ce4aa0b88a01",)


def test_outside_text_is_cleaned_and_junk_skipped() -> None:
    doc = [
        {
            "fingerprint": "1",
            "labels": {"alertname": "Evil\x1b]0;pwned\x07\x1b[31m", "severity": "crit\nical", "n": 5},
            "annotations": {"summary": "line one\nline two\x1b[2J", "message": ["not", "text"]},
            "startsAt": "yesterday",
            "endsAt": "0001-01-01T00:00:00Z",  # Go's zero time: not set
            "status": {"state": "unprocessed", "inhibitedBy": ["2"]},
            "receivers": ["bare", {"name": "ok"}, {"nope": 1}],
        },
        {"fingerprint": "2", "labels": {}},  # no labels: nothing to show
        {"labels": {"alertname": "NoFingerprint"}},
        "not an alert",
        None,
        {"fingerprint": "3", "labels": {"severity": "warn"}, "status": "weird", "generatorURL": 7},
    ]
    nameless, evil = alerts_from_api(doc)  # the active one first
    assert nameless.name == "3" and nameless.state == "active" and nameless.generator_url == ""
    assert evil.name == "Evil"
    assert evil.labels == {"alertname": "Evil", "severity": "crit ical"}
    assert evil.summary == "line one line two"
    assert evil.state == "suppressed"  # inhibited, even though Alertmanager has not processed it yet
    assert (evil.starts_at, evil.ends_at, evil.receivers, evil.inhibited_by) == (None, None, ("bare", "ok"), ("2",))
    with pytest.raises(ValueError, match="expected a JSON list"):
        alerts_from_api({"status": "error"})


def test_parse_time() -> None:
    assert parse_time("2027-01-15T08:00:00Z") == T0
    assert parse_time("2027-01-15T09:30:00.250+01:30") == T0 + 0.25
    assert parse_time("2027-01-15T08:00:00.999999999Z") == T0 + 0.999999
    for bad in ("2027-13-15T08:00:00Z", "2027-01-15T08:00:00", "2027-01-15", 5, None, "0001-01-01T00:00:00Z"):
        assert parse_time(bad) is None


def test_merge_drops_our_own_alerts_coming_back() -> None:
    theirs = alerts_from_api(ANSWER)
    assert [a.name for a in merge((ours(),), theirs)] == ["DiskFull", "Watchdog"]
    assert [a.name for a in merge((ours(),), theirs, dashboard="payments")] == ["DiskFull", "Watchdog"]
    # another dashboard's alert of a check with the same name is not ours
    assert [a.name for a in merge((ours(),), theirs, dashboard="billing")] == ["DiskFull", "HealthdashCheckUnhealthy", "Watchdog"]
    # not one of our alerts (any more): shown, so nothing is lost
    assert len(merge((ours("other"),), theirs)) == 3
    # someone else's alert that merely carries a fingerprint annotation is not ours
    lookalike = [{**ANSWER[0], "annotations": {"fingerprint": "check:orders-db:unhealthy"}}]
    assert len(merge((ours(),), alerts_from_api(lookalike))) == 1


# --- the puller ------------------------------------------------------------------------


class FakeAlertmanager:
    """`GET /api/v2/alerts` on 127.0.0.1 answering `status` with `body`; `/hang` never answers."""

    def __init__(self) -> None:
        self.status = 200
        self.body: str = json.dumps(ANSWER)
        self.requests: list[web.Request] = []
        self.release = asyncio.Event()
        self.port = 0

    async def handle(self, request: web.Request) -> web.Response:
        self.requests.append(request)
        if request.path.startswith("/hang"):
            await self.release.wait()
        return web.Response(status=self.status, text=self.body, content_type="application/json")

    def config(self, path: str = "", **kw: Any) -> AlertmanagerConfig:
        return AlertmanagerConfig(url=f"http://127.0.0.1:{self.port}{path}", **kw)


@pytest.fixture
async def server() -> AsyncIterator[FakeAlertmanager]:
    fake = FakeAlertmanager()
    app = web.Application()
    app.router.add_get("/{tail:.*}", fake.handle)
    runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.1)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    fake.port = runner.addresses[0][1]
    try:
        yield fake
    finally:
        fake.release.set()
        await runner.cleanup()


async def test_puller_pulls_and_tells_listeners(server: FakeAlertmanager) -> None:
    clock = FakeClock(start=0.0, wall_offset=T0)
    puller = Puller(server.config("/prefix/", headers={"X-Scope-OrgID": "ops"}, interval=15.0), clock=clock)
    changes: list[int] = []
    puller.subscribe(lambda: changes.append(len(puller.alerts)))
    await puller.start()
    for _ in range(200):
        if changes:
            break
        await asyncio.sleep(0.01)
    assert [a.name for a in puller.alerts] == ["DiskFull", "HealthdashCheckUnhealthy", "Watchdog"]
    assert all(a.source == "alertmanager" for a in puller.alerts)
    assert (puller.error, puller.updated_at, changes) == ("", T0, [3])
    request = server.requests[0]
    assert request.path == "/prefix/api/v2/alerts"
    assert dict(request.query) == {"active": "true", "silenced": "true", "inhibited": "true"}
    assert request.headers["X-Scope-OrgID"] == "ops"

    server.body = json.dumps(ANSWER[:1])
    await clock.advance(15)
    for _ in range(200):
        if len(changes) == 2:
            break
        await asyncio.sleep(0.01)
    assert [a.name for a in puller.alerts] == ["DiskFull"] and changes == [3, 1]
    await clock.advance(15)
    for _ in range(200):
        if len(server.requests) == 3:
            break
        await asyncio.sleep(0.01)
    await asyncio.sleep(0.05)
    assert changes == [3, 1]  # the same answer again: no news
    await puller.stop()
    assert not puller.running


async def test_puller_errors_are_one_line_and_keep_the_last_alerts(server: FakeAlertmanager, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="healthdash.alertmanager")
    token = "am-token-5f4e3d2c"
    puller = Puller(server.config(headers={"Authorization": f"Bearer {token}"}))
    await puller.pull()
    assert len(puller.alerts) == 3 and puller.error == ""

    server.status, server.body = 503, f"overloaded, your token is {token}\x1b[31m\nbye"
    await puller.pull()
    assert puller.error == f"Alertmanager at 127.0.0.1:{server.port}: 503 Service Unavailable: overloaded, your token is {REDACTED} bye"
    assert len(puller.alerts) == 3  # the last good ones, with their age in .updated_at

    server.status, server.body = 200, "<html>login</html>"
    await puller.pull()
    assert puller.error.endswith(": answer is not JSON")
    server.body = '{"code": 400}'
    await puller.pull()
    assert puller.error.endswith(": expected a JSON list of alerts")
    server.body = "[]"
    await puller.pull()
    assert (puller.alerts, puller.error) == ((), "")
    await puller.stop()
    text = "\n".join(r.getMessage() for r in caplog.records)
    assert "503 Service Unavailable" in text and "answering again" in text
    assert token not in text


async def test_puller_unreachable_and_hanging(server: FakeAlertmanager) -> None:
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    refused = Puller(AlertmanagerConfig(url=f"http://127.0.0.1:{port}"))
    await refused.pull()
    assert refused.error == f"Alertmanager at 127.0.0.1:{port}: connection refused"
    await refused.stop()

    clock = FakeClock()
    hanging = Puller(server.config("/hang", timeout=5.0), clock=clock)
    pulling = asyncio.ensure_future(hanging.pull())
    for _ in range(200):
        if server.requests:
            break
        await asyncio.sleep(0.01)
    await clock.advance(5.1)
    await asyncio.wait_for(pulling, 5)
    assert hanging.error.endswith(": no answer within 5s")
    await hanging.stop()
