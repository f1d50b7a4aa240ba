"""Broken, hostile and absurd config files through `healthdash validate` and `healthdash check`,
as real subprocesses: every one gets one-line `FILE:LINE: ...` errors (exit 2) or runs,
never a traceback, never the internal-error exit (70), never a hang."""

from __future__ import annotations

import os
import random
import re
from pathlib import Path

import pytest

from dash.config import ConfigError, parse_config
from tests.badinput.run import INTERNAL_ERROR, error_lines, healthdash, refused_port, run_many

PORT = refused_port()

# A valid file touching most of the TOML grammar the loader meets: tables, arrays of
# tables, inline tables, dotted keys, basic/literal/multi-line strings, a multi-byte
# character (so some cuts fall inside it), comments, and services that reference checks.
VALID = f"""\
# bad-input corpus: the file every truncation starts from
[dashboard]
title = "café on-call ✓"
canary = ["loop"]

[defaults]
interval = "10s"
timeout = "2s"   # one deadline per run
retries = 0

[[check]]
name = "loop"
kind = "exec"
command = ["true"]
description = \"\"\"a
multi-line description\"\"\"
tags = ["team:web", 'literal']

[[check]]
name = "db"
kind = "tcp"
host = "127.0.0.1"
port = {PORT}
breaker = {{ name = "orders-db", min_calls = 3 }}
expect = "x"

[[service]]
name = "shop"
requires = ["db"]
optional = {{ loop = "no receipts" }}
""".encode()


@pytest.fixture
def state(tmp_path: Path) -> Path:
    return tmp_path / "xdg-state"


def write(tmp_path: Path, name: str, data: bytes | str) -> Path:
    path = tmp_path / name
    path.write_bytes(data.encode() if isinstance(data, str) else data)
    return path


def assert_runs(proc, path: Path) -> None:
    """`check` either refused the file (one-line errors) or ran it (a status exit code)."""
    if proc.returncode == 2 and proc.stdout == "":
        error_lines(proc, path)
        return
    assert proc.returncode in (0, 1, 2, 3), proc.stderr
    assert "Traceback" not in proc.stdout + proc.stderr
    assert proc.stderr == ""
    assert re.search(r"^\d+ checks: ", proc.stdout, re.MULTILINE), proc.stdout


# --- truncation ---------------------------------------------------------------------------


def test_every_prefix_of_a_valid_file_loads_or_gives_one_line_errors():
    # In-process over every byte offset (fast); the subprocess test below samples them.
    pattern = re.compile(r"dash\.toml:\d+: \S[^\n]*")
    outcomes = {"ok": 0, "refused": 0}
    for n in range(len(VALID) + 1):
        try:
            parse_config(VALID[:n], "dash.toml")
            outcomes["ok"] += 1
        except ConfigError as exc:
            outcomes["refused"] += 1
            assert exc.errors, n
            for line in exc.errors:
                assert pattern.fullmatch(line), (n, line)
    assert outcomes["ok"] > 10 and outcomes["refused"] > 100  # both kinds of prefix were met


