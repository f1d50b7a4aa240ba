"""The agent over real loopback HTTP, serving a real engine that runs scripted probes on a fake clock."""

from __future__ import annotations

import asyncio
import random
import socket
import struct
from collections.abc import AsyncIterator
from dataclasses import dataclass

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from dash.agent import AgentError, AgentServer, serve, snapshot_from_json
from dash.agent.server import Agent
from dash.clock import FakeClock
from dash.config import CheckConfig, Config, ServiceConfig
from dash.core.alerts import AlertState
from dash.engine.scheduler import Engine
from dash.model import Outcome, Reason, Status
from tests.engine.test_scheduler import ScriptedProbe

TOKEN = "t0k3n-for-tests-only"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
REFUSED = Outcome(Status.CRIT, Reason.CONNECT, "connection refused")
DB_ALERT = "check:db:unhealthy"


@dataclass
class Rig:
    clock: FakeClock
    engine: Engine
    server: AgentServer
    client: httpx.AsyncClient


def make_engine(clock: FakeClock, scripts: dict[str, list], *, interval: float = 10) -> Engine:
    checks = tuple(
        CheckConfig(name=n, kind="fake", interval=interval, timeout=5, retries=0, options={}, tags=("prod",))
        for n in scripts
    )
    services = (ServiceConfig("shop", requires=("api", "db")),) if {"api", "db"} <= set(scripts) else ()
    config = Config(path="test.toml", title="test board", checks=checks, services=services)
    return Engine(
        config, clock=clock, rng=random.Random(1),
        probe_factory=lambda c, r: ScriptedProbe(clock, scripts[c.name], []),
    )


@pytest.fixture
async def rig() -> AsyncIterator[Rig]:
    """api answers in 0.3 s, db refuses connections; 25 s of fake time have passed."""
    clock = FakeClock()
    engine = make_engine(clock, {"api": [0.3], "db": [REFUSED]})
    await engine.start()
    server = await serve(engine, host="127.0.0.1", port=0, token=TOKEN)
    await clock.advance(25)
    async with httpx.AsyncClient(base_url=server.url, timeout=10) as client:
        yield Rig(clock, engine, server, client)
    await server.stop()
    await engine.stop()


def samples(text: str) -> dict[tuple[str, frozenset], float]:
    """(sample name, labels) -> value, from Prometheus text."""
    out = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            out[(s.name, frozenset(s.labels.items()))] = s.value
    return out


def key(name: str, **labels: str) -> tuple[str, frozenset]:
    return name, frozenset(labels.items())


# -- reads --------------------------------------------------------------------------------


async def test_metrics_expose_checks_breakers_services_alerts_and_the_agent(rig: Rig):
    r = await rig.client.get("/metrics")
    assert r.status_code == 200
    assert r.headers["content-type"] == "text/plain; version=0.0.4; charset=utf-8"
    m = samples(r.text)
    assert m[key("healthdash_check_up", check="api", kind="fake")] == 1
    assert m[key("healthdash_check_up", check="db", kind="fake")] == 0
    assert m[key("healthdash_check_status", check="db", kind="fake", status="crit")] == 1
    assert m[key("healthdash_check_status", check="db", kind="fake", status="ok")] == 0
    assert m[key("healthdash_check_status", check="db", kind="fake", status="pending")] == 0
    # api ran 3 times in 25 s, 0.3 s each: all in the 0.5 bucket, none in 0.25.
    runs = len(rig.engine.board.results("api"))
    assert runs == 3
    assert m[key("healthdash_check_latency_seconds_count", check="api")] == runs
    assert m[key("healthdash_check_latency_seconds_bucket", check="api", le="0.25")] == 0
    assert m[key("healthdash_check_latency_seconds_bucket", check="api", le="0.5")] == runs
    assert m[key("healthdash_check_latency_seconds_bucket", check="api", le="+Inf")] == runs
    assert m[key("healthdash_check_latency_seconds_sum", check="api")] == pytest.approx(0.9)
    assert m[key("healthdash_check_attempts", check="db")] == 1
    last = rig.engine.board.state("db").last
    assert m[key("healthdash_check_last_run_timestamp_seconds", check="db")] == last.finished_at
    assert m[key("healthdash_breaker_state", breaker="db", state="closed")] == 1
    assert m[key("healthdash_breaker_state", breaker="db", state="open")] == 0
    assert m[key("healthdash_breaker_failure_rate", breaker="db")] == 100
    assert m[key("healthdash_service_status", service="shop", status="down")] == 1
    assert m[key("healthdash_alerts", priority="P2", state="firing")] == 1  # db crit, confirmed
    assert m[key("healthdash_alerts", priority="P2", state="symptom")] == 1  # shop down, folded under db
    assert m[key("healthdash_alerts", priority="P1", state="firing")] == 0
    assert m[key("healthdash_agent_up")] == 1
    assert m[key("healthdash_agent_checks")] == 2
    assert m[key("healthdash_agent_scheduler_lag_seconds")] == 0
    assert m[key("healthdash_monitor_offline")] == 0
    assert any(name.startswith("process_") for name, _ in m)  # the agent's own process


