"""Jobs left behind by dead workers: find them and put them back, exactly once.

A job that runs has an entry ``{job_id}:{execution_id}`` in its queue's started registry
``rq:wip:{queue}`` and an execution hash ``rq:execution:{job_id}:{execution_id}`` naming its worker.
When a worker process dies (SIGKILL, out of memory, a crash), nothing removes them: RQ notices only
when the entry's score (its expiry, refreshed by the worker's heartbeats) has passed and some
worker's periodic maintenance runs, up to ten minutes later.

The supervisor does better in two cases:

* Its own worker died: it knows at once (it reaps the process) and recovers that worker's entries.
* A worker on another host died with its whole host: a surviving supervisor sees entries whose
  worker is gone (no supervisor record lists it and its heartbeat key expired, or the entry itself
  expired) on two scans some seconds apart, and recovers them.

Recovering one entry (:func:`recover_execution`) uses RQ's own operations in one MULTI/EXEC under
WATCH of the job and execution keys: the execution is deleted as RQ's worker deletes it, then the
job is put back at the front of its queue as an interruption (:mod:`worker_runner.interruptions`:
no retry is used, as the death of a worker is not the job's fault), or, at the bound of
interruptions, failed with RQ's ``record_job_failure`` and a reason that says what happened. A run
that a shutdown stopped is put back the same way and not counted. If a second supervisor, RQ's
maintenance or the worker itself touches the job in between, the transaction is void and the entry
is looked at again, so the job is put back once. Entries near or past their expiry are also what
RQ's maintenance recovers, so for those the queue's RQ maintenance lock is taken first.
"""

from __future__ import annotations

import contextlib
import logging
import re
import time
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field

import redis
from rq.exceptions import NoSuchJobError
from rq.executions import Execution
from rq.job import Job, JobStatus
from rq.job_lifecycle import record_job_failure
from rq.queue import Queue
from rq.rate_limit import release_slot
from rq.registry import ScheduledJobRegistry, StartedJobRegistry
from rq.utils import now as rq_now
from rq.worker import BaseWorker

from thesis_console.core import contract, metrics_store
from thesis_console.core.retention import enforce_retention
from thesis_console.core.supervisor_protocol import INDEX_KEY, SupervisorRecord, record_key
from worker_runner.interruptions import Fault, note_interruption
from worker_runner.supervised_worker import HEARTBEAT_FIELD, SUPERVISOR_FIELD

log = logging.getLogger(__name__)

RETRY = Fault.WORKER_KILLED
"""Policy for a crash: back at the front of its queue, counted as an interruption (no retry used)."""
REQUEUE = Fault.STOPPED
"""Policy for a job that a shutdown interrupted: back at the front of its queue, not counted."""

EXPIRY_MARGIN_S = 5.0
"""Entries this close to their expiry may be taken by RQ's maintenance too: take its lock first."""
MAINTENANCE_LOCK_S = 30
RQ_MAINTENANCE_LOCK_S = 899
"""How long RQ's maintenance holds its lock of a queue, unless it releases it after its pass."""
ABANDONED_LOCK_S = 60
"""RQ's lock taken longer ago than this (a pass lasts seconds) was left by a worker that died."""
WORKER_NAME_SEPARATOR = "."
SUPERVISED_NAME = re.compile(r"^(?P<supervisor>[A-Za-z0-9_-]{1,64})\.[0-9a-f]{4}-[0-9]+$")
"""Names the supervisor gives its workers: ``{supervisor id}.{run token}-{n}``."""
STALE_HEARTBEATS = 3
"""A supervised worker is dead when its job's execution missed this many heartbeats (plus 5 s)."""


@dataclass(frozen=True)
class StartedEntry:
    """One entry of a started registry, with the worker that its execution names."""

    queue: str
    job_id: str
    execution_id: str
    expires_at: float
    worker_name: str
    last_heartbeat: float | None = None
    """The execution's last heartbeat (Unix time), when its hash still exists."""

    @property
    def composite_key(self) -> str:
        return f"{self.job_id}:{self.execution_id}"


@dataclass(frozen=True)
class WorkerFacts:
    """What an RQ worker hash says about a worker's life."""

    gone: bool
    """Its heartbeat key expired, or it registered its death."""
    supervisor: str | None = None
    job_heartbeat_s: float | None = None


@dataclass(frozen=True)
class Recovered:
    """What :func:`recover_execution` did with one entry."""

    job_id: str
    queue: str
    action: str  # "requeued" | "failed" | "cleared"
    reason: str


