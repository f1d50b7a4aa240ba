"""Webhook and Alertmanager notifications, against a real loopback HTTP server that
records every request."""

from __future__ import annotations

import asyncio
import datetime
import logging
import random
import socket
import textwrap
from collections.abc import AsyncIterator
from dataclasses import dataclass
from types import SimpleNamespace
from typing import Any

import pytest
from aiohttp import web

from dash import alertmanager as am
from dash.clock import FakeClock
from dash.config import Config, parse_config
from dash.core.alerts import Alert, AlertEngine, AlertState, Notification
from dash.core.retry import RetryPolicy
from dash.core.services import evaluate
from dash.model import CheckResult, Reason, Status
from dash.notify import Notifier, payload, shown_url
from dash.text import REDACTED

T0 = 1_800_000_000.0
KINDS = {"tcp": SimpleNamespace(KIND="tcp", FIELDS={})}


@dataclass(frozen=True)
class Received:
    path: str
    query: str
    headers: dict[str, str]
    body: Any  # a dict for webhooks, a list of alerts for Alertmanager


class Hook:
    """A webhook receiver on 127.0.0.1. `answers[path]` scripts the status codes in
    turn (then 200); `/hang` never answers until the test ends."""

    def __init__(self) -> None:
        self.requests: list[Received] = []
        self.answers: dict[str, list[int]] = {}
        self.echo = ""  # appended to error bodies, to show what a server may send back
        self.arrived = asyncio.Condition()
        self.release = asyncio.Event()
        self.port = 0

    async def handle(self, request: web.Request) -> web.Response:
        body = await request.json()
        self.requests.append(Received(request.path, request.query_string, dict(request.headers), body))
        async with self.arrived:
            self.arrived.notify_all()
        if request.path == "/hang":
            await self.release.wait()
        script = self.answers.get(request.path, [])
        status = script.pop(0) if script else 200
        text = "ok" if status < 300 else f"no: {request.headers.get('Authorization', '')} {request.query_string} {self.echo}"
        return web.Response(status=status, text=text)

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def paths(self) -> list[str]:
        return [r.path for r in self.requests]

    async def wait_for(self, n: int) -> None:
        async with self.arrived:
            await asyncio.wait_for(self.arrived.wait_for(lambda: len(self.requests) >= n), 5)


@pytest.fixture
async def hook() -> AsyncIterator[Hook]:
    h = Hook()
    app = web.Application()
    app.router.add_post("/{tail:.*}", h.handle)
    runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.1)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    h.port = runner.addresses[0][1]
    try:
        yield h
    finally:
        h.release.set()
        await runner.cleanup()


@pytest.fixture(autouse=True)
def notify_logs(caplog: pytest.LogCaptureFixture) -> pytest.LogCaptureFixture:
    caplog.set_level(logging.DEBUG, logger="healthdash.notify")
    return caplog


def config(targets: str, environ: dict[str, str] | None = None, extra: str = "") -> Config:
    return parse_config(textwrap.dedent(extra) + textwrap.dedent(targets), environ=environ or {}, kinds=KINDS)


def webhook(url: str, *, min_priority: str = "P2", timeout: str = "2s", retries: int = 0, headers: str = "") -> str:
    text = f'[[notify]]\nkind = "webhook"\nurl = "{url}"\nmin_priority = "{min_priority}"\ntimeout = "{timeout}"\nretries = {retries}\n'
    return text + (f"headers = {headers}\n" if headers else "")


def alert(name: str, priority: int, **changes: Any) -> Alert:
    values: dict[str, Any] = dict(
        fingerprint=f"check:{name}:unhealthy", subject="check", name=name, severity="crit", current="crit",
        state=AlertState.FIRING, priority=priority, priority_reason=f"P{priority}: {name} crit", message="refused",
        started_at=T0, last_seen=T0, count=2,
    )
    values.update(changes)
    return Alert(**values)


def page(name: str, priority: int) -> Notification:
    return Notification("page", alert(name, priority), T0)


