"""The prometheus check kind: instant queries answered by a loopback server.

The answers in tests/checks/samples/prom_*.json have the shapes Prometheus 2.x
sends (copied from a real server and edited): vector, matrix, scalar, string, empty,
NaN and +Inf values, warnings, and `"status": "error"` answers with the HTTP status
Prometheus uses for each error type. The same loopback server also serves
node_exporter scrapes for tests/checks/test_node.py.
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

from checks import prometheus
from checks.base import Resources
from checks.prometheus import Answer, Query, Series, Thresholds, parse_answer, series_names
from dash.config import ConfigError, parse_config
from dash.model import Outcome, Reason, Status
from tests.servers import FaultFarm, server_context
from tests.checks.conftest import toml_value

SAMPLES = Path(__file__).parent / "samples"
DEADLINE = 2.0
JSON = "application/json"
HANG = "__hang__"  # a query the farm never answers


def sample(name: str) -> bytes:
    return (SAMPLES / name).read_bytes()


class PromFarm(FaultFarm):
    """The fault farm, plus a Prometheus query API and node_exporter-like scrapes.

    `answers[query] = (status code, body)` answers `/api/v1/query?query=...` under any
    path prefix (unknown queries get an empty vector, HANG no answer at all); `queries` records each request's
    parameters. `/metrics/<key>` serves `scrapes[key]` in turn, repeating the last one.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.answers: dict[str, tuple[int, bytes]] = {}
        self.queries: list[dict[str, str]] = []
        self.scrapes: dict[str, list[bytes]] = {}
        self.scraped: dict[str, int] = {}

    async def _route(self, method, target, headers, reader, writer) -> bool:  # type: ignore[override]
        parts = urlsplit(target)
        if parts.path.endswith("/api/v1/query"):
            params = {k: v[0] for k, v in parse_qs(parts.query).items()}
            self.queries.append(params)
            if params.get("query") == HANG:
                await reader.read()  # never answer; returns only when the client goes away
                return False
            code, body = self.answers.get(params.get("query", ""), (200, sample("prom_empty.json")))
            return await self._send(writer, code, body, JSON)
        if parts.path.startswith("/metrics/"):
            key = parts.path.removeprefix("/metrics/")
            bodies = self.scrapes[key]
            body = bodies.pop(0) if len(bodies) > 1 else bodies[0]
            self.scraped[key] = self.scraped.get(key, 0) + 1
            return await self._send(writer, 200, body, "text/plain; version=0.0.4; charset=utf-8")
        return await super()._route(method, target, headers, reader, writer)


@pytest.fixture(scope="module")
def farm():
    with PromFarm() as server:
        yield server


def load(**options: Any):
    """The check as dash.config builds it from dash.toml (defaults filled, validated)."""
    lines = ["[[check]]", 'name = "orders queue"', 'kind = "prometheus"', "timeout = \"4s\""]
    lines += [f"{key} = {toml_value(value)}" for key, value in options.items()]
    return parse_config("\n".join(lines) + "\n", kinds={"prometheus": prometheus}).checks[0]


async def run(resources: Resources, farm: PromFarm, query: str, answer: str | None = None,
              code: int = 200, **options: Any) -> Outcome:
    """Serve `answer` (a sample file) for `query`, then run the check once."""
    if answer is not None:
        farm.answers[query] = (code, sample(answer))
    options.setdefault("url", farm.url(""))
    probe = prometheus.make(load(query=query, **options), resources)
    return await asyncio.wait_for(probe.probe(), DEADLINE)


def metrics(outcome: Outcome) -> dict[str, float]:
    return {m.name: m.value for m in outcome.metrics if m.name != "latency_ms"}


# --- over the wire ---------------------------------------------------------------------


async def test_query_is_sent_with_its_parameters(farm, resources):
    outcome = await run(resources, farm, "up", "prom_up.json", time="2026-11-28T18:00:00Z")
    assert farm.queries[-1] == {"query": "up", "time": "2026-11-28T18:00:00Z", "timeout": "4"}
    assert (outcome.status, outcome.reason) == (Status.OK, Reason.OK)
    assert outcome.message == "up: 1 on prometheus; 2 series"
    assert metrics(outcome) == {"series": 2.0, "value:prometheus": 1.0, "value:node": 1.0}


