"""Everything the console changes in Redis: enqueue, retry (and its undo), promote, cancel, stop,
delete, empty, pause queues, scale, stop and restart supervisors, stop workers.

Each action keeps RQ's key layout and meaning. Where RQ has the operation (``Job.cancel``,
``Job.delete``, ``send_stop_job_command``, ``BaseRegistry.requeue`` for rate-limited and scheduled
jobs) it is used, with a synchronous client in a worker thread (``asyncio.to_thread``) so that the
event loop never waits. Retries go through :mod:`bulk_retry`'s atomic script, which does RQ's requeue
per job, requeues only whole jobs and cannot push a job twice; emptying a state deletes its jobs in
chunks with one script per chunk, removing the same keys as RQ's ``Queue.empty`` and ``Job.delete``.

Which action applies to which state is :mod:`policy`'s table; the refusals below are its reasons.
A read-only profile is enforced here, before any I/O: every mutation raises :class:`ReadOnlyError`.
Ids are stripped and de-duplicated once, by :func:`_valid_ids`. Problems with single jobs (gone,
wrong state, damaged) are reported in :attr:`ActionResult.skipped` with a reason; the rest of the
batch still runs.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import zlib
from collections.abc import Callable, Sequence

import redis
import redis.asyncio as aredis
from redis.exceptions import ResponseError, WatchError
from rq.command import PUBSUB_CHANNEL_TEMPLATE, send_shutdown_command, send_stop_job_command
from rq.exceptions import InvalidJobOperation, NoSuchJobError
from rq.executions import ExecutionRegistry
from rq.job import Job, JobStatus, validate_job_id
from rq.queue import Queue
from rq.registry import (
    CanceledJobRegistry,
    DeferredJobRegistry,
    FailedJobRegistry,
    FinishedJobRegistry,
    ReadyJobRegistry,
    ScheduledJobRegistry,
    StartedJobRegistry,
)
from rq.results import Result

from thesis_console.core import (
    contract,
    policy,
    queue_pause,
    rq_keys,
    supervisor_control,
    supervisor_protocol,
)
from thesis_console.core.bulk_retry import (
    DEFAULT_BATCH,
    NOT_REACHED,
    ChunkOutcome,
    Requeuer,
    Skip,
    explain_skip,
    explain_undo_skip,
    not_reached,
)
from thesis_console.core.policy import JobAction, QueueAction
from thesis_console.core.producer import enqueue_thesis
from thesis_console.core.queue_names import check_queue_name
from thesis_console.core.queue_pause import QueuePause
from thesis_console.core.supervisor_protocol import SupervisorRecord
from thesis_console.core.thesis_request import ThesisRequest
from thesis_console.core.types import ActionResult, CoreError, JobState, RetriedJob

log = logging.getLogger(__name__)

WATCH_ATTEMPTS = 5
EMPTY_CHUNK = 1000
MATCH_CHUNK = 200
"""Jobs per step of :meth:`QueueActions.act_on_matches` (progress and Cancel are checked between steps)."""
MATCH_ACTIONS = (JobAction.RETRY, JobAction.CANCEL, JobAction.DELETE)
"""What can be done to all the matches of a search at once."""

Expected = tuple[str, JobState]
"""Where a job must still be (queue, state) for an action on a search's matches to touch it."""

_REGISTRY_TEMPLATES: dict[JobState, str] = {
    JobState.SCHEDULED: ScheduledJobRegistry.key_template,
    JobState.DEFERRED: DeferredJobRegistry.key_template,
    JobState.COMPLETED: FinishedJobRegistry.key_template,
    JobState.FAILED: FailedJobRegistry.key_template,
    JobState.CANCELED: CanceledJobRegistry.key_template,
}
_PURGE_TEMPLATES = (*_REGISTRY_TEMPLATES.values(), ReadyJobRegistry.key_template)

