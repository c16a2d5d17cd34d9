"""The snapshot tests of the RQ backend (tests/core/test_snapshot.py), run against BullMQ queues:
the counts of every BullMQ queue in one round trip, whatever the number of queues and jobs."""

from __future__ import annotations

import asyncio
import time

import pytest
import redis.asyncio as aioredis

from tests.core.bulk_jobs import command_calls, reset_command_stats, run
from tests.core.bullmq.bull_jobs import add_jobs, pause, write_bulk
from thesis_console.core.bullmq import reader as bull
from thesis_console.core.embedded_redis import EmbeddedRedis
from thesis_console.core.reader import QueueReader
from thesis_console.core.round_trips import RoundTrips
from thesis_console.core.types import Backend, JobState, Snapshot


@pytest.fixture
def redis_server(private_redis_server: EmbeddedRedis) -> EmbeddedRedis:
    """This module counts the server's commands: each test gets a server of its own."""
    return private_redis_server


QUEUES = [f"queue-{i}" for i in range(10)]


async def _snapshot(url: str) -> Snapshot:
    client = aioredis.Redis.from_url(url, decode_responses=False)
    try:
        reader = QueueReader(client)
        await reader.bull_queues()  # the key scan, which a reader repeats at most every 30 s
        return await reader.snapshot()
    finally:
        await client.aclose()


def _fill(conn, url: str, jobs_per_state: int) -> None:
    for n, queue in enumerate(QUEUES):
        for state in (JobState.WAITING, JobState.SCHEDULED, JobState.COMPLETED, JobState.FAILED):
            write_bulk(conn, state, jobs_per_state + n, queue=queue)


def test_counts_of_ten_queues_take_one_round_trip(redis_conn, redis_url):
    _fill(redis_conn, redis_url, 3)
    add_jobs(redis_url, [({"topic": "urgent"}, {"priority": 1})], queue="queue-0")
    pause(redis_url, "queue-1")

    async def counts(client):
        trips = RoundTrips(client, 5.0)
        replies = await trips.run(lambda pipe: bull.fill_counts(pipe, "bull", QUEUES))
        return bull.parse_counts("bull", QUEUES, replies), trips.count

    client_counts, trips = run(_with_client(redis_url, counts))
    assert trips == 1
    for n, counts in enumerate(client_counts):
        expected_waiting = 3 + n + (1 if n == 0 else 0)
        assert (counts.name, counts.backend, counts.problem) == (QUEUES[n], Backend.BULLMQ, None)
        assert (counts.waiting, counts.scheduled, counts.completed, counts.failed) == (expected_waiting, 3 + n, 3 + n, 3 + n)
        assert counts.paused == (n == 1)

    snapshot = run(_snapshot(redis_url))
    assert [q.name for q in snapshot.queues] == QUEUES and snapshot.queue("queue-1").waiting == 4
    empty_rq = run(_rq_only_round_trips(redis_url))
    assert snapshot.round_trips == empty_rq + 1  # RQ's part, then every BullMQ queue's counts in one


def test_snapshot_cost_grows_with_queues_not_with_jobs(redis_conn, redis_url):
    _fill(redis_conn, redis_url, 2)
    reset_command_stats(redis_conn)
    small = run(_snapshot(redis_url))
    small_calls = _without_scan(command_calls(redis_conn))
    for queue in QUEUES[:3]:
        write_bulk(redis_conn, JobState.WAITING, 20_000, queue=queue)
        write_bulk(redis_conn, JobState.COMPLETED, 20_000, queue=queue)
    reset_command_stats(redis_conn)
    big = run(_snapshot(redis_url))
    assert _without_scan(command_calls(redis_conn)) == small_calls
    assert big.round_trips == small.round_trips
    assert big.queue("queue-0").waiting == 20_002 and big.queue("queue-2").completed == 20_004
    assert small_calls["llen"] == 10 * 3  # wait, paused, active of each queue, in one pipeline


async def _with_client(url: str, call):
    client = aioredis.Redis.from_url(url, decode_responses=False)
    try:
        return await call(client)
    finally:
        await client.aclose()


async def _rq_only_round_trips(url: str) -> int:
    """The round trips of a snapshot of the same Redis read as holding no BullMQ queue."""
    client = aioredis.Redis.from_url(url, decode_responses=False)
    try:
        return (await QueueReader(client, bullmq_prefix="no-such-prefix").snapshot()).round_trips
    finally:
        await client.aclose()


def _without_scan(calls: dict[str, int]) -> dict[str, int]:
    return {command: n for command, n in calls.items() if command != "scan"}


def test_queue_discovery_walks_many_keys_in_few_round_trips(redis_conn, redis_url):
    """Without a list of queues, the BullMQ queues are found by one SCAN walk with a large step: a
    Redis of 200,000 other keys takes a handful of round trips (it took 400 with 1,000-key steps)."""
    add_jobs(redis_url, [({"topic": "a"}, {})], queue="with-meta")
    redis_conn.set("bull:id-only:id", 7)  # an older BullMQ wrote no meta until a worker ran
    redis_conn.hset("bull:with-meta:metrics:completed", "count", 1)
    redis_conn.set("bull:a:b:meta", 1)  # not a queue: its name would hold a colon
    redis_conn.execute_command("DEBUG", "POPULATE", 200_000, "other")

    async def find():
        client = aioredis.Redis.from_url(redis_url, decode_responses=False)
        try:
            trips = RoundTrips(client, 5.0)
            return await bull.find_queues(trips, "bull"), trips.count
        finally:
            await client.aclose()

    found, trips = run(find())
    assert found == ["id-only", "with-meta"]
    assert trips <= 6


def test_a_reader_can_find_the_bullmq_queues_again_beside_its_snapshots(redis_url):
    """The window's reader waits for its first walk of the key space (which queues are BullMQ decides
    what the console does with them), then walks again beside the snapshots: a snapshot due for a walk
    does not wait for it, and a later one has the queue created meanwhile."""
    add_jobs(redis_url, [({"topic": "a"}, {})], queue="first")

    async def scenario():
        client = aioredis.Redis.from_url(redis_url, decode_responses=False)
        try:
            reader = QueueReader(client)
            reader.discover_in_background = True
            first = await reader.snapshot()
            await asyncio.to_thread(add_jobs, redis_url, [({"topic": "b"}, {})], "second")
            reader._bull_found_at = time.monotonic() - reader._bull_reuse_s  # the walk is due
            due = await reader.snapshot()
            for _ in range(200):
                later = await reader.snapshot()
                if "second" in [q.name for q in later.queues]:
                    return first, due, later
            raise AssertionError("the new BullMQ queue was never found")
        finally:
            await client.aclose()

    first, due, later = run(scenario())
    assert [(q.name, q.backend) for q in first.queues] == [("first", Backend.BULLMQ)]
    assert [q.name for q in due.queues] == ["first"]  # the walk runs beside this snapshot
    assert [(q.name, q.backend) for q in later.queues] == [("first", Backend.BULLMQ), ("second", Backend.BULLMQ)]
