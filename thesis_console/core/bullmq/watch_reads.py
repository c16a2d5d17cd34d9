"""What the alert rules read of a BullMQ queue, queued on the watch's two pipelined round trips.

Round trip 1 (:func:`fill_first`), per queue:

- for each minute bucket not yet settled in the caller's cache, the finished jobs BullMQ still keeps
  (ZCOUNT of ``completed`` and ``failed`` by finish time) and the console's own minute hash under
  :func:`~thesis_console.core.bullmq.keys.depth_metrics_name` (depth samples of a ``thesis-worker
  --backend bullmq`` supervisor); with those, once, BullMQ's own per-minute metrics (``metrics:completed``
  and ``metrics:failed``, decoded by :func:`thesis_console.core.bullmq.metrics.minute_counts`). A
  minute counts the larger of the two figures, as the charts do;
- when jobs wait, the next job of each waiting structure: the right end of ``wait`` and ``paused``
  (the end a worker takes from) and the lowest of ``prioritized``;
- when jobs run, the first :data:`ACTIVE_LIMIT` + 1 ids of ``active``.

Round trip 2 (:func:`fill_second`): the ``timestamp`` of each head job; for each running job its
``progress``, ``processedOn`` and ``pb`` (the worker's name, when it has one) and whether its lock
``<id>:lock`` exists (a worker that holds the lock is alive: the lock expires 30 s after its worker
stops renewing it); and, for a queue with a running job the caller has not seen before, the newest
:data:`EVENTS_FOR_PROGRESS` entries of the events stream, where BullMQ notes each progress report.

Nothing is written; the commands grow with the queues, the minutes and the running jobs, never with
the waiting or finished jobs.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from thesis_console.core import decoding, metrics_store
from thesis_console.core.bullmq.jobs import progress_of
from thesis_console.core.bullmq.keys import BullKeys, depth_metrics_name
from thesis_console.core.bullmq.metrics import OUTCOMES, MinuteCounts, minute_counts
from thesis_console.core.round_trips import is_error, reply_int

ACTIVE_LIMIT = 200
"""Running jobs examined per queue, as for RQ."""
EVENTS_FOR_PROGRESS = 1000
"""Newest events-stream entries read to learn when a running job, seen for the first time, last
reported progress (BullMQ keeps about 10,000; a thesis job leaves about eight)."""

_HEAD_SOURCES = ("wait", "paused")
_ACTIVE_FIELDS = ("progress", "processedOn", "pb")


@dataclass(frozen=True)
class First:
    """What round trip 1 found of one queue."""

    minutes: dict[int, metrics_store.BucketCounts]
    """The buckets asked for, by epoch minute."""
    heads: tuple[str, ...]
    """The next job of each non-empty waiting structure."""
    active: tuple[str, ...]
    """Running job ids, newest first, at most :data:`ACTIVE_LIMIT`."""
    active_truncated: bool


@dataclass(frozen=True)
class RunningJob:
    """One running job as round trip 2 read it."""

    id: str
    progress: int | None
    stage: str | None
    raw_progress: bytes | None
    """The ``progress`` field as stored (None when the job never reported one)."""
    processed_at: float | None
    worker: str | None
    lock_held: bool
    reported_at: float | None
    """Its newest progress report in the events read, or None (not read, or no longer there)."""
    reported_after: float | None
    """The time of the oldest event read: a report not found was made before it (None: not read)."""


def metrics_name(keys: BullKeys) -> str:
    """The queue's name in the console's own metrics and in the watch's minute cache: apart from an
    RQ queue of the same name."""
    return depth_metrics_name(keys.prefix, keys.queue)


def fill_first(pipe: Any, keys: BullKeys, missing: Sequence[int], waiting: int, active: int, wanted_minutes: int) -> None:
    """Queue round trip 1's commands for one queue (see the module's docstring)."""
    if missing:
        for outcome in OUTCOMES:
            pipe.hmget(keys.of(f"metrics:{outcome}"), ["count", "prevTS", "prevCount"])
            pipe.lrange(keys.of(f"metrics:{outcome}:data"), 0, wanted_minutes + 1)
            pipe.llen(keys.of(f"metrics:{outcome}:data"))
        name = metrics_name(keys)
        for minute in missing:
            low, high = minute * 60_000, f"({(minute + 1) * 60_000}"
            pipe.hgetall(metrics_store.minute_key(name, minute))
            for outcome in OUTCOMES:
                pipe.zcount(keys.of(outcome), low, high)
    if waiting:
        for source in _HEAD_SOURCES:
            pipe.lindex(keys.of(source), -1)
        pipe.zrange(keys.of("prioritized"), 0, 0)
    if active:
        pipe.lrange(keys.of("active"), 0, ACTIVE_LIMIT)


def parse_first(replies: Iterator[Any], missing: Sequence[int], waiting: int, active: int) -> First:
    """Take round trip 1's replies of one queue from ``replies``, in :func:`fill_first`'s order."""
    minutes: dict[int, metrics_store.BucketCounts] = {}
    if missing:
        recorded: dict[str, MinuteCounts | None] = {}
        for outcome in OUTCOMES:
            meta, data, length = next(replies), next(replies), next(replies)
            recorded[outcome] = minute_counts(meta, data, length)
        for minute in missing:
            raw = next(replies)
            kept = {outcome: reply_int(next(replies)) for outcome in OUTCOMES}
            own = metrics_store.decode_counts(float(minute * 60), raw if isinstance(raw, dict) else {})
            done, failed = (max(kept[o], _in_minute(recorded[o], minute)) for o in OUTCOMES)
            minutes[minute] = metrics_store.BucketCounts(
                start=own.start, completed=done, failed=failed, retried=0, histogram=own.histogram,
                runtime_sum_s=own.runtime_sum_s, depth=own.depth,
            )  # fmt: skip
    heads: list[str] = []
    if waiting:
        for _ in _HEAD_SOURCES:
            head = _text(next(replies))
            if head:
                heads.append(head)
        prioritized = next(replies)
        if not is_error(prioritized) and prioritized:
            head = _text(prioritized[0])
            if head:
                heads.append(head)
    running: list[str] = []
    if active:
        members = next(replies)
        if not is_error(members):
            running = [job_id for job_id in map(_text, members or ()) if job_id]
    return First(minutes, tuple(heads), tuple(running[:ACTIVE_LIMIT]), len(running) > ACTIVE_LIMIT)


def fill_second(pipe: Any, keys: BullKeys, first: First, read_events: bool) -> None:
    """Queue round trip 2's commands for one queue."""
    for head in first.heads:
        pipe.hget(keys.job(head), "timestamp")
    for job_id in first.active:
        pipe.hmget(keys.job(job_id), _ACTIVE_FIELDS)
        pipe.exists(f"{keys.job(job_id)}:lock")
    if read_events:
        pipe.xrevrange(keys.of("events"), "+", "-", count=EVENTS_FOR_PROGRESS)


