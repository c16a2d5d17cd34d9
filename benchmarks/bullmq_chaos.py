"""The chaos run on BullMQ: the scenario of :mod:`benchmarks.chaos` on the thesis system's BullMQ queue.

Supervised Python BullMQ workers (``thesis-worker --backend bullmq``) work soak jobs on
``thesis-generation``: each job's request names the ledger and the design in its options, and the
workers run it through :func:`benchmarks.soak_job.soak_bullmq_run` (``THESIS_BULLMQ_RUN``), which
writes the same ledger lines as the RQ soak's job. The jobs carry the seed's options (3 attempts,
exponential back-off from 2 s, the newest 100 completed and 500 failed jobs kept) and an id of the
run's own (``soak-00001``), so that an enqueue repeated after an outage adds nothing (BullMQ keeps
the first job of an id). Most are added by the Node producer, as the Next.js system adds them; the
ones enqueued during a Redis outage by the Python ``Queue``, which retries until Redis is back.

Faults (those that apply to BullMQ workers): SIGKILL of a busy worker process (its supervisor puts
the job back in wait at once), SIGKILL of a whole supervisor with its workers (a host gone: the jobs
come back through BullMQ's stalled check, 30 to 75 s), SIGTERM of a supervisor, a resize through
Redis, Redis SHUTDOWN and SIGKILL (``appendfsync always``) then a restart.

Retention deletes most ended jobs, so what the queue says of each job comes from its events stream,
read as it grows (a job's ``completed`` or ``failed`` event, the result it returned) and from where
the job is at the end (active, or waiting): never from the jobs kept. Besides the ledger's
accounting, a job that ended twice in the events stream, or a gap in the stream, fails the run.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import subprocess
import time
from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import psutil
import redis

from benchmarks.bench_setup import produce
from benchmarks.chaos import ChaosConfig, ChaosRun, Probe
from benchmarks.chaos_accounting import EnqueuedJob, FaultKind, FinalState, JobStatus, Place
from benchmarks.chaos_system import Busy, text
from benchmarks.soak_job import DESIGN_OPTION, LEDGER_OPTION, SOAK_BULLMQ_RUN, LedgerEvent, LedgerLine
from thesis_console.core.bullmq.job_defaults import SEED_JOB_NAME, SEED_OPTIONS
from thesis_console.core.bullmq.keys import BullKeys
from worker_runner.bullmq_worker_main import RUN_ENV

QUEUE = "thesis-generation"
KEYS = BullKeys("bull", QUEUE)
END_EVENTS = {"completed": JobStatus.FINISHED, "failed": JobStatus.FAILED}
WAITING_LISTS = ("wait", "paused")
WAITING_SETS = ("delayed", "prioritized")


def backoff_intervals(options: Mapping[str, Any]) -> tuple[int, ...]:
    """The seconds between attempts that BullMQ's exponential back-off gives the options (2, 4 for the seed's)."""
    backoff = options["backoff"]
    return tuple(int(backoff["delay"] * 2**n / 1000) for n in range(int(options["attempts"]) - 1))


def soak_data(job: EnqueuedJob, ledger: Path, pace_s: float) -> dict[str, Any]:
    """A soak job's data, as the Next.js producer shapes a thesis job: its id, the request fields."""
    options = {"pace_s": pace_s, LEDGER_OPTION: str(ledger), DESIGN_OPTION: job.design.value}
    return {"thesisId": job.job_id, "topic": job.topic, "chapters": job.chapters, "targetWords": 1000, "options": options}


@dataclass
class _End:
    status: JobStatus
    result: Any = None


class EventTail:
    """The queue's events stream read as it grows: each job's ends, in order (retention cannot take them)."""

    def __init__(self) -> None:
        self.last_id: str | None = None
        self.ends: dict[str, list[_End]] = defaultdict(list)
        self.waiting_at: dict[str, list[float]] = defaultdict(list)
        """Per job, when it was put in wait (added, promoted after its back-off, or put back after a kill)."""
        self.gaps: list[str] = []

    def read(self, conn: redis.Redis) -> None:
        key = KEYS.of("events")
        if self.last_id is not None:
            first = conn.xrange(key, count=1)
            if first and _stream_id(text(first[0][0])) > _stream_id(self.last_id):
                self.gaps.append(f"events after {self.last_id} were trimmed before the run read them")
        while True:
            start = "-" if self.last_id is None else f"({self.last_id}"
            batch = conn.xrange(key, min=start, count=5000)
            if not batch:
                return
            for entry_id, fields in batch:
                event = {text(k): text(v) for k, v in fields.items()}
                if event.get("event") == "waiting":
                    self.waiting_at[event.get("jobId", "")].append(_stream_id(text(entry_id))[0] / 1000)
                status = END_EVENTS.get(event.get("event", ""))
                if status is not None:
                    result = _json(event.get("returnvalue")) if status is JobStatus.FINISHED else None
                    self.ends[event.get("jobId", "")].append(_End(status, result))
            self.last_id = text(batch[-1][0])


