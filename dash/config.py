"""dash.toml: typed, validated, frozen configuration.

The shapes here are what the rest of the application reads; the loader below
turns a TOML file into them or into a list of one-line errors of the form
`FILE:LINE: key.path: what is wrong and what is expected`.

Key paths name a check by its name when it has a usable one (`check[api].port`)
and by its 1-based position otherwise (`check[#3].port`); list items are
0-based (`check[api].tags[1]`).

Validation is data-driven: the generic check keys (`COMMON_FIELDS`), the
`[dashboard]` and `[defaults]` tables, and every kind's `FIELDS` are all
`checks.base.Field` dicts run through the same converter, so a new kind needs no
loader change.

Besides checks the file holds: a breaker per dependency (`[defaults.breaker]`,
and `breaker = "name"` or a table per check: checks naming the same breaker
share it), `[[service]]` tables that roll checks up into services with named
degraded modes, `[dashboard] canary` (the monitor's own network), alert rules
(`[defaults] confirm/recover`, `[alerts]`), `[[maintenance]]` windows and
`[[notify]]` targets (webhooks, Alertmanager), `[alertmanager]` (an Alertmanager whose
alerts are shown too), where history is kept (`[dashboard] state_dir`, `retention`)
and service level objectives (`slo = { target = 99.9, window = "30d" }` on a check
or a service). Names referenced anywhere must exist ("did you mean").
"""

from __future__ import annotations

import datetime as dt
import difflib
import json
import math
import os
import re
import sys
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, fields as dataclass_fields, replace
from pathlib import Path
from typing import Any, Mapping

from checks.base import Field
from dash.core.breaker import BreakerSettings
from dash.text import Redactor, clean

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on Python 3.10 only
    import tomli as tomllib


DEFAULT_RETENTION = 30 * 86400.0  # seconds of history kept; also the default SLO window


@dataclass(frozen=True, slots=True)
class SLO:
    """A service level objective: `target` percent (0 < target < 100) of the check's
    (or service's) time good over the trailing `window` seconds."""

    target: float
    window: float = DEFAULT_RETENTION


@dataclass(frozen=True, eq=True)
class CheckConfig:
    """One `[[check]]` table after validation, defaults applied.

    `options` holds the kind-specific keys declared by the kind's `FIELDS`
    (every declared key present; None when optional and unset), with durations in
    seconds and `${VAR}` already substituted. `secrets` are the substituted values
    that appear in this check, for redaction.
    """

    name: str
    kind: str
    interval: float
    timeout: float
    retries: int
    options: Mapping[str, Any]
    tags: tuple[str, ...] = ()
    runbook: str | None = None
    description: str = ""
    line: int = 0
    secrets: frozenset[str] = frozenset()
    confirm: int = 2
    recover: int = 2
    breaker: str = ""
    breaker_settings: BreakerSettings = BreakerSettings()
    slo: SLO | None = None

    def __post_init__(self) -> None:
        # A check with no breaker of its own is its own dependency.
        if not self.breaker:
            object.__setattr__(self, "breaker", self.name)

    def __hash__(self) -> int:  # options is a dict; identity by name is enough for sets
        return hash((self.name, self.kind))


@dataclass(frozen=True, slots=True)
class RedundantGroup:
    """Members that stand in for each other (e.g. one API per region).

    Fewer than `min_ok` members ok degrades the service (with `mode`, or a
    generated "running on N of M ..." text when empty); none ok takes it down.
    """

    members: tuple[str, ...]
    min_ok: int = 1
    mode: str = ""


@dataclass(frozen=True, slots=True)
class ServiceConfig:
    """One `[[service]]` table: what a service needs and how it degrades.

    `requires` and redundant members name checks or other services.
    `optional` is (name, degraded mode text) pairs in file order: when that
    dependency fails the service runs degraded in that mode.
    Tier 1 is the most critical.
    """

    name: str
    description: str = ""
    tier: int = 3
    tags: tuple[str, ...] = ()
    requires: tuple[str, ...] = ()
    optional: tuple[tuple[str, str], ...] = ()
    redundant: tuple[RedundantGroup, ...] = ()
    line: int = 0
    slo: SLO | None = None

    @property
    def dependencies(self) -> tuple[str, ...]:
        """Every name this service refers to, once each, in file order."""
        names = [*self.requires, *(n for n, _ in self.optional)]
        for group in self.redundant:
            names.extend(group.members)
        return tuple(dict.fromkeys(names))


@dataclass(frozen=True, slots=True)
class AlertSettings:
    """The `[alerts]` table. Flap detection follows Nagios: the last `flap_window`
    states, a weighted percent of state changes, flapping from `flap_start`
    percent until it falls to `flap_stop` or below."""

    flap_window: int = 21
    flap_start: float = 30.0
    flap_stop: float = 25.0
    resolved_for: float = 600.0
    bell: bool = True
    toast: bool = True


@dataclass(frozen=True, slots=True)
class MaintenanceWindow:
    """One `[[maintenance]]` window: alerts of matching checks and services are
    silenced from `start` until `end` (epoch seconds). `match` is a glob over
    names; with `tags`, a subject must carry every one of them; with both, both."""

    start: float
    end: float
    match: str | None = None
    tags: tuple[str, ...] = ()
    reason: str = ""
    line: int = 0

    def active(self, now: float) -> bool:
        """True while `now` (epoch seconds) is inside the window."""
        return self.start <= now < self.end


# Notification targets; a new kind is a new entry here plus its sender.
NOTIFY_KINDS: tuple[str, ...] = ("webhook", "alertmanager")
PRIORITIES: tuple[str, ...] = ("P1", "P2", "P3", "P4")


@dataclass(frozen=True)
class NotifyConfig:
    """One `[[notify]]` target. `min_priority` is 1..4: alerts of that priority
    or more urgent (a smaller number) are sent. `secrets` are the `${VAR}`
    values in its url and headers, for redaction."""

    kind: str
    url: str
    headers: Mapping[str, str] = field(default_factory=dict)
    min_priority: int = 2
    timeout: float = 5.0
    retries: int = 3
    line: int = 0
    secrets: frozenset[str] = frozenset()

    def __hash__(self) -> int:  # headers is a dict
        return hash((self.kind, self.url, self.line))


@dataclass(frozen=True)
class AlertmanagerConfig:
    """The `[alertmanager]` table: an Alertmanager whose alerts are pulled into the
    alert panel every `interval` seconds, each request bounded by `timeout`. `url` is
    its base URL (e.g. "http://127.0.0.1:9093"); `secrets` are the `${VAR}` values in
    the url and headers, for redaction."""

    url: str
    headers: Mapping[str, str] = field(default_factory=dict)
    interval: float = 15.0
    timeout: float = 5.0
    line: int = 0
    secrets: frozenset[str] = frozenset()

    def __hash__(self) -> int:  # headers is a dict
        return hash((self.url, self.line))


@dataclass(frozen=True)
class Config:
    """A whole dash.toml.

    `state_dir` is where history is kept (None: the default,
    `$XDG_STATE_HOME/healthdash`); given paths are absolute, with "~" expanded and
    relative ones taken from the config file's directory. `retention` is how long
    history is kept, in seconds. `alertmanager` is the `[alertmanager]` table, or
    None when the file has none.
    """

    path: str
    title: str = "healthdash"
    concurrency: int = 200
    checks: tuple[CheckConfig, ...] = ()
    keys: Mapping[str, str] = field(default_factory=dict)
    redactor: Redactor = field(default_factory=Redactor)
    services: tuple[ServiceConfig, ...] = ()
    canaries: tuple[str, ...] = ()
    alerts: AlertSettings = AlertSettings()
    maintenance: tuple[MaintenanceWindow, ...] = ()
    notify: tuple[NotifyConfig, ...] = ()
    state_dir: str | None = None
    retention: float = DEFAULT_RETENTION
    alertmanager: AlertmanagerConfig | None = None

    def check(self, name: str) -> CheckConfig:
        for c in self.checks:
            if c.name == name:
                return c
        raise KeyError(name)

    def service(self, name: str) -> ServiceConfig:
        for s in self.services:
            if s.name == name:
                return s
        raise KeyError(name)


