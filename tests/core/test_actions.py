"""QueueActions against a real redis-server, real RQ jobs and real worker processes."""

from __future__ import annotations

import asyncio
import contextlib
import json
import pickle
import time
import zlib
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import pytest
import redis
import redis.asyncio as aredis
from rq.job import Job
from rq.rate_limit import RateLimit
from rq.registry import (
    CanceledJobRegistry,
    DeferredJobRegistry,
    FailedJobRegistry,
    ScheduledJobRegistry,
)

from tests.burst_worker import run_burst
from tests.helpers import wait_for
from thesis_console.core import contract, supervisor_protocol
from thesis_console.core.actions import QueueActions
from thesis_console.core.embedded_redis import free_port
from thesis_console.core.policy import JobAction
from thesis_console.core.thesis_request import ThesisRequest
from thesis_console.core.types import CoreError, JobState, ReadOnlyError, RetriedJob

QUEUE = "thesis"


@contextlib.asynccontextmanager
async def acting(url: str, *, read_only: bool = False) -> AsyncIterator[QueueActions]:
    client = aredis.Redis.from_url(url)
    actions = QueueActions(client, read_only=read_only, sync_factory=lambda: redis.Redis.from_url(url))
    try:
        yield actions
    finally:
        await actions.close()
        await client.aclose()


def run(coro):
    return asyncio.run(coro)


def _queue(conn: redis.Redis, name: str = QUEUE):
    return contract.thesis_queue(conn, name)


def _status(conn: redis.Redis, job_id: str) -> str | None:
    raw = conn.hget(f"rq:job:{job_id}", "status")
    return raw.decode() if raw else None


def _waiting(conn: redis.Redis, name: str = QUEUE) -> list[str]:
    return [i.decode() for i in conn.lrange(f"rq:queue:{name}", 0, -1)]


def _failed(conn: redis.Redis, name: str = QUEUE) -> list[str]:
    return [i.decode() for i in conn.zrange(f"rq:failed:{name}", 0, -1)]


def make_failed(conn: redis.Redis, count: int, name: str = QUEUE, **options) -> list[str]:
    """Real failed jobs: enqueued on the JSON queue and run by a ThesisWorker burst."""
    ids = [_queue(conn, name).enqueue("tests.jobs.boom", **options).id for _ in range(count)]
    run_burst(conn, [name])
    assert set(_failed(conn, name)) >= set(ids)
    return ids


def fabricate_failed(
    conn: redis.Redis, template_id: str, count: int, name: str = QUEUE, prefix: str = "fab"
) -> list[str]:
    """Many failed jobs fast: copies of a real failed job's hash under new ids, pipelined."""
    template = conn.hgetall(f"rq:job:{template_id}")
    score = conn.zscore(f"rq:failed:{name}", template_id) or time.time() + 3600
    ids = [f"{prefix}-{i:06d}" for i in range(count)]
    with conn.pipeline(transaction=False) as pipe:
        for n, job_id in enumerate(ids):
            pipe.hset(f"rq:job:{job_id}", mapping=template)
            pipe.zadd(f"rq:failed:{name}", {job_id: score + n / 1000})
            if n % 2000 == 1999:
                pipe.execute()
        pipe.execute()
    return ids


# ---------------------------------------------------------------------- retry
def test_retry_does_what_rq_requeue_does(redis_conn, redis_url):
    ours, theirs = make_failed(redis_conn, 2)
    before = redis_conn.hgetall(f"rq:job:{ours}")
    assert before[b"ended_at"] and before[b"status"] == b"failed"
    redis_conn.srem("rq:queues", f"rq:queue:{QUEUE}")

    result = run(_retry(redis_url, [ours]))
    FailedJobRegistry(QUEUE, connection=redis_conn, serializer=contract.SERIALIZER).requeue(theirs)

    assert result.done == (ours,) and result.skipped == {}
    assert _waiting(redis_conn) == [ours, theirs]
    assert _failed(redis_conn) == []
    assert redis_conn.sismember("rq:queues", f"rq:queue:{QUEUE}")
    mine, rqs = redis_conn.hgetall(f"rq:job:{ours}"), redis_conn.hgetall(f"rq:job:{theirs}")
    assert set(mine) == set(rqs)
    for field in (b"status", b"started_at", b"ended_at", b"exc_info", b"origin", b"timeout", b"data"):
        assert mine[field] == rqs[field], field
    assert mine[b"status"] == b"queued" and mine[b"started_at"] == b"" and zlib.decompress(mine[b"exc_info"]) == b""
    assert abs(redis_conn.ttl(f"rq:job:{ours}") - redis_conn.ttl(f"rq:job:{theirs}")) <= 2  # both keep the expiry
    # The requeued job really runs again (and fails again, being `boom`).
    run_burst(redis_conn, [QUEUE])
    assert _status(redis_conn, ours) == "failed"


