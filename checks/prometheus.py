"""`kind = "prometheus"`: a PromQL instant query, judged against thresholds.

    [[check]]
    name = "orders queue"
    kind = "prometheus"
    url = "http://127.0.0.1:9090"                 # the server's base URL
    query = 'queue_depth{app="orders"}'
    headers = { Authorization = "Bearer ${PROM_TOKEN}" }
    warn = { above = 100 }                        # and/or { below = 1 }
    crit = { above = 1000 }
    aggregate = "each"                            # or max, min, sum, avg, count
    empty_is = "unknown"                          # no series: ok, warn, crit or unknown
    label = "instance"                            # names a series in messages

The query goes to `GET {url}/api/v1/query` (with `time` when set, and the check's
timeout as the server-side evaluation timeout). What the answer gives:

- vector: one value per series; matrix (a range selector): the latest value of each
  series; scalar: one value named "scalar"; string: unknown (nothing to compare).
- `aggregate = "each"` judges every series and the worst counts; the message shows the
  worst one (when all are fine: the one nearest a threshold, or the biggest value). The other
  aggregates judge one number computed over the series; `count` counts series, so
  it is judged even when there are none (`crit = { below = 1 }`).
- Thresholds are strict: `above = 100` trips at 100.5, not at 100.
- NaN means "no number" (a 0/0 rate): such series are not judged; when no series has
  a number the result is "empty" and `empty_is` decides. +Inf and -Inf compare
  normally. Values that are not finite are left out of the metrics (they are not JSON).

Failures: transport and plain HTTP errors are what every HTTP kind reports (crit,
via `checks.http.describe_error`): the server cannot be asked. An answer with
`"status": "error"` (a bad query, an evaluation timeout) is *unknown*: the server is
there but the value is not known. Its reason is `timeout` for the server's
`timeout`/`canceled` errors (retryable) and `http_status` for the rest (retryable
when the HTTP status is 5xx); the message is "query failed: <errorType>: <error>".
A 2xx answer that is not the Prometheus API is crit with reason `assertion`.

Metrics: `latency_ms`, `series` (how many came back), `value` (the judged number,
aggregates only) and `value:<series label>` for at most 50 series.

`http_client` and `fetch` are shared with the `node` kind.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import math
import ssl
import time
from collections import Counter
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Mapping

import httpx

from checks.base import Field, Probe, Resources
from checks.http import (
    DEFAULT_MAX_REDIRECTS,
    DETAIL_CHARS,
    _size,
    check_positive,
    check_url,
    content_length,
    describe_error,
    read_capped,
    redacted,
    shared_client,
    status_text,
)
from dash.model import Metric, Outcome, Reason, Status
from dash.text import Redactor, clean, is_secret_header

if TYPE_CHECKING:
    from dash.config import CheckConfig

KIND = "prometheus"

AGGREGATES = ("each", "max", "min", "sum", "avg", "count")
EMPTY_IS = ("ok", "warn", "crit", "unknown")
DEFAULT_MAX_BODY = 8 * 1024 * 1024  # a query over thousands of series answers megabytes
MAX_SERIES_METRICS = 50
DETAIL_LINES = 200
NAME_LIMIT = 80  # characters of a series label kept for display
IDENTITY_LABELS = ("job", "instance", "name", "__name__")
PARSE_INLINE = 64 * 1024  # bodies up to this size are parsed on the event loop


# --- configuration ---------------------------------------------------------------------


def _band(value: Mapping[str, Any]) -> str | None:
    above, below = value.get("above"), value.get("below")
    for number in (above, below):
        if number is not None and not math.isfinite(number):
            return "above and below must be finite numbers"
    if above is not None and below is not None and below >= above:
        return "below must be less than above (the value trips when outside below..above)"
    return None


def _threshold(level: str) -> Field:
    return Field(
        "table",
        validate=_band,
        help=f"{level} when the value is above and/or below these numbers",
        fields={
            "above": Field("number", help=f"{level} when the value is more than this"),
            "below": Field("number", help=f"{level} when the value is less than this"),
        },
    )


def _not_blank(value: str) -> str | None:
    return None if value.strip() else "must not be empty"


def _check_time(value: str) -> str | None:
    text = value.strip()
    try:
        float(text)
        return None
    except ValueError:
        pass
    try:
        parsed = dt.datetime.fromisoformat(text[:-1] + "+00:00" if text[-1:] in "Zz" else text)
    except ValueError:
        parsed = None
    if parsed is None or parsed.tzinfo is None:
        return 'must be a Unix timestamp or an RFC 3339 time like "2026-01-01T00:00:00Z"'
    return None


FIELDS: dict[str, Field] = {
    "url": Field(
        "str", required=True, validate=check_url, help="Prometheus server base URL, e.g. http://127.0.0.1:9090"
    ),
    "query": Field("str", required=True, validate=_not_blank, help="PromQL expression (an instant query)"),
    "time": Field("str", validate=_check_time, help="evaluation time (default: now), Unix or RFC 3339"),
    "headers": Field("str_map", help="request headers; Authorization and token-like values are never shown"),
    "ca_file": Field("str", help="PEM file of CA certificates to trust instead of the system ones"),
    "insecure": Field("bool", default=False, help="skip TLS certificate verification"),
    "warn": _threshold("warn"),
    "crit": _threshold("crit"),
    "aggregate": Field(
        "str", default="each", choices=AGGREGATES,
        help="each: every series is judged, the worst counts; else one number over all series",
    ),
    "empty_is": Field("str", default="unknown", choices=EMPTY_IS, help="status when no series has a value"),
    "label": Field("str", help="label that names a series (default: job, instance, name or __name__)"),
    "max_body": Field("size", default=DEFAULT_MAX_BODY, validate=check_positive, help="most body bytes ever read"),
}


# --- fetching (shared with the node kind) ------------------------------------------------


def http_client(opts: Mapping[str, Any], resources: Resources) -> tuple[httpx.AsyncClient | None, Outcome | None]:
    """The shared http client for a check's TLS options, or the outcome explaining why not."""
    try:
        client = shared_client(
            resources,
            bool(opts.get("insecure")),
            None if opts.get("insecure") else opts.get("ca_file"),
            DEFAULT_MAX_REDIRECTS,
        )
        return client, None
    except (OSError, ssl.SSLError) as exc:  # unreadable or invalid ca_file
        why = clean(getattr(exc, "strerror", None) or exc, limit=120)
        where = clean(opts.get("ca_file"), limit=120)
        return None, Outcome(Status.CRIT, Reason.TLS, f"cannot load ca_file {where}: {why}")