class ConfigError(Exception):
    """A config that cannot be used; `errors` are the one-line messages, all of them."""

    def __init__(self, errors: list[str]) -> None:
        super().__init__("\n".join(errors))
        self.errors = errors


# ---------------------------------------------------------------------------
# Durations and sizes

DURATION_HINT = 'expected a duration like "250ms", "15s", "5m", "1h"'
TIME_HINT = 'expected a date and time with a time zone, like "2026-11-28T20:00:00Z"'
SIZE_HINT = 'expected a size like 512, "512B", "64KiB", "1MiB", "1MB"'

_DURATION_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}
_NUMBER = r"(?:[0-9]+(?:\.[0-9]+)?|\.[0-9]+)"
_DURATION_TERM = re.compile(rf"({_NUMBER})(ms|s|m|h|d)", re.ASCII)
_DURATION = re.compile(rf"(?:{_NUMBER}(?:ms|s|m|h|d)\s*)+", re.ASCII)
_BARE_NUMBER = re.compile(rf"[+-]?{_NUMBER}", re.ASCII)

_SIZE_UNITS = {
    "b": 1,
    "kb": 1000, "mb": 1000**2, "gb": 1000**3, "tb": 1000**4,
    "kib": 1024, "mib": 1024**2, "gib": 1024**3, "tib": 1024**4,
}
_SIZE = re.compile(rf"({_NUMBER})\s*([A-Za-z]+)", re.ASCII)


def parse_duration(s: object) -> float:
    """Seconds in a duration such as "250ms", "15s", "5m", "1h", "1h30m", "1.5s", "2d".

    Raises ValueError (with a message that does not repeat the value) for
    anything else: negatives, bare numbers, empty text, unknown units.
    """
    if not isinstance(s, str):
        raise ValueError(f"{DURATION_HINT} (a string with a unit)")
    text = s.strip()
    if not text:
        raise ValueError(f"empty duration; {DURATION_HINT}")
    if text.startswith("-"):
        raise ValueError(f"a duration cannot be negative; {DURATION_HINT}")
    if _BARE_NUMBER.fullmatch(text):
        raise ValueError(f"a duration needs a unit; {DURATION_HINT}")
    if not _DURATION.fullmatch(text):
        raise ValueError(DURATION_HINT)
    seconds = sum(float(n) * _DURATION_UNITS[u] for n, u in _DURATION_TERM.findall(text))
    if not math.isfinite(seconds):
        raise ValueError(f"duration is too long; {DURATION_HINT}")
    return seconds


def parse_time(v: object) -> float:
    """Epoch seconds of an ISO 8601 date and time with a time zone (a trailing "Z" is UTC),
    given as text or as a TOML datetime. Raises ValueError without repeating the value."""
    if isinstance(v, str):
        text = v.strip()
        if text[-1:] in ("Z", "z"):  # fromisoformat learned "Z" only in Python 3.11
            text = text[:-1] + "+00:00"
        try:
            v = dt.datetime.fromisoformat(text)
        except ValueError:
            raise ValueError(TIME_HINT) from None
    if not isinstance(v, dt.datetime):
        raise ValueError(TIME_HINT)
    if v.tzinfo is None or v.utcoffset() is None:
        raise ValueError(f'needs a time zone ("Z" for UTC, or an offset like "+01:00"); {TIME_HINT}')
    return v.timestamp()


def format_duration(seconds: float) -> str:
    """The shortest readable form of `seconds`: 0.25 -> "250ms", 90 -> "1m30s"."""
    if seconds < 1:
        return f"{round(seconds * 1000, 3):g}ms"
    whole = int(seconds)
    frac = round(seconds - whole, 3)
    parts = []
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if whole >= size:
            parts.append(f"{whole // size}{unit}")
            whole %= size
    if whole or frac or not parts:
        parts.append(f"{whole + frac:g}s")
    return "".join(parts)


def parse_size(v: object) -> int:
    """Bytes in a size: an int, or a string like "512B", "64KiB", "1MiB", "1MB"."""
    if isinstance(v, bool):
        raise ValueError(SIZE_HINT)
    if isinstance(v, int):
        if v < 0:
            raise ValueError(f"a size cannot be negative; {SIZE_HINT}")
        return v
    if not isinstance(v, str):
        raise ValueError(SIZE_HINT)
    text = v.strip()
    if text.startswith("-"):
        raise ValueError(f"a size cannot be negative; {SIZE_HINT}")
    m = _SIZE.fullmatch(text)
    if not m or m.group(2).lower() not in _SIZE_UNITS:
        raise ValueError(SIZE_HINT)
    return int(round(float(m.group(1)) * _SIZE_UNITS[m.group(2).lower()]))


# ---------------------------------------------------------------------------
# The schema of the file itself


def _at_least(minimum: float) -> Callable[[float], str | None]:
    def check(v: float) -> str | None:
        if v < minimum:
            return f"must be at least {format_duration(minimum)}, got {format_duration(v)}"
        return None

    return check


def _positive_duration(v: float) -> str | None:
    return None if v > 0 else "must be longer than 0s"


def _between(lo: int, hi: int) -> Callable[[int], str | None]:
    def check(v: int) -> str | None:
        return None if lo <= v <= hi else f"must be from {lo} to {hi}, got {v}"

    return check


_NO_VARS_IN_NAMES = "a name cannot use ${VAR}: names are shown everywhere, substituted values never are"


def _printable(what: str, *, empty_ok: bool = False) -> Callable[[str], str | None]:
    def check(v: str) -> str | None:
        if not empty_ok and not v.strip():
            return f"{what} must not be empty"
        if re.search(r"[\x00-\x1f\x7f-\x9f]", v):
            return f"{what} must not contain control characters"
        return None

    return check


def _min_int(lo: int) -> Callable[[int], str | None]:
    def check(v: int) -> str | None:
        return None if v >= lo else f"must be at least {lo}, got {v}"

    return check


def _percent(*, zero_ok: bool = False) -> Callable[[float], str | None]:
    def check(v: float) -> str | None:
        if (v >= 0 if zero_ok else v > 0) and v <= 100:
            return None
        if zero_ok:
            return f"must be from 0 to 100, got {v:g}"
        return f"must be more than 0 and at most 100, got {v:g}"

    return check


def _slo_target(v: float) -> str | None:
    return None if 0 < v < 100 else f"must be more than 0 and less than 100 (a percent like 99.9), got {v:g}"


def _http_url(v: str) -> str | None:  # never echoes the value: it may hold a ${VAR} secret
    return None if re.match(r"https?://[^/\s]", v, re.IGNORECASE) else "must be an http:// or https:// URL"


_AM_API = re.compile(r"/api/v[12](/alerts)?/*$", re.IGNORECASE)


def _alertmanager_url(v: str) -> str | None:
    """An Alertmanager base URL: healthdash adds the API path itself. Never echoes the value."""
    problem = _http_url(v)
    if problem:
        return problem
    if "?" in v or "#" in v:
        return 'must be the Alertmanager base URL, like "http://127.0.0.1:9093", without a query string'
    if _AM_API.search(v):
        return 'must be the Alertmanager base URL, like "http://127.0.0.1:9093"; healthdash adds /api/v2/alerts'
    return None


MIN_INTERVAL = 0.1

# Every BreakerSettings field; absent keys inherit ([defaults.breaker] from BreakerSettings(),
# a check's breaker table from [defaults.breaker]).
BREAKER_FIELDS: dict[str, Field] = {
    "window": Field("duration", help="how far back calls count", validate=_positive_duration),
    "min_calls": Field("int", help="calls in the window before the rates count", validate=_min_int(1)),
    "failure_rate": Field("number", help="percent of failed calls that opens the breaker", validate=_percent()),
    "slow_rate": Field("number", help="percent of slow calls that opens the breaker", validate=_percent()),
    "slow_call": Field("duration", help="latency from which a call is slow", validate=_positive_duration),
    "open_for": Field("duration", help="time open before one trial call", validate=_positive_duration),
    "open_for_max": Field("duration", help="longest open time after failed trials", validate=_positive_duration),
    "enabled": Field("bool", help="false never opens the breaker"),
}

