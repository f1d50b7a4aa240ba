"""Secrets never leave through an output path: a real `healthdash agent` and `healthdash check`
run checks whose program and server echo the secret back, and notify targets that echo it in
their errors. The secret must reach the servers that need it, and nothing else: not the
agent's /api/state or /metrics, not webhook or Alertmanager payloads, not the log file, not
`healthdash timeline`, not the terminal."""

from __future__ import annotations

import json
import os
import re
import signal
import stat
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from dash.text import REDACTED
from tests.badinput.run import healthdash, run_many
from tests.security.receiver import Receiver

pytestmark = pytest.mark.e2e

SECRET = "hd-s3cret-9f8e7d6c5b4a"  # substituted from ${HD_SECRET}
LITERAL = "lit-t0ken-0a1b2c3d4e"  # written in the file as a credential header's value
TOKEN = "agent-t0ken-77aa88bb99"  # the agent's bearer token, from --token-env
ENV = {"HD_SECRET": SECRET, "HD_TOKEN": TOKEN}


def config_text(receiver: Receiver, state_dir: Path | None) -> str:
    dashboard = f'[dashboard]\ntitle = "security review"\nstate_dir = "{state_dir}"\n' if state_dir else ""
    return dashboard + f"""
[defaults]
interval = "1s"
timeout = "1s"
retries = 0
confirm = 1

[[check]]
name = "leaky-plugin"
kind = "exec"
command = ["sh", "-c", "echo \\"CRITICAL - login as app/$1 failed\\"; echo \\"long text: $1\\"; exit 2", "sh", "${{HD_SECRET}}"]

[[check]]
name = "leaky-server"
kind = "http"
url = "{receiver.url('/echo?token=${HD_SECRET}')}"
headers = {{ Authorization = "Bearer ${{HD_SECRET}}", X-Literal-Token = "{LITERAL}" }}
expect.body_contains = "{SECRET[:6]}"
"""


NOTIFY = """
[[notify]]
kind = "webhook"
url = "{hook}"
headers = {{ Authorization = "Bearer ${{HD_SECRET}}" }}
min_priority = "P4"
retries = 0

[[notify]]
kind = "alertmanager"
url = "{am}"
headers = {{ Authorization = "Bearer ${{HD_SECRET}}" }}
min_priority = "P4"
retries = 0
"""


@dataclass
class AgentRun:
    receiver: Receiver
    state: str
    metrics: str
    agent_output: str
    log: str
    timeline_md: str
    timeline_json: str
    xdg: Path
    state_dir: Path
    writes: tuple[int, int, int]  # POST /api/note: no token, a wrong one, the right one


def _wait(condition, seconds: float = 20.0) -> bool:
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        if condition():
            return True
        time.sleep(0.05)
    return condition()


@pytest.fixture(scope="module")
def agent_run(tmp_path_factory) -> AgentRun:
    tmp = tmp_path_factory.mktemp("agent")
    xdg, state_dir = tmp / "xdg", tmp / "history"
    with Receiver() as receiver:
        config = tmp / "dash.toml"
        config.write_text(config_text(receiver, state_dir)
                          + NOTIFY.format(hook=receiver.url("/hook?key=${HD_SECRET}"), am=receiver.url("")))
        env = {**os.environ, **ENV, "XDG_STATE_HOME": str(xdg)}
        proc = subprocess.Popen(
            [sys.executable, "-m", "dash", "agent", "-c", str(config), "--listen", "127.0.0.1:0", "--token-env", "HD_TOKEN"],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, stdin=subprocess.DEVNULL,
        )
        watchdog = threading.Timer(60, proc.kill)  # a hang fails this test, not the suite
        watchdog.start()
        try:
            first = proc.stderr.readline()
            found = re.search(r"serving on (http://127\.0\.0\.1:\d+)", first)
            assert found, first + proc.stderr.read()
            url = found.group(1)

            def ready() -> bool:
                state = httpx.get(f"{url}/api/state").json()
                details = {c["name"]: c["detail"] for c in state["checks"]}
                return bool(details.get("leaky-server") and receiver.seen("/hook") and receiver.seen("/api/v2/alerts"))

            assert _wait(ready), "the checks ran, an alert fired and both targets heard of it"
            state = httpx.get(f"{url}/api/state").text
            metrics = httpx.get(f"{url}/metrics").text
            writes = tuple(
                httpx.post(f"{url}/api/note", json={"text": "deploying"}, headers=headers).status_code
                for headers in ({}, {"Authorization": "Bearer nope"}, {"Authorization": f"Bearer {TOKEN}"})
            )
            proc.send_signal(signal.SIGTERM)
            out, err = proc.communicate(timeout=30)
            assert proc.returncode == 0, err
        finally:
            watchdog.cancel()
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        timeline = [healthdash("timeline", "-c", str(config), "--since", "1h", *fmt, state=xdg, env=ENV)
                    for fmt in ((), ("--format", "json"))]
        for t in timeline:
            assert t.returncode == 0, t.stderr
        log = (xdg / "healthdash" / "healthdash.log").read_text()
        return AgentRun(receiver, state, metrics, first + out + err, log, timeline[0].stdout,
                        timeline[1].stdout, xdg, state_dir, writes)


