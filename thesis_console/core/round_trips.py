"""Pipelined round trips to Redis with a deadline, a count, and readable errors.

Every read in the console goes through :class:`RoundTrips`: one call of :meth:`RoundTrips.run` is
one pipeline (``transaction=False``), sent in one write and answered in one read. Errors of single
commands (a foreign key of the wrong type) come back in place as exception objects so one bad key
never spoils the rest; a lost connection or a timeout becomes a :class:`CoreError` whose message
names the server and the cause.

The deadline is one ``asyncio.timeout`` over the whole round trip. redis-py would also arm one per
reply when the client has a ``socket_timeout`` (an asyncio timer made and cancelled for each reply:
about 15 µs, and under qasync a Qt timer each), which made a round trip of 2,000 replies spend
more time on timers than Redis spent answering; that per-reply timeout is off while a round trip's
replies are read (see :class:`_DeadlinePipeline`).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import redis.asyncio as aioredis
import redis.exceptions as rexc
from redis.asyncio.client import Pipeline

try:  # redis[hiredis] brings it; without it, redis-py packs in Python
    import hiredis
except ImportError:  # pragma: no cover
    hiredis = None  # type: ignore[assignment]

from thesis_console.core.redis_target import describe_error
from thesis_console.core.types import CoreError


def server_url(client: aioredis.Redis) -> str:
    """A password-free URL naming the server ``client`` talks to, for messages."""
    pool = client.connection_pool
    kwargs = pool.connection_kwargs
    service = getattr(pool, "service_name", None)
    if service:  # a Sentinel pool: the master's address is only known per connection
        return f"redis+sentinel://{service}/{kwargs.get('db', 0)}"
    if "path" in kwargs:
        return f"unix://{kwargs['path']}?db={kwargs.get('db', 0)}"
    scheme = "rediss" if "ssl" in pool.connection_class.__name__.lower() else "redis"
    return f"{scheme}://{kwargs.get('host', 'localhost')}:{kwargs.get('port', 6379)}/{kwargs.get('db', 0)}"


class RoundTrips:
    """Runs pipelines on one client with a per-round-trip timeout and counts them.

    Args:
        client: an asyncio client created with ``decode_responses=False``.
        timeout_s: the longest one round trip may take before it is abandoned.
    """

    def __init__(self, client: aioredis.Redis, timeout_s: float) -> None:
        self.client = client
        self.timeout_s = timeout_s
        self.count = 0

    async def run(self, fill: Callable[[Any], object], *, allow_denied: bool | frozenset[str] = False) -> list[Any]:
        """Queue commands with ``fill(pipeline)``, send them in one round trip, return the replies.

        A reply is an exception object when that one command failed (for example WRONGTYPE). A
        command the user may not run fails the whole round trip, unless ``allow_denied`` is True (the
        caller has another way to read) or names it (as redis-py sends it, such as ``"CLIENT LIST"``):
        its refusal then comes back in place too.

        Raises:
            CoreError: the server could not be reached, failed, or did not answer in time.
        """
        pipe = _DeadlinePipeline(self.client.connection_pool, self.client.response_callbacks, False, None)
        fill(pipe)
        if not len(pipe):
            return []
        stack = list(pipe.command_stack)  # command names are looked at only for a refused command
        self.count += 1
        task = asyncio.current_task()
        cancels_before = task.cancelling() if task else 0
        try:
            # asyncio.timeout rather than wait_for: on Python 3.11, wait_for drops a cancellation
            # that arrives just as the reply does.
            async with asyncio.timeout(self.timeout_s):
                replies = await pipe.execute(raise_on_error=False)
        except TimeoutError:
            raise CoreError(
                f"Redis at {server_url(self.client)} did not answer within {self.timeout_s:g} s (timeout)"
            ) from None
        except (rexc.RedisError, OSError) as exc:
            raise CoreError(describe_error(exc, server_url(self.client))) from None
        finally:
            await pipe.reset()
        if task is not None and task.cancelling() > cancels_before:
            # redis-py's pipeline can finish normally although the task was cancelled while it
            # ran (the request is then lost inside the client); honour it, or a cancelled search
            # would walk on to the end.
            raise asyncio.CancelledError()
        for (args, _options), reply in zip(stack, replies, strict=True):
            # A per-command error is usually a foreign key (WRONGTYPE) and is the caller's to show in
            # a row; a missing ACL right is not about one key: the whole view would be wrong.
            if isinstance(reply, rexc.NoPermissionError) and not _may_be_denied(str(args[0]).upper(), allow_denied):
                raise CoreError(describe_error(reply, server_url(self.client)))
        return replies


def _may_be_denied(command: str, allow_denied: bool | frozenset[str]) -> bool:
    return allow_denied is True or (isinstance(allow_denied, frozenset) and command in allow_denied)


class _DeadlinePipeline(Pipeline):
    """A pipeline (``transaction=False``) that reads its replies without the connection's per-reply
    ``socket_timeout``: :meth:`RoundTrips.run` bounds the whole round trip instead.

    The connection is this pipeline's alone while it runs; its timeout is put back before the
    pipeline returns it to the pool, also after an error or a cancellation. redis-py calls
    ``_execute_pipeline`` once per attempt; were that hook ever renamed, replies would simply be
    read with the per-reply timeout again (slower, equally safe).
    """

    async def _execute_pipeline(self, connection: Any, commands: Any, raise_on_error: bool) -> Any:
        saved = connection.socket_timeout
        connection.socket_timeout = None
        try:
            if hiredis is None:
                return await super()._execute_pipeline(connection, commands, raise_on_error)
            # redis-py's own steps, with the commands packed by hiredis (redis-py's asyncio client
            # packs in Python: about 7 µs a command, a third of a 1,400-command round trip).
            await connection.send_packed_command(pack_commands(connection.encoder.encode, [args for args, _ in commands]))
            replies: list[Any] = []
            for args, options in commands:
                try:
                    replies.append(await self.parse_response(connection, args[0], **options))
                except rexc.ResponseError as exc:
                    replies.append(exc)
            if raise_on_error:
                self.raise_first_error(commands, replies)
            return replies
        finally:
            connection.socket_timeout = saved


def pack_commands(encode: Callable[[Any], Any], commands: list[tuple[Any, ...]]) -> bytes:
    """The commands in the Redis protocol, as redis-py's ``pack_commands`` writes them (arguments
    encoded by the client's encoder, a command name with spaces split into words), packed by hiredis."""
    assert hiredis is not None
    packed = []
    for args in commands:
        name = args[0]
        head = tuple(name.encode().split()) if isinstance(name, str) else tuple(name.split()) if b" " in name else (name,)
        packed.append(hiredis.pack_command(head + tuple(map(encode, args[1:]))))  # type: ignore[arg-type]
    return b"".join(packed)


def is_error(reply: Any) -> bool:
    return isinstance(reply, Exception)


def reply_int(reply: Any) -> int:
    """An integer reply, or 0 when the command failed (a foreign key of another type)."""
    if isinstance(reply, Exception) or reply is None:
        return 0
    try:
        return int(reply)
    except (TypeError, ValueError):
        return 0
