"""Writing BullMQ jobs for tests and benchmarks: through the official Python package (BullMQ's own
scripts), or many at once with :func:`write_bulk`, which writes what those scripts would."""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

import redis
from bullmq import FlowProducer, Queue, Worker

from tests.node_bullmq import NODE_BULLMQ_VERSION
from thesis_console.core.types import JobState

QUEUE = "thesis-generation"


def add_jobs(url: str, jobs: list[tuple[dict[str, Any], dict[str, Any]]], queue: str = QUEUE, prefix: str = "bull") -> list[str]:
    """Add ``(data, opts)`` jobs with BullMQ's scripts; their ids in order."""

    async def add() -> list[str]:
        q = Queue(queue, {"connection": url, "prefix": prefix})
        try:
            ids = []
            for data, opts in jobs:
                job = await q.add("generate-thesis", data, opts)
                ids.append(str(job.id))
            return ids
        finally:
            await q.close()

    return asyncio.run(add())


def activate(url: str, count: int, queue: str = QUEUE) -> list[str]:
    """Move ``count`` waiting jobs to ``active`` with BullMQ's ``moveToActive`` script, as a worker takes
    them (nothing processes them); their ids in the order they were taken."""

    async def take() -> list[str]:
        async def never(job: Any, token: str) -> None:
            raise AssertionError("no job is processed")

        worker = Worker(queue, never, {"connection": url, "autorun": False})
        try:
            taken = [await worker.moveToActive(f"test-token-{n}") for n in range(count)]
            return [str(job.id) for job in taken if job is not None]
        finally:
            await worker.close(force=True)

    return asyncio.run(take())


def add_parents(url: str, count: int, queue: str = QUEUE, children_queue: str = "thesis-chapters") -> list[str]:
    """Add ``count`` flows with BullMQ's scripts: each parent in ``queue`` waits (``waiting-children``)
    for one child in ``children_queue``; the parents' ids in order."""

    async def add() -> list[str]:
        flows = FlowProducer(url)
        try:
            ids = []
            for n in range(count):
                tree = await flows.add({"name": "generate-thesis", "queueName": queue, "data": {"topic": f"parent {n}"},
                                        "children": [{"name": "chapter", "queueName": children_queue, "data": {"n": n}}]})
                assert tree is not None
                ids.append(str(tree["job"].id))
            return ids
        finally:
            await flows.close()

    return asyncio.run(add())


def pause(url: str, queue: str = QUEUE) -> None:
    async def run() -> None:
        q = Queue(queue, {"connection": url})
        try:
            await q.pause()
        finally:
            await q.close()

    asyncio.run(run())


def dump_all(conn: redis.Redis) -> dict[bytes, Any]:
    """Every key with its type and content, to show that reading changed nothing.

    Contents, not DUMP: reading a hash can advance its incremental rehash, which reorders DUMP's bytes.
    """
    read = {
        b"string": conn.get,
        b"hash": conn.hgetall,
        b"list": lambda k: conn.lrange(k, 0, -1),
        b"set": conn.smembers,
        b"zset": lambda k: conn.zrange(k, 0, -1, withscores=True),
        b"stream": conn.xrange,
    }
    return {key: (conn.type(key), read[conn.type(key)](key), conn.pttl(key) > 0) for key in sorted(conn.keys("*"))}


SEED_OPTS = {
    "removeOnFail": {"count": 500},
    "removeOnComplete": {"age": 86400, "count": 100},
    "backoff": {"delay": 2000, "type": "exponential"},
    "attempts": 3,
}
"""The thesis system's default job options, as Node BullMQ stores them in a job's ``opts``."""

BULK_STATES = (JobState.WAITING, JobState.SCHEDULED, JobState.COMPLETED, JobState.FAILED)
DELAY_MS = 3_600_000


