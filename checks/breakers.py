"""`kind = "breakers"`: read the circuit breakers of a watched application.

    [[check]]
    name = "orders-breakers"
    kind = "breakers"
    url = "http://127.0.0.1:8080/actuator/circuitbreakers"   # or .../actuator/prometheus
    open_is = "crit"              # an OPEN breaker makes the check crit (default warn)
    names = ["paymentService"]    # only these breakers (default: all)

Two sources are understood:

- the Spring Boot actuator endpoint of resilience4j (`/actuator/circuitbreakers`, or
  the `circuitBreakers` component of `/actuator/health`): JSON with rates written as
  strings like "50.0%", where "-1.0%" means "not enough calls yet";
- a Prometheus text exposition with resilience4j's micrometer metrics:
  `resilience4j_circuitbreaker_state{name="backendA",state="closed"} 1.0` (one series
  per state, 1 for the current one), plus failure/slow-call rates, buffered and
  not-permitted calls. A state series without a `state` label is read as
  resilience4j's state order (0 CLOSED, 1 OPEN, 2 HALF_OPEN, 3 DISABLED,
  4 FORCED_OPEN, 5 METRICS_ONLY), as older binders exported it.

Verdict per breaker: OPEN and FORCED_OPEN -> `open_is`, HALF_OPEN -> `half_open_is`,
CLOSED, DISABLED, METRICS_ONLY -> ok. A state this version does not know (a newer
resilience4j, a typo in a hand-made exporter) is *unknown*: the check turns unknown
and the message names the word as reported, rather than guessing it is harmless.
A breaker listed in `names` but absent from the response is unknown as well.

Every breaker is also returned as metrics, so the breaker panel can show remote
breakers next to ours; `remote_breakers()` decodes them:

    breaker_state:<name>          index in list(BreakerState), -1 for an unknown state
    breaker_failure_rate:<name>   percent (left out when not known yet)
    breaker_slow_rate:<name>      percent (left out when not known yet)
    breaker_calls:<name>          buffered calls in the sliding window
    breaker_not_permitted:<name>  calls rejected while open

The fetch itself reuses the http kind: its shared client, capped body reads and
the mapping of failures (DNS, connect, TLS, timeout, HTTP status) to reasons.
"""

from __future__ import annotations

import asyncio
import json
import math
import ssl
import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import httpx

from checks import prometheus_text
from checks.base import Field, Probe, Resources
from checks.http import (
    DEFAULT_MAX_BODY,
    DEFAULT_MAX_REDIRECTS,
    DETAIL_CHARS,
    check_positive,
    check_url,
    content_length,
    describe_error,
    read_capped,
    redacted,
    shared_client,
    _size,
    status_text,
)
from dash.model import BreakerState, Metric, Outcome, Reason, Status
from dash.text import Redactor, clean, is_secret_header

if TYPE_CHECKING:
    from dash.config import CheckConfig

KIND = "breakers"

FORMATS = ("auto", "actuator", "prometheus")
NAME_LIMIT = 80  # characters of a breaker name kept for display
LISTED = 3  # breaker names spelled out per state in the message
DETAIL_LINES = 200  # breakers listed one per line on the detail screen
UNKNOWN_INDEX = -1.0  # breaker_state value for a state this version does not know
_PARSE_INLINE = 64 * 1024  # bodies up to this size are parsed on the event loop (< 5 ms)

_STATES = list(BreakerState)
_BY_WORD = {s.name: s for s in BreakerState}
# resilience4j's CircuitBreaker.State.getOrder(), used by single-series state gauges.
_BY_ORDER = {
    0: BreakerState.CLOSED,
    1: BreakerState.OPEN,
    2: BreakerState.HALF_OPEN,
    3: BreakerState.DISABLED,
    4: BreakerState.FORCED_OPEN,
    5: BreakerState.METRICS_ONLY,
}
_PREFIX = "resilience4j_circuitbreaker_"
_NOT_IDENTITY = ("state", "kind")  # labels that split one breaker's series, not breakers


def _non_empty(value: list[str]) -> str | None:
    return None if value else "must name at least one breaker (leave it out to watch all)"


