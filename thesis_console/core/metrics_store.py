"""Job metrics in Redis: the layout that workers write and the console reads.

Per queue and per minute, one hash ``thesis:metrics:{queue}:m:{epoch_minute}`` holds the completed
and failed counts, a run-time histogram (fixed bucket bounds, so p50 and p95 come out without a list
of every duration) and the last queue-depth sample. An hourly hash ``...:h:{epoch_hour}`` holds the
same sums for the 24 h and 7 day views. Writes are HINCRBY/HINCRBYFLOAT, atomic increments, so any
number of workers on any number of hosts add up. Every bucket expires after the retention period,
so memory per queue is bounded (at most 7 x 1440 minute and 7 x 24 hour hashes).
"""

from __future__ import annotations

import bisect
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from thesis_console.core.contract import KEY_PREFIX

RETENTION_S = 7 * 24 * 3600
_EXPIRE_S = RETENTION_S + 3600

RUNTIME_BOUNDS_S: tuple[float, ...] = (
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000,
)  # fmt: skip
"""Upper bounds of the run-time histogram buckets; one more bucket holds everything above."""

F_COMPLETED = "completed"
F_FAILED = "failed"
F_RETRIED = "retried"
F_RUNTIME_SUM = "rt_sum"
F_DEPTH = "depth"


def minute_key(queue: str, epoch_minute: int) -> str:
    return f"{KEY_PREFIX}:metrics:{queue}:m:{epoch_minute}"


def hour_key(queue: str, epoch_hour: int) -> str:
    return f"{KEY_PREFIX}:metrics:{queue}:h:{epoch_hour}"


def bucket_index(duration_s: float) -> int:
    """Index of the histogram bucket that ``duration_s`` falls into."""
    return bisect.bisect_left(RUNTIME_BOUNDS_S, max(0.0, duration_s))


