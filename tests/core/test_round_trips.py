"""RoundTrips: one deadline per round trip, not one timer per reply."""

from __future__ import annotations

import asyncio
import socket
from typing import Any

import pytest
import redis.asyncio as aioredis

from tests.core.bulk_jobs import run
from thesis_console.core.round_trips import RoundTrips
from thesis_console.core.types import CoreError


def _pool_timeouts(client: aioredis.Redis) -> list[float | None]:
    pool = client.connection_pool
    return [c.socket_timeout for c in (*pool._available_connections, *pool._in_use_connections)]


def test_a_round_trip_arms_one_timer_not_one_per_reply(redis_conn, redis_url):
    redis_conn.rpush("list", *range(10))
    armed: list[float] = []

    async def body() -> list[Any]:
        loop = asyncio.get_running_loop()
        call_at = loop.call_at

        def counting(when: float, *args: Any, **kwargs: Any) -> asyncio.TimerHandle:
            armed.append(when)
            return call_at(when, *args, **kwargs)

        # socket_timeout as the session's clients have it: redis-py then times every reply it reads.
        client = aioredis.Redis.from_url(redis_url, decode_responses=False, socket_timeout=7)
        try:
            trips = RoundTrips(client, timeout_s=5)
            await trips.run(lambda pipe: pipe.ping())  # connect outside the count
            loop.call_at = counting  # type: ignore[method-assign]
            try:
                replies = await trips.run(lambda pipe: [pipe.lindex("list", i % 10) for i in range(500)])
            finally:
                del loop.call_at
            assert _pool_timeouts(client) == [7]  # the connection goes back to the pool as it was
            assert await client.lindex("list", 3) == b"3"  # and later commands still work on it
            return replies
        finally:
            await client.aclose()

    replies = run(body())
    assert replies[:3] == [b"0", b"1", b"2"] and len(replies) == 500
    assert len(armed) <= 2, f"{len(armed)} timers armed for one round trip of 500 replies"


def test_the_connection_keeps_its_timeout_after_a_round_trip_times_out():
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(16)  # the kernel accepts connections; nobody ever reads or answers
    port = silent.getsockname()[1]

    async def body() -> list[float | None]:
        client = aioredis.Redis(host="127.0.0.1", port=port, decode_responses=False, socket_timeout=30)
        try:
            with pytest.raises(CoreError, match=r"did not answer within 0\.5 s \(timeout\)"):
                await asyncio.wait_for(RoundTrips(client, 0.5).run(lambda pipe: pipe.get("x")), 10)
            return _pool_timeouts(client)
        finally:
            await client.aclose()

    try:
        assert run(body()) == [30]
    finally:
        silent.close()


def test_commands_are_packed_as_redis_py_packs_them() -> None:
    """hiredis packs the round trips' commands: the same bytes as redis-py's own packer."""
    import redis.asyncio as aioredis

    from thesis_console.core.round_trips import pack_commands

    connection = aioredis.Connection()
    commands = [
        ("HGETALL", "rq:job:é-ünïcode"),
        ("ZRANGEBYSCORE", b"bull:q:completed", 1700000000.25, "+inf", "WITHSCORES"),
        ("LRANGE", "rq:queue:thesis", 0, -1),
        ("CLIENT LIST", "TYPE", "normal"),
        (b"CONFIG GET", b"maxmemory"),
        ("SET", "k", "", "PX", 1500),
        ("HSET", "k", "f", b"\x00\xff" * 40_000),  # past redis-py's buffer cut-off
        ("ZADD", "z", 1e-05, "m", 12345678901234567890, "n"),
    ]
    assert pack_commands(connection.encoder.encode, commands) == b"".join(connection.pack_commands(commands))
