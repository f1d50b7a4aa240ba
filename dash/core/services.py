"""Services: check statuses rolled up into service health with named degraded modes.

Pure: no I/O, no clock. `evaluate()` turns the latest status of every check into a
`ServiceStatus` per configured service, in dependency order (services may require
services). The rules, for each dependency of a service:

    required check        crit -> down;  warn -> degraded, mode "<name> warn"
    required service      down -> down;  degraded -> degraded, inheriting its modes
    optional dependency   crit/down -> degraded with its mode text;
                          warn -> degraded "<name> warn"; degraded service -> its modes
    redundant group       fewer than min_ok members up -> degraded (its mode, or
                          "running on N of M (a, b)"); none up -> down. A member is up
                          when ok or warn (a service: ok or degraded).
    unknown               a dependency with no result yet, or read unknown because the
                          monitor is offline, makes the service unknown, unless something
                          else already takes it down.

Precedence: down > unknown > degraded > ok. `root_causes` are the checks behind the
service's status (down: what takes it down; degraded: what degrades it).

The canary rule (`monitor_offline`): if ANY canary check (the monitor's own resolver,
gateway, ...) is crit, the monitor's own network is in doubt, so every network check
(every kind except the local ones in `LOCAL_KINDS`) reads unknown ("monitor offline")
for services and alerts. Canaries keep their real status: their alert is the root cause.
Any, not all: each canary is a precondition of the network checks, and one broken
resolver is enough to fail every check by hostname.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass

from dash.config import CheckConfig, ServiceConfig
from dash.model import Status

# Kinds that do not leave this machine; every other kind (http, tcp, dns, tls,
# breakers and future remote kinds) needs the monitor's network.
LOCAL_KINDS = frozenset({"host", "exec"})
OFFLINE = "monitor offline"
NO_RESULT = "no result yet"


class ServiceHealth(str, enum.Enum):
    """A service's verdict."""

    OK = "ok"
    DEGRADED = "degraded"
    DOWN = "down"
    UNKNOWN = "unknown"

    @property
    def rank(self) -> int:
        """Precedence when combining: down > unknown > degraded > ok."""
        return _RANK[self]


_RANK = {ServiceHealth.OK: 0, ServiceHealth.DEGRADED: 1, ServiceHealth.UNKNOWN: 2, ServiceHealth.DOWN: 3}


@dataclass(frozen=True, slots=True)
class ServiceStatus:
    """One service at one moment.

    `modes` are the active degraded-mode texts; `because` short human reasons, the
    most serious first ("orders-db crit", "cache crit: serving from origin, slower");
    `root_causes` the names of the checks ultimately responsible for `status`.
    """

    name: str
    status: ServiceHealth
    modes: tuple[str, ...] = ()
    because: tuple[str, ...] = ()
    root_causes: tuple[str, ...] = ()
    tier: int = 3


@dataclass(frozen=True, slots=True)
class _Effect:
    """What one dependency (or group) does to a service."""

    health: ServiceHealth
    because: str
    modes: tuple[str, ...] = ()
    roots: tuple[str, ...] = ()


def is_network(kind: str) -> bool:
    """True for check kinds that need the monitor's own network."""
    return kind not in LOCAL_KINDS


def monitor_offline(canaries: Iterable[str], check_status: Mapping[str, Status]) -> bool:
    """True when any canary check is crit: the monitor's own network is in doubt."""
    return any(check_status.get(name) is Status.CRIT for name in canaries)


def offline_checks(
    checks: Iterable[CheckConfig], canaries: Collection[str], check_status: Mapping[str, Status]
) -> frozenset[str]:
    """The checks that read unknown ("monitor offline") right now: every network check
    but the canaries while the monitor is offline, none otherwise."""
    if not monitor_offline(canaries, check_status):
        return frozenset()
    return frozenset(c.name for c in checks if is_network(c.kind) and c.name not in canaries)