# KEYS[1] the queue list or registry sorted set; ARGV[1] 'list' | 'zset'; ARGV[2] ids per run;
# ARGV[3] job key prefix; ARGV[4] results prefix; ARGV[5] executions prefix; ARGV[6] execution prefix.
# Takes the first ids off the structure and deletes each job's keys, as Queue.empty (job, dependents,
# results) and Job.delete (plus dependencies and executions) do. One run is atomic.
_EMPTY_LUA = """
local n = tonumber(ARGV[2])
local ids
if ARGV[1] == 'list' then
  ids = redis.call('LRANGE', KEYS[1], 0, n - 1)
  if #ids > 0 then redis.call('LTRIM', KEYS[1], #ids, -1) end
else
  ids = redis.call('ZRANGE', KEYS[1], 0, n - 1)
  if #ids > 0 then redis.call('ZREMRANGEBYRANK', KEYS[1], 0, #ids - 1) end
end
for _, id in ipairs(ids) do
  local job = ARGV[3] .. id
  local executions = ARGV[5] .. id
  for _, execution in ipairs(redis.call('ZRANGE', executions, 0, -1)) do
    redis.call('DEL', ARGV[6] .. id .. ':' .. execution)
  end
  redis.call('DEL', job, job .. ':dependents', job .. ':dependencies', ARGV[4] .. id, executions)
end
return ids
"""


