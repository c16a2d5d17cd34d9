"""The chaos run: soak jobs worked by supervisors while faults are injected, then full accounting.

Used by ``make soak`` (:mod:`benchmarks.soak`) and, in a short version, by the test suite
(``tests/benchmarks/test_chaos.py``). :class:`ChaosRun` is the scenario whichever queue runs the
jobs; :class:`RqRun` runs it on RQ, :class:`benchmarks.bullmq_chaos.BullRun` on BullMQ. Everything
runs on loopback: its own redis-server (append-only file, ``appendfsync always`` so that a SIGKILL
of Redis loses no acknowledged write and the accounting can be exact) in a temporary folder,
``thesis-worker`` supervisors as child processes, the count-based retention on (100 completed, 500
failed jobs kept).

The jobs run :func:`benchmarks.soak_job.soak_thesis` (the paced offline generation), which appends
each run's start, designed failure and completion to a ledger file outside Redis. Some jobs are
designed to fail once, some always. Part of the jobs is enqueued while the faults go on, some of
them while Redis is down (the producer waits for it and checks whether its write landed).

Faults, at random moments (seeded; each kind once first, then at random): SIGKILL of a work horse
mid-job, of a busy worker, of the worker holding RQ's scheduler lock, of a whole supervisor
(replaced by a new one); SIGTERM of a supervisor (replaced); a resize through Redis; a running job
stopped through the console core; Redis stopped with SHUTDOWN, and killed with SIGKILL, each then
started again on the same port and folder. Each fault's recovery is timed (see
:data:`benchmarks.chaos_accounting.RECOVERY_MEANING`). Faults and late enqueues begin once the first
job runs and stop after a window; the run then waits until every job has ended (or its deadline).

At the end every job is accounted for by :func:`benchmarks.chaos_accounting.account`.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
import signal
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import redis

from benchmarks.chaos_accounting import (
    ChaosReport,
    EnqueuedJob,
    FaultKind,
    FaultRecord,
    FinalState,
    JobStatus,
    Kill,
    Place,
    account,
    retry_samples,
)
from benchmarks.chaos_system import (
    LOCK_KEY,
    QUEUE,
    Busy,
    Holder,
    RunRedis,
    Supervisors,
    busy_workers,
    live_worker_pids,
    scheduler_holder,
    text,
)
from benchmarks.soak_job import SOAK_FUNCTION, Design, LedgerEvent, LedgerLine, LedgerReader
from thesis_console.core import contract
from thesis_console.core.embedded_redis import pid_alive
from thesis_console.core.thesis_request import ThesisRequest

RECOVERY_GIVE_UP_S = 240.0
RESIZE_SETTLE_S = 10.0
"""A Redis outage this soon after a resize does not count worker exits (retired workers leave)."""
RQ_STATUSES = {
    "finished": JobStatus.FINISHED,
    "failed": JobStatus.FAILED,
    "stopped": JobStatus.STOPPED,
    "canceled": JobStatus.CANCELED,
    "queued": JobStatus.WAITING,
    "scheduled": JobStatus.WAITING,
    "deferred": JobStatus.WAITING,
    "started": JobStatus.RUNNING,
}
"""RQ's job statuses in the accounting's words."""
_NEEDS_A_TARGET = (
    FaultKind.KILL_HORSE,
    FaultKind.KILL_WORKER,
    FaultKind.STOP_JOB,
    FaultKind.KILL_SCHEDULER_HOLDER,
    FaultKind.KILL_SUPERVISOR,
    FaultKind.STOP_SUPERVISOR,
)


@dataclass
class ChaosConfig:
    jobs: int = 1000
    fail_once_ratio: float = 0.10
    fail_always_ratio: float = 0.05
    late_ratio: float = 0.3
    """Share of the jobs enqueued while the faults go on (spread over ``late_window_s``)."""
    late_window_s: float = 150.0
    outage_enqueues: int = 3
    """Jobs enqueued (from the late share) during each Redis outage."""
    pace_s: float = 0.1
    chapters: int = 3
    seed: int = 20261130
    supervisors: int = 2
    min_concurrency: int = 3
    max_concurrency: int = 6
    fault_every_s: tuple[float, float] = (2.0, 5.0)
    fault_window_s: float = 300.0
    """Faults are injected this long from the first job's start; then the run only waits for every job to end."""
    fault_weights: dict[FaultKind, int] = field(
        default_factory=lambda: {
            FaultKind.KILL_HORSE: 4,
            FaultKind.KILL_WORKER: 3,
            FaultKind.KILL_SCHEDULER_HOLDER: 1,
            FaultKind.KILL_SUPERVISOR: 1,
            FaultKind.STOP_SUPERVISOR: 1,
            FaultKind.RESIZE: 3,
            FaultKind.STOP_JOB: 1,
            FaultKind.REDIS_SHUTDOWN: 1,
            FaultKind.REDIS_SIGKILL: 1,
        }
    )
    redis_shutdowns: int = 2
    redis_kills: int = 2
    redis_down_s: float = 2.0
    completed_keep: int = contract.COMPLETED_KEEP
    failed_keep: int = contract.FAILED_KEEP
    late_batch: int = 1
    """Late jobs are enqueued this many at a time, at least (a producer that starts a process per call wants more)."""
    deadline_s: float = 15 * 60
    stall_s: float = 150.0
    """After the faults, the run ends when no job ended or ran for this long (longer than a scheduler
    lock's TTL and a dead supervisor's recovery together)."""
    settle_s: float = 5.0
    recovery_interval_s: float = 2.0


