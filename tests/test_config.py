"""dash.toml loading: what a user sees when the file is right, and when it is wrong."""

from __future__ import annotations

import importlib.util
import dataclasses
import math
import textwrap
from pathlib import Path
from types import SimpleNamespace

import pytest
from hypothesis import given, strategies as st

from checks.base import Field
from dash import config as config_module
from dash.config import (
    COMMON_FIELDS,
    AlertSettings,
    CheckConfig,
    ConfigError,
    MaintenanceWindow,
    RedundantGroup,
    ServiceConfig,
    _check_references,
    find_config,
    format_duration,
    load_config,
    parse_config,
    parse_duration,
    parse_size,
    parse_time,
)
from dash.core.breaker import BreakerSettings

# A fake kind, so these tests do not depend on the real check modules.
WEB = SimpleNamespace(
    KIND="web",
    FIELDS={
        "url": Field("str", required=True),
        "port": Field("int", default=80, validate=lambda v: None if 1 <= v <= 65535 else "must be from 1 to 65535"),
        "method": Field("str", default="GET", choices=("GET", "HEAD")),
        "headers": Field("str_map"),
        "ratio": Field("number"),
        "codes": Field("int_list"),
        "verify": Field("bool", default=True),
        "max_body": Field("size", default="1MiB"),
        "expect": Field("table", fields={"status": Field("int_list", default=[200]), "body": Field("str")}),
        "limits": Field("table", fields={"latency": Field("duration", required=True)}),
        "extra": Field("any"),
        "echo": Field("str", validate=lambda v: f"{v} is not allowed" if v.startswith("bad") else None),
    },
)
PING = SimpleNamespace(KIND="ping", FIELDS={"host": Field("str", required=True)})
KINDS = {"web": WEB, "ping": PING}


def parse(text: str, environ: dict[str, str] | None = None, **kw):
    return parse_config(textwrap.dedent(text), environ=environ or {}, kinds=kw.pop("kinds", KINDS), **kw)


def errors_of(text: str, environ: dict[str, str] | None = None, **kw) -> list[str]:
    with pytest.raises(ConfigError) as info:
        parse(text, environ, **kw)
    return info.value.errors


# --- the issue's config, with the real kinds ---------------------------------------

ISSUE_CONFIG = """\
[dashboard]
title = "payments on-call"

[defaults]
interval = "15s"
timeout = "5s"
retries = 2

[[check]]
name = "api"
kind = "http"
url = "https://api.internal/healthz"
headers = { Authorization = "Bearer ${API_TOKEN}" }
expect.status = [200, 204]
expect.json = { path = "status", equals = "UP" }
warn.latency = "300ms"
crit.latency = "2s"
runbook = "runbooks/api.md"
tags = ["region:us-east", "team:payments"]

[[check]]
name = "orders-db"
kind = "tcp"
host = "db.internal"
port = 5432
interval = "5s"

[[check]]
name = "api-dns"
kind = "dns"
host = "api.internal"

[[check]]
name = "api-cert"
kind = "tls"
host = "api.internal"
port = 443
warn.days = 21
crit.days = 7

[[check]]
name = "disk-root"
kind = "exec"
command = ["/usr/lib/nagios/plugins/check_disk", "-w", "20%", "-c", "10%", "-p", "/"]

[[check]]
name = "host"
kind = "host"
warn = { cpu = 85, memory = 90, disk = 85 }
crit = { cpu = 95, memory = 97, disk = 95 }
"""


def _have(*names: str) -> bool:
    return all(importlib.util.find_spec(f"checks.{n}") is not None for n in names)


needs_all_kinds = pytest.mark.skipif(
    not _have("http", "tcp", "dns", "tls", "exec", "host"), reason="not every check kind is written yet"
)
needs_http_tcp = pytest.mark.skipif(not _have("http", "tcp"), reason="checks.http / checks.tcp not written yet")


@needs_all_kinds
def test_issue_config_is_accepted_with_the_real_kinds(tmp_path: Path) -> None:
    path = tmp_path / "dash.toml"
    path.write_text(ISSUE_CONFIG)
    cfg = load_config(path, environ={"API_TOKEN": "tok-12345"})

    assert cfg.title == "payments on-call"
    assert [c.name for c in cfg.checks] == ["api", "orders-db", "api-dns", "api-cert", "disk-root", "host"]
    api = cfg.check("api")
    assert (api.kind, api.interval, api.timeout, api.retries, api.line) == ("http", 15.0, 5.0, 2, 9)
    assert api.options["headers"] == {"Authorization": "Bearer tok-12345"}
    assert list(api.options["expect"]["status"]) == [200, 204]
    assert api.options["expect"]["json"]["path"] == "status"
    assert api.options["warn"]["latency"] == pytest.approx(0.3)
    assert api.options["crit"]["latency"] == 2.0
    assert api.tags == ("region:us-east", "team:payments")
    assert api.runbook == "runbooks/api.md"
    assert api.secrets == frozenset({"tok-12345"})
    db = cfg.check("orders-db")
    assert (db.interval, db.timeout, db.options["port"]) == (5.0, 5.0, 5432)
    assert db.secrets == frozenset()
    assert list(cfg.check("disk-root").options["command"])[0] == "/usr/lib/nagios/plugins/check_disk"
    assert cfg.check("host").options["warn"]["cpu"] == 85
    assert cfg.redactor("sent Bearer tok-12345") == "sent Bearer ********"


@needs_http_tcp
def test_real_kinds_report_their_own_keys() -> None:
    errors = errors_of(
        """\
        [[check]]
        name = "api"
        kind = "http"
        url = "https://127.0.0.1/"
        expect.stauts = [200]

        [[check]]
        name = "db"
        kind = "tcp"
        host = "127.0.0.1"
        port = "abc"
        """,
        kinds=None,
    )
    assert errors == [
        'dash.toml:5: check[api].expect.stauts: unknown key; did you mean "status"?',
        'dash.toml:11: check[db].port: expected an integer, got "abc" (string)',
    ]


# --- everything wrong at once ---------------------------------------------------------

BROKEN = """\
[dashboard]
titel = "x"
concurrency = "lots"

[defaults]
interval = "15"

[[check]]
name = "api"
kind = "web"
url = "https://x/${NOPE}"
headers = { Authorization = "Bearer ${TOKEN}", X = 5 }
expect.stauts = [200]
expect.status = [200, "204"]
timout = "5s"
timeout = "1h"
interval = "5s"

[[check]]
name = "api"
kind = "wbe"
port = "${TOKEN}"

[[check]]
kind = "web"
url = "http://127.0.0.1/"
port = 70000
retries = 11
tags = "a"

[check.limits]
latncy = "1s"
"""