async def test_base_url_with_a_path_prefix_and_trailing_slash(farm, resources):
    outcome = await run(resources, farm, "up", "prom_up.json", url=farm.url("/prometheus/"))
    assert outcome.status is Status.OK
    assert farm.queries[-1]["query"] == "up"


async def test_each_series_is_judged_and_the_worst_is_shown(farm, resources):
    outcome = await run(
        resources, farm, "queue_depth", "prom_queue_depth.json", warn={"above": 900}, crit={"above": 1000}
    )
    assert (outcome.status, outcome.reason) == (Status.CRIT, Reason.THRESHOLD)
    assert outcome.message == "queue_depth: 1234 (crit above 1000) on orders-worker; 3 series: 1 crit, 1 warn"
    by_name = {m.name: m for m in outcome.metrics}
    assert by_name["value:orders-worker"].value == 1234.0
    assert (by_name["value:orders-worker"].warn, by_name["value:orders-worker"].crit) == (900.0, 1000.0)
    assert "mail-worker" in outcome.detail and "warn above 900" in outcome.detail


async def test_all_fine_shows_the_series_nearest_the_threshold(farm, resources):
    outcome = await run(resources, farm, "queue_depth", "prom_queue_depth.json", crit={"above": 5000})
    assert outcome.status is Status.OK
    assert outcome.message == "queue_depth: 1234 on orders-worker; 3 series"
    low = await run(resources, farm, "queue_depth", "prom_queue_depth.json", warn={"below": 5})
    assert low.message == "queue_depth: 12 on billing-worker; 3 series"


async def test_below_threshold(farm, resources):
    outcome = await run(resources, farm, "queue_depth", "prom_queue_depth.json", crit={"below": 100})
    assert (outcome.status, outcome.reason) == (Status.CRIT, Reason.THRESHOLD)
    assert outcome.message == "queue_depth: 12 (crit below 100) on billing-worker; 3 series: 1 crit"


@pytest.mark.parametrize(
    "aggregate, crit, status, message",
    [
        ("max", {"above": 1000}, Status.CRIT, "queue_depth: max 1234 (crit above 1000) on orders-worker; 3 series"),
        ("min", {"below": 20}, Status.CRIT, "queue_depth: min 12 (crit below 20) on billing-worker; 3 series"),
        ("sum", {"above": 2000}, Status.CRIT, "queue_depth: sum 2196 (crit above 2000); 3 series"),
        ("avg", {"above": 1000}, Status.OK, "queue_depth: avg 732; 3 series"),
        ("count", {"below": 4}, Status.CRIT, "queue_depth: count 3 (crit below 4)"),
    ],
)
async def test_aggregates(farm, resources, aggregate, crit, status, message):
    outcome = await run(resources, farm, "queue_depth", "prom_queue_depth.json", aggregate=aggregate, crit=crit)
    assert (outcome.status, outcome.message) == (status, message)
    judged = next(m for m in outcome.metrics if m.name == "value")
    assert judged.crit == next(iter(crit.values()))
    assert "value:orders-worker" in metrics(outcome)  # the series stay visible


@pytest.mark.parametrize(
    "empty_is, status, reason",
    [("ok", Status.OK, Reason.OK), ("crit", Status.CRIT, Reason.ASSERTION), (None, Status.UNKNOWN, Reason.ASSERTION)],
)
async def test_empty_result(farm, resources, empty_is, status, reason):
    options = {"empty_is": empty_is} if empty_is else {}
    outcome = await run(resources, farm, "up == 0", "prom_empty.json", **options)
    assert (outcome.status, outcome.reason, outcome.message) == (status, reason, "no series for up == 0")
    assert metrics(outcome) == {"series": 0.0}


async def test_count_of_nothing_is_zero_not_empty(farm, resources):
    outcome = await run(resources, farm, "up == 0", "prom_empty.json", aggregate="count", crit={"above": 0})
    assert (outcome.status, outcome.message) == (Status.OK, "up == 0: count 0")


