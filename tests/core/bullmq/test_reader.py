from __future__ import annotations

import asyncio
import time

import pytest
import redis.asyncio as aioredis

from tests.core.bulk_jobs import command_calls, reset_command_stats
from tests.core.bullmq.bull_jobs import QUEUE, add_jobs, dump_all, pause
from tests.corpus import bullmq_hostile
from thesis_console.core.bullmq.reader import BullReader
from thesis_console.core.embedded_redis import EmbeddedRedis
from thesis_console.core.reader import QueueReader
from thesis_console.core.round_trips import RoundTrips
from thesis_console.core.types import Backend, JobState


@pytest.fixture
def redis_server(private_redis_server: EmbeddedRedis) -> EmbeddedRedis:
    """This module counts the server's commands: each test gets a server of its own."""
    return private_redis_server


def run(url: str, call):
    async def go():
        client = aioredis.Redis.from_url(url, decode_responses=False)
        try:
            return await call(client)
        finally:
            await client.aclose()

    return asyncio.run(go())


def _finished(conn, job_id: str, state: str, at_ms: int, **fields) -> None:
    """A completed or failed job as BullMQ's moveToFinished leaves it (hash plus sorted-set entry)."""
    conn.hset(f"bull:{QUEUE}:{job_id}", mapping={"name": "generate-thesis", "data": '{"thesisId": "x"}',
                                                  "opts": '{"attempts": 3}', "timestamp": at_ms - 500,
                                                  "processedOn": at_ms - 400, "finishedOn": at_ms, "atm": 1, **fields})
    conn.zadd(f"bull:{QUEUE}:{state}", {job_id: at_ms})


def test_snapshot_shows_bullmq_and_rq_queues_each_with_its_backend(redis_conn, redis_url):
    waiting = add_jobs(redis_url, [({"topic": f"T{i}"}, {}) for i in range(3)])
    add_jobs(redis_url, [({"topic": "P"}, {"priority": 5}), ({"topic": "D"}, {"delay": 60_000})])
    _finished(redis_conn, "c1", "completed", 1_700_000_000_000)
    _finished(redis_conn, "f1", "failed", 1_700_000_000_000, failedReason="boom")
    redis_conn.sadd("rq:queues", "rq:queue:thesis")
    redis_conn.rpush("rq:queue:thesis", "some-rq-job")

    snapshot = run(redis_url, lambda c: QueueReader(c).snapshot())

    bull = snapshot.queue(QUEUE)
    assert (bull.backend, bull.waiting, bull.scheduled, bull.completed, bull.failed) == (Backend.BULLMQ, 4, 1, 1, 1)
    assert bull.problem is None and len(waiting) == 3
    rq = snapshot.queue("thesis")
    assert (rq.backend, rq.waiting) == (Backend.RQ, 1)
    assert snapshot.round_trips == 3  # RQ's two, then every BullMQ queue's counts in one


def test_paused_jobs_count_as_waiting(redis_conn, redis_url):
    add_jobs(redis_url, [({"topic": f"T{i}"}, {}) for i in range(4)])
    pause(redis_url)
    assert redis_conn.llen(f"bull:{QUEUE}:paused") == 4
    snapshot = run(redis_url, lambda c: QueueReader(c).snapshot())
    assert snapshot.queue(QUEUE).waiting == 4
    page = run(redis_url, lambda c: QueueReader(c).page(QUEUE, JobState.WAITING, 0, 10))
    assert [r.topic for r in page.rows] == ["T0", "T1", "T2", "T3"]


