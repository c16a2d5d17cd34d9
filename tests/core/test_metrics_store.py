"""Decoding the per-minute metric hashes as the workers write them, and as a foreign writer might."""

from __future__ import annotations

import redis

from thesis_console.core import metrics_store
from thesis_console.core.metrics_store import BucketCounts, bucket_index, decode_counts


def test_a_bucket_written_by_the_workers_increments(redis_conn: redis.Redis):
    now = 1_700_000_000.0
    with redis_conn.pipeline() as pipe:
        metrics_store.record_job(pipe, "thesis", ok=True, duration_s=30, now=now)
        metrics_store.record_job(pipe, "thesis", ok=True, duration_s=400, now=now)
        metrics_store.record_job(pipe, "thesis", ok=False, duration_s=0.2, now=now)
        metrics_store.record_job(pipe, "thesis", ok=False, duration_s=5000, now=now, will_retry=True)
        metrics_store.record_depth(pipe, "thesis", 17, now=now)
        pipe.execute()
    raw = redis_conn.hgetall(metrics_store.minute_key("thesis", int(now // 60)))
    histogram = [0] * (len(metrics_store.RUNTIME_BOUNDS_S) + 1)
    for duration in (30, 400, 0.2, 5000):
        histogram[bucket_index(duration)] += 1
    expected = BucketCounts(60.0, 2, 1, 1, tuple(histogram), 5430.2, 17)
    assert decode_counts(60.0, raw) == expected
    assert decode_counts(60.0, {k.decode(): v.decode() for k, v in raw.items()}) == expected  # str keys too


def test_bad_and_foreign_fields_count_as_absent():
    raw = {
        b"completed": b"inf",
        b"failed": b"nan",
        b"retried": b"\xff\xfe",
        b"depth": b"12.0",
        b"rt_sum": b"x",
        b"rt3": b"2",
        b"rt99": b"5",
        b"rtx": b"5",
        b"other": b"1",
    }
    counts = decode_counts(0.0, raw)
    assert (counts.completed, counts.failed, counts.retried, counts.depth, counts.runtime_sum_s) == (0, 0, 0, 12, None)
    assert counts.histogram[3] == 2 and sum(counts.histogram) == 2
    assert decode_counts(0.0, {}) == BucketCounts(0.0, 0, 0, 0, (0,) * len(counts.histogram), None, None)
