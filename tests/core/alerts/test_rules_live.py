"""Every alert rule against a real redis-server: fires, clears, cool-down, disabled; and with real
workers: a failure burst, a queue with waiting jobs and no worker, a job that stops reporting progress
while its worker lives, and a supervisor whose heartbeat stops."""

from __future__ import annotations

import json
import os
import re
import signal
import time
from dataclasses import replace

import pytest
import redis
import redis.asyncio as aioredis
from rq import Queue, Worker
from rq.job import Job

from tests.core.bulk_jobs import command_calls, reset_command_stats, run
from tests.helpers import wait_for
from thesis_console.core import contract, metrics_store
from thesis_console.core.actions import QueueActions
from thesis_console.core.alerts.conditions import Condition, evaluate
from thesis_console.core.alerts.rules import AlertRules, RuleKind, RuleSettings, Severity
from thesis_console.core.alerts.tracker import AlertTracker
from thesis_console.core.alerts.watch import evaluate_once, read_for_rules
from thesis_console.core.alerts.watch_data import ROUND_TRIPS, MinuteCache, WatchData
from thesis_console.core.embedded_redis import EmbeddedRedis
from thesis_console.core.reader import QueueReader
from thesis_console.core.supervisor_protocol import INDEX_KEY
from worker_runner.worker import ThesisSimpleWorker

STALL_FUNCTION = "tests.jobs.stall_after_progress"


def read(url: str, rules: AlertRules) -> WatchData:
    async def body() -> WatchData:
        client = aioredis.Redis.from_url(url, decode_responses=False)
        try:
            return await read_for_rules(QueueReader(client), rules)
        finally:
            await client.aclose()

    return run(body())


def conditions(url: str, rules: AlertRules) -> list[Condition]:
    data = read(url, rules)
    return evaluate(data, rules, time.time())


def kinds(items) -> set[RuleKind]:
    return {getattr(i, "condition", i).rule for i in items}


def _rule(rules: AlertRules, kind: RuleKind, **changes) -> AlertRules:
    return rules.with_rule(kind, replace(rules.get(kind), **changes))


# ---------------------------------------------------------------------- every rule, one scene
SCENE_RULES = AlertRules(
    tuple(
        (kind, RuleSettings(severity=Severity.WARNING, threshold=t, for_s=0, cooldown_s=600, window_s=w, min_ended=m))
        for kind, t, w, m in (
            (RuleKind.FAILURE_RATE, 0.2, 900, 10),
            (RuleKind.WAITING_DEPTH, 3, 0, 0),
            (RuleKind.OLDEST_WAITING, 0, 0, 0),
            (RuleKind.NO_WORKER, 0, 0, 0),
            (RuleKind.STUCK_JOB, 30, 0, 0),
            (RuleKind.SUPERVISOR_SILENT, 30, 0, 0),
        )
    )
)


@pytest.fixture
def redis_server(private_redis_server: EmbeddedRedis) -> EmbeddedRedis:
    """This module counts the server's commands: each test gets a server of its own."""
    return private_redis_server


class Scene:
    """Redis data in which every rule's condition holds, with a way to clear and restore each one."""

    def __init__(self, conn: redis.Redis) -> None:
        self.conn = conn
        self.queue = contract.thesis_queue(conn)
        self.completed = self.failed = 0
        self.busy_worker = Worker(["busy"], connection=conn, name="w-busy")
        self.busy_worker.register_birth()
        conn.sadd("rq:queues", "rq:queue:busy")
        conn.hset("rq:job:stuck-1", mapping={"status": "started", "origin": "busy", "worker_name": "w-busy",
                                             "created_at": "2026-01-01T00:00:00.000000Z"})  # fmt: skip
        conn.zadd("rq:wip:busy", {"stuck-1:exec1": time.time() + 3600})
        for kind in RuleKind:
            self.spoil(kind)

    def _metrics(self, ok: bool, count: int) -> None:
        with self.conn.pipeline(transaction=False) as pipe:
            for _ in range(count):
                metrics_store.record_job(pipe, "thesis", ok, 2.0)
            pipe.execute()
        if ok:
            self.completed += count
        else:
            self.failed += count

    def _progress_at(self, at: float) -> None:
        meta = {"progress": 35, "stage": "chapter 2/6", "progress_at": at}
        self.conn.hset("rq:job:stuck-1", "meta", json.dumps(meta))

    def spoil(self, kind: RuleKind) -> None:
        now = time.time()
        if kind is RuleKind.FAILURE_RATE:
            self._metrics(False, max(10, self.completed))
        elif kind in (RuleKind.WAITING_DEPTH, RuleKind.OLDEST_WAITING):
            for _ in range(5):
                self.queue.enqueue("tests.jobs.noop")
        elif kind is RuleKind.NO_WORKER:
            self.conn.srem("rq:workers", "rq:worker:w-thesis")
            self.conn.delete("rq:worker:w-thesis")
            if not self.queue.count:
                self.queue.enqueue("tests.jobs.noop")
        elif kind is RuleKind.STUCK_JOB:
            self._progress_at(now - 100)
        elif kind is RuleKind.SUPERVISOR_SILENT:
            self.conn.zadd(INDEX_KEY, {"sup-x": now - 100})

    def clear(self, kind: RuleKind) -> None:
        if kind is RuleKind.FAILURE_RATE:
            self._metrics(True, self.failed * 10)
        elif kind in (RuleKind.WAITING_DEPTH, RuleKind.OLDEST_WAITING):
            self.queue.empty()
        elif kind is RuleKind.NO_WORKER:
            Worker(["thesis"], connection=self.conn, name="w-thesis").register_birth()
        elif kind is RuleKind.STUCK_JOB:
            self._progress_at(time.time())
        elif kind is RuleKind.SUPERVISOR_SILENT:
            self.conn.zadd(INDEX_KEY, {"sup-x": time.time()})


