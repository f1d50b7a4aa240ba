"""`kind = "dns"`: resolve a name and, optionally, require certain addresses.

    [[check]]
    name = "api dns"
    kind = "dns"
    host = "api.internal"
    record = "A"                      # or "AAAA"
    expect = ["10.0.0.1", "10.0.0.2"] # every listed address must be in the answer
    server = "10.0.0.53:53"           # optional: ask this server directly over UDP

`expect` means "all of": each listed address must be among the answers (the
answer may hold more). Without `server` the system resolver answers (through
`loop.getaddrinfo`, which runs in a thread and never blocks the loop); with it,
a minimal DNS client sends one query over UDP, resending every second until an
answer comes or the engine's deadline cancels it.
"""

from __future__ import annotations

import asyncio
import ipaddress
import random
import socket
import struct
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

from checks.base import Field, Probe, Resources
from dash.model import Metric, Outcome, Reason, Status
from dash.text import clean

if TYPE_CHECKING:
    from dash.config import CheckConfig

KIND = "dns"

_TYPES = {"A": 1, "AAAA": 28}
_FAMILIES = {"A": socket.AF_INET, "AAAA": socket.AF_INET6}
_RESEND_EVERY = 1.0  # seconds between UDP retransmissions
_SHOWN = 8  # addresses named in a message before "(+N more)"


def parse_server(value: str) -> tuple[str, int]:
    """"IP", "IP:PORT", "IPv6" or "[IPv6]:PORT" -> (ip, port); raises ValueError."""
    text = value.strip()
    port = 53
    if text.startswith("["):
        ip, sep, rest = text[1:].partition("]")
        if not sep or (rest and not rest.startswith(":")):
            raise ValueError(value)
        if rest:
            port = int(rest[1:])
    elif text.count(":") == 1:
        ip, _, p = text.partition(":")
        port = int(p)
    else:
        ip = text
    ipaddress.ip_address(ip)
    if not 1 <= port <= 65535:
        raise ValueError(value)
    return ip, port


def _valid_server(value: str) -> str | None:
    try:
        parse_server(value)
    except ValueError:
        return 'must be an IP address with an optional port, e.g. "10.0.0.53" or "10.0.0.53:5353"'
    return None


def _valid_addresses(values: list[str]) -> str | None:
    for v in values:
        try:
            ipaddress.ip_address(v)
        except ValueError:
            return f"must be a list of IP addresses ({v!r} is not one)"
    return None


FIELDS: dict[str, Field] = {
    "host": Field("str", required=True, help="the name to resolve"),
    "expect": Field(
        "str_list", validate=_valid_addresses, help="addresses that must all be in the answer"
    ),
    "record": Field("str", default="A", choices=("A", "AAAA"), help="record type to ask for"),
    "server": Field(
        "str", validate=_valid_server, help='DNS server "IP" or "IP:PORT" to ask directly (UDP)'
    ),
}


class DnsFailure(Exception):
    """A lookup that did not produce addresses, already phrased as an Outcome."""

    def __init__(self, outcome: Outcome) -> None:
        super().__init__(outcome.message)
        self.outcome = outcome


def _crit(message: str, *, retryable: bool = False, reason: Reason = Reason.DNS) -> DnsFailure:
    return DnsFailure(Outcome(Status.CRIT, reason, message, retryable=retryable))


def _nxdomain() -> DnsFailure:
    return _crit("NXDOMAIN: name does not exist")


def _no_data(record: str, host: str) -> DnsFailure:
    return _crit(f"no {record} record for {host}")


# ---- the minimal DNS client (RFC 1035) -----------------------------------------


def build_query(qid: int, host: str, qtype: int) -> bytes:
    """One recursive query for `host`; raises ValueError for names DNS cannot carry."""
    header = struct.pack("!HHHHHH", qid, 0x0100, 1, 0, 0, 0)  # RD set, one question
    name = b""
    for label in host.rstrip(".").split("."):
        raw = label.encode("idna")
        if not 0 < len(raw) < 64:
            raise ValueError(f"invalid label {label!r}")
        name += bytes([len(raw)]) + raw
    if len(name) > 254:
        raise ValueError("name too long")
    return header + name + b"\x00" + struct.pack("!HH", qtype, 1)


