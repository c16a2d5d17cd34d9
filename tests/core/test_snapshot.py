from __future__ import annotations

import logging
import time

import pytest
import redis.asyncio as aioredis
from rq import Queue, Worker

from tests.core.bulk_jobs import command_calls, reset_command_stats, run, write_jobs
from tests.helpers import wait_for
from thesis_console.core import contract
from thesis_console.core.embedded_redis import EmbeddedRedis
from thesis_console.core.reader import QueueReader
from thesis_console.core.supervisor_protocol import INDEX_KEY, RECORD_TTL_S, SupervisorRecord, record_key
from thesis_console.core.types import JobState, Snapshot


@pytest.fixture
def redis_server(private_redis_server: EmbeddedRedis) -> EmbeddedRedis:
    """This module counts the server's commands: each test gets a server of its own."""
    return private_redis_server


async def _snapshot(url: str, queues=None) -> Snapshot:
    client = aioredis.Redis.from_url(url, decode_responses=False)
    try:
        return await QueueReader(client, queues=queues).snapshot()
    finally:
        await client.aclose()


def _supervisor(sid: str) -> SupervisorRecord:
    now = time.time()
    return SupervisorRecord(
        id=sid, host="host-a", pid=4242, queues=("thesis",), desired=2, live=2, workers=("w1", "w2"),
        started_at=now - 60, restarts=0, heartbeat_at=now,
    )  # fmt: skip


def test_snapshot_reads_every_queue_worker_and_supervisor_in_two_round_trips(redis_conn, redis_url, caplog):
    thesis = contract.thesis_queue(redis_conn)
    for _ in range(3):
        thesis.enqueue("tests.jobs.noop")
    Queue("emails", connection=redis_conn).enqueue("tests.jobs.noop")  # a queue this project never uses
    write_jobs(redis_conn, "thesis", JobState.FAILED, 4, prefix="f")
    write_jobs(redis_conn, "thesis", JobState.SCHEDULED, 2, prefix="s")

    ours = Worker(["thesis"], connection=redis_conn, name="rq-started-elsewhere")
    ours.register_birth()
    ours.set_state("busy")
    for _ in range(5):
        ours.increment_successful_job_count()
    ours.increment_failed_job_count()
    # A worker of an older RQ on another host: it kept its job in ``current_job``.
    redis_conn.sadd("rq:workers", "rq:worker:old-rq")
    redis_conn.hset(
        "rq:worker:old-rq",
        mapping={"hostname": "other-host", "pid": "77", "state": "busy", "queues": "emails,thesis",
                 "current_job": "abc", "successful_job_count": "9", "birth": "2020-01-01T00:00:00Z"},
    )  # fmt: skip
    redis_conn.sadd("rq:workers", "rq:worker:gone", "rq:worker:stringy")  # hash expired / foreign key
    redis_conn.set("rq:worker:stringy", "x")

    redis_conn.set(record_key("alive"), _supervisor("alive").to_json(), ex=RECORD_TTL_S)
    redis_conn.set(record_key("damaged"), "{not json", ex=RECORD_TTL_S)
    redis_conn.zadd(INDEX_KEY, {"alive": time.time(), "damaged": time.time(), "expired": time.time() - 100})

    with caplog.at_level(logging.WARNING):
        snap = run(_snapshot(redis_url))

    assert snap.round_trips == 2
    assert [q.name for q in snap.queues] == ["emails", "thesis"]
    thesis_counts = snap.queue("thesis")
    assert (thesis_counts.waiting, thesis_counts.failed, thesis_counts.scheduled) == (3, 4, 2)
    assert thesis_counts.problem is None and snap.queue("emails").waiting == 1

    workers = {w.name: w for w in snap.workers}
    assert set(workers) == {"rq-started-elsewhere", "old-rq", "stringy"}
    mine = workers["rq-started-elsewhere"]
    assert (mine.state, mine.successful, mine.failed, mine.queues) == ("busy", 5, 1, ("thesis",))
    assert mine.pid == ours.pid and mine.hostname == ours.hostname and mine.problem is None
    assert mine.birth == pytest.approx(time.time(), abs=30) and mine.last_heartbeat is not None
    old = workers["old-rq"]
    assert (old.current_job, old.successful, old.queues, old.pid) == ("abc", 9, ("emails", "thesis"), 77)
    assert workers["stringy"].problem == "rq:worker:stringy is not a hash (a foreign or damaged key)"

    assert [s.id for s in snap.supervisors] == ["alive"]
    assert snap.supervisors[0].workers == ("w1", "w2")
    assert any("damaged" in r.getMessage() for r in caplog.records)
    assert snap.server.version and snap.server.round_trip_ms is not None and snap.server.used_memory_bytes


