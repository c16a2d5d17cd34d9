"""Count-based retention: keep at most the newest N completed and failed jobs of a queue.

RQ only expires jobs by time. The original system also kept at most the newest 100 completed and
500 failed jobs, so after each job ends the worker trims the registry with one Lua script: it drops
the oldest entries and deletes the trimmed jobs' keys in the same atomic step, so two workers
finishing at once cannot leave stray keys behind.
"""

from __future__ import annotations

import time

from redis import Redis
from rq.registry import FailedJobRegistry, FinishedJobRegistry

from thesis_console.core import contract

# KEYS[1] registry; ARGV[1] keep; ARGV[2] job key prefix; ARGV[3] results prefix; ARGV[4] executions prefix;
# ARGV[5] optional id of the job that just ended, ARGV[6] its precise expiry score.
# The registry's scores are expiry times, so the lowest scores are the oldest jobs. RQ writes whole
# seconds; the ended job's score is refined to microseconds first (ZADD XX keeps RQ's meaning), so
# that jobs ending in the same second are trimmed oldest first rather than by id.
_TRIM_LUA = """
if ARGV[5] ~= '' then redis.call('ZADD', KEYS[1], 'XX', ARGV[6], ARGV[5]) end
local excess = redis.call('ZCARD', KEYS[1]) - tonumber(ARGV[1])
if excess <= 0 then return 0 end
local ids = redis.call('ZRANGE', KEYS[1], 0, excess - 1)
for _, id in ipairs(ids) do
  redis.call('ZREM', KEYS[1], id)
  redis.call('DEL', ARGV[2] .. id, ARGV[2] .. id .. ':dependents', ARGV[3] .. id, ARGV[4] .. id)
end
return #ids
"""


def trim_registry(
    connection: Redis, registry_key: str, keep: int, job_id: str = "", expires_at: float = 0.0
) -> int:
    """Trim one finished or failed registry to ``keep`` newest entries; returns how many went.

    Args:
        job_id: the job that just ended in this registry, whose score gets sub-second precision.
        expires_at: that job's expiry as a Unix time with fractions.
    """
    from rq.defaults import RQ_KEY_PREFIX

    return int(
        connection.eval(  # type: ignore[union-attr]
            _TRIM_LUA,
            1,
            registry_key,
            keep,
            f"{RQ_KEY_PREFIX}:job:",
            f"{RQ_KEY_PREFIX}:results:",
            f"{RQ_KEY_PREFIX}:executions:",
            job_id,
            repr(expires_at),
        )
    )


def enforce_retention(
    connection: Redis, queue_name: str, ended_job: str = "", ended_ok: bool = True, ttl_s: float = 0.0
) -> tuple[int, int]:
    """Apply the contract's count limits to ``queue_name``; returns (completed, failed) trimmed.

    Args:
        ended_job: id of the job that just ended, completed when ``ended_ok`` else failed.
        ttl_s: its time to live in that registry, to refine its score.
    """
    pol = contract.policy(queue_name)
    finished = FinishedJobRegistry(queue_name, connection=connection).key
    failed = FailedJobRegistry(queue_name, connection=connection).key
    expires = time.time() + ttl_s if ended_job else 0.0
    return (
        trim_registry(connection, finished, pol.completed_keep, ended_job if ended_ok else "", expires),
        trim_registry(connection, failed, pol.failed_keep, "" if ended_ok else ended_job, expires),
    )
