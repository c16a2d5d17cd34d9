"""A Redis outage under running supervisors: workers, work horses and the running job outlive it.

Each test runs a redis-server of its own, takes it away while a job runs (SHUTDOWN, which writes
the append-only file out, or SIGKILL, with ``appendfsync always`` so that no acknowledged write is
lost), and brings it back on the same port and data.
"""

from __future__ import annotations

import time

import psutil
import pytest
from rq import Retry
from rq.job import JobStatus

from tests.helpers import wait_for
from tests.worker_runner.test_supervisor import _fetch, _horse_of, _running_on, _worker_pid
from thesis_console.core import contract
from thesis_console.core.producer import enqueue_thesis
from thesis_console.core.thesis_request import ThesisRequest
from worker_runner import interruptions

OUTAGE_S = 6.0
"""Long enough that the job writes progress, and may finish, while Redis is away."""


@pytest.mark.parametrize("fault", ["shutdown", "sigkill"])
def test_an_outage_keeps_every_worker_and_the_running_job(own_redis, supervisors, fault):
    server = own_redis(appendfsync="always")
    conn = server.client()
    sup = supervisors("-n", "2", env={"REDIS_URL": server.url})
    sup.wait_live(conn, 2)
    workers_before = sorted(p.pid for p in sup.worker_processes())
    job_id = enqueue_thesis(conn, ThesisRequest(topic="Outage", chapters=3, options={"pace_s": 1.0}))
    worker_name = _running_on(conn, job_id)
    horse = _horse_of(psutil.Process(_worker_pid(conn, worker_name)))
    wait_for(lambda: (_fetch(conn, job_id).meta.get("progress") or 0) >= 20, 20, message="some progress")

    server.shutdown() if fault == "shutdown" else server.kill()
    time.sleep(OUTAGE_S)  # the outage itself: nothing to wait for but time
    assert horse.is_running() and horse.status() != psutil.STATUS_ZOMBIE
    assert sorted(p.pid for p in sup.worker_processes()) == workers_before
    server.start()

    wait_for(lambda: _fetch(conn, job_id).get_status() == JobStatus.FINISHED, 90, message="the job to finish")
    job = _fetch(conn, job_id)
    assert [a["outcome"] for a in job.meta["attempts"]] == ["completed"]
    assert job.meta["attempts"][0]["worker"] == worker_name
    assert job.retries_left == contract.MAX_RETRIES and not job.meta.get(interruptions.INTERRUPTIONS_KEY)
    assert job.meta["progress"] == 100
    assert sorted(p.pid for p in sup.worker_processes()) == workers_before  # the same processes
    assert sup.wait_live(conn, 2).restarts == 0
    assert sup.proc.poll() is None
    # and they still work
    after = contract.thesis_queue(conn).enqueue("tests.jobs.noop")
    wait_for(lambda: _fetch(conn, after.id).get_status() == JobStatus.FINISHED, 30, message="a new job to run")
    for worker_log in sup.log_dir.glob(f"{sup.id}.*.log"):
        assert "Traceback" not in worker_log.read_text(errors="replace"), worker_log
    conn.close()


@pytest.mark.parametrize(
    ("worker_class", "fault"),
    [("fork", "sigkill"), ("fork", "shutdown"), ("fork", "connection"), ("simple", "sigkill")],
)
def test_a_job_whose_end_meets_an_outage_runs_once(own_redis, supervisors, tmp_path, worker_class, fault):
    # Redis goes away after the job's function returned, at the first write that records the end
    # (or only that write's connection does: Redis stays up).
    server = own_redis(appendfsync="always")
    conn = server.client()
    sup = supervisors("-n", "1", "--worker-class", worker_class, env={"REDIS_URL": server.url})
    sup.wait_live(conn, 1)
    runs = tmp_path / "runs.txt"
    job = contract.thesis_queue(conn).enqueue(
        "tests.jobs.pause_writes_on_first_run", str(runs), retry=Retry(max=3, interval=[1, 1, 1])
    )
    client_id = wait_for(lambda: _end_write_waiting(conn), 30, message="the run's first write after the function returned")

    if fault == "connection":
        conn.client_kill_filter(_id=client_id)
        conn.execute_command("CLIENT", "UNPAUSE")
    else:
        server.shutdown() if fault == "shutdown" else server.kill()
        server.start()

    wait_for(lambda: _fetch(conn, job.id).get_status() == JobStatus.FINISHED, 90, message="the job to finish")
    done = _fetch(conn, job.id)
    assert [a["outcome"] for a in done.meta["attempts"]] == ["completed"]
    assert done.retries_left == 3 and not done.meta.get(interruptions.INTERRUPTIONS_KEY)
    assert runs.read_text() == "run\n"  # it ran once
    assert conn.zcard("rq:wip:thesis") == 0 and conn.llen("rq:queue:thesis") == 0
    assert sup.record(conn).restarts == 0
    conn.close()


