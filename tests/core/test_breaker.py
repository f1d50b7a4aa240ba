"""Circuit breaker: example tests per rule, and a stateful property test of the invariants."""

from __future__ import annotations

import math

import pytest
from hypothesis import HealthCheck, settings, strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

from dash.core.breaker import (
    TRANSITIONS_KEPT,
    Breaker,
    BreakerSettings,
    gate,
    is_allowed_edge,
)
from dash.model import BreakerState
from dash.model import BreakerState as S

T0 = 1000.0


def make(**kw) -> Breaker:
    base = dict(window=10.0, min_calls=4, failure_rate=50.0, slow_rate=100.0, slow_call=1.0,
                open_for=30.0, open_for_max=100.0)
    base.update(kw)
    return Breaker("db", BreakerSettings(**base), T0)


def feed(b: Breaker, now: float, outcomes: str, latency: float = 0.1) -> None:
    """Record one call per character: 'f' failed, 'o' ok, 's' ok but slow."""
    for c in outcomes:
        b.record(now, failed=c == "f", latency=5.0 if c == "s" else latency)


def open_breaker(b: Breaker, now: float = T0) -> None:
    feed(b, now, "ffff")
    assert b.state is S.OPEN


# -- opening -------------------------------------------------------------------


def test_settings_defaults_are_written_down():
    s = BreakerSettings()
    assert (s.window, s.min_calls, s.failure_rate, s.slow_rate, s.slow_call) == (60.0, 5, 50.0, 100.0, 5.0)
    assert (s.open_for, s.open_for_max, s.enabled) == (30.0, 300.0, True)


def test_does_not_open_before_min_calls_even_at_full_failure():
    b = make()
    feed(b, T0, "fff")
    assert b.state is S.CLOSED
    assert b.allow(T0)


def test_opens_at_exactly_min_calls_and_threshold():
    b = make()
    feed(b, T0, "oof")
    assert b.state is S.CLOSED
    feed(b, T0, "f")  # 2 of 4 = 50% >= 50%
    assert b.state is S.OPEN
    assert not b.allow(T0)
    snap = b.snapshot(T0)
    assert snap.last_transition_cause == "failure rate 50% >= 50% over 4 calls"
    assert snap.transitions[-1].before is S.CLOSED and snap.transitions[-1].after is S.OPEN


def test_below_threshold_stays_closed():
    b = make()
    feed(b, T0, "ooofoooo")  # 1 of 8 = 12.5%
    assert b.state is S.CLOSED
    assert b.snapshot(T0).failure_rate == pytest.approx(12.5)


def test_cause_names_the_rate_and_the_call_count():
    b = make(min_calls=10)
    feed(b, T0, "oo" + "f" * 8)
    assert b.snapshot(T0).last_transition_cause == "failure rate 80% >= 50% over 10 calls"


def test_slow_calls_open_it():
    b = make(slow_rate=75.0)
    feed(b, T0, "sso")
    assert b.state is S.CLOSED
    feed(b, T0, "s")  # 3 of 4 slow = 75%
    assert b.state is S.OPEN
    assert b.snapshot(T0).last_transition_cause == (
        "slow-call rate 75% >= 75% over 4 calls (slow means >= 1s)"
    )


def test_slow_means_at_or_above_slow_call():
    b = make(slow_rate=50.0, min_calls=2)
    b.record(T0, failed=False, latency=0.999)
    b.record(T0, failed=False, latency=1.0)
    snap = b.snapshot(T0)
    assert snap.slow_calls == 1
    assert b.state is S.OPEN


def test_window_forgets_old_calls():
    b = make()
    feed(b, T0, "fff")
    assert b.snapshot(T0 + 9.0).calls == 3
    # Past the window the three failures are gone: one more failure is 1 of 1 call.
    feed(b, T0 + 10.5, "f")
    snap = b.snapshot(T0 + 10.5)
    assert snap.calls == 1
    assert b.state is S.CLOSED


def test_window_counts_only_calls_younger_than_window():
    b = make(window=3.0, min_calls=100)
    for i in range(10):
        b.record(T0 + i * 0.5, failed=False, latency=0.1)
    now = T0 + 4.5
    in_window = sum(1 for i in range(10) if T0 + i * 0.5 > now - 3.0)
    assert 0 < b.snapshot(now).calls <= in_window