async def test_metrics_speak_openmetrics_when_asked(rig: Rig):
    r = await rig.client.get("/metrics", headers={"Accept": "application/openmetrics-text; version=1.0.0"})
    assert r.headers["content-type"].startswith("application/openmetrics-text")
    assert r.text.rstrip().endswith("# EOF")
    assert 'healthdash_check_up{check="api",kind="fake"} 1.0' in r.text


async def test_state_is_the_board_the_tui_renders(rig: Rig):
    r = await rig.client.get("/api/state")
    assert r.status_code == 200 and r.headers["content-type"].startswith("application/json")
    doc = r.json()
    assert doc["title"] == "test board" and doc["paused"] is False and doc["offline"] is False
    assert doc["generated_at"] == rig.clock.wall()
    db = next(c for c in doc["checks"] if c["name"] == "db")
    assert db["status"] == "crit" and db["reason"] == "connect" and db["message"] == "connection refused"
    assert db["tags"] == ["prod"] and db["attempts"] == 1 and db["history"] == ["crit", "crit"]
    assert db["breaker"]["name"] == "db" and db["breaker"]["state"] == "closed"
    assert doc["services"] == [
        {"name": "shop", "status": "down", "modes": [], "because": ["db crit"], "root_causes": ["db"], "tier": 3}
    ]
    alert = next(a for a in doc["alerts"] if a["fingerprint"] == DB_ALERT)
    assert alert["state"] == "firing" and alert["priority"] == 2 and alert["acknowledged_by"] is None
    assert [b["name"] for b in doc["breakers"]] == ["api", "db"]
    assert doc["silences"] == [] and doc["notes"] == []
    # The decoded document renders like the engine's own snapshot.
    remote, local = snapshot_from_json(doc), rig.engine.snapshot()
    assert [(c.name, c.status, c.last.message, len(c.history)) for c in remote.checks] == [
        (c.name, c.status, c.last.message, len(c.history)) for c in local.checks
    ]
    assert [(a.fingerprint, a.state, a.priority) for a in remote.alerts] == [
        (a.fingerprint, a.state, a.priority) for a in local.alerts
    ]


async def test_state_without_results_is_smaller_and_still_complete(rig: Rig):
    full = await rig.client.get("/api/state")
    compact = await rig.client.get("/api/state", params={"results": "0"})
    assert len(compact.content) < len(full.content)
    doc = compact.json()
    db = next(c for c in doc["checks"] if c["name"] == "db")
    assert "results" not in db and db["history"] == ["crit", "crit"] and db["message"] == "connection refused"
    assert "results" in full.json()["checks"][0]  # the cached compact copy never answers a full request


async def test_healthz_follows_the_engine(rig: Rig):
    r = await rig.client.get("/healthz")
    assert (r.status_code, r.text) == (200, "ok\n")
    await rig.engine.stop()
    r = await rig.client.get("/healthz")
    assert (r.status_code, r.text) == (503, "engine not running\n")


# -- writes --------------------------------------------------------------------------------


