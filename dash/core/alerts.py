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

SLO burn-rate alerts (`observe_slo()`, conditions from `dash.core.slo.burn_alerts`):

- One alert per check or service with an `slo`: fingerprint "slo:<name>:burn",
  subject "slo". Its severity is "page" or "ticket" (the worst while it fires); it
  fires while any burn condition fires and resolves when none does.
- Priority: page-severity burn -> P2, ticket -> P4 (no tier adjustment: the SLO
  already says how much the subject matters). Reason: "P2: checkout burning error
  budget 14.4x (1h) and 15.2x (5m)", the numbers of the worst condition.
- Inhibition, as for services: when the subject's root-cause check alert is open
  (the check itself; for a service, its root-cause checks, else its own alert),
  the burn alert is a symptom of it; it waits while those checks are unconfirmed.
  It stays folded after the root resolves (the burn windows lag the recovery),
  unless it escalates from ticket to page then: that is a problem of its own.

State for restarts: `export_state()` gives a JSON-serialisable dict and
`import_state()` restores it into an engine of the (possibly changed) config.
"""

from __future__ import annotations

import enum
import fnmatch
import logging
import math
from collections import deque
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass

from dash.config import CheckConfig, Config, ServiceConfig, format_duration
from dash.core.services import ServiceHealth, ServiceStatus, impact, is_network, monitor_offline
from dash.core.slo import BurnAlert
from dash.model import CheckResult, Status
from dash.text import clean

PAGE_PRIORITY = 2  # P1 and P2 page; P3 and P4 are for the board
CONDITION = "unhealthy"
BURN = "burn"  # the condition of an SLO burn-rate alert
STATE_VERSION = 1  # of export_state()'s dict

log = logging.getLogger("healthdash.alerts")

_CHECK_RANK = {"warn": 1, "unknown": 2, "crit": 3}
_SERVICE_RANK = {"degraded": 1, "down": 2}
_BURN_RANK = {"ticket": 1, "page": 2}
_RANKS = {"check": _CHECK_RANK, "service": _SERVICE_RANK, "slo": _BURN_RANK}


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

    `subject` is "check", "service" or "slo" (an error-budget burn of the check or
    service `name`). `severity` is the worst while firing ("crit", "unknown", "warn"
    for checks; "down", "degraded" for services; "page", "ticket" for slo), `current`
    the latest. `silenced_by` is a silence id or "maintenance", with `silence_reason`.
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


def _rate(x: float) -> str:
    return f"{x:.1f}".removesuffix(".0")


def _burn_text(a: BurnAlert) -> str:
    # "14.4x (1h) and 15.2x (5m)": the burn over the long and the short window
    return (
        f"{_rate(a.long_burn)}x ({format_duration(a.long_window)}) "
        f"and {_rate(a.short_burn)}x ({format_duration(a.short_window)})"
    )


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
    kind: str = ""  # for "slo" rows: "check" or "service", what `name` is
    detail: str = ""  # for "slo" rows: the worst condition's numbers, for the priority reason


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
        self._impact: dict[str, dict] = {}  # check -> what its failure does to services, by config
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
            if not self._known(row):
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
        if row is None and fp in self._rows:
            self._refresh_row(self._rows[fp], now)  # a new alert: silenced or not from the start
        # The passing of time for every other alert is applied by the next alerts(),
        # notifications() or command: per result, it would cost O(alerts) 1000 times a second.

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
                    if (row.current, row.message) != (st.status.value, message):  # a change, not every tick
                        self._repeat(row, st.status.value, message, now, _SERVICE_RANK)
                    else:
                        row.last_seen = now
                    current_root = self._rows.get(row.root_cause) if row.root_cause else None
                    if roots and (current_root is None or current_root.resolved_at is not None or row.root_cause not in roots):
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

    def observe_slo(self, subject_kind: str, name: str, burn_alerts: Sequence[BurnAlert], now: float) -> None:
        """Take the burn-rate conditions firing now for the SLO of check or service
        `name` (from dash.core.slo.burn_alerts; empty when none fires) into account.
        Subjects without an `slo` in the config are ignored; ValueError for a
        `subject_kind` other than "check" or "service"."""
        if subject_kind not in ("check", "service"):
            raise ValueError(f"an SLO belongs to a check or a service, not {subject_kind!r}")
        cfg = (self._checks if subject_kind == "check" else self._service_cfg).get(name)
        if cfg is None or cfg.slo is None:  # not (or no longer) configured: nothing to judge
            return
        fp = fingerprint("slo", name, BURN)
        row = self._rows.get(fp)
        is_open = row is not None and row.resolved_at is None
        if not burn_alerts:
            if row is not None and is_open:
                self._resolve(row, now)
            self._refresh(now)
            return
        ordered = sorted(burn_alerts, key=lambda a: -_BURN_RANK[a.severity])  # stable: table order within one
        top = ordered[0]
        message = "burning error budget " + "; ".join(_burn_text(a) for a in ordered)
        roots, pending = self._slo_roots(subject_kind, name)
        if row is not None and is_open:
            escalates = _BURN_RANK[top.severity] > _BURN_RANK[row.severity]
            self._repeat(row, top.severity, message, now, _BURN_RANK)
            if top.severity == row.severity:  # the reason shows the numbers behind the priority
                row.detail = _burn_text(top)
            current_root = self._rows.get(row.root_cause) if row.root_cause else None
            if current_root is None or current_root.resolved_at is not None:
                if roots:
                    row.root_cause = roots[0]
                elif escalates:  # worse after its cause recovered: a problem of its own
                    row.root_cause = None
        elif roots or not pending:  # wait while the root causes are still being confirmed
            self._fire(fp, "slo", name, top.severity, message, now, 1, roots[0] if roots else None, kind=subject_kind)
            self._rows[fp].detail = _burn_text(top)
        self._refresh(now)

    def _slo_roots(self, subject_kind: str, name: str) -> tuple[list[str], bool]:
        """(open root-cause alerts of a subject's burn, whether some are still unconfirmed)."""
        if subject_kind == "check":
            causes = [name]
        else:
            st = self._services.get(name)
            causes = list(st.root_causes) if st is not None else []
        roots = [fp for n in causes if self._is_open(fp := fingerprint("check", n))]
        pending = any((t := self._tracks.get(n)) is not None and t.bad > 0 for n in causes)
        own = fingerprint("service", name)
        if not roots and subject_kind == "service" and self._is_open(own):
            root = self._rows[own].root_cause
            roots.append(root if root is not None and self._is_open(root) else own)
        return roots, pending

    def _is_open(self, fp: str) -> bool:
        row = self._rows.get(fp)
        return row is not None and row.resolved_at is None

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

    # -- state for restarts

    def export_state(self) -> dict:
        """Everything needed to carry on after a restart, as plain JSON-able data: the
        alerts shown (with counts, times, acks, silencing, paged), active silences,
        per-check soft-state counters and flap histories, the latest check and
        service statuses. Not the timeline (the store keeps that)."""
        return {
            "version": STATE_VERSION,
            "alerts": [asdict(row) for row in self._rows.values()],
            "silences": [
                {"id": s.id, "until": s.until, "created_at": s.created_at, "match": s.match,
                 "tags": list(s.tags), "by": s.by, "comment": s.comment}
                for s in self._silences.values()
            ],
            "silence_seq": self._silence_seq,
            "checks": {
                name: {"history": [st.value for st in t.history], "bad": t.bad, "good": t.good,
                       "worst": t.worst.value, "flapping": t.flapping}
                for name, t in self._tracks.items()
            },
            "statuses": {name: st.value for name, st in self._status.items()},
            "services": {
                name: {"status": st.status.value, "modes": list(st.modes), "because": list(st.because),
                       "root_causes": list(st.root_causes), "tier": st.tier}
                for name, st in self._services.items()
            },
        }

    def import_state(self, state: object, now: float) -> None:
        """Replace this engine's state with an `export_state()` dict, at `now`.

        Subjects no longer in the config are dropped, expired silences and acks and
        long-resolved alerts go as usual; unknown keys are ignored and missing ones
        take defaults. A malformed entry is skipped with a warning; a blob that is not
        an export at all is logged and the engine starts empty. Never raises."""
        self._rows, self._tracks, self._status, self._services, self._silences = {}, {}, {}, {}, {}
        try:
            if not isinstance(state, Mapping) or state.get("version") != STATE_VERSION:
                version = state.get("version") if isinstance(state, Mapping) else type(state).__name__
                log.warning("ignoring saved alert state: not a version %d export (%r)", STATE_VERSION, version)
                return
            self._import(state, now)
        except Exception:  # a bug or a blob we did not foresee: better empty than not starting
            log.exception("ignoring saved alert state: it could not be read")
            self._rows, self._tracks, self._status, self._services, self._silences = {}, {}, {}, {}, {}
        self._refresh(now)

    def _import(self, state: Mapping, now: float) -> None:
        for name, d in _entries(state.get("checks"), "checks"):
            if name in self._checks:
                with _skipping("check state", name):
                    self._tracks[name] = self._load_track(d)
        for name, value in _entries(state.get("statuses"), "statuses"):
            if name in self._checks:
                with _skipping("check status", name):
                    self._status[name] = Status(value)
        for name, d in _entries(state.get("services"), "services"):
            if name in self._service_cfg:
                with _skipping("service status", name):
                    self._services[name] = ServiceStatus(
                        name=name,
                        status=ServiceHealth(d["status"]),
                        modes=_texts(d.get("modes", ())),
                        because=_texts(d.get("because", ())),
                        root_causes=_texts(d.get("root_causes", ())),
                        tier=self._service_cfg[name].tier,  # the config's word, not the blob's
                    )
        for i, d in enumerate(_items(state.get("alerts"), "alerts")):
            with _skipping("alert", i):
                row = _load_row(d)
                if self._known(row):
                    self._rows[row.fingerprint] = row
        seq = 0
        with _skipping("silence counter", "silence_seq"):
            seq = _int(state.get("silence_seq", 0))
        for i, d in enumerate(_items(state.get("silences"), "silences")):
            with _skipping("silence", i):
                silence = _load_silence(d)
                if silence.until > now:
                    self._silences[silence.id] = silence
                    if silence.id[1:].isdigit():
                        seq = max(seq, int(silence.id[1:]))
        self._silence_seq = max(self._silence_seq, seq)  # new ids never reuse an old one

    def _load_track(self, d: Mapping) -> _Track:
        window = self._settings.flap_window
        history = [Status(v) for v in _items(d.get("history"), "history")]
        track = _Track(deque([Status.OK] * window + history, maxlen=window))
        track.bad, track.good = _int(d.get("bad", 0)), _int(d.get("good", 0))
        track.worst = Status(d.get("worst", "ok"))
        track.flapping = d.get("flapping", False) is True
        track.percent = flap_percent(track.history)
        return track

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
        self,
        fp: str,
        subject: str,
        name: str,
        severity: str,
        message: str,
        now: float,
        count: int,
        root: str | None,
        kind: str = "",
    ) -> None:
        row = self._rows.get(fp)
        if row is None:
            row = self._rows[fp] = _Row(fp, subject, name, severity, severity, message, now, now, count, kind=kind)
        else:  # the same alert again while its resolved row is still shown
            if row.resolved_sent:  # the last episode was closed out: this one may page again
                row.paged = row.resolved_sent = False
            row.severity = row.current = severity
            row.message, row.started_at, row.last_seen, row.resolved_at = message, now, now, None
            row.count += count
        row.root_cause = root
        if subject == "slo":
            text = f"{name} {message}"
        else:
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
            what = "stopped burning its error budget" if row.subject == "slo" else "recovered"
            self._event(EventKind.RESOLVED, row, now, f"{row.name} {what} after {format_duration(now - row.started_at)}")
        row.acked_by, row.ack_comment, row.ack_until = None, "", None  # acks last until recovery

    def _clear_ack(self, row: _Row, now: float, text: str) -> None:
        row.acked_by, row.ack_comment, row.ack_until = None, "", None
        self._event(EventKind.UNACKED, row, now, text)

    def _event(self, kind: EventKind, row: _Row, now: float, text: str) -> None:
        self._events.append(AlertEvent(kind, row.fingerprint, row.name, now, text))

    def _subject_cfg(self, row: _Row) -> CheckConfig | ServiceConfig | None:
        kind = row.kind if row.subject == "slo" else row.subject
        return (self._checks if kind == "check" else self._service_cfg).get(row.name)

    def _known(self, row: _Row) -> bool:
        """True when the row's subject is still in the config (with an SLO, for burn alerts)."""
        cfg = self._subject_cfg(row)
        if cfg is None:
            return False
        return row.subject != "slo" or cfg.slo is not None

    def _tags(self, row: _Row) -> tuple[str, ...]:
        cfg = self._subject_cfg(row)
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
                self._refresh_row(row, now)
            elif (
                now - row.resolved_at >= self._settings.resolved_for
                and not (row.paged and not row.resolved_sent)  # its resolution is still to be told
            ):
                del self._rows[fp]

    def _refresh_row(self, row: _Row, now: float) -> None:
        """An open alert's expired ack, and whether a silence or maintenance covers it now."""
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

    def _only_degrades(self, name: str) -> bool:
        """True when, by config, this check's failure degrades services and takes none down."""
        if name not in self._impact:
            self._impact[name] = impact(self._config.services, name)
        effects = self._impact[name]
        return bool(effects) and all(h is ServiceHealth.DEGRADED for h in effects.values())

    def _priority(self, row: _Row) -> tuple[int, str]:
        if row.subject == "slo":
            p = 2 if row.severity == "page" else 4
            return p, f"P{p}: {row.name} burning error budget {row.detail}"
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
        elif not down and self._only_degrades(row.name):
            # Not affecting anything right now (e.g. it flaps back to ok), but by config
            # its failure only ever degrades: keep the step down.
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


