"""The alert engine: prioritized, de-duplicated alerts that point at the root cause.

Pure: no I/O, no asyncio, no clock of its own. Every call takes `now` as wall-clock
epoch seconds (maintenance windows are calendar times). Feed it check results with
`observe()` and service statuses with `observe_services()`; read `alerts(now)`, the
`notifications(now)` to deliver, and `drain_events()` for the timeline.

The rules:

- One alert per subject: the fingerprint is "check:<name>:unhealthy" or
  "service:<name>:unhealthy". Warn and crit of a check are one alert whose
  `severity` is the worst seen while it fires (`current` is the latest).
  Repeats raise `count` and `last_seen`; a re-fire while the resolved row is still
  shown reopens that row.
- Soft/hard (Nagios): a check's alert fires after `confirm` bad results in a row
  (warn, crit, or unknown from the check itself) and resolves after `recover` good
  ones. Services derive from checks, so their confirmation is their root causes':
  a service alert opens once an alert of one of its root-cause checks is open, as a
  symptom of it (it waits while those checks are still unconfirmed), and resolves as
  soon as the service is ok again.
- Inhibition: a service alert whose root-cause check has an open alert is a
  `symptom` with `root_cause` set to that alert's fingerprint; symptoms are folded
  under their root and never paged. This applies to creation only: a symptom's
  resolution is always recorded.
- Priority (P1 most urgent .. P4), for a check alert: crit -> P2, warn or unknown ->
  P3; one step more urgent when it takes down a tier-1 service or two or more
  services; one step less urgent when it only degrades services (the impact is known
  and limited); clamped to P1..P4. Reason: "P1: orders-db crit; checkout, refunds
  down". A service alert: down -> P2, degraded -> P3, one step more urgent for tier 1,
  one less for tier 4.
- Flapping (Nagios' method): the last `flap_window` (21) states of a check, hard
  states and recoveries only, start as all ok; each change between consecutive
  states is weighted linearly from 0.75 (oldest) to 1.25 (newest); percent = weighted
  changes * 100 / (window - 1). Flapping starts at >= flap_start and stops at
  <= flap_stop. A flapping alert holds its notifications.
- Acks last until recovery (or `until`); silences (a name glob and/or tags, with an
  end time) and active maintenance windows silence matching alerts. Silenced and
  acknowledged alerts stay visible with their state.
- Notifications: a "page" once per firing episode for a P1/P2 root-cause alert that
  is not flapping, silenced or acknowledged (when that stops being true while it
  still fires, it pages then); a "resolved" for every paged alert once it resolves
  (held while flapping).

While the monitor is offline (a canary crit, see `dash.core.services`), results of
network checks are ignored: no alerts start or resolve for them.
"""

from __future__ import annotations

import enum
import fnmatch
from collections import deque
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from dash.config import Config, format_duration
from dash.core.services import ServiceHealth, ServiceStatus, is_network, monitor_offline
from dash.model import CheckResult, Status
from dash.text import clean

PAGE_PRIORITY = 2  # P1 and P2 page; P3 and P4 are for the board
CONDITION = "unhealthy"

_CHECK_RANK = {"warn": 1, "unknown": 2, "crit": 3}
_SERVICE_RANK = {"degraded": 1, "down": 2}


class AlertState(str, enum.Enum):
    """What an alert shows, the most telling first when several apply:
    resolved > symptom > silenced > acknowledged > flapping > firing."""

    FIRING = "firing"
    ACKNOWLEDGED = "acknowledged"
    SILENCED = "silenced"
    FLAPPING = "flapping"
    SYMPTOM = "symptom"
    RESOLVED = "resolved"


class EventKind(str, enum.Enum):
    """Timeline entries."""

    FIRED = "fired"
    ESCALATED = "escalated"
    RESOLVED = "resolved"
    ACKED = "acked"
    UNACKED = "unacked"
    SILENCED = "silenced"
    UNSILENCED = "unsilenced"
    FLAPPING_STARTED = "flapping_started"
    FLAPPING_STOPPED = "flapping_stopped"


