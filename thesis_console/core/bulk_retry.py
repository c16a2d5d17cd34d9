"""Requeueing failed (and stopped or canceled) jobs in chunks, each chunk one atomic Lua script.

For every job the script does what RQ's ``BaseRegistry.requeue`` does (``rq/registry.py``), in RQ's
key layout: it removes the id from the registry and only when that removal succeeds (``ZREM`` returned
1) sets ``status=queued``, clears ``started_at``, ``ended_at`` and ``exc_info`` (RQ writes
``zlib.compress(b"")``), stamps ``enqueued_at``, applies the job's ``ttl`` as RQ's ``job.cleanup`` does,
RPUSHes the id on ``rq:queue:{origin}`` and makes sure that queue is in ``rq:queues``.

Because the check and the push happen inside one script, two consoles retrying the same job at once
push it exactly once: the second finds it gone from the registry and reports it as skipped. A bulk
run that is cancelled or interrupted stops between chunks, so every job is either still in the
failed registry or fully back in its queue with status ``queued``, and a second run picks up the rest.

Jobs with an RQ rate limit are left alone by the script (RQ's rate-limited requeue needs its own
slot accounting) and reported as ``rate_limited`` so that the caller can requeue them through RQ.

Retry all failed first reads the registry's ids, :data:`READ_SLICE` per round trip (one reply of
300,000 ids took the caller's thread about 50 ms to parse and decode, a stall in the GUI), each slice
continuing after the last id of the one before (see :data:`_SLICE_LUA`), so ids removed or added
meanwhile by someone else never make it skip or repeat one.
"""

from __future__ import annotations

import asyncio
import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import redis.asyncio as aredis
from rq.job import Job
from rq.queue import Queue
from rq.registry import CanceledJobRegistry, FailedJobRegistry
from rq.utils import now, utcformat

from thesis_console.core import policy
from thesis_console.core.policy import JobAction

DEFAULT_BATCH = 1000
MAX_BATCH = 5000
"""Upper bound on ids per script: keeps each script's time (and Redis' pause) to a few milliseconds."""

RATE_LIMITED = "rate_limited"

READ_SLICE = 10_000
"""Registry ids read per round trip by :meth:`Requeuer.requeue_all_failed`."""

_SLICE_LUA = """
-- The next ARGV[3] ids (with scores) of the sorted set KEYS[1] after ARGV[1] (with score ARGV[2]);
-- from the start when ARGV[1] is empty. Reads only. Returns {restarted, id, score, id, score, ...}:
-- restarted is 1 when ARGV[1] is no longer there (retried by someone else, or back with another
-- score), and the slice then starts at the first id of score ARGV[2], which the caller may have.
local key, after, count = KEYS[1], ARGV[1], tonumber(ARGV[3])
local start, restarted = 0, 0
if after ~= '' then
  local score = redis.call('ZSCORE', key, after)
  if score and tonumber(score) == tonumber(ARGV[2]) then
    start = redis.call('ZRANK', key, after) + 1
  else
    start = redis.call('ZCOUNT', key, '-inf', '(' .. ARGV[2])
    restarted = 1
  end
end
local slice = redis.call('ZRANGE', key, start, start + count - 1, 'WITHSCORES')
table.insert(slice, 1, restarted)
return slice
"""

