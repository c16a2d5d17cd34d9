"""Run an RQ worker in burst mode in a fresh process: ``run_burst(conn, ["thesis"])``.

A forking worker (RQ's ``Worker``, ``ThesisWorker``) must not fork from the test process: pytest,
Redis clients and asyncio leave threads there, and a fork of a multi-threaded process can deadlock
in the child (Python 3.12+ warns about it). The helper starts ``python -m tests.burst_worker``,
which works the queues until they are empty and exits.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

import redis

ROOT = Path(__file__).resolve().parents[1]
KINDS = ("thesis", "thesis-simple", "rq")


def run_burst(conn: redis.Redis, queues: Sequence[str], kind: str = "thesis", timeout_s: float = 120.0) -> None:
    """Work ``queues`` until empty with a worker of ``kind`` (``thesis``: ThesisWorker, ``rq``: RQ's
    own Worker with the contract's serializer) in a child process; fails the test if it fails."""
    kwargs = conn.connection_pool.connection_kwargs
    url = f"redis://{kwargs.get('host', '127.0.0.1')}:{kwargs.get('port', 6379)}/{kwargs.get('db', 0)}"
    done = subprocess.run(
        [sys.executable, "-m", "tests.burst_worker", "--kind", kind, *queues],
        cwd=ROOT, env={**os.environ, "REDIS_URL": url}, capture_output=True, text=True, timeout=timeout_s,
    )  # fmt: skip
    assert done.returncode == 0, f"burst worker failed ({done.returncode}):\n{done.stderr[-3000:]}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--kind", choices=KINDS, default="thesis")
    parser.add_argument("queues", nargs="+")
    args = parser.parse_args(argv)
    from rq import Worker

    from thesis_console.core import contract
    from worker_runner.worker import ThesisSimpleWorker, ThesisWorker

    conn = redis.Redis.from_url(os.environ["REDIS_URL"])
    if args.kind == "rq":
        worker: Worker = Worker(args.queues, connection=conn, serializer=contract.SERIALIZER)
    elif args.kind == "thesis-simple":
        worker = ThesisSimpleWorker(args.queues, connection=conn)
    else:
        worker = ThesisWorker(args.queues, connection=conn)
    worker.work(burst=True, logging_level="WARNING")
    return 0


if __name__ == "__main__":
    sys.exit(main())
