from __future__ import annotations

import pickle
import time
from datetime import timedelta

import pytest
import redis.asyncio as aioredis
from rq import Callback, Queue, Retry

from tests.burst_worker import run_burst
from tests.core.bulk_jobs import READ_TIMEOUT_S, command_calls, reset_command_stats, run, write_jobs
from thesis_console.core import contract
from thesis_console.core.embedded_redis import EmbeddedRedis
from thesis_console.core.job_allowlist import ALLOW_ENV
from thesis_console.core.producer import enqueue_thesis
from thesis_console.core.reader import QueueReader
from thesis_console.core.thesis_request import ThesisRequest
from thesis_console.core.types import CoreError, JobPage, JobState


@pytest.fixture
def redis_server(private_redis_server: EmbeddedRedis) -> EmbeddedRedis:
    """This module counts the server's commands: each test gets a server of its own."""
    return private_redis_server


async def _page(url: str, queue: str, state: JobState, offset: int = 0, limit: int = 50) -> JobPage:
    client = aioredis.Redis.from_url(url, decode_responses=False)
    try:
        return await QueueReader(client, timeout_s=READ_TIMEOUT_S).page(queue, state, offset, limit)
    finally:
        await client.aclose()


def test_every_state_pages_real_rq_jobs(redis_conn, redis_url, isolated_env):
    queue = contract.thesis_queue(redis_conn)
    done = [queue.enqueue("tests.jobs.noop") for _ in range(2)]
    failed = queue.enqueue("tests.jobs.boom")
    backing_off = queue.enqueue("tests.jobs.boom", retry=Retry(max=1, interval=600), description="retry me")
    run_burst(redis_conn, ["thesis"])

    first = enqueue_thesis(redis_conn, ThesisRequest(topic="Waiting thesis one"))
    urgent = enqueue_thesis(redis_conn, ThesisRequest(topic="Urgent thesis"), at_front=True)
    later = enqueue_thesis(redis_conn, ThesisRequest(topic="Later thesis"), delay_s=120)
    dependent = queue.enqueue("tests.jobs.noop", depends_on=first)
    canceled = queue.enqueue("tests.jobs.noop")
    canceled.cancel()

    waiting = run(_page(redis_url, "thesis", JobState.WAITING))
    assert [r.id for r in waiting.rows] == [urgent, first] and waiting.total == 2
    row = waiting.rows[1]
    assert (row.topic, row.progress, row.stage, row.status) == ("Waiting thesis one", 0, "queued", "queued")
    assert (
        row.description == "Thesis: Waiting thesis one" and row.retries_left == 3 and row.attempts_used == 0
    )
    assert row.enqueued_at == pytest.approx(time.time(), abs=30) and row.problem is None

    scheduled = run(_page(redis_url, "thesis", JobState.SCHEDULED))
    by_id = {r.id: r for r in scheduled.rows}
    assert set(by_id) == {later, backing_off.id}
    assert by_id[later].scheduled_for == pytest.approx(time.time() + 120, abs=30)
    retrying = by_id[backing_off.id]
    assert retrying.scheduled_for == pytest.approx(time.time() + 600, abs=30)
    assert (retrying.attempts_used, retrying.retries_left, retrying.status) == (1, 0, "scheduled")
    assert [r.scheduled_for for r in scheduled.rows] == sorted(r.scheduled_for for r in scheduled.rows)

    completed = run(_page(redis_url, "thesis", JobState.COMPLETED))
    assert [r.id for r in completed.rows] == [done[1].id, done[0].id]  # newest first
    assert all(r.duration_s is not None and r.duration_s >= 0 and r.worker for r in completed.rows)
    assert completed.rows[0].attempts_used == 1

    failed_page = run(_page(redis_url, "thesis", JobState.FAILED))
    assert [r.id for r in failed_page.rows] == [failed.id]
    assert failed_page.rows[0].error_line == "RuntimeError: boom: planned test failure"

    deferred = run(_page(redis_url, "thesis", JobState.DEFERRED))
    assert [r.id for r in deferred.rows] == [dependent.id] and deferred.rows[0].status == "deferred"
    canceled_page = run(_page(redis_url, "thesis", JobState.CANCELED))
    assert [r.id for r in canceled_page.rows] == [canceled.id] and canceled_page.rows[0].status == "canceled"
    assert run(_page(redis_url, "thesis", JobState.ACTIVE)).total == 0


def test_page_offsets_walk_a_state_without_gaps(redis_conn, redis_url):
    ids = write_jobs(redis_conn, "thesis", JobState.FAILED, 230)
    seen = []
    for offset in range(0, 230, 50):
        page = run(_page(redis_url, "thesis", JobState.FAILED, offset, 50))
        assert page.total == 230 and page.offset == offset
        seen += [r.id for r in page.rows]
    assert seen == ids[::-1]
    beyond = run(_page(redis_url, "thesis", JobState.FAILED, 1000, 50))
    assert beyond.rows == () and beyond.total == 230


