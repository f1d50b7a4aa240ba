"""Services rolled up from checks: what the on-call person reads on the services panel."""

from __future__ import annotations

import textwrap
from types import SimpleNamespace

import pytest
from hypothesis import given, strategies as st

from dash.config import Config, ConfigError, RedundantGroup, ServiceConfig, parse_config
from dash.core.services import (
    ServiceHealth,
    dependents,
    evaluate,
    impact,
    is_network,
    monitor_offline,
    offline_checks,
)
from dash.model import Status

OK, WARN, CRIT, UNKNOWN = Status.OK, Status.WARN, Status.CRIT, Status.UNKNOWN
DOWN, DEGRADED = ServiceHealth.DOWN, ServiceHealth.DEGRADED

# Fake kinds with the real kinds' names: only the name decides local vs network.
KINDS = {k: SimpleNamespace(KIND=k, FIELDS={}) for k in ("tcp", "http", "dns", "host", "exec")}


def config(text: str) -> Config:
    return parse_config(textwrap.dedent(text), environ={}, kinds=KINDS)


SHOP = config(
    """\
    [dashboard]
    canary = ["resolver"]

    [[check]]
    name = "resolver"
    kind = "dns"
    [[check]]
    name = "orders-db"
    kind = "tcp"
    [[check]]
    name = "cache"
    kind = "tcp"
    [[check]]
    name = "api-us"
    kind = "http"
    [[check]]
    name = "api-eu"
    kind = "http"
    [[check]]
    name = "api-ap"
    kind = "http"
    [[check]]
    name = "disk"
    kind = "host"

    [[service]]
    name = "checkout"
    tier = 1
    requires = ["orders-db", "api"]
    optional = { cache = "serving from origin, slower" }

    [[service]]
    name = "api"
    tier = 2
    [[service.redundant]]
    members = ["api-us", "api-eu", "api-ap"]
    min_ok = 2

    [[service]]
    name = "storefront"
    requires = ["checkout"]

    [[service]]
    name = "refunds"
    requires = ["orders-db"]
    """
)
ALL_OK = {c.name: OK for c in SHOP.checks}


def shop(**changes: Status) -> dict:
    statuses = dict(ALL_OK)
    statuses.update({k.replace("_", "-"): v for k, v in changes.items()})
    return evaluate(SHOP.services, statuses)


def test_everything_ok() -> None:
    out = shop()
    assert list(out) == ["checkout", "api", "storefront", "refunds"]
    assert {s.status for s in out.values()} == {ServiceHealth.OK}
    assert all(s.because == () and s.modes == () and s.root_causes == () for s in out.values())
    assert out["checkout"].tier == 1


def test_a_required_database_down_takes_its_services_down_transitively() -> None:
    out = shop(orders_db=CRIT)
    checkout = out["checkout"]
    assert (checkout.status, checkout.because, checkout.root_causes) == (DOWN, ("orders-db crit",), ("orders-db",))
    assert (out["refunds"].status, out["refunds"].root_causes) == (DOWN, ("orders-db",))
    storefront = out["storefront"]
    assert (storefront.status, storefront.because, storefront.root_causes) == (DOWN, ("checkout down",), ("orders-db",))
    assert out["api"].status is ServiceHealth.OK


def test_a_required_check_in_warn_degrades_with_a_mode_named_after_it() -> None:
    out = shop(orders_db=WARN)
    assert (out["checkout"].status, out["checkout"].modes) == (DEGRADED, ("orders-db warn",))
    # the service that requires it inherits the mode
    assert (out["storefront"].status, out["storefront"].modes) == (DEGRADED, ("orders-db warn",))
    assert out["storefront"].because == ("checkout degraded",)


def test_an_optional_cache_down_degrades_with_the_configured_mode() -> None:
    out = shop(cache=CRIT)
    checkout = out["checkout"]
    assert checkout.status is DEGRADED
    assert checkout.modes == ("serving from origin, slower",)
    assert checkout.because == ("cache crit: serving from origin, slower",)
    assert checkout.root_causes == ("cache",)
    assert (out["storefront"].status, out["storefront"].modes) == (DEGRADED, ("serving from origin, slower",))
    assert out["refunds"].status is ServiceHealth.OK


