"""The http check kind against real loopback servers (plain and TLS) from tests/servers.py."""

from __future__ import annotations

import asyncio
import datetime
import socket
import time
from typing import Any

import httpx
import psutil
import pytest
import trustme

from checks import http
from checks.base import Field, Resources
from dash.config import CheckConfig
from dash.model import Outcome, Reason, Status
from tests.servers import MARKUP_BODY, FaultFarm, server_context

DEADLINE = 2.0  # what the engine would give a check; every test here finishes far sooner


def _defaults(fields: dict[str, Field]) -> dict[str, Any]:
    return {
        name: _defaults(f.fields) if f.type == "table" and f.fields else f.default
        for name, f in fields.items()
    }


def options(**overrides: Any) -> dict[str, Any]:
    """Every declared option with its default, as the config loader fills them; tables merge."""
    opts = _defaults(http.FIELDS)
    for key, value in overrides.items():
        if isinstance(value, dict) and isinstance(opts.get(key), dict):
            merged = dict(opts[key])
            for sub, subvalue in value.items():
                if isinstance(subvalue, dict) and isinstance(merged.get(sub), dict):
                    merged[sub] = {**merged[sub], **subvalue}
                else:
                    merged[sub] = subvalue
            opts[key] = merged
        else:
            opts[key] = value
    return opts


def config(secrets: frozenset[str] = frozenset(), **overrides: Any) -> CheckConfig:
    return CheckConfig(
        name="api", kind="http", interval=10.0, timeout=DEADLINE, retries=0,
        options=options(**overrides), secrets=secrets,
    )


async def run(resources: Resources, **overrides: Any) -> Outcome:
    """One attempt with the engine's deadline around it."""
    probe = http.make(config(**overrides), resources)
    return await asyncio.wait_for(probe.probe(), DEADLINE)


async def wait_until(predicate, seconds: float = 2.0) -> bool:
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        if predicate():
            return True
        await asyncio.sleep(0.01)
    return predicate()


@pytest.fixture(scope="module")
def farm():
    with FaultFarm() as server:
        yield server


@pytest.fixture(scope="module")
def ca():
    return trustme.CA()


@pytest.fixture(scope="module")
def ca_file(ca, tmp_path_factory):
    path = tmp_path_factory.mktemp("tls") / "ca.pem"
    ca.cert_pem.write_to_path(str(path))
    return str(path)


@pytest.fixture(scope="module")
def tls_farm(ca):
    with FaultFarm(server_context(ca.issue_cert("localhost"))) as server:
        yield server


@pytest.fixture(scope="module")
def expired_farm(ca):
    cert = ca.issue_cert(
        "localhost",
        not_before=datetime.datetime(2020, 1, 1),
        not_after=datetime.datetime(2020, 2, 1),
    )
    with FaultFarm(server_context(cert)) as server:
        yield server


@pytest.fixture(scope="module")
def wrong_host_farm(ca):
    with FaultFarm(server_context(ca.issue_cert("other.example"))) as server:
        yield server


def metric(outcome: Outcome, name: str) -> float:
    return next(m.value for m in outcome.metrics if m.name == name)


# --- status and body -------------------------------------------------------------------


async def test_ok_with_json_equals(farm, resources):
    out = await run(resources, url=farm.url("/ok"), expect={"json": {"path": "status", "equals": "UP"}})
    assert out.status is Status.OK and out.reason is Reason.OK
    assert out.message.startswith("200 OK in ") and out.message.endswith(" ms")
    assert metric(out, "status_code") == 200
    assert metric(out, "bytes") == len(b'{"status":"UP"}')
    assert metric(out, "latency_ms") >= 0
    assert out.detail == '{"status":"UP"}'


async def test_json_value_differs(farm, resources):
    out = await run(resources, url=farm.url("/ok"), expect={"json": {"path": "status", "equals": "DOWN"}})
    assert (out.status, out.reason) == (Status.CRIT, Reason.ASSERTION)
    assert out.message == "json path status = 'UP', expected 'DOWN'"
    assert not out.retryable


