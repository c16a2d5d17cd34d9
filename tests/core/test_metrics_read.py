from __future__ import annotations

import pytest
import redis.asyncio as aioredis

from tests.core.bulk_jobs import command_calls, reset_command_stats, run
from thesis_console.core import metrics_store
from thesis_console.core.embedded_redis import EmbeddedRedis
from thesis_console.core.reader import QueueReader
from thesis_console.core.types import CoreError, MetricSeries


@pytest.fixture
def redis_server(private_redis_server: EmbeddedRedis) -> EmbeddedRedis:
    """This module counts the server's commands: each test gets a server of its own."""
    return private_redis_server

NOW = 1_700_000_000.0  # a fixed "now" so buckets are known; 1_699_999_980 is the start of its minute
MINUTE = int(NOW // 60) * 60
HOUR = int(NOW // 3600) * 3600


async def _series(url: str, range_s: int, queue: str = "thesis") -> MetricSeries:
    client = aioredis.Redis.from_url(url, decode_responses=False)
    try:
        return await QueueReader(client).metric_series(queue, range_s, now=NOW)
    finally:
        await client.aclose()


def _record(conn, ok: bool, duration: float, at: float, will_retry: bool = False) -> None:
    with conn.pipeline(transaction=False) as pipe:
        metrics_store.record_job(pipe, "thesis", ok, duration, now=at, will_retry=will_retry)
        pipe.execute()


def test_minute_series_counts_rates_percentiles_and_depth(redis_conn, redis_url):
    for _ in range(8):
        _record(redis_conn, True, 1.5, NOW)
    _record(redis_conn, False, 30.0, NOW)
    _record(redis_conn, False, 2.0, NOW, will_retry=True)
    for _ in range(3):
        _record(redis_conn, True, 0.2, NOW - 600)
    with redis_conn.pipeline(transaction=False) as pipe:
        metrics_store.record_depth(pipe, "thesis", 42, now=NOW)
        pipe.execute()

    reset_command_stats(redis_conn)
    series = run(_series(redis_url, 3600))
    # one round trip, one command per bucket, after one EXISTS of a new reader (is the queue BullMQ's?)
    assert command_calls(redis_conn) == {"hgetall": 60, "exists": 1}
    assert series.step_s == 60 and len(series.points) == 60
    assert [p.start for p in series.points] == [MINUTE - 59 * 60 + 60 * i for i in range(60)]
    last = series.points[-1]
    assert (last.completed, last.failed, last.retried, last.depth) == (8, 1, 1, 42)
    assert last.success_rate == pytest.approx(8 / 9)
    assert 1.0 <= last.runtime_p50_s <= 2.5 and last.runtime_p95_s >= 2.5
    earlier = series.points[-11]
    assert (earlier.completed, earlier.failed, earlier.success_rate, earlier.depth) == (3, 0, 1.0, None)
    empty = series.points[0]
    assert (empty.completed, empty.success_rate, empty.runtime_p50_s) == (0, None, None)


def test_day_and_week_use_hour_buckets(redis_conn, redis_url):
    _record(redis_conn, True, 5.0, NOW)
    _record(redis_conn, False, 5.0, NOW - 3 * 3600)
    _record(redis_conn, True, 5.0, NOW - 6 * 86400)
    day = run(_series(redis_url, 86400))
    assert day.step_s == 3600 and len(day.points) == 24 and day.points[-1].start == HOUR
    assert (day.points[-1].completed, day.points[-4].failed) == (1, 1)
    week = run(_series(redis_url, 7 * 86400))
    assert len(week.points) == 168 and sum(p.completed for p in week.points) == 2
    assert run(_series(redis_url, 6 * 3600)).step_s == 60  # a few hours: still minutes


def test_bad_ranges_and_foreign_keys(redis_conn, redis_url):
    with pytest.raises(CoreError, match="range must be 60 s to"):
        run(_series(redis_url, 10))
    with pytest.raises(CoreError, match="range must be"):
        run(_series(redis_url, 8 * 86400))
    redis_conn.set(metrics_store.minute_key("thesis", int(NOW // 60)), "not a hash")
    assert run(_series(redis_url, 60)).points[-1].completed == 0