FIELDS: dict[str, Field] = {
    "url": Field(
        "str", required=True, validate=check_url,
        help="actuator /circuitbreakers (or /health) or Prometheus metrics URL",
    ),
    "format": Field(
        "str", default="auto", choices=FORMATS,
        help="auto: JSON (content type or a body starting with {) is actuator, else Prometheus",
    ),
    "headers": Field("str_map", help="request headers; Authorization and token-like values are never shown"),
    "ca_file": Field("str", help="PEM file of CA certificates to trust instead of the system ones"),
    "insecure": Field("bool", default=False, help="skip TLS certificate verification"),
    "open_is": Field(
        "str", default="warn", choices=("warn", "crit"), help="status when a breaker is OPEN or FORCED_OPEN"
    ),
    "half_open_is": Field(
        "str", default="warn", choices=("ok", "warn", "crit"), help="status when a breaker is HALF_OPEN"
    ),
    "names": Field("str_list", validate=_non_empty, help="only these breakers (default: all)"),
    "max_body": Field(
        "size", default=DEFAULT_MAX_BODY, validate=check_positive, help="most body bytes ever read"
    ),
}


# --- what a breaker looks like ---------------------------------------------------------


@dataclass(frozen=True, slots=True)
class RemoteBreaker:
    """One circuit breaker of a watched application, as it reported itself.

    `name` is cleaned for display. `state` is None for a state this version does
    not know; `raw_state` then holds the word as reported (cleaned) when known.
    Rates are percentages, None until the breaker has seen enough calls.
    """

    name: str
    state: BreakerState | None
    failure_rate: float | None = None
    slow_rate: float | None = None
    calls: int | None = None
    not_permitted: int | None = None
    raw_state: str = ""

    @property
    def label(self) -> str:
        """The state for display: CLOSED, HALF-OPEN, ... or the unknown word."""
        if self.state is not None:
            return self.state.label
        return self.raw_state or "UNKNOWN"


class UnreadableBody(ValueError):
    """The response holds no breakers we can read; the message says why."""


NO_BREAKERS = "no resilience4j circuit breakers found in response"


def _state(word: object) -> tuple[BreakerState | None, str]:
    """A reported state word as a BreakerState (None if unknown), and the word cleaned."""
    if not isinstance(word, str) or not word.strip():
        return None, "" if word is None else clean(word, limit=40)
    key = word.strip().upper().replace("-", "_").replace(" ", "_")
    return _BY_WORD.get(key), clean(word.strip(), limit=40)


def _rate(value: object) -> float | None:
    """A percentage: "12.5%" or 12.5; None for "-1.0%" (not enough calls) or nonsense."""
    if isinstance(value, bool):
        return None
    if isinstance(value, str):
        number = prometheus_text.parse_float(value.strip().removesuffix("%").strip())
    elif isinstance(value, (int, float)):
        number = float(value)
    else:
        return None
    if number is None or not math.isfinite(number) or number < 0:
        return None
    return number


def _count(value: object) -> int | None:
    """A call count: a non-negative finite number, else None."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    if not math.isfinite(value) or value < 0:
        return None
    return int(value)


def _unique(names: Iterable[str]) -> list[str]:
    """Names made unique by appending #2, #3 ... (two raw names may clean alike)."""
    seen: set[str] = set()
    counters: dict[str, int] = {}
    out = []
    for name in names:
        shown = name
        while shown in seen:
            counters[name] = counters.get(name, 1) + 1
            shown = f"{name} #{counters[name]}"
        seen.add(shown)
        out.append(shown)
    return out


# --- the actuator JSON ----------------------------------------------------------------


def _actuator_entries(document: Any) -> dict[str, Any] | None:
    """The name -> details table of /actuator/circuitbreakers or of /actuator/health."""
    if not isinstance(document, dict):
        return None
    table = document.get("circuitBreakers")
    if isinstance(table, dict):
        return table
    # /actuator/health: components (Boot 2.2+) or details (older) -> circuitBreakers -> details
    for key in ("components", "details"):
        part = document.get(key)
        if isinstance(part, dict) and isinstance(part.get("circuitBreakers"), dict):
            inner = part["circuitBreakers"].get("details")
            if isinstance(inner, dict):
                return {
                    k: v.get("details", v) if isinstance(v, dict) else v for k, v in inner.items()
                }
    return None


