"""The `http` check kind: one HTTP(S) request, judged by status, body, JSON and latency.

All http checks with the same TLS settings share one `httpx.AsyncClient` over the
aiohttp transport (kept in `Resources.cache`), so connections are pooled and kept
alive across checks. The client has no timeout: the engine enforces the check's
single deadline by cancelling the probe, and closing the streamed response on the
way out releases (or drops) the connection.

Body reading is capped: at most `max_body` bytes are ever read, so a 10 GB or
never-ending body costs neither memory nor time.
"""

from __future__ import annotations

import asyncio
import errno
import json
import re
import socket
import ssl
import time
from functools import lru_cache
from http import HTTPStatus
from http.cookiejar import CookieJar, DefaultCookiePolicy
from typing import TYPE_CHECKING, Any

import aiohttp
import httpx
from httpx_aiohttp import AiohttpTransport

from checks.base import Field, Probe, Resources
from dash.model import Metric, Outcome, Reason, Status
from dash.text import Redactor, clean, is_secret_header

if TYPE_CHECKING:
    from dash.config import CheckConfig

KIND = "http"

METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")
DEFAULT_MAX_BODY = 1024 * 1024
DEFAULT_MAX_REDIRECTS = 5
# Without body assertions we read a body only when it declares at most this many bytes:
# enough for the detail screen, and a fully read response lets the connection be reused.
DETAIL_CHARS = 2000
USER_AGENT = "healthdash"
# One client serves every http check with the same TLS settings, so allow plenty of sockets.
_LIMITS = httpx.Limits(max_connections=1000, max_keepalive_connections=1000, keepalive_expiry=5.0)


# --- validation (called by dash.config on the converted values) -----------------


def check_url(value: str) -> str | None:
    try:
        url = httpx.URL(value)
    except Exception:
        return "must be an http:// or https:// URL"
    if url.scheme not in ("http", "https") or not url.host:
        return "must be an http:// or https:// URL with a host"
    return None


def _check_regex(value: str) -> str | None:
    try:
        re.compile(value)
    except re.error as exc:
        return f"must be a valid regular expression ({exc})"
    return None


def _check_statuses(value: list[int]) -> str | None:
    if not value or any(not 100 <= code <= 599 for code in value):
        return "must be a non-empty list of HTTP status codes (100-599)"
    return None


def _check_json(value: dict[str, Any]) -> str | None:
    if value and value.get("equals") is not None and not value.get("path"):
        return "json.equals needs json.path (e.g. path = \"status\")"
    return None


def _check_non_negative(value: int) -> str | None:
    return None if value >= 0 else "must be 0 or more"


def check_positive(value: float) -> str | None:
    return None if value > 0 else "must be more than 0"


FIELDS: dict[str, Field] = {
    "url": Field("str", required=True, validate=check_url, help="http:// or https:// URL to request"),
    "method": Field("str", default="GET", choices=METHODS, help="HTTP method"),
    "headers": Field(
        "str_map", help="request headers; Authorization and token-like values are never shown"
    ),
    "body": Field("str", help="request body"),
    "expect": Field(
        "table",
        help="what a healthy response looks like",
        fields={
            "status": Field(
                "int_list", validate=_check_statuses, help="status codes that pass (default: 200-399)"
            ),
            "body_contains": Field("str", help="text the body must contain"),
            "body_regex": Field("str", validate=_check_regex, help="regular expression the body must match"),
            "json": Field(
                "table",
                validate=_check_json,
                help="a value in the JSON body",
                fields={
                    "path": Field("str", help='dotted path, e.g. "status" or "data.items.0.state"'),
                    "equals": Field("any", help="the value expected at path (default: just present)"),
                },
            ),
        },
    ),
    "warn": Field(
        "table",
        fields={"latency": Field("duration", validate=check_positive, help="warn when slower")},
    ),
    "crit": Field(
        "table",
        fields={"latency": Field("duration", validate=check_positive, help="crit when slower")},
    ),
    "follow_redirects": Field("bool", default=True, help="follow 3xx redirects"),
    "max_redirects": Field(
        "int", default=DEFAULT_MAX_REDIRECTS, validate=_check_non_negative, help="redirects to follow"
    ),
    "insecure": Field("bool", default=False, help="skip TLS certificate verification"),
    "ca_file": Field("str", help="PEM file of CA certificates to trust instead of the system ones"),
    "max_body": Field(
        "size", default=DEFAULT_MAX_BODY, validate=check_positive, help="most body bytes ever read"
    ),
}