def evaluate(
    services: Sequence[ServiceConfig],
    check_status: Mapping[str, Status],
    *,
    offline: Collection[str] = frozenset(),
) -> dict[str, ServiceStatus]:
    """Every service's status, in config order, from the latest status of each check.

    A check missing from `check_status` has no result yet; checks in `offline` read
    unknown because the monitor is offline (see `offline_checks`). Raises ValueError on
    a dependency cycle (the config loader rejects those).
    """
    by_name = {s.name: s for s in services}
    out: dict[str, ServiceStatus] = {}
    visiting: set[str] = set()

    def service(name: str) -> ServiceStatus:
        if name in out:
            return out[name]
        if name in visiting:
            raise ValueError(f"service cycle through {name}")
        visiting.add(name)
        s = by_name[name]
        out[name] = _combine(s, list(_effects(s, service, by_name, check_status, offline)))
        visiting.discard(name)
        return out[name]

    for name in _dependencies_first(services):  # each call then finds its dependencies done
        service(name)
    return {s.name: out[s.name] for s in services}


def _dependencies_first(services: Sequence[ServiceConfig]) -> list[str]:
    """Service names ordered so that every service comes after the services it uses,
    found without recursion (a long chain must not exhaust the interpreter's stack).
    Cycles (rejected by the config loader) are left for evaluate() to report."""
    by_name = {s.name: s for s in services}
    order: list[str] = []
    done: set[str] = set()
    for s in services:
        if s.name in done:
            continue
        done.add(s.name)
        stack = [(s.name, iter(by_name[s.name].dependencies))]
        while stack:
            name, deps = stack[-1]
            dep = next(deps, None)
            if dep is None:
                stack.pop()
                order.append(name)
            elif dep in by_name and dep not in done:
                done.add(dep)
                stack.append((dep, iter(by_name[dep].dependencies)))
    return order


def _check_effect(name: str, status: Status | None, offline: Collection[str]) -> tuple[str, _Effect | None]:
    """A check as a dependency: ("up"|"down"|"unknown", the effect when required)."""
    if name in offline or status is None or status is Status.UNKNOWN:
        why = OFFLINE if name in offline else NO_RESULT if status is None else ""
        text = f"{name} unknown ({why})" if why else f"{name} unknown"
        return "unknown", _Effect(ServiceHealth.UNKNOWN, text, roots=(name,))
    if status is Status.CRIT:
        return "down", _Effect(ServiceHealth.DOWN, f"{name} crit", roots=(name,))
    if status is Status.WARN:
        return "up", _Effect(ServiceHealth.DEGRADED, f"{name} warn", (f"{name} warn",), (name,))
    return "up", None


def _service_effect(dep: ServiceStatus) -> tuple[str, _Effect | None]:
    """A service as a dependency: ("up"|"down"|"unknown", the effect when required)."""
    h = dep.status
    if h is ServiceHealth.OK:
        return "up", None
    effect = _Effect(h, f"{dep.name} {h.value}", dep.modes if h is ServiceHealth.DEGRADED else (), dep.root_causes)
    return {ServiceHealth.DEGRADED: "up", ServiceHealth.DOWN: "down"}.get(h, "unknown"), effect


def _effects(
    s: ServiceConfig,
    service: Callable[[str], ServiceStatus],
    by_name: Mapping[str, ServiceConfig],
    check_status: Mapping[str, Status],
    offline: Collection[str],
) -> Iterable[_Effect]:
    def dep(name: str) -> tuple[str, _Effect | None]:
        if name in by_name:
            return _service_effect(service(name))
        return _check_effect(name, check_status.get(name), offline)

    for name in s.requires:
        _, effect = dep(name)
        if effect is not None:
            yield effect
    for name, mode in s.optional:
        state, effect = dep(name)
        if effect is None:
            continue
        if state == "down":  # the dependency is gone: the service runs in the named mode
            yield _Effect(ServiceHealth.DEGRADED, f"{effect.because}: {mode}", (mode,), effect.roots)
        else:
            yield effect
    for group in s.redundant:
        yield from _group_effect(group.members, group.min_ok, group.mode, [dep(m) for m in group.members])