SLO_FIELDS: dict[str, Field] = {
    "target": Field("number", required=True, help="percent of the window that must be good, e.g. 99.9", validate=_slo_target),
    "window": Field("duration", default="30d", help="the trailing window the target is measured over", validate=_positive_duration),
}

COMMON_FIELDS: dict[str, Field] = {
    "name": Field("str", required=True, help="unique check name", validate=_printable("a check name")),
    "kind": Field("str", required=True, help="which check kind runs it"),
    "interval": Field("duration", help="time between runs", validate=_at_least(MIN_INTERVAL)),
    "timeout": Field("duration", help="deadline of one run", validate=_positive_duration),
    "retries": Field("int", help="extra attempts on transient failures", validate=_between(0, 10)),
    "tags": Field("str_list", default=(), help='labels such as "team:payments"'),
    "runbook": Field("str", help="what to do when it fails"),
    "description": Field("str", default="", help="one line about the check"),
    "enabled": Field("bool", default=True, help="false leaves the check out"),
    "confirm": Field("int", help="bad results in a row before an alert fires", validate=_between(1, 100)),
    "recover": Field("int", help="good results in a row before an alert resolves", validate=_between(1, 100)),
    # a dependency name (checks naming the same one share a breaker) or a table: handled by hand
    "breaker": Field("any", help='breaker name, or { name = "...", <breaker settings> }'),
    "slo": Field("table", fields=SLO_FIELDS, help='objective, e.g. { target = 99.9, window = "30d" }'),
}

DASHBOARD_FIELDS: dict[str, Field] = {
    "title": Field("str", default="healthdash", validate=_printable("a title", empty_ok=True)),
    "concurrency": Field("int", default=200, help="max checks in flight", validate=_between(1, 10000)),
    "canary": Field("str_list", default=(), help="checks of the monitor's own network"),
    "state_dir": Field("str", help="where history is kept (default $XDG_STATE_HOME/healthdash)", validate=_printable("a state directory")),
    "retention": Field("duration", default="30d", help="how long history is kept", validate=_at_least(3600.0)),
}

DEFAULTS_FIELDS: dict[str, Field] = {
    "interval": Field("duration", default=15.0, validate=_at_least(MIN_INTERVAL)),
    "timeout": Field("duration", default=5.0, validate=_positive_duration),
    "retries": Field("int", default=1, validate=_between(0, 10)),
    "confirm": Field("int", default=2, validate=_between(1, 100)),
    "recover": Field("int", default=2, validate=_between(1, 100)),
    "breaker": Field("table", fields=BREAKER_FIELDS),
}

ALERTS_FIELDS: dict[str, Field] = {
    "flap_window": Field("int", default=21, help="states kept for flap detection", validate=_between(3, 1000)),
    "flap_start": Field("number", default=30.0, help="percent of state change that starts flapping", validate=_percent()),
    "flap_stop": Field("number", default=25.0, help="percent at or below which flapping stops", validate=_percent(zero_ok=True)),
    "resolved_for": Field("duration", default=600.0, help="how long resolved alerts stay visible"),
    "bell": Field("bool", default=True, help="ring the terminal bell on a page"),
    "toast": Field("bool", default=True, help="show a toast on a page"),
}

SERVICE_FIELDS: dict[str, Field] = {
    "name": Field("str", required=True, help="unique service name", validate=_printable("a service name")),
    "description": Field("str", default="", help="one line about the service"),
    "tier": Field("int", default=3, help="1 is the most critical, 4 the least", validate=_between(1, 4)),
    "tags": Field("str_list", default=(), help='labels such as "team:payments"'),
    "requires": Field("str_list", default=(), help="checks and services it cannot run without"),
    "optional": Field("str_map", default={}, help="name = the degraded mode while it fails"),
    "redundant": Field("any", help="groups of members that stand in for each other"),  # by hand
    "slo": Field("table", fields=SLO_FIELDS, help='objective, e.g. { target = 99.9, window = "30d" }'),
}

REDUNDANT_FIELDS: dict[str, Field] = {
    "members": Field("str_list", required=True, help="checks or services that stand in for each other"),
    "min_ok": Field("int", default=1, help="members that must be ok for full service", validate=_min_int(1)),
    "mode": Field("str", help="the degraded mode while fewer are ok", validate=_printable("a mode")),
}

MAINTENANCE_FIELDS: dict[str, Field] = {
    "match": Field("str", help='glob over check and service names, e.g. "db-*"', validate=_printable("a match")),
    "tags": Field("str_list", help="subjects carrying all of these tags"),
    "start": Field("time", required=True, help='e.g. "2026-11-28T20:00:00Z"'),
    "end": Field("time", required=True, help='e.g. "2026-11-28T22:00:00Z"'),
    "reason": Field("str", default="", help="shown next to silenced alerts"),
}

NOTIFY_FIELDS: dict[str, Field] = {
    "kind": Field("str", required=True, choices=NOTIFY_KINDS, help="where notifications go"),
    "url": Field("str", required=True, help="http:// or https:// endpoint", validate=_http_url),
    "headers": Field("str_map", default={}, help="extra request headers; use ${VAR} for secrets"),
    "min_priority": Field("str", default="P2", choices=PRIORITIES, help="least urgent priority sent"),
    "timeout": Field("duration", default=5.0, validate=_positive_duration),
    "retries": Field("int", default=3, validate=_between(0, 10)),
}

ALERTMANAGER_FIELDS: dict[str, Field] = {
    "url": Field("str", required=True, help='base URL, e.g. "http://127.0.0.1:9093"', validate=_alertmanager_url),
    "headers": Field("str_map", default={}, help="extra request headers; use ${VAR} for secrets"),
    "interval": Field("duration", default="15s", help="time between pulls", validate=_at_least(1.0)),
    "timeout": Field("duration", default="5s", help="deadline of one pull", validate=_positive_duration),
}

TOP_FIELDS: dict[str, Field] = {
    "dashboard": Field("table", fields=DASHBOARD_FIELDS),
    "defaults": Field("table", fields=DEFAULTS_FIELDS),
    "alerts": Field("table", fields=ALERTS_FIELDS),
    "keys": Field("str_map", default={}),
    "check": Field("any"),  # arrays of tables, handled by hand
    "service": Field("any"),
    "maintenance": Field("any"),
    "notify": Field("any"),
    "alertmanager": Field("any"),  # a table with a required key: handled by hand
}


# ---------------------------------------------------------------------------
# Finding the file


def _package_dir() -> Path:
    return Path(__file__).resolve().parent


def find_config(
    cli_path: str | None,
    environ: Mapping[str, str] | None = None,
    cwd: str | os.PathLike[str] | None = None,
) -> Path:
    """The config file to use: `-c FILE`, `$HEALTHDASH_CONFIG`, `./dash.toml`,
    `$XDG_CONFIG_HOME/healthdash/dash.toml` (default `~/.config`), then the packaged default.

    An explicitly named file (flag or variable) that does not exist is a ConfigError.
    """
    env = os.environ if environ is None else environ
    for explicit in (cli_path, env.get("HEALTHDASH_CONFIG")):
        if explicit:
            p = Path(explicit).expanduser()
            if not p.is_file():
                raise ConfigError([f"{explicit}: no such file"])
            return p
    here = Path(cwd) if cwd is not None else Path.cwd()
    candidates = [here / "dash.toml"]
    xdg = env.get("XDG_CONFIG_HOME", "")
    if not xdg or not Path(xdg).is_absolute():  # the XDG spec says to ignore relative paths
        home = env.get("HOME")
        xdg = str(Path(home) / ".config") if home else str(Path.home() / ".config")
    candidates.append(Path(xdg) / "healthdash" / "dash.toml")
    package = _package_dir()
    candidates.append(package / "default.toml")  # wheel installs
    candidates.append(package.parent / "dash.toml")  # editable installs: the repo's own file
    for p in candidates:
        if p.is_file():
            return p
    raise ConfigError(["no config file found; looked at " + ", ".join(map(str, candidates))])


