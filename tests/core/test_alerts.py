"""The alert engine, scenario by scenario, with explicit times (no sleeping)."""

from __future__ import annotations

import json
import textwrap
from types import SimpleNamespace

import pytest
from hypothesis import given, strategies as st

from dash.config import Config, parse_config
from dash.core.alerts import (
    AlertEngine,
    AlertState,
    Notification,
    fingerprint,
    flap_percent,
)
from dash.core.services import evaluate, offline_checks
from dash.core.slo import BurnAlert, Minute, burn_alerts
from dash.model import CheckResult, Reason, Status

OK, WARN, CRIT, UNKNOWN = Status.OK, Status.WARN, Status.CRIT, Status.UNKNOWN
KINDS = {k: SimpleNamespace(KIND=k, FIELDS={}) for k in ("tcp", "http", "dns", "host", "exec")}
T0 = 1_800_000_000.0  # epoch seconds; every scenario counts from here

DB = fingerprint("check", "orders-db")
CACHE = fingerprint("check", "cache")
API = fingerprint("check", "api")


def config(text: str) -> Config:
    return parse_config(textwrap.dedent(text), environ={}, kinds=KINDS)


class World:
    """The engine's loop in miniature: results in, services evaluated, notifications out."""

    def __init__(self, cfg: Config) -> None:
        self.cfg = cfg
        self.engine = AlertEngine(cfg)
        self.status: dict[str, Status] = {}
        self.services: dict = {}
        self.sent: list[Notification] = []

    def run(self, at: float, results: dict[str, Status], message: str = "") -> list[Notification]:
        """Feed one result per named check at T0 + at; returns what was notified."""
        now = T0 + at
        for name, status in results.items():
            self.status[name] = status
            kind = self.cfg.check(name).kind
            msg = message or f"{name} is {status.value}"
            reason = Reason.OK if status is OK else Reason.CONNECT
            self.engine.observe(CheckResult(name, kind, status, reason, msg, 0.01, 1, now - 0.01, now), now)
        offline = offline_checks(self.cfg.checks, self.cfg.canaries, self.status)
        self.services = evaluate(self.cfg.services, self.status, offline=offline)
        self.engine.observe_services(self.services, now)
        out = self.engine.notifications(now)
        self.sent.extend(out)
        return out

    def alerts(self, at: float) -> dict:
        return {a.fingerprint: a for a in self.engine.alerts(T0 + at)}

    def events(self) -> list[tuple[str, str]]:
        return [(e.kind.value, e.text) for e in self.engine.drain_events()]


SHOP = """\
[defaults]
confirm = 2
recover = 2

[[check]]
name = "orders-db"
kind = "tcp"
tags = ["team:db"]
[[check]]
name = "cache"
kind = "tcp"
[[check]]
name = "api"
kind = "http"

[[service]]
name = "checkout"
tier = 1
requires = ["orders-db", "api"]
optional = { cache = "serving from origin, slower" }

[[service]]
name = "refunds"
tier = 2
requires = ["orders-db"]

[[service]]
name = "storefront"
tier = 3
requires = ["checkout"]
"""


@pytest.fixture
def shop() -> World:
    world = World(config(SHOP))
    world.run(0, {"orders-db": OK, "cache": OK, "api": OK})
    return world


# --- the database goes down -----------------------------------------------------------


def test_database_down_is_one_p1_page_and_its_services_are_folded_symptoms(shop: World) -> None:
    assert shop.run(10, {"orders-db": CRIT}) == []  # one bad result is a soft state
    assert shop.alerts(10) == {}
    pages = shop.run(20, {"orders-db": CRIT}, "connection refused")

    assert [(n.kind, n.alert.name, n.alert.priority) for n in pages] == [("page", "orders-db", 1)]
    alerts = shop.alerts(20)
    db = alerts[DB]
    assert (db.state, db.severity, db.count) == (AlertState.FIRING, "crit", 2)
    assert db.priority_reason == "P1: orders-db crit; checkout, refunds, storefront down"
    assert db.message == "connection refused"
    assert set(db.symptoms) == {fingerprint("service", n) for n in ("checkout", "refunds", "storefront")}
    for name in ("checkout", "refunds", "storefront"):
        symptom = alerts[fingerprint("service", name)]
        assert (symptom.state, symptom.root_cause, symptom.severity) == (AlertState.SYMPTOM, DB, "down")
    assert alerts[fingerprint("service", "storefront")].message == "checkout down"
    assert len(alerts) == 4

    # it stays down: one row each, counting, and nobody is paged again
    for at in (30, 40, 50):
        assert shop.run(at, {"orders-db": CRIT}) == []
    alerts = shop.alerts(50)
    assert len(alerts) == 4
    assert (alerts[DB].count, alerts[DB].last_seen, alerts[DB].started_at) == (5, T0 + 50, T0 + 20)

    # recovery: the symptoms resolve with the first good result, the root after `recover`
    assert shop.run(60, {"orders-db": OK}) == []
    alerts = shop.alerts(60)
    assert alerts[DB].state is AlertState.FIRING
    assert alerts[fingerprint("service", "checkout")].state is AlertState.RESOLVED
    resolved = shop.run(70, {"orders-db": OK})
    assert [(n.kind, n.alert.name) for n in resolved] == [("resolved", "orders-db")]
    assert shop.alerts(70)[DB].state is AlertState.RESOLVED


