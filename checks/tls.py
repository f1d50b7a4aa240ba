"""`kind = "tls"`: verify a server's certificate and warn before it expires.

    [[check]]
    name = "api cert"
    kind = "tls"
    host = "api.example.com"
    port = 443
    server_name = "api.example.com"   # SNI and the name checked; defaults to host
    ca_file = "/etc/ssl/internal-ca.pem"  # trusted in addition to the system CAs
    warn = { days = 21 }
    crit = { days = 7 }

Status is crit when fewer than `crit.days` days remain, warn when fewer than
`warn.days`. A certificate that fails verification is crit with reason tls and a
message that says which way it failed (expired, not trusted, wrong host name).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import socket
import ssl
import time
from typing import TYPE_CHECKING, Any

from checks.base import Field, Probe, Resources
from dash.model import Metric, Outcome, Reason, Status
from dash.text import clean

if TYPE_CHECKING:
    from dash.config import CheckConfig

KIND = "tls"


def _port(value: int) -> str | None:
    return None if 1 <= value <= 65535 else "must be a port number between 1 and 65535"


def _days(value: int) -> str | None:
    return None if value >= 0 else "must be 0 or more days"


FIELDS: dict[str, Field] = {
    "host": Field("str", required=True, help="host name or address to connect to"),
    "port": Field("int", default=443, validate=_port, help="TLS port"),
    "server_name": Field("str", help="name sent as SNI and checked against the certificate (default: host)"),
    "ca_file": Field("str", help="PEM file of CA certificates trusted in addition to the system ones"),
    "warn": Field(
        "table",
        fields={"days": Field("int", default=21, validate=_days, help="warn when fewer days remain")},
    ),
    "crit": Field(
        "table",
        fields={"days": Field("int", default=7, validate=_days, help="crit when fewer days remain")},
    ),
}

# OpenSSL X509_V_ERR_* codes that deserve their own words.
_EXPIRED = 10
_NOT_YET_VALID = 9
_UNTRUSTED = {18, 19, 20, 21}  # self-signed, self-signed in chain, unknown issuer, unverifiable leaf
_NAME_MISMATCH = {62, 64}  # host name, IP address

_DAY = 86400.0


def _table_days(options: Any, key: str) -> int:
    """`warn.days` / `crit.days`, tolerating an unset table."""
    table = options.get(key) or {}
    days = table.get("days")
    return int(days if days is not None else FIELDS[key].fields["days"].default)  # type: ignore[index]


def _ms(seconds: float) -> float:
    return round(seconds * 1000.0, 1)


def _date(epoch: float) -> str:
    return dt.datetime.fromtimestamp(epoch, dt.timezone.utc).strftime("%Y-%m-%d")


def _issuer(cert: dict) -> str:
    """The issuer's common name, else its organisation, cleaned for display."""
    names: dict[str, str] = {}
    for rdn in cert.get("issuer", ()):
        for key, value in rdn:
            names.setdefault(key, value)
    return clean(names.get("commonName") or names.get("organizationName") or "an unnamed issuer", limit=80)


def der_not_after(der: bytes) -> float | None:
    """The notAfter of a DER certificate as epoch seconds, or None if unreadable.

    A few lines of DER walking (Certificate -> tbsCertificate -> validity) so the
    expired-certificate path needs nothing beyond the standard library.
    """

    def element(buf: bytes, off: int) -> tuple[int, int, int]:
        tag, length = buf[off], buf[off + 1]
        start = off + 2
        if length & 0x80:  # long form: the next (length & 0x7f) bytes hold it
            count = length & 0x7F
            length = int.from_bytes(buf[start : start + count], "big")
            start += count
        return tag, start, start + length

    try:
        _, cert_start, _ = element(der, 0)
        _, off, _ = element(der, cert_start)  # inside tbsCertificate
        tag, _, end = element(der, off)
        if tag == 0xA0:  # explicit version
            off = end
        for _ in range(3):  # serialNumber, signature, issuer
            _, _, off = element(der, off)
        _, validity, _ = element(der, off)
        _, _, after_off = element(der, validity)  # skip notBefore
        tag, start, end = element(der, after_off)
        text = der[start:end].decode("ascii").rstrip("Z")
        if tag == 0x17:  # UTCTime YYMMDDHHMMSS: years 50-99 are 19xx
            year = int(text[:2])
            text = f"{1900 + year if year >= 50 else 2000 + year}{text[2:]}"
        stamp = dt.datetime.strptime(text[:14], "%Y%m%d%H%M%S").replace(tzinfo=dt.timezone.utc)
        return stamp.timestamp()
    except (IndexError, ValueError, UnicodeDecodeError):
        return None