def parse_actuator(body: bytes | str) -> list[tuple[str, RemoteBreaker]]:
    """Breakers from actuator JSON, each with its raw name; raises UnreadableBody."""
    try:
        document = json.loads(body)
    except (ValueError, RecursionError) as exc:
        why = exc.msg if isinstance(exc, json.JSONDecodeError) else type(exc).__name__
        raise UnreadableBody(f"invalid JSON: {clean(why, limit=80)}") from None
    table = _actuator_entries(document)
    if not table:
        raise UnreadableBody(NO_BREAKERS)
    raw_names = [k for k, v in table.items() if isinstance(v, dict)]
    if not raw_names:
        raise UnreadableBody(NO_BREAKERS)
    shown = _unique(clean(k, limit=NAME_LIMIT) or "(unnamed)" for k in raw_names)
    out = []
    for raw, name in zip(raw_names, shown):
        entry = table[raw]
        state, word = _state(entry.get("state"))
        out.append(
            (
                raw,
                RemoteBreaker(
                    name,
                    state,
                    _rate(entry.get("failureRate")),
                    _rate(entry.get("slowCallRate")),
                    _count(entry.get("bufferedCalls")),
                    _count(entry.get("notPermittedCalls")),
                    word,
                ),
            )
        )
    return out


# --- the Prometheus exposition -------------------------------------------------------

_Key = tuple[str, tuple[tuple[str, str], ...]]


def _key(sample: prometheus_text.Sample) -> _Key | None:
    """Which breaker a sample belongs to: its name plus the labels that are not per-series."""
    name = sample.label("name")
    if name is None:
        return None
    extra = tuple(sorted({(k, v) for k, v in sample.labels if k != "name" and k not in _NOT_IDENTITY}))
    return name, extra


def _sums(samples: list[prometheus_text.Sample]) -> dict[_Key, float]:
    out: dict[_Key, float] = {}
    for s in samples:
        if (key := _key(s)) is not None and math.isfinite(s.value):
            out[key] = out.get(key, 0.0) + s.value
    return out


def _disambiguate(keys: list[_Key]) -> list[str]:
    """Display names; a name exported under several label sets gets its differing labels."""
    by_name: dict[str, list[dict[str, str]]] = {}
    for name, extra in keys:
        by_name.setdefault(name, []).append(dict(extra))
    differing: dict[str, list[str]] = {}
    for name, label_sets in by_name.items():
        if len(label_sets) > 1:
            seen = {k for labels in label_sets for k in labels}
            differing[name] = sorted(k for k in seen if len({labels.get(k) for labels in label_sets}) > 1)
    names = []
    for name, extra in keys:
        shown = clean(name, limit=NAME_LIMIT) or "(unnamed)"
        if differing.get(name):
            mine = dict(extra)
            shown += " (" + ", ".join(f"{k}={mine.get(k, '')}" for k in differing[name]) + ")"
            shown = clean(shown, limit=NAME_LIMIT * 2)
        names.append(shown)
    return _unique(names)


def parse_prometheus(text: str | bytes) -> list[tuple[str, RemoteBreaker]]:
    """Breakers from resilience4j metrics in a Prometheus exposition, each with its raw
    name; raises UnreadableBody when there are none."""
    exposition = prometheus_text.parse(text)
    states: dict[_Key, tuple[BreakerState | None, str]] = {}
    for s in exposition.named(_PREFIX + "state"):
        key = _key(s)
        if key is None:
            continue
        word = s.label("state")
        if word is None:  # one series whose value is the state's order
            known = _BY_ORDER.get(int(s.value)) if math.isfinite(s.value) and s.value == int(s.value) else None
            states[key] = (known, known.name if known else clean(f"order {s.value:g}", limit=40))
        elif s.value == 1:
            states[key] = _state(word)
        else:
            states.setdefault(key, (None, ""))  # seen, but not (yet) in any state
    if not states:
        raise UnreadableBody(NO_BREAKERS)
    failure = _sums(exposition.named(_PREFIX + "failure_rate"))
    slow = _sums(exposition.named(_PREFIX + "slow_call_rate"))
    buffered = _sums(exposition.named(_PREFIX + "buffered_calls"))
    rejected = _sums(
        exposition.named(_PREFIX + "not_permitted_calls_total", _PREFIX + "not_permitted_calls")
    )
    keys = list(states)
    out = []
    for key, name in zip(keys, _disambiguate(keys)):
        state, word = states[key]
        out.append(
            (
                key[0],
                RemoteBreaker(
                    name,
                    state,
                    _rate(failure.get(key)),
                    _rate(slow.get(key)),
                    _count(buffered.get(key)),
                    _count(rejected.get(key)),
                    word,
                ),
            )
        )
    return out