def test_a_broken_file_reports_every_error_on_its_own_line() -> None:
    assert errors_of(BROKEN, {"TOKEN": "s3cret-token"}) == [
        'dash.toml:2: dashboard.titel: unknown key; did you mean "title"?',
        'dash.toml:3: dashboard.concurrency: expected an integer, got "lots" (string)',
        'dash.toml:6: defaults.interval: a duration needs a unit; expected a duration like "250ms", "15s", "5m", "1h", got "15" (string)',
        "dash.toml:11: check[api].url: environment variable NOPE is not set",
        "dash.toml:12: check[api].headers.X: expected a string, got 5 (integer)",
        'dash.toml:13: check[api].expect.stauts: unknown key; did you mean "status"?',
        'dash.toml:14: check[api].expect.status[1]: expected an integer, got "204" (string)',
        'dash.toml:15: check[api].timout: unknown key; did you mean "timeout"?',
        "dash.toml:16: check[api].timeout: timeout 1h is longer than interval 5s",
        "dash.toml:20: check[api].name: duplicate check name; the first one is at line 9",
        'dash.toml:21: check[api].kind: unknown kind "wbe"; did you mean "web"? known kinds: ping, web',
        "dash.toml:24: check[#3].name: required key is missing",
        "dash.toml:27: check[#3].port: must be from 1 to 65535",
        "dash.toml:28: check[#3].retries: must be from 0 to 10, got 11",
        'dash.toml:29: check[#3].tags: expected a list of strings, got "a" (string)',
        "dash.toml:31: check[#3].limits.latency: required key is missing",
        'dash.toml:32: check[#3].limits.latncy: unknown key; did you mean "latency"?',
    ]


def test_every_error_is_one_line_starting_with_file_and_line() -> None:
    for line in errors_of(BROKEN, {"TOKEN": "s3cret-token"}):
        assert "\n" not in line
        file, number, rest = line.split(":", 2)
        assert file == "dash.toml" and number.isdigit() and rest.startswith(" ")


# --- unknown keys ---------------------------------------------------------------------


def test_typo_in_a_check_key_suggests_the_right_one() -> None:
    assert errors_of(
        """\
        [[check]]
        name = "api"
        kind = "web"
        url = "http://127.0.0.1/"
        intreval = "5s"
        """
    ) == ['dash.toml:5: check[api].intreval: unknown key; did you mean "interval"?']


def test_typo_in_a_table_name_suggests_the_right_one() -> None:
    assert errors_of(
        """\
        [[checks]]
        name = "api"
        """
    ) == ['dash.toml:1: checks: unknown key; did you mean "check"?']


def test_an_unknown_key_with_no_near_match_lists_the_allowed_ones() -> None:
    assert errors_of("[defaults]\nzzz = 1\n") == [
        "dash.toml:2: defaults.zzz: unknown key; expected one of: breaker, confirm, interval, recover, retries, timeout"
    ]


def test_single_bracket_check_table_says_to_use_double_brackets() -> None:
    assert errors_of('[check]\nname = "api"\n') == [
        "dash.toml:1: check: write each check as a [[check]] table (double brackets), got a table"
    ]


# --- types ----------------------------------------------------------------------------


def _one(body: str, environ: dict[str, str] | None = None) -> list[str]:
    """Errors of a single web check whose fourth line onward is `body`."""
    return errors_of('[[check]]\nname = "w"\nkind = "web"\nurl = "http://127.0.0.1/"\n' + body, environ)


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ('port = "abc"', 'check[w].port: expected an integer, got "abc" (string)'),
        ("port = true", "check[w].port: expected an integer, got true (boolean)"),
        ("port = 80.5", "check[w].port: expected an integer, got 80.5 (float)"),
        ('ratio = "1"', 'check[w].ratio: expected a number, got "1" (string)'),
        ("ratio = false", "check[w].ratio: expected a number, got false (boolean)"),
        ('verify = "yes"', 'check[w].verify: expected true or false, got "yes" (string)'),
        ("tags = [1]", "check[w].tags[0]: expected a string, got 1 (integer)"),
        ('codes = [200, "x"]', 'check[w].codes[1]: expected an integer, got "x" (string)'),
        ("codes = 200", "check[w].codes: expected a list of integers, got 200 (integer)"),
        ("headers = [1]", "check[w].headers: expected a table of strings, got an array"),
        ('headers = { "X Id" = 1 }', 'check[w].headers."X Id": expected a string, got 1 (integer)'),
        ("expect = 5", "check[w].expect: expected a table, got 5 (integer)"),
        ('method = "POST"', 'check[w].method: expected one of "GET", "HEAD", got "POST" (string)'),
        ('method = "GTE"', 'check[w].method: expected one of "GET", "HEAD", got "GTE" (string); did you mean "GET"?'),
        ('max_body = "lots"', 'check[w].max_body: expected a size like 512, "512B", "64KiB", "1MiB", "1MB", got "lots" (string)'),
        ("name2 = 1", 'check[w].name2: unknown key; did you mean "name"?'),
        ('echo = "bad-idea"', "check[w].echo: bad-idea is not allowed"),
        ('tags = "' + "y" * 60 + '"', "check[w].tags: expected a list of strings, got a string (not shown)"),
        ("enabled = 1", "check[w].enabled: expected true or false, got 1 (integer)"),
        ("retries = -1", "check[w].retries: must be from 0 to 10, got -1"),
    ],
)
def test_wrong_types_say_what_was_expected_and_what_was_found(body: str, message: str) -> None:
    assert _one(body) == [f"dash.toml:5: {message}"]


def test_control_characters_in_values_are_not_echoed_raw() -> None:
    (error,) = _one('port = "a\\u001b[31mb"')
    assert "\x1b" not in error
    assert error == 'dash.toml:5: check[w].port: expected an integer, got "a\\u001b[31mb" (string)'


def test_bad_check_names() -> None:
    assert errors_of('[[check]]\nname = ""\nkind = "ping"\nhost = "h"\n') == [
        "dash.toml:2: check[#1].name: a check name must not be empty"
    ]
    assert errors_of('[[check]]\nname = "a\\tb"\nkind = "ping"\nhost = "h"\n') == [
        "dash.toml:2: check[#1].name: a check name must not contain control characters"
    ]
    assert errors_of('[[check]]\nname = 5\nkind = "ping"\nhost = "h"\n') == [
        "dash.toml:2: check[#1].name: expected a string, got 5 (integer)"
    ]


