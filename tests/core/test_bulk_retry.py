"""The requeue script (bulk_retry.Requeuer) and the bulk retry built on it, against a real Redis.

Failed jobs are real ones made by a ThesisWorker burst, plus many copies of their hashes written
with pipelined writes (see tests/core/test_actions.py).
"""

from __future__ import annotations

import asyncio
import time

import pytest
import redis.asyncio as aredis

from tests.core.test_actions import QUEUE, _failed, _waiting, acting, fabricate_failed, make_failed, run
from thesis_console.core import contract
from thesis_console.core.bulk_retry import MAX_BATCH, Requeuer, Skip, explain_skip
from thesis_console.core.types import CoreError


async def _requeuer(url: str, call):
    client = aredis.Redis.from_url(url)
    try:
        return await call(Requeuer(client))
    finally:
        await client.aclose()


# ---------------------------------------------------------------------- the script, one chunk
def test_one_chunk_requeues_in_registry_order_and_reports_each_skip(redis_conn, redis_url):
    real = make_failed(redis_conn, 1)[0]
    copies = fabricate_failed(redis_conn, real, 5)
    redis_conn.hset(f"rq:job:{copies[0]}", "ttl", 500)  # RQ's job.cleanup(ttl) expires the keys
    redis_conn.hdel(f"rq:job:{copies[1]}", "timeout")  # RQ gives the queue's default timeout
    redis_conn.hset(f"rq:job:{copies[2]}", "origin", "elsewhere")  # pushed to its own origin queue
    redis_conn.delete(f"rq:job:{copies[3]}")
    redis_conn.hset(f"rq:job:{copies[4]}", "rate_limit_key", "limited")

    outcome = run(_requeuer(redis_url, lambda r: r.requeue([real, *copies], only_queue=QUEUE)))

    assert outcome.done == [real, copies[0], copies[1], copies[2]]
    assert outcome.skipped == {copies[3]: (Skip.MISSING, ""), copies[4]: (Skip.RATE_LIMITED, "failed")}
    assert _waiting(redis_conn) == [real, copies[0], copies[1]]
    assert _waiting(redis_conn, "elsewhere") == [copies[2]]
    assert redis_conn.sismember("rq:queues", "rq:queue:elsewhere")
    assert 490 < redis_conn.ttl(f"rq:job:{copies[0]}") <= 500
    assert redis_conn.hget(f"rq:job:{copies[1]}", "timeout") == b"180"
    assert _failed(redis_conn) == [copies[3], copies[4]]


def test_status_mode_picks_the_registry_from_the_status(redis_conn, redis_url):
    failed = make_failed(redis_conn, 1)[0]
    canceled, queued = fabricate_failed(redis_conn, failed, 2)
    redis_conn.zrem(f"rq:failed:{QUEUE}", canceled)
    redis_conn.zadd(f"rq:canceled:{QUEUE}", {canceled: time.time()})
    redis_conn.hset(f"rq:job:{canceled}", "status", "canceled")
    redis_conn.hset(f"rq:job:{queued}", "status", "queued")

    outcome = run(_requeuer(redis_url, lambda r: r.requeue([failed, canceled, queued])))

    assert outcome.done == [failed, canceled]
    assert outcome.skipped == {queued: (Skip.QUEUED, "queued")}
    assert explain_skip(*outcome.skipped[queued]) == "already queued"
    assert redis_conn.zcard(f"rq:canceled:{QUEUE}") == 0


def test_batches_are_clamped_and_checked(redis_url, redis_conn):
    real = make_failed(redis_conn, 1)[0]
    fabricate_failed(redis_conn, real, MAX_BATCH + 10)
    seen: list[tuple[int, int]] = []

    async def body(r: Requeuer):
        return await r.requeue_all_failed(QUEUE, batch=10**9, progress=lambda d, t: seen.append((d, t)))

    outcome, untouched = run(_requeuer(redis_url, body))
    assert len(outcome.done) == MAX_BATCH + 11 and untouched == []
    assert seen == [(0, MAX_BATCH + 11), (MAX_BATCH, MAX_BATCH + 11), (MAX_BATCH + 11, MAX_BATCH + 11)]
    with pytest.raises(ValueError, match="batch"):
        run(_requeuer(redis_url, lambda r: r.requeue_all_failed(QUEUE, batch=0)))


