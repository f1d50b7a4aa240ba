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

from checks.breakers import RemoteBreaker, remote_breakers
from dash.config import CheckConfig, format_duration
from dash.core.alerts import Alert, AlertState, Silence
from dash.core.breaker import BreakerSnapshot
from dash.core.services import ServiceHealth, ServiceStatus
from dash.model import BreakerState, CheckResult, CheckState, Metric, Snapshot, Status
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
AGENT_UNREACHABLE = "agent unreachable"  # how dash.agent.client.RemoteEngine's error line starts
UNREACHABLE_WORD = "AGENT UNREACHABLE"
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
    breaker: str = ""  # BREAKER_MARK of the check's breaker, "" when it lets probes through
    breaker_tone: Tone = ""


def table_row(state: CheckState, now: float, breaker: BreakerState | None = None) -> Row:
    """How `state` reads in the checks table at wall time `now` (`breaker`: its breaker's state)."""
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
        breaker=BREAKER_MARK.get(breaker, "") if breaker is not None else "",
        breaker_tone=BREAKER_TONE.get(breaker, "") if breaker is not None else "",
    )


# -- the board ---------------------------------------------------------------------


def agent_unreachable(snapshot: Snapshot) -> bool:
    """True when an attached board lost its agent: what it shows is stale."""
    return any(e.startswith(AGENT_UNREACHABLE) for e in snapshot.errors)


def verdict(snapshot: Snapshot) -> tuple[str, Status]:
    """One word for the whole board; UNKNOWN until something has answered.

    A board whose agent is unreachable says so instead: its last results are not
    news, and a stale board must never read "ALL OK".
    """
    if agent_unreachable(snapshot):
        return UNREACHABLE_WORD, Status.CRIT
    reported = [c.status for c in snapshot.checks if c.last is not None]
    if not reported:
        return VERDICT_WORDS[Status.UNKNOWN], Status.UNKNOWN
    worst = Status.worst(reported)
    return VERDICT_WORDS[worst], worst


@dataclass(frozen=True, slots=True)
class BoardError:
    """A line under the header about the board itself: `loud` ones (the agent is gone)
    are drawn like MONITOR OFFLINE, the others (Alertmanager cannot be read) in warning colour."""

    text: str
    tone: Tone
    loud: bool


def board_errors(snapshot: Snapshot) -> list[BoardError]:
    """The snapshot's errors, the agent's first: they say whether the board is live at all."""
    out = [
        BoardError(f"⚠ {e}", "crit", True) if e.startswith(AGENT_UNREACHABLE) else BoardError(f"⚠ {e}", "warn", False)
        for e in snapshot.errors
    ]
    return sorted(out, key=lambda e: not e.loud)


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
    """The first check of kind "host", else of kind "node" (node_exporter, same metric names), if any."""
    items = list(checks)
    return next((c for c in items if c.kind == "host"), None) or next((c for c in items if c.kind == "node"), None)


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


# -- circuit breakers -------------------------------------------------------------------

# Drawn next to a check's status: only the states in which its probes are held back.
BREAKER_MARK: dict[BreakerState, str] = {
    BreakerState.OPEN: "⊘",
    BreakerState.HALF_OPEN: "◐",
    BreakerState.FORCED_OPEN: "⊗",
}
BREAKER_TONE: dict[BreakerState, Tone] = {
    BreakerState.CLOSED: "ok",
    BreakerState.OPEN: "crit",
    BreakerState.HALF_OPEN: "warn",
    BreakerState.FORCED_OPEN: "warn",
    BreakerState.FORCED_CLOSED: "warn",  # protection switched off by hand
    BreakerState.METRICS_ONLY: "unknown",
    BreakerState.DISABLED: "muted",
}
REMOTE_SEP = " › "


def breaker_marks(snapshot: Snapshot, breaker_of: Mapping[str, str]) -> dict[str, BreakerState]:
    """Check name -> its breaker's state, for the checks whose breaker holds probes back.

    `breaker_of` maps check names to breaker names (a check's own name unless shared).
    """
    states = {b.name: b.state for b in snapshot.breakers if b.state in BREAKER_MARK}
    if not states:
        return {}
    out: dict[str, BreakerState] = {}
    for c in snapshot.checks:
        state = states.get(breaker_of.get(c.name, c.name))
        if state is not None:
            out[c.name] = state
    return out


def format_percent(value: float | None) -> str:
    """100%, 50%, 6.7%; a dash when unknown."""
    if value is None or not math.isfinite(value):
        return "-"
    return f"{value:.0f}%" if value >= 10 or value == 0 else f"{value:.1f}%"


