"""The Prometheus/OpenMetrics view of the queues, built with the official ``prometheus_client``.

Each scrape reads the core once (:meth:`QueueReader.watch`: four pipelined round trips, five with
BullMQ queues, whatever the number of jobs) and evaluates the alert rules on what it read. Exposed, all
prefixed ``thesis_`` (``backend`` is ``rq`` or ``bullmq``):

================================================ ======= ==============================================
metric                                           type    labels
================================================ ======= ==============================================
up                                               gauge   (0 when Redis could not be read)
queue_jobs                                       gauge   queue, backend, state
queue_oldest_waiting_age_seconds                 gauge   queue, backend
queue_workers                                    gauge   queue, backend (live workers serving it; left
                                                         out when BullMQ's cannot be listed)
queue_stalled_seconds                            gauge   queue, backend (longest time without progress
                                                         of a running job on a live worker)
queue_jobs_completed_total / _failed / _retried  counter queue, backend (stored metrics; BullMQ: its
                                                         own metrics and kept jobs, no _retried)
job_runtime_seconds                              histo.  queue, backend (every attempt, stored bucket
                                                         bounds; RQ queues only)
workers_alive, workers_busy                      gauge
supervisors_alive                                gauge
supervisor_workers_live / _busy / _desired       gauge   supervisor, host
supervisor_heartbeat_age_seconds                 gauge   supervisor
alert_firing                                     gauge   rule, queue, subject, severity (1 each)
scrape_round_trips, scrape_duration_seconds      gauge
================================================ ======= ==============================================

The counters and the histogram are the sums of the per-minute buckets the workers store, added up
since the endpoint started: each scrape reads the last few minutes (:data:`RECENT_MINUTES`) and a
minute is folded into the running total once it can no longer change. Between endpoint restarts
Prometheus sees a counter reset, which ``rate()`` and ``increase()`` handle.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from itertools import accumulate

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.registry import Collector
from prometheus_client.samples import Sample

from thesis_console.core.alerts.conditions import LiveWorkers, progress_age, worker_alive
from thesis_console.core.alerts.watch import WatchReport
from thesis_console.core.alerts.watch_data import SETTLED_AFTER_S
from thesis_console.core.metrics_store import RUNTIME_BOUNDS_S, BucketCounts
from thesis_console.core.types import STATE_ORDER, Backend

RECENT_MINUTES = 5
"""Minute buckets looked at per queue and scrape for the counters; a scrape interval up to 4 minutes loses nothing."""
HISTOGRAM_BOUNDS_S: tuple[float, ...] = (1, 10, 50, 100, 250, 500, 1000, 2500, 5000, 10000)
"""The ``le`` bounds exposed: a subset of the stored bounds (cumulative counts at a stored bound are
exact), none below a second since thesis attempts take seconds to hours (fewer lines per scrape)."""


@dataclass
class _Totals:
    completed: int = 0
    failed: int = 0
    retried: int = 0
    histogram: list[int] = field(default_factory=lambda: [0] * (len(RUNTIME_BOUNDS_S) + 1))
    runtime_sum_s: float = 0.0

    def add(self, bucket: BucketCounts) -> None:
        self.completed += bucket.completed
        self.failed += bucket.failed
        self.retried += bucket.retried
        self.histogram = [a + b for a, b in zip(self.histogram, bucket.histogram, strict=True)]
        self.runtime_sum_s += bucket.runtime_sum_s or 0.0

    def plus(self, buckets: Iterator[BucketCounts]) -> _Totals:
        out = _Totals(self.completed, self.failed, self.retried, list(self.histogram), self.runtime_sum_s)
        for bucket in buckets:
            out.add(bucket)
        return out


class MinuteTotals:
    """Monotonic totals per queue from the per-minute buckets seen by successive scrapes."""

    def __init__(self) -> None:
        self._settled: dict[str, _Totals] = {}
        self._recent: dict[str, dict[float, BucketCounts]] = {}

    def update(self, queue: str, minutes: tuple[BucketCounts, ...], now: float) -> _Totals:
        recent = self._recent.setdefault(queue, {})
        settled = self._settled.setdefault(queue, _Totals())
        for bucket in minutes[-RECENT_MINUTES:]:
            known = recent.get(bucket.start)
            # A bucket only grows; a settled one comes back as the same object from the minute cache.
            if known is not bucket and (known is None or _size(bucket) >= _size(known)):
                recent[bucket.start] = bucket
        for start in sorted(recent):
            if start + 60 + SETTLED_AFTER_S < now:
                settled.add(recent.pop(start))
        return settled.plus(iter(recent.values()))


def _size(bucket: BucketCounts) -> int:
    return bucket.completed + bucket.failed + bucket.retried + sum(bucket.histogram)


class WatchCollector(Collector):
    """A collector that reads the queues at each scrape through ``read`` (thread-safe).

    Args:
        read: returns a fresh :class:`WatchReport`; raises when Redis cannot be read.
    """

    def __init__(self, read: Callable[[], WatchReport]) -> None:
        self._read = read
        self._totals = MinuteTotals()
        self._lock = threading.Lock()

    def collect(self) -> Iterator[Metric]:
        started = time.perf_counter()
        with self._lock:
            try:
                report = self._read()
            except Exception:  # the endpoint must answer: thesis_up 0 says why there is nothing else
                yield _gauge("thesis_up", "1 when the queues' Redis could be read", 0)
                return
            families = build_families(report, self._totals)
        yield _gauge("thesis_up", "1 when the queues' Redis could be read", 1)
        yield from families
        yield _gauge("thesis_scrape_round_trips", "Redis round trips of this scrape", report.data.round_trips)
        yield _gauge(
            "thesis_scrape_duration_seconds", "time this scrape took to read and evaluate", time.perf_counter() - started
        )


def build_families(report: WatchReport, totals: MinuteTotals) -> list[Metric]:
    """Every metric family for one scrape.

    Samples are appended directly (``Sample`` with a label dict): the per-queue families hold a
    few thousand samples at 100 queues, and ``add_metric`` zips and copies label lists for each.
    """
    data = report.data
    snapshot = data.snapshot
    now = data.taken_at
    jobs = GaugeMetricFamily("thesis_queue_jobs", "jobs per state of each queue", labels=["queue", "backend", "state"])
    oldest = GaugeMetricFamily(
        "thesis_queue_oldest_waiting_age_seconds", "how long the next waiting job has waited", labels=["queue", "backend"]
    )
    serving = GaugeMetricFamily("thesis_queue_workers", "live workers that serve the queue (RQ: registered; BullMQ: by their connections)", labels=["queue", "backend"])
    stalled = GaugeMetricFamily(
        "thesis_queue_stalled_seconds",
        "longest time without a change of progress of a running job whose worker is alive",
        labels=["queue", "backend"],
    )
    completed = CounterMetricFamily("thesis_queue_jobs_completed", "jobs completed (stored metrics)", labels=["queue", "backend"])
    failed = CounterMetricFamily("thesis_queue_jobs_failed", "jobs that failed for good (stored metrics)", labels=["queue", "backend"])
    retried = CounterMetricFamily(
        "thesis_queue_jobs_retried", "failed attempts that will be retried (stored metrics)", labels=["queue", "backend"]
    )
    runtime = HistogramMetricFamily("thesis_job_runtime_seconds", "run time of every attempt", labels=["queue", "backend"])
    live = LiveWorkers(snapshot)
    live_names = {w.name for w in snapshot.workers}
    jobs_name, jobs_samples = jobs.name, jobs.samples
    bucket_name, count_name, sum_name = (f"{runtime.name}{suffix}" for suffix in ("_bucket", "_count", "_sum"))
    for q in snapshot.queues:
        name, backend = q.name, q.backend.value
        for state in _STATE_NAMES:
            jobs_samples.append(Sample(jobs_name, {"queue": name, "backend": backend, "state": state}, getattr(q, state)))
        by_queue = {"queue": name, "backend": backend}
        serving_now = live.of(q)
        if serving_now is not None:  # BullMQ's workers are unknown when the server refuses CLIENT LIST
            serving.samples.append(Sample(serving.name, by_queue, serving_now))
        watch = data.queue(name, q.backend)
        if watch is None:
            continue
        age = now - watch.head_enqueued_at if watch.head_enqueued_at is not None and q.waiting else 0.0
        oldest.samples.append(Sample(oldest.name, by_queue, max(0.0, age)))
        ages = [progress_age(j, now) for j in watch.active if worker_alive(j, live_names)]
        stalled.samples.append(Sample(stalled.name, by_queue, max((a for a in ages if a is not None), default=0.0)))
        sums = totals.update(f"{backend}:{name}", watch.minutes, now)
        completed.samples.append(Sample(completed.name + "_total", by_queue, sums.completed))
        failed.samples.append(Sample(failed.name + "_total", by_queue, sums.failed))
        if q.backend is Backend.BULLMQ:
            continue  # BullMQ records neither retries nor run times in its metrics
        retried.samples.append(Sample(retried.name + "_total", by_queue, sums.retried))
        cumulative = list(accumulate(sums.histogram))
        for index, le in _EXPOSED_BUCKETS:
            runtime.samples.append(Sample(bucket_name, {"queue": name, "backend": backend, "le": le}, cumulative[index]))
        runtime.samples.append(Sample(bucket_name, {"queue": name, "backend": backend, "le": "+Inf"}, cumulative[-1]))
        runtime.samples.append(Sample(count_name, by_queue, cumulative[-1]))
        runtime.samples.append(Sample(sum_name, by_queue, sums.runtime_sum_s))
    busy = sum(1 for w in snapshot.workers if w.state == "busy")
    sup_live = GaugeMetricFamily("thesis_supervisor_workers_live", "worker processes alive", labels=["supervisor", "host"])
    sup_busy = GaugeMetricFamily("thesis_supervisor_workers_busy", "workers running a job", labels=["supervisor", "host"])
    sup_desired = GaugeMetricFamily(
        "thesis_supervisor_workers_desired", "desired concurrency", labels=["supervisor", "host"]
    )
    for s in snapshot.supervisors:
        sup_live.add_metric([s.id, s.host], s.live)
        sup_busy.add_metric([s.id, s.host], s.busy)
        sup_desired.add_metric([s.id, s.host], s.desired)
    heartbeat = GaugeMetricFamily(
        "thesis_supervisor_heartbeat_age_seconds",
        "seconds since each known supervisor's last heartbeat (kept for an hour after it stops)",
        labels=["supervisor"],
    )
    for beat in data.supervisors:
        last = max(beat.heartbeat_at, beat.record.heartbeat_at if beat.record else 0.0)
        heartbeat.add_metric([beat.id], max(0.0, now - last))
    firing = GaugeMetricFamily(
        "thesis_alert_firing", "1 for each firing alert of the built-in rules", labels=["rule", "queue", "subject", "severity"]
    )
    for alert in report.update.firing:
        c = alert.condition
        firing.add_metric([c.rule.value, c.queue, c.subject, c.severity.value], 1)
    return [
        jobs, oldest, serving, stalled, completed, failed, retried, runtime,
        _gauge("thesis_workers_alive", "registered RQ workers whose heartbeat has not expired", len(snapshot.workers)),
        _gauge("thesis_workers_busy", "RQ workers running a job", busy),
        _gauge("thesis_supervisors_alive", "thesis-worker supervisors with a live record", len(snapshot.supervisors)),
        sup_live, sup_busy, sup_desired, heartbeat, firing,
    ]  # fmt: skip


_STATE_NAMES = tuple(state.value for state in STATE_ORDER)
"""The ``state`` labels, which are also the names of :class:`QueueCounts`' fields."""
assert set(RUNTIME_BOUNDS_S) >= set(HISTOGRAM_BOUNDS_S), "exposed bounds must be stored bounds"
_EXPOSED_BUCKETS: tuple[tuple[int, str], ...] = tuple(
    (RUNTIME_BOUNDS_S.index(bound), str(float(bound))) for bound in sorted(HISTOGRAM_BOUNDS_S)
)
"""Index of each exposed bound among the stored ones, and its ``le`` label."""


def _gauge(name: str, documentation: str, value: float) -> GaugeMetricFamily:
    return GaugeMetricFamily(name, documentation, value=value)