# ---------------------------------------------------------------------------
# Loading


# Thousands of checks fit in well under this; anything bigger is a wrong file, and
# reading it whole would cost seconds and hundreds of MB before saying so.
MAX_CONFIG_BYTES = 4 * 1024 * 1024


def load_config(
    path: str | os.PathLike[str],
    *,
    environ: Mapping[str, str] | None = None,
    kinds: Mapping[str, Any] | None = None,
) -> Config:
    """Read and validate a dash.toml; raises ConfigError listing every problem."""
    shown = os.fspath(path)
    try:
        with open(path, "rb") as f:
            data = f.read(MAX_CONFIG_BYTES + 1)
    except FileNotFoundError:
        raise ConfigError([f"{shown}: no such file"]) from None
    except IsADirectoryError:
        raise ConfigError([f"{shown}: is a directory, not a config file"]) from None
    except OSError as e:
        raise ConfigError([f"{shown}: cannot read: {clean(e.strerror or e)}"]) from None
    if len(data) > MAX_CONFIG_BYTES:
        raise ConfigError([f"{shown}: larger than {MAX_CONFIG_BYTES // 2**20} MiB; is this the right file?"])
    return parse_config(data, shown, environ=environ, kinds=kinds)


def parse_config(
    text: str | bytes,
    path: str = "dash.toml",
    *,
    environ: Mapping[str, str] | None = None,
    kinds: Mapping[str, Any] | None = None,
) -> Config:
    """Validate dash.toml content (text, or raw bytes as read from disk).

    `kinds` maps kind names to modules (anything with a `FIELDS` dict); it
    defaults to the discovered `checks.kinds()`.
    """
    if isinstance(text, (bytes, bytearray)):
        try:
            text = bytes(text).decode("utf-8")
        except UnicodeDecodeError as e:
            line = bytes(text)[: e.start].count(b"\n") + 1
            raise ConfigError([f"{path}:{line}: toml: file is not valid UTF-8 text"]) from None
    text = text.removeprefix("\ufeff")  # editors on Windows like to add a BOM
    try:
        doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise ConfigError([_toml_error(path, text, e)]) from None
    except RecursionError:
        raise ConfigError([f"{path}:1: toml: values are nested too deeply"]) from None
    if kinds is None:
        import checks

        kinds = checks.kinds()
    loader = _Loader(path, _Locator(text), os.environ if environ is None else environ, kinds)
    return loader.load(doc)


_TOML_AT = re.compile(r"^(.*?)\s*\((?:at line (\d+), column \d+|at end of document)\)\s*$", re.DOTALL)


def _toml_error(path: str, text: str, e: Exception) -> str:
    message = str(e)
    line = getattr(e, "lineno", None)
    m = _TOML_AT.match(message)
    if m:
        message = m.group(1)
        if m.group(2):
            line = int(m.group(2))
    if not line:  # "at end of document": blame the last line with something on it
        lines = text.splitlines()
        line = next((i for i in range(len(lines), 0, -1) if lines[i - 1].strip()), 1)
    return f"{path}:{line}: toml: {clean(message)}"


# ---------------------------------------------------------------------------
# Line numbers: tomllib gives none, so find key paths in the raw text.

_BARE_KEY = re.compile(r"[A-Za-z0-9_-]+")
_Path = tuple  # of str keys and int array indexes


class _Locator:
    """Maps key paths (e.g. ("check", 0, "expect", "status")) to 1-based line numbers.

    Keys inside inline tables and multi-line values map to the line of the key
    that starts the value; unknown paths fall back to their nearest parent.
    """

    def __init__(self, text: str) -> None:
        self.lines: dict[_Path, int] = {}
        self._arrays: dict[_Path, int] = {}
        self._scan(text)

    def line(self, path: Iterable[Any]) -> int:
        p = tuple(path)
        while p:
            if p in self.lines:
                return self.lines[p]
            p = p[:-1]
        return 1

    def _scan(self, text: str) -> None:
        table: _Path = ()
        depth, ml = 0, None  # open brackets / open multi-line string delimiter
        for lineno, line in enumerate(text.splitlines(), start=1):
            if depth or ml:
                depth, ml = _scan_value(line, 0, depth, ml)
                continue
            s = line.lstrip()
            if not s or s.startswith("#"):
                continue
            if s.startswith("["):
                array = s.startswith("[[")
                keys, _ = _read_key(s, 2 if array else 1)
                if keys:
                    table = self._resolve(keys, array)
                    self.lines.setdefault(table, lineno)
                continue
            keys, i = _read_key(s, 0)
            if not keys:
                continue
            full = table + tuple(keys)
            for n in range(len(table) + 1, len(full) + 1):
                self.lines.setdefault(full[:n], lineno)
            if i < len(s) and s[i] == "=":
                depth, ml = _scan_value(s, i + 1, 0, None)

    def _resolve(self, keys: list[str], array: bool) -> _Path:
        """Where a header points: array-of-tables segments go to their last element."""
        path: _Path = ()
        for n, key in enumerate(keys):
            path += (key,)
            last = n == len(keys) - 1
            if last and array:
                index = self._arrays.get(path, 0)
                self._arrays[path] = index + 1
                path += (index,)
            elif path in self._arrays:
                path += (self._arrays[path] - 1,)
        return path


def _read_key(s: str, i: int) -> tuple[list[str], int]:
    """Parse a (dotted, possibly quoted) key at s[i:]; returns parts and the index after it."""
    parts: list[str] = []
    n = len(s)
    while True:
        while i < n and s[i] in " \t":
            i += 1
        if i >= n:
            return parts, i
        c = s[i]
        if c == '"':
            j = i + 1
            while j < n and s[j] != '"':
                j += 2 if s[j] == "\\" else 1
            raw = s[i : j + 1]
            try:
                parts.append(json.loads(raw))
            except ValueError:
                parts.append(raw[1:-1])
            i = j + 1
        elif c == "'":
            j = s.find("'", i + 1)
            j = n if j < 0 else j
            parts.append(s[i + 1 : j])
            i = j + 1
        else:
            m = _BARE_KEY.match(s, i)
            if not m:
                return parts, i
            parts.append(m.group())
            i = m.end()
        while i < n and s[i] in " \t":
            i += 1
        if i < n and s[i] == ".":
            i += 1
            continue
        return parts, i


def _scan_value(s: str, i: int, depth: int, ml: str | None) -> tuple[int, str | None]:
    """Follow a value through one line: bracket depth and any open multi-line string."""
    n = len(s)
    while i < n:
        if ml:
            j = i
            while j < n and not s.startswith(ml, j):
                j += 2 if (ml == '"""' and s[j] == "\\") else 1
            if j >= n:
                return depth, ml
            i = j + 3
            while i < n and s[i] == ml[0]:  # up to two quotes may end the content
                i += 1
            ml = None
            continue
        c = s[i]
        if c == "#":
            break
        if s.startswith('"""', i) or s.startswith("'''", i):
            ml, i = s[i : i + 3], i + 3
            continue
        if c == '"':
            i += 1
            while i < n and s[i] != '"':
                i += 2 if s[i] == "\\" else 1
        elif c == "'":
            j = s.find("'", i + 1)
            i = n if j < 0 else j
        elif c in "[{":
            depth += 1
        elif c in "]}":
            depth = max(0, depth - 1)
        i += 1
    return depth, ml


# ---------------------------------------------------------------------------
# Validation

