"""The headless agent: an engine's board over HTTP for Prometheus, scripts and remote TUIs.

Endpoints (JSON unless said otherwise; errors are `{"error": "..."}` with a 4xx):

    GET    /metrics                   Prometheus exposition (text, or OpenMetrics when asked)
    GET    /api/state                 the snapshot the TUI renders (dash.agent.wire), plus "notes";
                                      ?results=0 leaves out each check's recent results (statuses stay)
    GET    /healthz                   200 "ok" while the engine ticks, else 503
    POST   /api/ack                   {"fingerprint", "comment"?, "by"?, "until"?}
    POST   /api/unack                 {"fingerprint"}
    POST   /api/silence               {"match"?, "tags"?, "until" | "duration", "comment"?, "by"?} -> {"id"}
    DELETE /api/silence/<id>
    POST   /api/note                  {"text", "check"?, "by"?} -> the note
    POST   /api/breaker/<name>/<command>   force_open, force_closed, metrics_only, reset

Security: loopback by default. Listening anywhere else needs a token, and then every
request must carry `Authorization: Bearer <token>`; writes need it always (without a
token configured they are refused). Unauthenticated reads on loopback must name a
loopback Host, so a web page cannot read the board through DNS rebinding.

Cost: the state document and the metrics are rendered at most once per board change
and 250 ms, in a worker thread, and shared by every reader asking meanwhile.
"""

from __future__ import annotations

import asyncio
import hmac
import ipaddress
import json
import logging
import math
import signal
import sys
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from aiohttp import web
from prometheus_client import CollectorRegistry, ProcessCollector
from prometheus_client.exposition import choose_encoder

from dash.agent.metrics import BoardCollector, LatencyHistograms, Scrape, current_scrape
from dash.agent.notes import MemoryNotes, NoteSink
from dash.agent.wire import snapshot_to_json
from dash.config import Config, parse_duration, parse_time
from dash.engine.scheduler import Engine, breaker_name
from dash.model import CheckResult
from dash.text import clean

log = logging.getLogger("healthdash.agent")

DEFAULT_LISTEN = "127.0.0.1:9108"
CACHE_SECONDS = 0.25  # a rendered document is reused this long while the board is unchanged
HEARTBEAT_SECONDS = 1.0
HEALTHY_WITHIN = 5.0  # /healthz fails when the engine loop has not beaten for this long
MAX_BODY = 16 * 1024  # request bodies are small JSON objects
MAX_TEXT = 500  # characters in any text field
MAX_TAGS = 20
NOTES_SHOWN = 100
SHUTDOWN_SECONDS = 1.0  # how long stop() waits for responses still being read
BREAKER_COMMANDS = ("force_open", "force_closed", "metrics_only", "reset")
_JSON = "application/json"

T = TypeVar("T")


class AgentError(Exception):
    """A problem the user can fix (an address, a missing token); one line, no traceback."""


# -- addresses -------------------------------------------------------------------------


def is_loopback(host: str) -> bool:
    """True for localhost and loopback addresses (127.0.0.0/8, ::1)."""
    host = host.strip("[]")
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False  # another name: it may resolve to anything


def parse_listen(text: str) -> tuple[str, int]:
    """"127.0.0.1:9108", "[::1]:9108", "localhost:9108", ":9108" (all interfaces) or "9108"
    (loopback) -> (host, port). Raises AgentError."""
    text = text.strip()
    if text.isdigit():
        host, port = "127.0.0.1", text
    elif text.startswith("["):
        inside, sep, rest = text[1:].partition("]")
        if not sep or not rest.startswith(":"):
            raise AgentError(f"--listen {clean(text, limit=80)}: expected [IPv6]:PORT, e.g. [::1]:9108")
        host, port = inside, rest[1:]
    else:
        host, sep, port = text.rpartition(":")
        if not sep or ":" in host:
            raise AgentError(
                f"--listen {clean(text, limit=80)}: expected HOST:PORT, e.g. 127.0.0.1:9108 "
                "(IPv6 addresses in brackets: [::1]:9108)"
            )
        host = host or "0.0.0.0"
    if not port.isdigit() or not 0 <= int(port) <= 65535:
        raise AgentError(f"--listen {clean(text, limit=80)}: the port must be a number from 0 to 65535")
    return host, int(port)