# ------------------------------------------------------------------ producing
def _request(job: EnqueuedJob, pace_s: float) -> ThesisRequest:
    return ThesisRequest(topic=job.topic, chapters=job.chapters, target_words=1000, options={"pace_s": pace_s})


def enqueue_soak_job(conn: redis.Redis, job: EnqueuedJob, ledger: Path, pace_s: float) -> None:
    """Queue one soak job with the contract's policy (retries 2/4/8 s, time limits), under its own id."""
    pol = contract.policy()
    queue = contract.thesis_queue(conn, pol.queue_name)
    queue.enqueue(
        SOAK_FUNCTION,
        kwargs={"request": _request(job, pace_s).to_json(), "ledger": str(ledger), "design": job.design.value},
        job_id=job.job_id,
        job_timeout=pol.job_timeout_s,
        result_ttl=pol.completed_ttl_s,
        failure_ttl=pol.failed_ttl_s,
        retry=pol.retry(),
        description=f"Thesis: {job.topic}",
        meta={contract.KIND_KEY: contract.THESIS_KIND, "topic": job.topic, contract.PROGRESS_KEY: 0, contract.STAGE_KEY: "queued"},
    )


def enqueue_until_done(url: str, job: EnqueuedJob, ledger: Path, pace_s: float, give_up_at: float) -> bool:
    """Enqueue through outages: after an error, the job is enqueued again only if its hash is absent
    (the transaction either landed whole or not at all)."""
    while time.time() < give_up_at:
        conn = redis.Redis.from_url(url, socket_timeout=2, socket_connect_timeout=1)
        try:
            if not conn.exists(f"rq:job:{job.job_id}"):
                enqueue_soak_job(conn, job, ledger, pace_s)
            return True
        except redis.RedisError:
            time.sleep(0.2)
        finally:
            conn.close()
    return False


class _Ledger:
    """The ledger as the run reads it while it grows: every line, and the runs going on now."""

    def __init__(self, path: Path) -> None:
        self.reader = LedgerReader(path)
        self.lines: list[LedgerLine] = []
        self.running: dict[str, LedgerLine] = {}
        self.completed: set[str] = set()
        self.last_start_at = 0.0
        self._starts: Counter = Counter()
        self._ends: Counter = Counter()

    def update(self) -> None:
        for line in self.reader.read_new():
            self.lines.append(line)
            if line.event is LedgerEvent.START:
                self.running[line.job_id] = line
                self.last_start_at = max(self.last_start_at, line.at)
                self._starts[line.job_id] += 1
            else:
                self.running.pop(line.job_id, None)
                self._ends[line.job_id] += 1
                if line.event is LedgerEvent.DONE:
                    self.completed.add(line.job_id)

    def interruptions(self, job_id: str) -> int:
        """Runs of the job that started and never ended (the one going on now excluded)."""
        return self._starts[job_id] - self._ends[job_id] - (1 if job_id in self.running else 0)


