"""Redis going away, as the supervisor, its workers and their work horses see it.

Three kinds of failure are told apart, because each calls for something else:

* Redis is **down** (refused, reset, timed out): wait for it, with a capped back-off; nothing is
  given up for an outage up to :data:`OUTAGE_LIMIT_S`.
* The URL answers with something that is **not a Redis** (another program took the port): say so
  in one line and do not retry in a tight loop.
* Anything else is a bug or a refusal, reported as such by the caller.

On the embedded default (no ``--url``, no ``REDIS_URL``), :class:`EmbeddedFollower` also gets the
managed ``redis-server`` back when it died, through
:func:`thesis_console.core.embedded_redis.ensure_running`: whichever process takes the launcher's
lock on the data folder restarts it, and the others read its new address from the state file.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable
from pathlib import Path

import redis
import redis.exceptions

from thesis_console.core.embedded_redis import EmbeddedRedisError, ensure_running
from worker_runner.parent_death import WORKER_MARKER_ENV

log = logging.getLogger(__name__)

REDIS_DOWN = (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError)
NOT_REDIS = (redis.exceptions.InvalidResponse, UnicodeDecodeError)
"""What redis-py raises when the server does not speak the Redis protocol."""
OUTAGE_LIMIT_S = 30.0
"""The longest Redis outage that workers and their running jobs are promised to outlive."""
RESULT_WAIT_S = 2 * OUTAGE_LIMIT_S
"""How long a work horse waits for Redis before writing its job's result: the outage limit, plus
as much again for a restarted server to load its append-only file."""
EMBEDDED_DIR_ENV = "THESIS_EMBEDDED_REDIS_DIR"
"""Set by the supervisor in its workers' environment when they run on the embedded Redis."""
FOLLOW_EVERY_S = 1.0
EXIT_REDIS_MOVED = 75
"""A worker's exit code when the embedded Redis came back at another address: start a new one there."""


def is_not_redis(exc: BaseException) -> bool:
    """Whether ``exc`` means the server at the URL does not speak the Redis protocol."""
    return isinstance(exc, NOT_REDIS)


def wait_until_up(
    conn: redis.Redis, limit_s: float | None, what: str, on_down: Callable[[], None] | None = None
) -> bool:
    """PING ``conn`` until it answers; False when ``limit_s`` passed first (None: no limit).

    Args:
        what: who waits, for the one log line said when the wait starts.
        on_down: called after each failed PING (to restart or follow the embedded Redis).

    Raises:
        redis.exceptions.InvalidResponse: the server answers, but not as a Redis.
    """
    deadline = None if limit_s is None else time.monotonic() + limit_s
    delay = 0.1
    announced = False
    while True:
        try:
            conn.ping()
            if announced:
                log.info("%s: Redis is back", what)
            return True
        except REDIS_DOWN as exc:
            if not announced:
                log.warning("%s: Redis is unreachable (%s); waiting for it", what, exc)
                announced = True
        if on_down is not None:
            on_down()
        if deadline is not None and time.monotonic() >= deadline:
            return False
        time.sleep(delay)
        delay = min(1.0, delay * 2)


class EmbeddedFollower:
    """Keeps a program on the embedded Redis: restarts it when it died, follows it when it moved.

    Args:
        data_dir: the embedded server's data folder; None when the program uses a given URL
            (then :meth:`check` never does anything).
        url: the URL the program uses now.
    """

    def __init__(self, data_dir: Path | None, url: str) -> None:
        self.data_dir = data_dir
        self.url = url
        self._next_check = 0.0

    @classmethod
    def from_environment(cls, url: str) -> EmbeddedFollower:
        folder = os.environ.get(EMBEDDED_DIR_ENV)
        return cls(Path(folder) if folder else None, url)

    @property
    def active(self) -> bool:
        return self.data_dir is not None

    def check(self, force: bool = False) -> str | None:
        """Make sure the embedded server runs (at most once a second); its URL when that changed."""
        if self.data_dir is None:
            return None
        now = time.monotonic()
        if not force and now < self._next_check:
            return None
        self._next_check = now + FOLLOW_EVERY_S
        # The server outlives whoever starts it: it must not carry a worker's marker, by which the
        # supervisor finds (and kills) what a dead worker left behind.
        env = {k: v for k, v in os.environ.items() if k not in (WORKER_MARKER_ENV, EMBEDDED_DIR_ENV)}
        try:
            server = ensure_running(self.data_dir, env=env)
        except EmbeddedRedisError as exc:
            log.warning("the embedded Redis is not back yet: %s", exc)
            return None
        if server.started_here:
            log.warning("the embedded Redis had stopped; restarted it on port %s (pid %s)", server.port, server.pid)
        if server.url == self.url:
            return None
        log.warning("the embedded Redis is now at %s (was %s)", server.url, self.url)
        self.url = server.url
        return server.url
