"""Attach a dashboard to an agent: the agent's board instead of local polling.

`RemoteEngine` stands where the TUI expects an `Engine`: it polls the agent's
`/api/state` about once a second and serves the decoded `Snapshot`; operator
commands (ack, silence, notes, breaker overrides) go to the agent with the bearer
token, so every dashboard attached to the same agent sees them. Losing the agent
is loud: the snapshot carries "agent unreachable since HH:MM:SS" as an error, and
the results it still shows age into "stale", never into a green that is not there.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import replace
from typing import Any

import httpx
import httpx_aiohttp

from dash.agent.wire import WireError, extras_from_json, snapshot_from_json
from dash.clock import SystemClock
from dash.config import Config
from dash.model import CheckResult, Snapshot
from dash.text import clean

log = logging.getLogger("healthdash.attach")

POLL_SECONDS = 1.0
REQUEST_TIMEOUT = 5.0


class RemoteEngine:
    """The engine interface the TUI uses, backed by an agent over HTTP."""

    remote = True

    def __init__(self, url: str, *, token: str | None = None, config: Config | None = None) -> None:
        self.url = url.rstrip("/")
        self.config = config or Config(path=self.url, title=f"healthdash @ {self.url}")
        self.clock = SystemClock()
        self._headers = {"Authorization": f"Bearer {token}"} if token else {}
        self._client: httpx.AsyncClient | None = None
        self._poller: asyncio.Task[None] | None = None
        self._snapshot = Snapshot(generated_at=time.time(), title=self.config.title)
        self._unreachable_since: float | None = None
        self._last_error = ""
        self._listeners: list[Callable[[CheckResult], None]] = []
        self._pending: set[asyncio.Task[Any]] = set()
        self.notes: tuple = ()
        self.breaker_of: dict[str, str] = {}

    # -- the engine interface ----------------------------------------------------------

    @property
    def paused(self) -> bool:
        return self._snapshot.paused

    @property
    def running(self) -> bool:
        return self._poller is not None and not self._poller.done()

    def subscribe(self, listener: Callable[[CheckResult], None]) -> None:
        """Called with no per-result detail here: the board refreshes from each poll."""
        self._listeners.append(listener)

    def subscribe_notifications(self, listener: Callable[[Any], None]) -> None:
        """Pages are the agent's to send (it runs the notifiers); nothing is paged twice."""

    def subscribe_events(self, listener: Callable[[Any], None]) -> None:
        """Timeline events stay with the agent."""

    def snapshot(self, **_: object) -> Snapshot:
        """The agent's board as last fetched, with a loud error while it is unreachable."""
        if self._unreachable_since is None:
            return self._snapshot
        since = time.strftime("%H:%M:%S", time.localtime(self._unreachable_since))
        error = f"agent unreachable since {since}: {self._last_error}"
        return replace(self._snapshot, generated_at=time.time(), errors=(error, *self._snapshot.errors))

    async def start(self) -> None:
        transport = httpx_aiohttp.AiohttpTransport()
        self._client = httpx.AsyncClient(transport=transport, timeout=REQUEST_TIMEOUT, headers=self._headers)
        await self.poll()
        self._poller = asyncio.ensure_future(self._poll_loop())

    async def stop(self) -> None:
        tasks = [t for t in (self._poller, *self._pending) if t is not None]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self._poller = None
        if self._client is not None:
            await self._client.aclose()
            self._client = None

    async def poll(self) -> bool:
        """Fetch the agent's board once; False (and the board marked unreachable) on failure."""
        if self._client is None:
            return False
        try:
            response = await self._client.get(f"{self.url}/api/state", params={"results": "0"})
            if response.status_code != 200:
                raise WireError(f"HTTP {response.status_code}")
            doc = response.json()
            snap = snapshot_from_json(doc)
            extras = extras_from_json(doc)
        except (httpx.HTTPError, WireError, ValueError) as exc:
            if self._unreachable_since is None:
                self._unreachable_since = time.time()
            self._last_error = clean(str(exc) or type(exc).__name__, limit=120)
            return False
        self._snapshot = snap
        self.notes = extras.notes
        self.breaker_of = dict(extras.breaker_of)
        self._unreachable_since = None
        for listener in self._listeners:
            try:
                listener(None)  # type: ignore[arg-type]
            except Exception:
                log.exception("a listener failed")
        return True

    async def _poll_loop(self) -> None:
        while True:
            await asyncio.sleep(POLL_SECONDS)
            await self.poll()

    # -- commands: sent to the agent; the next poll shows their effect ------------------

    def _send(self, method: str, path: str, body: dict | None = None) -> None:
        async def go() -> None:
            if self._client is None:
                return
            try:
                response = await self._client.request(method, f"{self.url}{path}", json=body)
                if response.status_code >= 400:
                    log.warning("agent refused %s %s: %s", method, path, clean(response.text, limit=200))
                await self.poll()
            except httpx.HTTPError as exc:
                log.warning("agent unreachable for %s %s: %s", method, path, clean(exc, limit=200))

        task = asyncio.ensure_future(go())
        self._pending.add(task)
        task.add_done_callback(self._pending.discard)

    def acknowledge(self, fingerprint: str, *, until: float | None = None, by: str = "", comment: str = "") -> bool:
        body: dict[str, Any] = {"fingerprint": fingerprint, "by": by, "comment": comment}
        if until is not None:
            body["until"] = until
        self._send("POST", "/api/ack", body)
        return True

    def unacknowledge(self, fingerprint: str) -> bool:
        self._send("POST", "/api/unack", {"fingerprint": fingerprint})
        return True

    def silence(self, *, until: float, match: str | None = None, tags: tuple[str, ...] = (), by: str = "", comment: str = "") -> str:
        body: dict[str, Any] = {"until": until, "by": by, "comment": comment}
        if match:
            body["match"] = match
        if tags:
            body["tags"] = list(tags)
        self._send("POST", "/api/silence", body)
        return ""

    def unsilence(self, silence_id: str) -> bool:
        self._send("DELETE", f"/api/silence/{silence_id}")
        return True

    def add_note(self, text: str, *, check: str | None = None, by: str = "") -> None:
        body: dict[str, Any] = {"text": text, "by": by}
        if check:
            body["check"] = check
        self._send("POST", "/api/note", body)

    def breaker_command(self, name: str, command: str) -> bool:
        self._send("POST", f"/api/breaker/{name}/{command}")
        return True

    # Polling belongs to the agent: an attached dashboard cannot pause it (`remote` tells
    # the UI to say so instead).

    def pause(self) -> None:
        """Nothing: the agent polls on its own."""

    def resume(self) -> None:
        """Nothing: the agent polls on its own."""

    def run_now(self, name: str | None = None) -> None:
        """The agent runs on its own schedule; fetch its board now instead."""
        task = asyncio.ensure_future(self.poll())
        self._pending.add(task)
        task.add_done_callback(self._pending.discard)

    async def reload(self, config: Config) -> None:
        """The agent reloads its own config; nothing to do here."""