_REQUEUE_LUA = """
local job_prefix, queue_prefix, queues_key = ARGV[1], ARGV[2], ARGV[3]
local failed_prefix, canceled_prefix, only_queue = ARGV[4], ARGV[5], ARGV[6]
local enqueued_at, empty_exc, default_timeout = ARGV[7], ARGV[8], ARGV[9]
local skipped, touched = {}, {}
for i = 10, #ARGV do
  local id = ARGV[i]
  local key = job_prefix .. id
  local f = redis.pcall('HMGET', key, 'status', 'origin', 'rate_limit_key', 'ttl', 'timeout')
  local registry, reason = nil, nil
  if f.err then f = {} ; reason = 'not_a_hash' end  -- another application's key under RQ's name
  local status, origin = f[1], f[2]
  if not origin or origin == '' then origin = only_queue end
  if reason then
    status = ''
  elseif not f[1] and not f[2] then
    if redis.call('EXISTS', key) == 1 then reason = 'broken' else reason = 'missing' end
  elseif origin == '' then
    reason = 'broken'
  elseif only_queue ~= '' then
    registry = failed_prefix .. only_queue
  elseif status == 'failed' or status == 'stopped' then
    registry = failed_prefix .. origin
  elseif status == 'canceled' then
    registry = canceled_prefix .. origin
  else
    reason = 'status'
  end
  if not reason and f[3] and f[3] ~= '' then reason = 'rate_limited' end
  if not reason and redis.call('ZREM', registry, id) == 0 then reason = 'not_in_registry' end
  if reason then
    skipped[#skipped + 1] = id
    skipped[#skipped + 1] = reason
    skipped[#skipped + 1] = status or ''
  else
    redis.call('HSET', key, 'status', 'queued', 'started_at', '', 'ended_at', '', 'exc_info', empty_exc,
               'enqueued_at', enqueued_at)
    if f[2] ~= origin then redis.call('HSET', key, 'origin', origin) end
    if not f[5] or f[5] == '' then redis.call('HSET', key, 'timeout', default_timeout) end
    local ttl = tonumber(f[4])
    if ttl and ttl > 0 then
      redis.call('EXPIRE', key, ttl)
      redis.call('EXPIRE', key .. ':dependents', ttl)
      redis.call('EXPIRE', key .. ':dependencies', ttl)
    end
    local pending = touched[origin]
    if not pending then pending = {}; touched[origin] = pending end
    pending[#pending + 1] = id
  end
end
-- One RPUSH per queue (in order, so the queue order is the registry order), at most 500 ids per call.
for origin, ids in pairs(touched) do
  for first = 1, #ids, 500 do
    redis.call('RPUSH', queue_prefix .. origin, unpack(ids, first, math.min(first + 499, #ids)))
  end
  redis.call('SADD', queues_key, queue_prefix .. origin)
end
return skipped  -- every other id was requeued (the caller knows the list it sent)
"""

_EMPTY_EXC_INFO = zlib.compress(b"")  # what RQ stores for the cleared ``_exc_info`` on requeue

ProgressCallback = Callable[[int, int], None]


@dataclass
class ChunkOutcome:
    """What one script run did: ids requeued, and ids skipped with a reason code and the job's status."""

    done: list[str] = field(default_factory=list)
    skipped: dict[str, tuple[str, str]] = field(default_factory=dict)


def failed_registry_key(queue: str) -> str:
    return str(FailedJobRegistry.key_template.format(queue))


def explain_skip(code: str, status: str) -> str:
    """A sentence for a skip reason code of the requeue script."""
    if code == "missing":
        return "no such job: its hash expired or was deleted"
    if code == "broken":
        return "the job hash is damaged (it has no status or origin queue)"
    if code == "not_a_hash":
        return "the job key is not a hash (not an RQ job)"
    if code == "status":
        return policy.verdict_for_status(JobAction.RETRY, status or None).reason
    if code == "not_in_registry":
        return "no longer in the failed or canceled registry (already retried, perhaps by another console)"
    if code == RATE_LIMITED:
        return "rate-limited job: RQ must requeue it"
    return code


