"""ConsoleActions: one entry for every action, each call sent to the backend of the queue it names.

A Redis holding an RQ queue and a BullMQ queue side by side: the same calls change the right one.
"""

from __future__ import annotations

import asyncio
import json

import pytest
from rq import Queue

from tests.core.bullmq.bull_jobs import QUEUE as BULL_QUEUE
from tests.core.bullmq.bull_jobs import add_jobs, dump_all
from thesis_console.core import contract
from thesis_console.core.bullmq.job_defaults import SEED_OPTIONS, BullJobDefaults
from thesis_console.core.policy import JobAction, empty_verdict
from thesis_console.core.profiles import ConnectionProfile, ad_hoc_profile
from thesis_console.core.session import Session
from thesis_console.core.thesis_request import ThesisRequest
from thesis_console.core.types import Backend, CoreError, JobState, ReadOnlyError

RQ_QUEUE = "thesis"


def with_session(profile: ConnectionProfile, call):
    async def go():
        session = await Session.open(profile, ping_interval_s=3600)  # no PING amid counted commands
        try:
            return await call(session.actions)
        finally:
            await session.close()

    return asyncio.run(go())


def _rq_waiting(redis_conn, count: int) -> list[str]:
    queue = Queue(RQ_QUEUE, connection=redis_conn, serializer=contract.SERIALIZER)
    return [queue.enqueue("tests.jobs.boom").id for _ in range(count)]


def test_each_call_goes_to_the_backend_of_its_queue(redis_conn, redis_url):
    rq_ids = _rq_waiting(redis_conn, 2)
    bull_ids = add_jobs(redis_url, [({"topic": f"b{i}"}, {}) for i in range(2)])
    profile = ad_hoc_profile(redis_url)

    # The same job action on each queue: RQ cancels (canceled registry), BullMQ removes the job.
    rq_cancel = with_session(profile, lambda a: a.act_on_jobs(JobAction.CANCEL, [rq_ids[0]], queue=RQ_QUEUE))
    bull_cancel = with_session(profile, lambda a: a.act_on_jobs(JobAction.CANCEL, [bull_ids[0]], queue=BULL_QUEUE))
    assert rq_cancel.done == (rq_ids[0],) and redis_conn.hget(f"rq:job:{rq_ids[0]}", "status") == b"canceled"
    assert bull_cancel.done == (bull_ids[0],) and not redis_conn.exists(f"bull:{BULL_QUEUE}:{bull_ids[0]}")
    assert redis_conn.lrange(f"bull:{BULL_QUEUE}:wait", 0, -1) == [bull_ids[1].encode()]

    # Stop has no BullMQ way: refused job by job with the policy's reason; the job stays.
    stopped = with_session(profile, lambda a: a.stop([bull_ids[1]], queue=BULL_QUEUE))
    assert stopped.done == () and stopped.skipped[bull_ids[1]].startswith("BullMQ offers no way to stop")

    # Pause: BullMQ's own (meta and the paused list), RQ's supervisors' hash; each leaves the other alone.
    with_session(profile, lambda a: a.pause_queue(BULL_QUEUE, by="ana@desk"))
    assert redis_conn.hget(f"bull:{BULL_QUEUE}:meta", "paused") == b"1"
    assert redis_conn.lrange(f"bull:{BULL_QUEUE}:paused", 0, -1) == [bull_ids[1].encode()]
    assert not redis_conn.hexists("thesis:paused_queues", BULL_QUEUE)
    again = with_session(profile, lambda a: a.pause_queue(BULL_QUEUE))
    assert again.queue == BULL_QUEUE and again.by == ""  # already paused: BullMQ records no author
    pause = with_session(profile, lambda a: a.pause_queue(RQ_QUEUE, by="ana@desk"))
    assert pause.by == "ana@desk" and redis_conn.hexists("thesis:paused_queues", RQ_QUEUE)
    assert with_session(profile, lambda a: a.resume_queue(BULL_QUEUE)) is True
    assert with_session(profile, lambda a: a.resume_queue(BULL_QUEUE)) is False
    assert redis_conn.hget(f"bull:{BULL_QUEUE}:meta", "paused") is None
    assert redis_conn.lrange(f"bull:{BULL_QUEUE}:wait", 0, -1) == [bull_ids[1].encode()]
    assert redis_conn.hexists("thesis:paused_queues", RQ_QUEUE)  # the RQ queue's pause is its own
    assert with_session(profile, lambda a: a.resume_queue(RQ_QUEUE)) is True

    # Empty: BullMQ's clean of a state; a state BullMQ cannot clean is refused with the policy's reason.
    with pytest.raises(CoreError, match="cannot be emptied: BullMQ's clean does not take jobs that wait"):
        with_session(profile, lambda a: a.empty(BULL_QUEUE, JobState.DEFERRED))
    emptied = with_session(profile, lambda a: a.empty(BULL_QUEUE, JobState.WAITING))
    assert emptied.done == (bull_ids[1],) and redis_conn.llen(f"bull:{BULL_QUEUE}:wait") == 0
    rq_emptied = with_session(profile, lambda a: a.empty(RQ_QUEUE, JobState.WAITING))
    assert rq_emptied.done == (rq_ids[1],)


