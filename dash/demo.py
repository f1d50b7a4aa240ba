"""`healthdash --demo`: small, misbehaving dependencies to watch, with nothing to set up.

`start_demo()` starts, in-process on the running event loop and only on 127.0.0.1
(ephemeral ports), a handful of servers that each show one state, and returns the
validated config that watches them:

    healthy-api     200 {"status": "UP"}                         ok
    slow-api        answers after 400-900 ms (warn at 300 ms)    warn / threshold
    flapping-api    runs of 3-5 healthy answers, then 3-5 503s   flips every ~10-15 s
    dead-cache      a port nobody listens on                     crit / connect
    database        a PING/+PONG TCP server                      ok (breakable)
    api-us, api-eu  one small HTTP server per region             ok (breakable)
    expiring-cert   TLS, certificate expires in ~10 days         warn / threshold
    hostile-api     500 with Rich markup and escapes in it       crit / http_status
    dns-localhost   the system resolver on "localhost"           ok
    dns-nxdomain    "no-such-host.invalid" (asked of a loopback  crit / dns
                    DNS server, so the demo never leaves the machine)
    disk-plugin     a Nagios-style plugin, exit 0                ok
    load-plugin     a Nagios-style plugin, exit 1                warn / threshold
    this-host       this machine's CPU, memory, disks            whatever it is

and the services built on them (`[[service]]`):

    checkout     tier 1  requires database, healthy-api                    ok
    refunds      tier 2  requires database                                 ok
    reports      tier 3  requires database                                 ok
    storefront   tier 2  requires checkout (a service), healthy-api        ok
    public-api   tier 2  redundant api-us / api-eu (min_ok 1);             degraded:
                         optional dead-cache, dns-nxdomain                 "serving from origin, slower"
    mobile-app   tier 2  requires public-api (a service);                  degraded
                         optional hostile-api, flapping-api, slow-api

The checks that fail on purpose (or may: slow-api turns crit on a loaded machine)
are optional dependencies of services that do not need the database, so they only
degrade (P3 at most, never paged): when the shared database goes, its alert is the only P1 and names what
it took down ("P1: database crit; checkout, refunds, reports, storefront down"),
and the services' own alerts fold under it as symptoms.

Breaking things on purpose (the TUI offers these from the command palette):

    demo.dependencies()                    -> ("database", "api-us", "api-eu")
    await demo.break_dependency("database")   stop accepting: connections are refused
    await demo.restore_dependency("database") accept again, on the same port
    demo.is_broken("database")

Every interval is 2-5 s and breakers re-try after 5-20 s, so every state (and every
break and restore) is on screen within about 30 s.
`Demo.stop()` closes every server and removes the temporary files (CA, key, runbook).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import ipaddress
import json
import random
import shutil
import socket
import ssl
import struct
import sys
import tempfile
from collections.abc import Awaitable, Callable
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from pathlib import Path

from aiohttp import web
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from dash.config import Config, parse_config

HOST = "127.0.0.1"  # the demo never listens anywhere else
HOSTILE_TEXT = "[bold red]x[/] [@click=app.quit]y[/]"
# Markup plus terminal escapes: SGR colour, clear screen, an OSC 8 hyperlink and an OSC window title.
HOSTILE_BODY = (
    f"{HOSTILE_TEXT}\n"
    "\x1b[31mred\x1b[0m \x1b[2J"
    "\x1b]8;;https://example.invalid/\x07click me\x1b]8;;\x07 "
    "\x1b]0;pwned\x07\n"
)
CERT_DAYS_LEFT = 10.5  # shown as "valid for 10 days": under warn.days 21, over crit.days 7
SLOW_SECONDS = (0.4, 0.9)
FLAP_RUN = (3, 5)  # requests per healthy or failing run
DISK_PLUGIN = "print(\"DISK OK - free space: / 42% | '/'=58%;80;90;0;100\")"
LOAD_PLUGIN = (
    "import sys; print('LOAD WARNING - load average: 3.20, 2.10, 1.05 | load1=3.2;3;5;0'); sys.exit(1)"
)
RUNBOOK = """\
# dead-cache is down

The demo's cache listens on nothing: port {port} on {host} refuses every connection.

## What it means

Anything that reads through the cache falls back to the database and gets slower.

## First steps

1. Is the process running? `ss -ltnp 'sport = :{port}'`
2. Look at its last log lines: `journalctl -u cache --since -15m`
3. Restart it: `systemctl restart cache`

## Escalate