# -- open, trial, half-open ------------------------------------------------------


def test_trial_is_due_only_after_open_for():
    b = make()
    open_breaker(b)
    assert b.next_event_at() == T0 + 30.0
    assert gate(b, T0 + 29.9) == "skip"
    assert not b.trial_due(T0 + 29.9)
    assert not b.begin_trial(T0 + 29.9)
    assert b.state is S.OPEN
    assert gate(b, T0 + 30.0) == "trial"
    assert b.begin_trial(T0 + 30.0)
    assert b.state is S.HALF_OPEN
    assert gate(b, T0 + 30.0) == "skip"  # the trial is the only call through


def test_only_one_trial_in_flight():
    b = make()
    open_breaker(b)
    assert b.begin_trial(T0 + 31)
    assert not b.begin_trial(T0 + 31)
    assert not b.trial_due(T0 + 100)
    assert not b.allow(T0 + 100)
    assert b.next_event_at() is None


def test_trial_success_closes_and_clears():
    b = make()
    open_breaker(b)
    b.begin_trial(T0 + 30)
    b.record(T0 + 30.2, failed=False, latency=0.2, trial=True)
    assert b.state is S.CLOSED
    assert b.allow(T0 + 30.2)
    snap = b.snapshot(T0 + 30.2)
    assert snap.calls == 0 and snap.failure_rate is None
    assert snap.last_transition_cause == "trial succeeded"
    assert snap.open_for == 30.0


def test_failed_trials_double_open_for_up_to_the_cap():
    b = make()
    open_breaker(b)
    now = T0
    causes = []
    for expected in (60.0, 100.0, 100.0):
        now = b.next_event_at()
        assert b.begin_trial(now)
        b.record(now, failed=True, latency=0.1, trial=True)
        assert b.state is S.OPEN
        assert b.open_for == expected
        assert b.next_event_at() == now + expected
        causes.append(b.snapshot(now).last_transition_cause)
    assert causes == ["trial failed; open for 60s", "trial failed; open for 100s", "trial failed; open for 100s"]
    # A success after that brings the duration back to the base.
    now = b.next_event_at()
    b.begin_trial(now)
    b.record(now, failed=False, latency=0.1, trial=True)
    assert b.state is S.CLOSED and b.open_for == 30.0
    open_breaker(b, now + 1)
    assert b.next_event_at() == now + 1 + 30.0


def test_late_results_never_close_an_open_breaker():
    b = make()
    open_breaker(b)
    feed(b, T0 + 1, "oooooooo")  # probes that started before it opened
    assert b.state is S.OPEN
    assert b.snapshot(T0 + 1).calls == 12
    b.begin_trial(T0 + 30)
    feed(b, T0 + 30, "o")  # a late normal result while half-open does not resolve the trial
    assert b.state is S.HALF_OPEN
    b.record(T0 + 30.5, failed=True, latency=0.1, trial=True)
    assert b.state is S.OPEN


def test_cancelled_trial_goes_back_to_open_with_a_trial_due():
    b = make()
    open_breaker(b)
    b.begin_trial(T0 + 30)
    assert b.cancel_trial(T0 + 31)
    assert b.state is S.OPEN and b.open_for == 30.0
    assert gate(b, T0 + 31) == "trial"
    assert not b.cancel_trial(T0 + 31)


# -- operator overrides ---------------------------------------------------------


def test_force_open_blocks_probes_and_trials():
    b = make()
    assert b.force_open(T0)
    assert b.state is S.FORCED_OPEN
    assert gate(b, T0 + 1000) == "skip"
    assert not b.begin_trial(T0 + 1000)
    assert b.next_event_at() is None
    assert b.snapshot(T0).last_transition_cause == "forced open by operator"


def test_force_closed_never_opens_but_still_counts():
    b = make()
    b.force_closed(T0)
    feed(b, T0, "ffffffff")
    assert b.state is S.FORCED_CLOSED
    assert gate(b, T0) == "probe"
    snap = b.snapshot(T0)
    assert snap.failures == 8 and snap.failure_rate == 100.0


def test_metrics_only_computes_rates_but_never_blocks():
    b = make()
    b.metrics_only(T0)
    feed(b, T0, "ffoo")
    assert b.state is S.METRICS_ONLY
    assert b.allow(T0)
    assert b.snapshot(T0).failure_rate == 50.0