@pytest.mark.parametrize("kind", list(RuleKind))
def test_each_rule_fires_clears_cools_down_and_can_be_disabled(kind, redis_conn, redis_url):
    scene = Scene(redis_conn)
    tracker = AlertTracker()
    t0 = time.time()

    def step(offset: float, rules: AlertRules = SCENE_RULES):
        data = read(redis_url, rules)
        return tracker.update(evaluate(data, rules, time.time()), rules, t0 + offset)

    first = step(0)
    assert kinds(first.started) == set(RuleKind)  # the scene spoils every rule at once
    scene.clear(kind)
    cleared = step(10)
    assert kind not in kinds(cleared.firing) and kind in {r.rule for r in cleared.ended}
    scene.spoil(kind)
    within = step(20)
    assert kind in kinds(within.firing) and kind not in kinds(within.started)  # cool-down: no second notice
    scene.clear(kind)
    step(30)
    scene.spoil(kind)
    after = step(700)
    assert kind in kinds(after.started)  # the cool-down (600 s) is over: a new occurrence

    disabled = _rule(SCENE_RULES, kind, enabled=False)
    assert kinds(conditions(redis_url, disabled)) == set(RuleKind) - {kind}
    assert kind in {r.rule for r in step(710, disabled).ended}


def test_scene_messages_and_bounded_round_trips(redis_conn, redis_url):
    Scene(redis_conn)
    reset_command_stats(redis_conn)
    data = read(redis_url, SCENE_RULES)
    calls = command_calls(redis_conn)
    assert data.round_trips == ROUND_TRIPS
    writes = {"hset", "hincrby", "zadd", "set", "del", "lpush", "rpush", "expire", "zrem", "srem", "sadd"}
    assert not writes & set(calls)  # reading never writes
    found = {c.rule: c for c in evaluate(data, SCENE_RULES, time.time())}
    assert re.search(r"job stuck-1 has made no progress for 10\d s at 35 %", found[RuleKind.STUCK_JOB].message)
    assert found[RuleKind.STUCK_JOB].subject == "stuck-1" and "chapter 2/6" in found[RuleKind.STUCK_JOB].message
    assert found[RuleKind.NO_WORKER].message == "thesis: 10 jobs waiting and no live worker serves the queue"
    assert found[RuleKind.SUPERVISOR_SILENT].subject == "sup-x"


def test_stuck_needs_a_live_worker(redis_conn, redis_url):
    scene = Scene(redis_conn)
    scene.busy_worker.register_death()
    redis_conn.delete("rq:worker:w-busy")
    assert RuleKind.STUCK_JOB not in kinds(conditions(redis_url, SCENE_RULES))


def test_depth_for_minutes_from_stored_samples(redis_conn, redis_url):
    queue = contract.thesis_queue(redis_conn)
    for _ in range(5):
        queue.enqueue("tests.jobs.noop")
    rules = _rule(SCENE_RULES, RuleKind.WAITING_DEPTH, for_s=120)
    tracker = AlertTracker()
    data = read(redis_url, rules)
    assert kinds(evaluate_once(data, rules, tracker).update.pending) >= {RuleKind.WAITING_DEPTH}
    # The supervisors' once-a-minute depth samples show the queue was this deep for 3 minutes.
    now = time.time()
    with redis_conn.pipeline() as pipe:
        for minutes_ago in (3, 2, 1, 0):
            metrics_store.record_depth(pipe, "thesis", 5, now - 60 * minutes_ago)
        pipe.execute()
    assert RuleKind.WAITING_DEPTH in kinds(evaluate_once(read(redis_url, rules), rules, AlertTracker()).update.started)