If it does not come back within 10 minutes, page **#team-demo**.
"""


Closer = Callable[[], Awaitable[None]]


class _Listener:
    """A loopback server that can stop accepting and start again on the same port.

    `open(port)` starts serving (port 0: any free port) and returns the port and a
    coroutine function that stops serving and ends every open connection.
    """

    def __init__(self, open_: Callable[[int], Awaitable[tuple[int, Closer]]]) -> None:
        self._open = open_
        self._close: Closer | None = None
        self.port = 0

    @property
    def up(self) -> bool:
        return self._close is not None

    async def start(self) -> None:
        if self._close is None:
            self.port, self._close = await self._open(self.port)

    async def stop(self) -> None:
        close, self._close = self._close, None
        if close is not None:
            await close()


@dataclass
class Demo:
    """The running demo: the config that watches it, the dependencies that can be
    broken while it runs, and `stop()` to tear it all down."""

    config: Config
    _stack: AsyncExitStack = field(default_factory=AsyncExitStack, repr=False)
    _breakable: dict[str, _Listener] = field(default_factory=dict, repr=False)
    _lock: asyncio.Lock = field(default_factory=asyncio.Lock, repr=False)

    def dependencies(self) -> tuple[str, ...]:
        """The names (check names) that `break_dependency()` can break."""
        return tuple(self._breakable)

    def is_broken(self, name: str) -> bool:
        """True while `name` is broken. KeyError for a name not in `dependencies()`."""
        return not self._listener(name).up

    async def break_dependency(self, name: str = "database") -> bool:
        """Make `name` stop accepting connections (its open connections are ended too),
        as if its process died: its check goes crit / connect "refused" and what needs
        it goes down. False when it was already broken; KeyError for an unknown name."""
        listener = self._listener(name)
        async with self._lock:
            if not listener.up:
                return False
            await listener.stop()
            return True

    async def restore_dependency(self, name: str = "database") -> bool:
        """Make `name` accept connections again, on the same port. False when it was not
        broken; KeyError for an unknown name; OSError if another program took the port."""
        listener = self._listener(name)
        async with self._lock:
            if listener.up:
                return False
            await listener.start()
            return True

    def _listener(self, name: str) -> _Listener:
        try:
            return self._breakable[name]
        except KeyError:
            raise KeyError(f"{name!r} cannot be broken; the demo can break: {', '.join(self._breakable)}") from None

    async def stop(self) -> None:
        """Close every server and connection and remove the temporary files. Safe to call twice."""
        await self._stack.aclose()


async def start_demo(*, seed: int | None = None) -> Demo:
    """Start the demo dependencies on loopback and return the config that watches them.

    `seed` makes the slow answers and the flapping pattern repeatable.
    """
    rng = random.Random(seed)
    stack = AsyncExitStack()
    try:
        tmp = Path(tempfile.mkdtemp(prefix="healthdash-demo-"))
        stack.callback(shutil.rmtree, tmp, ignore_errors=True)
        dead_port = _free_port()
        files = await asyncio.to_thread(_write_files, tmp, dead_port)

        http_port = await _start_http(stack, _Apis(rng))
        tls_port = await _start_tcp(stack, _hang_up, _server_context(files))
        dns_port = await _start_dns(stack)
        # The dependencies that can be broken each get a server of their own.
        breakable = {
            "database": _Listener(lambda port: _serve_tcp(_database, None, port)),
            "api-us": _Listener(lambda port: _serve_http(_region_app("us"), port)),
            "api-eu": _Listener(lambda port: _serve_http(_region_app("eu"), port)),
        }
        for listener in breakable.values():
            stack.push_async_callback(listener.stop)
            await listener.start()

        text = _config_text(
            http_port=http_port,
            db_port=breakable["database"].port,
            us_port=breakable["api-us"].port,
            eu_port=breakable["api-eu"].port,
            tls_port=tls_port,
            dns_port=dns_port,
            dead_port=dead_port,
            ca_file=str(files.ca),
            runbook=str(files.runbook),
        )
        config = parse_config(text, path="<demo>")
    except BaseException:
        await stack.aclose()
        raise
    return Demo(config, stack, breakable)


# --- files: a private CA, a leaf that expires soon, a runbook ----------------------------


@dataclass(frozen=True, slots=True)
class _Files:
    ca: Path
    cert: Path
    key: Path
    runbook: Path


def _write_files(tmp: Path, dead_port: int) -> _Files:
    """Generate the certificates and write them and the runbook into `tmp` (a 0700 directory)."""
    ca_pem, cert_pem, key_pem = _make_certificates(CERT_DAYS_LEFT)
    files = _Files(tmp / "demo-ca.pem", tmp / "expiring-cert.pem", tmp / "expiring-cert.key", tmp / "dead-cache.md")
    files.ca.write_bytes(ca_pem)
    files.cert.write_bytes(cert_pem)
    files.key.write_bytes(key_pem)
    files.runbook.write_text(RUNBOOK.format(host=HOST, port=dead_port), encoding="utf-8")
    return files


def _make_certificates(days_left: float) -> tuple[bytes, bytes, bytes]:
    """A private CA and a localhost/127.0.0.1 leaf expiring in `days_left` days, as PEM
    (CA certificate, leaf certificate, leaf key). EC keys: generating them is instant."""
    now = dt.datetime.now(dt.timezone.utc)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "healthdash demo"),
            x509.NameAttribute(NameOID.COMMON_NAME, "healthdash demo CA"),
        ]
    )
    ca = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=365))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(_key_usage(cert_sign=True), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    leaf_key = ec.generate_private_key(ec.SECP256R1())
    leaf = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")]))
        .issuer_name(ca_name)
        .public_key(leaf_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=days_left))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address(HOST))]
            ),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(_key_usage(cert_sign=False), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(leaf_key.public_key()), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    key_pem = leaf_key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    pem = serialization.Encoding.PEM
    return ca.public_bytes(pem), leaf.public_bytes(pem), key_pem


def _key_usage(*, cert_sign: bool) -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=not cert_sign,
        content_commitment=False,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=cert_sign,
        crl_sign=cert_sign,
        encipher_only=False,
        decipher_only=False,
    )


def _server_context(files: _Files) -> ssl.SSLContext:
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.load_cert_chain(files.cert, files.key)
    return ctx


def _free_port() -> int:
    """A loopback port nobody listens on: bind one, then let it go."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


