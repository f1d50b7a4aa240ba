"""The dns check: the system resolver, and a real UDP DNS server on loopback."""

from __future__ import annotations

import asyncio
import gc
import ipaddress
import os
import struct
import warnings
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import pytest

from checks import dns
from checks.base import Resources
from dash.config import CheckConfig
from dash.model import Reason, Status

# The C library refuses this name without sending a query: tests never leave loopback.
UNRESOLVABLE = "no-such host!"


def config(**options: Any) -> CheckConfig:
    """A CheckConfig as the loader would build it: every declared key, defaults filled."""
    filled = {key: field.default for key, field in dns.FIELDS.items()}
    filled.update(options)
    return CheckConfig(name="d", kind=dns.KIND, interval=30.0, timeout=5.0, retries=0, options=filled)


async def run(**options: Any):
    return await dns.make(config(**options), Resources()).probe()


# ---- a tiny authoritative server: behaviour chosen by the first label ---------------


def _answer(rtype: int, rdata: bytes) -> bytes:
    # Name as a compression pointer to the question (offset 12), class IN, TTL 60.
    return b"\xc0\x0c" + struct.pack("!HHIH", rtype, 1, 60, len(rdata)) + rdata


class FakeDns(asyncio.DatagramProtocol):
    """Answers `ok.*` with two A (or AAAA) records, `alias.*` with a CNAME then an A,
    `empty.*` with no records, `nx.*` with NXDOMAIN, `fail.*` with SERVFAIL, and never
    answers `silent.*`. Every reply is preceded by a stray packet with the wrong id."""

    def __init__(self) -> None:
        self.queries: list[bytes] = []

    def connection_made(self, transport: asyncio.DatagramTransport) -> None:  # type: ignore[override]
        self.transport = transport

    def datagram_received(self, data: bytes, addr: Any) -> None:
        self.queries.append(data)
        qid = struct.unpack("!H", data[:2])[0]
        end = data.index(b"\x00", 12) + 5  # end of the single question
        question = data[12:end]
        qtype = struct.unpack("!H", data[end - 4 : end - 2])[0]
        first = question[1 : 1 + question[0]].decode()
        rcode, answers = 0, []
        if first == "silent":
            return
        if first == "ok":
            if qtype == 1:
                answers = [_answer(1, bytes([10, 0, 0, 1])), _answer(1, bytes([10, 0, 0, 2]))]
            else:
                answers = [_answer(28, ipaddress.IPv6Address("fd00::1").packed)]
        elif first == "alias":
            target = b"\x02ok\xc0\x12"  # "ok." + pointer into the question's suffix
            answers = [_answer(5, target), _answer(1, bytes([10, 0, 0, 9]))]
        elif first == "nx":
            rcode = 3
        elif first == "fail":
            rcode = 2
        header = struct.pack("!HHHHHH", qid, 0x8180 | rcode, 1, len(answers), 0, 0)
        stray = struct.pack("!HHHHHH", qid ^ 0xFFFF, 0x8180, 1, 0, 0, 0) + question
        self.transport.sendto(stray, addr)
        self.transport.sendto(header + question + b"".join(answers), addr)


@asynccontextmanager
async def fake_dns() -> AsyncIterator[tuple[str, FakeDns]]:
    loop = asyncio.get_running_loop()
    transport, proto = await loop.create_datagram_endpoint(FakeDns, local_addr=("127.0.0.1", 0))
    try:
        yield f"127.0.0.1:{transport.get_extra_info('sockname')[1]}", proto
    finally:
        transport.close()


# ---- the system resolver ---------------------------------------------------------------


async def test_system_resolver_localhost_is_ok():
    outcome = await run(host="localhost", expect=["127.0.0.1"])
    assert outcome.status is Status.OK
    assert outcome.message.startswith("resolved localhost to 127.0.0.1")
    assert [m.name for m in outcome.metrics] == ["latency_ms"]


async def test_system_resolver_nxdomain_is_not_retryable():
    outcome = await run(host=UNRESOLVABLE)
    assert (outcome.status, outcome.reason) == (Status.CRIT, Reason.DNS)
    if outcome.retryable:
        pytest.skip(f"this machine's resolver cannot answer: {outcome.message}")
    assert outcome.message == "NXDOMAIN: name does not exist"


async def test_system_resolver_expect_mismatch():
    outcome = await run(host="localhost", expect=["127.0.0.1", "127.0.0.53"])
    assert (outcome.status, outcome.reason) == (Status.CRIT, Reason.ASSERTION)
    assert outcome.message.startswith("expected 127.0.0.53 for localhost, got 127.0.0.1")