def format_per_minute(value: float | None) -> str:
    """Calls per minute: 0, 2.5, 12, 1.2k; a dash when unknown."""
    if value is None or not math.isfinite(value):
        return "-"
    if value >= 1000:
        return f"{value / 1000:.1f}k"
    if value >= 10 or value == 0:
        return f"{value:.0f}"
    return f"{value:.1f}"


def format_countdown(seconds: float) -> str:
    """Time left, rounded up so it never reads 0 before it is due: 24s, 4m05s, 1h02m."""
    s = max(0, math.ceil(seconds - 1e-9))
    if s < 60:
        return f"{s}s"
    if s < 3600:
        return f"{s // 60}m{s % 60:02d}s"
    return f"{s // 3600}h{s % 3600 // 60:02d}m"


def trial_text(b: BreakerSnapshot) -> str:
    """When the half-open trial comes: "in 24s", "due", "running", "held" (forced open), or ""."""
    if b.state is BreakerState.OPEN:
        if b.next_trial_in is None:
            return ""
        return f"in {format_countdown(b.next_trial_in)}" if b.next_trial_in > 0 else "due"
    if b.state is BreakerState.HALF_OPEN:
        return "running"
    if b.state is BreakerState.FORCED_OPEN:
        return "held"
    return ""


@dataclass(frozen=True, slots=True)
class BreakerRow:
    """One line of the breaker panel, as plain values.

    `key` identifies the row: the breaker name for ours, "<check>\\x1f<name>" for a
    watched application's. `source` is the reporting check ("" for ours);
    `breaker` the snapshot (ours) or the decoded report (theirs), for the detail pane.
    """

    key: str
    name: str
    own: bool
    state: str
    tone: Tone
    error: str
    rate: str
    p50: str
    p90: str
    p99: str
    trial: str
    errors: tuple[float, ...]
    changed: str
    why: str
    source: str = ""
    breaker: Any = None
    sort_key: tuple = ()


def _breaker_rank(state: BreakerState | None) -> int:
    # Blocking states first, then those in doubt (trial running, state unknown), then the rest.
    if state in (BreakerState.OPEN, BreakerState.FORCED_OPEN):
        return 0
    if state is None or state is BreakerState.HALF_OPEN:
        return 1
    return 2


def own_breaker_row(b: BreakerSnapshot, mono_now: float) -> BreakerRow:
    """How one of our breakers reads; `mono_now` is the engine clock's monotonic time."""
    return BreakerRow(
        key=b.name,
        name=b.name,
        own=True,
        state=b.state.label,
        tone=BREAKER_TONE.get(b.state, ""),
        error=format_percent(b.failure_rate),
        rate=format_per_minute(b.calls_per_minute),
        p50=format_latency(b.p50),
        p90=format_latency(b.p90),
        p99=format_latency(b.p99),
        trial=trial_text(b),
        errors=b.error_rates,
        changed=format_age(mono_now - b.last_transition_at),
        why=b.last_transition_cause,
        breaker=b,
        sort_key=(_breaker_rank(b.state), -(b.failure_rate if b.failure_rate is not None else -1.0), b.name.casefold()),
    )


def remote_breaker_row(check: str, r: RemoteBreaker, reported: str) -> BreakerRow:
    """How a watched application's breaker reads; `reported` is the age of its report."""
    shown = f"{check}{REMOTE_SEP}{r.name}"
    why = f"reported by {check}"
    if r.not_permitted:
        why += f"; {r.not_permitted} calls not permitted"
    return BreakerRow(
        key=f"{check}\x1f{r.name}",
        name=shown,
        own=False,
        state=r.label,
        tone=BREAKER_TONE.get(r.state, "") if r.state is not None else "unknown",
        error=format_percent(r.failure_rate),
        rate="-",
        p50="-",
        p90="-",
        p99="-",
        trial="",
        errors=(),
        changed=reported,
        why=why,
        source=check,
        breaker=r,
        sort_key=(_breaker_rank(r.state), -(r.failure_rate if r.failure_rate is not None else -1.0), shown.casefold()),
    )


def reporting_result(state: CheckState) -> CheckResult | None:
    """The latest result of `state` that came from a probe (not a "circuit open: not probed" slot)."""
    return next((r for r in reversed(state.history) if r.attempts > 0), None) or state.last


