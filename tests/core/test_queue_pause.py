"""Pausing queues in the core: the stored pause, the actions, the policy and the snapshot."""

from __future__ import annotations

import json
import time

import pytest
import redis

from tests.core.test_actions import acting, run
from tests.core.test_snapshot import _snapshot
from thesis_console.core import contract, queue_pause
from thesis_console.core.policy import QueueAction, queue_verdict
from thesis_console.core.queue_pause import PAUSED_KEY, QueuePause, parse_pauses
from thesis_console.core.supervisor_protocol import WORKER_SUPERVISOR_FIELD
from thesis_console.core.types import CoreError, ReadOnlyError
from worker_runner.worker import ThesisWorker


def test_pause_is_stored_with_who_and_when_and_enqueueing_still_works(redis_conn, redis_url):
    async def pause() -> QueuePause:
        async with acting(redis_url) as actions:
            return await actions.pause_queue("thesis", by="alice@desk")

    before = time.time()
    pause_ = run(pause())
    assert (pause_.queue, pause_.by) == ("thesis", "alice@desk") and before <= pause_.at <= time.time()
    assert queue_pause.is_paused(redis_conn, "thesis") and queue_pause.paused_names(redis_conn) == {"thesis"}
    job = contract.thesis_queue(redis_conn).enqueue("tests.jobs.noop")
    assert contract.thesis_queue(redis_conn).job_ids == [job.id]


def test_pausing_twice_keeps_the_first_author_and_resume_says_whether_it_was_paused(redis_conn, redis_url):
    async def scenario():
        async with acting(redis_url) as actions:
            first = await actions.pause_queue("thesis", by="alice@desk")
            second = await actions.pause_queue("thesis", by="bob@laptop")
            return first, second, await actions.resume_queue("thesis"), await actions.resume_queue("thesis")

    first, second, resumed, again = run(scenario())
    assert second == first and second.by == "alice@desk"
    assert (resumed, again) == (True, False)
    assert not redis_conn.exists(PAUSED_KEY)


def test_read_only_profile_cannot_pause_or_resume(redis_conn, redis_url):
    redis_conn.hset(PAUSED_KEY, "thesis", QueuePause("thesis", "alice@desk", 1.0).to_json())

    async def scenario(call):
        async with acting(redis_url, read_only=True) as actions:
            await call(actions)

    with pytest.raises(ReadOnlyError, match="read-only profile: pause refused"):
        run(scenario(lambda a: a.pause_queue("other")))
    with pytest.raises(ReadOnlyError, match="read-only profile: resume refused"):
        run(scenario(lambda a: a.resume_queue("thesis")))
    assert queue_pause.paused_names(redis_conn) == {"thesis"}


def test_a_bad_queue_name_is_refused_with_the_rule(redis_url):
    async def scenario():
        async with acting(redis_url) as actions:
            await actions.pause_queue("no spaces\n")

    with pytest.raises(CoreError, match="is not allowed"):
        run(scenario())


def test_queue_verdicts():
    assert queue_verdict(QueueAction.PAUSE, paused=False)
    assert queue_verdict(QueueAction.PAUSE, paused=True).reason == "the queue is already paused"
    assert queue_verdict(QueueAction.RESUME, paused=True)
    assert queue_verdict(QueueAction.RESUME, paused=False).reason == "the queue is not paused"
    assert queue_verdict(QueueAction.PAUSE, paused=False, read_only=True).reason == "read-only profile: pause refused"


def test_damaged_pause_entries_still_pause():
    pauses = parse_pauses({b"a": b"not json", b"b": json.dumps({"by": "x@y", "at": "noon"}).encode(), b"c": b"[1]"})
    assert pauses == {"a": QueuePause("a"), "b": QueuePause("b", "x@y", None), "c": QueuePause("c")}
    assert parse_pauses(None) == {}


def test_snapshot_shows_paused_queues_and_which_workers_honour_pauses(redis_conn, redis_url):
    contract.thesis_queue(redis_conn).enqueue("tests.jobs.noop")
    redis_conn.hset(PAUSED_KEY, "thesis", QueuePause("thesis", "alice@desk", 1700000000.0).to_json())
    plain = ThesisWorker(["thesis"], connection=redis_conn, name="plain-worker")
    plain.register_birth()
    supervised = ThesisWorker(["thesis"], connection=redis_conn, name="supervised-worker")
    supervised.register_birth()
    redis_conn.hset(supervised.key, WORKER_SUPERVISOR_FIELD, "sup-1")
    try:
        snapshot = run(_snapshot(redis_url, queues=["thesis", "other"]))
    finally:
        plain.register_death()
        supervised.register_death()
    thesis, other = snapshot.queues
    assert (thesis.paused, thesis.paused_by, thesis.paused_at, thesis.waiting) == (True, "alice@desk", 1700000000.0, 1)
    assert (other.paused, other.paused_by, other.paused_at) == (False, "", None)
    workers = {w.name: w for w in snapshot.workers}
    assert workers["supervised-worker"].supervisor == "sup-1" and workers["supervised-worker"].honours_pause
    assert workers["plain-worker"].supervisor == "" and not workers["plain-worker"].honours_pause
    assert snapshot.round_trips == 2


def test_a_foreign_key_at_the_pause_hash_does_not_break_the_snapshot(redis_conn, redis_url):
    redis_conn.set(PAUSED_KEY, "not a hash")
    snapshot = run(_snapshot(redis_url, queues=["thesis"]))
    assert not snapshot.queues[0].paused


def test_pause_survives_a_redis_restart(tmp_path):
    from thesis_console.core.embedded_redis import free_port, start_server

    data, port = tmp_path / "own-redis", free_port()
    server = start_server(data, port)
    try:

        async def pause():
            async with acting(server.url) as actions:
                await actions.pause_queue("thesis", by="alice@desk")

        run(pause())
        server.stop()
        server = start_server(data, port)
        conn = redis.Redis.from_url(server.url)
        try:
            assert queue_pause.is_paused(conn, "thesis")
        finally:
            conn.close()
    finally:
        server.stop()
