"""Everything that runs around an engine, for the dashboard and the agent alike.

`Runtime` owns the pieces a running healthdash needs besides the engine: the
history store (restored before the first probe), the notifiers (webhooks,
Alertmanager) and the Alertmanager puller whose alerts join the board. Start,
reload and stop go through it so the dashboard and `healthdash agent` behave the
same.
"""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

from dash.alertmanager import Puller, merge
from dash.config import Config
from dash.engine.persist import Persistence, open_store
from dash.engine.scheduler import Engine
from dash.notify import Notifier

log = logging.getLogger("healthdash.runtime")


class Runtime:
    """An engine with its history, notifications and Alertmanager's alerts."""

    def __init__(self, config: Config, *, state_dir: Path, engine: Engine | None = None, history: bool = True) -> None:
        self.config = config
        self.engine = engine or Engine(config)
        self.state_dir = state_dir
        self.history = history
        self.persistence: Persistence | None = None
        self.notifier = Notifier(config)
        self.puller: Puller | None = None
        self.warnings: list[str] = []
        self._started = False

    async def start(self) -> None:
        """Open the history (in a thread), restore it, then start notifying and polling."""
        engine = self.engine
        if self.history:
            store, why = await asyncio.to_thread(open_store, self.config, self.state_dir)
            if store is None:
                self.warnings.append(why)
            else:
                self.warnings.extend(store.warnings)
                self.persistence = Persistence(engine, store)
                self.persistence.start()  # restores the board, alerts and breakers first
        engine.subscribe_notifications(self.notifier.submit)
        await self.notifier.start()
        self.notifier.resume(engine.alerts.alerts(engine.clock.wall()))
        await self._start_puller(self.config)
        await engine.start()
        self._started = True

    async def _start_puller(self, config: Config) -> None:
        if config.alertmanager is None:
            self.puller = None
            self.engine.external_alerts = ()
            return
        puller = Puller(config.alertmanager)

        def update() -> None:
            snap_alerts = self.engine.alerts.alerts(self.engine.clock.wall())
            self.engine.external_alerts = tuple(merge(snap_alerts, list(puller.alerts), dashboard=config.title))
            self.engine.external_error = puller.error

        puller.subscribe(update)
        self.puller = puller
        await puller.start()

    async def reload(self, config: Config) -> None:
        """Adopt a new config everywhere."""
        self.config = config
        await self.engine.reload(config)
        await self.notifier.reload(config)
        if self.puller is not None:
            await self.puller.stop()
        await self._start_puller(config)

    async def stop(self) -> None:
        """Stop polling, deliver what is queued (bounded), save and close the history."""
        await self.engine.stop()
        if self.puller is not None:
            await self.puller.stop()
        await self.notifier.stop()
        if self.persistence is not None:
            await self.persistence.stop()
            self.persistence = None