def test_override_during_a_trial_drops_the_trial():
    b = make()
    open_breaker(b)
    b.begin_trial(T0 + 30)
    b.force_closed(T0 + 31)
    b.record(T0 + 32, failed=True, latency=0.1, trial=True)  # arrives after the override
    assert b.state is S.FORCED_CLOSED


def test_reset_closes_clears_and_restores_base_duration():
    b = make()
    open_breaker(b)
    b.begin_trial(T0 + 30)
    b.record(T0 + 30, failed=True, latency=0.1, trial=True)
    assert b.open_for == 60.0
    b.force_open(T0 + 40)
    assert b.reset(T0 + 41)
    assert b.state is S.CLOSED and b.open_for == 30.0
    snap = b.snapshot(T0 + 41)
    assert snap.calls == 0
    assert snap.last_transition_cause == "reset by operator"
    assert [t.after for t in snap.transitions] == [S.OPEN, S.HALF_OPEN, S.OPEN, S.FORCED_OPEN, S.CLOSED]


def test_disabled_always_allows_records_and_ignores_overrides():
    b = make(enabled=False)
    assert b.state is S.DISABLED
    feed(b, T0, "ffffffff")
    assert b.allow(T0) and b.state is S.DISABLED
    assert not b.force_open(T0) and not b.reset(T0)
    snap = b.snapshot(T0)
    assert snap.state is S.DISABLED and snap.failures == 8 and snap.transitions == ()
    assert snap.last_transition_cause == "disabled in config"


# -- snapshot -----------------------------------------------------------------


def test_snapshot_counts_rates_and_percentiles():
    b = make(min_calls=1000, window=60.0)
    for i in range(100):
        b.record(T0 + i * 0.3, failed=i % 4 == 0, latency=(i + 1) / 100)
    snap = b.snapshot(T0 + 30)
    assert snap.name == "db" and snap.state is S.CLOSED
    assert snap.calls == 100 and snap.failures == 25
    assert snap.failure_rate == 25.0
    assert (snap.p50, snap.p90, snap.p99) == (0.5, 0.9, 0.99)
    assert snap.calls_per_minute == pytest.approx(200.0)  # 100 calls in the 30 s since start
    assert snap.next_trial_in is None and snap.open_for == 30.0


def test_snapshot_without_calls():
    snap = make().snapshot(T0)
    assert snap.calls == 0 and snap.failure_rate is None and snap.slow_rate is None
    assert snap.p50 is None and snap.p99 is None and snap.calls_per_minute == 0.0
    assert snap.last_transition_at == T0 and snap.last_transition_cause == "started"


def test_snapshot_counts_down_to_the_trial():
    b = make()
    open_breaker(b, T0 + 5)
    assert b.snapshot(T0 + 5).next_trial_in == 30.0
    assert b.snapshot(T0 + 25).next_trial_in == pytest.approx(10.0)
    assert b.snapshot(T0 + 50).next_trial_in == 0.0
    assert b.snapshot(T0 + 25).last_transition_at == T0 + 5


def test_snapshot_is_immutable():
    snap = make().snapshot(T0)
    with pytest.raises(AttributeError):
        snap.calls = 3  # type: ignore[misc]


def test_error_rate_sparkline_has_fixed_length_and_oldest_first():
    b = make(window=60.0, min_calls=1000)
    feed(b, T0, "ff")  # second 1000
    feed(b, T0 + 58.0, "fo")  # second 1058
    snap = b.snapshot(T0 + 59.0)
    assert len(snap.error_rates) == 30  # 2-second groups over 60 s
    assert snap.error_rates[0] == 100.0
    assert snap.error_rates[-1] == 50.0
    assert set(snap.error_rates[1:-1]) == {0.0}
    assert len(make(window=10.0).snapshot(T0).error_rates) == 10


def test_transition_log_is_bounded():
    b = make()
    for i in range(50):
        b.force_open(T0 + i)
        b.reset(T0 + i)
    assert len(b.snapshot(T0 + 60).transitions) == TRANSITIONS_KEPT