async def test_json_path_missing(farm, resources):
    out = await run(resources, url=farm.url("/ok"), expect={"json": {"path": "data.items.0.state"}})
    assert (out.status, out.reason) == (Status.CRIT, Reason.ASSERTION)
    assert out.message == "json path data.items.0.state not found"


async def test_bad_json(farm, resources):
    out = await run(resources, url=farm.url("/badjson"), expect={"json": {"path": "status", "equals": "UP"}})
    assert (out.status, out.reason) == (Status.CRIT, Reason.ASSERTION)
    assert out.message == "response is not valid JSON"
    assert '"status": "UP"' in out.detail


async def test_503_is_retryable_http_status(farm, resources):
    out = await run(resources, url=farm.url("/status/503"))
    assert (out.status, out.reason, out.retryable) == (Status.CRIT, Reason.HTTP_STATUS, True)
    assert out.message == "503 Service Unavailable"
    assert metric(out, "status_code") == 503
    assert "503 Service Unavailable" in out.detail


async def test_unexpected_404_is_not_retryable(farm, resources):
    out = await run(resources, url=farm.url("/status/404"), expect={"status": [200]})
    assert (out.status, out.reason, out.retryable) == (Status.CRIT, Reason.HTTP_STATUS, False)
    assert out.message == "expected status 200, got 404 Not Found"


async def test_listed_status_codes(farm, resources):
    two = await run(resources, url=farm.url("/status/418"), expect={"status": [200, 204]})
    assert two.message == "expected status 200,204, got 418 I'm a Teapot"
    listed = await run(resources, url=farm.url("/status/503"), expect={"status": [503]})
    assert listed.status is Status.OK
    assert listed.message.startswith("503 Service Unavailable in ")


async def test_body_contains_and_regex(farm, resources):
    miss = await run(resources, url=farm.url("/ok"), expect={"body_contains": "DOWN"})
    assert (miss.status, miss.reason) == (Status.CRIT, Reason.ASSERTION)
    assert miss.message == "body does not contain 'DOWN'"
    hit = await run(resources, url=farm.url("/ok"), expect={"body_contains": '"UP"', "body_regex": r'"status"\s*:'})
    assert hit.status is Status.OK
    nomatch = await run(resources, url=farm.url("/ok"), expect={"body_regex": r"^\d+$"})
    assert nomatch.message == r"body does not match /^\d+$/"


async def test_head_request(farm, resources):
    out = await run(resources, url=farm.url("/ok"), method="HEAD")
    assert out.status is Status.OK
    assert metric(out, "bytes") == 0


async def test_latency_thresholds(farm, resources):
    warn = await run(resources, url=farm.url("/slow/60"), warn={"latency": 0.02}, crit={"latency": 5.0})
    assert (warn.status, warn.reason) == (Status.WARN, Reason.THRESHOLD)
    assert "(over warn 20.0 ms)" in warn.message or "(over warn 20 ms)" in warn.message
    crit = await run(resources, url=farm.url("/slow/60"), warn={"latency": 0.01}, crit={"latency": 0.02})
    assert (crit.status, crit.reason) == (Status.CRIT, Reason.THRESHOLD)
    assert "over crit" in crit.message
    latency = next(m for m in crit.metrics if m.name == "latency_ms")
    assert (latency.unit, latency.warn, latency.crit) == ("ms", 10.0, 20.0)
    # A failing status is reported as such, not as slowness.
    failing = await run(resources, url=farm.url("/status/500"), crit={"latency": 0.000001})
    assert failing.reason is Reason.HTTP_STATUS


# --- connections ------------------------------------------------------------------------


async def test_refused_port(resources):
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    out = await run(resources, url=f"http://127.0.0.1:{port}/")
    assert (out.status, out.reason, out.retryable) == (Status.CRIT, Reason.CONNECT, True)
    assert out.message == "connection refused"


