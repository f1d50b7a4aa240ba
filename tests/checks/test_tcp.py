"""The tcp check against real loopback servers."""

from __future__ import annotations

import asyncio
import gc
import socket
import warnings
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

import pytest

from checks import tcp
from checks.base import Resources
from dash.config import CheckConfig
from dash.model import Reason, Status

Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]

# The C library refuses this name without sending a query: tests never leave loopback.
UNRESOLVABLE = "no-such host!"


def config(**options: Any) -> CheckConfig:
    """A CheckConfig as the loader would build it: every declared key, defaults filled."""
    filled = {key: field.default for key, field in tcp.FIELDS.items()}
    filled.update(options)
    return CheckConfig(name="t", kind=tcp.KIND, interval=30.0, timeout=5.0, retries=0, options=filled)


async def run(**options: Any):
    return await tcp.make(config(**options), Resources()).probe()


@asynccontextmanager
async def server(handler: Handler) -> AsyncIterator[int]:
    """A loopback TCP server on a free port, running `handler` per connection.

    On exit it waits for the handlers to finish, so no socket outlives the test.
    """
    handlers: set[asyncio.Task] = set()

    async def tracked(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        handlers.add(asyncio.current_task())  # type: ignore[arg-type]
        try:
            await handler(reader, writer)
        finally:
            writer.close()

    srv = await asyncio.start_server(tracked, "127.0.0.1", 0)
    try:
        yield srv.sockets[0].getsockname()[1]
    finally:
        srv.close()
        if handlers:
            await asyncio.wait(handlers, timeout=2)
        await srv.wait_closed()


def free_port() -> int:
    """A port nobody listens on (bound then released)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


async def test_connect_only_is_ok_with_latency():
    async def handler(reader, writer):
        writer.close()

    async with server(handler) as port:
        outcome = await run(host="127.0.0.1", port=port)
    assert outcome.status is Status.OK
    assert outcome.message.startswith(f"connected to 127.0.0.1:{port} in ")
    assert outcome.message.endswith(" ms")
    assert [m.name for m in outcome.metrics] == ["latency_ms"]


async def test_send_is_raw_and_expect_is_found():
    seen: list[bytes] = []

    async def handler(reader, writer):
        seen.append(await reader.readuntil(b"\r\n"))
        writer.write(b"+PO")  # split reply: the probe must keep reading
        await writer.drain()
        await asyncio.sleep(0.01)
        writer.write(b"NG\r\n")
        await writer.drain()
        await reader.read()  # stay open until the probe closes
        writer.close()

    async with server(handler) as port:
        outcome = await run(host="localhost", port=port, send="PING\r\n", expect="+PONG")
    assert seen == [b"PING\r\n"]  # TOML's "\r\n" arrives as CR LF, untouched
    assert outcome.status is Status.OK
    assert "got '+PONG'" in outcome.message


async def test_refused_is_retryable_connect():
    port = free_port()
    outcome = await run(host="127.0.0.1", port=port)
    assert (outcome.status, outcome.reason, outcome.retryable) == (Status.CRIT, Reason.CONNECT, True)
    assert outcome.message == f"connection refused by 127.0.0.1:{port}"


async def test_unknown_host_is_dns():
    outcome = await run(host=UNRESOLVABLE, port=80)
    assert (outcome.status, outcome.reason) == (Status.CRIT, Reason.DNS)
    assert outcome.message.startswith(f"cannot resolve {UNRESOLVABLE}: ")


async def test_peer_closing_early_is_retryable_connect():
    async def handler(reader, writer):
        writer.write(b"+PO")
        await writer.drain()
        writer.close()

    async with server(handler) as port:
        outcome = await run(host="127.0.0.1", port=port, expect="+PONG")
    assert (outcome.status, outcome.reason, outcome.retryable) == (Status.CRIT, Reason.CONNECT, True)
    assert outcome.message == "connection closed by peer after 3 bytes"


async def test_other_reply_is_an_assertion_with_cleaned_text():
    async def handler(reader, writer):
        writer.write(b"-ERR \x1b[31mauth\x1b[0m required\r\n")
        await writer.drain()
        writer.close()

    async with server(handler) as port:
        outcome = await run(host="127.0.0.1", port=port, expect="+PONG")
    assert (outcome.status, outcome.reason, outcome.retryable) == (Status.CRIT, Reason.ASSERTION, False)
    assert outcome.message == "expected '+PONG', got '-ERR auth required'"
    assert "\x1b" not in outcome.detail


async def test_read_cap_stops_reading_endless_peer():
    async def handler(reader, writer):
        try:
            while True:
                writer.write(b"x" * 1024)
                await writer.drain()
        except (ConnectionError, OSError):
            pass
        finally:
            writer.close()

    async with server(handler) as port:
        outcome = await run(host="127.0.0.1", port=port, expect="never", read_bytes=4096)
    assert outcome.reason is Reason.ASSERTION
    assert outcome.message.startswith("expected 'never', got 'xxxx")


async def test_cancellation_closes_the_connection():
    closed = asyncio.Event()

    async def handler(reader, writer):
        await reader.read()  # silent peer: returns b"" once the probe hangs up
        closed.set()
        writer.close()

    gc.collect()  # earlier garbage must not be blamed on this probe
    async with server(handler) as port:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            with pytest.raises(asyncio.TimeoutError):
                await asyncio.wait_for(run(host="127.0.0.1", port=port, expect="hello"), 0.2)
            await asyncio.wait_for(closed.wait(), 2)
            gc.collect()
    # An unclosed transport would only be closed by the garbage collector, with a warning.
    assert not [w for w in caught if issubclass(w.category, ResourceWarning)]


def test_port_is_validated():
    check = tcp.FIELDS["port"].validate
    assert check(1) is None and check(65535) is None
    assert check(0) and check(70000)
