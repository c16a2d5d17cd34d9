"""The supervisor: N worker processes kept alive, resized live, registered in Redis.

One thread runs a loop that wakes on a child's death (SIGCHLD), a stop signal, a stdin command, or a
short timeout, and then, in order:

1. reaps dead workers; an unexpected death is logged, counted, and the worker's job is recovered at
   once (:mod:`worker_runner.recovery`), its orphaned horse killed first; a scheduler lock held by a
   dead worker of this host is released at once (:mod:`worker_runner.scheduler_lock`);
2. obeys commands from stdin and from Redis (resize, autoscale, stop, restart);
3. starts workers up to the desired number (with :class:`~worker_runner.backoff.RestartBackoff`
   after crashes), or retires the extra ones, idle ones first, busy ones after their job;
4. heartbeats its record, samples queue depth each minute, and looks for jobs of dead workers on
   other hosts every ``--recovery-interval``.

Redis may go away at any step: the loop keeps managing processes, retries Redis with a capped
back-off, and carries on when it returns (a job recovery that could not run is kept until it can).
On the embedded default it also gets the managed server back (:mod:`worker_runner.redis_wait`).
A URL that answers with something that is not Redis is said in one line, not a traceback.
SIGTERM or SIGINT (or ``stop``) is a warm shutdown: workers finish their job within ``--grace``
seconds, then are stopped, and what they were running goes back to the front of its queue.
``stop now`` (or a second signal) stops them at once; ``restart`` replaces every worker, each after
its current job.
"""

from __future__ import annotations

import contextlib
import logging
import os
import secrets
import select
import signal
import socket
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

import redis
import redis.exceptions

from thesis_console.core import supervisor_control
from thesis_console.core.bullmq.keys import depth_metrics_name
from thesis_console.core.redis_target import connect, describe_error, redact
from thesis_console.core.supervisor_protocol import SupervisorRecord
from worker_runner import bullmq_supervision, parent_death, recovery, redis_wait, registration, scheduler_lock
from worker_runner.autoscale import AutoscalePolicy, AutoscaleState, decide
from worker_runner.backoff import RestartBackoff
from worker_runner.config import SupervisorConfig, WorkerBackend
from worker_runner.control import Command, CommandError, StatusWriter, StdinCommands, pop_redis_commands
from worker_runner.worker_logs import prune_old_logs
from worker_runner.worker_process import EXIT_REDIS_MOVED, WorkerProcess, describe_exit, spawn_worker

log = logging.getLogger("worker_runner.supervisor")

TICK_S = 0.5
OBSERVE_S = 1.0
"""How often worker states (busy or idle) and queue depths are read for autoscale and the record."""
COLD_STOP_DELAY_S = 1.1
"""RQ ignores a second stop signal within a second of the first: wait this long before sending it."""
KILL_AFTER_COLD_S = 10.0
REDIS_RETRY_MAX_S = 10.0
EMBEDDED_RETRY_MAX_S = 1.0
"""On the embedded Redis, a dead server is restarted by whoever notices first: look often."""
_REDIS_DOWN = (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError)
_REDIS_UNUSABLE = (*_REDIS_DOWN, *redis_wait.NOT_REDIS)


