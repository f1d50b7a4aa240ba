"""A minimal keep-alive HTTP server on loopback, in its own process, for benchmarks."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys

BODY = b'{"status": "UP"}'
RESPONSE = (
    b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: "
    + str(len(BODY)).encode()
    + b"\r\n\r\n"
    + BODY
)


FAILED = b"HTTP/1.1 503 Service Unavailable\r\nContent-Length: 4\r\n\r\ndown"
FLAP_RUN = 5  # /flap... answers this many 200s, then as many 503s, per URL
_flaps: dict[bytes, int] = {}


def _answer(head: bytes) -> bytes:
    """200 for every path, except /flap... which alternates runs of 200 and 503 per URL."""
    line = head.split(b"\r\n", 1)[0]
    if b" /flap" not in line:
        return RESPONSE
    n = _flaps.get(line, 0)
    _flaps[line] = n + 1
    return RESPONSE if (n // FLAP_RUN) % 2 == 0 else FAILED


class _Http(asyncio.Protocol):
    """Answers every request on a keep-alive connection (see `_answer`)."""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        self.buf = b""

    def data_received(self, data: bytes) -> None:
        self.buf += data
        while b"\r\n\r\n" in self.buf:
            head, self.buf = self.buf.split(b"\r\n\r\n", 1)
            self.transport.write(_answer(head))  # type: ignore[attr-defined]


def serve(port_fd: int) -> None:
    async def main() -> None:
        loop = asyncio.get_running_loop()
        server = await loop.create_server(_Http, "127.0.0.1", 0, backlog=4096)
        port = server.sockets[0].getsockname()[1]
        os.write(port_fd, f"{port}\n".encode())
        await server.serve_forever()

    asyncio.run(main())


def start_server() -> tuple[subprocess.Popen, int]:
    """Start the server in a child process; returns it and its port."""
    r, w = os.pipe()
    proc = subprocess.Popen([sys.executable, os.path.abspath(__file__), str(w)], pass_fds=(w,))
    os.close(w)
    with os.fdopen(r) as pipe:
        port = int(pipe.readline())
    return proc, port


if __name__ == "__main__":
    serve(int(sys.argv[1]))