# --- durations ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("250ms", 0.25), ("15s", 15), ("5m", 300), ("1h", 3600), ("1h30m", 5400),
        ("1.5s", 1.5), ("2d", 172800), (" 10s ", 10), ("1m 30s", 90), ("0s", 0), (".5s", 0.5),
    ],
)
def test_parse_duration(text: str, seconds: float) -> None:
    assert parse_duration(text) == pytest.approx(seconds)


@pytest.mark.parametrize(
    ("text", "why"),
    [
        ("", "empty duration"),
        ("15", "a duration needs a unit"),
        ("-5s", "a duration cannot be negative"),
        ("5 seconds", ""),
        ("5x", ""),
        ("s", ""),
        ("1e3s", ""),
        ("5S", ""),
        (15, ""),
        (None, ""),
    ],
)
def test_parse_duration_rejects_with_a_clear_message(text: object, why: str) -> None:
    with pytest.raises(ValueError) as info:
        parse_duration(text)
    assert 'expected a duration like "250ms", "15s", "5m", "1h"' in str(info.value)
    assert str(info.value).startswith(why)


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ('interval = "5 mins"', 'check[w].interval: expected a duration like "250ms", "15s", "5m", "1h", got "5 mins" (string)'),
        ('interval = "-5s"', 'check[w].interval: a duration cannot be negative; expected a duration like "250ms", "15s", "5m", "1h", got "-5s" (string)'),
        ("interval = 15", 'check[w].interval: expected a duration like "250ms", "15s", "5m", "1h", got 15 (integer)'),
        ('interval = "50ms"\ntimeout = "10ms"', "check[w].interval: must be at least 100ms, got 50ms"),
        ('timeout = "0s"', "check[w].timeout: must be longer than 0s"),
        ('timeout = "10s"\ninterval = "5s"', "check[w].timeout: timeout 10s is longer than interval 5s"),
    ],
)
def test_bad_durations_in_a_check(body: str, message: str) -> None:
    assert _one(body) == [f"dash.toml:5: {message}"]


def test_a_check_that_only_shortens_the_interval_is_checked_against_the_default_timeout() -> None:
    assert errors_of(
        '[defaults]\ntimeout = "5s"\n[[check]]\nname = "p"\nkind = "ping"\nhost = "h"\ninterval = "2s"\n'
    ) == ["dash.toml:7: check[p].interval: timeout 5s is longer than interval 2s"]


def test_defaults_with_timeout_longer_than_interval_are_reported_once() -> None:
    errors = errors_of(
        '[defaults]\ninterval = "5s"\ntimeout = "10s"\n'
        '[[check]]\nname = "a"\nkind = "ping"\nhost = "h"\n'
        '[[check]]\nname = "b"\nkind = "ping"\nhost = "h"\n'
    )
    assert errors == ["dash.toml:3: defaults.timeout: timeout 10s is longer than interval 5s"]


@given(
    st.lists(
        st.tuples(
            st.one_of(st.integers(0, 10_000), st.decimals(0, 10_000, places=3, allow_nan=False)),
            st.sampled_from(["ms", "s", "m", "h", "d"]),
        ),
        min_size=1,
        max_size=4,
    )
)
def test_formatted_durations_parse_back(terms: list) -> None:
    text = "".join(f"{value}{unit}" for value, unit in terms)
    expected = sum(float(value) * {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400}[unit] for value, unit in terms)
    assert parse_duration(text) == pytest.approx(expected)


@given(st.text(max_size=30))
def test_parse_duration_raises_only_value_error(text: str) -> None:
    try:
        seconds = parse_duration(text)
    except ValueError:
        return
    assert math.isfinite(seconds) and seconds >= 0


@given(st.floats(min_value=0.001, max_value=10 * 86400, allow_nan=False))
def test_format_duration_parses_back(seconds: float) -> None:
    assert parse_duration(format_duration(seconds)) == pytest.approx(seconds, abs=0.001)


def test_format_duration_reads_well() -> None:
    assert [format_duration(s) for s in (0.25, 5, 90, 3600, 5400, 1.5, 172800)] == [
        "250ms", "5s", "1m30s", "1h", "1h30m", "1.5s", "2d",
    ]


def test_parse_size() -> None:
    assert [parse_size(v) for v in (512, "512B", "64KiB", "1MiB", "1MB", "1.5kib", "2 GiB")] == [
        512, 512, 65536, 1048576, 1_000_000, 1536, 2 * 1024**3,
    ]
    for bad in (-1, True, "1XB", "", "-1KiB", 1.5, "KiB"):
        with pytest.raises(ValueError, match="expected a size like"):
            parse_size(bad)


# --- kinds and names ------------------------------------------------------------------


def test_unknown_kind_lists_the_known_kinds() -> None:
    assert errors_of('[[check]]\nname = "x"\nkind = "smtp"\nhost = "h"\n') == [
        "dash.toml:3: check[x].kind: unknown kind \"smtp\"; known kinds: ping, web"
    ]


def test_missing_kind_lists_the_known_kinds() -> None:
    assert errors_of('[[check]]\nname = "x"\n') == [
        "dash.toml:1: check[x].kind: required key is missing; known kinds: ping, web"
    ]


def test_missing_required_key_points_at_the_check_header() -> None:
    assert errors_of('[dashboard]\n\n[[check]]\nname = "x"\nkind = "web"\n') == [
        "dash.toml:3: check[x].url: required key is missing"
    ]


def test_duplicate_names_point_at_the_second() -> None:
    errors = errors_of(
        '[[check]]\nname = "a"\nkind = "ping"\nhost = "h"\n\n'
        '[[check]]\nname = "b"\nkind = "ping"\nhost = "h"\n\n'
        '[[check]]\nname = "a"\nkind = "ping"\nhost = "h"\n'
    )
    assert errors == ["dash.toml:12: check[a].name: duplicate check name; the first one is at line 2"]


# --- environment variables and secrets ------------------------------------------------


def test_missing_environment_variable() -> None:
    assert _one('headers = { Authorization = "Bearer ${API_TOKEN}" }') == [
        "dash.toml:5: check[w].headers.Authorization: environment variable API_TOKEN is not set"
    ]


