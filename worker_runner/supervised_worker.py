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

Only one worker per queue runs RQ's scheduler (they elect it with a lock,
``rq:scheduler-lock:{queue}``, 61 s). RQ retries the election every ten minutes; a supervised worker
retries every :attr:`SupervisedWorkerMixin.scheduler_check_s`, so retry back-offs keep firing soon
after the scheduler's worker is retired or dies. Its scheduler is named after the worker (the lock's
value is the worker's name), so the supervisor of a worker that died can release the lock at once
(:mod:`worker_runner.scheduler_lock`), and it outlives Redis outages instead of exiting on the first
connection error (its worker would re-elect it only after the lock expired).

Redis may go away at any time (:mod:`worker_runner.redis_wait`). A supervised worker then waits for
it, idle or busy, and keeps its process and its work horse: a job running across a short outage
finishes once. Each write that records how a run ended, from the first one after the job's
function returned, waits for Redis when it meets an outage and is written again (up to
:data:`~worker_runner.redis_wait.RESULT_WAIT_S` per run); a connection error after the function
returned is never recorded as a failure of the job. A work horse
that dies or cannot record its end is an interruption (:mod:`worker_runner.interruptions`): the job
goes back to the front of its queue without using a retry, up to a bound.

While a job runs, a supervised worker refreshes the job's execution every
:data:`JOB_HEARTBEAT_S` seconds (RQ: 30; a SimpleWorker, whose job runs in its only thread, gets a
heartbeat thread), and its RQ worker hash names its supervisor and that interval. A supervisor on
another host can then tell within seconds that a job's worker died with its supervisor (no record,
no fresh heartbeat) instead of waiting for RQ's expiry.

A supervised worker takes no job from a paused queue (:mod:`worker_runner.queue_pause`).
"""

from __future__ import annotations

import contextlib
import errno
import logging
import os
import signal
import threading
import time
from collections.abc import Callable
from types import FrameType
from typing import TypeVar

import redis.exceptions
from rq.defaults import DEFAULT_LOGGING_DATE_FORMAT, DEFAULT_LOGGING_FORMAT
from rq.exceptions import InvalidJobOperation, StopRequested
from rq.executions import Execution
from rq.job import Job
from rq.job_lifecycle import record_job_failure
from rq.queue import Queue
from rq.scheduler import RQScheduler
from rq.timeouts import HorseMonitorTimeoutException
from rq.utils import now
from rq.worker import BaseWorker, WorkerStatus

from thesis_console.core.redis_target import redact
from thesis_console.core.supervisor_protocol import WORKER_SUPERVISOR_FIELD
from worker_runner import redis_wait
from worker_runner.interruptions import Fault, note_interruption
from worker_runner.queue_pause import PauseAwareMixin
from worker_runner.redis_wait import NOT_REDIS, REDIS_DOWN
from worker_runner.worker import ThesisSimpleWorker, ThesisWorker

log = logging.getLogger(__name__)

_T = TypeVar("_T")

JOB_HEARTBEAT_S = 5
"""Seconds between refreshes of a running job's execution (and of its worker's heartbeat)."""
SUPERVISOR_FIELD = WORKER_SUPERVISOR_FIELD
"""Field of the RQ worker hash naming the supervisor that runs the worker."""
HEARTBEAT_FIELD = "thesis_job_heartbeat_s"
"""Field of the RQ worker hash giving :data:`JOB_HEARTBEAT_S`, for other hosts' recovery checks."""


class EndNotRecorded(redis.exceptions.ConnectionError):
    """Redis did not come back in time to record how a run ended (its process gives up the run)."""


class SupervisedScheduler(RQScheduler):
    """RQ's scheduler as a supervised worker runs it: it waits out Redis outages.

    RQ's own loop ends at the first connection error, leaving its lock to expire (up to 61 s)
    before another scheduler can take it. This one keeps its process and its lock, and goes on as
    soon as Redis answers. It leaves when it no longer holds any lock (another scheduler took it
    after an outage longer than the lock), so that its worker can stand again later.
    """

    def work(self) -> None:
        self._install_signal_handlers()
        registered = False
        down = False
        while not self._stop_requested:
            try:
                if not registered:
                    self.register_birth()
                    registered = True
                if self.should_reacquire_locks:
                    self.acquire_locks()
                self.heartbeat()
                if not self._acquired_locks:
                    self.log.info("Scheduler %s: holds no lock any more; leaving", self.name)
                    break
                self.enqueue_scheduled_jobs()
                if down:
                    self.log.info("Scheduler %s: Redis is back", self.name)
                    down = False
            except REDIS_DOWN as exc:
                if not down:
                    self.log.warning("Scheduler %s: Redis is unreachable (%s); waiting for it", self.name, exc)
                    down = True
                self._status = self.Status.STARTED
            except NOT_REDIS as exc:
                self.log.error("Scheduler %s: not a Redis (%s); stopping", self.name, exc)
                return
            time.sleep(self.interval)
        with contextlib.suppress(*REDIS_DOWN, *NOT_REDIS):
            self.stop()