async def test_reset_connection(farm, resources):
    out = await run(resources, url=farm.url("/reset"))
    assert (out.status, out.reason, out.retryable) == (Status.CRIT, Reason.CONNECT, True)
    assert out.message == "connection reset by peer"


async def test_connections_are_kept_alive_across_probes(resources):
    with FaultFarm() as own:
        first = http.make(config(url=own.url("/ok")), resources)
        second = http.make(config(url=own.url("/status/204")), resources)
        for probe in (first, second, first):
            assert (await probe.probe()).status is Status.OK
        assert own.requests == 3
        assert own.connections == 1


async def test_one_client_per_tls_setting(farm, ca_file, resources):
    http.make(config(url=farm.url("/ok")), resources)
    http.make(config(url=farm.url("/status/500")), resources)
    http.make(config(url=farm.url("/ok"), ca_file=ca_file), resources)
    http.make(config(url=farm.url("/ok"), insecure=True), resources)
    clients = [v for k, v in resources.cache.items() if k[0] == "http-client"]
    assert len(clients) == 3
    assert len(resources.closers) == 3


def test_dns_failures_are_named():
    nxdomain = httpx.ConnectError("boom")
    nxdomain.__cause__ = socket.gaierror(socket.EAI_NONAME, "Name or service not known")
    out = http.describe_error(nxdomain, "db.internal", 5)
    assert (out.reason, out.retryable) == (Reason.DNS, False)
    assert out.message == "DNS lookup failed for db.internal: Name or service not known"
    flaky = httpx.ConnectError("boom")
    flaky.__cause__ = socket.gaierror(socket.EAI_AGAIN, "Temporary failure in name resolution")
    assert http.describe_error(flaky, "db.internal", 5).retryable


# --- TLS -----------------------------------------------------------------------------


async def test_tls_untrusted(tls_farm, resources):
    out = await run(resources, url=tls_farm.url("/ok", host="localhost"))
    assert (out.status, out.reason, out.retryable) == (Status.CRIT, Reason.TLS, False)
    assert out.message == "TLS: certificate not trusted (self-signed or unknown CA)"


async def test_tls_expired(expired_farm, ca_file, resources):
    out = await run(resources, url=expired_farm.url("/ok", host="localhost"), ca_file=ca_file)
    assert (out.status, out.reason, out.retryable) == (Status.CRIT, Reason.TLS, False)
    assert out.message == "TLS: certificate expired"


async def test_tls_hostname_mismatch(wrong_host_farm, ca_file, resources):
    out = await run(resources, url=wrong_host_farm.url("/ok", host="localhost"), ca_file=ca_file)
    assert (out.status, out.reason, out.retryable) == (Status.CRIT, Reason.TLS, False)
    assert out.message == "TLS: hostname mismatch (certificate is not valid for localhost)"


async def test_tls_with_ca_file(tls_farm, ca_file, resources):
    out = await run(resources, url=tls_farm.url("/ok", host="localhost"), ca_file=ca_file,
                    expect={"json": {"path": "status", "equals": "UP"}})
    assert out.status is Status.OK, out.message


async def test_tls_insecure_accepts_untrusted(wrong_host_farm, resources):
    out = await run(resources, url=wrong_host_farm.url("/ok", host="localhost"), insecure=True)
    assert out.status is Status.OK, out.message


async def test_unreadable_ca_file(tls_farm, tmp_path, resources):
    out = await run(resources, url=tls_farm.url("/ok", host="localhost"), ca_file=str(tmp_path / "nope.pem"))
    assert (out.status, out.reason) == (Status.CRIT, Reason.TLS)
    assert out.message.startswith("cannot load ca_file ") and "nope.pem" in out.message


# --- redirects ------------------------------------------------------------------------


async def test_redirect_loop(farm, resources):
    out = await run(resources, url=farm.url("/redirect-loop"), max_redirects=3)
    assert (out.status, out.reason, out.retryable) == (Status.CRIT, Reason.HTTP_STATUS, False)
    assert out.message == "too many redirects (more than 3), last to /redirect-loop"