def breaker_rows(snapshot: Snapshot, mono_now: float) -> list[BreakerRow]:
    """Every breaker: ours, then the watched applications' (from checks of kind "breakers"),
    errors first: open and forced open, then half-open or unknown, each by error % then name."""
    rows = [own_breaker_row(b, mono_now) for b in snapshot.breakers]
    for c in snapshot.checks:
        if c.kind != "breakers":
            continue
        result = reporting_result(c)
        if result is None:
            continue
        age = format_age(snapshot.generated_at - result.finished_at)
        rows.extend(remote_breaker_row(c.name, r, age) for r in remote_breakers(result.metrics))
    return sorted(rows, key=lambda r: r.sort_key)


def breaker_counts(rows: Sequence[BreakerRow]) -> str:
    """"1 open · 1 half-open · 4 closed · 2 remote": the breaker panel's title line."""
    tally: dict[str, int] = {}
    for r in rows:
        if r.own:
            tally[r.state.lower()] = tally.get(r.state.lower(), 0) + 1
    order = [s.label.lower() for s in (BreakerState.OPEN, BreakerState.FORCED_OPEN, BreakerState.HALF_OPEN,
                                       BreakerState.CLOSED, BreakerState.FORCED_CLOSED,
                                       BreakerState.METRICS_ONLY, BreakerState.DISABLED)]
    parts = [f"{tally[s]} {s}" for s in order if tally.get(s)]
    remote = sum(not r.own for r in rows)
    if remote:
        parts.append(f"{remote} remote")
    return " · ".join(parts) if parts else "none"


def wall_of(mono: float, mono_now: float, wall_now: float) -> float:
    """The wall-clock time of a monotonic instant, given both clocks' "now"."""
    return wall_now - (mono_now - mono)


def breaker_detail(row: BreakerRow, mono_now: float, wall_now: float, users: Sequence[str] = ()) -> list[tuple[str, str, Tone]]:
    """The detail pane for one breaker: (label, text, tone) lines, label "" for continuation.

    `users` are the checks that share this breaker (shown when it is not just one
    check of the same name).
    """
    if not row.own:
        r: RemoteBreaker = row.breaker
        counts = []
        if r.calls is not None:
            counts.append(f"{r.calls} calls in its window")
        if r.not_permitted is not None:
            counts.append(f"{r.not_permitted} not permitted")
        return [
            ("breaker", f"{r.name} in the application watched by check {row.source} (as of {row.changed} ago)", ""),
            ("rates", f"failures {format_percent(r.failure_rate)}  slow calls {format_percent(r.slow_rate)}"
             + (f"  {', '.join(counts)}" if counts else ""), ""),
            ("", "read-only: o c m z change healthdash's own breakers, not the application's", "muted"),
        ]
    b: BreakerSnapshot = row.breaker
    s = b.settings
    since = wall_of(b.last_transition_at, mono_now, wall_now)
    lines: list[tuple[str, str, Tone]] = []
    head = f"{b.state.label} since {clock_text(since)} ({row.changed} ago): {b.last_transition_cause}"
    lines.append(("state", head, row.tone))
    if users and list(users) != [b.name]:
        lines.append(("checks", ", ".join(users), ""))
    window = format_duration(s.window)
    lines.append(("errors", f"{spark(b.error_rates, 0.0, 100.0)}  {b.failures}/{b.calls} failed, "
                  f"{b.slow_calls} slow in {window}", "crit" if b.failures else ""))
    lines.append(("latency", f"p50 {row.p50}  p90 {row.p90}  p99 {row.p99}  ·  {row.rate} calls/min", ""))
    if b.state is BreakerState.OPEN:
        rule = (f"trial {row.trial}: success closes it, failure re-opens it for "
                f"{format_duration(min(b.open_for * 2, s.open_for_max))}")
    elif b.state is BreakerState.HALF_OPEN:
        rule = "trial running: its result closes or re-opens the breaker"
    elif b.state is BreakerState.FORCED_OPEN:
        rule = "held open by an operator: no probes, no trials until c, m or z"
    elif b.state is BreakerState.DISABLED:
        rule = "disabled in config: never blocks, overrides are refused"
    else:
        rule = (f"opens at {format_percent(s.failure_rate)} failures or {format_percent(s.slow_rate)} slow "
                f"(>= {format_duration(s.slow_call)}) over >= {s.min_calls} calls in {window}; "
                f"open for {format_duration(s.open_for)}")
        if b.state in (BreakerState.FORCED_CLOSED, BreakerState.METRICS_ONLY):
            rule = f"never blocks ({b.state.label.lower()}, z resets); " + rule
    lines.append(("rule", rule, ""))
    recent = list(b.transitions)[-3:][::-1]
    if recent:
        text = "; ".join(
            f"{clock_text(wall_of(t.at, mono_now, wall_now))} {t.before.label}→{t.after.label}" for t in recent
        )
        lines.append(("history", text, "muted"))
    return lines


