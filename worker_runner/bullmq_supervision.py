"""What the supervisor reads and does on BullMQ queues for its own worker processes.

A supervised BullMQ worker's id is its name (:mod:`worker_runner.bullmq_worker_main`), and BullMQ's
lock tokens are ``<worker id>:<n>``, so the lock of an active job says which worker holds it:

- :func:`observe`: which of our workers are busy, and each queue's depth (wait + paused +
  prioritized), in two pipelined rounds of plain reads;
- :func:`requeue_jobs_of`: when one of our workers dies, its active jobs go back to wait at once
  through BullMQ's own ``moveJobFromActiveToWait`` script, which removes the job only while the lock
  still holds that token (a job another worker took meanwhile is left alone: never a double run).
  The script ships in the ``bullmq`` package without a Python wrapper; it is run here as is.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from functools import cache
from importlib import resources

import redis

from thesis_console.core.bullmq.keys import BullKeys

log = logging.getLogger("worker_runner.bullmq_supervision")

MOVE_TO_WAIT_SCRIPT = "moveJobFromActiveToWait-9.lua"
TOKEN_SEPARATOR = ":"
_SCRIPT_ERRORS = {-1: "the job no longer exists", -2: "its lock is gone", -6: "another worker holds its lock"}


@dataclass(frozen=True)
class Observation:
    busy: set[str]
    """Names of our workers that hold a job's lock."""
    depths: dict[str, int]
    """Jobs waiting per queue: wait + paused + prioritized."""


@dataclass(frozen=True)
class HeldJob:
    queue: str
    job_id: str
    token: str

    @property
    def worker(self) -> str:
        return self.token.rsplit(TOKEN_SEPARATOR, 1)[0]


def _held_jobs(conn: redis.Redis, prefix: str, queues: tuple[str, ...]) -> tuple[list[HeldJob], dict[str, int]]:
    keys = [BullKeys(prefix, q) for q in queues]
    with conn.pipeline(transaction=False) as pipe:
        for k in keys:
            pipe.lrange(k.of("active"), 0, -1)
            pipe.llen(k.of("wait"))
            pipe.llen(k.of("paused"))
            pipe.zcard(k.of("prioritized"))
        first = pipe.execute()
    depths: dict[str, int] = {}
    active: list[tuple[str, str]] = []
    for index, k in enumerate(keys):
        ids, wait, paused, prioritized = first[4 * index : 4 * index + 4]
        depths[k.queue] = int(wait) + int(paused) + int(prioritized)
        active.extend((k.queue, _text(i)) for i in ids)
    if not active:
        return [], depths
    with conn.pipeline(transaction=False) as pipe:
        for queue, job_id in active:
            pipe.get(BullKeys(prefix, queue).job(job_id) + ":lock")
        tokens = pipe.execute()
    held = [HeldJob(q, j, _text(t)) for (q, j), t in zip(active, tokens, strict=True) if t is not None]
    return held, depths


def observe(conn: redis.Redis, prefix: str, queues: tuple[str, ...], names: list[str]) -> Observation:
    """Which of ``names`` hold a job, and how deep each queue is (plain reads)."""
    held, depths = _held_jobs(conn, prefix, queues)
    ours = set(names)
    return Observation(busy={h.worker for h in held if h.worker in ours}, depths=depths)


def requeue_jobs_of(conn: redis.Redis, prefix: str, queues: tuple[str, ...], dead: set[str]) -> list[HeldJob]:
    """Put the active jobs locked by the ``dead`` workers back in wait; the jobs moved."""
    if not dead:
        return []
    held, _ = _held_jobs(conn, prefix, queues)
    moved = []
    script = conn.register_script(_script_text())
    for job in held:
        if job.worker not in dead:
            continue
        k = BullKeys(prefix, job.queue)
        keys = [k.of(n) for n in ("active", "wait", "stalled", "paused", "meta", "limiter", "prioritized", "marker", "events")]
        result = int(script(keys=keys, args=[job.job_id, job.token, k.job(job.job_id)]))
        if result < 0:
            log.info("job %s of dead worker %s not moved: %s", job.job_id, job.worker, _SCRIPT_ERRORS.get(result, result))
            continue
        log.info("job %s of dead worker %s is back in wait", job.job_id, job.worker)
        moved.append(job)
    return moved


@cache
def _script_text() -> str:
    return resources.files("bullmq").joinpath("commands", MOVE_TO_WAIT_SCRIPT).read_text(encoding="utf-8")


def _text(value: bytes | str) -> str:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)