def secrets_of(check: CheckConfig, headers: Mapping[str, str]) -> Redactor:
    """${VAR} values and credential header values: never shown."""
    values = set(check.secrets)
    values.update(v for k, v in headers.items() if is_secret_header(k))
    return Redactor(values)


@dataclass(frozen=True, slots=True)
class Fetched:
    """A response read up to `max_body`; `over` when it was larger (and not read further)."""

    code: int
    shown: str  # "200 OK", the phrase cleaned
    body: bytes
    over: bool
    elapsed: float  # seconds from sending to the end of the body

    @property
    def ok(self) -> bool:
        return 200 <= self.code < 300


async def fetch(client: httpx.AsyncClient, request: httpx.Request, max_body: int) -> Fetched:
    """Send `request` and read its body, at most `max_body` bytes. Raises what httpx raises."""
    started = time.perf_counter()
    response = await client.send(request, stream=True, follow_redirects=True)
    try:
        declared = content_length(response)
        if declared is not None and declared > max_body:
            body, over = b"", True
        else:
            body, over = await read_capped(response, max_body)
    finally:
        await response.aclose()  # also on cancellation: drops an unfinished body
    shown = status_text(response.status_code, response.reason_phrase)
    return Fetched(response.status_code, shown, body, over, time.perf_counter() - started)


def over_limit(max_body: int) -> str:
    return f"body is larger than max_body {_size(max_body)}; not read further"


# --- reading the answer ------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Series:
    """One series of the answer: its labels (raw outside text) and its value (may be NaN)."""

    labels: tuple[tuple[str, str], ...]
    value: float

    def label(self, key: str) -> str | None:
        for k, v in self.labels:
            if k == key:
                return v
        return None


