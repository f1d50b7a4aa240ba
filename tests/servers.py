"""Loopback servers for tests and benchmarks: a "fault farm" of broken HTTP endpoints.

`FaultFarm` is a tiny HTTP/1.1 server (keep-alive, Content-Length bodies) written on
raw asyncio streams, so it can misbehave in ways a real framework will not: hang
after accepting, trickle a body, send an endless body, reset the connection. It runs
in a background thread with its own event loop, so it works from sync and async
tests alike and never competes with the code under test for the test's loop.

    with FaultFarm() as farm:                       # plain HTTP on 127.0.0.1
        farm.url("/status/503")
    with FaultFarm(ssl_context=ctx) as farm:        # HTTPS
        farm.url("/ok", host="localhost")

Endpoints:
    /ok              200 {"status":"UP"}
    /status/<code>   that status, body "<code> <phrase>"
    /slow/<ms>       waits <ms> then answers like /ok
    /hang            accepts and reads the request, never answers
    /trickle         headers (no length, Connection: close), then one byte per second
                     (`?every=<ms>` changes the pace)
    /huge            an endless body of "x" (no length, Connection: close), streamed until
                     the client goes away; `?declare=1` sends Content-Length: 10 GiB
    /reset           reads the request, then resets the connection (TCP RST)
    /badjson         200 application/json with a truncated document
    /redirect-loop   302 to itself
    /markup          200 text/plain full of Rich markup and terminal escapes
    /headers         200 JSON of the request headers (names lower-cased)
    /flap            alternates 200 {"status":"UP"} and 503, counted per full target (so
                     `/flap?check=7` flaps on its own); `?run=<n>` alternates runs of n
    anything else    404

Also here, for the fault suite (tests/faults/, bench/faults.py):
    bad_tls_contexts(ca)  server contexts whose certificate is expired, self-signed or
                          for another host: serve them with FaultFarm(ssl_context=...)
    SilentListener        a TCP port whose accept backlog is full and never served:
                          connects hang at the TCP level (SYNs are dropped)
    NxDomainDns           a UDP DNS server on loopback that answers NXDOMAIN to everything
"""

from __future__ import annotations

import asyncio
import datetime as dt
import functools
import json
import socket
import ssl
import struct
import threading
from http import HTTPStatus
from typing import Any
from urllib.parse import parse_qs, urlsplit

HUGE_SIZE = 10 * 1024**3  # what /huge?declare=1 claims
MARKUP_BODY = "[bold red]x[/] \x1b]8;;http://evil\x07click\x1b]8;;\x07 \x1b[31mred\n"
_CHUNK = b"x" * 65536


def _phrase(code: int) -> str:
    try:
        return HTTPStatus(code).phrase
    except ValueError:
        return "Unknown"