async def _retry(url: str, ids):
    async with acting(url) as actions:
        return await actions.retry(ids)


def test_retry_skips_with_reasons_and_handles_stopped_and_canceled(redis_conn, redis_url):
    failed = make_failed(redis_conn, 1)[0]
    waiting = _queue(redis_conn).enqueue("tests.jobs.noop").id
    canceled = _queue(redis_conn).enqueue("tests.jobs.noop").id
    Job.fetch(canceled, connection=redis_conn, serializer=contract.SERIALIZER).cancel()
    stopped = make_failed(redis_conn, 1)[0]
    redis_conn.hset(f"rq:job:{stopped}", "status", "stopped")  # what a stopped job looks like in RQ
    result = run(_retry(redis_url, [failed, waiting, canceled, stopped, "no-such-job", "bad:id", failed]))
    assert set(result.done) == {failed, canceled, stopped}
    assert result.skipped[waiting] == "a completed job cannot be retried; enqueue a new one"  # the burst ran it
    assert "no such job" in result.skipped["no-such-job"]
    assert "not a job id" in result.skipped["bad:id"]
    assert _waiting(redis_conn).count(failed) == 1
    assert canceled not in CanceledJobRegistry(QUEUE, connection=redis_conn).get_job_ids(cleanup=False)
    assert {_status(redis_conn, i) for i in (failed, canceled, stopped)} == {"queued"}
    again = run(_retry(redis_url, [failed]))
    assert again.done == () and again.skipped[failed] == "already queued"


def test_retry_of_rate_limited_job_goes_through_rq(redis_conn, redis_url):
    job_id = make_failed(redis_conn, 1, rate_limit=RateLimit("tests", 2))[0]
    result = run(_retry(redis_url, [job_id]))
    assert result.done == (job_id,)
    assert _status(redis_conn, job_id) == "queued" and _waiting(redis_conn) == [job_id]


# ---------------------------------------------------------------------- undo of a retry
def _as_it_is(conn: redis.Redis, job_id: str) -> tuple[dict, dict[str, float | None]]:
    registries = {f"rq:{name}:{QUEUE}": conn.zscore(f"rq:{name}:{QUEUE}", job_id) for name in ("failed", "canceled")}
    return conn.hgetall(f"rq:job:{job_id}"), registries


def test_undo_retry_puts_jobs_back_as_they_were(redis_conn, redis_url):
    failed, stopped = make_failed(redis_conn, 2)
    redis_conn.hset(f"rq:job:{stopped}", "status", "stopped")
    canceled = _queue(redis_conn).enqueue("tests.jobs.noop").id
    Job.fetch(canceled, connection=redis_conn, serializer=contract.SERIALIZER).cancel()
    redis_conn.expire(f"rq:job:{failed}", 5000)
    ids = [failed, stopped, canceled]
    before = {i: _as_it_is(redis_conn, i) for i in ids}
    assert redis_conn.hget(f"rq:job:{failed}", "exc_info") != zlib.compress(b"")  # the traceback, cleared by a retry

    async def body():
        async with acting(redis_url) as actions:
            retried = await actions.retry(ids)
            undone = await actions.undo_retry(retried.undo)
            again = await actions.undo_retry(retried.undo)
            return retried, undone, again

    retried, undone, again = run(body())
    assert set(retried.done) == set(ids) and {job.id for job in retried.undo} == set(ids)
    assert set(undone.done) == set(ids) and undone.skipped == {}
    assert {i: _as_it_is(redis_conn, i) for i in ids} == before
    assert 4990 < redis_conn.ttl(f"rq:job:{failed}") <= 5000
    assert _waiting(redis_conn) == []
    assert again.done == ()
    assert again.skipped[failed] == "changed meanwhile: it is failed now"
    assert again.skipped[canceled] == "changed meanwhile: it is canceled now"