class Supervisor:
    """Runs and supervises the workers of one ``thesis-worker`` process.

    Args:
        config: the checked options.
        url: the resolved Redis URL (given to workers through their environment).
        stdin: the stream of line commands (None: no stdin commands).
        stdout: where JSON status lines go (None: nowhere).
        embedded_dir: the embedded Redis's data folder when ``url`` is the embedded default (the
            supervisor and its workers then restart or follow that server), else None.
    """

    def __init__(
        self,
        config: SupervisorConfig,
        url: str,
        stdin: IO[str] | None,
        stdout: IO[str] | None,
        embedded_dir: Path | None = None,
    ) -> None:
        self.config = config
        self.url = url
        self.bullmq = config.backend is WorkerBackend.BULLMQ
        """BullMQ worker processes (:mod:`worker_runner.bullmq_worker_main`) instead of RQ ones."""
        self._embedded = redis_wait.EmbeddedFollower(embedded_dir, url)
        self._not_redis_said = False
        self.id = config.supervisor_id
        self.host = socket.gethostname()
        self.pid = os.getpid()
        self.started_at = time.time()
        self.desired = config.initial_desired
        self.autoscale: AutoscalePolicy | None = (
            AutoscalePolicy(config.autoscale[0], config.autoscale[1], config.autoscale_cooldown_s, config.jobs_per_worker)
            if config.autoscale
            else None
        )
        self.autoscale_state = AutoscaleState()
        self.workers: dict[int, WorkerProcess] = {}
        self.dead: dict[str, tuple[str, recovery.Fault]] = {}
        """Workers that died and whose jobs still need a look: name -> (reason, recovery policy)."""
        self.restarts = 0
        self._pending_restarts = 0
        self.backoff = RestartBackoff(cap_s=config.restart_backoff_max_s)
        self.state = "running"
        self.busy: set[str] = set()
        self.depths: dict[str, int] = {}
        self._seq = 0
        self._token = secrets.token_hex(2)
        self._stop_requests = 0
        self._grace_deadline = 0.0
        self._kill_deadline: float | None = None
        self._redis: redis.Redis | None = None
        self.redis_ok: bool | None = None
        self._redis_retry_at = 0.0
        self._redis_delay = 0.5
        self._next_heartbeat = 0.0
        self._next_depth_sample = 0.0
        self._next_scan = 0.0
        self._next_observe = 0.0
        self._next_lock_check = 0.0
        self._scanner = recovery.OrphanScanner(confirm_s=registration.record_ttl_s(config.heartbeat_s) + 2)
        self._stranded = recovery.StrandedScanner()
        self._status = StatusWriter(stdout) if stdout is not None else None
        self._last_emitted: tuple | None = None
        self._wake_r, self._wake_w = os.pipe()
        os.set_blocking(self._wake_r, False)
        os.set_blocking(self._wake_w, False)
        self._stdin = StdinCommands(stdin, self._wake) if stdin is not None else None
        self._output_files = supervisor_control.own_output_files()

    # ------------------------------------------------------------------ the loop
    def run(self) -> int:
        """Run until stopped; returns the exit code (0 after a clean shutdown)."""
        self._install_signals()
        if not parent_death.become_subreaper():
            log.info("cannot adopt orphaned processes here (not Linux); work horses rely on their own checks")
        try:
            self.config.log_dir.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            log.error("cannot create the log folder %s: %s", self.config.log_dir, exc.strerror)
            return 2
        if not self._claim_id():
            return 2
        log.info(
            "supervisor %s (pid %s) starting %s %s worker(s) on %s; logs in %s",
            self.id, self.pid, self.desired, "bullmq" if self.bullmq else self.config.worker_class, ",".join(self.config.queues), self.config.log_dir,
        )  # fmt: skip
        if self._stdin is not None:
            self._stdin.start()
        self._emit("started")
        while True:
            self._wait(self._timeout())
            try:
                self._tick(time.monotonic())
            except Exception:  # a bug must not end the supervisor (and with it every worker)
                log.exception("supervisor loop error; carrying on")
                time.sleep(1.0)
            if self.state == "stopping" and not self.workers:
                break
        self._finish()
        return 0

    def _tick(self, now: float) -> None:
        self._reap(now)
        self._handle_commands(self._stdin.drain() if self._stdin else [], reply=True)
        if self._stop_requests and self.state == "running":
            self._begin_shutdown(now)
        self._redis_tick(now)
        if self.state == "running":
            self._reconcile(now)
        else:
            self._shutdown_tick(now)
        self._emit_if_changed()

    def _timeout(self) -> float:
        return TICK_S

    def _wait(self, timeout: float) -> None:
        with contextlib.suppress(InterruptedError, OSError):
            select.select([self._wake_r], [], [], timeout)
        with contextlib.suppress(BlockingIOError, OSError):
            while os.read(self._wake_r, 512):
                pass

    def _wake(self) -> None:
        with contextlib.suppress(BlockingIOError, OSError):
            os.write(self._wake_w, b"\0")

    def _install_signals(self) -> None:
        signal.set_wakeup_fd(self._wake_w, warn_on_full_buffer=False)
        signal.signal(signal.SIGTERM, self._on_stop_signal)
        signal.signal(signal.SIGINT, self._on_stop_signal)
        signal.signal(signal.SIGCHLD, lambda signum, frame: None)  # only to wake the loop

    def _on_stop_signal(self, signum: int, frame: Any) -> None:
        self._stop_requests += 1

    # ------------------------------------------------------------------ processes
    def _reap(self, now: float) -> None:
        while True:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return
            if pid == 0:
                return
            worker = self.workers.pop(pid, None)
            if worker is None:
                continue  # an adopted orphan of a dead worker, already handled
            worker.popen.returncode = os.waitstatus_to_exitcode(status)
            self._worker_exited(worker, status, now)

    def _worker_exited(self, worker: WorkerProcess, status: int, now: float) -> None:
        how = describe_exit(status)
        killed = parent_death.kill_adopted_orphans(worker.name)
        lifetime = now - worker.started_at
        self.busy.discard(worker.name)
        stopped_by_us = worker.cold_stop_sent or worker.killed
        if stopped_by_us:
            reason = f"supervisor {self.id} stopped worker {worker.name} before the job finished ({how})"
            self.dead[worker.name] = (reason, recovery.REQUEUE)
            log.info("worker %s stopped (%s)", worker.name, how)
        elif worker.retiring and status == 0:
            self.dead[worker.name] = (f"worker {worker.name} left ({how})", recovery.REQUEUE)
            log.info("worker %s left", worker.name)
        elif os.WIFEXITED(status) and os.WEXITSTATUS(status) == EXIT_REDIS_MOVED:
            self.dead[worker.name] = (f"worker {worker.name} left to follow the embedded Redis", recovery.REQUEUE)
            log.info("worker %s left to follow the embedded Redis to its new address; replacing it", worker.name)
            self._embedded.check(force=True)
            self._follow(self._embedded.url)
            if self.state == "running" and not worker.retiring:
                self._pending_restarts += 1
        elif status == 0:  # a warm stop from elsewhere (RQ's shutdown command): replaced, not a crash
            self.dead[worker.name] = (f"worker {worker.name} left on request ({how})", recovery.REQUEUE)
            log.info("worker %s left on request%s", worker.name, "; starting a fresh one" if self.state == "running" else "")
        else:
            reason = f"worker {worker.name} on {self.host} died unexpectedly ({how})"
            self.dead[worker.name] = (reason, recovery.RETRY)
            if self.state == "running" and not worker.retiring:
                self._pending_restarts += 1
                resume_at = self.backoff.worker_died(lifetime, now)
                wait = max(0.0, resume_at - now)
                log.warning(
                    "worker %s died unexpectedly (%s) after %.1f s%s; restarting%s",
                    worker.name, how, lifetime, f", {killed} orphaned process(es) killed" if killed else "",
                    f" in {wait:.1f} s" if wait else "",
                )  # fmt: skip
            else:
                log.warning("worker %s died while leaving (%s)", worker.name, how)
        self._next_scan = 0.0  # recover its job now
        self._next_lock_check = 0.0  # and free its scheduler lock now

    def _reconcile(self, now: float) -> None:
        active = [w for w in self.workers.values() if not w.retiring]
        if len(active) < self.desired:
            if not self.backoff.may_start(now):
                return
            for _ in range(self.desired - len(active)):
                if not self._start_worker():
                    break
        elif len(active) > self.desired:
            self._retire(active, len(active) - self.desired)

    def _start_worker(self) -> bool:
        self._seq += 1
        name = f"{self.id}{recovery.WORKER_NAME_SEPARATOR}{self._token}-{self._seq}"
        try:
            worker = spawn_worker(self.config, name, self.url, embedded_dir=self._embedded.data_dir)
        except OSError as exc:
            log.error("could not start a worker: %s", exc)
            self.backoff.worker_died(0.0, time.monotonic())
            return False
        self.workers[worker.pid] = worker
        if self._pending_restarts:
            self._pending_restarts -= 1
            self.restarts += 1
        log.info("started worker %s (pid %s)", name, worker.pid)
        if self._seq % 10 == 0:
            prune_old_logs(self.config.log_dir, f"{self.id}.", {w.name for w in self.workers.values()})
        return True

    def _retire(self, active: list[WorkerProcess], count: int) -> None:
        """Ask ``count`` workers to leave: idle ones first, then the youngest busy ones."""
        with contextlib.suppress(*_REDIS_UNUSABLE):
            self._observe(time.monotonic(), force=True)  # fresh states; without Redis, the last ones
        ordered = sorted(active, key=lambda w: (w.name in self.busy, -w.started_at))
        for worker in ordered[:count]:
            worker.warm_stop()
            log.info("retiring worker %s (%s)", worker.name, "after its job" if worker.name in self.busy else "idle")
        self._pending_restarts = 0

    def _restart_workers(self) -> None:
        """Retire every worker after its current job; the loop starts their replacements at once."""
        for worker in self.workers.values():
            if not worker.retiring:
                worker.warm_stop()
        log.info("restarting all workers, each after its current job")

    # ------------------------------------------------------------------ shutdown
    def _begin_shutdown(self, now: float) -> None:
        self.state = "stopping"
        self._grace_deadline = now + self.config.grace_s
        log.info("stopping: workers get %.0f s to finish their jobs", self.config.grace_s)
        for worker in self.workers.values():
            worker.warm_stop()
        self._next_heartbeat = 0.0

    def _shutdown_tick(self, now: float) -> None:
        if self._stop_requests > 1 and self._grace_deadline > now:
            log.info("second stop request: stopping running jobs now")
            self._grace_deadline = now
        if now < self._grace_deadline:
            return
        for worker in self.workers.values():
            if worker.cold_stop_sent or worker.stop_sent_at is None:
                if worker.stop_sent_at is None:
                    worker.warm_stop()
                continue
            if now - worker.stop_sent_at >= COLD_STOP_DELAY_S:
                log.info("grace period over: stopping worker %s and putting its job back", worker.name)
                worker.cold_stop()
        if self._kill_deadline is None and all(w.cold_stop_sent for w in self.workers.values()):
            self._kill_deadline = now + KILL_AFTER_COLD_S
        if self._kill_deadline is not None and now >= self._kill_deadline:
            for worker in self.workers.values():
                if not worker.killed:
                    log.warning("worker %s did not stop; killing it", worker.name)
                    worker.kill()

    def _finish(self) -> None:
        """After the last worker is gone: put back what they left, remove the record."""
        deadline = time.monotonic() + 5.0
        while self.dead and time.monotonic() < deadline:
            try:
                self._recover(time.monotonic())
            except _REDIS_UNUSABLE as exc:
                if redis_wait.is_not_redis(exc):
                    self._say_not_redis(exc)
                    break
                log.warning("cannot put back the jobs of stopped workers yet: %s", describe_error(exc, self.url))
                time.sleep(0.5)
        if self.dead:
            log.warning(
                "Redis is unreachable: jobs of %s stay started until a supervisor recovers them", ", ".join(self.dead)
            )
        try:
            if self._redis is not None:
                registration.remove_record(self._redis, self.id)
        except _REDIS_UNUSABLE as exc:
            if redis_wait.is_not_redis(exc):
                self._say_not_redis(exc)
            log.warning("could not remove this supervisor's record; it expires by itself")
        self._emit("stopped")
        log.info("supervisor %s stopped", self.id)

    # ------------------------------------------------------------------ commands
    def _handle_commands(self, items: list[Command | CommandError], reply: bool) -> None:
        for item in items:
            if isinstance(item, CommandError):
                log.warning("%s", item)
                if reply:
                    self._emit("reply", ok=False, error=str(item))
                continue
            error = self._apply(item)
            if error:
                log.warning("command %r refused: %s", item.text, error)
            elif item.op != "status":
                log.info("command from %s: %s", item.source, item.text or item.op)
            if reply:
                self._emit("reply", command=item.text, ok=not error, **({"error": error} if error else {}))

    def _apply(self, command: Command) -> str | None:
        """Obey one command; returns an error message when it cannot be obeyed."""
        if command.op == "status":
            return None
        if command.op == "stop":
            self._stop_requests += 2 if command.hard else 1  # a second request is the hard stop
            return None
        if self.state != "running":
            return "the supervisor is stopping"
        if command.op == "restart":
            self._restart_workers()
            return None
        if command.op == "resize":
            assert command.concurrency is not None
            self.autoscale = None
            self.desired = command.concurrency
        elif command.op == "autoscale":
            assert command.minimum is not None and command.maximum is not None
            self.autoscale = AutoscalePolicy(
                command.minimum, command.maximum, self.config.autoscale_cooldown_s, self.config.jobs_per_worker
            )
            self.autoscale_state = AutoscaleState()
            self.desired = max(command.minimum, min(command.maximum, self.desired))
        elif command.op == "autoscale-off":
            self.autoscale = None
        self._next_heartbeat = 0.0
        return None

    # ------------------------------------------------------------------ Redis
    def _redis_tick(self, now: float) -> None:
        if self.redis_ok is False and now < self._redis_retry_at:
            return
        try:
            conn = self._connection()
            if self.redis_ok is not True:
                conn.ping()
                if self.redis_ok is False:
                    log.info("Redis is reachable again")
                    self.backoff.reset(now)
                self.redis_ok = True
                self._not_redis_said = False
                self._redis_delay = 0.5
                self._next_heartbeat = 0.0
            self._handle_commands(pop_redis_commands(conn, self.id), reply=False)
            if self._stop_requests and self.state == "running":
                self._begin_shutdown(now)
            self._observe(now)
            if now >= self._next_lock_check and not self.bullmq:
                self._next_lock_check = now + OBSERVE_S
                scheduler_lock.release_dead_holders(conn, self.config.queues, self.host)
            if self.autoscale is not None and self.state == "running":
                self._autoscale(now)
            if now >= self._next_depth_sample:
                self._next_depth_sample = now + registration.DEPTH_SAMPLE_S
                registration.record_depths(conn, self._depth_samples(conn))
            if now >= self._next_scan:
                self._next_scan = now + self.config.recovery_interval_s
                self._recover(now)
            if now >= self._next_heartbeat:
                self._next_heartbeat = now + self.config.heartbeat_s
                registration.write_record(conn, self.record(), self.config.heartbeat_s)
        except Exception as exc:  # Redis down, or refusing a command: retried with back-off either way
            if redis_wait.is_not_redis(exc):
                self._say_not_redis(exc)
            elif self.redis_ok is not False:
                if isinstance(exc, _REDIS_DOWN):
                    log.warning("Redis unavailable (%s); workers carry on, it is retried", describe_error(exc, self.url))
                else:
                    log.exception("Redis step failed; it is retried")
            self.redis_ok = False
            cap = EMBEDDED_RETRY_MAX_S if self._embedded.active else REDIS_RETRY_MAX_S
            self._redis_retry_at = now + self._redis_delay
            self._redis_delay = min(cap, self._redis_delay * 2)
            if self.dead:
                self._next_scan = 0.0
            if isinstance(exc, _REDIS_UNUSABLE):
                self._follow(self._embedded.check())

    def _follow(self, url: str | None) -> None:
        """Use ``url`` from now on (the embedded Redis came back elsewhere); None: nothing changed."""
        if url is None or url == self.url:
            return
        self.url = url
        if self._redis is not None:
            self._redis.close()
        self._redis = None
        self._redis_retry_at = 0.0

    def _say_not_redis(self, exc: BaseException) -> None:
        """One line, once per episode: the URL answers, but not as a Redis."""
        if not self._not_redis_said:
            log.error("not a Redis at %s (%s); waiting for a Redis there", redact(self.url), exc)
            self._not_redis_said = True

    def _connection(self) -> redis.Redis:
        if self._redis is None:
            self._redis = connect(self.url, check=False)
        return self._redis

    def _depth_samples(self, conn: redis.Redis) -> dict[str, int]:
        """The queue depths to record, by the name the console reads them under (BullMQ records none)."""
        if self.bullmq:  # observed on this tick (wait + paused + prioritized)
            return {depth_metrics_name(self.config.bullmq_prefix, q): n for q, n in self.depths.items()}
        return registration.queue_depths(conn, self.config.queues)

    def _observe(self, now: float, force: bool = False) -> None:
        """Read which of our workers are busy and how deep the queues are (plain reads)."""
        if not force and now < self._next_observe:
            return
        if self.redis_ok is not True:
            return
        self._next_observe = now + OBSERVE_S
        names = [w.name for w in self.workers.values()]
        conn = self._connection()
        if self.bullmq:
            seen = bullmq_supervision.observe(conn, self.config.bullmq_prefix, self.config.queues, names)
            self.busy, self.depths = seen.busy, seen.depths
            return
        with conn.pipeline(transaction=False) as pipe:
            for name in names:
                pipe.hget(f"rq:worker:{name}", "state")
            for queue in self.config.queues:
                pipe.llen(f"rq:queue:{queue}")
            results = pipe.execute()
        states = results[: len(names)]
        self.busy = {name for name, state in zip(names, states, strict=True) if state == b"busy"}
        self.depths = {q: int(n) for q, n in zip(self.config.queues, results[len(names) :], strict=True)}

    def _autoscale(self, now: float) -> None:
        assert self.autoscale is not None
        waiting = sum(self.depths.values())
        running = len(self.busy)
        size, self.autoscale_state = decide(self.autoscale, self.desired, waiting, running, now, self.autoscale_state)
        if size != self.desired:
            log.info("autoscale: %s -> %s workers (%s waiting, %s running)", self.desired, size, waiting, running)
            self.desired = size
            self._next_heartbeat = 0.0

    def _recover(self, now: float) -> None:
        """Recover the jobs of our dead workers and of dead workers elsewhere (raises when Redis is down)."""
        conn = self._connection()
        dead = dict(self.dead)
        live = {w.name for w in self.workers.values()}
        if self.bullmq:
            bullmq_supervision.requeue_jobs_of(conn, self.config.bullmq_prefix, self.config.queues, set(dead))
            for name in dead:
                self.dead.pop(name, None)
            return
        for entry, reason, policy in self._scanner.scan(conn, self.config.queues, live, dead):
            recovery.recover_execution(conn, entry, reason, policy, recovered_by=self.id)
        for name in dead:
            self.dead.pop(name, None)
        for queue, job_id in self._stranded.scan(conn, self.config.queues):
            recovery.requeue_stranded(conn, queue, job_id)

    def _claim_id(self) -> bool:
        """Refuse to start when another live supervisor uses this id (when Redis can tell)."""
        try:
            other = registration.id_in_use(self._connection(), self.id, self.host, self.pid)
        except _REDIS_UNUSABLE:
            return True  # checked again by nobody; the record simply takes the id when Redis returns
        if other is not None:
            age = time.time() - other.heartbeat_at
            log.error(
                "supervisor id %r is in use by pid %s on %s (heartbeat %.0f s ago); choose another --id",
                self.id, other.pid, other.host, age,
            )  # fmt: skip
            return False
        return True

    # ------------------------------------------------------------------ reporting
    def record(self) -> SupervisorRecord:
        stopping = sum(1 for w in self.workers.values() if w.retiring)
        return SupervisorRecord(
            id=self.id,
            host=self.host,
            pid=self.pid,
            queues=tuple(self.config.queues),
            desired=self.desired,
            live=len(self.workers),
            workers=tuple(sorted(w.name for w in self.workers.values())),
            started_at=self.started_at,
            restarts=self.restarts,
            heartbeat_at=time.time(),
            autoscale_min=self.autoscale.minimum if self.autoscale else None,
            autoscale_max=self.autoscale.maximum if self.autoscale else None,
            log_dir=str(self.config.log_dir),
            busy=len(self.busy & {w.name for w in self.workers.values()}),
            state=self.state,
            extra={
                "stopping": stopping,
                "worker_class": "bullmq" if self.bullmq else self.config.worker_class,
                "backend": self.config.backend.value,
                "redis": self._redis_text(),
                "pending_recovery": sorted(self.dead),
                supervisor_control.OUTPUT_FILES_FIELD: self._output_files,
            },
        )

    def status(self) -> dict[str, Any]:
        record = self.record()
        return {
            "id": record.id,
            "host": record.host,
            "pid": record.pid,
            "queues": list(record.queues),
            "desired": record.desired,
            "live": record.live,
            "busy": record.busy,
            "stopping": record.extra["stopping"],
            "restarts": record.restarts,
            "autoscale": [record.autoscale_min, record.autoscale_max] if self.autoscale else None,
            "state": record.state,
            "workers": list(record.workers),
            "log_dir": record.log_dir,
            "redis": record.extra["redis"],
        }

    def _redis_text(self) -> str:
        return {True: "ok", False: "unavailable"}.get(self.redis_ok, "unknown")  # type: ignore[arg-type]

    def _emit(self, event: str, **extra: Any) -> None:
        if self._status is None:
            return
        payload = {"event": event, **self.status(), **extra}
        self._status.write(payload)
        if event in ("status", "started"):
            self._last_emitted = self._change_key()

    def _change_key(self) -> tuple:
        status = self.status()
        return (status["desired"], status["live"], status["stopping"], status["state"], str(status["autoscale"]), status["redis"])

    def _emit_if_changed(self) -> None:
        if self._change_key() != self._last_emitted:
            self._emit("status")


def run_supervisor(
    config: SupervisorConfig,
    url: str,
    stdin: IO[str] | None = None,
    stdout: IO[str] | None = None,
    on_ready: Callable[[Supervisor], None] | None = None,
    embedded_dir: Path | None = None,
) -> int:
    """Build and run a supervisor (stdin and stdout default to the process's own)."""
    supervisor = Supervisor(
        config,
        url,
        stdin if stdin is not None else sys.stdin,
        stdout if stdout is not None else sys.stdout,
        embedded_dir=embedded_dir,
    )
    if on_ready is not None:
        on_ready(supervisor)
    return supervisor.run()