async def test_scalar(farm, resources):
    query = "sum(rate(errors_total[5m])) / sum(rate(requests_total[5m]))"
    outcome = await run(resources, farm, query, "prom_scalar.json", warn={"above": 0.1})
    assert (outcome.status, outcome.reason) == (Status.WARN, Reason.THRESHOLD)
    assert outcome.message == f"{query}: 0.25 (warn above 0.1)"
    assert metrics(outcome) == {"series": 1.0, "value:scalar": 0.25}


async def test_matrix_judges_the_latest_sample(farm, resources):
    outcome = await run(
        resources, farm, "replication_lag_seconds[1m]", "prom_matrix.json", crit={"above": 30}
    )
    assert outcome.status is Status.CRIT
    assert outcome.message == (
        'replication_lag_seconds: 42.5 (crit above 30) on postgres {instance="db-1:9187"}; 2 series: 1 crit'
    )
    assert metrics(outcome)['value:postgres {instance="db-2:9187"}'] == 0.1


async def test_nan_is_not_judged_and_inf_compares(farm, resources):
    query = "errors:ratio5m"
    outcome = await run(resources, farm, query, "prom_nan.json", warn={"above": 0.05})
    assert (outcome.status, outcome.reason) == (Status.WARN, Reason.THRESHOLD)
    assert outcome.message == f'{query}: +Inf (warn above 0.05) on api {{handler="/api/pay"}}; 3 series: 1 warn, 1 NaN'
    # Only finite values become metrics: NaN and Inf are not JSON.
    assert metrics(outcome) == {"series": 3.0, 'value:api {handler="/api/orders"}': 0.02}
    assert "NaN  not judged" in outcome.detail and "+Inf  warn above 0.05" in outcome.detail


async def test_only_nan_is_empty(farm, resources):
    outcome = await run(resources, farm, "errors:ratio5m", "prom_all_nan.json", empty_is="warn", aggregate="max")
    assert (outcome.status, outcome.reason) == (Status.WARN, Reason.ASSERTION)
    assert outcome.message == "errors:ratio5m: 2 series, all NaN"


async def test_string_result_is_unknown(farm, resources):
    outcome = await run(resources, farm, '"hi"', "prom_string.json")
    assert (outcome.status, outcome.reason) == (Status.UNKNOWN, Reason.ASSERTION)
    assert outcome.message == "query returned a string ('hi'), not a number"


async def test_warnings_go_to_the_detail(farm, resources):
    outcome = await run(resources, farm, "count(up)", "prom_warnings.json")
    assert outcome.message == "count(up): 3 on prometheus"
    assert "warning: remote read: 1 of 2 stores unreachable" in outcome.detail


@pytest.mark.parametrize(
    "answer, code, reason, retryable, message",
    [
        ("prom_error_bad_data.json", 400, Reason.HTTP_STATUS, False,
         'query failed: bad_data: invalid parameter "query": 1:6: parse error: unexpected "="'),
        ("prom_error_timeout.json", 503, Reason.TIMEOUT, True,
         "query failed: timeout: query timed out in expression evaluation"),
        ("prom_error_execution.json", 422, Reason.HTTP_STATUS, False, "query failed: execution: found duplicate"),
    ],
)
async def test_query_errors_are_unknown(farm, resources, answer, code, reason, retryable, message):
    outcome = await run(resources, farm, f"broken {answer}", answer, code=code)
    assert (outcome.status, outcome.reason, outcome.retryable) == (Status.UNKNOWN, reason, retryable)
    assert outcome.message.startswith(message)


async def test_not_the_api(farm, resources):
    farm.answers["html"] = (200, b"<html><body>Grafana</body></html>")
    outcome = await run(resources, farm, "html")
    assert (outcome.status, outcome.reason) == (Status.CRIT, Reason.ASSERTION)
    assert outcome.message == "response is not JSON (is url the Prometheus server?)"
    assert "Grafana" in outcome.detail
    farm.answers["json"] = (200, b'{"status": "UP"}')
    other = await run(resources, farm, "json")
    assert other.message == 'response is not a Prometheus API answer (no "status")'