def test_undo_retry_leaves_a_job_a_worker_has_started(redis_conn, redis_url, isolated_env, processes):
    job_id = _queue(redis_conn).enqueue("tests.jobs.sleep_for", 60, job_timeout=1).id
    run_burst(redis_conn, [QUEUE])  # it times out: failed
    assert _status(redis_conn, job_id) == "failed"

    async def retry():
        async with acting(redis_url) as actions:
            return await actions.retry([job_id])

    retried = run(retry())
    redis_conn.hset(f"rq:job:{job_id}", "timeout", 120)  # long enough to be running when undone
    processes.start("-m", "worker_runner", "--queue", QUEUE)
    wait_for(lambda: _status(redis_conn, job_id) == "started", timeout=30, message="the job to start")

    async def undo():
        async with acting(redis_url) as actions:
            return await actions.undo_retry(retried.undo)

    undone = run(undo())
    assert undone.done == () and undone.skipped == {job_id: "already started: a worker is running it"}
    assert _status(redis_conn, job_id) == "started" and job_id not in _failed(redis_conn)


def test_undo_retry_leaves_a_job_taken_from_its_queue(redis_conn, redis_url):
    job_id = make_failed(redis_conn, 1)[0]

    async def retry():
        async with acting(redis_url) as actions:
            return await actions.retry([job_id])

    retried = run(retry())
    # What a worker does first: it moves the id out of the queue, then marks the job started.
    redis_conn.lmove(f"rq:queue:{QUEUE}", f"rq:queue:{QUEUE}:intermediate")

    async def undo():
        async with acting(redis_url) as actions:
            return await actions.undo_retry(retried.undo)

    undone = run(undo())
    assert undone.skipped == {job_id: "already started: a worker has taken it from its queue"}
    assert _status(redis_conn, job_id) == "queued" and _failed(redis_conn) == []


# ---------------------------------------------------------------------- promote
def test_promote_enqueues_a_scheduled_job_now(redis_conn, redis_url):
    scheduled = _queue(redis_conn).enqueue_in(timedelta(hours=1), "tests.jobs.noop").id
    waiting = _queue(redis_conn).enqueue("tests.jobs.noop").id

    async def body():
        async with acting(redis_url) as actions:
            return await actions.promote([scheduled, waiting, "no-such-job", scheduled])

    result = run(body())
    assert result.action == "promote" and result.done == (scheduled,)
    assert result.skipped == {waiting: "a waiting job is already queued", "no-such-job": "no such job"}
    assert _waiting(redis_conn) == [waiting, scheduled]
    assert _status(redis_conn, scheduled) == "queued"
    assert ScheduledJobRegistry(QUEUE, connection=redis_conn).get_job_ids(cleanup=False) == []


# ---------------------------------------------------------------------- cancel
def test_cancel_waiting_scheduled_and_deferred_jobs(redis_conn, redis_url):
    queue = _queue(redis_conn)
    finished = queue.enqueue("tests.jobs.noop").id
    run_burst(redis_conn, [QUEUE])
    assert _status(redis_conn, finished) == "finished"
    waiting = queue.enqueue("tests.jobs.noop").id
    scheduled = queue.enqueue_in(timedelta(hours=1), "tests.jobs.noop").id
    deferred = queue.enqueue("tests.jobs.noop", depends_on=scheduled).id

    async def body():
        async with acting(redis_url) as actions:
            return await actions.cancel([waiting, scheduled, deferred, finished, "no-such-job"])

    result = run(body())
    assert set(result.done) == {waiting, scheduled, deferred}
    assert "a completed job cannot be canceled" in result.skipped[finished]
    assert result.skipped["no-such-job"] == "no such job"
    canceled = set(CanceledJobRegistry(QUEUE, connection=redis_conn).get_job_ids(cleanup=False))
    assert canceled == {waiting, scheduled, deferred}
    assert {_status(redis_conn, i) for i in canceled} == {"canceled"}
    assert _waiting(redis_conn) == []
    assert ScheduledJobRegistry(QUEUE, connection=redis_conn).get_job_ids(cleanup=False) == []
    assert DeferredJobRegistry(QUEUE, connection=redis_conn).get_job_ids(cleanup=False) == []

    async def again():
        async with acting(redis_url) as actions:
            return await actions.cancel([waiting])

    assert run(again()).skipped == {waiting: "the job is already canceled"}


