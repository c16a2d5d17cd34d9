"""What the alert rules and the metrics endpoint look at, read in four pipelined round trips (five with
BullMQ queues).

Round trips 1 and 2 are the overview snapshot (:mod:`thesis_console.core.snapshot`; with BullMQ
queues, :meth:`QueueReader.snapshot` adds one for their counts and ``CLIENT LIST``). Round trip 3
asks, for each RQ queue, for the last ``minutes`` per-minute metric hashes (HGETALL; completed,
failed, run-time histogram and depth samples), the job at the head of the waiting list (LINDEX 0, when
jobs wait) and the first :data:`ACTIVE_LIMIT` members of the started registry (ZRANGE, when jobs run), and once for the
supervisor index with its heartbeat scores (ZRANGE WITHSCORES). Round trip 4 reads the head job's
enqueue time and each active job's meta, start and worker (HMGET). A BullMQ queue's reads of BullMQ's
own keys go into the same two round trips (:mod:`thesis_console.core.bullmq.watch_reads`). The number
of commands grows with queues, minutes, supervisors and running jobs, never with the number of waiting
or ended jobs.

Nothing is written: these are LLEN/ZCARD/ZCOUNT/LINDEX/LRANGE/ZRANGE/XREVRANGE/HGETALL/HMGET/HGET/EXISTS/GET
reads only.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import Any

from thesis_console.core import contract, decoding, metrics_store
from thesis_console.core.bullmq import watch_reads
from thesis_console.core.bullmq.keys import DEFAULT_PREFIX, BullKeys
from thesis_console.core.round_trips import RoundTrips, is_error
from thesis_console.core.rq_keys import job_id_of_member, job_key, queue_key, state_source
from thesis_console.core.snapshot import read_snapshot
from thesis_console.core.supervisor_protocol import INDEX_KEY, SupervisorRecord
from thesis_console.core.types import Backend, JobState, Snapshot

log = logging.getLogger(__name__)

ACTIVE_LIMIT = 200
"""Running jobs examined per queue (one per busy worker; more than this many is not a thesis farm)."""
ROUND_TRIPS = 4
"""Round trips of one :func:`read_watch_data` on RQ queues, whatever the number of jobs (one more for
the BullMQ counts when there are BullMQ queues, :meth:`QueueReader.watch`)."""

SETTLED_AFTER_S = 30.0
"""A minute's metrics bucket is final this long after the minute ended: workers write into the bucket of
the minute an attempt ends in, by their own clock, so only a host's clock skew can make a write late."""

_HEAD_FIELDS = ("enqueued_at", "created_at")
_ACTIVE_FIELDS = ("meta", "started_at", "worker_name")


@dataclass(frozen=True)
class ActiveJob:
    """A running job as the stuck-job rule sees it."""

    id: str
    queue: str
    worker: str | None
    started_at: float | None
    progress: int | None
    stage: str | None
    progress_at: float | None
    """When progress last changed (``meta['progress_at']``; for BullMQ see :func:`_bull_progress_at`);
    None for a job that never reported it."""
    worker_alive: bool | None = None
    """Whether the job's data shows its worker alive (BullMQ: the job's lock is held); None when the
    worker is to be looked up among the live RQ workers by name."""

    @property
    def last_progress_at(self) -> float | None:
        """The time the stuck rule measures from: the last change, else the start for a job that
        reports progress but not its time (written by an older worker)."""
        if self.progress_at is not None:
            return self.progress_at
        return self.started_at if self.progress is not None else None


@dataclass(frozen=True)
class QueueWatch:
    """One queue's recent history and its head and running jobs."""

    name: str
    minutes: tuple[metrics_store.BucketCounts, ...]
    """The last minute buckets, oldest first; the last one is the current, still filling."""
    head_job: str | None
    head_enqueued_at: float | None
    active: tuple[ActiveJob, ...]
    active_truncated: bool
    backend: Backend = Backend.RQ