def test_a_bullmq_waiting_state_is_emptied_across_wait_paused_and_prioritized(redis_conn, redis_url):
    ids = add_jobs(redis_url, [({"topic": "plain"}, {}), ({"topic": "urgent"}, {"priority": 5})])
    profile = ad_hoc_profile(redis_url)
    with_session(profile, lambda a: a.pause_queue(BULL_QUEUE))
    assert redis_conn.llen(f"bull:{BULL_QUEUE}:paused") == 1 and redis_conn.zcard(f"bull:{BULL_QUEUE}:prioritized") == 1
    emptied = with_session(profile, lambda a: a.empty(BULL_QUEUE, JobState.WAITING))
    assert sorted(emptied.done) == sorted(ids)
    assert not any(redis_conn.exists(f"bull:{BULL_QUEUE}:{i}") for i in ids)
    assert redis_conn.zcard(f"bull:{BULL_QUEUE}:prioritized") == 0 and redis_conn.llen(f"bull:{BULL_QUEUE}:paused") == 0


def test_a_read_only_profile_refuses_every_action_before_any_io(redis_conn, redis_url):
    (bull_job,) = add_jobs(redis_url, [({"topic": "t"}, {})])
    (rq_job,) = _rq_waiting(redis_conn, 1)
    before = dump_all(redis_conn)
    profile = ConnectionProfile(name="ro", url=redis_url, read_only=True)
    request = ThesisRequest(topic="Refused thesis")
    calls = {
        "enqueue": lambda a, q: a.enqueue(request, queue=q),
        "retry all failed": lambda a, q: a.retry_all_failed(q),
        "empty": lambda a, q: a.empty(q, JobState.WAITING),
        "pause": lambda a, q: a.pause_queue(q),
        "resume": lambda a, q: a.resume_queue(q),
        **{
            action.value: (lambda a, q, action=action: a.act_on_jobs(action, [bull_job, rq_job], queue=q))
            for action in JobAction
        },
    }

    async def refused(actions, queue: str) -> list[str]:
        commands_before = await _commands(actions.rq.client)
        names = []
        for name, call in calls.items():
            with pytest.raises(ReadOnlyError, match=f"read-only profile: {name} refused"):
                await call(actions, queue)
            names.append(name)
        assert await _commands(actions.rq.client) == commands_before + 1  # only the INFO that counts
        return names

    for queue in (BULL_QUEUE, RQ_QUEUE):
        assert len(with_session(profile, lambda a, q=queue: refused(a, q))) == len(calls)
    assert dump_all(redis_conn) == before


async def _commands(client) -> int:
    """Commands the server has run (INFO's total_commands_processed counts this INFO too)."""
    return int((await client.info("stats"))["total_commands_processed"])