def assert_no_secret(text: str) -> None:
    for secret in (SECRET, LITERAL, TOKEN):
        assert secret not in text, f"{secret} leaked"
    assert SECRET[:12] not in text  # not even a recognisable part of it


def test_the_secrets_reach_the_servers_that_need_them(agent_run: AgentRun):
    echo, hook, am = (agent_run.receiver.seen(p) for p in ("/echo", "/hook", "/api/v2/alerts"))
    assert echo[0].path == f"/echo?token={SECRET}"
    assert echo[0].headers["authorization"] == f"Bearer {SECRET}"
    assert echo[0].headers["x-literal-token"] == LITERAL
    assert hook[0].path == f"/hook?key={SECRET}" and hook[0].headers["authorization"] == f"Bearer {SECRET}"
    assert am[0].headers["authorization"] == f"Bearer {SECRET}"


def test_api_state_and_metrics_never_show_a_secret(agent_run: AgentRun):
    assert_no_secret(agent_run.state)
    assert_no_secret(agent_run.metrics)
    checks = {c["name"]: c for c in json.loads(agent_run.state)["checks"]}
    assert checks["leaky-plugin"]["message"] == f"CRITICAL - login as app/{REDACTED} failed"  # it was in play
    assert REDACTED in checks["leaky-plugin"]["detail"]
    server = checks["leaky-server"]
    # The ${VAR} in the URL, the Authorization header and the literal credential header: all masked.
    assert server["detail"] == f"you asked for /echo?token={REDACTED} with {REDACTED} and {REDACTED}"
    assert 'healthdash_check_up{check="leaky-plugin"' in agent_run.metrics
    assert f"127.0.0.1:{agent_run.receiver.port}" not in agent_run.state + agent_run.metrics  # no URL is served


def test_webhook_and_alertmanager_payloads_mask_secrets(agent_run: AgentRun):
    for prefix in ("/hook", "/api/v2/alerts"):
        bodies = [r.body.decode() for r in agent_run.receiver.seen(prefix)]
        assert bodies
        for body in bodies:
            assert_no_secret(body)
        assert any(f"app/{REDACTED} failed" in body for body in bodies), bodies


def test_the_log_file_never_shows_a_secret_or_the_token(agent_run: AgentRun):
    assert "401 Unauthorized" in agent_run.log  # the failing webhook was logged, echoed credentials and all
    assert_no_secret(agent_run.log)


def test_timeline_export_never_shows_a_secret(agent_run: AgentRun):
    for text in (agent_run.timeline_md, agent_run.timeline_json):
        assert "leaky-plugin" in text
        assert_no_secret(text)
    assert any(REDACTED in e["text"] for e in json.loads(agent_run.timeline_json)["events"])


def test_writes_need_the_token_from_the_environment(agent_run: AgentRun):
    assert agent_run.writes == (401, 401, 200)