def test_down_wins_over_degraded_and_lists_every_reason_worst_first() -> None:
    out = shop(cache=CRIT, orders_db=CRIT)
    checkout = out["checkout"]
    assert checkout.status is DOWN
    assert checkout.because == ("orders-db crit", "cache crit: serving from origin, slower")
    assert checkout.root_causes == ("orders-db",)  # fixing the cache would not bring it back
    assert checkout.modes == ("serving from origin, slower",)


def test_redundant_group_min_ok() -> None:
    # 3 members, min_ok 2: losing one is within the redundancy; the reason is still shown
    api = shop(api_us=CRIT)["api"]
    assert api.status is ServiceHealth.OK
    assert api.because == ("api-us, api-eu, api-ap: 2 of 3 ok (min 2)",)
    # below min_ok: degraded, running on what is left
    api = shop(api_us=CRIT, api_eu=CRIT)["api"]
    assert (api.status, api.modes) == (DEGRADED, ("running on 1 of 3 (api-us, api-eu, api-ap)",))
    assert api.root_causes == ("api-us", "api-eu")
    assert shop(api_us=CRIT, api_eu=CRIT)["checkout"].modes == ("running on 1 of 3 (api-us, api-eu, api-ap)",)
    # none ok: down, and everything that needs it
    out = shop(api_us=CRIT, api_eu=CRIT, api_ap=CRIT)
    assert (out["api"].status, out["checkout"].status) == (DOWN, DOWN)
    assert out["checkout"].root_causes == ("api-us", "api-eu", "api-ap")
    # a member in warn still serves
    assert shop(api_us=WARN, api_eu=WARN)["api"].status is ServiceHealth.OK


def test_redundant_group_with_its_own_mode_text() -> None:
    services = (ServiceConfig("api", redundant=(RedundantGroup(("a", "b"), min_ok=2, mode="single region"),)),)
    out = evaluate(services, {"a": OK, "b": CRIT})
    assert (out["api"].status, out["api"].modes, out["api"].because) == (
        DEGRADED, ("single region",), ("a, b: 1 of 2 ok (min 2)",)
    )


def test_unknown_members_decide_only_when_they_could_change_the_outcome() -> None:
    services = (ServiceConfig("api", redundant=(RedundantGroup(("a", "b", "c"), min_ok=2),)),)
    assert evaluate(services, {"a": OK, "b": OK})["api"].status is ServiceHealth.OK  # c cannot matter
    out = evaluate(services, {"a": OK, "c": CRIT})["api"]  # b decides between ok and degraded
    assert (out.status, out.root_causes) == (ServiceHealth.UNKNOWN, ("b",))
    # c decides between degraded and down
    assert evaluate(services, {"a": CRIT, "b": CRIT})["api"].status is ServiceHealth.UNKNOWN
    assert evaluate(services, {"a": CRIT, "b": CRIT, "c": CRIT})["api"].status is DOWN


def test_a_dependency_without_a_result_makes_the_service_unknown_unless_it_is_down_anyway() -> None:
    statuses = dict(ALL_OK)
    del statuses["orders-db"]
    out = evaluate(SHOP.services, statuses)
    assert out["checkout"].status is ServiceHealth.UNKNOWN
    assert out["checkout"].because == ("orders-db unknown (no result yet)",)
    assert out["storefront"].status is ServiceHealth.UNKNOWN
    # something else takes it down: down wins
    statuses["api-us"] = statuses["api-eu"] = statuses["api-ap"] = CRIT
    assert evaluate(SHOP.services, statuses)["checkout"].status is DOWN
    # unknown beats degraded: we cannot say it is only degraded
    statuses.update({"api-us": OK, "api-eu": OK, "api-ap": OK, "cache": CRIT})
    out = evaluate(SHOP.services, statuses)["checkout"]
    assert (out.status, out.modes) == (ServiceHealth.UNKNOWN, ("serving from origin, slower",))


def test_a_check_that_reports_unknown_itself() -> None:
    out = shop(orders_db=UNKNOWN)["refunds"]
    assert (out.status, out.because) == (ServiceHealth.UNKNOWN, ("orders-db unknown",))


# --- the canary rule ------------------------------------------------------------------