def test_snapshot_cost_grows_with_queues_and_workers_not_with_jobs(redis_conn, redis_url):
    write_jobs(redis_conn, "thesis", JobState.WAITING, 10, prefix="a")
    reset_command_stats(redis_conn)
    run(_snapshot(redis_url))
    small = command_calls(redis_conn)
    write_jobs(redis_conn, "thesis", JobState.WAITING, 20_000, prefix="b")
    write_jobs(redis_conn, "thesis", JobState.COMPLETED, 20_000, prefix="c")
    reset_command_stats(redis_conn)
    snap = run(_snapshot(redis_url))
    # A new reader looks for BullMQ queues with a SCAN, whose cost grows with the key space; a reader
    # does it once per 30 s (tests/core/bullmq/test_reader.py), not per snapshot.
    assert _without_scan(command_calls(redis_conn)) == _without_scan(small)
    assert snap.queue("thesis").waiting == 20_010 and snap.queue("thesis").completed == 20_000


def _without_scan(calls: dict[str, int]) -> dict[str, int]:
    return {command: n for command, n in calls.items() if command != "scan"}


def test_queue_filter_shows_exactly_the_listed_queues(redis_conn, redis_url):
    Queue("emails", connection=redis_conn).enqueue("tests.jobs.noop")
    contract.thesis_queue(redis_conn).enqueue("tests.jobs.noop")
    snap = run(_snapshot(redis_url, queues=["thesis", "not-yet-used"]))
    assert [(q.name, q.waiting) for q in snap.queues] == [("thesis", 1), ("not-yet-used", 0)]


def test_an_empty_redis_gives_an_empty_snapshot_in_one_round_trip(redis_conn, redis_url):
    snap = run(_snapshot(redis_url))
    assert (snap.queues, snap.workers, snap.supervisors, snap.round_trips) == ((), (), (), 1)


def test_foreign_keys_under_rq_names_do_not_break_the_snapshot(redis_conn, redis_url):
    redis_conn.sadd("rq:queues", "rq:queue:strange", "not-a-queue-key", b"rq:queue:\xff")
    redis_conn.set("rq:queue:strange", "a string where a list belongs")
    redis_conn.set("rq:failed:strange", "and another")
    redis_conn.hset("bull:thesis:1", mapping={"name": "a BullMQ job"})
    snap = run(_snapshot(redis_url))
    assert [q.name for q in snap.queues] == ["strange"]
    problem = snap.queues[0].problem or ""
    assert "rq:queue:strange is not a list" in problem and "rq:failed:strange is not a sorted set" in problem

    redis_conn.flushall()
    redis_conn.set("rq:queues", "not a set")
    redis_conn.set("rq:workers", "not a set either")
    assert run(_snapshot(redis_url)).queues == ()


def test_a_real_worker_process_shows_its_running_job(redis_conn, redis_url, isolated_env, processes):
    queue = contract.thesis_queue(redis_conn)
    job = queue.enqueue("tests.jobs.sleep_for", 3)
    processes.start("-m", "worker_runner", "--burst")
    # The worker adds the job to its wip registry before the work horse marks the job's hash started.
    wait_for(
        lambda: redis_conn.zcard("rq:wip:thesis") and redis_conn.hget(job.key, "status") == b"started",
        timeout=30,
        message="the job to start",
    )
    snap = run(_snapshot(redis_url))
    assert snap.queue("thesis").active == 1
    busy = [w for w in snap.workers if w.current_job]
    assert [w.current_job for w in busy] == [job.id] and busy[0].state == "busy"

    async def active_page():
        client = aioredis.Redis.from_url(redis_url, decode_responses=False)
        try:
            return await QueueReader(client).page("thesis", JobState.ACTIVE, 0, 10)
        finally:
            await client.aclose()

    row = run(active_page()).rows[0]
    assert (row.id, row.status, row.worker) == (job.id, "started", busy[0].name)
    assert row.started_at is not None and row.attempts_used == 1
    wait_for(lambda: redis_conn.zcard("rq:finished:thesis"), timeout=30, message="the job to finish")
