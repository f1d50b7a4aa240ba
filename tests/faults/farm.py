"""The fault suite's servers, each group in a child process of its own.

    python -m tests.faults.farm faulty DIR    # broken HTTP, bad-cert TLS, a silent port, NXDOMAIN DNS
    python -m tests.faults.farm healthy DIR   # a plain FaultFarm serving /ok

A child prints one JSON line with its ports, then serves until its stdin closes
(so it never outlives the parent). Children, not threads: a busy fault farm
(TLS handshakes, endless bodies) must not take the GIL from the engine under
test, and the healthy server must not queue behind the faulty one.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]


@dataclass(frozen=True, slots=True)
class FarmAddresses:
    """Where everything listens (all on 127.0.0.1)."""

    faulty_port: int  # plain HTTP FaultFarm with every broken endpoint
    healthy_port: int  # plain HTTP FaultFarm in another process, for the healthy checks
    tls_ports: dict[str, int]  # "expired" / "untrusted" / "wrong_host" -> HTTPS FaultFarm port
    ca_file: str  # PEM of the CA that issued the expired and wrong-host certificates
    silent_port: int  # accept backlog full and never served: connects hang
    dns_server: str  # "127.0.0.1:<port>" answering NXDOMAIN to everything


def _serve(role: str, directory: str) -> None:
    """Child side: start the servers of `role`, print their ports, serve until stdin closes."""
    import trustme

    from tests.servers import FaultFarm, NxDomainDns, SilentListener, bad_tls_contexts

    started: list[Any] = []
    try:
        if role == "healthy":
            started.append(FaultFarm().start())
            info: dict[str, Any] = {"http": started[0].port}
        elif role == "faulty":
            ca = trustme.CA()
            ca_file = os.path.join(directory, "fault-ca.pem")
            ca.cert_pem.write_to_path(ca_file)
            plain = FaultFarm().start()
            started.append(plain)
            tls_ports = {}
            for name, ctx in bad_tls_contexts(ca).items():
                farm = FaultFarm(ssl_context=ctx).start()
                started.append(farm)
                tls_ports[name] = farm.port
            silent = SilentListener().start()
            dns = NxDomainDns().start()
            started += [silent, dns]
            info = {"http": plain.port, "tls": tls_ports, "ca_file": ca_file, "silent": silent.port, "dns": dns.server}
        else:
            raise SystemExit(f"unknown role {role!r}: faulty or healthy")
        print(json.dumps(info), flush=True)
        sys.stdin.read()  # until the parent closes our stdin (or dies)
    finally:
        for server in reversed(started):
            server.stop()


class FarmProcess:
    """One child process of servers; `info` is what it printed."""

    def __init__(self, role: str, directory: str) -> None:
        self.role = role
        self.directory = directory
        self.proc: subprocess.Popen[str] | None = None
        self.info: dict[str, Any] = {}

    def start(self) -> "FarmProcess":
        """Start the child and wait for its ports."""
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "tests.faults.farm", self.role, self.directory],
            cwd=ROOT,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        if not line:
            self.stop()
            raise RuntimeError(f"the {self.role} farm did not start")
        self.info = json.loads(line)
        return self

    def stop(self) -> None:
        """Close its stdin (it stops serving and exits); kill it if it lingers."""
        proc, self.proc = self.proc, None
        if proc is None:
            return
        for pipe in (proc.stdin, proc.stdout):
            if pipe is not None:
                pipe.close()
        try:
            proc.wait(5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)


class Farms:
    """Both farm processes, as a context manager yielding their `FarmAddresses`."""

    def __init__(self, directory: str) -> None:
        self.faulty = FarmProcess("faulty", directory)
        self.healthy = FarmProcess("healthy", directory)

    def __enter__(self) -> FarmAddresses:
        try:
            f = self.faulty.start().info
            h = self.healthy.start().info
        except BaseException:
            self.__exit__()
            raise
        return FarmAddresses(
            faulty_port=f["http"],
            healthy_port=h["http"],
            tls_ports=dict(f["tls"]),
            ca_file=f["ca_file"],
            silent_port=f["silent"],
            dns_server=f["dns"],
        )

    def __exit__(self, *exc: object) -> None:
        self.healthy.stop()
        self.faulty.stop()


if __name__ == "__main__":
    _serve(sys.argv[1], sys.argv[2])