class QueueActions:
    """The mutations of one connection.

    Args:
        client: the session's asyncio client (``decode_responses=False``).
        read_only: refuse every mutation (the profile's setting).
        sync_factory: makes a synchronous client on the same server, for RQ's own (blocking) calls;
            called once, on first need.
    """

    def __init__(
        self, client: aredis.Redis, *, read_only: bool, sync_factory: Callable[[], redis.Redis]
    ) -> None:
        self.client = client
        self.read_only = read_only
        self._sync_factory = sync_factory
        self._sync: redis.Redis | None = None
        self._sync_lock = threading.Lock()  # RQ calls run in worker threads; make one client, not two
        self._requeuer = Requeuer(client)
        self._empty_script = client.register_script(_EMPTY_LUA)

    # ------------------------------------------------------------------ helpers
    def _refuse_if_read_only(self, action: str) -> None:
        policy.check_writable(self.read_only, action)

    def _sync_client(self) -> redis.Redis:
        with self._sync_lock:
            if self._sync is None:
                self._sync = self._sync_factory()
            return self._sync

    async def _per_job(
        self, action: str, job_ids: Sequence[str], act_one: Callable[[redis.Redis, str], str | None]
    ) -> ActionResult:
        """Refuse on a read-only profile, then run ``act_one(conn, id)`` per valid id in a thread
        (RQ's calls block); None means done, a string is the reason the job was skipped."""
        self._refuse_if_read_only(action)
        ids, skipped = _valid_ids(job_ids)

        def run_all() -> tuple[list[str], dict[str, str]]:
            conn = self._sync_client()
            return _each(ids, lambda job_id: act_one(conn, job_id))

        done, problems = await asyncio.to_thread(run_all)
        skipped.update(problems)
        return ActionResult(action, tuple(done), skipped)

    async def close(self) -> None:
        """Close the synchronous client, if one was made."""
        sync, self._sync = self._sync, None
        if sync is not None:
            await asyncio.to_thread(sync.close)

    # ------------------------------------------------------------------ enqueue
    async def enqueue(
        self, request: ThesisRequest, *, queue: str | None = None, at_front: bool = False, delay_s: float = 0.0
    ) -> str:
        """Queue one thesis job through :func:`producer.enqueue_thesis`; returns its id."""
        self._refuse_if_read_only("enqueue")
        if delay_s < 0:
            raise CoreError(f"delay: must not be negative, got {delay_s}")
        return await asyncio.to_thread(
            enqueue_thesis, self._sync_client(), request, queue_name=queue, at_front=at_front, delay_s=delay_s
        )

    # ------------------------------------------------------------------ retry
    async def retry(self, job_ids: Sequence[str]) -> ActionResult:
        """Put failed, stopped and canceled jobs back in their queues (RQ's requeue, at the back).

        Jobs that are not whole RQ jobs, already queued, in another state, or retried meanwhile by
        someone else are skipped with the reason. The result's ``undo`` is what :meth:`undo_retry`
        needs to put the requeued jobs back while no worker has taken them.
        """
        self._refuse_if_read_only(JobAction.RETRY)
        ids, skipped = _valid_ids(job_ids)
        return await self._retry_result(await self._requeuer.requeue_many(ids), skipped)

    async def retry_all_failed(
        self,
        queue: str,
        *,
        progress: Callable[[int, int], None] | None = None,
        cancel: asyncio.Event | None = None,
        batch: int = DEFAULT_BATCH,
    ) -> ActionResult:
        """Requeue every failed job of ``queue``, ``batch`` jobs per atomic script; skips as :meth:`retry`.

        Args:
            progress: called with (done, total) before the first chunk and after each one.
            cancel: set it to stop between chunks; the jobs not reached stay in the failed registry
                and are listed in ``skipped`` as not retried.
            batch: jobs per script run (at most 5,000).
        """
        self._refuse_if_read_only("retry all failed")
        try:
            outcome, untouched = await self._requeuer.requeue_all_failed(
                queue, progress=progress, cancel=cancel, batch=batch
            )
        except ValueError as exc:
            raise CoreError(str(exc)) from None
        outcome.undo.clear()  # the window offers no undo for a bulk retry
        return await self._retry_result(outcome, dict.fromkeys(untouched, NOT_REACHED))

    async def act_on_matches(
        self,
        action: JobAction,
        queue: str,
        state: JobState,
        job_ids: Sequence[str],
        *,
        progress: Callable[[int, int], None] | None = None,
        cancel: asyncio.Event | None = None,
        batch: int = MATCH_CHUNK,
    ) -> ActionResult:
        """Retry, cancel or delete jobs that a search found in ``state`` of ``queue``, ``batch`` at a time.

        A job is acted on only while it is still in that state of that queue, checked atomically with
        the change (inside the requeue script, or a WATCH on the job's hash): a job that changed state
        since it matched (a worker took it, someone retried or deleted it) is skipped with the reason,
        like every other skip of :meth:`retry`, :meth:`cancel` and :meth:`delete`.

        Args:
            progress: called with (jobs handled, total) before the first step and after each one.
            cancel: set it to stop between steps; the jobs not reached are listed in ``skipped``
                (:func:`bulk_retry.not_reached`) and left as they are.

        Raises:
            CoreError: the action is not one of :data:`MATCH_ACTIONS`, or does not apply to ``state``.
        """
        self._refuse_if_read_only(f"{action} matches")
        action, state = JobAction(action), _state(state)
        if action not in MATCH_ACTIONS:
            raise CoreError(f"{action.value} cannot be applied to search matches (only retry, cancel or delete)")
        verdict = policy.verdict(action, state)
        if not verdict:
            raise CoreError(f"cannot {action.value} {state.value} jobs: {verdict.reason}")
        check_queue_name(queue)
        if not isinstance(batch, int) or batch < 1:
            raise CoreError(f"batch: must be a positive whole number, got {batch!r}")
        ids, skipped = _valid_ids(job_ids)
        done: list[str] = []
        expected: Expected = (queue, state)
        if progress is not None:
            progress(0, len(ids))
        for start in range(0, len(ids), batch):
            if cancel is not None and cancel.is_set():
                skipped.update(dict.fromkeys(ids[start:], not_reached(action)))
                break
            chunk = ids[start : start + batch]
            if action is JobAction.RETRY:
                part = await self._retry_result(
                    await self._requeuer.requeue(chunk, only_queue=queue, only_state=state), {}
                )
            elif action is JobAction.CANCEL:
                part = await self._per_job(action, chunk, lambda conn, i: self._cancel_one(conn, i, expected))
            else:
                part = await self._per_job(action, chunk, lambda conn, i: _delete_one(conn, i, expected))
            done.extend(part.done)
            skipped.update(part.skipped)
            if progress is not None:
                progress(start + len(chunk), len(ids))
        return ActionResult(action, tuple(done), skipped)

    async def _retry_result(self, outcome: ChunkOutcome, skipped: dict[str, str]) -> ActionResult:
        """The report of a retry; rate-limited jobs, which the script leaves alone, go through RQ here."""
        done = list(outcome.done)
        rate_limited = [i for i, (code, _) in outcome.skipped.items() if code is Skip.RATE_LIMITED]
        for job_id, (code, detail) in outcome.skipped.items():
            if code is not Skip.RATE_LIMITED:
                skipped[job_id] = explain_skip(code, detail)
        if rate_limited:
            more, problems = await asyncio.to_thread(self._requeue_through_rq, rate_limited)
            done.extend(more)
            skipped.update(problems)
        return ActionResult(JobAction.RETRY, tuple(done), skipped, undo=tuple(outcome.undo))

    def _requeue_through_rq(self, job_ids: list[str]) -> tuple[list[str], dict[str, str]]:
        """RQ's own requeue, for rate-limited jobs (it accounts for their concurrency slots)."""
        conn = self._sync_client()
        done: list[str] = []
        skipped: dict[str, str] = {}
        for job_id in job_ids:
            try:
                job = Job.fetch(job_id, connection=conn, serializer=contract.SERIALIZER)
                state = policy.state_of_status(job.get_status(refresh=False))
                registry_class = CanceledJobRegistry if state is JobState.CANCELED else FailedJobRegistry
                registry = registry_class(job.origin, connection=conn, serializer=contract.SERIALIZER)
                registry.requeue(job)
                done.append(job_id)
            except NoSuchJobError:
                skipped[job_id] = explain_skip(Skip.MISSING, "")
            except InvalidJobOperation:
                skipped[job_id] = explain_skip(Skip.GONE, "its registry")
        return done, skipped

    async def undo_retry(self, retried: Sequence[RetriedJob]) -> ActionResult:
        """Undo a retry (``ActionResult.undo`` of :meth:`retry`): each job that no worker has taken yet
        leaves its queue and gets back the status, registry, times and traceback it had, one atomic
        script per chunk. A job already started, or changed since, is left alone and reported."""
        self._refuse_if_read_only("undo retry")
        outcome = await self._requeuer.undo(retried)
        skipped = {job_id: explain_undo_skip(code, detail) for job_id, (code, detail) in outcome.skipped.items()}
        return ActionResult("undo retry", tuple(outcome.done), skipped)

    # ------------------------------------------------------------------ promote
    async def promote(self, job_ids: Sequence[str]) -> ActionResult:
        """Enqueue scheduled jobs now instead of at their time: RQ's requeue out of the scheduled
        registry, at the back of the queue (a job the scheduler moved meanwhile is skipped)."""
        return await self._per_job(JobAction.PROMOTE, job_ids, _promote_one)

    # ------------------------------------------------------------------ cancel
    async def cancel(self, job_ids: Sequence[str]) -> ActionResult:
        """Cancel waiting, scheduled or deferred jobs: RQ's ``Job.cancel`` (status canceled, out of the
        queue or registry, into the canceled registry). Running jobs need :meth:`stop`."""
        return await self._per_job(JobAction.CANCEL, job_ids, self._cancel_one)

    @staticmethod
    def _cancel_one(conn: redis.Redis, job_id: str, expected: Expected | None = None) -> str | None:
        """Cancel one job inside a WATCH on its hash, so that a worker taking it meanwhile wins cleanly;
        with ``expected``, only while it is still in that queue and state."""
        return _change_watched(conn, job_id, expected, JobAction.CANCEL, "no such job")

    # ------------------------------------------------------------------ stop
    async def stop(self, job_ids: Sequence[str]) -> ActionResult:
        """Stop running jobs: RQ's stop-job command to the worker that runs each one, on any host.

        The worker kills the work horse and marks the job ``stopped`` (it lands in the failed registry,
        where :meth:`retry` can pick it up).
        """
        return await self._per_job(JobAction.STOP, job_ids, _stop_one)

    # ------------------------------------------------------------------ delete
    async def delete(self, job_ids: Sequence[str]) -> ActionResult:
        """Delete jobs: RQ's ``Job.delete`` (out of the queue and every registry, hash, results and
        executions deleted). A job that a live worker is running is refused (stop it first); a
        "started" job whose worker is gone is a leftover and is deleted. An id whose hash is gone,
        half-written or unreadable is still purged from every queue and registry that lists it."""
        return await self._per_job(JobAction.DELETE, job_ids, _delete_one)

    # ------------------------------------------------------------------ empty
    async def empty(self, queue: str, state: JobState) -> ActionResult:
        """Delete every job in one state of ``queue`` (waiting, scheduled, deferred, completed, failed
        or canceled), :data:`EMPTY_CHUNK` jobs per atomic script.

        Jobs that arrive while it runs are left alone: it stops after as many jobs as were there at
        the start.

        Raises:
            CoreError: ``state`` is ACTIVE (running jobs are stopped, not emptied) or unknown.
        """
        self._refuse_if_read_only("empty")
        state = _state(state)
        verdict = policy.empty_verdict(state)
        if not verdict:
            raise CoreError(f"{state.value} jobs cannot be emptied: {verdict.reason}")
        if state == JobState.WAITING:
            key, kind = Queue.redis_queue_namespace_prefix + queue, "list"
            total = int(await self.client.llen(key))
        else:
            key, kind = _REGISTRY_TEMPLATES[state].format(queue), "zset"
            total = int(await self.client.zcard(key))
        args = [
            kind,
            0,
            Job.redis_job_namespace_prefix,
            Result.get_key(""),
            ExecutionRegistry.key_template.format(""),
            _execution_prefix(),
        ]
        deleted: list[str] = []
        while len(deleted) < total:
            args[1] = min(EMPTY_CHUNK, total - len(deleted))
            ids = await self._empty_script(keys=[key], args=args)
            if not ids:
                break
            deleted.extend(_text(i) or "" for i in ids)
        return ActionResult("empty", tuple(deleted))

    # ------------------------------------------------------------------ supervisors
    async def resize_supervisor(self, supervisor_id: str, concurrency: int) -> None:
        """Ask a ``thesis-worker`` supervisor (on any host) to run ``concurrency`` workers.

        Raises:
            CoreError: the concurrency is out of range, or no such supervisor is alive.
        """
        self._refuse_if_read_only("resize")
        try:
            message = supervisor_protocol.resize_message(concurrency)
        except ValueError as exc:
            raise CoreError(str(exc)) from None
        await self._send_control(supervisor_id, message)

    async def autoscale_supervisor(self, supervisor_id: str, minimum: int, maximum: int) -> None:
        """Ask a supervisor to scale itself between ``minimum`` and ``maximum`` workers.

        Raises:
            CoreError: the bounds are wrong, or no such supervisor is alive.
        """
        self._refuse_if_read_only("autoscale")
        try:
            message = supervisor_protocol.autoscale_message(minimum, maximum)
        except (TypeError, ValueError) as exc:
            raise CoreError(str(exc)) from None
        await self._send_control(supervisor_id, message)

    async def stop_supervisor(self, supervisor_id: str, *, hard: bool = False) -> SupervisorRecord:
        """Ask a supervisor (on any host) to stop: warm (its workers finish their jobs within its
        grace period) or ``hard`` (at once; running jobs go back to their queue). Follow with
        :meth:`wait_supervisor_stopped`; when that runs out, a hard stop can be ordered.

        Returns:
            its record when the order was sent (``busy``: jobs it was running).

        Raises:
            CoreError: no such supervisor is alive.
        """
        self._refuse_if_read_only("stop supervisor")
        return await self._send_control(supervisor_id, supervisor_protocol.stop_message(hard=hard))

    async def wait_supervisor_stopped(self, supervisor_id: str, timeout_s: float) -> supervisor_control.StopProgress:
        """Wait (only reading) up to ``timeout_s`` for a supervisor to be gone."""
        return await supervisor_control.wait_stopped(self.client, supervisor_id, timeout_s)

    async def restart_supervisor(self, supervisor_id: str) -> SupervisorRecord:
        """Ask a supervisor to replace every worker, each after its current job (new code, fresh memory).

        Raises:
            CoreError: no such supervisor is alive.
        """
        self._refuse_if_read_only("restart supervisor")
        return await self._send_control(supervisor_id, supervisor_protocol.restart_message())

    async def stop_worker(self, worker_name: str) -> None:
        """Stop one RQ worker (on any host) with RQ's shutdown command: it finishes its current job
        and exits. A supervisor starts a fresh worker in its place; a plain ``rq worker`` is gone.

        Raises:
            CoreError: no live worker has that name.
        """
        self._refuse_if_read_only("stop worker")
        key = f"{rq_keys.WORKER_KEY_PREFIX}{worker_name}"
        if not await self.client.exists(key):
            raise CoreError(f"worker {worker_name} is not running (it has no worker hash)")
        await asyncio.to_thread(send_shutdown_command, self._sync_client(), worker_name)

    async def _send_control(self, supervisor_id: str, message: dict) -> SupervisorRecord:
        return await supervisor_control.send_control(self.client, supervisor_id, message)

    # ------------------------------------------------------------------ queues
    async def pause_queue(self, queue: str, by: str | None = None) -> QueuePause:
        """Pause ``queue``: supervised workers on any host take no new job from it (within a second);
        running jobs finish and enqueueing still works. Stored in Redis, so it outlives restarts.

        Returns:
            the pause in effect (an earlier one, with its author and time, when already paused).

        Raises:
            CoreError: the queue name is not valid.
        """
        self._refuse_if_read_only(QueueAction.PAUSE)
        name = check_queue_name(queue)
        pause = queue_pause.new_pause(name, by)
        await self.client.hsetnx(queue_pause.PAUSED_KEY, name, pause.to_json())
        current = queue_pause.parse_pauses(await self.client.hgetall(queue_pause.PAUSED_KEY)).get(name)
        return current or pause

    async def resume_queue(self, queue: str) -> bool:
        """Resume a paused queue; False when it was not paused.

        Raises:
            CoreError: the queue name is not valid.
        """
        self._refuse_if_read_only(QueueAction.RESUME)
        return bool(await self.client.hdel(queue_pause.PAUSED_KEY, check_queue_name(queue)))


