"""What the dashboard shows, as pure functions over snapshots (no Textual here).

Every rule the screens follow (sort order, filter, verdict, what counts as a
problem, how a row reads) lives here so it is tested without a terminal. The
widgets only turn these plain values into styled text, using a "tone" per piece
(ok, warn, crit, unknown, pending, muted) that the theme colours.
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dash.config import CheckConfig, format_duration
from dash.model import CheckResult, CheckState, Metric, Snapshot, Status
from dash.text import REDACTED, Redactor, clean, is_secret_header

Tone = str  # "ok" | "warn" | "crit" | "unknown" | "pending" | "muted"

SYMBOL = {Status.OK: "✔", Status.WARN: "▲", Status.CRIT: "✖", Status.UNKNOWN: "?"}
PENDING = "… pending"
# One glyph per past result, distinct in shape so the strip reads without colour.
HISTORY_GLYPH = {Status.OK: "▁", Status.WARN: "▄", Status.CRIT: "█", Status.UNKNOWN: "?"}
RETRY_MARK = "↻"
STALE_MARK = "stale"
SORTS = ("severity", "name", "latency", "last change")
HISTORY_WIDTH = 12
VERDICT_WORDS = {Status.OK: "ALL OK", Status.WARN: "DEGRADED", Status.CRIT: "FAILING", Status.UNKNOWN: "UNKNOWN"}
SPARK = "▁▂▃▄▅▆▇█"


# -- small formats ------------------------------------------------------------


def clock_text(ts: float) -> str:
    """Local wall time as HH:MM:SS."""
    return time.strftime("%H:%M:%S", time.localtime(ts))


def format_age(seconds: float) -> str:
    """Coarse age: 5s, 3m, 2h, 4d."""
    s = max(0.0, seconds)
    if s < 60:
        return f"{int(s)}s"
    if s < 3600:
        return f"{int(s // 60)}m"
    if s < 86400:
        return f"{int(s // 3600)}h"
    return f"{int(s // 86400)}d"


def format_latency(seconds: float | None) -> str:
    """0.4ms, 12ms, 1.2s, 130s; a dash when there is no result."""
    if seconds is None:
        return "-"
    if seconds < 0.0095:
        return f"{seconds * 1000:.1f}ms"
    if seconds < 1:
        return f"{seconds * 1000:.0f}ms"
    if seconds < 100:
        return f"{seconds:.1f}s"
    return f"{seconds:.0f}s"


def format_rate(bps: float) -> str:
    """Bytes per second, short SI form: 950B/s, 1.2KB/s, 3.4MB/s."""
    for unit, size in (("GB", 1e9), ("MB", 1e6), ("KB", 1e3)):
        if bps >= size:
            return f"{bps / size:.1f}{unit}/s"
    return f"{bps:.0f}B/s"


def spark(values: Sequence[float], low: float = 0.0, high: float | None = None) -> str:
    """A one-line bar chart of `values` scaled between `low` and `high` (default: the max)."""
    if not values:
        return ""
    top = max(values) if high is None else high
    span = top - low
    out = []
    for v in values:
        if not math.isfinite(v) or span <= 0:
            out.append(SPARK[0])
            continue
        frac = min(1.0, max(0.0, (v - low) / span))
        out.append(SPARK[round(frac * (len(SPARK) - 1))])
    return "".join(out)


# -- one check -------------------------------------------------------------------


def tone_of(state: CheckState) -> Tone:
    """The tone a check's status is drawn in."""
    return "pending" if state.last is None else state.status.value


def status_label(state: CheckState) -> str:
    """Symbol and word, so status reads without colour: "✖ crit", "… pending"."""
    if state.last is None:
        return PENDING
    return f"{SYMBOL[state.status]} {state.status.value}"


def history_strip(history: Sequence[CheckResult], width: int = HISTORY_WIDTH) -> tuple[tuple[str, Tone], ...]:
    """The last `width` results, oldest first, one glyph each."""
    return tuple(_STRIP_CELL[r.status] for r in history[-width:])


# Looked up once: Enum.value is slow, and this runs for every row on every refresh.
_STRIP_CELL: dict[Status, tuple[str, Tone]] = {s: (HISTORY_GLYPH[s], s.value) for s in Status}  # type: ignore[misc]


@dataclass(frozen=True, slots=True)
class Row:
    """One line of the checks table, as plain values."""

    name: str
    kind: str
    status: str
    tone: Tone
    latency: str
    history: tuple[tuple[str, Tone], ...]
    age: str
    message: str
    retried: bool = False
    stale: bool = False
    running: bool = False