def _end_write_waiting(conn) -> str | None:
    """The id of a client that waits in the write pause with a plain HSET (RQ's first write after a
    job's function), or None."""
    waiting = [c["id"] for c in conn.client_list() if "b" in c.get("flags", "") and c.get("cmd") == "hset"]
    return waiting[0] if waiting else None


def test_a_job_that_kills_its_own_work_horse_is_failed_after_five_interruptions(redis_conn, supervisors):
    sup = supervisors("-n", "1")
    sup.wait_live(redis_conn, 1)
    job = contract.thesis_queue(redis_conn).enqueue("tests.jobs.kill_own_process", retry=Retry(max=3, interval=[2, 4, 8]))
    wait_for(lambda: _fetch(redis_conn, job.id).get_status() == JobStatus.FAILED, 60, message="the job to fail")
    failed = _fetch(redis_conn, job.id)
    assert failed.retries_left == 3  # none of its code-error retries were used
    attempts = failed.meta["attempts"]
    assert [a["outcome"] for a in attempts] == ["interrupted"] * 4 + ["failed"]
    assert {a["fault"] for a in attempts} == {"worker_killed"}
    assert failed.meta[interruptions.INTERRUPTIONS_KEY] == interruptions.MAX_INTERRUPTIONS
    text = failed.latest_result().exc_string
    assert "interrupted 5 times by infrastructure faults" in text and "killed by signal 9" in text
    assert sup.record(redis_conn).restarts == 0  # the worker itself lived through all five


def test_an_outage_keeps_a_simple_worker_and_its_job(own_redis, supervisors):
    server = own_redis(appendfsync="always")
    conn = server.client()
    sup = supervisors("-n", "1", "--worker-class", "simple", env={"REDIS_URL": server.url})
    sup.wait_live(conn, 1)
    workers_before = [p.pid for p in sup.worker_processes()]
    job_id = enqueue_thesis(conn, ThesisRequest(topic="Outage, simple", chapters=3, options={"pace_s": 1.0}))
    _running_on(conn, job_id)
    wait_for(lambda: (_fetch(conn, job_id).meta.get("progress") or 0) >= 20, 20, message="some progress")
    server.kill()
    time.sleep(OUTAGE_S)  # the outage itself
    assert [p.pid for p in sup.worker_processes()] == workers_before
    server.start()
    wait_for(lambda: _fetch(conn, job_id).get_status() == JobStatus.FINISHED, 90, message="the job to finish")
    job = _fetch(conn, job_id)
    assert [a["outcome"] for a in job.meta["attempts"]] == ["completed"]
    assert job.retries_left == contract.MAX_RETRIES
    assert [p.pid for p in sup.worker_processes()] == workers_before
    conn.close()


def test_a_worker_starting_while_redis_is_away_waits_for_it(own_redis, caplog):
    """RQ's start-up writes (birth, pub/sub, state) run outside its work loop's error handling: a worker
    whose start met an outage used to exit (seen in the chaos run). It waits for Redis instead."""
    import logging
    import threading

    import redis

    from worker_runner.supervised_worker import SupervisedThesisWorker

    server = own_redis()
    worker = SupervisedThesisWorker(["thesis"], name="starting-1", connection=redis.Redis.from_url(server.url))
    server.shutdown()
    caplog.set_level(logging.WARNING, logger="worker_runner.redis_wait")
    ended: list[BaseException | None] = []

    def start() -> None:
        try:
            worker.bootstrap("WARNING")
            ended.append(None)
        except BaseException as exc:  # noqa: BLE001 - the test reports what ended it
            ended.append(exc)

    thread = threading.Thread(target=start, daemon=True)
    thread.start()
    wait_for(lambda: ended or "Redis is unreachable" in caplog.text, 20, message="the start to meet the outage")
    assert not ended, ended  # still waiting, not exited
    server.start()
    wait_for(lambda: ended, 30, message="the start to finish once Redis is back")
    try:
        assert ended == [None]
        conn = server.client()
        assert conn.exists(worker.key) and conn.hget(worker.key, "state") == b"started"
        assert worker.pubsub_thread is not None and worker.pubsub_thread.is_alive()
    finally:
        if worker.pubsub_thread is not None:
            worker.pubsub_thread.stop()