_DAMAGED = (ResponseError, ValueError, TypeError, KeyError, UnicodeDecodeError, zlib.error)
"""What RQ or Redis raise for one job whose key is damaged or foreign (WRONGTYPE, bad dates, ...)."""


def _each(job_ids: list[str], act: Callable[[str], str | None]) -> tuple[list[str], dict[str, str]]:
    """Run ``act`` per id (None = done, else the skip reason); a damaged job is skipped, not fatal.

    Connection errors still end the batch: every later job would fail the same way.
    """
    done: list[str] = []
    skipped: dict[str, str] = {}
    for job_id in job_ids:
        try:
            reason = act(job_id)
        except _DAMAGED as exc:
            reason = f"the job is damaged or not an RQ job: {_one_line(exc)}"
        if reason is None:
            done.append(job_id)
        else:
            skipped[job_id] = reason
    return done, skipped


def _stop_one(conn: redis.Redis, job_id: str) -> str | None:
    status, worker = (_text(v) for v in conn.hmget(Job.key_for(job_id), ["status", "worker_name"]))
    if status is None and worker is None:
        return "no such job"
    verdict = policy.verdict_for_status(JobAction.STOP, status)
    if not verdict:
        return verdict.reason
    if not worker:
        return "running, but no worker name is recorded for it"
    if not _worker_listening(conn, worker):
        return f"worker {worker} is not listening for commands (it is gone?)"
    try:
        send_stop_job_command(conn, job_id, serializer=contract.SERIALIZER)
    except (InvalidJobOperation, NoSuchJobError) as exc:
        return f"RQ refused: {exc or 'the job is not running'}"
    return None


