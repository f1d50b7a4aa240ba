"""Notifications out: pages and resolutions sent to the `[[notify]]` targets.

    notifier = Notifier(config)
    engine.subscribe_notifications(notifier.submit)   # never blocks the engine
    await notifier.start()
    ...
    await notifier.stop()                             # waits up to 2 s for the queue

Each target has its own bounded queue and one worker, so a slow or dead endpoint
never delays another, and a page and its resolution reach a target in order. When a
queue is full the oldest notification is dropped (and counted): during a storm the
latest state matters most.

Which targets get what: a page goes to every target whose `min_priority` admits it
(the alert's priority number <= min_priority); its "resolved" goes to the targets
that got the page (its priority may have changed since), or, when the page is not
known here, to every target that admits the priority.

Each delivery attempt has the target's `timeout`; transient failures (connection
errors, timeouts, 408, 425, 429, 5xx) are retried up to `retries` times with
exponential backoff and full jitter (`dash.core.retry.RetryPolicy`). Failures are
logged to "healthdash.notify" with the URL shortened to its origin and every secret
masked; nothing here ever raises into the caller.

Kinds: "webhook" POSTs `payload()`; "alertmanager" pushes to Alertmanager's API v2
(labels and timing in `dash.alertmanager`): a page fires an Alertmanager alert, its
resolution ends it, and every open paged alert is re-sent every minute (Alertmanager
drops firing alerts that are not re-sent; failed re-sends are logged and tried again at
the next one). After a restart, `resume()` takes the open paged alerts back.

A notify kind is one small class with a `send(notification)` coroutine that makes
one attempt (raising `DeliveryError` or an httpx error on failure), registered in
`SENDERS` under the `NotifyConfig.kind` it serves. Its factory gets the target and a
`SenderContext`. A kind that must repeat itself also has `refresh_every` (seconds)
and a `refresh()` coroutine, which the target's worker calls between notifications
(so a re-send never overtakes a resolution), and may keep what it sent in
`context.memory`, which survives `reload()`.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import random
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

import aiohttp
import httpx
from httpx_aiohttp import AiohttpTransport

from checks.http import read_capped, status_text
from dash import alertmanager as am
from dash.clock import Clock, SystemClock
from dash.config import Config, NotifyConfig, format_duration
from dash.core.alerts import Alert, Notification
from dash.core.retry import RetryPolicy
from dash.text import Redactor, clean, is_secret_header

log = logging.getLogger("healthdash.notify")

SOURCE = "healthdash"
USER_AGENT = "healthdash"
QUEUE_SIZE = 100  # per target
STOP_GRACE = 2.0  # seconds stop() waits for queued notifications
# Slower than a check's retries: a webhook that is down for a moment should get time to come back.
RETRY = RetryPolicy(base=0.5, cap=10.0)
ERROR_BODY_CHARS = 200  # of a failed response's body, in the log
_RETRYABLE_STATUS = frozenset({408, 425, 429})


class DeliveryError(Exception):
    """One failed delivery attempt: a one-line reason (outside text already cleaned)
    and whether trying again may help."""

    def __init__(self, message: str, *, retryable: bool) -> None:
        super().__init__(message)
        self.message = message
        self.retryable = retryable


class Sender(Protocol):
    """One notify kind: delivers a notification to one target, one attempt per call."""

    async def send(self, notification: Notification) -> None:
        """Deliver once; raise DeliveryError (or an httpx error) on failure."""
        ...


@dataclass(frozen=True, slots=True)
class SenderContext:
    """What a sender gets besides its target: the shared HTTP client, the whole config,
    the Notifier's clock, and `memory`, a dict of its own that outlives reloads (kept
    per kind and url)."""

    client: httpx.AsyncClient
    config: Config
    clock: Clock
    memory: dict[str, Any]


SenderFactory = Callable[[NotifyConfig, SenderContext], Sender]


def _iso(epoch: float | None) -> str | None:
    """RFC 3339 UTC time with milliseconds, or None."""
    if epoch is None:
        return None
    when = dt.datetime.fromtimestamp(epoch, dt.timezone.utc)
    return when.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def payload(notification: Notification, config: Config) -> dict[str, Any]:
    """The JSON document a webhook receives for `notification`.

    Alert texts are already neutralised; secrets of any check are masked once more
    here, because a webhook is an output path like any other.
    """
    alert, redact = notification.alert, config.redactor
    return {
        "kind": notification.kind,
        "fingerprint": alert.fingerprint,
        "subject": alert.subject,
        "name": alert.name,
        "priority": alert.priority_label,
        "priority_reason": redact(alert.priority_reason),
        "state": alert.state.value,
        "severity": alert.severity,
        "message": redact(alert.message),
        "started_at": _iso(alert.started_at),
        "resolved_at": _iso(alert.resolved_at),
        "count": alert.count,
        "root_cause": alert.root_cause,
        "source": SOURCE,
        "dashboard": config.title,
    }


async def post_json(client: httpx.AsyncClient, url: str, body: Any, headers: Mapping[str, str]) -> None:
    """POST `body` as JSON once; DeliveryError for a non-2xx answer (retryable for 408/425/429/5xx)."""
    async with client.stream("POST", url, json=body, headers=dict(headers)) as response:
        code = response.status_code
        if 200 <= code < 300:
            return
        # A little of the body says why (e.g. "invalid token"); never more than that.
        text, _ = await read_capped(response, ERROR_BODY_CHARS)
    why = status_text(code, response.reason_phrase)
    detail = clean(text, limit=ERROR_BODY_CHARS)
    raise DeliveryError(
        f"{why}: {detail}" if detail else why,
        retryable=code >= 500 or code in _RETRYABLE_STATUS,
    )


class WebhookSender:
    """`kind = "webhook"`: POST the `payload()` JSON; any 2xx answer is delivered."""

    def __init__(self, target: NotifyConfig, context: SenderContext) -> None:
        self._target = target
        self._context = context

    async def send(self, notification: Notification) -> None:
        """POST once; DeliveryError for a non-2xx answer (retryable for 408/425/429/5xx)."""
        body = payload(notification, self._context.config)
        await post_json(self._context.client, self._target.url, body, self._target.headers)


@dataclass(eq=False)
class _Pushed:
    """One alert as pushed to Alertmanager: the document without endsAt, and when it
    resolved (None while it fires)."""

    document: dict[str, Any]
    resolved_at: float | None = None

    def at(self, now: float) -> dict[str, Any]:
        """The document to send at wall time `now`."""
        ends = self.resolved_at if self.resolved_at is not None else now + am.EXPIRES_AFTER
        return {**self.document, "endsAt": am.iso(ends)}


class AlertmanagerSender:
    """`kind = "alertmanager"`: pages fire and resolutions end alerts in Alertmanager
    (`POST {url}/api/v2/alerts`); `refresh()` re-sends every open one, and resolutions
    not delivered yet, every `refresh_every` seconds. See dash.alertmanager."""

    refresh_every = am.RESEND_EVERY

    def __init__(self, target: NotifyConfig, context: SenderContext) -> None:
        self._target = target
        self._context = context
        self._url = am.alerts_url(target.url)
        self._pushed: dict[str, _Pushed] = context.memory.setdefault("pushed", {})  # fingerprint -> what was pushed

    @staticmethod
    def resume(memory: dict[str, Any], alert: Alert, config: Config) -> None:
        """Take back an alert paged before a restart, so that it is re-sent and resolved."""
        memory.setdefault("pushed", {}).setdefault(alert.fingerprint, _Pushed(am.api_alert(alert, config)))

    async def send(self, notification: Notification) -> None:
        """Push a page (the alert fires) or a resolution (the same labels, endsAt set)."""
        alert = notification.alert
        fp = alert.fingerprint
        if notification.kind == "page":
            entry = self._pushed[fp] = _Pushed(am.api_alert(alert, self._context.config))
        elif notification.kind == "resolved":
            # the labels that were pushed: Alertmanager knows the alert by them
            entry = self._pushed.get(fp) or _Pushed(am.api_alert(alert, self._context.config))
            entry.resolved_at = alert.resolved_at if alert.resolved_at is not None else notification.at
            self._pushed[fp] = entry  # until delivered, so a failed resolution is sent again
        else:
            raise DeliveryError(f"unknown notification kind {clean(notification.kind)!r}", retryable=False)
        await post_json(self._context.client, self._url, [entry.at(self._context.clock.wall())], self._target.headers)
        if entry.resolved_at is not None and self._pushed.get(fp) is entry:
            del self._pushed[fp]

    async def refresh(self) -> int:
        """Re-send every open alert (and undelivered resolution) in one request; how many."""
        entries = list(self._pushed.items())
        if not entries:
            return 0
        now = self._context.clock.wall()
        await post_json(self._context.client, self._url, [e.at(now) for _, e in entries], self._target.headers)
        for fp, entry in entries:
            if entry.resolved_at is not None and self._pushed.get(fp) is entry:
                del self._pushed[fp]
        return len(entries)


# NotifyConfig.kind -> its sender; a new kind is a new class here plus its name in dash.config.NOTIFY_KINDS.
SENDERS: dict[str, SenderFactory] = {"webhook": WebhookSender, "alertmanager": AlertmanagerSender}


def shown_url(url: str) -> str:
    """A URL safe to log: its origin only ("https://hooks.example.com/…"), since paths
    and query strings of webhooks often carry tokens."""
    try:
        u = httpx.URL(url)
        origin = f"{u.scheme}://{u.host}" + (f":{u.port}" if u.port else "")
    except Exception:
        return "(url hidden)"
    rest = u.raw_path not in (b"", b"/")
    return clean(origin + ("/…" if rest else ""), limit=200)


def _redactor(config: Config) -> Redactor:
    """Every secret a log line could contain: ${VAR} values, credential headers of
    every target (literal ones too), and every target's whole URL."""
    secrets = set(config.redactor.secrets)
    for target in config.notify:
        secrets |= target.secrets | {target.url}
        for name, value in target.headers.items():
            if is_secret_header(name):
                secrets.add(value)
                secrets.update(part for part in value.split() if len(part) >= 8)  # "Bearer <token>"
    return Redactor(secrets)


