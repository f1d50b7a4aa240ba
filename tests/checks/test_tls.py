"""The tls check against a real loopback TLS server with certificates made by trustme."""

from __future__ import annotations

import asyncio
import datetime as dt
import gc
import socket
import ssl
import warnings
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
import trustme
from cryptography import x509

from checks import tls
from checks.base import Resources
from dash.config import CheckConfig
from dash.model import Reason, Status

NOW = dt.datetime.now(dt.timezone.utc)
Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


def config(**options: Any) -> CheckConfig:
    """A CheckConfig as the loader would build it: every declared key, nested defaults filled."""
    filled: dict[str, Any] = {}
    for key, field in tls.FIELDS.items():
        if field.type == "table":
            filled[key] = {k: f.default for k, f in (field.fields or {}).items()}
        else:
            filled[key] = field.default
    filled.update(options)
    return CheckConfig(name="c", kind=tls.KIND, interval=60.0, timeout=5.0, retries=0, options=filled)


async def run(**options: Any):
    return await tls.make(config(**options), Resources()).probe()


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    return trustme.CA()


@pytest.fixture
def ca_file(ca: trustme.CA, tmp_path: Path) -> str:
    path = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(path))
    return str(path)


def leaf(ca: trustme.CA, *names: str, days: float = 90, start_days: float = -1) -> trustme.LeafCert:
    """A server certificate valid from `start_days` to `days` from now."""
    return ca.issue_cert(
        *(names or ("localhost", "127.0.0.1")),
        not_before=NOW + dt.timedelta(days=start_days),
        not_after=NOW + dt.timedelta(days=days),
    )