def test_latency_samples_per_second_are_bounded():
    b = make(min_calls=10**6)
    for _ in range(10_000):
        b.record(T0, failed=False, latency=0.1)
    for _ in range(32):
        b.record(T0, failed=False, latency=0.9)
    snap = b.snapshot(T0)
    assert snap.calls == 10_032
    # Only the latest 32 samples of a second are kept: the early fast calls are gone.
    assert snap.p50 == 0.9 and snap.p99 == 0.9


# -- stateful property test -------------------------------------------------------

ALLOWING = {S.CLOSED, S.FORCED_CLOSED, S.METRICS_ONLY, S.DISABLED}


class BreakerMachine(RuleBasedStateMachine):
    """Random time, results, trials and overrides against a fake clock."""

    @initialize(
        window=st.integers(1, 20),
        min_calls=st.integers(1, 6),
        failure_rate=st.floats(1, 100),
        slow_rate=st.floats(1, 100),
        slow_call=st.sampled_from([0.1, 0.5, 2.0]),
        open_for=st.integers(1, 20),
        extra=st.sampled_from([0, 1, 3, 10, 40]),
        enabled=st.sampled_from([True, True, True, False]),
    )
    def setup(self, window, min_calls, failure_rate, slow_rate, slow_call, open_for, extra, enabled):
        self.settings = BreakerSettings(
            window=float(window), min_calls=min_calls, failure_rate=failure_rate,
            slow_rate=slow_rate, slow_call=slow_call, open_for=float(open_for),
            open_for_max=float(open_for + extra), enabled=enabled,
        )
        self.now = T0
        self.b = Breaker("dep", self.settings, self.now)
        self.recorded: list[float] = []  # times of every call recorded
        self.latencies: list[float] = []
        self.trials = 0  # trials in flight, as the scheduler sees them

    @rule(ms=st.integers(0, 15_000))
    def advance(self, ms):
        self.now += ms / 1000

    @rule()
    def wait_for_trial(self):
        # Jump the clock to the due trial so open/half-open cycles happen often.
        due = self.b.next_event_at()
        if due is not None:
            self.now = max(self.now, due)

    @rule(failed=st.booleans(), latency=st.sampled_from([0.0, 0.05, 0.5, 1.0, 3.0]))
    def probe_if_allowed(self, failed, latency):
        if gate(self.b, self.now) == "probe":
            self._record(failed, latency, trial=False)

    @rule(failed=st.booleans(), latency=st.sampled_from([0.05, 3.0]))
    def late_result(self, failed, latency):
        before = self.b.state
        self._record(failed, latency, trial=False)
        if before is not S.CLOSED:
            assert self.b.state is before  # late results move only a closed breaker

    @rule()
    def try_trial(self):
        due = self.b.trial_due(self.now)
        assert (gate(self.b, self.now) == "trial") == due
        assert self.b.begin_trial(self.now) is due
        if due:
            self.trials += 1
            assert self.b.state is S.HALF_OPEN
            assert not self.b.begin_trial(self.now)

    @precondition(lambda self: self.trials > 0)
    @rule(failed=st.booleans(), latency=st.sampled_from([0.05, 3.0]))
    def finish_trial(self, failed, latency):
        before_open_for = self.b.open_for
        self._record(failed, latency, trial=True)
        self.trials = 0
        if failed:
            assert self.b.state is S.OPEN
            assert self.b.open_for == min(before_open_for * 2, self.settings.open_for_max)
        else:
            assert self.b.state is S.CLOSED

    @precondition(lambda self: self.trials > 0)
    @rule()
    def cancel_trial(self):
        assert self.b.cancel_trial(self.now)
        self.trials = 0
        assert self.b.state is S.OPEN

    @rule(action=st.sampled_from(["force_open", "force_closed", "metrics_only", "reset"]))
    def operator(self, action):
        applied = getattr(self.b, action)(self.now)
        assert applied is (self.settings.enabled)
        if applied:
            self.trials = 0
        if action == "reset" and applied:
            self.recorded.clear()  # the window is cleared
            assert self.b.open_for == min(self.settings.open_for, self.settings.open_for_max)

    def _record(self, failed, latency, trial):
        self.b.record(self.now, failed=failed, latency=latency, trial=trial)
        self.recorded.append(self.now)
        self.latencies.append(latency)
        if trial and not failed and self.trials:
            self.recorded.clear()  # trial success clears the window

    @invariant()
    def no_probe_while_blocked(self):
        assert self.b.allow(self.now) is (self.b.state in ALLOWING)
        if self.b.state in (S.OPEN, S.FORCED_OPEN, S.HALF_OPEN):
            assert gate(self.b, self.now) != "probe"
        if self.b.state is S.FORCED_OPEN:
            assert gate(self.b, self.now) == "skip"

    @invariant()
    def at_most_one_trial(self):
        assert self.trials <= 1
        assert (self.b.state is S.HALF_OPEN) == (self.trials == 1)

    @invariant()
    def rates_in_range(self):
        snap = self.b.snapshot(self.now)
        for r in (snap.failure_rate, snap.slow_rate, *snap.error_rates):
            assert r is None or 0.0 <= r <= 100.0
        assert snap.failures <= snap.calls and snap.slow_calls <= snap.calls
        if snap.calls:
            assert snap.p50 <= snap.p90 <= snap.p99
            assert min(self.latencies) <= snap.p50 and snap.p99 <= max(self.latencies)

    @invariant()
    def transitions_follow_allowed_edges(self):
        log = self.b.snapshot(self.now).transitions
        assert len(log) <= TRANSITIONS_KEPT
        for t in log:
            assert is_allowed_edge(t.before, t.after), t
        for a, b in zip(log, log[1:]):
            assert a.after is b.before and a.at <= b.at
        if log:
            assert log[-1].after is self.b.state

    @invariant()
    def open_for_bounded(self):
        s = self.settings
        assert min(s.open_for, s.open_for_max) <= self.b.open_for <= s.open_for_max
        snap = self.b.snapshot(self.now)
        if self.b.state is S.OPEN:
            assert self.b.next_event_at() is not None
            assert 0.0 <= snap.next_trial_in <= self.b.open_for
        else:
            assert self.b.next_event_at() is None and snap.next_trial_in is None

    @invariant()
    def window_holds_only_recent_calls(self):
        calls = self.b.snapshot(self.now).calls
        recent = sum(1 for t in self.recorded if t > self.now - self.settings.window - 1e-9)
        assert calls <= recent
        # Exactly the calls whose whole second is still among the window's seconds.
        oldest = math.floor(self.now) - int(self.settings.window) + 1
        assert calls == sum(1 for t in self.recorded if math.floor(t) >= oldest)


