"""Chart series of a BullMQ queue: throughput, success rate, run time and depth, in two round trips.

**Throughput.** When the workers record BullMQ's own metrics (the Worker's ``metrics`` option), each
finished job passes through BullMQ's ``collectMetrics`` (in ``moveToFinished``), which keeps, per
outcome (``completed``, ``failed``: failed for good, not retried):

- the hash ``<prefix>:<queue>:metrics:<outcome>``: ``count`` (every job finished so far), ``prevTS``
  (ms) and ``prevCount`` (the time and the count when a point was last pushed);
- the list ``<prefix>:<queue>:metrics:<outcome>:data``, newest first: the first finish in a new
  minute pushes the count of the minute of ``prevTS``, then a zero for each minute since with none.

So entry ``i`` of the list counts the minute ``minute(prevTS) - 1 - i``, the minute of ``prevTS``
has ``count - prevCount`` so far, and the minutes after it have none. The metrics reach back
``LLEN`` minutes before ``prevTS``; the jobs BullMQ still keeps (``completed``/``failed`` sorted
by finish time) reach back to the oldest of them. A bucket counts as recorded when either reaches
it, and shows the larger count of the two (a worker without the ``metrics`` option adds to the kept
jobs but not to the metrics); before both, it is "not recorded".

**Run time** p50/p95: processedOn → finishedOn (the last attempt) of the newest completed jobs of
each bucket still kept, at most :data:`RUNTIME_SAMPLES` over the chart. **Depth**: wait + paused +
prioritized now, in the last bucket; earlier buckets only where a ``thesis-worker --backend bullmq``
supervisor recorded samples (BullMQ records none).

Round trip 1 reads the metrics, per bucket the finished counts (ZCOUNT), the sample ids and the
depth samples, and the depth now; round trip 2 reads the samples' two time fields (skipped when
there are none). The commands grow with the number of buckets (at most 361), never with the jobs.
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from thesis_console.core import decoding, metrics_store
from thesis_console.core.bullmq.keys import BullKeys, depth_metrics_name
from thesis_console.core.metrics_read import chart_buckets
from thesis_console.core.round_trips import RoundTrips, is_error, reply_int
from thesis_console.core.types import Measure, MetricPoint, MetricSeries

RUNTIME_SAMPLES = 3000
"""Completed jobs read for run times over a whole chart (spread evenly over its buckets)."""
MIN_SAMPLES_PER_BUCKET = 10
OUTCOMES = ("completed", "failed")

SOURCE_METRICS = "throughput: BullMQ's own per-minute metrics, with the finished jobs BullMQ still keeps"
SOURCE_KEPT = "throughput: counted from the finished jobs BullMQ still keeps (its workers record no metrics)"
SOURCE_RUNTIME = "run time: from the completed jobs BullMQ still keeps (processedOn to finishedOn)"
SOURCE_DEPTH = "depth: wait + paused + prioritized now; earlier only where a thesis-worker supervisor recorded it"


@dataclass(frozen=True)
class MinuteCounts:
    """One outcome's per-minute counts as BullMQ's metrics hold them."""

    per_minute: dict[int, int]
    since_minute: int
    """The first minute (Unix time // 60) the metrics cover."""


def minute_counts(meta: Any, data: Any, length: Any) -> MinuteCounts | None:
    """The per-minute counts from ``HMGET metrics:<outcome> count prevTS prevCount``, ``LRANGE`` of its
    ``:data`` list (from 0) and its ``LLEN``; None when nothing was recorded (or the keys are foreign)."""
    if is_error(meta) or is_error(data) or not meta or _number(meta[1]) is None:
        return None
    count, prev_ts, prev_count = (_number(v) or 0 for v in meta)
    last = prev_ts // 60_000
    per_minute = {last: max(0, count - prev_count)}
    for index, raw in enumerate(data or ()):
        per_minute[last - 1 - index] = max(0, _number(raw) or 0)
    return MinuteCounts(per_minute, last - reply_int(length))


async def read_series(trips: RoundTrips, prefix: str, queue: str, range_s: int, now: float | None = None) -> MetricSeries:
    """Points for the charts of ``queue``: minute buckets up to 6 hours, hour buckets beyond.

    Raises:
        CoreError: a bad range, or Redis could not be reached or did not answer in time.
    """
    now = time.time() if now is None else now
    step, buckets = chart_buckets(range_s, now)
    keys = BullKeys(prefix, queue)
    minutes = math.ceil((now - buckets[0] * step) / 60) + 2  # list entries that can reach the first bucket
    per_bucket = max(MIN_SAMPLES_PER_BUCKET, RUNTIME_SAMPLES // len(buckets))
    depth_key = metrics_store.minute_key if step == 60 else metrics_store.hour_key
    depth_name = depth_metrics_name(prefix, queue)

    def fill(pipe: Any) -> None:
        for outcome in OUTCOMES:
            pipe.hmget(keys.of(f"metrics:{outcome}"), ["count", "prevTS", "prevCount"])
            pipe.lrange(keys.of(f"metrics:{outcome}:data"), 0, minutes - 1)
            pipe.llen(keys.of(f"metrics:{outcome}:data"))
            pipe.zrange(keys.of(outcome), 0, 0, withscores=True)
        for bucket in buckets:
            low, high = bucket * step * 1000, (bucket + 1) * step * 1000
            for outcome in OUTCOMES:
                pipe.zcount(keys.of(outcome), low, f"({high}")
            pipe.zrevrangebyscore(keys.of("completed"), f"({high}", low, start=0, num=per_bucket)
            pipe.hget(depth_key(depth_name, bucket), metrics_store.F_DEPTH)
        pipe.llen(keys.of("wait"))
        pipe.llen(keys.of("paused"))
        pipe.zcard(keys.of("prioritized"))

    replies = await trips.run(fill)
    recorded: dict[str, MinuteCounts | None] = {}
    oldest_kept: list[float] = []
    for index, outcome in enumerate(OUTCOMES):
        meta, data, length, oldest = replies[4 * index : 4 * index + 4]
        recorded[outcome] = minute_counts(meta, data, length)
        if oldest and not is_error(oldest):
            oldest_kept.append(float(oldest[0][1]) / 1000)
    per_bucket_replies = replies[4 * len(OUTCOMES) : -3]
    depth_now = sum(reply_int(r) for r in replies[-3:])
    samples: list[list[str]] = []
    for index in range(len(buckets)):
        ids = per_bucket_replies[4 * index + 2]
        samples.append([] if is_error(ids) else [decoding.text(i) or "" for i in ids or ()])
    runtimes = await _runtimes(trips, keys, samples)

    metrics_since = min((c.since_minute for c in recorded.values() if c is not None), default=None)
    # Before the oldest job kept in either set, one of them may have lost jobs to its retention.
    kept_since = max(oldest_kept) if oldest_kept else None
    points = []
    for index, bucket in enumerate(buckets):
        start, end = bucket * step, (bucket + 1) * step
        kept_done, kept_failed, _, depth_sample = per_bucket_replies[4 * index : 4 * index + 4]
        by_metrics = metrics_since is not None and end > metrics_since * 60
        by_kept = kept_since is not None and end > kept_since
        done = max(reply_int(kept_done), _sum_minutes(recorded["completed"], start, end) if by_metrics else 0)
        failed = max(reply_int(kept_failed), _sum_minutes(recorded["failed"], start, end) if by_metrics else 0)
        unrecorded: set[Measure] = set()
        if not (by_metrics or by_kept):
            unrecorded.add(Measure.THROUGHPUT)
        times = runtimes[index]
        if not times and (done or Measure.THROUGHPUT in unrecorded):
            unrecorded.add(Measure.RUNTIME)  # jobs ended then, but none of them is kept
        depth = depth_now if index == len(buckets) - 1 else _number(depth_sample)
        if depth is None:
            unrecorded.add(Measure.DEPTH)
        points.append(
            MetricPoint(
                start=float(start),
                completed=done,
                failed=failed,
                retried=0,  # BullMQ records no retries; a retried attempt is not a finish
                success_rate=done / (done + failed) if done + failed else None,
                runtime_p50_s=_quantile(times, 0.50),
                runtime_p95_s=_quantile(times, 0.95),
                depth=depth,
                unrecorded=frozenset(unrecorded),
            )
        )
    sources = (SOURCE_METRICS if metrics_since is not None else SOURCE_KEPT, SOURCE_RUNTIME, SOURCE_DEPTH)
    return MetricSeries(queue=queue, step_s=step, points=tuple(points), sources=sources)


async def _runtimes(trips: RoundTrips, keys: BullKeys, samples: list[list[str]]) -> list[list[float]]:
    """The run times (s) of each bucket's sampled jobs; jobs gone or without both times are left out."""
    wanted = [job_id for ids in samples for job_id in ids]
    if not wanted:
        return [[] for _ in samples]
    replies = iter(await trips.run(lambda pipe: [pipe.hmget(keys.job(i), ["processedOn", "finishedOn"]) for i in wanted]))
    out = []
    for ids in samples:
        times = []
        for _ in ids:
            reply = next(replies)
            if is_error(reply):
                continue
            began, ended = (_number(v) for v in reply)
            if began is not None and ended is not None and ended >= began:
                times.append((ended - began) / 1000)
        out.append(sorted(times))
    return out


def _sum_minutes(counts: MinuteCounts | None, start: int, end: int) -> int:
    if counts is None:
        return 0
    return sum(counts.per_minute.get(minute, 0) for minute in range(start // 60, end // 60))


def _quantile(ordered: Sequence[float], q: float) -> float | None:
    """The ``q`` quantile of sorted values, interpolated between the nearest two."""
    if not ordered:
        return None
    at = q * (len(ordered) - 1)
    low = math.floor(at)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (at - low)


def _number(raw: Any) -> int | None:
    value = decoding.text(raw) if isinstance(raw, bytes) else raw
    if value is None or is_error(value):
        return None
    try:
        return int(float(value))
    except (TypeError, ValueError):
        return None
