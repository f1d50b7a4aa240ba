"""The dashboard application: renders engine snapshots, turns keys into engine commands.

No rule lives here: what a row says and in which order comes from `dash.tui.view`;
the engine decides everything about checks, breakers and alerts. The app only
refreshes (about once a second, sooner after a result, at most four times a
second), forwards commands (pause, run now, reload, acknowledge, silence, breaker
overrides, operator notes), tells the user about pages (toast and bell) and keeps
the config file under watch.

Attached to an agent (`engine.remote`), polling belongs to the agent: pause, run now
and reload say so instead of pretending, and a lost agent is loud in the header.
"""

from __future__ import annotations

import argparse
import asyncio
import getpass
import os
import shutil
import tempfile
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any, Protocol

from textual.app import App, SystemCommand
from textual.binding import Binding
from textual.css.query import NoMatches
from textual.screen import Screen

from dash.clock import Clock
from dash.config import Config, ConfigError, find_config, format_duration, load_config
from dash.core.alerts import Notification as AlertNotification
from dash.model import CheckResult, Snapshot
from dash.tui.palette import Palette
from dash.tui.screens.breakers import COMMANDS as BREAKER_COMMANDS
from dash.tui.screens.breakers import BreakersScreen
from dash.tui.screens.detail import DetailScreen
from dash.tui.screens.help import HelpScreen
from dash.tui.screens.note import NoteForm, NoteRequest
from dash.tui.screens.overview import OverviewScreen
from dash.tui.screens.silence import SilenceForm, SilenceRequest, SilencesScreen
from dash.tui.screens.slo import SLOScreen
from dash.tui.screens.timeline import TimelineScreen
from dash.tui.view import alert_reason, clock_text, keymap_from_config

REFRESH_SECONDS = 1.0
FAST_REFRESH_SECONDS = 0.25  # the cap: never redraw more often than this
FAST_REFRESH_MAX_CHECKS = 200  # bigger boards redraw once a second: results arrive all the time
BREAKER_STATS_AGE = 5.0  # seconds breaker statistics may lag while the breaker panel is closed
WATCH_SECONDS = 1.5

# Themes `t` cycles through (those this Textual has); the ANSI ones follow the terminal's palette.
THEMES = (
    "textual-dark",
    "textual-light",
    "ansi-dark",
    "ansi-light",
    "nord",
    "gruvbox",
    "solarized-light",
    "catppuccin-latte",
    "tokyo-night",
)

# Help lines: (binding ids, their default keys as shown, what they do). The ids are the
# action names `[keys]` remaps; related keys share a line so the help fits 80x24.
KEYS: tuple[tuple[tuple[str, ...], tuple[str, ...], str], ...] = (
    (("up", "down"), ("↑ k", "↓ j"), "previous / next check (or alert, in the alert panel)"),
    (("detail", "back"), ("enter", "esc"), "open the check's detail / back (or clear the filter)"),
    (("filter",), ("/",), "filter by name, kind, tag or message; !text hides matches"),
    (("sort",), ("s",), "next sort: severity, name, latency, last change"),
    (("pause",), ("p",), "pause / resume all checks"),
    (("run", "run_all"), ("r", "R"), "run the selected check / every check now"),
    (("ack", "unack"), ("a", "A"), "acknowledge the selected check's or alert's alert / undo"),
    (("silence", "silences", "delete_silence"), ("x", "X", "d"), "silence by name or glob / list / remove (d)"),
    (("symptoms", "focus_alerts"), ("e", "tab"), "show or fold symptoms / focus the alert panel"),
    (("breakers",), ("b",), "circuit breakers: ours and the watched applications'"),
    (("force_open", "force_closed", "metrics_only", "reset_breaker"), ("o", "c", "m", "z"),
     "breaker: force open / closed / metrics-only / reset"),
    (("note", "timeline", "slo"), ("n", "T", "L"), "note for the timeline / timeline / SLOs and error budgets"),
    (("theme", "reload"), ("t", "ctrl+r"), "next theme / reload the config file"),
    (("help", "quit"), ("?", "q"), "this help / quit"),
)
# Binding ids that exist but are not listed above (they share a key with a listed one).
_EXTRA_IDS = ("clear_filter", "close_help", "close_silence", "close_note", "timeline_filter")
BINDING_IDS = tuple(i for ids, _, _ in KEYS for i in ids) + _EXTRA_IDS