def test_the_timeline_tells_what_happened(shop: World) -> None:
    shop.events()
    shop.run(10, {"orders-db": CRIT})
    shop.run(20, {"orders-db": CRIT}, "connection refused")
    assert shop.events() == [
        ("fired", "orders-db crit: connection refused"),
        ("fired", "checkout down: orders-db crit (symptom of orders-db)"),
        ("fired", "refunds down: orders-db crit (symptom of orders-db)"),
        ("fired", "storefront down: checkout down (symptom of orders-db)"),
    ]
    assert shop.events() == []  # drained
    shop.run(30, {"orders-db": OK})
    shop.run(40, {"orders-db": OK})
    kinds = [k for k, _ in shop.events()]
    assert kinds == ["resolved"] * 4
    assert shop.alerts(40)[DB].resolved_at == T0 + 40


def test_resolved_alerts_stay_visible_for_resolved_for_then_go(shop: World) -> None:
    shop.run(10, {"api": CRIT})
    shop.run(20, {"api": CRIT})
    shop.run(30, {"api": OK})
    shop.run(40, {"api": OK})
    assert shop.alerts(40 + 599)[API].state is AlertState.RESOLVED
    assert API not in shop.alerts(40 + 600)


# --- soft and hard states -------------------------------------------------------------


def test_a_single_blip_never_fires(shop: World) -> None:
    for at in range(10, 200, 20):
        shop.run(at, {"api": CRIT})
        shop.run(at + 10, {"api": OK})
    assert shop.alerts(200) == {}
    assert shop.sent == []


def test_confirm_and_recover_per_check() -> None:
    world = World(config('[[check]]\nname = "api"\nkind = "http"\nconfirm = 3\nrecover = 1\n'))
    world.run(0, {"api": WARN})
    world.run(10, {"api": CRIT})
    assert world.alerts(10) == {}
    world.run(20, {"api": WARN})
    api = world.alerts(20)[API]
    # warn and crit are one alert; the severity is the worst seen
    assert (api.severity, api.current, api.count, api.priority) == ("crit", "warn", 3, 2)
    world.run(30, {"api": OK})
    assert world.alerts(30)[API].state is AlertState.RESOLVED


def test_warn_escalating_to_crit_is_one_row_and_pages_when_it_becomes_urgent() -> None:
    world = World(config('[[check]]\nname = "api"\nkind = "http"\nconfirm = 1\n'))
    assert world.run(0, {"api": WARN}) == []  # P3: for the board, not for a pager
    assert world.alerts(0)[API].priority_reason == "P3: api warn"
    pages = world.run(10, {"api": CRIT})
    assert [(n.kind, n.alert.priority_label) for n in pages] == [("page", "P2")]
    assert len(world.alerts(10)) == 1
    assert ("escalated", "api warn -> crit") in world.events()
    assert world.run(20, {"api": WARN}) == []
    assert world.alerts(20)[API].severity == "crit"


def test_an_unknown_result_from_the_check_itself_is_an_alert() -> None:
    world = World(config('[[check]]\nname = "plugin"\nkind = "exec"\nconfirm = 1\n'))
    world.run(0, {"plugin": UNKNOWN})
    alert = world.alerts(0)[fingerprint("check", "plugin")]
    assert (alert.severity, alert.priority_reason) == ("unknown", "P3: plugin unknown")


# --- an optional cache ----------------------------------------------------------------


def test_optional_cache_down_degrades_the_service_at_a_lower_priority(shop: World) -> None:
    shop.run(10, {"cache": CRIT})
    assert shop.run(20, {"cache": CRIT}) == []  # P3: nobody is woken for a slower checkout

    checkout = shop.services["checkout"]
    assert checkout.status.value == "degraded"
    assert checkout.modes == ("serving from origin, slower",)
    alerts = shop.alerts(20)
    cache = alerts[CACHE]
    assert (cache.priority, cache.state) == (3, AlertState.FIRING)
    assert cache.priority_reason == "P3: cache crit; checkout, storefront degraded"
    symptom = alerts[fingerprint("service", "checkout")]
    assert (symptom.state, symptom.root_cause, symptom.severity) == (AlertState.SYMPTOM, CACHE, "degraded")
    assert symptom.message == "cache crit: serving from origin, slower"


def test_priority_reason_text() -> None:
    world = World(
        config(
            """\
            [defaults]
            confirm = 1
            [[check]]
            name = "search-db"
            kind = "tcp"
            [[check]]
            name = "queue"
            kind = "tcp"
            [[check]]
            name = "lonely"
            kind = "tcp"
            [[service]]
            name = "search"
            tier = 3
            requires = ["search-db"]
            [[service]]
            name = "reports"
            tier = 4
            requires = ["search-db", "queue"]
            [[service]]
            name = "mail"
            tier = 2
            requires = ["queue"]
            """
        )
    )
    world.run(0, {"search-db": OK, "queue": OK, "lonely": OK})
    world.run(10, {"search-db": CRIT, "queue": CRIT, "lonely": CRIT})
    alerts = world.alerts(10)
    # two services down: one step more urgent, whatever their tier
    assert alerts[fingerprint("check", "search-db")].priority_reason == "P1: search-db crit; search, reports down"
    assert alerts[fingerprint("check", "queue")].priority_reason == "P1: queue crit; reports, mail down"
    # no service depends on it: the severity alone
    assert alerts[fingerprint("check", "lonely")].priority_reason == "P2: lonely crit"
    world.run(20, {"queue": OK, "search-db": WARN})
    world.run(30, {"queue": OK, "search-db": CRIT})  # worst severity stays crit
    alerts = world.alerts(30)
    assert alerts[fingerprint("check", "search-db")].priority_reason == "P1: search-db crit; search, reports down"
    world.run(40, {"search-db": OK})
    world.run(50, {"search-db": OK, "queue": CRIT})
    # search-db is back: reports is down because of the queue alone now
    assert world.alerts(50)[fingerprint("check", "queue")].priority_reason == "P1: queue crit; reports, mail down"
    assert world.services["reports"].root_causes == ("queue",)