@dataclass(frozen=True, slots=True)
class Alert:
    """A snapshot of one alert.

    `subject` is "check" or "service". `severity` is the worst while firing ("crit",
    "unknown", "warn" for checks; "down", "degraded" for services), `current` the
    latest. `silenced_by` is a silence id or "maintenance", with `silence_reason`.
    `symptoms` are the fingerprints of open alerts folded under this one.
    """

    fingerprint: str
    subject: str
    name: str
    severity: str
    current: str
    state: AlertState
    priority: int
    priority_reason: str
    message: str
    started_at: float
    last_seen: float
    count: int
    resolved_at: float | None = None
    root_cause: str | None = None
    symptoms: tuple[str, ...] = ()
    flapping: bool = False
    flap_percent: float = 0.0
    acked_by: str | None = None
    ack_comment: str = ""
    ack_until: float | None = None
    silenced_by: str | None = None
    silence_reason: str = ""
    paged: bool = False

    @property
    def is_open(self) -> bool:
        return self.resolved_at is None

    @property
    def priority_label(self) -> str:
        return f"P{self.priority}"


@dataclass(frozen=True, slots=True)
class Notification:
    """Something to tell a person: kind "page" (toast + bell, webhook) or "resolved"."""

    kind: str
    alert: Alert
    at: float


@dataclass(frozen=True, slots=True)
class AlertEvent:
    """One timeline entry, e.g. fired / acked / resolved, with a one-line text."""

    kind: EventKind
    fingerprint: str
    name: str
    at: float
    text: str


@dataclass(frozen=True, slots=True)
class Silence:
    """Silences alerts whose subject name matches `match` (a glob) and that carry
    every tag in `tags`, until `until` (epoch seconds)."""

    id: str
    until: float
    created_at: float
    match: str | None = None
    tags: tuple[str, ...] = ()
    by: str = ""
    comment: str = ""

    def matches(self, name: str, tags: Iterable[str]) -> bool:
        return _matches(self.match, self.tags, name, tags)


def fingerprint(subject: str, name: str, condition: str = CONDITION) -> str:
    """The stable identity of an alert: "check:orders-db:unhealthy"."""
    return f"{subject}:{name}:{condition}"


def flap_percent(states: Sequence[object]) -> float:
    """Nagios' weighted percent state change over `states`, oldest first.

    Each change between consecutive states is weighted from 0.75 (the oldest pair) to
    1.25 (the newest) linearly; the weighted sum is divided by the number of pairs.
    """
    n = len(states)
    if n < 3:
        return 0.0
    changes = 0.0
    for x in range(1, n):
        if states[x] != states[x - 1]:
            changes += (x - 1) * (1.25 - 0.75) / (n - 2) + 0.75
    return changes * 100.0 / (n - 1)


def _matches(match: str | None, want: Iterable[str], name: str, tags: Iterable[str]) -> bool:
    if match is not None and not fnmatch.fnmatchcase(name, match):
        return False
    return set(want) <= set(tags)


@dataclass
class _Track:
    """Per check: consecutive bad/good results and the flap history."""

    history: deque[Status]
    bad: int = 0
    good: int = 0
    worst: Status = Status.OK  # of the current bad streak
    flapping: bool = False
    percent: float = 0.0


@dataclass
class _Row:
    """One alert's mutable record; `Alert` is its snapshot."""

    fingerprint: str
    subject: str
    name: str
    severity: str
    current: str
    message: str
    started_at: float
    last_seen: float
    count: int
    resolved_at: float | None = None
    root_cause: str | None = None
    acked_by: str | None = None
    ack_comment: str = ""
    ack_until: float | None = None
    silenced_by: str | None = None
    silence_reason: str = ""
    paged: bool = False
    resolved_sent: bool = False