async def test_writes_need_the_token(rig: Rig):
    body = {"fingerprint": DB_ALERT, "comment": "on it", "by": "ana"}
    r = await rig.client.post("/api/ack", json=body)
    assert r.status_code == 401
    assert r.json() == {"error": "a bearer token is required"}
    assert r.headers["www-authenticate"] == 'Bearer realm="healthdash"'
    r = await rig.client.post("/api/ack", json=body, headers={"Authorization": "Bearer nope"})
    assert r.status_code == 401 and 'error="invalid_token"' in r.headers["www-authenticate"]
    assert TOKEN not in r.text
    assert rig.engine.alerts.alert(DB_ALERT, rig.clock.wall()).state is AlertState.FIRING
    # Reads on loopback need no token.
    assert (await rig.client.get("/api/state")).status_code == 200


async def test_ack_and_unack_through_the_api_change_the_engine(rig: Rig):
    body = {"fingerprint": DB_ALERT, "comment": "restarting \x1b[31mit\x07", "by": "ana"}
    r = await rig.client.post("/api/ack", json=body, headers=AUTH)
    assert r.status_code == 200
    assert r.json() == {"ok": True, "fingerprint": DB_ALERT, "state": "acknowledged"}
    alert = rig.engine.alerts.alert(DB_ALERT, rig.clock.wall())
    assert alert.state is AlertState.ACKNOWLEDGED and alert.acked_by == "ana"
    assert alert.ack_comment == "restarting it\\x07"  # escape removed, bell shown, never sent to a terminal
    state = (await rig.client.get("/api/state")).json()  # not a stale cached copy
    shown = next(a for a in state["alerts"] if a["fingerprint"] == DB_ALERT)
    assert shown["state"] == "acknowledged" and shown["acknowledged_by"] == "ana"

    r = await rig.client.post("/api/unack", json={"fingerprint": DB_ALERT}, headers=AUTH)
    assert r.json() == {"ok": True, "fingerprint": DB_ALERT, "changed": True, "state": "firing"}
    r = await rig.client.post("/api/ack", json={"fingerprint": "check:nope:unhealthy"}, headers=AUTH)
    assert r.status_code == 404 and r.json() == {"error": "no alert 'check:nope:unhealthy'"}
    r = await rig.client.post("/api/ack", json={"fingerprint": DB_ALERT, "until": rig.clock.wall() - 1}, headers=AUTH)
    assert r.status_code == 400 and r.json() == {"error": "an acknowledgement must end in the future"}


async def test_silence_then_delete_it(rig: Rig):
    r = await rig.client.post("/api/silence", json={"match": "db", "duration": "1h", "comment": "migration", "by": "bo"}, headers=AUTH)
    assert r.status_code == 200
    sid = r.json()["id"]
    assert r.json()["until"] == rig.clock.wall() + 3600
    assert rig.engine.alerts.alert(DB_ALERT, rig.clock.wall()).state is AlertState.SILENCED
    state = (await rig.client.get("/api/state")).json()
    assert [s["id"] for s in state["silences"]] == [sid] and state["silences"][0]["comment"] == "migration"

    assert (await rig.client.delete(f"/api/silence/{sid}", headers=AUTH)).json() == {"ok": True, "id": sid}
    assert rig.engine.alerts.alert(DB_ALERT, rig.clock.wall()).state is AlertState.FIRING
    r = await rig.client.delete(f"/api/silence/{sid}", headers=AUTH)
    assert r.status_code == 404 and r.json() == {"error": f"no active silence {sid!r}"}

    for body, error in [
        ({"match": "db"}, "give exactly one of 'until' and 'duration'"),
        ({"match": "db", "duration": "1h", "until": 2e9}, "give exactly one of 'until' and 'duration'"),
        ({"duration": "1h"}, "a silence needs a name pattern or tags"),
        ({"match": "db", "duration": "soon"}, "'duration': "),
        ({"match": "db", "until": "2020-01-01T00:00:00Z"}, "a silence must end in the future"),
        ({"tags": "prod", "duration": 60}, "'tags' must be a list of strings"),
    ]:
        r = await rig.client.post("/api/silence", json=body, headers=AUTH)
        assert r.status_code == 400 and r.json()["error"].startswith(error), body