# ---------------------------------------------------------------------- stop (real worker process)
def test_stop_running_job_through_a_real_worker(redis_conn, redis_url, isolated_env, processes):
    job_id = _queue(redis_conn).enqueue("tests.jobs.sleep_for", 60, job_timeout=120).id
    waiting = _queue(redis_conn).enqueue("tests.jobs.noop").id
    # One worker: the second job stays waiting behind the first (a second worker could be running it).
    processes.start("-m", "worker_runner", "--queue", QUEUE, "--concurrency", "1")
    wait_for(lambda: _status(redis_conn, job_id) == "started", timeout=30, message="the job to start")

    async def body():
        async with acting(redis_url) as actions:
            refused_delete = await actions.delete([job_id])
            refused_cancel = await actions.cancel([job_id])
            stopped = await actions.stop([job_id, waiting, "no-such-job"])
            return refused_delete, refused_cancel, stopped

    refused_delete, refused_cancel, stopped = run(body())
    assert refused_delete.skipped == {job_id: "a running job cannot be deleted; stop it first"}
    assert refused_cancel.skipped == {job_id: "a running job cannot be canceled; stop it instead"}
    assert stopped.done == (job_id,)
    assert stopped.skipped["no-such-job"] == "no such job"
    wait_for(lambda: _status(redis_conn, job_id) == "stopped", timeout=20, message="the job to be stopped")
    assert job_id in _failed(redis_conn)
    # A stopped job can be retried like a failed one.
    assert run(_retry(redis_url, [job_id])).done == (job_id,)


def test_stop_skips_jobs_whose_worker_is_gone(redis_conn, redis_url):
    job_id = _queue(redis_conn).enqueue("tests.jobs.noop").id
    redis_conn.hset(f"rq:job:{job_id}", mapping={"status": "started", "worker_name": "vanished-worker"})

    async def body():
        async with acting(redis_url) as actions:
            return await actions.stop([job_id])

    result = run(body())
    assert result.done == () and "vanished-worker is not listening" in result.skipped[job_id]


# ---------------------------------------------------------------------- delete
def test_delete_removes_every_trace(redis_conn, redis_url):
    failed = make_failed(redis_conn, 1)[0]
    waiting = _queue(redis_conn).enqueue("tests.jobs.noop").id
    dangling = "dangling-id"
    redis_conn.zadd(f"rq:failed:{QUEUE}", {dangling: time.time() + 60})
    assert redis_conn.exists(f"rq:results:{failed}")

    async def body():
        async with acting(redis_url) as actions:
            return await actions.delete([failed, waiting, dangling, "never-existed"])

    result = run(body())
    assert set(result.done) == {failed, waiting, dangling}
    assert result.skipped == {"never-existed": "no such job"}
    assert _failed(redis_conn) == [] and _waiting(redis_conn) == []
    for job_id in (failed, waiting):
        assert not redis_conn.exists(f"rq:job:{job_id}", f"rq:results:{job_id}", f"rq:executions:{job_id}")


# ---------------------------------------------------------------------- empty
def _fill(conn: redis.Redis, state: JobState) -> list[str]:
    """Jobs of ``state`` in the queue, more than one chunk of them where that is cheap."""
    queue = _queue(conn)
    if state == JobState.FAILED:
        real = make_failed(conn, 2)
        return real + fabricate_failed(conn, real[0], 2500)
    if state == JobState.COMPLETED:
        ids = [queue.enqueue("tests.jobs.noop").id for _ in range(2)]
        run_burst(conn, [QUEUE])
        return ids
    if state == JobState.WAITING:
        return [queue.enqueue("tests.jobs.noop").id for _ in range(2100)]
    if state == JobState.SCHEDULED:
        return [queue.enqueue_in(timedelta(hours=1), "tests.jobs.noop").id for _ in range(3)]
    if state == JobState.DEFERRED:
        parent = queue.enqueue_in(timedelta(hours=1), "tests.jobs.noop").id
        return [queue.enqueue("tests.jobs.noop", depends_on=parent).id for _ in range(3)]
    ids = [queue.enqueue("tests.jobs.noop").id for _ in range(3)]
    for job_id in ids:
        Job.fetch(job_id, connection=conn, serializer=contract.SERIALIZER).cancel()
    return ids


