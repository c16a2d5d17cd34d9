"""``ConsoleActions``: every change the console makes, each sent to the backend of the queue it names.

The GUI and the CLI call only this class, as they read only through
:class:`~thesis_console.core.reader.QueueReader`; neither branches on the queue system. An RQ queue's
actions run through :class:`~thesis_console.core.actions.QueueActions` (RQ's own operations), a BullMQ
queue's through :class:`~thesis_console.core.bullmq.actions.BullActions` (BullMQ's own Lua scripts).
Which action applies to which job is :mod:`policy`'s table for the backend, and an action a backend has
no way to do (stopping a running BullMQ job) is refused job by job with the table's reason. A
read-only profile refuses every action here, before any I/O.

RQ job ids are unique in a Redis, BullMQ's only in their queue: a job action without a queue goes to RQ.

Example::

    actions = ConsoleActions(rq_actions, bull_actions, reader.backend_of, read_only=False)
    await actions.retry(["42"], queue="thesis-generation")   # BullMQ's reprocessJob, fresh attempts
    await actions.pause_queue("thesis")                       # the RQ supervisors' pause
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping, Sequence

from thesis_console.core import policy
from thesis_console.core.actions import MATCH_ACTIONS, MATCH_CHUNK, QueueActions
from thesis_console.core.bulk_retry import DEFAULT_BATCH, not_reached
from thesis_console.core.bullmq.actions import BullActions
from thesis_console.core.bullmq.job_defaults import BullJobDefaults
from thesis_console.core.policy import JobAction, QueueAction
from thesis_console.core.producer import check_delay
from thesis_console.core.queue_pause import QueuePause
from thesis_console.core.supervisor_control import StopProgress
from thesis_console.core.supervisor_protocol import SupervisorRecord
from thesis_console.core.thesis_request import InvalidRequest, ThesisRequest
from thesis_console.core.types import ActionResult, Backend, CoreError, JobState, RetriedJob

BackendOf = Callable[[str], Awaitable[Backend]]


class ConsoleActions:
    """The one entry for actions: job, state and queue actions routed per queue backend; supervisor
    and worker control (the console's own protocol) as they are.

    Args:
        rq: the RQ backend's actions.
        bull: the BullMQ backend's actions.
        backend_of: the backend of a queue (``QueueReader.backend_of``).
        read_only: refuse every action (the profile's setting).
        job_defaults: per BullMQ queue, the job name and default options of the thesis jobs added to
            it (the profile's ``bullmq_jobs``); a queue named here is BullMQ even before its first
            job exists. Other BullMQ queues get the Node thesis system's.
    """

    def __init__(
        self,
        rq: QueueActions,
        bull: BullActions,
        backend_of: BackendOf,
        *,
        read_only: bool,
        job_defaults: Mapping[str, BullJobDefaults] | None = None,
    ) -> None:
        self.rq = rq
        self.bull = bull
        self.read_only = read_only
        self._backend_of = backend_of
        self._job_defaults = dict(job_defaults or {})

    async def close(self) -> None:
        await self.rq.close()
        await self.bull.close()

    async def backend_of(self, queue: str | None) -> Backend:
        """The backend that acts on ``queue``; RQ without one (RQ ids are unique in a Redis)."""
        if queue is None:
            return Backend.RQ
        if queue in self._job_defaults:
            return Backend.BULLMQ
        return await self._backend_of(queue)

    def job_defaults(self, queue: str) -> BullJobDefaults:
        """What a thesis job added to the BullMQ queue ``queue`` is named and which options it gets."""
        return self._job_defaults.get(queue) or BullJobDefaults()

    def declares_bullmq(self, queue: str) -> bool:
        """The profile gives ``queue`` BullMQ job defaults (so it is BullMQ before its first job)."""
        return queue in self._job_defaults

    def set_job_defaults(self, queue: str, defaults: BullJobDefaults) -> None:
        """Use ``defaults`` for the thesis jobs added to the BullMQ queue ``queue`` from now on."""
        self._job_defaults[queue] = defaults

    async def _route(self, action: str, queue: str | None) -> Backend:
        policy.check_writable(self.read_only, action)
        return await self.backend_of(queue)

    # ------------------------------------------------------------------ enqueue
    async def enqueue(
        self,
        request: ThesisRequest,
        *,
        queue: str | None = None,
        at_front: bool = False,
        delay_s: float = 0.0,
        thesis_id: str | None = None,
        defaults: BullJobDefaults | None = None,
    ) -> str:
        """Queue one thesis job; returns its id. On a BullMQ queue it is added as the Next.js producer
        adds it (``thesisId`` — ``thesis_id`` or a new one — and the request's fields) with
        ``defaults`` or the queue's job name and options; RQ jobs get the contract's options.

        Raises:
            CoreError: the delay is out of range, or the queue name is not valid.
        """
        policy.check_writable(self.read_only, "enqueue")
        try:
            check_delay(delay_s)
        except InvalidRequest as exc:
            raise CoreError(str(exc)) from None
        if queue is not None and await self.backend_of(queue) is Backend.BULLMQ:
            chosen = defaults or self.job_defaults(queue)
            return await self.bull.enqueue(
                queue, request, defaults=chosen, thesis_id=thesis_id, delay_s=delay_s, at_front=at_front
            )
        if thesis_id is not None:
            raise CoreError(f"a thesisId is given only to the jobs of a BullMQ queue; {queue or 'the queue'} is an RQ queue")
        return await self.rq.enqueue(request, queue=queue, at_front=at_front, delay_s=delay_s)

    # ------------------------------------------------------------------ job actions
    async def act_on_jobs(self, action: JobAction, job_ids: Sequence[str], *, queue: str | None = None) -> ActionResult:
        """Run a job action on ``job_ids`` of ``queue``: the one dispatch of retry, cancel, stop,
        delete and promote. On BullMQ, cancel and delete both remove the job (it has no canceled
        state) and stop is refused with the policy's reason."""
        action = JobAction(action)
        if isinstance(job_ids, str):
            job_ids = [job_ids]
        if await self._route(action.value, queue) is Backend.BULLMQ:
            assert queue is not None
            if action is JobAction.RETRY:
                return await self.bull.retry(queue, job_ids)
            if action is JobAction.PROMOTE:
                return await self.bull.promote(queue, job_ids)
            if action in (JobAction.CANCEL, JobAction.DELETE):
                return await self.bull.remove(queue, job_ids, action)
            return await self.bull.refuse(queue, job_ids, action)
        rq_calls = {
            JobAction.RETRY: self.rq.retry,
            JobAction.CANCEL: self.rq.cancel,
            JobAction.STOP: self.rq.stop,
            JobAction.DELETE: self.rq.delete,
            JobAction.PROMOTE: self.rq.promote,
        }
        return await rq_calls[action](job_ids)

    async def retry(self, job_ids: Sequence[str], *, queue: str | None = None) -> ActionResult:
        """Put failed jobs back in their queue (BullMQ: with fresh attempts); RQ's result can be undone."""
        return await self.act_on_jobs(JobAction.RETRY, job_ids, queue=queue)

    async def cancel(self, job_ids: Sequence[str], *, queue: str | None = None) -> ActionResult:
        """Cancel waiting, scheduled or deferred jobs (BullMQ: remove them)."""
        return await self.act_on_jobs(JobAction.CANCEL, job_ids, queue=queue)

    async def stop(self, job_ids: Sequence[str], *, queue: str | None = None) -> ActionResult:
        """Stop running jobs (RQ only: BullMQ has no way to stop a job from outside its worker)."""
        return await self.act_on_jobs(JobAction.STOP, job_ids, queue=queue)

    async def delete(self, job_ids: Sequence[str], *, queue: str | None = None) -> ActionResult:
        """Delete jobs and what the backend keeps about them."""
        return await self.act_on_jobs(JobAction.DELETE, job_ids, queue=queue)

    async def promote(self, job_ids: Sequence[str], *, queue: str | None = None) -> ActionResult:
        """Run scheduled (BullMQ: delayed) jobs now instead of at their time."""
        return await self.act_on_jobs(JobAction.PROMOTE, job_ids, queue=queue)

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
        """Retry, cancel or delete the jobs a search found in ``state`` of ``queue``, ``batch`` per step,
        with ``progress(done, total)`` and ``cancel`` between steps (the jobs not reached are listed).
        RQ checks each job is still in ``state`` atomically with the change; BullMQ's per-job path
        checks its state against the policy before its script runs."""
        action = JobAction(action)
        if await self._route(f"{action.value} matches", queue) is not Backend.BULLMQ:
            return await self.rq.act_on_matches(
                action, queue, state, job_ids, progress=progress, cancel=cancel, batch=batch
            )
        if action not in MATCH_ACTIONS:
            raise CoreError(f"{action.value} cannot be applied to search matches (only retry, cancel or delete)")
        allowed = policy.verdict(action, state, Backend.BULLMQ)
        if not allowed:
            raise CoreError(f"cannot {action.value} {JobState(state).value} jobs: {allowed.reason}")
        ids = list(dict.fromkeys(job_ids))
        done: list[str] = []
        skipped: dict[str, str] = {}
        if progress is not None:
            progress(0, len(ids))
        for start in range(0, len(ids), max(1, batch)):
            if cancel is not None and cancel.is_set():
                skipped.update(dict.fromkeys(ids[start:], not_reached(action)))
                break
            result = await self.act_on_jobs(action, ids[start : start + batch], queue=queue)
            done += result.done
            skipped.update(result.skipped)
            if progress is not None:
                progress(min(len(ids), start + batch), len(ids))
        return ActionResult(action.value, tuple(done), skipped)

    async def undo_retry(self, retried: Sequence[RetriedJob]) -> ActionResult:
        """Undo an RQ retry (``ActionResult.undo``; a BullMQ retry has none)."""
        return await self.rq.undo_retry(retried)

    # ------------------------------------------------------------------ whole states
    async def retry_all_failed(
        self,
        queue: str,
        *,
        progress: Callable[[int, int], None] | None = None,
        cancel: asyncio.Event | None = None,
        batch: int = DEFAULT_BATCH,
    ) -> ActionResult:
        """Retry every failed job of ``queue`` in steps of ``batch``, reporting ``progress(done, total)``
        and stopping between steps once ``cancel`` is set (the rest stay failed, listed as not retried)."""
        if await self._route("retry all failed", queue) is Backend.BULLMQ:
            return await self.bull.retry_all_failed(queue, progress=progress, cancel=cancel, batch=batch)
        return await self.rq.retry_all_failed(queue, progress=progress, cancel=cancel, batch=batch)

    async def empty(self, queue: str, state: JobState) -> ActionResult:
        """Delete every job in ``state`` of ``queue`` (BullMQ: its ``clean``); the states each backend
        can empty are :func:`policy.empty_verdict`'s."""
        if await self._route("empty", queue) is Backend.BULLMQ:
            return await self.bull.clean(queue, state)
        return await self.rq.empty(queue, state)

    # ------------------------------------------------------------------ queues
    async def pause_queue(self, queue: str, by: str | None = None) -> QueuePause:
        """Pause ``queue``: its workers take no new job (running jobs finish, adding still works).
        RQ: the supervisors' pause in Redis; BullMQ: BullMQ's own pause, which Node workers honour.

        Returns:
            the pause in effect (an earlier one when it was already paused).
        """
        if await self._route(QueueAction.PAUSE.value, queue) is Backend.BULLMQ:
            return await self.bull.pause(queue, by)
        return await self.rq.pause_queue(queue, by)

    async def resume_queue(self, queue: str) -> bool:
        """Resume a paused queue; False when it was not paused."""
        if await self._route(QueueAction.RESUME.value, queue) is Backend.BULLMQ:
            return await self.bull.resume(queue)
        return await self.rq.resume_queue(queue)

    # ------------------------------------------------------------------ supervisors and workers
    async def resize_supervisor(self, supervisor_id: str, concurrency: int) -> None:
        await self.rq.resize_supervisor(supervisor_id, concurrency)

    async def autoscale_supervisor(self, supervisor_id: str, minimum: int, maximum: int) -> None:
        await self.rq.autoscale_supervisor(supervisor_id, minimum, maximum)

    async def stop_supervisor(self, supervisor_id: str, *, hard: bool = False) -> SupervisorRecord:
        return await self.rq.stop_supervisor(supervisor_id, hard=hard)

    async def wait_supervisor_stopped(self, supervisor_id: str, timeout_s: float) -> StopProgress:
        return await self.rq.wait_supervisor_stopped(supervisor_id, timeout_s)

    async def restart_supervisor(self, supervisor_id: str) -> SupervisorRecord:
        return await self.rq.restart_supervisor(supervisor_id)

    async def stop_worker(self, worker_name: str) -> None:
        await self.rq.stop_worker(worker_name)
