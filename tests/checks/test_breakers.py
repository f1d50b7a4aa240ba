"""The breakers check kind and the Prometheus text parser, on real-world-shaped samples.

The samples in tests/checks/samples/ follow what resilience4j-spring-boot3's actuator
endpoint, micrometer-registry-prometheus (client 1.x), the old Java simpleclient
(trailing commas in label sets) and OpenMetrics (exemplars, # EOF) write. The probe
runs end to end against a loopback server that serves them.
"""

from __future__ import annotations

import asyncio
import json
import math
import socket
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import trustme
from hypothesis import given, settings
from hypothesis import strategies as st

from checks import breakers, prometheus_text
from checks.base import Resources
from checks.breakers import Policy, RemoteBreaker, UnreadableBody, judge, remote_breakers
from dash.config import ConfigError, parse_config
from dash.model import BreakerState, Metric, Outcome, Reason, Status
from tests.servers import FaultFarm, server_context
from tests.checks.conftest import toml_value

SAMPLES = Path(__file__).parent / "samples"
DEADLINE = 2.0
ACTUATOR_TYPE = "application/vnd.spring-boot.actuator.v3+json"
PROMETHEUS_TYPE = "text/plain;version=0.0.4;charset=utf-8"
OPENMETRICS_TYPE = "application/openmetrics-text;version=1.0.0;charset=utf-8"


def sample(name: str) -> bytes:
    return (SAMPLES / name).read_bytes()


def by_name(found: list[tuple[str, RemoteBreaker]]) -> dict[str, RemoteBreaker]:
    return {b.name: b for _, b in found}


# --- the loopback server ----------------------------------------------------------------