_INVALID = object()  # a value that already produced an error
_WRONG = object()  # a value of the wrong type, not reported yet
_SUBST = re.compile(r"\$\$\{|\$\{([A-Za-z_][A-Za-z0-9_]*)\}|\$\{")
_MAX_ECHO = 40

_EXPECTED = {
    "str": "a string",
    "int": "an integer",
    "number": "a number",
    "bool": "true or false",
    "duration": DURATION_HINT.removeprefix("expected "),
    "size": SIZE_HINT.removeprefix("expected "),
    "str_list": "a list of strings",
    "int_list": "a list of integers",
    "str_map": "a table of strings",
    "table": "a table",
    "time": TIME_HINT.removeprefix("expected "),
}


def _type_name(v: Any) -> str:
    if isinstance(v, bool):
        return "boolean"
    if isinstance(v, int):
        return "integer"
    if isinstance(v, float):
        return "float"
    if isinstance(v, str):
        return "string"
    if isinstance(v, list):
        return "array"
    if isinstance(v, dict):
        return "table"
    return type(v).__name__  # date, time, datetime


def _got(v: Any) -> str:
    """How a wrong value is shown in an error; never long strings or ${VAR} ones (may be secret)."""
    if isinstance(v, str):
        if "${" in v or len(v) > _MAX_ECHO:
            return "a string (not shown)"
        return f"{clean(json.dumps(v, ensure_ascii=False), limit=None)} (string)"
    if isinstance(v, bool):
        return f"{str(v).lower()} (boolean)"
    if isinstance(v, (int, float)):
        return f"{v} ({_type_name(v)})"
    if isinstance(v, list):
        return "an array"
    if isinstance(v, dict):
        return "a table"
    return f"a {_type_name(v)}"


def _quote(s: str) -> str:
    """A string quoted for an error message, unless it may be secret or is too long."""
    shown = _got(s)
    return shown.removesuffix(" (string)") if shown.endswith(" (string)") else "(not shown)"


def _show_key(key: str | int) -> str:
    if isinstance(key, int):
        return f"[{key}]"
    if _BARE_KEY.fullmatch(key):
        return key
    return clean(json.dumps(key, ensure_ascii=False), limit=60)


@dataclass(frozen=True)
class _Where:
    """A key path both as the locator knows it and as the user reads it."""

    raw: _Path
    shown: str

    def key(self, key: str) -> "_Where":
        shown = _show_key(key)
        return _Where(self.raw + (key,), f"{self.shown}.{shown}" if self.shown else shown)

    def index(self, i: int) -> "_Where":
        return _Where(self.raw + (i,), f"{self.shown}[{i}]")


def _unknown_key(key: str, allowed: Iterable[str]) -> str:
    allowed = sorted(allowed)
    close = difflib.get_close_matches(key, allowed, n=1)
    if close:
        return f'unknown key; did you mean "{close[0]}"?'
    if allowed:
        return "unknown key; expected one of: " + ", ".join(allowed)
    return "unknown key"