async def test_notes_are_kept_and_shown(rig: Rig):
    r = await rig.client.post("/api/note", json={"text": "restarted db\nat 10:02", "check": "db", "by": "ana"}, headers=AUTH)
    assert r.status_code == 200
    note = r.json()
    assert note["text"] == "restarted db at 10:02" and note["check"] == "db" and note["at"] == rig.clock.wall()
    assert (await rig.client.get("/api/state")).json()["notes"] == [note]
    r = await rig.client.post("/api/note", json={"text": "x", "check": "nope"}, headers=AUTH)
    assert r.status_code == 404 and r.json() == {"error": "no check 'nope'"}
    r = await rig.client.post("/api/note", json={"text": "  "}, headers=AUTH)
    assert r.status_code == 400 and r.json() == {"error": "'text' must not be empty"}


async def test_breaker_commands(rig: Rig):
    r = await rig.client.post("/api/breaker/db/force_open", headers=AUTH)
    assert r.json() == {"ok": True, "breaker": "db", "state": "forced_open"}
    m = samples((await rig.client.get("/metrics")).text)
    assert m[key("healthdash_breaker_state", breaker="db", state="forced_open")] == 1
    r = await rig.client.post("/api/breaker/db/explode", headers=AUTH)
    assert r.status_code == 400 and "force_open, force_closed, metrics_only, reset" in r.json()["error"]
    r = await rig.client.post("/api/breaker/nope/reset", headers=AUTH)
    assert r.status_code == 404 and r.json() == {"error": "no breaker 'nope'"}
    r = await rig.client.post("/api/breaker/db/reset", headers=AUTH)
    assert r.json()["state"] == "closed"


async def test_bad_requests_get_one_line_json_errors(rig: Rig):
    post = rig.client.post
    cases = [
        (await post("/api/ack", content=b"{nope", headers=AUTH), 400, "the body is not valid JSON"),
        (await post("/api/ack", json=[DB_ALERT], headers=AUTH), 400, "the body must be a JSON object"),
        (await post("/api/ack", json={"fingerprint": DB_ALERT, "untill": 5}, headers=AUTH), 400,
         "unknown key 'untill'; expected one of: fingerprint, comment, by, until"),
        (await post("/api/ack", json={"fingerprint": 7}, headers=AUTH), 400, "'fingerprint' must be a string"),
        (await post("/api/ack", json={}, headers=AUTH), 400, "'fingerprint' is required"),
        (await post("/api/ack", json={"fingerprint": DB_ALERT, "comment": "x" * 501}, headers=AUTH), 400,
         "'comment' is longer than 500 characters"),
        (await post("/api/note", json={"text": "x" * 40_000}, headers=AUTH), 413, "request entity too large"),
        (await rig.client.get("/api/nothing"), 404, "not found"),
        (await rig.client.get("/api/ack"), 405, "method not allowed"),
    ]
    for r, status, error in cases:
        assert (r.status_code, r.json()) == (status, {"error": error})
        assert "Traceback" not in r.text
    assert cases[-1][0].headers["allow"] == "POST"


async def test_a_bug_in_a_handler_is_a_500_without_a_traceback(rig: Rig, monkeypatch, caplog):
    def broken(*a, **kw):
        raise RuntimeError("secret internals")

    monkeypatch.setattr(rig.engine, "acknowledge", broken)
    r = await rig.client.post("/api/ack", json={"fingerprint": DB_ALERT}, headers=AUTH)
    assert r.status_code == 500
    assert r.json() == {"error": "internal error (the traceback is in the agent's log)"}
    assert "secret internals" in caplog.text  # the log has it, the client does not


# -- security ------------------------------------------------------------------------------


async def test_a_public_address_without_a_token_is_refused():
    engine = make_engine(FakeClock(), {"api": [0.1]})
    with pytest.raises(AgentError, match="refusing to listen on 0.0.0.0 without a token"):
        await serve(engine, host="0.0.0.0", port=0, token=None)
    with pytest.raises(AgentError, match="without a token"):
        await serve(engine, host="db.example.com", port=0, token="")


async def test_without_a_token_reads_work_and_writes_are_refused():
    clock = FakeClock()
    engine = make_engine(clock, {"api": [0.1]})
    server = await serve(engine, host="127.0.0.1", port=0, token=None)
    try:
        async with httpx.AsyncClient(base_url=server.url) as client:
            assert (await client.get("/api/state")).status_code == 200
            r = await client.post("/api/note", json={"text": "hi"}, headers={"Authorization": "Bearer anything"})
            assert r.status_code == 403
            assert r.json() == {"error": "writes are disabled: start the agent with a token (--token-env VAR)"}
    finally:
        await server.stop()