@dataclass(frozen=True)
class SupervisorBeat:
    """A supervisor of the index with its last heartbeat; ``record`` is None once it expired."""

    id: str
    heartbeat_at: float
    record: SupervisorRecord | None


@dataclass(frozen=True)
class WatchData:
    snapshot: Snapshot
    queues: tuple[QueueWatch, ...]
    supervisors: tuple[SupervisorBeat, ...]
    taken_at: float
    round_trips: int

    def queue(self, name: str, backend: Backend | None = None) -> QueueWatch | None:
        """The queue called ``name`` (of ``backend``, when an RQ and a BullMQ queue share the name)."""
        return self._by_name.get((backend, name))

    @cached_property
    def _by_name(self) -> dict[tuple[Backend | None, str], QueueWatch]:
        by_name: dict[tuple[Backend | None, str], QueueWatch] = {}
        for q in self.queues:
            by_name.setdefault((None, q.name), q)
            by_name.setdefault((q.backend, q.name), q)
        return by_name


class MinuteCache:
    """Minute buckets that can no longer change, kept between reads so that a caller that reads every
    few seconds (the window, the metrics endpoint) asks Redis only for the last few minutes."""

    def __init__(self) -> None:
        self._queues: dict[str, dict[int, metrics_store.BucketCounts]] = {}
        self.progress_seen: dict[tuple[str, str], tuple[bytes, float]] = {}
        """(BullMQ queue's metrics name, job id) to its running job's last ``progress`` value and when
        that value was first known (BullMQ keeps no time of a progress change)."""

    def get(self, queue: str, minute: int) -> metrics_store.BucketCounts | None:
        return self._queues.get(queue, {}).get(minute)

    def of(self, queue: str) -> dict[int, metrics_store.BucketCounts]:
        """The settled buckets of ``queue`` by epoch minute (the cache's own dict: read it, do not change it)."""
        return self._queues.setdefault(queue, {})

    def keep(self, queue: str, minute: int, bucket: metrics_store.BucketCounts, now: float) -> None:
        if (minute + 1) * 60 + SETTLED_AFTER_S < now:
            self._queues.setdefault(queue, {})[minute] = bucket

    def prune(self, oldest_minute: int) -> None:
        for buckets in self._queues.values():
            for minute in [m for m in buckets if m < oldest_minute]:
                del buckets[minute]

    def __len__(self) -> int:
        return sum(len(buckets) for buckets in self._queues.values())


