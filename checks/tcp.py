"""`kind = "tcp"`: connect to a port, optionally send a line and look for a reply.

    [[check]]
    name = "redis"
    kind = "tcp"
    host = "127.0.0.1"
    port = 6379
    send = "PING\\r\\n"        # TOML basic strings turn \\r\\n into CR LF; sent as given
    expect = "+PONG"           # found anywhere in the first `read_bytes` bytes

Without `expect` the check passes once the connection is open. With it, the
probe reads until the text appears, the peer closes, or `read_bytes` arrive.
A peer that never answers is cut off by the engine's deadline (cancellation).
"""

from __future__ import annotations

import asyncio
import socket
import time
from typing import TYPE_CHECKING

from checks.base import Field, Probe, Resources
from dash.model import Metric, Outcome, Reason, Status
from dash.text import clean

if TYPE_CHECKING:
    from dash.config import CheckConfig

KIND = "tcp"


def _port(value: int) -> str | None:
    return None if 1 <= value <= 65535 else "must be a port number between 1 and 65535"


def _positive(value: int) -> str | None:
    return None if value > 0 else "must be more than 0 bytes"


FIELDS: dict[str, Field] = {
    "host": Field("str", required=True, help="host name or address to connect to"),
    "port": Field("int", required=True, validate=_port, help="TCP port"),
    "send": Field("str", help="text to send once connected (UTF-8, sent as given)"),
    "expect": Field("str", help="text that must appear in what the peer sends back"),
    "read_bytes": Field(
        "size", default=64 * 1024, validate=_positive, help="most bytes read while looking for `expect`"
    ),
}

_CHUNK = 4096


def _ms(seconds: float) -> float:
    return round(seconds * 1000.0, 1)


class TcpProbe(Probe):
    """Opens a TCP connection, optionally exchanges text, and closes it."""

    def __init__(self, host: str, port: int, send: str | None, expect: str | None, read_bytes: int) -> None:
        self.host = host
        self.port = port
        self.send = send.encode("utf-8") if send else b""
        self.expect = expect.encode("utf-8") if expect else b""
        self.read_bytes = max(1, read_bytes)
        self.target = f"{host}:{port}"

    async def probe(self) -> Outcome:
        """Connect, send, look for `expect`; every failure becomes an Outcome."""
        started = time.perf_counter()
        writer: asyncio.StreamWriter | None = None
        try:
            try:
                reader, writer = await asyncio.open_connection(self.host, self.port)
            except socket.gaierror as exc:
                return _dns_failure(self.host, exc)
            connected = time.perf_counter() - started
            if self.send:
                writer.write(self.send)
                await writer.drain()
            received = await self._read_until_expected(reader) if self.expect else b""
        except ConnectionRefusedError:
            return Outcome(Status.CRIT, Reason.CONNECT, f"connection refused by {self.target}", retryable=True)
        except OSError as exc:  # unreachable, reset, broken pipe: usually transient
            why = clean(exc.strerror or exc, limit=200)
            return Outcome(Status.CRIT, Reason.CONNECT, f"cannot connect to {self.target}: {why}", retryable=True)
        finally:
            if writer is not None:
                writer.close()  # also runs on cancellation: never leak the socket
        total = time.perf_counter() - started
        metrics = (Metric("latency_ms", _ms(total), "ms"),)
        message = f"connected to {self.target} in {_ms(connected):.0f} ms"
        if not self.expect:
            return Outcome.ok(message, metrics)
        if self.expect in received:
            return Outcome.ok(f"{message}, got '{clean(self.expect, limit=60)}' in {_ms(total):.0f} ms", metrics)
        if len(received) < self.read_bytes and self.expect.startswith(received):
            # The peer hung up before saying anything that contradicts the expectation.
            return Outcome(
                Status.CRIT,
                Reason.CONNECT,
                f"connection closed by peer after {len(received)} bytes",
                metrics,
                retryable=True,
            )
        got = clean(received, limit=60)
        return Outcome(
            Status.CRIT,
            Reason.ASSERTION,
            f"expected '{clean(self.expect, limit=60)}', got '{got}'",
            metrics,
            detail=clean(received, limit=2000, one_line=False),
        )

    async def _read_until_expected(self, reader: asyncio.StreamReader) -> bytes:
        """Read until `expect` is seen, the peer closes, or `read_bytes` arrive."""
        data = b""
        while self.expect not in data and len(data) < self.read_bytes:
            chunk = await reader.read(min(_CHUNK, self.read_bytes - len(data)))
            if not chunk:
                break
            data += chunk
        return data


def _dns_failure(host: str, exc: socket.gaierror) -> Outcome:
    """A resolver error for the host name as an Outcome (temporary failures are retryable)."""
    temporary = exc.errno == socket.EAI_AGAIN
    why = clean(exc.strerror or exc, limit=200)
    return Outcome(Status.CRIT, Reason.DNS, f"cannot resolve {host}: {why}", retryable=temporary)


def make(check: "CheckConfig", resources: Resources) -> Probe:
    """Build the probe for one `[[check]]` of kind tcp."""
    o = check.options
    read_bytes = o.get("read_bytes") or FIELDS["read_bytes"].default
    return TcpProbe(o["host"], int(o["port"]), o.get("send"), o.get("expect"), int(read_bytes))