def test_one_tier_one_service_down_is_p1_and_a_single_lower_tier_is_p2() -> None:
    text = '[defaults]\nconfirm = 1\n[[check]]\nname = "db"\nkind = "tcp"\n[[service]]\nname = "s"\nrequires = ["db"]\ntier = {}\n'
    for tier, expected in ((1, "P1: db crit; s down"), (2, "P2: db crit; s down"), (4, "P2: db crit; s down")):
        world = World(config(text.format(tier)))
        world.run(0, {"db": CRIT})
        assert world.alerts(0)[fingerprint("check", "db")].priority_reason == expected


# --- inhibition -----------------------------------------------------------------------


def test_a_service_alert_waits_for_its_root_cause_to_be_confirmed(shop: World) -> None:
    shop.run(10, {"orders-db": CRIT})
    assert shop.services["checkout"].status.value == "down"
    assert shop.alerts(10) == {}  # checkout is down right now, but orders-db is not confirmed yet
    shop.run(20, {"orders-db": OK})
    assert shop.alerts(20) == {}
    assert shop.sent == []


def test_the_resolution_of_a_symptom_is_never_suppressed(shop: World) -> None:
    shop.run(10, {"orders-db": CRIT, "api": CRIT})
    shop.run(20, {"orders-db": CRIT, "api": CRIT})
    shop.engine.silence(match="checkout", until=T0 + 3600, now=T0 + 20, by="ana")
    checkout = fingerprint("service", "checkout")
    assert shop.alerts(20)[checkout].state is AlertState.SYMPTOM
    assert shop.alerts(20)[checkout].silenced_by == "s1"
    shop.events()
    # the database comes back; checkout is still down because of the api
    shop.run(30, {"orders-db": OK})
    shop.run(40, {"orders-db": OK})
    alerts = shop.alerts(40)
    assert alerts[DB].state is AlertState.RESOLVED
    assert (alerts[checkout].state, alerts[checkout].root_cause) == (AlertState.SYMPTOM, API)
    # the api comes back: checkout's resolution is recorded although it is a silenced symptom
    shop.events()
    shop.run(50, {"api": OK})
    assert shop.alerts(50)[checkout].state is AlertState.RESOLVED
    assert ("resolved", "checkout recovered after 30s") in shop.events()


def test_a_service_down_without_any_check_alert_is_its_own_root() -> None:
    # the caller's statuses say down, but the engine never saw a bad result: nothing to wait for
    cfg = config('[[check]]\nname = "db"\nkind = "tcp"\n[[service]]\nname = "s"\ntier = 1\nrequires = ["db"]\n')
    engine = AlertEngine(cfg)
    engine.observe_services(evaluate(cfg.services, {"db": CRIT}), T0)
    (page,) = engine.notifications(T0)
    assert (page.alert.name, page.alert.state, page.alert.priority_reason) == ("s", AlertState.FIRING, "P1: s down (tier 1)")


# --- flapping -------------------------------------------------------------------------


def test_flap_percent_is_nagios_weighted_state_change() -> None:
    assert flap_percent([OK] * 21) == 0.0
    assert flap_percent([OK] * 20 + [CRIT]) == pytest.approx(6.25)  # newest change weighs 1.25
    assert flap_percent([CRIT] + [OK] * 20) == pytest.approx(3.75)  # oldest weighs 0.75
    assert flap_percent([OK, CRIT] * 10 + [OK]) == pytest.approx(100.0)
    # the weights rise linearly: the 10th of 20 pairs weighs 0.75 + 9 * 0.5 / 19
    assert flap_percent([OK] * 10 + [CRIT] * 11) == pytest.approx((0.75 + 9 * 0.5 / 19) * 100 / 20)


@given(st.lists(st.sampled_from([OK, WARN, CRIT]), min_size=3, max_size=40))
def test_flap_percent_stays_between_0_and_100(states: list) -> None:
    assert 0.0 <= flap_percent(states) <= 100.0 + 1e-9


def test_a_flapping_endpoint_is_marked_and_stops_notifying() -> None:
    world = World(config('[[check]]\nname = "api"\nkind = "http"\nconfirm = 1\nrecover = 1\n'))
    pages_before_flapping = 0
    for i in range(40):
        out = world.run(i * 10, {"api": CRIT if i % 2 == 0 else OK})
        pages_before_flapping += sum(n.kind == "page" for n in out)
        if world.engine.alert(API, T0 + i * 10).flapping:
            break
    # Nagios needs about five changes from a clean history to cross 30%
    assert (i, pages_before_flapping) == (5, 3)
    events = world.events()
    assert ("flapping_started", "api started flapping (35.5% state change >= 30%)") in events

    # from now on: one row, marked flapping, no page or resolution however often it flips
    for j in range(i + 1, i + 40):
        assert world.run(j * 10, {"api": CRIT if j % 2 == 0 else OK}) == []
    alert = world.engine.alert(API, T0 + j * 10)
    assert alert.flapping and alert.state in (AlertState.FLAPPING, AlertState.RESOLVED)
    assert len(world.alerts(j * 10)) == 1
    assert [k for k, _ in world.events()] == []  # no fired/resolved noise while flapping

    # it settles on ok: flapping stops, and the held resolution of the last page goes out
    sent = []
    for k in range(j + 1, j + 30):
        sent += world.run(k * 10, {"api": OK})
    assert [n.kind for n in sent] == ["resolved"]
    assert not world.engine.alert(API, T0 + k * 10).flapping
    assert [kind for kind, _ in world.events()] == ["flapping_stopped"]