def record_job(
    pipe, queue: str, ok: bool, duration_s: float, now: float | None = None, will_retry: bool = False
) -> None:
    """Queue on ``pipe`` the increments for one ended attempt.

    ``ok`` counts as completed; a failure counts as failed when it is final, as retried when the job
    will run again (so the success rate is over jobs, not attempts). Every attempt's run time counts.
    """
    now = time.time() if now is None else now
    field = F_COMPLETED if ok else (F_RETRIED if will_retry else F_FAILED)
    bucket = f"rt{bucket_index(duration_s)}"
    for key in (minute_key(queue, int(now // 60)), hour_key(queue, int(now // 3600))):
        pipe.hincrby(key, field, 1)
        pipe.hincrby(key, bucket, 1)
        pipe.hincrbyfloat(key, F_RUNTIME_SUM, round(max(0.0, duration_s), 6))
        pipe.expire(key, _EXPIRE_S)


def record_depth(pipe, queue: str, depth: int, now: float | None = None) -> None:
    """Queue on ``pipe`` a queue-depth sample for the current minute (the last sample wins)."""
    now = time.time() if now is None else now
    key = minute_key(queue, int(now // 60))
    pipe.hset(key, F_DEPTH, int(depth))
    pipe.expire(key, _EXPIRE_S)
    hkey = hour_key(queue, int(now // 3600))
    pipe.hset(hkey, F_DEPTH, int(depth))
    pipe.expire(hkey, _EXPIRE_S)


@dataclass(frozen=True)
class BucketStats:
    """One minute's or hour's figures for a queue."""

    start: float
    completed: int
    failed: int
    retried: int
    runtime_p50_s: float | None
    runtime_p95_s: float | None
    runtime_mean_s: float | None
    depth: int | None

    @property
    def success_rate(self) -> float | None:
        total = self.completed + self.failed
        return self.completed / total if total else None


@dataclass(frozen=True)
class BucketCounts:
    """One bucket's raw counts: what a counter or a histogram adds up across buckets."""

    start: float
    completed: int
    failed: int
    retried: int
    histogram: tuple[int, ...]
    """Attempts per run-time bucket of :data:`RUNTIME_BOUNDS_S` (one more for everything above)."""
    runtime_sum_s: float | None
    depth: int | None


def decode_counts(start: float, raw: Mapping) -> BucketCounts:
    """Counts from one hash as HGETALL returns it (bytes or str keys); bad fields count as absent."""
    hist = [0] * _HIST_SIZE
    scalars: dict[str, bytes | str] = {}
    for key, value in raw.items():
        slot = _SLOTS[key] if key in _SLOTS else _slot(_text(key))
        if slot is None:
            continue
        if isinstance(slot, int):
            hist[slot] = _int(value) or 0
        else:
            scalars[slot] = value
    return BucketCounts(
        start=start,
        completed=_int(scalars.get(F_COMPLETED)) or 0,
        failed=_int(scalars.get(F_FAILED)) or 0,
        retried=_int(scalars.get(F_RETRIED)) or 0,
        histogram=tuple(hist),
        runtime_sum_s=_float(scalars.get(F_RUNTIME_SUM)),
        depth=_int(scalars.get(F_DEPTH)),
    )


_HIST_SIZE = len(RUNTIME_BOUNDS_S) + 1
_SCALARS = frozenset((F_COMPLETED, F_FAILED, F_RETRIED, F_RUNTIME_SUM, F_DEPTH))


def _slot(name: str) -> int | str | None:
    """Where a field of a bucket hash goes: a histogram bucket's index, a scalar field's name, or
    None for a field the counts ignore."""
    if name.startswith("rt") and name[2:].isdigit():
        index = int(name[2:])
        return index if index < _HIST_SIZE else None
    return name if name in _SCALARS else None


# The fields the workers write, as bytes and as text: a bucket is decoded without decoding its
# field names (a scrape or ``check`` decodes a few thousand buckets).
_SLOTS: dict[bytes | str, int | str | None] = {}
for _name in (*(f"rt{i}" for i in range(_HIST_SIZE)), *_SCALARS):
    _SLOTS[_name] = _SLOTS[_name.encode()] = _slot(_name)


def decode_bucket(start: float, raw: Mapping) -> BucketStats:
    """Figures from one hash as HGETALL returns it (bytes or str keys); bad fields count as absent."""
    counts = decode_counts(start, raw)
    total = sum(counts.histogram)
    runtime_sum = counts.runtime_sum_s
    return BucketStats(
        start=start,
        completed=counts.completed,
        failed=counts.failed,
        retried=counts.retried,
        runtime_p50_s=percentile(counts.histogram, 0.50),
        runtime_p95_s=percentile(counts.histogram, 0.95),
        runtime_mean_s=(runtime_sum / total) if total and runtime_sum is not None else None,
        depth=counts.depth,
    )


def percentile(hist: Iterable[int], q: float) -> float | None:
    """The ``q`` quantile of a histogram over :data:`RUNTIME_BOUNDS_S`, interpolated in its bucket."""
    counts = list(hist)
    total = sum(counts)
    if total <= 0:
        return None
    rank = q * total
    seen = 0
    for idx, count in enumerate(counts):
        if count and seen + count >= rank:
            lower = RUNTIME_BOUNDS_S[idx - 1] if idx > 0 else 0.0
            upper = RUNTIME_BOUNDS_S[idx] if idx < len(RUNTIME_BOUNDS_S) else RUNTIME_BOUNDS_S[-1] * 2
            return lower + (upper - lower) * ((rank - seen) / count)
        seen += count
    return RUNTIME_BOUNDS_S[-1]


def _text(value) -> str:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)


def _int(value: bytes | str | None) -> int | None:
    try:
        return int(float(value)) if value is not None else None
    except (ValueError, OverflowError):  # OverflowError: "inf"
        return None


def _float(value: bytes | str | None) -> float | None:
    try:
        return float(value) if value is not None else None
    except ValueError:
        return None
