"""`healthdash check` and `validate` as a user runs them: real subprocesses, real servers."""

from __future__ import annotations

import datetime
import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest
import trustme

from tests.servers import FaultFarm, server_context

pytestmark = pytest.mark.e2e


def healthdash(*args: str, env: dict[str, str] | None = None, cwd: Path | None = None) -> subprocess.CompletedProcess:
    full_env = {**os.environ, **(env or {})}
    if not env or "HEALTHDASH_CONFIG" not in env:
        full_env.pop("HEALTHDASH_CONFIG", None)
    return subprocess.run(
        [sys.executable, "-m", "dash", *args], capture_output=True, text=True, env=full_env, cwd=cwd, timeout=60
    )


def refused_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def farms():
    ca = trustme.CA()
    expired = ca.issue_cert("localhost", not_after=datetime.datetime(2020, 2, 1), not_before=datetime.datetime(2020, 1, 1))
    with FaultFarm() as plain, FaultFarm(ssl_context=server_context(expired)) as tls:
        ca_path = Path(os.environ.get("TMPDIR", "/tmp")) / f"healthdash-test-ca-{os.getpid()}.pem"
        ca.cert_pem.write_to_path(str(ca_path))
        yield plain, tls, str(ca_path)
        ca_path.unlink(missing_ok=True)


EXPECTED = {
    # name: (path, status, reason)
    "hang": ("/hang", "crit", "timeout"),
    "trickle": ("/trickle", "crit", "timeout"),
    "ten-gb": ("/huge?declare=1", "crit", "body_limit"),
    "endless": ("/huge", "crit", "body_limit"),
    "reset": ("/reset", "crit", "connect"),
    "unavailable": ("/status/503", "crit", "http_status"),
    "bad-json": ("/badjson", "crit", "assertion"),
    "healthy": ("/ok", "ok", "ok"),
}