def test_enqueue_on_a_bullmq_queue_uses_the_queue_job_name_and_options_from_the_profile(redis_conn, redis_url):
    custom = BullJobDefaults(job_name="write-thesis", options={"attempts": 5, "backoff": {"type": "fixed", "delay": 500}})
    profile = ad_hoc_profile(redis_url).with_job_defaults(BULL_QUEUE, custom)
    # The queue does not exist yet: the profile's job defaults make it a BullMQ queue.
    request = ThesisRequest(topic="A thesis for the Node worker", chapters=4)
    job_id = with_session(profile, lambda a: a.enqueue(request, queue=BULL_QUEUE, thesis_id="th-7"))
    job = redis_conn.hgetall(f"bull:{BULL_QUEUE}:{job_id}")
    assert job[b"name"] == b"write-thesis"
    assert json.loads(job[b"data"]) == {"thesisId": "th-7", **request.to_json()}
    assert json.loads(job[b"opts"]) == {"attempts": 5, "backoff": {"type": "fixed", "delay": 500}, "delay": 0}
    assert redis_conn.lrange(f"bull:{BULL_QUEUE}:wait", 0, -1) == [job_id.encode()]

    # Another queue of the same Redis: the seed's name and options, a new thesisId, a delay.
    add_jobs(redis_url, [({"topic": "x"}, {})], queue="other-bull")
    later = with_session(ad_hoc_profile(redis_url), lambda a: a.enqueue(request, queue="other-bull", delay_s=60))
    job = redis_conn.hgetall(f"bull:other-bull:{later}")
    assert job[b"name"] == b"generate-thesis" and len(json.loads(job[b"data"])["thesisId"]) == 32
    assert json.loads(job[b"opts"]) == {**SEED_OPTIONS, "delay": 60_000}
    assert redis_conn.zcard("bull:other-bull:delayed") == 1


def test_a_thesis_id_is_refused_for_an_rq_queue(redis_conn, redis_url):
    with pytest.raises(CoreError, match="a thesisId is given only to the jobs of a BullMQ queue; thesis is an RQ queue"):
        with_session(ad_hoc_profile(redis_url), lambda a: a.enqueue(ThesisRequest(topic="RQ thesis"), queue=RQ_QUEUE, thesis_id="x"))
    assert not redis_conn.exists(f"rq:queue:{RQ_QUEUE}")


def test_the_policy_says_which_states_each_backend_can_empty():
    assert {s for s in JobState if empty_verdict(s, Backend.BULLMQ)} == {
        JobState.WAITING, JobState.SCHEDULED, JobState.COMPLETED, JobState.FAILED,
    }
    assert {s for s in JobState if empty_verdict(s)} == set(JobState) - {JobState.ACTIVE}


def test_a_search_s_matches_on_a_bullmq_queue_go_through_its_scripts_in_steps_with_cancel(redis_conn, redis_url):
    ids = add_jobs(redis_url, [({"topic": f"match {i}"}, {}) for i in range(5)])
    profile = ad_hoc_profile(redis_url)
    cancel = asyncio.Event()
    seen: list[tuple[int, int]] = []

    def progress(done: int, total: int) -> None:
        seen.append((done, total))
        if done:
            cancel.set()

    result = with_session(profile, lambda a: a.act_on_matches(
        JobAction.CANCEL, BULL_QUEUE, JobState.WAITING, ids, progress=progress, cancel=cancel, batch=2))  # fmt: skip
    assert seen == [(0, 5), (2, 5)] and result.done == tuple(ids[:2])
    assert set(result.skipped) == set(ids[2:]) and all(why.startswith("not canceled") for why in result.skipped.values())
    assert [redis_conn.exists(f"bull:{BULL_QUEUE}:{i}") for i in ids] == [0, 0, 1, 1, 1]
    with pytest.raises(CoreError, match="cannot retry waiting jobs: a waiting job is already queued"):
        with_session(profile, lambda a: a.act_on_matches(JobAction.RETRY, BULL_QUEUE, JobState.WAITING, ids[2:]))