async def read_watch_data(
    trips: RoundTrips,
    queues: Sequence[str] | None,
    minutes: int,
    now: float | None = None,
    cache: MinuteCache | None = None,
    snapshot: Snapshot | None = None,
    bullmq_prefix: str = DEFAULT_PREFIX,
) -> WatchData:
    """Read the snapshot and, per queue, the last ``minutes`` metric buckets, head job and running jobs.

    Args:
        trips: the round-trip runner.
        queues: the queues to watch; None for every queue RQ knows.
        minutes: metric buckets per queue (1 to 360), the current minute included.
        now: the time the buckets are counted back from; the current time by default.
        cache: settled minute buckets from earlier reads; those are not asked for again.
        snapshot: a snapshot just read by the caller (the window refreshes one every few seconds);
            given, round trips 1 and 2 are skipped and its queues are the ones watched, each from
            its own backend's keys.
        bullmq_prefix: the ``prefix`` of the snapshot's BullMQ queues.

    Raises:
        CoreError: Redis could not be reached or did not answer in time.
    """
    if not 1 <= minutes <= 360:
        raise ValueError(f"minutes must be 1 to 360, got {minutes}")
    before = trips.count
    if snapshot is None:
        snapshot = await read_snapshot(trips, queues)
        now = snapshot.taken_at if now is None else now
    elif now is None:
        now = time.time()
    last_minute = int(now // 60)
    buckets = range(last_minute - minutes + 1, last_minute + 1)

    cache = cache if cache is not None else MinuteCache()
    cache.prune(buckets.start)
    wanted = []  # per RQ queue: its counts, its settled buckets and the minutes to read
    bull_wanted = []  # per BullMQ queue: its counts, keys, cache name, settled buckets and minutes to read
    for counts in snapshot.queues:
        if counts.backend is Backend.BULLMQ:
            keys = BullKeys(bullmq_prefix, counts.name)
            name = watch_reads.metrics_name(keys)
            known = cache.of(name)
            bull_wanted.append((counts, keys, name, known, [m for m in buckets if m not in known]))
            continue
        known = cache.of(counts.name)
        wanted.append((counts, known, [m for m in buckets if m not in known]))

    def fill_history(pipe: Any) -> None:
        for counts, _known, missing in wanted:
            name = counts.name
            for minute in missing:
                pipe.hgetall(metrics_store.minute_key(name, minute))
            if counts.waiting:
                pipe.lindex(queue_key(name), 0)
            if counts.active:
                pipe.zrange(state_source(name, JobState.ACTIVE).key, 0, ACTIVE_LIMIT)
        for counts, keys, _name, _known, missing in bull_wanted:
            watch_reads.fill_first(pipe, keys, missing, counts.waiting, counts.active, len(buckets))
        pipe.zrange(INDEX_KEY, 0, -1, withscores=True)

    replies = iter(await trips.run(fill_history))
    per_queue = []
    for counts, known, missing in wanted:
        name = counts.name
        if missing:
            read = dict(known)
            for minute in missing:
                bucket = metrics_store.decode_counts(float(minute * 60), _mapping(next(replies)))
                cache.keep(name, minute, bucket, now)
                read[minute] = bucket
            minute_counts = tuple(read[m] for m in buckets)
        else:
            minute_counts = tuple(known[m] for m in buckets)
        head = _text_or_none(next(replies)) if counts.waiting else None
        members = next(replies) if counts.active else []
        running = [] if is_error(members) else [job_id_of_member(m) for m in map(_text_or_none, members) if m]
        per_queue.append((name, minute_counts, head, running[:ACTIVE_LIMIT], len(running) > ACTIVE_LIMIT))
    bull_first = []
    for counts, keys, name, known, missing in bull_wanted:
        first = watch_reads.parse_first(replies, missing, counts.waiting, counts.active)
        for minute, bucket in first.minutes.items():
            cache.keep(name, minute, bucket, now)
        read = {**known, **first.minutes}
        unseen = any((name, job_id) not in cache.progress_seen for job_id in first.active)
        bull_first.append((counts, keys, name, tuple(read[m] for m in buckets), first, unseen))
    beats = _beats(next(replies))

    def fill_jobs(pipe: Any) -> None:
        for _name, _buckets, head, running, _more in per_queue:
            if head is not None:
                pipe.hmget(job_key(head), _HEAD_FIELDS)
            for job_id in running:
                pipe.hmget(job_key(job_id), _ACTIVE_FIELDS)
        for _bull_counts, keys, _bull_name, _minutes, first, unseen in bull_first:
            watch_reads.fill_second(pipe, keys, first, unseen)

    job_replies = iter(await trips.run(fill_jobs))
    watched: dict[tuple[Backend, str], QueueWatch] = {}
    for name, minute_counts, head, running, more in per_queue:
        head_at = _head_time(next(job_replies)) if head is not None else None
        active = tuple(_active_job(job_id, name, next(job_replies)) for job_id in running)
        watched[(Backend.RQ, name)] = QueueWatch(name, minute_counts, head, head_at, active, more)
    seen: dict[tuple[str, str], tuple[bytes, float]] = {}
    for counts, _keys, name, bull_minutes, first, unseen in bull_first:
        head, head_at, jobs = watch_reads.parse_second(job_replies, first, unseen)
        running_jobs = []
        for job in jobs:
            at = _bull_progress_at(job, cache.progress_seen.get((name, job.id)), now)
            if job.raw_progress is not None and at is not None:
                seen[(name, job.id)] = (job.raw_progress, at)
            running_jobs.append(ActiveJob(job.id, counts.name, job.worker, job.processed_at, job.progress, job.stage, at,
                                    worker_alive=job.lock_held))  # fmt: skip
        watched[(Backend.BULLMQ, counts.name)] = QueueWatch(
            counts.name, bull_minutes, head, head_at, tuple(running_jobs), first.active_truncated, Backend.BULLMQ
        )
    if bull_first:
        cache.progress_seen = seen
    records = {s.id: s for s in snapshot.supervisors}
    return WatchData(
        snapshot=snapshot,
        queues=tuple(watched[(c.backend, c.name)] for c in snapshot.queues if (c.backend, c.name) in watched),
        supervisors=tuple(SupervisorBeat(sid, at, records.get(sid)) for sid, at in beats),
        taken_at=now,
        round_trips=trips.count - before,
    )


def _bull_progress_at(job: watch_reads.RunningJob, remembered: tuple[bytes, float] | None, now: float) -> float | None:
    """When a running BullMQ job's progress last changed, as far as the data shows it, never earlier
    than it could have (the stuck rule must not fire early). BullMQ keeps no such time:

    - the value is the one the caller saw before: since it first saw it;
    - else its newest progress report in the events stream (read for jobs not seen before);
    - else, when the events read do not reach back to the report, the oldest event read (the report
      was made before it);
    - a value kept from an earlier attempt (BullMQ leaves ``progress`` in place on a retry) has not
      changed since this attempt started (``processedOn``); with nothing else known, now.

    None for a job that never reported progress, or whose progress is not JSON (as for RQ, the stuck
    rule does not judge it).
    """
    if job.raw_progress is None or (job.progress is None and job.stage is None):
        return None
    if remembered is not None and remembered[0] == job.raw_progress:
        at = remembered[1]
    elif job.reported_at is not None:
        at = job.reported_at
    elif remembered is None and job.reported_after is not None:
        at = job.reported_after
    else:
        at = now  # changed since the last evaluation, or nothing read tells when
    return max(at, job.processed_at) if job.processed_at is not None else at



def _mapping(reply: Any) -> dict:
    return {} if is_error(reply) or not isinstance(reply, dict) else reply


def _text_or_none(raw: Any) -> str | None:
    if raw is None or is_error(raw):
        return None
    return decoding.text(raw)


def _beats(reply: Any) -> list[tuple[str, float]]:
    if is_error(reply):
        log.warning("%s is not a sorted set, supervisors ignored: %s", INDEX_KEY, reply)
        return []
    out = []
    for member, score in reply or ():
        sid = decoding.text(member)
        if sid is not None:
            out.append((sid, float(score)))
    return out


def _head_time(reply: Any) -> float | None:
    if is_error(reply) or not reply:
        return None
    for raw in reply:
        try:
            when = decoding.parse_time(raw)
        except ValueError:
            continue
        if when is not None:
            return when
    return None


def _active_job(job_id: str, queue: str, reply: Any) -> ActiveJob:
    if is_error(reply) or not reply:
        return ActiveJob(job_id, queue, None, None, None, None, None)
    raw_meta, raw_started, raw_worker = reply
    # Meta is decoded as JSON only: a pickled meta is never unpickled here (no progress then).
    _payload, meta, _problem = decoding.decode_meta(raw_meta, trust_pickle=False)
    progress, stage = contract.progress_of(meta)
    try:
        started = decoding.parse_time(raw_started)
    except ValueError:
        started = None
    return ActiveJob(
        id=job_id,
        queue=queue,
        worker=decoding.text(raw_worker) or None,
        started_at=started,
        progress=progress,
        stage=stage,
        progress_at=contract.progress_changed_at(meta),
    )