# ------------------------------------------------------------------ recovery timing
Probe = Callable[[redis.Redis], bool]


class _RecoveryWatch:
    """A thread that polls each fault's recovery condition and records how long it took."""

    def __init__(self, url: str, ledger_path: Path) -> None:
        self.url = url
        self.ledger = _Ledger(ledger_path)
        self._lock = threading.Lock()
        self._pending: list[tuple[FaultKind, float, Probe]] = []
        self.records: list[FaultRecord] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="chaos-recovery", daemon=True)
        self._thread.start()

    def watch(self, kind: FaultKind, at: float, probe: Probe | None) -> None:
        with self._lock:
            if probe is None:
                self.records.append(FaultRecord(kind, at, None))
            else:
                self._pending.append((kind, at, probe))

    def _run(self) -> None:
        conn = redis.Redis.from_url(self.url, socket_timeout=1, socket_connect_timeout=0.5)
        while not self._stop.wait(0.05):
            self.ledger.update()
            with self._lock:
                pending = list(self._pending)
            done = []
            for item in pending:
                kind, at, probe = item
                now = time.time()
                try:
                    ok = probe(conn)
                except (redis.RedisError, OSError):
                    ok = False
                if ok or now - at > RECOVERY_GIVE_UP_S:
                    done.append(item)
                    with self._lock:
                        self.records.append(FaultRecord(kind, at, now - at if ok else None))
            if done:
                with self._lock:
                    self._pending = [p for p in self._pending if p not in done]
        conn.close()

    def finish(self) -> list[FaultRecord]:
        self._stop.set()
        self._thread.join(timeout=10)
        with self._lock:
            return self.records + [FaultRecord(kind, at, None) for kind, at, _ in self._pending]


def _gone_from_started(members: list[str]) -> Probe:
    def probe(conn: redis.Redis) -> bool:
        pipe = conn.pipeline(transaction=False)
        for member in members:
            pipe.zscore(f"rq:wip:{QUEUE}", member)
        return all(score is None for score in pipe.execute())

    return probe