def _skip_name(packet: bytes, offset: int) -> int:
    """Offset just past the (possibly compressed) name starting at `offset`."""
    while True:
        if offset >= len(packet):
            raise ValueError("name runs past the end")
        length = packet[offset]
        if length & 0xC0 == 0xC0:  # a compression pointer ends the name in place
            return offset + 2
        if length & 0xC0:
            raise ValueError("bad label type")
        if length == 0:
            return offset + 1
        offset += 1 + length


@dataclass(frozen=True, slots=True)
class Answer:
    """What a DNS response said: its id, rcode and the addresses of the asked type."""

    qid: int
    is_response: bool
    rcode: int
    addresses: tuple[str, ...]


def parse_response(packet: bytes, qtype: int) -> Answer:
    """Parse header and answer records; raises ValueError on a malformed packet.

    Names are skipped, not decoded, so compression pointers cannot loop: each RR
    name is followed only as far as its first pointer.
    """
    if len(packet) < 12:
        raise ValueError("short header")
    qid, flags, qdcount, ancount, _, _ = struct.unpack("!HHHHHH", packet[:12])
    offset = 12
    for _ in range(qdcount):
        offset = _skip_name(packet, offset) + 4
    found: list[str] = []
    for _ in range(ancount):
        offset = _skip_name(packet, offset)
        if offset + 10 > len(packet):
            raise ValueError("record header runs past the end")
        rtype, rclass, _ttl, rdlength = struct.unpack("!HHIH", packet[offset : offset + 10])
        offset += 10
        rdata = packet[offset : offset + rdlength]
        if len(rdata) != rdlength:
            raise ValueError("record data runs past the end")
        offset += rdlength
        if rtype == qtype and rclass == 1:  # CNAMEs in the chain are skipped
            if rtype == 1 and rdlength == 4:
                found.append(str(ipaddress.IPv4Address(rdata)))
            elif rtype == 28 and rdlength == 16:
                found.append(str(ipaddress.IPv6Address(rdata)))
    return Answer(qid, bool(flags & 0x8000), flags & 0x000F, tuple(found))


class _Receiver(asyncio.DatagramProtocol):
    """Hands the first matching response (or a socket error) to a future."""

    def __init__(self, qid: int, qtype: int) -> None:
        self.qid = qid
        self.qtype = qtype
        self.answer: asyncio.Future[Answer] = asyncio.get_running_loop().create_future()

    def datagram_received(self, data: bytes, addr: object) -> None:
        if self.answer.done():
            return
        try:
            answer = parse_response(data, self.qtype)
        except ValueError:
            if len(data) >= 2 and data[:2] == struct.pack("!H", self.qid):
                self.answer.set_exception(_crit("malformed DNS response"))
            return
        if answer.qid == self.qid and answer.is_response:  # anything else is stray: ignore
            self.answer.set_result(answer)

    def error_received(self, exc: Exception) -> None:
        if not self.answer.done():
            self.answer.set_exception(exc)

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.answer.done():  # closed by us (None) or by a socket error
            if exc is None:
                self.answer.cancel()
            else:
                self.answer.set_exception(exc)


async def query_server(ip: str, port: int, host: str, record: str) -> tuple[str, ...]:
    """Ask `ip:port` for `record`s of `host` over UDP; raises DnsFailure or OSError."""
    qtype = _TYPES[record]
    qid = random.randrange(0x10000)
    try:
        query = build_query(qid, host, qtype)
    except (ValueError, UnicodeError) as exc:
        raise _crit(f"invalid name {clean(host, limit=100)}: {clean(exc, limit=100)}") from None
    loop = asyncio.get_running_loop()
    transport, receiver = await loop.create_datagram_endpoint(
        lambda: _Receiver(qid, qtype), remote_addr=(ip, port)
    )
    try:
        while True:
            transport.sendto(query)
            done, _ = await asyncio.wait({receiver.answer}, timeout=_RESEND_EVERY)
            if done:
                answer = receiver.answer.result()
                break
    finally:
        transport.close()  # also on cancellation: the engine's deadline ends the wait
    if answer.rcode == 3:
        raise _nxdomain()
    if answer.rcode == 2:
        raise _crit("DNS server failure (SERVFAIL)", retryable=True)
    if answer.rcode == 5:
        raise _crit(f"query refused by DNS server {ip}:{port}")
    if answer.rcode != 0:
        raise _crit(f"DNS server answered with error code {answer.rcode}")
    if not answer.addresses:
        raise _no_data(record, host)
    return answer.addresses


