"""A thesis worker runs only allowed functions (see :mod:`thesis_console.core.job_allowlist`).

Two guards, both before RQ resolves a name (RQ's ``import_attribute`` imports the named module, or
returns a built-in such as ``eval`` without importing anything):

1. At pickup, before the job is prepared or a work horse forked, :func:`check_job` decodes the
   job's function name and instance (JSON only: nothing is unpickled) and reads its callback names.
   A job that is not allowed is refused by :func:`refuse_job`: moved to the failed registry with
   the reason as its error, never retried (``retries_left`` is left as it was), no callback and no
   webhook run, the named module never imported.
2. :class:`AllowlistedJob`, the worker's job class, checks the name again wherever RQ resolves one
   (the job's function and its success, failure and stopped callbacks), so a path that skips
   pickup (RQ's cleanup of abandoned jobs runs their failure callback) cannot import either.
"""

from __future__ import annotations

import logging
from typing import Any, ClassVar

from rq.exceptions import DeserializationError
from rq.job import Job, JobStatus
from rq.queue import Queue
from rq.utils import now, utcformat

from thesis_console.core.decoding import decompress, too_large
from thesis_console.core.job_allowlist import Allowlist, CallbackKind

log = logging.getLogger(__name__)


class FunctionNotAllowed(Exception):
    """A job names a function or callback that is not on the worker's allowlist."""


def callback_names(job: Job) -> dict[CallbackKind, object]:
    """The callback names the job hash holds (RQ keeps them unresolved until first use)."""
    return {
        CallbackKind.SUCCESS: job._success_callback_name,
        CallbackKind.FAILURE: job._failure_callback_name,
        CallbackKind.STOPPED: job._stopped_callback_name,
    }


def check_job(job: Job, allowlist: Allowlist) -> str | None:
    """Why ``job`` may not run here, or None. Decodes the job's data; resolves no name."""
    problem = getattr(job, "data_problem", None)
    if problem:
        return f"job data cannot be decoded: {problem}"
    try:
        function, instance = job.func_name, job.instance
    except DeserializationError:
        return "job data cannot be decoded (not a JSON function call)"
    return allowlist.refusal(function, instance is not None, callback_names(job))


def refuse_job(worker: Any, job: Job, queue: Queue, reason: str) -> None:
    """Move a job that was just dequeued to the failed registry with ``reason``, without running it.

    Not retried whatever its ``retries_left``, and neither its callbacks nor its webhooks run (they
    would act on names and addresses from the same untrusted writer).

    Args:
        worker: the RQ worker that dequeued the job.
    """
    worker.log.error("Worker %s: refused job %s: %s", worker.name, job.id, reason)
    job.webhooks = []
    job.ended_at = now()
    with worker.connection.pipeline() as pipe:
        job.set_status(JobStatus.FAILED, pipeline=pipe)
        pipe.hset(job.key, "ended_at", utcformat(job.ended_at))
        job._handle_failure(reason, pipeline=pipe, worker_name=worker.name)
        pipe.lrem(queue.intermediate_queue_key, 1, job.id)  # where RQ's single-queue pop parks it
        if getattr(job, "data_problem", None):
            pipe.hset(job.key, "data", getattr(job, "packed_data", b""))  # left as the writer stored it
        pipe.execute()
    worker._enqueue_dependents_safely(queue, job)
    worker._release_slot_safely(job)


class AllowlistedJob(Job):
    """An RQ job that resolves its function and callbacks only when they are allowed.

    Raises:
        FunctionNotAllowed: from ``func`` or a callback property, naming the refused name.
    """

    allowlist: ClassVar[Allowlist] = Allowlist.of()
    data_problem: str | None = None
    """Why the job's data was not unzipped (a zlib bomb), or None; refused at pickup with this reason."""
    packed_data: bytes = b""
    """That data as stored, written back when the job is refused (RQ's save would replace it)."""

    def restore(self, raw_data):  # type: ignore[no-untyped-def]
        # RQ unzips ``data`` without a bound: a few MiB of zlib can expand to GiBs in the worker.
        # Checked first; such data is kept packed and the job refused at pickup with the reason.
        packed = raw_data.get(b"data", raw_data.get("data"))
        if isinstance(packed, bytes) and decompress(packed) is None:
            self.data_problem = too_large(packed)
            self.packed_data = packed
            raw_data = {k: v for k, v in raw_data.items() if k not in (b"data", "data")} | {b"data": b""}
        return super().restore(raw_data)

    @property
    def func(self):  # type: ignore[no-untyped-def]
        reason = self.allowlist.refusal(self.func_name, self.instance is not None, {})
        if reason:
            raise FunctionNotAllowed(reason)
        return Job.func.fget(self)  # type: ignore[attr-defined]

    @property
    def success_callback(self):  # type: ignore[no-untyped-def]
        self._check_callback(CallbackKind.SUCCESS, self._success_callback_name)
        return Job.success_callback.fget(self)  # type: ignore[attr-defined]

    @property
    def failure_callback(self):  # type: ignore[no-untyped-def]
        self._check_callback(CallbackKind.FAILURE, self._failure_callback_name)
        return Job.failure_callback.fget(self)  # type: ignore[attr-defined]

    @property
    def stopped_callback(self):  # type: ignore[no-untyped-def]
        self._check_callback(CallbackKind.STOPPED, self._stopped_callback_name)
        return Job.stopped_callback.fget(self)  # type: ignore[attr-defined]

    def send_webhooks(self, status, *, exc_string=None) -> None:  # type: ignore[no-untyped-def]
        # A webhook's address comes from whoever wrote the job: sending it would let any Redis writer
        # make the worker hosts POST to addresses inside their network. Thesis jobs use none.
        for webhook in self.webhooks:
            if webhook.job_status == status:
                log.warning("job %s: webhook to %s not sent (workers send no webhooks)", self.id, _host_of(webhook.url))

    def _check_callback(self, kind: CallbackKind, name: object) -> None:
        reason = self.allowlist.callback_refusal(kind, name)
        if reason:
            raise FunctionNotAllowed(reason)


def _host_of(url: str) -> str:
    """The host of a webhook address, for the log (the rest may carry a token)."""
    from urllib.parse import urlsplit

    try:
        return urlsplit(url).hostname or "(no host)"
    except ValueError:
        return "(not a URL)"


def job_class_for(allowlist: Allowlist) -> type[AllowlistedJob]:
    """The job class that enforces ``allowlist``."""
    if allowlist == AllowlistedJob.allowlist:
        return AllowlistedJob
    return type("AllowlistedJob", (AllowlistedJob,), {"allowlist": allowlist, "__module__": __name__})
