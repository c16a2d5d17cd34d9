"""Actions on BullMQ queues through BullMQ's own Lua scripts (the pinned Python ``bullmq`` package).

Nothing here re-implements a script: retry is ``reprocessJob`` (with fresh attempts, so a retried job
gets its whole back-off schedule again), promote ``promote``, remove ``removeJob``, clean
``cleanJobsInSet``, pause and resume ``pause``. Which action applies to which state is
:func:`thesis_console.core.policy.verdict` with ``Backend.BULLMQ``; a read-only profile refuses all.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

import redis.asyncio as aioredis
from bullmq import Job, Queue

from thesis_console.core.bullmq.reader import version_problem
from thesis_console.core.policy import JobAction, verdict
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

CLEANABLE: dict[JobState, str] = {
    JobState.COMPLETED: "completed",
    JobState.FAILED: "failed",
    JobState.SCHEDULED: "delayed",
    JobState.WAITING: "wait",
}
RETRY_ALL_CHUNK = 1000

THESIS_JOB_NAME = "generate-thesis"
THESIS_JOB_OPTIONS: dict[str, Any] = {
    "attempts": 3,
    "backoff": {"type": "exponential", "delay": 2000},
    "removeOnComplete": {"age": 24 * 3600, "count": 100},
    "removeOnFail": {"count": 500},
}
"""The Node thesis system's default job options (its lib/queue.ts): 3 attempts, back-off 2, 4, 8 s,
the newest 100 completed jobs kept for 24 h, the newest 500 failed ones."""


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

    async def close(self) -> None:
        await self._client.aclose(close_connection_pool=True)

    async def _queue(self, name: str, action: str) -> Queue:
        if self.read_only:
            raise ReadOnlyError(f"read-only profile: {action} refused")
        problem = version_problem(await self._client.hget(f"{self.prefix}:{name}:meta", "version"))
        if problem:
            raise ReadOnlyError(f"queue {name} is {problem}: {action} refused")
        return Queue(name, {"connection": self._client, "prefix": self.prefix})

    async def retry(self, queue: str, ids: Sequence[str]) -> ActionResult:
        """Move failed jobs back to waiting with fresh attempts."""
        return await self._per_job(await self._queue(queue, "retry"), JobAction.RETRY, ids, _retry_fresh)

    async def retry_all_failed(self, queue: str) -> ActionResult:
        """Retry every failed job (each with fresh attempts), oldest first, in chunks."""
        q = await self._queue(queue, "retry")
        failed_key = f"{self.prefix}:{queue}:failed"
        done: list[str] = []
        skipped: dict[str, str] = {}
        seen: set[str] = set()
        while True:
            ids = [i for i in await self._client.zrange(failed_key, 0, RETRY_ALL_CHUNK - 1) if i not in seen]
            if not ids:
                break
            seen.update(ids)
            result = await self._per_job(q, JobAction.RETRY, ids, _retry_fresh)
            done += result.done
            skipped.update(result.skipped)
        return ActionResult("retry", tuple(done), skipped)

    async def promote(self, queue: str, ids: Sequence[str]) -> ActionResult:
        """Move delayed jobs (a requested delay or a retry back-off) to waiting now."""
        return await self._per_job(await self._queue(queue, "promote"), JobAction.PROMOTE, ids, lambda job: job.promote())

    async def remove(self, queue: str, ids: Sequence[str], action: JobAction = JobAction.DELETE) -> ActionResult:
        """Remove jobs (BullMQ's meaning of both cancel and delete); a running job is refused."""
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
        thesis_id: str | None = None,
        delay_s: float = 0.0,
        at_front: bool = False,
    ) -> str:
        """Add a thesis job as the Next.js producer does: job name ``generate-thesis``, data with a
        ``thesisId`` (a new one unless given) and the request's fields, the system's job options."""
        q = await self._queue(queue, "enqueue")
        data = {"thesisId": thesis_id or uuid.uuid4().hex, **request.to_json()}
        opts = {**THESIS_JOB_OPTIONS, **({"delay": int(delay_s * 1000)} if delay_s > 0 else {})}
        if at_front:
            opts["lifo"] = True  # the next job a worker takes
        job = await q.add(THESIS_JOB_NAME, data, opts)
        return str(job.id)

    async def refuse(self, queue: str, ids: Sequence[str], action: JobAction) -> ActionResult:
        """An action BullMQ has no way to do (stop): every job skipped with the policy's reason."""
        return await self._per_job(await self._queue(queue, action.value), action, ids, _never)

    async def clean(self, queue: str, state: JobState, grace_s: float = 0.0, limit: int = 0) -> ActionResult:
        """Remove the jobs of a state older than ``grace_s`` (at most ``limit``; 0 is no limit)."""
        if state not in CLEANABLE:
            raise CoreError(f"BullMQ cannot clean {state.value} jobs; it cleans {', '.join(s.value for s in CLEANABLE)}")
        q = await self._queue(queue, "clean")
        removed = await q.clean(int(grace_s * 1000), limit, CLEANABLE[state])
        return ActionResult("clean", tuple(str(i) for i in removed or ()))

    async def pause(self, queue: str) -> None:
        """BullMQ's own pause: workers take no new job (running ones finish); adding still works."""
        await (await self._queue(queue, "pause")).pause()

    async def resume(self, queue: str) -> None:
        await (await self._queue(queue, "resume")).resume()

    async def _per_job(
        self, q: Queue, action: JobAction, ids: Sequence[str], run: Callable[[Job], Awaitable[object]]
    ) -> ActionResult:
        done: list[str] = []
        skipped: dict[str, str] = {}
        for job_id in dict.fromkeys(ids):
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