class TlsProbe(Probe):
    """Handshakes with verification on and reports the certificate's remaining days."""

    def __init__(
        self,
        host: str,
        port: int,
        server_name: str | None,
        ca_file: str | None,
        warn_days: int,
        crit_days: int,
        resources: Resources,
    ) -> None:
        self.host = host
        self.port = port
        self.server_name = server_name or host
        self.ca_file = ca_file
        self.warn_days = warn_days
        self.crit_days = crit_days
        self.resources = resources
        self.target = f"{host}:{port}"

    def _context(self) -> ssl.SSLContext:
        """One verifying context per ca_file, shared by every tls check (loading CAs costs)."""
        key = ("tls.context", self.ca_file)
        ctx = self.resources.cache.get(key)
        if ctx is None:
            ctx = ssl.create_default_context()
            if self.ca_file:
                ctx.load_verify_locations(cafile=self.ca_file)
            self.resources.cache[key] = ctx
        return ctx

    async def probe(self) -> Outcome:
        """Handshake, verify, and grade the days left; every failure becomes an Outcome."""
        try:
            ctx = self._context()
        except (OSError, ValueError) as exc:
            why = clean(getattr(exc, "strerror", None) or exc, limit=200)
            return Outcome(Status.CRIT, Reason.TLS, f"cannot load ca_file {clean(self.ca_file)}: {why}")
        started = time.perf_counter()
        writer: asyncio.StreamWriter | None = None
        try:
            _, writer = await asyncio.open_connection(
                self.host, self.port, ssl=ctx, server_hostname=self.server_name
            )
            cert = writer.get_extra_info("peercert") or {}
        except ssl.SSLCertVerificationError as exc:
            return await self._verify_failure(exc, time.perf_counter() - started)
        except (ssl.SSLEOFError, ssl.SSLZeroReturnError):  # peer hung up mid-handshake
            return Outcome(
                Status.CRIT, Reason.CONNECT, f"{self.target} closed the connection during the TLS handshake",
                retryable=True,
            )
        except ssl.SSLError as exc:
            why = clean(exc.reason or exc, limit=200)
            return Outcome(Status.CRIT, Reason.TLS, f"TLS handshake with {self.target} failed: {why}")
        except socket.gaierror as exc:
            why = clean(exc.strerror or exc, limit=200)
            temporary = exc.errno == socket.EAI_AGAIN
            return Outcome(Status.CRIT, Reason.DNS, f"cannot resolve {self.host}: {why}", retryable=temporary)
        except ConnectionRefusedError:
            return Outcome(Status.CRIT, Reason.CONNECT, f"connection refused by {self.target}", retryable=True)
        except OSError as exc:
            why = clean(exc.strerror or exc, limit=200)
            return Outcome(Status.CRIT, Reason.CONNECT, f"cannot connect to {self.target}: {why}", retryable=True)
        finally:
            if writer is not None:
                writer.close()  # no need to wait for the peer's close_notify
        latency = time.perf_counter() - started
        return self._grade(cert, latency)

    def _grade(self, cert: dict, latency: float) -> Outcome:
        """Status from the days left on a verified certificate."""
        try:
            not_after = float(ssl.cert_time_to_seconds(cert["notAfter"]))
        except (KeyError, ValueError):
            return Outcome(Status.CRIT, Reason.TLS, "the server's certificate has no readable expiry date")
        days = (not_after - time.time()) / _DAY
        metrics = (self._days_left(not_after), Metric("latency_ms", _ms(latency), "ms"))
        message = f"certificate valid for {int(days)} days (until {_date(not_after)}), issued by {_issuer(cert)}"
        if days < self.crit_days:
            return Outcome(Status.CRIT, Reason.THRESHOLD, message, metrics)
        if days < self.warn_days:
            return Outcome(Status.WARN, Reason.THRESHOLD, message, metrics)
        return Outcome.ok(message, metrics)

    def _days_left(self, not_after: float) -> Metric:
        days = (not_after - time.time()) / _DAY  # wall clock: expiry is a calendar date
        return Metric("days_left", round(days, 1), "d", warn=self.warn_days, crit=self.crit_days)

    async def _verify_failure(self, exc: ssl.SSLCertVerificationError, latency: float) -> Outcome:
        """Say which way verification failed; none of these heal by retrying."""
        code = exc.verify_code
        why = clean(exc.verify_message or exc.reason or exc, limit=200)
        metrics: tuple[Metric, ...] = (Metric("latency_ms", _ms(latency), "ms"),)
        if code == _EXPIRED:
            not_after = await self._unverified_not_after()
            if not_after is None:
                message = "certificate expired"
            else:
                message = f"certificate expired on {_date(not_after)}"
                metrics = (self._days_left(not_after),) + metrics
        elif code == _NOT_YET_VALID:
            message = f"certificate not yet valid: {why}"
        elif code in _UNTRUSTED:
            message = f"certificate not trusted: {why}"
        elif code in _NAME_MISMATCH:
            message = f"hostname mismatch: certificate is not valid for {clean(self.server_name, limit=100)}"
        else:
            message = f"certificate verification failed: {why}"
        return Outcome(Status.CRIT, Reason.TLS, message, metrics)

    async def _unverified_not_after(self) -> float | None:
        """Handshake again without verification, only to read the expiry date."""
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE  # this connection is never trusted: only read a date
        writer: asyncio.StreamWriter | None = None
        try:
            _, writer = await asyncio.open_connection(
                self.host, self.port, ssl=ctx, server_hostname=self.server_name
            )
            ssl_object = writer.get_extra_info("ssl_object")
            der = ssl_object.getpeercert(binary_form=True) if ssl_object else None
        except (OSError, ValueError):
            return None
        finally:
            if writer is not None:
                writer.close()
        return der_not_after(der) if der else None


def make(check: "CheckConfig", resources: Resources) -> Probe:
    """Build the probe for one `[[check]]` of kind tls."""
    o = check.options
    return TlsProbe(
        o["host"],
        int(o.get("port") or 443),
        o.get("server_name"),
        o.get("ca_file"),
        _table_days(o, "warn"),
        _table_days(o, "crit"),
        resources,
    )