@dataclass(frozen=True, slots=True)
class Answer:
    """What a successful query returned: its result type, series and warnings."""

    result_type: str
    series: tuple[Series, ...] = ()
    text: str | None = None  # the value of a "string" result
    warnings: tuple[str, ...] = ()


class QueryFailed(Exception):
    """The server answered `"status": "error"`: `error_type` and `error` as it said them."""

    def __init__(self, error_type: str, error: str) -> None:
        super().__init__(f"{error_type}: {error}")
        self.error_type = error_type
        self.error = error


class NotTheApi(ValueError):
    """The body is not a Prometheus API answer; the message says why."""


def _number(value: Any) -> float:
    """A sample value: Prometheus sends strings ("1.5", "NaN", "+Inf"); NaN for anything else."""
    if isinstance(value, bool):
        return math.nan
    if isinstance(value, (int, float)):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value)  # Python reads "NaN", "+Inf", "-Inf" like Go does
        except ValueError:
            return math.nan
    return math.nan


def _pair_value(pair: Any) -> float:
    """The value of a [timestamp, "value"] pair."""
    if isinstance(pair, list) and len(pair) == 2:
        return _number(pair[1])
    return math.nan


def _labels(metric: Any) -> tuple[tuple[str, str], ...]:
    if not isinstance(metric, dict):
        return ()
    return tuple(sorted((str(k), str(v)) for k, v in metric.items()))


def parse_answer(body: bytes) -> Answer:
    """Read a /api/v1/query answer. Raises QueryFailed or NotTheApi."""
    try:
        document = json.loads(body)
    except (ValueError, RecursionError):
        raise NotTheApi("response is not JSON (is url the Prometheus server?)") from None
    if not isinstance(document, dict) or document.get("status") not in ("success", "error"):
        raise NotTheApi("response is not a Prometheus API answer (no \"status\")")
    if document["status"] == "error":
        raise QueryFailed(str(document.get("errorType") or "error"), str(document.get("error") or ""))
    data = document.get("data")
    if not isinstance(data, dict):
        raise NotTheApi("Prometheus answer has no \"data\"")
    result_type = data.get("resultType")
    result = data.get("result")
    raw_warnings = document.get("warnings")
    warnings = tuple(str(w) for w in raw_warnings) if isinstance(raw_warnings, list) else ()
    if result_type in ("vector", "matrix"):
        if not isinstance(result, list):
            raise NotTheApi(f"{result_type} answer has no result list")
        series = []
        for item in result:
            if not isinstance(item, dict):
                continue
            if result_type == "vector":
                value = _pair_value(item.get("value"))
            else:  # a range selector: the latest sample counts
                values = item.get("values")
                value = _pair_value(values[-1]) if isinstance(values, list) and values else math.nan
            series.append(Series(_labels(item.get("metric")), value))
        return Answer(result_type, tuple(series), warnings=warnings)
    if result_type == "scalar":
        return Answer("scalar", (Series((), _pair_value(result)),), warnings=warnings)
    if result_type == "string":
        text = str(result[1]) if isinstance(result, list) and len(result) == 2 else ""
        return Answer("string", text=text, warnings=warnings)
    raise NotTheApi(f"unexpected resultType {clean(result_type, limit=40)!s}")


# --- naming series -----------------------------------------------------------------------


def _label_set(labels: tuple[tuple[str, str], ...]) -> str:
    inner = ",".join(f'{k}="{v}"' for k, v in labels if k != "__name__")
    return "{" + inner + "}"