def _show(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def check_exposure(host: str, token: str | None) -> None:
    """Refuse a non-loopback address without a token (raises AgentError)."""
    if not token and not is_loopback(host):
        raise AgentError(
            f"refusing to listen on {clean(host, limit=80)} without a token: anyone who can reach it "
            "could read the board; set one (--token-env VAR) or listen on 127.0.0.1"
        )


# -- errors and input --------------------------------------------------------------------


class _Refused(Exception):
    """A request we answer with `status` and a one-line JSON error."""

    def __init__(self, status: int, message: str, headers: Mapping[str, str] | None = None) -> None:
        super().__init__(message)
        self.status, self.message, self.headers = status, message, dict(headers or {})


def _error(status: int, message: str, headers: Mapping[str, str] | None = None) -> web.Response:
    return web.json_response({"error": message}, status=status, headers=headers)


async def _body(request: web.Request) -> dict[str, Any]:
    """The request's JSON object ({} for an empty body)."""
    raw = await request.read()  # over client_max_size: HTTPRequestEntityTooLarge (413)
    if not raw.strip():
        return {}
    try:
        doc = json.loads(raw)
    except (ValueError, RecursionError):
        raise _Refused(400, "the body is not valid JSON") from None
    if not isinstance(doc, dict):
        raise _Refused(400, "the body must be a JSON object")
    return doc


class _Fields:
    """Typed, length-capped reading of a request object; every problem is a 400."""

    def __init__(self, doc: dict[str, Any], allowed: tuple[str, ...]) -> None:
        unknown = sorted(k for k in doc if k not in allowed)
        if unknown:
            raise _Refused(400, f"unknown key {clean(unknown[0], limit=40)!r}; expected one of: {', '.join(allowed)}")
        self.doc = doc

    def text(self, key: str, *, required: bool = False) -> str | None:
        """A string of at most MAX_TEXT characters, control characters neutralised."""
        v = self.doc.get(key)
        if v is None:
            if required:
                raise _Refused(400, f"{key!r} is required")
            return None
        if not isinstance(v, str):
            raise _Refused(400, f"{key!r} must be a string")
        if len(v) > MAX_TEXT:
            raise _Refused(400, f"{key!r} is longer than {MAX_TEXT} characters")
        v = clean(v, limit=None)
        if required and not v:
            raise _Refused(400, f"{key!r} must not be empty")
        return v

    def tags(self, key: str) -> tuple[str, ...]:
        v = self.doc.get(key)
        if v is None:
            return ()
        if not isinstance(v, list) or not all(isinstance(t, str) for t in v):
            raise _Refused(400, f"{key!r} must be a list of strings")
        if len(v) > MAX_TAGS or any(len(t) > 100 for t in v):
            raise _Refused(400, f"{key!r}: at most {MAX_TAGS} tags of at most 100 characters")
        return tuple(clean(t, limit=None) for t in v)

    def time(self, key: str) -> float | None:
        """Epoch seconds, given as a number or an ISO 8601 time with a zone."""
        v = self.doc.get(key)
        if v is None:
            return None
        if isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v):
            return float(v)
        if isinstance(v, str) and len(v) <= 64:
            try:
                return parse_time(v)
            except ValueError as exc:
                raise _Refused(400, f"{key!r}: {exc}") from None
        raise _Refused(400, f"{key!r} must be epoch seconds or an ISO 8601 time such as 2024-05-01T18:00:00Z")

    def duration(self, key: str) -> float | None:
        """Seconds, given as a number or a duration such as "90m"."""
        v = self.doc.get(key)
        if v is None:
            return None
        if isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) and v > 0:
            return float(v)
        if isinstance(v, str) and len(v) <= 64:
            try:
                seconds = parse_duration(v)
            except ValueError as exc:
                raise _Refused(400, f"{key!r}: {exc}") from None
            if seconds > 0:
                return seconds
        raise _Refused(400, f"{key!r} must be a positive duration such as \"2h\" or a number of seconds")