def supervisor_of(worker_name: str) -> str | None:
    """The supervisor id in the name of a worker that a supervisor started, else None."""
    match = SUPERVISED_NAME.match(worker_name)
    return match.group("supervisor") if match else None


# ----------------------------------------------------------------- reading
def started_entries(conn: redis.Redis, queues: Iterable[str]) -> list[StartedEntry]:
    """Every entry of the started registries of ``queues`` (plain reads, nothing is cleaned)."""
    queues = list(queues)
    with conn.pipeline(transaction=False) as pipe:
        for queue in queues:
            pipe.zrange(StartedJobRegistry(queue, connection=conn).key, 0, -1, withscores=True)
        per_queue = pipe.execute()
    raw: list[tuple[str, str, str, float]] = []
    for queue, members in zip(queues, per_queue, strict=True):
        for member, score in members:
            text = member.decode() if isinstance(member, bytes) else str(member)
            job_id, sep, execution_id = text.partition(":")
            if sep and job_id and execution_id:
                raw.append((queue, job_id, execution_id, float(score)))
    if not raw:
        return []
    with conn.pipeline(transaction=False) as pipe:
        for _queue, job_id, execution_id, _score in raw:
            pipe.hmget(f"rq:execution:{job_id}:{execution_id}", ["worker_name", "last_heartbeat"])
            pipe.hget(Job.key_for(job_id), "worker_name")
        replies = pipe.execute()
    entries = []
    for index, (queue, job_id, execution_id, score) in enumerate(raw):
        (worker, beat), job_worker = replies[2 * index], replies[2 * index + 1]
        name = worker or job_worker or b""
        entries.append(
            StartedEntry(queue, job_id, execution_id, score, _text(name), _float(beat))
        )
    return entries


def live_supervised_workers(conn: redis.Redis) -> dict[str, set[str]]:
    """Worker names listed by each supervisor whose record has not expired, by supervisor id."""
    ids = [_text(i) for i in conn.zrange(INDEX_KEY, 0, -1)]
    if not ids:
        return {}
    raws = conn.mget([record_key(i) for i in ids])
    found: dict[str, set[str]] = {}
    for sid, raw in zip(ids, raws, strict=True):
        if raw is None:
            continue
        try:
            found[sid] = set(SupervisorRecord.from_json(raw).workers)
        except ValueError:
            continue
    return found


def worker_facts(conn: redis.Redis, worker_names: Iterable[str]) -> dict[str, WorkerFacts]:
    """Per worker: whether it is gone, and the supervisor and heartbeat its hash names."""
    names = list(dict.fromkeys(worker_names))
    with conn.pipeline(transaction=False) as pipe:
        for name in names:
            pipe.exists(BaseWorker.redis_worker_namespace_prefix + name)
            pipe.hmget(BaseWorker.redis_worker_namespace_prefix + name, ["death", SUPERVISOR_FIELD, HEARTBEAT_FIELD])
        replies = pipe.execute()
    facts = {}
    for i, name in enumerate(names):
        exists, (death, supervisor, beat) = replies[2 * i], replies[2 * i + 1]
        facts[name] = WorkerFacts(
            gone=not exists or death is not None,
            supervisor=_text(supervisor) if supervisor else None,
            job_heartbeat_s=_float(beat),
        )
    return facts


def _text(value) -> str:  # type: ignore[no-untyped-def]
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value or "")


def _float(value) -> float | None:  # type: ignore[no-untyped-def]
    try:
        return float(value) if value is not None else None
    except (TypeError, ValueError):
        return None