def test_progress_time_moves_only_when_progress_changes(redis_conn):
    job = contract.thesis_queue(redis_conn).enqueue("tests.jobs.noop")
    contract.set_progress(job, 20, "outline", now=100.0)
    contract.set_progress(job, 20, "outline", now=200.0)
    assert Job.fetch(job.id, connection=redis_conn, serializer=contract.SERIALIZER).meta["progress_at"] == 100.0
    contract.set_progress(job, 40, "chapter 1/5", now=300.0)
    assert Job.fetch(job.id, connection=redis_conn, serializer=contract.SERIALIZER).meta["progress_at"] == 300.0


# ---------------------------------------------------------------------- real workers
def test_failure_rate_from_real_workers(redis_conn, redis_url):
    queue = Queue("thesis", connection=redis_conn, serializer=contract.SERIALIZER)
    for _ in range(6):
        queue.enqueue("tests.jobs.boom")
    for _ in range(4):
        queue.enqueue("tests.jobs.noop")
    ThesisSimpleWorker(["thesis"], connection=redis_conn).work(burst=True)
    rules, tracker = AlertRules(), AlertTracker()  # the defaults: > 20 % of at least 10 over 15 min
    fired = evaluate_once(read(redis_url, rules), rules, tracker).update
    assert [(a.condition.rule, a.condition.value) for a in fired.started] == [(RuleKind.FAILURE_RATE, 0.6)]
    assert fired.started[0].severity is Severity.CRITICAL
    assert "60% of 10 ended jobs failed in the last 15 min" in fired.started[0].condition.message
    assert RuleKind.FAILURE_RATE not in kinds(conditions(redis_url, _rule(rules, RuleKind.FAILURE_RATE, min_ended=11)))
    for _ in range(30):
        queue.enqueue("tests.jobs.noop")
    ThesisSimpleWorker(["thesis"], connection=redis_conn).work(burst=True)
    cleared = evaluate_once(read(redis_url, rules), rules, tracker).update
    assert cleared.firing == () and [r.rule for r in cleared.ended] == [RuleKind.FAILURE_RATE]


def _supervisor_args(queue: str, sid: str) -> tuple[str, ...]:
    return ("-m", "worker_runner", "--queue", queue, "-n", "1", "--id", sid, "--heartbeat", "0.5", "--grace", "2")


def test_waiting_jobs_and_no_worker_then_a_worker_drains_them(redis_conn, redis_url, isolated_env, processes):
    queue = contract.thesis_queue(redis_conn)
    for _ in range(3):
        queue.enqueue("tests.jobs.noop")
    processes.start(*_supervisor_args("elsewhere", "sup-elsewhere"))  # a live worker, on another queue
    wait_for(lambda: any("elsewhere" in w.queue_names() for w in Worker.all(connection=redis_conn)), 30, message="worker")
    rules = _rule(AlertRules(), RuleKind.NO_WORKER, for_s=1)
    rules = _rule(_rule(rules, RuleKind.WAITING_DEPTH, threshold=2, for_s=0), RuleKind.OLDEST_WAITING, threshold=0)
    tracker = AlertTracker()
    first = evaluate_once(read(redis_url, rules), rules, tracker).update
    assert RuleKind.NO_WORKER in kinds(first.pending) and RuleKind.NO_WORKER not in kinds(first.firing)
    assert kinds(first.started) == {RuleKind.WAITING_DEPTH, RuleKind.OLDEST_WAITING}
    fired = wait_for(
        lambda: (u := evaluate_once(read(redis_url, rules), rules, tracker).update) and RuleKind.NO_WORKER in kinds(u.started) and u,
        10, message="no_worker to fire after 1 s",
    )  # fmt: skip
    assert fired.started[0].condition.message == "thesis: 3 jobs waiting and no live worker serves the queue"
    processes.start(*_supervisor_args("thesis", "sup-thesis"))
    ended: set[RuleKind] = set()
    wait_for(
        lambda: ended.update(r.rule for r in evaluate_once(read(redis_url, rules), rules, tracker).update.ended)
        or ended >= {RuleKind.NO_WORKER, RuleKind.WAITING_DEPTH, RuleKind.OLDEST_WAITING},
        30, message="the alerts to clear once a worker serves the queue and drains it",
    )  # fmt: skip
    assert tracker.update([], rules, time.time()).firing == ()


