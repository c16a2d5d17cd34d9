"""Helpers for the reading tests and the reading benchmark: many RQ-shaped jobs written fast, command
counts from the server's own statistics, and a digest of a whole database.

Jobs are written the way RQ 3 stores them (the job hash, the queue list or a registry sorted set)
with pipelined HSET and ZADD/RPUSH, because enqueueing 100,000 jobs through RQ would take minutes.
The hashes carry the fields RQ itself writes, so the reader sees them as it would see real jobs.
"""

from __future__ import annotations

import asyncio
import json
import time
import zlib
from collections.abc import Coroutine
from typing import Any, TypeVar

import redis

from thesis_console.core.rq_keys import job_key, state_source
from thesis_console.core.types import JobState

T = TypeVar("T")

READ_TIMEOUT_S = 60.0
"""The reader's timeout in tests that read 100,000s of jobs: they count commands, not seconds, and one
round trip of 20,000 commands can take longer than the default 5 s on a loaded machine."""

_STATUS = {
    JobState.WAITING: "queued",
    JobState.ACTIVE: "started",
    JobState.SCHEDULED: "scheduled",
    JobState.DEFERRED: "deferred",
    JobState.COMPLETED: "finished",
    JobState.FAILED: "failed",
    JobState.CANCELED: "canceled",
}


def run(coro: Coroutine[Any, Any, T]) -> T:
    return asyncio.run(coro)


def rq_time(ts: float) -> str:
    """``ts`` as RQ writes times (``%Y-%m-%dT%H:%M:%S.%fZ``, UTC)."""
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(ts)) + f".{int(ts % 1 * 1e6):06d}Z"


_DATA = zlib.compress(json.dumps(["tests.jobs.noop", None, [], {}]).encode())


def minimal_job(job_id: str, queue: str, state: JobState, description: str, ts: float) -> dict[str, Any]:
    """The fields RQ 3 writes for a JSON job, without callbacks and TTLs."""
    stamp = rq_time(ts)
    fields: dict[str, Any] = {
        "status": _STATUS[state],
        "origin": queue,
        "description": description,
        "created_at": stamp,
        "enqueued_at": stamp,
        "data": _DATA,
        "meta": f'{{"kind": "thesis", "topic": {json.dumps(description)}, "progress": 0, "stage": "queued"}}',
        "worker_name": "",
    }
    if state in (JobState.ACTIVE, JobState.COMPLETED, JobState.FAILED):
        fields["started_at"] = rq_time(ts + 1)
        fields["worker_name"] = "bench-worker"
    if state in (JobState.COMPLETED, JobState.FAILED):
        fields["ended_at"] = rq_time(ts + 2)
    return fields


def write_jobs(
    conn: redis.Redis,
    queue: str,
    state: JobState,
    count: int,
    *,
    prefix: str = "job",
    describe=lambda i: f"Thesis: topic number {i}",
    batch: int = 5000,
    start_ts: float | None = None,
    with_hashes: bool = True,
) -> list[str]:
    """Write ``count`` jobs of ``queue`` in ``state``; returns their ids in insertion order.

    Scores are increasing times, so newest-first pages show the last written first.
    """
    source = state_source(queue, state)
    base = time.time() - count - 100 if start_ts is None else start_ts
    ids = [f"{prefix}-{i:07d}" for i in range(count)]
    for lo in range(0, count, batch):
        with conn.pipeline(transaction=False) as pipe:
            members: dict[str, float] = {}
            listed: list[str] = []
            for i in range(lo, min(count, lo + batch)):
                job_id = ids[i]
                ts = base + i
                if with_hashes:
                    pipe.hset(job_key(job_id), mapping=minimal_job(job_id, queue, state, describe(i), ts))  # type: ignore[arg-type]
                if source.is_list:
                    listed.append(job_id)
                elif source.composite_members:
                    members[f"{job_id}:exec{i}"] = ts + 3600
                else:
                    members[job_id] = ts + (86400 if state in (JobState.COMPLETED, JobState.FAILED) else 0)
            if listed:
                pipe.rpush(source.key, *listed)
            if members:
                pipe.zadd(source.key, members)
            pipe.sadd("rq:queues", f"rq:queue:{queue}")
            pipe.execute()
    return ids


def reset_command_stats(conn: redis.Redis) -> None:
    conn.config_resetstat()


def command_calls(conn: redis.Redis) -> dict[str, int]:
    """Calls per command since the last reset, without the statistics commands themselves."""
    stats = conn.info("commandstats")
    calls = {}
    for name, value in stats.items():
        command = name.removeprefix("cmdstat_")
        if command.split("|")[0] in ("info", "config", "hello", "client", "auth", "select"):  # stats, handshake
            continue
        calls[command] = int(value["calls"])
    return calls


def digest(conn: redis.Redis) -> dict[bytes, tuple[str, Any, bool]]:
    """Every key with its type, its whole content and whether it expires: equal digests mean nothing changed.

    Content rather than DUMP bytes: a read can advance Redis's incremental rehashing, which
    reorders a large hash's DUMP without changing a single field.
    """
    out: dict[bytes, tuple[str, Any, bool]] = {}
    for key in sorted(conn.scan_iter(count=1000)):
        raw_kind = conn.type(key)
        kind = raw_kind.decode() if isinstance(raw_kind, bytes) else str(raw_kind)
        value: Any
        if kind == "string":
            value = conn.get(key)
        elif kind == "hash":
            value = sorted(conn.hgetall(key).items())
        elif kind == "list":
            value = conn.lrange(key, 0, -1)
        elif kind == "set":
            value = sorted(conn.smembers(key))
        elif kind == "zset":
            value = conn.zrange(key, 0, -1, withscores=True)
        elif kind == "stream":
            value = conn.xrange(key)
        else:
            value = conn.dump(key)
        out[key] = (kind, value, conn.pttl(key) >= 0)
    return out
