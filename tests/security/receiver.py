"""A loopback HTTP server for security tests: it records every request and echoes what it was
sent (path, query, credentials) back in its answers, the way a careless server would."""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass(frozen=True)
class Request:
    method: str
    path: str  # with the query string
    headers: dict[str, str]  # names lower-cased
    body: bytes


class Receiver:
    """`GET /echo...` answers 500 with the request echoed in the body; `POST /hook...` answers
    401 with the credentials echoed; anything else answers 200 "{}". Runs in its own thread."""

    def __init__(self) -> None:
        self.requests: list[Request] = []
        self._lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def _record(self) -> Request:
                length = int(self.headers.get("Content-Length") or 0)
                headers = {k.lower(): v for k, v in self.headers.items()}
                request = Request(self.command, self.path, headers, self.rfile.read(length))
                with receiver._lock:
                    receiver.requests.append(request)
                return request

            def _answer(self, status: int, body: bytes) -> None:
                self.send_response(status)
                self.send_header("Content-Type", "text/plain")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_GET(self) -> None:  # noqa: N802 - the http.server protocol
                r = self._record()
                if r.path.startswith("/echo"):
                    echo = f"you asked for {r.path} with {r.headers.get('authorization')} and {r.headers.get('x-literal-token')}"
                    self._answer(500, echo.encode())
                else:
                    self._answer(200, b"{}")

            def do_POST(self) -> None:  # noqa: N802
                r = self._record()
                if r.path.startswith("/hook"):
                    self._answer(401, f"denied: {r.headers.get('authorization')} for {r.path}".encode())
                else:
                    self._answer(200, b"{}")

            def log_message(self, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def seen(self, prefix: str) -> list[Request]:
        with self._lock:
            return [r for r in self.requests if r.path.startswith(prefix)]

    def bodies(self, prefix: str) -> list[Any]:
        return [json.loads(r.body) for r in self.seen(prefix)]

    def __enter__(self) -> "Receiver":
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
