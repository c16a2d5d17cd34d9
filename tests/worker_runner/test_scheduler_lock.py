"""Retries keep their back-off when the worker that runs RQ's scheduler dies, or Redis restarts.

The scheduler lock (``rq:scheduler-lock:{queue}``, 61 s) keeps every other scheduler out while it
lives. These tests kill its holder (the worker, or its whole supervisor) or restart Redis between a
job's failure and its retry, and measure when the retry starts.
"""

from __future__ import annotations

import os
import socket
import time

import psutil
import pytest
from rq.job import JobStatus

from tests.helpers import wait_for
from tests.worker_runner.test_supervisor import _fetch
from thesis_console.core import contract
from thesis_console.core.producer import enqueue_thesis
from thesis_console.core.thesis_request import ThesisRequest
from worker_runner import scheduler_lock

FIRST_BACKOFF_S = contract.RETRY_INTERVALS_S[0]
SLACK_S = 15.0
"""How late a retry may start: far below the 61 s of RQ's scheduler lock that a stuck lock would cost, and
room for a machine loaded by parallel test runs (8.5 s late seen at a load average of 30)."""


def _holder_worker(conn) -> psutil.Process:
    """The worker process whose scheduler holds the thesis queue's lock."""

    def find() -> psutil.Process | None:
        name = conn.get(scheduler_lock.lock_key("thesis"))
        pid = conn.hget(f"rq:scheduler:{name.decode()}", "pid") if name else None
        if not pid:
            return None
        try:
            return psutil.Process(int(pid)).parent()  # the scheduler is a child of its worker
        except psutil.NoSuchProcess:
            return None

    return wait_for(find, 20, message="a scheduler to hold the lock")


def _failing_once(conn) -> str:
    """A thesis job whose first attempt fails; its retry comes after the first back-off."""
    return enqueue_thesis(conn, ThesisRequest(topic="Fails once", chapters=3, options={"fail_times": 1}))


def _wait_scheduled(conn, job_id: str) -> float:
    """Until the first attempt failed and the retry is scheduled; returns when that attempt ended."""
    wait_for(lambda: _fetch(conn, job_id).get_status() == JobStatus.SCHEDULED, 30, message="the retry to be scheduled")
    return _fetch(conn, job_id).meta["attempts"][0]["ended_at"]


def _retry_started_at(conn, job_id: str, timeout: float = 40) -> float:
    wait_for(lambda: _fetch(conn, job_id).get_status() == JobStatus.FINISHED, timeout, message="the retry to run")
    attempts = _fetch(conn, job_id).meta["attempts"]
    assert [a["outcome"] for a in attempts] == ["retried", "completed"]
    return attempts[1]["started_at"]


def test_sigkill_of_the_lock_holder_keeps_the_retry_on_time(redis_conn, supervisors):
    sup = supervisors("-n", "2")
    sup.wait_live(redis_conn, 2)
    holder = _holder_worker(redis_conn)
    job_id = _failing_once(redis_conn)
    failed_at = _wait_scheduled(redis_conn, job_id)
    holder.kill()
    started = _retry_started_at(redis_conn, job_id)
    assert started - failed_at <= FIRST_BACKOFF_S + SLACK_S, started - failed_at
    sup.wait_live(redis_conn, 2)


def test_sigkill_of_the_holders_supervisor_keeps_the_retry_on_time(redis_conn, supervisors):
    first = supervisors("-n", "1", suffix="a")
    first.wait_live(redis_conn, 1)
    holder = _holder_worker(redis_conn)
    assert holder.ppid() == first.pid
    second = supervisors("-n", "1", suffix="b")
    second.wait_live(redis_conn, 1)
    job_id = _failing_once(redis_conn)
    failed_at = _wait_scheduled(redis_conn, job_id)
    first.proc.kill()  # its worker dies with it; the other supervisor on this host frees the lock
    first.proc.wait(10)
    started = _retry_started_at(redis_conn, job_id)
    assert started - failed_at <= FIRST_BACKOFF_S + SLACK_S, started - failed_at


def test_a_redis_restart_keeps_the_retry_on_time(own_redis, supervisors):
    server = own_redis()
    conn = server.client()
    sup = supervisors("-n", "2", env={"REDIS_URL": server.url})
    sup.wait_live(conn, 2)
    _holder_worker(conn)
    job_id = _failing_once(conn)
    _wait_scheduled(conn, job_id)
    server.shutdown()
    time.sleep(FIRST_BACKOFF_S + 2)  # the retry falls due while Redis is away
    server.start()
    back_at = time.time()
    started = _retry_started_at(conn, job_id)
    assert started - back_at <= FIRST_BACKOFF_S + SLACK_S, started - back_at
    conn.close()


def test_a_holder_on_another_host_is_left_to_its_expiry(redis_conn, supervisors):
    # As if the holder's whole host had died: its lock is not ours to release; it expires (here
    # sooner than RQ's 61 s, to keep the test short), and the retry runs within seconds of that.
    redis_conn.hset("rq:scheduler:ghost", mapping={"hostname": "elsewhere.example", "pid": str(os.getpid())})
    redis_conn.set(scheduler_lock.lock_key("thesis"), "ghost", px=9000)
    expires_at = time.time() + 9.0
    sup = supervisors("-n", "1")
    sup.wait_live(redis_conn, 1)
    job_id = _failing_once(redis_conn)
    _wait_scheduled(redis_conn, job_id)
    started = _retry_started_at(redis_conn, job_id)
    assert expires_at - 0.5 <= started <= expires_at + SLACK_S, (started, expires_at)


@pytest.mark.parametrize(
    ("host", "pid_alive", "released"),
    [("here", False, True), ("here", True, False), ("elsewhere.example", False, False)],
)
def test_release_only_frees_a_dead_local_holder(redis_conn, host, pid_alive, released):
    here = socket.gethostname()
    dead = psutil.Popen(["true"])
    dead.wait()
    pid = os.getpid() if pid_alive else dead.pid
    redis_conn.hset("rq:worker:w1", mapping={"hostname": here if host == "here" else host, "pid": str(pid)})
    redis_conn.set(scheduler_lock.lock_key("thesis"), "w1", ex=61)
    freed = scheduler_lock.release_dead_holders(redis_conn, ["thesis", "other"], here)
    assert freed == ([("thesis", "w1")] if released else [])
    assert (redis_conn.get(scheduler_lock.lock_key("thesis")) is None) == released