@pytest.mark.parametrize("code, retryable", [(502, True), (401, False)])
async def test_plain_http_errors_are_crit(farm, resources, code, retryable):
    farm.answers[f"proxy {code}"] = (code, b"<html>Bad Gateway</html>")
    outcome = await run(resources, farm, f"proxy {code}")
    assert (outcome.status, outcome.reason, outcome.retryable) == (Status.CRIT, Reason.HTTP_STATUS, retryable)
    assert outcome.message.startswith(str(code))


async def test_connection_refused(resources):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    probe = prometheus.make(load(url=f"http://127.0.0.1:{port}", query="up"), resources)
    outcome = await probe.probe()
    assert (outcome.status, outcome.reason, outcome.message) == (Status.CRIT, Reason.CONNECT, "connection refused")


async def test_body_over_max_body(farm, resources):
    big = json.dumps({"status": "success", "data": {"resultType": "vector", "result": [
        {"metric": {"job": f"j{i}"}, "value": [1.0, "1"]} for i in range(2000)
    ]}}).encode()
    farm.answers["big"] = (200, big)
    outcome = await run(resources, farm, "big", max_body="64KiB")
    assert (outcome.status, outcome.reason) == (Status.CRIT, Reason.BODY_LIMIT)
    assert outcome.message == "body is larger than max_body 64 KiB; not read further"


async def test_many_series_are_parsed_off_the_loop_and_capped_in_metrics(farm, resources):
    farm.answers["many"] = (200, json.dumps({"status": "success", "data": {"resultType": "vector", "result": [
        {"metric": {"__name__": "up", "job": "node", "instance": f"10.0.{i // 250}.{i % 250}:9100"},
         "value": [1.0, "0" if i == 1234 else "1"]}
        for i in range(3000)
    ]}}).encode())
    assert len(farm.answers["many"][1]) > prometheus.PARSE_INLINE
    outcome = await run(resources, farm, "many", crit={"below": 1})
    assert outcome.status is Status.CRIT
    assert outcome.message == (
        'up: 0 (crit below 1) on node {instance="10.0.4.234:9100"}; 3000 series: 1 crit (metrics for the first 50)'
    )
    assert len([m for m in outcome.metrics if m.name.startswith("value:")]) == 50
    assert outcome.detail.endswith("... and 2800 more")


async def test_secrets_are_never_shown(farm, resources):
    token = "Bearer s3cr3t-t0ken-value"
    farm.answers["echo"] = (400, json.dumps(
        {"status": "error", "errorType": "bad_data", "error": f"no access for {token}"}
    ).encode())
    outcome = await run(resources, farm, "echo", headers={"Authorization": token})
    assert farm.last_headers["authorization"] == token
    assert token not in outcome.message and "********" in outcome.message
    assert token not in outcome.detail


async def test_hostile_labels_and_errors_are_cleaned(farm, resources):
    farm.answers["evil"] = (200, json.dumps({"status": "success", "data": {"resultType": "vector", "result": [
        {"metric": {"job": "x\x1b[2J\x1b]0;owned\x07y"}, "value": [1.0, "7"]}
    ]}}).encode())
    outcome = await run(resources, farm, "evil")
    assert outcome.message == "evil: 7 on xy"
    farm.answers["evil error"] = (400, json.dumps(
        {"status": "error", "errorType": "bad_data", "error": "line\nbreak \x1b[31mred"}
    ).encode())
    error = await run(resources, farm, "evil error")
    assert error.message == "query failed: bad_data: line break red"