# --- acknowledgements -----------------------------------------------------------------


def test_an_ack_survives_re_fires_until_recovery(shop: World) -> None:
    shop.run(10, {"api": CRIT})
    shop.run(20, {"api": CRIT})
    assert shop.engine.acknowledge(API, T0 + 25, by="ana", comment="looking") is True
    for at in (30, 40, 50):
        shop.run(at, {"api": CRIT})
    api = shop.alerts(50)[API]
    assert (api.state, api.acked_by, api.ack_comment, api.count) == (AlertState.ACKNOWLEDGED, "ana", "looking", 5)
    shop.run(60, {"api": OK})
    shop.run(70, {"api": OK})
    assert shop.alerts(70)[API].acked_by is None
    # a new outage is a new problem: not acknowledged, and it pages again
    shop.run(80, {"api": CRIT})
    out = shop.run(90, {"api": CRIT})
    assert shop.alerts(90)[API].state is AlertState.FIRING
    assert [n.kind for n in out] == ["page"]
    events = shop.events()
    assert ("acked", "acknowledged by ana until it recovers: looking") in events


def test_an_ack_before_the_page_holds_it_and_a_timed_ack_expires(shop: World) -> None:
    shop.run(10, {"orders-db": CRIT})
    shop.engine.observe(  # the second bad result arrives; the operator acks before notifications run
        CheckResult("orders-db", "tcp", CRIT, Reason.CONNECT, "refused", 0.01, 1, T0 + 20, T0 + 20), T0 + 20
    )
    assert shop.engine.acknowledge(DB, T0 + 20, by="bo", until=T0 + 320) is True
    assert shop.run(30, {"orders-db": CRIT}) == []
    assert shop.alerts(319)[DB].state is AlertState.ACKNOWLEDGED
    assert shop.alerts(320)[DB].state is AlertState.FIRING
    assert ("unacked", "acknowledgement expired") in shop.events()
    assert [n.kind for n in shop.engine.notifications(T0 + 320)] == ["page"]


def test_ack_commands() -> None:
    world = World(config('[[check]]\nname = "api"\nkind = "http"\nconfirm = 1\nrecover = 1\n'))
    world.run(0, {"api": CRIT})
    with pytest.raises(KeyError):
        world.engine.acknowledge("check:nope:unhealthy", T0)
    with pytest.raises(ValueError):
        world.engine.acknowledge(API, T0 + 5, until=T0 + 5)
    assert world.engine.acknowledge(API, T0 + 5, by="ana") is True
    assert world.engine.unacknowledge(API, T0 + 6) is True
    assert world.engine.unacknowledge(API, T0 + 7) is False
    world.run(10, {"api": OK})
    assert world.engine.acknowledge(API, T0 + 11) is False  # resolved: nothing to acknowledge


# --- silences and maintenance ---------------------------------------------------------


def test_a_silence_expires_on_time(shop: World) -> None:
    sid = shop.engine.silence(match="orders-*", until=T0 + 300, now=T0 + 5, by="ana", comment="failover drill")
    shop.run(10, {"orders-db": CRIT})
    assert shop.run(20, {"orders-db": CRIT}) == []
    db = shop.alerts(20)[DB]
    assert (db.state, db.silenced_by, db.silence_reason) == (AlertState.SILENCED, sid, "failover drill")
    assert [s.id for s in shop.engine.silences(T0 + 299)] == [sid]
    assert shop.alerts(299)[DB].state is AlertState.SILENCED
    # at its end it is gone, and the alert that still fires pages now
    assert shop.engine.silences(T0 + 300) == ()
    assert shop.alerts(300)[DB].state is AlertState.FIRING
    assert [n.kind for n in shop.engine.notifications(T0 + 300)] == ["page"]
    kinds = [k for k, _ in shop.events()]
    assert kinds.count("silenced") == 1 and "unsilenced" in kinds


def test_silence_by_tags_and_unsilence(shop: World) -> None:
    sid = shop.engine.silence(tags=["team:db"], until=T0 + 3600, now=T0)
    shop.run(10, {"orders-db": CRIT, "api": CRIT})
    out = shop.run(20, {"orders-db": CRIT, "api": CRIT})
    assert [(n.kind, n.alert.name) for n in out] == [("page", "api")]  # api carries no team:db tag
    assert shop.engine.unsilence(sid, T0 + 30) is True
    assert shop.engine.unsilence(sid, T0 + 30) is False
    assert [n.alert.name for n in shop.engine.notifications(T0 + 30)] == ["orders-db"]


def test_silence_arguments_are_checked(shop: World) -> None:
    with pytest.raises(ValueError, match="name pattern or tags"):
        shop.engine.silence(until=T0 + 10, now=T0)
    with pytest.raises(ValueError, match="future"):
        shop.engine.silence(match="*", until=T0, now=T0)