class Requeuer:
    """Runs the requeue script on one asyncio client (the script is loaded once, then called by SHA)."""

    def __init__(self, client: aredis.Redis) -> None:
        self.client = client
        self._script = client.register_script(_REQUEUE_LUA)
        self._slice = client.register_script(_SLICE_LUA)

    async def registry_ids(self, key: str, *, slice_size: int = READ_SLICE) -> list[str]:
        """Every id of the sorted set ``key``, in its order, ``slice_size`` per round trip.

        Each slice continues after the last id of the one before, so an id is neither skipped nor
        listed twice when others add or remove ids meanwhile (those come or go as they happen to).
        """
        ids: list[str] = []
        after, after_score = "", b""
        group_start = 0  # where the ids with score ``after_score`` begin in ``ids``
        while True:
            reply = await self._slice(keys=[key], args=[after, after_score, slice_size])
            restarted, pairs = int(reply[0]), reply[1:]
            if not pairs:
                return ids
            known = set(ids[group_start:]) if restarted else None  # the slice starts over at that score
            for i in range(0, len(pairs), 2):
                job_id, score = _text(pairs[i]), pairs[i + 1]
                if score != after_score:
                    after_score, group_start, known = score, len(ids), None
                elif known is not None and job_id in known:
                    continue
                ids.append(job_id)
            after = _text(pairs[-2])
            if len(pairs) < 2 * slice_size:
                return ids

    async def requeue(self, job_ids: Sequence[str], *, only_queue: str = "") -> ChunkOutcome:
        """Requeue ``job_ids`` in one atomic step.

        Args:
            job_ids: at most :data:`MAX_BATCH` ids.
            only_queue: take the ids from this queue's failed registry only (retry all failed); empty
                to pick the registry from each job's status (failed/stopped: failed, canceled: canceled).
        """
        outcome = ChunkOutcome()
        job_ids = list(dict.fromkeys(job_ids))  # "done" is "sent and not skipped", so each id once
        if not job_ids:
            return outcome
        args: list[str | bytes | int] = [
            Job.redis_job_namespace_prefix,
            Queue.redis_queue_namespace_prefix,
            Queue.redis_queues_keys,
            FailedJobRegistry.key_template.format(""),
            CanceledJobRegistry.key_template.format(""),
            only_queue,
            utcformat(now()),
            _EMPTY_EXC_INFO,
            Queue.DEFAULT_TIMEOUT,
            *job_ids,
        ]
        skipped = await self._script(keys=[], args=args)
        for i in range(0, len(skipped), 3):
            outcome.skipped[_text(skipped[i])] = (_text(skipped[i + 1]), _text(skipped[i + 2]))
        outcome.done = [i for i in job_ids if i not in outcome.skipped] if outcome.skipped else job_ids
        return outcome

    async def requeue_many(self, job_ids: Sequence[str], *, batch: int = DEFAULT_BATCH) -> ChunkOutcome:
        """Requeue any number of ids chosen by the user, chunk by chunk (registry chosen by status)."""
        total = ChunkOutcome()
        batch = _clamp_batch(batch)
        unique = list(dict.fromkeys(job_ids))  # an id twice in the selection is one job
        for start in range(0, len(unique), batch):
            part = await self.requeue(unique[start : start + batch])
            total.done.extend(part.done)
            total.skipped.update(part.skipped)
        return total

    async def requeue_all_failed(
        self,
        queue: str,
        *,
        progress: ProgressCallback | None = None,
        cancel: asyncio.Event | None = None,
        batch: int = DEFAULT_BATCH,
    ) -> tuple[ChunkOutcome, list[str]]:
        """Requeue every job in ``rq:failed:{queue}`` as it is when the call starts.

        Returns:
            What was done, and the ids left untouched because ``cancel`` was set (empty otherwise).
        """
        batch = _clamp_batch(batch)
        # The ids first: the total is exact for the progress bar, and jobs that fail while we work are
        # not chased forever. Each id is still checked against the registry inside the script.
        ids = await self.registry_ids(failed_registry_key(queue))
        total = len(ids)
        outcome = ChunkOutcome()
        if progress is not None:
            progress(0, total)
        # Two chunks in flight (on two connections), so Redis works on one while Python prepares the
        # next and reads the last reply. Each chunk is still one atomic script.
        in_flight: asyncio.Future[ChunkOutcome] | None = None
        sent = finished = 0
        try:
            for start in range(0, total, batch):
                if cancel is not None and cancel.is_set():
                    break
                chunk = ids[start : start + batch]
                task = asyncio.ensure_future(self.requeue(chunk, only_queue=queue))
                sent = start + len(chunk)
                if in_flight is not None:
                    finished = self._collect(await in_flight, outcome, finished, start - finished, total, progress)
                in_flight = task
            if in_flight is not None:
                pending, in_flight = in_flight, None
                finished = self._collect(await pending, outcome, finished, sent - finished, total, progress)
        finally:
            if in_flight is not None and not in_flight.done():
                in_flight.cancel()  # an error or cancellation of ours; the script, if sent, stays atomic
        return outcome, ids[sent:]

    @staticmethod
    def _collect(
        part: ChunkOutcome,
        outcome: ChunkOutcome,
        finished: int,
        size: int,
        total: int,
        progress: ProgressCallback | None,
    ) -> int:
        outcome.done.extend(part.done)
        outcome.skipped.update(part.skipped)
        finished += size
        if progress is not None:
            progress(finished, total)
        return finished


def _clamp_batch(batch: int) -> int:
    if not isinstance(batch, int) or batch < 1:
        raise ValueError(f"batch: must be a positive whole number, got {batch!r}")
    return min(batch, MAX_BATCH)


def _text(value: bytes | str) -> str:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)