async def test_hang_is_cancelled_cleanly(resources):
    with PromFarm() as slow:
        probe = prometheus.make(load(url=slow.url(""), query=HANG), resources)
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
    with PromFarm(server_context(ca.issue_cert("localhost"))) as tls:
        tls.answers["up"] = (200, sample("prom_up.json"))
        url = tls.url("", host="localhost")
        outcome = await run(resources, tls, "up", url=url, ca_file=str(ca_file))
        assert outcome.status is Status.OK
        untrusted = await run(resources, tls, "up", url=url)
        assert (untrusted.reason, untrusted.message) == (
            Reason.TLS, "TLS: certificate not trusted (self-signed or unknown CA)"
        )
        missing = await run(resources, tls, "up", url=url, ca_file=str(tmp_path / "nope.pem"))
        assert missing.reason is Reason.TLS and missing.message.startswith("cannot load ca_file")


# --- the pieces, without a server --------------------------------------------------------


def test_parse_answer_reads_go_floats():
    body = json.dumps({"status": "success", "data": {"resultType": "vector", "result": [
        {"metric": {"a": "1"}, "value": [1.0, v]} for v in ("1e+06", "-Inf", "NaN", "0.5", "junk")
    ]}})
    values = [s.value for s in parse_answer(body.encode()).series]
    assert values[:2] == [1e6, -math.inf] and values[3] == 0.5
    assert math.isnan(values[2]) and math.isnan(values[4])


def test_series_names():
    series = (
        Series((("__name__", "up"), ("instance", "a:1"), ("job", "node")), 1.0),
        Series((("__name__", "up"), ("instance", "b:1"), ("job", "node")), 1.0),
        Series((("__name__", "up"), ("instance", "c:1"), ("job", "api")), 1.0),
        Series((("code", "500"), ("handler", "/x")), 1.0),
        Series((), 1.0),
    )
    assert series_names(series, None) == [
        'node {instance="a:1"}', 'node {instance="b:1"}', "api", '{code="500",handler="/x"}', "{}"
    ]
    assert series_names(series[:3], "instance") == ["a:1", "b:1", "c:1"]


def test_thresholds_are_strict_and_crit_wins():
    t = Thresholds(warn_above=100, crit_above=1000, warn_below=1)
    assert t.judge(100) == (Status.OK, "")
    assert t.judge(100.5) == (Status.WARN, "warn above 100")
    assert t.judge(1001) == (Status.CRIT, "crit above 1000")
    assert t.judge(0) == (Status.WARN, "warn below 1")
    assert t.judge(math.nan) == (Status.OK, "")


def test_sum_of_opposite_infinities_is_no_number():
    answer = Answer("vector", (Series((("job", "a"),), math.inf), Series((("job", "b"),), -math.inf)))
    outcome = Query("x", Thresholds(crit_above=1), "sum", Status.UNKNOWN).judge(answer)
    assert (outcome.status, outcome.message) == (Status.UNKNOWN, "x: sum NaN; 2 series")


def test_defaults():
    check = load(url="http://127.0.0.1:9090", query="up")
    options = {k: check.options[k] for k in ("aggregate", "empty_is", "label", "warn", "crit", "max_body", "time")}
    assert options == {
        "aggregate": "each", "empty_is": "unknown", "label": None,
        "warn": {"above": None, "below": None}, "crit": {"above": None, "below": None},
        "max_body": 8 * 1024 * 1024, "time": None,
    }


@pytest.mark.parametrize(
    "options, error",
    [
        ({"aggregate": "median"}, "check[orders queue].aggregate"),
        ({"empty_is": "fine"}, "check[orders queue].empty_is"),
        ({"query": "  "}, "check[orders queue].query: must not be empty"),
        ({"warn": {"over": 1}}, "check[orders queue].warn.over"),
        ({"crit": {"above": 1, "below": 5}}, "below must be less than above"),
        ({"time": "yesterday"}, "must be a Unix timestamp or an RFC 3339 time"),
        ({"url": "ftp://127.0.0.1/x"}, "must be an http:// or https:// URL"),
    ],
)
def test_invalid_config(options, error):
    options = {"url": "http://127.0.0.1:9090", "query": "up", **options}
    with pytest.raises(ConfigError) as caught:
        load(**options)
    assert error in str(caught.value)


def test_missing_query():
    with pytest.raises(ConfigError) as caught:
        load(url="http://127.0.0.1:9090")
    assert "check[orders queue].query: required key is missing" in str(caught.value)