def test_a_maintenance_window_silences_only_during_the_window() -> None:
    world = World(
        config(
            SHOP
            + """
            [[maintenance]]
            match = "orders-*"
            start = "2027-01-15T08:00:00Z"
            end = "2027-01-15T08:05:00Z"
            reason = "minor version upgrade"
            """.replace("\n            ", "\n")
        )
    )
    start = world.cfg.maintenance[0].start - T0
    world.run(start - 100, {"orders-db": OK, "cache": OK, "api": OK})
    world.run(start + 10, {"orders-db": CRIT})
    assert world.run(start + 20, {"orders-db": CRIT}) == []
    db = world.alerts(start + 20)[DB]
    assert (db.state, db.silenced_by, db.silence_reason) == (AlertState.SILENCED, "maintenance", "minor version upgrade")
    assert world.run(start + 290, {"orders-db": CRIT}) == []
    out = world.run(start + 300, {"orders-db": CRIT})  # the window is over and it is still down
    assert [(n.kind, n.alert.name) for n in out] == [("page", "orders-db")]


# --- the monitor's own network --------------------------------------------------------


def test_canary_offline_means_no_alerts_for_network_checks() -> None:
    world = World(
        config(
            """\
            [dashboard]
            canary = ["resolver"]
            [[check]]
            name = "resolver"
            kind = "dns"
            [[check]]
            name = "api"
            kind = "http"
            [[check]]
            name = "disk"
            kind = "host"
            [[service]]
            name = "web"
            tier = 1
            requires = ["api"]
            """
        )
    )
    world.run(0, {"resolver": OK, "api": OK, "disk": OK})
    world.run(10, {"api": CRIT})  # the first symptom arrives before the canary's
    world.run(11, {"resolver": CRIT, "disk": CRIT})
    assert world.engine.offline
    assert world.engine.offline_checks() == {"api"}
    for at in (20, 30, 40):
        world.run(at, {"api": CRIT, "resolver": CRIT, "disk": CRIT})
    assert world.services["web"].status.value == "unknown"
    assert world.services["web"].because == ("api unknown (monitor offline)",)
    alerts = world.alerts(40)
    # the canary and the local check alert; the network check and its service do not
    assert set(alerts) == {fingerprint("check", "resolver"), fingerprint("check", "disk")}
    # back online: the api is judged again from scratch
    world.run(50, {"resolver": OK})
    world.run(51, {"api": CRIT})
    assert API not in world.alerts(51)
    world.run(60, {"api": CRIT})
    assert world.alerts(60)[API].priority_reason == "P1: api crit; web down"


# --- reload ---------------------------------------------------------------------------


def test_reconfigure_keeps_alerts_of_checks_that_remain(shop: World) -> None:
    shop.run(10, {"orders-db": CRIT, "api": CRIT})
    shop.run(20, {"orders-db": CRIT, "api": CRIT})
    smaller = config(SHOP.replace('[[check]]\nname = "api"\nkind = "http"\n', "").replace(', "api"]', "]"))
    shop.engine.configure(smaller)
    alerts = shop.engine.alerts(T0 + 30)
    assert {a.name for a in alerts} == {"orders-db", "checkout", "refunds", "storefront"}


# --- invariants -----------------------------------------------------------------------


@given(
    st.lists(
        st.tuples(st.sampled_from(["orders-db", "cache", "api"]), st.sampled_from([OK, OK, WARN, CRIT, UNKNOWN])),
        max_size=80,
    )
)
def test_pages_and_resolutions_alternate_and_only_root_causes_page(results: list) -> None:
    world = World(config(SHOP))
    open_pages: set[str] = set()
    for i, (name, status) in enumerate(results):
        for n in world.run(i * 10, {name: status}):
            alert = n.alert
            if n.kind == "page":
                assert alert.fingerprint not in open_pages
                assert alert.root_cause is None and not alert.flapping and alert.priority <= 2
                assert alert.state is AlertState.FIRING
                open_pages.add(alert.fingerprint)
            else:
                assert n.kind == "resolved" and alert.state is AlertState.RESOLVED
                open_pages.remove(alert.fingerprint)
        alerts = world.engine.alerts(T0 + i * 10)
        assert len({a.fingerprint for a in alerts}) == len(alerts)
        for a in alerts:
            if a.root_cause is not None and a.is_open:
                assert a.subject == "service"


# --- SLO burn-rate alerts -------------------------------------------------------------

SLO = "slo = { target = 99.9 }\n"
SLO_SHOP = (
    SHOP.replace('name = "orders-db"\nkind = "tcp"\n', 'name = "orders-db"\nkind = "tcp"\n' + SLO)
    .replace('name = "api"\nkind = "http"\n', 'name = "api"\nkind = "http"\n' + SLO)
    .replace('name = "checkout"\ntier = 1\n', 'name = "checkout"\ntier = 1\n' + SLO)
    .replace('name = "refunds"\ntier = 2\n', 'name = "refunds"\ntier = 2\n' + SLO)
)
CHECKOUT_BURN = fingerprint("slo", "checkout", "burn")


@pytest.fixture
def slo_shop() -> World:
    world = World(config(SLO_SHOP))
    world.run(0, {"orders-db": OK, "cache": OK, "api": OK})
    return world
