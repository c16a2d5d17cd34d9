"""The alert rules on BullMQ queues, read from BullMQ's own keys, against a real redis-server with real
Node BullMQ workers: waiting jobs and no worker (and not with a Node worker serving the queue, nor
when the server refuses CLIENT LIST), depth and oldest waiting, failures above the rate from BullMQ's
own metrics, and a job that stops reporting progress while its worker lives."""

from __future__ import annotations

import asyncio
import time
from dataclasses import replace

import pytest
import redis.asyncio as aioredis
from bullmq import Queue

from tests.core.bulk_jobs import command_calls, reset_command_stats, run
from tests.core.bullmq.bull_jobs import QUEUE, activate, add_jobs, pause, write_bulk
from tests.helpers import wait_for
from tests.node_bullmq import NodeWorker
from thesis_console.core import contract, metrics_store
from thesis_console.core.alerts.conditions import Condition, evaluate
from thesis_console.core.alerts.rules import AlertRules, RuleKind, RuleSettings, Severity
from thesis_console.core.alerts.tracker import AlertTracker
from thesis_console.core.alerts.watch import evaluate_once, read_for_rules
from thesis_console.core.alerts.watch_data import ROUND_TRIPS, MinuteCache, WatchData
from thesis_console.core.bullmq.keys import depth_metrics_name
from thesis_console.core.embedded_redis import EmbeddedRedis
from thesis_console.core.reader import QueueReader
from thesis_console.core.types import Backend, JobState

RULES = AlertRules(
    tuple(
        (kind, RuleSettings(severity=Severity.WARNING, threshold=t, for_s=0, cooldown_s=600, window_s=w, min_ended=m))
        for kind, t, w, m in (
            (RuleKind.FAILURE_RATE, 0.2, 900, 10),
            (RuleKind.WAITING_DEPTH, 3, 0, 0),
            (RuleKind.OLDEST_WAITING, 0, 0, 0),
            (RuleKind.NO_WORKER, 0, 0, 0),
            (RuleKind.STUCK_JOB, 2, 0, 0),
            (RuleKind.SUPERVISOR_SILENT, 30, 0, 0),
        )
    )
)


@pytest.fixture
def redis_server(private_redis_server: EmbeddedRedis) -> EmbeddedRedis:
    """This module counts the server's commands and changes its users: a server of its own per test."""
    return private_redis_server


def read(url: str, rules: AlertRules = RULES, cache: MinuteCache | None = None) -> WatchData:
    async def body() -> WatchData:
        client = aioredis.Redis.from_url(url, decode_responses=False)
        try:
            return await read_for_rules(QueueReader(client), rules, cache=cache)
        finally:
            await client.aclose()

    return run(body())


def found(url: str, rules: AlertRules = RULES) -> dict[RuleKind, Condition]:
    return {c.rule: c for c in evaluate(read(url, rules), rules, time.time())}


def kinds(items) -> set[RuleKind]:
    return {getattr(i, "condition", i).rule for i in items}


def thesis(n: int, **data) -> list[tuple[dict, dict]]:
    return [({"thesisId": f"t-{i}", "topic": f"topic {i}", **data}, {}) for i in range(n)]


def live_node_worker(url: str, **options) -> NodeWorker:
    worker = NodeWorker(url, options=options or None)
    worker.wait_ready()
    return worker


