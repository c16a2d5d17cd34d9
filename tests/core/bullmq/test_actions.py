"""Actions on BullMQ queues go through BullMQ's scripts; the real Node worker sees their effect."""

from __future__ import annotations

import asyncio

import pytest
import redis.asyncio as aioredis

from tests.core.bullmq.bull_jobs import QUEUE, add_jobs
from tests.core.bullmq.test_reader import run
from tests.helpers import wait_for
from tests.node_bullmq import NodeWorker, produce
from thesis_console.core.bulk_retry import NOT_REACHED
from thesis_console.core.bullmq.actions import BullActions
from thesis_console.core.policy import JobAction, verdict
from thesis_console.core.reader import QueueReader
from thesis_console.core.types import Backend, JobState, ReadOnlyError


def act(url: str, call, read_only: bool = False):
    async def go():
        client = aioredis.Redis.from_url(url, decode_responses=False)
        actions = BullActions(client, "bull", read_only=read_only)
        try:
            return await call(actions)
        finally:
            await actions.close()
            await client.aclose()

    return asyncio.run(go())


def _active_runs(conn, job_id: str) -> int:
    entries = conn.xrange(f"bull:{QUEUE}:events")
    return sum(1 for _, f in entries if f.get(b"jobId") == job_id.encode() and f.get(b"event") == b"active")


@pytest.mark.slow(15)
def test_retried_failed_jobs_are_processed_again_by_the_node_worker_with_fresh_attempts(redis_conn, redis_url):
    ids = produce(redis_url, [{"thesisId": f"f{i}", "topic": "t", "fail": True} for i in range(3)], opts={"attempts": 1})
    (ok,) = produce(redis_url, [{"thesisId": "ok", "topic": "t"}])
    worker = NodeWorker(redis_url)
    try:
        worker.wait_ready()
        wait_for(lambda: redis_conn.zcard(f"bull:{QUEUE}:failed") == 3 and redis_conn.zcard(f"bull:{QUEUE}:completed") == 1)
    finally:
        worker.stop()

    one = act(redis_url, lambda a: a.retry(QUEUE, [ids[0], ok, "404"]))
    assert one.done == (ids[0],)
    assert one.skipped == {ok: "a completed job cannot be retried; enqueue a new one", "404": "the job no longer exists"}
    rest = act(redis_url, lambda a: a.retry_all_failed(QUEUE))
    assert sorted(rest.done) == sorted(ids[1:])
    assert redis_conn.llen(f"bull:{QUEUE}:wait") == 3
    assert all(redis_conn.hget(f"bull:{QUEUE}:{i}", "atm") in (None, b"0") for i in ids)  # fresh attempts

    worker = NodeWorker(redis_url)
    try:
        worker.wait_ready()
        wait_for(lambda: redis_conn.zcard(f"bull:{QUEUE}:failed") == 3, message="the retried jobs failing again")
    finally:
        worker.stop()
    assert [_active_runs(redis_conn, i) for i in ids] == [2, 2, 2]


def test_promote_remove_clean_pause_and_resume(redis_conn, redis_url):
    waiting = add_jobs(redis_url, [({"topic": f"w{i}"}, {}) for i in range(3)])
    delayed = add_jobs(redis_url, [({"topic": "later"}, {"delay": 600_000})])

    promoted = act(redis_url, lambda a: a.promote(QUEUE, [*delayed, waiting[0]]))
    assert promoted.done == tuple(delayed) and promoted.skipped == {waiting[0]: "a waiting job is already queued"}
    assert redis_conn.zcard(f"bull:{QUEUE}:delayed") == 0 and redis_conn.llen(f"bull:{QUEUE}:wait") == 4

    removed = act(redis_url, lambda a: a.remove(QUEUE, [waiting[1]], JobAction.CANCEL))
    assert removed.done == (waiting[1],) and not redis_conn.exists(f"bull:{QUEUE}:{waiting[1]}")
    assert waiting[1].encode() not in redis_conn.lrange(f"bull:{QUEUE}:wait", 0, -1)

    act(redis_url, lambda a: a.pause(QUEUE))
    assert redis_conn.hget(f"bull:{QUEUE}:meta", "paused") == b"1" and redis_conn.llen(f"bull:{QUEUE}:paused") == 3
    act(redis_url, lambda a: a.resume(QUEUE))
    assert redis_conn.hget(f"bull:{QUEUE}:meta", "paused") is None and redis_conn.llen(f"bull:{QUEUE}:wait") == 3

    cleaned = act(redis_url, lambda a: a.clean(QUEUE, JobState.WAITING))
    assert sorted(cleaned.done) == sorted([waiting[0], waiting[2], *delayed])
    assert redis_conn.llen(f"bull:{QUEUE}:wait") == 0


@pytest.mark.slow(7)
def test_a_running_job_cannot_be_removed_or_stopped(redis_conn, redis_url):
    (long,) = produce(redis_url, [{"thesisId": "long", "topic": "t", "workMs": 30_000}])
    worker = NodeWorker(redis_url)
    try:
        worker.wait_ready()
        wait_for(lambda: redis_conn.lrange(f"bull:{QUEUE}:active", 0, -1) == [long.encode()])
        result = act(redis_url, lambda a: a.remove(QUEUE, [long]))
        assert result.skipped == {long: "BullMQ cannot delete a running job: its worker holds the job's lock"}
        assert redis_conn.exists(f"bull:{QUEUE}:{long}")
        assert verdict(JobAction.STOP, JobState.ACTIVE, Backend.BULLMQ).reason.startswith("BullMQ offers no way to stop")
    finally:
        worker.stop(graceful=False)