# -- services -------------------------------------------------------------------------------

SERVICE_SYMBOL = {
    ServiceHealth.DOWN: SYMBOL[Status.CRIT],
    ServiceHealth.UNKNOWN: SYMBOL[Status.UNKNOWN],
    ServiceHealth.DEGRADED: SYMBOL[Status.WARN],
    ServiceHealth.OK: SYMBOL[Status.OK],
}
SERVICE_TONE: dict[ServiceHealth, Tone] = {
    ServiceHealth.DOWN: "crit",
    ServiceHealth.UNKNOWN: "unknown",
    ServiceHealth.DEGRADED: "warn",
    ServiceHealth.OK: "ok",
}


@dataclass(frozen=True, slots=True)
class ServiceLine:
    """One line of the services panel: "✖ checkout  down — orders-db crit"."""

    symbol: str
    name: str
    text: str
    tone: Tone


def describe_service(s: ServiceStatus) -> str:
    """A service's status in words: "down — orders-db crit", "degraded: search disabled"."""
    because = "; ".join(s.because)
    if s.status is ServiceHealth.DEGRADED:
        return f"degraded: {', '.join(s.modes)}" if s.modes else f"degraded — {because}"
    if s.status is ServiceHealth.OK:
        return "ok"
    return f"{s.status.value} — {because}" if because else s.status.value


def service_lines(services: Sequence[ServiceStatus]) -> list[ServiceLine]:
    """Services that are not ok, worst first (then tier, then config order), and one
    line summing up the ok ones."""
    order = {s.name: i for i, s in enumerate(services)}
    bad = sorted(
        (s for s in services if s.status is not ServiceHealth.OK),
        key=lambda s: (-s.status.rank, s.tier, order[s.name]),
    )
    lines = [ServiceLine(SERVICE_SYMBOL[s.status], s.name, describe_service(s), SERVICE_TONE[s.status]) for s in bad]
    ok = [s.name for s in services if s.status is ServiceHealth.OK]
    if ok:
        lines.append(ServiceLine(SERVICE_SYMBOL[ServiceHealth.OK], f"{len(ok)} ok", ", ".join(ok), "ok"))
    return lines


# -- alerts ---------------------------------------------------------------------------------

UNCONFIRMED = "unconfirmed"


@dataclass(frozen=True, slots=True)
class AlertLine:
    """One line of the alert panel.

    kind: "alert", "symptom" (folded under its root, shown when expanded), "folded"
    (the "+3 symptoms" line) or "unconfirmed" (a failing check without an alert yet).
    `fingerprint` is the alert's (None for the others); `check` names the check the
    line is about, for silencing and the detail screen (None for services).
    """

    kind: str
    priority: str
    state: str
    name: str
    count: str
    seen: str
    text: str
    tone: Tone
    muted: bool = False
    fingerprint: str | None = None
    check: str | None = None
    subject: str = "check"
    folded: int = 0  # on a "folded" line: how many symptoms it stands for
    source: str = "healthdash"  # "alertmanager" on an "external" line: acked and silenced there
    ref: str = ""  # an external alert's own fingerprint (Alertmanager's)

    @property
    def key(self) -> str:
        """What the panel's cursor follows across refreshes."""
        return self.fingerprint or f"{self.kind}:{self.ref or self.name}"

    @property
    def external(self) -> bool:
        """True for another system's alert (Alertmanager's): our keys do not change it."""
        return self.kind == "external"

    @property
    def selectable(self) -> bool:
        return self.kind != "folded"


def _alert_tone(a: Alert) -> Tone:
    if not a.is_open:
        return "ok"
    if a.priority <= 2:
        return "crit"
    return "warn" if a.priority == 3 else "unknown"


def alert_reason(a: Alert) -> str:
    """The priority reason without its leading "P2: <name> " (the line shows both already),
    then the latest message: "crit; checkout down — connection refused"."""
    reason = a.priority_reason.removeprefix(f"{a.priority_label}: ").removeprefix(f"{a.name} ")
    return f"{reason} — {a.message}" if a.message else reason