def test_waiting_jobs_and_no_worker_fire_and_a_node_worker_serving_the_queue_clears_it(redis_conn, redis_url):
    add_jobs(redis_url, thesis(5, workMs=60_000))
    rq = contract.thesis_queue(redis_conn)  # an RQ queue beside it, with no worker either
    rq.enqueue("tests.jobs.noop")
    data = read(redis_url)
    bull = data.queue(QUEUE, Backend.BULLMQ)
    assert bull is not None and bull.backend is Backend.BULLMQ and data.snapshot.queue(QUEUE).waiting == 5
    no_worker = {c.queue: c for c in evaluate(data, RULES, time.time()) if c.rule is RuleKind.NO_WORKER}
    assert no_worker[QUEUE].message == f"{QUEUE}: 5 jobs waiting and no live worker serves the queue"
    assert "thesis" in no_worker
    tracker = AlertTracker()
    started = evaluate_once(data, RULES, tracker).update.started
    assert {(a.condition.rule, a.condition.queue) for a in started} >= {(RuleKind.NO_WORKER, QUEUE)}

    worker = live_node_worker(redis_url)
    try:
        # Concurrency 3: three run, two still wait, and the queue has a live Node worker.
        wait_for(lambda: read(redis_url).snapshot.queue(QUEUE).active == 3, 30, message="three jobs taken")
        now = found(redis_url)
        assert RuleKind.NO_WORKER in now and now[RuleKind.NO_WORKER].queue == "thesis"  # RQ's still fires
        assert not [c for c in evaluate(read(redis_url), RULES, time.time())
                    if c.rule is RuleKind.NO_WORKER and c.queue == QUEUE]  # fmt: skip
        ended = evaluate_once(read(redis_url), RULES, tracker).update.ended
        assert [(r.rule, r.queue) for r in ended if r.rule is RuleKind.NO_WORKER] == [(RuleKind.NO_WORKER, QUEUE)]
        assert read(redis_url).snapshot.queue(QUEUE).waiting == 2
    finally:
        worker.stop(graceful=False)


def test_a_refused_client_list_gives_no_false_no_worker_alert(redis_conn, redis_server):
    add_jobs(redis_server.url, thesis(3))
    redis_conn.acl_setuser("console", enabled=True, passwords=["+secret"], keys=["*"], channels=["*"],
                           commands=["+@all", "-client", "+client|setname", "+client|getname", "+client|id"])  # fmt: skip
    url = redis_server.url.replace("redis://", "redis://console:secret@")
    data = read(url)
    assert data.snapshot.queue(QUEUE).waiting == 3 and "refused CLIENT LIST" in (data.snapshot.bullmq_workers_problem or "")
    conditions = {c.rule for c in evaluate(data, RULES, time.time())}
    assert RuleKind.NO_WORKER not in conditions  # unknown, not "no worker"
    assert {RuleKind.OLDEST_WAITING} <= conditions  # the other rules still watch the queue
    assert RuleKind.NO_WORKER in {c.rule for c in evaluate(read(redis_server.url), RULES, time.time())}


def test_depth_and_oldest_waiting_over_wait_paused_and_prioritized(redis_conn, redis_url):
    ids = add_jobs(redis_url, thesis(3) + [({"thesisId": "urgent"}, {"priority": 1})] * 2)
    tracker = AlertTracker()
    data = read(redis_url)
    first = evaluate_once(data, RULES, tracker).update
    assert kinds(first.started) >= {RuleKind.WAITING_DEPTH, RuleKind.OLDEST_WAITING}
    watch = data.queue(QUEUE, Backend.BULLMQ)
    assert watch is not None and watch.head_job == ids[0]  # the oldest of wait's next and prioritized's next
    assert watch.head_enqueued_at is not None and abs(watch.head_enqueued_at - time.time()) < 60
    depth = next(c for c in evaluate(data, RULES, time.time()) if c.rule is RuleKind.WAITING_DEPTH)
    assert depth.value == 5 and depth.message.startswith(f"{QUEUE}: 5 jobs waiting (limit 3)")
    pause(redis_url)  # BullMQ's pause moves wait to paused: still waiting
    paused = read(redis_url)
    assert paused.snapshot.queue(QUEUE).waiting == 5 and paused.queue(QUEUE).head_job == ids[0]  # type: ignore[union-attr]

    async def drain() -> None:
        q = Queue(QUEUE, {"connection": redis_url})
        try:
            await q.obliterate({"force": True})
        finally:
            await q.close()

    asyncio.run(drain())
    cleared = evaluate_once(read(redis_url), RULES, tracker).update
    assert kinds(cleared.ended) >= {RuleKind.WAITING_DEPTH, RuleKind.OLDEST_WAITING, RuleKind.NO_WORKER}


def test_bullmq_queues_add_one_round_trip_and_no_write(redis_conn, redis_url):
    add_jobs(redis_url, thesis(2))
    contract.thesis_queue(redis_conn).enqueue("tests.jobs.noop")
    read(redis_url)  # the BullMQ queues are found once (a key scan), then reused
    reset_command_stats(redis_conn)
    data = read(redis_url)
    calls = command_calls(redis_conn)
    assert data.round_trips == ROUND_TRIPS + 1  # the BullMQ counts and CLIENT LIST
    assert not {"hset", "hincrby", "zadd", "set", "del", "lpush", "rpush", "expire", "zrem", "srem", "sadd"} & set(calls)