def test_substitution_everywhere_and_the_literal_escape() -> None:
    cfg = parse(
        """\
        [dashboard]
        title = "${TEAM} on-call"
        [keys]
        quit = "${QUIT}"
        [[check]]
        name = "w"
        kind = "web"
        url = "http://127.0.0.1/${PATH_PART}?q=$${NOT_A_VAR}&cost=$5"
        tags = ["team:${TEAM}"]
        expect.body = "${BODY}"
        extra = { list = ["${BODY}", 1], nested = { x = "${BODY}" } }
        """,
        {"TEAM": "payments", "QUIT": "ctrl+q", "PATH_PART": "healthz", "BODY": "all-good"},
    )
    assert cfg.title == "payments on-call"
    assert cfg.keys == {"quit": "ctrl+q"}
    w = cfg.check("w")
    assert w.options["url"] == "http://127.0.0.1/healthz?q=${NOT_A_VAR}&cost=$5"
    assert w.tags == ("team:payments",)
    assert w.options["expect"] == {"status": (200,), "body": "all-good"}
    assert w.options["extra"] == {"list": ["all-good", 1], "nested": {"x": "all-good"}}
    assert w.secrets == frozenset({"payments", "healthz", "all-good"})
    assert cfg.redactor.secrets == frozenset({"payments", "ctrl+q", "healthz", "all-good"})


def test_a_broken_variable_reference_is_reported() -> None:
    assert _one('headers = { A = "${not-a-name}" }') == [
        'dash.toml:5: check[w].headers.A: bad "${" reference; expected ${NAME} (write $${ for a literal "${")'
    ]


def test_secrets_never_appear_in_error_text() -> None:
    secret = "hunter2-very-secret"
    errors = _one(
        'port = "${SECRET}"\n'  # wrong type: the ${...} text is not echoed
        'interval = "${SECRET}"\n'  # unparsable after substitution: not echoed either
        'echo = "bad-${SECRET}"\n'  # the kind's own message repeats the value: redacted
        'method = "${SECRET}"\n',  # not one of the choices: the file's text is shown, not the value
        {"SECRET": secret},
    )
    assert errors == [
        "dash.toml:5: check[w].port: expected an integer, got a string (not shown)",
        'dash.toml:6: check[w].interval: expected a duration like "250ms", "15s", "5m", "1h", got a string (not shown)',
        "dash.toml:7: check[w].echo: bad-******** is not allowed",
        'dash.toml:8: check[w].method: expected one of "GET", "HEAD", got a string (not shown)',
    ]
    assert not any(secret in e for e in errors)


# --- bytes and syntax -----------------------------------------------------------------


def test_non_utf8_bytes_point_at_their_line(tmp_path: Path) -> None:
    path = tmp_path / "dash.toml"
    path.write_bytes(b'[dashboard]\ntitle = "caf\xe9"\n')
    with pytest.raises(ConfigError) as info:
        load_config(path, environ={}, kinds=KINDS)
    assert info.value.errors == [f"{path}:2: toml: file is not valid UTF-8 text"]


def test_binary_garbage_is_not_utf8(tmp_path: Path) -> None:
    path = tmp_path / "dash.toml"
    path.write_bytes(b"\xff\xfe\x00\x01\x89PNG")
    with pytest.raises(ConfigError) as info:
        load_config(path, environ={}, kinds=KINDS)
    assert info.value.errors == [f"{path}:1: toml: file is not valid UTF-8 text"]


def test_truncated_toml_reports_the_last_line() -> None:
    assert errors_of('[[check]]\nname = "api') == ["dash.toml:2: toml: Unterminated string"]
    assert errors_of("[[check]]\nname = \n\n") == ["dash.toml:2: toml: Invalid value"]


def test_syntax_error_keeps_its_line() -> None:
    assert errors_of('[dashboard]\ntitle = "x"\ntitle "y"\n') == [
        "dash.toml:3: toml: Expected '=' after a key in a key/value pair"
    ]


def test_empty_file_is_a_valid_config_with_no_checks() -> None:
    cfg = parse("")
    assert (cfg.title, cfg.concurrency, cfg.checks, dict(cfg.keys)) == ("healthdash", 200, (), {})


def test_a_byte_order_mark_is_ignored() -> None:
    assert parse_config(b'\xef\xbb\xbf[dashboard]\ntitle = "t"\n', kinds=KINDS).title == "t"


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as info:
        load_config(tmp_path / "nope.toml", kinds=KINDS)
    assert info.value.errors == [f"{tmp_path / 'nope.toml'}: no such file"]


# --- defaults and shapes --------------------------------------------------------------


def test_defaults_are_filled_and_disabled_checks_are_left_out() -> None:
    cfg = parse(
        """\
        [dashboard]
        concurrency = 12
        [defaults]
        interval = "1m"
        [keys]
        quit = "ctrl+q"
        anything_at_all = "x"
        [[check]]
        name = "w"
        kind = "web"
        url = "http://127.0.0.1/"
        limits.latency = "250ms"
        [[check]]
        name = "off"
        kind = "ping"
        host = "h"
        enabled = false
        """
    )
    assert cfg.concurrency == 12
    assert cfg.keys == {"quit": "ctrl+q", "anything_at_all": "x"}
    assert [c.name for c in cfg.checks] == ["w"]
    w = cfg.checks[0]
    assert (w.interval, w.timeout, w.retries, w.tags, w.runbook, w.description, w.line) == (60.0, 5.0, 1, (), None, "", 8)
    assert w.options == {
        "url": "http://127.0.0.1/",
        "port": 80,
        "method": "GET",
        "headers": None,
        "ratio": None,
        "codes": None,
        "verify": True,
        "max_body": 1024 * 1024,
        "expect": {"status": (200,), "body": None},
        "limits": {"latency": 0.25},
        "extra": None,
        "echo": None,
    }
    assert set(COMMON_FIELDS) >= {"name", "kind", "interval", "timeout", "retries", "tags", "enabled"}


def test_an_absent_table_with_a_required_key_is_none() -> None:
    cfg = parse('[[check]]\nname = "w"\nkind = "web"\nurl = "u"\n')
    assert cfg.check("w").options["limits"] is None


def test_disabled_checks_are_still_validated() -> None:
    assert errors_of('[[check]]\nname = "x"\nkind = "ping"\nenabled = false\n') == [
        "dash.toml:1: check[x].host: required key is missing"
    ]


# --- line numbers in awkward layouts --------------------------------------------------