# -- reading saved state: strict about types, lenient about presence


class _skipping:
    """Skip one malformed entry of a saved state, with a warning."""

    def __init__(self, what: str, which: object) -> None:
        self.what, self.which = what, which

    def __enter__(self) -> None:
        return None

    def __exit__(self, kind: type | None, error: BaseException | None, tb: object) -> bool:
        if isinstance(error, (KeyError, TypeError, ValueError, AttributeError)):
            log.warning("skipping saved %s %r: %s: %s", self.what, self.which, kind.__name__, clean(error))
            return True
        return False


def _items(value: object, what: str) -> list:
    if value is None:
        return []
    if not isinstance(value, list):
        log.warning("skipping saved %s: not a list", what)
        return []
    return value


def _entries(value: object, what: str) -> list[tuple[str, object]]:
    if value is None:
        return []
    if not isinstance(value, Mapping):
        log.warning("skipping saved %s: not a table", what)
        return []
    return [(k, v) for k, v in value.items() if isinstance(k, str)]


def _str(value: object) -> str:
    if not isinstance(value, str):
        raise TypeError(f"expected text, got {type(value).__name__}")
    return clean(value, limit=None)


def _opt_str(value: object) -> str | None:
    return None if value is None else _str(value)


def _texts(value: object) -> tuple[str, ...]:
    if not isinstance(value, (list, tuple)):
        raise TypeError(f"expected a list, got {type(value).__name__}")
    return tuple(_str(v) for v in value)