def test_the_agent_never_prints_the_token_or_a_secret(agent_run: AgentRun):
    assert "serving on http://127.0.0.1:" in agent_run.agent_output
    assert_no_secret(agent_run.agent_output)


def test_state_directory_history_and_log_are_private_after_a_real_run(agent_run: AgentRun):
    assert stat.S_IMODE(agent_run.state_dir.stat().st_mode) == 0o700
    assert stat.S_IMODE((agent_run.state_dir / "history.db").stat().st_mode) == 0o600
    assert stat.S_IMODE((agent_run.xdg / "healthdash").stat().st_mode) == 0o700  # the log's directory


def test_check_never_prints_a_secret(tmp_path):
    with Receiver() as receiver:
        config = tmp_path / "dash.toml"
        config.write_text(config_text(receiver, None))
        table, as_json = run_many([("check", "-c", str(config)), ("check", "-c", str(config), "--format", "json")],
                                  state=tmp_path / "xdg", env=ENV)
        assert receiver.seen("/echo")[0].headers["authorization"] == f"Bearer {SECRET}"
    for proc in (table, as_json):
        assert proc.returncode == 2, proc.stderr
        assert_no_secret(proc.stdout + proc.stderr)
    assert f"CRITICAL - login as app/{REDACTED} failed" in table.stdout
    checks = {c["name"]: c for c in json.loads(as_json.stdout)["checks"]}
    assert checks["leaky-plugin"]["message"] == f"CRITICAL - login as app/{REDACTED} failed"
    assert checks["leaky-server"]["message"] == "500 Internal Server Error"


def test_validate_never_prints_a_secret(tmp_path):
    config = tmp_path / "dash.toml"
    config.write_text(  # every way a value can be wrong, each holding the secret
        '[[check]]\nname = "x"\nkind = "http"\nurl = "ftp://${HD_SECRET}/"\nmethod = "${HD_SECRET}"\n'
        'max_redirects = "${HD_SECRET}"\ntimeout = "${HD_SECRET}"\nexpect.body_regex = "(${HD_SECRET}"\n'
        '[[notify]]\nkind = "webhook"\nurl = "${HD_SECRET}"\n'
        '[dashboard]\ntitle = "${HD_SECRET}\\u0007"\n'
    )
    proc = healthdash("validate", "-c", str(config), state=tmp_path / "xdg", env=ENV)
    assert proc.returncode == 2
    assert len(proc.stderr.splitlines()) >= 6
    assert_no_secret(proc.stdout + proc.stderr)


def test_a_substituted_check_name_is_never_printed(tmp_path):
    config = tmp_path / "dash.toml"
    config.write_text('[[check]]\nname = "db-${HD_SECRET}"\nkind = "exec"\ncommand = ["true"]\n')
    proc = healthdash("check", "-c", str(config), state=tmp_path / "xdg", env=ENV)
    assert_no_secret(proc.stdout + proc.stderr)


def test_plugins_never_see_the_agents_token(tmp_path):
    config = tmp_path / "dash.toml"
    config.write_text('[[check]]\nname = "env"\nkind = "exec"\ncommand = ["sh", "-c", "echo \\"token=$HD_TOKEN\\""]\n'
                      'interval = "1s"\ntimeout = "1s"\n')
    env = {**os.environ, **ENV, "XDG_STATE_HOME": str(tmp_path / "xdg")}
    proc = subprocess.Popen(
        [sys.executable, "-m", "dash", "agent", "-c", str(config), "--listen", "127.0.0.1:0", "--token-env", "HD_TOKEN"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, stdin=subprocess.DEVNULL,
    )
    try:
        url = re.search(r"serving on (http://\S+)", proc.stderr.readline()).group(1)
        message = lambda: httpx.get(f"{url}/api/state").json()["checks"][0]["message"]  # noqa: E731
        assert _wait(lambda: message().startswith("token="))
        assert message() == "token=", "the plugin read the agent's token from its environment"
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.communicate(timeout=30)
