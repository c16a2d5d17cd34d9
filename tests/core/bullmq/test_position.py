"""A BullMQ job's position is its row in the order pages read: in every state, both orders, WAITING's
``wait`` + ``paused`` + ``prioritized`` included, at the end of a big state, in one round trip.

Jobs come from BullMQ's own scripts (the Python package's ``Queue.add``, ``moveToActive``, flows), or,
for 100,000s of jobs, from the bulk writer checked against the Node scripts in test_bulk_writer.py.
"""

from __future__ import annotations

import pytest

from tests.core.bulk_jobs import READ_TIMEOUT_S
from tests.core.bullmq.bull_jobs import QUEUE, activate, add_jobs, add_parents, dump_all, write_bulk
from tests.core.bullmq.test_paging import _mixed_waiting
from tests.core.bullmq.test_reader import run
from thesis_console.core.bullmq.reader import BullReader
from thesis_console.core.paging import MAX_PAGE
from thesis_console.core.reader import QueueReader
from thesis_console.core.round_trips import RoundTrips
from thesis_console.core.types import CoreError, JobState


def _state_jobs(conn, url: str, state: JobState) -> list[str]:
    """Jobs in ``state`` (and a few in other states, which no position may find)."""
    if state is JobState.WAITING:
        ids = _mixed_waiting(conn, url)  # wait, paused and prioritized at once
        add_jobs(url, [({"topic": "later"}, {"delay": 60_000})])
        return ids
    if state is JobState.ACTIVE:
        add_jobs(url, [({"topic": f"taken {i}"}, {}) for i in range(30)])
        return activate(url, 20)
    if state is JobState.SCHEDULED:  # run times out of the order they were added in
        return add_jobs(url, [({"topic": f"later {i}"}, {"delay": 60_000 + (i * 7919) % 997 * 1000}) for i in range(60)])
    if state is JobState.DEFERRED:
        add_jobs(url, [({"topic": "plain"}, {})])
        return add_parents(url, 25)
    add_jobs(url, [({"topic": "plain"}, {})])
    return write_bulk(conn, state, 1_500)


def _read(url: str, state: JobState, ids: list[str]):
    """Every row of ``state`` read by pages in both orders, and each job's position in both orders
    (with the round trips one position takes)."""

    async def go(client):
        reader = QueueReader(client, timeout_s=READ_TIMEOUT_S)
        listings = []
        for reverse in (False, True):
            rows: list[str] = []
            while True:
                page = await reader.page(QUEUE, state, len(rows), MAX_PAGE, reverse)
                rows += [r.id for r in page.rows]
                if len(rows) >= page.total:
                    break
            listings.append(rows)
        positions = [[await reader.position(QUEUE, state, i, reverse) for i in ids] for reverse in (False, True)]
        trips = RoundTrips(client, READ_TIMEOUT_S)
        await BullReader(trips, "bull").position(QUEUE, state, ids[-1], True)
        return listings, positions, trips.count

    return run(url, go)


@pytest.mark.parametrize("state", [s for s in JobState if s is not JobState.CANCELED])
def test_a_jobs_position_is_its_row_in_the_pages_of_every_state_in_both_orders(redis_conn, redis_url, state):
    ids = _state_jobs(redis_conn, redis_url, state)
    before = dump_all(redis_conn)
    (forward, backward), (at, at_reversed), trips = _read(redis_url, state, ids)
    assert sorted(forward) == sorted(ids) and backward == forward[::-1]
    assert at == [forward.index(i) for i in ids]
    assert at_reversed == [backward.index(i) for i in ids]
    assert trips == 1
    assert dump_all(redis_conn) == before


def test_waiting_positions_cross_wait_paused_and_prioritized_and_pages_there_hold_the_job(redis_conn, redis_url):
    expected = _mixed_waiting(redis_conn, redis_url)  # 300 wait, 40 paused, 300 prioritized
    picks = [expected[i] for i in (0, 299, 300, 339, 340, 500, 639)]

    async def go(client):
        reader = QueueReader(client, timeout_s=READ_TIMEOUT_S)
        found = []
        for job_id in picks:
            for reverse in (False, True):
                position = await reader.position(QUEUE, JobState.WAITING, job_id, reverse)
                page = await reader.page(QUEUE, JobState.WAITING, position, 50, reverse)
                found.append((position, page.rows[0].id))
        return found

    found = run(redis_url, go)
    wanted = [(p, i) for i, n in zip(picks, (0, 299, 300, 339, 340, 500, 639), strict=True) for p in (n, 639 - n)]
    assert found == wanted


@pytest.mark.slow(seconds=10)
@pytest.mark.parametrize("state", [JobState.WAITING, JobState.FAILED])
def test_positions_at_the_ends_of_a_big_state(redis_conn, redis_url, state):
    count = 100_000
    ids = write_bulk(redis_conn, state, count)
    ordered = ids if state is JobState.WAITING else ids[::-1]
    picks = [ordered[0], ordered[count // 2], ordered[-2], ordered[-1]]

    async def go(client):
        reader = QueueReader(client, timeout_s=READ_TIMEOUT_S)
        out = []
        for job_id in picks:
            for reverse in (False, True):
                position = await reader.position(QUEUE, state, job_id, reverse)
                page = await reader.page(QUEUE, state, position, 50, reverse)
                out.append((position, page.rows[0].id))
        return out

    found = run(redis_url, go)
    rows = [0, count // 2, count - 2, count - 1]
    assert found == [(p, i) for i, n in zip(picks, rows, strict=True) for p in (n, count - 1 - n)]


def test_a_job_not_in_the_state_or_not_in_the_queue_has_no_position(redis_conn, redis_url):
    waiting = add_jobs(redis_url, [({"topic": f"w{i}"}, {}) for i in range(3)])
    elsewhere = add_jobs(redis_url, [({"topic": f"other {i}"}, {}) for i in range(5)], queue="other-queue")
    redis_conn.set(f"bull:{QUEUE}:failed", "a string where a sorted set belongs")

    async def go(client):
        reader = QueueReader(client, timeout_s=READ_TIMEOUT_S)
        return [
            await reader.position(QUEUE, JobState.FAILED, waiting[0]),
            await reader.position(QUEUE, JobState.COMPLETED, waiting[0]),
            await reader.position(QUEUE, JobState.CANCELED, waiting[0]),
            await reader.position(QUEUE, JobState.WAITING, "no-such-job"),
            await reader.position(QUEUE, JobState.WAITING, waiting[2]),
            # BullMQ ids are unique per queue only: the other queue's waiting job 5 is not this queue's.
            await reader.position(QUEUE, JobState.WAITING, elsewhere[4]),
            await reader.position("other-queue", JobState.WAITING, elsewhere[4]),
        ]

    assert run(redis_url, go) == [None, None, None, None, 2, None, 4]


def test_bad_position_arguments_are_refused_with_a_message(redis_conn, redis_url):
    add_jobs(redis_url, [({"topic": "t"}, {})])

    def position(state, job_id):
        return run(redis_url, lambda c: QueueReader(c).position(QUEUE, state, job_id))

    with pytest.raises(CoreError, match="job id must be a non-empty text"):
        position(JobState.WAITING, "")
    with pytest.raises(CoreError, match="unknown state 'sleeping'"):
        position("sleeping", "1")