def series_names(series: tuple[Series, ...], label: str | None, scalar: bool = False) -> list[str]:
    """A display name per series, cleaned and unique.

    The configured `label`, else the first of job/instance/name/__name__ present, else
    the label set. Series that would share a name get the labels that tell them apart.
    """
    if scalar:
        return ["scalar"]
    keys = (label,) if label else IDENTITY_LABELS
    base: list[str] = []
    for s in series:
        name = next((v for k in keys if (v := s.label(k)) is not None), None)
        base.append(name if name is not None else _label_set(s.labels))
    groups: dict[str, list[int]] = {}
    for i, name in enumerate(base):
        groups.setdefault(name, []).append(i)
    names = list(base)
    for name, members in groups.items():
        if len(members) < 2:
            continue
        sets = [dict(series[i].labels) for i in members]
        keys_seen = sorted({k for labels in sets for k in labels})
        differing = [k for k in keys_seen if len({labels.get(k) for labels in sets}) > 1]
        for i, labels in zip(members, sets):
            if differing:
                names[i] = f"{name} " + "{" + ",".join(f'{k}="{labels.get(k, "")}"' for k in differing) + "}"
    shown = [clean(n, limit=NAME_LIMIT) or "{}" for n in names]
    seen: set[str] = set()
    out = []
    for n in shown:  # two raw names may clean alike: keep them apart
        unique, k = n, 1
        while unique in seen:
            k += 1
            unique = f"{n} #{k}"
        seen.add(unique)
        out.append(unique)
    return out


# --- judging -----------------------------------------------------------------------------


def fmt(value: float) -> str:
    """A number for a message: integers as integers, else 6 significant digits."""
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    if value == int(value) and abs(value) < 1e15:
        return str(int(value))
    return f"{value:.6g}"


@dataclass(frozen=True, slots=True)
class Thresholds:
    """warn/crit bands: a value above `above` or below `below` trips that level (strictly)."""

    warn_above: float | None = None
    warn_below: float | None = None
    crit_above: float | None = None
    crit_below: float | None = None

    def judge(self, value: float) -> tuple[Status, str]:
        """The status of one value and why, e.g. (CRIT, "crit above 1000")."""
        for status, above, below in (
            (Status.CRIT, self.crit_above, self.crit_below),
            (Status.WARN, self.warn_above, self.warn_below),
        ):
            if above is not None and value > above:
                return status, f"{status.value} above {fmt(above)}"
            if below is not None and value < below:
                return status, f"{status.value} below {fmt(below)}"
        return Status.OK, ""

    def pressure(self, value: float) -> float:
        """How close to tripping: higher is nearer (for picking the series to show).

        Without "below" thresholds the highest value is nearest, so a query without any
        thresholds shows its biggest series."""
        below_only = self.warn_above is None and self.crit_above is None and (
            self.warn_below is not None or self.crit_below is not None
        )
        return -value if below_only else value

    @property
    def metric_warn(self) -> float | None:
        return self.warn_above if self.warn_above is not None else self.warn_below

    @property
    def metric_crit(self) -> float | None:
        return self.crit_above if self.crit_above is not None else self.crit_below