# ----------------------------------------------------------------- deciding
@dataclass
class OrphanScanner:
    """Finds the started entries whose worker is dead, remembering candidates between scans.

    Own workers are known: a dead one's entries are chosen at once. For workers of other hosts:

    * one started by a supervisor (its hash names it, or its name has the supervisor's pattern)
      is dead when no live supervisor record lists it and either its heartbeat key is gone, or its
      job's execution missed :data:`STALE_HEARTBEATS` heartbeats, or the entry expired;
    * any other worker only when the entry expired (RQ's own rule).

    Args:
        confirm_s: such a worker must look dead on two scans at least this far apart (same entry,
            same score), so that a supervisor or worker that was only cut off from Redis for a
            moment has time to heartbeat again.
    """

    confirm_s: float = 12.0
    _first_seen: dict[tuple[str, float], float] = field(default_factory=dict)

    def scan(
        self,
        conn: redis.Redis,
        queues: Iterable[str],
        own_live: set[str],
        own_dead: Mapping[str, tuple[str, Fault]],
        now: float | None = None,
    ) -> list[tuple[StartedEntry, str, Fault]]:
        """Entries to recover now, each with its reason and policy (:data:`RETRY` or :data:`REQUEUE`).

        Args:
            own_live: names of this supervisor's running workers (never orphans).
            own_dead: this supervisor's dead workers: name -> (reason, policy).
        """
        now = time.time() if now is None else now
        entries = started_entries(conn, queues)
        chosen: list[tuple[StartedEntry, str, Fault]] = []
        foreign = [e for e in entries if e.worker_name not in own_live and e.worker_name not in own_dead]
        for entry in entries:
            if entry.worker_name in own_dead:
                reason, policy = own_dead[entry.worker_name]
                chosen.append((entry, reason, policy))
        seen_now: set[tuple[str, float]] = set()
        if foreign:
            listed = live_supervised_workers(conn)
            supervised = set().union(*listed.values()) if listed else set()
            facts = worker_facts(conn, [e.worker_name for e in foreign if e.worker_name])
            for entry in foreign:
                why = self._foreign_reason(entry, supervised, facts.get(entry.worker_name), now)
                if why is None:
                    continue
                key = (entry.composite_key, entry.expires_at)
                seen_now.add(key)
                first = self._first_seen.setdefault(key, now)
                if now - first >= self.confirm_s:
                    chosen.append((entry, why, RETRY))
        self._first_seen = {k: v for k, v in self._first_seen.items() if k in seen_now}
        return chosen

    @staticmethod
    def _foreign_reason(entry: StartedEntry, supervised: set[str], facts: WorkerFacts | None, now: float) -> str | None:
        who: str = entry.worker_name or "an unknown worker"
        if entry.worker_name and entry.worker_name in supervised:
            return None  # a live supervisor runs it; that supervisor recovers it if it dies
        expired = entry.expires_at < now
        gone = facts is None or facts.gone
        supervisor = (facts.supervisor if facts else None) or supervisor_of(entry.worker_name)
        if supervisor is not None:
            # Its supervisor is not alive (its workers die with it); check the worker stopped too.
            beat_s = facts.job_heartbeat_s if facts else None
            stale = (
                beat_s is not None
                and entry.last_heartbeat is not None
                and now - entry.last_heartbeat > STALE_HEARTBEATS * beat_s + 5
            )
            if gone or stale or expired:
                return f"worker {who} died with its supervisor {supervisor} (host down or supervisor killed)"
            return None
        if expired:
            return f"worker {who} stopped sending heartbeats and its execution expired"
        return None


@dataclass
class StrandedScanner:
    """Finds jobs stranded in a queue's intermediate list by a worker that died just after popping.

    An RQ worker on a single queue pops with BLMOVE into ``rq:queue:{name}:intermediate`` and
    registers the job as started a moment later. A worker killed in between leaves the job there;
    RQ's maintenance requeues it after more than a minute, at its next pass (up to ten minutes).
    A job that sits there, not started, on two scans at least ``grace_s`` apart is stranded.
    """

    grace_s: float = 10.0
    _first_seen: dict[tuple[str, str], float] = field(default_factory=dict)

    def scan(self, conn: redis.Redis, queues: Iterable[str], now: float | None = None) -> list[tuple[str, str]]:
        """(queue, job id) of the stranded jobs to requeue now."""
        now = time.time() if now is None else now
        queues = list(queues)
        started = {(e.queue, e.job_id) for e in started_entries(conn, queues)}
        with conn.pipeline(transaction=False) as pipe:
            for queue in queues:
                pipe.lrange(Queue(queue, connection=conn).intermediate_queue_key, 0, -1)
            listed = pipe.execute()
        seen_now: set[tuple[str, str]] = set()
        chosen = []
        for queue, ids in zip(queues, listed, strict=True):
            for raw in ids:
                key = (queue, _text(raw))
                if key in started:
                    continue
                seen_now.add(key)
                if now - self._first_seen.setdefault(key, now) >= self.grace_s:
                    chosen.append(key)
        self._first_seen = {k: v for k, v in self._first_seen.items() if k in seen_now}
        return chosen


