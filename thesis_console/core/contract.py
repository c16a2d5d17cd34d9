"""The thesis queue contract: the one place that says how thesis jobs are queued, retried and kept.

The producer, the workers and the console all import this module, so that nothing restates it.
Values that operators tune come from the environment; the rest are the original system's policy.
"""

from __future__ import annotations

import logging
import os
import time
from dataclasses import dataclass
from typing import Any

import redis.exceptions
from redis import Redis
from rq import Queue, Retry
from rq.job import Job
from rq.serializers import JSONSerializer

log = logging.getLogger(__name__)

QUEUE_ENV = "THESIS_QUEUE"
DEFAULT_QUEUE_NAME = "thesis"

MAX_RETRIES = 3
RETRY_INTERVALS_S: tuple[int, ...] = (2, 4, 8)
"""Exponential back-off between attempts, as the original system had it."""

COMPLETED_TTL_S = 24 * 3600
COMPLETED_KEEP = 100
FAILED_TTL_S = 30 * 24 * 3600
"""RQ needs a time limit for failed jobs; the count limit (:data:`FAILED_KEEP`) is what binds."""
FAILED_KEEP = 500

DEFAULT_JOB_TIMEOUT_S = 2 * 3600
JOB_TIMEOUT_ENV = "THESIS_JOB_TIMEOUT"

PROGRESS_KEY = "progress"
STAGE_KEY = "stage"
PROGRESS_AT_KEY = "progress_at"
"""Unix time of the latest change of progress or stage (the stuck-job alert measures from it)."""
KIND_KEY = "kind"
THESIS_KIND = "thesis"
JOB_FUNCTION = "thesis_console.core.generation.job.generate_thesis"

SERIALIZER = JSONSerializer
"""Every job this project creates is JSON: nothing is ever pickled."""

KEY_PREFIX = "thesis"
"""Prefix of this project's own keys (metrics, supervisors); RQ's keys keep RQ's layout."""


@dataclass(frozen=True)
class QueuePolicy:
    """The policy applied to each job enqueued on a thesis queue."""

    queue_name: str
    job_timeout_s: int
    max_retries: int = MAX_RETRIES
    retry_intervals_s: tuple[int, ...] = RETRY_INTERVALS_S
    completed_ttl_s: int = COMPLETED_TTL_S
    completed_keep: int = COMPLETED_KEEP
    failed_ttl_s: int = FAILED_TTL_S
    failed_keep: int = FAILED_KEEP

    def retry(self) -> Retry:
        return Retry(max=self.max_retries, interval=list(self.retry_intervals_s))


def queue_name(name: str | None = None) -> str:
    """The thesis queue's name: ``name``, else ``THESIS_QUEUE``, else ``thesis``."""
    return name or os.environ.get(QUEUE_ENV) or DEFAULT_QUEUE_NAME


def job_timeout_s() -> int:
    """The job timeout: ``THESIS_JOB_TIMEOUT`` seconds, else two hours (generation is long work)."""
    return _positive_env(JOB_TIMEOUT_ENV, DEFAULT_JOB_TIMEOUT_S)


COMPLETED_KEEP_ENV = "THESIS_COMPLETED_KEEP"
FAILED_KEEP_ENV = "THESIS_FAILED_KEEP"


def _positive_env(name: str, default: int) -> int:
    raw = os.environ.get(name)
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ValueError(f"{name} must be a whole number, got {raw!r}") from None
    if value <= 0:
        raise ValueError(f"{name} must be positive, got {value}")
    return value


def policy(name: str | None = None) -> QueuePolicy:
    """The queue's policy; the count limits can be raised with ``THESIS_COMPLETED_KEEP`` and
    ``THESIS_FAILED_KEEP`` (the soak test does, to audit every job)."""
    return QueuePolicy(
        queue_name=queue_name(name),
        job_timeout_s=job_timeout_s(),
        completed_keep=_positive_env(COMPLETED_KEEP_ENV, COMPLETED_KEEP),
        failed_keep=_positive_env(FAILED_KEEP_ENV, FAILED_KEEP),
    )


def thesis_queue(connection: Redis, name: str | None = None) -> Queue:
    """The RQ queue for thesis jobs, with the JSON serializer."""
    return Queue(queue_name(name), connection=connection, serializer=SERIALIZER)


def set_progress(job: Job, percent: int, stage: str, now: float | None = None) -> None:
    """Record progress as an integer percent and a stage name in the job's meta and save it.

    ``progress_at`` moves only when the percent or the stage changes, so a job that repeats the same
    progress still counts as making none. While Redis is unreachable the write is dropped (the next
    one carries the newer value): a job must not fail because its progress could not be shown.
    """
    percent = max(0, min(100, int(percent)))
    if job.meta.get(PROGRESS_KEY) != percent or job.meta.get(STAGE_KEY) != stage or PROGRESS_AT_KEY not in job.meta:
        job.meta[PROGRESS_AT_KEY] = time.time() if now is None else now
    job.meta[PROGRESS_KEY] = percent
    job.meta[STAGE_KEY] = stage
    try:
        job.save_meta()
    except (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError) as exc:
        log.warning("progress of job %s not saved, Redis is unreachable: %s", job.id, exc)


def progress_changed_at(meta: dict[str, Any]) -> float | None:
    """When the job's progress last changed, from its meta; None when it never reported (or a foreign value)."""
    raw = meta.get(PROGRESS_AT_KEY)
    return float(raw) if isinstance(raw, (int, float)) and not isinstance(raw, bool) else None


def progress_of(meta: dict[str, Any]) -> tuple[int | None, str | None]:
    """Progress percent and stage from a job's meta, tolerating foreign or missing values."""
    raw = meta.get(PROGRESS_KEY)
    percent = int(raw) if isinstance(raw, (int, float)) and not isinstance(raw, bool) else None
    stage = meta.get(STAGE_KEY)
    return percent, stage if isinstance(stage, str) else None
