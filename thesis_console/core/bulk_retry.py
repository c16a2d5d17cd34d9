"""Requeueing failed (and stopped or canceled) jobs in chunks, each chunk one atomic Lua script.

For every job the script does what RQ's ``BaseRegistry.requeue`` does (``rq/registry.py``), in RQ's
key layout: it removes the id from the registry and only then sets ``status=queued``, clears
``started_at``, ``ended_at`` and ``exc_info`` (RQ writes ``zlib.compress(b"")``), stamps
``enqueued_at``, applies the job's ``ttl`` as RQ's ``job.cleanup`` does, RPUSHes the id on
``rq:queue:{origin}`` and makes sure that queue is in ``rq:queues``.

It requeues only a whole job whose status the policy lets a retry take (:mod:`policy`: failed,
stopped, canceled) and that is in the registry of that status; everything else is left where it is
and reported with a :class:`Skip`:

* ``broken``: the hash is not what RQ writes: not a hash, no status, an unknown status, a status
  that contradicts the registry it is in, ``origin``, ``data`` or ``created_at`` missing, a text field
  that is not UTF-8, a time or whole number RQ cannot parse, ``data`` neither zlib nor JSON (the
  zlib header is checked; Redis' Lua cannot inflate). A worker could not run such a job again.
* ``queued``: the job waits in its queue already (pushing it again would run it twice);
* ``gone``: it left the registry since the caller read it (changed meanwhile);
* ``status``: chosen by id, but in a state a retry does not apply to (the policy's reason).

Each check reads only the job's own hash and registry membership, never a whole queue. Because the
check and the push happen inside one script, two consoles retrying the same job at once push it
exactly once: the second finds it gone from the registry. A bulk run that is cancelled or
interrupted stops between chunks, so every job is either still in the failed registry or fully back
in its queue with status ``queued``, and a second run picks up the rest.

Jobs with an RQ rate limit are left alone by the script (RQ's rate-limited requeue needs its own
slot accounting) and reported as ``rate_limited`` so that the caller can requeue them through RQ.

For a retry of chosen jobs the script also returns, per requeued job, what it overwrote
(:class:`RetriedJob`); :data:`_UNDO_LUA` puts a job back with it while the job still waits in its
queue, and refuses once a worker has taken it.

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
from enum import StrEnum

import redis.asyncio as aredis
from rq.queue import Queue
from rq.utils import now, utcformat

from thesis_console.core import policy, rq_keys
from thesis_console.core.policy import JobAction
from thesis_console.core.types import JobState, RetriedJob

DEFAULT_BATCH = 1000
MAX_BATCH = 5000
"""Upper bound on ids per script: keeps each script's time (and Redis' pause) to a few milliseconds."""

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

_REQUEUE_LUA = r"""
-- ARGV: 1 job key prefix, 2 queue key prefix, 3 rq:queues, 4 the registry of a retry all ('' to pick
-- each job's registry from its status), 5 enqueued_at, 6 the cleared exc_info, 7 default timeout,
-- 8 'status=registry prefix;...' of the statuses a retry applies to (the policy's), 9 'status;...' of
-- waiting jobs, 10 'status;...' of every RQ status, 11 '1' to return what undoing needs; then the ids.
local job_prefix, queue_prefix, queues_key, only_registry = ARGV[1], ARGV[2], ARGV[3], ARGV[4]
local enqueued_at, empty_exc, default_timeout, keep_undo = ARGV[5], ARGV[6], ARGV[7], ARGV[11] == '1'
local registry_of, waiting, known = {}, {}, {}
for status, prefix in string.gmatch(ARGV[8], '([^=;]+)=([^;]+)') do registry_of[status] = prefix end
for status in string.gmatch(ARGV[9], '[^;]+') do waiting[status] = true end
for status in string.gmatch(ARGV[10], '[^;]+') do known[status] = true end

-- Python's strict UTF-8 (what RQ's as_text needs): no overlongs, no surrogates, nothing past U+10FFFF.
local function utf8(s)
  if not string.find(s, '[\128-\255]') then return true end
  local i, n = 1, #s
  while i <= n do
    local c = string.byte(s, i)
    local len, low, high = 1, 128, 191
    if c < 128 then len = 1
    elseif c >= 194 and c <= 223 then len = 2
    elseif c >= 224 and c <= 239 then
      len = 3
      if c == 224 then low = 160 elseif c == 237 then high = 159 end
    elseif c >= 240 and c <= 244 then
      len = 4
      if c == 240 then low = 144 elseif c == 244 then high = 143 end
    else return false end
    for j = i + 1, i + len - 1 do
      local d = string.byte(s, j)
      if not d or d < low or d > high then return false end
      low, high = 128, 191
    end
    i = i + len
  end
  return true
end

local find, byte = string.find, string.byte
local FIELDS = {'status', 'origin', 'rate_limit_key', 'ttl', 'timeout', 'data', 'created_at', 'description',
                'worker_name', 'group_id', 'dependency_ids', 'result_ttl', 'failure_ttl', 'last_heartbeat'}
local STATUS, ORIGIN, RATE_LIMIT_KEY, TTL, TIMEOUT, DATA, CREATED_AT = 1, 2, 3, 4, 5, 6, 7
local REQUIRED = {ORIGIN, DATA, CREATED_AT}
local TEXT = {ORIGIN, 8, 9, 10, 11}  -- the times are checked whole below, so they are ASCII
local TIMES = {CREATED_AT, 14}
local WHOLE = {TTL, TIMEOUT, 12, 13}

-- What keeps RQ from loading the job (Job.restore) or a worker from running it; nil for a whole job.
-- f is the HMGET reply in FIELDS order (false for a field the hash does not have).
local function damage(f)
  if not (f[ORIGIN] and f[ORIGIN] ~= '' and f[DATA] and f[DATA] ~= '' and f[CREATED_AT] and f[CREATED_AT] ~= '') then
    local missing = {}
    for _, n in ipairs(REQUIRED) do
      if not f[n] or f[n] == '' then missing[#missing + 1] = FIELDS[n] end
    end
    return 'half-written: ' .. table.concat(missing, ', ') .. ' missing'
  end
  for i = 1, #TEXT do
    local v = f[TEXT[i]]
    if v and find(v, '[\128-\255]') and not utf8(v) then return 'not UTF-8 in field ' .. FIELDS[TEXT[i]] end
  end
  for i = 1, #TIMES do
    local v = f[TIMES[i]]
    -- RQ's two formats (rq.utils.utcparse): %Y-%m-%dT%H:%M:%S.%fZ and %Y-%m-%dT%H:%M:%SZ
    if v and v ~= '' and not find(v, '^%d%d%d%d%-%d%d%-%d%dT%d%d:%d%d:%d%d%.%d%d?%d?%d?%d?%d?Z$')
        and not find(v, '^%d%d%d%d%-%d%d%-%d%dT%d%d:%d%d:%d%dZ$') then
      return 'not a time in field ' .. FIELDS[TIMES[i]]
    end
  end
  for i = 1, #WHOLE do
    local v = f[WHOLE[i]]
    if v and v ~= '' and not find(v, '^%-?%d+$') then return 'not a whole number in field ' .. FIELDS[WHOLE[i]] end
  end
  local cmf, flg = byte(f[DATA], 1, 2)
  local zlib = flg and cmf % 16 == 8 and cmf < 128 and (cmf * 256 + flg) % 31 == 0
  if not zlib and not (utf8(f[DATA]) and pcall(cjson.decode, f[DATA])) then
    return 'field data is neither zlib-compressed nor JSON'
  end
  return nil
end

local skipped, undo, touched = {}, {}, {}
for i = 12, #ARGV do
  local id = ARGV[i]
  local key = job_prefix .. id
  local f = redis.pcall('HMGET', key, unpack(FIELDS))
  local code, detail, registry = nil, '', only_registry
  local status = f[STATUS]
  if f.err then
    code, detail = 'broken', 'the key is not a hash'  -- another application's key under RQ's name
  elseif not status or status == '' then
    local any = false
    for n = 1, #FIELDS do any = any or (f[n] and true) end
    if any then
      code, detail = 'broken', 'status field missing'
    elseif redis.call('EXISTS', key) == 1 then
      code, detail = 'broken', 'no fields RQ writes'
    else
      code = 'missing'
    end
  elseif waiting[status] then
    code, detail = 'queued', status
  elseif not known[status] then
    code, detail = 'broken', "unknown status '" .. status .. "'"
  elseif not registry_of[status] then
    code, detail = 'status', status
    local listed = only_registry ~= '' and only_registry or nil
    if not listed and f[ORIGIN] then  -- chosen by id: in a retry registry after all?
      for _, prefix in pairs(registry_of) do
        if redis.call('ZSCORE', prefix .. f[ORIGIN], id) then listed = prefix .. f[ORIGIN] end
      end
    end
    if listed then code, detail = 'broken', "status '" .. status .. "' contradicts its registry " .. listed end
  else
    detail = damage(f)
    if detail then
      code = 'broken'
    else
      detail = ''
      if only_registry == '' then registry = registry_of[status] .. f[ORIGIN] end
      if f[RATE_LIMIT_KEY] and f[RATE_LIMIT_KEY] ~= '' then code, detail = 'rate_limited', status end
    end
  end
  -- A job that left the registry since the caller read it changed meanwhile, whatever it is now.
  if code and only_registry ~= '' and not redis.call('ZSCORE', only_registry, id) then
    code, detail = 'gone', only_registry
  end
  if not code and keep_undo then
    local score = redis.call('ZSCORE', registry, id)
    if score then
      local before = redis.call('HMGET', key, 'started_at', 'ended_at', 'exc_info', 'enqueued_at')
      undo[#undo + 1] = {id, status, registry, score, redis.call('PTTL', key),
                         before[1], before[2], before[3], before[4]}
    end
  end
  if not code and redis.call('ZREM', registry, id) == 0 then code, detail = 'gone', registry end
  if code then
    skipped[#skipped + 1] = id
    skipped[#skipped + 1] = code
    skipped[#skipped + 1] = detail
  else
    local origin = f[ORIGIN]
    redis.call('HSET', key, 'status', 'queued', 'started_at', '', 'ended_at', '', 'exc_info', empty_exc,
               'enqueued_at', enqueued_at)
    if not f[TIMEOUT] or f[TIMEOUT] == '' then redis.call('HSET', key, 'timeout', default_timeout) end
    local ttl = tonumber(f[TTL])
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
return {skipped, undo}  -- every id not skipped was requeued (the caller knows the list it sent)
"""

# ARGV: 1 job key prefix, 2 queue key prefix, 3 the status of a retried job that has not started,
# then per job 9 values: id, status, registry, score, pttl, started_at, ended_at, exc_info, enqueued_at
# as they were before the retry (false: the field was absent). A job still waiting in its queue goes
# back to its registry with those values; one that a worker has taken (it is no longer in the queue
# list, or its status moved on) is left alone and reported.
_UNDO_LUA = r"""
local job_prefix, queue_prefix, queued = ARGV[1], ARGV[2], ARGV[3]
local FIELDS = {'started_at', 'ended_at', 'exc_info', 'enqueued_at'}
local skipped = {}
for i = 4, #ARGV, 9 do
  local id, status, registry, score, pttl = ARGV[i], ARGV[i + 1], ARGV[i + 2], ARGV[i + 3], tonumber(ARGV[i + 4])
  local key = job_prefix .. id
  local f = redis.pcall('HMGET', key, 'status', 'origin')
  local code, detail = nil, ''
  if f.err or (not f[1] and not f[2]) then
    code = 'missing'
  elseif f[1] ~= queued then
    code, detail = 'status', f[1] or ''
  elseif redis.call('LREM', queue_prefix .. (f[2] or ''), -1, id) == 0 then
    code = 'taken'
  end
  if code then
    skipped[#skipped + 1] = id
    skipped[#skipped + 1] = code
    skipped[#skipped + 1] = detail
  else
    redis.call('HSET', key, 'status', status)
    for n, name in ipairs(FIELDS) do
      local value = ARGV[i + 4 + n]
      if value == '\0absent' then redis.call('HDEL', key, name) else redis.call('HSET', key, name, value) end
    end
    redis.call('ZADD', registry, score, id)
    if pttl and pttl > 0 then redis.call('PEXPIRE', key, pttl) else redis.call('PERSIST', key) end
  end
end
return skipped
"""

_EMPTY_EXC_INFO = zlib.compress(b"")  # what RQ stores for the cleared ``_exc_info`` on requeue
_ABSENT = b"\0absent"
"""Stands for a field the hash did not have, in the undo script's arguments (Redis has no null)."""

ProgressCallback = Callable[[int, int], None]

NOT_REACHED = "not retried: the bulk retry was canceled"
"""The skip reason of the jobs a canceled retry all failed did not reach (they are still failed)."""

_NOT_REACHED_BY: dict[JobAction, str] = {
    JobAction.RETRY: NOT_REACHED,
    JobAction.CANCEL: "not canceled: the bulk cancel was stopped before this job",
    JobAction.DELETE: "not deleted: the bulk delete was stopped before this job",
}


def not_reached(action: JobAction) -> str:
    """The skip reason of the jobs a canceled bulk ``action`` did not reach (they are as they were)."""
    return _NOT_REACHED_BY[action]


def is_not_reached(reason: str) -> bool:
    """True for the skip reason of a job that a canceled bulk action did not reach."""
    return reason in _NOT_REACHED_BY.values()


class Skip(StrEnum):
    """Why the requeue or undo script left a job alone (the code each skip is reported with; the
    detail beside it is the field, status or registry concerned). :func:`explain_skip` words it."""

    MISSING = "missing"
    BROKEN = "broken"
    QUEUED = "queued"
    STATUS = "status"
    GONE = "gone"
    RATE_LIMITED = "rate_limited"
    TAKEN = "taken"


@dataclass
class ChunkOutcome:
    """What one script run did: ids requeued, ids skipped with a :class:`Skip` and its detail, and
    (when asked for) what undoing each requeue needs."""

    done: list[str] = field(default_factory=list)
    skipped: dict[str, tuple[Skip, str]] = field(default_factory=dict)
    undo: list[RetriedJob] = field(default_factory=list)


def failed_registry_key(queue: str) -> str:
    return rq_keys.state_source(queue, JobState.FAILED).key


def retry_registries() -> dict[str, str]:
    """RQ statuses a retry applies to (the policy's), each with its registry's key prefix."""
    return {
        status: rq_keys.state_source("", rq_keys.STATUS_TO_STATE[status]).key
        for status in sorted(policy.statuses_allowing(JobAction.RETRY))
    }


def explain_skip(code: Skip | str, detail: str) -> str:
    """The sentence for a skip reported by the requeue or undo script."""
    code = Skip(code)
    if code is Skip.MISSING:
        return "no such job: its hash expired or was deleted"
    if code is Skip.BROKEN:
        return f"broken job hash: {detail}"
    if code is Skip.QUEUED:
        return "already queued"
    if code is Skip.STATUS:
        return policy.verdict_for_status(JobAction.RETRY, detail or None).reason
    if code is Skip.GONE:
        return f"changed meanwhile: no longer in {detail} (retried or deleted by someone else)"
    if code is Skip.TAKEN:
        return "already started: a worker has taken it from its queue"
    return "rate-limited job: RQ must requeue it"


def explain_undo_skip(code: Skip | str, detail: str) -> str:
    """The sentence for a job the undo script left alone."""
    code = Skip(code)
    if code is Skip.STATUS:
        state = policy.state_of_status(detail)
        if state is JobState.ACTIVE:
            return "already started: a worker is running it"
        return f"changed meanwhile: it is {state.value if state else detail or 'without a status'} now"
    return explain_skip(code, detail)


class Requeuer:
    """Runs the requeue script on one asyncio client (the script is loaded once, then called by SHA)."""

    def __init__(self, client: aredis.Redis) -> None:
        self.client = client
        self._script = client.register_script(_REQUEUE_LUA)
        self._slice = client.register_script(_SLICE_LUA)
        self._undo = client.register_script(_UNDO_LUA)

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

    async def requeue(
        self,
        job_ids: Sequence[str],
        *,
        only_queue: str = "",
        only_state: JobState = JobState.FAILED,
        keep_undo: bool = False,
    ) -> ChunkOutcome:
        """Requeue ``job_ids`` in one atomic step.

        Args:
            job_ids: at most :data:`MAX_BATCH` distinct ids (the report counts "sent and not skipped"
                as done, so the callers pass each id once).
            only_queue: take the ids from this queue's registry of ``only_state`` only (retry all
                failed, retry of a search's matches); a job no longer there is skipped as ``gone``.
                Empty to pick the registry from each job's status (:func:`retry_registries`).
            only_state: with ``only_queue``: FAILED or CANCELED.
            keep_undo: also return, per requeued job, what :meth:`undo` needs to put it back.
        """
        outcome = ChunkOutcome()
        if not job_ids:
            return outcome
        registries = retry_registries()
        registry = ""
        if only_queue:
            registry = rq_keys.state_source(only_queue, only_state).key
            registries = {status: prefix for status, prefix in registries.items() if prefix + only_queue == registry}
            if not registries:
                raise ValueError(f"{only_state.value} jobs cannot be retried")
        args: list[str | bytes | int] = [
            rq_keys.JOB_KEY_PREFIX,
            rq_keys.QUEUE_KEY_PREFIX,
            rq_keys.QUEUES_KEY,
            registry,
            utcformat(now()),
            _EMPTY_EXC_INFO,
            Queue.DEFAULT_TIMEOUT,
            ";".join(f"{status}={prefix}" for status, prefix in registries.items()),
            ";".join(_statuses_of(JobState.WAITING)),
            ";".join(rq_keys.STATUS_TO_STATE),
            "1" if keep_undo else "0",
            *job_ids,
        ]
        skipped, undo = await self._script(keys=[], args=args)
        for i in range(0, len(skipped), 3):
            outcome.skipped[_text(skipped[i])] = (Skip(_text(skipped[i + 1])), _text(skipped[i + 2]))
        outcome.done = [i for i in job_ids if i not in outcome.skipped] if outcome.skipped else list(job_ids)
        outcome.undo = [_retried_job(entry) for entry in undo]
        return outcome

    async def requeue_many(self, job_ids: Sequence[str], *, batch: int = DEFAULT_BATCH) -> ChunkOutcome:
        """Requeue distinct ids chosen by the user, chunk by chunk (registry chosen by status), keeping
        what undoing each requeue needs."""
        total = ChunkOutcome()
        batch = _clamp_batch(batch)
        for start in range(0, len(job_ids), batch):
            part = await self.requeue(job_ids[start : start + batch], keep_undo=True)
            total.done.extend(part.done)
            total.skipped.update(part.skipped)
            total.undo.extend(part.undo)
        return total

    async def undo(self, retried: Sequence[RetriedJob]) -> ChunkOutcome:
        """Put requeued jobs that no worker has taken yet back where they were, :data:`MAX_BATCH` per
        atomic script; the others are reported in ``skipped``."""
        total = ChunkOutcome()
        for start in range(0, len(retried), MAX_BATCH):
            part = retried[start : start + MAX_BATCH]
            args: list[str | bytes | float | int] = [rq_keys.JOB_KEY_PREFIX, rq_keys.QUEUE_KEY_PREFIX, "queued"]
            for job in part:
                args += [job.id, job.status, job.registry, job.score, job.pttl_ms]
                args += [_ABSENT if value is None else value for value in job.fields]
            skipped = await self._undo(keys=[], args=args)
            for i in range(0, len(skipped), 3):
                total.skipped[_text(skipped[i])] = (Skip(_text(skipped[i + 1])), _text(skipped[i + 2]))
            total.done.extend(job.id for job in part if job.id not in total.skipped)
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


def _statuses_of(state: JobState) -> list[str]:
    return [status for status, of in rq_keys.STATUS_TO_STATE.items() if of is state]


def _retried_job(entry: list) -> RetriedJob:
    job_id, status, registry, score, pttl, *fields = entry
    return RetriedJob(
        id=_text(job_id),
        status=_text(status),
        registry=_text(registry),
        score=float(score),
        pttl_ms=int(pttl),
        fields=tuple(fields),
    )


def _clamp_batch(batch: int) -> int:
    if not isinstance(batch, int) or batch < 1:
        raise ValueError(f"batch: must be a positive whole number, got {batch!r}")
    return min(batch, MAX_BATCH)


def _text(value: bytes | str) -> str:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)

