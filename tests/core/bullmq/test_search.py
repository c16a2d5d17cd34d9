"""The search tests of the RQ backend (tests/core/test_search.py), run against BullMQ queues."""

from __future__ import annotations

import asyncio

import pytest
import redis.asyncio as aioredis

from tests.core.bulk_jobs import READ_TIMEOUT_S, command_calls, reset_command_stats
from tests.core.bullmq.bull_jobs import QUEUE, add_jobs, write_bulk
from tests.helpers import wait_for
from tests.node_bullmq import NodeWorker, produce
from thesis_console.core.embedded_redis import EmbeddedRedis
from thesis_console.core.reader import QueueReader
from thesis_console.core.types import CoreError, JobRow, JobState


@pytest.fixture
def redis_server(private_redis_server: EmbeddedRedis) -> EmbeddedRedis:
    """This module counts the server's commands: each test gets a server of its own."""
    return private_redis_server


COUNT = 100_000


def _topic(i: int) -> str:
    return f"Rare Needle {i}" if i % 10_000 == 7 else f"Thesis topic number {i}"


async def _reader(client) -> QueueReader:
    reader = QueueReader(client, timeout_s=READ_TIMEOUT_S)
    await reader.bull_queues()  # a search starts from a queue the last snapshot found
    return reader


async def _collect(url: str, state: JobState, text: str, **kwargs) -> list[list[JobRow]]:
    client = aioredis.Redis.from_url(url, decode_responses=False)
    try:
        reader = await _reader(client)
        return [batch async for batch in reader.search(QUEUE, state, text, **kwargs)]
    finally:
        await client.aclose()


async def _first_batch(url: str, state: JobState, text: str) -> list[JobRow]:
    client = aioredis.Redis.from_url(url, decode_responses=False)
    try:
        search = (await _reader(client)).search(QUEUE, state, text)
        batch = await anext(search)
        await search.aclose()  # type: ignore[attr-defined]
        return batch
    finally:
        await client.aclose()


@pytest.mark.slow(seconds=20)
def test_search_streams_matches_over_100k_jobs_in_bounded_batches(redis_conn, redis_url):
    ids = write_bulk(redis_conn, JobState.COMPLETED, COUNT, topic=_topic)

    reset_command_stats(redis_conn)
    batches = asyncio.run(_collect(redis_url, JobState.COMPLETED, "rare NEEDLE", batch_size=3, scan_chunk=5000))
    calls = command_calls(redis_conn)
    found = [r.id for batch in batches for r in batch]
    assert found == [ids[i] for i in range(COUNT - 1, -1, -1) if i % 10_000 == 7]  # newest first, all 10
    assert all(1 <= len(batch) <= 3 for batch in batches)
    assert all(r.topic.startswith("Rare Needle") for batch in batches for r in batch)
    # The walk reads windows of ids (a page of at most 1,000), never the whole sorted set at once.
    assert calls["zrevrange"] == COUNT // 1000 and calls["hmget"] == COUNT + 1  # every job, the exact-id probe

    reset_command_stats(redis_conn)
    assert [r.id for r in asyncio.run(_first_batch(redis_url, JobState.COMPLETED, ids[123]))] == [ids[123]]
    assert command_calls(redis_conn).get("zrevrange", 0) == 0  # found by ZSCORE, before any walk

    prefix = asyncio.run(_collect(redis_url, JobState.COMPLETED, "1234", batch_size=1000, scan_chunk=20_000))
    got = {r.id for batch in prefix for r in batch}
    assert got == {job_id for n, job_id in enumerate(ids) if job_id.startswith("1234") or "1234" in _topic(n)}
    assert "21234" not in got  # an id is matched by its start, as RQ's search does


def test_search_stops_when_the_caller_breaks_or_cancels(redis_conn, redis_url):
    write_bulk(redis_conn, JobState.WAITING, COUNT, topic=lambda i: f"common words {i}")

    async def first_batch_then_break() -> None:
        client = aioredis.Redis.from_url(redis_url, decode_responses=False)
        try:
            search = (await _reader(client)).search(QUEUE, JobState.WAITING, "common", batch_size=50, scan_chunk=1000)
            async for batch in search:
                assert len(batch) == 50
                break
            await search.aclose()  # type: ignore[attr-defined]
        finally:
            await client.aclose()

    reset_command_stats(redis_conn)
    asyncio.run(first_batch_then_break())
    assert command_calls(redis_conn)["lrange"] <= 3  # one page: wait, and the two guesses of paused

    async def cancelled_mid_walk() -> list[int]:
        client = aioredis.Redis.from_url(redis_url, decode_responses=False)
        sizes: list[int] = []
        got_all = asyncio.Event()

        async def consume() -> None:
            async for batch in (await _reader(client)).search(QUEUE, JobState.WAITING, "no such text", scan_chunk=500):
                sizes.append(len(batch))
            got_all.set()

        task = asyncio.create_task(consume())
        while command_calls(redis_conn).get("lrange", 0) < 15:  # the walk is under way
            await asyncio.sleep(0.01)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        await client.aclose()
        assert not got_all.is_set()
        return sizes

    reset_command_stats(redis_conn)
    assert asyncio.run(cancelled_mid_walk()) == []
    walked = command_calls(redis_conn)["lrange"]
    assert walked < 3 * COUNT // 500  # stopped long before the end
    assert command_calls(redis_conn)["lrange"] == walked  # and nothing runs on after the cancel


@pytest.mark.slow(seconds=8)
def test_search_finds_text_in_errors_and_topics(redis_conn, redis_url):
    failed = produce(redis_url, [{"thesisId": f"f{i}", "topic": "t", "fail": True} for i in range(3)], opts={"attempts": 1})
    worker = NodeWorker(redis_url)
    try:
        worker.wait_ready()
        assert wait_for(lambda: redis_conn.zcard(f"bull:{QUEUE}:failed") == 3, timeout=60)
    finally:
        worker.stop()
    by_error = asyncio.run(_collect(redis_url, JobState.FAILED, "failed ON PURPOSE"))
    assert sorted(r.id for b in by_error for r in b) == sorted(failed)
    assert {r.error_line for b in by_error for r in b} == {f"thesis f{i} failed on purpose" for i in range(3)}

    (topical,) = add_jobs(redis_url, [({"topic": 'Café "quoted" society'}, {})])
    for needle in ("café", '"quoted"', "SOCIETY"):
        rows = [r for b in asyncio.run(_collect(redis_url, JobState.WAITING, needle)) for r in b]
        assert [r.id for r in rows] == [topical], needle


def test_search_refuses_bad_arguments_at_once(redis_conn, redis_url):
    add_jobs(redis_url, [({"topic": "t"}, {})])
    with pytest.raises(CoreError, match="search text is empty"):
        asyncio.run(_collect(redis_url, JobState.WAITING, "   "))
    with pytest.raises(CoreError, match="batch_size must be"):
        asyncio.run(_collect(redis_url, JobState.WAITING, "x", batch_size=0))