def parse_second(replies: Iterator[Any], first: First, read_events: bool) -> tuple[str | None, float | None, list[RunningJob]]:
    """The oldest head job and its enqueue time, and the running jobs, from round trip 2's replies."""
    head_job, head_at = None, None
    for head in first.heads:
        at = _ms(next(replies))
        if at is not None and (head_at is None or at < head_at):
            head_job, head_at = head, at
    read = []
    for job_id in first.active:
        fields, lock = next(replies), next(replies)
        read.append((job_id, None if is_error(fields) or not fields else fields, reply_int(lock) > 0))
    reports: dict[str, float] = {}
    oldest: float | None = None
    if read_events:
        reports, oldest = _progress_reports(next(replies), {job_id for job_id, _, _ in read})
    running = []
    for job_id, fields, lock_held in read:
        raw_progress, processed, worker = fields if fields is not None else (None, None, None)
        progress, stage = progress_of(raw_progress) if raw_progress is not None else (None, None)
        running.append(
            RunningJob(
                id=job_id, progress=progress, stage=stage, raw_progress=raw_progress, processed_at=_ms(processed),
                worker=_text(worker) or None, lock_held=lock_held, reported_at=reports.get(job_id),
                reported_after=oldest if read_events else None,
            )
        )  # fmt: skip
    return head_job, head_at, running


def _progress_reports(reply: Any, wanted: set[str]) -> tuple[dict[str, float], float | None]:
    """The newest ``progress`` event time of each wanted job, and the time of the oldest entry read."""
    if is_error(reply) or not reply:
        return {}, None
    found: dict[str, float] = {}
    for entry_id, fields in reply:  # newest first
        if fields.get(b"event") != b"progress":
            continue
        job_id = _text(fields.get(b"jobId"))
        if job_id in wanted and job_id not in found:
            found[job_id] = _entry_time(entry_id)
    return found, _entry_time(reply[-1][0])


def _entry_time(entry_id: bytes) -> float:
    """A stream entry id's time: its milliseconds part."""
    return int(entry_id.split(b"-")[0]) / 1000.0


def _in_minute(counts: MinuteCounts | None, minute: int) -> int:
    return 0 if counts is None else counts.per_minute.get(minute, 0)


def _text(raw: Any) -> str | None:
    if raw is None or is_error(raw):
        return None
    return decoding.text(raw)


def _ms(raw: Any) -> float | None:
    """A BullMQ time field (ms since the epoch) in seconds; None when missing or not a number."""
    text = _text(raw)
    if not text:
        return None
    try:
        return float(text) / 1000.0
    except ValueError:
        return None
