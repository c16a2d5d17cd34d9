"""Chart series from the metric buckets that workers write (see :mod:`thesis_console.core.metrics_store`).

Ranges up to :data:`MINUTE_RANGE_MAX_S` use the per-minute hashes (at most 360 points), longer ones
the per-hour hashes (24 points for a day, 168 for a week). Every bucket of the range is read with
one HGETALL in a single pipelined round trip; a bucket nobody wrote is a point with zero counts and
no run times, so a chart has no gaps in time.
"""

from __future__ import annotations

import math
import time
from typing import Any

from thesis_console.core import metrics_store
from thesis_console.core.round_trips import RoundTrips, is_error
from thesis_console.core.types import CoreError, MetricPoint, MetricSeries

MINUTE_RANGE_MAX_S = 6 * 3600
"""The longest range drawn from minute buckets; longer ranges use hour buckets."""


def step_for(range_s: int) -> int:
    """Seconds per point for a chart covering ``range_s`` seconds."""
    return 60 if range_s <= MINUTE_RANGE_MAX_S else 3600


def chart_buckets(range_s: int, now: float | None = None) -> tuple[int, range]:
    """The step and the bucket numbers (Unix time // step) of a chart covering ``range_s`` up to ``now``.

    Raises:
        CoreError: the range is not 60 s to 7 days.
    """
    if not isinstance(range_s, int) or not 60 <= range_s <= metrics_store.RETENTION_S:
        raise CoreError(f"range must be 60 s to {metrics_store.RETENTION_S} s (7 days), got {range_s!r}")
    now = time.time() if now is None else now
    step = step_for(range_s)
    last = int(now // step)
    return step, range(last - math.ceil(range_s / step) + 1, last + 1)


async def read_series(trips: RoundTrips, queue: str, range_s: int, now: float | None = None) -> MetricSeries:
    """Completed, failed and retried counts, success rate, run-time p50/p95 and depth over time.

    Args:
        queue: the queue the workers recorded metrics for.
        range_s: how far back the chart reaches, 60 s to 7 days.
        now: the end of the range (Unix time); the current time by default.

    Returns:
        Points oldest first; the last one is the bucket that contains ``now`` (still filling up).

    Raises:
        CoreError: a bad range, or Redis could not be reached or did not answer in time.
    """
    step, buckets = chart_buckets(range_s, now)
    key = metrics_store.minute_key if step == 60 else metrics_store.hour_key

    def fill(pipe: Any) -> None:
        for bucket in buckets:
            pipe.hgetall(key(queue, bucket))

    replies = await trips.run(fill)
    points = []
    for bucket, reply in zip(buckets, replies, strict=True):
        stats = metrics_store.decode_bucket(float(bucket * step), {} if is_error(reply) else reply or {})
        points.append(
            MetricPoint(
                start=stats.start,
                completed=stats.completed,
                failed=stats.failed,
                retried=stats.retried,
                success_rate=stats.success_rate,
                runtime_p50_s=stats.runtime_p50_s,
                runtime_p95_s=stats.runtime_p95_s,
                depth=stats.depth,
            )
        )
    return MetricSeries(queue=queue, step_s=step, points=tuple(points))