def alert_line(a: Alert, now: float, kind: str = "alert") -> AlertLine:
    """How one alert reads at wall time `now`."""
    last = a.resolved_at if a.resolved_at is not None else a.last_seen
    state = a.state.value
    return AlertLine(
        kind=kind,
        priority=a.priority_label,
        state=state,
        name=a.name,
        count=f"×{a.count}",
        seen=f"since {format_age(now - a.started_at)}, last {format_age(now - last)}",
        text=alert_reason(a),
        tone=_alert_tone(a),
        muted=a.state in (AlertState.ACKNOWLEDGED, AlertState.SILENCED, AlertState.RESOLVED, AlertState.SYMPTOM),
        fingerprint=a.fingerprint,
        check=a.name if a.subject == "check" else None,
        subject=a.subject,
    )


EXTERNAL_MARK = "am"  # the priority column of Alertmanager's alerts: they have no P1-P4 of ours
_EXTERNAL_TONE: dict[str, Tone] = {
    "critical": "crit", "crit": "crit", "page": "crit", "error": "crit", "high": "crit", "major": "crit",
    "warning": "warn", "warn": "warn", "ticket": "warn", "medium": "warn", "minor": "warn",
}


def external_line(a: Any, now: float) -> AlertLine:
    """How one of Alertmanager's alerts (dash.alertmanager.ExternalAlert) reads at wall time `now`.

    Its texts were cleaned when pulled; suppressed ones (silenced or inhibited in
    Alertmanager) are dimmed like our silenced alerts.
    """
    severity = a.severity or "no severity"
    text = f"{severity}: {a.summary}" if a.summary else severity
    seen = f"since {format_age(now - a.starts_at)}" if a.starts_at is not None else ""
    return AlertLine(
        kind="external",
        priority=EXTERNAL_MARK,
        state=a.state or "active",
        name=a.name,
        count="",
        seen=seen,
        text=text,
        tone=_EXTERNAL_TONE.get(a.severity.casefold(), "unknown"),
        muted=a.state != "active",
        check=None,
        subject=a.source,
        source=a.source,
        ref=a.fingerprint,
    )


def _external_order(a: Any) -> tuple:
    rank = {"crit": 0, "warn": 1}.get(_EXTERNAL_TONE.get(a.severity.casefold(), ""), 2)
    starts = a.starts_at if a.starts_at is not None else math.inf
    return (a.state != "active", rank, starts, a.name, a.fingerprint)


def _alert_order(a: Alert) -> tuple:
    return (not a.is_open, a.priority, a.started_at, a.fingerprint)


def alert_lines(
    alerts: Sequence[Alert],
    checks: Iterable[CheckState],
    now: float,
    *,
    expanded: bool = False,
    external: Sequence[Any] = (),
) -> list[AlertLine]:
    """The alert panel: root causes and other alerts by priority then age, each root's
    symptoms folded under it ("+3 symptoms", or one line each when `expanded`), then the
    failing checks that have no alert yet, then Alertmanager's alerts (`external`:
    active ones first, by severity then age), then our recently resolved alerts (open
    problems, whoever raised them, before what is already over)."""
    open_fps = {a.fingerprint for a in alerts if a.is_open}
    symptoms: dict[str, list[Alert]] = {}
    top: list[Alert] = []
    for a in sorted(alerts, key=_alert_order):
        if a.is_open and a.root_cause in open_fps:
            symptoms.setdefault(a.root_cause, []).append(a)
        else:
            top.append(a)
    lines: list[AlertLine] = []
    for a in (a for a in top if a.is_open):
        lines.append(alert_line(a, now))
        folded = symptoms.get(a.fingerprint, [])
        if not folded:
            continue
        if expanded:
            lines.extend(alert_line(s, now, "symptom") for s in folded)
        else:
            n = len(folded)
            names = ", ".join(s.name for s in folded)
            lines.append(AlertLine("folded", "", "", f"+{n} symptom{'s' if n != 1 else ''}", "", "", names, "muted",
                                   muted=True, folded=n))
    alerting = {a.name for a in alerts if a.is_open and a.subject == "check"}
    for c in problems(checks):
        if c.name in alerting:
            continue
        assert c.last is not None
        since = c.status_since if c.status_since is not None else c.last.finished_at
        lines.append(AlertLine(
            kind="unconfirmed", priority="", state=UNCONFIRMED, name=c.name, count="",
            seen=f"since {format_age(now - since)}", text=f"{SYMBOL[c.status]} {c.status.value} {c.last.reason.value}: {c.last.message}",
            tone=c.status.value, muted=True, check=c.name,
        ))
    lines.extend(external_line(a, now) for a in sorted(external, key=_external_order))
    lines.extend(alert_line(a, now) for a in top if not a.is_open)
    return lines