def resolved(name: str, priority: int) -> Notification:
    return Notification("resolved", alert(name, priority, state=AlertState.RESOLVED, resolved_at=T0 + 90), T0 + 90)


async def until(condition, seconds: float = 5.0) -> None:
    """Wait (really, briefly) for work done on the event loop: HTTP round trips."""
    deadline = asyncio.get_running_loop().time() + seconds
    while not condition():
        assert asyncio.get_running_loop().time() < deadline, "condition not met in time"
        await asyncio.sleep(0.005)


def logged(caplog: pytest.LogCaptureFixture) -> str:
    return "\n".join(r.getMessage() for r in caplog.records)


# --- what a webhook receives --------------------------------------------------------


async def test_page_and_resolved_carry_the_alert(hook: Hook, notify_logs) -> None:
    cfg = config(
        webhook(hook.url("/hook")),
        extra="""
        [dashboard]
        title = "payments on call"
        [[check]]
        name = "orders-db"
        kind = "tcp"
        [[service]]
        name = "checkout"
        tier = 1
        requires = ["orders-db"]
        """,
    )
    alerts = AlertEngine(cfg)
    notifier = Notifier(cfg)
    await notifier.start()

    def run(at: float, status: Status) -> None:
        now = T0 + at
        message = "connect to 10.0.0.5:5432: connection refused" if status is Status.CRIT else "ok"
        reason = Reason.CONNECT if status is Status.CRIT else Reason.OK
        alerts.observe(CheckResult("orders-db", "tcp", status, reason, message, 0.01, 1, now, now), now)
        alerts.observe_services(evaluate(cfg.services, {"orders-db": status}), now)
        for note in alerts.notifications(now):
            notifier.submit(note)

    run(0, Status.CRIT)
    run(10, Status.CRIT)  # confirmed: P1 (it takes down a tier-1 service), paged
    await hook.wait_for(1)
    run(20, Status.OK)
    run(30, Status.OK)  # recovered
    await hook.wait_for(2)
    await notifier.stop()

    first, second = hook.requests
    assert first.headers["Content-Type"] == "application/json"
    assert first.headers["User-Agent"] == "healthdash"
    assert first.body == {
        "kind": "page",
        "fingerprint": "check:orders-db:unhealthy",
        "subject": "check",
        "name": "orders-db",
        "priority": "P1",
        "priority_reason": "P1: orders-db crit; checkout down",
        "state": "firing",
        "severity": "crit",
        "message": "connect to 10.0.0.5:5432: connection refused",
        "started_at": "2027-01-15T08:00:10.000Z",
        "resolved_at": None,
        "count": 2,
        "root_cause": None,
        "source": "healthdash",
        "dashboard": "payments on call",
    }
    assert second.body["kind"] == "resolved"
    assert second.body["state"] == "resolved"
    assert second.body["resolved_at"] == "2027-01-15T08:00:30.000Z"
    assert second.body["priority"] == "P2"  # checkout is up again; it still went where the page went
    assert (notifier.sent, notifier.failed, notifier.dropped) == (2, 0, 0)
    assert f"page for check orders-db (P1) sent to notify[#1] (line 11) {hook.url('')}/…" in logged(notify_logs)


async def test_min_priority_picks_the_targets(hook: Hook) -> None:
    cfg = config(webhook(hook.url("/urgent"), min_priority="P1") + webhook(hook.url("/all"), min_priority="P3"))
    notifier = Notifier(cfg)
    await notifier.start()
    for priority in (1, 2, 3, 4):
        notifier.submit(page(f"p{priority}", priority))
    # by resolution time its priority dropped to P3: it still goes where the page went
    notifier.submit(resolved("p1", 3))
    notifier.submit(resolved("p2", 2))
    notifier.submit(resolved("never-paged", 1))  # unknown here: goes wherever P1 goes
    await notifier.stop()

    def got(path: str) -> list[tuple[str, str]]:
        return [(r.body["kind"], r.body["name"]) for r in hook.requests if r.path == path]

    assert got("/urgent") == [("page", "p1"), ("resolved", "p1"), ("resolved", "never-paged")]
    assert got("/all") == [
        ("page", "p1"), ("page", "p2"), ("page", "p3"), ("resolved", "p1"), ("resolved", "p2"), ("resolved", "never-paged"),
    ]
    assert notifier.sent == 9


