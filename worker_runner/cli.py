"""``thesis-worker``: run workers for the thesis queue (the scheduler included, so retries fire)."""

from __future__ import annotations

import argparse
import logging
import os
import sys

from thesis_console.core import contract
from thesis_console.core.redis_target import RedisUnavailable, connect, resolve_url


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="thesis-worker",
        description="Run RQ workers for the thesis queue against --url, REDIS_URL or the embedded Redis.",
    )
    parser.add_argument("--url", default=None, help="Redis URL (env REDIS_URL; default: the embedded local Redis)")
    parser.add_argument(
        "--queue",
        action="append",
        dest="queues",
        default=None,
        help=f"queue to work on; repeat for several (env THESIS_QUEUES, comma-separated; default {contract.DEFAULT_QUEUE_NAME})",
    )
    parser.add_argument("--burst", action="store_true", help="quit when the queues are empty")
    parser.add_argument("--log-level", default=os.environ.get("THESIS_LOG_LEVEL", "INFO"), help="log level (env THESIS_LOG_LEVEL)")
    return parser


def queues_from(args: argparse.Namespace) -> list[str]:
    if args.queues:
        return args.queues
    env = os.environ.get("THESIS_QUEUES")
    return [q.strip() for q in env.split(",") if q.strip()] if env else [contract.queue_name()]


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=args.log_level.upper(), format="%(asctime)s %(name)s %(levelname)s %(message)s")
    try:
        connection = connect(resolve_url(args.url))
    except RedisUnavailable as exc:
        print(f"thesis-worker: {exc}", file=sys.stderr)
        return 3
    from worker_runner.worker import ThesisWorker

    worker = ThesisWorker(queues_from(args), connection=connection)
    worker.work(with_scheduler=True, burst=args.burst)
    return 0


if __name__ == "__main__":
    sys.exit(main())