def bulk_job(job_id: str, state: JobState, timestamp_ms: int, topic: str) -> dict[str, Any]:
    """The hash BullMQ 5.81.5 leaves for a thesis job in ``state``: what ``addStandardJob`` /
    ``addDelayedJob`` write, then, for a finished job, what ``moveToActive``, ``updateProgress`` and
    ``moveToFinished`` add (checked field by field against the real scripts in test_bulk_writer.py)."""
    opts = dict(SEED_OPTS)
    delay = DELAY_MS if state is JobState.SCHEDULED else 0
    if delay:
        opts["delay"] = delay
    fields: dict[str, Any] = {
        "name": "generate-thesis",
        "data": json.dumps({"thesisId": f"bulk-{job_id}", "topic": topic}, separators=(",", ":")),
        "opts": json.dumps(opts, separators=(",", ":")),
        "timestamp": timestamp_ms,
        "delay": delay,
        "priority": 0,
    }
    if state is JobState.COMPLETED:
        returned = json.dumps({"thesisId": f"bulk-{job_id}", "words": 8000}, separators=(",", ":"))
        fields.update(processedOn=timestamp_ms + 100, finishedOn=timestamp_ms + 400, atm=1, ats=1, progress=100, returnvalue=returned)
    elif state is JobState.FAILED:  # after its 3 attempts, one stack per attempt
        reason = f"thesis bulk-{job_id} failed on purpose"
        stack = [f"Error: {reason}\n    at generateThesis (worker.mjs:15:11)"] * 3
        fields.update(processedOn=timestamp_ms + 100, finishedOn=timestamp_ms + 400, atm=3, ats=3, progress=10,
                      failedReason=reason, stacktrace=json.dumps(stack))
    return fields


def write_bulk(
    conn: redis.Redis,
    state: JobState,
    count: int,
    *,
    queue: str = QUEUE,
    prefix: str = "bull",
    batch: int = 10_000,
    topic=lambda i: f"Thesis topic number {i}",
    now_ms: int | None = None,
) -> list[str]:
    """Write ``count`` jobs of ``queue`` in ``state`` as BullMQ's scripts leave them, fast (pipelined HSET
    and LPUSH/ZADD instead of one script call per job); the ids come from the queue's own ``id``
    counter. Returns the ids in the order they were added (each job 1 ms after the one before).

    The events stream and the jobs' log lists are not written: the console reads neither for a page.
    """
    if state not in BULK_STATES:
        raise ValueError(f"write_bulk writes {', '.join(s.value for s in BULK_STATES)} jobs, not {state.value}")
    base = f"{prefix}:{queue}"
    last = conn.incrby(f"{base}:id", count)
    ids = [str(n) for n in range(last - count + 1, last + 1)]
    start_ms = (int(time.time() * 1000) if now_ms is None else now_ms) - count - 10_000
    conn.hset(f"{base}:meta", mapping={"opts.maxLenEvents": 10000, "version": f"bullmq:{NODE_BULLMQ_VERSION}"})
    for lo in range(0, count, batch):
        with conn.pipeline(transaction=False) as pipe:
            chunk = ids[lo : lo + batch]
            scores: dict[str, float] = {}
            for offset, job_id in enumerate(chunk):
                at = start_ms + lo + offset
                pipe.hset(f"{base}:{job_id}", mapping=bulk_job(job_id, state, at, topic(lo + offset)))
                if state is JobState.SCHEDULED:
                    scores[job_id] = (at + DELAY_MS) * 0x1000  # getDelayedScore: run time << 12
                elif state is not JobState.WAITING:
                    scores[job_id] = at + 400  # finishedOn
            if state is JobState.WAITING:
                pipe.lpush(f"{base}:wait", *chunk)
            else:
                pipe.zadd(f"{base}:{_STRUCTURE[state]}", scores)
            pipe.execute()
    if state is JobState.WAITING:
        conn.zadd(f"{base}:marker", {"0": 0})  # addStandardJob wakes blocked workers with this member
    return ids


_STRUCTURE = {JobState.SCHEDULED: "delayed", JobState.COMPLETED: "completed", JobState.FAILED: "failed"}