class AlertEngine:
    """Alerts for the checks and services of one config. See the module docstring."""

    def __init__(self, config: Config) -> None:
        self._rows: dict[str, _Row] = {}
        self._tracks: dict[str, _Track] = {}
        self._status: dict[str, Status] = {}
        self._services: dict[str, ServiceStatus] = {}
        self._silences: dict[str, Silence] = {}
        self._events: list[AlertEvent] = []
        self._silence_seq = 0
        self.configure(config)

    # -- configuration

    def configure(self, config: Config) -> None:
        """Adopt a (new) config: state of checks and services that remain is kept."""
        self._config = config
        self._settings = config.alerts
        self._checks = {c.name: c for c in config.checks}
        self._service_cfg = {s.name: s for s in config.services}
        window = self._settings.flap_window
        for name in list(self._tracks):
            if name not in self._checks:
                del self._tracks[name]
            elif self._tracks[name].history.maxlen != window:
                old = list(self._tracks[name].history)
                self._tracks[name].history = deque([Status.OK] * window + old, maxlen=window)
        self._status = {k: v for k, v in self._status.items() if k in self._checks}
        self._services = {k: v for k, v in self._services.items() if k in self._service_cfg}
        for fp, row in list(self._rows.items()):
            known = self._checks if row.subject == "check" else self._service_cfg
            if row.name not in known:
                del self._rows[fp]

    # -- the monitor's own network

    @property
    def offline(self) -> bool:
        """True while a canary check is crit (see dash.core.services.monitor_offline)."""
        return monitor_offline(self._config.canaries, self._status)

    def offline_checks(self) -> frozenset[str]:
        """The checks whose results are ignored right now (network checks while offline)."""
        if not self.offline:
            return frozenset()
        canaries = set(self._config.canaries)
        return frozenset(n for n, c in self._checks.items() if is_network(c.kind) and n not in canaries)

    # -- input

    def observe(self, result: CheckResult, now: float) -> None:
        """Take one check result into account."""
        check = self._checks.get(result.check)
        if check is None:
            return
        was_offline = self.offline
        self._status[check.name] = result.status
        offline = self.offline_checks()
        if offline and not was_offline:
            for name in offline:  # their recent failures were probably the monitor's own outage
                track = self._tracks.get(name)
                if track is not None:
                    track.bad, track.worst = 0, Status.OK
        if check.name in offline:
            self._refresh(now)
            return

        track = self._track(check.name)
        bad = result.status is not Status.OK
        track.bad, track.good = (track.bad + 1, 0) if bad else (0, track.good + 1)
        track.worst = Status.worst([track.worst, result.status]) if bad else Status.OK
        fp = fingerprint("check", check.name)
        if not bad or track.bad >= check.confirm:  # Nagios keeps hard states and recoveries only
            self._record_state(fp, check.name, track, result.status, now)

        row = self._rows.get(fp)
        severity = result.status.value
        if bad:
            if row is not None and row.resolved_at is None:
                self._repeat(row, severity, result.message, now, _CHECK_RANK)
            elif track.bad >= check.confirm:
                self._fire(fp, "check", check.name, track.worst.value, result.message, now, track.bad, None)
                self._rows[fp].current = severity
        elif row is not None and row.resolved_at is None and track.good >= check.recover:
            self._resolve(row, now)
        self._refresh(now)

    def observe_services(self, statuses: Mapping[str, ServiceStatus], now: float) -> None:
        """Take the latest service statuses (from dash.core.services.evaluate) into account."""
        self._services = {n: s for n, s in statuses.items() if n in self._service_cfg}
        for st in self._services.values():
            fp = fingerprint("service", st.name)
            row = self._rows.get(fp)
            is_open = row is not None and row.resolved_at is None
            if st.status in (ServiceHealth.DOWN, ServiceHealth.DEGRADED):
                roots = [
                    f for rc in st.root_causes
                    if (r := self._rows.get(f := fingerprint("check", rc))) is not None and r.resolved_at is None
                ]
                message = "; ".join(st.because)
                if row is not None and is_open:
                    self._repeat(row, st.status.value, message, now, _SERVICE_RANK)
                    current_root = self._rows.get(row.root_cause) if row.root_cause else None
                    if roots and (current_root is None or current_root.resolved_at is not None):
                        row.root_cause = roots[0]
                    continue
                pending = any(
                    (t := self._tracks.get(rc)) is not None and t.bad > 0 for rc in st.root_causes
                )
                if roots or not pending:  # wait while the root causes are still being confirmed
                    self._fire(fp, "service", st.name, st.status.value, message, now, 1, roots[0] if roots else None)
            elif st.status is ServiceHealth.OK and row is not None and is_open:
                self._resolve(row, now)
        self._refresh(now)

    # -- commands

    def acknowledge(
        self, fp: str, now: float, *, by: str = "", until: float | None = None, comment: str = ""
    ) -> bool:
        """Acknowledge an open alert until it recovers, or until `until` (epoch seconds).
        False for a resolved alert; KeyError for an unknown fingerprint."""
        row = self._rows[fp]
        if row.resolved_at is not None:
            return False
        if until is not None and until <= now:
            raise ValueError("an acknowledgement must end in the future")
        row.acked_by, row.ack_comment, row.ack_until = clean(by, limit=80) or "someone", clean(comment), until
        text = f"acknowledged by {row.acked_by}"
        text += f" for {format_duration(until - now)}" if until is not None else " until it recovers"
        self._event(EventKind.ACKED, row, now, text + (f": {row.ack_comment}" if row.ack_comment else ""))
        self._refresh(now)
        return True

    def unacknowledge(self, fp: str, now: float) -> bool:
        """Take an acknowledgement back; False when there was none."""
        row = self._rows[fp]
        if row.acked_by is None:
            return False
        self._clear_ack(row, now, "acknowledgement removed")
        self._refresh(now)
        return True

    def silence(
        self,
        *,
        until: float,
        now: float,
        match: str | None = None,
        tags: Iterable[str] = (),
        by: str = "",
        comment: str = "",
    ) -> str:
        """Silence alerts matching a name glob and/or tags until `until`; returns its id."""
        tags = tuple(tags)
        if match is None and not tags:
            raise ValueError("a silence needs a name pattern or tags")
        if until <= now:
            raise ValueError("a silence must end in the future")
        self._silence_seq += 1
        sid = f"s{self._silence_seq}"
        self._silences[sid] = Silence(
            id=sid, until=until, created_at=now, match=match, tags=tags,
            by=clean(by, limit=80), comment=clean(comment),
        )
        self._refresh(now)
        return sid

    def unsilence(self, silence_id: str, now: float) -> bool:
        """End a silence early; False when there is no such active silence."""
        found = self._silences.pop(silence_id, None) is not None
        self._refresh(now)
        return found

    # -- output

    def silences(self, now: float) -> tuple[Silence, ...]:
        """The active silences."""
        self._refresh(now)
        return tuple(self._silences.values())

    def alerts(self, now: float) -> tuple[Alert, ...]:
        """Every alert to show: open ones by priority then age, then recently resolved."""
        self._refresh(now)
        shown = [self._snapshot(r) for r in self._rows.values()]
        return tuple(sorted(shown, key=lambda a: (not a.is_open, a.priority, a.started_at, a.fingerprint)))

    def alert(self, fp: str, now: float) -> Alert | None:
        """One alert by fingerprint, or None."""
        self._refresh(now)
        row = self._rows.get(fp)
        return None if row is None else self._snapshot(row)

    def notifications(self, now: float) -> list[Notification]:
        """Pages and resolutions due now; each is returned once."""
        self._refresh(now)
        out = []
        for row in self._rows.values():
            flapping = self._flapping(row)
            if row.resolved_at is None:
                if row.paged or row.root_cause or flapping or row.silenced_by or row.acked_by:
                    continue
                if self._priority(row)[0] <= PAGE_PRIORITY:
                    row.paged = True
                    out.append(Notification("page", self._snapshot(row), now))
            elif row.paged and not row.resolved_sent and not flapping:
                row.resolved_sent = True
                out.append(Notification("resolved", self._snapshot(row), now))
        return out

    def drain_events(self) -> list[AlertEvent]:
        """The timeline entries since the last call, oldest first."""
        events, self._events = self._events, []
        return events

    # -- internals

    def _track(self, name: str) -> _Track:
        track = self._tracks.get(name)
        if track is None:
            window = self._settings.flap_window
            track = self._tracks[name] = _Track(deque([Status.OK] * window, maxlen=window))
        return track

    def _record_state(self, fp: str, name: str, track: _Track, status: Status, now: float) -> None:
        track.history.append(status)
        track.percent = flap_percent(track.history)
        s = self._settings
        if not track.flapping and track.percent >= s.flap_start:
            track.flapping = True
            text = f"{name} started flapping ({track.percent:.1f}% state change >= {s.flap_start:g}%)"
            self._events.append(AlertEvent(EventKind.FLAPPING_STARTED, fp, name, now, text))
        elif track.flapping and track.percent <= s.flap_stop:
            track.flapping = False
            text = f"{name} stopped flapping ({track.percent:.1f}% state change <= {s.flap_stop:g}%), now {status.value}"
            self._events.append(AlertEvent(EventKind.FLAPPING_STOPPED, fp, name, now, text))

    def _flapping(self, row: _Row) -> bool:
        track = self._tracks.get(row.name) if row.subject == "check" else None
        return bool(track and track.flapping)

    def _fire(
        self, fp: str, subject: str, name: str, severity: str, message: str, now: float, count: int, root: str | None
    ) -> None:
        row = self._rows.get(fp)
        if row is None:
            row = self._rows[fp] = _Row(fp, subject, name, severity, severity, message, now, now, count)
        else:  # the same alert again while its resolved row is still shown
            if row.resolved_sent:  # the last episode was closed out: this one may page again
                row.paged = row.resolved_sent = False
            row.severity = row.current = severity
            row.message, row.started_at, row.last_seen, row.resolved_at = message, now, now, None
            row.count += count
        row.root_cause = root
        text = f"{name} {severity}: {message}" if message else f"{name} {severity}"
        if root is not None:
            text += f" (symptom of {self._rows[root].name})"
        if not self._flapping(row):  # while flapping, "flapping started/stopped" tell the story
            self._event(EventKind.FIRED, row, now, text)

    def _repeat(self, row: _Row, severity: str, message: str, now: float, rank: Mapping[str, int]) -> None:
        row.count += 1
        row.last_seen, row.message, row.current = now, message, severity
        if rank[severity] > rank[row.severity]:
            self._event(EventKind.ESCALATED, row, now, f"{row.name} {row.severity} -> {severity}")
            row.severity = severity

    def _resolve(self, row: _Row, now: float) -> None:
        row.resolved_at = now
        if not self._flapping(row):
            self._event(EventKind.RESOLVED, row, now, f"{row.name} recovered after {format_duration(now - row.started_at)}")
        row.acked_by, row.ack_comment, row.ack_until = None, "", None  # acks last until recovery

    def _clear_ack(self, row: _Row, now: float, text: str) -> None:
        row.acked_by, row.ack_comment, row.ack_until = None, "", None
        self._event(EventKind.UNACKED, row, now, text)

    def _event(self, kind: EventKind, row: _Row, now: float, text: str) -> None:
        self._events.append(AlertEvent(kind, row.fingerprint, row.name, now, text))

    def _tags(self, row: _Row) -> tuple[str, ...]:
        cfg = self._checks.get(row.name) if row.subject == "check" else self._service_cfg.get(row.name)
        return cfg.tags if cfg is not None else ()

    def _silencer(self, row: _Row, now: float) -> tuple[str, str] | None:
        """(silence id or "maintenance", reason) for the first silence that covers `row`."""
        tags = self._tags(row)
        for s in self._silences.values():
            if s.matches(row.name, tags):
                return s.id, s.comment
        for m in self._config.maintenance:
            if m.active(now) and _matches(m.match, m.tags, row.name, tags):
                return "maintenance", m.reason
        return None

    def _refresh(self, now: float) -> None:
        """Apply the passing of time: expired acks and silences, maintenance windows,
        and forgetting resolved alerts shown long enough."""
        for sid in [sid for sid, s in self._silences.items() if now >= s.until]:
            del self._silences[sid]
        for fp, row in list(self._rows.items()):
            if row.resolved_at is None:
                if row.ack_until is not None and now >= row.ack_until:
                    self._clear_ack(row, now, "acknowledgement expired")
                silencer = self._silencer(row, now)
                was = row.silenced_by
                row.silenced_by, row.silence_reason = silencer if silencer else (None, "")
                if row.silenced_by != was:
                    if row.silenced_by is None:
                        self._event(EventKind.UNSILENCED, row, now, "no longer silenced")
                    else:
                        why = "maintenance" if row.silenced_by == "maintenance" else f"silence {row.silenced_by}"
                        reason = f": {row.silence_reason}" if row.silence_reason else ""
                        self._event(EventKind.SILENCED, row, now, f"silenced by {why}{reason}")
            elif (
                now - row.resolved_at >= self._settings.resolved_for
                and not (row.paged and not row.resolved_sent)  # its resolution is still to be told
            ):
                del self._rows[fp]

    def _priority(self, row: _Row) -> tuple[int, str]:
        if row.subject == "service":
            cfg = self._service_cfg.get(row.name)
            tier = cfg.tier if cfg else 3
            p = (2 if row.severity == "down" else 3) - (tier == 1) + (tier == 4)
            p = min(4, max(1, p))
            return p, f"P{p}: {row.name} {row.severity} (tier {tier})"
        down = [s for s in self._services.values() if s.status is ServiceHealth.DOWN and row.name in s.root_causes]
        degraded = [
            s for s in self._services.values() if s.status is ServiceHealth.DEGRADED and row.name in s.root_causes
        ]
        p = 2 if row.severity == "crit" else 3
        if down and (len(down) >= 2 or any(s.tier == 1 for s in down)):
            p -= 1
        elif degraded and not down:
            p += 1
        p = min(4, max(1, p))
        reason = f"P{p}: {row.name} {row.severity}"
        if down:
            reason += f"; {', '.join(s.name for s in down)} down"
        if degraded:
            reason += f"; {', '.join(s.name for s in degraded)} degraded"
        return p, reason

    def _snapshot(self, row: _Row) -> Alert:
        flapping = self._flapping(row)
        if row.resolved_at is not None:
            state = AlertState.RESOLVED
        elif row.root_cause is not None:
            state = AlertState.SYMPTOM
        elif row.silenced_by is not None:
            state = AlertState.SILENCED
        elif row.acked_by is not None:
            state = AlertState.ACKNOWLEDGED
        elif flapping:
            state = AlertState.FLAPPING
        else:
            state = AlertState.FIRING
        priority, reason = self._priority(row)
        track = self._tracks.get(row.name) if row.subject == "check" else None
        symptoms = tuple(
            r.fingerprint for r in self._rows.values() if r.root_cause == row.fingerprint and r.resolved_at is None
        )
        return Alert(
            fingerprint=row.fingerprint,
            subject=row.subject,
            name=row.name,
            severity=row.severity,
            current=row.current,
            state=state,
            priority=priority,
            priority_reason=reason,
            message=row.message,
            started_at=row.started_at,
            last_seen=row.last_seen,
            count=row.count,
            resolved_at=row.resolved_at,
            root_cause=row.root_cause,
            symptoms=symptoms,
            flapping=flapping,
            flap_percent=track.percent if track else 0.0,
            acked_by=row.acked_by,
            ack_comment=row.ack_comment,
            ack_until=row.ack_until,
            silenced_by=row.silenced_by,
            silence_reason=row.silence_reason,
            paged=row.paged,
        )
