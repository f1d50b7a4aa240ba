"""SLO arithmetic against hand-computed cases (the arithmetic is in the comments)."""

from __future__ import annotations

import pytest
from hypothesis import given, strategies as st

from dash.core.slo import (
    BURN_RULES,
    DAY,
    HOUR,
    MINUTE,
    SLO,
    BurnAlert,
    Minute,
    allowed_bad_fraction,
    availability,
    budget_left,
    burn_alerts,
    burn_rate,
    reliability,
    report,
)

NOW = 1_800_000_000.0  # a minute boundary; every window ends here
TARGET = 99.9  # allowed bad fraction 0.001


def history(n: int, count: int, failures: int, *, end: float = NOW, excluded: bool = False) -> list[Minute]:
    """`n` minutes ending at `end`, each with `count` events of which `failures` bad."""
    return [Minute(end - (i + 1) * MINUTE, count, failures, excluded) for i in range(n)]


def severities(alerts: list[BurnAlert]) -> list[tuple[str, float]]:
    return [(a.severity, a.rate) for a in alerts]


# --- availability, budget, burn -------------------------------------------------------


def test_the_allowed_bad_fraction_is_exact() -> None:
    assert allowed_bad_fraction(99.9) == 0.001  # not 0.0010000000000000009
    assert allowed_bad_fraction(99.0) == 0.01
    for bad in (100.0, 0.0, 101.0):
        with pytest.raises(ValueError, match="above 0 and below 100"):
            allowed_bad_fraction(bad)


def test_availability_is_good_events_over_all_events() -> None:
    minutes = history(10, 100, 1) + history(10, 300, 0, end=NOW - 10 * MINUTE)
    # last 10 minutes: 1000 events, 10 bad -> 99.0%; last 20: 4000 events, 10 bad -> 99.75%
    assert availability(minutes, NOW, 10 * MINUTE) == pytest.approx(99.0)
    assert availability(minutes, NOW, 20 * MINUTE) == pytest.approx(99.75)


def test_a_window_holds_the_minutes_that_start_inside_it() -> None:
    minutes = [Minute(NOW - 5 * MINUTE, 10, 10), Minute(NOW - 4 * MINUTE, 10, 0), Minute(NOW, 10, 10)]
    # [NOW - 5m, NOW): the first two minutes; the minute starting at NOW is the next window's
    assert availability(minutes, NOW, 5 * MINUTE) == pytest.approx(50.0)
    assert availability(minutes, NOW, 4 * MINUTE) == pytest.approx(100.0)


def test_minutes_the_monitor_was_offline_are_not_charged() -> None:
    minutes = history(8, 100, 1) + history(2, 100, 100, end=NOW - 8 * MINUTE, excluded=True)
    # only the 8 charged minutes: 800 events, 8 bad -> 99.0%, not (1000 - 208) / 1000
    assert availability(minutes, NOW, HOUR) == pytest.approx(99.0)
    r = report("api", SLO(TARGET, 30 * DAY), minutes, [], NOW)
    assert r.covered == 8 * MINUTE  # the excluded minutes back nothing either


def test_budget_left_goes_negative_when_overspent() -> None:
    minutes = history(1000, 100, 0)
    minutes[0] = Minute(minutes[0].start, 100, 100)
    minutes[1] = Minute(minutes[1].start, 100, 100)
    minutes[2] = Minute(minutes[2].start, 100, 100)
    # 100000 events, 300 bad: bad fraction 0.003 = 3x the allowed 0.001 -> 100 * (1 - 3) = -200%
    assert budget_left(minutes, NOW, 30 * DAY, TARGET) == pytest.approx(-200.0)
    assert burn_rate(minutes, NOW, 30 * DAY, TARGET) == pytest.approx(3.0)
    # half the allowance spent: 50 bad in 100000 -> 0.0005 / 0.001 = 0.5 -> 50% left
    assert budget_left(history(1000, 100, 0) + [Minute(NOW - 1001 * MINUTE, 50, 50)], NOW, 30 * DAY, TARGET) == (
        pytest.approx(100 * (1 - (50 / 100050) / 0.001))
    )


def test_no_data_means_no_availability_and_a_whole_budget() -> None:
    assert availability([], NOW, HOUR) is None
    assert burn_rate([], NOW, HOUR, TARGET) is None
    assert budget_left([], NOW, 30 * DAY, TARGET) == 100.0
    assert burn_alerts([], NOW, TARGET) == []
    assert availability([Minute(NOW - 60, 0, 0)], NOW, HOUR) is None  # a minute without events
    r = report("api", SLO(TARGET, 30 * DAY), [], [], NOW)
    assert (r.availability, r.budget_left, r.covered) == (None, 100.0, 0.0)
    assert [w.value for w in r.burn_rates] == [None] * 4
    assert [w.value for w in r.availabilities] == [None] * 4
    assert (r.mttr, r.mtbf, r.incidents, r.burn_alerts) == (None, None, 0, ())


