"""The paging tests of the RQ backend (tests/core/test_paging.py), run against BullMQ queues.

Jobs come from BullMQ's own scripts (the Python package's ``Queue.add``), or, for 100,000s of jobs,
from the bulk writer checked against the Node scripts in test_bulk_writer.py. Round trips are counted
by the reader's own :class:`RoundTrips`, commands by the server's statistics.
"""

from __future__ import annotations

import asyncio

import pytest
import redis
import redis.asyncio as aioredis

from tests.core.bulk_jobs import READ_TIMEOUT_S, command_calls, reset_command_stats
from tests.core.bullmq.bull_jobs import QUEUE, add_jobs, dump_all, pause, write_bulk
from tests.core.bullmq.test_reader import run
from thesis_console.core.bullmq.paging import HEAD_WINDOW
from thesis_console.core.bullmq.reader import BullReader
from thesis_console.core.embedded_redis import EmbeddedRedis
from thesis_console.core.reader import QueueReader
from thesis_console.core.round_trips import RoundTrips
from thesis_console.core.types import CoreError, JobPage, JobState


@pytest.fixture
def redis_server(private_redis_server: EmbeddedRedis) -> EmbeddedRedis:
    """This module counts the server's commands: each test gets a server of its own."""
    return private_redis_server


def _pages(url: str, state: JobState, offsets, limit: int = 50, reverse: bool = False, **client_kwargs) -> list[tuple[JobPage, int]]:
    """Each page read by a BullReader of its own, with the round trips it took."""

    async def read(client) -> list[tuple[JobPage, int]]:
        out = []
        for offset in offsets:
            trips = RoundTrips(client, READ_TIMEOUT_S)
            out.append((await BullReader(trips, "bull").page(QUEUE, state, offset, limit, reverse), trips.count))
        return out

    async def go():
        client = aioredis.Redis.from_url(url, decode_responses=False, **client_kwargs)
        try:
            return await read(client)
        finally:
            await client.aclose()

    return asyncio.run(go())


def _in_page_order(state: JobState, ids: list[str]) -> list[str]:
    return ids[::-1] if state in (JobState.COMPLETED, JobState.FAILED) else ids  # finished: newest first


def test_page_offsets_walk_a_state_without_gaps(redis_conn, redis_url):
    ids = write_bulk(redis_conn, JobState.FAILED, 230)
    seen = []
    for page, _ in _pages(redis_url, JobState.FAILED, range(0, 230, 50)):
        assert page.total == 230
        seen += [r.id for r in page.rows]
    assert seen == ids[::-1]
    ((beyond, trips),) = _pages(redis_url, JobState.FAILED, [1000])
    assert beyond.rows == () and beyond.total == 230 and trips == 1