def alert_summary(lines: Sequence[AlertLine]) -> str:
    """"2 open, 1 symptom, 1 unconfirmed, 2 from alertmanager": the panel's heading after "alerts"."""
    tally = {"open": 0, "symptom": 0, UNCONFIRMED: 0, "external": 0, "resolved": 0}
    for line in lines:
        if line.kind == "alert":
            tally["resolved" if line.state == AlertState.RESOLVED.value else "open"] += 1
        elif line.kind == "symptom":
            tally["symptom"] += 1
        elif line.kind == "folded":
            tally["symptom"] += line.folded
        elif line.kind == "unconfirmed":
            tally[UNCONFIRMED] += 1
        elif line.kind == "external":
            tally["external"] += 1
    words = {"symptom": lambda n: "symptom" if n == 1 else "symptoms", "external": lambda n: "from alertmanager"}
    return ", ".join(f"{n} {words.get(what, lambda n: what)(n)}" for what, n in tally.items() if n)


# -- silences -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SilenceRow:
    """One line of the silences screen."""

    id: str
    match: str
    ends: str
    silenced: str
    by: str
    comment: str


def silence_rows(silences: Sequence[Silence], alerts: Sequence[Alert], now: float) -> list[SilenceRow]:
    """Active silences, the soonest to end first, with how many alerts each silences now."""
    out = []
    for s in sorted(silences, key=lambda s: (s.until, s.id)):
        what = s.match or "*"
        if s.tags:
            what += " [" + ", ".join(s.tags) + "]"
        n = sum(1 for a in alerts if a.silenced_by == s.id and a.is_open)
        out.append(SilenceRow(
            id=s.id,
            match=what,
            ends=f"{clock_text(s.until)} (in {format_age(s.until - now)})",
            silenced=str(n),
            by=s.by,
            comment=s.comment,
        ))
    return out


# -- SLOs -----------------------------------------------------------------------------------

WINDOW_LABELS = {3600.0: "1h", 21600.0: "6h", 86400.0: "24h", 259200.0: "3d", 604800.0: "7d", 2592000.0: "30d"}
BUDGET_BAR = 20
FULL_COVERAGE = 0.9  # a window backed by less history than this share of it is marked partial
PARTIAL_MARK = "*"
SLO_HINT = 'add slo = { target = 99.9, window = "30d" } to a check or service'


def window_label(seconds: float) -> str:
    """1h, 6h, 24h, 3d, 7d, 30d; other windows as config durations."""
    return WINDOW_LABELS.get(float(seconds)) or format_duration(seconds)


def format_availability(value: float | None) -> str:
    """99.950%, 97.12%, 100%; "-" without events. Cut, never rounded up: 99.9996 is not 100%."""
    if value is None or not math.isfinite(value):
        return "-"
    if value >= 100:
        return "100%"
    digits = 3 if value >= 99 else 2
    scale = 10**digits
    return f"{math.floor(value * scale) / scale:.{digits}f}%"


def format_burn(value: float | None) -> str:
    """0.5x, 14.4x, 120x; "-" without events."""
    if value is None or not math.isfinite(value):
        return "-"
    return f"{value:.1f}x" if value < 100 else f"{value:.0f}x"


def burn_tone(value: float | None) -> Tone:
    """crit from 6x (the workbook's page rates), warn from 1x (the budget would not last the window)."""
    if value is None:
        return "muted"
    return "crit" if value >= 6 else "warn" if value >= 1 else "ok"


def budget_bar(left: float, width: int = BUDGET_BAR) -> str:
    """The error budget left as a bar: full at 100%, empty at 0% or below."""
    filled = round(min(100.0, max(0.0, left)) / 100 * width)
    return "█" * filled + "░" * (width - filled)


def budget_text(left: float) -> tuple[str, Tone]:
    """"48% left" (ok), "12% left" (warn), "35% overspent" (crit)."""
    if left < 0:
        return f"{format_percent(-left)} overspent", "crit"
    if left == 0:
        return "0% left: spent", "crit"
    return f"{format_percent(left)} left", "warn" if left < 25 else "ok"


def _span(seconds: float | None) -> str:
    """MTTR / MTBF: 45s, 4m, 2h05m, 3d4h; "-" when undefined."""
    if seconds is None or not math.isfinite(seconds):
        return "-"
    s = int(round(seconds))
    if s < 60:
        return f"{s}s"
    if s < 3600:
        return f"{s // 60}m" + (f"{s % 60:02d}s" if s < 600 and s % 60 else "")
    if s < 86400:
        return f"{s // 3600}h{s % 3600 // 60:02d}m"
    return f"{s // 86400}d{s % 86400 // 3600}h"