def test_line_numbers_survive_multiline_values_quoted_keys_and_subtables() -> None:
    errors = errors_of(
        '''\
        [[check]]
        name = "w"
        kind = "web"
        url = """
        [not.a.table]
        port = "not a key"
        """
        codes = [
          200,
          "x",
        ]
        "headers"."X A" = 1

        [check.expect]   # a sub-table of the last [[check]]
        stats = [200]

        [[check]]
        name = "v"
        kind = "web"
        url = 'http://127.0.0.1/[x]'
        expect = { status = [200], bdy = "x" }
        '''
    )
    assert errors == [
        'dash.toml:8: check[w].codes[1]: expected an integer, got "x" (string)',
        'dash.toml:12: check[w].headers."X A": expected a string, got 1 (integer)',
        'dash.toml:15: check[w].expect.stats: unknown key; did you mean "status"?',
        'dash.toml:21: check[v].expect.bdy: unknown key; did you mean "body"?',
    ]


# --- finding the file -----------------------------------------------------------------


@pytest.fixture
def places(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> SimpleNamespace:
    """An empty cwd, XDG dir and package dir, each a candidate location."""
    p = SimpleNamespace(
        cwd=tmp_path / "cwd", xdg=tmp_path / "xdg", repo=tmp_path / "repo", env={"XDG_CONFIG_HOME": str(tmp_path / "xdg")}
    )
    for d in (p.cwd, p.xdg / "healthdash", p.repo / "dash"):
        d.mkdir(parents=True)
    monkeypatch.setattr(config_module, "_package_dir", lambda: p.repo / "dash")
    return p


def test_lookup_order(places: SimpleNamespace) -> None:
    # nothing anywhere
    with pytest.raises(ConfigError, match="no config file found"):
        find_config(None, places.env, places.cwd)
    # editable install: the repo's dash.toml next to the package
    (places.repo / "dash.toml").write_text("")
    assert find_config(None, places.env, places.cwd) == places.repo / "dash.toml"
    # wheel install: the packaged default.toml wins over the repo file
    (places.repo / "dash" / "default.toml").write_text("")
    assert find_config(None, places.env, places.cwd) == places.repo / "dash" / "default.toml"
    # XDG beats the packaged default
    (places.xdg / "healthdash" / "dash.toml").write_text("")
    assert find_config(None, places.env, places.cwd) == places.xdg / "healthdash" / "dash.toml"
    # ./dash.toml beats XDG
    (places.cwd / "dash.toml").write_text("")
    assert find_config(None, places.env, places.cwd) == places.cwd / "dash.toml"
    # $HEALTHDASH_CONFIG beats ./dash.toml
    named = places.cwd / "other.toml"
    named.write_text("")
    assert find_config(None, {**places.env, "HEALTHDASH_CONFIG": str(named)}, places.cwd) == named
    # -c beats everything
    flag = places.cwd / "flag.toml"
    flag.write_text("")
    assert find_config(str(flag), {**places.env, "HEALTHDASH_CONFIG": str(named)}, places.cwd) == flag


def test_xdg_defaults_to_home_dot_config(places: SimpleNamespace, tmp_path: Path) -> None:
    home = tmp_path / "home"
    (home / ".config" / "healthdash").mkdir(parents=True)
    (home / ".config" / "healthdash" / "dash.toml").write_text("")
    assert find_config(None, {"HOME": str(home)}, places.cwd) == home / ".config" / "healthdash" / "dash.toml"


def test_a_named_file_that_does_not_exist_is_an_error(places: SimpleNamespace) -> None:
    (places.cwd / "dash.toml").write_text("")  # present, but the user asked for another file
    with pytest.raises(ConfigError) as info:
        find_config("missing.toml", places.env, places.cwd)
    assert info.value.errors == ["missing.toml: no such file"]
    with pytest.raises(ConfigError) as info:
        find_config(None, {**places.env, "HEALTHDASH_CONFIG": "/nonexistent/dash.toml"}, places.cwd)
    assert info.value.errors == ["/nonexistent/dash.toml: no such file"]


# --- references hook ------------------------------------------------------------------


def test_check_references_flags_undefined_names() -> None:
    refs = [("dash.toml", 40, "service[pay].checks[1]", "orders-bd"), ("dash.toml", 40, "service[pay].checks[0]", "api")]
    assert _check_references(refs, ["api", "orders-db"]) == [
        'dash.toml:40: service[pay].checks[1]: no check is named "orders-bd"; did you mean "orders-db"?'
    ]


# --- breakers -------------------------------------------------------------------------

PINGS = "".join(f'[[check]]\nname = "{n}"\nkind = "ping"\nhost = "h"\n' for n in ("db", "cache", "api-us", "api-eu"))


def test_breaker_defaults_and_overrides() -> None:
    cfg = parse(
        """\
        [defaults.breaker]
        window = "2m"
        failure_rate = 40
        open_for = "1m"

        [[check]]
        name = "db"
        kind = "ping"
        host = "h"

        [[check]]
        name = "db-replica"
        kind = "ping"
        host = "h"
        breaker = "orders-db"

        [[check]]
        name = "db-primary"
        kind = "ping"
        host = "h"
        breaker = { name = "orders-db" }

        [[check]]
        name = "api"
        kind = "ping"
        host = "h"
        breaker = { min_calls = 10, slow_rate = 80.5, slow_call = "2s", enabled = false, open_for_max = "10m" }
        """
    )
    base = BreakerSettings(window=120.0, failure_rate=40.0, open_for=60.0)
    db = cfg.check("db")
    assert (db.breaker, db.breaker_settings) == ("db", base)  # its own breaker, the defaults
    assert cfg.check("db-replica").breaker == cfg.check("db-primary").breaker == "orders-db"
    assert cfg.check("db-primary").breaker_settings == base
    api = cfg.check("api")
    assert api.breaker == "api"
    assert api.breaker_settings == BreakerSettings(
        window=120.0, min_calls=10, failure_rate=40.0, slow_rate=80.5, slow_call=2.0, open_for=60.0,
        open_for_max=600.0, enabled=False,
    )
    assert api != dataclasses.replace(api, breaker_settings=base)  # the settings count in equality
    assert api == dataclasses.replace(api)


def test_checks_built_by_hand_are_their_own_breaker_with_default_settings() -> None:
    c = CheckConfig(name="x", kind="tcp", interval=1.0, timeout=1.0, retries=0, options={})
    assert (c.breaker, c.breaker_settings, c.confirm, c.recover) == ("x", BreakerSettings(), 2, 2)


def test_a_shared_breaker_with_different_settings_is_an_error_on_the_later_check() -> None:
    assert errors_of(
        """\
        [[check]]
        name = "db-primary"
        kind = "ping"
        host = "h"
        breaker = "orders-db"

        [[check]]
        name = "db-replica"
        kind = "ping"
        host = "h"
        breaker = { name = "orders-db", failure_rate = 20, window = "5m" }
        """
    ) == [
        'dash.toml:11: check[db-replica].breaker: breaker "orders-db" is shared with check db-primary'
        " but has different settings (window, failure_rate)"
    ]


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ("breaker = 5", 'check[w].breaker: expected a breaker name or a table like { name = "orders-db", failure_rate = 50 }, got 5 (integer)'),
        ('breaker = ""', "check[w].breaker: a breaker name must not be empty"),
        ("breaker = { failure_rate = 0 }", "check[w].breaker.failure_rate: must be more than 0 and at most 100, got 0"),
        ("breaker = { slow_rate = 100.5 }", "check[w].breaker.slow_rate: must be more than 0 and at most 100, got 100.5"),
        ("breaker = { min_calls = 0 }", "check[w].breaker.min_calls: must be at least 1, got 0"),
        ('breaker = { window = "0s" }', "check[w].breaker.window: must be longer than 0s"),
        ('breaker = { open_for_max = "10s" }', "check[w].breaker.open_for_max: open_for_max 10s is shorter than open_for 30s"),
        ("breaker = { failure_rtae = 5 }", 'check[w].breaker.failure_rtae: unknown key; did you mean "failure_rate"?'),
        ('brekaer = "x"', 'check[w].brekaer: unknown key; did you mean "breaker"?'),
        ("confirm = 0", "check[w].confirm: must be from 1 to 100, got 0"),
        ('recover = "2"', 'check[w].recover: expected an integer, got "2" (string)'),
    ],
)
def test_bad_breaker_and_alert_keys_in_a_check(body: str, message: str) -> None:
    assert _one(body) == [f"dash.toml:5: {message}"]


