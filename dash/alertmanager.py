"""Alertmanager, both ways: the labels healthdash pushes, and the alerts it pulls.

Pushing (`[[notify]] kind = "alertmanager"`, sent by `dash.notify.AlertmanagerSender`):
every paged alert becomes one Alertmanager alert (API v2, `POST {url}/api/v2/alerts`)
with these labels, which routes and silences can match on:

    alertname   "HealthdashCheckUnhealthy", "HealthdashServiceUnhealthy" or "HealthdashSLOBurn"
    source      "healthdash"                 (route everything of ours: source="healthdash")
    subject     "check", "service" or "slo"
    check | service | slo = <name>           (the key is the subject: check="orders-db")
    severity    crit, warn, unknown | down, degraded | page, ticket
    priority    "P1" .. "P4"
    dashboard   [dashboard] title            (several dashboards can share one Alertmanager)

and annotations `summary` (the alert's message), `description` (why it has its
priority), `fingerprint` (healthdash's, e.g. "check:orders-db:unhealthy") and
`runbook` when the check or service has one. The labels are fixed when the page
goes out: Alertmanager identifies an alert by its label set, so re-sends and the
resolution reuse them even if the priority changed since.

Alertmanager forgets a firing alert that is not re-sent before its `endsAt`. Like
Prometheus, healthdash sends `endsAt` = now + `EXPIRES_AFTER` (4 minutes) and re-sends
every open paged alert every `RESEND_EVERY` (1 minute); the resolution is the same
alert with `endsAt` = the time it resolved. So if healthdash stops, its alerts resolve
in Alertmanager about 4 minutes later.

Pulling (`[alertmanager]`, `Puller`): Alertmanager's alerts that are not resolved,
active or suppressed (silenced or inhibited there), every `interval`, as
`ExternalAlert`s marked with source "alertmanager". `merge()` drops the ones that are
healthdash's own alerts coming back (source="healthdash" with a fingerprint annotation
of one of ours), so nothing is shown twice.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import logging
import math
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import httpx
from httpx_aiohttp import AiohttpTransport

from checks.http import describe_error, read_capped, status_text
from dash.clock import Clock, SystemClock
from dash.config import AlertmanagerConfig, Config, format_duration
from dash.core.alerts import Alert
from dash.text import Redactor, clean, is_secret_header

log = logging.getLogger("healthdash.alertmanager")

API_ALERTS = "/api/v2/alerts"
SOURCE = "alertmanager"  # ExternalAlert.source
OURS = "healthdash"  # the `source` label of the alerts healthdash pushes
ALERTNAMES = {"check": "HealthdashCheckUnhealthy", "service": "HealthdashServiceUnhealthy", "slo": "HealthdashSLOBurn"}
FINGERPRINT = "fingerprint"  # the annotation holding healthdash's fingerprint
RESEND_EVERY = 60.0  # seconds between re-sends of open alerts
EXPIRES_AFTER = 4 * RESEND_EVERY  # endsAt of a firing alert, from now: survives three missed re-sends
MAX_BODY = 16 * 1024 * 1024  # of a pull's answer
ERROR_BODY_CHARS = 200
NAME_LIMIT = 200
TEXT_LIMIT = 1000
USER_AGENT = "healthdash"


# -- pushing: what healthdash's alerts look like in Alertmanager ------------------------


def alerts_url(base: str) -> str:
    """The v2 alerts endpoint under an Alertmanager base URL (which may have a path prefix)."""
    return base.rstrip("/") + API_ALERTS


def iso(epoch: float) -> str:
    """RFC 3339 UTC time with milliseconds, as Alertmanager writes them."""
    when = dt.datetime.fromtimestamp(epoch, dt.timezone.utc)
    return when.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def alert_labels(alert: Alert, dashboard: str) -> dict[str, str]:
    """The label set (Alertmanager's identity) of one healthdash alert; see the module docstring."""
    labels = {
        "alertname": ALERTNAMES.get(alert.subject, "Healthdash"),
        "source": OURS,
        "subject": alert.subject,
        alert.subject if alert.subject in ALERTNAMES else "name": alert.name,
        "severity": alert.severity,
        "priority": alert.priority_label,
        "dashboard": dashboard,
    }
    return {k: v for k, v in labels.items() if v}  # an empty label is no label to Alertmanager


def api_alert(alert: Alert, config: Config) -> dict[str, Any]:
    """The postable alert for `alert` without `endsAt` (the sender sets it per request).
    Alert texts are already neutralised; check secrets are masked once more."""
    redact = config.redactor
    annotations = {
        "summary": redact(alert.message),
        "description": redact(alert.priority_reason),
        FINGERPRINT: alert.fingerprint,
        "runbook": redact(_runbook(alert, config)),
    }
    return {
        "labels": alert_labels(alert, config.title),
        "annotations": {k: v for k, v in annotations.items() if v},
        "startsAt": iso(alert.started_at),
    }


def _runbook(alert: Alert, config: Config) -> str:
    if alert.subject == "check" or alert.subject == "slo":
        try:
            return config.check(alert.name).runbook or ""
        except KeyError:
            return ""
    return ""


# -- pulling: Alertmanager's alerts --------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ExternalAlert:
    """An alert from Alertmanager, every text cleaned.

    `fingerprint` is Alertmanager's; `name` its alertname label; `summary` the
    summary annotation (else description, else message); `state` is "active" or
    "suppressed" (silenced or inhibited in Alertmanager, see `silenced_by` and
    `inhibited_by`). Times are epoch seconds (None when missing or unreadable).
    """

    fingerprint: str
    name: str
    labels: Mapping[str, str]
    summary: str
    severity: str
    state: str
    starts_at: float | None
    annotations: Mapping[str, str] = field(default_factory=dict)
    description: str = ""
    ends_at: float | None = None
    updated_at: float | None = None
    silenced_by: tuple[str, ...] = ()
    inhibited_by: tuple[str, ...] = ()
    receivers: tuple[str, ...] = ()
    generator_url: str = ""
    source: str = SOURCE

    def __hash__(self) -> int:  # labels are a dict
        return hash((self.source, self.fingerprint))

    @property
    def from_healthdash(self) -> bool:
        """True when its labels say a healthdash pushed it."""
        return self.labels.get("source") == OURS and FINGERPRINT in self.annotations


_TIME = re.compile(
    r"(\d{4})-(\d\d)-(\d\d)[Tt ](\d\d):(\d\d):(\d\d)(?:\.(\d+))?(?:([Zz])|([+-])(\d\d):(\d\d))", re.ASCII
)


def parse_time(text: object) -> float | None:
    """Epoch seconds of an RFC 3339 time (Go writes up to nanoseconds); None when
    unreadable, or Go's zero time (year 1) that means "not set"."""
    if not isinstance(text, str):
        return None
    m = _TIME.fullmatch(text.strip())
    if m is None:
        return None
    year, month, day, hour, minute, second, frac, _, sign, oh, om = m.groups()
    try:
        zone = dt.timezone.utc if sign is None else dt.timezone((1 if sign == "+" else -1) * dt.timedelta(hours=int(oh), minutes=int(om)))
        micro = int((frac or "0")[:6].ljust(6, "0"))
        when = dt.datetime(int(year), int(month), int(day), int(hour), int(minute), int(second), micro, zone)
    except ValueError:  # e.g. month 13, an offset of 25 hours
        return None
    if when.year <= 1:
        return None
    return when.timestamp()


def _text_map(value: Any, limit: int) -> dict[str, str]:
    if not isinstance(value, Mapping):
        return {}
    out = {clean(k, limit=NAME_LIMIT): clean(v, limit=limit) for k, v in value.items() if isinstance(k, str) and isinstance(v, str)}
    return dict(sorted(out.items()))


def _names(value: Any, key: str | None = None) -> tuple[str, ...]:
    """Strings of a list (or, with `key`, that key of each object in it), cleaned."""
    if not isinstance(value, list):
        return ()
    items = [v.get(key) if key and isinstance(v, Mapping) else v for v in value]
    return tuple(clean(v, limit=NAME_LIMIT) for v in items if isinstance(v, str))


def _alert(item: Mapping[str, Any]) -> ExternalAlert | None:
    labels = _text_map(item.get("labels"), NAME_LIMIT)
    fingerprint = item.get("fingerprint")
    if not labels or not isinstance(fingerprint, str) or not fingerprint:
        return None  # not an alert we could show or tell apart
    annotations = _text_map(item.get("annotations"), TEXT_LIMIT)
    status = item.get("status") if isinstance(item.get("status"), Mapping) else {}
    silenced, inhibited = _names(status.get("silencedBy")), _names(status.get("inhibitedBy"))
    suppressed = status.get("state") == "suppressed" or bool(silenced or inhibited)
    fp = clean(fingerprint, limit=NAME_LIMIT)
    generator = item.get("generatorURL")
    return ExternalAlert(
        fingerprint=fp,
        name=labels.get("alertname") or fp,
        labels=labels,
        summary=annotations.get("summary") or annotations.get("description") or annotations.get("message", ""),
        severity=labels.get("severity", ""),
        state="suppressed" if suppressed else "active",
        starts_at=parse_time(item.get("startsAt")),
        annotations=annotations,
        description=annotations.get("description", ""),
        ends_at=parse_time(item.get("endsAt")),
        updated_at=parse_time(item.get("updatedAt")),
        silenced_by=silenced,
        inhibited_by=inhibited,
        receivers=_names(item.get("receivers"), "name"),
        generator_url=clean(generator, limit=TEXT_LIMIT) if isinstance(generator, str) else "",
    )


def alerts_from_api(doc: Any) -> list[ExternalAlert]:
    """The alerts in a `GET /api/v2/alerts` answer (parsed JSON): active ones first,
    then by start time. Items that are not alerts are skipped; raises ValueError only
    when `doc` is not a list at all."""
    if not isinstance(doc, list):
        raise ValueError("expected a JSON list of alerts")
    alerts = [a for item in doc if isinstance(item, Mapping) and (a := _alert(item)) is not None]
    never = math.inf
    return sorted(alerts, key=lambda a: (a.state != "active", a.starts_at or never, a.name, a.fingerprint))


def merge(ours: Iterable[Alert], theirs: Iterable[ExternalAlert], *, dashboard: str | None = None) -> list[ExternalAlert]:
    """`theirs` minus healthdash's own alerts coming back from Alertmanager: those with
    source="healthdash" whose fingerprint annotation is one of `ours` (and, when
    `dashboard` is given, whose dashboard label is not another dashboard's)."""
    mine = {a.fingerprint for a in ours}

    def duplicate(t: ExternalAlert) -> bool:
        if not t.from_healthdash or t.annotations.get(FINGERPRINT) not in mine:
            return False
        return dashboard is None or t.labels.get("dashboard", dashboard) == dashboard

    return [t for t in theirs if not duplicate(t)]


class _Failed(Exception):
    """A pull that got an answer, but not a usable one."""


def _client() -> httpx.AsyncClient:
    """An httpx client over aiohttp (as the http check kind uses), verifying TLS with the system CAs."""
    ctx = httpx.create_ssl_context(verify=True)

    def session() -> aiohttp.ClientSession:
        return aiohttp.ClientSession(connector=aiohttp.TCPConnector(ssl=ctx), cookie_jar=aiohttp.DummyCookieJar())

    return httpx.AsyncClient(
        transport=AiohttpTransport(verify=ctx, client=session),
        timeout=None,  # each pull's deadline is enforced with the clock
        follow_redirects=False,
        trust_env=False,
        headers={"User-Agent": USER_AGENT, "Accept": "application/json"},
    )


def _origin(url: str) -> str:
    """host:port of a URL, safe to show (paths and query strings may carry tokens)."""
    try:
        u = httpx.URL(url)
        return clean(u.host + (f":{u.port}" if u.port else ""), limit=200)
    except Exception:
        return "(url hidden)"


class Puller:
    """Keeps `.alerts` (a tuple of ExternalAlert) up to date from one Alertmanager.

    `start()` pulls at once and then every `interval`; `stop()` ends it and closes the
    connection. `.error` is "" while pulls work, else a one-line reason (secrets
    masked); the last good `.alerts` are kept meanwhile, and `.updated_at` (wall
    clock) says how old they are. Listeners given to `subscribe()` are called on the
    event loop after every pull that changed `.alerts` or `.error`. Never raises.
    """

    def __init__(self, config: AlertmanagerConfig, *, clock: Clock | None = None) -> None:
        self.config = config
        self.clock: Clock = clock or SystemClock()
        self.alerts: tuple[ExternalAlert, ...] = ()
        self.error = ""
        self.updated_at: float | None = None
        self._listeners: list[Callable[[], None]] = []
        self._client: httpx.AsyncClient | None = None
        self._task: asyncio.Task[None] | None = None
        self._url = httpx.URL(alerts_url(config.url), params={"active": "true", "silenced": "true", "inhibited": "true"})
        self._where = f"Alertmanager at {_origin(config.url)}"
        secrets = set(config.secrets)
        for name, value in config.headers.items():
            if is_secret_header(name):
                secrets.add(value)
                secrets.update(part for part in value.split() if len(part) >= 8)  # "Bearer <token>"
        self._redact = Redactor(secrets)

    def subscribe(self, listener: Callable[[], None]) -> None:
        """Call `listener()` whenever `.alerts` or `.error` change."""
        self._listeners.append(listener)

    @property
    def running(self) -> bool:
        return self._task is not None and not self._task.done()

    async def start(self) -> None:
        """Start pulling in the background (the first pull right away)."""
        if self._task is None:
            self._task = asyncio.ensure_future(self._loop())

    async def stop(self) -> None:
        """Stop pulling and close the connection; `.alerts` keep their last value."""
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
        client, self._client = self._client, None
        if client is not None:
            await client.aclose()

    async def _loop(self) -> None:
        while True:
            await self.pull()
            await self.clock.sleep(self.config.interval)

    async def pull(self) -> None:
        """Pull once and update `.alerts`, `.error` and `.updated_at`."""
        before = (self.alerts, self.error)
        try:
            doc = await self.clock.within(self._fetch(), self.config.timeout)
            alerts = tuple(alerts_from_api(doc))
        except (TimeoutError, asyncio.TimeoutError):
            self._failed(f"no answer within {format_duration(self.config.timeout)}")
        except (_Failed, ValueError) as exc:
            self._failed(str(exc))
        except Exception as exc:  # connection refused, DNS, TLS ...: the http check's words
            self._failed(describe_error(exc, _origin(self.config.url), 0).message)
        else:
            if self.error:
                log.info(f"{self._where}: answering again")
            self.alerts, self.error, self.updated_at = alerts, "", self.clock.wall()
        if (self.alerts, self.error) != before:
            for listener in self._listeners:
                try:
                    listener()
                except Exception:
                    log.exception("an Alertmanager listener failed")

    def _failed(self, why: str) -> None:
        error = self._redact(f"{self._where}: {why}")
        if error != self.error:  # log changes, not every pull
            log.warning(error)
        self.error = error

    async def _fetch(self) -> Any:
        if self._client is None:
            self._client = _client()
        async with self._client.stream("GET", self._url, headers=dict(self.config.headers)) as response:
            body, more = await read_capped(response, MAX_BODY)
            code = response.status_code
            if not 200 <= code < 300:
                why = status_text(code, response.reason_phrase)
                detail = clean(body[:ERROR_BODY_CHARS * 4], limit=ERROR_BODY_CHARS)
                raise _Failed(f"{why}: {detail}" if detail else why)
        if more:
            raise _Failed(f"answer larger than {MAX_BODY // (1024 * 1024)} MiB")
        try:
            return json.loads(body)
        except ValueError:
            raise _Failed("answer is not JSON") from None