def test_waiting_pages_at_any_depth_in_the_order_workers_take_jobs(redis_conn, redis_url):
    plain = add_jobs(redis_url, [({"topic": f"T{i}"}, {}) for i in range(230)])
    urgent = add_jobs(redis_url, [({"topic": f"P{i}"}, {"priority": 1 + i % 2}) for i in range(20)])
    expected = plain + [urgent[i] for i in range(0, 20, 2)] + [urgent[i] for i in range(1, 20, 2)]

    async def pages(client):
        out = []
        for offset in (0, 100, 225, 245, 250):
            trips = RoundTrips(client, 5.0)
            page = await BullReader(trips, "bull").page(QUEUE, JobState.WAITING, offset, 10)
            out.append((offset, page, trips.count))
        return out

    for offset, page, trips in run(redis_url, pages):
        assert page.total == 250
        assert [r.id for r in page.rows] == expected[offset : offset + 10], offset
        assert trips == (2 if offset < 250 else 1)  # beyond the end: the lengths say there is nothing


def test_finished_states_page_newest_first_in_two_round_trips(redis_conn, redis_url):
    for i in range(120):
        _finished(redis_conn, f"c{i}", "completed", 1_700_000_000_000 + i * 1000)

    async def page(client):
        trips = RoundTrips(client, 5.0)
        return await BullReader(trips, "bull").page(QUEUE, JobState.COMPLETED, 110, 50), trips.count

    got, trips = run(redis_url, page)
    assert [r.id for r in got.rows] == [f"c{i}" for i in range(9, -1, -1)]
    assert trips == 2 and got.total == 120
    assert got.rows[0].duration_s == 0.4 and got.rows[0].backend is Backend.BULLMQ


def test_scheduled_rows_say_requested_delay_and_when_they_run(redis_conn, redis_url):
    before = time.time()
    (job,) = add_jobs(redis_url, [({"topic": "later"}, {"delay": 60_000})])
    redis_conn.set(f"bull:{QUEUE}:meta-unrelated", "x")
    page = run(redis_url, lambda c: QueueReader(c).page(QUEUE, JobState.SCHEDULED, 0, 10))
    (row,) = page.rows
    assert row.id == job and row.status == "requested delay"
    assert before + 59 < row.scheduled_for < time.time() + 61


def test_hostile_jobs_are_rows_that_say_what_is_wrong_and_reading_changes_nothing(redis_conn, redis_url):
    ids = bullmq_hostile.load(redis_conn, redis_url)
    queue = bullmq_hostile.QUEUE
    before = dump_all(redis_conn)

    snapshot = run(redis_url, lambda c: QueueReader(c).snapshot())
    page = run(redis_url, lambda c: QueueReader(c).page(queue, JobState.WAITING, 0, 10))
    detail = run(redis_url, lambda c: QueueReader(c).detail(ids["ten_mb"], queue))
    broken = run(redis_url, lambda c: QueueReader(c).detail(ids["wrong_type"], queue))

    assert "delayed is not a sorted set" in snapshot.queue(queue).problem
    rows = {r.id: r for r in page.rows}
    assert rows[ids["not_json"]].problem == "data is not JSON"
    assert rows[ids["hash_gone"]].problem == "job hash is missing (removed or expired)"
    assert rows[ids["wrong_type"]].problem == "job key is not a hash (a foreign or damaged key)"
    assert rows[ids["ten_mb"]].problem is None and rows[ids["ten_mb"]].topic is None  # too large for a row
    assert "job name is not UTF-8" in rows[ids["not_utf8"]].problem and "opts are not JSON" in rows[ids["not_utf8"]].problem
    assert detail.args.kind == "json" and len(detail.args.value["blob"]) == 10_000_000
    assert broken.row.problem == "job key is not a hash (a foreign or damaged key)"
    assert dump_all(redis_conn) == before


def test_queues_are_found_under_the_profiles_prefix_and_the_scan_is_reused(redis_conn, redis_url):
    add_jobs(redis_url, [({"topic": "default prefix"}, {})])
    add_jobs(redis_url, [({"topic": "own prefix"}, {})], queue="other", prefix="acme")

    async def twice(client):
        reader = QueueReader(client, bullmq_prefix="acme")
        first = await reader.snapshot()
        reset_command_stats(redis_conn)
        second = await reader.snapshot()
        return first, second, command_calls(redis_conn)

    first, second, calls = run(redis_url, twice)
    assert [(q.name, q.backend) for q in first.queues] == [("other", Backend.BULLMQ)]
    assert second.queue("other").waiting == 1
    assert "scan" not in calls  # found again only after BULL_DISCOVERY_S