# -- shared rendering ----------------------------------------------------------------------


class _Memo(Generic[T]):
    """One rendered value per key, reused for `ttl` seconds; concurrent askers share one render.

    A reader that goes away while waiting does not cancel the render the others wait for.
    """

    def __init__(self, ttl: float = CACHE_SECONDS, now: Callable[[], float] = time.monotonic) -> None:
        self._ttl, self._now = ttl, now
        self._key: object = None
        self._value: T | None = None
        self._at = -math.inf
        self._task: asyncio.Future[T] | None = None
        self._task_key: object = None

    async def get(self, key: object, render: Callable[[], Awaitable[T]]) -> T:
        now = self._now()
        if self._value is not None and self._key == key and now - self._at < self._ttl:
            return self._value
        task = self._task
        if task is None or self._task_key != key:
            task = self._task = asyncio.ensure_future(render())
            self._task_key = key
            task.add_done_callback(lambda t, k=key, at=now: self._keep(t, k, at))
        return await asyncio.shield(task)

    def _keep(self, task: asyncio.Future[T], key: object, at: float) -> None:
        if self._task is task:
            self._task = None
        if not task.cancelled() and task.exception() is None:
            self._value, self._key, self._at = task.result(), key, at


# -- the agent ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Rendered:
    body: bytes
    content_type: str