def test_any_canary_crit_means_the_monitor_is_offline() -> None:
    assert not monitor_offline(["resolver", "gateway"], {"resolver": OK, "gateway": OK})
    assert monitor_offline(["resolver", "gateway"], {"resolver": OK, "gateway": CRIT})
    assert not monitor_offline(["resolver"], {"resolver": WARN})
    assert not monitor_offline(["resolver"], {})  # no result yet is not a failure
    assert not monitor_offline([], {"x": CRIT})


def test_while_offline_network_checks_read_unknown_and_local_ones_do_not() -> None:
    statuses = {**ALL_OK, "resolver": CRIT, "orders-db": CRIT, "disk": CRIT}
    offline = offline_checks(SHOP.checks, SHOP.canaries, statuses)
    assert offline == {"orders-db", "cache", "api-us", "api-eu", "api-ap"}  # not the canary, not host checks
    out = evaluate(SHOP.services, statuses, offline=offline)
    assert out["refunds"].status is ServiceHealth.UNKNOWN
    assert out["refunds"].because == ("orders-db unknown (monitor offline)",)
    assert out["checkout"].status is ServiceHealth.UNKNOWN
    assert offline_checks(SHOP.checks, SHOP.canaries, {**statuses, "resolver": OK}) == frozenset()
    assert [is_network(k) for k in ("http", "tcp", "dns", "tls", "breakers", "host", "exec")] == [
        True, True, True, True, True, False, False,
    ]


# --- blast radius ---------------------------------------------------------------------


def test_dependents_is_the_blast_radius() -> None:
    radius = dependents(SHOP.services)
    assert radius["orders-db"] == {"checkout", "storefront", "refunds"}
    assert radius["cache"] == {"checkout", "storefront"}
    assert radius["checkout"] == {"storefront"}
    assert radius["api"] == {"checkout", "storefront"}
    assert "api-us" not in radius  # one of three, min 2: losing it alone changes nothing
    assert "storefront" not in radius
    assert impact(SHOP.services, "cache") == {"checkout": DEGRADED, "storefront": DEGRADED}
    assert impact(SHOP.services, "orders-db") == {"checkout": DOWN, "storefront": DOWN, "refunds": DOWN}


def test_dependents_of_a_two_member_group_needing_both() -> None:
    services = (ServiceConfig("api", redundant=(RedundantGroup(("a", "b"), min_ok=2),)),)
    assert impact(services, "a") == {"api": DEGRADED}


def test_blast_radius_agrees_with_evaluation() -> None:
    # one failing check at a time: evaluate() and impact() tell the same story
    for name in ALL_OK:
        out = evaluate(SHOP.services, {**ALL_OK, name: CRIT})
        hurt = {n: s.status for n, s in out.items() if s.status is not ServiceHealth.OK}
        assert hurt == impact(SHOP.services, name)


@given(st.fixed_dictionaries({name: st.sampled_from(list(Status)) for name in ALL_OK}))
def test_a_service_is_down_whenever_something_it_requires_is_down(statuses: dict) -> None:
    out = evaluate(SHOP.services, statuses)
    for s in SHOP.services:
        for dep in s.requires:
            if statuses.get(dep) is CRIT or (dep in out and out[dep].status is DOWN):
                assert out[s.name].status is DOWN


# --- cycles ---------------------------------------------------------------------------


def test_evaluate_refuses_a_cycle_built_by_hand() -> None:
    services = (ServiceConfig("a", requires=("b",)), ServiceConfig("b", requires=("a",)))
    with pytest.raises(ValueError, match="service cycle"):
        evaluate(services, {})


def test_a_service_cycle_is_a_config_error_listing_the_cycle() -> None:
    with pytest.raises(ConfigError) as info:
        config(
            """\
            [[check]]
            name = "db"
            kind = "tcp"
            [[service]]
            name = "a"
            requires = ["db", "b"]
            [[service]]
            name = "b"
            optional = { c = "no c" }
            [[service]]
            name = "c"
            redundant = [{ members = ["a", "db"] }]
            [[service]]
            name = "d"
            requires = ["d"]
            """
        )
    assert info.value.errors == [
        "dash.toml:6: service[a].requires[1]: service cycle: a -> b -> c -> a",
        "dash.toml:15: service[d].requires[0]: service cycle: d -> d",
    ]