class SnapshotSource(Protocol):
    """What the app needs from the engine."""

    clock: Clock

    @property
    def paused(self) -> bool: ...
    def snapshot(self) -> Snapshot: ...
    def subscribe(self, listener: Any) -> None: ...
    def subscribe_notifications(self, listener: Any) -> None: ...
    def acknowledge(self, fingerprint: str, *, until: float | None = None, by: str = "", comment: str = "") -> bool: ...
    def unacknowledge(self, fingerprint: str) -> bool: ...
    def silence(self, *, until: float, match: str | None = None, tags: tuple[str, ...] = (), by: str = "",
                comment: str = "") -> str: ...
    def unsilence(self, silence_id: str) -> bool: ...
    def breaker_command(self, name: str, command: str) -> bool: ...
    def pause(self) -> None: ...
    def resume(self) -> None: ...
    def run_now(self, name: str | None = None) -> None: ...
    async def reload(self, config: Config) -> None: ...
    async def start(self) -> None: ...
    async def stop(self) -> None: ...


def _operator() -> str:
    """Who acknowledges and silences: the login name, as alert events record it."""
    try:
        return getpass.getuser()
    except Exception:  # no login name in this environment (containers): still say where it came from
        return "tui"


def _note_author() -> str:
    """Who writes a note: $USER, or nobody named."""
    return os.environ.get("USER", "")


# What an attached dashboard says instead of pretending to control the agent's polling.
ON_THE_AGENT = "{what} is done on the agent: this dashboard shows its board"


def _file_signature(path: str) -> tuple[int, int] | None:
    try:
        st = os.stat(path)
    except OSError:
        return None  # mid-save or deleted: keep the running config
    return (st.st_mtime_ns, st.st_size)