class Agent:
    """The HTTP face of one engine: routes, auth, rendering. Use `serve()` to run one."""

    def __init__(self, engine: Engine, *, token: str | None, public: bool, notes: NoteSink | None = None) -> None:
        self.engine = engine
        self._token = token.encode("utf-8") if token else None
        self._public = public
        self.notes: NoteSink = notes if notes is not None else MemoryNotes()
        self.histograms = LatencyHistograms()
        self.registry = CollectorRegistry(auto_describe=True)
        self.registry.register(BoardCollector(self._scrape))
        ProcessCollector(registry=self.registry)
        self._generation = 0  # bumped on every result and every write: the board changed
        self._state = {True: _Memo[bytes](), False: _Memo[bytes]()}  # with and without results
        self._metrics = _Memo[_Rendered]()
        self._beat: float | None = None
        self._heart: asyncio.Task[None] | None = None
        self._closed = False
        engine.subscribe(self._on_result)

    # -- lifecycle

    def start(self) -> None:
        self._heart = asyncio.ensure_future(self._heartbeat())

    async def close(self) -> None:
        self._closed = True  # Engine has no unsubscribe: stop listening by hand
        if self._heart is not None:
            self._heart.cancel()
            await asyncio.gather(self._heart, return_exceptions=True)
            self._heart = None

    async def _heartbeat(self) -> None:
        clock = self.engine.clock
        while True:
            self._beat = clock.now()
            await clock.sleep(HEARTBEAT_SECONDS)

    def _on_result(self, result: CheckResult) -> None:
        if self._closed:
            return
        self._generation += 1
        self.histograms.observe(result)

    def changed(self) -> None:
        """The board changed outside a result (a write): rendered documents are stale."""
        self._generation += 1

    # -- the app

    def app(self) -> web.Application:
        app = web.Application(client_max_size=MAX_BODY, middlewares=[self._errors, self._guard])
        app.router.add_get("/metrics", self.metrics)
        app.router.add_get("/api/state", self.state)
        app.router.add_get("/healthz", self.healthz)
        app.router.add_post("/api/ack", self.ack)
        app.router.add_post("/api/unack", self.unack)
        app.router.add_post("/api/silence", self.silence)
        app.router.add_delete("/api/silence/{id}", self.unsilence)
        app.router.add_post("/api/note", self.note)
        app.router.add_post("/api/breaker/{name}/{command}", self.breaker)
        return app

    @web.middleware
    async def _errors(self, request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]) -> web.StreamResponse:
        """Every failure is a one-line JSON error; tracebacks go to the log only."""
        try:
            return await handler(request)
        except _Refused as exc:
            return _error(exc.status, exc.message, exc.headers)
        except web.HTTPException as exc:
            if exc.status < 400:
                raise
            headers = {k: v for k, v in exc.headers.items() if k.lower() in ("allow", "www-authenticate")}
            return _error(exc.status, (exc.reason or "error").lower(), headers)
        except (asyncio.CancelledError, ConnectionError):
            raise  # the client went away: nothing to answer
        except Exception:
            log.exception("agent: %s %s failed", request.method, clean(request.path, limit=200))
            return _error(500, "internal error (the traceback is in the agent's log)")

    @web.middleware
    async def _guard(self, request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]) -> web.StreamResponse:
        write = request.method not in ("GET", "HEAD")
        presented = _bearer(request)
        if self._token is None:
            if write:
                raise _Refused(403, "writes are disabled: start the agent with a token (--token-env VAR)")
        elif presented is None:
            if write or self._public:
                raise _Refused(401, "a bearer token is required", {"WWW-Authenticate": 'Bearer realm="healthdash"'})
        elif not hmac.compare_digest(presented, self._token):
            raise _Refused(
                401, "invalid token", {"WWW-Authenticate": 'Bearer realm="healthdash", error="invalid_token"'}
            )
        if presented is None and not self._public:
            host = request.headers.get("Host")
            if host is not None and not is_loopback(_host_name(host)):
                raise _Refused(403, "requests to a loopback agent must name a loopback host")
        return await handler(request)

    # -- reads

    def _snapshot_doc_parts(self) -> tuple[Any, dict[str, str], float, list[dict[str, Any]]]:
        engine = self.engine
        breaker_of = {c.name: breaker_name(c) for c in engine.config.checks}
        notes = [n.to_json() for n in self.notes.recent(NOTES_SHOWN)]
        return engine.snapshot(), breaker_of, engine.clock.now(), notes

    async def _render_state(self, results: bool = True) -> bytes:
        snap, breaker_of, mono, notes = self._snapshot_doc_parts()  # on the loop: the engine is not thread-safe

        def encode() -> bytes:
            doc = snapshot_to_json(snap, breaker_of=breaker_of, monotonic_now=mono, results=results)
            doc["notes"] = notes
            return json.dumps(doc, ensure_ascii=False, separators=(",", ":")).encode("utf-8")

        return await asyncio.to_thread(encode)

    async def state(self, request: web.Request) -> web.Response:
        results = request.query.get("results", "1") not in ("0", "false", "no")
        body = await self._state[results].get(self._generation, lambda: self._render_state(results))
        return web.Response(body=body, content_type=_JSON, charset="utf-8")

    def _scrape(self) -> Scrape:
        """What a scrape renders, taken on the event loop."""
        snap = self.engine.snapshot()
        return Scrape(
            snapshot=snap,
            latencies=self.histograms.frozen([c.name for c in snap.checks]),
            lag_p99=self.histograms.lag_p99(),
            buckets=self.histograms.buckets,
        )

    async def metrics(self, request: web.Request) -> web.Response:
        encoder, content_type = choose_encoder(request.headers.get("Accept", ""))

        async def render() -> _Rendered:
            scrape = self._scrape()

            def encode() -> bytes:
                current_scrape.set(scrape)  # this thread's context copy: the collector renders it
                return encoder(self.registry)

            return _Rendered(await asyncio.to_thread(encode), content_type)

        out = await self._metrics.get((self._generation, content_type), render)
        return web.Response(body=out.body, headers={"Content-Type": out.content_type})

    async def healthz(self, request: web.Request) -> web.Response:
        if not _engine_running(self.engine):
            return web.Response(status=503, text="engine not running\n")
        if self._beat is None or self.engine.clock.now() - self._beat > HEALTHY_WITHIN:
            return web.Response(status=503, text="engine loop stalled\n")
        return web.Response(text="ok\n")

    # -- writes

    async def ack(self, request: web.Request) -> web.Response:
        f = _Fields(await _body(request), ("fingerprint", "comment", "by", "until"))
        fp = f.text("fingerprint", required=True)
        comment, by, until = f.text("comment") or "", f.text("by") or "", f.time("until")
        assert fp is not None
        try:
            done = self.engine.acknowledge(fp, until=until, by=by, comment=comment)
        except KeyError:
            raise _Refused(404, f"no alert {fp!r}") from None
        except ValueError as exc:
            raise _Refused(400, clean(exc)) from None
        finally:
            self.changed()
        if not done:
            raise _Refused(409, f"alert {fp!r} is resolved: nothing to acknowledge")
        return web.json_response({"ok": True, "fingerprint": fp, "state": self._alert_state(fp)})

    async def unack(self, request: web.Request) -> web.Response:
        f = _Fields(await _body(request), ("fingerprint",))
        fp = f.text("fingerprint", required=True)
        assert fp is not None
        try:
            changed = self.engine.unacknowledge(fp)
        except KeyError:
            raise _Refused(404, f"no alert {fp!r}") from None
        finally:
            self.changed()
        return web.json_response({"ok": True, "fingerprint": fp, "changed": changed, "state": self._alert_state(fp)})

    def _alert_state(self, fp: str) -> str | None:
        alert = self.engine.alerts.alert(fp, self.engine.clock.wall())
        return alert.state.value if alert is not None else None

    async def silence(self, request: web.Request) -> web.Response:
        f = _Fields(await _body(request), ("match", "tags", "until", "duration", "comment", "by"))
        match, tags = f.text("match"), f.tags("tags")
        until, duration = f.time("until"), f.duration("duration")
        if (until is None) == (duration is None):
            raise _Refused(400, "give exactly one of 'until' and 'duration'")
        if until is None:
            assert duration is not None
            until = self.engine.clock.wall() + duration
        try:
            sid = self.engine.silence(until=until, match=match, tags=tags, by=f.text("by") or "", comment=f.text("comment") or "")
        except ValueError as exc:
            raise _Refused(400, clean(exc)) from None
        finally:
            self.changed()
        return web.json_response({"id": sid, "until": until})

    async def unsilence(self, request: web.Request) -> web.Response:
        sid = request.match_info["id"]
        found = self.engine.unsilence(sid)
        self.changed()
        if not found:
            raise _Refused(404, f"no active silence {clean(sid, limit=80)!r}")
        return web.json_response({"ok": True, "id": sid})

    async def note(self, request: web.Request) -> web.Response:
        f = _Fields(await _body(request), ("text", "check", "by"))
        text, check, by = f.text("text", required=True), f.text("check"), f.text("by") or ""
        assert text is not None
        if check is not None and check not in {c.name for c in self.engine.config.checks}:
            raise _Refused(404, f"no check {check!r}")
        note = await self.notes.add(at=self.engine.clock.wall(), text=text, by=by, check=check)
        self.engine.add_note(text, check=check, by=by)  # to the history and the timeline export too
        self.changed()
        return web.json_response(note.to_json())

    async def breaker(self, request: web.Request) -> web.Response:
        name, command = request.match_info["name"], request.match_info["command"]
        if command not in BREAKER_COMMANDS:
            raise _Refused(400, f"unknown breaker command {clean(command, limit=40)!r}; expected one of: {', '.join(BREAKER_COMMANDS)}")
        if self.engine.snapshot().breaker(name) is None:
            raise _Refused(404, f"no breaker {clean(name, limit=80)!r}")
        done = self.engine.breaker_command(name, command)
        self.changed()
        if not done:
            raise _Refused(409, f"breaker {clean(name, limit=80)!r} is disabled in the config: the config decides")
        return web.json_response({"ok": True, "breaker": name, "state": self.engine.breaker(name).state.value})