# ---- a server of our own ----------------------------------------------------------------


async def test_server_answers_a_records():
    async with fake_dns() as (server, proto):
        outcome = await run(host="ok.example.test", server=server, expect=["10.0.0.2"])
    assert outcome.status is Status.OK
    assert outcome.message.startswith("resolved ok.example.test to 10.0.0.1, 10.0.0.2 in ")
    assert outcome.message.endswith(f" ms via {server}")
    assert len(proto.queries) == 1
    assert proto.queries[0][12:].startswith(b"\x02ok\x07example\x04test\x00\x00\x01\x00\x01")


async def test_server_answers_aaaa_and_expect_is_normalised():
    async with fake_dns() as (server, _):
        outcome = await run(host="ok.example.test", server=server, record="AAAA", expect=["FD00:0::1"])
    assert outcome.status is Status.OK
    assert "to fd00::1 in" in outcome.message


async def test_cname_chain_yields_the_address():
    async with fake_dns() as (server, _):
        outcome = await run(host="alias.example.test", server=server)
    assert outcome.status is Status.OK
    assert "to 10.0.0.9 in" in outcome.message


async def test_server_nxdomain():
    async with fake_dns() as (server, _):
        outcome = await run(host="nx.example.test", server=server)
    assert (outcome.status, outcome.reason, outcome.retryable) == (Status.CRIT, Reason.DNS, False)
    assert outcome.message == "NXDOMAIN: name does not exist"


async def test_server_servfail_is_retryable():
    async with fake_dns() as (server, _):
        outcome = await run(host="fail.example.test", server=server)
    assert (outcome.status, outcome.reason, outcome.retryable) == (Status.CRIT, Reason.DNS, True)
    assert outcome.message.startswith("DNS server failure")


async def test_no_records_of_that_type():
    async with fake_dns() as (server, _):
        outcome = await run(host="empty.example.test", server=server)
    assert (outcome.status, outcome.reason) == (Status.CRIT, Reason.DNS)
    assert outcome.message == "no A record for empty.example.test"


async def test_expected_address_missing():
    async with fake_dns() as (server, _):
        outcome = await run(host="ok.example.test", server=server, expect=["10.0.0.1", "10.0.0.3"])
    assert (outcome.status, outcome.reason) == (Status.CRIT, Reason.ASSERTION)
    assert outcome.message == "expected 10.0.0.3 for ok.example.test, got 10.0.0.1, 10.0.0.2"


def open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


@pytest.mark.skipif(not os.path.isdir("/proc/self/fd"), reason="counts open sockets through /proc")
async def test_silent_server_is_cancelled_cleanly():
    gc.collect()  # earlier garbage must not be blamed on this probe
    async with fake_dns() as (server, proto):
        before = open_fds()
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            with pytest.raises(asyncio.TimeoutError):
                await asyncio.wait_for(run(host="silent.example.test", server=server), 0.5)
            gc.collect()
            await asyncio.sleep(0)  # UDP transports close their socket on the next loop turn
        after = open_fds()
    assert after == before  # the query socket was closed on cancellation
    assert len(proto.queries) == 1  # one query, no retransmission before a second passes
    assert not [w for w in caught if issubclass(w.category, ResourceWarning)]
    assert not [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]


# ---- the wire format ---------------------------------------------------------------------


def test_parse_rejects_truncated_packets():
    with pytest.raises(ValueError):
        dns.parse_response(b"\x00" * 5, 1)
    header = struct.pack("!HHHHHH", 1, 0x8180, 0, 1, 0, 0)
    with pytest.raises(ValueError):
        dns.parse_response(header + b"\x05ab", 1)  # label runs past the end


def test_build_query_rejects_bad_names():
    with pytest.raises(ValueError):
        dns.build_query(1, "a" * 64 + ".test", 1)
    with pytest.raises(ValueError):
        dns.build_query(1, "a..b", 1)


def test_server_option_is_validated():
    assert dns.parse_server("10.0.0.53") == ("10.0.0.53", 53)
    assert dns.parse_server("127.0.0.1:5353") == ("127.0.0.1", 5353)
    assert dns.parse_server("[::1]:5353") == ("::1", 5353)
    assert dns.parse_server("::1") == ("::1", 53)
    validate = dns.FIELDS["server"].validate
    assert validate("dns.example.com") and validate("127.0.0.1:0") and validate("[::1")
    assert dns.FIELDS["expect"].validate(["10.0.0.1", "nope"])