async def test_redirect_not_followed(farm, resources):
    out = await run(resources, url=farm.url("/redirect-loop"), follow_redirects=False)
    assert out.status is Status.OK
    assert out.message.startswith("302 Found in ")


# --- hostile and endless responses ------------------------------------------------------


async def test_markup_and_escapes_are_neutralised(farm, resources):
    out = await run(resources, url=farm.url("/markup"))
    assert out.status is Status.OK
    assert "\x1b" not in out.detail and "\x07" not in out.detail
    assert out.detail.startswith("[bold red]x[/] click")  # shown literally, never interpreted
    assert "red" in out.detail
    assert "\x1b" in MARKUP_BODY  # the server really sent escapes


async def test_secret_headers_are_sent_but_never_shown(farm, resources):
    token = "Bearer s3cret-t0ken"
    out = await run(resources, url=farm.url("/headers"), headers={"Authorization": token},
                    expect={"json": {"path": "authorization", "equals": "nope"}})
    assert farm.last_headers["authorization"] == token
    assert out.reason is Reason.ASSERTION
    assert token not in out.message and "s3cret" not in out.message
    assert "********" in out.message
    assert "s3cret" not in out.detail


async def test_huge_body_hits_the_limit_fast(farm, resources):
    rss_before = psutil.Process().memory_info().rss
    for path, expect in [("/huge", None), ("/huge?declare=1", None), ("/huge", {"body_contains": "never"})]:
        # run() gives it the engine's deadline: finishing at all means finishing fast.
        out = await run(resources, url=farm.url(path), max_body=1048576, **({"expect": expect} if expect else {}))
        assert (out.status, out.reason) == (Status.CRIT, Reason.BODY_LIMIT)
        assert "max_body 1 MiB" in out.message
        assert metric(out, "bytes") <= 1048576
    assert psutil.Process().memory_info().rss - rss_before < 64 * 1024 * 1024


async def test_hang_is_cancelled_cleanly(resources):
    with FaultFarm() as own:
        probe = http.make(config(url=own.url("/hang")), resources)
        with pytest.raises(asyncio.TimeoutError):  # as the engine's deadline would
            await asyncio.wait_for(probe.probe(), 0.3)
        assert own.requests == 1
        assert await wait_until(lambda: own.open_connections == 0)  # our socket was closed
        # The shared client is still usable afterwards.
        assert (await run(resources, url=own.url("/ok"))).status is Status.OK


async def test_trickle_with_body_assertion_is_cancelled_cleanly(resources):
    with FaultFarm() as own:
        probe = http.make(config(url=own.url("/trickle?every=50"), expect={"body_contains": "never"}), resources)
        task = asyncio.create_task(probe.probe())
        assert await wait_until(lambda: own.requests == 1)
        await asyncio.sleep(0.1)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert await wait_until(lambda: own.open_connections == 0)


async def test_trickling_body_runs_into_the_deadline(resources):
    # A body that never finishes is not a healthy answer, even for a status-only check.
    with FaultFarm() as own:
        probe = http.make(config(url=own.url("/trickle?every=50")), resources)
        with pytest.raises(asyncio.TimeoutError):
            await asyncio.wait_for(probe.probe(), 0.4)
        assert await wait_until(lambda: own.open_connections == 0)


# --- the schema --------------------------------------------------------------------------


def test_field_validators():
    assert http.FIELDS["url"].validate("ftp://host/x")
    assert http.FIELDS["url"].validate("not a url")
    assert http.FIELDS["url"].validate("https://status.example.com/health") is None
    regex = http.FIELDS["expect"].fields["body_regex"]
    assert "regular expression" in regex.validate("(unclosed")
    assert regex.validate(r"ok|up") is None
    assert http.FIELDS["expect"].fields["status"].validate([200, 999])
    assert http.FIELDS["method"].choices and "GET" in http.FIELDS["method"].choices
    assert http.FIELDS["max_body"].default == 1048576
    assert http.FIELDS["insecure"].default is False
