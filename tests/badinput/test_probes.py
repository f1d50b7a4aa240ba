"""Hostile program output and HTTP responses through the real probes: a real subprocess per
plugin, a real loopback server per response. Whatever comes in, the Outcome's message is one
bounded line without control characters, its detail is bounded, and both can be printed."""

from __future__ import annotations

import asyncio
import json
import os
import re
import sys
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest

from checks import breakers, http
from checks.base import Resources
from checks.exec import ExecProbe
from dash.config import parse_config
from dash.model import Outcome, Reason, Status
from tests.checks.test_http import config as http_config

MESSAGE_LIMIT = 500  # dash.text.clean's default: every message is cut there
CONTROLS = re.compile(r"[\x00-\x1f\x7f-\x9f]")
DEADLINE = 10.0  # the engine's deadline stand-in; every case here finishes far sooner
TEN_MB = 10 * 1024 * 1024


def assert_fit_to_show(out: Outcome, detail_limit: int) -> None:
    """One line, bounded, no control characters (the detail keeps its line breaks), encodable."""
    assert len(out.message) <= MESSAGE_LIMIT, len(out.message)
    assert not CONTROLS.search(out.message), repr(out.message[:200])
    assert len(out.detail) <= detail_limit, len(out.detail)
    assert not CONTROLS.search(out.detail.replace("\n", "")), repr(out.detail[:200])
    out.message.encode("utf-8")  # printable on a UTF-8 terminal and storable in SQLite
    out.detail.encode("utf-8")
    for m in out.metrics:
        assert not CONTROLS.search(m.name + m.unit), m


# --- exec: what a plugin may print ------------------------------------------------------------

MAX_OUTPUT = 64 * 1024
# The kept output, each byte possibly shown as a 4-character \xNN escape, plus the truncation note.
EXEC_DETAIL_LIMIT = 4 * MAX_OUTPUT + 100


async def plugin(code: str) -> Outcome:
    """Run a Python snippet as an exec plugin (argv, no shell) with the engine's deadline around it."""
    return await asyncio.wait_for(ExecProbe([sys.executable, "-c", code], max_output=MAX_OUTPUT).probe(), DEADLINE)


async def test_a_10_mb_line_without_a_newline():
    out = await plugin(f"import sys; sys.stdout.write('A' * {TEN_MB})")
    assert (out.status, out.reason) == (Status.OK, Reason.OK)
    assert out.message == "A" * (MESSAGE_LIMIT - 1) + "…"
    assert out.detail.endswith(f"… output truncated: kept {MAX_OUTPUT} of {TEN_MB} bytes")
    assert_fit_to_show(out, EXEC_DETAIL_LIMIT)


async def test_nul_bytes_everywhere():
    out = await plugin(r"import sys; sys.stdout.buffer.write(b'DISK OK\x00 - \x00/ 50%\n\x00long\x00text\n' * 3000); sys.exit(1)")
    assert (out.status, out.reason) == (Status.WARN, Reason.THRESHOLD)
    assert out.message == r"DISK OK\x00 - \x00/ 50%"
    assert_fit_to_show(out, EXEC_DETAIL_LIMIT)


async def test_invalid_perfdata_is_skipped_and_the_verdict_stands():
    perf = "'unterminated=1 =2 a==3 b=nan c=1e999 d=;;; e=1;2;3;4;5;6;7 'x''y'=5 \x1b[31m=1 \x00=2 ok=5ms;1:;@2:3;0;10 u=U"
    out = await plugin(f"print({'CHECK CRITICAL - broken | ' + perf!r}); raise SystemExit(2)")
    assert (out.status, out.reason, out.message) == (Status.CRIT, Reason.THRESHOLD, "CHECK CRITICAL - broken")
    # A label that is only an escape sequence is empty once cleaned (skipped); a NUL one shows as the text \x00.
    assert [(m.name, m.value, m.unit, m.warn, m.min, m.max) for m in out.metrics] == [
        ("\\x00", 2.0, "", None, None, None), ("ok", 5.0, "ms", None, 0.0, 10.0)]
    assert_fit_to_show(out, EXEC_DETAIL_LIMIT)


async def test_perfdata_garbage_on_many_lines_never_breaks_the_check():
    # Every line after a "|" in the long text is perfdata: 64 KiB of it, all junk.
    out = await plugin(r"import sys; print('OK | =;'); sys.stdout.write(('|' + '=' * 50 + ' \x00=\x00 ;;;=;;\n') * 5000)")
    assert (out.status, out.message, out.metrics) == (Status.OK, "OK", ())
    assert_fit_to_show(out, EXEC_DETAIL_LIMIT)