@pytest.mark.parametrize(
    ("state", "key"),
    [
        (JobState.WAITING, "rq:queue:thesis"),
        (JobState.FAILED, "rq:failed:thesis"),
        (JobState.COMPLETED, "rq:finished:thesis"),
        (JobState.SCHEDULED, "rq:scheduled:thesis"),
        (JobState.CANCELED, "rq:canceled:thesis"),
        (JobState.DEFERRED, "rq:deferred:thesis"),
    ],
)
def test_empty_one_state(redis_conn, redis_url, state, key):
    ids = _fill(redis_conn, state)
    other = _queue(redis_conn, "other").enqueue("tests.jobs.noop").id

    async def body():
        async with acting(redis_url) as actions:
            return await actions.empty(QUEUE, state)

    result = run(body())
    assert sorted(result.done) == sorted(ids)
    assert not redis_conn.exists(key)
    assert not any(redis_conn.exists(f"rq:job:{i}", f"rq:results:{i}") for i in ids[:50])
    assert redis_conn.exists(f"rq:job:{other}")  # other queues untouched


def test_empty_refuses_running_jobs_and_unknown_states(redis_url, redis_conn):
    async def body(state):
        async with acting(redis_url) as actions:
            await actions.empty(QUEUE, state)

    with pytest.raises(CoreError, match="active jobs cannot be emptied: a running job cannot be deleted"):
        run(body(JobState.ACTIVE))
    with pytest.raises(CoreError, match="unknown state"):
        run(body("sleeping"))


# ---------------------------------------------------------------------- enqueue and supervisors
def test_enqueue_goes_through_the_producer(redis_conn, redis_url):
    async def body():
        async with acting(redis_url) as actions:
            first = await actions.enqueue(ThesisRequest(topic="Queue theory"))
            front = await actions.enqueue(ThesisRequest(topic="Urgent one"), at_front=True)
            later = await actions.enqueue(ThesisRequest(topic="Later one"), queue="other", delay_s=60)
            return first, front, later

    first, front, later = run(body())
    assert _waiting(redis_conn) == [front, first]
    assert later in ScheduledJobRegistry("other", connection=redis_conn).get_job_ids(cleanup=False)
    meta = json.loads(redis_conn.hget(f"rq:job:{first}", "meta"))
    assert meta["topic"] == "Queue theory" and meta["kind"] == "thesis"


def test_supervisor_orders_reach_the_control_list(redis_conn, redis_url):
    record = supervisor_protocol.SupervisorRecord(
        id="sup-1", host="h", pid=1, queues=(QUEUE,), desired=2, live=2, workers=(), started_at=0,
        restarts=0, heartbeat_at=time.time(),
    )  # fmt: skip
    redis_conn.set(supervisor_protocol.record_key("sup-1"), record.to_json(), ex=10)

    async def body():
        async with acting(redis_url) as actions:
            await actions.resize_supervisor("sup-1", 5)
            await actions.autoscale_supervisor("sup-1", 1, 8)
            with pytest.raises(CoreError, match="concurrency"):
                await actions.resize_supervisor("sup-1", 0)
            with pytest.raises(CoreError, match="autoscale"):
                await actions.autoscale_supervisor("sup-1", 5, 2)
            with pytest.raises(CoreError, match="not running"):
                await actions.resize_supervisor("gone", 3)

    run(body())
    messages = [supervisor_protocol.parse_control(m) for m in redis_conn.lrange("thesis:supervisor:sup-1:control", 0, -1)]
    assert [(m["op"], m.get("concurrency"), m.get("min"), m.get("max")) for m in messages] == [
        ("resize", 5, None, None),
        ("autoscale", None, 1, 8),
    ]
    assert 0 < redis_conn.ttl("thesis:supervisor:sup-1:control") <= supervisor_protocol.CONTROL_TTL_S