def test_bad_breaker_defaults() -> None:
    assert errors_of('[defaults.breaker]\nopen_for = "10m"\nenabled = "yes"\n') == [
        'dash.toml:3: defaults.breaker.enabled: expected true or false, got "yes" (string)',
    ]
    assert errors_of('[defaults.breaker]\nopen_for = "10m"\n') == [
        "dash.toml:2: defaults.breaker.open_for: open_for_max 5m is shorter than open_for 10m"
    ]


# --- confirm / recover and [alerts] ---------------------------------------------------


def test_confirm_and_recover_come_from_defaults_unless_the_check_sets_them() -> None:
    cfg = parse('[defaults]\nconfirm = 3\nrecover = 4\n' + PINGS.replace('name = "cache"', 'name = "cache"\nconfirm = 1'))
    assert (cfg.check("db").confirm, cfg.check("db").recover) == (3, 4)
    assert (cfg.check("cache").confirm, cfg.check("cache").recover) == (1, 4)
    assert parse(PINGS).check("db").confirm == 2


def test_alert_settings() -> None:
    assert parse("").alerts == AlertSettings()
    cfg = parse('[alerts]\nflap_window = 10\nflap_start = 50\nflap_stop = 20.5\nresolved_for = "1h"\nbell = false\n')
    assert cfg.alerts == AlertSettings(flap_window=10, flap_start=50.0, flap_stop=20.5, resolved_for=3600.0, bell=False)
    assert errors_of('[alerts]\nflap_start = 20\nflap_stop = 25\nflap_window = 2\ntoast = 1\nbel = true\n') == [
        "dash.toml:3: alerts.flap_stop: flap_stop 25 is above flap_start 20",
        "dash.toml:4: alerts.flap_window: must be from 3 to 1000, got 2",
        "dash.toml:5: alerts.toast: expected true or false, got 1 (integer)",
        'dash.toml:6: alerts.bel: unknown key; did you mean "bell"?',
    ]


# --- services -------------------------------------------------------------------------


def test_services_are_parsed_with_their_dependencies() -> None:
    cfg = parse(
        PINGS
        + """\
        [[service]]
        name = "checkout"
        description = "takes the money"
        tier = 1
        tags = ["team:payments"]
        requires = ["db", "api"]
        optional = { cache = "serving from origin, slower" }

        [[service]]
        name = "api"
        redundant = [{ members = ["api-us", "api-eu"], min_ok = 2, mode = "one region" }]
        """
    )
    checkout = cfg.service("checkout")
    assert checkout == ServiceConfig(
        name="checkout", description="takes the money", tier=1, tags=("team:payments",),
        requires=("db", "api"), optional=(("cache", "serving from origin, slower"),), line=17,
    )
    assert checkout.dependencies == ("db", "api", "cache")
    api = cfg.service("api")
    assert (api.tier, api.redundant) == (3, (RedundantGroup(("api-us", "api-eu"), 2, "one region"),))
    assert [s.name for s in cfg.services] == ["checkout", "api"]


def test_service_errors() -> None:
    assert errors_of(
        PINGS
        + """\
        [[service]]
        name = "checkout"
        tier = 0
        requires = ["dbb", "paymnets"]
        optional = { cahce = "slow", db = "" }
        slo = "99.9%"

        [[service]]
        name = "payments"
        redundant = [{ members = ["api-us"] }, { members = ["api-us", "api-eu"], min_ok = 3 }]

        [[service]]
        name = "checkout"

        [[service]]
        name = "db"

        [[service]]
        requires = "db"
        """
    ) == [
        "dash.toml:19: service[checkout].tier: must be from 1 to 4, got 0",
        'dash.toml:20: service[checkout].requires[0]: no check or service is named "dbb"; did you mean "db"?',
        'dash.toml:20: service[checkout].requires[1]: no check or service is named "paymnets"; did you mean "payments"?',
        "dash.toml:21: service[checkout].optional.db: a degraded mode must not be empty",
        'dash.toml:21: service[checkout].optional.cahce: no check or service is named "cahce"; did you mean "cache"?',
        'dash.toml:22: service[checkout].slo: expected a table, got "99.9%" (string)',  # slo is a table now
        "dash.toml:26: service[payments].redundant[0].members: a redundant group needs at least two different members",
        "dash.toml:26: service[payments].redundant[1].min_ok: min_ok 3 is more than the 2 members",
        "dash.toml:29: service[checkout].name: duplicate service name; the first one is at line 18",
        "dash.toml:32: service[db].name: a check has this name (line 2); checks and services share one namespace",
        "dash.toml:34: service[#5].name: required key is missing",
        'dash.toml:35: service[#5].requires: expected a list of strings, got "db" (string)',
    ]


def test_service_tables_must_be_double_bracketed() -> None:
    assert errors_of('[service]\nname = "x"\n') == [
        "dash.toml:1: service: write each service as a [[service]] table (double brackets), got a table"
    ]