# --- metrics in, metrics out -------------------------------------------------------------


def breaker_metrics(breakers: Iterable[RemoteBreaker]) -> tuple[Metric, ...]:
    """Encode breakers as metrics (see the module docstring for the names)."""
    out: list[Metric] = []
    for b in breakers:
        index = float(_STATES.index(b.state)) if b.state is not None else UNKNOWN_INDEX
        out.append(Metric(f"breaker_state:{b.name}", index, "state"))
        if b.failure_rate is not None:
            out.append(Metric(f"breaker_failure_rate:{b.name}", b.failure_rate, "%", min=0.0, max=100.0))
        if b.slow_rate is not None:
            out.append(Metric(f"breaker_slow_rate:{b.name}", b.slow_rate, "%", min=0.0, max=100.0))
        if b.calls is not None:
            out.append(Metric(f"breaker_calls:{b.name}", float(b.calls), min=0.0))
        if b.not_permitted is not None:
            out.append(Metric(f"breaker_not_permitted:{b.name}", float(b.not_permitted), min=0.0))
    return tuple(out)


_FIELD_OF = {
    "breaker_failure_rate": "failure_rate",
    "breaker_slow_rate": "slow_rate",
    "breaker_calls": "calls",
    "breaker_not_permitted": "not_permitted",
}


def remote_breakers(metrics: Iterable[Metric]) -> list[RemoteBreaker]:
    """Decode the breakers a `breakers` check reported in its metrics, in report order.

    Only names with a `breaker_state:` metric become breakers; other metrics are
    ignored. An index outside BreakerState gives state None (label UNKNOWN).
    """
    found: dict[str, dict[str, Any]] = {}
    extras: dict[str, dict[str, Any]] = {}
    for m in metrics:
        kind, sep, name = m.name.partition(":")
        if not sep:
            continue
        value = m.value
        if kind == "breaker_state":
            index = int(value) if math.isfinite(value) and value == int(value) else -1
            found[name] = {"state": _STATES[index] if 0 <= index < len(_STATES) else None}
        elif kind in _FIELD_OF and math.isfinite(value):
            number = int(value) if kind in ("breaker_calls", "breaker_not_permitted") else value
            extras.setdefault(name, {})[_FIELD_OF[kind]] = number
    return [RemoteBreaker(name, **fields, **extras.get(name, {})) for name, fields in found.items()]


# --- judging -----------------------------------------------------------------------------


def _pct(value: float) -> str:
    return f"{value:.1f}".rstrip("0").rstrip(".") + "%"


def _about(b: RemoteBreaker) -> str:
    """"paymentService 80% failures" for the message."""
    parts = [b.name]
    if b.failure_rate is not None:
        parts.append(f"{_pct(b.failure_rate)} failures")
    if b.slow_rate and b.slow_rate > (b.failure_rate or 0.0):  # opened for slowness, not errors
        parts.append(f"{_pct(b.slow_rate)} slow")
    if b.state is None:
        parts.append(f"state {b.raw_state}" if b.raw_state else "no state reported")
    return " ".join(parts)


# Message order within one status: blocking states first, harmless ones last.
_ORDER = {
    s.label: i
    for i, s in enumerate(
        (
            BreakerState.OPEN,
            BreakerState.FORCED_OPEN,
            BreakerState.HALF_OPEN,
            BreakerState.CLOSED,
            BreakerState.METRICS_ONLY,
            BreakerState.FORCED_CLOSED,
            BreakerState.DISABLED,
        )
    )
}


