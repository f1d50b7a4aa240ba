"""A real Prometheus scrapes a real `healthdash agent`, and a `prometheus` check queries it.

This is the "Scaling out" set-up end to end: one agent polls, Prometheus keeps the
history, and anyone can ask Prometheus about the checks.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import urllib.parse
from pathlib import Path

import pytest

from dash.config import parse_config
from dash.engine.scheduler import Engine
from dash.model import Reason, Status
from tests.integration.test_prometheus_servers import binary, free_port, get, stop, wait_until

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def agent(tmp_path_factory):
    """`healthdash agent` on a free loopback port, with one healthy and one dead check."""
    tmp = tmp_path_factory.mktemp("agent")
    dead = free_port()
    config = tmp / "dash.toml"
    config.write_text(
        f'[dashboard]\nstate_dir = "{tmp / "state"}"\n[defaults]\ninterval = "1s"\ntimeout = "1s"\n'
        '[[check]]\nname = "resolver"\nkind = "dns"\nhost = "localhost"\ninterval = "1s"\n'
        f'[[check]]\nname = "orders-db"\nkind = "tcp"\nhost = "127.0.0.1"\nport = {dead}\ninterval = "1s"\nretries = 0\n'
    )
    port = free_port()
    log = tmp / "log"
    env = {**os.environ, "XDG_STATE_HOME": str(tmp / "xdg")}
    with log.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "dash", "agent", "-c", str(config), "--listen", f"127.0.0.1:{port}"],
            stdout=out, stderr=subprocess.STDOUT, env=env,
        )
    url = f"http://127.0.0.1:{port}"
    wait_until(lambda: (get(f"{url}/healthz") or b"").strip() == b"ok", process, log, "healthdash agent")
    yield url
    stop(process)


@pytest.fixture(scope="module")
def prometheus_scraping(agent, tmp_path_factory):
    exe = binary("prometheus")
    tmp = tmp_path_factory.mktemp("prometheus-agent")
    agent_target = agent.removeprefix("http://")
    (tmp / "prometheus.yml").write_text(
        "global:\n  scrape_interval: 1s\n"
        f"scrape_configs:\n  - job_name: healthdash\n    static_configs:\n      - targets: ['{agent_target}']\n"
    )
    port = free_port()
    log = tmp / "log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [exe, f"--config.file={tmp / 'prometheus.yml'}", f"--storage.tsdb.path={tmp / 'data'}",
             f"--web.listen-address=127.0.0.1:{port}"],
            stdout=out, stderr=subprocess.STDOUT,
        )
    url = f"http://127.0.0.1:{port}"
    query = urllib.parse.quote("healthdash_check_up")

    def scraped() -> bool:
        body = get(f"{url}/api/v1/query?query={query}")
        return body is not None and len(json.loads(body)["data"]["result"]) == 2

    wait_until(scraped, process, log, "prometheus scraping the agent")
    yield url
    stop(process)


def test_prometheus_has_the_agents_checks(prometheus_scraping):
    body = get(f"{prometheus_scraping}/api/v1/query?query={urllib.parse.quote('healthdash_check_up')}")
    series = {r["metric"]["check"]: float(r["value"][1]) for r in json.loads(body)["data"]["result"]}
    assert series == {"resolver": 1.0, "orders-db": 0.0}


async def test_a_prometheus_check_over_the_agents_metrics(prometheus_scraping):
    config = parse_config(
        f"""
        [[check]]
        name = "checks-down"
        kind = "prometheus"
        url = "{prometheus_scraping}"
        query = "healthdash_check_up == 0"
        label = "check"
        empty_is = "ok"
        crit = {{ below = 1 }}
        """
    )
    engine = Engine(config)
    try:
        [result] = await engine.run_once()
    finally:
        await engine.stop()
    assert (result.status, result.reason) == (Status.CRIT, Reason.THRESHOLD)
    assert "orders-db" in result.message
    assert "resolver" not in result.message