def test_a_read_only_profile_refuses_every_bullmq_action(redis_conn, redis_url):
    (job,) = add_jobs(redis_url, [({"topic": "t"}, {})])
    calls = [
        lambda a: a.retry(QUEUE, [job]),
        lambda a: a.retry_all_failed(QUEUE),
        lambda a: a.promote(QUEUE, [job]),
        lambda a: a.remove(QUEUE, [job]),
        lambda a: a.clean(QUEUE, JobState.WAITING),
        lambda a: a.pause(QUEUE),
        lambda a: a.resume(QUEUE),
    ]
    before = redis_conn.lrange(f"bull:{QUEUE}:wait", 0, -1)
    for call in calls:
        with pytest.raises(ReadOnlyError, match="read-only profile: .* refused"):
            act(redis_url, call, read_only=True)
    assert redis_conn.lrange(f"bull:{QUEUE}:wait", 0, -1) == before and redis_conn.exists(f"bull:{QUEUE}:{job}")


def test_a_queue_of_another_bullmq_major_version_is_read_only(redis_conn, redis_url):
    (job,) = add_jobs(redis_url, [({"topic": "t"}, {})])
    redis_conn.hset(f"bull:{QUEUE}:meta", "version", "bullmq:4.17.0")
    with pytest.raises(ReadOnlyError, match="written by bullmq:4.17.0; the console's scripts match BullMQ 5"):
        act(redis_url, lambda a: a.remove(QUEUE, [job]))
    with pytest.raises(ReadOnlyError, match="pause refused"):
        act(redis_url, lambda a: a.pause(QUEUE))
    assert redis_conn.exists(f"bull:{QUEUE}:{job}") and redis_conn.hget(f"bull:{QUEUE}:meta", "paused") is None
    snapshot = run(redis_url, lambda c: QueueReader(c).snapshot())
    assert "written by bullmq:4.17.0" in snapshot.queue(QUEUE).problem


@pytest.mark.slow(20)
def test_retry_all_failed_gives_fresh_attempts_through_bullmq_scripts_with_progress_and_cancel(redis_conn, redis_url):
    opts = {"attempts": 2, "backoff": {"type": "fixed", "delay": 100}}
    ids = produce(redis_url, [{"thesisId": f"f{i}", "topic": "t", "fail": True} for i in range(5)], opts=opts)
    worker = NodeWorker(redis_url)
    try:
        worker.wait_ready()
        wait_for(lambda: redis_conn.zcard(f"bull:{QUEUE}:failed") == 5, message="every job failed twice")
    finally:
        worker.stop()
    assert {redis_conn.hget(f"bull:{QUEUE}:{i}", "atm") for i in ids} == {b"2"}

    # Cancel after the first step of 2: the 3 jobs not reached stay failed, listed as not retried.
    cancel = asyncio.Event()
    seen: list[tuple[int, int]] = []

    def progress(done: int, total: int) -> None:
        seen.append((done, total))
        if done:
            cancel.set()

    first = act(redis_url, lambda a: a.retry_all_failed(QUEUE, progress=progress, cancel=cancel, batch=2))
    oldest = [m.decode() for m in redis_conn.zrange(f"bull:{QUEUE}:failed", 0, -1)]
    assert seen == [(0, 5), (2, 5)] and len(first.done) == 2 and set(first.skipped) == set(oldest)
    assert set(first.skipped.values()) == {NOT_REACHED} and len(oldest) == 3
    rest = act(redis_url, lambda a: a.retry_all_failed(QUEUE, batch=2))
    assert sorted([*first.done, *rest.done]) == sorted(ids) and rest.skipped == {}
    assert redis_conn.zcard(f"bull:{QUEUE}:failed") == 0 and redis_conn.llen(f"bull:{QUEUE}:wait") == 5
    # What BullMQ's Job.retry with resetAttemptsMade/Started leaves: no attempt counters, no failure.
    for job_id in ids:
        job = redis_conn.hgetall(f"bull:{QUEUE}:{job_id}")
        assert b"atm" not in job and b"ats" not in job and b"failedReason" not in job and b"finishedOn" not in job
    waiting = [e for _, e in redis_conn.xrange(f"bull:{QUEUE}:events") if e[b"event"] == b"waiting" and e.get(b"prev") == b"failed"]
    assert len(waiting) == 5  # the script's own events, as Node's queue.retryJobs emits them

    # The Node worker runs each retried job its whole 2 attempts again, with the back-off between.
    worker = NodeWorker(redis_url)
    try:
        worker.wait_ready()
        wait_for(lambda: redis_conn.zcard(f"bull:{QUEUE}:failed") == 5, message="the retried jobs failing for good again")
    finally:
        worker.stop()
    assert [_active_runs(redis_conn, i) for i in ids] == [4] * 5
    assert {redis_conn.hget(f"bull:{QUEUE}:{i}", "atm") for i in ids} == {b"2"}
