from __future__ import annotations

import asyncio
import socket
import time

import pytest
import redis.asyncio as aioredis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from rq import Callback, Queue, Worker
from rq.registry import StartedJobRegistry

from tests.burst_worker import run_burst
from tests.core.bulk_jobs import digest, run, write_jobs
from thesis_console.core import contract, metrics_store
from thesis_console.core.embedded_redis import free_port
from thesis_console.core.producer import enqueue_thesis
from thesis_console.core.reader import QueueReader
from thesis_console.core.supervisor_protocol import INDEX_KEY, record_key
from thesis_console.core.thesis_request import ThesisRequest
from thesis_console.core.types import STATE_ORDER, CoreError, JobState


def _fill_a_lived_in_redis(conn) -> str:
    """Jobs in every state, plus the leftovers RQ's clean-ups would act on. Returns the stale job's id."""
    queue = contract.thesis_queue(conn)
    for _ in range(3):
        queue.enqueue("tests.jobs.noop")
    queue.enqueue("tests.jobs.boom")
    run_burst(conn, ["thesis"])
    waiting = enqueue_thesis(conn, ThesisRequest(topic="Side effects of reading"))
    enqueue_thesis(conn, ThesisRequest(topic="Later"), delay_s=3600)
    queue.enqueue("tests.jobs.noop", depends_on=waiting)
    queue.enqueue("tests.jobs.noop").cancel()
    Queue("legacy", connection=conn).enqueue("tests.jobs.sleep_for", 1)  # pickled

    # A job whose worker died long ago: its started-registry entry expired. RQ's StartedJobRegistry
    # clean-up (run by count, get_job_ids, get_job_count) would fail it, call its failure callback
    # and move it to the failed registry.
    stale = queue.enqueue("tests.jobs.noop", on_failure=Callback("tests.jobs.boom"))
    conn.lrem("rq:queue:thesis", 0, stale.id)
    conn.hset(stale.key, "status", "started")
    conn.zadd("rq:wip:thesis", {f"{stale.id}:deadbeef": time.time() - 3600})
    # Completed entries past their expiry: FinishedJobRegistry's clean-up would delete them.
    write_jobs(conn, "thesis", JobState.COMPLETED, 5, prefix="expired", start_ts=time.time() - 10 * 86400)
    conn.zadd("rq:finished:thesis", {f"expired-{i:07d}": time.time() - 86400 for i in range(5)})
    conn.rpush("rq:queue:thesis:intermediate", waiting)  # a dequeue in flight
    Worker(["thesis"], connection=conn, name="idle-worker").register_birth()
    conn.set(record_key("sup"), '{"id": "sup"}', ex=600)
    conn.zadd(INDEX_KEY, {"sup": time.time()})
    with conn.pipeline(transaction=False) as pipe:
        metrics_store.record_job(pipe, "thesis", True, 1.0)
        pipe.execute()
    return stale.id


def test_reading_everything_changes_nothing_in_redis(redis_conn, redis_url):
    stale = _fill_a_lived_in_redis(redis_conn)
    before = digest(redis_conn)

    async def read_everything() -> int:
        client = aioredis.Redis.from_url(redis_url, decode_responses=False)
        reader = QueueReader(client)
        details = 0
        try:
            snapshot = await reader.snapshot()
            for counts in snapshot.queues:
                for state in STATE_ORDER:
                    page = await reader.page(counts.name, state, 0, 100)
                    for row in page.rows:
                        await reader.detail(row.id)
                        details += 1
                    async for _batch in reader.search(counts.name, state, "e"):
                        pass
                await reader.metric_series(counts.name, 3600)
                await reader.metric_series(counts.name, 86400)
        finally:
            await client.aclose()
        return details

    assert run(read_everything()) >= 15
    after = digest(redis_conn)
    assert after == before

    # The check can fail: RQ's own counting runs the clean-up that reading must never run.
    StartedJobRegistry("thesis", connection=redis_conn).get_job_count()
    assert digest(redis_conn) != before
    assert redis_conn.zscore("rq:failed:thesis", stale) is not None


def test_an_unreachable_server_is_a_readable_error():
    async def body() -> None:
        # No retries: redis-py's default retries with back-off would outlast the reader's deadline,
        # and the message would then be the timeout rather than the cause.
        client = aioredis.Redis(host="127.0.0.1", port=free_port(), decode_responses=False, retry=Retry(NoBackoff(), 0))
        try:
            await QueueReader(client, timeout_s=3).snapshot()
        finally:
            await client.aclose()

    with pytest.raises(CoreError, match="refused: nothing is listening there"):
        run(body())


def test_a_server_that_never_answers_times_out_instead_of_hanging():
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(16)  # the kernel accepts connections; nobody ever reads or answers
    port = silent.getsockname()[1]

    async def body(call: str) -> None:
        client = aioredis.Redis(host="127.0.0.1", port=port, decode_responses=False)
        reader = QueueReader(client, timeout_s=0.5)
        try:
            if call == "search":
                await asyncio.wait_for(anext(reader.search("thesis", JobState.FAILED, "x")), 10)
            else:
                await asyncio.wait_for(reader.page("thesis", JobState.FAILED, 0, 10), 10)
        finally:
            await client.aclose()

    try:
        for call in ("page", "search"):
            with pytest.raises(CoreError, match=r"did not answer within 0\.5 s \(timeout\)"):
                run(body(call))
    finally:
        silent.close()


def test_reader_options_are_checked():
    client = aioredis.Redis(host="127.0.0.1", port=1)
    with pytest.raises(ValueError, match="timeout_s must be positive"):
        QueueReader(client, timeout_s=0)
    with pytest.raises(ValueError, match="decode_responses=False"):
        QueueReader(aioredis.Redis(host="127.0.0.1", port=1, decode_responses=True))
    reader = QueueReader(client, queues=["a", "b"], trust_pickle=True)
    assert reader.queues == ("a", "b") and reader.trust_pickle
