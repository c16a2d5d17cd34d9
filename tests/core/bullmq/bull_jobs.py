"""Writing BullMQ jobs for tests: through the official Python package (BullMQ's own scripts)."""

from __future__ import annotations

import asyncio
from typing import Any

import redis
from bullmq import Queue

QUEUE = "thesis-generation"


def add_jobs(url: str, jobs: list[tuple[dict[str, Any], dict[str, Any]]], queue: str = QUEUE, prefix: str = "bull") -> list[str]:
    """Add ``(data, opts)`` jobs with BullMQ's scripts; their ids in order."""

    async def add() -> list[str]:
        q = Queue(queue, {"connection": url, "prefix": prefix})
        try:
            ids = []
            for data, opts in jobs:
                job = await q.add("generate-thesis", data, opts)
                ids.append(str(job.id))
            return ids
        finally:
            await q.close()

    return asyncio.run(add())


def pause(url: str, queue: str = QUEUE) -> None:
    async def run() -> None:
        q = Queue(queue, {"connection": url})
        try:
            await q.pause()
        finally:
            await q.close()

    asyncio.run(run())


def dump_all(conn: redis.Redis) -> dict[bytes, Any]:
    """Every key with its type and content, to show that reading changed nothing.

    Contents, not DUMP: reading a hash can advance its incremental rehash, which reorders DUMP's bytes.
    """
    read = {
        b"string": conn.get,
        b"hash": conn.hgetall,
        b"list": lambda k: conn.lrange(k, 0, -1),
        b"set": conn.smembers,
        b"zset": lambda k: conn.zrange(k, 0, -1, withscores=True),
        b"stream": conn.xrange,
    }
    return {key: (conn.type(key), read[conn.type(key)](key), conn.pttl(key) > 0) for key in sorted(conn.keys("*"))}