@dataclass(eq=False)
class _Target:
    """One `[[notify]]` entry at run time."""

    config: NotifyConfig
    label: str  # safe to log
    redact: Redactor
    queue: asyncio.Queue[Notification]
    memory: dict[str, Any]
    sender: Sender | None = None
    worker: asyncio.Task[None] | None = None
    inflight: bool = False
    dropped: int = 0


def _key(target: NotifyConfig) -> tuple[str, str]:
    """What identifies a target across reloads."""
    return (target.kind, target.url)


def _what(note: Notification) -> str:
    a = note.alert
    return f"{note.kind} for {a.subject} {a.name} ({a.priority_label})"


def _client() -> httpx.AsyncClient:
    """An httpx client over aiohttp (as the http check kind uses), verifying TLS with the system CAs."""
    ctx = httpx.create_ssl_context(verify=True)

    def session() -> aiohttp.ClientSession:
        return aiohttp.ClientSession(connector=aiohttp.TCPConnector(ssl=ctx), cookie_jar=aiohttp.DummyCookieJar())

    return httpx.AsyncClient(
        transport=AiohttpTransport(verify=ctx, client=session),
        timeout=None,  # each attempt's deadline is enforced with the clock
        follow_redirects=False,  # a webhook that redirects is misconfigured: say so
        trust_env=False,
        headers={"User-Agent": USER_AGENT},
    )