def _promote_one(conn: redis.Redis, job_id: str) -> str | None:
    status = _text(conn.hget(Job.key_for(job_id), "status"))
    if status is None and not conn.exists(Job.key_for(job_id)):
        return "no such job"
    verdict = policy.verdict_for_status(JobAction.PROMOTE, status)
    if not verdict:
        return verdict.reason
    job = Job.fetch(job_id, connection=conn, serializer=contract.SERIALIZER)
    try:
        ScheduledJobRegistry(job.origin, connection=conn, serializer=contract.SERIALIZER).requeue(job)
    except InvalidJobOperation:
        return "changed meanwhile: no longer in the scheduled registry (the scheduler enqueued it?)"
    return None


def _moved(status: str | None, origin: str | None, expected: Expected | None) -> str | None:
    """Why a job with this ``status`` and ``origin`` is no longer where ``expected`` says; None if it is."""
    if expected is None:
        return None
    queue, state = expected
    now = policy.state_of_status(status)
    if now is not state:
        return f"changed since it matched (it is {now.value if now else status or 'without a status'} now)"
    if origin != queue:
        return f"changed since it matched (it belongs to the queue {origin or '(none)'} now)"
    return None


def _delete_one(conn: redis.Redis, job_id: str, expected: Expected | None = None) -> str | None:
    if expected is not None:
        return _delete_if_still(conn, job_id, expected)
    try:
        status, worker = (_text(v) for v in conn.hmget(Job.key_for(job_id), ["status", "worker_name"]))
    except ResponseError:  # WRONGTYPE: another application's key under RQ's name; take the id out, keep the key
        return None if _purge_id(conn, job_id, keep_job_key=True) else "the job key is not a hash (not an RQ job)"
    # Refuse only a job that a live worker is running; a "started" job whose worker is gone is a leftover.
    if status == JobStatus.STARTED.value and worker and _worker_listening(conn, worker):
        return policy.verdict(JobAction.DELETE, JobState.ACTIVE).reason
    try:
        job = Job.fetch(job_id, connection=conn, serializer=contract.SERIALIZER)
    except (NoSuchJobError, *_DAMAGED):
        # No hash, or one RQ cannot read (half-written, foreign): remove the id and the keys directly.
        return None if _purge_id(conn, job_id) else "no such job"
    job.delete()
    return None