FAST = BurnAlert("page", 3600.0, 300.0, 14.4, 14.4, 15.2)  # 14.4x over 1h, 15.2x over 5m
MEDIUM = BurnAlert("page", 21600.0, 1800.0, 6.0, 6.1, 7.0)
SLOW = BurnAlert("ticket", 86400.0, 7200.0, 3.0, 3.25, 4.0)


def test_a_fast_burn_pages_at_p2_and_resolves_when_no_condition_fires(slo_shop: World) -> None:
    # checkout failed 2% of requests for the last hour: 0.02 / 0.001 = 20x over 1h and 5m
    minutes = [Minute(T0 - 3600 + i * 60, 100, 2) for i in range(60)]
    alerts = burn_alerts(minutes, T0, 99.9)
    assert [a.rate for a in alerts] == [14.4, 6.0]
    slo_shop.events()
    slo_shop.engine.observe_slo("service", "checkout", alerts, T0)
    (page,) = slo_shop.engine.notifications(T0)
    burn = page.alert
    assert (burn.fingerprint, burn.subject, burn.name, burn.severity) == (CHECKOUT_BURN, "slo", "checkout", "page")
    assert (burn.state, burn.priority) == (AlertState.FIRING, 2)
    assert burn.priority_reason == "P2: checkout burning error budget 20x (1h) and 20x (5m)"
    assert burn.message == "burning error budget 20x (1h) and 20x (5m); 20x (6h) and 20x (30m)"
    assert slo_shop.events() == [("fired", "checkout burning error budget 20x (1h) and 20x (5m); 20x (6h) and 20x (30m)")]

    slo_shop.engine.observe_slo("service", "checkout", [FAST], T0 + 60)
    burn = slo_shop.alerts(60)[CHECKOUT_BURN]
    assert (burn.count, burn.priority_reason) == (2, "P2: checkout burning error budget 14.4x (1h) and 15.2x (5m)")
    slo_shop.engine.observe_slo("service", "checkout", [], T0 + 300)
    assert slo_shop.alerts(300)[CHECKOUT_BURN].state is AlertState.RESOLVED
    assert [n.kind for n in slo_shop.engine.notifications(T0 + 300)] == ["resolved"]
    assert slo_shop.events() == [("resolved", "checkout stopped burning its error budget after 5m")]


def test_a_slow_burn_is_a_p4_ticket_and_escalates_to_a_page_on_the_same_row(slo_shop: World) -> None:
    slo_shop.engine.observe_slo("check", "api", [SLOW], T0)
    api_burn = fingerprint("slo", "api", "burn")
    burn = slo_shop.alerts(0)[api_burn]
    assert (burn.severity, burn.priority_reason) == ("ticket", "P4: api burning error budget 3.2x (1d) and 4x (2h)")
    assert slo_shop.engine.notifications(T0) == []  # a ticket is for the board, not for a pager

    slo_shop.engine.observe_slo("check", "api", [MEDIUM, SLOW], T0 + 60)
    (page,) = slo_shop.engine.notifications(T0 + 60)
    assert (page.alert.fingerprint, page.alert.priority_reason) == (
        api_burn, "P2: api burning error budget 6.1x (6h) and 7x (30m)"
    )
    assert ("escalated", "api ticket -> page") in slo_shop.events()
    # back to a slow burn: still the page's priority, with the page's numbers, as for checks
    slo_shop.engine.observe_slo("check", "api", [SLOW], T0 + 120)
    burn = slo_shop.alerts(120)[api_burn]
    assert (burn.severity, burn.current, burn.priority) == ("page", "ticket", 2)
    assert burn.priority_reason == "P2: api burning error budget 6.1x (6h) and 7x (30m)"
    assert len(slo_shop.alerts(120)) == 1


def test_a_burn_while_its_root_cause_check_fires_is_a_folded_symptom(slo_shop: World) -> None:
    slo_shop.run(10, {"orders-db": CRIT})
    slo_shop.engine.observe_slo("service", "checkout", [FAST], T0 + 15)
    assert CHECKOUT_BURN not in slo_shop.alerts(15)  # it waits while orders-db is unconfirmed
    slo_shop.run(20, {"orders-db": CRIT})
    slo_shop.engine.observe_slo("service", "checkout", [FAST], T0 + 25)
    assert slo_shop.engine.notifications(T0 + 25) == []
    alerts = slo_shop.alerts(25)
    assert (alerts[CHECKOUT_BURN].state, alerts[CHECKOUT_BURN].root_cause) == (AlertState.SYMPTOM, DB)
    assert CHECKOUT_BURN in alerts[DB].symptoms
    assert [n.alert.name for n in slo_shop.sent if n.kind == "page"] == ["orders-db"]  # one page for one outage

    # a check's own burn folds under the check's alert
    slo_shop.run(30, {"api": CRIT})
    slo_shop.run(40, {"api": CRIT})
    slo_shop.engine.observe_slo("check", "api", [FAST], T0 + 45)
    assert slo_shop.alerts(45)[fingerprint("slo", "api", "burn")].root_cause == API