# ------------------------------------------------------------------ the run
class ChaosRun:
    """The scenario on one queue backend: the jobs, the faults, the waiting for every job to end.

    A backend's subclass says how to enqueue on it, how to read which jobs ended and which workers are
    busy, when a dead worker's job counts as released, and what the queue holds at the end. Faults
    that only one backend has go through :meth:`_inject_own`.
    """

    retry_intervals_s: tuple[int, ...] = ()
    """The back-off between a job's attempts, as the queue's retry policy has it."""
    faults: frozenset[FaultKind] = frozenset()
    """The kinds of fault this backend's run can inject."""
    supervisor_args: tuple[str, ...] = ()
    allow: tuple[str, ...] = ()
    """Functions its workers must be allowed to run."""
    supervisor_env: dict[str, str] = {}  # noqa: RUF012 (read only)

    def __init__(self, cfg: ChaosConfig, workdir: Path, say: Callable[[str], None]) -> None:
        unsupported = [k.name for k in cfg.fault_weights if k not in self.faults and cfg.fault_weights[k] > 0]
        if unsupported:
            raise ValueError(f"{type(self).__name__} cannot inject {', '.join(unsupported)}")
        self.cfg = cfg
        self.workdir = workdir
        self.say = say
        self.rng = random.Random(cfg.seed)
        workdir.mkdir(parents=True, exist_ok=True)
        self.ledger_path = workdir / "ledger.jsonl"
        self.redis = RunRedis(workdir)
        self.url = self.redis.url
        self.conn = redis.Redis.from_url(self.url, socket_timeout=5)
        self.sups = Supervisors(
            self.url, workdir, cfg.recovery_interval_s, cfg.completed_keep, cfg.failed_keep,
            extra_args=self.supervisor_args, allow=self.allow, env=self.supervisor_env,
        )  # fmt: skip
        self.ledger = _Ledger(self.ledger_path)
        self.watch = _RecoveryWatch(self.url, self.ledger_path)
        self.jobs = self._plan_jobs()
        self.enqueued: dict[str, EnqueuedJob] = {}
        self.enqueued_late = 0
        self.kills: list[Kill] = []
        self.holder_kills: list[float] = []
        self.stopped_on_purpose: set[str] = set()
        self.seen_ended: dict[str, JobStatus] = {}
        self.notes: list[str] = []
        self.redis_left = {FaultKind.REDIS_SHUTDOWN: cfg.redis_shutdowns, FaultKind.REDIS_SIGKILL: cfg.redis_kills}
        self.outage_threads: list[threading.Thread] = []
        self.outage_workers: list[tuple[FaultKind, int, int]] = []
        """Per Redis outage: its kind, worker processes alive before, how many of them died in it."""
        self.stopping: set[str] = set()
        self.last_resize_at = 0.0
        self._enqueue_lock = threading.Lock()

    # ---- what a backend says
    def enqueue(self, jobs: list[EnqueuedJob]) -> None:
        """Add ``jobs`` to the queue (Redis is up)."""
        raise NotImplementedError

    def enqueue_until_done(self, job: EnqueuedJob, give_up_at: float) -> bool:
        """Add ``job`` through outages, never twice; False when ``give_up_at`` came first."""
        raise NotImplementedError

    def _remaining(self) -> int:
        """Jobs not yet ended; also records in :attr:`seen_ended` each end seen (retention may remove it later)."""
        raise NotImplementedError

    def busy(self) -> list[Busy]:
        """The live workers of the run's supervisors that hold a job now."""
        raise NotImplementedError

    def released(self, held: list[Busy]) -> Probe:
        """A probe: true once none of ``held`` (a dead worker's jobs) is held by that worker any more."""
        raise NotImplementedError

    def live_worker_pids(self, supervisors: set[str]) -> list[int]:
        raise NotImplementedError

    def idle(self, conn: redis.Redis) -> bool:
        """Nothing waits to be run."""
        raise NotImplementedError

    def final_states(self) -> dict[str, FinalState]:
        raise NotImplementedError

    def queue_problems(self) -> list[str]:
        """What the queue's own records show wrong, beyond the ledger's accounting."""
        return []

    def ledger_lines(self) -> list[LedgerLine]:
        """The ledger as read, with what the queue adds to it (when a run's job was put in its queue)."""
        return self.ledger.lines

    def _inject_own(self, kind: FaultKind) -> bool:
        raise AssertionError(kind)

    def _note_holder_kill(self, hits: Callable[[Holder], bool]) -> None:
        """Record the time when a kill hits the holder of a queue-wide lock (RQ's scheduler lock)."""

    def _plan_jobs(self) -> list[EnqueuedJob]:
        """The jobs in a seeded order, with exactly the configured share of each design."""
        always = round(self.cfg.jobs * self.cfg.fail_always_ratio)
        once = round(self.cfg.jobs * self.cfg.fail_once_ratio)
        designs = [Design.FAIL_ALWAYS] * always + [Design.FAIL_ONCE] * once
        designs += [Design.SUCCEED] * (self.cfg.jobs - len(designs))
        self.rng.shuffle(designs)
        return [
            EnqueuedJob(f"soak-{i:05d}", design, f"Chaos thesis {i}", self.cfg.chapters) for i, design in enumerate(designs)
        ]

    # ---- producing
    def _take_late(self, count: int) -> list[EnqueuedJob]:
        with self._enqueue_lock:
            taken, self.jobs = self.jobs[:count], self.jobs[count:]
            for job in taken:
                self.enqueued[job.job_id] = job
            self.enqueued_late += len(taken)
            return taken

    def _enqueue_now(self, jobs: list[EnqueuedJob]) -> None:
        for job in jobs:
            if not self.enqueue_until_done(job, time.time() + 60):
                self.notes.append(f"could not enqueue {job.job_id} within 60 s")

    def _enqueue_during_outage(self, jobs: list[EnqueuedJob]) -> None:
        time.sleep(0.3)  # Redis is going down meanwhile: these enqueues meet the outage
        self._enqueue_now(jobs)

    # ---- the loop
    def run(self, started: float) -> None:
        cfg = self.cfg
        early = round(cfg.jobs * (1 - cfg.late_ratio))
        first, self.jobs = self.jobs[:early], self.jobs[early:]
        for job in first:
            self.enqueued[job.job_id] = job
        self.enqueue(first)
        self.say(f"enqueued {early} jobs on {self.url}; {len(self.jobs)} more during the faults")
        for _ in range(cfg.supervisors):
            self.sups.start(self.rng.randint(cfg.min_concurrency, cfg.max_concurrency))
        late_rate = len(self.jobs) / max(cfg.late_window_s, 0.1)
        late_credit = 0.0
        plan = [k for k, w in cfg.fault_weights.items() if w > 0]
        self.rng.shuffle(plan)  # every kind once first, then at random by weight
        # Faults and late jobs begin when the first job starts (workers start slowly on a loaded machine).
        faults_from: float | None = None
        next_fault = 0.0
        last_tick = time.time()
        last_progress, last_change = (-1, -1), time.time()
        while time.time() - started < cfg.deadline_s:
            time.sleep(0.2)
            now = time.time()
            if faults_from is not None:
                late_credit += late_rate * (now - last_tick)
            last_tick = now
            if self.jobs and (late_credit >= cfg.late_batch or late_credit >= len(self.jobs)):
                late = self._take_late(int(late_credit) or 1)
                late_credit -= len(late)
                try:
                    self.enqueue(late)
                except redis.RedisError:
                    self._enqueue_now(late)
            self.ledger.update()
            try:
                remaining = self._remaining()
            except redis.RedisError:
                continue
            if remaining == 0 and not self.jobs and not any(t.is_alive() for t in self.outage_threads):
                break
            progress = (remaining, len(self.ledger.lines))
            if progress != last_progress:
                last_progress, last_change = progress, now
            elif now - (faults_from or started) > cfg.fault_window_s and now - last_change > cfg.stall_s:
                self.notes.append(f"{remaining} jobs had not ended and nothing moved for {cfg.stall_s:.0f} s: run ended")
                break
            if faults_from is None and self.ledger.lines:
                faults_from = now
                next_fault = now + self.rng.uniform(*cfg.fault_every_s)
            if faults_from is None or now < next_fault or now - faults_from > cfg.fault_window_s:
                continue
            kind = plan.pop(0) if plan else self._random_kind()
            try:
                applied = self._inject(kind)
            except redis.RedisError as exc:
                self.notes.append(f"fault {kind.name} hit a Redis error: {exc}")
                applied = False
            if applied:
                self.say(f"{time.time() - started:6.1f}s {kind.value}")
                next_fault = time.time() + self.rng.uniform(*cfg.fault_every_s)
            elif kind in _NEEDS_A_TARGET and len(plan) < 20:
                plan.append(kind)  # nothing to hit right now: try this kind again later
        else:
            self.notes.append(f"deadline of {cfg.deadline_s:.0f} s reached before every job ended")
        for thread in self.outage_threads:
            thread.join(timeout=70)

    def _random_kind(self) -> FaultKind:
        weights = dict(self.cfg.fault_weights)
        for kind, left in self.redis_left.items():
            if left <= 0:
                weights.pop(kind, None)
        kinds = [k for k, w in weights.items() if w > 0]
        return self.rng.choices(kinds, [weights[k] for k in kinds])[0]

    # ---- faults
    def _inject(self, kind: FaultKind) -> bool:
        conn = self.conn
        now = time.time
        if kind is FaultKind.KILL_WORKER:
            self.ledger.update()
            busy = [b for b in self.busy() if self.ledger.interruptions(b.job_id) == 0]
            if not busy:
                return False
            victim = self.rng.choice(busy)
            self._note_holder_kill(lambda h: h.worker == victim.worker)
            with contextlib.suppress(ProcessLookupError):
                os.kill(victim.pid, signal.SIGKILL)
            self.kills.append(Kill(now(), pids=frozenset({victim.pid}), workers=frozenset({victim.worker})))
            self.watch.watch(kind, now(), self.released([victim]))
            return True
        if kind in (FaultKind.KILL_SUPERVISOR, FaultKind.STOP_SUPERVISOR):
            busy = self.busy()
            alive = [sid for sid in self.sups.alive() if any(b.worker.startswith(f"{sid}.") for b in busy)]
            if not alive:
                return False  # a supervisor with running jobs, so that their recovery is measured
            victim_id = self.rng.choice(alive)
            if kind is FaultKind.KILL_SUPERVISOR:
                orphans = [b for b in busy if b.worker.startswith(f"{victim_id}.")]
                self._note_holder_kill(lambda h: h.worker.startswith(f"{victim_id}."))
                self.sups.kill(victim_id)
                self.kills.append(Kill(now(), supervisors=frozenset({victim_id})))
                self.watch.watch(kind, now(), self.released(orphans) if orphans else None)
            else:
                self.sups.terminate(victim_id)
                self.stopping.add(victim_id)
                proc = self.sups.procs[victim_id]
                self.watch.watch(kind, now(), lambda _c: proc.poll() is not None)
            self.sups.start(self.rng.randint(self.cfg.min_concurrency, self.cfg.max_concurrency))
            return True
        if kind is FaultKind.RESIZE:
            alive = self.sups.alive()
            if not alive:
                return False
            from thesis_console.core.supervisor_protocol import queue_control, resize_message
            from worker_runner.registration import read_record

            sup_id = self.rng.choice(alive)
            size = self.rng.randint(self.cfg.min_concurrency, self.cfg.max_concurrency)
            pipe = conn.pipeline()
            queue_control(pipe, sup_id, resize_message(size))
            self.last_resize_at = time.time()
            pipe.execute()

            def resized(c: redis.Redis) -> bool:
                record = read_record(c, sup_id)
                return record is not None and record.desired == size and record.live == size

            self.watch.watch(kind, now(), resized)
            return True
        if kind in (FaultKind.REDIS_SHUTDOWN, FaultKind.REDIS_SIGKILL):
            if self.redis_left[kind] <= 0:
                return False
            self.redis_left[kind] -= 1
            return self._restart_redis(kind)
        return self._inject_own(kind)

    def _restart_redis(self, kind: FaultKind) -> bool:
        during = self._take_late(self.cfg.outage_enqueues)
        if during:
            thread = threading.Thread(target=self._enqueue_during_outage, args=(during,), name="chaos-outage-enqueue")
            thread.start()
            self.outage_threads.append(thread)
        # Workers that may leave on their own (a supervisor told to stop, a resize under way) are not counted.
        settled = time.time() - self.last_resize_at > RESIZE_SETTLE_S
        steady = {sid for sid in self.sups.alive() if sid not in self.stopping} if settled else set()
        before = self.live_worker_pids(steady)
        self.conn.close()
        _down, back = self.redis.restart(kill=kind is FaultKind.REDIS_SIGKILL, down_s=self.cfg.redis_down_s)
        self.outage_workers.append((kind, len(before), sum(1 for pid in before if not pid_alive(pid))))
        self.conn = redis.Redis.from_url(self.url, socket_timeout=5)
        self.watch.watch(kind, back, lambda _c: self.watch.ledger.last_start_at > back or self.idle(_c))
        return True