def test_a_profiles_queue_list_is_checked_without_scanning(redis_conn, redis_url):
    add_jobs(redis_url, [({"topic": "t"}, {})])
    reset_command_stats(redis_conn)
    snapshot = run(redis_url, lambda c: QueueReader(c, queues=[QUEUE, "absent"]).snapshot())
    assert [(q.name, q.backend, q.waiting) for q in snapshot.queues] == [
        (QUEUE, Backend.BULLMQ, 1),
        ("absent", Backend.RQ, 0),
    ]
    assert "scan" not in command_calls(redis_conn)


def test_search_and_metric_series_read_the_bullmq_queue(redis_conn, redis_url):
    now = 1_700_000_000.0
    for i in range(30):
        _finished(redis_conn, f"c{i}", "completed", int((now - 600 + i * 10) * 1000))
    _finished(redis_conn, "f1", "failed", int((now - 30) * 1000), failedReason="GPU on fire")
    add_jobs(redis_url, [({"topic": "Quantum gardening"}, {}), ({"topic": "Tidal poetry"}, {})])

    async def read(client):
        reader = QueueReader(client)
        await reader.snapshot()  # finds the BullMQ queue
        found = [r async for batch in reader.search(QUEUE, JobState.WAITING, "gardening", batch_size=10) for r in batch]
        failed = [r async for batch in reader.search(QUEUE, JobState.FAILED, "on fire", batch_size=10) for r in batch]
        series = await reader.metric_series(QUEUE, 3600, now=now)
        return found, failed, series

    found, failed, series = run(redis_url, read)
    assert [r.topic for r in found] == ["Quantum gardening"] and found[0].backend is Backend.BULLMQ
    assert [r.id for r in failed] == ["f1"]
    assert series.step_s == 60 and len(series.points) == 60
    assert sum(p.completed for p in series.points) == 30 and sum(p.failed for p in series.points) == 1
    (failing,) = [p for p in series.points if p.failed]
    assert failing.success_rate == 0.0 and failing.start <= now - 30 < failing.start + 60


def _bulk_waiting(conn, count: int) -> list[str]:
    """``count`` waiting jobs as addStandardJob leaves them (LPUSH to wait, a hash per job), written in bulk."""
    ids = [str(i) for i in range(1, count + 1)]
    with conn.pipeline(transaction=False) as pipe:
        for job_id in ids:
            pipe.hset(f"bull:{QUEUE}:{job_id}", mapping={"name": "generate-thesis", "data": '{"topic": "bulk"}',
                                                         "opts": '{"attempts": 3}', "timestamp": 1_700_000_000_000})
            pipe.lpush(f"bull:{QUEUE}:wait", job_id)
        pipe.set(f"bull:{QUEUE}:id", count)
        pipe.execute()
    return ids


def test_page_cost_in_commands_does_not_grow_with_offset(redis_conn, redis_url):
    ids = _bulk_waiting(redis_conn, 20_000)
    costs = []
    for offset in (0, 10_000, 19_950):
        reset_command_stats(redis_conn)
        page = run(redis_url, lambda c, o=offset: QueueReader(c).page(QUEUE, JobState.WAITING, o, 50))
        costs.append(command_calls(redis_conn))
        assert [r.id for r in page.rows] == ids[offset : offset + 50]
        assert page.total == 20_000 and all(r.problem is None for r in page.rows)
    assert costs[0] == costs[1] == costs[2]
    # the backend check, the three lengths, the ranges of wait and the two guesses (head, no jobs before)
    # of paused and prioritized, one HMGET per row
    assert costs[0] == {"exists": 1, "llen": 2, "zcard": 1, "lrange": 3, "zrange": 2, "hmget": 50}