def table_row(state: CheckState, now: float) -> Row:
    """How `state` reads in the checks table at wall time `now`."""
    last = state.last
    since = state.status_since
    return Row(
        name=state.name,
        kind=state.kind,
        status=status_label(state),
        tone=tone_of(state),
        latency=format_latency(last.latency if last else None),
        history=history_strip(state.history),
        age=format_age(now - since) if since is not None else "-",
        message=last.message if last else ("running…" if state.running else "waiting for the first result"),
        retried=bool(last and last.passed_after_retry),
        stale=state.is_stale(now),
        running=state.running,
    )


# -- the board ---------------------------------------------------------------------


def verdict(snapshot: Snapshot) -> tuple[str, Status]:
    """One word for the whole board; UNKNOWN until something has answered."""
    reported = [c.status for c in snapshot.checks if c.last is not None]
    if not reported:
        return VERDICT_WORDS[Status.UNKNOWN], Status.UNKNOWN
    worst = Status.worst(reported)
    return VERDICT_WORDS[worst], worst


def counts(checks: Iterable[CheckState]) -> dict[Tone, int]:
    """How many checks are in each status, pending (no result yet) counted apart."""
    out: dict[Tone, int] = {"ok": 0, "warn": 0, "crit": 0, "unknown": 0, "pending": 0}
    for c in checks:
        out[tone_of(c)] += 1
    return out


def _rank(state: CheckState) -> int:
    # Pending checks are not known to be bad: they sort after ok ones.
    return -1 if state.last is None else state.status.severity


def sort_checks(checks: Iterable[CheckState], mode: str = "severity") -> list[CheckState]:
    """Checks in display order.

    severity: crit, unknown, warn, ok, pending; ties by the oldest change first.
    name: alphabetical. latency: slowest first. last change: most recent first.
    """
    items = list(checks)
    inf = math.inf
    if mode == "name":
        return sorted(items, key=lambda c: (c.name.casefold(), c.name))
    if mode == "latency":
        return sorted(items, key=lambda c: (c.last is None, -(c.last.latency if c.last else 0.0), c.name))
    if mode == "last change":
        return sorted(items, key=lambda c: (c.status_since is None, -(c.status_since or 0.0), c.name))
    return sorted(items, key=lambda c: (-_rank(c), c.status_since if c.status_since is not None else inf, c.name))


def next_sort(mode: str) -> str:
    """The sort after `mode` in the `s` cycle."""
    return SORTS[(SORTS.index(mode) + 1) % len(SORTS)] if mode in SORTS else SORTS[0]


def matches(state: CheckState, query: str) -> bool:
    """Case-insensitive substring match over name, kind, tags and message; a leading `!` inverts."""
    q = query.strip()
    invert = q.startswith("!")
    if invert:
        q = q[1:].strip()
    if not q:
        return True
    needle = q.casefold()
    hay = [state.name, state.kind, *state.tags, state.last.message if state.last else ""]
    found = any(needle in h.casefold() for h in hay)
    return found != invert


def visible_checks(checks: Iterable[CheckState], query: str = "", mode: str = "severity") -> list[CheckState]:
    """The checks the table shows: filtered by `query`, in `mode` order."""
    return sort_checks((c for c in checks if matches(c, query)), mode)


def problems(checks: Iterable[CheckState]) -> list[CheckState]:
    """Checks whose last result is not ok: worst first, then the oldest change first."""
    bad = [c for c in checks if c.last is not None and c.status is not Status.OK]
    return sorted(bad, key=lambda c: (-c.status.severity, c.status_since or 0.0, c.name))


def problem_line(state: CheckState, now: float, name_width: int = 0) -> str:
    """One line about a failing check: name, since when, and why."""
    assert state.last is not None
    since = state.status_since if state.status_since is not None else state.last.finished_at
    reason = state.last.reason.value
    when = f"since {clock_text(since)} ({format_age(now - since)})"
    return f"{state.name.ljust(name_width)}  {when:<20}  {reason}: {state.last.message}"


# -- host metrics -------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Reading:
    """One host metric with a short history, for the host panel."""

    label: str
    value: str
    series: tuple[float, ...]
    low: float
    high: float | None
    tone: Tone


def host_check(checks: Iterable[CheckState]) -> CheckState | None:
    """The first check of kind "host", if any."""
    return next((c for c in checks if c.kind == "host"), None)


def _judge(metric: Metric | None) -> Tone:
    if metric is None:
        return "ok"
    if metric.crit is not None and metric.value >= metric.crit:
        return "crit"
    if metric.warn is not None and metric.value >= metric.warn:
        return "warn"
    return "ok"


