"""The metrics endpoint's HTTP side: the same bytes as prometheus_client's own encoders for every
format a client can ask for, gzip when accepted, names that need escaping still escaped."""

from __future__ import annotations

import gzip
import socket
import urllib.request
from collections.abc import Iterator

import pytest
from prometheus_client import generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.exposition import choose_encoder
from prometheus_client.openmetrics import exposition as openmetrics
from prometheus_client.openmetrics.parser import text_string_to_metric_families as parse_openmetrics
from prometheus_client.registry import Collector, CollectorRegistry

from thesis_console.core.metrics_http import plain_names, start_metrics_server

PROMETHEUS_ACCEPT = (
    "application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,"
    "text/plain;version=0.0.4;q=0.5,*/*;q=0.1"
)


class Families(Collector):
    """Fixed families, with label values that need quoting (quotes, backslashes, new lines, UTF-8)."""

    def __init__(self, metric_name: str = "thesis_queue_jobs") -> None:
        self.metric_name = metric_name

    def collect(self) -> Iterator[Metric]:
        jobs = GaugeMetricFamily(self.metric_name, 'jobs "per" state\\queue\nsecond line', labels=["queue", "state"])
        for queue in ("thesis", 'we"ird', "back\\slash", "new\nline", "thèse-ü", "dot.name", ""):
            jobs.add_metric([queue, "waiting"], 3)
        done = CounterMetricFamily("thesis_queue_jobs_completed", "completed", labels=["queue"])
        done.add_metric(["thesis"], 12)
        runtime = HistogramMetricFamily("thesis_job_runtime_seconds", "run time", labels=["queue"])
        runtime.add_metric(["thesis"], [("1.0", 1), ("10.0", 4), ("+Inf", 5)], sum_value=31.5)
        yield from (jobs, done, runtime, GaugeMetricFamily("thesis_up", "up", value=1))


@pytest.fixture
def endpoint() -> Iterator[tuple[str, CollectorRegistry]]:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(Families())
    server, thread = start_metrics_server(registry, "127.0.0.1", 0)
    try:
        yield f"http://127.0.0.1:{server.server_port}/metrics", registry
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


def get(url: str, **headers: str) -> tuple[bytes, dict[str, str]]:
    request = urllib.request.Request(url, headers=headers)
    with urllib.request.urlopen(request, timeout=10) as response:
        return response.read(), dict(response.headers)


@pytest.mark.parametrize(
    "accept",
    [
        "",
        PROMETHEUS_ACCEPT,
        "application/openmetrics-text;version=1.0.0",
        "application/openmetrics-text;version=1.0.0;escaping=allow-utf-8",
        "application/openmetrics-text;version=1.0.0;escaping=dots",
        "application/openmetrics-text;version=0.0.1",
        "text/plain;version=1.0.0;escaping=values",
    ],
)
def test_every_format_is_byte_for_byte_prometheus_clients(endpoint, accept):
    url, registry = endpoint
    encoder, content_type = choose_encoder(accept)
    body, headers = get(url, Accept=accept)
    assert body == encoder(registry)
    assert headers["Content-Type"] == content_type
    assert "Content-Encoding" not in headers


def test_gzip_when_accepted(endpoint):
    url, registry = endpoint
    body, headers = get(url, Accept=PROMETHEUS_ACCEPT, **{"Accept-Encoding": "gzip"})
    assert headers["Content-Encoding"] == "gzip"
    text = gzip.decompress(body)
    assert text == openmetrics.generate_latest(registry)
    assert {f.name for f in parse_openmetrics(text.decode())} >= {"thesis_queue_jobs", "thesis_job_runtime_seconds"}


def test_name_filter_options_and_other_methods(endpoint):
    url, registry = endpoint
    body, _ = get(url + "?name[]=thesis_up")
    assert body == generate_latest(registry.restricted_registry(["thesis_up"])) and b"thesis_queue_jobs" not in body
    request = urllib.request.Request(url, method="OPTIONS")
    with urllib.request.urlopen(request, timeout=10) as response:
        assert response.headers["Allow"] == "OPTIONS,GET"
    with pytest.raises(urllib.error.HTTPError, match="405"):
        urllib.request.urlopen(urllib.request.Request(url, method="POST", data=b""), timeout=10)


def test_a_name_that_needs_escaping_is_still_escaped():
    registry = CollectorRegistry(auto_describe=False)
    registry.register(Families("thesis:queue_jobs"))  # ':' is valid in a metric name; underscores turns it to '_'
    assert not plain_names(registry.collect()) and plain_names(Families().collect())
    server, thread = start_metrics_server(registry, "127.0.0.1", 0)
    try:
        body, _ = get(f"http://127.0.0.1:{server.server_port}/metrics", Accept=PROMETHEUS_ACCEPT)
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)
    assert body == openmetrics.generate_latest(registry, escaping=openmetrics.UNDERSCORES)
    assert b'\nthesis_queue_jobs{queue="thesis",state="waiting"} 3.0\n' in body


def test_listens_on_ipv6_too():
    if not socket.has_ipv6:
        pytest.skip("no IPv6 on this machine")
    registry = CollectorRegistry(auto_describe=False)
    registry.register(Families())
    try:
        server, thread = start_metrics_server(registry, "::1", 0)
    except OSError as exc:
        pytest.skip(f"no IPv6 loopback here: {exc}")
    try:
        body, _ = get(f"http://[::1]:{server.server_port}/metrics")
        assert body == generate_latest(registry)
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


def test_the_plain_writer_writes_prometheus_clients_bytes() -> None:
    """The OpenMetrics writer for plain names: the same bytes as prometheus_client's, for label values
    and help texts that need escaping, counters, histograms, units, timestamps; None for an exemplar."""
    from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily
    from prometheus_client.openmetrics import exposition as om
    from prometheus_client.samples import Exemplar

    from thesis_console.core.metrics_http import plain_names, plain_openmetrics

    gauge = GaugeMetricFamily("thesis_jobs", 'jobs "per" state\\ of\na queue', labels=["queue", "state"])
    gauge.add_metric(['a "quoted" \\ queue\nname', "waiting"], 3)
    gauge.add_metric(["é-queue", "failed"], 0.5, timestamp=1700000000.25)
    counter = CounterMetricFamily("thesis_done", "completed jobs", labels=["queue"], created=1.0)
    counter.add_metric(["q"], 12)
    histogram = HistogramMetricFamily("thesis_run", "run time", labels=["queue"], unit="seconds")
    histogram.add_metric(["q"], [("1.0", 2), ("+Inf", 5)], 17.5)
    empty = GaugeMetricFamily("thesis_nothing", "no samples")
    families = [gauge, counter, histogram, empty]
    assert plain_names(families)

    class Source:
        def collect(self):
            return families

    expected = om.generate_latest(Source(), escaping=om.ALLOWUTF8)
    assert plain_openmetrics(families) == expected == om.generate_latest(Source(), escaping=om.UNDERSCORES)
    with_exemplar = CounterMetricFamily("thesis_x", "x", labels=["queue"])
    with_exemplar.add_metric(["q"], 1, exemplar=Exemplar({"trace": "1"}, 1.0))
    assert plain_openmetrics([with_exemplar]) is None
