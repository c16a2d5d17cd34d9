"""Supervised Python BullMQ workers on the thesis system's queue, beside the real Node producer and worker."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time

import psutil
import pytest

from tests.core.bullmq.test_reader import run
from tests.helpers import wait_for
from tests.node_bullmq import NodeWorker, produce
from thesis_console.core.reader import QueueReader
from thesis_console.core.types import JobState

QUEUE = "thesis-generation"
KEYS = f"bull:{QUEUE}"


def _start(supervisors, *args: str, suffix: str = "a", env: dict[str, str] | None = None):
    return supervisors("--backend", "bullmq", "--queue", QUEUE, *args, suffix=suffix, env=env)


def _python_workers(sup) -> list[psutil.Process]:
    try:
        children = psutil.Process(sup.pid).children()
    except psutil.NoSuchProcess:
        return []
    found = []
    for child in children:
        try:
            if child.status() != psutil.STATUS_ZOMBIE and "bullmq_worker_main" in " ".join(child.cmdline()):
                found.append(child)
        except psutil.NoSuchProcess:
            continue
    return found


def _wait_live(sup, conn, count: int) -> None:
    def settled() -> bool:
        record = sup.record(conn)
        return record is not None and record.live == count and len(_python_workers(sup)) == count

    wait_for(settled, 60, message=f"{count} live BullMQ workers")


def _events(conn, kind: str) -> list[dict[str, str]]:
    entries = conn.xrange(f"{KEYS}:events")
    decoded = [{k.decode(): v.decode() for k, v in fields.items()} | {"_id": eid.decode()} for eid, fields in entries]
    return [e for e in decoded if e["event"] == kind]


def _completions(conn) -> dict[str, int]:
    counts: dict[str, int] = {}
    for event in _events(conn, "completed"):
        counts[event["jobId"]] = counts.get(event["jobId"], 0) + 1
    return counts


def _jobs(prefix: str, count: int, **extra) -> list[dict]:
    return [{"thesisId": f"{prefix}-{i}", "topic": f"Thesis number {i}", "chapters": 3, **extra} for i in range(count)]


@pytest.mark.slow(20)
def test_node_produced_jobs_are_completed_by_python_workers_with_progress_10_to_100(redis_conn, redis_url, supervisors):
    sup = _start(supervisors, "-n", "3")
    _wait_live(sup, redis_conn, 3)
    slow_ids = produce(redis_url, _jobs("slow", 3, options={"pace_s": 1.0}, workMs=5, plan="gold"))
    active = wait_for(
        lambda: [r for r in run(redis_url, lambda c: QueueReader(c).page(QUEUE, JobState.ACTIVE, 0, 50)).rows if r.progress == 10],
        timeout=30,
        message="a Python worker's job active at 10 %",
    )
    assert active[0].id in slow_ids
    wait_for(lambda: all(_completions(redis_conn).get(i) == 1 for i in slow_ids), timeout=60, message="all completed")
    done = run(redis_url, lambda c: QueueReader(c).page(QUEUE, JobState.COMPLETED, 0, 50)).rows
    assert {r.id for r in done} == set(slow_ids) and all(r.progress == 100 for r in done)
    detail = run(redis_url, lambda c: QueueReader(c).detail(slow_ids[0], QUEUE))
    assert detail.result.value["thesisId"] == "slow-0" and detail.result.value["chapters"] == 3
    assert detail.meta.value["attempts"] == 3  # the producer's options, untouched
    progress = [json.loads(e["data"]) for e in _events(redis_conn, "progress") if e["jobId"] == slow_ids[0]]
    assert progress[0] == 10 and progress[-1] == 100 and progress == sorted(progress) and len(progress) > 2
    logs = "".join(p.read_text() for p in sup.log_dir.glob("*.log"))
    said = logs.count("ignoring field(s) the thesis request does not have: plan, workMs")
    assert 1 <= said <= 3  # once per worker that took one of the jobs


@pytest.mark.slow(12)
def test_a_bad_payload_or_another_job_name_fails_at_once_without_retries(redis_conn, redis_url, supervisors):
    sup = _start(supervisors, "-n", "1")
    (bad,) = produce(redis_url, [{"thesisId": "bad", "topic": "A fine topic", "chapters": 40}])
    other = asyncio.run(_add_other_job(redis_url))
    wait_for(lambda: redis_conn.zcard(f"{KEYS}:failed") == 2, timeout=30, message="both jobs failed")
    reasons = {i: redis_conn.hget(f"{KEYS}:{i}", "failedReason").decode() for i in (bad, other)}
    assert "not a valid thesis request" in reasons[bad] and "chapters" in reasons[bad]
    assert "'send-invoice' is not the thesis job's ('generate-thesis')" in reasons[other]
    assert {int(redis_conn.hget(f"{KEYS}:{i}", "atm")) for i in (bad, other)} == {1}  # no retry
    assert sup.proc.poll() is None


async def _add_other_job(url: str) -> str:
    from bullmq import Queue

    queue = Queue(QUEUE, {"connection": url})
    try:
        job = await queue.add("send-invoice", {"thesisId": "x", "topic": "An invoice"}, {"attempts": 3})
        return str(job.id)
    finally:
        await queue.close()


@pytest.mark.slow(16)
def test_a_job_failing_twice_then_succeeding_follows_the_producers_2_and_4_s_backoff(redis_conn, redis_url, supervisors):
    _start(supervisors, "-n", "2")
    (job_id,) = produce(redis_url, _jobs("flaky", 1, options={"fail_times": 2}))
    wait_for(lambda: _completions(redis_conn).get(job_id) == 1, timeout=40, message="the flaky job completed")
    traces = json.loads(redis_conn.hget(f"{KEYS}:{job_id}", "stacktrace"))
    assert len(traces) == 2 and all(f"planned failure on attempt {n} of 2" in t for n, t in zip((1, 2), traces, strict=True))
    delays = [int(e["delay"]) - int(e["_id"].split("-")[0]) for e in _events(redis_conn, "delayed") if e["jobId"] == job_id]
    assert len(delays) == 2 and 1900 <= delays[0] <= 2100 and 3900 <= delays[1] <= 4100
    assert int(redis_conn.hget(f"{KEYS}:{job_id}", "atm")) == 3


@pytest.mark.slow(30)
def test_resize_3_to_6_to_2_live_under_load_runs_every_job_once(redis_conn, redis_url, supervisors):
    sup = _start(supervisors, "-n", "3")
    _wait_live(sup, redis_conn, 3)
    ids = produce(redis_url, _jobs("load", 40, options={"pace_s": 0.1}))
    assert sup.send("resize 6")["ok"]
    _wait_live(sup, redis_conn, 6)
    ctl = [sys.executable, "-m", "worker_runner", "ctl", "resize", "--id", sup.id, "--url", redis_url, "2"]
    done = subprocess.run(ctl, capture_output=True, text=True, timeout=60, check=False)  # through Redis
    assert done.returncode == 0, done.stderr
    _wait_live(sup, redis_conn, 2)
    wait_for(lambda: len(_completions(redis_conn)) == len(ids), timeout=90, message="every job completed")
    assert _completions(redis_conn) == dict.fromkeys(ids, 1)


@pytest.mark.slow(20)
def test_a_sigkilled_python_workers_job_goes_back_at_once_and_completes_exactly_once(redis_conn, redis_url, supervisors):
    sup = _start(supervisors, "-n", "1")
    _wait_live(sup, redis_conn, 1)
    (job_id,) = produce(redis_url, _jobs("victim", 1, options={"pace_s": 0.5}))
    wait_for(lambda: redis_conn.lrange(f"{KEYS}:active", 0, -1) == [job_id.encode()], timeout=30, message="job active")
    (worker,) = _python_workers(sup)
    os.kill(worker.pid, signal.SIGKILL)
    back = wait_for(
        lambda: [e for e in _events(redis_conn, "waiting") if e["jobId"] == job_id and e.get("prev") == "active"],
        timeout=25,  # BullMQ's own stalled check would take 30 s or more (the lock's life)
        message="the killed worker's job back in wait",
    )
    assert len(back) == 1
    wait_for(lambda: _completions(redis_conn).get(job_id) == 1, timeout=60, message="the job completed")
    assert _completions(redis_conn) == {job_id: 1}
    assert not [e for e in _events(redis_conn, "stalled") if e["jobId"] == job_id]
    logs = "".join(p.read_text() for p in sup.log_dir.glob("*.log")) + sup.stderr_text()
    assert f"job {job_id} of dead worker" in logs and "is back in wait" in logs


@pytest.mark.slow(40)
def test_node_and_python_workers_share_the_queue_without_running_a_job_twice(redis_conn, redis_url, supervisors):
    # Both kinds of worker wait on the queue before the jobs arrive: a Node worker started first
    # would otherwise take all 300 short jobs while the Python workers are still starting.
    sup = _start(supervisors, "-n", "3")
    _wait_live(sup, redis_conn, 3)
    node = NodeWorker(redis_url)
    try:
        node.wait_ready()
        ids = produce(redis_url, _jobs("shared", 300, workMs=20))
        wait_for(lambda: len(_completions(redis_conn)) == len(ids), timeout=120, message="all 300 jobs completed")
    finally:
        node.stop()
    assert _completions(redis_conn) == dict.fromkeys(ids, 1)
    returned = [json.loads(e["returnvalue"]) for e in _events(redis_conn, "completed")]
    by_python = sum(1 for r in returned if "backend" in r)  # a Python worker's result names its back-end
    assert 0 < by_python < len(ids)


@pytest.mark.slow(30)
def test_autoscale_follows_the_bullmq_depth_and_the_workers_record_bullmqs_own_metrics(redis_conn, redis_url, supervisors):
    sup = _start(supervisors, "--autoscale", "1:4")
    _wait_live(sup, redis_conn, 1)
    ids = produce(redis_url, _jobs("deep", 16, options={"pace_s": 0.3}))
    wait_for(lambda: (r := sup.record(redis_conn)) is not None and r.desired == 4, timeout=30, message="grown to 4")
    wait_for(lambda: len(_completions(redis_conn)) == len(ids), timeout=90, message="every job completed")
    _wait_live(sup, redis_conn, 1)  # shrunk back after the cooldown
    assert _completions(redis_conn) == dict.fromkeys(ids, 1)
    assert int(redis_conn.hget(f"{KEYS}:metrics:completed", "count")) == len(ids)


@pytest.mark.slow(25)
def test_a_warm_stop_finishes_the_job_and_a_hard_stop_puts_it_back_in_wait(redis_conn, redis_url, supervisors):
    sup = _start(supervisors, "-n", "1")
    _wait_live(sup, redis_conn, 1)
    (first,) = produce(redis_url, _jobs("warm", 1, options={"pace_s": 0.4}))
    wait_for(lambda: redis_conn.llen(f"{KEYS}:active") == 1, timeout=30, message="job active")
    assert sup.terminate() == 0
    assert _completions(redis_conn) == {first: 1}

    sup = _start(supervisors, "-n", "1", suffix="b")
    _wait_live(sup, redis_conn, 1)
    (second,) = produce(redis_url, _jobs("hard", 1, options={"pace_s": 2.0}))
    wait_for(lambda: redis_conn.llen(f"{KEYS}:active") == 1, timeout=30, message="job active")
    assert sup.send("stop now")["ok"]
    assert sup.proc.wait(30) == 0
    assert redis_conn.lrange(f"{KEYS}:wait", 0, -1) == [second.encode()] and redis_conn.llen(f"{KEYS}:active") == 0
    assert second not in _completions(redis_conn)


def test_sigkilling_the_supervisor_leaves_no_bullmq_worker_behind(redis_conn, supervisors):
    sup = _start(supervisors, "-n", "2")
    _wait_live(sup, redis_conn, 2)
    pids = [p.pid for p in _python_workers(sup)]
    sup.proc.kill()
    sup.proc.wait(10)
    wait_for(lambda: not any(map(_alive, pids)), timeout=10, message="the workers gone with their supervisor")


def _alive(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


@pytest.mark.slow(10)
def test_a_job_whose_stored_data_is_not_json_fails_with_a_reason_and_the_worker_carries_on(redis_conn, redis_url, supervisors):
    broken, fine = produce(redis_url, _jobs("stored", 2))
    redis_conn.hset(f"{KEYS}:{broken}", "data", "{not json")
    sup = _start(supervisors, "-n", "1")
    wait_for(lambda: _completions(redis_conn).get(fine) == 1, timeout=30, message="the good job completed")
    reason = redis_conn.hget(f"{KEYS}:{broken}", "failedReason").decode()
    assert "the job's stored data is not JSON" in reason and int(redis_conn.hget(f"{KEYS}:{broken}", "atm")) == 1
    assert redis_conn.zscore(f"{KEYS}:failed", broken) is not None and sup.proc.poll() is None


@pytest.mark.slow(12)
def test_a_thesis_enqueued_by_the_console_is_completed_by_a_python_worker(redis_conn, redis_url, supervisors):
    import redis.asyncio as aioredis

    from thesis_console.core.bullmq.actions import BullActions
    from thesis_console.core.thesis_request import ThesisRequest

    produce(redis_url, _jobs("known", 1))  # the queue exists, as on the thesis system's Redis

    async def enqueue() -> str:
        client = aioredis.Redis.from_url(redis_url)
        actions = BullActions(client, "bull", read_only=False)
        try:
            return await actions.enqueue(QUEUE, ThesisRequest(topic="A thesis from the console", chapters=3), thesis_id="c1")
        finally:
            await actions.close()
            await client.aclose()

    job_id = asyncio.run(enqueue())
    _start(supervisors, "-n", "1")
    wait_for(lambda: _completions(redis_conn).get(job_id) == 1, timeout=30, message="the console's job completed")
    detail = run(redis_url, lambda c: QueueReader(c).detail(job_id, QUEUE))
    assert detail.row.progress == 100 and detail.result.value["thesisId"] == "c1" and detail.result.value["chapters"] == 3


@pytest.mark.slow(15)
def test_bullmqs_metrics_recorded_by_python_workers_keep_7_days_of_per_minute_points(redis_conn, redis_url, supervisors):
    # BullMQ's moveToFinished pushes one point per minute since the previous completion (zeros for
    # the quiet minutes) and trims the list to the Worker's metrics.maxDataPoints. Moving the
    # previous completion's time back stands in for days going by.
    week = 7 * 24 * 60
    day_ms = 24 * 3600 * 1000
    _start(supervisors, "-n", "1")
    for kind, opts, options in (("completed", None, {}), ("failed", {"attempts": 1}, {"fail_always": True})):
        meta, points = f"{KEYS}:metrics:{kind}", f"{KEYS}:metrics:{kind}:data"
        for n, days_back, length in ((1, 0, 0), (2, 3, 3 * 24 * 60), (3, 8, week)):
            if days_back:
                redis_conn.hset(meta, "prevTS", int(time.time() * 1000) - days_back * day_ms)
            produce(redis_url, _jobs(f"{kind}-{n}", 1, options=options), opts=opts)
            wait_for(lambda m=meta, c=str(n).encode(): redis_conn.hget(m, "count") == c, timeout=30, message=f"job {n} {kind}")
            assert redis_conn.llen(points) == length, f"{kind} after {n} jobs"
        assert sum(int(p) for p in redis_conn.lrange(points, 0, -1)) == 1  # the one job since the week-old one


@pytest.mark.slow(35)
def test_busy_python_workers_take_jobs_again_within_a_second_or_two_of_a_redis_restart(own_redis, supervisors):
    server = own_redis(appendfsync="always")
    conn = server.client()
    sup = _start(supervisors, "-n", "2", env={"REDIS_URL": server.url})
    _wait_live(sup, conn, 2)
    workers = sorted(p.pid for p in _python_workers(sup))
    ids = produce(server.url, _jobs("outage", 40, options={"pace_s": 0.05}))
    wait_for(lambda: len(_completions(conn)) >= 3, timeout=30, message="the workers busy with the jobs")
    server.kill()
    # The package's own back-off waits 2, 4, 8, 16 s between tries of a command: after this outage,
    # the workers' next tries would come 14 s after Redis is back. Nothing to wait for but time.
    time.sleep(16)
    server.start()
    conn = server.client()
    before = len(_completions(conn))
    wait_for(lambda: len(_completions(conn)) > before, timeout=8, message="a job completed soon after Redis came back")
    wait_for(lambda: len(_completions(conn)) == len(ids), timeout=60, message="every job completed")
    assert _completions(conn) == dict.fromkeys(ids, 1)
    assert sorted(p.pid for p in _python_workers(sup)) == workers  # the same processes outlived the outage
    conn.close()