def test_a_burn_stays_folded_after_its_cause_recovers_unless_it_gets_worse(slo_shop: World) -> None:
    slo_shop.run(10, {"orders-db": CRIT})
    slo_shop.run(20, {"orders-db": CRIT})
    slo_shop.engine.observe_slo("service", "checkout", [SLOW], T0 + 25)
    slo_shop.run(30, {"orders-db": OK})
    slo_shop.run(40, {"orders-db": OK})
    slo_shop.engine.observe_slo("service", "checkout", [SLOW], T0 + 45)  # the day window still remembers
    burn = slo_shop.alerts(45)[CHECKOUT_BURN]
    assert (burn.state, burn.root_cause) == (AlertState.SYMPTOM, DB)
    # a fast burn with orders-db fine: something else is wrong now, and it pages
    slo_shop.engine.observe_slo("service", "checkout", [FAST, SLOW], T0 + 50)
    assert slo_shop.alerts(50)[CHECKOUT_BURN].state is AlertState.FIRING
    assert [n.alert.fingerprint for n in slo_shop.engine.notifications(T0 + 50)] == [CHECKOUT_BURN]


def test_burn_alerts_follow_silences_and_the_config(slo_shop: World) -> None:
    slo_shop.engine.silence(tags=["team:db"], until=T0 + 600, now=T0)
    slo_shop.engine.observe_slo("check", "orders-db", [FAST], T0)
    burn = slo_shop.alerts(0)[fingerprint("slo", "orders-db", "burn")]
    assert (burn.state, burn.silenced_by) == (AlertState.SILENCED, "s1")  # the check's tags count
    assert slo_shop.engine.notifications(T0) == []
    slo_shop.engine.observe_slo("service", "no-such-service", [FAST], T0)  # not configured: ignored
    with pytest.raises(ValueError, match="check or a service"):
        slo_shop.engine.observe_slo("host", "orders-db", [FAST], T0)
    slo_shop.engine.observe_slo("service", "refunds", [FAST], T0)
    slo_shop.engine.observe_slo("check", "cache", [FAST], T0)  # cache has no SLO: ignored
    assert fingerprint("slo", "cache", "burn") not in slo_shop.alerts(0)
    slo_shop.engine.configure(config(SLO_SHOP.replace('name = "refunds"\ntier = 2\n' + SLO, 'name = "refunds"\ntier = 2\n')))
    assert fingerprint("slo", "refunds", "burn") not in slo_shop.alerts(1)
    assert fingerprint("slo", "orders-db", "burn") in slo_shop.alerts(1)


# --- state across restarts ------------------------------------------------------------


def busy_shop() -> World:
    """A board with a bit of everything: a paged outage with symptoms, an acknowledged
    and a flapping alert, a resolved one, a burn alert, silences and soft states."""
    world = World(config(SLO_SHOP + '[[check]]\nname = "edge"\nkind = "tcp"\nconfirm = 1\nrecover = 1\n'))
    world.run(0, {"orders-db": OK, "cache": OK, "api": OK, "edge": OK})
    for i in range(1, 12):
        world.run(i, {"edge": CRIT if i % 2 else OK})
    assert world.engine.alert(fingerprint("check", "edge"), T0 + 11).flapping
    world.run(20, {"orders-db": CRIT, "api": CRIT})
    world.run(30, {"orders-db": CRIT, "api": CRIT, "cache": CRIT})  # cache: one bad result, soft
    world.engine.acknowledge(API, T0 + 35, by="ana", until=T0 + 900, comment="on it")
    world.engine.silence(match="check*", until=T0 + 3600, now=T0 + 36, by="bo", comment="deploy")
    world.engine.silence(tags=["team:db"], until=T0 + 50, now=T0 + 37)  # expires before the restart
    world.engine.observe_slo("service", "refunds", [SLOW], T0 + 38)
    return world


def test_an_exported_state_restores_the_same_board() -> None:
    world = busy_shop()
    now = T0 + 60
    state = json.loads(json.dumps(world.engine.export_state()))  # what the store keeps
    fresh = AlertEngine(world.cfg)
    fresh.import_state(state, now)
    assert fresh.alerts(now) == world.engine.alerts(now)
    assert fresh.silences(now) == world.engine.silences(now)
    assert fresh.notifications(now) == world.engine.notifications(now) == []  # nobody is paged twice
    assert fresh.offline == world.engine.offline

    # and it carries on the same way: soft states, flap histories, silence ids
    later = T0 + 70
    for engine in (world.engine, fresh):
        engine.observe(CheckResult("cache", "tcp", CRIT, Reason.CONNECT, "refused", 0.01, 1, later, later), later)
        engine.observe(CheckResult("edge", "tcp", OK, Reason.OK, "fine", 0.01, 1, later, later), later)
        engine.observe_services(world.services, later)
        engine.silence(match="api", until=later + 60, now=later)
    assert fresh.alerts(later) == world.engine.alerts(later)
    assert fresh.alerts(later)[0].state is AlertState.SILENCED
    assert [s.id for s in fresh.silences(later)] == ["s1", "s3"]
    assert CACHE in {a.fingerprint for a in fresh.alerts(later)}  # its second bad result confirmed it


def test_importing_into_a_smaller_config_drops_subjects_that_are_gone() -> None:
    world = busy_shop()
    smaller = config(SLO_SHOP.replace('[[check]]\nname = "api"\nkind = "http"\n' + SLO, "").replace(', "api"]', "]"))
    fresh = AlertEngine(smaller)
    fresh.import_state(world.engine.export_state(), T0 + 60)
    names = {a.name for a in fresh.alerts(T0 + 60)}
    assert names == {"orders-db", "checkout", "refunds", "storefront"}
    assert "edge" not in fresh.export_state()["checks"]