@dataclass(frozen=True, slots=True)
class SLOCard:
    """Everything the SLO screen shows about one objective, as plain values.

    `availabilities` and `burns` are (window label, value, tone, partial) for
    1h/24h/7d/30d and 1h/6h/24h/3d; `alerts` are the firing burn-rate conditions
    in words, most urgent first.
    """

    subject: str
    kind: str
    objective: str
    availabilities: tuple[tuple[str, str, Tone, bool], ...]
    budget_left: float
    budget: str
    budget_tone: Tone
    coverage: str
    burns: tuple[tuple[str, str, Tone, bool], ...]
    reliability: str
    alerts: tuple[tuple[str, Tone], ...]
    rank: tuple = ()

    @property
    def burning(self) -> str:
        """"page", "ticket" or "": the most urgent firing burn alert."""
        return "page" if any(t == "crit" for _, t in self.alerts) else "ticket" if self.alerts else ""


def _partial(covered: float, window: float) -> bool:
    return covered < window * FULL_COVERAGE


def slo_card(report: Any, kind: str = "") -> SLOCard:
    """How one dash.core.slo.SLOReport reads; `kind` is "check" or "service" when known."""
    r = report
    avail = tuple(
        (
            window_label(w.window),
            format_availability(w.value),
            "muted" if w.value is None else ("crit" if w.value < r.target else "ok"),
            w.value is not None and _partial(w.covered, w.window),
        )
        for w in r.availabilities
    )
    burns = tuple(
        (window_label(w.window), format_burn(w.value), burn_tone(w.value), w.value is not None and _partial(w.covered, w.window))
        for w in r.burn_rates
    )
    text, tone = budget_text(r.budget_left) if r.availability is not None else ("nothing spent: no events yet", "muted")
    coverage = "" if not _partial(r.covered, r.window) else (
        f"only {format_duration(r.covered)} of history" if r.covered > 0 else "no history yet")
    count = f"{r.incidents} incident{'s' if r.incidents != 1 else ''}" if r.incidents else "no incidents"
    incidents = f"{count} in {window_label(r.window)}"
    alerts = tuple(
        (
            f"{a.severity}: burning {format_burn(a.long_burn)} over {window_label(a.long_window)} and "
            f"{format_burn(a.short_burn)} over {window_label(a.short_window)} ({a.severity}s at {format_burn(a.rate)})",
            "crit" if a.severity == "page" else "warn",
        )
        for a in r.burn_alerts
    )
    urgency = 0 if any(t == "crit" for _, t in alerts) else 1 if alerts else 2
    return SLOCard(
        subject=r.subject,
        kind=kind,
        objective=f"{r.target:g}% over {window_label(r.window)}",
        availabilities=avail,
        budget_left=r.budget_left,
        budget=text,
        budget_tone=tone,
        coverage=coverage,
        burns=burns,
        reliability=f"MTTR {_span(r.mttr)}  MTBF {_span(r.mtbf)}  {incidents}",
        alerts=alerts,
        rank=(urgency, r.budget_left, r.subject.casefold()),
    )


def slo_cards(reports: Iterable[Any], kinds: Mapping[str, str] | None = None) -> list[SLOCard]:
    """One card per SLO, worst first: paging burns, then ticket burns, then the least budget left."""
    kinds = kinds or {}
    return sorted((slo_card(r, kinds.get(r.subject, "")) for r in reports), key=lambda c: c.rank)


def slo_summary(cards: Sequence[SLOCard]) -> str:
    """"3 objectives · 1 burning · 1 overspent": the SLO screen's title line."""
    n = len(cards)
    parts = [f"{n} objective{'s' if n != 1 else ''}"]
    burning = sum(1 for c in cards if c.alerts)
    if burning:
        parts.append(f"{burning} burning")
    over = sum(1 for c in cards if c.budget_left < 0)
    if over:
        parts.append(f"{over} overspent")
    return " · ".join(parts)


# -- timeline --------------------------------------------------------------------------------

TIMELINE_SINCE = 86400.0  # the screen shows the last 24 hours
TIMELINE_LIMIT = 500
BOARD_SUBJECT = "all"  # the subject column of a note about the whole board
_EVENT_WORDS = {"flapping_started": "flapping", "flapping_stopped": "steady"}
_EVENT_TONE: dict[str, Tone] = {
    "fired": "crit", "escalated": "crit", "resolved": "ok", "flapping_started": "warn", "flapping_stopped": "ok",
}
_STATUS_TONE: dict[str, Tone] = {"ok": "ok", "warn": "warn", "crit": "crit", "unknown": "unknown",
                                 "down": "crit", "degraded": "warn"}