# --- the HTTP APIs --------------------------------------------------------------------


class _Apis:
    """The HTTP endpoints, sharing one seeded random source."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self.flap_healthy = True  # the first run is healthy, so a first look is predictable
        self.flap_left = rng.randint(*FLAP_RUN)

    async def health(self, request: web.Request) -> web.Response:
        return web.json_response({"status": "UP"})

    async def slow(self, request: web.Request) -> web.Response:
        await asyncio.sleep(self.rng.uniform(*SLOW_SECONDS))
        return web.json_response({"status": "UP"})

    async def flapping(self, request: web.Request) -> web.Response:
        healthy = self.flap_healthy
        self.flap_left -= 1
        if self.flap_left <= 0:
            self.flap_healthy = not healthy
            self.flap_left = self.rng.randint(*FLAP_RUN)
        if healthy:
            return web.json_response({"status": "UP"})
        return web.json_response({"status": "DOWN", "error": "upstream pool exhausted"}, status=503)

    async def hostile(self, request: web.Request) -> web.Response:
        # aiohttp refuses control characters in the status line, so escapes go in the body only.
        return web.Response(status=500, reason=HOSTILE_TEXT, text=HOSTILE_BODY, content_type="text/plain")

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_get("/health", self.health)
        app.router.add_get("/slow", self.slow)
        app.router.add_get("/flapping", self.flapping)
        app.router.add_get("/hostile", self.hostile)
        return app


def _region_app(region: str) -> Callable[[], web.Application]:
    """One region of the public API: a health endpoint that says which region it is."""

    async def health(request: web.Request) -> web.Response:
        return web.json_response({"status": "UP", "region": region})

    def app() -> web.Application:
        app = web.Application()
        app.router.add_get("/health", health)
        return app

    return app


async def _serve_http(app: Callable[[], web.Application], port: int) -> tuple[int, Closer]:
    """Serve a fresh `app()` on `port` (0: any); returns the port and the closer."""
    # No access log: it would print over the dashboard. A short shutdown: slow answers are < 1 s.
    runner = web.AppRunner(app(), access_log=None, shutdown_timeout=1.0)
    await runner.setup()
    try:
        site = web.TCPSite(runner, HOST, port)
        await site.start()
    except BaseException:
        await runner.cleanup()
        raise
    return runner.addresses[0][1], runner.cleanup


async def _start_http(stack: AsyncExitStack, apis: _Apis) -> int:
    port, close = await _serve_http(apis.app, 0)
    stack.push_async_callback(close)
    return port


# --- raw TCP (database, TLS) ------------------------------------------------------------

Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


async def _database(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """A Redis-flavoured database: PING -> +PONG, anything else -> an error line."""
    while line := await reader.readline():
        writer.write(b"+PONG\r\n" if line.strip().upper() == b"PING" else b"-ERR unknown command\r\n")
        await writer.drain()


async def _hang_up(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """The TLS endpoint: the handshake (done before this is called) is all a tls check needs."""


async def _start_tcp(stack: AsyncExitStack, handler: Handler, ctx: ssl.SSLContext | None) -> int:
    """Serve `handler` on a loopback port until the demo stops."""
    port, close = await _serve_tcp(handler, ctx, 0)
    stack.push_async_callback(close)
    return port


async def _serve_tcp(handler: Handler, ctx: ssl.SSLContext | None, port: int) -> tuple[int, Closer]:
    """Serve `handler` on `port` (0: any); the closer also ends every open connection."""
    tasks: set[asyncio.Task[None]] = set()

    async def run(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        tasks.add(task)
        try:
            await handler(reader, writer)
        except Exception:  # a misbehaving client must not print a traceback over the dashboard
            pass
        finally:
            tasks.discard(task)
            writer.close()

    # reuse_address (asyncio's default on Unix) lets a restored server bind its old port at once.
    server = await asyncio.start_server(run, HOST, port, ssl=ctx, reuse_address=True)

    async def close() -> None:
        server.close()
        for task in list(tasks):
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await server.wait_closed()

    return server.sockets[0].getsockname()[1], close


# --- DNS: a loopback server that knows no names ------------------------------------------


class _NxDomain(asyncio.DatagramProtocol):
    """Answers every well-formed query with NXDOMAIN (RFC 1035 header, question echoed)."""

    transport: asyncio.DatagramTransport

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        if len(data) < 12:
            return
        qid, flags, qdcount = struct.unpack("!HHH", data[:6])
        if flags & 0x8000 or qdcount != 1:  # a response, or not one question: ignore
            return
        end = 12
        while end < len(data) and data[end]:
            if data[end] & 0xC0:  # compression in a question: not something a client sends
                return
            end += 1 + data[end]
        end += 5  # the root label, QTYPE and QCLASS
        if end > len(data):
            return
        # QR, the query's opcode and RD, AA, RA, rcode 3 (NXDOMAIN)
        answer = 0x8000 | (flags & 0x7900) | 0x0400 | 0x0080 | 3
        self.transport.sendto(struct.pack("!HHHHHH", qid, answer, 1, 0, 0, 0) + data[12:end], addr)


async def _start_dns(stack: AsyncExitStack) -> int:
    loop = asyncio.get_running_loop()
    transport, _ = await loop.create_datagram_endpoint(_NxDomain, local_addr=(HOST, 0))
    stack.callback(transport.close)
    return transport.get_extra_info("sockname")[1]


# --- the config ------------------------------------------------------------------------


def _q(value: object) -> str:
    """A TOML value: JSON strings and lists are valid TOML once non-ASCII is left unescaped."""
    return json.dumps(value, ensure_ascii=False)


def _config_text(
    *,
    http_port: int,
    db_port: int,
    us_port: int,
    eu_port: int,
    tls_port: int,
    dns_port: int,
    dead_port: int,
    ca_file: str,
    runbook: str,
) -> str:
    """The demo's dash.toml, validated like a user's file."""
    api = f"http://{HOST}:{http_port}"
    python = [sys.executable, "-I", "-S", "-c"]  # isolated and without site: a fast, predictable start
    return f"""\