def _stream_id(value: str) -> tuple[int, int]:
    ms, _, seq = value.partition("-")
    return int(ms), int(seq or 0)


def _json(raw: str | None) -> Any:
    try:
        return json.loads(raw) if raw else None
    except ValueError:
        return raw


class BullRun(ChaosRun):
    """The scenario on the BullMQ thesis queue, worked by supervised Python BullMQ workers."""

    retry_intervals_s = backoff_intervals(SEED_OPTIONS)
    faults = frozenset(
        {
            FaultKind.KILL_WORKER,
            FaultKind.KILL_SUPERVISOR,
            FaultKind.STOP_SUPERVISOR,
            FaultKind.RESIZE,
            FaultKind.REDIS_SHUTDOWN,
            FaultKind.REDIS_SIGKILL,
        }
    )
    supervisor_args = ("--backend", "bullmq", "--queue", QUEUE)
    allow = (SOAK_BULLMQ_RUN,)
    supervisor_env = {RUN_ENV: SOAK_BULLMQ_RUN}  # noqa: RUF012 (read only)

    def __init__(self, cfg: ChaosConfig, workdir: Path, say: Any) -> None:
        super().__init__(cfg, workdir, say)
        self.events = EventTail()

    # ---- producing
    def enqueue(self, jobs: list[EnqueuedJob]) -> None:
        """Through the Node producer; through the Python Queue, one by one, if it fails."""
        if not jobs:
            return
        data = [soak_data(job, self.ledger_path, self.cfg.pace_s) for job in jobs]
        try:
            ids = produce(self.url, data, [{"jobId": job.job_id} for job in jobs])
        except (subprocess.SubprocessError, OSError, ValueError) as exc:
            self.notes.append(f"the Node producer failed ({type(exc).__name__}); its jobs were added from Python")
            self._enqueue_now(jobs)
            return
        if ids != [job.job_id for job in jobs]:
            self.notes.append(f"the Node producer returned other ids than asked: {ids[:5]}")

    def enqueue_until_done(self, job: EnqueuedJob, give_up_at: float) -> bool:
        """Through the Python ``Queue``; a job of the same id that is already there is not added again."""
        data = soak_data(job, self.ledger_path, self.cfg.pace_s)
        while time.time() < give_up_at:
            try:
                asyncio.run(asyncio.wait_for(_add(self.url, job.job_id, data), timeout=max(1.0, give_up_at - time.time())))
                return True
            except (redis.RedisError, OSError):  # TimeoutError is an OSError
                time.sleep(0.2)
        return False

    # ---- reading
    def _remaining(self) -> int:
        self.events.read(self.conn)
        left = 0
        for job_id in self.enqueued:
            ends = self.events.ends.get(job_id)
            if ends:
                self.seen_ended[job_id] = ends[-1].status
            else:
                left += 1
        return left

    def _worker_pids(self, supervisors: set[str] | None = None) -> dict[str, int]:
        """Worker name -> pid, for the live workers of the run's supervisors (or of ``supervisors``)."""
        found = {}
        for sup_id, proc in self.sups.procs.items():
            if proc.poll() is not None or (supervisors is not None and sup_id not in supervisors):
                continue
            with contextlib.suppress(psutil.Error):
                for child in psutil.Process(proc.pid).children():
                    with contextlib.suppress(psutil.Error):
                        command = child.cmdline()
                        if "worker_runner.bullmq_worker_main" in command and "--name" in command:
                            found[command[command.index("--name") + 1]] = child.pid
        return found

    def busy(self) -> list[Busy]:
        active = [text(j) for j in self.conn.lrange(KEYS.of("active"), 0, -1)]
        pipe = self.conn.pipeline(transaction=False)
        for job_id in active:
            pipe.get(KEYS.job(job_id) + ":lock")
        pids = self._worker_pids()
        found = []
        for job_id, token in zip(active, pipe.execute(), strict=True):
            worker = text(token).rsplit(":", 1)[0] if token else ""
            if worker in pids:
                found.append(Busy(worker, pids[worker], job_id, text(token)))
        return found

    def released(self, held: list[Busy]) -> Probe:
        def probe(conn: redis.Redis) -> bool:
            pipe = conn.pipeline(transaction=False)
            for b in held:
                pipe.lpos(KEYS.of("active"), b.job_id)
                pipe.get(KEYS.job(b.job_id) + ":lock")
            replies = pipe.execute()
            return all(
                position is None or (lock is not None and text(lock) != b.execution)
                for b, position, lock in zip(held, replies[::2], replies[1::2], strict=True)
            )

        return probe

    def live_worker_pids(self, supervisors: set[str]) -> list[int]:
        return list(self._worker_pids(supervisors).values())

    def idle(self, conn: redis.Redis) -> bool:
        pipe = conn.pipeline(transaction=False)
        pipe.llen(KEYS.of("wait"))
        pipe.zcard(KEYS.of("delayed"))
        pipe.zcard(KEYS.of("prioritized"))
        return not any(pipe.execute())

    # ---- the end
    def final_states(self) -> dict[str, FinalState]:
        conn = self.conn
        self.events.read(conn)
        running = {text(j) for j in conn.lrange(KEYS.of("active"), 0, -1)}
        waiting = {text(j) for name in WAITING_LISTS for j in conn.lrange(KEYS.of(name), 0, -1)}
        waiting |= {text(j) for name in WAITING_SETS for j in conn.zrange(KEYS.of(name), 0, -1)}
        ids = list(self.enqueued)
        pipe = conn.pipeline(transaction=False)
        for job_id in ids:
            pipe.exists(KEYS.job(job_id))
        kept = pipe.execute()
        final = {}
        for job_id, exists in zip(ids, kept, strict=True):
            ends = self.events.ends.get(job_id)
            last = ends[-1] if ends else None
            place = Place.RUNNING if job_id in running else Place.WAITING if job_id in waiting else Place.NOWHERE
            status = last.status if last else (JobStatus.RUNNING if place is Place.RUNNING else None)
            if status is None and place is Place.WAITING:
                status = JobStatus.WAITING
            result = _own_result(job_id, last.result) if last and last.status is JobStatus.FINISHED else None
            final[job_id] = FinalState(status, place, result, record_kept=bool(exists))
        return final

    def ledger_lines(self) -> list[LedgerLine]:
        """The ledger, each ``start`` line with the time its job was last put in wait before it (from the events)."""
        lines = []
        for line in self.ledger.lines:
            if line.event is LedgerEvent.START and line.enqueued_at is None:
                before = [at for at in self.events.waiting_at.get(line.job_id, ()) if at <= line.at]
                if before:
                    line = replace(line, enqueued_at=max(before))
            lines.append(line)
        return lines

    def queue_problems(self) -> list[str]:
        found = list(self.events.gaps)
        for job_id, ends in sorted(self.events.ends.items()):
            if len(ends) > 1:
                found.append(f"{job_id}: ended {len(ends)} times in the events stream ({', '.join(e.status.value for e in ends)})")
        return found