@pytest.mark.parametrize("state", [JobState.WAITING, JobState.FAILED, JobState.SCHEDULED])
def test_page_cost_in_commands_does_not_grow_with_offset(redis_conn, redis_url, state):
    count = 100_000
    ids = write_jobs(redis_conn, "thesis", state, count)
    ordered = ids[::-1] if state in (JobState.COMPLETED, JobState.FAILED) else ids
    costs = []
    for offset in (0, count // 2, count - 50):
        reset_command_stats(redis_conn)
        page = run(_page(redis_url, "thesis", state, offset, 50))
        costs.append(command_calls(redis_conn))
        assert [r.id for r in page.rows] == ordered[offset : offset + 50]
        assert page.total == count and all(r.problem is None for r in page.rows)
    assert costs[0] == costs[1] == costs[2]
    # One EXISTS per new reader asks whether the queue is BullMQ's (QueueReader.backend_of).
    assert sum(costs[0].values()) == 1 + 2 + 50 * (2 if state is JobState.FAILED else 1)
    assert costs[0]["hmget"] == 50 and costs[0]["exists"] == 1


def test_active_page_reads_the_started_registry(redis_conn, redis_url):
    ids = write_jobs(redis_conn, "thesis", JobState.ACTIVE, 3)
    page = run(_page(redis_url, "thesis", JobState.ACTIVE))
    assert [r.id for r in page.rows] == ids  # members are job_id:execution_id; rows show the job id
    assert all(r.status == "started" and r.duration_s is None and r.attempts_used == 1 for r in page.rows)


def test_broken_and_foreign_hashes_give_rows_that_say_what_is_wrong(redis_conn, redis_url):
    redis_conn.zadd(
        "rq:failed:thesis",
        {name: i for i, name in enumerate(
            ["missing", "stringy", "nostatus", "badutf", "badtime", "badmeta", "weird", "pickled", "streamless", "half"]
        )},
    )  # fmt: skip
    redis_conn.set("rq:job:stringy", "not a hash")
    born = {"origin": "thesis", "created_at": "2026-01-01T00:00:00Z"}  # what every RQ writes first
    redis_conn.hset("rq:job:nostatus", mapping={**born, "description": "no status here"})
    redis_conn.hset("rq:job:badutf", mapping={**born, "status": "failed", "description": b"caf\xe9 \xff"})
    redis_conn.hset("rq:job:badtime", mapping={**born, "status": "failed", "started_at": "yesterday"})
    redis_conn.hset("rq:job:badmeta", mapping={**born, "status": "failed", "meta": b"\x00\xffjunk"})
    redis_conn.hset("rq:job:weird", mapping={**born, "status": "exploded", "retries_left": "many"})
    redis_conn.hset(
        "rq:job:pickled", mapping={**born, "status": "failed", "meta": pickle.dumps({"progress": 50})}
    )
    redis_conn.hset("rq:job:streamless", mapping={**born, "status": "failed"})
    redis_conn.hset("rq:job:half", mapping={"status": "failed"})
    redis_conn.set("rq:results:streamless", "not a stream")
    redis_conn.hset(
        "bull:thesis:1", mapping={"name": "bullmq job", "data": "{}"}
    )  # another queue system's key

    page = run(_page(redis_url, "thesis", JobState.FAILED))
    problems = {r.id: r.problem for r in page.rows}
    assert len(page.rows) == 10
    assert problems["half"] == "half-written hash: origin, created_at missing"
    assert problems["missing"] == "job hash missing"
    assert problems["stringy"] == "rq:job:stringy is not a hash (a foreign or damaged key)"
    assert problems["nostatus"] == "status field missing"
    assert problems["badutf"] == "not UTF-8 in field description"
    assert problems["badtime"] == "not a time in field started_at"
    assert problems["badmeta"] == "meta is neither JSON nor pickle"
    assert problems["weird"] == "unknown status 'exploded'; not a whole number in field retries_left"
    assert problems["pickled"] is None and problems["streamless"] is None
    pickled = next(r for r in page.rows if r.id == "pickled")
    assert pickled.progress is None  # pickled meta is not unpickled, so its progress stays unknown
    assert next(r for r in page.rows if r.id == "nostatus").description == "no status here"


def test_a_queue_key_of_the_wrong_type_gives_an_empty_page(redis_conn, redis_url):
    redis_conn.hset("rq:queue:strange", "a", "b")
    page = run(_page(redis_url, "strange", JobState.WAITING))
    assert page.total == 0 and page.rows == ()


def test_bad_page_arguments_are_refused_with_a_message(redis_conn, redis_url):
    with pytest.raises(CoreError, match="offset must be"):
        run(_page(redis_url, "thesis", JobState.WAITING, -1))
    with pytest.raises(CoreError, match="limit must be 1 to 1000"):
        run(_page(redis_url, "thesis", JobState.WAITING, 0, 0))
    with pytest.raises(CoreError, match="unknown state 'sleeping'"):
        run(_page(redis_url, "thesis", "sleeping", 0, 10))  # type: ignore[arg-type]


def test_jobs_of_other_producers_and_serializers_page_like_ours(redis_conn, redis_url):
    pickle_queue = Queue("legacy", connection=redis_conn)  # RQ's default serializer: pickle
    job = pickle_queue.enqueue("tests.jobs.sleep_for", 1, description="legacy pickled job")
    scheduled = pickle_queue.enqueue_in(timedelta(seconds=30), "tests.jobs.noop")
    page = run(_page(redis_url, "legacy", JobState.WAITING))
    assert page.rows[0].id == job.id and page.rows[0].description == "legacy pickled job"
    assert page.rows[0].problem is None and page.rows[0].progress is None
    assert run(_page(redis_url, "legacy", JobState.SCHEDULED)).rows[0].id == scheduled.id


def test_jobs_a_thesis_worker_would_refuse_are_flagged(redis_conn, redis_url, monkeypatch):
    monkeypatch.setenv(ALLOW_ENV, "tests.jobs.noop")
    queue = contract.thesis_queue(redis_conn)
    ours = enqueue_thesis(redis_conn, ThesisRequest(topic="A sound thesis"))
    allowed = queue.enqueue("tests.jobs.noop").id
    shell = queue.enqueue("os.system", "touch /tmp/x").id
    builtin = queue.enqueue("eval", "1 + 1").id
    callback = queue.enqueue("tests.jobs.noop", on_failure=Callback("os.system")).id
    big = queue.enqueue("subprocess.run", ["x" * 100_000]).id  # the name is read from the data's head only

    rows = {r.id: r for r in run(_page(redis_url, "thesis", JobState.WAITING)).rows}
    assert rows[ours].problem is None and rows[allowed].problem is None
    assert rows[shell].problem == "function not allowed: os.system"
    assert rows[builtin].problem == "function not allowed: eval"
    assert rows[callback].problem == "failure callback not allowed: os.system"
    assert rows[big].problem == "function not allowed: subprocess.run"

    monkeypatch.setenv(ALLOW_ENV, "")  # the console flags against the same variable the workers read
    rows = {r.id: r for r in run(_page(redis_url, "thesis", JobState.WAITING)).rows}
    assert rows[allowed].problem == "function not allowed: tests.jobs.noop" and rows[ours].problem is None


@pytest.mark.parametrize("state", [JobState.WAITING, JobState.COMPLETED, JobState.SCHEDULED])
def test_reversed_pages_mirror_the_forward_order_at_any_depth(redis_conn, redis_url, state):
    """Oldest first where the state is newest first and back: the same ids, mirrored, in the same two round trips."""
    total = 5_000
    write_jobs(redis_conn, "thesis", state, total)

    async def pages() -> tuple[list[str], list[JobPage]]:
        client = aioredis.Redis.from_url(redis_url, decode_responses=False)
        try:
            reader = QueueReader(client, timeout_s=READ_TIMEOUT_S)
            forward: list[str] = []
            for offset in range(0, total, 1000):
                forward += [r.id for r in (await reader.page("thesis", state, offset, 1000)).rows]
            reset_command_stats(redis_conn)
            mirrored = [
                await reader.page("thesis", state, offset, 50, reverse=True) for offset in (0, 2_470, 4_990)
            ]
            return forward, mirrored
        finally:
            await client.aclose()

    forward, (head, middle, tail) = run(pages())
    backwards = forward[::-1]
    assert [r.id for r in head.rows] == backwards[:50] and head.total == total
    assert [r.id for r in middle.rows] == backwards[2_470:2_520]
    assert [r.id for r in tail.rows] == backwards[4_990:] and tail.offset == 4_990
    calls = command_calls(redis_conn)
    assert calls.get("hmget") == 110 and not calls.get("hgetall")  # only the rows asked for were read


@pytest.mark.parametrize("state", [JobState.WAITING, JobState.FAILED])
def test_a_jobs_position_is_its_row_in_the_page_order(redis_conn, redis_url, state):
    ids = write_jobs(redis_conn, "thesis", state, 3_000)

    async def positions() -> tuple[list[int | None], list[JobPage]]:
        client = aioredis.Redis.from_url(redis_url, decode_responses=False)
        try:
            reader = QueueReader(client, timeout_s=READ_TIMEOUT_S)
            found = [await reader.position("thesis", state, ids[1234], reverse=r) for r in (False, True)]
            found.append(await reader.position("thesis", state, "no-such-job"))
            pages = [await reader.page("thesis", state, p, 1, reverse=r) for p, r in zip(found[:2], (False, True), strict=True)]
            return found, pages
        finally:
            await client.aclose()

    (forward, backward, missing), pages = run(positions())
    assert forward + backward == 2_999 and missing is None
    assert [p.rows[0].id for p in pages] == [ids[1234], ids[1234]]