# --- failures -------------------------------------------------------------------------


async def test_retries_server_errors_with_backoff_then_delivers(hook: Hook, notify_logs) -> None:
    hook.answers["/flaky"] = [500, 503]
    waits: list[float] = []

    async def sleep(seconds: float) -> None:  # record the backoff instead of waiting it out
        waits.append(seconds)

    policy = RetryPolicy(base=1.0, cap=8.0)
    notifier = Notifier(config(webhook(hook.url("/flaky"), retries=3)), sleep=sleep, rng=random.Random(1), retry=policy)
    await notifier.start()
    notifier.submit(page("orders-db", 1))
    await hook.wait_for(3)
    await notifier.stop()

    assert len(hook.requests) == 3
    assert hook.requests[0].body == hook.requests[1].body == hook.requests[2].body
    assert (notifier.sent, notifier.failed) == (1, 0)
    assert len(waits) == 2
    assert 0 <= waits[0] <= policy.ceiling(1) and 0 <= waits[1] <= policy.ceiling(2)
    assert waits != [policy.ceiling(1), policy.ceiling(2)]  # jittered, not the bare exponential
    text = logged(notify_logs)
    assert "failed (attempt 1 of 4): 500 Internal Server Error" in text
    assert "failed (attempt 2 of 4): 503 Service Unavailable" in text
    assert "sent to notify[#1]" in text and "(attempt 3)" in text


async def test_a_client_error_is_not_retried(hook: Hook, notify_logs) -> None:
    hook.answers["/gone"] = [404]
    notifier = Notifier(config(webhook(hook.url("/gone"), retries=3)))
    await notifier.start()
    notifier.submit(page("orders-db", 1))
    await until(lambda: notifier.failed == 1)
    await notifier.stop()
    assert len(hook.requests) == 1
    assert "page for check orders-db (P1) to notify[#1] (line 1)" in logged(notify_logs)
    assert "failed: 404 Not Found: no:" in logged(notify_logs)


async def test_an_unreachable_webhook_is_logged_not_raised(notify_logs) -> None:
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    notifier = Notifier(config(webhook(f"http://127.0.0.1:{port}/services/T0/B0/xyzzy-secret-path")))
    await notifier.start()
    notifier.submit(page("orders-db", 1))
    await until(lambda: notifier.failed == 1)
    await notifier.stop()
    text = logged(notify_logs)
    assert f"to notify[#1] (line 1) http://127.0.0.1:{port}/… failed: " in text
    assert "xyzzy" not in text


async def test_a_hanging_webhook_never_blocks_and_times_out(hook: Hook, notify_logs) -> None:
    clock = FakeClock()
    notifier = Notifier(config(webhook(hook.url("/hang"), timeout="5s")), clock=clock)
    await notifier.start()

    assert notifier.submit(page("orders-db", 1)) is None  # returns at once: only queued
    assert hook.requests == [] and notifier.pending == 1
    await hook.wait_for(1)  # the request is out; the server sits on it
    await clock.advance(4.9)
    await asyncio.sleep(0.05)
    assert notifier.failed == 0
    await clock.advance(0.2)
    await until(lambda: notifier.failed == 1)
    assert "failed: no answer within 5s; gave up" in logged(notify_logs)
    assert notifier.pending == 0
    await notifier.stop()  # nothing left to wait for: returns without the clock moving


async def test_stop_waits_briefly_then_gives_up(hook: Hook, notify_logs) -> None:
    clock = FakeClock()
    notifier = Notifier(config(webhook(hook.url("/hang"), timeout="30s")), clock=clock)
    await notifier.start()
    notifier.submit(page("a", 1))
    notifier.submit(page("b", 1))
    await hook.wait_for(1)
    stopping = asyncio.ensure_future(notifier.stop())
    await clock.advance(1.9)
    assert not stopping.done()
    await clock.advance(0.2)
    await asyncio.wait_for(stopping, 5)
    assert "stopping: gave up on 2 undelivered notification(s) to notify[#1]" in logged(notify_logs)
    assert [r.body["name"] for r in hook.requests] == ["a"]