class Notifier:
    """Delivers the alert engine's notifications to every `[[notify]]` target.

    `submit()` is synchronous and only queues (call it on the event loop's thread,
    e.g. as an `Engine.subscribe_notifications` listener). `start()` opens the HTTP
    client and one worker per target; `stop()` gives queued notifications up to
    `stop_grace` seconds, then drops the rest and closes everything.
    `clock` enforces attempt timeouts and the stop grace; `sleep` waits between
    retries (default: `clock.sleep`); both are there so tests need not wait.
    """

    def __init__(
        self,
        config: Config,
        *,
        clock: Clock | None = None,
        sleep: Callable[[float], Awaitable[None]] | None = None,
        rng: random.Random | None = None,
        retry: RetryPolicy = RETRY,
        queue_size: int = QUEUE_SIZE,
        stop_grace: float = STOP_GRACE,
    ) -> None:
        self.clock: Clock = clock or SystemClock()
        self._sleep = sleep or self.clock.sleep
        self._rng = rng or random.Random()
        self._retry = retry
        self._grace = stop_grace
        self._queue_size = max(1, queue_size)
        self._client: httpx.AsyncClient | None = None
        self.sent = 0  # notifications delivered (one per target)
        self.failed = 0  # notifications given up on after every attempt
        self._memory: dict[tuple[str, str], dict[str, Any]] = {}  # per kind and url, kept over reloads
        self._configure(config)

    def _configure(self, config: Config) -> None:
        self.config = config
        old_paged = getattr(self, "_paged", {})
        self._targets: list[_Target] = []
        redact = _redactor(config)
        memory: dict[tuple[str, str], dict[str, Any]] = {}
        for i, target in enumerate(config.notify):
            where = f"notify[#{i + 1}]" + (f" (line {target.line})" if target.line else "")
            label = f"{where} {redact(shown_url(target.url))}"
            if _key(target) not in memory:
                memory[_key(target)] = self._memory.get(_key(target), {})
            queue: asyncio.Queue[Notification] = asyncio.Queue(maxsize=self._queue_size)
            self._targets.append(_Target(target, label, redact, queue, memory[_key(target)]))
        self._memory = memory  # what removed targets remembered goes with them
        # fingerprint -> the targets its page went to; targets that stay (same kind and url) keep their pages
        self._paged: dict[str, list[_Target]] = {}
        for fp, targets in old_paged.items():
            keys = {_key(t.config) for t in targets}
            kept = [t for t in self._targets if _key(t.config) in keys]
            if kept:
                self._paged[fp] = kept

    async def reload(self, config: Config) -> None:
        """Adopt a new config: what is queued gets the stop grace on the old targets,
        then the new targets take over (started again if they were running)."""
        running = self._client is not None
        await self.stop()
        self._configure(config)
        if running:
            await self.start()

    def resume(self, alerts: Iterable[Alert]) -> None:
        """After a restart: take back the open alerts that were paged before it (from
        the restored alert state), so their resolutions go out and the kinds that
        repeat themselves (alertmanager) keep them alive. Sends nothing by itself."""
        for alert in alerts:
            if not (alert.paged and alert.is_open):
                continue
            admitted = [t for t in self._targets if alert.priority <= t.config.min_priority]
            self._paged.setdefault(alert.fingerprint, admitted)
            for target in admitted:
                resume = getattr(SENDERS.get(target.config.kind), "resume", None)
                if resume is not None:
                    resume(target.memory, alert, self.config)

    @property
    def dropped(self) -> int:
        """Notifications dropped because a target's queue was full."""
        return sum(t.dropped for t in self._targets)

    @property
    def pending(self) -> int:
        """Notifications queued or being delivered, over all targets."""
        return sum(t.queue.qsize() + t.inflight for t in self._targets)

    def submit(self, notification: Notification) -> None:
        """Queue `notification` for every target that should get it; never blocks or raises."""
        try:
            for target in self._route(notification):
                self._enqueue(target, notification)
        except Exception:  # a bug here must never reach the engine's loop
            log.error("queueing a notification failed", exc_info=True)

    def _route(self, note: Notification) -> list[_Target]:
        fp, priority = note.alert.fingerprint, note.alert.priority
        admitted = [t for t in self._targets if priority <= t.config.min_priority]
        if note.kind == "page":
            self._paged[fp] = admitted
        elif note.kind == "resolved" and fp in self._paged:
            return self._paged.pop(fp)  # whoever got the page hears it is over, whatever its priority now
        return admitted

    def _enqueue(self, target: _Target, note: Notification) -> None:
        if target.queue.full():
            oldest = target.queue.get_nowait()
            target.queue.task_done()
            target.dropped += 1
            log.warning(
                target.redact(
                    f"queue for {target.label} is full: dropped the oldest notification"
                    f" ({_what(oldest)}); {target.dropped} dropped so far"
                )
            )
        target.queue.put_nowait(note)

    async def start(self) -> None:
        """Open the HTTP client and start one delivery worker per target."""
        if not self._targets or self._client is not None:
            return
        self._client = _client()
        for target in self._targets:
            factory = SENDERS.get(target.config.kind)
            if factory is None:  # dash.config only accepts known kinds; a mismatch is a bug
                log.error(f"{target.label}: no sender for notify kind {clean(target.config.kind)!r}; skipped")
                continue
            context = SenderContext(self._client, self.config, self.clock, target.memory)
            target.sender = factory(target.config, context)
            target.worker = asyncio.ensure_future(self._work(target))

    async def stop(self) -> None:
        """Give queued notifications up to `stop_grace` seconds, then stop and close."""
        if self._client is None:
            return
        workers = [t for t in self._targets if t.worker is not None]
        try:
            await self.clock.within(asyncio.gather(*(t.queue.join() for t in workers)), self._grace)
        except (TimeoutError, asyncio.TimeoutError):  # distinct classes on Python 3.10
            for t in workers:
                left = t.queue.qsize() + t.inflight
                if left:
                    log.warning(f"stopping: gave up on {left} undelivered notification(s) to {t.label}")
        for t in workers:
            assert t.worker is not None
            t.worker.cancel()
        await asyncio.gather(*(t.worker for t in workers if t.worker is not None), return_exceptions=True)
        for t in workers:
            t.worker, t.sender, t.inflight = None, None, False
        client, self._client = self._client, None
        await client.aclose()

    async def _work(self, target: _Target) -> None:
        every = float(getattr(target.sender, "refresh_every", 0.0) or 0.0)
        due = self.clock.now() + every
        while True:
            if every and self.clock.now() >= due:  # checked first, so a busy queue cannot starve it
                await self._refresh(target, every)
                due = self.clock.now() + every
            if every:
                try:
                    note = await self.clock.within(target.queue.get(), due - self.clock.now())
                except (TimeoutError, asyncio.TimeoutError):
                    continue
            else:
                note = await target.queue.get()
            target.inflight = True
            try:
                await self._deliver(target, note)
            except Exception:  # never let one notification stop the worker
                log.error(target.redact(f"delivering {_what(note)} to {target.label} failed unexpectedly"))
            finally:
                target.inflight = False
                target.queue.task_done()

    async def _attempt(self, target: _Target, work: Awaitable[object]) -> tuple[str, bool] | None:
        """Await one attempt within the target's timeout: None when it worked, else
        (why, whether retrying may help)."""
        timeout = target.config.timeout
        try:
            await self.clock.within(work, timeout)
        except DeliveryError as exc:
            return exc.message, exc.retryable
        except (TimeoutError, asyncio.TimeoutError):
            return f"no answer within {format_duration(timeout)}", True
        except (httpx.TransportError, aiohttp.ClientError, OSError) as exc:
            return f"{type(exc).__name__}: {clean(exc)}".rstrip(": "), True
        except Exception as exc:  # a bug in a sender: say what, without a traceback that may hold secrets
            return f"internal error: {type(exc).__name__}: {clean(exc)}", False
        return None

    async def _refresh(self, target: _Target, every: float) -> None:
        """One re-send of what the target repeats; a failure waits for the next one."""
        sender: Any = target.sender
        failure = await self._attempt(target, sender.refresh())
        if failure is not None:
            log.warning(
                target.redact(f"re-sending open alerts to {target.label} failed: {failure[0]}; next try in {format_duration(every)}")
            )
        else:
            log.debug(f"re-sent open alerts to {target.label}")

    async def _deliver(self, target: _Target, note: Notification) -> bool:
        """Try `note` on `target` up to 1 + retries times; True once delivered."""
        assert target.sender is not None
        attempts = target.config.retries + 1
        for attempt in range(1, attempts + 1):
            failure = await self._attempt(target, target.sender.send(note))
            if failure is None:
                self.sent += 1
                log.info(f"{_what(note)} sent to {target.label}" + (f" (attempt {attempt})" if attempt > 1 else ""))
                return True
            why, retryable = failure
            if not retryable or attempt == attempts:
                self.failed += 1
                tries = f" after {attempt} attempts" if attempt > 1 else ""
                log.error(target.redact(f"{_what(note)} to {target.label} failed{tries}: {why}; gave up"))
                return False
            delay = self._retry.delay(attempt, self._rng)
            log.warning(
                target.redact(
                    f"{_what(note)} to {target.label} failed (attempt {attempt} of {attempts}): {why};"
                    f" retrying in {format_duration(delay)}"
                )
            )
            await self._sleep(delay)
        return False