class SupervisedWorkerMixin(PauseAwareMixin):
    """Behaviour of a worker that a ``thesis-worker`` supervisor runs (see the module text)."""

    poll_s = 1
    """Seconds of one blocking wait for a job; also the most an idle worker takes to stop."""
    scheduler_check_s = 1.0
    """A retry's back-off must not wait long for a new scheduler: look for a free lock every second."""
    max_connection_wait_time = 1.0
    """RQ backs off up to a minute while Redis is away; a short cap means work resumes soon after."""

    _next_scheduler_check = 0.0
    supervisor_id = ""
    """Set by the worker process before it starts working."""
    not_redis = False
    """Set when the URL answered with something that is not Redis (the worker then stops)."""

    def __init__(self, *args, **kwargs) -> None:
        kwargs.setdefault("job_monitoring_interval", JOB_HEARTBEAT_S)
        super().__init__(*args, **kwargs)
        self._follower = redis_wait.EmbeddedFollower.from_environment(os.environ.get("REDIS_URL", ""))
        self._end_deadline: float | None = None
        """When the run's wait for Redis to record its end runs out (monotonic; None: not begun)."""

    # ------------------------------------------------------------------ Redis going away
    def redis_unreachable(self) -> None:
        """Called after each failed Redis step: restart the embedded Redis, or follow it elsewhere."""
        if self._follower.check() is not None:
            self.log.warning("Worker %s: the embedded Redis moved; leaving so that a worker starts there", self.name)
            os._exit(redis_wait.EXIT_REDIS_MOVED)  # its children die with it (parent-death signal)

    def wait_for_redis(self, limit_s: float | None = None) -> bool:
        """Until Redis answers (False when ``limit_s`` passed first); stops the worker on a non-Redis."""
        try:
            return redis_wait.wait_until_up(self.connection, limit_s, f"Worker {self.name}", self.redis_unreachable)
        except NOT_REDIS as exc:
            self._stop_not_redis(exc)
            raise  # not reached

    def _until_redis(self, step: Callable[[], _T]) -> _T:
        """Run ``step``, waiting for Redis and running it again while Redis is down."""
        while True:
            try:
                return step()
            except REDIS_DOWN:
                self.wait_for_redis()

    def _stop_not_redis(self, exc: BaseException) -> None:
        self.log.error(
            "Worker %s: not a Redis at %s (%s); stopping", self.name, redact(os.environ.get("REDIS_URL", "?")), exc
        )
        self.not_redis = True
        self._stop_requested = True
        raise StopRequested()

    def _pubsub_exception_handler(self, exc, pubsub, pubsub_thread) -> None:  # type: ignore[no-untyped-def]
        # RQ's re-raises anything but a connection error, which ends the thread with a traceback.
        if isinstance(exc, NOT_REDIS):
            self.log.debug("Worker %s: command channel closed, the server is not a Redis (%s)", self.name, exc)
            pubsub_thread.stop()
            return
        super()._pubsub_exception_handler(exc, pubsub, pubsub_thread)

    def heartbeat(self, timeout: int | None = None, pipeline=None) -> None:  # type: ignore[no-untyped-def]
        if pipeline is not None:
            super().heartbeat(timeout, pipeline)
            return
        try:
            super().heartbeat(timeout)
        except REDIS_DOWN:
            self.redis_unreachable()  # a missed heartbeat is harmless; RQ's loop retries Redis itself

    def check_for_suspension(self, burst: bool) -> None:
        # The first Redis call of each turn of RQ's loop: a URL that stopped speaking Redis is said
        # in one line here, not as RQ's "unhandled exception" traceback.
        try:
            super().check_for_suspension(burst)
        except REDIS_DOWN:
            self.wait_for_redis()
        except NOT_REDIS as exc:
            self._stop_not_redis(exc)

    def run_maintenance_tasks(self) -> None:
        try:
            super().run_maintenance_tasks()
        except REDIS_DOWN as exc:
            self.log.info("Worker %s: maintenance skipped, Redis is unreachable (%s)", self.name, exc)
        except NOT_REDIS as exc:
            self._stop_not_redis(exc)

    def teardown(self) -> None:
        if not self.not_redis:
            super().teardown()
            return
        if self.scheduler is not None:
            self.stop_scheduler()  # nothing else: the URL does not speak Redis

    def persisting(self, write: Callable[[], object], job: Job | None = None, execution: Execution | None = None) -> None:
        # A success is written again once Redis is back (nothing of a failed MULTI/EXEC was
        # applied), rather than lost with the run; with ``execution``, not when the first write
        # landed and only its reply was lost. A failure is not written again: RQ's job.retry changes
        # the job before its write, so a second attempt would use a second retry (see handle_job_failure).
        recorded = None if job is None or execution is None else (lambda: not self._run_unrecorded(job, execution))
        self._write_end(write, recorded)

    def _write_end(self, write: Callable[[], _T], recorded: Callable[[], bool] | None = None) -> _T | None:
        """Run ``write``, a step that records how the run ended; while Redis is down, wait for it and
        run it again (None, without running it, when ``recorded`` then says it landed after all).

        Raises:
            redis.exceptions.ConnectionError: Redis did not come back within the run's wait.
        """
        failed = False
        while True:
            try:
                if failed and recorded is not None and recorded():
                    return None
                return write()
            except REDIS_DOWN:
                failed = True
                if not self._wait_for_end():
                    raise

    def _wait_for_end(self) -> bool:
        """Wait for Redis to record the end of the run; False when the run's wait is used up.

        One run waits :data:`~worker_runner.redis_wait.RESULT_WAIT_S` in all, from its first wait,
        however many of its end writes meet the outage.
        """
        if self._end_deadline is None:
            self._end_deadline = time.monotonic() + redis_wait.RESULT_WAIT_S
        left = self._end_deadline - time.monotonic()
        return left > 0 and redis_wait.wait_until_up(self.connection, left, f"Work horse of {self.name}")

    def _run_unrecorded(self, job: Job, execution: Execution) -> bool:
        """Whether the end of ``execution`` is not recorded yet (RQ removes it from the started
        registry, and deletes its hash, in the write that records the end).

        Both are asked: a heartbeat of the worker that lands just after the end recreates the hash
        (but never the registry entry).
        """
        with self.connection.pipeline(transaction=False) as pipe:
            pipe.exists(execution.key)
            pipe.zscore(job.started_job_registry.key, execution.composite_key)
            exists, score = pipe.execute()
        return bool(exists) and score is not None

    def handle_job_failure(self, job: Job, queue: Queue, started_job_registry=None, exc_string="", execution=None) -> None:  # type: ignore[override]
        super().handle_job_failure(job, queue, started_job_registry, exc_string, execution)
        # RQ logs and swallows a failed write of the failure ("failed to persist failure"), after
        # job.retry already set the status outside that write: the job would be left scheduled in
        # name only, its execution still listed as running. Said aloud instead: in a work horse, it
        # exits with an error and its worker puts the job back as an interruption.
        if execution is not None and self._write_end(lambda: self._run_unrecorded(job, execution)):
            raise EndNotRecorded(f"the end of job {job.id} could not be recorded")

    def handle_execution_ended(self, job: Job, queue: Queue, heartbeat_ttl: int) -> None:
        # In the work horse, right after the job's function returned or raised: its first write.
        # Redis going away just before it must not end the run unrecorded (RQ would then take the
        # failure path, and a finished job would run again).
        self._write_end(lambda: super(SupervisedWorkerMixin, self).handle_execution_ended(job, queue, heartbeat_ttl))

    def _finalize_success(self, job: Job, queue: Queue, execution: Execution, return_value: object) -> None:
        try:
            super()._finalize_success(job, queue, execution, return_value)  # type: ignore[misc]
        except REDIS_DOWN as exc:
            # The job's function returned, but its end could not be written within the run's wait.
            # Not a failure of the job (RQ would record one, or use a retry and run it again).
            raise EndNotRecorded(f"the end of job {job.id} could not be recorded: {exc}") from exc

    def _finalize_failure(self, job: Job, queue: Queue, execution: Execution, exc_info) -> None:  # type: ignore[no-untyped-def]
        if isinstance(exc_info[1], EndNotRecorded):
            raise exc_info[1]  # from _finalize_success: the run's end is for its worker to decide
        try:
            super()._finalize_failure(job, queue, execution, exc_info)  # type: ignore[misc]
        except EndNotRecorded:
            raise
        except REDIS_DOWN as exc:
            raise EndNotRecorded(f"the end of job {job.id} could not be recorded: {exc}") from exc

    def _put_back_if_unrecorded(self, job: Job, queue: Queue, execution: Execution, fault: Fault, how: str) -> None:
        """After a run ended without recording its end (as far as its process knows): once Redis
        answers, put the job back as an interruption, unless its end was recorded after all."""
        self.wait_for_redis()
        if self._until_redis(lambda: self._run_unrecorded(job, execution)):
            self._until_redis(lambda: self.handle_job_interrupted(job, queue, execution, fault, how))

    def handle_job_interrupted(self, job: Job, queue: Queue, execution: Execution | None, fault: Fault, reason: str) -> None:
        """The run ended by an infrastructure fault: back to the front of the queue, or failed at the bound."""
        job.get_meta(refresh=True)  # what the run wrote (progress, earlier attempts) stays
        noted = note_interruption(job, fault, reason, self.name)
        with self.connection.pipeline() as pipe:
            self.cleanup_execution(job, pipeline=pipe, execution=execution)
            if noted.give_up:
                job.save(pipeline=pipe)
                record_job_failure(job, noted.failure_text, pipe)
            else:
                job.started_at = None
                job.ended_at = None
                # RQ's job.retry marks a job scheduled before writing the rest: a half-written retry
                # must not run it a second time from the scheduled registry.
                queue.scheduled_job_registry.remove(job, pipeline=pipe)
                queue._enqueue_job(job, pipeline=pipe, at_front=True)
            pipe.execute()
        self.log.warning(
            "Worker %s: job %s %s: %s", self.name, job.id, "failed" if noted.give_up else "put back (no retry used)",
            noted.failure_text or reason,
        )  # fmt: skip
        self._after_job(job, queue, ok=False, will_retry=not noted.give_up)  # type: ignore[attr-defined]
        if noted.give_up:
            self._enqueue_dependents_safely(queue, job)
        self._release_slot_safely(job)

    def bootstrap(self, *args, **kwargs) -> None:  # type: ignore[no-untyped-def]
        # RQ runs its start-up writes (birth, pub/sub, state) outside its work loop's error handling:
        # a worker starting while Redis is away would exit. Each of them waits out the outage instead.
        self._bootstrapping = True
        try:
            super().bootstrap(*args, **kwargs)
        finally:
            self._bootstrapping = False

    def register_birth(self) -> None:
        attempts = 0

        def register() -> None:
            nonlocal attempts
            attempts += 1
            try:
                super(SupervisedWorkerMixin, self).register_birth()
            except ValueError:
                if attempts == 1:
                    raise  # another live worker has this name
                # an earlier attempt's birth landed and only its reply was lost: the hash is this worker's
            with self.connection.pipeline() as pipe:
                pipe.hset(self.key, HEARTBEAT_FIELD, str(self.job_monitoring_interval))
                if self.supervisor_id:
                    pipe.hset(self.key, SUPERVISOR_FIELD, self.supervisor_id)
                pipe.execute()

        self._until_redis(register)

    def subscribe(self) -> None:
        if getattr(self, "_bootstrapping", False):
            self._until_redis(super().subscribe)
        else:
            super().subscribe()

    def set_state(self, state, pipeline=None) -> None:  # type: ignore[no-untyped-def]
        if getattr(self, "_bootstrapping", False) and pipeline is None:
            self._until_redis(lambda: super(SupervisedWorkerMixin, self).set_state(state))
        else:
            super().set_state(state, pipeline=pipeline)

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
            try:
                self.check_scheduler()
                slice_s = max(1, min(int(timeout), int(self.poll_s)))
                result = super().dequeue_job_and_maintain_ttl(slice_s, max_idle_time=slice_s)
            except REDIS_DOWN:  # RQ retries only the pop; its state writes around it raise
                self.wait_for_redis()
                continue
            except NOT_REDIS as exc:
                self._stop_not_redis(exc)
            if result is not None:
                return result

    def _start_scheduler(
        self,
        burst: bool = False,
        logging_level: str | None = "INFO",
        date_format: str = DEFAULT_LOGGING_DATE_FORMAT,
        log_format: str = DEFAULT_LOGGING_FORMAT,
    ) -> None:
        # RQ's own, with two changes: the scheduler is named after this worker (so the lock names
        # it), and it is a SupervisedScheduler. Supervised workers never run in burst mode.
        self.scheduler = SupervisedScheduler(
            self.queues,
            connection=self.connection,
            logging_level=logging_level if logging_level is not None else self.log.level,
            date_format=date_format,
            log_format=log_format,
            serializer=self.serializer,
            name=self.name,
        )
        with contextlib.suppress(*REDIS_DOWN):
            self.scheduler.acquire_locks(auto_start=True)

    def maintain_heartbeats(self, job, execution) -> None:  # type: ignore[no-untyped-def]
        # Called every job_monitoring_interval while a horse runs. A short Redis outage must not end
        # the worker (and with it the horse, which could finish the job once Redis is back).
        try:
            super().maintain_heartbeats(job, execution)
        except REDIS_DOWN as exc:
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
        with contextlib.suppress(*REDIS_DOWN):
            self.scheduler.acquire_locks(auto_start=True)


