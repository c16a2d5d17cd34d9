"""Supervised workers and paused queues: real supervisors, real worker processes, real Redis."""

from __future__ import annotations

import time

import pytest
import redis
from rq.job import Job, JobStatus

from tests.core.test_actions import acting, run
from tests.helpers import wait_for
from thesis_console.core import contract, queue_pause
from worker_runner.queue_pause import PauseAwareMixin
from worker_runner.supervised_worker import SupervisedThesisSimpleWorker

WATCH_S = 5.0
"""How long a paused queue is watched for a job that should not start."""


def _status(conn: redis.Redis, job: Job) -> str:
    return Job.fetch(job.id, connection=conn, serializer=contract.SERIALIZER).get_status(refresh=True)


def _pause(url: str, queue: str) -> None:
    async def go() -> None:
        async with acting(url) as actions:
            await actions.pause_queue(queue, by="test@host")

    run(go())


def _resume(url: str, queue: str) -> None:
    async def go() -> None:
        async with acting(url) as actions:
            assert await actions.resume_queue(queue)

    run(go())


@pytest.mark.slow(seconds=15)
def test_a_paused_queue_starts_nothing_while_another_keeps_working(redis_conn, redis_url, supervisors):
    sup = supervisors("-n", "2", "--queue", "bulk", "--queue", "urgent")
    sup.wait_live(redis_conn, 2)
    bulk, urgent = contract.thesis_queue(redis_conn, "bulk"), contract.thesis_queue(redis_conn, "urgent")
    running = bulk.enqueue("tests.jobs.sleep_for", 1.5)
    wait_for(lambda: _status(redis_conn, running) == JobStatus.STARTED, 60, message="the bulk job to start")

    _pause(redis_url, "bulk")
    held = [bulk.enqueue("tests.jobs.noop") for _ in range(3)]  # enqueueing still works
    done_urgent = []
    deadline = time.monotonic() + WATCH_S
    while time.monotonic() < deadline:
        job = urgent.enqueue("tests.jobs.noop")
        wait_for(lambda job=job: _status(redis_conn, job) == JobStatus.FINISHED, 20, message="an urgent job")
        done_urgent.append(job)
        assert all(_status(redis_conn, j) == JobStatus.QUEUED for j in held)
    assert len(done_urgent) >= 3  # the other queue kept working all along
    assert _status(redis_conn, running) == JobStatus.FINISHED  # the job running at the pause finished
    assert bulk.job_ids == [j.id for j in held]

    resumed_at = time.monotonic()
    _resume(redis_url, "bulk")
    wait_for(lambda: all(_status(redis_conn, j) == JobStatus.FINISHED for j in held), 20, message="the held jobs")
    print(f"held jobs finished {time.monotonic() - resumed_at:.2f} s after the resume")
    assert sup.terminate() == 0


@pytest.mark.slow(seconds=15)
def test_a_pause_outlives_a_redis_restart_under_running_workers(tmp_path, redis_conn, supervisors):
    from thesis_console.core.embedded_redis import free_port, start_server

    data, port = tmp_path / "own-redis", free_port()
    server = start_server(data, port)
    conn = redis.Redis.from_url(server.url)
    try:
        sup = supervisors("-n", "1", "--queue", "bulk", "--queue", "urgent", env={"REDIS_URL": server.url})
        sup.wait_live(conn, 1)
        _pause(server.url, "bulk")
        server.stop()
        server = start_server(data, port)
        held = contract.thesis_queue(conn, "bulk").enqueue("tests.jobs.noop")
        for _ in range(3):  # the worker is back at work, and still leaves the paused queue alone
            job = contract.thesis_queue(conn, "urgent").enqueue("tests.jobs.noop")
            wait_for(lambda job=job: _status(conn, job) == JobStatus.FINISHED, 60, message="an urgent job after the restart")
            assert _status(conn, held) == JobStatus.QUEUED
        _resume(server.url, "bulk")
        wait_for(lambda: _status(conn, held) == JobStatus.FINISHED, 20, message="the held job after the resume")
        assert sup.terminate() == 0
    finally:
        conn.close()
        server.stop()


def _worker(conn: redis.Redis, queues: list[str]) -> SupervisedThesisSimpleWorker:
    worker = SupervisedThesisSimpleWorker(queues, connection=conn, name=f"pause-test-{'-'.join(queues)}")
    worker._read_pauses()  # the pauses as they were before the wait began
    return worker


@pytest.mark.parametrize("queues", [["bulk"], ["bulk", "urgent"]])
def test_a_job_popped_as_its_queue_was_paused_goes_back_untouched(redis_conn, redis_url, queues):
    bulk = contract.thesis_queue(redis_conn, "bulk")
    first, second = bulk.enqueue("tests.jobs.noop"), bulk.enqueue("tests.jobs.noop")
    worker = _worker(redis_conn, queues)
    _pause(redis_url, "bulk")  # written after the worker read the pauses, before its pop
    assert worker._dequeue_active(1, 1) is None
    assert bulk.job_ids == [first.id, second.id]  # back at the front, in order
    assert redis_conn.llen(bulk.intermediate_queue_key) == 0
    assert _status(redis_conn, first) == JobStatus.QUEUED
    assert worker.dequeue_job_and_maintain_ttl(None) is None  # a burst pass reads the pause first
    assert bulk.job_ids == [first.id, second.id]


def test_a_worker_on_one_active_queue_of_several_leaves_no_intermediate_entry(redis_conn, redis_url):
    urgent = contract.thesis_queue(redis_conn, "urgent")
    job = urgent.enqueue("tests.jobs.noop")
    _pause(redis_url, "bulk")
    worker = _worker(redis_conn, ["bulk", "urgent"])
    result = PauseAwareMixin.dequeue_job_and_maintain_ttl(worker, 1, 1)
    assert result is not None and result[0].id == job.id
    # RQ pops from a single queue into its intermediate list and clears it only for one-queue workers.
    assert redis_conn.llen(urgent.intermediate_queue_key) == 0


def test_a_worker_whose_queues_are_all_paused_waits_and_takes_nothing(redis_conn, redis_url):
    bulk = contract.thesis_queue(redis_conn, "bulk")
    job = bulk.enqueue("tests.jobs.noop")
    _pause(redis_url, "bulk")
    worker = _worker(redis_conn, ["bulk"])
    started = time.monotonic()
    assert PauseAwareMixin.dequeue_job_and_maintain_ttl(worker, 1, 1) is None  # one slice of the wait
    assert time.monotonic() - started >= 0.9
    assert bulk.job_ids == [job.id]
    assert queue_pause.is_paused(redis_conn, "bulk")