def host_readings(state: CheckState, points: int = 8) -> list[Reading]:
    """CPU, memory, swap, load, disks and network of the latest host result, with history."""
    if state.last is None:
        return []
    latest = {m.name: m for m in state.last.metrics}
    recent = state.history[-points:]

    def series(name: str) -> tuple[float, ...]:
        return tuple(m.value for r in recent for m in r.metrics if m.name == name)

    out: list[Reading] = []
    for name, label in (("cpu_percent", "cpu"), ("memory_percent", "mem"), ("swap_percent", "swap")):
        if name in latest:
            m = latest[name]
            out.append(Reading(label, f"{m.value:.0f}%", series(name), 0.0, 100.0, _judge(m)))
    if "load1" in latest:
        out.append(Reading("load", f"{latest['load1'].value:.2f}", series("load1"), 0.0, None, _judge(latest.get("load_per_core"))))
    for name, m in latest.items():
        if name.startswith("disk:"):
            out.append(Reading(f"disk {name[5:]}", f"{m.value:.0f}%", series(name), 0.0, 100.0, _judge(m)))
    for name, label in (("net_rx_bps", "rx"), ("net_tx_bps", "tx")):
        if name in latest:
            out.append(Reading(label, format_rate(latest[name].value), series(name), 0.0, None, "ok"))
    return out


# -- detail ---------------------------------------------------------------------------


def _show_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_show_value(v) for v in value) + "]"
    return str(value)


def config_lines(check: CheckConfig, redactor: Redactor | None = None) -> list[tuple[str, str]]:
    """The check's configuration as (key, value) lines, secrets masked.

    Values of secret-looking keys (Authorization, Cookie, *token*, *password* ...) are
    masked whatever they hold; everything else goes through the redactor.
    """
    redact = (redactor or Redactor()).merged(Redactor(check.secrets))
    lines: list[tuple[str, str]] = [
        ("kind", check.kind),
        ("interval", format_duration(check.interval)),
        ("timeout", format_duration(check.timeout)),
        ("retries", str(check.retries)),
    ]
    if check.tags:
        lines.append(("tags", ", ".join(check.tags)))
    if check.description:
        lines.append(("description", check.description))

    def walk(prefix: str, value: Any, secret: bool) -> None:
        if value is None:
            return
        if isinstance(value, Mapping):
            for k, v in value.items():
                walk(f"{prefix}.{k}" if prefix else str(k), v, secret or is_secret_header(str(k)))
            return
        shown = REDACTED if secret else redact(_show_value(value))
        lines.append((clean(prefix, limit=80), clean(shown, limit=300)))

    walk("", dict(check.options), False)
    if check.runbook:
        lines.append(("runbook", redact(check.runbook)))
    return lines


def runbook_target(runbook: str | None, config_path: str | None) -> tuple[str, Any] | None:
    """What a check's runbook is: ("url", str), ("file", Path relative to the config) or ("text", str)."""
    if not runbook or not runbook.strip():
        return None
    text = runbook.strip()
    if text.lower().startswith(("http://", "https://")):
        return ("url", text)
    looks_like_path = text.lower().endswith((".md", ".markdown", ".txt")) or "/" in text
    if looks_like_path and " " not in text.strip("/"):
        base = Path(config_path).parent if config_path else Path.cwd()
        return ("file", base / Path(text).expanduser())
    return ("text", text)


def latency_summary(history: Sequence[CheckResult]) -> str:
    """last / min / avg / max latency over `history`."""
    if not history:
        return "no results yet"
    lat = [r.latency for r in history]
    return (
        f"last {format_latency(lat[-1])}  min {format_latency(min(lat))}  "
        f"avg {format_latency(sum(lat) / len(lat))}  max {format_latency(max(lat))}  ({len(lat)} results)"
    )


def last_error(history: Sequence[CheckResult]) -> CheckResult | None:
    """The most recent result that was not ok."""
    return next((r for r in reversed(history) if r.status is not Status.OK), None)


# -- keys --------------------------------------------------------------------------------


def keymap_from_config(keys: Mapping[str, str], known: Iterable[str]) -> tuple[dict[str, str], list[str]]:
    """Split `[keys]` into a Textual keymap (binding id -> keys) and the unknown action names."""
    ids = set(known)
    keymap = {action: key for action, key in keys.items() if action in ids and key.strip()}
    unknown = sorted(action for action in keys if action not in ids)
    return keymap, unknown
