"""The console reads what the real Node BullMQ (the thesis system's producer and worker) writes."""

from __future__ import annotations

import pytest

from tests.core.bullmq.test_reader import run
from tests.helpers import wait_for
from tests.node_bullmq import NodeWorker, produce
from thesis_console.core.reader import QueueReader
from thesis_console.core.types import Backend, JobState

QUEUE = "thesis-generation"
SEED_OPTS = {
    "attempts": 3,
    "backoff": {"type": "exponential", "delay": 2000},
    "removeOnComplete": {"age": 86400, "count": 100},
    "removeOnFail": {"count": 500},
}


def _page(url: str, state: JobState):
    return run(url, lambda c: QueueReader(c).page(QUEUE, state, 0, 50))


def _counts(url: str):
    return run(url, lambda c: QueueReader(c).snapshot()).queue(QUEUE)


@pytest.mark.slow(14)
def test_jobs_of_the_node_system_are_listed_in_their_states_with_progress(redis_conn, redis_url):
    quick = produce(redis_url, [{"thesisId": f"ok-{i}", "topic": f"Quick thesis {i}"} for i in range(2)])
    (long,) = produce(redis_url, [{"thesisId": "long", "topic": "Long thesis", "workMs": 60_000}])
    (doomed,) = produce(redis_url, [{"thesisId": "doomed", "topic": "Doomed thesis", "fail": True}])

    waiting = _page(redis_url, JobState.WAITING)
    assert [r.id for r in waiting.rows] == [*quick, long, doomed]  # the order the worker takes them
    assert all(r.backend is Backend.BULLMQ and r.retries_left == 3 for r in waiting.rows)

    worker = NodeWorker(redis_url)
    try:
        worker.wait_ready()
        active = wait_for(
            lambda: [r for r in _page(redis_url, JobState.ACTIVE).rows if r.id == long and r.progress == 10],
            message="the long job active at 10 %",
        )
        assert active[0].topic == "Long thesis" and active[0].started_at is not None
        backing_off = wait_for(
            lambda: [r for r in _page(redis_url, JobState.SCHEDULED).rows if r.id == doomed],
            message="the failing job waiting out its retry back-off",
        )
        assert backing_off[0].status == "retry back-off" and backing_off[0].attempts_used >= 1
        wait_for(lambda: _counts(redis_url).failed == 1, timeout=30, message="the failing job out of attempts")
    finally:
        worker.stop(graceful=False)  # the long job would hold a graceful stop for a minute

    counts = _counts(redis_url)
    assert (counts.completed, counts.failed, counts.backend) == (2, 1, Backend.BULLMQ)
    completed = _page(redis_url, JobState.COMPLETED)
    assert {r.id for r in completed.rows} == set(quick) and all(r.progress == 100 for r in completed.rows)

    detail = run(redis_url, lambda c: QueueReader(c).detail(doomed))  # found without naming the queue
    assert detail.row.state is JobState.FAILED and detail.row.attempts_used == 3 and detail.row.retries_left == 0
    assert detail.args.value == {"thesisId": "doomed", "topic": "Doomed thesis", "fail": True}
    assert detail.meta.value == SEED_OPTS and detail.function == "generate-thesis"
    assert detail.traceback.count("thesis doomed failed on purpose") == 3  # every attempt's stack trace
    assert detail.row.error_line == "thesis doomed failed on purpose"
    assert detail.logs == ("generating thesis doomed",) * 3
    assert [e.what for e in detail.timeline if e.what in ("attempt", "scheduled")] == [
        "attempt", "scheduled", "attempt", "scheduled", "attempt",
    ]  # fmt: skip
    assert detail.timeline[-1].what == "retries-exhausted"
    done = run(redis_url, lambda c: QueueReader(c).detail(quick[0], QUEUE))
    assert done.result.value == {"thesisId": "ok-0", "words": 8000} and done.row.duration_s is not None