@asynccontextmanager
async def server(handler: Handler, tls_context: ssl.SSLContext | None = None) -> AsyncIterator[int]:
    """A loopback server on a free port; on exit it waits for its handlers to finish."""
    handlers: set[asyncio.Task] = set()

    async def tracked(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        handlers.add(asyncio.current_task())  # type: ignore[arg-type]
        try:
            await handler(reader, writer)
        except (OSError, ssl.SSLError):
            pass
        finally:
            writer.close()

    srv = await asyncio.start_server(tracked, "127.0.0.1", 0, ssl=tls_context)
    try:
        yield srv.sockets[0].getsockname()[1]
    finally:
        srv.close()
        if handlers:
            await asyncio.wait(handlers, timeout=2)


async def wait_for_hangup(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    await reader.read()


def tls_server(cert: trustme.LeafCert):
    """A loopback TLS server presenting `cert`; it waits for the client to hang up."""
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    cert.configure_cert(ctx)
    return server(wait_for_hangup, ctx)


async def test_valid_certificate_is_ok(ca, ca_file):
    async with tls_server(leaf(ca, days=45.5)) as port:
        outcome = await run(host="localhost", port=port, ca_file=ca_file)
    until = (NOW + dt.timedelta(days=45.5)).strftime("%Y-%m-%d")
    assert (outcome.status, outcome.reason) == (Status.OK, Reason.OK)
    issuer = f"trustme v{trustme.__version__}"  # trustme's CA has no CN: its organisation is shown
    assert outcome.message == f"certificate valid for 45 days (until {until}), issued by {issuer}"
    metrics = {m.name: m for m in outcome.metrics}
    assert 45 < metrics["days_left"].value < 46
    assert (metrics["days_left"].warn, metrics["days_left"].crit) == (21, 7)
    assert "latency_ms" in metrics


async def test_expiring_soon_warns(ca, ca_file):
    async with tls_server(leaf(ca, days=10.5)) as port:
        outcome = await run(host="localhost", port=port, ca_file=ca_file)
    assert (outcome.status, outcome.reason) == (Status.WARN, Reason.THRESHOLD)
    assert outcome.message.startswith("certificate valid for 10 days")


async def test_expiring_very_soon_is_crit_and_thresholds_are_configurable(ca, ca_file):
    async with tls_server(leaf(ca, days=3.5)) as port:
        outcome = await run(host="127.0.0.1", server_name="localhost", port=port, ca_file=ca_file)
        relaxed = await run(host="localhost", port=port, ca_file=ca_file, warn={"days": 2}, crit={"days": 1})
    assert (outcome.status, outcome.reason, outcome.retryable) == (Status.CRIT, Reason.THRESHOLD, False)
    assert outcome.message.startswith("certificate valid for 3 days")
    assert relaxed.status is Status.OK


async def test_expired_certificate_names_the_date(ca, ca_file):
    async with tls_server(leaf(ca, days=-2.5, start_days=-30)) as port:
        outcome = await run(host="localhost", port=port, ca_file=ca_file)
    expired_on = (NOW - dt.timedelta(days=2.5)).strftime("%Y-%m-%d")
    assert (outcome.status, outcome.reason, outcome.retryable) == (Status.CRIT, Reason.TLS, False)
    assert outcome.message == f"certificate expired on {expired_on}"
    assert -3 < {m.name: m.value for m in outcome.metrics}["days_left"] < -2


async def test_wrong_host_is_a_mismatch(ca, ca_file):
    async with tls_server(leaf(ca, "other.example.test")) as port:
        outcome = await run(host="localhost", port=port, ca_file=ca_file)
    assert (outcome.status, outcome.reason, outcome.retryable) == (Status.CRIT, Reason.TLS, False)
    assert outcome.message == "hostname mismatch: certificate is not valid for localhost"


async def test_unknown_ca_is_not_trusted(ca):
    async with tls_server(leaf(ca)) as port:
        outcome = await run(host="localhost", port=port)  # only the system CAs
    assert (outcome.status, outcome.reason, outcome.retryable) == (Status.CRIT, Reason.TLS, False)
    assert outcome.message.startswith("certificate not trusted: unable to get local issuer certificate")


async def test_other_ca_file_is_not_trusted_either(ca, tmp_path):
    other = tmp_path / "other.pem"
    trustme.CA().cert_pem.write_to_path(str(other))
    async with tls_server(leaf(ca)) as port:
        outcome = await run(host="localhost", port=port, ca_file=str(other))
    assert outcome.message.startswith("certificate not trusted: ")


async def test_unreadable_ca_file(tmp_path):
    missing = tmp_path / "missing.pem"
    outcome = await run(host="localhost", port=443, ca_file=str(missing))
    assert (outcome.status, outcome.reason) == (Status.CRIT, Reason.TLS)
    assert outcome.message.startswith(f"cannot load ca_file {missing}: ")


async def test_refused_is_retryable_connect():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    outcome = await run(host="127.0.0.1", port=port)
    assert (outcome.status, outcome.reason, outcome.retryable) == (Status.CRIT, Reason.CONNECT, True)
    assert outcome.message == f"connection refused by 127.0.0.1:{port}"


async def test_plain_tcp_peer_that_hangs_up_is_retryable():
    async def handler(reader, writer):
        pass  # accepts, then closes before any handshake

    async with server(handler) as port:
        outcome = await run(host="127.0.0.1", port=port)
    assert (outcome.status, outcome.reason, outcome.retryable) == (Status.CRIT, Reason.CONNECT, True)
    assert f"127.0.0.1:{port}" in outcome.message  # reset or EOF, depending on timing


async def test_cancelled_during_handshake_closes_the_socket():
    closed = asyncio.Event()

    async def handler(reader, writer):
        await reader.read()  # never answers the ClientHello
        closed.set()

    gc.collect()  # earlier garbage must not be blamed on this probe
    async with server(handler) as port:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            with pytest.raises(asyncio.TimeoutError):
                await asyncio.wait_for(run(host="127.0.0.1", port=port), 0.2)
            await asyncio.wait_for(closed.wait(), 2)
            gc.collect()
    assert not [w for w in caught if issubclass(w.category, ResourceWarning)]


def test_der_not_after_matches_cryptography(ca):
    far = ca.issue_cert("x.test", not_after=dt.datetime(2051, 6, 1, tzinfo=dt.timezone.utc))  # GeneralizedTime
    for cert in (leaf(ca, days=400), leaf(ca, days=-3, start_days=-10), far):
        der = ssl.PEM_cert_to_DER_cert(cert.cert_chain_pems[0].bytes().decode())
        expected = x509.load_der_x509_certificate(der).not_valid_after_utc.timestamp()
        assert tls.der_not_after(der) == expected
    assert tls.der_not_after(b"\x30\x03\x02\x01") is None