class SampleFarm(FaultFarm):
    """The fault farm, plus `/samples/<file>?type=<content type>` and `/body/<key>`
    (a body a test put in `bodies`), so the broken endpoints stay available."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.bodies: dict[str, tuple[bytes, str]] = {}

    async def _route(self, method, target, headers, reader, writer) -> bool:  # type: ignore[override]
        parts = urlsplit(target)
        path = parts.path
        if path.startswith("/samples/"):
            ctype = parse_qs(parts.query).get("type", ["text/plain"])[0]
            return await self._send(writer, 200, sample(path.removeprefix("/samples/")), ctype)
        if path.startswith("/body/"):
            body, ctype = self.bodies[path.removeprefix("/body/")]
            return await self._send(writer, 200, body, ctype)
        return await super()._route(method, target, headers, reader, writer)


@pytest.fixture(scope="module")
def farm():
    with SampleFarm() as server:
        yield server


def config_text(**options: Any) -> str:
    lines = ["[[check]]", 'name = "orders-breakers"', 'kind = "breakers"']
    lines += [f"{key} = {toml_value(value)}" for key, value in options.items()]
    return "\n".join(lines) + "\n"


def load(**options: Any):
    """The check as dash.config builds it from dash.toml (defaults filled, validated)."""
    return parse_config(config_text(**options), kinds={"breakers": breakers}).checks[0]


async def run(resources: Resources, **options: Any) -> Outcome:
    probe = breakers.make(load(**options), resources)
    return await asyncio.wait_for(probe.probe(), DEADLINE)


# --- the Prometheus text parser ---------------------------------------------------------


def test_help_type_and_comments():
    text = (
        "# HELP up Was the last scrape \\\\ of the \\n target successful.\n"
        "# TYPE up gauge\n"
        "# just a comment, with a { brace\n"
        "#TYPE tight counter\n"
        "up 1\n"
        "# EOF\n"
    )
    parsed = prometheus_text.parse(text)
    assert parsed.samples == (prometheus_text.Sample("up", (), 1.0),)
    assert parsed.help == {"up": "Was the last scrape \\ of the \n target successful."}
    assert parsed.types == {"up": "gauge", "tight": "counter"}
    assert parsed.skipped == 0


def test_escaped_label_values():
    line = r'msg{text="say \"hi\"",path="C:\\temp\\x",multi="a\nb",odd="\q"} 2'
    s = prometheus_text.parse_line(line)
    assert s is not None
    assert s.labels == (("text", 'say "hi"'), ("path", "C:\\temp\\x"), ("multi", "a\nb"), ("odd", "\\q"))
    assert s.label("multi") == "a\nb" and s.label("missing", "-") == "-"


def test_labels_optional_empty_or_with_trailing_comma_and_spaces():
    p = prometheus_text.parse_line
    assert p("plain 3") == prometheus_text.Sample("plain", (), 3.0)
    assert p("empty{} 4") == prometheus_text.Sample("empty", (), 4.0)
    assert p('old{a="1",} 5').labels == (("a", "1"),)
    assert p('spaced { a = "1" , b="2" }  6').labels == (("a", "1"), ("b", "2"))
    assert p('{"http.server.duration", "service.name"="api"} 7') == prometheus_text.Sample(
        "http.server.duration", (("service.name", "api"),), 7.0
    )


def test_values_and_timestamps():
    p = prometheus_text.parse_line
    assert math.isnan(p("a NaN").value)  # type: ignore[union-attr]
    assert p("a +Inf").value == math.inf  # type: ignore[union-attr]
    assert p("a -Inf").value == -math.inf  # type: ignore[union-attr]
    assert p("a 1.718633514261E9").value == 1718633514.261  # type: ignore[union-attr]
    assert p("a -1.0 1712345678000") == prometheus_text.Sample("a", (), -1.0, 1712345678000.0)
    assert p('a{b="c"} 3 # {trace_id="x"} 1.0 1718633600.1').value == 3.0  # type: ignore[union-attr]


@pytest.mark.parametrize(
    "line",
    [
        "a",  # no value
        "a1.5",  # no space before the value
        "a{b=\"c\"}1",
        "a 1 2 3",
        "a 1_000",
        "a 0x1f",
        "a twelve",
        "a 1 NaN",  # timestamps must be finite
        'a{b=c} 1',
        'a{b="c" d="e"} 1',
        'a{b="c" 1',
        'a{b="unterminated} 1',
        'a{,} 1',
        '{b="c"} 1',  # no metric name
        "9lives 1",
        "<html><body>502 Bad Gateway</body></html>",
    ],
)
def test_garbage_lines_are_skipped(line):
    parsed = prometheus_text.parse(f"good 1\n{line}\nalso_good 2\n")
    assert [s.name for s in parsed.samples] == ["good", "also_good"]
    assert parsed.skipped == 1


def test_empty_and_blank_bodies():
    assert prometheus_text.parse("") == prometheus_text.Exposition()
    assert prometheus_text.parse(b"\n\r\n   \n").samples == ()


def test_crlf_and_invalid_utf8():
    parsed = prometheus_text.parse(b'a{n="caf\xff"} 1\r\nb 2\r\n')
    assert [(s.name, s.labels, s.value) for s in parsed.samples] == [("a", (("n", "caf\ufffd"),), 1.0), ("b", (), 2.0)]


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=300))
def test_parser_never_raises(text):
    parsed = prometheus_text.parse(text)
    assert all(isinstance(s.value, float) for s in parsed.samples)


@settings(max_examples=200, deadline=None)
@given(
    st.from_regex(r"[a-zA-Z_:][a-zA-Z0-9_:]{0,20}", fullmatch=True),
    st.dictionaries(st.from_regex(r"[a-zA-Z_][a-zA-Z0-9_]{0,10}", fullmatch=True), st.text(max_size=30), max_size=4),
    st.floats(allow_nan=False),
)
def test_written_samples_read_back(name, labels, value):
    body = ",".join(f'{k}="{_escape(v)}"' for k, v in labels.items())
    line = f"{name}{{{body}}} {value!r}" if labels else f"{name} {value!r}"
    assert prometheus_text.parse(line).samples == (prometheus_text.Sample(name, tuple(labels.items()), value),)


# --- reading breakers: actuator -----------------------------------------------------------


def test_actuator_sample_with_every_state():
    found = by_name(breakers.parse_actuator(sample("actuator_circuitbreakers.json")))
    assert {n: b.state for n, b in found.items()} == {
        "backendA": BreakerState.CLOSED,
        "inventoryService": BreakerState.HALF_OPEN,
        "legacyGateway": BreakerState.FORCED_OPEN,
        "paymentService": BreakerState.OPEN,
        "recommendations": BreakerState.METRICS_ONLY,
        "shippingQuotes": BreakerState.DISABLED,
    }
    assert found["paymentService"] == RemoteBreaker("paymentService", BreakerState.OPEN, 80.0, 10.0, 10, 42, "OPEN")
    # "-1.0%": not enough calls yet, so no rate at all (not a negative one)
    assert (found["backendA"].failure_rate, found["backendA"].slow_rate) == (None, None)
    assert found["recommendations"].failure_rate == 12.5


def test_actuator_sample_outcome_message():
    found = breakers.parse_actuator(sample("actuator_circuitbreakers.json"))
    outcome = judge([b for _, b in found], Policy())
    assert (outcome.status, outcome.reason) == (Status.WARN, Reason.THRESHOLD)
    assert outcome.message == (
        "6 breakers: 1 OPEN (paymentService 80% failures), 1 FORCED-OPEN (legacyGateway), "
        "1 HALF-OPEN (inventoryService), 1 CLOSED, 1 METRICS-ONLY, 1 DISABLED"
    )
    assert "paymentService    OPEN" in outcome.detail


def test_actuator_health_shape_is_understood_too():
    found = by_name(breakers.parse_actuator(sample("actuator_health.json")))
    assert found["productService"] == RemoteBreaker("productService", BreakerState.OPEN, 100.0, 0.0, 5, 3, "OPEN")
    assert found["backendA"].state is BreakerState.CLOSED


@pytest.mark.parametrize(
    "body, message",
    [
        (b"", "invalid JSON: Expecting value"),
        (b'{"circuitBreakers": {"a": ', "invalid JSON: Expecting value"),
        (b"[1, 2]", breakers.NO_BREAKERS),
        (b'{"circuitBreakers": {}}', breakers.NO_BREAKERS),
        (b'{"status": "UP"}', breakers.NO_BREAKERS),
        (b'{"circuitBreakers": {"a": "CLOSED"}}', breakers.NO_BREAKERS),
        (b"[" * 100_000, "invalid JSON: RecursionError"),
    ],
)
def test_actuator_unreadable_bodies(body, message):
    with pytest.raises(UnreadableBody) as caught:
        breakers.parse_actuator(body)
    assert str(caught.value) == message


def test_actuator_unknown_and_missing_states_are_unknown_not_ok():
    body = b'{"circuitBreakers": {"a": {"state": "SLEEPING", "failureRate": "5.0%"}, "b": {"state": null}, "c": {}}}'
    found = [b for _, b in breakers.parse_actuator(body)]
    assert [b.state for b in found] == [None, None, None]
    outcome = judge(found, Policy())
    assert (outcome.status, outcome.reason) == (Status.UNKNOWN, Reason.ASSERTION)
    assert outcome.message == (
        "3 breakers: 3 in unknown state (a 5% failures state SLEEPING, b no state reported, c no state reported)"
    )


def test_actuator_odd_values_do_not_break_anything():
    body = (
        b'{"circuitBreakers": {"x": {"state": "closed", "failureRate": 25, "slowCallRate": "NaN%",'
        b' "bufferedCalls": true, "notPermittedCalls": -3}}}'
    )
    [(_, b)] = breakers.parse_actuator(body)
    assert b == RemoteBreaker("x", BreakerState.CLOSED, 25.0, None, None, None, "closed")


# --- reading breakers: Prometheus ---------------------------------------------------------


def test_prometheus_spring_boot3_sample():
    found = by_name(breakers.parse_prometheus(sample("prometheus_spring_boot3.txt")))
    assert found == {
        "backendA": RemoteBreaker("backendA", BreakerState.CLOSED, None, None, 3, 0, "closed"),
        "paymentService": RemoteBreaker("paymentService", BreakerState.OPEN, 80.0, 10.0, 10, 42, "open"),
    }


def test_prometheus_legacy_simpleclient_sample():
    found = by_name(breakers.parse_prometheus(sample("prometheus_simpleclient_legacy.txt")))
    assert found["pricing"] == RemoteBreaker("pricing", BreakerState.HALF_OPEN, None, None, 2, 17, "half_open")
    assert found["search"].state is BreakerState.CLOSED and found["search"].calls == 22
    assert judge(list(found.values()), Policy()).message == "2 breakers: 1 HALF-OPEN (pricing), 1 CLOSED"


def test_prometheus_openmetrics_sample():
    [(_, b)] = breakers.parse_prometheus(sample("prometheus_openmetrics.txt"))
    assert b == RemoteBreaker("ledger", BreakerState.OPEN, 66.66667, None, None, 9, "open")
    assert judge([b], Policy()).message == "1 breaker: 1 OPEN (ledger 66.7% failures)"


def test_prometheus_unknown_state_and_no_current_state():
    text = (
        'resilience4j_circuitbreaker_state{name="a",state="closed"} 0\n'
        'resilience4j_circuitbreaker_state{name="a",state="hibernating"} 1\n'
        'resilience4j_circuitbreaker_state{name="b",state="closed"} 0\n'
        'resilience4j_circuitbreaker_state{name="b",state="open"} 0\n'
    )
    found = by_name(breakers.parse_prometheus(text))
    assert (found["a"].state, found["a"].label) == (None, "hibernating")
    assert (found["b"].state, found["b"].label) == (None, "UNKNOWN")
    outcome = judge(list(found.values()), Policy(open_is=Status.CRIT))
    assert (outcome.status, outcome.reason) == (Status.UNKNOWN, Reason.ASSERTION)
    assert outcome.message == "2 breakers: 2 in unknown state (a state hibernating, b no state reported)"


def test_prometheus_state_as_one_series_with_the_state_order():
    text = (
        'resilience4j_circuitbreaker_state{name="a"} 0.0\n'
        'resilience4j_circuitbreaker_state{name="b"} 4.0\n'
        'resilience4j_circuitbreaker_state{name="c"} 9.0\n'
        'resilience4j_circuitbreaker_state{name="d"} NaN\n'
    )
    found = by_name(breakers.parse_prometheus(text))
    assert [found[n].state for n in "abcd"] == [BreakerState.CLOSED, BreakerState.FORCED_OPEN, None, None]
    assert found["c"].label == "order 9"


def test_prometheus_same_name_from_two_applications_is_kept_apart():
    text = (
        'resilience4j_circuitbreaker_state{application="orders",name="db",state="open"} 1\n'
        'resilience4j_circuitbreaker_state{application="billing",name="db",state="closed"} 1\n'
        'resilience4j_circuitbreaker_failure_rate{application="orders",name="db"} 75\n'
        'resilience4j_circuitbreaker_failure_rate{application="billing",name="db"} 1.5\n'
    )
    found = by_name(breakers.parse_prometheus(text))
    assert found == {
        "db (application=orders)": RemoteBreaker("db (application=orders)", BreakerState.OPEN, 75.0, raw_state="open"),
        "db (application=billing)": RemoteBreaker("db (application=billing)", BreakerState.CLOSED, 1.5, raw_state="closed"),
    }


@pytest.mark.parametrize(
    "text",
    [
        "",
        "\n\n",
        "# HELP resilience4j_circuitbreaker_state The states of the circuit breaker\n",
        "up 1\nprocess_cpu_seconds_total 12.5\n",
        'resilience4j_circuitbreaker_state{state="open"} 1\n',  # no breaker name
        "resilience4j_circuitbreaker_state 1\n",
        "<html><body><h1>502 Bad Gateway</h1></body></html>\n",
    ],
)
def test_prometheus_without_breakers(text):
    with pytest.raises(UnreadableBody, match="^no resilience4j circuit breakers found in response$"):
        breakers.parse_prometheus(text)


def test_prometheus_garbage_around_breakers_is_skipped():
    text = (
        "garbage line here\n"
        'resilience4j_circuitbreaker_state{name="a",state="open"} 1.0 1712345678000\n'
        'resilience4j_circuitbreaker_state{name="a",state="closed" 0.0\n'
        "resilience4j_circuitbreaker_failure_rate{name=\"a\"} fifty\n"
    )
    [(_, b)] = breakers.parse_prometheus(text)
    assert b == RemoteBreaker("a", BreakerState.OPEN, raw_state="open")


def test_hostile_breaker_names_are_cleaned_everywhere():
    evil = "pay\\x1b]8;;http://evil\\x07click\\x1b]8;;\\x07\\x1b[31mred\\nline\\x00"  # as escaped in the exposition
    text = f'resilience4j_circuitbreaker_state{{name="{evil}",state="open"}} 1\n'
    text = text.replace("\\x1b", "\x1b").replace("\\x07", "\x07").replace("\\x00", "\x00")
    [(raw, b)] = breakers.parse_prometheus(text)
    assert "\x1b" in raw  # the raw name stays raw (for `names`), the shown one is clean
    outcome = judge([b], Policy())
    for text_out in [outcome.message, outcome.detail, *(m.name for m in outcome.metrics)]:
        assert not any(ord(c) < 32 or 0x7F <= ord(c) <= 0x9F for c in text_out.replace("\n", "")), text_out
    assert b.name == "payclickred line\\x00"
    assert outcome.message == "1 breaker: 1 OPEN (payclickred line\\x00)"
    assert remote_breakers(outcome.metrics)[0].name == b.name


def test_thousands_of_same_named_breakers_stay_cheap():
    # A federated endpoint can export one breaker name per pod; reading it must stay linear.
    text = "".join(f'resilience4j_circuitbreaker_state{{name="db",pod="p{i}",state="open"}} 1\n' for i in range(5000))
    found = [b for _, b in breakers.parse_prometheus(text)]
    assert [b.name for b in found[:2]] == ["db (pod=p0)", "db (pod=p1)"]
    outcome = judge(found, Policy())
    assert outcome.message == "5000 breakers: 5000 OPEN (db (pod=p0), db (pod=p1), db (pod=p2), +4997 more)"
    assert outcome.detail.endswith("... and 4800 more")
    assert len(remote_breakers(outcome.metrics)) == 5000


def test_two_names_that_clean_alike_stay_two_rows():
    found = breakers.parse_actuator(b'{"circuitBreakers": {"a\\u0007": {"state": "OPEN"}, "a\\u001b": {"state": "CLOSED"}}}')
    assert [b.name for _, b in found] == ["a\\x07", "a"]
    found = breakers.parse_actuator(b'{"circuitBreakers": {"a\\n": {"state": "OPEN"}, "a": {"state": "CLOSED"}}}')
    assert [b.name for _, b in found] == ["a", "a #2"]


# --- metrics out and back in -------------------------------------------------------------


def test_metrics_encode_and_decode():
    rows = [
        RemoteBreaker("paymentService", BreakerState.OPEN, 80.0, 10.0, 10, 42),
        RemoteBreaker("backendA", BreakerState.CLOSED, None, None, 3, 0),
        RemoteBreaker("weird: name", None),
    ]
    outcome = judge(rows, Policy(), metrics=(Metric("latency_ms", 3.2, "ms"),))
    names = [m.name for m in outcome.metrics]
    assert names == [
        "latency_ms",
        "breaker_state:paymentService", "breaker_failure_rate:paymentService", "breaker_slow_rate:paymentService",
        "breaker_calls:paymentService", "breaker_not_permitted:paymentService",
        "breaker_state:backendA", "breaker_calls:backendA", "breaker_not_permitted:backendA",
        "breaker_state:weird: name",
    ]
    state = {m.name: m for m in outcome.metrics}["breaker_state:paymentService"]
    assert (state.value, state.unit) == (list(BreakerState).index(BreakerState.OPEN), "state")
    assert {m.name: m.value for m in outcome.metrics}["breaker_state:weird: name"] == -1
    assert remote_breakers(outcome.metrics) == rows


def test_remote_breakers_ignores_other_metrics_and_bad_values():
    metrics = [
        Metric("latency_ms", 1.0),
        Metric("breaker_calls:orphan", 3.0),  # no state: not a breaker
        Metric("breaker_state:a", 99.0, "state"),
        Metric("breaker_state:b", math.nan, "state"),
        Metric("breaker_failure_rate:b", math.nan, "%"),
        Metric("rta:x", 1.0),
    ]
    assert remote_breakers(metrics) == [RemoteBreaker("a", None), RemoteBreaker("b", None)]


# --- the verdict ---------------------------------------------------------------------------


def test_open_is_crit_and_half_open_is_configurable():
    rows = [
        RemoteBreaker("a", BreakerState.HALF_OPEN),
        RemoteBreaker("b", BreakerState.FORCED_OPEN),
        RemoteBreaker("c", BreakerState.CLOSED),
    ]
    crit = judge(rows, Policy(open_is=Status.CRIT))
    assert (crit.status, crit.reason) == (Status.CRIT, Reason.THRESHOLD)
    assert crit.message == "3 breakers: 1 FORCED-OPEN (b), 1 HALF-OPEN (a), 1 CLOSED"
    relaxed = judge(rows[:1] + rows[2:], Policy(half_open_is=Status.OK))
    assert (relaxed.status, relaxed.reason, relaxed.message) == (Status.OK, Reason.OK, "2 breakers: 1 HALF-OPEN, 1 CLOSED")
    stern = judge(rows, Policy(half_open_is=Status.CRIT))
    assert stern.message == "3 breakers: 1 HALF-OPEN (a), 1 FORCED-OPEN (b), 1 CLOSED"


def test_many_open_breakers_are_summarised():
    rows = [RemoteBreaker(f"svc{i}", BreakerState.OPEN, 60.0 + i) for i in range(5)]
    assert judge(rows, Policy()).message == (
        "5 breakers: 5 OPEN (svc0 60% failures, svc1 61% failures, svc2 62% failures, +2 more)"
    )


def test_slow_calls_are_named_when_they_opened_the_breaker():
    rows = [RemoteBreaker("search", BreakerState.OPEN, 0.0, 100.0)]
    assert judge(rows, Policy()).message == "1 breaker: 1 OPEN (search 0% failures 100% slow)"


# --- the probe end to end ------------------------------------------------------------------


async def test_actuator_endpoint(farm, resources):
    outcome = await run(resources, url=farm.url(f"/samples/actuator_circuitbreakers.json?type={ACTUATOR_TYPE}"))
    assert (outcome.status, outcome.reason) == (Status.WARN, Reason.THRESHOLD)
    assert outcome.message.startswith("6 breakers: 1 OPEN (paymentService 80% failures), 1 FORCED-OPEN")
    rows = {b.name: b for b in remote_breakers(outcome.metrics)}
    assert rows["paymentService"] == RemoteBreaker("paymentService", BreakerState.OPEN, 80.0, 10.0, 10, 42)
    assert len(rows) == 6
    assert outcome.metrics[0].name == "latency_ms"


async def test_open_is_crit(farm, resources):
    outcome = await run(
        resources, url=farm.url("/samples/actuator_health.json?type=application/json"), open_is="crit"
    )
    assert (outcome.status, outcome.reason) == (Status.CRIT, Reason.THRESHOLD)
    assert outcome.message == "2 breakers: 1 OPEN (productService 100% failures), 1 CLOSED"


async def test_prometheus_endpoint(farm, resources):
    outcome = await run(resources, url=farm.url(f"/samples/prometheus_spring_boot3.txt?type={PROMETHEUS_TYPE}"))
    assert outcome.message == "2 breakers: 1 OPEN (paymentService 80% failures), 1 CLOSED"
    assert outcome.status is Status.WARN


async def test_openmetrics_endpoint(farm, resources):
    outcome = await run(resources, url=farm.url(f"/samples/prometheus_openmetrics.txt?type={OPENMETRICS_TYPE}"))
    assert outcome.message == "1 breaker: 1 OPEN (ledger 66.7% failures)"


async def test_all_closed_is_ok(farm, resources):
    outcome = await run(resources, url=farm.url("/samples/actuator_all_closed.json?type=application/json"))
    assert (outcome.status, outcome.reason, outcome.message) == (Status.OK, Reason.OK, "2 breakers: 2 CLOSED")


async def test_auto_reads_json_served_as_text(farm, resources):
    outcome = await run(resources, url=farm.url("/samples/actuator_all_closed.json?type=text/plain"))
    assert outcome.message == "2 breakers: 2 CLOSED"


async def test_forced_format_mismatch_is_an_assertion(farm, resources):
    outcome = await run(
        resources, url=farm.url("/samples/prometheus_spring_boot3.txt"), format="actuator"
    )
    assert (outcome.status, outcome.reason) == (Status.CRIT, Reason.ASSERTION)
    assert outcome.message == "invalid JSON: Expecting value"
    assert outcome.detail.startswith("# HELP application_ready_time_seconds")
    outcome = await run(
        resources, url=farm.url("/samples/actuator_all_closed.json?type=application/json"), format="prometheus"
    )
    assert (outcome.reason, outcome.message) == (Reason.ASSERTION, breakers.NO_BREAKERS)


async def test_json_content_type_with_a_broken_body(farm, resources):
    outcome = await run(resources, url=farm.url("/badjson"))
    assert (outcome.status, outcome.reason) == (Status.CRIT, Reason.ASSERTION)
    assert outcome.message.startswith("invalid JSON: ")


async def test_empty_body(farm, resources):
    farm.bodies["empty"] = (b"", "text/plain")
    outcome = await run(resources, url=farm.url("/body/empty"))
    assert (outcome.status, outcome.reason, outcome.message) == (Status.CRIT, Reason.ASSERTION, breakers.NO_BREAKERS)


async def test_names_filter_and_a_missing_name(farm, resources):
    url = farm.url(f"/samples/actuator_circuitbreakers.json?type={ACTUATOR_TYPE}")
    outcome = await run(resources, url=url, names=["backendA", "recommendations"])
    assert (outcome.status, outcome.message) == (Status.OK, "2 breakers: 1 CLOSED, 1 METRICS-ONLY")
    assert [b.name for b in remote_breakers(outcome.metrics)] == ["backendA", "recommendations"]
    outcome = await run(resources, url=url, names=["backendA", "paymentServce"])
    assert (outcome.status, outcome.reason) == (Status.UNKNOWN, Reason.ASSERTION)
    assert outcome.message == "1 breaker: 1 CLOSED; not in the response: paymentServce"
    outcome = await run(resources, url=url, names=["nope"])
    assert outcome.message == "not in the response: nope"


async def test_hostile_names_over_the_wire(farm, resources):
    farm.bodies["evil"] = (
        b'resilience4j_circuitbreaker_state{name="x\x1b[2J\x1b]0;owned\x07y\\n\\"z\\"",state="open"} 1\n',
        PROMETHEUS_TYPE,
    )
    outcome = await run(resources, url=farm.url("/body/evil"))
    assert outcome.message == '1 breaker: 1 OPEN (xy "z")'
    assert [m.name for m in outcome.metrics][1:] == ['breaker_state:xy "z"']


@pytest.mark.parametrize("code, retryable", [(503, True), (404, False)])
async def test_http_errors(farm, resources, code, retryable):
    outcome = await run(resources, url=farm.url(f"/status/{code}"))
    assert (outcome.status, outcome.reason, outcome.retryable) == (Status.CRIT, Reason.HTTP_STATUS, retryable)
    assert outcome.message.startswith(str(code))


async def test_connection_refused(resources):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    outcome = await run(resources, url=f"http://127.0.0.1:{port}/actuator/circuitbreakers")
    assert (outcome.status, outcome.reason, outcome.message) == (Status.CRIT, Reason.CONNECT, "connection refused")


async def test_body_over_max_body(farm, resources):
    outcome = await run(resources, url=farm.url("/huge"), max_body="64KiB")
    assert (outcome.status, outcome.reason) == (Status.CRIT, Reason.BODY_LIMIT)
    assert outcome.message == "body is larger than max_body 64 KiB; not read further"


async def test_big_scrape_is_parsed(farm, resources):
    filler = "".join(f'node_cpu_seconds_total{{cpu="{i}",mode="idle"}} {i}.5\n' for i in range(4000))
    farm.bodies["big"] = ((filler + sample("prometheus_spring_boot3.txt").decode()).encode(), PROMETHEUS_TYPE)
    outcome = await run(resources, url=farm.url("/body/big"))
    assert outcome.message == "2 breakers: 1 OPEN (paymentService 80% failures), 1 CLOSED"


async def test_secret_headers_are_never_shown(farm, resources):
    token = "Bearer s3cr3t-t0ken-value"
    farm.bodies["echo"] = (
        f'resilience4j_circuitbreaker_state{{name="{token}",state="open"}} 1\n'.encode(), PROMETHEUS_TYPE
    )
    outcome = await run(resources, url=farm.url("/body/echo"), headers={"Authorization": token})
    assert farm.last_headers["authorization"] == token
    assert token not in outcome.message and "********" in outcome.message


async def test_hang_is_cancelled_cleanly(resources):
    with FaultFarm() as slow:
        probe = breakers.make(load(url=slow.url("/hang")), resources)
        with pytest.raises(asyncio.TimeoutError):
            await asyncio.wait_for(probe.probe(), 0.2)
        for _ in range(200):
            if slow.open_connections == 0:
                break
            await asyncio.sleep(0.01)
        assert slow.open_connections == 0


async def test_tls_with_ca_file(tmp_path, resources):
    ca = trustme.CA()
    ca_file = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(ca_file))
    with SampleFarm(server_context(ca.issue_cert("localhost"))) as tls:
        url = tls.url("/samples/actuator_all_closed.json?type=application/json", host="localhost")
        outcome = await run(resources, url=url, ca_file=str(ca_file))
        assert outcome.message == "2 breakers: 2 CLOSED"
        untrusted = await run(resources, url=url)
        assert (untrusted.reason, untrusted.message) == (
            Reason.TLS, "TLS: certificate not trusted (self-signed or unknown CA)"
        )
        missing = await run(resources, url=url, ca_file=str(tmp_path / "nope.pem"))
        assert missing.reason is Reason.TLS and missing.message.startswith("cannot load ca_file")


# --- configuration ---------------------------------------------------------------------------


def test_defaults():
    check = load(url="http://127.0.0.1:8080/actuator/circuitbreakers")
    assert {k: check.options[k] for k in ("format", "open_is", "half_open_is", "names", "max_body", "insecure")} == {
        "format": "auto", "open_is": "warn", "half_open_is": "warn", "names": None,
        "max_body": 1024 * 1024, "insecure": False,
    }


@pytest.mark.parametrize(
    "options, error",
    [
        ({"format": "json"}, "check[orders-breakers].format"),
        ({"open_is": "ok"}, "check[orders-breakers].open_is"),
        ({"names": []}, "must name at least one breaker"),
        ({"url": "ftp://127.0.0.1/x"}, "must be an http:// or https:// URL"),
    ],
)
def test_invalid_config(options, error):
    options = {"url": "http://127.0.0.1/actuator/circuitbreakers", **options}
    with pytest.raises(ConfigError) as caught:
        load(**options)
    assert error in str(caught.value)