class _Loader:
    def __init__(self, path: str, locator: _Locator, environ: Mapping[str, str], kinds: Mapping[str, Any]) -> None:
        self.path = path
        self.locator = locator
        self.environ = environ
        self.kinds = kinds
        self.errors: list[tuple[int, str]] = []
        self.secrets: set[str] = set()
        self.check_secrets: set[str] = set()
        self.disabled: set[str] = set()  # names of checks left out with enabled = false
        self.retention: float | None = DEFAULT_RETENTION  # None when [dashboard] retention is invalid

    # -- errors and substitution

    def error(self, where: _Where, message: str) -> None:
        line = self.locator.line(where.raw)
        self.errors.append((line, f"{self.path}:{line}: {where.shown}: {message}"))

    def substitute(self, value: str, where: _Where) -> Any:
        """Replace ${VAR} from the environment ($${ is a literal ${); records secrets."""
        if "$" not in value:
            return value
        ok = True

        def replace(m: re.Match[str]) -> str:
            nonlocal ok
            if m.group() == "$${":
                return "${"
            name = m.group(1)
            if name is None:
                ok = False
                self.error(where, 'bad "${" reference; expected ${NAME} (write $${ for a literal "${")')
                return ""
            if name not in self.environ:
                ok = False
                self.error(where, f"environment variable {name} is not set")
                return ""
            secret = self.environ[name]
            self.secrets.add(secret)
            self.check_secrets.add(secret)
            return secret

        result = _SUBST.sub(replace, value)
        return result if ok else _INVALID

    # -- conversion driven by Field

    def convert(self, value: Any, f: Field, where: _Where) -> Any:
        """The value converted to what `f` declares, or _INVALID after reporting why."""
        t = f.type
        if t not in _EXPECTED and t != "any":
            self.error(where, f'the check kind declares an unknown field type "{t}" (a bug in the kind)')
            return _INVALID
        out = self._convert(value, f, where)
        if out is _WRONG:
            self.error(where, f"expected {_EXPECTED[t]}, got {_got(value)}")
            return _INVALID
        return self._finish(out, f, where, value)

    def _convert(self, value: Any, f: Field, where: _Where) -> Any:
        """One type's conversion: _WRONG for a type mismatch (not yet reported),
        _INVALID when already reported."""
        t = f.type
        is_int = isinstance(value, int) and not isinstance(value, bool)
        if t == "any":
            return self.any(value, where)
        if t == "str":
            return self.substitute(value, where) if isinstance(value, str) else _WRONG
        if t == "int":
            return value if is_int else _WRONG
        if t == "number":
            return value if is_int or isinstance(value, float) else _WRONG
        if t == "bool":
            return value if isinstance(value, bool) else _WRONG
        if t == "time":
            if isinstance(value, dt.datetime):
                s = value
            elif isinstance(value, str):
                s = self.substitute(value, where)
                if s is _INVALID:
                    return _INVALID
            else:
                return _WRONG
            try:
                return parse_time(s)
            except ValueError as e:
                self.error(where, f"{e}, got {_got(value)}")
                return _INVALID
        if t in ("duration", "size"):
            if not (isinstance(value, str) or (t == "size" and is_int)):
                return _WRONG
            s = self.substitute(value, where) if isinstance(value, str) else value
            if s is _INVALID:
                return _INVALID
            try:
                return parse_duration(s) if t == "duration" else parse_size(s)
            except ValueError as e:
                self.error(where, f"{e}, got {_got(value)}")
                return _INVALID
        if t in ("str_list", "int_list"):
            if not isinstance(value, list):
                return _WRONG
            item = Field("str" if t == "str_list" else "int")
            items = [self.convert(v, item, where.index(i)) for i, v in enumerate(value)]
            return _INVALID if _INVALID in items else tuple(items)
        if t == "str_map":
            if not isinstance(value, dict):
                return _WRONG
            item = Field("str")
            mapped = {k: self.convert(v, item, where.key(k)) for k, v in value.items()}
            return _INVALID if _INVALID in mapped.values() else mapped
        # "table"
        if not isinstance(value, dict):
            return _WRONG
        if f.fields is None:
            return self.any(value, where)
        before = len(self.errors)
        out = self.table(value, f.fields, where)
        return out if len(self.errors) == before else _INVALID

    def _finish(self, value: Any, f: Field, where: _Where, raw: Any) -> Any:
        """Apply `choices` and the field's own `validate`; `raw` is what the file said
        (shown instead of the substituted value, which may hold a secret)."""
        if value is _INVALID:
            return value
        if f.choices is not None and value not in f.choices:
            names = ", ".join(json.dumps(c) if isinstance(c, str) else str(c) for c in f.choices)
            hint = ""
            if isinstance(value, str):
                close = difflib.get_close_matches(value, [c for c in f.choices if isinstance(c, str)], n=1)
                hint = f'; did you mean "{close[0]}"?' if close else ""
            self.error(where, f"expected one of {names}, got {_got(raw)}{hint}")
            return _INVALID
        if f.validate is not None:
            problem = f.validate(value)
            if problem:
                self.error(where, problem)
                return _INVALID
        return value

    def any(self, value: Any, where: _Where) -> Any:
        """Free-form data: substitute ${VAR} in every string inside."""
        if isinstance(value, str):
            return self.substitute(value, where)
        if isinstance(value, list):
            items = [self.any(v, where.index(i)) for i, v in enumerate(value)]
            return _INVALID if _INVALID in items else items
        if isinstance(value, dict):
            mapped = {k: self.any(v, where.key(k)) for k, v in value.items()}
            return _INVALID if _INVALID in mapped.values() else mapped
        return value

    def table(
        self,
        raw: Mapping[str, Any],
        fields: Mapping[str, Field],
        where: _Where,
        *,
        also_allowed: Iterable[str] = (),
        check_unknown: bool = True,
    ) -> dict[str, Any]:
        """Validate a table against `fields`: unknown keys flagged, required keys checked,
        defaults filled. Every field is in the result; None where the value was invalid
        (callers compare error counts to know whether it all went well)."""
        also = set(also_allowed)
        if check_unknown:
            for key in raw:
                if key not in fields and key not in also:
                    self.error(where.key(key), _unknown_key(key, [*fields, *also]))
        out: dict[str, Any] = {}
        for key, f in fields.items():
            if key in raw:
                value = self.convert(raw[key], f, where.key(key))
                out[key] = None if value is _INVALID else value
            else:
                if f.required:
                    hint = ""
                    if f.choices:
                        hint = "; expected one of: " + ", ".join(map(str, f.choices))
                    self.error(where.key(key), f"required key is missing{hint}")
                out[key] = _default(f)
        return out

    # -- the file

    def load(self, doc: dict[str, Any]) -> Config:
        top = _Where((), "")
        for key in doc:
            if key not in TOP_FIELDS:
                self.error(top.key(key), _unknown_key(key, TOP_FIELDS))
        dashboard = self._section(doc, "dashboard")
        self.retention = dashboard["retention"]
        state_dir = self._state_dir(dashboard["state_dir"])
        defaults = self._section(doc, "defaults")
        alerts = self._section(doc, "alerts")
        keys_value = doc.get("keys", {})
        keys = self.convert(keys_value, TOP_FIELDS["keys"], top.key("keys"))
        self.check_secrets = set()
        if defaults["timeout"] is not None and defaults["interval"] is not None:
            if defaults["timeout"] > defaults["interval"]:
                self.error(top.key("defaults").key("timeout"), _longer(defaults["timeout"], defaults["interval"]))
        breaker_defaults = BreakerSettings()
        if defaults["breaker"] is not None:
            where = top.key("defaults").key("breaker")
            breaker_defaults = self._breaker_settings(BreakerSettings(), defaults["breaker"], where) or breaker_defaults

        checks: list[CheckConfig] = []
        seen: dict[str, int] = {}
        breakers: dict[str, CheckConfig] = {}
        for index, raw in enumerate(self._tables(doc, "check")):
            check = self._check(index, raw, defaults, seen, breaker_defaults, breakers)
            if check is not None:
                checks.append(check)

        canaries = self._canaries(dashboard["canary"], seen)
        services = self._services(self._tables(doc, "service"), seen)
        maintenance = [m for i, raw in enumerate(self._tables(doc, "maintenance")) if (m := self._maintenance(i, raw))]
        notify = [n for i, raw in enumerate(self._tables(doc, "notify")) if (n := self._notify(i, raw))]
        alertmanager = self._alertmanager(doc["alertmanager"]) if "alertmanager" in doc else None
        alert_settings = self._alert_settings(alerts)

        if self.errors:
            redact = Redactor(self.secrets)
            unique = list(dict.fromkeys(self.errors))
            unique.sort(key=lambda e: e[0])  # stable: same-line errors keep their order
            raise ConfigError([redact(text) for _, text in unique])
        return Config(
            path=self.path,
            title=dashboard["title"],
            concurrency=dashboard["concurrency"],
            checks=tuple(checks),
            keys=keys,
            redactor=Redactor(self.secrets),
            services=services,
            canaries=canaries,
            alerts=alert_settings,
            maintenance=tuple(maintenance),
            notify=tuple(notify),
            state_dir=state_dir,
            retention=float(dashboard["retention"]),
            alertmanager=alertmanager,
        )

    def _state_dir(self, value: str | None) -> str | None:
        """[dashboard] state_dir as an absolute path: "~" is the home directory, and a
        relative path is taken from the config file's directory (not the current one)."""
        if value is None:
            return None
        if value == "~" or value.startswith("~/"):
            home = self.environ.get("HOME") or str(Path.home())
            value = home + value[1:]
        return os.path.abspath(os.path.join(os.path.dirname(self.path), value))

    def _slo(self, raw: Any, values: Mapping[str, Any] | None, where: _Where) -> SLO | None:
        """A check's or service's `slo` (None when unset or invalid); reports a window
        that the kept history would not cover."""
        if values is None:
            return None
        slo = SLO(target=float(values["target"]), window=float(values["window"]))
        if self.retention is not None and slo.window > self.retention:
            given = isinstance(raw, dict) and "window" in raw
            self.error(
                where.key("window") if given else where,
                f"the {'' if given else 'default '}window {format_duration(slo.window)} is longer than the history"
                f" kept (dashboard.retention {format_duration(self.retention)})" + ("" if given else "; set a window"),
            )
        return slo

    def _section(self, doc: Mapping[str, Any], name: str) -> dict[str, Any]:
        """[dashboard], [defaults] or [alerts], with every key present (None where invalid)."""
        f = TOP_FIELDS[name]
        assert f.fields is not None
        where = _Where((name,), name)
        value = doc.get(name, {})
        if not isinstance(value, dict):
            self.error(where, f"expected a table, got {_got(value)}")
            value = {}
        return self.table(value, f.fields, where)

    def _tables(self, doc: Mapping[str, Any], name: str) -> list[dict[str, Any]]:
        """An array of tables such as [[check]]; anything else is reported and ignored."""
        raw = doc.get(name, [])
        if not isinstance(raw, list) or not all(isinstance(c, dict) for c in raw):
            self.error(
                _Where((name,), name), f"write each {name} as a [[{name}]] table (double brackets), got {_got(raw)}"
            )
            return []
        return raw

    def _reference(self, where: _Where, ref: str, known: Iterable[str], what: str) -> bool:
        """False (after reporting it, with the closest name) when `ref` is not in `known`."""
        known = set(known)
        if ref in known:
            return True
        self.error(where, _no_such(ref, known, what))
        return False

    # -- checks

    def _check(
        self,
        index: int,
        raw: dict[str, Any],
        defaults: Mapping[str, Any],
        seen: dict[str, int],
        breaker_defaults: BreakerSettings,
        breakers: dict[str, CheckConfig],
    ) -> CheckConfig | None:
        name = raw.get("name")
        usable = isinstance(name, str) and "${" not in name and _printable("a name")(name) is None
        if usable:  # errors name the check when its name is fit to show
            where = _Where(("check", index), f"check[{name}]")
        else:
            where = _Where(("check", index), f"check[#{index + 1}]")
        self.check_secrets = set()
        errors_before = len(self.errors)
        if isinstance(name, str) and "${" in name:
            self.error(where.key("name"), _NO_VARS_IN_NAMES)

        kind = raw.get("kind")
        kind_fields: Mapping[str, Field] | None = None
        known = ", ".join(sorted(self.kinds))
        if "kind" not in raw:
            self.error(where.key("kind"), f"required key is missing; known kinds: {known}")
        elif not isinstance(kind, str):
            self.error(where.key("kind"), f"expected a string, got {_got(kind)}; known kinds: {known}")
        elif kind not in self.kinds:
            close = difflib.get_close_matches(kind, list(self.kinds), n=1)
            hint = f' did you mean "{close[0]}"?' if close else ""
            self.error(where.key("kind"), f"unknown kind {_quote(kind)};{hint} known kinds: {known}")
        else:
            kind_fields = {k: f for k, f in getattr(self.kinds[kind], "FIELDS", {}).items() if k not in COMMON_FIELDS}

        by_hand = ("kind", "breaker")
        common = {k: f for k, f in COMMON_FIELDS.items() if k not in by_hand}
        values = self.table(
            raw,
            {**common, **(kind_fields or {})},
            where,
            also_allowed=by_hand,
            check_unknown=kind_fields is not None,  # unknown kind: its keys cannot be judged
        )
        breaker = self._check_breaker(raw, where, breaker_defaults)
        slo = self._slo(raw.get("slo"), values["slo"], where.key("slo"))

        # the name is checked for duplicates even when something else is wrong
        if isinstance(name, str) and name.strip():
            line = self.locator.line(where.key("name").raw)
            if name in seen:
                self.error(where.key("name"), f"duplicate check name; the first one is at line {seen[name]}")
            else:
                seen[name] = line
        if kind_fields is None:
            return None

        # a key the check sets wins even when invalid (None), so defaults never mask its error
        interval, timeout, retries, confirm, recover = (
            values[k] if k in raw else defaults[k] for k in ("interval", "timeout", "retries", "confirm", "recover")
        )
        overrides = "interval" in raw or "timeout" in raw  # else [defaults] already reported it
        if overrides and interval is not None and timeout is not None and timeout > interval:
            self.error(where.key("timeout" if "timeout" in raw else "interval"), _longer(timeout, interval))
        if len(self.errors) > errors_before or None in (interval, timeout, retries, confirm, recover) or breaker is None:
            return None
        if not values["enabled"]:
            self.disabled.add(values["name"])
            return None
        check = CheckConfig(
            name=values["name"],
            kind=kind,
            interval=float(interval),
            timeout=float(timeout),
            retries=int(retries),
            options={k: values[k] for k in kind_fields},
            tags=tuple(values["tags"]),
            runbook=values["runbook"],
            description=values["description"],
            line=self.locator.line(where.raw),
            secrets=frozenset(s for s in self.check_secrets if s),
            confirm=int(confirm),
            recover=int(recover),
            breaker=breaker[0] or values["name"],
            breaker_settings=breaker[1],
            slo=slo,
        )
        first = breakers.setdefault(check.breaker, check)
        if first is not check and first.breaker_settings != check.breaker_settings:
            differ = [f.name for f in dataclass_fields(BreakerSettings) if getattr(first.breaker_settings, f.name) != getattr(check.breaker_settings, f.name)]
            self.error(
                where.key("breaker"),
                f"breaker {_quote(check.breaker)} is shared with check {first.name} but has different settings"
                f" ({', '.join(differ)})",
            )
            return None
        return check

    def _check_breaker(
        self, raw: Mapping[str, Any], where: _Where, base: BreakerSettings
    ) -> tuple[str, BreakerSettings] | None:
        """A check's `breaker`: ("" for its own name, settings), or None after reporting why."""
        if "breaker" not in raw:
            return "", base
        value, at = raw["breaker"], where.key("breaker")
        name_field = Field("str", validate=_printable("a breaker name"))
        if isinstance(value, str):
            name = self.convert(value, name_field, at)
            return None if name is _INVALID else (name, base)
        if not isinstance(value, dict):
            self.error(at, f'expected a breaker name or a table like {{ name = "orders-db", failure_rate = 50 }}, got {_got(value)}')
            return None
        before = len(self.errors)
        values = self.table(value, {"name": name_field, **BREAKER_FIELDS}, at)
        if len(self.errors) > before:
            return None
        settings = self._breaker_settings(base, {k: v for k, v in values.items() if k != "name"}, at)
        return None if settings is None else (values["name"] or "", settings)

    def _breaker_settings(self, base: BreakerSettings, values: Mapping[str, Any], where: _Where) -> BreakerSettings | None:
        """`base` with the keys that were given; None after reporting open_for_max < open_for."""
        given = {k: v for k, v in values.items() if v is not None}
        for k, v in given.items():
            if k not in ("min_calls", "enabled"):
                given[k] = float(v)
        settings = replace(base, **given)
        if settings.open_for_max < settings.open_for:
            key = "open_for_max" if "open_for_max" in given or "open_for" not in given else "open_for"
            self.error(
                where.key(key),
                f"open_for_max {format_duration(settings.open_for_max)} is shorter than open_for {format_duration(settings.open_for)}",
            )
            return None
        return settings

    def _canaries(self, names: tuple[str, ...] | None, checks: Mapping[str, int]) -> tuple[str, ...]:
        """[dashboard] canary: existing check names (disabled ones left out)."""
        where = _Where(("dashboard", "canary"), "dashboard.canary")
        out = []
        for i, name in enumerate(names or ()):
            if self._reference(where.index(i), name, checks, "check") and name not in self.disabled:
                out.append(name)
        return tuple(dict.fromkeys(out))

    # -- services

    def _services(self, tables: list[dict[str, Any]], checks: Mapping[str, int]) -> tuple[ServiceConfig, ...]:
        """Every [[service]]: shapes first, then references (which may point forward), then cycles."""
        parsed: list[tuple[str | None, ServiceConfig | None, dict[str, _Where]]] = []
        lines: dict[str, int] = {}
        for index, raw in enumerate(tables):
            parsed.append(self._service(index, raw, checks, lines))

        known = set(checks) | set(lines)
        for _, _, refs in parsed:
            for ref, at in refs.items():
                self._reference(at, ref, known, "check or service")
        # cycles are looked for even among services with other errors: one run shows them all
        graph = {name: refs for name, _, refs in parsed if name is not None and lines.get(name) is not None}
        for cycle in _cycles([(name, [r for r in refs if r in graph]) for name, refs in graph.items()]):
            self.error(graph[cycle[0]][cycle[1]], "service cycle: " + " -> ".join(cycle))
        return tuple(_without(s, self.disabled) for _, s, _ in parsed if s is not None)

    def _service(
        self, index: int, raw: dict[str, Any], checks: Mapping[str, int], lines: dict[str, int]
    ) -> tuple[str | None, ServiceConfig | None, dict[str, _Where]]:
        """One [[service]]: (its name when usable, the service or None when invalid,
        each referenced name -> where it is first named)."""
        name = raw.get("name")
        usable = isinstance(name, str) and "${" not in name and _printable("a name")(name) is None
        where = _Where(("service", index), f"service[{name}]" if usable else f"service[#{index + 1}]")
        before = len(self.errors)
        if isinstance(name, str) and "${" in name:
            self.error(where.key("name"), _NO_VARS_IN_NAMES)
        values = self.table(
            raw, {k: f for k, f in SERVICE_FIELDS.items() if k != "redundant"}, where, also_allowed=("redundant",)
        )
        first = False
        if isinstance(name, str) and name.strip():
            at = where.key("name")
            if name in lines:
                self.error(at, f"duplicate service name; the first one is at line {lines[name]}")
            elif name in checks:
                self.error(at, f"a check has this name (line {checks[name]}); checks and services share one namespace")
            else:
                lines[name] = self.locator.line(at.raw)
                first = True

        refs: dict[str, _Where] = {}
        for i, ref in enumerate(values["requires"] or ()):
            refs.setdefault(ref, where.key("requires").index(i))
        optional = []
        for ref, mode in (values["optional"] or {}).items():
            at = where.key("optional").key(ref)
            problem = _printable("a degraded mode")(mode)
            if problem:
                self.error(at, problem)
            refs.setdefault(ref, at)
            optional.append((ref, mode))
        groups = self._redundant(raw.get("redundant"), where.key("redundant"), refs) if "redundant" in raw else ()
        slo = self._slo(raw.get("slo"), values["slo"], where.key("slo"))
        key = name if first else None
        if len(self.errors) > before or groups is None:
            return key, None, refs
        service = ServiceConfig(
            name=values["name"],
            description=values["description"],
            tier=values["tier"],
            tags=tuple(values["tags"]),
            requires=tuple(dict.fromkeys(values["requires"])),
            optional=tuple(optional),
            redundant=groups,
            line=self.locator.line(where.raw),
            slo=slo,
        )
        return key, service, refs

    def _redundant(self, value: Any, where: _Where, refs: dict[str, _Where]) -> tuple[RedundantGroup, ...] | None:
        if not isinstance(value, list) or not all(isinstance(g, dict) for g in value):
            self.error(where, f"expected a list of tables like {{ members = [\"a\", \"b\"], min_ok = 1 }}, got {_got(value)}")
            return None
        groups = []
        before = len(self.errors)
        for i, raw in enumerate(value):
            at = where.index(i)
            g = self.table(raw, REDUNDANT_FIELDS, at)
            members = tuple(dict.fromkeys(g["members"] or ()))
            for j, ref in enumerate(g["members"] or ()):
                refs.setdefault(ref, at.key("members").index(j))
            if g["members"] is not None and len(members) < 2:
                self.error(at.key("members"), "a redundant group needs at least two different members")
            elif g["min_ok"] is not None and g["min_ok"] > len(members):
                self.error(at.key("min_ok"), f"min_ok {g['min_ok']} is more than the {len(members)} members")
            groups.append(RedundantGroup(members=members, min_ok=g["min_ok"] or 1, mode=g["mode"] or ""))
        return None if len(self.errors) > before else tuple(groups)

    # -- alerts, maintenance, notifications

    def _alert_settings(self, values: Mapping[str, Any]) -> AlertSettings:
        start, stop = values["flap_start"], values["flap_stop"]
        if start is not None and stop is not None and stop > start:
            self.error(
                _Where(("alerts", "flap_stop"), "alerts.flap_stop"), f"flap_stop {stop:g} is above flap_start {start:g}"
            )
        if None in values.values():
            return AlertSettings()
        return AlertSettings(
            flap_window=values["flap_window"],
            flap_start=float(start),
            flap_stop=float(stop),
            resolved_for=float(values["resolved_for"]),
            bell=values["bell"],
            toast=values["toast"],
        )

    def _maintenance(self, index: int, raw: dict[str, Any]) -> MaintenanceWindow | None:
        where = _Where(("maintenance", index), f"maintenance[#{index + 1}]")
        before = len(self.errors)
        values = self.table(raw, MAINTENANCE_FIELDS, where)
        if "match" not in raw and not raw.get("tags"):
            self.error(where, 'needs "match" (a name glob) or "tags", or both')
        start, end = values["start"], values["end"]
        if start is not None and end is not None and end <= start:
            self.error(where.key("end"), "must be after start")
        if len(self.errors) > before:
            return None
        return MaintenanceWindow(
            start=start,
            end=end,
            match=values["match"],
            tags=tuple(values["tags"] or ()),
            reason=values["reason"],
            line=self.locator.line(where.raw),
        )

    def _notify(self, index: int, raw: dict[str, Any]) -> NotifyConfig | None:
        where = _Where(("notify", index), f"notify[#{index + 1}]")
        before = len(self.errors)
        self.check_secrets = set()
        values = self.table(raw, NOTIFY_FIELDS, where)
        if values["kind"] == "alertmanager" and values["url"] is not None:
            problem = _alertmanager_url(values["url"])
            if problem:
                self.error(where.key("url"), problem)
        if len(self.errors) > before:
            return None
        return NotifyConfig(
            kind=values["kind"],
            url=values["url"],
            headers=dict(values["headers"]),
            min_priority=PRIORITIES.index(values["min_priority"]) + 1,
            timeout=float(values["timeout"]),
            retries=values["retries"],
            line=self.locator.line(where.raw),
            secrets=frozenset(s for s in self.check_secrets if s),
        )


    def _alertmanager(self, raw: Any) -> AlertmanagerConfig | None:
        """The [alertmanager] table; None (after reporting why) when unusable."""
        where = _Where(("alertmanager",), "alertmanager")
        if not isinstance(raw, dict):
            self.error(where, f'expected a table like [alertmanager] url = "http://127.0.0.1:9093", got {_got(raw)}')
            return None
        before = len(self.errors)
        self.check_secrets = set()
        values = self.table(raw, ALERTMANAGER_FIELDS, where)
        interval, timeout = values["interval"], values["timeout"]
        if interval is not None and timeout is not None and timeout > interval:
            self.error(where.key("timeout" if "timeout" in raw else "interval"), _longer(timeout, interval))
        if len(self.errors) > before:
            return None
        return AlertmanagerConfig(
            url=values["url"],
            headers=dict(values["headers"]),
            interval=float(interval),
            timeout=float(timeout),
            line=self.locator.line(where.raw),
            secrets=frozenset(s for s in self.check_secrets if s),
        )