class RqRun(ChaosRun):
    """The scenario on RQ: soak jobs by function name, work horses, the scheduler lock, stops through the core."""

    retry_intervals_s = contract.RETRY_INTERVALS_S
    faults = frozenset(FaultKind)
    allow = (SOAK_FUNCTION,)

    def enqueue(self, jobs: list[EnqueuedJob]) -> None:
        for job in jobs:
            enqueue_soak_job(self.conn, job, self.ledger_path, self.cfg.pace_s)

    def enqueue_until_done(self, job: EnqueuedJob, give_up_at: float) -> bool:
        return enqueue_until_done(self.url, job, self.ledger_path, self.cfg.pace_s, give_up_at)

    def _remaining(self) -> int:
        ids = [i for i in self.enqueued if i not in self.seen_ended]
        pipe = self.conn.pipeline(transaction=False)
        for job_id in ids:
            pipe.hget(f"rq:job:{job_id}", "status")
        left = 0
        for job_id, raw in zip(ids, pipe.execute(), strict=True):
            status = RQ_STATUSES.get(text(raw))
            if status is not None and status.ended:
                self.seen_ended[job_id] = status
            elif not (status is None and job_id in self.ledger.completed):
                left += 1
        return left

    def busy(self) -> list[Busy]:
        return busy_workers(self.conn)

    def released(self, held: list[Busy]) -> Probe:
        return _gone_from_started([b.execution for b in held])

    def live_worker_pids(self, supervisors: set[str]) -> list[int]:
        return live_worker_pids(self.conn, supervisors)

    def idle(self, conn: redis.Redis) -> bool:
        return _idle(conn)

    def _inject_own(self, kind: FaultKind) -> bool:
        conn = self.conn
        now = time.time
        if kind is FaultKind.KILL_HORSE:
            return self._kill_horse()
        if kind is FaultKind.KILL_SCHEDULER_HOLDER:
            holder = scheduler_holder(conn)
            if holder is None:
                return False
            for pid in (holder.worker_pid, holder.scheduler_pid):
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
            at = now()
            self.holder_kills.append(at)
            self.kills.append(Kill(at, workers=frozenset({holder.worker})))

            def lock_taken_over(c: redis.Redis, old: str = holder.lock_value) -> bool:
                value = text(c.get(LOCK_KEY))
                return bool(value) and value != old

            self.watch.watch(kind, at, lock_taken_over)
            return True
        if kind is FaultKind.STOP_JOB:
            busy = busy_workers(conn)
            if not busy:
                return False
            job_id = self.rng.choice(busy).job_id
            at = now()
            if not _stop_through_core(self.url, job_id):
                return False
            self.stopped_on_purpose.add(job_id)
            self.watch.watch(kind, at, lambda c: text(c.hget(f"rq:job:{job_id}", "status")) == "stopped")
            return True
        raise AssertionError(kind)

    def _kill_horse(self) -> bool:
        """SIGKILL the work horse of a job in the middle of its generation (progress below 90 %)."""
        self.ledger.update()
        candidates = [
            line
            for line in self.ledger.running.values()
            if pid_alive(line.pid) and self.ledger.interruptions(line.job_id) == 0
        ]
        self.rng.shuffle(candidates)
        members = {text(m).split(":", 1)[0]: text(m) for m in self.conn.zrange(f"rq:wip:{QUEUE}", 0, -1)}
        for line in candidates[:10]:
            meta = self.conn.hget(f"rq:job:{line.job_id}", "meta")
            progress = _progress(meta)
            if line.job_id not in members or progress is None or progress >= 90:
                continue
            with contextlib.suppress(ProcessLookupError):
                os.kill(line.pid, signal.SIGKILL)
            at = time.time()
            self.kills.append(Kill(at, pids=frozenset({line.pid})))
            self.watch.watch(FaultKind.KILL_HORSE, at, _gone_from_started([members[line.job_id]]))
            return True
        return False

    def _note_holder_kill(self, hits: Callable[[Holder], bool]) -> None:
        with contextlib.suppress(redis.RedisError):
            holder = scheduler_holder(self.conn)
            if holder is not None and hits(holder):
                self.holder_kills.append(time.time())

    # ---- the end
    def final_states(self) -> dict[str, FinalState]:
        conn = self.conn
        ids = list(self.enqueued)
        pipe = conn.pipeline(transaction=False)
        for job_id in ids:
            pipe.hget(f"rq:job:{job_id}", "status")
        statuses = pipe.execute()
        running = {text(x).split(":", 1)[0] for x in conn.zrange(f"rq:wip:{QUEUE}", 0, -1)}
        running |= {text(x) for x in conn.lrange(f"rq:queue:{QUEUE}:intermediate", 0, -1)}
        waiting = {text(x) for x in conn.lrange(f"rq:queue:{QUEUE}", 0, -1)}
        waiting |= {text(x) for x in conn.zrange(f"rq:scheduled:{QUEUE}", 0, -1)}
        waiting |= {text(x) for x in conn.zrange(f"rq:deferred:{QUEUE}", 0, -1)}
        final = {}
        for job_id, raw in zip(ids, statuses, strict=True):
            status = RQ_STATUSES.get(text(raw), JobStatus.OTHER) if raw else None
            place = Place.RUNNING if job_id in running else Place.WAITING if job_id in waiting else Place.NOWHERE
            result = _stored_result(conn, job_id) if status is JobStatus.FINISHED else None
            final[job_id] = FinalState(status, place, result)
        return final


