"""The RQ worker classes that run thesis jobs: JSON jobs, count-based retention and metrics.

:class:`ThesisWorker` forks a work horse per job (RQ's ``Worker``); :class:`ThesisSimpleWorker` runs
jobs in its own process (RQ's ``SimpleWorker``: faster for short jobs, but a crashing job takes the
worker with it). Both record every attempt and its metrics the same way.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import redis.exceptions
from rq import SimpleWorker, Worker
from rq.executions import Execution
from rq.job import Job
from rq.queue import Queue
from rq.worker import BaseWorker

from thesis_console.core import contract, metrics_store
from thesis_console.core.job_allowlist import Allowlist
from thesis_console.core.retention import enforce_retention
from worker_runner.allowlist import check_job, job_class_for, refuse_job

log = logging.getLogger(__name__)


ATTEMPTS_KEY = "attempts"
MAX_ATTEMPT_RECORDS = 20


def attempt_entry(
    job: Job, outcome: str, worker_name: str, reason: str | None = None, fault: str | None = None
) -> dict[str, Any]:
    """One entry of ``meta['attempts']``: start, end, outcome, worker, and why, when known.

    Outcomes: ``completed``, ``retried`` (a code error, a retry used), ``failed``, and ``interrupted``
    (an infrastructure fault named by ``fault``, no retry used; see :mod:`worker_runner.interruptions`).
    """
    entry: dict[str, Any] = {
        "started_at": job.started_at.timestamp() if job.started_at else None,
        "ended_at": job.ended_at.timestamp() if job.ended_at else None,
        "outcome": outcome,
        "worker": worker_name,
    }
    if reason:
        entry["reason"] = reason
    if fault:
        entry["fault"] = fault
    return entry


def append_attempt(meta: dict[str, Any], entry: dict[str, Any]) -> None:
    """Append ``entry`` to ``meta['attempts']``, keeping the newest :data:`MAX_ATTEMPT_RECORDS`."""
    attempts = meta.get(ATTEMPTS_KEY)
    if not isinstance(attempts, list):
        attempts = []
    attempts.append(entry)
    meta[ATTEMPTS_KEY] = attempts[-MAX_ATTEMPT_RECORDS:]


def record_attempt(job: Job, ok: bool, will_retry: bool, worker_name: str) -> None:
    """Append this attempt (start, end, outcome, worker) to ``meta['attempts']`` for the job's timeline.

    On success (always recorded by the process that ran the job) the job's own last progress is
    kept over the stored one, which misses the writes dropped while Redis was unreachable.
    """
    own = (contract.PROGRESS_KEY, contract.STAGE_KEY, contract.PROGRESS_AT_KEY) if ok else ()
    progress = {k: job.meta[k] for k in own if k in job.meta}
    job.get_meta(refresh=True)
    job.meta.update(progress)
    outcome = "completed" if ok else ("retried" if will_retry else "failed")
    append_attempt(job.meta, attempt_entry(job, outcome, worker_name))
    job.save_meta()


class ThesisJobHooks(BaseWorker):
    """What every thesis worker does around a job: before it, refuse a job whose function is not
    allowed (``allowlist``, by default the contract's job function and ``THESIS_WORKER_ALLOW``);
    after it, trim the registries and record metrics.

    The steps after a job are best effort: a failure to write them is logged and never fails the job.
    """

    def __init__(self, *args, allowlist: Allowlist | None = None, **kwargs) -> None:
        if kwargs.get("serializer") is None:  # also when a caller passes None explicitly
            kwargs["serializer"] = contract.SERIALIZER
        self.allowlist = allowlist if allowlist is not None else Allowlist.from_environment()
        if kwargs.get("job_class") is None:
            kwargs["job_class"] = job_class_for(self.allowlist)
        super().__init__(*args, **kwargs)

    def dequeue_job_and_maintain_ttl(self, timeout, max_idle_time=None):  # type: ignore[no-untyped-def]
        # Refused jobs never reach execute_job: no work horse, no import of the name they give.
        while True:
            result = super().dequeue_job_and_maintain_ttl(timeout, max_idle_time)
            if result is None or not self._refused(*result):
                return result
            if self._stop_requested:
                return None

    def handle_job_success(self, job: Job, queue: Queue, started_job_registry, execution) -> None:  # type: ignore[override]
        self._record_attempt(job, ok=True, will_retry=False)  # before the status changes, so readers see both
        self.persisting(
            lambda: super(ThesisJobHooks, self).handle_job_success(job, queue, started_job_registry, execution), job, execution
        )
        self._after_job(job, queue, ok=True, will_retry=False)

    def handle_job_failure(self, job: Job, queue: Queue, started_job_registry=None, exc_string="", execution=None) -> None:  # type: ignore[override]
        will_retry = bool(job.retries_left) and self._stopped_job_id != job.id
        self._record_attempt(job, ok=False, will_retry=will_retry)
        super().handle_job_failure(job, queue, started_job_registry, exc_string, execution)
        self._after_job(job, queue, ok=False, will_retry=will_retry)

    def cleanup_execution(self, job: Job, pipeline, execution=None) -> None:  # type: ignore[no-untyped-def]
        # RQ's work horse takes the job out of the queue's intermediate list (where the pop put it)
        # as it starts. A run that ended before that (the horse was stopped or died, or could not
        # reach Redis) left it there: requeued, the job would then be listed twice, and after its
        # next run a copy would stay, finished or stopped, in that list for good. Every end of a
        # run removes the pop's copy in the same transaction (nothing when the horse did it).
        super().cleanup_execution(job, pipeline=pipeline, execution=execution)
        pipeline.lrem(Queue(job.origin, connection=self.connection).intermediate_queue_key, 1, job.id)

    def _refused(self, job: Job, queue: Queue) -> bool:
        """Whether ``job`` is not allowed here; if so it is now failed (see :mod:`worker_runner.allowlist`)."""
        reason = check_job(job, self.allowlist)
        if reason is None:
            return False
        try:
            refuse_job(self, job, queue, reason)
        except redis.exceptions.RedisError as exc:  # it stays parked; RQ's maintenance hands it back
            log.warning("could not record the refusal of job %s: %s", job.id, exc)
            return True
        self._after_job(job, queue, ok=False, will_retry=False)
        return True

    def persisting(self, write: Callable[[], object], job: Job | None = None, execution: Execution | None = None) -> None:
        """Run ``write``, one of the writes that record how a job ended (with ``job`` and its
        ``execution``: the write that ends the execution).

        A hook: a supervised worker waits out a Redis outage and writes again (each of these writes
        is one MULTI/EXEC, of which nothing is applied when it fails), unless the end is recorded.
        """
        write()

    def _record_attempt(self, job: Job, ok: bool, will_retry: bool) -> None:
        try:
            if ok:
                self.persisting(lambda: record_attempt(job, ok, will_retry, self.name))
            else:
                record_attempt(job, ok, will_retry, self.name)
        except Exception:
            log.exception("could not record the attempt of job %s", job.id)

    def _after_job(self, job: Job, queue: Queue, ok: bool, will_retry: bool) -> None:
        try:
            duration = (job.ended_at - job.started_at).total_seconds() if job.started_at and job.ended_at else 0.0
            with self.connection.pipeline(transaction=False) as pipe:
                metrics_store.record_job(pipe, queue.name, ok, duration, will_retry=will_retry)
                pipe.execute()
            if not will_retry:
                ttl = job.result_ttl if ok else job.failure_ttl
                default = self.default_result_ttl if ok else contract.FAILED_TTL_S
                ttl_s = float(ttl if ttl is not None and ttl > 0 else default)
                enforce_retention(self.connection, queue.name, job.id, ok, ttl_s)
        except Exception:  # never fail a job because of bookkeeping
            log.exception("could not record metrics or apply retention for job %s", job.id)


class ThesisWorker(ThesisJobHooks, Worker):
    """An RQ ``Worker`` (one forked work horse per job) with the thesis bookkeeping."""


class ThesisSimpleWorker(ThesisJobHooks, SimpleWorker):
    """An RQ ``SimpleWorker`` (jobs run in the worker process itself) with the thesis bookkeeping."""
