"""``thesis-worker``: supervise RQ workers for the thesis queue, or control a running supervisor.

``thesis-worker [options]`` runs a supervisor (also ``python -m worker_runner``). Every option has
an environment variable; ``--help`` lists both. ``thesis-worker ctl ...`` talks to a running
supervisor on any host through Redis. Exit codes: 0 success, 1 a ``ctl`` order was not confirmed in
time, 2 bad usage or option, 3 Redis unreachable (``ctl``, ``--burst``) or refusing us.
"""

from __future__ import annotations

import argparse
import logging
import os
import socket
import sys
import time

from thesis_console.core.redis_target import RedisUnavailable, connect, resolve_url
from thesis_console.core.redis_url import BadRedisUrl, read_url_file, redact
from thesis_console.core.supervisor_protocol import (
    MAX_CONCURRENCY,
    SupervisorRecord,
    autoscale_message,
    queue_control,
    resize_message,
    restart_message,
    stop_message,
)
from worker_runner import config as options
from worker_runner import registration

EXIT_OK, EXIT_FAILURE, EXIT_USAGE, EXIT_UNREACHABLE = 0, 1, 2, 3


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="thesis-worker",
        description=(
            "Supervise N RQ worker processes on the thesis queues (the RQ scheduler included, so retries "
            "fire): restart crashed workers, put back the jobs of dead ones, resize live, register in "
            "Redis for consoles. Commands on stdin, one per line, each answered by a JSON line: "
            "'resize N', 'autoscale MIN MAX', 'autoscale off', 'status', 'stop'."
        ),
        epilog=(
            "A Redis with a password: give its URL in REDIS_URL or in a file named by --url-file (mode 600),\n"
            "not with --url, which `ps` shows to every user of the host.\n\n"
            "Control a running supervisor on any host: thesis-worker ctl --help"
        ),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    for spec in options.OPTIONS:
        help_text = f"{spec.help} (env {spec.env}; default {spec.default_text})"
        if spec.is_switch:
            parser.add_argument(*spec.flags, dest=spec.dest, action="store_true", default=None, help=help_text)
        elif spec.repeatable:
            parser.add_argument(*spec.flags, dest=spec.dest, action="append", default=None, metavar=spec.metavar, help=help_text)
        else:
            parser.add_argument(*spec.flags, dest=spec.dest, default=None, metavar=spec.metavar, help=help_text)

    sub = parser.add_subparsers(dest="command", title="commands", metavar="ctl")
    ctl = sub.add_parser("ctl", help="control running supervisors through Redis", description=CTL_DESCRIPTION)
    ctl_sub = ctl.add_subparsers(dest="action", metavar="ACTION", required=True)
    listing = ctl_sub.add_parser("list", help="list live supervisors")
    _ctl_common(listing, target=False)
    listing.add_argument("--json", action="store_true", help="print JSON")
    resize = ctl_sub.add_parser("resize", help="set a supervisor's number of workers (turns autoscale off)")
    _ctl_common(resize)
    resize.add_argument("concurrency", type=int, metavar="N", help=f"number of workers, 1 to {MAX_CONCURRENCY}")
    auto = ctl_sub.add_parser("autoscale", help="let a supervisor scale between MIN and MAX workers")
    _ctl_common(auto)
    auto.add_argument("minimum", type=int, metavar="MIN")
    auto.add_argument("maximum", type=int, metavar="MAX")
    stop = ctl_sub.add_parser("stop", help="warm-stop a supervisor (its workers finish their jobs first)")
    _ctl_common(stop)
    stop.add_argument("--now", action="store_true", help="hard stop: running jobs are stopped and requeued")
    restart = ctl_sub.add_parser("restart", help="replace every worker of a supervisor, each after its job")
    _ctl_common(restart)
    return parser


CTL_DESCRIPTION = (
    "Send an order to a running supervisor through Redis (the list thesis:supervisor:{id}:control), "
    "on this host or any other, and wait until its record shows it was obeyed. Address it by --id, "
    "or by --pid (on this host unless --host is given)."
)


def _ctl_common(parser: argparse.ArgumentParser, target: bool = True) -> None:
    parser.add_argument("--url", default=None, help="Redis URL (env REDIS_URL; default: the embedded local Redis)")
    parser.add_argument("--url-file", default=None, metavar="PATH", help="read the Redis URL from this file (mode 600)")
    if target:
        parser.add_argument("--id", dest="supervisor_id", metavar="ID", default=None, help="supervisor id")
        parser.add_argument("--pid", type=int, default=None, help="supervisor pid (with --host, or on this host)")
        parser.add_argument("--host", default=None, help="host of --pid (default: this host)")
        parser.add_argument("--wait", type=float, default=10.0, help="seconds to wait for confirmation (0: do not wait)")


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command == "ctl":
        return _ctl(args)
    try:
        cfg = options.resolve(vars(args))
    except options.ConfigError as exc:
        print(f"thesis-worker: {exc}", file=sys.stderr)
        return EXIT_USAGE
    logging.basicConfig(level=cfg.log_level, format="%(asctime)s %(name)s %(levelname)s %(message)s", stream=sys.stderr)
    try:
        url = resolve_url(cfg.url)
        connect(url, check=False)  # a malformed URL is bad usage, found before anything starts
    except RedisUnavailable as exc:
        print(f"thesis-worker: {exc}", file=sys.stderr)
        return EXIT_UNREACHABLE if "could not start" in str(exc) else EXIT_USAGE
    logging.getLogger("worker_runner").info("jobs allowed: %s", ", ".join(sorted(cfg.allowlist.names)))
    refusal = _refusal(url)
    if refusal:
        print(f"thesis-worker: {refusal}", file=sys.stderr)
        return EXIT_USAGE if "no such database" in refusal else EXIT_UNREACHABLE  # the URL itself is wrong
    if cfg.burst:
        return _burst(cfg, url)
    from thesis_console.core.embedded_redis import default_data_dir
    from worker_runner.supervisor import run_supervisor

    logging.getLogger("worker_runner").info("Redis: %s", redact(url))
    return run_supervisor(cfg, url, embedded_dir=None if cfg.url else default_data_dir())


