from __future__ import annotations

import asyncio

import pytest
import redis.asyncio as aioredis

from tests.burst_worker import run_burst
from tests.core.bulk_jobs import READ_TIMEOUT_S, command_calls, reset_command_stats, run, write_jobs
from thesis_console.core import contract
from thesis_console.core.embedded_redis import EmbeddedRedis
from thesis_console.core.reader import QueueReader
from thesis_console.core.types import CoreError, JobRow, JobState


@pytest.fixture
def redis_server(private_redis_server: EmbeddedRedis) -> EmbeddedRedis:
    """This module counts the server's commands: each test gets a server of its own."""
    return private_redis_server

COUNT = 100_000


def _describe(i: int) -> str:
    return f"Thesis: Rare Needle {i}" if i % 10_000 == 7 else f"Thesis: topic number {i}"


async def _collect(url: str, state: JobState, text: str, **kwargs) -> list[list[JobRow]]:
    client = aioredis.Redis.from_url(url, decode_responses=False)
    try:
        return [batch async for batch in QueueReader(client, timeout_s=READ_TIMEOUT_S).search("thesis", state, text, **kwargs)]
    finally:
        await client.aclose()


@pytest.mark.slow(seconds=15)
def test_search_streams_matches_over_100k_jobs_in_bounded_batches(redis_conn, redis_url):
    ids = write_jobs(redis_conn, "thesis", JobState.COMPLETED, COUNT, describe=_describe)

    reset_command_stats(redis_conn)
    batches = run(_collect(redis_url, JobState.COMPLETED, "rare NEEDLE", batch_size=3, scan_chunk=5000))
    calls = command_calls(redis_conn)
    found = [r.id for batch in batches for r in batch]
    assert found == [ids[i] for i in range(COUNT - 1, -1, -1) if i % 10_000 == 7]  # newest first, all 10
    assert all(1 <= len(batch) <= 3 for batch in batches)
    assert all(r.description.startswith("Thesis: Rare Needle") for batch in batches for r in batch)
    # The walk reads windows of ids, never the whole registry at once.
    assert calls["zrevrange"] == COUNT // 5000 + 1 and calls["hmget"] == COUNT + 1 + 10  # every job, the exact-id probe, the 10 matched rows

    async def first_batch(text: str) -> list[JobRow]:
        client = aioredis.Redis.from_url(redis_url, decode_responses=False)
        try:
            search = QueueReader(client, timeout_s=READ_TIMEOUT_S).search("thesis", JobState.COMPLETED, text)
            batch = await anext(search)
            await search.aclose()  # type: ignore[attr-defined]
            return batch
        finally:
            await client.aclose()

    reset_command_stats(redis_conn)
    assert [r.id for r in run(first_batch(ids[123]))] == [ids[123]]  # the exact id comes first, on its own
    assert command_calls(redis_conn).get("zrevrange", 0) == 0  # found by ZSCORE, before any walk

    prefix = run(_collect(redis_url, JobState.COMPLETED, "job-00012", batch_size=1000, scan_chunk=20_000))
    assert sorted(r.id for batch in prefix for r in batch) == ids[1200:1300]


def test_search_stops_when_the_caller_breaks_or_cancels(redis_conn, redis_url):
    write_jobs(redis_conn, "thesis", JobState.WAITING, COUNT, describe=lambda i: f"Thesis: common words {i}")

    async def first_batch_then_break() -> int:
        client = aioredis.Redis.from_url(redis_url, decode_responses=False)
        try:
            search = QueueReader(client, timeout_s=READ_TIMEOUT_S).search("thesis", JobState.WAITING, "common", batch_size=50, scan_chunk=1000)
            async for batch in search:
                assert len(batch) == 50
                break
            await search.aclose()  # type: ignore[attr-defined]
            return 1
        finally:
            await client.aclose()

    reset_command_stats(redis_conn)
    run(first_batch_then_break())
    assert command_calls(redis_conn)["lrange"] <= 2  # it read one window ahead at most

    async def cancelled_mid_walk() -> list[int]:
        client = aioredis.Redis.from_url(redis_url, decode_responses=False)
        sizes: list[int] = []
        got_one = asyncio.Event()

        async def consume() -> None:
            async for batch in QueueReader(client, timeout_s=READ_TIMEOUT_S).search("thesis", JobState.WAITING, "no such text", scan_chunk=500):
                sizes.append(len(batch))
            got_one.set()

        task = asyncio.create_task(consume())
        while command_calls(redis_conn).get("lrange", 0) < 5:  # the walk is under way
            await asyncio.sleep(0.01)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        await client.aclose()
        assert not got_one.is_set()
        return sizes

    reset_command_stats(redis_conn)
    assert run(cancelled_mid_walk()) == []
    walked = command_calls(redis_conn)["lrange"]
    assert walked < COUNT // 500  # stopped long before the end
    assert command_calls(redis_conn)["lrange"] == walked  # and nothing runs on after the cancel


def test_search_finds_text_in_errors_and_topics(redis_conn, redis_url):
    queue = contract.thesis_queue(redis_conn)
    failed = [queue.enqueue("tests.jobs.boom").id for _ in range(3)]
    queue.enqueue("tests.jobs.noop")
    run_burst(redis_conn, ["thesis"])
    by_error = run(_collect(redis_url, JobState.FAILED, "PLANNED test failure"))
    assert sorted(r.id for b in by_error for r in b) == sorted(failed)
    assert all(r.error_line == "RuntimeError: boom: planned test failure" for b in by_error for r in b)

    redis_conn.hset("rq:job:topical", mapping={"status": "queued", "description": "generic()",
                                               "meta": '{"topic": "Caf\\u00e9 \\"quoted\\" society"}'})  # fmt: skip
    redis_conn.rpush("rq:queue:thesis", "topical")
    for needle in ("café", '"quoted"', "SOCIETY"):
        rows = [r for b in run(_collect(redis_url, JobState.WAITING, needle)) for r in b]
        assert [r.id for r in rows] == ["topical"], needle


def test_search_refuses_bad_arguments_at_once(redis_conn, redis_url):
    with pytest.raises(CoreError, match="search text is empty"):
        run(_collect(redis_url, JobState.WAITING, "   "))
    with pytest.raises(CoreError, match="batch_size must be"):
        run(_collect(redis_url, JobState.WAITING, "x", batch_size=0))