async def test_invalid_utf8_becomes_replacement_characters():
    out = await plugin(r"import sys; sys.stdout.buffer.write(b'\xff\xfe LOAD OK \xc3\x28 \xed\xa0\x80 | load1=0.5\n')")
    assert out.status is Status.OK
    assert out.message == "\ufffd\ufffd LOAD OK \ufffd( \ufffd\ufffd\ufffd"
    assert [m.name for m in out.metrics] == ["load1"]
    assert_fit_to_show(out, EXEC_DETAIL_LIMIT)


async def test_a_100k_line_output():
    out = await plugin("import sys; sys.stdout.write(''.join(f'line {i} \\x1b[2J\\x07\\n' for i in range(100_000))); sys.exit(3)")
    assert (out.status, out.reason, out.message) == (Status.UNKNOWN, Reason.EXEC, r"line 0 \x07")
    assert "\x1b" not in out.detail and out.detail.count("\n") < 10_000
    assert "output truncated" in out.detail
    assert_fit_to_show(out, EXEC_DETAIL_LIMIT)


async def test_terminal_escapes_and_overwrites_are_neutralised():
    code = r"import sys; sys.stdout.write('\x1b]0;pwned\x07\x1b[2J\x1b[31mRED\x9b31m \r\rover\x08\x08 | x=1\n'); sys.exit(2)"
    out = await plugin(code)
    assert (out.status, out.message) == (Status.CRIT, r"RED  over\x08\x08")
    assert_fit_to_show(out, EXEC_DETAIL_LIMIT)


async def test_5_mb_on_stderr_only_with_an_odd_exit_code():
    out = await plugin("import sys; sys.stderr.write('E' * 5_000_000); sys.exit(7)")
    assert (out.status, out.reason) == (Status.UNKNOWN, Reason.EXEC)
    assert out.message.startswith("exit 7: EEEE") and len(out.message) == MESSAGE_LIMIT
    assert_fit_to_show(out, EXEC_DETAIL_LIMIT)


# --- http: what a server may answer ---------------------------------------------------------------

HTTP_DETAIL_LIMIT = http.DETAIL_CHARS
Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


def response(status: bytes, body: bytes, headers: dict[str, str] | None = None, *, length: bool = True) -> bytes:
    head = [b"HTTP/1.1 " + status, *(f"{k}: {v}".encode() for k, v in (headers or {}).items())]
    head.append(f"Content-Length: {len(body)}".encode() if length else b"Connection: close")
    return b"\r\n".join(head) + b"\r\n\r\n" + body


ANSWERS: dict[str, bytes] = {
    "/big": response(b"200 OK", b"A" * TEN_MB),
    "/big-unannounced": response(b"200 OK", b"A" * TEN_MB, length=False),
    "/garbage": response(b"200 OK", b"\x00\x01\x1b]0;pwned\x07\x1b[2J\xff\xfe\xc3\x28 [bold]x[/]\r\n" * 500),
    "/lines": response(b"200 OK", b"".join(b"line %d \x1b[1m\n" % i for i in range(100_000))),
    "/json": response(b"200 OK", json.dumps({"status": "\x1b[31m" + "D" * 5_000_000 + "\x00"}).encode(),
                      {"Content-Type": "application/json"}),
    "/phrase": response(b"503 \x1b[31mDown\x07 " + b"!" * 300, b"x"),
    "/raw": b"\x00\x01 garbage \x1b[31m not http\r\n\r\n",
    "/header": b"HTTP/1.1 200 OK\r\nX-Junk: " + b"j" * 100_000 + b"\r\nContent-Length: 0\r\n\r\n",
    "/utf16": response(b"200 OK", "odd body ✓".encode("utf-16"), {"Content-Type": "text/plain; charset=utf-16"}),
    "/bad-phrase": response(b"503 Down\x9b", b"x"),
    # A JSON "\ud800" escape decodes to a lone surrogate: a str that cannot be encoded as UTF-8.
    "/breakers": response(b"200 OK", b'{"circuitBreakers": {"pay\\ud800ment": {"state": "OPEN", "failureRate": "60.0%"}}}',
                          {"Content-Type": "application/json"}),
}


async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        path = (await reader.readline()).split()[1].decode()
        while (await reader.readline()) not in (b"\r\n", b""):
            pass
        writer.write(ANSWERS[path])
        await writer.drain()
    except (ConnectionError, IndexError):
        pass  # the client stopped reading (as it should, past max_body)
    finally:
        writer.close()


@pytest.fixture
async def server() -> AsyncIterator[str]:
    srv = await asyncio.start_server(answer, "127.0.0.1", 0)
    try:
        yield f"http://127.0.0.1:{srv.sockets[0].getsockname()[1]}"
    finally:
        srv.close()
        await srv.wait_closed()


@pytest.fixture
async def resources() -> AsyncIterator[Resources]:
    res = Resources()
    yield res
    await res.aclose()