def test_expired_acks_and_silences_do_not_come_back() -> None:
    world = busy_shop()
    state = world.engine.export_state()
    fresh = AlertEngine(world.cfg)
    fresh.import_state(state, T0 + 3600)
    assert fresh.silences(T0 + 3600) == ()
    assert fresh.alert(API, T0 + 3600).acked_by is None


@pytest.mark.parametrize(
    "blob",
    [
        None,
        [],
        "alerts",
        {},
        {"version": 99, "alerts": []},
        {"version": 1, "alerts": "nope", "silences": {"s1": 1}, "checks": [], "services": 3},
        {"version": 1, "alerts": [None, 1, {}, {"subject": "check", "name": "api"}]},
        {"version": 1, "alerts": [{"subject": "check", "name": "api", "severity": "page", "started_at": 1.0}]},
        {"version": 1, "alerts": [{"subject": "slo", "name": "api", "severity": "page", "started_at": 1.0}]},
        {"version": 1, "alerts": [{"subject": "check", "name": "api", "severity": "crit", "started_at": float("nan")}]},
        {"version": 1, "silences": [{"id": "s1", "until": T0 + 99}, {"id": 7, "match": "*", "until": T0 + 99}]},
        {"version": 1, "checks": {"api": {"history": ["sideways"]}, "cache": None}, "statuses": {"api": 2}},
        {"version": 1, "services": {"checkout": {"status": "on fire"}, "refunds": {}}, "silence_seq": "x"},
    ],
)
def test_a_malformed_state_is_logged_and_the_engine_starts_empty(blob: object, caplog) -> None:
    engine = AlertEngine(config(SLO_SHOP))
    engine.import_state(blob, T0)
    assert engine.alerts(T0) == () and engine.silences(T0) == ()
    assert caplog.records, "the reason is logged"
    assert engine.silence(match="*", until=T0 + 10, now=T0) == "s1"


def test_good_entries_survive_a_bad_neighbour_and_extra_keys_are_ignored() -> None:
    world = busy_shop()
    state = world.engine.export_state()
    state["alerts"].append({"subject": "check", "name": "cache", "severity": "bogus", "started_at": T0})
    state["future"] = {"anything": True}
    for row in state["alerts"]:
        row["new_field"] = 1
    fresh = AlertEngine(world.cfg)
    fresh.import_state(state, T0 + 60)
    assert fresh.alerts(T0 + 60) == world.engine.alerts(T0 + 60)


@given(st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(
        st.sampled_from(["version", "alerts", "silences", "checks", "statuses", "services", "subject", "name",
                         "severity", "started_at", "id", "until", "match", "history", "api", "checkout", "status"]),
        inner, max_size=6),
    max_leaves=30,
))
def test_import_never_raises(blob: object) -> None:
    engine = AlertEngine(config(SLO_SHOP))
    if isinstance(blob, dict):
        blob = {"version": 1, **blob}
    engine.import_state(blob, T0)
    engine.alerts(T0)
    json.dumps(engine.export_state())


def test_the_monitor_stays_offline_across_a_restart() -> None:
    cfg = config('[dashboard]\ncanary = ["gw"]\n[[check]]\nname = "gw"\nkind = "tcp"\nconfirm = 1\n'
                 '[[check]]\nname = "api"\nkind = "http"\nconfirm = 1\n')
    engine = AlertEngine(cfg)
    engine.observe(CheckResult("gw", "tcp", CRIT, Reason.CONNECT, "refused", 0.01, 1, T0, T0), T0)
    fresh = AlertEngine(cfg)
    fresh.import_state(engine.export_state(), T0)
    assert fresh.offline and fresh.offline_checks() == {"api"}
    fresh.observe(CheckResult("api", "http", CRIT, Reason.CONNECT, "refused", 0.01, 1, T0, T0), T0)
    assert [a.name for a in fresh.alerts(T0)] == ["gw"]  # the api's failure is the monitor's own


def test_a_degraded_service_that_goes_down_points_at_the_new_root_cause(shop: World) -> None:
    shop.run(10, {"cache": CRIT})
    shop.run(20, {"cache": CRIT})  # checkout degraded, folded under the cache
    assert shop.alerts(20)[fingerprint("service", "checkout")].root_cause == CACHE
    shop.run(30, {"orders-db": CRIT})
    shop.run(40, {"orders-db": CRIT})  # now checkout is down because of the database
    checkout = shop.alerts(40)[fingerprint("service", "checkout")]
    assert checkout.severity == "down"
    assert checkout.root_cause == DB


def test_a_check_that_only_degrades_keeps_its_lower_priority_while_it_recovers(shop: World) -> None:
    shop.run(10, {"cache": CRIT})
    shop.run(20, {"cache": CRIT})
    assert shop.alerts(20)[CACHE].priority == 3
    shop.run(30, {"cache": OK})  # one good result: still open, no longer degrading anything
    assert shop.alerts(30)[CACHE].priority == 3
    assert not [n for n in shop.sent if n.kind == "page"]


def test_a_service_alert_counts_changes_not_evaluations(shop: World) -> None:
    shop.run(10, {"orders-db": CRIT})
    shop.run(20, {"orders-db": CRIT})
    checkout = fingerprint("service", "checkout")
    count = shop.alerts(20)[checkout].count
    for at in range(21, 40):
        shop.run(at, {})  # evaluations with nothing new
    assert shop.alerts(40)[checkout].count == count
    assert shop.alerts(40)[checkout].last_seen == T0 + 39