[dashboard]
title = "healthdash demo"

[defaults]
interval = "5s"
timeout = "2s"
retries = 1

# Short open times, so a restored dependency is probed again within seconds.
[defaults.breaker]
open_for = "5s"
open_for_max = "20s"

[[check]]
name = "healthy-api"
kind = "http"
description = "answers 200 with {{\\"status\\": \\"UP\\"}}"
url = {_q(api + "/health")}
interval = "3s"
tags = ["team:demo", "tier:api"]
expect = {{ status = [200], json = {{ path = "status", equals = "UP" }} }}
slo = {{ target = 99.5, window = "7d" }}

[[check]]
name = "slow-api"
kind = "http"
description = "answers after 400-900 ms: over its 300 ms warning"
url = {_q(api + "/slow")}
interval = "4s"
timeout = "3s"
retries = 0
tags = ["team:demo", "tier:api"]
warn = {{ latency = "300ms" }}
crit = {{ latency = "2s" }}

[[check]]
name = "flapping-api"
kind = "http"
description = "healthy for a few requests, then 503 for a few"
url = {_q(api + "/flapping")}
interval = "3s"
retries = 0
tags = ["team:demo", "tier:api"]
runbook = "https://runbooks.example.com/demo/flapping-api"
expect = {{ json = {{ path = "status", equals = "UP" }} }}