TestBreakerMachine = BreakerMachine.TestCase
TestBreakerMachine.settings = settings(
    max_examples=150, stateful_step_count=50, deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)


def test_export_and_import_bring_an_open_breaker_back_with_its_countdown():
    settings = BreakerSettings(min_calls=2, open_for=30, open_for_max=120)
    old = Breaker("db", settings, now=100.0)
    for t in (100.0, 101.0):
        old.record(t, failed=True, latency=0.1)
    assert old.state is BreakerState.OPEN
    saved = old.export_state(now=111.0)  # 20 s of the 30 s left
    new = Breaker("db", settings, now=5000.0)  # a new process: a new monotonic clock
    assert new.import_state(saved, now=5000.0, elapsed=5.0)
    snap = new.snapshot(5000.0)
    assert snap.state is BreakerState.OPEN
    assert snap.next_trial_in == 15.0
    assert snap.last_transition_cause == old.snapshot(111.0).last_transition_cause
    assert snap.last_transition_at == 5000.0 - 15.0
    assert not new.allow(5000.0)
    assert new.trial_due(5015.0)


def test_import_of_a_half_open_breaker_makes_the_trial_due_at_once():
    settings = BreakerSettings(min_calls=1, open_for=10)
    old = Breaker("db", settings, now=0.0)
    old.record(0.0, failed=True, latency=0.1)
    assert old.begin_trial(10.0)
    new = Breaker("db", settings, now=0.0)
    assert new.import_state(old.export_state(now=11.0), now=0.0)
    assert new.state is BreakerState.OPEN and new.trial_due(0.0)


@pytest.mark.parametrize("doc", [None, [], {}, {"state": "exploded"}, {"state": "open", "open_for": "x"}])
def test_import_of_a_broken_state_changes_nothing(doc):
    b = Breaker("db", BreakerSettings(), now=0.0)
    assert not b.import_state(doc, now=0.0)
    assert b.state is BreakerState.CLOSED