def _cycles(graph: list[tuple[str, list[str]]]) -> list[list[str]]:
    """Each cycle once, as a path starting and ending at its earliest node in `graph` order.

    Depth-first with an explicit stack, so a chain of 100k services cannot exhaust
    Python's recursion limit.
    """
    order = {name: i for i, (name, _) in enumerate(graph)}
    edges = dict(graph)
    state: dict[str, int] = {}  # 1 on the current path, 2 finished
    found: list[list[str]] = []
    seen: set[tuple[str, ...]] = set()
    for root, _ in graph:
        if root in state:
            continue
        path: list[str] = [root]
        state[root] = 1
        stack = [iter(edges.get(root, ()))]
        while stack:
            nxt = next(stack[-1], None)
            if nxt is None:
                stack.pop()
                state[path.pop()] = 2
            elif state.get(nxt) == 1:
                loop = path[path.index(nxt):]
                k = loop.index(min(loop, key=order.__getitem__))
                loop = loop[k:] + loop[:k]
                if tuple(loop) not in seen:
                    seen.add(tuple(loop))
                    found.append([*loop, loop[0]])
            elif nxt not in state:
                state[nxt] = 1
                path.append(nxt)
                stack.append(iter(edges.get(nxt, ())))
    return found


def _without(service: ServiceConfig, disabled: set[str]) -> ServiceConfig:
    """The service minus references to disabled checks (they neither help nor hurt it)."""
    if not disabled.intersection(service.dependencies):
        return service
    groups = []
    for g in service.redundant:
        members = tuple(m for m in g.members if m not in disabled)
        if members:
            groups.append(replace(g, members=members, min_ok=min(g.min_ok, len(members))))
    return replace(
        service,
        requires=tuple(r for r in service.requires if r not in disabled),
        optional=tuple((n, m) for n, m in service.optional if n not in disabled),
        redundant=tuple(groups),
    )