# --- the shared client -----------------------------------------------------------


def shared_client(
    resources: Resources, insecure: bool, ca_file: str | None, max_redirects: int
) -> httpx.AsyncClient:
    """The client for these TLS/redirect settings, created once per Resources."""
    key = ("http-client", insecure, ca_file, max_redirects)
    client = resources.cache.get(key)
    if client is not None:
        return client
    if insecure:
        verify: ssl.SSLContext | bool = False
    elif ca_file:
        verify = ssl.create_default_context(cafile=ca_file)  # raises when unreadable
    else:
        verify = True
    ctx = httpx.create_ssl_context(verify=verify)

    def session() -> aiohttp.ClientSession:
        # Health probes are stateless: no cookie from one check leaks into another.
        connector = aiohttp.TCPConnector(
            ssl=ctx, limit=_LIMITS.max_connections or 0, keepalive_timeout=_LIMITS.keepalive_expiry
        )
        return aiohttp.ClientSession(connector=connector, cookie_jar=aiohttp.DummyCookieJar())

    transport = AiohttpTransport(verify=ctx, limits=_LIMITS, client=session)
    client = httpx.AsyncClient(
        transport=transport,
        timeout=None,  # the engine owns the deadline
        max_redirects=max_redirects,
        trust_env=False,  # no surprise proxies from the environment
        cookies=httpx.Cookies(CookieJar(policy=DefaultCookiePolicy(allowed_domains=[]))),
        headers={"User-Agent": USER_AGENT},
    )
    resources.cache[key] = client
    resources.closers.append(client.aclose)
    return client


# --- formatting helpers ----------------------------------------------------------


@lru_cache(maxsize=256)
def status_text(code: int, phrase: str) -> str:
    """"503 Service Unavailable", with the server's phrase cleaned (it is outside text)."""
    if not phrase:
        try:
            phrase = HTTPStatus(code).phrase
        except ValueError:
            phrase = ""
    phrase = clean(phrase, limit=60)
    return f"{code} {phrase}" if phrase else str(code)


def _ms(seconds: float) -> str:
    ms = seconds * 1000.0
    return f"{ms:.1f} ms" if ms < 10 else f"{ms:.0f} ms"


def _show(value: Any) -> str:
    """A JSON-ish value for a one-line message: strings quoted, the rest as JSON."""
    if isinstance(value, str):
        return clean(repr(value), limit=80)
    try:
        return clean(json.dumps(value, default=str), limit=80)
    except (TypeError, ValueError):
        return clean(repr(value), limit=80)


def _size(n: int) -> str:
    for unit, scale in (("GiB", 1024**3), ("MiB", 1024**2), ("KiB", 1024)):
        if n >= scale:
            return f"{n / scale:g} {unit}"
    return f"{n} B"


def _same(a: Any, b: Any) -> bool:
    """JSON equality that keeps true apart from 1."""
    if isinstance(a, bool) or isinstance(b, bool):
        return type(a) is type(b) and a == b
    return a == b


_MISSING = object()


def _walk(document: Any, path: tuple[str, ...]) -> Any:
    """The value at a dotted path (list indexes as numbers), or _MISSING."""
    node = document
    for part in path:
        if isinstance(node, dict):
            node = node.get(part, _MISSING)
        elif isinstance(node, list):
            try:
                node = node[int(part)]
            except (ValueError, IndexError):
                return _MISSING
        else:
            return _MISSING
        if node is _MISSING:
            return _MISSING
    return node


def content_length(response: httpx.Response) -> int | None:
    value = response.headers.get("content-length")
    if value is None:
        return None
    try:
        return int(value)
    except ValueError:
        return None


async def read_capped(response: httpx.Response, cap: int) -> tuple[bytes, bool]:
    """Read at most about `cap` bytes; True when the body has more than `cap`."""
    chunks: list[bytes] = []
    total = 0
    async for chunk in response.aiter_bytes():
        chunks.append(chunk)
        total += len(chunk)
        if total > cap:
            return b"".join(chunks)[:cap], True  # stop here: the rest is never read
    return b"".join(chunks), False


# --- turning exceptions into reasons ----------------------------------------------

