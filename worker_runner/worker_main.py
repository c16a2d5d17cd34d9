"""Entry point of one supervised worker process: ``python -m worker_runner.worker_main``.

The supervisor starts it with the Redis URL in ``REDIS_URL`` (never on the command line, where
``ps`` would show a password) and the worker's name in the environment marker that ties its
children to it. In order, it:

1. asks to die with the supervisor (and arms the same for every child it forks);
2. logs to its rotating file;
3. waits for Redis with a capped back-off (a worker started during an outage waits quietly instead
   of crash-looping; on the embedded default it restarts or follows the managed server);
4. runs the RQ work loop with the scheduler enabled (one worker per queue wins the lock).

A worker that cannot run logs one line that says why (no traceback), so a crash loop reads as one
line per attempt.

Exit codes: 0 stopped on request, 1 the work loop failed (the supervisor restarts the worker),
2 bad arguments, 75 the embedded Redis moved to another port (the supervisor starts a worker
there), 78 Redis refused the configuration (password, TLS, ACL) or the URL is not a Redis.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import time

import redis
import redis.exceptions

from thesis_console.core.redis_target import redact
from worker_runner import parent_death
from worker_runner.redis_wait import NOT_REDIS, EmbeddedFollower
from worker_runner.worker_args import start_worker_process, worker_parser

log = logging.getLogger("worker_runner.worker_main")

EXIT_CONFIG = 78
REDIS_WAIT_MAX_S = 5.0


def build_parser() -> argparse.ArgumentParser:
    parser = worker_parser("python -m worker_runner.worker_main", __doc__, "RQ worker name")
    parser.add_argument("--queues", required=True, help="comma-separated queue names")
    parser.add_argument("--worker-class", default="fork", help="fork or simple")
    parser.add_argument("--supervisor-id", default="", help="id of the supervisor, written in the worker hash")
    return parser


def wait_for_redis(url: str, supervisor_pid: int) -> redis.Redis:
    """A client whose PING succeeded; retries with a capped back-off while the server is away.

    Raises:
        SystemExit: the URL is bad, or Redis answered but refused us (password, permissions):
            waiting would not help.
    """
    from thesis_console.core.redis_target import RedisUnavailable, connect, describe_error

    follower = EmbeddedFollower.from_environment(url)
    try:
        client = connect(url, check=False)
    except RedisUnavailable as exc:
        log.error("%s", exc)
        raise SystemExit(2) from None
    delay = 0.25
    announced = False
    while True:
        try:
            client.ping()
            return client
        except (redis.exceptions.AuthenticationError, redis.exceptions.ResponseError) as exc:
            log.error("Redis refused this worker: %s", describe_error(exc, url))
            raise SystemExit(EXIT_CONFIG) from None
        except NOT_REDIS as exc:
            log.error("not a Redis at %s (%s); this worker stops", redact(url), exc)
            raise SystemExit(EXIT_CONFIG) from None
        except (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError) as exc:
            if not announced:
                log.warning("waiting for Redis: %s", describe_error(exc, url))
                announced = True
            moved = follower.check()
            if moved is not None:
                url = moved
                os.environ["REDIS_URL"] = url
                client = connect(url, check=False)
                continue
        if supervisor_pid and os.getppid() != supervisor_pid:
            raise SystemExit(1)
        time.sleep(delay)
        delay = min(REDIS_WAIT_MAX_S if not follower.active else 1.0, delay * 2)


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    start_worker_process(args)
    parent_death.forked_children_die_with_this_process()

    from worker_runner.supervised_worker import WORKER_CLASSES

    worker_class = WORKER_CLASSES.get(args.worker_class)
    if worker_class is None:
        log.error("unknown worker class %r; choose from %s", args.worker_class, ", ".join(WORKER_CLASSES))
        return 2
    url = os.environ.get("REDIS_URL", "")
    if not url:
        log.error("REDIS_URL is not set; the supervisor passes it")
        return 2
    queues = [q for q in args.queues.split(",") if q]
    connection = wait_for_redis(url, args.supervisor_pid)
    try:
        worker = worker_class(queues, name=args.name, connection=connection)
        worker.supervisor_id = args.supervisor_id  # type: ignore[attr-defined]
        worker.work(with_scheduler=True, logging_level=args.log_level.upper())
    except NOT_REDIS as exc:
        log.error("not a Redis at %s (%s); this worker stops", redact(os.environ.get("REDIS_URL", url)), exc)
        return EXIT_CONFIG
    except (redis.exceptions.RedisError, OSError) as exc:
        log.error("worker %s stops: %s: %s", args.name, type(exc).__name__, exc)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