def test_references_to_disabled_checks_are_left_out() -> None:
    cfg = parse(
        PINGS.replace('name = "api-eu"', 'name = "api-eu"\nenabled = false')
        + '[[service]]\nname = "s"\nrequires = ["db", "api-eu"]\noptional = { api-eu = "x" }\n'
        + 'redundant = [{ members = ["api-us", "api-eu"], min_ok = 2 }]\n'
        + '[dashboard]\ncanary = ["api-eu", "db"]\n'
    )
    s = cfg.service("s")
    assert (s.requires, s.optional, s.redundant) == (("db",), (), (RedundantGroup(("api-us",), 1),))
    assert cfg.canaries == ("db",)


# --- canaries -------------------------------------------------------------------------


def test_canaries_must_be_checks() -> None:
    assert parse(PINGS + '[dashboard]\ncanary = ["db", "cache"]\n').canaries == ("db", "cache")
    assert errors_of('[dashboard]\ncanary = ["db", "resolvr"]\n' + PINGS.replace('"db"', '"resolver"')) == [
        'dash.toml:2: dashboard.canary[0]: no check is named "db"',
        'dash.toml:2: dashboard.canary[1]: no check is named "resolvr"; did you mean "resolver"?',
    ]
    assert errors_of('[dashboard]\ncanary = ["db", 5]\n' + PINGS) == [
        "dash.toml:2: dashboard.canary[1]: expected a string, got 5 (integer)",
    ]


# --- maintenance ----------------------------------------------------------------------


def test_maintenance_windows() -> None:
    cfg = parse(
        """\
        [[maintenance]]
        match = "db-*"
        start = "2026-11-28T20:00:00Z"
        end = "2026-11-28T23:30:00+01:00"
        reason = "postgres 17 upgrade"

        [[maintenance]]
        tags = ["team:search"]
        start = 2026-11-29T01:00:00Z
        end = 2026-11-29T02:00:00-00:30
        """
    )
    first, second = cfg.maintenance
    assert first == MaintenanceWindow(
        start=1795896000.0, end=1795896000.0 + 2.5 * 3600, match="db-*", reason="postgres 17 upgrade", line=1
    )
    assert (second.match, second.tags, second.end - second.start) == (None, ("team:search",), 5400.0)
    assert first.active(first.start) and not first.active(first.end) and not first.active(first.start - 1)


def test_maintenance_errors() -> None:
    assert errors_of(
        """\
        [[maintenance]]
        start = "2026-11-28T20:00:00"
        end = "tomorrow"

        [[maintenance]]
        match = "db-*"
        start = "2026-11-28T20:00:00Z"
        end = "2026-11-28T20:00:00Z"

        [[maintenance]]
        match = "db-*"
        start = 2026-11-28
        end = 5
        """
    ) == [
        'dash.toml:1: maintenance[#1]: needs "match" (a name glob) or "tags", or both',
        'dash.toml:2: maintenance[#1].start: needs a time zone ("Z" for UTC, or an offset like "+01:00"); expected a date and time'
        ' with a time zone, like "2026-11-28T20:00:00Z", got "2026-11-28T20:00:00" (string)',
        'dash.toml:3: maintenance[#1].end: expected a date and time with a time zone, like "2026-11-28T20:00:00Z", got "tomorrow" (string)',
        "dash.toml:8: maintenance[#2].end: must be after start",
        'dash.toml:12: maintenance[#3].start: expected a date and time with a time zone, like "2026-11-28T20:00:00Z", got a date',
        'dash.toml:13: maintenance[#3].end: expected a date and time with a time zone, like "2026-11-28T20:00:00Z", got 5 (integer)',
    ]


def test_parse_time() -> None:
    assert parse_time("1970-01-01T00:00:00Z") == 0.0
    assert parse_time("1970-01-01T01:00:00+01:00") == 0.0
    assert parse_time("1970-01-01 00:00:10.5z") == 10.5
    for bad in ("", "now", "1970-01-01", 0, None):
        with pytest.raises(ValueError, match="expected a date and time"):
            parse_time(bad)


# --- notify ---------------------------------------------------------------------------


def test_notify_webhooks_and_their_secrets() -> None:
    cfg = parse(
        """\
        [[notify]]
        kind = "webhook"
        url = "https://hooks.example.com/${HOOK_ID}"
        headers = { Authorization = "Bearer ${HOOK_TOKEN}" }
        min_priority = "P3"
        timeout = "2s"
        retries = 1

        [[notify]]
        kind = "webhook"
        url = "http://127.0.0.1:9000/alerts"
        """,
        {"HOOK_ID": "id-12345", "HOOK_TOKEN": "tok-67890"},
    )
    first, second = cfg.notify
    assert (first.kind, first.url, first.min_priority, first.timeout, first.retries, first.line) == (
        "webhook", "https://hooks.example.com/id-12345", 3, 2.0, 1, 1,
    )
    assert first.headers == {"Authorization": "Bearer tok-67890"}
    assert first.secrets == frozenset({"id-12345", "tok-67890"})
    assert (second.min_priority, second.timeout, second.retries, dict(second.headers), second.secrets) == (2, 5.0, 3, {}, frozenset())
    assert cfg.redactor("POST https://hooks.example.com/id-12345 failed") == "POST https://hooks.example.com/******** failed"


def test_notify_errors_never_show_secrets() -> None:
    errors = errors_of(
        """\
        [[notify]]
        kind = "slakc"
        url = "ftp://${HOOK}"
        min_priority = "p1"

        [[notify]]
        url = "https://x.example/"
        """,
        {"HOOK": "hook-secret-1"},
    )
    assert errors == [
        'dash.toml:2: notify[#1].kind: expected one of "webhook", "alertmanager", got "slakc" (string)',
        "dash.toml:3: notify[#1].url: must be an http:// or https:// URL",
        'dash.toml:4: notify[#1].min_priority: expected one of "P1", "P2", "P3", "P4", got "p1" (string)',
        "dash.toml:6: notify[#2].kind: required key is missing; expected one of: webhook, alertmanager",
    ]
    assert not any("hook-secret-1" in e for e in errors)


