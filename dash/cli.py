"""The `healthdash` command: open the dashboard, run checks once, validate a config."""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import sys
from pathlib import Path

from dash import __version__
from dash.config import Config, ConfigError, find_config, load_config
from dash.model import CheckResult, Status
from dash.text import clean

log = logging.getLogger("healthdash")
log.addHandler(logging.NullHandler())  # never fall back to printing log records on the terminal

SYMBOLS = {Status.OK: "✔", Status.WARN: "▲", Status.CRIT: "✖", Status.UNKNOWN: "?"}
_COLOURS = {Status.OK: "32", Status.WARN: "33", Status.CRIT: "31;1", Status.UNKNOWN: "35"}


def state_dir(environ: os._Environ[str] | dict[str, str] = os.environ) -> Path:
    """Where logs and state live: $XDG_STATE_HOME/healthdash (default ~/.local/state/healthdash)."""
    base = environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(base) / "healthdash"


def setup_logging() -> Path | None:
    """Send log records (tracebacks of bugs included) to a file, never to the screen."""
    path = state_dir() / "healthdash.log"
    try:
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        handler = logging.FileHandler(path, encoding="utf-8")
        os.chmod(path, 0o600)  # tracebacks may quote outside text: owner-only, like the history
    except OSError:
        logging.getLogger().addHandler(logging.NullHandler())  # still nothing on the screen
        return None
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    # On the root logger, so library records (asyncio, aiohttp) land in the file too, not on the screen.
    root = logging.getLogger()
    root.addHandler(handler)
    root.setLevel(logging.WARNING)
    log.setLevel(logging.INFO)
    return path