@dataclass(frozen=True, slots=True)
class Query:
    """How a check judges an answer: thresholds, aggregate, empty_is, naming."""

    text: str
    thresholds: Thresholds = Thresholds()
    aggregate: str = "each"
    empty_is: Status = Status.UNKNOWN
    label: str | None = None

    def judge(self, answer: Answer, metrics: tuple[Metric, ...] = ()) -> Outcome:
        """The outcome for a successful answer; `metrics` go first in it (e.g. latency)."""
        warnings = "".join(f"\nwarning: {clean(w, limit=300)}" for w in answer.warnings)
        if answer.result_type == "string":
            shown = clean(repr(answer.text or ""), limit=80)
            return Outcome(
                Status.UNKNOWN, Reason.ASSERTION, f"query returned a string ({shown}), not a number",
                metrics, False, warnings.strip(),
            )
        series = answer.series
        names = series_names(series, self.label, scalar=answer.result_type == "scalar")
        judged = [self.thresholds.judge(s.value) for s in series]
        t = self.thresholds
        per_series = [
            Metric(f"value:{name}", s.value, "", t.metric_warn, t.metric_crit)
            for name, s in zip(names, series)
            if math.isfinite(s.value)  # NaN and Inf are not JSON
        ][:MAX_SERIES_METRICS]
        metrics += (Metric("series", float(len(series)), "", min=0.0),)
        detail = self._detail(series, names, judged) + warnings
        numbers = [(i, s.value) for i, s in enumerate(series) if not math.isnan(s.value)]
        what = self._what(series)
        # `count` has a number even for no series; everything else needs one that is not NaN.
        if not numbers and self.aggregate != "count":
            message = f"no series for {what}" if not series else f"{what}: {len(series)} series, all NaN"
            status, reason, judged_metric = self.empty_is, self._empty_reason, ()
        elif self.aggregate == "each":
            i = max(numbers, key=lambda iv: (judged[iv[0]][0].severity, t.pressure(iv[1]), -iv[0]))[0]
            status, why = judged[i]
            name = self._name_of(series[i], what)
            message = f"{name}: {fmt(series[i].value)}" + (f" ({why})" if why else "")
            if answer.result_type != "scalar" and names[i] != name:
                message += f" on {names[i]}"
            if len(series) > 1:
                tally = Counter(judged[j][0] for j, _ in numbers)
                parts = [f"{tally[s]} {s.value}" for s in (Status.CRIT, Status.WARN) if tally[s]]
                parts += [f"{len(series) - len(numbers)} NaN"] if len(numbers) < len(series) else []
                message += f"; {len(series)} series" + (": " + ", ".join(parts) if parts else "")
            reason = Reason.OK if status is Status.OK else Reason.THRESHOLD
            judged_metric = ()
        else:
            message, status, reason, value = self._aggregated(numbers, len(series), names, what)
            judged_metric = (Metric("value", value, "", t.metric_warn, t.metric_crit),) if math.isfinite(value) else ()
        if len(series) > MAX_SERIES_METRICS:  # metrics stay small; the detail screen lists more
            message += f" (metrics for the first {len(per_series)})"
        return Outcome(status, reason, message, metrics + judged_metric + tuple(per_series), False, detail)

    @property
    def _empty_reason(self) -> Reason:
        return Reason.OK if self.empty_is is Status.OK else Reason.ASSERTION

    def _aggregated(
        self, numbers: list[tuple[int, float]], count: int, names: list[str], what: str
    ) -> tuple[str, Status, Reason, float]:
        """Message, status, reason and value of one number over all series (not "each")."""
        on = None
        if self.aggregate == "count":
            value = float(count)
        elif self.aggregate in ("max", "min"):
            pick = max if self.aggregate == "max" else min
            i, value = pick(numbers, key=lambda iv: iv[1])
            on = names[i] if count > 1 else None
        else:  # sum, avg; +Inf plus -Inf is NaN, as in PromQL
            total = sum(v for _, v in numbers)
            value = total if self.aggregate == "sum" else total / len(numbers)
        message = f"{what}: {self.aggregate} {fmt(value)}"
        if math.isnan(value):  # no number to judge
            status, reason = self.empty_is, self._empty_reason
        else:
            status, why = self.thresholds.judge(value)
            reason = Reason.OK if status is Status.OK else Reason.THRESHOLD
            message += f" ({why})" if why else ""
        message += f" on {on}" if on else ""
        if self.aggregate != "count":
            nan = count - len(numbers)
            message += f"; {count} series" + (f": {nan} NaN" if nan else "")
        return message, status, reason, value

    def _what(self, series: tuple[Series, ...]) -> str:
        """What the value is called: the metric name all series share, else the query."""
        names = {s.label("__name__") for s in series}
        if len(names) == 1 and (only := names.pop()) is not None:
            return clean(only, limit=NAME_LIMIT)
        return clean(self.text, limit=60)

    def _name_of(self, s: Series, fallback: str) -> str:
        name = s.label("__name__")
        return clean(name, limit=NAME_LIMIT) if name is not None else fallback

    @staticmethod
    def _detail(series: tuple[Series, ...], names: list[str], judged: list[tuple[Status, str]]) -> str:
        """One line per series for the detail screen."""
        width = min(max((len(n) for n in names), default=4), 60)
        lines = [
            f"{name:<{width}}  {fmt(s.value):>12}  {'not judged' if math.isnan(s.value) else why or status.value}"
            for name, s, (status, why) in zip(names, series, judged)
        ]
        if len(lines) > DETAIL_LINES:
            lines = lines[:DETAIL_LINES] + [f"... and {len(lines) - DETAIL_LINES} more"]
        return "\n".join(lines)