@pytest.mark.slow(seconds=10)
@pytest.mark.parametrize("state", [JobState.WAITING, JobState.COMPLETED, JobState.FAILED, JobState.SCHEDULED])
def test_a_page_at_any_depth_takes_two_round_trips_and_the_same_commands(redis_conn, redis_url, state):
    count = 100_000
    ordered = _in_page_order(state, write_bulk(redis_conn, state, count))
    costs = []
    for offset in (0, count // 2, count - 50):
        reset_command_stats(redis_conn)
        ((page, trips),) = _pages(redis_url, state, [offset])
        costs.append(command_calls(redis_conn))
        assert [r.id for r in page.rows] == ordered[offset : offset + 50]
        assert page.total == count and all(r.problem is None for r in page.rows)
        assert trips == 2
    assert costs[0] == costs[1] == costs[2]
    assert costs[0]["hmget"] == 50 and "sort" not in costs[0]
    ((beyond, trips),) = _pages(redis_url, state, [count])
    assert beyond.rows == () and beyond.total == count and trips == 1


def _mixed_waiting(conn: redis.Redis, url: str) -> list[str]:
    """300 jobs in ``wait``, 40 in ``paused`` beside them, 300 in ``prioritized`` (more than the head
    window), all written by BullMQ's scripts; their ids in the order workers take them."""
    paused = add_jobs(url, [({"topic": f"paused {i}"}, {}) for i in range(40)])
    pause(url)  # BullMQ moves the waiting jobs to ``paused``; a resume would move them back
    conn.rename(f"bull:{QUEUE}:paused", "parked")
    conn.hdel(f"bull:{QUEUE}:meta", "paused")
    plain = add_jobs(url, [({"topic": f"plain {i}"}, {}) for i in range(300)])
    urgent = add_jobs(url, [({"topic": f"urgent {i}"}, {"priority": 1 + i % 3}) for i in range(300)])
    conn.rename("parked", f"bull:{QUEUE}:paused")  # both lists at once: a queue caught between pause and resume
    by_priority = [urgent[i] for p in range(3) for i in range(p, 300, 3)]
    return plain + paused + by_priority


def test_waiting_pages_span_wait_paused_and_prioritized_in_two_round_trips(redis_conn, redis_url):
    expected = _mixed_waiting(redis_conn, redis_url)
    assert len(expected) == 640 and HEAD_WINDOW < 300
    offsets = (0, 280, 320, 335, 400, 500, 590, 620, 639, 640)
    before = dump_all(redis_conn)
    reset_command_stats(redis_conn)
    for offset, (page, trips) in zip(offsets, _pages(redis_url, JobState.WAITING, offsets), strict=True):
        assert page.total == 640
        assert [r.id for r in page.rows] == expected[offset : offset + 50], offset
        assert all(r.problem is None for r in page.rows), offset
        assert trips == (2 if offset < 640 else 1), offset
    # Only the pages deeper in ``prioritized`` than its head window needed SORT.
    assert command_calls(redis_conn)["sort"] == sum(1 for o in offsets if o + 50 > 340 + HEAD_WINDOW and o < 640)
    assert dump_all(redis_conn) == before


@pytest.mark.parametrize("state", [JobState.WAITING, JobState.COMPLETED, JobState.SCHEDULED])
def test_reversed_pages_mirror_the_forward_order_in_two_round_trips(redis_conn, redis_url, state):
    if state is JobState.WAITING:
        forward = _mixed_waiting(redis_conn, redis_url)
    else:
        forward = _in_page_order(state, write_bulk(redis_conn, state, 5_000))
    total = len(forward)
    backwards = forward[::-1]
    offsets = (0, total // 2, total - 10, total)
    for offset, (page, trips) in zip(offsets, _pages(redis_url, state, offsets, reverse=True), strict=True):
        assert [r.id for r in page.rows] == backwards[offset : offset + 50], offset
        assert page.total == total and trips == (2 if offset < total else 1)


def test_small_prioritized_sets_are_never_sorted_so_reading_changes_nothing(redis_conn, redis_url):
    """SORT converts a small sorted set's compact encoding in place: such a set is read whole instead."""
    plain = add_jobs(redis_url, [({"topic": f"plain {i}"}, {}) for i in range(200)])
    urgent = add_jobs(redis_url, [({"topic": f"urgent {i}"}, {"priority": 2}) for i in range(HEAD_WINDOW)])
    key = f"bull:{QUEUE}:prioritized"
    encoding = redis_conn.object("encoding", key)
    before = dump_all(redis_conn)
    reset_command_stats(redis_conn)
    pages = _pages(redis_url, JobState.WAITING, [0, 190, 250, 270, 300])
    assert [r.id for r in pages[4][0].rows] == urgent[100:]
    assert [r.id for r in pages[1][0].rows] == plain[190:] + urgent[:40]
    assert all(trips == 2 for _, trips in pages) and "sort" not in command_calls(redis_conn)
    assert redis_conn.object("encoding", key) == encoding and dump_all(redis_conn) == before


def test_a_server_that_refuses_sort_gets_the_same_rows_in_two_more_round_trips(redis_conn, redis_url):
    expected = _mixed_waiting(redis_conn, redis_url)
    redis_conn.acl_setuser("no-sort", enabled=True, nopass=True, keys=["*"], commands=["+@all", "-sort"])
    offsets = (0, 300, 520)
    pages = _pages(redis_url, JobState.WAITING, offsets, username="no-sort", password="")
    for offset, (page, trips) in zip(offsets, pages, strict=True):
        assert [r.id for r in page.rows] == expected[offset : offset + 50], offset
        assert trips == (4 if offset == 520 else 2)  # only the page deep in prioritized wanted SORT


def test_damaged_jobs_read_by_sort_say_what_is_wrong(redis_conn, redis_url):
    expected = _mixed_waiting(redis_conn, redis_url)
    gone, foreign, odd = expected[600], expected[601], expected[602]
    redis_conn.delete(f"bull:{QUEUE}:{gone}")
    redis_conn.delete(f"bull:{QUEUE}:{foreign}")
    redis_conn.set(f"bull:{QUEUE}:{foreign}", "a string where a hash belongs")
    redis_conn.hset(f"bull:{QUEUE}:{odd}", "data", b"{not json")
    ((page, trips),) = _pages(redis_url, JobState.WAITING, [590])
    rows = {r.id: r for r in page.rows}
    assert rows[gone].problem == "job hash is missing (removed or expired)"
    assert rows[foreign].problem == "job key is not a hash (a foreign or damaged key)"
    assert rows[odd].problem == "data is not JSON"
    assert [r.id for r in page.rows] == expected[590:640]
    assert trips == 3  # the rows SORT found no field of are read once more, to tell which


def test_bad_page_arguments_are_refused_with_the_rq_messages(redis_conn, redis_url):
    add_jobs(redis_url, [({"topic": "t"}, {})])

    def page(state, offset, limit):
        return run(redis_url, lambda c: QueueReader(c).page(QUEUE, state, offset, limit))

    with pytest.raises(CoreError, match="offset must be"):
        page(JobState.WAITING, -1, 10)
    with pytest.raises(CoreError, match="limit must be 1 to 1000"):
        page(JobState.WAITING, 0, 0)
    with pytest.raises(CoreError, match="unknown state 'sleeping'"):
        page("sleeping", 0, 10)


def test_a_user_refused_the_row_reads_gets_an_error_not_rows_that_blame_the_jobs(redis_conn, redis_url):
    _mixed_waiting(redis_conn, redis_url)
    redis_conn.acl_setuser("no-hmget", enabled=True, nopass=True, keys=["*"], commands=["+@all", "-hmget"])
    for offset in (0, 300):  # rows of wait, and of paused then prioritized
        with pytest.raises(CoreError, match="denied a command"):
            _pages(redis_url, JobState.WAITING, [offset], username="no-hmget", password="")