def test_check_gives_each_broken_endpoint_its_reason_within_its_deadline(farms, tmp_path):
    plain, tls, ca_file = farms
    timeout = 2.0
    lines = ["[defaults]", f'timeout = "{timeout:g}s"', 'interval = "10s"', "retries = 1"]
    for name, (path, _, _) in EXPECTED.items():
        lines += ["[[check]]", f'name = "{name}"', 'kind = "http"', f'url = "{plain.url(path)}"']
        if name in ("bad-json", "healthy"):
            lines.append('expect.json = { path = "status", equals = "UP" }')
    lines += ["[[check]]", 'name = "expired-cert"', 'kind = "http"', f'url = "{tls.url("/ok", host="localhost")}"', f'ca_file = "{ca_file}"']
    lines += ["[[check]]", 'name = "refused"', 'kind = "http"', f'url = "http://127.0.0.1:{refused_port()}/"']
    config = tmp_path / "dash.toml"
    config.write_text("\n".join(lines))

    started = time.monotonic()
    child = psutil.Popen(
        [sys.executable, "-m", "dash", "check", "-c", str(config), "--format", "json"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    peak_rss = 0
    while child.poll() is None:  # sample the process's own memory while it runs
        try:
            peak_rss = max(peak_rss, child.memory_info().rss)
        except psutil.Error:
            break
        time.sleep(0.05)
    stdout, stderr = child.communicate(timeout=30)
    wall = time.monotonic() - started
    proc = subprocess.CompletedProcess(child.args, child.returncode, stdout, stderr)
    peak_rss_mb = peak_rss / 2**20

    assert proc.returncode == 2, proc.stderr
    assert proc.stderr == ""
    results = {c["name"]: c for c in json.loads(proc.stdout)["checks"]}
    expected = {n: (s, r) for n, (_, s, r) in EXPECTED.items()}
    expected["expired-cert"] = ("crit", "tls")
    expected["refused"] = ("crit", "connect")
    assert {n: (c["status"], c["reason"]) for n, c in results.items()} == expected
    assert "expired" in results["expired-cert"]["message"]
    assert results["refused"]["attempts"] == 2  # transient: retried once
    assert results["unavailable"]["attempts"] == 2
    assert results["bad-json"]["attempts"] == 1  # not transient: never retried
    for c in results.values():
        assert c["latency_ms"] <= (timeout + 1) * 1000
    # All checks run concurrently: the run takes about one deadline, not the sum of them.
    assert wall < timeout + 1 + 5  # + interpreter start-up on a loaded machine
    assert peak_rss_mb < 150


def test_check_table_and_exit_codes(tmp_path, farms):
    plain, _, _ = farms
    config = tmp_path / "dash.toml"
    config.write_text(
        f'[[check]]\nname = "ok-one"\nkind = "http"\nurl = "{plain.url("/ok")}"\n'
        f'[[check]]\nname = "markup"\nkind = "http"\nurl = "{plain.url("/markup")}"\nexpect.body_contains = "nope"\n'
    )
    ok = healthdash("check", "-c", str(config), "--only", "ok-one")
    assert ok.returncode == 0
    assert "✔ ok" in ok.stdout and "ok-one" in ok.stdout and "markup" not in ok.stdout
    bad = healthdash("-c", str(config), "check")  # -c before the subcommand works too
    assert bad.returncode == 2
    assert "✖ crit" in bad.stdout and "assertion" in bad.stdout
    assert "\x1b" not in bad.stdout  # not a terminal: no colour, and outside text neutralised
    missing = healthdash("check", "-c", str(config), "--only", "nope")
    assert missing.returncode == 2 and "no such check: nope" in missing.stderr


def test_validate_reports_every_error_with_its_line(tmp_path):
    config = tmp_path / "dash.toml"
    config.write_text(
        '[defaults]\ninterval = "soon"\n\n'
        '[[check]]\nname = "api"\nkind = "http"\nurl = "http://127.0.0.1:1/"\ntimout = "2s"\n\n'
        '[[check]]\nname = "api"\nkind = "tcp"\nhost = "127.0.0.1"\nport = "5432"\n'
        '[[check]]\nname = "x"\nkind = "http"\nurl = "http://127.0.0.1/${HEALTHDASH_TEST_UNSET}"\n'
    )
    proc = healthdash("validate", "-c", str(config))
    assert proc.returncode == 2
    assert proc.stdout == ""
    errors = proc.stderr.strip().splitlines()
    assert len(errors) >= 4
    assert all(line.startswith(f"{config}:") for line in errors)
    text = proc.stderr
    assert f"{config}:2: defaults.interval:" in text
    assert f'{config}:8: check[api].timout: unknown key; did you mean "timeout"?' in text
    assert f"{config}:11:" in text and "duplicate" in text
    assert f"{config}:14: check[api].port:" in text or f"{config}:14: check[#2].port:" in text
    assert "HEALTHDASH_TEST_UNSET is not set" in text
    assert "Traceback" not in text


def test_validate_ok_and_secrets_never_printed(tmp_path):
    config = tmp_path / "dash.toml"
    config.write_text(
        '[[check]]\nname = "api"\nkind = "http"\nurl = "http://127.0.0.1:1/"\n'
        'headers = { Authorization = "Bearer ${HD_TOKEN}" }\n'
    )
    env = {"HD_TOKEN": "tok-0123456789"}
    proc = healthdash("validate", "-c", str(config), env=env)
    assert proc.returncode == 0
    assert proc.stdout.strip() == f"{config}: ok: 1 check (http)"
    run = healthdash("check", "-c", str(config), "--format", "json", env=env)
    assert "tok-0123456789" not in run.stdout + run.stderr


def test_config_lookup_uses_the_environment_then_the_working_directory(tmp_path):
    own = tmp_path / "own.toml"
    own.write_text('[dashboard]\ntitle = "from env"\n')
    cwd_config = tmp_path / "dash.toml"
    cwd_config.write_text('[[check]]\nname = "a"\nkind = "dns"\nhost = "localhost"\n')
    by_env = healthdash("validate", env={"HEALTHDASH_CONFIG": str(own)}, cwd=tmp_path)
    assert by_env.stdout.startswith(f"{own}: ok: 0 checks")
    by_cwd = healthdash("validate", cwd=tmp_path)
    assert by_cwd.returncode == 0 and "1 check" in by_cwd.stdout


def test_bad_input_gets_one_line_never_a_traceback(tmp_path):
    garbage = tmp_path / "garbage.toml"
    garbage.write_bytes(b"\x00\xff\xfe[[check\n\x80")
    proc = healthdash("validate", "-c", str(garbage))
    assert proc.returncode == 2
    assert len(proc.stderr.strip().splitlines()) == 1 and "Traceback" not in proc.stderr
    missing = healthdash("validate", "-c", str(tmp_path / "nope.toml"))
    assert missing.returncode == 2 and "nope.toml" in missing.stderr and "Traceback" not in missing.stderr


def test_version_and_help():
    assert healthdash("--version").stdout.strip() == "healthdash 0.1.0"
    assert healthdash("check", "--version").stdout.strip() == "healthdash 0.1.0"
    assert "validate" in healthdash("--help").stdout


def test_check_reports_services_in_words(tmp_path):
    config = tmp_path / "dash.toml"
    config.write_text(
        f'[[check]]\nname = "db"\nkind = "tcp"\nhost = "127.0.0.1"\nport = {refused_port()}\nretries = 0\n'
        '[[check]]\nname = "resolver"\nkind = "dns"\nhost = "localhost"\n'
        '[[service]]\nname = "checkout"\ntier = 1\nrequires = ["db"]\n'
        '[[service]]\nname = "search"\nrequires = ["resolver"]\noptional = { db = "results without prices" }\n'
    )
    proc = healthdash("check", "-c", str(config), "--format", "json")
    services = {s["name"]: s for s in json.loads(proc.stdout)["services"]}
    assert services["checkout"] == {"name": "checkout", "status": "down", "modes": [], "because": ["db crit"]}
    assert services["search"]["status"] == "degraded"
    assert services["search"]["modes"] == ["results without prices"]
    table = healthdash("check", "-c", str(config)).stdout
    assert "checkout  down      db crit" in table