def _cut_points() -> list[int]:
    """Offsets worth a real process: inside the multi-byte characters, strings, an inline
    table, an array-of-tables header, plus evenly spaced ones."""
    text = VALID
    marks = [text.index("é".encode()) + 1, text.index("✓".encode()) + 2, text.index(b'"""') + 5,
             text.index(b"{ name") + 9, text.index(b"[[service") + 4, text.index(b"'literal") + 3,
             text.index(b"optional") + 8]
    spaced = list(range(0, len(text), len(text) // 5))
    return sorted(set(marks + spaced + [len(text) - 1, len(text)]))


def test_truncated_files_through_validate_and_check(tmp_path, state):
    points = _cut_points()
    paths = [write(tmp_path, f"cut-{n}.toml", VALID[:n]) for n in points]
    checked = list(dict.fromkeys([*paths[::3], paths[-1]]))  # `check` on a sample, the whole file included
    procs = run_many([*(("validate", "-c", str(p)) for p in paths), *(("check", "-c", str(p)) for p in checked)],
                     state=state)
    validated, ran = procs[: len(paths)], procs[len(paths):]
    for proc, path in zip(validated, paths):
        assert proc.returncode != INTERNAL_ERROR, proc.stderr
        if proc.returncode == 0:
            assert proc.stdout.startswith(f"{path}: ok: ") and proc.stderr == ""
        else:
            error_lines(proc, path)
    assert sum(p.returncode == 2 for p in validated) >= len(paths) // 2  # most cuts break the file
    assert validated[-1].stdout == f"{paths[-1]}: ok: 2 checks (exec, tcp)\n"  # the untruncated file
    for proc, path in zip(ran, checked):
        assert_runs(proc, path)
    whole = ran[-1]
    assert whole.returncode == 2 and "✖ crit  db" in whole.stdout and "shop     down" in whole.stdout  # db is refused


# --- wrong types, unknown keys, cycles -------------------------------------------------------

MISTAKES = """\
[dashboard]
title = 5
concurrency = "many"
[defaults]
interval = 15
[[check]]
name = 3
kind = "tcp"
host = ["a"]
port = "x"
[[check]]
name = "u"
kind = "tcp"
host = "127.0.0.1"
port = 1
timout = "1s"
colour = "blue"
[bogus]
x = 1
[[service]]
name = "a"
requires = ["b"]
[[service]]
name = "b"
requires = ["c"]
[[service]]
name = "c"
requires = ["a"]
[[service]]
name = "self"
requires = ["self"]
"""


def test_wrong_types_unknown_keys_and_cycles_are_each_one_line(tmp_path, state):
    path = write(tmp_path, "dash.toml", MISTAKES)
    for proc in run_many([("validate", "-c", str(path)), ("check", "-c", str(path))], state=state):
        lines = error_lines(proc, path)
        assert f"{path}:2: dashboard.title: expected a string, got 5 (integer)" in lines
        assert f'{path}:3: dashboard.concurrency: expected an integer, got "many" (string)' in lines
        assert any(line.startswith(f"{path}:5: defaults.interval: expected a duration") for line in lines)
        assert f"{path}:7: check[#1].name: expected a string, got 3 (integer)" in lines
        assert f"{path}:9: check[#1].host: expected a string, got an array" in lines
        assert f'{path}:16: check[u].timout: unknown key; did you mean "timeout"?' in lines
        assert any(line.startswith(f"{path}:17: check[u].colour: unknown key") for line in lines)
        assert any(line.startswith(f"{path}:18: bogus: unknown key") for line in lines)
        assert f"{path}:22: service[a].requires[0]: service cycle: a -> b -> c -> a" in lines
        assert f"{path}:31: service[self].requires[0]: service cycle: self -> self" in lines


def _chain(n: int) -> str:
    """A check and n+1 services, each requiring the next: s0 -> s1 -> ... -> sN -> the check."""
    services = "".join(f'[[service]]\nname = "s{i}"\nrequires = ["s{i + 1}"]\n' for i in range(n))
    return f'[[check]]\nname = "c"\nkind = "exec"\ncommand = ["true"]\n{services}[[service]]\nname = "s{n}"\nrequires = ["c"]\n'


def test_a_long_service_chain_within_the_limits_runs(tmp_path, state):
    path = write(tmp_path, "dash.toml", _chain(150))
    check = healthdash("check", "-c", str(path), "--format", "json", state=state)
    assert check.returncode == 0, check.stderr
    assert '"name": "s0"' in check.stdout


def test_a_thousand_service_chain_is_validated_without_a_crash(tmp_path, state):
    path = write(tmp_path, "dash.toml", _chain(1000))
    proc = healthdash("validate", "-c", str(path), state=state)
    assert proc.returncode in (0, 2), proc.stderr


def test_a_chain_that_validates_also_runs(tmp_path, state):
    path = write(tmp_path, "dash.toml", _chain(480))
    validate, check = run_many([("validate", "-c", str(path)), ("check", "-c", str(path))], state=state)
    assert validate.returncode == 0, validate.stderr
    assert check.returncode != INTERNAL_ERROR, check.stderr
    assert_runs(check, path)


def test_deeply_nested_values_are_one_line_errors(tmp_path, state):
    arrays = write(tmp_path, "arrays.toml", "a = " + "[" * 5000 + "]" * 5000 + "\n")
    tables = write(tmp_path, "tables.toml", "k = " + "{a=" * 3000 + "1" + "}" * 3000 + "\n")
    procs = run_many([("validate", "-c", str(arrays)), ("check", "-c", str(tables))], state=state)
    for proc, path in zip(procs, (arrays, tables)):
        assert len(error_lines(proc, path)) == 1


# --- huge files -------------------------------------------------------------------------------


def test_a_50_mb_string_finishes_with_a_message(tmp_path, state):
    # A literal string keeps the parser's own cost low; the point is that nothing else is
    # quadratic, copies it without bound or hangs. With or without a size limit, the answer is
    # one line: "ok" today, a size error once the loader has a limit.
    big = "x" * (50 * 1024 * 1024)
    path = write(tmp_path, "dash.toml", f'[dashboard]\ntitle = \'{big}\'\n[[check]]\nname = "a"\nkind = "exec"\n'
                                        f'command = ["true"]\ndescription = \'{big[:1024]}\'\n')
    del big
    proc = healthdash("check", "-c", str(path), "--format", "json", state=state)
    assert proc.returncode != INTERNAL_ERROR, proc.stderr[:500]
    if proc.returncode == 2 and not proc.stdout:
        assert len(error_lines(proc, path)) == 1  # refused by a size limit: one line
    else:
        assert proc.returncode == 0, proc.stderr[:500]
        assert '"status": "ok"' in proc.stdout and len(proc.stdout) < 10_000  # nothing huge echoed


def test_a_config_over_the_size_limit_is_refused_in_one_line(tmp_path, state):
    filler = ("# " + "-" * 76 + "\n") * (5 * 1024 * 1024 // 80 + 1)  # 5 MiB of comment: cheap to parse
    path = write(tmp_path, "dash.toml", filler + '[dashboard]\ntitle = "too big"\n')
    [line] = error_lines(healthdash("validate", "-c", str(path), state=state), path)
    assert "MiB" in line


# --- not TOML, not text, not a file ----------------------------------------------------------------


def test_garbage_bytes_non_utf8_and_control_characters(tmp_path, state):
    rng = random.Random(20240501)
    cases = {
        "random.toml": (bytes(rng.randrange(256) for _ in range(4096)), "toml: file is not valid UTF-8 text"),
        "latin1.toml": ('[dashboard]\ntitle = "café"\n'.encode("latin-1"), "2: toml: file is not valid UTF-8 text"),
        "utf16.toml": ('[dashboard]\ntitle = "x"\n'.encode("utf-16"), "1: toml: file is not valid UTF-8 text"),
        "controls.toml": (b"\x00\x01\x02\x1b[31m\x07", "1: toml: "),
        "nul-in-string.toml": (b'[dashboard]\ntitle = "a\x00b"\n', "2: toml: "),
        "escape-key.toml": (b'"\\u001b]0;pwned\\u0007" = 1\n', "1: "),
        "elf.toml": (b"\x7fELF\x02\x01\x01\x00" + bytes(range(256)) * 4, "toml: file is not valid UTF-8 text"),
    }
    paths = {name: write(tmp_path, name, data) for name, (data, _) in cases.items()}
    both = ("random.toml", "escape-key.toml")  # `check` loads the same way: two of them suffice
    runs = [(name, "validate") for name in paths] + [(name, "check") for name in both]
    procs = run_many([(cmd, "-c", str(paths[name])) for name, cmd in runs], state=state)
    for (name, _), proc in zip(runs, procs):
        [line] = error_lines(proc, paths[name])
        assert cases[name][1] in line, line
        assert "\x1b" not in line and "\x00" not in line and "\x07" not in line


def test_a_directory_instead_of_a_file(tmp_path, state):
    folder = tmp_path / "dash.toml"
    folder.mkdir()
    for proc in run_many([("validate", "-c", str(folder)), ("check", "-c", str(folder))], state=state):
        [line] = error_lines(proc, folder)
        assert line.startswith(f"{folder}: ")  # today "no such file"; "is a directory" would say more


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads a chmod 000 file anyway (tests run as root here)")
def test_an_unreadable_file(tmp_path, state):
    path = write(tmp_path, "dash.toml", VALID)
    path.chmod(0)
    for proc in run_many([("validate", "-c", str(path)), ("check", "-c", str(path))], state=state):
        [line] = error_lines(proc, path)
        assert line == f"{path}: cannot read: Permission denied"


def test_empty_and_comment_only_files_are_an_empty_board(tmp_path, state):
    empty = write(tmp_path, "empty.toml", b"")
    comments = write(tmp_path, "comments.toml", b"# nothing here yet\n\n   # still nothing\r\n")
    bom = write(tmp_path, "bom.toml", b"\xef\xbb\xbf# saved by an editor that adds a BOM\r\n")
    paths = (empty, comments, bom)
    *validates, check = run_many([*(("validate", "-c", str(p)) for p in paths), ("check", "-c", str(comments))],
                                 state=state)
    for proc, path in zip(validates, paths):
        assert (proc.returncode, proc.stdout, proc.stderr) == (0, f"{path}: ok: 0 checks\n", "")
    assert check.returncode == 0 and check.stderr == ""
    assert check.stdout.rstrip().endswith("0 checks: no checks")