def _no_such(ref: str, known: Iterable[str], what: str) -> str:
    close = difflib.get_close_matches(ref, sorted(known), n=1)
    hint = f'; did you mean "{close[0]}"?' if close else ""
    return f"no {what} is named {_quote(ref)}{hint}"


def _longer(timeout: float, interval: float) -> str:
    return f"timeout {format_duration(timeout)} is longer than interval {format_duration(interval)}"


def _default(f: Field) -> Any:
    """A field's default in converted form; tables absent from the file get their defaults
    filled unless one of their keys is required (then None)."""
    d = f.default
    if d is None and f.type == "table" and f.fields:
        if any(sub.required for sub in f.fields.values()):
            return None
        return {k: _default(sub) for k, sub in f.fields.items()}
    if isinstance(d, str) and f.type == "duration":
        return parse_duration(d)
    if isinstance(d, str) and f.type == "size":
        return parse_size(d)
    if isinstance(d, list):
        return tuple(d)
    if isinstance(d, dict):
        return dict(d)
    return d


def _check_references(
    refs: Iterable[tuple[str, int, str, str]],
    names: Iterable[str],
) -> list[str]:
    """Errors for references to undefined checks.

    `refs` are (file, line, key path, referenced name); a hook for sections that
    name checks (e.g. services), kept generic so they only list their references.
    """
    known = set(names)
    return [f"{file}:{line}: {shown}: {_no_such(ref, known, 'check')}" for file, line, shown, ref in refs if ref not in known]