class HealthDashApp(App[int]):
    """The healthdash terminal dashboard."""

    CSS_PATH = "dash.tcss"
    TITLE = "healthdash"

    BINDINGS = [
        Binding("b", "breakers", "Breakers", id="breakers"),
        Binding("p", "toggle_pause", "Pause", id="pause"),
        Binding("question_mark", "help", "Help", id="help"),
        Binding("q", "quit", "Quit", id="quit"),
        Binding("R", "run_all", "All", show=False, id="run_all"),
        Binding("X", "silences", "Silences", show=False, id="silences"),
        Binding("n", "note", "Note", show=False, id="note"),
        Binding("T", "timeline", "Timeline", show=False, id="timeline"),
        Binding("L", "slo", "SLOs", show=False, id="slo"),
        Binding("t", "next_theme", "Theme", show=False, id="theme"),
        Binding("ctrl+r", "reload", "Reload", show=False, id="reload"),
    ]

    def __init__(
        self,
        engine: SnapshotSource,
        config: Config,
        config_path: str | os.PathLike[str] | None = None,
        *,
        watch_config: bool = True,
        demo: Any = None,
        runtime: Any = None,
    ) -> None:
        super().__init__()
        self.runtime = runtime  # dash.runtime.Runtime: history, notifiers; None for tests and --attach
        if "TEXTUAL_ANIMATIONS" not in os.environ:  # a status board does not slide or fade
            self.animation_level = "none"
        self.engine = engine
        self.config = config
        self.config_path = os.fspath(config_path) if config_path is not None else None
        self.config_errors: tuple[str, ...] = ()
        self.snapshot: Snapshot | None = None
        self.snapshot_mono = 0.0  # the engine's monotonic time when `snapshot` was taken
        self.title = config.title
        self._watch = watch_config and self.config_path is not None
        self._signature: tuple[int, int] | None = None
        self._dirty = False
        self._last_refresh = 0.0
        self._palette = Palette()
        self.overview = OverviewScreen()
        self.demo = demo  # `healthdash --demo`: its dependencies can be broken from the palette

    def get_default_screen(self) -> Screen:
        return self.overview

    async def on_mount(self) -> None:
        self._palette = Palette(self.theme_variables)
        self.theme_changed_signal.subscribe(self, self._theme_changed)
        self._apply_keymap()
        self.engine.subscribe(self._on_result)
        self.engine.subscribe_notifications(self._on_notification)
        if self.runtime is not None:
            # Opening the history can take a moment: the first paint does not wait for it.
            self.run_worker(self._start_runtime(), name="start", exit_on_error=False)
        else:
            await self.engine.start()  # starts tasks only: the first paint never waits for a check
        self.refresh_snapshot()
        self.set_interval(REFRESH_SECONDS, self._refresh_on_time, name="refresh")
        self.set_interval(FAST_REFRESH_SECONDS, self._refresh_if_dirty, name="refresh-soon")
        if self._watch:
            self._signature = await asyncio.to_thread(_file_signature, self.config_path)
            self.set_interval(WATCH_SECONDS, self.check_config_file, name="watch-config")

    async def _start_runtime(self) -> None:
        await self.runtime.start()
        for warning in self.runtime.warnings:
            self.notify(warning, title="history", severity="warning", timeout=10, markup=False)
        self.refresh_snapshot()

    async def on_unmount(self) -> None:
        # The app started it on mount; stopping twice is harmless.
        if self.runtime is not None:
            await self.runtime.stop()
        else:
            await self.engine.stop()

    # -- drawing -----------------------------------------------------------------

    def _on_result(self, result: CheckResult) -> None:
        self._dirty = True

    def _refresh_on_time(self) -> None:
        # The once-a-second redraw (clock, ages) is skipped when a result just caused one.
        if time.monotonic() - self._last_refresh >= 0.9 * REFRESH_SECONDS:
            self.refresh_snapshot()

    def _refresh_if_dirty(self) -> None:
        if self._dirty and len(self.engine.config.checks) <= FAST_REFRESH_MAX_CHECKS:
            self.refresh_snapshot()

    def refresh_snapshot(self, *, restyle: bool = False) -> Snapshot:
        """Take a snapshot from the engine and draw it on every screen that shows one."""
        self._dirty = False
        self._last_refresh = time.monotonic()
        # Breaker statistics are only read on the breaker panel: elsewhere they may be a few
        # seconds old (their states never are), which saves scanning every window each second.
        showing_breakers = any(isinstance(s, BreakersScreen) for s in self.screen_stack)
        snap = self.engine.snapshot(breaker_stats_age=0.0 if showing_breakers else BREAKER_STATS_AGE)
        self.snapshot = snap
        self.snapshot_mono = self.engine.clock.now()
        try:
            self.overview.show(snap, self._palette, self.config_errors, restyle=restyle)
            for screen in self.screen_stack:
                if isinstance(screen, BreakersScreen):
                    screen.show(snap, self._palette, self.snapshot_mono, restyle=restyle)
                elif isinstance(screen, (DetailScreen, SilencesScreen, SLOScreen, TimelineScreen)):
                    screen.show(snap, self._palette, restyle=restyle)
        except NoMatches:  # the app is closing and its widgets are going away
            pass
        return snap

    def _on_notification(self, note: AlertNotification) -> None:
        """A page: toast and bell (unless [alerts] turns them off); a resolution: a quiet toast."""
        settings = self.config.alerts
        alert = note.alert
        if note.kind == "page":
            if settings.toast:
                self.notify(
                    alert_reason(alert),
                    title=f"{alert.priority_label} page: {alert.name}",
                    severity="error",
                    timeout=30,
                    markup=False,
                )
            if settings.bell:
                self.bell()
        elif note.kind == "resolved" and settings.toast:
            lasted = (alert.resolved_at or note.at) - alert.started_at
            self.notify(
                f"{alert.name} recovered after {format_duration(max(0.0, round(lasted)))}",
                title=f"resolved: {alert.name}",
                timeout=5,
                markup=False,
            )
        self._dirty = True

    def _theme_changed(self, _theme: object) -> None:
        self._palette = Palette(self.theme_variables)
        self.refresh_snapshot(restyle=True)

    # -- keys and commands ------------------------------------------------------------

    def _apply_keymap(self) -> None:
        keymap, unknown = keymap_from_config(self.config.keys, BINDING_IDS)
        self.set_keymap(keymap)
        if unknown:
            self.notify(
                f"[keys]: unknown action {', '.join(unknown)}; known: {', '.join(BINDING_IDS)}",
                title="keys not applied",
                severity="warning",
                timeout=10,
                markup=False,
            )

    def key_lines(self) -> list[tuple[str, str]]:
        """(keys, what they do) for the help screen, with `[keys]` remappings applied."""
        keymap = self._keymap
        return [
            (" ".join(keymap.get(bid, default) for bid, default in zip(ids, defaults)), what)
            for ids, defaults, what in KEYS
        ]

    def action_help(self) -> None:
        """Show every key."""
        if not isinstance(self.screen, HelpScreen):
            self.push_screen(HelpScreen(self.key_lines()))

    @property
    def remote(self) -> bool:
        """True when attached to an agent: its checks, schedule and config are its own."""
        return bool(getattr(self.engine, "remote", False))

    def action_toggle_pause(self) -> None:
        """Pause or resume all checks."""
        if self.remote:
            self.notify(ON_THE_AGENT.format(what="pausing"), severity="warning", timeout=4, markup=False)
            return
        if self.engine.paused:
            self.engine.resume()
            self.notify("resumed: checks run on their schedule again", timeout=3, markup=False)
        else:
            self.engine.pause()
            self.notify("PAUSED: no new checks start until p", severity="warning", timeout=3, markup=False)
        self.refresh_snapshot()

    def run_check_now(self, name: str) -> None:
        """Run one check now, outside its schedule."""
        self.engine.run_now(name)
        if self.remote:  # the agent runs it on its schedule; RemoteEngine fetches the board instead
            self.notify(f"{ON_THE_AGENT.format(what='running checks')}: board refreshed", timeout=3, markup=False)
            return
        self.notify(f"running {name} now", timeout=2, markup=False)

    def action_run_all(self) -> None:
        """Run every check now."""
        self.engine.run_now(None)
        if self.remote:
            self.notify(f"{ON_THE_AGENT.format(what='running checks')}: board refreshed", timeout=3, markup=False)
            return
        n = len(self.snapshot.checks) if self.snapshot else 0
        self.notify(f"running all {n} checks now", timeout=2, markup=False)

    # -- alerts, silences, breakers ----------------------------------------------------

    def _alert(self, fingerprint: str | None):
        """The open alert with `fingerprint` in the current snapshot, or None."""
        snap = self.engine.snapshot()  # fresh: the alert may have opened since the last redraw
        return next((a for a in snap.alerts if a.fingerprint == fingerprint and a.is_open), None)

    def acknowledge_alert(self, fingerprint: str | None, name: str) -> bool:
        """Acknowledge the open alert `fingerprint` (about `name`) until it recovers."""
        alert = self._alert(fingerprint)
        if alert is None:
            self.notify(f"{name}: no open alert to acknowledge", severity="warning", timeout=3, markup=False)
            return False
        if alert.acked_by is not None:
            self.notify(f"{name}: already acknowledged by {alert.acked_by} (A takes it back)", timeout=3, markup=False)
            return False
        done = self.engine.acknowledge(alert.fingerprint, by=_operator())
        if done:
            self.notify(f"acknowledged {name} until it recovers (A takes it back)", timeout=3, markup=False)
        self.refresh_snapshot()
        return done

    def unacknowledge_alert(self, fingerprint: str | None, name: str) -> bool:
        """Take back the acknowledgement of alert `fingerprint` (about `name`)."""
        alert = self._alert(fingerprint)
        if alert is None or alert.acked_by is None:
            self.notify(f"{name}: not acknowledged", severity="warning", timeout=3, markup=False)
            return False
        done = self.engine.unacknowledge(alert.fingerprint)
        if done:
            self.notify(f"{name}: acknowledgement taken back", timeout=3, markup=False)
        self.refresh_snapshot()
        return done

    def open_silence_form(self, match: str = "") -> None:
        """Ask for a silence (match defaults to `match`), then add it."""
        self.push_screen(SilenceForm(match), self._add_silence)

    def _add_silence(self, request: SilenceRequest | None) -> None:
        if request is None:
            return
        until = self.engine.clock.wall() + request.seconds
        try:
            sid = self.engine.silence(until=until, match=request.match, by=_operator(), comment=request.comment)
        except ValueError as exc:
            self.notify(str(exc), title="not silenced", severity="error", markup=False)
            return
        self.notify(
            f"silenced {request.match} for {format_duration(request.seconds)}, until {clock_text(until)} "
            f"({sid}; X lists silences)",
            timeout=5,
            markup=False,
        )
        self.refresh_snapshot()

    def remove_silence(self, silence_id: str) -> bool:
        """End silence `silence_id` now."""
        silence = next((s for s in (self.snapshot.silences if self.snapshot else ()) if s.id == silence_id), None)
        done = self.engine.unsilence(silence_id)
        what = f"{silence_id} ({silence.match or '*'})" if silence else silence_id
        if done:
            self.notify(f"silence {what} removed", timeout=3, markup=False)
        else:
            self.notify(f"silence {what} had already ended", severity="warning", timeout=3, markup=False)
        self.refresh_snapshot()
        return done

    def override_breaker(self, name: str, command: str) -> bool:
        """Apply an operator override (force_open, force_closed, metrics_only, reset) to breaker `name`."""
        done = self.engine.breaker_command(name, command)
        if done:
            self.notify(f"breaker {name} {BREAKER_COMMANDS[command]}", timeout=3, markup=False)
        else:
            self.notify(f"breaker {name} not changed: disabled in config", severity="warning", timeout=4, markup=False)
        self.refresh_snapshot()
        return done

    def action_breakers(self) -> None:
        """Open the breaker panel (or close it when it is open)."""
        if isinstance(self.screen, BreakersScreen):
            self.pop_screen()
            return
        # Fresh statistics: elsewhere the board lets them lag a few seconds.
        snap = self.engine.snapshot()
        self.push_screen(BreakersScreen(snap, self._palette, self.engine.clock.now()))

    def action_silences(self) -> None:
        """Open the list of silences."""
        if not isinstance(self.screen, SilencesScreen):
            self.push_screen(SilencesScreen(self.snapshot, self._palette))

    # -- notes, timeline, SLOs ------------------------------------------------------------

    def action_note(self) -> None:
        """Write a note for the timeline, about the selected check when there is one."""
        if isinstance(self.screen, NoteForm):
            return
        subject = getattr(self.screen, "note_subject", None)
        check = getattr(self.screen, "check_name", None) if subject is None else subject()
        self.push_screen(NoteForm(check), self._add_note)

    def _add_note(self, request: NoteRequest | None) -> None:
        if request is None:
            return
        self.engine.add_note(request.text, check=request.check, by=_note_author())
        about = f" about {request.check}" if request.check else ""
        if self.remote:
            self.notify(f"note{about} sent to the agent", timeout=3, markup=False)
        else:
            self.notify(f"note saved{about}", timeout=3, markup=False)
        for screen in self.screen_stack:
            if isinstance(screen, TimelineScreen):
                screen.reload()

    def history(self) -> tuple[Any, str]:
        """(the history store, "") when history is on; else (None, why it is not, in one line)."""
        if self.remote:
            return None, "history stays with the agent (healthdash timeline on its host)"
        runtime = self.runtime
        if runtime is None:
            return None, "history is off"
        persistence = getattr(runtime, "persistence", None)
        if persistence is not None:
            return persistence.store, ""
        why = next((w for w in getattr(runtime, "warnings", ()) if w.startswith("history is off")), None)
        if why is not None or not getattr(runtime, "history", True):
            return None, why or "history is off"
        return None, "history is opening…"

    def action_timeline(self) -> None:
        """Open the timeline (or close it when it is open)."""
        if isinstance(self.screen, TimelineScreen):
            self.pop_screen()
            return
        self.push_screen(TimelineScreen(self.snapshot, self._palette))

    def action_slo(self) -> None:
        """Open the SLO screen (or close it when it is open)."""
        if isinstance(self.screen, SLOScreen):
            self.pop_screen()
            return
        self.push_screen(SLOScreen(self.snapshot, self._palette))

    def action_next_theme(self) -> None:
        """Switch to the next theme in THEMES."""
        names = [t for t in THEMES if t in self.available_themes]
        current = names.index(self.theme) if self.theme in names else -1
        self.theme = names[(current + 1) % len(names)]
        self.notify(f"theme: {self.theme}", timeout=2, markup=False)

    async def action_reload(self) -> None:
        """Reload the config file now."""
        if self.remote:
            self.notify(ON_THE_AGENT.format(what="reloading the config"), severity="warning", timeout=4, markup=False)
            return
        if self.config_path is None:
            self.notify("nothing to reload: no config file (demo mode)", severity="warning", markup=False)
            return
        await self.reload_config()

    def get_system_commands(self, screen: Screen) -> Iterable[SystemCommand]:
        yield from super().get_system_commands(screen)
        yield SystemCommand("Pause / resume", "Stop or restart starting new checks (p)", self.action_toggle_pause)
        yield SystemCommand("Run all checks now", "Run every check outside its schedule (R)", self.action_run_all)
        yield SystemCommand("Run selected check now", "Run the check under the cursor (r)", self.overview.action_run_selected)
        yield SystemCommand("Filter checks", "Filter by name, kind, tag or message (/)", self.overview.action_filter)
        yield SystemCommand("Clear filter", "Show every check again (esc)", self.overview.action_clear_filter)
        yield SystemCommand("Next sort", "Severity, name, latency, last change (s)", self.overview.action_cycle_sort)
        yield SystemCommand("Circuit breakers", "Every breaker, ours and the applications' (b)", self.action_breakers)
        yield SystemCommand("Acknowledge alert", "The selected check's or alert's, until it recovers (a)", self.overview.action_ack)
        yield SystemCommand("Unacknowledge alert", "Take the acknowledgement back (A)", self.overview.action_unack)
        yield SystemCommand("Silence alerts", "By name or glob, for a while (x)", self.overview.action_silence)
        yield SystemCommand("Silences", "List silences and remove them (X)", self.action_silences)
        yield SystemCommand("Show / fold symptoms", "Symptoms under their root-cause alert (e)", self.overview.action_toggle_symptoms)
        yield SystemCommand("Add a note", "A time-stamped note for the timeline, about the selected check (n)",
                            self.action_note)
        yield SystemCommand("Timeline", "Status changes, alerts, silences, breakers and notes, newest first (T)",
                            self.action_timeline)
        yield SystemCommand("SLOs", "Availability, error budgets, burn rates, MTTR and MTBF (L)", self.action_slo)
        if isinstance(screen, BreakersScreen):
            for command, title, key in (
                ("force_open", "Breaker: force open", "o"),
                ("force_closed", "Breaker: force closed", "c"),
                ("metrics_only", "Breaker: metrics only", "m"),
                ("reset", "Breaker: reset", "z"),
            ):
                yield SystemCommand(
                    title,
                    f"The selected breaker, {BREAKER_COMMANDS[command]} ({key})",
                    lambda c=command, s=screen: s.action_override(c),
                )
        if isinstance(screen, SilencesScreen):
            yield SystemCommand("Remove silence", "End the selected silence now (d)", screen.action_delete)
        if isinstance(screen, TimelineScreen):
            yield SystemCommand("Timeline: only the selected", "Keep the selected line's check, or show all (f)",
                                screen.action_filter_subject)
        if self.demo is not None:
            for name in self.demo.dependencies():
                verb = "restore" if self.demo.is_broken(name) else "break"
                yield SystemCommand(
                    f"Demo: {verb} {name}",
                    f"{'Let' if verb == 'restore' else 'Stop'} the demo's {name} accept connections",
                    lambda n=name: self.run_worker(self._toggle_demo(n), group="demo"),
                )
        yield SystemCommand("Next theme", "Cycle through the dashboard's themes (t)", self.action_next_theme)
        yield SystemCommand("Reload config", "Read the config file again (ctrl+r)", self.action_reload)
        yield SystemCommand("Help", "Every key and what it does (?)", self.action_help)

    async def _toggle_demo(self, name: str) -> None:
        """Break or restore one of the demo's dependencies."""
        try:
            if self.demo.is_broken(name):
                await self.demo.restore_dependency(name)
                self.notify(f"demo: {name} accepts connections again", timeout=4, markup=False)
            else:
                await self.demo.break_dependency(name)
                self.notify(f"demo: {name} broken (connections refused)", severity="warning", timeout=4, markup=False)
        except OSError as exc:
            self.notify(f"demo: {name}: {exc.strerror or exc}", severity="error", markup=False)

    def on_overview_screen_open_detail(self, message: OverviewScreen.OpenDetail) -> None:
        self.push_screen(DetailScreen(message.check, self.config, self.snapshot, self._palette))

    # -- config reload ---------------------------------------------------------------

    async def check_config_file(self) -> None:
        """Reload when the config file changed since the last look (stat runs in a thread)."""
        if self.config_path is None:
            return
        signature = await asyncio.to_thread(_file_signature, self.config_path)
        if signature is None or signature == self._signature:
            return
        self._signature = signature
        await self.reload_config()

    async def reload_config(self) -> bool:
        """Load the config file; adopt it when valid, else keep running the old one and show why."""
        assert self.config_path is not None
        # What we are about to read: the watcher then does not reload the same file again.
        self._signature = await asyncio.to_thread(_file_signature, self.config_path)
        try:
            new = await asyncio.to_thread(load_config, self.config_path)
        except ConfigError as exc:
            self.config_errors = tuple(exc.errors)
            self.notify(
                "\n".join(exc.errors),
                title="config not reloaded, still running the previous one",
                severity="error",
                timeout=15,
                markup=False,
            )
            self.refresh_snapshot()
            return False
        if self.runtime is not None:
            await self.runtime.reload(new)
        else:
            await self.engine.reload(new)
        self.config = new
        self.config_errors = ()
        self.title = new.title
        self._apply_keymap()
        for screen in self.screen_stack:
            if isinstance(screen, DetailScreen):
                screen.set_config(new)
        n = len(new.checks)
        self.notify(f"reloaded: {n} check{'s' if n != 1 else ''}", timeout=4, markup=False)
        self.refresh_snapshot()
        return True


