"""QueueActions.act_on_matches: retry, cancel or delete a search's matches, against a real Redis and
real RQ jobs; a job that changed state since it matched is skipped with its reason, never acted on."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest
from rq.job import Job
from rq.registry import CanceledJobRegistry, DeferredJobRegistry, FailedJobRegistry

from tests.burst_worker import run_burst
from tests.core.test_actions import (
    QUEUE,
    _failed,
    _queue,
    _status,
    _waiting,
    acting,
    fabricate_failed,
    make_failed,
    run,
)
from thesis_console.core import contract
from thesis_console.core.actions import MATCH_CHUNK
from thesis_console.core.bulk_retry import Skip, explain_skip, not_reached
from thesis_console.core.policy import JobAction
from thesis_console.core.types import CoreError, JobState


async def _act(url: str, action: JobAction, state: JobState, ids: list[str], **options):
    steps: list[tuple[int, int]] = []
    async with acting(url) as actions:
        result = await actions.act_on_matches(
            action, QUEUE, state, ids, progress=lambda done, total: steps.append((done, total)), **options
        )
    return result, steps


def test_delete_matches_skips_the_jobs_that_changed_since_they_matched(redis_conn, redis_url):
    real = make_failed(redis_conn, 3)
    copies = fabricate_failed(redis_conn, real[0], MATCH_CHUNK + 10)
    matches = [*real, *copies]
    # After the search: one failed job is retried by RQ (waiting now), one is deleted by someone else.
    FailedJobRegistry(QUEUE, connection=redis_conn, serializer=contract.SERIALIZER).requeue(real[1])
    redis_conn.delete(f"rq:job:{real[2]}")

    result, steps = run(_act(redis_url, JobAction.DELETE, JobState.FAILED, matches))

    assert result.skipped == {
        real[1]: "changed since it matched (it is waiting now)",
        real[2]: explain_skip(Skip.MISSING, ""),
    }
    assert set(result.done) == {real[0], *copies}
    assert _waiting(redis_conn) == [real[1]] and _status(redis_conn, real[1]) == "queued"  # never touched
    assert _failed(redis_conn) == [real[2]]  # its id stays listed: it was not acted on
    assert not redis_conn.exists(f"rq:job:{real[0]}", f"rq:results:{real[0]}", f"rq:job:{copies[-1]}")
    total = len(matches)
    assert steps == [(0, total), (MATCH_CHUNK, total), (total, total)]


def test_cancel_matches_leaves_a_deferred_job_that_became_waiting(redis_conn, redis_url):
    dependency = _queue(redis_conn, "deps").enqueue("tests.jobs.noop")
    freed = _queue(redis_conn).enqueue("tests.jobs.noop", depends_on=dependency).id
    later = _queue(redis_conn, "deps").enqueue_in(timedelta(hours=1), "tests.jobs.noop")
    still = _queue(redis_conn).enqueue("tests.jobs.noop", depends_on=later).id
    assert set(DeferredJobRegistry(QUEUE, connection=redis_conn).get_job_ids(cleanup=False)) == {freed, still}
    # The search found both deferred; then a real worker runs the dependency: `freed` is waiting now.
    run_burst(redis_conn, ["deps"])
    assert _waiting(redis_conn) == [freed]

    result, _steps = run(_act(redis_url, JobAction.CANCEL, JobState.DEFERRED, [freed, still]))

    assert result.done == (still,)
    assert result.skipped == {freed: "changed since it matched (it is waiting now)"}
    assert _waiting(redis_conn) == [freed] and _status(redis_conn, freed) == "queued"
    assert CanceledJobRegistry(QUEUE, connection=redis_conn).get_job_ids(cleanup=False) == [still]


def test_retry_matches_only_while_still_in_the_matched_registry(redis_conn, redis_url):
    ids = make_failed(redis_conn, 3)
    canceled = _queue(redis_conn).enqueue("tests.jobs.noop").id
    Job.fetch(canceled, connection=redis_conn, serializer=contract.SERIALIZER).cancel()
    FailedJobRegistry(QUEUE, connection=redis_conn, serializer=contract.SERIALIZER).requeue(ids[0])

    result, _steps = run(_act(redis_url, JobAction.RETRY, JobState.FAILED, [*ids, canceled]))

    assert set(result.done) == {ids[1], ids[2]}
    gone = explain_skip(Skip.GONE, f"rq:failed:{QUEUE}")
    assert result.skipped == {ids[0]: gone, canceled: gone}
    assert _waiting(redis_conn) == [ids[0], ids[1], ids[2]]  # ids[0] once, by RQ's requeue
    assert _status(redis_conn, canceled) == "canceled"


def test_canceled_before_the_first_step_acts_on_nothing(redis_conn, redis_url):
    ids = make_failed(redis_conn, 2)
    stop = asyncio.Event()
    stop.set()

    result, steps = run(_act(redis_url, JobAction.DELETE, JobState.FAILED, ids, cancel=stop))

    assert result.done == ()
    assert result.skipped == dict.fromkeys(ids, not_reached(JobAction.DELETE))
    assert set(_failed(redis_conn)) == set(ids)
    assert steps == [(0, 2)]


@pytest.mark.parametrize(
    ("action", "state", "message"),
    [
        (JobAction.STOP, JobState.ACTIVE, "stop cannot be applied to search matches"),
        (JobAction.DELETE, JobState.ACTIVE, "cannot delete active jobs: a running job cannot be deleted"),
        (JobAction.RETRY, JobState.WAITING, "cannot retry waiting jobs: a waiting job is already queued"),
    ],
)
def test_refuses_what_does_not_apply_before_any_change(redis_conn, redis_url, action, state, message):
    waiting = _queue(redis_conn).enqueue("tests.jobs.noop").id
    with pytest.raises(CoreError, match=message):
        run(_act(redis_url, action, state, [waiting]))
    assert _waiting(redis_conn) == [waiting]
