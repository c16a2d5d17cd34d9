"""A supervisor's record in Redis (see :mod:`thesis_console.core.supervisor_protocol`).

The record is a JSON string at ``thesis:supervisor:{id}`` with an expiry that each heartbeat
refreshes, and the id is in the sorted set ``thesis:supervisors`` scored by the heartbeat time. A
supervisor that dies stops refreshing it and disappears from every console within one expiry;
index entries older than an hour are pruned by whichever supervisor heartbeats next. Once a minute
the supervisor also records its queues' depth for the console's charts.
"""

from __future__ import annotations

import time
from collections.abc import Iterable

import redis

from thesis_console.core import metrics_store
from thesis_console.core.embedded_redis import pid_alive
from thesis_console.core.supervisor_protocol import INDEX_KEY, RECORD_TTL_S, SupervisorRecord, record_key

INDEX_PRUNE_AGE_S = 3600
DEPTH_SAMPLE_S = 60.0


def record_ttl_s(heartbeat_s: float) -> int:
    """The record's expiry: :data:`RECORD_TTL_S`, longer when heartbeats are rarer than a third of it."""
    return max(RECORD_TTL_S, int(heartbeat_s * 3 + 1))


def write_record(conn: redis.Redis, record: SupervisorRecord, heartbeat_s: float) -> None:
    """Write (or refresh) the record and its index entry, and prune index entries an hour old."""
    with conn.pipeline(transaction=True) as pipe:
        pipe.set(record_key(record.id), record.to_json(), ex=record_ttl_s(heartbeat_s))
        pipe.zadd(INDEX_KEY, {record.id: record.heartbeat_at})
        pipe.zremrangebyscore(INDEX_KEY, 0, record.heartbeat_at - INDEX_PRUNE_AGE_S)
        pipe.execute()


def remove_record(conn: redis.Redis, supervisor_id: str) -> None:
    """Remove the record and its index entry (a clean exit: consoles drop it at once)."""
    with conn.pipeline(transaction=True) as pipe:
        pipe.delete(record_key(supervisor_id))
        pipe.zrem(INDEX_KEY, supervisor_id)
        pipe.execute()


def read_record(conn: redis.Redis, supervisor_id: str) -> SupervisorRecord | None:
    """The live record of ``supervisor_id``, or None (expired, absent or damaged)."""
    return SupervisorRecord.from_stored(conn.get(record_key(supervisor_id)))


def list_records(conn: redis.Redis) -> list[SupervisorRecord]:
    """Every live supervisor record, oldest heartbeat first; damaged records are skipped."""
    ids = [i.decode() if isinstance(i, bytes) else str(i) for i in conn.zrange(INDEX_KEY, 0, -1)]
    if not ids:
        return []
    stored = (SupervisorRecord.from_stored(raw) for raw in conn.mget([record_key(i) for i in ids]))
    return [record for record in stored if record is not None]


def id_in_use(conn: redis.Redis, supervisor_id: str, host: str, pid: int) -> SupervisorRecord | None:
    """The live record of another process that uses ``supervisor_id``, or None when the id is free.

    A record of the same host whose process is gone is a previous run of this service: free.
    """
    record = read_record(conn, supervisor_id)
    if record is None or (record.host == host and record.pid == pid):
        return None
    if record.host == host and not pid_alive(record.pid):
        return None
    return record


def queue_depths(conn: redis.Redis, queues: Iterable[str]) -> dict[str, int]:
    """Jobs waiting in each queue (LLEN: a plain read)."""
    names = list(queues)
    with conn.pipeline(transaction=False) as pipe:
        for name in names:
            pipe.llen(f"rq:queue:{name}")
        return {name: int(n) for name, n in zip(names, pipe.execute(), strict=True)}


def record_depths(conn: redis.Redis, depths: dict[str, int], now: float | None = None) -> None:
    """Store one depth sample per queue in the current minute's metrics bucket."""
    now = time.time() if now is None else now
    with conn.pipeline(transaction=False) as pipe:
        for name, depth in depths.items():
            metrics_store.record_depth(pipe, name, depth, now)
        pipe.execute()