def test_job_that_stops_reporting_progress_on_a_live_worker_is_stuck(redis_conn, redis_url, isolated_env, processes):
    job = contract.thesis_queue(redis_conn).enqueue(STALL_FUNCTION, 120, job_timeout=300)
    processes.start(*_supervisor_args("thesis", "sup-stuck"))  # the function is allowed by tests/conftest.py
    wait_for(lambda: b"progress_at" in (redis_conn.hget(job.key, "meta") or b""), 30, message="the job's first progress")
    rules = _rule(AlertRules(), RuleKind.STUCK_JOB, threshold=1)
    assert RuleKind.STUCK_JOB not in kinds(conditions(redis_url, AlertRules()))  # 15 min by default
    tracker = AlertTracker()
    fired = wait_for(
        lambda: (u := evaluate_once(read(redis_url, rules), rules, tracker).update) and kinds(u.started) and u,
        10, message="the stuck alert",
    )  # fmt: skip
    alert = fired.started[0]
    assert alert.condition.rule is RuleKind.STUCK_JOB and alert.condition.subject == job.id
    assert "at 35 % (chapter 2/6) on live worker" in alert.condition.message and alert.condition.message.endswith("stop it?")

    async def stop() -> None:
        client = aioredis.Redis.from_url(redis_url, decode_responses=False)
        actions = QueueActions(client, read_only=False, sync_factory=lambda: redis.Redis.from_url(redis_url))
        try:
            result = await actions.stop([job.id])
            assert result.done == (job.id,)
        finally:
            await actions.close()
            await client.aclose()

    run(stop())
    wait_for(
        lambda: RuleKind.STUCK_JOB in {r.rule for r in evaluate_once(read(redis_url, rules), rules, tracker).update.ended},
        30, message="the stuck alert to end once the job is stopped",
    )  # fmt: skip


def test_supervisor_whose_heartbeat_stops(redis_conn, redis_url, isolated_env, processes):
    proc = processes.start(*_supervisor_args("thesis", "sup-frozen"))
    wait_for(lambda: redis_conn.zscore(INDEX_KEY, "sup-frozen"), 30, message="the supervisor's record")
    rules = _rule(AlertRules(), RuleKind.SUPERVISOR_SILENT, threshold=2)
    tracker = AlertTracker()
    assert RuleKind.SUPERVISOR_SILENT not in kinds(evaluate_once(read(redis_url, rules), rules, tracker).update.firing)
    os.kill(proc.pid, signal.SIGSTOP)
    try:
        fired = wait_for(
            lambda: (u := evaluate_once(read(redis_url, rules), rules, tracker).update) and kinds(u.started) and u,
            15, message="the silent-supervisor alert",
        )  # fmt: skip
        assert fired.started[0].condition.subject == "sup-frozen" and fired.started[0].severity is Severity.CRITICAL
    finally:
        os.kill(proc.pid, signal.SIGCONT)
    wait_for(
        lambda: RuleKind.SUPERVISOR_SILENT in {r.rule for r in evaluate_once(read(redis_url, rules), rules, tracker).update.ended},
        15, message="the alert to end when heartbeats resume",
    )  # fmt: skip


def test_minute_cache_reads_settled_minutes_once(redis_conn, redis_url):
    now = time.time()
    with redis_conn.pipeline() as pipe:
        for minutes_ago in range(10):
            metrics_store.record_job(pipe, "thesis", minutes_ago % 3 != 0, 5.0, now=now - 60 * minutes_ago)
        pipe.execute()
    redis_conn.sadd("rq:queues", "rq:queue:thesis")
    cache = MinuteCache()

    async def twice() -> tuple[WatchData, WatchData, dict[str, int]]:
        client = aioredis.Redis.from_url(redis_url, decode_responses=False)
        try:
            reader = QueueReader(client)
            first = await reader.watch(12, cache=cache)
            reset_command_stats(redis_conn)
            second = await reader.watch(12, cache=cache)
            return first, second, command_calls(redis_conn)
        finally:
            await client.aclose()

    first, second, calls = run(twice())
    assert first.queue("thesis").minutes == second.queue("thesis").minutes  # type: ignore[union-attr]
    assert sum(b.completed + b.failed for b in second.queue("thesis").minutes) == 10  # type: ignore[union-attr]
    # Only the minutes that may still change, and the snapshot's one read of the paused queues.
    assert calls.get("hgetall", 0) <= 3 and len(cache) >= 10


def test_a_fresh_snapshot_given_saves_two_round_trips(redis_conn, redis_url):
    Scene(redis_conn)

    async def both() -> tuple[WatchData, WatchData]:
        client = aioredis.Redis.from_url(redis_url, decode_responses=False)
        try:
            reader = QueueReader(client)
            full = await reader.watch(15)
            return full, await reader.watch(15, snapshot=await reader.snapshot())
        finally:
            await client.aclose()

    full, reused = run(both())
    assert (full.round_trips, reused.round_trips) == (ROUND_TRIPS, 2)
    now = time.time()
    assert kinds(evaluate(full, SCENE_RULES, now)) == kinds(evaluate(reused, SCENE_RULES, now)) == set(RuleKind)