def test_notify_alertmanager_takes_the_base_url() -> None:
    cfg = parse('[[notify]]\nkind = "alertmanager"\nurl = "http://127.0.0.1:9093/am/"\n')
    (target,) = cfg.notify
    assert (target.kind, target.url, target.min_priority) == ("alertmanager", "http://127.0.0.1:9093/am/", 2)
    errors = errors_of(
        """\
        [[notify]]
        kind = "alertmanager"
        url = "http://127.0.0.1:9093/api/v2/alerts"

        [[notify]]
        kind = "alertmanager"
        url = "http://127.0.0.1:9093/?token=${AM_TOKEN}"

        [[notify]]
        kind = "webhook"
        url = "http://127.0.0.1:9000/api/v2/alerts"
        """,
        {"AM_TOKEN": "am-secret-123"},
    )
    assert errors == [
        'dash.toml:3: notify[#1].url: must be the Alertmanager base URL, like "http://127.0.0.1:9093"; healthdash adds /api/v2/alerts',
        'dash.toml:7: notify[#2].url: must be the Alertmanager base URL, like "http://127.0.0.1:9093", without a query string',
    ]  # a webhook may have any path


def test_alertmanager_table() -> None:
    assert parse(PINGS).alertmanager is None
    cfg = parse(
        PINGS
        + """
        [alertmanager]
        url = "https://am.internal:9093"
        headers = { Authorization = "Bearer ${AM_TOKEN}" }
        interval = "30s"
        """,
        {"AM_TOKEN": "tok-am-42"},
    )
    am = cfg.alertmanager
    assert am is not None
    assert (am.url, dict(am.headers), am.interval, am.timeout, am.secrets) == (
        "https://am.internal:9093", {"Authorization": "Bearer tok-am-42"}, 30.0, 5.0, frozenset({"tok-am-42"}),
    )
    assert am.line == PINGS.count("\n") + 2
    assert cfg.redactor("Bearer tok-am-42") == "Bearer ********"
    defaults = parse('[alertmanager]\nurl = "http://127.0.0.1:9093"\n').alertmanager
    assert defaults is not None and (defaults.interval, defaults.timeout, dict(defaults.headers)) == (15.0, 5.0, {})


def test_alertmanager_errors() -> None:
    assert errors_of(
        """\
        [alertmanager]
        url = "127.0.0.1:9093"
        interval = "10s"
        timeout = "20s"
        intervall = "1m"
        """
    ) == [
        "dash.toml:2: alertmanager.url: must be an http:// or https:// URL",
        "dash.toml:4: alertmanager.timeout: timeout 20s is longer than interval 10s",
        'dash.toml:5: alertmanager.intervall: unknown key; did you mean "interval"?',
    ]
    assert errors_of("[alertmanager]\ninterval = \"500ms\"\n") == [
        "dash.toml:1: alertmanager.url: required key is missing",
        "dash.toml:2: alertmanager.interval: must be at least 1s, got 500ms",
    ]
    assert errors_of('alertmanager = "http://127.0.0.1:9093"\n') == [
        'dash.toml:1: alertmanager: expected a table like [alertmanager] url = "http://127.0.0.1:9093", got "http://127.0.0.1:9093" (string)',
    ]


# --- history and SLOs -------------------------------------------------------------------


def test_history_and_slo_defaults() -> None:
    cfg = parse(PINGS + '[[service]]\nname = "shop"\nrequires = ["db"]\n')
    assert (cfg.state_dir, cfg.retention) == (None, 30 * 86400.0)
    assert cfg.check("db").slo is None
    assert cfg.service("shop").slo is None


def test_state_dir_retention_and_slos(tmp_path: Path) -> None:
    cfg = parse(
        """\
        [dashboard]
        state_dir = "~/oncall/history"
        retention = "90d"
        [[check]]
        name = "api"
        kind = "ping"
        host = "h"
        slo = { target = 99.9 }
        [[check]]
        name = "db"
        kind = "ping"
        host = "h"
        slo.target = 99
        slo.window = "7d"
        [[service]]
        name = "shop"
        requires = ["api", "db"]
        slo = { target = 99.95, window = "90d" }
        """,
        {"HOME": "/home/ana"},
    )
    assert (cfg.state_dir, cfg.retention) == ("/home/ana/oncall/history", 90 * 86400.0)
    assert cfg.check("api").slo == config_module.SLO(target=99.9, window=30 * 86400.0)
    assert cfg.check("db").slo == config_module.SLO(target=99.0, window=7 * 86400.0)
    assert cfg.service("shop").slo == config_module.SLO(target=99.95, window=90 * 86400.0)

    # a relative state_dir is taken from the config file's directory, not the current one
    (tmp_path / "dash.toml").write_text('[dashboard]\nstate_dir = "state"\n')
    assert load_config(tmp_path / "dash.toml", kinds=KINDS).state_dir == str(tmp_path / "state")
    assert parse('[dashboard]\nstate_dir = "/var/lib/healthdash"\n').state_dir == "/var/lib/healthdash"


def test_history_and_slo_errors() -> None:
    assert errors_of(
        """\
        [dashboard]
        retention = "30m"
        state_dir = ""
        [[check]]
        name = "api"
        kind = "ping"
        host = "h"
        slo = { target = 100, window = "0s", budget = 1 }
        [[check]]
        name = "db"
        kind = "ping"
        host = "h"
        slo = { window = "1d" }
        [[check]]
        name = "web"
        kind = "ping"
        host = "h"
        slo = 99.9
        [[service]]
        name = "shop"
        requires = ["api"]
        slo = { target = "high" }
        """
    ) == [
        "dash.toml:2: dashboard.retention: must be at least 1h, got 30m",
        "dash.toml:3: dashboard.state_dir: a state directory must not be empty",
        'dash.toml:8: check[api].slo.budget: unknown key; expected one of: target, window',
        "dash.toml:8: check[api].slo.target: must be more than 0 and less than 100 (a percent like 99.9), got 100",
        "dash.toml:8: check[api].slo.window: must be longer than 0s",
        "dash.toml:13: check[db].slo.target: required key is missing",
        "dash.toml:18: check[web].slo: expected a table, got 99.9 (float)",
        'dash.toml:22: service[shop].slo.target: expected a number, got "high" (string)',
    ]


def test_an_slo_window_longer_than_the_history_kept_is_an_error() -> None:
    assert errors_of(
        """\
        [dashboard]
        retention = "7d"
        [[check]]
        name = "api"
        kind = "ping"
        host = "h"
        slo = { target = 99.9 }
        [[check]]
        name = "db"
        kind = "ping"
        host = "h"
        slo = { target = 99.9, window = "7d" }
        [[service]]
        name = "shop"
        requires = ["api"]
        slo = { target = 99, window = "14d" }
        """
    ) == [
        "dash.toml:7: check[api].slo: the default window 30d is longer than the history kept"
        " (dashboard.retention 7d); set a window",
        "dash.toml:16: service[shop].slo.window: the window 14d is longer than the history kept"
        " (dashboard.retention 7d)",
    ]
