"""What supervised Python BullMQ workers leave for the console's charts: BullMQ's own per-minute metrics
(so jobs that retention removed still count) and the supervisor's queue-depth samples."""

from __future__ import annotations

import time

import pytest

from tests.core.bullmq.test_reader import run
from tests.helpers import wait_for
from tests.node_bullmq import produce
from tests.worker_runner.test_bullmq_workers import QUEUE, _completions, _jobs, _start, _wait_live
from thesis_console.core import metrics_store
from thesis_console.core.bullmq import metrics
from thesis_console.core.bullmq.keys import depth_metrics_name
from thesis_console.core.reader import QueueReader
from thesis_console.core.types import Measure


@pytest.mark.slow(20)
def test_python_workers_record_bullmq_metrics_and_the_supervisor_records_depth(redis_conn, redis_url, supervisors):
    sup = _start(supervisors, "-n", "2")
    _wait_live(sup, redis_conn, 2)
    ids = produce(redis_url, _jobs("counted", 5), opts={"removeOnComplete": {"count": 2}})
    wait_for(lambda: all(_completions(redis_conn).get(i) == 1 for i in ids), timeout=60, message="5 jobs completed")
    assert redis_conn.zcard(f"bull:{QUEUE}:completed") == 2  # retention removed the other three

    series = run(redis_url, lambda c: QueueReader(c).metric_series(QUEUE, 3600))

    assert sum(p.completed for p in series.points) == 5 and series.sources[0] == metrics.SOURCE_METRICS
    assert redis_conn.hget(f"bull:{QUEUE}:metrics:completed", "count") == b"5"
    assert series.points[-1].depth == 0 and Measure.THROUGHPUT not in series.points[-1].unrecorded
    minute = int(time.time() // 60)
    depth_keys = [metrics_store.minute_key(depth_metrics_name("bull", QUEUE), m) for m in (minute - 1, minute)]
    assert any(redis_conn.hexists(key, metrics_store.F_DEPTH) for key in depth_keys), "the supervisor's depth sample"
    assert not redis_conn.exists(metrics_store.minute_key(QUEUE, minute)), "not under an RQ queue's name"


def test_an_rq_supervisor_records_depth_under_the_queue_name(redis_conn, supervisors):
    sup = supervisors("--queue", "depthq", "-n", "1")
    sup.wait_live(redis_conn, 1)

    def sampled() -> bool:
        minute = int(time.time() // 60)
        return any(redis_conn.hget(metrics_store.minute_key("depthq", m), metrics_store.F_DEPTH) is not None
                   for m in (minute - 1, minute))  # fmt: skip

    wait_for(sampled, timeout=30, message="a depth sample of depthq")
    assert not redis_conn.keys(f"{metrics_store.minute_key(depth_metrics_name('bull', 'depthq'), 0)[:-2]}*")