def _head(code: int, headers: dict[str, str]) -> bytes:
    lines = [f"HTTP/1.1 {code} {_phrase(code)}"]
    lines += [f"{k}: {v}" for k, v in headers.items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


class FaultFarm:
    """A loopback HTTP(S) server with broken endpoints, in its own thread and loop.

    `requests` and `connections` count what was served, for tests that need to know
    whether a request was sent or a connection reused. `last_headers` holds the
    headers of the most recent request.
    """

    def __init__(self, ssl_context: ssl.SSLContext | None = None, host: str = "127.0.0.1") -> None:
        self.ssl_context = ssl_context
        self.host = host
        self.port = 0
        self.requests = 0
        self.connections = 0
        self.last_headers: dict[str, str] = {}
        self._loop: asyncio.AbstractEventLoop | None = None
        self._server: asyncio.base_events.Server | None = None
        self._thread: threading.Thread | None = None
        self._tasks: set[asyncio.Task[Any]] = set()
        self._flaps: dict[str, int] = {}  # /flap: requests seen per full target

    # --- lifecycle -------------------------------------------------------------

    def start(self) -> "FaultFarm":
        """Start serving; returns once the port is bound."""
        ready = threading.Event()
        failure: list[BaseException] = []

        def run() -> None:
            loop = asyncio.new_event_loop()
            self._loop = loop
            try:
                self._server = loop.run_until_complete(
                    asyncio.start_server(
                        self._serve, self.host, 0, ssl=self.ssl_context, backlog=1024
                    )
                )
                self.port = self._server.sockets[0].getsockname()[1]
            except BaseException as exc:  # report bind errors to the starting thread
                failure.append(exc)
                ready.set()
                loop.close()
                return
            ready.set()
            try:
                loop.run_forever()
            finally:
                loop.close()

        self._thread = threading.Thread(target=run, name="fault-farm", daemon=True)
        self._thread.start()
        ready.wait(10)
        if failure:
            raise failure[0]
        return self

    def stop(self) -> None:
        """Drop every connection and stop the thread."""
        loop, thread = self._loop, self._thread
        if loop is None or thread is None or not thread.is_alive():
            return

        async def shutdown() -> None:
            assert self._server is not None
            self._server.close()
            for task in list(self._tasks):
                task.cancel()
            await asyncio.gather(*self._tasks, return_exceptions=True)
            loop.stop()

        asyncio.run_coroutine_threadsafe(shutdown(), loop)
        thread.join(10)

    def __enter__(self) -> "FaultFarm":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def open_connections(self) -> int:
        """Connections the server is still holding (a closed client shows up here quickly)."""
        return len(self._tasks)

    @property
    def scheme(self) -> str:
        return "https" if self.ssl_context else "http"

    def url(self, path: str = "/ok", host: str | None = None) -> str:
        """The full URL of `path`; `host` may name the server differently (e.g. localhost)."""
        return f"{self.scheme}://{host or self.host}:{self.port}{path}"

    # --- serving ---------------------------------------------------------------

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        self.connections += 1
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                request_line, *header_lines = head.decode("latin-1").split("\r\n")
                method, target, _version = request_line.split(" ", 2)
                headers: dict[str, str] = {}
                for line in header_lines:
                    if ":" in line:
                        name, value = line.split(":", 1)
                        headers[name.strip().lower()] = value.strip()
                if headers.get("transfer-encoding", "").lower() == "chunked":
                    await self._skip_chunked(reader)
                elif length := int(headers.get("content-length", "0") or 0):
                    await reader.readexactly(length)
                self.requests += 1
                self.last_headers = headers
                keep_alive = await self._route(method, target, headers, reader, writer)
                if not keep_alive or headers.get("connection", "").lower() == "close":
                    break
        except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, ConnectionError, ValueError):
            pass  # client went away or sent garbage
        except ssl.SSLError:
            pass  # e.g. a client that rejected our certificate
        except asyncio.CancelledError:
            pass  # stop(): end quietly
        finally:
            self._tasks.discard(task)
            writer.close()

    @staticmethod
    async def _skip_chunked(reader: asyncio.StreamReader) -> None:
        while True:
            size = int((await reader.readuntil(b"\r\n")).split(b";")[0], 16)
            await reader.readexactly(size + 2)  # data and its CRLF
            if size == 0:  # trailers are not supported; none are sent in practice
                return

    async def _route(
        self,
        method: str,
        target: str,
        headers: dict[str, str],
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
    ) -> bool:
        """Answer one request; False means close the connection afterwards."""
        send = functools.partial(self._send, writer, head_only=method == "HEAD")
        parts = urlsplit(target)
        path, query = parts.path, parse_qs(parts.query)
        if path == "/ok":
            return await send(200, b'{"status":"UP"}', "application/json")
        if path.startswith("/status/"):
            code = int(path.rsplit("/", 1)[1])
            return await send(code, f"{code} {_phrase(code)}\n".encode())
        if path.startswith("/slow/"):
            await asyncio.sleep(int(path.rsplit("/", 1)[1]) / 1000)
            return await send(200, b'{"status":"UP"}', "application/json")
        if path == "/hang":
            await reader.read()  # never answer; returns only when the client goes away
            return False
        if path == "/trickle":
            every = int(query.get("every", ["1000"])[0]) / 1000
            writer.write(_head(200, {"Content-Type": "text/plain", "Connection": "close"}))
            while True:
                await writer.drain()
                await asyncio.sleep(every)
                writer.write(b"x")
        if path == "/huge":
            # Endless body, or with ?declare=1 an honest Content-Length of 10 GiB.
            if query.get("declare"):
                head = {"Content-Type": "text/plain", "Content-Length": str(HUGE_SIZE)}
            else:
                head = {"Content-Type": "text/plain", "Connection": "close"}
            writer.write(_head(200, head))
            while True:
                writer.write(_CHUNK)
                await writer.drain()  # raises once the client has gone
        if path == "/reset":
            sock = writer.get_extra_info("socket")
            # Linger on with timeout 0: close() sends RST instead of FIN.
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            writer.transport.abort()
            return False
        if path == "/badjson":
            return await send(200, b'{"status": "UP", "items": [1, 2', "application/json")
        if path == "/redirect-loop":
            return await send(302, b"", extra={"Location": "/redirect-loop"})
        if path == "/markup":
            return await send(200, MARKUP_BODY.encode())
        if path == "/headers":
            return await send(200, json.dumps(headers).encode(), "application/json")
        if path == "/flap":
            seen = self._flaps.get(target, 0)
            self._flaps[target] = seen + 1
            run = max(1, int(query.get("run", ["1"])[0]))
            if (seen // run) % 2 == 0:
                return await send(200, b'{"status":"UP"}', "application/json")
            return await send(503, b"503 Service Unavailable\n")
        return await send(404, b"not found\n")

    @staticmethod
    async def _send(
        writer: asyncio.StreamWriter,
        code: int,
        body: bytes,
        content_type: str = "text/plain",
        extra: dict[str, str] | None = None,
        head_only: bool = False,
    ) -> bool:
        if code < 200 or code in (204, 304):  # these never carry a body
            headers = dict(extra or {})
            body = b""
        else:
            headers = {"Content-Type": content_type, "Content-Length": str(len(body)), **(extra or {})}
        writer.write(_head(code, headers) + (b"" if head_only else body))
        await writer.drain()
        return True


def server_context(cert: Any) -> ssl.SSLContext:
    """A server-side SSLContext presenting a `trustme.LeafCert`."""
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    cert.configure_cert(ctx)
    return ctx


def bad_tls_contexts(ca: Any) -> dict[str, ssl.SSLContext]:
    """Server contexts a client trusting `ca` (a `trustme.CA`) must reject, by fault:

    "expired"     issued by `ca` for localhost and 127.0.0.1, expired yesterday;
    "untrusted"   a self-signed certificate (a CA of its own, trusted by nobody);
    "wrong_host"  issued by `ca`, valid, but only for other.example.test.
    """
    import trustme  # only the TLS variant needs it

    now = dt.datetime.now(dt.timezone.utc)
    expired = ca.issue_cert(
        "localhost", "127.0.0.1", not_before=now - dt.timedelta(days=30), not_after=now - dt.timedelta(days=1)
    )
    stranger = trustme.CA(organization_name="nobody trusts me")
    untrusted = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    # The CA's own certificate as the leaf: self-signed, and its issuer is in no trust store.
    with stranger.cert_pem.tempfile() as cert, stranger.private_key_pem.tempfile() as key:
        untrusted.load_cert_chain(cert, key)
    return {
        "expired": server_context(expired),
        "untrusted": untrusted,
        "wrong_host": server_context(ca.issue_cert("other.example.test")),
    }


class SilentListener:
    """A listening TCP port on loopback that never accepts, with its backlog already full.

    The kernel drops further SYNs while the accept queue is full, so a connect to
    `port` never completes: "accept and never answer" at the TCP level. `start()`
    fills the queue with connections of its own and checks that one more hangs.
    """

    def __init__(self, host: str = "127.0.0.1") -> None:
        self.host = host
        self.port = 0
        self._listener: socket.socket | None = None
        self._fillers: list[socket.socket] = []

    def start(self) -> "SilentListener":
        """Listen (backlog 0), fill the queue, and verify a new connect cannot complete."""
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.bind((self.host, 0))
        listener.listen(0)
        self._listener = listener
        self.port = listener.getsockname()[1]
        for _ in range(16):  # the queue holds backlog + 1 on Linux; a few spare tries
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            sock.settimeout(0.3)
            try:
                sock.connect((self.host, self.port))
            except (TimeoutError, socket.timeout):
                sock.close()  # this one hung: the queue is full
                return self
            self._fillers.append(sock)
        self.stop()
        raise RuntimeError("the accept queue never filled: connects would not hang")

    def stop(self) -> None:
        """Close the fillers and the listener."""
        for sock in self._fillers:
            sock.close()
        self._fillers.clear()
        if self._listener is not None:
            self._listener.close()
            self._listener = None

    def __enter__(self) -> "SilentListener":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


class NxDomainDns:
    """A UDP DNS server on loopback, in a thread, answering NXDOMAIN to every query.

    `server` is the "127.0.0.1:<port>" a dns check's `server` key takes; `queries`
    counts what was answered.
    """

    def __init__(self, host: str = "127.0.0.1") -> None:
        self.host = host
        self.port = 0
        self.queries = 0
        self._sock: socket.socket | None = None
        self._thread: threading.Thread | None = None
        self._stopping = threading.Event()

    @property
    def server(self) -> str:
        return f"{self.host}:{self.port}"

    def start(self) -> "NxDomainDns":
        """Bind and start answering; returns once the port is bound."""
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        sock.bind((self.host, 0))
        sock.settimeout(0.2)  # wake up now and then to notice stop()
        self._sock = sock
        self.port = sock.getsockname()[1]
        self._thread = threading.Thread(target=self._serve, name="nxdomain-dns", daemon=True)
        self._thread.start()
        return self

    def _serve(self) -> None:
        assert self._sock is not None
        while not self._stopping.is_set():
            try:
                data, addr = self._sock.recvfrom(512)
            except (TimeoutError, socket.timeout):
                continue
            except OSError:
                return
            if len(data) < 12:
                continue
            try:
                end = data.index(b"\x00", 12) + 5  # end of the single question
            except ValueError:
                continue
            qid = data[:2]
            # QR, opcode 0, RD and RA set, RCODE 3 (NXDOMAIN); the question echoed, no answers.
            header = qid + struct.pack("!HHHHH", 0x8183, 1, 0, 0, 0)
            self._sock.sendto(header + data[12:end], addr)
            self.queries += 1

    def stop(self) -> None:
        """Stop answering and close the socket."""
        self._stopping.set()
        if self._thread is not None:
            self._thread.join(2)
        if self._sock is not None:
            self._sock.close()
            self._sock = None

    def __enter__(self) -> "NxDomainDns":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
