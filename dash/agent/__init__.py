"""The headless agent: serves an engine's board as Prometheus metrics and JSON.

    server = await serve(engine, host="127.0.0.1", port=0, token=None)
    ... server.port, server.url ...
    await server.stop()

    run_agent(config, "127.0.0.1:9108", token)   # `healthdash agent`: blocks until SIGINT/SIGTERM

`dash.agent.wire` turns snapshots into the `/api/state` document and back.
"""

from dash.agent.notes import MemoryNotes, Note, NoteSink
from dash.agent.server import (
    DEFAULT_LISTEN,
    AgentError,
    AgentServer,
    check_exposure,
    is_loopback,
    parse_listen,
    run_agent,
    serve,
)
from dash.agent.wire import WireError, WireExtras, extras_from_json, snapshot_from_json, snapshot_to_json

__all__ = [
    "DEFAULT_LISTEN",
    "AgentError",
    "AgentServer",
    "MemoryNotes",
    "Note",
    "NoteSink",
    "WireError",
    "WireExtras",
    "check_exposure",
    "extras_from_json",
    "is_loopback",
    "parse_listen",
    "run_agent",
    "serve",
    "snapshot_from_json",
    "snapshot_to_json",
]