def _bearer(request: web.Request) -> bytes | None:
    """The bearer token of the request, None when there is no Authorization header."""
    header = request.headers.get("Authorization")
    if header is None:
        return None
    scheme, _, value = header.strip().partition(" ")
    if scheme.lower() != "bearer":
        return b""  # present but not a bearer token: it cannot match
    return value.strip().encode("utf-8", "replace")


def _host_name(host: str) -> str:
    """The name part of a Host header: "127.0.0.1:9108" -> "127.0.0.1", "[::1]:80" -> "::1"."""
    if host.startswith("["):
        return host[1:].partition("]")[0]
    return host.rpartition(":")[0] if host.count(":") == 1 else host


def _engine_running(engine: Engine) -> bool:
    return engine.running


# -- serving ------------------------------------------------------------------------------


class AgentServer:
    """A running agent: `host`, `port` (the real one when asked for port 0), `url`, `stop()`."""

    def __init__(self, agent: Agent, runner: web.AppRunner, host: str, port: int) -> None:
        self.agent, self._runner, self.host, self.port = agent, runner, host, port

    @property
    def url(self) -> str:
        return f"http://{_show(self.host, self.port)}"

    async def stop(self) -> None:
        """Stop answering (responses still being read get SHUTDOWN_SECONDS); the engine is the caller's."""
        await self._runner.cleanup()
        await self.agent.close()


