"""RQ's scheduler lock of a queue, released at once when the worker holding it died on this host.

One scheduler per queue enqueues due retries and delayed jobs; it holds ``rq:scheduler-lock:{queue}``
for 61 s and refreshes it every second. When its worker is killed, the lock blocks every other
scheduler until it expires, so a retry due meanwhile would start up to a minute late. The expiry is
kept as it is (RQ's enqueue of due jobs reads, then writes: two live schedulers could enqueue a job
twice), but a supervisor that can see the holder is dead releases the lock at once.

The lock's value names the scheduler, which supervised workers name after themselves. The holder is
dead when its RQ worker hash (or, failing that, its scheduler hash) says it ran on this host and that
process is gone. The release is RQ's own compare-and-delete, so a lock that another scheduler took
in between is left alone. A holder on another host is left to the expiry.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable

import redis
from rq.scheduler import SCHEDULER_KEY_TEMPLATE, RQScheduler
from rq.scripts import release_lock
from rq.worker import BaseWorker

from thesis_console.core.embedded_redis import pid_alive

log = logging.getLogger(__name__)


def lock_key(queue: str) -> str:
    return RQScheduler.get_locking_key(queue)


def release_dead_holders(conn: redis.Redis, queues: Iterable[str], host: str) -> list[tuple[str, str]]:
    """Release the scheduler locks of ``queues`` whose holder ran on ``host`` and is gone.

    Returns:
        (queue, holder name) of each lock released.
    """
    queues = list(queues)
    holders = conn.mget([lock_key(q) for q in queues]) if queues else []
    named = [(q, _text(h)) for q, h in zip(queues, holders, strict=True) if h]
    if not named:
        return []
    with conn.pipeline(transaction=False) as pipe:
        for _queue, name in named:
            pipe.hmget(BaseWorker.redis_worker_namespace_prefix + name, ["hostname", "pid"])
            pipe.hmget(SCHEDULER_KEY_TEMPLATE % name, ["hostname", "pid"])
        replies = pipe.execute()
    released = []
    for index, (queue, name) in enumerate(named):
        worker, scheduler = replies[2 * index], replies[2 * index + 1]
        where = worker if worker[0] is not None else scheduler
        if where[0] is None or _text(where[0]) != host:
            continue  # unknown, or on another host: its expiry frees it
        pid = _int(where[1])
        if pid is None or pid_alive(pid):
            continue
        if release_lock(conn, lock_key(queue), name):
            log.info("released the scheduler lock of queue %s: its holder %s (pid %s) is gone", queue, name, pid)
            released.append((queue, name))
    return released


def _text(value: bytes | str | None) -> str:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value or "")


def _int(value: bytes | str | None) -> int | None:
    try:
        return int(value) if value is not None else None
    except (TypeError, ValueError):
        return None