class SupervisedThesisWorker(SupervisedWorkerMixin, ThesisWorker):
    """:class:`ThesisWorker` (a forked work horse per job) as the supervisor runs it."""

    def execute_job(self, job: Job, queue: Queue) -> None:
        execution = self._until_redis(lambda: self.prepare_execution(job))
        self._end_deadline = None  # the horse's own wait, from its start
        self.fork_work_horse(job, queue)
        self.monitor_work_horse(job, queue, execution)
        self._until_redis(lambda: self.set_state(WorkerStatus.IDLE))

    def monitor_work_horse(self, job: Job, queue: Queue, execution: Execution) -> None:
        """RQ's, except that Redis being away never ends the worker, and a horse that died is an
        interruption of the job (put back, no retry used), not a failure of its code."""
        retpid = ret_val = rusage = None
        job.started_at = now()
        while True:
            try:
                with self.death_penalty_class(self.job_monitoring_interval, HorseMonitorTimeoutException):
                    retpid, ret_val, rusage = self.wait_for_horse()
                break
            except HorseMonitorTimeoutException:
                working_time = (now() - job.started_at).total_seconds()
                if job.timeout != -1 and working_time > (job.timeout or 0) + 60:
                    with contextlib.suppress(*REDIS_DOWN):
                        self.heartbeat(self.job_monitoring_interval + 60)
                    self.kill_horse()
                    self.wait_for_horse()
                    break
                self.maintain_heartbeats(job, execution)
            except OSError as exc:
                if exc.errno != errno.EINTR:
                    raise
                self.heartbeat()
        self._horse_pid = 0
        self.executions.pop(execution.id, None)
        if ret_val == os.EX_OK:
            return
        self.wait_for_redis()  # what became of the job is read, and written, in Redis
        try:
            self._until_redis(job.get_status)
        except InvalidJobOperation:
            return  # it completed and its hash already expired
        if self._stopped_job_id == job.id:
            self._handle_stopped_job(job, queue, execution)
        elif self._until_redis(lambda: self._run_unrecorded(job, execution)):
            # The run's end was not recorded (RQ: its status is not finished or failed; but RQ's own
            # retry sets the status before the rest of the write, so the execution tells).
            job.ended_at = now()
            signaled = ret_val is not None and os.WIFSIGNALED(ret_val)
            if signaled:
                assert ret_val is not None
                fault, how = Fault.WORKER_KILLED, f"was killed by signal {os.WTERMSIG(ret_val)}"
            else:
                fault, how = Fault.CONNECTION_LOST, f"ended (wait status {ret_val}) without recording the job's end"
            self.handle_work_horse_killed(job, retpid, ret_val, rusage)
            self._put_back_if_unrecorded(job, queue, execution, fault, f"the work horse of {self.name} {how}")


class SupervisedThesisSimpleWorker(SupervisedWorkerMixin, ThesisSimpleWorker):
    """:class:`ThesisSimpleWorker` (jobs in the worker process) as the supervisor runs it.

    The job runs in the worker's only thread, so a small thread keeps its heartbeats going.
    """

    def execute_job(self, job: Job, queue: Queue) -> None:
        execution = self._until_redis(lambda: self.prepare_execution(job))
        self._end_deadline = None
        done = threading.Event()
        beat = threading.Thread(target=self._beat_while_running, args=(job, execution, done), daemon=True)
        beat.start()
        try:
            self.perform_job(job, queue, execution)
        except EndNotRecorded as exc:
            self.log.warning("Worker %s: %s", self.name, exc)
            job.ended_at = now()
            self._put_back_if_unrecorded(
                job, queue, execution, Fault.CONNECTION_LOST, f"worker {self.name} could not record the job's end"
            )
        finally:
            done.set()
            beat.join(timeout=5)
        self._until_redis(lambda: self.set_state(WorkerStatus.IDLE))

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