# ---------------------------------------------------------------------- read-only and hostile data
def test_read_only_refuses_every_mutation_before_any_io():
    # Nothing listens on this port: any I/O would raise a connection error instead of ReadOnlyError.
    url = f"redis://127.0.0.1:{free_port()}/0"

    def no_sync_client() -> redis.Redis:
        raise AssertionError("a read-only action asked for a client")

    async def body():
        client = aredis.Redis.from_url(url)
        actions = QueueActions(client, read_only=True, sync_factory=no_sync_client)
        calls = {
            "enqueue": actions.enqueue(ThesisRequest(topic="Refused")),
            "retry": actions.retry(["a"]),
            "retry all failed": actions.retry_all_failed(QUEUE),
            "cancel": actions.cancel(["a"]),
            "stop": actions.stop(["a"]),
            "delete": actions.delete(["a"]),
            "promote": actions.promote(["a"]),
            "undo retry": actions.undo_retry([RetriedJob("a", "failed", "rq:failed:q", 1.0, -1, (None,) * 4)]),
            "empty": actions.empty(QUEUE, JobState.FAILED),
            "delete matches": actions.act_on_matches(JobAction.DELETE, QUEUE, JobState.FAILED, ["a"]),
            "resize": actions.resize_supervisor("s", 2),
            "autoscale": actions.autoscale_supervisor("s", 1, 2),
        }
        for name, call in calls.items():
            with pytest.raises(ReadOnlyError, match=f"read-only profile: {name} refused"):
                await call
        await client.aclose()

    run(body())


class _Tripwire:
    """Unpickling this creates a file: the proof that something unpickled data it should not have."""

    def __init__(self, path: str) -> None:
        self.path = path

    def __reduce__(self):
        return (Path.touch, (Path(self.path),))


def test_actions_never_unpickle_job_data(redis_conn, redis_url, tmp_path):
    tripwire = tmp_path / "unpickled"
    template = make_failed(redis_conn, 1)[0]
    payload = pickle.dumps(_Tripwire(str(tripwire)))
    hostile = fabricate_failed(redis_conn, template, 3)
    for job_id in hostile:
        redis_conn.hset(
            f"rq:job:{job_id}", mapping={"data": zlib.compress(payload), "meta": payload, "result": payload}
        )
    waiting = _queue(redis_conn).enqueue("tests.jobs.noop").id
    redis_conn.hset(f"rq:job:{waiting}", mapping={"data": zlib.compress(payload), "meta": payload})

    async def body():
        async with acting(redis_url) as actions:
            retried = await actions.retry([hostile[0]])
            canceled = await actions.cancel([waiting])
            deleted = await actions.delete([hostile[1], waiting])
            emptied = await actions.empty(QUEUE, JobState.FAILED)
            return retried, canceled, deleted, emptied

    retried, canceled, deleted, emptied = run(body())
    assert retried.done == (hostile[0],) and canceled.done == (waiting,)
    assert set(deleted.done) == {hostile[1], waiting} and set(emptied.done) == {template, hostile[2]}
    assert not tripwire.exists()


def test_hostile_corpus_never_breaks_a_batch(redis_conn, redis_url, tmp_path):
    from tests.corpus import hostile_data

    markers = tmp_path / "markers"
    cases = hostile_data.load(redis_conn, markers, big_args_mb=1)
    redis_conn.set("rq:job:foreign-failed", "not a hash")
    redis_conn.zadd(f"rq:failed:{hostile_data.QUEUE}", {"foreign-failed": time.time() + 60})
    ids = [c.job_id for c in cases] + ["foreign-failed"]

    async def body():
        async with acting(redis_url) as actions:
            results = {name: await getattr(actions, name)(ids) for name in ("retry", "cancel", "stop", "promote")}
            results["retry_all_failed"] = await actions.retry_all_failed(hostile_data.QUEUE)
            results["delete"] = await actions.delete(ids)
            return results

    results = run(body())
    for name, result in results.items():
        assert set(result.done) | set(result.skipped) <= set(ids), name
    assert "not a hash" in results["retry_all_failed"].skipped["foreign-failed"]
    assert results["retry"].done == ("old-rq",) and results["retry_all_failed"].done == ()
    assert "not a hash" in results["retry"].skipped["foreign-failed"]
    assert "damaged or not an RQ job" in results["cancel"].skipped["bad-types"]
    deleted = set(results["delete"].done)
    assert {"half", "ghost", "bad-types", "string-job", "foreign-failed", "evil"} <= deleted
    assert redis_conn.zcard(f"rq:wip:{hostile_data.QUEUE}") == 0  # the half-written "running" leftover
    assert redis_conn.get("rq:job:string-job") == b"I am a string"  # a foreign key is left alone
    assert redis_conn.zcard(f"rq:failed:{hostile_data.QUEUE}") == 0
    assert list(markers.iterdir()) == []