def _group_effect(
    members: tuple[str, ...], min_ok: int, mode: str, deps: list[tuple[str, _Effect | None]]
) -> Iterable[_Effect]:
    up = sum(state == "up" for state, _ in deps)
    unknown = sum(state == "unknown" for state, _ in deps)
    total = len(members)
    if up == total:
        return

    def verdict(n: int) -> ServiceHealth:
        return ServiceHealth.DOWN if n == 0 else ServiceHealth.DEGRADED if n < min_ok else ServiceHealth.OK

    worst, best = verdict(up), verdict(up + unknown)
    health = worst if worst is best else ServiceHealth.UNKNOWN
    label = ", ".join(members)
    summary = f"{label}: {up} of {total} ok (min {min_ok})"
    wanted = "unknown" if health is ServiceHealth.UNKNOWN else "down"
    roots = tuple(r for state, e in deps if state == wanted and e is not None for r in e.roots)
    if health is ServiceHealth.DEGRADED:
        yield _Effect(health, summary, (mode or f"running on {up} of {total} ({label})",), roots)
    else:  # ok: still worth a line in `because` (redundancy is reduced); it does not change the status
        yield _Effect(health, summary, (), roots)


def _combine(s: ServiceConfig, effects: list[_Effect]) -> ServiceStatus:
    health = max((e.health for e in effects), key=lambda h: h.rank, default=ServiceHealth.OK)
    ordered = sorted(effects, key=lambda e: -e.health.rank)  # stable: most serious first, then file order
    modes = [m for e in effects if e.health is ServiceHealth.DEGRADED for m in e.modes]
    roots = [r for e in effects if e.health is health and health is not ServiceHealth.OK for r in e.roots]
    return ServiceStatus(
        name=s.name,
        status=health,
        modes=tuple(dict.fromkeys(modes)),
        because=tuple(dict.fromkeys(e.because for e in ordered)),
        root_causes=tuple(dict.fromkeys(roots)),
        tier=s.tier,
    )


def impact(services: Sequence[ServiceConfig], name: str) -> dict[str, ServiceHealth]:
    """What happens to each service if `name` (a check, or a service going down) fails
    while everything else is ok: service name -> down or degraded."""
    users: dict[str, list[ServiceConfig]] = {}
    for s in services:
        for dep in s.dependencies:
            users.setdefault(dep, []).append(s)
    hit: dict[str, ServiceHealth] = {}
    todo = [(name, ServiceHealth.DOWN)]
    while todo:
        failed, how = todo.pop()
        for s in users.get(failed, ()):
            effect = _single_failure(s, failed, how)
            if effect is not None and effect.rank > hit.get(s.name, ServiceHealth.OK).rank:
                hit[s.name] = effect
                todo.append((s.name, effect))
    hit.pop(name, None)
    return hit


def _single_failure(s: ServiceConfig, failed: str, how: ServiceHealth) -> ServiceHealth | None:
    """The worst that `failed` being `how` (down or degraded) does to `s` on its own."""
    worst: ServiceHealth | None = None

    def worse(h: ServiceHealth) -> None:
        nonlocal worst
        if worst is None or h.rank > worst.rank:
            worst = h

    if failed in s.requires:
        worse(how)
    if any(n == failed for n, _ in s.optional):
        worse(ServiceHealth.DEGRADED)
    for g in s.redundant:
        if failed in g.members and how is ServiceHealth.DOWN:  # a degraded member still serves
            left = len(g.members) - 1
            if left == 0:
                worse(ServiceHealth.DOWN)
            elif left < g.min_ok:
                worse(ServiceHealth.DEGRADED)
    return worst


def dependents(services: Sequence[ServiceConfig]) -> dict[str, frozenset[str]]:
    """Blast radius: each check or service name that services depend on -> the services
    that go down or degraded if it fails (alone). Names nothing depends on are absent."""
    names = dict.fromkeys(n for s in services for n in (*s.dependencies, s.name))
    out = {n: frozenset(impact(services, n)) for n in names}
    return {n: hit for n, hit in out.items() if hit}
