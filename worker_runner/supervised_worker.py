"""Worker classes as the supervisor runs them: a stop that never drops a job, a scheduler that
comes back, and patience with Redis.

RQ's own SIGTERM handler stops an idle worker by raising from the signal handler. If the signal
lands just after the blocking pop returned a job but before the job is registered as started, the
job is left in RQ's intermediate list until RQ's maintenance finds it (minutes later). The supervisor
retires idle workers on every scale-down, so that race would be common here. A supervised worker
instead waits for jobs in short slices (``poll_s``) and only sets a flag on the first SIGTERM or
SIGINT: it leaves between two slices, or after the job it is running. A second signal (one second or
more later) is RQ's cold shutdown: the work horse is killed and the worker exits at once; the
supervisor then puts the job back.

Only one worker per queue runs RQ's scheduler (they elect it with a lock). RQ retries the election
every ten minutes; a supervised worker retries every :attr:`SupervisedWorkerMixin.scheduler_check_s`,
so retry back-offs keep firing soon after the scheduler's worker is retired or dies.

While a job runs, a supervised worker refreshes the job's execution every
:data:`JOB_HEARTBEAT_S` seconds (RQ: 30; a SimpleWorker, whose job runs in its only thread, gets a
heartbeat thread), and its RQ worker hash names its supervisor and that interval. A supervisor on
another host can then tell within seconds that a job's worker died with its supervisor (no record,
no fresh heartbeat) instead of waiting for RQ's expiry.
"""

from __future__ import annotations

import contextlib
import logging
import signal
import threading
import time
from types import FrameType

import redis.exceptions
from rq.job import Job
from rq.queue import Queue
from rq.utils import now
from rq.worker import BaseWorker, WorkerStatus

from worker_runner.worker import ThesisSimpleWorker, ThesisWorker

log = logging.getLogger(__name__)

_REDIS_DOWN = (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError)

JOB_HEARTBEAT_S = 5
"""Seconds between refreshes of a running job's execution (and of its worker's heartbeat)."""
SUPERVISOR_FIELD = "thesis_supervisor"
"""Field of the RQ worker hash naming the supervisor that runs the worker."""
HEARTBEAT_FIELD = "thesis_job_heartbeat_s"
"""Field of the RQ worker hash giving :data:`JOB_HEARTBEAT_S`, for other hosts' recovery checks."""


class SupervisedWorkerMixin(BaseWorker):
    """Behaviour of a worker that a ``thesis-worker`` supervisor runs (see the module text)."""

    poll_s = 1
    """Seconds of one blocking wait for a job; also the most an idle worker takes to stop."""
    scheduler_check_s = 5.0
    max_connection_wait_time = 5.0
    """RQ backs off up to a minute while Redis is away; a short cap means work resumes soon after."""

    _next_scheduler_check = 0.0
    supervisor_id = ""
    """Set by the worker process before it starts working."""

    def __init__(self, *args, **kwargs) -> None:
        kwargs.setdefault("job_monitoring_interval", JOB_HEARTBEAT_S)
        super().__init__(*args, **kwargs)

    def register_birth(self) -> None:
        super().register_birth()
        with self.connection.pipeline() as pipe:
            pipe.hset(self.key, HEARTBEAT_FIELD, str(self.job_monitoring_interval))
            if self.supervisor_id:
                pipe.hset(self.key, SUPERVISOR_FIELD, self.supervisor_id)
            pipe.execute()

    def _install_signal_handlers(self) -> None:
        signal.signal(signal.SIGINT, self._request_warm_stop)
        signal.signal(signal.SIGTERM, self._request_warm_stop)

    def _request_warm_stop(self, signum: int, frame: FrameType | None) -> None:
        # Only a flag: raising here could drop a job that was popped a moment ago.
        self._shutdown_requested_date = now()
        self._stop_requested = True
        signal.signal(signal.SIGINT, self.request_force_stop)
        signal.signal(signal.SIGTERM, self.request_force_stop)
        self.log.info("Worker %s: warm stop requested, leaving after the current job (if any)", self.name)

    def dequeue_job_and_maintain_ttl(self, timeout, max_idle_time=None):  # type: ignore[no-untyped-def]
        if timeout is None:  # burst mode: RQ's non-blocking pop
            return super().dequeue_job_and_maintain_ttl(timeout, max_idle_time)
        while True:
            if self._stop_requested:
                return None  # the work loop then ends and the worker registers its death
            self.check_scheduler()
            slice_s = max(1, min(int(timeout), int(self.poll_s)))
            result = super().dequeue_job_and_maintain_ttl(slice_s, max_idle_time=slice_s)
            if result is not None:
                return result

    def maintain_heartbeats(self, job, execution) -> None:  # type: ignore[no-untyped-def]
        # Called every job_monitoring_interval while a horse runs. A short Redis outage must not end
        # the worker (and with it the horse, which could finish the job once Redis is back).
        try:
            super().maintain_heartbeats(job, execution)
        except _REDIS_DOWN as exc:
            self.log.warning("Worker %s: heartbeat failed (%s); the job keeps running", self.name, exc)
        self.check_scheduler()

    def check_scheduler(self) -> None:
        """Start this worker's scheduler when no other worker holds the lock (every few seconds)."""
        if self.scheduler is None or time.monotonic() < self._next_scheduler_check:
            return
        if threading.current_thread() is not threading.main_thread():
            return  # a fork from another thread would tie the scheduler's life to that thread
        self._next_scheduler_check = time.monotonic() + self.scheduler_check_s
        process = self.scheduler._process
        if process is not None and process.is_alive():
            return
        with contextlib.suppress(*_REDIS_DOWN):
            self.scheduler.acquire_locks(auto_start=True)


class SupervisedThesisWorker(SupervisedWorkerMixin, ThesisWorker):
    """:class:`ThesisWorker` (a forked work horse per job) as the supervisor runs it."""


class SupervisedThesisSimpleWorker(SupervisedWorkerMixin, ThesisSimpleWorker):
    """:class:`ThesisSimpleWorker` (jobs in the worker process) as the supervisor runs it.

    The job runs in the worker's only thread, so a small thread keeps its heartbeats going.
    """

    def execute_job(self, job: Job, queue: Queue) -> None:
        execution = self.prepare_execution(job)
        done = threading.Event()
        beat = threading.Thread(target=self._beat_while_running, args=(job, execution, done), daemon=True)
        beat.start()
        try:
            self.perform_job(job, queue, execution)
        finally:
            done.set()
            beat.join(timeout=5)
        self.set_state(WorkerStatus.IDLE)

    def _beat_while_running(self, job: Job, execution, done: threading.Event) -> None:  # type: ignore[no-untyped-def]
        while not done.wait(self.job_monitoring_interval):
            try:
                self.maintain_heartbeats(job, execution)
            except Exception as exc:  # a missed heartbeat must never disturb the job
                self.log.debug("Worker %s: job heartbeat failed: %s", self.name, exc)


WORKER_CLASSES: dict[str, type[BaseWorker]] = {
    "fork": SupervisedThesisWorker,
    "simple": SupervisedThesisSimpleWorker,
}
"""``--worker-class`` choices: ``fork`` is RQ's ``Worker``, ``simple`` is RQ's ``SimpleWorker``."""