def _add_config_option(parser: argparse.ArgumentParser, *, sub: bool = True) -> None:
    # On subcommands the default is SUPPRESS so `healthdash -c FILE check` keeps FILE.
    parser.add_argument(
        "-c",
        "--config",
        metavar="FILE",
        default=argparse.SUPPRESS if sub else None,
        help="config file (default: $HEALTHDASH_CONFIG, ./dash.toml, "
        "$XDG_CONFIG_HOME/healthdash/dash.toml, then the built-in example)",
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="healthdash",
        description="A terminal health dashboard for people on call.",
    )
    parser.add_argument("--version", action="version", version=f"healthdash {__version__}")
    _add_config_option(parser, sub=False)
    parser.add_argument("--demo", action="store_true", help="start built-in demo services and watch them")
    parser.add_argument("--no-mouse", action="store_true", help="do not capture the mouse")
    parser.add_argument("--attach", metavar="URL", help="show a healthdash agent's board instead of polling here")
    parser.add_argument(
        "--token-env", metavar="VAR", help="with --attach: environment variable holding the agent's bearer token"
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    run = sub.add_parser("run", help="open the dashboard (the default)")
    run.add_argument("--version", action="version", version=f"healthdash {__version__}")
    _add_config_option(run)
    run.add_argument("--demo", action="store_true", default=argparse.SUPPRESS, help="start built-in demo services and watch them")
    run.add_argument("--no-mouse", action="store_true", default=argparse.SUPPRESS, help="do not capture the mouse")
    run.add_argument("--attach", metavar="URL", default=argparse.SUPPRESS, help="show a healthdash agent's board")
    run.add_argument("--token-env", metavar="VAR", default=argparse.SUPPRESS, help="with --attach: the token's variable")

    check = sub.add_parser(
        "check",
        help="run every check once and exit with the worst status (0 ok, 1 warn, 2 crit, 3 unknown)",
        description="Run every check once, concurrently, print the results and exit with the "
        "worst status as Nagios does: 0 ok, 1 warn, 2 crit, 3 unknown.",
    )
    check.add_argument("--version", action="version", version=f"healthdash {__version__}")
    _add_config_option(check)
    check.add_argument("--format", choices=("table", "json"), default="table", help="output format")
    check.add_argument("--only", nargs="+", metavar="NAME", help="run only these checks")

    agent = sub.add_parser(
        "agent",
        help="run the checks headless and serve /metrics, /api/state and /healthz",
        description="Run the engine and alert logic without the dashboard, serving Prometheus "
        "metrics on /metrics, the board as JSON on /api/state and /healthz. Binds loopback by "
        "default; any other address needs a bearer token, and writes (acks, silences, notes) "
        "always do.",
    )
    agent.add_argument("--version", action="version", version=f"healthdash {__version__}")
    _add_config_option(agent)
    agent.add_argument("--listen", default="127.0.0.1:9108", metavar="HOST:PORT", help="address to serve on (default 127.0.0.1:9108)")
    agent.add_argument(
        "--token-env", metavar="VAR", help="environment variable holding the bearer token (never pass the token itself)"
    )

    timeline = sub.add_parser(
        "timeline",
        help="print the incident timeline from the history (Markdown or JSON)",
        description="Print status changes, alerts, acknowledgements, silences, breaker transitions "
        "and operator notes from the history, ready to paste into a post-mortem.",
    )
    timeline.add_argument("--version", action="version", version=f"healthdash {__version__}")
    _add_config_option(timeline)
    timeline.add_argument("--since", default="2h", metavar="DURATION", help='how far back, e.g. "30m", "2h", "3d" (default 2h)')
    timeline.add_argument("--format", choices=("md", "json"), default="md", help="output format (default md)")

    validate = sub.add_parser("validate", help="check a config file and report every error")
    validate.add_argument("--version", action="version", version=f"healthdash {__version__}")
    _add_config_option(validate)
    return parser


def _load(args: argparse.Namespace) -> Config:
    path = find_config(getattr(args, "config", None))
    return load_config(path)


def _print_errors(errors: list[str]) -> None:
    for line in errors:
        print(line, file=sys.stderr)


def cmd_validate(args: argparse.Namespace) -> int:
    config = _load(args)
    kinds = sorted({c.kind for c in config.checks})
    noun = "check" if len(config.checks) == 1 else "checks"
    print(f"{config.path}: ok: {len(config.checks)} {noun}" + (f" ({', '.join(kinds)})" if kinds else ""))
    return 0


def _colour(text: str, status: Status, enabled: bool) -> str:
    return f"\x1b[{_COLOURS[status]}m{text}\x1b[0m" if enabled else text


def format_table(results: list[CheckResult], *, colour: bool = False) -> str:
    """Results as a plain-text table; every cell is already neutralised text."""
    header = ("STATUS", "NAME", "KIND", "LATENCY", "REASON", "MESSAGE")
    rows = []
    for r in results:
        latency = f"{r.latency_ms:.0f} ms"
        rows.append((f"{SYMBOLS[r.status]} {r.status.value}", r.check, r.kind, latency, r.reason.value, r.message))
    widths = [max(len(header[i]), *(len(row[i]) for row in rows)) if rows else len(header[i]) for i in range(5)]
    lines = ["  ".join(h.ljust(w) for h, w in zip(header[:5], widths)) + "  " + header[5]]
    for r, row in zip(results, rows):
        cells = [row[0].ljust(widths[0]), *(row[i].ljust(widths[i]) for i in (1, 2)), row[3].rjust(widths[3]), row[4].ljust(widths[4])]
        cells[0] = _colour(cells[0], r.status, colour)
        lines.append("  ".join(cells) + "  " + row[5])
    counts = {s: sum(1 for r in results if r.status is s) for s in Status}
    summary = ", ".join(f"{n} {s.value}" for s, n in counts.items() if n) or "no checks"
    lines.append("")
    lines.append(f"{len(results)} checks: {summary}")
    return "\n".join(lines)


async def _run_checks(config: Config) -> tuple[list[CheckResult], list]:
    """Every check once, and the services' statuses that follow from the results."""
    from dash.engine.scheduler import Engine

    engine = Engine(config)
    try:
        results = await engine.run_once()
        return results, list(engine.services.values())
    finally:
        await engine.stop()


def service_dict(service) -> dict:
    """The JSON shape of one service's status."""
    return {
        "name": service.name,
        "status": service.status.value,
        "modes": list(service.modes),
        "because": list(service.because),
    }


def format_services(services: list) -> str:
    """Services as plain-text lines: status, name, and why, in words."""
    if not services:
        return ""
    width = max(len("SERVICE"), *(len(s.name) for s in services))
    lines = ["", "SERVICE".ljust(width + 2) + "STATUS    WHY"]
    for s in services:
        why = "; ".join(s.because) or "-"
        lines.append(f"{s.name.ljust(width)}  {s.status.value.ljust(8)}  {why}")
    return "\n".join(lines)


def cmd_check(args: argparse.Namespace) -> int:
    config = _load(args)
    if args.only:
        known = {c.name for c in config.checks}
        missing = [n for n in args.only if n not in known]
        if missing:
            print(f"healthdash: no such check: {', '.join(missing)}", file=sys.stderr)
            return 2
        config = Config(**{**config.__dict__, "checks": tuple(c for c in config.checks if c.name in set(args.only))})
    results, services = asyncio.run(_run_checks(config))
    worst = Status.worst([r.status for r in results])
    if args.format == "json":
        doc = {
            "checks": [r.to_dict() for r in results],
            "services": [service_dict(s) for s in services],
            "status": worst.value,
        }
        print(json.dumps(doc, indent=2, ensure_ascii=False))
    else:
        colour = sys.stdout.isatty() and "NO_COLOR" not in os.environ
        print(format_table(results, colour=colour) + format_services(services))
    return worst.exit_code


def cmd_agent(args: argparse.Namespace) -> int:
    from dash.agent import run_agent

    config = _load(args)  # first: the config may use the token's variable too
    token = None
    if args.token_env:
        token = os.environ.pop(args.token_env, None)  # exec plugins must not inherit it
        if not token:
            print(f"healthdash: environment variable {args.token_env} is not set or empty", file=sys.stderr)
            return 2
    return run_agent(config, args.listen, token)


def cmd_timeline(args: argparse.Namespace) -> int:
    import time

    from dash.config import parse_duration
    from dash.engine.persist import open_store
    from dash.store import StoreError
    from dash.timeline import to_json, to_markdown

    config = _load(args)
    try:
        since = parse_duration(args.since)
    except ValueError as exc:
        print(f"healthdash: --since: {exc}", file=sys.stderr)
        return 2
    store, why = open_store(config, state_dir())
    if store is None:
        print(f"healthdash: {why}", file=sys.stderr)
        return 2
    try:
        for warning in store.warnings:
            print(f"healthdash: {warning}", file=sys.stderr)
        until = time.time()
        entries = store.timeline(until - since, until)
    except StoreError as exc:
        print(f"healthdash: {exc}", file=sys.stderr)
        return 2
    finally:
        store.close()
    if args.format == "json":
        print(to_json(entries, redact=config.redactor))
    else:
        print(to_markdown(entries, title=config.title, since=until - since, until=until, redact=config.redactor), end="")
    return 0


def cmd_run(args: argparse.Namespace) -> int:
    from dash.tui.app import run_app

    args.token = None
    if getattr(args, "attach", None) and getattr(args, "token_env", None):
        args.token = os.environ.get(args.token_env)
        if not args.token:
            print(f"healthdash: environment variable {args.token_env} is not set or empty", file=sys.stderr)
            return 2
    return run_app(args)


def main(argv: list[str] | None = None) -> int:
    """Entry point of the `healthdash` command; returns the exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    logfile = setup_logging()
    command = args.command or "run"
    try:
        if command == "validate":
            return cmd_validate(args)
        if command == "check":
            return cmd_check(args)
        if command == "agent":
            return cmd_agent(args)
        if command == "timeline":
            return cmd_timeline(args)
        return cmd_run(args)
    except ConfigError as exc:
        _print_errors(exc.errors)
        return 2
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        return 0
    except Exception as exc:  # a bug: one line here, the traceback in the log
        log.exception("unhandled error")
        where = f" (traceback in {logfile})" if logfile else ""
        print(f"healthdash: internal error: {type(exc).__name__}: {clean(exc, limit=300)}{where}", file=sys.stderr)
        return 70