def _own_result(job_id: str, returned: Any) -> Any:
    """The generation's result from what the worker returned (``thesisId`` first, as a Node worker's)."""
    if isinstance(returned, dict) and returned.get("thesisId") == job_id:
        return {k: v for k, v in returned.items() if k != "thesisId"}
    return {"returned": returned}  # not this job's: the output check says so


async def _add(url: str, job_id: str, data: dict[str, Any]) -> None:
    from bullmq import Queue

    queue = Queue(QUEUE, {"connection": url, "prefix": KEYS.prefix})
    try:
        await queue.add(SEED_JOB_NAME, data, {**SEED_OPTIONS, "jobId": job_id})
    finally:
        await queue.close()


def bullmq_config(**overrides: Any) -> ChaosConfig:
    """The soak's configuration for BullMQ: the faults that apply, late jobs added by the Node producer in batches."""
    values: dict[str, Any] = {
        "fault_weights": {
            FaultKind.KILL_WORKER: 6,
            FaultKind.KILL_SUPERVISOR: 1,
            FaultKind.STOP_SUPERVISOR: 1,
            FaultKind.RESIZE: 3,
            FaultKind.REDIS_SHUTDOWN: 1,
            FaultKind.REDIS_SIGKILL: 1,
        },
        "late_batch": 10,
        **overrides,
    }
    return ChaosConfig(**values)
