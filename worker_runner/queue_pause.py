"""Supervised workers honour paused queues (see :mod:`thesis_console.core.queue_pause`).

Before each wait for a job (one second at most, :attr:`SupervisedWorkerMixin.poll_s`) the worker
reads which queues are paused and listens only on the others; when all of its queues are paused it
waits, re-reading the pause every :data:`ALL_PAUSED_POLL_S`. A job popped in the instant a pause
was written is put back at the front of its queue, untouched, so no job starts from a queue after
its pause is stored. Jobs already running are not disturbed.
"""

from __future__ import annotations

import logging
import time

from rq.job import Job
from rq.queue import Queue
from rq.worker import BaseWorker, WorkerStatus

from thesis_console.core.queue_pause import is_paused, paused_names
from worker_runner.redis_wait import REDIS_DOWN

log = logging.getLogger(__name__)

ALL_PAUSED_POLL_S = 0.2
"""While every queue of the worker is paused: how often the pause is read again (a resume's delay)."""


class PauseAwareMixin(BaseWorker):
    """Listens only on queues that are not paused; waits while all of them are."""

    _paused: frozenset[str] = frozenset()

    def dequeue_job_and_maintain_ttl(self, timeout, max_idle_time=None):  # type: ignore[no-untyped-def]
        self._read_pauses()
        if timeout is None:  # burst mode: RQ's one pass over the queues that are not paused
            return self._dequeue_active(timeout, max_idle_time)
        if all(q.name in self._paused for q in self._ordered_queues):
            self._wait_while_paused(float(timeout))
            return None
        return self._dequeue_active(timeout, max_idle_time)

    def _dequeue_active(self, timeout, max_idle_time):  # type: ignore[no-untyped-def]
        every = self._ordered_queues
        active = [q for q in every if q.name not in self._paused]
        if not active:
            return None
        self._ordered_queues = active
        try:
            result = super().dequeue_job_and_maintain_ttl(timeout, max_idle_time)
        finally:
            self._ordered_queues = every
        if result is None:
            return None
        job, queue = result
        if len(active) == 1 and len(self.queues) > 1:
            # RQ moved the job to the queue's intermediate list (its single-queue pop) but only clears
            # that list for single-queue workers; left there, its maintenance would fail the job later.
            self.connection.lrem(queue.intermediate_queue_key, 1, job.id)
        if self._paused_now(queue):
            self._put_back(job, queue)
            return None
        return result

    def _read_pauses(self) -> None:
        try:
            self._paused = frozenset(paused_names(self.connection))
        except REDIS_DOWN:
            pass  # the last known pauses hold; RQ's own wait handles the outage

    def _paused_now(self, queue: Queue) -> bool:
        try:
            paused = is_paused(self.connection, queue.name)
        except REDIS_DOWN:
            return False
        if paused:
            self._paused = self._paused | {queue.name}
        return paused

    def _put_back(self, job: Job, queue: Queue) -> None:
        with self.connection.pipeline(transaction=True) as pipe:
            pipe.lpush(queue.key, job.id)
            pipe.lrem(queue.intermediate_queue_key, 1, job.id)
            pipe.execute()
        self.log.info("Worker %s: queue %s is paused; job %s put back untouched", self.name, queue.name, job.id)

    def _wait_while_paused(self, timeout: float) -> None:
        self.set_state(WorkerStatus.IDLE)
        self.procline("Paused: " + ",".join(self.queue_names()))
        try:
            self.heartbeat()
        except REDIS_DOWN:
            pass
        deadline = time.monotonic() + timeout
        while not self._stop_requested and time.monotonic() < deadline:
            time.sleep(ALL_PAUSED_POLL_S)
            self._read_pauses()
            if not all(q.name in self._paused for q in self._ordered_queues):
                return