def requeue_stranded(conn: redis.Redis, queue_name: str, job_id: str) -> bool:
    """Move a stranded job from the intermediate list back to the front of its queue, atomically.

    Nothing happens when the job left the list meanwhile, started, or is no longer queued; a job
    that already waits in its queue only loses its stray copy in the list (it is not queued twice). RQ's
    maintenance lock is taken, as RQ's own clean-up of that list runs under it.

    Returns:
        True when the job was put back.
    """
    queue = Queue(queue_name, connection=conn, serializer=contract.SERIALIZER)
    lock = _maintenance_lock(conn, queue_name)
    if lock is None:
        return False
    try:
        for _ in range(10):
            try:
                with conn.pipeline(transaction=True) as pipe:
                    pipe.watch(queue.intermediate_queue_key, queue.key, Job.key_for(job_id))
                    if pipe.lpos(queue.intermediate_queue_key, job_id) is None:
                        return False
                    if pipe.lpos(queue.key, job_id) is not None:  # already waiting: only a stray copy
                        pipe.multi()
                        pipe.lrem(queue.intermediate_queue_key, 1, job_id)
                        pipe.execute()
                        return False
                    if any(e.job_id == job_id for e in started_entries(conn, [queue_name])):
                        return False
                    try:
                        job = Job.fetch(job_id, connection=conn, serializer=contract.SERIALIZER)
                    except NoSuchJobError:
                        pipe.multi()
                        pipe.lrem(queue.intermediate_queue_key, 1, job_id)
                        pipe.execute()
                        return False
                    except Exception as exc:
                        log.warning("stranded job %s cannot be read, left as it is: %s", job_id, exc)
                        return False
                    if job.get_status(refresh=False) != JobStatus.QUEUED:
                        return False
                    pipe.multi()
                    pipe.lrem(queue.intermediate_queue_key, 1, job_id)
                    with _writes_into(job, pipe):
                        queue._enqueue_job(job, pipeline=pipe, at_front=True)
                    pipe.execute()
                    log.warning("job %s was stranded between pop and start by a dead worker; requeued", job_id)
                    return True
            except redis.WatchError:
                continue
        return False
    finally:
        conn.delete(lock)


# ----------------------------------------------------------------- acting
def recover_execution(
    conn: redis.Redis, entry: StartedEntry, reason: str, policy: Fault = RETRY, recovered_by: str = ""
) -> Recovered | None:
    """Put back (or fail) the job of one dead execution, atomically; None when nothing was left to do.

    Args:
        reason: why the worker is gone, for the job's failure text and its attempt record.
        policy: the fault: :data:`RETRY` (a crash: a counted interruption, failed at the bound) or
            :data:`REQUEUE` (a shutdown stopped it: not counted). Neither uses a retry.
        recovered_by: who recovers it (a supervisor id), for the logs and the failure text.

    Raises:
        redis.exceptions.ConnectionError: Redis is unreachable (the caller tries again later).
    """
    lock = None
    if entry.expires_at < time.time() + EXPIRY_MARGIN_S:
        lock = _maintenance_lock(conn, entry.queue)
        if lock is None:
            log.info("RQ maintenance is cleaning queue %s; job %s is left to it for now", entry.queue, entry.job_id)
            return None
    try:
        for _ in range(10):
            try:
                return _recover_once(conn, entry, reason, policy, recovered_by)
            except redis.WatchError:
                continue  # someone touched the job meanwhile: look again
        log.warning("job %s kept changing while being recovered; it is left for the next check", entry.job_id)
        return None
    finally:
        if lock is not None:
            conn.delete(lock)


