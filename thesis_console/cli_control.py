"""Subcommands that control processing: pause and resume queues, stop and restart supervisors, stop workers.

Every one is a mutation, so a read-only profile refuses it (exit 1) before anything is sent.
"""

from __future__ import annotations

import argparse
import datetime
import json
from typing import Any

from thesis_console.core.queue_names import check_queue_name
from thesis_console.core.queue_pause import QueuePause
from thesis_console.core.session import Session
from thesis_console.core.supervisor_control import StopOutcome
from thesis_console.core.terminal_text import escape_lines

EXIT_OK, EXIT_FAILURE = 0, 1
DEFAULT_STOP_WAIT_S = 60.0
MAX_STOP_WAIT_S = 24 * 3600.0


def _queue(text: str) -> str:
    try:
        return check_queue_name(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _wait_s(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number of seconds, got {text!r}") from None
    if not 0 <= value <= MAX_STOP_WAIT_S:
        raise argparse.ArgumentTypeError(f"must be 0 to {MAX_STOP_WAIT_S:g} seconds, got {text!r}")
    return value


def add_parsers(add: Any) -> None:
    """Register the subcommands with ``add(name, help)`` of :func:`thesis_console.cli.build_parser`."""
    pause = add("pause", "pause a queue: its workers take no new job (running jobs finish); an RQ queue's "
                "thesis-worker workers, or every worker of a BullMQ queue (BullMQ's own pause)")
    pause.add_argument("--queue", type=_queue, required=True)
    resume = add("resume", "resume a paused queue")
    resume.add_argument("--queue", type=_queue, required=True)

    stop = add("stop-supervisor", "stop a thesis-worker supervisor on any host (warm: its workers finish their jobs)")
    stop.add_argument("supervisor_id", metavar="SUPERVISOR")
    stop.add_argument(
        "--wait", type=_wait_s, default=DEFAULT_STOP_WAIT_S, metavar="SECONDS",
        help=f"how long to wait for it to be gone (default {DEFAULT_STOP_WAIT_S:g}; 0: do not wait)",
    )  # fmt: skip
    stop.add_argument("--hard", action="store_true", help="stop at once: running jobs are stopped and requeued")
    stop.add_argument(
        "--hard-after-wait", action="store_true",
        help="when it is still running after --wait, order a hard stop and wait again",
    )  # fmt: skip
    restart = add("restart-supervisor", "replace every worker of a supervisor, each after its current job")
    restart.add_argument("supervisor_id", metavar="SUPERVISOR")
    worker = add("stop-worker", "stop one RQ worker with RQ's shutdown command (it finishes its job first)")
    worker.add_argument("worker_name", metavar="WORKER")


async def pause(session: Session, args: argparse.Namespace, _: Any) -> int:
    result = await session.actions.pause_queue(args.queue)
    if args.json:
        print(json.dumps({"queue": result.queue, "paused": True, "by": result.by, "at": result.at}))
    else:
        print(escape_lines(f"queue {result.queue} is paused ({describe_pause(result)})"))
    return EXIT_OK


async def resume(session: Session, args: argparse.Namespace, _: Any) -> int:
    was_paused = await session.actions.resume_queue(args.queue)
    if args.json:
        print(json.dumps({"queue": args.queue, "paused": False, "was_paused": was_paused}))
    else:
        print(f"queue {args.queue} resumed" if was_paused else f"queue {args.queue} was not paused")
    return EXIT_OK


async def stop_supervisor(session: Session, args: argparse.Namespace, _: Any) -> int:
    record = await session.actions.stop_supervisor(args.supervisor_id, hard=args.hard)
    how = "hard stop" if args.hard else "warm stop"
    report: dict[str, Any] = {"supervisor": record.id, "host": record.host, "pid": record.pid, "sent": how}
    if not args.json:
        print(escape_lines(f"sent {how} to supervisor {record.id} (pid {record.pid} on {record.host}, "
                           f"{record.busy} job(s) running)"))  # fmt: skip
    outcome = None
    if args.wait > 0:
        progress = await session.actions.wait_supervisor_stopped(record.id, args.wait)
        if progress.outcome is StopOutcome.STILL_RUNNING and args.hard_after_wait and not args.hard:
            if not args.json:
                print(f"still running after {args.wait:g} s ({progress.jobs_running} job(s)); ordering a hard stop")
            await session.actions.stop_supervisor(record.id, hard=True)
            report["sent"] = "warm stop, then hard stop"
            progress = await session.actions.wait_supervisor_stopped(record.id, args.wait)
        outcome = progress.outcome
        report.update(outcome=outcome.value, jobs_running=progress.jobs_running)
        if not args.json:
            if outcome is StopOutcome.STOPPED:
                print(f"supervisor {record.id} stopped")
            else:
                print(f"supervisor {record.id} is still running after {args.wait:g} s "
                      f"({progress.jobs_running} job(s) running); --hard stops it at once")  # fmt: skip
    if args.json:
        print(json.dumps(report))
    return EXIT_FAILURE if outcome is StopOutcome.STILL_RUNNING else EXIT_OK


async def restart_supervisor(session: Session, args: argparse.Namespace, _: Any) -> int:
    record = await session.actions.restart_supervisor(args.supervisor_id)
    if args.json:
        print(json.dumps({"supervisor": record.id, "host": record.host, "pid": record.pid, "sent": "restart"}))
    else:
        print(escape_lines(f"sent restart to supervisor {record.id} (pid {record.pid} on {record.host}): "
                           f"its {record.live} worker(s) are replaced, each after its current job"))  # fmt: skip
    return EXIT_OK


async def stop_worker(session: Session, args: argparse.Namespace, _: Any) -> int:
    await session.actions.stop_worker(args.worker_name)
    if args.json:
        print(json.dumps({"worker": args.worker_name, "sent": "shutdown"}))
    else:
        print(escape_lines(f"sent shutdown to worker {args.worker_name}: it leaves after its current job"))
    return EXIT_OK


def describe_pause(pause: QueuePause) -> str:
    """``by alice@host since 2026-01-02 12:03:07`` (the parts that are known)."""
    parts = []
    if pause.by:
        parts.append(f"by {pause.by}")
    if pause.at is not None:
        when = datetime.datetime.fromtimestamp(pause.at).strftime("%Y-%m-%d %H:%M:%S")
        parts.append(f"since {when}")
    return " ".join(parts) or "by an unknown operator"


COMMANDS = {
    "pause": pause,
    "resume": resume,
    "stop-supervisor": stop_supervisor,
    "restart-supervisor": restart_supervisor,
    "stop-worker": stop_worker,
}
