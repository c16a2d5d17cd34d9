"""The console's BullMQ actions as the real Node BullMQ sees them: a queue paused from the console gets
no job taken by the Node worker and resumes at once; remove and clean leave what Node's own
``queue.remove`` and ``clean`` leave (checked through Node's ``Job.fromId`` and ``getJobCounts``)."""

from __future__ import annotations

import json
import time

import pytest

from tests.core.bullmq.bull_jobs import QUEUE
from tests.core.test_console_actions import with_session
from tests.helpers import wait_for
from tests.node_bullmq import NodeWorker, produce, run_node
from thesis_console.core.policy import JobAction
from thesis_console.core.profiles import ad_hoc_profile
from thesis_console.core.types import JobState

PAUSED_FOR_S = 5.0
RESUMED_WITHIN_MS = 1000


def node_view(url: str, ids: list[str], remove: list[str] | None = None) -> dict:
    """Node BullMQ's ``getJobCounts``, ``Job.fromId`` and ``getJobState`` (after its own ``queue.remove`` of ``remove``)."""
    return json.loads(run_node("inspect_jobs.mjs", url, json.dumps(ids), "bull", json.dumps(remove or [])))


def _taken(redis_conn, job_id: str) -> bool:
    return redis_conn.hget(f"bull:{QUEUE}:{job_id}", "processedOn") is not None


@pytest.mark.slow(20)
def test_a_queue_paused_from_the_console_gets_no_job_from_the_node_worker_until_resumed(redis_conn, redis_url):
    profile = ad_hoc_profile(redis_url)
    produce(redis_url, [{"thesisId": "makes-the-queue", "topic": "t"}])
    worker = NodeWorker(redis_url)
    try:
        worker.wait_ready()
        wait_for(lambda: redis_conn.zcard(f"bull:{QUEUE}:completed") == 1, message="the first job done")
        pause = with_session(profile, lambda a: a.pause_queue(QUEUE))
        assert pause.queue == QUEUE and redis_conn.hget(f"bull:{QUEUE}:meta", "paused") == b"1"
        (job_id,) = produce(redis_url, [{"thesisId": "while-paused", "topic": "t"}])
        deadline = time.monotonic() + PAUSED_FOR_S
        while time.monotonic() < deadline:  # an absence over time: watched for the whole 5 s
            assert not _taken(redis_conn, job_id), "the Node worker took a job from a paused queue"
            time.sleep(0.1)
        assert redis_conn.lrange(f"bull:{QUEUE}:paused", 0, -1) == [job_id.encode()]

        resumed_ms = time.time() * 1000
        assert with_session(profile, lambda a: a.resume_queue(QUEUE)) is True
        wait_for(lambda: _taken(redis_conn, job_id), message="the job taken after the resume")
        taken_after_ms = int(redis_conn.hget(f"bull:{QUEUE}:{job_id}", "processedOn")) - resumed_ms
        assert taken_after_ms <= RESUMED_WITHIN_MS, f"taken {taken_after_ms:.0f} ms after the resume"
        wait_for(lambda: redis_conn.zscore(f"bull:{QUEUE}:completed", job_id) is not None, message="the job completed")
    finally:
        worker.stop()


@pytest.mark.slow(20)
def test_remove_and_clean_leave_what_node_bullmq_own_api_leaves(redis_conn, redis_url):
    profile = ad_hoc_profile(redis_url)
    done = produce(redis_url, [{"thesisId": f"c{i}", "topic": "t"} for i in range(4)])
    worker = NodeWorker(redis_url)
    try:
        worker.wait_ready()
        wait_for(lambda: redis_conn.zcard(f"bull:{QUEUE}:completed") == 4, message="four jobs completed")
    finally:
        worker.stop()
    assert all(redis_conn.exists(f"bull:{QUEUE}:{i}:logs") for i in done)  # each wrote a log line
    waiting = produce(redis_url, [{"thesisId": f"w{i}", "topic": "t"} for i in range(3)])
    (delayed,) = produce(redis_url, [{"thesisId": "d", "topic": "t"}], opts={"delay": 600_000})

    # Delete a completed job from the console and its twin with Node's own queue.remove: the same keys go.
    removed = with_session(profile, lambda a: a.delete([done[0]], queue=QUEUE))
    assert removed.done == (done[0],)
    seen = node_view(redis_url, [*done, *waiting, delayed], remove=[done[1]])
    assert redis_conn.keys(f"bull:{QUEUE}:{done[0]}*") == [] == redis_conn.keys(f"bull:{QUEUE}:{done[1]}*")
    assert seen["found"][done[0]] is False and seen["found"][done[1]] is False

    # Cancel a waiting and a delayed job (BullMQ: remove them): Node no longer finds them.
    canceled = with_session(profile, lambda a: a.act_on_jobs(JobAction.CANCEL, [waiting[0], delayed], queue=QUEUE))
    assert sorted(canceled.done) == sorted([waiting[0], delayed])
    seen = node_view(redis_url, [*done, *waiting, delayed])
    assert seen["found"] == {done[0]: False, done[1]: False, done[2]: True, done[3]: True,
                             waiting[0]: False, waiting[1]: True, waiting[2]: True, delayed: False}  # fmt: skip
    assert seen["states"][waiting[1]] == "waiting" and seen["states"][delayed] == "unknown"
    assert (seen["counts"]["waiting"], seen["counts"]["delayed"], seen["counts"]["completed"]) == (2, 0, 2)

    # Empty (BullMQ's clean) the completed jobs: Node counts none and finds neither job nor its logs.
    emptied = with_session(profile, lambda a: a.empty(QUEUE, JobState.COMPLETED))
    assert sorted(emptied.done) == sorted(done[2:])
    seen = node_view(redis_url, done[2:])
    assert seen["counts"]["completed"] == 0 and seen["found"] == {done[2]: False, done[3]: False}
    assert redis_conn.keys(f"bull:{QUEUE}:{done[2]}*") == []
    cleaned = [e for _, e in redis_conn.xrange(f"bull:{QUEUE}:events") if e[b"event"] == b"cleaned"]
    assert cleaned and cleaned[-1][b"count"] == b"2"  # the event Node's clean emits