async def test_on_a_public_address_every_request_needs_the_token():
    # The guard of an agent that believes it listens publicly, served on loopback (tests stay local).
    from aiohttp import web

    agent = Agent(make_engine(FakeClock(), {"api": [0.1]}), token=TOKEN, public=True)
    runner = web.AppRunner(agent.app())
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    url = f"http://127.0.0.1:{runner.addresses[0][1]}"
    try:
        async with httpx.AsyncClient(base_url=url) as client:
            for path in ("/metrics", "/api/state", "/healthz"):
                r = await client.get(path)
                assert r.status_code == 401 and r.headers["www-authenticate"].startswith("Bearer"), path
            assert (await client.get("/api/state", headers=AUTH)).status_code == 200
            # A public agent does not care what Host the client names, only about the token.
            assert (await client.get("/api/state", headers={**AUTH, "Host": "dash.example.com"})).status_code == 200
    finally:
        await runner.cleanup()
        await agent.close()


async def test_a_loopback_agent_refuses_foreign_host_names_without_a_token(rig: Rig):
    # A web page that rebinds its own name to 127.0.0.1 sends its own Host: refuse it.
    r = await rig.client.get("/api/state", headers={"Host": "evil.example.com"})
    assert r.status_code == 403 and r.json() == {"error": "requests to a loopback agent must name a loopback host"}
    assert (await rig.client.get("/api/state", headers={"Host": f"localhost:{rig.server.port}"})).status_code == 200
    assert (await rig.client.get("/api/state", headers={**AUTH, "Host": "evil.example.com"})).status_code == 200


# -- surviving its clients ---------------------------------------------------------------------


async def test_slow_and_vanishing_readers_cost_the_others_nothing():
    clock = FakeClock()
    engine = make_engine(clock, {f"c{i:03d}": [0.01] for i in range(150)}, interval=5)
    await engine.start()
    server = await serve(engine, host="127.0.0.1", port=0, token=TOKEN)
    await clock.advance(100)  # 20 results per check: a document of several hundred KB
    renders = 0
    render = server.agent._render_state

    async def counted(results: bool = True) -> bytes:
        nonlocal renders
        renders += 1
        return await render(results)

    server.agent._render_state = counted
    request = f"GET /api/state HTTP/1.1\r\nHost: 127.0.0.1:{server.port}\r\n\r\n".encode()

    async def open_raw() -> tuple[asyncio.StreamReader, asyncio.StreamWriter, socket.socket]:
        sock = socket.socket()
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)  # a reader that takes very little
        sock.setblocking(False)
        await asyncio.get_running_loop().sock_connect(sock, ("127.0.0.1", server.port))
        reader, writer = await asyncio.open_connection(sock=sock)
        return reader, writer, sock

    try:
        silent = await open_raw()  # connects, says nothing
        stalled = await open_raw()  # asks, never reads
        stalled[1].write(request)
        vanishing = await open_raw()  # asks, reads a little, then resets the connection
        vanishing[1].write(request)
        await vanishing[1].drain()
        assert (await vanishing[0].read(100)).startswith(b"HTTP/1.1 200")
        vanishing[2].setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        vanishing[1].close()

        async with httpx.AsyncClient(base_url=server.url, timeout=10) as client:
            replies = await asyncio.gather(*(client.get("/api/state") for _ in range(50)))
            assert all(r.status_code == 200 for r in replies)
            assert len({r.content for r in replies}) == 1 and len(replies[0].content) > 300_000
            assert renders <= 2  # 50 readers of an unchanged board share the render (the stalled one may own it)
            await clock.advance(5)  # the engine keeps running...
            again = await client.get("/api/state")
            assert again.json()["generated_at"] == clock.wall()  # ...and the next read sees it
            assert (await client.get("/healthz")).status_code == 200
        await asyncio.wait_for(server.stop(), 10)  # the stalled reader does not hold shutdown hostage
        for _, writer, _ in (silent, stalled):
            writer.close()
    finally:
        await server.stop()
        await engine.stop()