async def fetch(resources: Resources, url: str, **options) -> Outcome:
    probe = http.make(http_config(url=url, **options), resources)
    out = await asyncio.wait_for(probe.probe(), DEADLINE)
    assert_fit_to_show(out, HTTP_DETAIL_LIMIT)
    return out


async def test_a_10_mb_body_in_one_line(server, resources):
    declared = await fetch(resources, f"{server}/big")
    assert (declared.status, declared.reason) == (Status.CRIT, Reason.BODY_LIMIT)
    assert declared.message == "200 OK: body is larger than max_body 1 MiB; not read further"
    streamed = await fetch(resources, f"{server}/big-unannounced")
    assert streamed.reason is Reason.BODY_LIMIT and len(streamed.detail) == HTTP_DETAIL_LIMIT
    allowed = await fetch(resources, f"{server}/big", max_body=16 * 1024 * 1024, expect={"body_contains": "never"})
    assert (allowed.reason, allowed.message) == (Reason.ASSERTION, "body does not contain 'never'")
    assert allowed.detail == "A" * (HTTP_DETAIL_LIMIT - 1) + "…"


async def test_nul_bytes_escapes_and_invalid_utf8_in_a_body(server, resources):
    out = await fetch(resources, f"{server}/garbage")
    assert out.status is Status.OK
    assert out.detail.startswith("\\x00\\x01\ufffd\ufffd\ufffd( [bold]x[/]\n")  # literal, never markup


async def test_a_100k_line_body(server, resources):
    out = await fetch(resources, f"{server}/lines", max_body=16 * 1024 * 1024, expect={"body_regex": "^line 99999 $"})
    assert (out.reason, out.message) == (Reason.ASSERTION, "body does not match /^line 99999 $/")
    assert out.detail.startswith("line 0 \nline 1 \n")


async def test_a_5_mb_json_string_in_an_assertion_message(server, resources):
    out = await fetch(resources, f"{server}/json", max_body=16 * 1024 * 1024,
                      expect={"json": {"path": "status", "equals": "UP"}})
    assert out.reason is Reason.ASSERTION
    assert out.message.startswith("json path status = '\\x1b[31mDDD") and out.message.endswith("expected 'UP'")


async def test_a_hostile_reason_phrase_and_a_huge_header(server, resources):
    phrase = await fetch(resources, f"{server}/phrase")
    assert (phrase.status, phrase.reason) == (Status.CRIT, Reason.HTTP_STATUS)
    assert phrase.message.startswith("503 Down\\x07 !!!")
    header = await fetch(resources, f"{server}/header")
    assert (header.status, header.reason) == (Status.CRIT, Reason.HTTP_STATUS)
    assert header.message.startswith("invalid HTTP response: ")


async def test_a_server_that_does_not_speak_http(server, resources):
    out = await fetch(resources, f"{server}/raw")
    assert (out.status, out.reason) == (Status.CRIT, Reason.HTTP_STATUS)
    assert out.message.startswith("invalid HTTP response: ")


async def test_a_body_in_another_charset(server, resources):
    out = await fetch(resources, f"{server}/utf16", expect={"body_contains": "odd body ✓"})
    assert out.status is Status.OK, out.message


async def test_a_non_utf8_reason_phrase_is_an_invalid_response_not_an_internal_error(server, resources):
    out = await fetch(resources, f"{server}/bad-phrase")
    assert (out.status, out.reason) == (Status.CRIT, Reason.HTTP_STATUS)


SURROGATE = ("dash.text.clean keeps lone surrogates (from a JSON \\ud800 escape): the text cannot be encoded, "
             "so `check` exits 70, the agent's /api/state answers 500 and the history writer dies")


def breakers_config(url: str):
    return parse_config(f'[[check]]\nname = "b"\nkind = "breakers"\nurl = "{url}"\ninterval = "1m"\n')


async def test_a_lone_surrogate_in_a_watched_apps_json_is_neutralised(server, resources):
    probe = breakers.make(breakers_config(f"{server}/breakers").checks[0], resources)
    out = await asyncio.wait_for(probe.probe(), DEADLINE)
    assert out.status is Status.WARN  # one breaker open
    assert_fit_to_show(out, HTTP_DETAIL_LIMIT)


async def test_a_lone_surrogate_does_not_crash_healthdash_check(server, tmp_path):
    path = tmp_path / "dash.toml"
    path.write_text(f'[[check]]\nname = "b"\nkind = "breakers"\nurl = "{server}/breakers"\n')
    env = {**os.environ, "XDG_STATE_HOME": str(tmp_path / "state")}
    child = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "dash", "check", "-c", str(path), "--format", "json",
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, env=env,
    )
    stdout, stderr = await asyncio.wait_for(child.communicate(), 60)  # the loop keeps serving meanwhile
    assert child.returncode == 1, stderr.decode()  # warn: the breaker is open
    assert json.loads(stdout)["checks"][0]["status"] == "warn"
