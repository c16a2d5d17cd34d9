from __future__ import annotations

import pytest
import redis.asyncio as aioredis
from rq import Worker

from tests.core.bulk_jobs import run
from thesis_console.core.reader import QueueReader, ThroughputTracker
from thesis_console.core.types import Snapshot, WorkerInfo

T0 = 1_000_000.0


def _snap(at: float, *workers: tuple[str, float, int, int]) -> Snapshot:
    return Snapshot(
        taken_at=at,
        queues=(),
        workers=tuple(WorkerInfo(name=n, birth=b, successful=s, failed=f) for n, b, s, f in workers),
        supervisors=(),
    )


def test_rates_are_counter_growth_over_elapsed_time():
    tracker = ThroughputTracker()
    assert tracker.update(_snap(T0, ("a", 0, 10, 1), ("b", 0, 5, 0))) is None
    assert tracker.update(_snap(T0 + 2, ("a", 0, 16, 1), ("b", 0, 7, 2))) == (4.0, 1.0)
    assert tracker.update(_snap(T0 + 4, ("a", 0, 16, 1), ("b", 0, 7, 2))) == (0.0, 0.0)


def test_restarts_new_workers_and_vanished_workers():
    tracker = ThroughputTracker()
    tracker.update(_snap(T0, ("a", 0, 100, 10), ("gone", 0, 50, 0)))
    # "a" restarted after the previous snapshot (new birth, counters from zero); "new" was born
    # after it too; "old" existed before but was not seen; "gone" vanished.
    rates = tracker.update(_snap(T0 + 10, ("a", T0 + 5, 3, 1), ("new", T0 + 1, 7, 0), ("old", T0 - 500, 99, 9)))
    assert rates == (1.0, 0.1)
    # Counters that went down under the same birth are a restart too, never a negative rate.
    tracker.update(_snap(T0 + 20, ("a", T0 + 5, 5, 1)))
    assert tracker.update(_snap(T0 + 30, ("a", T0 + 5, 2, 0))) == pytest.approx((0.0, 0.0))


def test_time_that_does_not_advance_gives_no_rate():
    tracker = ThroughputTracker()
    tracker.update(_snap(T0, ("a", 0, 1, 0)))
    assert tracker.update(_snap(T0, ("a", 0, 2, 0))) is None
    tracker.reset()
    assert tracker.update(_snap(T0 + 1, ("a", 0, 3, 0))) is None


def test_counts_workers_this_project_did_not_start(redis_conn, redis_url):
    worker = Worker(["emails"], connection=redis_conn, name="someone-elses-worker")
    worker.register_birth()

    async def snapshot() -> Snapshot:
        client = aioredis.Redis.from_url(redis_url, decode_responses=False)
        try:
            return await QueueReader(client).snapshot()
        finally:
            await client.aclose()

    tracker = ThroughputTracker()
    first = run(snapshot())
    assert tracker.update(first) is None
    for _ in range(6):
        worker.increment_successful_job_count()
    worker.increment_failed_job_count()
    second = run(snapshot())
    completed, failed = tracker.update(second) or (0.0, 0.0)
    elapsed = second.taken_at - first.taken_at
    assert completed == pytest.approx(6 / elapsed) and failed == pytest.approx(1 / elapsed)