def _progress(meta_raw) -> int | None:  # type: ignore[no-untyped-def]
    import json

    try:
        meta = json.loads(meta_raw) if meta_raw else {}
    except ValueError:
        return None
    percent, _stage = contract.progress_of(meta if isinstance(meta, dict) else {})
    return percent


def _idle(conn: redis.Redis) -> bool:
    """Nothing to resume: the queue and the scheduled registry are empty."""
    return conn.llen(f"rq:queue:{QUEUE}") == 0 and conn.zcard(f"rq:scheduled:{QUEUE}") == 0


def _stored_result(conn: redis.Redis, job_id: str):  # type: ignore[no-untyped-def]
    from rq.exceptions import NoSuchJobError
    from rq.job import Job

    try:
        return Job.fetch(job_id, connection=conn, serializer=contract.SERIALIZER).return_value()
    except NoSuchJobError:
        return None


def _save_records(run: ChaosRun, faults: list[FaultRecord], path: Path) -> None:
    """The run's own records, for a look after the run: jobs and designs, faults, kills, outages."""
    import json

    records = {
        "enqueued": {job_id: job.design.value for job_id, job in run.enqueued.items()},
        "faults": [{"kind": f.kind.name, "at": f.at, "recovery_s": f.recovery_s} for f in faults],
        "kills": [
            {"at": k.at, "pids": sorted(k.pids), "workers": sorted(k.workers), "supervisors": sorted(k.supervisors)}
            for k in run.kills
        ],
        "outages": run.redis.outages,
        "holder_kills": run.holder_kills,
        "stopped_on_purpose": sorted(run.stopped_on_purpose),
        "seen_ended": run.seen_ended,
    }
    path.write_text(json.dumps(records, indent=1))


