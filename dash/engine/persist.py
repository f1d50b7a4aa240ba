"""History that survives restarts: the engine's board, alerts and breakers in the store.

`Persistence` connects a running `Engine` to a `Store`:
  * every result, alert event, breaker transition, service status and note is
    queued to the store's writer thread (never waiting on disk);
  * about once a second the alert engine's state, the breakers' states and the
    latest results are saved as state blobs, so a restart (even `kill -9`) brings
    back everything on screen but the last second;
  * about every 30 seconds the SLOs are computed from the store's per-minute
    history (read in a worker thread) and their burn-rate alerts fed to the engine.
"""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

from dash.core.slo import Minute, SLOReport, report
from dash.engine.scheduler import Engine
from dash.store import HISTORY_FILE, Store, StoreError

log = logging.getLogger("healthdash.persist")

SAVE_SECONDS = 1.0
TRACKS_EVERY = 30  # saves between saves of the alert engine's per-check tracks
SLO_SECONDS = 30.0


def open_store(config, default_dir: Path) -> tuple[Store | None, str]:
    """Open the history file for `config`; (None, why) when it cannot be used."""
    directory = Path(config.state_dir) if config.state_dir else default_dir
    try:
        return Store.open(directory / HISTORY_FILE, retention=config.retention), ""
    except StoreError as exc:
        return None, f"history is off: {exc}"


class Persistence:
    """Keeps one engine's history in one store; see the module docstring."""

    def __init__(self, engine: Engine, store: Store) -> None:
        self.engine = engine
        self.store = store
        self._tasks: list[asyncio.Task[None]] = []
        self._saves = 0

    def restore(self) -> None:
        """Bring back the board, alerts and breakers saved by the previous run."""
        engine, store = self.engine, self.store
        saved_at = store.load_state("saved_at")
        elapsed = max(0.0, engine.clock.wall() - saved_at) if isinstance(saved_at, (int, float)) else 0.0
        known = set(engine.config_names)
        for name, results in store.recent_results().items():
            if name in known:
                for result in results:
                    if result.kind == engine.config.check(name).kind:
                        engine.board.apply(result)
        alerts = store.load_state("alerts")
        if isinstance(alerts, dict):
            tracks = store.load_state("alert_tracks")
            engine.alerts.import_state({**(tracks if isinstance(tracks, dict) else {}), **alerts}, engine.clock.wall())
        breakers = store.load_state("breakers")
        if isinstance(breakers, dict):
            now = engine.clock.now()
            for name, doc in breakers.items():
                if name in engine.breaker_names:
                    engine.breaker(name).import_state(doc, now, elapsed)
        engine.tick()  # alerts that already paged before the restart do not page again

    def save(self, *, everything: bool = False) -> None:
        """Queue the state blobs (the writer commits them within a second).

        The board needs nothing here: the store keeps each check's recent results as
        they come. What is on screen (alerts, acks, silences, breakers) is saved every
        second; the per-check soft-state and flap histories, large at 1000 checks and
        not on screen, every TRACKS_SECONDS (and on exit).
        """
        engine, store = self.engine, self.store
        now = engine.clock.now()
        state = engine.alerts.export_state()
        tracks = {k: state.pop(k) for k in ("checks", "statuses") if k in state}
        store.save_state("alerts", state)
        self._saves += 1
        if everything or self._saves % TRACKS_EVERY == 1:
            store.save_state("alert_tracks", tracks)
        store.save_state("breakers", {n: engine.breaker(n).export_state(now) for n in engine.breaker_names})
        store.save_state("saved_at", engine.clock.wall())

    def start(self) -> None:
        """Restore, then record everything from now on."""
        engine, store = self.engine, self.store
        self.restore()
        engine.subscribe(store.record_result)
        engine.subscribe_events(store.record_event)
        engine.subscribe_breaker_transitions(
            lambda name, t, wall: store.record_breaker_transition(name, wall, t.before, t.after, t.cause)
        )
        engine.subscribe_services(
            lambda s, wall: store.record_service(s.name, s.status.value, wall, message="; ".join(s.because))
        )
        engine.subscribe_notes(lambda note: store.add_note(note.text, at=note.at, check=note.check, author=note.by))
        self._tasks = [asyncio.ensure_future(self._save_loop()), asyncio.ensure_future(self._slo_loop())]

    async def stop(self) -> None:
        """Save a last time and close the store (flushing what is queued)."""
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        try:
            self.save(everything=True)
        except Exception:
            log.exception("saving state on exit failed")
        await asyncio.to_thread(self.store.close)

    async def _save_loop(self) -> None:
        while True:
            await asyncio.sleep(SAVE_SECONDS)
            try:
                self.save()
            except Exception:  # a bug here must not stop the dashboard
                log.exception("saving state failed")

    async def _slo_loop(self) -> None:
        while True:
            try:
                await self.update_slos()
            except Exception:
                log.exception("computing SLOs failed")
            await asyncio.sleep(SLO_SECONDS)

    async def update_slos(self) -> dict[str, SLOReport]:
        """Compute every configured SLO from the store and feed burn alerts to the engine."""
        engine = self.engine
        subjects = [("check", c.name, c.slo) for c in engine.config.checks if c.slo is not None]
        subjects += [("service", s.name, s.slo) for s in engine.config.services if s.slo is not None]
        reports: dict[str, SLOReport] = {}
        for kind, name, slo in subjects:
            wall = engine.clock.wall()
            since = wall - max(slo.window, 3 * 86400)
            rows = await asyncio.to_thread(self.store.minutes, name, since, wall)
            changes = await asyncio.to_thread(self.store.status_changes, since, wall, name)
            minutes = [Minute(m.start, m.count - m.unknown, m.crit) for m in rows]
            rep = report(name, slo, minutes, [(c.at, c.new) for c in changes], wall)
            reports[name] = rep
            engine.alerts.observe_slo(kind, name, list(rep.burn_alerts), wall)
        engine.slo_reports = reports
        return reports