def _finished(url: str) -> int:
    counts = read(url).snapshot.queue(QUEUE)
    return counts.completed + counts.failed


def _metrics_count(conn, outcome: str) -> int:
    return int(conn.hget(f"bull:{QUEUE}:metrics:{outcome}", "count") or 0)


def test_failure_rate_from_bullmqs_own_metrics_fires_and_clears(redis_conn, redis_url):
    # Finished jobs are removed at once: only BullMQ's per-minute metrics know of them.
    gone = {"attempts": 1, "removeOnComplete": True, "removeOnFail": True}
    add_jobs(redis_url, [(data, gone) for data, _ in thesis(6, fail=True, workMs=1) + thesis(4, workMs=1)])
    worker = live_node_worker(redis_url, metrics={"maxDataPoints": 100})
    try:
        wait_for(lambda: _metrics_count(redis_conn, "failed") + _metrics_count(redis_conn, "completed") == 10, 60,
                 message="10 jobs finished and counted by BullMQ's metrics")  # fmt: skip
        assert _finished(redis_url) == 0  # nothing kept
        rules, tracker = AlertRules(), AlertTracker()  # the defaults: > 20 % of at least 10 over 15 min
        fired = evaluate_once(read(redis_url, rules), rules, tracker).update
        assert [(a.condition.rule, a.condition.queue, a.condition.value) for a in fired.started] == [
            (RuleKind.FAILURE_RATE, QUEUE, 0.6)
        ]
        assert "60% of 10 ended jobs failed in the last 15 min" in fired.started[0].condition.message
        add_jobs(redis_url, [(data, gone) for data, _ in thesis(30, workMs=1)])
        wait_for(lambda: _metrics_count(redis_conn, "completed") == 34, 60, message="30 more jobs completed")
        cleared = evaluate_once(read(redis_url, rules), rules, tracker).update
        assert cleared.firing == () and [r.rule for r in cleared.ended] == [RuleKind.FAILURE_RATE]
    finally:
        worker.stop()


def test_failure_rate_from_the_kept_finished_jobs_without_metrics(redis_conn, redis_url):
    write_bulk(redis_conn, JobState.FAILED, 8)
    write_bulk(redis_conn, JobState.COMPLETED, 4)
    rate = found(redis_url, AlertRules())[RuleKind.FAILURE_RATE]
    assert rate.queue == QUEUE and rate.value == pytest.approx(8 / 12)


def _stuck_alerts(url: str, rules: AlertRules, tracker: AlertTracker, cache: MinuteCache | None):
    return evaluate_once(read(url, rules, cache), rules, tracker).update


@pytest.mark.parametrize("remembered", [False, True], ids=["one-shot (events stream)", "repeated (progress seen)"])
def test_a_node_job_that_stops_reporting_progress_while_its_worker_lives_is_stuck(redis_conn, redis_url, remembered):
    # The Node worker reports 10 % at once, then works 25 s without a report, renewing its lock.
    (job_id,) = add_jobs(redis_url, thesis(1, workMs=25_000))
    worker = live_node_worker(redis_url, name="node-stuck")
    cache = MinuteCache() if remembered else None
    tracker = AlertTracker()
    try:
        wait_for(lambda: redis_conn.hget(f"bull:{QUEUE}:{job_id}", "progress") == b"10", 30, message="the first progress")
        reported = time.time()
        first = _stuck_alerts(redis_url, RULES, tracker, cache)
        if time.time() - reported < 1.5:
            assert RuleKind.STUCK_JOB not in kinds(first.firing)  # 2 s without progress are needed
        fired = wait_for(
            lambda: (u := _stuck_alerts(redis_url, RULES, tracker, cache)) and RuleKind.STUCK_JOB in kinds(u.started) and u,
            20, message="the stuck alert",
        )  # fmt: skip
        alert = next(a for a in fired.started if a.condition.rule is RuleKind.STUCK_JOB)
        assert alert.condition.queue == QUEUE and alert.condition.subject == job_id
        assert " at 10 % on live worker node-stuck; stop it?" in alert.condition.message
        assert alert.condition.value < time.time() - reported + 2  # measured from the report, not earlier
        wait_for(
            lambda: RuleKind.STUCK_JOB in {r.rule for r in _stuck_alerts(redis_url, RULES, tracker, cache).ended},
            60, message="the stuck alert to end once the job completes",
        )  # fmt: skip
    finally:
        worker.stop(graceful=False)