async def test_a_full_queue_drops_the_oldest(hook: Hook, notify_logs) -> None:
    notifier = Notifier(config(webhook(hook.url("/hook"))), queue_size=3)
    for n in range(1, 6):  # before start: nothing is being delivered yet
        notifier.submit(page(f"alert-{n}", 1))
    assert notifier.dropped == 2
    assert "queue for notify[#1]" in logged(notify_logs)
    assert "dropped the oldest notification (page for check alert-2 (P1)); 2 dropped so far" in logged(notify_logs)
    await notifier.start()
    await notifier.stop()  # delivers what is queued
    assert [r.body["name"] for r in hook.requests] == ["alert-3", "alert-4", "alert-5"]


async def test_secrets_are_sent_but_never_logged(hook: Hook, caplog: pytest.LogCaptureFixture) -> None:
    token, key = "tok-3f9a8b7c6d5e", "key-0a1b2c3d4e5f"
    hook.answers["/hook"] = [401, 401]
    hook.echo = "literal-bearer-value-99"
    env = {"HOOK_TOKEN": token, "HOOK_KEY": key}
    targets = webhook(
        hook.url("/hook?key=${HOOK_KEY}"), retries=1, headers='{ Authorization = "Bearer ${HOOK_TOKEN}" }'
    ) + webhook(hook.url("/hook"), retries=0, headers='{ X-Api-Key = "literal-bearer-value-99" }')
    cfg = config(targets, env)

    async def sleep(seconds: float) -> None:
        pass

    notifier = Notifier(cfg, sleep=sleep)
    await notifier.start()
    notifier.submit(page("orders-db", 1))
    await until(lambda: notifier.failed + notifier.sent == 2)
    await notifier.stop()

    sent = {r.headers.get("Authorization") for r in hook.requests}
    assert f"Bearer {token}" in sent  # the server got the real credentials
    assert any(r.query == f"key={key}" for r in hook.requests)
    text = "\n".join(r.getMessage() for r in caplog.records)
    assert "401 Unauthorized" in text  # the failure is reported ...
    assert REDACTED in text  # ... with the echoed credentials masked
    for secret in (token, key, "literal-bearer-value-99"):
        assert secret not in text
    assert f"{hook.url('')}/… failed" in text  # the path and query string are never shown


async def test_reload_switches_targets(hook: Hook) -> None:
    notifier = Notifier(config(webhook(hook.url("/old"))))
    await notifier.start()
    notifier.submit(page("a", 1))
    await notifier.reload(config(webhook(hook.url("/new"), min_priority="P4")))
    notifier.submit(page("b", 4))
    await notifier.stop()
    assert [(r.path, r.body["name"]) for r in hook.requests] == [("/old", "a"), ("/new", "b")]


def test_shown_url_keeps_only_the_origin() -> None:
    assert shown_url("https://hooks.example.com/services/T0/B0/secret") == "https://hooks.example.com/…"
    assert shown_url("http://127.0.0.1:9000/") == "http://127.0.0.1:9000"
    assert shown_url("https://user:pw@example.com?token=x") == "https://example.com/…"


def test_payload_masks_check_secrets() -> None:
    cfg = config(webhook("http://127.0.0.1:1/"), extra='[[check]]\nname = "db"\nkind = "tcp"\ndescription = "${PW}"\n', environ={"PW": "hunter2hunter2"})
    note = Notification("page", alert("db", 1, message="login as app/hunter2hunter2 failed"), T0)
    assert payload(note, cfg)["message"] == f"login as app/{REDACTED} failed"


# --- kind = "alertmanager" ---------------------------------------------------------------

AM_PATH = "/am/api/v2/alerts"  # the base URL in these tests has a path prefix, as behind a proxy
WALL = T0 + 30  # the fake clock's wall time when the notifier starts