def failed(exc: QueryFailed, code: int) -> Outcome:
    """The outcome of a `"status": "error"` answer (see the module docstring)."""
    message = clean(f"query failed: {exc.error_type}: {exc.error}", limit=300)
    if exc.error_type in ("timeout", "canceled"):
        return Outcome(Status.UNKNOWN, Reason.TIMEOUT, message, retryable=True)
    return Outcome(Status.UNKNOWN, Reason.HTTP_STATUS, message, retryable=code >= 500)


# --- the probe ---------------------------------------------------------------------------


class PrometheusProbe(Probe):
    """Runs the configured instant query and judges the answer."""

    def __init__(self, check: CheckConfig, resources: Resources) -> None:
        opts = check.options
        self._url: str = opts["url"]
        self._host = httpx.URL(self._url).host or ""
        self._headers: dict[str, str] = dict(opts.get("headers") or {})
        self._max_body = int(opts.get("max_body") or DEFAULT_MAX_BODY)
        warn, crit = opts.get("warn") or {}, opts.get("crit") or {}
        self._query = Query(
            opts["query"],
            Thresholds(warn.get("above"), warn.get("below"), crit.get("above"), crit.get("below")),
            opts.get("aggregate") or "each",
            Status(opts.get("empty_is") or "unknown"),
            opts.get("label") or None,
        )
        params = {"query": opts["query"]}
        if opts.get("time"):
            params["time"] = opts["time"].strip()
        # Let the server stop evaluating when we stop waiting.
        params["timeout"] = f"{check.timeout:g}"
        self._params = params
        self._redact = secrets_of(check, self._headers)
        self._client, self._setup_error = http_client(opts, resources)
        self._request: httpx.Request | None = None

    async def probe(self) -> Outcome:
        """One query; every failure becomes an Outcome, cancellation propagates."""
        if self._client is None:
            assert self._setup_error is not None
            return self._setup_error
        try:
            if self._request is None:  # built once: the same request is sent on every run
                endpoint = self._url.rstrip("/") + "/api/v1/query"
                self._request = self._client.build_request(
                    "GET", endpoint, params=self._params, headers=self._headers
                )
            fetched = await fetch(self._client, self._request, self._max_body)
            outcome = await self._judge(fetched)
        except Exception as exc:
            outcome = describe_error(exc, self._host, DEFAULT_MAX_REDIRECTS)
        return redacted(outcome, self._redact)

    async def _judge(self, fetched: Fetched) -> Outcome:
        metrics = (Metric("latency_ms", round(fetched.elapsed * 1000.0, 1), "ms", min=0.0),)
        snippet = clean(fetched.body[: DETAIL_CHARS * 2], one_line=False, limit=DETAIL_CHARS)
        if fetched.over:
            return Outcome(Status.CRIT, Reason.BODY_LIMIT, over_limit(self._max_body), metrics)
        try:
            if len(fetched.body) > PARSE_INLINE:  # a big answer is parsed off the event loop
                answer = await asyncio.to_thread(parse_answer, fetched.body)
            else:
                answer = parse_answer(fetched.body)
        except QueryFailed as exc:
            outcome = failed(exc, fetched.code)
            return Outcome(outcome.status, outcome.reason, outcome.message, metrics, outcome.retryable, snippet)
        except NotTheApi as exc:
            if not fetched.ok:
                return Outcome(Status.CRIT, Reason.HTTP_STATUS, fetched.shown, metrics, fetched.code >= 500, snippet)
            return Outcome(Status.CRIT, Reason.ASSERTION, str(exc), metrics, False, snippet)
        if not fetched.ok:  # a success document under an error status: trust the status
            return Outcome(Status.CRIT, Reason.HTTP_STATUS, fetched.shown, metrics, fetched.code >= 500, snippet)
        if len(answer.series) > DETAIL_LINES * 10:
            return await asyncio.to_thread(self._query.judge, answer, metrics)
        return self._query.judge(answer, metrics)


def make(check: CheckConfig, resources: Resources) -> Probe:
    """Build the probe for one `[[check]]` of kind "prometheus"."""
    return PrometheusProbe(check, resources)