def _delete_if_still(conn: redis.Redis, job_id: str, expected: Expected) -> str | None:
    """RQ's ``Job.delete`` inside a WATCH on the job's hash, only while it is in ``expected``'s queue and
    state: a job that a worker takes, or someone retries, meanwhile is left alone and reported."""
    return _change_watched(conn, job_id, expected, JobAction.DELETE, explain_skip(Skip.MISSING, ""))


_WATCHED_CHANGES = {JobAction.CANCEL: ("cancel", "cancelling"), JobAction.DELETE: ("delete", "deleting")}
"""The RQ ``Job`` method of each action :func:`_change_watched` makes, and its word in a message."""


def _change_watched(
    conn: redis.Redis, job_id: str, expected: Expected | None, action: JobAction, missing: str
) -> str | None:
    """RQ's ``Job.cancel`` or ``Job.delete`` inside a WATCH on the job's hash, so that a worker taking it
    meanwhile wins cleanly; with ``expected``, only while it is still in that queue and state. Returns
    why it was skipped (``missing`` when there is no such job), or None."""
    method, doing = _WATCHED_CHANGES[action]
    key = Job.key_for(job_id)
    for _ in range(WATCH_ATTEMPTS):
        with conn.pipeline() as pipe:
            try:
                pipe.watch(key)
                status, origin = (_text(v) for v in pipe.hmget(key, ["status", "origin"]))
                if status is None and not pipe.exists(key):
                    return missing
                moved = _moved(status, origin, expected)
                if moved:
                    return moved
                verdict = policy.verdict_for_status(action, status)
                if not verdict:
                    return verdict.reason
                job = Job.fetch(job_id, connection=conn, serializer=contract.SERIALIZER)
                if job.has_rate_limit:
                    # RQ forbids a caller pipeline for a rate-limited job (its slot is released only without one)
                    pipe.unwatch()
                    getattr(job, method)()
                    return None
                pipe.multi()
                getattr(job, method)(pipeline=pipe)
                pipe.execute()
                return None
            except WatchError:
                continue
            except NoSuchJobError:
                return missing
            except InvalidJobOperation as exc:
                return f"RQ refused: {exc}"
    return f"the job kept changing while {doing} it; try again"


