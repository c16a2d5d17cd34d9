"""Actions on BullMQ queues through BullMQ's own Lua scripts (the pinned Python ``bullmq`` package).

Nothing here re-implements a script: retry is ``reprocessJob`` (with fresh attempts, so a retried job
gets its whole back-off schedule again), retry all ``moveJobsToWait`` (what ``Queue.retryJobs`` runs),
promote ``promote``, remove ``removeJob``, clean ``cleanJobsInSet``, pause and resume ``pause``, enqueue
``addStandardJob``/``addDelayedJob``. Which action applies to which state is
:func:`thesis_console.core.policy.verdict` with ``Backend.BULLMQ``; a read-only profile refuses all.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

import redis.asyncio as aioredis
from bullmq import Job, Queue

from thesis_console.core import policy
from thesis_console.core.bulk_retry import DEFAULT_BATCH, MAX_BATCH, NOT_REACHED
from thesis_console.core.bullmq.job_defaults import BullJobDefaults
from thesis_console.core.bullmq.reader import version_problem
from thesis_console.core.policy import JobAction, QueueAction, verdict
from thesis_console.core.queue_pause import QueuePause, new_pause
from thesis_console.core.thesis_request import ThesisRequest
from thesis_console.core.types import ActionResult, Backend, CoreError, JobState, ReadOnlyError

log = logging.getLogger(__name__)

BULL_STATES: dict[str, JobState] = {
    "waiting": JobState.WAITING,
    "paused": JobState.WAITING,
    "prioritized": JobState.WAITING,
    "active": JobState.ACTIVE,
    "delayed": JobState.SCHEDULED,
    "waiting-children": JobState.DEFERRED,
    "completed": JobState.COMPLETED,
    "failed": JobState.FAILED,
}
"""BullMQ's ``getState`` answers as the console's states."""

CLEANED_SETS: dict[JobState, tuple[str, ...]] = {
    JobState.COMPLETED: ("completed",),
    JobState.FAILED: ("failed",),
    JobState.SCHEDULED: ("delayed",),
    JobState.WAITING: ("wait", "paused", "prioritized"),
}
"""The structures ``cleanJobsInSet`` empties for each state the policy lets be emptied."""

FRESH_ATTEMPT_FIELDS = ("atm", "ats")
"""attemptsMade and attemptsStarted: what ``reprocessJob`` deletes for ``resetAttemptsMade`` and
``resetAttemptsStarted``, so that a retried job gets its whole number of attempts and back-off again."""

_FORGET_ATTEMPTS_LUA = """
for _, key in ipairs(KEYS) do redis.call('HDEL', key, unpack(ARGV)) end
return #KEYS
"""
# KEYS: job hashes; ARGV: FRESH_ATTEMPT_FIELDS. The HDEL of reprocessJob's resets, for many jobs in
# one command (a thousand HDELs in the MULTI cost three times the move itself).


def text_client(client: aioredis.Redis) -> aioredis.Redis:
    """A client on the same server and credentials as ``client`` that decodes replies, as bullmq needs."""
    pool = client.connection_pool
    kwargs = {**pool.connection_kwargs, "decode_responses": True}
    return aioredis.Redis(connection_pool=aioredis.ConnectionPool(connection_class=pool.connection_class, **kwargs))


class BullActions:
    """Changes BullMQ queues under ``prefix`` on the client's Redis.

    Args:
        client: the session's client (``decode_responses=False``); a decoding twin is made from it.
        read_only: refuse every action (the profile's setting).
    """

    def __init__(self, client: aioredis.Redis, prefix: str, *, read_only: bool) -> None:
        self.read_only = read_only
        self.prefix = prefix
        self._client = text_client(client)
        self._queues: dict[str, Queue] = {}
        self._forget_attempts = self._client.register_script(_FORGET_ATTEMPTS_LUA)

    async def close(self) -> None:
        await self._client.aclose(close_connection_pool=True)

    async def _queue(self, name: str, action: str) -> Queue:
        policy.check_writable(self.read_only, action)
        problem = version_problem(await self._client.hget(f"{self.prefix}:{name}:meta", "version"))
        if problem:
            raise ReadOnlyError(f"queue {name} is {problem}: {action} refused")
        queue = self._queues.get(name)
        if queue is None:  # made once: a Queue reads and registers every script of the package
            queue = self._queues[name] = Queue(name, {"connection": self._client, "prefix": self.prefix})
        return queue

    async def retry(self, queue: str, ids: Sequence[str]) -> ActionResult:
        """Move failed jobs back to waiting with fresh attempts (``Job.retry`` with both resets)."""
        return await self._per_job(await self._queue(queue, "retry"), JobAction.RETRY, ids, _retry_fresh)

    async def retry_all_failed(
        self,
        queue: str,
        *,
        progress: Callable[[int, int], None] | None = None,
        cancel: asyncio.Event | None = None,
        batch: int = DEFAULT_BATCH,
    ) -> ActionResult:
        """Retry every job that failed before the call, oldest first, ``batch`` jobs per step, each
        with fresh attempts: BullMQ's ``moveJobsToWait`` (``Queue.retryJobs``' script).

        That script keeps ``attemptsMade``: a job that used its 3 attempts would fail for good at its
        first new failure. So each step deletes the attempt counters of exactly the jobs the script
        moves, as ``Job.retry`` with ``resetAttemptsMade``/``resetAttemptsStarted`` does, in one
        MULTI with the script (nothing runs between the two), and reads the next step's ids in it too,
        so the ids reset are the ones the script takes (the same range of the failed set, read in the
        same atomic block), unless another client changes that range between two steps.

        Args:
            progress: called with (done, total) before the first step and after each one.
            cancel: set it to stop between steps; the jobs not reached stay failed and are listed
                in ``skipped`` as not retried.
            batch: jobs per step (1 to 5,000).
        """
        if not 1 <= batch <= MAX_BATCH:
            raise CoreError(f"batch must be 1 to {MAX_BATCH}, got {batch}")
        q = await self._queue(queue, "retry all failed")
        failed_key = q.keys["failed"]
        until_ms = int(time.time() * 1000)  # jobs failing again during the run finish later: not taken twice
        keys, args = q.scripts.moveJobsToWaitArgs("failed", batch, until_ms)
        move = q.scripts.commands["moveJobsToWait"]
        async with self._client.pipeline(transaction=False) as pipe:
            pipe.zcount(failed_key, 0, until_ms)
            pipe.zrangebyscore(failed_key, 0, until_ms, start=0, num=batch)
            total, ids = await pipe.execute()
        done: list[str] = []
        if progress is not None:
            progress(0, total)
        while ids and not (cancel is not None and cancel.is_set()):
            async with self._client.pipeline(transaction=True) as pipe:
                await self._forget_attempts(keys=[q.toKey(i) for i in ids], args=FRESH_ATTEMPT_FIELDS, client=pipe)
                await move(keys=keys, args=[len(ids), *args[1:]], client=pipe)
                pipe.zrangebyscore(failed_key, 0, until_ms, start=0, num=batch)
                replies = await pipe.execute()
            done += ids
            ids = replies[-1]
            if progress is not None:
                progress(len(done), max(total, len(done)))
        skipped: dict[str, str] = {}
        if ids:  # canceled: name the jobs left failed
            rest = await self._client.zrangebyscore(failed_key, 0, until_ms)
            skipped = dict.fromkeys(rest, NOT_REACHED)
        log.info("retry all failed on %s: %d retried, %d left", queue, len(done), len(skipped))
        return ActionResult(JobAction.RETRY.value, tuple(done), skipped)

    async def promote(self, queue: str, ids: Sequence[str]) -> ActionResult:
        """Move delayed jobs (a requested delay or a retry back-off) to waiting now."""
        return await self._per_job(await self._queue(queue, "promote"), JobAction.PROMOTE, ids, lambda job: job.promote())

    async def remove(self, queue: str, ids: Sequence[str], action: JobAction = JobAction.DELETE) -> ActionResult:
        """Remove jobs (BullMQ's meaning of both cancel and delete), as ``Queue.remove`` does: the job,
        its logs and its children; a running job is refused (its worker holds the lock)."""
        q = await self._queue(queue, action.value)

        async def one(job: Job) -> None:
            if not await q.remove(job.id):
                raise CoreError("the job is locked by a worker")

        return await self._per_job(q, action, ids, one)

    async def enqueue(
        self,
        queue: str,
        request: ThesisRequest,
        *,
        defaults: BullJobDefaults | None = None,
        thesis_id: str | None = None,
        delay_s: float = 0.0,
        at_front: bool = False,
    ) -> str:
        """Add a thesis job as the Next.js producer does: the queue's job name (``generate-thesis``),
        data with a ``thesisId`` (a new one unless given) and the request's fields, the queue's
        default job options (the thesis system's unless ``defaults`` say otherwise)."""
        q = await self._queue(queue, "enqueue")
        chosen = defaults or BullJobDefaults()
        data = {"thesisId": thesis_id or uuid.uuid4().hex, **request.to_json()}
        opts: dict[str, Any] = {**chosen.options}
        if delay_s > 0:
            opts["delay"] = int(delay_s * 1000)
        if at_front:
            opts["lifo"] = True  # the next job a worker takes
        job = await q.add(chosen.job_name, data, opts)
        return str(job.id)

    async def refuse(self, queue: str, ids: Sequence[str], action: JobAction) -> ActionResult:
        """An action BullMQ has no way to do (stop): every job skipped with the policy's reason."""
        return await self._per_job(await self._queue(queue, action.value), action, ids, _never)

    async def clean(self, queue: str, state: JobState, grace_s: float = 0.0) -> ActionResult:
        """Remove every job of a state older than ``grace_s``, as ``Queue.clean`` does (for WAITING, the
        ``wait``, ``paused`` and ``prioritized`` structures it spans)."""
        allowed = policy.empty_verdict(state, Backend.BULLMQ)
        if not allowed:
            raise CoreError(f"{JobState(state).value} jobs cannot be emptied: {allowed.reason}")
        q = await self._queue(queue, "empty")
        removed: list[str] = []
        for structure in CLEANED_SETS[JobState(state)]:
            removed += [str(i) for i in await q.clean(int(grace_s * 1000), 0, structure) or ()]
        return ActionResult("empty", tuple(removed))

    async def pause(self, queue: str, by: str | None = None) -> QueuePause:
        """BullMQ's own pause: workers (Node or Python) take no new job; running ones finish, adding
        still works. BullMQ records no author: the pause returned names this process for a new
        pause, no one for one that was already in effect."""
        q = await self._queue(queue, QueueAction.PAUSE.value)
        if await q.isPaused():
            return QueuePause(queue)
        await q.pause()
        return new_pause(queue, by)

    async def resume(self, queue: str) -> bool:
        """Resume a paused queue; False when it was not paused."""
        q = await self._queue(queue, QueueAction.RESUME.value)
        if not await q.isPaused():
            return False
        await q.resume()
        return True

    async def _per_job(
        self, q: Queue, action: JobAction, ids: Sequence[str], run: Callable[[Job], Awaitable[object]]
    ) -> ActionResult:
        done: list[str] = []
        skipped: dict[str, str] = {}
        for job_id in dict.fromkeys(str(i).strip() for i in ids):
            job = await Job.fromId(q, job_id)
            if job is None:
                skipped[job_id] = "the job no longer exists"
                continue
            state = BULL_STATES.get(str(await job.getState()))
            if state is None:
                skipped[job_id] = "the job is in no state list"
                continue
            allowed = verdict(action, state, Backend.BULLMQ)
            if not allowed:
                skipped[job_id] = allowed.reason
                continue
            try:
                await run(job)
            except Exception as exc:  # BullMQ's scripts refuse with an error code, e.g. a locked job
                skipped[job_id] = str(exc) or type(exc).__name__
                continue
            done.append(job_id)
        log.info("%s on %s: %d done, %d skipped", action.value, q.name, len(done), len(skipped))
        return ActionResult(action.value, tuple(done), skipped)


async def _never(job: Job) -> None:
    raise CoreError(f"no BullMQ script does this to job {job.id}")


async def _retry_fresh(job: Job) -> None:
    await job.retry("failed", {"resetAttemptsMade": True, "resetAttemptsStarted": True})