[[check]]
name = "dead-cache"
kind = "tcp"
description = "nothing listens on this port"
host = {_q(HOST)}
port = {dead_port}
interval = "3s"
tags = ["team:demo", "tier:cache"]
runbook = {_q(runbook)}

[[check]]
name = "database"
kind = "tcp"
description = "a TCP server that answers PING with +PONG"
host = {_q(HOST)}
port = {db_port}
send = "PING\\r\\n"
expect = "+PONG"
interval = "3s"
tags = ["team:demo", "tier:db"]

[[check]]
name = "api-us"
kind = "http"
description = "the public API in the US region"
url = {_q(f"http://{HOST}:{us_port}/health")}
interval = "3s"
tags = ["team:demo", "tier:api", "region:us"]
expect = {{ json = {{ path = "status", equals = "UP" }} }}

[[check]]
name = "api-eu"
kind = "http"
description = "the public API in the EU region"
url = {_q(f"http://{HOST}:{eu_port}/health")}
interval = "3s"
tags = ["team:demo", "tier:api", "region:eu"]
expect = {{ json = {{ path = "status", equals = "UP" }} }}

[[check]]
name = "expiring-cert"
kind = "tls"
description = "a certificate from the demo's own CA that expires in about 10 days"
host = {_q(HOST)}
port = {tls_port}
server_name = "localhost"
ca_file = {_q(ca_file)}
tags = ["team:demo", "tier:edge"]
warn = {{ days = 21 }}
crit = {{ days = 7 }}

[[check]]
name = "hostile-api"
kind = "http"
description = "a 500 whose reason and body are full of markup and terminal escapes, shown literally"
url = {_q(api + "/hostile")}
retries = 0
tags = ["team:demo", "tier:api"]

[[check]]
name = "dns-localhost"
kind = "dns"
description = "the system resolver on localhost"
host = "localhost"
tags = ["team:demo", "tier:dns"]

[[check]]
name = "dns-nxdomain"
kind = "dns"
description = "a name that does not exist, asked of the demo's own DNS server on loopback"
host = "no-such-host.invalid"
server = {_q(f"{HOST}:{dns_port}")}
retries = 0
tags = ["team:demo", "tier:dns"]

[[check]]
name = "disk-plugin"
kind = "exec"
description = "a Nagios-style plugin that exits 0"
command = {_q([*python, DISK_PLUGIN])}
tags = ["team:demo", "tier:plugin"]

[[check]]
name = "load-plugin"
kind = "exec"
description = "a Nagios-style plugin that exits 1 (warning)"
command = {_q([*python, LOAD_PLUGIN])}
tags = ["team:demo", "tier:plugin"]

[[check]]
name = "this-host"
kind = "host"
description = "this machine: CPU, memory, swap, load, disks"
interval = "5s"
timeout = "3s"
tags = ["team:demo", "tier:host"]

# The database is shared: losing it takes down checkout, refunds, reports and storefront.
[[service]]
name = "checkout"
description = "takes orders and payments"
tier = 1
tags = ["team:demo"]
requires = ["database", "healthy-api"]
slo = {{ target = 99.9, window = "30d" }}

[[service]]
name = "refunds"
description = "pays money back"
tier = 2
tags = ["team:demo"]
requires = ["database"]

[[service]]
name = "reports"
description = "sales reports for the back office"
tier = 3
tags = ["team:demo"]
requires = ["database"]

[[service]]
name = "storefront"
description = "the web shop: nothing sells without checkout"
tier = 2
tags = ["team:demo"]
requires = ["checkout", "healthy-api"]

# Broken-on-purpose checks are optional here, away from the database: they only degrade.
[[service]]
name = "public-api"
description = "the API partners call, served from two regions behind a cache"
tier = 2
tags = ["team:demo"]
redundant = [{{ members = ["api-us", "api-eu"], min_ok = 1 }}]
optional = {{ dead-cache = "serving from origin, slower", dns-nxdomain = "partner links left out" }}

[[service]]
name = "mobile-app"
description = "the app's backend, built on the public API"
tier = 2
tags = ["team:demo"]
requires = ["public-api"]
optional = {{ hostile-api = "no recommendations shown", flapping-api = "push notifications delayed", slow-api = "search answers late" }}
"""