_TIMEOUTS: tuple[type[BaseException], ...] = (TimeoutError, asyncio.TimeoutError)
_DNS_ERRORS: tuple[type[BaseException], ...] = (socket.gaierror,) + (
    (aiohttp.ClientConnectorDNSError,) if hasattr(aiohttp, "ClientConnectorDNSError") else ()
)
_UNTRUSTED_CODES = {2, 18, 19, 20, 21, 27}


def _chain(exc: BaseException) -> list[BaseException]:
    """`exc` and everything it wraps (httpx -> aiohttp -> ssl/OS errors), outermost first."""
    seen: list[BaseException] = []
    todo: list[Any] = [exc]
    while todo and len(seen) < 16:
        e = todo.pop(0)
        if not isinstance(e, BaseException) or any(e is s for s in seen):
            continue
        seen.append(e)
        # aiohttp keeps the ssl error on certificate_error and the OSError on os_error.
        todo += [getattr(e, "certificate_error", None), getattr(e, "os_error", None)]
        todo += [e.__cause__, e.__context__]
    return seen


def _tls_message(error: ssl.SSLCertVerificationError, host: str) -> str:
    code = error.verify_code
    text = (error.verify_message or "").lower()
    if code == 10 or "expired" in text:
        return "TLS: certificate expired"
    if code == 9 or "not yet valid" in text:
        return "TLS: certificate not yet valid"
    if code in (62, 64) or "mismatch" in text:
        return f"TLS: hostname mismatch (certificate is not valid for {clean(host, limit=100)})"
    if code in _UNTRUSTED_CODES or "self-signed" in text or "issuer" in text:
        return "TLS: certificate not trusted (self-signed or unknown CA)"
    return f"TLS: certificate verification failed ({clean(error.verify_message or error, limit=120)})"


def redacted(outcome: Outcome, redact: Redactor) -> Outcome:
    """`outcome` with every secret masked in its message and detail."""
    if not redact.secrets:
        return outcome
    return Outcome(
        outcome.status, outcome.reason, redact(outcome.message), outcome.metrics, outcome.retryable,
        redact(outcome.detail),
    )


def describe_error(exc: BaseException, host: str, max_redirects: int) -> Outcome:
    """The precise reason and message for a request that raised `exc`."""

    def crit(reason: Reason, message: str, retryable: bool = False) -> Outcome:
        return Outcome(Status.CRIT, reason, message, retryable=retryable)

    if isinstance(exc, httpx.TooManyRedirects):
        at = clean(exc.request.url.path, limit=100)
        return crit(Reason.HTTP_STATUS, f"too many redirects (more than {max_redirects}), last to {at}")
    chain = _chain(exc)

    def find(*types: type[BaseException]) -> Any:
        return next((e for e in chain if isinstance(e, types)), None)

    verify = next(
        (e for e in chain if isinstance(e, ssl.SSLCertVerificationError) and getattr(e, "verify_code", None)),
        None,
    )
    if verify is not None:
        return crit(Reason.TLS, _tls_message(verify, host))
    if (dns := find(*_DNS_ERRORS)) is not None:
        gai = find(socket.gaierror)
        temporary = gai is not None and gai.errno == socket.EAI_AGAIN
        detail = clean(gai.strerror if gai is not None and gai.strerror else dns, limit=120)
        return crit(Reason.DNS, f"DNS lookup failed for {clean(host, limit=100)}: {detail}", temporary)
    ssl_errors = [e for e in chain if isinstance(e, ssl.SSLError)]
    if ssl_errors:
        inner = ssl_errors[-1]  # the ssl module's own error, not aiohttp's wrapper
        why = getattr(inner, "reason", None) or inner.strerror or inner
        return crit(Reason.TLS, f"TLS handshake failed: {clean(why, limit=120)}")
    if find(ConnectionRefusedError) is not None:
        return crit(Reason.CONNECT, "connection refused", True)
    if find(ConnectionResetError, BrokenPipeError, ConnectionAbortedError) is not None:
        return crit(Reason.CONNECT, "connection reset by peer", True)
    if find(aiohttp.ServerDisconnectedError) is not None:
        return crit(Reason.CONNECT, "server closed the connection without a response", True)
    if (payload := find(aiohttp.ClientPayloadError)) is not None:
        return crit(Reason.CONNECT, f"response cut short: {clean(payload, limit=120)}", True)
    # httpx_aiohttp maps any aiohttp connection error to ConnectTimeout, so trust only real timeouts.
    if find(*_TIMEOUTS) is not None or (
        isinstance(exc, httpx.TimeoutException) and find(aiohttp.ClientError) is None
    ):
        return crit(Reason.TIMEOUT, "timed out", True)
    if (bad := find(aiohttp.ClientResponseError, httpx.DecodingError, httpx.RemoteProtocolError)) is not None:
        return crit(Reason.HTTP_STATUS, f"invalid HTTP response: {clean(bad, limit=120)}")
    if find(UnicodeError) is not None:  # httpx_aiohttp re-encodes the status line as strict UTF-8
        return crit(Reason.HTTP_STATUS, "invalid HTTP response: the status line is not valid UTF-8")
    if (os_error := find(OSError)) is not None:
        why = os_error.strerror or errno.errorcode.get(os_error.errno or 0) or os_error
        return crit(Reason.CONNECT, f"cannot connect: {clean(why, limit=120)}", True)
    if isinstance(exc, (httpx.TransportError, aiohttp.ClientError)):
        return crit(Reason.CONNECT, f"request failed: {clean(exc, limit=120)}", True)
    return crit(Reason.INTERNAL, f"{type(exc).__name__}: {clean(exc, limit=120)}")