# --- burn-rate alerts -----------------------------------------------------------------


def test_a_burn_exactly_at_the_rate_fires() -> None:
    # 72 bad of 5000 a minute for an hour: 0.0144 / 0.001 = 14.4x over 1h and over 5m (>= fires).
    # The 6x pair fires too: its 6h window has 1h of data (>= its 30m short window).
    # The 3x and 1x pairs need 2h and 6h of data: 1h is not enough.
    alerts = burn_alerts(history(60, 5000, 72), NOW, TARGET)
    assert severities(alerts) == [("page", 14.4), ("page", 6.0)]
    assert alerts[0] == BurnAlert("page", HOUR, 5 * MINUTE, 14.4, 14.4, 14.4)
    # one bad event a minute fewer: 71 / 5000 / 0.001 = 14.2x < 14.4: only the 6x page
    assert severities(burn_alerts(history(60, 5000, 71), NOW, TARGET)) == [("page", 6.0)]


def test_a_steady_burn_at_one_is_a_ticket_once_there_is_enough_history() -> None:
    # 1 bad of 1000 a minute: 0.001 / 0.001 = 1.0x in every window, exactly the 1x rate
    assert burn_alerts(history(359, 1000, 1), NOW, TARGET) == []  # 5h59m of data < the 6h short window
    alerts = burn_alerts(history(360, 1000, 1), NOW, TARGET)
    assert alerts == [BurnAlert("ticket", 3 * DAY, 6 * HOUR, 1.0, 1.0, 1.0)]


def test_the_short_window_alone_does_not_fire() -> None:
    # 55 clean minutes, then 5 minutes at 20 bad of 1000 (20x):
    # 5m = 100 / 5000 / 0.001 = 20x >= 14.4, but 1h = 100 / 60000 / 0.001 = 1.67x < 14.4 (and < 6 for 6h)
    minutes = history(5, 1000, 20) + history(55, 1000, 0, end=NOW - 5 * MINUTE)
    assert burn_rate(minutes, NOW, 5 * MINUTE, TARGET) == pytest.approx(20.0)
    assert burn_rate(minutes, NOW, HOUR, TARGET) == pytest.approx(100 / 60000 / 0.001)
    assert burn_alerts(minutes, NOW, TARGET) == []


def test_the_long_window_alone_does_not_fire_either() -> None:
    # an outage that is over: 55 minutes at 20x, then 5 clean minutes.
    # 1h = 1100 / 60000 / 0.001 = 18.3x >= 14.4 but 5m = 0x; 30m = 500 / 30000 / 0.001 = 16.7x,
    # and 6h (1h of data) = 18.3x: the 6x pair still fires, the 14.4x one has stopped
    minutes = history(5, 1000, 0) + history(55, 1000, 20, end=NOW - 5 * MINUTE)
    alerts = burn_alerts(minutes, NOW, TARGET)
    assert severities(alerts) == [("page", 6.0)]
    assert alerts[0].long_burn == pytest.approx(1100 / 60000 / 0.001)
    assert alerts[0].short_burn == pytest.approx(500 / 30000 / 0.001)


def test_a_fresh_total_outage_pages_once_the_short_window_is_full() -> None:
    # every event bad: 1 / 0.001 = 1000x everywhere; the data decides which pairs may fire
    assert burn_alerts(history(4, 100, 100), NOW, TARGET) == []  # 4m < 5m of data
    assert severities(burn_alerts(history(5, 100, 100), NOW, TARGET)) == [("page", 14.4)]
    # 30m of data: the 6x pair joins; the tickets wait for 2h and 6h
    assert severities(burn_alerts(history(30, 100, 100), NOW, TARGET)) == [("page", 14.4), ("page", 6.0)]
    assert [a.rate for a in burn_alerts(history(6 * 60, 100, 100), NOW, TARGET)] == [r.rate for r in BURN_RULES]


@given(
    st.lists(st.tuples(st.integers(0, 200), st.integers(0, 200), st.booleans()), max_size=120),
    st.sampled_from([90.0, 99.0, 99.5, 99.9, 99.99]),
)
def test_availability_budget_and_burn_agree(rows: list, target: float) -> None:
    minutes = [Minute(NOW - (i + 1) * MINUTE, c, min(f, c), x) for i, (c, f, x) in enumerate(rows)]
    a = availability(minutes, NOW, 3 * HOUR)
    b = burn_rate(minutes, NOW, 3 * HOUR, target)
    left = budget_left(minutes, NOW, 3 * HOUR, target)
    if a is None:
        assert b is None and left == 100.0
    else:
        assert 0.0 <= a <= 100.0
        assert b == pytest.approx((100 - a) / (100 - target), rel=1e-6, abs=1e-6)
        assert left == pytest.approx(100 * (1 - b), rel=1e-6, abs=1e-6)


