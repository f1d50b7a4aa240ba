"""`run_agent` as the CLI runs it, addresses, and the latency histograms."""

from __future__ import annotations

import re
import signal
import subprocess
import sys
import time

import httpx
import pytest

from dash.agent import AgentError, is_loopback, parse_listen, run_agent
from dash.agent.metrics import LatencyHistograms
from dash.config import Config
from dash.model import CheckResult, Reason, Status

SECRET = "s3cret-agent-token-value"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("127.0.0.1:9108", ("127.0.0.1", 9108)),
        ("9108", ("127.0.0.1", 9108)),
        ("[::1]:0", ("::1", 0)),
        ("localhost:80", ("localhost", 80)),
        (":9108", ("0.0.0.0", 9108)),
    ],
)
def test_listen_addresses(text, expected):
    assert parse_listen(text) == expected


@pytest.mark.parametrize(
    ("text", "error"),
    [
        ("::1:9108", "IPv6 addresses in brackets"),
        ("[::1]", "expected [IPv6]:PORT"),
        ("127.0.0.1:http", "the port must be a number from 0 to 65535"),
        ("127.0.0.1:70000", "the port must be a number from 0 to 65535"),
        ("localhost", "expected HOST:PORT"),
    ],
)
def test_bad_listen_addresses_say_what_is_expected(text, error):
    with pytest.raises(AgentError, match=re.escape(error)):
        parse_listen(text)


def test_loopback_means_loopback():
    assert all(is_loopback(h) for h in ("127.0.0.1", "127.3.2.1", "::1", "[::1]", "localhost", "LOCALHOST"))
    assert not any(is_loopback(h) for h in ("0.0.0.0", "::", "", "10.0.0.1", "localhost.example.com", "dash"))


def test_run_agent_refuses_a_public_address_without_a_token(capsys):
    assert run_agent(Config(path="t"), "0.0.0.0:9108", None) == 2
    err = capsys.readouterr().err
    assert err.startswith("healthdash agent: refusing to listen on 0.0.0.0 without a token")
    assert err.count("\n") == 1


def test_run_agent_serves_until_sigterm_and_never_shows_the_token():
    code = (
        "import sys; from dash.config import Config; from dash.agent import run_agent; "
        f"sys.exit(run_agent(Config(path='t'), '127.0.0.1:0', {SECRET!r}))"
    )
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        line = proc.stderr.readline()
        found = re.search(r"serving on (http://127\.0\.0\.1:\d+)", line)
        assert found, line
        url = found.group(1)
        deadline = time.monotonic() + 10
        while True:  # the first engine tick may be a moment away
            r = httpx.get(f"{url}/healthz")
            if r.status_code == 200 or time.monotonic() > deadline:
                break
            time.sleep(0.05)
        assert (r.status_code, r.text) == (200, "ok\n")
        assert httpx.post(f"{url}/api/note", json={"text": "x"}).status_code == 401
        r = httpx.post(f"{url}/api/note", json={"text": "deploy"}, headers={"Authorization": f"Bearer {SECRET}"})
        assert r.status_code == 200
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=10)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0, err
    assert SECRET not in line + out + err


def test_run_agent_reports_a_port_in_use(capsys):
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        assert run_agent(Config(path="t"), f"127.0.0.1:{port}", None) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"healthdash agent: cannot listen on 127.0.0.1:{port}: ")
    assert "in use" in err


def _result(check: str, latency: float, attempts: int = 1, lag: float = 0.0) -> CheckResult:
    return CheckResult(check, "fake", Status.OK, Reason.OK, "", latency, attempts, 0.0, latency, lag=lag)


def test_latency_histograms_are_cumulative_with_inclusive_bounds():
    h = LatencyHistograms(buckets=(0.1, 1.0))
    for latency in (0.05, 0.1, 0.5, 3.0):
        h.observe(_result("api", latency))
    h.observe(_result("api", 9.0, attempts=0))  # not probed: the breaker held it back
    frozen = h.frozen(["api"])["api"]
    assert frozen.counts == (2, 1, 1) and frozen.count == 4 and frozen.total == pytest.approx(3.65)
    assert h.frozen([]) == {}  # a check dropped by a reload is forgotten


def test_scheduler_lag_p99_is_over_recent_runs():
    h = LatencyHistograms(lags_kept=100)
    assert h.lag_p99() is None
    for i in range(200):
        h.observe(_result("api", 0.01, lag=0.001 * (i % 100)))
    assert h.lag_p99() == pytest.approx(0.098)