def _names(items: list[str]) -> str:
    shown = items[:LISTED]
    more = len(items) - len(shown)
    return ", ".join(shown) + (f", +{more} more" if more else "")


def _detail(breakers: list[RemoteBreaker], missing: list[str]) -> str:
    """One line per breaker for the detail screen."""
    width = min(max((len(b.name) for b in breakers), default=4), 40)
    lines = []
    for b in breakers:
        cells = [f"{b.name:<{width}}", f"{b.label:<12}"]
        cells.append(f"{'failures ' + (_pct(b.failure_rate) if b.failure_rate is not None else '-'):<15}")
        cells.append(f"{'slow ' + (_pct(b.slow_rate) if b.slow_rate is not None else '-'):<11}")
        cells.append(f"{'buffered ' + (str(b.calls) if b.calls is not None else '-'):<14}")
        cells.append("not permitted " + (str(b.not_permitted) if b.not_permitted is not None else "-"))
        lines.append("  ".join(cells))
    lines += [f"{name:<{width}}  not in the response" for name in missing]
    if len(lines) > DETAIL_LINES:
        lines = lines[:DETAIL_LINES] + [f"... and {len(lines) - DETAIL_LINES} more"]
    return "\n".join(lines)


@dataclass(frozen=True, slots=True)
class Policy:
    """How breaker states turn into a check status."""

    open_is: Status = Status.WARN
    half_open_is: Status = Status.WARN

    def verdict(self, b: RemoteBreaker) -> Status:
        """The status one breaker gives the check."""
        if b.state is None:
            return Status.UNKNOWN
        if b.state.blocks:
            return self.open_is
        if b.state is BreakerState.HALF_OPEN:
            return self.half_open_is
        return Status.OK


def judge(
    breakers: list[RemoteBreaker], policy: Policy, missing: Iterable[str] = (), metrics: tuple[Metric, ...] = ()
) -> Outcome:
    """The outcome for a set of breakers: worst verdict, counts by state in the message.

    e.g. "3 breakers: 1 OPEN (paymentService 80% failures), 2 CLOSED".
    """
    missing = [clean(n, limit=NAME_LIMIT) for n in missing]
    verdicts = [policy.verdict(b) for b in breakers]
    groups: dict[str, list[tuple[Status, RemoteBreaker]]] = {}
    for verdict, b in zip(verdicts, breakers):
        label = b.label if b.state is not None else "in unknown state"
        groups.setdefault(label, []).append((verdict, b))
    ranked = sorted(groups.items(), key=lambda kv: (-kv[1][0][0].severity, _ORDER.get(kv[0], -1)))
    parts = []
    for label, members in ranked:
        text = f"{len(members)} {label}"
        if members[0][0] is not Status.OK:
            text += f" ({_names([_about(b) for _, b in members])})"
        parts.append(text)
    count = len(breakers)
    message = f"{count} breaker{'s' if count != 1 else ''}: " + ", ".join(parts) if breakers else ""
    if missing:
        message += ("; " if message else "") + f"not in the response: {_names(missing)}"
    status = Status.worst(verdicts + [Status.UNKNOWN] * bool(missing))
    if status is Status.OK:
        reason = Reason.OK
    elif any(v is status and b.state is not None for v, b in zip(verdicts, breakers)):
        reason = Reason.THRESHOLD  # an open or half-open breaker decided it
    else:
        reason = Reason.ASSERTION  # only unreadable states or missing breakers
    return Outcome(status, reason, message, metrics + breaker_metrics(breakers), False, _detail(breakers, missing))


# --- the probe ---------------------------------------------------------------------------


def _is_json(content_type: str) -> bool:
    return "json" in content_type.lower()