def _stop_through_core(url: str, job_id: str) -> bool:
    """Stop a running job with the console core's action (RQ's stop-job command)."""
    import redis.asyncio as aredis

    from thesis_console.core.actions import QueueActions

    async def go() -> bool:
        client = aredis.Redis.from_url(url)
        actions = QueueActions(client, read_only=False, sync_factory=lambda: redis.Redis.from_url(url))
        try:
            result = await actions.stop([job_id])
            return job_id in result.done
        finally:
            await actions.close()
            await client.aclose()

    return asyncio.run(go())


def run_chaos(
    cfg: ChaosConfig,
    workdir: Path,
    say: Callable[[str], None] = print,
    title: str = "chaos run",
    backend: type[ChaosRun] = RqRun,
) -> ChaosReport:
    """Run the scenario on ``backend`` in ``workdir`` and return the accounting.

    Raises:
        ValueError: the configuration asks for a fault the backend cannot inject.
    """
    started = time.time()
    run = backend(cfg, workdir, say)
    try:
        run.run(started)
        time.sleep(cfg.settle_s)
        run.ledger.update()
        final = run.final_states()
        queue_problems = run.queue_problems()
    finally:
        faults = run.watch.finish()
        run.sups.stop_all()
        with contextlib.suppress(Exception):
            run.conn.close()
        run.redis.stop()
    run.ledger.update()
    lines = run.ledger_lines()
    accounting = account(
        run.enqueued, lines, final, run.seen_ended, run.stopped_on_purpose, run.kills, run.redis.outages
    )
    retries = retry_samples(lines, run.retry_intervals_s, run.redis.outages, run.holder_kills)
    _save_records(run, faults, workdir / "run.json")
    header = (
        f"{title}: {cfg.jobs} jobs ({cfg.fail_once_ratio:.0%} fail once, {cfg.fail_always_ratio:.0%} always), "
        f"{cfg.supervisors} supervisors at {cfg.min_concurrency}-{cfg.max_concurrency}, retention "
        f"{cfg.completed_keep}/{cfg.failed_keep}"
    )
    return ChaosReport(
        title=header,
        elapsed_s=time.time() - started,
        enqueued=len(run.enqueued),
        enqueued_during_faults=run.enqueued_late,
        accounting=accounting,
        faults=faults,
        retries=retries,
        outage_workers=[(kind, before, died) for kind, before, died in run.outage_workers],
        ledger_unreadable=run.ledger.reader.unreadable,
        notes=run.notes,
        queue_problems=queue_problems,
        fault_kinds=tuple(kind for kind in FaultKind if cfg.fault_weights.get(kind, 0) > 0),
    )