def _recover_once(conn: redis.Redis, entry: StartedEntry, reason: str, policy: Fault, recovered_by: str) -> Recovered | None:
    job_key = Job.key_for(entry.job_id)
    execution_key = f"rq:execution:{entry.composite_key}"
    wip_key = StartedJobRegistry(entry.queue, connection=conn).key
    scheduled_key = ScheduledJobRegistry(entry.queue, connection=conn).key
    with conn.pipeline(transaction=True) as pipe:
        pipe.watch(job_key, execution_key, scheduled_key)
        if pipe.zscore(wip_key, entry.composite_key) is None:
            return None  # already recovered, or the job ended after all
        execution = Execution(entry.execution_id, entry.job_id, connection=conn, worker_name=entry.worker_name)
        try:
            job = Job.fetch(entry.job_id, connection=conn, serializer=contract.SERIALIZER)
            status = job.get_status(refresh=False)
        except NoSuchJobError:  # the job is gone (deleted or expired): only its entry is left
            pipe.multi()
            pipe.zrem(wip_key, entry.composite_key)
            pipe.delete(execution_key)
            pipe.execute()
            return Recovered(entry.job_id, entry.queue, "cleared", reason)
        except Exception as exc:  # a job hash this project cannot read (foreign or damaged): not ours to touch
            log.warning("job %s of dead worker %s cannot be read, left as it is: %s", entry.job_id, entry.worker_name, exc)
            return None
        # RQ's job.retry marks the job scheduled before the write that schedules it and ends the
        # execution: a worker that died in between left a job scheduled in name only.
        half_retried = status == JobStatus.SCHEDULED and pipe.zscore(scheduled_key, entry.job_id) is None
        # A worker that died before its work horse started leaves an entry; the job may meanwhile have
        # been put back (stranded) and started by another worker, whose horse names itself in the job.
        runs_elsewhere = status == JobStatus.STARTED and bool(job.worker_name) and job.worker_name != entry.worker_name
        if (status != JobStatus.STARTED and not half_retried) or runs_elsewhere:
            pipe.multi()
            execution.delete(job=job, pipeline=pipe)  # a leftover entry of a job that ended or moved on
            pipe.execute()
            return Recovered(entry.job_id, entry.queue, "cleared", reason)

        job.ended_at = rq_now()
        duration = (job.ended_at - job.started_at).total_seconds() if job.started_at else 0.0
        queue = Queue(entry.queue, connection=conn, serializer=contract.SERIALIZER)
        noted = note_interruption(job, policy, reason, entry.worker_name)
        action = "failed" if noted.give_up else "requeued"
        failure_text = f"Work-horse terminated unexpectedly: {noted.failure_text}. Recovered by supervisor {recovered_by or '?'}."

        pipe.multi()
        execution.delete(job=job, pipeline=pipe)
        metrics_store.record_job(pipe, entry.queue, ok=False, duration_s=duration, will_retry=action != "failed")
        if action == "requeued":
            job.started_at = None
            job.ended_at = None
            pipe.zrem(scheduled_key, entry.job_id)
            with _writes_into(job, pipe):
                queue._enqueue_job(job, pipeline=pipe, at_front=True)
        else:
            job.save(pipeline=pipe)  # the attempt record in meta, with the rest of the job
            record_job_failure(job, failure_text, pipe)
        pipe.execute()

    if action == "failed":
        _after_final_failure(conn, queue, job)
    else:
        release_slot(job)
    log.warning("job %s of dead worker %s %s: %s", entry.job_id, entry.worker_name, action, reason)
    return Recovered(entry.job_id, entry.queue, action, reason)


@contextlib.contextmanager
def _writes_into(job: Job, pipe) -> Iterator[None]:
    """Make RQ's job methods write through ``pipe``.

    ``Job.retry`` sets the status with the job's own connection, outside any pipeline; inside our
    MULTI that write would land before EXEC and void our own WATCH. Pointing the job at the
    pipeline for the call keeps every write in the transaction.
    """
    saved = job.connection
    job.connection = pipe
    try:
        yield
    finally:
        job.connection = saved


def _after_final_failure(conn: redis.Redis, queue: Queue, job: Job) -> None:
    """What RQ's worker does after a failure commits: dependents, rate-limit slot; and our retention."""
    for step in (
        lambda: queue.enqueue_dependents(job),
        lambda: release_slot(job),
        lambda: enforce_retention(conn, queue.name, job.id, False, float(job.failure_ttl or contract.FAILED_TTL_S)),
    ):
        try:
            step()
        except Exception:
            log.exception("follow-up of failed job %s did not complete", job.id)


def _maintenance_lock(conn: redis.Redis, queue_name: str) -> str | None:
    """Take RQ's registry-cleaning lock of a queue for a short while; its key, or None when held.

    RQ's maintenance takes the lock for :data:`RQ_MAINTENANCE_LOCK_S` and releases it after a pass
    of a few seconds; a worker killed (or cut off from Redis) during its pass leaves it for
    fifteen minutes. A lock of RQ's taken more than :data:`ABANDONED_LOCK_S` ago is such a
    leftover and is taken over.
    """
    key = Queue(queue_name, connection=conn).registry_cleaning_key
    if conn.set(key, 1, nx=True, ex=MAINTENANCE_LOCK_S):
        return key
    left_s = conn.ttl(key)
    if left_s > MAINTENANCE_LOCK_S and RQ_MAINTENANCE_LOCK_S - left_s > ABANDONED_LOCK_S:
        log.warning("RQ's maintenance lock of queue %s was left by a worker that died during its pass; taken over", queue_name)
        conn.set(key, 1, ex=MAINTENANCE_LOCK_S)
        return key
    return None