def test_a_running_job_whose_lock_is_gone_is_not_stuck(redis_conn, redis_url):
    """A job in ``active`` with no lock has no live worker (BullMQ will find it stalled)."""
    add_jobs(redis_url, thesis(1))
    (job_id,) = activate(redis_url, 1)
    redis_conn.hset(f"bull:{QUEUE}:{job_id}", "progress", "40")
    held = read(redis_url).queue(QUEUE, Backend.BULLMQ)
    assert held is not None and held.active[0].worker_alive is True and held.active[0].progress == 40
    redis_conn.delete(f"bull:{QUEUE}:{job_id}:lock")  # the worker died: its lock expired
    later = time.time() + 3600
    data = read(redis_url)
    assert data.queue(QUEUE).active[0].worker_alive is False  # type: ignore[union-attr]
    assert RuleKind.STUCK_JOB not in {c.rule for c in evaluate(data, RULES, later)}


def test_foreign_and_damaged_bullmq_keys_are_read_without_failing(redis_conn, redis_url):
    base = "bull:odd"
    redis_conn.hset(f"{base}:meta", "version", "bullmq:5.81.5")
    redis_conn.lpush(f"{base}:wait", "w1")  # a head job without a hash
    redis_conn.zadd(f"{base}:prioritized", {"p1": 1})
    redis_conn.hset(f"{base}:p1", "timestamp", "not a time")
    redis_conn.lpush(f"{base}:active", "a1", "a2")
    redis_conn.hset(f"{base}:a1", mapping={"progress": "{not json", "processedOn": "x"})
    redis_conn.set(f"{base}:a1:lock", "token")
    redis_conn.set(f"{base}:a2", "a string, not a hash")
    redis_conn.set(f"{base}:metrics:completed", "a string, not a hash")
    redis_conn.rpush(f"{base}:metrics:failed:data", "NaN", "-3")
    redis_conn.hset(f"{base}:metrics:failed", mapping={"count": "x", "prevTS": "1", "prevCount": "y"})
    redis_conn.zadd(f"{base}:failed", {"f1": "inf"})
    redis_conn.set(f"{base}:events", "a string, not a stream")
    data = read(redis_url)
    odd = data.queue("odd", Backend.BULLMQ)
    assert odd is not None and odd.head_job is None and odd.head_enqueued_at is None
    assert [(j.id, j.worker_alive, j.progress) for j in odd.active] == [("a2", False, None), ("a1", True, None)]
    assert all(b.completed == 0 for b in odd.minutes)
    found = {c.rule for c in evaluate(data, RULES, time.time() + 3600)}
    assert RuleKind.NO_WORKER in found and RuleKind.STUCK_JOB not in found  # a1's progress is not JSON: not judged


def test_depth_for_minutes_from_a_bullmq_supervisors_samples(redis_conn, redis_url):
    add_jobs(redis_url, thesis(5))
    rules = RULES.with_rule(RuleKind.WAITING_DEPTH, replace(RULES.get(RuleKind.WAITING_DEPTH), for_s=120))
    assert RuleKind.WAITING_DEPTH in kinds(evaluate_once(read(redis_url, rules), rules, AlertTracker()).update.pending)
    # A thesis-worker --backend bullmq supervisor samples the depth once a minute, under its own name.
    now = time.time()
    with redis_conn.pipeline() as pipe:
        for minutes_ago in (3, 2, 1, 0):
            metrics_store.record_depth(pipe, depth_metrics_name("bull", QUEUE), 5, now - 60 * minutes_ago)
        pipe.execute()
    assert RuleKind.WAITING_DEPTH in kinds(evaluate_once(read(redis_url, rules), rules, AlertTracker()).update.started)