# ---------------------------------------------------------------------- reading the registry in slices
def test_registry_ids_come_in_slices_in_registry_order(redis_conn, redis_url):
    key = f"rq:failed:{QUEUE}"
    # Ties as RQ makes them (scores are whole seconds), across slice borders.
    redis_conn.zadd(key, {f"job-{i:03d}": 1000 + i // 7 for i in range(95)})
    calls: list[int] = []

    async def body(r: Requeuer) -> list[str]:
        script = r._slice

        async def counted(**kwargs):
            calls.append(1)
            return await script(**kwargs)

        r._slice = counted
        return await r.registry_ids(key, slice_size=10)

    ids = run(_requeuer(redis_url, body))
    assert ids == [i.decode() for i in redis_conn.zrange(key, 0, -1)]
    assert len(calls) == 10  # 95 ids, 10 per round trip
    assert run(_requeuer(redis_url, lambda r: r.registry_ids("rq:failed:nothing-here"))) == []


def test_registry_ids_neither_skip_nor_repeat_when_others_change_the_registry(redis_conn, redis_url):
    key = f"rq:failed:{QUEUE}"
    redis_conn.zadd(key, {f"a{i:03d}": 5 for i in range(30)})

    async def body(r: Requeuer) -> list[str]:
        script = r._slice
        first = [True]

        async def another_console_meanwhile(**kwargs):
            reply = await script(**kwargs)
            if first[0]:  # after the first slice (a000..a009): retried elsewhere, and a new failure
                first[0] = False
                redis_conn.zrem(key, "a009", "a003", "a015")
                redis_conn.zadd(key, {"a0095": 5})
            return reply

        r._slice = another_console_meanwhile
        return await r.registry_ids(key, slice_size=10)

    ids = run(_requeuer(redis_url, body))
    expected = [f"a{i:03d}" for i in range(10)] + ["a0095"] + [f"a{i:03d}" for i in range(10, 30) if i != 15]
    assert ids == expected


# ---------------------------------------------------------------------- bulk retry through QueueActions
def test_concurrent_double_retry_pushes_once(redis_conn, redis_url):
    job_id = make_failed(redis_conn, 1)[0]
    bulk = fabricate_failed(redis_conn, job_id, 3000)

    async def race():
        async with acting(redis_url) as first, acting(redis_url) as second:
            single = await asyncio.gather(first.retry([job_id]), second.retry([job_id]))
            both = await asyncio.gather(
                first.retry_all_failed(QUEUE, batch=100), second.retry_all_failed(QUEUE, batch=100)
            )
            return single, both

    single, both = run(race())
    assert sorted(len(r.done) for r in single) == [0, 1]
    assert _waiting(redis_conn).count(job_id) == 1
    waiting = _waiting(redis_conn)
    assert len(waiting) == len(set(waiting)) == 3001
    assert sum(len(r.done) for r in both) == 3000 and set(bulk) <= set(waiting)


def test_retry_all_failed_reports_progress_and_requeues_everything(redis_conn, redis_url):
    real = make_failed(redis_conn, 3)
    fabricated = fabricate_failed(redis_conn, real[0], 20_000)
    redis_conn.delete(f"rq:job:{fabricated[5]}")  # a dangling registry entry
    seen: list[tuple[int, int]] = []

    async def body():
        async with acting(redis_url) as actions:
            return await actions.retry_all_failed(QUEUE, progress=lambda d, t: seen.append((d, t)), batch=1000)

    result = run(body())
    total = 20_003
    assert seen[0] == (0, total) and seen[-1] == (total, total)
    assert [d for d, _ in seen] == sorted(d for d, _ in seen)
    assert len(result.done) == total - 1 and "no such job" in result.skipped[fabricated[5]]
    waiting = _waiting(redis_conn)
    assert len(waiting) == len(set(waiting)) == total - 1
    assert _failed(redis_conn) == [fabricated[5]]  # left where it was
    statuses = set(redis_conn.hget(f"rq:job:{i}", "status") for i in waiting[::97])
    assert statuses == {b"queued"}


def test_retry_all_failed_cancel_leaves_a_consistent_state_and_resumes(redis_conn, redis_url):
    real = make_failed(redis_conn, 2)
    fabricate_failed(redis_conn, real[0], 20_000)
    total = 20_002

    async def first_run():
        cancel = asyncio.Event()

        def progress(done: int, _total: int) -> None:
            if done >= 5000:
                cancel.set()

        async with acting(redis_url) as actions:
            return await actions.retry_all_failed(QUEUE, progress=progress, cancel=cancel, batch=1000)

    partial = run(first_run())
    assert len(partial.done) in (5000, 6000)  # the chunk already sent when cancel was set completes
    assert len(partial.skipped) == total - len(partial.done)
    assert all(r == "not retried: the bulk retry was canceled" for r in partial.skipped.values())
    waiting, failed = set(_waiting(redis_conn)), set(_failed(redis_conn))
    assert not waiting & failed and len(waiting) + len(failed) == total
    with redis_conn.pipeline() as pipe:
        for job_id in sorted(waiting | failed):
            pipe.hget(f"rq:job:{job_id}", "status")
        statuses = dict(zip(sorted(waiting | failed), pipe.execute(), strict=True))
    assert {statuses[i] for i in waiting} == {b"queued"} and {statuses[i] for i in failed} == {b"failed"}

    async def second_run():
        async with acting(redis_url) as actions:
            return await actions.retry_all_failed(QUEUE)

    rest = run(second_run())
    assert set(rest.done) == failed and rest.skipped == {}
    assert len(_waiting(redis_conn)) == total and _failed(redis_conn) == []


def test_retry_all_failed_rejects_a_bad_batch(redis_url, redis_conn):
    async def body():
        async with acting(redis_url) as actions:
            await actions.retry_all_failed(QUEUE, batch=0)

    with pytest.raises(CoreError, match="batch"):
        run(body())


def test_retry_all_failed_of_an_empty_queue(redis_conn, redis_url):
    seen: list[tuple[int, int]] = []

    async def body():
        async with acting(redis_url) as actions:
            return await actions.retry_all_failed(QUEUE, progress=lambda d, t: seen.append((d, t)))

    result = run(body())
    assert result.done == () and result.skipped == {} and seen == [(0, 0)]


# ---------------------------------------------------------------------- what a retry must not requeue
def _broken_cases(conn, template_id: str) -> dict[str, str]:
    """Failed-registry entries that are not whole jobs, by what is wrong with them."""
    (no_data, no_origin, no_created, bad_data, bad_origin, wrong_status, unknown_status, bad_ttl, bad_time, bad_text) = (
        fabricate_failed(conn, template_id, 10, prefix="broken")
    )
    conn.hdel(f"rq:job:{no_data}", "data")
    conn.hdel(f"rq:job:{no_origin}", "origin")
    conn.hdel(f"rq:job:{no_created}", "created_at")
    conn.hset(f"rq:job:{bad_data}", "data", b"\xff\xfe\x80 neither zlib nor text")
    conn.hset(f"rq:job:{bad_origin}", "origin", b"th\xffesis")
    conn.hset(f"rq:job:{wrong_status}", "status", "finished")  # in the failed registry, says finished
    conn.hset(f"rq:job:{unknown_status}", "status", "bogus")
    conn.hset(f"rq:job:{bad_ttl}", "ttl", "soon")
    conn.hset(f"rq:job:{bad_time}", "created_at", "2026-01-01T10:00:00.123Z\xff")
    conn.hset(f"rq:job:{bad_text}", "description", b"caf\xe9")  # Latin-1, not UTF-8
    conn.hset("rq:job:half-written", "status", "failed")  # a hash with only a status field
    conn.zadd(f"rq:failed:{QUEUE}", {"half-written": time.time() + 3600})
    return {
        no_data: "data",
        no_origin: "origin",
        no_created: "created_at",
        bad_data: "data",
        bad_origin: "origin",
        wrong_status: "finished",
        unknown_status: "bogus",
        bad_ttl: "ttl",
        bad_time: "not a time in field created_at",
        bad_text: "not UTF-8 in field description",
        "half-written": "data",
    }


def _queued_and_in_the_failed_registry(conn) -> str:
    """A job waiting in its queue whose id was also left in the failed registry."""
    job_id = contract.thesis_queue(conn).enqueue("tests.jobs.noop").id
    conn.zadd(f"rq:failed:{QUEUE}", {job_id: time.time() + 3600})
    return job_id


def test_retry_all_failed_requeues_only_whole_jobs(redis_conn, redis_url):
    good = make_failed(redis_conn, 2)
    broken = _broken_cases(redis_conn, good[0])
    queued = _queued_and_in_the_failed_registry(redis_conn)

    async def body():
        async with acting(redis_url) as actions:
            return await actions.retry_all_failed(QUEUE)

    result = run(body())
    assert set(result.done) == set(good)
    for job_id, what in broken.items():
        assert result.skipped[job_id].startswith("broken job hash"), (job_id, result.skipped[job_id])
        assert what in result.skipped[job_id]
    assert result.skipped[queued] == "already queued"
    assert sorted(_waiting(redis_conn)) == sorted([queued, *good])  # the queued job once, no broken one
    assert set(_failed(redis_conn)) == {*broken, queued}  # left where they were
    assert redis_conn.hget("rq:job:half-written", "status") == b"failed"


def test_retry_of_selected_jobs_skips_broken_queued_and_moved_jobs(redis_conn, redis_url):
    good = make_failed(redis_conn, 2)
    broken = _broken_cases(redis_conn, good[0])
    queued = _queued_and_in_the_failed_registry(redis_conn)
    (moved,) = fabricate_failed(redis_conn, good[0], 1, prefix="moved")
    redis_conn.zrem(f"rq:failed:{QUEUE}", moved)  # says failed, but someone took it out of the registry

    async def body():
        async with acting(redis_url) as actions:
            return await actions.retry([*good, *broken, queued, moved])

    result = run(body())
    assert set(result.done) == set(good)
    for job_id in broken:
        assert result.skipped[job_id].startswith("broken job hash"), (job_id, result.skipped[job_id])
    assert result.skipped[queued] == "already queued"
    assert result.skipped[moved].startswith("changed meanwhile")
    assert sorted(_waiting(redis_conn)) == sorted([queued, *good])


def test_the_chunk_reports_a_job_gone_from_the_registry_as_changed_meanwhile(redis_conn, redis_url):
    job_id = make_failed(redis_conn, 1)[0]
    redis_conn.zrem(f"rq:failed:{QUEUE}", job_id)  # retried and failed elsewhere between read and script

    async def body():
        async with acting(redis_url) as actions:
            return await actions._requeuer.requeue([job_id], only_queue=QUEUE)

    outcome = run(body())
    assert outcome.done == [] and explain_skip(*outcome.skipped[job_id]).startswith("changed meanwhile")
    assert _waiting(redis_conn) == []
