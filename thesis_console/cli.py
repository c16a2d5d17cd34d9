"""``thesis-console``: the desktop console, and headless subcommands over the same core.

With no subcommand it opens the GUI. Exit codes: 0 success, 2 bad usage or invalid input,
3 Redis unreachable, 1 any other failure.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable

from thesis_console.core.redis_target import RedisUnavailable, connect, resolve_url
from thesis_console.core.thesis_request import DEGREE_LEVELS, LANGUAGES, InvalidRequest, ThesisRequest

EXIT_OK, EXIT_FAILURE, EXIT_USAGE, EXIT_UNREACHABLE = 0, 1, 2, 3


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="thesis-console", description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--url", default=None, help="Redis URL (env REDIS_URL; default: the embedded local Redis)")
    sub = parser.add_subparsers(dest="command")

    enq = sub.add_parser("enqueue", help="queue a thesis job and print its id")
    enq.add_argument("--url", default=argparse.SUPPRESS, help="Redis URL")
    enq.add_argument("--topic", required=True)
    enq.add_argument("--field", dest="field_of_study", default="Computer Science")
    enq.add_argument("--degree", dest="degree_level", default="master", choices=DEGREE_LEVELS)
    enq.add_argument("--language", default="en", choices=LANGUAGES)
    enq.add_argument("--chapters", type=int, default=5)
    enq.add_argument("--words", dest="target_words", type=int, default=8000)
    enq.add_argument("--queue", default=None, help="queue name (default: THESIS_QUEUE or 'thesis')")
    enq.add_argument("--at-front", action="store_true", help="put the job at the front of the queue")
    enq.add_argument("--delay", type=float, default=0.0, help="schedule the job this many seconds from now")
    enq.add_argument("--pace", type=float, default=0.0, help="seconds per stage (demonstrations)")
    enq.add_argument("--json", action="store_true", help="print JSON")
    return parser


def main(argv: list[str] | None = None, gui: Callable[[argparse.Namespace], int] | None = None) -> int:
    """Run a headless subcommand; with none, hand the parsed arguments to ``gui`` (the desktop app)."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        if gui is None:
            parser.error("a subcommand is required (this entry point has no GUI)")
        return gui(args)
    if args.command == "enqueue":
        return _enqueue(args)
    parser.error(f"unknown command {args.command}")
    return EXIT_USAGE


def _enqueue(args: argparse.Namespace) -> int:
    from thesis_console.core.producer import enqueue_thesis

    options = {"pace_s": args.pace} if args.pace else {}
    try:
        request = ThesisRequest(
            topic=args.topic,
            field_of_study=args.field_of_study,
            degree_level=args.degree_level,
            language=args.language,
            chapters=args.chapters,
            target_words=args.target_words,
            options=options,
        )
    except InvalidRequest as exc:
        print(f"thesis-console: invalid request: {exc}", file=sys.stderr)
        return EXIT_USAGE
    try:
        connection = connect(resolve_url(args.url))
        job_id = enqueue_thesis(connection, request, queue_name=args.queue, at_front=args.at_front, delay_s=args.delay)
    except RedisUnavailable as exc:
        print(f"thesis-console: {exc}", file=sys.stderr)
        return EXIT_UNREACHABLE
    print(json.dumps({"id": job_id}) if args.json else job_id)
    return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