# --- the probe ----------------------------------------------------------------------


class HttpProbe(Probe):
    """Sends the configured request and judges the response."""

    def __init__(self, check: CheckConfig, resources: Resources) -> None:
        opts = check.options
        expect = opts.get("expect") or {}
        json_opts = expect.get("json") or {}
        self._url: str = opts["url"]
        self._host = httpx.URL(self._url).host
        self._method: str = (opts.get("method") or "GET").upper()
        headers: dict[str, str] = dict(opts.get("headers") or {})
        self._headers = headers
        body = opts.get("body")
        self._body: bytes | None = body.encode() if body is not None else None
        self._follow = bool(opts.get("follow_redirects", True))
        self._max_redirects = int(opts.get("max_redirects") or 0) if self._follow else DEFAULT_MAX_REDIRECTS
        self._max_body = int(opts.get("max_body") or DEFAULT_MAX_BODY)

        statuses = expect.get("status")
        self._statuses: frozenset[int] | None = frozenset(statuses) if statuses else None
        self._status_list = ",".join(str(s) for s in statuses) if statuses else ""
        self._contains: str | None = expect.get("body_contains")
        regex = expect.get("body_regex")
        self._regex = re.compile(regex) if regex else None
        self._json_path: tuple[str, ...] | None = (
            tuple(json_opts["path"].split(".")) if json_opts.get("path") else None
        )
        self._json_label = clean(json_opts.get("path") or "", limit=80)
        self._json_equals = json_opts.get("equals")

        warn = (opts.get("warn") or {}).get("latency")
        crit = (opts.get("crit") or {}).get("latency")
        self._warn: float | None = warn
        self._crit: float | None = crit
        self._warn_ms = warn * 1000.0 if warn is not None else None
        self._crit_ms = crit * 1000.0 if crit is not None else None

        # Secrets: ${VAR} values, plus values of Authorization-like headers, masked in all text.
        secret_values = set(check.secrets)
        secret_values.update(v for k, v in headers.items() if is_secret_header(k))
        self._redact = Redactor(secret_values)
        self._request: httpx.Request | None = None
        self._metrics: dict[str, Metric] = {}
        self._last_raw: bytes | None = None
        self._last_detail = ""

        self._setup_error: Outcome | None = None
        try:
            self._client: httpx.AsyncClient | None = shared_client(
                resources,
                bool(opts.get("insecure")),
                None if opts.get("insecure") else opts.get("ca_file"),
                self._max_redirects,
            )
        except (OSError, ssl.SSLError) as exc:  # unreadable or invalid ca_file
            self._client = None
            why = clean(getattr(exc, "strerror", None) or exc, limit=120)
            self._setup_error = Outcome(
                Status.CRIT, Reason.TLS, f"cannot load ca_file {clean(opts.get('ca_file'), limit=120)}: {why}"
            )

    def _same_metric(self, name: str, value: float, unit: str = "", **kw: float) -> Metric:
        # A health endpoint answers the same status and size run after run: reuse the
        # object (at 1000 checks a second, fewer long-lived objects for the GC to scan).
        last = self._metrics.get(name)
        if last is None or last.value != value:
            last = self._metrics[name] = Metric(name, value, unit, **kw)
        return last

    async def probe(self) -> Outcome:
        """One request; every failure becomes an Outcome, cancellation propagates."""
        if self._client is None:
            assert self._setup_error is not None
            return self._setup_error
        client = self._client
        started = time.perf_counter()
        try:
            request = self._request
            if request is None:  # built once: the same request is sent on every run
                request = self._request = client.build_request(
                    self._method, self._url, headers=self._headers, content=self._body
                )
            response = await client.send(request, stream=True, follow_redirects=self._follow)
            try:
                outcome = await self._judge(response, started)
            finally:
                await response.aclose()  # also on cancellation: drops an unfinished body
        except Exception as exc:
            outcome = describe_error(exc, self._host or "", self._max_redirects)
        return redacted(outcome, self._redact)

    def _detail(self, body: bytes) -> str:
        raw = body[: DETAIL_CHARS * 2]
        if raw != self._last_raw:  # health endpoints mostly answer the same body every time
            self._last_raw = raw
            self._last_detail = clean(raw, one_line=False, limit=DETAIL_CHARS)
        return self._last_detail

    async def _judge(self, response: httpx.Response, started: float) -> Outcome:
        code = response.status_code
        shown = status_text(code, response.reason_phrase)
        declared = content_length(response)
        body = b""
        over = False
        if self._method != "HEAD":
            # The body is part of the answer: read it up to max_body. A bigger one (a 10 GB
            # stream, a runaway log dump) is a failure, and a declared length over the cap
            # fails without reading at all; a trickling body runs into the check's deadline.
            if declared is not None and declared > self._max_body:
                over = True
            else:
                body, over = await read_capped(response, self._max_body)
        elapsed = time.perf_counter() - started
        latency_ms = elapsed * 1000.0
        metrics = (
            Metric("latency_ms", round(latency_ms, 1), "ms", self._warn_ms, self._crit_ms, 0.0),
            self._same_metric("status_code", float(code)),
            self._same_metric("bytes", float(len(body)), "B", min=0.0),
        )
        detail = self._detail(body) if body else ""

        def crit(reason: Reason, message: str, retryable: bool = False) -> Outcome:
            return Outcome(Status.CRIT, reason, message, metrics, retryable, detail)

        if self._statuses is not None:
            if code not in self._statuses:
                return crit(
                    Reason.HTTP_STATUS,
                    f"expected status {self._status_list}, got {shown}",
                    code >= 500,
                )
        elif not 200 <= code < 400:
            return crit(Reason.HTTP_STATUS, shown, code >= 500)

        if over:
            return crit(
                Reason.BODY_LIMIT,
                f"{shown}: body is larger than max_body {_size(self._max_body)}; not read further",
            )
        if self._contains is not None or self._regex is not None:
            text = body.decode(response.encoding or "utf-8", "replace")
            if self._contains is not None and self._contains not in text:
                return crit(Reason.ASSERTION, f"body does not contain {_show(self._contains)}")
            if self._regex is not None and self._regex.search(text) is None:
                return crit(Reason.ASSERTION, f"body does not match /{clean(self._regex.pattern, limit=80)}/")
        if self._json_path is not None:
            try:
                document = json.loads(body)
            except (ValueError, RecursionError):
                return crit(Reason.ASSERTION, "response is not valid JSON")
            value = _walk(document, self._json_path)
            if value is _MISSING:
                return crit(Reason.ASSERTION, f"json path {self._json_label} not found")
            if self._json_equals is not None and not _same(value, self._json_equals):
                return crit(
                    Reason.ASSERTION,
                    f"json path {self._json_label} = {_show(value)}, expected {_show(self._json_equals)}",
                )

        message = f"{shown} in {_ms(elapsed)}"
        if self._crit is not None and elapsed > self._crit:
            return crit(Reason.THRESHOLD, f"{message} (over crit {_ms(self._crit)})")
        if self._warn is not None and elapsed > self._warn:
            return Outcome(
                Status.WARN, Reason.THRESHOLD, f"{message} (over warn {_ms(self._warn)})", metrics, False, detail
            )
        return Outcome(Status.OK, Reason.OK, message, metrics, False, detail)


def make(check: CheckConfig, resources: Resources) -> Probe:
    """Build the probe for one `[[check]]` of kind "http"."""
    return HttpProbe(check, resources)