async def _serve(args: argparse.Namespace, config: Config | None, path: Path | None) -> int:
    from dash.cli import state_dir
    from dash.runtime import Runtime

    attach = getattr(args, "attach", None)
    if attach:
        from dash.agent.client import RemoteEngine

        remote = RemoteEngine(attach, token=getattr(args, "token", None))
        app = HealthDashApp(remote, remote.config, watch_config=False)
        try:
            await app.run_async(mouse=not getattr(args, "no_mouse", False))
        finally:
            await remote.stop()
        return 0
    demo = None
    history_dir = state_dir()
    if config is None:
        from dash.demo import start_demo  # only when asked for: it starts servers

        demo = await start_demo()
        config = demo.config
        # The demo's history lives as long as the demo: each run starts from a clean board.
        history_dir = Path(tempfile.mkdtemp(prefix="healthdash-demo-history-"))
    runtime = Runtime(config, state_dir=history_dir)
    app = HealthDashApp(runtime.engine, config, path, demo=demo, runtime=runtime)
    try:
        await app.run_async(mouse=not getattr(args, "no_mouse", False))
    finally:
        await runtime.stop()
        if demo is not None:
            await demo.stop()
            shutil.rmtree(history_dir, ignore_errors=True)
    return 0


def run_app(args: argparse.Namespace) -> int:
    """Open the dashboard for `args` (.config, .demo, .no_mouse); returns the exit status.

    Config errors are raised (as ConfigError) before the terminal is taken over.
    """
    config: Config | None = None
    path: Path | None = None
    if not getattr(args, "demo", False) and not getattr(args, "attach", None):
        path = find_config(getattr(args, "config", None))
        config = load_config(path)
    return asyncio.run(_serve(args, config, path))