def _refusal(url: str) -> str | None:
    """Why Redis refuses us for good (password, TLS, permissions), or None (fine, or just away)."""
    try:
        connect(url)
    except RedisUnavailable as exc:
        text = str(exc)
        transient = ("refused: nothing is listening", "did not answer in time", "cannot connect", "closed the connection")
        return None if any(t in text for t in transient) else text
    return None


def _burst(cfg: options.SupervisorConfig, url: str) -> int:
    """One plain worker (no supervisor) that works until the queues are empty."""
    try:
        connection = connect(url)
    except RedisUnavailable as exc:
        print(f"thesis-worker: {exc}", file=sys.stderr)
        return EXIT_UNREACHABLE
    from worker_runner.worker import ThesisWorker

    worker = ThesisWorker(list(cfg.queues), connection=connection, allowlist=cfg.allowlist)
    worker.work(with_scheduler=True, burst=True)
    return EXIT_OK


# ---------------------------------------------------------------------- ctl
def _ctl(args: argparse.Namespace) -> int:
    try:
        url = _ctl_url(args)
    except BadRedisUrl as exc:
        print(f"thesis-worker ctl: {exc}", file=sys.stderr)
        return EXIT_USAGE
    try:
        conn = connect(resolve_url(url))
    except RedisUnavailable as exc:
        print(f"thesis-worker ctl: {exc}", file=sys.stderr)
        return EXIT_UNREACHABLE
    records = registration.list_records(conn)
    if args.action == "list":
        return _print_records(records, args.json)
    try:
        target = _find_target(records, args)
        if args.action == "resize":
            message = resize_message(args.concurrency)
        elif args.action == "autoscale":
            message = autoscale_message(args.minimum, args.maximum)
        elif args.action == "restart":
            message = restart_message()
        else:
            message = stop_message(hard=args.now)
    except ValueError as exc:
        print(f"thesis-worker ctl: {exc}", file=sys.stderr)
        return EXIT_USAGE
    with conn.pipeline(transaction=True) as pipe:
        queue_control(pipe, target.id, message)
        pipe.execute()
    print(f"sent {args.action} to supervisor {target.id} (pid {target.pid} on {target.host})")
    if args.wait <= 0:
        return EXIT_OK
    return _confirm(conn, target, args)


def _ctl_url(args: argparse.Namespace) -> str | None:
    if args.url_file is None:
        return args.url
    if args.url is not None:
        raise BadRedisUrl("give --url or --url-file, not both")
    return read_url_file(args.url_file)


def _find_target(records: list[SupervisorRecord], args: argparse.Namespace) -> SupervisorRecord:
    if args.supervisor_id:
        for record in records:
            if record.id == args.supervisor_id:
                return record
        raise ValueError(f"no live supervisor has id {args.supervisor_id!r} (see: thesis-worker ctl list)")
    if args.pid is not None:
        host = args.host or socket.gethostname()
        for record in records:
            if record.pid == args.pid and record.host == host:
                return record
        raise ValueError(f"no live supervisor has pid {args.pid} on {host} (see: thesis-worker ctl list)")
    raise ValueError("say which supervisor: --id ID, or --pid PID [--host HOST]")


def _confirm(conn, target: SupervisorRecord, args: argparse.Namespace) -> int:
    supervisor_id = target.id
    deadline = time.monotonic() + args.wait
    while time.monotonic() < deadline:
        record = registration.read_record(conn, supervisor_id)
        if args.action == "restart" and (record is None or not set(record.workers) & set(target.workers)):
            print(f"supervisor {supervisor_id}: every worker replaced" if record else f"supervisor {supervisor_id} stopped")
            return EXIT_OK
        if args.action == "stop" and (record is None or record.state == "stopping"):
            print(f"supervisor {supervisor_id} is stopping" if record else f"supervisor {supervisor_id} stopped")
            return EXIT_OK
        if record is not None and _obeyed(record, args):
            print(f"supervisor {supervisor_id}: desired {record.desired}, live {record.live}")
            return EXIT_OK
        time.sleep(0.2)
    print(f"thesis-worker ctl: supervisor {supervisor_id} did not confirm within {args.wait:g} s", file=sys.stderr)
    return EXIT_FAILURE


def _obeyed(record: SupervisorRecord, args: argparse.Namespace) -> bool:
    if args.action == "resize":
        return record.desired == args.concurrency and record.autoscale_min is None
    if args.action == "autoscale":
        return (record.autoscale_min, record.autoscale_max) == (args.minimum, args.maximum)
    return False


def _print_records(records: list[SupervisorRecord], as_json: bool) -> int:
    if as_json:
        import json

        print(json.dumps([json.loads(r.to_json()) for r in records], indent=2))
        return EXIT_OK
    if not records:
        print("no live supervisors")
        return EXIT_OK
    print(f"{'ID':<28} {'HOST':<20} {'PID':>7} {'LIVE':>4} {'WANT':>4} {'BUSY':>4} {'AUTOSCALE':<9} QUEUES")
    for r in records:
        auto = f"{r.autoscale_min}:{r.autoscale_max}" if r.autoscale_min is not None else "-"
        print(f"{r.id:<28} {r.host:<20} {r.pid:>7} {r.live:>4} {r.desired:>4} {r.busy:>4} {auto:<9} {','.join(r.queues)}")
    return EXIT_OK


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    sys.exit(main())