_BREAKER_TONE: dict[str, Tone] = {s.value: t for s, t in BREAKER_TONE.items()}


@dataclass(frozen=True, slots=True)
class TimelineRow:
    """One line of the timeline screen, as plain values; `subject` is "" for a board-wide note."""

    key: str
    at: float
    time: str
    what: str
    subject: str
    text: str
    tone: Tone


def event_time(at: float, now: float) -> str:
    """18:20:01 today; "Tue 18:20" on an earlier (or later) day."""
    if time.strftime("%Y%m%d", time.localtime(at)) == time.strftime("%Y%m%d", time.localtime(now)):
        return clock_text(at)
    return time.strftime("%a %H:%M", time.localtime(at))


def timeline_row(entry: Any, now: float, index: int = 0) -> TimelineRow:
    """How one dash.store.TimelineEntry reads; `index` tells equal entries apart."""
    kind, event = entry.kind, entry.event
    if kind == "status":
        what, tone = "status", _STATUS_TONE.get(event, "")
    elif kind == "breaker":
        what, tone = "breaker", _BREAKER_TONE.get(event, "")
    elif kind == "note":
        what, tone = "note", "strong"
    elif kind in ("ack", "silence"):
        what, tone = event or kind, "muted"
    else:
        what, tone = _EVENT_WORDS.get(event, event or kind), _EVENT_TONE.get(event, "")
    text = clean(entry.text, limit=500)
    if entry.author:
        text = f"{text} — {clean(entry.author, limit=80)}"
    return TimelineRow(
        key=f"{entry.at!r}\x1f{kind}\x1f{event}\x1f{entry.subject}\x1f{index}",
        at=entry.at,
        time=event_time(entry.at, now),
        what=what,
        subject=clean(entry.subject, limit=200),
        text=text,
        tone=tone,
    )


def timeline_rows(entries: Iterable[Any], now: float, subject: str | None = None) -> list[TimelineRow]:
    """The timeline newest first; with `subject`, only that check's (or service's, or alert's) entries."""
    picked = [e for e in entries if subject is None or e.subject == subject]
    ordered = sorted(enumerate(picked), key=lambda p: (p[1].at, p[0]), reverse=True)
    seen: dict[str, int] = {}
    out = []
    for _, e in ordered:
        row = timeline_row(e, now)
        n = seen.get(row.key, 0)
        seen[row.key] = n + 1
        out.append(row if n == 0 else timeline_row(e, now, n))
    return out


def memory_timeline(snapshot: Snapshot, notes: Iterable[Any], mono_now: float | None = None) -> list[Any]:
    """What this session remembers without a history file: operator notes, alerts fired and
    resolved, active silences and (with `mono_now`, the engine's monotonic time at the
    snapshot) breaker transitions. `notes` are OperatorNotes or an agent's note dicts."""
    from dash.store import TimelineEntry  # the store's own row type: one way to draw both

    out: list[TimelineEntry] = []
    for n in notes:
        get = n.get if isinstance(n, Mapping) else (lambda k, d=None, n=n: getattr(n, k, d))
        at = get("at")
        if not isinstance(at, (int, float)):
            continue
        out.append(TimelineEntry(float(at), "note", get("check") or "", str(get("text") or ""), str(get("by") or ""), "note"))
    for a in snapshot.alerts:
        out.append(TimelineEntry(a.started_at, "alert", a.name, f"{a.priority_label} {a.severity}: {a.message}", "", "fired"))
        if a.resolved_at is not None:
            out.append(TimelineEntry(a.resolved_at, "alert", a.name, a.message, "", "resolved"))
    for s in snapshot.silences:
        what = (s.match or "*") + (" [" + ", ".join(s.tags) + "]" if s.tags else "")
        until = f"{what} until {clock_text(s.until)}" + (f": {s.comment}" if s.comment else "")
        out.append(TimelineEntry(s.created_at, "silence", what, until, s.by, "silenced"))
    if mono_now is not None:
        for b in snapshot.breakers:
            for t in b.transitions:
                text = f"{t.before.value} -> {t.after.value}" + (f": {t.cause}" if t.cause else "")
                at = wall_of(t.at, mono_now, snapshot.generated_at)
                out.append(TimelineEntry(at, "breaker", b.name, text, "", t.after.value))
    return out