async def serve(
    engine: Engine,
    *,
    host: str = "127.0.0.1",
    port: int = 9108,
    token: str | None = None,
    notes: NoteSink | None = None,
) -> AgentServer:
    """Serve `engine`'s board on host:port until `await server.stop()`.

    The caller starts and stops the engine. Raises AgentError for a non-loopback
    address without a token, OSError when the address cannot be bound.
    """
    check_exposure(host, token)
    agent = Agent(engine, token=token or None, public=not is_loopback(host), notes=notes)
    runner = web.AppRunner(agent.app(), shutdown_timeout=SHUTDOWN_SECONDS)
    await runner.setup()
    try:
        site = web.TCPSite(runner, host.strip("[]"), port)
        await site.start()
    except BaseException:
        await runner.cleanup()
        raise
    addresses = runner.addresses  # the real port when asked for port 0
    bound = addresses[0][1] if addresses else port
    agent.start()
    return AgentServer(agent, runner, host.strip("[]"), bound)


def run_agent(config: Config, listen: str = DEFAULT_LISTEN, token: str | None = None) -> int:
    """`healthdash agent`: run the engine and serve it until SIGINT/SIGTERM; 0 on a clean stop.

    Problems the user can fix (the address, a missing token, a port in use) print one
    line to stderr and return 2.
    """
    try:
        host, port = parse_listen(listen)
        check_exposure(host, token)
    except AgentError as exc:
        print(f"healthdash agent: {exc}", file=sys.stderr)
        return 2
    return asyncio.run(_run(config, host, port, token))


async def _run(config: Config, host: str, port: int, token: str | None) -> int:
    from dash.cli import state_dir
    from dash.runtime import Runtime

    runtime = Runtime(config, state_dir=state_dir())
    engine = runtime.engine
    try:
        server = await serve(engine, host=host, port=port, token=token)
    except OSError as exc:
        print(f"healthdash agent: cannot listen on {_show(host, port)}: {clean(exc.strerror or exc)}", file=sys.stderr)
        await engine.stop()
        return 2
    except BaseException:
        await engine.stop()  # probes may hold clients: release them on the way out
        raise
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        await runtime.start()
        for warning in runtime.warnings:
            print(f"healthdash agent: {warning}", file=sys.stderr, flush=True)
        n = len(config.checks)
        print(f"healthdash agent: {n} check{'s' if n != 1 else ''}, serving on {server.url}", file=sys.stderr, flush=True)
        await stop.wait()
    finally:
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)
        await server.stop()
        await runtime.stop()
    return 0