# --- MTTR and MTBF --------------------------------------------------------------------

START = NOW - DAY
CHANGES = [
    (START - 100, "crit"),  # down before the window: not an incident of this window
    (START + 100, "ok"),  # ... its repair is not one of ours either; up from +100
    (START + 1000, "warn"),  # warn is up: no change
    (START + 2000, "crit"),  # incident 1
    (START + 2300, "unknown"),  # unknown changes nothing: still down
    (START + 2600, "ok"),  # repaired after 600
    (START + 10000, "crit"),  # incident 2
    (START + 10050, "crit"),  # still the same incident
    (START + 10100, "ok"),  # repaired after 100
    (START + 80000, "crit"),  # incident 3, still going at NOW
    (NOW + 50, "ok"),  # after now: ignored
]


def test_mttr_and_mtbf_for_a_known_sequence() -> None:
    rel = reliability(CHANGES, NOW, DAY)
    assert rel.incidents == 3
    # completed repairs: 600 and 100 -> MTTR 350 (the ongoing one is not a repair yet)
    assert rel.mttr == pytest.approx(350.0)
    # up: 100..2000 (1900) + 2600..10000 (7400) + 10100..80000 (69900) = 79200 over 3 failures
    assert rel.mtbf == pytest.approx(26400.0)


def test_reliability_is_undefined_without_failures() -> None:
    assert reliability([], NOW, DAY) == (reliability([(START, "ok")], NOW, DAY))
    rel = reliability([(START, "ok"), (START + 10, "warn")], NOW, DAY)
    assert (rel.mttr, rel.mtbf, rel.incidents) == (None, None, 0)
    ongoing = reliability([(START + 100, "ok"), (START + 500, "crit")], NOW, DAY)
    assert (ongoing.mttr, ongoing.mtbf, ongoing.incidents) == (None, 400.0, 1)  # 400s up, then one failure


def test_service_statuses_read_the_same_way() -> None:
    rel = reliability([(START, "ok"), (START + 100, "down"), (START + 160, "degraded")], NOW, DAY)
    assert (rel.mttr, rel.incidents) == (60.0, 1)  # degraded is up: the service serves


# --- the report -----------------------------------------------------------------------


def test_a_report_for_the_slo_screen() -> None:
    # two days at 1 bad of 1000 a minute (1.0x everywhere), then the last 10 minutes all bad
    minutes = history(10, 1000, 1000) + history(2 * 24 * 60 - 10, 1000, 1, end=NOW - 10 * MINUTE)
    r = report("checkout", SLO(TARGET, 30 * DAY), minutes, CHANGES, NOW)
    total = 2 * 24 * 60 * 1000
    bad = 10 * 1000 + (2 * 24 * 60 - 10)
    assert (r.subject, r.target, r.window, r.covered) == ("checkout", TARGET, 30 * DAY, 2 * DAY)
    assert r.availability == pytest.approx(100 * (total - bad) / total)
    assert r.budget_left == pytest.approx(100 * (1 - bad / total / 0.001))
    # 1h: 10000 + 50 bad of 60000 -> 167.5x
    assert r.burn(HOUR) == pytest.approx((10000 + 50) / 60000 / 0.001)
    assert [w.window for w in r.burn_rates] == [HOUR, 6 * HOUR, DAY, 3 * DAY]
    assert r.burn_rates[-1].covered == 2 * DAY  # a 3d window backed by 2 days of data
    assert [w.window for w in r.availabilities] == [HOUR, DAY, 7 * DAY, 30 * DAY]
    assert r.availabilities[0].value == pytest.approx(100 * (60000 - 10050) / 60000)
    # 5m: 1000x; 1h: 167.5x; 30m: (10000 + 20) / 30000 / 0.001 = 334x; every pair fires
    assert [a.severity for a in r.burn_alerts] == ["page", "page", "ticket", "ticket"]
    # over the 30d SLO window the outage at START - 100 is an incident too (repaired after 200):
    # MTTR (200 + 600 + 100) / 3 = 300; MTBF 79200 up (none known before START - 100) / 4 = 19800
    assert (r.mttr, r.mtbf, r.incidents) == (pytest.approx(300.0), pytest.approx(19800.0), 4)