class BreakersProbe(Probe):
    """Fetches the breaker endpoint and judges every breaker in it."""

    def __init__(self, check: CheckConfig, resources: Resources) -> None:
        opts = check.options
        self._url: str = opts["url"]
        self._host = httpx.URL(self._url).host or ""
        self._format: str = opts.get("format") or "auto"
        self._headers: dict[str, str] = dict(opts.get("headers") or {})
        self._max_body = int(opts.get("max_body") or DEFAULT_MAX_BODY)
        self._policy = Policy(
            Status(opts.get("open_is") or "warn"), Status(opts.get("half_open_is") or "warn")
        )
        names = opts.get("names")
        self._names: tuple[str, ...] | None = tuple(names) if names else None
        secret_values = set(check.secrets)
        secret_values.update(v for k, v in self._headers.items() if is_secret_header(k))
        self._redact = Redactor(secret_values)

        self._setup_error: Outcome | None = None
        self._client: httpx.AsyncClient | None = None
        try:
            self._client = shared_client(
                resources,
                bool(opts.get("insecure")),
                None if opts.get("insecure") else opts.get("ca_file"),
                DEFAULT_MAX_REDIRECTS,
            )
        except (OSError, ssl.SSLError) as exc:  # unreadable or invalid ca_file
            why = clean(getattr(exc, "strerror", None) or exc, limit=120)
            self._setup_error = Outcome(
                Status.CRIT, Reason.TLS, f"cannot load ca_file {clean(opts.get('ca_file'), limit=120)}: {why}"
            )

    async def probe(self) -> Outcome:
        """One fetch; every failure becomes an Outcome, cancellation propagates."""
        if self._client is None:
            assert self._setup_error is not None
            return self._setup_error
        started = time.perf_counter()
        try:
            request = self._client.build_request("GET", self._url, headers=self._headers)
            response = await self._client.send(request, stream=True, follow_redirects=True)
            try:
                outcome = await self._judge(response, started)
            finally:
                await response.aclose()  # also on cancellation: drops an unfinished body
        except Exception as exc:
            outcome = describe_error(exc, self._host, DEFAULT_MAX_REDIRECTS)
        return redacted(outcome, self._redact)

    async def _judge(self, response: httpx.Response, started: float) -> Outcome:
        code = response.status_code
        shown = status_text(code, response.reason_phrase)
        declared = content_length(response)
        if declared is not None and declared > self._max_body:
            body, over = b"", True
        else:
            body, over = await read_capped(response, self._max_body)
        latency = (time.perf_counter() - started) * 1000.0
        metrics = (Metric("latency_ms", round(latency, 1), "ms", min=0.0),)
        snippet = clean(body[: DETAIL_CHARS * 2], one_line=False, limit=DETAIL_CHARS) if body else ""

        def crit(reason: Reason, message: str, retryable: bool = False) -> Outcome:
            return Outcome(Status.CRIT, reason, message, metrics, retryable, snippet)

        if not 200 <= code < 300:
            return crit(Reason.HTTP_STATUS, shown, code >= 500)
        if over:
            return crit(Reason.BODY_LIMIT, f"body is larger than max_body {_size(self._max_body)}; not read further")
        content_type = response.headers.get("content-type", "")
        try:
            if len(body) > _PARSE_INLINE:  # a big scrape is parsed off the event loop
                found = await asyncio.to_thread(self._parse, body, content_type)
            else:
                found = self._parse(body, content_type)
        except UnreadableBody as exc:
            return crit(Reason.ASSERTION, str(exc))
        missing: list[str] = []
        if self._names is not None:
            wanted = set(self._names)
            present = {raw for raw, _ in found}
            found = [(raw, b) for raw, b in found if raw in wanted]
            missing = [n for n in self._names if n not in present]
        return judge([b for _, b in found], self._policy, missing, metrics)

    def _parse(self, body: bytes, content_type: str) -> list[tuple[str, RemoteBreaker]]:
        """Read the body in the configured format, or guess it (see FIELDS["format"])."""
        if self._format == "actuator":
            return parse_actuator(body)
        if self._format == "prometheus":
            return parse_prometheus(body)
        if _is_json(content_type):
            return parse_actuator(body)
        if body.lstrip()[:1] == b"{":
            try:
                return parse_actuator(body)
            except UnreadableBody:
                pass  # Prometheus 3 lines may start with {"utf8.name"} too
        return parse_prometheus(body)


def make(check: CheckConfig, resources: Resources) -> Probe:
    """Build the probe for one `[[check]]` of kind "breakers"."""
    return BreakersProbe(check, resources)
