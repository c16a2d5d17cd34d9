"""The overview: every queue's counts, every RQ worker, every supervisor, in two round trips.

Round trip 1 asks what exists: the ``rq:queues`` and ``rq:workers`` sets, the supervisor index,
the paused queues and the server's INFO. Round trip 2 asks, for each queue, the length of its list and the size of
each registry (LLEN/ZCARD: nothing is cleaned up, nothing moves), for each worker its hash fields
and the executions it runs, and each supervisor's record. The number of commands grows with the
number of queues, workers and supervisors, never with the number of jobs.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from typing import Any

from thesis_console.core import decoding
from thesis_console.core.queue_pause import PAUSED_KEY, QueuePause, parse_pauses
from thesis_console.core.round_trips import RoundTrips, is_error, reply_int
from thesis_console.core.rq_keys import (
    QUEUE_KEY_PREFIX,
    QUEUES_KEY,
    WORKER_KEY_PREFIX,
    WORKERS_KEY,
    job_id_of_member,
    state_source,
    worker_executions_key,
)
from thesis_console.core.supervisor_protocol import (
    INDEX_KEY,
    WORKER_SUPERVISOR_FIELD,
    SupervisorRecord,
    record_key,
)
from thesis_console.core.types import Backend, JobState, QueueCounts, ServerInfo, Snapshot, WorkerInfo

log = logging.getLogger(__name__)

WORKER_FIELDS: tuple[str, ...] = (
    "hostname",
    "pid",
    "state",
    "queues",
    "successful_job_count",
    "failed_job_count",
    "total_working_time",
    "birth",
    "last_heartbeat",
    "current_job",
    WORKER_SUPERVISOR_FIELD,
)
"""Fields of ``rq:worker:{name}`` the overview shows (``current_job`` only exists before RQ 2)."""

_COUNTED_STATES: tuple[JobState, ...] = tuple(JobState)


async def read_snapshot(trips: RoundTrips, queues: Sequence[str] | None = None) -> Snapshot:
    """Read the overview.

    Args:
        trips: the round-trip runner (its count tells how many round trips were used).
        queues: the queues to show, in this order, even when Redis has none of their keys yet;
            None shows every queue in ``rq:queues`` and every paused queue, sorted by name.

    Raises:
        CoreError: Redis could not be reached or did not answer in time.
    """
    before = trips.count
    taken_at = time.time()
    started = time.perf_counter()
    first = await trips.run(_fill_discovery)
    round_trip_ms = (time.perf_counter() - started) * 1000
    found_queues, found_workers, supervisor_ids, server, memory, paused = first
    pauses = _pauses(paused)
    # A paused queue shows even before it has a job, so that it can be seen and resumed.
    queue_names = list(queues) if queues is not None else sorted({*_queue_names(found_queues), *pauses})
    worker_keys = sorted(_members(found_workers, WORKERS_KEY))
    supervisor_ids = sorted(_members(supervisor_ids, INDEX_KEY))

    def fill(pipe: Any) -> None:
        for name in queue_names:
            for state in _COUNTED_STATES:
                source = state_source(name, state)
                (pipe.llen if source.is_list else pipe.zcard)(source.key)
        for key in worker_keys:
            pipe.hmget(key, WORKER_FIELDS)
            pipe.smembers(worker_executions_key(key[len(WORKER_KEY_PREFIX) :]))
        for sid in supervisor_ids:
            pipe.get(record_key(sid))

    second = await trips.run(fill)
    replies = iter(second)
    counts = tuple(
        _queue_counts(name, [next(replies) for _ in _COUNTED_STATES], pauses.get(name)) for name in queue_names
    )
    workers = []
    for key in worker_keys:
        info = _worker(key, next(replies), next(replies))
        if info is not None:
            workers.append(info)
    supervisors = []
    for sid in supervisor_ids:
        record = _supervisor(sid, next(replies))
        if record is not None:
            supervisors.append(record)
    return Snapshot(
        taken_at=taken_at,
        queues=counts,
        workers=tuple(workers),
        supervisors=tuple(supervisors),
        server=_server_info(server, memory, round_trip_ms),
        round_trips=trips.count - before,
    )


def _fill_discovery(pipe: Any) -> None:
    pipe.smembers(QUEUES_KEY)
    pipe.smembers(WORKERS_KEY)
    pipe.zrange(INDEX_KEY, 0, -1)
    pipe.info("server")
    pipe.info("memory")
    pipe.hgetall(PAUSED_KEY)


def _pauses(reply: Any) -> dict[str, QueuePause]:
    if is_error(reply):
        log.warning("%s is not a hash, ignored: %s", PAUSED_KEY, reply)
        return {}
    return parse_pauses(reply)


def _members(reply: Any, key: str) -> list[str]:
    """Members of a set or sorted set reply as text; a foreign key of another type counts as empty."""
    if is_error(reply):
        log.warning("%s is not what RQ writes there, ignored: %s", key, reply)
        return []
    names = []
    for raw in reply or ():
        name = decoding.text(raw)
        if name is None:
            log.warning("%s holds a member that is not UTF-8, ignored: %r", key, raw[:60])
        else:
            names.append(name)
    return names


def _queue_names(reply: Any) -> list[str]:
    names = []
    for member in _members(reply, QUEUES_KEY):
        if member.startswith(QUEUE_KEY_PREFIX):
            names.append(member[len(QUEUE_KEY_PREFIX) :])
        else:
            log.warning("%s holds %r, which is not a queue key, ignored", QUEUES_KEY, member)
    return names


def _queue_counts(name: str, replies: list[Any], pause: QueuePause | None = None) -> QueueCounts:
    problems = [
        f"{state_source(name, state).key} is not a {'list' if state_source(name, state).is_list else 'sorted set'}"
        for state, reply in zip(_COUNTED_STATES, replies, strict=True)
        if is_error(reply)
    ]
    values = {state.value: reply_int(reply) for state, reply in zip(_COUNTED_STATES, replies, strict=True)}
    return QueueCounts(
        name=name,
        backend=Backend.RQ,
        problem="; ".join(problems) or None,
        paused=pause is not None,
        paused_by=pause.by if pause else "",
        paused_at=pause.at if pause else None,
        **values,
    )


def _worker(key: str, fields: Any, executions: Any) -> WorkerInfo | None:
    name = key[len(WORKER_KEY_PREFIX) :] if key.startswith(WORKER_KEY_PREFIX) else key
    if is_error(fields):
        return WorkerInfo(name=name, problem=f"{key} is not a hash (a foreign or damaged key)")
    values = dict(zip(WORKER_FIELDS, fields, strict=True))
    if all(v is None for v in values.values()):
        # The hash expired: the worker died without unregistering. RQ drops such entries when it
        # lists workers; the console only reads, so it leaves the stale set member alone.
        log.debug("worker %s is registered but its hash is gone", name)
        return None
    problems: list[str] = []

    def text(field: str) -> str:
        raw = values[field]
        value = decoding.text(raw)
        if raw is not None and value is None:
            problems.append(f"not UTF-8 in field {field}")
        return value or ""

    def number(field: str, kind: type) -> Any:
        raw = text(field)
        if not raw:
            return None
        try:
            return kind(float(raw)) if kind is int else kind(raw)
        except ValueError:
            problems.append(f"not a number in field {field}")
            return None

    def when(field: str) -> float | None:
        try:
            return decoding.parse_time(values[field])
        except ValueError:
            problems.append(f"not a time in field {field}")
            return None

    current = text("current_job") or None
    if not current and not is_error(executions) and executions:
        running = sorted(job_id_of_member(m) for m in (decoding.text(x) for x in executions) if m)
        current = running[0] if running else None
    return WorkerInfo(
        name=name,
        hostname=text("hostname"),
        pid=number("pid", int),
        state=text("state"),
        queues=tuple(q for q in text("queues").split(",") if q),
        current_job=current,
        successful=number("successful_job_count", int) or 0,
        failed=number("failed_job_count", int) or 0,
        working_time_s=number("total_working_time", float) or 0.0,
        birth=when("birth"),
        last_heartbeat=when("last_heartbeat"),
        problem="; ".join(problems) or None,
        supervisor=text(WORKER_SUPERVISOR_FIELD),
    )


def _supervisor(sid: str, raw: Any) -> SupervisorRecord | None:
    if raw is None:
        return None  # the record expired: the supervisor stopped heartbeating
    if is_error(raw):
        log.warning("supervisor record %s is not a string, skipped: %s", record_key(sid), raw)
        return None
    try:
        return SupervisorRecord.from_json(raw)
    except ValueError as exc:
        log.warning("supervisor record %s is damaged, skipped: %s", record_key(sid), exc)
        return None


def _server_info(server: Any, memory: Any, round_trip_ms: float) -> ServerInfo:
    version = ""
    used = None
    if isinstance(server, dict):
        version = str(server.get("redis_version", ""))
    if isinstance(memory, dict):
        try:
            used = int(memory.get("used_memory", "")) if memory.get("used_memory") is not None else None
        except (TypeError, ValueError):
            used = None
    return ServerInfo(version=version, round_trip_ms=round_trip_ms, used_memory_bytes=used)