# ---- the system resolver -----------------------------------------------------------


async def query_system(host: str, record: str) -> tuple[str, ...]:
    """Ask the system resolver (in a thread, via the loop); raises DnsFailure."""
    loop = asyncio.get_running_loop()
    try:
        infos = await loop.getaddrinfo(host, None, family=_FAMILIES[record], type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        if exc.errno == socket.EAI_NONAME:
            raise _nxdomain() from None
        if exc.errno == socket.EAI_AGAIN:
            raise _crit("DNS server failure: temporary failure in name resolution", retryable=True) from None
        if exc.errno in (getattr(socket, "EAI_NODATA", -5), getattr(socket, "EAI_ADDRFAMILY", -9)):
            raise _no_data(record, host) from None
        raise _crit(f"cannot resolve {host}: {clean(exc.strerror or exc, limit=200)}") from None
    except UnicodeError as exc:
        raise _crit(f"invalid name {clean(host, limit=100)}: {clean(exc, limit=100)}") from None
    addresses: dict[str, None] = {}  # ordered and without duplicates
    for *_, sockaddr in infos:
        addresses[str(ipaddress.ip_address(sockaddr[0]))] = None
    if not addresses:
        raise _no_data(record, host)
    return tuple(addresses)


# ---- the probe -------------------------------------------------------------------------


def _listing(addresses: tuple[str, ...] | list[str]) -> str:
    shown = ", ".join(addresses[:_SHOWN])
    return shown + (f" (+{len(addresses) - _SHOWN} more)" if len(addresses) > _SHOWN else "")


class DnsProbe(Probe):
    """Resolves one name and checks the expected addresses are there."""

    def __init__(self, host: str, record: str, expect: list[str], server: str | None) -> None:
        self.host = host
        self.record = record
        self.expect = [str(ipaddress.ip_address(a)) for a in expect]  # normalised, e.g. IPv6 forms
        self.server = parse_server(server) if server else None

    async def probe(self) -> Outcome:
        """Resolve and compare; every failure becomes an Outcome."""
        started = time.perf_counter()
        try:
            if self.server is None:
                addresses = await query_system(self.host, self.record)
            else:
                addresses = await query_server(*self.server, self.host, self.record)
        except DnsFailure as failure:
            return failure.outcome
        except OSError as exc:  # e.g. ICMP port unreachable from the DNS server
            ip, port = self.server or ("system resolver", 0)
            why = clean(exc.strerror or exc, limit=200)
            return Outcome(
                Status.CRIT, Reason.CONNECT, f"cannot reach DNS server {ip}:{port}: {why}", retryable=True
            )
        elapsed = time.perf_counter() - started
        metrics = (Metric("latency_ms", round(elapsed * 1000.0, 1), "ms"),)
        missing = [a for a in self.expect if a not in addresses]
        if missing:
            return Outcome(
                Status.CRIT,
                Reason.ASSERTION,
                f"expected {_listing(missing)} for {self.host}, got {_listing(addresses)}",
                metrics,
            )
        via = f" via {self.server[0]}:{self.server[1]}" if self.server else ""
        return Outcome.ok(
            f"resolved {self.host} to {_listing(addresses)} in {elapsed * 1000.0:.0f} ms{via}", metrics
        )


def make(check: "CheckConfig", resources: Resources) -> Probe:
    """Build the probe for one `[[check]]` of kind dns."""
    o = check.options
    return DnsProbe(o["host"], o.get("record") or "A", list(o.get("expect") or ()), o.get("server"))
