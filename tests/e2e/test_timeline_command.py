"""`healthdash timeline`: a post-mortem-ready Markdown timeline from the history file."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

import pytest

from dash.core.alerts import AlertEvent, EventKind
from dash.model import CheckResult, Reason, Status
from dash.store import HISTORY_FILE, Store

pytestmark = pytest.mark.e2e

SECRET = "hunter2-token-value"


def result(status: Status, at: float, message: str) -> CheckResult:
    reason = Reason.OK if status is Status.OK else Reason.HTTP_STATUS
    return CheckResult("api", "http", status, reason, message, 0.01, 1, at - 0.01, at)


def test_timeline_markdown_is_literal_redacted_and_in_order(tmp_path):
    state = tmp_path / "state"
    config = tmp_path / "dash.toml"
    config.write_text(
        f'[dashboard]\ntitle = "payments on-call"\nstate_dir = "{state}"\n'
        '[[check]]\nname = "api"\nkind = "http"\nurl = "http://127.0.0.1:1/?t=${HD_SECRET}"\n'
    )
    now = time.time()
    store = Store.open(state / HISTORY_FILE)
    store.record_result(result(Status.OK, now - 600, "200 OK"))
    store.record_result(result(Status.CRIT, now - 500, f"500 [bold red]x[/] *boom* token={SECRET}"))
    store.record_event(AlertEvent(EventKind.FIRED, "check:api:unhealthy", "api", now - 480, "P2: api crit"))
    store.add_note("rolling back release 42", at=now - 300, check="api", author="ana")
    store.record_result(result(Status.OK, now - 100, "200 OK"))
    store.record_result(result(Status.CRIT, now - 7200 * 3, "long ago"))
    store.close()

    env = {**os.environ, "HD_SECRET": SECRET}
    proc = subprocess.run(
        [sys.executable, "-m", "dash", "timeline", "-c", str(config), "--since", "1h"],
        capture_output=True, text=True, env=env, timeout=30,
    )
    assert proc.returncode == 0, proc.stderr
    md = proc.stdout
    assert md.startswith("# Timeline: payments on-call\n")
    assert SECRET not in md and "token=\\*\\*\\*\\*\\*\\*\\*\\*" in md
    assert "\\[bold red\\]x\\[/\\] \\*boom\\*" in md  # literal, not Markdown
    lines = [l for l in md.splitlines() if l.startswith("- **")]
    assert len(lines) == 4
    assert "status `api`: ok -> crit (http\\_status): 500 \\[bold red\\]x\\[/\\] \\*boom\\*" in lines[0]
    assert "alert fired `api`: P2: api crit" in lines[1]
    assert "note (ana) `api`: rolling back release 42" in lines[2]
    assert "status `api`: crit -> ok" in lines[3]
    assert "long ago" not in md

    as_json = subprocess.run(
        [sys.executable, "-m", "dash", "timeline", "-c", str(config), "--since", "1h", "--format", "json"],
        capture_output=True, text=True, env=env, timeout=30,
    )
    events = json.loads(as_json.stdout)["events"]
    assert [e["kind"] for e in events] == ["status", "alert", "note", "status"]
    assert all(SECRET not in e["text"] for e in events)


def test_timeline_with_a_bad_since_is_one_line(tmp_path):
    config = tmp_path / "dash.toml"
    config.write_text(f'[dashboard]\nstate_dir = "{tmp_path / "s"}"\n')
    proc = subprocess.run(
        [sys.executable, "-m", "dash", "timeline", "-c", str(config), "--since", "yesterday"],
        capture_output=True, text=True, timeout=30,
    )
    assert proc.returncode == 2 and len(proc.stderr.strip().splitlines()) == 1 and "--since" in proc.stderr