def alertmanager(url: str, *, min_priority: str = "P2", retries: int = 0, headers: str = "") -> str:
    text = f'[[notify]]\nkind = "alertmanager"\nurl = "{url}"\nmin_priority = "{min_priority}"\nretries = {retries}\ntimeout = "2s"\n'
    return text + (f"headers = {headers}\n" if headers else "")


def am_clock() -> FakeClock:
    return FakeClock(start=0.0, wall_offset=WALL)


def iso(epoch: float) -> str:
    return datetime.datetime.fromtimestamp(epoch, datetime.timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


async def test_alertmanager_gets_firing_then_resolved_with_the_same_labels(hook: Hook) -> None:
    cfg = config(
        alertmanager(hook.url("/am/"), headers='{ Authorization = "Bearer am-token-1234" }'),
        extra='[dashboard]\ntitle = "payments on call"\n[[check]]\nname = "orders-db"\nkind = "tcp"\nrunbook = "https://wiki.example/orders-db"\n',
    )
    clock = am_clock()
    notifier = Notifier(cfg, clock=clock)
    await notifier.start()
    notifier.submit(page("orders-db", 1))
    await hook.wait_for(1)
    # by its resolution the priority dropped: Alertmanager still needs the labels it knows
    notifier.submit(Notification("resolved", alert("orders-db", 3, state=AlertState.RESOLVED, resolved_at=T0 + 90), T0 + 90))
    await hook.wait_for(2)
    await notifier.stop()

    fired, ended = hook.requests
    assert (fired.path, ended.path) == (AM_PATH, AM_PATH)
    assert fired.headers["Authorization"] == "Bearer am-token-1234"
    assert fired.headers["Content-Type"] == "application/json"
    labels = {
        "alertname": "HealthdashCheckUnhealthy",
        "source": "healthdash",
        "subject": "check",
        "check": "orders-db",
        "severity": "crit",
        "priority": "P1",
        "dashboard": "payments on call",
    }
    annotations = {
        "summary": "refused",
        "description": "P1: orders-db crit",
        "fingerprint": "check:orders-db:unhealthy",
        "runbook": "https://wiki.example/orders-db",
    }
    assert fired.body == [
        {"labels": labels, "annotations": annotations, "startsAt": "2027-01-15T08:00:00.000Z", "endsAt": iso(WALL + 240)}
    ]
    (resolution,) = ended.body
    assert resolution["labels"] == labels
    assert resolution["startsAt"] == "2027-01-15T08:00:00.000Z"
    assert resolution["endsAt"] == "2027-01-15T08:01:30.000Z"
    assert (notifier.sent, notifier.failed) == (2, 0)


async def test_alertmanager_labels_of_services_and_slos() -> None:
    cfg = config(alertmanager("http://127.0.0.1:1"))
    service = alert("checkout", 2, fingerprint="service:checkout:unhealthy", subject="service", severity="down", priority_reason="P2: checkout down")
    burn = alert("checkout", 2, fingerprint="slo:checkout:burn", subject="slo", severity="page", message="burning")
    assert am.api_alert(service, cfg)["labels"] == {
        "alertname": "HealthdashServiceUnhealthy", "source": "healthdash", "subject": "service", "service": "checkout",
        "severity": "down", "priority": "P2", "dashboard": "healthdash",
    }
    slo = am.api_alert(burn, cfg)
    assert slo["labels"]["alertname"] == "HealthdashSLOBurn" and slo["labels"]["slo"] == "checkout"
    assert slo["annotations"] == {"summary": "burning", "description": "P2: checkout crit", "fingerprint": "slo:checkout:burn"}


async def test_alertmanager_open_alerts_are_resent_every_minute(hook: Hook, notify_logs) -> None:
    clock = am_clock()
    notifier = Notifier(config(alertmanager(hook.url("/am"))), clock=clock)
    await notifier.start()
    notifier.submit(page("orders-db", 1))
    notifier.submit(page("billing", 2))
    await hook.wait_for(2)
    await clock.advance(59)
    await asyncio.sleep(0.05)
    assert len(hook.requests) == 2  # not yet
    await clock.advance(1)
    await hook.wait_for(3)
    resend = hook.requests[2].body
    assert [a["labels"]["check"] for a in resend] == ["orders-db", "billing"]  # both, in one request
    assert {a["endsAt"] for a in resend} == {iso(WALL + 60 + 240)}  # pushed forward each time

    notifier.submit(resolved("orders-db", 1))
    await hook.wait_for(4)
    await clock.advance(60)
    await hook.wait_for(5)
    assert [a["labels"]["check"] for a in hook.requests[4].body] == ["billing"]  # the resolved one is done
    notifier.submit(resolved("billing", 2))
    await hook.wait_for(6)
    await clock.advance(120)
    await asyncio.sleep(0.05)
    assert len(hook.requests) == 6  # nothing open: nothing re-sent
    await notifier.stop()
    assert "re-sent open alerts to notify[#1]" in logged(notify_logs)


async def test_alertmanager_resolution_that_failed_goes_out_with_the_next_resend(hook: Hook, notify_logs) -> None:
    hook.answers[AM_PATH] = [200, 503, 503]
    clock = am_clock()
    notifier = Notifier(config(alertmanager(hook.url("/am"))), clock=clock)
    await notifier.start()
    notifier.submit(page("orders-db", 1))
    notifier.submit(resolved("orders-db", 1))
    await until(lambda: notifier.failed == 1)  # retries = 0: given up at once ...
    await clock.advance(60)
    await hook.wait_for(3)  # ... the re-send fails too ...
    await until(lambda: "re-sending open alerts" in logged(notify_logs))
    await clock.advance(60)
    await hook.wait_for(4)  # ... the next one gets through
    (late,) = hook.requests[3].body
    assert late["endsAt"] == iso(T0 + 90)
    await clock.advance(60)
    await asyncio.sleep(0.05)
    assert len(hook.requests) == 4  # delivered: not sent again
    await notifier.stop()
    assert "re-sending open alerts to notify[#1] (line 1) " in logged(notify_logs)
    assert "failed: 503 Service Unavailable: no:" in logged(notify_logs)
    assert "next try in 1m" in logged(notify_logs)


async def test_alertmanager_keeps_its_alerts_over_reload_and_restart(hook: Hook) -> None:
    clock = am_clock()
    cfg = config(alertmanager(hook.url("/am")))
    notifier = Notifier(cfg, clock=clock)
    await notifier.start()
    notifier.submit(page("orders-db", 1))
    await hook.wait_for(1)
    await notifier.reload(config(alertmanager(hook.url("/am"), min_priority="P3")))
    await clock.advance(60)
    await hook.wait_for(2)
    assert hook.requests[1].body[0]["labels"]["check"] == "orders-db"  # still re-sent after the reload
    await notifier.stop()

    # a restart: a new notifier learns what was paged from the restored alert state
    restarted = Notifier(cfg, clock=clock)
    restarted.resume([alert("orders-db", 1, paged=True), alert("quiet", 1), alert("over", 1, paged=True, resolved_at=T0)])
    await restarted.start()
    await clock.advance(60)
    await hook.wait_for(3)
    assert [a["labels"]["check"] for a in hook.requests[2].body] == ["orders-db"]
    restarted.submit(resolved("orders-db", 4))  # P4 now, below min_priority: it still goes where the page went
    await hook.wait_for(4)
    await restarted.stop()
    assert hook.requests[3].body[0]["endsAt"] == iso(T0 + 90)


async def test_alertmanager_rejection_is_not_retried(hook: Hook, notify_logs) -> None:
    hook.answers[AM_PATH] = [400]
    notifier = Notifier(config(alertmanager(hook.url("/am"), retries=3)))
    await notifier.start()
    notifier.submit(page("orders-db", 1))
    await until(lambda: notifier.failed == 1)
    await notifier.stop()
    assert len(hook.requests) == 1
    assert "page for check orders-db (P1) to notify[#1] (line 1)" in logged(notify_logs)
    assert "failed: 400 Bad Request" in logged(notify_logs)