def _worker_listening(conn: redis.Redis, worker: str) -> bool:
    """True when a worker subscribes to its command channel (it is alive and can take commands)."""
    listeners = dict(conn.pubsub_numsub(PUBSUB_CHANNEL_TEMPLATE % worker))
    return any(int(n) for n in listeners.values())


def _purge_id(conn: redis.Redis, job_id: str, keep_job_key: bool = False) -> bool:
    """Remove ``job_id`` from every queue and registry of every known queue and delete its keys.

    For ids RQ cannot load (hash missing, half-written or not a hash). True when anything was removed.

    Args:
        keep_job_key: leave ``rq:job:{id}`` alone (it is another application's key, not a hash).
    """
    queue_keys = [_text(k) or "" for k in conn.smembers(Queue.redis_queues_keys)]
    prefix = Queue.redis_queue_namespace_prefix
    names = [k[len(prefix) :] for k in queue_keys if k.startswith(prefix)]
    with conn.pipeline(transaction=False) as pipe:
        for name in names:
            pipe.lrem(prefix + name, 0, job_id)
            for template in _PURGE_TEMPLATES:
                pipe.zrem(template.format(name), job_id)
        # Keys of other applications under RQ's names answer WRONGTYPE: not ours to touch, so ignore.
        removed = sum(n for n in pipe.execute(raise_on_error=False) if isinstance(n, int))
    for name in names:  # started entries are "job_id:execution_id"
        started = StartedJobRegistry.key_template.format(name)
        with contextlib.suppress(ResponseError):
            members = [member for member, _ in conn.zscan_iter(started, match=f"{job_id}:*")]
            if members:
                removed += int(conn.zrem(started, *members))
    keys = [] if keep_job_key else [Job.key_for(job_id)]
    removed += int(
        conn.delete(
            *keys,
            Job.key_for(job_id) + ":dependents",
            Job.key_for(job_id) + ":dependencies",
            Result.get_key(job_id),
            ExecutionRegistry.key_template.format(job_id),
        )
    )
    return removed > 0


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text if len(text) <= 160 else text[:159] + "…"


def _execution_prefix() -> str:
    from rq.defaults import RQ_KEY_PREFIX

    return f"{RQ_KEY_PREFIX}:execution:"


def _valid_ids(job_ids: Sequence[str]) -> tuple[list[str], dict[str, str]]:
    """The distinct, well-formed ids in order, and a skip reason for each malformed one.

    The one place where the ids of an action are de-duplicated: the requeue script's report counts
    each id it was sent once.
    """
    if isinstance(job_ids, str):
        job_ids = [job_ids]
    good: dict[str, None] = {}
    bad: dict[str, str] = {}
    for raw in job_ids:
        job_id = str(raw).strip()
        try:
            validate_job_id(job_id)
        except (TypeError, ValueError):
            bad[str(raw)] = "not a job id (letters, digits, '-' and '_' only)"
            continue
        good[job_id] = None
    return list(good), bad


def _state(state: JobState | str) -> JobState:
    try:
        return JobState(state)
    except ValueError:
        known = ", ".join(s.value for s in JobState)
        raise CoreError(f"unknown state {state!r}; states are {known}") from None


def _text(value: bytes | str | None) -> str | None:
    if value is None:
        return None
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)