def _int(value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValueError(f"expected a count, got {value!r}")
    return value


def _time(value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ValueError(f"expected a time, got {value!r}")
    return float(value)


def _opt_time(value: object) -> float | None:
    return None if value is None else _time(value)


def _load_row(d: object) -> _Row:
    if not isinstance(d, Mapping):
        raise TypeError(f"expected a table, got {type(d).__name__}")
    subject, name = _str(d["subject"]), _str(d["name"])
    if subject not in _RANKS:
        raise ValueError(f"unknown subject {subject!r}")
    rank = _RANKS[subject]
    severity = _str(d["severity"])
    current = _str(d.get("current", severity))
    if severity not in rank or current not in rank:
        raise ValueError(f"unknown severity {severity!r} for a {subject} alert")
    kind = _str(d.get("kind", ""))
    if subject == "slo" and kind not in ("check", "service"):
        raise ValueError(f"an SLO alert of unknown kind {kind!r}")
    started = _time(d["started_at"])
    return _Row(
        fingerprint=fingerprint(subject, name, BURN if subject == "slo" else CONDITION),  # recomputed, not trusted
        subject=subject,
        name=name,
        severity=severity,
        current=current,
        message=_str(d.get("message", "")),
        started_at=started,
        last_seen=_time(d.get("last_seen", started)),
        count=max(1, _int(d.get("count", 1))),
        resolved_at=_opt_time(d.get("resolved_at")),
        root_cause=_opt_str(d.get("root_cause")),
        acked_by=_opt_str(d.get("acked_by")),
        ack_comment=_str(d.get("ack_comment", "")),
        ack_until=_opt_time(d.get("ack_until")),
        silenced_by=_opt_str(d.get("silenced_by")),
        silence_reason=_str(d.get("silence_reason", "")),
        paged=d.get("paged", False) is True,
        resolved_sent=d.get("resolved_sent", False) is True,
        kind=kind,
        detail=_str(d.get("detail", "")),
    )


def _load_silence(d: object) -> Silence:
    if not isinstance(d, Mapping):
        raise TypeError(f"expected a table, got {type(d).__name__}")
    match, tags = _opt_str(d.get("match")), _texts(d.get("tags", []))
    if match is None and not tags:
        raise ValueError("a silence needs a name pattern or tags")
    until = _time(d["until"])
    return Silence(
        id=_str(d["id"]),
        until=until,
        created_at=_time(d.get("created_at", until)),
        match=match,
        tags=tags,
        by=_str(d.get("by", "")),
        comment=_str(d.get("comment", "")),
    )
